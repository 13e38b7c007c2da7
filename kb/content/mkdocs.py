"""mkdocs.yml, read once: the markdown extensions (so anchors match the site) and the nav.

Why here: card URLs must point at the anchors mkdocs really generates, and a guide
named in the nav but missing from docs/ is a content error with a line number. Both
need the same file, so it is parsed once per (path, mtime) and shared.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import markdown
import yaml

from kb.content.model import Problem

PHRASEBOOK_PAGE = "chuleta.md"
"""The page the mkdocs hook generates at build time: it is in the nav but not in docs/."""
PRACTICE_PAGE = "practica.md"
"""The practice page (kb.site.practice), generated like the phrasebook."""
GENERATED_PAGES = frozenset({PHRASEBOOK_PAGE, PRACTICE_PAGE})


class _IgnoreTagsLoader(yaml.SafeLoader):
    """Reads mkdocs.yml without executing `!!python/...` tags (we only need plain settings)."""


_IgnoreTagsLoader.add_multi_constructor("", lambda loader, suffix, node: None)


@dataclass(frozen=True)
class MkdocsConfig:
    """What kb needs from mkdocs.yml."""

    path: Path | None
    extensions: list[str] = field(default_factory=list)
    extension_configs: dict[str, dict[str, Any]] = field(default_factory=dict)
    nav_pages: list[str] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)

    def markdown(self) -> markdown.Markdown:
        """A Python-Markdown converter configured like the site (for heading anchors)."""
        return markdown.Markdown(extensions=self.extensions, extension_configs=self.extension_configs)

    def nav_problems(self, root: Path, docs_dir: Path) -> list[Problem]:
        """Every page named in the nav must exist (a deleted guide is caught here, with its line)."""
        if self.path is None:
            return []
        rel = self.path.name if self.path.parent == root else str(self.path)
        problems = []
        for page in self.nav_pages:
            if page in GENERATED_PAGES or (docs_dir / page).is_file():
                continue
            line = next((i + 1 for i, text in enumerate(self.lines) if text.rstrip().endswith(page)), 1)
            problems.append(
                Problem(
                    rel,
                    line,
                    f"el menú (nav) enlaza la guía '{page}', que no existe en "
                    f"{docs_dir.name}/; restáurala o quítala del menú",
                )
            )
        return problems


def _nav_pages(node: object) -> list[str]:
    if isinstance(node, str):
        return [node] if node.endswith(".md") else []
    if isinstance(node, list):
        return [page for item in node for page in _nav_pages(item)]
    if isinstance(node, dict):
        return [page for value in node.values() for page in _nav_pages(value)]
    return []


def _extensions(config: dict[str, Any]) -> tuple[list[str], dict[str, dict[str, Any]]]:
    extensions: list[str] = []
    configs: dict[str, dict[str, Any]] = {}
    for entry in config.get("markdown_extensions") or []:
        name, options = next(iter(entry.items())) if isinstance(entry, dict) else (entry, None)
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


@lru_cache(maxsize=8)
def _read(path: Path | None, mtime_ns: int) -> MkdocsConfig:
    if path is None:
        return MkdocsConfig(None, *_extensions({}))
    text = path.read_text(encoding="utf-8")
    config = yaml.load(text, Loader=_IgnoreTagsLoader) or {}
    extensions, configs = _extensions(config)
    return MkdocsConfig(path, extensions, configs, _nav_pages(config.get("nav") or []), text.split("\n"))


def read_mkdocs(path: Path | None) -> MkdocsConfig:
    """The config at `path` (None or a missing file: defaults, no nav). Cached until the file changes."""
    if path is None or not path.is_file():
        return _read(None, 0)
    path = path.resolve()
    return _read(path, path.stat().st_mtime_ns)
