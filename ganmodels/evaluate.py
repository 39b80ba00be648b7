"""Offline quality metrics, written into the model card.

    python -m ganmodels.evaluate checkpoints/dcgan-mnist            # final generator
    python -m ganmodels.evaluate runs/my-run --snapshots            # and every snapshot

No Inception download is possible offline, so features and predictions come from the
project's own reference classifiers (checkpoints/reference/, see ganmodels.classifier).
"""
from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from scipy.optimize import linear_sum_assignment

from .cards import CardError, read_card
from .checkpoint import CheckpointError, LoadedModel, average_weights, load_into, load_model
from .classifier import DOMAIN_SIZE, Reference, load_reference
from .data import default_root, load_labelled, load_unpaired
from .families.sgan import classifier_accuracy
from .latent import seeded_generator
from .registry import get_family

EVAL_SEED = 2024


def frechet_distance(a: torch.Tensor, b: torch.Tensor) -> float:
    """Frechet distance between Gaussians fitted to two feature sets (the FID formula).

    Tr sqrt(S1 S2) is taken as the trace of sqrt(S1^1/2 S2 S1^1/2), a symmetric PSD matrix,
    so dead (constant) ReLU features and singular covariances stay stable.
    """
    a, b = a.double().numpy(), b.double().numpy()
    mu1, mu2 = a.mean(0), b.mean(0)
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    w, v = np.linalg.eigh(s1)
    root1 = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    middle = np.linalg.eigvalsh(root1 @ s2 @ root1)
    trace_covmean = np.sqrt(np.clip(middle, 0, None)).sum()
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * trace_covmean)


def coverage(predictions: torch.Tensor, num_classes: int) -> dict:
    """Predicted-class histogram and its entropy relative to uniform (1.0 = every class equally often)."""
    hist = torch.bincount(predictions, minlength=num_classes).double()
    p = hist / hist.sum()
    entropy = float(-(p[p > 0] * p[p > 0].log()).sum())
    return {"class_histogram": hist.long().tolist(), "coverage_entropy": round(entropy, 4),
            "coverage_entropy_ratio": round(entropy / math.log(num_classes), 4)}


def code_purity(codes: torch.Tensor, predictions: torch.Tensor, num_codes: int, num_classes: int) -> dict:
    """Best one-to-one mapping of categorical code to predicted class, and the share it explains."""
    confusion = torch.zeros(num_codes, num_classes, dtype=torch.long)
    confusion.index_put_((codes, predictions), torch.ones_like(codes), accumulate=True)
    rows, cols = linear_sum_assignment(-confusion.numpy())
    matched = int(confusion.numpy()[rows, cols].sum())
    return {"code_purity": round(matched / len(codes), 4), "code_to_class": {int(r): int(c) for r, c in zip(rows, cols)},
            "code_confusion": confusion.tolist()}


class RealStats:
    """Reference features of the real test and train sets, computed once per dataset."""

    _cache: dict = {}

    @classmethod
    def get(cls, dataset: str, ref: Reference, n: int, data_root: str | None = None, reference_root=None):
        # other data or another classifier means other features
        key = (dataset, n, str(data_root or default_root(dataset)), str(reference_root))
        if key not in cls._cache:
            test_x, test_y = load_labelled(dataset, data_root, "test")
            train_x, _ = load_labelled(dataset, data_root, "train")
            pick = torch.randperm(len(train_x), generator=seeded_generator(EVAL_SEED))[:n]
            test_f, test_p = ref.features_and_predictions(test_x[:n])
            train_f, _ = ref.features_and_predictions(train_x[pick])
            cls._cache[key] = {"test_features": test_f, "train_features": train_f, "floor": frechet_distance(train_f, test_f),
                               "test_accuracy": (test_p == test_y[:n]).float().mean().item()}
        return cls._cache[key]


def evaluation_inputs(model: LoadedModel, n: int, psi: float | None = None) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
    """(latents, class labels, InfoGAN categories) of n evaluation samples: the same for every evaluation of a
    model, so figures compare across snapshots and runs. Conditional models get every class equally often.
    `psi` truncates the noise (not the codes), for measuring the truncation trick."""
    return model.family.evaluation_inputs(model.card.arch, n, EVAL_SEED, psi)


def evaluation_samples(model: LoadedModel, n: int, ref: Reference):
    """(images, labels, codes, features, predictions) of the model's n evaluation samples."""
    latents, labels, codes = evaluation_inputs(model, n)
    images = model.generate(latents, labels)
    feats, preds = ref.features_and_predictions(images)
    return images, labels, codes, feats, preds


def training_image_fid(model: LoadedModel, n: int = 10000, data_root: str | None = None, reference_root=None) -> float:
    """Classifier-FID against n training images instead of the test set. For choices made while building a model
    (which snapshots to average), so that the test figure reported afterwards was not itself what picked it."""
    dataset = model.card.dataset.get("name")
    ref = load_reference(dataset, reference_root)
    stats = RealStats.get(dataset, ref, n, data_root or model.card.dataset.get("root"), reference_root)
    return frechet_distance(evaluation_samples(model, n, ref)[3], stats["train_features"])


def measure_average_windows(path: str | Path, starts: list[int], samples: int = 10000, data_root: str | None = None,
                            reference_root=None) -> dict:
    """For each start step, average the run's snapshots from there to its last one (checkpoint.average_weights) and
    measure the mean generator's training-image FID; the table goes into the run's card (training.average_windows),
    so `publish --average-from` can ship the best window with the evidence that chose it."""
    path = Path(path)
    card = read_card(path)
    if get_family(card.family).translator:
        raise CardError(f"{card.id} is a translator: averaging windows are chosen by FID, which only image generators have")
    model = load_model(path, device="cpu", companions=False)
    by_start = {}
    for start in starts:
        window = card.snapshots_from(start)
        load_into(model.generator, average_weights([path / s["weights"] for s in window]), f"the average from step {start}")
        by_start[str(start)] = round(training_image_fid(model, samples, data_root, reference_root), 4)
    best = min(by_start, key=by_start.get)
    card.training["average_windows"] = {
        "measured": f"classifier-FID of the mean generator's {samples} evaluation samples against {samples} training "
                    "images (not the test set), for each first snapshot averaged up to the run's last",
        "classifier_fid_vs_train_by_start": by_start, "best_start": int(best),
        "command": f"python -m ganmodels.evaluate {path} --average-windows {' '.join(map(str, starts))}" +
                   (f" --samples {samples}" if samples != 10000 else "")}
    card.save(path)
    return card.training["average_windows"]


def _latent_metrics(model: LoadedModel, n: int, data_root: str | None, reference_root=None, companions: bool = True) -> dict:
    card = model.card
    dataset = card.dataset.get("name")
    data_root = data_root or card.dataset.get("root")  # as translation_metrics: the data the run trained on
    ref = load_reference(dataset, reference_root)
    num_classes = ref.card["arch"]["num_classes"]
    stats = RealStats.get(dataset, ref, n, data_root, reference_root)
    arch = card.arch
    images, labels, codes, feats, preds = evaluation_samples(model, n, ref)
    fid = frechet_distance(feats, stats["test_features"])
    out = {"samples": n, "classifier_fid": round(fid, 4), "classifier_fid_floor": round(stats["floor"], 4),
           "fid_to_floor": round(fid / stats["floor"], 3), **coverage(preds, num_classes),
           "output_min": round(float(images.min()), 4), "output_max": round(float(images.max()), 4)}
    if labels is not None:
        out["conditional_accuracy"] = round((preds == labels).float().mean().item(), 4)
    if codes is not None:
        out.update(code_purity(codes, preds, arch["num_categories"], num_classes))
    if model.family.discriminator_classifies and companions:
        test_x, test_y = load_labelled(dataset, data_root, "test")
        for name, key in (("classifier", "test_accuracy"), ("baseline", "baseline_test_accuracy")):
            if name in model.companions:
                out[key] = round(classifier_accuracy(model.companions[name], test_x, test_y, model.device), 4)
        out["labelled_images"] = card.training.get("hparams", {}).get("labels")
    return out


def translation_metrics(model: LoadedModel, sizes, data_root: str | None = None, reference_root=None) -> dict:
    """Target-domain rate and cycle L1 on the test sets at each side in `sizes`; above the training size both as the
    app translates (scale blend, keys ending `_blend`) and in one direct pass."""
    ref = load_reference("horse2zebra", reference_root)
    root = data_root or model.card.dataset.get("root") or default_root("horse2zebra")

    def predictions(images):
        return ref.features_and_predictions(F.interpolate(images, size=DOMAIN_SIZE, mode="bilinear", antialias=True))[1]

    def translated(images, direction, blend):
        return torch.cat([model.translate(images[i : i + 8], direction, blend) for i in range(0, len(images), 8)])

    out: dict = {}
    for size in sorted(set(sizes)):
        test_a, test_b = load_unpaired(root, size, "test")
        modes = (("", False), ("_blend", True)) if size > model.card.image_size else (("", False),)
        for src, images, direction, target in (("a", test_a, "a2b", 1), ("b", test_b, "b2a", 0)):
            if direction not in model.generator:
                continue
            back = "b2a" if direction == "a2b" else "a2b"
            x = images.float() / 127.5 - 1
            out[f"source_rate_before_{direction}_{size}px"] = round((predictions(x) == 1 - target).float().mean().item(), 4)
            for suffix, blend in modes:
                y = translated(x, direction, blend)
                out[f"target_rate_{direction}_{size}px{suffix}"] = round((predictions(y) == target).float().mean().item(), 4)
                if back in model.generator:
                    rec = translated(y, back, blend)
                    out[f"cycle_l1_{direction}_{size}px{suffix}"] = round((rec - x).abs().mean().item(), 4)
        out["test_images"] = {"a": len(test_a), "b": len(test_b)}
    return out


def evaluate_model(model: LoadedModel, samples: int = 10000, data_root: str | None = None, reference_root=None,
                   snapshot: bool = False) -> dict:
    """`reference_root` picks another folder of reference classifiers (default checkpoints/reference).

    `snapshot=True` measures an earlier generator of the folder: a translator at its training size only (256 px
    costs ~7x more), and no figures of the companions (SGAN's classifiers), which are the final run's.
    """
    started = time.time()
    if model.family.translator:
        sizes = {model.card.image_size} if snapshot else {model.card.image_size, 256}  # 256: the photos' own size
        metrics = translation_metrics(model, sizes, data_root, reference_root)
    else:
        metrics = _latent_metrics(model, samples, data_root, reference_root, companions=not snapshot)
    metrics["evaluated"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    metrics["eval_seconds"] = round(time.time() - started, 1)
    return metrics


def evaluate_path(path: str | Path, samples: int = 10000, snapshots: bool = False, snapshot_samples: int = 2000,
                  data_root: str | None = None, reference_root: str | Path | None = None) -> dict:
    """Evaluate a checkpoint folder and store the results in its card (and per snapshot on request)."""
    path = Path(path)
    card = read_card(path)
    model = load_model(path, device="cpu")
    card.metrics = {**evaluate_model(model, samples, data_root, reference_root),
                    "command": f"python -m ganmodels.evaluate {path}" + (" --snapshots" if snapshots else "")}
    if snapshots:
        for snap in card.snapshots:
            if not snap.get("weights"):  # publish dropped these weights for space: only the grid is left to show
                continue
            snap_model = load_model(path, device="cpu", weights=snap["weights"])
            snap["metrics"] = {**snap.get("metrics", {}),
                               **evaluate_model(snap_model, snapshot_samples, data_root, reference_root, snapshot=True)}
    card.save(path)
    return card.metrics


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m ganmodels.evaluate", description="Measure a checkpoint and write the figures into its card.")
    p.add_argument("paths", nargs="+", help="checkpoint or run folders (with card.json); several share the real-data features")
    p.add_argument("--samples", type=int, default=10000)
    p.add_argument("--snapshots", action="store_true", help="also evaluate every snapshot (with --snapshot-samples)")
    p.add_argument("--snapshot-samples", type=int, default=2000)
    p.add_argument("--data-root", help="dataset location if not the card's")
    p.add_argument("--reference-root", help="folder of reference classifiers (default checkpoints/reference)")
    p.add_argument("--average-windows", nargs="+", type=int, metavar="START",
                   help="instead: the training-image FID of the average of a run's snapshots from each START to its last "
                        "(for publish --average-from)")
    args = p.parse_args(argv)
    try:  # a missing card or weights file (e.g. a hand-thinned run folder) ends in one line, not a traceback
        for path in args.paths:
            if args.average_windows:
                windows = measure_average_windows(path, args.average_windows, args.samples, args.data_root, args.reference_root)
                print(path, json.dumps(windows, indent=1))
            else:
                metrics = evaluate_path(path, args.samples, args.snapshots, args.snapshot_samples, args.data_root,
                                        args.reference_root)
                print(path, json.dumps({k: v for k, v in metrics.items() if k not in ("code_confusion",)}, indent=1))
    except (CardError, CheckpointError) as exc:
        raise SystemExit(f"evaluate: {exc}") from None
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
