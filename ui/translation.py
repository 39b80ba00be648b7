"""The CycleGAN page's code path: decode, bound, translate, reconstruct, package."""
from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass

import torch
import torch.nn.functional as F
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
