"""Bring your own image and nearest training images (issue 45, items 4 and 5), on this CPU.

Inversion: the app's search (256 seeded latents scored at once, the closest 8 refined together for 60 Adam steps,
ganmodels.inversion.invert) against the baseline measured in the same run: one restart from one random latent,
unbatched, for the same 60 steps; 8 such restarts one after another is what the batched search replaces.
Targets are pictures the model drew from seeds outside the search's pool, so the true latent exists but is unknown.
Bar: under 3 s for a 28-px model.

Nearest: building the training set's feature cache once (the first use), loading it again from disk, and one lookup
(5 nearest by features plus 5 nearest by pixels over all 60,000 training images) against a naive lookup that
subtracts the query from every training image as floats. Bar: a lookup under 200 ms.

    python -m bench.own_image_nearest [--models dcgan-mnist,cgan-fashion] [--datasets mnist,fashion-mnist]
                                      [--targets 5] [--pause-training] [--smoke]
"""
from __future__ import annotations

import gzip
import json
import os
import statistics
import struct
import tempfile
import time
from pathlib import Path

from bench._common import REPO, bench_parser, figure, machine, ratio, table, training_paused

import numpy as np
import torch

from ganmodels import inversion, nearest
from ganmodels.checkpoint import load_model, save_weights
from ganmodels.classifier import ReferenceClassifier
from ganmodels.data import default_root
from ganmodels.device import set_cpu_threads

PAUSE = False


def timed(fn):
    """(result, wall seconds, CPU seconds of this process): on a shared machine the two differ."""
    with training_paused(PAUSE, quiet=True):
        wall, cpu = time.perf_counter(), time.process_time()
        out = fn()
        return out, time.perf_counter() - wall, time.process_time() - cpu


def bench_inversion(model_id: str, targets: int, steps: int) -> None:
    model = load_model(REPO / "checkpoints" / model_id, "cpu")
    labels = (lambda i: [i % model.card.arch["num_classes"]]) if model.family.conditional else (lambda i: None)
    inversion.invert(model, model.generate(model.latents(0, 1), labels(0)), steps=2)  # warm-up: first calls allocate
    rows, ours_wall, ours_cpu, base_wall = [], [], [], []
    for i in range(targets):
        target = model.generate(model.latents(10_000 + i, 1), labels(i))
        found, wall, cpu = timed(lambda: inversion.invert(model, target, steps=steps))
        single, s_wall, _ = timed(lambda: inversion.invert(model, target, restarts=1, pool=1, steps=steps, seed=20_000 + i))
        ours_wall.append(wall)
        ours_cpu.append(cpu)
        base_wall.append(s_wall)
        rows.append([i, found.candidates, found.refined, found.steps, wall, cpu, found.distance, s_wall, single.distance])
    print(f"\nload average now: {os.getloadavg()[0]:.1f}")
    print(f"\n{model_id}: inversion of {targets} pictures it drew from seeds 10000+ (distance: RMS pixel difference, 0-1)")
    table(["target", "tried", "refined", "steps", "ours wall s", "ours CPU s", "ours distance", "1 restart wall s",
           "1 restart distance"], rows)
    med = statistics.median
    figure(f"inversion_{model_id}_wall_median", med(ours_wall), "s", "bar: < 3 s")
    figure(f"inversion_{model_id}_wall_max", max(ours_wall), "s")
    figure(f"inversion_{model_id}_cpu_median", med(ours_cpu), "s", "CPU time of this process")
    figure(f"inversion_{model_id}_distance_median", med(r[6] for r in rows), "RMS")
    figure(f"inversion_{model_id}_single_restart_distance_median", med(r[8] for r in rows), "RMS")
    ratio(f"inversion_{model_id}_vs_8_sequential_restarts", med(ours_wall), 8 * med(base_wall), higher_is_better=False)
    ratio(f"inversion_{model_id}_vs_1_restart_time", med(ours_wall), med(base_wall), higher_is_better=False)


def write_idx(path: Path, array: np.ndarray) -> None:
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    with gzip.open(path, "wb") as fh:
        fh.write(header + array.tobytes())


def tiny_dataset(root: Path) -> tuple[Path, Path]:
    """(data folder, reference root) for --smoke: 512 random 28-px images and a random narrow classifier."""
    rng = np.random.default_rng(0)
    data = root / "data"
    data.mkdir(parents=True)
    write_idx(data / "train-images-idx3-ubyte.gz", rng.integers(0, 256, (512, 28, 28), dtype=np.uint8))
    write_idx(data / "train-labels-idx1-ubyte.gz", (np.arange(512) % 10).astype(np.uint8))
    arch = {"channels": 1, "image_size": 28, "num_classes": 10, "width": 4}
    save_weights(ReferenceClassifier(**arch), root / "reference" / "mnist" / "classifier.safetensors")
    (root / "reference" / "mnist" / "card.json").write_text(json.dumps({"arch": arch}))
    return data, root / "reference"


def bench_nearest(dataset: str, data_root: Path | None, reference_root: Path | None, queries: int) -> None:
    with tempfile.TemporaryDirectory() as cache:
        index, build_wall, build_cpu = timed(lambda: nearest.training_index(dataset, data_root, reference_root, cache))
        assert index.built
        again, load_wall, _ = timed(lambda: nearest.training_index(dataset, data_root, reference_root, cache))
        assert not again.built
        size_mb = index.cache_file.stat().st_size / 2**20
    n = len(index.images)
    picks = torch.randperm(n, generator=torch.Generator().manual_seed(0))[:queries]
    noise = torch.Generator().manual_seed(1)
    pictures = [(index.images[int(i)].float() / 127.5 - 1 + 0.05 * torch.randn(1, 28, 28, generator=noise)).clamp(-1, 1)
                for i in picks]
    index.in_features(pictures[0])  # warm-up
    index.in_pixels(pictures[0])
    ours, naive, feature_ms, pixel_ms = [], [], [], []
    for picture in pictures:
        with training_paused(PAUSE, quiet=True):
            t0 = time.perf_counter()
            index.in_features(picture, 5)
            t1 = time.perf_counter()
            mine = index.in_pixels(picture, 5)
            t2 = time.perf_counter()
            distances = (index.images.float() / 127.5 - 1 - picture).flatten(1).square().mean(1).sqrt() / 2
            baseline = distances.topk(5, largest=False).values
            t3 = time.perf_counter()
        # the same neighbours, up to ties that float rounding may order either way
        assert torch.allclose(distances[[m.index for m in mine]], baseline, atol=1e-4), "the fast lookup disagrees"
        feature_ms.append((t1 - t0) * 1000)
        pixel_ms.append((t2 - t1) * 1000)
        ours.append((t2 - t0) * 1000)
        naive.append((t3 - t2) * 1000)
    print(f"\nload average now: {os.getloadavg()[0]:.1f}")
    print(f"\n{dataset}: {n} training images, {queries} lookups of noisy training images")
    med = statistics.median
    figure(f"nearest_{dataset}_build_wall", build_wall, "s", f"first use: features of {n} images; CPU {build_cpu:.1f} s")
    figure(f"nearest_{dataset}_cache_load_wall", load_wall, "s", f"later processes: read the {size_mb:.1f} MB cache + data")
    figure(f"nearest_{dataset}_lookup_median", med(ours), "ms", f"bar: < 200 ms; features {med(feature_ms):.1f} + pixels {med(pixel_ms):.1f}")
    figure(f"nearest_{dataset}_lookup_max", max(ours), "ms")
    figure(f"nearest_{dataset}_naive_lookup_median", med(naive), "ms", "pixels only, float subtraction from every image")
    ratio(f"nearest_{dataset}_lookup_vs_naive_pixels", med(ours), med(naive), higher_is_better=False)


def main() -> int:
    global PAUSE
    parser = bench_parser(__doc__)
    parser.add_argument("--models", default="dcgan-mnist,cgan-fashion")
    parser.add_argument("--datasets", default="mnist,fashion-mnist")
    parser.add_argument("--targets", type=int, default=5)
    args = parser.parse_args()
    PAUSE = args.pause_training
    set_cpu_threads()
    print(machine())
    print(f"load average at start: {' '.join(f'{v:.1f}' for v in os.getloadavg())} (other processes share the cores)")
    steps = 5 if args.smoke else 60
    for model_id in (["dcgan-mnist"] if args.smoke else args.models.split(",")):
        if not (REPO / "checkpoints" / model_id / "card.json").is_file():
            print(f"skipped {model_id}: not in checkpoints/")
            continue
        bench_inversion(model_id, 1 if args.smoke else args.targets, steps)
    if args.smoke:
        with tempfile.TemporaryDirectory() as tmp:
            data, reference = tiny_dataset(Path(tmp))
            bench_nearest("mnist", data, reference, 3)
        return 0
    for dataset in args.datasets.split(","):
        if not default_root(dataset).is_dir():
            print(f"skipped {dataset}: its data are not at {default_root(dataset)}")
            continue
        bench_nearest(dataset, None, None, 20)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
