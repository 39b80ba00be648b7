"""Is it copying? The training images nearest to the picture on screen, by the reference classifier and by pixels."""
from __future__ import annotations

import time
from typing import Callable

import streamlit as st
import torch

from ganmodels import latent_directions, nearest
from ganmodels.checkpoint import LoadedModel
from ganmodels.images import to_pil, upscale
from ui import explorer_state
from ui.common import picture_smoothing

NEIGHBOURS = 5
STATE = "lx_nearest"


@st.cache_resource(show_spinner=False, max_entries=2)
def _index(dataset: str, data_root: str | None, cache_name: str) -> nearest.TrainingIndex:
    """One index per dataset and process; `cache_name` holds the fingerprint, so a changed classifier or data reloads."""
    return nearest.training_index(dataset, data_root)


def _data_root(model: LoadedModel) -> str | None:
    return model.card.dataset.get("root") or None


def _row(neighbours: list[nearest.Neighbour], names: list[str], unit: str, smoothing: str) -> None:
    for col, n in zip(st.columns(len(neighbours)), neighbours):
        name = names[n.label] if n.label < len(names) else str(n.label)
        col.image(upscale(to_pil(n.image), 112, smoothing), caption=f"#{n.index} · {name} · {unit} {n.distance:.3f}", output_format="PNG")


def shown_picture(model: LoadedModel, directions: Callable[[int | None], torch.Tensor]) -> torch.Tensor:
    """The explorer's picture (C×H×W) as its URL holds it, which both drawing paths keep exact; `directions(label)`
    gives the principal directions, and when it fails the offsets move raw dimensions, as the explorer does."""
    state = explorer_state.explorer_state_from_query(st.query_params.to_dict(), model.card)
    if state.token:
        base = explorer_state.latent_from_token(state.token, model.latent_size)
    else:
        base = model.latents(state.seed, 1, explorer_state.psi_value(state.psi))
    moves = None
    if state.mode == "principal":
        try:
            moves = directions(state.label)
        except Exception:  # the explorer falls back to raw sliders the same way
            moves = None
    latent = latent_directions.apply_offsets(base, state.offsets, moves)
    return model.generate(latent, None if state.label is None else [state.label])[0]


@st.fragment
def nearest_images_section(model: LoadedModel, directions: Callable[[int | None], torch.Tensor]) -> None:
    """The nearest training images of the explorer's picture; `directions` as for shown_picture."""
    card = model.card
    dataset = card.dataset.get("name")
    try:
        cache_file = nearest.cache_file_for(dataset, _data_root(model)) if dataset else None
    except nearest.NearestError as exc:
        st.info(f"Nearest training images cannot be shown for this model: {exc}")
        return
    except Exception as exc:  # an unknown dataset name, unreadable files: a message, never a traceback
        st.info(f"Nearest training images cannot be shown for this model ({type(exc).__name__}: {exc}).")
        return
    if cache_file is None:
        st.info("Nearest training images cannot be shown: this model's card does not say which dataset it learned from.")
        return
    st.caption(f"A model that copies its {dataset} training images would draw pictures almost identical to some of "
               "them. These are the 5 training images closest to the picture above: by the reference classifier's "
               "features (what the picture shows) and by pixels (how it looks). Small pixel distances to one image "
               "suggest copying; similar-looking but distinct neighbours suggest the model learned to draw.")
    if st.button("Find the nearest training images", icon=":material/image_search:", key="lx_nearest_find"):
        try:
            picture = shown_picture(model, directions)
        except explorer_state.LatentFileError as exc:
            st.session_state[STATE] = {"model": card.id, "error": f"The picture on screen could not be rebuilt: {exc}"}
        else:
            _look_up(model, dataset, picture, cache_file)
    result = st.session_state.get(STATE)
    if not result or result["model"] != card.id:
        return
    if "error" in result:
        st.info(result["error"])
        return
    names = list(card.dataset.get("classes") or [])
    smoothing = picture_smoothing(card)
    st.image(upscale(result["query"], 112, smoothing), caption="The picture checked", output_format="PNG")
    st.markdown("**Closest by the reference classifier's features** (distance between 128-number descriptions)")
    _row(result["features"], names, "feature distance", smoothing)
    st.markdown("**Closest in pixels** (root-mean-square difference, 0-1 scale)")
    _row(result["pixels"], names, "pixel distance", smoothing)
    st.caption(f"Searched all {result['count']:,} training images in {result['ms']:.0f} ms.")


def _look_up(model: LoadedModel, dataset: str, picture: torch.Tensor, cache_file) -> None:
    """Fill st.session_state[STATE] with the neighbours of `picture` (C×H×W), or with why there are none."""
    card = model.card
    building = not cache_file.is_file()
    try:
        spinner = (f"Describing every {dataset} training image with the reference classifier, once; this takes about a "
                   "minute and is kept for next time…") if building else "Loading the training images…"
        with st.spinner(spinner):
            index = _index(dataset, _data_root(model), cache_file.name)
        started = time.perf_counter()
        by_features = index.in_features(picture, NEIGHBOURS)
        by_pixels = index.in_pixels(picture, NEIGHBOURS)
        ms = (time.perf_counter() - started) * 1000
    except nearest.NearestError as exc:
        st.session_state[STATE] = {"model": card.id, "error": str(exc)}
        return
    except Exception as exc:  # unreadable cache folder, memory: a message, never a traceback
        st.session_state[STATE] = {"model": card.id, "error": f"The lookup failed ({type(exc).__name__}: {exc})."}
        return
    st.session_state[STATE] = {"model": card.id, "query": to_pil(picture), "features": by_features, "pixels": by_pixels,
                               "count": len(index.images), "ms": ms}
