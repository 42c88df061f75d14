"""Render docs/benchmarks.md from a results JSON written by benchmarks/run_all.py.

    .venv/bin/python benchmarks/report.py [benchmarks/results/latest.json] [--doc docs/benchmarks.md]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
FINDINGS = Path(__file__).resolve().parent / "findings.md"

# the targets of issue #6, on this 2-core machine kind
TARGETS = {
    "suggest_p50_ms": 0.3,
    "suggest_many_per_s": 10_000,
    "verdicts_rps_2w_c32": 2_000,
    "verdicts_p99_ms_2w_c32": 30,
    "batch_comments_per_s": 8_000,
    "rss_mb_per_worker": 300,
    "cold_start_s": 3,
}
BUSY_LOAD = 0.5  # a 1-minute load average above this at the start means something else was running


def _num(value: Any, digits: int = 1) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float) and value >= 1000:
        return f"{value:,.0f}"
    if isinstance(value, int):
        return f"{value:,}"
    return f"{value:.{digits}f}"


def _met(ok: bool | None) -> str:
    return "n/a" if ok is None else ("yes" if ok else "**no**")


def _http_run(runs: list[dict[str, Any]], workers: int, route: str, c: int) -> dict[str, Any] | None:
    for r in runs:
        if (r["server"], r["workers"], r["route"], r["concurrency"]) == ("service", workers, route, c):
            return r
    return None


def summary_rows(b: dict[str, Any]) -> list[list[str]]:
    """what | target | measured | ceiling (same run) | ratio to the ceiling | met"""
    rows: list[list[str]] = []
    s = b.get("suggest", {})
    if "error" not in s and s:
        p50 = s.get("single_p50_ms")
        rows.append(["`suggest`, one comment, median (in process)", f"<= {TARGETS['suggest_p50_ms']} ms",
                     f"{_num(p50, 3)} ms (p99 {_num(s.get('single_p99_ms'), 3)} ms)", "n/a (no framework)", "",
                     _met(p50 is not None and p50 <= TARGETS["suggest_p50_ms"])])
        per_s = s.get("many_comments_per_s")
        rows.append([f"`suggest_many`, {s.get('many_kind', '')} comments, one core",
                     f">= {TARGETS['suggest_many_per_s']:,}/s", f"{_num(per_s)}/s", "n/a (no framework)", "",
                     _met(per_s is not None and per_s >= TARGETS["suggest_many_per_s"])])
    h = b.get("http", {})
    if h and "error" not in h:
        runs = h["runs"]
        top = max(h["config"]["workers"])
        c = 32 if 32 in h["config"]["concurrency"] else max(h["config"]["concurrency"])
        r = _http_run(runs, top, "/v1/verdicts", c)
        if r:
            rows.append([f"`/v1/verdicts`, {top} worker(s), concurrency {c}",
                         f">= {TARGETS['verdicts_rps_2w_c32']:,} req/s", f"{_num(r['requests_per_s'])} req/s",
                         f"{_num(r.get('ceiling_requests_per_s'))} req/s", _num(r.get("ceiling_ratio"), 2),
                         _met(r["requests_per_s"] >= TARGETS["verdicts_rps_2w_c32"])])
            rows.append([f"`/v1/verdicts` p99, {top} worker(s), concurrency {c}",
                         f"<= {TARGETS['verdicts_p99_ms_2w_c32']} ms", f"{_num(r['p99_ms'])} ms",
                         f"{_num(r.get('ceiling_p99_ms'))} ms", "",
                         _met(r["p99_ms"] is not None and r["p99_ms"] <= TARGETS["verdicts_p99_ms_2w_c32"])])
        batch = [x for x in runs if x["server"] == "service" and x["route"] == "/v1/verdicts/batch"
                 and x["workers"] == top]
        if batch:
            best = max(batch, key=lambda x: x["comments_per_s"])
            ceiling = best.get("ceiling_requests_per_s")
            rows.append([f"`/v1/verdicts/batch` ({best['batch_size']} per request), {top} worker(s), best of "
                         f"concurrency {', '.join(str(x['concurrency']) for x in batch)} (c{best['concurrency']})",
                         f">= {TARGETS['batch_comments_per_s']:,} comments/s",
                         f"{_num(best['comments_per_s'])} comments/s",
                         f"{_num(ceiling * best['batch_size'] if ceiling else None)} comments/s",
                         _num(best.get("ceiling_ratio"), 2),
                         _met(best["comments_per_s"] >= TARGETS["batch_comments_per_s"])])
        # the real worker processes of the largest --workers (with 1, the server process is also the CLI's)
        svc = [x for x in h["servers"] if x["server"] == "service" and x["workers"] == top]
        ceil = [x for x in h["servers"] if x["server"] == "ceiling" and x["workers"] == top]
        if svc:
            peak = max(max(x["peak_rss_mib"]) for x in svc)
            cpeak = max(max(x["peak_rss_mib"]) for x in ceil) if ceil else None
            rows.append([f"peak RSS per worker (VmHWM after the load, largest of {top} worker(s))",
                         f"<= {TARGETS['rss_mb_per_worker']} MB", f"{_num(peak)} MiB ({_num(peak * 1.048576)} MB)",
                         f"{_num(cpeak)} MiB (constant app, same imports and model)", "",
                         _met(peak * 1.048576 <= TARGETS["rss_mb_per_worker"])])
    cs = b.get("coldstart", {})
    if cs and "error" not in cs:
        m = cs["median"]
        rows.append(["cold start: launch to first 200 on `/v1/verdicts` (median)", f"<= {TARGETS['cold_start_s']} s",
                     f"{_num(m.get('first_verdict'), 2)} s", _ceiling_start(cs), "",
                     _met(m.get("first_verdict", 99) <= TARGETS["cold_start_s"])])
    return rows


def _ceiling_start(cs: dict[str, Any]) -> str:
    bare = cs.get("median", {}).get("bare_fastapi_first_200")
    return f"{bare:.2f} s (bare FastAPI + uvicorn)" if bare is not None else "n/a"


def _table(header: list[str], rows: list[list[str]]) -> str:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(out)


def _loads(x: dict[str, Any]) -> str:
    a, b = x.get("load_average_start"), x.get("load_average_end")
    return f"{' / '.join(map(str, a)) if a else 'n/a'} -> {' / '.join(map(str, b)) if b else 'n/a'}"


def render(results: dict[str, Any], source: str = "benchmarks/results/latest.json") -> str:
    b = results.get("benchmarks", {})
    m = results.get("machine", {})
    quick = results.get("quick")
    lines: list[str] = ["# Benchmarks", ""]
    lines.append(f"Generated by `benchmarks/report.py` from `{source}` (commit {results.get('commit')}, "
                 f"started {results.get('started_utc')} UTC, {results.get('seconds')} s in all)."
                 + (" **A quick run: tiny sizes that check the harness, not the speed.**" if quick else ""))
    lines += ["", "Reproduce (from the repository root, after `make install-test`; wrk from Debian: "
              "`apt-get install -y wrk`):", "", "```", results.get("command", ".venv/bin/python benchmarks/run_all.py"),
              "```", ""]
    start_load = (results.get("load_average_start") or [0])[0]
    end_load = (results.get("load_average_end") or [0])[0]
    lines += ["## The machine", "",
              f"- CPU: {m.get('cpu')}, {m.get('logical_cpus')} logical CPUs; RAM {m.get('ram_gib')} GiB",
              f"- Python {m.get('python')} on {m.get('platform')}; load generator: {m.get('wrk') or 'wrk not found'}",
              "- Libraries: " + ", ".join(f"{k} {v}" for k, v in (m.get("libraries") or {}).items() if v),
              f"- Load average (1 / 5 / 15 min) at the start and the end of the run: {_loads(results)}"]
    if max(start_load, end_load) > BUSY_LOAD:
        lines.append(f"- **The machine was shared during this run**: the 1-minute load average was {start_load} before "
                     f"it started (our own load comes on top after that; {end_load} at the end). Other work competed "
                     "for the 2 cores, so these figures are lower and noisier than on an idle machine. Compare "
                     "figures within one run (the ceiling ratios were measured side by side), not across runs.")
    lines += ["", "## Against the targets", "",
              "The ceiling is the same stack answering a constant, measured in the same run (see below); the ratio "
              "is our figure over the ceiling's, so 1.0 would mean our own work costs nothing.", ""]
    lines.append(_table(["what", "target", "measured", "ceiling (same run)", "ratio", "met"], summary_rows(b)))
    lines += ["", "MB = 10^6 bytes, MiB = 2^20 bytes.", ""]

    failed = {k: v["error"] for k, v in b.items() if "error" in v}
    if failed:
        lines += ["## Failed in this run", ""]
        lines += [f"- `{k}`: `{v[:300]}`" for k, v in failed.items()]
        lines.append("")

    s = b.get("suggest", {})
    if s and "error" not in s:
        lines += ["## In process (`benchmarks/bench_suggest.py`)", "",
                  f"Command: `OPENBLAS_NUM_THREADS=1 {s['command']}`; load average {_loads(s)}.", "",
                  _table(["figure", "value"], [
                      ["model", str(s.get("model_version"))],
                      ["imports / model load", f"{_num(s.get('imports_s'), 2)} s / {_num(s.get('model_load_s'), 2)} s"],
                      ["`suggest`, one comment: p50 / p99",
                       f"{_num(s['single_p50_ms'], 3)} ms / {_num(s['single_p99_ms'], 3)} ms "
                       f"over {s['single_calls']} calls"],
                      [f"`suggest_many`, {s['many_comments']} {s['many_kind']} comments, one core",
                       f"{_num(s['many_comments_per_s'])} comments/s ({s['many_seconds']} s)"]]), ""]

    h = b.get("http", {})
    if h and "error" not in h:
        cfg = h["config"]
        lines += ["## HTTP (`benchmarks/bench_http.py`)", "",
                  f"Command: `{h['command']}`; load average {_loads(h)}.", "",
                  f"wrk {cfg['duration_s']:g} s per run with `--latency`, 1 thread at concurrency 1 and 2 threads "
                  f"above, on the same machine as the server (it takes CPU from it). Bodies: "
                  f"{cfg['distinct_bodies']} distinct records from data/dev.jsonl and data/test.jsonl, rotated; "
                  f"the batch route gets {cfg['batch_size']} records per request (comments/s = requests/s x "
                  f"{cfg['batch_size']}). Servers: `feedback-strike serve --workers N` with a fresh SQLite database "
                  "and a key made by `feedback-strike keys create`. Ceiling: " + cfg["ceiling"] + ". "
                  "Worker CPU is each worker's CPU time over the run's wall time (1.0 = one core).", ""]
        rows = []
        for r in h["runs"]:
            if r["server"] != "service":
                continue
            rows.append([str(r["workers"]), f"`{r['route']}`", str(r["concurrency"]), _num(r["requests_per_s"]),
                         _num(r["comments_per_s"]), _num(r["p50_ms"], 2), _num(r["p99_ms"], 2),
                         _num(r.get("ceiling_requests_per_s")), _num(r.get("ceiling_p99_ms"), 2),
                         _num(r.get("ceiling_ratio"), 2), str(r["non_2xx"] + r["socket_errors"]),
                         " + ".join(f"{x:.2f}" for x in r["worker_cpu_share"])])
        lines.append(_table(["workers", "route", "conc.", "req/s", "comments/s", "p50 ms", "p99 ms",
                             "ceiling req/s", "ceiling p99 ms", "ratio", "errors", "worker CPU"], rows))
        lines += ["", "Peak RSS per worker after the load (VmHWM, MiB):", ""]
        lines.append(_table(["server", "workers", "peak RSS per worker", "RSS at the end"],
                            [[x["server"], str(x["workers"]), ", ".join(_num(v) for v in x["peak_rss_mib"]),
                              ", ".join(_num(v) for v in x["rss_mib"])] for x in h["servers"]]))
        lines.append("")

    cs = b.get("coldstart", {})
    if cs and "error" not in cs:
        med = cs["median"]
        lines += ["## Cold start (`benchmarks/bench_coldstart.py`)", "",
                  f"Command: `{cs['command']}`; load average {_loads(cs)}; median of {cs['config']['runs']} run(s), "
                  "each from launching `feedback-strike serve` (1 worker, a migrated fresh SQLite database) to the "
                  "first 200, polled every 20 ms.", ""]
        rows = [[k, f"{v:.2f} s" if k.endswith("_s") or k in ("healthz", "readyz", "first_verdict",
                                                               "bare_fastapi_first_200") else _num(v)]
                for k, v in med.items()]
        lines.append(_table(["figure", "median"], rows))
        lines += ["", "healthz / readyz / first_verdict: first 200 on `GET /healthz`, `GET /readyz`, "
                  "`POST /v1/verdicts`. "
                  "imports_s / model_load_s / first_suggest_s: in a fresh interpreter, the imports, "
                  "`Registry().load()` and the first `suggest`. bare_fastapi_first_200: the framework's own floor, "
                  "a FastAPI app answering a constant under the same uvicorn, launch to first 200.", ""]

    t = b.get("training", {})
    if t and "error" not in t:
        lines += ["## Training time against corpus size (`benchmarks/bench_training.py`)", "",
                  f"Command: `{t['command']}`; load average {_loads(t)}. data/train.jsonl "
                  f"({t['config']['source_comments']} comments) resampled with replacement (seed "
                  f"{t['config']['seed']}) into a temporary file, one BLAS thread. Timed: the model's components "
                  "fitted once (`training.train.fit_components`), stage by stage. Not timed: "
                  f"{t['config']['not_timed']} (the whole `training.train` takes ~15 minutes on 17k comments "
                  "here).", ""]
        rows = [[_num(r["comments"]), _num(r["spans"])] + [f"{r['seconds'][k]:.2f}" for k in t["config"]["stages"]]
                + [f"{r['fit_components_s']:.1f}", _num(r["comments_per_s"])] for r in t["sizes"]]
        lines.append(_table(["comments", "spans", *[f"{k} s" for k in t["config"]["stages"]], "total s",
                             "comments/s"], rows))
        lines.append("")
    if FINDINGS.exists():  # the hand-written part: profiles and the changes they led to
        lines += ["", FINDINGS.read_text(encoding="utf-8").rstrip(), ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("results", nargs="?", type=Path, default=ROOT / "benchmarks" / "results" / "latest.json")
    ap.add_argument("--doc", type=Path, default=ROOT / "docs" / "benchmarks.md")
    args = ap.parse_args(argv)
    results = json.loads(args.results.read_text(encoding="utf-8"))
    try:
        source = str(args.results.resolve().relative_to(ROOT))
    except ValueError:
        source = str(args.results)
    args.doc.write_text(render(results, source=source), encoding="utf-8")
    print(args.doc)


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
