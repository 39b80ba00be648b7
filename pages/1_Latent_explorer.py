"""Latent explorer: a seed becomes a picture; sliders, interpolation and arithmetic move through the model's latent space."""
from __future__ import annotations

import streamlit as st
import torch

from ganmodels import latent_directions
from ganmodels.images import grid, to_pil
from ganmodels.latent import interpolate, vector_arithmetic
from ganmodels.samples import grid_columns, sample_labels
from ui import explorer_state, live_explorer, navigation, presenter, slide_pictures
from ui.common import model_stamp, page_model, picture_smoothing, scroll_to_top, show_image, smoothing_control
from ui.nearest_images import nearest_images_section
from ui.own_image import own_image_section

st.set_page_config(page_title="Latent explorer · GAN Studio", layout="wide")

MODE_NAMES = {"principal": "Principal directions (biggest changes first)", "raw": "Raw latent dimensions"}
WALK_NAMES = {"slerp": "Along the sphere (slerp)", "lerp": "Straight line (lerp)"}
OFFSET_RANGE = 3.0


@st.cache_data(show_spinner="Finding the directions that change the picture most…", max_entries=64)
def principal(path: str, stamp: float, label: int | None, count: int, _model) -> tuple[torch.Tensor, torch.Tensor]:
    """Computed once per model (and class, for conditional models) and kept on disk; keyed by the model's path."""
    return latent_directions.principal_directions_kept(_model, k=count, labels=None if label is None else [label])


@st.cache_data(show_spinner=False, max_entries=64)
def samples(path: str, stamp: float, seed: int, n: int, psi: float | None, label: int | None, _model) -> torch.Tensor:
    """The grid's samples, kept per model and setting: going back to a model or seed seen before draws nothing."""
    return _model.generate(_model.latents(seed, n, psi), sample_labels(_model.card, n, label))


@st.cache_data(show_spinner=False, max_entries=32)
def walk(path: str, stamp: float, start: int, end: int, steps: int, method: str, psi: float | None, label: int | None,
         smoothing: str, _model) -> tuple[torch.Tensor, bytes]:
    """The walk's frames and its slide-sized GIF (encoding it is the slow part), kept per model and setting."""
    latents = interpolate(_model.latents(start, 1, psi), _model.latents(end, 1, psi), steps, method)
    images = _model.generate(latents, sample_labels(_model.card, steps, label))
    return images, slide_pictures.walk_gif(images, smoothing=smoothing)


def slider_keys(mode: str, count: int) -> list[str]:
    return [f"lx_{mode}_{i}" for i in range(count)]


def set_offsets(mode: str, count: int, offsets: dict[int, float]) -> None:
    for m in explorer_state.MODES:
        for i, key in enumerate(slider_keys(m, count)):
            st.session_state[key] = float(offsets.get(i, 0.0)) if m == mode else 0.0


def load_state(model, first_visit: bool) -> None:
    """Put the URL's state (?seed=&psi=&class=&mode=&offsets=&z=) into the widgets before they are drawn."""
    card = model.card
    state = explorer_state.explorer_state_from_query(st.query_params.to_dict(), card)
    if not first_visit:  # switching models keeps seed and truncation; sliders and custom latents belong to the old model
        state.offsets, state.token = {}, None
        state.label = 0 if state.label is not None else None
    st.session_state.lx_seed = state.seed
    st.session_state.lx_psi = state.psi
    if state.label is not None:
        st.session_state.lx_label = state.label
    st.session_state.lx_mode = state.mode
    set_offsets(state.mode, explorer_state.slider_count(card), state.offsets)
    st.session_state.lx_custom = None
    st.session_state.lx_upload_error = None
    if state.token:
        try:
            latent = explorer_state.latent_from_token(state.token, model.latent_size)
        except explorer_state.LatentFileError as exc:
            st.session_state.lx_notice = f"The latent in this link could not be used: {exc} Showing the seed instead."
        else:
            st.session_state.lx_custom = {"model": card.id, "latent": latent, "source": "the shared link"}


def clear_custom() -> None:
    st.session_state.lx_custom = None


def new_seed() -> None:
    st.session_state.lx_seed = explorer_state.different_seed(st.session_state.get("lx_seed", 0))
    clear_custom()


def reset_sliders(count: int) -> None:
    set_offsets(st.session_state.get("lx_mode", "principal"), count, {})


def keep_slider_state(mode: str, count: int) -> None:
    """A slider with no stored value would appear at its minimum (-3): Streamlit forgets the state of widgets that
    were not drawn on the last run, as the other mode's sliders were. Give every one of this mode's sliders a value
    before it is drawn, so the screen, the picture and the URL always agree."""
    for key in slider_keys(mode, count):
        if not isinstance(st.session_state.get(key), (int, float)):
            st.session_state[key] = 0.0


def receive_upload(model_id: str, latent_size: int, count: int, num_classes: int) -> None:
    """File uploader callback: a valid latent file replaces the seed's latent; anything else is explained."""
    upload = st.session_state.get("lx_upload")
    st.session_state.lx_upload_error = None
    if upload is None:
        return
    try:
        payload = explorer_state.decode_latent(upload.getvalue(), latent_size)
    except explorer_state.LatentFileError as exc:
        st.session_state.lx_upload_error = f"{upload.name}: {exc}"
        return
    st.session_state.lx_custom = {"model": model_id, "latent": payload["latent"], "source": f"the file {upload.name}"}
    if isinstance(payload.get("seed"), int) and 0 <= payload["seed"] <= explorer_state.MAX_SEED:
        st.session_state.lx_seed = payload["seed"]
    if payload.get("truncation") is not None:
        st.session_state.lx_psi = explorer_state.nearest_psi(payload["truncation"])
    if num_classes and isinstance(payload.get("label"), int) and 0 <= payload["label"] < num_classes:
        st.session_state.lx_label = payload["label"]
    set_offsets(st.session_state.get("lx_mode", "principal"), count, {})  # the file already holds the slider moves


def use_latent(model_id: str, latent: torch.Tensor, source: str, count: int) -> None:
    # Rounded to float16 as the URL stores it, so the shared link shows exactly this picture.
    exact_in_url = latent.reshape(1, -1).to(torch.float16).float()
    st.session_state.lx_custom = {"model": model_id, "latent": exact_in_url, "source": source}
    set_offsets(st.session_state.get("lx_mode", "principal"), count, {})


def explore_found(latent: torch.Tensor, label: int | None, source: str) -> None:
    """Bring-your-own-image callback: the found latent (and class) becomes the explorer's, as an uploaded latent does."""
    if label is not None:
        st.session_state.lx_label = label
    use_latent(st.session_state.lx_model, latent, source, explorer_state.slider_count(model.card))


# --- page ----------------------------------------------------------------------------------------

model = page_model(
    "Latent explorer",
    "A generator turns a list of random numbers (its *latent*) into a picture. The seed picks the numbers; "
    "nearby numbers give similar pictures, so you can walk through the space of everything the model can draw.",
    page=navigation.LATENT_EXPLORER,
)
card = model.card
smoothing_control()
smooth = picture_smoothing(card)
count = explorer_state.slider_count(card)
conditional = model.family.conditional
names = explorer_state.class_names(card) if conditional else []

fresh_visit = "lx_seed" not in st.session_state  # first time here, or back from another page
if fresh_visit or st.session_state.get("lx_model") != card.id:
    load_state(model, first_visit=fresh_visit)
    st.session_state.lx_model = card.id
if st.session_state.get("lx_notice"):
    st.warning(st.session_state.pop("lx_notice"))
drawing = live_explorer.drawing_path(model, model_stamp(model), "lx")
live_explorer.say_drawing_path(drawing)

controls = st.columns([2, 3, 3] if conditional and not drawing.browser else [2, 3])
with controls[0]:
    seed = int(st.number_input("Seed", min_value=0, max_value=explorer_state.MAX_SEED, step=1, key="lx_seed", on_change=clear_custom,
                               help="The same seed always gives the same picture."))
    st.button("New seed", icon=":material/casino:", on_click=new_seed)
if drawing.browser:  # truncation and class are picked beside the picture, in the browser
    psi_option = st.session_state.get("lx_psi", "off")
    psi = explorer_state.psi_value(psi_option)
    label = st.session_state.get("lx_label", 0) if conditional else None
else:
    with controls[1]:
        psi_option = st.select_slider(
            "Truncation", options=explorer_state.PSI_OPTIONS, key="lx_psi", on_change=clear_custom,
            format_func=lambda o: "off" if o == "off" else f"ψ (psi) {o:g}",
            help="Redraws unusually large random numbers. ψ (the Greek letter psi) is the limit: smaller ψ gives cleaner but less varied pictures; off uses them all.",
        )
    psi = explorer_state.psi_value(psi_option)
    label = None
    if conditional:
        with controls[2]:
            label = st.selectbox("Class", range(len(names)), format_func=lambda i: names[i], key="lx_label",
                                 help="This model was trained with labels, so you can ask for a class.")
labels_for = (lambda n: sample_labels(card, n, label)) if conditional else (lambda n: None)
if presenter.active():  # a projector or a stand: the picture walks by itself, the controls stay below
    presenter.latent_walk(model, psi, label, start=seed, smoothing=smooth)


@st.fragment
def explorer_image(model, seed: int, psi_option, label: int | None) -> None:
    """The picture and its sliders; moving a slider reruns only this part."""
    card = model.card
    psi = explorer_state.psi_value(psi_option)
    mode = st.radio("Sliders move along", explorer_state.MODES, format_func=MODE_NAMES.get, horizontal=True, key="lx_mode",
                    on_change=reset_sliders, args=(count,),
                    help="Principal directions are the ways of changing the numbers that change the picture most. "
                         "Raw dimensions move one number at a time.")
    directions = share = None
    if mode == "principal":
        try:
            directions, share = principal(str(model.path), model_stamp(model), label, count, model)
        except Exception as exc:  # never a traceback: fall back to raw sliders
            st.warning(f"Principal directions could not be computed for this model ({type(exc).__name__}: {exc}); "
                       "the sliders move raw dimensions instead.")
            mode = "raw"
    picture_col, slider_col = st.columns([1, 1])
    offsets = {}
    keep_slider_state(mode, count)
    with slider_col:
        for i, key in enumerate(slider_keys(mode, count)):
            if directions is None:
                name = f"Latent number {i + 1}"
            elif torch.isfinite(share[i]):
                name = f"Direction {i + 1} ({float(share[i]):.0%} of the change)"
            else:
                name = f"Direction {i + 1}"
            offsets[i] = st.slider(name, -OFFSET_RANGE, OFFSET_RANGE, step=0.1, key=key)
        st.button("Reset sliders", on_click=reset_sliders, args=(count,), key="lx_reset")

    custom = st.session_state.get("lx_custom")
    if custom and custom["model"] == card.id:
        base = custom["latent"]
        source = f"latent from {custom['source']}"
    else:
        base = model.latents(seed, 1, psi)
        source = f"seed {seed}" + ("" if psi is None else f", ψ {psi:g}")
    latent = latent_directions.apply_offsets(base, offsets, directions if mode == "principal" else None)
    image = to_pil(model.generate(latent, None if label is None else [label])[0])
    moved = sum(1 for v in offsets.values() if v)
    caption = source + (f" · class {names[label]}" if label is not None else "") + (f" · {moved} slider(s) moved" if moved else "")
    with picture_col:
        show_image(image, caption, f"{card.id}_seed{seed}.png", key="lx_dl_image", min_side=320, smoothing=smooth)
        st.download_button("Download this latent", explorer_state.encode_latent(card.id, latent, seed, psi, label),
                           file_name=f"{card.id}_seed{seed}_latent.json", mime="application/json", key="lx_dl_latent",
                           help="A small file with the exact numbers behind this picture; upload it below to get it back.")
        if custom and custom["model"] == card.id:
            st.info(f"Showing a {source}; the seed is not used.")
            st.button("Back to the seed's picture", on_click=clear_custom, key="lx_back")

    state = explorer_state.ExplorerState(seed=seed, psi=psi_option, label=label, mode=mode, offsets=offsets,
                                  token=explorer_state.latent_to_token(base) if custom and custom["model"] == card.id else None)
    live_explorer.write_explorer_url(state)


if drawing.browser:
    live_explorer.explorer_canvas(model, seed, drawing, live_explorer.ExplorerHooks(
        principal, model_stamp(model), slider_keys, reset_sliders, clear_custom, MODE_NAMES))
else:
    explorer_image(model, seed, psi_option, label)

with st.expander("Save or load a latent"):
    st.file_uploader("Upload a latent file saved from this page", type=["json"], key="lx_upload", max_upload_size=1,
                     on_change=receive_upload, args=(card.id, model.latent_size, count, len(names)))
    if st.session_state.get("lx_upload_error"):
        st.error(st.session_state.lx_upload_error)

with st.expander("Bring your own image: draw or upload one, find the latent closest to it"):
    own_image_section(model, explore_found)
with st.expander("Is it copying? The nearest training images to this picture"):
    nearest_images_section(model, lambda label: principal(str(model.path), model_stamp(model), label, count, model)[0])


@st.fragment
def sample_grid_and_arithmetic(model, seed: int, psi, label) -> None:
    card = model.card
    if st.session_state.pop("lx_scroll_up", False):  # "Explore the result" changed the picture at the top
        scroll_to_top()
    st.subheader("Many samples from this seed")
    n = st.slider("Number of samples", 4, 36, 16, key="lx_n")
    latents = model.latents(seed, n, psi)
    images = samples(str(model.path), model_stamp(model), seed, n, psi, label, model)
    nrow = grid_columns(n)
    show_image(slide_pictures.numbered_grid(images, nrow, min_side=360, smoothing=smooth), f"Samples 1 to {n}, numbered left to right, top to bottom",
               f"{card.id}_seed{seed}_grid{n}.png", key="lx_dl_grid", min_side=360, smoothing=smooth)

    st.subheader("Latent arithmetic: A − B + C")
    st.caption("Pictures are points in the latent space, so you can add and subtract them. The classic example: "
               "(smiling woman) − (woman) + (man) ≈ smiling man. Pick samples from the grid above by number; "
               "several samples in one slot are averaged first.")
    numbers = list(range(1, n + 1))
    slots = {}
    cols = st.columns(3)
    for col, (slot, default) in zip(cols, (("A", 1), ("B", 2), ("C", 3))):
        key = f"lx_arith_{slot}"
        if key in st.session_state:
            st.session_state[key] = [v for v in st.session_state[key] if v in numbers]
        else:
            st.session_state[key] = [default]
        with col:
            slots[slot] = st.multiselect(f"{slot}: sample number(s)", numbers, key=key)
    if not all(slots.values()):
        st.info("Pick at least one sample for each of A, B and C.")
        return
    parts = {s: latents[[v - 1 for v in picked]] for s, picked in slots.items()}
    result = vector_arithmetic(parts["A"], parts["B"], parts["C"]).reshape(1, -1)
    strip = torch.cat([parts["A"].mean(0, keepdim=True), parts["B"].mean(0, keepdim=True),
                       parts["C"].mean(0, keepdim=True), result])
    shown = model.generate(strip, labels_for(4))
    show_image(grid(shown, 4), "A, B, C (each averaged) and the result A − B + C", f"{card.id}_arithmetic.png",
               key="lx_dl_arith", min_side=200, smoothing=smooth)
    if st.button("Explore the result with the sliders", key="lx_use_result", on_click=use_latent,
                 args=(card.id, result, "A − B + C", count), icon=":material/arrow_upward:",
                 help="Makes the result the picture at the top of the page and scrolls up to it."):
        st.session_state.lx_scroll_up = True
        st.rerun()  # the callback stored the latent; the picture above lives in another fragment


sample_grid_and_arithmetic(model, seed, psi, label)


@st.fragment
def interpolation(model, seed: int, psi, label) -> None:
    card = model.card
    st.subheader("Walk from one seed to another")
    st.caption("The walk starts from the seed of the picture at the top. A straight line (lerp, linear interpolation) "
               "cuts through the thin middle of the space; along the sphere (slerp, spherical interpolation) stays where "
               "random latents actually live, so its middle frames usually look more natural.")
    if st.session_state.get("lx_walk_from") != seed:  # a new picture on screen: the walk starts from it
        st.session_state.lx_walk_from = seed
        st.session_state.lx_from = seed
        st.session_state.lx_to = seed + 1 if seed < explorer_state.MAX_SEED else seed - 1
    cols = st.columns(4)
    start = int(cols[0].number_input("From seed", min_value=0, max_value=explorer_state.MAX_SEED, step=1, key="lx_from"))
    end = int(cols[1].number_input("To seed", min_value=0, max_value=explorer_state.MAX_SEED, step=1, key="lx_to"))
    steps = cols[2].slider("Steps", 3, 16, 8, key="lx_steps")
    method = cols[3].radio("Path", ("slerp", "lerp"), horizontal=True, key="lx_method", format_func=WALK_NAMES.get)
    images, animation = walk(str(model.path), model_stamp(model), start, end, steps, method, psi, label, smooth, model)
    show_image(grid(images, steps), f"Seed {start} → seed {end}, {steps} steps ({method})",
               f"{card.id}_seed{start}_to_{end}.png", key="lx_dl_strip", min_side=96, smoothing=smooth)
    # at its own width: Streamlit shrinks a wider image by re-encoding it, which keeps only a GIF's first frame
    st.image(animation, caption="The same walk as an animation", width="content")
    st.download_button("Download GIF", animation, file_name=f"{card.id}_seed{start}_to_{end}.gif", mime="image/gif",
                       key="lx_dl_gif")


interpolation(model, seed, psi, label)
