"""One turn's working state: the chat, its intake and conversation, the replies decided so far.

A turn is one update applied to a chat (or one reminder). ``TurnState.run`` hands the event to
what the person did: a command (``commands.py``), a button (``presses.py``), typed text or
something else (``typed.py``); those decide with the engine and say what to show through the
output methods here. ``commit`` then writes the input, the replies and the new state in the
turn's transaction. Nothing here talks to Telegram.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from bot.channels.telegram import commands, presses, render, safety, talk, typed
from bot.channels.telegram.events import Chat, Event, EventKind
from bot.channels.telegram.replies import Reply
from bot.engine import Conversation, Effect, Ending, Prompt, PromptKind
from bot.flow import booking, model
from bot.store import FINISHED, Intake, IntakeStatus, Outgoing, Tx, alerts

if TYPE_CHECKING:
    from bot.channels.telegram.runner import TurnRunner


def funnel_questions(engine: Any) -> list[str]:
    """The flow's steps but its endings, in order: the funnel tells the steps skip logic hid by them."""
    return [s.id for s in engine.flow.steps if not isinstance(s, model.OutcomeStep)]


@dataclass
class TurnResult:
    """What a turn leaves for the channel to do once it has committed."""

    toast: str | None = None  # the answer to a callback query
    duplicate: bool = False
    direct: list[Reply] = field(default_factory=list)  # replies to send without storing
    outgoing: list[Outgoing] = field(default_factory=list)  # the replies stored, to send once committed
    erased: bool = False  # everything of the chat was erased (/delete): nothing of it may be sent


class TurnState:
    """The working state of one turn."""

    def __init__(self, runner: TurnRunner, tx: Tx, chat: Chat, now: datetime, update_id: int | None):
        self.runner = runner
        self.engine = runner.engine
        self.renderer = runner.renderer
        self.notify_completion = runner.notify_completion
        self.tx = tx
        self.chat = chat
        self.now = now
        self.update_id = update_id
        self.intake: Intake | None = None
        self.conv: Conversation | None = None
        self.in_text = ""
        self.in_kind = EventKind.TEXT
        self.in_screened: dict[str, Any] | None = None  # the safety screen the input met, for staff
        self.in_talk: int | None = None  # the input is typed words in this talk with the clinic
        self.talk_opened: int | None = None  # a talk this turn opened (/human): staff are alerted
        self.outs: list[Reply] = []
        self.result = TurnResult()
        self.new_prompt: int | None = None  # index in outs of the message showing the step's buttons
        self.prompt_shown = False
        self.fitted = False  # the conversation was checked against the flow (``fit``)
        self.moved = False  # ... and the person's place moved: the flow was edited under them
        #: the intake's urgent mark as the turn found it (an alert is raised when the turn sets it)
        self.urgent_before: frozenset[str] = frozenset()  # the urgent flags up as the turn began

    @property
    def lang(self) -> str:
        if self.conv is not None:
            return self.conv.language
        return self.engine.language_for(self.chat.language_code)

    def msg(self, key: str, **values: Any) -> str:
        return self.engine.message(self.lang, key, **values)

    # --- loading and saving -------------------------------------------------------------------

    def bind(self, intake: Intake | None) -> None:
        """Run the turn with the engine of the flow version ``intake`` began on (the current one
        for an intake of a version not known: ``fit`` fits it to that). Looked up in memory: the
        store is read once per process for each earlier version met (``bot.engine.engines``)."""
        if intake is not None:
            engines = self.runner.engines
            self.engine = engines.for_intake(intake)
            self.renderer = engines.part(self.engine, render.Renderer)

    def load(self, intake: Intake | None) -> None:
        """The intake and its conversation as stored (``fit`` makes it fit the flow)."""
        self.bind(intake)
        self.intake = intake
        self.conv = Conversation.from_dict(intake.state) if intake is not None else None
        self.urgent_before = self._urgent_flags(intake)

    def fit(self) -> bool:
        """Fit the conversation read from the store to its engine: its own version's it always
        fits; the current one (an intake of a version not known) may have been edited since it
        was stored (``Engine.recover``). When the person's place moved, say so kindly before
        anything else. True when it moved."""
        if self.fitted or self.intake is None or self.conv is None:
            return self.moved
        self.fitted = True
        self.moved = self.engine.recover(self.conv, ended=self.intake.status in FINISHED)
        if self.moved:
            self.say(self.msg("flow_changed"))
        return self.moved

    def begin_intake(self, source: str | None) -> None:
        """A new intake for this chat (the first, or after a finished one), on the newest flow version."""
        language = self.conv.language if self.conv is not None else self.engine.language_for(self.chat.language_code)
        self.engine = engine = self.runner.engines.current
        self.renderer = self.runner.renderer
        conv = engine.start(language)
        chat = self.chat
        intake = Intake(
            id=0,
            chat_id=chat.id,
            user_id=chat.user_id,
            first_name=chat.first_name,
            last_name=chat.last_name,
            username=chat.username,
            flow_id=engine.flow.id,
            flow_version=engine.flow.version,
            flow_hash=engine.hash,
            language=conv.language,
            source=(source or "")[:64] or None,
            status=IntakeStatus.IN_PROGRESS,
            state=conv.to_dict(),
            created_at=self.now,
            updated_at=self.now,
        )
        self.intake = self.tx.create_intake(intake)
        self.conv = conv
        self.urgent_before = frozenset()
        self.fitted = True  # begun on this flow

    def ensure_intake(self, source: str | None = None, anew: bool = False) -> bool:
        """Make sure the chat has an intake, a new one after a finished one when ``anew`` (only
        /start and /restart begin again: a message after an ending must not); True when one was
        just begun."""
        if self.intake is None or (anew and self.intake.status in FINISHED):
            self.begin_intake(source)
            return True
        return False

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
            [reply.payload() for reply in self.outs],
            self.now,
            self.in_screened,
            self.in_talk,
        )
        self.result.outgoing += rows
        if self.new_prompt is not None and self.new_prompt < len(rows):
            intake.prompt_message_id = rows[self.new_prompt].id
        severity = intake.severity
        before = intake.state  # as stored: ``_sync`` replaces it
        self._sync(intake, conv, activity)
        questions = self.runner.engines.part(self.engine, funnel_questions)
        self.tx.record_steps(intake, before, intake.state, self.now, questions)
        # the severity only when the flags changed it: rewriting its index entry every turn cost
        # 40-70 µs a saved turn at 100,000 intakes (SQLite rewrites an index entry it SETs)
        self.tx.save_intake(intake, ranked=intake.severity != severity)

    def _sync(self, intake: Intake, conv: Conversation, activity: bool) -> None:
        engine = self.engine
        intake.state = conv.to_dict()
        chat = self.chat
        if chat.user_id is not None:  # the person's turn (not a reminder's): their profile as it is now
            intake.first_name, intake.last_name, intake.username = chat.first_name, chat.last_name, chat.username
        intake.language = conv.language
        intake.flags = list(conv.flags)
        intake.severity = engine.severity_of(conv.flags)
        intake.urgent = not engine.urgent_marks.isdisjoint(conv.flags)  # a screen's flag too
        if conv.urgent_shown:  # only ever set: changing the answer afterwards leaves the intake pinned
            at = conv.urgent_shown[-1].get("at")
            intake.urgent_shown_at = datetime.fromisoformat(at) if at else intake.urgent_shown_at or self.now
        completed = False
        if conv.consent:
            intake.consent_version = conv.consent["version"]
            intake.consented_at = intake.consented_at or self.now
        else:
            intake.consent_version = intake.consented_at = None
        if conv.state not in engine.steps:
            pass  # a step the flow no longer has, left by a turn that needed no flow (/delete): the status stands
        elif engine.finished(conv):
            # Declined, or never given (an ending reached before consent: crisis words, "stop"):
            # not a completed intake, so no completion webhook and no "completed" alert.
            declined = engine.consent_id is not None and not conv.consent
            status = IntakeStatus.DECLINED if declined else IntakeStatus.COMPLETED
            if intake.status not in FINISHED:
                intake.completed_at = self.now
                completed = status == IntakeStatus.COMPLETED
                if completed and self.notify_completion:
                    self.tx.queue_completion(intake.id, self.now)
            intake.status = status
            intake.outcome = conv.state
        else:
            intake.status, intake.outcome, intake.completed_at = IntakeStatus.IN_PROGRESS, None, None
        if activity:
            intake.updated_at = self.now
            intake.reminded_at = None
        self._queue_alerts(intake, completed)

    def _urgent_flags(self, intake: Intake | None) -> frozenset[str]:
        return frozenset(intake.flags) & self.engine.urgent_marks if intake is not None else frozenset()

    def _queue_alerts(self, intake: Intake, completed: bool) -> None:
        """Staff alerts for what this turn did, queued in its transaction (sent by ``bot.jobs.alerts``
        once it has committed). The intake as the turn found it and as it leaves it, whatever made
        the change (an urgent answer, a crisis screen, a mark set anywhere in the turn); the
        store's unique key makes a repeat nothing."""
        rules = self.runner.alerts
        if rules is None:
            return
        events = rules.raised(
            urgent_raised=sorted(self._urgent_flags(intake) - self.urgent_before),
            # set by this turn (/human), with no talk open: a talk alerts once, as it opens
            asked_for_human=intake.human_requested_at == self.now and intake.talk_id is None,
            talk_opened=self.talk_opened,
            completed=completed,
            flags=intake.flags,
        )
        if events:
            alerts.queue(self.tx, intake.id, events, rules.channels, self.now)

    # --- output -------------------------------------------------------------------------------

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
        link = self.booking_link(prompt.ending) if prompt.ending is not None else None
        messages = self.renderer.prompt_messages(
            prompt, self.intake.id, self.lang, error=error, help=help, booking=link
        )
        self.outs += messages
        self.new_prompt = len(self.outs) - 1 if prompt.kind != PromptKind.OUTCOME else None
        if prompt.kind == PromptKind.OUTCOME:
            self.intake.prompt_message_id = None
        self.prompt_shown = True

    def booking_link(self, ending: Ending) -> str | None:
        """The booking button's address for this intake at ``ending`` (None: no button). With taps
        recorded, the tracked address, its token made once (the turn stores it with the intake);
        else the booking page with its prefill filled in, and nothing stored."""
        assert self.intake is not None
        offered = ending.booking
        if offered is None:
            return None
        base = self.runner.booking_base
        if base is None:
            intake = self.intake
            name = booking.full_name(intake.first_name, intake.last_name)
            return booking.fill(offered, booking.BookingValues(intake.id, ending.id, self.lang, intake.source, name))
        if self.intake.booking_token is None:
            self.intake.booking_token = booking.new_token()
        return booking.tracked(base, self.intake.booking_token)

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

    def reprompt(self) -> None:
        """Show the current question again, so a detour never loses the person's place."""
        if self.intake is None or self.conv is None:
            return
        if self.engine.finished(self.conv):
            self.say_finished()
            return
        self.show_prompt()

    def say_finished(self) -> None:
        """After an ending: an urgent one is shown again (someone writing after being told to get
        help now, or given crisis lines, needs that message, not a formality); otherwise say the
        questionnaire is finished and how to begin again."""
        step = self.engine.steps.get(self.conv.state) if self.conv is not None else None
        if isinstance(step, model.OutcomeStep) and step.urgent:
            self.show_prompt()
            return
        self.say(self.msg("finished"))

    def after_answer(self, effect: Effect, before: Prompt, step: Any, message_id: int | None = None) -> None:
        assert self.conv is not None
        if not effect.accepted:
            self.show_prompt(error=effect.error, help=effect.help)
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

    def stale(self, event: Event) -> None:
        self.fit()  # a press that needed no flow until it proved stale
        self.result.toast = self.msg("stale_button")
        if event.message_id is not None:
            self.outs.append(render.edit_keyboard(None, message_id=event.message_id))
        if self.intake is not None and self.intake.status not in FINISHED:
            self.show_prompt()
        elif self.intake is not None:  # say where they stand: done, and how to begin again
            self.say_finished()
        else:
            self.result.direct, self.outs = [render.edit_keyboard(None, message_id=event.message_id)], []

    def switch_language(self, code: str) -> None:
        assert self.conv is not None
        self.engine.set_language(self.conv, code)
        if self.conv.state in self.engine.steps:
            self.show_prompt()
        else:  # an ending the flow no longer has: say the intake is finished, in the new language
            self.say_finished()

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

    # --- the turn -----------------------------------------------------------------------------

    def run(self, event: Event, kept: tuple[Intake, Conversation] | None = None) -> None:
        """Apply ``event``: to the intake kept in memory since the chat's last turn, else to the
        chat's current intake in the store."""
        if kept is not None:
            self.bind(kept[0])
            self.intake, self.conv = kept
            self.urgent_before = self._urgent_flags(self.intake)
        else:
            self.load(self.tx.current_intake(self.chat.id))
        self.fitted = kept is not None  # this process made it, with this flow
        if not _needs_no_flow(event):
            self.fit()
        self.in_kind = event.kind
        if event.kind == EventKind.COMMAND:
            self.in_text = f"/{event.command}" + (f" {event.text}" if event.text else "")
            if event.text:  # a command's words are read too ("/delete I want to end it all")
                if _needs_no_flow(event):
                    self.fit()  # the screens work on a conversation the flow knows
                if safety.screen(self, event.text):
                    commands.after_screen(self, event)
                    return
            commands.HANDLERS.get(event.command, commands.unknown)(self, event)
        elif event.kind == EventKind.PRESS:
            self.in_text = event.label or "(button)"
            presses.press(self, event)
        elif event.kind == EventKind.TEXT:
            if talk.is_open(self):  # words for the clinic: the message row says so, screened or not
                self.in_talk = self.intake.talk_id  # type: ignore[union-attr]
            # Before anything else, at any step; then the screen's open question, if one is.
            if safety.screen(self, event.text) or safety.answer_typed(self, event.text):
                return
            if talk.is_open(self):
                talk.to_clinic(self, event)
            else:
                typed.text(self, event)
        else:
            self.in_text = f"[{event.what or 'message'}]"
            if event.text and safety.screen(self, event.text):  # a photo's caption is read too
                return
            if talk.is_open(self):
                self.say(self.msg("talk_text_only"))  # and no question: the patient is talking to a person
            else:
                typed.other(self, event)


#: Erasing and starting over must work whatever state is stored, even one the flow cannot read:
#: these commands and the presses that confirm or cancel them never ask the flow about it.
_NO_FLOW_COMMANDS = frozenset({"delete", "restart"})
_NO_FLOW_PRESSES = frozenset({render.Action.DELETE, render.Action.RESTART, render.Action.CANCEL})


def _needs_no_flow(event: Event) -> bool:
    if event.kind == EventKind.COMMAND:
        return event.command in _NO_FLOW_COMMANDS
    if event.kind == EventKind.PRESS:
        pressed = render.parse_callback(event.data)
        return pressed is not None and pressed.action in _NO_FLOW_PRESSES
    return False
