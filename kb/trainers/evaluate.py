"""Retrieval quality on the eval set, for the configured model and a BM25 baseline.

The eval set (`tests/data/eval/*.jsonl`) holds situations typed the way agents
talk during a call, each labelled with the card id(s) that answer it, and
out-of-scope queries (`"expected": []`) that must come back `low_confidence`.

Metrics:
- hit@1, hit@3: share of in-scope queries with a correct card in the top 1 / 3.
- MRR: mean of 1/rank of the first correct card (0 beyond the top 10).
- out-of-scope precision/recall: "flagged as low confidence" taken as the
  prediction for "out of scope"; plus the share of in-scope queries flagged.

The real-wording set (`tests/data/real/*.jsonl`, register `real`) is situations modelled on public
text nobody on the team wrote; its rows also carry the split (`dev`, tuned on; `test`, reported),
the kind of source and the country, and its figures come broken down by each (`REAL_GROUPS`).
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from kb.config import Settings
from kb.content import Card, current_ids, load_docs, renamed_ids
from kb.embedding.encoders import load_embedder
from kb.errors import UsageError
from kb.retrieval.build import memory_index
from kb.retrieval.calibration import outside_list, threshold_rule
from kb.retrieval.keywords import bm25_index, bm25_scores, terms
from kb.search.searcher import Searcher
from kb.trainers.measures import first_hit

DEPTH = 10


@dataclass
class EvalQuery:
    query: str
    expected: list[str]
    source: str
    register: str = "base"
    facets: dict[str, str] = field(default_factory=dict)
    """What else the row says of itself (split, kind, country, speaker): how `kb eval` breaks it down."""

    @property
    def in_scope(self) -> bool:
        return bool(self.expected)


@dataclass
class EvalReport:
    system: str
    hit1: float
    hit3: float
    mrr: float
    oos_precision: float
    oos_recall: float
    in_scope_flagged: float
    n_in: int
    n_out: int
    ms_per_query: float
    misses: list[dict[str, Any]] = field(default_factory=list)
    registers: dict[str, dict[str, float]] = field(default_factory=dict)
    groups: dict[str, dict[str, dict[str, float]]] = field(default_factory=dict)
    """Facet (partición, tipo, país) → value → the same figures as a register."""
    per_query: list[dict[str, Any]] = field(default_factory=list)
    """One row per query (source, register, rank, flagged): what `kb eval --compare` pairs up."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


FACETS = ("split", "kind", "country", "speaker")
"""Optional row fields kept as facets (the real-wording set has them all)."""
REAL_GROUPS = {"split": "partición", "kind": "tipo de fuente", "country": "país", "speaker": "quién habla"}
"""How the real-wording figures are broken down, and each facet's name in the report."""


def _row(line: str) -> EvalQuery | None:
    """The query of one JSON line (source left empty), or None when the row is malformed."""
    try:
        row = json.loads(line)
    except ValueError:
        return None
    if not isinstance(row, dict):
        return None
    query, expected, register = row.get("query"), row.get("expected"), row.get("register", "base")
    if not isinstance(query, str) or not isinstance(expected, list) or not isinstance(register, str):
        return None
    facets = {name: str(row[name]) for name in FACETS if isinstance(row.get(name), str)}
    return EvalQuery(query, [str(e) for e in expected], "", register, facets)


def load_eval_set(data_dir: Path) -> list[EvalQuery]:
    """Every query of every .jsonl file in `data_dir`; raises UsageError naming file:line on bad rows."""
    files = sorted(Path(data_dir).glob("*.jsonl"))
    if not files:
        raise UsageError(f"No hay archivos .jsonl de evaluación en {data_dir}.")
    out: list[EvalQuery] = []
    for file in files:
        for n, line in enumerate(file.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            row = _row(line)
            if row is None:
                raise UsageError(f'{file}:{n}: se esperaba {{"query": texto, "expected": [ids]}}')
            row.source = f"{file.name}:{n}"
            out.append(row)
    return out


def with_current_ids(queries: list[EvalQuery], renamed: dict[str, str]) -> list[EvalQuery]:
    """The queries with labels that name a merged card pointed at the card it went into (`data-antes`),
    so the sets stay as they were written and a merge is measured, not relabelled."""
    return [replace(q, expected=current_ids(q.expected, renamed)) for q in queries]


def _metrics(
    system: str,
    queries: list[EvalQuery],
    ranked: list[list[str]],
    flagged: list[bool],
    seconds: float,
    by_register: bool = True,
) -> EvalReport:
    in_scope = [(q, r, f) for q, r, f in zip(queries, ranked, flagged) if q.in_scope]
    out_scope = [(q, r, f) for q, r, f in zip(queries, ranked, flagged) if not q.in_scope]
    hit1 = hit3 = rr = 0.0
    misses = []
    for q, ids, _ in in_scope:
        rank = first_hit(ids, q.expected, DEPTH)
        if rank == 1:
            hit1 += 1
        if rank is not None and rank <= 3:
            hit3 += 1
        rr += 1 / rank if rank else 0.0
        if rank is None or rank > 3:
            misses.append({"query": q.query, "expected": q.expected, "got": ids[:3], "rank": rank, "source": q.source})
    n_in, n_out = len(in_scope), len(out_scope)
    flagged_out = sum(1 for *_, f in out_scope if f)
    flagged_in = sum(1 for *_, f in in_scope if f)
    for q, ids, f in out_scope:
        if not f:
            misses.append({"query": q.query, "expected": [], "got": ids[:3], "rank": None, "source": q.source})
    total_flagged = flagged_out + flagged_in
    report = EvalReport(
        system=system,
        hit1=round(hit1 / n_in, 4) if n_in else 0.0,
        hit3=round(hit3 / n_in, 4) if n_in else 0.0,
        mrr=round(rr / n_in, 4) if n_in else 0.0,
        oos_precision=round(flagged_out / total_flagged, 4) if total_flagged else 0.0,
        oos_recall=round(flagged_out / n_out, 4) if n_out else 0.0,
        in_scope_flagged=round(flagged_in / n_in, 4) if n_in else 0.0,
        n_in=n_in,
        n_out=n_out,
        ms_per_query=round(seconds * 1000 / max(1, len(queries)), 2),
        misses=misses,
    )
    for q, ids, f in zip(queries, ranked, flagged):
        rank = first_hit(ids, q.expected, DEPTH)
        report.per_query.append(
            {
                "source": q.source,
                "register": q.register,
                "in_scope": q.in_scope,
                "rank": rank,
                "flagged": bool(f),
                **q.facets,
            }
        )
    if by_register:
        if len({q.register for q in queries}) > 1:
            report.registers = _grouped(system, queries, ranked, flagged, lambda q: q.register)
        for facet in REAL_GROUPS:
            if any(facet in q.facets for q in queries):
                report.groups[facet] = _grouped(
                    system, queries, ranked, flagged, lambda q, f=facet: q.facets.get(f, "—")
                )
    return report


def _grouped(
    system: str, queries: list[EvalQuery], ranked: list[list[str]], flagged: list[bool], key: Any
) -> dict[str, dict[str, float]]:
    """The figures of each group of queries (`key(query)` names its group), in name order."""
    out = {}
    for name in sorted({key(q) for q in queries}):
        idx = [n for n, q in enumerate(queries) if key(q) == name]
        sub = _metrics(
            system, [queries[n] for n in idx], [ranked[n] for n in idx], [flagged[n] for n in idx], 0.0, False
        )
        out[name] = {
            "n": sub.n_in + sub.n_out,
            "hit1": sub.hit1,
            "hit3": sub.hit3,
            "mrr": sub.mrr,
            "oos_recall": sub.oos_recall,
            "in_scope_flagged": sub.in_scope_flagged,
        }
    return out


def eval_searcher(searcher: Searcher, queries: list[EvalQuery], system: str) -> EvalReport:
    queries = with_current_ids(queries, renamed_ids(searcher.cards))
    ranked, flagged = [], []
    started = time.perf_counter()
    for q in queries:
        response = searcher.search(q.query, DEPTH)
        ranked.append([r.card.id for r in response.results])
        flagged.append(response.low_confidence)
    return _metrics(system, queries, ranked, flagged, time.perf_counter() - started)


# ---------------------------------------------------------------- BM25 baseline


class BM25Baseline:
    """BM25 over the same cards, with the same terms (folded, Snowball-stemmed) as the production
    keyword bonus and the same calibration rule as the index: plain keyword search, done well."""

    def __init__(self, cards: list[Card], positives: list[str], negatives: list[str]):
        self.cards = cards
        self.bm25 = bm25_index([terms(c.embedding_text()) for c in cards])
        pos = np.array([self._top1(q) for q in positives]) if positives else np.zeros(0)
        neg = np.array([self._top1(q) for q in negatives]) if negatives else np.zeros(0)
        self.threshold = threshold_rule(pos, neg)

    def _scores(self, query: str) -> np.ndarray:
        return bm25_scores(self.bm25, terms(query), len(self.cards))

    def _top1(self, query: str) -> float:
        scores = self._scores(query)
        return float(scores.max()) if len(scores) else 0.0

    def evaluate(self, queries: list[EvalQuery]) -> EvalReport:
        queries = with_current_ids(queries, renamed_ids(self.cards))
        ranked, flagged = [], []
        started = time.perf_counter()
        for q in queries:
            scores = self._scores(q.query)
            order = np.argsort(-scores)[:DEPTH]
            ranked.append([self.cards[i].id for i in order])
            flagged.append(bool(scores.max() < self.threshold) if len(scores) else True)
        return _metrics("bm25", queries, ranked, flagged, time.perf_counter() - started)


def run_eval(settings: Settings, queries: list[EvalQuery], models: list[str]) -> list[EvalReport]:
    """Evaluate each model (in-memory index of the docs as they are now) and BM25."""
    return run_sets(settings, {"eval": queries}, models)["eval"]


def run_sets(settings: Settings, sets: dict[str, list[EvalQuery]], models: list[str]) -> dict[str, list[EvalReport]]:
    """Each set of queries against each model and BM25, one in-memory index per model for all sets."""
    docs = load_docs(settings.docs_dir, settings.root)
    reports: dict[str, list[EvalReport]] = {name: [] for name in sets}
    for model in models:
        embedder = load_embedder(model)
        index = memory_index(settings.docs_dir, embedder, settings.root, docs=docs)
        searcher = Searcher(index, embedder, settings)
        for name, queries in sets.items():
            reports[name].append(eval_searcher(searcher, queries, model))
    baseline = BM25Baseline(docs.cards, docs.situaciones, outside_list())
    for name, queries in sets.items():
        reports[name].append(baseline.evaluate(queries))
    return reports


def _group_table(title: str, column: str, groups: dict[str, dict[str, float]]) -> list[str]:
    lines = [
        f"\n{title}:",
        "",
        f"| {column} | consultas | hit@1 | hit@3 | MRR | fuera de alcance: recall | en alcance marcadas |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, m in groups.items():
        lines.append(
            f"| {name} | {m['n']} | {m['hit1']:.3f} | {m['hit3']:.3f} | {m['mrr']:.3f} | "
            f"{m['oos_recall']:.3f} | {m['in_scope_flagged']:.3f} |"
        )
    return lines


def format_report(reports: list[EvalReport], show_misses: bool = False) -> str:
    """A Markdown table, one row per system."""
    lines = [
        "| sistema | hit@1 | hit@3 | MRR | fuera de alcance: precisión | recall | en alcance marcadas | ms/consulta |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in reports:
        lines.append(
            f"| {r.system} | {r.hit1:.3f} | {r.hit3:.3f} | {r.mrr:.3f} | {r.oos_precision:.3f} | "
            f"{r.oos_recall:.3f} | {r.in_scope_flagged:.3f} | {r.ms_per_query:.1f} |"
        )
    n_in, n_out = (reports[0].n_in, reports[0].n_out) if reports else (0, 0)
    lines.append(f"\n{n_in} consultas en alcance, {n_out} fuera de alcance.")
    for r in reports:
        if r.registers:
            lines += _group_table(f"Por registro ({r.system})", "registro", r.registers)
        for facet, groups in r.groups.items():
            lines += _group_table(f"Por {REAL_GROUPS[facet]} ({r.system})", REAL_GROUPS[facet], groups)
    if show_misses:
        for r in reports:
            lines.append(f"\nFallos de {r.system}:")
            for m in r.misses:
                lines.append(f"- [{m['source']}] {m['query']!r}: esperado {m['expected']}, obtenido {m['got']}")
    return "\n".join(lines)
