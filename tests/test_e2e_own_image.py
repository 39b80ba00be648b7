"""Bring your own image in a real browser: draw a digit with the mouse on the canvas, find its latent, see the
reconstruction, explore from it; and upload a picture the same way. "Is it copying?": the nearest training images
of the explorer's picture on the MNIST and Fashion-MNIST models. Skips, saying why, only when chromium or
Playwright is unavailable, or a shipped model or its training images are absent."""
from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image, ImageDraw

from bench._common import exception_on_page, page_url, upload_file, wait_app_idle
from conftest import E2E_TIMEOUT_MS as TIMEOUT_MS
from conftest import open_app_page
from ganmodels.data import default_root
from ganmodels.files import CARD_NAME
from ui import navigation

REPO = Path(__file__).resolve().parent.parent
FIND_ENABLED_JS = ("() => { const b = Array.from(document.querySelectorAll('button'))"
                   ".find(b => b.innerText.includes('Find its latent')); return b && !b.disabled; }")
MODEL = "dcgan-mnist"


@pytest.fixture(scope="module")
def app_checkpoints() -> Path:
    """The shipped checkpoints: the search needs a trained MNIST generator."""
    if not (REPO / "checkpoints" / MODEL / CARD_NAME).is_file():
        pytest.skip(f"checkpoints/{MODEL} is absent")
    return REPO / "checkpoints"


@pytest.fixture(scope="module")
def server(app_server):
    """conftest's Streamlit server, on the shipped checkpoints."""
    return app_server


def open_section(page, server, query: str = "") -> None:
    open_app_page(page, page_url(server.url, navigation.LATENT_EXPLORER, f"model={MODEL}{query}"))
    page.get_by_text("Bring your own image", exact=False).first.click()
    wait_app_idle(page, TIMEOUT_MS)


def find_and_check_reconstruction(page) -> None:
    page.wait_for_function(FIND_ENABLED_JS, timeout=TIMEOUT_MS)
    page.get_by_role("button", name="Find its latent").click()
    page.get_by_text("Closest the model draws").first.wait_for(timeout=TIMEOUT_MS)
    wait_app_idle(page, TIMEOUT_MS)
    reconstruction = page.locator('[data-testid="stImage"]', has_text="Closest the model draws").locator("img").first
    page.wait_for_function("(img) => img.complete && img.naturalWidth > 0", arg=reconstruction.element_handle())
    assert page.get_by_text("Distance").count()
    problem = exception_on_page(page)
    assert problem is None, problem


def test_draw_a_digit_and_see_its_reconstruction(server, page):
    open_section(page, server, "&render=server")  # the explorer's picture drawn by the server, as when WebAssembly is missing
    canvas = page.locator('[data-testid="stMain"] canvas').last  # fabric.js's upper canvas takes the mouse
    canvas.wait_for(timeout=TIMEOUT_MS)
    canvas.scroll_into_view_if_needed()
    box = canvas.bounding_box()
    assert box and box["width"] > 100, box
    x0, y0 = box["x"] + box["width"] * 0.5, box["y"] + box["height"] * 0.15
    for attempt in range(4):  # a stroke made before the canvas script is ready is lost: draw again until it counts
        page.mouse.move(x0 + attempt * 10, y0)
        page.mouse.down()
        for i in range(1, 21):  # a '1': one stroke down the middle
            page.mouse.move(x0 + attempt * 10 + i * 0.5, y0 + i * box["height"] * 0.035)
        page.mouse.up()
        try:
            page.wait_for_function(FIND_ENABLED_JS, timeout=45_000)
            break
        except Exception:
            continue
    find_and_check_reconstruction(page)
    assert page.get_by_text("Target: your drawing as the model sees it").count()

    page.get_by_role("button", name="Explore from this latent").click()
    page.get_by_text("latent from your picture (your drawing)", exact=False).first.wait_for(timeout=TIMEOUT_MS)
    wait_app_idle(page, TIMEOUT_MS)
    assert exception_on_page(page) is None
    assert "z=" in page.url  # the explorer's URL now holds the found latent


def test_upload_a_digit_and_see_its_reconstruction(server, page):
    open_section(page, server)  # the explorer's picture drawn in the browser (the default)
    page.locator('[data-testid="stRadio"]', has_text="Picture from").get_by_text("Upload", exact=True).click()
    wait_app_idle(page, TIMEOUT_MS)
    img = Image.new("L", (200, 200), 255)
    ImageDraw.Draw(img).ellipse((50, 30, 150, 170), outline=0, width=16)  # a pencil '0' on paper
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    page.locator('[data-testid="stFileUploader"]', has_text="one digit or garment").wait_for(timeout=TIMEOUT_MS)
    uploads = page.locator('[data-testid="stFileUploader"]')
    index = next(i for i in range(uploads.count()) if "one digit or garment" in uploads.nth(i).inner_text())
    upload_file(page, "zero.png", buf.getvalue(), "image/png", index=index)
    wait_app_idle(page, TIMEOUT_MS)
    find_and_check_reconstruction(page)
    assert page.get_by_text("Target: the picture zero.png as the model sees it").count()
    page.get_by_role("button", name="Explore from this latent").click()
    page.get_by_text("latent from your picture (the picture zero.png)", exact=False).first.wait_for(timeout=TIMEOUT_MS)
    wait_app_idle(page, TIMEOUT_MS)
    assert exception_on_page(page) is None
    assert "z=" in page.url


@pytest.mark.parametrize("model_id, dataset", [("dcgan-mnist", "mnist"), ("dcgan-fashion", "fashion-mnist")])
def test_nearest_training_images_of_the_picture_on_screen(model_id, dataset, server, page):
    if not (REPO / "checkpoints" / model_id / CARD_NAME).is_file():
        pytest.skip(f"checkpoints/{model_id} is absent")
    if not default_root(dataset).is_dir():
        pytest.skip(f"the {dataset} training images are not at {default_root(dataset)}")
    open_app_page(page, page_url(server.url, navigation.LATENT_EXPLORER, f"model={model_id}&seed=5"))
    page.get_by_text("Is it copying?", exact=False).first.click()
    page.get_by_role("button", name="Find the nearest training images").click()
    # the first lookup on a machine describes all 60,000 training images once (about a minute on two cores)
    page.get_by_text("Searched all 60,000 training images", exact=False).first.wait_for(timeout=2 * TIMEOUT_MS)
    wait_app_idle(page, TIMEOUT_MS)
    problem = exception_on_page(page)
    assert problem is None, problem
    main = page.locator('[data-testid="stMain"]')
    assert main.get_by_text("The picture checked").count()
    for unit in ("feature distance", "pixel distance"):
        figures = main.locator('[data-testid="stImage"]', has_text=unit)
        assert figures.count() == 5, unit
        for i in range(5):  # each neighbour's picture has arrived, not only its caption
            page.wait_for_function("(img) => img.complete && img.naturalWidth > 0",
                                   arg=figures.nth(i).locator("img").element_handle())
        distances = [float(figures.nth(i).inner_text().rsplit(" ", 1)[1]) for i in range(5)]
        assert distances == sorted(distances) and distances[0] > 0, (unit, distances)
        if unit == "pixel distance":
            assert distances[-1] < 1, distances
