"""Latent directions: the principal directions that change a generator's picture most, and moving a latent along
them (or along raw dimensions) by slider offsets."""
from __future__ import annotations

import torch

from .checkpoint import LoadedModel


@torch.no_grad()
def _flat_output(model: LoadedModel, z: torch.Tensor, labels) -> torch.Tensor:
    """Flattened images for a batch; a single class label applies to the whole batch."""
    y = None if labels is None else torch.as_tensor(labels, dtype=torch.long).reshape(-1).expand(len(z)).to(model.device)
    return model.generator(z.to(model.device), y).flatten(1).double().cpu()


def principal_directions(model: LoadedModel, k: int = 8, probes: int = 8, seed: int = 0, labels=None,
                         eps: float = 1e-2) -> tuple[torch.Tensor, torch.Tensor]:
    """Latent directions that change the image most: top eigenvectors of the mean JᵀJ of G.

    J is taken by central differences, all 2·D perturbed latents of a probe in one batch
    (eval-mode nets are batch-independent), which is an order of magnitude faster than
    autograd's Jacobian on a CPU. Returns (directions k×D, share of image change each
    explains). Only the noise part moves, so InfoGAN codes and class labels keep their own controls.
    """
    noise_dim = model.card.arch["z_dim"]
    step = torch.eye(noise_dim) * eps
    gram = torch.zeros(noise_dim, noise_dim, dtype=torch.float64)
    for z0 in model.latents(seed, probes):
        plus, minus = z0.repeat(noise_dim, 1), z0.repeat(noise_dim, 1)
        plus[:, :noise_dim] += step
        minus[:, :noise_dim] -= step
        out = _flat_output(model, torch.cat([plus, minus]), labels)
        jac = (out[:noise_dim] - out[noise_dim:]) / (2 * eps)  # noise_dim × pixels, i.e. Jᵀ
        gram += jac @ jac.T
    eigvals, eigvecs = torch.linalg.eigh(gram / probes)
    order = eigvals.flip(0).clamp_min(0)
    k = min(k, noise_dim)
    return eigvecs.flip(1)[:, :k].T.float(), (order[:k] / order.sum()).float()


def principal_directions_kept(model: LoadedModel, k: int = 8, labels=None, folder=None) -> tuple[torch.Tensor, torch.Tensor]:
    """principal_directions, kept on disk ($GANSTUDIO_CACHE/principal, keyed by a hash of the generator's weights, k
    and the class), so that a server restarted, or a second server, does not spend a minute per model recomputing
    them before its first slider; the same numbers either way."""
    from pathlib import Path

    from safetensors import SafetensorError
    from safetensors.torch import load_file, save_file

    from .data import _cache_dir
    from .files import atomic_path
    from .onnx_export import weights_key

    folder = Path(folder) if folder is not None else _cache_dir() / "principal"
    label = "none" if labels is None else "-".join(str(int(v)) for v in torch.as_tensor(labels).reshape(-1).tolist())
    path = folder / f"{weights_key(model.generator)}_k{int(k)}_label{label}.safetensors"
    try:
        kept = load_file(path)
        return kept["directions"], kept["share"]
    except (OSError, SafetensorError, KeyError):
        pass
    directions, share = principal_directions(model, k=k, labels=labels)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with atomic_path(path) as tmp:
            save_file({"directions": directions.contiguous(), "share": share.contiguous()}, str(tmp))
    except OSError:
        pass  # a read-only cache only costs the recomputation next time
    return directions, share


def apply_offsets(latent: torch.Tensor, offsets: dict[int, float], directions: torch.Tensor | None = None) -> torch.Tensor:
    """Move a latent (1×D) along slider offsets: raw dimensions, or principal directions when given."""
    out = latent.clone()
    noise_dim = directions.shape[1] if directions is not None else out.shape[1]
    for index, value in offsets.items():
        if not value:
            continue
        if directions is not None:
            out[:, :noise_dim] += value * directions[int(index)]
        else:
            out[:, int(index)] += value
    return out
