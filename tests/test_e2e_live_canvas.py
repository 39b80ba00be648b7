"""The generators drawn in the browser (ui/live_canvas), in real headless Chromium against a real Streamlit server.

Parity: for one model of every latent family (the shipped ones where checkpoints/ has them, tiny random ones
otherwise, and a dropped-in pytorch/examples DCGAN), the browser's raw output for a state given in the URL equals
torch's for the same latent within 1e-3 on [-1, 1]. Dragging: a mouse drag redraws the canvas at least 5 times
before the button is released, and after release Python's state (the URL, the caption, the latent download) is
the browser's. Reset, mode switches and model switches leave the browser's sliders and Python's state in agreement.
Without WebAssembly the page says the server draws, and it does.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from bench._common import exception_on_page, page_url, wait_app_idle
from conftest import E2E_TIMEOUT_MS as TIMEOUT_MS
from conftest import examples_dcgan_file
from ganmodels import latent_directions, samples
from ganmodels.checkpoint import load_model, readable_cards
from ganmodels.registry import FAMILIES
from ui import navigation

REPO = Path(__file__).resolve().parent.parent

LATENT_FAMILIES = [name for name, family in FAMILIES.items() if not family.translator]
EXAMPLES_DCGAN = "netG_examples"  # a dropped-in pytorch/examples dcgan/main.py file
FRAME = 'iframe[title*="live_canvas"]'
TOLERANCE = 1e-3


@pytest.fixture(scope="module")
def live_root(tiny_checkpoints, tmp_path_factory) -> tuple[Path, dict[str, str]]:
    """One model per latent family (shipped first, else tiny) plus a dropped-in examples DCGAN: (root, {family: id})."""
    root = tmp_path_factory.mktemp("live-checkpoints")
    chosen: dict[str, str] = {}
    for source in (REPO / "checkpoints", tiny_checkpoints):
        for card in readable_cards(source):
            if card.family in LATENT_FAMILIES and card.family not in chosen:
                chosen[card.family] = card.id
                (root / card.id).symlink_to((source / card.id).resolve())
    examples_dcgan_file(root / f"{EXAMPLES_DCGAN}.pth")
    chosen["examples-dcgan"] = EXAMPLES_DCGAN
    return root, chosen


@pytest.fixture(scope="module")
def app_checkpoints(live_root) -> Path:
    return live_root[0]


@pytest.fixture(scope="module")
def app_env(tmp_path_factory) -> dict:
    """A cache of its own: every exported ONNX file is made by this server."""
    return {"GANSTUDIO_CACHE": str(tmp_path_factory.mktemp("cache"))}


@pytest.fixture(scope="module")
def server(app_server):
    """conftest's Streamlit server, on live_root."""
    return app_server


def model_path(live_root, model_id: str) -> Path:
    root, _ = live_root
    return root / (f"{model_id}.pth" if model_id == EXAMPLES_DCGAN else model_id)


def open_live(page, url: str):
    """Open a page and wait for the component's first browser-drawn picture; its frame."""
    page.goto(url, wait_until="domcontentloaded")
    page.wait_for_selector(FRAME, timeout=TIMEOUT_MS)
    frame = page.frame_locator(FRAME).locator("canvas").element_handle(timeout=TIMEOUT_MS).owner_frame()
    frame.wait_for_function("() => window.__liveCanvas && (window.__liveCanvas.draws > 0 || window.__liveCanvas.fallback)",
                            timeout=TIMEOUT_MS)
    assert frame.evaluate("() => window.__liveCanvas.fallback") is None, frame.evaluate("() => window.__liveCanvas.error")
    wait_app_idle(page, TIMEOUT_MS)
    return frame


def drawn(frame) -> tuple[np.ndarray, np.ndarray]:
    """(raw output, latent) of the browser's latest picture."""
    out = frame.evaluate("() => ({o: window.__liveCanvas.lastOutput, d: window.__liveCanvas.lastDims, z: window.__liveCanvas.lastLatent})")
    return np.asarray(out["o"], dtype=np.float32).reshape(out["d"]), np.asarray(out["z"], dtype=np.float32)


def wait_drawn(frame, predicate_js: str, arg=None) -> None:
    frame.wait_for_function(f"(arg) => window.__liveCanvas.lastLatent && ({predicate_js})", arg=arg, timeout=TIMEOUT_MS)


@pytest.mark.parametrize("family", LATENT_FAMILIES + ["examples-dcgan"])
def test_browser_picture_equals_torch(family, live_root, server, page):
    model_id = live_root[1][family]
    model = load_model(model_path(live_root, model_id), "cpu")
    conditional = model.family.conditional
    query = f"model={model_id}&mode=raw&seed=5&psi=0.8&offsets=0:1.5,2:-0.7" + ("&class=3" if conditional else "")
    frame = open_live(page, page_url(server.url, navigation.LATENT_EXPLORER, query))
    latent = latent_directions.apply_offsets(model.latents(5, 1, 0.8), {0: 1.5, 2: -0.7})
    expected = model.generate(latent, [3] if conditional else None).numpy()
    output, browser_latent = drawn(frame)
    assert np.abs(browser_latent - latent.numpy().reshape(-1)).max() <= 1e-6, "the browser assembled another latent"
    assert output.shape == expected.shape
    diff = float(np.abs(output - expected).max())
    assert diff <= TOLERANCE, f"{model_id}: the browser's picture differs from torch's by {diff}"
    assert exception_on_page(page) is None


def test_infogan_codes_drawn_in_the_browser_equal_torch(live_root, server, page):
    model_id = live_root[1]["infogan"]
    model = load_model(model_path(live_root, model_id), "cpu")
    frame = open_live(page, page_url(server.url, navigation.INFOGAN_CODES, f"model={model_id}"))
    frame.select_option("#choice", "2")
    frame.focus("#s0")
    for _ in range(5):
        page.keyboard.press("ArrowRight")
    z_dim, k = model.card.arch["z_dim"], model.card.arch["num_categories"]
    wait_drawn(frame, "Math.abs(window.__liveCanvas.lastLatent[arg] - 0.5) < 1e-6", z_dim + k)
    cont = [0.0] * model.card.arch["num_continuous"]
    cont[0] = 0.5
    latent = samples.infogan_input(model.card, samples.infogan_noise(model.card, 0), 2, cont)
    output, browser_latent = drawn(frame)
    assert np.abs(browser_latent - latent.numpy().reshape(-1)).max() <= 1e-6
    assert float(np.abs(output - model.generate(latent).numpy()).max()) <= TOLERANCE
    # the final state reached Python: its caption names the code values
    page.wait_for_function("() => document.body.innerText.includes('= +0.5')", timeout=TIMEOUT_MS)
    wait_app_idle(page, TIMEOUT_MS)
    assert exception_on_page(page) is None


def slider_value(frame, index: int) -> float:
    return float(frame.evaluate(f"() => document.getElementById('s{index}').value"))


def url_offsets(page) -> str | None:
    m = re.search(r"[?&]offsets=([^&]*)", page.url)
    return None if m is None else m.group(1).replace("%3A", ":").replace("%2C", ",")


def test_drag_redraws_while_dragging_and_hands_the_state_to_python(live_root, server, page):
    model_id = live_root[1]["dcgan"]
    frame = open_live(page, page_url(server.url, navigation.LATENT_EXPLORER, f"model={model_id}"))
    thumb = page.frame_locator(FRAME).locator("#s0")
    box = thumb.bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2  # value 0 sits in the middle of -3..3
    before = frame.evaluate("() => window.__liveCanvas.draws")
    page.mouse.move(x, y)
    page.mouse.down()
    seen = []
    for step in range(1, 21):
        page.mouse.move(x + step * box["width"] / 50, y)
        page.wait_for_timeout(40)
        seen.append(frame.evaluate("() => window.__liveCanvas.lastLatent.slice(0, 4).join(',')"))
    during = frame.evaluate("() => window.__liveCanvas.drawsWhileDragging")
    distinct = len(set(seen))
    url_during = url_offsets(page)
    page.mouse.up()
    assert during >= 5, f"only {during} redraws while the button was held"
    assert distinct >= 5, f"the canvas showed only {distinct} different pictures during the drag"
    assert frame.evaluate("() => window.__liveCanvas.draws") - before >= during
    assert url_during is None, "Python heard of the drag before the release"

    value = slider_value(frame, 0)
    assert value > 0
    page.wait_for_function("(want) => window.location.href.includes(want)", arg=f"offsets=0%3A{value:g}", timeout=TIMEOUT_MS)
    wait_app_idle(page, TIMEOUT_MS)
    assert "1 slider(s) moved" in page.locator('[data-testid="stMain"]').inner_text()
    # the latent Python offers for download is the one the browser drew
    with page.expect_download(timeout=TIMEOUT_MS) as info:
        page.get_by_role("button", name="Download this latent").click()
    saved = json.loads(Path(info.value.path()).read_text())
    _, browser_latent = drawn(frame)
    assert np.abs(np.asarray(saved["latent"], dtype=np.float32) - browser_latent).max() <= 1e-5

    # Reset: the browser's sliders, its picture and the URL all go back to the seed's
    page.get_by_role("button", name="Reset sliders").click()
    frame.wait_for_function("() => document.getElementById('s0').value === '0'", timeout=TIMEOUT_MS)
    wait_app_idle(page, TIMEOUT_MS)
    assert url_offsets(page) is None
    model = load_model(model_path(live_root, model_id), "cpu")
    wait_drawn(frame, "Math.abs(window.__liveCanvas.lastLatent[0] - arg) < 1e-6", float(model.latents(0, 1)[0, 0]))

    # Another mode: its sliders start at 0 on screen and in the URL; a key press moves one of them by one step
    page.get_by_text("Raw latent dimensions").click()
    frame.wait_for_function("() => document.querySelector('label[for=s0] span').textContent.startsWith('Latent number')",
                            timeout=TIMEOUT_MS)
    wait_app_idle(page, TIMEOUT_MS)
    assert [slider_value(frame, i) for i in range(4)] == [0.0] * 4
    assert "mode=raw" in page.url and url_offsets(page) is None
    frame.focus("#s2")
    page.keyboard.press("ArrowLeft")
    page.wait_for_function("() => window.location.href.includes('offsets=2%3A-0.1')", timeout=TIMEOUT_MS)
    wait_app_idle(page, TIMEOUT_MS)
    assert slider_value(frame, 2) == -0.1 and slider_value(frame, 0) == 0.0
    assert exception_on_page(page) is None


def test_switching_models_resets_the_browser_sliders(live_root, server, page):
    ids = live_root[1]
    first, second = ids["dcgan"], ids["mlp"]
    frame = open_live(page, page_url(server.url, navigation.LATENT_EXPLORER, f"model={first}&mode=raw&offsets=1:2"))
    assert slider_value(frame, 1) == 2.0
    first_key = frame.evaluate("() => window.__liveCanvas.lastModel")
    sidebar = page.locator('[data-testid="stSidebar"]')
    sidebar.locator('[data-testid="stSelectbox"]').first.click()
    title = next(c.title or c.id for c in readable_cards(live_root[0]) if c.id == second)
    page.get_by_role("option", name=title).click()
    page.wait_for_function("(id) => window.location.href.includes('model=' + id)", arg=second, timeout=TIMEOUT_MS)
    wait_app_idle(page, TIMEOUT_MS)
    frame = page.frame_locator(FRAME).locator("canvas").element_handle(timeout=TIMEOUT_MS).owner_frame()
    frame.wait_for_function("() => document.getElementById('s1') && document.getElementById('s1').value === '0'",
                            timeout=TIMEOUT_MS)
    assert url_offsets(page) is None
    wait_drawn(frame, "window.__liveCanvas.lastModel !== arg", first_key)  # the new model's picture
    model = load_model(model_path(live_root, second), "cpu")
    output, browser_latent = drawn(frame)
    assert np.abs(browser_latent - model.latents(0, 1).numpy().reshape(-1)).max() <= 1e-6
    assert float(np.abs(output - model.generate(model.latents(0, 1)).numpy()).max()) <= TOLERANCE


def test_without_webassembly_the_server_draws(server, live_root, browser):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    # A browser without WebAssembly, in every frame (the component's too): Chromium has no switch that removes it.
    context.add_init_script("delete window.WebAssembly;")
    try:
        page = context.new_page()
        page.set_default_timeout(TIMEOUT_MS)
        page.goto(page_url(server.url, navigation.LATENT_EXPLORER, f"model={live_root[1]['dcgan']}"))
        page.get_by_text("Drawn on the server").wait_for(timeout=TIMEOUT_MS)
        wait_app_idle(page, TIMEOUT_MS)
        text = page.locator('[data-testid="stMain"]').inner_text()
        assert "WebAssembly is not available" in text
        assert page.locator('[data-testid="stMain"] [data-testid="stImage"] img').count() >= 1
        assert page.get_by_role("slider", name=re.compile(r"^Direction 1")).count() == 1
        assert page.locator(FRAME).count() == 0
        assert exception_on_page(page) is None
    finally:
        context.close()
