"""Bounded work per request: what reaches the encoder is cut (long «words», long texts), the model is
used in short batches with the shortest waiting batch first, and a normal search is not stuck behind
hostile pastes. Tests wait on conditions (threads alive, batches queued), never on times."""

from __future__ import annotations

import random
import string
import threading

import numpy as np
import pytest

from kb.embedding.encoders import BATCH_CHARS, batches
from kb.embedding.turns import Turns
from kb.search.caches import VectorCache
from kb.search.passages import mean_vector
from kb.text import MAX_ENCODE_CHARS, MAX_QUERY_CHARS, MAX_WORD_CHARS, bounded, clean_query
from tests.support.fake_encoder import FakeEncoder
from tests.support.waits import wait_until


def letters(n: int, seed: int = 1) -> str:
    rng = random.Random(seed)
    return "".join(rng.choice(string.ascii_lowercase) for _ in range(n))


def words(n_chars: int, seed: int = 2) -> str:
    rng = random.Random(seed)
    out = " ".join("".join(rng.choice(string.ascii_lowercase) for _ in range(8)) for _ in range(n_chars // 9 + 1))
    return out[:n_chars]


# ---------------------------------------------------------------- what reaches the encoder


def test_a_long_word_is_cut_and_ordinary_words_are_kept():
    assert bounded(letters(10_000)) == letters(10_000)[:MAX_WORD_CHARS]
    ordinary = "el cliente dice que es anticonstitucionalmente inaceptable"
    assert bounded(ordinary) == ordinary


def test_a_long_text_is_cut_at_a_word_boundary():
    text = bounded(words(5_000))
    assert len(text) <= MAX_ENCODE_CHARS and words(5_000).startswith(text)
    assert not text.endswith(" ") and words(5_000)[len(text)] == " "


def test_queries_are_cut_at_the_one_documented_limit():
    query, notices = clean_query("me grita " * 1_000)
    assert len(query) <= MAX_QUERY_CHARS and "muy larga" in notices[0]
    assert MAX_QUERY_CHARS == 3_000  # README: «Textos largos» and «Fallos y recuperación» say 3.000


def test_batches_keep_order_and_stay_under_the_limit():
    texts = [letters(n, seed=n) for n in (10, 200, 400, 30, 900, 5, 5)]
    out = batches(texts)
    assert [t for batch in out for t in batch] == texts
    assert all(sum(map(len, b)) <= BATCH_CHARS or len(b) == 1 for b in out)
    assert batches([]) == []


# ---------------------------------------------------------------- turns: the shortest waiting batch first


def test_the_shortest_waiting_batch_goes_first():
    turns = Turns()
    order: list[str] = []
    release = threading.Event()

    def holder() -> None:
        with turns.turn(100):
            release.wait()

    def waiter(name: str, size: int) -> None:
        with turns.turn(size):
            order.append(name)

    first = threading.Thread(target=holder)
    first.start()
    wait_until(lambda: turns.busy, "el primer lote con el modelo")
    queued = [threading.Thread(target=waiter, args=(f"long{i}", 500)) for i in range(3)]
    for n, thread in enumerate(queued, 1):
        thread.start()
        wait_until(lambda n=n: turns.waiting == n, f"{n} lotes largos esperando")
    short = threading.Thread(target=waiter, args=("short", 20))
    short.start()
    wait_until(lambda: turns.waiting == 4, "el lote corto esperando")
    release.set()
    for thread in [first, *queued, short]:
        thread.join()
    assert order == ["short", "long0", "long1", "long2"]


# ---------------------------------------------------------------- the vector cache under eviction


class EvictingEncoder(FakeEncoder):
    """Encodes, then lets another conversation fill the (tiny) cache: what this call cached is gone."""

    def __init__(self, cache: VectorCache) -> None:
        super().__init__()
        self.cache = cache
        self.inside = False

    def encode_queries(self, texts: list[str]) -> np.ndarray:
        vectors = super().encode_queries(texts)
        if not self.inside:
            self.inside = True
            self.cache.encode(self, [f"otra frase {i}" for i in range(4)])
            self.inside = False
        return vectors


def test_the_vector_cache_answers_even_when_its_entries_are_evicted_meanwhile():
    cache = VectorCache(size=2)
    encoder = EvictingEncoder(cache)
    cache.encode(encoder, ["ya estaba"])
    rows = cache.encode(encoder, ["ya estaba", "me grita", "quiere un reembolso", "me grita"])
    expected = FakeEncoder().encode_queries(["ya estaba", "me grita", "quiere un reembolso", "me grita"])
    assert np.allclose(rows, expected)


# ---------------------------------------------------------------- a long message read whole without encoding it


def test_a_message_too_long_to_encode_whole_is_read_as_the_mean_of_its_sentences(searcher_fake):
    searcher, encoder = searcher_fake
    message = " ".join(
        f"Frase número {i} del correo: el cliente sigue enfadado porque no le devolvemos el dinero." for i in range(30)
    )
    assert len(message) > MAX_ENCODE_CHARS
    response = searcher.search(message)
    assert response.results
    assert max(len(t) for t in encoder.seen) <= MAX_ENCODE_CHARS  # the whole message was never encoded


def test_the_mean_vector_keeps_each_models_length():
    rng = np.random.default_rng(0)
    parts = FakeEncoder().parts
    rows = rng.standard_normal((5, parts[0].dim)).astype(np.float32)
    rows /= np.linalg.norm(rows, axis=1, keepdims=True)
    mean = mean_vector(rows, [10, 20, 30, 40, 50], parts)
    assert mean.shape == (1, parts[0].dim) and np.isclose(np.linalg.norm(mean), 1.0)


class RecordingFake(FakeEncoder):
    def __init__(self) -> None:
        super().__init__()
        self.seen: list[str] = []

    def encode_queries(self, texts: list[str]) -> np.ndarray:
        self.seen += list(texts)
        return super().encode_queries(texts)


@pytest.fixture
def searcher_fake(tmp_path):
    from kb.config import load_settings
    from kb.retrieval.build import build_index
    from kb.search.searcher import Searcher
    from tests.conftest import SMALL, make_docs

    root = make_docs(tmp_path, SMALL)
    settings = load_settings(root).with_(index_dir=tmp_path / "index")
    encoder = RecordingFake()
    build_index(settings.docs_dir, settings.index_dir, encoder, root=root)
    encoder.seen.clear()
    from kb.retrieval.store import load_index

    return Searcher(load_index(settings.index_dir), encoder, settings), encoder


# ---------------------------------------------------------------- the real model: pastes do not stall a search


def test_the_panel_box_stops_at_the_limit_and_says_so(built_index, tmp_path, monkeypatch):
    from streamlit.testing.v1 import AppTest

    from tests.conftest import ROOT

    monkeypatch.setenv("KB_INDEX", str(built_index.index_dir))
    monkeypatch.setenv("KB_FEEDBACK_DB", str(tmp_path / "feedback.db"))
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120).run()
    box = at.text_input(key="query")
    assert box.max_chars == MAX_QUERY_CHARS
    box.input("el cliente me grita " + words(MAX_QUERY_CHARS - 20))  # what a browser keeps of a longer paste
    at = at.button(key="FormSubmitter:buscar-Buscar").click().run()
    assert not at.exception
    assert any("admite hasta 3.000 caracteres" in i.value for i in at.info)


def test_what_reaches_the_model_is_bounded(searcher, monkeypatch):
    seen: list[str] = []
    model = searcher.embedder.model
    original = model.encode

    def recording(texts, *args, **kwargs):
        seen.extend(texts)
        return original(texts, *args, **kwargs)

    monkeypatch.setattr(model, "encode", recording)
    searcher.search(letters(10_000))
    searcher.search(words(10_000))
    assert seen and max(len(t) for t in seen) <= MAX_ENCODE_CHARS
    assert max(len(w) for t in seen for w in t.split()) <= MAX_WORD_CHARS


def test_a_normal_search_finishes_while_four_hostile_pastes_are_still_running(searcher):
    """Four agents paste 10,000 characters of random words at once (the worst text per character the
    cuts leave: every word unknown); a fifth agent's ordinary search gets the model after at most the
    batch already running, so it is answered while all four pastes are still being encoded."""
    turns = searcher.embedder.turns
    # Seeds no other test uses: a paste the shared searcher already encoded comes from its cache and
    # never queues for the model.
    hostile = [threading.Thread(target=searcher.search, args=(words(10_000, seed=100 + i),)) for i in range(4)]
    for thread in hostile:
        thread.start()
    wait_until(lambda: turns.waiting >= 3, "los cuatro pegados usando el modelo", seen=lambda: turns.waiting)
    response = searcher.search("el cliente me grita y no me deja hablar")
    still_running = sum(t.is_alive() for t in hostile)
    for thread in hostile:
        thread.join()
    assert response.results
    assert still_running == 4
