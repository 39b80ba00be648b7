"""Library checks of bring-your-own-image (ganmodels.inversion) and nearest training images (ganmodels.nearest)."""
from __future__ import annotations

import io
import json
import os
from pathlib import Path

import pytest
import torch
from PIL import Image, ImageDraw

from ganmodels import inversion, nearest
from ganmodels.checkpoint import load_model, save_weights
from ganmodels.classifier import Reference, ReferenceClassifier
from ganmodels.images import ImageDecodeError

REPO = Path(__file__).resolve().parent.parent

SHIPPED = REPO / "checkpoints"


def shipped(model_id: str):
    if not (SHIPPED / model_id / "card.json").is_file():
        pytest.skip(f"{model_id} is not in {SHIPPED}")
    return load_model(SHIPPED / model_id, "cpu")


# --- inversion ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [999, 5000])
def test_inversion_gets_close_to_a_picture_the_model_drew(seed):
    model = shipped("dcgan-mnist")
    target = model.generate(model.latents(seed, 1))  # the pool holds seeds 0-255, so not this latent
    start = inversion.invert(model, target, steps=0)  # the best of the seeded pool, before any optimising
    found = inversion.invert(model, target)
    assert found.steps == 60 and found.refined == 8 and found.candidates == 256
    assert found.distance < 0.1, found.distance
    assert found.distance < 0.5 * start.distance, (found.distance, start.distance)
    redrawn = model.generate(found.latent)  # the latent handed to the explorer draws the reconstruction shown
    assert float(inversion.rms_distance(redrawn, target)[0]) == pytest.approx(found.distance, abs=1e-4)


def test_a_seed_picture_gets_its_own_latent_back():
    model = shipped("dcgan-mnist")
    target = model.generate(model.latents(42, 1))  # seed 42 is in the pool; optimising must not lose it
    found = inversion.invert(model, target)
    assert found.distance < 1e-3
    assert torch.allclose(found.latent, model.latents(42, 1), atol=0.05)


def test_inversion_finds_the_class_of_a_conditional_model():
    model = shipped("cgan-fashion")
    assert model.family.conditional
    target = model.generate(model.latents(700, 1), [3])
    found = inversion.invert(model, target)
    assert found.label == 3
    assert found.candidates == 260  # 26 seeded latents for each of the 10 classes
    assert found.distance < 0.1, found.distance


def test_inversion_of_a_tiny_model_stops_at_the_time_limit_after_a_third_of_its_steps(tiny_checkpoints):
    model = load_model(tiny_checkpoints / "tiny-dcgan", "cpu")
    target = model.generate(model.latents(1, 1))
    found = inversion.invert(model, target, steps=30, time_limit=0.0)
    assert found.steps == 10 and found.latent.shape == (1, model.latent_size)
    assert torch.isfinite(found.image).all()


def test_inversion_refuses_what_it_cannot_take(tiny_checkpoints):
    model = load_model(tiny_checkpoints / "tiny-dcgan", "cpu")
    with pytest.raises(inversion.InversionError, match="one 1-channel 28×28 picture"):
        inversion.invert(model, torch.zeros(1, 3, 28, 28))
    with pytest.raises(inversion.InversionError, match="non-finite"):
        inversion.invert(model, torch.full((1, 1, 28, 28), float("nan")))
    with pytest.raises(inversion.InversionError, match="restarts must be"):
        inversion.invert(model, torch.zeros(1, 1, 28, 28), restarts=10_000)
    translator = load_model(tiny_checkpoints / "tiny-cyclegan", "cpu")
    with pytest.raises(inversion.InversionError, match="translates"):
        inversion.invert(translator, torch.zeros(1, 3, 32, 32))


def drawing(dark_ink: bool, size: int = 300, box=(120, 60, 160, 240)) -> Image.Image:
    img = Image.new("L", (size, size), 255 if dark_ink else 0)
    ImageDraw.Draw(img).rectangle(box, fill=0 if dark_ink else 255)
    return img


def test_a_dark_on_light_drawing_is_turned_light_on_dark_and_centred():
    style = inversion.TargetStyle(image_size=28, channels=1, dark_background=True, fill=0.75)
    target = inversion.prepare_target(drawing(dark_ink=True, box=(20, 30, 60, 210)), style)  # off-centre, dark ink
    image = target.image[0, 0]
    assert target.image.shape == (1, 1, 28, 28)
    assert image[0].max() < -0.9 and image[:, 0].max() < -0.9  # background dark, as the model draws
    rows = (image > 0).any(1).nonzero().flatten()
    assert 19 <= len(rows) <= 23  # the subject fills three quarters of the frame
    cols = (image > 0).any(0).nonzero().flatten().float()
    assert abs(cols.mean() - 13.5) <= 1.0  # and is centred
    assert any("inverted" in n for n in target.notes)
    same = inversion.prepare_target(drawing(dark_ink=False, box=(20, 30, 60, 210)), style)
    assert not any("inverted" in n for n in same.notes)
    assert torch.allclose(same.image, target.image, atol=2 / 255)


def test_a_photo_of_pencil_on_grey_paper_gets_a_clean_background():
    style = inversion.TargetStyle(image_size=28, channels=1, dark_background=True, fill=0.7)
    photo = Image.new("RGB", (200, 160), (185, 180, 170))  # paper in room light
    ImageDraw.Draw(photo).line([(60, 30), (140, 30), (90, 140)], fill=(70, 70, 80), width=12)
    target = inversion.prepare_target(photo, style)
    image = target.image[0, 0]
    assert image.min() == -1 and image.max() > 0.9  # the paper is black, the stroke bright
    assert (image > 0).float().mean() < 0.3
    assert any("levels stretched" in n for n in target.notes)
    with pytest.raises(inversion.InversionError, match="too faint"):
        faint = Image.new("RGB", (100, 100), (180, 180, 180))
        ImageDraw.Draw(faint).line([(50, 10), (50, 90)], fill=(170, 170, 170), width=8)
        inversion.prepare_target(faint, style)


def test_prepared_targets_follow_the_model_style(tiny_checkpoints):
    model = shipped("dcgan-mnist")
    style = inversion.target_style(model)
    assert style.dark_background and style.image_size == 28 and style.channels == 1
    assert 0.6 <= style.fill <= 0.85  # MNIST digits fill about 20 of 28 pixels
    light = inversion.TargetStyle(image_size=16, channels=3, dark_background=False, fill=1.0)
    target = inversion.prepare_target(drawing(dark_ink=False), light, fit=False)
    assert target.image.shape == (1, 3, 16, 16) and target.image[0, :, 0, 0].min() > 0.9  # light background


def test_blank_and_broken_pictures_are_refused_with_a_message():
    style = inversion.TargetStyle(image_size=28, channels=1, dark_background=True, fill=0.7)
    with pytest.raises(inversion.InversionError, match="blank"):
        inversion.prepare_target(Image.new("RGB", (64, 64), "white"), style)
    with pytest.raises(ImageDecodeError, match="not an image"):
        inversion.decode_target(b"definitely not a picture")
    with pytest.raises(ImageDecodeError, match="empty"):
        inversion.decode_target(b"")
    big = io.BytesIO()
    Image.new("1", (8000, 8000)).save(big, format="PNG")  # 64 MP, a few kB: refused before decoding
    with pytest.raises(ImageDecodeError, match="limit"):
        inversion.decode_target(big.getvalue())
    small = io.BytesIO()
    Image.new("L", (3000, 2000), 255).save(small, format="PNG")
    assert max(inversion.decode_target(small.getvalue()).image.size) == inversion.MAX_TARGET_SIDE


# --- nearest training images ----------------------------------------------------------------------------------


@pytest.fixture
def reference_root(tmp_path) -> Path:
    """A tiny reference classifier for 'mnist' with random weights, as ganmodels.classifier saves them."""
    torch.manual_seed(0)
    arch = {"channels": 1, "image_size": 28, "num_classes": 10, "width": 4}
    folder = tmp_path / "reference" / "mnist"
    save_weights(ReferenceClassifier(**arch), folder / "classifier.safetensors")
    (folder / "card.json").write_text(json.dumps({"id": "reference-mnist", "dataset": "mnist", "arch": arch}))
    return folder.parent


def index_for(data: Path, reference_root: Path, cache: Path) -> nearest.TrainingIndex:
    return nearest.training_index("mnist", data, reference_root, cache)


def test_a_training_image_is_its_own_nearest_neighbour(tiny_mnist, reference_root, tmp_path):
    index = index_for(tiny_mnist, reference_root, tmp_path / "cache")
    for i in (0, 17, 255):
        image = index.images[i].float() / 127.5 - 1
        by_features, by_pixels = index.in_features(image, 5), index.in_pixels(image, 5)
        assert by_features[0].index == i and by_features[0].distance == pytest.approx(0, abs=1e-3)
        assert by_pixels[0].index == i and by_pixels[0].distance == pytest.approx(0, abs=1e-3)
        assert by_pixels[0].label == int(index.labels[i])
        assert [n.distance for n in by_pixels] == sorted(n.distance for n in by_pixels) and by_pixels[1].distance > 0.01
        assert torch.equal(by_pixels[0].image, image)


def test_features_are_cached_and_reused(tiny_mnist, reference_root, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    first = index_for(tiny_mnist, reference_root, cache)
    assert first.built and first.cache_file.is_file() and first.cache_file.parent == cache
    assert not list(cache.glob("*.tmp"))  # written beside, then renamed

    def refuse(*args, **kwargs):
        raise AssertionError("features were recomputed although they are cached")

    monkeypatch.setattr(Reference, "features_and_predictions", refuse)
    again = index_for(tiny_mnist, reference_root, cache)
    assert not again.built and torch.equal(again.features, first.features)


def test_a_changed_classifier_or_dataset_invalidates_the_cache(tiny_mnist, reference_root, tmp_path):
    cache = tmp_path / "cache"
    first = index_for(tiny_mnist, reference_root, cache)
    torch.manual_seed(1)
    card = json.loads((reference_root / "mnist" / "card.json").read_text())
    save_weights(ReferenceClassifier(**card["arch"]), reference_root / "mnist" / "classifier.safetensors")
    retrained = index_for(tiny_mnist, reference_root, cache)
    assert retrained.built and retrained.cache_file != first.cache_file
    assert not torch.equal(retrained.features, first.features)
    images = tiny_mnist / "train-images-idx3-ubyte.gz"
    os.utime(images, ns=(images.stat().st_atime_ns, images.stat().st_mtime_ns + 10**9))
    changed = index_for(tiny_mnist, reference_root, cache)
    assert changed.built and changed.cache_file not in (first.cache_file, retrained.cache_file)


def test_a_damaged_cache_is_rebuilt(tiny_mnist, reference_root, tmp_path):
    cache = tmp_path / "cache"
    first = index_for(tiny_mnist, reference_root, cache)
    first.cache_file.write_bytes(b"half a file")
    again = index_for(tiny_mnist, reference_root, cache)
    assert again.built and torch.equal(again.features, first.features)


def test_missing_data_or_classifier_is_said_plainly(tiny_mnist, reference_root, tmp_path):
    with pytest.raises(nearest.NearestError, match="training images are not on this machine"):
        nearest.training_index("mnist", tmp_path / "nowhere", reference_root, tmp_path / "cache")
    with pytest.raises(nearest.NearestError, match="no reference classifier"):
        nearest.training_index("mnist", tiny_mnist, tmp_path / "no-reference", tmp_path / "cache")
    with pytest.raises(nearest.NearestError, match="does not know where"):
        nearest.training_index("my-own-photos", None, reference_root, tmp_path / "cache")
    with pytest.raises(nearest.NearestError, match="does not say"):
        nearest.training_index("", None, reference_root, tmp_path / "cache")


def test_bad_queries_are_refused(tiny_mnist, reference_root, tmp_path):
    index = index_for(tiny_mnist, reference_root, tmp_path / "cache")
    with pytest.raises(nearest.NearestError, match="channel"):
        index.in_pixels(torch.zeros(3, 28, 28))
    with pytest.raises(nearest.NearestError, match="non-finite"):
        index.in_features(torch.full((1, 28, 28), float("inf")))
    with pytest.raises(nearest.NearestError, match="one picture"):
        index.in_pixels(torch.zeros(2, 1, 28, 28))
    with pytest.raises(nearest.NearestError, match="neighbours"):
        index.in_pixels(torch.zeros(1, 28, 28), k=0)
    bigger = index.in_pixels(torch.zeros(1, 56, 56), k=3)  # another size is resized to the training images'
    assert len(bigger) == 3


@pytest.mark.parametrize("dataset", ["mnist", "fashion-mnist"])
def test_the_real_datasets_are_found_where_the_cards_say(dataset):
    """The fingerprint needs only file stats and the classifier, so this is quick even before any precompute."""
    from ganmodels.data import default_root

    root = default_root(dataset)
    if not root.is_dir():
        pytest.skip(f"the {dataset} data are not at {root}")
    path = nearest.cache_file_for(dataset)
    assert path.name.startswith(f"nearest-{dataset}-") and path.suffix == ".npz"
    assert nearest.cache_file_for(dataset) == path
