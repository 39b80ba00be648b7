"""Cold start: seconds from `streamlit run app.py` to the first image painted on the home page, and memory.

Chromium is started before the clock (a user's browser is already open). Each repeat starts a fresh
server: the clock runs from process start through the health endpoint answering to the home page's first
decoded image. Then, once: the server's RSS after the home page, and after visiting every page with every
shipped model once (?model=<id>), which loads every model and its per-page extras.
Baseline: `python -c "import streamlit, torch"` (the floor any Streamlit + torch app pays before our code).

    python -m bench.cold_start [--repeats 3] [--checkpoints DIR] [--pause-training] [--smoke]
"""
from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench._common import (StreamlitServer, bench_parser, exception_on_page, figure, launch_chromium, machine, page_url,
                     rss_mb, table, training_paused, wait_app_idle, wait_images)
from ui.navigation import TOOLS


def import_floor(modules: str = "streamlit, torch") -> float:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", f"import {modules}"], check=True)
    return time.perf_counter() - t0


def cold_start(browser, env: dict, log: Path) -> tuple[float, float, "StreamlitServer"]:
    """(seconds to health, seconds to first home image, the running server)."""
    server = StreamlitServer(env, log_path=log)
    t0 = time.perf_counter()
    server.start(timeout=180)
    healthy = time.perf_counter() - t0
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(server.url, wait_until="domcontentloaded")
    page.wait_for_function(
        """() => Array.from(document.querySelectorAll('[data-testid="stMain"] img')).some(i => i.complete && i.naturalWidth > 0)""",
        timeout=180_000, polling="raf")
    first_image = time.perf_counter() - t0
    page.close()
    return healthy, first_image, server


def visit_everything(browser, server, model_ids: list[str]) -> list[str]:
    """Every page with every model once; returns problems seen (exception boxes)."""
    problems = []
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(server.url)
    wait_images(page, 1, timeout_ms=180_000)
    wait_app_idle(page, timeout_ms=180_000)
    for path in TOOLS:
        for model_id in model_ids:
            page.goto(page_url(server.url, path, f"model={model_id}"), wait_until="domcontentloaded")
            page.wait_for_timeout(300)
            wait_app_idle(page, timeout_ms=180_000)
            problem = exception_on_page(page)
            if problem:
                problems.append(f"{path.name} ?model={model_id}: {problem.splitlines()[0]}")
    page.close()
    return problems


def main(argv=None) -> int:
    p = bench_parser(__doc__, repeats=3, checkpoints=True)
    args = p.parse_args(argv)

    from playwright.sync_api import sync_playwright

    from ganmodels.checkpoint import list_checkpoints

    tmp = tempfile.TemporaryDirectory(prefix="bench-cold-")
    root = args.checkpoints
    repeats = args.repeats
    if args.smoke or not list_checkpoints(root):
        from tests.conftest import build_tiny_checkpoints

        root = build_tiny_checkpoints(Path(tmp.name) / "tiny")
        print("using tiny random-weight checkpoints")
    if args.smoke:
        repeats = 1
    model_ids = [path.name if path.is_dir() else path.stem for path in list_checkpoints(root)]
    env = {"GANSTUDIO_CHECKPOINTS": str(root)}
    if not args.smoke:
        env["OMP_NUM_THREADS"] = str(os.cpu_count())
    print(machine())

    starts = []
    with sync_playwright() as pw:
        browser = launch_chromium(pw)
        try:
            with training_paused(args.pause_training):
                floor = import_floor()
                # what ganmodels.images' lazy `make_grid` import keeps off the home page's path
                with_torchvision = import_floor("streamlit, torch, torchvision.utils")
            for i in range(repeats):
                with training_paused(args.pause_training):
                    healthy, first, server = cold_start(browser, env, Path(tmp.name) / f"streamlit-{i}.log")
                starts.append((healthy, first))
                print(f"start {i + 1}: server answering after {healthy:.1f} s, first home image after {first:.1f} s", flush=True)
                if i < repeats - 1:
                    server.stop()
            try:
                rss_home = rss_mb(server.proc.pid)
                t0 = time.perf_counter()
                problems = visit_everything(browser, server, model_ids if not args.smoke else model_ids[:3])
                walk = time.perf_counter() - t0
                rss_all = rss_mb(server.proc.pid)
            finally:
                server.stop()
        finally:
            browser.close()

    healthy = statistics.median(s[0] for s in starts)
    first = statistics.median(s[1] for s in starts)
    figure("cold start import floor (python -c 'import streamlit, torch')", floor, "s")
    figure("cold start server answering", healthy, "s", f"median of {len(starts)}")
    figure("cold start first home image", first, "s", f"median of {len(starts)}: {', '.join(f'{s[1]:.1f}' for s in starts)}")
    print(f"RATIO cold start first image / import floor: {first / floor:.2f}x (higher = more time spent beyond imports)")
    figure("import floor + torchvision.utils (imported only when a grid is made)", with_torchvision, "s",
           f"{with_torchvision - floor:+.1f} s kept off the cold start")
    figure("server RSS after home page", rss_home, "MiB", f"{len(model_ids)} checkpoints in {root}")
    figure("server RSS after every page x every model", rss_all, "MiB", f"walk took {walk:.0f} s")
    for prob in problems:
        print(f"  PROBLEM: {prob}")
    table(["what", "value"], [["import floor s", floor], ["server answering s", healthy], ["first home image s", first],
                              ["RSS after home MiB", rss_home], ["RSS all pages x models MiB", rss_all],
                              ["exception boxes seen", len(problems)]])
    tmp.cleanup()
    return 1 if args.smoke and problems else 0


if __name__ == "__main__":
    sys.exit(main())
