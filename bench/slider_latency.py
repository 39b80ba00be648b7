"""Browser-measured latency from a slider move to the new picture, in headless chromium: drawn in the browser and
drawn on the server, in the same run.

In the browser (the default path, ui/live_canvas), for every 28-px model: open the Latent explorer, then hold the
mouse on its first direction slider and drag it back and forth for 2 s, 1.5 slider steps per move. The
component records, for every `input` event, the time from the event to its picture drawn on the canvas (inference
plus draw); reported: p50 and p95 of those, the pictures drawn during the drag, and the input events. The mouse
moves up to 60 times a second (a mouse reports about once per display frame), as fast as Playwright can send.
Cold start: from opening the page to the first browser-drawn picture, on the model's first visit (the server
exports the model and computes its directions) and on a second visit (a warm server; the browser loads the
runtime again).

On the server (?render=server), for every 28-px model: focus one of its latent sliders, press ArrowRight, and
time until an image in the main area has a new src and is decoded (or, where the picture comes out the same,
until the move's run has finished: bench/_common.py LATENT_MOVE_DONE_JS). Moves rotate over the sliders so every
state is new (no cache hit flatters us). On the CycleGAN page: upload a 640x480 JPEG, then step the
"Largest side" slider through 256..512 (a new photo for each sweep, so no state repeats).

Ours:     the app as shipped (st.fragment around the picture, st.cache_data for directions).
Baseline: the same app started through bench/_no_fragments_launcher.py, which replaces st.fragment and
          st.cache_data with plain functions before any page is imported (models stay cached): every slider
          move reruns the whole page and recomputes everything but the loaded model.
Both servers run one after the other on the same checkpoints; the browser and the timing code are the same.

    python -m bench.slider_latency [--moves 30] [--drag-seconds 2] [--checkpoints DIR] [--model ID ...] [--random-cyclegan]
                                   [--candidates] [--pause-training] [--smoke]
"""
from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from bench._common import (LATENT_MOVE, LIVE_FRAME, SERVER_PATH, StreamlitServer, live_frame, bench_parser, exception_on_page, figure, latent_sliders, machine,
                     move_slider_and_wait, page_url, percentile, ratio, remove_uploads, slider_named, table, training_paused, upload_file,
                     wait_app_idle, wait_images)
from ui.navigation import CYCLEGAN_TRANSLATE, LATENT_EXPLORER

CYCLEGAN_SIZE_SLIDER = "Largest side"
MOVES_PER_SECOND = 60  # a mouse reports about once per display frame


def models_in(root: Path) -> tuple[list[str], list[str]]:
    """(28-px latent models, CycleGAN models) by id, from the cards in root."""
    from ganmodels.cards import read_card
    from ganmodels.checkpoint import list_checkpoints
    from ganmodels.registry import FAMILIES

    latent, cyclegan = [], []
    for path in list_checkpoints(root):
        if not path.is_dir():
            continue
        card = read_card(path)
        if FAMILIES[card.family].translator:
            cyclegan.append(card.id)
        elif card.image_size == 28:
            latent.append(card.id)
    return latent, cyclegan


def open_page(page, url: str, images: int = 1) -> None:
    page.goto(url, wait_until="domcontentloaded")
    wait_images(page, images)
    wait_app_idle(page)
    problem = exception_on_page(page)
    if problem:
        raise RuntimeError(f"exception on {url}:\n{problem}")


def latent_moves(page, base: str, model_id: str, moves: int, warmup: int, pause: bool) -> list[float]:
    open_page(page, page_url(base, LATENT_EXPLORER, f"model={model_id}&{SERVER_PATH}"))
    sliders = latent_sliders(page)
    k = sliders.count()
    if k == 0:
        raise RuntimeError(f"{model_id}: no latent sliders on the Latent explorer")
    for i in range(warmup):
        move_slider_and_wait(page, sliders.nth(i % k), until=LATENT_MOVE)
    wait_app_idle(page)
    out = []
    with training_paused(pause):
        for i in range(moves):
            out.append(move_slider_and_wait(page, sliders.nth((warmup + i) % k), until=LATENT_MOVE))
            wait_app_idle(page)  # the next key press starts from a settled page, as a user's would
    return out


def open_live(page, url: str) -> tuple[object, float]:
    """Open a browser-drawn page; (its live canvas frame, seconds from goto to the first browser-drawn picture)."""
    t0 = time.perf_counter()
    page.goto(url, wait_until="domcontentloaded")
    frame = live_frame(page, timeout_ms=180_000)
    first = time.perf_counter() - t0
    wait_app_idle(page)
    problem = exception_on_page(page)
    if problem:
        raise RuntimeError(f"exception on {url}:\n{problem}")
    return frame, first


def browser_drag(page, base: str, model_id: str, seconds: float, pause: bool) -> dict:
    """Cold starts, then a continuous mouse drag on the first direction slider: what the browser measured."""
    url = page_url(base, LATENT_EXPLORER, f"model={model_id}")
    _, first_visit = open_live(page, url)
    frame, second_visit = open_live(page, url)
    box = page.frame_locator(LIVE_FRAME).locator("#s0").bounding_box()
    x0, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    step = (box["width"] - 16) / 60 * 1.5  # 1.5 slider steps (0.1 each) per move, so every move changes the value
    frame.evaluate("() => { const l = window.__liveCanvas; l.latencies = []; l.inputs = 0; l.drawsWhileDragging = 0; }")
    with training_paused(pause, quiet=True):
        page.mouse.move(x0, y)
        page.mouse.down()
        t0, moves, position, direction = time.perf_counter(), 0, 0, 1
        while time.perf_counter() - t0 < seconds:
            position += direction
            if abs(position) >= 18:
                direction = -direction
            page.mouse.move(x0 + position * step, y)
            moves += 1
            wait = t0 + moves / MOVES_PER_SECOND - time.perf_counter()
            if wait > 0:
                time.sleep(wait)
        held = time.perf_counter() - t0
        stats = frame.evaluate("() => ({inputs: window.__liveCanvas.inputs, frames: window.__liveCanvas.drawsWhileDragging, "
                               "latencies: window.__liveCanvas.latencies.slice(), error: window.__liveCanvas.error})")
        page.mouse.up()
    wait_app_idle(page)
    if stats["error"]:
        raise RuntimeError(f"{model_id}: the browser could not draw: {stats['error']}")
    return {"latencies_ms": stats["latencies"], "frames": stats["frames"], "inputs": stats["inputs"], "moves": moves,
            "held_s": held, "first_visit_s": first_visit, "second_visit_s": second_visit}


def cyclegan_moves(page, base: str, model_id: str, moves: int, pause: bool) -> list[float]:
    from bench.cyclegan_latency import jpeg

    open_page(page, page_url(base, CYCLEGAN_TRANSLATE, f"model={model_id}"), images=0)
    size = slider_named(page, CYCLEGAN_SIZE_SLIDER)
    # Start at the bottom of the range (256): Home jumps a react-aria slider to its minimum.
    size.focus()
    page.keyboard.press("Home")
    wait_app_idle(page)
    out, photo, key = [], 0, "ArrowRight"
    sweep = 4  # 256 -> 320 -> 384 -> 448 -> 512 (SIZES in the page), then back with a new photo
    while len(out) < moves:
        upload_file(page, f"photo{photo}.jpg", jpeg(640, 480, seed=100 + photo))
        wait_images(page, 2)
        wait_app_idle(page)
        with training_paused(pause):
            for _ in range(min(sweep, moves - len(out))):
                out.append(move_slider_and_wait(page, size, key))
                wait_app_idle(page)
        key = "ArrowLeft" if key == "ArrowRight" else "ArrowRight"
        photo += 1
        remove_uploads(page)
        wait_app_idle(page)
    return out


def run_config(name: str, env: dict, no_fragments: bool, latent_ids: list[str], cyclegan_ids: list[str], moves: int, cg_moves: int, warmup: int,
               pause: bool, log_dir: Path, drag_seconds: float | None = None) -> dict:
    """Server-path moves per model; with `drag_seconds`, first the browser-drawn drag on the same server (as
    results['browser <id>'])."""
    from playwright.sync_api import sync_playwright

    from bench._common import launch_chromium

    results = {}
    with StreamlitServer(env, log_path=log_dir / f"streamlit-{name}.log", no_fragments=no_fragments) as server, \
            sync_playwright() as pw:
        browser = launch_chromium(pw)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            for model_id in latent_ids:
                if drag_seconds:
                    r = results[f"browser {model_id}"] = browser_drag(page, server.url, model_id, drag_seconds, pause)
                    print(f"{name} browser {model_id}: median {statistics.median(r['latencies_ms']):.1f} ms, "
                          f"{r['frames']} pictures in a {r['held_s']:.1f} s drag", flush=True)
                results[f"latent {model_id}"] = latent_moves(page, server.url, model_id, moves, warmup, pause)
                print(f"{name} latent {model_id}: median {statistics.median(results[f'latent {model_id}']) * 1000:.0f} ms",
                      flush=True)
            for model_id in cyclegan_ids:
                results[f"cyclegan {model_id}"] = cyclegan_moves(page, server.url, model_id, cg_moves, pause)
                print(f"{name} cyclegan {model_id}: median {statistics.median(results[f'cyclegan {model_id}']) * 1000:.0f} ms",
                      flush=True)
        finally:
            browser.close()
    return results


def main(argv=None) -> int:
    p = bench_parser(__doc__, checkpoints=True)
    p.add_argument("--moves", type=int, default=30, help="timed slider moves per model (>= 30 for the report)")
    p.add_argument("--cyclegan-moves", type=int, default=30)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--model", action="append", help="only these model ids")
    p.add_argument("--drag-seconds", type=float, default=2.0, help="length of the continuous in-browser drag per model")
    p.add_argument("--random-cyclegan", action="store_true",
                   help="when checkpoints/ has no CycleGAN, measure the CycleGAN page on a random-weight ResNet-9 ngf 64")
    p.add_argument("--candidates", action="store_true",
                   help="also time candidate settings (Streamlit's runner.postScriptGC off; and 1 intra-op thread) against ours")
    args = p.parse_args(argv)

    tmp = tempfile.TemporaryDirectory(prefix="bench-slider-")
    root = args.checkpoints
    latent_ids, cyclegan_ids = models_in(root) if not args.smoke else ([], [])
    moves, cg_moves, warmup = args.moves, args.cyclegan_moves, args.warmup
    if args.smoke or not (latent_ids or cyclegan_ids):
        from tests.conftest import build_tiny_checkpoints

        root = build_tiny_checkpoints(Path(tmp.name) / "tiny")
        latent_ids, cyclegan_ids = ["tiny-dcgan"], ["tiny-cyclegan"]
        if args.smoke:
            moves, cg_moves, warmup = 3, 2, 1
            args.drag_seconds = 0.5
        print(f"using tiny random-weight checkpoints ({'--smoke' if args.smoke else 'no models in ' + str(args.checkpoints)})")
    if args.random_cyclegan and not args.smoke and not cyclegan_ids:
        # No shipped CycleGAN yet: serve the checkpoints plus upstream's architecture with random weights.
        from bench.cyclegan_latency import random_resnet_checkpoint

        merged = Path(tmp.name) / "merged"
        merged.mkdir()
        for entry in Path(root).iterdir():
            (merged / entry.name).symlink_to(entry.resolve())
        cyclegan_ids = [random_resnet_checkpoint(merged, ngf=64, n_blocks=9).name]
        root = merged
        print(f"no shipped CycleGAN: the CycleGAN page is measured on {cyclegan_ids[0]} (random weights)")
    if args.model:
        latent_ids = [m for m in latent_ids if m in args.model]
        cyclegan_ids = [m for m in cyclegan_ids if m in args.model]
    print(machine())
    base_env = {"GANSTUDIO_CHECKPOINTS": str(root)}
    if not args.smoke:
        base_env["OMP_NUM_THREADS"] = str(os.cpu_count())  # the server is what we time: give it the machine
    configs = {"ours": (base_env, False), "baseline": (base_env, True)}
    if args.candidates:
        # Streamlit runs a full gc.collect() after every (fragment) run; with torch loaded that is ~0.2 s of ~400k objects.
        configs["ours+no_post_script_gc"] = ({**base_env, "STREAMLIT_RUNNER_POST_SCRIPT_GC": "false"}, False)
        # Two OMP threads on two shared cores stall at every barrier when anything else runs (browser, Tornado, training).
        configs["ours+no_post_script_gc+1_thread"] = ({**base_env, "STREAMLIT_RUNNER_POST_SCRIPT_GC": "false",
                                                       "OMP_NUM_THREADS": "1"}, False)
    results = {name: run_config(name, env, no_fragments, latent_ids, cyclegan_ids, moves, cg_moves, warmup, args.pause_training,
                                Path(tmp.name), args.drag_seconds if name == "ours" else None)
               for name, (env, no_fragments) in configs.items()}
    browser = {what.split(" ", 1)[1]: results["ours"].pop(what) for what in list(results["ours"]) if what.startswith("browser ")}

    rows = []
    for name in [c for c in results if c not in ("ours", "baseline")]:
        for what in results[name]:
            c, o = results[name][what], results["ours"][what]
            figure(f"slider {what} {name} median", statistics.median(c) * 1000, "ms", f"{len(c)} moves")
            figure(f"slider {what} {name} p95", percentile(c, 95) * 1000, "ms")
            ratio(f"slider {what} {name} vs ours, median", statistics.median(c), statistics.median(o), higher_is_better=False)
    for what in results["ours"]:
        o, b = results["ours"][what], results["baseline"][what]
        om, bm = statistics.median(o) * 1000, statistics.median(b) * 1000
        op, bp = percentile(o, 95) * 1000, percentile(b, 95) * 1000
        figure(f"slider {what} ours median", om, "ms", f"{len(o)} moves")
        figure(f"slider {what} ours p95", op, "ms")
        figure(f"slider {what} baseline median", bm, "ms", "fragments and data caching off")
        figure(f"slider {what} baseline p95", bp, "ms")
        r = ratio(f"slider {what} median speed-up", om, bm, higher_is_better=False)
        rows.append([what, len(o), om, op, bm, bp, f"{r:.2f}x"])
    table(["page / model", "moves", "ours median ms", "ours p95 ms", "baseline median ms", "baseline p95 ms", "speed-up"], rows)

    rows = []
    for model_id, r in browser.items():
        lat = r["latencies_ms"]
        p50, p95 = statistics.median(lat), percentile(lat, 95)
        fps = r["frames"] / r["held_s"]
        server_ms = statistics.median(results["ours"][f"latent {model_id}"]) * 1000
        figure(f"browser {model_id} input-to-canvas p50", p50, "ms", f"{len(lat)} input events in a {r['held_s']:.1f} s drag")
        figure(f"browser {model_id} input-to-canvas p95", p95, "ms")
        figure(f"browser {model_id} pictures drawn during the drag", r["frames"], "pictures",
               f"{fps:.0f} per second; {r['moves']} mouse moves, {r['inputs']} input events")
        figure(f"browser {model_id} cold start, first visit", r["first_visit_s"], "s", "page open to first browser-drawn picture")
        figure(f"browser {model_id} cold start, second visit", r["second_visit_s"], "s", "warm server")
        ratio(f"slider {model_id} browser p50 vs server-path median", p50, server_ms, higher_is_better=False)
        rows.append([model_id, len(lat), p50, p95, r["frames"], f"{fps:.0f}", server_ms, r["first_visit_s"], r["second_visit_s"]])
    if rows:
        table(["model (drawn in the browser)", "inputs", "p50 ms", "p95 ms", f"pictures in {args.drag_seconds:g} s", "per s",
               "server path median ms", "cold start s", "second visit s"], rows)
    tmp.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
