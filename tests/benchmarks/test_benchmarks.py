"""The benchmark harness: its parsers on recorded output, the report from a sample results file, the
ceiling app's routes, and each script in its tiny mode (output structure only; no timing is asserted)."""

from __future__ import annotations

import http.server
import json
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from benchmarks import bench_http, bench_training, report, run_all
from tests.service.conftest import ADMIN_KEY

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
WRK_SAMPLE = (HERE / "wrk_sample.txt").read_text(encoding="utf-8")  # recorded from wrk 4.1.0 (Debian)

# wrk prints these when it has them (the format of wrk 4.1.0's summary)
WRK_SECONDS_AND_ERRORS = """Running 10s test @ http://127.0.0.1:8000
  2 threads and 128 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   150.21ms  300.10ms   1.99s    90.00%
    Req/Sec   450.00    100.00   600.00     70.00%
  Latency Distribution
     50%  850.00us
     75%   20.00ms
     90%  500.00ms
     99%    1.50s
  9000 requests in 10.01s, 9.00MB read
  Socket errors: connect 0, read 2, write 0, timeout 5
Requests/sec:    899.10
Transfer/sec:      0.90MB
"""


def wrk_available() -> bool:
    return shutil.which("wrk") is not None


needs_wrk = pytest.mark.skipif(not wrk_available(), reason="wrk is not installed (apt-get install -y wrk; "
                                                             ".ci/run installs it)")


def test_parse_wrk_recorded_sample():
    got = bench_http.parse_wrk(WRK_SAMPLE)
    assert got["requests_per_s"] == 91.93
    assert got["requests"] == 184 and got["duration_s"] == 2.0
    assert got["p50_ms"] == 43.94 and got["p99_ms"] == 44.68
    assert got["latency_ms"]["p75"] == 44.02 and got["latency_ms"]["p90"] == 44.13
    assert got["latency_ms"]["mean"] == 43.0 and got["latency_ms"]["max"] == 45.01
    assert got["non_2xx"] == 3 and got["socket_errors"] == 0


def test_parse_wrk_units_and_socket_errors():
    got = bench_http.parse_wrk(WRK_SECONDS_AND_ERRORS)
    assert got["p50_ms"] == 0.85 and got["p99_ms"] == 1500.0 and got["latency_ms"]["max"] == 1990.0
    assert got["socket_errors"] == 7 and got["non_2xx"] == 0 and got["requests_per_s"] == 899.1


def test_parse_wrk_refuses_output_without_throughput():
    with pytest.raises(ValueError, match="Requests/sec"):
        bench_http.parse_wrk("unable to connect to 127.0.0.1:9 Connection refused\n")


def test_ceiling_ratio_pairs_each_run_with_its_constant_twin():
    runs = [{"server": s, "workers": 2, "route": "/v1/verdicts", "concurrency": 32, "requests_per_s": rps,
             "p99_ms": p99} for s, rps, p99 in (("service", 500.0, 40.0), ("ceiling", 2000.0, 10.0))]
    out = bench_http.with_ratios({"runs": runs, "servers": []})
    service = out["runs"][0]
    assert service["ceiling_ratio"] == 0.25 and service["ceiling_requests_per_s"] == 2000.0
    assert service["ceiling_p99_ms"] == 10.0 and "ceiling_ratio" not in out["runs"][1]


def test_batch_bodies_are_distinct_windows_of_records():
    records = [{"rating": 1, "comment": f"c{i}", "fulfillment_channel": "AFN"} for i in range(25)]
    bodies = bench_http.bodies_for("batch", records, 10)
    assert len(bodies) == 2 and [len(json.loads(b)["items"]) for b in bodies] == [10, 10]
    assert json.loads(bodies[1])["items"][0]["comment"] == "c10"
    assert len(bench_http.bodies_for("verdicts", records, 10)) == 25


class _Recorder(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    seen: list[tuple[str, str, str]] = []

    def do_POST(self) -> None:  # noqa: N802 (the stdlib's name)
        body = self.rfile.read(int(self.headers.get("content-length", 0))).decode("utf-8")
        self.seen.append((self.path, self.headers.get("x-api-key", ""), body))
        self.send_response(200)
        self.send_header("content-length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args: object) -> None:
        pass


@needs_wrk
def test_lua_script_posts_every_body_in_rotation(tmp_path):
    """wrk with the generated script against a recording server: the path, the key, and distinct bodies
    (including one that holds Lua's long-bracket closer and non-ASCII text) arrive intact."""
    bodies = [json.dumps({"comment": f"kommentar {i} – åäö"}, ensure_ascii=False) for i in range(5)]
    bodies.append(json.dumps({"comment": "tricky ]] and ]=] inside"}))
    script = tmp_path / "s.lua"
    script.write_text(bench_http.lua_script(bodies, "/v1/verdicts", "fs_key"), encoding="utf-8")
    _Recorder.seen = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        out = subprocess.run(["wrk", "-t1", "-c1", "-d1s", "--latency", "-s", str(script),
                              f"http://127.0.0.1:{server.server_address[1]}"], capture_output=True, text=True,
                             timeout=60)
    finally:
        server.shutdown()
    assert out.returncode == 0, out.stderr
    assert bench_http.parse_wrk(out.stdout)["requests"] >= 1
    assert {(p, k) for p, k, _ in _Recorder.seen} == {("/v1/verdicts", "fs_key")}
    got = [b for _, _, b in _Recorder.seen]
    assert set(got) <= set(bodies)
    assert len(set(got)) == min(len(bodies), len(got))  # one after the other, none repeated before the rotation ends


def test_ceiling_app_answers_a_constant_through_the_same_auth_and_shapes(tmp_path, monkeypatch):
    from benchmarks.ceiling_app import make_app

    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path}/c.db")
    monkeypatch.setenv("FEEDBACK_STRIKE_API_KEYS", ADMIN_KEY)
    record = {"feedback_id": "fb-1", "rating": 1, "comment": "Kom aldrig.", "fulfillment_channel": "AFN"}
    with TestClient(make_app()) as client:
        assert client.post("/bench/constant/verdicts", json=record).status_code == 401
        one = client.post("/bench/constant/verdicts", json=record, headers={"X-API-Key": ADMIN_KEY})
        assert one.status_code == 200 and one.json()["feedback_id"] == "fb-1"
        assert set(one.json()) == set(client.post("/v1/verdicts", json=record,
                                                  headers={"X-API-Key": ADMIN_KEY}).json())
        many = client.post("/bench/constant/verdicts/batch", json={"items": [record] * 3},
                           headers={"X-API-Key": ADMIN_KEY})
        assert many.status_code == 200 and len(many.json()["items"]) == 3
        assert client.post("/bench/constant/verdicts", json=dict(record, rating=9),
                           headers={"X-API-Key": ADMIN_KEY}).status_code == 422


BENCH_SUGGEST_OUTPUT = """machine: x86_64, 2 logical CPUs, Python 3.11.7, Linux-6.18.44-fc-v669-x86_64-with-glibc2.36
imports 1.37 s, model load 0.23 s, model 2026.11.26-4
suggest (one comment): p50 0.630 ms, p99 2.171 ms over 300 calls
suggest_many: 12000 distinct comments in 1.81 s = 11,108 comments/s (one core)
"""


def test_parse_bench_suggest_output():
    got = run_all.parse_bench_suggest(BENCH_SUGGEST_OUTPUT)
    assert got["single_p50_ms"] == 0.63 and got["single_p99_ms"] == 2.171 and got["single_calls"] == 300
    assert got["many_comments_per_s"] == 11108.0 and got["many_comments"] == 12000 and got["many_kind"] == "distinct"
    assert got["model_version"] == "2026.11.26-4" and got["model_load_s"] == 0.23
    with pytest.raises(ValueError):
        run_all.parse_bench_suggest("something else\n")


def test_report_renders_a_sample_results_file():
    results = json.loads((HERE / "sample_results.json").read_text(encoding="utf-8"))
    md = report.render(results, source="tests/benchmarks/sample_results.json")
    assert md.startswith("# Benchmarks")
    for needle in ("## The machine", "## Against the targets", "## HTTP", "## Cold start", "## Training time",
                   "## In process", results["machine"]["cpu"], "benchmarks/run_all.py", "Load average",
                   "`/v1/verdicts/batch`", "ceiling"):
        assert needle in md, needle
    summary = md.split("## Against the targets", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in summary.splitlines() if line.startswith("| ") and "---" not in line][1:]
    assert len(rows) == 7  # the targets: suggest p50, suggest_many, verdicts req/s and p99, batch, RSS, cold
    assert all(row.rstrip(" |").split("|")[-1].strip() in ("yes", "**no**", "n/a") for row in rows)


def test_report_says_when_the_machine_was_shared_and_lists_failures():
    results = json.loads((HERE / "sample_results.json").read_text(encoding="utf-8"))
    results["load_average_start"] = [0.1, 0.1, 0.1]
    results["load_average_end"] = [0.2, 0.1, 0.1]
    assert "The machine was shared during this run" not in report.render(results)
    results["load_average_end"] = [1.9, 1.1, 0.5]
    results["benchmarks"]["training"] = {"benchmark": "training", "error": "exit 1: boom"}
    md = report.render(results)
    assert "The machine was shared during this run" in md and "## Failed in this run" in md and "boom" in md


def test_resampling_is_seeded_and_keeps_ids_unique(tmp_path):
    source = [json.dumps({"feedback_id": f"f{i}", "comment": "x"}) + "\n" for i in range(5)]
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    bench_training.resample(source, 40, 3, a)
    bench_training.resample(source, 40, 3, b)
    assert a.read_text() == b.read_text()
    ids = [json.loads(line)["feedback_id"] for line in a.read_text().splitlines()]
    assert len(ids) == 40 and len(set(ids)) == 40


def _run(script: str, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(ROOT / "benchmarks" / script), *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout)


def test_bench_training_tiny(tmp_path):
    out = tmp_path / "t.json"
    proc = _run("bench_training.py", "--sizes", "120", "--json", str(out))
    assert proc.returncode == 0, proc.stderr
    data = json.loads(out.read_text())
    (row,) = data["sizes"]
    assert row["comments"] == 120 and row["spans"] > 120
    assert set(row["seconds"]) == set(bench_training.STAGES) and row["fit_components_s"] > 0
    assert data["machine"]["logical_cpus"] and len(data["load_average_start"]) == 3


def test_bench_coldstart_tiny(tmp_path):
    out = tmp_path / "c.json"
    proc = _run("bench_coldstart.py", "--quick", "--json", str(out))
    assert proc.returncode == 0, proc.stderr
    data = json.loads(out.read_text())
    for k in ("healthz", "readyz", "first_verdict", "bare_fastapi_first_200", "imports_s", "model_load_s"):
        assert data["median"][k] > 0, k
    assert data["median"]["healthz"] <= data["median"]["first_verdict"]
    assert data["model_version"]


@needs_wrk
def test_bench_http_tiny(tmp_path):
    out = tmp_path / "h.json"
    proc = _run("bench_http.py", "--workers", "1", "--concurrency", "2", "--duration", "1", "--batch-size", "5",
                "--json", str(out))
    assert proc.returncode == 0, proc.stderr
    data = json.loads(out.read_text())
    assert {(r["server"], r["route"]) for r in data["runs"]} == {
        (s, r) for s in ("service", "ceiling") for r in ("/v1/verdicts", "/v1/verdicts/batch")}
    for r in data["runs"]:
        assert r["non_2xx"] == 0 and r["socket_errors"] == 0, r
        assert r["requests_per_s"] > 0 and r["p50_ms"] is not None and r["p99_ms"] is not None
        assert len(r["worker_cpu_share"]) == 1
        if r["server"] == "service":
            assert r["ceiling_ratio"] > 0
    batch = next(r for r in data["runs"] if r["route"] == "/v1/verdicts/batch")
    assert batch["comments_per_s"] == pytest.approx(batch["requests_per_s"] * 5, rel=1e-3)
    assert {s["server"] for s in data["servers"]} == {"service", "ceiling"}
    assert all(v > 50 for s in data["servers"] for v in s["peak_rss_mib"])


@pytest.mark.slow
@needs_wrk
def test_run_all_quick_writes_results_and_a_report(tmp_path):
    out, doc = tmp_path / "all.json", tmp_path / "benchmarks.md"
    proc = _run("run_all.py", "--quick", "--out", str(out), "--doc", str(doc), timeout=600)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(out.read_text())
    assert set(data["benchmarks"]) == {"suggest", "coldstart", "http", "training"}
    assert not [k for k, v in data["benchmarks"].items() if "error" in v]
    assert "single_p50_ms" in data["benchmarks"]["suggest"]
    assert "## Against the targets" in doc.read_text()
