"""Pictures made for a projector: sample grids with each tile's number, and the endless latent walk of presenter mode
(its frames, and as a looping GIF). Free of Streamlit."""
from __future__ import annotations

import torch
from PIL import Image

from ganmodels.checkpoint import LoadedModel
from ganmodels.images import gif_bytes, grid, to_pil, upscale
from ganmodels.latent import slerp


def numbered_grid(images: torch.Tensor, nrow: int, min_side: int = 360, padding: int = 2,
                  smoothing: str = "nearest") -> Image.Image:
    """A sample grid enlarged to at least `min_side` px with each tile's number (1, 2, ... left to right, top to
    bottom) in its corner, so "pick samples by number" can be followed from the picture alone."""
    from PIL import ImageDraw, ImageFont

    sheet = grid(images, nrow, padding=padding)
    factor = max(1, -(-min_side // min(sheet.size)))
    big = upscale(sheet, min_side, smoothing).convert("RGB")
    h, w = images.shape[-2:]
    draw = ImageDraw.Draw(big)
    font = ImageFont.load_default(size=max(11, min(h, w) * factor // 4))
    for i in range(len(images)):
        row, col = divmod(i, nrow)
        x, y = (padding + col * (w + padding)) * factor + 2, (padding + row * (h + padding)) * factor + 1
        left, top, right, bottom = draw.textbbox((x, y), str(i + 1), font=font)
        draw.rectangle((left - 2, top - 2, right + 2, bottom + 2), fill=(0, 0, 0))
        draw.text((x, y), str(i + 1), fill=(255, 220, 0), font=font)
    return big


SLIDE_GIF_SIDE = 480  # px: big enough to fill a slide without visible blur from the projector's own scaling


def walk_gif(images: torch.Tensor, side: int = SLIDE_GIF_SIDE, duration_ms: int = 120, smoothing: str = "nearest") -> bytes:
    """An interpolation walk as a looping GIF whose frames are at least `side` px, enlarged the `smoothing` way."""
    return gif_bytes([upscale(to_pil(img), side, smoothing) for img in images], duration_ms=duration_ms)


WALK_SEEDS = 8  # a presenter's walk visits seeds start .. start+7, then returns to start: a loop with no jump


WALK_STEPS = 12  # frames from one seed to the next


def walk_frame(model: LoadedModel, frame: int, psi: float | None = None, start: int = 0, seeds: int = WALK_SEEDS,
               steps: int = WALK_STEPS) -> tuple[torch.Tensor, int, int]:
    """The latent of frame `frame` of an endless loop through latent space, along the sphere (slerp) from seed to
    seed; returns (1×D latent, seed walked from, seed walked to)."""
    leg, step = divmod(int(frame) % (seeds * steps), steps)
    here, there = start + leg, start + (leg + 1) % seeds
    a, b = model.latents(here, 1, psi), model.latents(there, 1, psi)
    return slerp(a, b, step / steps), here, there
