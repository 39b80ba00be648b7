"""The live canvas component: the generator runs in the browser (ONNX Runtime Web, WebAssembly) while sliders move.

The built assets in frontend/dist are committed (scripts/build_frontend.sh rebuilds them with npm); Streamlit serves
that folder, and the exported ONNX file of each model is linked into its `models/` subfolder (gitignored) from the
user's cache, so the browser fetches the model once by URL instead of receiving it with every rerun.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import streamlit as st
import streamlit.components.v1 as components

from ganmodels.checkpoint import LoadedModel
from ganmodels.files import atomic_path
from ganmodels.onnx_export import ExportedGenerator, ExportError, export_generator

BUILD_DIR = Path(__file__).resolve().parent / "frontend" / "dist"
SERVED_MODELS = BUILD_DIR / "models"

_component = components.declare_component("live_canvas", path=str(BUILD_DIR))


def built() -> bool:
    """Whether the component's built assets are present (a checkout always has them; a broken one falls back)."""
    return (BUILD_DIR / "index.html").is_file() and (BUILD_DIR / "ort" / "ort-wasm-simd-threaded.wasm").is_file()


def _serve(exported: ExportedGenerator) -> str:
    """Put the cached file where the component's folder serves it (a hard link, else a copy); its URL, relative
    to the component's page."""
    target = SERVED_MODELS / exported.path.name
    if not target.is_file():
        SERVED_MODELS.mkdir(parents=True, exist_ok=True)
        with atomic_path(target) as tmp:
            try:
                os.link(exported.path, tmp)
            except OSError:  # another file system, or links not allowed
                shutil.copyfile(exported.path, tmp)
    return f"models/{target.name}"


@st.cache_resource(show_spinner="Preparing the model for your browser…", max_entries=64)
def _prepare(path: str, stamp: float, _model: LoadedModel) -> tuple[ExportedGenerator, str]:
    exported = export_generator(_model)
    return exported, _serve(exported)


def prepare(model: LoadedModel, stamp: float) -> tuple[ExportedGenerator, str]:
    """The model's export and its URL for the component; ExportError (or OSError) when it cannot be served.
    Cached per model file and modification time; re-served if the served link has gone (a rebuilt dist/)."""
    exported, url = _prepare(str(model.path), stamp, model)
    if not (BUILD_DIR / url).is_file():
        url = _serve(exported)
    return exported, url


def live_canvas(spec: dict, key: str, on_change=None):
    """Draw the component; returns the last state it sent (a dict) or None, which `on_change` can also read from
    st.session_state[key] before the rerun. `spec` is what frontend/src/main.js reads."""
    return _component(**spec, key=key, default=None, on_change=on_change)


__all__ = ["ExportError", "built", "prepare", "live_canvas", "BUILD_DIR"]
