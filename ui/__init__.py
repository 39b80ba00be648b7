"""Streamlit-side helpers shared by app.py and pages/: caching, the sidebar, safe loading."""
