"""A live conversation with a patient (a *talk*), the staff side: start, write, end, read.

Writing only stores: a staff message is an outbox row (``bot.store.talks``) that the bot's outbox
sends like every reply, in order, paced and retried; the staff app never reaches a channel. A
message is signed with the clinic's name and the member's display name (a staff setting; never
the login name), in the patient's language, and the first one of a talk tells the patient how to
answer. Each write is in the audit log (what was done, never the words). These calls block: the
web app runs them on its staff threads.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from bot.engine import Engine
from bot.store import Direction, Store, talks, utcnow
from bot.store import review as audit
from bot.store.talks import MAX_TEXT, Ending, Talk, TalkMessage

#: Staff messages one member (or token) may send a minute: enough for a conversation, too few to
#: flood a patient if a script or a stuck key goes wrong.
MESSAGES_PER_MINUTE = 10


class TooLong(ValueError):
    """The message, signed, would not fit in one Telegram message."""


class TooMany(Exception):
    """The member (or token) sent ``MESSAGES_PER_MINUTE`` messages in the last minute already."""


@dataclass(frozen=True)
class TalkView:
    """What the intake page's talk panel shows."""

    open_talk: int | None
    talks: list[Talk]
    messages: list[TalkMessage]


class Talks:
    def __init__(self, store: Store, engine: Engine, limit: int = MESSAGES_PER_MINUTE):
        self.store = store
        self.engine = engine
        #: messages one member or token may send a minute, counted in the store (the audit log's
        #: "message" lines), so that several workers behind a load balancer share one count
        self.limit = limit
        #: told (from a staff thread) once a message to a patient is committed: under ``serve`` the
        #: runtime points it at the channel, which sends at once instead of at its next round
        self.queued: Callable[[], None] = lambda: None

    def signed(self, text: str, lang: str, display_name: str | None, first: bool) -> str:
        """The words as the patient reads them: the text, the hint (first message of a talk), the
        signature."""
        lang = lang if lang in self.engine.flow.languages else self.engine.flow.default_language
        if display_name:
            signature = self.engine.message(lang, "talk_signature", name=display_name)
        else:
            signature = self.engine.message(lang, "talk_signature_team")
        parts = [text.strip(), signature]
        if first:
            parts.insert(1, self.engine.message(lang, "talk_hint"))
        return "\n\n".join(parts)

    def send(self, intake_id: int, actor: str, display_name: str | None, text: str) -> int | None:
        """Store a staff message for the patient (opening a talk if none is open); its row id,
        None when the intake is gone (erased). Raises TooLong, or TooMany."""
        now = utcnow()
        with self.store.transaction() as tx:
            if audit.recent(tx, actor, "message", now - timedelta(minutes=1)) >= self.limit:
                raise TooMany(actor)
            intake = tx.intake(intake_id)
            if intake is None:
                return None
            talk_id = talks.start(tx, intake_id, actor, now)
            if talk_id is None:
                return None
            first = not any(
                m.direction == Direction.OUT.value for m in talks.talk_messages(tx, intake_id) if m.talk_id == talk_id
            )
            signed = self.signed(text, intake.language, display_name, first)
            if len(signed) > MAX_TEXT:
                raise TooLong(f"at most {MAX_TEXT - (len(signed) - len(text))} characters")
            row = talks.queue_staff_message(tx, intake_id, talk_id, display_name or actor, signed, now)
            audit.record(tx, actor, "message", intake_id, f"talk {talk_id}")
        self.queued()
        return row

    def start(self, intake_id: int, actor: str) -> int | None:
        with self.store.transaction() as tx:
            talk_id = talks.start(tx, intake_id, actor, utcnow())
            if talk_id is not None:
                audit.record(tx, actor, "talk_start", intake_id, f"talk {talk_id}")
            return talk_id

    def finish(self, intake_id: int, actor: str, ending: str) -> int | None:
        """End the open talk: hand back to the questionnaire (the bot shows the question again) or
        close it (the patient is told, and the intake is left as it was); its id, or None."""
        now = utcnow()
        with self.store.transaction() as tx:
            intake = tx.intake(intake_id)
            talk_id = talks.finish(tx, intake_id, actor, ending, now) if intake is not None else None
            if talk_id is None:
                return None
            if ending == Ending.CLOSE:
                lang = intake.language if intake.language in self.engine.flow.languages else None
                words = self.engine.message(lang or self.engine.flow.default_language, "talk_closed")
                talks.queue_plain(tx, intake_id, words, actor, now)
            audit.record(tx, actor, f"talk_{ending}", intake_id, f"talk {talk_id}")
        if ending == Ending.CLOSE:
            self.queued()
        return talk_id

    def view(self, intake_id: int) -> TalkView:
        with self.store.transaction(read_only=True) as tx:
            return TalkView(
                talks.open_talk(tx, intake_id), talks.talks_of(tx, intake_id), talks.talk_messages(tx, intake_id)
            )

    def for_export(self, intake_ids: list[int]) -> dict[int, list[dict[str, object]]]:
        """An export batch's conversation messages, as JSON objects (``Exporter.json_chunks``)."""
        with self.store.transaction(read_only=True) as tx:
            found = talks.messages_of_intakes(tx, intake_ids)
        return {i: [m.as_json() for m in ms] for i, ms in found.items()}

    def messages(self, intake_id: int, after: int = 0) -> list[TalkMessage] | None:
        """The talk messages since ``after`` (None when the intake is gone)."""
        with self.store.transaction(read_only=True) as tx:
            if tx.intake(intake_id) is None:
                return None
            return talks.talk_messages(tx, intake_id, after)


__all__ = ["Ending", "TalkView", "Talks", "TooLong", "TooMany"]
