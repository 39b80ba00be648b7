"""InfoGAN codes: the factors of variation an InfoGAN found by itself, with controls and a traversal grid."""
from __future__ import annotations

import streamlit as st

from ganmodels import samples
from ganmodels.images import grid, to_pil
from ui import explorer_state, live_explorer, metric_text, navigation
from ui.common import model_stamp, page_model, picture_smoothing, show_image, smoothing_control

st.set_page_config(page_title="InfoGAN codes · GAN Studio", layout="wide")

model = page_model(
    "InfoGAN codes",
    "An InfoGAN gets a few extra inputs, its *codes*, besides random noise. During training it is rewarded when "
    "the codes can be read back from the picture, so each code ends up controlling something visible. "
    "Nobody told it what: it was never shown a label.",
    page=navigation.INFOGAN_CODES,
)
card = model.card
smoothing_control()
smooth = picture_smoothing(card)
codes = samples.infogan_codes(card)
meaning = metric_text.category_meaning(card)
num_categories = codes["num_categories"]
cont_names = codes["continuous"]


def category_name(value: int) -> str:
    text = f"{codes['categorical']} {value}"
    return text + (f" (mostly draws {meaning[value]})" if value in meaning else "")


def new_seed() -> None:
    st.session_state.ic_seed = explorer_state.different_seed(st.session_state.get("ic_seed", 0))


def reset_codes() -> None:
    for j in range(len(cont_names)):
        st.session_state[f"ic_c{j}"] = 0.0


if st.session_state.get("ic_model") != card.id:
    st.session_state.ic_cat = 0
    reset_codes()
    st.session_state.ic_model = card.id
for j in range(len(cont_names)):
    st.session_state.setdefault(f"ic_c{j}", 0.0)
st.session_state.setdefault("ic_seed", 0)

drawing = live_explorer.drawing_path(model, model_stamp(model), "ic")
live_explorer.say_drawing_path(drawing)

top = st.columns([1, 3])
with top[0]:
    seed = int(st.number_input("Noise seed", min_value=0, max_value=explorer_state.MAX_SEED, step=1, key="ic_seed",
                               help="The noise is everything the codes do not control. The same seed keeps it fixed."))
    st.button("New seed", icon=":material/casino:", on_click=new_seed)
with top[1]:
    if meaning:
        purity = (card.metrics or {}).get("code_purity")
        st.caption("Measured after training: each categorical value mostly draws one real class"
                   + (f" ({purity:.0%} of samples match that pairing)." if isinstance(purity, (int, float)) else "."))
noise = samples.infogan_noise(card, seed)


@st.fragment
def live_output(model, noise, seed: int) -> None:
    """Code controls and the picture; moving a control reruns only this part."""
    controls, picture = st.columns([1, 1])
    with controls:
        category = st.selectbox(f"Categorical code ({codes['categorical']})", range(num_categories),
                                format_func=category_name, key="ic_cat",
                                help="One of a fixed set of values. On digits it often ends up choosing the digit.")
        values = [st.slider(f"Continuous code {name}", -2.0, 2.0, step=0.1, key=f"ic_c{j}",
                            help="Trained on values between -1 and 1; beyond that the model extrapolates.")
                  for j, name in enumerate(cont_names)]
        st.button("Reset codes", on_click=reset_codes, key="ic_reset")
    latent = samples.infogan_input(card, noise, category, values)
    image = to_pil(model.generate(latent)[0])
    caption = f"{category_name(category)} · " + ", ".join(f"{n} = {v:+.1f}" for n, v in zip(cont_names, values))
    with picture:
        show_image(image, caption, f"{card.id}_seed{seed}_code{category}.png", key="ic_dl_image", min_side=320, smoothing=smooth)


if drawing.browser:
    live_explorer.infogan_canvas(model, noise, seed, drawing, category_name, reset_codes)
else:
    live_output(model, noise, seed)


@st.fragment
def traversal(model, noise, seed: int) -> None:
    st.subheader("What each code does")
    st.caption("Every row uses a different value of the categorical code; from left to right one continuous code sweeps "
               "its range while the noise stays fixed and the other continuous codes stay at 0. If the rows differ in kind and the columns change one "
               "property smoothly (slant, width, thickness...), the model has separated these factors without labels.")
    if not cont_names:
        st.info("This model has no continuous codes; the rows below show its categorical code.")
    cols = st.columns(3)
    code_index, values, low, high = None, [0.0], 0.0, 0.0
    if cont_names:
        code_index = cols[0].selectbox("Continuous code to sweep", range(len(cont_names)), format_func=lambda j: cont_names[j],
                                       key="ic_sweep")
        low, high = cols[1].slider("Sweep range", -2.0, 2.0, (-1.0, 1.0), step=0.1, key="ic_range")
        steps = cols[2].slider("Columns", 3, 11, 7, key="ic_steps")
        values = [low + (high - low) * i / (steps - 1) for i in range(steps)]
    latents, nrow = samples.traversal_latents(card, noise, code_index, values, [0.0] * len(cont_names))
    images = model.generate(latents)
    sweep = cont_names[code_index] if code_index is not None else "none"
    caption = f"Rows: {codes['categorical']} 0 to {num_categories - 1}" + (
        f"; columns: {sweep} from {low:+.1f} to {high:+.1f}" if code_index is not None else "")
    show_image(grid(images, nrow), caption, f"{card.id}_seed{seed}_traversal_{sweep}.png", key="ic_dl_grid", min_side=420, smoothing=smooth)
    if meaning:
        st.caption("Rows, top to bottom, mostly draw: " + ", ".join(meaning.get(v, "?") for v in range(num_categories)))


traversal(model, noise, seed)
