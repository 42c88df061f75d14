"""The shared JSONL line reader, and `suggest` fed malformed lines (hypothesis): one answer per line, no traceback."""

import contextlib
import io
import json
from unittest import mock

import pytest
from hypothesis import HealthCheck, given, settings

from classifier import cli
from classifier.jsonl import Line, parse_line, read_lines
from tests.fuzz_lines import file_bytes, good_numbers, jsonl_files, non_blank


@pytest.mark.parametrize(
    "raw,expected",
    [
        (b'{"a": 1}\n', Line(1, {"a": 1})),
        (b'{"a":\r1}\r\n', Line(1, {"a": 1})),
        (b"\xef\xbb\xbf[1]\n", Line(1, [1])),
        ("\ufeff[1]\n", Line(1, [1])),
        (b" \t\r\n", None),
        ("", None),
        (b"\xc3\x28\n", Line(1, error="not valid UTF-8 at byte 1")),
        (b"[" * 100_000, Line(1, error="unreadable JSON: nested too deeply")),
        (b"1" * 5000, Line(1, error="unreadable JSON: Exceeds the limit (4300 digits) for integer string "
                                   "conversion: value has 5000 digits")),
        (b"\x1c\n", Line(1, error="invalid JSON: Expecting value at column 1")),
        ("\u00a0\n", Line(1, error="invalid JSON: Expecting value at column 1")),
        (b'{"a": 1', Line(1, error="invalid JSON: Expecting ',' delimiter at column 8")),
    ],
)
def test_parse_line(raw, expected):
    assert parse_line(1, raw) == expected


def test_a_byte_order_mark_counts_only_on_the_first_line():
    assert parse_line(2, b"\xef\xbb\xbf[1]").error.startswith("invalid JSON: Unexpected UTF-8 BOM")


def test_read_lines_numbers_lines_and_skips_blank_ones():
    lines = list(read_lines([b"[1]\n", b"\n", b"oops\n", b"  \r\n", b"2\n"]))
    assert [(x.number, x.value, x.error is None) for x in lines] == [(1, [1], True), (3, None, False), (5, 2, True)]


@pytest.fixture(scope="module")
def suggest(shipped_model):
    """`feedback-strike suggest` on raw bytes, the shipped model loaded once: (exit code, output objects, stderr)."""

    def run(tmp_dir, data: bytes) -> tuple[int, list[dict], str]:
        src, out = tmp_dir / "in.jsonl", tmp_dir / "out.jsonl"
        src.write_bytes(data)
        err = io.StringIO()
        with mock.patch.object(cli, "_load_model", return_value=shipped_model), contextlib.redirect_stderr(err):
            code = cli.main(["suggest", "--input", str(src), "--output", str(out), "--batch-size", "4"])
        return code, [json.loads(x) for x in out.read_text(encoding="utf-8").splitlines()], err.getvalue()

    return run


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(lines=jsonl_files())
def test_suggest_answers_every_line_in_place_and_names_every_bad_one(suggest, tmp_path_factory, lines):
    code, out, err = suggest(tmp_path_factory.mktemp("fuzz"), file_bytes(lines))
    numbers = non_blank(lines)
    assert len(out) == len(numbers), "one output line per non-blank input line"
    bad = []
    for n, obj in zip(numbers, out, strict=True):
        if obj["verdict"] is None:
            assert obj["error"]["line"] == n and obj["error"]["problems"]
            assert f"line {n}: " in err
            bad.append(n)
        else:
            assert obj["verdict"] in ("strike", "keep", "needs_review") and obj["spans"]
    assert not set(bad) & set(good_numbers(lines)), "a valid line got an error"
    assert code == (1 if bad else 0)
    assert "Traceback" not in err


@pytest.mark.parametrize(
    "raw,field",
    [
        (b"\x1c", "line"),  # was silently skipped: str.strip() calls U+001C whitespace
        ("\u2028".encode(), "line"),
        (b"[" * 100_000, "line"),
        (b'{"rating": ' + b"9" * 5000 + b"}", "line"),
    ],
)
def test_suggest_reports_lines_that_look_blank_to_python(suggest, tmp_path, raw, field):
    good = json.dumps({"rating": 1, "comment": "Never arrived", "fulfillment_channel": "AFN"}).encode()
    code, out, err = suggest(tmp_path, good + b"\n" + raw + b"\n" + good + b"\n")
    assert code == 1 and len(out) == 3
    assert out[1]["error"]["line"] == 2 and out[1]["error"]["problems"][0]["field"] == field
    assert out[0]["verdict"] and out[2]["verdict"]


def test_suggest_accepts_a_byte_order_mark_and_a_carriage_return_inside_a_line(suggest, tmp_path):
    good = json.dumps({"rating": 1, "comment": "Never arrived", "fulfillment_channel": "AFN"}).encode()
    code, out, _ = suggest(tmp_path, b"\xef\xbb\xbf" + good + b"\n" + good.replace(b", ", b",\r") + b"\n")
    assert code == 0 and [o["verdict"] for o in out] == ["strike", "strike"]
