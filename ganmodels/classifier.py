"""Small reference classifiers, trained here, that stand in for Inception in offline metrics.

    python -m ganmodels.classifier mnist
    python -m ganmodels.classifier fashion-mnist
    python -m ganmodels.classifier horse2zebra --data-root ../shared/data/horse2zebra
    python -m ganmodels.classifier cifar10 --work-dir /tmp/reference-cifar10   # resumable, one state per epoch

Each is saved to checkpoints/reference/<dataset>/ with a card holding its test accuracy.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from .checkpoint import load_into, read_weights, save_weights
from .data import CLASS_NAMES, DatasetError, default_root, load_labelled, load_unpaired
from .families.base import BatchSource, to_float_images
from .files import CARD_NAME, atomic_path, atomic_write_json

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


class ConvBlock(nn.Sequential):
    """conv, 2x2 max-pool, BN, GELU, conv, BN, GELU (Keller Jordan's airbench block): the pool comes early so the
    second conv runs at a quarter of the pixels."""

    def __init__(self, c_in: int, c_out: int):
        super().__init__(nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.MaxPool2d(2), nn.BatchNorm2d(c_out), nn.GELU(),
                         nn.Conv2d(c_out, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.GELU())


class BlockClassifier(nn.Module):
    """The colour-photo reference (CIFAR-10): a stem and three ConvBlocks, then a global max-pool whose
    widths[-1]-d output is the feature vector of the Frechet distance. Small enough to train to 85%+ on two CPU
    cores in about an hour; it has the ReferenceClassifier's interface (prepare, features, head)."""

    def __init__(self, channels: int = 3, image_size: int = 32, num_classes: int = 10, widths=(32, 64, 128, 128)):
        super().__init__()
        self.image_size = image_size
        stem, *blocks = widths
        layers: list[nn.Module] = [nn.Conv2d(channels, stem, 3, padding=1, bias=False), nn.BatchNorm2d(stem), nn.GELU()]
        for c_in, c_out in zip(widths[:-1], blocks):
            layers.append(ConvBlock(c_in, c_out))
        self.body = nn.Sequential(*layers, nn.AdaptiveMaxPool2d(1), nn.Flatten())
        self.head = nn.Linear(widths[-1], num_classes, bias=False)

    prepare = ReferenceClassifier.prepare
    features = ReferenceClassifier.features
    forward = ReferenceClassifier.forward


NETS = {"conv": ReferenceClassifier, "blocks": BlockClassifier}


def build_classifier(arch: dict) -> nn.Module:
    """The net a reference card's arch describes: `net` names its kind (the first references' conv net without it)."""
    kwargs = {k: v for k, v in arch.items() if k != "net"}
    return NETS[arch.get("net", "conv")](**kwargs)


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
    if not (folder / CARD_NAME).is_file():
        raise FileNotFoundError(f"no reference classifier for '{dataset}' in {root}; train it with python -m ganmodels.classifier {dataset}")
    card = json.loads((folder / CARD_NAME).read_text())
    net = build_classifier(card["arch"])
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


def translate_and_flip(x: torch.Tensor, pad: int, gen: torch.Generator) -> torch.Tensor:
    """Each image of a batch shifted by its own random offset of up to `pad` px (reflected borders) and flipped
    left-right with probability 1/2: the CIFAR augmentation, done by one gather on the uint8 batch."""
    n, _, h, w = x.shape
    padded = F.pad(x.float(), (pad,) * 4, mode="reflect").to(x.dtype).permute(0, 2, 3, 1)  # N×H×W×C
    top = torch.randint(2 * pad + 1, (n,), generator=gen)
    left = torch.randint(2 * pad + 1, (n,), generator=gen)
    rows = (top[:, None] + torch.arange(h))[:, :, None]
    cols = left[:, None] + torch.arange(w)
    flip = torch.rand(n, generator=gen) < 0.5
    cols = torch.where(flip[:, None], cols.flip(1), cols)[:, None, :]
    return padded[torch.arange(n)[:, None, None], rows, cols].permute(0, 3, 1, 2)


def _center(x: torch.Tensor, size: int) -> torch.Tensor:
    off = (x.shape[-1] - size) // 2
    return x[..., off : off + size, off : off + size]


# Datasets trained with the BlockClassifier recipe (SGD + Nesterov, one-cycle rate, label smoothing, per-image
# translate-and-flip); the others train the conv net with Adam as the first references did.
BLOCK_RECIPES = {
    "cifar10": {"arch": {"net": "blocks", "widths": [32, 64, 128, 128]}, "epochs": 6, "batch_size": 256, "lr": 0.2,
                "momentum": 0.9, "weight_decay": 5e-4, "label_smoothing": 0.2, "translate": 2},
}
DEFAULT_EPOCHS = {"mnist": 2, "fashion-mnist": 4, "horse2zebra": 15, **{k: r["epochs"] for k, r in BLOCK_RECIPES.items()}}
STATE_NAME = "reference_state.pt"


def accuracy(net: nn.Module, images: torch.Tensor, labels: torch.Tensor) -> float:
    """Top-1 accuracy of `net` (in eval mode) on a labelled set."""
    return (Reference(net.eval(), {}).features_and_predictions(images)[1] == labels).float().mean().item()


def train_reference(dataset: str, data_root: str | None = None, epochs: int = 3, out: Path = REFERENCE_DIR, seed: int = 0,
                    work_dir: Path | None = None, command: str | None = None) -> dict:
    """Train `dataset`'s reference classifier and save it with its card. With `work_dir` the run saves its state
    there after every epoch and a second call with the same arguments resumes from the last one."""
    torch.manual_seed(seed)
    train_x, train_y = _load_split(dataset, data_root, "train")
    test_x, test_y = _load_split(dataset, data_root, "test")
    photo = dataset == "horse2zebra"
    recipe = BLOCK_RECIPES.get(dataset)
    size = DOMAIN_SIZE if photo else train_x.shape[-1]
    classes = ["horse", "zebra"] if photo else CLASS_NAMES[dataset]
    base = {"channels": train_x.shape[1], "image_size": size, "num_classes": len(classes)}
    if recipe:
        arch = {**base, **recipe["arch"]}
        net = build_classifier(arch).to(memory_format=torch.channels_last)
        decay = [p for p in net.parameters() if p.ndim > 1]
        others = [p for p in net.parameters() if p.ndim <= 1]
        opt = torch.optim.SGD([{"params": decay, "weight_decay": recipe["weight_decay"]}, {"params": others, "weight_decay": 0.0}],
                              lr=recipe["lr"], momentum=recipe["momentum"], nesterov=True)
        batch_size, max_lr, smoothing = recipe["batch_size"], recipe["lr"], recipe["label_smoothing"]
    else:
        arch = {**base, "width": 32}
        net = build_classifier(arch)
        opt = torch.optim.Adam(net.parameters(), lr=1e-3)
        batch_size, max_lr, smoothing = 64 if photo else 128, 3e-3, 0.0
    source = BatchSource(len(train_x), batch_size, seed)
    per_epoch = len(train_x) // source.batch_size
    steps = epochs * per_epoch
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=max_lr, total_steps=steps)
    gen = torch.Generator().manual_seed(seed)
    done, seconds, history = 0, 0.0, []
    state_path = Path(work_dir) / STATE_NAME if work_dir else None
    if state_path and state_path.is_file():
        state = torch.load(state_path, weights_only=True)
        if state["steps"] != steps:
            raise ValueError(f"{state_path} is a run of {state['steps']} steps, not {steps}: give the same --epochs")
        net.load_state_dict(state["net"])
        opt.load_state_dict(state["opt"])
        sched.load_state_dict(state["sched"])
        source.load_state_dict(state["source"])
        gen.set_state(state["gen"])
        torch.set_rng_state(state["torch_rng"])
        done, seconds, history = state["done"], state["seconds"], state["history"]
    started = time.time() - seconds
    probe = slice(0, min(len(test_x), 2000))  # a quick per-epoch look at the test set (interleaved classes)
    bar = tqdm(total=steps, initial=done, desc=f"reference {dataset}", unit="step")
    for step in range(done, steps):
        net.train()
        idx = source.next_indices()
        batch = train_x[idx]
        batch = translate_and_flip(batch, recipe["translate"], gen) if recipe else _augment(batch, size, gen)
        x = to_float_images(batch, torch.device("cpu"))
        if recipe:
            x = x.contiguous(memory_format=torch.channels_last)
        loss = F.cross_entropy(net(x), train_y[idx], label_smoothing=smoothing)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        bar.update(1)
        if state_path and (step + 1) % per_epoch == 0 and step + 1 < steps:
            epoch = (step + 1) // per_epoch
            probe_acc = accuracy(net, _center(test_x[probe], size), test_y[probe])
            history.append({"epoch": epoch, "loss": round(loss.item(), 4), "probe_accuracy": round(probe_acc, 4),
                            "seconds": round(time.time() - started, 1)})
            tqdm.write(json.dumps(history[-1]))
            state_path.parent.mkdir(parents=True, exist_ok=True)
            with atomic_path(state_path) as tmp:
                torch.save({"net": net.state_dict(), "opt": opt.state_dict(), "sched": sched.state_dict(),
                            "source": source.state_dict(), "gen": gen.get_state(), "torch_rng": torch.get_rng_state(),
                            "done": step + 1, "steps": steps, "seconds": time.time() - started, "history": history}, tmp)
    bar.close()
    seconds = time.time() - started
    net = net.to(memory_format=torch.contiguous_format).eval()
    test_accuracy = accuracy(net, _center(test_x, size), test_y)
    folder = out / dataset
    save_weights(net, folder / "classifier.safetensors")
    training = {"epochs": epochs, "steps": steps, "seconds": round(seconds, 1), "seed": seed,
                "command": command or f"python -m ganmodels.classifier {dataset}"}
    if recipe:
        training["recipe"] = {k: v for k, v in recipe.items() if k != "arch"} | {"optimizer": "SGD nesterov, one-cycle rate"}
        training["epoch_history"] = history
    card = {
        "id": f"reference-{dataset}", "kind": "reference-classifier", "dataset": dataset, "classes": classes, "arch": arch,
        "training": training,
        "metrics": {"test_accuracy": round(test_accuracy, 4), "test_images": len(test_x)},
        "purpose": "stands in for Inception: its 128-d penultimate features give the classifier-FID; its predictions give coverage and accuracy",
    }
    atomic_write_json(folder / CARD_NAME, card)
    return card


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m ganmodels.classifier", description=__doc__.split("\n")[0])
    p.add_argument("dataset", choices=sorted(DEFAULT_EPOCHS))
    p.add_argument("--data-root")
    p.add_argument("--epochs", type=int)
    p.add_argument("--out", type=Path, default=REFERENCE_DIR)
    p.add_argument("--work-dir", type=Path, help="save the training state there after every epoch; run again to resume")
    args = p.parse_args(argv)
    epochs = args.epochs or DEFAULT_EPOCHS[args.dataset]
    command = "python -m ganmodels.classifier " + " ".join(argv if argv is not None else sys.argv[1:])
    try:
        card = train_reference(args.dataset, args.data_root, epochs, args.out, work_dir=args.work_dir, command=command)
    except DatasetError as exc:
        raise SystemExit(f"error: {exc}") from None
    print(json.dumps(card["metrics"]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
