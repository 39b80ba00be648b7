"""Reading training run folders: listing runs with their status, card, live status and loss log; and the watch a
run started by the app keeps on its parent process."""
from __future__ import annotations

import copy
import csv
import json
import math
import os
import threading
import time
from array import array
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

from .cards import CardError, ModelCard, read_card
from .files import CARD_NAME, LOSSES_NAME, STATUS_NAME

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
    status_file = folder / STATUS_NAME
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


def live_status(folder: str | os.PathLike) -> dict:
    """status.json of a run ({} when absent or being rewritten)."""
    try:
        data = json.loads((Path(folder) / STATUS_NAME).read_text())
    except (OSError, json.JSONDecodeError):
        return {}
    return data if isinstance(data, dict) else {}



_CARDS: "OrderedDict[str, tuple[tuple[int, int], ModelCard]]" = OrderedDict()
_CARDS_LOCK = threading.Lock()
MAX_CACHED_CARDS = 256


def read_card_cached(folder: str | os.PathLike) -> ModelCard:
    """read_card, parsed again only when card.json changes (its modification time or size): the live page and the run
    list read every card every few seconds. Raises CardError as read_card does."""
    path = Path(folder) / CARD_NAME
    try:
        stat = path.stat()
    except OSError:
        return read_card(folder)  # says there is no card
    stamp, key = (stat.st_mtime_ns, stat.st_size), str(path)
    with _CARDS_LOCK:
        hit = _CARDS.get(key)
        if hit and hit[0] == stamp:
            _CARDS.move_to_end(key)
            return copy.deepcopy(hit[1])  # callers may change their card; the cached one stays as read
    card = read_card(folder)
    with _CARDS_LOCK:
        _CARDS[key] = (stamp, copy.deepcopy(card))
        while len(_CARDS) > MAX_CACHED_CARDS:
            _CARDS.popitem(last=False)
    return card


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
                card = read_card_cached(folder)
            except CardError:
                continue
            found.append(RunInfo(folder, card, run_status(folder, card)))
    return sorted(found, key=lambda r: (r.status != "running", -(r.folder / CARD_NAME).stat().st_mtime))


def read_losses(folder: Path, every: int = 1) -> dict[str, list[float]]:
    """losses.csv as columns; `every` thins long logs for plotting (the last row always kept)."""
    path = Path(folder) / LOSSES_NAME
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


class _LossLog:
    """What has been parsed of one losses.csv: its columns so far and the byte offset parsing stopped at."""

    def __init__(self, inode: int):
        self.inode, self.offset, self.header = inode, 0, None
        self.columns: dict[str, array] = {}
        self.rows = 0


_LOSS_LOGS: "OrderedDict[str, _LossLog]" = OrderedDict()
_LOSS_LOCK = threading.Lock()
MAX_LOSS_LOGS = 8  # logs kept parsed, the least recently read dropped first (1 M rows of 5 columns is 40 MB)


def read_losses_incremental(folder: Path, every: int = 1) -> dict[str, list[float]]:
    """read_losses for a log that grows while a run trains: the rows parsed on earlier calls are kept (per server, for
    every viewer), so each call reads only the bytes appended since, and a live page costs O(new rows). A log that
    was rewritten (a resumed run truncates it to its state: a new file) or shrank is parsed again from the start."""
    path = Path(folder) / LOSSES_NAME
    try:
        stat = path.stat()
    except OSError:
        return {}
    key = str(path.resolve())
    with _LOSS_LOCK:
        log = _LOSS_LOGS.get(key)
        if log is None or log.inode != stat.st_ino or stat.st_size < log.offset:
            log = _LossLog(stat.st_ino)
        _LOSS_LOGS[key] = log
        _LOSS_LOGS.move_to_end(key)
        while len(_LOSS_LOGS) > MAX_LOSS_LOGS:
            _LOSS_LOGS.popitem(last=False)
        if stat.st_size > log.offset:
            _parse_appended(path, log)
        if not log.rows:
            return {}
        last = log.rows - 1
        keep = every > 1 and last % every
        return {name: values[::every].tolist() + ([values[last]] if keep else []) for name, values in log.columns.items()}


LOSS_CHUNK_BYTES = 8 * 1024 * 1024


def _parse_appended(path: Path, log: _LossLog) -> None:
    """Parse the complete lines after log.offset, 8 MB at a time (a line still being written is left for the next
    call), into the log's float arrays."""
    with open(path, "rb") as fh:
        fh.seek(log.offset)
        while True:
            data = fh.read(LOSS_CHUNK_BYTES)
            end = data.rfind(b"\n") + 1
            if end == 0:
                return
            fh.seek(log.offset + end)
            log.offset += end
            _parse_lines(data[:end].decode("utf-8", errors="replace").splitlines(), log)


def _parse_lines(lines: list[str], log: _LossLog) -> None:
    reader = csv.reader(lines)
    if log.header is None:
        log.header = next(reader, None)
        if log.header is None:
            return
        log.columns = {name: array("d") for name in log.header}
    columns = list(log.columns.values())
    width = len(columns)
    for row in reader:
        if not row or not row[0].strip():
            continue
        if len(row) < width:
            row = row + [""] * (width - len(row))
        for column, text in zip(columns, row):
            try:
                column.append(float(text))
            except ValueError:
                column.append(math.nan)
        log.rows += 1


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
