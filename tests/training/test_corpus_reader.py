"""The corpus reader and validator on malformed files: never a traceback, every bad line named, good lines kept."""

import json

import pytest
from hypothesis import HealthCheck, given, settings

from classifier.cli import main
from tests.fuzz_lines import GOOD_LINES, file_bytes, good_numbers, jsonl_files, non_blank
from training.corpus import CorpusError, check_file, load_corpus, validate_file

GOOD = json.dumps(GOOD_LINES[0], ensure_ascii=False).encode()
GOOD2 = json.dumps(GOOD_LINES[1], ensure_ascii=False).encode()


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(jsonl_files())
def test_every_line_is_either_good_or_reported_with_its_number(tmp_path_factory, lines):
    path = tmp_path_factory.mktemp("fuzz") / "c.jsonl"
    path.write_bytes(file_bytes(lines))
    good, problems = check_file(path)
    good_nos, bad_nos = [n for n, _ in good], {n for n, _ in problems}
    assert sorted(good_nos + sorted(bad_nos)) == non_blank(lines), "a line was dropped, doubled or invented"
    assert set(good_numbers(lines)) <= set(good_nos), "a valid line was refused"
    for n, obj in good:
        assert obj == json.loads(lines[n - 1][1].decode("utf-8").lstrip("\ufeff"))
    assert all(isinstance(m, str) and m for _, m in problems)
    count, same = validate_file(path)
    assert count == len(non_blank(lines)) and same == problems
    if problems:
        with pytest.raises(CorpusError) as exc:
            load_corpus(path)
        assert exc.value.problems == problems
    else:
        assert load_corpus(path) == [obj for _, obj in good]


@pytest.mark.parametrize(
    "bad,expected",
    [
        # Each of these raised out of validate_file / load_corpus before (the CLI printed a traceback or,
        # for UTF-8, one error for the whole file with no line number).
        (b"\xff\xfe not utf-8", "not valid UTF-8 at byte 1"),
        (b"[" * 100_000, "unreadable JSON: nested too deeply"),
        (b'{"rating": ' + b"9" * 5000 + b"}", "unreadable JSON: Exceeds the limit (4300 digits)"),
        (json.dumps({**GOOD_LINES[2], "feedback_id": [1]}).encode(), "feedback_id: Input should be a valid"),
        (json.dumps({**GOOD_LINES[2], "feedback_id": {"a": 1}}).encode(), "feedback_id: Input should be a valid"),
        # Silently skipped before: str.strip() counts U+001C, U+00A0, U+0085 and U+2028 as blank.
        (b"\x1c", "invalid JSON"),
        ("\u00a0".encode(), "invalid JSON"),
        ("\u0085".encode(), "invalid JSON"),
        ("\u2028".encode(), "invalid JSON"),
    ],
)
def test_a_bad_line_is_reported_with_its_number_and_the_rest_still_checked(tmp_path, bad, expected):
    path = tmp_path / "c.jsonl"
    path.write_bytes(GOOD + b"\n" + bad + b"\n" + GOOD2 + b"\n")
    good, problems = check_file(path)
    assert [n for n, _ in good] == [1, 3]
    assert {n for n, _ in problems} == {2}
    assert any(expected in m for _, m in problems), problems


def test_a_boolean_span_offset_is_refused(tmp_path):
    """Regression: only `start` was checked for bool, so "end": true passed as the integer 1."""
    line = {**GOOD_LINES[0], "spans": [{"start": 0, "end": True, "label": "other"}]}
    path = tmp_path / "c.jsonl"
    path.write_text(json.dumps(line) + "\n", encoding="utf-8")
    assert validate_file(path)[1] == [(1, "spans[0]: start and end must be integers")]


def test_a_carriage_return_inside_a_line_is_json_whitespace_and_lines_count_at_newlines(tmp_path):
    """Regression: the text-mode reader split at a lone CR, so a valid line became two bad ones and
    every later line number was off by one."""
    path = tmp_path / "c.jsonl"
    path.write_bytes(GOOD.replace(b", ", b",\r", 1) + b"\n" + b"oops\n" + GOOD2 + b"\r\n")
    good, problems = check_file(path)
    assert [n for n, _ in good] == [1, 3]
    assert [n for n, _ in problems] == [2]


def test_a_byte_order_mark_on_the_first_line_is_accepted(tmp_path):
    path = tmp_path / "c.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + GOOD + b"\n" + GOOD2 + b"\n")
    assert len(load_corpus(path)) == 2


def test_long_bad_values_are_cut_in_messages(tmp_path):
    line = {**GOOD_LINES[0], "language": "x" * 100_000}
    path = tmp_path / "c.jsonl"
    path.write_text(json.dumps(line) + "\n", encoding="utf-8")
    (_, message), = validate_file(path)[1]
    assert message.startswith("language: must be one of") and len(message) < 150


def test_data_validate_names_each_bad_line_and_keeps_going(tmp_path, capsys):
    path = tmp_path / "c.jsonl"
    path.write_bytes(GOOD + b"\n\xff\n[[[\n" + GOOD2 + b"\n")
    assert main(["data", "validate", str(path)]) == 1
    out = capsys.readouterr().out
    assert f"{path}:2: not valid UTF-8" in out and f"{path}:3: invalid JSON" in out
    assert f"{path}: 4 lines, 2 problem(s)" in out
