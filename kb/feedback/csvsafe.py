"""CSV exports that a spreadsheet opens safely (OWASP "CSV injection").

Exports end up in Excel or LibreOffice on a trainer's desktop, and the cells hold text
typed by agents and customers. A cell such as ``=HYPERLINK("http://x","clic")`` would
run as a formula there, so every text cell that a spreadsheet would read as a formula
gets a leading apostrophe, which the spreadsheet shows as plain text.

The same holds after every separator a spreadsheet might split on (``;``, ``,``, tab, line
breaks): a Spanish-locale Excel opens a comma file splitting on semicolons, so the text
``me grita;=cmd|…`` would become a cell ``=cmd|…``. Each such piece is neutralised too
(``me grita;'=cmd|…``), whatever the delimiter the file was written with.

Numbers stay numbers: an int or float is written as is, and a text cell that is a whole
number («-5», «-3.5», «-3,5») is not touched, since a spreadsheet reads it as a number
and nothing runs.

The text starts with a UTF-8 byte-order mark, so Excel reads «ñ» and «é» correctly
instead of guessing a Windows code page.

    >>> neutralise("=1+1")
    "'=1+1"
    >>> neutralise("-5")
    '-5'
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Sequence

Cell = str | int | float | None
"""What a row may hold; `None` becomes an empty cell."""

BOM = "\ufeff"
"""Marks the text as UTF-8 for spreadsheets; write the result with encoding='utf-8'."""

FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r", "\n")
"""First characters that make a spreadsheet treat a cell as a formula (OWASP's list, plus
line feed, which some importers also strip before looking at the cell)."""

_PIECES = re.compile(r"(?<=[;,\t\r\n])")
"""Split points: just after each character some spreadsheet treats as a cell or row separator."""

_NUMBER_RE = re.compile(r"[+-]?(?:\d+(?:[.,]\d+)?|[.,]\d+)(?:[eE][+-]?\d+)?")
"""A plain number, decimal point or comma; deliberately not `float()`, which takes «-inf»."""


def _is_number(text: str) -> bool:
    return _NUMBER_RE.fullmatch(text.strip(" ")) is not None


def neutralise(cell: Cell) -> Cell:
    """Return `cell` so that no spreadsheet runs it, or any piece of it split at a separator, as a formula.

    Leading spaces are looked through too («  =1+1»): some spreadsheets trim them
    before deciding whether a cell is a formula.
    """
    if not isinstance(cell, str):
        return cell
    return "".join(_guard(piece) for piece in _PIECES.split(cell))


def _guard(piece: str) -> str:
    """`piece` with an apostrophe in front when a spreadsheet would read it as a formula."""
    stripped = piece.lstrip(" ")
    if not stripped.startswith(FORMULA_TRIGGERS):
        return piece
    if stripped[0] in "+-" and _is_number(stripped.rstrip(";,\t\r\n")):
        return piece
    return "'" + piece


def to_csv(header: Sequence[str], rows: Iterable[Sequence[Cell]], *, delimiter: str = ",") -> str:
    """The CSV text of `header` and `rows`, every cell neutralised, starting with a BOM.

    `delimiter=";"` suits a Spanish-locale Excel, which splits on semicolons.
    """
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, delimiter=delimiter)
    writer.writerow([neutralise(cell) for cell in header])
    for row in rows:
        writer.writerow([neutralise(cell) for cell in row])
    return BOM + buffer.getvalue()


__all__ = ["BOM", "FORMULA_TRIGGERS", "Cell", "neutralise", "to_csv"]
