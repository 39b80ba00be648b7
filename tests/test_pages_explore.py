"""AppTest checks of Home, the latent explorer, InfoGAN codes and compare pages.

Images are compared by their media URL, which Streamlit derives from a hash of the encoded image bytes,
so "the URL changed" means "the picture's bytes changed".
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from streamlit.testing.v1 import AppTest

from conftest import app_page

from ganmodels.checkpoint import load_model, readable_cards
from ganmodels.registry import FAMILIES
from ui import navigation
from ui.explorer_state import encode_latent

REPO = Path(__file__).resolve().parent.parent

HOME, EXPLORER, INFOGAN, COMPARE = "app.py", "pages/1_Latent_explorer.py", "pages/2_InfoGAN_codes.py", "pages/4_Compare_checkpoints.py"
SHIPPED = REPO / "checkpoints"
TIMEOUT = 120


# --- helpers --------------------------------------------------------------------------------------


def models_in(root: Path) -> list[tuple[str, str, str, dict]]:
    """(id, family, title, arch) of every readable checkpoint folder under root."""
    return [(card.id, card.family, card.title or card.id, card.arch) for card in readable_cards(root)]


@pytest.fixture(params=["tiny", "shipped"])
def any_root(request) -> Path:
    """The tiny random-weight checkpoints, then the real checkpoints/ folder when it holds models."""
    if request.param == "tiny":
        return request.getfixturevalue("tiny_checkpoints")
    if not models_in(SHIPPED):
        pytest.skip(f"no trained models in {SHIPPED} yet (they are published after training)")
    return SHIPPED


def run_page(page: str, root: Path, monkeypatch, **query) -> AppTest:
    """The page drawn on the server (?render=server), whose pictures and sliders these tests read; the in-browser
    path has its own tests (test_live_explorer.py, and in Chromium test_e2e_live_canvas.py)."""
    monkeypatch.setenv("GANSTUDIO_CHECKPOINTS", str(root))
    at = app_page(page, TIMEOUT)
    at.query_params.update({"render": "server", **{k: str(v) for k, v in query.items()}})
    return at.run()


def assert_clean(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]


def image_url(at: AppTest, caption_start: str) -> str:
    found = [img.value[0] for img in at.image if img.captions and img.captions[0].startswith(caption_start)]
    assert found, f"no image captioned '{caption_start}…' among {[img.captions for img in at.image]}"
    return found[0]


def main_image(at: AppTest) -> str:
    """The explorer's picture: captioned 'seed N…' or 'latent from …'."""
    found = [img for img in at.image if img.captions and img.captions[0].startswith(("seed ", "latent from"))]
    assert len(found) == 1, [img.captions for img in at.image]
    return found[0].value[0]


def button(at: AppTest, label: str):
    found = [b for b in at.button if b.label == label]
    assert found, f"no button '{label}' among {[b.label for b in at.button]}"
    return found[0]


def texts(elements) -> str:
    return "\n".join(str(e.value) for e in elements)


@pytest.fixture(scope="module")
def broken_root(tiny_checkpoints, tmp_path_factory) -> Path:
    """One good model beside three broken ones: missing weights, garbage weights, a card that is not JSON."""
    root = tmp_path_factory.mktemp("broken")
    shutil.copytree(tiny_checkpoints / "tiny-dcgan", root / "tiny-dcgan")
    missing = root / "a-missing-weights"
    shutil.copytree(tiny_checkpoints / "tiny-dcgan", missing)
    card = json.loads((missing / "card.json").read_text())
    (missing / "card.json").write_text(json.dumps({**card, "id": "a-missing-weights", "weights": "nowhere.safetensors"}))
    garbage = root / "b-garbage-weights"
    shutil.copytree(tiny_checkpoints / "tiny-dcgan", garbage)
    (garbage / "card.json").write_text(json.dumps({**card, "id": "b-garbage-weights", "title": "Garbage"}))
    (garbage / "generator.safetensors").write_bytes(b"\x00garbage" * 100)
    bad_card = root / "c-bad-card"
    bad_card.mkdir()
    (bad_card / "card.json").write_text("{ not json")
    return root


@pytest.fixture(scope="module")
def snapshot_root(tiny_checkpoints, tmp_path_factory) -> Path:
    """tiny-dcgan with one kept snapshot whose weights differ, plus tiny-infogan and tiny-cyclegan."""
    from ganmodels.checkpoint import read_weights, save_weights

    root = tmp_path_factory.mktemp("snapshots")
    for name in ("tiny-dcgan", "tiny-infogan", "tiny-cyclegan"):
        shutil.copytree(tiny_checkpoints / name, root / name)
    folder = root / "tiny-dcgan"
    state = {k: v * 1.5 if v.is_floating_point() else v for k, v in read_weights(folder / "generator.safetensors").items()}
    save_weights(state, folder / "snapshots" / "step_0000010.safetensors", precision="float16")
    card = json.loads((folder / "card.json").read_text())
    card["training"]["steps_done"] = 20
    card["metrics"] = {"classifier_fid": 10.0, "classifier_fid_floor": 0.5, "coverage_entropy_ratio": 0.9}
    card["snapshots"] = [
        {"step": 10, "weights": "snapshots/step_0000010.safetensors", "grid": None, "metrics": {"classifier_fid": 30.0}},
        {"step": 20, "weights": "generator.safetensors", "grid": None, "metrics": {"classifier_fid": 10.0}},
    ]
    (folder / "card.json").write_text(json.dumps(card))
    return root


# --- Home -------------------------------------------------------------------------------------------


def test_home_renders_every_model(any_root, monkeypatch):
    at = run_page(HOME, any_root, monkeypatch)
    assert_clean(at)
    assert not at.error, texts(at.error)
    titles = [s.value for s in at.subheader]
    for model_id, family, title, _ in models_in(any_root):
        assert title in titles, f"{model_id} has no tile"
    image_models = [m for m in models_in(any_root) if not FAMILIES[m[1]].translator]
    assert len(at.image) >= len(image_models)
    assert "Models run on" in texts(at.caption)
    linked = {p.proto.page for p in at.page_link}
    assert {"Latent_explorer", "InfoGAN_codes", "Compare_checkpoints"} <= linked


def test_home_shows_friendly_metrics_and_generated_grid(tiny_checkpoints, monkeypatch):
    at = run_page(HOME, tiny_checkpoints, monkeypatch)
    assert "**Variety across classes**: 50.0%" in texts(at.markdown)
    assert "coverage_entropy_ratio" not in texts(at.markdown)
    captions = [img.captions[0] for img in at.image]
    assert captions.count("25 samples from seed 0") == 7  # every family but CycleGAN draws its own grid
    assert "translates photos" in texts(at.info)


def test_home_prefers_the_latest_snapshot_grid(tiny_checkpoints, tmp_path, monkeypatch):
    from PIL import Image

    folder = tmp_path / "tiny-dcgan"
    shutil.copytree(tiny_checkpoints / "tiny-dcgan", folder)
    (folder / "grids").mkdir()
    Image.new("L", (20, 20), 255).save(folder / "grids" / "step_0000500.png")
    card = json.loads((folder / "card.json").read_text())
    card["snapshots"] = [{"step": 500, "grid": "grids/step_0000500.png", "weights": None, "metrics": {}}]
    (folder / "card.json").write_text(json.dumps(card))
    at = run_page(HOME, tmp_path, monkeypatch)
    assert_clean(at)
    assert [img.captions[0] for img in at.image] == ["Fixed test inputs at step 500"]


def test_home_says_when_a_model_ships_a_mean_of_snapshots(tiny_checkpoints, tmp_path, monkeypatch):
    folder = tmp_path / "tiny-dcgan"
    shutil.copytree(tiny_checkpoints / "tiny-dcgan", folder)
    card = json.loads((folder / "card.json").read_text())
    card["training"].update(steps_done=3000, weights_average={"from_step": 1000, "to_step": 3000})
    (folder / "card.json").write_text(json.dumps(card))
    at = run_page(HOME, tmp_path, monkeypatch)
    assert_clean(at)
    assert "Trained 3,000 steps" in texts(at.caption)
    assert "shipped as the mean of its snapshots from step 1,000 to 3,000" in texts(at.caption)


def test_home_broken_checkpoints_stay_in_their_tiles(broken_root, monkeypatch):
    at = run_page(HOME, broken_root, monkeypatch)
    assert_clean(at)
    errors = texts(at.error)
    assert "nowhere.safetensors" in errors and "missing" in errors
    assert "generator.safetensors" in errors  # the garbage file is named
    assert "not valid JSON" in errors
    assert len(at.error) == 3
    assert image_url(at, "25 samples from seed 0")  # the good model still renders


def test_home_with_no_checkpoints(tmp_path, monkeypatch):
    at = run_page(HOME, tmp_path / "empty", monkeypatch)
    assert_clean(at)
    assert "No checkpoints found" in texts(at.warning)


# --- Latent explorer ---------------------------------------------------------------------------------


def test_explorer_renders_and_seed_changes_image(any_root, monkeypatch):
    at = run_page(EXPLORER, any_root, monkeypatch)
    assert_clean(at)
    assert not at.error, texts(at.error)
    before = main_image(at)
    assert at.query_params["seed"] == "0" and "model" in at.query_params
    at.number_input(key="lx_seed").set_value(5).run()
    assert_clean(at)
    assert main_image(at) != before
    assert at.query_params["seed"] == "5"
    for caption in ("Samples 1 to 16", "A, B, C", "Seed 5 → seed 6", "The same walk"):  # the walk follows the seed
        image_url(at, caption)


def test_explorer_new_seed_button(tiny_checkpoints, monkeypatch):
    at = run_page(EXPLORER, tiny_checkpoints, monkeypatch, model="tiny-dcgan")
    before = main_image(at)
    button(at, "New seed").click().run()
    assert_clean(at)
    assert at.number_input(key="lx_seed").value != 0
    assert main_image(at) != before
    assert at.query_params["seed"] == str(at.number_input(key="lx_seed").value)


@pytest.mark.parametrize("model_id", ["tiny-dcgan", "tiny-mlp", "tiny-infogan", "tiny-acgan"])
def test_explorer_sliders_change_image(tiny_checkpoints, monkeypatch, model_id):
    at = run_page(EXPLORER, tiny_checkpoints, monkeypatch, model=model_id)
    assert_clean(at)
    start = main_image(at)
    first = at.slider(key="lx_principal_0")
    assert first.label.startswith("Direction 1 (") and "% of the change" in first.label and "nan" not in first.label
    first.set_value(2.5).run()
    assert_clean(at)
    moved = main_image(at)
    assert moved != start
    assert at.query_params["offsets"] == "0:2.5" and at.query_params["mode"] == "principal"
    at.radio(key="lx_mode").set_value("raw").run()
    assert main_image(at) == start  # raw sliders start at zero: the seed's own picture
    at.slider(key="lx_raw_3").set_value(-3.0).run()
    assert_clean(at)
    assert main_image(at) not in (start, moved)
    assert at.query_params["offsets"] == "3:-3" and at.query_params["mode"] == "raw"
    button(at, "Reset sliders").click().run()
    assert main_image(at) == start and "offsets" not in at.query_params


def test_explorer_class_and_truncation_change_image(tiny_checkpoints, monkeypatch):
    at = run_page(EXPLORER, tiny_checkpoints, monkeypatch, model="tiny-cgan")
    assert_clean(at)
    start = main_image(at)
    labels = at.selectbox(key="lx_label")
    assert labels.options == [str(i) for i in range(10)]
    labels.set_value(3).run()
    assert_clean(at)
    by_class = main_image(at)
    assert by_class != start and at.query_params["class"] == "3"
    at.select_slider(key="lx_psi").set_value(0.3).run()
    assert_clean(at)
    assert main_image(at) != by_class and at.query_params["psi"] == "0.3"


def test_explorer_url_reproduces_state(tiny_checkpoints, monkeypatch):
    query = {"model": "tiny-cgan", "seed": 42, "psi": 0.5, "class": 3, "mode": "raw", "offsets": "1:1.5"}
    shared = run_page(EXPLORER, tiny_checkpoints, monkeypatch, **query)
    assert_clean(shared)
    assert shared.number_input(key="lx_seed").value == 42
    assert shared.select_slider(key="lx_psi").value == 0.5
    assert shared.selectbox(key="lx_label").value == 3
    assert shared.radio(key="lx_mode").value == "raw"
    assert shared.slider(key="lx_raw_1").value == 1.5
    # The same state reached by hand gives the same picture.
    by_hand = run_page(EXPLORER, tiny_checkpoints, monkeypatch, model="tiny-cgan")
    by_hand.number_input(key="lx_seed").set_value(42).run()
    by_hand.select_slider(key="lx_psi").set_value(0.5).run()
    by_hand.selectbox(key="lx_label").set_value(3).run()
    by_hand.radio(key="lx_mode").set_value("raw").run()
    by_hand.slider(key="lx_raw_1").set_value(1.5).run()
    assert_clean(by_hand)
    assert main_image(by_hand) == main_image(shared)
    assert {k: by_hand.query_params[k] for k in query} == {k: str(v) for k, v in query.items()}


def test_explorer_bad_url_values_fall_back(tiny_checkpoints, monkeypatch):
    at = run_page(EXPLORER, tiny_checkpoints, monkeypatch, model="tiny-dcgan", seed="abc", psi="x", mode="?",
                  offsets="0:zz", z="not-a-latent")
    assert_clean(at)
    assert at.number_input(key="lx_seed").value == 0
    assert "could not be used" in texts(at.warning)
    assert main_image(at)


def test_explorer_latent_upload(tiny_checkpoints, monkeypatch):
    at = run_page(EXPLORER, tiny_checkpoints, monkeypatch, model="tiny-dcgan")
    start = main_image(at)
    uploader = at.file_uploader(key="lx_upload")
    uploader.upload("notes.json", b"this is not json", "application/json").run()
    assert_clean(at)
    assert "not a GAN Studio latent file" in texts(at.error)
    assert main_image(at) == start  # the page keeps working

    wrong = encode_latent("other", torch.zeros(1, 7))
    at.file_uploader(key="lx_upload").clear().upload("wrong.json", wrong, "application/json").run()
    assert_clean(at)
    assert "7 numbers" in texts(at.error) and "takes 100" in texts(at.error)

    model = load_model(tiny_checkpoints / "tiny-dcgan", "cpu")
    good = encode_latent("tiny-dcgan", model.latents(9, 1), seed=9, psi=None, label=None)
    at.file_uploader(key="lx_upload").clear().upload("mine.json", good, "application/json").run()
    assert_clean(at)
    assert not at.error
    assert at.image[0].captions[0].startswith("latent from the file mine.json")
    assert main_image(at) != start
    assert at.number_input(key="lx_seed").value == 9 and "z" in at.query_params
    button(at, "Back to the seed's picture").click().run()
    assert at.image[0].captions[0].startswith("seed 9") and "z" not in at.query_params


def test_explorer_arithmetic_and_shared_result(tiny_checkpoints, monkeypatch):
    at = run_page(EXPLORER, tiny_checkpoints, monkeypatch, model="tiny-dcgan")
    arithmetic = image_url(at, "A, B, C")
    at.multiselect(key="lx_arith_A").set_value([1, 4]).run()
    assert_clean(at)
    assert image_url(at, "A, B, C") != arithmetic
    at.multiselect(key="lx_arith_B").set_value([]).run()
    assert "Pick at least one sample" in texts(at.info)
    at.multiselect(key="lx_arith_B").set_value([2]).run()
    button(at, "Explore the result with the sliders").click().run()
    assert_clean(at)
    assert at.image[0].captions[0].startswith("latent from A − B + C")
    result = main_image(at)
    token = at.query_params["z"]
    # The result's link brings the same picture back in a new session.
    again = run_page(EXPLORER, tiny_checkpoints, monkeypatch, **dict(at.query_params))
    assert_clean(again)
    assert again.image[0].captions[0].startswith("latent from the shared link")
    assert again.query_params["z"] == token
    assert main_image(again) == result


def test_explorer_interpolation_strip_and_gif(tiny_checkpoints, monkeypatch):
    at = run_page(EXPLORER, tiny_checkpoints, monkeypatch, model="tiny-dcgan")
    strip, gif = image_url(at, "Seed 0 → seed 1"), image_url(at, "The same walk")
    assert gif.endswith(".gif")
    assert "Download GIF" in [d.label for d in at.get("download_button")]
    at.radio(key="lx_method").set_value("lerp").run()
    assert image_url(at, "Seed 0 → seed 1, 8 steps (lerp)") != strip
    at.number_input(key="lx_to").set_value(7).run()
    at.slider(key="lx_steps").set_value(4).run()
    assert_clean(at)
    assert image_url(at, "Seed 0 → seed 7, 4 steps") and image_url(at, "The same walk") != gif
    # Every picture on the page can be downloaded.
    assert len([d for d in at.get("download_button") if d.label == "Download PNG"]) == 4


def test_explorer_broken_checkpoint_shows_error(broken_root, monkeypatch):
    for model_id in ("a-missing-weights", "b-garbage-weights"):
        at = run_page(EXPLORER, broken_root, monkeypatch, model=model_id)
        assert_clean(at)
        assert "could not be loaded" in texts(at.error)
        assert not at.image
    at = run_page(EXPLORER, broken_root, monkeypatch, model="c-bad-card")
    assert_clean(at)
    assert "card is broken" in texts(at.error)


# --- InfoGAN codes ------------------------------------------------------------------------------------


def test_infogan_page_renders(any_root, monkeypatch):
    infogans = [m for m in models_in(any_root) if navigation.INFOGAN_CODES.accepts(FAMILIES[m[1]], m[3])]
    if not infogans:
        pytest.skip("no InfoGAN among these checkpoints")
    at = run_page(INFOGAN, any_root, monkeypatch, model=infogans[0][0])
    assert_clean(at)
    assert not at.error, texts(at.error)
    assert len(at.image) == 2
    assert "without labels" in texts(at.caption) or "never shown a label" in texts(at.caption)


def test_infogan_controls_change_output(tiny_checkpoints, monkeypatch):
    at = run_page(INFOGAN, tiny_checkpoints, monkeypatch, model="tiny-infogan")
    assert_clean(at)
    live = image_url(at, "category 0")
    traversal = image_url(at, "Rows: category 0 to 9; columns: c1")
    at.selectbox(key="ic_cat").set_value(4).run()
    assert_clean(at)
    by_category = image_url(at, "category 4")
    assert by_category != live
    at.slider(key="ic_c1").set_value(1.8).run()
    assert image_url(at, "category 4 · c1 = +0.0, c2 = +1.8") != by_category
    at.selectbox(key="ic_sweep").set_value(1).run()
    assert image_url(at, "Rows: category 0 to 9; columns: c2") != traversal
    at.number_input(key="ic_seed").set_value(3).run()
    assert_clean(at)
    assert image_url(at, "category 4") != by_category
    assert len([d for d in at.get("download_button") if d.label == "Download PNG"]) == 2


def test_infogan_page_without_infogan_models(broken_root, monkeypatch):
    at = run_page(INFOGAN, broken_root, monkeypatch)
    assert_clean(at)
    assert not at.image
    assert at.error or at.warning or at.info


# --- Compare checkpoints -------------------------------------------------------------------------------


def compare_columns(at: AppTest) -> list:
    return [c for c in at.columns if c.image or c.error or c.info]


def test_compare_renders_two_entries(any_root, monkeypatch):
    at = run_page(COMPARE, any_root, monkeypatch)
    assert_clean(at)
    entries = at.multiselect(key="cmp_entries")
    expected = min(2, len(entries.options))  # two models, or a model and one of its snapshots
    assert len(entries.value) == expected
    columns = compare_columns(at)
    assert len(columns) == expected
    assert all(c.image or c.info for c in columns)


def test_compare_same_latent_and_snapshots(snapshot_root, monkeypatch):
    at = run_page(COMPARE, snapshot_root, monkeypatch)
    entries = at.multiselect(key="cmp_entries")
    assert "tiny-dcgan @ step 10" in entries.options
    entries.set_value(["tiny-dcgan @ final (step 20)", "tiny-dcgan @ step 10"]).run()
    assert_clean(at)
    columns = compare_columns(at)
    assert len(columns) == 2 and all(len(c.image) == 1 for c in columns)
    assert columns[0].image[0].value[0] != columns[1].image[0].value[0]  # the snapshot draws differently
    assert "exactly the same" in texts(at.caption)
    assert len(at.dataframe) == 1
    table = at.dataframe[0].value
    assert list(table.index) == ["tiny-dcgan @ final (step 20)", "tiny-dcgan @ step 10"]
    assert "Distance to real images (FID)" in table.columns
    assert len(at.get("plotly_chart")) == 1
    before = columns[0].image[0].value[0]
    at.number_input(key="cmp_seed").set_value(4).run()
    assert compare_columns(at)[0].image[0].value[0] != before


def test_compare_different_latents_and_cyclegan(snapshot_root, monkeypatch):
    at = run_page(COMPARE, snapshot_root, monkeypatch)
    at.multiselect(key="cmp_entries").set_value(["tiny-dcgan @ final (step 20)", "tiny-infogan @ final",
                                                 "tiny-cyclegan @ final"]).run()
    assert_clean(at)
    assert len(compare_columns(at)) == 3
    assert "share the seed but not the exact numbers" in texts(at.caption)
    assert "latent differs" in "\n".join(img.captions[0] for img in at.image)
    assert "skipped" in texts(at.info)


def test_compare_broken_entries_show_errors(broken_root, monkeypatch):
    at = run_page(COMPARE, broken_root, monkeypatch)
    entries = at.multiselect(key="cmp_entries")
    entries.set_value(list(entries.options)).run()
    assert_clean(at)
    assert len(compare_columns(at)) == 4
    errors = texts(at.error)
    assert "nowhere.safetensors" in errors and "not valid JSON" in errors and "generator.safetensors" in errors
    assert len(at.image) == 1  # the good model still draws
    assert len(at.dataframe) == 1


PAGE_FILES = sorted(str(p.relative_to(REPO)) for p in (REPO / "pages").glob("*.py"))


def test_every_page_file_is_in_the_menu():
    """app.py hands the pages declared in ui/navigation.py to st.navigation: every file in pages/ is declared there
    once, with Home (the gallery, the default page) first."""
    from ui import navigation

    assert sorted(p.path for p in navigation.PAGES) == PAGE_FILES
    assert navigation.PAGES[0] is navigation.HOME and navigation.HOME.title == "Home"
    assert len({p.url_path for p in navigation.PAGES}) == len(navigation.PAGES)


@pytest.mark.parametrize("page_file", PAGE_FILES)
def test_every_page_is_registered_and_draws_the_sidebar(page_file, tiny_checkpoints, monkeypatch):
    """Each page is reached through the navigation app.py registers (switch_page refuses a page st.navigation does
    not know), and draws the top of the sidebar. The menu's look is checked in Chromium (test_e2e_browser.py)."""
    at = run_page(HOME, tiny_checkpoints, monkeypatch)
    assert_clean(at)
    at.switch_page(page_file).run()
    assert_clean(at)
    assert any("Running on" in caption.value for caption in at.sidebar.caption)


def test_explorer_switching_slider_modes_never_moves_a_slider(tiny_checkpoints, monkeypatch):
    """Issue 49 #1: a mode's sliders that were not drawn on the last run must come back at 0, not at the range's
    minimum (-3), and after "Reset sliders" what the sliders show must agree with the picture and the URL."""
    at = run_page(EXPLORER, tiny_checkpoints, monkeypatch, model="tiny-dcgan")
    start = main_image(at)
    count = len([s for s in at.slider if (s.key or "").startswith("lx_principal_")])
    assert count == 8
    for mode in ("raw", "principal", "raw", "principal", "raw"):
        at.radio(key="lx_mode").set_value(mode).run()
        assert_clean(at)
        shown = [at.slider(key=f"lx_{mode}_{i}").value for i in range(count)]
        assert shown == [0.0] * count, (mode, shown)
        assert main_image(at) == start
        assert "moved" not in at.image[0].captions[0] and "offsets" not in at.query_params
    at.slider(key="lx_raw_2").set_value(-3.0).run()
    assert at.query_params["offsets"] == "2:-3"
    button(at, "Reset sliders").click().run()
    assert_clean(at)
    assert [at.slider(key=f"lx_raw_{i}").value for i in range(count)] == [0.0] * count
    assert main_image(at) == start and "offsets" not in at.query_params


@pytest.fixture(scope="module")
def mixed_root(tiny_checkpoints, tmp_path_factory) -> Path:
    """Six measured models: three 'on MNIST', three 'on Fashion-MNIST' with FIDs spanning four decades, one unmeasured
    figure and a coverage a hair below zero (as rounding can leave it)."""
    root = tmp_path_factory.mktemp("mixed")
    for i, (dataset, fid) in enumerate([("mnist", 0.16), ("mnist", 5.9), ("mnist", 24.6),
                                        ("fashion-mnist", 0.08), ("fashion-mnist", 3.4), ("fashion-mnist", 1210.0)]):
        folder = root / f"m{i}"
        shutil.copytree(tiny_checkpoints / "tiny-dcgan", folder)
        card = json.loads((folder / "card.json").read_text())
        metrics = {"classifier_fid": fid, "coverage_entropy_ratio": -0.00001 if i == 5 else 0.99}
        if i < 3:
            metrics["fid_to_floor"] = fid / 0.05
        card.update(id=f"m{i}", title=f"Model {i}", metrics=metrics, dataset={**card["dataset"], "name": dataset})
        (folder / "card.json").write_text(json.dumps(card))
    return root


def test_compare_six_entries_table_and_chart_read_well(mixed_root, monkeypatch):
    """Issue 49 #3/#4: six entries are drawn in rows of three; the table never says None or -0%; FIDs that span
    decades get a log axis, bars are coloured by dataset and a note says MNIST and Fashion-MNIST do not compare."""
    at = run_page(COMPARE, mixed_root, monkeypatch)
    entries = at.multiselect(key="cmp_entries")
    entries.set_value(list(entries.options)[:6]).run()
    assert_clean(at)
    pictures = compare_columns(at)
    assert len(pictures) == 6
    def blocks(node):
        try:
            children = list(node.children.values())
        except AttributeError:  # an element, not a block
            return
        for child in children:
            yield child
            yield from blocks(child)

    rows = [[c for c in b.children.values() if type(c).__name__ == "Column"] for b in blocks(at.main)
            if type(b).__name__ == "Block"]
    rows = [r for r in rows if any(c.image for c in r)]
    assert [len([c for c in r if c.image]) for r in rows] == [3, 3]
    table = at.dataframe[0].value
    cells = " ".join(str(v) for v in table.to_numpy().ravel())
    assert "None" not in cells and "nan" not in cells and "-0" not in cells
    assert "not measured" in cells and "0.0%" in cells
    spec = json.loads(at.get("plotly_chart")[0].proto.spec)
    assert spec["layout"]["xaxis"]["type"] == "log"
    assert sorted(t["name"] for t in spec["data"]) == ["fashion-mnist", "mnist"]
    assert "different datasets" in texts(at.warning)
    # one dataset only: no warning
    entries = at.multiselect(key="cmp_entries")
    entries.set_value([o for o in entries.options if o.startswith(("m0", "m1"))]).run()
    assert "different datasets" not in texts(at.warning)


def test_home_cards_say_it_plainly_first(any_root, monkeypatch):
    """Issue 49 #5: each tile opens with a plain sentence; descriptions, training flags and the list of figures wait
    in a 'For the curious' expander."""
    at = run_page(HOME, any_root, monkeypatch)
    assert_clean(at)
    models = models_in(any_root)
    curious = [e for e in at.expander if e.label.startswith("For the curious")]
    assert len(curious) == len(models)
    inside = "\n".join(texts(e.markdown) + texts(e.caption) for e in curious)
    outside = "\n".join(m.value for m in at.markdown if m.value not in inside)
    assert "--arch" not in outside and "--hp" not in outside and "- **" not in outside
    for sentence in ("Draws ", "Turns photos of ", "Recognises "):
        if any(sentence in m.value for m in at.markdown):
            break
    else:
        raise AssertionError("no tile opens with a plain sentence")
    for card in readable_cards(any_root):
        if "fid_to_floor" in card.metrics:  # the ratio is explained where it is shown
            assert any("times as far from real images as two sets of real images" in m.value for m in at.markdown)


def test_explorer_opens_on_the_model_closest_to_real_data(tiny_checkpoints, tmp_path, monkeypatch):
    """Issue 49 #9: without ?model= the explorer starts with the best-measured model, not the first by name."""
    for name, ratio in (("tiny-acgan", 124.0), ("tiny-dcgan", 2.9), ("tiny-mlp", None)):
        shutil.copytree(tiny_checkpoints / name, tmp_path / name)
        card = json.loads((tmp_path / name / "card.json").read_text())
        card["metrics"] = {"fid_to_floor": ratio} if ratio else {}
        (tmp_path / name / "card.json").write_text(json.dumps(card))
    at = run_page(EXPLORER, tmp_path, monkeypatch)
    assert_clean(at)
    assert at.selectbox(key="model").value == "tiny-dcgan" and at.query_params["model"] == "tiny-dcgan"


def test_explorer_grid_is_numbered_and_the_walk_gif_fits_a_slide():
    """Issue 49 #8/#9: the arithmetic's sample numbers are printed on the grid; the walk's GIF is slide-sized and
    animated."""
    import io

    from PIL import Image

    from ganmodels.images import grid, upscale
    from ui import slide_pictures

    torch.manual_seed(0)
    images = torch.zeros(16, 1, 28, 28) - 1  # black tiles: any yellow pixel is a number
    numbered = slide_pictures.numbered_grid(images, 4, min_side=360)
    plain = upscale(grid(images, 4), 360).convert("RGB")
    assert numbered.size == plain.size and min(numbered.size) >= 360
    pixels = numbered.load()
    tile = (28 + 2) * (numbered.width // 122)
    for index in range(16):
        row, col = divmod(index, 4)
        x0, y0 = col * tile, row * tile
        corner = [pixels[x, y] for x in range(x0, x0 + tile // 2) for y in range(y0, y0 + tile // 3)]
        assert any(p[0] > 200 and p[1] > 150 and p[2] < 80 for p in corner), f"tile {index + 1} has no number"
    gif = Image.open(io.BytesIO(slide_pictures.walk_gif(torch.rand(8, 1, 28, 28) * 2 - 1)))
    assert min(gif.size) >= slide_pictures.SLIDE_GIF_SIDE and gif.n_frames > 1 and gif.info.get("loop") == 0


def walk_image(at: AppTest) -> str | None:
    found = [img.value[0] for img in at.image if img.captions and img.captions[0].startswith("Walking through latent space")]
    return found[0] if found else None


def test_presenter_mode_from_the_url_walks_and_can_be_left(tiny_checkpoints, monkeypatch):
    """?present=1 turns presenter mode on (kept in the URL and across pages); the explorer's picture walks by itself
    from frame to frame and loops; 'Leave presenter mode' turns it off."""
    from ui import slide_pictures

    at = run_page(EXPLORER, tiny_checkpoints, monkeypatch, model="tiny-dcgan", present="1")
    assert_clean(at)
    assert at.session_state["presenter"] is True and at.query_params["present"] == "1"
    assert at.sidebar.toggle(key="presenter_toggle").value is True
    assert any("seed 0 → seed 1" in c for img in at.image for c in img.captions)
    seen = [walk_image(at)]
    for _ in range(3):  # each run is the next frame
        at.run()
        seen.append(walk_image(at))
    assert None not in seen and len(set(seen)) == 4
    model = load_model(tiny_checkpoints / "tiny-dcgan", "cpu")
    loop = slide_pictures.WALK_SEEDS * slide_pictures.WALK_STEPS
    assert torch.equal(slide_pictures.walk_frame(model, 0)[0], slide_pictures.walk_frame(model, loop)[0])  # it loops
    assert torch.equal(slide_pictures.walk_frame(model, 0)[0], model.latents(0, 1))
    at.switch_page("pages/0_Home.py").run()
    assert_clean(at)
    assert at.session_state["presenter"] is True and at.query_params["present"] == "1"
    button(at, "Leave presenter mode").click().run()
    assert at.session_state["presenter"] is False and "present" not in at.query_params
    at.switch_page(EXPLORER).run()
    assert walk_image(at) is None


def test_presenter_mode_toggle(tiny_checkpoints, monkeypatch):
    at = run_page(HOME, tiny_checkpoints, monkeypatch)
    assert at.sidebar.toggle(key="presenter_toggle").value is False and not any(b.label == "Leave presenter mode" for b in at.button)
    at.sidebar.toggle(key="presenter_toggle").set_value(True).run()
    assert_clean(at)
    assert at.query_params["present"] == "1" and any(b.label == "Leave presenter mode" for b in at.button)


def test_principal_directions_are_kept_on_disk(tiny_checkpoints, tmp_path, monkeypatch):
    """Issue 49 #7: a restarted server reads a model's principal directions instead of recomputing them (a minute on
    the larger shipped models before the first slider)."""
    from ganmodels import latent_directions

    model = load_model(tiny_checkpoints / "tiny-cgan", "cpu")
    fresh = latent_directions.principal_directions(model, k=4, labels=[3])
    kept = latent_directions.principal_directions_kept(model, k=4, labels=[3], folder=tmp_path)
    assert all(torch.equal(a, b) for a, b in zip(fresh, kept)) and len(list(tmp_path.iterdir())) == 1

    def refuse(*args, **kwargs):
        raise AssertionError("recomputed although kept on disk")

    monkeypatch.setattr(latent_directions, "principal_directions", refuse)
    again = latent_directions.principal_directions_kept(model, k=4, labels=[3], folder=tmp_path)
    assert all(torch.equal(a, b) for a, b in zip(fresh, again))
    with pytest.raises(AssertionError, match="recomputed"):  # another class is another file
        latent_directions.principal_directions_kept(model, k=4, labels=[5], folder=tmp_path)
