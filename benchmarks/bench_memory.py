"""Memory a long-running process keeps per word it has never seen (docs/reliability.md, "Memory").

Warms the shipped model on the dev and test comments, then suggests verdicts for comments that each
carry one new word, and reports the resident memory, the growth per new word by source line
(tracemalloc) and the size of spaCy's vocabulary.

    OPENBLAS_NUM_THREADS=1 .venv/bin/python benchmarks/bench_memory.py [--comments 20000]
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import string
import tracemalloc
from pathlib import Path

from classifier import load_model, segment

DATA = Path(__file__).resolve().parent.parent / "data"


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--comments", type=int, default=20_000, help="comments with a new word each")
    args = p.parse_args()
    model = load_model()
    pool = [json.loads(line)["comment"] for name in ("dev.jsonl", "test.jsonl")
            for line in (DATA / name).read_text(encoding="utf-8").splitlines() if line.strip()]
    for i in range(0, len(pool), 500):
        model.suggest_many([{"rating": 1, "comment": c, "fulfillment_channel": "AFN"} for c in pool[i : i + 500]])
    rng = random.Random(1)

    def novel(n: int) -> list[dict]:
        return [{"rating": 1, "fulfillment_channel": "AFN",
                 "comment": rng.choice(pool) + " " + "".join(rng.choices(string.ascii_lowercase, k=rng.randint(5, 11)))}
                for _ in range(n)]

    gc.collect()
    start = rss_mb()
    for _ in range(args.comments // 500):  # resident memory first, without tracemalloc's own overhead
        model.suggest_many(novel(500))
    gc.collect()
    end = rss_mb()
    print(f"resident memory after warming up {start:.0f} MB, after {args.comments} new words {end:.0f} MB "
          f"({(end - start) * 1e6 / args.comments:.0f} B a word); spaCy vocabulary now "
          f"{len(segment.tokenizer().vocab)} entries (renewed past {getattr(segment, 'MAX_LEXEMES', 'never')})")
    tracemalloc.start(1)
    before = tracemalloc.take_snapshot()
    for _ in range(args.comments // 500):
        model.suggest_many(novel(500))
    gc.collect()
    stats = tracemalloc.take_snapshot().compare_to(before, "lineno")
    total = sum(s.size_diff for s in stats)
    print(f"Python heap kept per new word (tracemalloc, the next {args.comments}): {total / args.comments:.0f} B")
    for s in stats[:8]:
        frame = s.traceback[0]
        print(f"  {s.size_diff / args.comments:7.0f} B  {frame.filename.split('site-packages/')[-1]}:{frame.lineno}")

if __name__ == "__main__":
    main()
