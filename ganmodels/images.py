"""Tensor <-> image conversion, grids, GIFs and a defensive decoder for user uploads."""
from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

# Uploads beyond this many pixels are refused before decoding (decompression bombs);
# anything accepted is then bounded to MAX_SIDE on its longer side.
MAX_UPLOAD_PIXELS = 40_000_000
MAX_UPLOAD_BYTES = 50 * 1024 * 1024
MAX_SIDE = 1024


class ImageDecodeError(ValueError):
    """An upload we will not take, with a message fit to show a user."""


@dataclass
class DecodedImage:
    image: Image.Image  # RGB, EXIF-rotated, bounded
    original_size: tuple[int, int]
    original_mode: str
    resized: bool
    notes: list[str]


def to_uint8(images: torch.Tensor) -> np.ndarray:
    """[-1,1] tensor (N,C,H,W) or (C,H,W) -> uint8 HWC array(s), as CycleGAN does: (y+1)/2*255."""
    x = images.detach().float().cpu().clamp(-1, 1)
    x = ((x + 1) * 127.5).round().to(torch.uint8)
    if x.dim() == 4:
        return x.permute(0, 2, 3, 1).numpy()
    return x.permute(1, 2, 0).numpy()


def to_pil(image: torch.Tensor) -> Image.Image:
    arr = to_uint8(image)
    if arr.ndim == 4:
        if arr.shape[0] != 1:
            raise ValueError("to_pil takes one image; use grid() for a batch")
        arr = arr[0]
    if arr.shape[2] == 1:
        return Image.fromarray(arr[:, :, 0], mode="L")
    return Image.fromarray(arr, mode="RGB")


def from_pil(image: Image.Image, channels: int = 3) -> torch.Tensor:
    """PIL -> (1,C,H,W) float in [-1,1]."""
    img = image.convert("L" if channels == 1 else "RGB")
    arr = torch.from_numpy(np.asarray(img, dtype=np.uint8).copy())
    if arr.dim() == 2:
        arr = arr.unsqueeze(-1)
    return (arr.permute(2, 0, 1).float() / 127.5 - 1).unsqueeze(0)


def grid(images: torch.Tensor, nrow: int = 5, padding: int = 2, pad_value: float = -1.0) -> Image.Image:
    """A grid image from a [-1,1] batch; fixed scaling (not min-max) so grids compare across snapshots."""
    from torchvision.utils import make_grid  # importing torchvision costs seconds of cold start; the home page needs no grid

    g = make_grid(images.detach().float().cpu().clamp(-1, 1), nrow=nrow, padding=padding, pad_value=pad_value)
    return to_pil(g)


def upscale(image: Image.Image, min_side: int = 256) -> Image.Image:
    """Nearest-neighbour enlargement so 28-px digits are visible without blur."""
    factor = max(1, -(-min_side // min(image.size)))
    if factor == 1:
        return image
    return image.resize((image.width * factor, image.height * factor), Image.NEAREST)


def png_bytes(image: Image.Image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


def gif_bytes(frames: list[Image.Image], duration_ms: int = 80, bounce: bool = True) -> bytes:
    """An animated, looping GIF; `bounce` plays the path forward then back."""
    if not frames:
        raise ValueError("a GIF needs at least one frame")
    seq = list(frames) + (list(reversed(frames[1:-1])) if bounce and len(frames) > 2 else [])
    seq = [f.convert("RGB") for f in seq]
    buf = io.BytesIO()
    seq[0].save(buf, format="GIF", save_all=True, append_images=seq[1:], duration=duration_ms, loop=0)
    return buf.getvalue()


def _flatten_to_rgb(img: Image.Image, notes: list[str]) -> Image.Image:
    mode = img.mode
    if mode in ("RGBA", "LA", "PA") or (mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        notes.append("transparent areas were placed on white")
        return Image.alpha_composite(background, rgba).convert("RGB")
    if mode in ("I;16", "I;16B", "I;16L", "I"):
        arr = np.asarray(img, dtype=np.float64)
        hi = 65535.0 if arr.max() > 255 else 255.0
        notes.append("16-bit image scaled to 8 bits")
        return Image.fromarray(np.clip(arr / hi * 255.0, 0, 255).astype(np.uint8), mode="L").convert("RGB")
    if mode == "F":
        arr = np.asarray(img, dtype=np.float64)
        lo, hi = float(arr.min()), float(arr.max())
        scaled = (arr - lo) / (hi - lo) * 255.0 if hi > lo else np.zeros_like(arr)
        notes.append("floating-point image rescaled to 8 bits")
        return Image.fromarray(scaled.astype(np.uint8), mode="L").convert("RGB")
    if mode == "CMYK":
        notes.append("CMYK converted to RGB")
    elif mode in ("L", "1"):
        notes.append("grayscale converted to RGB")
    return img.convert("RGB")


def fitted_size(width: int, height: int, max_side: int, multiple_of: int = 4) -> tuple[int, int]:
    """(width, height) shrunk, never enlarged, to at most `max_side` on the longer edge, both a multiple of
    `multiple_of` (ResNet generators need it)."""
    scale = min(1.0, max_side / max(width, height))
    return tuple(max(multiple_of, int(edge * scale) // multiple_of * multiple_of) for edge in (width, height))


def decode_upload(data: bytes, max_side: int = MAX_SIDE, multiple_of: int = 4) -> DecodedImage:
    """Decode untrusted bytes into a bounded RGB image or raise ImageDecodeError.

    Honours EXIF orientation, flattens alpha on white, handles CMYK/16-bit/palette,
    refuses decompression bombs and non-images, and shrinks the longer side to
    `max_side` and both sides to a multiple of `multiple_of` (ResNet generators need it).
    """
    if not data:
        raise ImageDecodeError("The file is empty.")
    if len(data) > MAX_UPLOAD_BYTES:
        raise ImageDecodeError(f"The file is {len(data) / 2**20:.0f} MB; the limit is {MAX_UPLOAD_BYTES // 2**20} MB.")
    notes: list[str] = []
    try:
        with Image.open(io.BytesIO(data)) as probe:
            w, h = probe.size
            fmt = probe.format
        if w * h > MAX_UPLOAD_PIXELS:
            raise ImageDecodeError(
                f"The image is {w}x{h} pixels ({w * h / 1e6:.0f} MP); the limit is {MAX_UPLOAD_PIXELS / 1e6:.0f} MP."
            )
        img = Image.open(io.BytesIO(data))
        if fmt == "JPEG":
            img.draft("RGB", (max_side, max_side))  # decode huge JPEGs at reduced scale
        img.load()
        original_mode = img.mode
        orientation = img.getexif().get(0x0112, 1)
        if orientation not in (None, 1):
            img = ImageOps.exif_transpose(img)
            notes.append("turned upright from its EXIF orientation")
        img = _flatten_to_rgb(img, notes)
    except ImageDecodeError:
        raise
    except Image.DecompressionBombError as exc:  # PIL's own guard fires in open() for the most extreme sizes
        raise ImageDecodeError(f"The image is too large to open safely; the limit is {MAX_UPLOAD_PIXELS / 1e6:.0f} MP.") from exc
    except UnidentifiedImageError as exc:
        raise ImageDecodeError("This file is not an image we can read (JPEG, PNG, WebP, BMP, GIF or TIFF).") from exc
    except (OSError, SyntaxError, ValueError) as exc:
        raise ImageDecodeError(f"The image is damaged or truncated and cannot be decoded ({exc}).") from exc
    original_size = (w, h)
    if min(img.size) < 8:
        raise ImageDecodeError(f"The image is only {img.width}x{img.height} pixels; it needs at least 8 on each side.")
    resized = False
    new_w, new_h = fitted_size(img.width, img.height, max_side, multiple_of)
    if (new_w, new_h) != img.size:
        if max(img.size) > max_side:
            notes.append(f"shrunk from {img.width}x{img.height} to {new_w}x{new_h}")
        img = img.resize((new_w, new_h), Image.LANCZOS)
        resized = True
    return DecodedImage(img, original_size, original_mode, resized, notes)
