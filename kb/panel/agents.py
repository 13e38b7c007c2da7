"""The agents' page: what to do, what to say and what to avoid, at a glance, during a call.

A thin Streamlit layer: searching is `Searcher.search` (the CLI's path too), feedback is
`FeedbackStore`; shaping text for the screen lives in kb.panel.view.
"""

from __future__ import annotations

import uuid

import streamlit as st

from kb.accounts.identity import TRAINER, User
from kb.content import ContentError
from kb.errors import BuildBusy, IndexProblem, QueryError, StoreError
from kb.feedback.outbox import Pending
from kb.feedback.rows import search_row, vote_row
from kb.panel import auth
from kb.panel.keys import SCRIPT, SEARCH_LABEL
from kb.panel.resources import embedder, feedback_store, searcher_or_problem, settings
from kb.panel.results import show_response
from kb.panel.view import QUICK_SITUATIONS, fase_choices, fase_key, remember
from kb.retrieval.build import build_index
from kb.search.searcher import Result, Searcher
from kb.text import MAX_QUERY_CHARS
from kb.trainers.learning import learned_for

BACKLOG_NOTICE_S = 10
"""Writes this many seconds old mean the database is away, not just busy: the agent is told."""
AT_THE_LIMIT = (
    f"La búsqueda admite hasta {MAX_QUERY_CHARS:,} caracteres".replace(",", ".")
    + " y este texto llega al límite: lo que pasaba de ahí no se ha leído. Si es un correo largo, "
    "pega solo la parte donde está el problema."
)
"""What the agent reads when the box stopped a paste at its limit (the browser cuts it silently)."""


def current_searcher(user: User | None) -> Searcher | None:
    """The searcher, after telling the agent what is wrong with the index (if anything).

    Only a signed-in trainer gets the rebuild button: rebuilding is an administrative action."""
    searcher, problem = searcher_or_problem()
    if isinstance(problem, IndexProblem) and searcher is not None:
        st.warning(
            f"**Índice {problem.state}.** {problem.message} Mientras tanto se busca en el índice anterior.", icon="⚠️"
        )
        rebuild_button(user)
    elif isinstance(problem, IndexProblem):
        st.error(f"**Índice {problem.state}.** {problem.message}", icon="⚠️")
        rebuild_button(user)
    elif problem is not None:
        st.error(str(problem), icon="⚠️")
    return searcher


def rebuild_button(user: User | None) -> None:
    if user is None or not user.has_role(TRAINER):
        st.caption("Un formador puede reconstruirlo desde aquí tras iniciar sesión en «Formadores».")
        return
    if not st.button("Reconstruir índice", type="primary", key="rebuild"):
        return
    with st.status("Reconstruyendo el índice…", expanded=True) as status:
        bar = st.progress(0.0, text="Vectorizando tarjetas")

        def progress(done: int, total: int) -> None:
            bar.progress(done / max(total, 1), text=f"{done}/{total} tarjetas")

        try:
            learned = learned_for(settings(), lambda message: st.warning(message, icon="⚠️"))
            report = build_index(
                settings().docs_dir,
                settings().index_dir,
                embedder(),
                root=settings().root,
                progress=progress,
                learned=learned,
            )
        except ContentError as exc:
            status.update(label="Las guías tienen errores: el índice anterior sigue en uso", state="error")
            st.code("\n".join(str(p) for p in exc.problems), language=None)
            auth.audit(user.name, "reconstrucción del índice", f"fallida: {len(exc.problems)} errores en las guías")
            return
        except BuildBusy as exc:
            status.update(label=str(exc), state="error")
            return
        status.update(label=f"Índice listo: {report.cards} tarjetas", state="complete")
    auth.audit(user.name, "reconstrucción del índice", f"{report.cards} tarjetas")
    st.rerun()


# ---------------------------------------------------------------- searching


def run_search(query: str) -> None:
    """Search once, remember the response in the session and log it for the trainers' report."""
    state = st.session_state
    searcher, _ = searcher_or_problem()
    if searcher is None:
        state.response = None
        return  # the page itself says why, once
    fase = fase_key(state.get("fase"))
    try:
        response = searcher.search(query, 3, fase=fase)
    except QueryError as exc:
        state.response, state.error = None, str(exc)
        return
    state.error = None
    if len(query) >= MAX_QUERY_CHARS and not response.notices:
        response.notices.append(AT_THE_LIMIT)
    state.response = response
    state.search_id = uuid.uuid4().hex[:8]
    state.votes = {}
    state.recent = remember(state.get("recent", []), response.query)
    top = response.results[0] if response.results else None
    row = search_row(
        response.query,
        session=state.session,
        fase_filter=fase,
        top_card_id=top.card.id if top else None,
        top_fase=top.card.fase if top else None,
        top_score=top.score if top else None,
        low_confidence=response.low_confidence,
        results=len(response.results),
    )
    try:  # queued: the results are drawn now, whatever the database is doing (kb.feedback.outbox)
        feedback_store().later(row)
    except StoreError as exc:
        st.toast(str(exc), icon="⚠️")


def on_submit() -> None:
    run_search(st.session_state.get("query", ""))


def on_quick(query: str) -> None:
    st.session_state.query = query
    run_search(query)


def vote(result: Result, value: int) -> None:
    """Queue the vote; the agent's «Gracias» means it is kept and will be stored (kb.feedback.outbox)."""
    state = st.session_state
    row = vote_row(
        state.response.query,
        result.card.id,
        result.rank,
        result.score,
        value,
        session=state.session,
        fase=result.card.fase,
    )
    try:
        pending = feedback_store().later(row)
    except StoreError as exc:
        st.toast(str(exc), icon="⚠️")
        return
    state.votes[result.rank] = (value, pending)


def save_comment(rank: int) -> None:
    state = st.session_state
    value, pending = state.votes[rank][:2]
    try:
        feedback_store().comment_later(pending, state.get(f"comment-{state.search_id}-{rank}", ""))
    except StoreError as exc:
        st.toast(str(exc), icon="⚠️")
        return
    state.votes[rank] = (value, pending, "comentado")


def report_writes() -> None:
    """Say what the agent's confirmations depend on: a vote refused for good, or writes waiting for the database."""
    state = st.session_state
    warned: set[Pending] = state.setdefault("warned_writes", set())
    for _, pending, *_ in state.votes.values():
        if pending.error is not None and pending not in warned:
            warned.add(pending)
            st.toast(str(pending.error), icon="⚠️")
    waiting, oldest = feedback_store().outbox.backlog()
    if waiting and oldest >= BACKLOG_NOTICE_S:
        st.caption(
            f"⏳ La base de datos de valoraciones no responde: {waiting} búsquedas y valoraciones esperan para "
            "guardarse y se guardarán solas en cuanto vuelva. Puedes seguir buscando."
        )


# ---------------------------------------------------------------- the page


def page() -> None:
    state = st.session_state
    state.setdefault("session", uuid.uuid4().hex[:12])
    state.setdefault("recent", [])
    state.setdefault("votes", {})
    user = auth.current_user()
    if user is None and auth.agents_need_sign_in():
        auth.sign_in_form("El panel está abierto en la red: entra con tu usuario para usarlo.")
        return
    with st.form("buscar", border=False, enter_to_submit=True):
        text, fase, go = st.columns([6, 2.4, 1.2], vertical_alignment="bottom")
        text.text_input(
            SEARCH_LABEL, key="query", placeholder="p. ej.: me grita y no me deja hablar", max_chars=MAX_QUERY_CHARS
        )
        fase.selectbox("Fase", fase_choices(), key="fase")
        go.form_submit_button("Buscar", type="primary", on_click=on_submit, width="stretch")
    with st.container(key="quick"):
        cols = st.columns(4)
        for i, (label, query) in enumerate(QUICK_SITUATIONS):
            cols[i % 4].button(label, key=f"quick-{i}", on_click=on_quick, args=(query,), width="stretch")
    if current_searcher(user) is not None:
        show_response(state.get("response"), state.get("error"), vote, save_comment)
        report_writes()
    if state.recent:
        with st.expander("Búsquedas recientes"):
            for i, query in enumerate(state.recent):
                st.button(query, key=f"recent-{i}", on_click=on_quick, args=(query,), type="tertiary")
    if user is not None:
        auth.user_bar(user)
    st.html(SCRIPT, unsafe_allow_javascript=True)  # our own static script (kb.panel.keys), last: no gap above
