"""Several people at once: browser sessions moving Latent explorer sliders against one Streamlit server, with the
picture drawn on the server and drawn in the browser.

Server path (?render=server): each session (its own browser context, so its own Streamlit session) opens the
Latent explorer on one 28-px model and moves its latent sliders back to back for the duration: key press, wait for that move's
picture painted (LATENT_MOVE_DONE_JS) and the app idle, next key press. Counted: moves, errors (timeouts,
exception boxes, page errors), latency median and p95 per move; the server's RSS at start (after its first
page), its peak (sampled each second) and at the end.
Baseline: one session alone on the same server, measured first, so the ratio shows what sharing costs.

Browser path (the default, ui/live_canvas): --browser-sessions sessions (32) each hold the mouse on the first
direction slider and move it one step every 100 ms (a human pace) for the duration, releasing it every 10 s
(--release-every) and at the end (each release sends the state to the server, which reruns the picture's
fragment; the window waits for the last one). Counted per session: input events
and pictures drawn for them (every move must reach the canvas), errors (page errors, the component falling back,
moves never drawn), and the browser's input-to-canvas latency. The 32 pages share this machine's 2 cores with
the server, so their latency is not a user's figure.
For both paths: the server's CPU time (user + system, /proc) during the timed window; the ratio compares the
browser-path run with the --sessions server-path run.

    python -m bench.concurrent_sessions [--sessions 8] [--browser-sessions 32] [--release-every 10 [60 ...]] [--seconds 60] [--model ID]
                                        [--no-post-script-gc] [--server-threads N] [--pause-training] [--smoke]
"""
from __future__ import annotations

import asyncio
import functools
import os
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

from bench._common import (APP_IDLE_JS, CHROMIUM, CHROMIUM_ARGS, LATENT_MOVE_BEFORE_JS, LATENT_MOVE_DONE_JS, LATENT_SLIDER_NAME,
                     LATENT_SLIDERS_END, LIVE_FRAME, LIVE_READY_JS, SERVER_PATH, StreamlitServer, bench_parser, figure, machine, page_url, percentile, ratio, rss_mb, table, training_paused)
from ui.navigation import LATENT_EXPLORER

async def session(browser, url: str, seconds: float, start_gate: asyncio.Event, ready: list, timeout_ms: int) -> dict:
    """One user: open the page, wait for the gate, move sliders until time is up."""
    ctx = await browser.new_context(viewport={"width": 1300, "height": 900})
    page = await ctx.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(f"page error: {exc}"))
    latencies: list[float] = []
    try:
        await page.goto(url, wait_until="domcontentloaded")
        await page.wait_for_selector('[data-testid="stMain"] img', timeout=timeout_ms)
        await page.get_by_role("button", name=LATENT_SLIDERS_END).wait_for(timeout=timeout_ms)
        await page.wait_for_function(APP_IDLE_JS, timeout=timeout_ms, polling=100)
        sliders = page.get_by_role("slider", name=re.compile(LATENT_SLIDER_NAME))
        k = await sliders.count()
        if not k:
            return {"latencies": [], "errors": ["no latent sliders on the page"]}
        ready.append(1)
        await start_gate.wait()
        deadline = time.perf_counter() + seconds
        i = 0
        while time.perf_counter() < deadline:
            slider = sliders.nth(i % k)
            key = "ArrowRight" if (i // k) % 60 < 30 else "ArrowLeft"  # 30 steps out, 30 back: stay inside -3..3
            i += 1
            try:
                await slider.focus()
                before = await page.evaluate(LATENT_MOVE_BEFORE_JS)
                t0 = time.perf_counter()
                await page.keyboard.press(key)
                await page.wait_for_function(LATENT_MOVE_DONE_JS, arg=before, timeout=timeout_ms, polling="raf")
                latencies.append(time.perf_counter() - t0)
                await page.wait_for_function(APP_IDLE_JS, timeout=timeout_ms, polling=50)
                if await page.locator('[data-testid="stException"]').count():
                    errors.append("exception box on the page")
                    break
            except Exception as exc:  # a timeout or a dead page is what we count
                errors.append(f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}")
                if len(errors) > 5:
                    break
    except Exception as exc:
        errors.append(f"could not open the page: {type(exc).__name__}: {str(exc).splitlines()[0][:200]}")
    finally:
        await ctx.close()
    return {"latencies": latencies, "errors": errors}


LIVE_MOVE_S = 0.1  # one move every 100 ms
RELEASE_EVERY_S = 10.0  # default: a drag lasts this long before the mouse is released and pressed again
OPENING_AT_ONCE = 4  # pages opened together before the timed window (32 at once time out on 2 busy cores)


async def live_session(browser, url: str, seconds: float, start_gate: asyncio.Event, ready: list, timeout_ms: int,
                       release_every: float = RELEASE_EVERY_S, opening: asyncio.Semaphore | None = None) -> dict:
    """One user on the browser-drawn page: hold the first direction slider and move it one step every 100 ms,
    releasing it every `release_every` seconds and at the end (each release reruns the server's fragment, which
    the window waits for). `opening` limits how many pages load at once."""
    opening = opening or asyncio.Semaphore(1)
    ctx = await browser.new_context(viewport={"width": 1300, "height": 900})
    page = await ctx.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(f"page error: {exc}"))
    stats = {"inputs": 0, "latencies": [], "frames": 0}
    moves = 0
    try:
        async with opening:
            await page.goto(url, wait_until="domcontentloaded", timeout=timeout_ms)
            handle = await page.frame_locator(LIVE_FRAME).locator("canvas").element_handle(timeout=timeout_ms)
            frame = await handle.owner_frame()
            await frame.wait_for_function(LIVE_READY_JS, timeout=timeout_ms, polling=100)
        fallback = await frame.evaluate("() => window.__liveCanvas.fallback")
        if fallback:
            return {"latencies": [], "errors": [f"the page fell back to the server: {fallback}"], "inputs": 0, "moves": 0}
        await page.wait_for_function(APP_IDLE_JS, timeout=timeout_ms, polling=100)
        box = await page.frame_locator(LIVE_FRAME).locator("#s0").bounding_box()
        x0, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
        step = (box["width"] - 16) / 60 * 1.5  # 1.5 slider steps per move, so every move changes the value
        ready.append(1)
        await start_gate.wait()
        await frame.evaluate("() => { const l = window.__liveCanvas; l.latencies = []; l.inputs = 0; }")
        await page.mouse.move(x0, y)
        await page.mouse.down()
        t0 = time.perf_counter()
        pressed, position, direction = t0, 0, 1
        while time.perf_counter() - t0 < seconds:
            position += direction
            if abs(position) >= 18:
                direction = -direction
            await page.mouse.move(x0 + position * step, y)
            moves += 1
            if time.perf_counter() - pressed >= release_every:
                await page.mouse.up()  # the release sends the state to the server
                await page.mouse.down()
                pressed = time.perf_counter()
            wait = t0 + moves * LIVE_MOVE_S - time.perf_counter()
            if wait > 0:
                await asyncio.sleep(wait)
        await page.mouse.up()
        await page.wait_for_function(APP_IDLE_JS, timeout=timeout_ms, polling=100)  # the release's rerun, in the window
        try:  # every input event drawn: as many latencies as inputs
            await frame.wait_for_function("() => window.__liveCanvas.latencies.length >= window.__liveCanvas.inputs",
                                          timeout=10_000, polling=50)
        except Exception:
            pass
        stats = await frame.evaluate("() => ({inputs: window.__liveCanvas.inputs, latencies: window.__liveCanvas.latencies.slice(), "
                                     "error: window.__liveCanvas.error, fallback: window.__liveCanvas.fallback})")
        if stats["error"] or stats["fallback"]:
            errors.append(f"the browser could not draw: {stats['error'] or stats['fallback']}")
        missing = stats["inputs"] - len(stats["latencies"])
        if missing > 0:
            errors.append(f"{missing} moves never reached the canvas")
        if await page.locator('[data-testid="stException"]').count():
            errors.append("exception box on the page")
    except Exception as exc:
        errors.append(f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}")
    finally:
        await ctx.close()
    return {"latencies": [v / 1000 for v in stats["latencies"]], "errors": errors, "inputs": stats["inputs"], "moves": moves}


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (/proc/<pid>/stat), in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def sample_rss(pid: int, stop: asyncio.Event, out: list[float]) -> None:
    while not stop.is_set():
        try:
            out.append(rss_mb(pid))
        except (OSError, RuntimeError):
            return
        try:
            await asyncio.wait_for(stop.wait(), 1.0)
        except asyncio.TimeoutError:
            pass


async def run(url: str, pid: int, sessions: int, seconds: float, timeout_ms: int, user=session) -> dict:
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            gate, stop, rss, ready = asyncio.Event(), asyncio.Event(), [], []
            tasks = [asyncio.create_task(user(browser, url, seconds, gate, ready, timeout_ms)) for _ in range(sessions)]
            opened = time.perf_counter()
            # Every session loads its page before the timed part starts (a failed one is done, not ready).
            # Pages may open a few at a time (live_session), so allow each batch its timeout.
            limit = timeout_ms / 1000 * 2 * max(1, -(-sessions // OPENING_AT_ONCE))
            while len(ready) + sum(t.done() for t in tasks) < sessions and time.perf_counter() - opened < limit:
                await asyncio.sleep(0.2)
            rss_start = rss_mb(pid)
            sampler = asyncio.create_task(sample_rss(pid, stop, rss))
            t0, cpu0 = time.perf_counter(), cpu_seconds(pid)
            gate.set()
            results = await asyncio.gather(*tasks)
            wall, cpu = time.perf_counter() - t0, cpu_seconds(pid) - cpu0
            stop.set()
            await sampler
            rss_end = rss_mb(pid)
        finally:
            await browser.close()
    lat = [x for r in results for x in r["latencies"]]
    errs = [e for r in results for e in r["errors"]]
    return {"latencies": lat, "errors": errs, "wall": wall, "rss_start": rss_start, "rss_end": rss_end,
            "rss_peak": max(rss + [rss_start, rss_end]), "cpu_s": cpu, "inputs": sum(r.get("inputs", 0) for r in results),
            "moves": sum(r.get("moves", 0) for r in results)}


def main(argv=None) -> int:
    p = bench_parser(__doc__, checkpoints=True)
    p.add_argument("--sessions", type=int, default=8, help="sessions on the server-drawn page")
    p.add_argument("--browser-sessions", type=int, default=32, help="sessions on the browser-drawn page (0: none)")
    p.add_argument("--release-every", type=float, nargs="+", default=[RELEASE_EVERY_S],
                   help="seconds a browser-drawn session drags before it releases the mouse (and the server reruns); "
                        "several values: one browser-drawn run each, on the same server")
    p.add_argument("--seconds", type=float, default=60)
    p.add_argument("--model", help="model id (default: dcgan-mnist, else the first 28-px model)")
    p.add_argument("--no-post-script-gc", action="store_true",
                   help="candidate: run the server with Streamlit's runner.postScriptGC off (a full gc.collect per run)")
    p.add_argument("--server-threads", type=int, help="candidate: the server's OMP_NUM_THREADS (default: all cores)")
    p.add_argument("--timeout", type=float, default=60, help="seconds one move may take before it counts as an error")
    args = p.parse_args(argv)

    from bench.slider_latency import models_in

    tmp = tempfile.TemporaryDirectory(prefix="bench-concurrent-")
    root, sessions, seconds = args.checkpoints, args.sessions, args.seconds
    latent_ids = models_in(root)[0] if not args.smoke else []
    if not latent_ids:
        from tests.conftest import build_tiny_checkpoints

        root = build_tiny_checkpoints(Path(tmp.name) / "tiny")
        latent_ids = ["tiny-dcgan"]
        print("using tiny random-weight checkpoints")
    if args.smoke:
        sessions, seconds = 2, 5
        args.browser_sessions = min(args.browser_sessions, 2)
    model_id = args.model or ("dcgan-mnist" if "dcgan-mnist" in latent_ids else latent_ids[0])
    print(machine())
    env = {"GANSTUDIO_CHECKPOINTS": str(root)}
    if args.no_post_script_gc:
        env["STREAMLIT_RUNNER_POST_SCRIPT_GC"] = "false"
        print("candidate: runner.postScriptGC = false")
    if not args.smoke:
        env["OMP_NUM_THREADS"] = str(args.server_threads or os.cpu_count())
    print(f"server intra-op threads: {env.get('OMP_NUM_THREADS', os.environ.get('OMP_NUM_THREADS', 'torch default'))}")
    timeout_ms = int(args.timeout * 1000)

    with StreamlitServer(env, log_path=Path(tmp.name) / "streamlit.log") as server:
        url = page_url(server.url, LATENT_EXPLORER, f"model={model_id}&{SERVER_PATH}")
        with training_paused(args.pause_training):
            alone = asyncio.run(run(url, server.proc.pid, 1, min(seconds, 20), timeout_ms))
        with training_paused(args.pause_training):
            many = asyncio.run(run(url, server.proc.pid, sessions, seconds, timeout_ms))
        lives = {}
        for release_every in (args.release_every if args.browser_sessions else []):
            live_url = page_url(server.url, LATENT_EXPLORER, f"model={model_id}")
            with training_paused(args.pause_training):
                lives[release_every] = asyncio.run(run(
                    live_url, server.proc.pid, args.browser_sessions, seconds, timeout_ms,
                    user=functools.partial(live_session, release_every=release_every, opening=asyncio.Semaphore(OPENING_AT_ONCE))))

    rows = []
    for name, r, n in (("1 session (baseline)", alone, 1), (f"{sessions} sessions", many, sessions)):
        lat = r["latencies"]
        med = statistics.median(lat) * 1000 if lat else float("nan")
        p95 = percentile(lat, 95) * 1000 if lat else float("nan")
        rate = len(lat) / r["wall"]
        tag = f"concurrent {name}"
        figure(f"{tag} moves", len(lat), "moves", f"in {r['wall']:.0f} s, {rate:.2f} moves/s in total")
        figure(f"{tag} errors", len(r["errors"]), "errors")
        figure(f"{tag} median latency", med, "ms")
        figure(f"{tag} p95 latency", p95, "ms")
        figure(f"{tag} server RSS start", r["rss_start"], "MiB")
        figure(f"{tag} server RSS peak", r["rss_peak"], "MiB")
        figure(f"{tag} server RSS end", r["rss_end"], "MiB")
        for e in sorted(set(r["errors"]))[:5]:
            print(f"  error ({r['errors'].count(e)}x): {e}")
        rows.append([name, len(lat), len(r["errors"]), med, p95, rate, r["rss_start"], r["rss_peak"], r["rss_end"]])
    if alone["latencies"] and many["latencies"]:
        slow = statistics.median(many["latencies"]) / statistics.median(alone["latencies"])
        print(f"RATIO concurrent median latency, {sessions} sessions / 1 session: {slow:.2f}x (higher = slower)")
        ratio(f"concurrent throughput, {sessions} sessions vs 1", len(many["latencies"]) / many["wall"],
              len(alone["latencies"]) / alone["wall"])
    figure(f"concurrent {sessions} sessions server CPU", many["cpu_s"], "s", f"server path, in {many['wall']:.0f} s")
    for release_every, live in lives.items():
        n = args.browser_sessions
        lat = live["latencies"]
        tag = f"concurrent {n} browser-drawn sessions, release every {release_every:g} s,"
        figure(f"{tag} input events", live["inputs"], "moves", f"{live['moves']} mouse moves in {live['wall']:.0f} s")
        figure(f"{tag} moves drawn", len(lat), "moves")
        figure(f"{tag} errors", len(live["errors"]), "errors")
        figure(f"{tag} median latency", statistics.median(lat) * 1000 if lat else float("nan"), "ms",
               "input event to canvas, clients sharing the server's 2 cores")
        figure(f"{tag} p95 latency", percentile(lat, 95) * 1000 if lat else float("nan"), "ms")
        figure(f"{tag} server CPU", live["cpu_s"], "s", f"in {live['wall']:.0f} s")
        figure(f"{tag} server RSS peak", live["rss_peak"], "MiB")
        for e in sorted(set(live["errors"]))[:5]:
            print(f"  error ({live['errors'].count(e)}x): {e}")
        share = live["cpu_s"] / many["cpu_s"] if many["cpu_s"] else float("nan")
        print(f"RATIO server CPU, {n} browser-drawn sessions (release every {release_every:g} s) / {sessions} server-drawn "
              f"sessions: {share:.3f} "
              f"({share:.1%}; lower = cheaper)", flush=True)
        rows.append([f"{n} sessions, drawn in the browser, release every {release_every:g} s", len(lat), len(live["errors"]),
                     statistics.median(lat) * 1000 if lat else float("nan"), percentile(lat, 95) * 1000 if lat else float("nan"),
                     len(lat) / live["wall"], live["rss_start"], live["rss_peak"], live["rss_end"]])
    table(["load", "moves", "errors", "median ms", "p95 ms", "moves/s", "RSS start MiB", "RSS peak MiB", "RSS end MiB"], rows)
    tmp.cleanup()
    failed = alone["errors"] or many["errors"] or any(live["errors"] for live in lives.values())
    return 1 if args.smoke and failed else 0  # in a real run errors are a result


if __name__ == "__main__":
    sys.exit(main())
