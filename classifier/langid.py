"""Swedish / English identification per span and per comment.

A naive Bayes log-odds table over diacritic-folded words and raw character trigrams,
trained on the spans of the corpus' Swedish-only and English-only comments.  Folded words
keep it right when a buyer types "forsenad" for "försenad"; trigrams with å/ä/ö add
evidence when they are there.  A span whose evidence is weak (an emoji, "ok") takes no side,
and a comment is ``mixed`` when both languages carry a real share of its confident text.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from classifier.packing import pack, unpack
from classifier.segment import fold

LANGUAGES = ("sv", "en", "mixed")


def _word_features(word: str) -> list[str]:
    """A word's features: its folded form and the character trigrams of " word " (raw case-folded)."""
    folded = fold(word).strip(".,!?:;()\"'")
    feats = ["w:" + folded] if folded else []
    padded = " " + word.lower() + " "
    feats.extend(padded[i : i + 3] for i in range(len(padded) - 2))
    return feats


def _features(text: str) -> list[str]:
    return [f for word in text.split() for f in _word_features(word)]


@dataclass(frozen=True)
class LanguageGuess:
    language: str  # "sv", "en" or "mixed"
    dominant: str  # "sv" or "en": the language of most confident text (picks the note)
    span_languages: tuple[str | None, ...]  # per span: "sv", "en" or None when unsure


class LanguageIdentifier:
    """Log-odds (Swedish over English) per feature; positive scores mean Swedish."""

    def __init__(self, margin: float = 2.0, mixed_share: float = 0.15) -> None:
        self.margin = margin
        self.mixed_share = mixed_share
        self.log_odds_: dict[str, float] = {}
        self.prior_: float = 0.0

    def fit(self, texts: Iterable[str], languages: Iterable[str], *, alpha: float = 0.5,
            min_count: int = 2) -> LanguageIdentifier:
        counts = {"sv": Counter[str](), "en": Counter[str]()}
        docs = Counter[str]()
        for text, lang in zip(texts, languages, strict=True):
            if lang in counts:
                counts[lang].update(_features(text))
                docs[lang] += 1
        vocab = {f for c in counts.values() for f, n in c.items() if n >= min_count}
        n_sv = sum(counts["sv"].values()) + alpha * len(vocab)
        n_en = sum(counts["en"].values()) + alpha * len(vocab)
        self.log_odds_ = {
            f: math.log((counts["sv"][f] + alpha) / n_sv) - math.log((counts["en"][f] + alpha) / n_en)
            for f in vocab
        }
        self.prior_ = math.log((docs["sv"] + 1) / (docs["en"] + 1))
        return self

    def _word_score(self, word: str) -> float:
        cache = self.__dict__.setdefault("_cache", {})
        hit = cache.get(word)
        if hit is None:
            table = self.log_odds_
            hit = sum(table.get(f, 0.0) for f in _word_features(word))
            if len(cache) > 200_000:
                cache.clear()
            cache[word] = hit
        return hit

    def score(self, text: str) -> float:
        """Log-odds of Swedish over English: the sum of the words' (cached) scores."""
        get = self.__dict__.setdefault("_cache", {}).get  # the cached scores, looked up without a call each
        return sum(self._word_score(w) if (v := get(w)) is None else v for w in text.split())

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state.pop("_cache", None)
        state["log_odds_"] = pack(self.log_odds_)
        return state

    def __setstate__(self, state: dict) -> None:
        state["log_odds_"] = unpack(state["log_odds_"])
        self.__dict__.update(state)

    def span_language(self, text: str) -> str | None:
        s = self.score(text)
        if abs(s) < self.margin:
            return None
        return "sv" if s > 0 else "en"

    def identify(self, span_texts: Sequence[str]) -> LanguageGuess:
        scores = [self.score(t) for t in span_texts]
        langs: list[str | None] = [
            None if abs(s) < self.margin else ("sv" if s > 0 else "en") for s in scores
        ]
        letters = {"sv": 0, "en": 0}
        for text, lang in zip(span_texts, langs, strict=True):
            if lang is not None:
                letters[lang] += sum(ch.isalpha() for ch in text)
        total = letters["sv"] + letters["en"]
        if total == 0:
            overall = sum(scores) + self.prior_
            dominant = "sv" if overall >= 0 else "en"
            return LanguageGuess(dominant, dominant, tuple(langs))
        dominant = "sv" if letters["sv"] >= letters["en"] else "en"
        minority = min(letters.values())
        language = "mixed" if minority >= self.mixed_share * total else dominant
        return LanguageGuess(language, dominant, tuple(langs))
