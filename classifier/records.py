"""The feedback record (input) and the suggested verdict (output) of INTERFACES.md."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    ValidationError,
    field_validator,
)

MAX_COMMENT_CHARS = 5_000
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
# The same rules as JSON Schema patterns, so the OpenAPI schema promises no more than the validators accept:
# a comment has a character that is neither a control character nor white space (``str.isspace``).
_C = r"\x00-\x08\x0b\x0c\x0e-\x1f\x7f"
_W = r"\t\n\x0b\x0c\r\x1c-\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
COMMENT_PATTERN = f"^[^{_C}]*[^{_C}{_W}][^{_C}]*$"
EMAIL_PATTERN = f"^[^@{_W}{_C}]+@[^@{_W}{_C}]+\\.[^@{_W}{_C}]+$"
_EMAIL = re.compile(EMAIL_PATTERN)
# Ids hold no control characters (PostgreSQL cannot even store NUL: such an id answered 500 there).
ID_PATTERN = r"^[^\x00-\x1f\x7f]*$"
_ID_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def iso_date(v: Any) -> Any:
    """Dates only as ``YYYY-MM-DD`` (or a date object): pydantic would read 1700000000 or "0" as a Unix time
    and store a date nobody wrote."""
    if isinstance(v, date):
        return v
    if not isinstance(v, str) or not re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", v):
        raise ValueError("must be a date written as YYYY-MM-DD")
    return v


def _whole_number(v: Any) -> Any:
    """JSON Schema counts 1.0 as the integer 1, so the schema's promise holds; 1.5, "1" and true stay errors."""
    return int(v) if isinstance(v, float) and v.is_integer() else v


def lone_surrogate(s: str) -> int | None:
    """Where ``s`` holds a lone surrogate (JSON allows "\\ud800"; UTF-8 cannot encode it), else None."""
    try:
        s.encode("utf-8")
    except UnicodeEncodeError as exc:
        return exc.start
    return None


class FeedbackRecord(BaseModel):
    """One buyer feedback.  Unknown fields (e.g. a corpus line's ``spans``) are ignored."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    feedback_id: str | None = Field(default=None, max_length=200, examples=["fb-0001"],
                                    json_schema_extra={"pattern": ID_PATTERN})
    rating: Annotated[StrictInt, BeforeValidator(_whole_number)] = Field(ge=1, le=5, examples=[1])
    comment: str = Field(max_length=MAX_COMMENT_CHARS, json_schema_extra={"pattern": COMMENT_PATTERN},
                         examples=["Paketet kom två veckor för sent, men skärmen var repad."])
    fulfillment_channel: Literal["AFN", "MFN"] = Field(examples=["AFN"])
    shipped_via_mcf: StrictBool = False
    order_id: str | None = Field(default=None, max_length=100, json_schema_extra={"pattern": ID_PATTERN})
    seller_id: str | None = Field(default=None, max_length=100, json_schema_extra={"pattern": ID_PATTERN})
    buyer_email: str | None = Field(default=None, max_length=320, json_schema_extra={"pattern": EMAIL_PATTERN})
    feedback_date: Annotated[date | None, BeforeValidator(lambda v: v if v is None else iso_date(v))] = None

    @field_validator("feedback_id", "comment", "order_id", "seller_id", "buyer_email")
    @classmethod
    def _encodable(cls, v: str | None) -> str | None:
        position = lone_surrogate(v) if v is not None else None
        if position is not None:
            raise ValueError(f"contains a lone surrogate at position {position}, not valid Unicode")
        return v

    @field_validator("feedback_id", "order_id", "seller_id")
    @classmethod
    def _no_control_characters(cls, v: str | None) -> str | None:
        bad = _ID_CONTROL.search(v) if v is not None else None
        if bad:
            raise ValueError(f"contains control character U+{ord(bad.group()):04X} at position {bad.start()}")
        return v

    @field_validator("comment")
    @classmethod
    def _comment_has_text(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("comment must contain text, not only whitespace")
        bad = _CONTROL.search(v)
        if bad:
            raise ValueError(f"comment contains control character U+{ord(bad.group()):04X} at position {bad.start()}")
        return v

    @field_validator("buyer_email")
    @classmethod
    def _email_shape(cls, v: str | None) -> str | None:
        if v is not None and not _EMAIL.fullmatch(v):
            raise ValueError("buyer_email is not an e-mail address")
        return v


class RecordError(ValueError):
    """A record that cannot be scored; ``problems`` is a list of (field, message) pairs."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        self.problems = problems
        super().__init__("; ".join(f"{f}: {m}" for f, m in problems))


# Values of these fields are personal data or buyer text: messages never repeat them.
SENSITIVE_FIELDS = frozenset({"comment", "buyer_email", "feedback_id", "order_id", "seller_id"})


def describe_validation_error(exc: ValidationError) -> list[tuple[str, str]]:
    """(field, message) pairs that name the field and, for harmless fields only, the offending value."""
    out = []
    for err in exc.errors():
        fld = ".".join(str(p) for p in err["loc"]) or "record"
        msg = err["msg"].removeprefix("Value error, ")
        if (err["type"] != "missing" and "input" in err and not isinstance(err["input"], dict)
                and fld not in SENSITIVE_FIELDS):
            shown = repr(err["input"])
            msg += f" (got {shown[:60] + '...' if len(shown) > 60 else shown})"
        out.append((fld, msg))
    return out


def parse_record(data: Any) -> FeedbackRecord:
    """Validate one record (a dict or a :class:`FeedbackRecord`); raise :class:`RecordError`."""
    if isinstance(data, FeedbackRecord):
        return data
    if not isinstance(data, dict):
        raise RecordError([("record", f"must be a JSON object, got {type(data).__name__}")])
    try:
        return FeedbackRecord.model_validate(data)
    except ValidationError as exc:
        raise RecordError(describe_validation_error(exc)) from None


@dataclass(frozen=True)
class SpanOut:
    start: int
    end: int
    text: str
    label: str
    confidence: float


@dataclass(frozen=True)
class ReasonOut:
    code: str
    message: str


@dataclass(frozen=True)
class SuggestedVerdict:
    """The suggested verdict of INTERFACES.md; :meth:`to_dict` gives its JSON shape."""

    feedback_id: str | None
    verdict: Literal["strike", "keep", "needs_review"]
    reasons: tuple[ReasonOut, ...]
    language: str
    spans: tuple[SpanOut, ...]
    note: str | None
    model_version: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "feedback_id": self.feedback_id,
            "verdict": self.verdict,
            "reasons": [{"code": r.code, "message": r.message} for r in self.reasons],
            "language": self.language,
            "spans": [{"start": s.start, "end": s.end, "text": s.text, "label": s.label, "confidence": s.confidence}
                      for s in self.spans],
            "note": self.note,
            "model_version": self.model_version,
        }
