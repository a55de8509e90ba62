"""The no-diagnosis rule: verdict wording is caught in English and German, honest wording is not."""

from __future__ import annotations

import pytest

from bot.flow import wording


@pytest.mark.parametrize(
    ("text", "lang"),
    [
        ("You have rosacea.", "en"),
        ("It looks like you've got hyperhidrosis.", "en"),
        ("You probably have an allergy.", "en"),
        ("Based on your answers, you are not suitable for this treatment.", "en"),
        ("You're eligible for micro-Botox.", "en"),
        ("Good news: you qualify!", "en"),
        ("There is no need to see a doctor.", "en"),
        ("Please stop taking your blood thinner a week before.", "en"),
        ("Our diagnosis: oily skin.", "en"),
        ("This is rosacea.", "en"),
        ("Micro-Botox is safe for you.", "en"),
        ("Sie haben eine Rosazea.", "de"),
        ("Sie sind für die Behandlung nicht geeignet.", "de"),
        ("Die Diagnose lautet: fettige Haut.", "de"),
        ("Ein Arztbesuch ist nicht nötig.", "de"),
        ("Setzen Sie Ihre Blutverdünner-Medikamente ab.", "de"),
    ],
)
def test_verdicts_are_caught(text: str, lang: str) -> None:
    assert wording.verdicts(text, lang), text


@pytest.mark.parametrize(
    ("text", "lang"),
    [
        ("Do you have any allergies?", "en"),
        ("If you have questions, ask the clinic.", "en"),
        ("This is not a diagnosis.", "en"),
        ("It gives no diagnosis and makes no treatment decision.", "en"),
        ("Please don't stop or change any medicine unless your prescriber tells you to.", "en"),
        ("You told us about your skin.", "en"),
        ("A dermatologist should review this with you.", "en"),
        ("Haben Sie Allergien?", "de"),
        ("Er stellt keine Diagnose.", "de"),
        ("Nichts hier ist eine Diagnose.", "de"),
        ("Sie haben uns gesagt, dass Ihre Haut fettig ist.", "de"),
        ("Bitte setzen Sie kein Medikament ab.", "de"),
        ("Welche Pflege finden Sie bisher geeignet?", "de"),
    ],
)
def test_honest_wording_passes(text: str, lang: str) -> None:
    assert wording.verdicts(text, lang) == [], text


def test_consultation_words_by_language() -> None:
    assert wording.recommends_consultation("Please book a consultation.", "en")
    assert wording.recommends_consultation("Bitte buchen Sie einen Beratungstermin.", "de")
    assert wording.recommends_consultation("Thank you, goodbye.", "en") is False
    assert wording.recommends_consultation("Danke.", "de-AT") is False
    assert wording.recommends_consultation("Merci.", "xx") is None  # no words known: not judged
