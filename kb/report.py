"""What agents searched for and what they thought of the answers, for trainers.

    >>> report = compute_report("feedback.db")
    >>> report.gaps[:3]          # [(query, times)] searches with no trustworthy answer
    >>> print(report.to_markdown())

Used by `kb report` and by the panel's "Formadores" page. The API (Report fields
top_queries, gaps, worst_cards, by_fase, totals; to_markdown, to_csv) is stable.
"""

from __future__ import annotations

import csv
import io
import sqlite3
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path

from kb.content import FASES
from kb.errors import StoreError


class ReportError(StoreError):
    """The feedback database cannot be read; the message says what to do."""


@dataclass
class Report:
    top_queries: list[tuple[str, int]] = field(default_factory=list)
    gaps: list[tuple[str, int]] = field(default_factory=list)
    worst_cards: list[tuple[str, int, int]] = field(default_factory=list)  # (card id, 👎, 👍)
    by_fase: list[tuple[str, int, int, int]] = field(default_factory=list)  # (fase, searches, 👍, 👎)
    totals: dict[str, int] = field(default_factory=dict)

    def tables(self) -> list[tuple[str, list[str], list[tuple]]]:
        """(title, headers, rows) of every table, in the order they are shown."""
        return [
            ("Consultas más frecuentes", ["consulta", "veces"], self.top_queries),
            ("Huecos de contenido (sin resultado fiable)", ["consulta", "veces"], self.gaps),
            ("Tarjetas con más 👎", ["tarjeta", "👎", "👍"], self.worst_cards),
            ("Por fase", ["fase", "búsquedas", "👍", "👎"],
             [(FASES.get(f, f), n, u, d) for f, n, u, d in self.by_fase]),
        ]

    def to_markdown(self) -> str:
        t = self.totals
        out = [
            "# Informe de búsquedas y valoraciones",
            "",
            f"{t.get('searches', 0)} búsquedas, {t.get('low_confidence', 0)} sin resultado fiable, "
            f"{t.get('up', 0)} 👍 y {t.get('down', 0)} 👎.",
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
        """One CSV with a 'tabla' column so every table fits in one file (opens in a spreadsheet)."""
        buf = io.StringIO()
        writer = csv.writer(buf)
        writer.writerow(["tabla", "clave", "valor1", "valor2", "valor3"])
        for title, _, rows in self.tables():
            for row in rows:
                writer.writerow([title, *row])
        return buf.getvalue()


def compute_report(db_path: Path | str, limit: int = 10) -> Report:
    """Aggregate the feedback database. Raises ReportError if it is missing or unreadable."""
    db_path = Path(db_path)
    if not db_path.is_file():
        raise ReportError(f"No existe la base de datos de valoraciones {db_path}. "
                          "Se crea sola cuando los agentes usan el panel (o indica otra con --db).")
    try:
        with closing(sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)) as conn:
            q = lambda sql, *args: list(conn.execute(sql, args))  # noqa: E731
            report = Report(
                top_queries=q("SELECT lower(query), COUNT(*) n FROM searches GROUP BY lower(query) "
                              "ORDER BY n DESC, lower(query) LIMIT ?", limit),
                gaps=q("SELECT lower(query), COUNT(*) n FROM searches WHERE low_confidence = 1 "
                       "GROUP BY lower(query) ORDER BY n DESC, lower(query) LIMIT ?", limit),
                worst_cards=q("SELECT card_id, SUM(vote = -1) d, SUM(vote = 1) u FROM feedback GROUP BY card_id "
                              "HAVING d > 0 ORDER BY d DESC, u ASC, card_id LIMIT ?", limit),
            )
            searches = dict(q("SELECT top_fase, COUNT(*) FROM searches WHERE low_confidence = 0 "
                              "AND top_fase IS NOT NULL GROUP BY top_fase"))
            votes = {f: (u, d) for f, u, d in q("SELECT fase, SUM(vote = 1), SUM(vote = -1) FROM feedback "
                                                 "WHERE fase IS NOT NULL GROUP BY fase")}
            report.by_fase = [
                (f, searches.get(f, 0), *votes.get(f, (0, 0)))
                for f in FASES if searches.get(f) or f in votes
            ]
            (n, low), = q("SELECT COUNT(*), COALESCE(SUM(low_confidence), 0) FROM searches")
            (up, down), = q("SELECT COALESCE(SUM(vote = 1), 0), COALESCE(SUM(vote = -1), 0) FROM feedback")
            report.totals = {"searches": n, "low_confidence": low, "up": up, "down": down}
            return report
    except sqlite3.Error as exc:
        raise ReportError(f"No se puede leer {db_path} ({exc}). ¿Es una base de datos de kb?") from None
