"""The panel's entry: page set-up and navigation: the agents' panel, «Conversación» and the trainers' page.

Both pages are always in the navigation (so `/formadores` keeps its URL); each page decides
who may see it (kb.panel.auth), so no page is ever open by accident.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from kb.panel import agents
from kb.panel.keys import STYLE

TRAINERS_PAGE = Path(__file__).resolve().parent / "trainers.py"
CONVERSATION_PAGE = Path(__file__).resolve().parent / "conversation.py"


def run() -> None:
    """One script run of the panel (Streamlit calls the entry script on every interaction)."""
    st.set_page_config(page_title="Panel de agentes · kb", page_icon="🎧", layout="centered")
    st.html(STYLE)
    page = st.navigation(
        [
            st.Page(agents.page, title="Panel", icon="🎧", default=True),
            st.Page(CONVERSATION_PAGE, title="Conversación", icon="💬", url_path="conversacion"),
            st.Page(TRAINERS_PAGE, title="Formadores", icon="📊", url_path="formadores"),
        ],
        position="top",
    )
    page.run()
