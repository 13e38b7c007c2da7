"""Settings, read once from environment variables and an optional `kb.toml`.

Every setting has a default that works on a fresh clone, so `make run` needs no
configuration. Precedence: environment variable > `kb.toml` > default.

| setting      | env var          | default                      |
|--------------|------------------|------------------------------|
| root         | KB_HOME          | the folder holding `docs/`   |
| docs_dir     | KB_DOCS          | <root>/docs                  |
| index_dir    | KB_INDEX         | <root>/index                 |
| site_dir     | KB_SITE_DIR      | <root>/site                  |
| model        | KB_MODEL         | see kb.embedding.DEFAULT_MODEL |
| site_url     | KB_SITE_URL      | http://127.0.0.1:8000/       |
| feedback_db  | KB_FEEDBACK_DB   | <root>/feedback.db           |
| host         | KB_HOST          | 127.0.0.1                    |
| panel_port   | KB_PANEL_PORT    | 8501                         |
| site_port    | KB_SITE_PORT     | 8000                         |
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path

PACKAGE_ROOT = Path(__file__).resolve().parent.parent


class ConfigError(Exception):
    """A setting has a value we cannot use; the message says which and how to fix it."""


def _find_root() -> Path:
    env = os.environ.get("KB_HOME")
    if env:
        return Path(env).resolve()
    cwd = Path.cwd()
    if (cwd / "docs").is_dir() and (cwd / "mkdocs.yml").is_file():
        return cwd
    return PACKAGE_ROOT


@dataclass(frozen=True)
class Settings:
    root: Path
    docs_dir: Path
    index_dir: Path
    site_dir: Path
    model: str
    site_url: str
    feedback_db: Path
    host: str = "127.0.0.1"
    panel_port: int = 8501
    site_port: int = 8000
    extra: dict = field(default_factory=dict)

    @property
    def mkdocs_yml(self) -> Path:
        return self.root / "mkdocs.yml"

    def with_(self, **changes) -> "Settings":
        """A copy with some settings changed (tests and the CLI's options use it)."""
        return replace(self, **changes)


def _port(name: str, value: object) -> int:
    try:
        port = int(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ConfigError(f"{name} debe ser un número de puerto, no {value!r}.") from None
    if not 1 <= port <= 65535:
        raise ConfigError(f"{name} debe estar entre 1 y 65535, no {port}.")
    return port


def load_settings(root: Path | None = None) -> Settings:
    """Read the settings for a project folder (default: KB_HOME, the cwd, or this checkout)."""
    from kb.embedding import DEFAULT_MODEL

    root = Path(root).resolve() if root else _find_root()
    file_values: dict = {}
    toml_path = root / "kb.toml"
    if toml_path.is_file():
        try:
            file_values = tomllib.loads(toml_path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{toml_path}: no se puede leer la configuración: {exc}") from None

    def get(key: str, env: str, default: object) -> object:
        if os.environ.get(env):
            return os.environ[env]
        return file_values.get(key, default)

    def path(key: str, env: str, default: Path) -> Path:
        value = Path(str(get(key, env, default)))
        return value if value.is_absolute() else (root / value)

    site_url = str(get("site_url", "KB_SITE_URL", "http://127.0.0.1:8000/"))
    if not site_url.endswith("/"):
        site_url += "/"
    return Settings(
        root=root,
        docs_dir=path("docs_dir", "KB_DOCS", root / "docs"),
        index_dir=path("index_dir", "KB_INDEX", root / "index"),
        site_dir=path("site_dir", "KB_SITE_DIR", root / "site"),
        model=str(get("model", "KB_MODEL", DEFAULT_MODEL)),
        site_url=site_url,
        feedback_db=path("feedback_db", "KB_FEEDBACK_DB", root / "feedback.db"),
        host=str(get("host", "KB_HOST", "127.0.0.1")),
        panel_port=_port("KB_PANEL_PORT", get("panel_port", "KB_PANEL_PORT", 8501)),
        site_port=_port("KB_SITE_PORT", get("site_port", "KB_SITE_PORT", 8000)),
        extra={k: v for k, v in file_values.items()},
    )
