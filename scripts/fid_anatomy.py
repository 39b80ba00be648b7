"""Where the shipped models' classifier-FID comes from: how sensitive the metric is, and how much of it is samples
the reference classifier cannot read.

    python scripts/fid_anatomy.py [--dataset mnist] [--samples 10000]

In the reference classifier's feature space (what `python -m ganmodels.evaluate` measures) it prints
  - the floor (train vs test) and the FID of the real test images after changes a person barely sees (faint noise,
    a one-pixel shift, 10% more ink), which gives the issue's bar (3x the floor) its scale;
  - per shipped latent model of the dataset: its FID and the share of its samples the classifier names with at least
    90% confidence, beside the real test images' share: samples caught between two classes (a 4 becoming a 9) are
    what a generator with one continuous latent space makes on the way from one class to another;
  - how much FID is left once those in-between samples are set aside (the confidently named samples against the
    confidently named real test images), and how widely the confidently named samples of one class spread in
    feature space against the real ones (mean within-class feature variance, real = 1.00x): above 1 means odd
    shapes, below 1 too little variety.

`--truncation PSI` draws the models' latents truncated at PSI (BigGAN's trick, as the latent explorer offers it).
"""
from __future__ import annotations

import argparse
from pathlib import Path

import torch

from ganmodels.cards import read_card
from ganmodels.checkpoint import list_checkpoints, load_model
from ganmodels.classifier import load_reference
from ganmodels.data import load_labelled
from ganmodels.evaluate import RealStats, evaluation_inputs, frechet_distance
from ganmodels.latent import seeded_generator

ROOT = Path(__file__).resolve().parent.parent / "checkpoints"
CONFIDENT = 0.9


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dataset", default="mnist", choices=["mnist", "fashion-mnist"])
    p.add_argument("--samples", type=int, default=10000)
    p.add_argument("--checkpoints", default=str(ROOT))
    p.add_argument("--truncation", type=float, metavar="PSI", help="draw the models' latent noise truncated at PSI")
    args = p.parse_args(argv)
    n = args.samples
    ref = load_reference(args.dataset)
    stats = RealStats.get(args.dataset, ref, n)
    test_features = stats["test_features"]

    def measure(images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(features, predicted class, its confidence) per image."""
        feats, _ = ref.features_and_predictions(images)
        with torch.inference_mode():
            confidence, predicted = ref.net.head(feats.float()).softmax(1).max(1)
        return feats, predicted, confidence

    def within_class_variance(feats: torch.Tensor, predicted: torch.Tensor, confident: torch.Tensor) -> float:
        """Mean over classes of the total feature variance of the confidently named samples of that class."""
        members = (feats[(predicted == k) & confident] for k in range(int(predicted.max()) + 1))
        return float(torch.stack([m.double().var(0).sum() for m in members if len(m) > 1]).mean())

    def row(name: str, images: torch.Tensor | None = None) -> None:
        feats, predicted, confidence = real if images is None else measure(images)
        confident = confidence >= CONFIDENT
        cells = [name]
        if images is None:
            cells += ["", "", ""]
        else:
            fid = frechet_distance(feats, test_features)
            cells += [f"{fid:.4f}", f"{fid / stats['floor']:.1f}x",
                      f"{frechet_distance(feats[confident], confident_test_features) / stats['floor']:.1f}x"]
        cells += [f"{float(confident.float().mean()):.1%}",
                  f"{within_class_variance(feats, predicted, confident) / real_spread:.2f}x"]
        print("| " + " | ".join(cells) + " |")

    test, _ = load_labelled(args.dataset, None, "test")
    test = test[:n].float()
    real = measure(test)
    real_confident = real[2] >= CONFIDENT
    real_spread = within_class_variance(real[0], real[1], real_confident)
    confident_test_features = real[0][real_confident]
    print(f"{args.dataset}, {n} samples; floor (train vs test) {stats['floor']:.4f}; bar 3x the floor = {3 * stats['floor']:.4f}"
          + (f"; latents truncated at {args.truncation}" if args.truncation else "") + "\n")
    print(f"| images | classifier-FID | x floor | x floor, confidently named only | named with confidence >= {CONFIDENT:.0%} "
          "| within-class spread |")
    print("| --- | --- | --- | --- | --- | --- |")
    noise = torch.randn(test.shape, generator=seeded_generator(0))
    row("real test images (the reference)")
    background = torch.full_like(test[..., :1], -1.0)
    changes = {"real + N(0, 0.02) noise": test + 0.02 * noise, "real + N(0, 0.05) noise": test + 0.05 * noise,
               "real shifted 1 px right": torch.cat([background, test[..., :-1]], dim=-1),
               "real with 10% more ink": (test + 1) * 1.1 - 1}
    for name, changed in changes.items():
        row(name, changed.clamp(-1, 1))
    for path in list_checkpoints(args.checkpoints):
        card = read_card(path) if path.is_dir() else None
        if card is None or card.dataset.get("name") != args.dataset or "z_dim" not in card.arch:
            continue
        model = load_model(path, device="cpu")
        latents, labels, _ = evaluation_inputs(model, n, args.truncation)
        row(card.id, model.generate(latents, labels))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
