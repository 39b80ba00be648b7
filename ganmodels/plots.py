"""Plotly figures the pages show; built here so they are tested without a browser."""
from __future__ import annotations

import plotly.graph_objects as go

from .runs import smooth

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
