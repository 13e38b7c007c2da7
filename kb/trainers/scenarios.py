"""`kb check` for the practice page: each scenario a trainer wrote must have one right answer, its card.

    >>> problems = scenario_problems(guides, settings, embedder)   # list[Problem], at the scenario's line

Without the model only the markup is checked (kb.content.practice.practice_problems: a scenario in a
section that is no card, or that is kept out of the practice). With it, each scenario is searched
like an agent's query: the engine must put its own card first, and no other card within
SCENARIO_MARGIN of it — otherwise a learner who picks that other card would not be wrong.
"""

from __future__ import annotations

from kb.config import Settings
from kb.content import Docs, Guide, Problem, load_docs
from kb.content.practice import Scenario, practice_problems, scenarios
from kb.embedding.encoders import Encoder
from kb.errors import IndexProblem
from kb.retrieval.build import memory_index
from kb.retrieval.store import LoadedIndex, docs_fingerprint, load_index
from kb.search.searcher import Searcher

SCENARIO_MARGIN = 0.1
"""A runner-up scoring within this of the scenario's card (meaning up to 1, keywords up to 0.1, and the
classifier's evidence taking CLASSIFIER_WEIGHT for each factor of e the runner-up is less likely) means
the engine is torn between the two.
How many of the guides' own `situaciones` this would flag is in BENCHMARKS.md («Práctica»)."""
LOOK = 5
"""Results read per scenario: a card not among them is reported as not found."""


_GUIDES_INDEX: dict[tuple[str, str, str], LoadedIndex] = {}


def guides_index(settings: Settings, embedder: Encoder, docs: Docs | None = None) -> LoadedIndex:
    """An index of the guides as they are now, built in memory once per process and version of the guides:
    `kb check --golden` needs one, and so do the scenarios when the built index is not of these guides."""
    key = (docs_fingerprint(settings.docs_dir), embedder.model_id, str(settings.root))
    if key not in _GUIDES_INDEX:
        docs = docs or load_docs(settings.docs_dir, settings.root)
        _GUIDES_INDEX.clear()
        _GUIDES_INDEX[key] = memory_index(settings.docs_dir, embedder, settings.root, docs=docs)
    return _GUIDES_INDEX[key]


def _index(settings: Settings, embedder: Encoder) -> LoadedIndex:
    """The built index when it is of these guides and this model (`kb preview` keeps it so); otherwise
    the guides' index in memory (guides_index: slower, shared with `--golden`)."""
    try:
        return load_index(settings.index_dir, model_id=embedder.model_id, docs_dir=settings.docs_dir)
    except IndexProblem:
        return guides_index(settings, embedder)


def _section(card_id: str, searcher: Searcher) -> str:
    card = next((c for c in searcher.cards if c.id == card_id), None)
    return card.heading.split(" › ")[-1] if card is not None else card_id


def judge(scenario: Scenario, searcher: Searcher) -> str | None:
    """Why the engine does not give this scenario one clear answer, its card (None: it does)."""
    results = searcher.search(scenario.text, LOOK).results
    ids = [r.card.id for r in results]
    own = _section(scenario.card_id, searcher)
    if scenario.card_id not in ids:
        shown = ", ".join(f"«{_section(i, searcher)}»" for i in ids[:3]) or "nada"
        return f"el escenario «{scenario.text}» no tiene respuesta: el motor no encuentra «{own}» (salen {shown})"
    first = results[0]
    if first.card.id != scenario.card_id:
        return (
            f"el escenario «{scenario.text}» es ambiguo: el motor pone «{_section(first.card.id, searcher)}» "
            f"por delante de «{own}»; concreta la situación o muévela a esa tarjeta"
        )
    if len(results) > 1 and first.score - results[1].score < SCENARIO_MARGIN:
        return (
            f"el escenario «{scenario.text}» es ambiguo: «{_section(results[1].card.id, searcher)}» queda casi "
            f"igual que «{own}» ({results[1].score:.2f} frente a {first.score:.2f}); concreta la situación"
        )
    return None


def scenario_problems(guides: list[Guide], settings: Settings, embedder: Encoder | None) -> list[Problem]:
    """Practice markup problems, and with `embedder` every scenario the engine does not answer with its card."""
    problems = [p for g in guides for p in practice_problems(g)]
    found = [s for g in guides if g.ok for s in scenarios(g)]
    if embedder is None or not found:
        return problems
    searcher = Searcher(_index(settings, embedder), embedder, settings)
    for scenario in found:
        why = judge(scenario, searcher)
        if why is not None:
            problems.append(Problem(scenario.file, scenario.line, why))
    return problems
