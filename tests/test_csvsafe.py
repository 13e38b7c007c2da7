"""CSV exports never carry a live formula, and numbers stay numbers."""

from __future__ import annotations

import csv
import io

import pytest

from kb.feedback.csvsafe import BOM, neutralise, to_csv

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


@pytest.mark.parametrize("cell", DANGEROUS)
def test_formula_cells_get_an_apostrophe(cell: str) -> None:
    assert neutralise(cell) == "'" + cell


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
