"""Turn a finished (or stopped) run into a shipped checkpoint folder under checkpoints/.

    python -m ganmodels.publish runs/dcgan-mnist --keep 6
    python -m ganmodels.publish --prune checkpoints/cyclegan-horse2zebra --keep 3

Keeps the card, final weights (float32), companions, fixed inputs, the loss log, every grid (a translator's as
JPEG), and `--keep` evenly spaced generator snapshots stored in float16 (the card says so).
Resumable training state is left behind in the run folder.
"""
from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from PIL import Image

from .cards import read_card
from .checkpoint import load_model, read_weights, save_weights
from .gallery import write_sample_sheets
from .registry import get_family
from .train import FIXED_NAME, LOSSES_NAME

DEFAULT_DEST = Path(__file__).resolve().parent.parent / "checkpoints"
PHOTO_GRID_QUALITY = 90


def spaced(items: list, keep: int) -> list:
    """`keep` items spread from first to last, always including both ends."""
    if keep >= len(items) or keep < 2:
        return list(items) if keep >= len(items) else items[-1:]
    step = (len(items) - 1) / (keep - 1)
    return [items[round(i * step)] for i in range(keep)]


def publish(run: str | Path, dest_root: str | Path = DEFAULT_DEST, model_id: str | None = None, keep: int = 6) -> Path:
    run = Path(run)
    card = read_card(run)
    model_id = model_id or card.id
    dest = Path(dest_root) / model_id
    staging = dest.with_name(dest.name + ".staging")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    translator = get_family(card.family).translator
    # A translator's fixed inputs are photos from the training data, not the run's own output: they stay in the run.
    fixed = [] if translator else [FIXED_NAME]
    for name in [card.weights, *fixed, LOSSES_NAME] + [f"{c}.safetensors" for c in card.training.get("companions", [])]:
        if (run / name).is_file():
            shutil.copy2(run / name, staging / name)
    for sub in ("grids", "samples"):
        if (run / sub).is_dir():
            shutil.copytree(run / sub, staging / sub)
    if translator:
        photo_grids_as_jpeg(staging, card)
    kept = spaced(sorted(card.snapshots, key=lambda s: s["step"]), keep)
    kept_steps = {s["step"] for s in kept}
    final_step = max(kept_steps) if kept_steps else None
    for snap in card.snapshots:
        if snap["step"] == final_step:
            snap["weights"] = card.weights  # the last snapshot is the shipped generator itself
        elif snap["step"] in kept_steps:
            save_weights(read_weights(run / snap["weights"]), staging / snap["weights"], precision="float16")
        else:
            snap["weights"] = None  # grid and metrics kept, weights dropped to fit the size budget
    card.id = model_id
    card.training["snapshot_precision"] = "float16 (final generator float32)"
    card.training["status"] = "finished" if card.training.get("steps_done") == card.training.get("total_steps") else "stopped early"
    card.dataset.pop("root", None)
    if not translator:
        card.save(staging)
        card.samples = write_sample_sheets(load_model(staging, device="cpu"), staging)
    card.save(staging)
    if dest.exists():
        shutil.rmtree(dest)
    staging.rename(dest)
    return dest


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
    args = p.parse_args(argv)
    if args.prune:
        print(f"removed the weights of steps {prune(args.run, args.keep)}")
        return 0
    print(publish(args.run, args.dest, args.id, args.keep))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
