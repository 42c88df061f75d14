"""Cut a comment into spans: spaCy tokens, hard rules, and a trained boundary model.

A span is a stretch of the comment that makes one point.  Offsets index the original
string exactly (Python slicing); spans never overlap and every non-space character of the
comment lies in exactly one span.  Nothing downstream sees spaCy types.

Boundaries:
- hard: a new line, and an emoji run after text, always start a new span;
- learned: at every other token a small logistic model (trained on the gold segments in
  ``data/``) decides whether a new point starts there, from the token, its neighbours,
  punctuation and rule flags (sentence end, contrastive / coordinating conjunctions).
Without a trained model the rule flags alone decide.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

import spacy
from spacy.tokens import Doc

SENTENCE_END = frozenset({".", "!", "?", "…", "..", "...", "!!", "!!!", "?!", "!?", "??", "???"})
CLAUSE_PUNCT = frozenset({";", ":", "–", "—", "-", "/", "|"})
# Words that start a new point after a comma or a complete clause (sv / en).
CONTRASTIVE = frozenset(
    {"men", "fast", "dock", "daremot", "but", "however", "although", "though", "yet", "except", "whereas",
     "tyvarr", "unfortunately", "plus", "dessutom", "also", "annars", "otherwise", "sen", "sedan", "then",
     "aven", "utom", "forutom", "besides"}
)
COORDINATING = frozenset({"och", "and", "samt", "eller", "or", "så", "sa", "so"})


@dataclass(frozen=True)
class Span:
    """A stretch of the comment: ``comment[start:end] == text``."""

    start: int
    end: int
    text: str


@lru_cache(maxsize=1)
def tokenizer() -> spacy.language.Language:
    """The shared blank Swedish pipeline (its tokenizer handles English text well too)."""
    return spacy.blank("sv")


@lru_cache(maxsize=200_000)
def fold(word: str) -> str:
    """Lowercase and strip diacritics, so "försenad", "forsenad" and "FÖRSENAD" agree."""
    decomposed = unicodedata.normalize("NFKD", word.lower())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


@lru_cache(maxsize=50_000)
def _is_emoji(token_text: str) -> bool:
    return any(
        unicodedata.category(ch) == "So" or 0x1F000 <= ord(ch) <= 0x1FAFF or 0x2600 <= ord(ch) <= 0x27BF
        for ch in token_text
    )


def _kind(text: str) -> str:
    if text in SENTENCE_END or (text and set(text) <= set(".!?…")):
        return "END"
    if text == ",":
        return "COMMA"
    if text in CLAUSE_PUNCT:
        return "CLAUSE"
    if _is_emoji(text):
        return "EMOJI"
    if text and all(not ch.isalnum() for ch in text):
        return "PUNCT"
    return "WORD"


def _bucket(n: int) -> str:
    return str(n) if n < 4 else ("4-6" if n < 7 else ("7-11" if n < 12 else "12+"))


def _position_features(toks: Sequence[str], kinds: Sequence[str], i: int, since: int) -> list[str]:
    """Features for "a new span starts at token i" (toks are folded, whitespace removed)."""
    w = toks[i]
    p1 = toks[i - 1] if i >= 1 else "<s>"
    p2 = toks[i - 2] if i >= 2 else "<s>"
    n1 = toks[i + 1] if i + 1 < len(toks) else "</s>"
    k, pk = kinds[i], kinds[i - 1]
    feats = [
        "w=" + w, "p1=" + p1, "p2=" + p2, "n1=" + n1,
        "p1|w=" + p1 + "|" + w, "w|n1=" + w + "|" + n1,
        "k=" + k, "pk=" + pk, "pk|k=" + pk + "|" + k,
        "since=" + _bucket(since), "left=" + _bucket(len(toks) - i),
    ]
    if w in CONTRASTIVE:
        feats.append("contrastive")
        feats.append("contrastive|pk=" + pk)
    if w in COORDINATING:
        feats.append("coord|pk=" + pk)
        feats.append("coord|n1=" + n1)
    return feats


def _rule_boundary(kinds: Sequence[str], toks: Sequence[str], i: int) -> bool:
    """The untrained fallback: sentence ends, clause punctuation, emoji, contrastive words."""
    pk, k = kinds[i - 1], kinds[i]
    if k in ("END", "PUNCT", "COMMA", "CLAUSE") and pk != "EMOJI":
        return False
    return (
        pk in ("END", "CLAUSE")
        or (pk == "EMOJI") != (k == "EMOJI")
        or toks[i] in CONTRASTIVE and pk in ("COMMA", "WORD")
    )


class ClauseSegmenter:
    """Splits a comment into spans.  ``weights`` come from :meth:`fit`; ``None`` means rules only."""

    def __init__(self, weights: dict[str, float] | None = None, bias: float = 0.0) -> None:
        self.weights = weights
        self.bias = bias

    # -- inference -------------------------------------------------------------
    def segment(self, comment: str, doc: Doc | None = None) -> list[Span]:
        doc = doc if doc is not None else tokenizer().make_doc(comment)
        words = [t for t in doc if not t.is_space]
        if not words:
            return []
        toks = [fold(t.text) for t in words]
        kinds = [_kind(t.text) for t in words]
        starts = [0]
        for i in range(1, len(words)):
            if self._is_boundary(doc, words, toks, kinds, i, i - starts[-1]):
                starts.append(i)
        starts.append(len(words))
        spans = []
        for a, b in zip(starts, starts[1:], strict=False):
            start, end = words[a].idx, words[b - 1].idx + len(words[b - 1].text)
            spans.append(Span(start, end, comment[start:end]))
        return spans

    def _is_boundary(self, doc: Doc, words: list, toks: list[str], kinds: list[str], i: int, since: int) -> bool:
        # Hard rule: text on a new line is a new point.
        gap = doc.text[words[i - 1].idx + len(words[i - 1].text) : words[i].idx]
        if "\n" in gap:
            return True
        if self.weights is None:
            return _rule_boundary(kinds, toks, i)
        feats = _position_features(toks, kinds, i, since)
        if _rule_boundary(kinds, toks, i):
            feats.append("rule")
        w = self.weights
        return self.bias + sum(w.get(f, 0.0) for f in feats) > 0.0

    # -- training --------------------------------------------------------------
    def fit(self, comments: Iterable[str], gold_starts: Iterable[set[int]], *, C: float = 1.0,
            random_state: int = 0) -> ClauseSegmenter:
        """Learn boundary weights from comments and the character offsets where gold spans start."""
        from sklearn.feature_extraction import DictVectorizer
        from sklearn.linear_model import LogisticRegression

        rows: list[dict[str, float]] = []
        ys: list[int] = []
        for comment, starts in zip(comments, gold_starts, strict=True):
            doc = tokenizer().make_doc(comment)
            words = [t for t in doc if not t.is_space]
            toks = [fold(t.text) for t in words]
            kinds = [_kind(t.text) for t in words]
            last = 0
            for i in range(1, len(words)):
                gap = comment[words[i - 1].idx + len(words[i - 1].text) : words[i].idx]
                y = int(words[i].idx in starts)
                since = i - last
                if y:
                    last = i
                if "\n" in gap:
                    continue  # decided by the hard rule
                feats = _position_features(toks, kinds, i, since)
                if _rule_boundary(kinds, toks, i):
                    feats.append("rule")
                rows.append(dict.fromkeys(feats, 1.0))
                ys.append(y)
        vec = DictVectorizer()
        X = vec.fit_transform(rows)
        lr = LogisticRegression(C=C, max_iter=2000, random_state=random_state)
        lr.fit(X, ys)
        coef = lr.coef_[0]
        self.weights = {name: float(coef[j]) for name, j in vec.vocabulary_.items() if abs(coef[j]) > 1e-6}
        self.bias = float(lr.intercept_[0])
        return self


def gold_start_offsets(spans: Sequence[dict]) -> set[int]:
    """Character offsets where gold spans start (for :meth:`ClauseSegmenter.fit`)."""
    return {int(s["start"]) for s in spans}
