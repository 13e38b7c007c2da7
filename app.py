"""Panel de agentes: qué hacer, qué decir y qué evitar, de un vistazo, durante la llamada.

A thin Streamlit layer over kb: searching is `Searcher.search` (the CLI's path too),
feedback is `FeedbackStore`, the trainers' page is `kb.report.compute_report`.
Run with `kb serve` (or `make run`).
"""

from __future__ import annotations

import gc
import uuid

import streamlit as st

from kb.config import load_settings
from kb.content import FASES
from kb.embedding import ModelError, load_embedder
from kb.feedback import FeedbackError, FeedbackStore
from kb.index import (
    BuildBusy,
    ContentError,
    IndexError_,
    IndexStale,
    build_index,
    docs_fingerprint,
    index_signature,
)
from kb.panel import (
    FASE_COLORS,
    QUICK_SITUATIONS,
    escape_markdown,
    fase_choices,
    fase_key,
    remember,
    tip_text,
)
from kb.search import QueryError, Searcher

st.set_page_config(page_title="Panel de agentes · kb", page_icon="🎧", layout="centered")
st.html(
    """<style>
    .block-container {max-width: 900px; padding-top: 4rem; padding-bottom: 1rem;}
    div[data-testid="stCode"] pre {padding: .35rem .6rem !important;}
    div[data-testid="InputInstructions"] {display: none;}
    </style>"""
)

SETTINGS = load_settings()


@st.cache_resource(show_spinner="Cargando el modelo de lenguaje (solo la primera vez)…")
def model(name: str):
    embedder = load_embedder(name)
    # The model is millions of long-lived objects: a full garbage collection (Streamlit runs
    # one after every rerun) took ~250 ms, delaying every search. Freeze them out of the GC.
    gc.collect()
    gc.freeze()
    return embedder


def embedder():
    return model(SETTINGS.model)


@st.cache_resource(max_entries=4, show_spinner="Cargando el índice…")
def searcher_for(index_dir: str, signature: str, docs: str) -> tuple[Searcher, IndexStale | None]:
    """One Searcher per index build and docs state: a new build on disk is a new key.

    When only the guides changed since the build, the index still answers (an agent
    mid-call keeps searching) and the staleness comes back to be shown with the
    rebuild button. Any other problem (missing, damaged, other model) is raised."""
    embedder()
    try:
        return Searcher.load(SETTINGS), None
    except IndexStale as stale:
        searcher = Searcher.load(SETTINGS, check_docs=False)  # raises if stale for another reason
        return searcher, stale


@st.cache_resource
def store_at(path: str) -> FeedbackStore:
    return FeedbackStore(path)


def feedback_store() -> FeedbackStore:
    return store_at(str(SETTINGS.feedback_db))


def searcher_or_problem() -> tuple[Searcher | None, Exception | None]:
    """The searcher for the index on disk now (None if unusable) and what is wrong with it, if anything."""
    try:
        return searcher_for(str(SETTINGS.index_dir), index_signature(SETTINGS.index_dir),
                            docs_fingerprint(SETTINGS.docs_dir))
    except (IndexError_, ModelError) as exc:
        return None, exc


def current_searcher() -> Searcher | None:
    """The searcher, after telling the agent what is wrong with the index (if anything) and offering to rebuild."""
    searcher, problem = searcher_or_problem()
    if isinstance(problem, IndexError_) and searcher is not None:
        st.warning(f"**Índice {problem.state}.** {problem.message} Mientras tanto se busca en el índice anterior.",
                   icon="⚠️")
        rebuild_button()
    elif isinstance(problem, IndexError_):
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
        try:
            report = build_index(
                SETTINGS.docs_dir, SETTINGS.index_dir, embedder(), root=SETTINGS.root,
                progress=lambda done, total: bar.progress(done / max(total, 1), text=f"{done}/{total} tarjetas"),
            )
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
    except FeedbackError as exc:
        st.toast(str(exc), icon="⚠️")


def on_submit() -> None:
    run_search(st.session_state.get("query", ""))


def on_quick(query: str) -> None:
    st.session_state.query = query
    run_search(query)


def vote(result, value: int) -> None:
    state = st.session_state
    try:
        row = feedback_store().record_vote(
            state.response.query, result.card.id, result.rank, result.score, value,
            session=state.session, fase=result.card.fase,
        )
    except FeedbackError as exc:
        st.toast(str(exc), icon="⚠️")
        return
    state.votes[result.rank] = (value, row)


def save_comment(rank: int) -> None:
    state = st.session_state
    value, row = state.votes[rank]
    try:
        feedback_store().add_comment(row, state.get(f"comment-{state.search_id}-{rank}", ""))
    except FeedbackError as exc:
        st.toast(str(exc), icon="⚠️")
        return
    state.votes[rank] = (value, row, "comentado")


# ---------------------------------------------------------------- rendering


def result_card(result) -> None:
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
        link.link_button("Ver guía completa ↗", SETTINGS.site_url + card.path, type="tertiary")
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


def agent_page() -> None:
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


page = st.navigation(
    [st.Page(agent_page, title="Panel", icon="🎧", default=True),
     st.Page("panel_pages/formadores.py", title="Formadores", icon="📊", url_path="formadores")],
    position="top",
)
page.run()
