"""The search index on disk: FAISS vectors, the cards they belong to, and a manifest.

Layout (`index/`):

    current -> builds/<build-id>      symlink, switched atomically by each build
    builds/<build-id>/vectors.faiss   FAISS index (inner product on unit vectors)
    builds/<build-id>/cards.jsonl     one card per line, in vector order
    builds/<build-id>/manifest.json   model, dimension, hashes, calibration, build time
    .lock                             held while a build runs

Why this shape: a build writes a complete new folder and only then flips the
`current` symlink (`os.replace` is atomic), so a failed build leaves the previous
index untouched and a panel reading the index never sees half of one. Builds are
incremental: cards whose text did not change reuse their vectors. Loading checks
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
from pathlib import Path
from typing import Callable

import faiss
import numpy as np
from filelock import FileLock, Timeout

from kb import __version__
from kb.content import Card, ContentError, Problem, load_cards, read_guides

FORMAT = 1
HNSW_THRESHOLD = 50_000
"""Above this many cards an HNSW graph replaces the exact flat index (see BENCHMARKS.md)."""
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
    vectors_by_id: dict[str, int] = field(default_factory=dict)

    @property
    def threshold(self) -> float:
        return float(self.manifest["calibration"]["threshold"])


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


def build_faiss(vectors: np.ndarray) -> "faiss.Index":
    """Exact inner-product search for small collections; HNSW above HNSW_THRESHOLD."""
    dim = vectors.shape[1]
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
    for name in ("vectors.faiss", "cards.jsonl"):
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
    except RuntimeError:
        raise IndexDamaged("El archivo FAISS está dañado. Reconstruye con 'kb build --index-only'.") from None
    if index.d != dim or index.ntotal != count or len(cards) != count:
        raise IndexDamaged(
            f"El índice no es coherente ({len(cards)} tarjetas, {index.ntotal} vectores de dimensión {index.d}, "
            f"se esperaban {count} de dimensión {dim}). Reconstruye con 'kb build --index-only'."
        )
    if model_id is not None and manifest.get("model") != model_id:
        raise IndexStale(
            f"Índice desactualizado: se construyó con el modelo '{manifest.get('model')}' y ahora está configurado "
            f"'{model_id}'. Reconstruye con 'kb build --index-only'."
        )
    if docs_dir is not None and docs_dir.is_dir() and docs_fingerprint(docs_dir) != manifest.get("docs"):
        raise IndexStale(
            "Índice desactualizado: las guías han cambiado desde la última construcción. "
            "Ejecuta 'kb build --index-only' para incluir los cambios."
        )
    loaded = LoadedIndex(path, manifest, cards, index)
    loaded.vectors_by_id = {card.id: i for i, card in enumerate(cards)}
    return loaded


def _vectors_by_hash(old: LoadedIndex | None, dim: int) -> dict[str, np.ndarray]:
    """content hash -> vector from a previous index (same model checked by the caller)."""
    if old is None or int(old.manifest["dim"]) != dim or not old.faiss_index.ntotal:
        return {}
    hashes = old.manifest.get("cards", {})
    vectors = old.faiss_index.reconstruct_n(0, old.faiss_index.ntotal)
    return {hashes[card.id]: vectors[i] for i, card in enumerate(old.cards) if card.id in hashes}


def calibrate(
    index: "faiss.Index", positives: np.ndarray, negatives: np.ndarray, max_false_flag: float = 0.05
) -> dict:
    """Pick the top-1 score under which a query is 'low confidence'.

    Positives are the guides' `situaciones` (real in-scope questions), negatives the
    shipped out-of-scope list (kb/data/fuera_de_alcance.txt). The threshold flags at most
    `max_false_flag` of the positives and, within that, as many negatives as possible.
    """
    def top1(q: np.ndarray) -> np.ndarray:
        if not len(q) or index.ntotal == 0:
            return np.zeros(len(q), dtype=np.float32)
        scores, _ = index.search(np.ascontiguousarray(q, dtype=np.float32), 1)
        return scores[:, 0]

    pos, neg = top1(positives), top1(negatives)
    if not len(pos):
        return {"threshold": 0.0, "positives": 0, "negatives": int(len(neg)), "neg_flagged": 0.0, "pos_flagged": 0.0}
    threshold = float(np.quantile(pos, max_false_flag))
    if len(neg):
        # Do not go higher than needed: stop just above the highest negative if that is lower.
        threshold = min(threshold, float(np.max(neg)) + 1e-4)
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
    reuse: dict[str, np.ndarray] | None = None,
    progress: Callable[[int, int], None] | None = None,
    batch: int = 16,
) -> tuple[np.ndarray, int]:
    """Vectors for `cards` (rows in card order); `reuse` maps content hash -> known vector.

    Returns (vectors, how many were embedded now)."""
    reuse = reuse or {}
    hashes = [c.content_hash() for c in cards]
    vectors = np.zeros((len(cards), embedder.dim), dtype=np.float32)
    todo = [i for i, h in enumerate(hashes) if h not in reuse]
    for i, h in enumerate(hashes):
        if h in reuse:
            vectors[i] = reuse[h]
    for start in range(0, len(todo), batch):
        chunk = todo[start : start + batch]
        vectors[chunk] = embedder.encode_passages([cards[i].embedding_text() for i in chunk])
        if progress:
            progress(min(start + batch, len(todo)), len(todo))
    return vectors, len(todo)


def calibrate_for(index: "faiss.Index", embedder, docs_dir: Path, root: Path) -> dict:
    """Calibrate the low-confidence threshold for this index (see `calibrate`)."""
    return calibrate(
        index,
        embedder.encode_queries(situaciones_of(docs_dir, root)),
        embedder.encode_queries(out_of_scope_queries()),
    )


def memory_index(docs_dir: Path, embedder, root: Path | None = None, cards: list[Card] | None = None) -> LoadedIndex:
    """A calibrated index of the guides as they are now, in memory only.

    Used where the on-disk index may be stale on purpose: `kb check --golden`
    (does search find what the trainer just wrote?) and `kb eval --model X`.
    Raises ContentError when the guides are broken."""
    root = root or docs_dir.parent
    cards = load_cards(docs_dir, root) if cards is None else cards
    vectors, _ = embed_cards(cards, embedder)
    index = build_faiss(vectors)
    manifest = {
        "model": embedder.model_id, "dim": embedder.dim, "count": len(cards),
        "calibration": calibrate_for(index, embedder, docs_dir, root),
    }
    loaded = LoadedIndex(docs_dir, manifest, cards, index)
    loaded.vectors_by_id = {card.id: i for i, card in enumerate(cards)}
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
        vectors, embedded = embed_cards(cards, embedder, reuse=reuse, progress=progress)
        index = build_faiss(vectors)
        calibration = calibrate_for(index, embedder, docs_dir, root)

        builds = index_dir / "builds"
        builds.mkdir(exist_ok=True)
        build_id = time.strftime("%Y%m%d-%H%M%S") + f"-{os.getpid()}-{time.monotonic_ns() % 1_000_000:06d}"
        tmp = builds / f".tmp-{build_id}"
        tmp.mkdir()
        try:
            faiss.write_index(index, str(tmp / "vectors.faiss"))
            _write_jsonl(tmp / "cards.jsonl", [c.to_dict() for c in cards])
            manifest = {
                "format": FORMAT,
                "kb_version": __version__,
                "model": embedder.model_id,
                "dim": embedder.dim,
                "count": len(cards),
                "index_type": "hnsw" if len(cards) > HNSW_THRESHOLD else "flat",
                "built_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                "docs": fingerprint,
                "cards": {c.id: h for c, h in zip(cards, hashes)},
                "files": {
                    "vectors.faiss": sha256_file(tmp / "vectors.faiss"),
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
