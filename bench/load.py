"""Driving a URL with wrk (or, when wrk is missing, a small threaded Python load generator).

wrk runs with a Lua script whose ``done()`` prints one parseable line,
``BENCH_RESULT {json}``: requests, duration, errors (``status`` counts answers of 400 and
above) and latency percentiles in microseconds. Latency percentiles are wrk's own histogram
(no coordinated-omission correction), as any wrk figure.
"""
from __future__ import annotations

import http.client
import json
import os
import random
import shutil
import subprocess
import tempfile
import threading
import time
import urllib.parse
from dataclasses import asdict, dataclass

LUA = r"""
-- written by bench/load.py: print a parseable summary line when the run ends
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_RESULT {"requests":%d,"duration_us":%d,"bytes":%d,"status_errors":%d,"connect_errors":%d,' ..
    '"read_errors":%d,"write_errors":%d,"timeouts":%d,"p50_us":%d,"p90_us":%d,"p95_us":%d,"p99_us":%d,' ..
    '"max_us":%d,"mean_us":%.1f}\n',
    summary.requests, summary.duration, summary.bytes, e.status, e.connect, e.read, e.write, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(95), latency:percentile(99),
    latency.max, latency.mean))
end
"""


@dataclass
class LoadResult:
    tool: str
    connections: int
    seconds: float
    requests: int
    rps: float
    non_2xx: int
    socket_errors: int
    p50_ms: float
    p90_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float
    mean_ms: float

    def to_dict(self) -> dict:
        return asdict(self)


def ensure_wrk(install: bool, log=print) -> str | None:
    """The wrk binary, installing Debian's package first when allowed (root) and missing."""
    found = shutil.which("wrk")
    if found or not install or os.geteuid() != 0 or shutil.which("apt-get") is None:
        return found
    log("  wrk not found: apt-get install -y wrk …")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    try:
        subprocess.run(["apt-get", "install", "-y", "--no-install-recommends", "wrk"], env=env, timeout=300,
                       capture_output=True, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return shutil.which("wrk")


class Driver:
    """Runs load against URLs with wrk when available, else with the Python generator."""

    def __init__(self, wrk: str | None) -> None:
        self.wrk = wrk
        self.script = None
        if wrk:
            fd, self.script = tempfile.mkstemp(suffix=".lua", prefix="bench-")
            with os.fdopen(fd, "w") as handle:
                handle.write(LUA)

    @property
    def tool(self) -> str:
        return "wrk" if self.wrk else "python"

    def close(self) -> None:
        if self.script and os.path.exists(self.script):
            os.unlink(self.script)

    def run(self, url: str, headers: dict[str, str], connections: int, seconds: float,
            paths: list[str] | None = None) -> LoadResult:
        """Load ``url``; with ``paths``, each request asks for one of them on ``url``'s server, at random."""
        if self.wrk:
            return self._wrk(url, headers, connections, seconds, paths)
        return python_load(url, headers, connections, seconds, paths)

    def _wrk(self, url: str, headers: dict[str, str], connections: int, seconds: float,
             paths: list[str] | None = None) -> LoadResult:
        threads = min(2, connections)
        script = self.script
        if paths:
            fd, script = tempfile.mkstemp(suffix=".lua", prefix="bench-paths-")
            with os.fdopen(fd, "w") as handle:
                handle.write(paths_lua(paths) + LUA)
        cmd = [self.wrk, f"-t{threads}", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--timeout", "10s",
               "-s", script]
        for name, value in headers.items():
            cmd += ["-H", f"{name}: {value}"]
        cmd.append(url)
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60)
        finally:
            if script != self.script:
                os.unlink(script)
        line = next((x for x in done.stdout.splitlines() if x.startswith("BENCH_RESULT ")), None)
        if line is None:
            raise RuntimeError(f"wrk gave no result (exit {done.returncode}): "
                               f"{done.stdout[-500:]} {done.stderr[-500:]}")
        r = json.loads(line[len("BENCH_RESULT "):])
        secs = r["duration_us"] / 1e6
        sock = r["connect_errors"] + r["read_errors"] + r["write_errors"] + r["timeouts"]
        return LoadResult("wrk", connections, secs, r["requests"], r["requests"] / secs if secs else 0.0,
                          r["status_errors"], sock, r["p50_us"] / 1000, r["p90_us"] / 1000, r["p95_us"] / 1000,
                          r["p99_us"] / 1000, r["max_us"] / 1000, r["mean_us"] / 1000)


def _percentile(sorted_values: list[float], p: float) -> float:
    if not sorted_values:
        return 0.0
    k = min(len(sorted_values) - 1, max(0, round(p / 100 * (len(sorted_values) - 1))))
    return sorted_values[k]


def paths_lua(paths: list[str]) -> str:
    """A wrk script part that asks for a random one of ``paths`` on every request."""
    quoted = ",\n".join(json.dumps(p) for p in paths)
    return ("math.randomseed(os.time())\npaths = {\n" + quoted + "\n}\n"
            "request = function() return wrk.format(\"GET\", paths[math.random(#paths)]) end\n")


def python_load(url: str, headers: dict[str, str], connections: int, seconds: float,
                paths: list[str] | None = None) -> LoadResult:
    """A fallback closed-loop generator: ``connections`` threads, each sending a request after the last answer
    (for a random one of ``paths`` when given)."""
    parts = urllib.parse.urlsplit(url)
    one = parts.path + (f"?{parts.query}" if parts.query else "")
    deadline = time.perf_counter() + seconds
    lock = threading.Lock()
    latencies: list[float] = []
    counters = {"non_2xx": 0, "errors": 0}

    def worker() -> None:
        conn = None
        mine, bad, errs = [], 0, 0
        while time.perf_counter() < deadline:
            try:
                if conn is None:
                    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
                t = time.perf_counter()
                conn.request("GET", random.choice(paths) if paths else one, headers=headers)
                resp = conn.getresponse()
                resp.read()
                mine.append(time.perf_counter() - t)
                if not 200 <= resp.status < 300:
                    bad += 1
                if resp.getheader("Connection", "").lower() == "close":
                    conn.close()
                    conn = None
            except (OSError, http.client.HTTPException):
                errs += 1
                conn = None
        with lock:
            latencies.extend(mine)
            counters["non_2xx"] += bad
            counters["errors"] += errs

    started = time.perf_counter()
    workers = [threading.Thread(target=worker, daemon=True) for _ in range(connections)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(seconds + 30)
    elapsed = time.perf_counter() - started
    lat = sorted(x * 1000 for x in latencies)
    mean = sum(lat) / len(lat) if lat else 0.0
    return LoadResult("python", connections, elapsed, len(lat), len(lat) / elapsed if elapsed else 0.0,
                      counters["non_2xx"], counters["errors"], _percentile(lat, 50), _percentile(lat, 90),
                      _percentile(lat, 95), _percentile(lat, 99), lat[-1] if lat else 0.0, mean)
