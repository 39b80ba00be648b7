"""What the Home gallery, latent explorer, InfoGAN and compare pages compute, kept free of Streamlit.

Friendly metric labels, sample grids, the explorer's URL state, InfoGAN traversals and the
"same latent through several checkpoints" logic live here so they are tested without a browser.
"""
from __future__ import annotations

import math
import re
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

import torch
from PIL import Image

from .cards import CardError, ModelCard, read_card
from .checkpoint import LoadedModel
from .explore import offsets_from_query, offsets_to_query
from .images import gif_bytes, grid, to_pil, upscale
from .latent import infogan_latent, sample_latents

# --- metrics with labels a non-programmer can read ------------------------------------------

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


# --- the plain first layer of a model card -------------------------------------------------------

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
    from .registry import FAMILIES

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


# --- samples ------------------------------------------------------------------------------------


def latest_grid(folder: str | Path, card: ModelCard) -> Path | None:
    """The progress grid of the latest snapshot that has one on disk (None for dropped-in files)."""
    folder = Path(folder)
    if not folder.is_dir():
        return None
    for snap in sorted(card.snapshots, key=lambda s: s.get("step", 0), reverse=True):
        rel = snap.get("grid")
        if rel and (folder / rel).is_file():
            return folder / rel
    return None


def sample_labels(card: ModelCard, n: int, label: int | None = None) -> torch.Tensor | None:
    """Class labels for a conditional model: the given class, or every class in turn."""
    if card.family not in ("cgan", "acgan"):
        return None
    if label is not None:
        return torch.full((n,), int(label), dtype=torch.long)
    return torch.arange(n) % int(card.arch["num_classes"])


def grid_columns(n: int) -> int:
    return max(1, math.ceil(math.sqrt(n)))


def sample_grid(model: LoadedModel, seed: int = 0, n: int = 25, psi: float | None = None, nrow: int | None = None) -> Image.Image:
    """n samples from a seed as one picture (conditional models cycle through their classes)."""
    images = model.generate(model.latents(seed, n, psi), sample_labels(model.card, n))
    return grid(images, nrow or grid_columns(n))


def numbered_grid(images: torch.Tensor, nrow: int, min_side: int = 360, padding: int = 2) -> Image.Image:
    """A sample grid enlarged to at least `min_side` px with each tile's number (1, 2, ... left to right, top to
    bottom) in its corner, so "pick samples by number" can be followed from the picture alone."""
    from PIL import ImageDraw, ImageFont

    sheet = grid(images, nrow, padding=padding)
    factor = max(1, -(-min_side // min(sheet.size)))
    big = upscale(sheet, min_side).convert("RGB")
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


def walk_gif(images: torch.Tensor, side: int = SLIDE_GIF_SIDE, duration_ms: int = 120) -> bytes:
    """An interpolation walk as a looping GIF whose frames are at least `side` px, enlarged crisply."""
    return gif_bytes([upscale(to_pil(img), side) for img in images], duration_ms=duration_ms)


WALK_SEEDS = 8  # a presenter's walk visits seeds start .. start+7, then returns to start: a loop with no jump
WALK_STEPS = 12  # frames from one seed to the next


def walk_frame(model: LoadedModel, frame: int, psi: float | None = None, start: int = 0, seeds: int = WALK_SEEDS,
               steps: int = WALK_STEPS) -> tuple[torch.Tensor, int, int]:
    """The latent of frame `frame` of an endless loop through latent space, along the sphere (slerp) from seed to
    seed; returns (1×D latent, seed walked from, seed walked to)."""
    from .latent import slerp

    leg, step = divmod(int(frame) % (seeds * steps), steps)
    here, there = start + leg, start + (leg + 1) % seeds
    a, b = model.latents(here, 1, psi), model.latents(there, 1, psi)
    return slerp(a, b, step / steps), here, there


# --- latent explorer state in the URL ------------------------------------------------------------

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
    if card.family in ("cgan", "acgan"):
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


# --- InfoGAN ------------------------------------------------------------------------------------


def infogan_codes(card: ModelCard) -> dict:
    """Names of the categorical code and of each continuous code, from the card (defaults c1, c2...)."""
    arch = card.arch
    names = arch.get("code_names") or {}
    k = int(arch["num_continuous"])
    cont = list(names.get("continuous") or [])
    return {"categorical": names.get("categorical") or "category", "num_categories": int(arch["num_categories"]),
            "continuous": [str(cont[i]) if i < len(cont) else f"c{i + 1}" for i in range(k)]}


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


def infogan_noise(card: ModelCard, seed: int) -> torch.Tensor:
    """The 1×z_dim noise part for a seed (the same numbers the explorer uses)."""
    return sample_latents(seed, 1, int(card.arch["z_dim"]))


def infogan_input(card: ModelCard, noise: torch.Tensor, category: int, continuous) -> torch.Tensor:
    """[noise | one-hot category | continuous codes] for one image."""
    cont = torch.as_tensor(list(continuous), dtype=torch.float32).reshape(1, -1)
    return infogan_latent(noise.reshape(1, -1), int(category), cont, int(card.arch["num_categories"]))


def traversal_latents(card: ModelCard, noise: torch.Tensor, code_index: int | None, values, base_continuous) -> tuple[torch.Tensor, int]:
    """Rows = every category value, columns = `values` of one continuous code (the others fixed at `base_continuous`).

    `code_index` None gives one column per row (models without continuous codes). Returns (latents, images per row).
    """
    k = int(card.arch["num_categories"])
    values = [float(v) for v in values] if code_index is not None else [0.0]
    cols = len(values)
    base = torch.as_tensor(list(base_continuous), dtype=torch.float32).reshape(1, -1)
    cont = base.repeat(k * cols, 1)
    if code_index is not None:
        if not 0 <= code_index < cont.shape[1]:
            raise ValueError(f"continuous code {code_index} does not exist (the model has {cont.shape[1]})")
        cont[:, code_index] = torch.tensor(values).repeat(k)
    categories = torch.arange(k).repeat_interleave(cols)
    return infogan_latent(noise.reshape(1, -1).expand(k * cols, -1), categories, cont, k), cols


# --- comparing checkpoints and snapshots -------------------------------------------------------


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
        out.append(CompareEntry(label, str(path), card.id, None, final_step, dict(card.metrics), dataset=dataset))
        for snap in sorted(card.snapshots, key=lambda s: s.get("step", 0)):
            weights = snap.get("weights")
            if not weights or weights == card.weights:
                continue  # dropped when published, or the final generator itself
            out.append(CompareEntry(f"{card.id} @ step {snap.get('step')}", str(path), card.id, weights,
                                    snap.get("step"), dict(snap.get("metrics") or {}), dataset=dataset))
    return out


def latent_layout(model: LoadedModel) -> tuple:
    """Models with the same layout can take literally the same latent tensor."""
    arch = model.card.arch
    if model.card.family == "infogan":
        return ("infogan", arch["z_dim"], arch["num_categories"], arch["num_continuous"])
    return ("noise", model.latent_size)


@dataclass
class CompareSamples:
    latents: torch.Tensor | None
    labels: torch.Tensor | None
    shared: bool  # exactly the latent of the reference column
    note: str


def compare_samples(models: list[LoadedModel | None], seed: int, n: int) -> list[CompareSamples | None]:
    """The same seed for every model; the same latent tensor wherever the layout allows it.

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
        labels = sample_labels(model.card, n)
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


# --- sample sheets stored with a shipped checkpoint -----------------------------------------------

TRAVERSAL_VALUES = (-2.0, -1.0, 0.0, 1.0, 2.0)


def write_sample_sheets(model: LoadedModel, folder: str | Path, seed: int = 0) -> dict[str, str]:
    """Sample pictures a card points to: a 10x10 grid and, for InfoGAN, one traversal per continuous code.

    InfoGAN's traversals (rows: category, columns: code from -2 to 2) are how a reader checks
    what each code learned, e.g. slant and width on MNIST. Returns {name: path relative to folder}.
    """
    folder = Path(folder)
    (folder / "samples").mkdir(parents=True, exist_ok=True)
    sheets = {"grid": "samples/grid.png"}
    sample_grid(model, seed, 100, nrow=10).save(folder / sheets["grid"])
    if model.card.family == "infogan":
        codes = infogan_codes(model.card)
        noise = infogan_noise(model.card, seed)
        base = [0.0] * len(codes["continuous"])
        for index, name in enumerate(codes["continuous"]):
            latents, cols = traversal_latents(model.card, noise, index, TRAVERSAL_VALUES, base)
            rel = f"samples/traversal_c{index + 1}.png"
            grid(model.generate(latents), cols).save(folder / rel)
            sheets[f"traversal of {name}"] = rel
    return sheets
