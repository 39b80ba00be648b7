"""GAN Studio's home page (the default page of app.py's navigation): what a GAN is, the other pages, and a gallery
of every model with samples and measured quality."""
from __future__ import annotations

import io
from pathlib import Path

import streamlit as st
from PIL import Image

from ganmodels import samples
from ganmodels.device import describe_device
from ganmodels.images import png_bytes, upscale
from ganmodels.files import modified_ns
from ganmodels.registry import FAMILIES
from ui import navigation
from ui import metric_text
from ui.common import (checkpoint_root, device, gallery_order, get_model, model_catalogue, picture_smoothing, sidebar_header,
                       smoothing_control, without_root)

st.set_page_config(page_title="GAN Studio", layout="wide")

TILES_PER_ROW = 3


@st.cache_data(show_spinner="Drawing samples…", max_entries=64)
def generated_grid_png(path: str, stamp: int, _model) -> bytes:
    """5x5 samples from seed 0, for models whose folder has no progress grid; keyed by path and card time."""
    return png_bytes(samples.sample_grid(_model, seed=0, n=25, nrow=5))


def tile(entry: dict) -> None:
    """One model: title, what it is, a sample grid and its quality figures. Failures stay inside the tile."""
    st.subheader(entry["title"])
    if entry["error"]:
        st.error(f"This checkpoint's card is broken: {entry['error']}")
        return
    model = get_model(entry["path"])  # shows the reason in this tile when it fails
    if model is None:
        st.caption(f"`{entry['id']}` · {entry['family']}")
        return
    card = model.card
    family = FAMILIES[card.family]
    st.markdown(metric_text.plain_summary(card))

    path = Path(entry["path"])
    grid_path = samples.latest_grid(path, card)
    if grid_path is not None:
        step = grid_path.stem.rsplit("_", 1)[-1].lstrip("0") or "0"
        caption = f"Fixed test inputs at step {step}" + (" (rows: A, A→B, B, B→A)" if family.translator else "")
        st.image(upscale(_open(grid_path), 300, picture_smoothing(card)), caption=caption, width="stretch", output_format="PNG")
    elif family.translator:
        st.info("This model translates photos rather than drawing from random numbers; try it on the CycleGAN page.")
    else:
        try:
            data = generated_grid_png(str(path), modified_ns(path), model)
        except Exception as exc:  # a generator that loads but cannot run: say so here, keep the gallery going
            st.error(f"Sampling this model failed ({type(exc).__name__}: {exc}).")
        else:
            st.image(upscale(_open_bytes(data), 300, picture_smoothing(card)), caption="25 samples from seed 0", width="stretch", output_format="PNG")

    for page in navigation.TOOLS:
        if page.link_label and page.accepts(family, card.arch):
            st.page_link(page.path, label=page.link_label, icon=":material/arrow_forward:", query_params={"model": card.id})

    with st.expander("For the curious: how it was made and measured"):
        dataset = card.dataset.get("name", "unknown data")
        st.caption(f"{family.title} · trained on {dataset} · `{card.id}`")
        if card.description:
            st.write(card.description)
        training_note(card)
        figures = metric_text.quality_figures(card.metrics, card)
        if figures:
            st.markdown("\n".join(f"- **{f['label']}**: {f['text']}" for f in figures),
                        help="How these are measured: " + " ".join(f"{f['label']}: {f['help']}" for f in figures if f["help"]))
        else:
            st.caption("Not measured yet.")


def training_note(card) -> None:
    """Steps, time and device of the training, and the snapshot window when the model ships a mean of snapshots."""
    training = card.training or {}
    steps = training.get("steps_done")
    if not steps:
        return
    minutes = (training.get("seconds") or 0) / 60
    where = training.get("device", "")
    status = training.get("status")
    note = f"Trained {steps:,} steps" + (f" in {minutes:.0f} min on {where}" if minutes >= 1 else "")
    if status and status != "finished":
        note += f" ({status})"
    average = training.get("weights_average")
    if isinstance(average, dict) and {"from_step", "to_step"} <= average.keys():
        note += f"; shipped as the mean of its snapshots from step {average['from_step']:,} to {average['to_step']:,}"
    st.caption(note)


def _open(path: Path) -> Image.Image:
    with Image.open(path) as img:
        return img.convert("RGB") if img.mode not in ("L", "RGB") else img.copy()


def _open_bytes(data: bytes) -> Image.Image:
    return Image.open(io.BytesIO(data))


st.title("GAN Studio")
st.markdown(
    "A **generative adversarial network (GAN)** is two neural networks trained against each other: a *generator* "
    "turns random numbers into pictures, and a *discriminator* tries to tell its pictures from real ones.  \n"
    "As they compete, the generator learns to draw convincing images. Here you can play with trained generators, "
    "see how they learned, and compare them."
)
sidebar_header()
smoothing_control()
st.caption(f"Models run on: {describe_device(device())}")

st.subheader("What you can do")
link_cols = st.columns(3)
for i, page in enumerate(navigation.TOOLS):
    with link_cols[i % len(link_cols)]:
        st.page_link(page.path, label=page.title, icon=":material/open_in_new:", help=page.note or None)
        if page.note:
            st.caption(page.note)

st.header("Models")
root = checkpoint_root()
catalogue = gallery_order(model_catalogue(str(root)))
if not catalogue:
    st.warning("No checkpoints found. Train a model and publish it into checkpoints/ (see the README), "
               "or drop a generator file (.safetensors or .pth) into that folder.")
for start in range(0, len(catalogue), TILES_PER_ROW):
    cols = st.columns(TILES_PER_ROW)
    for col, entry in zip(cols, catalogue[start : start + TILES_PER_ROW]):
        with col.container(border=True):
            try:
                tile(entry)
            except Exception as exc:  # noqa: BLE001 - a value no check foresaw: this tile says so, the next ones draw
                st.error(f"This model cannot be shown: its card holds a value of an unexpected kind "
                         f"({type(exc).__name__}: {without_root(exc)}).")
