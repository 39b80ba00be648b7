"""What every page shares: where checkpoints live, cached model loading, the top of the sidebar and its model picker."""
from __future__ import annotations

import os
import threading
from pathlib import Path

import streamlit as st

from ganmodels.cards import CardError, read_card
from ganmodels.checkpoint import CheckpointError, LoadedModel, list_checkpoints, load_model
from ganmodels.device import describe_device, pick_device, set_cpu_threads
from ganmodels.files import modified_ns
from ganmodels.images import SMOOTHING, default_smoothing, png_bytes, upscale
from ganmodels.registry import FAMILIES
from ui import access
from ui import presenter
from ui.navigation import PageEntry
from ui.paths import REPO_ROOT


def checkpoint_root() -> Path:
    return Path(os.environ.get("GANSTUDIO_CHECKPOINTS", REPO_ROOT / "checkpoints"))


def runs_root() -> Path:
    return Path(os.environ.get("GANSTUDIO_RUNS", REPO_ROOT / "runs"))


@st.cache_resource(show_spinner=False)
def device():
    set_cpu_threads()  # $GANSTUDIO_THREADS, once per process
    return pick_device()


@st.cache_resource(show_spinner="Loading model…", max_entries=32)
def _load(path: str, weights: str | None, mtime: int) -> LoadedModel:
    """One copy per (file, snapshot) per process; `mtime` (nanoseconds) makes a replaced file reload."""
    return load_model(path, device(), weights)


# Loads that failed, by (path, snapshot, modification time): a broken checkpoint is not rebuilt on every visit (a card
# asking for a huge net would allocate it each time), and a replaced file is tried again. Shared by all sessions.
_FAILED_LOADS: dict[tuple, str] = {}
_FAILED_LOCK = threading.Lock()
MAX_FAILED_LOADS = 256


def get_model(path: str | Path, weights: str | None = None) -> LoadedModel | None:
    """The cached model, or None after showing the user why it could not load."""
    path = Path(path)
    stamp = modified_ns(path)
    if not stamp:
        st.error("This checkpoint could not be loaded: its files cannot be read.")
        return None
    key = (str(path), weights, stamp)
    with _FAILED_LOCK:
        known = _FAILED_LOADS.get(key)
    if known is None:
        try:
            return _load(str(path), weights, stamp)
        except (CheckpointError, CardError, OSError) as exc:
            known = f"This checkpoint could not be loaded: {without_root(exc)}"
        except Exception as exc:  # a corrupt file can surface as anything; never show a traceback
            known = f"This checkpoint could not be loaded ({type(exc).__name__}: {without_root(exc)})."
        with _FAILED_LOCK:
            while len(_FAILED_LOADS) >= MAX_FAILED_LOADS:
                _FAILED_LOADS.pop(next(iter(_FAILED_LOADS)))
            _FAILED_LOADS[key] = known
    st.error(known)
    return None


def without_root(exc: Exception) -> str:
    """An error's text with the server's checkpoint folder shortened to 'checkpoints' (no server paths shown)."""
    return str(exc).replace(str(checkpoint_root().resolve()), "checkpoints").replace(str(checkpoint_root()), "checkpoints")


@st.cache_data(ttl=10, show_spinner=False)
def model_catalogue(root: str) -> list[dict]:
    """Shipped and dropped-in checkpoints: id, title, family, path. Unreadable cards are listed as broken."""
    out = []
    for path in list_checkpoints(root):
        entry = {"path": str(path), "id": path.stem if path.is_file() else path.name, "family": "?", "title": path.name, "error": None}
        if path.is_dir():
            try:
                card = read_card(path)
                entry.update(id=card.id, family=card.family, title=card.title or card.id, arch=card.arch,
                             distance=(card.metrics or {}).get("fid_to_floor"))
            except (CardError, OSError) as exc:
                entry["error"] = without_root(exc)
        else:
            entry["title"] = f"{path.name} (dropped-in file)"
        out.append(entry)
    return out


def is_colour_generator(entry: dict) -> bool:
    """A catalogue entry whose card says it draws colour pictures from random numbers (3 channels, not a translator)."""
    family = FAMILIES.get(entry.get("family"))
    arch = entry.get("arch") if isinstance(entry.get("arch"), dict) else {}
    return family is not None and not family.translator and arch.get("channels") == 3


def gallery_order(catalogue: list[dict]) -> list[dict]:
    """The home gallery's order: colour generators first, because their samples show a newcomer most at a glance,
    then every other entry in the catalogue's own order (the sort is stable)."""
    return sorted(catalogue, key=lambda entry: not is_colour_generator(entry))


def best_model(catalogue: list[dict]) -> str:
    """The id a page opens with: the measured model closest to real data (the best first impression), else the first."""
    def distance(entry: dict) -> float:
        value = entry.get("distance")
        return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0 else float("inf")

    return min(catalogue, key=distance)["id"]


def pick_model(page: PageEntry | None = None, key: str = "model") -> LoadedModel | None:
    """Sidebar model picker offering the models `page` works with (every model without one); remembers the choice in
    session state and the URL (?model=)."""
    catalogue = [m for m in model_catalogue(str(checkpoint_root()))
                 if page is None or m["family"] == "?" or page.accepts(FAMILIES.get(m["family"]), m.get("arch"))]
    sidebar_header()
    if not catalogue:
        st.warning("No suitable checkpoints here. Train one (see the README) or drop a file into checkpoints/.")
        return None
    ids = [m["id"] for m in catalogue]
    wanted = st.query_params.get(key)
    if key not in st.session_state or st.session_state[key] not in ids:
        st.session_state[key] = wanted if wanted in ids else best_model(catalogue)
    choice = st.sidebar.selectbox("Model", ids, key=key, format_func=lambda i: next(m["title"] for m in catalogue if m["id"] == i))
    st.query_params[key] = choice
    entry = next(m for m in catalogue if m["id"] == choice)
    if entry["error"]:
        st.error(f"This checkpoint's card is broken: {entry['error']}")
        return None
    model = get_model(entry["path"])
    if model is not None and page is not None and not page.accepts(model.family, model.card.arch):
        st.info(f"'{choice}' is a {model.family.title} model; the {page.title} page does not work with it.")
        return None
    if model is not None:
        for note in model.card.assumptions:
            st.sidebar.caption(f"Assumed: {note}")
    return model


def page_model(title: str, caption: str, **pick) -> LoadedModel:
    """Title, plain-words caption and the sidebar picker of a model page; stops the page when no model fits."""
    st.title(title)
    st.caption(caption)
    model = pick_model(**pick)
    if model is None:
        st.stop()
    return model


def model_stamp(model: LoadedModel) -> int:
    """Modification time of the model's card or file, so caches keyed by it notice a replaced checkpoint."""
    return modified_ns(model.path)


def sidebar_header() -> None:
    """Top of every sidebar, under the page menu (app.py's st.navigation): the device the models run on and the
    presenter switch. Every page draws it first, so it also applies the server's mode (a public visitor's errors
    show no details)."""
    access.is_public()
    st.sidebar.caption(f"Running on {describe_device(device())}")
    presenter.controls()


SMOOTHING_KEY = "picture_smoothing"  # the user's choice, kept across pages (a widget's own key is dropped off-page)
SMOOTHING_CHOICES = {
    "auto": "Automatic: sharp for grey models, smooth for colour ones",
    "nearest": "Sharp pixels (nearest)",
    "bicubic": "Smooth (bicubic)",
}


def _keep_smoothing() -> None:
    st.session_state[SMOOTHING_KEY] = st.session_state[f"{SMOOTHING_KEY}_choice"]


def smoothing_control() -> None:
    """The sidebar choice of how small pictures are enlarged, shared by every page that draws samples."""
    chosen = st.session_state.get(SMOOTHING_KEY, "auto")
    st.session_state[f"{SMOOTHING_KEY}_choice"] = chosen if chosen in SMOOTHING_CHOICES else "auto"
    st.sidebar.radio("Enlarge small pictures", list(SMOOTHING_CHOICES), format_func=SMOOTHING_CHOICES.get,
                     key=f"{SMOOTHING_KEY}_choice", on_change=_keep_smoothing,
                     help="Models draw tiny pictures (28 or 32 pixels a side). Sharp pixels show exactly what the model "
                          "drew; smooth blends neighbouring pixels, which suits small colour photos.")


def picture_smoothing(card=None) -> str:
    """How this model's pictures are enlarged, "nearest" or "bicubic": the user's choice, or the model's default
    (ganmodels.images.default_smoothing) when it is automatic."""
    chosen = st.session_state.get(SMOOTHING_KEY, "auto")
    if chosen in SMOOTHING:
        return chosen
    try:
        return default_smoothing(card.channels) if card is not None else "nearest"
    except (KeyError, TypeError, ValueError):  # a dropped-in card without channels
        return "nearest"


def show_image(image, caption: str, filename: str, key: str, min_side: int = 256, smoothing: str = "nearest") -> None:
    """An image, enlarged (sharp or smooth, see ganmodels.images.upscale) for small pictures, with its own download
    buttons: the picture as shown (what goes on a slide) and, when it was enlarged, the model's own pixels."""
    big = upscale(image, min_side, smoothing)
    # PNG, not the automatic JPEG: lossy compression smears enlarged pixels and would differ from the download.
    st.image(big, caption=caption, width="stretch" if big.width > 400 else big.width, output_format="PNG")
    st.download_button("Download PNG", png_bytes(big), file_name=filename, mime="image/png", key=key,
                       help=f"{big.width}x{big.height} pixels, as shown.", on_click="ignore")
    if big.size != image.size:
        stem, _, ext = filename.rpartition(".")
        st.download_button(f"Original pixels ({image.width}x{image.height})", png_bytes(image),
                           file_name=f"{stem}_{image.width}x{image.height}.{ext}", mime="image/png", key=f"{key}_native",
                           type="tertiary", on_click="ignore",
                           help="The picture exactly as the model drew it, one file pixel per model pixel.")


def scroll_to_top() -> None:
    """Scroll the browser back to the page title, after a control far down the page changed the picture at the top.
    Streamlit has no call for it: a zero-height component runs one line of script in the page."""
    import streamlit.components.v1 as components

    components.html("<script>const t = window.parent.document.querySelector('[data-testid=\"stMain\"] h1');"
                    "if (t) t.scrollIntoView({behavior: 'smooth', block: 'start'});</script>", height=0)
