"""Dataset readers that hand training whole in-memory tensors, never per-image Python."""
from __future__ import annotations

import gzip
import hashlib
import os
import struct
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from .files import atomic_path

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp"}
FASHION_DEBIAN = Path("/usr/share/datasets/fashion-mnist")
CLASS_NAMES = {
    "mnist": [str(i) for i in range(10)],
    "fashion-mnist": ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"],
    "cifar10": ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"],
}
IDX_DATASETS = ("mnist", "fashion-mnist")
# Class-labelled image folders in torchvision's ImageFolder layout: root/{train,test}/<class>/<image>.
FOLDER_DATASETS = ("cifar10",)
LABELLED_DATASETS = IDX_DATASETS + FOLDER_DATASETS
NATIVE_SIZES = {"mnist": 28, "fashion-mnist": 28, "cifar10": 32}
# Bounds checked before anything is allocated for a folder: a decoded set must fit comfortably in memory.
MAX_DECODED_BYTES = 6 * 2**30
MAX_IMAGE_SIZE = 1024
MAX_CLASSES = 1000


class DatasetError(ValueError):
    """A dataset path that is missing or malformed, with what was expected."""


def default_root(dataset: str) -> Path:
    """Where the offline copies live: ../shared/data next to the repo, or Debian's Fashion-MNIST."""
    here = Path(__file__).resolve().parent.parent
    if dataset == "mnist":
        return here.parent / "shared" / "data" / "mnist"
    if dataset == "fashion-mnist":
        return FASHION_DEBIAN
    if dataset in ("horse2zebra",) + FOLDER_DATASETS:
        return here.parent / "shared" / "data" / dataset
    raise DatasetError(f"no default location for dataset '{dataset}'; pass --data-root")


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX file (gzip or raw) into a numpy array, checking the header against the size."""
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"IDX file not found: {path}")
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as fh:
            raw = fh.read()
    except (OSError, EOFError) as exc:
        raise DatasetError(f"cannot read {path}: {exc}") from exc
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise DatasetError(f"{path} is not an IDX file (bad magic)")
    dtype_code, ndim = raw[2], raw[3]
    dtypes = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
    if dtype_code not in dtypes:
        raise DatasetError(f"{path}: unknown IDX element type 0x{dtype_code:02x}")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DatasetError(f"{path}: truncated IDX header")
    dims = struct.unpack(f">{ndim}I", raw[4:header])
    data = np.frombuffer(raw, dtype=dtypes[dtype_code], offset=header)
    if data.size != int(np.prod(dims)):
        raise DatasetError(f"{path}: header says {dims} but the file holds {data.size} values")
    return data.reshape(dims)


def find_idx_file(root: Path, stem: str) -> Path:
    for name in (f"{stem}.gz", stem, stem.replace("-idx", ".idx")):
        if (root / name).is_file():
            return root / name
    raise DatasetError(f"{root} has no {stem}(.gz); expected the standard IDX files of MNIST / Fashion-MNIST")


def load_idx_dataset(root: str | os.PathLike, split: str = "train") -> tuple[torch.Tensor, torch.Tensor]:
    """(images uint8 N×1×28×28, labels int64) from an MNIST-style IDX folder."""
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"dataset folder not found: {root}")
    prefix = {"train": "train", "test": "t10k"}[split]
    images = read_idx(find_idx_file(root, f"{prefix}-images-idx3-ubyte"))
    labels = read_idx(find_idx_file(root, f"{prefix}-labels-idx1-ubyte"))
    if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
        raise DatasetError(f"{root}: images {images.shape} and labels {labels.shape} do not match")
    return torch.from_numpy(images.copy()).unsqueeze(1), torch.from_numpy(labels.astype(np.int64))


def _torchvision_fallback(dataset: str, root: Path, split: str):
    """torchvision's own folder layout (root/MNIST/raw/...) when a user downloaded it that way."""
    for sub in ("MNIST/raw", "FashionMNIST/raw"):
        if (root / sub).is_dir():
            return load_idx_dataset(root / sub, split)
    return None


def to_model_range(images_uint8: torch.Tensor, image_size: int | None = None) -> torch.Tensor:
    """uint8 NCHW -> float [-1,1], resized (bilinear, antialiased) once for the whole set."""
    x = images_uint8.float().div_(127.5).sub_(1.0)
    if image_size is not None and x.shape[-1] != image_size:
        x = torch.nn.functional.interpolate(x, size=(image_size, image_size), mode="bilinear", antialias=True, align_corners=False)
    return x.clamp_(-1, 1)


def load_labelled(dataset: str, root: str | os.PathLike | None = None, split: str = "train", image_size: int | None = None):
    """A labelled dataset's split as (images, labels): MNIST or Fashion-MNIST as float images in [-1,1]; a class-folder
    set (CIFAR-10) as uint8 images, scaled to [-1,1] batch by batch (to_float_images), so 50,000 colour images take
    150 MB instead of 600."""
    if dataset not in LABELLED_DATASETS:
        raise DatasetError(f"'{dataset}' is not a labelled dataset ({', '.join(LABELLED_DATASETS)})")
    root = Path(root) if root else default_root(dataset)
    if dataset in FOLDER_DATASETS:
        images, labels, _ = load_class_folder(split_folder(root, split), image_size or NATIVE_SIZES[dataset])
        return images, labels
    if not root.exists():
        hint = "apt-get install dataset-fashion-mnist" if dataset == "fashion-mnist" else "point --data-root at the IDX files"
        raise DatasetError(f"{dataset} not found at {root} ({hint})")
    try:
        images, labels = load_idx_dataset(root, split)
    except DatasetError:
        found = _torchvision_fallback(dataset, root, split)
        if found is None:
            raise
        images, labels = found
    return to_model_range(images, image_size), labels


def list_images(folder: str | os.PathLike) -> list[Path]:
    folder = Path(folder)
    if not folder.is_dir():
        raise DatasetError(f"image folder not found: {folder}")
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    if not files:
        raise DatasetError(f"{folder} holds no images ({', '.join(sorted(IMAGE_SUFFIXES))})")
    return files


def check_decoded_size(count: int, image_size: int, where: str | os.PathLike) -> None:
    """DatasetError before decoding a folder whose images would not fit the memory bound (or a silly size)."""
    if not 1 <= image_size <= MAX_IMAGE_SIZE:
        raise DatasetError(f"image size must be between 1 and {MAX_IMAGE_SIZE} px, not {image_size}")
    needed = count * 3 * image_size * image_size
    if needed > MAX_DECODED_BYTES:
        raise DatasetError(f"{where}: {count} images at {image_size} px would take {needed / 2**30:.1f} GiB decoded, over the "
                           f"{MAX_DECODED_BYTES / 2**30:.0f} GiB bound; use --max-images or a smaller --image-size")


def split_folder(root: str | os.PathLike, split: str) -> Path:
    """root/<split> of a class-folder dataset, with what was expected when it is missing."""
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"dataset folder not found: {root}")
    if not (root / split).is_dir():
        raise DatasetError(f"{root} has no '{split}' folder; a labelled image folder holds train/<class>/ and test/<class>/ "
                           "sub-folders of images")
    return root / split


def class_folders(folder: str | os.PathLike) -> list[Path]:
    """The class sub-folders of `folder`, sorted by name: a class's label is its position (torchvision's ImageFolder)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DatasetError(f"image folder not found: {folder}")
    classes = sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not classes:
        raise DatasetError(f"{folder} has no class sub-folders; a labelled image folder holds one folder of images per class")
    if len(classes) > MAX_CLASSES:
        raise DatasetError(f"{folder} has {len(classes)} sub-folders; at most {MAX_CLASSES} classes are supported")
    return classes


def load_class_folder(folder: str | os.PathLike, image_size: int | None = None, limit_per_class: int | None = None,
                      cache: bool = True) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    """(uint8 images N×3×S×S, int64 labels, class names) from folder/<class>/<image>, each class decoded once and
    cached by load_image_folder. Without `image_size` the first image's side is used (CIFAR-10's 32). The classes are
    interleaved (each class's first image, then each one's second, ...), so any leading slice (--max-images, an
    evaluation's first n test images) holds every class about equally."""
    classes = class_folders(folder)
    files = [list_images(c)[:limit_per_class] for c in classes]
    if image_size is None:
        try:
            with Image.open(files[0][0]) as img:
                image_size = max(img.size)
        except OSError as exc:
            raise DatasetError(f"cannot decode {files[0][0]}: {exc}") from exc
    check_decoded_size(sum(map(len, files)), image_size, folder)
    images = [load_image_folder(c, image_size, limit_per_class, cache) for c in classes]
    labels = torch.cat([torch.full((len(x),), i, dtype=torch.long) for i, x in enumerate(images)])
    rank = torch.cat([torch.arange(len(x)) for x in images])
    order = torch.argsort(rank * len(classes) + labels)
    return torch.cat(images)[order], labels[order], [c.name for c in classes]


MAX_CACHE_BYTES = 4 * 1024**3  # decoded image folders kept in the cache; the least recently used go first


def prune_cache(keep: Path | None = None, max_bytes: int = MAX_CACHE_BYTES) -> list[Path]:
    """Delete the least recently used folder-*.npy files until the cache holds at most `max_bytes` (never `keep`,
    the one just written); returns what was deleted."""
    files = []
    for path in _cache_dir().glob("folder-*.npy"):
        try:
            stat = path.stat()
        except OSError:
            continue
        files.append((stat.st_mtime, stat.st_size, path))
    total = sum(size for _, size, _ in files)
    removed = []
    for _, size, path in sorted(files):
        if total <= max_bytes:
            break
        if keep is not None and path == keep:
            continue
        path.unlink(missing_ok=True)
        total -= size
        removed.append(path)
    return removed


def _cache_dir() -> Path:
    return Path(os.environ.get("GANSTUDIO_CACHE", Path.home() / ".cache" / "ganstudio"))


def load_image_folder(folder: str | os.PathLike, image_size: int, limit: int | None = None, cache: bool = True) -> torch.Tensor:
    """Every image of a folder as one uint8 N×3×S×S tensor, decoded once and cached at that size.

    Grayscale and palette images are converted to RGB; the cache key covers the file list,
    sizes and mtimes, so changing the folder rebuilds it.
    """
    files = list_images(folder)[:limit]
    check_decoded_size(len(files), image_size, folder)
    key_src = "|".join(f"{p.resolve()}:{p.stat().st_size}:{p.stat().st_mtime_ns}" for p in files) + f"|{image_size}"
    key = hashlib.sha1(key_src.encode()).hexdigest()[:16]
    cache_file = _cache_dir() / f"folder-{key}.npy"
    if cache and cache_file.is_file():
        os.utime(cache_file)  # recently used: pruned last
        return torch.from_numpy(np.load(cache_file))
    out = np.empty((len(files), 3, image_size, image_size), dtype=np.uint8)
    for i, path in enumerate(files):
        try:
            with Image.open(path) as img:
                img = img.convert("RGB").resize((image_size, image_size), Image.BICUBIC)
                out[i] = np.asarray(img, dtype=np.uint8).transpose(2, 0, 1)
        except OSError as exc:
            raise DatasetError(f"cannot decode {path}: {exc}") from exc
    if cache:
        cache_file.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(cache_file, suffix=".tmp.npy") as tmp:
            np.save(tmp, out)
        prune_cache(keep=cache_file)
    return torch.from_numpy(out)


def labelled_root(root: str | os.PathLike, split: str = "train") -> Path | None:
    """Where an image folder keeps class sub-folders for `split` (root/<split>/<class>/ or root/<class>/), or None when
    it holds its images directly (an unlabelled folder)."""
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"image folder not found: {root}")
    if any(p.suffix.lower() in IMAGE_SUFFIXES and p.is_file() for p in root.iterdir()):
        return None
    return root / split if (root / split).is_dir() else root


def load_unpaired(root: str | os.PathLike, image_size: int, split: str = "train", limit: int | None = None):
    """(A, B) uint8 tensors from a CycleGAN folder with trainA/trainB/testA/testB."""
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"unpaired dataset folder not found: {root}")
    missing = [d for d in (f"{split}A", f"{split}B") if not (root / d).is_dir()]
    if missing:
        raise DatasetError(f"{root} lacks {', '.join(missing)}; an unpaired set needs trainA, trainB, testA, testB")
    return (
        load_image_folder(root / f"{split}A", image_size, limit),
        load_image_folder(root / f"{split}B", image_size, limit),
    )


def subset_per_class(labels: torch.Tensor, per_class: int, seed: int = 0) -> torch.Tensor:
    """Indices of `per_class` examples of each class, chosen reproducibly (SGAN's 100 labels)."""
    gen = torch.Generator().manual_seed(seed)
    picks = []
    for c in torch.unique(labels).tolist():
        idx = (labels == c).nonzero().flatten()
        if len(idx) < per_class:
            raise DatasetError(f"class {c} has only {len(idx)} examples; {per_class} were asked for")
        picks.append(idx[torch.randperm(len(idx), generator=gen)[:per_class]])
    return torch.cat(picks)
