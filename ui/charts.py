"""The Plotly charts the pages show, built here so they are tested without a browser: loss curves, classifier
probabilities, and measured quality shaped to be read from the back of a room (one panel per metric, a log axis
where values span decades, numbers formatted as the tables format them). ganmodels stays free of plotly."""
from __future__ import annotations

import math

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ganmodels.runs import smooth
from ui import metric_text

LOG_SPAN = 10.0  # a log axis once the largest value is this many times the smallest
PANELS_PER_ROW = 2
FONT = dict(size=15)


def _finite(values) -> list[float]:
    return [float(v) for v in values if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)]


def wants_log(values) -> bool:
    """True when every value is positive and they span at least a decade, so a linear axis would flatten the small ones."""
    numbers = _finite(values)
    return len(numbers) >= 2 and min(numbers) > 0 and max(numbers) / min(numbers) >= LOG_SPAN


def quality_keys(keys) -> list[str]:
    """Metrics worth a panel: quality figures only (no sample counts, timings or the real-data floor)."""
    return [k for k in keys if k not in metric_text.NOT_QUALITY and k != "classifier_fid_floor"]


def _tickformat(key: str) -> str | None:
    return ".0%" if metric_text.metric_kind(key) == "percent" else None


def snapshot_metrics_figure(rows: list[dict], card=None) -> go.Figure | None:
    """Each quality metric over training steps in its own panel with its own axis; None when no snapshot has one."""
    keys = quality_keys(k for r in rows for k in r if k not in ("step", "epoch"))
    keys = list(dict.fromkeys(keys))
    if not keys:
        return None
    cols = min(PANELS_PER_ROW, len(keys))
    nrows = math.ceil(len(keys) / cols)
    fig = make_subplots(rows=nrows, cols=cols, subplot_titles=[metric_text.metric_label(k, card) for k in keys],
                        horizontal_spacing=0.12, vertical_spacing=min(0.3, 0.9 / max(1, nrows)))
    for i, key in enumerate(keys):
        row, col = i // cols + 1, i % cols + 1
        points = [(r["step"], r[key]) for r in rows if isinstance(r.get(key), (int, float)) and not isinstance(r.get(key), bool)]
        fig.add_trace(go.Scatter(x=[p[0] for p in points], y=[p[1] for p in points], mode="lines+markers",
                                 name=metric_text.metric_label(key, card),
                                 hovertemplate="step %{x:,}<br>%{y:.4g}<extra></extra>"), row=row, col=col)
        fig.update_yaxes(type="log" if wants_log([p[1] for p in points]) else "linear", tickformat=_tickformat(key),
                         row=row, col=col)
        fig.update_xaxes(title_text="training step" if row == nrows else None, row=row, col=col)
    fig.update_layout(height=90 + 260 * nrows, showlegend=False, margin=dict(l=10, r=10, t=50, b=10), font=FONT)
    return fig


def metric_bars(rows: list[dict], metric: str, title: str, datasets: dict[str, str] | None = None,
                floor: float | None = None) -> go.Figure:
    """One horizontal bar per checkpoint (long names stay readable), coloured by the dataset it was measured on, on a
    log axis where the values span decades; a dashed line for the real-data floor when given."""
    datasets = datasets or {}
    measured = [r for r in rows if _finite([r.get(metric)])]
    fig = go.Figure()
    for dataset in dict.fromkeys(datasets.get(r["label"], "") for r in measured):
        part = [r for r in measured if datasets.get(r["label"], "") == dataset]
        fig.add_trace(go.Bar(y=[r["label"] for r in part], x=[r[metric] for r in part], orientation="h",
                             name=dataset or "unknown data", text=[metric_text.format_metric(metric, r[metric]) for r in part],
                             textposition="auto", cliponaxis=False))
    values = [r[metric] for r in measured] + ([floor] if floor else [])
    log = wants_log(values)
    if floor is not None:
        fig.add_vline(x=floor, line_dash="dash", annotation_text="real-data floor", annotation_position="top")
    fig.update_xaxes(type="log" if log else "linear", tickformat=_tickformat(metric),
                     title_text=title + (" (log scale: each step is 10 times the last)" if log else ""))
    fig.update_yaxes(autorange="reversed")
    fig.update_layout(title=title, height=120 + 48 * max(1, len(measured)), margin=dict(l=10, r=10, t=50, b=10),
                      barmode="overlay", font=FONT, showlegend=len(fig.data) > 1,
                      legend=dict(title="measured on", orientation="h", y=1.02, yanchor="bottom", x=1, xanchor="right"))
    return fig


# --- training losses and classifier probabilities ----------------------------------------------------

LOSS_ORDER = ("d_real", "d_fake", "d_total", "g")


LOSS_NAMES = {"d_real": "D loss on real", "d_fake": "D loss on fake", "d_total": "D total", "g": "G loss"}


NOT_LOSSES = {"step", "epoch", "lr"}


def loss_figure(columns: dict[str, list[float]], marker_step: int | None = None, window: int = 25, extras: bool = True) -> go.Figure:
    """D-real, D-fake, D-total and G (plus the family's extras), smoothed, with the chosen snapshot marked."""
    fig = go.Figure()
    steps = columns.get("step", [])
    keys = [k for k in LOSS_ORDER if k in columns]
    if extras:
        keys += [k for k in columns if k not in NOT_LOSSES and k not in LOSS_ORDER]
    for key in keys:
        fig.add_trace(go.Scatter(x=steps, y=smooth(columns[key], window), mode="lines", name=LOSS_NAMES.get(key, key),
                                 visible=True if key in LOSS_ORDER else "legendonly"))
    if marker_step is not None:
        fig.add_vline(x=marker_step, line_dash="dash", line_color="gray", annotation_text=f"step {marker_step}")
    fig.update_layout(xaxis_title="training step", yaxis_title=f"loss (moving average of {window} steps)",
                      height=380, margin=dict(l=10, r=10, t=30, b=10), legend=dict(orientation="h", y=-0.2))
    return fig


def probability_bars(probabilities: dict[str, list[float]], classes: list[str]) -> go.Figure:
    """Side-by-side class probabilities of several classifiers (SGAN vs the plain one)."""
    fig = go.Figure()
    for name, probs in probabilities.items():
        fig.add_trace(go.Bar(x=classes, y=probs, name=name))
    # categorical: digit names are numbers to plotly, which would then label only every other one
    fig.update_layout(barmode="group", yaxis=dict(range=[0, 1], title="probability"),
                      xaxis=dict(title="class", type="category", tickmode="linear"),
                      height=340, margin=dict(l=10, r=10, t=30, b=10))
    return fig
