"""End to end, more scenarios: the real bot (``python -m bot run``, or ``serve``/``start``) as a separate
process against the fake Telegram Bot API server, the default flow and a real SQLite file.

What each test covers, in a patient's words:

* changing an answer at the summary (and the questions that this makes relevant or irrelevant);
* the urgent endings (symptoms right now, and reached by a change at the summary): urgent care
  first, no further question, flagged urgent in the store;
* crisis words typed anywhere, a button question included: the crisis text first, then carry on
  or stop (to the crisis-support ending), flagged urgent in the store at once;
* photos, voice notes, videos, files, locations and contacts get a kind re-prompt and change nothing;
* stale buttons of a finished and of an erased intake are answered and change nothing, and an erased
  person leaves nothing behind in the store;
* /help and /privacy in the middle of a question come back to that same question;
* several updates of one chat in one getUpdates batch are applied in order, each once (polling only:
  a webhook delivers one update per request);
* ``python -m bot serve`` (and ``start``, what ``make run`` runs) in polling mode: the bot answers and
  the staff web app answers on its port.

Tests that take the ``bot`` fixture run twice, with long polling and with a webhook.
"""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import httpx
import pytest
from support.bot_process import BotProcess
from support.databases import db_rows as rows
from support.default_flow import (
    GOAL_TO_SUMMARY,
    Q_AGE,
    Q_ALLERGY_NOW,
    Q_CONCERNS,
    Q_CONTACT,
    Q_CONTACT_TIMES,
    Q_GOAL,
    Q_PREVIOUS,
    Q_PREVIOUS_DETAILS,
    Q_SKIN_TYPE,
    Q_SYMPTOMS_NOW,
    Q_TOXIN,
    Q_WELCOME,
    SAFETY_TO_GOAL,
    SUMMARY,
    to_safety_question,
)
from support.fake_telegram import FakeTelegram
from support.patients import TelegramPatient

from bot.store import Intake, Store, TranscriptLine

pytestmark = pytest.mark.e2e  # every test here starts the bot as a process

STALE = "That button belongs to an earlier step."
UNSUPPORTED = "I can only read typed text and button taps"
FINISHED = "This questionnaire is finished"
VERDICTS = re.compile(
    r"\b(you are (not )?suitable|not suitable|suitable for|eligible|you qualify|you have (a|an) )", re.I
)


def to_summary(patient: TelegramPatient) -> dict:
    to_safety_question(patient)
    patient.walk(SAFETY_TO_GOAL + GOAL_TO_SUMMARY)
    return patient.message(patient.seen)


def summary_lines(text: str) -> list[tuple[int, str, str]]:
    """(number, question, answer) of each line of a summary message."""
    return [(int(n), q, a) for n, q, a in re.findall(r"^(\d+)\. (.+)\n\s+→ (.*)$", text, re.M)]


def line_of(summary: dict, question: str) -> tuple[int, str]:
    """The summary line (number, answer) whose question contains ``question``."""
    found = [(n, a) for n, q, a in summary_lines(summary["text"]) if question in q]
    assert len(found) == 1, (question, summary["text"])
    return found[0]


def callback_data(message: dict, label: str) -> str:
    for row in (message.get("reply_markup") or {}).get("inline_keyboard", []):
        for button in row:
            if button["text"] == label:
                return button["callback_data"]
    raise AssertionError(f"no button {label!r} on {message}")


def stored(db: Path, chat_id: int) -> tuple[Intake | None, list[TranscriptLine]]:
    """The chat's current intake and its transcript, read through the bot's own store."""
    store = Store(f"sqlite:///{db}")
    try:
        with store.transaction(read_only=True) as tx:
            intake = tx.current_intake(chat_id)
            return intake, (tx.transcript(intake.id) if intake is not None else [])
    finally:
        store.close()


def ins(transcript: list[TranscriptLine]) -> list[str]:
    return [line.text for line in transcript if line.direction == "in"]


# --------------------------------------------------------------------------- 1. changing an answer at the summary


def test_a_change_at_the_summary_shows_the_new_answer_and_reapplies_skip_logic(fake, bot, db_path) -> None:
    patient = TelegramPatient(fake, 201)
    first = to_summary(patient)
    assert line_of(first, "botulinum toxin injections")[1] == "No, never"
    assert Q_PREVIOUS not in first["text"]
    assert line_of(first, Q_CONTACT_TIMES)[1] == "Any time"

    # ✏️ the toxin answer: the question comes again with the answer given, the summary's buttons go
    number, _ = line_of(first, "botulinum toxin injections")
    patient.tap(f"✏️ {number}", expect=Q_TOXIN)
    assert "Your answer: No, never" in patient.last()["text"]
    assert not patient.message(first["message_id"]).get("reply_markup")
    # a treatment 1 to 3 months ago makes the questions about it relevant (symptoms now among
    # them): they are asked, then the summary
    patient.tap("Yes, 1 to 3 months ago", expect=Q_SYMPTOMS_NOW)
    patient.tap("No", expect=Q_PREVIOUS)
    patient.tap("It went well", expect=None)
    patient.tap("Done", expect=Q_PREVIOUS_DETAILS)
    patient.tap("Skip this question", expect=SUMMARY)
    second = patient.last()
    assert line_of(second, "botulinum toxin injections")[1] == "Yes, 1 to 3 months ago"
    assert line_of(second, Q_PREVIOUS)[1] == "It went well"
    assert line_of(second, Q_PREVIOUS_DETAILS)[1] == "(skipped)"
    assert line_of(second, Q_SYMPTOMS_NOW)[1] == "No"
    assert len(summary_lines(second["text"])) == len(summary_lines(first["text"])) + 3
    assert second["text"].count("Yes, 1 to 3 months ago") == 1

    # contacting the clinic oneself makes "when to reach you" irrelevant: straight back, line gone
    number, _ = line_of(second, Q_CONTACT)
    patient.tap(f"✏️ {number}", expect=Q_CONTACT)
    patient.tap("I will contact the clinic myself", expect=SUMMARY)
    third = patient.last()
    assert line_of(third, Q_CONTACT)[1] == "I will contact the clinic myself"
    assert Q_CONTACT_TIMES not in third["text"]
    assert len(live := patient.live_keyboards()) == 1 and live[0]["message_id"] == third["message_id"]

    patient.tap("Looks right, finish", expect="Points to mention to the dermatologist")
    assert "• Botulinum toxin treatment in the last 3 months" in patient.last()["text"]

    intake, transcript = stored(db_path, 201)
    assert intake is not None
    answers = intake.state["answers"]
    assert answers["toxin_last_time"] == "within_3_months"
    assert answers["previous_result"] == ["went_well"]
    assert answers["previous_details"] is None
    assert answers["contact_method"] == "self_contact"
    assert "contact_times" not in answers and "contact_detail" not in answers
    path = intake.state["path"]
    assert len(path) == len(set(path)) and "contact_times" not in path
    assert (intake.status, intake.outcome, intake.flags, intake.urgent) == (
        "completed",
        "points_to_discuss",
        ["recent_toxin"],
        False,
    )
    assert ins(transcript).count("Yes, 1 to 3 months ago") == 1


# --------------------------------------------------------------------------- 2. urgent endings


def assert_urgent_ending(patient: TelegramPatient, db: Path, outcome: str, flag: str, *words: str) -> None:
    """The patient reads an urgent ending (and nothing else after it); the store holds it as urgent."""
    ending = patient.last()
    text = ending["text"]
    assert text.startswith("🚨"), text
    for word in words:
        assert word in text, (word, text)
    assert "112" in text and "now" in text.lower()  # seek help now, with an emergency number
    assert "consultation" in text.lower()  # and still recommends a consultation, later
    assert not VERDICTS.search(text), text
    # no further question: only the booking link (no copy: nothing beside "get help now"), and no
    # live keyboard anywhere in the chat
    assert patient.buttons(ending) == ["Book a consultation"]
    assert patient.live_keyboards() == []
    patient.quiet_after(ending["message_id"])
    intake, _ = stored(db, patient.chat_id)
    assert intake is not None
    assert (intake.status, intake.outcome, intake.urgent) == ("completed", outcome, True)
    assert flag in intake.flags


def test_symptoms_right_now_end_in_urgent_care_at_once(fake, bot, db_path) -> None:
    spread = TelegramPatient(fake, 211)
    spread.command("/start", expect="automated assistant")
    spread.tap("Continue", expect="Before we start")
    spread.tap("I agree", expect=Q_AGE)
    spread.tap("18 to 64", expect=Q_TOXIN)
    spread.tap("Yes, in the last 4 weeks", expect="Since your last injection")
    spread.tap("Yes", expect="Please get medical help now")
    assert_urgent_ending(spread, db_path, "urgent_care", "toxin_spread_now", "don't wait")
    intake, _ = stored(db_path, 211)
    assert "allergy_signs_now" not in intake.state["answers"]  # no question after the urgent answer

    allergy = TelegramPatient(fake, 212)
    allergy.command("/start", expect="automated assistant")
    allergy.tap("Continue", expect="Before we start")
    allergy.tap("I agree", expect=Q_AGE)
    allergy.tap("65 or over", expect=Q_TOXIN)
    allergy.tap("No, never", expect=Q_ALLERGY_NOW)
    allergy.tap("Yes", expect="Please get emergency help now")
    assert_urgent_ending(allergy, db_path, "allergy_emergency", "allergy_now", "adrenaline auto-injector")
    assert "today" not in allergy.last()["text"]  # nothing to wait for until later today
    intake, _ = stored(db_path, 212)
    assert "skin_concerns" not in intake.state["answers"]


CRISIS_TEXT = "It sounds like you might be going through something very hard"
CRISIS_ENDING = "Something you wrote makes us want to check"


def test_crisis_words_at_a_button_question_get_the_crisis_text_first(fake, bot, db_path) -> None:
    patient = TelegramPatient(fake, 218)
    patient.command("/start", expect="automated assistant")
    patient.tap("Continue", expect="Before we start")
    patient.tap("I agree", expect=Q_AGE)
    asked = patient.last()
    patient.type("I want to kill myself", expect=CRISIS_TEXT)
    later = [m for m in fake.messages(218) if m["message_id"] > asked["message_id"]]
    assert CRISIS_TEXT in later[0]["text"] and "Samaritans 116 123" in later[0]["text"]  # the first one sent
    assert patient.buttons(later[0]) == ["Carry on with the questions", "Stop here"]
    fake.wait_for(lambda: patient.buttons(patient.message(asked["message_id"])) == [])  # ... came off after it
    intake, lines = stored(db_path, 218)
    assert intake.urgent and intake.flags == ["self_harm"] and intake.status == "in_progress"
    assert [line.screened for line in lines if line.text == "I want to kill myself"] == [
        {"screen": "self_harm", "ask_first": False}
    ]
    patient.tap("Carry on with the questions", expect=Q_AGE)
    patient.tap("18 to 64", expect=Q_TOXIN)
    assert stored(db_path, 218)[0].urgent


def test_self_harm_words_in_a_typed_answer_end_in_crisis_support(fake, bot, db_path) -> None:
    goal = TelegramPatient(fake, 213)
    to_safety_question(goal)
    goal.walk(SAFETY_TO_GOAL)
    goal.type("Honestly some days I just want to die", expect=CRISIS_TEXT)
    goal.tap("Stop here", expect=CRISIS_ENDING)
    assert_urgent_ending(goal, db_path, "crisis_support", "self_harm", "Samaritans", "don't wait for us")
    intake, _ = stored(db_path, 213)
    assert "appearance_time" not in intake.state["answers"]

    # the earlier free-text question (about a previous treatment), in other words and capitals
    earlier = TelegramPatient(fake, 214)
    earlier.command("/start", expect="automated assistant")
    earlier.tap("Continue", expect="Before we start")
    earlier.tap("I agree", expect=Q_AGE)
    earlier.tap("18 to 64", expect=Q_TOXIN)
    earlier.tap("Yes, more than 3 months ago", expect=Q_ALLERGY_NOW)
    earlier.walk(SAFETY_TO_GOAL[:-4])  # up to "Do any of these apply to you?" (bruising)
    earlier.type("None of these", expect=Q_PREVIOUS)
    earlier.tap("I had a side effect or reaction that worried me", expect=None)
    earlier.tap("Done", expect=Q_PREVIOUS_DETAILS)
    earlier.type("Afterwards I kept HURTING MYSELF", expect="are you having thoughts of hurting yourself")
    earlier.tap("Yes", expect=CRISIS_TEXT)
    earlier.tap("Stop here", expect=CRISIS_ENDING)
    assert_urgent_ending(earlier, db_path, "crisis_support", "self_harm", "TelefonSeelsorge")


def test_a_change_at_the_summary_to_an_urgent_answer_ends_at_once(fake, bot, db_path) -> None:
    allergy = TelegramPatient(fake, 215)
    summary = to_summary(allergy)
    number, answer = line_of(summary, Q_ALLERGY_NOW)
    assert answer == "No"
    allergy.tap(f"✏️ {number}", expect=Q_ALLERGY_NOW)
    allergy.tap("Yes", expect="Please get emergency help now")
    assert_urgent_ending(allergy, db_path, "allergy_emergency", "allergy_now")
    assert sum(SUMMARY in (m["text"] or "") for m in fake.messages(215)) == 1  # no summary after it

    words = TelegramPatient(fake, 216)
    summary = to_summary(words)
    number, _ = line_of(summary, Q_GOAL)
    words.tap(f"✏️ {number}", expect=Q_GOAL)
    words.type("Nothing, I want to end my life", expect=CRISIS_TEXT)
    words.tap("Stop here", expect=CRISIS_ENDING)
    assert_urgent_ending(words, db_path, "crisis_support", "self_harm")
    intake, _ = stored(db_path, 216)
    assert intake.state["answers"]["goal_text"] == "Smaller pores before summer"  # screened, not an answer


def test_back_from_an_urgent_ending_asks_first_and_keeps_urgent_shown(fake, bot, db_path) -> None:
    patient = TelegramPatient(fake, 228)
    to_safety_question(patient)
    patient.command("/back", expect=Q_TOXIN)
    patient.tap("Yes, in the last 4 weeks", expect="Since your last injection")
    patient.tap("Yes", expect="Please get medical help now")
    assert_urgent_ending(patient, db_path, "urgent_care", "toxin_spread_now")
    patient.command("/back", expect="You told us that you have these symptoms now. Do you want to change")
    patient.tap("Yes, change that answer", expect="Since your last injection")
    patient.tap("No", expect=Q_ALLERGY_NOW)
    intake, _ = stored(db_path, 228)
    assert intake.status == "in_progress" and not intake.urgent  # the answer changed...
    [record] = intake.state["urgent_shown"]  # ... and the urgent text shown stays on record
    assert (record["flag"], record["outcome"], record["answers"]) == (
        "toxin_spread_now",
        "urgent_care",
        {"toxin_symptoms_now": "yes"},
    )


def test_writing_after_an_urgent_ending_starts_no_new_questionnaire(fake, bot, db_path) -> None:
    patient = TelegramPatient(fake, 217)
    to_safety_question(patient)
    patient.walk(SAFETY_TO_GOAL)
    patient.type("I want to end it all", expect=CRISIS_TEXT)
    patient.tap("Stop here", expect=CRISIS_ENDING)
    ending = patient.last()
    patient.type("I am scared")  # the crisis lines again, not a formality and not a new questionnaire
    patient.expect("Something you wrote makes us want to check", timeout=5)
    reply = patient.last()
    assert reply["message_id"] > ending["message_id"] and reply["text"] == ending["text"]
    assert "automated assistant of" not in (reply["text"] or "")  # not the welcome again
    assert patient.live_keyboards() == []  # no question, no Continue button
    patient.quiet_after(reply["message_id"])
    assert rows(db_path, "SELECT count(*) FROM intakes WHERE chat_id = 217") == [(1,)]
    intake, _ = stored(db_path, 217)
    assert (intake.outcome, intake.urgent) == ("crisis_support", True)
    assert ending["message_id"] < reply["message_id"]


# --------------------------------------------------------------------------- 3. photos, voice, files...


def test_media_locations_and_contacts_get_a_kind_reprompt_and_change_nothing(fake, bot, db_path) -> None:
    patient = TelegramPatient(fake, 221)
    to_safety_question(patient)
    before, _ = stored(db_path, 221)
    assert before is not None
    sends = [
        ("photo", lambda: fake.send_photo(221, caption="caption-secret-221", **patient.user())),
        ("voice", lambda: fake.send_voice(221, **patient.user())),
        ("video", lambda: fake.send_video(221, caption="video-secret-221", **patient.user())),
        ("document", lambda: fake.send_document(221, file_name="lab-secret-221.pdf", **patient.user())),
        ("location", lambda: fake.send_location(221, latitude=48.137, longitude=11.575, **patient.user())),
        ("contact", lambda: fake.send_contact(221, phone_number="+49 170 2210221", **patient.user())),
    ]
    updates = {}
    for kind, send in sends:
        updates[kind] = send()
        reply = patient.expect(UNSUPPORTED)
        assert not reply.get("reply_markup"), kind
        question = patient.expect(Q_ALLERGY_NOW)
        assert patient.buttons(question) == ["Yes", "No", "⬅️ Back"], kind
        assert [m["message_id"] for m in patient.live_keyboards()] == [question["message_id"]], kind
        after, _ = stored(db_path, 221)
        assert after.state == before.state, kind  # same step, same answers, same turn
        assert (after.status, after.flags) == (before.status, before.flags), kind

    _, transcript = stored(db_path, 221)
    assert ins(transcript)[-6:] == [f"[{kind}]" for kind, _ in sends]
    for kind, update in updates.items():
        assert rows(db_path, "SELECT kind, text FROM messages WHERE update_id = ?", update) == [("other", f"[{kind}]")]
    # every column but the times (a time such as 21:00:48.137 once matched the latitude)
    everything = " ".join(str(row) for row in rows(db_path, "SELECT kind, text, payload, last_error FROM messages"))
    for secret in ("caption-secret", "video-secret", "lab-secret", "2210221", "48.137", "BQACAgIAAxkBAAIB"):
        assert secret not in everything, secret

    # and the question still takes its answer, once
    patient.tap("No", expect=Q_CONCERNS)
    intake, transcript = stored(db_path, 221)
    assert intake.state["answers"]["allergy_signs_now"] == "no"
    assert ins(transcript).count("No") == 1


# --------------------------------------------------------------------------- 4. stale buttons, finished and erased


def test_stale_buttons_of_a_finished_intake_are_answered_and_change_nothing(fake, bot, db_path) -> None:
    patient = TelegramPatient(fake, 231)
    summary = to_summary(patient)
    edit_first, finish = callback_data(summary, "✏️ 1"), callback_data(summary, "Looks right, finish")
    patient.tap("Looks right, finish", expect="consultation")
    ending_id = patient.newest_id()
    done, _ = stored(db_path, 231)
    assert (done.status, done.outcome) == ("completed", "routine")

    # a double tap on "finish", and a late tap on ✏️ 1 of the summary
    for data in (finish, edit_first):
        answer = patient.press_data(summary["message_id"], data)
        assert answer.get("text") == STALE
    patient.command("/privacy", expect="What is stored")  # a fence: see TelegramPatient.quiet_after
    fence = patient.seen
    for later in [m for m in fake.messages(231) if ending_id < m["message_id"] < fence]:
        # at most a word on where they stand; never a question or a button
        assert FINISHED in later["text"] and not later.get("reply_markup"), later
    assert patient.live_keyboards() == []
    after, _ = stored(db_path, 231)
    assert (after.id, after.state, after.status, after.outcome, after.completed_at) == (
        done.id,
        done.state,
        done.status,
        done.outcome,
        done.completed_at,
    )
    assert rows(db_path, "SELECT count(*) FROM intakes WHERE chat_id = 231") == [(1,)]


def erase(patient: TelegramPatient) -> dict:
    """/delete and its confirmation; the confirmation message as it was before the tap."""
    patient.command("/delete", expect="Erase everything")
    confirm = patient.last()
    patient.tap("Yes, erase everything")
    patient.fake.wait_for(lambda: "has been erased" in (patient.message(confirm["message_id"])["text"] or ""), 5)
    return confirm


def test_stale_buttons_after_delete_are_answered_and_nothing_about_the_person_remains(fake, bot, db_path) -> None:
    patient = TelegramPatient(fake, 232)
    to_safety_question(patient)
    patient.tap("No", expect=Q_CONCERNS)
    question = patient.last()
    patient.type("Something else", expect=None)  # typed: a multi-choice answer in words
    patient.command("/human", expect="A person from")
    confirm = erase(patient)
    assert stored(db_path, 232) == (None, [])
    erased_id = patient.newest_id()

    # a second tap on the erase button, and a tap on the question the person was at
    taps = [
        (confirm["message_id"], callback_data(confirm, "Yes, erase everything")),
        (question["message_id"], callback_data(question, "✅ Done")),
    ]
    for message_id, data in taps:
        answer = patient.press_data(message_id, data)
        assert answer.get("text"), "a press after /delete is answered with a short notice"
        assert len(answer["text"]) <= 200
    patient.quiet_after(erased_id)
    assert stored(db_path, 232) == (None, [])
    assert_nothing_about(db_path, 232, ["pat232", "Pat232", "Something else"])


def test_delete_after_finishing_erases_everything(fake, bot, db_path) -> None:
    patient = TelegramPatient(fake, 233)
    summary = to_summary(patient)
    patient.tap("Looks right, finish", expect="consultation")
    erase(patient)
    assert stored(db_path, 233) == (None, [])
    answer = patient.press_data(summary["message_id"], callback_data(summary, "✏️ 1"))
    assert answer.get("text")
    assert_nothing_about(db_path, 233, ["pat233", "Pat233", "Smaller pores before summer"])


def assert_nothing_about(db: Path, chat_id: int, words: list[str]) -> None:
    """No table holds a row of this chat, nor any of ``words`` (name, username, typed answers)
    outside the rows of other people (the module's tests share one bot and database)."""
    with sqlite3.connect(db) as conn:
        others = {i for (i, chat) in conn.execute("SELECT id, chat_id FROM intakes") if chat != chat_id}
        tables = [name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        for table in tables:
            columns = [c[1] for c in conn.execute(f'PRAGMA table_info("{table}")')]
            for row in conn.execute(f'SELECT * FROM "{table}"'):
                values = dict(zip(columns, row, strict=True))
                for column in ("chat_id", "user_id"):
                    assert values.get(column) != chat_id, (table, values)
                if values.get("chat_id") or (table != "intakes" and values.get("intake_id") in others):
                    continue  # another person's row
                for value in values.values():
                    if isinstance(value, str):
                        for word in words:
                            assert word not in value, (table, word, values)


# --------------------------------------------------------------------------- 5. /help and /privacy mid-question


def test_help_and_privacy_mid_question_come_back_to_the_same_question(fake, bot, db_path) -> None:
    patient = TelegramPatient(fake, 241)
    to_safety_question(patient)
    patient.tap("No", expect=Q_CONCERNS)
    patient.tap("Large-looking pores")  # a tick in progress, not yet Done
    fake.wait_for(lambda: "☑ Large-looking pores" in patient.buttons(patient.live_keyboards()[-1]))
    before, _ = stored(db_path, 241)

    patient.command("/help", expect="I am the automated assistant of Example Skin Clinic")
    assert "/privacy" in patient.last()["text"] and "/delete" in patient.last()["text"]
    again = patient.expect(Q_CONCERNS)
    assert "☑ Large-looking pores" in patient.buttons(again)  # the tick survived the detour
    assert [m["message_id"] for m in patient.live_keyboards()] == [again["message_id"]]

    patient.command("/privacy", expect="What is stored")
    privacy = patient.last()["text"]
    assert "your answers" in privacy and "this conversation" in privacy  # what is stored
    assert "Who sees it: only the staff of Example Skin Clinic" in privacy  # who sees it
    assert "How long" in privacy
    assert "/delete erases everything" in privacy  # how to erase it
    again = patient.expect(Q_CONCERNS)
    assert "☑ Large-looking pores" in patient.buttons(again)
    assert [m["message_id"] for m in patient.live_keyboards()] == [again["message_id"]]

    after, transcript = stored(db_path, 241)
    assert after.state == before.state
    assert ins(transcript)[-2:] == ["/help", "/privacy"]
    patient.tap("Done", expect=Q_SKIN_TYPE)  # the place was kept: Done submits the same selection
    intake, _ = stored(db_path, 241)
    assert intake.state["answers"]["skin_concerns"] == ["large_pores"]


# --------------------------------------------------------------------------- 6. one getUpdates batch of one chat


def _batched(fake: FakeTelegram, queued: list[int]) -> None:
    """The bot's next getUpdates after ``queued`` were taken confirmed all of them at once."""
    offsets = [c["params"].get("offset") for c in fake.calls("getUpdates")]
    assert queued[-1] + 1 in offsets, offsets
    # the confirmation right after the batch skipped past every queued update in one step
    moved = [o for o in offsets if o is not None and queued[0] < o <= queued[-1] + 1]
    assert moved == [queued[-1] + 1], offsets


def test_one_chats_updates_in_one_getupdates_batch_apply_in_order_once_each(fake, db_path) -> None:
    """Polling only: a webhook is sent one update per request, so there is no batch to speak of."""
    patient = TelegramPatient(fake, 251)
    user = patient.user()
    # queued before the bot ever polls: they all come in its first getUpdates
    first = [
        fake.send_command(251, "/start batch", **user),
        fake.send_text(251, "Continue", **user),
        fake.send_text(251, "I agree", **user),
        fake.send_text(251, "18 to 64", **user),
    ]
    process = BotProcess(fake, f"sqlite:///{db_path}").start()
    try:
        for text in (Q_WELCOME, "Before we start", Q_AGE, Q_TOXIN):
            patient.expect(text)
        fake.wait_for(lambda: any(c["params"].get("offset") == first[-1] + 1 for c in fake.calls("getUpdates")))
        _batched(fake, first)
        process.stop()  # right after the sends: a clean stop records them, none goes out twice

        # a button press and typed answers queued while the bot is down: its next batch
        second = [
            fake.press_button(251, "No, never", **user),
            fake.send_text(251, "no", **user),
            fake.send_text(251, "Large-looking pores, Fine lines", **user),
            fake.send_text(251, "Cheeks", **user),
        ]
        process = BotProcess(fake, f"sqlite:///{db_path}").start()
        for text in (Q_ALLERGY_NOW, Q_CONCERNS, "Where are the fine lines", Q_SKIN_TYPE):
            patient.expect(text)
        fake.wait_for(lambda: any(c["params"].get("offset") == second[-1] + 1 for c in fake.calls("getUpdates")))
        _batched(fake, second)
        fake.wait_for(lambda: not fake.unanswered_callback_queries())
    finally:
        process.stop()
    assert "Traceback" not in process.read(), process.read()

    # each question was shown once, in order
    texts = [m["text"] or "" for m in fake.messages(251)]
    questions = [Q_WELCOME, "Before we start", Q_AGE, Q_TOXIN, Q_ALLERGY_NOW, Q_CONCERNS]
    questions += ["Where are the fine lines", Q_SKIN_TYPE]
    positions = []
    for question in questions:
        shown = [i for i, text in enumerate(texts) if question in text]
        assert len(shown) == 1, (question, fake.dump())
        positions += shown
    assert positions == sorted(positions)

    intake, transcript = stored(db_path, 251)
    assert intake.source == "batch"
    assert ins(transcript) == [
        "/start batch",
        "(text not kept: no consent yet)",  # typed before consenting: not kept, by design
        "I agree",
        "18 to 64",
        "No, never",
        "no",
        "Large-looking pores, Fine lines",
        "Cheeks",
    ]
    for update in first + second:
        assert rows(db_path, "SELECT count(*) FROM messages WHERE update_id = ?", update) == [(1,)]
    answers = intake.state["answers"]
    assert answers["skin_concerns"] == ["fine_lines", "large_pores"]
    assert answers["line_areas"] == ["cheeks"]
    assert intake.state["state"] == "skin_type"


# --------------------------------------------------------------------------- 7. serve / start, polling


@pytest.mark.parametrize("command", ["serve", "start"])
def test_serve_in_polling_mode_runs_the_bot_and_the_staff_web_app(fake, db_path, unused_port, command) -> None:
    """``serve`` with a token, and ``start`` (what ``make run`` runs): polling and the web app in one process."""
    process = BotProcess(
        fake,
        f"sqlite:///{db_path}",
        command=command,
        WEB_LISTEN="127.0.0.1",
        WEB_PORT=str(unused_port),
        SECRET_KEY="s" * 32,
        WEBHOOK_URL="",
    ).start()
    try:
        patient = TelegramPatient(fake, 261)
        to_safety_question(patient, "/start make-run")
        patient.tap("No", expect=Q_CONCERNS)
        assert fake.webhook() is None and fake.calls("getUpdates")  # long polling, no webhook

        def login() -> list[httpx.Response]:
            try:
                return [httpx.get(f"http://127.0.0.1:{unused_port}/login", timeout=5)]
            except httpx.TransportError:
                return []

        (page,) = fake.wait_for(login, timeout=15)
        assert page.status_code == 200 and "Staff log in" in page.text
        intake, _ = stored(db_path, 261)
        assert (intake.source, intake.state["state"]) == ("make-run", "skin_concerns")
    finally:
        code = process.stop()
    assert code == 0, process.read()
    assert "Traceback" not in process.read(), process.read()
