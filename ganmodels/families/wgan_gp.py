"""WGAN-GP (Gulrajani et al. 2017): a critic without sigmoid or BatchNorm, gradient penalty 10, 5 critic steps."""
from __future__ import annotations

import torch

from .base import GANTrainer, frozen, shared_hparam, with_defaults
from .dcgan import DCGANFamily
from .options import Option


def gradient_penalty(critic, real: torch.Tensor, fake: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
    """The critic's gradient norm pulled to 1 at random points between real and fake (alpha: one weight per row)."""
    mixed = (alpha * real + (1 - alpha) * fake).requires_grad_(True)
    grads = torch.autograd.grad(critic(mixed).sum(), mixed, create_graph=True)[0]
    return ((grads.flatten(1).norm(2, dim=1) - 1) ** 2).mean()


class WGANGPTrainer(GANTrainer):
    def step(self):
        a, hp = self.arch, self.hp
        for _ in range(hp["n_critic"]):
            real, _ = self.real_batch()
            n = real.shape[0]
            with torch.no_grad():
                fake = self.G(self.randn(n, a["z_dim"]))
            self.opt_d.zero_grad(set_to_none=True)
            d_real = -self.D(real).mean()
            d_fake = self.D(fake).mean()
            gp = gradient_penalty(self.D, real, fake, self.rand(n, 1, 1, 1).to(real))
            (d_real + d_fake + hp["gp_weight"] * gp).backward()
            self.opt_d.step()

        self.opt_g.zero_grad(set_to_none=True)
        with frozen(self.D):
            g_loss = -self.D(self.G(self.randn(n, a["z_dim"]))).mean()
            g_loss.backward()
        self.opt_g.step()
        return {
            "d_real": d_real.item(), "d_fake": d_fake.item(), "d_total": (d_real + d_fake + hp["gp_weight"] * gp).item(),
            "g": g_loss.item(), "gp": gp.item(), "wasserstein": -(d_real + d_fake).item(),
        }


class WGANGPFamily(DCGANFamily):
    name = "wgan_gp"
    title = "WGAN-GP"
    summary = "Wasserstein GAN with gradient penalty: a critic scores realism instead of classifying."
    trainer_cls = WGANGPTrainer
    # a critic with a gradient penalty must not normalise across the batch
    arch_options = with_defaults(DCGANFamily.arch_options, d_norm="layer")
    hparam_options = (
        shared_hparam("lr", default=1e-4), shared_hparam("beta1", default=0.0), shared_hparam("beta2", default=0.9),
        Option("n_critic", int, 5, "critic (D) steps per generator step", low=1),
        Option("gp_weight", float, 10.0, "weight of the gradient penalty that keeps the critic 1-Lipschitz", low=0),
    )


FAMILY = WGANGPFamily()
