"""Trainer-owned synonyms (`docs/sinonimos.yml`): regional words mapped to the guides' word.

Agents from Mexico, Argentina or Spain say «enojado», «bravo» or «cabreado» for what the
guides call «enfadado». Small embedding models and keyword matching miss many of these, so
a trainer keeps one list, canonical word → variants, and the keyword side reads every
variant as its canonical word (in cards and queries alike, so the two always agree).

    enfadado: [enojado, bravo, cabreado]
    dar de baja: [cancelar, anular]

Words are compared accent-folded and without stopwords, like every keyword. A broken file
stops the build with `docs/sinonimos.yml:line: message`, like a broken guide.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import yaml

from kb.content import ContentError, Problem
from kb.errors import os_reason
from kb.text import tokenize

SYNONYMS_FILE = "sinonimos.yml"
"""The list lives next to the guides, so the people who write the guides own it."""


@dataclass(frozen=True)
class Synonyms:
    """Variant (tuple of folded words) → canonical folded words; empty when there is no list."""

    table: dict[tuple[str, ...], tuple[str, ...]] = field(default_factory=dict)
    source: dict[str, list[str]] = field(default_factory=dict)
    """The mapping as written (canonical → variants): what the index manifest stores."""

    @cached_property
    def longest(self) -> int:
        """Words in the longest variant. Cached: `canonical` asks once a word, and scanning the
        table each time was 2 of the 5 s of a profiled one-guide rebuild (184 texts, 14k scans)."""
        return max((len(v) for v in self.table), default=0)

    def canonical(self, words: list[str]) -> list[str]:
        """`words` (folded, stopwords removed) with every variant replaced by its canonical words;
        the longest variant wins («tarjeta de crédito» before «tarjeta»)."""
        if not self.table:
            return words
        out: list[str] = []
        i = 0
        while i < len(words):
            for size in range(min(self.longest, len(words) - i), 0, -1):
                target = self.table.get(tuple(words[i : i + size]))
                if target is not None:
                    out.extend(target)
                    i += size
                    break
            else:
                out.append(words[i])
                i += 1
        return out

    def digest(self) -> str:
        """Hash of the mapping, for the index manifest."""
        text = yaml.safe_dump(self.source, allow_unicode=True, sort_keys=True)
        return hashlib.sha256(text.encode("utf-8")).hexdigest()


def from_mapping(mapping: dict[str, list[str]]) -> Synonyms:
    """Synonyms from an already validated mapping (as stored in an index manifest)."""
    table: dict[tuple[str, ...], tuple[str, ...]] = {}
    for canonical, variants in mapping.items():
        target = tuple(tokenize(canonical))
        for variant in variants:
            key = tuple(tokenize(variant))
            if key and key != target:
                table[key] = target
    return Synonyms(table, {k: list(v) for k, v in mapping.items()})


def _problems(root: Any, rel: str) -> tuple[dict[str, list[str]], list[Problem]]:
    """Validate the YAML node tree: a mapping of word → list of words, no variant claimed twice."""
    if root is None:
        return {}, []
    if not isinstance(root, yaml.MappingNode):
        return {}, [Problem(rel, root.start_mark.line + 1, "se esperaba «palabra: [variante, variante]»")]
    mapping: dict[str, list[str]] = {}
    problems: list[Problem] = []
    owner: dict[tuple[str, ...], str] = {}
    for key, value in root.value:
        line = key.start_mark.line + 1
        canonical = key.value if isinstance(key, yaml.ScalarNode) else ""
        if not tokenize(canonical) or not isinstance(value, yaml.SequenceNode) or not value.value:
            problems.append(
                Problem(
                    rel,
                    line,
                    f"«{canonical}» necesita una lista de variantes: {canonical or 'palabra'}: [variante, variante]",
                )
            )
            continue
        if canonical in mapping:
            problems.append(Problem(rel, line, f"«{canonical}» aparece dos veces"))
            continue
        variants = []
        for item in value.value:
            item_line = item.start_mark.line + 1
            words = tuple(tokenize(item.value)) if isinstance(item, yaml.ScalarNode) else ()
            if not words:
                problems.append(Problem(rel, item_line, f"variante vacía o sin palabras en «{canonical}»"))
            elif words in owner and owner[words] != canonical:
                problems.append(Problem(rel, item_line, f"«{item.value}» ya es variante de «{owner[words]}»"))
            else:
                owner[words] = canonical
                variants.append(str(item.value))
        mapping[canonical] = variants
    for canonical in mapping:
        words = tuple(tokenize(canonical))
        if words in owner and owner[words] != canonical:
            line = next(k.start_mark.line + 1 for k, _ in root.value if k.value == canonical)
            problems.append(
                Problem(rel, line, f"«{canonical}» es a la vez palabra principal y variante de «{owner[words]}»")
            )
    return mapping, problems


def load_synonyms(docs_dir: Path, root: Path | None = None) -> Synonyms:
    """The list in `docs_dir/sinonimos.yml` (empty when the file does not exist).

    Raises ContentError naming file:line when the YAML or its shape is wrong."""
    path = docs_dir / SYNONYMS_FILE
    if not path.is_file():
        return Synonyms()
    try:
        rel = path.relative_to(root or docs_dir.parent).as_posix()
    except ValueError:
        rel = str(path)
    try:
        node = yaml.compose(path.read_text(encoding="utf-8"), Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 1
        raise ContentError([Problem(rel, line, f"YAML no válido: {exc.problem or exc}")]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ContentError([Problem(rel, 1, f"no se puede leer: {os_reason(exc)}")]) from None
    except yaml.YAMLError as exc:
        raise ContentError([Problem(rel, 1, f"YAML no válido: {exc}")]) from None
    mapping, problems = _problems(node, rel)
    if problems:
        raise ContentError(problems)
    return from_mapping(mapping)
