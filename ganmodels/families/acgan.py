"""AC-GAN (Odena et al. 2017): G is conditioned on the class, D also has to predict it."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .base import GANTrainer, bce, frozen
from .cgan import CGANFamily
from .dcgan import DCGANDiscriminator


class ACGANDiscriminator(nn.Module):
    def __init__(self, channels: int, image_size: int, ndf: int, num_classes: int):
        super().__init__()
        self.body = DCGANDiscriminator(channels, image_size, ndf)
        self.classifier = nn.Linear(self.body.feature_dim, num_classes)

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None):
        """(real/fake logit, class logits)."""
        h = self.body.features(x)
        return self.body.head(h).flatten(), self.classifier(h.flatten(1))


class ACGANTrainer(GANTrainer):
    def step(self):
        real, y = self.real_batch()
        n = real.shape[0]
        y_fake = self.random_labels(n)
        fake = self.G(self.randn(n, self.arch["z_dim"]), y_fake)

        self.opt_d.zero_grad(set_to_none=True)
        adv_r, cls_r = self.D(real)
        adv_f, cls_f = self.D(fake.detach())
        d_real = bce(adv_r, 1.0)
        d_fake = bce(adv_f, 0.0)
        d_cls = F.cross_entropy(cls_r, y) + F.cross_entropy(cls_f, y_fake)
        (d_real + d_fake + d_cls).backward()
        self.opt_d.step()

        self.opt_g.zero_grad(set_to_none=True)
        with frozen(self.D):
            adv_g, cls_g = self.D(fake)
            g_adv = bce(adv_g, 1.0)
            g_cls = F.cross_entropy(cls_g, y_fake)
            (g_adv + g_cls).backward()
        self.opt_g.step()
        acc = (cls_r.argmax(1) == y).float().mean()
        return {
            "d_real": d_real.item(), "d_fake": d_fake.item(), "d_total": (d_real + d_fake + d_cls).item(),
            "g": (g_adv + g_cls).item(), "d_class": d_cls.item(), "g_class": g_cls.item(), "d_real_acc": acc.item(),
        }


class ACGANFamily(CGANFamily):
    """CGAN's generator and defaults; the discriminator names the class instead of being told it."""

    name = "acgan"
    title = "AC-GAN"
    summary = "Auxiliary-classifier GAN: the discriminator also names the class."
    trainer_cls = ACGANTrainer

    def build_discriminator(self, arch):
        return ACGANDiscriminator(arch["channels"], arch["image_size"], arch["ndf"], arch["num_classes"])


FAMILY = ACGANFamily()
