"""The CycleGAN page's code path, kept free of Streamlit: decode, bound, translate (photos of any shape),
reconstruct and package the results; the sizes and directions a model offers, the cache key of one translation,
and the example photos to try."""
from __future__ import annotations

import hashlib
import io
import zipfile
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from PIL import Image

from ganmodels.cards import ModelCard
from ganmodels.checkpoint import LoadedModel
from ganmodels.data import DatasetError, default_root, list_images
from ganmodels.families.cyclegan import load_size as cyclegan_load_size
from ganmodels.images import decode_upload, from_pil, png_bytes, to_pil
from ui.paths import EXAMPLES_ROOT


OTHER = {"a2b": "b2a", "b2a": "a2b"}


@dataclass
class Translation:
    name: str
    source: Image.Image
    translated: Image.Image
    reconstructed: Image.Image | None
    notes: list[str]


@torch.inference_mode()
def translate_pil(model: LoadedModel, image: Image.Image, direction: str, name: str = "image", notes=None,
                  blend: bool = True) -> Translation:
    """Translate at the image's own (bounded, multiple-of-4) size, by scale blend where it is larger than the
    training size unless `blend` is false; reconstruct when the reverse net exists."""
    x = from_pil(image, model.card.channels)
    y = translate_any_shape(model, x, direction, blend)
    back = OTHER[direction]
    rec = translate_any_shape(model, y, back, blend) if back in model.generator else None
    return Translation(name, image, to_pil(y[0]), to_pil(rec[0]) if rec is not None else None, list(notes or []))


# A ResNet generator downsamples twice and pads by reflection, which needs some pixels on every side; scale blend
# shrinks the photo to the training size, so a strip's short side would vanish. Narrower inputs are padded.
MIN_SIDE = 64


MAX_ASPECT = 4


def translate_any_shape(model: LoadedModel, x: torch.Tensor, direction: str, blend: bool = True) -> torch.Tensor:
    """model.translate for images of any aspect ratio (a 6000x40 panorama, say): a side shorter than MIN_SIDE or
    than a quarter of the other is padded on both edges by repeating its border pixels, and the result is cropped
    back, so the output has the input's size."""
    height, width = x.shape[-2:]
    want_h = -(-max(height, MIN_SIDE, -(-width // MAX_ASPECT)) // 4) * 4
    want_w = -(-max(width, MIN_SIDE, -(-height // MAX_ASPECT)) // 4) * 4
    if (want_h, want_w) == (height, width):
        return model.translate(x, direction, blend)
    top, left = (want_h - height) // 2, (want_w - width) // 2
    padded = F.pad(x, (left, want_w - width - left, top, want_h - height - top), mode="replicate")
    return model.translate(padded, direction, blend)[..., top : top + height, left : left + width]


def translate_upload(model: LoadedModel, data: bytes, direction: str, name: str, max_side: int = 512,
                     blend: bool = True) -> Translation:
    """Untrusted bytes in, a Translation out; ImageDecodeError carries the user-facing reason."""
    decoded = decode_upload(data, max_side=max_side)
    return translate_pil(model, decoded.image, direction, name, decoded.notes, blend)


def results_zip(results: list[Translation], there: str = "translated", back: str = "reconstructed") -> bytes:
    """All translations (and reconstructions) as PNGs in one zip, named after the uploads and suffixed with `there`
    and `back` (the page passes the direction, e.g. 'horse-to-zebra' and 'back-to-horse')."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        used: set[str] = set()
        for r in results:
            stem = r.name.rsplit(".", 1)[0] or "image"
            base, n = stem, 1
            while stem in used:
                n += 1
                stem = f"{base}-{n}"
            used.add(stem)
            zf.writestr(f"{stem}-{there}.png", png_bytes(r.translated))
            if r.reconstructed is not None:
                zf.writestr(f"{stem}-{back}.png", png_bytes(r.reconstructed))
    return buf.getvalue()


# --- what the page offers -------------------------------------------------------------------------

def translation_key(data: bytes, direction: str, max_side: int, model_key: str, blend: bool = True) -> str:
    """Identifies one translation: the same file, direction, size, way (scale blend or direct) and model are never
    recomputed."""
    h = hashlib.sha256(data)
    h.update(f"|{direction}|{max_side}|{model_key}|{'blend' if blend else 'direct'}".encode())
    return h.hexdigest()


TRANSLATION_SIZES = (256, 320, 384, 448, 512, 640, 768, 896, 1024)


def training_sides(card: ModelCard) -> tuple[int, int]:
    """The sides photos had before the crop in training: one size in upstream's recipe, a span with `scale_range`."""
    scale_range = card.training.get("hparams", {}).get("scale_range")
    largest = cyclegan_load_size(card.image_size, scale_range)
    return (int(min(scale_range)) if scale_range else largest), largest


DEFAULT_TRANSLATION_SIDE = 512  # keeps a phone photo's detail; about a second on 2 CPU cores, the way back included


def translation_sizes(card: ModelCard) -> tuple[list[int], int]:
    """(choices for the longest side, default). Scale blend keeps the training scale's effect on larger photos, so the
    default is a side that keeps a photo's detail (or the largest scale the model trained at, if that is larger)."""
    native = training_sides(card)[1]
    return sorted({native, *TRANSLATION_SIZES}), max(native, DEFAULT_TRANSLATION_SIDE)


def direction_label(card: ModelCard, direction: str) -> str:
    """'a2b' -> 'horse → zebra' with the card's domain names."""
    domains = {"a": "A", "b": "B", **(card.arch.get("domains") or {})}
    src, dst = direction.split("2")
    return f"{domains[src]} → {domains[dst]}"


def available_directions(model: LoadedModel) -> list[str]:
    """The card's directions that the loaded checkpoint really holds a generator for, A→B first."""
    listed = model.card.arch.get("directions") or ["a2b", "b2a"]
    held = set(model.generator.keys()) if hasattr(model.generator, "keys") else set(listed)
    return [d for d in ("a2b", "b2a") if d in listed and d in held]


def example_folder(card: ModelCard, direction: str) -> Path:
    """testA (for A→B) or testB (for B→A) of the card's dataset root, else of the default horse2zebra copy, else of
    the few test photos shipped in examples/ (horse2zebra only: other photo pairs have none)."""
    split = "testA" if direction == "a2b" else "testB"
    root = card.dataset.get("root")
    root = Path(root) if root and Path(root).is_dir() else default_root("horse2zebra")
    bundled = EXAMPLES_ROOT / "horse2zebra" / split
    if not (root / split).is_dir() and card.dataset.get("name", "horse2zebra") == "horse2zebra" and bundled.is_dir():
        return bundled
    return root / split


def example_images(card: ModelCard, direction: str, limit: int = 24) -> list[Path]:
    """The first `limit` images of the example folder ([] when it does not exist)."""
    try:
        return list_images(example_folder(card, direction))[:limit]
    except DatasetError:
        return []
