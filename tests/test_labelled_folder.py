"""The class-labelled image-folder reader (CIFAR-10's layout), training on it, and the CIFAR-10 reference classifier."""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from ganmodels import data as gdata
from ganmodels import train as gtrain
from ganmodels.cards import read_card
from ganmodels.checkpoint import load_model

CLASSES = ["cat", "airplane", "bird"]  # written unsorted: labels follow the sorted names
COLOURS = {"airplane": (250, 0, 0), "bird": (0, 250, 0), "cat": (0, 0, 250)}
CIFAR = Path(gdata.default_root("cifar10"))
REFERENCE = Path(__file__).resolve().parent.parent / "checkpoints" / "reference" / "cifar10"


def make_class_folder(root: Path, per_class: dict[str, int], size: int = 12, split: str | None = "train") -> Path:
    """root/<split>/<class>/NNNN.png, each class a flat colour with a per-image brightness step."""
    base = root / split if split else root
    for name, count in per_class.items():
        (base / name).mkdir(parents=True, exist_ok=True)
        for i in range(count):
            colour = tuple(min(255, c + i) for c in COLOURS.get(name, (90, 90, 90)))
            Image.new("RGB", (size, size), colour).save(base / name / f"{i:04d}.png")
    return root


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("GANSTUDIO_CACHE", str(tmp_path / "cache"))


@pytest.fixture
def tiny_classes(tmp_path) -> Path:
    root = make_class_folder(tmp_path / "tiny", {"cat": 6, "airplane": 4, "bird": 5})
    make_class_folder(root, {"cat": 2, "airplane": 2, "bird": 2}, split="test")
    return root


def test_labels_come_from_sorted_sub_folders_and_classes_interleave(tiny_classes):
    images, labels, names = gdata.load_class_folder(tiny_classes / "train", 8)
    assert names == ["airplane", "bird", "cat"]
    assert images.dtype == torch.uint8 and images.shape == (15, 3, 8, 8)
    assert torch.bincount(labels).tolist() == [4, 5, 6]
    # every image's colour is its class's: the label and the pixels travel together through the interleaving
    for image, label in zip(images, labels):
        assert int(image[:, 4, 4].argmax()) == {0: 0, 1: 1, 2: 2}[int(label)], (image[:, 4, 4], label)
    # interleaved: the first 3 hold each class once, the first 12 each class 4 times
    assert sorted(labels[:3].tolist()) == [0, 1, 2]
    assert torch.bincount(labels[:12]).tolist() == [4, 4, 4]


def test_native_size_without_image_size_and_cache_reuse(tiny_classes, tmp_path, monkeypatch):
    images, _, _ = gdata.load_class_folder(tiny_classes / "train")
    assert images.shape[-2:] == (12, 12)
    cached = sorted((tmp_path / "cache").glob("folder-*.npy"))
    assert len(cached) == 3, "one cache file per class folder"

    def refuse_decode(*_a, **_k):
        raise AssertionError("decoded again although cached")

    monkeypatch.setattr(gdata.Image, "open", refuse_decode)
    again, _, _ = gdata.load_class_folder(tiny_classes / "train", 12)
    assert torch.equal(again, images)


def test_load_labelled_reads_a_class_folder_dataset_as_uint8(tiny_classes):
    x, y = gdata.load_labelled("cifar10", tiny_classes, "test")
    assert x.dtype == torch.uint8 and x.shape == (6, 3, 32, 32)
    assert torch.bincount(y).tolist() == [2, 2, 2]


@pytest.mark.parametrize("setup, message", [
    (lambda root: None, "dataset folder not found"),
    (lambda root: (root / "train").mkdir(parents=True), "no class sub-folders"),
    (lambda root: (root / "train" / "cat").mkdir(parents=True), "holds no images"),
    (lambda root: make_class_folder(root, {"cat": 1}, split="test"), "has no 'train' folder"),
    (lambda root: (make_class_folder(root, {"cat": 1}), (root / "train" / "cat" / "0000.png").write_bytes(b"not a png")),
     "cannot decode"),
])
def test_bad_folders_get_a_clear_error(tmp_path, setup, message):
    root = tmp_path / "set"
    setup(root)
    with pytest.raises(gdata.DatasetError, match=message):
        gdata.load_labelled("cifar10", root, "train")


def test_the_size_bound_is_checked_before_decoding(tiny_classes, monkeypatch):
    monkeypatch.setattr(gdata, "MAX_DECODED_BYTES", 15 * 3 * 8 * 8 - 1)
    monkeypatch.setattr(gdata.Image, "open", lambda *_a, **_k: pytest.fail("decoded before the bound was checked"))
    with pytest.raises(gdata.DatasetError, match="GiB bound"):
        gdata.load_class_folder(tiny_classes / "train", 8)
    with pytest.raises(gdata.DatasetError, match="image size"):
        gdata.load_class_folder(tiny_classes / "train", gdata.MAX_IMAGE_SIZE + 1)


def test_too_many_classes_are_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(gdata, "MAX_CLASSES", 2)
    make_class_folder(tmp_path / "many", {"a": 1, "b": 1, "c": 1})
    with pytest.raises(gdata.DatasetError, match="at most 2 classes"):
        gdata.load_class_folder(tmp_path / "many" / "train")


TINY_CONDITIONAL = ["--arch", "ngf=8", "--arch", "ndf=8", "--batch-size", "6", "--steps", "4", "--snapshot-every", "2",
                    "--seed", "1", "--no-progress"]


@pytest.mark.parametrize("family, dataset", [("acgan", "cifar10"), ("cgan", "image-folder")])
def test_conditional_training_on_a_labelled_folder_and_resume(tiny_classes, tmp_path, family, dataset):
    runs = tmp_path / "runs"
    argv = [family, "--dataset", dataset, "--data-root", str(tiny_classes), "--runs-dir", str(runs), "--name", "run",
            *TINY_CONDITIONAL]
    assert gtrain.main([*argv, "--stop-at", "2"]) == 0
    card = read_card(runs / "run")
    assert card.dataset["classes"] == ["airplane", "bird", "cat"]
    assert card.arch["num_classes"] == 3 and card.channels == 3
    assert card.image_size == (32 if dataset == "cifar10" else 64), "cifar10's native 32 px; an image folder's 64"
    assert gtrain.main(["--resume", str(runs / "run"), "--no-progress"]) == 0
    card = read_card(runs / "run")
    assert card.training["status"] == "finished" and card.training["steps_done"] == 4
    model = load_model(runs / "run", device="cpu")
    out = model.generate(model.latents(0, 3), [0, 1, 2])
    assert out.shape == (3, 3, card.image_size, card.image_size)


def test_unconditional_image_folder_still_reads_a_flat_folder(tmp_path):
    flat = tmp_path / "flat"
    flat.mkdir()
    for i in range(4):
        Image.new("RGB", (16, 16), (i * 60, 0, 0)).save(flat / f"{i}.png")
    argv = ["dcgan", "--dataset", "image-folder", "--data-root", str(flat), "--image-size", "32", "--runs-dir",
            str(tmp_path / "runs"), "--name", "flat", *TINY_CONDITIONAL[:-5], "--batch-size", "4", "--steps", "2",
            "--snapshot-every", "2", "--no-progress"]
    assert gtrain.main(argv) == 0
    card = read_card(tmp_path / "runs" / "flat")
    assert "classes" not in card.dataset and card.dataset["num_images"] == 4


def test_a_conditional_family_refuses_a_flat_folder(tmp_path, capsys):
    flat = tmp_path / "flat"
    flat.mkdir()
    Image.new("RGB", (16, 16)).save(flat / "0.png")
    argv = ["acgan", "--dataset", "image-folder", "--data-root", str(flat), "--runs-dir", str(tmp_path / "runs"), "--no-progress"]
    assert gtrain.main(argv) == 2
    assert "one sub-folder per class" in capsys.readouterr().err


# --- the real CIFAR-10 (skipped where ../shared/data/cifar10 is absent) ------------------------------------------

needs_cifar = pytest.mark.skipif(not (CIFAR / "test").is_dir(), reason=f"CIFAR-10 test images not found at {CIFAR}")


@needs_cifar
def test_cifar10_test_split_reads_in_label_order():
    x, y = gdata.load_labelled("cifar10", split="test")
    assert x.shape == (10000, 3, 32, 32) and x.dtype == torch.uint8
    assert torch.bincount(y).tolist() == [1000] * 10
    assert gdata.class_folders(CIFAR / "test")[y[3]].name == gdata.CLASS_NAMES["cifar10"][3] == "cat"


@needs_cifar
@pytest.mark.skipif(not (REFERENCE / "card.json").is_file(), reason="the CIFAR-10 reference classifier is not shipped yet")
def test_cifar10_reference_reproduces_its_card_accuracy():
    from ganmodels.classifier import load_reference

    ref = load_reference("cifar10")
    assert ref.card["metrics"]["test_accuracy"] >= 0.85, "the issue's bar for the CIFAR-10 reference"
    x, y = gdata.load_labelled("cifar10", split="test")
    feats, preds = ref.features_and_predictions(x)
    assert feats.shape == (10000, 128)
    assert (preds == y).float().mean().item() == pytest.approx(ref.card["metrics"]["test_accuracy"], abs=1e-4)
    assert ref.card["classes"] == gdata.CLASS_NAMES["cifar10"]
