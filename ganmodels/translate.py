"""The CycleGAN page's code path: decode, bound, translate, reconstruct, package."""
from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass

import torch
from PIL import Image

from .checkpoint import LoadedModel
from .images import decode_upload, from_pil, png_bytes, to_pil

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
    y = model.translate(x, direction, blend)
    back = OTHER[direction]
    rec = model.translate(y, back, blend) if back in model.generator else None
    return Translation(name, image, to_pil(y[0]), to_pil(rec[0]) if rec is not None else None, list(notes or []))


def translate_upload(model: LoadedModel, data: bytes, direction: str, name: str, max_side: int = 512,
                     blend: bool = True) -> Translation:
    """Untrusted bytes in, a Translation out; ImageDecodeError carries the user-facing reason."""
    decoded = decode_upload(data, max_side=max_side)
    return translate_pil(model, decoded.image, direction, name, decoded.notes, blend)


def results_zip(results: list[Translation]) -> bytes:
    """All translations (and reconstructions) as PNGs in one zip, named after the uploads."""
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
            zf.writestr(f"{stem}-translated.png", png_bytes(r.translated))
            if r.reconstructed is not None:
                zf.writestr(f"{stem}-reconstructed.png", png_bytes(r.reconstructed))
    return buf.getvalue()
