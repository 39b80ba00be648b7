"""AppTest tests of the training-progress, CycleGAN and SGAN pages, on tiny checkpoints and on the real ones when shipped."""
from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw
from streamlit.testing.v1 import AppTest

from conftest import app_page, start_run_from_form

from ganmodels import runs
from ganmodels.cards import read_card
from ganmodels.checkpoint import readable_cards
from ganmodels.registry import FAMILIES
from ganmodels.runs import list_runs
from ui import new_run, run_progress, translation

REPO = Path(__file__).resolve().parent.parent
PAGES = REPO / "pages"
REAL_CHECKPOINTS = REPO / "checkpoints"
PROGRESS = PAGES / "3_Training_progress.py"
CYCLEGAN = PAGES / "5_CycleGAN_translate.py"
SGAN = PAGES / "6_SGAN_classifier.py"


def real_families() -> set[str]:
    return {card.family for card in readable_cards(REAL_CHECKPOINTS)}


def use_checkpoints(kind: str, family: str | None, tiny_root: Path, monkeypatch) -> Path:
    """Point the app at the tiny checkpoints, or at the real ones (skipping when none of `family` is shipped)."""
    if kind == "real":
        families = real_families()
        if not families or (family is not None and family not in families):
            pytest.skip(f"checkpoints/ holds no {family or ''} model yet (they are being trained)")
        root = REAL_CHECKPOINTS
    else:
        root = tiny_root
    monkeypatch.setenv("GANSTUDIO_CHECKPOINTS", str(root))
    return root


def page(path: Path, **query) -> AppTest:
    at = app_page(path, 120)
    for key, value in query.items():
        at.query_params[key] = value
    return at.run()


def assert_clean(at: AppTest) -> None:
    assert not at.exception, [e.message for e in at.exception]


def chart_specs(at: AppTest) -> list[dict]:
    return [json.loads(chart.proto.spec) for chart in at.get("plotly_chart")]


def image_bytes(img: Image.Image, fmt: str = "PNG", **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    return buf.getvalue()


def wait_for(predicate, timeout: float = 180.0) -> bool:
    end = time.time() + timeout
    while time.time() < end:
        if predicate():
            return True
        time.sleep(0.5)
    return predicate()


# --- training progress ----------------------------------------------------------------------------------

@pytest.fixture(scope="session")
def trained_run(tmp_path_factory, tiny_mnist) -> Path:
    """A real 4-step run folder (two snapshots) made by the training command line."""
    runs = tmp_path_factory.mktemp("trained")
    cmd = [sys.executable, "-m", "ganmodels.train", "dcgan", "--dataset", "mnist", "--data-root", str(tiny_mnist),
           "--steps", "4", "--snapshot-every", "2", "--arch", "ngf=8", "--arch", "ndf=8", "--runs-dir", str(runs),
           "--name", "r1", "--no-progress"]
    subprocess.run(cmd, cwd=REPO, check=True, timeout=600, capture_output=True)
    return runs / "r1"


@pytest.fixture
def runs_dir(tmp_path, tmp_path_factory, trained_run, tiny_checkpoints, monkeypatch) -> Path:
    runs = tmp_path / "runs"
    runs.mkdir()
    monkeypatch.setenv("GANSTUDIO_DATA_ROOTS", str(tmp_path_factory.getbasetemp()))  # the tiny datasets live there
    shutil.copytree(trained_run, runs / "r1")
    monkeypatch.setenv("GANSTUDIO_RUNS", str(runs))
    monkeypatch.setenv("GANSTUDIO_CHECKPOINTS", str(tiny_checkpoints))
    return runs


def copy_run(runs: Path, name: str, status: dict, training_status: str, log: str | None = None) -> Path:
    folder = runs / name
    shutil.copytree(runs / "r1", folder)
    card = read_card(folder)
    card.id = name
    card.training["status"] = training_status
    card.save(folder)
    (folder / "status.json").write_text(json.dumps(status))
    if log is not None:
        (runs / f"{name}.log").write_text(log)
    return folder


@pytest.mark.parametrize("kind", ["tiny", "real"])
def test_progress_page_renders_every_run(kind, runs_dir, tiny_checkpoints, monkeypatch):
    checkpoint_root = use_checkpoints(kind, None, tiny_checkpoints, monkeypatch)
    at = page(PROGRESS)
    assert_clean(at)
    folders = [str(r.folder) for r in list_runs(runs_dir, checkpoint_root)]
    assert str(runs_dir / "r1") in folders and len(folders) >= 2
    assert len(at.selectbox(key="progress_run").options) == len(folders)
    for folder in folders:
        at.selectbox(key="progress_run").set_value(folder).run()
        assert_clean(at)
        assert at.header, f"no header for {folder}"


def test_run_list_shows_status(runs_dir):
    at = page(PROGRESS)
    shown = at.selectbox(key="progress_run").options
    assert any("r1" in o and "finished" in o for o in shown)
    assert any("tiny-dcgan" in o and "shipped" in o for o in shown)


def test_snapshot_slider_changes_the_grid(runs_dir):
    at = page(PROGRESS, run="r1")
    assert_clean(at)
    assert at.selectbox(key="progress_run").value == str(runs_dir / "r1")
    slider = at.select_slider[0]
    assert slider.label == "Snapshot" and slider.value == 4
    first_caption, first_url = at.image[0].captions[0], at.image[0].value[0]
    assert "step 4" in first_caption
    # the grid as shown (enlarged for the screen) and the snapshot's own pixels
    assert [d.label for d in at.download_button] == ["Download PNG", "Original pixels (152x152)"]
    specs = chart_specs(at)
    losses = specs[0]
    assert {t["name"] for t in losses["data"]} >= {"D loss on real", "D loss on fake", "D total", "G loss"}
    assert losses["layout"]["shapes"][0]["x0"] == 4

    at.select_slider[0].set_value(2).run()
    assert_clean(at)
    assert "step 2" in at.image[0].captions[0] and at.image[0].value[0] != first_url
    assert ("Step", "2") in [(m.label, m.value) for m in at.metric]
    assert chart_specs(at)[0]["layout"]["shapes"][0]["x0"] == 2


def test_progress_page_shows_how_the_run_was_trained_resumes_included(runs_dir):
    card = read_card(runs_dir / "r1")
    card.training["resumed_by"] = [{"from_step": 4, "command": "python -m ganmodels.train --resume runs/r1 --steps 8"}]
    card.save(runs_dir / "r1")
    at = page(PROGRESS, run="r1")
    assert_clean(at)
    shown = [c.value for c in at.code]
    assert any(v.startswith("python -m ganmodels.train dcgan ") and v.endswith("--resume runs/r1 --steps 8") for v in shown), shown


def test_smoothing_changes_the_curves(runs_dir):
    at = page(PROGRESS, run="r1")
    raw = chart_specs(at)[0]["data"][0]["y"]
    at.slider(key="smooth_r1").set_value(1).run()
    assert_clean(at)
    assert chart_specs(at)[0]["data"][0]["y"] != raw


def test_start_a_run_from_the_form(runs_dir, tiny_mnist):
    at = page(PROGRESS)
    start_run_from_form(at, "dcgan", "mnist", tiny_mnist, "ui-run")
    assert_clean(at)
    assert any("Started 'ui-run'" in s.value for s in at.success), [e.value for e in at.error]
    assert any("'ui-run' is starting" in i.value for i in at.info) or (runs_dir / "ui-run" / "card.json").is_file()
    # The run is a separate process: it finishes whatever the page does.
    assert wait_for(lambda: runs.live_status(runs_dir / "ui-run").get("status") == "finished"), \
        run_progress.log_tail(runs_dir / "ui-run.log")
    at.run()
    assert_clean(at)
    assert at.selectbox(key="progress_run").value == str(runs_dir / "ui-run")
    assert not [i for i in at.info if "is starting" in i.value]
    card = read_card(runs_dir / "ui-run")
    assert card.arch["ngf"] == FAMILIES["dcgan"].small_arch["ngf"] and [s["step"] for s in card.snapshots] == [2, 4]
    assert "step 4" in at.image[0].captions[0]
    # A fresh session (a browser refresh) lists it too.
    fresh = page(PROGRESS)
    assert any("ui-run" in o and "finished" in o for o in fresh.selectbox(key="progress_run").proto.options)


@pytest.mark.parametrize("name, root, words", [
    ("bad name!", None, "not a usable run name"),
    ("r1", None, "already exists"),
    ("tiny-dcgan", None, "shipped checkpoint"),
    ("fresh", "missing", "not usable"),
])
def test_form_refuses_bad_requests(runs_dir, tiny_mnist, name, root, words):
    at = page(PROGRESS)
    at.text_input(key="nr_root").set_value(str(runs_dir / "missing") if root else str(tiny_mnist))
    at.text_input(key="nr_name").set_value(name)
    at.button[0].click().run()
    assert_clean(at)
    assert any(words in e.value for e in at.error), [e.value for e in at.error]
    assert not at.success
    assert sorted(p.name for p in runs_dir.iterdir()) == ["r1"]


def test_stopped_run_shows_why(runs_dir):
    copy_run(runs_dir, "crashed", {"status": "stopped", "step": 3, "total_steps": 4, "pid": 999999, "updated": time.time(),
                                   "error": "FloatingPointError: non-finite loss at step 3"}, "running",
             log="loading data\nTraceback (most recent call last):\nFloatingPointError: non-finite loss at step 3\n")
    at = page(PROGRESS, run="crashed")
    assert_clean(at)
    assert any("Status:**" in m.value and "stopped" in m.value for m in at.markdown)
    assert any("non-finite loss" in e.value for e in at.error)
    assert any("Traceback" in c.value for c in at.code)
    assert any("--resume" in c.value for c in at.code)



def test_paused_run_says_it_was_paused_not_that_it_failed(runs_dir):
    copy_run(runs_dir, "paused", {"status": "stopped", "step": 3, "total_steps": 4, "pid": 999999, "updated": time.time(),
                                  "paused": "SIGTERM at step 3"}, "running")
    at = page(PROGRESS, run="paused")
    assert_clean(at)
    assert any("Status:**" in m.value and "stopped" in m.value for m in at.markdown)
    assert any("paused (SIGTERM at step 3)" in i.value and "step 3" in i.value for i in at.info), [i.value for i in at.info]
    assert not at.error and not at.warning
    assert any("--resume" in c.value for c in at.code)

def test_running_run_shows_live_progress(runs_dir):
    copy_run(runs_dir, "live", {"status": "running", "step": 3, "total_steps": 8, "pid": os.getpid(), "updated": time.time(),
                                "images_per_s": 120.0}, "running")
    at = page(PROGRESS)
    assert_clean(at)
    assert at.selectbox(key="progress_run").value == str(runs_dir / "live")  # running runs come first
    assert at.progress and "step 3 of 8" in at.progress[0].proto.text
    assert at.toggle[0].value is True
    at.toggle[0].set_value(False).run()
    at.select_slider[0].set_value(2).run()
    assert_clean(at)
    assert "step 2" in at.image[0].captions[0]


def test_failed_launch_is_shown_and_dismissed(runs_dir, tmp_path):
    proc = new_run.launch(new_run.TrainingRequest("dcgan", "mnist", 4, "doomed", str(tmp_path / "no-data")), runs_dir)
    proc.wait(timeout=180)
    at = page(PROGRESS)
    assert_clean(at)
    assert any("'doomed' stopped before training began" in e.value for e in at.error)
    assert any("not found" in c.value for c in at.code)
    at.button(key="dismiss_doomed").click().run()
    assert_clean(at)
    assert not [e for e in at.error if "doomed" in e.value]


def test_no_runs_at_all(tmp_path, monkeypatch):
    monkeypatch.setenv("GANSTUDIO_RUNS", str(tmp_path / "runs"))
    monkeypatch.setenv("GANSTUDIO_CHECKPOINTS", str(tmp_path / "none"))
    at = page(PROGRESS)
    assert_clean(at)
    assert any("No training runs" in i.value for i in at.info)
    assert at.button[0].label == "Start training"


# --- CycleGAN -------------------------------------------------------------------------------------------

@pytest.fixture
def cyclegan_root(tmp_path, tiny_checkpoints, tiny_unpaired) -> Path:
    """The tiny CycleGAN, with its card pointing at the tiny unpaired set for examples."""
    root = tmp_path / "ckpts"
    shutil.copytree(tiny_checkpoints / "tiny-cyclegan", root / "tiny-cyclegan")
    card = read_card(root / "tiny-cyclegan")
    card.dataset["root"] = str(tiny_unpaired)
    card.save(root / "tiny-cyclegan")
    return root


def cyclegan_page(kind, cyclegan_root, monkeypatch) -> AppTest:
    use_checkpoints(kind, "cyclegan", cyclegan_root, monkeypatch)
    at = page(CYCLEGAN)
    assert_clean(at)
    if kind == "real":
        at.select_slider(key="cg_max_side").set_value(256).run()
    return at


@pytest.mark.parametrize("kind", ["tiny", "real"])
def test_cyclegan_translates_png_and_jpeg(kind, cyclegan_root, monkeypatch):
    at = cyclegan_page(kind, cyclegan_root, monkeypatch)
    radio = at.radio(key="cg_direction")
    if kind == "tiny":
        assert radio.options == ["horse → zebra", "zebra → horse"]
    rng = np.random.default_rng(0)
    photo = Image.fromarray((rng.random((60, 100, 3)) * 255).astype(np.uint8))
    at.file_uploader(key="cg_uploads").set_value([("a.png", image_bytes(photo), "image/png"),
                                                 ("b.jpg", image_bytes(photo, "JPEG"), "image/jpeg")]).run()
    assert_clean(at)
    assert not at.error
    assert [s.value for s in at.subheader] == ["a.png", "b.jpg"]
    slider = at.select_slider(key="cg_max_side")
    if kind == "tiny":  # by default up to 512 px (scale blend keeps the effect), so at the photo's own size ...
        assert slider.value == 512 and at.toggle(key="cg_blend").value is True
    captions = [c for img in at.image for c in img.captions]
    assert sum(c.startswith("Input (100x60)") for c in captions) == 2
    # ... and shrunk when the user asks for a smaller side, down to the scale the model trained at
    smallest = 36 if kind == "tiny" else 256  # the tiny model's 32-px crops of photos resized to 36
    assert str(smallest) == slider.options[0]
    slider.set_value(smallest).run()
    slider = at.select_slider(key="cg_max_side")
    assert slider.value == smallest
    assert not at.error
    captions = [c for img in at.image for c in img.captions]
    assert sum(c.startswith("Translated") for c in captions) == 2
    assert sum(c.startswith(f"Input ({min(100, slider.value)}x") for c in captions) == 2
    labels = [d.label for d in at.download_button]
    assert labels.count("Download all 2 result(s) as a zip") == 1 and labels.count("Download PNG") >= 2
    if kind == "tiny":
        assert sum(c.startswith("Back again: zebra → horse") for c in captions) == 2


def bad_uploads() -> list[tuple[str, bytes, str]]:
    rgb = Image.new("RGB", (80, 40), (30, 120, 200))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° on display
    sixteen = Image.fromarray((np.arange(48 * 64, dtype=np.uint16).reshape(48, 64) * 20).astype(np.uint16))
    rgba = Image.new("RGBA", (48, 48), (255, 0, 0, 0))
    return [
        ("notes.png", b"this is not an image at all", "image/png"),
        ("cut.jpg", image_bytes(Image.effect_noise((128, 128), 60).convert("RGB"), "JPEG")[:400], "image/jpeg"),
        ("dot.png", image_bytes(Image.new("RGB", (1, 1))), "image/png"),
        ("print.jpg", image_bytes(Image.new("CMYK", (64, 48), (0, 50, 100, 0)), "JPEG"), "image/jpeg"),
        ("deep.png", image_bytes(sixteen), "image/png"),
        ("clear.png", image_bytes(rgba), "image/png"),
        ("turned.jpg", image_bytes(rgb, "JPEG", exif=exif.tobytes()), "image/jpeg"),
    ]


def test_cyclegan_bad_uploads_give_messages(cyclegan_root, monkeypatch):
    at = cyclegan_page("tiny", cyclegan_root, monkeypatch)
    at.select_slider(key="cg_max_side").set_value(256).run()  # the photos' own sizes, to see the EXIF turn
    at.file_uploader(key="cg_uploads").set_value(bad_uploads()).run()
    assert_clean(at)
    errors = [e.value for e in at.error]
    assert len(errors) == 3
    assert errors[0].startswith("notes.png") and "not an image" in errors[0]
    assert errors[1].startswith("cut.jpg") and "truncated" in errors[1]
    assert errors[2].startswith("dot.png") and "1x1" in errors[2]
    notes = " ".join(c.value for c in at.caption)
    for words in ("CMYK converted", "16-bit", "transparent areas", "turned upright"):
        assert words in notes
    captions = [c for img in at.image for c in img.captions]
    assert "Input (40x80)" in captions  # the EXIF-rotated 80x40 photo is shown upright
    assert any(d.label == "Download all 4 result(s) as a zip" for d in at.download_button)


def test_cyclegan_bounds_huge_photos(cyclegan_root, monkeypatch):
    at = cyclegan_page("tiny", cyclegan_root, monkeypatch)
    at.select_slider(key="cg_max_side").set_value(256).run()
    at.file_uploader(key="cg_uploads").set_value(("huge.png", image_bytes(Image.new("RGB", (4000, 3000), "gray")),
                                                 "image/png")).run()
    assert_clean(at)
    assert "Input (256x192)" in [c for img in at.image for c in img.captions]
    assert any("shrunk from 4000x3000" in c.value for c in at.caption)


@pytest.fixture
def translations(monkeypatch) -> list:
    """The arguments (after model and bytes) of every photo the CycleGAN page translates from now on."""
    calls = []
    real = translation.translate_upload

    def counting(*args, **kwargs):
        calls.append(args[2:])
        return real(*args, **kwargs)

    monkeypatch.setattr(translation, "translate_upload", counting)
    return calls


def test_cyclegan_caches_translations(cyclegan_root, monkeypatch, translations):
    calls = translations
    at = cyclegan_page("tiny", cyclegan_root, monkeypatch)
    at.select_slider(key="cg_max_side").set_value(512).run()
    at.file_uploader(key="cg_uploads").set_value(("a.png", image_bytes(Image.new("RGB", (64, 64), "red")), "image/png")).run()
    assert len(calls) == 1
    at.run()
    at.toggle(key="cg_use_camera").set_value(False).run()
    assert len(calls) == 1  # reruns reuse the result
    at.radio(key="cg_direction").set_value("b2a").run()
    assert len(calls) == 2 and "Translated: zebra → horse" in [c for img in at.image for c in img.captions]
    at.select_slider(key="cg_max_side").set_value(256).run()
    assert len(calls) == 3
    at.select_slider(key="cg_max_side").set_value(512).run()
    at.radio(key="cg_direction").set_value("a2b").run()
    assert_clean(at)
    assert len(calls) == 3
    assert calls[0][-1] is True  # scale blend by default
    at.toggle(key="cg_blend").set_value(False).run()  # one direct pass is another translation ...
    assert len(calls) == 4 and calls[-1][-1] is False
    at.toggle(key="cg_blend").set_value(True).run()  # ... and the blended one is still kept
    assert len(calls) == 4


def test_cyclegan_examples_and_camera(cyclegan_root, tiny_unpaired, monkeypatch):
    at = cyclegan_page("tiny", cyclegan_root, monkeypatch)
    examples = at.multiselect(key="cg_examples_a2b")
    assert examples.options == sorted(p.name for p in (tiny_unpaired / "testA").iterdir())
    examples.set_value(["1.jpg"]).run()
    assert_clean(at)
    assert [s.value for s in at.subheader] == ["1.jpg"]
    at.toggle(key="cg_use_camera").set_value(True).run()
    at.camera_input(key="cg_camera").set_value(("shot.jpg", image_bytes(Image.new("RGB", (96, 72), "green"), "JPEG"),
                                                 "image/jpeg")).run()
    assert_clean(at)
    assert [s.value for s in at.subheader] == ["camera.jpg", "1.jpg"]
    assert not at.error


def hide_shared_photos(cyclegan_root: Path, tmp_path: Path, monkeypatch) -> None:
    """A fresh clone: neither the card's dataset root nor ../shared/data/horse2zebra exists."""
    card = read_card(cyclegan_root / "tiny-cyclegan")
    card.dataset["root"] = str(tmp_path / "elsewhere")
    card.save(cyclegan_root / "tiny-cyclegan")
    monkeypatch.setattr(translation, "default_root", lambda name: tmp_path / "no-horse2zebra")


@pytest.mark.parametrize("direction, split", [("a2b", "testA"), ("b2a", "testB")])
def test_cyclegan_examples_on_a_fresh_clone(cyclegan_root, tmp_path, monkeypatch, direction, split):
    """Issue 49 #2: without ../shared the example photos shipped in examples/ are offered, and they translate."""
    hide_shared_photos(cyclegan_root, tmp_path, monkeypatch)
    at = cyclegan_page("tiny", cyclegan_root, monkeypatch)
    at.radio(key="cg_direction").set_value(direction).run()
    examples = at.multiselect(key=f"cg_examples_{direction}")
    shipped = sorted(p.name for p in (translation.EXAMPLES_ROOT / "horse2zebra" / split).iterdir())
    assert len(shipped) == 3 and examples.options == shipped
    assert "/" not in examples.label  # no server folder shown to a visitor
    at.select_slider(key="cg_max_side").set_value(256).run()
    at.multiselect(key=f"cg_examples_{direction}").set_value(shipped[:1]).run()
    assert_clean(at)
    assert not at.error
    assert [s.value for s in at.subheader] == shipped[:1]
    assert "Input (256x256)" in [c for img in at.image for c in img.captions]


def test_cyclegan_without_any_examples(cyclegan_root, tmp_path, monkeypatch):
    hide_shared_photos(cyclegan_root, tmp_path, monkeypatch)
    monkeypatch.setattr(translation, "EXAMPLES_ROOT", tmp_path / "no-examples")
    at = cyclegan_page("tiny", cyclegan_root, monkeypatch)
    assert not at.multiselect
    shown = " ".join(c.value for c in at.caption)
    assert "No example photos" in shown and str(tmp_path) not in shown


def test_cyclegan_page_refuses_other_families(tiny_checkpoints, monkeypatch):
    monkeypatch.setenv("GANSTUDIO_CHECKPOINTS", str(tiny_checkpoints))
    at = app_page(CYCLEGAN, 120)
    at.query_params["model"] = "tiny-cyclegan"
    at.run()
    assert_clean(at)
    assert at.selectbox(key="model").options == ["Tiny CycleGAN"]


# --- SGAN ----------------------------------------------------------------------------------------------

@pytest.fixture
def sgan_root(tmp_path, tiny_checkpoints, tiny_mnist) -> Path:
    """The tiny SGAN, reading its test digits from the tiny IDX set, with measured accuracies on its card."""
    root = tmp_path / "ckpts"
    shutil.copytree(tiny_checkpoints / "tiny-sgan", root / "tiny-sgan")
    card = read_card(root / "tiny-sgan")
    card.dataset["root"] = str(tiny_mnist)
    card.dataset["num_images"] = 256
    card.metrics.update(test_accuracy=0.9, baseline_test_accuracy=0.7)
    card.training.setdefault("hparams", {})["labels"] = 100
    card.save(root / "tiny-sgan")
    return root


def bar_values(at: AppTest) -> dict[str, list[float]]:
    (spec,) = [s for s in chart_specs(at) if s["layout"].get("barmode") == "group"]
    return {trace["name"]: trace["y"] for trace in spec["data"]}


def verdicts(at: AppTest) -> list[tuple[str, str]]:
    return [(m.label, m.value) for m in at.metric if m.label.endswith(" says")]


@pytest.mark.parametrize("kind", ["tiny", "real"])
def test_sgan_page_shows_both_classifiers(kind, sgan_root, monkeypatch):
    use_checkpoints(kind, "sgan", sgan_root, monkeypatch)
    at = page(SGAN)
    assert_clean(at)
    if kind == "real" and any("test images are not available" in w.value for w in at.warning):
        # a clone without ../shared/data: the shipped classifiers still answer an uploaded digit
        at.radio(key="sg_source").set_value("upload").run()
        at.file_uploader(key="sg_upload").set_value(("seven.png", drawn_digit_png(), "image/png")).run()
        assert_clean(at)
    bars = bar_values(at)
    assert list(bars) == ["SGAN discriminator", "Plain classifier"]
    for probs in bars.values():
        assert len(probs) == 10 and sum(probs) == pytest.approx(1.0, abs=1e-4)
    assert [label for label, _ in verdicts(at)] == ["SGAN discriminator says", "Plain classifier says"]
    if kind == "tiny":
        metrics = {m.label: m.value for m in at.metric}
        assert metrics["Classifier accuracy (semi-supervised)"] == "90.0%"
        assert metrics["Plain classifier, same labels"] == "70.0%"
        assert metrics["Gain from the unlabelled images"] == "+20.0 points"
        assert any("only 100 labelled images" in c.value for c in at.caption)


def test_sgan_bars_follow_the_chosen_digit(sgan_root, monkeypatch):
    use_checkpoints("tiny", "sgan", sgan_root, monkeypatch)
    at = page(SGAN)
    first = bar_values(at)
    assert "the true answer is 0" in at.image[0].captions[0]
    at.number_input(key="sg_index").set_value(3).run()
    assert_clean(at)
    assert "the true answer is 3" in at.image[0].captions[0]
    assert bar_values(at) != first
    at.button(key="sg_random").click().run()
    assert_clean(at)
    assert 0 <= at.number_input(key="sg_index").value < 64


def drawn_digit_png() -> bytes:
    img = Image.new("RGB", (240, 320), "white")
    d = ImageDraw.Draw(img)
    d.line([(40, 40), (160, 40)], fill="black", width=14)
    d.line([(160, 40), (90, 260)], fill="black", width=14)
    return image_bytes(img)


def test_sgan_uploaded_digit(sgan_root, monkeypatch):
    use_checkpoints("tiny", "sgan", sgan_root, monkeypatch)
    at = page(SGAN)
    test_bars = bar_values(at)
    at.radio(key="sg_source").set_value("upload").run()
    assert_clean(at)
    assert any("Upload a picture" in i.value for i in at.info)
    at.file_uploader(key="sg_upload").set_value(("seven.png", drawn_digit_png(), "image/png")).run()
    assert_clean(at)
    assert not at.error
    assert bar_values(at) != test_bars and len(verdicts(at)) == 2
    assert "What the classifiers see (28x28)" in [c for img in at.image for c in img.captions]


@pytest.mark.parametrize("name, data, words", [
    ("blank.png", image_bytes(Image.new("RGB", (60, 60), "white")), "No digit"),
    ("notes.png", b"plain text", "not an image"),
    ("dot.png", image_bytes(Image.new("L", (2, 2))), "2x2"),
])
def test_sgan_bad_uploads_give_messages(sgan_root, monkeypatch, name, data, words):
    use_checkpoints("tiny", "sgan", sgan_root, monkeypatch)
    at = page(SGAN)
    at.radio(key="sg_source").set_value("upload").run()
    at.file_uploader(key="sg_upload").set_value((name, data, "image/png")).run()
    assert_clean(at)
    assert any(e.value.startswith(name) and words in e.value for e in at.error), [e.value for e in at.error]
    assert not at.get("plotly_chart")


def test_sgan_shipped_digits_on_a_fresh_clone(sgan_root, tmp_path, monkeypatch):
    """Issue 49 #2: without ../shared the SGAN page classifies the 20 test digits shipped in examples/mnist."""
    card = read_card(sgan_root / "tiny-sgan")
    card.dataset["root"] = str(tmp_path / "absent")
    card.save(sgan_root / "tiny-sgan")
    monkeypatch.setattr("ganmodels.data.default_root", lambda name: tmp_path / "no-shared" / name)
    import streamlit as st

    st.cache_resource.clear()  # the page keeps a test set per (dataset, root) for the process: forget the real one
    use_checkpoints("tiny", "sgan", sgan_root, monkeypatch)
    at = page(SGAN)
    assert_clean(at)
    assert not at.warning and not at.error
    assert any("20 test digits that ship with GAN Studio" in c.value for c in at.caption)
    number = at.number_input(key="sg_index")
    assert number.max == 19
    truths = []
    for index in (0, 1, 2, 19):
        at.number_input(key="sg_index").set_value(index).run()
        assert_clean(at)
        truths.append(at.image[0].captions[0].rsplit(" ", 1)[-1])
        assert len(verdicts(at)) == 2
    assert truths == ["0", "0", "1", "9"]  # files named <label>-t10k-<index>.png, two per class


def test_sgan_without_test_images(sgan_root, tmp_path, monkeypatch):
    card = read_card(sgan_root / "tiny-sgan")
    card.dataset["name"] = "fashion-mnist"
    card.dataset["root"] = str(tmp_path / "absent")
    card.save(sgan_root / "tiny-sgan")
    monkeypatch.setattr("ganmodels.data.FASHION_DEBIAN", tmp_path / "absent-too")
    use_checkpoints("tiny", "sgan", sgan_root, monkeypatch)
    at = page(SGAN)
    assert_clean(at)
    assert any("test images are not available" in w.value for w in at.warning)


def test_snapshot_measurements_each_get_a_readable_panel(runs_dir):
    """Issue 49 #4: bookkeeping (samples, seconds) is not charted, each metric has its own axis, and FID spanning
    decades is drawn on a log axis."""
    card = read_card(runs_dir / "r1")
    for snap, fid in zip(card.snapshots, (120.0, 0.9)):
        snap["metrics"] = {"samples": 2000, "eval_seconds": 3.1, "classifier_fid": fid, "coverage_entropy_ratio": 0.97}
    card.save(runs_dir / "r1")
    at = page(PROGRESS, run="r1")
    assert_clean(at)
    (spec,) = [s for s in chart_specs(at) if any(a.get("text") == "Distance to real images (FID)"
                                                 for a in s["layout"].get("annotations", []))]
    titles = [a["text"] for a in spec["layout"]["annotations"]]
    assert titles == ["Distance to real images (FID)", "Variety across classes"]
    assert len(spec["data"]) == 2 and spec["data"][0]["yaxis"] != spec["data"][1]["yaxis"]
    assert spec["layout"]["yaxis"]["type"] == "log" and spec["layout"]["yaxis2"]["type"] == "linear"
    assert not any("samples" in t or "eval" in t for t in titles)
    assert any("**Distance to real images (FID)**: Fréchet distance" in c.value for c in at.caption)  # explained


def test_sgan_chart_names_every_digit(sgan_root, monkeypatch):
    """Issue 49 #10: digit names are numbers to plotly, which then labelled only the even ones."""
    use_checkpoints("tiny", "sgan", sgan_root, monkeypatch)
    at = page(SGAN)
    assert_clean(at)
    (spec,) = [s for s in chart_specs(at) if s["layout"].get("barmode") == "group"]
    assert spec["layout"]["xaxis"]["type"] == "category"
    assert spec["data"][0]["x"] == [str(i) for i in range(10)]


def test_cyclegan_zip_names_say_the_direction(cyclegan_root, monkeypatch):
    """Issue 49 #10: the zip's files say which way each photo went."""
    import zipfile

    at = cyclegan_page("tiny", cyclegan_root, monkeypatch)
    at.radio(key="cg_direction").set_value("b2a").run()
    at.file_uploader(key="cg_uploads").set_value(("stripes.png", image_bytes(Image.new("RGB", (40, 40), "white")),
                                                 "image/png")).run()
    assert_clean(at)
    results = [v for v in at.session_state["cg_cache"].values() if not isinstance(v, str)]
    names = zipfile.ZipFile(io.BytesIO(translation.results_zip(results, "zebra-to-horse", "back-to-zebra"))).namelist()
    assert names == ["stripes-zebra-to-horse.png", "stripes-back-to-zebra.png"]
    (archive,) = [z for z in at.session_state["cg_zip"].values()]
    assert zipfile.ZipFile(io.BytesIO(archive)).namelist() == names  # what the page's button serves


def test_presenter_mode_plays_the_snapshots(runs_dir):
    """In presenter mode the training page loops through the run's snapshot grids by itself."""
    at = page(PROGRESS, run="r1", present="1")
    assert_clean(at)
    shown = []
    for _ in range(3):
        shown += [c for img in at.image for c in img.captions if c.startswith("Training step")]
        at.run()
    assert shown == ["Training step 2 of 4", "Training step 4 of 4", "Training step 2 of 4"]


def test_cyclegan_visitors_share_translations(cyclegan_root, monkeypatch, translations):
    """Issue 49 #7: a photo and setting one visitor translated (an example, at a stand) is not translated again for
    the next visitor's session."""
    calls = translations
    first = cyclegan_page("tiny", cyclegan_root, monkeypatch)
    first.multiselect(key="cg_examples_a2b").set_value(["2.jpg"]).run()
    assert_clean(first)
    assert len(calls) == 1
    second = cyclegan_page("tiny", cyclegan_root, monkeypatch)  # a new browser session
    second.multiselect(key="cg_examples_a2b").set_value(["2.jpg"]).run()
    assert_clean(second)
    assert len(calls) == 1 and [s.value for s in second.subheader] == ["2.jpg"]
    assert image_of(second, "Translated") == image_of(first, "Translated")


def image_of(at: AppTest, caption_start: str) -> str:
    return next(img.value[0] for img in at.image if img.captions and img.captions[0].startswith(caption_start))
