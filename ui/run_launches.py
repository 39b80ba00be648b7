"""The training processes this server started: launched atomically under the operator's caps, stoppable by the
session that started them, reaped when they end, watched for disk use, and ended when the server ends.

Every page session runs in its own thread, so the registry is guarded by one lock.
"""
from __future__ import annotations

import atexit
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from ganmodels.files import atomic_write_json
from ganmodels.runs import PARENT_PID_ENV
from ui.paths import REPO_ROOT
from ui.server_limits import MB, LimitError, Limits, folder_bytes

LAUNCH_SUFFIX = ".launch.json"


@dataclass
class Launched:
    proc: subprocess.Popen
    folder: Path
    owner: str | None
    started: float = field(default_factory=time.time)
    stopped_because: str | None = None


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


_LOCK = threading.RLock()
_LAUNCHED: dict[str, Launched] = {}  # by run folder (resolved)


def _key(folder: Path) -> str:
    return str(Path(os.path.realpath(folder)))


def reap() -> None:
    """Collect the exit status of finished runs (so none lingers as a zombie) and forget them."""
    with _LOCK:
        for key, entry in list(_LAUNCHED.items()):
            if entry.proc.poll() is not None:
                del _LAUNCHED[key]


def running_count() -> int:
    reap()
    with _LOCK:
        return len(_LAUNCHED)


def process_running(pid: int) -> bool | None:
    """True/False for a process this server started (polled, so it is reaped), None for any other."""
    with _LOCK:
        for entry in _LAUNCHED.values():
            if entry.proc.pid == pid:
                return entry.proc.poll() is None
    return None


def launch(request, runs_dir: str | os.PathLike, limits: Limits | None = None, owner: str | None = None) -> subprocess.Popen:
    """Start `request` (a ui.new_run.TrainingRequest) in the background.

    The run's folder is created exclusively first, so of two sessions asking for one name at the same moment exactly
    one gets it; with `limits`, the number of runs going and the runs folder's size are checked under the same lock.
    A launch note beside the folder lets a refreshed page say the run is starting or why it failed.
    Raises LimitError (over a cap) or FileExistsError (the name is taken).
    """
    runs_dir = Path(runs_dir)
    runs_dir.mkdir(parents=True, exist_ok=True)
    folder = runs_dir / request.name
    with _LOCK:
        reap()
        if limits is not None:
            if len(_LAUNCHED) >= limits.max_concurrent_runs:
                raise LimitError(f"{len(_LAUNCHED)} run(s) started here are still training and this server runs at most "
                                 f"{limits.max_concurrent_runs} at once. Wait for one to finish, or stop it.")
            used = folder_bytes(runs_dir)
            if used > limits.all_runs_disk_mb * MB:
                raise LimitError(f"The runs folder already holds {used / MB:,.0f} MB; this server allows "
                                 f"{limits.all_runs_disk_mb:,} MB for all runs. Delete old runs to start new ones.")
        folder.mkdir()  # exclusive: FileExistsError when another session took the name first
        log = runs_dir / f"{request.name}.log"
        log.unlink(missing_ok=True)  # the name is ours now; a log left by an earlier failed launch would mislead
        try:
            proc = start_training(request.family, request.dataset, request.steps, runs_dir, request.name,
                                  request.data_root, request.extra_args())
        except OSError:
            folder.rmdir()
            raise
        _LAUNCHED[_key(folder)] = Launched(proc, folder, owner)
    note = {"pid": proc.pid, "started": time.time(), "family": request.family, "dataset": request.dataset,
            "steps": request.steps, "args": proc.args if isinstance(proc.args, list) else str(proc.args)}
    atomic_write_json(runs_dir / f"{request.name}{LAUNCH_SUFFIX}", note, default=str)
    return proc


def owned_by(folder: str | os.PathLike, owner: str | None) -> bool:
    """True when this server started the run at `folder` for `owner` and it is still going."""
    if owner is None:
        return False
    reap()
    with _LOCK:
        entry = _LAUNCHED.get(_key(Path(folder)))
        return entry is not None and entry.owner == owner


def stop(folder: str | os.PathLike, owner: str | None = None, why: str = "stopped from the page") -> bool:
    """Ask a run this server started to stop (SIGTERM: it saves its state after the current step and pauses).
    With an `owner`, only that owner's run is stopped. True when a signal was sent."""
    with _LOCK:
        entry = _LAUNCHED.get(_key(Path(folder)))
        if entry is None or (owner is not None and entry.owner != owner) or entry.proc.poll() is not None:
            return False
        if entry.stopped_because is None:
            entry.stopped_because = why
            entry.proc.send_signal(signal.SIGTERM)
        return True


def stop_all(why: str = "the server is shutting down", wait: float = 0.0) -> None:
    """Stop every run this server started (the server's exit calls this); waits up to `wait` seconds for them."""
    with _LOCK:
        entries = list(_LAUNCHED.values())
    for entry in entries:
        stop(entry.folder, why=why)
    deadline = time.time() + wait
    for entry in entries:
        try:
            entry.proc.wait(timeout=max(0.0, deadline - time.time()))
        except subprocess.TimeoutExpired:
            pass


def enforce_disk(limits: Limits, runs_dir: str | os.PathLike) -> list[str]:
    """Stop runs over their disk share: one whose folder passed run_disk_mb, and all of them when the runs folder
    passed all_runs_disk_mb. Returns the names stopped."""
    reap()
    with _LOCK:
        entries = list(_LAUNCHED.values())
    stopped = []
    over_all = entries and folder_bytes(runs_dir) > limits.all_runs_disk_mb * MB
    for entry in entries:
        size = folder_bytes(entry.folder)
        if over_all or size > limits.run_disk_mb * MB:
            why = (f"its folder reached {size / MB:,.0f} MB, over the {limits.run_disk_mb:,} MB a run may use"
                   if not over_all else f"the runs folder passed the {limits.all_runs_disk_mb:,} MB all runs may use")
            if stop(entry.folder, why=why):
                stopped.append(entry.folder.name)
    return stopped


def stop_reason(folder: str | os.PathLike) -> str | None:
    with _LOCK:
        entry = _LAUNCHED.get(_key(Path(folder)))
        return entry.stopped_because if entry else None


_watcher: threading.Thread | None = None


def start_watcher(limits_of, runs_dir_of, every: float = 2.0) -> None:
    """Once per process: a daemon thread that reaps finished runs and enforces the disk caps every `every` seconds,
    whether or not anyone has a page open. `limits_of()` and `runs_dir_of()` give the current settings."""
    global _watcher
    with _LOCK:
        if _watcher is not None and _watcher.is_alive():
            return

        def loop():
            while True:
                time.sleep(every)
                try:
                    enforce_disk(limits_of(), runs_dir_of())
                except Exception:  # noqa: BLE001 - the watcher must outlive one bad pass (a folder deleted meanwhile)
                    pass

        _watcher = threading.Thread(target=loop, name="ganstudio-run-watcher", daemon=True)
        _watcher.start()


atexit.register(stop_all, "the server is shutting down", 10.0)
