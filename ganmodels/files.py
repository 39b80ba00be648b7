"""The names of the files a run or model folder holds, and the one way this project writes a file that someone else
may be reading (the app reads a run's status and card while the trainer rewrites them)."""
from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

# A run folder (runs/<name>) and a shipped model folder (checkpoints/<id>) hold these.
CARD_NAME = "card.json"  # what the model is and how it was made (ganmodels.cards)
STATE_NAME = "state.pt"  # nets, optimizers, data cursor and RNG: what --resume continues from (runs only)
LOSSES_NAME = "losses.csv"  # one row per step
STATUS_NAME = "status.json"  # the live step, speed and losses for viewers (runs only)
FIXED_NAME = "fixed_inputs.safetensors"  # the noise of the progress grids
GRIDS_DIR = "grids"  # one progress grid per snapshot
SNAPSHOTS_DIR = "snapshots"  # one generator per snapshot


def snapshot_tag(step: int) -> str:
    """The stem of a snapshot's grid and weights files: zero-padded so the files sort by step."""
    return f"step_{step:07d}"


def snapshot_weights(step: int) -> str:
    """Where a run or model folder keeps the generator of the snapshot at `step`, relative to the folder."""
    return f"{SNAPSHOTS_DIR}/{snapshot_tag(step)}.safetensors"


def snapshot_grid(step: int) -> str:
    """Where a run folder keeps the progress grid of the snapshot at `step` (publish may re-encode it as .jpg)."""
    return f"{GRIDS_DIR}/{snapshot_tag(step)}.png"


@contextmanager
def atomic_path(path: str | os.PathLike, suffix: str = ".tmp") -> Iterator[Path]:
    """A temporary path beside `path` for a writer that wants a file name (torch.save, safetensors, np.save: give
    suffix ".tmp.npy", which it would otherwise append); it replaces `path` in one step when the block ends, so
    a reader never sees half a file, and is removed if the block fails."""
    path = Path(path)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.{threading.get_ident()}{suffix}")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def atomic_write(path: str | os.PathLike, data: bytes | str) -> Path:
    """Write bytes, or text as UTF-8, to `path` atomically (see atomic_path)."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data.encode() if isinstance(data, str) else data)
    return Path(path)


def atomic_write_json(path: str | os.PathLike, obj, indent: int | None = 1, **dumps_kwargs) -> Path:
    """`obj` as JSON (indented one space, a newline at the end), written atomically."""
    return atomic_write(path, json.dumps(obj, indent=indent, **dumps_kwargs) + "\n")


def card_or_file(path: str | os.PathLike) -> Path:
    """The file that changes when a model changes: a folder's card, or the weights file itself."""
    path = Path(path)
    return path / CARD_NAME if path.is_dir() else path


def modified_ns(path: str | os.PathLike) -> int:
    """When a model (folder or file) last changed, for cache keys: its card's or file's mtime in nanoseconds, 0 when
    it is gone."""
    try:
        return card_or_file(path).stat().st_mtime_ns
    except OSError:
        return 0
