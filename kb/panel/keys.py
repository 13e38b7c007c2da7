"""The panel's own CSS and its one script: keyboard shortcuts, copy buttons, focus on load.

Both are real files (`static/panel.css`, `static/panel.js`) so editors, linters and reviewers see
them as CSS and JavaScript; this module reads them once and injects them with `st.html`. Static
text only (nothing from users or guides goes in). The script guards itself so a rerun never
installs a second set of listeners. Shortcuts: «/» puts the cursor in the search box from anywhere;
Alt+1/2/3 copies the first Decir phrase of result 1/2/3 (`event.code`, so it works on layouts where
Alt+1 types a character).
"""

from __future__ import annotations

from pathlib import Path

SEARCH_LABEL = "¿Qué está pasando en la llamada?"
HINT = "Atajos: / buscar · Alt+1, Alt+2, Alt+3 copian la primera frase del resultado 1, 2, 3"
STATIC = Path(__file__).with_name("static")


def _read(name: str) -> str:
    return (STATIC / name).read_text(encoding="utf-8")


STYLE = f"<style>\n{_read('panel.css')}</style>"
SCRIPT = f"<script>\n{_read('panel.js')}</script>".replace("__SEARCH_LABEL__", SEARCH_LABEL)
