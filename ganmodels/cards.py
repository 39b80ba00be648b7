"""Model cards: the JSON beside every checkpoint that says what it is, how it was made and how good it is."""
from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

CARD_NAME = "card.json"
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
        a = self.arch
        out = {"z_dim": a.get("z_dim", 0)}
        if a.get("num_classes") and self.family in ("cgan", "acgan"):
            out["num_classes"] = a["num_classes"]
        if self.family == "infogan":
            out["codes"] = {"categorical": a["num_categories"], "continuous": a["num_continuous"], "names": a.get("code_names", {})}
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
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in data.items() if k in known})

    def save(self, folder: str | os.PathLike) -> Path:
        """Atomic write, so a crash never leaves a half-written card."""
        path = Path(folder) / CARD_NAME
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(self.to_dict(), indent=1, sort_keys=False) + "\n")
        os.replace(tmp, path)
        return path


def read_card(path: str | os.PathLike) -> ModelCard:
    path = Path(path)
    if path.is_dir():
        path = path / CARD_NAME
    if not path.is_file():
        raise CardError(f"no model card at {path}")
    try:
        data = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CardError(f"{path}: not valid JSON ({exc})") from exc
    return ModelCard.from_dict(data, source=str(path))
