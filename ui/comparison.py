"""The compare page's logic: the entries it offers (final weights and kept snapshots), the same latent through
several checkpoints wherever their layouts allow it, and the metric rows of the chosen entries. Free of Streamlit."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch

from ganmodels.cards import CardError, read_card
from ganmodels.checkpoint import LoadedModel
from ganmodels.registry import FAMILIES
from ganmodels.samples import sample_labels
from ui.explorer_state import class_names
from ui.metric_text import METRICS, numeric_metrics


@dataclass
class CompareEntry:
    """One choice on the compare page: a model's final weights or one of its snapshots."""

    label: str
    path: str
    model_id: str
    weights: str | None = None  # None = the card's own (final) weights
    step: int | None = None
    metrics: dict = field(default_factory=dict)
    error: str | None = None
    dataset: str = ""  # what its metrics were measured against: distances on different datasets do not compare
    classes: list[str] = field(default_factory=list)  # a conditional model's class names (empty otherwise)


def compare_entries(catalogue: list[dict]) -> list[CompareEntry]:
    """'id @ final' for every checkpoint, then 'id @ step N' for each snapshot whose weights were kept."""
    out = []
    for item in catalogue:
        path = Path(item["path"])
        if item.get("error") or not path.is_dir():
            out.append(CompareEntry(f"{item['id']} @ final", str(path), item["id"], error=item.get("error")))
            continue
        try:
            card = read_card(path)
        except CardError as exc:
            out.append(CompareEntry(f"{item['id']} @ final", str(path), item["id"], error=str(exc)))
            continue
        final_step = card.training.get("steps_done")
        average = card.training.get("weights_average")
        if average:
            label = f"{card.id} @ final (mean of steps {average['from_step']}-{average['to_step']})"
        else:
            label = f"{card.id} @ final" + (f" (step {final_step})" if final_step else "")
        dataset = str(card.dataset.get("name", ""))
        family = FAMILIES.get(card.family)
        classes = class_names(card) if family is not None and family.conditional else []
        out.append(CompareEntry(label, str(path), card.id, None, final_step, dict(card.metrics), dataset=dataset,
                                classes=classes))
        for snap in sorted(card.snapshots, key=lambda s: s.get("step", 0)):
            weights = snap.get("weights")
            if not weights or weights == card.weights:
                continue  # dropped when published, or the final generator itself
            out.append(CompareEntry(f"{card.id} @ step {snap.get('step')}", str(path), card.id, weights,
                                    snap.get("step"), dict(snap.get("metrics") or {}), dataset=dataset, classes=classes))
    return out


def latent_layout(model: LoadedModel) -> tuple:
    """Models with the same layout can take literally the same latent tensor."""
    return model.family.latent_layout(model.card.arch)


@dataclass
class CompareSamples:
    latents: torch.Tensor | None
    labels: torch.Tensor | None
    shared: bool  # exactly the latent of the reference column
    note: str


def compare_samples(models: list[LoadedModel | None], seed: int, n: int, label: int | None = None) -> list[CompareSamples | None]:
    """The same seed for every model; the same latent tensor wherever the layout allows it. Conditional models draw
    class `label` where they have it, else every class in turn.

    The reference layout is the first image model's. None models (failed loads) give None.
    """
    reference = next((m for m in models if m is not None and not m.family.translator), None)
    ref_layout = latent_layout(reference) if reference is not None else None
    ref_latents = reference.latents(seed, n) if reference is not None else None
    out: list[CompareSamples | None] = []
    for model in models:
        if model is None:
            out.append(None)
            continue
        if model.family.translator:
            out.append(CompareSamples(None, None, False, "A CycleGAN turns photos into photos; it takes no latent, so it is skipped here."))
            continue
        has_label = label is not None and 0 <= label < int(model.card.arch.get("num_classes") or 0)
        labels = sample_labels(model.card, n, label if has_label else None)
        if latent_layout(model) == ref_layout:
            note = "Same latent as the other columns." if model is not reference else f"Reference latent: seed {seed}."
            out.append(CompareSamples(ref_latents, labels, True, note))
        else:
            out.append(CompareSamples(model.latents(seed, n), labels, False,
                                      f"Same seed, but this model takes {model.latent_size} numbers instead of "
                                      f"{reference.latent_size}, so its latent differs."))
    return out


def metric_rows(entries: list[CompareEntry]) -> list[dict]:
    """One row per entry: its label plus every scalar metric (what st.dataframe and metric_bars take)."""
    return [{"label": e.label, **numeric_metrics(e.metrics)} for e in entries]


def metric_choices(rows: list[dict]) -> list[str]:
    """Metrics present in at least one row, best-known first."""
    present = {k for r in rows for k in r if k != "label"}
    known = [k for k in METRICS if k in present]
    return known + sorted(present - set(known))
