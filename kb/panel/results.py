"""How a search response is drawn: the best card open, the next two compact, one glance at 900 × 700.

Content and user text reach the screen only through `escape_markdown` (st.markdown) or
`html.escape` (kb.panel.view.phrases_html, st.html): neither can turn into markup.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from datetime import date

import streamlit as st

from kb.content import FASES, Card
from kb.panel.keys import HINT
from kb.panel.resources import settings
from kb.panel.view import FASE_COLORS, escape_markdown, lead_lines, phrases_html, tip_text
from kb.search.searcher import Result, SearchResponse

LOW_CONFIDENCE = (
    "**No encuentro nada fiable para eso.**  \n"
    "Prueba a describir lo que hace o dice el cliente (por ejemplo «me grita», «quiere un reembolso», "
    "«dice que le hemos mentido») o usa una de las situaciones frecuentes."
)

Vote = Callable[[Result, int], None]
Comment = Callable[[int], None]


def echo_line(query: str | None) -> None:
    """«Resultados para…» and the shortcuts hint on one line that is always there, so results
    arriving never push anything around."""
    left = "<span></span>"
    if query is not None:
        left = f'<span class="kb-query">Resultados para «{html.escape(query)}»</span>'
    st.html(f'<p class="kb-echo">{left}<span class="kb-hint">{html.escape(HINT)}</span></p>')


def _section(result: Result) -> str:
    return result.card.heading.split(" › ")[-1]


def card_body(result: Result, on_vote: Vote, on_comment: Comment) -> None:
    """Action, limit, legal lines, tip, phrases, link and votes of one card (inside its container or expander)."""
    card = result.card
    state = st.session_state
    for line in lead_lines(card, settings().country):
        st.markdown(line)
    st.markdown(escape_markdown(tip_text(card)))
    if card.say or card.avoid:
        st.html(phrases_html(result.rank, card.say, card.avoid))
    link, up, down = st.columns([4, 1.1, 1.3], vertical_alignment="center")
    link.link_button("Ver guía completa ↗", settings().url_for(card.path), type="tertiary")
    voted = state.votes.get(result.rank)
    key = f"{state.search_id}-{result.rank}"
    up.button(
        "👍 Útil",
        key=f"up-{key}",
        on_click=on_vote,
        args=(result, 1),
        disabled=voted is not None,
        help="Me ha servido",
        width="stretch",
    )
    down.button(
        "👎 No útil",
        key=f"down-{key}",
        on_click=on_vote,
        args=(result, -1),
        disabled=voted is not None,
        help="No me ha servido",
        width="stretch",
    )
    if voted is not None and len(voted) == 2:
        c1, c2 = st.columns([4, 1], vertical_alignment="bottom")
        c1.text_input("¿Algún comentario? (opcional)", key=f"comment-{key}", max_chars=500)
        c2.button("Enviar", key=f"send-{key}", on_click=on_comment, args=(result.rank,))
    elif voted is not None:
        st.caption("Gracias, comentario guardado.")


def review_badge(card: Card) -> str:
    """« pendiente de revisión» when the card's guide is past its review date (markdown, or '')."""
    return " :orange-badge[pendiente de revisión]" if card.overdue(date.today()) else ""


def best_card(result: Result, on_vote: Vote, on_comment: Comment) -> None:
    card = result.card
    with st.container(border=True, key=f"card-{result.rank}"):
        badge = f":{FASE_COLORS.get(card.fase, 'gray')}-badge[{FASES.get(card.fase, card.fase)}]"
        st.markdown(
            f"**{result.rank}. {escape_markdown(_section(result))}** {badge}{review_badge(card)} "
            f":gray[· {escape_markdown(card.title)}]"
        )
        card_body(result, on_vote, on_comment)


def compact_card(result: Result, on_vote: Vote, on_comment: Comment) -> None:
    """Cards 2 and 3: one line (title, guide, fase) that opens on click."""
    card = result.card
    label = (
        f"**{result.rank}. {escape_markdown(_section(result))}** · "
        f"{escape_markdown(card.title)} · {FASES.get(card.fase, card.fase)}{review_badge(card)}"
    )
    with st.expander(label, expanded=False):
        card_body(result, on_vote, on_comment)


def show_response(response: SearchResponse | None, error: str | None, on_vote: Vote, on_comment: Comment) -> None:
    if error:
        echo_line(None)
        st.info(error, icon="✍️")
        return
    echo_line(response.query if response else None)
    if response is None:
        return
    for notice in response.notices:
        st.info(notice, icon="✂️")
    if response.low_confidence:
        note = response.outside_note
        st.warning(LOW_CONFIDENCE if note is None else f"{LOW_CONFIDENCE}  \n{escape_markdown(note)}", icon="🤷")
        if response.results:
            with st.expander("Ver lo más parecido de todos modos (poca confianza)"):
                for result in response.results:
                    st.markdown(
                        f"- {escape_markdown(result.card.heading)} · :gray[{escape_markdown(result.card.title)}]"
                    )
        return
    for result in response.results:
        (best_card if result.rank == 1 else compact_card)(result, on_vote, on_comment)
