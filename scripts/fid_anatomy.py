"""Where the shipped models' classifier-FID comes from: how sensitive the metric is, and how much of it is samples
the reference classifier cannot read.

    python scripts/fid_anatomy.py [--dataset mnist] [--samples 10000]

In the reference classifier's feature space (what `python -m ganmodels.evaluate` measures) it prints
  - the floor (train vs test) and the FID of the real test images after changes a person barely sees (faint noise,
    a one-pixel shift, 10% more ink), which gives the issue's bar (3x the floor) its scale;
  - per shipped latent model of the dataset: its FID and the share of its samples the classifier names with at least
    90% confidence, beside the real test images' share: samples caught between two classes (a 4 becoming a 9) are
    what a generator with one continuous latent space makes on the way from one class to another.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ganmodels.cards import read_card  # noqa: E402
from ganmodels.checkpoint import list_checkpoints, load_model  # noqa: E402
from ganmodels.classifier import load_reference  # noqa: E402
from ganmodels.data import load_labelled  # noqa: E402
from ganmodels.evaluate import RealStats, evaluation_inputs, frechet_distance  # noqa: E402
from ganmodels.latent import seeded_generator  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent / "checkpoints"
CONFIDENT = 0.9


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dataset", default="mnist", choices=["mnist", "fashion-mnist"])
    p.add_argument("--samples", type=int, default=10000)
    p.add_argument("--checkpoints", default=str(ROOT))
    args = p.parse_args(argv)
    n = args.samples
    ref = load_reference(args.dataset)
    stats = RealStats.get(args.dataset, ref, n)
    test_features = stats["test_features"]

    def measure(images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(features, confidence of the predicted class) per image."""
        feats, _ = ref.features_and_predictions(images)
        with torch.inference_mode():
            return feats, ref.net.head(feats.float()).softmax(1).amax(1)

    def row(name: str, fid: float | None, confident: torch.Tensor) -> None:
        cells = [name, "" if fid is None else f"{fid:.4f}", "" if fid is None else f"{fid / stats['floor']:.1f}x",
                 f"{float((confident >= CONFIDENT).float().mean()):.1%}"]
        print("| " + " | ".join(cells) + " |")

    print(f"{args.dataset}, {n} samples; floor (train vs test) {stats['floor']:.4f}; bar 3x the floor = {3 * stats['floor']:.4f}\n")
    print(f"| images | classifier-FID | x floor | named with confidence >= {CONFIDENT:.0%} |")
    print("| --- | --- | --- | --- |")
    test, _ = load_labelled(args.dataset, None, "test")
    test = test[:n].float()
    noise = torch.randn(test.shape, generator=seeded_generator(0))
    _, conf = measure(test)
    row("real test images (the reference)", None, conf)
    background = torch.full_like(test[..., :1], -1.0)
    changes = {"real + N(0, 0.02) noise": test + 0.02 * noise, "real + N(0, 0.05) noise": test + 0.05 * noise,
               "real shifted 1 px right": torch.cat([background, test[..., :-1]], dim=-1),
               "real with 10% more ink": (test + 1) * 1.1 - 1}
    for name, changed in changes.items():
        feats, conf = measure(changed.clamp(-1, 1))
        row(name, frechet_distance(feats, test_features), conf)
    for path in list_checkpoints(args.checkpoints):
        card = read_card(path) if path.is_dir() else None
        if card is None or card.dataset.get("name") != args.dataset or "z_dim" not in card.arch:
            continue
        model = load_model(path, device="cpu")
        latents, labels, _ = evaluation_inputs(model, n)
        feats, conf = measure(model.generate(latents, labels))
        row(card.id, frechet_distance(feats, test_features), conf)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
