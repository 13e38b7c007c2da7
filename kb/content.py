"""Parse the guides in `docs/` into cards: one card per `##`/`###` section.

The markdown is the single source of truth: the site page, the phrases shown in
the panel and the search index all come from it. This module reads it once and
knows nothing about embeddings or the UI. The format is documented for trainers
in `docs/formadores.md`.

Anchors are computed with Python-Markdown's `toc` extension configured exactly as
in `mkdocs.yml`, so a card's URL points at the anchor mkdocs really generates.
"""

from __future__ import annotations

import hashlib
import re
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

import markdown
import yaml

FASES: dict[str, str] = {
    "desahogo": "Desahogo",
    "calma": "Calma",
    "escucha": "Escucha",
    "solucion": "Solución",
    "seguimiento": "Seguimiento",
    "autocuidado": "Autocuidado",
    "prevencion": "Prevención",
    "gestion": "Gestión",
}
"""Known stages of a call (or of work around calls), in the order of a call."""

REQUIRED_KEYS: dict[str, type] = {
    "title": str,
    "description": str,
    "tags": list,
    "fase": str,
    "situaciones": list,
}
PHRASE_BLOCKS = {"decir": "say", "evitar": "avoid", "cuándo": "when"}
"""Admonition titles parsed as lists: phrases to say, phrases to avoid, situations the card answers."""

_HEADING = re.compile(r"^(#{1,6})[ \t]+(.*?)[ \t]*#*[ \t]*$")
FENCE = re.compile(r"^\s*(```|~~~)")
_ATTRS = re.compile(r"\s*\{:?\s*([^{}]*)\}\s*$")
_ATTR_KV = re.compile(r"""([\w-]+)\s*=\s*(?:"([^"]*)"|'([^']*)'|(\S+))""")
# `!!!` is an admonition; `???` / `???+` the same block collapsible (pymdownx.details), which keeps
# long "Cuándo" lists folded on the site while the panel and the index read them alike.
_ADMONITION = re.compile(r'^(?:!!!|\?\?\?\+?)\s+([\w-]+)(?:\s+"([^"]*)")?\s*$')
_LIST_ITEM = re.compile(r"^\s{0,3}(?:[-*+]|\d+[.)])\s+(.*)$")


@dataclass
class Problem:
    """One thing wrong in a file, printed as `path:line: message` (clickable in editors)."""

    path: str
    line: int
    message: str
    severity: str = "error"  # "error" or "warning"

    def __str__(self) -> str:
        label = "" if self.severity == "error" else "aviso: "
        return f"{self.path}:{self.line}: {label}{self.message}"


class ContentError(Exception):
    """The guides cannot be turned into cards; `problems` says where and why."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


@dataclass
class Phrase:
    text: str
    line: int


@dataclass
class Section:
    """A heading and the lines it owns (up to the next heading of any level)."""

    level: int
    heading: str
    anchor: str
    line: int
    body: list[tuple[int, str]]
    fase: str | None = None
    parent: "Section | None" = None
    children: list["Section"] = field(default_factory=list)

    @property
    def path(self) -> str:
        """Heading path below the page title: 'Paso 1 › No interrumpir'."""
        names = []
        node: Section | None = self
        while node is not None and node.level >= 2:
            names.append(node.heading)
            node = node.parent
        return " › ".join(reversed(names))


@dataclass
class Card:
    """What search returns: a standalone section of a guide."""

    id: str
    title: str
    heading: str
    text: str
    fase: str
    tags: list[str]
    say: list[str]
    avoid: list[str]
    path: str  # site path relative to the site root, with anchor: "guias/x/#anchor"
    source: str  # "docs/guias/x.md:12"
    when: list[str] = field(default_factory=list)  # situations in the agent's words ("Cuándo" block)

    def embedding_text(self) -> str:
        """The text the model sees: where the card sits, what it says, and its phrases."""
        parts = [f"{self.title}. {self.heading}.", self.text]
        if self.say:
            parts.append("Decir: " + " ".join(self.say))
        if self.avoid:
            parts.append("Evitar: " + " ".join(self.avoid))
        return "\n".join(parts)

    def content_hash(self) -> str:
        """Changes whenever anything that is embedded changes (text, phrases or situations)."""
        payload = self.embedding_text() + "\n" + "\n".join(self.when)
        return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:16]

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Guide:
    file: Path
    rel: str  # path relative to the project root, as printed in messages
    page: str  # "guias/cliente-enfadado"
    meta: dict
    meta_lines: dict[str, int]
    sections: list[Section]
    problems: list[Problem]
    lines: list[str]
    body_start: int  # 1-based line where the body starts

    @property
    def indexed(self) -> bool:
        return self.meta.get("indexar", True) is not False

    @property
    def site_path(self) -> str:
        """mkdocs URL of the page with use_directory_urls: 'guias/x/' ('' for index.md)."""
        if self.page == "index":
            return ""
        if self.page.endswith("/index"):
            return self.page[: -len("index")]
        return self.page + "/"

    def cards(self) -> list[Card]:
        if not self.indexed:
            return []
        return [card for s in self.sections if (card := _section_card(self, s)) is not None]


# ---------------------------------------------------------------------------
# Markdown configuration shared with mkdocs


class _IgnoreTagsLoader(yaml.SafeLoader):
    """Reads mkdocs.yml without executing `!!python/...` tags (we only need plain settings)."""


_IgnoreTagsLoader.add_multi_constructor("", lambda loader, suffix, node: None)


def markdown_config(mkdocs_yml: Path | None) -> tuple[list[str], dict]:
    """The markdown extensions of mkdocs.yml, so anchors match the built site exactly."""
    extensions: list[str] = []
    configs: dict = {}
    if mkdocs_yml is not None and mkdocs_yml.is_file():
        config = yaml.load(mkdocs_yml.read_text(encoding="utf-8"), Loader=_IgnoreTagsLoader) or {}
        for entry in config.get("markdown_extensions") or []:
            name, options = (next(iter(entry.items())) if isinstance(entry, dict) else (entry, None))
            extensions.append(str(name))
            if isinstance(options, dict):
                # Settings given as !!python tags load as None: leave those to the extension's default.
                configs[str(name)] = {k: v for k, v in options.items() if v is not None}
    if not any(e in extensions for e in ("fenced_code", "pymdownx.superfences")):
        extensions.append("fenced_code")
    for required in ("toc", "attr_list", "admonition"):
        if required not in extensions:
            extensions.append(required)
    return extensions, configs


_MD_CACHE: dict = {}


def _anchors(text: str, mkdocs_yml: Path | None) -> list[tuple[int, str, str]]:
    """(level, id, name) of every heading, in order, exactly as Python-Markdown makes them."""
    key = str(mkdocs_yml)
    if key not in _MD_CACHE:
        extensions, configs = markdown_config(mkdocs_yml)
        _MD_CACHE[key] = markdown.Markdown(extensions=extensions, extension_configs=configs)
    md = _MD_CACHE[key]
    md.reset()
    md.convert(text)
    flat: list[tuple[int, str, str]] = []

    def walk(tokens: list[dict]) -> None:
        for tok in tokens:
            flat.append((tok["level"], tok["id"], tok["name"]))
            walk(tok["children"])

    walk(md.toc_tokens)
    return flat


# ---------------------------------------------------------------------------
# Reading a guide


def _split_front_matter(lines: list[str], rel: str) -> tuple[str, int, list[Problem]]:
    """Return (yaml text, first body line (1-based), problems)."""
    if not lines or lines[0].strip() != "---":
        return "", 1, [Problem(rel, 1, "falta la cabecera YAML: el archivo debe empezar por una línea '---'")]
    for i in range(1, len(lines)):
        if lines[i].strip() in ("---", "..."):
            return "\n".join(lines[1:i]), i + 2, []
    return "", 1, [Problem(rel, 1, "la cabecera YAML no se cierra: falta la segunda línea '---'")]


def _parse_meta(text: str, rel: str) -> tuple[dict, dict[str, int], list[Problem]]:
    """YAML front matter with the line of every top-level key (front matter starts on line 2)."""
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
        for key_node, _ in node.value:
            lines[str(key_node.value)] = key_node.start_mark.line + 2
    return data, lines, []


def validate_meta(meta: dict, meta_lines: dict[str, int], rel: str) -> list[Problem]:
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
        if isinstance(value, list):
            bad = [v for v in value if not isinstance(v, str) or not v.strip()]
            if bad:
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


def read_guide(file: Path, docs_dir: Path, root: Path | None = None, mkdocs_yml: Path | None = None) -> Guide:
    """Read one guide. Problems are collected on the guide, never raised, so `kb check` can list them all."""
    root = root or docs_dir.parent
    if mkdocs_yml is None and (root / "mkdocs.yml").is_file():
        mkdocs_yml = root / "mkdocs.yml"
    try:
        rel = str(file.relative_to(root))
    except ValueError:
        rel = str(file)
    page = file.relative_to(docs_dir).with_suffix("").as_posix()
    empty = Guide(file, rel, page, {}, {}, [], [], [], 1)
    try:
        raw = file.read_bytes()
    except OSError as exc:
        empty.problems.append(Problem(rel, 1, f"no se puede leer el archivo ({exc.strerror}); revisa sus permisos"))
        return empty
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        empty.problems.append(
            Problem(rel, line, "el archivo no está en UTF-8 (byte no válido); guárdalo con codificación UTF-8")
        )
        return empty
    text = text.lstrip("\ufeff")
    lines = text.split("\n")
    fm_text, body_start, problems = _split_front_matter(lines, rel)
    meta, meta_lines, meta_problems = _parse_meta(fm_text, rel) if not problems else ({}, {}, [])
    problems += meta_problems
    if not problems:
        problems += validate_meta(meta, meta_lines, rel)
    guide = Guide(file, rel, page, meta, meta_lines, [], problems, lines, body_start)
    _read_sections(guide, mkdocs_yml)
    return guide


def _read_sections(guide: Guide, mkdocs_yml: Path | None) -> None:
    lines = guide.lines
    start = guide.body_start - 1
    headings: list[tuple[int, int, str, dict]] = []  # (line, level, text, attrs)
    in_fence = False
    for i in range(start, len(lines)):
        line = lines[i]
        if FENCE.match(line):
            in_fence = not in_fence
            continue
        if in_fence:
            continue
        match = _HEADING.match(line)
        if match:
            text, attrs = _heading_attrs(match.group(2))
            headings.append((i + 1, len(match.group(1)), text, attrs))

    body_text = "\n".join(lines[start:])
    anchors = _anchors(body_text, mkdocs_yml)
    if len(anchors) != len(headings):
        guide.problems.append(
            Problem(guide.rel, guide.body_start, "no se pudieron emparejar los encabezados con sus anclas; "
                    "revisa que cada encabezado empiece por '#' al principio de la línea")
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
                Problem(guide.rel, lineno, f"fase desconocida '{fase}' en el encabezado; usa una de: {', '.join(FASES)}")
            )
            fase = None
        base = re.sub(r"_\d+$", "", anchor)
        if base in seen and anchor != base:
            guide.problems.append(
                Problem(guide.rel, lineno, f"encabezado repetido: '{text}' ya aparece en la línea {seen[base]}; "
                        "cada sección necesita un título único en su página")
            )
        seen.setdefault(anchor, lineno)
        while stack and stack[-1].level >= level:
            stack.pop()
        section = Section(level, text, anchor, lineno, body, fase, stack[-1] if stack else None)
        if section.parent is not None:
            section.parent.children.append(section)
        stack.append(section)
        guide.sections.append(section)
    for section in guide.sections:
        _check_phrase_blocks(guide, section)


# ---------------------------------------------------------------------------
# Section body: prose and phrase blocks


def split_body(section: Section) -> tuple[list[tuple[int, str]], dict[str, list[Phrase]], list[tuple[int, str]]]:
    """Split a section body into prose lines, phrases per block kind, and (line, kind) of each block."""
    prose: list[tuple[int, str]] = []
    phrases: dict[str, list[Phrase]] = {kind: [] for kind in PHRASE_BLOCKS.values()}
    blocks: list[tuple[int, str]] = []
    body = section.body
    i = 0
    while i < len(body):
        lineno, line = body[i]
        match = _ADMONITION.match(line.strip()) if not line.startswith(" ") else None
        if not match:
            prose.append((lineno, line))
            i += 1
            continue
        title = (match.group(2) or "").strip().lower()
        kind = PHRASE_BLOCKS.get(title)
        i += 1
        inner: list[tuple[int, str]] = []
        while i < len(body) and (not body[i][1].strip() or body[i][1].startswith(("    ", "\t"))):
            inner.append((body[i][0], body[i][1][4:] if body[i][1].startswith("    ") else body[i][1].lstrip("\t")))
            i += 1
        if kind is None:
            prose.extend(inner)  # a note/example admonition: its text is prose
            continue
        blocks.append((lineno, kind))
        for inner_line, text in inner:
            item = _LIST_ITEM.match(text)
            if item and item.group(1).strip():
                phrases[kind].append(Phrase(strip_markup(item.group(1)), inner_line))
    return prose, phrases, blocks


def _check_phrase_blocks(guide: Guide, section: Section) -> None:
    body = section.body
    for idx, (lineno, line) in enumerate(body):
        match = _ADMONITION.match(line.strip()) if not line.startswith(" ") else None
        if not match or (match.group(2) or "").strip().lower() not in PHRASE_BLOCKS:
            continue
        title = match.group(2).strip()
        items = 0
        for inner_line, text in body[idx + 1 :]:
            if text.strip() and not text.startswith(("    ", "\t")):
                break
            if not text.strip():
                continue
            content = text[4:] if text.startswith("    ") else text.lstrip("\t")
            item = _LIST_ITEM.match(content)
            if item and item.group(1).strip():
                items += 1
            elif not content.startswith(" "):
                guide.problems.append(
                    Problem(guide.rel, inner_line, f"el bloque '{title}' solo admite una lista de frases ('- frase')")
                )
        if items == 0:
            guide.problems.append(
                Problem(guide.rel, lineno, f"el bloque '{title}' no tiene ninguna frase; añade al menos una línea '    - frase'")
            )


_LINK = re.compile(r"!?\[([^\]]*)\]\([^)]*\)")
_EMPH = re.compile(r"(\*\*|__|\*|_|`)(?=\S)(.+?)(?<=\S)\1")
_HTML = re.compile(r"<[^>]+>")


def strip_markup(text: str) -> str:
    """Markdown inline markup → plain text (links keep their words)."""
    text = _LINK.sub(r"\1", text)
    for _ in range(2):
        text = _EMPH.sub(r"\2", text)
    text = _HTML.sub("", text)
    return re.sub(r"\s+", " ", text).strip()


def prose_text(lines: list[tuple[int, str]]) -> str:
    """Prose lines → plain text paragraphs; list items keep one per line."""
    out: list[str] = []
    paragraph: list[str] = []
    for _, line in lines:
        stripped = line.strip()
        if FENCE.match(line):
            continue
        item = _LIST_ITEM.match(line)
        if not stripped or item or stripped.startswith(">"):
            if paragraph:
                out.append(strip_markup(" ".join(paragraph)))
                paragraph = []
            if item:
                out.append("• " + strip_markup(item.group(1)))
            elif stripped.startswith(">"):
                paragraph.append(stripped.lstrip("> "))
            continue
        if stripped.startswith("|") and set(stripped) <= set("|-: "):
            continue
        paragraph.append(stripped.strip("|"))
    if paragraph:
        out.append(strip_markup(" ".join(paragraph)))
    return "\n".join(p for p in out if p)


def _section_card(guide: Guide, section: Section) -> Card | None:
    if section.level < 2:
        return None
    prose, phrases, _ = split_body(section)
    text = prose_text(prose)
    if not text and not phrases["say"] and not phrases["avoid"]:
        return None  # a heading that only groups its subsections
    fase = section.fase
    node = section.parent
    while fase is None and node is not None:
        fase, node = node.fase, node.parent
    return Card(
        id=f"{guide.page}#{section.anchor}",
        title=str(guide.meta.get("title", guide.page)),
        heading=section.path,
        text=text,
        fase=fase or str(guide.meta.get("fase", "")),
        tags=[str(t) for t in guide.meta.get("tags", []) or []],
        say=[p.text for p in phrases["say"]],
        avoid=[p.text for p in phrases["avoid"]],
        path=f"{guide.site_path}#{section.anchor}",
        source=f"{guide.rel}:{section.line}",
        when=[p.text for p in phrases["when"]],
    )


# ---------------------------------------------------------------------------
# The whole docs folder


def guide_files(docs_dir: Path) -> list[Path]:
    """Every markdown file below docs/, in a stable order."""
    return sorted(p for p in docs_dir.rglob("*.md") if p.is_file() or p.is_symlink())


def read_guides(docs_dir: Path, root: Path | None = None, mkdocs_yml: Path | None = None) -> list[Guide]:
    root = root or docs_dir.parent
    if mkdocs_yml is None and (root / "mkdocs.yml").is_file():
        mkdocs_yml = root / "mkdocs.yml"
    return [read_guide(f, docs_dir, root, mkdocs_yml) for f in guide_files(docs_dir)]


GENERATED_PAGES = {"chuleta.md"}
"""Pages the mkdocs hook generates at build time: they are in the nav but not in docs/."""


def check_nav(root: Path, docs_dir: Path, mkdocs_yml: Path | None = None) -> list[Problem]:
    """Every page named in mkdocs.yml's nav must exist (a deleted guide is caught here, with its line)."""
    mkdocs_yml = mkdocs_yml or root / "mkdocs.yml"
    if not mkdocs_yml.is_file():
        return []
    text = mkdocs_yml.read_text(encoding="utf-8")
    config = yaml.load(text, Loader=_IgnoreTagsLoader) or {}
    pages: list[str] = []

    def walk(node: object) -> None:
        if isinstance(node, str) and node.endswith(".md"):
            pages.append(node)
        elif isinstance(node, list):
            for item in node:
                walk(item)
        elif isinstance(node, dict):
            for value in node.values():
                walk(value)

    walk(config.get("nav") or [])
    problems = []
    rel = mkdocs_yml.name if mkdocs_yml.parent == root else str(mkdocs_yml)
    lines = text.split("\n")
    for page in pages:
        if page in GENERATED_PAGES or (docs_dir / page).is_file():
            continue
        line = next((i + 1 for i, l in enumerate(lines) if l.rstrip().endswith(page)), 1)
        problems.append(Problem(rel, line, f"el menú (nav) enlaza la guía '{page}', que no existe en {docs_dir.name}/; "
                                           "restáurala o quítala del menú"))
    return problems


def load_cards(docs_dir: Path, root: Path | None = None, mkdocs_yml: Path | None = None) -> list[Card]:
    """All cards of all indexed guides; raises ContentError listing every error if any guide is broken."""
    if not docs_dir.is_dir():
        raise ContentError([Problem(str(docs_dir), 1, "no existe la carpeta de guías; revisa KB_DOCS")])
    root = root or docs_dir.parent
    guides = read_guides(docs_dir, root, mkdocs_yml)
    errors = [p for g in guides for p in g.problems if p.severity == "error"]
    errors += check_nav(root, docs_dir, mkdocs_yml)
    if errors:
        raise ContentError(errors)
    cards = [card for g in guides for card in g.cards()]
    seen: dict[str, str] = {}
    dup = []
    for card in cards:
        if card.id in seen:
            file, _, line = card.source.rpartition(":")
            dup.append(Problem(file, int(line), f"id de tarjeta repetido '{card.id}' (ya en {seen[card.id]})"))
        seen[card.id] = card.source
    if dup:
        raise ContentError(dup)
    return cards


def main(argv: list[str] | None = None) -> int:
    """`python -m kb.content [docs]`: list card ids with word counts (a quick check for writers)."""
    argv = sys.argv[1:] if argv is None else argv
    docs = Path(argv[0]) if argv else Path("docs")
    try:
        cards = load_cards(docs.resolve())
    except ContentError as exc:
        print(exc, file=sys.stderr)
        return 1
    for card in cards:
        words = len(card.embedding_text().split())
        print(f"{card.id}\t{words} palabras\t{card.fase}\t{len(card.say)} decir / {len(card.avoid)} evitar")
    print(f"{len(cards)} tarjetas", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
