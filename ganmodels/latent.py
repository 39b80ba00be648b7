"""Latent-space utilities: seeded sampling, truncation, interpolation, arithmetic, codes."""
from __future__ import annotations

import torch


def seeded_generator(seed: int) -> torch.Generator:
    gen = torch.Generator()
    gen.manual_seed(int(seed) % (2**63))
    return gen


def truncated_normal(shape, psi: float | None, gen: torch.Generator) -> torch.Tensor:
    """BigGAN truncation: resample every entry whose magnitude exceeds psi.

    psi None or >= 4 means no truncation (resampling beyond 4 sigma never matters).
    Entries are drawn on the CPU from `gen` so a seed means the same image on every device.
    """
    z = torch.randn(shape, generator=gen)
    if psi is None or psi >= 4:
        return z
    if psi <= 0:
        raise ValueError("truncation psi must be positive")
    outside = z.abs() > psi
    while outside.any():
        z[outside] = torch.randn(int(outside.sum()), generator=gen)
        outside = z.abs() > psi
    return z


def sample_latents(seed: int, n: int, dim: int, psi: float | None = None) -> torch.Tensor:
    """n latent vectors of size dim: row i is seed + i's latent, whatever n is.

    So sample 3 of seed 10's grid is exactly seed 13 alone, in every page and URL.
    """
    return torch.cat([truncated_normal((1, dim), psi, seeded_generator(seed + i)) for i in range(n)])


def lerp(a: torch.Tensor, b: torch.Tensor, t: float) -> torch.Tensor:
    return a + (b - a) * t


def slerp(a: torch.Tensor, b: torch.Tensor, t: float, eps: float = 1e-7) -> torch.Tensor:
    """Spherical interpolation keeps the norm that Gaussian latents concentrate at."""
    a_n = a / a.norm(dim=-1, keepdim=True).clamp_min(eps)
    b_n = b / b.norm(dim=-1, keepdim=True).clamp_min(eps)
    dot = (a_n * b_n).sum(-1, keepdim=True).clamp(-1.0, 1.0)
    omega = torch.acos(dot)
    so = torch.sin(omega)
    parallel = so.abs() < 1e-6
    out = (torch.sin((1.0 - t) * omega) / so.clamp_min(eps)) * a + (torch.sin(t * omega) / so.clamp_min(eps)) * b
    return torch.where(parallel, lerp(a, b, t), out)


def interpolate(a: torch.Tensor, b: torch.Tensor, steps: int, method: str = "slerp") -> torch.Tensor:
    """A (steps, dim) path from a to b inclusive."""
    if steps < 2:
        raise ValueError("an interpolation needs at least 2 steps")
    fn = {"lerp": lerp, "slerp": slerp}.get(method)
    if fn is None:
        raise ValueError(f"unknown interpolation '{method}' (use lerp or slerp)")
    a, b = a.reshape(1, -1), b.reshape(1, -1)
    return torch.cat([fn(a, b, i / (steps - 1)) for i in range(steps)])


def vector_arithmetic(a: torch.Tensor, b: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
    """DCGAN's A - B + C; each argument may be a stack of latents, averaged first as in the paper."""
    mean = lambda t: t.reshape(-1, t.shape[-1]).mean(0)  # noqa: E731
    return mean(a) - mean(b) + mean(c)


def one_hot(labels, num_classes: int) -> torch.Tensor:
    labels = torch.as_tensor(labels, dtype=torch.long).reshape(-1)
    if num_classes <= 0:
        raise ValueError("one_hot needs a positive class count")
    if labels.numel() and (labels.min() < 0 or labels.max() >= num_classes):
        raise ValueError(f"class labels must lie in 0..{num_classes - 1}")
    return torch.nn.functional.one_hot(labels, num_classes).float()


def infogan_latent(noise: torch.Tensor, category, continuous, num_categories: int) -> torch.Tensor:
    """Assemble [noise | one-hot category | continuous codes], the InfoGAN generator input."""
    n = noise.shape[0]
    cat = one_hot(torch.as_tensor(category).expand(n) if torch.as_tensor(category).dim() == 0 else category, num_categories)
    cont = torch.as_tensor(continuous, dtype=noise.dtype)
    if cont.dim() == 1:
        cont = cont.expand(n, -1)
    return torch.cat([noise, cat.to(noise.dtype), cont], dim=1)


def random_infogan_codes(n: int, num_categories: int, num_continuous: int, gen: torch.Generator | None = None):
    """Codes drawn as in training: uniform category, continuous codes in U(-1, 1)."""
    category = torch.randint(num_categories, (n,), generator=gen)
    continuous = torch.rand((n, num_continuous), generator=gen) * 2 - 1
    return category, continuous
