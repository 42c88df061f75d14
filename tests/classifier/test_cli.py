"""The command line: suggest exactly as INTERFACES.md says, clear errors for bad input."""

import io
import json
import subprocess
import sys

import pytest

from classifier.cli import main

GOOD = {"feedback_id": "fb-1", "rating": 1, "comment": "Paketet kom aldrig fram", "fulfillment_channel": "AFN"}


def run_suggest(tmp_path, lines: list[str | bytes], capsys) -> tuple[int, list[dict], str]:
    src = tmp_path / "in.jsonl"
    src.write_bytes(b"".join((x if isinstance(x, bytes) else x.encode()) + b"\n" for x in lines))
    out = tmp_path / "out.jsonl"
    code = main(["suggest", "--input", str(src), "--output", str(out)])
    return code, [json.loads(x) for x in out.read_text(encoding="utf-8").splitlines()], capsys.readouterr().err


def test_suggest_writes_one_verdict_per_line_in_order(tmp_path, capsys):
    recs = [dict(GOOD, feedback_id=f"fb-{i}", rating=r) for i, r in enumerate([1, 5, 2])]
    code, out, _ = run_suggest(tmp_path, [json.dumps(r) for r in recs], capsys)
    assert code == 0
    assert [o["feedback_id"] for o in out] == ["fb-0", "fb-1", "fb-2"]
    for o in out:
        assert set(o) >= {"feedback_id", "verdict", "reasons", "language", "spans", "note", "model_version"}
        assert o["verdict"] in ("strike", "keep", "needs_review")
    assert out[1]["verdict"] == "keep" and out[1]["reasons"][0]["code"] == "not_negative"


@pytest.mark.parametrize(
    "line,field",
    [
        ("{not json", "line"),
        (json.dumps({k: v for k, v in GOOD.items() if k != "rating"}), "rating"),
        (json.dumps(dict(GOOD, rating=0)), "rating"),
        (json.dumps(dict(GOOD, rating=9)), "rating"),
        (json.dumps(dict(GOOD, fulfillment_channel="XYZ")), "fulfillment_channel"),
        (json.dumps(dict(GOOD, comment="")), "comment"),
        (json.dumps(dict(GOOD, comment="   ")), "comment"),
        (json.dumps(dict(GOOD, comment="x" * 50_000)), "comment"),
        (json.dumps(dict(GOOD, comment="a\u0000b")), "comment"),
        (b'{"rating": 1, "comment": "\xff\xfe", "fulfillment_channel": "AFN"}', "line"),
        ("[1, 2, 3]", "record"),
    ],
)
def test_bad_line_is_named_and_exit_is_non_zero(tmp_path, capsys, line, field):
    code, out, err = run_suggest(tmp_path, [json.dumps(GOOD), line, json.dumps(GOOD)], capsys)
    assert code == 1
    assert len(out) == 3, "every input line keeps its place in the output"
    assert out[0]["verdict"] and out[2]["verdict"]
    assert out[1]["verdict"] is None
    assert out[1]["error"]["line"] == 2
    assert field in {p["field"] for p in out[1]["error"]["problems"]}
    assert f"line 2: {field}" in err


@pytest.mark.parametrize("comment", ["😡😡😡", "Доставка ужасная, 配送が遅い", "שלום 👍🏽 e\u0301", "\u200d\u200d x"])
def test_odd_unicode_never_crashes(tmp_path, capsys, comment):
    code, out, _ = run_suggest(tmp_path, [json.dumps(dict(GOOD, comment=comment))], capsys)
    assert code == 0
    assert out[0]["verdict"] in ("keep", "needs_review", "strike")
    for s in out[0]["spans"]:
        assert comment[s["start"] : s["end"]] == s["text"]


def test_stdin_to_stdout_through_the_console_script(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "classifier.cli", "suggest"], input=json.dumps(GOOD) + "\n",
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["feedback_id"] == "fb-1"


def test_data_validate_reports_line_numbers(tmp_path, capsys):
    bad = tmp_path / "bad.jsonl"
    good_line = {**GOOD, "language": "sv", "spans": [{"start": 0, "end": 23, "label": "amazon_delivery"}],
                 "verdict": "strike"}
    rows = [good_line,
            {**good_line, "feedback_id": "fb-2", "spans": [{"start": 0, "end": 99, "label": "amazon_delivery"}]},
            {**good_line, "feedback_id": "fb-3", "verdict": "keep"},
            {**good_line, "feedback_id": "fb-4", "spans": [{"start": 0, "end": 10, "label": "other"},
                                                          {"start": 5, "end": 23, "label": "nonsense"}]}]
    bad.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    assert main(["data", "validate", str(bad)]) == 1
    out = capsys.readouterr().out
    assert f"{bad}:2: spans[0]: offsets 0-99 outside the comment" in out
    assert f"{bad}:3: verdict: gold says keep but the labels and order facts give strike" in out
    assert f"{bad}:4: spans[1]: starts at 5, overlapping" in out
    assert f"{bad}:4: spans[1]: unknown label 'nonsense'" in out
    assert f"{bad}:1:" not in out


def test_missing_input_file_is_a_usage_error(tmp_path, capsys):
    assert main(["suggest", "--input", str(tmp_path / "nope.jsonl")]) == 2
    assert "no such file" in capsys.readouterr().err


def test_tampered_model_exits_with_a_clear_message(tmp_path, capsys):
    import shutil

    from classifier.artifact import MODEL_FILE
    from tests.helpers import shipped_model_dir

    d = tmp_path / "m"
    shutil.copytree(shipped_model_dir(), d)
    with open(d / MODEL_FILE, "ab") as fh:
        fh.write(b"x")
    sys.stdin = io.StringIO(json.dumps(GOOD))
    with pytest.raises(SystemExit) as info:
        main(["suggest", "--model", str(d)])
    assert info.value.code == 3
    assert "checksum mismatch" in capsys.readouterr().err


@pytest.mark.parametrize(
    "line",
    ["[" * 200_000, '{"rating": 1' + "0" * 5000 + "}",
     '{"feedback_id": "\\ud800", "rating": 0, "comment": "x", "fulfillment_channel": "AFN"}'],
)
def test_hostile_lines_are_refused_without_losing_the_good_ones(tmp_path, capsys, line):
    code, out, err = run_suggest(tmp_path, [json.dumps(GOOD), line, json.dumps(GOOD)], capsys)
    assert code == 1
    assert [o["verdict"] is not None for o in out] == [True, False, True]


def test_sensitive_values_never_reach_stderr(tmp_path, capsys):
    lines = [json.dumps(dict(GOOD, buyer_email="john.doe@examplecom")),
             json.dumps(dict(GOOD, comment="my secret story\x07"))]
    code, _, err = run_suggest(tmp_path, lines, capsys)
    assert code == 1
    assert "buyer_email" in err and "comment" in err
    assert "john.doe" not in err and "secret story" not in err


def test_same_input_and_output_file_is_refused(tmp_path, capsys):
    f = tmp_path / "both.jsonl"
    f.write_text(json.dumps(GOOD) + "\n")
    assert main(["suggest", "--input", str(f), "--output", str(f)]) == 2
    assert f.read_text() == json.dumps(GOOD) + "\n", "the input is untouched"


def test_output_to_a_directory_is_a_usage_error(tmp_path, capsys):
    src = tmp_path / "in.jsonl"
    src.write_text(json.dumps(GOOD) + "\n")
    assert main(["suggest", "--input", str(src), "--output", str(tmp_path)]) == 2


def test_main_in_process_leaves_stdin_and_stdout_open(monkeypatch, capsys):
    """Regression: `with sys.stdout` closed it, so a notebook (or a test) calling main() twice lost its output."""
    for _ in range(2):
        monkeypatch.setattr(sys, "stdin", io.StringIO(json.dumps(GOOD) + "\n"))
        assert main(["suggest"]) == 0
        assert not sys.stdout.closed and not sys.stdin.closed
        assert json.loads(capsys.readouterr().out)["feedback_id"] == "fb-1"
