"""A real, throwaway PostgreSQL server for the tests: `postgres_url` (session fixture).

Started with the distribution's own binaries (`initdb` + `pg_ctl`) as the `postgres`
system user — `initdb` refuses to run as root — in a temporary folder, on a free
loopback port, with its unix socket inside that folder and trust authentication
(loopback only, for tests). Stopped and deleted at the end of the session.

Without PostgreSQL the tests that need it are skipped, saying why; under `CI=true`
they fail instead, so a CI machine missing the server cannot pass silently.
`/usr/local/bin/pg_ctl` may exist without a server (a client-only install), so the
binaries are looked for next to a `postgres` executable.

Use in a test module with `from tests.pg import postgres_server, postgres_url  # noqa: F401`.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.parts import missing
from tests.support.waits import free_port

SYSTEM_USER = "postgres"
DATABASE = "kb_test"


def find_bindir() -> Path | None:
    """The newest `/usr/lib/postgresql/<version>/bin` with a server, or the one `pg_config` names."""
    candidates = sorted(
        glob.glob("/usr/lib/postgresql/*/bin"),
        key=lambda p: int(Path(p).parent.name) if Path(p).parent.name.isdigit() else 0,
        reverse=True,
    )
    pg_config = shutil.which("pg_config")
    if pg_config:
        out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=False).stdout.strip()
        if out:
            candidates.append(out)
    for path in map(Path, candidates):
        if all((path / name).is_file() for name in ("postgres", "initdb", "pg_ctl")):
            return path
    return None


def unavailable(reason: str) -> None:
    """Skip, or fail under CI where a missing PostgreSQL is a broken machine, not a choice."""
    missing(f"PostgreSQL no disponible: {reason}")


@dataclass
class PostgresServer:
    """One server process; `stop()`/`start()` let a test take it away and bring it back."""

    bindir: Path
    root: Path
    port: int
    as_user: list[str]

    @property
    def datadir(self) -> Path:
        return self.root / "data"

    @property
    def sockdir(self) -> Path:
        return self.root / "sock"

    def url(self, database: str = DATABASE) -> str:
        return f"postgresql+psycopg://{SYSTEM_USER}@127.0.0.1:{self.port}/{database}"

    def fresh_database(self, prefix: str = "t") -> str:
        """A new empty database on this server, so tests never see each other's rows; returns its URL."""
        import uuid

        import sqlalchemy as sa

        name = f"{prefix}_{uuid.uuid4().hex[:12]}"
        engine = sa.create_engine(self.url("postgres"), isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as conn:
                conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        finally:
            engine.dispose()
        return self.url(name)

    def run(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [*self.as_user, *args], capture_output=True, text=True, timeout=timeout, cwd=self.root, check=False
        )
        if proc.returncode != 0:
            raise RuntimeError(f"{' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
        return proc

    def initdb(self) -> None:
        self.run(
            str(self.bindir / "initdb"),
            "-D",
            str(self.datadir),
            "-U",
            SYSTEM_USER,
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C.UTF-8",
            "--no-sync",
        )

    def start(self) -> None:
        opts = (
            f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.sockdir} "
            "-c fsync=off -c full_page_writes=off -c max_connections=200"
        )
        # fsync=off: the server's durability against power loss is not under test, commits are.
        self.run(
            str(self.bindir / "pg_ctl"),
            "-D",
            str(self.datadir),
            "-l",
            str(self.root / "server.log"),
            "-o",
            opts,
            "-w",
            "-t",
            "60",
            "start",
        )

    def stop(self, mode: str = "fast") -> None:
        self.run(str(self.bindir / "pg_ctl"), "-D", str(self.datadir), "-m", mode, "-w", "-t", "60", "stop")

    def pids(self) -> list[int]:
        """The postmaster (first line of its pid file) and every process it forked, read from /proc."""
        postmaster = int((self.datadir / "postmaster.pid").read_text().split()[0])
        children = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                parent = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue  # a process that ended while we looked
            if parent == postmaster:
                children.append(int(stat.parent.name))
        return [postmaster, *children]

    @contextmanager
    def frozen(self) -> Iterator[list[int]]:
        """The whole server stopped with SIGSTOP (a paused VM, a partition without a reset: connections
        stay open, the kernel still accepts, nothing answers), resumed with SIGCONT however the block ends."""
        pids = self.pids()
        try:
            for pid in pids:
                os.kill(pid, signal.SIGSTOP)
            yield pids
        finally:
            for pid in pids:
                with suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGCONT)

    def create_database(self, name: str) -> None:
        self.run(str(self.bindir / "createdb"), "-h", str(self.sockdir), "-p", str(self.port), "-U", SYSTEM_USER, name)


def start_server() -> PostgresServer:
    """initdb + start in a fresh temporary folder; raises (never skips) if anything fails."""
    bindir = find_bindir()
    if bindir is None:
        unavailable("no initdb/pg_ctl/postgres under /usr/lib/postgresql/*/bin (apt-get install postgresql)")
    assert bindir is not None
    if os.geteuid() == 0:
        try:
            pw = pwd.getpwnam(SYSTEM_USER)
        except KeyError:
            unavailable(f"running as root and there is no '{SYSTEM_USER}' system user to run initdb as")
        as_user = ["runuser", "-u", SYSTEM_USER, "--"]
    else:
        pw, as_user = None, []
    root = Path(tempfile.mkdtemp(prefix="kb-pg-"))
    (root / "sock").mkdir()
    if pw is not None:
        for path in (root, root / "sock"):
            os.chown(path, pw.pw_uid, pw.pw_gid)
    server = PostgresServer(bindir=bindir, root=root, port=free_port(), as_user=as_user)
    try:
        server.initdb()
        server.start()
        server.create_database(DATABASE)
    except BaseException:
        log = root / "server.log"
        if log.is_file():
            print(log.read_text(errors="replace")[-3000:])
        shutil.rmtree(root, ignore_errors=True)
        raise
    return server


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    started = time.perf_counter()
    server = start_server()
    print(
        f"\nPostgreSQL {server.bindir.parent.name} on port {server.port} ready in {time.perf_counter() - started:.1f} s"
    )
    try:
        yield server
    finally:
        try:
            server.stop("immediate")
        except (RuntimeError, subprocess.TimeoutExpired):
            pass  # already stopped by a test that failed half-way
        shutil.rmtree(server.root, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_url(postgres_server: PostgresServer) -> str:
    """URL of an empty database on the session's server (`postgresql+psycopg://…`)."""
    return postgres_server.url()
