"""Model cards: the JSON beside every checkpoint that says what it is, how it was made and how good it is."""
from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from .files import CARD_NAME, atomic_write_json

FORMAT_VERSION = 1


class CardError(ValueError):
    """A card that is missing, unreadable or lacks what loading needs."""


@dataclass
class ModelCard:
    id: str
    family: str
    arch: dict
    dataset: dict = field(default_factory=dict)
    title: str = ""
    description: str = ""
    training: dict = field(default_factory=dict)
    metrics: dict = field(default_factory=dict)
    snapshots: list = field(default_factory=list)
    samples: dict = field(default_factory=dict)
    weights: str = "generator.safetensors"
    precision: str = "float32"
    created: str = field(default_factory=lambda: datetime.now(timezone.utc).isoformat(timespec="seconds"))
    assumptions: list = field(default_factory=list)
    format_version: int = FORMAT_VERSION

    @property
    def image_size(self) -> int:
        return int(self.arch["image_size"])

    @property
    def channels(self) -> int:
        return int(self.arch["channels"])

    @property
    def latent(self) -> dict:
        """The latent layout a UI needs: noise size, classes, InfoGAN codes."""
        from .registry import get_family  # the registry's families import nothing of cards; cards load without torch nets

        a, family = self.arch, get_family(self.family)
        out = {"z_dim": a.get("z_dim", 0)}
        if a.get("num_classes") and family.conditional:
            out["num_classes"] = a["num_classes"]
        codes = family.latent_codes(a)
        if codes is not None:
            out["codes"] = codes
        return out

    def snapshots_from(self, start: int) -> list[dict]:
        """The snapshots from step `start` to the last, in step order, for averaging: `start` must be a snapshot step
        and every one of them must still hold its weights, so a window always means the same generators."""
        ordered = sorted(self.snapshots, key=lambda s: s["step"])
        steps = [s["step"] for s in ordered]
        if start not in steps:
            raise CardError(f"{self.id} has no snapshot at step {start}; its snapshots are at steps {', '.join(map(str, steps))}")
        window = [s for s in ordered if s["step"] >= start]
        if len(window) < 2:
            raise CardError(f"step {start} is {self.id}'s last snapshot: an average needs two or more")
        dropped = [s["step"] for s in window if not s.get("weights")]
        if dropped:
            raise CardError(f"{self.id} no longer holds the weights of its snapshots at steps {', '.join(map(str, dropped))}")
        return window

    def to_dict(self) -> dict:
        d = asdict(self)
        d["image"] = {"size": self.image_size, "channels": self.channels}
        d["latent"] = self.latent
        return d

    @classmethod
    def from_dict(cls, data: dict, source: str = "card") -> "ModelCard":
        if not isinstance(data, dict):
            raise CardError(f"{source}: a model card must be a JSON object")
        missing = [k for k in ("id", "family", "arch") if k not in data]
        if missing:
            raise CardError(f"{source}: missing required field(s) {', '.join(missing)}")
        arch = data["arch"]
        if not isinstance(arch, dict) or "image_size" not in arch or "channels" not in arch:
            raise CardError(f"{source}: 'arch' must give at least image_size and channels")
        problem = card_type_problem(data)
        if problem:
            raise CardError(f"{source}: {problem}")
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in data.items() if k in known})

    def save(self, folder: str | os.PathLike) -> Path:
        """Atomic write, so a crash never leaves a half-written card."""
        return atomic_write_json(Path(folder) / CARD_NAME, self.to_dict())


# The type of every field a card may hold, and of the entries that pages read from `training` and `dataset`: a card
# is untrusted input (anyone can drop a folder into checkpoints/), and a wrong type must become a message, not an
# exception in the middle of the home page.
FIELD_TYPES = {"id": str, "family": str, "arch": dict, "dataset": dict, "title": str, "description": str,
               "training": dict, "metrics": dict, "snapshots": list, "samples": dict, "weights": str, "precision": str,
               "created": str, "assumptions": list, "format_version": int}
NUMBER = (int, float)
TRAINING_TYPES = {"steps_done": int, "total_steps": int, "seconds": NUMBER, "status": str, "device": str,
                  "hparams": dict, "companions": list, "weights_average": dict, "resumed_by": list, "command": str}
DATASET_TYPES = {"name": str, "root": str, "classes": list, "num_images": int}
MAX_CARD_BYTES = 4 * 1024 * 1024
MAX_IMAGE_SIDE = 4096


def _type_name(kind) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    names = {int: "a whole number", float: "a number", str: "text", dict: "an object", list: "a list"}
    return " or ".join(names[k] for k in kinds)


def _wrong(value, kind) -> bool:
    return isinstance(value, bool) or not isinstance(value, kind) if kind in (int, NUMBER) else not isinstance(value, kind)


def card_type_problem(data: dict) -> str | None:
    """What is wrongly typed in a card's JSON (the first thing found), or None."""
    for key, kind in FIELD_TYPES.items():
        if key in data and _wrong(data[key], kind):
            return f"'{key}' must be {_type_name(kind)}, not {type(data[key]).__name__}"
    for section, types in (("training", TRAINING_TYPES), ("dataset", DATASET_TYPES)):
        for key, kind in types.items():
            value = data.get(section, {}).get(key)
            if value is not None and _wrong(value, kind):
                return f"'{section}.{key}' must be {_type_name(kind)}, not {type(value).__name__}"
    for key in ("image_size", "channels"):
        value = data["arch"][key]
        if _wrong(value, int) or not 1 <= value <= (MAX_IMAGE_SIDE if key == "image_size" else 4):
            return f"'arch.{key}' must be a whole number from 1 to {MAX_IMAGE_SIDE if key == 'image_size' else 4}, not {value!r}"
    for snap in data.get("snapshots", []):
        if not isinstance(snap, dict) or _wrong(snap.get("step"), int) or not isinstance(snap.get("metrics", {}), dict):
            return "each entry of 'snapshots' must be an object with a whole-number 'step' (and 'metrics' an object)"
    return None


def read_card(path: str | os.PathLike) -> ModelCard:
    path = Path(path)
    if path.is_dir():
        path = path / CARD_NAME
    if not path.is_file():
        raise CardError(f"no model card at {path}")
    try:
        if path.stat().st_size > MAX_CARD_BYTES:
            raise CardError(f"{path}: the card is larger than {MAX_CARD_BYTES // 2**20} MB")
        data = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as exc:
        raise CardError(f"{path}: not valid JSON ({exc})") from exc
    return ModelCard.from_dict(data, source=str(path))
