"""What every model family provides, and the pieces their training steps share."""
from __future__ import annotations

from contextlib import contextmanager, nullcontext

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from ..distributed import SINGLE, Ranks, cross_rank_batchnorm, local_rows, unwrapped, wrap
from ..latent import one_hot, sample_latents
from .options import Option, check_options


def init_dcgan_weights(module: nn.Module) -> None:
    """Radford et al.: conv weights ~ N(0, 0.02), norm scales ~ N(1, 0.02), biases 0."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm2d, nn.BatchNorm1d)) and m.affine:
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)


def linear_decay(step: int, total: int, start: float | None) -> float:
    """1 until the fraction `start` of the run, then linearly down to 0 at its last step; 1 throughout when
    `start` is None. The factor depends on the step alone, so a resumed run (or one resumed with a schedule it
    did not have) continues the same curve."""
    if start is None:
        return 1.0
    if isinstance(start, bool) or not isinstance(start, (int, float)) or not 0.0 <= start <= 1.0:
        raise ValueError(f"a decay start is a fraction of the run between 0 and 1 (e.g. 0.6), not {start}")
    decay_from = total * start
    return 1.0 if step < decay_from else max(0.0, (total - step) / max(1.0, total - decay_from))


def adam(params, lr: float, hp: dict, device: torch.device) -> torch.optim.Adam:
    """Adam with the run's betas; the fused kernel where the device has one (same update, fewer passes)."""
    betas = (hp["beta1"], hp.get("beta2", 0.999))
    return torch.optim.Adam(params, lr=lr, betas=betas, fused=device.type in ("cpu", "cuda"))


PRECISIONS = ("auto", "fp32", "bf16")


def has_fast_bf16(device: torch.device) -> bool:
    """bfloat16 arithmetic in hardware: CUDA GPUs from Ampere on, CPUs with AVX512-BF16 or AMX.
    Elsewhere bf16 is emulated and slower than float32."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported(including_emulation=False)
    if device.type == "cpu":
        probes = (getattr(torch.cpu, "_is_avx512_bf16_supported", None), getattr(torch.cpu, "_is_amx_tile_supported", None))
        return any(bool(probe()) for probe in probes if probe is not None)
    return False


def resolve_precision(requested: str, device: torch.device) -> str:
    """'auto' becomes bf16 where the hardware has it, else fp32; the run records the result."""
    if requested not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, not '{requested}'")
    if requested == "auto":
        return "bf16" if has_fast_bf16(device) else "fp32"
    return requested


@contextmanager
def frozen(net: nn.Module):
    """No weight gradients for `net` inside: D's would be thrown away by its next zero_grad anyway
    (junyanz CycleGAN's set_requires_grad(netD, False)); gradients still flow through it to G. A net in
    DistributedDataParallel also skips its gradient all-reduce there (no_sync), as it has no gradients to average."""
    params = [p for p in net.parameters() if p.requires_grad]
    for p in params:
        p.requires_grad_(False)
    try:
        with net.no_sync() if isinstance(net, DistributedDataParallel) else nullcontext():
            yield
    finally:
        for p in params:
            p.requires_grad_(True)


class BatchSource:
    """Shuffled minibatches over an in-memory tensor, resumable to the exact next batch."""

    def __init__(self, size: int, batch_size: int, seed: int):
        if size <= 0:
            raise ValueError("a batch source needs at least one example")
        self.size, self.batch_size = size, min(batch_size, size)
        self.gen = torch.Generator().manual_seed(seed)
        self.perm = torch.randperm(size, generator=self.gen)
        self.cursor, self.epoch = 0, 0

    def next_indices(self) -> torch.Tensor:
        if self.cursor + self.batch_size > self.size:
            self.perm = torch.randperm(self.size, generator=self.gen)
            self.cursor, self.epoch = 0, self.epoch + 1
        idx = self.perm[self.cursor : self.cursor + self.batch_size]
        self.cursor += self.batch_size
        return idx

    def state_dict(self) -> dict:
        return {"perm": self.perm, "cursor": self.cursor, "epoch": self.epoch, "gen": self.gen.get_state()}

    def load_state_dict(self, state: dict) -> None:
        self.perm, self.cursor, self.epoch = state["perm"], int(state["cursor"]), int(state["epoch"])
        self.gen.set_state(state["gen"])


def to_float_images(batch: torch.Tensor, device: torch.device) -> torch.Tensor:
    """uint8 batches are scaled here, on the device, so datasets stay compact in memory."""
    batch = batch.to(device, non_blocking=True)
    if batch.dtype == torch.uint8:
        return batch.float().div_(127.5).sub_(1.0)
    return batch


class GANTrainer:
    """Holds the networks, optimizers and data cursor of one run; `step()` is one G+D update."""

    ranks: Ranks = SINGLE  # distribute() sets it under torchrun

    def __init__(self, family, G: nn.Module, D: nn.Module, arch: dict, hp: dict, data: dict, device: torch.device, seed: int):
        family.check_hparam_values(hp)  # a bad value is refused before any training, with its declared range
        self.family, self.G, self.D, self.arch, self.hp, self.device = family, G, D, arch, hp, device
        self.take_data(data, seed)
        self.noise = torch.Generator(device="cpu").manual_seed(seed + 1)
        if device.type == "cpu" and family.channels_last_on_cpu:
            G.to(memory_format=torch.channels_last)
            D.to(memory_format=torch.channels_last)
        g_params, d_params = self.parameter_groups()
        self.opt_g = adam(g_params, hp["lr"], hp, device)
        self.opt_d = adam(d_params, hp.get("lr_d", hp["lr"]), hp, device)
        self.optimizers = {"G": self.opt_g, "D": self.opt_d}
        self.G_ema = averaged_generator(G, hp.get("ema"))
        self.steps_done = 0  # Run.resume sets it: the schedules below read it

    def schedule(self) -> None:
        """Set this step's learning rates: hp `decay_start` (a fraction of the run) decays both linearly to zero
        from there to the run's end (CycleGAN upstream; it also settles a GAN that has stopped improving at a
        constant rate). They are set from hp at every step, so a resume that changes them takes effect, and the total
        is read at every step, since a time-boxed run (train --minutes) fixes it only once its speed is known."""
        scale = linear_decay(self.steps_done, self.hp.get("total_steps", 0), self.hp.get("decay_start"))
        for opt, lr in ((self.opt_g, self.hp["lr"]), (self.opt_d, self.hp.get("lr_d", self.hp["lr"]))):
            for group in opt.param_groups:
                group["lr"] = lr * scale

    @property
    def instance_noise(self) -> float:
        """hp `instance_noise`, decayed linearly to zero from the fraction hp `noise_decay_start` of the run on:
        noise lets D and G overlap early; annealed, D sees the fine detail late training has to get right."""
        return self.hp.get("instance_noise", 0.0) * linear_decay(self.steps_done, self.hp.get("total_steps", 0),
                                                                  self.hp.get("noise_decay_start"))

    @property
    def output_generator(self) -> nn.Module:
        """The generator that snapshots, grids and the finished model hold: the moving average when hp `ema` is set."""
        return self.G_ema.module if self.G_ema is not None else unwrapped(self.G)

    def distribute(self, ranks: Ranks) -> None:
        """Train as one of `ranks.world_size` processes (see ganmodels.distributed): G and D in
        DistributedDataParallel with global-batch BatchNorm statistics; each rank takes its slice of every global batch
        of indices, latents and labels, all drawn with the same seeds."""
        if not ranks.active:
            return
        if self.hp["batch_size"] % ranks.world_size:
            raise ValueError(f"--batch-size {self.hp['batch_size']} (the global batch) must be a multiple of the "
                             f"{ranks.world_size} processes")
        self.ranks = ranks
        self.G = wrap(cross_rank_batchnorm(self.G), self.device)
        self.D = wrap(cross_rank_batchnorm(self.D), self.device)

    def take_data(self, data: dict, seed: int) -> None:
        """Keep the training tensors and a cursor over them; translators draw from two sets instead."""
        self.images, self.labels = data["images"], data.get("labels")
        self.source = BatchSource(len(self.images), self.hp["batch_size"], seed)

    def parameter_groups(self) -> tuple[list, list]:
        """(what G's optimizer updates, what D's does); families whose D carries a head trained with G override it."""
        return list(self.G.parameters()), list(self.D.parameters())

    # --- data -----------------------------------------------------------------
    def real_batch(self):
        idx = local_rows(self.ranks, self.source.next_indices())
        x = to_float_images(self.images[idx], self.device)
        y = self.labels[idx].to(self.device) if self.labels is not None else None
        return x, y

    def randn(self, *shape) -> torch.Tensor:
        """Noise for this rank's rows: the global batch's is drawn (world_size times the rows) and sliced, so the
        ranks together draw what one process would."""
        rows = shape[0] * self.ranks.world_size
        return local_rows(self.ranks, torch.randn(rows, *shape[1:], generator=self.noise)).to(self.device)

    def rand(self, *shape) -> torch.Tensor:
        """Uniform [0, 1) numbers for this rank's rows, drawn for the global batch and sliced as randn does."""
        rows = shape[0] * self.ranks.world_size
        return local_rows(self.ranks, torch.rand(rows, *shape[1:], generator=self.noise)).to(self.device)

    def seen_by_d(self, x: torch.Tensor) -> torch.Tensor:
        """x plus Gaussian instance noise of std `instance_noise` (if set): real and fake overlap, so D's gradient
        to G stays informative instead of D separating them on detail G cannot fix yet."""
        std = self.instance_noise
        return x + std * self.randn(*x.shape).to(x) if std else x

    def random_labels(self, n: int) -> torch.Tensor:
        drawn = torch.randint(self.arch["num_classes"], (n * self.ranks.world_size,), generator=self.noise)
        return local_rows(self.ranks, drawn).to(self.device)

    # --- state ----------------------------------------------------------------
    def nets(self) -> dict[str, nn.Module]:
        nets = {"G": unwrapped(self.G), "D": unwrapped(self.D)}
        if self.G_ema is not None:
            nets["G_ema"] = self.G_ema
        return nets

    def state_dict(self) -> dict:
        return {
            "nets": {k: m.state_dict() for k, m in self.nets().items()},
            "optimizers": {k: o.state_dict() for k, o in self.optimizers.items()},
            "source": self.source.state_dict(),
            "noise": self.noise.get_state(),
        }

    def load_state_dict(self, state: dict) -> None:
        for k, m in self.nets().items():
            m.load_state_dict(state["nets"][k])
        for k, o in self.optimizers.items():
            o.load_state_dict(state["optimizers"][k])
        self.source.load_state_dict(state["source"])
        self.noise.set_state(state["noise"])

    @property
    def epoch(self) -> float:
        return self.source.epoch + self.source.cursor / self.source.size

    def update(self) -> dict[str, float]:
        """One training step in the run's precision. With bf16, autocast runs convolutions and matrix products in
        bfloat16 (2x the float32 rate on AMX CPUs, bench/train_throughput.py) while weights, Adam state, norms and
        losses stay float32, so no loss scaling is needed."""
        self.schedule()
        if self.hp.get("precision") == "bf16":
            with torch.autocast(self.device.type, dtype=torch.bfloat16):
                losses = self.step()
        else:
            losses = self.step()
        if self.G_ema is not None:
            self.G_ema.update_parameters(unwrapped(self.G))
        self.steps_done += 1
        return losses

    def step(self) -> dict[str, float]:
        raise NotImplementedError


def averaged_generator(G: nn.Module, decay: float | None) -> AveragedModel | None:
    """An exponential moving average of G's weights (Karras et al. 2018; BigGAN): it smooths out the step-to-step
    wander of adversarial training, so its samples are steadier and usually better than the online G's. Norm
    running statistics are averaged too (`use_buffers`), so a BatchNorm generator's eval mode matches its weights."""
    if not decay:
        return None
    if isinstance(decay, bool) or not isinstance(decay, (int, float)) or not 0.0 < decay < 1.0:
        raise ValueError(f"ema must be a decay between 0 and 1 (e.g. 0.999), not {decay}")
    return AveragedModel(G, multi_avg_fn=get_ema_multi_avg_fn(decay), use_buffers=True)


def bce(logits: torch.Tensor, target: float) -> torch.Tensor:
    return F.binary_cross_entropy_with_logits(logits, torch.full_like(logits, target))


class StandardGANTrainer(GANTrainer):
    """Goodfellow's minimax with the non-saturating G loss; labels go to G and D when conditional."""

    conditional = False
    last_r1 = 0.0  # the R1 penalty as last measured, logged on the steps that skip it


    def step(self) -> dict[str, float]:
        real, y = self.real_batch()
        n = real.shape[0]
        y_fake = self.random_labels(n) if self.conditional else None
        y_real = y if self.conditional else None
        fake = self.G(self.randn(n, self.arch["z_dim"]), y_fake)

        self.opt_d.zero_grad(set_to_none=True)
        # lazy regularisation (Karras et al. 2020): the penalty every r1_every steps, weighted that many times
        r1_every = self.hp.get("r1_every", 1)
        r1_weight = self.hp.get("r1", 0.0) * r1_every if self.steps_done % r1_every == 0 else 0.0
        real_seen = self.seen_by_d(real).requires_grad_(bool(r1_weight))
        real_logits = self.D(real_seen, y_real)
        # hp real_label < 1: one-sided label smoothing (Salimans et al. 2016; the DCGAN tutorials' 0.9), D is not
        # pushed to certainty on real images while fakes keep the target 0
        d_real = bce(real_logits, self.hp.get("real_label", 1.0))
        d_fake = bce(self.D(self.seen_by_d(fake.detach()), y_fake), 0.0)
        d_loss = d_real + d_fake
        if r1_weight:
            penalty = r1_penalty(real_logits, real_seen)
            d_loss = d_loss + r1_weight / 2 * penalty
            self.last_r1 = penalty.item()
        losses = {"r1": self.last_r1} if "r1" in self.hp else {}  # the latest measured (a resume may set it to 0)
        d_loss.backward()
        self.opt_d.step()

        self.opt_g.zero_grad(set_to_none=True)
        with frozen(self.D):
            g_loss = bce(self.D(self.seen_by_d(fake), y_fake), 1.0)
            g_loss.backward()
        self.opt_g.step()
        return {"d_real": d_real.item(), "d_fake": d_fake.item(), "d_total": (d_real + d_fake).item(), "g": g_loss.item(),
                **losses}


def r1_penalty(real_logits: torch.Tensor, real_inputs: torch.Tensor) -> torch.Tensor:
    """Mean squared norm of D's gradient at the real images (Mescheder et al. 2018): it keeps D flat where the data
    are, so training settles instead of circling, without blurring what D sees as instance noise does."""
    grads = torch.autograd.grad(real_logits.sum(), real_inputs, create_graph=True)[0]
    return grads.float().pow(2).flatten(1).sum(1).mean()


# --- declared options (ganmodels/families/options.py) ---------------------------------------------------------
# Keys every family's nets share; a family lists the ones it has in `arch_options`.
IMAGE_SIZE = Option("image_size", int, lambda size, channels, classes: size, "side of the square images, in pixels",
                    low=1, set_by="--image-size", fixed=True, default_text="the dataset's (28 MNIST, 32 CIFAR-10, 128 photos)")
CHANNELS = Option("channels", int, lambda size, channels, classes: channels, "colour channels of the images", low=1,
                  set_by="--dataset", default_text="1 for MNIST/Fashion-MNIST, else 3")
NUM_CLASSES = Option("num_classes", int, lambda size, channels, classes: classes, "classes in the training data", low=1,
                     set_by="--dataset", default_text="the dataset's classes")
Z_DIM = Option("z_dim", int, 100, "length of the noise vector G draws from", low=1)
NGF = Option("ngf", int, 64, "G's feature maps at its last layer (doubling towards its first)", low=1)
NDF = Option("ndf", int, 64, "D's feature maps at its first layer (doubling towards its last)", low=1)

# What every family's trainer reads (GANTrainer and the train CLI): the optimizer, the learning-rate and noise
# schedules, the moving average, precision and run length, and --labels for the semi-supervised family.
SHARED_HPARAMS = (
    Option("lr", float, 2e-4, "Adam learning rate of G (and of D unless lr_d is set); --lr sets it too", low=0, low_open=True),
    Option("beta1", float, 0.5, "Adam's first-moment decay", low=0, high=1, high_open=True),
    Option("beta2", float, 0.999, "Adam's second-moment decay", low=0, high=1, high_open=True),
    Option("batch_size", int, 64, "images per step (the global batch under torchrun); --batch-size sets it too", low=1),
    Option("lr_d", float, None, "D's own learning rate (two time-scale update rule); unset: lr", low=0, low_open=True,
           recorded=False, default_text="lr"),
    Option("ema", float, None, "decay of an exponential moving average of G's weights, which snapshots and the finished "
           "model hold (e.g. 0.999); 0 or unset: none", low=0, high=1, low_open=True, high_open=True, also_allowed=(0,),
           recorded=False),
    Option("decay_start", float, None, "fraction of the run after which both learning rates fall linearly to 0 at its "
           "end (e.g. 0.6); unset: constant rates", low=0, high=1, recorded=False),
    Option("instance_noise", float, None, "std of Gaussian noise added to every image D sees, so real and fake overlap "
           "early in training (e.g. 0.3); unset: 0", low=0, recorded=False, default_text="0"),
    Option("noise_decay_start", float, None, "fraction of the run after which instance_noise falls linearly to 0; "
           "unset: constant noise", low=0, high=1, recorded=False),
    Option("precision", str, "auto", "numeric precision: bf16 runs convolutions and matmuls in bfloat16 (about 2x on "
           "CPUs with AMX/AVX512-BF16); auto picks bf16 where the hardware has it",
           choices=PRECISIONS, recorded=False, set_by="--precision"),
    Option("total_steps", int, None, "the run's length in generator steps; the schedules read it", low=1, recorded=False,
           set_by="--steps", default_text="--steps (2000)"),
    Option("snapshot_every", int, None, "steps between snapshots (grid, generator, state)", low=1, recorded=False,
           set_by="--snapshot-every", default_text="steps / 8"),
    Option("labels", int, None, "labelled training images (read by the semi-supervised GAN only)", low=1, recorded=False, set_by="--labels"),
)
# Read by the standard trainer only (families whose trainer is StandardGANTrainer or a subclass of it).
STANDARD_TRAINER_HPARAMS = (
    Option("r1", float, None, "weight of the R1 penalty on D's gradient at real images (Mescheder et al. 2018, e.g. 0.1); "
           "unset: none", low=0, recorded=False, default_text="0"),
    Option("r1_every", int, 1, "apply the R1 penalty every this many steps, weighted that many times (lazy "
           "regularisation)", low=1, recorded=False),
    Option("real_label", float, 1.0, "D's target for real images; below 1 is one-sided label smoothing (e.g. 0.9)",
           low=0.5, high=1, low_open=True, recorded=False),
)


def shared_hparam(key: str, **changes) -> Option:
    """A shared hparam as one family declares it, e.g. with its own default (`default=...`), or recorded in every
    new card (`recorded=True`)."""
    option = next((o for o in SHARED_HPARAMS if o.key == key), None)
    if option is None:
        raise KeyError(f"no shared hparam {key}")
    return option.but(**changes)


def with_defaults(options: tuple[Option, ...], **defaults) -> tuple[Option, ...]:
    """`options` with some defaults changed (a family that inherits another's keys but not all its defaults)."""
    unknown = set(defaults) - {o.key for o in options}
    if unknown:
        raise KeyError(f"no option {', '.join(sorted(unknown))} to change")
    return tuple(o.but(default=defaults[o.key]) if o.key in defaults else o for o in options)


class Family:
    """A model family: its networks, their options, how to sample them and how to train them.

    The registry (ganmodels/registry.py) maps a card's `family` string to one instance. Nothing outside
    ganmodels/families/ branches on a family's name: it reads these attributes instead.

    A subclass must provide:
      name, title, summary      the card's `family` string, a display name, one sentence for cards and --help
      arch_options              every arch key its nets read (families.options.Option: type, default, range, help);
                                the recorded ones make default_arch(), the rest are read with arch.get(key, default)
      build_generator(arch)     G as an nn.Module taking (latent, labels=None)
      build_discriminator(arch) D as an nn.Module
    and may set or override:
      hparam_options            its own hparams, and shared ones with its own defaults (`.but(default=...)`):
                                merged over SHARED_HPARAMS (+ STANDARD_TRAINER_HPARAMS for the standard trainer)
      trainer_cls               a GANTrainer subclass whose step() is one G+D update (default: Goodfellow's minimax)
      conditional, translator, needs_labels, data_splits, discriminator_classifies, distributable,
      channels_last_on_cpu, init_from_switches, small_arch   see their comments below
      latent_size, latent_codes, latent_layout, seeded_latents, evaluation_inputs   what its latent holds
      fixed_inputs, render_fixed   the progress grid
      complete_training_data, snapshot_metrics, companions   data, figures and nets beyond G and D
    The base class gives the rest: default_arch()/default_hparams() and the checks of --arch/--hp values from the
    declarations, Adam optimizers, the moving average, learning-rate and noise schedules, bf16 autocast,
    torchrun, resumable state, and the training CLI's options, --help and docs/training.md.
    """

    name = ""
    title = ""
    summary = ""
    conditional = False  # generator takes class labels
    translator = False  # image-to-image (CycleGAN) instead of latent -> image
    # Training reads class labels (conditional families, and SGAN's labelled subset): an unlabelled folder is refused.
    needs_labels = False
    # The dataset splits training loads (SGAN also measures test accuracy while it trains).
    data_splits: tuple[str, ...] = ("train",)
    # The discriminator doubles as a classifier shipped beside the generator (SGAN's "classifier" and "baseline"
    # companions): evaluation measures their test accuracy and the app offers the classifier page.
    discriminator_classifies = False
    # oneDNN's NHWC convolutions train the DCGAN-style nets 1.08-1.13x faster (bench/train_throughput.py)
    channels_last_on_cpu = True
    trainer_cls: type[GANTrainer] = StandardGANTrainer
    # The declared options (see the class docstring): any other --arch/--hp key is a typo that would silently train
    # the defaults, so training refuses it, and a value outside its declared range is refused before any training.
    arch_options: tuple[Option, ...] = ()
    hparam_options: tuple[Option, ...] = ()
    # Switches (--hp KEY=true) that train on from the generator a run starts with, so need --init-from.
    init_from_switches: tuple[str, ...] = ()
    # Whether its trainer runs under torchrun: its steps call G and D only through forward() (DistributedDataParallel
    # forwards nothing else, such as a D's sub-module or a ModuleDict's entries).
    distributable = True
    # Arch overrides that train in minutes on a laptop CPU: the new-run form's "small" choice, for trying the studio.
    small_arch: dict = {}

    def arch_declarations(self) -> dict[str, Option]:
        """Every arch key, by name, in the order cards record them."""
        return {o.key: o for o in self.arch_options}

    def hparam_declarations(self) -> dict[str, Option]:
        """Every hparam key: the shared ones (with this family's defaults where it declares its own), then its own."""
        shared = SHARED_HPARAMS + (STANDARD_TRAINER_HPARAMS if issubclass(self.trainer_cls, StandardGANTrainer) else ())
        own = {o.key: o for o in self.hparam_options}
        declared = {o.key: own.pop(o.key, o) for o in shared}
        return declared | own

    def default_arch(self, image_size: int, channels: int, num_classes: int) -> dict:
        return {o.key: o.default_for(image_size, channels, num_classes) for o in self.arch_options if o.recorded}

    def default_hparams(self) -> dict:
        return {k: o.default_for(0, 0, 0) for k, o in self.hparam_declarations().items() if o.recorded}

    def known_keys(self, image_size: int = 0, channels: int = 0) -> tuple[set[str], set[str]]:
        """(architecture keys, hyper-parameter keys) that this family's nets and trainer read."""
        return set(self.arch_declarations()), set(self.hparam_declarations())

    def check_options(self, arch: dict, hp: dict) -> None:
        """OptionError (a ValueError) for an --arch/--hp key this family does not read, one the run derives from a
        flag of its own (--image-size), or a value outside its declared range."""
        check_options(self.name, self.arch_declarations(), self.hparam_declarations(), arch, hp)

    def check_hparam_values(self, hp: dict) -> None:
        """OptionError for a declared hparam whose value is outside its range (keys it does not declare pass: a
        card may carry keys an older version read)."""
        declared = self.hparam_declarations()
        for key, value in hp.items():
            if key in declared:
                declared[key].check(value, "--hp")

    def build_generator(self, arch: dict) -> nn.Module:
        raise NotImplementedError

    def build_discriminator(self, arch: dict) -> nn.Module:
        raise NotImplementedError

    def latent_size(self, arch: dict) -> int:
        """Width of the vector the generator takes (z plus any codes)."""
        return arch["z_dim"]

    def latent_codes(self, arch: dict) -> dict | None:
        """Interpretable codes in the latent beside the noise, for a UI's sliders (InfoGAN:
        {"categorical": K, "continuous": N, "names": {...}}); None for families without them."""
        return None

    def latent_layout(self, arch: dict) -> tuple:
        """Models with the same layout can take literally the same latent tensor (side-by-side comparisons)."""
        return ("noise", self.latent_size(arch))

    def seeded_latents(self, arch: dict, seed: int, n: int = 1, psi: float | None = None) -> torch.Tensor:
        """n generator inputs for a seed: row i is seed + i's, whatever n is; `psi` truncates the noise."""
        return sample_latents(seed, n, arch["z_dim"], psi)

    def evaluation_inputs(self, arch: dict, n: int, seed: int, psi: float | None = None
                          ) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
        """(latents, class labels, categorical codes) of n evaluation samples, the same at every call so figures
        compare across snapshots and runs; conditional models get every class equally often."""
        if self.conditional:
            return sample_latents(seed, n, arch["z_dim"], psi), torch.arange(n) % arch["num_classes"], None
        return self.seeded_latents(arch, seed, n, psi), None, None

    def complete_training_data(self, data: dict, load_split, labels: int | None, seed: int) -> None:
        """Add what this family's trainer reads beyond data["images"] and data["labels"] (SGAN: its labelled
        subset and the test split). `load_split(split)` gives that split's (images, labels)."""

    def snapshot_metrics(self, trainer: GANTrainer, data: dict) -> dict:
        """Cheap figures worth logging at every snapshot (SGAN: test accuracy)."""
        return {}

    def companions(self, trainer: GANTrainer, data: dict) -> dict[str, nn.Module]:
        """Nets besides the generator that the app needs (SGAN: its classifiers)."""
        return {}

    def make_trainer(self, G, D, arch, hp, data, device, seed) -> GANTrainer:
        return self.trainer_cls(self, G, D, arch, hp, data, device, seed)

    def fixed_inputs(self, arch: dict, seed: int, data: dict | None = None) -> dict[str, torch.Tensor]:
        """The inputs of the progress grid: 25 latents, or one row per class for conditional models."""
        gen = torch.Generator().manual_seed(seed)
        if self.conditional:
            k = arch["num_classes"]
            z = torch.randn(5, arch["z_dim"], generator=gen).repeat(k, 1)
            return {"z": z, "labels": torch.arange(k).repeat_interleave(5)}
        return {"z": torch.randn(25, arch["z_dim"], generator=gen)}

    @torch.inference_mode()
    def render_fixed(self, G: nn.Module, fixed: dict[str, torch.Tensor], device: torch.device) -> tuple[torch.Tensor, int]:
        """(images, images per row) for the progress grid."""
        z = fixed["z"].to(device)
        labels = fixed.get("labels")
        out = G(z, labels.to(device) if labels is not None else None)
        return out, 5


def conditioning(labels: torch.Tensor | None, num_classes: int, like: torch.Tensor) -> torch.Tensor:
    """One-hot label rows on the device and dtype of `like`; a clear error if labels are missing."""
    if labels is None:
        raise ValueError("this generator is class-conditional: pass labels")
    return one_hot(labels.cpu(), num_classes).to(device=like.device, dtype=like.dtype)
