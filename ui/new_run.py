"""The training page's new-run form, kept free of Streamlit: what the form asks is checked (names, data, the
operator's caps, memory) before a process starts, the run is launched, and launches that have no run card yet
(still loading data, or failed) are listed with their logs."""
from __future__ import annotations

import json
import math
import os
import re
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from ganmodels.data import (FOLDER_DATASETS, IDX_DATASETS, NATIVE_SIZES, DatasetError, class_folders, default_root, find_idx_file,
                            list_images, split_folder)
from ganmodels.files import CARD_NAME
from ganmodels.registry import FAMILIES
from ganmodels.runs import pid_alive
from ui import run_launches
from ui.run_launches import LAUNCH_SUFFIX
from ui.run_progress import log_tail
from ui.server_limits import LimitError, Limits, check_data_root, check_training_memory


DATASETS = {"mnist": "MNIST digits", "fashion-mnist": "Fashion-MNIST clothes",
            "cifar10": "CIFAR-10 colour photos (32 px, 10 classes)", "image-folder": "A folder of images"}


RUN_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


MAX_STEPS = 1_000_000




class RunRequestError(ValueError):
    """A new-run form that cannot start, with a message fit to show a user."""


@dataclass
class TrainingRequest:
    family: str
    dataset: str
    steps: int
    name: str
    data_root: str | None = None
    snapshot_every: int | None = None
    small: bool = False
    image_size: int | None = None

    def extra_args(self) -> list[str]:
        """The command-line options beyond family, dataset, steps, name and data root."""
        out: list[str] = []
        if self.snapshot_every:
            out += ["--snapshot-every", str(self.snapshot_every)]
        if self.image_size:
            out += ["--image-size", str(self.image_size)]
        if self.small:
            for key, value in FAMILIES[self.family].small_arch.items():
                out += ["--arch", f"{key}={json.dumps(value, separators=(',', ':'))}"]
        return out


def suggest_run_name(family: str, dataset: str, runs_dir: str | os.PathLike) -> str:
    """`family-dataset-N` with the first N whose folder and log are free."""
    runs_dir = Path(runs_dir)
    for n in range(1, 10_000):
        name = f"{family}-{dataset}-{n}"
        if not (runs_dir / name).exists() and not (runs_dir / f"{name}{LAUNCH_SUFFIX}").exists():
            return name
    return f"{family}-{dataset}-{time.strftime('%Y%m%d-%H%M%S')}"


def validate_run_name(name: str, runs_dir: str | os.PathLike, checkpoints_dir: str | os.PathLike | None = None) -> str:
    """The stripped name, or RunRequestError saying what is wrong with it."""
    name = (name or "").strip()
    if not name:
        raise RunRequestError("Give the run a name.")
    if not RUN_NAME.match(name):
        raise RunRequestError(
            f"'{name}' is not a usable run name: use letters, digits, '-', '_' or '.', start with a letter or digit, "
            "at most 64 characters."
        )
    if (Path(runs_dir) / name).exists() or (Path(runs_dir) / f"{name}{LAUNCH_SUFFIX}").exists():
        raise RunRequestError(f"A run named '{name}' already exists in {runs_dir}; pick another name.")
    if checkpoints_dir is not None and (Path(checkpoints_dir) / name).exists():
        raise RunRequestError(f"A shipped checkpoint is already called '{name}'; pick another name.")
    return name


def _idx_present(root: Path, splits: tuple[str, ...]) -> None:
    """The IDX files of each split exist under root (or torchvision's layout below it)."""
    candidates = [root] + [root / sub for sub in ("MNIST/raw", "FashionMNIST/raw")]
    for split in splits:
        prefix = {"train": "train", "test": "t10k"}[split]
        for stem in (f"{prefix}-images-idx3-ubyte", f"{prefix}-labels-idx1-ubyte"):
            errors = []
            for folder in candidates:
                try:
                    find_idx_file(folder, stem)
                    break
                except DatasetError as exc:
                    errors.append(exc)
            else:
                raise errors[0]


def check_dataset(family: str, dataset: str, data_root: str | None) -> Path:
    """Where the data would be read from, after checking it is there and suits the family."""
    fam = FAMILIES[family]
    try:
        if fam.translator:
            if dataset != "image-folder":
                raise DatasetError("CycleGAN learns from two folders of photos: choose 'A folder of images' as the dataset "
                                   "and give a folder holding trainA and trainB.")
            root = Path(data_root) if data_root else default_root("horse2zebra")
            if not root.is_dir():
                raise DatasetError(f"image folder not found: {root}")
            for sub in ("trainA", "trainB"):
                list_images(root / sub)
            return root
        if dataset == "image-folder":
            if fam.needs_labels:
                raise DatasetError(f"{fam.title} needs class labels: choose MNIST, Fashion-MNIST or CIFAR-10.")
            if not data_root:
                raise DatasetError("Give the folder that holds the images.")
            list_images(data_root)
            return Path(data_root)
        root = Path(data_root) if data_root else default_root(dataset)
        if dataset in FOLDER_DATASETS:
            if not root.is_dir():
                raise DatasetError(f"{DATASETS[dataset]} not found at {root}; give the folder that holds train/<class>/ "
                                   "and test/<class>/ sub-folders of images (see the README)")
            for split in fam.data_splits:
                for folder in class_folders(split_folder(root, split)):
                    list_images(folder)
            return root
        if not root.is_dir():
            hint = " (on Debian: apt-get install dataset-fashion-mnist)" if dataset == "fashion-mnist" else ""
            raise DatasetError(f"{DATASETS[dataset]} not found at {root}{hint}; give the folder with its IDX files")
        _idx_present(root, fam.data_splits)
        return root
    except DatasetError as exc:
        raise RunRequestError(f"The training data is not usable: {exc}") from exc


def validate_request(family: str, dataset: str, steps: int, name: str, runs_dir: str | os.PathLike,
                     data_root: str | None = None, snapshot_every: int | None = None, small: bool = False,
                     image_size: int | None = None, checkpoints_dir: str | os.PathLike | None = None,
                     limits: Limits | None = None) -> TrainingRequest:
    """Everything the form asks, checked before a process is started; RunRequestError says what to fix. With the
    operator's `limits`, also the most steps and snapshots, the allowed data folders (checked before the folder is
    looked at, so a refusal reveals nothing about paths outside them) and the memory the run would need."""
    if family not in FAMILIES:
        raise RunRequestError(f"Unknown model family '{family}'.")
    if dataset not in DATASETS:
        raise RunRequestError(f"Unknown dataset '{dataset}'.")
    if not 1 <= int(steps) <= MAX_STEPS:
        raise RunRequestError(f"Steps must be between 1 and {MAX_STEPS:,}.")
    if snapshot_every and not 1 <= int(snapshot_every) <= int(steps):
        raise RunRequestError("Snapshots must come at most every 'steps' steps (0 picks eight evenly spaced ones).")
    if image_size and (int(image_size) < 16 or int(image_size) % 4):
        raise RunRequestError("The image size must be a multiple of 4, at least 16.")
    name = validate_run_name(name, runs_dir, checkpoints_dir)
    data_root = (data_root or "").strip() or None
    if limits is not None:
        check_capped(family, dataset, int(steps), int(snapshot_every or 0), data_root, limits)
    check_dataset(family, dataset, data_root)
    if limits is not None:
        try:
            arch, size = request_arch(family, dataset, image_size, small)
            check_training_memory(family, dataset, data_root, size, arch, limits)
        except LimitError as exc:
            raise RunRequestError(str(exc)) from None
    return TrainingRequest(family, dataset, int(steps), name, data_root, int(snapshot_every or 0) or None, bool(small),
                           int(image_size or 0) or None)


def check_capped(family: str, dataset: str, steps: int, snapshot_every: int, data_root: str | None, limits: Limits) -> None:
    """The operator's caps on steps, snapshots and data folders (server_limits.Limits)."""
    if steps > limits.max_steps:
        raise RunRequestError(f"This server trains at most {limits.max_steps:,} steps per run.")
    snapshots = math.ceil(steps / snapshot_every) if snapshot_every else 8
    if snapshots > limits.max_snapshots:
        raise RunRequestError(f"A snapshot every {snapshot_every:,} steps makes {snapshots:,} snapshots; this server keeps at "
                              f"most {limits.max_snapshots} per run (a snapshot every {math.ceil(steps / limits.max_snapshots):,} "
                              "steps or more).")
    try:
        check_data_root(data_root, limits)
    except LimitError as exc:
        raise RunRequestError(str(exc)) from None


def request_arch(family: str, dataset: str, image_size: int | None, small: bool) -> tuple[dict, int]:
    """(the architecture a run of the form would build, its image size), as ganmodels.train chooses them."""
    fam = FAMILIES[family]
    channels = 1 if dataset in IDX_DATASETS else 3
    size = int(image_size or 0) or (128 if fam.translator else NATIVE_SIZES.get(dataset, 64))
    arch = {**fam.default_arch(size, channels, 10), **(fam.small_arch if small else {})}
    return arch, size


def launch(request: TrainingRequest, runs_dir: str | os.PathLike, limits=None, owner: str | None = None) -> subprocess.Popen:
    """Start the run as a background process (run_launches.launch: the name is claimed by creating its folder
    exclusively, under the operator's caps when `limits` are given); RunRequestError says why it cannot start."""
    try:
        return run_launches.launch(request, runs_dir, limits, owner)
    except LimitError as exc:
        raise RunRequestError(str(exc)) from None
    except FileExistsError:
        raise RunRequestError(f"A run named '{request.name}' already exists; pick another name.") from None


def process_running(pid: int) -> bool:
    """True while the process lives; our own children are polled so they are reaped, not left as zombies."""
    ours = run_launches.process_running(pid)
    return pid_alive(pid) if ours is None else ours


def reap_children() -> None:
    """Collect exit codes of runs this server started, so none lingers as a zombie."""
    run_launches.reap()


@dataclass
class PendingLaunch:
    """A run started from the page whose folder has no card yet: still loading data, or failed before training."""

    name: str
    state: str  # starting | failed
    started: float
    log: Path

    @property
    def log_tail(self) -> str:
        return log_tail(self.log) or ""


def pending_launches(runs_dir: str | os.PathLike) -> list[PendingLaunch]:
    """Launch notes without a run card: what the page should show besides list_runs."""
    runs_dir = Path(runs_dir)
    if not runs_dir.is_dir():
        return []
    out = []
    for note_path in sorted(runs_dir.glob(f"*{LAUNCH_SUFFIX}")):
        name = note_path.name[: -len(LAUNCH_SUFFIX)]
        if (runs_dir / name / CARD_NAME).is_file():
            continue
        try:
            note = json.loads(note_path.read_text())
        except (OSError, json.JSONDecodeError):
            continue
        state = "starting" if process_running(int(note.get("pid", -1))) else "failed"
        out.append(PendingLaunch(name, state, float(note.get("started", 0)), runs_dir / f"{name}.log"))
    return out


def dismiss_launch(runs_dir: str | os.PathLike, name: str) -> None:
    """Forget a failed launch (its log stays for reference until the name is reused) and free its name."""
    (Path(runs_dir) / f"{name}{LAUNCH_SUFFIX}").unlink(missing_ok=True)
    try:
        (Path(runs_dir) / name).rmdir()  # the folder launch claimed, left empty by a run that never began
    except OSError:
        pass
