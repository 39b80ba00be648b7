"""CycleGAN translate: turn photos of one kind into the other (horse ↔ zebra) and back again."""
from __future__ import annotations

from collections import OrderedDict
from dataclasses import replace

import streamlit as st

from ganmodels.images import MAX_UPLOAD_BYTES, ImageDecodeError
from ui import navigation, translation
from ui.common import model_stamp, page_model, show_image
from ui.translation import Translation, results_zip, translate_upload

st.set_page_config(page_title="CycleGAN translate · GAN Studio", layout="wide")

UPLOAD_TYPES = ["jpg", "jpeg", "png", "webp", "bmp", "tif", "tiff", "gif"]
MAX_CACHED_BYTES = 48 * 2**20  # pixels of the translations kept per browser session (the oldest go first)
MAX_FILES = 8  # photos translated per upload


def model_key(model) -> str:
    """The loaded checkpoint, changed when its card is rewritten, so a retrained model is not served from the cache."""
    return f"{model.path}:{model_stamp(model)}"


@st.cache_data(show_spinner=False, max_entries=12)
def shared_translation(key: str, _data: bytes, direction: str, max_side: int, blend: bool, _model) -> Translation:
    """Translations shared by every visitor of this server, so a photo and setting someone translated before (the
    example photos, at a stand) comes back at once; `key` (translation_key) names the photo, the setting and the
    model. Bounded to a dozen results; failures are not kept."""
    return translate_upload(_model, _data, direction, "photo", max_side, blend)


def translate_cached(model, name: str, data: bytes, direction: str, max_side: int, blend: bool) -> tuple[str, Translation | str]:
    """(cache key, Translation or the reason it failed); reruns reuse results kept in the session."""
    cache: OrderedDict = st.session_state.setdefault("cg_cache", OrderedDict())
    key = translation.translation_key(data, direction, max_side, model_key(model), blend)
    if key in cache:
        cache.move_to_end(key)
        entry = cache[key]
        return key, replace(entry, name=name) if isinstance(entry, Translation) else entry
    try:
        with st.spinner(f"Translating {name}…"):
            entry: Translation | str = replace(shared_translation(key, data, direction, max_side, blend, model), name=name)
    except ImageDecodeError as exc:
        entry = str(exc)
    except MemoryError:
        return key, "There is not enough memory to translate a photo this large; choose a smaller largest side."
    except Exception as exc:  # a model that fails on this input: say so, keep the page alive, retry on the next run
        return key, f"The translation failed ({type(exc).__name__}: {exc})."
    cache[key] = entry
    while len(cache) > 1 and sum(map(cached_bytes, cache.values())) > MAX_CACHED_BYTES:
        cache.popitem(last=False)
    return key, entry


def cached_bytes(entry: Translation | str) -> int:
    """What one cache entry holds in memory: its three RGB images (a failure's message counts as nothing)."""
    if not isinstance(entry, Translation):
        return 0
    images = [entry.source, entry.translated] + ([entry.reconstructed] if entry.reconstructed is not None else [])
    return sum(img.width * img.height * len(img.getbands()) for img in images)


def file_slug(text: str) -> str:
    """'horse-to-zebra' from domain names, safe in a file name whatever a card calls its domains."""
    return "-".join("".join(c if c.isalnum() else " " for c in text.lower()).split()) or "translated"


def collect_inputs(card, direction: str) -> list[tuple[str, bytes]]:
    """Uploaded files, a camera photo and chosen examples, as (name, bytes)."""
    inputs: list[tuple[str, bytes]] = []
    uploads = st.file_uploader(
        "Photos to translate", type=UPLOAD_TYPES, accept_multiple_files=True, key="cg_uploads",
        max_upload_size=MAX_UPLOAD_BYTES // 2**20,
        help="JPEG, PNG, WebP, BMP or TIFF, any size: large photos are shrunk to the largest side chosen above.")
    if len(uploads or []) > MAX_FILES:
        st.warning(f"{len(uploads)} photos were uploaded; the first {MAX_FILES} are translated. Remove some to see the others.")
    for up in (uploads or [])[:MAX_FILES]:
        inputs.append((up.name, up.getvalue()))
    if st.toggle("Take a photo with the camera", key="cg_use_camera"):
        shot = st.camera_input("Camera", key="cg_camera")
        if shot is not None:
            inputs.append(("camera.jpg", shot.getvalue()))
    examples = translation.example_images(card, direction)
    source = translation.direction_label(card, direction).split(" → ")[0]
    if examples:
        by_name = {p.name: p for p in examples}
        chosen = st.multiselect(f"Or try example photos ({source} test photos the model never trained on)", list(by_name),
                                key=f"cg_examples_{direction}", max_selections=6)
        for name in chosen:
            try:
                inputs.append((name, by_name[name].read_bytes()))
            except OSError as exc:
                st.warning(f"The example {name} could not be read ({exc}).")
    else:
        st.caption("No example photos for this model on this machine: upload your own.")
    return inputs


model = page_model(
    "CycleGAN: translate photos",
    "CycleGAN learned to turn one kind of photo into another (for example horses into zebras) from two "
    "unrelated piles of photos, never from matching pairs. It learned both directions together, and insisted "
    "that going there and back returns the original: the right-hand column shows that round trip.",
    page=navigation.CYCLEGAN_TRANSLATE,
)
card = model.card
directions = translation.available_directions(model)
if not directions:
    st.error("This checkpoint holds no translation direction that can be used.")
    st.stop()

controls = st.columns([3, 2])
with controls[0]:
    direction = st.radio("Direction", directions, format_func=lambda d: translation.direction_label(card, d), horizontal=True,
                         key="cg_direction")
    if len(directions) == 1:
        st.caption("This checkpoint translates one way only, so there is no way back to show.")
with controls[1]:
    sizes, default_side = translation.translation_sizes(card)
    low, high = translation.training_sides(card)
    learned = f"{high}" if low == high else f"{low} to {high}"
    max_side = st.select_slider("Largest side (pixels)", sizes, value=default_side, key="cg_max_side",
                                help="Photos are shrunk so their longer side is at most this: larger sizes keep more "
                                     "detail and take longer.")
    blend = st.toggle("Scale blend", value=True, key="cg_blend",
                      help=f"The model learned on photos {learned} pixels wide (crops of {card.image_size}); in one pass "
                           "over a larger photo its effect weakens as the photo grows. On: a photo larger than "
                           f"{card.image_size} px takes its coarse content (stripes, colours) from the model's "
                           "translation of the photo shrunk to that size and its fine detail from the translation at "
                           "its own size. Off: that one pass alone.")

inputs = collect_inputs(card, direction)
if not inputs:
    st.info("Upload one or more photos, take one with the camera, or pick examples to see them translated.")
    st.stop()

label = translation.direction_label(card, direction)
back = translation.direction_label(card, "b2a" if direction == "a2b" else "a2b")
source_name, target_name = label.split(" → ")
there_slug = file_slug(f"{source_name}-to-{target_name}")  # file names say which way was translated
back_slug = file_slug(f"back-to-{source_name}")
results: list[Translation] = []
keys: list[str] = []
for index, (name, data) in enumerate(inputs):
    key, entry = translate_cached(model, name, data, direction, max_side, blend)
    st.subheader(name)
    if isinstance(entry, str):
        st.error(f"{name}: {entry}")
        continue
    results.append(entry)
    keys.append(key)
    if entry.notes:
        st.caption("Note: " + "; ".join(entry.notes) + ".")
    stem = name.rsplit(".", 1)[0] or "image"
    left, middle, right = st.columns(3)
    with left:
        st.image(entry.source, caption=f"Input ({entry.source.width}x{entry.source.height})", width="stretch")
    with middle:
        show_image(entry.translated, f"Translated: {label}", f"{stem}-{there_slug}.png", key=f"cg_dl_t_{index}_{key[:12]}", min_side=0)
    with right:
        if entry.reconstructed is not None:
            show_image(entry.reconstructed, f"Back again: {back}", f"{stem}-{back_slug}.png",
                       key=f"cg_dl_r_{index}_{key[:12]}", min_side=0)
        else:
            st.caption("No way back: this checkpoint has only one direction.")

if results:
    zips: dict = st.session_state.setdefault("cg_zip", {})
    zip_key = tuple(keys) + tuple(r.name for r in results) + (there_slug,)
    if zip_key not in zips:
        zips.clear()
        zips[zip_key] = results_zip(results, there_slug, back_slug)
    st.download_button(f"Download all {len(results)} result(s) as a zip", zips[zip_key], file_name=f"cyclegan-{there_slug}.zip",
                       mime="application/zip", key="cg_zip_download", on_click="ignore")
