"""Colour 32-px models in the app (issue 47): the smoothing choice for enlarged pictures (ganmodels.images.upscale and
the pages' shared sidebar control), colour models first on Home, the ten CIFAR-10 class names wherever a class is
picked (explorer on both drawing paths, compare), and a CIFAR-10 run started from the training page's form.

The models are tiny random-weight ones (conftest.build_tiny_colour_checkpoints) whose cards say what a CIFAR-10 run
writes: 32 px, 3 channels, dataset 'cifar10' with its class names. Chromium checks are in test_e2e_live_canvas.py.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import app_page, start_run_from_form
from ganmodels import runs
from ganmodels.cards import read_card
from ganmodels.data import CLASS_NAMES
from ganmodels.images import default_smoothing, grid, upscale
from ui import new_run, run_progress
from ui.common import gallery_order

from test_live_explorer import fresh_exports  # noqa: F401 - a fixture
from test_pages_train_translate import wait_for

HOME, EXPLORER, COMPARE, PROGRESS = ("app.py", "pages/1_Latent_explorer.py", "pages/4_Compare_checkpoints.py",
                                     "pages/3_Training_progress.py")
TIMEOUT = 120
CIFAR10 = CLASS_NAMES["cifar10"]
COLOUR = "tiny-colour-acgan"
SMOOTHING_WIDGET = "picture_smoothing_choice"


def run_page(page: str, root: Path, monkeypatch, **query):
    monkeypatch.setenv("GANSTUDIO_CHECKPOINTS", str(root))
    at = app_page(page, TIMEOUT)
    at.query_params.update({k: str(v) for k, v in query.items()})
    at.run()
    assert_clean(at)
    return at


def assert_clean(at) -> None:
    assert not at.exception, [e.value for e in at.exception]


def picture(at) -> str:
    """The explorer's server-drawn picture (its media URL, a hash of the PNG's bytes)."""
    found = [img.value[0] for img in at.image if img.captions and img.captions[0].startswith(("seed ", "latent from"))]
    assert len(found) == 1, [img.captions for img in at.image]
    return found[0]


def smooth(at, choice: str):
    at.sidebar.radio(key=SMOOTHING_WIDGET).set_value(choice).run()
    assert_clean(at)
    return at


# --- the library helper ----------------------------------------------------------------------------------------


def test_upscale_nearest_keeps_pixels_and_bicubic_blends_them():
    torch.manual_seed(0)
    small = grid(torch.rand(4, 3, 32, 32) * 2 - 1, 2)
    sharp, soft = upscale(small, 300, "nearest"), upscale(small, 300, "bicubic")
    assert sharp.size == soft.size == (small.width * 5, small.height * 5)
    # nearest: every 5x5 block is one model pixel; bicubic: the same size, different (blended) pixels
    assert np.array_equal(np.asarray(sharp)[::5, ::5], np.asarray(small))
    assert not np.array_equal(np.asarray(sharp), np.asarray(soft))
    assert upscale(small, 300).tobytes() == sharp.tobytes(), "nearest stays the default of the helper"
    grey = Image.fromarray(np.arange(64, dtype=np.uint8).reshape(8, 8), mode="L")
    assert upscale(grey, 16, "bicubic").mode == "L"
    assert upscale(small, 10, "bicubic") is small, "a picture already large enough is left as it is"
    with pytest.raises(ValueError, match="unknown smoothing"):
        upscale(small, 300, "lanczos")
    assert (default_smoothing(3), default_smoothing(1)) == ("bicubic", "nearest")


def test_gallery_order_puts_colour_generators_first_and_keeps_the_rest():
    entries = [{"id": "grey-a", "family": "dcgan", "arch": {"channels": 1}},
               {"id": "photos", "family": "cyclegan", "arch": {"channels": 3}},
               {"id": "broken", "family": "?", "error": "bad card"},
               {"id": "colour-b", "family": "acgan", "arch": {"channels": 3}},
               {"id": "grey-c", "family": "mlp", "arch": {"channels": 1}},
               {"id": "colour-d", "family": "dcgan", "arch": {"channels": 3}}]
    assert [e["id"] for e in gallery_order(entries)] == ["colour-b", "colour-d", "grey-a", "photos", "broken", "grey-c"]


# --- Home --------------------------------------------------------------------------------------------------------


def test_home_shows_colour_models_first(tiny_colour_checkpoints, monkeypatch):
    at = run_page(HOME, tiny_colour_checkpoints, monkeypatch)
    titles = [h.value for h in at.subheader if h.value.startswith("Tiny")]
    assert len(titles) > 4 and [t.startswith("Tiny colour") for t in titles] == [True, True] + [False] * (len(titles) - 2), titles
    # the smoothing choice redraws the colour tiles (automatic is smooth for them) and the grey ones (sharp)
    tiles = [img.value[0] for img in at.image]
    smooth(at, "nearest")
    sharp_tiles = [img.value[0] for img in at.image]
    assert sharp_tiles[:2] != tiles[:2] and sharp_tiles[2:] == tiles[2:]
    smooth(at, "bicubic")
    assert [img.value[0] for img in at.image][2:] != tiles[2:]


# --- Latent explorer -----------------------------------------------------------------------------------------------


def test_explorer_class_picker_lists_the_ten_names(tiny_colour_checkpoints, monkeypatch):
    at = run_page(EXPLORER, tiny_colour_checkpoints, monkeypatch, model=COLOUR, render="server")
    labels = at.selectbox(key="lx_label")
    assert labels.options == CIFAR10
    start = picture(at)
    labels.set_value(8).run()
    assert_clean(at)
    assert picture(at) != start and at.query_params["class"] == "8"
    assert any("class ship" in (img.captions or [""])[0] for img in at.image)
    # a link may name the class; a class the model lacks falls back to the first, without a traceback
    at = run_page(EXPLORER, tiny_colour_checkpoints, monkeypatch, model=COLOUR, render="server", **{"class": "horse"})
    assert at.selectbox(key="lx_label").value == 7
    at = run_page(EXPLORER, tiny_colour_checkpoints, monkeypatch, model=COLOUR, render="server", **{"class": "unicorn"})
    assert at.selectbox(key="lx_label").value == 0


def test_explorer_smoothing_choice_changes_the_picture(tiny_colour_checkpoints, monkeypatch):
    at = run_page(EXPLORER, tiny_colour_checkpoints, monkeypatch, model=COLOUR, render="server", seed=3)
    assert at.sidebar.radio(key=SMOOTHING_WIDGET).value == "auto"
    automatic = picture(at)
    nearest = picture(smooth(at, "nearest"))
    bicubic = picture(smooth(at, "bicubic"))
    assert nearest != bicubic, "nearest and bicubic enlargements gave the same pixels"
    assert automatic == bicubic, "a colour model's automatic enlargement is bicubic"
    # a grey model's automatic enlargement stays sharp (today's look)
    grey = run_page(EXPLORER, tiny_colour_checkpoints, monkeypatch, model="tiny-dcgan", render="server", seed=3)
    automatic_grey = picture(grey)
    assert picture(smooth(grey, "nearest")) == automatic_grey != picture(smooth(grey, "bicubic"))
    # a stored value no control offers (an older session's, say) falls back to automatic, without a traceback
    grey.session_state["picture_smoothing"] = "lanczos"
    grey.run()
    assert_clean(grey)
    assert grey.sidebar.radio(key=SMOOTHING_WIDGET).value == "auto" and picture(grey) == automatic_grey
    smooth(grey, "bicubic")
    # the choice is the session's: another page opened in the same session keeps it
    grey.switch_page(COMPARE).run()
    assert_clean(grey)
    assert grey.sidebar.radio(key=SMOOTHING_WIDGET).value == "bicubic"


def component_args(at) -> dict:
    """The arguments the live canvas component was drawn with (what frontend/src/main.js reads)."""
    found = [el for el in at.get("component_instance") if "live_canvas" in el.proto.component_name]
    assert len(found) == 1, "the browser does not draw the picture"
    return json.loads(found[0].proto.json_args)


def test_browser_canvas_gets_the_class_names_and_the_smoothing(tiny_colour_checkpoints, monkeypatch, fresh_exports):
    at = run_page(EXPLORER, tiny_colour_checkpoints, monkeypatch, model=COLOUR, **{"class": "3"})
    spec = component_args(at)
    assert spec["choice"]["names"] == CIFAR10 and spec["choice"]["value"] == 3 and spec["takes_label"] is True
    assert spec["smoothing"] == "bicubic"
    assert spec["display_size"] // 32 >= 10, "a 32-px picture is enlarged at least ten times"
    smooth(at, "nearest")
    assert component_args(at)["smoothing"] == "nearest"
    grey = run_page(EXPLORER, tiny_colour_checkpoints, monkeypatch, model="tiny-dcgan")
    assert component_args(grey)["smoothing"] == "nearest" and component_args(grey)["choice"] is None


# --- Compare -------------------------------------------------------------------------------------------------------


def test_compare_class_picker_for_conditional_models(tiny_colour_checkpoints, monkeypatch):
    monkeypatch.setenv("GANSTUDIO_CHECKPOINTS", str(tiny_colour_checkpoints))
    at = app_page(COMPARE, TIMEOUT)
    at.session_state["cmp_entries"] = ["tiny-colour-acgan @ final", "tiny-colour-dcgan @ final"]
    at.run()
    assert_clean(at)
    picker = at.selectbox(key="cmp_class")
    assert picker.options == ["Every class in turn"] + CIFAR10
    before = [img.value[0] for img in at.image]
    assert len(before) == 2
    picker.set_value(1).run()
    assert_clean(at)
    after = [img.value[0] for img in at.image]
    assert after[0] != before[0], "the conditional model did not draw the chosen class"
    assert after[1] == before[1], "an unconditional model has no class to change"
    assert any("its class automobile" in c.value for c in at.caption)
    smooth(at, "nearest")
    assert [img.value[0] for img in at.image] != after
    # only unconditional models chosen: no class picker
    at.multiselect(key="cmp_entries").set_value(["tiny-colour-dcgan @ final", "tiny-dcgan @ final"]).run()
    assert_clean(at)
    assert not [s for s in at.selectbox if s.key == "cmp_class"]


# --- Training progress: a CIFAR-10 run from the form ---------------------------------------------------------------


def make_cifar_folder(root: Path, per_class: int = 3) -> Path:
    """CIFAR-10's layout (train/<class>/, test/<class>/, 32-px RGB JPEGs), each class its own colour."""
    rng = np.random.default_rng(0)
    for split in ("train", "test"):
        for k, name in enumerate(CIFAR10):
            folder = root / split / name
            folder.mkdir(parents=True)
            for i in range(per_class):
                arr = (rng.random((32, 32, 3)) * 60).astype(np.uint8)
                arr[..., k % 3] += 150
                Image.fromarray(arr).save(folder / f"{i:04d}.jpg", quality=90)
    return root


@pytest.fixture
def colour_runs(tmp_path, tmp_path_factory, tiny_colour_checkpoints, monkeypatch) -> Path:
    runs_dir = tmp_path / "runs"
    runs_dir.mkdir()
    monkeypatch.setenv("GANSTUDIO_DATA_ROOTS", str(tmp_path_factory.getbasetemp()))
    monkeypatch.setenv("GANSTUDIO_RUNS", str(runs_dir))
    monkeypatch.setenv("GANSTUDIO_CHECKPOINTS", str(tiny_colour_checkpoints))
    return runs_dir


def test_form_offers_cifar10_and_refuses_a_missing_folder(colour_runs, tmp_path):
    assert new_run.DATASETS["cifar10"].startswith("CIFAR-10")
    at = app_page(PROGRESS, TIMEOUT).run()
    assert any(o.startswith("CIFAR-10") for o in at.selectbox(key="nr_dataset").options)
    at.selectbox(key="nr_family").set_value("acgan")
    at.selectbox(key="nr_dataset").set_value("cifar10")
    at.text_input(key="nr_root").set_value(str(tmp_path / "no-cifar-here"))
    at.text_input(key="nr_name").set_value("colour")
    at.button[0].click().run()
    assert_clean(at)
    assert any("CIFAR-10" in e.value and "not found" in e.value and "train/<class>/" in e.value for e in at.error), \
        [e.value for e in at.error]
    assert not at.success and sorted(p.name for p in colour_runs.iterdir()) == []
    # a folder without the class sub-folders is refused too
    empty = tmp_path / "flat"
    (empty / "train").mkdir(parents=True)
    at.text_input(key="nr_root").set_value(str(empty))
    at.button[0].click().run()
    assert_clean(at)
    assert any("not usable" in e.value for e in at.error), [e.value for e in at.error]


def test_a_cifar10_run_from_the_form_shows_colour_grids(colour_runs, tmp_path):
    data = make_cifar_folder(tmp_path / "cifar10")
    at = app_page(PROGRESS, TIMEOUT).run()
    start_run_from_form(at, "acgan", "cifar10", data, "colour-run")
    assert_clean(at)
    assert any("Started 'colour-run'" in s.value for s in at.success), [e.value for e in at.error]
    assert wait_for(lambda: runs.live_status(colour_runs / "colour-run").get("status") == "finished"), \
        run_progress.log_tail(colour_runs / "colour-run.log")
    card = read_card(colour_runs / "colour-run")
    assert (card.image_size, card.channels) == (32, 3)
    assert card.dataset["name"] == "cifar10" and card.dataset["classes"] == CIFAR10
    with Image.open(colour_runs / "colour-run" / card.snapshots[-1]["grid"]) as img:
        pixels = np.asarray(img.convert("RGB")).astype(int)
    assert np.abs(pixels[..., 0] - pixels[..., 1]).max() > 0, "the progress grid is grey"
    at.run()
    assert_clean(at)
    assert at.selectbox(key="progress_run").value == str(colour_runs / "colour-run")
    shown = at.image[0].value[0]
    assert "step 4" in at.image[0].captions[0]
    smooth(at, "nearest")
    assert at.image[0].value[0] != shown, "the smoothing choice did not reach the progress grid"
