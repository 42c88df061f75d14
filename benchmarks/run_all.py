"""Run every benchmark, write the results as JSON, render docs/benchmarks.md.

    .venv/bin/python benchmarks/run_all.py            # the full run (~15 minutes on 2 cores)
    .venv/bin/python benchmarks/run_all.py --quick    # everything tiny, well under a minute

Each benchmark runs in its own interpreter, one after the other: benchmarks/bench_suggest.py
(in-process speed of the model; its printed figures are parsed), bench_coldstart.py, bench_http.py
and bench_training.py.  The full run writes ``benchmarks/results/<UTC time>.json`` and
``benchmarks/results/latest.json`` and renders ``docs/benchmarks.md`` from them; ``--quick`` writes
``benchmarks/results/quick.json`` and renders nothing unless ``--doc`` is given.  A benchmark that
fails is recorded with its error and the others still run (the exit status is then 1).
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import report  # noqa: E402
from benchmarks._common import RESULTS, ROOT, bench_env, git_commit, load_average, machine, write_json  # noqa: E402

HERE = Path(__file__).resolve().parent

# (name, script, full arguments, quick arguments); each script but bench_suggest takes --json and --quick
PLAN: list[tuple[str, str, list[str], list[str]]] = [
    ("suggest", "bench_suggest.py", ["--n", "10000", "--single", "2000"], ["--n", "500", "--single", "100"]),
    ("coldstart", "bench_coldstart.py", ["--runs", "5"], ["--quick"]),
    ("http", "bench_http.py", ["--duration", "10"], ["--quick"]),
    ("training", "bench_training.py", [], ["--quick"]),
]


def parse_bench_suggest(text: str) -> dict[str, Any]:
    """The figures benchmarks/bench_suggest.py prints (its lines, as of this writing):

    imports 1.37 s, model load 0.23 s, model 2026.11.26-4
    suggest (one comment): p50 0.630 ms, p99 2.171 ms over 300 calls
    suggest_many: 2000 distinct comments in 1.81 s = 1,108 comments/s (one core)
    """
    out: dict[str, Any] = {}
    m = re.search(r"imports ([\d.]+) s, model load ([\d.]+) s, model (\S+)", text)
    if m:
        out.update(imports_s=float(m.group(1)), model_load_s=float(m.group(2)), model_version=m.group(3))
    m = re.search(r"suggest \(one comment\): p50 ([\d.]+) ms, p99 ([\d.]+) ms over (\d+) calls", text)
    if not m:
        raise ValueError("no single-call line in bench_suggest output:\n" + text[-1500:])
    out.update(single_p50_ms=float(m.group(1)), single_p99_ms=float(m.group(2)), single_calls=int(m.group(3)))
    m = re.search(r"suggest_many: (\d+) (\w+) comments in ([\d.]+) s = ([\d,.]+) comments/s", text)
    if not m:
        raise ValueError("no suggest_many line in bench_suggest output:\n" + text[-1500:])
    out.update(many_comments=int(m.group(1)), many_kind=m.group(2), many_seconds=float(m.group(3)),
               many_comments_per_s=float(m.group(4).replace(",", "")))
    m = re.search(r"^machine: (.*)$", text, flags=re.M)
    if m:
        out["machine_line"] = m.group(1)
    return out


def run_one(name: str, script: str, args: list[str], tmp: Path) -> dict[str, Any]:
    cmd = [sys.executable, str(HERE / script), *args]
    json_out = tmp / f"{name}.json"
    if name != "suggest":
        cmd += ["--json", str(json_out)]
    print(f"== {name}: {' '.join(Path(c).name if i < 2 else c for i, c in enumerate(cmd))}", flush=True)
    started = time.time()
    load_start = load_average()
    proc = subprocess.run(cmd, cwd=ROOT, env=bench_env(tmp), capture_output=True, text=True)
    print(proc.stdout, end="", flush=True)
    if proc.returncode != 0:
        return {"benchmark": name, "error": f"exit {proc.returncode}: {proc.stderr.strip()[-3000:]}",
                "command": cmd}
    if name == "suggest":
        try:
            result: dict[str, Any] = {"benchmark": "suggest", **parse_bench_suggest(proc.stdout)}
        except ValueError as exc:
            return {"benchmark": name, "error": str(exc), "command": cmd}
        result.update(started=started, seconds=round(time.time() - started, 1), load_average_start=load_start,
                      load_average_end=load_average(), output=proc.stdout)
    else:
        result = json.loads(json_out.read_text(encoding="utf-8"))
        result.pop("machine", None)  # once, at the top
    result["command"] = " ".join([".venv/bin/python", f"benchmarks/{script}", *args])
    return result


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="everything tiny (checks the harness, not the speed)")
    ap.add_argument("--only", nargs="+", choices=[p[0] for p in PLAN], help="run only these")
    ap.add_argument("--out", type=Path, help="results JSON (default: benchmarks/results/<time>.json, or quick.json)")
    ap.add_argument("--doc", type=Path, help="render this markdown file (default: docs/benchmarks.md on a full run)")
    args = ap.parse_args(argv)

    started = time.time()
    results: dict[str, Any] = {"quick": args.quick, "started_utc": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime()),
                               "commit": git_commit(), "load_average_start": load_average(), "machine": machine(),
                               "command": " ".join([".venv/bin/python", "benchmarks/run_all.py",
                                                    *(["--quick"] if args.quick else [])]),
                               "benchmarks": {}}
    failed = False
    with tempfile.TemporaryDirectory(prefix="fs-bench-all-") as tmp:
        for name, script, full, quick in PLAN:
            if args.only and name not in args.only:
                continue
            result = run_one(name, script, quick if args.quick else full, Path(tmp))
            failed |= "error" in result
            results["benchmarks"][name] = result
            if "error" in result:
                print(f"!! {name} failed: {result['error'][-500:]}", file=sys.stderr, flush=True)
    results["load_average_end"] = load_average()
    results["seconds"] = round(time.time() - started, 1)

    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(started))
    out = args.out or RESULTS / ("quick.json" if args.quick else f"{stamp}.json")
    write_json(out, results)
    print(f"results: {out}")
    if not args.quick and not args.out and not args.only:
        write_json(RESULTS / "latest.json", results)
    doc = args.doc or (None if args.quick or args.only else ROOT / "docs" / "benchmarks.md")
    if doc is not None:
        doc.parent.mkdir(parents=True, exist_ok=True)
        doc.write_text(report.render(results, source=_shown(out)), encoding="utf-8")
        print(f"report: {doc}")
    return 1 if failed else 0


def _shown(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


if __name__ == "__main__":
    sys.exit(main())
