"""Training images per second: our DCGAN step against two well-known reference loops, same nets, same data.

ours      ganmodels.train's machinery: the dcgan family's trainer.update() over the in-memory MNIST tensor
          that `python -m ganmodels.train dcgan --dataset mnist` loads (load_training_data), in the precision
          that command picks here (`--precision auto`: bf16 autocast where the CPU has AVX512-BF16/AMX, else fp32;
          --precision fp32 forces fp32). The reference loops run float32, as they are written.
examples  a re-creation of pytorch/examples dcgan/main.py: a torchvision MNIST dataset yielding PIL images
          through Compose([Resize, ToTensor, Normalize((0.5,), (0.5,))]), DataLoader(batch_size=64,
          shuffle=True, num_workers=2 -- its --workers default), BCELoss on sigmoid outputs,
          real_label=1 / fake_label=0, netD then netG updated exactly as in main.py, a print per batch.
pytorch-gan  a re-creation of eriklindernoren/PyTorch-GAN implementations/dcgan/dcgan.py: the same dataset
          and transforms, DataLoader(batch_size=64, shuffle=True) (no workers), BCELoss, Adam(0.5, 0.999),
          its order (G step first, then D on real and detached fake, d_loss halved), numpy noise, a print per batch.

All three train our DCGANGenerator / DCGANDiscriminator at 28 px (the references get a Sigmoid on D's
logit, as their BCELoss needs), batch 64, on MNIST from ../shared/data/mnist, in one process, timed in
interleaved chunks so load from other processes hits all alike. Image saving every 100 (examples) / 400 (PyTorch-GAN) batches and our
snapshots are left out of all three. Prints are sent to /dev/null.

    python -m bench.train_throughput [--steps 40] [--chunk 10] [--warmup 5] [--rounds 2] [--pause-training] [--smoke]
"""
from __future__ import annotations

import contextlib
import itertools
import os
import statistics
import sys
import tempfile
import time
import types
from pathlib import Path

from bench._common import REPO, bench_parser, figure, machine, ratio, table, training_paused

import numpy as np
import torch
import torchvision
import torchvision.transforms as transforms
from torch import nn

from ganmodels.data import load_idx_dataset
from ganmodels.families import base as gan_base
from ganmodels.families.dcgan import DCGANDiscriminator, DCGANGenerator
from ganmodels.families.base import resolve_precision
from ganmodels.registry import get_family
from ganmodels.train import load_training_data

BATCH = 64
NZ = 100
DEVNULL = open(os.devnull, "w")


class InMemoryMNIST(torchvision.datasets.MNIST):
    """torchvision's MNIST class itself (its __getitem__: Image.fromarray(mode='L') then the transform),
    fed from the IDX tensors we already read instead of its download folder."""

    def __init__(self, data: torch.Tensor, targets: torch.Tensor, transform):
        torchvision.datasets.VisionDataset.__init__(self, root=str(REPO), transform=transform)
        self.train = True
        self.data, self.targets = data, targets


class SigmoidD(nn.Module):
    """Our discriminator with the Sigmoid the reference loops end their netD with."""

    def __init__(self, D: nn.Module, shape: tuple):
        super().__init__()
        self.D, self.shape = D, shape

    def forward(self, x):
        return torch.sigmoid(self.D(x)).view(*self.shape)


def make_nets(arch: dict, seed: int):
    torch.manual_seed(seed)
    G = DCGANGenerator(arch["z_dim"], arch["channels"], arch["image_size"], arch["ngf"])
    D = DCGANDiscriminator(arch["channels"], arch["image_size"], arch["ndf"])
    return G, D


def reference_dataset(data_root: Path) -> InMemoryMNIST:
    images, labels = load_idx_dataset(data_root, "train")  # uint8 N×1×28×28, as torchvision holds N×28×28
    tf = transforms.Compose([transforms.Resize(28), transforms.ToTensor(), transforms.Normalize((0.5,), (0.5,))])
    return InMemoryMNIST(images[:, 0], labels, tf)


def batches_forever(loader):
    """`for epoch ...: for i, data in enumerate(dataloader)` as a flat stream (a new iterator per epoch)."""
    for epoch in itertools.count():
        for i, data in enumerate(loader):
            yield epoch, i, data


# --- the three loops: each returns a step() closure --------------------------------------------


def ours_trainer(arch: dict, data_root: Path, seed: int, data: dict | None = None, precision: str = "auto"):
    family = get_family("dcgan")
    data = data or load_training_data(family, "mnist", str(data_root), arch["image_size"], None, None, seed)
    hp = {**family.default_hparams(), "batch_size": BATCH, "precision": resolve_precision(precision, torch.device("cpu"))}
    G, D = make_nets(arch, seed)
    return family.make_trainer(G, D, arch, hp, data, torch.device("cpu"), seed), data


def ours_step(arch: dict, data_root: Path, seed: int, precision: str):
    return ours_trainer(arch, data_root, seed, precision=precision)[0].update


# --- ablations: ganmodels' trainer applies five speed-ups; each variant takes one (or all) back out ------


def _float32(t) -> None:
    t.hp["precision"] = "fp32"



def _unfused_adam(t) -> None:
    betas = (t.hp["beta1"], t.hp["beta2"])
    t.opt_g = torch.optim.Adam(t.G.parameters(), lr=t.hp["lr"], betas=betas)
    t.opt_d = torch.optim.Adam(t.D.parameters(), lr=t.hp["lr"], betas=betas)
    t.optimizers = {"G": t.opt_g, "D": t.opt_d}


def _contiguous_nets(t) -> None:
    t.G.to(memory_format=torch.contiguous_format)
    t.D.to(memory_format=torch.contiguous_format)


@contextlib.contextmanager
def _not_frozen(net):
    yield


def _d_grads_in_g_step(t) -> None:
    """StandardGANTrainer.step without `frozen(D)`: D's weight gradients computed in G's update again."""
    step = t.step

    def unfrozen_step():
        saved, gan_base.frozen = gan_base.frozen, _not_frozen
        try:
            return step()
        finally:
            gan_base.frozen = saved

    t.step = unfrozen_step


def _first_layer_as_conv(t) -> None:
    first = t.G.main[0]
    first.forward = types.MethodType(nn.ConvTranspose2d.forward, first)


ABLATIONS = {
    "no_channels_last": [_contiguous_nets],
    "no_fused_adam": [_unfused_adam],
    "no_frozen_d": [_d_grads_in_g_step],
    "no_matmul_first_layer": [_first_layer_as_conv],
    "no_bf16": [_float32],
    "none_of_the_five": [_contiguous_nets, _unfused_adam, _d_grads_in_g_step, _first_layer_as_conv, _float32],
}


def ablation_steps(arch: dict, data_root: Path, seed: int, compile_too: bool, names=None, precision: str = "auto") -> dict:
    """Ours with one speed-up taken back out: each ratio to `ours` is what that change buys.

    Every change keeps the algorithm (same losses, same update order, same numbers up to float rounding; bf16
    rounds more: tests/test_training.py bounds it, and bench/README.md compares models trained both ways)."""
    out = {}
    data = None
    for name, changes in ABLATIONS.items():
        if names and name not in names:
            continue
        t, data = ours_trainer(arch, data_root, seed, data, precision)
        for change in changes:
            change(t)
        out[f"ours-{name}"] = t.update

    if not names or "1_thread" in names:
        t, data = ours_trainer(arch, data_root, seed, data, precision)

        def one_thread(step=t.update):
            n = torch.get_num_threads()
            torch.set_num_threads(1)
            try:
                return step()
            finally:
                torch.set_num_threads(n)

        out["ours+1_thread"] = one_thread

    if compile_too:
        t, data = ours_trainer(arch, data_root, seed, data, precision)
        t.G, t.D = torch.compile(t.G), torch.compile(t.D)
        out["ours+compile"] = t.update
    return out


def examples_step(arch: dict, dataset, seed: int, workers: int = 2):
    """pytorch/examples dcgan/main.py's inner loop body, line for line (minus image saving)."""
    device = torch.device("cpu")
    netG, D = make_nets(arch, seed)
    netD = SigmoidD(D, (-1,))  # main.py: output.view(-1, 1).squeeze(1)
    criterion = nn.BCELoss()
    real_label, fake_label = 1, 0
    optimizerD = torch.optim.Adam(netD.parameters(), lr=0.0002, betas=(0.5, 0.999))
    optimizerG = torch.optim.Adam(netG.parameters(), lr=0.0002, betas=(0.5, 0.999))
    dataloader = torch.utils.data.DataLoader(dataset, batch_size=BATCH, shuffle=True, num_workers=workers)
    stream = batches_forever(dataloader)
    niter = 25

    def step():
        epoch, i, data = next(stream)
        netD.zero_grad()
        real_cpu = data[0].to(device)
        batch_size = real_cpu.size(0)
        label = torch.full((batch_size,), real_label, dtype=real_cpu.dtype, device=device)
        output = netD(real_cpu)
        errD_real = criterion(output, label)
        errD_real.backward()
        D_x = output.mean().item()

        noise = torch.randn(batch_size, NZ, 1, 1, device=device)
        fake = netG(noise)
        label.fill_(fake_label)
        output = netD(fake.detach())
        errD_fake = criterion(output, label)
        errD_fake.backward()
        D_G_z1 = output.mean().item()
        errD = errD_real + errD_fake
        optimizerD.step()

        netG.zero_grad()
        label.fill_(real_label)
        output = netD(fake)
        errG = criterion(output, label)
        errG.backward()
        D_G_z2 = output.mean().item()
        optimizerG.step()
        print("[%d/%d][%d/%d] Loss_D: %.4f Loss_G: %.4f D(x): %.4f D(G(z)): %.4f / %.4f"
              % (epoch, niter, i, len(dataloader), errD.item(), errG.item(), D_x, D_G_z1, D_G_z2), file=DEVNULL)

    return step, dataloader


def pytorch_gan_step(arch: dict, dataset, seed: int):
    """PyTorch-GAN implementations/dcgan/dcgan.py's inner loop body (minus save_image)."""
    generator, D = make_nets(arch, seed)
    discriminator = SigmoidD(D, (-1, 1))  # its adv_layer ends in Linear(..., 1) + Sigmoid: shape N×1
    adversarial_loss = torch.nn.BCELoss()
    optimizer_G = torch.optim.Adam(generator.parameters(), lr=0.0002, betas=(0.5, 0.999))
    optimizer_D = torch.optim.Adam(discriminator.parameters(), lr=0.0002, betas=(0.5, 0.999))
    dataloader = torch.utils.data.DataLoader(dataset, batch_size=BATCH, shuffle=True)
    Tensor = torch.FloatTensor
    stream = batches_forever(dataloader)
    n_epochs = 200

    def step():
        epoch, i, (imgs, _) = next(stream)
        valid = Tensor(imgs.shape[0], 1).fill_(1.0)  # Variable(..., requires_grad=False) is a no-op today
        fake = Tensor(imgs.shape[0], 1).fill_(0.0)
        real_imgs = imgs.type(Tensor)

        optimizer_G.zero_grad()
        z = Tensor(np.random.normal(0, 1, (imgs.shape[0], NZ)))
        gen_imgs = generator(z)
        g_loss = adversarial_loss(discriminator(gen_imgs), valid)
        g_loss.backward()
        optimizer_G.step()

        optimizer_D.zero_grad()
        real_loss = adversarial_loss(discriminator(real_imgs), valid)
        fake_loss = adversarial_loss(discriminator(gen_imgs.detach()), fake)
        d_loss = (real_loss + fake_loss) / 2
        d_loss.backward()
        optimizer_D.step()
        print("[Epoch %d/%d] [Batch %d/%d] [D loss: %f] [G loss: %f]"
              % (epoch, n_epochs, i, len(dataloader), d_loss.item(), g_loss.item()), file=DEVNULL)

    return step, dataloader


def time_chunk(step, steps: int) -> float:
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    return time.perf_counter() - t0


def step_flops(step) -> int:
    """Floating-point operations of one training step (forward and backward convolutions and matmuls),
    counted by torch's FlopCounterMode on a real step."""
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        step()
    return counter.get_total_flops()


def matmul_peak_gflops(n: int = 1536, seconds: float = 1.0, dtype: torch.dtype = torch.float32) -> float:
    """The CPU's rate in `dtype` as this process sees it: best of repeated n x n matrix products, same threads."""
    a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
    a @ b
    best, start = 0.0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        t0 = time.perf_counter()
        a @ b
        best = max(best, 2 * n**3 / (time.perf_counter() - t0) / 1e9)
    return best


def main(argv=None) -> int:
    p = bench_parser(__doc__)
    p.add_argument("--data-root", type=Path, default=REPO.parent / "shared" / "data" / "mnist")
    p.add_argument("--steps", type=int, default=40, help="timed steps per loop per round")
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--rounds", type=int, default=2, help="rounds (one training pause each)")
    p.add_argument("--chunk", type=int, default=10, help="steps per interleaved chunk; the median chunk rate is reported")
    p.add_argument("--only", action="append", metavar="LOOP",
                   help="run only these loops (e.g. under py-spy)")
    p.add_argument("--variants", action="store_true",
                   help="also time ours with each speed-up taken out (see ABLATIONS), and ours on 1 intra-op thread")
    p.add_argument("--variant", action="append", help="with --variants: only these (" + ", ".join(ABLATIONS) + ", 1_thread)")
    p.add_argument("--compile", action="store_true", help="with --variants: torch.compile too (minutes of CPU to compile)")
    p.add_argument("--ngf", type=int, default=64, help="generator/discriminator width (64 as shipped)")
    p.add_argument("--precision", choices=("auto", "fp32", "bf16"), default="auto",
                   help="ours: as `python -m ganmodels.train --precision` (the references always run float32)")
    args = p.parse_args(argv)

    tmp = None
    data_root, steps, warmup, rounds, width = args.data_root, args.steps, args.warmup, args.rounds, args.ngf
    if args.smoke:
        from tests.conftest import make_idx_dataset

        tmp = tempfile.TemporaryDirectory(prefix="bench-mnist-")
        data_root = make_idx_dataset(Path(tmp.name) / "mnist", n_train=512, n_test=64)
        steps, warmup, rounds, width = 4, 1, 1, 8
        args.variants = True  # exercise every ablation too
        args.chunk = 2
    arch = {**get_family("dcgan").default_arch(28, 1, 10), "ngf": width, "ndf": width}
    precision = resolve_precision(args.precision, torch.device("cpu"))
    print(machine())
    print(f"ours trains in {precision} (--precision {args.precision}); the references in fp32")
    print(f"nets: DCGAN 28 px, ngf=ndf={width}, batch {BATCH}; data {data_root}; {steps} timed steps per round after {warmup} warm-up, "
          f"{rounds} round(s), interleaved in chunks of {args.chunk}")

    dataset = reference_dataset(data_root)
    loops = {
        "ours": ours_step(arch, data_root, 0, precision),
        "examples": examples_step(arch, dataset, 0)[0],
        "pytorch-gan": pytorch_gan_step(arch, dataset, 0)[0],
    }
    if args.variants:
        loops.update(ablation_steps(arch, data_root, 0, args.compile and not args.smoke, args.variant, precision))
    chosen = args.only or list(loops)
    for name in chosen:  # warm-up: allocator, oneDNN primitives, DataLoader workers, compilation
        print(f"warm-up {name}: {time_chunk(loops[name], warmup):.1f} s", flush=True)
    # Interleaved chunks: a burst of load from other processes hits every loop alike; the median chunk wins.
    chunks: dict[str, list[float]] = {k: [] for k in chosen}
    per_chunk = max(1, min(args.chunk, steps))
    for r in range(rounds):
        for _ in range(max(1, steps // per_chunk)):
            with training_paused(args.pause_training, quiet=True):  # one short pause per cycle, never minutes
                for name in chosen:
                    chunks[name].append(per_chunk * BATCH / time_chunk(loops[name], per_chunk))
        print("round " + str(r + 1) + ": " + ", ".join(f"{k} {statistics.median(v):.1f}" for k, v in chunks.items()) + " img/s",
              flush=True)
    results = chunks

    med = {k: statistics.median(v) for k, v in results.items()}
    for k, v in med.items():
        figure(f"train {k}", v, "img/s", f"median of {len(results[k])} chunks of {per_chunk} steps")
    refs = {k: v for k, v in med.items() if not k.startswith("ours")}
    rows = [[k, v, f"{v / med['ours']:.2f}x" if "ours" in med else "-"] for k, v in med.items()]
    table(["loop", "img/s", "vs ours"], rows)
    for k, v in med.items():
        if k.startswith("ours-") and "ours" in med:
            ratio(f"train ours / {k} (what that change buys)", med["ours"], v)
    if "ours" in med and refs:
        fastest = max(refs, key=refs.get)
        r = ratio(f"train ours/fastest reference ({fastest})", med["ours"], refs[fastest])
        print(f"goal >= 1.5x on CPU: {'MET' if r >= 1.5 else 'MISSED'}")
        # The ceiling: every loop does the same arithmetic, so no loop beats the machine's rate in its precision.
        flops = step_flops(loops["ours"])
        with training_paused(args.pause_training, quiet=True):
            peaks = {dt: matmul_peak_gflops(seconds=0.1 if args.smoke else 1.0, dtype=dtype)
                     for dt, dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16))}
        figure("train step arithmetic", flops / 1e9, "GFLOP", "per step of 64 images (FlopCounterMode)")
        for dt, peak in peaks.items():
            figure(f"matmul peak {dt}", peak, "GFLOP/s", "this process's threads")
        for k, dt in (("ours", precision), (fastest, "fp32")):
            rate = med[k] / BATCH * flops / 1e9
            figure(f"train {k} arithmetic rate", rate, "GFLOP/s", f"{rate / peaks[dt]:.0%} of the {dt} matmul peak")
        for dt, peak in peaks.items():
            ceiling = peak / (med[fastest] / BATCH * flops / 1e9)
            print(f"ceiling: at the {dt} matmul peak, a loop doing this arithmetic would be {ceiling:.2f}x the fastest reference")
    if tmp:
        tmp.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
