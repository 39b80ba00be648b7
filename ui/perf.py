"""Switches that let bench/ measure what fragments and caching buy: GANSTUDIO_NO_FRAGMENTS=1 turns both off.

Pages decorate with `maybe_fragment` / `maybe_cache_data` instead of `st.fragment` / `st.cache_data`; with the
variable unset (the normal case) they are exactly the Streamlit decorators. With it set, a slider reruns the
whole page and every computation is redone, which is the baseline bench/slider_latency.py compares against.
Model loading (ui.common.get_model, st.cache_resource) stays cached either way: reloading weights on every
rerun would be a strawman, not a baseline.
"""
from __future__ import annotations

import os

import streamlit as st

FLAG = "GANSTUDIO_NO_FRAGMENTS"


def fragments_enabled() -> bool:
    """False when $GANSTUDIO_NO_FRAGMENTS is set to anything but '', '0', 'false' or 'no'."""
    return os.environ.get(FLAG, "").strip().lower() in ("", "0", "false", "no")


caching_enabled = fragments_enabled  # one flag switches both; session-state caches should check this too


def _identity_decorator(func=None, **_kwargs):
    """Accepts the same call forms as the Streamlit decorators: @d, @d(), @d(option=...)."""
    if func is None:
        return lambda f: f
    return func


def maybe_fragment(func=None, **kwargs):
    """`st.fragment` normally; the undecorated function (whole-page reruns) under GANSTUDIO_NO_FRAGMENTS=1."""
    if not fragments_enabled():
        return _identity_decorator(func)
    return st.fragment(func, **kwargs) if func is not None else st.fragment(**kwargs)


def maybe_cache_data(func=None, **kwargs):
    """`st.cache_data` normally; no caching under GANSTUDIO_NO_FRAGMENTS=1."""
    if not caching_enabled():
        return _identity_decorator(func)
    return st.cache_data(func, **kwargs) if func is not None else st.cache_data(**kwargs)
