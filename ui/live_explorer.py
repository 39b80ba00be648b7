"""Which path draws the Latent explorer's and InfoGAN page's picture, and the in-browser path itself.

By default the browser draws it (ui/live_canvas: the generator exported to ONNX, run with WebAssembly) and the
picture follows the sliders while they are dragged; on release the component sends the final state here, where it
goes into the same session state the server-drawn sliders use, so the URL, the downloads and the rest of the page
stay exact. The server draws instead when the URL says `?render=server`, when the browser reports that it cannot
(no WebAssembly, or the model fails to load there), or when the model cannot be exported.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Callable

import streamlit as st
import torch

from ganmodels import latent_directions, samples
from ganmodels.checkpoint import LoadedModel
from ganmodels.images import png_bytes, to_pil, upscale
from ui import explorer_state, live_canvas
from ui.common import picture_smoothing

RENDER_PARAM = "render"
DISPLAY_SIZE = 320
OFFSET_RANGE = 3.0  # the explorer's sliders, as on the server path
CODE_RANGE = 2.0  # InfoGAN's continuous codes, as on the server path
STEP = 0.1


@dataclass
class DrawingPath:
    """Where the picture is drawn: in the browser (with the model file's URL) or on the server (with the reason)."""

    browser: bool
    reason: str = ""
    exported: object = None
    url: str = ""


def drawing_path(model: LoadedModel, stamp: float, prefix: str) -> DrawingPath:
    """Browser unless the URL asks for the server, this session's browser reported it cannot, or the export fails."""
    if str(st.query_params.get(RENDER_PARAM, "")).lower() == "server":
        return DrawingPath(False, "the address asks for it (?render=server)")
    reported = st.session_state.get(f"{prefix}_live_fallback")
    if reported:
        return DrawingPath(False, f"your browser reported that it cannot: {reported}")
    if not live_canvas.built():
        return DrawingPath(False, "this installation lacks the files that draw in the browser (run scripts/build_frontend.sh)")
    try:
        exported, url = live_canvas.prepare(model, stamp)
    except (live_canvas.ExportError, OSError) as exc:
        return DrawingPath(False, f"this model could not be prepared for the browser ({exc})")
    return DrawingPath(True, exported=exported, url=url)


def say_drawing_path(path: DrawingPath) -> None:
    """One plain sentence under the title: who draws the picture, and what that means for the sliders."""
    if path.browser:
        st.caption(":material/bolt: **Drawn in your browser.** The generator runs on this page (WebAssembly), so the "
                   "picture follows the sliders while you drag; the server only hears where you let go. "
                   "Add `?render=server` to the address to draw on the server instead.")
    else:
        st.caption(f":material/dns: **Drawn on the server**, because {path.reason}. The picture changes when you let "
                   "go of a slider.")


def _taken(prefix: str) -> Callable:
    """The component's on_change callback for one page (`prefix`): note which send Python has seen, switch the session
    to the server when the browser reports it cannot draw, else put the state into session state with `apply`."""

    def take(apply: Callable[[dict], bool]) -> None:
        sent = st.session_state.get(f"{prefix}_live")
        if not isinstance(sent, dict):
            return
        # Told back to the browser, which takes Python's state over only once Python has seen its latest send: a
        # rerun for an older send must not pull the sliders back while the user is still moving them.
        st.session_state[f"{prefix}_live_ack"] = {"nonce": str(sent.get("nonce", ""))[:40], "seq": _index(sent.get("seq"), 2**53)}
        if sent.get("fallback"):
            st.session_state[f"{prefix}_live_fallback"] = str(sent["fallback"])[:300]
            st.session_state[f"{prefix}_live_rerun_app"] = True
            return
        if apply(sent):
            st.session_state[f"{prefix}_live_rerun_app"] = True

    return take


def _rerun_app_if_asked(prefix: str) -> None:
    """What the browser sent changes something outside this fragment (truncation, class, or the drawing path)."""
    if st.session_state.pop(f"{prefix}_live_rerun_app", False):
        st.rerun(scope="app")


def _number(value, low: float, high: float) -> float:
    """A slider value from the browser, bounded and rounded to 3 decimals as the URL keeps it (anything else is 0)."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        return 0.0
    if v != v:  # NaN
        return 0.0
    return round(min(high, max(low, v)), 3)


def _index(value, count: int, default: int = 0) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < count else default


def _unit_rows(indices: list[int], size: int) -> list[list[float]]:
    rows = torch.zeros(len(indices), size)
    for r, i in enumerate(indices):
        rows[r, i] = 1.0
    return rows.tolist()


def _padded(directions: torch.Tensor, size: int) -> list[list[float]]:
    """Principal directions move the noise part only: zeros for any codes after it."""
    rows = torch.zeros(directions.shape[0], size)
    rows[:, : directions.shape[1]] = directions
    return rows.tolist()


def _vector(latent: torch.Tensor) -> list[float]:
    return [float(v) for v in latent.reshape(-1)]


# --- Latent explorer ----------------------------------------------------------------------------------------


@dataclass
class ExplorerHooks:
    """What the Latent explorer page owns and this path shares with its server sliders."""

    principal: Callable  # (path, stamp, label, count, model) -> (directions, share), cached by the page
    stamp: float
    slider_keys: Callable[[str, int], list[str]]
    reset_sliders: Callable[[int], None]
    clear_custom: Callable[[], None]
    mode_names: dict


def _apply_explorer(sent: dict, model_key: str, count: int, num_classes: int, slider_keys: Callable) -> bool:
    """Put the browser's final state into the explorer's session state; True when truncation or class changed."""
    if sent.get("model") != model_key:
        return False  # a state for a model no longer on screen
    mode = st.session_state.get("lx_mode", "principal")
    values = sent.get("values") if isinstance(sent.get("values"), list) else []
    for i, key in enumerate(slider_keys(mode, count)):
        st.session_state[key] = _number(values[i], -OFFSET_RANGE, OFFSET_RANGE) if i < len(values) else 0.0
    changed = False
    custom = st.session_state.get("lx_custom")
    if not custom:
        psi = explorer_state.PSI_OPTIONS[_index(sent.get("base_index"), len(explorer_state.PSI_OPTIONS))]
        changed |= psi != st.session_state.get("lx_psi", "off")
        st.session_state.lx_psi = psi
    if num_classes:
        label = _index(sent.get("choice"), num_classes)
        changed |= label != st.session_state.get("lx_label", 0)
        st.session_state.lx_label = label
    return changed


def explorer_canvas(model: LoadedModel, seed: int, path: DrawingPath, hooks: ExplorerHooks) -> None:
    """The Latent explorer's picture and sliders, drawn in the browser; a fragment, like the server path's."""
    _explorer_fragment(model, seed, path, hooks)


@st.fragment
def _explorer_fragment(model: LoadedModel, seed: int, path: DrawingPath, hooks: ExplorerHooks) -> None:
    _rerun_app_if_asked("lx")
    card = model.card
    count = explorer_state.slider_count(card)
    names = explorer_state.class_names(card) if model.family.conditional else []
    mode = st.radio("Sliders move along", explorer_state.MODES, format_func=hooks.mode_names.get, horizontal=True, key="lx_mode",
                    on_change=hooks.reset_sliders, args=(count,),
                    help="Principal directions are the ways of changing the numbers that change the picture most. "
                         "Raw dimensions move one number at a time.")
    psi_option = st.session_state.get("lx_psi", "off")
    if psi_option not in explorer_state.PSI_OPTIONS:
        psi_option = "off"
    label = _index(st.session_state.get("lx_label"), len(names)) if names else None
    directions = share = None
    if mode == "principal":
        try:
            directions, share = hooks.principal(str(model.path), hooks.stamp, label, count, model)
        except Exception as exc:  # never a traceback: fall back to raw sliders
            st.warning(f"Principal directions could not be computed for this model ({type(exc).__name__}: {exc}); "
                       "the sliders move raw dimensions instead.")
            mode = "raw"
    keys = hooks.slider_keys(mode, count)
    offsets = {i: _number(st.session_state.get(key, 0.0), -OFFSET_RANGE, OFFSET_RANGE) for i, key in enumerate(keys)}

    custom = st.session_state.get("lx_custom")
    custom = custom if custom and custom["model"] == card.id else None
    if custom:
        base = custom["latent"].reshape(1, -1).float()
        bases, base_labels, base_index = [_vector(base)], None, 0
        source = f"latent from {custom['source']}"
    else:
        options = explorer_state.PSI_OPTIONS
        # Every truncation option's latent for this seed, drawn by torch: the browser then switches between them
        # exactly, resampling included (ganmodels.latent.truncated_normal).
        all_bases = [model.latents(seed, 1, explorer_state.psi_value(o)) for o in options]
        base_index = options.index(psi_option)
        base = all_bases[base_index]
        bases = [_vector(b) for b in all_bases]
        base_labels = ["off" if o == "off" else f"ψ (psi) {o:g}" for o in options]
        psi = explorer_state.psi_value(psi_option)
        source = f"seed {seed}" + ("" if psi is None else f", ψ {psi:g}")
    size = model.latent_size
    if directions is not None:
        rows = _padded(directions, size)
        slider_names = [f"Direction {i + 1}" + (f" ({float(share[i]):.0%} of the change)" if torch.isfinite(share[i]) else "")
                        for i in range(count)]
    else:
        rows = _unit_rows(list(range(count)), size)
        slider_names = [f"Latent number {i + 1}" for i in range(count)]
    spec = {
        "model_url": path.url, "model_key": path.exported.key, "latent_size": size, "takes_label": path.exported.takes_label,
        "display_size": DISPLAY_SIZE, "smoothing": picture_smoothing(card), "bases": bases, "base_labels": base_labels,
        "base_index": base_index,
        "base_title": "Truncation",
        "sliders": [{"name": n, "min": -OFFSET_RANGE, "max": OFFSET_RANGE, "step": STEP} for n in slider_names],
        "values": [offsets[i] for i in range(count)], "directions": rows,
        "directions_choice": label if (names and directions is not None) else None,
        "choice": {"label": "Class", "names": names, "value": label, "onehot_offset": None} if names else None,
        "state_tag": f"{seed}|{mode}|{source}", "ack": st.session_state.get("lx_live_ack"),
        "note": "Shown without truncation: this latent is not the seed's." if custom else None,
        "status": "Drawn in this browser. Drag a slider: the picture follows.",
    }
    take = _taken("lx")
    live_canvas.live_canvas(spec, key="lx_live", on_change=functools.partial(
        take, lambda sent: _apply_explorer(sent, path.exported.key, count, len(names), hooks.slider_keys)))

    latent = latent_directions.apply_offsets(base, offsets, directions if mode == "principal" else None)
    moved = sum(1 for v in offsets.values() if v)
    caption = source + (f" · class {names[label]}" if label is not None else "") + (f" · {moved} slider(s) moved" if moved else "")
    st.caption(caption)
    buttons = st.columns([1, 1, 2])
    with buttons[0]:
        _downloads(model, latent, label, f"{card.id}_seed{seed}.png", "lx_dl_image")
    with buttons[1]:
        st.download_button("Download this latent", explorer_state.encode_latent(card.id, latent, seed, explorer_state.psi_value(psi_option), label),
                           file_name=f"{card.id}_seed{seed}_latent.json", mime="application/json", key="lx_dl_latent",
                           on_click="ignore",
                           help="A small file with the exact numbers behind this picture; upload it below to get it back.")
    if custom:
        st.info(f"Showing a {source}; the seed is not used.")
        st.button("Back to the seed's picture", on_click=hooks.clear_custom, key="lx_back")
    st.button("Reset sliders", on_click=hooks.reset_sliders, args=(count,), key="lx_reset")
    state = explorer_state.ExplorerState(seed=seed, psi=psi_option, label=label, mode=mode, offsets=offsets,
                                  token=explorer_state.latent_to_token(base) if custom else None)
    write_explorer_url(state)


def write_explorer_url(state: explorer_state.ExplorerState) -> None:
    """The address bar holds exactly this picture (the server path writes the same parameters)."""
    for stale in ("seed", "psi", "class", "mode", "offsets", "z"):
        st.query_params.pop(stale, None)
    st.query_params.update(explorer_state.explorer_query(state))
    st.caption("The address bar now holds this exact picture: copy the URL to share it.")


def _png(model: LoadedModel, latent: torch.Tensor, label: int | None, side: int | None = DISPLAY_SIZE,
         smoothing: str = "nearest") -> bytes:
    """The download, drawn by torch when it is asked for (not on every release): as shown, or the model's own pixels
    when `side` is None (as ui.common.show_image offers them)."""
    image = to_pil(model.generate(latent, None if label is None else [label])[0])
    return png_bytes(upscale(image, side, smoothing) if side else image)


def _downloads(model: LoadedModel, latent: torch.Tensor, label: int | None, filename: str, key: str) -> None:
    """Download PNG (as shown) and the model's own pixels, both drawn by torch only when clicked."""
    side = model.card.image_size
    shown = functools.partial(_png, model, latent, label, DISPLAY_SIZE, picture_smoothing(model.card))
    st.download_button("Download PNG", shown, file_name=filename, mime="image/png",
                       key=key, on_click="ignore", help="The picture as shown, drawn by the server from the same numbers.")
    if side < DISPLAY_SIZE:
        stem, _, ext = filename.rpartition(".")
        st.download_button(f"Original pixels ({side}x{side})", functools.partial(_png, model, latent, label, None),
                           file_name=f"{stem}_{side}x{side}.{ext}", mime="image/png", key=f"{key}_native", type="tertiary",
                           on_click="ignore", help="The picture exactly as the model drew it, one file pixel per model pixel.")


# --- InfoGAN codes --------------------------------------------------------------------------------------------


def _apply_codes(sent: dict, model_key: str, num_categories: int, num_continuous: int) -> bool:
    if sent.get("model") != model_key:
        return False
    st.session_state.ic_cat = _index(sent.get("choice"), num_categories)
    values = sent.get("values") if isinstance(sent.get("values"), list) else []
    for j in range(num_continuous):
        st.session_state[f"ic_c{j}"] = _number(values[j], -CODE_RANGE, CODE_RANGE) if j < len(values) else 0.0
    return False  # nothing outside the fragment depends on the codes


def infogan_canvas(model: LoadedModel, noise: torch.Tensor, seed: int, path: DrawingPath, category_name: Callable[[int], str],
                   reset_codes: Callable[[], None]) -> None:
    """The InfoGAN page's code controls and picture, drawn in the browser; a fragment, like the server path's."""
    _infogan_fragment(model, noise, seed, path, category_name, reset_codes)


@st.fragment
def _infogan_fragment(model, noise, seed, path, category_name, reset_codes) -> None:
    _rerun_app_if_asked("ic")
    card = model.card
    codes = samples.infogan_codes(card)
    k, names = codes["num_categories"], codes["continuous"]
    category = _index(st.session_state.get("ic_cat"), k)
    values = [_number(st.session_state.get(f"ic_c{j}", 0.0), -CODE_RANGE, CODE_RANGE) for j in range(len(names))]
    z_dim = noise.reshape(-1).numel()
    base = torch.zeros(1, model.latent_size)
    base[0, :z_dim] = noise.reshape(-1)  # the browser writes the one-hot category and the codes after the noise
    spec = {
        "model_url": path.url, "model_key": path.exported.key, "latent_size": model.latent_size,
        "takes_label": path.exported.takes_label, "display_size": DISPLAY_SIZE, "smoothing": picture_smoothing(card),
        "bases": [_vector(base)], "base_labels": None,
        "base_index": 0,
        "sliders": [{"name": f"Continuous code {n}", "min": -CODE_RANGE, "max": CODE_RANGE, "step": STEP} for n in names],
        "values": values, "directions": _unit_rows([z_dim + k + j for j in range(len(names))], model.latent_size),
        "directions_choice": None,
        "choice": {"label": f"Categorical code ({codes['categorical']})", "names": [category_name(v) for v in range(k)],
                   "value": category, "onehot_offset": z_dim},
        "state_tag": f"{seed}", "ack": st.session_state.get("ic_live_ack"), "note": None,
        "status": "Drawn in this browser. Drag a code: the picture follows.",
    }
    take = _taken("ic")
    live_canvas.live_canvas(spec, key="ic_live", on_change=functools.partial(
        take, lambda sent: _apply_codes(sent, path.exported.key, k, len(names))))
    latent = samples.infogan_input(card, noise, category, values)
    st.caption(f"{category_name(category)} · " + ", ".join(f"{n} = {v:+.1f}" for n, v in zip(names, values)))
    cols = st.columns([1, 1, 2])
    with cols[0]:
        _downloads(model, latent, None, f"{card.id}_seed{seed}_code{category}.png", "ic_dl_image")
    with cols[1]:
        st.button("Reset codes", on_click=reset_codes, key="ic_reset")
