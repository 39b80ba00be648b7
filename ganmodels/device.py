"""One place that decides where models run, so every page and CLI agree."""
from __future__ import annotations

import os

import torch

DEVICE_ENV = "GANSTUDIO_DEVICE"
THREADS_ENV = "GANSTUDIO_THREADS"


def pick_device(preferred: str | None = None) -> torch.device:
    """CUDA, then MPS, then CPU; `preferred` or $GANSTUDIO_DEVICE overrides.

    An override naming an unavailable accelerator raises rather than silently
    falling back, so a user who asked for the GPU learns it is not there.
    """
    choice = (preferred or os.environ.get(DEVICE_ENV) or "auto").strip().lower()
    if choice == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    device = torch.device(choice)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"device '{choice}' was requested but CUDA is not available here")
    if device.type == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise RuntimeError(f"device '{choice}' was requested but MPS is not available here")
    return device


def describe_device(device: torch.device) -> str:
    """A human label for the sidebar: 'CPU (2 threads)' or the GPU's name."""
    if device.type == "cuda":
        return f"GPU: {torch.cuda.get_device_name(device)}"
    if device.type == "mps":
        return "Apple GPU (MPS)"
    return f"CPU ({torch.get_num_threads()} threads)"


def set_cpu_threads(threads: int | None = None) -> int:
    """Intra-op CPU threads: `threads`, else $GANSTUDIO_THREADS, else torch's default (one per core).

    Fewer threads than cores keeps a training from starving the app or a second job sharing the machine.
    """
    value = threads or os.environ.get(THREADS_ENV)
    if value:
        n = int(value)
        if n < 1:
            raise ValueError(f"thread count must be at least 1, not {n}")
        torch.set_num_threads(n)
    return torch.get_num_threads()
