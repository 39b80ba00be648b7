"""The latent explorer's state and how it travels: the URL (?seed=&psi=&class=&mode=&offsets=&z=), latents squeezed
into links, and downloadable latent files. Every reader takes untrusted input and bounds it before decoding. Free of
Streamlit, so it is tested without a browser."""
from __future__ import annotations

import base64
import json
import math
import secrets
import zlib
from dataclasses import dataclass, field
from typing import Mapping

import numpy as np
import torch

from ganmodels.cards import ModelCard
from ganmodels.registry import FAMILIES


PSI_OPTIONS: list = ["off", 2.0, 1.5, 1.0, 0.8, 0.6, 0.5, 0.4, 0.3, 0.2]


MODES = ("principal", "raw")


MAX_SEED = 2**31 - 1


MAX_SEED_DIGITS = 40  # a longer ?seed= is not a number anyone typed; shorter ones above MAX_SEED are clamped to it


NEW_SEED_RANGE = 1_000_000  # seeds the button picks: short enough to read out and type back


def different_seed(current: int) -> int:
    """A fresh random seed other than the one on screen, so "New seed" always changes the picture."""
    seed = current
    while seed == current:
        seed = secrets.randbelow(NEW_SEED_RANGE)
    return seed


MAX_SLIDERS = 8


def slider_count(card: ModelCard) -> int:
    """How many direction sliders the explorer shows (the noise part of the latent, at most 8)."""
    return max(1, min(MAX_SLIDERS, int(card.arch.get("z_dim", MAX_SLIDERS))))


def psi_value(option) -> float | None:
    """A truncation option as the psi the library takes (None = off)."""
    return None if option in (None, "off") else float(option)


def nearest_psi(text) -> object:
    """Snap a URL value to the nearest offered truncation option; anything unreadable is 'off'."""
    try:
        value = float(text)
    except (TypeError, ValueError):
        return "off"
    if not math.isfinite(value) or value <= 0 or value >= 4:
        return "off"
    numbers = [o for o in PSI_OPTIONS if o != "off"]
    return min(numbers, key=lambda o: abs(o - value))


def class_names(card: ModelCard) -> list[str]:
    """Readable names for a conditional model's classes (numbers where the card has none)."""
    k = int(card.arch.get("num_classes") or 0)
    names = list(card.dataset.get("classes") or [])
    return [str(names[i]) if i < len(names) else str(i) for i in range(k)]


@dataclass
class ExplorerState:
    seed: int = 0
    psi: object = "off"  # an entry of PSI_OPTIONS
    label: int | None = None
    mode: str = "principal"
    offsets: dict = field(default_factory=dict)
    token: str | None = None  # an arbitrary latent (uploaded or arithmetic result) squeezed into the URL


def explorer_state_from_query(params: Mapping[str, str], card: ModelCard) -> ExplorerState:
    """Read ?seed=&psi=&class=&mode=&offsets=&z= leniently: bad parts fall back to defaults."""
    state = ExplorerState()
    seed = str(params.get("seed", "0"))
    if seed.isascii() and seed.isdecimal() and len(seed) <= MAX_SEED_DIGITS:
        state.seed = min(MAX_SEED, int(seed))
    if "psi" in params:
        state.psi = nearest_psi(params["psi"])
    family = FAMILIES.get(card.family)
    if family is not None and family.conditional:
        names = class_names(card)
        wanted = str(params.get("class", "0"))
        if wanted.isascii() and wanted.isdecimal() and len(wanted) <= 6 and int(wanted) < len(names):  # not "²"
            state.label = int(wanted)
        elif wanted in names:
            state.label = names.index(wanted)
        else:
            state.label = 0
    mode = params.get("mode")
    state.mode = mode if mode in MODES else "principal"
    state.offsets = offsets_from_query(params.get("offsets"), slider_count(card))
    state.token = params.get("z") or None
    return state


def explorer_query(state: ExplorerState) -> dict[str, str]:
    """The URL parameters that reproduce a state (empty parts left out)."""
    out = {"seed": str(int(state.seed)), "psi": "off" if state.psi == "off" else f"{float(state.psi):g}", "mode": state.mode}
    if state.label is not None:
        out["class"] = str(int(state.label))
    offsets = offsets_to_query(state.offsets)
    if offsets:
        out["offsets"] = offsets
    if state.token:
        out["z"] = state.token
    return out


# --- slider offsets and latents in links ----------------------------------------------------------

def offsets_to_query(offsets: dict[int, float]) -> str:
    """Slider offsets as a compact URL value: '0:1.5,3:-0.75' (zeros left out)."""
    return ",".join(f"{int(i)}:{round(float(v), 3):g}" for i, v in sorted(offsets.items()) if v)


def offsets_from_query(text: str | None, limit: int) -> dict[int, float]:
    """Parse offsets from a URL, ignoring malformed or out-of-range parts instead of failing."""
    out: dict[int, float] = {}
    if not isinstance(text, str) or len(text) > 32 * max(1, limit):  # a link longer than its sliders can say
        return out
    for part in text.split(",")[:limit]:
        index, sep, value = part.partition(":")
        try:
            i, v = int(index), float(value)
        except ValueError:
            continue
        if sep and 0 <= i < limit and abs(v) <= 10:
            out[i] = v
    return out


def latent_to_token(latent: torch.Tensor) -> str:
    """An arbitrary latent squeezed into a URL-safe string (for arithmetic results, not just seeds)."""
    raw = latent.reshape(-1).to(torch.float16).numpy().tobytes()
    return base64.urlsafe_b64encode(zlib.compress(raw)).decode()


def latent_from_token(token: str, latent_size: int) -> torch.Tensor:
    """The latent of a shared link. Untrusted: the token's length is bounded before decoding and the decompression
    stops at the latent's size (2 bytes a number), so a crafted link cannot inflate into gigabytes."""
    expected = 2 * latent_size
    # zlib adds at most a few bytes to incompressible data; base64 makes 4 characters of every 3 bytes
    if not isinstance(token, str) or len(token) > 4 * ((expected + 64) // 3 + 1):
        raise LatentFileError("The latent in this link is too long for this model.")
    try:
        inflater = zlib.decompressobj()
        raw = inflater.decompress(base64.urlsafe_b64decode(token.encode("ascii")), expected + 1)
    except (ValueError, zlib.error):
        raise LatentFileError("The latent in this link is damaged.") from None
    if len(raw) > expected or inflater.unconsumed_tail:
        raise LatentFileError("The latent in this link is too long for this model.")
    if len(raw) % 2 or not inflater.eof:  # cut short: the stream's end (and checksum) is missing
        raise LatentFileError("The latent in this link is damaged.")
    values = np.frombuffer(raw, dtype=np.float16)
    if values.size != latent_size:
        raise LatentFileError(f"The link's latent has {values.size} numbers; this model takes {latent_size}.")
    tensor = torch.from_numpy(values.astype("float32")).reshape(1, -1)
    if not torch.isfinite(tensor).all():
        raise LatentFileError("The latent in this link holds numbers that are not finite.")
    return tensor


# --- latent files ---------------------------------------------------------------------------------

LATENT_FILE_VERSION = 1


MAX_LATENT_FILE_BYTES = 1_000_000


class LatentFileError(ValueError):
    """A latent file or URL that does not fit the chosen model, with the reason."""


def encode_latent(model_id: str, latent: torch.Tensor, seed: int | None = None, psi: float | None = None, label: int | None = None) -> bytes:
    """A small JSON file a user can download and later upload to get the same image back."""
    payload = {"format": "ganstudio-latent", "version": LATENT_FILE_VERSION, "model": model_id, "seed": seed,
               "truncation": psi, "label": label, "latent": [round(float(v), 6) for v in latent.reshape(-1)]}
    return json.dumps(payload).encode()


def decode_latent(data: bytes, latent_size: int) -> dict:
    """Parse an uploaded latent file and check it fits a generator with `latent_size` inputs."""
    if len(data) > MAX_LATENT_FILE_BYTES:
        raise LatentFileError("The latent file is too large to be one of ours.")
    try:
        payload = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):  # RecursionError: arrays nested 100,000 deep
        raise LatentFileError("This is not a GAN Studio latent file (it is not JSON).") from None
    if not isinstance(payload, dict) or payload.get("format") != "ganstudio-latent":
        raise LatentFileError("This JSON file is not a GAN Studio latent file.")
    values = payload.get("latent")
    if not isinstance(values, list) or not all(isinstance(v, (int, float)) for v in values):
        raise LatentFileError("The latent file has no list of numbers under 'latent'.")
    if len(values) != latent_size:
        raise LatentFileError(
            f"The latent has {len(values)} numbers but this model takes {latent_size} (it was saved for '{payload.get('model')}')."
        )
    tensor = torch.tensor(values, dtype=torch.float32).reshape(1, -1)
    if not torch.isfinite(tensor).all():
        raise LatentFileError("The latent file holds non-finite numbers.")
    return {**payload, "latent": tensor}
