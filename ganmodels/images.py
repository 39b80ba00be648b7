"""Tensor <-> image conversion, grids, GIFs and a defensive decoder for user uploads."""
from __future__ import annotations

import io
import struct
import zlib
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

# Uploads beyond this many pixels are refused before decoding (decompression bombs);
# anything accepted is then bounded to MAX_SIDE on its longer side.
MAX_UPLOAD_PIXELS = 40_000_000
MAX_UPLOAD_BYTES = 20 * 1024 * 1024  # also .streamlit/config.toml's server.maxUploadSize
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


# How small pictures are enlarged for the screen: "nearest" keeps every model pixel a sharp square (what a 28-px digit
# looks best as, and what shows exactly what the model drew); "bicubic" blends neighbours into a smooth picture (a
# 32-px colour photo enlarged ten times reads as a photo rather than a mosaic of tiles).
SMOOTHING = {"nearest": Image.Resampling.NEAREST, "bicubic": Image.Resampling.BICUBIC}


def upscale(image: Image.Image, min_side: int = 256, smoothing: str = "nearest") -> Image.Image:
    """The picture enlarged by a whole factor until its shorter side is at least `min_side`, resampled the
    `smoothing` way (a key of SMOOTHING); a picture already that large is returned as it is."""
    if smoothing not in SMOOTHING:
        raise ValueError(f"unknown smoothing '{smoothing}'; choose one of {', '.join(SMOOTHING)}")
    factor = max(1, -(-min_side // min(image.size)))
    if factor == 1:
        return image
    if smoothing != "nearest" and image.mode not in ("L", "RGB", "RGBA"):  # palette or 1-bit: blend in true colour
        image = image.convert("RGB")
    return image.resize((image.width * factor, image.height * factor), SMOOTHING[smoothing])


def default_smoothing(channels: int) -> str:
    """How a model's pictures are enlarged unless the user picks otherwise. Grey models (28-px digits and garments)
    stay "nearest": sharp strokes on a plain background, and exactly the pixels the model drew. Colour models are 32-px
    photos of scenes, where nearest enlargement shows a grid of coloured tiles that hides the object; "bicubic"
    blends them back into a (soft) picture a viewer recognises."""
    return "bicubic" if channels == 3 else "nearest"


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
    """Any decoded mode as 8-bit RGB; callers have already shrunk the image, so these copies are small."""
    mode = img.mode
    if mode in ("RGBA", "LA", "PA") or (mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        notes.append("transparent areas were placed on white")
        return Image.alpha_composite(background, rgba).convert("RGB")
    if mode == "CMYK":
        notes.append("CMYK converted to RGB")
    elif mode in ("L", "1"):
        notes.append("grayscale converted to RGB")
    return img.convert("RGB")


WIDE_MODES = ("I;16", "I;16B", "I;16L", "I;16N", "I", "F")  # more than 8 bits a channel
ROWS_PER_BLOCK = 256


def _to_8bit(img: Image.Image, notes: list[str]) -> Image.Image:
    """16-bit, 32-bit integer and float images as 8-bit grayscale, converted a band of rows at a time in integers
    (float32 for float images), so no full-size wide copy is ever made."""
    width, height = img.size
    lo, hi = img.getextrema()
    out = np.empty((height, width), dtype=np.uint8)
    for top in range(0, height, ROWS_PER_BLOCK):
        block = np.asarray(img.crop((0, top, width, min(height, top + ROWS_PER_BLOCK))))
        if img.mode == "F":
            span = float(hi - lo) if hi > lo else 1.0
            scaled = (block.astype(np.float32) - np.float32(lo)) * np.float32(255.0 / span)
            out[top : top + len(block)] = np.clip(scaled, 0, 255).astype(np.uint8)
        elif hi > 255:  # 16-bit range: keep the high byte
            out[top : top + len(block)] = (np.clip(block, 0, 65535).astype(np.uint16) >> 8).astype(np.uint8)
        else:
            out[top : top + len(block)] = np.clip(block, 0, 255).astype(np.uint8)
    notes.append("floating-point image rescaled to 8 bits" if img.mode == "F" else "16-bit image scaled to 8 bits")
    return Image.fromarray(out, mode="L")


# Bytes a pixel takes once decoded (palette images are expanded to RGBA to be flattened); the decoded image may take
# at most MAX_DECODED_BYTES, checked from the header before any pixel is decoded.
BYTES_PER_PIXEL = {"1": 1, "L": 1, "P": 4, "PA": 4, "LA": 2, "RGB": 3, "YCbCr": 3, "LAB": 3, "HSV": 3, "RGBA": 4,
                   "RGBX": 4, "CMYK": 4, "I;16": 2, "I;16B": 2, "I;16L": 2, "I;16N": 2, "I": 4, "F": 4}
MAX_DECODED_BYTES = 64 * 1024 * 1024
EXIF_TRANSPOSE = {2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180, 4: Image.Transpose.FLIP_TOP_BOTTOM,
                  5: Image.Transpose.TRANSPOSE, 6: Image.Transpose.ROTATE_270, 7: Image.Transpose.TRANSVERSE,
                  8: Image.Transpose.ROTATE_90}


def pixel_limit(mode: str, fmt: str | None) -> int:
    """The most pixels an upload of this mode and format may have: MAX_UPLOAD_PIXELS for JPEG (decoded at a reduced
    scale), and for other formats as many as fit MAX_DECODED_BYTES at the mode's depth."""
    if fmt == "JPEG":
        return MAX_UPLOAD_PIXELS
    return min(MAX_UPLOAD_PIXELS, MAX_DECODED_BYTES // BYTES_PER_PIXEL.get(mode, 4))


def _shrink_early(img: Image.Image, max_side: int) -> Image.Image:
    """A box-filtered integer reduction towards `max_side` straight after decoding, before any mode conversion
    copies the full-size image (the final Lanczos resize then works on a small one). Both sides stay >= 8."""
    factor = min(max(img.size) // max_side, min(img.size) // 8)
    if factor < 2:
        return img
    if img.mode in ("P", "PA", "1"):
        img = img.convert("RGBA" if img.mode != "1" and ("transparency" in img.info or img.mode == "PA") else
                          "L" if img.mode == "1" else "RGB")
    return img.reduce(factor)


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
    orientation = 1
    try:
        with Image.open(io.BytesIO(data)) as probe:
            w, h = probe.size
            fmt, mode = probe.format, probe.mode
        limit = pixel_limit(mode, fmt)
        if w * h > limit:
            raise ImageDecodeError(
                f"The image is {w}x{h} pixels ({w * h / 1e6:.0f} MP); the limit is {limit / 1e6:.0f} MP"
                + ("." if limit == MAX_UPLOAD_PIXELS else f" at its colour depth ({mode}).")
            )
        img = Image.open(io.BytesIO(data))
        if fmt == "JPEG":
            img.draft("RGB", (max_side, max_side))  # decode huge JPEGs at reduced scale
        img.load()  # the first frame only, for animations
        original_mode = img.mode
        orientation = img.getexif().get(0x0112, 1)
        if img.mode in WIDE_MODES:
            img = _to_8bit(img, notes)
        img = _shrink_early(img, max_side)
        if orientation in EXIF_TRANSPOSE:
            img = img.transpose(EXIF_TRANSPOSE[orientation])
            notes.append("turned upright from its EXIF orientation")
        img = _flatten_to_rgb(img, notes)
    except ImageDecodeError:
        raise
    except Image.DecompressionBombError as exc:  # PIL's own guard fires in open() for the most extreme sizes
        raise ImageDecodeError(f"The image is too large to open safely; the limit is {MAX_UPLOAD_PIXELS / 1e6:.0f} MP.") from exc
    except UnidentifiedImageError as exc:
        raise ImageDecodeError("This file is not an image we can read (JPEG, PNG, WebP, BMP, GIF or TIFF).") from exc
    except (OSError, SyntaxError, ValueError, EOFError, struct.error, zlib.error, MemoryError) as exc:
        raise ImageDecodeError(f"The image is damaged or truncated and cannot be decoded ({exc}).") from exc
    original_size = (w, h)
    upright = (h, w) if orientation in (5, 6, 7, 8) else (w, h)
    if min(upright) < 8:
        raise ImageDecodeError(f"The image is only {upright[0]}x{upright[1]} pixels; it needs at least 8 on each side.")
    resized = False
    new_w, new_h = fitted_size(*upright, max_side, multiple_of)
    if (new_w, new_h) != img.size:
        if max(upright) > max_side:
            notes.append(f"shrunk from {upright[0]}x{upright[1]} to {new_w}x{new_h}")
        img = img.resize((new_w, new_h), Image.LANCZOS)
        resized = True
    return DecodedImage(img, original_size, original_mode, resized, notes)
