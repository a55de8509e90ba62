"""Typed words that meet a safety screen, and the buttons that follow: before anything else.

``screen`` reads every typed message (and a command's words) before it is taken as an answer, at
any step, for any intake state: crisis words get the screen's text at once, in the language they
were written in, then a choice to carry on with the questions where the person was, or to stop
(to the screen's outcome). The screen's flag is raised, so the intake is urgent for staff, and
the message row notes which screen it met. Before consent the words are not kept: the transcript
says only that crisis words were typed. Ambiguous words get the screen's yes/no question first;
only a Yes counts.

The screen's buttons are answered whatever the conversation's revision and on a finished intake
too: a Yes to "are you having thoughts of ending your life?" is never "stale". Their argument is
``screen:language`` (the language the words were written in), so what follows a press is in the
same language as the question it answers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.channels.telegram import render
from bot.channels.telegram.events import Event
from bot.channels.telegram.render import Action, Press
from bot.engine import Screened
from bot.safety import normalise

if TYPE_CHECKING:
    from bot.channels.telegram.turn import TurnState

#: The screen's buttons (``presses.press`` hands them here before any staleness check).
ACTIONS = frozenset({Action.SAFE_YES, Action.SAFE_NO, Action.CARRY_ON, Action.STOP})


def screen(turn: TurnState, text: str) -> bool:
    """Read ``text`` for the flow's safety screens; True when it met one and was answered here."""
    found = turn.engine.screen(turn.lang, text)
    if found is None:
        return False
    turn.ensure_intake()  # a first message begins the intake: staff must be able to see it
    assert turn.intake is not None and turn.conv is not None
    consented = turn.conv.consent is not None
    if found.ask_first:
        turn.in_text = text if consented else turn.msg("consent_needed")
    else:
        turn.in_text = text if consented else turn.msg("crisis_words_typed")
    turn.in_screened = {"screen": found.screen, "ask_first": found.ask_first}
    if found.ask_first:
        ask(turn, found)
    else:
        crisis(turn, found)
    # Only now the question's buttons come off (it comes back with "carry on"): the screen's
    # words are the first message the person gets.
    turn.close_prompt(None)
    return True


def ask(turn: TurnState, found: Screened) -> None:
    """The screen's yes/no question; it stays open (``Conversation.screen_asked``) until answered,
    by a button or typed: a typed "no" must never answer the step's question instead."""
    assert turn.intake is not None and turn.conv is not None
    lang = found.language
    turn.conv.screen_asked = found.screen
    turn.say(found.text or "", _buttons(turn, found, ((Action.SAFE_YES, "yes"), (Action.SAFE_NO, "no")), lang))


def answer_typed(turn: TurnState, text: str) -> bool:
    """A typed message while a screen's question is open: its answer (True when taken here). Yes
    and No in any language of the flow, or the buttons' words; anything else asks it again."""
    conv = turn.conv
    if conv is None or conv.screen_asked is None:
        return False
    engine, screen_id = turn.engine, conv.screen_asked
    said = normalise(text).strip()
    labels = {
        normalise(engine.message(lang, key)).strip(): key for lang in engine.flow.languages for key in ("yes", "no")
    }
    answer = labels.get(said) or ("yes" if said in _YES else "no" if said in _NO else None)
    turn.in_screened = {"screen": screen_id, "ask_first": True}
    if answer is None:
        found = engine.screens.question(screen_id, turn.lang)
        if found is None:  # the flow lost the screen: nothing is open any more
            conv.screen_asked = None
            return False
        ask(turn, found)
        return True
    conv.screen_asked = None
    if answer == "no":
        turn.say(turn.msg("safety_not_now"))
        turn.reprompt()
        return True
    found = engine.screens.confirmed(screen_id, turn.lang)
    if found is None:
        turn.reprompt()
        return True
    turn.in_screened = {"screen": found.screen, "ask_first": False}
    crisis(turn, found)
    return True


#: Typed answers to a screen's yes/no question, as ``normalise`` leaves them (doubled letters
#: written once), besides the buttons' own words.
_YES = frozenset({"yes", "y", "yeah", "yea", "yep", "yup", "ja", "j", "jo", "jep", "jawohl"})
_NO = frozenset({"no", "n", "nope", "nah", "not realy", "nein", "ne", "noe"})


def crisis(turn: TurnState, found: Screened) -> None:
    """The screen's text first; then the choice, or (after an ending, or when the screen ends the
    intake at once) the ending."""
    assert turn.intake is not None and turn.conv is not None
    engine = turn.engine
    was_finished = engine.finished(turn.conv)
    engine.screened(turn.conv, found)
    if found.flag in engine.urgent_marks:  # on the intake's record for good, as an urgent ending is
        engine.mark_urgent_shown(turn.conv, found.flag, turn.now.isoformat())
    if found.text is None:
        turn.show_prompt()  # a screen without text of its own: its ending (now, or the one reached)
    elif was_finished:
        turn.say(found.text)  # no questions left to carry on with
    else:
        choices = ((Action.CARRY_ON, "safety_carry_on"), (Action.STOP, "safety_stop"))
        turn.say(found.text, _buttons(turn, found, choices, found.language))


def press(turn: TurnState, event: Event, pressed: Press) -> None:
    """One of the screen's buttons, at any revision; the buttons come off the message pressed."""
    assert turn.intake is not None and turn.conv is not None
    engine, conv = turn.engine, turn.conv
    screen_id, _, lang = pressed.arg.partition(":")
    lang = lang if lang in engine.flow.languages else turn.lang
    turn.result.toast = None
    if event.message_id is not None:
        turn.outs.append(render.edit_keyboard(None, message_id=event.message_id))
    if pressed.action in (Action.SAFE_YES, Action.SAFE_NO):
        conv.screen_asked = None  # answered
    if pressed.action is Action.SAFE_YES:
        found = engine.screens.confirmed(screen_id, lang)
        if found is None:
            turn.reprompt()
            return
        turn.in_screened = {"screen": found.screen, "ask_first": False}
        crisis(turn, found)
    elif pressed.action is Action.SAFE_NO:
        turn.say(engine.message(lang, "safety_not_now"))
        turn.reprompt()
    elif pressed.action is Action.CARRY_ON:
        turn.reprompt()
    elif engine.stop(conv, screen_id).accepted:  # STOP: to the screen's ending
        turn.show_prompt()
    elif engine.finished(conv):
        turn.say_finished()
    else:
        turn.say(engine.message(lang, "safety_stopped"))


def _buttons(turn: TurnState, found: Screened, choices: tuple[tuple[Action, str], ...], lang: str) -> render.Keyboard:
    assert turn.intake is not None and turn.conv is not None
    return [
        [
            {
                "text": turn.engine.message(lang, key),
                "data": render.callback(turn.intake.id, turn.conv.revision, action, f"{found.screen}:{lang}"),
            }
        ]
        for action, key in choices
    ]
