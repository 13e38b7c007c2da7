"""Building and loading the index: incremental, atomic, and never silently wrong."""

from __future__ import annotations

import json

import pytest

from kb.content import ContentError
from kb.errors import IndexDamaged, IndexMissing, IndexStale
from kb.retrieval.build import build_index
from kb.retrieval.manifest import Manifest
from kb.retrieval.scoring import scoring_signature
from kb.retrieval.store import current_path, load_index
from kb.retrieval.vectors import build_faiss
from tests.conftest import snapshot


def test_first_build_embeds_every_card_and_writes_a_manifest(project, encoder):
    root, docs, index_dir = project
    report = build_index(docs, index_dir, encoder, root=root)
    assert (report.cards, report.embedded, report.reused) == (6, 6, 0)
    loaded = load_index(index_dir, model_id=encoder.model_id, docs_dir=docs)
    manifest = loaded.manifest
    assert manifest.model == encoder.model_id and manifest.dim == encoder.dim == loaded.text_index.d
    assert manifest.count == 6 and manifest.index_type == "flat"
    assert set(manifest.cards) == {c.id for c in loaded.cards}
    assert 0 < manifest.threshold < 1
    assert manifest.built_at and manifest.kb_version


def test_the_manifest_reads_back_as_written_and_keeps_its_flat_layout(project, encoder):
    """One typed reader and writer; the JSON keeps the scoring signature at the top level, as
    indexes already on disk have it."""
    root, docs, index_dir = project
    build_index(docs, index_dir, encoder, root=root)
    folder = current_path(index_dir).resolve()
    manifest = Manifest.read(folder)
    raw = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    assert manifest.to_json() == raw
    assert set(scoring_signature()) <= set(raw) and "scoring" not in raw
    assert Manifest.from_json(raw) == manifest and manifest.current_scoring


def test_rebuild_with_no_change_does_nothing(project, encoder):
    root, docs, index_dir = project
    build_index(docs, index_dir, encoder, root=root)
    before = snapshot(index_dir)
    report = build_index(docs, index_dir, encoder, root=root)
    assert report.unchanged and report.embedded == 0
    assert snapshot(index_dir) == before


def test_editing_one_section_re_embeds_only_that_card(project, encoder):
    root, docs, index_dir = project
    build_index(docs, index_dir, encoder, root=root)
    file = docs / "guias" / "reembolsos.md"
    file.write_text(file.read_text().replace("a su responsable", "a su supervisora"), encoding="utf-8")
    report = build_index(docs, index_dir, encoder, root=root)
    assert (report.embedded, report.reused) == (1, 5)
    loaded = load_index(index_dir, model_id=encoder.model_id, docs_dir=docs)
    assert any("supervisora" in c.text for c in loaded.cards)


class CountingEmbedder:
    """An encoder, counting how many queries it is asked to embed."""

    def __init__(self, inner):
        self.inner, self.queries = inner, 0
        self.model_id, self.dim, self.parts = inner.model_id, inner.dim, inner.parts

    def encode_queries(self, texts):
        self.queries += len(texts)
        return self.inner.encode_queries(texts)

    def encode_passages(self, texts):
        return self.inner.encode_passages(texts)


def test_an_incremental_build_does_not_embed_the_calibration_queries_again(project, encoder):
    """~100 calibration queries cost more than half of a one-guide rebuild: they are kept with the build."""
    root, docs, index_dir = project
    first = build_index(docs, index_dir, encoder, root=root)
    file = docs / "guias" / "reembolsos.md"
    file.write_text(file.read_text().replace("a su responsable", "a su supervisora"), encoding="utf-8")
    counting = CountingEmbedder(encoder)
    second = build_index(docs, index_dir, counting, root=root)
    assert second.embedded == 1
    assert counting.queries == 0  # the edited card has no Cuándo lines; calibration came from the cache
    fresh = build_index(docs, root / "fresh-index", encoder, root=root)
    assert second.threshold == pytest.approx(fresh.threshold, abs=1e-4)
    assert first.threshold > 0


def test_a_damaged_calibration_cache_is_simply_recomputed(project, encoder):
    root, docs, index_dir = project
    build_index(docs, index_dir, encoder, root=root)
    (current_path(index_dir).resolve() / "calibration.faiss").write_bytes(b"not faiss")
    file = docs / "guias" / "enfado.md"
    file.write_text(file.read_text().replace("beba agua", "beba un vaso de agua"), encoding="utf-8")
    counting = CountingEmbedder(encoder)
    report = build_index(docs, index_dir, counting, root=root)
    assert report.embedded == 1 and counting.queries > 0
    load_index(index_dir, model_id=encoder.model_id, docs_dir=docs)  # the new build is whole


def test_reused_vectors_equal_fresh_ones(project, encoder):
    root, docs, index_dir = project
    build_index(docs, index_dir, encoder, root=root)
    (docs / "guias" / "enfado.md").write_text(
        (docs / "guias" / "enfado.md").read_text() + "\n## Nueva sección\n\nTexto nuevo sobre clientes que insultan.\n"
    )
    build_index(docs, index_dir, encoder, root=root)
    loaded = load_index(index_dir)
    stored = loaded.text_index.reconstruct_n(0, loaded.text_index.ntotal)
    fresh = encoder.encode_passages([c.embedding_text() for c in loaded.cards])
    assert abs(stored - fresh).max() < 1e-4


def test_a_failed_build_keeps_the_previous_index_byte_identical(project, encoder):
    root, docs, index_dir = project
    build_index(docs, index_dir, encoder, root=root)
    before = snapshot(index_dir)
    (docs / "guias" / "roto.md").write_text("---\ntitle: [sin cerrar\n---\n## A\n\ntexto\n", encoding="utf-8")
    with pytest.raises(ContentError) as caught:
        build_index(docs, index_dir, encoder, root=root)
    assert str(caught.value.problems[0]).startswith("docs/guias/roto.md:2:")
    assert snapshot(index_dir) == before
    assert not list((index_dir / "builds").glob(".tmp-*"))


def test_missing_index_is_reported(project):
    _, _, index_dir = project
    with pytest.raises(IndexMissing, match="kb build"):
        load_index(index_dir)


def test_edited_docs_make_the_index_stale(project, encoder):
    root, docs, index_dir = project
    build_index(docs, index_dir, encoder, root=root)
    file = docs / "guias" / "enfado.md"
    file.write_text(file.read_text() + "\nUna línea más.\n", encoding="utf-8")
    with pytest.raises(IndexStale, match="desactualizado"):
        load_index(index_dir, model_id=encoder.model_id, docs_dir=docs)


def test_another_model_makes_the_index_stale(project, encoder):
    root, docs, index_dir = project
    build_index(docs, index_dir, encoder, root=root)
    with pytest.raises(IndexStale, match="modelo"):
        load_index(index_dir, model_id="otro-modelo")


def test_an_index_of_an_older_scoring_is_stale_not_damaged(project, encoder):
    """An index built before the classifier had one regression a model stores it another way:
    the trainer is told to rebuild, not that the index is broken."""
    root, docs, index_dir = project
    build_index(docs, index_dir, encoder, root=root)
    path = current_path(index_dir).resolve()
    manifest = json.loads((path / "manifest.json").read_text())
    manifest["classifier_version"] = "logreg-C64-1"
    manifest["classifier"] = {"intercept": manifest["classifier"]["intercept"][0]}
    (path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(IndexStale, match="forma de puntuar") as caught:
        load_index(index_dir, model_id=encoder.model_id, docs_dir=docs)
    assert "kb build" in caught.value.message


@pytest.mark.parametrize(
    "damage", ["truncate_faiss", "drop_cards", "extra_card_line", "manifest_dim", "classifier", "no_manifest"]
)
def test_damaged_index_is_detected(project, encoder, damage):
    root, docs, index_dir = project
    build_index(docs, index_dir, encoder, root=root)
    path = current_path(index_dir).resolve()
    if damage == "truncate_faiss":
        data = (path / "vectors.faiss").read_bytes()
        (path / "vectors.faiss").write_bytes(data[: len(data) // 2])
    elif damage == "drop_cards":
        (path / "cards.jsonl").unlink()
    elif damage == "extra_card_line":
        with open(path / "cards.jsonl", "a", encoding="utf-8") as fh:
            fh.write((path / "cards.jsonl").read_text().splitlines()[0] + "\n")
    elif damage == "manifest_dim":
        manifest = json.loads((path / "manifest.json").read_text())
        manifest["dim"] = 7
        (path / "manifest.json").write_text(json.dumps(manifest))
    elif damage == "classifier":  # intercepts for fewer cards than the weights
        manifest = json.loads((path / "manifest.json").read_text())
        manifest["classifier"]["intercept"].pop()
        (path / "manifest.json").write_text(json.dumps(manifest))
    else:
        (path / "manifest.json").unlink()
    with pytest.raises(IndexDamaged) as caught:
        load_index(index_dir, model_id=encoder.model_id, docs_dir=docs)
    assert "Reconstruye" in caught.value.message


def test_large_collections_switch_to_hnsw(monkeypatch):
    import numpy as np

    from kb.retrieval import vectors

    rng = np.random.default_rng(0)
    small = rng.normal(size=(10, 8)).astype("float32")
    assert build_faiss(small).__class__.__name__ == "IndexFlatIP"
    monkeypatch.setattr(vectors, "HNSW_THRESHOLD", 5)
    hnsw = build_faiss(small / np.linalg.norm(small, axis=1, keepdims=True))
    assert hnsw.__class__.__name__ == "IndexHNSWFlat" and hnsw.ntotal == 10
