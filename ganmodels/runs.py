"""Training runs as the progress page sees them: listing, loss logs, status, background launches."""
from __future__ import annotations

import csv
import json
import math
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from .cards import CARD_NAME, CardError, ModelCard, read_card

REPO_ROOT = Path(__file__).resolve().parent.parent
STALE_SECONDS = 120


@dataclass
class RunInfo:
    folder: Path
    card: ModelCard
    status: str  # running | finished | stopped | shipped

    @property
    def label(self) -> str:
        return f"{self.card.id} ({self.status})"


def pid_alive(pid) -> bool:
    """True while the process lives; a zombie (exited, not yet reaped) counts as ended."""
    try:
        pid = int(pid)
    except (TypeError, ValueError):
        return False
    if pid <= 0:  # os.kill(0 or -1, ...) would address a whole group of processes
        return False
    try:
        os.kill(pid, 0)
    except (OSError, ValueError, OverflowError):
        return False
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def run_status(folder: Path, card: ModelCard | None = None) -> str:
    """'running' only while the writing process lives; a crashed or killed run reads 'stopped'."""
    status_file = folder / "status.json"
    card = card or read_card(folder)
    if not status_file.is_file():
        return "shipped" if card.training.get("status") != "running" else "stopped"
    try:
        status = json.loads(status_file.read_text())
    except (OSError, json.JSONDecodeError):
        return "running"  # being rewritten right now
    if status.get("status") == "running":
        fresh = time.time() - float(status.get("updated", 0)) < STALE_SECONDS
        return "running" if pid_alive(status.get("pid")) and fresh else "stopped"
    return status.get("status", "stopped")


def list_runs(*roots: str | os.PathLike) -> list[RunInfo]:
    """Every folder with a readable card under the given roots: running first, then newest."""
    found = []
    for root in roots:
        root = Path(root)
        if not root.is_dir():
            continue
        for folder in sorted(root.iterdir()):
            if not (folder / CARD_NAME).is_file():
                continue
            try:
                card = read_card(folder)
            except CardError:
                continue
            found.append(RunInfo(folder, card, run_status(folder, card)))
    return sorted(found, key=lambda r: (r.status != "running", -(r.folder / CARD_NAME).stat().st_mtime))


def read_losses(folder: Path, every: int = 1) -> dict[str, list[float]]:
    """losses.csv as columns; `every` thins long logs for plotting (the last row always kept)."""
    path = Path(folder) / "losses.csv"
    if not path.is_file():
        return {}
    with open(path, newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if r.get("step")]
    if every > 1 and rows:
        rows = rows[::every] + ([rows[-1]] if (len(rows) - 1) % every else [])
    columns: dict[str, list[float]] = {}
    for row in rows:
        for key, value in row.items():
            try:
                columns.setdefault(key, []).append(float(value))
            except (TypeError, ValueError):
                columns.setdefault(key, []).append(float("nan"))
    return columns


def smooth(values: list[float], window: int) -> list[float]:
    """Trailing moving average, so noisy per-step GAN losses show their trend. Blank (NaN) entries, the rows logged
    before a resumed run began a column, are left out of the averages rather than blanking the rest of the curve."""
    if window <= 1:
        return list(values)
    out, total, count = [], 0.0, 0
    for i, v in enumerate(values):
        if not math.isnan(v):
            total, count = total + v, count + 1
        if i >= window and not math.isnan(gone := values[i - window]):
            total, count = total - gone, count - 1
        out.append(total / count if count else math.nan)
    return out


def start_training(family: str, dataset: str, steps: int, runs_dir: str | os.PathLike, name: str,
                   data_root: str | None = None, extra: list[str] | None = None) -> subprocess.Popen:
    """Launch `python -m ganmodels.train` detached, so it outlives the browser session that started it."""
    runs_dir = Path(runs_dir)
    runs_dir.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "ganmodels.train", family, "--dataset", dataset, "--steps", str(steps),
           "--name", name, "--runs-dir", str(runs_dir), "--no-progress"]
    if data_root:
        cmd += ["--data-root", str(data_root)]
    cmd += extra or []
    # Its own session, so a Ctrl-C at the server's terminal does not reach it twice (a second signal stops a run
    # without saving); PARENT_PID_ENV makes it pause when this process is gone (stop_with_parent).
    env = {**os.environ, PARENT_PID_ENV: str(os.getpid())}
    with open(runs_dir / f"{name}.log", "ab") as log:
        return subprocess.Popen(cmd, cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, env=env)


PARENT_PID_ENV = "GANSTUDIO_PARENT_PID"


def stop_with_parent(request_stop, every: float = 2.0) -> None:
    """In a run the app started: call `request_stop(SIGTERM)` once the app's server process is gone (it was killed,
    or it exited without stopping its runs), so no run outlives the server that started it."""
    import signal
    import threading

    try:
        parent = int(os.environ.get(PARENT_PID_ENV, ""))
    except ValueError:
        return

    def watch():
        while os.getppid() == parent and pid_alive(parent):
            time.sleep(every)
        request_stop(signal.SIGTERM)

    threading.Thread(target=watch, name="stop-with-parent", daemon=True).start()
