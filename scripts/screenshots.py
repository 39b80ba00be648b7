"""Screenshot every page of GAN Studio, on the shipped checkpoints, into docs/screenshots/ (for the README).

    python -m scripts.screenshots     # from the repository root (it shares bench/_common.py's server and browser)

Headless Chromium draws emoji (the status icons) only with a colour emoji font: `apt-get install fonts-noto-color-emoji`.
"""
from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from playwright.sync_api import TimeoutError as PlaywrightTimeout
from playwright.sync_api import sync_playwright

from bench._common import StreamlitServer, launch_chromium, page_url, wait_app_idle, wait_images
from ui.navigation import LATENT_EXPLORER, TOOLS

REPO = Path(__file__).resolve().parent.parent


EXAMPLE_PHOTO = "n02381460_1030.jpg"  # a horse in horse2zebra/testA that the shipped model turns into a zebra


def translate_an_example(page) -> None:
    """Show the CycleGAN page at work: one example photo translated (where the examples are on this machine)."""
    examples = page.locator('[data-testid="stMultiSelect"]')
    if not examples.count():
        return
    examples.first.click()
    option = page.get_by_role("option", name=EXAMPLE_PHOTO)
    if not option.count():
        page.keyboard.press("Escape")
        return
    option.click()
    page.keyboard.press("Escape")
    wait_app_idle(page, 240_000)
    wait_images(page, 3, 240_000)  # the photo, its translation and the way back


def wait_browser_drawn(page, timeout_ms: int = 120_000) -> None:
    """Pages that draw in the browser (ui/live_canvas) show a black canvas until the generator has loaded there."""
    frames = page.locator('iframe[title*="live_canvas"]')
    for i in range(frames.count()):
        frame = frames.nth(i).element_handle().content_frame()
        frame.wait_for_function("() => window.__liveCanvas && (window.__liveCanvas.draws > 0 || window.__liveCanvas.fallback)",
                                timeout=timeout_ms)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", type=Path, default=REPO / "docs" / "screenshots")
    p.add_argument("--only", nargs="*", help="page names to take (default: all)")
    args = p.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    # an empty runs folder: the pictures show the shipped models, never this machine's own trainings and paths
    with tempfile.TemporaryDirectory() as no_runs, StreamlitServer({"GANSTUDIO_RUNS": no_runs}) as server, \
            sync_playwright() as pw:
        browser = launch_chromium(pw)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        shots = [("home", server.url)] + [(p.url_path.lower(), page_url(server.url, p)) for p in TOOLS]
        # what a projector shows: ?present=1 (big, no sidebar, the picture walks by itself)
        shots.append(("presenter_mode", page_url(server.url, LATENT_EXPLORER, "present=1")))
        for name, url in shots:
            if args.only and name not in args.only:
                continue
            page.goto(url)
            wait_app_idle(page, 240_000)
            try:
                wait_images(page, 1, 30_000)
            except PlaywrightTimeout:
                pass  # pages that wait for an upload show no image yet
            wait_app_idle(page, 240_000)
            wait_browser_drawn(page)
            if name == "cyclegan_translate":
                translate_an_example(page)
            page.screenshot(path=str(args.out / f"{name}.png"), full_page=name != "presenter_mode")
            print("saved", args.out / f"{name}.png")
        browser.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
