"""What a person typed at a step (not a command), and what else they sent (stickers, photos...)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.channels.telegram import commands
from bot.channels.telegram.events import Event
from bot.channels.telegram.render import Action
from bot.flow import model

if TYPE_CHECKING:
    from bot.channels.telegram.turn import TurnState


def text(turn: TurnState, event: Event) -> None:
    consented = turn.conv is not None and turn.conv.consent is not None
    turn.in_text = event.text if consented else turn.msg("consent_needed")
    if turn.ensure_intake() or turn.moved:
        # A first message begins the intake; one typed for a step the edited flow no longer has
        # (or that comes later now) is not an answer to the step the person is moved to.
        turn.show_prompt()
        return
    assert turn.conv is not None
    if turn.engine.finished(turn.conv):
        turn.say(turn.msg("talk_how"))  # whatever they wrote, a person can read it this way
        turn.say_finished()
        return
    before = turn.prompt()
    step = turn.engine.step(turn.conv)
    target = turn.engine.summary_target(turn.conv, event.text)
    flag = turn.engine.urgent_at_stake(turn.conv, target) if target is not None else None
    if flag is not None:  # a number typed at the summary, for an answer behind an urgent ending
        commands.ask_before_urgent_change(turn, flag, Action.CHANGE_ANYWAY, target)
        return
    effect = turn.engine.reply(turn.conv, event.text, now=turn.now.isoformat())
    if effect.accepted and isinstance(step, model.ConsentStep):
        turn.in_text = turn.engine.display(step, turn.conv.answers.get(step.id), turn.lang)
    turn.after_answer(effect, before, step)


def other(turn: TurnState, event: Event) -> None:
    if turn.ensure_intake() or turn.moved:
        turn.show_prompt()
        return
    if turn.conv is not None and turn.engine.finished(turn.conv):
        turn.say_finished()
        return
    turn.say(turn.msg("unsupported"))
    turn.reprompt()
