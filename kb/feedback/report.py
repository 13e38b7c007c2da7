"""What agents searched for and what they thought of the answers, for trainers.

    >>> report = compute_report("feedback.db")   # or a FeedbackStore, or a postgresql+psycopg:// URL
    >>> report.gaps[:3]          # [(query, times)] searches with no trustworthy answer
    >>> print(report.to_markdown())

Used by `kb report` and by the panel's "Formadores" page. The API (Report fields
top_queries, gaps, worst_cards, by_fase, totals; to_markdown, to_csv) is stable.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from kb.content import FASES
from kb.errors import StoreError
from kb.feedback.csvsafe import to_csv
from kb.feedback.database import feedback, is_url, searches, select_since
from kb.feedback.store import FeedbackStore

ReportError = StoreError
"""The old name, still caught by `kb report` and the trainers' page."""


@dataclass
class Report:
    top_queries: list[tuple[str, int]] = field(default_factory=list)
    gaps: list[tuple[str, int]] = field(default_factory=list)
    worst_cards: list[tuple[str, int, int]] = field(default_factory=list)  # (card id, 👎, 👍)
    by_fase: list[tuple[str, int, int, int]] = field(default_factory=list)  # (fase, searches, 👍, 👎)
    totals: dict[str, int] = field(default_factory=dict)
    overdue: list[tuple[str, str, str]] = field(default_factory=list)  # (guide, responsable, due date)

    def tables(self) -> list[tuple[str, list[str], list[tuple]]]:
        """(title, headers, rows) of every table, in the order they are shown."""
        return [
            ("Consultas más frecuentes", ["consulta", "veces"], self.top_queries),
            ("Huecos de contenido (sin resultado fiable)", ["consulta", "veces"], self.gaps),
            ("Tarjetas con más 👎", ["tarjeta", "👎", "👍"], self.worst_cards),
            (
                "Por fase",
                ["fase", "búsquedas", "👍", "👎"],
                [(FASES.get(f, f), n, u, d) for f, n, u, d in self.by_fase],
            ),
            ("Guías pendientes de revisión", ["guía", "responsable", "vencía el"], self.overdue),
        ]

    def to_markdown(self) -> str:
        t = self.totals
        out = [
            "# Informe de búsquedas y valoraciones",
            "",
            (
                f"{t.get('searches', 0)} búsquedas, {t.get('low_confidence', 0)} sin resultado fiable, "
                f"{t.get('up', 0)} 👍 y {t.get('down', 0)} 👎."
            ),
        ]
        for title, headers, rows in self.tables():
            out += ["", f"## {title}", ""]
            if not rows:
                out.append("_(sin datos)_")
                continue
            out.append("| " + " | ".join(headers) + " |")
            out.append("|" + "---|" * len(headers))
            for row in rows:
                out.append("| " + " | ".join(str(v).replace("|", "\\|") for v in row) + " |")
        return "\n".join(out) + "\n"

    def to_csv(self) -> str:
        """One CSV with a 'tabla' column so every table fits in one file (opens in a spreadsheet).

        Written by kb.feedback.csvsafe: queries are typed by agents, so a cell like «=HYPERLINK(…)» is
        neutralised before a trainer's spreadsheet could run it, and a BOM keeps «ñ» intact."""
        return to_csv(
            ["tabla", "clave", "valor1", "valor2", "valor3"],
            [[title, *row] for title, _, rows in self.tables() for row in rows],
        )


def compute_report(
    store_or_url: FeedbackStore | Path | str,
    limit: int = 10,
    since: datetime | None = None,
    renamed: dict[str, str] | None = None,
) -> Report:
    """Aggregate the feedback database (a store, a SQLite path or a URL), optionally from `since` on.

    `renamed` (kb.content.renamed_ids) folds the votes stored under a merged card's old id into the card
    that took it in, so a merge neither hides a card's 👎 nor lists a card that no longer exists.

    Raises StoreError (alias ReportError) if it is missing or unreadable. A SQLite path that
    does not exist is an error rather than a new empty database: a typo in --db should say so."""
    if isinstance(store_or_url, FeedbackStore):
        return _report(store_or_url, limit, since, renamed or {})
    if not is_url(store_or_url) and not Path(store_or_url).is_file():
        raise StoreError(
            f"No existe la base de datos de valoraciones {store_or_url}. "
            "Se crea sola cuando los agentes usan el panel (o indica otra con --db)."
        )
    store = FeedbackStore(store_or_url)
    try:
        return _report(store, limit, since, renamed or {})
    finally:
        store.close()


def fold_votes(rows: list[tuple[Any, ...]], renamed: dict[str, str], limit: int) -> list[tuple[str, int, int]]:
    """(card, 👎, 👍) per current card, old ids added to the card that took them in; cards with a 👎, worst first."""
    totals: dict[str, tuple[int, int]] = {}
    for card_id, n_down, n_up in rows:
        key = renamed.get(card_id, card_id)
        was_down, was_up = totals.get(key, (0, 0))
        totals[key] = (was_down + int(n_down or 0), was_up + int(n_up or 0))
    ranked = sorted(((c, d, u) for c, (d, u) in totals.items() if d > 0), key=lambda r: (-r[1], r[2], r[0]))
    return ranked[:limit]


def _report(store: FeedbackStore, limit: int, since: datetime | None, renamed: dict[str, str]) -> Report:
    s, f = searches, feedback
    # SUM(vote = -1) is SQLite-only (PostgreSQL has no boolean sum): count with CASE on both.
    down = sa.func.sum(sa.case((f.c.vote == -1, 1), else_=0))
    up = sa.func.sum(sa.case((f.c.vote == 1, 1), else_=0))
    query = sa.func.lower(s.c.query)

    def frequent(*where: sa.ColumnElement[bool]) -> sa.Select[Any]:
        q, n = query.label("q"), sa.func.count().label("n")
        stmt = sa.select(q, n).where(*where).group_by(query).order_by(n.desc(), q).limit(limit)
        return select_since(stmt, s, since)

    def work(conn: sa.Connection) -> Report:
        def rows(stmt: sa.Executable) -> list[tuple[Any, ...]]:
            return [tuple(r) for r in conn.execute(stmt)]

        d, u = down.label("d"), up.label("u")
        report = Report(
            top_queries=rows(frequent()),
            gaps=rows(frequent(s.c.low_confidence == 1)),
            worst_cards=fold_votes(
                rows(select_since(sa.select(f.c.card_id, d, u).group_by(f.c.card_id), f, since)), renamed, limit
            ),
        )
        by_search = dict(
            rows(
                select_since(
                    sa.select(s.c.top_fase, sa.func.count())
                    .where(s.c.low_confidence == 0, s.c.top_fase.is_not(None))
                    .group_by(s.c.top_fase),
                    s,
                    since,
                )
            )
        )
        votes = {
            fase: (n_up, n_down)
            for fase, n_up, n_down in rows(
                select_since(sa.select(f.c.fase, up, down).where(f.c.fase.is_not(None)).group_by(f.c.fase), f, since)
            )
        }
        report.by_fase = [
            (fase, by_search.get(fase, 0), *votes.get(fase, (0, 0)))
            for fase in FASES
            if by_search.get(fase) or fase in votes
        ]
        ((n, low),) = rows(
            select_since(sa.select(sa.func.count(), sa.func.coalesce(sa.func.sum(s.c.low_confidence), 0)), s, since)
        )
        ((n_up, n_down),) = rows(select_since(sa.select(sa.func.coalesce(up, 0), sa.func.coalesce(down, 0)), f, since))
        report.totals = {"searches": int(n), "low_confidence": int(low), "up": int(n_up), "down": int(n_down)}
        return report

    return store.read(work)
