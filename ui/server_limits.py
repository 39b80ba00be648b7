"""What one visitor may ask a shared server for: training-launch caps, the data folders training may read, the
memory a launch would need and the disk runs use, all checked before anything is allocated.

The numbers are the operator's (ui.access reads them from secrets.toml or the environment); the defaults keep a
laptop responsive while one small run trains. The weight bound itself is the library's (ganmodels.limits), as
checkpoint loading checks it too.
"""
from __future__ import annotations

import gzip
import os
import struct
from dataclasses import dataclass, fields
from pathlib import Path

from ganmodels.data import FASHION_DEBIAN, FOLDER_DATASETS, IMAGE_SUFFIXES, default_root, find_idx_file
from ganmodels.limits import MAX_WEIGHTS, weight_count
from ganmodels.registry import FAMILIES


MB = 1024 * 1024


# Bytes per weight while training: the weight, its gradient and Adam's two moments, in float32.
TRAINING_BYTES_PER_WEIGHT = 16


class LimitError(ValueError):
    """A request over one of the operator's limits, with a message fit to show a visitor."""


@dataclass(frozen=True)
class Limits:
    """Caps on training launches from the app (the command line is not capped)."""

    max_concurrent_runs: int = 1  # server-wide, runs started from the app and still going
    max_steps: int = 20_000
    max_snapshots: int = 20  # per run
    run_disk_mb: int = 500  # one run's folder; a run that grows past it is stopped (its state is saved)
    all_runs_disk_mb: int = 2_000  # the whole runs folder; no launch while it is over
    memory_mb: int = 4_096  # training data in memory plus the nets' weights, gradients and optimizer state
    data_roots: tuple[str, ...] = ()  # folders (and everything below) a run may read; empty: the bundled data only

    @classmethod
    def from_settings(cls, settings: dict) -> "Limits":
        """Limits from a mapping of setting names (as the fields) to values; unknown or malformed entries raise
        LimitError naming them, so an operator's typo is not silently ignored."""
        out = {}
        for f in fields(cls):
            if f.name not in settings or settings[f.name] in (None, ""):
                continue
            value = settings[f.name]
            if f.name == "data_roots":
                items = value.split(os.pathsep) if isinstance(value, str) else value
                if not isinstance(items, (list, tuple)) or not all(isinstance(v, str) for v in items):
                    raise LimitError(f"data_roots must be a list of folders, not {value!r}")
                out[f.name] = tuple(v for v in items if v.strip())
                continue
            text = str(value).strip()
            if not (text.isascii() and text.isdecimal()) or int(text) < 1:
                raise LimitError(f"the limit {f.name} must be a whole number of at least 1, not {value!r}")
            out[f.name] = int(text)
        return cls(**out)

    def allowed_roots(self) -> list[Path]:
        """Where training data may come from: the bundled copies' folders and the operator's list, resolved."""
        bundled = [default_root("mnist").parent, FASHION_DEBIAN.parent]
        return [_resolved(p) for p in [*bundled, *map(Path, self.data_roots)]]


def _resolved(path: Path) -> Path:
    return Path(os.path.realpath(os.path.expanduser(str(path))))


def check_data_root(data_root: str | None, limits: Limits) -> None:
    """Refuse a data folder outside the allowed roots without looking at it, so the answer says nothing about
    whether such a path exists. Symlinks are resolved first, so a link inside a root cannot lead out of it."""
    if not data_root:
        return
    if "\x00" in data_root or len(data_root) > 4096:
        raise LimitError("That is not a folder name this server accepts.")
    target = _resolved(Path(data_root))
    roots = limits.allowed_roots()
    if not any(target == root or root in target.parents for root in roots):
        listed = ", ".join(f"`{r}`" for r in roots)
        raise LimitError(f"Training data must come from inside a folder this server allows ({listed}). "
                         "The operator can add folders with the data_roots setting (see the README).")


# --- memory a launch would need -------------------------------------------------------------------

def idx_count(root: Path, stem: str) -> int:
    """The number of items an IDX file holds, read from its header alone."""
    path = find_idx_file(root, stem)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as fh:
        head = fh.read(8)
    if len(head) < 8:
        return 0
    return struct.unpack(">I", head[4:8])[0]


def image_count(folder: Path, cap: int = 1_000_000) -> int:
    """Images directly in a folder (what data.list_images would find), counted without listing them all at once."""
    n = 0
    with os.scandir(folder) as entries:
        for entry in entries:
            if Path(entry.name).suffix.lower() in IMAGE_SUFFIXES:
                n += 1
                if n >= cap:
                    break
    return n


def check_weight_count(family: str, arch: dict, source: str, discriminator: bool = False) -> int:
    """The weight count, or LimitError when it is over MAX_WEIGHTS (a card asking for ngf=100000, say)."""
    try:
        count = weight_count(family, arch, discriminator)
    except (KeyError, ValueError, TypeError, RuntimeError) as exc:
        raise LimitError(f"The architecture of {source} cannot be built: {exc}") from None
    if count > MAX_WEIGHTS:
        raise LimitError(f"The architecture of {source} has {count:,} weights; this server loads at most {MAX_WEIGHTS:,}.")
    return count


def data_bytes(family: str, dataset: str, data_root: str | None, image_size: int) -> int:
    """Bytes the training data take in memory at `image_size`, as ganmodels.train loads them (float32 for MNIST-style
    sets, which are converted from 28 px in one piece; uint8 for image folders; both CycleGAN folders at their load
    size)."""
    fam = FAMILIES[family]
    if fam.translator:
        from ganmodels.families.cyclegan import load_size

        root = Path(data_root) if data_root else default_root("horse2zebra")
        side = load_size(image_size)
        count = sum(image_count(root / sub) for sub in ("trainA", "trainB") if (root / sub).is_dir())
        return count * 3 * side * side
    if dataset == "image-folder":
        return image_count(Path(data_root)) * 3 * image_size * image_size if data_root else 0
    root = Path(data_root) if data_root else default_root(dataset)
    if dataset in FOLDER_DATASETS:  # class folders (CIFAR-10): <split>/<class>/ images, kept as uint8 RGB
        count = 0
        for split in fam.data_splits:
            if (root / split).is_dir():
                count += sum(image_count(c) for c in (root / split).iterdir() if c.is_dir())
        return count * 3 * image_size * image_size
    count = 0
    for split in fam.data_splits:
        prefix = "train" if split == "train" else "t10k"
        for folder in (root, root / "MNIST" / "raw", root / "FashionMNIST" / "raw"):
            try:
                count += idx_count(folder, f"{prefix}-images-idx3-ubyte")
                break
            except Exception:  # noqa: BLE001 - a missing or odd file is check_dataset's to explain
                continue
    return count * 4 * (28 * 28 + image_size * image_size)


def check_training_memory(family: str, dataset: str, data_root: str | None, image_size: int, arch: dict,
                          limits: Limits) -> int:
    """Estimated bytes (data plus nets with their training state); LimitError when over the memory limit, naming
    the largest image size that would fit."""
    weights = check_weight_count(family, arch, "this run", discriminator=True)
    need = data_bytes(family, dataset, data_root, image_size) + weights * TRAINING_BYTES_PER_WEIGHT
    budget = limits.memory_mb * MB
    if need <= budget:
        return need
    fitting = next((s for s in range(image_size - 4, 15, -4)
                    if data_bytes(family, dataset, data_root, s) + weights * TRAINING_BYTES_PER_WEIGHT <= budget), None)
    hint = f" An image size of {fitting} px or less fits." if fitting else ""
    raise LimitError(f"At {image_size} px this run would need about {need / 2**30:.1f} GB of memory; this server allows "
                     f"{limits.memory_mb / 1024:.1f} GB per run.{hint}")


# --- disk -----------------------------------------------------------------------------------------

def folder_bytes(folder: str | os.PathLike) -> int:
    """Bytes of the files under a folder (symlinks not followed); 0 when it does not exist."""
    total = 0
    stack = [Path(folder)]
    while stack:
        try:
            with os.scandir(stack.pop()) as entries:
                for entry in entries:
                    try:
                        if entry.is_dir(follow_symlinks=False):
                            stack.append(Path(entry.path))
                        elif entry.is_file(follow_symlinks=False):
                            total += entry.stat(follow_symlinks=False).st_size
                    except OSError:
                        continue
        except OSError:
            continue
    return total
