"""Waiting on conditions, never on the clock: the one way tests and benchmarks wait.

Every wait polls for a condition and returns as soon as it holds, so a ceiling costs nothing
when the machine is quick; the ceiling is generous (`CEILING`) because the same suite runs on
slower CPUs and with both cores busy. When a ceiling is hit the message says what was awaited
and what was there instead, so a red run explains itself.
"""

from __future__ import annotations

import signal
import socket
import ssl
import subprocess
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

CEILING = 300.0
"""Seconds before a wait gives up: minutes on a busy two-core machine, never reached when all is well."""
CEILING_MS = CEILING * 1000


class WaitTimeout(AssertionError):
    """A condition did not hold within its ceiling (an AssertionError, so pytest reports it as a failure)."""


def wait_until(
    condition: Callable[[], Any], awaited: str, *, ceiling: float = CEILING, seen: Callable[[], object] | None = None
) -> Any:
    """Poll `condition` until it returns something true and return that; on the ceiling, raise
    WaitTimeout naming `awaited` and, when given, what `seen()` shows instead."""
    deadline = time.monotonic() + ceiling
    pause = 0.02
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            instead = f"; había: {seen()}" if seen is not None else ""
            raise WaitTimeout(f"tras {ceiling:.0f} s sin {awaited}{instead}")
        time.sleep(pause)
        pause = min(pause * 1.5, 0.5)


def answers(url: str, context: ssl.SSLContext | None = None) -> bool:
    """`url` answers 200 now (HTTPS checked against `context`, e.g. a deployment's own certificate)."""
    try:
        with urllib.request.urlopen(url, timeout=5, context=context) as response:
            return response.status == 200
    except OSError:
        return False


def wait_http(
    url: str,
    *,
    ceiling: float = CEILING,
    proc: subprocess.Popen | None = None,
    log: Path | None = None,
    context: ssl.SSLContext | None = None,
) -> float:
    """Seconds until `url` answers 200; fails at once, with its log, if `proc` dies first."""
    started = time.monotonic()

    def ready() -> bool:
        if proc is not None and proc.poll() is not None:
            tail = log.read_text(encoding="utf-8", errors="replace")[-4000:] if log else ""
            raise WaitTimeout(f"el proceso terminó (código {proc.returncode}) antes de que {url} respondiera\n{tail}")
        return answers(url, context)

    wait_until(ready, f"respuesta 200 de {url}", ceiling=ceiling, seen=lambda: log_tail(log))
    return time.monotonic() - started


def log_tail(log: Path | None, chars: int = 4000) -> str:
    if log is None or not log.exists():
        return "(sin registro)"
    return log.read_text(encoding="utf-8", errors="replace")[-chars:]


def page_wait(page: Any, expression: str, awaited: str, arg: Any = None, *, ceiling_ms: float = CEILING_MS) -> None:
    """Playwright's wait_for_function with the ceiling, and on timeout the page's visible text
    instead of Playwright's bare «Timeout exceeded»."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        page.wait_for_function(expression, arg=arg, timeout=ceiling_ms, polling="raf")
    except PlaywrightTimeout:
        text = page.evaluate("() => document.body ? document.body.innerText : ''")
        raise WaitTimeout(f"tras {ceiling_ms / 1000:.0f} s sin {awaited}; la página mostraba:\n{text[:3000]}") from None


def free_port() -> int:
    """A loopback port free right now (the OS picks it)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def stop_process(proc: subprocess.Popen[Any], sig: int = signal.SIGTERM, grace: float = 30.0) -> None:
    """Ask `proc` to end with `sig` and wait for it; kill it if it is still there after `grace` seconds
    (a process that ignores the request must not outlive the test that started it)."""
    if proc.poll() is not None:
        return
    proc.send_signal(sig)
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
