"""Reading, validating and building the labelled corpus (INTERFACES.md corpus lines)."""

from __future__ import annotations

import hashlib
import json
import random
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from classifier.decision import LABELS, OrderFacts, gold_verdict
from classifier.records import RecordError, parse_record

DATA_DIR = Path(__file__).resolve().parent.parent / "data"
LANGUAGES = ("sv", "en", "mixed")


class CorpusError(ValueError):
    """Problems in a corpus file; ``problems`` holds ``(line_number, message)`` pairs."""

    def __init__(self, path: str, problems: list[tuple[int, str]]) -> None:
        self.path = path
        self.problems = problems
        shown = "\n".join(f"{path}:{n}: {m}" for n, m in problems[:20])
        more = f"\n... and {len(problems) - 20} more" if len(problems) > 20 else ""
        super().__init__(f"{len(problems)} problem(s) in {path}:\n{shown}{more}")


def read_jsonl(path: str | Path) -> Iterator[tuple[int, Any, str | None]]:
    """Yield ``(line_number, object, error)`` for each non-blank line; object is None on a JSON error."""
    with open(path, encoding="utf-8", errors="strict") as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                yield n, json.loads(line), None
            except json.JSONDecodeError as exc:
                yield n, None, f"invalid JSON: {exc.msg} at column {exc.colno}"


def line_problems(obj: Any) -> list[str]:
    """Everything wrong with one corpus line (empty when it is valid)."""
    if not isinstance(obj, dict):
        return ["line is not a JSON object"]
    problems = []
    try:
        record = parse_record(obj)
    except RecordError as exc:
        return [f"{f}: {m}" for f, m in exc.problems]
    if obj.get("language") not in LANGUAGES:
        problems.append(f"language: must be one of {', '.join(LANGUAGES)} (got {obj.get('language')!r})")
    spans = obj.get("spans")
    if not isinstance(spans, list) or not spans:
        return [*problems, "spans: must be a non-empty list"]
    comment = record.comment
    prev_end = 0
    labels = []
    for i, s in enumerate(spans):
        if not isinstance(s, dict) or not {"start", "end", "label"} <= s.keys():
            problems.append(f"spans[{i}]: needs start, end and label")
            continue
        start, end, label = s["start"], s["end"], s["label"]
        if not (isinstance(start, int) and isinstance(end, int)) or isinstance(start, bool):
            problems.append(f"spans[{i}]: start and end must be integers")
            continue
        if not 0 <= start < end <= len(comment):
            problems.append(f"spans[{i}]: offsets {start}-{end} outside the comment (length {len(comment)})")
        if start < prev_end:
            problems.append(f"spans[{i}]: starts at {start}, overlapping or before the previous span (ends {prev_end})")
        prev_end = max(prev_end, end)
        if label not in LABELS:
            problems.append(f"spans[{i}]: unknown label {label!r}")
        labels.append(label)
        if "text" in s and s["text"] != comment[start:end]:
            problems.append(f"spans[{i}]: text does not match comment[{start}:{end}]")
    verdict = obj.get("verdict")
    if verdict not in ("strike", "keep"):
        problems.append(f"verdict: must be strike or keep (got {verdict!r})")
    elif not problems:
        expected = gold_verdict(OrderFacts(record.rating, record.fulfillment_channel, record.shipped_via_mcf), labels)
        if expected != verdict:
            problems.append(f"verdict: gold says {verdict} but the labels and order facts give {expected}")
    return problems


def validate_file(path: str | Path) -> tuple[int, list[tuple[int, str]]]:
    """``(line_count, problems)`` for a corpus file; also flags duplicate feedback ids."""
    problems: list[tuple[int, str]] = []
    seen: dict[str, int] = {}
    count = 0
    for n, obj, err in read_jsonl(path):
        count += 1
        if err:
            problems.append((n, err))
            continue
        problems.extend((n, p) for p in line_problems(obj))
        fid = obj.get("feedback_id") if isinstance(obj, dict) else None
        if fid is not None:
            if fid in seen:
                problems.append((n, f"feedback_id {fid!r} already used on line {seen[fid]}"))
            seen.setdefault(fid, n)
    return count, problems


def load_corpus(path: str | Path) -> list[dict[str, Any]]:
    """All lines of a corpus file, validated; raises CorpusError naming every bad line."""
    _, problems = validate_file(path)
    if problems:
        raise CorpusError(str(path), problems)
    return [obj for _, obj, _ in read_jsonl(path)]


def span_items(lines: Sequence[dict[str, Any]]) -> tuple[list[tuple[str, str, str]], list[str]]:
    """Gold spans with their neighbours as context (the span model's input), and their labels."""
    from classifier.model import with_context

    items: list[tuple[str, str, str]] = []
    labels: list[str] = []
    for line in lines:
        texts = [line["comment"][s["start"] : s["end"]] for s in line["spans"]]
        items.extend(with_context(texts))
        labels.extend(s["label"] for s in line["spans"])
    return items, labels


def corpus_stats(lines: list[dict[str, Any]]) -> dict[str, Any]:
    spans = [s for line in lines for s in line["spans"]]
    return {
        "comments": len(lines),
        "spans": len(spans),
        "languages": dict(Counter(line["language"] for line in lines)),
        "labels": dict(Counter(s["label"] for s in spans)),
        "verdicts": dict(Counter(line["verdict"] for line in lines)),
        "ratings": dict(sorted(Counter(line["rating"] for line in lines).items())),
        "channels": dict(Counter(
            "MFN+MCF" if line.get("shipped_via_mcf") else line["fulfillment_channel"] for line in lines)),
        "spans_per_comment": Counter(min(len(line["spans"]), 4) for line in lines),
    }


# --- building data/{train,dev,test}.jsonl from the hand-written pieces in data/raw ---------------
@dataclass(frozen=True)
class RawComment:
    id: str
    language: str
    rating: int
    segments: tuple[tuple[str, str], ...]  # (text, label); text may start with "\n"


def read_raw(path: str | Path) -> list[RawComment]:
    out = []
    for n, obj, err in read_jsonl(path):
        if err:
            raise CorpusError(str(path), [(n, err)])
        out.append(RawComment(obj["id"], obj["language"], obj["rating"],
                              tuple((t, lab) for t, lab in obj["segments"])))
    return out


def join_segments(segments: tuple[tuple[str, str], ...]) -> tuple[str, list[dict[str, Any]]]:
    """The comment text and gold spans: segments joined by one space, or a new line."""
    parts: list[str] = []
    spans = []
    pos = 0
    for i, (text, label) in enumerate(segments):
        body = text.lstrip("\n")
        sep = text[: len(text) - len(body)] if text.startswith("\n") else (" " if i else "")
        parts.append(sep + body)
        start = pos + len(sep)
        spans.append({"start": start, "end": start + len(body), "label": label})
        pos = start + len(body)
    return "".join(parts), spans


def stable_fraction(key: str, salt: str) -> float:
    """A number in [0, 1) fixed by the key: splits and order facts never move between builds."""
    digest = hashlib.sha256(f"{salt}:{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def order_facts_for(key: str) -> dict[str, Any]:
    """Synthetic order facts: 70% AFN, 18% MFN, 12% MFN shipped via MCF; ids and dates to match."""
    u = stable_fraction(key, "channel")
    channel, mcf = ("AFN", False) if u < 0.70 else (("MFN", False) if u < 0.88 else ("MFN", True))
    rng = random.Random(key)
    return {
        "fulfillment_channel": channel,
        "shipped_via_mcf": mcf,
        "order_id": f"{rng.randint(200, 408)}-{rng.randint(0, 9999999):07d}-{rng.randint(0, 9999999):07d}",
        "seller_id": f"S{rng.randint(1, 40)}",
        "buyer_email": f"buyer{rng.randint(1000, 99999)}@example.com",
        "feedback_date": f"2026-{rng.randint(1, 11):02d}-{rng.randint(1, 28):02d}",
    }


def to_corpus_line(raw: RawComment, *, feedback_id: str | None = None, facts_key: str | None = None,
                   source: str = "written") -> dict[str, Any]:
    comment, spans = join_segments(raw.segments)
    facts = order_facts_for(facts_key or raw.id)
    labels = [s["label"] for s in spans]
    line = {
        "feedback_id": feedback_id or raw.id,
        "rating": raw.rating,
        "comment": comment,
        **facts,
        "language": raw.language,
        "spans": spans,
        "source": source,
    }
    line["verdict"] = gold_verdict(OrderFacts(raw.rating, facts["fulfillment_channel"], facts["shipped_via_mcf"]),
                                   labels)
    return line
