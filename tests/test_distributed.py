"""Training under torchrun: 2 gloo processes on CPU train like one process with the same global batch.

Parity holds with BatchNorm in G and D because, under torchrun, every BatchNorm normalises with the global batch's
statistics (ganmodels.distributed.CrossRankBatchNorm), the ranks draw the same global batch of indices, latents and
labels and each keeps its own slice, and DistributedDataParallel averages the gradients.
"""
from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.distributed as dist

from ganmodels import files as run_files
from ganmodels import train as gtrain
from ganmodels.cards import read_card
from ganmodels.distributed import CrossRankBatchNorm, cross_rank_batchnorm
from ganmodels.registry import FAMILIES

from conftest import TINY_ARCH

REPO = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.skipif(not dist.is_available() or not dist.is_gloo_available(), reason="torch built without gloo")

GLOBAL_BATCH, STEPS, EVERY = 16, 4, 2
# Adam divides by the root of the squared gradient, so where a gradient is near zero float noise (the all-reduce sums
# in another order) can move a weight by up to a whole step (lr 2e-4): weights agree within a quarter of one step,
# the logged losses within 1e-4 relative. A rank training on the wrong slice, or normalising with its own batch's
# statistics, is off by whole steps and by percents of the loss.
WEIGHT_ATOL = 5e-5
TINY = {family: [arg for key, value in TINY_ARCH[family].items() for arg in ("--arch", f"{key}={json.dumps(value)}")]
        for family in ("dcgan", "acgan", "mlp", "cgan", "wgan_gp")}


def argv(family: str, data: Path, runs: Path, name: str, *extra: str) -> list[str]:
    return [family, "--dataset", "mnist", "--data-root", str(data), "--max-images", "64", "--batch-size", str(GLOBAL_BATCH),
            "--steps", str(STEPS), "--snapshot-every", str(EVERY), "--runs-dir", str(runs), "--name", name, "--seed", "5",
            "--precision", "fp32", "--no-progress", *TINY[family], *extra]


def torchrun(args: list[str], cwd: Path, nproc: int = 2) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    env.pop("WORLD_SIZE", None)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(nproc),
           "-m", "ganmodels.train", *args]
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done


def losses(folder: Path) -> list[dict[str, float]]:
    with open(folder / "losses.csv", newline="") as fh:
        return [{k: float(v) for k, v in row.items()} for row in csv.DictReader(fh)]


def nets(folder: Path) -> dict[str, dict[str, torch.Tensor]]:
    return torch.load(folder / run_files.STATE_NAME, weights_only=True)["trainer"]["nets"]


def assert_same_training(single: Path, multi: Path) -> None:
    a, b = losses(single), losses(multi)
    assert [r["step"] for r in a] == [r["step"] for r in b] == list(range(1, STEPS + 1))
    for ra, rb in zip(a, b):
        for key in ra:
            assert rb[key] == pytest.approx(ra[key], rel=1e-4, abs=1e-5), (ra["step"], key, ra[key], rb[key])
    na, nb = nets(single), nets(multi)
    assert na.keys() == nb.keys()
    for net in na:
        assert na[net].keys() == nb[net].keys(), "checkpoints keep the single-process keys (no 'module.' prefix)"
        for key, value in na[net].items():
            if value.is_floating_point():
                torch.testing.assert_close(nb[net][key], value, rtol=1e-4, atol=WEIGHT_ATOL, msg=f"{net}.{key}")
            else:
                assert torch.equal(nb[net][key], value), f"{net}.{key}"


@pytest.mark.parametrize("family", ["dcgan", "acgan", "mlp", "cgan", "wgan_gp"])
def test_two_gloo_processes_match_one_process_with_the_same_global_batch(family, tiny_mnist, tmp_path):
    runs = tmp_path / "runs"
    assert gtrain.main(argv(family, tiny_mnist, runs, "single")) == 0
    torchrun(argv(family, tiny_mnist, runs, "ddp"), tmp_path)
    assert_same_training(runs / "single", runs / "ddp")
    card = read_card(runs / "ddp")
    assert card.training["world_size"] == 2 and read_card(runs / "single").training["world_size"] == 1
    assert card.training["command"].startswith("torchrun --nproc_per_node 2 -m ganmodels.train ")
    assert card.training["hparams"]["batch_size"] == GLOBAL_BATCH, "--batch-size is the global batch"
    assert [s["step"] for s in card.snapshots] == [2, 4] and card.training["status"] == "finished"
    assert sorted(p.name for p in runs.iterdir()) == ["ddp", "single"], "one run folder, written by rank 0 only"


def test_resume_under_torchrun_continues_the_run(tiny_mnist, tmp_path):
    runs = tmp_path / "runs"
    assert gtrain.main(argv("dcgan", tiny_mnist, runs, "single")) == 0
    torchrun(argv("dcgan", tiny_mnist, runs, "ddp", "--stop-at", "2"), tmp_path)
    assert read_card(runs / "ddp").training["steps_done"] == 2
    torchrun(["--resume", str(runs / "ddp"), "--no-progress"], tmp_path)
    card = read_card(runs / "ddp")
    assert card.training["status"] == "finished" and card.training["steps_done"] == STEPS
    assert card.training["resumed_by"][0]["command"].startswith("torchrun --nproc_per_node 2 ")
    assert_same_training(runs / "single", runs / "ddp")


def test_a_family_that_cannot_run_distributed_is_refused(tiny_mnist, tmp_path):
    family = next(name for name, f in FAMILIES.items() if not f.distributable)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", "-m", "ganmodels.train",
           family, "--data-root", str(tiny_mnist), "--runs-dir", str(tmp_path / "runs"), "--no-progress"]
    done = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode != 0
    assert "does not train under torchrun" in done.stdout + done.stderr
    assert not (tmp_path / "runs").exists()


def test_an_uneven_global_batch_is_refused(tiny_mnist, tmp_path):
    args = argv("dcgan", tiny_mnist, tmp_path / "runs", "odd")
    args[args.index("--batch-size") + 1] = "15"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", "-m", "ganmodels.train", *args]
    done = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode != 0 and "multiple of the 2 processes" in done.stdout + done.stderr


def test_cross_rank_batchnorm_outside_a_process_group_is_plain_batchnorm_in_eval():
    """The class swap keeps parameters and buffers (optimizers and EMA copies hold the same tensors)."""
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4))
    before = [id(p) for p in net.parameters()] + [id(b) for b in net.buffers()]
    cross_rank_batchnorm(net)
    assert isinstance(net[1], CrossRankBatchNorm)
    assert [id(p) for p in net.parameters()] + [id(b) for b in net.buffers()] == before
    plain = torch.nn.BatchNorm2d(4).eval()
    plain.load_state_dict(net[1].state_dict())
    x = torch.randn(2, 4, 5, 5)
    torch.testing.assert_close(net[1].eval()(x), plain(x))


class ConstantD(torch.nn.Module):
    """A discriminator whose logit for every image is its one parameter."""

    def __init__(self, logit: float):
        super().__init__()
        self.logit = torch.nn.Parameter(torch.tensor(logit))

    def forward(self, x, labels=None):
        return self.logit + 0.0 * x.flatten(1).sum(1)  # the images stay in the graph, so G gets a (zero) gradient


def test_real_label_smooths_only_the_real_target(tiny_mnist):
    """--hp real_label=0.9 (the DCGAN tutorials' one-sided label smoothing): D's loss on real images has the target
    0.9, on fakes still 0; other values are refused."""
    from ganmodels.data import load_labelled

    family = FAMILIES["dcgan"]
    x, _ = load_labelled("mnist", tiny_mnist)
    arch = family.default_arch(28, 1, 0) | {"ngf": 8}
    logit = 2.0
    for target in (1.0, 0.9):
        hp = family.default_hparams() | {"batch_size": 8, "real_label": target, "precision": "fp32"}
        trainer = family.make_trainer(family.build_generator(arch), ConstantD(logit), arch, hp, {"images": x[:32]},
                                      torch.device("cpu"), 0)
        losses = trainer.update()
        p = torch.sigmoid(torch.tensor(logit))
        assert losses["d_real"] == pytest.approx(-(target * p.log() + (1 - target) * (1 - p).log()).item(), rel=1e-5)
        assert losses["d_fake"] == pytest.approx(-(1 - p).log().item(), rel=1e-5)
    for bad in (0.5, 1.2, True):
        with pytest.raises(ValueError, match="real_label"):
            family.make_trainer(family.build_generator(arch), ConstantD(0.0), arch, family.default_hparams() | {"real_label": bad},
                                {"images": x[:32]}, torch.device("cpu"), 0)
