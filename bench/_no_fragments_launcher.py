"""`streamlit run` with st.fragment and st.cache_data replaced by plain functions: the slider benchmarks' baseline.

    python -m bench._no_fragments_launcher run app.py [streamlit options]

It patches Streamlit itself before any page is imported, so every page is covered and the app needs no switch
of its own. Model loading (st.cache_resource) and session-state caches are left alone. Used by
bench/_common.StreamlitServer(no_fragments=True).
"""
from __future__ import annotations

import sys

import streamlit


def _identity(func=None, **_kwargs):
    """Accepts @d, @d() and @d(options) like the Streamlit decorators; returns the function undecorated."""

    def wrap(f):
        try:
            f.clear = lambda *a, **k: None  # cached functions offer .clear(); keep callers working
        except AttributeError:
            pass
        return f

    return wrap if func is None else wrap(func)


streamlit.fragment = _identity
streamlit.cache_data = _identity

if __name__ == "__main__":
    from streamlit.web.cli import main

    sys.argv[0] = "streamlit"
    sys.exit(main())
