"""Turn a finished (or stopped) run into a shipped checkpoint folder under checkpoints/.

    python -m ganmodels.publish runs/dcgan-mnist --keep 6
    python -m ganmodels.publish runs/cyclegan-h2z --step 5168 --id cyclegan-horse2zebra
    python -m ganmodels.publish --prune checkpoints/cyclegan-horse2zebra --keep 3
    python -m ganmodels.publish runs/dcgan-mnist-restart --id dcgan-mnist --history-from checkpoints/dcgan-mnist
    python -m ganmodels.publish runs/dcgan-fashion --average-from 20000
    python -m ganmodels.publish runs/wgan-gp-mnist-glr --id wgan-gp-mnist --description "WGAN-GP trained ..."

Keeps the card, final weights (float32, or float16 with `--precision float16` where the size budget is tight: the
card says so), companions, fixed inputs, the loss log, every grid (a translator's as JPEG), and `--keep` evenly
spaced generator snapshots stored in float16 (the card says so). With `--step N` the
run ships as it stood at its step-N snapshot (when a later one is worse): that snapshot's generator, and the
history up to it. With `--average-from N` the shipped generator is the mean of the run's snapshots from step N to
its last (or to `--step`), a window `python -m ganmodels.evaluate RUN --average-windows ...` chose on training
images; the run's own generators stay in the history as snapshots. Either way the run's figures, its last
generator's, are dropped from the card until the published folder is evaluated. With `--history-from CHECKPOINT`
(the published folder a run started from with --init-from) the shipped history is that checkpoint's followed by
the run's, counted on from its last step. A run's card describes only its family; `--description` says what the
shipped model is (its recipe, why it was chosen). Resumable training state is left behind in the run folder.
"""
from __future__ import annotations

import argparse
import csv
import shutil
from pathlib import Path

from PIL import Image

from .cards import CardError, read_card
from .checkpoint import STORED_PRECISIONS, CheckpointError, average_weights, load_model, read_weights, save_weights
from .samples import write_sample_sheets
from .registry import get_family
from .files import FIXED_NAME, LOSSES_NAME, snapshot_tag, snapshot_weights
from .train import union_columns, write_losses_up_to, write_rows_atomically

DEFAULT_DEST = Path(__file__).resolve().parent.parent / "checkpoints"
PHOTO_GRID_QUALITY = 90


def spaced(items: list, keep: int) -> list:
    """`keep` items spread from first to last, always including both ends."""
    if keep >= len(items) or keep < 2:
        return list(items) if keep >= len(items) else items[-1:]
    step = (len(items) - 1) / (keep - 1)
    return [items[round(i * step)] for i in range(keep)]


class PublishError(ValueError):
    """A run that cannot be published as asked; the message says why."""


def cut_at(card, step: int) -> dict:
    """Roll the card back to its step-`step` snapshot (returned) and record the cut in `training.published_step`."""
    snapshot = next((s for s in card.snapshots if s["step"] == step), None)
    if snapshot is None:
        steps = ", ".join(str(s["step"]) for s in sorted(card.snapshots, key=lambda s: s["step"]))
        raise PublishError(f"the run has no snapshot at step {step}; its snapshots are at steps {steps}")
    if card.training.get("companions"):
        raise PublishError(f"{card.family} runs save their companion nets only when they finish, so they publish whole, not at a step")
    done, seconds = int(card.training.get("steps_done") or step), float(card.training.get("seconds") or 0.0)
    card.training["published_step"] = {"step": step, "run_steps": done, "run_seconds": seconds}
    card.training["steps_done"] = step
    card.training["seconds"] = snapshot.get("seconds", round(seconds * step / max(1, done), 1))
    card.snapshots = [s for s in card.snapshots if s["step"] <= step]
    return snapshot


def publish(run: str | Path, dest_root: str | Path = DEFAULT_DEST, model_id: str | None = None, keep: int = 6,
            step: int | None = None, history_from: str | Path | None = None, average_from: int | None = None,
            description: str | None = None, precision: str = "float32") -> Path:
    run = Path(run)
    card = read_card(run)
    if precision not in STORED_PRECISIONS:
        raise PublishError(f"a shipped generator is stored in {' or '.join(STORED_PRECISIONS)}, not {precision}")
    card.precision = precision
    if description is not None:
        if not description.strip():
            raise PublishError("the description is empty: say what the shipped model is, or leave --description out")
        card.description = description.strip()
    earlier = earlier_checkpoint(card, history_from) if history_from is not None else None
    weights_source = run / (cut_at(card, step)["weights"] if step is not None else card.weights)
    model_id = model_id or card.id
    averaged = None
    if average_from is not None:
        window = card.snapshots_from(average_from)
        averaged = average_weights([run / s["weights"] for s in window])
        card.training["weights_average"] = {
            "from_step": window[0]["step"], "to_step": window[-1]["step"], "snapshot_steps": [s["step"] for s in window],
            "note": "the shipped generator is the uniform mean of these snapshots' weights (BatchNorm statistics "
                    "included); the history's last snapshot is the run's own generator at that step",
            "command": f"python -m ganmodels.publish {run} --id {model_id} --keep {keep}"
                       + (f" --step {step}" if step is not None else "") + f" --average-from {average_from}"
                       + (f" --precision {precision}" if precision != "float32" else "")}
    if step is not None or averaged is not None:
        card.metrics = {}  # the run's figures are its last generator's: `python -m ganmodels.evaluate` the published folder
    dest = Path(dest_root) / model_id
    staging = dest.with_name(dest.name + ".staging")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        stage(run, card, staging, weights_source, model_id, keep, step, earlier, averaged)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)  # a failed publish leaves nothing half-written beside dest
        raise
    if dest.exists():
        shutil.rmtree(dest)
    staging.rename(dest)
    return dest


def stage(run: Path, card, staging: Path, weights_source: Path, model_id: str, keep: int, step: int | None,
          earlier: tuple | None, averaged: dict | None = None) -> None:
    """Fill `staging` with what ships of `run` (see the module docstring): the card's figures and files as they will
    stand. `averaged` (a state dict) ships instead of `weights_source`."""
    translator = get_family(card.family).translator
    # A translator's fixed inputs are photos from the training data, not the run's own output: they stay in the run.
    fixed = [] if translator else [FIXED_NAME]
    save_weights(read_weights(weights_source) if averaged is None else averaged, staging / card.weights, card.precision)
    for name in [f"{c}.safetensors" for c in card.training.get("companions", [])]:
        if (run / name).is_file():
            save_weights(read_weights(run / name), staging / name, card.precision)
    for name in fixed:
        if (run / name).is_file():
            shutil.copy2(run / name, staging / name)
    if (run / LOSSES_NAME).is_file():
        write_losses_up_to(run / LOSSES_NAME, staging / LOSSES_NAME, step)
    for snap in card.snapshots:
        copy_file(run, staging, snap.get("grid"), missing_ok=True)
    if (run / "samples").is_dir():
        shutil.copytree(run / "samples", staging / "samples")
    if translator:
        photo_grids_as_jpeg(staging, card)
    kept = spaced(sorted(card.snapshots, key=lambda s: s["step"]), keep)
    kept_steps = {s["step"] for s in kept}
    final_step = max(kept_steps) if kept_steps else None
    for snap in card.snapshots:
        if snap["step"] == final_step and averaged is None:
            snap["weights"] = card.weights  # the last snapshot is the shipped generator itself
        elif snap["step"] in kept_steps:
            save_weights(read_weights(run / snap["weights"]), staging / snap["weights"], precision="float16")
        else:
            snap["weights"] = None  # grid and metrics kept, weights dropped to fit the size budget
    if earlier is not None:
        prepend_history(staging, card, *earlier)
    card.id = model_id
    card.training["snapshot_precision"] = f"float16 (final generator {card.precision})"
    if step is not None:
        card.training["status"] = f"the step-{step} snapshot of a {card.training['published_step']['run_steps']}-step run"
    else:
        card.training["status"] = "finished" if card.training.get("steps_done") == card.training.get("total_steps") else "stopped early"
    card.dataset.pop("root", None)
    if not translator:
        card.save(staging)
        card.samples = write_sample_sheets(load_model(staging, device="cpu"), staging)
    card.save(staging)
    if earlier is not None:
        prune(staging, keep)  # over the whole history: the earlier checkpoint's snapshots count against `keep` too


def copy_file(source: Path, dest: Path, rel: str | None, missing_ok: bool = False) -> None:
    """Copy `source`/`rel` to `dest`/`rel`, making its folder; no `rel` is skipped, and a missing file too with
    `missing_ok` (a grid a run never wrote), else it raises."""
    if not rel or (missing_ok and not (source / rel).is_file()):
        return
    (dest / rel).parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(source / rel, dest / rel)


def earlier_checkpoint(card, folder: str | Path) -> tuple[Path, object]:
    """The published checkpoint a run started from, checked to be the one its --init-from read (same id, steps,
    family and arch), so that the history put before the run's is really this generator's."""
    folder = Path(folder)
    earlier = read_card(folder)
    source = card.training.get("init_from")
    if not source:
        raise PublishError("the run did not start from a checkpoint (--init-from), so it has no earlier history to ship")
    if (source.get("id"), source.get("steps_done")) != (earlier.id, earlier.training.get("steps_done")):
        raise PublishError(f"the run started from {source.get('id')} at step {source.get('steps_done')}, but {folder} holds "
                           f"{earlier.id} at step {earlier.training.get('steps_done')}")
    if (earlier.family, earlier.arch) != (card.family, card.arch):
        raise PublishError(f"{folder} holds a {earlier.family} with another architecture than the run's")
    return folder, earlier


def prepend_history(staging: Path, card, folder: Path, earlier) -> None:
    """Put `earlier`'s snapshots, grids and loss log before the run's in `staging`, the run's steps, epochs and seconds
    counted on from `earlier`'s, so a fine-tuned or warm-restarted model shows its whole training, not a run that
    starts from an already trained generator. `earlier`'s final generator becomes a float16 snapshot."""
    offset = int(earlier.training["steps_done"])
    seconds = float(earlier.training.get("seconds") or 0.0)
    epochs = max((float(s.get("epoch") or 0.0) for s in earlier.snapshots), default=0.0)
    for snap in sorted(card.snapshots, key=lambda s: s["step"], reverse=True):  # last first: a new name is never taken
        snap["step"] += offset
        snap["epoch"] = round(float(snap.get("epoch") or 0.0) + epochs, 3)
        if snap.get("seconds") is not None:
            snap["seconds"] = round(snap["seconds"] + seconds, 1)
        for key in ("grid", "weights"):
            rel = snap.get(key)
            if rel and rel != card.weights and (staging / rel).is_file():
                renamed = Path(rel).with_name(snapshot_tag(snap["step"]) + Path(rel).suffix).as_posix()
                (staging / rel).rename(staging / renamed)
                snap[key] = renamed
    for snap in earlier.snapshots:
        snap = dict(snap)
        copy_file(folder, staging, snap.get("grid"), missing_ok=True)
        if snap.get("weights") == earlier.weights:
            snap["weights"] = snapshot_weights(snap["step"])
            save_weights(read_weights(folder / earlier.weights), staging / snap["weights"], precision="float16")
        else:
            copy_file(folder, staging, snap.get("weights"))
        card.snapshots.append(snap)
    card.snapshots.sort(key=lambda s: s["step"])
    if (folder / LOSSES_NAME).is_file():
        prepend_losses(folder / LOSSES_NAME, staging / LOSSES_NAME, offset, epochs)
    training = card.training
    before = {k: v for k, v in earlier.training.items() if k not in ("companions", "snapshot_precision")}
    if "weights_average" in training:
        average = training["weights_average"]
        average.update(from_step=average["from_step"] + offset, to_step=average["to_step"] + offset,
                       snapshot_steps=[s + offset for s in average["snapshot_steps"]])
    training.update(steps_done=int(training.get("steps_done") or 0) + offset,
                    total_steps=int(training.get("total_steps") or 0) + offset,
                    seconds=round(float(training.get("seconds") or 0.0) + seconds, 1),
                    history_from={"id": earlier.id, "steps": offset, "training": before})


def prepend_losses(earlier: Path, losses: Path, offset: int, epochs: float) -> None:
    """`earlier`'s log, then the run's rows with their steps and epochs counted on. The header is the union of both
    logs' columns (a run that adds the R1 penalty logs a column the earlier one lacks), each row's values under
    their own names and blank where its log had no such column."""
    logs = []
    for path in (earlier, losses):
        rows = []
        if path.is_file():
            with open(path, newline="") as fh:
                rows = [r for r in csv.reader(fh) if r]
        if rows and rows[0][:2] != ["step", "epoch"]:
            raise PublishError(f"{path} is not a loss log: its columns are {','.join(rows[0])}, not step,epoch,...")
        logs.append(rows)
    header = union_columns(*(rows[0] for rows in logs if rows))
    if not header:
        return  # neither stretch logged a step: there is nothing to merge, and no header to invent
    merged = [header]
    for rows, shifted in zip(logs, (False, True)):
        for r in rows[1:]:
            values = dict(zip(rows[0], r))
            if shifted:
                values.update(step=str(int(r[0]) + offset), epoch=repr(round(float(r[1]) + epochs, 4)))
            merged.append([values.get(c, "") for c in header])
    write_rows_atomically(losses, merged)


def photo_grids_as_jpeg(folder: Path, card, quality: int = PHOTO_GRID_QUALITY) -> None:
    """Re-encode a translator's progress grids (photographs, ~700 KB each as PNG) as JPEG, about 6x smaller, so a
    long run's every grid fits the size budget; digit grids stay PNG, where JPEG would blur their sharp edges."""
    for snap in card.snapshots:
        rel = snap.get("grid")
        if not rel or Path(rel).suffix.lower() != ".png" or not (folder / rel).is_file():
            continue
        jpeg = Path(rel).with_suffix(".jpg").as_posix()
        with Image.open(folder / rel) as img:
            img.convert("RGB").save(folder / jpeg, quality=quality)
        (folder / rel).unlink()
        snap["grid"] = jpeg


def prune(folder: str | Path, keep: int) -> list[int]:
    """Drop a published folder's snapshot weights down to `keep` evenly spaced ones (the final generator always
    stays), to fit the size budget without re-publishing: grids and the figures measured stay in the card.
    Returns the steps whose weights were removed."""
    folder = Path(folder)
    card = read_card(folder)
    with_weights = [s for s in sorted(card.snapshots, key=lambda s: s["step"]) if s.get("weights")]
    kept = {s["step"] for s in spaced(with_weights, keep)}
    removed = []
    for snap in with_weights:
        if snap["step"] not in kept and snap["weights"] != card.weights:
            (folder / snap["weights"]).unlink(missing_ok=True)
            snap["weights"] = None
            removed.append(snap["step"])
    card.save(folder)
    return removed


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m ganmodels.publish", description="Copy a run into checkpoints/ for the app.")
    p.add_argument("run", help="run folder (or, with --prune, a published checkpoint folder)")
    p.add_argument("--prune", action="store_true", help="thin a published folder's snapshot weights to --keep instead")
    p.add_argument("--id", help="checkpoint id (default: the run's)")
    p.add_argument("--dest", default=str(DEFAULT_DEST))
    p.add_argument("--keep", type=int, default=6, help="generator snapshots to keep (evenly spaced, last included)")
    p.add_argument("--step", type=int, help="publish the run as it stood at this snapshot step (its generator and history)")
    p.add_argument("--average-from", type=int, metavar="STEP", help="ship the mean of the run's snapshots from this "
                   "step to the last (to --step with it) instead of the last generator")
    p.add_argument("--history-from", metavar="CHECKPOINT", help="the published folder the run started from (--init-from): "
                   "ship its history before the run's")
    p.add_argument("--description", help="the card's description of the shipped model (default: the run's, which "
                   "names only its family)")
    p.add_argument("--precision", choices=STORED_PRECISIONS, default="float32", help="how the shipped generator (and its "
                   "companions) are stored: float16 halves their size, for a model that must fit the size budget")
    args = p.parse_args(argv)
    try:
        if args.prune:
            print(f"removed the weights of steps {prune(args.run, args.keep)}")
            return 0
        print(publish(args.run, args.dest, args.id, args.keep, args.step, args.history_from, args.average_from,
                      args.description, args.precision))
    except (PublishError, CardError, CheckpointError) as exc:
        raise SystemExit(f"publish: {exc}") from None
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
