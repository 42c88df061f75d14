"""Active learning: `feedback-strike select` and training.select pick the least sure comments as valid corpus lines."""

import json
from unittest import mock

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings

from classifier import cli
from classifier.decision import BLOCKING_LABELS, MARKETPLACE_LABELS, OrderFacts, gold_verdict
from classifier.records import RecordError
from tests.fuzz_lines import file_bytes, good_numbers, jsonl_files, non_blank
from training import select as sel
from training.corpus import DATA_DIR, line_problems


@pytest.fixture(scope="module")
def pool_lines():
    """Real comments as a pool: dev lines with their gold labels stripped, as a reviewer export would look."""
    lines = [json.loads(x) for x in (DATA_DIR / "dev.jsonl").read_text(encoding="utf-8").splitlines()[:300]]
    return [{k: v for k, v in line.items() if k not in ("spans", "verdict", "language", "source")} for line in lines]


@pytest.fixture()
def pool_file(tmp_path, pool_lines):
    path = tmp_path / "pool.jsonl"
    path.write_text("".join(json.dumps(x, ensure_ascii=False) + "\n" for x in pool_lines), encoding="utf-8")
    return path


def run(shipped_model, argv, capsys):
    with mock.patch.object(cli, "_load_model", return_value=shipped_model):
        code = cli.main(argv)
    return code, capsys.readouterr()


def min_margin(proba: np.ndarray) -> float:
    """Independent of training.select: the smallest top-1 minus top-2 gap over the spans."""
    return min(float(sorted(row)[-1] - sorted(row)[-2]) for row in proba)


def test_margin_picks_the_least_sure_comments_as_valid_corpus_lines(shipped_model, pool_file, pool_lines, tmp_path,
                                                                    capsys):
    out = tmp_path / "picked.jsonl"
    code, io = run(shipped_model, ["select", "--pool", str(pool_file), "--n", "25", "--output", str(out)], capsys)
    assert code == 0, io.err
    picked = [json.loads(x) for x in out.read_text(encoding="utf-8").splitlines()]
    assert len(picked) == 25
    assert "picked 25 of 300 comments by margin" in io.err
    assert cli.main(["data", "validate", str(out)]) == 0

    analyses = shipped_model.analyze_many([r["comment"] for r in pool_lines])
    margins = [min_margin(a.proba) for a in analyses]
    chosen = {p["selection"]["pool_line"] for p in picked}
    worst_picked = max(margins[n - 1] for n in chosen)
    assert all(margins[i] >= worst_picked for i in range(len(pool_lines)) if i + 1 not in chosen), \
        "a surer comment was picked over a less sure one"
    assert [p["selection"]["rank"] for p in picked] == list(range(1, 26))
    got = [p["selection"]["margin"] for p in picked]
    assert got == sorted(got), "most uncertain first"
    for p in picked:
        source = pool_lines[p["selection"]["pool_line"] - 1]
        assert p["comment"] == source["comment"] and p["feedback_id"] == source["feedback_id"]
        assert "buyer_email" not in p, "a labeller does not need the buyer's e-mail"
        v = shipped_model.suggest(source)
        assert [(s["start"], s["end"], s["label"]) for s in p["spans"]] == [(s.start, s.end, s.label) for s in v.spans]
        assert p["selection"]["suggested_verdict"] == v.verdict
        assert p["verdict"] == gold_verdict(OrderFacts(source["rating"], source["fulfillment_channel"],
                                                       source.get("shipped_via_mcf", False)),
                                            [s["label"] for s in p["spans"]])
        assert p["source"] == "selected" and p["language"] in ("sv", "en", "mixed")
        assert abs(p["selection"]["margin"] - margins[p["selection"]["pool_line"] - 1]) < 1e-4


def test_disagreement_picks_comments_torn_between_marketplace_and_blocking_spans(shipped_model, pool_lines):
    picked = sel.select(shipped_model, pool_lines, n=15, strategy="disagreement")
    classes = shipped_model.classes
    market = [k for k, c in enumerate(classes) if c in MARKETPLACE_LABELS]
    block = [k for k, c in enumerate(classes) if c in BLOCKING_LABELS]

    def torn(proba):
        m, b = proba[:, market].sum(axis=1), proba[:, block].sum(axis=1)
        return max((min(m[i], b[j]) for i in range(len(proba)) for j in range(len(proba)) if i != j), default=0.0)

    scores = [torn(a.proba) for a in shipped_model.analyze_many([r["comment"] for r in pool_lines])]
    chosen = {p["selection"]["pool_line"] for p in picked}
    least = min(scores[n - 1] for n in chosen)
    assert least > 0.5, "the pool has plenty of clearly mixed comments"
    assert all(scores[i] <= least + 1e-12 for i in range(len(pool_lines)) if i + 1 not in chosen)
    assert all(len(p["spans"]) >= 2 for p in picked)
    assert [p["selection"]["disagreement"] for p in picked] == sorted(
        (p["selection"]["disagreement"] for p in picked), reverse=True)


def test_verdict_picks_the_eligible_comments_whose_strike_or_keep_is_closest_to_a_coin_flip(shipped_model,
                                                                                              pool_lines):
    picked = sel.select(shipped_model, pool_lines, n=20, strategy="verdict")
    classes = shipped_model.classes

    def p_strike(line, proba):
        if line["rating"] >= 3 or line["fulfillment_channel"] != "AFN" or line.get("shipped_via_mcf"):
            return 0.0
        b = proba[:, [k for k, c in enumerate(classes) if c in BLOCKING_LABELS]].sum(axis=1)
        m = proba[:, [k for k, c in enumerate(classes) if c in MARKETPLACE_LABELS]].sum(axis=1)
        return float(np.prod(1 - b) * (1 - np.prod(1 - m)))

    analyses = shipped_model.analyze_many([r["comment"] for r in pool_lines])
    flip = [1 - abs(2 * p_strike(line, a.proba) - 1) for line, a in zip(pool_lines, analyses, strict=True)]
    chosen = {p["selection"]["pool_line"] for p in picked}
    least = min(flip[n - 1] for n in chosen)
    assert least > 0.2, "twenty of these comments are far from a sure verdict"
    assert all(flip[i] <= least + 1e-12 for i in range(len(pool_lines)) if i + 1 not in chosen)
    for p in picked:
        assert p["rating"] <= 2 and p["fulfillment_channel"] == "AFN" and not p["shipped_via_mcf"]
        expected = p_strike(p, analyses[p["selection"]["pool_line"] - 1].proba)
        assert abs(p["selection"]["strike_probability"] - expected) < 1e-4


def test_the_order_is_deterministic_and_does_not_depend_on_the_chunk_size(shipped_model, pool_lines):
    a = sel.select(shipped_model, pool_lines, n=40)
    with mock.patch.object(sel, "CHUNK", 7):
        b = sel.select(shipped_model, pool_lines, n=40)
    assert a == b
    assert sel.select(shipped_model, pool_lines, n=40, strategy="disagreement") == \
        sel.select(shipped_model, pool_lines, n=40, strategy="disagreement")


def test_ties_go_to_the_earlier_pool_line(shipped_model):
    # Folded features are equal, so the scores tie exactly.
    pool = [{"feedback_id": f"t{i}", "rating": 1, "comment": c, "fulfillment_channel": "AFN"}
            for i, c in enumerate(["OK then", "ok then", "Ok Then"])]
    picked = sel.select(shipped_model, pool, n=3)
    assert len({p["selection"]["margin"] for p in picked}) == 1
    assert [p["feedback_id"] for p in picked] == ["t0", "t1", "t2"]


def test_bad_pool_lines_are_reported_with_their_numbers_and_skipped(shipped_model, tmp_path, pool_lines, capsys):
    good = [json.dumps(x, ensure_ascii=False).encode() for x in pool_lines[:4]]
    dup_id = json.dumps({**pool_lines[5], "feedback_id": pool_lines[0]["feedback_id"]}).encode()
    repeat = json.dumps({**pool_lines[1], "feedback_id": "again"}).encode()
    path = tmp_path / "pool.jsonl"
    path.write_bytes(b"\n".join([good[0], b"{oops", good[1], b"", b"\xff", json.dumps({"rating": 9}).encode(),
                                 dup_id, good[2], repeat, good[3]]) + b"\n")
    out = tmp_path / "picked.jsonl"
    code, io = run(shipped_model, ["select", "--pool", str(path), "--n", "10", "--output", str(out)], capsys)
    assert code == 1
    for n, what in [(2, "invalid JSON"), (5, "not valid UTF-8"), (6, "rating"), (6, "comment"),
                    (7, "already used on line 1")]:
        assert f"{path}:{n}: " in io.err and what in io.err.split(f"{path}:{n}: ", 1)[1]
    assert "picked 4 of 4 comments" in io.err and "1 line(s) repeating an earlier comment" in io.err
    assert "4 invalid line(s) skipped" in io.err
    picked = [json.loads(x) for x in out.read_text(encoding="utf-8").splitlines()]
    assert sorted(p["selection"]["pool_line"] for p in picked) == [1, 3, 8, 10]
    assert cli.main(["data", "validate", str(out)]) == 0


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(lines=jsonl_files())
def test_a_malformed_pool_never_stops_selection_and_every_line_is_accounted_for(shipped_model, tmp_path_factory,
                                                                                 lines):
    path = tmp_path_factory.mktemp("fuzz") / "pool.jsonl"
    path.write_bytes(file_bytes(lines))
    pool = sel.read_pool(path)
    kept = [n for n, _ in pool.records]
    bad = sorted({n for n, _ in pool.problems})
    repeated = [n for n, _ in pool.repeats]
    assert sorted(kept + bad + repeated) == non_blank(lines), "a line was dropped, doubled or invented"
    assert not set(good_numbers(lines)) & set(bad), "a valid line was refused"
    picked = sel.select(shipped_model, pool, n=5)
    assert len(picked) == min(5, len(kept))
    for p in picked:
        assert line_problems(p) == [] and p["selection"]["pool_line"] in kept


def test_python_api_takes_records_in_memory_and_names_bad_ones(shipped_model):
    recs = [{"rating": 1, "comment": "Never arrived, and the seller ignored me", "fulfillment_channel": "AFN"},
            {"rating": 1, "comment": "", "fulfillment_channel": "AFN"}]
    with pytest.raises(RecordError, match="record 2"):
        sel.select(shipped_model, recs, n=1)
    (line,) = sel.select(shipped_model, recs[:1], n=5)
    assert line["feedback_id"] is None and line["selection"]["pool_line"] == 1
    with pytest.raises(ValueError, match="strategy"):
        sel.select(shipped_model, recs[:1], strategy="entropy")
    with pytest.raises(ValueError, match="at least 1"):
        sel.select(shipped_model, recs[:1], n=0)


@pytest.mark.parametrize("argv", [["--n", "0"], ["--n", "x"], ["--strategy", "entropy"]])
def test_bad_arguments_are_usage_errors(pool_file, argv):
    with pytest.raises(SystemExit) as exc:
        cli.main(["select", "--pool", str(pool_file), *argv])
    assert exc.value.code == 2


def test_the_pool_is_never_overwritten_and_a_missing_pool_is_a_usage_error(pool_file, tmp_path, capsys):
    before = pool_file.read_bytes()
    assert cli.main(["select", "--pool", str(pool_file), "--output", str(pool_file)]) == 2
    assert pool_file.read_bytes() == before
    assert cli.main(["select", "--pool", str(tmp_path / "nope.jsonl")]) == 2
    assert "no such file" in capsys.readouterr().err


def test_write_lines_round_trips(shipped_model, pool_lines, tmp_path):
    lines = sel.select(shipped_model, pool_lines[:20], n=5)
    sel.write_lines(lines, tmp_path / "x.jsonl")
    assert [json.loads(x) for x in (tmp_path / "x.jsonl").read_text(encoding="utf-8").splitlines()] == lines


@pytest.mark.parametrize("flags,shown", [(["--progress"], True), (["--quiet"], False), ([], False)])
def test_select_draws_a_bar_only_when_asked_or_on_a_terminal(shipped_model, pool_file, capsys, monkeypatch, flags,
                                                               shown):
    monkeypatch.delenv("CI", raising=False)
    code, io = run(shipped_model, ["select", "--pool", str(pool_file), "--n", "3", *flags], capsys)
    assert code == 0
    assert ("scoring the pool (margin)" in io.err) is shown, io.err  # pytest's stderr is not a terminal
    assert len(io.out.splitlines()) == 3 and "scoring" not in io.out, "bars never mix with the output"
