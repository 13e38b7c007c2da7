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
MAX_LINES = 400
"""A module past this is hard to hold in one read; below it, modules are split by meaning, not by size."""


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


def test_no_module_is_over_400_lines_and_app_py_is_thin():
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
        "kb/serving/serve.py",
        "kb/data/fuera-de-alcance.txt",
        "kb/feedback/migrations/env.py",
        "kb/feedback/migrations/versions/v0001_schema.py",
        "kb/feedback/migrations/versions/v0002_learned.py",
        "kb/embedding/kernel/matmul_q4q8.c",
        "kb/panel/static/panel.css",
        "kb/panel/static/panel.js",
        "kb/site/hooks.py",
        "kb/cli/__main__.py",
        "kb/cli/locale/es/LC_MESSAGES/kb.mo",
    ):
        assert needed in names, needed


@pytest.mark.parametrize(
    "module", ["kb.errors", "kb.feedback.csvsafe", "kb.feedback.redact", "kb.text", "kb.trainers.measures"]
)
def test_the_docstring_examples_of_these_modules_run_as_written(module):
    """Their `>>>` lines are exact examples, not sketches (kb, kb.feedback.store and kb.feedback.report show usage
    that needs a model or a database): a change that makes one false fails here."""
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module(module))
    assert result.attempted and not result.failed


def third_party_imports() -> dict[str, set[str]]:
    """Top-level module → the kb files that import it, for every import outside the standard library."""
    import sys

    found: dict[str, set[str]] = {}
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            for name in names:
                top = name.split(".")[0]
                if top != "kb" and top not in sys.stdlib_module_names:
                    found.setdefault(top, set()).add(str(path.relative_to(ROOT)))
    return found


def declared(extra: str | None = None) -> dict[str, str]:
    """Normalised distribution name → pinned version, from pyproject.toml (runtime, or one extra)."""
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    deps = project["optional-dependencies"][extra] if extra else project["dependencies"]
    return {normalise(d.split("==")[0].split("[")[0]): d.split("==")[1] for d in deps}


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def test_every_package_kb_imports_is_a_declared_runtime_dependency():
    """A plain install (no dev extras) must import every kb module: `kb replay` needs httpx,
    `kb eval --compare` scipy, the API pydantic and starlette, whatever else happens to pull them in."""
    from importlib.metadata import packages_distributions

    owners = packages_distributions()
    runtime = declared()
    undeclared = {
        module: sorted(files)
        for module, files in third_party_imports().items()
        if not any(normalise(d) in runtime for d in owners.get(module, [module]))
    }
    assert undeclared == {}


def lock(name: str) -> dict[str, str]:
    """Normalised name → version of a lock file, checking that every entry carries a sha256."""
    text = (ROOT / name).read_text(encoding="utf-8")
    entries = re.findall(r"^([A-Za-z0-9_.\-]+)==(\S+) \\\n    --hash=sha256:[0-9a-f]{64}$", text, re.M)
    assert len(entries) == len(re.findall(r"^[A-Za-z0-9]", text, re.M)), f"{name}: an entry without its hash"
    return {normalise(n): v for n, v in entries}


@pytest.mark.parametrize("name, extra", [("requirements.lock", None), ("requirements-dev.lock", "dev")])
def test_the_lock_files_hold_pyprojects_pins_with_hashes(name, extra):
    locked = lock(name)
    pins = declared() | (declared(extra) if extra else {})
    wrong = {d: (v, locked.get(d)) for d, v in pins.items() if locked.get(d, "").split("+")[0] != v}
    assert wrong == {}, f"{name} no coincide con pyproject.toml: ejecuta 'make lock'"
    if extra is None:  # `make run` installs no test or lint tool
        assert {"pytest", "playwright", "ruff", "mypy"} & set(locked) == set()


TOP_LEVEL_LEAVES = {"config", "errors", "text"}
"""The only modules at the top of kb/: each a leaf every concept may use (settings, the error type,
text shaping); everything else lives in the folder of its concept."""


def test_the_top_of_kb_holds_only_its_leaves_and_the_concept_folders():
    modules = {p.stem for p in PACKAGE.glob("*.py")} - {"__init__"}
    assert modules == TOP_LEVEL_LEAVES
    assert len(modules) <= 5
    for leaf in TOP_LEVEL_LEAVES:
        assert all(target.split(".")[1] in TOP_LEVEL_LEAVES for target in import_graph()[f"kb.{leaf}"]), leaf


def readme_architecture() -> dict[tuple[str, ...], str]:
    """README's architecture table: the kb folders of a row → what the row says of them."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## Arquitectura", 1)[1].split("\n## ", 1)[0]
    rows: dict[tuple[str, ...], str] = {}
    for line in section.splitlines():
        if line.startswith("| `kb/"):
            first, rest = line[1:].split("|", 1)
            rows[tuple(re.findall(r"`(kb/[\w/]+?)/?`", first))] = rest
    return rows


def test_readmes_architecture_names_every_folder_and_every_name_it_gives_exists():
    rows = readme_architecture()
    folders = {
        p.relative_to(ROOT).as_posix()
        for p in PACKAGE.iterdir()
        if p.is_dir() and not p.name.startswith((".", "_")) and p.name != "kb.egg-info"
    }
    assert {folder for row in rows for folder in row} == folders
    for row, said in rows.items():
        for name in re.findall(r"`([\w/]+(?:\.py|/))`", said):
            assert any((ROOT / folder / name).exists() for folder in row), f"{row}: {name}"


def test_no_development_only_code_ships_in_the_package():
    """Benchmarks, the local deployment and the browser drive tests; none of them is kb."""
    for target in {t for edges in import_graph().values() for t in edges} | set(import_graph()):
        assert not target.startswith(("kb.bench", "kb.tests")), target
    shipped = " ".join(p.read_text(encoding="utf-8") for p in PACKAGE.rglob("*.py"))
    for marker in ("import playwright", "from playwright", "from tests", "import tests", "from benchmarks"):
        assert marker not in shipped, marker
