"""The search index on disk: FAISS vectors, the cards they belong to, and a manifest.

Layout (`index/`):

    current -> builds/<build-id>      symlink, switched atomically by each build
    builds/<build-id>/vectors.faiss   FAISS index of the cards' text (inner product on unit vectors)
    builds/<build-id>/situations.faiss FAISS index of the cards' "Cuándo" situations, card by card
    builds/<build-id>/cards.jsonl     one card per line, in vector order
    builds/<build-id>/manifest.json   model, dimension, hashes, calibration, build time
    builds/<build-id>/calibration.*   optional cache: calibration queries and their vectors
    .lock                             held while a build runs

Why this shape: a build writes a complete new folder and only then flips the
`current` symlink (`os.replace` is atomic), so a failed build leaves the previous
index untouched and a panel reading the index never sees half of one. Builds are
incremental: cards whose text did not change reuse their vectors, and so do the
calibration queries.

Scoring: a card's score is WHEN_WEIGHT × (best match among its situations, written
in the agent's words) + (1 − WHEN_WEIGHT) × (match with its text). Short situations
match what agents type far better than advice prose does (see BENCHMARKS.md). Loading checks
the manifest (model, dimension, checksums, docs fingerprint) so a damaged or stale
index is reported, never used silently. Nothing is unpickled: JSON and FAISS only.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Callable

import faiss
import numpy as np
from filelock import FileLock, Timeout

from kb import __version__
from kb.content import Card, ContentError, Problem, load_cards, read_guides

FORMAT = 1
HNSW_THRESHOLD = 150_000
"""Above this many vectors an HNSW graph replaces exact search. Measured: exact search over
100k vectors of 896 dimensions is 27 ms p95 here, inside the 60 ms end-to-end budget, so
exact search (perfect recall) is kept up to 150k (see BENCHMARKS.md)."""
WHEN_WEIGHT = 0.7
"""Share of the situations in a card's dense score; chosen on the eval set (0.5–0.8 measured)."""
COMMON_WORD = 0.25
KEYWORD_WEIGHT = 0.1
"""Weight of BM25 (normalised to the best candidate) added to the dense score: catches the
exact words (twitter, jefe, reembolso) that small embedding models blur. Measured on the
eval set: hit@3 0.741 → 0.824, MRR 0.654 → 0.732 (0.05/0.1/0.15 tried)."""
HNSW_M = 32
HNSW_EF_SEARCH = 128
KEEP_BUILDS = 2


class IndexError_(Exception):
    """Base: the index cannot be used. `state` is 'ausente', 'desactualizado' or 'dañado'."""

    state = "dañado"

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class IndexMissing(IndexError_):
    state = "ausente"


class IndexStale(IndexError_):
    state = "desactualizado"


class IndexDamaged(IndexError_):
    state = "dañado"


class BuildBusy(Exception):
    """Another `kb build` holds the lock."""


@dataclass
class BuildReport:
    cards: int
    embedded: int
    reused: int
    seconds: float
    path: Path
    threshold: float
    unchanged: bool = False


@dataclass
class LoadedIndex:
    path: Path
    manifest: dict
    cards: list[Card]
    faiss_index: "faiss.Index"
    when_index: "faiss.Index | None" = None
    offsets: np.ndarray = field(default_factory=lambda: np.zeros(1, dtype=np.int64))
    owner: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))

    def __post_init__(self) -> None:
        counts = [len(c.when) for c in self.cards]
        self.offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        self.owner = np.repeat(np.arange(len(self.cards)), counts).astype(np.int64)

    @property
    def threshold(self) -> float:
        return float(self.manifest["calibration"]["threshold"])

    @cached_property
    def keywords(self):
        """BM25 over each card's text and situations (built on first use, from cards.jsonl)."""
        from rank_bm25 import BM25Okapi

        from kb.evaluate import tokenize

        docs = [tokenize(c.embedding_text() + " " + " ".join(c.when)) for c in self.cards]
        if not docs:
            return None
        bm25 = BM25Okapi(docs)
        # Words in more than COMMON_WORD of the cards ("cliente", "llamada") say nothing about
        # which card fits, yet max-normalisation would hand one card the whole bonus for them.
        df: dict[str, int] = {}
        for doc in docs:
            for word in set(doc):
                df[word] = df.get(word, 0) + 1
        bm25.kb_common = {w for w, n in df.items() if n > COMMON_WORD * len(docs)}
        return bm25

    def top(self, query: np.ndarray, n: int, words: str | None = None) -> list[tuple[int, float, float]]:
        """The n best (card index, score, dense score) for one query vector (shape (1, dim)), best first.

        The dense score (meaning only) is what confidence is judged on: the keyword bonus
        is relative to the best candidate, so it helps ordering but says nothing about
        whether the knowledge base answers the query at all.

        Dense scores are exact for every candidate: candidates come from both indexes,
        and any score not among the fetched rows is computed from the stored vectors.
        With the query text (`words`), BM25 re-scores the candidates (KEYWORD_WEIGHT)."""
        total = self.faiss_index.ntotal
        if total == 0:
            return []
        fetch = min(total, max(n * 4, 50))
        scores, ids = self.faiss_index.search(query, fetch)
        text = {int(i): float(s) for s, i in zip(scores[0], ids[0]) if i >= 0}
        when: dict[int, float] = {}
        rows = self.when_index.ntotal if self.when_index is not None else 0
        if rows:
            w_scores, w_ids = self.when_index.search(query, min(rows, fetch * 4))
            for s, i in zip(w_scores[0], w_ids[0]):
                if i >= 0:
                    when.setdefault(int(self.owner[i]), float(s))  # sorted: first row is the card's best
        q = query[0]
        out = []
        for card in set(text) | set(when):
            t = text.get(card)
            if t is None:
                t = float(self.faiss_index.reconstruct(card) @ q)
            start, end = int(self.offsets[card]), int(self.offsets[card + 1])
            if start == end:
                w = t  # a card without situations is judged on its text alone
            else:
                w = when.get(card)
                if w is None:
                    w = float((self.when_index.reconstruct_n(start, end - start) @ q).max())
            out.append((card, WHEN_WEIGHT * w + (1 - WHEN_WEIGHT) * t))
        bonus = np.zeros(len(out))
        if words and KEYWORD_WEIGHT and self.keywords is not None and out:
            from kb.evaluate import tokenize

            terms = [t for t in tokenize(words) if t not in self.keywords.kb_common]
            bm25 = np.asarray(self.keywords.get_batch_scores(terms, [c for c, _ in out]), dtype=float)
            if terms and float(np.max(bm25)) > 0:
                bonus = KEYWORD_WEIGHT * bm25 / float(np.max(bm25))
        ranked = sorted(((c, s + float(b), s) for (c, s), b in zip(out, bonus)), key=lambda item: -item[1])
        return ranked[:n]


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def docs_fingerprint(docs_dir: Path) -> str:
    """Hash of every guide's path and bytes: any edit, addition or removal changes it."""
    digest = hashlib.sha256()
    for file in sorted(docs_dir.rglob("*.md")):
        digest.update(file.relative_to(docs_dir).as_posix().encode())
        try:
            digest.update(file.read_bytes())
        except OSError:
            digest.update(b"<unreadable>")
    return digest.hexdigest()


def current_path(index_dir: Path) -> Path:
    return index_dir / "current"


def build_faiss(vectors: np.ndarray, dim: int | None = None) -> "faiss.Index":
    """Exact inner-product search for small collections; HNSW above HNSW_THRESHOLD."""
    dim = vectors.shape[1] if vectors.ndim == 2 and vectors.shape[1] else dim
    if len(vectors) > HNSW_THRESHOLD:
        index = faiss.IndexHNSWFlat(dim, HNSW_M, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = 80
        index.hnsw.efSearch = HNSW_EF_SEARCH
    else:
        index = faiss.IndexFlatIP(dim)
    if len(vectors):
        index.add(np.ascontiguousarray(vectors, dtype=np.float32))
    return index


def _card_from_dict(data: dict) -> Card:
    return Card(**{k: data[k] for k in Card.__dataclass_fields__})


def _write_jsonl(path: Path, rows: list[dict]) -> None:
    with open(path, "w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")


def load_index(index_dir: Path, *, model_id: str | None = None, docs_dir: Path | None = None) -> LoadedIndex:
    """Load and verify the current index.

    Raises IndexMissing, IndexDamaged or IndexStale with a Spanish message that says
    what to run. `model_id` (the configured model) and `docs_dir` enable the staleness
    checks; without them only integrity is verified.
    """
    link = current_path(index_dir)
    if not link.exists():
        raise IndexMissing("No hay índice de búsqueda todavía. Constrúyelo con 'kb build --index-only' (o 'make index').")
    path = link.resolve()
    manifest_file = path / "manifest.json"
    try:
        manifest = json.loads(manifest_file.read_text(encoding="utf-8"))
        files = manifest["files"]
        dim = int(manifest["dim"])
        count = int(manifest["count"])
        float(manifest["calibration"]["threshold"])
    except FileNotFoundError:
        raise IndexDamaged("Falta el manifiesto del índice. Reconstruye con 'kb build --index-only'.") from None
    except (OSError, ValueError, KeyError, TypeError):
        raise IndexDamaged("El manifiesto del índice está dañado. Reconstruye con 'kb build --index-only'.") from None
    if manifest.get("format") != FORMAT:
        raise IndexStale("El índice tiene un formato antiguo. Reconstruye con 'kb build --index-only'.")
    for name in ("vectors.faiss", "situations.faiss", "cards.jsonl"):
        file = path / name
        if not file.is_file():
            raise IndexDamaged(f"Falta el archivo {name} del índice. Reconstruye con 'kb build --index-only'.")
        if sha256_file(file) != files.get(name):
            raise IndexDamaged(
                f"El archivo {name} del índice está dañado o no corresponde a este índice. "
                "Reconstruye con 'kb build --index-only'."
            )
    try:
        cards = [_card_from_dict(json.loads(line)) for line in (path / "cards.jsonl").read_text("utf-8").splitlines()]
    except (ValueError, KeyError, TypeError):
        raise IndexDamaged("cards.jsonl no se puede leer. Reconstruye con 'kb build --index-only'.") from None
    try:
        index = faiss.read_index(str(path / "vectors.faiss"))
        when_index = faiss.read_index(str(path / "situations.faiss"))
    except RuntimeError:
        raise IndexDamaged("Un archivo FAISS está dañado. Reconstruye con 'kb build --index-only'.") from None
    rows = sum(len(c.when) for c in cards)
    if (index.d != dim or when_index.d != dim or index.ntotal != count or len(cards) != count
            or when_index.ntotal != rows):
        raise IndexDamaged(
            f"El índice no es coherente ({len(cards)} tarjetas, {index.ntotal} vectores de dimensión {index.d}, "
            f"{when_index.ntotal} situaciones para {rows}; se esperaban {count} de dimensión {dim}). "
            "Reconstruye con 'kb build --index-only'."
        )
    if manifest.get("when_weight") != WHEN_WEIGHT or manifest.get("keyword_weight") != KEYWORD_WEIGHT:
        raise IndexStale("Índice desactualizado: cambió la forma de puntuar. Reconstruye con 'kb build --index-only'.")
    if model_id is not None:
        check_model(manifest, model_id)
    if docs_dir is not None and docs_dir.is_dir() and docs_fingerprint(docs_dir) != manifest.get("docs"):
        raise IndexStale(
            "Índice desactualizado: las guías han cambiado desde la última construcción. "
            "Ejecuta 'kb build --index-only' para incluir los cambios."
        )
    return LoadedIndex(path, manifest, cards, index, when_index)


def check_model(manifest: dict, model_id: str) -> None:
    """Raise IndexStale when the index was built with another model than `model_id`.

    Separate from load_index so a caller can verify the (cheap) index files before paying
    for the model load, and compare model ids afterwards."""
    if manifest.get("model") != model_id:
        raise IndexStale(
            f"Índice desactualizado: se construyó con el modelo '{manifest.get('model')}' y ahora está configurado "
            f"'{model_id}'. Reconstruye con 'kb build --index-only'."
        )


def _vectors_by_hash(old: LoadedIndex | None, dim: int) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """content hash -> (text vector, situation vectors) from a previous index (same model checked by the caller)."""
    if old is None or int(old.manifest["dim"]) != dim or not old.faiss_index.ntotal:
        return {}
    hashes = old.manifest.get("cards", {})
    text = old.faiss_index.reconstruct_n(0, old.faiss_index.ntotal)
    rows = old.when_index.ntotal if old.when_index is not None else 0
    when = old.when_index.reconstruct_n(0, rows) if rows else np.zeros((0, dim), dtype=np.float32)
    return {
        hashes[card.id]: (text[i], when[old.offsets[i] : old.offsets[i + 1]])
        for i, card in enumerate(old.cards)
        if card.id in hashes
    }


NEGATIVES_FLAGGED = 0.80
"""Share of the shipped out-of-scope questions the threshold aims to flag. Measured with 7–8 "Cuándo"
lines per card (kb eval, 2026-11-25): 0.80 flags 75 % of the eval set's out-of-scope queries and 4.7 %
of its in-scope ones; 0.85 flags 80 % / 5.9 %; 0.90 flags 85 % / 10.6 %. A wrong "no encuentro nada
fiable" during a call costs the agent more than a weak card for an off-topic question, so 0.80 stays."""


def calibrate(
    index: LoadedIndex,
    positives: np.ndarray,
    negatives: np.ndarray,
    max_false_flag: float = 0.05,
    texts: tuple[list[str], list[str]] | None = None,
) -> dict:
    """Pick the top-1 score under which a query is 'low confidence'.

    Negatives are the shipped out-of-scope list (kb/data/fuera_de_alcance.txt); positives
    the guides' `situaciones`. The threshold flags NEGATIVES_FLAGGED of the negatives, but
    never more than `max_false_flag` of the positives. (Aiming at the negatives first:
    the positives are written by the same trainers as the cards and score higher than
    what agents really type, so a threshold set from them alone flags too much.)
    """
    def top1(q: np.ndarray, words: list[str] | None) -> np.ndarray:
        """Best dense score among the top candidates, as Searcher.search judges confidence."""
        return np.array([
            max((d for _, _, d in index.top(q[i : i + 1], 3, words[i] if words else None)), default=0.0)
            for i in range(len(q))
        ])

    pos = top1(positives, texts[0] if texts else None)
    neg = top1(negatives, texts[1] if texts else None)
    if not len(pos):
        return {"threshold": 0.0, "positives": 0, "negatives": int(len(neg)), "neg_flagged": 0.0, "pos_flagged": 0.0}
    threshold = float(np.quantile(pos, max_false_flag))
    if len(neg):
        threshold = min(threshold, float(np.quantile(neg, NEGATIVES_FLAGGED)))
    return {
        "threshold": round(threshold, 5),
        "positives": int(len(pos)),
        "negatives": int(len(neg)),
        "pos_flagged": round(float(np.mean(pos < threshold)), 4),
        "neg_flagged": round(float(np.mean(neg < threshold)), 4) if len(neg) else 0.0,
    }


def out_of_scope_queries() -> list[str]:
    data = Path(__file__).parent / "data" / "fuera_de_alcance.txt"
    if not data.is_file():
        return []
    return [line.strip() for line in data.read_text(encoding="utf-8").splitlines() if line.strip() and not line.startswith("#")]


def situaciones_of(docs_dir: Path, root: Path) -> list[str]:
    """Every `situaciones` entry of the indexed guides: real in-scope questions for calibration."""
    out = []
    for guide in read_guides(docs_dir, root):
        if guide.indexed:
            out.extend(str(s) for s in guide.meta.get("situaciones") or [] if isinstance(s, str))
    return out


def embed_cards(
    cards: list[Card],
    embedder,
    *,
    reuse: dict[str, tuple[np.ndarray, np.ndarray]] | None = None,
    progress: Callable[[int, int], None] | None = None,
    batch: int = 16,
) -> tuple[np.ndarray, np.ndarray, int]:
    """Text vectors (one row per card) and situation vectors (card by card) for `cards`.

    `reuse` maps a card's content hash to vectors already computed. Situations are
    encoded as queries: they are written the way agents type. Returns (text, situations,
    how many cards were embedded now)."""
    reuse = reuse or {}
    hashes = [c.content_hash() for c in cards]
    text = np.zeros((len(cards), embedder.dim), dtype=np.float32)
    when: list[np.ndarray] = [np.zeros((0, embedder.dim), dtype=np.float32)] * len(cards)
    todo = [i for i, h in enumerate(hashes) if h not in reuse]
    for i, h in enumerate(hashes):
        if h in reuse:
            text[i], when[i] = reuse[h]
    for start in range(0, len(todo), batch):
        chunk = todo[start : start + batch]
        text[chunk] = embedder.encode_passages([cards[i].embedding_text() for i in chunk])
        situations = [s for i in chunk for s in cards[i].when]
        vectors = embedder.encode_queries(situations)
        pos = 0
        for i in chunk:
            when[i] = vectors[pos : pos + len(cards[i].when)]
            pos += len(cards[i].when)
        if progress:
            progress(min(start + batch, len(todo)), len(todo))
    situations = np.concatenate(when) if when else np.zeros((0, embedder.dim), dtype=np.float32)
    return text, np.ascontiguousarray(situations, dtype=np.float32), len(todo)


def encode_cached(texts: list[str], embedder, cache: dict[str, np.ndarray] | None = None) -> np.ndarray:
    """Query vectors for `texts`, embedding only those missing from `cache` (text -> vector of embedder.dim)."""
    cache = cache or {}
    out = np.zeros((len(texts), embedder.dim), dtype=np.float32)
    todo = []
    for i, text in enumerate(texts):
        if text in cache:
            out[i] = cache[text]
        else:
            todo.append(i)
    if todo:
        out[todo] = embedder.encode_queries([texts[i] for i in todo])
    return out


def calibrate_for(
    index: LoadedIndex, embedder, docs_dir: Path, root: Path, cache: dict[str, np.ndarray] | None = None
) -> tuple[dict, list[str], np.ndarray]:
    """Calibrate the low-confidence threshold for this index (see `calibrate`).

    Returns the calibration, and the calibration queries with their vectors so a build can
    keep them (CALIBRATION_FILES) and the next incremental build does not embed them again:
    they are ~100 queries, more than half the time of a one-guide rebuild."""
    positives, negatives = situaciones_of(docs_dir, root), out_of_scope_queries()
    vectors = encode_cached(positives + negatives, embedder, cache)
    result = calibrate(index, vectors[: len(positives)], vectors[len(positives) :], texts=(positives, negatives))
    return result, positives + negatives, vectors


CALIBRATION_FILES = ("calibration.json", "calibration.faiss")
"""Optional cache in a build folder: the calibration queries (JSON list) and their vectors (FAISS
flat index, same order). Missing or unreadable → the queries are embedded again, nothing else."""


def _calibration_cache(old: LoadedIndex | None, dim: int) -> dict[str, np.ndarray]:
    """text -> query vector from the previous build's calibration cache (same model checked by the caller)."""
    if old is None:
        return {}
    try:
        texts = json.loads((old.path / CALIBRATION_FILES[0]).read_text(encoding="utf-8"))
        flat = faiss.read_index(str(old.path / CALIBRATION_FILES[1]))
        if (not isinstance(texts, list) or not all(isinstance(t, str) for t in texts)
                or flat.d != dim or flat.ntotal != len(texts)):
            return {}
        vectors = flat.reconstruct_n(0, flat.ntotal) if flat.ntotal else np.zeros((0, dim), dtype=np.float32)
    except (OSError, ValueError, RuntimeError):
        return {}
    return dict(zip(texts, vectors))


def memory_index(docs_dir: Path, embedder, root: Path | None = None, cards: list[Card] | None = None) -> LoadedIndex:
    """A calibrated index of the guides as they are now, in memory only.

    Used where the on-disk index may be stale on purpose: `kb check --golden`
    (does search find what the trainer just wrote?) and `kb eval --model X`.
    Raises ContentError when the guides are broken."""
    root = root or docs_dir.parent
    cards = load_cards(docs_dir, root) if cards is None else cards
    text, situations, _ = embed_cards(cards, embedder)
    manifest = {"model": embedder.model_id, "dim": embedder.dim, "count": len(cards),
                "calibration": {"threshold": 0.0}}
    loaded = LoadedIndex(docs_dir, manifest, cards, build_faiss(text), build_faiss(situations, embedder.dim))
    manifest["calibration"] = calibrate_for(loaded, embedder, docs_dir, root)[0]
    return loaded


def build_index(
    docs_dir: Path,
    index_dir: Path,
    embedder,
    *,
    root: Path | None = None,
    progress: Callable[[int, int], None] | None = None,
    lock_timeout: float = 600,
    on_wait: Callable[[], None] | None = None,
    cards: list[Card] | None = None,
) -> BuildReport:
    """Build the index for `docs_dir` into `index_dir`, reusing unchanged vectors.

    Raises ContentError (with file:line problems) when the guides are broken, and
    BuildBusy when another build holds the lock longer than `lock_timeout` seconds.
    The previous index is left exactly as it was whenever the build fails.
    """
    started = time.perf_counter()
    root = root or docs_dir.parent
    index_dir.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(index_dir / ".lock"))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        if on_wait:
            on_wait()
        try:
            lock.acquire(timeout=lock_timeout)
        except Timeout:
            raise BuildBusy(
                "Otra construcción del índice sigue en curso; inténtalo de nuevo cuando termine."
            ) from None
    try:
        if cards is None:
            cards = load_cards(docs_dir, root)
        fingerprint = docs_fingerprint(docs_dir)
        hashes = [c.content_hash() for c in cards]
        try:
            previous = load_index(index_dir, model_id=embedder.model_id)
        except IndexError_:
            previous = None
        if (
            previous is not None
            and previous.manifest.get("docs") == fingerprint
            and previous.manifest.get("kb_version") == __version__
            and [c.id for c in previous.cards] == [c.id for c in cards]
            and [previous.manifest["cards"].get(c.id) for c in cards] == hashes
        ):
            return BuildReport(len(cards), 0, len(cards), time.perf_counter() - started, previous.path,
                               previous.threshold, unchanged=True)
        reuse = _vectors_by_hash(previous, embedder.dim)
        text, situations, embedded = embed_cards(cards, embedder, reuse=reuse, progress=progress)
        index = build_faiss(text, embedder.dim)
        when_index = build_faiss(situations, embedder.dim)
        loaded = LoadedIndex(index_dir, {"calibration": {"threshold": 0.0}}, cards, index, when_index)
        calibration, calibration_texts, calibration_vectors = calibrate_for(
            loaded, embedder, docs_dir, root, cache=_calibration_cache(previous, embedder.dim)
        )

        builds = index_dir / "builds"
        builds.mkdir(exist_ok=True)
        build_id = time.strftime("%Y%m%d-%H%M%S") + f"-{os.getpid()}-{time.monotonic_ns() % 1_000_000:06d}"
        tmp = builds / f".tmp-{build_id}"
        tmp.mkdir()
        try:
            faiss.write_index(index, str(tmp / "vectors.faiss"))
            faiss.write_index(when_index, str(tmp / "situations.faiss"))
            _write_jsonl(tmp / "cards.jsonl", [c.to_dict() for c in cards])
            (tmp / CALIBRATION_FILES[0]).write_text(json.dumps(calibration_texts, ensure_ascii=False), encoding="utf-8")
            faiss.write_index(build_faiss(calibration_vectors, embedder.dim), str(tmp / CALIBRATION_FILES[1]))
            manifest = {
                "format": FORMAT,
                "kb_version": __version__,
                "model": embedder.model_id,
                "dim": embedder.dim,
                "count": len(cards),
                "situations": int(when_index.ntotal),
                "when_weight": WHEN_WEIGHT,
                "keyword_weight": KEYWORD_WEIGHT,
                "index_type": "hnsw" if len(cards) > HNSW_THRESHOLD else "flat",
                "built_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                "docs": fingerprint,
                "cards": {c.id: h for c, h in zip(cards, hashes)},
                "files": {
                    "vectors.faiss": sha256_file(tmp / "vectors.faiss"),
                    "situations.faiss": sha256_file(tmp / "situations.faiss"),
                    "cards.jsonl": sha256_file(tmp / "cards.jsonl"),
                },
                "calibration": calibration,
            }
            (tmp / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=1), encoding="utf-8")
            final = builds / build_id
            os.replace(tmp, final)
            link_tmp = index_dir / f".current-{build_id}"
            os.symlink(Path("builds") / build_id, link_tmp)
            os.replace(link_tmp, current_path(index_dir))
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        _prune(builds, keep=final)
        return BuildReport(len(cards), embedded, len(cards) - embedded, time.perf_counter() - started, final,
                           calibration["threshold"])
    finally:
        lock.release()


def _prune(builds: Path, keep: Path) -> None:
    """Remove old builds, keeping the newest few so a reader mid-load never loses its folder."""
    olds = sorted((p for p in builds.iterdir() if p.is_dir() and not p.name.startswith(".")), key=lambda p: p.name)
    for old in olds[:-KEEP_BUILDS]:
        if old != keep:
            shutil.rmtree(old, ignore_errors=True)
    for tmp in builds.glob(".tmp-*"):
        if time.time() - tmp.stat().st_mtime > 3600:
            shutil.rmtree(tmp, ignore_errors=True)


def index_signature(index_dir: Path) -> str:
    """Cheap token that changes whenever a build switches `current` (the panel polls it)."""
    try:
        return os.readlink(current_path(index_dir))
    except OSError:
        return ""


__all__ = [
    "BuildBusy", "BuildReport", "ContentError", "IndexDamaged", "IndexError_", "IndexMissing", "IndexStale",
    "LoadedIndex", "Problem", "build_index", "docs_fingerprint", "index_signature", "load_index",
]
