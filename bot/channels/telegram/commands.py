"""Commands a person typed (``/start``, ``/back``, ``/delete``, ...): one function each.

Each takes the turn's working state (``bot.channels.telegram.turn.TurnState``) and the event;
a command that needs a confirmation (``/restart``, ``/delete``) only asks, and the press of the
confirming button is handled in ``presses.py``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING

from bot.channels.telegram import render, talk
from bot.channels.telegram.events import Event
from bot.channels.telegram.render import Action
from bot.flow import model
from bot.store.records import FINISHED

if TYPE_CHECKING:
    from bot.channels.telegram.turn import TurnState


def start(turn: TurnState, event: Event) -> None:
    if turn.ensure_intake(event.text.strip() or None, anew=True):
        turn.show_prompt()
        return
    turn.say(turn.msg("resumed"))
    turn.show_prompt()


def restart(turn: TurnState, event: Event) -> None:
    if turn.ensure_intake(anew=True):
        turn.show_prompt()
        return
    assert turn.intake is not None and turn.conv is not None
    revision = turn.conv.revision
    turn.say(
        turn.msg("restart_confirm"),
        [
            [{"text": turn.msg("restart_yes"), "data": render.callback(turn.intake.id, revision, Action.RESTART)}],
            [{"text": turn.msg("keep_going"), "data": render.callback(turn.intake.id, revision, Action.CANCEL)}],
        ],
    )


def back(turn: TurnState, event: Event | None = None, message_id: int | None = None, asked: bool = False) -> None:
    """One step back; from an urgent ending only once the person has said yes to changing that
    answer (``asked``: they did)."""
    if turn.intake is not None and turn.intake.status in FINISHED and turn.conv is not None:
        # An early ending (a mistaken tap on "Under 18", say) can be undone; an intake
        # confirmed at the summary is finished for good: /restart begins a new one.
        if any(isinstance(turn.engine.steps[s], model.SummaryStep) for s in turn.conv.path):
            turn.say_finished()
            return
    elif turn.ensure_intake():
        turn.show_prompt()
        return
    assert turn.conv is not None
    flag = None if asked else turn.engine.urgent_at_stake(turn.conv)
    if flag is not None:
        ask_before_urgent_change(turn, flag, Action.BACK_ANYWAY)
        return
    effect = turn.engine.back(turn.conv)
    if not effect.accepted:
        turn.say(effect.error or "")
        return
    turn.close_prompt(None, message_id=message_id)
    turn.show_prompt()


def ask_before_urgent_change(turn: TurnState, flag: str, action: Action, arg: str = "") -> None:
    """A kind yes/no before an urgent answer is left behind (going back from its ending, or
    changing it at the summary): yes does it (``action``), no keeps everything as it is."""
    assert turn.intake is not None and turn.conv is not None
    intake_id, revision = turn.intake.id, turn.conv.revision
    turn.say(
        turn.engine.urgent_change_ask(turn.conv, flag),
        [
            [{"text": turn.msg("urgent_change_yes"), "data": render.callback(intake_id, revision, action, arg)}],
            [{"text": turn.msg("urgent_change_no"), "data": render.callback(intake_id, revision, Action.KEEP, arg)}],
        ],
    )


def help_(turn: TurnState, event: Event) -> None:
    turn.say(turn.msg("help"))
    turn.reprompt()


def expect(turn: TurnState, event: Event) -> None:
    """What to expect from the treatment (the flow's ``what_to_expect``), at any step: a command
    rather than a step, so it is there before consent and after an ending, and stores nothing."""
    about = turn.engine.flow.what_to_expect
    if about is None:
        unknown(turn, event)
        return
    turn.say(turn.engine.texts.text(about, turn.lang))
    turn.reprompt()


def privacy(turn: TurnState, event: Event) -> None:
    days = turn.runner.retention_days
    retention = turn.msg("retention_days", days=days) if days else turn.msg("retention_off")
    turn.say(turn.msg("privacy", retention=retention))
    turn.reprompt()


def myanswers(turn: TurnState, event: Event) -> None:
    lines = turn.engine.summary(turn.conv) if turn.conv is not None else ()
    if not lines:
        turn.say(turn.msg("no_answers"))
    else:
        assert turn.intake is not None and turn.conv is not None
        copy = turn.renderer.copy_row(turn.intake.id, turn.conv.revision, turn.lang)
        turn.say(
            turn.msg("my_answers") + "\n\n" + "\n".join(f"• {x.question}\n    → {x.answer}" for x in lines), [copy]
        )
    turn.reprompt()


#: A tap within this long of a copy sent (or while one waits to go) makes no second file.
COPY_EVERY = timedelta(seconds=30)


def send_copy(turn: TurnState) -> None:
    """A copy of the answers as a PDF (``copies.py`` makes it as it is sent); one on its way at a
    time (the store says so: a turn run again answers the same), so a double tap is one file."""
    assert turn.intake is not None and turn.conv is not None
    if not turn.engine.summary(turn.conv):
        turn.result.toast = turn.msg("no_answers")
        return
    turn.result.toast = turn.msg("copy_coming")
    if not turn.tx.copy_on_its_way(turn.intake.id, turn.now - COPY_EVERY):
        turn.outs.append(render.copy(turn.msg("copy_caption"), turn.intake.id))


def language(turn: TurnState, event: Event) -> None:
    turn.ensure_intake()
    assert turn.intake is not None and turn.conv is not None
    code = event.text.strip().lower()
    if code in turn.engine.flow.languages:
        turn.switch_language(code)
        return
    rows = [
        [
            {
                "text": turn.engine.message(lang, "language_name"),
                "data": render.callback(turn.intake.id, 0, Action.LANGUAGE, lang),
            }
        ]
        for lang in turn.engine.flow.languages
    ]
    turn.say(turn.msg("choose_language"), rows)


def delete(turn: TurnState, event: Event) -> None:
    if turn.intake is None:
        turn.result.direct.append(render.send(turn.msg("nothing_stored")))
        return
    assert turn.conv is not None
    revision = turn.conv.revision
    turn.say(
        turn.msg("delete_confirm"),
        [
            [{"text": turn.msg("delete_yes"), "data": render.callback(turn.intake.id, revision, Action.DELETE)}],
            [{"text": turn.msg("keep_going"), "data": render.callback(turn.intake.id, revision, Action.CANCEL)}],
        ],
    )


def unknown(turn: TurnState, event: Event | None = None) -> None:
    if turn.ensure_intake():
        turn.show_prompt()
        return
    turn.say(turn.msg("unknown_command"))
    turn.reprompt()


def after_screen(turn: TurnState, event: Event) -> None:
    """A command's words met a safety screen (answered in ``safety.screen``): a request for a
    person still stands; any other command waits for the person's choice."""
    if event.command == "human" and turn.intake is not None:
        talk.open_talk(turn)  # after the crisis text, which comes first


#: Every command, in the order of the command menu.
HANDLERS: dict[str, Callable[[TurnState, Event], None]] = {
    "start": start,
    "restart": restart,
    "back": back,
    "help": help_,
    "expect": expect,
    "privacy": privacy,
    "myanswers": myanswers,
    "delete": delete,
    "language": language,
    "human": talk.human,  # a live conversation with the clinic (talk.py)
    "resume": talk.resume,
}
COMMANDS = tuple(HANDLERS)
