"""The training images nearest to a picture, in the reference classifier's feature space and in pixels.

A generator that reproduces its training images has memorised them instead of learning to draw; the nearest
training images, with their distances, let a user check. The training set's features are computed once per
dataset and classifier and kept in the user cache directory, so each lookup after that is two matrix products.
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from .classifier import REFERENCE_DIR, Reference, load_reference
from .data import DatasetError, _cache_dir, default_root, find_idx_file, load_idx_dataset
from .files import CARD_NAME, atomic_path

CACHE_VERSION = 1
MAX_NEIGHBOURS = 50


class NearestError(ValueError):
    """Why nearest training images cannot be shown, in words fit for a user."""


@dataclass
class Neighbour:
    index: int  # position in the training set
    label: int
    distance: float
    image: torch.Tensor  # C×H×W in [-1, 1]


def _fingerprint(dataset: str, data_root: Path, reference_folder: Path) -> str:
    """Changes when the training files or the classifier change, so a stale cache is never used."""
    parts = [f"v{CACHE_VERSION}", dataset]
    try:
        for stem in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"):
            path = find_idx_file(data_root, stem).resolve()
            stat = path.stat()
            parts.append(f"{path}:{stat.st_size}:{stat.st_mtime_ns}")
    except (DatasetError, OSError) as exc:
        raise NearestError(f"The {dataset} training images are not on this machine ({exc}).") from None
    digest = hashlib.sha256()
    for name in (CARD_NAME, "classifier.safetensors"):
        path = reference_folder / name
        if not path.is_file():
            raise NearestError(f"There is no reference classifier for {dataset} ({path} is missing).")
        digest.update(path.read_bytes())
    parts.append(digest.hexdigest())
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:20]


class TrainingIndex:
    """A dataset's training images, their reference features and the classifier that made them."""

    def __init__(self, dataset: str, images: torch.Tensor, labels: torch.Tensor, features: torch.Tensor, reference: Reference,
                 cache_file: Path, built: bool):
        self.dataset, self.images, self.labels, self.reference = dataset, images, labels, reference
        self.features = features.float()
        self.feature_norms = self.features.square().sum(1)
        # As floats once (188 MB for 60,000 28-px images): a lookup is then one matrix-vector product, about 5x
        # faster than converting the uint8 images at every lookup.
        self.pixels = images.flatten(1).float().div_(127.5).sub_(1.0)
        self.pixel_norms = self.pixels.square().sum(1)
        self.cache_file, self.built = cache_file, built  # built: the features were computed now, not read from disk
        with torch.inference_mode():  # the first call of a net allocates its workspaces: done here, not in a lookup
            self.reference.net.features(torch.zeros(1, *images.shape[1:]))

    def _query(self, image: torch.Tensor) -> torch.Tensor:
        """One picture (C×H×W or 1×C×H×W in [-1, 1]) checked and brought to the training images' size."""
        x = image.detach().float().cpu()
        x = x.unsqueeze(0) if x.dim() == 3 else x
        channels, size = self.images.shape[1], self.images.shape[-1]
        if x.dim() != 4 or len(x) != 1:
            raise NearestError(f"Give one picture (C×H×W); got shape {tuple(image.shape)}.")
        if x.shape[1] != channels:
            raise NearestError(f"The picture has {x.shape[1]} channel(s); the {self.dataset} images have {channels}.")
        if not torch.isfinite(x).all():
            raise NearestError("The picture holds non-finite values.")
        if x.shape[-2:] != (size, size):
            x = F.interpolate(x, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
        return x.clamp(-1, 1)

    def _neighbours(self, squared: torch.Tensor, k: int, scale: float) -> list[Neighbour]:
        if not 1 <= k <= MAX_NEIGHBOURS:
            raise NearestError(f"Ask for 1 to {MAX_NEIGHBOURS} neighbours, not {k}.")
        values, order = squared.clamp_min(0).topk(min(k, len(squared)), largest=False)
        return [Neighbour(int(i), int(self.labels[i]), float(v.sqrt()) * scale,
                          self.pixels[i].reshape(self.images.shape[1:]).clone()) for v, i in zip(values, order)]

    @torch.inference_mode()
    def in_features(self, image: torch.Tensor, k: int = 5) -> list[Neighbour]:
        """Nearest by Euclidean distance between the reference classifier's 128-d features."""
        feature = self.reference.net.features(self._query(image)).float()[0]
        squared = self.feature_norms - 2 * (self.features @ feature) + feature.square().sum()
        return self._neighbours(squared, k, 1.0)

    @torch.inference_mode()
    def in_pixels(self, image: torch.Tensor, k: int = 5) -> list[Neighbour]:
        """Nearest by root-mean-square pixel difference, on a 0-1 scale (0 = identical)."""
        query = self._query(image).flatten()
        squared = self.pixel_norms - 2 * (self.pixels @ query) + query.square().sum()
        return self._neighbours(squared, k, 0.5 / query.numel() ** 0.5)


def cache_file_for(dataset: str, data_root: str | os.PathLike | None = None, reference_root: str | os.PathLike | None = None,
                   cache_dir: str | os.PathLike | None = None) -> Path:
    """Where the features of this dataset, data folder and classifier are (or will be) kept."""
    root = Path(data_root) if data_root else default_root(dataset)
    reference_folder = Path(reference_root or REFERENCE_DIR) / dataset
    key = _fingerprint(dataset, root, reference_folder)
    return Path(cache_dir or _cache_dir()) / f"nearest-{dataset}-{key}.npz"


def training_index(dataset: str, data_root: str | os.PathLike | None = None, reference_root: str | os.PathLike | None = None,
                   cache_dir: str | os.PathLike | None = None) -> TrainingIndex:
    """The dataset's training images with their features: read from the cache, or computed and cached (atomically)."""
    if not dataset:
        raise NearestError("This model's card does not say which dataset it was trained on.")
    try:
        root = Path(data_root) if data_root else default_root(dataset)
    except DatasetError:
        raise NearestError(f"GAN Studio does not know where the '{dataset}' training images would be.") from None
    cache_file = cache_file_for(dataset, root, reference_root, cache_dir)
    try:
        reference = load_reference(dataset, reference_root)
        images, labels = load_idx_dataset(root, "train")
    except FileNotFoundError as exc:
        raise NearestError(f"There is no reference classifier for {dataset}: {exc}") from None
    except DatasetError as exc:
        raise NearestError(f"The {dataset} training images could not be read: {exc}") from None
    features = _read_cache(cache_file, len(images))
    built = features is None
    if built:
        features = reference.features_and_predictions(images)[0].float()
        try:
            _write_cache(cache_file, features)
        except OSError:  # a read-only or full cache folder costs the next visit a rebuild, nothing more
            pass
    return TrainingIndex(dataset, images, labels, features, reference, cache_file, built)


def _read_cache(path: Path, count: int) -> torch.Tensor | None:
    """The cached features, or None when absent, unreadable or not for `count` images (then they are rebuilt)."""
    try:
        with np.load(path, allow_pickle=False) as stored:
            features = stored["features"]
            meta = json.loads(str(stored["meta"]))
    except (OSError, KeyError, ValueError):
        return None
    if meta.get("version") != CACHE_VERSION or features.ndim != 2 or len(features) != count or features.dtype != np.float32:
        return None
    return torch.from_numpy(features)


def _write_cache(path: Path, features: torch.Tensor) -> None:
    """Written to a temporary file beside it, then renamed, so a reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.savez(fh, features=features.numpy().astype(np.float32), meta=np.array(json.dumps({"version": CACHE_VERSION})))
