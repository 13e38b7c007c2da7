"""Spanish spell check of guide text with hunspell (pure: text in, unknown words out).

One hunspell process in pipe mode (`-a`) checks every line at once; its answer is
read line by line, so each unknown word keeps the file and line it came from.
Markdown markup, URLs, inline code, slots (`[día]`) and link targets are removed
first: only what a reader sees is checked. Project words (kb, fidelizar…) live in
`kb/data/palabras.txt`, one per line, passed to hunspell as a personal dictionary.

«Cuándo» lines are written the way customers and agents really type, so two things pass there and
nowhere else: the chat shorthand listed in `kb/data/registro-chat.txt` (q, xq, cte…) and a known word
with its accents left out (hunspell proposes the accented word: «gestion» → «gestión»). Prose, Decir
and Evitar, which agents read and say aloud, keep the strict check.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

from kb.content.body import HTML, LINK, SLOT
from kb.errors import KbError
from kb.text import unaccented

DICTIONARY = "es_ES"
WORDS_FILE = Path(__file__).resolve().parent.parent / "data" / "palabras.txt"
CHAT_FILE = Path(__file__).resolve().parent.parent / "data" / "registro-chat.txt"


class SpellingUnavailable(KbError):
    """hunspell or its Spanish dictionary is not installed."""


_CODE = re.compile(r"`[^`]*`")
_URL = re.compile(r"\b(?:https?://|www\.)\S+")
_ATTRS = re.compile(r"\{[^{}]*\}")
_ADMONITION = re.compile(r"^\s*(?:!!!|\?\?\?\+?)\s+[\w-]+")
_MARKS = re.compile(r"[*_#>|~]")


def plain_text(text: str) -> str:
    """What a reader sees of one markdown line, without slots or link targets."""
    text = _CODE.sub(" ", text)
    text = _URL.sub(" ", text)
    text = LINK.sub(r"\1", text)
    text = SLOT.sub(" ", text)
    text = _ATTRS.sub(" ", text)
    text = HTML.sub(" ", text)
    text = _ADMONITION.sub(" ", text)
    text = _MARKS.sub(" ", text)
    return re.sub(r"\s+", " ", text).strip()


def _hunspell_command(words_file: Path | None) -> list[str]:
    exe = shutil.which("hunspell")
    if exe is None:
        raise SpellingUnavailable("no está instalado hunspell (apt-get install hunspell hunspell-es)")
    probe = subprocess.run([exe, "-D"], input="", capture_output=True, text=True)
    listing = probe.stdout + probe.stderr
    if not re.search(rf"[/\\]{DICTIONARY}\s*$", listing, re.MULTILINE):
        raise SpellingUnavailable(f"falta el diccionario {DICTIONARY} de hunspell (apt-get install hunspell-es)")
    cmd = [exe, "-d", DICTIONARY, "-a", "-i", "utf-8"]
    if words_file is not None and Path(words_file).is_file():
        cmd += ["-p", str(words_file)]
    return cmd


def chat_words(path: Path = CHAT_FILE) -> frozenset[str]:
    """The chat shorthand accepted in «Cuándo» lines: one word per line, '#' comments skipped."""
    if not path.is_file():
        return frozenset()
    rows = (line.strip() for line in path.read_text(encoding="utf-8").splitlines())
    return frozenset(row.lower() for row in rows if row and not row.startswith("#"))


def _chat_register_ok(row: str, shorthand: frozenset[str]) -> bool:
    """One hunspell answer row («& word n offset: s1, s2» or «# word offset») for a word a chat line
    may use: listed shorthand, or a known word typed without its accents."""
    head, _, suggestions = row.partition(": ")
    word = head.split()[1]
    if word.lower() in shorthand:
        return True
    bare = unaccented(word).lower()
    return any(s != word and unaccented(s).lower() == bare for s in suggestions.split(", ") if s)


def unknown_words(
    texts: list[tuple[str, int, str]],
    words_file: Path | None = WORDS_FILE,
    chat_lines: frozenset[tuple[str, int]] = frozenset(),
) -> list[tuple[str, int, str]]:
    """(file, line, word) for every word of `texts` ((file, line, text)) that hunspell does not know.

    Lines in `chat_lines` ((file, line)) are in the chat register: see the module docstring."""
    if not texts:
        return []
    cmd = _hunspell_command(words_file)
    cleaned = [plain_text(text) for _, _, text in texts]
    # "^" escapes each line, so a line can never be taken as a hunspell command.
    payload = "".join(f"^{line}\n" for line in cleaned)
    proc = subprocess.run(cmd, input=payload, capture_output=True, text=True, encoding="utf-8")
    if proc.returncode != 0:
        raise SpellingUnavailable(f"hunspell ha fallado: {proc.stderr.strip()}")
    out = proc.stdout.split("\n")[1:]  # first line is the version banner
    shorthand = chat_words() if chat_lines else frozenset()
    results: list[tuple[str, int, str]] = []
    index = 0
    for row in out:
        if index >= len(texts):
            break
        if row == "":
            index += 1  # an empty line ends the answer for one input line
            continue
        if row[0] in "&#":
            file, line, _ = texts[index]
            if (file, line) in chat_lines and _chat_register_ok(row, shorthand):
                continue
            results.append((file, line, row.split()[1]))
    return results
