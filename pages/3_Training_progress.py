"""Training progress: watch a model learn (snapshot grids, loss curves, measurements) and start new training runs."""
from __future__ import annotations

import time
from pathlib import Path

import pandas as pd
import streamlit as st
from PIL import Image

from ganmodels.cards import CardError
from ganmodels.files import LOSSES_NAME, STATE_NAME
from ganmodels.registry import FAMILIES
from ganmodels.runs import RunInfo, list_runs, live_status, read_card_cached, read_losses_incremental, run_status
from ui import access, metric_text, new_run, presenter, run_progress
from ui.charts import loss_figure, quality_keys, snapshot_metrics_figure
from ui.common import checkpoint_root, picture_smoothing, runs_root, show_image, sidebar_header, smoothing_control

st.set_page_config(page_title="Training progress · GAN Studio", layout="wide")

REFRESH_SECONDS = 5
# Material icons come with Streamlit's own font; emoji would need an emoji font, which many projector laptops lack.
STATUS_TEXT = {"running": ":green[:material/play_circle: running]", "finished": ":blue[:material/check_circle: finished]",
               "stopped": ":red[:material/stop_circle: stopped]", "shipped": ":violet[:material/inventory_2: shipped]"}
STATUS_HELP = {
    "running": "Training is going on right now in a background process; this page refreshes itself every "
               f"{REFRESH_SECONDS} seconds.",
    "finished": "Training ran all its steps.",
    "stopped": "Training ended before all its steps: it was paused (--stop-at, SIGTERM, Ctrl-C), crashed, or its "
               "process was killed.",
    "shipped": "A finished model that ships with GAN Studio.",
}
LOSS_HELP = (
    "How to read these curves: the discriminator (D) learns to tell real images from generated ones, the generator (G) "
    "learns to fool it. Unlike most training, the losses do not simply fall: in a healthy GAN they settle and wobble "
    "around a level while the pictures improve. A D loss near zero with a climbing G loss means the discriminator has "
    "won and the generator stopped learning. Extra curves of this family (hidden at first) can be switched on in the legend."
)


@st.cache_data(show_spinner=False, max_entries=16)
def cached_losses(folder: str, stamp: tuple[int, int], every: int) -> dict[str, list[float]]:
    """The run's loss log, parsed again only when the file changes (`stamp` is its mtime and size), and then only
    the rows appended since the last parse (read_losses_incremental: a live page costs O(new rows))."""
    return read_losses_incremental(Path(folder), every)


def is_run(folder: Path) -> bool:
    """A folder under runs/ (rather than a shipped checkpoint)."""
    try:
        return folder.resolve().parent == runs_root().resolve()
    except OSError:
        return False


def run_label(run: RunInfo) -> str:
    """Plain text (a select box draws neither icons nor markdown): the run's name first, so it is never cut."""
    title = run.card.title or run.card.id
    name = "" if title == run.folder.name else f" [{run.folder.name}]"
    return f"{title}{name} · {run.status}"


# --- starting a run -----------------------------------------------------------------------------------

def new_run_form(expanded: bool) -> None:
    """The form that starts `python -m ganmodels.train` as a background process writing runs/<name>/."""
    runs_dir = runs_root()
    with st.expander("Start a new training run", expanded=expanded):
        if access.is_public():
            st.info("Starting training runs is turned off on this server, because it is open to visitors over the "
                    "network: every run takes the server's processors for minutes to hours. " + access.HOW_TO_TURN_ON)
            return
        caps = access.limits()
        st.caption(f"Limits on this server: {caps.max_concurrent_runs} run(s) at once, at most {caps.max_steps:,} steps "
                   f"and {caps.max_snapshots} snapshots per run, {caps.run_disk_mb:,} MB of disk per run, "
                   f"{caps.memory_mb / 1024:.1f} GB of memory for its data and nets. Data folders must be inside: "
                   + ", ".join(f"`{r}`" for r in caps.allowed_roots()) + ".")
        st.caption("Training runs in a separate background process: you can refresh or close this page and it keeps "
                   "going, writing into the folder runs/<name>. On a CPU, a few thousand steps of a small model take "
                   "minutes; the full models take hours.")
        with st.form("new_run"):
            left, right = st.columns(2)
            family = left.selectbox("Model family", list(FAMILIES), format_func=lambda f: FAMILIES[f].title, key="nr_family")
            dataset = right.selectbox("Dataset", list(new_run.DATASETS), format_func=new_run.DATASETS.get, key="nr_dataset")
            data_root = st.text_input(
                "Data folder", key="nr_root",
                placeholder="empty: this machine's offline copy of the dataset (see the README)",
                help="MNIST and Fashion-MNIST: the folder with their IDX files. CIFAR-10: the folder that holds train/<class>/ "
                     "and test/<class>/ (empty: ../shared/data/cifar10). A folder of images: the folder itself; "
                     "for CycleGAN the folder that holds trainA and trainB (empty: the offline horse2zebra copy). The few "
                     "examples shipped in examples/ are for trying the pages, too few to train on.")
            a, b, c = st.columns(3)
            steps = a.number_input("Training steps", min_value=1, max_value=new_run.MAX_STEPS, value=2000, step=100, key="nr_steps")
            snapshot_every = b.number_input("Snapshot every … steps", min_value=1, max_value=new_run.MAX_STEPS, value=None, step=50,
                                            key="nr_snap", placeholder="automatic: 8 evenly spaced",
                                            help="Empty takes eight evenly spaced snapshots.")
            image_size = c.number_input("Image size (pixels)", min_value=16, max_value=512, value=None, step=4, key="nr_size",
                                        placeholder="the family's default",
                                        help="Empty uses the family's default: 28 for digits, 32 for CIFAR-10, 64 for image folders, 128 for CycleGAN.")
            small = st.checkbox("Small model: trains in minutes on a CPU, at lower quality", key="nr_small")
            name = st.text_input("Run name", key="nr_name", placeholder="empty: an automatic name such as dcgan-mnist-1",
                                 help="Letters, digits, '-', '_' and '.'; it becomes the folder name under runs/.")
            submitted = st.form_submit_button("Start training", type="primary")
        if submitted:
            start_run(family, dataset, data_root, int(steps), int(snapshot_every or 0), int(image_size or 0), small, name)


def start_run(family, dataset, data_root, steps, snapshot_every, image_size, small, name) -> None:
    runs_dir = runs_root()
    name = (name or "").strip() or new_run.suggest_run_name(family, dataset, runs_dir)
    try:
        if access.is_public():  # the form is not drawn in public mode; a replayed submit is refused all the same
            raise new_run.RunRequestError("Starting training runs is turned off on this server.")
        caps = access.limits()
        request = new_run.validate_request(family, dataset, steps, name, runs_dir, data_root, snapshot_every, small,
                                           image_size, checkpoints_dir=checkpoint_root(), limits=caps)
        new_run.launch(request, runs_dir, caps, owner=access.visitor_id())
    except new_run.RunRequestError as exc:
        st.error(str(exc))
        return
    except OSError as exc:
        st.error(f"The training process could not be started: {exc}")
        return
    st.session_state["progress_wanted"] = request.name
    st.success(f"Started '{request.name}'. It appears in the run list as soon as its data is loaded; "
               "it keeps training if you refresh or close this page.")


def pending_panel() -> None:
    """Runs started from here that have no card yet: starting (refreshes until listed) or failed (with the log)."""
    runs_dir = runs_root()
    pending = new_run.pending_launches(runs_dir)
    starting = {p.name for p in pending if p.state == "starting"}

    def body():
        now = new_run.pending_launches(runs_dir)
        if starting - {p.name for p in now if p.state == "starting"}:
            st.rerun()  # one has its card now (or failed): redraw the run list
        for p in now:
            if p.state == "starting":
                st.info(f"'{p.name}' is starting: loading its training data "
                        f"({run_progress.format_duration(time.time() - p.started)} so far).", icon=":material/hourglass_top:")
                access.stop_button(runs_dir / p.name, key=f"stop_pending_{p.name}")
            else:
                st.error(f"'{p.name}' stopped before training began. The end of its log says why:")
                if not access.is_public():  # a log can hold server paths and tracebacks
                    st.code(p.log_tail or "(the log is empty)", language=None)
                st.button("Dismiss", key=f"dismiss_{p.name}", on_click=new_run.dismiss_launch, args=(runs_dir, p.name))

    st.fragment(run_every=2 if starting else None)(body)()


# --- one run -----------------------------------------------------------------------------------------

def show_stopped(folder: Path) -> None:
    """Why a run stopped: the error it recorded and the end of its log."""
    live = live_status(folder)
    if live.get("paused"):
        st.info(f"The run was paused ({live['paused']}) with its state saved at step {live['step']:,}: nothing it "
                "trained is lost.")
    elif live.get("error"):
        st.error(f"The run stopped with: {live['error']}")
    else:
        st.warning("The run stopped before finishing (its process is gone without saying why).")
    tail = None if access.is_public() else run_progress.log_tail(run_progress.run_log_path(folder))
    if tail:
        with st.expander("End of the training log", expanded=True):
            st.code(tail, language=None)
    else:
        st.caption("This run has no log (runs started from this page write one).")
    if (folder / STATE_NAME).is_file() and not access.is_public():
        st.caption("To continue from its last snapshot, run:")
        st.code(f"python -m ganmodels.train --resume {folder}", language="bash")


def show_snapshot(folder: Path, card, snaps: list[dict], status: str) -> int | None:
    """Slider over the snapshots; the chosen one's fixed-noise grid, step, epoch and measurements."""
    if not snaps:
        every = card.training.get("hparams", {}).get("snapshot_every")
        st.info("No snapshot yet" + (f": the first grid appears at step {every:,}." if every else "."))
        return None
    steps = [int(s["step"]) for s in snaps]
    key = f"snap_{folder.name}_{abs(hash(str(folder))) % 10**8}"
    follow = False
    if status == "running":
        follow = st.toggle("Follow the newest snapshot", value=True, key=f"follow_{key}",
                           help="Jump to each new snapshot as training writes it.")
    if key not in st.session_state or st.session_state[key] not in steps or follow:
        st.session_state[key] = steps[-1]
    if len(steps) > 1:
        step = st.select_slider("Snapshot", options=steps, format_func=lambda s: f"step {s:,}", key=key,
                                help="The same fixed random inputs drawn by the generator at each saved moment of training.")
    else:
        step = steps[0]
        st.caption("One snapshot so far.")
    snap = snaps[steps.index(step)]
    epoch = snap.get("epoch")
    epoch_text = f" · epoch {epoch:.2f}" if isinstance(epoch, (int, float)) else ""
    picture, numbers = st.columns([3, 2])
    with picture:
        grid_path = folder / str(snap.get("grid") or "")
        try:
            with Image.open(grid_path) as img:
                img.load()
        except (OSError, ValueError):
            st.warning(f"The grid image of step {step:,} is missing or unreadable ({grid_path.name}).")
        else:
            show_image(img, f"Fixed-noise grid at step {step:,}{epoch_text}", f"{card.id}-step_{step:07d}.png",
                       key=f"dl_{key}", min_side=384, smoothing=picture_smoothing(card))
    with numbers:
        st.metric("Step", f"{step:,}")
        if isinstance(epoch, (int, float)):
            st.metric("Epoch", f"{epoch:.2f}", help="Passes over the training images so far.")
        for metric_key, value in metric_text.numeric_metrics(snap.get("metrics")).items():
            st.metric(metric_text.metric_label(metric_key, card), metric_text.format_metric(metric_key, value),
                      help=metric_text.metric_help(metric_key) or None)
    return step


def show_losses(folder: Path, card, marker: int | None, steps_done: int) -> None:
    path = folder / LOSSES_NAME
    try:
        stat = path.stat()
    except OSError:
        st.info("This folder has no loss log.")
        return
    every = run_progress.loss_thinning(steps_done)
    columns = cached_losses(str(folder), (stat.st_mtime_ns, stat.st_size), every)
    if not columns.get("step"):
        st.info("No losses logged yet.")
        return
    window = st.slider("Smoothing (steps averaged)", 1, 500, 25, key=f"smooth_{folder.name}",
                       help="GAN losses jump from step to step; averaging shows the trend.")
    fig = loss_figure(columns, marker, window=max(1, round(window / every)))
    fig.update_layout(yaxis_title=f"loss (average of {'about ' if every > 1 else ''}{window} steps)")
    st.plotly_chart(fig, key=f"losses_{folder.name}")
    st.caption(LOSS_HELP)


def show_snapshot_metrics(card) -> None:
    """Each quality figure in its own panel (a sample count of 2000 on FID's axis would flatten it), the full-width
    table under it in an expander, formatted as everywhere else."""
    rows = run_progress.snapshot_rows(card)
    figure = snapshot_metrics_figure(rows, card)
    if figure is None:
        return
    st.subheader("Measurements at each snapshot")
    st.plotly_chart(figure, key=f"metrics_{card.id}", width="stretch")
    keys = quality_keys(run_progress.metric_keys(rows))
    st.caption("  \n".join(f"**{metric_text.metric_label(k, card)}**: {metric_text.metric_help(k)}" for k in keys
                           if metric_text.metric_help(k)))
    table = [{"Step": f"{r['step']:,}", "Epoch": f"{r['epoch']:.2f}" if isinstance(r.get("epoch"), (int, float)) else "",
              **{metric_text.metric_label(k, card): metric_text.format_metric(k, r[k]) if k in r else "" for k in keys}}
             for r in rows]
    with st.expander("The same figures as a table"):
        st.dataframe(pd.DataFrame(table), hide_index=True, width="stretch")


def show_run(folder: Path, status_at_load: str) -> None:
    """The live part: re-read from disk on every refresh while the run is going."""
    try:
        card = read_card_cached(folder)
    except CardError as exc:
        st.error(f"This run's card cannot be read: {exc}")
        return
    status = run_status(folder, card)
    if status != status_at_load:
        st.rerun()  # finished or stopped since the page was drawn: redraw it all (and stop refreshing)
    live = live_status(folder)
    share, text = run_progress.progress(card, live)
    if status == "running":
        st.progress(share, text=text)
    elif card.training.get("total_steps"):
        seconds = float(card.training.get("seconds") or 0)
        st.caption(text + (f" · trained for {run_progress.format_duration(seconds)}" if seconds >= 1 else ""))
    snaps = run_progress.snapshots(card)
    marker = show_snapshot(folder, card, snaps, status)
    st.subheader("Losses")
    steps_done = int(live.get("step") or card.training.get("steps_done") or 0)
    show_losses(folder, card, marker, steps_done)
    show_snapshot_metrics(card)


# --- the page ----------------------------------------------------------------------------------------

st.title("Training progress")
st.caption("Watch a GAN learn: the same random inputs drawn at each saved moment of training, the losses of its two "
           "networks, and measurements taken along the way. Start a new training run below.")
sidebar_header()
smoothing_control()
new_run.reap_children()
access.start_run_watcher(runs_root)

runs = list_runs(runs_root(), checkpoint_root())
new_run_form(expanded=not runs)
pending_panel()

if not runs:
    st.info("No training runs and no checkpoints yet. Start one above.")
    st.stop()

by_folder = {str(r.folder): r for r in runs}


def folder_named(name: str | None) -> str | None:
    return next((key for key, r in by_folder.items() if r.folder.name == name), None) if name else None


launched = folder_named(st.session_state.get("progress_wanted"))
if launched:  # a run started from the form has its card now: show it
    st.session_state["progress_run"] = launched
    del st.session_state["progress_wanted"]
elif "progress_run" not in st.session_state and folder_named(st.query_params.get("run")):
    st.session_state["progress_run"] = folder_named(st.query_params.get("run"))
if st.session_state.get("progress_run") not in by_folder:
    st.session_state["progress_run"] = str(runs[0].folder)
choice = st.selectbox("Run or shipped model", list(by_folder), key="progress_run", format_func=lambda k: run_label(by_folder[k]),
                      help="Runs being trained come first, then the newest, then the models that ship with GAN Studio.")
run = by_folder[choice]
st.query_params["run"] = run.folder.name

card = run.card
st.header(card.title or card.id)
family = FAMILIES.get(card.family)
details = [family.title if family else card.family, f"dataset: {card.dataset.get('name', 'unknown')}",
           f"folder: {'runs' if is_run(run.folder) else 'checkpoints'}/{run.folder.name}"]
st.caption(" · ".join(details))
st.markdown(f"**Status:** {STATUS_TEXT.get(run.status, run.status)}", help=STATUS_HELP.get(run.status))
if run.status == "running":
    access.stop_button(run.folder, key=f"stop_{run.folder.name}")
if card.description:
    st.caption(card.description)
if run.status == "stopped":
    show_stopped(run.folder)

if presenter.active():  # a projector or a stand: the snapshots play by themselves, the details stay below
    presenter.snapshot_loop(run.folder, run_progress.snapshots(card), picture_smoothing(card))
st.fragment(run_every=REFRESH_SECONDS if run.status == "running" else None)(show_run)(run.folder, run.status)

commands = None if access.is_public() else run_progress.training_commands(card)  # they name server paths
if commands:
    with st.expander("How this run was trained"):
        st.code(commands, language="bash")
