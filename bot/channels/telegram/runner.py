"""Running turns: one update of a chat -> engine -> one transaction (state, transcript, outbox).

Nothing here talks to Telegram. A turn (its working state is ``turn.TurnState``) reads the
chat's current intake, lets the engine decide, renders the replies, and writes the input, the
new state and the replies in one transaction (or as one caller's part of a group's transaction:
``bot.store.group``). The caller sends the replies only once that has committed, so a crash
between committing and sending loses nothing, and a redelivered update (the same bot's
``update_id`` within Telegram's redelivery window) is refused by the store as a duplicate.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import datetime

from bot import metrics
from bot.alerts.rules import AlertRules
from bot.channels.telegram import render
from bot.channels.telegram.events import Chat, Event
from bot.channels.telegram.recent import Recent
from bot.channels.telegram.turn import TurnResult, TurnState, funnel_questions
from bot.engine import Engine, Engines
from bot.flow import model
from bot.store import Duplicate, IntakeStatus, Stale, Store, Tx, talks, utcnow
from bot.store.leases import Leases


def fingerprint(chat_id: int, origin: str) -> int:
    """What an update carried, in 56 bits (never the words): a redelivery has the same one."""
    digest = hashlib.blake2b(f"{chat_id}:{origin}".encode(), digest_size=7).digest()
    return int.from_bytes(digest, "big") or 1  # 0 stands for "not known" (migration 0005)


class TurnRunner:
    """Runs turns: one update at a time for a chat (the caller keeps each chat's updates in order)."""

    def __init__(
        self,
        engine: Engine | Engines,
        store: Store,
        clock: Callable[[], datetime] = utcnow,
        notify_completion: bool = False,
        retention_days: int | None = None,
        bot_id: int = 0,
        alerts: AlertRules | None = None,
        booking_base: str | None = None,
        leases: Leases | None = None,
    ):
        #: the engine of each flow version: each intake runs on its own (``TurnState.bind``)
        self.engines = engine if isinstance(engine, Engines) else Engines.single(engine)
        #: the newest version, which new intakes begin on
        self.engine = engine = self.engines.current
        #: several workers on PostgreSQL: a turn claims its chat's replies for this worker
        #: (``bot.store.leases``), and a copy kept in memory is checked against the store first
        self.leases = leases
        self.store = store
        self.funnel_questions = funnel_questions(engine)
        #: the bot's own id (the token's first part): update numbers are the bot's own
        self.bot_id = bot_id
        #: how long intakes are kept after the last activity (None: until deleted), for /privacy
        self.retention_days = retention_days
        #: queue each completed intake for the clinic's webhook (when one is configured)
        self.notify_completion = notify_completion
        #: which events of a turn queue a staff alert (None: alerts are off)
        self.alerts = alerts
        #: where tracked booking addresses begin (PUBLIC_URL); None: the button opens the booking
        #: page itself and nothing is recorded (``TurnState.booking_link``)
        self.booking_base = booking_base
        self.renderer = self.engines.part(engine, render.Renderer)
        self.clock = clock
        self.recent = Recent()

    def apply_in(self, tx: Tx, update_id: int | None, chat: Chat, event: Event) -> TurnResult:
        """One update within ``tx``; raises Duplicate (write nothing more) for an update seen before,
        and Stale when the caller must roll back and run it again (it will then read the store)."""
        now = self.clock()
        if update_id is not None:
            # first: a redelivery costs nothing more
            tx.claim_update(self.bot_id, update_id, fingerprint(chat.id, event.origin), now)
        kept = self.recent.take(chat.id)
        # Another worker may have applied a turn of this chat since this one kept its copy: under
        # the chat's lock (the group took it), the stored version tells.
        if kept is not None and self.leases is not None and tx.intake_version(chat.id) != (kept[0].id, kept[0].version):
            kept = None
        turn = TurnState(self, tx, chat, now, update_id)
        try:
            turn.run(event, kept)
            turn.commit()
            self._outgoing(tx, turn, caught_up=kept is not None)
        except Duplicate:
            raise
        except Exception as err:
            if kept is None:
                raise
            # Begun from the copy kept in memory: whatever went wrong (the intake was erased or
            # marked abandoned meanwhile, or anything else), try once more from the store.
            metrics.turn("stale")
            raise Stale(chat.id) from err
        self._keep(tx, turn)
        return turn.result

    def _outgoing(self, tx: Tx, turn: TurnState, caught_up: bool = False) -> None:
        """What this process sends once the turn commits. Several workers: the chat's sendable
        rows, claimed for this worker (this turn's, after any earlier one nobody holds; none
        while an earlier one is another worker's, whose round or lease decides). One process:
        the turn's rows, after staff messages not sent yet (``_catch_up``)."""
        if self.leases is not None:
            turn.result.outgoing = self.leases.claim(tx.driver, [turn.chat.id])
        elif not caught_up:
            self._catch_up(tx, turn)

    @staticmethod
    def _catch_up(tx: Tx, turn: TurnState) -> None:
        """Messages staff queued for the chat and not sent yet go out before this turn's replies: a
        staff write raises the intake's version, so the turn that follows one reads the intake
        from the store, and only such a turn needs to look (the outbox skips rows it has already;
        one waiting for a retry is left to the retry round)."""
        earlier = talks.unsent_from_staff(tx, turn.chat.id)
        if earlier and all(row.next_try_at is None for row in earlier):
            turn.result.outgoing[:0] = earlier

    def _keep(self, tx: Tx, turn: TurnState) -> None:
        """Keep the chat's intake in memory as this turn leaves it, once (and only if) it commits;
        not a conversation the turn never fitted to the flow (/delete asked, say): the next turn
        reads it from the store and fits it."""
        intake, conv = turn.intake, turn.conv
        if intake is not None and conv is not None and turn.fitted:
            tx.on_commit(lambda: self.recent.put(intake.chat_id, intake, conv))

    def remind_in(self, tx: Tx, intake_id: int, quiet_since: datetime) -> TurnResult:
        intake = tx.intake(intake_id)
        if intake is None or intake.status != IntakeStatus.IN_PROGRESS or intake.reminded_at is not None:
            return TurnResult()
        if intake.talk_id is not None:  # talking with the clinic: a nudge back to the questions would be wrong
            return TurnResult()
        if intake.updated_at >= quiet_since:  # the person wrote meanwhile
            return TurnResult()
        self.recent.take(intake.chat_id)  # this write moves the intake on: a copy kept would be stale
        turn = TurnState(self, tx, Chat(intake.chat_id), self.clock(), None)
        turn.load(intake)
        turn.fit()
        turn.say(turn.msg("reminder"))
        turn.show_prompt()
        intake.reminded_at = turn.now
        turn.commit(activity=False)
        tx.on_commit(metrics.REMINDERS.inc)
        self._outgoing(tx, turn)
        self._keep(tx, turn)
        return turn.result

    def nudge_in(self, tx: Tx, intake_id: int) -> TurnResult:
        """The one reminder to book (``bot.jobs.booking_nudge``), if it is still due: queued in the
        outbox in the same transaction that marks it sent, so a crash neither loses nor repeats it.
        Checked again here, under the chat's lock: erased (/delete), tapped, nudged, begun again,
        talking with the clinic, or an urgent text or flag since: nothing."""
        intake = tx.intake(intake_id)
        if intake is None or intake.status != IntakeStatus.COMPLETED or intake.booking_token is None:
            return TurnResult()
        if intake.booking_tapped_at is not None or intake.booking_nudged_at is not None:
            return TurnResult()
        if intake.urgent or intake.urgent_shown_at is not None or intake.talk_id is not None:
            return TurnResult()
        current = tx.current_intake(intake.chat_id)
        if current is None or current.id != intake.id:
            return TurnResult()
        turn = TurnState(self, tx, Chat(intake.chat_id), self.clock(), None)
        turn.load(intake)
        turn.fit()
        conv = turn.conv
        assert conv is not None
        step = turn.engine.steps.get(conv.state)
        if not isinstance(step, model.OutcomeStep) or step.urgent or conv.urgent_shown:
            return TurnResult()
        ending = turn.engine.view(conv).ending
        link = turn.booking_link(ending) if ending is not None else None
        if link is None:  # the ending (the flow edited since) offers no booking
            return TurnResult()
        self.recent.take(intake.chat_id)  # this write moves the intake on: a copy kept would be stale
        label = turn.msg("booking")
        turn.say(turn.msg("booking_nudge"), [[{"text": label, "url": link}]])
        intake.booking_nudged_at = turn.now
        turn.commit(activity=False)
        tx.on_commit(metrics.NUDGES.inc)
        self._outgoing(tx, turn)
        self._keep(tx, turn)
        return turn.result

    def hand_back_in(self, tx: Tx, talk_id: int, intake_id: int) -> TurnResult:
        """Staff handed a talk back to the questionnaire: the question where the patient was,
        shown again (once: the talk notes it)."""
        talks.mark_prompted(tx, talk_id, self.clock())
        intake = tx.intake(intake_id)
        if intake is None:
            return TurnResult()
        self.recent.take(intake.chat_id)  # staff changed the intake: a copy kept would be stale
        turn = TurnState(self, tx, Chat(intake.chat_id), self.clock(), None)
        turn.load(intake)
        turn.fit()
        if intake.status == IntakeStatus.IN_PROGRESS:
            turn.say(turn.msg("talk_handed_back"))
        turn.reprompt()
        turn.commit(activity=False)
        self._outgoing(tx, turn)
        self._keep(tx, turn)
        return turn.result
