"""The safety screen in the Telegram turn (in process, real SQLite and PostgreSQL): crisis words
typed at any step get the crisis text first, in the person's language, then a choice; the intake
is urgent and the message notes which screen it met; before consent the words are not kept."""

from __future__ import annotations

import io

import pytest
import sqlalchemy as sa
from support.default_flow import GOAL_TO_SUMMARY, Q_AGE, SAFETY_TO_GOAL, SUMMARY, begin, to_safety_question
from support.patients import InProcessPatient

from bot.channels.console import ConsoleChat
from bot.channels.telegram.events import Chat
from bot.channels.telegram.runner import TurnRunner
from bot.engine import Engine
from bot.store import Store

BEA = Chat(43, 43, "Bea", None, "bea", "de")
CRISIS_EN = "It sounds like you might be going through something very hard"
CRISIS_DE = "Es klingt, als ginge es Ihnen gerade sehr schlecht"
ASK_EN = "are you having thoughts of hurting yourself or ending your life?"
ASK_DE = "Haben Sie Gedanken, sich etwas anzutun"


@pytest.fixture()
def turns(skin: Engine, store: Store) -> TurnRunner:
    return TurnRunner(skin, store)


def consented(turns: TurnRunner, lang: str) -> InProcessPatient:
    """A patient writing in ``lang``, past the welcome and consent: at the age question."""
    patient = InProcessPatient(turns, BEA) if lang == "de" else InProcessPatient(turns)
    patient.command("/start")
    patient.tap({"en": "Continue", "de": "Weiter"}[lang])
    patient.tap({"en": "I agree", "de": "Ich stimme zu"}[lang], expect={"en": Q_AGE, "de": "Wie alt sind Sie?"}[lang])
    return patient


def sent(result) -> list[str]:
    """The texts a turn sends, in order (edits of earlier messages left out)."""
    return [row.payload.get("text") or "" for row in result.outgoing if row.payload.get("op") == "send"]


def screened_lines(patient: InProcessPatient) -> list[tuple[str, dict | None]]:
    intake = patient.intake()
    with patient.turns.store.transaction() as tx:
        return [(line.text, line.screened) for line in tx.transcript(intake.id) if line.direction == "in"]


def everything_stored(store: Store) -> str:
    """Every row of the tables that hold what a person sent, as one text."""
    with store.transaction() as tx:
        rows = [*tx.conn.execute(sa.text("SELECT * FROM messages")), *tx.conn.execute(sa.text("SELECT * FROM intakes"))]
    return "\n".join(str(tuple(row)) for row in rows).casefold()


def test_crisis_words_at_a_choice_question_show_the_crisis_text_first_then_a_choice(turns: TurnRunner) -> None:
    patient = InProcessPatient(turns)
    begin(patient)
    result = patient.type("I want to kill myself")
    texts = sent(result)
    assert CRISIS_EN in texts[0] and len(texts) == 1  # the crisis text first, nothing before it
    intake = patient.intake()
    assert intake.urgent and "self_harm" in intake.flags and intake.status == "in_progress"
    assert ("I want to kill myself", {"screen": "self_harm", "ask_first": False}) in screened_lines(patient)
    patient.tap("Carry on with the questions", expect=Q_AGE)  # where they were
    patient.tap("18 to 64", expect="botulinum toxin injections")
    assert patient.intake().urgent  # and it stays urgent


def test_crisis_words_at_a_choice_question_in_german(turns: TurnRunner) -> None:
    patient = consented(turns, "de")
    result = patient.type("ich will mich umbringen")
    assert CRISIS_DE in sent(result)[0]
    assert patient.intake().urgent
    patient.tap("Hier aufhören", expect="Etwas, das Sie geschrieben haben")  # the crisis-support ending
    intake = patient.intake()
    assert intake.status == "completed" and intake.outcome == "crisis_support" and intake.urgent


def test_crisis_words_before_consent_are_answered_but_not_kept(turns: TurnRunner, store: Store) -> None:
    patient = InProcessPatient(turns)
    patient.command("/start")
    patient.tap("Continue", expect="Before we start")
    result = patient.type("I’m going to kill myself tonight")
    assert CRISIS_EN in sent(result)[0]
    intake = patient.intake()
    assert intake.urgent and intake.flags == ["self_harm"] and intake.consent_version is None
    lines = screened_lines(patient)
    assert lines[-1] == (
        "(crisis words typed: the words are not kept, there is no consent yet)",
        {"screen": "self_harm", "ask_first": False},
    )
    stored = everything_stored(store)
    assert "kill" not in stored and "tonight" not in stored
    patient.tap("Carry on with the questions", expect="Before we start")  # back to the consent step


def test_crisis_words_before_consent_in_german_are_not_kept(turns: TurnRunner, store: Store) -> None:
    patient = InProcessPatient(turns, BEA)
    result = patient.type("Ich habe Suizidgedanken")  # the very first message: an intake begins
    assert CRISIS_DE in sent(result)[0]
    assert patient.intake().urgent
    assert "suizid" not in everything_stored(store)
    assert "Krisenworte geschrieben" in screened_lines(patient)[-1][0]


def test_crisis_words_at_the_summary(turns: TurnRunner) -> None:
    patient = InProcessPatient(turns)
    to_safety_question(patient)
    patient.walk([*SAFETY_TO_GOAL, *GOAL_TO_SUMMARY])
    result = patient.type("honestly i dont want to live anymore")
    assert CRISIS_EN in sent(result)[0]
    assert patient.intake().urgent
    patient.tap("Carry on with the questions", expect=SUMMARY)
    patient.tap("Looks right, finish", expect="Something you wrote makes us want to check")
    assert patient.intake().outcome == "crisis_support"


def test_crisis_words_at_the_summary_in_german(turns: TurnRunner) -> None:
    patient = InProcessPatient(turns)
    to_safety_question(patient)
    patient.walk([*SAFETY_TO_GOAL, *GOAL_TO_SUMMARY])
    patient.command("/language de", expect="Das haben Sie uns mitgeteilt")
    result = patient.type("Ich will nicht mehr leben")
    assert CRISIS_DE in sent(result)[0]
    assert patient.intake().urgent


@pytest.mark.parametrize(
    ("chat", "decline", "words", "crisis"),
    [(None, "No thanks", "i want to die", CRISIS_EN), (BEA, "Nein danke", "Ich will sterben", CRISIS_DE)],
    ids=["en", "de"],
)
def test_crisis_words_after_an_ending(turns: TurnRunner, chat, decline: str, words: str, crisis: str) -> None:
    patient = InProcessPatient(turns, chat) if chat else InProcessPatient(turns)
    patient.command("/start")
    patient.tap("Continue" if chat is None else "Weiter")
    patient.tap(decline)
    assert patient.intake().status == "declined"
    result = patient.type(words)
    assert crisis in sent(result)[0] and len(sent(result)) == 1  # no questions left to carry on with
    intake = patient.intake()
    assert intake.urgent and intake.status == "declined"


def test_german_words_in_an_english_chat_are_answered_in_german_after_the_question_too(turns: TurnRunner) -> None:
    patient = consented(turns, "en")
    result = patient.type("ich kann nicht mehr")  # ask-first words are read in the chat's language...
    assert "Please tap one of the three age groups" in sent(result)[0]  # ... so not here (a known limit)
    result = patient.type("Ich will mich umbringen")  # definite words are read in every language
    assert CRISIS_DE in sent(result)[0]
    assert patient.button("Hier aufhören")  # the choice in the same words
    patient.tap("Mit den Fragen weitermachen", expect=Q_AGE)  # the questions go on in English


def test_a_yes_is_answered_in_the_language_of_its_question(turns: TurnRunner, skin: Engine) -> None:
    patient = consented(turns, "de")
    patient.type("ich kann nicht mehr", expect=ASK_DE)
    assert patient.button("Ja").endswith(":de")
    patient.tap("Ja", expect=CRISIS_DE)


def test_crisis_words_while_waiting_for_a_person(turns: TurnRunner) -> None:
    patient = InProcessPatient(turns)
    begin(patient)
    patient.command("/human", expect="A person from")
    result = patient.type("please help, I want to end my life")
    assert CRISIS_EN in sent(result)[0] and patient.intake().urgent


def test_crisis_words_with_a_command_still_ask_for_a_person(turns: TurnRunner) -> None:
    patient = InProcessPatient(turns)
    begin(patient)
    result = patient.command("/human I want to kill myself")
    assert CRISIS_EN in sent(result)[0]
    assert "A person from" in sent(result)[-1]  # and the request is confirmed
    intake = patient.intake()
    assert intake.urgent and intake.human_requested_at is not None


@pytest.mark.parametrize(
    ("lang", "words", "ask", "yes", "crisis"),
    [
        ("en", "sometimes I hurt myself", ASK_EN, "Yes", CRISIS_EN),
        ("de", "ich kann nicht mehr", ASK_DE, "Ja", CRISIS_DE),
    ],
)
def test_an_ask_first_phrase_answered_yes(turns: TurnRunner, lang, words, ask, yes, crisis) -> None:
    patient = consented(turns, lang)
    result = patient.type(words)
    assert ask in sent(result)[0]
    assert not patient.intake().urgent  # nothing decided yet
    assert screened_lines(patient)[-1] == (words, {"screen": "self_harm", "ask_first": True})
    patient.tap(yes, expect=crisis)
    assert patient.intake().urgent


@pytest.mark.parametrize(
    ("lang", "words", "no", "thanks", "question"),
    [
        ("en", "die", "No", "Thank you for answering", Q_AGE),
        ("de", "sterben", "Nein", "Danke für Ihre Antwort", "Wie alt sind Sie?"),
    ],
)
def test_an_ask_first_phrase_answered_no(turns: TurnRunner, lang, words, no, thanks, question) -> None:
    patient = consented(turns, lang)
    patient.type(words)
    result = patient.tap(no, expect=thanks)
    assert question in sent(result)[-1]  # back to the question, where they were
    intake = patient.intake()
    assert not intake.urgent and intake.flags == []


@pytest.mark.parametrize(
    ("lang", "words", "question"),
    [("en", "I'd die for smooth skin", Q_AGE), ("de", "Ich sterbe vor Neugier", "Wie alt")],
)
def test_a_negative_phrase_changes_nothing(turns: TurnRunner, lang, words, question) -> None:
    patient = consented(turns, lang)
    result = patient.type(words)
    texts = sent(result)
    assert len(texts) == 1 and question in texts[0]  # the usual correction with the question again
    intake = patient.intake()
    assert not intake.urgent and intake.flags == []
    assert screened_lines(patient)[-1] == (words, None)


# --- the terminal chat reads every line through the same screen -------------------------------


def console(skin: Engine, *lines: str, language: str = "en") -> tuple[ConsoleChat, str]:
    out = io.StringIO()
    chat = ConsoleChat(skin, out=out, language=language)
    for line in lines:
        chat.handle(line)
    return chat, out.getvalue()


def test_the_terminal_chat_shows_the_crisis_text_then_carries_on(skin: Engine) -> None:
    chat, out = console(skin, "", "1", "I want to kill myself")
    assert out.rstrip().endswith("2. Stop here") and f"!!! Thank you for telling us. {CRISIS_EN}" in out
    assert chat.conv.flags == ["self_harm"] and chat.conv.state == "age_band"
    chat.handle("1")  # carry on: the age question again, then it is answered as usual
    chat.handle("2")
    assert chat.conv.state == "toxin_last_time" and "self_harm" in chat.conv.flags


def test_the_terminal_chat_stops_at_the_crisis_ending_in_german(skin: Engine) -> None:
    chat, out = console(skin, "", "1", "ich will mich umbringen", "2", language="de")
    assert CRISIS_DE in out
    assert skin.finished(chat.conv) and chat.conv.state == "crisis_support"


def test_the_terminal_chat_asks_first_and_a_no_changes_nothing(skin: Engine) -> None:
    chat, out = console(skin, "", "1", "die")
    assert ASK_EN in out and chat.conv.flags == []
    chat.handle("2")
    assert chat.conv.flags == [] and chat.conv.state == "age_band"
    chat.handle("die")
    chat.handle("Yes")
    assert chat.conv.flags == ["self_harm"]


# --- review fixes: the screen's open question, a command's words, and the ending's order ----------

SYMPTOMS = {"en": "Since your last injection, do you now have", "de": "Haben Sie seit Ihrer letzten Injektion"}
RECENT = {"en": "Yes, in the last 4 weeks", "de": "Ja, in den letzten 4 Wochen"}
NOT_NOW = {"en": "Thank you for answering", "de": "Danke für Ihre Antwort"}


def at_symptoms_question(turns: TurnRunner, lang: str) -> InProcessPatient:
    """At "do you now have ...?" after a recent injection: a question a typed yes or no answers."""
    patient = consented(turns, lang)
    patient.tap({"en": "18 to 64", "de": "18 bis 64"}[lang])
    patient.tap(RECENT[lang], expect=SYMPTOMS[lang])
    return patient


@pytest.mark.parametrize(("lang", "no", "yes"), [("en", "no", "Yes"), ("de", "nein", "ja")])
def test_a_typed_answer_to_the_screens_question_never_answers_the_step_instead(
    turns: TurnRunner, lang: str, no: str, yes: str
) -> None:
    """A typed "no" to "are you having thoughts of hurting yourself?" was taken as "no symptoms
    now", and a typed "yes" as "symptoms now": the wrong ending, and no crisis text."""
    patient = at_symptoms_question(turns, lang)
    patient.type({"en": "sometimes I think about dying", "de": "manchmal denke ich ans Sterben"}[lang])
    assert patient.intake().state.get("screen_asked") == "self_harm"
    patient.type("hmm", expect={"en": ASK_EN, "de": ASK_DE}[lang])  # no answer: asked again
    result = patient.type(no)
    assert NOT_NOW[lang] in sent(result)[0] and SYMPTOMS[lang] in sent(result)[-1]  # the step again
    intake = patient.intake()
    assert "toxin_symptoms_now" not in intake.state.get("answers", {}) and not intake.urgent
    patient.type({"en": "sometimes I think about dying", "de": "manchmal denke ich ans Sterben"}[lang])
    result = patient.type(yes)
    assert {"en": CRISIS_EN, "de": CRISIS_DE}[lang] in sent(result)[0]
    intake = patient.intake()
    assert "toxin_symptoms_now" not in intake.state.get("answers", {})
    assert intake.urgent and "self_harm" in intake.state["flags"] and intake.status == "in_progress"
    assert "toxin_spread_now" not in intake.state["flags"]  # not "symptoms now"


@pytest.mark.parametrize("command", ["/delete", "/restart", "/language"])
def test_the_words_after_delete_restart_and_language_are_read_too(turns: TurnRunner, command: str) -> None:
    patient = consented(turns, "en")
    result = patient.command(f"{command} I want to kill myself")
    assert CRISIS_EN in sent(result)[0] and patient.intake().urgent


@pytest.mark.parametrize("lang", ["en", "de"])
def test_an_urgent_medical_answer_after_crisis_words_reaches_the_medical_ending_with_the_crisis_lines(
    turns: TurnRunner, lang: str
) -> None:
    """Crisis support came first among the endings, so someone who typed crisis words at the age
    question and then said they have symptoms now was not told to get medical help now."""
    patient = consented(turns, lang)
    patient.type({"en": "I want to kill myself", "de": "ich will mich umbringen"}[lang])
    patient.tap({"en": "Carry on with the questions", "de": "Mit den Fragen weitermachen"}[lang])
    patient.tap({"en": "18 to 64", "de": "18 bis 64"}[lang])
    patient.tap(RECENT[lang], expect=SYMPTOMS[lang])
    result = patient.tap({"en": "Yes", "de": "Ja"}[lang])
    ending = "\n".join(sent(result))
    assert {"en": "Please get medical help now", "de": "Bitte holen Sie sich jetzt ärztliche Hilfe"}[lang] in ending
    assert {"en": "Samaritans 116 123", "de": "TelefonSeelsorge"}[lang] in ending  # and the crisis lines
    assert patient.intake().outcome == "urgent_care"


def test_stopping_before_consent_is_no_completed_intake(turns: TurnRunner) -> None:
    """ "Stop here" before consent reached the crisis-support ending and counted as a completed
    intake: a completion webhook and a "completed" alert for someone who never agreed."""
    patient = InProcessPatient(turns)
    patient.command("/start")
    patient.type("I want to kill myself", expect=CRISIS_EN)
    patient.tap("Stop here")
    intake = patient.intake()
    assert intake.outcome == "crisis_support" and intake.status == "declined" and intake.urgent


def test_crisis_words_in_a_photos_caption_are_read_too(turns: TurnRunner) -> None:
    from support.turns import apply

    from bot.channels.telegram.events import Event as TelegramEvent
    from bot.channels.telegram.events import EventKind

    patient = consented(turns, "en")
    result = apply(
        turns, 9_001, patient.chat, TelegramEvent(EventKind.OTHER, what="photo", text="I want to kill myself")
    )
    assert CRISIS_EN in sent(result)[0] and patient.intake().urgent
    result = apply(turns, 9_002, patient.chat, TelegramEvent(EventKind.OTHER, what="photo", text="my cheeks"))
    assert "I can only read typed text" in sent(result)[0]  # an everyday caption: the usual answer


@pytest.mark.parametrize("lang", ["en", "de"])
def test_back_from_the_crisis_ending_asks_nothing_about_an_answer_there_is_none(turns: TurnRunner, lang: str) -> None:
    """Crisis words have no answer behind them: "Do you want to change that answer?" made no sense."""
    patient = consented(turns, lang)
    patient.type({"en": "I want to kill myself", "de": "ich will mich umbringen"}[lang])
    patient.tap({"en": "Stop here", "de": "Hier aufhören"}[lang])
    assert patient.intake().outcome == "crisis_support"
    result = patient.command("/back")
    assert not any("change that answer" in text or "Antwort ändern" in text for text in sent(result))
    intake = patient.intake()
    assert intake.status == "in_progress" and intake.outcome is None  # back among the questions
    assert intake.state["urgent_shown"] and "self_harm" in intake.state["flags"]  # the record stays
