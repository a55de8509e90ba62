"""The flow format's endings: a booking button per ending, paragraphs shown on a condition, and
flags for staff only."""

from __future__ import annotations

import pytest

from bot.channels.telegram import render
from bot.channels.telegram.render import Action, Renderer
from bot.engine import Engine
from bot.flow import FlowError, parse_checked

FLOW = """
id: mini
version: "1.0"
title: {en: "Skin check-in", de: "Haut-Fragebogen"}
clinic: Example Skin Clinic
booking_link: https://clinic.example/book
languages: [en, de]
default_language: en
what_to_expect: {en: "A session takes about 20 minutes.", de: "Eine Sitzung dauert etwa 20 Minuten."}
recap:
  - question: medicine
    text: {en: "Blood thinners: {answer}.", de: "Blutverdünner: {answer}."}
  - question: pregnant
    text: {en: "Pregnant or breastfeeding: {answer}.", de: "Schwanger oder stillend: {answer}."}

steps:
  - id: consent
    kind: consent
    version: "1"
    text: {en: "We ask a few questions. This is not a diagnosis.", de: "Ein paar Fragen. Keine Diagnose."}
    agree: {en: "I agree", de: "Ich stimme zu"}
    decline: {en: "No thanks", de: "Nein danke"}

  - id: no_consent
    kind: outcome
    when: {question: consent, equals: decline}
    booking: none
    text: {en: "No problem: nothing was stored.", de: "Kein Problem: nichts wurde gespeichert."}
    consultation:
      en: "You are welcome to contact our dermatologist later."
      de: "Sie können sich später gern an unsere Hautärztin wenden."

  - id: pregnant
    ask: {en: "Are you pregnant or breastfeeding?", de: "Sind Sie schwanger oder stillen Sie?"}
    answer: yesno

  - id: worry
    ask: {en: "Do you worry about your looks a lot?", de: "Sorgen Sie sich oft um Ihr Aussehen?"}
    answer: yesno

  - id: medicine
    ask: {en: "Do you take blood thinners?", de: "Nehmen Sie Blutverdünner?"}
    answer: yesno

  - id: points
    kind: outcome
    when: {severity: review}
    list_flags: true
    booking: https://other.example/book
    text: {en: "Thank you. The points are listed below.", de: "Danke. Die Punkte stehen unten."}
    paragraphs:
      - when: {question: medicine, equals: "yes"}
        text: {en: "Please don't stop any medicine.", de: "Bitte setzen Sie kein Medikament ab."}
      - text: {en: "/myanswers shows your answers.", de: "/myanswers zeigt Ihre Antworten."}
    consultation:
      en: "Please book a dermatologist consultation and mention these points."
      de: "Bitte buchen Sie eine Beratung beim Dermatologen und sprechen Sie diese Punkte an."

  - id: routine
    kind: outcome
    text: {en: "Thank you.", de: "Danke."}
    consultation:
      en: "The next step is a consultation with our dermatologist."
      de: "Der nächste Schritt ist eine Beratung bei unserer Dermatologin."

flags:
  - id: pregnancy
    severity: review
    topic: {en: "Pregnancy or breastfeeding", de: "Schwangerschaft oder Stillzeit"}
    when: {question: pregnant, equals: "yes"}
  - id: worry
    severity: review
    staff_only: true
    topic: {en: "Worries about appearance", de: "Sorgen um das Aussehen"}
    when: {question: worry, equals: "yes"}
"""


@pytest.fixture(scope="module")
def mini() -> Engine:
    return Engine(parse_checked(FLOW, "mini.yaml"))


def finish(engine: Engine, answers: list[str], lang: str = "en"):
    conv = engine.start(lang)
    for answer in answers:
        assert engine.choose(conv, answer).accepted, conv.state
    return conv


def test_an_ending_with_booking_none_has_no_booking_button(mini: Engine) -> None:
    conv = finish(mini, ["decline"])
    prompt = mini.view(conv)
    assert prompt.ending.id == "no_consent" and prompt.ending.booking_link is None
    assert Renderer(mini).keyboard(prompt, 1, "en") == []


def test_an_ending_may_book_elsewhere_and_by_default_books_at_the_flows_link(mini: Engine) -> None:
    points = mini.view(finish(mini, ["agree", "yes", "no", "no"]))
    assert Renderer(mini).keyboard(points, 1, "en") == [
        [{"text": "Book a consultation", "url": "https://other.example/book"}],
        [{"text": "📄 Send me a copy of my answers", "data": render.callback(1, points.revision, Action.COPY)}],
    ]
    routine = mini.view(finish(mini, ["agree", "no", "no", "no"]))
    assert routine.ending.booking_link == "https://clinic.example/book"


@pytest.mark.parametrize("lang", ["en", "de"])
def test_a_paragraph_shows_only_when_its_condition_holds(mini: Engine, lang: str) -> None:
    without = mini.view(finish(mini, ["agree", "yes", "no", "no"], lang)).ending
    with_medicine = mini.view(finish(mini, ["agree", "yes", "no", "yes"], lang)).ending
    assert len(without.paragraphs) == 1 and "/myanswers" in without.paragraphs[0]
    assert len(with_medicine.paragraphs) == 2 and "/myanswers" in with_medicine.paragraphs[1]


def test_an_ending_reads_text_then_the_points_then_paragraphs_then_the_consultation(mini: Engine) -> None:
    prompt = mini.view(finish(mini, ["agree", "yes", "no", "yes"]))
    text = Renderer(mini).ending_text(prompt, "en")
    order = [
        "The points are listed below.",
        "Points to mention",
        "• Pregnancy or breastfeeding",
        "Please don't stop any medicine.",
        "/myanswers shows",
        "mention these points.",
    ]
    positions = [text.index(part) for part in order]
    assert positions == sorted(positions), text


def test_a_staff_only_flag_is_raised_but_never_listed_to_the_patient(mini: Engine) -> None:
    conv = finish(mini, ["agree", "yes", "yes", "no"])
    assert conv.flags == ["pregnancy", "worry"]  # staff see both
    assert mini.view(conv).ending.topics == ("Pregnancy or breastfeeding",)


def test_a_staff_only_flag_alone_does_not_choose_an_ending_by_severity(mini: Engine) -> None:
    """Otherwise the patient would reach "the points below" with no point below."""
    conv = finish(mini, ["agree", "no", "yes", "no"])
    assert conv.flags == ["worry"]
    assert mini.view(conv).ending.id == "routine"


def test_an_urgent_flag_cannot_be_staff_only() -> None:
    broken = FLOW.replace("severity: review\n    staff_only: true", "severity: urgent\n    staff_only: true")
    with pytest.raises(FlowError) as raised:
        parse_checked(broken, "mini.yaml")
    assert "cannot be staff-only" in str(raised.value)


def test_a_paragraph_condition_is_checked_like_any_other() -> None:
    broken = FLOW.replace("{question: medicine, equals", "{question: medicines, equals")
    with pytest.raises(FlowError) as raised:
        parse_checked(broken, "mini.yaml")
    assert "unknown question 'medicines'" in str(raised.value)


def test_a_booking_that_is_neither_none_flow_nor_a_link_is_refused() -> None:
    with pytest.raises(FlowError):
        parse_checked(FLOW.replace("booking: none", "booking: nowhere"), "mini.yaml")


def test_a_paragraph_is_checked_for_verdict_wording() -> None:
    broken = FLOW.replace("Please don't stop any medicine.", "You are not suitable for this treatment.")
    with pytest.raises(FlowError) as raised:
        parse_checked(broken, "mini.yaml")
    assert "mini.yaml:53:20: diagnostic or verdict wording (en)" in str(raised.value)


@pytest.mark.parametrize("lang", ["en", "de"])
def test_the_recap_repeats_answers_in_the_flows_order_then_says_where_to_read_the_rest(mini: Engine, lang: str) -> None:
    prompt = mini.view(finish(mini, ["agree", "yes", "no", "no"], lang))
    no, yes = mini.message(lang, "no"), mini.message(lang, "yes")
    recap = {
        "en": (f"Blood thinners: {no}.", f"Pregnant or breastfeeding: {yes}."),
        "de": (f"Blutverdünner: {no}.", f"Schwanger oder stillend: {yes}."),
    }[lang]
    assert prompt.ending.recap == recap and prompt.ending.answered
    text = Renderer(mini).ending_text(prompt, lang)
    consultation, read_more = text.index(prompt.ending.consultation), text.index("/myanswers", text.index(recap[1]))
    assert consultation < text.index(recap[0]) < text.index(recap[1]) < read_more
    assert mini.message(lang, "copy_button") in text[read_more:]


def test_no_recap_and_no_copy_without_answers(mini: Engine) -> None:
    prompt = mini.view(finish(mini, ["decline"]))
    assert prompt.ending.recap == () and not prompt.ending.answered
    assert "/myanswers" not in Renderer(mini).ending_text(prompt, "en")
    assert Renderer(mini).keyboard(prompt, 1, "en") == []  # no booking (booking: none), nothing to copy
