"""The browser-free half of the training-progress, CycleGAN and SGAN pages (ui/new_run.py, ui/run_progress.py,
ui/translation.py, ui/digits.py)."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from ganmodels import runs
from ganmodels.cards import ModelCard
from ganmodels.checkpoint import load_model, save_model_folder
from ganmodels.registry import FAMILIES
from ganmodels.train import _parse_overrides
from ui import digits, new_run, run_progress, translation


def wait_for(predicate, timeout: float = 120.0, every: float = 0.5) -> bool:
    end = time.time() + timeout
    while time.time() < end:
        if predicate():
            return True
        time.sleep(every)
    return predicate()


# --- the new-run form --------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["", "   ", "has space", "../escape", "-leading", "a/b", "x" * 65, "ünïcode"])
def test_bad_run_names_are_refused(tmp_path, name):
    with pytest.raises(new_run.RunRequestError):
        new_run.validate_run_name(name, tmp_path)


def test_run_name_taken_by_a_run_a_launch_or_a_checkpoint(tmp_path):
    runs, ckpts = tmp_path / "runs", tmp_path / "ckpts"
    (runs / "taken").mkdir(parents=True)
    (runs / f"launching{new_run.LAUNCH_SUFFIX}").write_text("{}")
    (ckpts / "shipped").mkdir(parents=True)
    for name in ("taken", "launching"):
        with pytest.raises(new_run.RunRequestError, match="already exists"):
            new_run.validate_run_name(name, runs, ckpts)
    with pytest.raises(new_run.RunRequestError, match="checkpoint"):
        new_run.validate_run_name("shipped", runs, ckpts)
    assert new_run.validate_run_name("  fresh-1.b_c ", runs, ckpts) == "fresh-1.b_c"


def test_suggested_names_are_free(tmp_path):
    assert new_run.suggest_run_name("dcgan", "mnist", tmp_path) == "dcgan-mnist-1"
    (tmp_path / "dcgan-mnist-1").mkdir()
    (tmp_path / f"dcgan-mnist-2{new_run.LAUNCH_SUFFIX}").write_text("{}")
    assert new_run.suggest_run_name("dcgan", "mnist", tmp_path) == "dcgan-mnist-3"


def test_dataset_checks(tmp_path, tiny_mnist, tiny_unpaired):
    assert new_run.check_dataset("dcgan", "mnist", str(tiny_mnist)) == tiny_mnist
    assert new_run.check_dataset("cyclegan", "image-folder", str(tiny_unpaired)) == tiny_unpaired
    assert new_run.check_dataset("dcgan", "image-folder", str(tiny_unpaired / "trainA")) == tiny_unpaired / "trainA"
    cases = [
        ("dcgan", "mnist", str(tmp_path / "nowhere"), "not found"),
        ("cyclegan", "mnist", None, "CycleGAN"),
        ("cgan", "image-folder", str(tiny_unpaired / "trainA"), "labels"),
        ("sgan", "image-folder", str(tiny_unpaired / "trainA"), "labels"),
        ("dcgan", "image-folder", None, "folder"),
        ("dcgan", "image-folder", str(tmp_path), "no images"),
        ("cyclegan", "image-folder", str(tiny_unpaired / "trainA"), "trainA"),
    ]
    for family, dataset, root, words in cases:
        with pytest.raises(new_run.RunRequestError, match=words):
            new_run.check_dataset(family, dataset, root)
    # SGAN also reads the test split: a folder with only the training files is refused.
    train_only = tmp_path / "train_only"
    train_only.mkdir()
    for f in tiny_mnist.glob("train-*"):
        shutil.copy(f, train_only / f.name)
    new_run.check_dataset("dcgan", "mnist", str(train_only))
    with pytest.raises(new_run.RunRequestError, match="t10k"):
        new_run.check_dataset("sgan", "mnist", str(train_only))


def test_validate_request_limits_and_arguments(tmp_path, tiny_mnist):
    ok = dict(family="dcgan", dataset="mnist", steps=10, name="run-a", runs_dir=tmp_path, data_root=f" {tiny_mnist} ")
    for bad, words in (({"steps": 0}, "Steps"), ({"snapshot_every": 11}, "Snapshots"), ({"image_size": 30}, "multiple of 4"),
                       ({"family": "vae"}, "family"), ({"dataset": "cifar"}, "dataset"), ({"name": "a b"}, "name")):
        with pytest.raises(new_run.RunRequestError, match=words):
            new_run.validate_request(**{**ok, **bad})
    request = new_run.validate_request(**ok, snapshot_every=5, small=True, image_size=32)
    assert request.data_root == str(tiny_mnist) and request.snapshot_every == 5
    args = request.extra_args()
    assert args[:4] == ["--snapshot-every", "5", "--image-size", "32"]
    overrides = _parse_overrides([a for i, a in enumerate(args) if i and args[i - 1] == "--arch"])
    assert overrides == FAMILIES["dcgan"].small_arch
    plain = new_run.validate_request(**ok)
    assert plain.extra_args() == [] and plain.snapshot_every is None and plain.image_size is None


def test_small_architectures_build_for_every_family():
    for name, family in FAMILIES.items():
        assert family.small_arch, f"{name} declares no small architecture"
        size, channels = (32, 3) if family.translator else (28, 1)
        arch = {**family.default_arch(size, channels, 10), **family.small_arch}
        family.build_generator(arch)
        family.build_discriminator(arch)


def test_failed_launch_is_reported_with_its_log(tmp_path):
    """A run that dies before writing its card shows as 'failed' with the reason from its log."""
    runs = tmp_path / "runs"
    request = new_run.TrainingRequest("dcgan", "mnist", 4, "doomed", data_root=str(tmp_path / "no-such-data"))
    proc = new_run.launch(request, runs)
    pending = new_run.pending_launches(runs)
    assert [p.name for p in pending] == ["doomed"] and pending[0].state == "starting"
    proc.wait(timeout=120)
    assert proc.returncode != 0
    (failed,) = new_run.pending_launches(runs)
    assert failed.state == "failed"
    assert "not found" in failed.log_tail
    new_run.dismiss_launch(runs, "doomed")
    assert new_run.pending_launches(runs) == []
    # Reusing the name starts a fresh log rather than appending to the old one.
    proc = new_run.launch(request, runs)
    proc.wait(timeout=120)
    assert (runs / "doomed.log").read_text().count("not found") == 1


def test_zombie_counts_as_ended():
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    assert wait_for(lambda: Path(f"/proc/{proc.pid}/stat").exists() and not new_run.process_running(proc.pid), 30, 0.1)
    proc.wait()
    assert new_run.process_running(os.getpid())
    assert not new_run.process_running(-1)


# --- run folders ---------------------------------------------------------------------------------

def test_log_tail_reads_the_end(tmp_path):
    log = tmp_path / "r.log"
    log.write_bytes(b"".join(f"line {i}\n".encode() for i in range(100_000)) + b"50%|###\r100%|####\r\nlast \xff\n")
    tail = run_progress.log_tail(log, lines=3)
    assert tail.splitlines() == ["50%|###", "100%|####", "last \ufffd"]
    assert run_progress.log_tail(tmp_path / "missing.log") is None
    assert run_progress.run_log_path(tmp_path / "runs" / "abc") == tmp_path / "runs" / "abc.log"


def test_live_status_and_progress(tmp_path):
    assert runs.live_status(tmp_path) == {}
    (tmp_path / "status.json").write_text("{broken")
    assert runs.live_status(tmp_path) == {}
    card = ModelCard(id="r", family="dcgan", arch={"image_size": 28, "channels": 1},
                     training={"total_steps": 1000, "steps_done": 100, "hparams": {"batch_size": 50}})
    share, text = run_progress.progress(card, {})
    assert share == pytest.approx(0.1) and text == "step 100 of 1,000"
    share, text = run_progress.progress(card, {"step": 250, "total_steps": 1000, "images_per_s": 500.0})
    assert share == pytest.approx(0.25)
    assert "step 250 of 1,000" in text and "500 images/s" in text and "about 75 s left" in text
    assert run_progress.format_duration(4000) == "67 min" and run_progress.format_duration(36000) == "10.0 h"


def test_progress_of_a_time_boxed_run_before_it_has_planned(monkeypatch):
    """train --minutes: until the speed is measured there is no step total to show, so progress runs by the clock."""
    card = ModelCard(id="r", family="dcgan", arch={"image_size": 28, "channels": 1},
                     training={"total_steps": 10**9, "steps_done": 0, "minutes": 10, "planned": False, "hparams": {"batch_size": 64}})
    monkeypatch.setattr(run_progress.time, "time", lambda: 1000.0 + 45)
    share, text = run_progress.progress(card, {"step": 300, "planning": True, "started_at": 1000.0, "ends_at": 1600.0})
    assert share == pytest.approx(45 / 600)
    assert text == "step 300 · measuring its speed to plan a 10-minute run · about 9 min left"
    assert "1,000,000,000" not in run_progress.progress(card, {})[1], "a stopped unplanned run shows no placeholder total"
    card.training.update(planned=True, total_steps=4000, steps_done=300)
    assert run_progress.progress(card, {"step": 300, "total_steps": 4000})[1] == "step 300 of 4,000"


def test_training_commands_list_the_start_and_every_resume():
    card = ModelCard(id="m", family="dcgan", arch={}, training={})
    assert run_progress.training_commands(card) is None
    card.training = {"command": "python -m ganmodels.train dcgan --steps 10"}
    assert run_progress.training_commands(card) == "python -m ganmodels.train dcgan --steps 10"
    card.training["resumed_by"] = [{"from_step": 10, "command": "python -m ganmodels.train --resume runs/m --steps 30"}]
    assert run_progress.training_commands(card).splitlines() == [
        "python -m ganmodels.train dcgan --steps 10", "# then, from step 10:", "python -m ganmodels.train --resume runs/m --steps 30"]
    restart = ModelCard(id="m", family="dcgan", arch={}, training={
        "command": "python -m ganmodels.train dcgan --init-from checkpoints/m --steps 5",
        "history_from": {"id": "m", "steps": 30, "training": card.training}})
    assert run_progress.training_commands(restart).splitlines() == [
        "python -m ganmodels.train dcgan --steps 10", "# then, from step 10:", "python -m ganmodels.train --resume runs/m --steps 30",
        "# then a new run from that step-30 generator, published in its place:",
        "python -m ganmodels.train dcgan --init-from checkpoints/m --steps 5"]
    card.training.update(
        average_windows={"command": "python -m ganmodels.evaluate runs/m --average-windows 20 25"},
        weights_average={"from_step": 20, "to_step": 30, "command": "python -m ganmodels.publish runs/m --id m --keep 6 --average-from 20"})
    assert run_progress.training_commands(card).splitlines()[3:] == [
        "# then the mean of the snapshots from step 20 to 30 ships:",
        "python -m ganmodels.evaluate runs/m --average-windows 20 25",
        "python -m ganmodels.publish runs/m --id m --keep 6 --average-from 20"]


def test_snapshot_rows_and_metric_chart():
    card = ModelCard(id="r", family="sgan", arch={"image_size": 28, "channels": 1}, snapshots=[
        {"step": 20, "epoch": 0.2, "grid": "g2.png", "metrics": {"test_accuracy": 0.7, "note": "text", "flag": True}},
        {"step": 10, "epoch": 0.1, "grid": "g1.png", "metrics": {"test_accuracy": 0.5}},
        {"step": 30, "epoch": 0.3, "grid": "g3.png"},
    ])
    assert [s["step"] for s in run_progress.snapshots(card)] == [10, 20, 30]
    rows = run_progress.snapshot_rows(card)
    assert rows == [{"step": 10, "epoch": 0.1, "test_accuracy": 0.5}, {"step": 20, "epoch": 0.2, "test_accuracy": 0.7},
                    {"step": 30, "epoch": 0.3}]
    assert run_progress.metric_keys(rows) == ["test_accuracy"]
    from ui.charts import snapshot_metrics_figure

    fig = snapshot_metrics_figure(rows)
    assert [t.name for t in fig.data] == ["Classifier accuracy (semi-supervised)"] and list(fig.data[0].x) == [10, 20]
    assert snapshot_metrics_figure([{"step": 1, "epoch": 0.1}]) is None


def test_loss_thinning():
    assert run_progress.loss_thinning(0) == 1 and run_progress.loss_thinning(4000) == 1
    assert run_progress.loss_thinning(4001) == 2 and run_progress.loss_thinning(200_000) == 50


# --- CycleGAN ----------------------------------------------------------------------------------------

def test_translation_key_separates_what_changes_the_result():
    base = translation.translation_key(b"abc", "a2b", 512, "m1")
    assert base == translation.translation_key(b"abc", "a2b", 512, "m1")
    others = [translation.translation_key(b"abd", "a2b", 512, "m1"), translation.translation_key(b"abc", "b2a", 512, "m1"),
              translation.translation_key(b"abc", "a2b", 256, "m1"), translation.translation_key(b"abc", "a2b", 512, "m2"),
              translation.translation_key(b"abc", "a2b", 512, "m1", blend=False)]
    assert base not in others and len(set(others)) == 5


def test_directions_and_labels(tiny_checkpoints, tmp_path):
    model = load_model(tiny_checkpoints / "tiny-cyclegan", "cpu")
    assert translation.available_directions(model) == ["a2b", "b2a"]
    assert translation.direction_label(model.card, "a2b") == "horse → zebra"
    assert translation.direction_label(model.card, "b2a") == "zebra → horse"
    family = FAMILIES["cyclegan"]
    arch = {**family.default_arch(32, 3, 0), "ngf": 8, "ndf": 8, "n_blocks": 1, "directions": ["b2a"]}
    card = ModelCard(id="one-way", family="cyclegan", arch=arch)
    save_model_folder(tmp_path / "one-way", card, family.build_generator(arch))
    one_way = load_model(tmp_path / "one-way", "cpu")
    assert translation.available_directions(one_way) == ["b2a"]
    assert translation.direction_label(one_way.card, "b2a") == "B → A"


def test_example_images_follow_the_direction(tiny_unpaired, tmp_path):
    card = ModelCard(id="c", family="cyclegan", arch={"image_size": 32, "channels": 3}, dataset={"root": str(tiny_unpaired)})
    assert translation.example_folder(card, "a2b") == tiny_unpaired / "testA"
    assert translation.example_folder(card, "b2a") == tiny_unpaired / "testB"
    assert [p.parent.name for p in translation.example_images(card, "b2a", limit=3)] == ["testB"] * 3
    gone = ModelCard(id="c", family="cyclegan", arch={"image_size": 32, "channels": 3}, dataset={"root": str(tmp_path / "x")})
    assert translation.example_folder(gone, "a2b").name == "testA"  # falls back to the bundled horse2zebra location
    empty = tmp_path / "empty"
    (empty / "testA").mkdir(parents=True)
    assert translation.example_images(ModelCard(id="c", family="cyclegan", arch={}, dataset={"root": str(empty)}), "a2b") == []


# --- SGAN digits -------------------------------------------------------------------------------------

def drawn_seven(size=(240, 320), offset=(20, 30), ink="black", paper="white", width=14) -> Image.Image:
    """A '7' drawn off-centre on a big canvas, as a phone photo of paper would be."""
    img = Image.new("RGB", size, paper)
    d = ImageDraw.Draw(img)
    ox, oy = offset
    d.line([(ox, oy), (ox + 120, oy)], fill=ink, width=width)
    d.line([(ox + 120, oy), (ox + 50, oy + 200)], fill=ink, width=width)
    return img


def centre_of_mass(a: np.ndarray) -> tuple[float, float]:
    yy, xx = np.mgrid[0 : a.shape[0], 0 : a.shape[1]]
    return (yy * a).sum() / a.sum(), (xx * a).sum() / a.sum()


def test_mnist_style_matches_how_mnist_was_made():
    digit = digits.mnist_style(drawn_seven())
    assert digit.size == (28, 28) and digit.mode == "L"
    a = np.asarray(digit, dtype=np.float64)
    border = np.concatenate([a[0], a[-1], a[:, 0], a[:, -1]])
    assert border.max() == 0  # black background: light ink on dark, as MNIST
    rows, cols = np.nonzero(a > 0)
    assert rows.max() - rows.min() + 1 <= 21 and cols.max() - cols.min() + 1 <= 21  # fits 20x20 (+1 for anti-aliasing)
    assert max(rows.max() - rows.min(), cols.max() - cols.min()) >= 18  # and fills it on its longer side
    cy, cx = centre_of_mass(a)
    assert abs(cy - 13.5) <= 1 and abs(cx - 13.5) <= 1


def test_mnist_style_is_the_same_for_light_on_dark_and_any_position():
    dark_on_light = np.asarray(digits.mnist_style(drawn_seven()), dtype=np.float64)
    light_on_dark = np.asarray(digits.mnist_style(drawn_seven(ink="white", paper="black")), dtype=np.float64)
    moved = np.asarray(digits.mnist_style(drawn_seven(size=(400, 400), offset=(200, 150))), dtype=np.float64)
    assert np.abs(dark_on_light - light_on_dark).mean() < 2
    assert np.abs(dark_on_light - moved).mean() < 2


def test_mnist_style_ignores_paper_texture_and_keeps_wide_shapes():
    rng = np.random.default_rng(0)
    noisy = np.asarray(drawn_seven(), dtype=np.float64) - rng.uniform(0, 30, (320, 240, 1))
    digit = np.asarray(digits.mnist_style(Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8))), dtype=np.float64)
    clean = np.asarray(digits.mnist_style(drawn_seven()), dtype=np.float64)
    assert np.abs(digit - clean).mean() < 6
    bar = Image.new("L", (300, 100), 255)
    ImageDraw.Draw(bar).rectangle([20, 40, 280, 55], fill=0)
    a = np.asarray(digits.mnist_style(bar))
    rows, cols = np.nonzero(a > 0)
    assert cols.max() - cols.min() + 1 in (20, 21) and rows.max() - rows.min() + 1 <= 3


@pytest.mark.parametrize("image", [Image.new("RGB", (50, 50), "white"), Image.new("L", (50, 50), 0),
                                   Image.new("L", (64, 64), 128)])
def test_blank_pictures_have_no_digit(image):
    with pytest.raises(digits.DigitError, match="No digit"):
        digits.mnist_style(image)


def test_a_real_mnist_digit_survives_preparation(tiny_mnist):
    from ganmodels.data import load_labelled
    from ganmodels.images import to_pil

    images, _ = load_labelled("mnist", tiny_mnist, split="test")
    original = to_pil(images[3])
    prepared = digits.digit_tensor(digits.mnist_style(original))
    # The bar of the tiny set is re-centred and re-scaled, but stays a horizontal bar of bright ink.
    a = prepared[0, 0].numpy()
    assert a.min() >= -1 and a.max() <= 1 and (a > 0).sum() > 20
    rows = np.nonzero((a > 0).any(axis=1))[0]
    assert rows.max() - rows.min() < 8


def test_digit_tensor_shapes():
    digit = digits.mnist_style(drawn_seven())
    x = digits.digit_tensor(digit)
    assert x.shape == (1, 1, 28, 28) and x.min() >= -1 and x.max() <= 1 and x[0, 0, 0, 0] == -1
    assert digits.digit_tensor(digit, 32).shape == (1, 1, 32, 32)


def test_class_probabilities_of_both_classifiers(tiny_checkpoints):
    model = load_model(tiny_checkpoints / "tiny-sgan", "cpu")
    x = digits.digit_tensor(digits.mnist_style(drawn_seven()))
    probs = digits.class_probabilities(model, x)
    assert list(probs) == ["SGAN discriminator", "Plain classifier"]
    for values in probs.values():
        assert len(values) == 10 and sum(values) == pytest.approx(1.0, abs=1e-5) and min(values) >= 0
    other = digits.class_probabilities(model, -x)
    assert other["SGAN discriminator"] != probs["SGAN discriminator"]
    del model.companions["baseline"]
    assert list(digits.class_probabilities(model, x)) == ["SGAN discriminator"]


def test_translation_sizes_offer_the_training_scale_and_default_to_a_detailed_side():
    card = ModelCard(id="c", family="cyclegan", arch={"image_size": 96, "channels": 3}, dataset={"name": "horse2zebra"})
    sizes, default = translation.translation_sizes(card)
    assert default == 512 and sizes[0] == 108 and sizes == sorted(set(sizes)) and 1024 in sizes
    card.arch["image_size"] = 256  # upstream's own size: resized to 286 (288 here, a multiple of 4), then cropped
    sizes, default = translation.translation_sizes(card)
    assert default == 512 and sizes.index(288) == 1
    assert translation.training_sides(card) == (288, 288)
    card.arch["image_size"] = 128  # trained on photos resized to random sides in scale_range, then cropped
    card.training = {"hparams": {"scale_range": [128, 288]}}
    assert translation.training_sides(card) == (128, 288)
    sizes, default = translation.translation_sizes(card)
    assert default == 512 and 288 in sizes and 144 not in sizes
    card.arch["image_size"] = 640  # a model trained on larger photos than the default side: its own scale
    card.training = {}
    assert translation.translation_sizes(card)[1] == 720
