"""`evaluate --report`: Markdown with the same figures as `evaluate`, two plots, the worst errors."""

from __future__ import annotations

from classifier.cli import main
from training.corpus import DATA_DIR, load_corpus
from training.evaluate import evaluate
from training.report import threshold_curve


def test_report_has_the_figures_the_plots_and_the_worst_errors(tmp_path, shipped_model, capsys):
    dev = tmp_path / "dev_slice.jsonl"
    dev.write_text("".join((DATA_DIR / "dev.jsonl").read_text(encoding="utf-8").splitlines(True)[:200]),
                   encoding="utf-8")
    out = tmp_path / "report"
    assert main(["evaluate", "--data", str(dev), "--report", str(out)]) == 0
    md = (out / "report.md").read_text(encoding="utf-8")
    rep = evaluate(shipped_model, load_corpus(dev))
    assert f"| comment-level macro-F1 (4 aspects) | {rep['comment_level']['macro_f1']:.3f} |" in md
    assert f"| strike recall | {rep['verdicts']['strike_recall']:.3f} |" in md
    assert "## Worst errors: false strikes" in md and "## Worst errors: missed strikes" in md
    assert "@example.com" not in md, "no buyer e-mail addresses in reports"
    for png in ("confusion.png", "thresholds.png"):
        data = (out / png).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000


def test_threshold_curve_is_monotone_in_what_it_strikes(shipped_model):
    lines = load_corpus(DATA_DIR / "dev.jsonl")[:300]
    curve = threshold_curve(shipped_model, lines, grid=(0.05, 0.2, 0.5, 0.95))
    recalls = [c["strike_recall"] for c in curve]
    assert recalls == sorted(recalls), "a looser threshold never strikes less"


def test_report_with_the_baseline_is_the_models_report(tmp_path, shipped_model, capsys):
    """Regression: with --baseline the loop variable left `model` bound to the keyword baseline, and the
    report crashed (AttributeError: 'KeywordBaseline' object has no attribute 'analyze_many')."""
    dev = tmp_path / "dev_slice.jsonl"
    dev.write_text("".join((DATA_DIR / "dev.jsonl").read_text(encoding="utf-8").splitlines(True)[:60]),
                   encoding="utf-8")
    assert main(["evaluate", "--data", str(dev), "--baseline", "--report", str(tmp_path / "r")]) == 0
    assert "keyword baseline on" in capsys.readouterr().out
    assert (tmp_path / "r" / "report.md").read_text(encoding="utf-8").startswith(
        f"# Evaluation: model {shipped_model.version} on")
