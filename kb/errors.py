"""One error family for every failure a user should read: a Spanish message and an exit code.

Library code raises a `KbError` subclass; the CLI maps it to its exit code in one place
(`kb.cli`), the panel shows `message`, the API turns it into a JSON `detail`. Nothing
user-facing is ever a traceback.

    >>> try:
    ...     raise QueryError("La consulta no tiene palabras.")
    ... except KbError as exc:
    ...     exc.exit_code
    2
"""

from __future__ import annotations

import errno

EXIT_ERROR = 1
"""Something the user can fix went wrong (a broken guide, a database path, a site build)."""
EXIT_USAGE = 2
"""The command was called wrongly (options, an empty query, bad configuration)."""
EXIT_INDEX = 3
"""The index or the model cannot be used (missing, stale, damaged)."""


class KbError(Exception):
    """A failure with a message for people, in Spanish, saying what to do next."""

    exit_code = EXIT_ERROR

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def operator_text(self) -> str:
        """What a log or the CLI shows: the message, plus whatever only the operator should read."""
        return self.message


class ConfigError(KbError):
    """A setting has a value we cannot use; the message says which and how to fix it."""

    exit_code = EXIT_USAGE


class UsageError(KbError):
    """A command was called with options that do not fit together."""

    exit_code = EXIT_USAGE


class QueryError(KbError, ValueError):
    """The query cannot be searched (empty, only symbols…); the message says why."""

    exit_code = EXIT_USAGE


class ModelError(KbError):
    """The configured model cannot be loaded; the message says what to do."""

    exit_code = EXIT_INDEX


class IndexProblem(KbError):
    """The index cannot be used. `state` is 'ausente', 'desactualizado' or 'dañado'."""

    exit_code = EXIT_INDEX
    state = "dañado"


class IndexMissing(IndexProblem):
    state = "ausente"


class IndexStale(IndexProblem):
    state = "desactualizado"


class IndexDamaged(IndexProblem):
    state = "dañado"


class BuildBusy(KbError):
    """Another build holds the index lock for longer than we wait."""


class SiteBuildError(KbError):
    """mkdocs refused to build; the message carries its warnings."""


class StoreError(KbError):
    """The feedback/report database cannot be read or written; the message says what to check.

    Agents read `message` (a panel toast, an API 503), so the database's address and the driver's
    own words, which name hosts, ports and files, are kept apart in `where` and `cause`."""

    def __init__(self, message: str, *, where: str = "", cause: str = "") -> None:
        super().__init__(message)
        self.where = where
        self.cause = cause

    def operator_text(self) -> str:
        extra = "".join(f" {part}" for part in (f"({self.cause})" if self.cause else "", self.where) if part)
        return self.message + extra


class AccountsUnavailable(KbError):
    """The users file is missing, unreadable or damaged; pages that need a login stay closed."""


class AccountError(KbError, ValueError):
    """An account cannot be created or changed as asked (bad name, short password, unknown role…)."""

    exit_code = EXIT_USAGE


class AuthError(KbError):
    """A login failed. The message never says whether the name or the password was wrong."""


class AccountLocked(AuthError):
    """Too many failed logins (kb.accounts.throttle); `seconds` says how long until it may try again,
    `fresh` whether this very attempt set the lock (the audit notes that one, not every refusal)."""

    def __init__(self, message: str, seconds: int, *, fresh: bool = False) -> None:
        super().__init__(message)
        self.seconds = seconds
        self.fresh = fresh


_OS_REASONS = {
    errno.ENOENT: "no existe",
    errno.EACCES: "sin permiso",
    errno.EPERM: "sin permiso",
    errno.EISDIR: "es una carpeta, no un archivo",
    errno.ENOTDIR: "una parte de la ruta no es una carpeta",
    errno.EEXIST: "ya existe",
    errno.ENAMETOOLONG: "la ruta es demasiado larga",
    errno.ENOSPC: "no queda espacio en el disco",
    errno.EROFS: "el disco es de solo lectura",
    errno.EMFILE: "demasiados archivos abiertos",
    errno.EADDRINUSE: "ya lo usa otro proceso",
    errno.EADDRNOTAVAIL: "esa dirección no es de esta máquina",
}


def os_reason(error: OSError | UnicodeDecodeError) -> str:
    """Why reading, writing or listening failed, in a few Spanish words, for a KbError message.

    The system's own text (`strerror`) follows the machine's locale, which is English on most
    servers; the error number does not. An unusual one is named by its code (EMFILE, ELOOP…), which
    is what IT searches for.

    >>> os_reason(FileNotFoundError(errno.ENOENT, "No such file or directory"))
    'no existe'
    >>> os_reason(OSError(errno.ELOOP, "Too many levels of symbolic links"))
    'error del sistema ELOOP'
    """
    if isinstance(error, UnicodeDecodeError):
        return "no es texto UTF-8"
    reason = _OS_REASONS.get(error.errno or 0)
    if reason is not None:
        return reason
    code = errno.errorcode.get(error.errno or 0)
    return f"error del sistema {code}" if code else "error del sistema"


__all__ = [
    "EXIT_ERROR",
    "EXIT_INDEX",
    "EXIT_USAGE",
    "AccountError",
    "AccountLocked",
    "AccountsUnavailable",
    "AuthError",
    "BuildBusy",
    "ConfigError",
    "IndexDamaged",
    "IndexMissing",
    "IndexProblem",
    "IndexStale",
    "KbError",
    "ModelError",
    "QueryError",
    "SiteBuildError",
    "StoreError",
    "UsageError",
    "os_reason",
]
