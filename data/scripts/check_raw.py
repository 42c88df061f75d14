#!/usr/bin/env python3
"""Check a hand-written raw corpus file (data/raw/*.jsonl) before it is assembled.

Raw line format (one JSON object per line):
  {"id": "sv1-0001", "language": "sv", "rating": 1,
   "segments": [["Paketet kom två veckor för sent,", "amazon_delivery"],
                ["men skärmen var repad.", "product_condition"]]}

The comment is the segments joined with one space; a segment that starts with
"\\n" begins a new line and gets no space before it.  Each segment is one gold span.
Usage: python3 data/scripts/check_raw.py data/raw/FILE.jsonl [...]
"""
import json
import sys

LABELS = {"amazon_delivery", "amazon_service", "product_condition", "seller_service", "other"}
LANGS = {"sv", "en", "mixed"}


def check(path: str) -> int:
    problems = 0
    ids: set[str] = set()
    counts: dict[str, int] = {}
    n = 0
    with open(path, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            n += 1

            def bad(msg: str) -> None:
                nonlocal problems
                problems += 1
                print(f"{path}:{lineno}: {msg}")

            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                bad(f"invalid JSON: {exc}")
                continue
            if not isinstance(obj, dict):
                bad("line is not a JSON object")
                continue
            rid = obj.get("id")
            if not isinstance(rid, str) or not rid:
                bad("id missing")
            elif rid in ids:
                bad(f"duplicate id {rid}")
            else:
                ids.add(rid)
            if obj.get("language") not in LANGS:
                bad(f"language must be one of {sorted(LANGS)}")
            if obj.get("rating") not in (1, 2, 3, 4, 5):
                bad("rating must be an integer 1-5")
            segs = obj.get("segments")
            if not isinstance(segs, list) or not segs:
                bad("segments must be a non-empty list")
                continue
            for i, seg in enumerate(segs):
                if not (isinstance(seg, list) and len(seg) == 2 and all(isinstance(x, str) for x in seg)):
                    bad(f"segment {i} must be [text, label]")
                    continue
                text, label = seg
                if label not in LABELS:
                    bad(f"segment {i}: unknown label {label!r}")
                body = text[1:] if text.startswith("\n") else text
                if not body.strip():
                    bad(f"segment {i}: empty text")
                elif body != body.strip():
                    bad(f"segment {i}: leading/trailing whitespace in {text!r} (only a leading \\n is allowed)")
                counts[label] = counts.get(label, 0) + 1
    print(f"{path}: {n} comments, spans per label: {dict(sorted(counts.items()))}, problems: {problems}")
    return problems


if __name__ == "__main__":
    total = sum(check(p) for p in sys.argv[1:])
    sys.exit(1 if total else 0)
