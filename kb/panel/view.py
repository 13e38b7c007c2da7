"""What the Streamlit panel needs that is not UI: quick situations, text shaping, history.

Kept out of the Streamlit pages so it can be tested without a browser and so the pages
stay a thin layer over `Searcher.search` (the same search path as the CLI).
"""

from __future__ import annotations

import html
import re
from typing import Literal

from kb.config import COUNTRIES
from kb.content import FASES, Card
from kb.content.body import SLOT

QUICK_SITUATIONS: list[tuple[str, str]] = [
    ("😡 Me grita", "el cliente me está gritando y no me deja hablar"),
    ("💶 Reembolso imposible", "quiere que le devolvamos el dinero y no podemos"),
    ("🤥 Dice que mentimos", "dice que le hemos mentido"),
    ("📱 Amenaza con redes", "amenaza con ponerlo en twitter"),
    ("👔 Pide un supervisor", "quiere hablar con mi jefe"),
    ("🤬 Me insulta", "el cliente me está insultando"),
    ("❓ No sé la respuesta", "me pregunta algo y no sé qué contestar"),
    ("☕️ Necesito un respiro", "necesito un descanso después de una llamada horrible"),
]
"""The most common cases during a call: one click runs the search."""

ALL_FASES = "Todas las fases"
MAX_RECENT = 6
TIP_CHARS = 240
TIP_CHARS_AFTER_ACTION = 120
"""Under an action and its limit the why gets about one line, so the best card and the titles of the next
two still fit in 900 × 700 when a card also has a two-line limit or legal lines (tests/test_browser.py)."""

BadgeColor = Literal["red", "orange", "yellow", "blue", "green", "violet", "gray", "grey", "primary"]
FASE_COLORS: dict[str, BadgeColor] = {
    "desahogo": "red",
    "calma": "blue",
    "escucha": "violet",
    "solucion": "green",
    "seguimiento": "orange",
    "autocuidado": "gray",
    "prevencion": "orange",
    "gestion": "gray",
}


def fase_choices() -> list[str]:
    """Options of the fase filter: 'all' first, then every fase in call order."""
    return [ALL_FASES] + list(FASES.values())


def fase_key(label: str | None) -> str | None:
    """Filter label -> fase key (None for 'all')."""
    for key, value in FASES.items():
        if value == label:
            return key
    return None


_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|>~<$:])")


def escape_markdown(text: str) -> str:
    """Show text literally in st.markdown: no markup, no links, no HTML from user or content."""
    return _MD_SPECIAL.sub(r"\\\1", text.replace("\n", " "))


def tip_text(card: Card, limit: int | None = None) -> str:
    """The gist of a card in 2–4 lines (about one under an action): its first paragraph(s), cut at a
    sentence or word end."""
    if limit is None:
        limit = TIP_CHARS_AFTER_ACTION if card.action else TIP_CHARS
    text = " ".join(line.lstrip("• ") for line in card.text.splitlines() if line.strip())
    if len(text) <= limit:
        return text
    cut = text[: limit + 1]  # +1: a sentence ending exactly at the limit still counts
    end = max(cut.rfind(mark) for mark in (". ", "? ", "! ", ".» "))
    if end > limit * 0.6:
        return cut[: end + (2 if cut[end : end + 2] == ".»" else 1)]
    words = cut[:limit].rsplit(" ", 1)[0].rstrip(",;:—- ")
    return words + "…"


def lead_lines(card: Card, country: str) -> list[str]:
    """Markdown lines a card opens with in the panel: what to do now, its limit and the configured
    country's legal lines, each whole (an agent acts on them, so they are never cut) and escaped."""
    lines = [f"**▶ {escape_markdown(card.action)}**"] if card.action else []
    if card.limit:
        lines.append(f":orange[**Límite:** {escape_markdown(card.limit)}]")
    legal = card.legal_for(country)
    if legal:
        lines.append(f":blue[**Ley en {COUNTRIES.get(country, country)}:** {escape_markdown(legal)}]")
    return lines


def remember(recent: list[str], query: str, limit: int = MAX_RECENT) -> list[str]:
    """Most recent first, no duplicates, at most `limit`."""
    return ([query] + [q for q in recent if q != query])[:limit]


# ---------------------------------------------------------------- phrases as HTML


def phrase_html(phrase: str) -> str:
    """A phrase as escaped HTML with its slots ([día]…) in a highlighted span, brackets kept.

    Everything is escaped first, so content text can never become markup; only the spans
    added here are HTML."""
    out, last = [], 0
    for match in SLOT.finditer(phrase):
        out.append(html.escape(phrase[last : match.start()]))
        out.append(f'<span class="kb-slot">{html.escape(match.group())}</span>')
        last = match.end()
    out.append(html.escape(phrase[last:]))
    return "".join(out)


def phrases_html(rank: int, say: list[str], avoid: list[str], limit_say: int | None = None) -> str:
    """The Decir list (each phrase with a copy button) and the Evitar list of one card.

    The copy buttons hold the phrase as written (brackets included) in `data-kb-copy`; the
    page's one script (kb.panel.keys) copies it on click or with Alt+<rank>."""
    rows = []
    for i, phrase in enumerate(say[:limit_say]):
        first = ' data-kb-first="1"' if i == 0 else ""
        rows.append(
            f'<li class="kb-phrase"><span class="kb-text">{phrase_html(phrase)}</span>'
            f'<button type="button" class="kb-copy" data-kb-rank="{rank}"{first} '
            f'data-kb-copy="{html.escape(phrase, quote=True)}" '
            f'aria-label="Copiar: {html.escape(phrase, quote=True)}">Copiar</button></li>'
        )
    parts = []
    if rows:
        parts.append('<p class="kb-label kb-say-label">✔ Decir</p><ul class="kb-say">' + "".join(rows) + "</ul>")
    if avoid:
        items = "".join(f"<li>{phrase_html(p)}</li>" for p in avoid)
        parts.append(f'<p class="kb-label kb-avoid-label">✘ Evitar</p><ul class="kb-avoid">{items}</ul>')
    return f'<div class="kb-phrases" data-kb-card="{rank}">' + "".join(parts) + "</div>"
