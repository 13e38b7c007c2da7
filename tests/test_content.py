"""The guides: structure of the real content, the card parser, and the copy check against the seeds."""

from __future__ import annotations

import re
import unicodedata
from html.parser import HTMLParser

import pytest

from kb.content import FASES, Card, ContentError, load_cards, read_guide, read_guides
from tests.conftest import HEAD, ROOT, SEEDS, make_docs

GUIDES = [
    "index.md",
    "guias/cliente-enfadado.md",
    "guias/reglas-de-oro.md",
    "guias/pecados-capitales.md",
    "guias/causas-insatisfaccion.md",
    "guias/fidelizar.md",
    "guias/escuchar-la-queja.md",
    "guias/clientes-dificiles.md",
    "guias/falta-de-comunicacion.md",
    "guias/cliente-sin-razon.md",
]


@pytest.fixture(scope="module")
def guides():
    return read_guides(ROOT / "docs", ROOT)


@pytest.fixture(scope="module")
def indexed(guides):
    return [g for g in guides if g.indexed]


# ---------------------------------------------------------------- the real content


def test_every_planned_guide_exists():
    missing = [g for g in GUIDES if not (ROOT / "docs" / g).is_file()]
    assert not missing


def test_no_guide_has_problems(guides):
    problems = [str(p) for g in guides for p in g.problems if p.severity == "error"]
    assert problems == []


def test_front_matter_is_complete_with_known_fase(indexed):
    assert len(indexed) >= 10
    for guide in indexed:
        assert guide.meta["fase"] in FASES, guide.rel
        assert guide.meta["title"].strip() and guide.meta["description"].strip(), guide.rel
        assert 2 <= len(guide.meta["tags"]) <= 6, guide.rel
        assert 5 <= len(guide.meta["situaciones"]) <= 10, guide.rel


def test_every_guide_has_at_least_three_sections(indexed):
    for guide in indexed:
        assert len([s for s in guide.sections if s.level >= 2]) >= 3, guide.rel


def test_every_phrase_block_has_phrases(indexed):
    from kb.content import split_body

    blocks = 0
    for guide in indexed:
        for section in guide.sections:
            _, phrases, found = split_body(section)
            for _, kind in found:
                blocks += 1
                assert phrases[kind], f"{guide.rel}:{section.line}"
    assert blocks >= 40


def test_anchors_are_unique_per_page(guides):
    for guide in guides:
        anchors = [s.anchor for s in guide.sections]
        assert len(anchors) == len(set(anchors)), guide.rel
        assert not any(re.search(r"_\d+$", a) for a in anchors), guide.rel


def test_enough_cards_of_sensible_length():
    cards = load_cards(ROOT / "docs", ROOT)
    assert len(cards) >= 60
    assert len({c.id for c in cards}) == len(cards)
    for card in cards:
        words = len(card.embedding_text().split())
        assert 30 <= words <= 320, (card.id, words)


def test_a_card_is_cut_into_pieces_for_the_letters_view():
    card = Card(
        id="x",
        title="Cliente enfadado",
        heading="Escuchar sin interrumpir",
        text="Deja que termine. No le cortes aunque repita lo mismo.\nToma nota de cada dato que te da.",
        fase="escucha",
        tags=[],
        say=["Le escucho, continúe."],
        avoid=["Cálmese."],
        path="guias/x/",
        source="docs/guias/x.md:3",
    )
    assert card.pieces() == [
        "Cliente enfadado. Escuchar sin interrumpir.",
        "Deja que termine.",  # 17 characters: a sentence of its own
        "No le cortes aunque repita lo mismo.",
        "Toma nota de cada dato que te da.",
        "Le escucho, continúe.",
        "Cálmese.",  # phrases are kept whole, however short
    ]
    assert Card(**{**card.to_dict(), "text": "Sí. Vale."}).pieces()[1:] == ["Le escucho, continúe.", "Cálmese."]


def test_trainer_pages_stay_out_of_the_index():
    cards = load_cards(ROOT / "docs", ROOT)
    assert not [c for c in cards if c.id.startswith(("formadores", "etiquetas", "chuleta"))]


# ---------------------------------------------------------------- copy check against the seeds

RUN = 8


def _words(text: str) -> list[str]:
    text = unicodedata.normalize("NFKC", text.lower())
    return re.findall(r"\w+", text)


def _runs(words: list[str]) -> set[tuple[str, ...]]:
    return {tuple(words[i : i + RUN]) for i in range(len(words) - RUN + 1)}


def test_no_eight_word_run_of_any_seed_in_docs():
    if not SEEDS.is_dir():
        pytest.skip(f"no está la carpeta de fuentes {SEEDS}: no se puede comprobar la copia literal")
    seed_runs: set[tuple[str, ...]] = set()
    for seed in sorted(SEEDS.glob("*.txt")):
        seed_runs |= _runs(_words(seed.read_text(encoding="utf-8", errors="replace")))
    assert seed_runs, "las fuentes están vacías"
    hits = []
    for doc in sorted((ROOT / "docs").rglob("*.md")):
        for run in _runs(_words(doc.read_text(encoding="utf-8"))) & seed_runs:
            hits.append(f"{doc.relative_to(ROOT)}: «{' '.join(run)}»")
    assert hits == []


def test_copy_check_catches_a_pasted_sentence(tmp_path):
    """The check above must be able to fail: eight pasted words of a seed are caught."""
    if not SEEDS.is_dir():
        pytest.skip("no está la carpeta de fuentes")
    seed_words = _words(sorted(SEEDS.glob("*.txt"))[0].read_text(encoding="utf-8"))
    pasted = "Texto propio. " + " ".join(seed_words[20:28]) + ". Más texto propio."
    assert _runs(_words(pasted)) & _runs(seed_words)


# ---------------------------------------------------------------- anchors match the built site


class _Ids(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.ids: set[str] = set()

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            if name == "id" and value:
                self.ids.add(value)


def test_card_urls_point_at_real_anchors_of_the_built_site(built_site):
    cards = load_cards(ROOT / "docs", ROOT)
    cache: dict[str, set[str]] = {}
    for card in cards:
        page, _, anchor = card.path.partition("#")
        if page not in cache:
            html = (built_site / page / "index.html").read_text(encoding="utf-8")
            parser = _Ids()
            parser.feed(html)
            cache[page] = parser.ids
        assert anchor in cache[page], card.id


# ---------------------------------------------------------------- the parser, on small examples

GOOD = (
    HEAD
    + """Introducción que no es tarjeta.

## Paso uno

### No interrumpir { data-fase="desahogo" }

Deje que **termine** de hablar; lea [la otra guía](otra.md).

!!! tip "Decir"
    - Le escucho, continúe.
    - *Tómese* su tiempo.

!!! danger "Evitar"
    - Cálmese.

## ¿Y después?

Texto del segundo apartado.

```
## esto es código, no un apartado
```
"""
)


def test_cards_from_a_small_guide(tmp_path):
    root = make_docs(tmp_path, {"guias/prueba.md": GOOD})
    cards = load_cards(root / "docs", root)
    assert [c.id for c in cards] == ["guias/prueba#no-interrumpir", "guias/prueba#y-despues"]
    first = cards[0]
    assert first.heading == "Paso uno › No interrumpir"
    assert first.fase == "desahogo"  # the heading override wins over the guide's fase
    assert first.say == ["Le escucho, continúe.", "Tómese su tiempo."]
    assert first.avoid == ["Cálmese."]
    assert first.text == "Deje que termine de hablar; lea la otra guía."
    assert first.path == "guias/prueba/#no-interrumpir"
    assert first.source == "docs/guias/prueba.md:16"
    assert cards[1].fase == "calma"
    assert cards[1].text == "Texto del segundo apartado."  # fenced code is not advice: left out


def test_content_errors_name_file_and_line(tmp_path):
    bad = GOOD.replace("fase: calma", "fase: relax").replace("    - Cálmese.\n", "")
    root = make_docs(tmp_path, {"guias/prueba.md": bad})
    with pytest.raises(ContentError) as caught:
        load_cards(root / "docs", root)
    messages = [str(p) for p in caught.value.problems]
    assert any(m.startswith("docs/guias/prueba.md:5: fase desconocida 'relax'") for m in messages)
    assert any(m.startswith("docs/guias/prueba.md:24: el bloque 'Evitar' no tiene ninguna frase") for m in messages)


def test_broken_yaml_and_non_utf8_are_reported_not_raised(tmp_path):
    root = make_docs(tmp_path, {"a.md": "---\ntitle: [sin cerrar\n---\n## X\n", "b.md": ""})
    (root / "docs" / "b.md").write_bytes(b"---\ntitle: x\n---\n\xff\xfe mal\n")
    a = read_guide(root / "docs" / "a.md", root / "docs", root)
    b = read_guide(root / "docs" / "b.md", root / "docs", root)
    assert str(a.problems[0]).startswith("docs/a.md:2: YAML no válido")
    assert str(b.problems[0]).startswith("docs/b.md:4: el archivo no está en UTF-8")


def test_duplicate_headings_are_an_error(tmp_path):
    text = GOOD.replace("## ¿Y después?", "## Paso uno")
    root = make_docs(tmp_path, {"p.md": text})
    guide = read_guide(root / "docs" / "p.md", root / "docs", root)
    assert any("encabezado repetido" in p.message and p.line == 27 for p in guide.problems)


def test_page_paths(tmp_path):
    root = make_docs(tmp_path, {"index.md": GOOD, "guias/index.md": GOOD})
    assert {c.path.split("#")[0] for c in load_cards(root / "docs", root)} == {"", "guias/"}


def test_collapsible_blocks_are_read_like_open_ones(tmp_path):
    """`??? question "Cuándo"` folds the situations on the site; the index must still read them."""
    folded = GOOD.replace(
        '### No interrumpir { data-fase="desahogo" }\n',
        '### No interrumpir { data-fase="desahogo" }\n\n'
        '??? question "Cuándo"\n    - no me deja hablar\n    - chilla sin parar\n',
    )
    folded = folded.replace('!!! danger "Evitar"', '???+ danger "Evitar"')
    root = make_docs(tmp_path, {"guias/prueba.md": folded})
    first = load_cards(root / "docs", root)[0]
    assert first.when == ["no me deja hablar", "chilla sin parar"]
    assert first.avoid == ["Cálmese."]
    assert first.text == "Deje que termine de hablar; lea la otra guía."
