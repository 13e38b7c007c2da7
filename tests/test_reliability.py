"""Nothing a user types or a trainer saves may crash kb, show wrong results silently, run code or lose data.

The panel's side of these guarantees (injection shown as text, notices instead of
results from a broken index) is in tests/test_reliability_panel.py.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
from contextlib import closing
from pathlib import Path

import pytest
from click.testing import CliRunner
from filelock import FileLock

from kb.cli import main
from kb.content import ContentError
from kb.errors import BuildBusy, IndexDamaged
from kb.feedback.store import FeedbackStore
from kb.retrieval.build import build_index
from kb.retrieval.store import current_path, load_index
from kb.search.searcher import MAX_QUERY_CHARS, QueryError, Searcher, clean_query
from tests.conftest import BAD_QUERIES, ROOT, SMALL, make_docs, run_threads, snapshot
from tests.support.waits import wait_until

# ---------------------------------------------------------------- bad queries


@pytest.mark.parametrize("name", BAD_QUERIES)
def test_api_answers_bad_queries_with_a_result_or_a_spanish_message(searcher, name):
    query = BAD_QUERIES[name]
    try:
        response = searcher.search(query)
    except QueryError as exc:
        assert re.search(r"(Escribe|Describe)", str(exc))
        return
    assert len(response.query) <= MAX_QUERY_CHARS
    assert len(response.results) == 3, "a query with words always gets candidates (maybe low confidence)"
    assert response.query == clean_query(query)[0]
    if len(query) > MAX_QUERY_CHARS:
        assert response.notices


def test_injected_markup_is_returned_as_plain_query_text(searcher):
    response = searcher.search(BAD_QUERIES["script"])
    assert response.query == "<script>alert(1)</script>"  # data, never interpreted here
    assert response.low_confidence


@pytest.mark.parametrize("name", BAD_QUERIES)
def test_cli_never_shows_a_traceback(built_index, name):
    out = CliRunner().invoke(main, ["search", BAD_QUERIES[name], "--json"])
    assert out.exception is None or isinstance(out.exception, SystemExit)
    assert "Traceback" not in out.output
    assert out.exit_code in (0, 2)


def test_batch_survives_every_bad_query(built_index):
    text = "\n".join(q.replace("\n", " ") for q in BAD_QUERIES.values()) + "\n"
    out = CliRunner().invoke(main, ["search", "--batch"], input=text)
    assert out.exit_code == 0
    assert len(out.output.splitlines()) == len(BAD_QUERIES)


def test_batch_tolerates_invalid_utf8_on_stdin(built_index):
    kb_bin = Path(sys.executable).parent / "kb"
    proc = subprocess.run(
        [str(kb_bin), "search", "--batch"],
        input=b"me grita \xff\xfe\nhola\n",
        capture_output=True,
        env=dict(os.environ, KB_INDEX=str(built_index.index_dir)),
    )
    assert proc.returncode == 0, proc.stderr
    assert len(proc.stdout.decode().splitlines()) == 2


# ---------------------------------------------------------------- broken content


@pytest.fixture
def project(tmp_path, embedder):
    root = make_docs(tmp_path, SMALL)
    build_index(root / "docs", root / "index", embedder, root=root)
    return root


BROKEN = {
    "front matter": ("guias/enfado.md", lambda t: t.replace("fase: calma", "fase: [calma"), "docs/guias/enfado.md:5:"),
    "no utf-8": (
        "guias/enfado.md",
        lambda t: t.encode("latin-1", "replace") + b"\n\xe9\xff\n",
        "docs/guias/enfado.md:",
    ),
    "unreadable": ("guias/enfado.md", None, "docs/guias/enfado.md:1: no se puede leer"),
}


@pytest.mark.parametrize("case", BROKEN)
def test_broken_guide_fails_the_build_with_file_line_and_keeps_the_index(project, embedder, case):
    name, change, expected = BROKEN[case]
    file = project / "docs" / name
    before = snapshot(project / "index")
    if change is None:
        file.unlink()
        file.symlink_to(project / "no-existe.md")  # unreadable even for root
    else:
        data = change(file.read_text(encoding="utf-8"))
        file.write_bytes(data if isinstance(data, bytes) else data.encode("utf-8"))
    with pytest.raises(ContentError) as caught:
        build_index(project / "docs", project / "index", embedder, root=project)
    assert any(str(p).startswith(expected) for p in caught.value.problems), caught.value.problems
    assert snapshot(project / "index") == before


def test_missing_guide_named_in_the_nav_fails_with_the_mkdocs_line(tmp_path, embedder):
    root = make_docs(tmp_path, SMALL)
    with open(root / "mkdocs.yml", "a", encoding="utf-8") as fh:
        fh.write("nav:\n  - guias/enfado.md\n  - guias/reembolsos.md\n")
    build_index(root / "docs", root / "index", embedder, root=root)
    before = snapshot(root / "index")
    (root / "docs" / "guias" / "reembolsos.md").unlink()
    with pytest.raises(ContentError) as caught:
        build_index(root / "docs", root / "index", embedder, root=root)
    nav_line = (root / "mkdocs.yml").read_text().splitlines().index("  - guias/reembolsos.md") + 1
    assert str(caught.value.problems[0]).startswith(f"mkdocs.yml:{nav_line}: el menú (nav) enlaza la guía")
    assert snapshot(root / "index") == before


def test_cli_build_failure_is_a_message_not_a_traceback(project, monkeypatch):
    file = project / "docs" / "guias" / "enfado.md"
    file.write_text(file.read_text().replace("fase: calma", "fase: relax"), encoding="utf-8")
    monkeypatch.setenv("KB_HOME", str(project))
    monkeypatch.delenv("KB_INDEX", raising=False)
    out = CliRunner().invoke(main, ["build", "--index-only"])
    assert out.exit_code == 1
    assert "docs/guias/enfado.md:5: fase desconocida 'relax'" in out.output
    assert "El índice anterior sigue en uso" in out.output
    assert "Traceback" not in out.output


# ---------------------------------------------------------------- damaged index


def test_no_pickle_anywhere_in_the_package():
    for file in (ROOT / "kb").rglob("*.py"):
        text = file.read_text(encoding="utf-8")
        assert not re.search(r"^\s*(import|from)\s+(pickle|cPickle|dill|joblib)\b", text, re.M), file
        assert "allow_pickle=True" not in text, file
        assert "torch.load(" not in text, file


def test_cli_reports_a_damaged_index_with_the_fix(project, monkeypatch):
    path = current_path(project / "index").resolve()
    (path / "vectors.faiss").write_bytes(b"not a faiss file")
    monkeypatch.setenv("KB_HOME", str(project))
    monkeypatch.delenv("KB_INDEX", raising=False)
    out = CliRunner().invoke(main, ["search", "me grita"])
    assert out.exit_code == 3
    assert "dañado" in out.output and "kb build --index-only" in out.output


def test_cards_and_vectors_out_of_step_are_detected(project, embedder):
    path = current_path(project / "index").resolve()
    lines = (path / "cards.jsonl").read_text(encoding="utf-8").splitlines()
    (path / "cards.jsonl").write_text("\n".join(lines[:-1]) + "\n", encoding="utf-8")
    with pytest.raises(IndexDamaged):
        load_index(project / "index", model_id=embedder.model_id)


# ---------------------------------------------------------------- concurrency


def test_a_second_build_waits_for_the_lock_then_refuses_clearly(project, embedder):
    lock = FileLock(str(project / "index" / ".lock"))
    waited = []
    with lock:
        with pytest.raises(BuildBusy, match="Otra construcción"):
            build_index(
                project / "docs",
                project / "index",
                embedder,
                root=project,
                lock_timeout=0.3,
                on_wait=lambda: waited.append(True),
            )
    assert waited == [True]


def test_two_cli_builds_at_once_both_finish_with_a_valid_index(project, embedder):
    file = project / "docs" / "guias" / "enfado.md"
    file.write_text(file.read_text() + "\n## Otra sección\n\nTexto añadido para forzar una construcción nueva.\n")
    kb_bin = Path(sys.executable).parent / "kb"
    env = dict(os.environ, KB_HOME=str(project))
    env.pop("KB_INDEX", None)
    procs = [
        subprocess.Popen(
            [str(kb_bin), "build", "--index-only"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for _ in range(2)
    ]
    outs = [p.communicate(timeout=240) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    loaded = load_index(project / "index", model_id=embedder.model_id, docs_dir=project / "docs")
    assert any(c.heading == "Otra sección" for c in loaded.cards)
    assert not list((project / "index" / "builds").glob(".tmp-*"))


def test_searching_during_a_build_keeps_answering_then_switches(project, embedder):
    from kb.config import load_settings

    settings = load_settings(project).with_(index_dir=project / "index")
    old = Searcher.load(settings)
    errors: list[BaseException] = []
    answers: list[int] = []
    stop = threading.Event()

    def keep_searching() -> None:
        while not stop.is_set():
            try:
                answers.append(len(old.search("el cliente me grita", 3).results))
            except BaseException as exc:  # noqa: BLE001
                errors.append(exc)

    worker = threading.Thread(target=keep_searching)
    worker.start()
    try:
        file = project / "docs" / "guias" / "reembolsos.md"
        file.write_text(file.read_text() + "\n## Sección nueva\n\nCómo ofrecer un vale cuando no hay reembolso.\n")
        build_index(project / "docs", project / "index", embedder, root=project)
        after_build = len(answers)
        wait_until(lambda: len(answers) > after_build + 3, "búsquedas en el índice anterior tras cambiar el actual")
    finally:
        stop.set()
        worker.join()
    assert not errors and answers and all(n == 3 for n in answers)
    assert not old.is_current()
    new = Searcher.load(settings)
    assert len(new.cards) == len(old.cards) + 1


def test_many_threads_searching_at_once(searcher):
    queries = ["me grita", "quiere un reembolso", "dice que mentimos", "quiere al supervisor", "necesito un respiro"]
    counts: list[int] = []

    def worker(n: int) -> None:
        for i in range(20):
            counts.append(len(searcher.search(queries[(n + i) % len(queries)], 3).results))

    assert run_threads(worker, 20) == []
    assert counts == [3] * 400


def test_same_query_same_answer_under_load(searcher):
    expected = [r.card.id for r in searcher.search("dice que le hemos mentido", 3).results]
    results: list[list[str]] = []

    def worker(_: int) -> None:
        for _ in range(10):
            results.append([r.card.id for r in searcher.search("dice que le hemos mentido", 3).results])

    assert run_threads(worker, 8) == []
    assert all(r == expected for r in results)


# ---------------------------------------------------------------- exposure


def test_panel_and_site_bind_loopback_by_default(monkeypatch):
    from kb.config import load_settings
    from kb.serving.serve import streamlit_command

    monkeypatch.delenv("KB_HOST", raising=False)
    settings = load_settings(ROOT)
    assert settings.host == "127.0.0.1"
    cmd = streamlit_command(settings)
    assert cmd[cmd.index("--server.address") + 1] == "127.0.0.1"
    assert cmd[cmd.index("--browser.gatherUsageStats") + 1] == "false"


def test_binding_elsewhere_is_an_explicit_setting(monkeypatch):
    from kb.config import load_settings

    monkeypatch.setenv("KB_HOST", "0.0.0.0")
    assert load_settings(ROOT).host == "0.0.0.0"
    assert "KB_HOST" in (ROOT / "README.md").read_text(encoding="utf-8")


def test_every_runtime_dependency_is_pinned():
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    deps = project["dependencies"] + [d for extra in project["optional-dependencies"].values() for d in extra]
    assert deps and all(re.fullmatch(r"[A-Za-z0-9_.\-\[\]]+==[\w.+]+", d) for d in deps), deps
    assert "torch==2.13.0" in deps


SECRET = re.compile(
    r"(-----BEGIN [A-Z ]*PRIVATE KEY-----|AKIA[0-9A-Z]{16}|ghp_[0-9A-Za-z]{30,}|sk-[0-9A-Za-z]{20,}|"
    r"(password|passwd|secret|api_key|token)\s*[:=]\s*['\"][^'\"]{6,})",
    re.I,
)


def test_no_secrets_in_the_repository():
    files = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    hits = []
    for name in files:
        path = ROOT / name
        if path.suffix in {".png", ".faiss"} or not path.is_file():
            continue
        lines = path.read_text(encoding="utf-8", errors="ignore").splitlines()
        # detect-secrets' convention: a line that says so on purpose holds no secret (a test fixture).
        if name != "tests/test_reliability.py" and any(
            SECRET.search(line) and "pragma: allowlist secret" not in line for line in lines
        ):
            hits.append(name)
    assert hits == []


def older_feedback_db(path: Path) -> Path:
    """A feedback database as an older version made it (searches without top_fase)."""
    import sqlite3

    with closing(sqlite3.connect(path)) as conn:
        conn.execute(
            "CREATE TABLE searches (id INTEGER PRIMARY KEY, created_at TEXT NOT NULL, session TEXT, "
            "query TEXT NOT NULL, fase_filter TEXT, top_card_id TEXT, top_score REAL, "
            "low_confidence INTEGER NOT NULL DEFAULT 0, results INTEGER NOT NULL DEFAULT 0)"
        )
    return path


def test_a_feedback_db_from_an_older_version_is_upgraded(tmp_path):
    store = FeedbackStore(older_feedback_db(tmp_path / "old.db"))
    store.record_search("me grita", top_card_id="guias/x#y", top_fase="desahogo", results=3)
    assert store.rows("searches")[0]["top_fase"] == "desahogo"


def test_many_sessions_writing_first_to_an_older_db_lose_nothing(tmp_path):
    """After an upgrade, the first writes of all panel sessions arrive together: one migrates, none fail."""
    for attempt in range(5):
        store = FeedbackStore(older_feedback_db(tmp_path / f"old-{attempt}.db"))
        start = threading.Barrier(16)

        def worker(n: int, store: FeedbackStore = store, start: threading.Barrier = start) -> None:
            start.wait()
            store.record_search(f"consulta {n}", top_fase="calma", results=1)

        assert run_threads(worker, 16) == []
        assert len(store.rows("searches")) == 16
