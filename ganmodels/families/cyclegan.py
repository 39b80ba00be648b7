"""CycleGAN (Zhu et al. 2017): ResNet generators with reflect padding and InstanceNorm,
70x70 PatchGAN discriminators, LSGAN loss, cycle weight 10, a 50-image history buffer.

`ResnetGenerator.model` follows junyanz/pytorch-CycleGAN-and-pix2pix index for index, so
published `latest_net_G.pth` / `horse2zebra.pth` files load into it.
"""
from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn

from ..images import fitted_size
from .base import CHANNELS, IMAGE_SIZE, NDF, NGF, BatchSource, Family, GANTrainer, frozen, shared_hparam, to_float_images
from .options import Option

DIRECTIONS = ("a2b", "b2a")


class ResnetBlock(nn.Module):
    def __init__(self, dim: int):
        super().__init__()
        self.conv_block = nn.Sequential(
            nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, 3), nn.InstanceNorm2d(dim), nn.ReLU(True),
            nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, 3), nn.InstanceNorm2d(dim),
        )

    def forward(self, x):
        return x + self.conv_block(x)


class ResnetGenerator(nn.Module):
    def __init__(self, in_channels: int = 3, out_channels: int = 3, ngf: int = 64, n_blocks: int = 9):
        super().__init__()
        layers: list[nn.Module] = [nn.ReflectionPad2d(3), nn.Conv2d(in_channels, ngf, 7), nn.InstanceNorm2d(ngf), nn.ReLU(True)]
        for mult in (1, 2):
            layers += [nn.Conv2d(ngf * mult, ngf * mult * 2, 3, 2, 1), nn.InstanceNorm2d(ngf * mult * 2), nn.ReLU(True)]
        layers += [ResnetBlock(ngf * 4) for _ in range(n_blocks)]
        for mult in (4, 2):
            layers += [nn.ConvTranspose2d(ngf * mult, ngf * mult // 2, 3, 2, 1, output_padding=1),
                       nn.InstanceNorm2d(ngf * mult // 2), nn.ReLU(True)]
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, out_channels, 7), nn.Tanh()]
        self.model = nn.Sequential(*layers)

    def forward(self, x):
        return self.model(x)


class CycleGANGenerators(nn.ModuleDict):
    """The translators a checkpoint holds: 'a2b', 'b2a' or both (a published file has one)."""

    def translate(self, x: torch.Tensor, direction: str, blend_side: int | None = None) -> torch.Tensor:
        """`blend_side` (the training size): a photo larger than that is translated by `scale_blend`, else directly."""
        if direction not in self:
            raise KeyError(f"this checkpoint has no {direction} generator (it has {', '.join(self.keys())})")
        if blend_side is not None and max(x.shape[-2:]) > blend_side:
            return scale_blend(self[direction], x, blend_side)
        return self[direction](x)


def scale_blend(generator: nn.Module, photos: torch.Tensor, side: int) -> torch.Tensor:
    """A generator trained on crops of `side` px changes a larger photo less, the larger it is (horse2zebra's shipped
    one, on held-out horses: 79% zebras at 128 px, 59% at 256, 19% at 384): its features are sized for objects at
    the training scale. So the coarse content of the translation (stripes, colours) comes from its translation of the
    photo shrunk to `side` on the longer edge, and the detail finer than that scale from its translation at the photo's
    own size: the split that `scale_distill` teaches a generator to do in one pass."""
    height, width = photos.shape[-2:]
    small = fitted_size(width, height, side)[::-1]
    full = generator(photos)
    coarse = resized(generator(resized(photos, small)), (height, width))
    return (coarse + finer_than(full, small)).clamp(-1, 1)


class PatchDiscriminator(nn.Module):
    """70x70 PatchGAN: a grid of real/fake logits, one per overlapping 70-px patch."""

    def __init__(self, in_channels: int = 3, ndf: int = 64, n_layers: int = 3):
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(in_channels, ndf, 4, 2, 1), nn.LeakyReLU(0.2, True)]
        mult = 1
        for i in range(1, n_layers + 1):
            prev, mult = mult, min(2**i, 8)
            stride = 2 if i < n_layers else 1
            layers += [nn.Conv2d(ndf * prev, ndf * mult, 4, stride, 1), nn.InstanceNorm2d(ndf * mult), nn.LeakyReLU(0.2, True)]
        layers += [nn.Conv2d(ndf * mult, 1, 4, 1, 1)]
        self.model = nn.Sequential(*layers)

    def forward(self, x, labels=None):
        return self.model(x)


class ImagePool:
    """Shrivastava et al.'s history buffer: D sees a mix of new and up-to-50 older fakes."""

    def __init__(self, size: int, gen: torch.Generator):
        self.size, self.gen, self.images = size, gen, []

    def query(self, images: torch.Tensor) -> torch.Tensor:
        if self.size == 0:
            return images
        out = []
        for img in images.detach():
            img = img.unsqueeze(0)
            if len(self.images) < self.size:
                self.images.append(img.clone())
                out.append(img)
            elif torch.rand(1, generator=self.gen).item() < 0.5:
                j = int(torch.randint(self.size, (1,), generator=self.gen))
                out.append(self.images[j].clone())
                self.images[j] = img.clone()
            else:
                out.append(img)
        return torch.cat(out)

    def state_dict(self):
        return {"images": torch.cat(self.images).cpu() if self.images else torch.empty(0)}

    def load_state_dict(self, state, device):
        self.images = [t.unsqueeze(0).to(device) for t in state["images"]]


def lsgan(pred: torch.Tensor, target: float) -> torch.Tensor:
    return F.mse_loss(pred, torch.full_like(pred, target))


def resized(images: torch.Tensor, size: int | tuple[int, int]) -> torch.Tensor:
    """Images at `size` (a side, or (height, width)), antialiased when shrinking as the evaluation's classifier sees
    them, in float32: the antialiased kernel has no bfloat16 version, which a bf16 run's translations are."""
    size = (size, size) if isinstance(size, int) else tuple(size)
    if tuple(images.shape[-2:]) == size:
        return images
    return F.interpolate(images.float(), size=size, mode="bilinear", antialias=True, align_corners=False)


def finer_than(images: torch.Tensor, size: int | tuple[int, int]) -> torch.Tensor:
    """The detail of `images` finer than `size`: themselves less their copy shrunk to it and enlarged back. Scale
    blend and scale distillation take this part from a translation at the photo's own size."""
    return images - resized(resized(images, size), tuple(images.shape[-2:]))


def load_size(image_size: int, scale_range: list[int] | None = None) -> int:
    """The side photos are resized to before random crops of `image_size` (upstream: 286 for 256): the scale
    at which the model saw the world, so the one it translates best at. With `scale_range` (hparam) photos are
    kept at its largest side and each step resizes them to a random side within it."""
    if scale_range is None:
        return (int(image_size * 1.125) + 3) // 4 * 4
    if not (isinstance(scale_range, list) and len(scale_range) == 2 and all(type(v) is int for v in scale_range)
            and max(scale_range) >= image_size):
        raise ValueError(f"scale_range must be [MIN, MAX] image sides in pixels with MAX >= the image size {image_size}, "
                         f"not {scale_range}")
    return max(scale_range)


class CycleGANTrainer(GANTrainer):
    def __init__(self, family, G, D, arch, hp, data, device, seed):
        family.check_hparam_values(hp)  # before the checks across keys below
        distill = hp.get("scale_distill", False)
        if distill and not hp.get("scale_range"):
            raise ValueError("scale_distill needs --hp scale_range=[MIN,MAX]: the photo sides it teaches the generators")
        super().__init__(family, G, D, arch, hp, data, device, seed)
        self.pools = {d: ImagePool(hp["pool_size"], self.noise) for d in DIRECTIONS}
        # the generators as the run starts (--init-from's) teach; a resumed run restores them from its state
        self.teacher = copy.deepcopy(G).requires_grad_(False) if distill else None

    def nets(self):
        return {**super().nets(), "teacher": self.teacher} if self.teacher is not None else super().nets()

    def take_data(self, data, seed):
        self.images_a, self.images_b = data["a"], data["b"]
        self.source = BatchSource(len(self.images_a), self.hp["batch_size"], seed)
        self.source_b = BatchSource(len(self.images_b), self.hp["batch_size"], seed + 7)

    def _random_side(self) -> int:
        """A side within the `scale_range` hparam, at least the training size."""
        low, high = (int(v) for v in self.hp["scale_range"])
        return int(torch.randint(max(low, self.arch["image_size"]), high + 1, (1,), generator=self.noise))

    def _flipped(self, batch: torch.Tensor) -> torch.Tensor:
        return batch.flip(3) if torch.rand(1, generator=self.noise).item() < 0.5 else batch

    def _crop(self, batch: torch.Tensor) -> torch.Tensor:
        """Random crop to the training size and random horizontal flip, upstream's augmentation; with the
        `scale_range` hparam, first a resize to a random side, so one model translates photos at several scales
        (a horse filling a 128 px thumbnail and one in a 256 px photo)."""
        size = self.arch["image_size"]
        if self.hp.get("scale_range"):
            batch = resized(to_float_images(batch, self.device), self._random_side())
        top = int(torch.randint(batch.shape[2] - size + 1, (1,), generator=self.noise))
        left = int(torch.randint(batch.shape[3] - size + 1, (1,), generator=self.noise))
        return to_float_images(self._flipped(batch[:, :, top : top + size, left : left + size]), self.device)

    def _whole(self, batch: torch.Tensor) -> torch.Tensor:
        """Whole photos at a random side within `scale_range` (a multiple of 4, which the generator keeps), flipped
        at random: as the app translates an upload, with instance norms over the whole photo, not a crop."""
        side = self._random_side()
        return self._flipped(resized(to_float_images(batch, self.device), side - side % 4))

    def state_dict(self):
        return {
            **super().state_dict(), "source_b": self.source_b.state_dict(),
            "pools": {d: p.state_dict() for d, p in self.pools.items()},
        }

    def load_state_dict(self, state):
        super().load_state_dict(state)
        self.source_b.load_state_dict(state["source_b"])
        for d, p in self.pools.items():
            p.load_state_dict(state["pools"][d], self.device)

    def step(self):
        if self.teacher is not None:
            return self._distill_step()
        real_a = self._crop(self.images_a[self.source.next_indices()])
        real_b = self._crop(self.images_b[self.source_b.next_indices()])
        if self.steps_done < self.hp.get("d_warmup_steps", 0):
            # hp `d_warmup_steps`: a run continuing trained generators (--init-from) starts with fresh
            # discriminators; its first steps train D alone against G as it is, so G's first gradients come from a D
            # that has caught up with it (G's losses are still logged, measured but not applied).
            with torch.no_grad():
                fake_a, fake_b, g_losses = self._generator_losses(real_a, real_b)
        else:
            self.opt_g.zero_grad(set_to_none=True)
            with frozen(self.D):
                fake_a, fake_b, g_losses = self._generator_losses(real_a, real_b)
                g_losses["g"].backward()
            self.opt_g.step()

        self.opt_d.zero_grad(set_to_none=True)
        D = self.D
        pooled_b, pooled_a = self.pools["a2b"].query(fake_b.detach()), self.pools["b2a"].query(fake_a.detach())
        d_real = 0.5 * (lsgan(D["b"](real_b), 1.0) + lsgan(D["a"](real_a), 1.0))
        d_fake = 0.5 * (lsgan(D["b"](pooled_b), 0.0) + lsgan(D["a"](pooled_a), 0.0))
        (d_real + d_fake).backward()  # upstream halves each D's loss; summed over both Ds
        self.opt_d.step()
        return {
            "d_real": d_real.item(), "d_fake": d_fake.item(), "d_total": (d_real + d_fake).item(),
            **{k: v.item() for k, v in g_losses.items()}, "lr": self.opt_g.param_groups[0]["lr"],
        }

    def _distill_step(self):
        """hp `scale_distill` (needs --init-from and `scale_range`): a generator trained on small crops stripes a
        128 px photo and barely a 384 px one. Here it learns every side in `scale_range` from the generators the run
        started from: a whole photo's translation must have, shrunk to the training size, what theirs of the photo at
        that size has (the stripes), and above that scale the detail theirs at the photo's own side has. No
        adversarial, cycle or identity loss: fresh discriminators washed the stripes out (the shipped card's
        later_attempts), and without them the cycle and identity losses did too, trading stripes for easy
        reconstruction."""
        size, low, detail = self.arch["image_size"], 0.0, 0.0
        self.opt_g.zero_grad(set_to_none=True)
        for direction, images, source in (("a2b", self.images_a, self.source), ("b2a", self.images_b, self.source_b)):
            real = self._whole(images[source.next_indices()])
            with torch.no_grad():
                small, full = self.teacher[direction](resized(real, size)), self.teacher[direction](real)
            fake = self.G[direction](real)
            low = low + F.l1_loss(resized(fake, size), small)
            detail = detail + F.l1_loss(finer_than(fake, size), finer_than(full, size))
        (low + detail).backward()
        self.opt_g.step()
        return {"g": (low + detail).item(), "distill_low": low.item(), "distill_detail": detail.item(),
                "lr": self.opt_g.param_groups[0]["lr"]}

    def _generator_losses(self, real_a, real_b):
        hp, G, D = self.hp, self.G, self.D
        fake_b, fake_a = G["a2b"](real_a), G["b2a"](real_b)
        gan_ab, gan_ba = lsgan(D["b"](fake_b), 1.0), lsgan(D["a"](fake_a), 1.0)
        cycle = F.l1_loss(G["b2a"](fake_b), real_a) + F.l1_loss(G["a2b"](fake_a), real_b)
        identity = torch.zeros((), device=self.device)
        if hp["identity_weight"] > 0:
            identity = F.l1_loss(G["a2b"](real_b), real_b) + F.l1_loss(G["b2a"](real_a), real_a)
        g_total = gan_ab + gan_ba + hp["cycle_weight"] * cycle + hp["cycle_weight"] * hp["identity_weight"] * identity
        return fake_a, fake_b, {"g": g_total, "gan_a2b": gan_ab, "gan_b2a": gan_ba, "cycle": cycle, "identity": identity}


class CycleGANFamily(Family):
    name = "cyclegan"
    small_arch = {"ngf": 16, "ndf": 16, "n_blocks": 3}
    distributable = False  # its steps index the generator and discriminator ModuleDicts by direction, which DistributedDataParallel does not forward
    title = "CycleGAN"
    summary = "Unpaired image-to-image translation (e.g. horse <-> zebra)."
    init_from_switches = ("scale_distill",)
    translator = True
    trainer_cls = CycleGANTrainer
    channels_last_on_cpu = False  # measured for the DCGAN-style nets only; CycleGAN trains contiguous as before

    arch_options = (
        NGF, NDF,
        Option("n_blocks", int, lambda size, channels, classes: 9 if size >= 256 else 6, "ResNet blocks in each generator",
               low=1, default_text="9 at 256 px and up, else 6"),
        IMAGE_SIZE.but(default_text="128"), CHANNELS,
        Option("directions", list, list(DIRECTIONS), "the generators a checkpoint holds", items=str),
        Option("domains", dict, {"a": "A", "b": "B"}, "names of the two photo sets", set_by="--data-root",
               default_text="from the folder's name: horse2zebra gives horse and zebra"),
    )
    hparam_options = (
        shared_hparam("batch_size", default=1),
        shared_hparam("decay_start", default=0.5, recorded=True),
        Option("cycle_weight", float, 10.0, "weight of the cycle-consistency loss (A -> B -> A gives A back)", low=0),
        Option("identity_weight", float, 0.5, "weight of the identity loss, as a fraction of cycle_weight", low=0),
        Option("pool_size", int, 50, "past fakes in each discriminator's history buffer", low=0),
        Option("scale_range", list, None, "[MIN, MAX] photo sides: each step resizes the photos to a random side within "
               "it (MAX at least the image size), so one model translates photos at several scales", items=int, length=2,
               low=1, recorded=False),
        Option("d_warmup_steps", int, 0, "first steps train the fresh discriminators only (a run with --init-from)",
               low=0, recorded=False),
        Option("scale_distill", bool, False, "learn every side in scale_range from the generators the run starts with "
               "(needs --init-from and scale_range)", recorded=False),
    )

    def latent_size(self, arch):
        return 0

    def build_generator(self, arch):
        c = arch["channels"]
        return CycleGANGenerators({d: ResnetGenerator(c, c, arch["ngf"], arch["n_blocks"]) for d in arch.get("directions", DIRECTIONS)})

    def build_discriminator(self, arch):
        return nn.ModuleDict({k: PatchDiscriminator(arch["channels"], arch["ndf"]) for k in ("a", "b")})

    def fixed_inputs(self, arch, seed, data=None):
        """Five test images from each domain, center-cropped to the training size."""
        size = arch["image_size"]

        def pick(images):
            images = images[:5]
            top, left = (images.shape[2] - size) // 2, (images.shape[3] - size) // 2
            return to_float_images(images[:, :, top : top + size, left : left + size], torch.device("cpu"))

        return {"a": pick(data["test_a"]), "b": pick(data["test_b"])}

    @torch.inference_mode()
    def render_fixed(self, G, fixed, device):
        """Rows: A, A->B, B, B->A."""
        a, b = fixed["a"].to(device), fixed["b"].to(device)
        return torch.cat([a, G["a2b"](a), b, G["b2a"](b)]), len(a)


FAMILY = CycleGANFamily()
