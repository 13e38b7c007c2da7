"""Which ranked cards a search shows: the phase and tag filters, and one card per text.

Both ways of reading a query (whole, or sentence by sentence in kb.search.passages) end here, so a
filter or a duplicate is treated the same whichever way the text was read.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar

from kb.content import Card

T = TypeVar("T")


def admits(card: Card, fase: str | None, tags: Iterable[str]) -> bool:
    """The card has the fase (when one is asked for) and every tag."""
    return (not fase or card.fase == fase) and set(tags).issubset(card.tags)


def shown(ranked: Iterable[T], card_of: Callable[[T], Card], fase: str | None, tags: Iterable[str]) -> Iterator[T]:
    """`ranked` in order, without the cards the filters exclude and without a second card whose text
    is identical to one already shown (the same text under two headings is shown once)."""
    wanted = set(tags)
    seen_text: set[str] = set()
    for item in ranked:
        card = card_of(item)
        if not admits(card, fase, wanted):
            continue
        key = card.text.strip().lower()
        if key in seen_text:
            continue
        seen_text.add(key)
        yield item
