"""CSV exports never carry a live formula, and numbers stay numbers."""

from __future__ import annotations

import csv
import io
import re

import pytest

from kb.feedback.csvsafe import BOM, _is_number, neutralise, to_csv

DANGEROUS = [
    '=hyperlink("http://x","clic")',
    "+1+1",
    "-2+3",
    "@SUM(A1)",
    "\t=1",
    "\r=1",
    "\n=1",
    "  =1+1",
    "=",
    "-",
    "-inf",
]

HARMLESS = ["-5", "-3.5", "-3,5", "+34", "12", "texto normal", "", "a=b", "correo@ejemplo.es", "1-2"]


SEPARATORS = (";", ",", "\t", "\r", "\n")


def runs_nowhere(text: str) -> bool:
    """No piece of `text`, split at any separator a spreadsheet might use, starts a formula."""
    pieces = re.split(r"[;,\t\r\n]", text)
    return not any(p.lstrip(" ").startswith(("=", "+", "-", "@")) and not _is_number(p) for p in pieces)


@pytest.mark.parametrize("cell", DANGEROUS)
def test_formula_cells_get_an_apostrophe(cell: str) -> None:
    assert neutralise(cell).startswith("'") and runs_nowhere(neutralise(cell))
    if not any(sep in cell for sep in SEPARATORS):
        assert neutralise(cell) == "'" + cell


AFTER_A_SEPARATOR = [
    ("me grita;=cmd|' /C calc'!A0", "me grita;'=cmd|' /C calc'!A0"),
    ("me grita;+1+1", "me grita;'+1+1"),
    ("me grita;-2+3", "me grita;'-2+3"),
    ("me grita;@SUM(1+1)", "me grita;'@SUM(1+1)"),
    ("me grita; =1", "me grita;' =1"),
    ("hola,=1", "hola,'=1"),
    ("hola\t@x", "hola\t'@x"),
    ("uno;dos;=tres", "uno;dos;'=tres"),
    ("temperatura;-5", "temperatura;-5"),  # a number after the separator is a number
]


@pytest.mark.parametrize(("cell", "safe"), AFTER_A_SEPARATOR)
def test_a_formula_after_a_separator_is_neutralised_too(cell: str, safe: str) -> None:
    """A Spanish-locale spreadsheet splits a comma file on «;»: what follows one must not run either."""
    assert neutralise(cell) == safe and runs_nowhere(safe)


@pytest.mark.parametrize("delimiter", [",", ";"])
def test_no_cell_runs_whichever_delimiter_the_spreadsheet_uses(delimiter: str) -> None:
    rows = [[cell, 1] for cell, _ in AFTER_A_SEPARATOR] + [[cell, 2] for cell in DANGEROUS]
    for written_with in (",", ";"):
        text = to_csv(["consulta", "veces"], rows, delimiter=written_with).removeprefix(BOM)
        cells = [c for row in csv.reader(io.StringIO(text, newline=""), delimiter=delimiter) for c in row]
        assert all(runs_nowhere(c) for c in cells), (written_with, delimiter)


@pytest.mark.parametrize("cell", HARMLESS)
def test_numbers_and_plain_text_untouched(cell: str) -> None:
    assert neutralise(cell) == cell


def test_non_text_cells_untouched() -> None:
    assert neutralise(-5) == -5
    assert neutralise(-3.5) == -3.5
    assert neutralise(None) is None


def test_round_trip_gives_neutralised_values() -> None:
    rows = [[cell, 1] for cell in DANGEROUS + HARMLESS]
    text = to_csv(["consulta", "votos"], rows)
    assert text.startswith(BOM)
    parsed = list(csv.reader(io.StringIO(text.removeprefix(BOM), newline="")))
    assert parsed[0] == ["consulta", "votos"]
    assert parsed[1:] == [[str(neutralise(cell)), "1"] for cell in DANGEROUS + HARMLESS]


def test_numbers_written_as_numbers() -> None:
    text = to_csv(["a", "b", "c"], [[-5, -3.5, 12]])
    assert text.removeprefix(BOM).splitlines()[1] == "-5,-3.5,12"


def test_header_is_neutralised_too() -> None:
    text = to_csv(["=cmd", "b"], [])
    assert text.removeprefix(BOM).splitlines()[0] == "'=cmd,b"


def test_semicolon_delimiter_and_utf8() -> None:
    text = to_csv(["pregunta", "fase"], [["¿Cuándo llega mi pedido? ñ", "envío"]], delimiter=";")
    assert text == BOM + "pregunta;fase\r\n¿Cuándo llega mi pedido? ñ;envío\r\n"
    assert text.encode("utf-8").startswith(b"\xef\xbb\xbf")
