"""The span model's inference: features of spans and the scores of a fitted model, without scikit-learn.

:class:`classifier.model.SpanClassifier` is the scikit-learn estimator that learns the vocabularies,
IDF weights, coefficients and temperature; :class:`SpanScorer` holds just those fitted numbers and
gives the same probabilities (tested).  A saved model carries a scorer, so the service and the command
line load and score without importing scikit-learn (which brings scipy.stats and pandas along: about
90 MiB of every worker and most of a second of its start, ``benchmarks/bench_coldstart.py``).

Features, each block TF-IDF weighted and L2-normalised:

- words: diacritic-folded lowercase spaCy tokens, word n-grams, and 5-letter prefixes
  (a cheap stand-in for lemmas: "leverans", "leveransen", "leveranstid" share "lever");
- characters: n-grams inside word boundaries (Swedish compounds, typos, missing å/ä/ö);
- context: the words of the previous and next span, down-weighted by ``context_weight``.

Python only gathers column indices (cached per word); counting, TF-IDF weighting, the per-block
L2 norms and the scores are vectorised.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from functools import lru_cache
from itertools import accumulate
from typing import Any

import numpy as np
import scipy.sparse as sp

from classifier.packing import pack, unpack
from classifier.segment import fold, tokenizer, word_offsets


# --- feature analyzers (module level so that they pickle) -------------------------
def _words(text: str) -> tuple[str, ...]:
    """The diacritic-folded lowercase spaCy tokens of a span, tokenized on its own (as in training).

    A span's tokens inside its comment can differ at the edges ("'s😡" alone vs in context), so the
    classifier always tokenizes the span itself: the same span text always gets the same features.
    spaCy splits on whitespace before anything else, so the tokens of a text are the tokens of its
    whitespace-separated chunks, each cached: the context of a span (the rest of its comment) costs
    look-ups of words already seen, not a tokenizer run (tested equal to tokenizing the whole text, except
    where spaCy's special cases reach across a space, as an emoticon after a bracket: ") :)a").
    Not cached itself: a span's context is mostly text never seen again, and caching it cost memory
    without bound in a long-running service; the per-chunk cache is bounded."""
    chunks = text.split()
    if len(chunks) == 1:
        return _chunk_words(chunks[0])
    return tuple(w for chunk in chunks for w in _chunk_words(chunk))


_CHUNKS: dict[str, tuple[str, ...]] = {}  # the words of each whitespace-separated chunk seen (bounded)
_MAX_CHUNKS = 100_000


def _chunk_words(chunk: str) -> tuple[str, ...]:
    hit = _CHUNKS.get(chunk)
    if hit is None:
        hit = tuple(fold(w) for _, _, w in word_offsets(tokenizer().make_doc(chunk), chunk))
        _remember_chunk(chunk, hit)
    return hit


def _remember_chunk(chunk: str, words: tuple[str, ...]) -> None:
    if len(_CHUNKS) >= _MAX_CHUNKS:
        _CHUNKS.clear()
    _CHUNKS[chunk] = words


def prime_words(texts: Iterable[str]) -> None:
    """Tokenize the chunks of ``texts`` not seen before in one spaCy call instead of one call each
    (a Doc per chunk costs more than the tokenizing itself).  The chunks are joined by line breaks:
    a line break is a token of its own, so nothing spaCy does reaches from one chunk into the next
    (unlike a single space, across which its special cases can match) and each chunk gets the words
    it gets alone (tested).  Text that spaCy refuses (a lone surrogate) is left to ``_chunk_words``."""
    todo = list(dict.fromkeys(c for t in texts for c in t.split() if c not in _CHUNKS))
    if len(todo) < 2:
        return
    joined = "\n".join(todo)
    try:
        doc = tokenizer().make_doc(joined)
    except UnicodeEncodeError:
        return
    ends = list(accumulate(len(c) + 1 for c in todo))  # one past each chunk's separator
    words: list[list[str]] = [[] for _ in todo]
    k = 0
    for start, _, w in word_offsets(doc, joined):
        while start >= ends[k]:
            k += 1
        words[k].append(fold(w))
    for chunk, ws in zip(todo, words, strict=True):
        _remember_chunk(chunk, tuple(ws))


def _prefix(word: str) -> str | None:
    """The 5-letter prefix feature of a longer alphabetic word (a cheap stand-in for its lemma)."""
    return word[:5] + "~" if len(word) > 5 and word.isalpha() else None


def word_features(text: str, ngram_max: int = 2) -> list[str]:
    words = _words(text)
    feats = list(words)
    feats.extend(p for w in words if (p := _prefix(w)) is not None)
    for n in range(2, ngram_max + 1):
        feats.extend(" ".join(words[i : i + n]) for i in range(len(words) - n + 1))
    return feats


@lru_cache(maxsize=200_000)
def _char_ngrams(word: str, lo: int, hi: int) -> tuple[str, ...]:
    padded = " " + word + " "
    out: list[str] = []
    for n in range(lo, hi + 1):
        out.extend(padded[i : i + n] for i in range(len(padded) - n + 1))
    return tuple(out)


def char_features(text: str, lo: int = 2, hi: int = 5) -> list[str]:
    feats: list[str] = []
    for w in _words(text):
        feats.extend(_char_ngrams(w, lo, hi))
    return feats


def context_features(pair: tuple[str, str]) -> list[str]:
    """The neighbours' words; ``P:^`` / ``N:$`` mark the first and the last span of a comment."""
    prev, nxt = pair
    feats = ["P:" + w for w in _words(prev)] if prev else ["P:^"]
    feats.extend(["N:" + w for w in _words(nxt)] if nxt else ["N:$"])
    return feats


def _as_items(X: Any) -> list[tuple[str, str, str]]:
    values = X.tolist() if hasattr(X, "tolist") else list(X)
    items: list[tuple[str, str, str]] = []
    for i, x in enumerate(values):
        if isinstance(x, str):
            items.append((x, "", ""))
        elif isinstance(x, (tuple, list)) and len(x) == 3 and all(isinstance(v, str) for v in x):
            items.append((x[0], x[1], x[2]))
        else:
            raise TypeError(
                f"item {i} must be a span text or a (text, previous, next) triple of strings, got {x!r:.80}"
            )
    return items


CONTEXT_SCOPES = ("neighbours", "comment")
# Below this many feature entries (a few comments) scoring stays in numpy; above it scipy's sparse
# routines win despite their fixed cost of tens of microseconds a call.
_SMALL = 20_000

# The spans of one comment for ``SpanClassifier.predict_proba_groups``: ``(span_texts, scope)``, or
# ``(span_texts, scope, words)`` with each text's words (``_words(text)``) where the caller has them.
Group = tuple[Sequence[str], str] | tuple[Sequence[str], str, Sequence[tuple[str, ...] | None]]


def with_context(span_texts: Sequence[str], scope: str = "comment") -> list[tuple[str, str, str]]:
    """Items for the spans of one comment, each with its context: the spans right before and after it
    (``neighbours``), or everything before and everything after it (``comment``: what a comment is
    about overall decides many short or vague spans, "Plant is half dead." after a crushed-box story)."""
    if scope == "neighbours":
        n = len(span_texts)
        return [(t, span_texts[i - 1] if i > 0 else "", span_texts[i + 1] if i + 1 < n else "")
                for i, t in enumerate(span_texts)]
    if scope != "comment":
        raise ValueError(f"context scope must be one of {CONTEXT_SCOPES}, not {scope!r}")
    return [(t, " ".join(span_texts[:i]), " ".join(span_texts[i + 1 :])) for i, t in enumerate(span_texts)]


def _two_columns(z: np.ndarray) -> np.ndarray:
    """Binary scores (1-D, sklearn's convention) as two softmax columns: softmax([-z/2, z/2]) = sigmoid(z)."""
    return np.column_stack([-z / 2, z / 2]) if z.ndim == 1 else z


def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    np.exp(z, out=z)
    z /= z.sum(axis=1, keepdims=True)
    return z



class SpanScorer:
    """The fitted numbers of a :class:`~classifier.model.SpanClassifier` and its inference: the
    same ``classes_``, ``predict``, ``predict_proba``, ``decision_function`` and
    ``predict_proba_groups``, with plain dicts and arrays instead of scikit-learn objects.

    ``vocabularies``: the word, character and context blocks' ``feature -> column`` tables (columns
    of each block from 0); ``idf_``: the three blocks' IDF weights, concatenated."""

    def __init__(self, *, vocabularies: Sequence[dict[str, int]], idf: np.ndarray, coef: np.ndarray,
                 intercept: np.ndarray, classes: np.ndarray, temperature: float, block_weights: np.ndarray,
                 word_ngram_max: int, char_ngram_range: tuple[int, int]) -> None:
        self.vocabularies = tuple(vocabularies)
        self.idf_ = np.asarray(idf, dtype=np.float64)
        self.coef_ = coef
        self.intercept_ = intercept
        self.classes_ = classes
        self.temperature_ = temperature
        self.block_weights_ = np.asarray(block_weights, dtype=np.float64)
        self.word_ngram_max = word_ngram_max
        self.char_ngram_range = tuple(char_ngram_range)

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state.pop("_word_cache", None)  # caches are rebuilt lazily, never pickled
        state.pop("_coef_t", None)
        state["vocabularies"] = tuple(pack(v) for v in self.vocabularies)  # see classifier.packing
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        state["vocabularies"] = tuple(unpack(v) for v in state["vocabularies"])
        self.__dict__.update(state)

    def _word_columns(self, word: str) -> tuple[np.ndarray, int, int]:
        """What one word contributes: its own columns (unigram, prefix, character n-grams) and
        its context columns as a previous (P:) and a next (N:) neighbour (-1 when unknown).
        Cached per word, so a span costs one lookup per word plus its word n-grams."""
        cache = self.__dict__.setdefault("_word_cache", {})
        hit = cache.get(word)
        if hit is None:
            wv, cv, xv = self.vocabularies
            woff, xoff = len(wv), len(wv) + len(cv)
            own = [wv[word]] if word in wv else []
            prefix = _prefix(word)
            if prefix is not None and prefix in wv:
                own.append(wv[prefix])
            lo, hi = self.char_ngram_range
            # Unwrapped: the columns are cached just below, so the n-gram cache would only hold a second copy of
            # every new word's n-grams (1.8 kB a word, 47% of the memory a long-running service gained per new word).
            own.extend(woff + cv[g] for g in _char_ngrams.__wrapped__(word, lo, hi) if g in cv)
            hit = (np.array(own, dtype=np.int64), xoff + xv.get("P:" + word, -1 - xoff),
                   xoff + xv.get("N:" + word, -1 - xoff))
            if len(cache) > 300_000:
                cache.clear()
            cache[word] = hit
        return hit

    def _weighted_entries(self, items: list[tuple[str, str, str]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(rows, cols, values)`` of the TF-IDF, block-normalised feature matrix, rows ascending.

        Python only gathers column indices (cached per word); counting, TF-IDF weighting and
        the per-block L2 norms are vectorised.
        """
        prime_words(t for item in items for t in item)
        gathered = _Gathered()
        first, last = self._edge_columns()
        columns, cache = self._word_columns, self.__dict__.setdefault("_word_cache", {})
        for r, (text, prev, nxt) in enumerate(items):
            gathered.own(r, text, columns, cache, self._wvocab(), self.word_ngram_max)
            ctx = ([c for w in _words(prev) if (c := columns(w)[1]) >= 0] if prev else [first] if first >= 0 else [])
            ctx += [c for w in _words(nxt) if (c := columns(w)[2]) >= 0] if nxt else [last] if last >= 0 else []
            gathered.add(r, ctx)
        return self._weigh(gathered, len(items))

    def _grouped_entries(self, groups: Sequence[Group]) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
        """Like :meth:`_weighted_entries` over ``with_context(texts, scope)`` of each group, one row per
        span, in order; ``scope`` may also be ``"none"`` (every span read alone, as ``(text, "", "")``).
        A group's optional third element gives each text's words (``_words(text)``, or None to tokenize).

        Each span's words are looked up once: a span's context columns are the concatenation of its
        context spans' own ``P:``/``N:`` columns, because the words of ``" ".join(texts)`` are the words
        of each text in turn (spaCy splits on whitespace first).  The same matrix as the items' (tested),
        without re-reading the whole comment for every span of it."""
        gathered = _Gathered()
        first, last = self._edge_columns()
        start = [first] if first >= 0 else []
        end = [last] if last >= 0 else []
        columns, wvocab, nmax = self._word_columns, self._wvocab(), self.word_ngram_max
        cache = self.__dict__.setdefault("_word_cache", {})  # _word_columns' own cache (cleared in place)
        r = 0
        for group in groups:
            texts, scope = group[0], group[1]
            known = group[2] if len(group) > 2 else [None] * len(texts)  # type: ignore[misc]
            prev_cols: list[list[int]] = []
            next_cols: list[list[int]] = []
            for text, words in zip(texts, known, strict=True):
                cw = gathered.own(r + len(prev_cols), text, columns, cache, wvocab, nmax, words)
                if scope == "none":
                    prev_cols.append([])
                    next_cols.append([])
                    continue
                prev_cols.append([c[1] for c in cw if c[1] >= 0])
                next_cols.append([c[2] for c in cw if c[2] >= 0])
            n = len(texts)
            if scope == "comment":
                before: list[int] = []
                after_parts: list[list[int]] = [[] for _ in range(n + 1)]  # N: columns of spans i .. n-1
                acc: list[int] = []
                for i in range(n - 1, -1, -1):
                    acc = after_parts[i] = next_cols[i] + acc
                for i in range(n):
                    # with_context's strings: " ".join(texts[:i]) is empty only for i == 0 or one empty text
                    has_prev = i > 1 or (i == 1 and texts[0] != "")
                    has_next = i < n - 2 or (i == n - 2 and texts[n - 1] != "")
                    gathered.add(r + i, (before if has_prev else start) + (after_parts[i + 1] if has_next else end))
                    before = before + prev_cols[i]
            elif scope == "neighbours":
                for i in range(n):
                    has_prev = i > 0 and texts[i - 1] != ""
                    has_next = i + 1 < n and texts[i + 1] != ""
                    gathered.add(r + i, (prev_cols[i - 1] if has_prev else start)
                                 + (next_cols[i + 1] if has_next else end))
            elif scope == "none":
                for i in range(n):
                    gathered.add(r + i, start + end)
            else:
                raise ValueError(f"context scope must be one of {CONTEXT_SCOPES} or 'none', not {scope!r}")
            r += n
        rows, cols, data = self._weigh(gathered, r)
        return rows, cols, data, r

    def _wvocab(self) -> dict[str, int]:
        return self.vocabularies[0]

    def _edge_columns(self) -> tuple[int, int]:
        """Columns of ``P:^`` and ``N:$`` (first and last span of a comment), -1 when not in the vocabulary."""
        xvocab = self.vocabularies[2]
        xoff = len(self.vocabularies[0]) + len(self.vocabularies[1])
        return xoff + xvocab.get("P:^", -1 - xoff), xoff + xvocab.get("N:$", -1 - xoff)

    def _weigh(self, gathered: _Gathered, n_rows: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Count the gathered ``(row, column)`` pairs, weight them by sublinear TF x IDF and L2-normalise
        each row's three blocks, then scale the blocks by ``block_weights_``."""
        sizes = [len(v) for v in self.vocabularies]
        n_cols = sum(sizes)
        arrays, array_rows = gathered.arrays, gathered.array_rows
        lengths = np.fromiter((len(a) for a in arrays), dtype=np.int64, count=len(arrays))
        cols = np.concatenate([*arrays, np.array(gathered.extra, dtype=np.int64)])
        rows = np.concatenate([np.repeat(np.array(array_rows, dtype=np.int64), lengths),
                               np.array(gathered.extra_rows, dtype=np.int64)])
        if len(cols) < _SMALL:  # one global sort: scipy's fixed cost would dominate
            keys, counts = np.unique(rows * n_cols + cols, return_counts=True)
            rows, cols = np.divmod(keys, n_cols)
        else:
            # Group the pairs by row (a stable sort of two ascending runs, the words' columns then the loose
            # ones, is a linear merge), then let scipy sort and sum each short row: cheaper than sorting all.
            order = np.argsort(rows, kind="stable")
            indptr = np.zeros(n_rows + 1, dtype=np.int64)
            np.cumsum(np.bincount(rows, minlength=n_rows), out=indptr[1:])
            counted = sp.csr_matrix((np.ones(len(cols)), cols[order], indptr), shape=(n_rows, n_cols))
            counted.sum_duplicates()
            cols, counts = counted.indices.astype(np.int64, copy=False), counted.data
            rows = np.repeat(np.arange(n_rows, dtype=np.int64), np.diff(counted.indptr))
        data = (1.0 + np.log(counts)) * self.idf_[cols]
        block = np.searchsorted(np.cumsum(sizes), cols, side="right")
        key = rows * 3 + block
        norms = np.sqrt(np.bincount(key, weights=data * data, minlength=n_rows * 3))
        data *= self.block_weights_[block] / norms[key]
        return rows, cols, data

    def transform_items(self, items: list[tuple[str, str, str]]) -> sp.csr_matrix:
        """The feature matrix of the fitted vocabularies; equal to stacking the fitted
        vectorizers' own ``transform`` (tested), without their per-call overhead."""
        rows, cols, data = self._weighted_entries(items)
        n_cols = sum(len(v) for v in self.vocabularies)
        return sp.csr_matrix((data, (rows, cols)), shape=(len(items), n_cols))

    def decision_function(self, X: Any) -> np.ndarray:
        """Class scores; a sparse-times-dense product done with ``bincount`` (no scipy matrix)."""
        items = _as_items(X)
        if not items:
            scores = np.tile(self.intercept_, (0, 1))
        else:
            scores = self._scores(*self._weighted_entries(items), len(items))
        return scores.ravel() if scores.shape[1] == 1 else scores  # binary: 1-D, like sklearn

    def _scores(self, rows: np.ndarray, cols: np.ndarray, data: np.ndarray, n_rows: int) -> np.ndarray:
        weights = self.__dict__.get("_coef_t")
        if weights is None:  # (n_features, n_classes), C-contiguous
            weights = self.__dict__["_coef_t"] = np.ascontiguousarray(self.coef_.T)
        if len(cols) < _SMALL:  # a few comments: numpy alone, no scipy matrix to build
            scores = np.tile(self.intercept_, (n_rows, 1))
            contrib = weights[cols] * data[:, None]
            for k in range(scores.shape[1]):  # bincount adds in order (np.add.reduceat would sum pairwise)
                scores[:, k] += np.bincount(rows, weights=contrib[:, k], minlength=n_rows)
            return scores
        # rows come ascending, so the CSR row pointers are a cumulative count
        indptr = np.zeros(n_rows + 1, dtype=np.int64)
        np.cumsum(np.bincount(rows, minlength=n_rows), out=indptr[1:])
        matrix = sp.csr_matrix((data, cols, indptr), shape=(n_rows, weights.shape[0]))
        scores = matrix @ weights
        scores += self.intercept_
        return np.asarray(scores)

    def predict_proba_groups(self, groups: Sequence[Group]) -> np.ndarray:
        """Calibrated probabilities for the spans of many comments, one row per span in order:
        equal to ``predict_proba`` over ``with_context(texts, scope)`` of each ``(texts, scope)`` group
        (``scope`` ``"none"``: every span alone), only faster for whole-comment context (tested)."""
        rows, cols, data, n = self._grouped_entries(groups)
        if n == 0:
            return np.zeros((0, len(self.classes_)))
        scores = self._scores(rows, cols, data, n)
        scores = scores.ravel() if scores.shape[1] == 1 else scores  # binary: one column, as decision_function
        return _softmax(_two_columns(scores) / self.temperature_)

    def predict_proba(self, X: Any) -> np.ndarray:
        """Calibrated probabilities, columns in the order of ``classes_``."""
        return _softmax(_two_columns(self.decision_function(X)) / self.temperature_)

    def predict(self, X: Any) -> np.ndarray:
        scores = _two_columns(self.decision_function(X))
        return self.classes_[np.argmax(scores, axis=1)]


class _Gathered:
    """``(row, column)`` pairs of a feature matrix in the making: per-word column arrays and loose columns."""

    __slots__ = ("arrays", "array_rows", "extra", "extra_rows")

    def __init__(self) -> None:
        self.arrays: list[np.ndarray] = []
        self.array_rows: list[int] = []
        self.extra: list[int] = []
        self.extra_rows: list[int] = []

    def add(self, row: int, cols: list[int]) -> None:
        self.extra.extend(cols)
        self.extra_rows.extend([row] * len(cols))

    def own(self, row: int, text: str, columns: Any, cache: dict[str, Any], wvocab: dict[str, int], nmax: int,
            words: tuple[str, ...] | None = None) -> list[tuple[np.ndarray, int, int]]:
        """A span's own columns (words, prefixes, character n-grams, word n-grams); returns what each of
        its words contributes (``SpanScorer._word_columns``).  ``words``: ``_words(text)``, when
        the caller has them already."""
        if words is None:
            words = _words(text)
        get = cache.get  # a cached word without a method call, the rest through ``columns``
        cw = [get(w) or columns(w) for w in words]
        self.arrays.extend([c[0] for c in cw])
        self.array_rows.extend([row] * len(words))
        for n in range(2, nmax + 1):
            for i in range(len(words) - n + 1):
                j = wvocab.get(" ".join(words[i : i + n]))
                if j is not None:
                    self.extra.append(j)
                    self.extra_rows.append(row)
        return cw
