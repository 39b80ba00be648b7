"""AppTest checks of the Latent explorer's "Bring your own image" and "Is it copying?" sections.

The nearest-image checks on the real MNIST and Fashion-MNIST models use the user cache directory, so the
training set's features are computed once per machine (about a minute each) and reused by later runs.
"""
from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import pytest
from PIL import Image, ImageDraw

from conftest import app_page

from ganmodels.data import default_root

REPO = Path(__file__).resolve().parent.parent

EXPLORER = "pages/1_Latent_explorer.py"
SHIPPED = REPO / "checkpoints"
TIMEOUT = 300


def open_explorer(root: Path, model_id: str, monkeypatch, **query):
    monkeypatch.setenv("GANSTUDIO_CHECKPOINTS", str(root))
    at = app_page(EXPLORER, TIMEOUT)
    at.query_params.update({"model": model_id, **{k: str(v) for k, v in query.items()}})
    return at.run()


def assert_clean(at) -> None:
    assert not at.exception, [e.value for e in at.exception]


def png(image: Image.Image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


def pencil_digit() -> bytes:
    """A '7' in dark pencil on white paper, off-centre, as a phone photo of a drawing would be."""
    img = Image.new("L", (240, 200), 250)
    ImageDraw.Draw(img).line([(40, 40), (120, 40), (70, 170)], fill=20, width=14)
    return png(img)


def upload_and_find(at, name: str, data: bytes, mime: str = "image/png"):
    at.radio(key="lx_own_source").set_value("Upload").run()
    at.file_uploader(key="lx_own_upload").upload(name, data, mime).run()
    return at.button(key="lx_own_find").click().run()


def captions(at) -> list[str]:
    return [img.captions[0] for img in at.image if img.captions]


def shipped_or_skip(model_id: str) -> Path:
    if not (SHIPPED / model_id / "card.json").is_file():
        pytest.skip(f"{model_id} is not in {SHIPPED}")
    return SHIPPED


@pytest.mark.parametrize("where", ["tiny", "shipped"])
def test_an_uploaded_digit_shows_target_reconstruction_and_distance(where, tiny_checkpoints, monkeypatch):
    root, model_id = (tiny_checkpoints, "tiny-dcgan") if where == "tiny" else (shipped_or_skip("dcgan-mnist"), "dcgan-mnist")
    at = upload_and_find(open_explorer(root, model_id, monkeypatch), "seven.png", pencil_digit())
    assert_clean(at)
    assert not at.error, [e.value for e in at.error]
    shown = captions(at)
    assert "Target: the picture seven.png as the model sees it" in shown
    assert any(c.startswith("Closest the model draws") for c in shown)
    (distance,) = [m for m in at.metric if m.label == "Distance"]
    assert 0 <= float(distance.value) <= 1
    if where == "shipped":  # MNIST is light on dark; the tiny model's random pictures may be either
        assert any("colours inverted" in c.value.lower() for c in at.caption), [c.value for c in at.caption]

    at.button(key="lx_own_explore").click().run()
    assert_clean(at)
    custom = at.session_state["lx_custom"]
    assert custom["model"] == model_id and custom["source"] == "your picture (the picture seven.png)"
    assert at.query_params.get("z"), "the found latent is in the URL, so the link shows it"
    assert any("Showing a latent from your picture" in i.value for i in at.info)


def test_a_conditional_model_explores_from_the_class_it_found(monkeypatch):
    root = shipped_or_skip("cgan-fashion")
    img = Image.new("L", (120, 120), 0)
    ImageDraw.Draw(img).rectangle((45, 10, 75, 110), fill=200)  # a long narrow garment: trousers, most likely
    at = upload_and_find(open_explorer(root, "cgan-fashion", monkeypatch), "trousers.png", png(img))
    assert_clean(at)
    found = at.session_state["lx_inversion"]["found"]
    assert found.label is not None
    assert any(c.startswith("Closest the model draws, class ") for c in captions(at))
    at.button(key="lx_own_explore").click().run()
    assert_clean(at)
    assert at.session_state["lx_label"] == found.label
    assert at.query_params.get("class") == str(found.label)


@pytest.mark.parametrize("name, data, message", [
    ("notes.png", b"this is text, not a picture", "not an image"),
    ("blank.png", png(Image.new("RGB", (64, 64), "white")), "blank"),
    ("huge.png", png(Image.new("1", (9000, 9000))), "limit"),
])
def test_bad_pictures_get_a_message_not_a_traceback(name, data, message, tiny_checkpoints, monkeypatch):
    at = open_explorer(tiny_checkpoints, "tiny-dcgan", monkeypatch)
    upload_and_find(at, name, data)
    assert_clean(at)
    assert any(message in e.value for e in at.error), [e.value for e in at.error]
    assert "lx_own_explore" not in [b.key for b in at.button]


def test_the_canvas_or_a_plain_note_is_shown(tiny_checkpoints, monkeypatch):
    at = open_explorer(tiny_checkpoints, "tiny-dcgan", monkeypatch)
    assert_clean(at)
    assert at.radio(key="lx_own_source").value == "Draw"
    assert at.button(key="lx_own_find").disabled  # nothing drawn yet
    assert any("Draw one digit or garment" in c.value for c in at.caption) or any("canvas is unavailable" in i.value for i in at.info)


@pytest.mark.parametrize("model_id, dataset", [("dcgan-mnist", "mnist"), ("dcgan-fashion", "fashion-mnist")])
def test_nearest_training_images_are_shown(model_id, dataset, monkeypatch):
    root = shipped_or_skip(model_id)
    if not default_root(dataset).is_dir():
        pytest.skip(f"the {dataset} training images are not at {default_root(dataset)}")
    at = open_explorer(root, model_id, monkeypatch, seed=3)
    at.button(key="lx_nearest_find").click().run()
    assert_clean(at)
    shown = captions(at)
    assert "The picture checked" in shown
    by_features = [c for c in shown if "feature distance" in c]
    by_pixels = [c for c in shown if "pixel distance" in c]
    assert len(by_features) == 5 and len(by_pixels) == 5, shown
    distances = [float(c.rsplit(" ", 1)[1]) for c in by_pixels]
    assert distances == sorted(distances) and 0 < distances[0] < 1
    assert any("Searched all 60,000 training images" in c.value for c in at.caption)


def test_absent_training_data_is_said_plainly(tiny_checkpoints, tmp_path, monkeypatch):
    root = tmp_path / "checkpoints"
    shutil.copytree(tiny_checkpoints / "tiny-dcgan", root / "tiny-dcgan")
    card = json.loads((root / "tiny-dcgan" / "card.json").read_text())
    card["dataset"]["root"] = str(tmp_path / "not-here")
    (root / "tiny-dcgan" / "card.json").write_text(json.dumps(card))
    at = open_explorer(root, "tiny-dcgan", monkeypatch)
    assert_clean(at)
    assert any("training images are not on this machine" in i.value for i in at.info), [i.value for i in at.info]
    assert "lx_nearest_find" not in [b.key for b in at.button]
