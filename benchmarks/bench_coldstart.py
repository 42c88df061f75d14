"""Cold start: from launching ``feedback-strike serve`` to its first answers; and the model's load in process.

    .venv/bin/python benchmarks/bench_coldstart.py [--runs 5] [--json OUT] [--quick]

Each run makes a fresh SQLite database in a temporary directory and a reviewer key in it
(``feedback-strike keys create``, before the clock starts: that migrates the database, so the timed
start finds it up to date, as a restart would), then launches ``feedback-strike serve`` (1 worker) and
polls every 20 ms, timing from the launch to

- ``healthz``: the first 200 from ``GET /healthz`` (the process is alive and serving);
- ``readyz``: the first 200 from ``GET /readyz`` (model loaded, database answering);
- ``first_verdict``: the first 200 from ``POST /v1/verdicts`` with that key.

The medians over --runs are reported.  In process (a fresh interpreter per run): the imports the
model needs and ``Registry().load()`` (reading, checking and unpickling the current model), and the
first ``suggest`` after loading (the smoke test of a real start warms the caches before serving).
The framework's floor, in the same run: a bare FastAPI app under the same uvicorn settings, launch to
its first 200 (``bare_fastapi_first_200``) and its RSS.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._common import (  # noqa: E402
    ROOT,
    bench_env,
    create_key,
    free_port,
    http,
    load_average,
    machine,
    serve_argv,
    start,
    status_kib,
    write_json,
)

RECORD = {"feedback_id": "fb-cold", "rating": 1, "fulfillment_channel": "AFN",
          "comment": "Paketet kom två veckor för sent, men skärmen var repad."}

IN_PROCESS = r"""
import json, os, time
t0 = time.perf_counter()
from classifier.registry import Registry
t1 = time.perf_counter()
model = Registry().load()
t2 = time.perf_counter()
model.suggest({"rating": 1, "fulfillment_channel": "AFN", "comment": "Paketet kom aldrig fram."})
t3 = time.perf_counter()
print(json.dumps({"imports_s": t1 - t0, "model_load_s": t2 - t1, "first_suggest_s": t3 - t2, "version": model.version}))
"""

# The framework's floor: a FastAPI app answering a constant under the same uvicorn settings.
BARE = r"""
import sys
import uvicorn
from fastapi import FastAPI
app = FastAPI()
@app.get("/healthz")
def healthz():
    return {"status": "ok"}
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), loop="uvloop", http="httptools", log_level="warning")
"""


def bare_start(tmp: Path, timeout: float = 60) -> dict[str, float]:
    port = free_port()
    server = start([sys.executable, "-c", BARE, str(port)], bench_env(tmp), tmp / "bare.log", port, 1)
    try:
        while True:
            if time.perf_counter() - server.started > timeout or server.proc.poll() is not None:
                raise RuntimeError(f"the bare app did not answer:\n{server.log_text()[-2000:]}")
            try:
                if http("GET", server.base + "/healthz", timeout=2)[0] == 200:
                    return {"bare_fastapi_first_200": time.perf_counter() - server.started,
                            "bare_fastapi_rss_mib": round((status_kib(server.proc.pid, "VmRSS") or 0) / 1024, 1)}
            except OSError:
                pass
            time.sleep(0.02)
    finally:
        server.stop()


def one_start(tmp: Path, timeout: float = 120) -> dict[str, Any]:
    env = bench_env(tmp)
    key = create_key(env)
    port = free_port()
    body = json.dumps(RECORD).encode()
    headers = {"Content-Type": "application/json", "X-API-Key": key}
    server = start(serve_argv(port, 1), env, tmp / "serve.log", port, 1)
    t0 = server.started
    got: dict[str, float] = {}
    try:
        while len(got) < 3:
            now = time.perf_counter()
            if now - t0 > timeout:
                raise RuntimeError(f"no answer within {timeout} s:\n{server.log_text()[-2000:]}")
            if server.proc.poll() is not None:
                raise RuntimeError(f"serve exited with {server.proc.returncode}:\n{server.log_text()[-2000:]}")
            try:
                if "healthz" not in got and http("GET", server.base + "/healthz", timeout=2)[0] == 200:
                    got["healthz"] = time.perf_counter() - t0
                if "readyz" not in got and http("GET", server.base + "/readyz", timeout=2)[0] == 200:
                    got["readyz"] = time.perf_counter() - t0
                if "first_verdict" not in got and http("POST", server.base + "/v1/verdicts", body, headers,
                                                       timeout=5)[0] == 200:
                    got["first_verdict"] = time.perf_counter() - t0
            except OSError:  # not listening yet
                pass
            time.sleep(0.02)
        got["rss_after_start_mib"] = round((status_kib(server.proc.pid, "VmRSS") or 0) / 1024, 1)
    finally:
        server.stop()
    return got


def in_process() -> dict[str, Any]:
    out = subprocess.run([sys.executable, "-c", IN_PROCESS], cwd=ROOT, capture_output=True, text=True, timeout=300,
                         env={**bench_env(Path(tempfile.gettempdir()))})
    if out.returncode != 0:
        raise RuntimeError(out.stderr)
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--json", type=Path)
    ap.add_argument("--quick", action="store_true", help="one run of each")
    args = ap.parse_args(argv)
    if args.quick:
        args.runs = 1
    started = time.time()
    load_start = load_average()
    starts = []
    loads = []
    for i in range(args.runs):
        with tempfile.TemporaryDirectory(prefix="fs-bench-cold-") as tmp:
            starts.append(one_start(Path(tmp)))
            starts[-1].update(bare_start(Path(tmp)))
        loads.append(in_process())
        print(f"run {i + 1}: " + "  ".join(f"{k} {v:.2f}" for k, v in starts[-1].items()) + "  |  in process: "
              + "  ".join(f"{k} {v:.2f}" for k, v in loads[-1].items() if k.endswith("_s")), flush=True)
    median = {k: round(statistics.median(s[k] for s in starts), 3) for k in starts[0]}
    median.update({k: round(statistics.median(r[k] for r in loads), 3) for k in loads[0] if k.endswith("_s")})
    print("median: " + "  ".join(f"{k} {v}" for k, v in median.items()))
    out = {"benchmark": "coldstart", "quick": args.quick, "started": started,
           "seconds": round(time.time() - started, 1), "load_average_start": load_start,
           "load_average_end": load_average(), "machine": machine(), "median": median, "runs": starts,
           "in_process_runs": loads, "model_version": loads[0].get("version"),
           "config": {"runs": args.runs, "workers": 1, "poll_interval_s": 0.02, "database": "fresh SQLite, migrated"}}
    if args.json:
        write_json(args.json, out)
    return out


if __name__ == "__main__":
    main()
