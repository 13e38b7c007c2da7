"""BENCHMARKS.md is written by several benchmarks, each owning one «## …» section."""

from __future__ import annotations

import re
from pathlib import Path


def replace_section(path: Path, heading: str, text: str) -> None:
    """Put `text` in place of the section that starts with `heading` (up to the next «## » or the end),
    keeping its position so the file reads in the same order after every run; append it when absent."""
    old = path.read_text(encoding="utf-8") if path.is_file() else "# Benchmarks\n"
    pattern = re.compile(re.escape(heading) + r".*?(?=^## |\Z)", flags=re.S | re.M)
    if pattern.search(old):
        new = pattern.sub(lambda _: text.rstrip() + "\n\n", old, count=1).rstrip() + "\n"
    else:
        new = old.rstrip() + "\n\n" + text.rstrip() + "\n"
    path.write_text(new, encoding="utf-8")
