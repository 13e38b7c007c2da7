"""`make bench`, redaction: how long `kb.feedback.redact.redact` takes on typical texts.

Runs as a script (`python benchmarks/redaction.py`) so that `--root` can time another checkout's
`redact` (PYTHONPATH=that checkout) with the same texts: before/after figures in one session.
Self-contained on purpose: it imports nothing from this checkout but what `--root` points at.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import subprocess
import sys
import timeit
from pathlib import Path

from benchmarks.sections import replace_section

SECTION = "## Anonimización (`kb.feedback.redact`)"

TEXTS = {
    "500 caracteres con 3 teléfonos, 3 DNI y 3 correos": (
        "Hola, el pedido 4512 de 30 euros; DNI 12345678Z, móvil 612 34 56 78, ana@correo.es. " * 6
    )[:500],
    "500 caracteres con teléfonos de MX, AR, CO": (
        "me dio el (55) 1234-5678 y luego el 011 15-1234-5678, y su hermana el 300 123 4567. " * 6
    )[:500],
    "500 caracteres de texto corriente con números": (
        "El cliente del pedido 4512 pagó 30 euros y llamó 5 veces a las 14:30 del 2 de marzo. " * 7
    )[:500],
    "500 caracteres sin cifras": ("El cliente está muy enfadado porque nadie le devuelve el dinero. " * 9)[:500],
    "3.000 caracteres (el máximo de una consulta) con datos": (
        "El cliente del pedido 4512 pagó 30 euros, llamó 5 veces a las 14:30; "
        "DNI 12345678Z, móvil 612 34 56 78, IBAN ES91 2100 0418 4502 0005 1332, ana@correo.es. " * 20
    )[:3000],
}


def measure() -> dict[str, float]:
    """Best of 5 rounds, in ms per call, for each text (after one warm-up call)."""
    from kb.feedback.redact import redact

    out = {}
    for name, text in TEXTS.items():
        redact(text)
        number = 20 if len(text) <= 500 else 3
        rounds = timeit.repeat(functools.partial(redact, text), number=number, repeat=5)
        out[name] = min(rounds) / number * 1000
    return out


def measure_in(root: Path) -> dict[str, float]:
    env = {**os.environ, "PYTHONPATH": str(root)}
    done = subprocess.run(
        [sys.executable, __file__, "--measure"], env=env, cwd=root, capture_output=True, text=True, check=True
    )
    return json.loads(done.stdout)


def section(labels: list[str], results: list[dict[str, float]]) -> str:
    head = "| texto | " + " | ".join(labels) + " |"
    lines = [
        SECTION,
        "",
        f"`python benchmarks/redaction.py`: mejor de 5 rondas, ms por llamada; carga media del equipo "
        f"(1 min) {os.getloadavg()[0]:.1f} en 2 núcleos.",
        "",
        head,
        "|---" * (len(labels) + 1) + "|",
    ]
    for name in TEXTS:
        lines.append(f"| {name} | " + " | ".join(f"{r[name]:.2f} ms" for r in results) + " |")
    return "\n".join([*lines, ""])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Tiempo de la anonimización")
    parser.add_argument("--measure", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--root", action="append", default=[], help="checkout(s) a medir (por defecto este)")
    parser.add_argument("--label", action="append", default=[])
    parser.add_argument("--out", default=None, help="BENCHMARKS.md: sustituye o añade la sección")
    args = parser.parse_args(argv)
    if args.measure:
        print(json.dumps(measure()))
        return 0
    roots = [Path(r).resolve() for r in args.root] or [Path(__file__).resolve().parent.parent]
    labels = args.label or [r.name for r in roots]
    text = section(labels, [measure_in(root) for root in roots])
    print(text)
    if args.out:
        replace_section(Path(args.out), SECTION, text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
