"""The «Práctica» page: drills for new employees, generated at every site build like the phrasebook.

    >>> practice = build_practice(docs_dir, root, index_dir)   # kb.site.drills does the choosing
    >>> markdown = practice_markdown(practice)                   # what the mkdocs hook adds as practica.md

The drills travel inside the page as JSON and docs/javascripts/kb-practica.js runs them in the
browser from the static files alone (no API, also opened from disk); the score is kept in the
browser's localStorage. Never stored in docs/: the page is rebuilt from the guides on every build,
so `kb preview` regenerates it on every save.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kb.content import FASES, Card, Guide, cards_of, read_guides, read_mkdocs
from kb.content.body import ADMONITION, FENCE, block_title
from kb.content.mkdocs import PRACTICE_PAGE
from kb.content.model import PHRASE_BLOCKS
from kb.content.practice import practice_cards
from kb.site.closeness import Closeness, closeness
from kb.site.drills import Chooser, Drill, drills_for, related_cards
from kb.text import SENTENCE_END

PAGE = PRACTICE_PAGE
DATA_ID = "kb-practica-datos"
WEEK = "semana"
_DATA = re.compile(rf'<script type="application/json" id="{DATA_ID}">(.*?)</script>', re.S)


@dataclass
class Practice:
    """Every drill of the guides, with the cards and guides they refer to, in reading order."""

    close: Closeness
    guides: list[Guide]
    cards: list[Card]
    drills: list[Drill]
    bar: float  # the card similarity from which a wrong option is refused (Chooser.bar)


def reading_order(guides: list[Guide], nav: list[str]) -> list[Guide]:
    """The guides as the site's menu lists them (the first-week order of «Empieza aquí»), others after."""
    place = {page: i for i, page in enumerate(nav)}
    return sorted(guides, key=lambda g: (place.get(f"{g.page}.md", len(place)), g.page))


def build_practice(docs_dir: Path, root: Path, index_dir: Path, guides: list[Guide] | None = None) -> Practice:
    """All drills of the guides that parse cleanly (a broken guide is `kb check`'s job, as for the phrasebook).

    `guides`: docs_dir already read (the hook reads it once for the phrasebook and this page)."""
    clean = [g for g in (read_guides(docs_dir, root) if guides is None else guides) if g.ok]
    clean = reading_order(clean, read_mkdocs(root / "mkdocs.yml").nav_pages)
    made = {g.page: cards_of(g) for g in clean}
    allowed = {g.page: practice_cards(g, made[g.page]) for g in clean}
    every = [c for g in clean for c in made[g.page]]
    close = closeness(every, index_dir, docs_dir)
    ranks = {g.page: i for i, g in enumerate(clean)}
    cards = [c for g in clean for c in allowed[g.page]]
    chooser = Chooser(close, cards, ranks, related_cards(clean, every))
    used = [g for g in clean if allowed[g.page]]
    drills = [d for g in used for d in drills_for(g, chooser)]
    return Practice(close, used, cards, drills, chooser.bar)


def action_of(card: Card) -> str:
    """What the card says to do: its action (the «Haz» line, when the parser reads one), else its first sentence."""
    action = getattr(card, "action", None)
    if isinstance(action, str) and action.strip():
        return action.strip()
    first = SENTENCE_END.split(card.text.strip(), 1)[0] if card.text.strip() else ""
    return first.lstrip("• ").strip() or card.heading.split(" › ")[-1]


def label_of(card: Card) -> str:
    """How a card is offered as an option: its action when it has one, else its section title."""
    action = getattr(card, "action", None)
    if isinstance(action, str) and action.strip():
        return action.strip()
    return card.heading.split(" › ")[-1]


def _sets(practice: Practice) -> list[dict[str, Any]]:
    """The collections a round is drawn from: the first-week review, each guide, each fase."""
    by_card: dict[str, list[int]] = {}
    for n, drill in enumerate(practice.drills):
        by_card.setdefault(drill.card, []).append(n)
    week: list[int] = []
    depth = max((len(v) for v in by_card.values()), default=0)
    for level in range(depth):  # one situation per card in reading order, then the second of each…
        week += [ns[level] for c in practice.cards if len(ns := by_card.get(c.id, [])) > level]
    sets = [{"key": WEEK, "label": "Repaso de la primera semana", "drills": week}]
    for guide in practice.guides:
        ns = [n for n, d in enumerate(practice.drills) if d.card.split("#")[0] == guide.page]
        if ns:
            sets.append({"key": f"guia:{guide.page}", "label": str(guide.meta.get("title", guide.page)), "drills": ns})
    for fase, label in FASES.items():
        ns = [n for c in practice.cards if c.fase == fase for n in by_card.get(c.id, [])]
        if ns:
            sets.append({"key": f"fase:{fase}", "label": label, "drills": ns})
    return sets


def practice_data(practice: Practice) -> dict[str, Any]:
    """The JSON the page carries: cards once, drills pointing at them by position."""
    guide_index = {g.page: i for i, g in enumerate(practice.guides)}
    card_index = {c.id: i for i, c in enumerate(practice.cards)}
    cards = [
        {
            "id": c.id,
            "guide": guide_index[c.id.split("#")[0]],
            "title": c.heading.split(" › ")[-1],
            "label": label_of(c),
            "action": action_of(c),
            "url": "../" + c.path,
            "fase": FASES.get(c.fase, c.fase),
            "say": c.say,
            "avoid": c.avoid,
        }
        for c in practice.cards
    ]
    drills = [
        {
            "id": d.id,
            "card": card_index[d.card],
            "situation": d.situation,
            "kind": d.kind,
            "options": [card_index[o] for o in d.options],
            "phrases": [[card_index[c], kind, i] for c, kind, i in d.phrases],
        }
        for d in practice.drills
    ]
    guides = [
        {"page": g.page, "title": str(g.meta.get("title", g.page)), "url": "../" + g.site_path} for g in practice.guides
    ]
    return {
        "version": 1,
        "mode": practice.close.mode,
        "note": practice.close.reason,
        "guides": guides,
        "cards": cards,
        "drills": drills,
        "sets": _sets(practice),
    }


def practice_markdown(practice: Practice) -> str:
    """The generated page: a short introduction, the app's mount point and its data."""
    data = json.dumps(practice_data(practice), ensure_ascii=False, separators=(",", ":"))
    data = data.replace("<", "\\u003c")  # nothing in the data can close the script element
    return "\n".join(
        [
            "---",
            "title: Práctica",
            "description: Ejercicios con situaciones reales de llamada para comprobar qué harías y qué dirías.",
            "search:",
            "  exclude: true",
            "---",
            "",
            "Cada ejercicio es una situación contada con las palabras del cliente o del agente. Primero eliges "
            "**qué haces** (la tarjeta que la resuelve) y después **qué dices**. Tras cada respuesta verás por qué, "
            "con la tarjeta de la guía. Se hace por tandas de 10 y todo funciona con el teclado.",
            "",
            "Las opciones incorrectas son tarjetas parecidas, pero nunca otra respuesta válida: se descartan las "
            "demasiado cercanas a la correcta. Tu progreso se guarda solo en este navegador.",
            "",
            f"*Opciones de esta versión: {practice.close.reason}.*",
            "",
            '<div id="kb-practica" class="kb-practica">',
            '<p class="kb-practica__sin-js">La práctica necesita JavaScript. Mientras tanto, puedes repasar '
            'las frases en la <a href="../chuleta/">chuleta</a>.</p>',
            "</div>",
            "",
            f'<script type="application/json" id="{DATA_ID}">{data}</script>',
            "",
        ]
    )


def read_practice(site_dir: Path) -> dict[str, Any] | None:
    """The drills data of a built site (None when it has no practice page): for `kb build` and the tests."""
    page = site_dir / "practica" / "index.html"
    if not page.is_file():
        return None
    match = _DATA.search(page.read_text(encoding="utf-8"))
    return json.loads(match.group(1)) if match else None


def summary(site_dir: Path) -> str:
    """One line for `kb build`: how many drills, and whether the engine chose the wrong options."""
    data = read_practice(site_dir)
    if data is None:
        return "Práctica: no se ha generado."
    return f"Práctica: {len(data['drills'])} ejercicios de {len(data['guides'])} guías; {data['note']}."


_DRILL_TITLES = {title for title, kind in PHRASE_BLOCKS.items() if kind == "drill"}


def strip_scenarios(markdown: str) -> str:
    """A guide page without its «Práctica» blocks: the answers stay on the practice page, not next to it."""
    lines = markdown.split("\n")
    out: list[str] = []
    fenced = False
    i = 0
    while i < len(lines):
        if FENCE.match(lines[i]):
            fenced = not fenced
        title = block_title(lines[i]) if not fenced and ADMONITION.match(lines[i].strip()) else None
        if title in _DRILL_TITLES:
            i += 1
            while i < len(lines) and (not lines[i].strip() or lines[i].startswith(("    ", "\t"))):
                i += 1
            continue
        out.append(lines[i])
        i += 1
    return "\n".join(out)
