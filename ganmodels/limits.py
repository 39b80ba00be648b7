"""The size bound library code checks before it allocates: the weight count of an architecture, counted on the
meta device, against MAX_WEIGHTS (checkpoint loading refuses a card asking for more). A shared server's caps on
visitors' launches are the app's (ui/server_limits.py)."""
from __future__ import annotations

import torch

from .registry import FAMILIES


# Refused before allocating: the largest shipped generator holds about 11 million weights (CycleGAN, both ways).
MAX_WEIGHTS = 60_000_000


class LimitError(ValueError):
    """A request over one of the operator's limits, with a message fit to show a visitor."""


def weight_count(family: str, arch: dict, discriminator: bool = True) -> int:
    """Weights of the generator (and discriminator) an arch builds, counted on the meta device: nothing allocated."""
    fam = FAMILIES[family]
    with torch.device("meta"):
        nets = [fam.build_generator(arch)] + ([fam.build_discriminator(arch)] if discriminator else [])
    return sum(p.numel() for net in nets for p in net.parameters())


def check_weight_count(family: str, arch: dict, source: str, discriminator: bool = False) -> int:
    """The weight count, or LimitError when it is over MAX_WEIGHTS (a card asking for ngf=100000, say)."""
    try:
        count = weight_count(family, arch, discriminator)
    except (KeyError, ValueError, TypeError, RuntimeError) as exc:
        raise LimitError(f"The architecture of {source} cannot be built: {exc}") from None
    if count > MAX_WEIGHTS:
        raise LimitError(f"The architecture of {source} has {count:,} weights; this server loads at most {MAX_WEIGHTS:,}.")
    return count
