"""Several people at once: N browser sessions moving Latent explorer sliders against one Streamlit server.

Each session (its own browser context, so its own Streamlit session) opens the Latent explorer on one
28-px model and moves its latent sliders back to back for the duration: key press, wait for that move's
picture painted (LATENT_MOVE_DONE_JS) and the app idle, next key press. Counted: moves, errors (timeouts,
exception boxes, page errors), latency median and p95 per move; the server's RSS at start (after its first
page), its peak (sampled each second) and at the end.
Baseline: one session alone on the same server, measured first, so the ratio shows what sharing costs.

    python bench/concurrent_sessions.py [--sessions 8] [--seconds 60] [--model ID] [--no-post-script-gc] [--server-threads N] [--pause-training] [--smoke]
"""
from __future__ import annotations

import asyncio
import os
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

from _common import (APP_IDLE_JS, CHROMIUM, CHROMIUM_ARGS, LATENT_MOVE_BEFORE_JS, LATENT_MOVE_DONE_JS, LATENT_SLIDER_NAME,
                     LATENT_SLIDERS_END, StreamlitServer, bench_parser, figure, find_page, machine, page_url, percentile, ratio, rss_mb, table, training_paused)

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


async def run(url: str, pid: int, sessions: int, seconds: float, timeout_ms: int) -> dict:
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            gate, stop, rss, ready = asyncio.Event(), asyncio.Event(), [], []
            tasks = [asyncio.create_task(session(browser, url, seconds, gate, ready, timeout_ms)) for _ in range(sessions)]
            opened = time.perf_counter()
            # Every session loads its page before the timed part starts (a failed one is done, not ready).
            while len(ready) + sum(t.done() for t in tasks) < sessions and time.perf_counter() - opened < timeout_ms / 1000 * 2:
                await asyncio.sleep(0.2)
            rss_start = rss_mb(pid)
            sampler = asyncio.create_task(sample_rss(pid, stop, rss))
            t0 = time.perf_counter()
            gate.set()
            results = await asyncio.gather(*tasks)
            wall = time.perf_counter() - t0
            stop.set()
            await sampler
            rss_end = rss_mb(pid)
        finally:
            await browser.close()
    lat = [x for r in results for x in r["latencies"]]
    errs = [e for r in results for e in r["errors"]]
    return {"latencies": lat, "errors": errs, "wall": wall, "rss_start": rss_start, "rss_end": rss_end,
            "rss_peak": max(rss + [rss_start, rss_end])}


def main(argv=None) -> int:
    p = bench_parser(__doc__, checkpoints=True)
    p.add_argument("--sessions", type=int, default=8)
    p.add_argument("--seconds", type=float, default=60)
    p.add_argument("--model", help="model id (default: dcgan-mnist, else the first 28-px model)")
    p.add_argument("--no-post-script-gc", action="store_true",
                   help="candidate: run the server with Streamlit's runner.postScriptGC off (a full gc.collect per run)")
    p.add_argument("--server-threads", type=int, help="candidate: the server's OMP_NUM_THREADS (default: all cores)")
    p.add_argument("--timeout", type=float, default=60, help="seconds one move may take before it counts as an error")
    args = p.parse_args(argv)

    from slider_latency import models_in

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
        url = page_url(server.url, find_page("latent"), f"model={model_id}")
        with training_paused(args.pause_training):
            alone = asyncio.run(run(url, server.proc.pid, 1, min(seconds, 20), timeout_ms))
        with training_paused(args.pause_training):
            many = asyncio.run(run(url, server.proc.pid, sessions, seconds, timeout_ms))

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
    table(["load", "moves", "errors", "median ms", "p95 ms", "moves/s", "RSS start MiB", "RSS peak MiB", "RSS end MiB"], rows)
    tmp.cleanup()
    return 1 if args.smoke and (alone["errors"] or many["errors"]) else 0  # in a real run errors are a result


if __name__ == "__main__":
    sys.exit(main())
