"""Real `feedback-strike serve` processes (uvicorn) on 127.0.0.1 for the tests that need one: start,
wait until ready, read its memory, kill it with SIGKILL.  Output goes to a file, never a pipe, so a
long run cannot block on a full pipe."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from tests.service.conftest import free_port, wait_ready


@dataclass
class Server:
    proc: subprocess.Popen  # type: ignore[type-arg]
    base: str
    log: Path

    @property
    def pid(self) -> int:
        return self.proc.pid

    def rss(self) -> int:
        """Resident memory of the server process, in bytes (Linux /proc)."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        raise RuntimeError("no VmRSS")

    def kill9(self) -> None:
        """SIGKILL: no shutdown, no flush, no rollback; whatever the database made durable is all there is."""
        os.kill(self.pid, signal.SIGKILL)
        self.proc.wait(timeout=30)

    def stop(self) -> str:
        """Stop it (SIGTERM, then SIGKILL) and return everything it printed."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=20)
        return self.log.read_text(encoding="utf-8", errors="replace")


def start_server(tmp_path: Path, name: str, env: dict[str, str], *, ready: bool = True,
                 workers: int = 1) -> Server:
    """`python -m classifier.cli serve` on a free port with ``env`` added to this process's environment."""
    port = free_port()
    log = tmp_path / f"{name}.log"
    with open(log, "w", encoding="utf-8") as out:
        proc = subprocess.Popen([sys.executable, "-m", "classifier.cli", "serve", "--port", str(port),
                                 "--workers", str(workers)],
                                env={**os.environ, **env}, stdout=out, stderr=subprocess.STDOUT)
    server = Server(proc, f"http://127.0.0.1:{port}", log)
    if ready:
        wait_ready(server.base, proc, seconds=90, log=log)
    return server
