"""Build the static site with mkdocs (strict), the same way `make site` and `kb build` do."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from kb.config import Settings


class SiteBuildError(Exception):
    """mkdocs refused to build; the message carries its warnings."""


def build_site(settings: Settings) -> float:
    """Run `mkdocs build --strict` into settings.site_dir; returns seconds taken."""
    started = time.perf_counter()
    env = dict(os.environ, NO_MKDOCS_2_WARNING="1", KB_HOME=str(settings.root))
    cmd = [
        sys.executable, "-m", "mkdocs", "build", "--strict", "--quiet",
        "-f", str(settings.mkdocs_yml), "-d", str(settings.site_dir),
    ]
    proc = subprocess.run(cmd, cwd=settings.root, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        output = (proc.stdout + proc.stderr).strip()
        raise SiteBuildError(
            "mkdocs no ha podido construir el sitio (modo estricto):\n" + output +
            "\nCorrige los avisos de arriba y vuelve a ejecutar 'kb build --site-only'."
        )
    return time.perf_counter() - started
