"""The one tolerant loader (Searcher.load_serving).

Guides edited since the build must not stop the panel or the API (an agent mid-call keeps
searching while a trainer edits): the index answers and the staleness is reported. A missing
or damaged index, or one from another model, is raised.
"""

from __future__ import annotations

import json
import shutil

import pytest

from kb.errors import IndexDamaged, IndexMissing, IndexStale
from kb.search import Searcher

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
