"""The deployment in deploy/ run on loopback from a temporary folder: panel replicas behind nginx.

tests/test_deploy.py and the load benchmark (benchmarks.load) use it, so both exercise what IT
installs: `kb serve --replicas N --panel-only` and deploy/nginx/kb.conf itself, with only its
ports and paths replaced (a replaced line that is missing is an error, not a silent drift).
Also here: resident memory and CPU time of a process tree, read from /proc (no psutil).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from kb.config import PACKAGE_ROOT
from tests.support.waits import free_port, wait_http

NGINX_CONF = PACKAGE_ROOT / "deploy" / "nginx" / "kb.conf"
SHIPPED_UPSTREAMS = (
    "    server 127.0.0.1:8501 max_fails=1 fail_timeout=10s;  # test: panel replicas\n"
    "    server 127.0.0.1:8502 max_fails=1 fail_timeout=10s;\n"
)
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


def render_nginx(prefix: Path, *, listen: int, panel_ports: list[int], api_port: int, site_dir: Path) -> Path:
    """deploy/nginx/kb.conf with loopback ports and paths inside `prefix`, wrapped in a main config."""
    text = NGINX_CONF.read_text(encoding="utf-8")
    replacements = {
        SHIPPED_UPSTREAMS: "".join(f"    server 127.0.0.1:{p} max_fails=1 fail_timeout=10s;\n" for p in panel_ports),
        "server 127.0.0.1:8600;": f"server 127.0.0.1:{api_port};",
        "listen 80;": f"listen 127.0.0.1:{listen};",
        "access_log /var/log/nginx/kb.access.log kb;": f"access_log {prefix}/access.log kb;",
        "alias /opt/kb/site/;": f"alias {site_dir}/;",
    }
    for old, new in replacements.items():
        if text.count(old) != 1:
            raise RuntimeError(f"{NGINX_CONF} ya no contiene exactamente una vez: {old.strip()!r}")
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
        f"    include {prefix}/kb.conf;\n}}\n"
    )
    conf = prefix / "nginx.conf"
    conf.write_text(main, encoding="utf-8")
    return conf


@dataclass
class LocalDeployment:
    """`kb serve --replicas N --panel-only` + nginx in `prefix`; `start()`, then `stop()` (always)."""

    prefix: Path
    env: dict[str, str]
    replicas: int = 2
    site_dir: Path | None = None
    first_port: int = 0
    listen: int = 0
    panel: subprocess.Popen[bytes] | None = None
    nginx: subprocess.Popen[bytes] | None = None
    logs: dict[str, Path] = field(default_factory=dict)

    @property
    def ports(self) -> list[int]:
        return [self.first_port + i for i in range(self.replicas)]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.listen}"

    def start_panels(self) -> None:
        """Start the replicas (not waiting: nginx can start meanwhile)."""
        self.first_port = self.first_port or free_ports(self.replicas)
        self.logs["panel"] = self.prefix / "panel.log"
        command = [
            sys.executable,
            "-m",
            "kb.cli",
            "serve",
            "--panel-only",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.first_port),
            "--replicas",
            str(self.replicas),
        ]
        with open(self.logs["panel"], "wb") as out:
            self.panel = subprocess.Popen(
                command, env=self.env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )

    def start_nginx(self) -> None:
        nginx = shutil.which("nginx") or "/usr/sbin/nginx"
        self.listen = self.listen or free_ports(1)
        conf = render_nginx(
            self.prefix,
            listen=self.listen,
            panel_ports=self.ports,
            api_port=free_ports(1),
            site_dir=self.site_dir or self.prefix / "site",
        )
        self.logs["nginx"] = self.prefix / "error.log"
        self.nginx = subprocess.Popen(
            [nginx, "-p", str(self.prefix), "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT
        )

    def wait_ready(self) -> float:
        """Seconds until every replica answers its health check directly and nginx answers too."""
        started = time.monotonic()
        for port in self.ports:
            wait_http(f"http://127.0.0.1:{port}/_stcore/health", proc=self.panel, log=self.logs["panel"])
        wait_http(f"{self.url}/_stcore/health", proc=self.nginx, log=self.logs["nginx"])
        return time.monotonic() - started

    def replica_pids(self) -> list[int]:
        """The panel processes: the supervisor's children, or the process itself with one replica (no supervisor)."""
        if self.panel is None:
            return []
        return children(self.panel.pid) if self.replicas > 1 else [self.panel.pid]

    def stop(self) -> None:
        for proc, sig in ((self.nginx, signal.SIGQUIT), (self.panel, signal.SIGTERM)):
            if proc is None or proc.poll() is not None:
                continue
            proc.send_signal(sig)
            try:
                proc.wait(25)
            except subprocess.TimeoutExpired:
                proc.kill()  # the replicas die with the supervisor (PR_SET_PDEATHSIG)
                proc.wait()

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
