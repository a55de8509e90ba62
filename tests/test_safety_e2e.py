"""The safety net end to end: the bot as a process (polling and webhook) on the fake Telegram
server, with a staff chat for alerts. Crisis words typed anywhere (a button question, before
consent, after an ending) reach the crisis text first, in the person's language; the intake is
marked urgent and the staff chat gets exactly one alert, with no words and no name in it."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from support.bot_process import BotProcess, start_in_mode
from support.databases import Templates, db_rows
from support.default_flow import Q_AGE, ROUTINE_TO_SUMMARY, begin
from support.fake_telegram import FakeTelegram
from support.patients import TelegramPatient

pytestmark = pytest.mark.e2e

STAFF_CHAT = -1005550001111
CRISIS = {"en": "It sounds like you might be going through something very hard", "de": "Es klingt, als ginge es Ihnen"}
ASK = {"en": "are you having thoughts of hurting yourself", "de": "Haben Sie Gedanken, sich etwas anzutun"}
WORDS = {"en": "honestly I want to kill myself", "de": "ehrlich gesagt will ich mich umbringen"}
CARRY_ON = {"en": "Carry on with the questions", "de": "Mit den Fragen weitermachen"}
AGE = {"en": Q_AGE, "de": "Wie alt sind Sie?"}


@dataclass
class Bot:
    fake: FakeTelegram
    db_path: Path
    process: BotProcess


@pytest.fixture(scope="module", params=["polling", "webhook"])
def safety_bot(request: pytest.FixtureRequest, templates: Templates, tmp_path_factory) -> Iterator[Bot]:
    db_path = tmp_path_factory.mktemp(f"safety-{request.param}") / "intake.db"
    templates.sqlite(db_path)
    with FakeTelegram() as fake:
        fake.add_group(STAFF_CHAT)
        env = {"ALERT_TELEGRAM_CHAT_ID": str(STAFF_CHAT), "PUBLIC_URL": "https://clinic.example"}
        process = start_in_mode(fake, db_path, request.param, **env)
        try:
            yield Bot(fake, db_path, process)
        finally:
            process.stop()


def alerts_for(bot: Bot, intake_id: int) -> list[str]:
    return [m["text"] for m in bot.fake.messages(STAFF_CHAT) if f"intake {intake_id}" in m["text"]]


def intake_of(bot: Bot, chat_id: int) -> tuple[int, int, str | None]:
    """(id, urgent, when an urgent text was last shown: pinned on the staff list) of the chat's intake."""
    return db_rows(bot.db_path, f"SELECT id, urgent, urgent_shown_at FROM intakes WHERE chat_id = {chat_id}")[0]


def one_alert(bot: Bot, chat_id: int, *never: str) -> None:
    """The intake is urgent and the staff chat got one alert for it (and no second one after a
    few more rounds of the job), naming nothing the patient wrote and not their name."""
    intake_id, urgent, shown_at = intake_of(bot, chat_id)
    assert urgent and shown_at is not None  # on the record for good, pinned until acknowledged
    bot.fake.wait_for(lambda: alerts_for(bot, intake_id), timeout=20)
    time.sleep(1.5)
    [alert] = alerts_for(bot, intake_id)
    assert f"https://clinic.example/intakes/{intake_id}" in alert
    for secret in never:
        assert secret not in alert


def consented(bot: Bot, chat: int, lang: str, name: str = "Zofia") -> TelegramPatient:
    """/start and consent, in ``lang``: at the age question (a button question)."""
    patient = TelegramPatient(bot.fake, chat, language_code=lang, first_name=name)
    if lang == "en":
        begin(patient)
    else:
        patient.command("/start", expect="automatische Assistent")
        patient.tap("Weiter", expect="Bevor")
        patient.tap("Ich stimme zu", expect=AGE["de"])
    return patient


def crisis_first(bot: Bot, patient: TelegramPatient, lang: str) -> None:
    """Crisis words typed: the crisis text is the first thing the person gets."""
    before = patient.newest_id()
    patient.type(WORDS[lang])
    crisis = patient.expect(CRISIS[lang])
    after = [m["message_id"] for m in bot.fake.messages(patient.chat_id) if m["message_id"] > before]
    assert crisis["message_id"] == min(after)


@pytest.mark.parametrize("lang", ["en", "de"])
def test_crisis_words_at_a_button_question_come_first_mark_urgent_and_alert_staff_once(safety_bot, lang) -> None:
    chat = 601 if lang == "en" else 602
    patient = consented(safety_bot, chat, lang)
    crisis_first(safety_bot, patient, lang)
    one_alert(safety_bot, chat, WORDS[lang], "Zofia", "umbringen", "kill")
    patient.tap(CARRY_ON[lang], expect=AGE[lang])  # back to the questions, where they were


@pytest.mark.parametrize("lang", ["en", "de"])
def test_crisis_words_before_consent_are_not_kept_yet_staff_are_alerted(safety_bot, lang) -> None:
    chat = 603 if lang == "en" else 613
    patient = TelegramPatient(safety_bot.fake, chat, language_code=lang)
    patient.command("/start", expect="automated assistant" if lang == "en" else "automatische Assistent")
    crisis_first(safety_bot, patient, lang)
    one_alert(safety_bot, chat, WORDS[lang])
    kept = [text for (text,) in db_rows(safety_bot.db_path, f"SELECT text FROM messages WHERE chat_id = {chat}")]
    assert not any(word in text for text in kept for word in ("kill", "umbringen"))
    assert any("crisis words typed" in text or "Krisenworte" in text for text in kept)


@pytest.mark.parametrize("lang", ["en", "de"])
def test_crisis_words_after_an_ending_still_get_the_crisis_text(safety_bot, lang) -> None:
    chat = 604 if lang == "en" else 614
    patient = consented(safety_bot, chat, lang)
    patient.tap("Under 18" if lang == "en" else "Unter 18", expect="parent" if lang == "en" else "Elternteil")
    crisis_first(safety_bot, patient, lang)
    one_alert(safety_bot, chat, WORDS[lang])


def test_crisis_words_at_the_summary_come_first(safety_bot) -> None:
    patient = consented(safety_bot, 607, "en")
    patient.walk(ROUTINE_TO_SUMMARY)
    crisis_first(safety_bot, patient, "en")
    one_alert(safety_bot, 607, WORDS["en"])
    patient.tap(CARRY_ON["en"], expect="Here is what you told us")  # the summary again


def test_an_ask_first_phrase_answered_no_changes_nothing_and_yes_reaches_the_crisis_text(safety_bot) -> None:
    patient = TelegramPatient(safety_bot.fake, 605)
    begin(patient)
    patient.type("sometimes I think about dying", expect=ASK["en"])
    patient.tap("No", expect=Q_AGE)
    assert intake_of(safety_bot, 605)[1:] == (0, None)  # not urgent, no alert
    patient.type("sometimes I think about dying", expect=ASK["en"])
    patient.tap("Yes", expect=CRISIS["en"])
    one_alert(safety_bot, 605)


def test_everyday_words_change_nothing(safety_bot) -> None:
    patient = TelegramPatient(safety_bot.fake, 606)
    begin(patient)
    patient.type("I'd die for smooth skin, this workout is killing me", expect="Please tap one of the three age groups")
    assert intake_of(safety_bot, 606)[1:] == (0, None)
