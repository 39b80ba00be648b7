"""The app side of GAN Studio: page logic kept free of Streamlit (tested without it: explorer_state, new_run,
run_progress, translation, digits, metric_text, comparison, slide_pictures, server_limits, run_launches, navigation)
and the Streamlit helpers app.py and pages/ share (common, live_explorer, live_canvas, presenter, access, ...)."""
