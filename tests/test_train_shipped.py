"""scripts/train_shipped.sh: the order of trainings it asks for, and what a rerun does after an interruption.

The script is run for real by bash, with a stand-in `python` first on PATH that logs each call and leaves the card a
run would leave (steps done, total, status), so every branch is checked in milliseconds instead of hours.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

STAND_IN = '''#!{python}
import json, os, sys
from pathlib import Path
args = sys.argv[1:]
with open(os.environ["CALLS"], "a") as fh:
    fh.write(" ".join(args) + "\\n")
if args[:2] != ["-m", "ganmodels.train"]:
    sys.exit(0)
def opt(flag):
    return args[args.index(flag) + 1] if flag in args else None
if "--resume" in args:
    folder = Path(opt("--resume"))
    card = json.loads((folder / "card.json").read_text())
    if opt("--steps"):
        card["training"]["total_steps"] = int(opt("--steps"))
else:
    folder = Path("runs") / opt("--name")
    folder.mkdir(parents=True, exist_ok=True)
    card = {{"training": {{"total_steps": int(opt("--steps"))}}}}
t = card["training"]
interrupt = os.environ.get("INTERRUPT_AT")
if interrupt and t.get("steps_done", 0) < int(interrupt) < t["total_steps"]:
    t.update(steps_done=int(interrupt), status="paused")  # SIGTERM: paused, and the exit status says so
    code = 143
else:
    t.update(steps_done=t["total_steps"], status="finished")
    code = 0
(folder / "state.pt").write_text("")
(folder / "card.json").write_text(json.dumps(card))
sys.exit(code)
'''


@pytest.fixture
def sandbox(tmp_path):
    """A repo with the scripts and (so none is trained) the three reference classifiers' cards."""
    shutil.copytree(REPO / "scripts", tmp_path / "scripts")
    for dataset in ("mnist", "fashion-mnist", "horse2zebra"):
        folder = tmp_path / "checkpoints" / "reference" / dataset
        folder.mkdir(parents=True)
        (folder / "card.json").write_text("{}")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    stand_in = bin_dir / "python"
    stand_in.write_text(STAND_IN.format(python=sys.executable))
    stand_in.chmod(0o755)
    return tmp_path


def run_script(sandbox: Path, only: str, interrupt_at: int | None = None) -> list[str]:
    calls = sandbox / "calls.log"
    calls.write_text("")
    env = {**os.environ, "PATH": f"{sandbox / 'bin'}:{os.environ['PATH']}", "CALLS": str(calls)}
    env.pop("INTERRUPT_AT", None)
    if interrupt_at is not None:
        env["INTERRUPT_AT"] = str(interrupt_at)
    done = subprocess.run(["bash", "scripts/train_shipped.sh", only], cwd=sandbox, env=env, capture_output=True, text=True)
    assert done.returncode == (0 if interrupt_at is None else 143), done.stderr
    return [line for line in calls.read_text().splitlines() if line]


def card(sandbox: Path, run: str) -> dict:
    return json.loads((sandbox / "runs" / run / "card.json").read_text())["training"]


LENGTHEN_FASHION = ["-m ganmodels.train --resume runs/dcgan-fashion --steps 48000 --hp decay_start=0.0 --no-progress",
                    "-m ganmodels.train --resume runs/dcgan-fashion --steps 72000 --hp decay_start=0.0 --no-progress",
                    "-m ganmodels.train --resume runs/dcgan-fashion --steps 96000 --hp decay_start=0.0 --no-progress"]


def test_dcgan_fashion_is_trained_then_lengthened_three_times_and_a_rerun_does_nothing(sandbox):
    calls = run_script(sandbox, "dcgan-fashion")
    assert len(calls) == 4
    assert calls[0].startswith("-m ganmodels.train dcgan --dataset fashion-mnist") and "--steps 23870" in calls[0]
    assert "--arch ngf=128" in calls[0] and "--hp lr_d=0.0004" in calls[0], "the recipe is the shipped model's"
    assert calls[1:] == LENGTHEN_FASHION
    assert card(sandbox, "dcgan-fashion") == {"total_steps": 96000, "steps_done": 96000, "status": "finished"}
    assert run_script(sandbox, "dcgan-fashion") == []


@pytest.mark.parametrize("first_stop", [12000, 23870, 30000, 48000, 60000, 72000, 80287])
def test_reruns_after_an_interruption_finish_the_run_as_planned(sandbox, first_stop):
    """Stopped by a signal during the first run (12000), after it finished and before the first lengthening's first
    step (23870), during it (30000), between lengthenings (48000, 72000) or during the second (60000) or the third
    (80287): the script stops with the signal's status, and a rerun goes on from where the run stands to its end and
    then whatever lengthening is left, never back to a shorter plan."""
    finished_before = first_stop if first_stop in (23870, 48000, 72000) else None
    run_script(sandbox, "dcgan-fashion", interrupt_at=None if finished_before else first_stop)
    if finished_before:  # that part finished, and the next lengthening was stopped before its first step
        (sandbox / "runs" / "dcgan-fashion" / "card.json").write_text(json.dumps(
            {"training": {"total_steps": finished_before, "steps_done": finished_before, "status": "finished"}}))
    assert card(sandbox, "dcgan-fashion")["steps_done"] == first_stop
    calls = run_script(sandbox, "dcgan-fashion")
    resume = "-m ganmodels.train --resume runs/dcgan-fashion --no-progress"
    expected = {12000: [resume, *LENGTHEN_FASHION], 23870: LENGTHEN_FASHION, 30000: [resume, *LENGTHEN_FASHION[1:]],
                48000: LENGTHEN_FASHION[1:], 60000: [resume, LENGTHEN_FASHION[2]], 72000: LENGTHEN_FASHION[2:],
                80287: [resume]}[first_stop]
    assert calls == expected
    assert card(sandbox, "dcgan-fashion") == {"total_steps": 96000, "steps_done": 96000, "status": "finished"}


def test_wgan_gp_gets_its_second_learning_rate_cycle(sandbox):
    calls = run_script(sandbox, "wgan-gp-mnist")
    assert calls[0].startswith("-m ganmodels.train wgan_gp --dataset mnist") and "--steps 24000" in calls[0]
    assert calls[1:] == ["-m ganmodels.train --resume runs/wgan-gp-mnist --steps 44000 --hp lr=2e-4 --hp lr_d=2e-4 "
                         "--hp decay_start=0.54 --no-progress"]
    assert card(sandbox, "wgan-gp-mnist")["steps_done"] == 44000
    assert run_script(sandbox, "wgan-gp-mnist") == []
