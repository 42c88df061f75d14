"""feedback-strike's classifier: segmentation, language identification, span labels, the policy.

>>> from classifier import load_model        # doctest: +SKIP
>>> model = load_model()                     # the current model (models/CURRENT), checksum-verified
>>> model.suggest({"rating": 1, "comment": "Paketet kom aldrig fram", "fulfillment_channel": "AFN"}).verdict
'strike'
"""

from classifier.artifact import ModelIntegrityError, load_card, load_model, save_model
from classifier.decision import Decision, OrderFacts, ScoredSpan, Thresholds, decide
from classifier.model import SpanClassifier
from classifier.pipeline import FeedbackModel
from classifier.records import FeedbackRecord, RecordError, SuggestedVerdict, parse_record

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
