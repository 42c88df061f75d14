"""The strike-through policy as pure functions (POLICY.md, LABELS.md "The decision").

No spaCy, scikit-learn, I/O or HTTP here: plain frozen dataclasses in, a decision out.
Every rule of the policy is one visible step in :func:`decide`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Label = Literal["amazon_delivery", "amazon_service", "product_condition", "seller_service", "other"]
Verdict = Literal["strike", "keep", "needs_review"]

LABELS: tuple[str, ...] = (
    "amazon_delivery",
    "amazon_service",
    "product_condition",
    "seller_service",
    "other",
)
MARKETPLACE_LABELS = frozenset({"amazon_delivery", "amazon_service"})
BLOCKING_LABELS = frozenset({"product_condition", "seller_service"})
ASPECT_LABELS: tuple[str, ...] = LABELS[:4]

NOTES = {
    "en": "This item was fulfilled by Amazon, and we take responsibility for this fulfillment experience.",
    "sv": "Denna artikel levererades av Amazon och vi tar ansvar för leveransupplevelsen",
}


@dataclass(frozen=True)
class OrderFacts:
    """What the policy needs to know about the order, apart from the comment."""

    rating: int
    fulfillment_channel: str  # "AFN" or "MFN"
    shipped_via_mcf: bool = False


@dataclass(frozen=True)
class ScoredSpan:
    """One span of the comment with its label and the model's probabilities.

    ``blocking_probability`` is P(product_condition) + P(seller_service), the chance that
    this span is a blocker whatever its top label; gold spans carry 1.0 or 0.0.
    """

    start: int
    end: int
    text: str
    label: str
    confidence: float = 1.0
    blocking_probability: float = 0.0

    @property
    def is_blocking(self) -> bool:
        return self.label in BLOCKING_LABELS

    @property
    def is_marketplace(self) -> bool:
        return self.label in MARKETPLACE_LABELS


@dataclass(frozen=True)
class Thresholds:
    """Confidence limits below which the decision layer answers ``needs_review``.

    strike_max_blocking: a strike needs every span's blocking probability at or below this.
    keep_min_blocking: a keep that rests on blocking spans needs one of them at or above this.
    strike_max_doubt: a strike needs the comment's doubt (the chance that it holds a product or
    seller point that no span shows, from the model's second look) at or below this.
    All are tuned on the dev split (``training.train.tune_thresholds``); 1.0 / 0.0 / 1.0 disable review.
    """

    strike_max_blocking: float = 1.0
    keep_min_blocking: float = 0.0
    strike_max_doubt: float = 1.0


@dataclass(frozen=True)
class Reason:
    code: str
    message: str


@dataclass(frozen=True)
class Decision:
    verdict: Verdict
    reasons: tuple[Reason, ...] = field(default_factory=tuple)
    note: str | None = None


def note_for(language: str) -> str:
    """The marketplace's note in the comment's language (Swedish for ``sv``, else English)."""
    return NOTES["sv"] if language == "sv" else NOTES["en"]


def _blockers(spans: tuple[ScoredSpan, ...]) -> list[tuple[int, ScoredSpan]]:
    return [(i, s) for i, s in enumerate(spans, 1) if s.is_blocking]


def decide(
    order: OrderFacts,
    spans: tuple[ScoredSpan, ...],
    *,
    language: str,
    thresholds: Thresholds = Thresholds(),
    doubt: float = 0.0,
) -> Decision:
    """Apply the policy to labelled spans.  ``language`` picks the note (``sv`` or ``en``);
    ``doubt`` is the model's comment-level chance that a blocker hides in the spans (0 for gold)."""
    # 1. Only negative ratings can be struck.
    if order.rating >= 3:
        return Decision("keep", (Reason("not_negative", f"rating {order.rating} is not negative (1-2)"),))
    # 2. Only marketplace-fulfilled orders; MFN shipped via MCF is still the seller's.
    if order.fulfillment_channel != "AFN":
        return Decision(
            "keep",
            (Reason("not_marketplace_fulfilled", f"order channel is {order.fulfillment_channel}, not AFN"),),
        )
    if order.shipped_via_mcf:
        return Decision(
            "keep",
            (Reason("multi_channel_fulfillment", "a Multi-Channel Fulfillment order is not eligible"),),
        )
    # 3. Any span about the product's condition or the seller blocks a strike.
    blockers = _blockers(spans)
    if blockers:
        reasons = tuple(Reason("blocking_span", f"span {i} is about {s.label}") for i, s in blockers)
        best = max(s.blocking_probability for _, s in blockers)
        if best < thresholds.keep_min_blocking:
            return Decision(
                "needs_review",
                (*reasons, Reason("low_confidence", f"the blocking span is uncertain ({best:.2f})")),
            )
        return Decision("keep", reasons)
    # 4. Nothing attributable to the marketplace: nothing to strike.
    marketplace = [(i, s) for i, s in enumerate(spans, 1) if s.is_marketplace]
    if not marketplace:
        return Decision("keep", (Reason("nothing_attributable", "no span is about delivery or customer service"),))
    # 5. Every span is marketplace-attributable or `other`: strike, unless a span might be a blocker.
    doubtful = [(i, s) for i, s in enumerate(spans, 1) if s.blocking_probability > thresholds.strike_max_blocking]
    reasons = tuple(
        Reason("low_confidence", f"span {i} may be about the product or the seller ({s.blocking_probability:.2f})")
        for i, s in doubtful
    )
    if doubt > thresholds.strike_max_doubt:
        reasons += (Reason("low_confidence", f"the comment may hold a point about the product or the seller "
                                             f"that no span shows ({doubt:.2f})"),)
    if reasons:
        return Decision("needs_review", reasons)
    labels = sorted({s.label for _, s in marketplace})
    return Decision(
        "strike",
        (Reason("marketplace_only", "every span is about " + " or ".join(labels) + " (or carries no aspect)"),),
        note_for(language),
    )


def gold_verdict(order: OrderFacts, labels: list[str]) -> str:
    """The verdict that gold labels imply (never ``needs_review``)."""
    spans = tuple(ScoredSpan(0, 0, "", label, 1.0, 1.0 if label in BLOCKING_LABELS else 0.0) for label in labels)
    return decide(order, spans, language="en").verdict
