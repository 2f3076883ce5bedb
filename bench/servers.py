"""Processes the benchmark starts: migrations, gunicorn servers and a throwaway PostgreSQL cluster.

Ports are picked below 32768 (the range above is the system's for outgoing connections) and
checked free by binding first. Every wait is bounded; every process started here is stopped
here, by its own id.
"""
from __future__ import annotations

import os
import random
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from bench import ROOT, VENV_BIN, app_env

PORT_RANGE = (20000, 32000)
CLK_TCK = os.sysconf("SC_CLK_TCK")


def process_tree_cpu(pid: int) -> float:
    """CPU seconds (user + system) used so far by a process and all its descendants (from /proc)."""
    total, stack, seen = 0.0, [pid], set()
    while stack:
        current = stack.pop()
        if current in seen:
            continue
        seen.add(current)
        try:
            stat = Path(f"/proc/{current}/stat").read_text()
            fields = stat[stat.rindex(")") + 2:].split()
            total += (int(fields[11]) + int(fields[12])) / CLK_TCK
            for task in Path(f"/proc/{current}/task").iterdir():
                children = (task / "children").read_text().split()
                stack.extend(int(c) for c in children)
        except (OSError, ValueError):
            continue
    return total


def free_port(exclude: set[int] | None = None) -> int:
    """A port below 32768 that nothing listens on (at most 200 tries)."""
    exclude = exclude or set()
    rng = random.Random()
    for _ in range(200):
        port = rng.randrange(*PORT_RANGE)
        if port in exclude:
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port found below 32768")


def run_flask(args: list[str], database_url: str, timeout: float = 600, capture: bool = True):
    """``flask --app reviewflow <args>`` in the production configuration; returns the CompletedProcess."""
    return subprocess.run([str(VENV_BIN / "flask"), "--app", "reviewflow", *args], cwd=ROOT,
                          env=app_env(database_url), capture_output=capture, text=True, timeout=timeout)


def migrate(database_url: str) -> None:
    """Create the schema with the migrations (``flask db upgrade``), triggers included."""
    done = run_flask(["db", "upgrade"], database_url, timeout=300)
    if done.returncode != 0:
        raise RuntimeError(f"flask db upgrade failed:\n{done.stdout}\n{done.stderr}")


@dataclass
class Server:
    """A gunicorn serving ``app`` on 127.0.0.1:``port`` with ``workers`` sync workers."""

    name: str
    app: str
    database_url: str | None
    workers: int = 2
    port: int = 0
    log_path: Path | None = None
    proc: subprocess.Popen | None = field(default=None, repr=False)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, log_dir: Path, taken: set[int] | None = None, ready_path: str = "/") -> Server:
        self.port = free_port(taken)
        self.log_path = log_dir / f"gunicorn-{self.name}-{self.port}.log"
        env = app_env(self.database_url) if self.database_url else dict(os.environ, PYTHONPATH=str(ROOT))
        cmd = [str(VENV_BIN / "gunicorn"), "--workers", str(self.workers), "--worker-class", "sync",
               "--bind", f"127.0.0.1:{self.port}", "--timeout", "60", "--graceful-timeout", "5", "--no-control-socket",
               "--error-logfile", str(self.log_path), "--log-level", "warning", self.app]
        self.proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gunicorn {self.name} exited with {self.proc.returncode}; see {self.log_path}")
            try:
                with urllib.request.urlopen(self.base + ready_path, timeout=5) as resp:
                    resp.read()
                return self
            except urllib.error.HTTPError:
                return self  # it answers: an error status still means it is up
            except OSError:
                time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"gunicorn {self.name} did not answer within 60 s; see {self.log_path}")

    def cpu_seconds(self) -> float:
        """CPU used so far by the gunicorn master and its workers."""
        return process_tree_cpu(self.proc.pid) if self.proc else 0.0

    def worker_rss_mib(self) -> list[float]:
        """Resident memory of each worker (the master's children), in MiB, from /proc."""
        if self.proc is None:
            return []
        out = []
        try:
            children = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text().split()
        except OSError:
            return []
        for child in children:
            try:
                status = Path(f"/proc/{child}/status").read_text()
            except OSError:
                continue
            for line in status.splitlines():
                if line.startswith("VmRSS:"):
                    out.append(int(line.split()[1]) / 1024)
        return out

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


# PostgreSQL ----------------------------------------------------------------------------------------

def pg_bin() -> Path | None:
    """The newest PostgreSQL server binaries on the machine, or None."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: [int(x) for x in p.parent.name.split(".")
                                                                              if x.isdigit()])
    return found[-1] if found and (found[-1] / "initdb").exists() else None


def pg_unavailable_reason() -> str | None:
    """Why a throwaway cluster cannot be started here (None when it can)."""
    if pg_bin() is None:
        return "PostgreSQL server binaries not found under /usr/lib/postgresql (apt-get install -y postgresql)"
    if os.geteuid() != 0:
        return "not running as root: initdb must run as the postgres user through runuser"
    if shutil.which("runuser") is None:
        return "runuser not found"
    try:
        import pwd
        pwd.getpwnam("postgres")
    except KeyError:
        return "no postgres system user"
    return None


@dataclass
class PgCluster:
    """A throwaway cluster: initdb as postgres, listening on 127.0.0.1 only, fsync off."""

    root: Path = Path("/tmp/reviewflow-bench-pg")
    port: int = 0
    dbname: str = "reviewflow_bench"
    started: bool = False

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{self.dbname}"

    def _as_pg(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
        return subprocess.run(["runuser", "-u", "postgres", "--", *args], capture_output=True, text=True,
                              timeout=timeout, cwd="/tmp")

    def start(self, fresh: bool = True, settings: dict[str, str] | None = None) -> PgCluster:
        binary = pg_bin()
        data = self.root / "data"
        if fresh or not (data / "PG_VERSION").exists():
            if self.root.exists():
                shutil.rmtree(self.root)
            self.root.mkdir(parents=True)
            shutil.chown(self.root, "postgres", "postgres")
            done = self._as_pg(str(binary / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust", "-E",
                               "UTF8", "--locale=C.UTF-8", "--no-sync")
            if done.returncode != 0:
                raise RuntimeError(f"initdb failed: {done.stderr}")
        self.port = free_port()
        opts = {"listen_addresses": "127.0.0.1", "port": str(self.port), "unix_socket_directories": str(self.root),
                "fsync": "off", "max_connections": "100"} | (settings or {})
        option_text = " ".join(f"-c {k}={v}" for k, v in opts.items())
        done = self._as_pg(str(binary / "pg_ctl"), "-D", str(data), "-l", str(self.root / "log"), "-w", "-t", "60",
                           "-o", option_text, "start")
        if done.returncode != 0:
            raise RuntimeError(f"pg_ctl start failed: {done.stderr}\n{done.stdout}")
        self.started = True
        if fresh:
            self.psql(f"DROP DATABASE IF EXISTS {self.dbname}", db="postgres")
            self.psql(f"CREATE DATABASE {self.dbname}", db="postgres")
        return self

    def psql(self, sql: str, db: str | None = None) -> str:
        done = subprocess.run(["psql", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "-d",
                               db or self.dbname, "-Atqc", sql], capture_output=True, text=True, timeout=600)
        if done.returncode != 0:
            raise RuntimeError(f"psql failed: {done.stderr}")
        return done.stdout.strip()

    def cpu_seconds(self) -> float:
        """CPU used so far by this cluster's postmaster and every backend it forked."""
        try:
            pid = int((self.root / "data" / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return 0.0
        return process_tree_cpu(pid)

    def version(self) -> str:
        return self.psql("SHOW server_version", db="postgres")

    def stop(self) -> None:
        if not self.started:
            return
        self._as_pg(str(pg_bin() / "pg_ctl"), "-D", str(self.root / "data"), "-m", "fast", "-w", "-t", "60", "stop")
        self.started = False
