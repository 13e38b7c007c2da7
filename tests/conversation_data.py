"""Loader for tests/data/conversaciones (format in its README) and the measurements the tests assert."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from kb.content import current_ids, renamed_ids
from kb.search.conversation import Conversation, Turn, parse_transcript

DATA = Path(__file__).resolve().parent / "data" / "conversaciones"
_EXPECT = re.compile(r"^#\s*espera:\s*(.+?)\s*@\s*(\d+)\s*$")
_STAGE = re.compile(r"^#\s*fase:\s*(\w+)\s*@\s*(\d+)\s*$")


@dataclass
class Script:
    name: str
    turns: list[Turn]
    expect: list[tuple[set[str], int]] = field(default_factory=list)  # (any of these ids, by turn N)
    stages: list[tuple[str, int]] = field(default_factory=list)  # (fase, after turn N)
    text: str = ""  # long messages: the whole body


def _labels(path: Path, script: Script) -> Script:
    for line in path.read_text(encoding="utf-8").splitlines():
        if m := _EXPECT.match(line):
            script.expect.append(({i.strip() for i in m.group(1).split("|")}, int(m.group(2))))
        elif m := _STAGE.match(line):
            script.stages.append((m.group(1), int(m.group(2))))
    return script


def with_current_ids(scripts: list[Script], cards) -> list[Script]:
    """The scripts with each expected id that a card took in (`data-antes`) replaced by that card's id."""
    renamed = renamed_ids(cards)
    return [
        Script(
            s.name, s.turns, [(set(current_ids(sorted(ids), renamed)), by) for ids, by in s.expect], s.stages, s.text
        )
        for s in scripts
    ]


def conversations() -> list[Script]:
    return [
        _labels(p, Script(p.stem, parse_transcript(p.read_text(encoding="utf-8")))) for p in sorted(DATA.glob("*.txt"))
    ]


def long_messages() -> list[Script]:
    out = []
    for p in sorted((DATA / "largos").glob("*.txt")):
        body = "\n".join(line for line in p.read_text(encoding="utf-8").splitlines() if not line.startswith("#"))
        out.append(_labels(p, Script(p.stem, [Turn("cliente", body.strip())], text=body.strip())))
    return out


def measure_conversations(searcher, scripts: list[Script], k: int = 3) -> dict[str, float]:
    """Share of expectations met by their turn, and share of stage labels matched."""
    met = total = stage_ok = stage_total = 0
    for script in with_current_ids(scripts, searcher.cards):
        shown_by: dict[str, int] = {}
        fases: dict[int, str] = {}
        conv = Conversation()
        for n, turn in enumerate(script.turns, 1):
            conv.add(turn.speaker, turn.text)
            if not any(t.speaker == "cliente" for t in conv.turns):
                continue
            suggestion = conv.suggest(searcher, k)
            fases[n] = suggestion.fase
            for r in suggestion.results:
                shown_by.setdefault(r.card.id, n)
        for ids, by in script.expect:
            total += 1
            met += any(shown_by.get(i, 10**6) <= by for i in ids)
        for fase, at in script.stages:
            stage_total += 1
            stage_ok += fases.get(at) == fase
    return {
        "hit_by_turn": met / max(total, 1),
        "stage": stage_ok / max(stage_total, 1),
        "expectations": total,
        "stage_labels": stage_total,
    }


def measure_long(searcher, scripts: list[Script], k: int = 3) -> dict[str, float]:
    """hit@k of the long-text path (Searcher.search) on the long messages."""
    hits = 0
    for script in with_current_ids(scripts, searcher.cards):
        ids = {r.card.id for r in searcher.search(script.text, k).results}
        hits += all(bool(ids & expected) for expected, _ in script.expect)
    return {"hit": hits / max(len(scripts), 1), "messages": len(scripts)}
