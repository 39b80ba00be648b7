"""Compare checkpoints: the same random numbers through several models or training snapshots, and their measured quality."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from ganmodels.samples import grid_columns
from ganmodels.images import grid
from ui import comparison, explorer_state, metric_text
from ui.charts import metric_bars
from ui.common import (checkpoint_root, get_model, model_catalogue, picture_smoothing, show_image, sidebar_header,
                       smoothing_control)

st.set_page_config(page_title="Compare checkpoints · GAN Studio", layout="wide")

MAX_COLUMNS = 6
PER_ROW = 3  # six columns of pictures do not fit a projector's width; two rows of three do
DISTANCES = ("classifier_fid", "fid_to_floor")  # measured against one dataset's real images

st.title("Compare checkpoints")
st.caption("Feed exactly the same random numbers to several generators, or to one generator at different moments of "
           "its training, and see how their pictures differ. Below, their measured quality side by side.")
sidebar_header()
smoothing_control()

root = checkpoint_root()
entries = comparison.compare_entries(model_catalogue(str(root)))
if not entries:
    st.warning("No checkpoints to compare. Train one (see the README) or drop a generator file into checkpoints/.")
    st.stop()
by_label = {e.label: e for e in entries}

if "cmp_entries" not in st.session_state:
    finals = [e.label for e in entries if e.weights is None]
    snaps = [e.label for e in entries if e.weights is not None]
    # Two different models if there are, otherwise a model against its earliest kept snapshot.
    st.session_state.cmp_entries = finals[:2] if len(finals) >= 2 else (finals[:1] + snaps[:1])
else:
    st.session_state.cmp_entries = [label for label in st.session_state.cmp_entries if label in by_label]

chosen = st.multiselect("Checkpoints and snapshots to compare", list(by_label), key="cmp_entries",
                        max_selections=MAX_COLUMNS,
                        help="'@ final' is the model as shipped (for some, the mean of its last snapshots, as the label says); "
                             "'@ step N' is its generator as it stood at step N of training.")
# The class picker takes the names of the first conditional model chosen; other conditional models draw the same
# class number where they have it.
class_names = next((by_label[label].classes for label in chosen if by_label[label].classes), [])
controls = st.columns(3 if class_names else 2)
seed = int(controls[0].number_input("Seed", min_value=0, max_value=explorer_state.MAX_SEED, value=0, step=1, key="cmp_seed"))
n = controls[1].slider("Samples per model", 1, 25, 9, key="cmp_n")
class_label = None
if class_names:
    class_options = [None] + list(range(len(class_names)))
    if st.session_state.get("cmp_class") not in class_options:
        st.session_state.cmp_class = None
    class_label = controls[2].selectbox("Class", class_options, key="cmp_class",
                                        format_func=lambda i: "Every class in turn" if i is None else class_names[i],
                                        help="Conditional models draw the class you ask for; the others ignore it.")

if len(chosen) < 2:
    st.info("Choose at least two entries to compare them side by side.")

selected = [by_label[label] for label in chosen]
if selected:
    # a bordered box per entry, in rows of PER_ROW equal columns (a short last row keeps the same widths, no empty box)
    columns = [col for _ in range(0, len(selected), PER_ROW) for col in st.columns(PER_ROW)][: len(selected)]
    columns = [col.container(border=True) for col in columns]
    models = []
    for col, entry in zip(columns, selected):
        with col:
            st.markdown(f"**{entry.label}**")
            if entry.error:
                st.error(f"This checkpoint's card is broken: {entry.error}")
                models.append(None)
            else:
                models.append(get_model(entry.path, entry.weights))  # shows why in this column on failure
    try:
        samples = comparison.compare_samples(models, seed, n, class_label)
    except Exception as exc:  # a model that loads but cannot sample: say so, keep the page
        st.error(f"Sampling failed ({type(exc).__name__}: {exc}).")
        samples = [None] * len(models)
    layouts = {comparison.latent_layout(m) for m in models if m is not None and not m.family.translator}
    if len(layouts) > 1:
        st.caption("These models take latents of different sizes, so they share the seed but not the exact numbers.")
    elif layouts:
        st.caption(f"Every column gets exactly the same {n} latent vector(s) from seed {seed}.")
    for col, entry, model, sample in zip(columns, selected, models, samples):
        if model is None or sample is None:
            continue
        with col:
            if sample.latents is None:
                st.info(sample.note)
                continue
            try:
                images = model.generate(sample.latents, sample.labels)
            except Exception as exc:
                st.error(f"This generator could not draw ({type(exc).__name__}: {exc}).")
                continue
            safe = entry.label.replace(" @ ", "_").replace(" ", "_").replace("(", "").replace(")", "")
            show_image(grid(images, grid_columns(n)), sample.note, f"{safe}_seed{seed}.png",
                       key=f"cmp_dl_{entry.label}", min_side=240, smoothing=picture_smoothing(model.card))
            if sample.labels is not None and class_label is not None and bool((sample.labels == class_label).all()):
                own = entry.classes[class_label] if class_label < len(entry.classes) else str(class_label)
                st.caption(f"Conditional model: every sample is its class {own}.")
            elif sample.labels is not None:
                st.caption("Conditional model: samples cycle through its classes in order.")

st.header("Measured quality")
rows = comparison.metric_rows(selected)
choices = comparison.metric_choices(rows)
if not selected:
    st.info("Choose entries above to see their figures.")
elif not choices:
    st.info("None of the chosen entries has been measured yet (run `python -m ganmodels.evaluate <folder> --snapshots`).")
else:
    card_for = {}
    for entry in selected:
        card_for.setdefault(entry.model_id, next((m.card for m in models if m is not None and m.card.id == entry.model_id), None))
    any_card = next((c for c in card_for.values() if c is not None), None)
    datasets = {e.label: e.dataset for e in selected}
    # Text cells, formatted as everywhere else: a missing figure reads "not measured", never "None".
    table = pd.DataFrame([{"Checkpoint": r["label"], "Dataset": datasets.get(r["label"]) or "?",
                           **{metric_text.metric_label(c, any_card): metric_text.format_metric(c, r[c]) if r.get(c) is not None
                              else "not measured" for c in choices}} for r in rows]).set_index("Checkpoint")
    st.dataframe(table, width="stretch", column_config={
        metric_text.metric_label(c, any_card): st.column_config.TextColumn(help=metric_text.metric_help(c) or None) for c in choices})
    metric = st.selectbox("Metric to chart", choices, format_func=lambda k: metric_text.metric_label(k, any_card), key="cmp_metric")
    floors = [r.get("classifier_fid_floor") for r in rows if r.get("classifier_fid_floor") is not None]
    measured_on = sorted({datasets.get(r["label"]) or "?" for r in rows if r.get(metric) is not None})
    floor = min(floors) if metric == "classifier_fid" and floors and len(measured_on) == 1 else None
    if metric in DISTANCES and len(measured_on) > 1:
        st.warning(f"These models were measured on different datasets ({', '.join(measured_on)}). A distance to real "
                   "images of one dataset cannot be compared with a distance to another's: compare bars of the same "
                   "colour only.", icon=":material/warning:")
    st.plotly_chart(metric_bars(rows, metric, metric_text.metric_label(metric, any_card), datasets, floor), width="stretch")
    help_text = metric_text.metric_help(metric)
    if help_text:
        st.caption(help_text)
    missing = [r["label"] for r in rows if r.get(metric) is None]
    if missing:
        st.caption("Not measured for: " + ", ".join(missing))
