"""How one ranking is scored against what was expected: the rank of the first right answer.

One rule for `kb eval`, the cross-validations, `kb check --golden` and the benchmarks, so hit@k and
MRR mean the same wherever they are printed.
"""

from __future__ import annotations

from collections.abc import Container, Iterable
from typing import TypeVar

T = TypeVar("T")


def first_hit(ranked: Iterable[T], expected: Container[T], depth: int | None = None) -> int | None:
    """The 1-based rank of the first item of `ranked` that is in `expected`, looking at the first
    `depth` items at most; None when there is none.

    >>> first_hit(["a", "b", "c"], {"c", "b"})
    2
    >>> first_hit(["a", "b", "c"], {"c"}, depth=2) is None
    True
    """
    for rank, item in enumerate(ranked, 1):
        if depth is not None and rank > depth:
            return None
        if item in expected:
            return rank
    return None
