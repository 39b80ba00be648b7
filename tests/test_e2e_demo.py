"""Issue 49 in a real browser: what a teacher sees on a projector. Layout (Compare with six entries fits), glyphs (no
emoji that needs an emoji font), presenter mode, downloads at the size shown, and "Explore the result" scrolling up
to the picture it changed. Headless Debian chromium on the tiny random-weight checkpoints; skips, saying why, only
when chromium or Playwright is unavailable.
"""
from __future__ import annotations

import io
import re

import pytest
from PIL import Image

from bench._common import exception_on_page, page_url, wait_app_idle, wait_images
from conftest import E2E_TIMEOUT_MS as TIMEOUT_MS
from conftest import open_app_page as _open
from ui import navigation

SERVER_DRAWN = "render=server"  # the explorer's server-side picture and sliders (the in-browser one has its own tests)
# Code points drawn only by an emoji font (pictographs, dingbats, arrows-and-symbols emoji, variation selector 16).
EMOJI = re.compile("[\U0001F000-\U0001FAFF\u2600-\u27BF\u2B00-\u2BFF\uFE0F\u231A-\u231B\u23E9-\u23FA]")


@pytest.fixture(scope="module")
def viewport() -> dict:
    """A projector's 1400x900."""
    return {"width": 1400, "height": 900}


@pytest.fixture(scope="module")
def base(app_server) -> str:
    """The address of conftest's server on the tiny random-weight checkpoints."""
    return app_server.url


def test_compare_with_six_entries_fits_and_keeps_captions_apart(base, page):
    _open(page, page_url(base, navigation.COMPARE_CHECKPOINTS))
    for _ in range(4):  # two are chosen at first: add four more
        page.locator('[data-testid="stMultiSelect"] input').first.click()
        page.get_by_role("option").filter(has_not_text=re.compile("^Select all")).first.click()
        page.keyboard.press("Escape")
        wait_app_idle(page, TIMEOUT_MS)
    wait_images(page, 5, TIMEOUT_MS)  # six entries; the CycleGAN among them draws no samples
    assert exception_on_page(page) is None
    filled = page.evaluate("""() => Array.from(document.querySelectorAll('[data-testid="stMain"] [data-testid="stColumn"]'))
        .filter(c => c.querySelector('[data-testid="stImage"], [data-testid="stAlert"]')).length""")
    assert filled == 6, f"{filled} entries drawn"
    overflow = page.evaluate("""() => {
        const main = document.querySelector('[data-testid="stMain"]');
        const out = [];
        if (document.documentElement.scrollWidth > window.innerWidth + 1) out.push('page scrolls sideways');
        for (const col of main.querySelectorAll('[data-testid="stColumn"]')) {
            const c = col.getBoundingClientRect();
            for (const el of col.querySelectorAll('img, [data-testid="stImageCaption"], [data-testid="stCaptionContainer"], button')) {
                const r = el.getBoundingClientRect();
                if (r.width > 0 && (r.right > c.right + 1 || r.left < c.left - 1)) out.push(el.tagName + ' ' + (el.innerText || el.src).slice(0, 40));
            }
        }
        return out; }""")
    assert overflow == [], overflow
    captions = page.evaluate("""() => Array.from(document.querySelectorAll('[data-testid="stMain"] [data-testid="stColumn"] [data-testid="stImageCaption"]'))
        .map(e => { const r = e.getBoundingClientRect(); return [r.left, r.top, r.right, r.bottom]; })""")
    assert len(captions) >= 5
    for i, a in enumerate(captions):
        for b in captions[i + 1:]:
            assert a[2] <= b[0] + 1 or b[2] <= a[0] + 1 or a[3] <= b[1] + 1 or b[3] <= a[1] + 1, ("captions overlap", a, b)


def test_no_page_needs_an_emoji_font(base, page):
    for url in [base] + [page_url(base, p) for p in navigation.TOOLS]:
        _open(page, url)
        text = page.evaluate("() => document.body.innerText")
        found = sorted(set(EMOJI.findall(text)))
        assert not found, f"{url} shows {found}, which need an emoji font"
    # the training page's run status is drawn with Streamlit's own icon font
    _open(page, page_url(base, navigation.TRAINING_PROGRESS))
    icon_fonts = page.evaluate("""() => Array.from(document.querySelectorAll('[data-testid="stMain"] [data-testid="stMarkdownContainer"] span'))
        .filter(s => /Status/.test(s.closest('[data-testid="stMarkdownContainer"]').innerText))
        .map(s => getComputedStyle(s).fontFamily).filter(f => /Material Symbols/.test(f))""")
    assert icon_fonts, "the status line has no Material icon"


def test_presenter_mode_big_no_sidebar_and_walks_by_itself(base, page):
    _open(page, page_url(base, navigation.LATENT_EXPLORER, f"model=tiny-dcgan&present=1&{SERVER_DRAWN}"))
    walk = page.locator('[data-testid="stImage"]', has=page.locator("text=Walking through latent space")).locator("img").first
    walk.wait_for(timeout=TIMEOUT_MS)
    assert not page.locator('[data-testid="stSidebar"]').is_visible()
    title_px = page.evaluate("""() => parseFloat(getComputedStyle(document.querySelector('[data-testid="stMain"] h1')).fontSize)""")
    assert title_px >= 48, f"the title is {title_px}px in presenter mode"
    assert walk.bounding_box()["width"] >= 500
    first = walk.get_attribute("src")
    # nobody touches anything: the picture moves on by itself
    page.wait_for_function("(first) => { const i = Array.from(document.querySelectorAll('[data-testid=\"stImage\"]'))"
                           ".find(e => e.innerText.includes('Walking through latent space')); "
                           "return i && i.querySelector('img').src !== first; }", arg=first, timeout=30_000)
    assert exception_on_page(page) is None
    page.get_by_role("button", name="Leave presenter mode").click()
    wait_app_idle(page, TIMEOUT_MS)
    page.locator('[data-testid="stSidebar"]').wait_for(state="visible", timeout=30_000)
    assert "present=" not in page.url


def test_explore_the_result_scrolls_up_to_the_picture(base, page):
    _open(page, page_url(base, navigation.LATENT_EXPLORER, f"model=tiny-dcgan&{SERVER_DRAWN}"))
    button = page.get_by_role("button", name="Explore the result with the sliders")
    button.scroll_into_view_if_needed()
    assert page.evaluate("() => document.querySelector('[data-testid=\"stMain\"] h1').getBoundingClientRect().bottom") < 0
    button.click()
    page.wait_for_function("() => { const r = document.querySelector('[data-testid=\"stMain\"] h1').getBoundingClientRect();"
                           " return r.bottom > 0 && r.top < window.innerHeight; }", timeout=30_000)
    wait_app_idle(page, TIMEOUT_MS)
    assert page.get_by_text(re.compile("^latent from A − B \\+ C")).first.is_visible()


def test_download_png_is_the_size_shown(base, page):
    _open(page, page_url(base, navigation.LATENT_EXPLORER, f"model=tiny-dcgan&{SERVER_DRAWN}"))
    wait_images(page, 1, TIMEOUT_MS)
    shown = page.evaluate("""() => { const i = Array.from(document.querySelectorAll('[data-testid="stImage"]'))
        .find(e => /^seed /.test(e.innerText)).querySelector('img'); return [i.naturalWidth, i.naturalHeight]; }""")
    with page.expect_download(timeout=TIMEOUT_MS) as info:
        page.get_by_role("button", name="Download PNG").first.click()
    with Image.open(info.value.path()) as img:
        assert list(img.size) == shown and min(img.size) >= 320, (img.size, shown)
    with page.expect_download(timeout=TIMEOUT_MS) as info:
        page.get_by_role("button", name=re.compile(r"^Original pixels \(28x28\)")).first.click()
    with Image.open(info.value.path()) as img:
        assert img.size == (28, 28)


def test_cyclegan_downloads_say_the_direction(base, page):
    _open(page, page_url(base, navigation.CYCLEGAN_TRANSLATE, "model=tiny-cyclegan"))
    buf = io.BytesIO()
    Image.new("RGB", (64, 48), (120, 90, 60)).save(buf, "JPEG")
    page.locator('[data-testid="stFileUploaderDropzoneInput"]').first.set_input_files(
        files=[{"name": "pony.jpg", "mimeType": "image/jpeg", "buffer": buf.getvalue()}])
    wait_images(page, 2, TIMEOUT_MS)
    wait_app_idle(page, TIMEOUT_MS)
    with page.expect_download(timeout=TIMEOUT_MS) as info:
        page.get_by_role("button", name=re.compile("as a zip")).click()
    assert info.value.suggested_filename == "cyclegan-horse-to-zebra.zip"
    with page.expect_download(timeout=TIMEOUT_MS) as info:
        page.get_by_role("button", name="Download PNG").first.click()
    assert info.value.suggested_filename == "pony-horse-to-zebra.png"
