"""The deployment in deploy/ run on loopback from a temporary folder: panel replicas behind nginx, over HTTPS.

tests/test_deploy.py and the load benchmark (benchmarks.load) use it, so both exercise what IT
installs: `kb serve --replicas N --panel-only` (and, when asked, `kb api`) behind deploy/nginx/kb.conf
itself, with only its ports and paths replaced (a replaced line that is missing is an error, not a
silent drift) and a self-signed certificate made by openssl for 127.0.0.1.
Also here: resident memory and CPU time of a process tree, read from /proc (no psutil).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from kb.config import PACKAGE_ROOT
from tests.support.waits import free_port, stop_process, wait_http

NGINX_CONF = PACKAGE_ROOT / "deploy" / "nginx" / "kb.conf"
SHIPPED_UPSTREAMS = (
    "    server 127.0.0.1:8501 max_fails=1 fail_timeout=10s;  # test: panel replicas\n"
    "    server 127.0.0.1:8502 max_fails=1 fail_timeout=10s;\n"
)
ACCESS_LOG = "access_log /var/log/nginx/kb.access.log kb;"
TEMP_PATHS = ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")


def port_is_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_ports(count: int) -> int:
    """The first of `count` consecutive free loopback ports (replicas take consecutive ports)."""
    for _ in range(200):
        first = free_port()
        if first + count < 65535 and all(port_is_free(first + i) for i in range(count)):
            return first
    raise RuntimeError(f"no hay {count} puertos libres seguidos")


def self_signed_certificate(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and localhost, as README's «Certificado» makes one (openssl)."""
    folder.mkdir(parents=True, exist_ok=True)
    crt, key = folder / "kb.crt", folder / "kb.key"
    if not crt.is_file():
        subprocess.run(
            [
                shutil.which("openssl") or "openssl",
                *("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1"),
                *("-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost", "-keyout", str(key), "-out", str(crt)),
            ],
            check=True,
            capture_output=True,
        )
    return crt, key


def render_nginx(
    prefix: Path, *, listen: int, panel_ports: list[int], api_port: int, site_dir: Path, http_port: int = 0
) -> Path:
    """deploy/nginx/kb.conf with loopback ports and paths inside `prefix`, wrapped in a main config
    that, like Debian's nginx.conf, has an http-level `combined` access log every kb server must override."""
    text = NGINX_CONF.read_text(encoding="utf-8")
    crt, key = self_signed_certificate(prefix / "tls")
    http_port = http_port or free_ports(1)
    replacements = {  # old → (new, how many times it must be there)
        SHIPPED_UPSTREAMS: (
            "".join(f"    server 127.0.0.1:{p} max_fails=1 fail_timeout=10s;\n" for p in panel_ports),
            1,
        ),
        "server 127.0.0.1:8600;": (f"server 127.0.0.1:{api_port};", 1),
        "listen 80;": (f"listen 127.0.0.1:{http_port};", 1),
        "listen 443 ssl;": (f"listen 127.0.0.1:{listen} ssl;", 1),
        "return 301 https://$host$request_uri;": (f"return 301 https://$host:{listen}$request_uri;", 1),
        ACCESS_LOG: (f"access_log {prefix}/access.log kb;", 2),
        "ssl_certificate /etc/ssl/kb/kb.crt;": (f"ssl_certificate {crt};", 1),
        "ssl_certificate_key /etc/ssl/kb/kb.key;": (f"ssl_certificate_key {key};", 1),
        "alias /opt/kb/site/;": (f"alias {site_dir}/;", 1),
    }
    for old, (new, times) in replacements.items():
        if text.count(old) != times:
            raise RuntimeError(f"{NGINX_CONF} ya no contiene exactamente {times} vez/veces: {old.strip()!r}")
        text = text.replace(old, new)
    (prefix / "tmp").mkdir(parents=True, exist_ok=True)
    (prefix / "kb.conf").write_text(text, encoding="utf-8")
    temp = "\n".join(f"    {name}_temp_path {prefix}/tmp/{name};" for name in TEMP_PATHS)
    # As root, nginx would run its workers as `nobody`, who cannot read a private temp folder.
    user = "user root;\n" if os.geteuid() == 0 else ""
    main = (
        f"daemon off;\n{user}worker_processes 1;\npid {prefix}/nginx.pid;\nerror_log {prefix}/error.log warn;\n"
        "events { worker_connections 2048; }\n"
        f"http {{\n    include /etc/nginx/mime.types;\n    default_type application/octet-stream;\n{temp}\n"
        f"    access_log {prefix}/default-access.log combined;\n"
        f"    include {prefix}/kb.conf;\n}}\n"
    )
    conf = prefix / "nginx.conf"
    conf.write_text(main, encoding="utf-8")
    return conf


@dataclass
class LocalDeployment:
    """`kb serve --replicas N --panel-only` (+ `kb api` when `api`) + nginx in `prefix`; `start()`, then `stop()` (always).

    nginx listens with TLS on `listen` (`url`) and redirects plain HTTP on `http_port` (`http_url`);
    `tls()` is an SSL context that trusts the deployment's own certificate."""

    prefix: Path
    env: dict[str, str]
    replicas: int = 2
    site_dir: Path | None = None
    first_port: int = 0
    listen: int = 0
    http_port: int = 0
    api: bool = False
    api_port: int = 0
    panel: subprocess.Popen[bytes] | None = None
    api_proc: subprocess.Popen[bytes] | None = None
    nginx: subprocess.Popen[bytes] | None = None
    logs: dict[str, Path] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.listen = self.listen or free_ports(1)
        self.http_port = self.http_port or free_ports(1)

    @property
    def ports(self) -> list[int]:
        return [self.first_port + i for i in range(self.replicas)]

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.listen}"

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def signed_in_env(self, database_url: str, users_file: Path, **settings: str) -> dict[str, str]:
        """The environment of the shipped set-up: this process's, plus sign-in on behind nginx, the
        accounts in `users_file`, feedback in PostgreSQL at `database_url`, and any other `settings`."""
        return dict(
            os.environ,
            **settings,
            KB_SITE_URL=f"{self.url}/manual/",
            KB_DATABASE_URL=database_url,
            KB_FEEDBACK_DB=str(users_file.parent / "no-se-usa.db"),
            KB_HOST="127.0.0.1",
            KB_BEHIND_PROXY="1",
            KB_USERS_FILE=str(users_file),
        )

    @property
    def certificate(self) -> Path:
        return self_signed_certificate(self.prefix / "tls")[0]

    def tls(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.certificate))

    def _spawn(self, name: str, *args: str) -> subprocess.Popen[bytes]:
        self.logs[name] = self.prefix / f"{name}.log"
        with open(self.logs[name], "wb") as out:
            return subprocess.Popen(
                [sys.executable, "-m", "kb.cli", *args],
                env={**self.env, "PYTHONUNBUFFERED": "1"},
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def start_panels(self) -> None:
        """Start the replicas, and `kb api` when asked (not waiting: nginx can start meanwhile)."""
        self.first_port = self.first_port or free_ports(self.replicas)
        self.panel = self._spawn(
            "panel",
            *("serve", "--panel-only", "--host", "127.0.0.1", "--port", str(self.first_port)),
            *("--replicas", str(self.replicas)),
        )
        if self.api:
            self.api_port = self.api_port or free_ports(1)
            self.api_proc = self._spawn("api", "api", "--port", str(self.api_port))

    def start_nginx(self) -> None:
        nginx = shutil.which("nginx") or "/usr/sbin/nginx"
        self.api_port = self.api_port or free_ports(1)
        conf = render_nginx(
            self.prefix,
            listen=self.listen,
            http_port=self.http_port,
            panel_ports=self.ports,
            api_port=self.api_port,
            site_dir=self.site_dir or self.prefix / "site",
        )
        self.logs["nginx"] = self.prefix / "error.log"
        self.logs["access"] = self.prefix / "access.log"
        self.logs["default-access"] = self.prefix / "default-access.log"
        self.nginx = subprocess.Popen(
            [nginx, "-p", str(self.prefix), "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT
        )

    def wait_ready(self) -> float:
        """Seconds until every replica (and the API) answers its health check directly and nginx answers too."""
        started = time.monotonic()
        for port in self.ports:
            wait_http(f"http://127.0.0.1:{port}/_stcore/health", proc=self.panel, log=self.logs["panel"])
        if self.api_proc is not None:
            wait_http(f"http://127.0.0.1:{self.api_port}/api/health", proc=self.api_proc, log=self.logs["api"])
        wait_http(f"{self.url}/_stcore/health", proc=self.nginx, log=self.logs["nginx"], context=self.tls())
        return time.monotonic() - started

    def replica_pids(self) -> list[int]:
        """The panel processes: the supervisor's children, or the process itself with one replica (no supervisor)."""
        if self.panel is None:
            return []
        return children(self.panel.pid) if self.replicas > 1 else [self.panel.pid]

    def stop(self) -> None:
        for proc, sig in ((self.nginx, signal.SIGQUIT), (self.api_proc, signal.SIGTERM), (self.panel, signal.SIGTERM)):
            if proc is not None:
                stop_process(proc, sig, grace=25)  # killed, the replicas die with the supervisor (PR_SET_PDEATHSIG)

    def log_text(self, name: str) -> str:
        path = self.logs.get(name)
        return path.read_text(errors="replace")[-4000:] if path and path.is_file() else ""


# ---------------------------------------------------------------- /proc


def children(pid: int) -> list[int]:
    try:
        return [int(c) for task in Path(f"/proc/{pid}/task").iterdir() for c in (task / "children").read_text().split()]
    except OSError:
        return []


def tree(pid: int) -> list[int]:
    """`pid` and all its descendants alive now."""
    out = [pid]
    for child in children(pid):
        out += tree(child)
    return out


def rss_mb(pid: int) -> float:
    """Resident memory of one process in MB (VmRSS)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time of these processes so far (dead ones count 0)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except (OSError, IndexError, ValueError):
            pass
    return total / ticks


def machine_cpu_seconds() -> float:
    """CPU time spent by the whole machine (all cores, not idle) since boot."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]
    return (sum(values[:8]) - idle) / os.sysconf("SC_CLK_TCK")
