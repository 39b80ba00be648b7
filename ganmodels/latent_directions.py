"""What the latent explorer computes: principal directions, slider offsets, shareable latents."""
from __future__ import annotations

import base64
import json
import zlib

import numpy as np
import torch

from .checkpoint import LoadedModel

LATENT_FILE_VERSION = 1
MAX_LATENT_FILE_BYTES = 1_000_000


class LatentFileError(ValueError):
    """A latent file or URL that does not fit the chosen model, with the reason."""


@torch.no_grad()
def _flat_output(model: LoadedModel, z: torch.Tensor, labels) -> torch.Tensor:
    """Flattened images for a batch; a single class label applies to the whole batch."""
    y = None if labels is None else torch.as_tensor(labels, dtype=torch.long).reshape(-1).expand(len(z)).to(model.device)
    return model.generator(z.to(model.device), y).flatten(1).double().cpu()


def principal_directions(model: LoadedModel, k: int = 8, probes: int = 8, seed: int = 0, labels=None,
                         eps: float = 1e-2) -> tuple[torch.Tensor, torch.Tensor]:
    """Latent directions that change the image most: top eigenvectors of the mean JᵀJ of G.

    J is taken by central differences, all 2·D perturbed latents of a probe in one batch
    (eval-mode nets are batch-independent), which is an order of magnitude faster than
    autograd's Jacobian on a CPU. Returns (directions k×D, share of image change each
    explains). Only the noise part moves, so InfoGAN codes and class labels keep their own controls.
    """
    noise_dim = model.card.arch["z_dim"]
    step = torch.eye(noise_dim) * eps
    gram = torch.zeros(noise_dim, noise_dim, dtype=torch.float64)
    for z0 in model.latents(seed, probes):
        plus, minus = z0.repeat(noise_dim, 1), z0.repeat(noise_dim, 1)
        plus[:, :noise_dim] += step
        minus[:, :noise_dim] -= step
        out = _flat_output(model, torch.cat([plus, minus]), labels)
        jac = (out[:noise_dim] - out[noise_dim:]) / (2 * eps)  # noise_dim × pixels, i.e. Jᵀ
        gram += jac @ jac.T
    eigvals, eigvecs = torch.linalg.eigh(gram / probes)
    order = eigvals.flip(0).clamp_min(0)
    k = min(k, noise_dim)
    return eigvecs.flip(1)[:, :k].T.float(), (order[:k] / order.sum()).float()


def principal_directions_kept(model: LoadedModel, k: int = 8, labels=None, folder=None) -> tuple[torch.Tensor, torch.Tensor]:
    """principal_directions, kept on disk ($GANSTUDIO_CACHE/principal, keyed by a hash of the generator's weights, k
    and the class), so that a server restarted, or a second server, does not spend a minute per model recomputing
    them before its first slider; the same numbers either way."""
    import os
    from pathlib import Path

    from safetensors import SafetensorError
    from safetensors.torch import load_file, save_file

    from .data import _cache_dir
    from .onnx_export import weights_key

    folder = Path(folder) if folder is not None else _cache_dir() / "principal"
    label = "none" if labels is None else "-".join(str(int(v)) for v in torch.as_tensor(labels).reshape(-1).tolist())
    path = folder / f"{weights_key(model.generator)}_k{int(k)}_label{label}.safetensors"
    try:
        kept = load_file(path)
        return kept["directions"], kept["share"]
    except (OSError, SafetensorError, KeyError):
        pass
    directions, share = principal_directions(model, k=k, labels=labels)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        save_file({"directions": directions.contiguous(), "share": share.contiguous()}, str(tmp))
        os.replace(tmp, path)
    except OSError:
        pass  # a read-only cache only costs the recomputation next time
    return directions, share


def apply_offsets(latent: torch.Tensor, offsets: dict[int, float], directions: torch.Tensor | None = None) -> torch.Tensor:
    """Move a latent (1×D) along slider offsets: raw dimensions, or principal directions when given."""
    out = latent.clone()
    noise_dim = directions.shape[1] if directions is not None else out.shape[1]
    for index, value in offsets.items():
        if not value:
            continue
        if directions is not None:
            out[:, :noise_dim] += value * directions[int(index)]
        else:
            out[:, int(index)] += value
    return out


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
