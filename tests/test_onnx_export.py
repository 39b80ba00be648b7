"""The ONNX export the browser runs: every latent family, checked against torch with ONNX Runtime, and its cache."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from ganmodels.checkpoint import load_model, readable_cards
from ganmodels.onnx_export import ExportError, cache_dir, export_generator, weights_key
from ganmodels.registry import FAMILIES
from tests.conftest import examples_dcgan_file

REPO = Path(__file__).resolve().parent.parent
ort = pytest.importorskip("onnxruntime", reason="onnxruntime (requirements-dev.txt) checks the exported files")

LATENT_FAMILIES = [name for name, family in FAMILIES.items() if not family.translator]


def run_onnx(path, latent: torch.Tensor, labels: torch.Tensor | None) -> np.ndarray:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    feeds = {"latent": latent.numpy().astype(np.float32)}
    if labels is not None:
        feeds["label"] = labels.numpy().astype(np.int64)
    return session.run(["image"], feeds)[0]


@pytest.mark.parametrize("family", LATENT_FAMILIES)
def test_onnx_matches_torch_for_every_latent_family(family, tiny_checkpoints, tmp_path):
    model = load_model(tiny_checkpoints / f"tiny-{family}", "cpu")
    exported = export_generator(model, tmp_path)
    assert exported.takes_label == model.family.conditional
    assert exported.latent_size == model.latent_size
    latent = model.latents(7, 3, psi=0.8)  # a batch of 3: the batch axis is dynamic
    labels = torch.tensor([0, 3, 9]) if exported.takes_label else None
    ours = run_onnx(exported.path, latent, labels)
    torch_out = model.generate(latent, labels).numpy()
    assert ours.shape == torch_out.shape == (3, exported.channels, exported.height, exported.width)
    assert np.abs(ours - torch_out).max() <= 1e-5


SHIPPED = [card.id for card in readable_cards(REPO / "checkpoints") if not FAMILIES[card.family].translator]


@pytest.mark.skipif(not SHIPPED, reason="checkpoints/ holds no latent models")
@pytest.mark.parametrize("model_id", SHIPPED)
def test_onnx_matches_torch_on_shipped_models(model_id, tmp_path):
    model = load_model(REPO / "checkpoints" / model_id, "cpu")
    exported = export_generator(model, tmp_path)
    latent = model.latents(3, 2)
    labels = torch.tensor([1, 4]) if exported.takes_label else None
    assert np.abs(run_onnx(exported.path, latent, labels) - model.generate(latent, labels).numpy()).max() <= 1e-4


def test_dropped_in_examples_dcgan_exports(tmp_path):
    """A dropped-in pytorch/examples DCGAN (.pth, no card) exports like our own models."""
    examples_dcgan_file(tmp_path / "netG_epoch_24.pth", nc=3)
    model = load_model(tmp_path / "netG_epoch_24.pth", "cpu")
    exported = export_generator(model, tmp_path / "cache")
    latent = model.latents(1, 2)
    assert np.abs(run_onnx(exported.path, latent, None) - model.generate(latent).numpy()).max() <= 1e-5
    assert (exported.channels, exported.height) == (3, 64)


def test_cache_is_keyed_by_weights_and_reused(tiny_checkpoints, tmp_path):
    model = load_model(tiny_checkpoints / "tiny-dcgan", "cpu")
    first = export_generator(model, tmp_path)
    stamp = first.path.stat().st_mtime_ns
    again = export_generator(model, tmp_path)
    assert again.path == first.path and again.path.stat().st_mtime_ns == stamp  # read from the cache, not re-exported
    assert not list(tmp_path.glob("*.tmp"))
    with torch.no_grad():
        next(model.generator.parameters()).add_(0.01)
    changed = export_generator(model, tmp_path)
    assert changed.key != first.key and changed.key == weights_key(model.generator)
    assert sorted(p.name for p in tmp_path.glob("*.onnx")) == sorted([f"{first.key}.onnx", f"{changed.key}.onnx"])


def test_cache_dir_honours_the_project_cache_variable(monkeypatch, tmp_path):
    monkeypatch.setenv("GANSTUDIO_CACHE", str(tmp_path))
    assert cache_dir() == tmp_path / "onnx"


def test_translator_is_refused_with_a_reason(tiny_checkpoints, tmp_path):
    model = load_model(tiny_checkpoints / "tiny-cyclegan", "cpu")
    with pytest.raises(ExportError, match="translator"):
        export_generator(model, tmp_path)
