"""A corpus of hostile or awkward uploads, built on the fly (nothing stored in the repository): every upload widget of
the app must answer each of them with a picture or a plain message, never a traceback, within bounded memory.

`hostile_corpus()` returns {file name: bytes}; the names carry the extension a browser would send. Used by
tests/test_public_demo.py (AppTest, every upload widget) and bench/abuse.py (a live server).
"""
from __future__ import annotations

import io
import struct
import zlib

import numpy as np
from PIL import Image

# The review's upload attack: a 16-bit PNG of 6320x6320 (40 MP, 78 KB) and a PNG whose pixels inflate to 400 MB.
BIG_16BIT_SIDE = 6320
BOMB_SIDE = 20_000


def _save(img: Image.Image, fmt: str, **kwargs) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **kwargs)
    return buf.getvalue()


def _photo(width: int, height: int, seed: int = 0) -> Image.Image:
    rng = np.random.default_rng(seed)
    arr = (rng.random((height, width, 3)) * 60 + np.linspace(0, 180, width)[None, :, None]).astype(np.uint8)
    return Image.fromarray(arr)


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def png_bomb(side: int = BOMB_SIDE) -> bytes:
    """A real grayscale PNG of side x side black pixels (400 MB decoded at 20,000 px), a few hundred KB on disk:
    every row is a filter byte and zeros, compressed in one stream."""
    compressor = zlib.compressobj(9)
    row = b"\0" * (side + 1)
    parts = [compressor.compress(row) for _ in range(side)]
    parts.append(compressor.flush())
    header = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header) + _png_chunk(b"IDAT", b"".join(parts))
            + _png_chunk(b"IEND", b""))


def big_16bit_png(side: int = BIG_16BIT_SIDE) -> bytes:
    """A flat 16-bit grayscale PNG (tens of KB) that decodes to side x side pixels of 2 bytes each."""
    compressor = zlib.compressobj(9)
    row = b"\0" + b"\x80\x00" * side
    parts = [compressor.compress(row) for _ in range(side)]
    parts.append(compressor.flush())
    header = struct.pack(">IIBBBBB", side, side, 16, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header) + _png_chunk(b"IDAT", b"".join(parts))
            + _png_chunk(b"IEND", b""))


def hostile_corpus() -> dict[str, bytes]:
    photo = _photo(96, 64)
    jpeg = _save(photo, "JPEG", quality=90)
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees to display
    frames = [_photo(48, 48, seed) for seed in range(3)]
    svg = (b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="100000" height="100000">'
           b'<rect width="100%" height="100%" fill="red"/></svg>')
    palette = photo.convert("P", palette=Image.Palette.ADAPTIVE, colors=16)
    return {
        "empty.png": b"",
        "text-as.jpg": b"This is a text file with a .jpg name.\n" * 20,
        "truncated.jpg": jpeg[: len(jpeg) // 2],
        "cmyk.jpg": _save(photo.convert("CMYK"), "JPEG", quality=90),
        "16-bit.png": _save(Image.fromarray((np.arange(64 * 96, dtype=np.uint16).reshape(64, 96) * 10)), "PNG"),
        "16-bit-6320.png": big_16bit_png(),
        "rgba.png": _save(photo.convert("RGBA"), "PNG"),
        "palette.png": _save(palette, "PNG", transparency=0),
        "animated.gif": _save(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0),
        "animated.png": _save(frames[0], "PNG", save_all=True, append_images=frames[1:], duration=100),
        "1x1.png": _save(Image.new("RGB", (1, 1), "white"), "PNG"),
        "panorama-6000x40.jpg": _save(_photo(6000, 40), "JPEG", quality=85),
        "exif-rotated.jpg": _save(photo, "JPEG", quality=90, exif=exif.tobytes()),
        "photo.webp": _save(photo, "WEBP"),
        "bomb.png": png_bomb(),
        "svg-named.png": svg,
    }


# What a visitor must see for each: a result ("ok") or the words of a plain refusal.
EXPECTED_IMAGE_OUTCOME = {
    "empty.png": "empty",
    "text-as.jpg": "not an image",
    "truncated.jpg": "damaged or truncated",
    "16-bit-6320.png": "the limit is",
    "1x1.png": "only 1x1 pixels",
    "bomb.png": "the limit is",
    "svg-named.png": "not an image",
}
