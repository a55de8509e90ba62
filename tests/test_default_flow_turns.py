"""The clinical review's corrections to the default flow, as a patient meets them in Telegram turns
(in process, on a real store): what each ending shows and which buttons it carries, /expect and
/human, and what staff see that the patient does not."""

from __future__ import annotations

import pytest
from support.default_flow import Q_AGE, Q_ALLERGY_NOW, Q_TOXIN, ROUTINE_TO_SUMMARY, SUMMARY, begin
from support.patients import ADA, InProcessPatient

from bot.channels.telegram.events import Chat
from bot.channels.telegram.runner import TurnRunner
from bot.engine import Engine
from bot.staff.exports import Exporter
from bot.store import Store

BERTA = Chat(43, 43, "Berta", None, "berta", "de")

#: The German labels and texts these tests tap and look for.
WORDS = {
    "en": {
        "continue": "Continue",
        "agree": "I agree",
        "decline": "No thanks",
        "consent": "Before we start",
        "under_18": "Under 18",
        "adult": "18 to 64",
        "never": "No, never",
        "yes": "Yes",
        "welcome": "Hello! This is the automated assistant",
    },
    "de": {
        "continue": "Weiter",
        "agree": "Ich stimme zu",
        "decline": "Nein danke",
        "consent": "Bevor wir beginnen",
        "under_18": "Unter 18",
        "adult": "18 bis 64",
        "never": "Nein, noch nie",
        "yes": "Ja",
        "welcome": "Guten Tag! Hier schreibt der automatische Assistent",
    },
}
LANGS = pytest.mark.parametrize("lang", ["en", "de"])


@pytest.fixture()
def turns(skin: Engine, store: Store) -> TurnRunner:
    return TurnRunner(skin, store)


def patient_in(turns: TurnRunner, lang: str) -> InProcessPatient:
    return InProcessPatient(turns, ADA if lang == "en" else BERTA)


def last_message(patient: InProcessPatient) -> dict:
    return patient.outbox()[-1]


BOOK = {"en": "Book a consultation", "de": "Beratungstermin buchen"}
COPY = {"en": "📄 Send me a copy of my answers", "de": "📄 Kopie meiner Antworten senden"}


def buttons(message: dict) -> list[str]:
    return [button["text"] for row in message.get("keyboard") or [] for button in row]


@LANGS
def test_the_under_18_ending_has_no_booking_button(turns: TurnRunner, lang: str) -> None:
    words = WORDS[lang]
    patient = patient_in(turns, lang)
    patient.command("/start", expect=words["welcome"])
    patient.tap(words["continue"], expect=words["consent"])
    patient.tap(words["agree"])
    patient.tap(words["under_18"], expect="112")  # with the line on getting help now
    ending = last_message(patient)
    assert not any("url" in b for row in ending.get("keyboard") or [] for b in row)
    assert buttons(ending) == [COPY[lang]]  # their one answer (the age band) can still be copied
    assert patient.intake().state["state"] == "under_18_end"


@LANGS
def test_the_consent_declined_ending_has_no_booking_button(turns: TurnRunner, lang: str) -> None:
    words = WORDS[lang]
    patient = patient_in(turns, lang)
    patient.command("/start")
    patient.tap(words["continue"])
    patient.tap(words["decline"], expect="112")
    assert buttons(last_message(patient)) == []


@LANGS
def test_a_severe_allergic_reaction_ends_at_its_own_urgent_text(turns: TurnRunner, lang: str) -> None:
    words = WORDS[lang]
    patient = patient_in(turns, lang)
    patient.command("/start")
    patient.tap(words["continue"])
    patient.tap(words["agree"])
    patient.tap(words["adult"])
    patient.tap(words["never"])
    injector = {"en": "adrenaline auto-injector", "de": "Adrenalin-Autoinjektor"}[lang]
    patient.tap(words["yes"], expect=injector)
    ending = last_message(patient)
    assert ending["text"].startswith("🚨") and ("today" if lang == "en" else "heute") not in ending["text"]
    # the booking link, for later; no question, no "Back", no copy (nothing beside "get help now")
    assert buttons(ending) == [BOOK[lang]]
    assert "/myanswers" not in ending["text"]  # nothing stands beside "get help now"
    intake = patient.intake()
    assert (intake.outcome, intake.urgent, intake.flags) == ("allergy_emergency", True, ["allergy_now"])


@LANGS
def test_expect_is_there_before_consent_stores_nothing_and_comes_back_to_the_step(turns: TurnRunner, lang: str) -> None:
    words = WORDS[lang]
    patient = patient_in(turns, lang)
    patient.command("/start", expect="/expect")  # the welcome points to it
    fine_needle = {"en": "fine needle", "de": "feinen Nadel"}[lang]
    patient.command("/expect", expect=fine_needle)
    assert words["welcome"] in last_message(patient)["text"]  # the welcome again, with its button
    assert not patient.intake().state.get("answers")
    patient.command("/help", expect="/expect")
    patient.tap(words["continue"], expect=words["consent"])


def test_expect_after_an_ending_shows_it_and_the_ending_stays(turns: TurnRunner) -> None:
    patient = InProcessPatient(turns)
    begin(patient)
    patient.tap("Under 18")
    patient.command("/expect", expect="3 to 6 months")
    assert patient.intake().state["state"] == "under_18_end"


@LANGS
def test_human_says_a_person_answers_here_in_opening_hours_not_at_once(turns: TurnRunner, lang: str) -> None:
    patient = patient_in(turns, lang)
    patient.command("/start")
    said = {"en": "will read what you write here and answer in this chat", "de": "antwortet in diesem Chat"}[lang]
    patient.command("/human", expect=said)
    intake = patient.intake()
    assert intake.human_requested_at is not None and intake.talk_id is not None


def test_a_staff_only_flag_is_not_listed_to_the_patient_but_is_to_staff(turns: TurnRunner, skin: Engine) -> None:
    patient = InProcessPatient(turns)
    begin(patient)
    steps = list(ROUTINE_TO_SUMMARY)
    worry = next(i for i, step in enumerate(steps) if step[1] == "Less than 30 minutes")
    steps[worry] = ("tap", "More than 3 hours", "avoid people")
    heart = next(i for i, step in enumerate(steps) if step[2] == "Do you currently take any of these medicines?")
    steps[heart] = ("tap", "Yes", steps[heart][2])
    patient.walk(steps)
    patient.tap("Looks right, finish", expect="Points to mention to the dermatologist")
    text = last_message(patient)["text"]
    assert "• A heart or circulation condition" in text
    assert "appearance" not in text.lower()
    intake = patient.intake()
    assert intake.flags == ["heart_condition", "appearance_worry"]
    staff = {f["id"]: f["topic"] for f in Exporter(skin).flags(intake)}
    assert staff["appearance_worry"] == "How much worries about appearance affect daily life"


def test_the_points_ending_reads_in_order_and_books_a_consultation(turns: TurnRunner) -> None:
    patient = InProcessPatient(turns)
    begin(patient)
    steps = list(ROUTINE_TO_SUMMARY)
    pregnancy = next(i for i, step in enumerate(steps) if step[1] == "No, or this does not apply to me")
    steps[pregnancy] = ("tap", "I am breastfeeding", steps[pregnancy][2])
    bruising = next(i for i, step in enumerate(steps) if step[2] == "In the last 4 weeks")
    steps[bruising] = ("type", "Aspirin", "In the last 4 weeks")  # a medicine ticked, in words
    patient.walk(steps)
    patient.tap("Looks right, finish")
    ending = last_message(patient)
    text = ending["text"]
    order = [
        "You told us about the points below",
        "• Pregnancy, trying to get pregnant, or breastfeeding",
        "• Medicines, supplements or a bleeding condition",
        "before a booking is confirmed",  # a high flag: staff look first
        "don't stop or change any medicine",
        "mention these points there",
        "You would like to improve: Large-looking pores.",  # the flow's recap of what they told us
        "About an appointment: Here in Telegram.",
        "To read all your answers, send /myanswers",  # and where to read the rest
    ]
    positions = [text.index(part) for part in order]
    assert positions == sorted(positions), text
    assert buttons(ending) == ["Book a consultation", COPY["en"]]


def test_the_first_questions_of_the_corrected_flow(turns: TurnRunner) -> None:
    """Symptoms now are asked 1 to 3 months after an injection, before the allergy question."""
    patient = InProcessPatient(turns)
    patient.command("/start")
    patient.tap("Continue")
    patient.tap("I agree", expect=Q_AGE)
    patient.tap("18 to 64", expect=Q_TOXIN)
    patient.tap("Yes, 1 to 3 months ago", expect="hoarse or changed voice")
    patient.tap("No", expect=Q_ALLERGY_NOW)
    assert SUMMARY not in last_message(patient)["text"]
