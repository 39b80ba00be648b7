"""One place that decides where models run, so every page and CLI agree."""
from __future__ import annotations

import os

import torch

DEVICE_ENV = "GANSTUDIO_DEVICE"


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
