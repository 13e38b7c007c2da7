"""Build the index: guides → cards → vectors → a verified build folder (see store.py).

Builds are incremental: cards whose content did not change reuse their vectors, and so
do the calibration queries. A lock keeps two builds from writing at once; the previous
index stays in use whenever a build fails.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import faiss
import numpy as np
from filelock import FileLock, Timeout

from kb import __version__
from kb.content import Card, Docs, load_docs
from kb.content.synonyms import load_synonyms
from kb.embedding.encoders import Encoder, VectorPart
from kb.errors import BuildBusy, IndexProblem
from kb.retrieval.calibration import calibrate, outside_list, outside_questions
from kb.retrieval.characters import CharacterClassifier
from kb.retrieval.classifier import CardClassifier, write_classifier
from kb.retrieval.manifest import Manifest
from kb.retrieval.scoring import HybridScorer, situation_rows
from kb.retrieval.store import (
    CALIBRATION_FILES,
    LoadedIndex,
    current_path,
    docs_fingerprint,
    load_index,
    read_calibration_cache,
    write_build,
    write_jsonl,
)
from kb.retrieval.vectors import HNSW_THRESHOLD, build_faiss
from kb.trainers.learning import with_learned

Progress = Callable[[int, int], None]


@dataclass
class BuildReport:
    cards: int
    embedded: int
    reused: int
    seconds: float
    path: Path
    threshold: float
    unchanged: bool = False


def embed_cards(
    cards: list[Card],
    encoder: Encoder,
    *,
    reuse: dict[str, tuple[np.ndarray, np.ndarray]] | None = None,
    progress: Progress | None = None,
    batch: int = 16,
) -> tuple[np.ndarray, np.ndarray, int]:
    """Text vectors (one row per card) and situation vectors (card by card) for `cards`.

    `reuse` maps a card's content hash to vectors already computed. Situations are encoded
    as queries: they are written the way agents type. Returns (text, situations, how many
    cards were embedded now)."""
    reuse = reuse or {}
    hashes = [c.content_hash() for c in cards]
    text = np.zeros((len(cards), encoder.dim), dtype=np.float32)
    when: list[np.ndarray] = [np.zeros((0, encoder.dim), dtype=np.float32)] * len(cards)
    todo = [i for i, h in enumerate(hashes) if h not in reuse]
    for i, h in enumerate(hashes):
        if h in reuse:
            text[i], when[i] = reuse[h]
    for start in range(0, len(todo), batch):
        chunk = todo[start : start + batch]
        text[chunk] = encoder.encode_passages([cards[i].embedding_text() for i in chunk])
        vectors = encoder.encode_queries([s for i in chunk for s in cards[i].when])
        pos = 0
        for i in chunk:
            when[i] = vectors[pos : pos + len(cards[i].when)]
            pos += len(cards[i].when)
        if progress:
            progress(min(start + batch, len(todo)), len(todo))
    situations = np.concatenate(when) if when else np.zeros((0, encoder.dim), dtype=np.float32)
    return text, np.ascontiguousarray(situations, dtype=np.float32), len(todo)


def encode_cached(texts: list[str], encoder: Encoder, cache: dict[str, np.ndarray] | None = None) -> np.ndarray:
    """Query vectors for `texts`, embedding only those missing from `cache` (text -> vector)."""
    cache = cache or {}
    out = np.zeros((len(texts), encoder.dim), dtype=np.float32)
    todo = [i for i, text in enumerate(texts) if text not in cache]
    for i, text in enumerate(texts):
        if text in cache:
            out[i] = cache[text]
    if todo:
        out[todo] = encoder.encode_queries([texts[i] for i in todo])
    return out


def calibrate_for(
    scorer: HybridScorer, encoder: Encoder, docs: Docs, cache: dict[str, np.ndarray] | None = None
) -> tuple[dict[str, Any], list[str], np.ndarray]:
    """Calibrate this index's threshold; also returns the calibration queries and their vectors,
    which a build keeps so the next incremental build does not embed them again (~100 queries,
    more than half the time of a one-guide rebuild)."""
    positives, negatives = docs.situaciones, outside_list()
    vectors = encode_cached(positives + negatives, encoder, cache)
    result = calibrate(scorer, vectors[: len(positives)], vectors[len(positives) :], texts=(positives, negatives))
    return result, positives + negatives, vectors


def outside_for(docs_dir: Path, encoder: Encoder, cache: dict[str, np.ndarray]) -> tuple[list[str], np.ndarray]:
    """The questions the guides do not answer (kb.retrieval.calibration.outside_questions) and
    their query vectors, for the nearest-question rule of `is_low_confidence`.

    The vectors are added to `cache`: the shipped questions are also the calibration's negatives,
    so `calibrate_for` with the same cache does not embed them a second time."""
    questions = outside_questions(docs_dir)
    vectors = encode_cached(questions, encoder, cache)
    cache.update(zip(questions, vectors))
    return questions, vectors


def classifier_for(
    cards: list[Card],
    text: np.ndarray,
    situations: np.ndarray,
    parts: tuple[VectorPart, ...],
    previous: CardClassifier | None = None,
) -> CardClassifier | None:
    """The card classifier of these cards (None for fewer than two): every situation labelled with
    its card, plus each card's text; one regression a model (`parts`) over the vectors, and naive
    Bayes over the same texts' letters plus each card's pieces (`Card.pieces`: its sentences and
    phrases as documents of their own; lines' CV hit@3 0.796 → 0.806, BENCHMARKS.md)."""
    owner = situation_rows(cards)[1]
    vectors = CardClassifier.fit(situations, owner, text, parts, previous)
    if vectors is None:
        return None
    pieces = [(number, piece) for number, card in enumerate(cards) for piece in card.pieces()]
    texts = [line for card in cards for line in card.when] + [card.embedding_text() for card in cards]
    texts += [piece for _, piece in pieces]
    labels = np.concatenate([owner, np.arange(len(cards)), [number for number, _ in pieces]]).astype(np.int64)
    letters = CharacterClassifier.fit(texts, labels)
    return replace(vectors, characters=letters)


def memory_index(
    docs_dir: Path,
    encoder: Encoder,
    root: Path | None = None,
    docs: Docs | None = None,
    learned: Mapping[str, list[str]] | None = None,
) -> LoadedIndex:
    """A calibrated index of the guides as they are now, in memory only.

    Used where the on-disk index may be stale on purpose: `kb check --golden` (does search
    find what the trainer just wrote?) and `kb eval --model X`. Raises ContentError."""
    docs = docs or load_docs(docs_dir, root)
    if learned:
        docs = replace(docs, cards=with_learned(docs.cards, learned, encoder))
    text, situations, _ = embed_cards(docs.cards, encoder)
    cache: dict[str, np.ndarray] = {}
    outside, outside_vectors = outside_for(docs_dir, encoder, cache)
    # Not calibrated yet: the threshold is measured with this very index just below.
    manifest = Manifest(
        model=encoder.model_id,
        dim=encoder.dim,
        count=len(docs.cards),
        calibration={"threshold": 0.0},
        engine=getattr(encoder, "engine", ""),
        situations=len(situations),
        synonyms=load_synonyms(docs_dir, root).source,
        outside=tuple(outside),
    )
    loaded = LoadedIndex(
        None,
        manifest,
        docs.cards,
        build_faiss(text, encoder.dim),
        build_faiss(situations, encoder.dim),
        build_faiss(outside_vectors, encoder.dim),
        classifier_for(docs.cards, text, situations, encoder.parts),
    )
    loaded.manifest = manifest.with_(calibration=calibrate_for(loaded.scorer, encoder, docs, cache)[0])
    return loaded


def _lock(index_dir: Path, timeout: float, on_wait: Callable[[], None] | None) -> FileLock:
    lock = FileLock(str(index_dir / ".lock"))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        if on_wait:
            on_wait()
        try:
            lock.acquire(timeout=timeout)
        except Timeout:
            raise BuildBusy("Otra construcción del índice sigue en curso; inténtalo de nuevo cuando termine.") from None
    return lock


def _unchanged(previous: LoadedIndex | None, fingerprint: str, cards: list[Card], hashes: list[str]) -> bool:
    return (
        previous is not None
        and previous.manifest.docs == fingerprint
        and previous.manifest.kb_version == __version__
        and [c.id for c in previous.cards] == [c.id for c in cards]
        and [previous.manifest.cards.get(c.id) for c in cards] == hashes
    )


def build_index(
    docs_dir: Path,
    index_dir: Path,
    encoder: Encoder,
    *,
    root: Path | None = None,
    progress: Progress | None = None,
    lock_timeout: float = 600,
    on_wait: Callable[[], None] | None = None,
    docs: Docs | None = None,
    learned: Mapping[str, list[str]] | None = None,
) -> BuildReport:
    """Build the index for `docs_dir` into `index_dir`, reusing unchanged vectors; `learned` (card id →
    searches a trainer accepted, kb.trainers.learning) adds situations to the cards without editing the guides.

    Raises ContentError (with file:line problems) when the guides are broken, and BuildBusy
    when another build holds the lock longer than `lock_timeout` seconds."""
    started = time.perf_counter()
    index_dir.mkdir(parents=True, exist_ok=True)
    lock = _lock(index_dir, lock_timeout, on_wait)
    try:
        docs = docs or load_docs(docs_dir, root)
        synonyms = load_synonyms(docs_dir, root)
        cards = with_learned(docs.cards, learned or {}, encoder)
        fingerprint = docs_fingerprint(docs_dir)
        hashes = [c.content_hash() for c in cards]
        try:
            previous: LoadedIndex | None = load_index(index_dir, model_id=encoder.model_id)
            previous_folder = current_path(index_dir).resolve()
        except IndexProblem:
            previous = None
        if previous is not None and _unchanged(previous, fingerprint, cards, hashes):
            return BuildReport(
                len(cards),
                0,
                len(cards),
                time.perf_counter() - started,
                previous_folder,
                previous.threshold,
                unchanged=True,
            )
        reuse = previous.vectors_by_hash(encoder.dim) if previous is not None else {}
        text, situations, embedded = embed_cards(cards, encoder, reuse=reuse, progress=progress)
        text_index, when_index = build_faiss(text, encoder.dim), build_faiss(situations, encoder.dim)
        cache = read_calibration_cache(previous_folder, encoder.dim) if previous is not None else {}
        outside, outside_vectors = outside_for(docs_dir, encoder, cache)
        outside_index = build_faiss(outside_vectors, encoder.dim)
        classifier = classifier_for(
            cards, text, situations, encoder.parts, previous.classifier if previous is not None else None
        )
        scorer = HybridScorer(cards, text_index, when_index, synonyms, outside_index, classifier)
        calibration, calibration_texts, calibration_vectors = calibrate_for(scorer, encoder, docs, cache)
        # What the next build may reuse: this build's calibration queries and out-of-scope questions.
        kept = dict(zip(calibration_texts, calibration_vectors)) | dict(zip(outside, outside_vectors))

        def write(folder: Path) -> Manifest:
            faiss.write_index(text_index, str(folder / "vectors.faiss"))
            faiss.write_index(when_index, str(folder / "situations.faiss"))
            faiss.write_index(outside_index, str(folder / "outside.faiss"))
            write_classifier(folder, classifier, encoder.dim)
            write_jsonl(folder / "cards.jsonl", [c.to_dict() for c in cards])
            (folder / CALIBRATION_FILES[0]).write_text(json.dumps(list(kept), ensure_ascii=False), encoding="utf-8")
            vectors = np.array(list(kept.values()), dtype=np.float32).reshape(-1, encoder.dim)
            faiss.write_index(build_faiss(vectors, encoder.dim), str(folder / CALIBRATION_FILES[1]))
            return Manifest(
                kb_version=__version__,
                model=encoder.model_id,
                engine=getattr(encoder, "engine", ""),
                dim=encoder.dim,
                count=len(cards),
                situations=int(when_index.ntotal),
                classifier=classifier.manifest() if classifier is not None else None,
                index_type="hnsw" if len(cards) > HNSW_THRESHOLD else "flat",
                built_at=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                docs=fingerprint,
                cards={c.id: h for c, h in zip(cards, hashes)},
                calibration=calibration,
                synonyms=synonyms.source,
                synonyms_hash=synonyms.digest(),
                outside=tuple(outside),
            )

        final = write_build(index_dir, write)
        return BuildReport(
            len(cards), embedded, len(cards) - embedded, time.perf_counter() - started, final, calibration["threshold"]
        )
    finally:
        lock.release()
