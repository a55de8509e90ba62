"""Turns on a real SQLite file and a real PostgreSQL: state, transcript and outbox committed together,
once per update."""

from __future__ import annotations

import pytest
from support.patients import ADA, InProcessPatient
from support.turns import apply, remind

from bot.channels.telegram import render
from bot.channels.telegram.events import Chat, Event
from bot.channels.telegram.runner import TurnRunner
from bot.engine import Engine
from bot.store import Store


@pytest.fixture()
def turns(all_types: Engine, store: Store) -> TurnRunner:
    return TurnRunner(all_types, store)


def test_start_creates_an_intake_and_commits_the_first_prompt(turns: TurnRunner) -> None:
    patient = InProcessPatient(turns)
    patient.command("/start website")
    intake = patient.intake()
    assert intake.status == "in_progress" and intake.source == "website" and intake.language == "en"
    assert intake.first_name == "Ada" and intake.username == "ada"
    outbox = patient.outbox()
    assert outbox == [
        render.send("Welcome to Test Clinic.", [[{"text": "Continue", "data": f"{intake.id}.0.n"}]]).payload()
    ]
    assert intake.prompt_message_id is not None
    assert patient.transcript() == [("in", "/start website"), ("out", "Welcome to Test Clinic.")]


def test_a_redelivered_update_is_applied_once(turns: TurnRunner) -> None:
    patient = InProcessPatient(turns)
    patient.command("/start")
    patient.tap("Continue")
    before = patient.transcript()
    result = apply(turns, patient.update_id, ADA, Event("text", text="I agree"))
    assert result.duplicate
    assert patient.transcript() == before
    assert patient.intake().state["state"] == "consent"


def test_text_before_consent_is_not_kept(turns: TurnRunner) -> None:
    patient = InProcessPatient(turns)
    patient.command("/start")
    patient.tap("Continue")
    patient.type("I have terrible acne, can you help?")
    lines = patient.transcript()
    assert ("in", "(text not kept: no consent yet)") in lines
    assert not any("acne" in text for _, text in lines)
    patient.type("I agree")
    assert ("in", "I agree") in patient.transcript()
    patient.type("I really do have acne")  # not an age, but said after consent: kept as typed
    assert ("in", "I really do have acne") in patient.transcript()
    assert patient.intake().consent_version == "v7" and patient.intake().consented_at is not None


def test_pressing_a_single_choice_edits_the_question_and_sends_the_next(turns: TurnRunner) -> None:
    patient = InProcessPatient(turns)
    patient.command("/start")
    patient.tap("Continue")
    count = len(patient.outbox())
    patient.tap("I agree")
    new = patient.outbox()[count:]
    assert new[0]["op"] == "edit" and new[0]["text"].endswith("✓ I agree")
    assert new[1]["op"] == "send" and new[1]["text"].startswith("How old are you?")


def test_an_invalid_answer_repeats_the_question_with_the_correction(turns: TurnRunner) -> None:
    patient = InProcessPatient(turns)
    for step in (lambda: patient.command("/start"), lambda: patient.tap("Continue"), lambda: patient.tap("I agree")):
        step()
    count = len(patient.outbox())
    patient.type("old")
    new = patient.outbox()[count:]
    assert new[0] == render.edit_keyboard(None, target=new[0]["target"]).payload()
    assert new[1]["text"].startswith("⚠️ Please type a number, for example 42.\n\nHow old are you?")
    assert patient.intake().state["state"] == "age"


def test_stale_buttons_get_a_notice_and_the_current_question(turns: TurnRunner) -> None:
    patient = InProcessPatient(turns)
    patient.command("/start")
    old = patient.button("Continue")
    patient.tap("Continue")
    result = apply(turns, 9999, ADA, Event("press", data=old, label="Continue", message_id=7))
    assert result.toast == "That button belongs to an earlier step."
    last = patient.outbox()[-1]
    assert last["text"].startswith("We ask some questions.")
    assert patient.intake().state["state"] == "consent"
    assert apply(turns, 10000, ADA, Event("press", data="garbage", message_id=7)).toast is not None


def test_a_button_of_a_finished_intake_says_it_is_finished(turns: TurnRunner) -> None:
    patient = InProcessPatient(turns)
    patient.command("/start")
    patient.tap("Continue")
    old = patient.button("I agree")
    patient.tap("I agree")
    patient.type("16")  # an early ending
    assert patient.intake().status == "completed"
    result = apply(turns, patient.update_id + 1, ADA, Event("press", data=old, label="I agree", message_id=7))
    assert result.toast == "That button belongs to an earlier step."
    assert patient.outbox()[-2:] == [
        render.edit_keyboard(None, message_id=7).payload(),
        render.send("This questionnaire is finished. Send /restart to start again.").payload(),
    ]
    assert patient.intake().status == "completed"


def test_multi_choice_toggles_then_done(turns: TurnRunner) -> None:
    patient = InProcessPatient(turns)
    patient.consent()
    patient.type("30")
    patient.tap("No")
    patient.tap("Fine lines")
    keyboard = patient.outbox()[-1]["keyboard"]
    assert keyboard[0][0]["text"] == "☑ Fine lines"
    result = patient.tap("Done")
    assert result.toast is None
    assert patient.intake().state["answers"]["concerns"] == ["lines"]


def test_a_tick_is_logged_as_what_it_did_not_as_the_box_it_was_pressed_on(turns: TurnRunner) -> None:
    """The transcript said "☐ Fine lines" for a tick: the label as it was before the press."""
    patient = InProcessPatient(turns)
    patient.consent()
    patient.type("30")
    patient.tap("No")
    patient.tap("Fine lines")  # ticked
    patient.tap("Fine lines")  # unticked
    patient.tap("Fine lines")  # ticked again
    typed = [text for direction, text in patient.transcript() if direction == "in"]
    assert typed[-3:] == ["☑ Fine lines", "☐ Fine lines", "☑ Fine lines"]


def test_done_with_nothing_ticked_keeps_the_question_with_a_toast(turns: TurnRunner) -> None:
    patient = InProcessPatient(turns)
    for action in ("/start",):
        patient.command(action)
    patient.tap("Continue")
    patient.tap("I agree")
    patient.type("30")
    patient.tap("No")
    result = patient.tap("Done")
    assert result.toast == "Please choose at least 1."
    assert patient.intake().state["state"] == "concerns"


def test_delete_erases_everything_after_confirmation(turns: TurnRunner) -> None:
    patient = InProcessPatient(turns)
    patient.command("/start")
    patient.tap("Continue")
    patient.tap("I agree")
    patient.command("/delete")
    assert patient.intake() is not None  # nothing happens before the confirmation
    result = patient.tap("Yes, erase everything")
    assert patient.intake() is None
    assert result.direct[0].text.startswith("Done: everything stored about you here has been erased.")
    with turns.store.transaction() as tx:
        assert tx.pending(ADA.id) == []
    result = patient.command("/delete")
    assert result.direct == [render.send("Nothing is stored about you here.")]


def test_restart_asks_first_then_starts_over(turns: TurnRunner) -> None:
    patient = InProcessPatient(turns)
    patient.command("/start")
    patient.tap("Continue")
    patient.tap("I agree")
    patient.command("/restart")
    assert patient.intake().state["state"] == "age"
    patient.tap("No, carry on")
    assert patient.intake().state["state"] == "age"
    patient.command("/restart")
    patient.tap("Yes, start again")
    intake = patient.intake()
    assert intake.state["state"] == "welcome" and "answers" not in intake.state and intake.consent_version is None


def test_help_privacy_and_myanswers_return_to_the_same_question(turns: TurnRunner) -> None:
    patient = InProcessPatient(turns)
    patient.command("/start")
    patient.tap("Continue")
    patient.tap("I agree")
    patient.type("30")
    for command in ("/help", "/privacy", "/myanswers", "/resume"):
        patient.command(command)
        assert patient.outbox()[-1]["text"].startswith("Right now, do you find it hard to breathe")
    patient.command("/human")  # a talk with the clinic (test_talks.py); /resume goes back
    assert patient.intake().human_requested_at is not None
    patient.command("/resume")
    assert patient.outbox()[-1]["text"].startswith("Right now, do you find it hard to breathe")
    texts = [p["text"] for p in patient.outbox() if p["op"] == "send"]
    assert any(t.startswith("This is what is stored from your answers:") and "30 years" in t for t in texts)


def test_privacy_says_how_long_intakes_are_kept(all_types: Engine, store: Store) -> None:
    for days, said in (
        (30, "How long: 30 days after your last message here, then it is erased automatically"),
        (None, "How long: until you erase it with /delete, or the clinic does."),
    ):
        turns = TurnRunner(all_types, store, retention_days=days)
        result = apply(turns, None, Chat(7 if days else 8), Event("command", command="privacy"))
        replies = [r.payload() for r in result.direct] + [row.payload for row in result.outgoing]  # nothing stored
        privacy = next(reply["text"] for reply in replies if reply["text"].startswith("What is stored"))
        assert said in privacy and "Who sees it: only the staff of Test Clinic" in privacy


def test_language_switch_shows_the_question_again(skin: Engine, store: Store) -> None:
    patient = InProcessPatient(TurnRunner(skin, store))
    patient.command("/start")
    patient.command("/language")
    patient.tap("Deutsch")
    assert patient.intake().language == "de"
    assert patient.outbox()[-1]["text"].startswith("Guten Tag!")


def test_telegram_language_is_used_when_the_flow_has_it(skin: Engine, store: Store) -> None:
    patient = InProcessPatient(TurnRunner(skin, store), Chat(7, 7, "Jo", None, None, "de-AT"))
    patient.command("/start")
    assert patient.intake().language == "de"


def test_stickers_get_a_kind_reprompt(turns: TurnRunner) -> None:
    patient = InProcessPatient(turns)
    patient.command("/start")
    patient.send_other("sticker")
    texts = [p["text"] for p in patient.outbox() if p["op"] == "send"]
    assert texts[-2] == "I can only read typed text and button taps. Here is the question again:"
    assert texts[-1] == "Welcome to Test Clinic."
    assert ("in", "[sticker]") in patient.transcript()


def test_a_finished_intake_starts_a_new_one_on_start(turns: TurnRunner) -> None:
    patient = InProcessPatient(turns)
    patient.command("/start")
    patient.tap("Continue")
    patient.tap("No thanks")
    first = patient.intake()
    assert first.status == "declined" and first.outcome == "declined" and first.completed_at is not None
    patient.command("/start")
    second = patient.intake()
    assert second.id != first.id and second.status == "in_progress"


def test_reminder_once_after_quiet_and_abandoned_later(turns: TurnRunner, store: Store) -> None:
    from datetime import timedelta

    patient = InProcessPatient(turns)
    patient.command("/start")
    intake = patient.intake()
    later = intake.updated_at + timedelta(hours=1)
    remind(turns, intake.id, quiet_since=intake.updated_at - timedelta(seconds=1))
    assert patient.intake().reminded_at is None  # not quiet long enough
    remind(turns, intake.id, quiet_since=later)
    remind(turns, intake.id, quiet_since=later)
    texts = [p["text"] for p in patient.outbox() if p["op"] == "send"]
    assert texts.count("Hello again! Your answers are saved. Whenever you are ready, here is where you left off:") == 1
    kept, _ = turns.recent.take(ADA.id)  # the reminder's write left the copy in memory current
    assert kept.version == patient.intake().version
    turns.recent.put(ADA.id, kept, _)
    with store.transaction() as tx:
        assert tx.abandon(later) == 1
    assert patient.intake().status == "abandoned"
    patient.tap("Continue")
    assert patient.intake().status == "in_progress"


def test_back_undoes_an_early_ending_but_not_a_confirmed_intake(turns: TurnRunner) -> None:
    patient = InProcessPatient(turns)
    patient.command("/start")
    patient.tap("Continue")
    patient.tap("I agree")
    patient.type("16")
    assert patient.intake().status == "completed" and patient.intake().outcome == "minor"
    patient.command("/back")
    intake = patient.intake()
    assert intake.status == "in_progress" and intake.state["state"] == "age" and intake.completed_at is None
    for text in ("40", "no", "lines", "", "never", ""):  # the two empty answers skip optional questions
        patient.type(text)
    assert patient.intake().state["state"] == "review"
    patient.tap("Looks right, finish")
    assert patient.intake().status == "completed"
    patient.command("/back")
    assert patient.outbox()[-1]["text"] == "This questionnaire is finished. Send /restart to start again."
    assert patient.intake().status == "completed"


def test_a_turn_reads_the_store_again_once_it_moved_on(turns: TurnRunner, store: Store) -> None:
    """The copy of an intake kept in memory between turns is used only while it is current."""
    from datetime import timedelta

    patient = InProcessPatient(turns)
    patient.command("/start")
    patient.tap("Continue")
    first = patient.intake()
    assert len(turns.recent) == 1
    with store.transaction() as tx:  # retention erases it behind the channel's back
        assert tx.purge_before(first.updated_at + timedelta(days=1)) == 1
    patient.command("/start")
    second = patient.intake()
    assert second.id != first.id and second.state["state"] == "welcome"
    assert patient.transcript() == [("in", "/start"), ("out", "Welcome to Test Clinic.")]


def test_a_failed_turn_leaves_nothing_behind_in_memory(turns: TurnRunner, monkeypatch: pytest.MonkeyPatch) -> None:
    patient = InProcessPatient(turns)
    patient.command("/start")
    patient.tap("Continue")
    agree = patient.button("I agree")

    def broken(*args, **kwargs):
        raise RuntimeError("rendering failed")

    with monkeypatch.context() as patched:
        patched.setattr(turns.renderer, "prompt_messages", broken)
        with pytest.raises(RuntimeError):  # the engine had moved the conversation on in memory
            patient.tap("I agree")
    assert patient.intake().state["state"] == "consent"
    result = apply(turns, patient.update_id + 1, ADA, Event("press", data=agree, label="I agree"))
    assert result.toast is None  # the same button is still the current one: nothing half-done was kept
    assert patient.intake().state["state"] == "age"


def test_a_copy_kept_in_memory_is_checked_by_the_write_and_the_turn_run_again(
    turns: TurnRunner, store: Store, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Between turns the chat's intake is kept in memory and not read again; if another process
    wrote it meanwhile, the turn's write notices, and the turn runs once more from the store,
    recording the patient's input once."""
    from datetime import timedelta

    from bot.channels.telegram.turn import TurnState

    reads: list[int] = []  # turns that read the chat's intake from the store
    load = TurnState.load
    monkeypatch.setattr(TurnState, "load", lambda turn, intake: reads.append(turn.chat.id) or load(turn, intake))
    patient = InProcessPatient(turns)
    patient.command("/start")
    patient.tap("Continue")
    assert reads == [42]  # only the first turn read the store
    later = patient.intake().updated_at + timedelta(hours=1)
    other = Store(database_url)  # another process: marks the intake abandoned
    with other.transaction() as tx:
        assert tx.abandon(later) == 1
    other.close()
    patient.tap("I agree")
    assert reads == [42, 42]  # the copy in memory was refused by the write; read again once
    intake = patient.intake()
    assert intake.status == "in_progress" and intake.state["state"] == "age"
    assert [text for direction, text in patient.transcript() if direction == "in"] == ["/start", "Continue", "I agree"]
    patient.type("40")
    assert reads == [42, 42]  # and kept again from then on


def test_updates_redelivered_after_delete_do_not_begin_a_new_intake(turns: TurnRunner) -> None:
    """The bot died after committing /delete but before Telegram heard the batch was applied."""
    patient = InProcessPatient(turns)
    patient.consent()
    patient.type("40")
    answer = patient.update_id
    patient.command("/delete")
    confirm = Event("press", data=patient.button("Yes, erase everything"), label="Yes, erase everything")
    apply(turns, answer + 2, ADA, confirm)
    assert patient.intake() is None
    assert apply(turns, answer, ADA, Event("text", text="40")).duplicate
    again = apply(turns, answer + 3, ADA, confirm)  # a button of the erased intake: stale, stores nothing
    assert again.toast == "That button belongs to an earlier step." and again.outgoing == []
    assert patient.intake() is None  # nothing about the person was stored again


def test_writing_after_an_ending_begins_nothing_new_and_an_urgent_ending_is_shown_again(turns: TurnRunner) -> None:
    patient = InProcessPatient(turns)
    patient.consent()
    patient.type("40")
    patient.tap("Yes")  # hard to breathe right now: the urgent ending at once
    first = patient.intake()
    assert first.status == "completed" and first.outcome == "urgent"
    for message in (patient.type("I am scared"), patient.send_other("sticker")):
        assert message.outgoing[-1].payload["text"].startswith("🚨 Please seek medical care now.")
    assert patient.intake().id == first.id  # only /start or /restart begin again
    patient.command("/start")
    assert patient.intake().id != first.id


def test_delete_erases_a_finished_intake_too(turns: TurnRunner) -> None:
    patient = InProcessPatient(turns)
    patient.consent()
    patient.type("16")  # an early ending
    assert patient.type("hello").outgoing[-1].payload["text"] == (
        "This questionnaire is finished. Send /restart to start again."
    )
    patient.command("/delete")
    result = patient.tap("Yes, erase everything")
    assert result.toast is None and patient.intake() is None
    assert result.direct[0].text.startswith("Done: everything stored about you here has been erased.")
