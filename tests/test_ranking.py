"""The keyword side of ranking without the model: stems, synonyms, significance tests."""

from __future__ import annotations

import json

import numpy as np
import pytest

from kb.content import ContentError
from kb.content.synonyms import SYNONYMS_FILE, from_mapping, load_synonyms
from kb.retrieval.keywords import Keywords, terms
from kb.retrieval.store import docs_fingerprint
from kb.trainers.significance import compare, mcnemar, paired_bootstrap

from .conftest import ROOT


def test_inflections_and_accents_share_one_term():
    assert terms("se enfadó") == terms("enfadados") == terms("Enfadado")
    assert terms("devolución") == terms("devolucion") == terms("DEVOLUCIONES")
    assert terms("quejas") == terms("queja")


def test_stopwords_carry_no_term():
    assert terms("que de la el en por") == []


def test_synonyms_map_variants_to_the_canonical_word_longest_first():
    syn = from_mapping({"enfadado": ["enojado", "cabreado"], "cancelar": ["dar de baja"], "baja": ["anulación"]})
    assert terms("está muy enojado", syn) == terms("está muy enfadado")
    assert terms("quiere darse de baja, dar de baja la línea", syn) == terms("quiere darse baja, cancelar la línea")
    assert terms("anulación", syn) == terms("baja")


def test_keyword_bonus_follows_a_synonym_and_ignores_common_words():
    texts = [
        "el cliente está enfadado y grita",
        "el cliente pide un reembolso del cobro",
        "el cliente quiere hablar con el supervisor",
        "el cliente no sabe lo que quiere",
    ]
    kw = Keywords(texts, from_mapping({"enfadado": ["cabreado"]}))
    bonus = kw.bonus("tengo un cliente cabreado", [0, 1, 2, 3], 0.1)
    assert bonus.argmax() == 0 and bonus[0] == pytest.approx(0.1)
    assert not kw.bonus("cliente", [0, 1, 2, 3], 0.1).any()  # in every card: no bonus


def test_a_broken_synonym_file_names_its_line(tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / SYNONYMS_FILE).write_text("enfadado: [enojado]\ndinero: [plata\n", encoding="utf-8")
    with pytest.raises(ContentError) as caught:
        load_synonyms(docs, tmp_path)
    assert str(caught.value.problems[0]).startswith("docs/sinonimos.yml:")
    (docs / SYNONYMS_FILE).write_text("enfadado: [enojado]\nmolesto: [enojado]\nplata: dinero\n", encoding="utf-8")
    with pytest.raises(ContentError) as caught:
        load_synonyms(docs, tmp_path)
    assert [p.line for p in caught.value.problems] == [2, 3]


def test_the_shipped_synonym_list_loads_and_is_general_vocabulary():
    syn = load_synonyms(ROOT / "docs", ROOT)
    assert 30 <= len(syn.source) <= 80
    assert all(len(variants) >= 1 for variants in syn.source.values())


def test_a_synonym_edit_changes_the_docs_fingerprint(tmp_path):
    (tmp_path / "a.md").write_text("# A\n", encoding="utf-8")
    before = docs_fingerprint(tmp_path)
    (tmp_path / SYNONYMS_FILE).write_text("enfadado: [enojado]\n", encoding="utf-8")
    assert docs_fingerprint(tmp_path) != before


def _run(ranks: list[int | None]) -> dict:
    return {
        "system": "x",
        "per_query": [
            {"source": f"q:{i}", "register": "base", "in_scope": True, "rank": r, "flagged": False}
            for i, r in enumerate(ranks)
        ],
    }


def test_significance_pairs_queries_and_reports_discordant_pairs():
    before, after = _run([1, 2, 3, None] * 10), _run([1, 1, 1, None] * 10)
    result = compare(before, after)
    assert (result.gained, result.lost) == (20, 0)
    assert result.p_hit1 < 0.001 and result.p_mrr < 0.01
    assert compare(before, json.loads(json.dumps(before))).p_hit1 == 1.0
    assert mcnemar(3, 2) > 0.5
    assert paired_bootstrap(np.zeros(5), np.zeros(5)) == 1.0
