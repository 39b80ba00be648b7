"""Bring your own image: a drawn or uploaded picture becomes the latent the model draws closest to it."""
from __future__ import annotations

from typing import Callable

import streamlit as st
import torch

from ganmodels import inversion
from ganmodels.checkpoint import LoadedModel
from ganmodels.images import ImageDecodeError, to_pil, upscale
from ui.common import picture_smoothing

CANVAS_SIDE = 280
SHOWN_SIDE = 168  # target and reconstruction, side by side
# Longest the app lets one inversion run on a busy server; it stops with the best latent found so far.
TIME_LIMIT_S = 2.5
UPLOAD_TYPES = ["png", "jpg", "jpeg", "webp", "bmp", "gif"]
MAX_UPLOAD_MB = 10  # refused by the browser and the server before it is read; a phone photo fits
STATE = "lx_inversion"


@st.cache_resource(show_spinner=False, max_entries=16)
def _style(path: str, card_id: str, _model: LoadedModel) -> inversion.TargetStyle:
    """How the model's pictures look, measured once per model."""
    return inversion.target_style(_model)


def _canvas_png(model_id: str) -> bytes | None:
    """The drawing as PNG bytes, or None before anything is drawn; says so when the canvas cannot be shown."""
    try:
        from streamlit_drawable_canvas import st_canvas
    except Exception as exc:  # the component missing or refused by this Streamlit: uploads still work
        st.info(f"The drawing canvas is unavailable here ({type(exc).__name__}); upload a picture instead.")
        return None
    st.caption("Draw one digit or garment, light on dark, filling most of the square.")
    result = st_canvas(stroke_width=22, stroke_color="#ffffff", background_color="#000000", height=CANVAS_SIDE,
                       width=CANVAS_SIDE, drawing_mode="freedraw", return_image_data=True, key=f"lx_canvas_{model_id}")
    if not result.json_data or not result.json_data.get("objects"):
        return None
    return result.image_bytes


def _picture_bytes(model_id: str) -> tuple[bytes | None, str]:
    source = st.radio("Picture from", ("Draw", "Upload"), horizontal=True, key="lx_own_source")
    if source == "Draw":
        return _canvas_png(model_id), "your drawing"
    upload = st.file_uploader("Upload a picture of one digit or garment", type=UPLOAD_TYPES, key="lx_own_upload",
                              max_upload_size=MAX_UPLOAD_MB,
                              help=f"A photo or scan up to {MAX_UPLOAD_MB} MB; it is shrunk to the model's size.")
    return (upload.getvalue(), f"the picture {upload.name}") if upload is not None else (None, "")


def _find(model: LoadedModel, data: bytes, source: str, fit: bool) -> None:
    """Decode, shape and invert; the result (or a message saying why not) goes into session state."""
    st.session_state[STATE] = None
    try:
        decoded = inversion.decode_target(data)
        style = _style(str(model.path), model.card.id, model)
        target = inversion.prepare_target(decoded.image, style, fit=fit)
        found = inversion.invert(model, target.image, time_limit=TIME_LIMIT_S)
    except (ImageDecodeError, inversion.InversionError) as exc:
        st.session_state[STATE] = {"model": model.card.id, "error": str(exc)}
        return
    except Exception as exc:  # a dropped-in generator can fail in its own ways: a message, never a traceback
        st.session_state[STATE] = {"model": model.card.id, "error": f"The search failed ({type(exc).__name__}: {exc})."}
        return
    st.session_state[STATE] = {"model": model.card.id, "source": source, "found": found,
                               "target": to_pil(target.image[0]), "notes": decoded.notes + target.notes}


@st.fragment
def own_image_section(model: LoadedModel, explore_from: Callable[[torch.Tensor, int | None, str], None]) -> None:
    """Draw or upload a picture, find the latent closest to it, show target, reconstruction and distance, and hand the
    latent (and class) to `explore_from(latent, label, source)` when the user asks to explore from it."""
    card = model.card
    if model.family.translator:
        st.info("This model translates photos; it has no latent to find.")
        return
    data, source = _picture_bytes(card.id)
    fit = st.checkbox("Centre and scale the subject as the model's pictures are", value=True, key="lx_own_fit",
                      help="Crops to what you drew and scales it to fill as much of the frame as the model's own pictures do.")
    if st.button("Find its latent", icon=":material/search:", key="lx_own_find", disabled=data is None,
                 help="Tries many latents at once, then refines the closest few; a few seconds at most."):
        with st.spinner("Searching the latent space for the closest picture…"):
            _find(model, data, source, fit)
    result = st.session_state.get(STATE)
    if not result or result["model"] != card.id:
        return
    if "error" in result:
        st.error(result["error"])
        return
    found: inversion.Inversion = result["found"]
    target_col, found_col = st.columns(2)
    smoothing = picture_smoothing(card)
    with target_col:
        st.image(upscale(result["target"], SHOWN_SIDE, smoothing), caption=f"Target: {result['source']} as the model sees it",
                 width=SHOWN_SIDE, output_format="PNG")
    with found_col:
        label_note = ""
        if found.label is not None:
            names = list(card.dataset.get("classes") or [])
            label_note = f", class {names[found.label] if found.label < len(names) else found.label}"
        st.image(upscale(to_pil(found.image[0]), SHOWN_SIDE, smoothing), caption=f"Closest the model draws{label_note}",
                 width=SHOWN_SIDE, output_format="PNG")
    st.metric("Distance", f"{found.distance:.3f}",
              help="Root-mean-square pixel difference on a 0-1 scale: 0 is identical, about 0.1 looks alike.")
    notes = "; ".join(result["notes"])
    st.caption(f"{found.candidates} latents tried, the closest {found.refined} refined for {found.steps} steps in "
               f"{found.seconds:.1f} s." + (f" {notes[:1].upper()}{notes[1:]}." if notes else ""))
    if st.button("Explore from this latent", icon=":material/tune:", key="lx_own_explore",
                 on_click=explore_from, args=(found.latent, found.label, f"your picture ({result['source']})")):
        st.rerun()  # the callback stored the latent; the explorer's picture lives in another fragment
