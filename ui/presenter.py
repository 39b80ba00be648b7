"""Presenter mode: for a projector or a screen left running at a stand. Turned on by ?present=1 or the sidebar
toggle; big pictures and text, no sidebar, and a slow automatic walk (through latent space on the Latent explorer,
through the training snapshots on Training progress) that loops until someone takes over."""
from __future__ import annotations

from pathlib import Path

import streamlit as st
from PIL import Image

from ganmodels.images import to_pil, upscale
from ui import slide_pictures

STATE = "presenter"
FRAME_SECONDS = 1.0  # a slow walk: 12 frames from one seed to the next
SNAPSHOT_SECONDS = 2.0
PICTURE_SIDE = 560

STYLE = """<style>
[data-testid="stSidebar"], [data-testid="stSidebarCollapsedControl"], [data-testid="stExpandSidebarButton"],
[data-testid="stSidebarNav"], [data-testid="stToolbar"] {display: none !important;}
[data-testid="stMainBlockContainer"] {max-width: 100% !important; padding-top: 2rem !important;}
[data-testid="stMain"] h1 {font-size: 3.4rem !important;}
[data-testid="stMain"] h2 {font-size: 2.4rem !important;}
[data-testid="stMain"] h3 {font-size: 1.9rem !important;}
[data-testid="stMain"] p, [data-testid="stMain"] li, [data-testid="stMain"] label,
[data-testid="stMain"] [data-testid="stCaptionContainer"] {font-size: 1.35rem !important;}
</style>"""


def active() -> bool:
    """On for this browser session once ?present=1 was opened or the toggle was switched on; kept in the URL so a
    reload (or a link copied from the address bar) stays in presenter mode."""
    wanted = st.query_params.get("present")
    if wanted is not None and STATE not in st.session_state:
        st.session_state[STATE] = wanted in ("1", "true", "yes", "on")
    return bool(st.session_state.get(STATE, False))


def _switch(on: bool) -> None:
    st.session_state[STATE] = on
    if on:
        st.query_params["present"] = "1"
    else:
        st.query_params.pop("present", None)


def _from_toggle() -> None:
    _switch(bool(st.session_state.get("presenter_toggle")))


def controls() -> None:
    """The sidebar toggle; in presenter mode (sidebar hidden) the styles and a small way out at the top of the page."""
    on = active()
    if on:
        st.query_params["present"] = "1"
    st.session_state["presenter_toggle"] = on
    st.sidebar.toggle("Presenter mode", key="presenter_toggle", on_change=_from_toggle,
                      help="Big pictures and text, no sidebar, and a slow automatic walk for a projector or a stand. "
                           "Also opened by adding ?present=1 to the address.")
    if on:
        st.html(STYLE)
        st.button("Leave presenter mode", key="presenter_leave", on_click=_switch, args=(False,), type="tertiary",
                  icon=":material/close_fullscreen:")


def latent_walk(model, psi: float | None = None, label: int | None = None, start: int = 0, smoothing: str = "nearest") -> None:
    """A big picture that walks slowly through the model's latent space and loops, one frame every FRAME_SECONDS;
    enlarged the `smoothing` way (ganmodels.images.upscale)."""
    labels = None if label is None else [label]

    @st.fragment(run_every=FRAME_SECONDS)
    def frame() -> None:
        index = st.session_state.get("presenter_frame", 0)
        st.session_state["presenter_frame"] = index + 1
        latent, here, there = slide_pictures.walk_frame(model, index, psi, start)
        image = upscale(to_pil(model.generate(latent, labels)[0]), PICTURE_SIDE, smoothing)
        st.image(image, caption=f"Walking through latent space: seed {here} → seed {there}", width=PICTURE_SIDE,
                 output_format="PNG")

    frame()


def snapshot_loop(folder: Path, snaps: list[dict], smoothing: str = "nearest") -> None:
    """The training snapshots' grids one after another, looping: how the model learned, without anyone at the keys."""
    shown = [s for s in snaps if s.get("grid") and (folder / str(s["grid"])).is_file()]
    if not shown:
        return

    @st.fragment(run_every=SNAPSHOT_SECONDS)
    def frame() -> None:
        index = st.session_state.get("presenter_snapshot", 0)
        st.session_state["presenter_snapshot"] = index + 1
        snap = shown[index % len(shown)]
        with Image.open(folder / str(snap["grid"])) as img:
            picture = upscale(img.convert("RGB"), PICTURE_SIDE, smoothing)
        st.image(picture, caption=f"Training step {int(snap['step']):,} of {int(shown[-1]['step']):,}",
                 width=PICTURE_SIDE, output_format="PNG")

    frame()
