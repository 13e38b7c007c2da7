"""The `kb` command line contract: names, fields and exit codes other tools rely on."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from kb.cli import main

RESULT_FIELDS = {"id", "title", "heading", "action", "text", "url", "score", "fase", "tags", "say", "avoid"}
OPTIONAL_FIELDS = {"limit", "legal", "learned"}
"""Sent only when the card has them (a «Límite», a legal block of KB_COUNTRY, situations learned)."""


def follows_contract(result: dict, fields: set[str] = RESULT_FIELDS) -> bool:
    return fields <= set(result) <= fields | OPTIONAL_FIELDS


def run(*args: str, input: str | None = None):
    return CliRunner().invoke(main, list(args), input=input, catch_exceptions=False)


def test_search_human_output_shows_tip_phrases_and_link(built_index):
    out = run("search", "el cliente me grita y no me deja hablar", "-k", "3")
    assert out.exit_code == 0, out.output
    assert "1. " in out.output and "Decir:" in out.output
    assert f"Ver guía: {built_index.site_url}guias/" in out.output


def test_search_json_follows_the_contract(built_index):
    out = run("search", "quiere que le devolvamos el dinero", "-k", "2", "--json")
    data = json.loads(out.output)
    assert set(data) == {"query", "low_confidence", "results"}
    assert isinstance(data["low_confidence"], bool) and len(data["results"]) == 2
    for result in data["results"]:
        assert follows_contract(result), sorted(result)
        assert isinstance(result["say"], list) and isinstance(result["tags"], list)


def test_batch_answers_every_line_in_order(built_index):
    lines = ["me está insultando", "", "receta de paella", "dice que le hemos mentido"]
    out = run("search", "--batch", "-k", "2", input="\n".join(lines) + "\n")
    assert out.exit_code == 0
    rows = [json.loads(line) for line in out.output.splitlines()]
    assert [r["query"] for r in rows] == ["me está insultando", "", "receta de paella", "dice que le hemos mentido"]
    assert rows[1]["results"] == [] and "error" in rows[1]
    assert rows[2]["low_confidence"] is True
    for row in rows[:1] + rows[3:]:
        assert row["low_confidence"] is False
        assert len(row["results"]) == 2 and all(follows_contract(r) for r in row["results"])


def test_export_lists_every_card_without_score(built_index, searcher):
    out = run("export")
    rows = [json.loads(line) for line in out.output.splitlines()]
    assert len(rows) == len(searcher.cards)
    assert all(follows_contract(r, RESULT_FIELDS - {"score"}) for r in rows)
    assert [r["id"] for r in rows] == [c.id for c in searcher.cards]


def test_fase_filter_option(built_index):
    data = json.loads(run("search", "me grita", "--fase", "desahogo", "--json").output)
    assert data["results"] and {r["fase"] for r in data["results"]} == {"desahogo"}


def test_user_mistakes_exit_non_zero_with_a_spanish_message(built_index):
    empty = run("search", "   ")
    assert empty.exit_code == 2 and "Escribe qué está pasando" in empty.output
    missing = run("search")
    assert missing.exit_code == 2 and "Falta la consulta" in missing.output
    bad_fase = run("search", "hola", "--fase", "relax")
    assert bad_fase.exit_code == 2


def test_missing_index_says_how_to_build_it(tmp_path, monkeypatch):
    monkeypatch.setenv("KB_INDEX", str(tmp_path / "no-index"))
    out = run("search", "me grita")
    assert out.exit_code == 3
    assert "kb build" in out.output


def test_missing_index_is_reported_before_loading_the_model(tmp_path):
    """The index is checked first, so the answer comes without the seconds torch takes to load."""
    code = (
        "import sys\n"
        "from kb.config import load_settings\n"
        "from kb.errors import IndexMissing\n"
        "from kb.search.searcher import Searcher\n"
        "try:\n"
        "    Searcher.load(load_settings())\n"
        "except IndexMissing:\n"
        "    print('torch' in sys.modules)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=dict(os.environ, KB_INDEX=str(tmp_path / "no-index")),
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "False"


def test_real_entry_point_runs(built_index):
    """The installed `kb` script itself (not just the click object)."""
    kb_bin = Path(sys.executable).parent / "kb"
    proc = subprocess.run(
        [str(kb_bin), "search", "amenaza con ponerlo en twitter", "--json", "-k", "1"],
        capture_output=True,
        text=True,
        env=dict(os.environ, KB_INDEX=str(built_index.index_dir)),
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["results"][0]["id"].startswith("guias/")
    assert "Traceback" not in proc.stderr
