"""The `kb` command line. Every command is a thin wrapper over a Python function.

    build · search · export · eval · check · report · serve · preview · users · purge · api · replay

User-facing failures are `KbError`s (kb.errors); `KbGroup.invoke` is the one place
they become a red Spanish message and the error's exit code (kb.cli.common.fail),
never a traceback.
"""

from __future__ import annotations

from typing import Any

import click

from kb.cli import admin, api, build, query, spanish
from kb.cli.common import fail
from kb.config import load_settings
from kb.errors import KbError


class KbGroup(click.Group):
    """A click group that speaks Spanish and maps every KbError raised by a command to its message and
    exit code."""

    def main(self, *args: Any, **kwargs: Any) -> Any:
        # Spanish from the moment `kb` runs, not from the moment kb.cli is imported: a program that
        # only imports it (the panel, a test) keeps its own language settings.
        spanish.install(self)
        return super().main(*args, **kwargs)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except KbError as error:
            fail(error)


@click.group(cls=KbGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="kb", message="kb %(version)s")
@click.pass_context
def main(ctx: click.Context) -> None:
    """Base de conocimiento de atención al cliente: construir, buscar, comprobar."""
    ctx.obj = {"settings": load_settings()}


for _command in (*build.COMMANDS, *query.COMMANDS, *admin.COMMANDS, *api.COMMANDS):
    main.add_command(_command)

if __name__ == "__main__":
    main()
