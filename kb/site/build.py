"""The guides site: `mkdocs build --strict` and the trainer's live preview (`kb preview`).

The hooks that generate the phrasebook and the practice page live in kb/site/hooks.py (mkdocs.yml
names it by path).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable

from kb.config import Settings
from kb.content import ContentError
from kb.embedding.encoders import Encoder
from kb.errors import BuildBusy, SiteBuildError
from kb.retrieval.build import BuildReport, build_index
from kb.retrieval.store import docs_fingerprint
from kb.trainers.learning import learned_for


def _mkdocs(settings: Settings, *args: str) -> list[str]:
    return [sys.executable, "-m", "mkdocs", *args, "-f", str(settings.mkdocs_yml)]


def _env(settings: Settings) -> dict[str, str]:
    # KB_COUNTRY travels too, so a site built with settings.with_(country=…) shows that country's legal lines.
    return dict(os.environ, NO_MKDOCS_2_WARNING="1", KB_HOME=str(settings.root), KB_COUNTRY=settings.country)


def build_site(settings: Settings) -> float:
    """Run `mkdocs build --strict` into settings.site_dir; returns seconds taken."""
    started = time.perf_counter()
    cmd = _mkdocs(settings, "build", "--strict", "--quiet", "-d", str(settings.site_dir))
    proc = subprocess.run(cmd, cwd=settings.root, env=_env(settings), capture_output=True, text=True)
    if proc.returncode != 0:
        output = (proc.stdout + proc.stderr).strip()
        raise SiteBuildError(
            "mkdocs no ha podido construir el sitio (modo estricto):\n"
            + output
            + "\nCorrige los avisos de arriba y vuelve a ejecutar 'kb build --site-only'."
        )
    return time.perf_counter() - started


def start_live_site(settings: Settings) -> subprocess.Popen[bytes]:
    """`mkdocs serve` on the site address: the page reloads on every save, and again when the index
    is rebuilt (the practice page chooses its wrong options from the index, kb.site.practice)."""
    address = f"{settings.host}:{settings.site_port}"
    settings.index_dir.mkdir(parents=True, exist_ok=True)
    command = _mkdocs(settings, "serve", "-a", address, "-w", str(settings.index_dir))
    return subprocess.Popen(command, cwd=settings.root, env=_env(settings))


def watch(
    settings: Settings,
    encoder: Encoder,
    report: Callable[[str, BuildReport | None], None],
    *,
    interval: float = 1.0,
    once: bool = False,
) -> None:
    """Rebuild the index whenever the docs fingerprint changes (polling: no extra dependency).

    `report(message, build)` is told of each outcome: a broken guide keeps the previous index
    (message lists file:line problems, build is None); a finished build passes its report."""
    last = None
    while True:
        current = docs_fingerprint(settings.docs_dir)
        if current != last:
            last = current
            try:
                learned = learned_for(settings, lambda message: report(message, None))
                build = build_index(settings.docs_dir, settings.index_dir, encoder, root=settings.root, learned=learned)
            except ContentError as exc:
                report(exc.message + "\nLas guías tienen errores: el índice anterior sigue en uso.", None)
            except BuildBusy as exc:
                report(exc.message, None)
                last = None  # try again on the next tick
            else:
                if not build.unchanged:
                    report(
                        f"Índice actualizado: {build.cards} tarjetas ({build.embedded} vectorizadas) "
                        f"en {build.seconds:.1f} s",
                        build,
                    )
        if once:
            return
        time.sleep(interval)
