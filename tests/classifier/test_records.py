"""Input validation: every bad record names its field; odd but valid text is accepted."""

import pytest

from classifier.records import MAX_COMMENT_CHARS, RecordError, parse_record

GOOD = {"rating": 1, "comment": "Kom aldrig fram", "fulfillment_channel": "AFN"}


def fields_of(exc: RecordError) -> set[str]:
    return {f for f, _ in exc.problems}


@pytest.mark.parametrize(
    "change,field",
    [
        ({"rating": 0}, "rating"),
        ({"rating": 9}, "rating"),
        ({"rating": "1"}, "rating"),
        ({"rating": True}, "rating"),
        ({"rating": 1.5}, "rating"),
        ({"fulfillment_channel": "XYZ"}, "fulfillment_channel"),
        ({"comment": ""}, "comment"),
        ({"comment": "   \n\t "}, "comment"),
        ({"comment": "x" * 50_000}, "comment"),
        ({"comment": "bad\x00byte"}, "comment"),
        ({"comment": "bell\x07"}, "comment"),
        ({"comment": 42}, "comment"),
        ({"shipped_via_mcf": "yes"}, "shipped_via_mcf"),
        ({"buyer_email": "not-an-address"}, "buyer_email"),
        ({"feedback_date": "yesterday"}, "feedback_date"),
    ],
)
def test_bad_field_is_named(change, field):
    with pytest.raises(RecordError) as info:
        parse_record({**GOOD, **change})
    assert field in fields_of(info.value)


@pytest.mark.parametrize("missing", ["rating", "comment", "fulfillment_channel"])
def test_missing_required_field_is_named(missing):
    record = {k: v for k, v in GOOD.items() if k != missing}
    with pytest.raises(RecordError) as info:
        parse_record(record)
    assert fields_of(info.value) == {missing}


@pytest.mark.parametrize("not_a_dict", [[1, 2], "text", 3, None])
def test_non_object_is_refused(not_a_dict):
    with pytest.raises(RecordError):
        parse_record(not_a_dict)


@pytest.mark.parametrize(
    "comment", ["😡😡😡", "Доставка очень медленная", "配送が遅い", "tab\tand\nnewline\r\n", "x" * MAX_COMMENT_CHARS]
)
def test_unusual_but_valid_comments_are_accepted(comment):
    assert parse_record({**GOOD, "comment": comment}).comment == comment


def test_corpus_line_fields_are_ignored():
    rec = parse_record({**GOOD, "language": "sv", "spans": [], "verdict": "strike", "whatever": 1})
    assert rec.rating == 1 and rec.shipped_via_mcf is False
