"""The shape of the code and its docs: no import cycles, small modules, README in step with the code."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from kb.cli import main
from kb.config import SETTINGS
from tests.conftest import ROOT

PACKAGE = ROOT / "kb"
MAX_LINES = 300


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def import_graph() -> dict[str, set[str]]:
    """kb module → the kb modules it imports (at any depth of the file: lazy imports count too)."""
    modules = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        edges: set[str] = set()
        package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    base = ".".join(
                        package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else [])
                    )
                targets = [base] + [f"{base}.{a.name}" for a in node.names]
            for target in targets:
                if target in modules and target != name:
                    edges.add(target)
        graph[name] = edges
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a list of modules, or None. A package's __init__ importing its own
    submodules is how a package exposes its API, so edges parent → child are not followed."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if nxt.startswith(node + "."):
                continue
            if state.get(nxt) == 1:
                return stack[stack.index(nxt) :] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_there_is_no_import_cycle_in_kb():
    assert find_cycle(import_graph()) is None, " → ".join(find_cycle(import_graph()) or [])


def test_the_cycle_finder_finds_a_planted_cycle():
    graph = {"kb.a": {"kb.b"}, "kb.b": {"kb.c"}, "kb.c": {"kb.a"}, "kb.d": set()}
    assert find_cycle(graph) == ["kb.a", "kb.b", "kb.c", "kb.a"]
    assert find_cycle({"kb.a": {"kb.b"}, "kb.b": set()}) is None


def test_the_text_module_is_a_leaf():
    assert import_graph()["kb.text"] == set()


def test_no_module_is_over_300_lines_and_app_py_is_thin():
    long = {
        str(p.relative_to(ROOT)): n
        for p in PACKAGE.rglob("*.py")
        if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert long == {}
    assert len((ROOT / "app.py").read_text(encoding="utf-8").splitlines()) <= 60


def commands(group, prefix: str = "") -> set[str]:
    out = set()
    for name, command in group.commands.items():
        out.add(prefix + name)
        if hasattr(command, "commands"):
            out |= commands(command, prefix + name + " ")
    return out


def test_every_kb_command_is_in_the_readme():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    missing = sorted(c for c in commands(main) if f"kb {c}" not in readme)
    assert missing == []


def test_every_setting_is_in_the_readme_table():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    documented = set(re.findall(r"`(KB_[A-Z_]+)`", readme))
    assert {s.env for s in SETTINGS} - documented == set()


def test_every_command_has_a_spanish_help_text():
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0
    for name, command in main.commands.items():
        assert command.help and not command.help.startswith(("Show", "Run")), name


def test_a_wheel_ships_the_panel_migrations_and_data(tmp_path):
    """`kb serve` must work from a normal install: the panel script, its pages, the migrations and
    the data files are inside the package, not only in a checkout."""
    import shutil
    import subprocess
    import sys
    import zipfile

    source = tmp_path / "src"  # setuptools writes build/ next to the sources: keep it out of the checkout
    shutil.copytree(ROOT / "kb", source / "kb", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path),
            str(source),
        ],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    wheel = next(tmp_path.glob("kb-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    for needed in (
        "kb/panel/main.py",
        "kb/panel/trainers.py",
        "kb/serve.py",
        "kb/data/fuera_de_alcance.txt",
        "kb/migrations/env.py",
        "kb/migrations/versions/v0001_schema.py",
        "kb/cli/__main__.py",
        "kb/cli/locale/es/LC_MESSAGES/kb.mo",
    ):
        assert needed in names, needed


@pytest.mark.parametrize("module", ["kb.errors", "kb.csvsafe", "kb.redact", "kb.text"])
def test_the_docstring_examples_of_these_modules_run_as_written(module):
    """Their `>>>` lines are exact examples, not sketches (kb, kb.feedback and kb.report show usage
    that needs a model or a database): a change that makes one false fails here."""
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module(module))
    assert result.attempted and not result.failed
