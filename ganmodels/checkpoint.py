"""Checkpoint I/O: safetensors weights plus a card, validated; foreign .pth loaded without unpickling code."""
from __future__ import annotations

import os
import pickle
import re
from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from .cards import CardError, ModelCard, read_card
from .files import CARD_NAME, atomic_path
from .device import pick_device
from .registry import FAMILIES, UnknownFamilyError, get_family

FOREIGN_SUFFIXES = (".pth", ".pt")


class CheckpointError(ValueError):
    """Anything that stops a checkpoint from loading, naming the file and, where it applies, the key."""


# --- tensors on disk -----------------------------------------------------------


# How weights may be stored: float16 halves the size; anything else is refused rather than silently written as float32.
STORED_PRECISIONS = ("float32", "float16")


def save_weights(module_or_state, path: str | os.PathLike, precision: str = "float32") -> Path:
    """Write a state dict as safetensors, atomically; `float16` halves stored size."""
    if precision not in STORED_PRECISIONS:
        raise CheckpointError(f"weights are stored in {' or '.join(STORED_PRECISIONS)}, not {precision}")
    state = module_or_state.state_dict() if isinstance(module_or_state, nn.Module) else module_or_state
    out = {}
    for k, v in state.items():
        v = v.detach().cpu().contiguous()
        if precision == "float16" and v.is_floating_point():
            v = v.half()
        out[k] = v
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        save_file(out, str(tmp))
    return path


def read_weights(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Tensors from safetensors, or from a .pth with `weights_only=True`; never runs pickled code."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"weights file not found: {path}")
    if path.suffix == ".safetensors":
        try:
            state = load_file(str(path))
        except (SafetensorError, OSError, ValueError) as exc:
            raise CheckpointError(f"{path.name}: not a valid safetensors file ({exc})") from exc
        return {k: v.float() if v.dtype in (torch.float16, torch.bfloat16) else v for k, v in state.items()}
    if path.suffix in FOREIGN_SUFFIXES:
        try:
            obj = torch.load(str(path), map_location="cpu", weights_only=True)
        except pickle.UnpicklingError as exc:
            raise CheckpointError(
                f"{path.name}: refused: it contains pickled Python objects beyond tensors, "
                "and GAN Studio never runs code from a checkpoint. Save a plain state_dict or safetensors instead."
            ) from exc
        except Exception as exc:  # corrupt bytes surface as IndexError, KeyError, UnicodeDecodeError, ...
            raise CheckpointError(f"{path.name}: not a readable PyTorch file ({type(exc).__name__}: {exc})") from exc
        return _state_dict_from(obj, path)
    raise CheckpointError(f"{path.name}: unsupported weights format (use .safetensors, .pth or .pt)")


def average_weights(paths: list[str | os.PathLike]) -> dict[str, torch.Tensor]:
    """The uniform mean of several saved states of one net (stochastic weight averaging, Izmailov et al. 2018; a
    post-hoc moving average, Karras et al. 2024): late in a GAN's learning-rate decay the generator still wanders
    around a good point, and the mean of its snapshots can land nearer that point than any one of them.
    Floating tensors, BatchNorm's running statistics included, are averaged in float64; integer buffers (the
    batch counters) are taken from the last file."""
    if not paths:
        raise CheckpointError("no weights files to average")
    states = [read_weights(p) for p in paths]
    first = states[0]
    for path, state in zip(paths[1:], states[1:]):
        if state.keys() != first.keys():
            odd = sorted(state.keys() ^ first.keys())[0]
            raise CheckpointError(f"{Path(path).name}: cannot be averaged with {Path(paths[0]).name}: key '{odd}' is in only one")
        for k, v in state.items():
            if v.shape != first[k].shape:
                raise CheckpointError(f"{Path(path).name}: key '{k}' has shape {list(v.shape)}, "
                                      f"{Path(paths[0]).name} has {list(first[k].shape)}: not snapshots of one net")
    return {k: torch.stack([s[k].double() for s in states]).mean(0).to(v.dtype) if v.is_floating_point() else states[-1][k]
            for k, v in first.items()}


def _state_dict_from(obj, path: Path) -> dict[str, torch.Tensor]:
    """Accept a bare state dict or the common {'state_dict': ...} / {'netG': ...} wrappers."""
    if isinstance(obj, dict) and obj and all(isinstance(v, torch.Tensor) for v in obj.values()):
        return dict(obj)
    if isinstance(obj, dict):
        for key in ("state_dict", "netG", "generator", "G", "model"):
            inner = obj.get(key)
            if isinstance(inner, dict) and inner and all(isinstance(v, torch.Tensor) for v in inner.values()):
                return dict(inner)
    raise CheckpointError(f"{path.name}: holds no state dict of tensors")


def load_into(module: nn.Module, state: dict[str, torch.Tensor], source: str) -> None:
    """Strict load with a message that names the file, the key and both shapes."""
    expected = module.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"missing key '{missing[0]}'" + (f" and {len(missing) - 1} more" if len(missing) > 1 else ""))
        if unexpected:
            parts.append(f"unexpected key '{unexpected[0]}'" + (f" and {len(unexpected) - 1} more" if len(unexpected) > 1 else ""))
        raise CheckpointError(f"{source}: weights do not match the card's architecture: {'; '.join(parts)}")
    for k, v in expected.items():
        if tuple(state[k].shape) != tuple(v.shape):
            raise CheckpointError(
                f"{source}: key '{k}' has shape {list(state[k].shape)} but the card's architecture needs {list(v.shape)}"
            )
    module.load_state_dict({k: state[k].to(v.dtype) for k, v in expected.items()}, strict=True)


# --- foreign layouts -------------------------------------------------------------

_IN_BUFFERS = re.compile(r"\.(running_mean|running_var|num_batches_tracked)$")


def _strip_prefix(state: dict, prefix: str = "module.") -> dict:
    return {k[len(prefix):] if k.startswith(prefix) else k: v for k, v in state.items()}


def _junyanz_resnet(state: dict, path: Path, direction: str | None = None) -> tuple[ModelCard, dict]:
    """junyanz ResNet generator (48/94/117 keys; dropout variant too) -> our cyclegan card + state."""
    # Every buffer of this net belongs to an InstanceNorm with no running stats: drop them all.
    state = {k: v for k, v in state.items() if not _IN_BUFFERS.search(k)}
    blocks = sorted({int(m.group(1)) for k in state if (m := re.match(r"model\.(\d+)\.conv_block\.", k))})
    assumptions = []
    if any(".conv_block.6." in k for k in state):  # built with dropout: second conv sits at index 6
        state = {k.replace(".conv_block.6.", ".conv_block.5."): v for k, v in state.items()}
        assumptions.append("the file was saved with dropout in the residual blocks; dropout is off for inference")
    ngf = state["model.1.weight"].shape[0]
    name = path.stem
    guessed = direction is None
    direction = direction or ("b2a" if re.search(r"(G_B|netG_B)$", name) else "a2b")
    domains = {"a": "A", "b": "B"}
    pair = re.match(r"^([a-z_]+?)2([a-z_]+?)(_pretrained)?$", name.replace("latest_net_", ""))
    if pair and "net_g" not in name.lower():
        domains = {"a": pair.group(1), "b": pair.group(2)}
    assumptions += [
        f"architecture inferred from the keys: ResNet generator, ngf {ngf}, {len(blocks)} residual blocks, InstanceNorm, reflect padding",
        *([f"direction assumed {direction.replace('2', ' -> ').upper()} from the file name; add a card to change it"] if guessed else []),
        "input is RGB scaled to [-1, 1] as in upstream test.py; InstanceNorm running stats in the file were ignored",
    ]
    arch = {"ngf": ngf, "ndf": 64, "n_blocks": len(blocks), "image_size": 256, "channels": state["model.1.weight"].shape[1],
            "directions": [direction], "domains": domains}
    card = ModelCard(id=name, family="cyclegan", arch=arch, title=f"{name} (foreign CycleGAN)",
                     description="A junyanz/pytorch-CycleGAN-and-pix2pix generator loaded from its .pth file.",
                     dataset={"name": "unknown"}, weights=path.name, assumptions=assumptions)
    return card, {f"{direction}.{k}": v for k, v in state.items()}


def _examples_dcgan(state: dict, path: Path) -> tuple[ModelCard, dict]:
    """pytorch/examples dcgan/main.py netG (64 px; nc 1 or 3)."""
    nz, nc, ngf = state["main.0.weight"].shape[0], state["main.12.weight"].shape[1], state["main.12.weight"].shape[0]
    for i in (1, 4, 7, 10):  # files from PyTorch < 0.4.1 lack these counters
        state.setdefault(f"main.{i}.num_batches_tracked", torch.tensor(0, dtype=torch.long))
    arch = {"z_dim": nz, "ngf": ngf, "ndf": 64, "image_size": 64, "channels": nc}
    card = ModelCard(
        id=path.stem, family="dcgan", arch=arch, title=f"{path.stem} (pytorch/examples DCGAN)",
        description="A generator written by pytorch/examples dcgan/main.py.", dataset={"name": "unknown"}, weights=path.name,
        assumptions=[
            f"architecture inferred from the keys: pytorch/examples DCGAN, nz {nz}, ngf {ngf}, {nc} channel(s), 64x64",
            "run in eval mode with the stored BatchNorm statistics (upstream's samples used batch statistics)",
        ],
    )
    return card, state


def infer_foreign(state: dict[str, torch.Tensor], path: Path) -> tuple[ModelCard, dict]:
    state = _strip_prefix(state)
    if "model.1.weight" in state and any(".conv_block." in k for k in state):
        return _junyanz_resnet(state, path)
    if "main.0.weight" in state and "main.12.weight" in state and state["main.0.weight"].dim() == 4:
        return _examples_dcgan(state, path)
    raise CheckpointError(
        f"{path.name}: unrecognised layout (first keys: {', '.join(list(state)[:3])}); "
        "add a card.json beside it naming the family and architecture"
    )


# --- loaded models ---------------------------------------------------------------------


@dataclass
class LoadedModel:
    """A generator ready to sample, with its card and any companion nets (SGAN's classifiers)."""

    card: ModelCard
    generator: nn.Module
    device: torch.device
    path: Path
    companions: dict[str, nn.Module] = field(default_factory=dict)

    @property
    def family(self):
        return get_family(self.card.family)

    @property
    def latent_size(self) -> int:
        return self.family.latent_size(self.card.arch)

    def latents(self, seed: int, n: int = 1, psi: float | None = None) -> torch.Tensor:
        """Generator inputs for a seed (row i is seed + i's); the family says what besides noise they hold."""
        return self.family.seeded_latents(self.card.arch, seed, n, psi)

    @torch.no_grad()  # not inference_mode: callers may feed the images to other nets or edit them in place
    def generate(self, latents: torch.Tensor, labels=None, batch_size: int = 256) -> torch.Tensor:
        """Images in [-1, 1] on the CPU, batched so large grids never exhaust memory."""
        if self.family.translator:
            raise TypeError("a CycleGAN translates images; use translate()")
        outs = []
        for i in range(0, len(latents), batch_size):
            z = latents[i : i + batch_size].to(self.device, torch.float32)
            y = None
            if labels is not None:
                y = torch.as_tensor(labels, dtype=torch.long).reshape(-1).expand(len(latents))[i : i + batch_size].to(self.device)
            outs.append(self.generator(z, y).float().cpu())
        return torch.cat(outs)

    @torch.no_grad()
    def translate(self, images: torch.Tensor, direction: str, blend: bool = True) -> torch.Tensor:
        """Images larger than the training size are translated by scale blend unless `blend` is false (one direct
        pass at their own size, whose effect weakens as the photo grows: cyclegan.scale_blend)."""
        side = self.card.image_size if blend else None
        return self.generator.translate(images.to(self.device), direction, blend_side=side).float().cpu()


def _find_weights(folder: Path, card: ModelCard) -> Path:
    path = folder / card.weights
    if not path.is_file():
        raise CheckpointError(f"{folder.name}: the card names weights '{card.weights}' but that file is missing")
    return path


def _refuse_oversized(card: ModelCard, folder: Path) -> None:
    """A card whose architecture would allocate more than limits.MAX_WEIGHTS weights (ngf=100000 is 3.9 GB) is
    refused from its weight count on the meta device, before its weights file is read or any net is built."""
    from .limits import MAX_WEIGHTS, weight_count

    if card.family not in FAMILIES:
        return  # get_family below says the family is unknown
    try:
        count = weight_count(card.family, card.arch, discriminator=bool(card.training.get("companions")))
    except Exception:  # noqa: BLE001 - an arch that cannot be built is reported by build_generator below, as before
        return
    if count > MAX_WEIGHTS:
        raise CheckpointError(f"{folder.name}: the card's architecture has {count:,} weights; this server loads at most "
                              f"{MAX_WEIGHTS:,}.")


def load_model(path: str | os.PathLike, device: torch.device | str | None = None, weights: str | None = None,
               companions: bool = True) -> LoadedModel:
    """Load a checkpoint folder (card + weights), a card file, or a foreign .pth/.safetensors file.

    `weights` picks another file in the folder (a snapshot) with the same card; `companions=False` skips
    the nets beside the generator (SGAN's classifiers) for callers that only sample.
    Errors are CheckpointError or CardError with a message fit to show a user.
    """
    path = Path(path)
    device = pick_device() if device is None else torch.device(device)
    if not path.exists():
        raise CheckpointError(f"checkpoint not found: {path}")
    folder = path if path.is_dir() else path.parent
    if path.is_dir() or path.name == CARD_NAME:
        card = read_card(folder)
        _refuse_oversized(card, folder)
        weight_path = folder / weights if weights else _find_weights(folder, card)
        state = read_weights(weight_path)
    elif (folder / CARD_NAME).is_file() and read_card(folder).weights == path.name:
        card, weight_path = read_card(folder), path
        _refuse_oversized(card, folder)
        state = read_weights(path)
    else:
        weight_path = path
        state = read_weights(path)
        card, state = infer_foreign(state, path)
    try:
        family = get_family(card.family)
    except UnknownFamilyError as exc:
        raise CheckpointError(f"{folder.name}: {exc}") from None
    try:
        generator = family.build_generator(card.arch)
    except (KeyError, ValueError, TypeError) as exc:
        raise CardError(f"{folder.name}: the card's arch cannot build a {card.family} generator ({exc})") from exc
    if family.translator and not any(k.startswith(("a2b.", "b2a.")) for k in state):
        # A card written for a published single-direction file: map the upstream layout in.
        _, state = _junyanz_resnet(_strip_prefix(state), weight_path, card.arch.get("directions", ["a2b"])[0])
    load_into(generator, state, f"{weight_path.name}")
    generator.to(device).eval()
    nets = {}
    for name in card.training.get("companions", []) if companions else []:
        net = family.build_discriminator(card.arch)
        load_into(net, read_weights(folder / f"{name}.safetensors"), f"{name}.safetensors")
        nets[name] = net.to(device).eval()
    return LoadedModel(card, generator, device, folder if path.is_dir() or path.name == CARD_NAME else path, nets)


def save_model_folder(folder: str | os.PathLike, card: ModelCard, generator: nn.Module, companions: dict[str, nn.Module] | None = None) -> Path:
    """Write card + weights (+ companion nets) into a checkpoint folder."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    save_weights(generator, folder / card.weights, card.precision)
    for name, net in (companions or {}).items():
        save_weights(net, folder / f"{name}.safetensors", card.precision)
    card.training["companions"] = sorted(companions or {})
    card.save(folder)
    return folder


def list_checkpoints(root: str | os.PathLike) -> list[Path]:
    """Folders under root that hold a card, plus loose foreign weight files."""
    root = Path(root)
    if not root.is_dir():
        return []
    found = [p for p in sorted(root.iterdir()) if p.is_dir() and (p / CARD_NAME).is_file()]
    found += [p for p in sorted(root.iterdir()) if p.is_file() and p.suffix in FOREIGN_SUFFIXES + (".safetensors",)]
    return found


def readable_cards(root: str | os.PathLike) -> list[ModelCard]:
    """The cards of the checkpoint folders under root, skipping any that cannot be read (the app lists those
    as broken; tools and tests that only want working models use this)."""
    cards = []
    for path in list_checkpoints(root):
        if path.is_dir():
            try:
                cards.append(read_card(path))
            except CardError:
                continue
    return cards


__all__ = [
    "CheckpointError", "CardError", "LoadedModel", "load_model", "save_model_folder", "save_weights", "read_weights",
    "load_into", "infer_foreign", "average_weights", "list_checkpoints", "readable_cards",
]
