"""Cut a comment into spans: spaCy tokens, hard rules, and a trained boundary model.

A span is a stretch of the comment that makes one point.  Offsets index the original
string exactly (Python slicing); spans never overlap and every non-space character of the
comment lies in exactly one span.  Nothing downstream sees spaCy types.

Boundaries:
- hard: a new line (any line break), and an emoji run after text, always start a new span;
- learned: at every other token a small logistic model (trained on the gold segments in
  ``data/``) decides whether a new point starts there, from the token, its neighbours,
  punctuation and rule flags (sentence end, contrastive / coordinating conjunctions).
Without a trained model the rule flags alone decide.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache

import spacy
from spacy.attrs import IDX, IS_SPACE, LENGTH
from spacy.tokens import Doc

from classifier.packing import pack, unpack

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
    # The span's folded words as the span model reads ``text`` (``classifier.scoring._words``), when the
    # segmenter has them: the span's edges are at whitespace, so its words are the comment's tokens
    # (``make_doc`` tokenizes each whitespace-separated chunk as if alone).  None when an edge falls
    # inside a chunk ("bra😡"): then ``text`` must be tokenized itself.
    words: tuple[str, ...] | None = field(default=None, compare=False, repr=False)


# spaCy adds every word it has not seen before to the pipeline's Vocab and StringStore and never
# lets go (about 0.5 kB a word), so a long-running service would grow without bound. Tokenization
# does not depend on what the vocabulary has seen, so past this many entries a fresh pipeline
# (20-70 ms to make) replaces the old one: at most about 10 MB.
MAX_LEXEMES = 20_000
_pipeline: list[spacy.language.Language] = []


def tokenizer() -> spacy.language.Language:
    """The shared blank Swedish pipeline (its tokenizer handles English text well too), renewed
    once its vocabulary passes ``MAX_LEXEMES``."""
    nlp = _pipeline[0] if _pipeline else None
    if nlp is None or len(nlp.vocab) > MAX_LEXEMES:
        nlp = spacy.blank("sv")
        _pipeline[:] = [nlp]
    return nlp


def make_doc(text: str) -> Doc:
    """The spaCy Doc of ``text``, each whitespace-separated chunk tokenized as it would be alone.  A lone
    surrogate (which UTF-8 cannot encode) is refused with a ValueError naming its position in ``text``,
    not spaCy's encoding error about one of its tokens.

    spaCy's special cases can match across a single space (an emoticon after a bracket: ") :)a" gives
    ")", ":", ")", "a" as a whole but ")" and ":)", "a" chunk by chunk).  Where that could happen, the Doc
    is made from the text with every space turned into a line break, which is a token of its own that
    nothing matches across: the same offsets, and a span's tokens are the tokens of its own text (what
    the span model reads; tested)."""
    try:
        nlp = tokenizer()
        doc = nlp.make_doc(text)
        if _special_case_may_cross_a_space(text):  # rare: only then the slower, chunk-by-chunk-exact Doc
            doc = nlp.make_doc(text.replace(" ", "\n"))
        return doc
    except UnicodeEncodeError:
        at = next((i for i, ch in enumerate(text) if "\ud800" <= ch <= "\udfff"), -1)
        raise ValueError(f"text contains a lone surrogate at position {at}; it is not valid Unicode") from None


@lru_cache(maxsize=1)
def _cross_space_pattern() -> re.Pattern[str]:
    """A single space between two characters where a special case could match across it: the last
    character of a token and the first of the next, for consecutive tokens of every special case that
    the affix rules split into several tokens (":)" is ":" + ")")."""
    from spacy.tokenizer import Tokenizer

    tok: Tokenizer = tokenizer().tokenizer  # type: ignore[assignment]
    bare = Tokenizer(tok.vocab, rules={}, prefix_search=tok.prefix_search, suffix_search=tok.suffix_search,
                     infix_finditer=tok.infix_finditer, token_match=tok.token_match, url_match=tok.url_match)
    after: dict[str, set[str]] = {}
    for key in tok.rules:
        parts = [t.text for t in bare(key)]
        for a, b in zip(parts, parts[1:], strict=False):
            if a and b:
                after.setdefault(a[-1], set()).add(b[0])
    alternatives = [re.escape(a) + " [" + "".join(re.escape(b) for b in sorted(bs)) + "]"
                    for a, bs in sorted(after.items())]
    return re.compile("|".join(alternatives) or "(?!)")


def _special_case_may_cross_a_space(text: str) -> bool:
    return " " in text and _cross_space_pattern().search(text) is not None


# Every line break ``str.splitlines`` knows (CR alone, U+2028, NEL, ...), not only "\n": each starts a new span.
_LINE_BREAK = re.compile("[\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029]")


def breaks_line(gap: str) -> bool:
    """Does the whitespace between two words hold a line break?"""
    return gap != " " and _LINE_BREAK.search(gap) is not None


def word_offsets(doc: Doc, text: str | None = None) -> list[tuple[int, int, str]]:
    """``(start, end, text)`` of every non-space token, read from the Doc's arrays (no Token objects).
    ``text`` is the string the Doc was made from, if the caller has it (saves rebuilding it)."""
    text = doc.text if text is None else text
    return [(i, i + n, text[i : i + n]) for i, n, space in doc.to_array([IDX, LENGTH, IS_SPACE]).tolist() if not space]


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


@lru_cache(maxsize=50_000)
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


_KINDS = ("END", "COMMA", "CLAUSE", "EMOJI", "PUNCT", "WORD")


class _Tables:
    """A trained segmenter's weights arranged for the boundary score's hot loop."""

    def __init__(self, seg: ClauseSegmenter) -> None:
        g = (seg.weights or {}).get
        self.kind = {(pk, k): seg._kind_weight(pk, k) for pk in _KINDS for k in _KINDS}
        self.left, self.since = seg._length_tables()
        self.p2_start = g("p2=<s>", 0.0)
        self.n1_end = g("n1=</s>", 0.0)
        self.rule = g("rule", 0.0)
        self.contrastive = {pk: g("contrastive", 0.0) + g("contrastive|pk=" + pk, 0.0) for pk in _KINDS}
        self.coord_pk = {pk: g("coord|pk=" + pk, 0.0) for pk in _KINDS}
        # Word pairs ("p1|w=a|b", "w|n1=a|b") are looked up in the weights themselves: a table of them
        # would repeat 200k entries (16 MiB of every worker) to save about 1% of the segmenter's time.
        self._get = g

    def coord_n1(self, n1: str) -> float:
        return self._get("coord|n1=" + n1, 0.0)


class ClauseSegmenter:
    """Splits a comment into spans.  ``weights`` come from :meth:`fit`; ``None`` means rules only."""

    def __init__(self, weights: dict[str, float] | None = None, bias: float = 0.0) -> None:
        self.weights = weights
        self.bias = bias

    # -- inference -------------------------------------------------------------
    def segment(self, comment: str, doc: Doc | None = None) -> list[Span]:
        return self.segment_levels(comment, doc)[0]

    def segment_levels(self, comment: str, doc: Doc | None = None,
                       margins: Sequence[float] = (0.0,)) -> list[list[Span]]:
        """The comment's spans once per margin, from one scoring pass.  Margin 0 is the trained
        cut; a positive margin cuts wherever the boundary score is above ``-margin``, giving finer
        pieces (each inside one span of the margin-0 cut only when the margins nest, which callers
        must not assume)."""
        doc = doc if doc is not None else make_doc(comment)
        words = word_offsets(doc, comment)
        if not words:
            return [[] for _ in margins]
        toks = [fold(w) for _, _, w in words]
        kinds = [_kind(w) for _, _, w in words]
        n = len(words)
        # at_gap[i]: whitespace (or the text's edge) lies right before word i; at_gap[n]: after the last word
        at_gap = [True] + [words[i - 1][1] < words[i][0] for i in range(1, n)] + [True]
        out = []
        for starts in self._starts(comment, words, toks, kinds, margins):
            spans = []
            for a, b in zip(starts, starts[1:], strict=False):
                start, end = words[a][0], words[b - 1][1]
                spans.append(Span(start, end, comment[start:end],
                                  tuple(toks[a:b]) if at_gap[a] and at_gap[b] else None))
            out.append(spans)
        return out

    def _starts(self, comment: str, words: list[tuple[int, int, str]], toks: list[str], kinds: list[str],
                margins: Sequence[float] = (0.0,)) -> list[list[int]]:
        """Per margin: the indices of the words that start a span, plus ``len(words)`` as the end."""
        n = len(words)
        if self.weights is None:
            starts = [0]
            for i in range(1, n):
                if breaks_line(comment[words[i - 1][1] : words[i][0]]) or _rule_boundary(kinds, toks, i):
                    starts.append(i)
            starts.append(n)
            return [starts for _ in margins]
        # The same sum as :meth:`score`, term by term in the order the earlier vectorised version added
        # them (so the scores are bit-identical); only "since" depends on the previous boundary.
        t = self._tables()
        tw = self._token_weights
        g = t._get
        kind_w, left_w, since_w = t.kind, t.left, t.since
        weights = [tw(tok) for tok in toks]  # (w, p1, p2, n1) per word
        scores = [0.0] * n
        new_line = [False] * n
        bias = self.bias
        # The word pair (i, i+1) as "toks[i]|toks[i+1]"; the last word pairs with the end "</s>".
        # p1w[i]: "p1|w=" of pair i (a boundary before word i+1); wn1[i]: "w|n1=" of pair i (before word i).
        pairs = [a + "|" + b for a, b in zip(toks, toks[1:], strict=False)]
        pairs.append(toks[-1] + "|</s>")
        p1w = [g("p1|w=" + p, 0.0) for p in pairs[:-1]]
        wn1 = [0.0, *(g("w|n1=" + p, 0.0) for p in pairs[1:])]
        left = [left_w[min(n - i, 12)] for i in range(n)]
        for i in range(1, n):
            tk, pk = toks[i], kinds[i - 1]
            s = bias + ((weights[i][0] + weights[i - 1][1]) + p1w[i - 1])
            s = s + (weights[i - 2][2] if i >= 2 else t.p2_start)
            s = s + ((weights[i + 1][3] if i < n - 1 else t.n1_end) + wn1[i])
            e = kind_w[pk, kinds[i]] + left[i]
            if tk in CONTRASTIVE:
                e = e + t.contrastive[pk]
            if tk in COORDINATING:
                e = e + (t.coord_pk[pk] + t.coord_n1(toks[i + 1] if i + 1 < n else "</s>"))
            if _rule_boundary(kinds, toks, i):
                e = e + t.rule
            scores[i] = s + e
            gap_start, gap_end = words[i - 1][1], words[i][0]  # breaks_line(comment[gap_start:gap_end]), unsliced
            new_line[i] = ((gap_end - gap_start > 1 or (gap_end > gap_start and comment[gap_start] != " "))
                           and _LINE_BREAK.search(comment, gap_start, gap_end) is not None)
        can_start = [k not in ("END", "COMMA") for k in kinds]  # a point never starts with a full stop or a comma
        cuts = []
        for margin in margins:
            starts, last = [0], 0
            for i in range(1, n):
                if new_line[i] or (can_start[i] and scores[i] + since_w[min(i - last, 12)] > -margin):
                    starts.append(i)
                    last = i
            starts.append(n)
            cuts.append(starts)
        return cuts

    def _tables(self) -> _Tables:
        """Every weight the boundary score reads that does not depend on a word, looked up once."""
        hit = self.__dict__.get("_tables_cache")
        if hit is None:
            hit = self.__dict__["_tables_cache"] = _Tables(self)
        return hit

    def _is_boundary(self, toks: list[str], kinds: list[str], i: int, since: int) -> bool:
        """Does a new span start at word i?  (A new line always starts one, decided by the caller.)"""
        if self.weights is None:
            return _rule_boundary(kinds, toks, i)
        if kinds[i] in ("END", "COMMA"):
            return False  # a point never starts with a full stop or a comma
        return self.score(toks, kinds, i, since) > 0.0

    def _token_weights(self, tok: str) -> tuple[float, float, float, float]:
        """The weights of a token's single-token features (as w, p1, p2, n1), cached per token."""
        cache = self.__dict__.setdefault("_tok_cache", {})
        hit = cache.get(tok)
        if hit is None:
            w = self.weights or {}
            hit = (w.get("w=" + tok, 0.0), w.get("p1=" + tok, 0.0), w.get("p2=" + tok, 0.0), w.get("n1=" + tok, 0.0))
            if len(cache) > 200_000:
                cache.clear()
            cache[tok] = hit
        return hit

    def score(self, toks: Sequence[str], kinds: Sequence[str], i: int, since: int) -> float:
        """bias + the weights of :func:`_position_features` (plus "rule"), without building most strings."""
        w = self.weights or {}
        tw = self._token_weights
        tk, p1 = toks[i], toks[i - 1]
        k, pk = kinds[i], kinds[i - 1]
        s = self.bias + tw(tk)[0] + tw(p1)[1]
        s += tw(toks[i - 2])[2] if i >= 2 else w.get("p2=<s>", 0.0)
        n1 = toks[i + 1] if i + 1 < len(toks) else "</s>"
        s += tw(n1)[3] if i + 1 < len(toks) else w.get("n1=</s>", 0.0)
        g = w.get
        s += g("p1|w=" + p1 + "|" + tk, 0.0) + g("w|n1=" + tk + "|" + n1, 0.0)
        s += self._kind_weight(pk, k) + self._length_weight("since=", since)
        s += self._length_weight("left=", len(toks) - i)
        if tk in CONTRASTIVE:
            s += g("contrastive", 0.0) + g("contrastive|pk=" + pk, 0.0)
        if tk in COORDINATING:
            s += g("coord|pk=" + pk, 0.0) + g("coord|n1=" + n1, 0.0)
        if _rule_boundary(kinds, toks, i):
            s += g("rule", 0.0)
        return s

    def _kind_weight(self, pk: str, k: str) -> float:
        cache = self.__dict__.setdefault("_kind_cache", {})
        hit = cache.get((pk, k))
        if hit is None:
            g = (self.weights or {}).get
            hit = cache[(pk, k)] = g("k=" + k, 0.0) + g("pk=" + pk, 0.0) + g("pk|k=" + pk + "|" + k, 0.0)
        return hit

    def _length_tables(self) -> tuple[list[float], list[float]]:
        """Weights of "left=" and "since=" for 0..12 (12 stands for every larger count)."""
        hit = self.__dict__.get("_len_tables")
        if hit is None:
            hit = self.__dict__["_len_tables"] = (
                [self._length_weight("left=", j) for j in range(13)],
                [self._length_weight("since=", j) for j in range(13)],
            )
        return hit

    def _length_weight(self, prefix: str, n: int) -> float:
        cache = self.__dict__.setdefault("_len_cache", {})
        key = (prefix, min(n, 12))
        hit = cache.get(key)
        if hit is None:
            hit = cache[key] = (self.weights or {}).get(prefix + _bucket(n), 0.0)
        return hit

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        for cache in ("_tok_cache", "_kind_cache", "_len_cache", "_len_tables", "_tables_cache"):
            state.pop(cache, None)
        if self.weights is not None:
            state["weights"] = pack(self.weights)
        return state

    def __setstate__(self, state: dict) -> None:
        state["weights"] = unpack(state.get("weights"))
        self.__dict__.update(state)

    # -- training --------------------------------------------------------------
    def fit(self, comments: Iterable[str], gold_starts: Iterable[set[int]], *, C: float = 1.0,
            random_state: int = 0) -> ClauseSegmenter:
        """Learn boundary weights from comments and the character offsets where gold spans start."""
        from sklearn.feature_extraction import DictVectorizer
        from sklearn.linear_model import LogisticRegression

        rows: list[dict[str, float]] = []
        ys: list[int] = []
        for comment, starts in zip(comments, gold_starts, strict=True):
            words = word_offsets(make_doc(comment), comment)
            toks = [fold(w) for _, _, w in words]
            kinds = [_kind(w) for _, _, w in words]
            last = 0
            for i in range(1, len(words)):
                gap = comment[words[i - 1][1] : words[i][0]]
                y = int(words[i][0] in starts)
                since = i - last
                if y:
                    last = i
                if breaks_line(gap):
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
