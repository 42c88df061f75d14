"""Malformed JSONL for the reader fuzz tests: hypothesis-drawn bytes, near-JSON and real lines, mixed.

A drawn file is a list of ``(kind, raw_line)``; ``kind`` is "good" for an untouched, valid corpus line
(unique feedback_id and comment), "blank" for JSON whitespace only, and "other" for anything else,
which may or may not be valid: the tests check that nothing is dropped, not which lines are bad.
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import strategies as st

from training.corpus import DATA_DIR

GOOD_LINES: list[dict[str, Any]] = [
    json.loads(x) for x in (DATA_DIR / "dev.jsonl").read_text(encoding="utf-8").splitlines()[:40]
]

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=8,
)
FIELDS = ["feedback_id", "rating", "comment", "fulfillment_channel", "shipped_via_mcf", "language", "spans",
          "verdict", "feedback_date", "buyer_email"]
# Hand-made troublemakers: each broke or fooled a reader once, or might.
NASTY = [
    b"[" * 50_000, b'{"a": ' + b"9" * 5000 + b"}", b"\xef\xbb\xbf{}", b"\x00", b"\x1c", b"\xc2\xa0", b"\xc2\x85",
    b"\xe2\x80\xa8", b"\xff\xfe\xfd", b"\xed\xa0\x80", b'"\\ud800"', b'{"comment": "\\ud800"}', b"NaN", b"[]",
    b"null", b"\r", b"{}", b'{"spans": [{"start": true, "end": 1, "label": "other"}]}', b"{\r}",
    b'{"feedback_id": [1], "rating": 1}', b'{"feedback_id": {"a": 1}}', b"\"" + b"a" * 300,
]


@st.composite
def mutated(draw: st.DrawFn, index: int) -> bytes:
    """A real line, changed in one way: a field dropped or given any JSON value, a span field
    changed, the bytes cut short, flipped or interleaved with random ones."""
    line = dict(draw(st.sampled_from(GOOD_LINES)))
    line["feedback_id"] = f"mut-{index}"  # never collides with a good line's id
    how = draw(st.sampled_from(["drop", "value", "span", "cut", "flip", "insert"]))
    if how == "drop":
        line.pop(draw(st.sampled_from(FIELDS)), None)
    elif how == "value":
        line[draw(st.sampled_from(FIELDS))] = draw(JSON_VALUES)
    elif how == "span":
        spans = [dict(s) for s in line["spans"]]
        k = draw(st.integers(0, len(spans) - 1))
        spans[k][draw(st.sampled_from(["start", "end", "label", "text"]))] = draw(JSON_VALUES)
        line["spans"] = spans
    raw = json.dumps(line, ensure_ascii=draw(st.booleans())).encode()
    if how == "cut":
        raw = raw[: draw(st.integers(0, len(raw) - 1))]
    elif how == "flip":
        at = draw(st.integers(0, len(raw) - 1))
        raw = raw[:at] + bytes([draw(st.integers(0, 255))]) + raw[at + 1 :]
    elif how == "insert":
        at = draw(st.integers(0, len(raw)))
        raw = raw[:at] + draw(st.binary(max_size=6)) + raw[at:]
    return raw.replace(b"\n", b"")


@st.composite
def jsonl_files(draw: st.DrawFn, max_lines: int = 12) -> list[tuple[str, bytes]]:
    good = iter(draw(st.permutations(range(len(GOOD_LINES)))))
    out: list[tuple[str, bytes]] = []
    for i in range(draw(st.integers(1, max_lines))):
        kind = draw(st.sampled_from(["good", "blank", "bytes", "nasty", "mutated", "json"]))
        if kind == "good":
            out.append(("good", json.dumps(GOOD_LINES[next(good)], ensure_ascii=False).encode()))
        elif kind == "blank":
            out.append(("blank", draw(st.text(alphabet=" \t\r", max_size=3)).encode()))
        elif kind == "bytes":
            out.append(("other", draw(st.binary(min_size=1, max_size=60)).replace(b"\n", b"")))
        elif kind == "nasty":
            out.append(("other", draw(st.sampled_from(NASTY))))
        elif kind == "mutated":
            out.append(("other", draw(mutated(i))))
        else:
            out.append(("other", json.dumps(draw(JSON_VALUES)).encode()))
    return out


def file_bytes(lines: list[tuple[str, bytes]]) -> bytes:
    return b"".join(raw + b"\n" for _, raw in lines)


def non_blank(lines: list[tuple[str, bytes]]) -> list[int]:
    """Line numbers (1-based) that hold anything besides JSON whitespace: the independent oracle."""
    out = []
    for n, (_, raw) in enumerate(lines, 1):
        body = raw[3:] if n == 1 and raw.startswith(b"\xef\xbb\xbf") else raw
        if body.strip(b" \t\r\n"):
            out.append(n)
    return out


def good_numbers(lines: list[tuple[str, bytes]]) -> list[int]:
    return [n for n, (kind, _) in enumerate(lines, 1) if kind == "good"]
