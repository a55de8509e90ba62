"""A live conversation with the clinic (a talk), turn by turn in-process on SQLite and PostgreSQL,
with the staff side's real ``Talks`` writing into the same store."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from support.default_flow import Q_AGE, Q_TOXIN
from support.patients import InProcessPatient
from support.turns import apply

from bot.alerts.rules import AlertRules
from bot.channels.telegram.events import Chat, Event
from bot.channels.telegram.runner import TurnRunner
from bot.engine import Engine
from bot.engine.hours import is_open, next_opening, when_to_expect
from bot.staff.talks import Talks, TooLong, TooMany
from bot.store import Store, talks, utcnow
from bot.store.schema import audit

BEA = Chat(43, 43, "Bea", None, "bea", "de")
CRISIS_EN = "It sounds like you might be going through something very hard"
CRISIS_DE = "Es klingt, als ginge es Ihnen gerade sehr schlecht"


@pytest.fixture()
def turns(skin: Engine, store: Store) -> TurnRunner:
    high = frozenset(f.id for f in skin.flow.flags if f.severity == "high")
    return TurnRunner(skin, store, alerts=AlertRules(frozenset({"urgent", "human", "high"}), ("telegram",), high))


@pytest.fixture()
def staff(skin: Engine, store: Store) -> Talks:
    return Talks(store, skin)


def at_age(turns: TurnRunner, chat: Chat | None = None) -> InProcessPatient:
    patient = InProcessPatient(turns, chat) if chat else InProcessPatient(turns)
    de = chat is BEA
    patient.command("/start")
    patient.tap("Weiter" if de else "Continue")
    patient.tap("Ich stimme zu" if de else "I agree", expect="Wie alt sind Sie?" if de else Q_AGE)
    return patient


def sent(result) -> list[str]:
    return [row.payload.get("text") or "" for row in result.outgoing if row.payload.get("op") == "send"]


def delivered(store: Store) -> None:
    """Every reply stored so far marked sent, as the outbox would (so a turn's catch-up of replies
    not sent yet shows only what staff wrote since)."""
    with store.transaction() as tx:
        tx.mark_all_sent([(r.id, None, datetime.now(UTC)) for r in tx.pending(limit=10_000)])


def rows(store: Store, sql: str, **params) -> list[tuple]:
    with store.transaction(read_only=True) as tx:
        return [tuple(r) for r in tx.conn.execute(sa.text(sql), params)]


def test_human_opens_a_talk_typed_words_go_to_staff_and_resume_shows_the_question(
    turns: TurnRunner, store: Store
) -> None:
    patient = at_age(turns)
    patient.command("/human", expect="A person from Example Skin Clinic will read what you write here")
    intake = patient.intake()
    assert intake.talk_id is not None and intake.waiting_since is not None
    [(event, reason)] = rows(store, "SELECT event, reason FROM alerts WHERE intake_id = :i", i=intake.id)
    assert (event, reason) == ("human", f"talk:{intake.talk_id}")  # no name, no words: the talk's number
    quiet = patient.type("Is it OK if I take ibuprofen?")
    assert quiet.outgoing == []  # a person reads it; the bot says nothing more while they wait
    assert "age" not in patient.intake().state["answers"]  # not taken as an answer
    [(text, talk_id)] = rows(store, "SELECT text, talk_id FROM messages WHERE direction = 'in' AND talk_id IS NOT NULL")
    assert (text, talk_id) == ("Is it OK if I take ibuprofen?", intake.talk_id)
    patient.command("/human", expect="A person from")  # asked again: the same talk, no second alert
    assert patient.intake().talk_id == intake.talk_id
    assert len(rows(store, "SELECT id FROM alerts WHERE intake_id = :i", i=intake.id)) == 1
    resumed = patient.command("/resume")
    assert sent(resumed)[0].startswith("Back to the questions") and Q_AGE in sent(resumed)[-1]
    assert patient.intake().talk_id is None
    assert rows(store, "SELECT ending, closed_by FROM talks") == [("resume", "patient")]
    patient.type("18 to 64", expect=Q_TOXIN)  # typed words answer the questions again


def test_a_sticker_in_a_talk_is_answered_without_the_question(turns: TurnRunner) -> None:
    patient = at_age(turns)
    patient.command("/human")
    delivered(patient.turns.store)
    assert sent(patient.send_other("sticker")) == [
        "Only typed text reaches the clinic team here: please write your message."
    ]


def test_the_buttons_of_the_question_still_work_in_a_talk(turns: TurnRunner) -> None:
    patient = at_age(turns)
    patient.tap("18 to 64", expect=Q_TOXIN)
    patient.command("/human")
    patient.tap("No, never", expect="A quick safety question")  # a press answers the question
    assert patient.intake().state["answers"]["toxin_last_time"] == "never"
    assert patient.intake().talk_id is not None  # and the talk stays open


@pytest.mark.parametrize(
    ("chat", "words", "crisis"),
    [(None, "please help, I want to end my life", CRISIS_EN), (BEA, "ich will mir das Leben nehmen", CRISIS_DE)],
    ids=["en", "de"],
)
def test_crisis_words_in_a_talk_still_get_the_crisis_text_first(turns: TurnRunner, store: Store, chat, words, crisis):
    patient = at_age(turns, chat)
    patient.command("/human")
    result = patient.type(words)
    assert crisis in sent(result)[0]
    intake = patient.intake()
    assert intake.urgent
    # staff see the words in the talk too, marked as screened
    [(text, payload)] = rows(store, "SELECT text, payload FROM messages WHERE talk_id IS NOT NULL")
    assert text == words and '"screen"' in payload


def test_a_finished_patient_is_told_how_to_write_and_can_write_in_an_open_talk(turns: TurnRunner) -> None:
    patient = at_age(turns)
    patient.tap("Under 18")  # an early ending
    told = patient.type("hello?")
    assert sent(told)[0] == "To write to the clinic team, send /human."
    patient.command("/human", expect="A person from")
    assert patient.type("I am 17 actually").outgoing == []
    intake_id = patient.intake().id
    with patient.turns.store.transaction() as tx:
        [message] = talks.talk_messages(tx, intake_id)
    assert message.text == "I am 17 actually" and message.state == "received"


def test_a_staff_message_is_signed_and_goes_out_before_the_next_reply(turns: TurnRunner, staff: Talks, store) -> None:
    patient = at_age(turns)
    patient.command("/human")
    intake_id = patient.intake().id
    before = {row.get("text") for row in patient.outbox()}
    row = staff.send(intake_id, "rita", "Anna", "Which blood thinner do you take?")
    assert row is not None
    assert patient.intake().waiting_since is None  # answered
    [text] = [r["text"] for r in patient.outbox() if r.get("text") not in before]
    assert text == (
        "Which blood thinner do you take?\n\n(Reply here to answer. /resume goes back to the questions.)"
        "\n\n— Anna, Example Skin Clinic"
    )
    second = staff.send(intake_id, "rita", None, "Thanks!")
    with store.transaction() as tx:
        assert tx.pending(patient.chat.id)[-1].text == "Thanks!\n\n— the team of Example Skin Clinic"
    assert second > row
    # the patient's next turn (its intake now read from the store) sends the staff messages first
    result = patient.type("Warfarin")
    ids = [r.id for r in result.outgoing]  # (the earlier replies too: this test's outbox sends nothing)
    assert row in ids and second in ids and ids == sorted(ids)
    assert patient.intake().waiting_since is not None  # waiting for the clinic again
    assert rows(store, "SELECT actor, action FROM audit WHERE action = 'message'") == [("rita", "message")] * 2
    with store.transaction() as tx:
        messages = talks.talk_messages(tx, intake_id)
    assert [(m.direction, m.sender, m.state) for m in messages] == [
        ("out", "Anna", "queued"),
        ("out", "rita", "queued"),
        ("in", None, "received"),
    ]


def test_a_staff_message_in_german_is_signed_in_german(turns: TurnRunner, staff: Talks) -> None:
    patient = at_age(turns, BEA)
    delivered(patient.turns.store)
    staff.send(patient.intake().id, "rita", "Anna", "Nehmen Sie Blutverdünner?")
    assert patient.outbox()[-1]["text"].endswith(
        "(Antworten Sie einfach hier. /resume führt zurück zu den Fragen.)\n\n— Anna, Example Skin Clinic"
    )
    assert patient.intake().talk_id is not None  # staff started it: the patient's words go to them now
    delivered(patient.turns.store)
    assert sent(patient.type("Nein"))[0].startswith("Ihre Nachricht wurde an das Praxisteam weitergegeben.")
    assert patient.type("Auch kein Aspirin").outgoing == []  # once a wait


def test_a_message_too_long_to_send_signed_is_refused(turns: TurnRunner, staff: Talks) -> None:
    patient = at_age(turns)
    with pytest.raises(TooLong):
        staff.send(patient.intake().id, "rita", "Anna", "x" * 4096)
    assert staff.send(patient.intake().id, "rita", "Anna", "x" * 3900) is not None


def test_hand_back_shows_the_question_again_and_close_leaves_the_intake_as_it_was(
    turns: TurnRunner, staff: Talks, store: Store
) -> None:
    patient = at_age(turns)
    patient.tap("18 to 64", expect=Q_TOXIN)
    patient.command("/human")
    intake = patient.intake()
    assert staff.finish(intake.id, "rita", "handback") == intake.talk_id
    delivered(store)
    with store.transaction() as tx:
        [(talk_id, intake_id, chat_id)] = talks.due_handbacks(tx)
    assert chat_id == patient.chat.id
    with store.transaction() as tx:
        result = turns.hand_back_in(tx, talk_id, intake_id)
    assert sent(result)[0].startswith("The clinic team has handed you back") and Q_TOXIN in sent(result)[-1]
    with store.transaction() as tx:
        assert talks.due_handbacks(tx) == []  # shown once
    patient.tap("No, never", expect="A quick safety question")
    patient.command("/human")
    state = patient.intake().state
    assert patient.intake().waiting_since is not None  # in the work queue's "waiting" bucket
    assert staff.finish(intake.id, "adam", "close") is not None
    assert patient.outbox()[-1]["text"].startswith("The clinic team has ended this conversation")
    assert patient.intake().state == state and patient.intake().talk_id is None
    assert patient.intake().waiting_since is None  # closed without a reply: no longer waiting for us
    assert staff.finish(intake.id, "adam", "close") is None  # nothing open
    assert [a for (a,) in rows(store, "SELECT action FROM audit ORDER BY id")] == ["talk_handback", "talk_close"]


def test_delete_erases_the_talk_and_a_staff_message_queued_for_it(turns: TurnRunner, staff: Talks, store) -> None:
    patient = at_age(turns)
    patient.command("/human")
    patient.type("Hello?")
    intake_id = patient.intake().id
    staff.send(intake_id, "rita", "Anna", "Hello, how can we help?")
    patient.command("/delete")
    result = patient.tap("Yes, erase everything")
    assert result.erased
    assert rows(store, "SELECT count(*) FROM talks")[0][0] == 0
    assert rows(store, "SELECT count(*) FROM messages")[0][0] == 0  # the staff message never goes
    assert staff.send(intake_id, "rita", "Anna", "Are you there?") is None  # nothing to write to
    assert staff.messages(intake_id) is None


def test_opening_hours_say_when_to_expect_an_answer(skin: Engine) -> None:
    hours = skin.flow.talk.opening_hours
    monday_noon = datetime(2026, 12, 7, 11, 0, tzinfo=UTC)  # 12:00 in Berlin
    friday_evening = datetime(2026, 12, 11, 17, 0, tzinfo=UTC)  # 18:00 in Berlin: closed at 16:00
    assert is_open(hours, monday_noon) and next_opening(hours, monday_noon) is None
    assert not is_open(hours, friday_evening)
    assert next_opening(hours, friday_evening).isoformat() == "2026-12-14T09:00:00+01:00"
    assert when_to_expect(skin, "en", monday_noon) == "We are open now, so you should hear from us soon."
    assert when_to_expect(skin, "en", friday_evening) == (
        "We are closed now: expect an answer from Monday 09:00 (Europe/Berlin time)."
    )
    assert when_to_expect(skin, "de", friday_evening) == (
        "Wir sind gerade nicht erreichbar: Rechnen Sie mit einer Antwort ab Montag 09:00 Uhr (Europe/Berlin)."
    )


def test_the_rate_limit_counts_per_member_in_the_store_across_workers(
    turns: TurnRunner, store: Store, skin: Engine
) -> None:
    """Two workers (two Talks on one database) share one count: it is read from the audit log."""
    intake_id = at_age(turns).intake().id
    one, other = Talks(store, skin, limit=2), Talks(store, skin, limit=2)
    assert one.send(intake_id, "rita", None, "first") and other.send(intake_id, "rita", None, "second")
    with pytest.raises(TooMany):
        one.send(intake_id, "rita", None, "third")
    with pytest.raises(TooMany):
        other.send(intake_id, "rita", None, "third")
    assert other.send(intake_id, "adam", None, "from adam")
    with store.transaction() as tx:  # a minute later the count is free again
        tx.conn.execute(audit.update().where(audit.c.actor == "rita").values(at=utcnow() - timedelta(minutes=2)))
    assert one.send(intake_id, "rita", None, "later")


def test_a_redelivered_update_in_a_talk_is_stored_once(turns: TurnRunner, store: Store) -> None:
    patient = at_age(turns)
    patient.command("/human")
    apply(turns, 5, patient.chat, Event("text", text="once"))
    assert apply(turns, 5, patient.chat, Event("text", text="once")).duplicate
    assert rows(store, "SELECT count(*) FROM messages WHERE talk_id IS NOT NULL")[0][0] == 1


def test_no_reminder_while_a_talk_is_open_and_retention_erases_the_talk(turns: TurnRunner, store: Store) -> None:
    patient = at_age(turns)
    patient.command("/human")
    patient.type("Hello?")
    intake = patient.intake()
    later = datetime(2100, 1, 1, tzinfo=UTC)
    with store.transaction() as tx:
        assert tx.quiet_intakes(later) == []
    with store.transaction() as tx:
        assert turns.remind_in(tx, intake.id, later).outgoing == []
    with store.transaction() as tx:
        assert tx.purge_before(later) == 1
    assert rows(store, "SELECT count(*) FROM talks")[0][0] == 0
    assert rows(store, "SELECT count(*) FROM messages")[0][0] == 0


def test_a_staff_message_and_a_patient_turn_crossing_keep_one_order(turns: TurnRunner, staff: Talks, store) -> None:
    """Each write waits for the other (PostgreSQL: the intake's row lock, taken first by a staff
    write; SQLite: the one write lock): whichever commits first is first in the outbox's order,
    and a turn that follows a staff message sends it before its own replies."""
    import threading
    import time as clock

    patient = at_age(turns)
    patient.command("/human")
    intake_id = patient.intake().id
    delivered(store)
    # 1. staff first: their transaction holds the intake while the patient's turn comes in
    outcome: dict = {}
    with store.transaction() as tx:
        talk_id = talks.start(tx, intake_id, "rita", datetime.now(UTC))
        staff_row = talks.queue_staff_message(tx, intake_id, talk_id, "Anna", "Staff first", datetime.now(UTC))
        thread = threading.Thread(target=lambda: outcome.setdefault("turn", patient.type("Patient second")))
        thread.start()
        clock.sleep(0.5)  # the turn is waiting for the staff write to end
        assert thread.is_alive()
    thread.join(15)
    ids = [row.id for row in outcome["turn"].outgoing]
    assert ids[0] == staff_row and ids == sorted(ids)  # the staff message, then the turn's own reply
    [in_row] = rows(store, "SELECT id FROM messages WHERE text = 'Patient second'")
    assert in_row[0] > staff_row
    delivered(store)
    # 2. the patient first: a turn's transaction is open when a staff member sends
    sent: dict = {}
    with store.transaction() as tx:
        turns.apply_in(tx, 99, patient.chat, Event("text", text="Patient first"))
        thread = threading.Thread(
            target=lambda: sent.setdefault("row", staff.send(intake_id, "rita", "Anna", "Staff second"))
        )
        thread.start()
        clock.sleep(0.5)
        assert thread.is_alive()  # waiting for the turn
    thread.join(15)
    [(patient_row,)] = rows(store, "SELECT id FROM messages WHERE text = 'Patient first'")
    assert sent["row"] > patient_row
