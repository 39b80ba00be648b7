"""AppTest checks of which path draws the Latent explorer's and InfoGAN page's picture (ui/live_explorer.py).

The browser path itself (the component drawing, parity with torch, dragging) is tested in real Chromium in
tests/test_e2e_live_canvas.py; here: the plain-words sentence, and each reason to fall back to the server.
"""
from __future__ import annotations

import pytest

from tests.conftest import app_page
from ui import live_canvas

EXPLORER, INFOGAN = "pages/1_Latent_explorer.py", "pages/2_InfoGAN_codes.py"
TIMEOUT = 120
BROWSER = "Drawn in your browser"
SERVER = "Drawn on the server"


@pytest.fixture
def fresh_exports(monkeypatch, tmp_path):
    """Exports go to a test cache, and no export is remembered from another test."""
    monkeypatch.setenv("GANSTUDIO_CACHE", str(tmp_path / "cache"))
    live_canvas._prepare.clear()
    yield
    live_canvas._prepare.clear()


def run(page: str, root, monkeypatch, state: dict | None = None, **query):
    monkeypatch.setenv("GANSTUDIO_CHECKPOINTS", str(root))
    at = app_page(page, TIMEOUT)
    at.query_params.update({k: str(v) for k, v in query.items()})
    for key, value in (state or {}).items():
        at.session_state[key] = value
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def path_sentence(at) -> str:
    found = [c.value for c in at.caption if BROWSER in c.value or SERVER in c.value]
    assert len(found) == 1, [c.value for c in at.caption]
    return found[0]


def server_picture(at) -> list:
    return [img for img in at.image if img.captions and img.captions[0].startswith(("seed ", "latent from", "category", "digit"))]


@pytest.mark.parametrize("family", ["dcgan", "cgan", "infogan"])
def test_explorer_draws_in_the_browser_by_default(family, tiny_checkpoints, monkeypatch, fresh_exports, tmp_path):
    at = run(EXPLORER, tiny_checkpoints, monkeypatch, model=f"tiny-{family}", seed=4, mode="raw", offsets="1:0.5")
    assert BROWSER in path_sentence(at)
    assert not server_picture(at), "the server drew the picture although the browser does"
    assert [s for s in at.slider if s.key and s.key.startswith("lx_raw_")] == [], "server sliders beside the browser's"
    # the Python state behind the browser's picture is the URL's, and it is written back to the URL
    assert at.query_params["seed"] == "4" and at.query_params["offsets"] == "1:0.5" and at.query_params["mode"] == "raw"
    assert any(c.value.startswith("seed 4") and "1 slider(s) moved" in c.value for c in at.caption)
    exported = list((tmp_path / "cache" / "onnx").glob("*.onnx"))
    assert len(exported) == 1 and (live_canvas.BUILD_DIR / "models" / exported[0].name).is_file()


def test_explorer_falls_back_when_the_url_asks(tiny_checkpoints, monkeypatch, fresh_exports):
    at = run(EXPLORER, tiny_checkpoints, monkeypatch, model="tiny-dcgan", render="server")
    assert SERVER in path_sentence(at) and "?render=server" in path_sentence(at)
    assert len(server_picture(at)) == 1


def test_explorer_falls_back_when_the_browser_cannot(tiny_checkpoints, monkeypatch, fresh_exports):
    reason = "WebAssembly is not available in this browser"
    at = run(EXPLORER, tiny_checkpoints, monkeypatch, state={"lx_live_fallback": reason}, model="tiny-dcgan")
    assert SERVER in path_sentence(at) and reason in path_sentence(at)
    assert len(server_picture(at)) == 1


def test_explorer_falls_back_when_the_export_fails(tiny_checkpoints, monkeypatch, fresh_exports):
    def refuse(model, folder=None):
        raise live_canvas.ExportError("tiny-dcgan: could not be exported to ONNX (a test said no)")

    monkeypatch.setattr(live_canvas, "export_generator", refuse)
    at = run(EXPLORER, tiny_checkpoints, monkeypatch, model="tiny-dcgan")
    assert SERVER in path_sentence(at) and "a test said no" in path_sentence(at)
    assert len(server_picture(at)) == 1


def test_infogan_page_draws_in_the_browser_and_falls_back(tiny_checkpoints, monkeypatch, fresh_exports):
    at = run(INFOGAN, tiny_checkpoints, monkeypatch, model="tiny-infogan")
    assert BROWSER in path_sentence(at)
    assert not [s for s in at.slider if s.key and s.key.startswith("ic_c")], "server code sliders beside the browser's"
    at = run(INFOGAN, tiny_checkpoints, monkeypatch, model="tiny-infogan", render="server")
    assert SERVER in path_sentence(at)
    assert [s for s in at.slider if s.key and s.key.startswith("ic_c")]
