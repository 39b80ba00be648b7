"""A colour, class-conditional 32-px model drawn in the browser (ui/live_canvas), in real headless Chromium against a
real Streamlit server (issue 47): the canvas shows colour, its pixels are torch's output in RGB order, the class
picker lists CIFAR-10's ten names and draws the class picked, and the smoothing choice reaches the canvas."""
from __future__ import annotations

import numpy as np
import pytest

from bench._common import exception_on_page, page_url, wait_app_idle
from conftest import E2E_TIMEOUT_MS as TIMEOUT_MS
from ganmodels import latent_directions
from ganmodels.checkpoint import load_model
from ganmodels.data import CLASS_NAMES
from test_e2e_live_canvas import TOLERANCE, drawn, open_live, wait_drawn
from ui import navigation

COLOUR = "tiny-colour-acgan"


@pytest.fixture(scope="module")
def app_checkpoints(tiny_colour_checkpoints):
    return tiny_colour_checkpoints


@pytest.fixture(scope="module")
def app_env(tmp_path_factory) -> dict:
    return {"GANSTUDIO_CACHE": str(tmp_path_factory.mktemp("cache"))}


def canvas_pixels(frame) -> np.ndarray:
    """The canvas as shown: H×W×4 uint8."""
    got = frame.evaluate("() => { const c = document.getElementById('canvas');"
                         " return {w: c.width, h: c.height, d: Array.from(c.getContext('2d').getImageData(0, 0, c.width, c.height).data)}; }")
    return np.asarray(got["d"], dtype=np.uint8).reshape(got["h"], got["w"], 4)


def as_bytes(output: np.ndarray) -> np.ndarray:
    """The model's [-1, 1] output (1×3×H×W) as the canvas's bytes, H×W×3, as main.js converts it."""
    return np.round((np.clip(output[0], -1, 1) + 1) * 127.5).astype(np.uint8).transpose(1, 2, 0)


def test_colour_model_drawn_in_the_browser(tiny_colour_checkpoints, app_server, page):
    model = load_model(tiny_colour_checkpoints / COLOUR, "cpu")
    query = f"model={COLOUR}&mode=raw&seed=5&psi=0.8&offsets=0:1.5,2:-0.7&class=8"
    frame = open_live(page, page_url(app_server.url, navigation.LATENT_EXPLORER, query))

    # the picker lists CIFAR-10's names in label order and shows the URL's class
    names = frame.evaluate("() => Array.from(document.querySelectorAll('#choice option')).map((o) => o.textContent)")
    assert names == CLASS_NAMES["cifar10"]
    assert frame.evaluate("() => document.getElementById('choice').value") == "8"

    # parity with torch, in colour
    latent = latent_directions.apply_offsets(model.latents(5, 1, 0.8), {0: 1.5, 2: -0.7})
    expected = model.generate(latent, [8]).numpy()
    output, browser_latent = drawn(frame)
    assert output.shape == expected.shape == (1, 3, 32, 32)
    assert np.abs(browser_latent - latent.numpy().reshape(-1)).max() <= 1e-6
    diff = float(np.abs(output - expected).max())
    assert diff <= TOLERANCE, f"the browser's picture differs from torch's by {diff}"

    # a colour model opens smooth (bicubic): the canvas blends, and shows colour
    assert frame.evaluate("() => window.__liveCanvas.smoothing") == "bicubic"
    assert frame.evaluate("() => document.getElementById('canvas').classList.contains('smooth')")
    smooth = canvas_pixels(frame)
    rgb = smooth[..., :3].astype(int)
    assert (np.abs(rgb[..., 0] - rgb[..., 1]).max() > 0 and np.abs(rgb[..., 1] - rgb[..., 2]).max() > 0
            and np.abs(rgb[..., 0] - rgb[..., 2]).max() > 0), "the canvas is grey"

    # sharp pixels: each model pixel is a block of the canvas holding exactly its R, G and B bytes
    page.locator('[data-testid="stSidebar"]').get_by_text("Sharp pixels (nearest)").click()
    frame.wait_for_function("() => window.__liveCanvas.smoothing === 'nearest'", timeout=TIMEOUT_MS)
    wait_app_idle(page, TIMEOUT_MS)
    sharp = canvas_pixels(frame)
    scale = sharp.shape[0] // 32
    assert scale >= 10 and sharp.shape[:2] == (32 * scale, 32 * scale)
    output, _ = drawn(frame)
    assert np.array_equal(sharp[scale // 2 :: scale, scale // 2 :: scale, :3], as_bytes(output))
    assert np.array_equal(sharp[::scale, ::scale], sharp[scale - 1 :: scale, scale - 1 :: scale]), "blocks are not uniform"
    assert not np.array_equal(sharp, smooth), "nearest and bicubic drew the same canvas"
    assert not frame.evaluate("() => document.getElementById('canvas').classList.contains('smooth')")

    # picking another class in the browser draws it (torch's picture of that class) and tells Python
    frame.select_option("#choice", "2")
    wait_drawn(frame, "window.__liveCanvas.lastLabel === 2")
    output, browser_latent = drawn(frame)
    assert float(np.abs(output - model.generate(latent, [2]).numpy()).max()) <= TOLERANCE
    page.wait_for_function("() => window.location.href.includes('class=2')", timeout=TIMEOUT_MS)
    wait_app_idle(page, TIMEOUT_MS)
    assert "class bird" in page.locator('[data-testid="stMain"]').inner_text()
    assert exception_on_page(page) is None
