"""How a training run reads on the progress page, kept free of Streamlit: its log's tail, the progress line with
the time left, the commands that trained it, and its snapshots as table rows."""
from __future__ import annotations

import math
import os
import time
from collections import deque
from pathlib import Path

from ganmodels.cards import ModelCard


def run_log_path(folder: str | os.PathLike) -> Path:
    """runs/<name>.log, where ui.run_launches.start_training sends the process output."""
    folder = Path(folder)
    return folder.parent / f"{folder.name}.log"


def log_tail(path: str | os.PathLike, lines: int = 40, max_bytes: int = 65536) -> str | None:
    """The last lines of a log (read from its end, so a huge log costs nothing), or None when there is none."""
    path = Path(path)
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - max_bytes))
            raw = fh.read()
    except OSError:
        return None
    text = raw.decode("utf-8", errors="replace").replace("\r", "\n")
    kept = deque((ln for ln in text.split("\n") if ln.strip()), maxlen=lines)
    return "\n".join(kept)


def progress(card: ModelCard, status: dict) -> tuple[float, str]:
    """Share done and a line such as 'step 1,200 of 3,000 · 410 images/s · about 4 min left'."""
    step = int(status.get("step") or card.training.get("steps_done") or 0)
    if status.get("planning") or card.training.get("planned") is False:
        return _planning_progress(card, status, step)
    total = int(status.get("total_steps") or card.training.get("total_steps") or 0)
    if total <= 0:
        return 0.0, f"step {step:,}"
    parts = [f"step {step:,} of {total:,}"]
    rate = status.get("images_per_s")
    hp = card.training.get("hparams", {})
    per_step = int(hp.get("batch_size", 0) or 0) * int(hp.get("n_critic", 1) or 1)
    if isinstance(rate, (int, float)) and rate > 0 and math.isfinite(rate):
        parts.append(f"{rate:,.0f} images/s")
        if per_step and step < total:
            parts.append(f"about {format_duration((total - step) * per_step / rate)} left")
    return min(1.0, max(0.0, step / total)), " · ".join(parts)


def _planning_progress(card: ModelCard, status: dict, step: int) -> tuple[float, str]:
    """A time-boxed run (train --minutes) before it has fixed its step count: progress by the clock."""
    minutes = card.training.get("minutes")
    plan = f"measuring its speed to plan a {minutes:g}-minute run" if isinstance(minutes, (int, float)) else "measuring its speed"
    parts = [f"step {step:,}", plan]
    started, ends = status.get("started_at"), status.get("ends_at")
    if not all(isinstance(t, (int, float)) and math.isfinite(t) for t in (started, ends)) or ends <= started:
        return 0.0, " · ".join(parts)
    now = time.time()
    parts.append(f"about {format_duration(ends - now)} left")
    return min(1.0, max(0.0, (now - started) / (ends - started))), " · ".join(parts)


def format_duration(seconds: float) -> str:
    seconds = max(0, int(seconds))
    if seconds < 90:
        return f"{seconds} s"
    if seconds < 5400:
        return f"{round(seconds / 60)} min"
    return f"{seconds / 3600:.1f} h"


def training_commands(card: ModelCard) -> str | None:
    """The commands that trained this model, the start and then each resume, as one shell snippet to rerun; for a
    model published after the checkpoint it started from (publish --history-from), that checkpoint's first; for one
    that ships a mean of snapshots (publish --average-from), the commands that chose the window and made the mean."""
    snippet = _commands(card.training)
    average = card.training.get("weights_average")
    if snippet and isinstance(average, dict) and average.get("command"):
        windows = card.training.get("average_windows", {}).get("command")
        snippet += f"\n# then the mean of the snapshots from step {average['from_step']} to {average['to_step']} ships:"
        snippet += "".join(f"\n{c}" for c in (windows, average["command"]) if c)
    return snippet


def _commands(training: dict) -> str | None:
    command = training.get("command")
    if not command:
        return None
    lines = [command]
    for resume in training.get("resumed_by", []):
        lines += [f"# then, from step {resume['from_step']}:", resume["command"]]
    earlier = training.get("history_from")
    before = _commands(earlier.get("training", {})) if isinstance(earlier, dict) else None
    if before:
        lines = [before, f"# then a new run from that step-{earlier.get('steps')} generator, published in its place:", *lines]
    return "\n".join(lines)


def snapshots(card: ModelCard) -> list[dict]:
    """The card's snapshots in step order."""
    return sorted((s for s in card.snapshots if isinstance(s, dict) and "step" in s), key=lambda s: int(s["step"]))


def snapshot_rows(card: ModelCard) -> list[dict]:
    """One row per snapshot: step, epoch and its numeric metrics (for a table and a chart)."""
    rows = []
    for snap in snapshots(card):
        row = {"step": int(snap["step"]), "epoch": snap.get("epoch")}
        for key, value in (snap.get("metrics") or {}).items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                row[key] = value
        rows.append(row)
    return rows


def metric_keys(rows: list[dict]) -> list[str]:
    keys: list[str] = []
    for row in rows:
        keys += [k for k in row if k not in ("step", "epoch") and k not in keys]
    return keys


def loss_thinning(steps_done: int, max_points: int = 4000) -> int:
    """Keep every n-th loss row so a long run plots quickly."""
    return max(1, math.ceil(max(0, int(steps_done)) / max_points))
