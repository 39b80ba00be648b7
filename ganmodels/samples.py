"""Sample pictures a model draws: grids from a seed (conditional models cycle through their classes), InfoGAN
traversals, and the sheets a published checkpoint's card points to (ganmodels.publish writes them)."""
from __future__ import annotations

import math
from pathlib import Path

import torch
from PIL import Image

from .cards import ModelCard
from .checkpoint import LoadedModel
from .images import grid
from .latent import infogan_latent, sample_latents
from .registry import FAMILIES


def latest_grid(folder: str | Path, card: ModelCard) -> Path | None:
    """The progress grid of the latest snapshot that has one on disk (None for dropped-in files)."""
    folder = Path(folder)
    if not folder.is_dir():
        return None
    for snap in sorted(card.snapshots, key=lambda s: s.get("step", 0), reverse=True):
        rel = snap.get("grid")
        if rel and (folder / rel).is_file():
            return folder / rel
    return None


def sample_labels(card: ModelCard, n: int, label: int | None = None) -> torch.Tensor | None:
    """Class labels for a conditional model: the given class, or every class in turn."""
    family = FAMILIES.get(card.family)
    if family is None or not family.conditional:
        return None
    if label is not None:
        return torch.full((n,), int(label), dtype=torch.long)
    return torch.arange(n) % int(card.arch["num_classes"])


def grid_columns(n: int) -> int:
    return max(1, math.ceil(math.sqrt(n)))


def sample_grid(model: LoadedModel, seed: int = 0, n: int = 25, psi: float | None = None, nrow: int | None = None) -> Image.Image:
    """n samples from a seed as one picture (conditional models cycle through their classes)."""
    images = model.generate(model.latents(seed, n, psi), sample_labels(model.card, n))
    return grid(images, nrow or grid_columns(n))


# --- InfoGAN codes --------------------------------------------------------------------------------

def infogan_codes(card: ModelCard) -> dict:
    """Names of the categorical code and of each continuous code, from the card (defaults c1, c2...)."""
    arch = card.arch
    names = arch.get("code_names") or {}
    k = int(arch["num_continuous"])
    cont = list(names.get("continuous") or [])
    return {"categorical": names.get("categorical") or "category", "num_categories": int(arch["num_categories"]),
            "continuous": [str(cont[i]) if i < len(cont) else f"c{i + 1}" for i in range(k)]}


def infogan_noise(card: ModelCard, seed: int) -> torch.Tensor:
    """The 1×z_dim noise part for a seed (the same numbers the explorer uses)."""
    return sample_latents(seed, 1, int(card.arch["z_dim"]))


def infogan_input(card: ModelCard, noise: torch.Tensor, category: int, continuous) -> torch.Tensor:
    """[noise | one-hot category | continuous codes] for one image."""
    cont = torch.as_tensor(list(continuous), dtype=torch.float32).reshape(1, -1)
    return infogan_latent(noise.reshape(1, -1), int(category), cont, int(card.arch["num_categories"]))


def traversal_latents(card: ModelCard, noise: torch.Tensor, code_index: int | None, values, base_continuous) -> tuple[torch.Tensor, int]:
    """Rows = every category value, columns = `values` of one continuous code (the others fixed at `base_continuous`).

    `code_index` None gives one column per row (models without continuous codes). Returns (latents, images per row).
    """
    k = int(card.arch["num_categories"])
    values = [float(v) for v in values] if code_index is not None else [0.0]
    cols = len(values)
    base = torch.as_tensor(list(base_continuous), dtype=torch.float32).reshape(1, -1)
    cont = base.repeat(k * cols, 1)
    if code_index is not None:
        if not 0 <= code_index < cont.shape[1]:
            raise ValueError(f"continuous code {code_index} does not exist (the model has {cont.shape[1]})")
        cont[:, code_index] = torch.tensor(values).repeat(k)
    categories = torch.arange(k).repeat_interleave(cols)
    return infogan_latent(noise.reshape(1, -1).expand(k * cols, -1), categories, cont, k), cols


# --- sample sheets stored with a shipped checkpoint -----------------------------------------------

TRAVERSAL_VALUES = (-2.0, -1.0, 0.0, 1.0, 2.0)


def write_sample_sheets(model: LoadedModel, folder: str | Path, seed: int = 0) -> dict[str, str]:
    """Sample pictures a card points to: a 10x10 grid and, for InfoGAN, one traversal per continuous code.

    InfoGAN's traversals (rows: category, columns: code from -2 to 2) are how a reader checks
    what each code learned, e.g. slant and width on MNIST. Returns {name: path relative to folder}.
    """
    folder = Path(folder)
    (folder / "samples").mkdir(parents=True, exist_ok=True)
    sheets = {"grid": "samples/grid.png"}
    sample_grid(model, seed, 100, nrow=10).save(folder / sheets["grid"])
    if model.family.latent_codes(model.card.arch) is not None:
        codes = infogan_codes(model.card)
        noise = infogan_noise(model.card, seed)
        base = [0.0] * len(codes["continuous"])
        for index, name in enumerate(codes["continuous"]):
            latents, cols = traversal_latents(model.card, noise, index, TRAVERSAL_VALUES, base)
            rel = f"samples/traversal_c{index + 1}.png"
            grid(model.generate(latents), cols).save(folder / rel)
            sheets[f"traversal of {name}"] = rel
    return sheets
