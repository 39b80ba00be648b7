"""GAN Studio: what `streamlit run app.py` starts. It hands the pages declared in ui/navigation.py to Streamlit's
navigation, the home gallery (pages/0_Home.py) as the default page, and runs the page the address asks for."""
from __future__ import annotations

import streamlit as st

from ui.navigation import HOME, PAGES

st.navigation([st.Page(page.path, title=page.title, url_path=page.url_path, default=page is HOME, help=page.note or None)
               for page in PAGES]).run()
