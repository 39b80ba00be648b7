"""Train any family from the command line into a resumable run folder.

    python -m ganmodels.train dcgan --dataset mnist --steps 3000
    python -m ganmodels.train cyclegan --dataset image-folder --data-root ../shared/data/horse2zebra --image-size 128
    python -m ganmodels.train dcgan --resume runs/dcgan-mnist
    python -m ganmodels.train cyclegan --init-from checkpoints/cyclegan-horse2zebra --dataset image-folder ...

A run folder holds the card, the fixed inputs, a grid and generator snapshot every
--snapshot-every steps, losses.csv (one row per step), status.json for live viewers,
and state.pt (both nets, optimizers, data cursor, RNG) written atomically.
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import shlex
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

import torch
from safetensors.torch import load_file, save_file
from tqdm import tqdm

from .cards import ModelCard, read_card
from .checkpoint import CheckpointError, load_into, load_model, save_model_folder, save_weights
from .data import (CLASS_NAMES, FOLDER_DATASETS, IDX_DATASETS, LABELLED_DATASETS, NATIVE_SIZES, DatasetError, default_root, labelled_root,
                   load_class_folder, load_image_folder, load_labelled, load_unpaired, split_folder)
from .device import pick_device, set_cpu_threads
from .distributed import SINGLE, Ranks, broadcast, launched_ranks, mean_and_sum, start, stop
from .families.base import PRECISIONS, resolve_precision
from .families.options import OptionError, options_markdown, options_text
from .files import (FIXED_NAME, GRIDS_DIR, LOSSES_NAME, STATE_NAME, STATUS_NAME, atomic_path, atomic_write_json, snapshot_grid,
                    snapshot_weights)
from .families.cyclegan import load_size as cyclegan_load_size
from .images import grid
from .registry import FAMILIES, get_family
from .runs import stop_with_parent

DATASETS = LABELLED_DATASETS + ("image-folder",)
LOG_EVERY = 10  # steps between flushes of losses.csv and status.json
LOSS_DIGITS = 6  # significant digits of each loss in losses.csv (loss_value)
UNPLANNED_STEPS = 10**9  # a --minutes run's provisional length, replaced once its speed is measured
SNAPSHOTS_PER_RUN = 8  # when --snapshot-every is not given: early to final


class TrainingSetupError(ValueError):
    """A run that cannot start or resume as asked (a bad option, a missing run, a clash with what exists); nothing
    has been written. The CLI prints it as one line and exits with status 1."""


@dataclass
class TrainConfig:
    family: str
    dataset: str = "mnist"
    data_root: str | None = None
    steps: int = 2000
    name: str | None = None
    runs_dir: str = "runs"
    image_size: int | None = None
    batch_size: int | None = None
    lr: float | None = None
    snapshot_every: int | None = None
    seed: int = 0
    device: str | None = None
    labels: int | None = None  # SGAN: how many labelled images
    max_images: int | None = None
    precision: str = "auto"
    init_from: str | None = None  # a checkpoint folder whose generator the run starts from
    arch_overrides: dict = field(default_factory=dict)
    hp_overrides: dict = field(default_factory=dict)


def loss_value(value: float) -> float:
    """A loss as logged: LOSS_DIGITS significant digits. float32 carries about 7 and a GAN's losses move by percents
    from one step to the next, so nothing a plot shows is lost, and a long run's log is half the size of one in
    Python's full 17-digit repr."""
    return float(f"{value:.{LOSS_DIGITS}g}")


def write_losses_up_to(src: Path, dest: Path, step: int | None = None) -> None:
    """`src`'s loss log with only its rows up to `step` (all without one) and its losses at LOSS_DIGITS, written
    atomically (`dest` may be `src`): a resumed run drops the steps it replays, a run published at a snapshot ships
    the log up to it, and a log written before LOSS_DIGITS ships at the size a new one has."""
    with open(src, newline="") as fh:
        rows = list(csv.reader(fh))
    kept = rows[:1] + [r[:2] + [_logged(v) for v in r[2:]] for r in rows[1:] if r and (step is None or int(r[0]) <= step)]
    write_rows_atomically(dest, kept)


def write_rows_atomically(path: Path, rows: list[list]) -> None:
    """A whole CSV file written beside `path` and moved over it, so a crash never leaves a log half-written."""
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as fh:
        csv.writer(fh).writerows(rows)


def union_columns(*headers: list[str]) -> list[str]:
    """Every header's columns once, in the order they first appear: logs of one run's stretches (one that added
    the R1 penalty logs a column the others lack) merge under it, each value under its own name."""
    columns: list[str] = []
    for header in headers:
        columns += [c for c in header if c not in columns]
    return columns


def open_loss_log(path: Path, columns: list[str]) -> tuple[TextIO, csv.DictWriter]:
    """The loss log opened for appending rows of `columns`. A resumed run that logs a column the earlier rows lack
    (the R1 penalty, added with --hp r1) first rewrites the log with that column appended, blank in those rows, so
    every row stays under its own header; a column no longer logged stays, blank from then on."""
    existing: list[str] = []
    if path.is_file():
        with open(path, newline="") as fh:
            existing = next(csv.reader(fh), [])
    fieldnames = union_columns(existing, columns)
    if existing and fieldnames != existing:  # only then is the whole log read
        with open(path, newline="") as fh:
            rows = list(csv.reader(fh))[1:]
        padding = [""] * (len(fieldnames) - len(existing))
        write_rows_atomically(path, [fieldnames] + [r + padding for r in rows if r])
    log = open(path, "a", newline="")
    writer = csv.DictWriter(log, fieldnames=fieldnames, restval="")
    if not existing:
        writer.writeheader()
    return log, writer


def _logged(text: str) -> str:
    try:
        return repr(loss_value(float(text)))
    except ValueError:
        return text


def load_training_data(family, dataset: str, data_root: str | None, image_size: int, max_images: int | None, labels: int | None,
                       seed: int, scale_range: list[int] | None = None) -> dict:
    """Everything a trainer draws from, as in-memory tensors (see DatasetError for bad paths)."""
    if family.translator:
        if dataset != "image-folder":
            raise DatasetError("CycleGAN trains on an unpaired image folder: use --dataset image-folder --data-root DIR")
        root = data_root or default_root("horse2zebra")
        a, b = load_unpaired(root, cyclegan_load_size(image_size, scale_range), "train", max_images)
        try:  # the grids show whole test photos, whatever scales training draws
            test_a, test_b = load_unpaired(root, cyclegan_load_size(image_size), "test", 16)
        except DatasetError:
            test_a, test_b = a[:16], b[:16]
        return {"a": a, "b": b, "test_a": test_a, "test_b": test_b, "root": str(root)}
    if dataset == "image-folder":
        if not data_root:
            raise DatasetError("--dataset image-folder needs --data-root DIR")
        labelled = labelled_root(data_root, "train")
        if labelled is None:
            if family.needs_labels:
                raise DatasetError(f"{family.name} needs class labels: give an image folder with one sub-folder per class "
                                   "(or train/<class>/), or --dataset mnist, fashion-mnist or cifar10")
            return {"images": load_image_folder(data_root, image_size, max_images), "root": data_root}
        images, y, classes = load_class_folder(labelled, image_size)
        if max_images:
            images, y = images[:max_images], y[:max_images]
        return {"images": images, "labels": y, "classes": classes, "root": data_root}
    root = Path(data_root or default_root(dataset))
    classes = None
    if dataset in FOLDER_DATASETS:  # the class names are the folder's (a --data-root may hold fewer classes)
        images, y, classes = load_class_folder(split_folder(root, "train"), image_size)
    else:
        images, y = load_labelled(dataset, data_root, "train", image_size)
    if max_images:
        images, y = images[:max_images], y[:max_images]
    data = {"images": images, "labels": y, "root": str(root), **({"classes": classes} if classes else {})}
    family.complete_training_data(data, lambda split: load_labelled(dataset, data_root, split, image_size), labels, seed)
    return data


def _recorded_precision(requested: str, device: torch.device) -> str:
    """The precision a new or resumed run records and trains in; an unknown one is a CLI error, not a traceback."""
    try:
        return resolve_precision(requested, device)
    except ValueError as exc:
        raise TrainingSetupError(str(exc)) from None


class Run:
    """One training run in its folder: start fresh or resume, step, snapshot. Under torchrun every rank holds a
    Run and trains its share of each batch, and only rank 0 writes the folder."""

    ranks: Ranks = SINGLE

    def __init__(self, folder: Path, card: ModelCard, trainer, fixed: dict, data: dict, step: int, device):
        self.folder, self.card, self.trainer, self.fixed, self.data, self.step, self.device = folder, card, trainer, fixed, data, step, device
        self.family = get_family(card.family)
        self.losses_path = folder / LOSSES_NAME
        self.status_path = folder / STATUS_NAME
        self.stop_signal: int | None = None
        self.paused: str | None = None  # why the run paused before its total, if it did

    # --- construction ---------------------------------------------------------------
    @classmethod
    def create(cls, cfg: TrainConfig) -> "Run":
        if cfg.family not in FAMILIES:
            raise TrainingSetupError(f"unknown family '{cfg.family}'; choose from {', '.join(FAMILIES)}")
        if cfg.dataset not in DATASETS:
            raise TrainingSetupError(f"unknown dataset '{cfg.dataset}'; choose from {', '.join(DATASETS)}")
        family = FAMILIES[cfg.family]
        _check_options(family, cfg.arch_overrides, cfg.hp_overrides)  # before anything starts or loads
        ranks = launched_ranks()
        _refuse_undistributable(family, ranks)
        device = start(ranks, pick_device(cfg.device))
        source = _init_source(cfg) if cfg.init_from else None
        channels = 1 if cfg.dataset in IDX_DATASETS else 3
        size = cfg.image_size or (source.card.image_size if source else None) or (
            128 if family.translator else NATIVE_SIZES.get(cfg.dataset, 64))
        hp = {**family.default_hparams(), **cfg.hp_overrides}
        if cfg.batch_size:
            hp["batch_size"] = cfg.batch_size
        if cfg.lr:
            hp["lr"] = cfg.lr
        if cfg.labels is not None:
            hp["labels"] = cfg.labels
        _check_options(family, {}, hp)  # the values --batch-size, --lr and --labels gave
        switched_on = [k for k in family.init_from_switches if hp.get(k) is True]
        if switched_on and not source:
            raise TrainingSetupError(f"--hp {switched_on[0]} trains on from the generator a run starts with: give --init-from CHECKPOINT")
        try:
            data = load_training_data(family, cfg.dataset, cfg.data_root, size, cfg.max_images, cfg.labels, cfg.seed,
                                      hp.get("scale_range"))
        except DatasetError:
            raise
        except ValueError as exc:  # an hparam the data loading reads (CycleGAN's scale_range)
            raise TrainingSetupError(str(exc)) from None
        num_classes = int(data["labels"].max()) + 1 if data.get("labels") is not None else 0
        arch = {**family.default_arch(size, channels, num_classes), **(source.card.arch if source else {}), **cfg.arch_overrides}
        arch["image_size"] = size  # an explicit --image-size beats the source's: the data were loaded at it
        if family.translator and cfg.data_root:
            arch["domains"] = _domain_names(Path(cfg.data_root))
        hp["precision"] = _recorded_precision(hp.get("precision", cfg.precision), device)
        hp["total_steps"] = cfg.steps
        hp["snapshot_every"] = cfg.snapshot_every or max(1, cfg.steps // SNAPSHOTS_PER_RUN)
        name = broadcast(ranks, cfg.name or f"{cfg.family}-{cfg.dataset}-{time.strftime('%Y%m%d-%H%M%S')}")
        folder = Path(cfg.runs_dir) / name
        if (folder / STATE_NAME).exists():
            raise TrainingSetupError(f"{folder} already holds a run; resume it with --resume {folder} or pick another --name")
        dataset_info = {"name": cfg.dataset if cfg.dataset != "image-folder" else Path(data["root"]).name, "root": data["root"]}
        if cfg.dataset in CLASS_NAMES or data.get("classes"):
            dataset_info["classes"] = data.get("classes") or CLASS_NAMES[cfg.dataset]
        dataset_info["num_images"] = len(data["a"]) + len(data["b"]) if family.translator else len(data["images"])
        if cfg.max_images:
            dataset_info["max_images"] = cfg.max_images  # resume must load the same subset
        card = ModelCard(
            id=name, family=cfg.family, arch=arch, dataset=dataset_info, title=f"{family.title} on {dataset_info['name']}",
            description=family.summary,
            training={"hparams": hp, "seed": cfg.seed, "steps_done": 0, "total_steps": cfg.steps, "device": str(device),
                      "world_size": ranks.world_size, "seconds": 0.0, "status": "running"},
        )
        torch.manual_seed(cfg.seed)
        try:
            G, D = family.build_generator(arch).to(device), family.build_discriminator(arch).to(device)
        except ValueError as exc:  # an --arch value the nets cannot take (d_norm=spectal)
            raise TrainingSetupError(str(exc)) from None
        if source:
            try:
                load_into(G, source.generator.state_dict(), f"--init-from {cfg.init_from}")
            except CheckpointError as exc:
                raise TrainingSetupError(str(exc)) from None
            card.training["init_from"] = {"path": str(cfg.init_from), "id": source.card.id,
                                          "steps_done": source.card.training.get("steps_done"),
                                          "note": "generator weights only: the discriminator and optimizers start fresh"}
        try:
            trainer = family.make_trainer(G, D, arch, hp, data, device, cfg.seed)
            trainer.distribute(ranks)
        except ValueError as exc:
            raise TrainingSetupError(str(exc)) from None
        fixed = family.fixed_inputs(arch, cfg.seed + 12345, data)
        run = cls(folder, card, trainer, fixed, data, 0, device)
        run.ranks = ranks
        if ranks.writes:
            folder.mkdir(parents=True, exist_ok=True)
            save_file({k: v.contiguous() for k, v in fixed.items()}, str(folder / FIXED_NAME))
            card.save(folder)
            with open(run.losses_path, "w", newline=""):
                pass
        return run

    @classmethod
    def resume(cls, folder: str | os.PathLike, device: str | None = None, extra_steps: int | None = None,
               hp_overrides: dict | None = None, family_name: str | None = None) -> "Run":
        """`hp_overrides` change hyper-parameters from here on (a learning-rate decay for the rest of the run, say);
        the card's hparams then hold the new values and resumed_by the command that set them. A `family_name` given
        for the run is checked before any data loads."""
        folder = Path(folder)
        state_path = folder / STATE_NAME
        if not state_path.is_file():
            raise TrainingSetupError(f"{folder} has no {STATE_NAME}: nothing to resume")
        card = read_card(folder)
        if family_name and family_name != card.family:
            raise TrainingSetupError(f"{folder} holds a {card.family} run, not {family_name}")
        family = get_family(card.family)
        _check_options(family, {}, hp_overrides or {})
        hp = card.training["hparams"]
        ranks = launched_ranks()
        _refuse_undistributable(family, ranks)
        dev = start(ranks, pick_device(device))
        hp.update(hp_overrides or {})
        hp["precision"] = _recorded_precision(hp.get("precision", "fp32"), dev)
        if extra_steps:
            hp["total_steps"] = card.training["total_steps"] = extra_steps
        ds = card.dataset
        dataset = ds["name"] if ds["name"] in LABELLED_DATASETS else "image-folder"
        data = load_training_data(family, dataset, ds.get("root"), card.image_size, ds.get("max_images"), hp.get("labels"),
                                  card.training["seed"], hp.get("scale_range"))
        G, D = family.build_generator(card.arch).to(dev), family.build_discriminator(card.arch).to(dev)
        try:
            trainer = family.make_trainer(G, D, card.arch, hp, data, dev, card.training["seed"])
        except ValueError as exc:  # an hparam given with --hp
            raise TrainingSetupError(str(exc)) from None
        state = torch.load(state_path, map_location=dev, weights_only=True)
        trainer.load_state_dict(state["trainer"])
        torch.set_rng_state(state["torch_rng"])
        try:  # after the state is loaded: every rank holds it, and the nets' wrappers see the loaded weights
            trainer.distribute(ranks)
        except ValueError as exc:
            raise TrainingSetupError(str(exc)) from None
        step = trainer.steps_done = int(state["step"])
        fixed = load_file(str(folder / FIXED_NAME))
        # Anything logged or snapshotted after the state we resume from is replayed, so drop it.
        card.snapshots = [s for s in card.snapshots if s["step"] <= step]
        card.training.update(steps_done=step, status="running", world_size=ranks.world_size)
        run = cls(folder, card, trainer, fixed, data, step, dev)
        run.ranks = ranks
        run._truncate_losses(step)
        return run

    def _truncate_losses(self, step: int) -> None:
        if self.ranks.writes and self.losses_path.is_file():
            write_losses_up_to(self.losses_path, self.losses_path, step)

    # --- snapshots --------------------------------------------------------------------------
    def snapshot(self) -> dict | None:
        if not self.ranks.writes:
            return None
        G = self.trainer.output_generator
        was_training = G.training
        G.eval()
        images, nrow = self.family.render_fixed(G, self.fixed, self.device)
        G.train(was_training)
        grid_rel, weights_rel = snapshot_grid(self.step), snapshot_weights(self.step)
        (self.folder / GRIDS_DIR).mkdir(exist_ok=True)
        grid(images, nrow=nrow).save(self.folder / grid_rel)
        save_weights(G, self.folder / weights_rel)
        save_weights(G, self.folder / self.card.weights)
        entry = {"step": self.step, "epoch": round(self.trainer.epoch, 3), "seconds": self.card.training.get("seconds"),
                 "grid": grid_rel, "weights": weights_rel, "metrics": self.family.snapshot_metrics(self.trainer, self.data)}
        self.card.snapshots = [s for s in self.card.snapshots if s["step"] != self.step] + [entry]
        self.save_state()
        return entry

    def save_state(self) -> None:
        """The card's progress and state.pt at this step: what --resume continues from."""
        self.card.training["steps_done"] = self.step
        if not self.ranks.writes:
            return
        self.card.save(self.folder)
        with atomic_path(self.folder / STATE_NAME) as tmp:
            torch.save({"trainer": self.trainer.state_dict(), "step": self.step, "torch_rng": torch.get_rng_state()}, tmp)

    def request_stop(self, signum: int, _frame=None) -> None:
        """Signal handler (SIGTERM, Ctrl-C): the loop saves its state after the step it is on and returns, so stopping
        a long run loses no training; a second signal stops it at once."""
        if self.stop_signal is not None:
            raise KeyboardInterrupt(f"{signal.Signals(signum).name} again: stopping without saving the state")
        self.stop_signal = signum

    def pause(self, why: str) -> None:
        self.paused = why
        self.save_state()
        self.write_status({"status": "stopped", "paused": why})

    def finish(self) -> None:
        companions = self.family.companions(self.trainer, self.data)
        for net in companions.values():
            net.eval()
        self.card.training["status"] = "finished"
        if not self.ranks.writes:
            return
        save_model_folder(self.folder, self.card, self.trainer.output_generator, companions)
        self.write_status({"status": "finished"})

    def write_status(self, extra: dict) -> None:
        if not self.ranks.writes:
            return
        atomic_write_json(self.status_path, {"step": self.step, "total_steps": self.card.training["total_steps"], "pid": os.getpid(),
                                       "updated": time.time(), **extra})

    # --- the loop ----------------------------------------------------------------------------
    def plan_steps(self, steps_per_s: float, seconds_left: float, snapshots: int | None) -> int:
        """Fix the run's length from its measured speed, so a time-boxed run still ends as planned: its
        schedule (CycleGAN's learning-rate decay) reaches zero and its snapshots spread from early to final.
        An explicit total (--steps) stays the cap."""
        hp = self.card.training["hparams"]
        total = max(self.step + 1, min(int(hp["total_steps"]), self.step + int(steps_per_s * seconds_left)))
        hp["total_steps"] = self.card.training["total_steps"] = total
        if snapshots:
            hp["snapshot_every"] = max(1, (total - self.step) // snapshots)
        self.card.training["planned"] = True
        if self.ranks.writes:
            self.card.save(self.folder)
        return total

    def train(self, progress: bool = True, minutes: float | None = None, snapshots: int | None = None,
              stop_at: int | None = None) -> Path:
        """Step until the card's total. With `minutes`, the total is planned from the speed over the first tenth
        of that time (at least 10 s), and `snapshots` (if given) sets how many the planned run takes. At step
        `stop_at`, or after the step a stop signal arrives in (request_stop), the run pauses instead: its state is
        saved there and its schedule stays that of the whole run, for --resume."""
        total = int(self.card.training["total_steps"])
        every = int(self.card.training["hparams"]["snapshot_every"])
        budget = minutes * 60.0 if minutes else None
        planned = budget is None
        if not planned:
            self.card.training.update(minutes=minutes, planned=False)
            if self.ranks.writes:
                self.card.save(self.folder)
        log_every = LOG_EVERY
        per_step = self.trainer.hp["batch_size"] * self.trainer.hp.get("n_critic", 1)
        started, started_step, t_prev = time.time(), self.step, self.card.training.get("seconds", 0.0)
        buffer: list[dict] = []
        bar = tqdm(total=total, initial=self.step, desc=self.card.id, unit="step", disable=not (progress and self.ranks.writes),
                   dynamic_ncols=True)
        log, writer = None, None
        try:
            while self.step < total:
                losses = self.trainer.update()
                self.step += 1
                elapsed = time.time() - started if not planned and self.ranks.writes else 0.0
                plan_now = not planned and self.ranks.writes and elapsed >= max(10.0, 0.1 * budget)
                # the ranks agree at every step: losses are their mean; a stop signal any of them got, and rank 0's
                # clock for a time-boxed run, hold for all, so they pause or plan at the same step
                losses, (stopping, plan_now, speed, seconds_left) = mean_and_sum(self.ranks, losses, [
                    float(self.stop_signal is not None), float(plan_now),
                    (self.step - started_step) / elapsed if plan_now else 0.0, budget - elapsed if plan_now else 0.0])
                if plan_now:
                    total = self.plan_steps(speed, seconds_left, snapshots)
                    every, planned = int(self.card.training["hparams"]["snapshot_every"]), True
                    bar.reset(total=total)
                    bar.update(self.step)
                if not all(map(_finite, losses.values())):
                    raise FloatingPointError(f"non-finite loss at step {self.step}: {losses}")
                logged = {k: loss_value(v) for k, v in losses.items()}
                buffer.append({"step": self.step, "epoch": round(self.trainer.epoch, 4), **logged})
                if writer is None and self.ranks.writes:
                    log, writer = open_loss_log(self.losses_path, list(buffer[0]))
                pausing = self.step < total and (self.step == stop_at or bool(stopping))
                if not self.ranks.writes:
                    buffer.clear()
                elif self.step % log_every == 0 or self.step == total or self.step % every == 0 or pausing:
                    writer.writerows(buffer)
                    log.flush()
                    buffer.clear()
                    rate = (self.step - started_step) * per_step / max(1e-9, time.time() - started)
                    bar.set_postfix({k: f"{v:.3f}" for k, v in list(losses.items())[:4]} | {"img/s": f"{rate:.0f}"})
                    clock = {} if planned else {"planning": True, "started_at": started, "ends_at": started + budget}
                    self.write_status({"status": "running", "images_per_s": rate, "losses": losses, **clock})
                bar.update(1)
                snapshotting = self.step % every == 0 or self.step == total
                if snapshotting or pausing:
                    self.card.training["seconds"] = round(t_prev + time.time() - started, 1)
                if snapshotting:
                    self.snapshot()
                if pausing:
                    why = (f"{signal.Signals(self.stop_signal).name} at step {self.step}" if self.stop_signal is not None
                           else f"a stop signal to another process at step {self.step}" if stopping
                           else f"--stop-at {stop_at}")
                    self.pause(why)
                    return self.folder
        except BaseException as exc:
            self.write_status({"status": "stopped", "error": f"{type(exc).__name__}: {exc}"})
            raise
        finally:
            bar.close()
            if log is not None:
                log.close()
        self.card.training["seconds"] = round(t_prev + time.time() - started, 1)
        self.finish()
        return self.folder


def _refuse_undistributable(family, ranks: Ranks) -> None:
    if ranks.active and not family.distributable:
        raise TrainingSetupError(f"{family.name} does not train under torchrun yet (one process only): its training step reaches "
                         "into its networks beyond forward(), which DistributedDataParallel does not forward")


def _init_source(cfg: TrainConfig):
    """The checkpoint a run starts from (fine-tuning, or a schedule that a lost state.pt cannot resume)."""
    try:
        source = load_model(cfg.init_from, device="cpu", companions=False)
    except ValueError as exc:  # CheckpointError, CardError
        raise TrainingSetupError(f"--init-from: {exc}") from None
    if source.card.family != cfg.family:
        raise TrainingSetupError(f"--init-from {cfg.init_from} holds a {source.card.family} generator, not {cfg.family}")
    return source


def _finite(x: float) -> bool:
    return x == x and abs(x) != float("inf")


def _domain_names(root: Path) -> dict:
    """horse2zebra -> {'a': 'horse', 'b': 'zebra'}; otherwise A and B."""
    stem = root.resolve().name
    if "2" in stem:
        a, b = stem.split("2", 1)
        if a and b:
            return {"a": a, "b": b}
    return {"a": "A", "b": "B"}


def families_text() -> str:
    """The families as `train --help` lists them."""
    lines = ["families:"] + [f"  {name:<9} {family.summary}" for name, family in FAMILIES.items()]
    lines.append("\n`python -m ganmodels.train FAMILY --help` lists a family's --arch and --hp options with their "
                 "defaults and ranges (all of them: docs/training.md).")
    return "\n".join(lines)


def family_options_text(name: str) -> str:
    """A family's options as `train FAMILY --help` prints them, from its declarations."""
    family = get_family(name)
    return f"{family.title} ({name}): {family.summary}\n\n" + options_text(family.arch_declarations(),
                                                                            family.hparam_declarations())


def build_parser(family: str | None = None) -> argparse.ArgumentParser:
    """The CLI's parser; with a family named, its --help ends with that family's options."""
    p = argparse.ArgumentParser(prog="python -m ganmodels.train", description="Train a GAN into runs/<name>.",
                                epilog=family_options_text(family) if family in FAMILIES else families_text(),
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("family", nargs="?", choices=list(FAMILIES), help="model family (see below)")
    p.add_argument("--dataset", default="mnist", choices=DATASETS, help="training data (image-folder: --data-root DIR)")
    p.add_argument("--data-root", help="IDX folder (mnist/fashion-mnist) or image folder (trainA/trainB for CycleGAN)")
    p.add_argument("--steps", type=int, help="total generator steps (default 2000; with --resume: extend the run to this many)")
    p.add_argument("--minutes", type=float, help="train for about this long: the step count is planned from the measured "
                   "speed (--steps, if given, caps it); snapshots default to 8, spread over the planned run")
    p.add_argument("--name", help="run folder name under --runs-dir")
    p.add_argument("--runs-dir", default="runs", help="folder of run folders")
    p.add_argument("--image-size", type=int, help="image side in pixels (default: the dataset's; 128 for CycleGAN)")
    p.add_argument("--batch-size", type=int, help="sets --hp batch_size")
    p.add_argument("--lr", type=float, help="sets --hp lr")
    p.add_argument("--snapshot-every", type=int, help="steps between grids/checkpoints (default: steps/8)")
    p.add_argument("--seed", type=int, default=0, help="seed of the weights, batches and noise")
    p.add_argument("--device", help="cuda, mps or cpu (default: best available, or $GANSTUDIO_DEVICE)")
    p.add_argument("--labels", type=int, help="SGAN: number of labelled images (default 100)")
    p.add_argument("--max-images", type=int, help="use only the first N training images")
    p.add_argument("--arch", action="append", default=[], metavar="KEY=VALUE", help="architecture override, e.g. ngf=32 n_blocks=6")
    p.add_argument("--hp", action="append", default=[], metavar="KEY=VALUE", help="hyper-parameter override, e.g. n_critic=5; "
                   "with --resume, from the resumed step on (e.g. decay_start=0.6)")
    p.add_argument("--precision", choices=PRECISIONS, default="auto",
                   help="bf16: convolutions and matmuls in bfloat16 under autocast (about 2x on CPUs with AMX/AVX512-BF16); "
                   "auto (default) picks bf16 where the hardware has it, else fp32")
    p.add_argument("--resume", metavar="RUN_DIR", help="continue a run where its last snapshot or pause left it")
    p.add_argument("--stop-at", type=int, metavar="STEP", help="pause after this step, its state saved for --resume, "
                   "the schedules still those of the whole run (SIGTERM or Ctrl-C pause it after the current step)")
    p.add_argument("--init-from", metavar="CHECKPOINT", help="start a new run from this checkpoint's generator (its arch, "
                   "trained at --image-size if given: a translator fine-tuned at a larger size; the discriminator starts fresh)")
    p.add_argument("--threads", type=int, help="CPU threads for training (default: $GANSTUDIO_THREADS, else one per core)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar (for logs)")
    p.add_argument("--options-markdown", action="store_true", help="print docs/training.md (every family's options) and exit")
    return p


def training_doc() -> str:
    """docs/training.md: the command-line flags and every family's options, generated from the parser and the
    families' declarations so the reference cannot drift from the code (tests/test_train_cli.py compares them)."""
    parser = build_parser()
    out = ["# Training options", "",
           "<!-- Generated by `python -m ganmodels.train --options-markdown > docs/training.md`; edit the family "
           "declarations (ganmodels/families/), not this file. -->", "",
           "Train any family into a resumable run folder under `runs/`, then publish it into `checkpoints/`:", "",
           "```bash",
           "python -m ganmodels.train dcgan --dataset mnist --steps 3000 --hp ema=0.999 --arch extra_layers=2",
           "python -m ganmodels.train --resume runs/dcgan-mnist-... --steps 6000 --hp decay_start=0.5",
           "python -m ganmodels.train dcgan --help   # this family's options, as below",
           "```", "",
           "`--arch KEY=VALUE` and `--hp KEY=VALUE` take JSON values (`--hp 'scale_range=[128,288]'`, "
           "`--arch d_type='\"cnn\"'` or plain `--arch d_type=cnn`). A key the family does not declare, or a value "
           "outside the range below, is refused before anything loads. With `--resume`, `--hp` changes take effect "
           "from the resumed step on.", "",
           "## Command-line flags", "", "| flag | default | what it does |", "|---|---|---|"]
    for action in parser._actions:
        if not action.option_strings or action.dest in ("help", "options_markdown"):
            continue
        default = "" if action.default is None or action.default is False or action.default == [] else f"`{action.default}`"
        out.append(f"| `{', '.join(action.option_strings)}` | {default} | {(action.help or '').replace('|', '/')} |")
    out += ["", "## Families", ""]
    out += [f"- [`{name}`](#{name}): {family.summary}" for name, family in FAMILIES.items()]
    for name, family in FAMILIES.items():
        out += ["", f"## {name}", "", f"{family.title}: {family.summary}", "",
                options_markdown(family.arch_declarations(), family.hparam_declarations()).rstrip()]
    return "\n".join(out) + "\n"


# What a resumed run keeps from its start: its data, nets, seed and folder. Given with --resume, these are refused,
# not silently ignored.
FIXED_ON_RESUME = {"dataset": "--dataset", "data_root": "--data-root", "image_size": "--image-size",
                   "batch_size": "--batch-size", "labels": "--labels", "max_images": "--max-images", "arch": "--arch",
                   "init_from": "--init-from", "seed": "--seed", "name": "--name", "runs_dir": "--runs-dir"}


def _resume_overrides(args: argparse.Namespace, parser: argparse.ArgumentParser) -> dict:
    """The options a resume can change, as hyper-parameter overrides (like --hp); TrainingSetupError for those it
    cannot."""
    fixed = [flag for dest, flag in FIXED_ON_RESUME.items() if getattr(args, dest) != parser.get_default(dest)]
    if fixed:
        raise TrainingSetupError(f"{', '.join(fixed)} cannot change when resuming: the run keeps the data, networks, seed and "
                         "folder it started with (start a new run, or --init-from its folder, to change them)")
    out = {}
    if args.snapshot_every:
        out["snapshot_every"] = args.snapshot_every
    if args.lr is not None:
        out["lr"] = args.lr
    if args.precision != parser.get_default("precision"):
        out["precision"] = args.precision
    return out


def _check_options(family, arch: dict, hp: dict) -> None:
    """TrainingSetupError for an --arch/--hp key the family does not declare (a misspelt key would silently train the
    defaults) or a value outside its declared range, before any data loads."""
    try:
        family.check_options(arch, hp)
    except OptionError as exc:
        raise TrainingSetupError(str(exc)) from None


def _parse_overrides(pairs: list[str]) -> dict:
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise TrainingSetupError(f"override '{pair}' must look like KEY=VALUE")
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out


def main(argv: list[str] | None = None) -> int:
    """The console entry point (ganstudio-train, python -m ganmodels.train): a run that cannot start is one line on
    stderr and exit status 1 (2 for a dataset that cannot be read), never a traceback."""
    arguments = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(next((a for a in arguments if a in FAMILIES), None))
    args = parser.parse_args(arguments)
    if args.options_markdown:
        print(training_doc(), end="")
        return 0
    try:
        return _train(args, parser, argv)
    except TrainingSetupError as exc:
        raise SystemExit(f"error: {exc}") from None


def _train(args: argparse.Namespace, parser: argparse.ArgumentParser, argv: list[str] | None) -> int:
    try:
        set_cpu_threads(args.threads)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.minutes is not None and args.minutes <= 0:
        print("error: --minutes must be positive", file=sys.stderr)
        return 2
    # A time-boxed run has no step count until it has measured its speed.
    steps = args.steps or (UNPLANNED_STEPS if args.minutes else None)
    if args.stop_at is not None and (problem := _stop_at_problem(args, steps)):
        print(f"error: --stop-at {args.stop_at}: {problem}", file=sys.stderr)
        return 2
    ranks = launched_ranks()
    launcher = f"torchrun --nproc_per_node {ranks.world_size} -m" if ranks.active else "python -m"
    command = f"{launcher} ganmodels.train " + shlex.join(argv if argv is not None else sys.argv[1:])
    try:
        if args.resume:
            run = Run.resume(args.resume, args.device, steps, {**_parse_overrides(args.hp), **_resume_overrides(args, parser)},
                             args.family)
            # with the starting command, the card then says how to train its model again
            run.card.training.setdefault("resumed_by", []).append({"from_step": run.step, "command": command})
        else:
            if not args.family:
                raise TrainingSetupError("name a family (or --resume RUN_DIR)")
            cfg = TrainConfig(
                family=args.family, dataset=args.dataset, data_root=args.data_root, steps=steps or 2000, name=args.name,
                runs_dir=args.runs_dir, image_size=args.image_size, batch_size=args.batch_size, lr=args.lr,
                snapshot_every=args.snapshot_every, seed=args.seed, device=args.device, labels=args.labels,
                max_images=args.max_images, precision=args.precision, arch_overrides=_parse_overrides(args.arch),
                hp_overrides=_parse_overrides(args.hp), init_from=args.init_from,
            )
            run = Run.create(cfg)
            run.card.training["command"] = command
    except DatasetError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    snapshots = None if args.snapshot_every else (SNAPSHOTS_PER_RUN if args.minutes else None)
    handlers = {sig: signal.signal(sig, run.request_stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    stop_with_parent(run.request_stop)  # started by the app: pause when its server is gone
    try:
        folder = run.train(progress=not args.no_progress, minutes=args.minutes, snapshots=snapshots, stop_at=args.stop_at)
    finally:
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
        stop(run.ranks)
    if run.ranks.writes and not run.paused:
        print(f"finished: {folder}")
    elif run.ranks.writes:
        print(f"paused at step {run.step} ({run.paused}); continue with: "
              f"{launcher} ganmodels.train --resume {shlex.quote(str(folder))}")
    return 0 if run.stop_signal is None else 128 + run.stop_signal


def _stop_at_problem(args: argparse.Namespace, steps: int | None) -> str | None:
    """Why --stop-at cannot pause this run, checked before anything is written."""
    done = 0
    if args.resume:
        try:
            card = read_card(args.resume)
        except (OSError, ValueError) as exc:
            return str(exc)
        done, steps = card.training.get("steps_done", 0), steps or card.training.get("total_steps")
    if args.stop_at <= done:
        return f"the run is already at step {done}"
    if steps and not args.minutes and args.stop_at >= steps:
        return f"the run ends at step {steps} anyway"
    return None


if __name__ == "__main__":
    sys.exit(main())
