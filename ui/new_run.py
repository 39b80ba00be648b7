"""What the training-progress, CycleGAN and SGAN pages compute, kept free of Streamlit.

The new-run form's validation and launch bookkeeping, run logs and snapshot tables, the
translation cache key and example folders, and MNIST-style digit preprocessing live here so
they are tested without a browser.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import re
import subprocess
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from .cards import CARD_NAME, ModelCard
from .checkpoint import LoadedModel
from .data import DatasetError, default_root, find_idx_file, list_images
from .families.cyclegan import load_size as cyclegan_load_size
from .images import from_pil
from .limits import Limits, LimitError, check_data_root, check_training_memory
from .registry import FAMILIES
from . import launches
from .launches import LAUNCH_SUFFIX
from .runs import pid_alive

# --- the new-run form ------------------------------------------------------------------------

DATASETS = {"mnist": "MNIST digits", "fashion-mnist": "Fashion-MNIST clothes", "image-folder": "A folder of images"}
RUN_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
MAX_STEPS = 1_000_000
# Architectures that train in minutes on a laptop CPU, for trying the studio out.
SMALL_ARCH: dict[str, dict] = {
    "mlp": {"g_hidden": [128, 256], "d_hidden": [256, 128]},
    "dcgan": {"ngf": 16, "ndf": 16},
    "cgan": {"ngf": 16, "ndf": 16},
    "acgan": {"ngf": 16, "ndf": 16},
    "infogan": {"ngf": 16, "ndf": 16},
    "wgan_gp": {"ngf": 16, "ndf": 16},
    "sgan": {"g_hidden": 128, "d_hidden": [256, 128, 64]},
    "cyclegan": {"ngf": 16, "ndf": 16, "n_blocks": 3},
}


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
            for key, value in SMALL_ARCH.get(self.family, {}).items():
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
            if fam.conditional or family == "sgan":
                raise DatasetError(f"{fam.title} needs class labels: choose MNIST or Fashion-MNIST.")
            if not data_root:
                raise DatasetError("Give the folder that holds the images.")
            list_images(data_root)
            return Path(data_root)
        root = Path(data_root) if data_root else default_root(dataset)
        if not root.is_dir():
            hint = " (on Debian: apt-get install dataset-fashion-mnist)" if dataset == "fashion-mnist" else ""
            raise DatasetError(f"{DATASETS[dataset]} not found at {root}{hint}; give the folder with its IDX files")
        _idx_present(root, ("train", "test") if family == "sgan" else ("train",))
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
    """The operator's caps on steps, snapshots and data folders (limits.Limits)."""
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
    channels = 1 if dataset in ("mnist", "fashion-mnist") else 3
    size = int(image_size or 0) or (128 if fam.translator else 28 if dataset in ("mnist", "fashion-mnist") else 64)
    arch = {**fam.default_arch(size, channels, 10), **(SMALL_ARCH.get(family, {}) if small else {})}
    return arch, size


def launch(request: TrainingRequest, runs_dir: str | os.PathLike, limits=None, owner: str | None = None) -> subprocess.Popen:
    """Start the run as a background process (launches.launch: the name is claimed by creating its folder
    exclusively, under the operator's caps when `limits` are given); RunRequestError says why it cannot start."""
    try:
        return launches.launch(request, runs_dir, limits, owner)
    except launches.LimitError as exc:
        raise RunRequestError(str(exc)) from None
    except FileExistsError:
        raise RunRequestError(f"A run named '{request.name}' already exists; pick another name.") from None


def process_running(pid: int) -> bool:
    """True while the process lives; our own children are polled so they are reaped, not left as zombies."""
    ours = launches.process_running(pid)
    return pid_alive(pid) if ours is None else ours


def reap_children() -> None:
    """Collect exit codes of runs this server started, so none lingers as a zombie."""
    launches.reap()


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


# --- run folders -------------------------------------------------------------------------

def run_log_path(folder: str | os.PathLike) -> Path:
    """runs/<name>.log, where runs.start_training sends the process output."""
    folder = Path(folder)
    return folder.parent / f"{folder.name}.log"


def log_tail(path: str | os.PathLike, lines: int = 40, max_bytes: int = 65536) -> str | None:
    """The last lines of a log (read from its end, so a huge log costs nothing), or None when there is none."""
    path = Path(path)
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - max_bytes))
            raw = fh.read()
    except OSError:
        return None
    text = raw.decode("utf-8", errors="replace").replace("\r", "\n")
    kept = deque((ln for ln in text.split("\n") if ln.strip()), maxlen=lines)
    return "\n".join(kept)


def live_status(folder: str | os.PathLike) -> dict:
    """status.json of a run ({} when absent or being rewritten)."""
    try:
        data = json.loads((Path(folder) / "status.json").read_text())
    except (OSError, json.JSONDecodeError):
        return {}
    return data if isinstance(data, dict) else {}


def progress(card: ModelCard, status: dict) -> tuple[float, str]:
    """Share done and a line such as 'step 1,200 of 3,000 · 410 images/s · about 4 min left'."""
    step = int(status.get("step") or card.training.get("steps_done") or 0)
    if status.get("planning") or card.training.get("planned") is False:
        return _planning_progress(card, status, step)
    total = int(status.get("total_steps") or card.training.get("total_steps") or 0)
    if total <= 0:
        return 0.0, f"step {step:,}"
    parts = [f"step {step:,} of {total:,}"]
    rate = status.get("images_per_s")
    hp = card.training.get("hparams", {})
    per_step = int(hp.get("batch_size", 0) or 0) * int(hp.get("n_critic", 1) or 1)
    if isinstance(rate, (int, float)) and rate > 0 and math.isfinite(rate):
        parts.append(f"{rate:,.0f} images/s")
        if per_step and step < total:
            parts.append(f"about {format_duration((total - step) * per_step / rate)} left")
    return min(1.0, max(0.0, step / total)), " · ".join(parts)


def _planning_progress(card: ModelCard, status: dict, step: int) -> tuple[float, str]:
    """A time-boxed run (train --minutes) before it has fixed its step count: progress by the clock."""
    minutes = card.training.get("minutes")
    plan = f"measuring its speed to plan a {minutes:g}-minute run" if isinstance(minutes, (int, float)) else "measuring its speed"
    parts = [f"step {step:,}", plan]
    started, ends = status.get("started_at"), status.get("ends_at")
    if not all(isinstance(t, (int, float)) and math.isfinite(t) for t in (started, ends)) or ends <= started:
        return 0.0, " · ".join(parts)
    now = time.time()
    parts.append(f"about {format_duration(ends - now)} left")
    return min(1.0, max(0.0, (now - started) / (ends - started))), " · ".join(parts)


def format_duration(seconds: float) -> str:
    seconds = max(0, int(seconds))
    if seconds < 90:
        return f"{seconds} s"
    if seconds < 5400:
        return f"{round(seconds / 60)} min"
    return f"{seconds / 3600:.1f} h"


def training_commands(card: ModelCard) -> str | None:
    """The commands that trained this model, the start and then each resume, as one shell snippet to rerun; for a
    model published after the checkpoint it started from (publish --history-from), that checkpoint's first; for one
    that ships a mean of snapshots (publish --average-from), the commands that chose the window and made the mean."""
    snippet = _commands(card.training)
    average = card.training.get("weights_average")
    if snippet and isinstance(average, dict) and average.get("command"):
        windows = card.training.get("average_windows", {}).get("command")
        snippet += f"\n# then the mean of the snapshots from step {average['from_step']} to {average['to_step']} ships:"
        snippet += "".join(f"\n{c}" for c in (windows, average["command"]) if c)
    return snippet


def _commands(training: dict) -> str | None:
    command = training.get("command")
    if not command:
        return None
    lines = [command]
    for resume in training.get("resumed_by", []):
        lines += [f"# then, from step {resume['from_step']}:", resume["command"]]
    earlier = training.get("history_from")
    before = _commands(earlier.get("training", {})) if isinstance(earlier, dict) else None
    if before:
        lines = [before, f"# then a new run from that step-{earlier.get('steps')} generator, published in its place:", *lines]
    return "\n".join(lines)


def snapshots(card: ModelCard) -> list[dict]:
    """The card's snapshots in step order."""
    return sorted((s for s in card.snapshots if isinstance(s, dict) and "step" in s), key=lambda s: int(s["step"]))


def snapshot_rows(card: ModelCard) -> list[dict]:
    """One row per snapshot: step, epoch and its numeric metrics (for a table and a chart)."""
    rows = []
    for snap in snapshots(card):
        row = {"step": int(snap["step"]), "epoch": snap.get("epoch")}
        for key, value in (snap.get("metrics") or {}).items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                row[key] = value
        rows.append(row)
    return rows


def metric_keys(rows: list[dict]) -> list[str]:
    keys: list[str] = []
    for row in rows:
        keys += [k for k in row if k not in ("step", "epoch") and k not in keys]
    return keys


def loss_thinning(steps_done: int, max_points: int = 4000) -> int:
    """Keep every n-th loss row so a long run plots quickly."""
    return max(1, math.ceil(max(0, int(steps_done)) / max_points))


# --- CycleGAN ----------------------------------------------------------------------------------

def translation_key(data: bytes, direction: str, max_side: int, model_key: str, blend: bool = True) -> str:
    """Identifies one translation: the same file, direction, size, way (scale blend or direct) and model are never
    recomputed."""
    h = hashlib.sha256(data)
    h.update(f"|{direction}|{max_side}|{model_key}|{'blend' if blend else 'direct'}".encode())
    return h.hexdigest()


TRANSLATION_SIZES = (256, 320, 384, 448, 512, 640, 768, 896, 1024)


def training_sides(card: ModelCard) -> tuple[int, int]:
    """The sides photos had before the crop in training: one size in upstream's recipe, a span with `scale_range`."""
    scale_range = card.training.get("hparams", {}).get("scale_range")
    largest = cyclegan_load_size(card.image_size, scale_range)
    return (int(min(scale_range)) if scale_range else largest), largest


DEFAULT_TRANSLATION_SIDE = 512  # keeps a phone photo's detail; about a second on 2 CPU cores, the way back included


def translation_sizes(card: ModelCard) -> tuple[list[int], int]:
    """(choices for the longest side, default). Scale blend keeps the training scale's effect on larger photos, so the
    default is a side that keeps a photo's detail (or the largest scale the model trained at, if that is larger)."""
    native = training_sides(card)[1]
    return sorted({native, *TRANSLATION_SIZES}), max(native, DEFAULT_TRANSLATION_SIDE)


def direction_label(card: ModelCard, direction: str) -> str:
    """'a2b' -> 'horse → zebra' with the card's domain names."""
    domains = {"a": "A", "b": "B", **(card.arch.get("domains") or {})}
    src, dst = direction.split("2")
    return f"{domains[src]} → {domains[dst]}"


def available_directions(model: LoadedModel) -> list[str]:
    """The card's directions that the loaded checkpoint really holds a generator for, A→B first."""
    listed = model.card.arch.get("directions") or ["a2b", "b2a"]
    held = set(model.generator.keys()) if hasattr(model.generator, "keys") else set(listed)
    return [d for d in ("a2b", "b2a") if d in listed and d in held]


# Small example sets shipped in the repository (docs/examples.md), for a clone without ../shared/data.
EXAMPLES_ROOT = Path(__file__).resolve().parent.parent / "examples"


def example_folder(card: ModelCard, direction: str) -> Path:
    """testA (for A→B) or testB (for B→A) of the card's dataset root, else of the default horse2zebra copy, else of
    the few test photos shipped in examples/ (horse2zebra only: other photo pairs have none)."""
    split = "testA" if direction == "a2b" else "testB"
    root = card.dataset.get("root")
    root = Path(root) if root and Path(root).is_dir() else default_root("horse2zebra")
    bundled = EXAMPLES_ROOT / "horse2zebra" / split
    if not (root / split).is_dir() and card.dataset.get("name", "horse2zebra") == "horse2zebra" and bundled.is_dir():
        return bundled
    return root / split


def example_images(card: ModelCard, direction: str, limit: int = 24) -> list[Path]:
    """The first `limit` images of the example folder ([] when it does not exist)."""
    try:
        return list_images(example_folder(card, direction))[:limit]
    except DatasetError:
        return []


def bundled_digits(dataset: str, image_size: int = 28) -> tuple[torch.Tensor, torch.Tensor] | None:
    """The MNIST test digits shipped in examples/mnist (two per class) as classifier inputs N×1×S×S in [-1, 1] and
    their labels, read from file names `<label>-t10k-<index>.png`; None for other datasets or when absent."""
    folder = EXAMPLES_ROOT / dataset
    if dataset != "mnist" or not folder.is_dir():
        return None
    images, labels = [], []
    for path in sorted(folder.glob("*-t10k-*.png")):
        label = path.name.split("-", 1)[0]
        if not label.isdigit():
            continue
        try:
            with Image.open(path) as img:
                images.append(digit_tensor(img.convert("L"), image_size))
        except OSError:
            continue
        labels.append(int(label))
    if not images:
        return None
    return torch.cat(images), torch.tensor(labels, dtype=torch.long)


# --- SGAN: digits as MNIST made them ------------------------------------------------------------

class DigitError(ValueError):
    """An image that holds no digit we can find, with a message fit to show a user."""


def mnist_style(image: Image.Image, box: int = 20, size: int = 28, ink_threshold: float = 0.2) -> Image.Image:
    """A photo or drawing of a digit as an MNIST image: white ink on black, 28x28.

    As MNIST was made: dark-on-light images are inverted, the digit is cropped to its ink,
    scaled (keeping its aspect) to fit a 20x20 box with anti-aliasing, and placed in 28x28 so
    its centre of mass sits at the centre.
    """
    gray = np.asarray(image.convert("L"), dtype=np.float32) / np.float32(255.0)  # float32: no float64 image copies
    if gray.ndim != 2 or min(gray.shape) < 2:
        raise DigitError("The image is too small to hold a digit.")
    border = np.concatenate([gray[0], gray[-1], gray[:, 0], gray[:, -1]])
    background = float(np.median(border))
    if background > 0.5:  # dark ink on light paper: MNIST digits are light on dark
        gray, background = 1.0 - gray, 1.0 - background
    ink = np.clip(gray - background, 0.0, None)
    peak = float(ink.max())
    if peak < 0.15:
        raise DigitError("No digit found: the image has no strokes that stand out from its background.")
    ink /= peak
    ink[ink < ink_threshold] = 0.0  # paper texture and shadows
    rows, cols = np.nonzero(ink)
    crop = ink[rows.min(): rows.max() + 1, cols.min(): cols.max() + 1]
    h, w = crop.shape
    scale = box / max(h, w)
    new_w, new_h = max(1, round(w * scale)), max(1, round(h * scale))
    patch_img = Image.fromarray((crop * 255).round().astype(np.uint8), mode="L").resize((new_w, new_h), Image.LANCZOS)
    patch = np.asarray(patch_img, dtype=np.float32)
    mass = patch.sum()
    if mass <= 0:
        raise DigitError("No digit found after scaling the strokes down.")
    yy, xx = np.mgrid[0:new_h, 0:new_w]
    cy, cx = (yy * patch).sum() / mass, (xx * patch).sum() / mass
    top = int(np.clip(round((size - 1) / 2 - cy), 0, size - new_h))
    left = int(np.clip(round((size - 1) / 2 - cx), 0, size - new_w))
    out = np.zeros((size, size), dtype=np.float32)
    out[top: top + new_h, left: left + new_w] = patch
    return Image.fromarray(np.clip(out, 0, 255).round().astype(np.uint8), mode="L")


def digit_tensor(digit: Image.Image, image_size: int = 28) -> torch.Tensor:
    """A 28x28 digit as the classifier's input: 1x1xSxS in [-1, 1], resized if the model is not 28 px."""
    if digit.size != (image_size, image_size):
        digit = digit.resize((image_size, image_size), Image.BILINEAR)
    return from_pil(digit, channels=1)


CLASSIFIER_NAMES = {"classifier": "SGAN discriminator", "baseline": "Plain classifier"}


@torch.no_grad()
def class_probabilities(model: LoadedModel, x: torch.Tensor) -> dict[str, list[float]]:
    """Softmax of each companion classifier's logits for one image, by display name."""
    out = {}
    for key, title in CLASSIFIER_NAMES.items():
        net = model.companions.get(key)
        if net is None:
            continue
        logits = net(x.to(model.device, torch.float32)).float().cpu()
        out[title] = torch.softmax(logits[0], dim=0).tolist()
    return out
