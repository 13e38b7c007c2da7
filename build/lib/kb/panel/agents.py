"""The agents' page: what to do, what to say and what to avoid, at a glance, during a call.

A thin Streamlit layer: searching is `Searcher.search` (the CLI's path too), feedback is
`FeedbackStore`; shaping text for the screen lives in kb.panel.view.
"""

from __future__ import annotations

import uuid

import streamlit as st

from kb.content import FASES, ContentError
from kb.errors import BuildBusy, IndexProblem, QueryError, StoreError
from kb.panel.resources import embedder, feedback_store, searcher_or_problem, settings
from kb.panel.view import FASE_COLORS, QUICK_SITUATIONS, escape_markdown, fase_choices, fase_key, remember, tip_text
from kb.retrieval.build import build_index
from kb.search import Result, Searcher


def current_searcher() -> Searcher | None:
    """The searcher, after telling the agent what is wrong with the index (if anything) and offering to rebuild."""
    searcher, problem = searcher_or_problem()
    if isinstance(problem, IndexProblem) and searcher is not None:
        st.warning(f"**Índice {problem.state}.** {problem.message} Mientras tanto se busca en el índice anterior.",
                   icon="⚠️")
        rebuild_button()
    elif isinstance(problem, IndexProblem):
        st.error(f"**Índice {problem.state}.** {problem.message}", icon="⚠️")
        rebuild_button()
    elif problem is not None:
        st.error(str(problem), icon="⚠️")
    return searcher


def rebuild_button() -> None:
    if not st.button("Reconstruir índice", type="primary", key="rebuild"):
        return
    with st.status("Reconstruyendo el índice…", expanded=True) as status:
        bar = st.progress(0.0, text="Vectorizando tarjetas")

        def progress(done: int, total: int) -> None:
            bar.progress(done / max(total, 1), text=f"{done}/{total} tarjetas")

        try:
            report = build_index(settings().docs_dir, settings().index_dir, embedder(), root=settings().root,
                                 progress=progress)
        except ContentError as exc:
            status.update(label="Las guías tienen errores: el índice anterior sigue en uso", state="error")
            st.code("\n".join(str(p) for p in exc.problems), language=None)
            return
        except BuildBusy as exc:
            status.update(label=str(exc), state="error")
            return
        status.update(label=f"Índice listo: {report.cards} tarjetas", state="complete")
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
    state.response = response
    state.search_id = uuid.uuid4().hex[:8]
    state.votes = {}
    state.recent = remember(state.get("recent", []), response.query)
    top = response.results[0] if response.results else None
    try:
        feedback_store().record_search(
            response.query, session=state.session, fase_filter=fase,
            top_card_id=top.card.id if top else None, top_fase=top.card.fase if top else None,
            top_score=top.score if top else None,
            low_confidence=response.low_confidence, results=len(response.results),
        )
    except StoreError as exc:
        st.toast(str(exc), icon="⚠️")


def on_submit() -> None:
    run_search(st.session_state.get("query", ""))


def on_quick(query: str) -> None:
    st.session_state.query = query
    run_search(query)


def vote(result: Result, value: int) -> None:
    state = st.session_state
    try:
        row = feedback_store().record_vote(
            state.response.query, result.card.id, result.rank, result.score, value,
            session=state.session, fase=result.card.fase,
        )
    except StoreError as exc:
        st.toast(str(exc), icon="⚠️")
        return
    state.votes[result.rank] = (value, row)


def save_comment(rank: int) -> None:
    state = st.session_state
    value, row = state.votes[rank]
    try:
        feedback_store().add_comment(row, state.get(f"comment-{state.search_id}-{rank}", ""))
    except StoreError as exc:
        st.toast(str(exc), icon="⚠️")
        return
    state.votes[rank] = (value, row, "comentado")


# ---------------------------------------------------------------- rendering


def result_card(result: Result) -> None:
    card = result.card
    state = st.session_state
    with st.container(border=True):
        head, badge = st.columns([5, 1.3], vertical_alignment="top")
        head.markdown(f"**{result.rank}. {escape_markdown(card.heading.split(' › ')[-1])}**  \n"
                      f":gray[{escape_markdown(card.title)}]")
        with badge:
            st.badge(FASES.get(card.fase, card.fase), color=FASE_COLORS.get(card.fase, "gray"))
        st.markdown(escape_markdown(tip_text(card)))
        if card.say:
            st.markdown(":green[**✔ Decir**] :gray[(pulsa el icono para copiar)]")
            for phrase in card.say:
                st.code(phrase, language=None, wrap_lines=True)
        if card.avoid:
            st.markdown(":red[**✘ Evitar**]  \n" + "  \n".join(f":red[✘ ~~{escape_markdown(p)}~~]" for p in card.avoid))
        link, up, down = st.columns([4, 0.7, 0.7], vertical_alignment="center")
        link.link_button("Ver guía completa ↗", settings().url_for(card.path), type="tertiary")
        voted = state.votes.get(result.rank)
        key = f"{state.search_id}-{result.rank}"
        up.button("👍", key=f"up-{key}", on_click=vote, args=(result, 1), disabled=voted is not None,
                  help="Me ha servido")
        down.button("👎", key=f"down-{key}", on_click=vote, args=(result, -1), disabled=voted is not None,
                    help="No me ha servido")
        if voted is not None and len(voted) == 2:
            c1, c2 = st.columns([4, 1], vertical_alignment="bottom")
            c1.text_input("¿Algún comentario? (opcional)", key=f"comment-{key}", max_chars=500)
            c2.button("Enviar", key=f"send-{key}", on_click=save_comment, args=(result.rank,))
        elif voted is not None:
            st.caption("Gracias, comentario guardado.")


def show_response() -> None:
    state = st.session_state
    if state.get("error"):
        st.info(state.error, icon="✍️")
        return
    response = state.get("response")
    if response is None:
        return
    st.caption(f"Resultados para «{escape_markdown(response.query)}»")
    for notice in response.notices:
        st.info(notice, icon="✂️")
    if response.low_confidence:
        st.warning(
            "**No encuentro nada fiable para eso.**  \n"
            "Prueba a describir lo que hace o dice el cliente (por ejemplo «me grita», «quiere un reembolso», "
            "«dice que le hemos mentido») o usa una de las situaciones frecuentes.",
            icon="🤷",
        )
        if response.results:
            with st.expander("Ver lo más parecido de todos modos (poca confianza)"):
                for result in response.results:
                    st.markdown(f"- {escape_markdown(result.card.heading)} · :gray[{escape_markdown(result.card.title)}]")
        return
    for result in response.results:
        result_card(result)


def page() -> None:
    state = st.session_state
    state.setdefault("session", uuid.uuid4().hex[:12])
    state.setdefault("recent", [])
    state.setdefault("votes", {})
    with st.form("buscar", border=False, enter_to_submit=True):
        text, fase, go = st.columns([6, 2.4, 1.2], vertical_alignment="bottom")
        text.text_input(
            "¿Qué está pasando en la llamada?", key="query",
            placeholder="p. ej.: me grita y no me deja hablar",
        )
        fase.selectbox("Fase", fase_choices(), key="fase")
        go.form_submit_button("Buscar", type="primary", on_click=on_submit, use_container_width=True)
    st.html(  # our own static script: put the cursor in the search box once it is on screen
        """<script>
        (() => {
          let tries = 0;
          const timer = setInterval(() => {
            const box = document.querySelector('input[aria-label="¿Qué está pasando en la llamada?"]');
            if (box && !box.dataset.kbFocused) { box.focus(); box.dataset.kbFocused = "1"; }
            if (box || ++tries > 100) clearInterval(timer);
          }, 50);
        })();
        </script>""",
        unsafe_allow_javascript=True,
    )
    cols = st.columns(4)
    for i, (label, query) in enumerate(QUICK_SITUATIONS):
        cols[i % 4].button(label, key=f"quick-{i}", on_click=on_quick, args=(query,), use_container_width=True)
    if current_searcher() is None:
        return
    show_response()
    if state.recent:
        with st.expander("Búsquedas recientes"):
            for i, query in enumerate(state.recent):
                st.button(query, key=f"recent-{i}", on_click=on_quick, args=(query,), type="tertiary")
