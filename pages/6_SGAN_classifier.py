"""SGAN classifier: a digit classifier that learned from 100 labelled images, against a plain one trained on the same labels."""
from __future__ import annotations

import secrets
from pathlib import Path

import streamlit as st
import torch

from ganmodels.data import CLASS_NAMES, DatasetError, load_labelled
from ganmodels.images import MAX_UPLOAD_BYTES, ImageDecodeError, decode_upload, to_pil
from ui import digits, metric_text, navigation
from ui.charts import probability_bars
from ui.common import page_model, show_image

st.set_page_config(page_title="SGAN classifier · GAN Studio", layout="wide")

UPLOAD_TYPES = ["png", "jpg", "jpeg", "webp", "bmp", "tif", "tiff", "gif"]
SOURCES = {"test": "A real test image", "upload": "Upload a picture"}


@st.cache_resource(show_spinner="Loading the test images…", max_entries=4)
def test_set(dataset: str, root: str | None, image_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The dataset's test split in [-1, 1], loaded once per server."""
    return load_labelled(dataset, root, split="test", image_size=image_size)


def class_names(card) -> list[str]:
    classes = card.dataset.get("classes") or CLASS_NAMES.get(card.dataset.get("name", ""))
    return list(classes) if classes else [str(i) for i in range(int(card.arch.get("num_classes", 10)))]


def dataset_root(card) -> str | None:
    root = card.dataset.get("root")
    return root if root and Path(root).is_dir() else None


def pick_test_image(card, classes: list[str]) -> tuple[torch.Tensor, str] | None:
    """A test image chosen by number (or at random): the classifier input and its true class."""
    dataset = card.dataset.get("name", "mnist")
    try:
        images, labels = test_set(dataset, dataset_root(card), card.image_size)
    except DatasetError:
        bundled = digits.bundled_digits(dataset, card.image_size)
        if bundled is None:
            st.warning(f"The {dataset} test images are not available on this machine. Upload a picture instead.")
            return None
        images, labels = bundled
        st.caption(f"The full test set is not on this machine: these are the {len(images)} test digits that ship with "
                   "GAN Studio (two of each class).")
    count = len(images)
    if not 0 <= st.session_state.get("sg_index", 0) < count:
        st.session_state["sg_index"] = 0

    def random_pick():
        st.session_state["sg_index"] = secrets.randbelow(count)

    left, right = st.columns([3, 1])
    index = left.number_input(f"Test image number (0 to {count - 1:,})", min_value=0, max_value=count - 1, step=1,
                              key="sg_index")
    right.button("Random image", on_click=random_pick, key="sg_random")
    truth = classes[int(labels[index])] if int(labels[index]) < len(classes) else str(int(labels[index]))
    return images[index : index + 1], truth


def uploaded_digit(card) -> tuple[torch.Tensor, object] | None:
    """An uploaded picture made MNIST-like: inverted if light, cropped, fitted in 20x20, centred in 28x28."""
    upload = st.file_uploader("Picture of a single digit (dark on light or light on dark)", type=UPLOAD_TYPES,
                              key="sg_upload", max_upload_size=MAX_UPLOAD_BYTES // 2**20,
                              help="A photo or scan of one handwritten digit works best, cropped loosely.")
    if upload is None:
        st.info("Upload a picture of a handwritten digit, or switch to a real test image.")
        return None
    try:
        decoded = decode_upload(upload.getvalue(), max_side=1024)
        digit = digits.mnist_style(decoded.image)
    except (ImageDecodeError, digits.DigitError) as exc:
        st.error(f"{upload.name}: {exc}")
        return None
    with st.expander("Your picture before preparation"):
        st.image(decoded.image, width=min(320, decoded.image.width))
    return digits.digit_tensor(digit, card.image_size), upload.name


model = page_model(
    "SGAN: learning from 100 labels",
    "A semi-supervised GAN's discriminator does two jobs: it tells real images from generated ones, and it says "
    "which class a real image belongs to. Training it as a GAN lets it learn from tens of thousands of images "
    "nobody labelled. Here it is compared with a plain classifier, the same network trained on the labelled "
    "images alone.",
    page=navigation.SGAN_CLASSIFIER,
)
card = model.card
if "classifier" not in model.companions:
    st.error("This SGAN checkpoint has no classifier weights (classifier.safetensors is missing), so it cannot classify.")
    st.stop()
classes = class_names(card)
labelled = card.training.get("hparams", {}).get("labels") or card.metrics.get("labelled_images") or 100
unlabelled = card.dataset.get("num_images")

scores = st.columns(3)
for column, key in zip(scores, ("test_accuracy", "baseline_test_accuracy")):
    value = card.metrics.get(key)
    column.metric(metric_text.metric_label(key, card), metric_text.format_metric(key, value) if value is not None else "not measured",
                  help=metric_text.metric_help(key) or None)
test_acc, base_acc = card.metrics.get("test_accuracy"), card.metrics.get("baseline_test_accuracy")
if isinstance(test_acc, (int, float)) and isinstance(base_acc, (int, float)):
    scores[2].metric("Gain from the unlabelled images", f"{(test_acc - base_acc) * 100:+.1f} points")
st.caption(f"Both classifiers saw only {labelled} labelled images ({max(1, int(labelled) // max(1, len(classes)))} per class). "
           f"The SGAN also learned from {'the ' + format(unlabelled, ',') if unlabelled else 'the'} training images without "
           "their labels and from its generator's fakes; the plain classifier had nothing else. Accuracy is measured on "
           "the test images neither of them trained on.")

source = st.radio("What to classify", list(SOURCES), format_func=SOURCES.get, horizontal=True, key="sg_source")
picked = pick_test_image(card, classes) if source == "test" else uploaded_digit(card)
if picked is None:
    st.stop()
x, about = picked

probabilities = digits.class_probabilities(model, x)
left, right = st.columns([1, 2])
with left:
    caption = f"What the classifiers see ({card.image_size}x{card.image_size})"
    if source == "test":
        caption += f"; the true answer is {about}"
    show_image(to_pil(x[0]), caption, "classifier-input.png", key="sg_input_download", min_side=224)
with right:
    verdicts = st.columns(len(probabilities))
    for column, (name, probs) in zip(verdicts, probabilities.items()):
        best = max(range(len(probs)), key=probs.__getitem__)
        label = classes[best] if best < len(classes) else str(best)
        column.metric(f"{name} says", label, f"{probs[best]:.0%} sure", delta_color="off", delta_arrow="off")
    st.plotly_chart(probability_bars(probabilities, classes[: len(next(iter(probabilities.values())))]), key="sg_bars")
    st.caption("The bars are each classifier's confidence in every class (they add up to 100%).")
if "baseline" not in model.companions:
    st.caption("This checkpoint has no plain classifier to compare with (baseline.safetensors is missing).")
