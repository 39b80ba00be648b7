"""Every benchmark in bench/ runs end to end in --smoke mode and prints its figures (timings are never asserted)."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
BENCH = REPO / "bench"
SCRIPTS = sorted(p for p in BENCH.glob("*.py") if not p.name.startswith("_"))
BROWSER_SCRIPTS = {"slider_latency.py", "concurrent_sessions.py", "cold_start.py", "demo_latency.py"}


def test_every_issue_benchmark_exists():
    names = {p.name for p in SCRIPTS}
    for expected in ("generator_throughput.py", "train_throughput.py", "cyclegan_latency.py", "slider_latency.py",
                     "concurrent_sessions.py", "cold_start.py"):
        assert expected in names, f"bench/{expected} is missing"


@pytest.mark.parametrize("script", SCRIPTS, ids=[p.stem for p in SCRIPTS])
def test_smoke_run_prints_figures(script: Path):
    if script.name in BROWSER_SCRIPTS and not (Path("/usr/bin/chromium").exists() or shutil.which("chromium")):
        pytest.skip("chromium is not installed (scripts/test.sh installs it)")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "GANSTUDIO_DEVICE": "cpu", "PYTHONUNBUFFERED": "1"}
    proc = subprocess.run([sys.executable, "-m", f"bench.{script.stem}", "--smoke"], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=600)
    tail = (proc.stdout[-3000:] + "\n--- stderr ---\n" + proc.stderr[-3000:])
    assert proc.returncode == 0, f"{script.name} --smoke exited {proc.returncode}\n{tail}"
    figures = [line for line in proc.stdout.splitlines() if line.startswith("FIGURE ")]
    assert figures, f"{script.name} --smoke printed no FIGURE lines\n{tail}"
    assert all(":" in f and f.split(":", 1)[1].strip() for f in figures), f"malformed figure lines in {script.name}"
