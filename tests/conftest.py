"""Shared fixtures. Expensive things (the model, a built site) are made once per session."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT.parent / "shared" / "seeds"


# ---------------------------------------------------------------- core: settings, model, site


@pytest.fixture(scope="session")
def root() -> Path:
    return ROOT


@pytest.fixture(scope="session")
def settings():
    from kb.config import load_settings

    return load_settings(ROOT)


@pytest.fixture(scope="session")
def embedder(settings):
    """The configured model, loaded once for the whole run (~5 s with torch)."""
    from kb.embedding import load_embedder

    return load_embedder(settings.model)


@pytest.fixture(scope="session")
def built_site(tmp_path_factory) -> Path:
    """The real docs built with `mkdocs build --strict` into a temporary folder."""
    out = tmp_path_factory.mktemp("site")
    env = dict(os.environ, NO_MKDOCS_2_WARNING="1")
    proc = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--quiet", "-d", str(out)],
        cwd=ROOT, env=env, capture_output=True, text=True,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return out


def make_docs(tmp: Path, files: dict[str, str], *, nav: bool = False) -> Path:
    """A throwaway project folder with the real mkdocs.yml and the given docs files; returns its root.

    The real nav names the real guides, so it is dropped unless `nav=True`."""
    (tmp / "docs").mkdir(parents=True, exist_ok=True)
    text = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    if not nav:
        text = text.split("\nnav:", 1)[0] + "\n"
    (tmp / "mkdocs.yml").write_text(text, encoding="utf-8")
    for name, text in files.items():
        path = tmp / "docs" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return tmp


@pytest.fixture(scope="session")
def built_index(settings, embedder, tmp_path_factory):
    """Settings whose index (KB_INDEX) is a fresh build of the real docs in a temporary folder.

    Also sets KB_INDEX for the session, so AppTest and subprocesses see the same index."""
    from kb.index import build_index

    index_dir = tmp_path_factory.mktemp("index")
    build_index(settings.docs_dir, index_dir, embedder, root=settings.root)
    os.environ["KB_INDEX"] = str(index_dir)
    return settings.with_(index_dir=index_dir)


@pytest.fixture(scope="session")
def searcher(built_index):
    from kb.search import Searcher

    return Searcher.load(built_index)
