"""InfoGAN (Chen et al. 2016): G's input is z plus codes; a Q head on D recovers the codes.

Latent layout: [noise (z_dim) | one-hot categorical (num_categories) | continuous (num_continuous)].
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..latent import infogan_latent, random_infogan_codes, sample_latents, seeded_generator, truncated_normal
from .base import CHANNELS, IMAGE_SIZE, NDF, NGF, Z_DIM, Family, GANTrainer, bce, frozen, init_dcgan_weights, shared_hparam
from .dcgan import DCGANDiscriminator, DCGANGenerator
from .options import Option


class InfoGANGenerator(DCGANGenerator):
    """A DCGAN generator over [noise | category | continuous codes] that first scales the noise by `noise_std`
    and the continuous codes by `continuous_std`.

    Callers keep drawing noise from N(0, 1) and codes from U(-1, 1); small scales (ClusterGAN's noise is N(0, 0.1²))
    leave the categorical code most of the first layer's input, so it is the code, not the noise, that picks the
    digit, while Q still has to recover the continuous codes at their full range."""

    def __init__(self, z_dim: int, num_categories: int, num_continuous: int, channels: int, image_size: int, ngf: int,
                 noise_std: float = 1.0, continuous_std: float = 1.0):
        super().__init__(z_dim + num_categories + num_continuous, channels, image_size, ngf)
        self.input_scale = [(z_dim, noise_std), (num_categories, 1.0), (num_continuous, continuous_std)]

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        z = z.reshape(z.shape[0], -1)
        if any(std != 1.0 for _, std in self.input_scale):
            z = torch.cat([part * std for part, (_, std) in zip(z.split([n for n, _ in self.input_scale], dim=1), self.input_scale)], dim=1)
        return super().forward(z)


class InfoGANDiscriminator(nn.Module):
    """D's conv body, then (with `hidden` > 0, as in the paper's MNIST net) a shared fully connected layer;
    the real/fake head and the Q head both read the last shared features."""

    def __init__(self, channels: int, image_size: int, ndf: int, num_categories: int, num_continuous: int, hidden: int = 0):
        super().__init__()
        self.num_categories, self.num_continuous = num_categories, num_continuous
        self.body = DCGANDiscriminator(channels, image_size, ndf)
        width = self.body.feature_dim
        if hidden:
            self.shared = nn.Sequential(nn.Flatten(), nn.Linear(width, hidden, bias=False), nn.BatchNorm1d(hidden), nn.LeakyReLU(0.2, True))
            self.real_fake = nn.Linear(hidden, 1)
            init_dcgan_weights(self.shared)
            init_dcgan_weights(self.real_fake)
            width = hidden
        self.q = nn.Sequential(
            nn.Linear(width, 128, bias=False), nn.BatchNorm1d(128), nn.LeakyReLU(0.2, True),
            nn.Linear(128, num_categories + num_continuous),
        )

    def adversarial_parameters(self) -> list:
        """Everything but the Q head."""
        q = {id(p) for p in self.q.parameters()}
        return [p for p in self.parameters() if id(p) not in q]

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None):
        """(real/fake logit, category logits, continuous-code means)."""
        h = self.body.features(x)
        if hasattr(self, "shared"):
            h = self.shared(h)
            logit = self.real_fake(h).flatten()
        else:
            logit = self.body.head(h).flatten()
        q = self.q(h.flatten(1)).float()
        return logit, q[:, : self.num_categories], q[:, self.num_categories :]


class InfoGANTrainer(GANTrainer):
    """G and the Q head learn the adversarial loss plus lambda x the mutual-information bound, G at lr 1e-3, D at
    2e-4; D's body learns the adversarial loss alone unless `info_trains_d` (the paper's code, where D and Q also
    maximise the bound).

    `instance_noise` adds Gaussian noise to every image D and Q see. Without it G can make the codes
    recoverable through faint pixel patterns Q picks up while every digit looks the same; noise drowns such
    patterns, leaving visible shape to carry the code. Measured on MNIST (code purity, 2000 samples): no noise 0.16;
    noise 0.3 0.48 after 5000 steps, 0.64 after 45000; the paper's updates with D's shared 1024-unit layer and no
    noise 0.20 after 3000 (codes invisible again); noise 0.3 with the generator's noise scaled to 0.3 (arch
    `noise_std`) 0.63 after 5000 and 0.73 after 25000, with 0.1 0.61 after 2000 and then falling to 0.50; the same
    with `category_jitter` 1 (the category read from randomly moved fakes) 0.86 after 5000 and 0.88 after 8000.
    """

    def parameter_groups(self):
        if self.hp.get("info_trains_d"):
            return list(self.G.parameters()), list(self.D.parameters())
        return list(self.G.parameters()) + list(self.D.q.parameters()), self.D.adversarial_parameters()

    def _latents(self, n: int):
        a = self.arch
        cat, cont = random_infogan_codes(n, a["num_categories"], a["num_continuous"], self.noise)
        z = infogan_latent(torch.randn(n, a["z_dim"], generator=self.noise), cat, cont, a["num_categories"])
        return z.to(self.device), cat.to(self.device), cont.to(self.device)

    def _jittered(self, x: torch.Tensor) -> torch.Tensor:
        """x under a random small rotation, scale and shift per image (differentiable, so G learns through it).

        With `category_jitter` the category is read from these: a code that survives them must be carried by shape
        rather than by slant, size or position, which are the continuous codes' business (IIC's invariance idea)."""
        strength = self.hp["category_jitter"]
        n = x.shape[0]
        rand = lambda: (torch.rand(n, generator=self.noise) * 2 - 1) * strength
        angle, scale = rand() * (torch.pi / 12), 1 + rand() * 0.1
        shift = torch.stack([rand(), rand()], dim=1) * 0.15
        cos, sin = torch.cos(angle) * scale, torch.sin(angle) * scale
        theta = torch.stack([torch.stack([cos, -sin], 1), torch.stack([sin, cos], 1)], 1)
        theta = torch.cat([theta, shift.unsqueeze(2)], dim=2).to(x)
        grid = F.affine_grid(theta, list(x.shape), align_corners=False)
        return F.grid_sample(x, grid, padding_mode="border", align_corners=False)

    def _information(self, cat_logits, cont_pred, cat, cont):
        a = self.arch
        info_cat, info_cont = F.cross_entropy(cat_logits, cat), F.mse_loss(cont_pred, cont)
        return a["lambda_cat"] * info_cat + a["lambda_cont"] * info_cont, info_cat, info_cont

    def step(self):
        real, _ = self.real_batch()
        n = real.shape[0]
        z, cat, cont = self._latents(n)
        fake = self.G(z)
        info_trains_d = self.hp.get("info_trains_d", False)

        self.opt_d.zero_grad(set_to_none=True)
        d_real = bce(self.D(self.seen_by_d(real))[0], 1.0)
        adv, cat_logits, cont_pred = self.D(self.seen_by_d(fake.detach()))
        d_fake = bce(adv, 0.0)
        d_loss = d_real + d_fake
        if info_trains_d:  # the paper's code: D and Q also maximise the information bound
            d_loss = d_loss + self._information(cat_logits, cont_pred, cat, cont)[0]
        d_loss.backward()
        self.opt_d.step()

        self.opt_g.zero_grad(set_to_none=True)
        with frozen(self.D if info_trains_d else self.D.body):
            adv, cat_logits, cont_pred = self.D(self.seen_by_d(fake))
            if self.hp.get("category_jitter"):
                cat_logits = self.D(self.seen_by_d(self._jittered(fake)))[1]
            g_adv = bce(adv, 1.0)
            info, info_cat, info_cont = self._information(cat_logits, cont_pred, cat, cont)
            (g_adv + info).backward()
        self.opt_g.step()
        return {
            "d_real": d_real.item(), "d_fake": d_fake.item(), "d_total": (d_real + d_fake).item(), "g": g_adv.item(),
            "info": info.item(), "info_cat": info_cat.item(), "info_cont": info_cont.item(),
        }


class InfoGANFamily(Family):
    name = "infogan"
    small_arch = {"ngf": 16, "ndf": 16}
    distributable = False  # its steps freeze and call the discriminator's body, which DistributedDataParallel does not forward
    title = "InfoGAN"
    summary = "Unsupervised codes that learn meaningful factors: digit class, slant, width."
    trainer_cls = InfoGANTrainer
    arch_options = (
        Z_DIM.but(default=62),
        Option("num_categories", int, 10, "values of the categorical code (one-hot in G's input)", low=1),
        Option("num_continuous", int, 2, "continuous codes, each drawn from U(-1, 1)", low=1),
        NGF, NDF,
        Option("noise_std", float, 0.3, "scale of the noise in G's first layer: small leaves the category the code that "
               "picks the digit", low=0, low_open=True),
        Option("lambda_cat", float, 2.0, "weight of the categorical code's information loss", low=0),
        Option("lambda_cont", float, 0.1, "weight of the continuous codes' information loss", low=0),
        IMAGE_SIZE, CHANNELS,
        Option("code_names", dict, {"categorical": "category", "continuous": ["c1", "c2"]},
               "names the app shows for the codes"),
        Option("continuous_std", float, 1.0, "scale of the continuous codes in G's first layer", low=0, low_open=True,
               recorded=False),
        Option("d_hidden", int, 0, "width of a fully connected layer D's two heads share (the paper's 1024); 0: none",
               low=0, recorded=False),
    )
    hparam_options = (
        shared_hparam("lr", default=1e-3),
        shared_hparam("lr_d", default=2e-4, recorded=True, default_text=None),
        shared_hparam("instance_noise", default=0.3, recorded=True, default_text=None),
        Option("category_jitter", float, 1.0, "strength of the random rotation, scale and shift of the fakes the "
               "category is read from, so shape, not slant or position, carries it; 0: none", low=0),
        Option("info_trains_d", bool, False, "D's body also maximises the information bound (the paper's code)",
               recorded=False),
    )

    def latent_size(self, arch):
        return arch["z_dim"] + arch["num_categories"] + arch["num_continuous"]

    def latent_codes(self, arch):
        return {"categorical": arch["num_categories"], "continuous": arch["num_continuous"], "names": arch.get("code_names", {})}

    def latent_layout(self, arch):
        return ("infogan", arch["z_dim"], arch["num_categories"], arch["num_continuous"])

    def seeded_latents(self, arch, seed, n=1, psi=None):
        """Row i: noise and codes both drawn from seed + i."""
        rows = []
        for i in range(n):
            gen = seeded_generator(seed + i)
            noise = truncated_normal((1, arch["z_dim"]), psi, gen)
            cat, cont = random_infogan_codes(1, arch["num_categories"], arch["num_continuous"], gen)
            rows.append(infogan_latent(noise, cat, cont, arch["num_categories"]))
        return torch.cat(rows)

    def evaluation_inputs(self, arch, n, seed, psi=None):
        """Codes from seed + 1 for all n at once, noise from seed; `psi` truncates the noise, not the codes."""
        codes, cont = random_infogan_codes(n, arch["num_categories"], arch["num_continuous"], seeded_generator(seed + 1))
        noise = sample_latents(seed, n, arch["z_dim"], psi)
        return infogan_latent(noise, codes, cont, arch["num_categories"]), None, codes

    def build_generator(self, arch):
        return InfoGANGenerator(arch["z_dim"], arch["num_categories"], arch["num_continuous"], arch["channels"], arch["image_size"],
                                arch["ngf"], arch.get("noise_std", 1.0), arch.get("continuous_std", 1.0))

    def build_discriminator(self, arch):
        return InfoGANDiscriminator(arch["channels"], arch["image_size"], arch["ndf"], arch["num_categories"], arch["num_continuous"],
                                    arch.get("d_hidden", 0))

    def fixed_inputs(self, arch, seed, data=None):
        """One row per category value; columns sweep the first continuous code over [-1, 1]."""
        gen = torch.Generator().manual_seed(seed)
        k, cols = arch["num_categories"], 5
        noise = torch.randn(1, arch["z_dim"], generator=gen).expand(k * cols, -1)
        cont = torch.zeros(k * cols, arch["num_continuous"])
        cont[:, 0] = torch.linspace(-1, 1, cols).repeat(k)
        return {"z": infogan_latent(noise, torch.arange(k).repeat_interleave(cols), cont, k)}


FAMILY = InfoGANFamily()
