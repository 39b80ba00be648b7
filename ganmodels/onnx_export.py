"""A latent generator as an ONNX file, so a browser can run it (ONNX Runtime Web) while the user drags a slider.

The file takes `latent` (float32, batch × latent size: noise plus any InfoGAN codes, exactly what
LoadedModel.generate takes) and, for class-conditional families, `label` (int64, batch); it gives `image`
(float32, batch × channels × height × width in [-1, 1]). It is exported when a model is first used and kept in
the user's cache, named by a hash of the generator's weights and the export settings, so a retrained or replaced
checkpoint gets a new file and nothing is committed per model.
"""
from __future__ import annotations

import copy
import hashlib
import io
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch

from .checkpoint import LoadedModel
from .files import atomic_write

# The TorchScript exporter: the dynamo exporter (torch 2.14's default) cannot trace the conditional generators,
# whose one-hot step checks the label range with data-dependent Python branches; this one traces them in 0.1-0.6 s
# instead of 1-5 s, and its files match torch within 3e-7 (tests/test_onnx_export.py).
OPSET = 17
EXPORT_SETTINGS = f"torchscript-exporter/opset{OPSET}/batch-dynamic/v1"
MAX_EXPORT_BYTES = 256 * 2**20  # far above any latent generator here (3.5 M weights = 14 MB); bounds what we write


class ExportError(RuntimeError):
    """The generator could not be exported (the app then draws on the server), with the reason."""


@dataclass(frozen=True)
class ExportedGenerator:
    """Where the ONNX file is and what it takes: its key names the file and changes with the weights."""

    path: Path
    key: str
    latent_size: int
    takes_label: bool
    channels: int
    height: int
    width: int


def cache_dir() -> Path:
    """$GANSTUDIO_CACHE/onnx (default ~/.cache/ganstudio/onnx), the cache the dataset loader uses too."""
    return Path(os.environ.get("GANSTUDIO_CACHE", Path.home() / ".cache" / "ganstudio")) / "onnx"


def weights_key(generator: torch.nn.Module) -> str:
    """A hash of every tensor of the generator (names, dtypes, shapes, bytes) and of the export settings."""
    digest = hashlib.sha256(EXPORT_SETTINGS.encode())
    digest.update(torch.__version__.encode())
    for name, tensor in generator.state_dict().items():
        t = tensor.detach().cpu().contiguous()
        digest.update(f"{name}:{t.dtype}:{tuple(t.shape)}".encode())
        digest.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return digest.hexdigest()[:24]


class _GeneratorWithInputs(torch.nn.Module):
    """The generator with the ONNX file's inputs: (latent) or (latent, label)."""

    def __init__(self, generator: torch.nn.Module, takes_label: bool):
        super().__init__()
        self.generator, self.takes_label = generator, takes_label

    def forward(self, latent: torch.Tensor, label: torch.Tensor | None = None) -> torch.Tensor:
        return self.generator(latent, label if self.takes_label else None)


def _example_inputs(model: LoadedModel) -> tuple[torch.Tensor, ...]:
    latent = model.latents(0, 1).float().cpu()
    if model.family.conditional:
        return latent, torch.zeros(1, dtype=torch.long)
    return (latent,)


def onnx_bytes(model: LoadedModel) -> bytes:
    """The generator exported to ONNX in memory (on a CPU copy, so the loaded model is left as it is)."""
    if model.family.translator:
        raise ExportError("a translator takes photos, not a latent; only latent generators are exported")
    takes_label = bool(model.family.conditional)
    wrapped = _GeneratorWithInputs(copy.deepcopy(model.generator).cpu().float().eval(), takes_label).eval()
    inputs = _example_inputs(model)
    names = ["latent", "label"] if takes_label else ["latent"]
    axes = {name: {0: "batch"} for name in names + ["image"]}
    buffer = io.BytesIO()
    try:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")  # tracer warnings about the label check, which holds for every valid label
            torch.onnx.export(wrapped, inputs, buffer, input_names=names, output_names=["image"], dynamic_axes=axes,
                              opset_version=OPSET, do_constant_folding=True, dynamo=False)
    except Exception as exc:  # the exporter raises many kinds; the caller only needs to know it failed and why
        raise ExportError(f"{model.card.id}: could not be exported to ONNX ({type(exc).__name__}: {str(exc)[:300]})") from exc
    data = buffer.getvalue()
    if not data or len(data) > MAX_EXPORT_BYTES:
        raise ExportError(f"{model.card.id}: the ONNX export came out {len(data)} bytes, which is not a usable file")
    return data


def export_generator(model: LoadedModel, folder: str | os.PathLike | None = None) -> ExportedGenerator:
    """The model's ONNX file, exported on first use and then read from the cache (written atomically)."""
    folder = Path(folder) if folder is not None else cache_dir()
    key = weights_key(model.generator)
    path = folder / f"{key}.onnx"
    if not path.is_file():
        data = onnx_bytes(model)
        try:
            folder.mkdir(parents=True, exist_ok=True)
            atomic_write(path, data)
        except OSError as exc:
            raise ExportError(f"the ONNX file could not be written to {folder} ({exc})") from exc
    latent, *label = _example_inputs(model)
    shape = model.generate(latent, label[0] if label else None).shape
    return ExportedGenerator(path, key, model.latent_size, bool(model.family.conditional), *shape[1:])
