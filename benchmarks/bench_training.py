"""Training time against corpus size, one core (OPENBLAS_NUM_THREADS=1).

    .venv/bin/python benchmarks/bench_training.py [--sizes 1000 5000 20000 50000] [--seed 0] [--json OUT]

For each size, data/train.jsonl is resampled with replacement (seeded) to that many comments into a
temporary file, for this benchmark only (a resampled corpus repeats comments; nothing is trained on
it for use).  Then, timed separately:

- ``read``: ``training.corpus.load_corpus`` of that file (parsing and validating every line);
- ``segmenter``: ``ClauseSegmenter().fit`` on the comments and their gold span starts;
- ``langid``: ``LanguageIdentifier().fit`` on the sv/en spans;
- ``span_items``: building the span classifier's inputs (each span with its context);
- ``span_classifier``: ``SpanClassifier().fit`` with the shipped model's parameters (the defaults,
  context scope ``comment``): vocabularies and IDF weights (featurization), the logistic regression
  and its calibration.

Together these are ``training.train.fit_components``, the model's components fitted once.  NOT timed:
the doubt gate (``fit_gate``: fit_components again on each of 4 folds, about 4x the above on 3/4 of the
data, plus reading the held-out comments), the threshold tuning and the evaluation that
``training.train.train`` adds; on the 17k-comment corpus the whole of ``train`` takes about 15 minutes
on this machine kind, too slow for a rerunnable benchmark at 50k.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._common import DATA, load_average, machine, write_json  # noqa: E402

STAGES = ("read", "segmenter", "langid", "span_items", "span_classifier")


def resample(source: list[str], size: int, seed: int, out: Path) -> None:
    """``size`` lines drawn with replacement; each draw gets its own feedback_id (the reader refuses repeats)."""
    rng = random.Random(seed)
    with open(out, "w", encoding="utf-8") as fh:
        for i in range(size):
            line = json.loads(rng.choice(source))
            line["feedback_id"] = f"{line['feedback_id']}-d{i}"
            fh.write(json.dumps(line, ensure_ascii=False) + "\n")


def time_size(source: list[str], size: int, seed: int, tmp: Path) -> dict[str, Any]:
    from classifier.langid import LanguageIdentifier
    from classifier.model import SpanClassifier
    from classifier.segment import ClauseSegmenter, gold_start_offsets
    from training.corpus import load_corpus, span_items

    path = tmp / f"train-{size}.jsonl"
    resample(source, size, seed, path)
    times: dict[str, float] = {}

    t = time.perf_counter()
    lines = load_corpus(path, progress=False)
    times["read"] = time.perf_counter() - t

    t = time.perf_counter()
    ClauseSegmenter().fit([line["comment"] for line in lines], [gold_start_offsets(line["spans"]) for line in lines],
                          random_state=seed)
    times["segmenter"] = time.perf_counter() - t

    texts: list[str] = []
    langs: list[str] = []
    for line in lines:
        if line["language"] in ("sv", "en"):
            texts.extend(line["comment"][s["start"]:s["end"]] for s in line["spans"])
            langs.extend(line["language"] for _ in line["spans"])
    t = time.perf_counter()
    LanguageIdentifier().fit(texts, langs)
    times["langid"] = time.perf_counter() - t

    t = time.perf_counter()
    items, labels = span_items(lines, "comment")
    times["span_items"] = time.perf_counter() - t

    t = time.perf_counter()
    SpanClassifier(random_state=seed).fit(items, labels)
    times["span_classifier"] = time.perf_counter() - t
    path.unlink()
    total = sum(times.values())
    return {"comments": size, "spans": len(items), "seconds": {k: round(v, 3) for k, v in times.items()},
            "fit_components_s": round(total, 3), "comments_per_s": round(size / total, 1)}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[1000, 5000, 20000, 50000])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", type=Path)
    ap.add_argument("--quick", action="store_true", help="one tiny corpus of 300 comments")
    args = ap.parse_args(argv)
    if args.quick:
        args.sizes = [300]
    with open(DATA / "train.jsonl", encoding="utf-8") as fh:
        source = [line if line.endswith("\n") else line + "\n" for line in fh if line.strip()]
    started = time.time()
    load_start = load_average()
    rows = []
    with tempfile.TemporaryDirectory(prefix="fs-bench-train-") as tmp:
        for size in args.sizes:
            row = time_size(source, size, args.seed, Path(tmp))
            rows.append(row)
            print(f"{size:>6} comments ({row['spans']} spans): fit_components {row['fit_components_s']:.1f} s  "
                  + "  ".join(f"{k} {v:.2f}" for k, v in row["seconds"].items()), flush=True)
    out = {"benchmark": "training", "quick": args.quick, "started": started,
           "seconds": round(time.time() - started, 1), "load_average_start": load_start,
           "load_average_end": load_average(), "machine": machine(), "sizes": rows,
           "config": {"source": "data/train.jsonl", "source_comments": len(source), "seed": args.seed,
                      "resampling": "with replacement", "stages": list(STAGES),
                      "not_timed": "the doubt gate (4-fold out-of-fold fit_components), threshold tuning, "
                                   "evaluation, saving"}}
    if args.json:
        write_json(args.json, out)
    return out


if __name__ == "__main__":
    main()
