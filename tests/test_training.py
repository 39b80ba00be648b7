"""The training CLI end to end on tiny data: every family, run-folder contents, kill + resume determinism, bad paths."""
from __future__ import annotations

import ast
import contextlib
import csv
import inspect
import json
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

from ganmodels import files as run_files
from ganmodels import train as gtrain
from ganmodels.cards import read_card
from ganmodels.checkpoint import load_model
from ganmodels.device import set_cpu_threads
from ganmodels.families import acgan as acgan_module
from ganmodels.families import base as gan_base
from ganmodels.families import infogan as infogan_module
from ganmodels.families import sgan as sgan_module
from ganmodels.families import wgan_gp as wgan_module
from ganmodels.images import grid
from ganmodels.registry import FAMILIES
from ganmodels.runs import read_losses, run_status, smooth

FAMILY_NAMES = list(FAMILIES)
TINY_ARGS = {
    "mlp": ["--arch", "g_hidden=[32,32]", "--arch", "d_hidden=[32]"],
    "dcgan": ["--arch", "ngf=8", "--arch", "ndf=8"],
    "cgan": ["--arch", "ngf=8", "--arch", "ndf=8"],
    "acgan": ["--arch", "ngf=8", "--arch", "ndf=8"],
    "infogan": ["--arch", "ngf=8", "--arch", "ndf=8"],
    "wgan_gp": ["--arch", "ngf=8", "--arch", "ndf=8", "--hp", "n_critic=2"],
    "sgan": ["--arch", "g_hidden=32", "--arch", "d_hidden=[32,16]", "--labels", "50"],
    "cyclegan": ["--image-size", "32", "--arch", "n_blocks=2", "--arch", "ngf=8", "--arch", "ndf=8", "--hp", "pool_size=3"],
}
BASE_COLUMNS = ["step", "epoch", "d_real", "d_fake", "d_total", "g"]
EXTRA_COLUMNS = {
    "acgan": {"d_class", "g_class"},
    "infogan": {"info", "info_cat", "info_cont"},
    "wgan_gp": {"gp", "wasserstein"},
    "sgan": {"supervised", "labelled_acc"},
    "cyclegan": {"cycle", "identity", "gan_a2b", "gan_b2a", "lr"},
}
GRID_IMAGES = {"cgan": 50, "acgan": 50, "infogan": 50, "cyclegan": 20}
STEPS, EVERY, KILL_AT = 12, 4, 10  # losses are flushed at step 10, the last snapshot before it is step 8


class SimulatedKill(BaseException):
    """Stands in for SIGKILL / Ctrl-C in the middle of a run."""


@pytest.fixture(scope="module", autouse=True)
def fast_training(tmp_path_factory):
    """Private image cache; SGAN's yardstick classifier trained for 30 steps instead of 2000."""
    mp = pytest.MonkeyPatch()
    mp.setenv("GANSTUDIO_CACHE", str(tmp_path_factory.mktemp("cache")))
    original = sgan_module.train_plain_classifier
    mp.setattr(sgan_module, "train_plain_classifier", lambda *a, **k: original(*a, **{**k, "steps": 30}))
    yield
    mp.undo()


def train_argv(family: str, runs: Path, name: str, mnist: Path, unpaired: Path, steps: int = STEPS, every: int = EVERY) -> list[str]:
    argv = [family, "--steps", str(steps), "--snapshot-every", str(every), "--runs-dir", str(runs), "--name", name,
            "--seed", "3", "--no-progress", *TINY_ARGS[family]]
    if family == "cyclegan":
        return argv + ["--dataset", "image-folder", "--data-root", str(unpaired), "--batch-size", "1", "--max-images", "5"]
    return argv + ["--data-root", str(mnist), "--batch-size", "16", "--max-images", "200"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory, tiny_mnist, tiny_unpaired):
    """family -> folder of an uninterrupted STEPS-step run (trained once per module)."""
    runs = tmp_path_factory.mktemp("runs")
    done: dict[str, Path] = {}

    def get(family: str) -> Path:
        if family not in done:
            assert gtrain.main(train_argv(family, runs, family, tiny_mnist, tiny_unpaired)) == 0
            done[family] = runs / family
        return done[family]

    return get


def read_rows(folder: Path) -> tuple[list[str], list[list[str]]]:
    return read_rows_of(folder / "losses.csv")


def read_rows_of(path: Path) -> tuple[list[str], list[list[str]]]:
    with open(path, newline="") as fh:
        rows = list(csv.reader(fh))
    return rows[0], rows[1:]


def png_array(path: Path) -> np.ndarray:
    with Image.open(path) as img:
        assert img.format == "PNG"
        return np.asarray(img.convert("RGB"))


def assert_no_temporary_files(folder: Path) -> None:
    leftovers = [p for p in folder.rglob("*") if ".tmp" in p.name]
    assert not leftovers, f"atomic writes left temporary files: {leftovers}"


# --- every family -------------------------------------------------------------------------------------


@pytest.mark.parametrize("family", FAMILY_NAMES)
def test_train_every_family(family, trained):
    folder = trained(family)
    header, rows = read_rows(folder)
    assert header[:6] == BASE_COLUMNS
    assert EXTRA_COLUMNS.get(family, set()) <= set(header), f"{family} must log its own losses"
    steps = [int(r[0]) for r in rows]
    assert steps == list(range(1, STEPS + 1)), "one row per step, no gaps or duplicates"
    for row in rows:
        assert all(math.isfinite(float(v)) for v in row), row
        assert all(float(v) == gtrain.loss_value(float(v)) for v in row[2:]), f"losses at LOSS_DIGITS: {row}"
    columns = read_losses(folder)
    assert columns["step"][-1] == STEPS and len(columns["d_total"]) == STEPS

    card = read_card(folder)
    assert card.family == family and card.id == family
    assert card.training["steps_done"] == STEPS and card.training["total_steps"] == STEPS
    assert card.training["status"] == "finished"
    assert card.training["command"].startswith(f"python -m ganmodels.train {family} ")
    assert card.training["hparams"]["batch_size"] == (1 if family == "cyclegan" else 16)
    assert [s["step"] for s in card.snapshots] == list(range(EVERY, STEPS + 1, EVERY))
    size = 32 if family == "cyclegan" else 28
    assert card.image_size == size
    rows_in_grid = GRID_IMAGES.get(family, 25) // 5
    for snap in card.snapshots:
        arr = png_array(folder / snap["grid"])
        assert arr.shape[:2] == (rows_in_grid * size + (rows_in_grid + 1) * 2, 5 * size + 6 * 2)
        assert (folder / snap["weights"]).is_file()
        assert snap["epoch"] > 0
    assert (folder / card.weights).is_file() and (folder / "fixed_inputs.safetensors").is_file()
    if family == "sgan":
        assert card.training["companions"] == ["baseline", "classifier"]
        assert "test_accuracy" in card.snapshots[-1]["metrics"]
        assert card.training["hparams"]["labels"] == 50
    if family == "cyclegan":
        assert card.arch["domains"] == {"a": "horse", "b": "zebra"}
        assert card.dataset["name"] == "horse2zebra"
    status = json.loads((folder / "status.json").read_text())
    assert status["status"] == "finished" and status["step"] == STEPS
    assert run_status(folder) == "finished"
    assert_no_temporary_files(folder)

    # the run folder is a loadable checkpoint, and the final snapshot is the shipped generator
    model = load_model(folder, device="cpu")
    final = load_file(str(folder / card.snapshots[-1]["weights"]))
    for key, value in model.generator.state_dict().items():
        assert torch.equal(value, final[key]), key
    if family == "cyclegan":
        out = model.translate(torch.zeros(1, 3, 32, 32), "b2a")
        assert out.shape == (1, 3, 32, 32)
    else:
        out = model.generate(model.latents(0, 2), [1] if model.family.conditional else None)
        assert out.shape == (2, 1, 28, 28) and out.abs().max() <= 1


def kill_at(monkeypatch, step: int) -> None:
    """Make the run die right after it flushed the losses of `step` (between two snapshots)."""
    original = gtrain.Run.write_status

    def write_status(self, extra):
        original(self, extra)
        if extra.get("status") == "running" and self.step == step:
            raise SimulatedKill(f"killed at step {step}")

    monkeypatch.setattr(gtrain.Run, "write_status", write_status)


def test_loss_log_keeps_every_row_under_its_own_header(tmp_path):
    """A new log gets its header; the same columns append without a rewrite; a new column is appended to the header
    and left blank in the rows before; a column no longer logged stays in the header, blank from then on."""
    path = tmp_path / "losses.csv"
    path.write_text("")
    for columns, row in ((["step", "g"], {"step": 1, "g": 0.5}), (["step", "g"], {"step": 2, "g": 0.25}),
                         (["step", "g", "r1"], {"step": 3, "g": 0.125, "r1": 2.0}), (["step", "g"], {"step": 4, "g": 1.0})):
        log, writer = gtrain.open_loss_log(path, columns)
        with log:
            writer.writerow(row)
    header, rows = read_rows_of(path)
    assert header == ["step", "g", "r1"]
    assert rows == [["1", "0.5", ""], ["2", "0.25", ""], ["3", "0.125", "2.0"], ["4", "1.0", ""]]
    assert_no_temporary_files(tmp_path)


def test_write_losses_up_to_keeps_rows_and_logs_losses_at_six_digits(tmp_path):
    """Publishing a log written at full precision ships it at the size a new one has, the same to 6 digits."""
    src = tmp_path / "losses.csv"
    src.write_text("step,epoch,d_real,g\n1,0.0011,0.8796935081481934,-1.2345678901234e-05\n"
                   "2,0.0021,0.4220797121524811,nan\n3,0.0032,12345678.9,1\n")
    gtrain.write_losses_up_to(src, tmp_path / "all.csv")
    header, rows = read_rows_of(tmp_path / "all.csv")
    assert header == ["step", "epoch", "d_real", "g"]
    assert rows == [["1", "0.0011", "0.879694", "-1.23457e-05"], ["2", "0.0021", "0.42208", "nan"],
                    ["3", "0.0032", "12345700.0", "1.0"]]
    gtrain.write_losses_up_to(src, src, step=2)
    assert [r[0] for r in read_rows_of(src)[1]] == ["1", "2"]
    assert_no_temporary_files(tmp_path)


@pytest.mark.parametrize("family", FAMILY_NAMES)
def test_kill_and_resume_reproduces_the_uninterrupted_run(family, trained, tmp_path, tiny_mnist, tiny_unpaired, monkeypatch):
    reference = trained(family)
    runs = tmp_path / "runs"
    with monkeypatch.context() as mp:
        kill_at(mp, KILL_AT)
        with pytest.raises(SimulatedKill):
            gtrain.main(train_argv(family, runs, "killed", tiny_mnist, tiny_unpaired))
    folder = runs / "killed"

    # the state a kill leaves: losses past the last snapshot, a card and state at the snapshot
    _, rows = read_rows(folder)
    assert [int(r[0]) for r in rows] == list(range(1, KILL_AT + 1))
    card = read_card(folder)
    assert card.training["steps_done"] == 8 and [s["step"] for s in card.snapshots] == [4, 8]
    status = json.loads((folder / "status.json").read_text())
    assert status["status"] == "stopped" and "SimulatedKill" in status["error"]
    assert run_status(folder) == "stopped"
    assert not (folder / "grids" / "step_0000012.png").exists()

    # the resumed state renders the snapshot's fixed-input grid exactly
    run = gtrain.Run.resume(folder)
    assert run.step == 8
    G = run.trainer.G.eval()
    images, nrow = run.family.render_fixed(G, run.fixed, run.device)
    assert np.array_equal(np.asarray(grid(images, nrow=nrow).convert("RGB")), png_array(folder / "grids" / "step_0000008.png"))
    _, rows = read_rows(folder)
    assert [int(r[0]) for r in rows] == list(range(1, 9)), "steps replayed after the snapshot are dropped"
    del run

    assert gtrain.main(["--resume", str(folder), "--steps", str(STEPS), "--no-progress"]) == 0

    header, rows = read_rows(folder)
    ref_header, ref_rows = read_rows(reference)
    assert [int(r[0]) for r in rows] == list(range(1, STEPS + 1)), "steps continue with no duplicates"
    assert header == ref_header
    assert rows == ref_rows, "resuming must reproduce the uninterrupted run's losses exactly (CPU determinism)"
    card = read_card(folder)
    assert card.training["steps_done"] == STEPS and card.training["status"] == "finished"
    assert [s["step"] for s in card.snapshots] == [4, 8, 12]
    for step in (4, 8, 12):
        tag = f"step_{step:07d}"
        assert np.array_equal(png_array(folder / "grids" / f"{tag}.png"), png_array(reference / "grids" / f"{tag}.png")), tag
    resumed, uninterrupted = load_file(str(folder / card.weights)), load_file(str(reference / card.weights))
    assert resumed.keys() == uninterrupted.keys()
    assert all(torch.equal(resumed[k], uninterrupted[k]) for k in resumed)
    assert_no_temporary_files(folder)



@pytest.mark.parametrize("family", ["dcgan", "cyclegan"])
def test_stop_at_pauses_between_snapshots_and_resuming_reproduces_the_uninterrupted_run(family, trained, tmp_path,
                                                                                        tiny_mnist, tiny_unpaired):
    reference = trained(family)
    runs = tmp_path / "runs"
    assert gtrain.main([*train_argv(family, runs, "paused", tiny_mnist, tiny_unpaired), "--stop-at", "6"]) == 0
    folder = runs / "paused"
    status = json.loads((folder / "status.json").read_text())
    assert status["status"] == "stopped" and status["paused"] == "--stop-at 6" and status["step"] == 6
    assert run_status(folder) == "stopped"
    assert torch.load(folder / run_files.STATE_NAME, weights_only=True)["step"] == 6, "the state is at the pause, not the snapshot"
    card = read_card(folder)
    assert card.training["steps_done"] == 6 and card.training["total_steps"] == STEPS
    assert [s["step"] for s in card.snapshots] == [4]
    assert [int(r[0]) for r in read_rows(folder)[1]] == list(range(1, 7)), "every step trained is logged"

    assert gtrain.main(["--resume", str(folder), "--no-progress"]) == 0
    assert read_rows(folder) == read_rows(reference), "the pause changes nothing in the run (CPU determinism)"
    resumed, uninterrupted = load_file(str(folder / card.weights)), load_file(str(reference / card.weights))
    assert all(torch.equal(resumed[k], uninterrupted[k]) for k in uninterrupted)


@pytest.mark.parametrize("stop_at, resume, problem", [(12, False, "ends at step 12 anyway"), (0, False, "already at step 0"),
                                                      (4, True, "already at step 4")])
def test_stop_at_that_cannot_pause_is_refused_before_anything_is_written(stop_at, resume, problem, tmp_path, tiny_mnist,
                                                                          tiny_unpaired, capsys):
    argv = train_argv("dcgan", tmp_path, "run", tiny_mnist, tiny_unpaired)
    if resume:
        assert gtrain.main([*argv, "--stop-at", "4"]) == 0
        argv = ["--resume", str(tmp_path / "run"), "--no-progress"]
    before = sorted(p.name for p in tmp_path.rglob("*"))
    assert gtrain.main([*argv, "--stop-at", str(stop_at)]) == 2
    assert problem in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.rglob("*")) == before


def test_sigterm_pauses_a_cli_run_after_its_current_step_and_it_resumes_from_there(tmp_path, tiny_mnist, tiny_unpaired):
    """A real process and a real signal: `kill` on a long run keeps every step it trained, not just the last snapshot."""
    argv = [*train_argv("dcgan", tmp_path, "long", tiny_mnist, tiny_unpaired, steps=100_000, every=50_000)]
    env = {**os.environ, "PYTHONPATH": str(Path(gtrain.__file__).resolve().parents[1])}
    proc = subprocess.Popen([sys.executable, "-m", "ganmodels.train", *argv, "--threads", "1"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    folder, deadline = tmp_path / "long", time.time() + 120
    while time.time() < deadline and proc.poll() is None:  # losses are flushed every LOG_EVERY steps
        with contextlib.suppress(OSError, ValueError, KeyError):
            if json.loads((folder / "status.json").read_text())["step"] >= gtrain.LOG_EVERY:
                break
        time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    out = proc.communicate(timeout=120)[0]
    assert proc.returncode == 128 + signal.SIGTERM, out
    status = json.loads((folder / "status.json").read_text())
    step = status["step"]
    assert status["paused"] == f"SIGTERM at step {step}" and step >= gtrain.LOG_EVERY
    assert f"paused at step {step}" in out and "--resume" in out
    assert torch.load(folder / run_files.STATE_NAME, weights_only=True)["step"] == step
    assert read_card(folder).training["steps_done"] == step and not read_card(folder).snapshots
    assert [int(r[0]) for r in read_rows(folder)[1]] == list(range(1, step + 1))

    assert gtrain.main(["--resume", str(folder), "--stop-at", str(step + 3), "--no-progress"]) == 0
    assert [int(r[0]) for r in read_rows(folder)[1]] == list(range(1, step + 4)), "the resumed run goes on from the pause"


def test_a_second_stop_signal_stops_at_once(tmp_path, tiny_mnist, tiny_unpaired):
    run = gtrain.Run.create(gtrain.TrainConfig(family="dcgan", data_root=str(tiny_mnist), steps=2, runs_dir=str(tmp_path),
                                               name="twice", max_images=200, batch_size=16,
                                               arch_overrides={"ngf": 8, "ndf": 8}))
    run.request_stop(signal.SIGINT)
    with pytest.raises(KeyboardInterrupt, match="SIGINT again"):
        run.request_stop(signal.SIGINT)

def test_extending_a_finished_run_continues_it(trained, tmp_path, tiny_mnist, tiny_unpaired):
    """Train 4 steps, finish, then --resume with more --steps: the same run as training 12 at once."""
    reference = trained("dcgan")
    runs = tmp_path / "runs"
    assert gtrain.main(train_argv("dcgan", runs, "short", tiny_mnist, tiny_unpaired, steps=4, every=4)) == 0
    folder = runs / "short"
    assert read_card(folder).training["status"] == "finished"
    assert gtrain.main(["--resume", str(folder), "--steps", str(STEPS), "--no-progress"]) == 0
    _, rows = read_rows(folder)
    _, ref_rows = read_rows(reference)
    assert [int(r[0]) for r in rows] == list(range(1, STEPS + 1))
    assert rows == ref_rows
    card = read_card(folder)
    assert card.training["total_steps"] == STEPS and card.training["steps_done"] == STEPS
    assert [s["step"] for s in card.snapshots] == [4, 8, 12]
    # resuming a finished run without more steps trains nothing and keeps the log intact
    assert gtrain.main(["--resume", str(folder), "--no-progress"]) == 0
    assert read_rows(folder)[1] == rows


class FakeClock:
    """Stands in for the train module's `time`: every reading advances a quarter second, so a time-boxed run
    plans and ends the same way on any machine."""

    def __init__(self):
        self.now = 1_000_000.0

    def time(self) -> float:
        self.now += 0.25
        return self.now

    def strftime(self, fmt: str) -> str:
        return "fake"


def test_minutes_plans_the_run_from_its_speed(tmp_path, tiny_mnist, tiny_unpaired, monkeypatch):
    """--minutes: the step count is fixed from the measured speed, the snapshots spread over the planned run, and
    CycleGAN's learning rate still decays to zero by the last step."""
    monkeypatch.setattr(gtrain, "time", FakeClock())
    argv = [a for a in train_argv("cyclegan", tmp_path, "boxed", tiny_mnist, tiny_unpaired) if a not in ("--steps", str(STEPS))]
    argv = argv[: argv.index("--snapshot-every")] + argv[argv.index("--snapshot-every") + 2 :]
    assert gtrain.main([*argv, "--minutes", "1"]) == 0
    card = read_card(tmp_path / "boxed")
    assert card.training["minutes"] == 1 and card.training["planned"] is True
    total = card.training["total_steps"]
    assert card.training["status"] == "finished" and card.training["steps_done"] == total
    assert 20 < total < 500, "a 60 s budget at a quarter second per reading plans tens to hundreds of steps"
    steps = [s["step"] for s in card.snapshots]
    assert len(steps) in (8, 9) and steps[-1] == total and steps[0] < total / 4
    header, rows = read_rows(tmp_path / "boxed")
    lr = [float(r[header.index("lr")]) for r in rows]
    assert lr[0] == pytest.approx(2e-4) and lr[-1] < 2e-4 / (total / 4)


def test_minutes_is_capped_by_steps_and_refuses_nonsense(tmp_path, tiny_mnist, tiny_unpaired, monkeypatch):
    monkeypatch.setattr(gtrain, "time", FakeClock())
    assert gtrain.main([*train_argv("dcgan", tmp_path, "capped", tiny_mnist, tiny_unpaired, steps=6, every=3), "--minutes", "60"]) == 0
    card = read_card(tmp_path / "capped")
    assert card.training["total_steps"] == card.training["steps_done"] == 6
    assert [s["step"] for s in card.snapshots] == [3, 6]
    assert gtrain.main([*train_argv("dcgan", tmp_path, "zero", tiny_mnist, tiny_unpaired), "--minutes", "0"]) == 2


# --- errors ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "family,extra,message",
    [
        ("dcgan", ["--data-root", "{missing}"], r"mnist not found at .*no-such-dataset"),
        ("dcgan", ["--dataset", "fashion-mnist", "--data-root", "{missing}"], "fashion-mnist not found"),
        ("cyclegan", ["--dataset", "image-folder", "--data-root", "{missing}"], "unpaired dataset folder not found.*no-such-dataset"),
        ("cyclegan", ["--dataset", "mnist"], "CycleGAN trains on an unpaired image folder"),
        ("dcgan", ["--dataset", "image-folder"], "needs --data-root"),
        ("dcgan", ["--dataset", "image-folder", "--data-root", "{missing}"], "image folder not found"),
        ("cgan", ["--dataset", "image-folder", "--data-root", "{missing}"], "image folder not found"),
        ("cgan", ["--dataset", "image-folder", "--data-root", "{flat}"], "cgan needs class labels"),
    ],
)
def test_missing_dataset_exits_2_with_message(family, extra, message, tmp_path, capsys):
    missing = tmp_path / "no-such-dataset"
    flat = tmp_path / "flat"  # images with no class sub-folders: nothing a conditional family can learn classes from
    flat.mkdir()
    Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(flat / "0.png")
    argv = [family, "--steps", "2", "--runs-dir", str(tmp_path / "runs"), "--name", "x", "--no-progress"]
    argv += [a.replace("{missing}", str(missing)).replace("{flat}", str(flat)) for a in extra]
    assert gtrain.main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ")
    assert re.search(message, err), err
    assert "Traceback" not in err
    assert not (tmp_path / "runs" / "x").exists(), "a failed start must not leave a half-made run folder"


def test_a_resumed_run_records_each_resume_command_in_its_card(tmp_path, tiny_mnist, tiny_unpaired):
    runs = tmp_path / "runs"
    assert gtrain.main(train_argv("dcgan", runs, "long", tiny_mnist, tiny_unpaired, steps=2, every=2)) == 0
    for total in ("4", "6"):
        assert gtrain.main(["--resume", str(runs / "long"), "--steps", total, "--no-progress"]) == 0
    training = read_card(runs / "long").training
    assert training["command"].startswith("python -m ganmodels.train dcgan ")
    assert training["resumed_by"] == [
        {"from_step": 2, "command": f"python -m ganmodels.train --resume {runs / 'long'} --steps 4 --no-progress"},
        {"from_step": 4, "command": f"python -m ganmodels.train --resume {runs / 'long'} --steps 6 --no-progress"},
    ]
    assert training["steps_done"] == 6


def test_resume_takes_snapshot_every_lr_and_precision_and_refuses_what_it_cannot_change(tmp_path, tiny_mnist, tiny_unpaired,
                                                                                          monkeypatch):
    """Options given with --resume either take effect from the resumed step or are refused; none is silently ignored."""
    runs = tmp_path / "runs"
    assert gtrain.main(train_argv("dcgan", runs, "r", tiny_mnist, tiny_unpaired, steps=2, every=2)) == 0
    before = read_card(runs / "r")
    for flags in (["--batch-size", "8"], ["--arch", "ngf=16"], ["--seed", "5"], ["--data-root", str(tmp_path)],
                  ["--init-from", str(runs / "r")], ["--dataset", "fashion-mnist", "--image-size", "32"]):
        with pytest.raises(SystemExit, match="cannot change when resuming") as refused:
            gtrain.main(["--resume", str(runs / "r"), "--steps", "4", "--no-progress", *flags])
        assert flags[0] in str(refused.value)
    with monkeypatch.context() as patched:  # the family is checked before any data loads
        patched.setattr(gtrain, "load_training_data", lambda *a, **k: pytest.fail("data loaded for a refused resume"))
        with pytest.raises(SystemExit, match="holds a dcgan run, not wgan_gp"):
            gtrain.main(["wgan_gp", "--resume", str(runs / "r"), "--steps", "4", "--no-progress"])
    assert read_card(runs / "r").training == before.training, "a refused resume leaves the run as it was"
    assert gtrain.main(["dcgan", "--resume", str(runs / "r"), "--steps", "3", "--no-progress"]) == 0, "its own family may be named"
    assert gtrain.main(["--resume", str(runs / "r"), "--steps", "5", "--snapshot-every", "1", "--lr", "0.0001",
                        "--precision", "bf16", "--no-progress"]) == 0
    card = read_card(runs / "r")
    assert [s["step"] for s in card.snapshots] == [2, 3, 4, 5], "a snapshot every step from the resumed one"
    assert card.training["hparams"]["lr"] == 0.0001 and card.training["hparams"]["precision"] == "bf16"
    assert card.training["hparams"]["snapshot_every"] == 1


def test_resume_errors(tmp_path, trained, tiny_mnist, tiny_unpaired):
    with pytest.raises(SystemExit, match="nothing to resume"):
        gtrain.main(["--resume", str(tmp_path)])
    # a run whose dataset has gone away: exit code 2, not a traceback
    data = tmp_path / "mnist-copy"
    shutil.copytree(tiny_mnist, data)
    runs = tmp_path / "runs"
    assert gtrain.main(train_argv("dcgan", runs, "moved", data, tiny_unpaired, steps=2, every=2)) == 0
    shutil.rmtree(data)
    assert gtrain.main(["--resume", str(runs / "moved"), "--steps", "4", "--no-progress"]) == 2
    # starting over an existing run is refused rather than overwriting it
    with pytest.raises(SystemExit, match="already holds a run"):
        gtrain.main(train_argv("dcgan", runs, "moved", tiny_mnist, tiny_unpaired, steps=2, every=2))


def test_bad_override_is_refused(tmp_path, tiny_mnist):
    with pytest.raises(SystemExit, match="KEY=VALUE"):
        gtrain.main(["dcgan", "--data-root", str(tiny_mnist), "--runs-dir", str(tmp_path), "--arch", "ngf"])


def _tiny_trainer(family_name: str, tiny_mnist: Path, seed: int = 3):
    family = FAMILIES[family_name]
    args = TINY_ARGS[family_name]
    overrides = [value for flag, value in zip(args, args[1:]) if flag == "--arch"]
    arch = {**family.default_arch(28, 1, 10), **gtrain._parse_overrides(overrides)}
    hp = {**family.default_hparams(), "batch_size": 16}
    data = gtrain.load_training_data(family, "mnist", str(tiny_mnist), 28, None, 50, seed)
    torch.manual_seed(seed)
    G, D = family.build_generator(arch), family.build_discriminator(arch)
    return family.make_trainer(G, D, arch, hp, data, torch.device("cpu"), seed)


def _plain(trainer) -> None:
    """Take the trainer's four speed-ups back out: contiguous nets, unfused Adam, first layer as a conv."""
    trainer.G.to(memory_format=torch.contiguous_format)
    trainer.D.to(memory_format=torch.contiguous_format)
    for name, opt in trainer.optimizers.items():
        fresh = torch.optim.Adam(opt.param_groups[0]["params"], lr=opt.defaults["lr"], betas=opt.defaults["betas"], fused=False)
        trainer.optimizers[name] = fresh
        setattr(trainer, {"G": "opt_g", "D": "opt_d", "info": "opt_info"}[name], fresh)
    first = getattr(trainer.G, "main", [None])[0]
    if isinstance(first, torch.nn.ConvTranspose2d):
        first.forward = torch.nn.ConvTranspose2d.forward.__get__(first)


@pytest.mark.parametrize("family", ["dcgan", "cgan", "acgan", "infogan", "wgan_gp", "sgan"])
def test_speedups_keep_the_updates(family, tiny_mnist, monkeypatch):
    """channels_last, fused Adam, frozen D in G's update and the matmul first layer change speed, not training."""
    fast, plain = _tiny_trainer(family, tiny_mnist), _tiny_trainer(family, tiny_mnist)
    _plain(plain)
    assert fast.opt_g.defaults["fused"] and not plain.opt_g.defaults["fused"]
    for i in range(3):
        torch.manual_seed(i)  # noise layers and dropout draw from the global generator
        fast_losses = fast.step()
        torch.manual_seed(i)
        with monkeypatch.context() as m:
            m.setattr(gan_base, "frozen", contextlib.nullcontext)
            for module in (acgan_module, infogan_module, sgan_module, wgan_module):
                if hasattr(module, "frozen"):
                    m.setattr(module, "frozen", contextlib.nullcontext)
            plain_losses = plain.step()
        for key in fast_losses:
            assert fast_losses[key] == pytest.approx(plain_losses[key], rel=1e-3, abs=1e-4), key
    largest_lr = max(group["lr"] for opt in fast.optimizers.values() for group in opt.param_groups)
    for net in ("G", "D"):
        for (name, a), b in zip(getattr(fast, net).state_dict().items(), getattr(plain, net).state_dict().values()):
            _assert_same_but_adam_noise(a, b, largest_lr * 3, f"{net}.{name}")
        assert all(p.requires_grad for p in getattr(fast, net).parameters()), "frozen() must give gradients back"


def _assert_same_but_adam_noise(a: torch.Tensor, b: torch.Tensor, adam_reach: float, name: str) -> None:
    """Equal within float32 rounding, except that Adam divides each gradient by its own magnitude: an element whose
    true gradient is ~1e-8 (Adam's eps) turns summation-order noise into a step of up to lr. Allow one such element
    per thousand, and never further apart than Adam could have moved it."""
    if not a.is_floating_point():
        assert torch.equal(a, b), name
        return
    off = ~torch.isclose(a, b, rtol=1e-3, atol=1e-4)
    assert int(off.sum()) <= off.numel() // 1000 + 1, f"{name}: {int(off.sum())} of {off.numel()} elements differ"
    if off.any():
        assert float((a - b).abs()[off].max()) <= adam_reach, f"{name}: differs by more than Adam's steps can explain"


def test_frozen_skips_weight_gradients_but_not_the_path_through(tiny_mnist):
    D = torch.nn.Linear(4, 1)
    x = torch.randn(3, 4, requires_grad=True)
    with gan_base.frozen(D):
        D(x).sum().backward()
        assert not any(p.requires_grad for p in D.parameters())
    assert D.weight.grad is None and x.grad is not None
    assert all(p.requires_grad for p in D.parameters())


def test_thread_setting(monkeypatch, tmp_path, tiny_mnist):
    before = torch.get_num_threads()
    try:
        monkeypatch.setenv("GANSTUDIO_THREADS", "1")
        assert set_cpu_threads() == 1
        assert set_cpu_threads(2) == 2  # an explicit count wins over the variable
        monkeypatch.setenv("GANSTUDIO_THREADS", "0")
        with pytest.raises(ValueError, match="at least 1"):
            set_cpu_threads()
        assert gtrain.main(["dcgan", "--data-root", str(tiny_mnist), "--runs-dir", str(tmp_path), "--threads", "0"]) == 2
    finally:
        torch.set_num_threads(before)


# --- precision ------------------------------------------------------------------------------------------


def _arithmetic_dtypes(*nets) -> tuple[list, list]:
    """Output dtypes of every convolution and linear layer that runs, and the hooks recording them."""
    seen: list[torch.dtype] = []
    layers = (torch.nn.Conv2d, torch.nn.ConvTranspose2d, torch.nn.Linear)
    hooks = [m.register_forward_hook(lambda m, i, out: seen.append(out.dtype)) for net in nets for m in net.modules()
             if isinstance(m, layers)]
    return seen, hooks


@pytest.mark.parametrize("family", ["mlp", "dcgan", "cgan", "acgan", "infogan", "wgan_gp", "sgan"])
def test_bf16_runs_the_arithmetic_in_bfloat16_and_keeps_float32_state(family, tiny_mnist):
    runs = {}
    for precision in ("fp32", "bf16"):
        trainer = _tiny_trainer(family, tiny_mnist)
        trainer.hp.update(precision=precision, n_critic=1)  # one critic step: D's losses below come before any update
        seen, hooks = _arithmetic_dtypes(trainer.G, trainer.D)
        torch.manual_seed(0)
        losses = trainer.update()
        for h in hooks:
            h.remove()
        runs[precision] = (trainer, losses, set(seen))
    assert runs["fp32"][2] == {torch.float32}
    assert runs["bf16"][2] == {torch.bfloat16}, "under bf16 every conv and matmul runs in bfloat16"
    fast, fast_losses, _ = runs["bf16"]
    plain, plain_losses, _ = runs["fp32"]
    assert all(math.isfinite(v) for v in fast_losses.values()) and fast_losses.keys() == plain_losses.keys()
    # D's losses on the first batch are computed before any weight moves: they differ by bf16 rounding only
    for key in ("d_real", "d_fake"):
        assert fast_losses[key] == pytest.approx(plain_losses[key], rel=0.02, abs=0.01), key
    # Adam's first step moves every weight by at most about lr, whatever the gradient's rounding
    max_move = max(group["lr"] for opt in fast.optimizers.values() for group in opt.param_groups)
    for net in ("G", "D"):
        for (name, a), b in zip(getattr(fast, net).state_dict().items(), getattr(plain, net).state_dict().values()):
            assert a.dtype == b.dtype, f"{net}.{name} must keep its dtype"
            if a.is_floating_point():
                torch.testing.assert_close(a, b, rtol=1e-3, atol=2.5 * max_move, msg=f"{net}.{name}")
    for opt in fast.optimizers.values():
        assert all(v.dtype == torch.float32 for state in opt.state.values() for v in state.values() if v.is_floating_point())


def test_precision_is_resolved_once_and_recorded(tmp_path, tiny_mnist, tiny_unpaired, monkeypatch):
    cpu = torch.device("cpu")
    monkeypatch.setattr(gan_base, "has_fast_bf16", lambda device: True)
    assert gan_base.resolve_precision("auto", cpu) == "bf16"
    monkeypatch.setattr(gan_base, "has_fast_bf16", lambda device: False)
    assert gan_base.resolve_precision("auto", cpu) == "fp32" and gan_base.resolve_precision("bf16", cpu) == "bf16"
    with pytest.raises(ValueError, match="precision must be one of"):
        gan_base.resolve_precision("fp16", cpu)
    # the CLI writes the resolved precision into the card, and a translator trains under bf16 too
    for name, flags in (("auto", []), ("bf16", ["--precision", "bf16"])):
        assert gtrain.main([*train_argv("cyclegan", tmp_path, name, tiny_mnist, tiny_unpaired, steps=2, every=2), *flags]) == 0
    assert read_card(tmp_path / "auto").training["hparams"]["precision"] == "fp32"
    card = read_card(tmp_path / "bf16")
    assert card.training["hparams"]["precision"] == "bf16" and card.training["status"] == "finished"
    with pytest.raises(SystemExit, match="precision must be one of"):
        gtrain.main([*train_argv("dcgan", tmp_path, "bad", tiny_mnist, tiny_unpaired, steps=2, every=2), "--hp", "precision=fp16"])
    # a resume resolves 'auto' the same way, and refuses a precision it does not know, leaving the run as it was
    assert gtrain.main(["--resume", str(tmp_path / "bf16"), "--steps", "3", "--hp", "precision=auto", "--no-progress"]) == 0
    assert read_card(tmp_path / "bf16").training["hparams"]["precision"] == "fp32"
    with pytest.raises(SystemExit, match="precision must be one of"):
        gtrain.main(["--resume", str(tmp_path / "bf16"), "--steps", "4", "--hp", "precision=fp16", "--no-progress"])
    assert read_card(tmp_path / "bf16").training["steps_done"] == 3


# --- InfoGAN variants ---------------------------------------------------------------------------------


def _param_ids(params) -> set[int]:
    return {id(p) for p in params}


@pytest.mark.parametrize("info_trains_d", [False, True])
def test_infogan_shared_layer_and_who_learns_the_information_term(info_trains_d, tiny_mnist):
    family = FAMILIES["infogan"]
    arch = {**family.default_arch(28, 1, 10), "ngf": 8, "ndf": 8, "d_hidden": 32}
    hp = {**family.default_hparams(), "batch_size": 16, "info_trains_d": info_trains_d}
    data = gtrain.load_training_data(family, "mnist", str(tiny_mnist), 28, None, None, 0)
    torch.manual_seed(0)
    G, D = family.build_generator(arch), family.build_discriminator(arch)
    trainer = family.make_trainer(G, D, arch, hp, data, torch.device("cpu"), 0)
    logit, cat_logits, cont = D(torch.randn(5, 1, 28, 28))
    assert logit.shape == (5,) and cat_logits.shape == (5, 10) and cont.shape == (5, 2)
    assert D.shared[1].in_features == D.body.feature_dim and D.q[0].in_features == 32
    q, g_group, d_group = _param_ids(D.q.parameters()), _param_ids(trainer.opt_g.param_groups[0]["params"]), \
        _param_ids(trainer.opt_d.param_groups[0]["params"])
    assert _param_ids(G.parameters()) <= g_group and _param_ids(D.shared.parameters()) <= d_group
    # the paper's code trains Q (and D's body) with D's optimizer on the information term; otherwise Q learns with G
    assert (q <= d_group and not q & g_group) if info_trains_d else (q <= g_group and not q & d_group)
    before = {k: v.clone() for k, v in D.state_dict().items()}
    losses = trainer.update()
    assert all(math.isfinite(v) for v in losses.values())
    assert not torch.equal(before["q.3.weight"], D.state_dict()["q.3.weight"]), "Q must learn"
    assert not torch.equal(before["shared.1.weight"], D.state_dict()["shared.1.weight"])


def test_infogan_category_jitter_reads_the_category_from_moved_images(tiny_mnist, monkeypatch):
    trainer = _tiny_trainer("infogan", tiny_mnist)
    trainer.hp["category_jitter"] = 1.0
    x = torch.zeros(8, 1, 28, 28, requires_grad=True)
    with torch.no_grad():
        x[:, :, 10:18, 12:16] = 1.0
    moved = trainer._jittered(x)
    assert moved.shape == x.shape and not torch.allclose(moved, x, atol=1e-3)
    assert moved.sum().item() == pytest.approx(x.sum().item(), rel=0.3), "a small move, not a different picture"
    moved.sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0, "G must learn through the jitter"
    trainer.hp["category_jitter"] = 0.0
    torch.testing.assert_close(trainer._jittered(x.detach()), x.detach(), atol=1e-5, rtol=0)
    trainer.hp["category_jitter"] = 1.0
    # in G's update, the category logits come from the jittered images and the continuous codes from the originals
    seen = []
    monkeypatch.setattr(trainer, "_jittered", lambda images: seen.append(images.shape) or images.flip(-1))
    losses = trainer.update()
    assert seen == [(16, 1, 28, 28)] and all(math.isfinite(v) for v in losses.values())


@pytest.mark.parametrize("family", ["dcgan", "cgan", "infogan"])
@pytest.mark.parametrize("instance_noise", [0.0, 0.5])
def test_instance_noise_reaches_every_image_d_sees(family, instance_noise, tiny_mnist):
    """Real and fake images lie in [-1, 1]; with instance noise every batch D judges (real, fake, and fake in
    G's update) must lie visibly outside it, and without it none may."""
    trainer = _tiny_trainer(family, tiny_mnist)
    trainer.hp["instance_noise"] = instance_noise
    seen = []
    judge = trainer.D.forward
    trainer.D.forward = lambda x, *rest: seen.append(x.detach().abs().max().item()) or judge(x, *rest)
    trainer.step()
    assert len(seen) >= 3
    assert all(m > 1.2 for m in seen) if instance_noise else all(m <= 1.0 + 1e-6 for m in seen)


@pytest.mark.parametrize("family", ["dcgan", "cgan"])
def test_r1_adds_the_squared_gradient_norm_at_the_real_images_to_d_loss(family, tiny_mnist):
    """hp r1 = gamma: D's update is the gradient of d_real + d_fake + gamma/2 * E|grad_x D(x_real)|^2, computed on
    the very batch D judged, and the penalty is logged; without it the update is the plain one."""
    with_r1, plain = _tiny_trainer(family, tiny_mnist), _tiny_trainer(family, tiny_mnist)
    with_r1.hp["r1"] = 10.0
    d_before = [q.detach().clone() for q in with_r1.D.parameters()]
    recorded = {}
    penalty_of = gan_base.r1_penalty
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(gan_base, "r1_penalty", lambda logits, x: recorded.setdefault("value", penalty_of(logits, x)))
        losses = with_r1.step()
    plain_losses = plain.step()
    assert set(losses) == set(plain_losses) | {"r1"} and losses["r1"] == pytest.approx(recorded["value"].item())
    assert losses["r1"] > 0 and all(math.isfinite(v) for v in losses.values())
    assert losses["d_real"] == pytest.approx(plain_losses["d_real"]), "same seed, same batch: only the update differs"
    moved = [not torch.equal(a, b.detach()) for a, b in zip(d_before, with_r1.D.parameters())]
    differs = [not torch.allclose(a, b) for a, b in zip(with_r1.D.parameters(), plain.D.parameters())]
    assert all(moved) and any(differs), "the penalty changes D's update"

    # the penalty itself: the mean over the batch of the squared input-gradient norm of D's summed logits
    x = torch.randn(4, 1, 28, 28, requires_grad=True)
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(784, 1))
    expected = (net[1].weight ** 2).sum()  # a linear D has the same gradient, its weight, at every input
    torch.testing.assert_close(gan_base.r1_penalty(net(x).flatten(), x), expected.detach().float())


def test_lazy_r1_penalises_every_r1_every_steps_at_that_many_times_the_weight(tiny_mnist, monkeypatch):
    """Karras et al.'s lazy regularisation: with r1_every 3 the penalty is computed at steps 0, 3, 6 only, weighted
    3 gamma, and the steps between log the latest value measured."""
    trainer = _tiny_trainer("dcgan", tiny_mnist)
    trainer.hp.update(r1=0.5, r1_every=3)
    at = []
    penalty_of = gan_base.r1_penalty
    monkeypatch.setattr(gan_base, "r1_penalty", lambda logits, x: at.append(trainer.steps_done) or penalty_of(logits, x))
    logged = [trainer.update()["r1"] for _ in range(7)]
    assert at == [0, 3, 6]
    assert logged[0] == logged[1] == logged[2] != logged[3] == logged[4] == logged[5] != logged[6]
    # the weight: D's loss on a penalised step is d_real + d_fake + 3 * 0.5 / 2 * penalty
    trainer.steps_done = 9
    captured = {}
    original_backward = torch.Tensor.backward

    def keep_loss(tensor, *args, **kwargs):
        captured.setdefault("d_loss", tensor.item())
        return original_backward(tensor, *args, **kwargs)

    monkeypatch.setattr(torch.Tensor, "backward", keep_loss)
    losses = trainer.step()
    assert captured["d_loss"] == pytest.approx(losses["d_total"] + 3 * 0.5 / 2 * losses["r1"], rel=1e-5)


def test_r1_added_on_resume_gets_a_column_left_blank_in_the_rows_before(tmp_path, tiny_mnist, tiny_unpaired):
    """A resume that begins logging a column rewrites the log with it, blank in the earlier rows (which keep their
    values), so every row stays under its header; the loss curves skip the blanks instead of going blank."""
    runs = tmp_path / "runs"
    assert gtrain.main(train_argv("dcgan", runs, "plain", tiny_mnist, tiny_unpaired, steps=2, every=2)) == 0
    header_before, rows_before = read_rows(runs / "plain")
    assert "r1" not in header_before
    assert gtrain.main(["--resume", str(runs / "plain"), "--steps", "4", "--hp", "r1=1", "--no-progress"]) == 0
    header, rows = read_rows(runs / "plain")
    assert header == header_before + ["r1"] and [int(r[0]) for r in rows] == [1, 2, 3, 4]
    assert [r[:-1] for r in rows[:2]] == rows_before and [r[-1] for r in rows[:2]] == ["", ""]
    assert all(len(r) == len(header) for r in rows) and all(float(r[-1]) > 0 for r in rows[2:])
    r1 = read_losses(runs / "plain")["r1"]
    assert math.isnan(r1[0]) and math.isnan(r1[1])
    smoothed = smooth(r1, 3)
    assert math.isnan(smoothed[1]) and smoothed[2:] == pytest.approx([r1[2], (r1[2] + r1[3]) / 2])
    assert_no_temporary_files(runs / "plain")
    assert gtrain.main(train_argv("dcgan", runs, "r1", tiny_mnist, tiny_unpaired, steps=2, every=2) + ["--hp", "r1=1"]) == 0
    assert gtrain.main(["--resume", str(runs / "r1"), "--steps", "4", "--hp", "r1=0", "--no-progress"]) == 0
    header, rows = read_rows(runs / "r1")
    assert "r1" in header and len(rows) == 4 and float(rows[-1][header.index("r1")]) == 0.0
    # families with a trainer of their own never read it: a run of theirs refuses it rather than ignore it
    with pytest.raises(SystemExit, match="r1"):
        gtrain.main(train_argv("wgan_gp", runs, "critic", tiny_mnist, tiny_unpaired, steps=2, every=2) + ["--hp", "r1=1"])
    assert not (runs / "critic").exists()


@pytest.mark.parametrize("family", ["dcgan", "wgan_gp", "cyclegan"])
def test_learning_rates_and_instance_noise_decay_linearly_to_zero_from_their_starts(family, tiny_mnist, tiny_unpaired):
    """total 10, decay_start 0.5: the rates hold for steps 0-4, then fall 1, 0.8, ... 0.2 of their base; the
    instance noise (noise_decay_start 0) falls from the first step. CycleGAN decays from half its run by default."""
    trainer = _cyclegan_trainer(tiny_unpaired) if family == "cyclegan" else _tiny_trainer(family, tiny_mnist)
    trainer.hp.update(total_steps=10, lr_d=3e-4, instance_noise=0.5, noise_decay_start=0.0)
    if family != "cyclegan":
        trainer.hp["decay_start"] = 0.5
    lrs, noise = [], []
    for _ in range(10):
        noise.append(trainer.instance_noise)
        trainer.update()
        lrs.append((trainer.opt_g.param_groups[0]["lr"], trainer.opt_d.param_groups[0]["lr"]))
    scale = [1.0] * 5 + [1.0, 0.8, 0.6, 0.4, 0.2]
    g_rates, d_rates = zip(*lrs)
    assert list(g_rates) == pytest.approx([trainer.hp["lr"] * f for f in scale])
    assert list(d_rates) == pytest.approx([3e-4 * f for f in scale])
    assert noise == pytest.approx([0.5 * (10 - i) / 10 for i in range(10)])
    assert trainer.steps_done == 10


def test_resume_with_a_schedule_continues_from_the_resumed_step_and_records_it(tmp_path, tiny_mnist, tiny_unpaired):
    """A run trained at a constant rate can be resumed with a decay for its remaining steps: the card then holds
    the new hparams and the command that set them, and the rate at each step follows from the step alone."""
    runs = tmp_path / "runs"
    assert gtrain.main(train_argv("dcgan", runs, "settle", tiny_mnist, tiny_unpaired, steps=4, every=4)) == 0
    argv = ["--resume", str(runs / "settle"), "--steps", "8", "--hp", "decay_start=0.5", "--no-progress"]
    run = gtrain.Run.resume(runs / "settle", extra_steps=8, hp_overrides={"decay_start": 0.5})
    assert run.trainer.steps_done == 4
    lr = run.trainer.hp["lr"]
    rates = []
    for _ in range(4):
        run.trainer.update()
        rates.append(run.trainer.opt_g.param_groups[0]["lr"])
    assert rates == pytest.approx([lr * f for f in (1.0, 0.75, 0.5, 0.25)])
    del run
    assert gtrain.main(argv) == 0
    training = read_card(runs / "settle").training
    assert training["hparams"]["decay_start"] == 0.5 and training["steps_done"] == 8
    assert training["resumed_by"] == [{"from_step": 4, "command": "python -m ganmodels.train " + " ".join(argv)}]


@pytest.mark.parametrize("bad", ["1.5", "-0.1", "true", "'x'"])
@pytest.mark.parametrize("key", ["decay_start", "noise_decay_start"])
def test_bad_decay_start_is_refused_when_starting_or_resuming(key, bad, tmp_path, tiny_mnist, tiny_unpaired):
    argv = train_argv("dcgan", tmp_path, "bad-decay", tiny_mnist, tiny_unpaired, steps=2, every=2)
    with pytest.raises(SystemExit, match=rf"--hp {key} must be a number with 0 <= x <= 1, not "):
        gtrain.main([*argv, "--hp", f"{key}={bad}"])
    assert not (tmp_path / "bad-decay").exists(), "a refused start leaves no run behind"
    assert gtrain.main(argv) == 0
    before = (tmp_path / "bad-decay" / "card.json").read_text()
    with pytest.raises(SystemExit, match=rf"--hp {key} must be a number with 0 <= x <= 1, not "):
        gtrain.main(["--resume", str(tmp_path / "bad-decay"), "--steps", "4", "--hp", f"{key}={bad}"])
    assert (tmp_path / "bad-decay" / "card.json").read_text() == before, "a refused resume leaves the run as it was"


@pytest.mark.parametrize("setting, message", [("r1=-1", "--hp r1 must be a number >= 0"), ("r1='x'", "--hp r1 must be a number >= 0"),
                                              ("r1_every=0", "--hp r1_every must be a whole number >= 1"),
                                              ("r1_every=2.5", "--hp r1_every must be a whole number >= 1")])
def test_bad_r1_settings_are_refused_when_starting_or_resuming(setting, message, tmp_path, tiny_mnist, tiny_unpaired):
    argv = train_argv("dcgan", tmp_path, "bad-r1", tiny_mnist, tiny_unpaired, steps=2, every=2)
    with pytest.raises(SystemExit, match=message):
        gtrain.main([*argv, "--hp", setting])
    assert not (tmp_path / "bad-r1").exists(), "a refused start leaves no run behind"
    assert gtrain.main([*argv, "--hp", "r1=0.1"]) == 0
    before = (tmp_path / "bad-r1" / "card.json").read_text()
    with pytest.raises(SystemExit, match=message):
        gtrain.main(["--resume", str(tmp_path / "bad-r1"), "--steps", "4", "--hp", setting])
    assert (tmp_path / "bad-r1" / "card.json").read_text() == before, "a refused resume leaves the run as it was"


# --- CycleGAN scales and starting from a checkpoint ---------------------------------------------------


def _cyclegan_trainer(tiny_unpaired: Path, scale_range=None):
    family = FAMILIES["cyclegan"]
    arch = {**family.default_arch(32, 3, 0), "ngf": 8, "ndf": 8, "n_blocks": 2}
    hp = {**family.default_hparams(), "pool_size": 3, "total_steps": 10, "scale_range": scale_range}
    data = gtrain.load_training_data(family, "image-folder", str(tiny_unpaired), 32, None, None, 3, scale_range)
    return family.make_trainer(family.build_generator(arch), family.build_discriminator(arch), arch, hp, data,
                               torch.device("cpu"), 3)


def test_cyclegan_scale_range_trains_on_crops_of_photos_at_several_sizes(tiny_unpaired):
    """A left-to-right ramp: a 32 px crop of the ramp resized to side S spans 32/S of its range, so the spans
    tell which sides training drew."""
    plain = _cyclegan_trainer(tiny_unpaired)
    assert plain.images_a.shape[-1] == 36, "without a range: upstream's load size, 1.125x the crop"
    trainer = _cyclegan_trainer(tiny_unpaired, [32, 64])
    assert trainer.images_a.shape[-1] == 64, "photos are kept at the largest side of the range"
    ramp = torch.linspace(0, 255, 64).round().to(torch.uint8).expand(1, 3, 64, 64).contiguous()
    spans = []
    for _ in range(40):
        crop = trainer._crop(ramp)
        assert crop.shape == (1, 3, 32, 32) and crop.dtype == torch.float32
        assert crop.min() >= -1 - 1e-5 and crop.max() <= 1 + 1e-5
        spans.append(round((crop.amax() - crop.amin()).item() / 2, 2))
    assert min(spans) < 0.6 and max(spans) > 0.9, f"sides between 32 and 64 px were drawn: spans {sorted(set(spans))}"
    assert all(0.45 <= s <= 1.0 for s in spans)
    plain_crops = [plain._crop(ramp[..., :36, :36]) for _ in range(10)]
    plain_spans = {round((c.amax() - c.amin()).item(), 3) for c in plain_crops}
    assert len(plain_spans) == 1, "without a range every crop has the same scale"


def test_cyclegan_grids_show_whole_test_photos_whatever_the_scale_range(tiny_unpaired):
    family = FAMILIES["cyclegan"]
    data = gtrain.load_training_data(family, "image-folder", str(tiny_unpaired), 32, None, None, 3, [32, 64])
    assert data["a"].shape[-1] == 64 and data["test_a"].shape[-1] == 36


def test_cyclegan_discriminator_warmup_leaves_the_generators_as_they_are(tiny_unpaired):
    trainer = _cyclegan_trainer(tiny_unpaired)
    trainer.hp["d_warmup_steps"] = 2
    g_before = {k: v.clone() for k, v in trainer.G.state_dict().items()}
    d_before = {k: v.clone() for k, v in trainer.D.state_dict().items()}

    def changed(net, before):
        return [k for k, v in net.state_dict().items() if not torch.equal(v, before[k])]

    warm = [trainer.update() for _ in range(2)]
    assert changed(trainer.G, g_before) == [], "warm-up steps train the discriminators only"
    assert changed(trainer.D, d_before), "the discriminators learn during the warm-up"
    trained = trainer.update()
    assert changed(trainer.G, g_before), "after the warm-up the generators train"
    assert all(set(w) == set(trained) for w in warm), "warm-up rows log the same losses, so losses.csv keeps one header"
    assert all(w["g"] > 0 and w["cycle"] > 0 for w in warm)


def test_bad_scale_range_is_refused(tmp_path, tiny_mnist, tiny_unpaired):
    argv = train_argv("cyclegan", tmp_path, "bad-range", tiny_mnist, tiny_unpaired, steps=2, every=2)
    for bad in ("[16,24]", "[40]", "48"):
        with pytest.raises(SystemExit, match="scale_range must be"):
            gtrain.main([*argv, "--hp", f"scale_range={bad}"])
    for bad in ("abc", "-1", "2.5"):
        with pytest.raises(SystemExit, match="d_warmup_steps must be"):
            gtrain.main([*argv, "--hp", f"d_warmup_steps={bad}"])


def test_init_from_starts_a_new_run_from_a_checkpoint_generator(trained, tmp_path, tiny_mnist, tiny_unpaired):
    source_folder = trained("dcgan")
    source = load_model(source_folder, device="cpu")
    argv = [a for a in train_argv("dcgan", tmp_path, "finetune", tiny_mnist, tiny_unpaired, steps=2, every=2)
            if a not in TINY_ARGS["dcgan"]]  # the architecture comes from the checkpoint
    run = gtrain.Run.create(gtrain.TrainConfig(family="dcgan", data_root=str(tiny_mnist), steps=2, runs_dir=str(tmp_path),
                                               name="direct", max_images=200, init_from=str(source_folder)))
    for key, value in source.generator.state_dict().items():
        assert torch.equal(run.trainer.G.state_dict()[key].cpu(), value), key
    assert run.card.arch["ngf"] == 8 and run.card.training["init_from"]["id"] == "dcgan"
    assert run.card.training["init_from"]["steps_done"] == STEPS

    assert gtrain.main([*argv, "--init-from", str(source_folder)]) == 0
    card = read_card(tmp_path / "finetune")
    assert card.training["steps_done"] == 2 and card.training["init_from"]["path"] == str(source_folder)
    assert "--init-from" in card.training["command"]
    # resuming the fine-tuned run does not go back to the source
    assert gtrain.main(["--resume", str(tmp_path / "finetune"), "--steps", "4", "--no-progress"]) == 0
    assert read_card(tmp_path / "finetune").training["steps_done"] == 4


def test_init_from_trains_at_an_explicit_image_size(trained, tmp_path, tiny_mnist, tiny_unpaired):
    """A translator fine-tuned at a larger size (CycleGAN: 128 -> 256 px) must crop at that size, not the source's."""
    argv = train_argv("cyclegan", tmp_path, "larger", tiny_mnist, tiny_unpaired, steps=1, every=1)
    argv[argv.index("--image-size") + 1] = "48"
    assert gtrain.main([*argv, "--init-from", str(trained("cyclegan"))]) == 0
    assert read_card(trained("cyclegan")).arch["image_size"] == 32
    assert read_card(tmp_path / "larger").arch["image_size"] == 48
    run = gtrain.Run.resume(tmp_path / "larger")
    assert run.trainer._crop(run.trainer.images_a[:1]).shape[-2:] == (48, 48)
    with pytest.raises(SystemExit, match="--image-size, not --arch image_size"):
        gtrain.main([*train_argv("cyclegan", tmp_path, "by-arch", tiny_mnist, tiny_unpaired), "--arch", "image_size=48"])
    assert not (tmp_path / "by-arch").exists()


def test_cyclegan_scale_distillation_teaches_whole_photos_the_starting_generators_translation(trained, tmp_path,
                                                                                             tiny_mnist, tiny_unpaired):
    """--hp scale_distill: no adversarial updates; whole photos at sides within scale_range are pulled towards what the
    --init-from generators make of them at the training size, and the run keeps those teachers across a resume."""
    source = load_model(trained("cyclegan"), device="cpu")
    argv = [*train_argv("cyclegan", tmp_path, "distil", tiny_mnist, tiny_unpaired, steps=2, every=2),
            "--init-from", str(trained("cyclegan")), "--hp", "scale_range=[32,48]", "--hp", "scale_distill=true"]
    assert gtrain.main(argv) == 0
    with open(tmp_path / "distil" / run_files.LOSSES_NAME) as fh:
        header = fh.readline().strip().split(",")
    assert {"g", "distill_low", "distill_detail"} <= set(header)
    assert not {"d_real", "gan_a2b", "cycle"} & set(header), "distillation trains no discriminator and has no other loss"

    run = gtrain.Run.resume(tmp_path / "distil", extra_steps=4)
    teacher, student = run.trainer.teacher.state_dict(), run.trainer.G.state_dict()
    for key, value in source.generator.state_dict().items():
        assert torch.equal(teacher[key].cpu(), value), f"the resumed teacher is the starting generator: {key}"
    assert any(not torch.equal(student[k], v) for k, v in teacher.items()), "the generators learnt"
    sides = {run.trainer._whole(run.trainer.images_a[:1]).shape[-1] for _ in range(30)}
    assert len(sides) > 1 and all(s % 4 == 0 and 32 <= s <= 48 for s in sides), f"whole photos at sides {sides}"
    run.train(progress=False)
    assert read_card(tmp_path / "distil").training["steps_done"] == 4

    at_training_size = gtrain.Run.create(gtrain.TrainConfig(
        family="cyclegan", dataset="image-folder", data_root=str(tiny_unpaired), steps=1, runs_dir=str(tmp_path),
        name="same-size", max_images=5, init_from=str(trained("cyclegan")), hp_overrides={"scale_range": [32, 32], "scale_distill": True}))
    losses = at_training_size.trainer.update()
    assert losses["distill_low"] < 1e-6 and losses["distill_detail"] == 0, "at the training size a student starts where its teacher is"


@pytest.mark.parametrize("settings, message", [(["--hp", "scale_distill=true"], "give --init-from"),
                                               (["--hp", "scale_distill=true", "--init-from", None], "scale_distill needs --hp scale_range"),
                                               (["--hp", "scale_distill=10", "--hp", "scale_range=[32,48]", "--init-from", None],
                                                "scale_distill must be true or false")])
def test_bad_scale_distillation_settings_are_refused(settings, message, trained, tmp_path, tiny_mnist, tiny_unpaired):
    settings = [s if s is not None else str(trained("cyclegan")) for s in settings]
    with pytest.raises(SystemExit, match=message):
        gtrain.main([*train_argv("cyclegan", tmp_path, "bad-distil", tiny_mnist, tiny_unpaired), *settings])
    assert not (tmp_path / "bad-distil" / "card.json").exists(), "a refused start leaves no run behind"


def test_init_from_errors_are_messages(trained, tmp_path, tiny_mnist, tiny_unpaired):
    argv = train_argv("dcgan", tmp_path, "wrong", tiny_mnist, tiny_unpaired, steps=2, every=2)
    with pytest.raises(SystemExit, match="holds a cgan generator, not dcgan"):
        gtrain.main([*argv, "--init-from", str(trained("cgan"))])
    with pytest.raises(SystemExit, match="--init-from: checkpoint not found"):
        gtrain.main([*argv, "--init-from", str(tmp_path / "nowhere")])
    with pytest.raises(SystemExit, match="shape"):
        gtrain.main([*argv, "--arch", "ngf=16", "--init-from", str(trained("dcgan"))])
    assert not (tmp_path / "wrong" / "card.json").exists(), "a refused start leaves no run behind"


def test_ema_is_the_moving_average_of_g_weights_and_norm_statistics(tiny_mnist):
    trainer = _tiny_trainer("dcgan", tiny_mnist)
    assert trainer.G_ema is None and trainer.output_generator is trainer.G, "no average unless asked for"
    decay = 0.9
    trainer.hp["ema"] = decay
    trainer.G_ema = gan_base.averaged_generator(trainer.G, decay)
    trainer.update()
    first = {k: v.clone() for k, v in trainer.G.state_dict().items()}
    assert all(torch.equal(trainer.output_generator.state_dict()[k], v) for k, v in first.items()), "the first update copies G"
    trainer.update()
    second = trainer.G.state_dict()
    averaged = trainer.output_generator.state_dict()
    checked = 0
    for key, value in second.items():
        if value.is_floating_point():  # weights and BatchNorm running statistics alike
            torch.testing.assert_close(averaged[key], decay * first[key] + (1 - decay) * value)
            checked += "running_mean" in key
    assert checked >= 2, "BatchNorm statistics are averaged with the weights"


def test_ema_run_ships_the_average_and_resumes_exactly(tmp_path, tiny_mnist, tiny_unpaired, monkeypatch):
    argv = lambda runs, name: [*train_argv("dcgan", runs, name, tiny_mnist, tiny_unpaired), "--hp", "ema=0.5"]
    assert gtrain.main(argv(tmp_path / "a", "ema")) == 0
    folder = tmp_path / "a" / "ema"
    card = read_card(folder)
    assert card.training["hparams"]["ema"] == 0.5
    run = gtrain.Run.resume(folder)
    shipped = load_file(str(folder / card.weights))
    online, average = run.trainer.G.state_dict(), run.trainer.G_ema.module.state_dict()
    assert all(torch.equal(shipped[k], average[k]) for k in shipped), "weights and snapshots are the average"
    assert not all(torch.equal(shipped[k], online[k]) for k in shipped)
    assert torch.equal(load_file(str(folder / card.snapshots[-1]["weights"]))["main.0.weight"], average["main.0.weight"])
    del run

    with monkeypatch.context() as mp:
        kill_at(mp, KILL_AT)
        with pytest.raises(SimulatedKill):
            gtrain.main(argv(tmp_path / "b", "ema"))
    assert gtrain.main(["--resume", str(tmp_path / "b" / "ema"), "--no-progress"]) == 0
    resumed = load_file(str(tmp_path / "b" / "ema" / card.weights))
    assert all(torch.equal(resumed[k], shipped[k]) for k in shipped), "the average resumes with the run"


def test_spectral_norm_run_resumes_exactly_and_a_bad_norm_is_refused(tmp_path, tiny_mnist, tiny_unpaired, monkeypatch):
    """SN-DCGAN's power-iteration vectors are D's state: a killed run resumes to the uninterrupted run's losses."""
    argv = lambda runs, name: [*train_argv("dcgan", runs, name, tiny_mnist, tiny_unpaired), "--arch", "d_norm=spectral"]
    assert gtrain.main(argv(tmp_path / "a", "sn")) == 0
    assert read_card(tmp_path / "a" / "sn").arch["d_norm"] == "spectral"
    with monkeypatch.context() as mp:
        kill_at(mp, KILL_AT)
        with pytest.raises(SimulatedKill):
            gtrain.main(argv(tmp_path / "b", "sn"))
    assert gtrain.main(["--resume", str(tmp_path / "b" / "sn"), "--no-progress"]) == 0
    assert read_rows(tmp_path / "b" / "sn") == read_rows(tmp_path / "a" / "sn")
    with pytest.raises(SystemExit, match="--arch d_norm must be one of batch, layer, instance, spectral, none, not spectal"):
        gtrain.main([*train_argv("dcgan", tmp_path / "c", "bad", tiny_mnist, tiny_unpaired), "--arch", "d_norm=spectal"])
    assert not (tmp_path / "c" / "bad").exists(), "a refused start leaves no run behind"


@pytest.mark.parametrize("bad", ["1.5", "0", "true", "'x'"])
def test_bad_ema_is_refused(bad, tmp_path, tiny_mnist, tiny_unpaired):
    argv = train_argv("dcgan", tmp_path, "bad-ema", tiny_mnist, tiny_unpaired, steps=2, every=2)
    if bad == "0":  # 0 means no average, like leaving it out
        assert gtrain.main([*argv, "--hp", "ema=0"]) == 0
        return
    with pytest.raises(SystemExit, match=r"--hp ema must be a number with 0 < x < 1 \(or 0\), not "):
        gtrain.main([*argv, "--hp", f"ema={bad}"])
    assert not (tmp_path / "bad-ema").exists(), "a refused start leaves no run behind"


def test_misspelt_arch_and_hparam_keys_are_refused_before_training(tmp_path, tiny_mnist, tiny_unpaired, monkeypatch):
    """`--arch extra_layer=2` or `--hp instance_nosie=0.3` would otherwise train the defaults and say nothing."""
    runs = tmp_path / "runs"
    with monkeypatch.context() as patched:  # refused before any data loads
        patched.setattr(gtrain, "load_training_data", lambda *a, **k: pytest.fail("data loaded for a refused run"))
        with pytest.raises(SystemExit) as refused:
            gtrain.main([*train_argv("dcgan", runs, "typo", tiny_mnist, tiny_unpaired), "--arch", "extra_layer=2",
                         "--hp", "instance_nosie=0.3"])
    message = str(refused.value)
    assert "--arch extra_layer" in message and "--hp instance_nosie" in message
    assert "extra_layers" in message and "instance_noise" in message, "the message lists the keys that exist"
    assert not (runs / "typo").exists()
    # the same keys spelt right train, and each family's own options are accepted for it alone
    assert gtrain.main([*train_argv("dcgan", runs, "ok", tiny_mnist, tiny_unpaired, steps=1, every=1),
                        "--arch", "extra_layers=1", "--arch", "full_res_layers=1", "--hp", "instance_noise=0.3"]) == 0
    with pytest.raises(SystemExit, match="--hp scale_range"):
        gtrain.main([*train_argv("dcgan", runs, "other", tiny_mnist, tiny_unpaired), "--hp", "scale_range=[28,40]"])
    # a resume refuses a misspelt hparam too, leaving the run as it was
    before = read_card(runs / "ok").training
    with pytest.raises(SystemExit, match="--hp decay_strat"):
        gtrain.main(["--resume", str(runs / "ok"), "--steps", "2", "--hp", "decay_strat=0.5", "--no-progress"])
    assert read_card(runs / "ok").training == before


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_every_key_a_family_reads_counts_as_known(name):
    """The refusal above must never refuse a real option: every arch/hp key the family's nets and trainer read is
    one of its known keys (a key read with .get() but not declared in arch_options/hparam_options fails here)."""
    family = FAMILIES[name]
    classes = {c for c in (*type(family).__mro__, *family.trainer_cls.__mro__) if c.__module__.startswith("ganmodels.")}
    arch_read, hp_read = set(), set()
    for module in {sys.modules[c.__module__] for c in classes}:
        # the module's functions and this family's own classes: another family's trainer in the same module (the
        # standard trainer in base.py beside the generic one) may read keys this family does not have
        module_source = inspect.getsource(module)
        source = "\n".join(ast.get_source_segment(module_source, node) for node in ast.parse(module_source).body
                           if not isinstance(node, ast.ClassDef) or getattr(module, node.name) in classes)
        if module is not gan_base:  # base.py's generic helpers read keys of other families' arches
            arch_read |= set(re.findall(r'\barch(?:\.get\(|\[)"(\w+)"', source))
        hp_read |= set(re.findall(r'\bhp(?:\.get\(|\[)"(\w+)"', source))
    known_arch, known_hp = family.known_keys(28, 1)
    assert arch_read and hp_read
    assert arch_read <= known_arch, arch_read - known_arch
    assert hp_read <= known_hp, hp_read - known_hp
