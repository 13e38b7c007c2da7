"""What every command shares: the settings of the run and how a KbError is shown."""

from __future__ import annotations

import sys

import click

from kb.config import Settings
from kb.content import ContentError
from kb.errors import KbError

CONTENT_HINT = (
    "{n} problema(s) en las guías. El índice anterior sigue en uso. "
    "Corrige los errores de arriba y vuelve a ejecutarlo."
)


def fail(error: KbError) -> None:
    """Print a KbError for people (problems of a ContentError first, one per line) and exit with its code."""
    if isinstance(error, ContentError):
        for problem in error.problems:
            click.echo(str(problem), err=True)
        click.secho(CONTENT_HINT.format(n=len(error.problems)), fg="red", err=True)
    else:
        click.secho(error.operator_text(), fg="red", err=True)
    sys.exit(error.exit_code)


def settings_of(ctx: click.Context) -> Settings:
    settings: Settings = ctx.find_root().obj["settings"]
    return settings
