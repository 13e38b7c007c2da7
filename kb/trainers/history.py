"""When git last saw a guide change: the evidence `kb check` compares with the guide's review dates.

Why git and not the file's modification time: a checkout, a copy or a merge touches every file, while a
commit date is when the text really changed. Without git (not installed, not a repository, a file git
does not know) there is no evidence, and nothing is reported: the check degrades, it never fails.
"""

from __future__ import annotations

import subprocess
from datetime import date
from pathlib import Path

GIT_TIMEOUT = 10.0
"""Seconds one git call may take before the evidence is given up on (a locked or huge repository)."""


def _git(root: Path, *args: str) -> str | None:
    """git's output in `root`, or None when git is missing, fails or the folder is not a repository."""
    try:
        proc = subprocess.run(
            ["git", "-C", str(root), *args], capture_output=True, text=True, timeout=GIT_TIMEOUT, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return proc.stdout if proc.returncode == 0 else None


def last_change(file: Path, root: Path, today: date) -> tuple[date, bool] | None:
    """(day the file last changed, whether that change is not committed yet), or None without evidence.

    Uncommitted edits (or a file git does not track yet) changed today; otherwise the date of the last
    commit that touched the file (`git log -1 --format=%cs`)."""
    status = _git(root, "status", "--porcelain", "--", str(file))
    if status is None:
        return None
    if status.strip():
        return today, True
    stamp = (_git(root, "log", "-1", "--format=%cs", "--", str(file)) or "").strip()
    try:
        return date.fromisoformat(stamp), False
    except ValueError:
        return None


def text_on(file: Path, root: Path, day: date) -> str | None:
    """The file as committed at the end of `day`: '' when it did not exist yet, None without evidence.

    Why a whole version and not a diff: the caller compares what a reviewer saw that day with what is
    there now, whatever happened in between (a change made and undone leaves nothing to review)."""
    try:
        rel = file.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return None
    commit = _git(root, "log", "-1", "--format=%H", f"--until={day.isoformat()}T23:59:59", "--", rel)
    if commit is None:
        return None
    if not commit.strip():
        return ""
    return _git(root, "show", f"{commit.strip()}:./{rel}")
