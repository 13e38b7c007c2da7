"""The real parts some tests need (Chromium, PostgreSQL, nginx, hunspell): one rule when one is missing.

On a developer's machine the test is skipped, saying what is missing; under `CI=true` (what `.ci/run`
sets) it fails, because there a missing part is a broken machine, not a choice.
"""

from __future__ import annotations

import os
from typing import NoReturn

import pytest


def under_ci() -> bool:
    """`CI` says this run must have every part (`.ci/run` sets CI=true)."""
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def missing(what: str) -> NoReturn:
    """Skip the test because `what` is not there, or fail it under CI."""
    if under_ci():
        pytest.fail(f"{what} (obligatorio con CI=true)", pytrace=False)
    pytest.skip(what)


def required(what: str, present: bool) -> None:
    """Go on when the part is `present`; otherwise `missing(what)`."""
    if not present:
        missing(f"falta {what}")
