"""Goodfellow et al.'s GAN with fully connected nets (the Keras tutorial's 256-512-1024 generator)."""
from __future__ import annotations

import torch
from torch import nn

from .base import CHANNELS, IMAGE_SIZE, Z_DIM, Family
from .options import Option


class MLPGenerator(nn.Module):
    def __init__(self, z_dim: int = 100, channels: int = 1, image_size: int = 28, hidden=(256, 512, 1024)):
        super().__init__()
        self.z_dim, self.shape = z_dim, (channels, image_size, image_size)
        layers: list[nn.Module] = []
        width = z_dim
        for h in hidden:
            layers += [nn.Linear(width, h), nn.LeakyReLU(0.2, True), nn.BatchNorm1d(h, momentum=0.2)]
            width = h
        layers += [nn.Linear(width, channels * image_size * image_size), nn.Tanh()]
        self.main = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return self.main(z.reshape(z.shape[0], -1)).view(z.shape[0], *self.shape)


class MLPDiscriminator(nn.Module):
    def __init__(self, channels: int = 1, image_size: int = 28, hidden=(512, 256)):
        super().__init__()
        layers: list[nn.Module] = [nn.Flatten()]
        width = channels * image_size * image_size
        for h in hidden:
            layers += [nn.Linear(width, h), nn.LeakyReLU(0.2, True)]
            width = h
        layers += [nn.Linear(width, 1)]
        self.main = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return self.main(x).flatten()


class MLPFamily(Family):
    name = "mlp"
    small_arch = {"g_hidden": [128, 256], "d_hidden": [256, 128]}
    title = "MLP GAN"
    summary = "The original fully connected GAN (Goodfellow et al. 2014)."
    arch_options = (
        Z_DIM,
        Option("g_hidden", list, [256, 512, 1024], "widths of G's hidden layers", items=int, low=1),
        Option("d_hidden", list, [512, 256], "widths of D's hidden layers", items=int, low=1),
        IMAGE_SIZE, CHANNELS,
    )

    def build_generator(self, arch):
        return MLPGenerator(arch["z_dim"], arch["channels"], arch["image_size"], tuple(arch["g_hidden"]))

    def build_discriminator(self, arch):
        return MLPDiscriminator(arch["channels"], arch["image_size"], tuple(arch["d_hidden"]))


FAMILY = MLPFamily()
