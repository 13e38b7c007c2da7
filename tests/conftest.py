"""Shared fixtures and helpers. Expensive things (the model, a built site) are made once per session.

Markers are set here from what a test uses, so they cannot drift: a test that needs the
language model (the `embedder` fixture, directly or through `built_index`/`searcher`) is
`model`; `browser` tests are marked in their module. `pytest -m "not model and not browser"`
is the fast loop (under a minute).
"""

from __future__ import annotations

import json
import os
import shutil
import threading
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT.parent / "shared" / "seeds"

MODEL_FIXTURES = {"embedder", "built_index", "searcher"}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if MODEL_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.model)


# ---------------------------------------------------------------- core: settings, model, site


@pytest.fixture(scope="session")
def root() -> Path:
    return ROOT


@pytest.fixture(scope="session")
def settings(tmp_path_factory):
    """The checkout's settings, with the feedback database in a temporary folder: the API logs every
    search (kb.api.records), and a test run must not write into the checkout's feedback.db."""
    from kb.config import load_settings

    return load_settings(ROOT).with_(feedback_db=tmp_path_factory.mktemp("feedback") / "feedback.db")


@pytest.fixture
def encoder():
    """A deterministic fake model (tests.support.fake_encoder): for logic that needs vectors, not meaning."""
    from tests.support.fake_encoder import FakeEncoder

    return FakeEncoder()


@pytest.fixture(scope="session")
def embedder(settings):
    """The configured model, loaded once for the whole run (~5 s with torch).

    Its encodings are memoised for the run: the real guides are embedded by several tests (the
    session index, the browser stack's snapshot, `kb check --golden` in-process), ~1,300 lines each
    time, and the model is deterministic, so each text is embedded once. The process-wide instance
    is the one memoised, so in-process CLI calls share it too."""
    from kb.embedding.encoders import load_embedder

    model = load_embedder(settings.model)
    for name in ("encode_queries", "encode_passages"):
        if not hasattr(model, f"_test_memo_{name}"):
            setattr(model, f"_test_memo_{name}", True)
            setattr(model, name, _memoised(getattr(model, name)))
    return model


def _memoised(encode: Callable[[list[str]], np.ndarray]) -> Callable[[list[str]], np.ndarray]:
    memo: dict[str, np.ndarray] = {}
    lock = threading.Lock()

    def cached(texts: list[str]) -> np.ndarray:
        texts = list(texts)
        with lock:
            todo = [t for t in dict.fromkeys(texts) if t not in memo]
        if todo:
            vectors = encode(todo)
            with lock:
                memo.update(zip(todo, vectors))
        if not texts:
            return encode(texts)
        with lock:
            return np.stack([memo[t] for t in texts])

    return cached


def build_site_into(settings, out: Path) -> Path:
    """The one way tests build a site: kb's own `mkdocs build --strict` (kb.site.build.build_site)."""
    from kb.site.build import build_site

    build_site(settings.with_(site_dir=out))
    return out


@pytest.fixture(scope="session")
def built_site(settings, tmp_path_factory) -> Path:
    """The real docs built with `mkdocs build --strict` into a temporary folder."""
    return build_site_into(settings, tmp_path_factory.mktemp("site"))


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
    from kb.retrieval.build import build_index

    index_dir = tmp_path_factory.mktemp("index")
    build_index(settings.docs_dir, index_dir, embedder, root=settings.root)
    os.environ["KB_INDEX"] = str(index_dir)
    return settings.with_(index_dir=index_dir)


@pytest.fixture(scope="session")
def searcher(built_index):
    from kb.search.searcher import Searcher

    return Searcher.load(built_index)


# ---------------------------------------------------------------- a small project of two guides

HEAD = """---
title: Guía de prueba
description: Para los tests.
tags: [prueba, llamada]
fase: calma
situaciones:
  - el cliente me grita
responsable: Equipo de pruebas
revisado: 2026-11-20
revisar_cada: 3650
---
"""
"""Front matter of a valid test guide: 11 lines, so its body starts on line 12."""


def fill_store(store) -> None:
    """Searches and votes with known totals for the report tests (both databases)."""
    for _ in range(3):
        store.record_search("me grita", top_card_id="guias/a#x", top_fase="desahogo", results=3)
    store.record_search("Receta de paella", low_confidence=True)
    store.record_search("receta de paella", low_confidence=True)
    store.record_search("quiere un reembolso", top_card_id="guias/b#y", top_fase="solucion", results=3)
    store.record_vote("me grita", "guias/a#x", 1, 0.8, 1, fase="desahogo")
    store.record_vote("me grita", "guias/a#x", 1, 0.8, -1, fase="desahogo")
    store.record_vote("quiere un reembolso", "guias/b#y", 1, 0.7, -1, fase="solucion")
    store.record_vote("quiere un reembolso", "guias/b#y", 2, 0.6, -1, fase="solucion", comment="no aplica")


def guide(title: str, fase: str, sections: dict[str, str]) -> str:
    body = "\n\n".join(f"## {h}\n\n{t}" for h, t in sections.items())
    return (
        f"---\ntitle: {title}\ndescription: Guía de prueba.\ntags: [prueba, llamada]\nfase: {fase}\n"
        f"situaciones:\n  - el cliente me grita por teléfono\n  - quiere que le devuelvan el dinero\n"
        f"responsable: Equipo de pruebas\nrevisado: 2026-11-20\nrevisar_cada: 3650\n---\n\n{body}\n"
    )


SMALL = {
    "guias/enfado.md": guide(
        "Cliente enfadado",
        "calma",
        {
            "No interrumpir": "Cuando el cliente grita, déjele terminar sin cortarle; si le interrumpe, empezará otra vez.",
            "Mantener la calma": "No discuta ni muestre nervios: su tono tranquilo acaba contagiando al cliente.",
            'Hacer una pausa { data-fase="autocuidado" }': "Después de una llamada dura, levántese, beba agua y respire antes de la siguiente.",
        },
    ),
    "guias/reembolsos.md": guide(
        "Reembolsos",
        "solucion",
        {
            "Qué se puede y qué no": "Explique con claridad qué opciones tiene: cambiar el producto sí, devolver el dinero no.",
            "Dos opciones al menos": "Ofrezca al menos dos alternativas para que el cliente elija la que prefiera.",
            "Escalar al supervisor": "Si no tiene autoridad para resolverlo, pase el caso a su responsable sin dudar.",
        },
    ),
}


@pytest.fixture
def project(tmp_path):
    """(root, docs, index) of a two-guide project in a temporary folder."""
    root = make_docs(tmp_path, SMALL)
    return root, root / "docs", root / "index"


def snapshot(index_dir):
    """Bytes of every file of the current build (to prove a failed build changed nothing)."""
    from kb.retrieval.store import current_path

    path = current_path(index_dir).resolve()
    return os.readlink(current_path(index_dir)), {p.name: p.read_bytes() for p in path.iterdir()}


# ---------------------------------------------------------------- hostile input, concurrency

BAD_QUERIES = {
    "vacía": "",
    "espacios": "   \t  ",
    "10.000 caracteres": "el cliente grita " * 600,
    "solo emoji": "😡😡😡",
    "caracteres de control": "\x00\x07\x1b[2J me grita\x7f",
    "otro idioma": "the customer is yelling at me and won't let me talk",
    "script": "<script>alert(1)</script>",
    "html": '<img src=x onerror="alert(1)"> **negrita** [enlace](javascript:alert(1))',
    "sql": "'; DROP TABLE feedback; --",
}


def run_threads(worker: Callable[[int], None], count: int) -> list[BaseException]:
    """Run worker(0) … worker(count - 1) at once in threads; return what they raised, for the test to assert."""
    errors: list[BaseException] = []

    def guarded(n: int) -> None:
        try:
            worker(n)
        except BaseException as exc:  # noqa: BLE001 - handed back to the test
            errors.append(exc)

    pool = [threading.Thread(target=guarded, args=(n,)) for n in range(count)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    return errors


def switch_current(index_dir, build, name: str, model: str | None = None) -> None:
    """What `kb build` does, by hand: a new build beside `build` (a copy, maybe of another model),
    then `current` switched to it atomically."""
    new = build.parent / name
    shutil.copytree(build, new)
    if model is not None:
        manifest = json.loads((new / "manifest.json").read_text(encoding="utf-8"))
        (new / "manifest.json").write_text(json.dumps({**manifest, "model": model}), encoding="utf-8")
    os.symlink(os.path.relpath(new, index_dir), index_dir / "current.new")
    os.replace(index_dir / "current.new", index_dir / "current")
