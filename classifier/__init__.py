"""feedback-strike's classifier: segmentation, language identification, span labels, the policy.

>>> from classifier import load_model        # doctest: +SKIP
>>> model = load_model()                     # the current model (models/CURRENT), checksum-verified
>>> model.suggest({"rating": 1, "comment": "Paketet kom aldrig fram", "fulfillment_channel": "AFN"}).verdict
'strike'
"""

from classifier.artifact import ModelIntegrityError, load_card, load_model, save_model
from classifier.decision import Decision, OrderFacts, ScoredSpan, Thresholds, decide
from classifier.pipeline import FeedbackModel
from classifier.records import FeedbackRecord, RecordError, SuggestedVerdict, parse_record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from classifier.model import SpanClassifier


def __getattr__(name: str) -> object:
    # The estimator imports scikit-learn (about 90 MiB and most of a second): only when asked for,
    # so that loading a saved model and scoring with it do without.
    if name == "SpanClassifier":
        from classifier.model import SpanClassifier

        return SpanClassifier
    raise AttributeError(f"module 'classifier' has no attribute {name!r}")

__all__ = [
    "Decision",
    "FeedbackModel",
    "FeedbackRecord",
    "ModelIntegrityError",
    "OrderFacts",
    "RecordError",
    "ScoredSpan",
    "SpanClassifier",
    "SuggestedVerdict",
    "Thresholds",
    "decide",
    "load_card",
    "load_model",
    "parse_record",
    "save_model",
]
