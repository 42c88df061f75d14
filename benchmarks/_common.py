"""Helpers shared by the benchmark scripts: the machine, the corpus, real servers on 127.0.0.1.

Servers are started with output to a file (never a pipe, which a long run could fill), and stopped
by the process id this module started, never by name.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "data"
RESULTS = Path(__file__).resolve().parent / "results"
VERDICT_FIELDS = ("feedback_id", "rating", "comment", "fulfillment_channel", "shipped_via_mcf")


# --- the machine --------------------------------------------------------------------------------
def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def machine() -> dict[str, Any]:
    """CPU model, cores, RAM, Python and the versions of the libraries whose speed we measure."""
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    ram_gib = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                ram_gib = round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    from importlib import metadata

    versions = {}
    for dist in ("fastapi", "starlette", "uvicorn", "uvloop", "httptools", "pydantic", "pydantic-core",
                 "scikit-learn", "spacy", "numpy", "scipy", "sqlalchemy"):
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            versions[dist] = None
    return {"cpu": cpu, "logical_cpus": os.cpu_count(), "ram_gib": ram_gib, "python": platform.python_version(),
            "platform": platform.platform(), "libraries": versions, "wrk": wrk_version()}


def wrk_version() -> str | None:
    try:
        out = subprocess.run(["wrk", "--version"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    text = (out.stdout + out.stderr).strip().splitlines()
    return text[0] if text else None


def git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                             timeout=10)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT,
                               capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() + ("+dirty" if dirty else "") if out.returncode == 0 else None


# --- the corpus ------------------------------------------------------------------------------------
def verdict_records(splits: tuple[str, ...] = ("dev", "test")) -> list[dict[str, Any]]:
    """The splits' comments as verdict inputs (the fields a verdict reads), each comment text once."""
    seen: set[str] = set()
    out = []
    for split in splits:
        with open(DATA / f"{split}.jsonl", encoding="utf-8") as fh:
            for line in fh:
                if not line.strip():
                    continue
                rec = json.loads(line)
                if rec["comment"] in seen:
                    continue
                seen.add(rec["comment"])
                out.append({k: rec[k] for k in VERDICT_FIELDS if k in rec})
    return out


# --- processes -----------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def children(pid: int) -> list[int]:
    """Direct child processes of ``pid`` (Linux /proc)."""
    out = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with contextlib.suppress(OSError):
            out += [int(c) for c in (task / "children").read_text().split()]
    return sorted(set(out))


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def status_kib(pid: int, field_name: str) -> int | None:
    """A /proc/PID/status field in KiB (VmHWM: peak resident set, VmRSS: resident set now)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field_name + ":"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def http(method: str, url: str, body: bytes | None = None, headers: dict[str, str] | None = None,
         timeout: float = 5) -> tuple[int, bytes]:
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def create_key(env: dict[str, str], role: str = "reviewer") -> str:
    """A key stored (hashed) in the database DATABASE_URL names, made by the CLI as an operator would."""
    out = subprocess.run([sys.executable, "-m", "classifier.cli", "keys", "create", "--role", role,
                          "--name", "benchmark"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    if out.returncode != 0:
        raise RuntimeError(f"keys create failed: {out.stderr.strip()}")
    return out.stdout.strip().splitlines()[-1]


def bench_env(tmp: Path, **extra: str) -> dict[str, str]:
    """The environment of a benchmark server: a fresh SQLite database in ``tmp``, one BLAS thread."""
    env = dict(os.environ)
    env.update({"DATABASE_URL": f"sqlite:///{tmp}/feedback-strike.db", "OPENBLAS_NUM_THREADS": "1",
                "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")})
    env.pop("FEEDBACK_STRIKE_API_KEYS", None)
    env.update(extra)
    return env


@dataclass
class Server:
    proc: subprocess.Popen  # type: ignore[type-arg]
    base: str
    log: Path
    workers: int
    started: float = field(default_factory=time.perf_counter)

    def log_text(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def worker_pids(self) -> list[int]:
        """The processes that answer requests: uvicorn's spawned workers, or the server itself with one."""
        if self.workers <= 1:
            return [self.proc.pid]
        return [p for p in children(self.proc.pid)
                if "multiprocessing" in cmdline(p) and "resource_tracker" not in cmdline(p)]

    def wait_workers(self, seconds: float = 120) -> None:
        """Until every worker has finished its start (uvicorn logs one line per worker)."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the server exited with {self.proc.returncode}:\n{self.log_text()[-3000:]}")
            if self.log_text().count("Application startup complete") >= self.workers:
                # uvicorn logs the startup line before it binds the socket, so a refused
                # connection here only means "not listening yet".
                try:
                    status, _ = http("GET", self.base + "/readyz")
                except OSError:
                    status = 0
                if status == 200:
                    return
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"the server was not ready within {seconds} s:\n{self.log_text()[-3000:]}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=30)


def start(argv: list[str], env: dict[str, str], log: Path, port: int, workers: int) -> Server:
    with open(log, "w", encoding="utf-8") as out:
        proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    return Server(proc, f"http://127.0.0.1:{port}", log, workers)


def serve_argv(port: int, workers: int) -> list[str]:
    """``feedback-strike serve`` exactly as an operator runs it (the console script of this venv)."""
    exe = Path(sys.executable).with_name("feedback-strike")
    head = [str(exe)] if exe.exists() else [sys.executable, "-m", "classifier.cli"]
    return [*head, "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)]


def write_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile of an ascending list (q in 0..100)."""
    if not sorted_values:
        return float("nan")
    k = max(0, min(len(sorted_values) - 1, round(q / 100 * len(sorted_values) + 0.5) - 1))
    return sorted_values[k]
