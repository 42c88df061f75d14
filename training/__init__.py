"""Training, evaluation and corpus tools, as functions that notebooks and the CLI call."""

from training.baseline import KeywordBaseline
from training.corpus import CorpusError, corpus_stats, load_corpus, validate_file
from training.evaluate import evaluate, format_report
from training.train import train, tune_thresholds

__all__ = [
    "CorpusError",
    "KeywordBaseline",
    "corpus_stats",
    "evaluate",
    "format_report",
    "load_corpus",
    "train",
    "tune_thresholds",
    "validate_file",
]
