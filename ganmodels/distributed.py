"""Training on several processes with torch.distributed, as `torchrun --nproc_per_node N -m ganmodels.train ...` starts it.

Every rank draws the same global batch of indices, latents and labels (same seeds) and keeps its own slice of it, so
N ranks with a per-rank batch of B/N train like one process with batch B: DistributedDataParallel averages the
gradients, CrossRankBatchNorm normalises with the global batch's statistics, and the logged losses are the ranks'
mean. Without torchrun (WORLD_SIZE unset or 1) nothing here is used and training is single-process as before.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta

import torch
import torch.distributed as dist
from torch import nn
from torch.distributed.nn.functional import all_reduce as differentiable_all_reduce
from torch.nn.parallel import DistributedDataParallel


@dataclass(frozen=True)
class Ranks:
    """This process's place among the training processes."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def active(self) -> bool:
        return self.world_size > 1

    @property
    def writes(self) -> bool:
        """Only rank 0 writes the run folder: card, snapshots, grids, losses.csv, state.pt."""
        return self.rank == 0


SINGLE = Ranks()


def launched_ranks() -> Ranks:
    """The ranks torchrun describes in the environment (RANK, WORLD_SIZE, LOCAL_RANK); SINGLE without it."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return SINGLE
    return Ranks(int(os.environ["RANK"]), world, int(os.environ.get("LOCAL_RANK", "0")))


def start(ranks: Ranks, device: torch.device) -> torch.device:
    """Join the process group (NCCL on CUDA, gloo elsewhere) and return this rank's device (its own GPU)."""
    if not ranks.active or dist.is_initialized():
        return device
    if device.type == "cuda":
        torch.cuda.set_device(ranks.local_rank)
        device = torch.device("cuda", ranks.local_rank)
    dist.init_process_group("nccl" if device.type == "cuda" else "gloo", timeout=timedelta(minutes=30))
    return device


def stop(ranks: Ranks) -> None:
    if ranks.active and dist.is_initialized():
        dist.destroy_process_group()


def local_rows(ranks: Ranks, rows: torch.Tensor) -> torch.Tensor:
    """This rank's contiguous share of a global batch (a batch of indices, latents or labels)."""
    if not ranks.active:
        return rows
    if len(rows) % ranks.world_size:
        raise ValueError(f"a batch of {len(rows)} does not split evenly over {ranks.world_size} processes: "
                         "give a --batch-size that is a multiple of the number of processes")
    share = len(rows) // ranks.world_size
    return rows[ranks.rank * share : (ranks.rank + 1) * share]


def broadcast(ranks: Ranks, value):
    """Rank 0's `value` on every rank (a run name, a planned step count)."""
    if not ranks.active:
        return value
    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def mean_and_sum(ranks: Ranks, means: dict[str, float], sums: list[float]) -> tuple[dict[str, float], list[float]]:
    """One all-reduce per step: `means` (the losses) averaged over the ranks, `sums` (flags, rank 0's clock) summed."""
    if not ranks.active:
        return means, sums
    packed = torch.tensor([*means.values(), *sums], dtype=torch.float64)
    dist.all_reduce(packed)
    values = packed.tolist()
    k = len(means)
    return {key: v / ranks.world_size for key, v in zip(means, values[:k])}, values[k:]


class CrossRankBatchNorm(nn.modules.batchnorm._BatchNorm):
    """BatchNorm whose training statistics are those of the global batch, summed over every rank with a
    differentiable all-reduce (nn.SyncBatchNorm's arithmetic, which PyTorch only runs on GPUs). Modules become this
    class in place (same parameters and buffers, so optimizers, EMA copies and checkpoints are unaffected)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training:
            return super().forward(x)
        dims = [0] + list(range(2, x.dim()))
        count = torch.tensor([x.numel() / x.shape[1]], dtype=x.dtype, device=x.device)
        totals = differentiable_all_reduce(torch.cat([x.sum(dims), (x * x).sum(dims), count]))
        c = x.shape[1]
        n = totals[-1]
        mean = totals[:c] / n
        var = (totals[c : 2 * c] / n - mean * mean).clamp_min(0)
        if self.track_running_stats:
            with torch.no_grad():
                self.num_batches_tracked += 1
                momentum = self.momentum if self.momentum is not None else 1.0 / float(self.num_batches_tracked)
                self.running_mean.lerp_(mean.detach(), momentum)
                self.running_var.lerp_(var.detach() * n / (n - 1).clamp_min(1), momentum)
        shape = [1, c] + [1] * (x.dim() - 2)
        y = (x - mean.view(shape)) * torch.rsqrt(var.view(shape) + self.eps)
        if self.affine:
            y = y * self.weight.view(shape) + self.bias.view(shape)
        return y

    def _check_input_dim(self, x):  # 1d and 2d inputs alike
        if x.dim() < 2:
            raise ValueError(f"expected a batch of at least 2 dimensions, got {x.dim()}")


def cross_rank_batchnorm(module: nn.Module) -> nn.Module:
    """Every BatchNorm1d/2d in `module` normalises with global-batch statistics from here on (in place)."""
    for m in module.modules():
        if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            m.__class__ = CrossRankBatchNorm
    return module


def wrap(module: nn.Module, device: torch.device) -> DistributedDataParallel:
    """`module` in DistributedDataParallel; buffers are not broadcast because CrossRankBatchNorm keeps them equal."""
    ids = [device.index] if device.type == "cuda" else None
    return DistributedDataParallel(module, device_ids=ids, broadcast_buffers=False)


def unwrapped(module: nn.Module) -> nn.Module:
    return module.module if isinstance(module, DistributedDataParallel) else module

