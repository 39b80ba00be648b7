"""Small reference classifiers, trained here, that stand in for Inception in offline metrics.

    python -m ganmodels.classifier mnist
    python -m ganmodels.classifier fashion-mnist
    python -m ganmodels.classifier horse2zebra --data-root ../shared/data/horse2zebra

Each is saved to checkpoints/reference/<dataset>/ with a card holding its test accuracy.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from .checkpoint import load_into, read_weights, save_weights
from .data import CLASS_NAMES, default_root, load_labelled, load_unpaired
from .families.base import BatchSource, to_float_images

REFERENCE_DIR = Path(__file__).resolve().parent.parent / "checkpoints" / "reference"
# Domain classifiers see images at this size whatever the generator's resolution.
DOMAIN_SIZE = 64


class ReferenceClassifier(nn.Module):
    """Conv net with a 128-d penultimate layer: its features feed the Frechet distance."""

    def __init__(self, channels: int = 1, image_size: int = 28, num_classes: int = 10, width: int = 32):
        super().__init__()
        self.image_size = image_size
        self.body = nn.Sequential(
            nn.Conv2d(channels, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU(True), nn.MaxPool2d(2),
            nn.Conv2d(width, width * 2, 3, padding=1), nn.BatchNorm2d(width * 2), nn.ReLU(True), nn.MaxPool2d(2),
            nn.Conv2d(width * 2, width * 4, 3, padding=1), nn.BatchNorm2d(width * 4), nn.ReLU(True),
            nn.AdaptiveAvgPool2d(1), nn.Flatten(),
            nn.Linear(width * 4, 128), nn.ReLU(True),
        )
        self.head = nn.Sequential(nn.Dropout(0.3), nn.Linear(128, num_classes))

    def prepare(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] != self.image_size:
            x = F.interpolate(x, size=(self.image_size, self.image_size), mode="bilinear", antialias=True, align_corners=False)
        return x

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(self.prepare(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


class Reference:
    """A loaded reference classifier with batched feature/prediction helpers."""

    def __init__(self, net: ReferenceClassifier, card: dict):
        self.net, self.card = net.eval(), card

    @torch.inference_mode()
    def features_and_predictions(self, images: torch.Tensor, batch_size: int = 500):
        feats, preds = [], []
        for i in range(0, len(images), batch_size):
            x = to_float_images(images[i : i + batch_size], torch.device("cpu"))
            h = self.net.features(x)
            feats.append(h)
            preds.append(self.net.head(h).argmax(1))
        return torch.cat(feats).double(), torch.cat(preds)


def load_reference(dataset: str, root: str | Path | None = None) -> Reference:
    """The reference classifier of `dataset` under `root` (default REFERENCE_DIR, looked up at call time)."""
    root = Path(root) if root is not None else REFERENCE_DIR
    folder = root / dataset
    if not (folder / "card.json").is_file():
        raise FileNotFoundError(f"no reference classifier for '{dataset}' in {root}; train it with python -m ganmodels.classifier {dataset}")
    card = json.loads((folder / "card.json").read_text())
    a = card["arch"]
    net = ReferenceClassifier(a["channels"], a["image_size"], a["num_classes"], a["width"])
    load_into(net, read_weights(folder / "classifier.safetensors"), f"reference/{dataset}/classifier.safetensors")
    return Reference(net, card)


def _load_split(dataset: str, data_root: str | None, split: str):
    if dataset == "horse2zebra":
        a, b = load_unpaired(data_root or default_root(dataset), DOMAIN_SIZE + 8, split)
        return torch.cat([a, b]), torch.cat([torch.zeros(len(a), dtype=torch.long), torch.ones(len(b), dtype=torch.long)])
    return load_labelled(dataset, data_root, split)


def _augment(x: torch.Tensor, size: int, gen: torch.Generator) -> torch.Tensor:
    """Random crop + flip for the photo classifier (its inputs are 8 px larger than it sees)."""
    if x.shape[-1] == size:
        return x
    top, left = (int(torch.randint(x.shape[-1] - size + 1, (1,), generator=gen)) for _ in range(2))
    x = x[..., top : top + size, left : left + size]
    return x.flip(3) if torch.rand(1, generator=gen).item() < 0.5 else x


def _center(x: torch.Tensor, size: int) -> torch.Tensor:
    off = (x.shape[-1] - size) // 2
    return x[..., off : off + size, off : off + size]


def train_reference(dataset: str, data_root: str | None = None, epochs: int = 3, out: Path = REFERENCE_DIR, seed: int = 0) -> dict:
    torch.manual_seed(seed)
    train_x, train_y = _load_split(dataset, data_root, "train")
    test_x, test_y = _load_split(dataset, data_root, "test")
    photo = dataset == "horse2zebra"
    size = DOMAIN_SIZE if photo else 28
    classes = ["horse", "zebra"] if photo else CLASS_NAMES[dataset]
    arch = {"channels": train_x.shape[1], "image_size": size, "num_classes": len(classes), "width": 32}
    net = ReferenceClassifier(**arch)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    source = BatchSource(len(train_x), 64 if photo else 128, seed)
    steps = epochs * (len(train_x) // source.batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=3e-3, total_steps=steps)
    gen = torch.Generator().manual_seed(seed)
    started = time.time()
    net.train()
    for _ in tqdm(range(steps), desc=f"reference {dataset}", unit="step"):
        idx = source.next_indices()
        x = to_float_images(_augment(train_x[idx], size, gen), torch.device("cpu"))
        loss = F.cross_entropy(net(x), train_y[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
    ref = Reference(net.eval(), {})
    _, preds = ref.features_and_predictions(_center(test_x, size))
    accuracy = (preds == test_y).float().mean().item()
    folder = out / dataset
    save_weights(net, folder / "classifier.safetensors")
    card = {
        "id": f"reference-{dataset}", "kind": "reference-classifier", "dataset": dataset, "classes": classes, "arch": arch,
        "training": {"epochs": epochs, "steps": steps, "seconds": round(time.time() - started, 1), "seed": seed,
                     "command": f"python -m ganmodels.classifier {dataset}"},
        "metrics": {"test_accuracy": round(accuracy, 4), "test_images": len(test_x)},
        "purpose": "stands in for Inception: its 128-d penultimate features give the classifier-FID; its predictions give coverage and accuracy",
    }
    (folder / "card.json").write_text(json.dumps(card, indent=1) + "\n")
    return card


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m ganmodels.classifier", description=__doc__.split("\n")[0])
    p.add_argument("dataset", choices=["mnist", "fashion-mnist", "horse2zebra"])
    p.add_argument("--data-root")
    p.add_argument("--epochs", type=int)
    p.add_argument("--out", type=Path, default=REFERENCE_DIR)
    args = p.parse_args(argv)
    epochs = args.epochs or {"mnist": 2, "fashion-mnist": 4, "horse2zebra": 15}[args.dataset]
    card = train_reference(args.dataset, args.data_root, epochs, args.out)
    print(json.dumps(card["metrics"]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
