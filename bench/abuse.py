"""Replay issue 46's attacks on a live loopback server, before and after the fixes, in one run.

Each attack runs against `streamlit run app.py` (127.0.0.1 only) from headless Chromium, in bounded loops, once on
this tree and once on `--before DIR` (a `git worktree` of the commit before the fixes, when given). Per attack it
reports the server's peak RSS above its RSS just before (the kernel's high-water mark, reset through
/proc/PID/clear_refs), the tracebacks a visitor saw, and what happened (launched or refused, translated or failed,
...). The ratio line is before/after peak growth (>1: the fix grew less).

Training runs the old server starts are ended as soon as they are counted, by the pids in their launch notes (ours:
our server started them); the memory attack points at header-only IDX files, so no attack ever allocates the
gigabytes it asks for.

    python -m bench.abuse --before /tmp/gs-before     # git worktree add --detach /tmp/gs-before <commit>
    python -m bench.abuse --smoke                     # this tree, two cheap attacks (what the tests run)
"""
from __future__ import annotations

import base64
import gzip
import json
import os
import shutil
import signal
import struct
import sys
import tempfile
import time
import zlib
from pathlib import Path

from bench._common import (CHROMIUM, REPO, StreamlitServer, exception_on_page, figure, launch_chromium, table,
                           wait_app_idle)
from ganmodels.files import CARD_NAME, LOSSES_NAME, STATUS_NAME

TIMEOUT_MS = 240_000
MB = 1024 * 1024
# Given explicitly: a worktree elsewhere has no ../shared/data beside it for the form's default
MNIST = str(REPO.parent / "shared" / "data" / "mnist")


# --- the server ---------------------------------------------------------------------------------------------

class Server(StreamlitServer):
    """`streamlit run app.py` from `tree` on 127.0.0.1, with its own runs folder and checkpoint folder, and the
    server process's memory read from /proc."""

    def __init__(self, tree: Path, env: dict, log: Path):
        super().__init__({"GANSTUDIO_DEVICE": "cpu", **env}, log_path=log, cwd=tree)

    def __enter__(self):
        return self.start(timeout=120)

    def _status(self, key: str) -> int:
        text = Path(f"/proc/{self.proc.pid}/status").read_text()
        return int(text.split(f"{key}:")[1].split()[0]) * 1024

    def rss(self) -> int:
        return self._status("VmRSS")

    def reset_peak(self) -> int:
        Path(f"/proc/{self.proc.pid}/clear_refs").write_text("5")
        return self.rss()

    def peak(self) -> int:
        return self._status("VmHWM")

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# --- browser helpers -----------------------------------------------------------------------------------------

def open_page(browser, url: str, wait: bool = True):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    page.goto(url, wait_until="domcontentloaded")
    if wait:
        settle(page)
    return page


def settle(page) -> None:
    page.wait_for_selector('[data-testid="stMain"] h1', timeout=TIMEOUT_MS)
    time.sleep(0.5)
    wait_app_idle(page, timeout_ms=TIMEOUT_MS)


def close(page) -> None:
    page.context.close()


def alerts(page) -> list[str]:
    return [t.strip() for t in page.locator('[data-testid="stAlert"]').all_inner_texts()]


def tracebacks(pages) -> int:
    return sum(1 for p in pages if exception_on_page(p))


def upload(page, files: list[tuple[str, bytes, str]]) -> None:
    page.locator('[data-testid="stFileUploader"] input[type="file"]').first.set_input_files(
        files=[{"name": n, "mimeType": m, "buffer": d} for n, d, m in files])
    time.sleep(1.0)
    wait_app_idle(page, timeout_ms=TIMEOUT_MS)


def fill_run_form(page, *, name: str, steps: int, snapshot_every: int | None = None, image_size: int | None = None,
                  data_root: str = "", dataset: str | None = None) -> None:
    """Fill Training progress's 'Start a new training run' form (small model) without submitting it."""
    import re

    form = page.locator('[data-testid="stForm"]')
    if not form.count():
        return  # no form here (public mode)
    if not form.is_visible():
        page.locator('[data-testid="stExpander"] summary').filter(has_text="Start a new training run").first.click()
        form.wait_for(state="visible")
    if dataset:  # a fragment refreshing the page can close the list: try again
        box = form.locator('[data-testid="stSelectbox"]').filter(has_text="Dataset")
        for _ in range(5):
            try:
                box.click(timeout=10_000)
                page.get_by_role("option", name=dataset).click(timeout=10_000)
            except Exception:  # noqa: BLE001
                continue
            if dataset in box.inner_text():
                break
    form.get_by_role("textbox", name="Data folder", exact=True).fill(data_root)
    form.get_by_role("spinbutton", name="Training steps", exact=True).fill(str(steps))
    if snapshot_every is not None:
        form.get_by_role("spinbutton", name=re.compile(r"^Snapshot every")).fill(str(snapshot_every))
    if image_size is not None:
        form.get_by_role("spinbutton", name=re.compile(r"^Image size")).fill(str(image_size))
    if not form.locator('input[type="checkbox"]').first.is_checked():
        form.get_by_text("Small model").click()
    form.get_by_role("textbox", name="Run name", exact=True).fill(name)


def submit(page) -> None:
    page.get_by_role("button", name="Start training").click()


def outcome_of_launch(page, name: str) -> str:
    time.sleep(1.0)
    wait_app_idle(page, timeout_ms=TIMEOUT_MS)
    texts = alerts(page)
    if any(f"Started '{name}'" in t for t in texts):
        return "started"
    errors = [t.strip() for t in page.locator('[data-testid="stAlertContentError"]').all_inner_texts()]
    told = errors or [t for t in texts if "turned off" in t]
    return "refused: " + (told[0][:90] if told else "no message")


def end_runs(runs: Path) -> int:
    """SIGKILL every training process the server launched (pids from the launch notes, checked to be ours)."""
    ended = 0
    for note in runs.glob("*.launch.json"):
        try:
            pid = int(json.loads(note.read_text())["pid"])
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except (OSError, ValueError, KeyError):
            continue
        if b"ganmodels.train" in cmdline and str(runs).encode() in cmdline:
            os.kill(pid, signal.SIGKILL)
            ended += 1
    return ended


def training_processes(runs: Path, name: str) -> int:
    """Live training processes writing run `name` under `runs` (counted from /proc: a page that reruns itself may
    have replaced its 'Started' message by the time it is read)."""
    wanted = b"--name\0" + name.encode() + b"\0"
    count = 0
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes()
        except OSError:
            continue
        if b"ganmodels.train" in cmdline and str(runs).encode() in cmdline and wanted in cmdline:
            count += 1
    return count


def folder_mb(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / MB


# --- the attacks ---------------------------------------------------------------------------------------------

def measure(server, action):
    """(peak RSS growth in MB, action's result)."""
    base = server.reset_peak()
    result = action()
    return (server.peak() - base) / MB, result


def launch_from_sessions(server, browser, names: list[str], wait_s: float = 0, **form) -> tuple[list, list[str]]:
    """One session per name fills the run form alike and all submit together; after `wait_s` seconds the pages,
    each launch's outcome as the page told it and the training processes running per name 3 s after the submits."""
    pages = [open_page(browser, f"{server.url}/Training_progress") for _ in names]
    for name, page in zip(names, pages):
        fill_run_form(page, name=name, **form)
    for page in pages:
        submit(page)
    outcomes = [outcome_of_launch(p, name) for name, p in zip(names, pages)]
    time.sleep(3)
    processes = {name: training_processes(Path(server.env["GANSTUDIO_RUNS"]), name) for name in set(names)}
    time.sleep(wait_s)
    return pages, outcomes, processes


def attack_launches(server, browser, ctx):
    """#1: three sessions each start a run with a snapshot every step; disk written in 20 s."""
    pages, outcomes, running = launch_from_sessions(server, browser, ["flood-0", "flood-1", "flood-2"], wait_s=20,
                                                    steps=2000, snapshot_every=1, data_root=MNIST)
    written = folder_mb(ctx["runs"]) - folder_mb(ctx["big_run"])
    end_runs(ctx["runs"])
    tb = tracebacks(pages)
    for p in pages:
        close(p)
    told = next((o for o in outcomes if o != "started"), "")
    return tb, f"{sum(running.values())}/3 training, {written:.0f} MB written in 20 s; {told[:70]}"


def attack_concurrent(server, browser, ctx):
    """#1: three sessions each start a run within the snapshot cap: how many run at once."""
    pages, outcomes, running = launch_from_sessions(server, browser, ["many-0", "many-1", "many-2"], steps=2000,
                                                    snapshot_every=100, data_root=MNIST)
    end_runs(ctx["runs"])
    tb = tracebacks(pages)
    for p in pages:
        close(p)
    told = next((o for o in outcomes if o != "started"), "")
    return tb, f"{sum(running.values())}/3 training at once; {told[:70]}"


def attack_memory(server, browser, ctx):
    """#2: Fashion-MNIST at 256 px (15.7 GB if loaded) from header-only files: accepted or refused."""
    page = open_page(browser, f"{server.url}/Training_progress")
    fill_run_form(page, name="huge-mem", steps=100, image_size=256, data_root=str(ctx["fake_fashion"]),
                  dataset="Fashion-MNIST clothes")
    submit(page)
    outcome = outcome_of_launch(page, "huge-mem")
    if (ctx["runs"] / "huge-mem.launch.json").is_file():
        outcome = "started (its process was launched)"
    end_runs(ctx["runs"])
    tb = tracebacks([page])
    close(page)
    return tb, outcome[:110]


def attack_race(server, browser, ctx):
    """#3: two sessions submit one name at the same moment, three times: how many names got two runs."""
    doubles = 0
    tb = 0
    for attempt in range(3):
        name = f"race-{attempt}"
        pages, outcomes, running = launch_from_sessions(server, browser, [name, name], steps=2000, data_root=MNIST)
        doubles += running[name] > 1
        tb += tracebacks(pages)
        for p in pages:
            close(p)
        end_runs(ctx["runs"])
    return tb, f"{doubles}/3 names with two runs training at once"


def attack_z_bomb(server, browser, ctx):
    """#4: six sessions open a ?z= link that inflates to 40 MB (53 KB; the review's 518 KB, 400 MB link is past the
    request size Tornado serves, so a browser cannot open it, though a hand-made WebSocket message could send it)."""
    bomb = base64.urlsafe_b64encode(zlib.compress(b"\0" * (ctx["bomb_mb"] * MB), 9)).decode()
    url = f"{server.url}/Latent_explorer?model=dcgan-mnist&z={bomb}"
    pages = [open_page(browser, url, wait=False) for _ in range(ctx["sessions"])]
    for p in pages:
        settle(p)
    texts = [t for p in pages for t in alerts(p)]
    tb = tracebacks(pages)
    for p in pages:
        close(p)
    refused = sum("could not be used" in t for t in texts)
    return tb, f"query {len(bomb) / 1024:.0f} KB, {refused}/{len(pages)} sessions told the link could not be used"


def attack_uploads(server, browser, ctx):
    """#5: three sessions upload the 6320x6320 16-bit PNG and the PNG bomb to the CycleGAN page."""
    from tests.hostile_uploads import hostile_corpus

    corpus = ctx.setdefault("corpus", hostile_corpus())
    pages = [open_page(browser, f"{server.url}/CycleGAN_translate?model=cyclegan-horse2zebra") for _ in range(3)]
    for page in pages:
        upload(page, [("16-bit-6320.png", corpus["16-bit-6320.png"], "image/png"),
                      ("bomb.png", corpus["bomb.png"], "image/png")])
    texts = [t for p in pages for t in alerts(p)]
    tb = tracebacks(pages)
    for p in pages:
        close(p)
    refused = sum("limit" in t or "too large" in t for t in texts)
    return tb, f"{refused} of 6 uploads refused with a size message"


def attack_corpus(server, browser, ctx):
    """#5: the whole hostile corpus through the CycleGAN and SGAN uploaders of one session each."""
    from tests.hostile_uploads import hostile_corpus

    corpus = ctx.setdefault("corpus", hostile_corpus())
    names = [n for n in corpus if not n.endswith(".gif")]  # the old pages' uploaders do not take .gif
    cyc = open_page(browser, f"{server.url}/CycleGAN_translate?model=cyclegan-horse2zebra")
    for start in range(0, len(names), 5):
        upload(cyc, [(n, corpus[n], "image/png" if n.endswith(".png") else "image/jpeg") for n in names[start:start + 5]])
        tb_cyc = tracebacks([cyc])
        if tb_cyc:
            break
    sgan = open_page(browser, f"{server.url}/SGAN_classifier?model=sgan-mnist")
    sgan.get_by_text("Upload a picture").click()
    wait_app_idle(sgan, timeout_ms=TIMEOUT_MS)
    tb_sgan = 0
    for name in names:
        upload(sgan, [(name, corpus[name], "image/png")])
        tb_sgan += bool(exception_on_page(sgan))
    tb = tracebacks([cyc]) + tb_sgan
    close(cyc)
    close(sgan)
    return tb, f"{len(names)} files through 2 uploaders"


def attack_panorama(server, browser, ctx):
    """#10: a 6000x40 panorama on the CycleGAN page."""
    from tests.hostile_uploads import hostile_corpus

    corpus = ctx.setdefault("corpus", hostile_corpus())
    page = open_page(browser, f"{server.url}/CycleGAN_translate?model=cyclegan-horse2zebra")
    upload(page, [("panorama.jpg", corpus["panorama-6000x40.jpg"], "image/jpeg")])
    failed = [t for t in alerts(page) if "failed" in t]
    translated = page.get_by_text("Translated:").count()
    tb = tracebacks([page])
    close(page)
    return tb, ("failed: " + failed[0][:80]) if failed else f"translated ({translated} result)"


def attack_url(server, browser, ctx):
    """#8: crafted explorer links."""
    links = ["model=cgan-fashion&class=%C2%B2", "model=dcgan-mnist&seed=%C2%B2", "model=dcgan-mnist&z=%25%25"]
    pages = [open_page(browser, f"{server.url}/Latent_explorer?{q}") for q in links]
    tb = tracebacks(pages)
    for p in pages:
        close(p)
    return tb, f"{len(links)} links opened"


def attack_cards(server, browser, ctx):
    """#9: the home page with a card whose 'snapshots' is 5 and one whose ngf is 2,000 (240 M weights), visited twice."""
    tb, tiles = 0, 0
    for _ in range(2):
        page = open_page(browser, server.url)
        tb += tracebacks([page])
        tiles = page.locator('[data-testid="stMain"] h3').count()
        close(page)
    return tb, f"{tiles} tiles drawn of {ctx['models']} models"


def attack_live_log(server, browser, ctx):
    """#6: one viewer of a running run with a 1,000,000-row losses.csv for 30 s: server CPU seconds spent."""
    status = ctx["big_run"] / STATUS_NAME

    def fresh():
        status.write_text(json.dumps({"status": "running", "pid": server.proc.pid, "updated": time.time(),
                                      "step": 1_000_000, "total_steps": 2_000_000}))

    fresh()
    page = open_page(browser, f"{server.url}/Training_progress?run=big-log")
    cpu0 = server.cpu_seconds()
    for _ in range(6):
        time.sleep(5)
        fresh()
        with open(ctx["big_run"] / LOSSES_NAME, "a") as fh:
            fh.writelines(f"{ctx['rows'] + i},0.5,0.5,1.0,2.0\n" for i in range(50))
        ctx["rows"] += 50
    spent = server.cpu_seconds() - cpu0
    tb = tracebacks([page])
    close(page)
    return tb, f"{spent:.1f} CPU s over 30 s of viewing"


def attack_probe(server, browser, ctx):
    """#7: does the answer for ~/.ssh differ from the answer for a folder that does not exist?"""
    answers = []
    page = open_page(browser, f"{server.url}/Training_progress")
    for i, root in enumerate((str(Path.home() / ".ssh"), "/nonexistent/abuse-probe")):
        fill_run_form(page, name=f"probe-{i}", steps=10, data_root=root, dataset="A folder of images")
        submit(page)
        answers.append(outcome_of_launch(page, f"probe-{i}"))
    end_runs(ctx["runs"])
    tb = tracebacks([page])
    close(page)
    same = answers[0] == answers[1]
    return tb, ("same answer" if same else "different answers") + f": {answers[0][9:70]!r}"


ATTACKS = [("launch flood (#1)", attack_launches), ("runs at once (#1)", attack_concurrent),
           ("256-px Fashion-MNIST (#2)", attack_memory), ("name race (#3)", attack_race),
           ("?z= bomb x6 (#4)", attack_z_bomb), ("16-bit + PNG bomb x3 (#5)", attack_uploads),
           ("hostile corpus (#5)", attack_corpus), ("1M-row live log (#6)", attack_live_log),
           ("data folder probe (#7)", attack_probe), ("crafted links (#8)", attack_url),
           ("bad cards (#9)", attack_cards), ("6000x40 panorama (#10)", attack_panorama)]
SMOKE = ("?z= bomb x6 (#4)", "crafted links (#8)")


# --- the scene each server gets ------------------------------------------------------------------------------

def scene(work: Path, shipped: Path, tree_label: str) -> dict:
    """A checkpoint folder (the shipped models linked, plus two bad cards), a runs folder with a 1M-row run, and a
    header-only Fashion-MNIST."""
    ckpts, runs = work / f"ckpts-{tree_label}", work / f"runs-{tree_label}"
    ckpts.mkdir()
    runs.mkdir()
    models = 0
    for folder in sorted(shipped.iterdir()):
        if (folder / CARD_NAME).is_file():
            (ckpts / folder.name).symlink_to(folder)
            models += 1
    source = shipped / "dcgan-mnist"
    for name, change in (("zz-bad-snapshots", {"snapshots": 5}), ("zz-huge-ngf", {"arch_ngf": 2_000})):
        folder = ckpts / name
        folder.mkdir()
        card = json.loads((source / CARD_NAME).read_text())
        card["id"] = name
        if "snapshots" in change:
            card["snapshots"] = 5
        else:
            card["arch"]["ngf"] = change["arch_ngf"]
        (folder / CARD_NAME).write_text(json.dumps(card))
        (folder / card["weights"]).symlink_to(source / card["weights"])
        models += 1
    big = runs / "big-log"
    shutil.copytree(source, big, symlinks=True, ignore=shutil.ignore_patterns("*.safetensors", "grids"))
    card = json.loads((big / CARD_NAME).read_text())
    card["id"] = "big-log"
    card["snapshots"] = []
    (big / CARD_NAME).write_text(json.dumps(card))
    rows = 1_000_000
    with open(big / LOSSES_NAME, "w") as fh:
        fh.write("step,d_loss_real,d_loss_fake,d_loss,g_loss\n")
        fh.writelines(f"{i},0.5,0.5,1.0,2.0\n" for i in range(1, rows + 1))
    fake = work / f"fashion-{tree_label}"
    fake.mkdir()
    for prefix in ("train", "t10k"):
        with gzip.open(fake / f"{prefix}-images-idx3-ubyte.gz", "wb") as fh:
            fh.write(bytes([0, 0, 8, 3]) + struct.pack(">3I", 60_000, 28, 28))
        with gzip.open(fake / f"{prefix}-labels-idx1-ubyte.gz", "wb") as fh:
            fh.write(bytes([0, 0, 8, 1]) + struct.pack(">I", 60_000))
    return {"ckpts": ckpts, "runs": runs, "big_run": big, "rows": rows + 1, "fake_fashion": fake, "models": models,
            "bomb_mb": 40, "sessions": 6}


def run_tree(tree: Path, label: str, work: Path, browser, wanted: list[str], smoke: bool) -> dict[str, tuple]:
    ctx = scene(work, REPO / "checkpoints", label)
    if smoke:
        ctx.update(bomb_mb=20, sessions=2)
    env = {"GANSTUDIO_CHECKPOINTS": str(ctx["ckpts"]), "GANSTUDIO_RUNS": str(ctx["runs"]),
           "GANSTUDIO_DATA_ROOTS": str(work), "GANSTUDIO_CACHE": str(work / f"cache-{label}")}
    results = {}
    with Server(tree, env, work / f"streamlit-{label}.log") as server:
        # First visits load torch, the models and their principal directions: not an attack's cost.
        for path in ("", "/Latent_explorer?model=dcgan-mnist", "/Latent_explorer?model=cgan-fashion",
                     "/CycleGAN_translate?model=cyclegan-horse2zebra", "/SGAN_classifier?model=sgan-mnist",
                     "/Training_progress"):
            close(open_page(browser, server.url + path))
        for name, attack in ATTACKS:
            if name not in wanted:
                continue
            try:
                grew, (tb, outcome) = measure(server, lambda: attack(server, browser, ctx))
            except Exception as exc:  # noqa: BLE001 - one attack the old tree cannot take must not end the run
                grew, tb, outcome = (server.peak() - server.rss()) / MB, "-", f"bench error: {type(exc).__name__}: {str(exc)[:80]}"
                end_runs(ctx["runs"])
            results[name] = (grew, tb, outcome)
            print(f"[{label}] {name}: peak +{grew:.0f} MB, tracebacks {tb}; {outcome}", flush=True)
        end_runs(ctx["runs"])
    return results


def main() -> int:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--before", type=Path, help="a checkout of the commit before the fixes (git worktree)")
    parser.add_argument("--attacks", help="comma-separated words picking attacks by name (default: all)")
    parser.add_argument("--smoke", action="store_true", help="this tree only, two cheap attacks, smaller bombs")
    args = parser.parse_args()
    if not Path(CHROMIUM).exists():
        print(f"chromium is not installed ({CHROMIUM}); nothing measured")
        figure("abuse_attacks_run", 0, "attacks")
        return 0
    wanted = [n for n, _ in ATTACKS if (not args.attacks or any(w in n for w in args.attacks.split(",")))]
    if args.smoke:
        wanted = [n for n in wanted if n in SMOKE]
    from playwright.sync_api import sync_playwright

    work = Path(tempfile.mkdtemp(prefix="abuse-"))
    try:
        with sync_playwright() as pw:
            browser = launch_chromium(pw)
            after = run_tree(REPO, "after", work, browser, wanted, args.smoke)
            before = run_tree(args.before, "before", work, browser, wanted, args.smoke) if args.before else {}
            browser.close()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    rows = []
    for name in wanted:
        a = after.get(name)
        b = before.get(name)
        if a:
            figure(f"abuse_peak_growth_after[{name}]", a[0], "MB")
        if b:
            figure(f"abuse_peak_growth_before[{name}]", b[0], "MB")
        rows.append([name, f"{b[0]:.0f}" if b else "-", str(b[1]) if b else "-", b[2] if b else "-",
                     f"{a[0]:.0f}" if a else "-", str(a[1]) if a else "-", a[2] if a else "-"])
    table(["attack", "before: peak +MB", "tracebacks", "before: what happened", "after: peak +MB", "tracebacks",
           "after: what happened"], rows)
    if before:
        total_b = sum(v[0] for v in before.values())
        total_a = sum(v[0] for v in after.values())
        print(f"RATIO abuse_peak_growth_sum: {total_b / max(total_a, 1):.2f}x  (before/after, summed over attacks)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
