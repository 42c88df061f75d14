"""Language identification on the shipped model: short text, missing diacritics, mixed comments."""

import pytest


@pytest.mark.parametrize(
    "spans,expected",
    [
        (["Paketet kom aldrig fram."], "sv"),
        (["paketet kom aldrig fram, sjalvklart"], "sv"),  # no å/ä/ö
        (["kundtjanst var varldens samsta"], "sv"),
        (["Never arrived."], "en"),
        (["The box was crushed and the courier just left it at the gate."], "en"),
        (["Leveransen tog tre veckor.", "Customer service was useless and never called me back."], "mixed"),
    ],
)
def test_comment_language(shipped_model, spans, expected):
    assert shipped_model.langid.identify(spans).language == expected


@pytest.mark.parametrize("spans", [["😡"], [":("], ["!!!"], ["ok"]])
def test_very_short_text_gets_an_answer(shipped_model, spans):
    guess = shipped_model.langid.identify(spans)
    assert guess.language in ("sv", "en")
    assert guess.dominant in ("sv", "en")
