"""spaCy keeps every word it has seen in the pipeline's Vocab and StringStore (about 0.5 kB each), so a
long-running service grew without bound (1,000,000 new words: +450 MB).  The shared tokenizer is renewed
once its vocabulary passes ``MAX_LEXEMES``; the answers stay the same."""

from __future__ import annotations

import random
import string

from classifier import segment


def novel_comment(rng: random.Random) -> str:
    words = ("".join(rng.choices(string.ascii_lowercase, k=9)) for _ in range(12))
    return "Paketet kom aldrig fram, " + " ".join(words) + ". Men skärmen var repad."


def test_the_tokenizer_vocabulary_stays_bounded_and_answers_stay_the_same(monkeypatch, shipped_model):
    monkeypatch.setattr(segment, "MAX_LEXEMES", 3_000)
    monkeypatch.setattr(segment, "_pipeline", [])
    rng = random.Random(0)
    comments = [novel_comment(rng) for _ in range(1_000)]  # 12,000 words never seen before
    first = segment.tokenizer()
    sizes, pipelines = [], set()
    verdicts = []
    for comment in comments:
        verdicts.append(shipped_model.suggest({"rating": 1, "comment": comment, "fulfillment_channel": "AFN"}))
        sizes.append(len(segment.tokenizer().vocab))
        pipelines.add(id(segment.tokenizer()))
    assert max(sizes) <= 3_000 + 40, "at most one comment's words past the bound"
    assert len(pipelines) >= 3 and id(first) not in {id(segment.tokenizer())}, "the pipeline was renewed"
    # the same comments on one pipeline that never renews give the same verdicts
    monkeypatch.setattr(segment, "MAX_LEXEMES", 10**9)
    monkeypatch.setattr(segment, "_pipeline", [])
    again = [shipped_model.suggest({"rating": 1, "comment": c, "fulfillment_channel": "AFN"}) for c in comments]
    assert again == verdicts
