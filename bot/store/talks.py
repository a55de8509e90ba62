"""Talks: a live conversation between the clinic and a patient, in the patient's Telegram chat.

A talk is opened by the patient (/human) or by staff, and ended by the patient (/resume), or by
staff: "handback" (the bot shows the question where the patient was again) or "close". While one
is open (``intakes.talk_id``) what the patient types is a message to the clinic, stored as the
turn's input row with the talk's id. A staff message is an outgoing transcript row with the
talk's id and its ``sender``: it is the outbox like every reply (stored before it is sent, sent
in order, paced, retried, marked sent), so the patient gets it once the bot's outbox round
(``Outbox.deliver_due``) or the chat's next turn finds it. Every staff write here raises the
intake's version: a copy of the intake a bot process keeps in memory is then stale, and the next
turn reads the intake (and the staff messages waiting before its own replies) from the store.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import orjson
import sqlalchemy as sa

from bot.store.records import Direction, Outgoing, as_utc, dumps
from bot.store.schema import intakes, messages, talks
from bot.store.store import GAVE_UP, Tx

#: Telegram's limit for one message: a staff message (signature included) must fit in one.
MAX_TEXT = 4096
PATIENT = "patient"  # ``opened_by``/``closed_by`` when the patient did it


class Ending:
    RESUME = "resume"  # the patient went back to the questions
    HANDBACK = "handback"  # staff handed back to the questionnaire: the question is shown again
    CLOSE = "close"  # staff ended it; the intake is left as it was


@dataclass(frozen=True)
class TalkMessage:
    """One message of a talk, for staff: the patient's words or a staff message with its state."""

    id: int
    talk_id: int
    direction: str  # in: from the patient; out: from staff
    sender: str | None  # a staff message's sender (display name)
    text: str
    at: datetime
    state: str  # in: "received"; out: "queued", "sent" or "failed"
    error: str | None = None  # a staff message not sent yet: why the last try failed

    def as_json(self) -> dict[str, object]:
        return {
            "id": self.id,
            "talk": self.talk_id,
            "from": "patient" if self.direction == Direction.IN.value else "staff",
            "sender": self.sender,
            "text": self.text,
            "at": self.at.isoformat(),
            "state": self.state,
        }


@dataclass(frozen=True)
class Talk:
    id: int
    opened_at: datetime
    opened_by: str
    closed_at: datetime | None
    closed_by: str | None
    ending: str | None


# --- opened and ended ---------------------------------------------------------------------------


def insert(tx: Tx, intake_id: int, by: str, now: datetime) -> int:
    """A new talk's row (the caller sets ``intakes.talk_id``: a turn through its intake, staff
    through ``start``); its id."""
    return tx.conn.execute(
        talks.insert().values(intake_id=intake_id, opened_at=now, opened_by=by).returning(talks.c.id)
    ).scalar_one()


def end(tx: Tx, talk_id: int, by: str, ending: str, now: datetime) -> None:
    tx.conn.execute(
        talks.update()
        .where(talks.c.id == talk_id, talks.c.closed_at.is_(None))
        .values(closed_at=now, closed_by=by, ending=ending)
    )


def _touch(tx: Tx, intake_id: int, **values: object) -> bool:
    """Change the intake for staff, raising its version (a copy kept in memory is stale now);
    False when it is gone. First in every staff write: on PostgreSQL the intake's row lock puts the
    staff write and the patient's turns in one order, the order their messages get."""
    done = tx.conn.execute(
        intakes.update().where(intakes.c.id == intake_id).values(version=intakes.c.version + 1, **values)
    )
    return done.rowcount == 1


def open_talk(tx: Tx, intake_id: int) -> int | None:
    row = tx.conn.execute(sa.select(intakes.c.talk_id).where(intakes.c.id == intake_id)).first()
    return row.talk_id if row is not None else None


def start(tx: Tx, intake_id: int, by: str, now: datetime) -> int | None:
    """Staff open a talk (the one open already, if any); its id, None when the intake is gone."""
    if not _touch(tx, intake_id):
        return None
    current = open_talk(tx, intake_id)
    if current is not None:
        return current
    talk_id = insert(tx, intake_id, by, now)
    tx.conn.execute(intakes.update().where(intakes.c.id == intake_id).values(talk_id=talk_id))
    return talk_id


def finish(tx: Tx, intake_id: int, by: str, ending: str, now: datetime) -> int | None:
    """Staff end the open talk ("handback" or "close"); its id, None when none was open. Ending it
    answers the patient's wait too: otherwise the intake stayed "waiting for us" in the work queue
    for good after a Close without a reply."""
    if not _touch(tx, intake_id, waiting_since=None):
        return None
    current = open_talk(tx, intake_id)
    if current is None:
        return None
    end(tx, current, by, ending, now)
    tx.conn.execute(intakes.update().where(intakes.c.id == intake_id).values(talk_id=None))
    return current


# --- staff messages -----------------------------------------------------------------------------


def queue_staff_message(tx: Tx, intake_id: int, talk_id: int, sender: str, text: str, now: datetime) -> int | None:
    """A staff message in the outbox (``text`` as the patient will read it, signed), and the
    patient's wait answered; its row id, None when the intake is gone."""
    if not _touch(tx, intake_id, waiting_since=None):
        return None
    return _queue(tx, intake_id, text, sender, now, talk_id)


def _queue(tx: Tx, intake_id: int, text: str, sender: str, now: datetime, talk_id: int | None) -> int | None:
    """An outgoing row in the outbox, as a turn stores a reply ({"op": "send"} without buttons);
    its id, None when the intake is gone."""
    chat_id = tx.conn.execute(sa.select(intakes.c.chat_id).where(intakes.c.id == intake_id)).scalar_one_or_none()
    if chat_id is None:
        return None
    return tx.conn.execute(
        messages.insert()
        .values(
            intake_id=intake_id,
            chat_id=chat_id,
            direction=Direction.OUT.value,
            kind="send",
            text=text,
            at=now,
            payload=dumps({"op": "send", "text": text, "keyboard": None}),
            attempts=0,
            talk_id=talk_id,
            sender=sender,
        )
        .returning(messages.c.id)
    ).scalar_one()


def queue_plain(tx: Tx, intake_id: int, text: str, sender: str, now: datetime) -> bool:
    """A message to the patient on a member of staff's action (the talk was closed, say), not part
    of the talk itself, through the outbox; ``sender``: who did it. False when the intake is gone."""
    return _queue(tx, intake_id, text, sender, now, None) is not None


def unsent_from_staff(tx: Tx, chat_id: int) -> list[Outgoing]:
    """The chat's messages queued by staff (they have a sender) and not sent yet, in order."""
    rows = tx.conn.execute(
        sa.select(messages)
        .where(
            messages.c.chat_id == chat_id,
            messages.c.direction == Direction.OUT.value,
            messages.c.sent_at.is_(None),
            messages.c.sender.is_not(None),
            messages.c.attempts < GAVE_UP,
        )
        .order_by(messages.c.id)
    )
    return [
        Outgoing(r.id, r.intake_id, r.chat_id, r.text, orjson.loads(r.payload), r.attempts, as_utc(r.next_try_at))
        for r in rows
    ]


# --- reading ------------------------------------------------------------------------------------


def talk_messages(tx: Tx, intake_id: int, after: int = 0, limit: int = 500) -> list[TalkMessage]:
    """The messages of every talk of an intake with an id above ``after``, in order."""
    rows = tx.conn.execute(
        sa.select(messages)
        .where(messages.c.intake_id == intake_id, messages.c.talk_id.is_not(None), messages.c.id > after)
        .order_by(messages.c.id)
        .limit(limit)
    )
    return [_message(r) for r in rows]


def messages_of_intakes(tx: Tx, intake_ids: list[int]) -> dict[int, list[TalkMessage]]:
    """The talk messages of several intakes (an export's batch), by intake, in order."""
    found: dict[int, list[TalkMessage]] = {}
    if not intake_ids:
        return found
    rows = tx.conn.execute(
        sa.select(messages)
        .where(messages.c.intake_id.in_(intake_ids), messages.c.talk_id.is_not(None))
        .order_by(messages.c.id)
    )
    for r in rows:
        found.setdefault(r.intake_id, []).append(_message(r))
    return found


def _message(r: sa.Row) -> TalkMessage:
    error = None
    if r.direction == Direction.IN.value:
        state = "received"
    elif r.sent_at is not None:
        state = "sent"
    elif r.attempts >= GAVE_UP:
        state, error = "failed", r.last_error
    else:
        state, error = "queued", r.last_error
    return TalkMessage(r.id, r.talk_id, r.direction, r.sender, r.text, as_utc(r.at), state, error)


def talks_of(tx: Tx, intake_id: int) -> list[Talk]:
    rows = tx.conn.execute(sa.select(talks).where(talks.c.intake_id == intake_id).order_by(talks.c.id))
    return [Talk(r.id, as_utc(r.opened_at), r.opened_by, as_utc(r.closed_at), r.closed_by, r.ending) for r in rows]


# --- handing back (the bot's part) --------------------------------------------------------------


def due_handbacks(tx: Tx, limit: int = 100) -> list[tuple[int, int, int]]:
    """Talks staff handed back whose question the bot has not shown again: (talk, intake, chat)."""
    rows = tx.conn.execute(
        sa.select(talks.c.id, talks.c.intake_id, intakes.c.chat_id)
        .join(intakes, intakes.c.id == talks.c.intake_id)
        .where(talks.c.ending == Ending.HANDBACK, talks.c.prompted_at.is_(None))
        .order_by(talks.c.id)
        .limit(limit)
    )
    return [(r.id, r.intake_id, r.chat_id) for r in rows]


def mark_prompted(tx: Tx, talk_id: int, now: datetime) -> None:
    tx.conn.execute(talks.update().where(talks.c.id == talk_id).values(prompted_at=now))
