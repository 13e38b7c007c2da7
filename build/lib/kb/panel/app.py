"""The panel's entry: page set-up and navigation between the agents' and the trainers' pages."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from kb.panel import agents

TRAINERS_PAGE = Path(__file__).resolve().parent / "trainers.py"
STYLE = """<style>
.block-container {max-width: 900px; padding-top: 4rem; padding-bottom: 1rem;}
div[data-testid="stCode"] pre {padding: .35rem .6rem !important;}
div[data-testid="InputInstructions"] {display: none;}
</style>"""


def run() -> None:
    """One script run of the panel (Streamlit calls the entry script on every interaction)."""
    st.set_page_config(page_title="Panel de agentes · kb", page_icon="🎧", layout="centered")
    st.html(STYLE)
    page = st.navigation(
        [st.Page(agents.page, title="Panel", icon="🎧", default=True),
         st.Page(TRAINERS_PAGE, title="Formadores", icon="📊", url_path="formadores")],
        position="top",
    )
    page.run()
