"""Click's own words in Spanish: usage lines, help headings and usage errors.

Why: everything a user reads is Spanish, and Click writes part of every help page and usage error
itself («Usage:», «No such option», «Show this message and exit.»). Click marks those messages for
the standard library's gettext, so no Click internals are touched: `install` points gettext at kb's
catalogue (`locale/es/LC_MESSAGES/kb.po`, compiled to `kb.mo`, both in the repository) and asks for
Spanish. tests/test_cli_spanish.py checks that every message the installed Click can print has a
translation, so a Click upgrade that adds one fails a test instead of leaking English.
"""

from __future__ import annotations

import gettext
import os
from pathlib import Path

import click

LOCALE_DIR = Path(__file__).with_name("locale")
"""Where the catalogue lives: locale/es/LC_MESSAGES/kb.mo."""
DOMAIN = "kb"


def install(command: click.Command) -> None:
    """Make Click (and anything else that calls `gettext.gettext`) speak Spanish in this process, and
    name `command`'s placeholders in Spanish. Called when `kb` runs (kb.cli.KbGroup.main), never at import.

    gettext picks the language from the environment, first from LANGUAGE: kb speaks Spanish to
    everyone, so it is set, whatever the machine's locale. Child processes inherit it, which only
    matters to programs with a Spanish catalogue of their own."""
    gettext.bindtextdomain(DOMAIN, str(LOCALE_DIR))
    gettext.textdomain(DOMAIN)
    os.environ["LANGUAGE"] = "es"
    name_placeholders(command)


PATH_NAMES = {(True, False): "file", (False, True): "directory"}
"""Click names a path type when the option is declared, as `Path.__init__` does: file, directory or path."""


TYPE_PLACEHOLDERS = {"text": "TEXTO", "integer": "N", "integer range": "N", "float": "NÚMERO", "float range": "NÚMERO"}
"""Placeholders for option values, by Click type name. Click writes these names itself («TEXT»,
«INTEGER RANGE») rather than through gettext; file and folder types already come translated."""


def name_placeholders(command: click.Command) -> None:
    """Set the placeholders Click does not translate, on `command` and every command under it:
    «[OPTIONS]», «COMMAND [ARGS]...» and option values named after their type. A placeholder given
    where the option or argument is declared (metavar=…) is kept."""
    command.options_metavar = "[OPCIONES]"
    if isinstance(command, click.Group):
        command.subcommand_metavar = "ORDEN [ARGUMENTOS]..."
        for sub in command.commands.values():
            name_placeholders(sub)
    for param in command.params:
        if isinstance(param.type, click.Path):  # named at declaration, before gettext spoke Spanish
            kind = PATH_NAMES.get((param.type.file_okay, param.type.dir_okay), "path")
            param.type.name = gettext.gettext(kind)
        if param.metavar is None and not getattr(param, "is_flag", False):
            param.metavar = TYPE_PLACEHOLDERS.get(param.type.name, param.metavar)
