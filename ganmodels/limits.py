"""The size bound library code checks before it allocates: the weight count of an architecture, counted on the
meta device, against MAX_WEIGHTS (checkpoint loading refuses a card asking for more). A shared server's caps on
visitors' launches are the app's (ui/server_limits.py)."""
from __future__ import annotations

import torch

from .registry import FAMILIES

# Refused before allocating: the largest shipped generator holds about 11 million weights (CycleGAN, both ways).
MAX_WEIGHTS = 60_000_000


def weight_count(family: str, arch: dict, discriminator: bool = True) -> int:
    """Weights of the generator (and discriminator) an arch builds, counted on the meta device: nothing allocated."""
    fam = FAMILIES[family]
    with torch.device("meta"):
        nets = [fam.build_generator(arch)] + ([fam.build_discriminator(arch)] if discriminator else [])
    return sum(p.numel() for net in nets for p in net.parameters())
