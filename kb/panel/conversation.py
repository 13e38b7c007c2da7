"""The «Conversación» page: paste the customer's message, or add the call's turns one by one;
the stage and the suggestions refresh with every turn.

The same path as `POST /api/suggest` (kb.search.conversation): long messages are read sentence by
sentence, the customer's latest turns weigh most, and cards not shown before are marked «nueva».
Cards are drawn and voted exactly as on the agents' page.
"""

from __future__ import annotations

import uuid

import streamlit as st

from kb.content import FASES
from kb.errors import QueryError
from kb.panel import auth
from kb.panel.agents import save_comment, vote
from kb.panel.resources import searcher_or_problem
from kb.panel.results import show_response
from kb.panel.view import FASE_COLORS, escape_markdown
from kb.search.conversation import Conversation
from kb.search.searcher import SearchResponse
from kb.text import MAX_QUERY_CHARS

SPEAKERS = {"cliente": "Cliente", "agente": "Yo (agente)"}
TURN_LABEL = "Lo que se ha dicho (o pega el mensaje o el chat entero)"


def _conversation() -> Conversation:
    state = st.session_state
    if "conversation" not in state:
        state.conversation = Conversation()
    conversation: Conversation = state.conversation
    return conversation


def add_turn() -> None:
    """Add the typed turn and ask for suggestions once (so «nueva» means new since the last turn)."""
    state = st.session_state
    text = str(state.get("turn", "")).strip()
    if not text:
        state.conv_error = "Escribe o pega lo que ha dicho el cliente (o lo que le has dicho tú)."
        return
    searcher, problem = searcher_or_problem()
    if searcher is None:
        state.conv_error = str(problem)
        return
    conversation = _conversation()
    try:
        conversation.add(state.get("speaker", "cliente"), text)
        suggestion = conversation.suggest(searcher, k=3)
    except QueryError as exc:
        conversation.turns.pop()
        state.conv_error = exc.message
        return
    state.conv_error = None
    state.suggestion = suggestion
    state.response = SearchResponse(text[:200], suggestion.low_confidence, suggestion.results)
    state.search_id, state.votes = uuid.uuid4().hex[:8], {}


def restart() -> None:
    for key in ("conversation", "suggestion", "response", "conv_error"):
        st.session_state.pop(key, None)


def page() -> None:
    state = st.session_state
    state.setdefault("session", uuid.uuid4().hex[:12])
    state.setdefault("votes", {})
    if auth.current_user() is None and auth.agents_need_sign_in():
        auth.sign_in_form("El panel está abierto en la red: entra con tu usuario para usarlo.")
        return
    with st.form("turno", border=False, clear_on_submit=True):
        who, go = st.columns([6, 1.4], vertical_alignment="bottom")
        who.radio("Quién habla", list(SPEAKERS), format_func=SPEAKERS.get, key="speaker", horizontal=True)
        st.text_area(TURN_LABEL, key="turn", height=100, max_chars=MAX_QUERY_CHARS)
        go.form_submit_button("Añadir", type="primary", on_click=add_turn, width="stretch")
    if state.get("conv_error"):
        st.info(state.conv_error, icon="✍️")
    conversation = _conversation()
    if not conversation.turns:
        st.caption("Cada turno que añades actualiza la fase de la llamada y las tarjetas sugeridas.")
        return
    with st.expander(f"Conversación ({len(conversation.turns)} turnos)"):
        for turn in conversation.turns[-12:]:
            st.markdown(f"**{SPEAKERS[turn.speaker]}:** {escape_markdown(turn.text[:300])}")
        st.button("Empezar otra conversación", on_click=restart, type="tertiary")
    suggestion = state.get("suggestion")
    if suggestion is None:
        return
    label = FASES.get(suggestion.fase, suggestion.fase)
    new = ", ".join(str(r.rank) for r in suggestion.results if r.card.id in suggestion.new)
    st.markdown(
        f"Fase de la llamada: :{FASE_COLORS.get(suggestion.fase, 'gray')}-badge[{label}]"
        + (f"  · nuevas: {new}" if new else "  · sin tarjetas nuevas")
    )
    show_response(state.get("response"), None, vote, save_comment)


if __name__ == "__main__":  # Streamlit runs a page file as __main__ (st.navigation in kb.panel.app)
    page()
