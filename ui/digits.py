"""The SGAN page's digits, kept free of Streamlit: a photo or drawing made into an MNIST-style digit as MNIST made
them, the classifier input, the shipped example digits, and both classifiers' probabilities."""
from __future__ import annotations

import numpy as np
import torch
from PIL import Image

from ganmodels.checkpoint import LoadedModel
from ganmodels.images import from_pil
from ui.paths import EXAMPLES_ROOT


class DigitError(ValueError):
    """An image that holds no digit we can find, with a message fit to show a user."""


def mnist_style(image: Image.Image, box: int = 20, size: int = 28, ink_threshold: float = 0.2) -> Image.Image:
    """A photo or drawing of a digit as an MNIST image: white ink on black, 28x28.

    As MNIST was made: dark-on-light images are inverted, the digit is cropped to its ink,
    scaled (keeping its aspect) to fit a 20x20 box with anti-aliasing, and placed in 28x28 so
    its centre of mass sits at the centre.
    """
    gray = np.asarray(image.convert("L"), dtype=np.float32) / np.float32(255.0)  # float32: no float64 image copies
    if gray.ndim != 2 or min(gray.shape) < 2:
        raise DigitError("The image is too small to hold a digit.")
    border = np.concatenate([gray[0], gray[-1], gray[:, 0], gray[:, -1]])
    background = float(np.median(border))
    if background > 0.5:  # dark ink on light paper: MNIST digits are light on dark
        gray, background = 1.0 - gray, 1.0 - background
    ink = np.clip(gray - background, 0.0, None)
    peak = float(ink.max())
    if peak < 0.15:
        raise DigitError("No digit found: the image has no strokes that stand out from its background.")
    ink /= peak
    ink[ink < ink_threshold] = 0.0  # paper texture and shadows
    rows, cols = np.nonzero(ink)
    crop = ink[rows.min(): rows.max() + 1, cols.min(): cols.max() + 1]
    h, w = crop.shape
    scale = box / max(h, w)
    new_w, new_h = max(1, round(w * scale)), max(1, round(h * scale))
    patch_img = Image.fromarray((crop * 255).round().astype(np.uint8), mode="L").resize((new_w, new_h), Image.LANCZOS)
    patch = np.asarray(patch_img, dtype=np.float32)
    mass = patch.sum()
    if mass <= 0:
        raise DigitError("No digit found after scaling the strokes down.")
    yy, xx = np.mgrid[0:new_h, 0:new_w]
    cy, cx = (yy * patch).sum() / mass, (xx * patch).sum() / mass
    top = int(np.clip(round((size - 1) / 2 - cy), 0, size - new_h))
    left = int(np.clip(round((size - 1) / 2 - cx), 0, size - new_w))
    out = np.zeros((size, size), dtype=np.float32)
    out[top: top + new_h, left: left + new_w] = patch
    return Image.fromarray(np.clip(out, 0, 255).round().astype(np.uint8), mode="L")


def digit_tensor(digit: Image.Image, image_size: int = 28) -> torch.Tensor:
    """A 28x28 digit as the classifier's input: 1x1xSxS in [-1, 1], resized if the model is not 28 px."""
    if digit.size != (image_size, image_size):
        digit = digit.resize((image_size, image_size), Image.BILINEAR)
    return from_pil(digit, channels=1)


def bundled_digits(dataset: str, image_size: int = 28) -> tuple[torch.Tensor, torch.Tensor] | None:
    """The MNIST test digits shipped in examples/mnist (two per class) as classifier inputs N×1×S×S in [-1, 1] and
    their labels, read from file names `<label>-t10k-<index>.png`; None for other datasets or when absent."""
    folder = EXAMPLES_ROOT / dataset
    if dataset != "mnist" or not folder.is_dir():
        return None
    images, labels = [], []
    for path in sorted(folder.glob("*-t10k-*.png")):
        label = path.name.split("-", 1)[0]
        if not label.isdigit():
            continue
        try:
            with Image.open(path) as img:
                images.append(digit_tensor(img.convert("L"), image_size))
        except OSError:
            continue
        labels.append(int(label))
    if not images:
        return None
    return torch.cat(images), torch.tensor(labels, dtype=torch.long)


CLASSIFIER_NAMES = {"classifier": "SGAN discriminator", "baseline": "Plain classifier"}


@torch.no_grad()
def class_probabilities(model: LoadedModel, x: torch.Tensor) -> dict[str, list[float]]:
    """Softmax of each companion classifier's logits for one image, by display name."""
    out = {}
    for key, title in CLASSIFIER_NAMES.items():
        net = model.companions.get(key)
        if net is None:
            continue
        logits = net(x.to(model.device, torch.float32)).float().cpu()
        out[title] = torch.softmax(logits[0], dim=0).tolist()
    return out
