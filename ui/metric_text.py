"""Measured quality in words a visitor can read: friendly metric labels, help and formatting, and the plain
one-paragraph summary of a model card. Free of Streamlit, so it is tested without a browser."""
from __future__ import annotations

import math
import re
from typing import Mapping

from ganmodels.cards import ModelCard
from ganmodels.registry import FAMILIES


# key -> (label, how to format, explanation). Order here is display order.
METRICS: dict[str, tuple[str, str, str]] = {
    "classifier_fid": ("Distance to real images (FID)", "number",
                       "Fréchet distance between features of generated and real test images, measured with the "
                       "project's own classifier. Lower is better."),
    "fid_to_floor": ("Distance compared with real data", "times",
                     "How far the pictures are from real ones, as a multiple of how far two sets of real images are from "
                     "each other (FID divided by that real-data FID): 1x would be as close as real data gets; lower is "
                     "better."),
    "coverage_entropy_ratio": ("Variety across classes", "percent",
                               "How evenly samples spread over the classes (100% = every class equally often). "
                               "Low values mean mode collapse."),
    "conditional_accuracy": ("Draws the class you ask for", "percent",
                             "Share of samples that a classifier recognises as the requested class."),
    "code_purity": ("Code matches a real class", "percent",
                    "How well the unsupervised categorical code lines up one-to-one with the real classes."),
    "test_accuracy": ("Classifier accuracy (semi-supervised)", "percent",
                      "Test accuracy of the GAN's discriminator used as a classifier, trained with few labels."),
    "baseline_test_accuracy": ("Plain classifier, same labels", "percent",
                               "Test accuracy of an ordinary classifier trained on the same few labels, for comparison."),
    "classifier_fid_floor": ("Real-vs-real floor (FID)", "number",
                             "FID between real training and real test images: the best any generator can score."),
}


# Figures that are bookkeeping, not quality.
NOT_QUALITY = {"samples", "eval_seconds", "evaluated", "command", "output_min", "output_max", "coverage_entropy",
               "labelled_images", "class_histogram", "code_confusion", "code_to_class", "test_images"}


_TRANSLATION = re.compile(r"^(target_rate|source_rate_before|cycle_l1)_(a2b|b2a)_(\d+)px(_blend)?$")


def _domains(card: ModelCard | None) -> dict:
    return (card.arch.get("domains") if card else None) or {"a": "A", "b": "B"}


def metric_label(key: str, card: ModelCard | None = None) -> str:
    """The friendly label of a metric key (translation metrics name their domains)."""
    if key in METRICS:
        return METRICS[key][0]
    m = _TRANSLATION.match(key)
    if m:
        kind, direction, size, blend = m.groups()
        d = _domains(card)
        src, dst = (d["a"], d["b"]) if direction == "a2b" else (d["b"], d["a"])
        if kind == "source_rate_before":
            return f"{src} photos recognised as {src} before translation ({size} px)"
        # above the training size a photo is translated by scale blend (as the app does) or in one direct pass
        way = ", scale blend" if blend else (", one pass" if card and int(size) > card.image_size else "")
        if kind == "target_rate":
            return f"{src} → {dst} photos that look like {dst} ({size} px{way})"
        return f"{src} → {dst} → {src} round-trip error ({size} px{way})"
    return key.replace("_", " ")


def metric_help(key: str) -> str:
    if key in METRICS:
        return METRICS[key][2]
    if key.startswith("target_rate"):
        return "Share of translated test photos that a reference classifier assigns to the target domain. Higher is better."
    if key.startswith("source_rate_before"):
        return "The same classifier on the untranslated photos: how well it recognises their own domain."
    if key.startswith("cycle_l1"):
        return "Mean pixel difference after translating there and back (on a -1..1 scale). Lower is better."
    return ""


def metric_kind(key: str) -> str:
    """'percent' for shares, 'times' for ratios, else 'number' (how tables and tiles format it)."""
    if key in METRICS:
        return METRICS[key][1]
    return "percent" if "rate" in key or "accuracy" in key else "number"


def format_metric(key: str, value) -> str:
    kind = metric_kind(key)
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return str(value)
    if kind == "percent":
        return f"{0.0 if abs(value) < 5e-4 else value:.1%}"  # never "-0.0%"
    if kind == "times":
        return f"{value:.3g}x"
    return f"{value:.4g}"


def numeric_metrics(metrics: Mapping | None) -> dict[str, float]:
    """Scalar quality figures only (no histograms, timings or commands)."""
    out = {}
    for key, value in (metrics or {}).items():
        if key in NOT_QUALITY or isinstance(value, bool) or not isinstance(value, (int, float)):
            continue
        if isinstance(value, float) and not math.isfinite(value):
            continue
        out[key] = float(value)
    return out


def quality_figures(metrics: Mapping | None, card: ModelCard | None = None, include_floor: bool = False) -> list[dict]:
    """Display rows {key, label, text, help, value} for a card's metrics, best-known figures first."""
    values = numeric_metrics(metrics)
    if not include_floor:
        values.pop("classifier_fid_floor", None)
    order = [k for k in METRICS if k in values]
    order += sorted(k for k in values if k not in METRICS and k.startswith(("target_rate", "cycle_l1")))
    order += sorted(k for k in values if k not in order and not k.startswith("source_rate_before"))
    return [{"key": k, "label": metric_label(k, card), "value": values[k], "text": format_metric(k, values[k]),
             "help": metric_help(k)} for k in order]


# --- the plain first layer of a model card --------------------------------------------------------

DATASET_WORDS = {"mnist": "handwritten digits", "fashion-mnist": "pictures of clothes and shoes",
                 "cifar10": "small colour photos"}


def quality_words(ratio: float) -> str:
    """How a distance-to-real ratio (fid_to_floor) reads to someone who has never heard of FID."""
    if ratio <= 3:
        return "very hard to tell from real ones"
    if ratio <= 20:
        return "clearly recognisable, with small flaws"
    if ratio <= 200:
        return "recognisable but rough"
    return "rough"


def _best_translation_rate(metrics: Mapping, direction: str) -> float | None:
    """The target rate of the largest size measured, scale blend (as the app translates) preferred."""
    found = []
    for key, value in metrics.items():
        m = _TRANSLATION.match(key)
        if m and m.group(1) == "target_rate" and m.group(2) == direction:
            found.append((int(m.group(3)), bool(m.group(4)), value))
    return max(found)[2] if found else None


def plain_summary(card: ModelCard) -> str:
    """One or two sentences for a visitor: what the model makes and how good it is, in everyday words. The card's
    own description and training details are for the curious."""
    family = FAMILIES.get(card.family)
    metrics = numeric_metrics(card.metrics)
    if family is not None and family.translator:
        d = _domains(card)
        text = f"Turns photos of {d['a']}s into {d['b']}s, and {d['b']}s into {d['a']}s."
        rate = _best_translation_rate(metrics, "a2b")
        if rate is not None:
            text += f" A reference classifier takes {rate:.0%} of its new {d['b']}s for real {d['b']} photos."
        return text
    dataset = str(card.dataset.get("name", ""))
    what = DATASET_WORDS.get(dataset, f"pictures like the {dataset or 'training'} images")
    if "test_accuracy" in metrics:
        labels = int(metrics.get("labelled_images") or card.training.get("hparams", {}).get("labels") or 100)
        text = (f"Recognises {what} after seeing only {labels} labelled examples: right {metrics['test_accuracy']:.0%} "
                "of the time")
        base = metrics.get("baseline_test_accuracy")
        text += (f", where an ordinary classifier given the same labels manages {base:.0%}." if base is not None else ".")
        return text + " (Its generator only served as a sparring partner during training.)"
    text = f"Draws {what} from random numbers" + ("; you choose which kind." if family and family.conditional else ".")
    purity = metrics.get("code_purity")
    if purity is not None:
        text += (f" Without ever seeing a label it found its own switch for the kind of {what[:-1] if what.endswith('s') else what}: "
                 f"{purity:.0%} agreement with the real classes.")
    ratio = metrics.get("fid_to_floor")
    if ratio is not None:
        text += (f" Its pictures are {quality_words(ratio)}: they are {ratio:.3g} times as far from real images as "
                 "two sets of real images are from each other (1 would be perfect).")
    return text


def category_meaning(card: ModelCard) -> dict[int, str]:
    """Which real class each categorical value drew most often, when the card's evaluation found it."""
    mapping = (card.metrics or {}).get("code_to_class") or {}
    names = list(card.dataset.get("classes") or [])
    out = {}
    for code, cls in mapping.items():
        try:
            code, cls = int(code), int(cls)
        except (TypeError, ValueError):
            continue
        out[code] = str(names[cls]) if 0 <= cls < len(names) else str(cls)
    return out
