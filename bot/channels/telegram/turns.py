"""One turn of a Telegram conversation: input -> engine -> one transaction (state, transcript, outbox).

Nothing here talks to Telegram. A turn reads the chat's current intake, lets the engine decide,
renders the replies, and writes the input, the new state and the replies in one transaction (or
as one caller's part of a group's transaction: ``bot.store.group``). The caller sends the replies only
once that has committed, so a crash between committing and sending loses nothing, and a
redelivered update (same ``update_id``) is refused by the store as a duplicate.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from bot.channels.telegram import render
from bot.channels.telegram.recent import Recent
from bot.engine import Effect, Engine, Prompt
from bot.engine.conversation import Conversation
from bot.flow import model
from bot.store import Duplicate, Intake, Outgoing, Stale, Store, Tx, utcnow

FINISHED = ("completed", "declined")
#: A turn begun from a stale copy in memory is run once more, from the store.
ATTEMPTS = 2


@dataclass(frozen=True)
class Chat:
    """Who wrote: a private chat and its Telegram user."""

    id: int
    user_id: int | None = None
    first_name: str | None = None
    last_name: str | None = None
    username: str | None = None
    language_code: str | None = None


@dataclass(frozen=True)
class Event:
    """What the person did: typed text, a command, a button press, or sent something else."""

    kind: str  # text | command | press | other
    text: str = ""  # the typed text, or a command's argument
    command: str = ""  # without the slash, lower-case
    data: str | None = None  # callback data of a pressed button
    label: str = ""  # the pressed button's text, for the transcript
    message_id: int | None = None  # the message whose button was pressed
    what: str = ""  # for "other": sticker, photo, voice, ...


@dataclass
class TurnResult:
    toast: str | None = None  # the answer to a callback query
    duplicate: bool = False
    direct: list[dict[str, Any]] = field(default_factory=list)  # replies to send without storing
    outgoing: list[Outgoing] = field(default_factory=list)  # the replies stored, to send once committed
    erased: bool = False  # everything of the chat was erased (/delete): nothing of it may be sent


class Turns:
    """Applies one update at a time for a chat (the caller keeps each chat's updates in order)."""

    def __init__(
        self,
        engine: Engine,
        store: Store,
        clock: Callable[[], datetime] = utcnow,
        notify_completion: bool = False,
        retention_days: int | None = None,
    ):
        self.engine = engine
        self.store = store
        #: how long intakes are kept after the last activity (None: until deleted), for /privacy
        self.retention_days = retention_days
        #: queue each completed intake for the clinic's webhook (when one is configured)
        self.notify_completion = notify_completion
        self.renderer = render.Renderer(engine)
        self.clock = clock
        self.recent = Recent()

    def apply(self, update_id: int | None, chat: Chat, event: Event) -> TurnResult:
        """One update in a transaction of its own."""
        for attempt in range(ATTEMPTS):
            try:
                with self.store.transaction() as tx:
                    return self.apply_in(tx, update_id, chat, event)
            except Duplicate:
                return TurnResult(duplicate=True)
            except Stale:
                if attempt == ATTEMPTS - 1:
                    raise
        raise AssertionError("unreachable")

    def apply_in(self, tx: Tx, update_id: int | None, chat: Chat, event: Event) -> TurnResult:
        """One update within ``tx``; raises Duplicate (write nothing more) for an update seen before,
        and Stale when the caller must roll back and run it again (it will then read the store)."""
        kept = self.recent.take(chat.id)
        turn = _Turn(self, tx, chat, self.clock(), update_id)
        try:
            turn.run(event, kept)
            turn.commit()
        except Duplicate:
            raise
        except Exception as err:
            if kept is None:
                raise
            # Begun from the copy kept in memory: whatever went wrong (the intake was erased or
            # marked abandoned meanwhile, or anything else), try once more from the store.
            raise Stale(chat.id) from err
        self._keep(tx, turn)
        return turn.result

    def _keep(self, tx: Tx, turn: _Turn) -> None:
        """Keep the chat's intake in memory as this turn leaves it, once (and only if) it commits."""
        intake, conv = turn.intake, turn.conv
        if intake is not None and conv is not None:
            tx.on_commit(lambda: self.recent.put(intake.chat_id, intake, conv))

    def remind(self, intake_id: int, quiet_since: datetime) -> TurnResult:
        """Send one reminder to an intake quiet since ``quiet_since``, with its current question again."""
        with self.store.transaction() as tx:
            return self.remind_in(tx, intake_id, quiet_since)

    def remind_in(self, tx: Tx, intake_id: int, quiet_since: datetime) -> TurnResult:
        intake = tx.intake(intake_id)
        if intake is None or intake.status != "in_progress" or intake.reminded_at is not None:
            return TurnResult()
        if intake.updated_at >= quiet_since:  # the person wrote meanwhile
            return TurnResult()
        self.recent.take(intake.chat_id)  # this write moves the intake on: a copy kept would be stale
        turn = _Turn(self, tx, Chat(intake.chat_id), self.clock(), None)
        turn.load(intake)
        turn.say(self.engine.message(turn.lang, "reminder"))
        turn.show_prompt()
        intake.reminded_at = turn.now
        turn.commit(activity=False)
        self._keep(tx, turn)
        return turn.result


class _Turn:
    """The working state of one turn."""

    def __init__(self, turns: Turns, tx: Tx, chat: Chat, now: datetime, update_id: int | None):
        self.turns = turns
        self.engine = turns.engine
        self.renderer = turns.renderer
        self.notify_completion = turns.notify_completion
        self.tx = tx
        self.chat = chat
        self.now = now
        self.update_id = update_id
        self.intake: Intake | None = None
        self.conv: Conversation | None = None
        self.in_text = ""
        self.in_kind = "text"
        self.outs: list[dict[str, Any]] = []
        self.result = TurnResult()
        self.new_prompt: int | None = None  # index in outs of the message showing the step's buttons
        self.prompt_shown = False

    @property
    def lang(self) -> str:
        if self.conv is not None:
            return self.conv.language
        return self.engine.language_for(self.chat.language_code)

    def msg(self, key: str, **values: Any) -> str:
        return self.engine.message(self.lang, key, **values)

    # --- loading and saving ------------------------------------------------------------------

    def load(self, intake: Intake | None) -> None:
        self.intake = intake
        self.conv = Conversation.from_dict(intake.state) if intake is not None else None

    def begin_intake(self, source: str | None) -> None:
        """A new intake for this chat (the first, or after a finished one)."""
        language = self.conv.language if self.conv is not None else self.engine.language_for(self.chat.language_code)
        conv = self.engine.start(language)
        chat = self.chat
        intake = Intake(
            id=0,
            chat_id=chat.id,
            user_id=chat.user_id,
            first_name=chat.first_name,
            last_name=chat.last_name,
            username=chat.username,
            flow_id=self.engine.flow.id,
            flow_version=self.engine.flow.version,
            language=conv.language,
            source=(source or "")[:64] or None,
            status="in_progress",
            state=conv.to_dict(),
            created_at=self.now,
            updated_at=self.now,
        )
        self.intake = self.tx.create_intake(intake)
        self.conv = conv

    def commit(self, activity: bool = True) -> None:
        intake, conv = self.intake, self.conv
        if intake is None or conv is None:
            # Nothing is stored about this person: answer without keeping anything.
            self.result.direct += self.outs
            self.outs = []
            return
        recorded = self.update_id is not None or self.in_text
        rows = self.tx.record_turn(
            intake.id,
            intake.chat_id,
            self.update_id,
            self.in_text if recorded else None,
            self.in_kind,
            self.outs,
            self.now,
        )
        self.result.outgoing += rows
        if self.new_prompt is not None and self.new_prompt < len(rows):
            intake.prompt_message_id = rows[self.new_prompt].id
        self._sync(intake, conv, activity)
        self.tx.save_intake(intake)

    def _sync(self, intake: Intake, conv: Conversation, activity: bool) -> None:
        engine = self.engine
        intake.state = conv.to_dict()
        intake.language = conv.language
        intake.flags = list(conv.flags)
        intake.urgent = not engine.urgent_flags.isdisjoint(conv.flags)
        if conv.consent:
            intake.consent_version = conv.consent["version"]
            intake.consented_at = intake.consented_at or self.now
        else:
            intake.consent_version = intake.consented_at = None
        if engine.finished(conv):
            declined = engine.consent_id is not None and conv.answers.get(engine.consent_id) == "decline"
            status = "declined" if declined else "completed"
            if intake.status not in FINISHED:
                intake.completed_at = self.now
                if status == "completed" and self.notify_completion:
                    self.tx.queue_completion(intake.id, self.now)
            intake.status = status
            intake.outcome = conv.state
        else:
            intake.status, intake.outcome, intake.completed_at = "in_progress", None, None
        if activity:
            intake.updated_at = self.now
            intake.reminded_at = None

    # --- output --------------------------------------------------------------------------------

    def say(self, text: str, keyboard: render.Keyboard | None = None) -> None:
        chunks = render.split_text(text)
        self.outs += [render.send(c) for c in chunks[:-1]]
        self.outs.append(render.send(chunks[-1], keyboard))

    def prompt(self) -> Prompt:
        assert self.conv is not None
        return self.engine.view(self.conv)

    def show_prompt(self, *, error: str | None = None, help: bool = False) -> None:
        """Send the current step (its buttons become the live ones; the old ones are removed)."""
        assert self.intake is not None
        self.close_prompt(None)
        prompt = self.prompt()
        messages = self.renderer.prompt_messages(prompt, self.intake.id, self.lang, error=error, help=help)
        self.outs += messages
        self.new_prompt = len(self.outs) - 1 if prompt.kind != "outcome" else None
        if prompt.kind == "outcome":
            self.intake.prompt_message_id = None
        self.prompt_shown = True

    def close_prompt(self, answer: str | None, before: Prompt | None = None, message_id: int | None = None) -> None:
        """Take the buttons off the message that showed the last step, showing the answer given."""
        intake = self.intake
        if intake is None or self.prompt_shown:
            return
        target = None if message_id is not None else intake.prompt_message_id
        if target is None and message_id is None:
            return
        if answer is not None and before is not None:
            text = self.renderer.answered_text(before, self.lang, answer)
            self.outs.append(render.edit(text, target=target, message_id=message_id))
        else:
            self.outs.append(render.edit_keyboard(None, target=target, message_id=message_id))
        intake.prompt_message_id = None

    # --- the turn -----------------------------------------------------------------------------

    def run(self, event: Event, kept: tuple[Intake, Conversation] | None = None) -> None:
        if kept is not None:
            self.intake, self.conv = kept
        else:
            self.load(self.tx.current_intake(self.chat.id))
        self.in_kind = event.kind
        if event.kind == "command":
            self.in_text = f"/{event.command}" + (f" {event.text}" if event.text else "")
            handler = getattr(self, f"on_{event.command}", None)
            if handler is None or event.command not in COMMANDS:
                self.on_unknown()
            else:
                handler(event)
        elif event.kind == "press":
            self.in_text = event.label or "(button)"
            self.on_press(event)
        elif event.kind == "text":
            self.on_text(event)
        else:
            self.in_text = f"[{event.what or 'message'}]"
            self.on_other()

    def ensure_intake(self, source: str | None = None, anew: bool = False) -> bool:
        """Make sure the chat has an intake, a new one after a finished one when ``anew`` (only
        /start and /restart begin again: a message after an ending must not); True when one was
        just begun."""
        if self.intake is None or (anew and self.intake.status in FINISHED):
            self.begin_intake(source)
            return True
        return False

    def on_start(self, event: Event) -> None:
        if self.ensure_intake(event.text.strip() or None, anew=True):
            self.show_prompt()
            return
        self.say(self.msg("resumed"))
        self.show_prompt()

    def on_restart(self, event: Event) -> None:
        if self.ensure_intake(anew=True):
            self.show_prompt()
            return
        assert self.intake is not None and self.conv is not None
        turn = self.conv.turn
        self.say(
            self.msg("restart_confirm"),
            [
                [{"text": self.msg("restart_yes"), "data": render.callback(self.intake.id, turn, "R")}],
                [{"text": self.msg("keep_going"), "data": render.callback(self.intake.id, turn, "X")}],
            ],
        )

    def on_back(self, event: Event | None = None, message_id: int | None = None) -> None:
        if self.intake is not None and self.intake.status in FINISHED and self.conv is not None:
            # An early ending (a mistaken tap on "Under 18", say) can be undone; an intake
            # confirmed at the summary is finished for good: /restart begins a new one.
            if any(isinstance(self.engine.steps[s], model.SummaryStep) for s in self.conv.path):
                self.say_finished()
                return
        elif self.ensure_intake():
            self.show_prompt()
            return
        assert self.conv is not None
        turn = self.engine.back(self.conv)
        if not turn.accepted:
            self.say(turn.error or "")
            return
        self.close_prompt(None, message_id=message_id)
        self.show_prompt()

    def on_help(self, event: Event) -> None:
        self.say(self.msg("help"))
        self.reprompt()

    def on_privacy(self, event: Event) -> None:
        days = self.turns.retention_days
        retention = self.msg("retention_days", days=days) if days else self.msg("retention_off")
        self.say(self.msg("privacy", retention=retention))
        self.reprompt()

    def on_myanswers(self, event: Event) -> None:
        lines = self.engine.summary(self.conv) if self.conv is not None else ()
        if not lines:
            self.say(self.msg("no_answers"))
        else:
            self.say(self.msg("my_answers") + "\n\n" + "\n".join(f"• {x.question}\n    → {x.answer}" for x in lines))
        self.reprompt()

    def on_human(self, event: Event) -> None:
        self.ensure_intake()
        assert self.intake is not None
        self.intake.human_requested_at = self.now
        self.say(self.msg("human_requested"))
        self.reprompt()

    def on_language(self, event: Event) -> None:
        self.ensure_intake()
        assert self.intake is not None and self.conv is not None
        code = event.text.strip().lower()
        if code in self.engine.flow.languages:
            self.switch_language(code)
            return
        rows = [
            [
                {
                    "text": self.engine.message(lang, "language_name"),
                    "data": render.callback(self.intake.id, 0, "L", lang),
                }
            ]
            for lang in self.engine.flow.languages
        ]
        self.say(self.msg("choose_language"), rows)

    def on_delete(self, event: Event) -> None:
        if self.intake is None:
            self.result.direct.append(render.send(self.msg("nothing_stored")))
            return
        assert self.conv is not None
        turn = self.conv.turn
        self.say(
            self.msg("delete_confirm"),
            [
                [{"text": self.msg("delete_yes"), "data": render.callback(self.intake.id, turn, "D")}],
                [{"text": self.msg("keep_going"), "data": render.callback(self.intake.id, turn, "X")}],
            ],
        )

    def on_unknown(self) -> None:
        if self.ensure_intake():
            self.show_prompt()
            return
        self.say(self.msg("unknown_command"))
        self.reprompt()

    def on_other(self) -> None:
        if self.ensure_intake():
            self.show_prompt()
            return
        if self.conv is not None and self.engine.finished(self.conv):
            self.say_finished()
            return
        self.say(self.msg("unsupported"))
        self.reprompt()

    def say_finished(self) -> None:
        """After an ending: an urgent one is shown again (someone writing after being told to get
        help now, or given crisis lines, needs that message, not a formality); otherwise say the
        questionnaire is finished and how to begin again."""
        step = self.engine.step(self.conv) if self.conv is not None else None
        if isinstance(step, model.OutcomeStep) and step.urgent:
            self.show_prompt()
            return
        self.say(self.msg("finished"))

    def reprompt(self) -> None:
        """Show the current question again, so a detour never loses the person's place."""
        if self.intake is None or self.conv is None:
            return
        if self.engine.finished(self.conv):
            self.say_finished()
            return
        self.show_prompt()

    def on_text(self, event: Event) -> None:
        consented = self.conv is not None and self.conv.consent is not None
        self.in_text = event.text if consented else self.msg("consent_needed")
        if self.ensure_intake():
            self.show_prompt()
            return
        assert self.conv is not None
        if self.engine.finished(self.conv):
            self.say_finished()
            return
        before = self.prompt()
        step = self.engine.step(self.conv)
        turn = self.engine.reply(self.conv, event.text, now=self.now.isoformat())
        if turn.accepted and isinstance(step, model.ConsentStep):
            self.in_text = self.engine.display(step, self.conv.answers.get(step.id), self.lang)
        self.after_answer(turn, before, step)

    def after_answer(self, turn: Effect, before: Prompt, step: Any, message_id: int | None = None) -> None:
        assert self.conv is not None
        if not turn.accepted:
            self.show_prompt(error=turn.error, help=turn.help)
            return
        answer = None
        if step.id in self.conv.answers and not isinstance(step, model.ConsentStep | model.InfoStep):
            answer = self.engine.display(step, self.conv.answers[step.id], self.lang)
        elif isinstance(step, model.ConsentStep):
            answer = self.engine.display(step, self.conv.answers.get(step.id), self.lang)
        elif isinstance(step, model.SummaryStep):
            answer = self.engine.message(self.lang, "confirm")
        self.close_prompt(answer, before, message_id)
        self.show_prompt()

    # --- button presses ------------------------------------------------------------------------

    def on_press(self, event: Event) -> None:
        press = render.parse_callback(event.data)
        intake, conv = self.intake, self.conv
        if press is not None and press.action == "L" and intake is not None and press.intake_id == intake.id:
            self.result.toast = (
                self.engine.message(press.arg, "language_name") if press.arg in self.engine.messages else None
            )
            if press.arg in self.engine.flow.languages and intake.status not in FINISHED:
                self.outs.append(render.edit_keyboard(None, message_id=event.message_id))
                self.switch_language(press.arg)
            return
        if press is None or intake is None or conv is None or press.intake_id != intake.id or press.turn != conv.turn:
            self.stale(event)
            return
        if intake.status in FINISHED and press.action not in ("D", "X"):  # erasing is always possible
            self.stale(event)
            return
        before = self.prompt()
        step = self.engine.step(conv)
        action, arg = press.action, press.arg
        if action == "X":
            self.result.toast = self.msg("cancelled")
            self.outs.append(render.edit(self.cancelled_text(event), message_id=event.message_id))
            return
        if action == "R":
            self.engine.restart(conv)
            self.outs.append(
                render.edit(f"{self.msg('restart_confirm')}\n\n✓ {event.label}", message_id=event.message_id)
            )
            self.show_prompt()
            return
        if action == "D":
            self.delete(event)
            return
        if action == "t":
            turn = self.engine.toggle(conv, arg)
            if turn.accepted:
                keyboard = self.renderer.keyboard(self.prompt(), intake.id, self.lang)
                self.outs.append(render.edit_keyboard(keyboard, message_id=event.message_id))
            else:
                self.result.toast = turn.error
            return
        self.result.toast = None
        if action == "b":
            self.on_back(message_id=event.message_id)
            return
        if action == "e":
            turn = self.engine.change(conv, arg)
        elif action == "d":
            turn = self.engine.submit_selection(conv)
        elif action == "s":
            turn = self.engine.skip(conv)
        elif action == "k":
            turn = self.engine.choose(conv, "confirm")
        elif action == "n":
            turn = self.engine.choose(conv, "continue")
        elif action == "c":
            turn = self.engine.choose(conv, arg, now=self.now.isoformat())
        else:
            self.stale(event)
            return
        if not turn.accepted and action in ("d", "s"):
            self.result.toast = turn.error  # keep the selection; a toast says what is missing
            return
        if action == "e":
            self.close_prompt(None, message_id=event.message_id)
            self.show_prompt()
            return
        self.after_answer(turn, before, step, message_id=event.message_id)

    def stale(self, event: Event) -> None:
        self.result.toast = self.msg("stale_button")
        if event.message_id is not None:
            self.outs.append(render.edit_keyboard(None, message_id=event.message_id))
        if self.intake is not None and self.intake.status not in FINISHED:
            self.show_prompt()
        elif self.intake is not None:  # say where they stand: done, and how to begin again
            self.say_finished()
        else:
            self.result.direct, self.outs = [render.edit_keyboard(None, message_id=event.message_id)], []

    def cancelled_text(self, event: Event) -> str:
        return f"{self.msg('cancelled')}"

    def switch_language(self, code: str) -> None:
        assert self.conv is not None
        self.engine.set_language(self.conv, code)
        self.show_prompt()

    def delete(self, event: Event) -> None:
        """Erase everything stored for this chat; the confirmation is sent without storing it."""
        lang = self.lang
        self.tx.delete_chat(self.chat.id)
        self.intake = self.conv = None
        self.outs = []
        self.result.erased = True
        self.result.direct = [
            render.edit(self.engine.message(lang, "deleted"), message_id=event.message_id)
            if event.message_id is not None
            else render.send(self.engine.message(lang, "deleted"))
        ]


COMMANDS = ("start", "restart", "back", "help", "privacy", "myanswers", "delete", "language", "human")
