"""A keyword-rule baseline: what a careful person would write without a trained model.

The same rule segmenter (without its trained weights), keyword lists per label over
diacritic-folded text, the blocking labels checked first, and the same decision layer.
It exists to be compared with the trained model on the same test split (README).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from classifier.decision import OrderFacts, ScoredSpan, decide
from classifier.records import ReasonOut, SpanOut, SuggestedVerdict, parse_record
from classifier.segment import ClauseSegmenter, fold

KEYWORDS: dict[str, tuple[str, ...]] = {
    "product_condition": (
        "trasig", "defekt", "fungerar inte", "funkar inte", "funkade inte", "slutade fungera", "repad", "repor",
        "begagnad", "anvand", "oppnad", "fel storlek", "fel farg", "fel modell", "fel vara", "saknade", "saknas",
        "fake", "kopia", "forfalskad", "kvalitet", "luktar", "utgangen", "billig", "inte som beskriv",
        "broken", "defective", "doesn't work", "does not work", "not working", "stopped working", "scratch",
        "used", "opened", "wrong size", "wrong colo", "wrong item", "wrong model", "missing", "counterfeit",
        "cheap", "quality", "smell", "expired", "not as described", "faulty", "dead on arrival",
    ),
    "seller_service": (
        "saljare", "seller", "overpriced", "for dyr", "dyrt", "pris", "price", "faktura", "invoice", "kvitto",
        "receipt", "garanti", "warranty", "spam", "slut i lager", "out of stock", "returavgift", "return fee",
        "frakt kostade", "shipping fee", "restocking",
    ),
    "amazon_service": (
        "kundtjanst", "kundservice", "customer service", "support", "chatt", "chat", "retur", "return",
        "aterbetalning", "refund", "pengarna tillbaka", "avbryt", "cancel", "konto", "account", "app",
        "hemsida", "website", "agent",
    ),
    "amazon_delivery": (
        "leverans", "leverera", "paket", "forsenad", "sen ", "sent", "late", "delivery", "deliver", "package",
        "parcel", "tracking", "sparning", "postnord", "dhl", "budbee", "instabox", "ups", "bring", "schenker",
        "kartong", "box", "ombud", "courier", "bud ", "never arrived", "kom aldrig", "arrived", "veckor",
        "weeks", "dagar", "days", "shipping", "frakt", "skickad", "shipped",
    ),
}
_PATTERNS = {lab: re.compile("|".join(re.escape(k) for k in kws)) for lab, kws in KEYWORDS.items()}
_SWEDISH = re.compile(r"[åäö]|\b(och|inte|jag|det|att|kom|var|paketet|aldrig|men|har)\b")


def keyword_label(text: str) -> str:
    folded = fold(text) + " "
    for label, pattern in _PATTERNS.items():  # blocking labels first: never hide a blocker
        if pattern.search(folded):
            return label
    return "other"


class KeywordBaseline:
    version = "keyword-baseline"

    def __init__(self) -> None:
        self.segmenter = ClauseSegmenter()

    def predict_span_labels(self, items: list[tuple[str, str, str]]) -> list[str]:
        return [keyword_label(t) for t, _, _ in items]

    def suggest_many(self, records: Iterable[Any]) -> list[SuggestedVerdict]:
        out = []
        for rec in map(parse_record, records):
            spans = tuple(ScoredSpan(s.start, s.end, s.text, lab, 1.0,
                                     1.0 if lab in ("product_condition", "seller_service") else 0.0)
                          for s in self.segmenter.segment(rec.comment) for lab in [keyword_label(s.text)])
            lang = "sv" if _SWEDISH.search(rec.comment.lower()) else "en"
            d = decide(OrderFacts(rec.rating, rec.fulfillment_channel, rec.shipped_via_mcf), spans, language=lang)
            out.append(SuggestedVerdict(rec.feedback_id, d.verdict, tuple(ReasonOut(r.code, r.message)
                                                                          for r in d.reasons),
                                        lang, tuple(SpanOut(s.start, s.end, s.text, s.label, 1.0) for s in spans),
                                        d.note, self.version))
        return out
