"""A live conversation with the clinic (a *talk*, ``bot.store.talks``), the patient's side.

/human opens one (staff are alerted), /resume ends it and shows the question again. While one is
open, what the patient types (after the safety screen, which reads every message first) is a
message to the clinic, stored as the turn's input with the talk's id, and is not taken as an
answer; the buttons of the current question still work. The first message of a wait is
acknowledged once ("passed on, expect an answer ..."), the next ones are not: the patient is
writing to a person, not to the bot. Staff hand back through the store; the bot shows the
question again in a turn of its own (``TurnRunner.hand_back_in``, run by ``bot.jobs.handbacks``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.channels.telegram.events import Event
from bot.engine.hours import when_to_expect
from bot.store import talks

if TYPE_CHECKING:
    from bot.channels.telegram.turn import TurnState


def is_open(turn: TurnState) -> bool:
    return turn.intake is not None and turn.intake.talk_id is not None


def open_talk(turn: TurnState) -> None:
    """/human (also after crisis words in its text): a talk opened, once, and staff alerted."""
    turn.ensure_intake()
    intake = turn.intake
    assert intake is not None
    intake.human_requested_at = turn.now
    if intake.talk_id is None:
        intake.talk_id = talks.insert(turn.tx, intake.id, talks.PATIENT, turn.now)
        turn.talk_opened = intake.talk_id
    intake.waiting_since = intake.waiting_since or turn.now
    turn.say(turn.msg("human_requested", when=when_to_expect(turn.engine, turn.lang, turn.now)))


def human(turn: TurnState, event: Event) -> None:
    open_talk(turn)


def resume(turn: TurnState, event: Event) -> None:
    """/resume: the talk ends (staff see that the patient went back) and the question comes again."""
    intake = turn.intake
    if intake is not None and intake.talk_id is not None:
        talks.end(turn.tx, intake.talk_id, talks.PATIENT, talks.Ending.RESUME, turn.now)
        intake.talk_id = None
        turn.say(turn.msg("talk_resumed"))
    if turn.ensure_intake():
        turn.show_prompt()
        return
    turn.reprompt()


def to_clinic(turn: TurnState, event: Event) -> None:
    """Typed words while a talk is open: a message to the clinic (kept before consent too: the
    patient chose to write to a person), acknowledged at the start of a wait only."""
    intake = turn.intake
    assert intake is not None
    turn.in_text = event.text
    if intake.waiting_since is None:
        intake.waiting_since = turn.now
        turn.say(turn.msg("talk_passed_on", when=when_to_expect(turn.engine, turn.lang, turn.now)))
