"""Rebuild examples/: the small example sets shipped in the repository (see docs/examples.md).

    python scripts/make_examples.py [--data /path/to/shared/data]

3 horse and 3 zebra test photos of horse2zebra, re-encoded as JPEG at the highest quality that keeps each at most
40 KB, and the first 2 test digits of each class of MNIST (t10k IDX) as 28x28 grayscale PNGs named
<label>-t10k-<index>.png, so a fresh clone without ../shared has something to show.
"""
from __future__ import annotations

import argparse
import io
from pathlib import Path

from PIL import Image

from ganmodels.data import find_idx_file, read_idx

REPO = Path(__file__).resolve().parent.parent

PHOTOS = {"testA": ["n02381460_1030.jpg", "n02381460_1300.jpg", "n02381460_1920.jpg"],
          "testB": ["n02391049_1060.jpg", "n02391049_1880.jpg", "n02391049_2100.jpg"]}
MAX_PHOTO_BYTES = 40_000
DIGITS_PER_CLASS = 2


def small_jpeg(path: Path, limit: int = MAX_PHOTO_BYTES) -> bytes:
    with Image.open(path) as img:
        rgb = img.convert("RGB")
    for quality in range(92, 40, -2):
        buf = io.BytesIO()
        rgb.save(buf, "JPEG", quality=quality, optimize=True)
        if buf.tell() <= limit:
            return buf.getvalue()
    raise SystemExit(f"{path} does not fit in {limit} bytes at JPEG quality 42")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    p.add_argument("--out", type=Path, default=REPO / "examples")
    args = p.parse_args()
    for split, names in PHOTOS.items():
        folder = args.out / "horse2zebra" / split
        folder.mkdir(parents=True, exist_ok=True)
        for name in names:
            data = small_jpeg(args.data / "horse2zebra" / split / name)
            (folder / name).write_bytes(data)
            print(f"{folder / name}: {len(data):,} bytes")
    images = read_idx(find_idx_file(args.data / "mnist", "t10k-images-idx3-ubyte"))
    labels = read_idx(find_idx_file(args.data / "mnist", "t10k-labels-idx1-ubyte"))
    folder = args.out / "mnist"
    folder.mkdir(parents=True, exist_ok=True)
    for digit in range(10):
        for index in [int(i) for i in (labels == digit).nonzero()[0][:DIGITS_PER_CLASS]]:
            path = folder / f"{digit}-t10k-{index:05d}.png"
            Image.fromarray(images[index], mode="L").save(path, optimize=True)
            print(f"{path}: {path.stat().st_size} bytes")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
