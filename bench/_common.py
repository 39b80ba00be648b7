"""What the benchmark scripts share: timing, tables, pausing the training queue, a Streamlit server, a browser.

Not a benchmark itself (the leading underscore keeps tests/test_bench_smoke.py from running it).
Every script prints its figures as `name: value unit` lines and a table, with ratios against a
baseline measured in the same process, so a run is self-contained and comparable only with itself.
"""
from __future__ import annotations

import argparse
import contextlib
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
TRAINING_MARKER = "ganmodels.train"
MAX_PAUSE_S = 170  # the brief allows 3 minutes; a detached watchdog resumes training after this whatever happens


# --- machine and figures ---------------------------------------------------------------


def machine() -> str:
    """One line naming what the figures were measured on."""
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    gpu = f", GPU {torch.cuda.get_device_name(0)}" if torch.cuda.is_available() else ", no GPU"
    return (f"{os.cpu_count()}-core CPU ({cpu}){gpu}; torch {torch.__version__}, {torch.get_num_threads()} intra-op threads; "
            f"training queue {'RUNNING' if training_pids() else 'not running'}")


def figure(name: str, value: float, unit: str, note: str = "") -> None:
    """The machine-readable line every script prints per figure (tests look for these)."""
    print(f"FIGURE {name}: {value:.4g} {unit}" + (f"  ({note})" if note else ""), flush=True)


def ratio(name: str, ours: float, baseline: float, higher_is_better: bool = True) -> float:
    """Speed-up of ours over the baseline (>1 means ours is better), printed as a RATIO line."""
    r = (ours / baseline) if higher_is_better else (baseline / ours)
    print(f"RATIO {name}: {r:.2f}x", flush=True)
    return r


def table(headers: list[str], rows: list[list]) -> None:
    cells = [[str(h) for h in headers]] + [[f"{c:.4g}" if isinstance(c, float) else str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    for j, r in enumerate(cells):
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)))
        if j == 0:
            print("  ".join("-" * w for w in widths))
    sys.stdout.flush()


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100); exact for the small samples used here."""
    s = sorted(values)
    k = max(0, min(len(s) - 1, int(round(q / 100 * len(s) + 0.5)) - 1))
    return s[k]


def summary_ms(values_s: list[float]) -> dict:
    ms = [v * 1000 for v in values_s]
    return {"n": len(ms), "median_ms": statistics.median(ms), "p95_ms": percentile(ms, 95), "min_ms": min(ms)}


def time_calls(fn, warmup: int, repeats: int, sync=None) -> list[float]:
    """Seconds per call of fn() after `warmup` untimed calls; `sync` (cuda) runs before each clock read."""
    for _ in range(warmup):
        fn()
    if sync:
        sync()
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        if sync:
            sync()
        out.append(time.perf_counter() - t0)
    return out


# --- the training queue ------------------------------------------------------------------


def training_pids() -> list[int]:
    """PIDs of `python -m ganmodels.train ...` processes (not shells that merely mention it)."""
    me = os.getpid()
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == me:
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        args = [a.decode(errors="replace") for a in argv if a]
        if any(a == "-m" and i + 1 < len(args) and args[i + 1] == TRAINING_MARKER for i, a in enumerate(args)):
            pids.append(int(entry.name))
    return pids


@contextlib.contextmanager
def training_paused(enabled: bool, max_s: int = MAX_PAUSE_S, quiet: bool = False):
    """SIGSTOP the background training for a timed window, and always SIGCONT it.

    Resumed in `finally`, on SIGTERM/SIGINT, and by a detached watchdog after `max_s` even if this
    process is killed outright. Yields the paused PIDs (empty when disabled or nothing runs).
    """
    pids = training_pids() if enabled else []
    if not pids:
        yield []
        return
    pid_list = " ".join(map(str, pids))
    watchdog = subprocess.Popen(["sh", "-c", f"sleep {int(max_s)}; kill -CONT {pid_list} 2>/dev/null"],
                                start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    old = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)}

    def _resume_and_exit(signum, frame):
        _signal(pids, signal.SIGCONT)
        raise SystemExit(128 + signum)

    for s in old:
        signal.signal(s, _resume_and_exit)
    started = time.time()
    _signal(pids, signal.SIGSTOP)
    if not quiet:
        print(f"(training pids {pid_list} paused, watchdog resumes them after {max_s} s at the latest)", flush=True)
    try:
        yield pids
    finally:
        _signal(pids, signal.SIGCONT)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(watchdog.pid, signal.SIGTERM)  # our own watchdog (sh + its sleep), by its group id
        watchdog.wait()
        for s, h in old.items():
            signal.signal(s, h)
        held = time.time() - started
        if not quiet or held >= max_s:
            late = "; WATCHDOG FIRED FIRST, figures taken after it are disturbed" if held >= max_s else ""
            print(f"(training resumed after {held:.0f} s{late})", flush=True)


def _signal(pids: list[int], sig) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, sig)


def bench_parser(doc: str, repeats: int | None = None, checkpoints: bool = False) -> argparse.ArgumentParser:
    """A benchmark's parser, its docstring as help: --smoke and --pause-training always; --repeats and
    --checkpoints where asked for."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--smoke", action="store_true", help="a few seconds: tiny models, few repeats (for tests)")
    parser.add_argument("--pause-training", action="store_true",
                        help="SIGSTOP the background `python -m ganmodels.train` during timed windows (< 3 min each)")
    if repeats is not None:
        parser.add_argument("--repeats", type=int, default=repeats)
    if checkpoints:
        parser.add_argument("--checkpoints", type=Path, default=REPO / "checkpoints")
    return parser


# --- memory -------------------------------------------------------------------------------


def rss_mb(pid: int) -> float:
    """Resident set size of a process in MiB (psutil when installed, else /proc)."""
    try:
        import psutil

        return psutil.Process(pid).memory_info().rss / 2**20
    except ImportError:
        pass
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


# --- a Streamlit server and a browser ------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class StreamlitServer:
    """`streamlit run app.py` on a free localhost port; always terminated by stop() / the with-block."""

    def __init__(self, env: dict | None = None, app: str = "app.py", log_path: Path | None = None, no_fragments: bool = False,
                 cwd: Path = REPO):
        """`no_fragments`: start through bench/_no_fragments_launcher.py (fragments and data caching off); `cwd`: the
        checkout whose app.py runs (another worktree, to measure an earlier commit beside this one)."""
        self.no_fragments, self.cwd = no_fragments, cwd
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
        self.app, self.proc, self.log_path, self._log = app, None, log_path, None
        self.started_at = None

    def start(self, timeout: float = 90) -> "StreamlitServer":
        launcher = [str(Path(__file__).with_name("_no_fragments_launcher.py"))] if self.no_fragments else ["-m", "streamlit"]
        cmd = [sys.executable, *launcher, "run", self.app, "--server.headless", "true", "--server.port", str(self.port),
               "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none"]
        self._log = open(self.log_path, "w") if self.log_path else subprocess.DEVNULL
        self.started_at = time.perf_counter()
        self.proc = subprocess.Popen(cmd, cwd=self.cwd, env=self.env, stdout=self._log, stderr=subprocess.STDOUT)
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"streamlit exited with {self.proc.returncode}; log: {self.log_path}")
            try:
                with urllib.request.urlopen(f"{self.url}/_stcore/health", timeout=2) as r:
                    if r.status == 200:
                        return self
            except OSError:
                time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"streamlit did not answer on {self.url} within {timeout} s")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()  # our own child, by its handle
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self._log not in (None, subprocess.DEVNULL):
            self._log.close()
            self._log = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def launch_chromium(playwright):
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)


def page_url(base: str, page, query: str = "") -> str:
    """The address of a page declared in ui/navigation.py (a PageEntry); Home, the default page, is the server's root."""
    from ui.navigation import HOME

    return f"{base}/{'' if page == HOME else page.url_path}" + (f"?{query}" if query else "")


# JS expression: every rendered image in the main area (Streamlit media URLs or data URIs), sidebar left out.
_MAIN_IMAGES = """Array.from(document.querySelectorAll('[data-testid="stMain"] img, section.main img'))
  .filter(i => i.closest('[data-testid="stSidebar"]') === null && i.closest('[data-testid="stImage"], [data-testid="stImageContainer"], [data-testid="stFullScreenFrame"]'))"""
# JS expression: some image's src differs from the list `srcs`, and every image is decoded (painted).
_IMAGES_CHANGED_FROM = """((srcs) => { const imgs = """ + _MAIN_IMAGES + """;
  const now = imgs.map(i => i.currentSrc || i.src);
  return now.length > 0 && (now.length !== srcs.length || now.some((s, k) => s !== srcs[k]))
         && imgs.every(i => i.complete && i.naturalWidth > 0); })"""
# JS expression, what Streamlit's own e2e tests wait on: 'notRunning' once a (fragment) run has finished; none stale;
# and no skeleton: Streamlit loads each widget's code on its first use and holds its place with a stSkeleton until
# then, so on a busy machine a run can have finished while a slider is still a skeleton (not yet a slider).
_APP_IDLE = """((app) => app !== null && app.getAttribute('data-test-script-state') === 'notRunning'
  && document.querySelectorAll('[data-stale="true"], [data-testid="stMain"] [data-testid="stSkeleton"]').length === 0)(
  document.querySelector('[data-testid="stApp"]'))"""

_IMAGE_SRCS = _MAIN_IMAGES + ".map(i => i.currentSrc || i.src)"  # JS expression: their srcs

IMAGE_SRCS_JS = "() => " + _IMAGE_SRCS
IMAGES_CHANGED_JS = "(before) => " + _IMAGES_CHANGED_FROM + "(before)"
APP_IDLE_JS = "() => " + _APP_IDLE


def wait_app_idle(page, timeout_ms: int = 60_000) -> None:
    """Until the script (or fragment) run has finished and every element is drawn and current."""
    page.wait_for_function(APP_IDLE_JS, timeout=timeout_ms, polling=50)


LATENT_SLIDER_NAME = r"^(Direction|Latent number) \d+"  # the Latent explorer's latent sliders (aria-label = label)
# Drawn after the last latent slider: the app can look idle while its first run has drawn only some sliders, and a
# count taken then leaves the rest unmoved, so wait for this button, and then for the app idle (no slider still a
# skeleton), before counting.
LATENT_SLIDERS_END = "Reset sliders"

# JS predicate for a Latent explorer move, given LATENT_MOVE_BEFORE_JS from before the key press: its result is
# painted. Usually that is a new, decoded image (IMAGES_CHANGED_JS), but a nearly flat generator can draw the same
# picture for a 0.1 step; so a move also counts as done once the address bar, which that page rewrites with the
# slider values on every run, has changed and the app is idle again.
LATENT_MOVE_DONE_JS = ("(before) => " + _IMAGES_CHANGED_FROM + "(before.srcs) || (window.location.href !== before.url && "
                       + _APP_IDLE + ")")
LATENT_MOVE_BEFORE_JS = "() => ({url: window.location.href, srcs: " + _IMAGE_SRCS + "})"
LATENT_MOVE = (LATENT_MOVE_BEFORE_JS, LATENT_MOVE_DONE_JS)  # `until` for move_slider_and_wait


def latent_sliders(page, timeout_ms: int = 60_000):
    """The keyboard-focusable range inputs of the Latent explorer's latent sliders (not truncation, grid, steps),
    once all are drawn (LATENT_SLIDERS_END, then idle)."""
    import re

    page.get_by_role("button", name=LATENT_SLIDERS_END).wait_for(timeout=timeout_ms)
    wait_app_idle(page, timeout_ms)
    return page.get_by_role("slider", name=re.compile(LATENT_SLIDER_NAME))


def slider_named(page, label: str):
    import re

    return page.get_by_role("slider", name=re.compile("^" + re.escape(label)))


def move_slider_and_wait(page, slider, key: str = "ArrowRight", timeout_ms: int = 120_000,
                         until: tuple[str, str] = (IMAGE_SRCS_JS, IMAGES_CHANGED_JS)) -> float:
    """Seconds from an arrow key on `slider` (a locator) to `until` = (state read before, predicate on it) holding;
    by default a changed, decoded image in the main area (LATENT_MOVE for Latent explorer sliders)."""
    before_js, done_js = until
    slider.focus()
    before = page.evaluate(before_js)
    t0 = time.perf_counter()
    page.keyboard.press(key)
    page.wait_for_function(done_js, arg=before, timeout=timeout_ms, polling="raf")
    return time.perf_counter() - t0


def upload_file(page, name: str, data: bytes, mime: str = "image/jpeg", index: int = 0) -> None:
    """Put a file into a Streamlit file_uploader (its hidden <input type=file>)."""
    page.locator('[data-testid="stFileUploader"] input[type="file"]').nth(index).set_input_files(
        files=[{"name": name, "mimeType": mime, "buffer": data}])


def remove_uploads(page) -> None:
    """Click every file chip's remove button (aria-label 'Remove <name>')."""
    import re

    buttons = page.get_by_role("button", name=re.compile(r"^Remove "))
    while buttons.count():
        buttons.first.click()
        wait_app_idle(page)


def wait_images(page, count: int = 1, timeout_ms: int = 120_000) -> None:
    """Until at least `count` main-area images are rendered and decoded."""
    page.wait_for_function(
        """(n) => { const imgs = Array.from(document.querySelectorAll('[data-testid="stMain"] [data-testid="stImage"] img, [data-testid="stMain"] [data-testid="stImageContainer"] img'));
                    return imgs.length >= n && imgs.every(i => i.complete && i.naturalWidth > 0); }""",
        arg=count, timeout=timeout_ms, polling=100)


def exception_on_page(page) -> str | None:
    """Text of a Streamlit exception box or a visible traceback, or None."""
    box = page.locator('[data-testid="stException"]')
    if box.count():
        return box.first.inner_text()[:2000]
    body = page.locator("body").inner_text()
    if "Traceback (most recent call last)" in body:
        return body[body.index("Traceback"):][:2000]
    return None


# --- the live canvas (the generator drawn in the browser: ui/live_canvas) ----------------------------------------

LIVE_FRAME = 'iframe[title*="live_canvas"]'  # the component's iframe
# JS predicate in the component's frame: its first picture is drawn, or it gave up (fallback holds the reason).
LIVE_READY_JS = "() => window.__liveCanvas && (window.__liveCanvas.draws > 0 || window.__liveCanvas.fallback !== null)"
SERVER_PATH = "render=server"  # the URL parameter that makes the explorer draw on the server


def live_frame(page, timeout_ms: int = 120_000):
    """The live canvas's frame once it has drawn its first picture; RuntimeError if the page fell back to the server."""
    frame = page.frame_locator(LIVE_FRAME).locator("canvas").element_handle(timeout=timeout_ms).owner_frame()
    frame.wait_for_function(LIVE_READY_JS, timeout=timeout_ms, polling=20)
    fallback = frame.evaluate("() => window.__liveCanvas.fallback")
    if fallback:
        raise RuntimeError(f"the live canvas fell back to the server: {fallback}")
    return frame
