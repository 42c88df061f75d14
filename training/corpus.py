"""Reading, validating and building the labelled corpus (INTERFACES.md corpus lines)."""

from __future__ import annotations

import hashlib
import os
import random
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from classifier.decision import LABELS, OrderFacts, gold_verdict
from classifier.jsonl import Line, read_file, read_lines
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
    """Yield ``(line_number, object, error)`` for each non-blank line; object is None when the line is
    unreadable (invalid JSON or UTF-8: see :mod:`classifier.jsonl`), and the error says why."""
    for line in read_file(path):
        yield line.number, line.value, line.error


def _shown(value: Any) -> str:
    """A value for a problem message: its repr, cut to 60 characters (labels can be any JSON)."""
    text = repr(value)
    return text[:60] + "..." if len(text) > 60 else text


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


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
        problems.append(f"language: must be one of {', '.join(LANGUAGES)} (got {_shown(obj.get('language'))})")
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
        if not (_is_int(start) and _is_int(end)):
            problems.append(f"spans[{i}]: start and end must be integers")
            continue
        if not 0 <= start < end <= len(comment):
            problems.append(f"spans[{i}]: offsets {start}-{end} outside the comment (length {len(comment)})")
        if start < prev_end:
            problems.append(f"spans[{i}]: starts at {start}, overlapping or before the previous span (ends {prev_end})")
        prev_end = max(prev_end, end)
        if label not in LABELS:
            problems.append(f"spans[{i}]: unknown label {_shown(label)}")
        labels.append(label)
        if "text" in s and s["text"] != comment[start:end]:
            problems.append(f"spans[{i}]: text does not match comment[{start}:{end}]")
    verdict = obj.get("verdict")
    if verdict not in ("strike", "keep"):
        problems.append(f"verdict: must be strike or keep (got {_shown(verdict)})")
    elif not problems:
        expected = gold_verdict(OrderFacts(record.rating, record.fulfillment_channel, record.shipped_via_mcf), labels)
        if expected != verdict:
            problems.append(f"verdict: gold says {verdict} but the labels and order facts give {expected}")
    return problems


def check_lines(lines: Iterable[Line]) -> tuple[list[tuple[int, dict[str, Any]]], list[tuple[int, str]]]:
    """``(good, problems)``: the valid corpus lines with their numbers, and ``(line_number, message)``
    for every other line (a line is in exactly one of the two); also flags duplicate feedback ids."""
    good: list[tuple[int, dict[str, Any]]] = []
    problems: list[tuple[int, str]] = []
    seen: dict[str, int] = {}
    for line in lines:
        n, obj = line.number, line.value
        if line.error:
            problems.append((n, line.error))
            continue
        found = line_problems(obj)
        fid = obj.get("feedback_id") if isinstance(obj, dict) else None
        if isinstance(fid, str):  # anything else is already a problem (and may not be hashable)
            if fid in seen:
                found.append(f"feedback_id {fid!r} already used on line {seen[fid]}")
            seen.setdefault(fid, n)
        problems.extend((n, p) for p in found)
        if not found:
            good.append((n, obj))
    return good, problems


def check_file(path: str | Path, *, progress: bool | None = None) -> tuple[list[tuple[int, dict[str, Any]]],
                                                                           list[tuple[int, str]]]:
    """:func:`check_lines` for the corpus file at ``path`` (read once)."""
    from training.progress import progress_bar

    with open(path, "rb") as fh:
        size = os.fstat(fh.fileno()).st_size
        with progress_bar(total=size, desc=f"checking {Path(path).name}", unit="B", unit_scale=True,
                          enabled=progress) as bar:
            def numbered() -> Iterator[bytes]:
                for raw in fh:
                    bar.update(len(raw))
                    yield raw

            return check_lines(read_lines(numbered()))


def validate_file(path: str | Path, *, progress: bool | None = None) -> tuple[int, list[tuple[int, str]]]:
    """``(line_count, problems)`` for a corpus file (non-blank lines); also flags duplicate feedback ids."""
    good, problems = check_file(path, progress=progress)
    return len(good) + len({n for n, _ in problems}), problems


def load_corpus(path: str | Path, *, progress: bool | None = None) -> list[dict[str, Any]]:
    """All lines of a corpus file, validated; raises CorpusError naming every bad line."""
    good, problems = check_file(path, progress=progress)
    if problems:
        raise CorpusError(str(path), problems)
    return [obj for _, obj in good]


def span_items(lines: Sequence[dict[str, Any]],
               scope: str = "comment") -> tuple[list[tuple[str, str, str]], list[str]]:
    """Gold spans with their neighbours as context (the span model's input), and their labels."""
    from classifier.model import with_context

    items: list[tuple[str, str, str]] = []
    labels: list[str] = []
    for line in lines:
        texts = [line["comment"][s["start"] : s["end"]] for s in line["spans"]]
        items.extend(with_context(texts, scope))
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
