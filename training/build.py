"""Build ``data/{train,dev,test}.jsonl`` from the hand-written pieces in ``data/raw``.

Deterministic: the same raw files always give the same corpus (see data/README.md).

- ``raw/train_*.jsonl`` (training writers) -> train, except a stable 12% by id -> dev;
- ``raw/test_*.jsonl`` (separate test writers, who never saw the training pieces) -> test;
- train only: noisy copies (typos, missing å/ä/ö, lowercase, dropped punctuation, emoji)
  and compositions (two complaints of one buyer voice joined into one longer review);
- comments whose normalised text also occurs in test are dropped from train and dev.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from training.corpus import DATA_DIR, RawComment, read_raw, stable_fraction, to_corpus_line
from training.progress import progress_bar

DEV_FRACTION = 0.12
NOISE_FRACTION = 0.30
COMPOSE_FRACTION = 0.30
_FOLD = str.maketrans("åäöÅÄÖéÉüÜ", "aaoAAOeEuU")
EMOJI = ("😡", "🤬", "😤", "🙄", "👎", "😭", "😞", ":(", ":/", "😠", "🤦‍♂️", "💩")


def normalise(text: str) -> str:
    return re.sub(r"[^0-9a-z]+", " ", text.lower().translate(_FOLD)).strip()


# --- noise: each takes (text, rng) and returns the changed text -------------------------------
def drop_diacritics(text: str, rng: random.Random) -> str:
    return text.translate(_FOLD)


def lowercase(text: str, rng: random.Random) -> str:
    return text.lower()


def drop_punctuation(text: str, rng: random.Random) -> str:
    stripped = re.sub(r"[.,!?;:]+", "", text).strip()
    return stripped or text


def typo(text: str, rng: random.Random) -> str:
    words = text.split(" ")
    candidates = [i for i, w in enumerate(words) if len(w) >= 4 and w.isalpha()]
    if not candidates:
        return text
    i = rng.choice(candidates)
    w = words[i]
    j = rng.randrange(1, len(w) - 1)
    kind = rng.choice(("swap", "drop", "double"))
    if kind == "swap":
        w = w[:j] + w[j + 1] + w[j] + w[j + 2 :]
    elif kind == "drop":
        w = w[:j] + w[j + 1 :]
    else:
        w = w[:j] + w[j] + w[j:]
    words[i] = w
    return " ".join(words)


def shout(text: str, rng: random.Random) -> str:
    return text.upper()


NOISE: tuple[tuple[Callable[[str, random.Random], str], float], ...] = (
    (drop_diacritics, 0.6), (lowercase, 0.5), (drop_punctuation, 0.4), (typo, 0.7), (shout, 0.05),
)


def noisy_copy(raw: RawComment, rng: random.Random) -> RawComment:
    chosen = [f for f, p in NOISE if rng.random() < p] or [typo]
    segments = []
    for text, label in raw.segments:
        newline = text.startswith("\n")
        body = text.lstrip("\n")
        for f in chosen:
            body = f(body, rng) if f is not typo or rng.random() < 0.5 else body
        segments.append((("\n" if newline else "") + body, label))
    if rng.random() < 0.15:
        segments.append((rng.choice(EMOJI) * rng.randint(1, 3), "other"))
    return RawComment(raw.id + "~n", raw.language, raw.rating, tuple(segments))


def compose(a: RawComment, b: RawComment, rng: random.Random) -> RawComment:
    """One longer review from two: the second starts on a new line or after a space."""
    sep = "\n" if rng.random() < 0.4 else ""
    first, *rest = b.segments
    joined = ((sep + first[0].lstrip("\n"), first[1]), *rest)
    language = a.language if a.language == b.language else "mixed"
    return RawComment(f"{a.id}+{b.id}", language, min(a.rating, b.rating), a.segments + joined)


def build(raw_dir: Path = DATA_DIR / "raw", out_dir: Path = DATA_DIR, *, seed: int = 13,
          progress: bool | None = None) -> dict[str, int]:
    """Write train.jsonl, dev.jsonl and test.jsonl; return their line counts.

    ``progress``: a bar over the raw files read (None: on a terminal or in a notebook, never under CI)."""
    rng = random.Random(seed)
    raw_files = sorted(raw_dir.glob("train_*.jsonl")) + sorted(raw_dir.glob("test_*.jsonl"))
    raw = {p: read_raw(p) for p in progress_bar(raw_files, desc="reading data/raw", unit="file", enabled=progress)}
    written = [r for p in raw_files if p.name.startswith("train_") for r in raw[p]]
    test_raw = [r for p in raw_files if p.name.startswith("test_") for r in raw[p]]
    test = [to_corpus_line(r) for r in test_raw]
    test_texts = {normalise(line["comment"]) for line in test}

    train_raw: list[RawComment] = []
    dev_raw: list[RawComment] = []
    seen = set(test_texts)
    for r in written:
        key = normalise(to_corpus_line(r)["comment"])
        if key in seen:
            continue  # the same words are already in test (or earlier in train): no leaks, no repeats
        seen.add(key)
        (dev_raw if stable_fraction(r.id, "split") < DEV_FRACTION else train_raw).append(r)

    train = [to_corpus_line(r) for r in train_raw]
    for r in rng.sample(train_raw, int(NOISE_FRACTION * len(train_raw))):
        train.append(to_corpus_line(noisy_copy(r, rng), source="noise"))
    negative = [r for r in train_raw if r.rating <= 3]
    for k in range(int(COMPOSE_FRACTION * len(train_raw))):
        a, b = rng.sample(negative, 2)
        train.append(to_corpus_line(compose(a, b, rng), feedback_id=f"cmp-{k:05d}", source="composed"))
    rng.shuffle(train)

    out = {}
    for name, lines in (("train", train), ("dev", [to_corpus_line(r) for r in dev_raw]), ("test", test)):
        with open(out_dir / f"{name}.jsonl", "w", encoding="utf-8") as fh:
            for line in lines:
                fh.write(json.dumps(line, ensure_ascii=False) + "\n")
        out[name] = len(lines)
    return out


def main_stats(paths: list[Path]) -> dict[str, Any]:
    from training.corpus import corpus_stats, load_corpus

    return {p.name: corpus_stats(load_corpus(p)) for p in paths}
