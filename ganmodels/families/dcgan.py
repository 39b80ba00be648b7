"""DCGAN (Radford et al. 2015): strided (transposed) convolutions, BatchNorm, ReLU/LeakyReLU 0.2, tanh.

The generator's `main` Sequential follows pytorch/examples' layer order exactly, so its
`netG_epoch_N.pth` files load into it unchanged at 64 px.
"""
from __future__ import annotations

import torch
from torch import nn

from .base import CHANNELS, IMAGE_SIZE, NDF, NGF, Z_DIM, Family, conditioning, init_dcgan_weights
from .options import Option

SUPPORTED_SIZES = (28, 32, 64)


def spatial_plan(image_size: int) -> tuple[int, int]:
    """(first feature-map side, number of x2 steps): 28 = 7·2², 32 = 4·2³, 64 = 4·2⁴."""
    if image_size == 28:
        return 7, 2
    if image_size in (32, 64):
        return 4, {32: 3, 64: 4}[image_size]
    raise ValueError(f"DCGAN nets support image sizes {SUPPORTED_SIZES}, not {image_size}")


NORMS = ("batch", "layer", "instance", "spectral", "none")
# norms that add no layer after a conv (spectral normalisation acts on the conv's weights instead), so the conv
# keeps its bias: a norm layer's shift would make it redundant
LAYERLESS_NORMS = ("none", "spectral")


def make_norm(kind: str, channels: int) -> nn.Module:
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "layer":  # WGAN-GP critics must not normalise across the batch
        return nn.GroupNorm(1, channels)
    if kind == "instance":
        return nn.InstanceNorm2d(channels, affine=True)
    if kind in LAYERLESS_NORMS:
        return nn.Identity()
    raise ValueError(f"unknown discriminator norm '{kind}': one of {', '.join(NORMS)}")


class LatentProjection(nn.ConvTranspose2d):
    """The generator's first transposed conv: on a 1x1 input it is one matrix product with the same
    weight tensor (so checkpoints are unchanged), which CPUs run faster than a transposed conv."""

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        if z.shape[-2:] != (1, 1) or self.bias is not None:
            return super().forward(z)
        w = self.weight  # (in, out, k, k)
        return torch.mm(z.flatten(1), w.flatten(1)).view(z.shape[0], *w.shape[1:])


class DCGANGenerator(nn.Module):
    """`extra_layers` adds stride-1 3x3 conv blocks before the output layer (the WGAN authors' DCGAN option), for
    depth where shapes are finished. `full_res_layers` draws the last upsampling into feature maps instead of
    straight into pixels, then that many 3x3 conv blocks at full size, the last one giving the pixels: fine texture
    comes from a conv that sees its neighbours, not from one transposed conv. With both 0 the layer list, and so
    every checkpoint's keys, is Radford's."""

    def __init__(self, z_dim: int = 100, channels: int = 1, image_size: int = 28, ngf: int = 64, num_classes: int = 0,
                 extra_layers: int = 0, full_res_layers: int = 0):
        super().__init__()
        start, ups = spatial_plan(image_size)
        self.z_dim, self.num_classes = z_dim, num_classes
        c = ngf * 2 ** (ups - 1)
        layers: list[nn.Module] = [LatentProjection(z_dim + num_classes, c, start, 1, 0, bias=False), nn.BatchNorm2d(c), nn.ReLU(True)]
        for _ in range(ups - 1):
            layers += [nn.ConvTranspose2d(c, c // 2, 4, 2, 1, bias=False), nn.BatchNorm2d(c // 2), nn.ReLU(True)]
            c //= 2
        for _ in range(extra_layers):
            layers += [nn.Conv2d(c, c, 3, 1, 1, bias=False), nn.BatchNorm2d(c), nn.ReLU(True)]
        if full_res_layers:
            layers += [nn.ConvTranspose2d(c, c // 2, 4, 2, 1, bias=False), nn.BatchNorm2d(c // 2), nn.ReLU(True)]
            c //= 2
            for _ in range(full_res_layers - 1):
                layers += [nn.Conv2d(c, c, 3, 1, 1, bias=False), nn.BatchNorm2d(c), nn.ReLU(True)]
            layers += [nn.Conv2d(c, channels, 3, 1, 1, bias=False), nn.Tanh()]
        else:
            layers += [nn.ConvTranspose2d(c, channels, 4, 2, 1, bias=False), nn.Tanh()]
        self.main = nn.Sequential(*layers)
        init_dcgan_weights(self)

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        z = z.reshape(z.shape[0], -1)
        if self.num_classes:
            z = torch.cat([z, conditioning(labels, self.num_classes, z)], dim=1)
        return self.main(z[:, :, None, None])


class DCGANDiscriminator(nn.Module):
    """Conv feature stack plus a full-size conv head giving one logit per image.

    `num_classes` > 0 makes it a CGAN discriminator: one-hot label planes are
    concatenated to the image channels. `extra_layers` adds stride-1 3x3 conv blocks after the first layer,
    mirroring the generator's. `norm` 'spectral' replaces the norm layers by spectral normalisation of every conv.
    """

    def __init__(self, channels: int = 1, image_size: int = 28, ndf: int = 64, norm: str = "batch", num_classes: int = 0,
                 extra_layers: int = 0):
        super().__init__()
        start, downs = spatial_plan(image_size)
        self.num_classes = num_classes
        bias = norm in LAYERLESS_NORMS
        layers: list[nn.Module] = [nn.Conv2d(channels + num_classes, ndf, 4, 2, 1), nn.LeakyReLU(0.2, True)]
        for _ in range(extra_layers):
            layers += [nn.Conv2d(ndf, ndf, 3, 1, 1, bias=bias), make_norm(norm, ndf), nn.LeakyReLU(0.2, True)]
        c = ndf
        for _ in range(downs - 1):
            layers += [nn.Conv2d(c, c * 2, 4, 2, 1, bias=bias), make_norm(norm, c * 2), nn.LeakyReLU(0.2, True)]
            c *= 2
        self.features = nn.Sequential(*layers)
        self.feature_dim = c * start * start
        self.head = nn.Conv2d(c, 1, start, 1, 0)
        init_dcgan_weights(self)
        if norm == "spectral":
            # every conv divided by its largest singular value (Miyato et al. 2018): each layer is 1-Lipschitz, so D
            # stays smooth without BatchNorm mixing a batch's images into each other's logits
            for m in list(self.modules()):
                if isinstance(m, nn.Conv2d):
                    nn.utils.parametrizations.spectral_norm(m)

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        if self.num_classes:
            planes = conditioning(labels, self.num_classes, x)[:, :, None, None].expand(-1, -1, x.shape[2], x.shape[3])
            x = torch.cat([x, planes], dim=1)
        return self.head(self.features(x)).flatten()


class DCGANFamily(Family):
    name = "dcgan"
    small_arch = {"ngf": 16, "ndf": 16}
    title = "DCGAN"
    summary = "Deep convolutional GAN (Radford et al. 2015)."
    arch_options = (
        Z_DIM, NGF, NDF, IMAGE_SIZE, CHANNELS,
        Option("extra_layers", int, 0, "stride-1 3x3 conv blocks added to G before its output layer and to D after its "
               "first (the WGAN authors' DCGAN option)", low=0, recorded=False),
        Option("full_res_layers", int, 0, "G draws its last upsampling into feature maps, then this many 3x3 conv blocks "
               "at full size make the pixels (fine texture from convs that see their neighbours)", low=0, recorded=False),
        # 'spectral' (SN-DCGAN, Miyato et al. 2018) swaps D's BatchNorm for spectral normalisation
        Option("d_norm", str, "batch", "D's normalisation: spectral is SN-DCGAN (Miyato et al. 2018)", choices=NORMS,
               recorded=False),
    )

    def build_generator(self, arch):
        return DCGANGenerator(arch["z_dim"], arch["channels"], arch["image_size"], arch["ngf"],
                              extra_layers=arch.get("extra_layers", 0), full_res_layers=arch.get("full_res_layers", 0))

    def build_discriminator(self, arch):
        return DCGANDiscriminator(arch["channels"], arch["image_size"], arch["ndf"],
                                  norm=arch.get("d_norm", self.arch_declarations()["d_norm"].default),
                                  extra_layers=arch.get("extra_layers", 0))


FAMILY = DCGANFamily()
