"""Where an audience waits (issue 49): a page's first picture, a model switch on the Latent explorer, and CycleGAN
control changes with three example photos, in headless Chromium against one `streamlit run` server.

- first picture: goto to the first decoded image in the main area, each page in a fresh browser context. Baseline:
  the same page's first visit after the server started (cold: imports, model load, per-model extras); ours: a later
  visit (warm server). Goal: warm < 2 s.
- model switch: choosing another model in the explorer's sidebar to its picture decoded, on the server-drawn path
  (?render=server) and on the default one. Baseline: the first switch to a model (it loads, its principal directions
  are computed); ours: switching back to a model seen before. Goal: < 1 s once loaded.
- CycleGAN: the three horse photos of examples/ uploaded; each control change (direction, scale blend, largest side) to every result
  drawn. Baseline: the first time a setting is seen (every photo translated); ours: returning to a setting seen
  before (nothing recomputed: results are kept per photo and setting).

    python -m bench.demo_latency [--checkpoints DIR] [--pause-training] [--smoke]
"""
from __future__ import annotations

import re
import statistics
import tempfile
import time
from pathlib import Path

from bench._common import (REPO, StreamlitServer, bench_parser, figure, launch_chromium, machine, page_url,
                     ratio, table, training_paused, wait_app_idle)
from ui.navigation import COMPARE_CHECKPOINTS, CYCLEGAN_TRANSLATE, INFOGAN_CODES, LATENT_EXPLORER, SGAN_CLASSIFIER

FIRST_IMAGE_JS = """() => Array.from(document.querySelectorAll('[data-testid="stMain"] img'))
    .some(i => i.complete && i.naturalWidth > 0)"""
MAIN_SRC_JS = """(prefix) => { const e = Array.from(document.querySelectorAll('[data-testid="stImage"]'))
    .find(x => x.innerText.trim().startsWith(prefix)); const i = e && e.querySelector('img');
    return i && i.complete && i.naturalWidth > 0 ? i.src : null; }"""
RESULTS_JS = """(n) => { const imgs = Array.from(document.querySelectorAll('[data-testid="stImage"]'))
    .filter(x => /^Translated/.test(x.innerText.trim())).map(x => x.querySelector('img'));
    return imgs.length === n && imgs.every(i => i.complete && i.naturalWidth > 0) ? imgs.map(i => i.src).join('|') : null; }"""
TIMEOUT = 240_000


def first_picture(context, url: str) -> float:
    """A new page (a new Streamlit session) in a browser context that has loaded the app before, as a returning
    visitor's browser has Streamlit's scripts cached."""
    page = context.new_page()
    t0 = time.perf_counter()
    page.goto(url, wait_until="domcontentloaded")
    page.wait_for_function(FIRST_IMAGE_JS, timeout=TIMEOUT, polling="raf")
    seconds = time.perf_counter() - t0
    wait_app_idle(page, TIMEOUT)  # let the rest of the page finish before the next visit
    page.close()
    return seconds


def switch_seconds(page, title: str, before: str | None) -> float:
    """Open the sidebar's model list, then choose a model: seconds from that choice until the explorer's picture
    (caption 'seed …') is a new, decoded image."""
    page.locator('[data-testid="stSidebar"] [data-testid="stSelectbox"]').first.click()
    option = page.get_by_role("option", name=title, exact=True)
    option.wait_for()
    t0 = time.perf_counter()
    option.click()
    page.wait_for_function(f"(before) => {{ const s = ({MAIN_SRC_JS})('seed '); return s && s !== before; }}",
                           arg=before, timeout=TIMEOUT, polling="raf")
    seconds = time.perf_counter() - t0
    wait_app_idle(page, TIMEOUT)
    return seconds


def model_switches(browser, base: str, first: tuple[str, str], second: tuple[str, str], query: str) -> tuple[list, list]:
    """(first-time switch seconds, switch-back seconds) between two models on the explorer."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.goto(page_url(base, LATENT_EXPLORER, f"model={first[0]}{query}"), wait_until="domcontentloaded")
    page.wait_for_function(f"() => ({MAIN_SRC_JS})('seed ')", timeout=TIMEOUT)
    wait_app_idle(page, TIMEOUT)
    cold, loaded = [], []
    for index, (model_id, title) in enumerate([second, first, second, first]):
        before = page.evaluate(f"() => ({MAIN_SRC_JS})('seed ')")
        (cold if index == 0 else loaded).append(switch_seconds(page, title, before))
    context.close()
    return cold, loaded


def cyclegan_changes(browser, base: str, model_id: str, photos: int) -> list[tuple[str, float, bool]]:
    """(change, seconds to every result drawn, whether the setting was seen before)."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.goto(page_url(base, CYCLEGAN_TRANSLATE, f"model={model_id}"), wait_until="domcontentloaded")
    wait_app_idle(page, TIMEOUT)
    files = sorted((REPO / "examples" / "horse2zebra" / "testA").glob("*.jpg"))[:photos]
    t0 = time.perf_counter()
    page.locator('[data-testid="stFileUploaderDropzoneInput"]').first.set_input_files(
        files=[{"name": f.name, "mimeType": "image/jpeg", "buffer": f.read_bytes()} for f in files])
    page.wait_for_function(RESULTS_JS, arg=photos, timeout=TIMEOUT)
    out = [("upload the photos", time.perf_counter() - t0, False)]
    direction = page.get_by_role("radiogroup").first.get_by_role("radio")
    blend = page.get_by_role("switch", name=re.compile("Scale blend")) if page.get_by_role(
        "switch", name=re.compile("Scale blend")).count() else page.get_by_label("Scale blend")
    steps = [("direction B→A", lambda: direction.nth(1).check(force=True), False),
             ("direction A→B", lambda: direction.nth(0).check(force=True), True),
             ("scale blend off", lambda: blend.click(force=True), False),
             ("scale blend on", lambda: blend.click(force=True), True),
             ("direction B→A again", lambda: direction.nth(1).check(force=True), True),
             ("direction A→B again", lambda: direction.nth(0).check(force=True), True)]
    for name, act, seen in steps:
        before = page.evaluate(RESULTS_JS, photos)
        t0 = time.perf_counter()
        act()
        page.wait_for_function(f"([n, before]) => {{ const s = ({RESULTS_JS})(n); return s && s !== before; }}",
                               arg=[photos, before], timeout=TIMEOUT, polling="raf")
        out.append((name, time.perf_counter() - t0, seen))
        wait_app_idle(page, TIMEOUT)
    context.close()
    return out


def main() -> int:
    args = bench_parser(__doc__, checkpoints=True).parse_args()
    from ganmodels.checkpoint import readable_cards
    from ganmodels.registry import FAMILIES

    tmp = tempfile.TemporaryDirectory()
    root = args.checkpoints
    cards = readable_cards(root) if not args.smoke else []
    if not cards:
        from tests.conftest import build_tiny_checkpoints

        root = build_tiny_checkpoints(Path(tmp.name) / "tiny")
        cards = readable_cards(root)
        print("using tiny random-weight checkpoints")
    latent = sorted(((c.metrics or {}).get("fid_to_floor") or 1e9, c.id, c.title or c.id) for c in cards
                    if not FAMILIES[c.family].translator and not FAMILIES[c.family].discriminator_classifies)
    pair = [(i, t) for _, i, t in latent[:2]]
    cyclegan = next((c.id for c in cards if FAMILIES[c.family].translator), None)
    print(machine())
    env = {"GANSTUDIO_CHECKPOINTS": str(root), "GANSTUDIO_RUNS": str(Path(tmp.name) / "runs"), "GANSTUDIO_DEVICE": "cpu"}
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw, StreamlitServer(env, log_path=Path(tmp.name) / "streamlit.log") as server:
        browser = launch_chromium(pw)
        # the explorer and InfoGAN pages drawn on the server, so their first picture is the one at the top
        pages = [("Home", server.url)] + [(p.url_path, page_url(server.url, p, "render=server"))
                                         for p in (LATENT_EXPLORER, INFOGAN_CODES, COMPARE_CHECKPOINTS, SGAN_CLASSIFIER)]
        rows = []
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        with training_paused(args.pause_training):
            for name, url in pages:
                cold = first_picture(context, url)
                warm = [first_picture(context, url) for _ in range(1 if args.smoke else 3)]
                rows.append([name, cold, statistics.median(warm)])
                figure(f"first_picture_warm_{name}", statistics.median(warm), "s", "goal < 2 s")
                ratio(f"first_picture_{name}_warm_vs_cold", statistics.median(warm), cold, higher_is_better=False)
        context.close()
        table(["page", "cold first visit (s)", "warm median (s)"], rows)
        rows = []
        # the server-drawn explorer (its picture is an image this page can see); the in-browser one draws in an iframe
        for label, query in (("server-drawn", "&render=server"),):
            if len(pair) < 2:
                break
            with training_paused(args.pause_training):
                cold, loaded = model_switches(browser, server.url, pair[0], pair[1], query)
            rows.append([label, f"{pair[0][0]} -> {pair[1][0]}", cold[0], statistics.median(loaded), max(loaded)])
            figure(f"model_switch_loaded_{label}", statistics.median(loaded), "s", "goal < 1 s")
            ratio(f"model_switch_{label}_loaded_vs_first", statistics.median(loaded), cold[0], higher_is_better=False)
        table(["explorer", "models", "first switch (s)", "switch back, median (s)", "worst (s)"], rows)
        if cyclegan:
            with training_paused(args.pause_training):
                changes = cyclegan_changes(browser, server.url, cyclegan, 1 if args.smoke else 3)
            table(["CycleGAN change", "seconds", "setting seen before"], [[n, s, "yes" if seen else "no"] for n, s, seen in changes])
            fresh = [s for n, s, seen in changes[1:] if not seen]
            again = [s for n, s, seen in changes[1:] if seen]
            figure("cyclegan_change_new_setting", statistics.median(fresh), "s")
            figure("cyclegan_change_seen_setting", statistics.median(again), "s")
            ratio("cyclegan_seen_vs_new_setting", statistics.median(again), statistics.median(fresh), higher_is_better=False)
        browser.close()
    tmp.cleanup()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
