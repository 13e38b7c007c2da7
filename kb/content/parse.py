"""One markdown file → a `Guide`: front matter, sections with their anchors, and problems.

Problems are collected on the guide, never raised, so `kb check` can list them all
with `file:line`. Anchors come from Python-Markdown configured exactly like mkdocs.yml,
so a card's URL points at the anchor the site really has.
"""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path
from typing import Any

import yaml

from kb.content.body import block_problems, code_lines
from kb.content.mkdocs import MkdocsConfig, read_mkdocs
from kb.content.model import FASES, REQUIRED_KEYS, Guide, Problem, Section
from kb.content.rules import governance_problems, phrase_problems
from kb.errors import os_reason

_HEADING = re.compile(r"^(#{1,6})[ \t]+(.*?)[ \t]*#*[ \t]*$")
_ATTRS = re.compile(r"\s*\{:?\s*([^{}]*)\}\s*$")
_ATTR_KV = re.compile(r"""([\w-]+)\s*=\s*(?:"([^"]*)"|'([^']*)'|(\S+))""")
CARD_ID = re.compile(r"[a-z0-9][a-z0-9/_-]*#[a-z0-9][a-z0-9_-]*")
"""A card's id: the page, «#», the heading's anchor (what `data-antes` names)."""


def _split_front_matter(lines: list[str], rel: str) -> tuple[str, int, list[Problem]]:
    """Return (yaml text, first body line (1-based), problems)."""
    if not lines or lines[0].strip() != "---":
        return "", 1, [Problem(rel, 1, "falta la cabecera YAML: el archivo debe empezar por una línea '---'")]
    for i in range(1, len(lines)):
        if lines[i].strip() in ("---", "..."):
            return "\n".join(lines[1:i]), i + 2, []
    return "", 1, [Problem(rel, 1, "la cabecera YAML no se cierra: falta la segunda línea '---'")]


def _parse_meta(text: str, rel: str) -> tuple[dict[str, Any], dict[str, int], list[Problem]]:
    """YAML front matter with the line of every top-level key, and of each key of a mapping value as
    'outer.inner' (front matter starts on line 2)."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text) if node is not None else {}
    except yaml.YAMLError as exc:
        # The context mark is where the broken construct starts (an unclosed "[" ...), closer to the mistake.
        mark = getattr(exc, "context_mark", None) or getattr(exc, "problem_mark", None)
        line = mark.line + 2 if mark is not None else 1
        what = getattr(exc, "problem", None) or str(exc)
        return {}, {}, [Problem(rel, line, f"YAML no válido en la cabecera: {what}")]
    if data is None:
        data = {}
    if not isinstance(data, dict):
        return {}, {}, [Problem(rel, 2, "la cabecera YAML debe ser una lista de claves 'clave: valor'")]
    lines: dict[str, int] = {}
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            lines[str(key_node.value)] = key_node.start_mark.line + 2
            if isinstance(value_node, yaml.MappingNode):  # `fuentes_legales: {ES: …}`: each country's line too
                for inner_key, _ in value_node.value:
                    lines[f"{key_node.value}.{inner_key.value}"] = inner_key.start_mark.line + 2
    return data, lines, []


def validate_meta(meta: dict[str, Any], meta_lines: dict[str, int], rel: str) -> list[Problem]:
    """Schema of the front matter. Trainer pages (`indexar: false`) only need a title."""
    problems: list[Problem] = []
    indexed = meta.get("indexar", True) is not False
    required = REQUIRED_KEYS if indexed else {"title": str}
    for key, kind in required.items():
        line = meta_lines.get(key, 1)
        if key not in meta:
            problems.append(Problem(rel, 1, f"falta la clave obligatoria '{key}' en la cabecera"))
        elif not isinstance(meta[key], kind) or (kind is str and not meta[key].strip()):
            expected = "una lista" if kind is list else "un texto no vacío"
            problems.append(Problem(rel, line, f"'{key}' debe ser {expected}"))
    if "indexar" in meta and not isinstance(meta["indexar"], bool):
        problems.append(Problem(rel, meta_lines.get("indexar", 1), "'indexar' debe ser true o false"))
    fase = meta.get("fase")
    if isinstance(fase, str) and fase not in FASES:
        problems.append(
            Problem(rel, meta_lines.get("fase", 1), f"fase desconocida '{fase}'; usa una de: {', '.join(FASES)}")
        )
    for key in ("tags", "situaciones"):
        value = meta.get(key)
        if isinstance(value, list) and any(not isinstance(v, str) or not v.strip() for v in value):
            problems.append(Problem(rel, meta_lines.get(key, 1), f"'{key}' solo admite textos no vacíos"))
    return problems


def _heading_attrs(raw: str) -> tuple[str, dict[str, str]]:
    match = _ATTRS.search(raw)
    if not match:
        return raw.strip(), {}
    attrs = {}
    for kv in _ATTR_KV.finditer(match.group(1)):
        attrs[kv.group(1)] = next(g for g in kv.groups()[1:] if g is not None)
    return raw[: match.start()].strip(), attrs


def _former(guide: Guide, lineno: int, raw: str) -> list[str]:
    """The card ids a heading says it replaces (`data-antes`, separated by spaces); a malformed one is a problem."""
    ids = raw.split()
    for bad in [i for i in ids if not CARD_ID.fullmatch(i)]:
        guide.problems.append(
            Problem(guide.rel, lineno, f"'data-antes' espera ids de tarjeta como 'guias/pagina#ancla', no '{bad}'")
        )
    return [i for i in ids if CARD_ID.fullmatch(i)]


def _anchors(text: str, config: MkdocsConfig) -> list[tuple[int, str, str]]:
    """(level, id, name) of every heading, in order, exactly as Python-Markdown makes them."""
    md = config.markdown()
    md.convert(text)
    flat: list[tuple[int, str, str]] = []

    def walk(tokens: list[dict[str, Any]]) -> None:
        for tok in tokens:
            flat.append((tok["level"], tok["id"], tok["name"]))
            walk(tok["children"])

    walk(md.toc_tokens)
    return flat


def read_guide(file: Path, docs_dir: Path, root: Path | None = None, mkdocs: MkdocsConfig | None = None) -> Guide:
    """Read one guide; problems are collected on it, never raised."""
    root = root or docs_dir.parent
    mkdocs = mkdocs or read_mkdocs(root / "mkdocs.yml")
    try:
        rel = str(file.relative_to(root))
    except ValueError:
        rel = str(file)
    page = file.relative_to(docs_dir).with_suffix("").as_posix()
    empty = Guide(file, rel, page, {}, {}, [], [], [], 1)
    try:
        raw = file.read_bytes()
    except OSError as exc:
        empty.problems.append(Problem(rel, 1, f"no se puede leer el archivo ({os_reason(exc)}); revisa sus permisos"))
        return empty
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        empty.problems.append(
            Problem(rel, line, "el archivo no está en UTF-8 (byte no válido); guárdalo con codificación UTF-8")
        )
        return empty
    lines = text.lstrip("\ufeff").split("\n")
    fm_text, body_start, problems = _split_front_matter(lines, rel)
    meta, meta_lines, meta_problems = _parse_meta(fm_text, rel) if not problems else ({}, {}, [])
    problems += meta_problems
    if not problems:
        problems += validate_meta(meta, meta_lines, rel)
    guide = Guide(file, rel, page, meta, meta_lines, [], problems, lines, body_start)
    if not problems:
        guide.problems += governance_problems(guide, date.today())
    _read_sections(guide, mkdocs)
    guide.problems += phrase_problems(guide)
    return guide


def _headings(lines: list[str], start: int) -> list[tuple[int, int, str, dict[str, str]]]:
    """(line, level, text, attrs) of every heading outside fenced code."""
    headings = []
    for i, code in enumerate(code_lines(lines[start:]), start):
        match = None if code else _HEADING.match(lines[i])
        if match:
            text, attrs = _heading_attrs(match.group(2))
            headings.append((i + 1, len(match.group(1)), text, attrs))
    return headings


def _read_sections(guide: Guide, mkdocs: MkdocsConfig) -> None:
    lines = guide.lines
    start = guide.body_start - 1
    headings = _headings(lines, start)
    anchors = _anchors("\n".join(lines[start:]), mkdocs)
    if len(anchors) != len(headings):
        guide.problems.append(
            Problem(
                guide.rel,
                guide.body_start,
                "no se pudieron emparejar los encabezados con sus anclas; "
                "revisa que cada encabezado empiece por '#' al principio de la línea",
            )
        )
        return
    seen: dict[str, int] = {}
    stack: list[Section] = []
    for n, ((lineno, level, text, attrs), (_, anchor, _name)) in enumerate(zip(headings, anchors)):
        end = headings[n + 1][0] - 1 if n + 1 < len(headings) else len(lines)
        body = [(j + 1, lines[j]) for j in range(lineno, end)]
        fase = attrs.get("data-fase")
        if fase is not None and fase not in FASES:
            guide.problems.append(
                Problem(
                    guide.rel, lineno, f"fase desconocida '{fase}' en el encabezado; usa una de: {', '.join(FASES)}"
                )
            )
            fase = None
        base = re.sub(r"_\d+$", "", anchor)
        if base in seen and anchor != base:
            guide.problems.append(
                Problem(
                    guide.rel,
                    lineno,
                    f"encabezado repetido: '{text}' ya aparece en la línea {seen[base]}; "
                    "cada sección necesita un título único en su página",
                )
            )
        seen.setdefault(anchor, lineno)
        while stack and stack[-1].level >= level:
            stack.pop()
        section = Section(level, text, anchor, lineno, body, fase, stack[-1] if stack else None)
        section.former = _former(guide, lineno, attrs.get("data-antes", ""))
        if section.parent is not None:
            section.parent.children.append(section)
        stack.append(section)
        guide.sections.append(section)
    for section in guide.sections:
        guide.problems += [Problem(guide.rel, line, message) for line, message in block_problems(section)]
