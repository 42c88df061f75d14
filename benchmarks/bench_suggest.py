"""In-process speed of the shipped model: single-call latency and batch throughput on one core.

    OPENBLAS_NUM_THREADS=1 .venv/bin/python benchmarks/bench_suggest.py [--n 10000] [--model VERSION]

The model is the registry's current one (``models/CURRENT``) unless ``--model`` names another
version (or a model directory).

``--comments distinct`` (the default) times --n *distinct* comments: the dev and test splits' plus
written training comments, each text once, so per-word caches are as cold as on a stream of new
feedback (the model did train on some of them; speed does not depend on that).  ``--comments repeated``
repeats the dev and test comments to --n, the warm-cache figure earlier READMEs quoted.
Prints the machine it ran on.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=10_000, help="comments for the throughput run")
    ap.add_argument("--single", type=int, default=2_000, help="single calls timed for latency")
    ap.add_argument("--comments", choices=("distinct", "repeated"), default="distinct",
                    help="distinct texts (cold caches) or dev+test repeated (warm)")
    ap.add_argument("--model", help="registry version or model directory (default: the one models/CURRENT names)")
    args = ap.parse_args()

    t0 = time.perf_counter()
    from classifier.artifact import load_model
    from classifier.registry import Registry
    from training.corpus import DATA_DIR, load_corpus

    t_import = time.perf_counter() - t0
    t0 = time.perf_counter()
    model = load_model(args.model) if args.model and os.path.isdir(args.model) else Registry().load(args.model)
    t_load = time.perf_counter() - t0
    lines = load_corpus(DATA_DIR / "dev.jsonl") + load_corpus(DATA_DIR / "test.jsonl")
    records = [{k: line[k] for k in ("feedback_id", "rating", "comment", "fulfillment_channel", "shipped_via_mcf")}
               for line in lines]
    if args.comments == "repeated":
        batch = (records * (args.n // len(records) + 1))[: args.n]
    else:
        seen: set[str] = set()
        pool = records + [
            {k: line[k] for k in ("feedback_id", "rating", "comment", "fulfillment_channel", "shipped_via_mcf")}
            for line in load_corpus(DATA_DIR / "train.jsonl") if line.get("source") == "written"]
        distinct = [r for r in pool if not (r["comment"] in seen or seen.add(r["comment"]))]
        if len(distinct) < args.n + args.single + 200:
            raise SystemExit(f"only {len(distinct)} distinct comments available; lower --n or --single")
        records = distinct[: args.single + 200]  # the single calls' comments ...
        batch = distinct[args.single + 200: args.single + 200 + args.n]  # ... are not in the timed batch

    for r in records[:200]:  # warm caches the way a running service would be warm
        model.suggest(r)
    lat = []
    for i in range(args.single):
        r = records[i % len(records)]
        t = time.perf_counter_ns()
        model.suggest(r)
        lat.append((time.perf_counter_ns() - t) / 1e6)
    lat.sort()
    t = time.perf_counter()
    model.suggest_many(batch)
    dt = time.perf_counter() - t

    print(f"machine: {platform.machine()}, {os.cpu_count()} logical CPUs, Python {platform.python_version()}, "
          f"{platform.processor() or platform.platform()}")
    print(f"imports {t_import:.2f} s, model load {t_load:.2f} s, model {model.version}")
    print(f"suggest (one comment): p50 {statistics.median(lat):.3f} ms, "
          f"p99 {lat[int(len(lat) * 0.99) - 1]:.3f} ms over {len(lat)} calls")
    print(f"suggest_many: {len(batch)} {args.comments} comments in {dt:.2f} s = "
          f"{len(batch) / dt:,.0f} comments/s (one core)")


if __name__ == "__main__":
    main()
