"""End to end in a real browser: the Streamlit server, headless Debian chromium, every page, a slider, an upload.

Runs once on the tiny random-weight checkpoints (always) and once on the shipped checkpoints/ (when it
holds models). Skips, saying why, only when chromium or Playwright is unavailable.
"""
from __future__ import annotations

import io
import re
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from bench._common import (IMAGE_SRCS_JS, exception_on_page, latent_sliders, move_slider_and_wait, page_url,
                           upload_file, wait_app_idle, wait_images)
from conftest import E2E_TIMEOUT_MS as TIMEOUT_MS
from conftest import open_app_page as _open
from ganmodels.registry import FAMILIES
from ui import navigation

REPO = Path(__file__).resolve().parent.parent


def _model_ids(root: Path) -> dict[str, list[str]]:
    """Model ids in root by family."""
    from ganmodels.checkpoint import readable_cards

    out: dict[str, list[str]] = {}
    for card in readable_cards(root):
        out.setdefault(card.family, []).append(card.id)
    return out


@pytest.fixture(scope="module", params=["tiny", "shipped"])
def app_checkpoints(request, tiny_checkpoints) -> Path:
    """The server's checkpoints: the tiny random-weight ones, then the shipped ones (skipped while there are none)."""
    if request.param == "tiny":
        return tiny_checkpoints
    from ganmodels.checkpoint import list_checkpoints

    root = REPO / "checkpoints"
    if not [p for p in list_checkpoints(root) if p.is_dir()]:
        pytest.skip("checkpoints/ holds no models yet (they are trained by scripts/train_shipped.sh)")
    return root


@pytest.fixture(scope="module")
def app(app_server, app_checkpoints):
    """The running server on one checkpoint root (conftest's app_server): (base url, {family: [ids]}, root)."""
    return app_server.url, _model_ids(app_checkpoints), app_checkpoints


# the latent families a Latent explorer test picks from, most typical first
LATENT_FAMILIES = ("dcgan", "wgan_gp", "infogan", "mlp", "sgan", "cgan", "acgan")


def _pick(ids: dict[str, list[str]], *families: str) -> str | None:
    for family in families:
        if ids.get(family):
            return ids[family][0]
    return None


def test_every_page_renders_without_an_exception(app, page):
    base, ids, _ = app
    for url in [base] + [page_url(base, p) for p in navigation.TOOLS]:
        _open(page, url)
        problem = exception_on_page(page)
        assert problem is None, f"{url} shows an exception:\n{problem}"
        # each page opened by its own URL shows app.py's menu (st.navigation), the home page as "Home" (not "app")
        links = page.locator('[data-testid="stSidebarNav"] [data-testid="stSidebarNavLink"]').all_inner_texts()
        assert [link.strip() for link in links] == [p.title for p in navigation.PAGES], (url, links)


def test_home_shows_a_picture_per_model(app, page):
    base, ids, _ = app
    _open(page, base)
    wait_images(page, 1, timeout_ms=TIMEOUT_MS)
    assert exception_on_page(page) is None


def _image_bytes(page, src: str) -> bytes:
    if src.startswith("data:"):
        import base64

        return base64.b64decode(src.split(",", 1)[1])
    return page.request.get(src).body()


def test_latent_slider_changes_the_picture(app, page):
    base, ids, _ = app
    model_id = _pick(ids, *LATENT_FAMILIES)
    if model_id is None:
        pytest.skip("no latent model among these checkpoints")
    explorer = navigation.LATENT_EXPLORER
    assert explorer is not None, "no Latent explorer page in pages/"
    _open(page, page_url(base, explorer, f"model={model_id}&render=server"))  # the server's sliders
    wait_images(page, 1, timeout_ms=TIMEOUT_MS)
    sliders = latent_sliders(page)
    assert sliders.count() >= 1, "the Latent explorer shows no latent sliders"
    before = page.evaluate(IMAGE_SRCS_JS)
    before_bytes = _image_bytes(page, before[0])
    move_slider_and_wait(page, sliders.first, "ArrowRight", timeout_ms=TIMEOUT_MS)
    wait_app_idle(page, timeout_ms=TIMEOUT_MS)
    after = page.evaluate(IMAGE_SRCS_JS)
    changed = [a for a, b in zip(after, before) if a != b]
    assert changed, "no image changed after the slider moved"
    assert _image_bytes(page, changed[0]) != before_bytes, "the picture's bytes are the same after the slider moved"
    assert exception_on_page(page) is None


def test_latent_sliders_are_counted_once_their_code_has_loaded(app, page):
    """Streamlit loads a widget's code on first use and holds its place with a skeleton meanwhile: on a busy machine
    the explorer's run can finish with every slider still a skeleton. The benches' count must wait for them."""
    base, ids, _ = app
    model_id = _pick(ids, *LATENT_FAMILIES)
    if model_id is None:
        pytest.skip("no latent model among these checkpoints")

    def late(route):
        time.sleep(3)
        route.continue_()

    page.route(re.compile(r".*/Slider\.[^/]*\.js$"), late)
    page.goto(page_url(base, navigation.LATENT_EXPLORER, f"model={model_id}&render=server"), wait_until="domcontentloaded")
    sliders = latent_sliders(page, timeout_ms=TIMEOUT_MS)
    counted = sliders.count()
    assert counted >= 1, "latent_sliders returned while the sliders were still skeletons"
    page.wait_for_timeout(1000)
    assert sliders.count() == counted, "latent_sliders counted before every slider was drawn"
    assert exception_on_page(page) is None


def _photo_jpeg(width: int = 300, height: int = 200) -> bytes:
    rng = np.random.default_rng(7)
    y, x = np.mgrid[0:height, 0:width]
    arr = np.stack([x / width * 255, y / height * 255, np.full_like(x, 90)], axis=-1) + rng.normal(0, 15, (height, width, 3))
    buf = io.BytesIO()
    Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8)).save(buf, format="JPEG", quality=90)
    return buf.getvalue()


def test_cyclegan_upload_translates_and_downloads_a_png(app, page):
    base, ids, root = app
    model_id = _pick(ids, *(name for name, family in FAMILIES.items() if family.translator))
    if model_id is None:
        pytest.skip("no CycleGAN among these checkpoints")
    _open(page, page_url(base, navigation.CYCLEGAN_TRANSLATE, f"model={model_id}"))
    upload_file(page, "holiday.jpg", _photo_jpeg())
    wait_images(page, 2, timeout_ms=TIMEOUT_MS)
    wait_app_idle(page, timeout_ms=TIMEOUT_MS)
    assert exception_on_page(page) is None
    button = page.locator('[data-testid="stMain"] [data-testid="stDownloadButton"] button').filter(
        has_text=re.compile("Download PNG")).first
    with page.expect_download(timeout=TIMEOUT_MS) as info:
        button.click()
    download = info.value
    data = Path(download.path()).read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{download.suggested_filename} is not a PNG"
    # computed at the page's default side (or the upload's own 300 px, if smaller), the upload's 3:2 shape kept
    from ganmodels.cards import read_card
    from ui.translation import translation_sizes

    side = min(300, translation_sizes(read_card(root / model_id))[1])
    with Image.open(io.BytesIO(data)) as img:
        assert img.size == (side, side * 2 // 3 // 4 * 4), f"the translated image is {img.size}, expected {side} px wide, 3:2"
    assert download.suggested_filename.endswith(".png")
