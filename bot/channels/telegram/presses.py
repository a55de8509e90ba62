"""A button pressed: the callback data say which intake, at which revision, and what to do.

A press on an older revision's button (or another intake's) is stale: the person hears so and
sees the current step again. Erasing stays possible on a finished intake.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.channels.telegram import commands, render, safety
from bot.channels.telegram.events import Event
from bot.channels.telegram.render import Action
from bot.store.records import FINISHED

if TYPE_CHECKING:
    from bot.channels.telegram.turn import TurnState


def press(turn: TurnState, event: Event) -> None:
    pressed = render.parse_callback(event.data)
    intake, conv = turn.intake, turn.conv
    language = pressed is not None and pressed.action is Action.LANGUAGE
    if language and intake is not None and pressed.intake_id == intake.id:
        choose_language(turn, event, pressed.arg)
        return
    if pressed is None or intake is None or conv is None or pressed.intake_id != intake.id:
        turn.stale(event)
        return
    if pressed.action in safety.ACTIONS:  # at any revision, on a finished intake too
        safety.press(turn, event, pressed)
        return
    if pressed.action is Action.COPY:  # at any revision: the copy is made of what is stored when it goes
        commands.send_copy(turn)
        return
    if pressed.revision != conv.revision:
        turn.stale(event)
        return
    if intake.status in FINISHED and pressed.action not in _ON_FINISHED:
        turn.stale(event)  # a finished intake takes no more answers; erasing is always possible
        return
    action, arg = pressed.action, pressed.arg
    if action is Action.CANCEL:
        turn.result.toast = turn.msg("cancelled")
        turn.outs.append(render.edit(turn.msg("cancelled"), message_id=event.message_id))
    elif action is Action.RESTART:
        turn.engine.restart(conv)
        turn.outs.append(render.edit(f"{turn.msg('restart_confirm')}\n\n✓ {event.label}", message_id=event.message_id))
        turn.show_prompt()
    elif action is Action.DELETE:
        turn.delete(event)
    elif action is Action.TOGGLE:
        tick(turn, event, arg)
    elif action is Action.BACK:
        turn.result.toast = None
        commands.back(turn, message_id=event.message_id)
    elif action is Action.CHANGE:
        turn.result.toast = None
        flag = turn.engine.urgent_at_stake(conv, arg)
        if flag is not None:  # an answer behind an urgent ending shown: ask first
            commands.ask_before_urgent_change(turn, flag, Action.CHANGE_ANYWAY, arg)
            return
        turn.engine.change(conv, arg)  # refused (no such answer): the summary is shown again all the same
        turn.close_prompt(None, message_id=event.message_id)
        turn.show_prompt()
    elif action in (Action.BACK_ANYWAY, Action.CHANGE_ANYWAY, Action.KEEP):
        urgent_answered(turn, event, action, arg)
    else:
        answer(turn, event, action, arg)


#: What a finished intake still takes: erasing, and the answer to "change that urgent answer?".
_ON_FINISHED = frozenset({Action.DELETE, Action.CANCEL, Action.BACK_ANYWAY, Action.KEEP})


def urgent_answered(turn: TurnState, event: Event, action: Action, arg: str) -> None:
    """The answer to "change that urgent answer?": the question keeps the answer given under it,
    then yes goes back (or to that answer at the summary), no shows the step as it was."""
    conv = turn.conv
    assert conv is not None
    turn.result.toast = None
    flag = turn.engine.urgent_at_stake(conv, arg or None)
    asked = turn.engine.urgent_change_ask(conv, flag) if flag is not None else ""
    turn.outs.append(render.edit(f"{asked}\n\n✓ {event.label}".strip(), message_id=event.message_id))
    if action is Action.BACK_ANYWAY:
        commands.back(turn, asked=True)
    elif action is Action.CHANGE_ANYWAY:
        turn.engine.change(conv, arg)
        turn.show_prompt()
    else:
        turn.say(turn.msg("urgent_kept"))
        turn.reprompt()


def choose_language(turn: TurnState, event: Event, code: str) -> None:
    """A language button (from /language): works at any revision, not once the intake is finished."""
    assert turn.intake is not None
    turn.result.toast = turn.engine.message(code, "language_name") if code in turn.engine.messages else None
    if code in turn.engine.flow.languages and turn.intake.status not in FINISHED:
        turn.outs.append(render.edit_keyboard(None, message_id=event.message_id))
        turn.switch_language(code)


def tick(turn: TurnState, event: Event, choice_id: str) -> None:
    """A choice of a multiple-choice question ticked or unticked: only its keyboard changes."""
    assert turn.intake is not None and turn.conv is not None
    effect = turn.engine.toggle(turn.conv, choice_id)
    if effect.accepted:
        keyboard = turn.renderer.keyboard(turn.prompt(), turn.intake.id, turn.lang)
        turn.outs.append(render.edit_keyboard(keyboard, message_id=event.message_id))
        # The transcript says what the press did: the label pressed showed the box as it was.
        label = event.label.removeprefix(render.CHECKED).removeprefix(render.UNCHECKED)
        ticked = choice_id in (turn.conv.draft or ())
        turn.in_text = (render.CHECKED if ticked else render.UNCHECKED) + label
    else:
        turn.result.toast = effect.error


def answer(turn: TurnState, event: Event, action: Action, arg: str) -> None:
    """A press that answers the step: a choice, Done, Skip, Continue or Confirm."""
    conv = turn.conv
    assert conv is not None
    turn.result.toast = None
    before = turn.prompt()
    step = turn.engine.step(conv)
    if action is Action.DONE:
        effect = turn.engine.submit_selection(conv, now=turn.now.isoformat())
    elif action is Action.SKIP:
        effect = turn.engine.skip(conv, now=turn.now.isoformat())
    elif action is Action.CONFIRM:
        effect = turn.engine.choose(conv, "confirm", now=turn.now.isoformat())
    elif action is Action.CONTINUE:
        effect = turn.engine.choose(conv, "continue")
    else:
        effect = turn.engine.choose(conv, arg, now=turn.now.isoformat())
    if not effect.accepted and action in (Action.DONE, Action.SKIP):
        turn.result.toast = effect.error  # keep the selection; a toast says what is missing
        return
    turn.after_answer(effect, before, step, message_id=event.message_id)
