"""Find the latent a generator draws closest to a given picture (GAN inversion), and shape user pictures to fit.

Many seeded latents are tried at once (with every class, for a conditional model), and the closest few are optimised
together with Adam, one batched generator call per step, so the class is found along with the latent.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from .checkpoint import LoadedModel
from .images import DecodedImage, decode_upload, from_pil

# The largest side a picture is decoded at before it is shrunk to the model's size; a 28-px model needs no more.
MAX_TARGET_SIDE = 512
# Pixels brighter than this share of the range (after the background is made dark) count as the drawing.
INK_THRESHOLD = 0.2
# The least difference between a picture's background and its brightest part (0-1) that counts as a subject.
MIN_CONTRAST = 0.15
MAX_RESTARTS = 64
MAX_STEPS = 2000
MAX_POOL = 4096


class InversionError(ValueError):
    """A picture or request the inversion cannot take, with a message fit to show a user."""


@dataclass
class TargetStyle:
    """How the model's pictures look: size, channels, background polarity and how much of the frame the subject
    fills. Measured on the model's own samples, so nothing depends on which dataset it was trained on."""

    image_size: int
    channels: int
    dark_background: bool
    fill: float  # longer side of the subject's bounding box / frame side (0.71 for MNIST's 20-px digits in 28 px)


@dataclass
class Target:
    image: torch.Tensor  # 1×C×S×S in [-1, 1]
    notes: list[str]


@dataclass
class Inversion:
    latent: torch.Tensor  # 1×D
    label: int | None  # the class, for conditional models
    image: torch.Tensor  # 1×C×S×S reconstruction in [-1, 1]
    distance: float  # root-mean-square pixel difference on a 0-1 scale (0 = identical)
    candidates: int  # latents (with classes) tried before optimising the best of them
    refined: int  # how many were optimised together
    steps: int
    seconds: float


def rms_distance(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Root-mean-square difference per picture of two [-1, 1] batches, on a 0-1 scale (half the [-1, 1] one)."""
    return (a - b).flatten(1).square().mean(1).sqrt() / 2


def _border_mean(x: torch.Tensor) -> float:
    """Mean brightness of a picture batch's one-pixel frame, in [-1, 1]."""
    edge = torch.cat([x[..., 0, :], x[..., -1, :], x[..., :, 0], x[..., :, -1]], dim=-1)
    return float(edge.mean())


def _content_box(gray: np.ndarray) -> tuple[int, int, int, int] | None:
    """(top, left, bottom, right) of the pixels above INK_THRESHOLD in a [0, 1] array, or None when blank."""
    rows, cols = np.nonzero(gray > INK_THRESHOLD)
    if rows.size == 0:
        return None
    return int(rows.min()), int(cols.min()), int(rows.max()) + 1, int(cols.max()) + 1


@torch.no_grad()
def target_style(model: LoadedModel, samples: int = 64, seed: int = 0) -> TargetStyle:
    """The model's picture style, measured on its samples."""
    images = model.generate(model.latents(seed, samples), _all_classes(model, samples))
    dark = _border_mean(images) < 0
    gray = ((images.mean(1) if dark else -images.mean(1)) + 1) / 2  # subject bright, background dark
    fills = []
    for picture in gray.numpy():
        box = _content_box(picture)
        if box is not None:
            fills.append(max(box[2] - box[0], box[3] - box[1]) / picture.shape[-1])
    fill = float(np.median(fills)) if fills else 1.0
    return TargetStyle(model.card.image_size, model.card.channels, dark, min(1.0, max(0.3, fill)))


def decode_target(data: bytes) -> DecodedImage:
    """An uploaded or drawn picture's bytes, decoded and bounded (ImageDecodeError when it is not a usable image)."""
    return decode_upload(data, max_side=MAX_TARGET_SIDE, multiple_of=1)


def prepare_target(image: Image.Image, style: TargetStyle, fit: bool = True) -> Target:
    """A user's picture shaped like the model's: its polarity; its levels stretched so the background is the model's
    (grey paper in a photo becomes black for MNIST); the subject cropped and scaled to fill the frame as the model's
    subjects do (when `fit`); then the model's size and channels."""
    notes: list[str] = []
    pixels = np.asarray(image.convert("RGB"), dtype=np.float32) / 255.0
    gray = pixels.mean(2)
    light_background = float(np.concatenate([gray[0], gray[-1], gray[:, 0], gray[:, -1]]).mean()) > 0.5
    ink = 1.0 - pixels if light_background else pixels  # the subject bright on a dark background, whatever was given
    ink_gray = ink.mean(2)
    background = float(np.median(np.concatenate([ink_gray[0], ink_gray[-1], ink_gray[:, 0], ink_gray[:, -1]])))
    peak = float(np.percentile(ink_gray, 99.5))
    if peak - background < MIN_CONTRAST:
        raise InversionError("The picture is blank or too faint: draw or upload one subject that stands out from its background.")
    ink = np.clip((ink - background) / (peak - background), 0.0, 1.0)
    if light_background == style.dark_background:
        notes.append("colours inverted: the model draws " + ("light on dark" if style.dark_background else "dark on light"))
    if background > 0.05 or peak < 0.95:
        notes.append("levels stretched to a clean background")
    box = _content_box(ink.mean(2))
    if box is None:
        raise InversionError("The picture is blank: draw or upload something first.")
    top, left, bottom, right = box if fit else (0, 0, ink.shape[0], ink.shape[1])
    frame = max(1, math.ceil(max(bottom - top, right - left) / (style.fill if fit else 1.0)))
    if fit:
        notes.append(f"subject centred and scaled to fill {style.fill:.0%} of the frame, as the model's do")
    square = np.zeros((frame, frame, 3), dtype=np.float32)  # the subject centred on the model's background
    y0, x0 = (frame - (bottom - top)) // 2, (frame - (right - left)) // 2
    square[y0 : y0 + bottom - top, x0 : x0 + right - left] = ink[top:bottom, left:right]
    if not style.dark_background:
        square = 1.0 - square
    picture = Image.fromarray((square * 255).round().astype(np.uint8), mode="RGB")
    small = picture.resize((style.image_size, style.image_size), Image.BOX if frame >= style.image_size else Image.BICUBIC)
    return Target(from_pil(small, style.channels), notes)


def _all_classes(model: LoadedModel, n: int) -> torch.Tensor | None:
    if not model.family.conditional:
        return None
    return torch.arange(n) % model.card.arch["num_classes"]


def invert(model: LoadedModel, target: torch.Tensor, restarts: int = 8, steps: int = 60, pool: int = 256,
           lr: float = 0.05, prior_weight: float = 1e-3, seed: int = 0, time_limit: float | None = None) -> Inversion:
    """The latent (and class, for conditional models) whose picture is closest to `target` (1×C×S×S in [-1, 1]).

    First `pool` of the model's own seeded latents are drawn without gradients (for a conditional model, its
    latents paired with every class) and the `restarts` closest become the starting points; they are then optimised
    together with Adam, each step one batched generator call. The loss compares the pictures and their 4×-shrunk
    versions, which smooths the landscape early on, and a weak prior keeps each latent's length near a random
    latent's, so the explorer's sliders act on it as on a seed. `time_limit` (seconds) stops early with the best so far,
    though never before a third of the steps: on a busy server a poor answer on time helps nobody.
    """
    if model.family.translator:
        raise InversionError("This model translates pictures; it has no latent to find.")
    size, channels = model.card.image_size, model.card.channels
    if target.dim() != 4 or tuple(target.shape) != (1, channels, size, size):
        raise InversionError(f"The target must be one {channels}-channel {size}×{size} picture; got shape {tuple(target.shape)}.")
    if not torch.isfinite(target).all():
        raise InversionError("The target holds non-finite values.")
    if not 1 <= restarts <= MAX_RESTARTS or not 0 <= steps <= MAX_STEPS or not restarts <= pool <= MAX_POOL:
        raise InversionError(f"restarts must be 1-{MAX_RESTARTS}, steps 0-{MAX_STEPS} and pool restarts-{MAX_POOL}.")
    started = time.perf_counter()
    target = target.to(model.device, torch.float32).clamp(-1, 1)
    classes = model.card.arch["num_classes"] if model.family.conditional else 1
    per_class = max(1, -(-pool // classes))
    candidates = model.latents(seed, per_class).repeat(classes, 1)
    labels = torch.arange(classes).repeat_interleave(per_class) if model.family.conditional else None
    with torch.no_grad():
        first = rms_distance(model.generate(candidates, labels), target.cpu())
    keep = first.argsort()[:restarts]
    z = candidates[keep].to(model.device).requires_grad_(True)
    labels = None if labels is None else labels[keep].to(model.device)
    typical_norm = math.sqrt(z.shape[1])
    small_target = F.avg_pool2d(target, 4) if size >= 8 else target
    optimiser = torch.optim.Adam([z], lr=lr)
    best_z, best_pixel = z.detach().clone(), torch.full((len(z),), float("inf"), device=z.device)
    done = 0
    for step in range(steps + 1):  # the last pass only scores the final step's latents
        images = model.generator(z, labels)
        pixel = (images - target).square().mean((1, 2, 3))
        with torch.no_grad():  # Adam's steps keep their size near a minimum, so the best latent seen is kept
            better = pixel < best_pixel
            best_pixel = torch.where(better, pixel, best_pixel)
            best_z[better] = z[better]
        if step == steps or (step >= steps // 3 and time_limit is not None and time.perf_counter() - started > time_limit):
            break
        for group in optimiser.param_groups:  # cosine decay: big moves first, then settle
            group["lr"] = lr * 0.5 * (1 + math.cos(math.pi * step / steps))
        coarse = (F.avg_pool2d(images, 4) - small_target).square().mean((1, 2, 3)) if size >= 8 else 0
        prior = (z.norm(dim=1) / typical_norm - 1).square()
        loss = (pixel + coarse + prior_weight * prior).sum()
        (grad,) = torch.autograd.grad(loss, z)  # gradients for the latent only; the model's weights stay untouched
        z.grad = grad
        optimiser.step()
        done = step + 1
    with torch.no_grad():
        best = int(best_pixel.argmin())
        latent = best_z[best : best + 1]
        image = model.generator(latent, None if labels is None else labels[best : best + 1]).float().clamp(-1, 1)
    return Inversion(latent=latent.cpu().clone(), label=None if labels is None else int(labels[best]),
                     image=image.cpu(), distance=float(rms_distance(image, target)[0]),
                     candidates=len(candidates), refined=len(z), steps=done, seconds=time.perf_counter() - started)
