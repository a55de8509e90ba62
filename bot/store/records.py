"""What the store hands out: an intake, an outbox row, a transcript line (plain dataclasses)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import orjson

from bot.store.search_text import Inputs

#: The intake's time columns: SQLite hands them back naive (or as text, to the bare driver).
TIME_FIELDS = (
    "created_at",
    "updated_at",
    "consented_at",
    "human_requested_at",
    "completed_at",
    "reminded_at",
    "reviewed_at",
    "urgent_shown_at",
    "acknowledged_at",
    "waiting_since",
    "assigned_at",
    "follow_up_at",
    "booking_tapped_at",
    "booking_nudged_at",
)


class IntakeStatus(StrEnum):
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"  # reached an ending
    DECLINED = "declined"  # declined consent: nothing but that decision is kept
    ABANDONED = "abandoned"  # quiet for ABANDON_AFTER


#: What came of contacting a patient, as staff record it on an intake (never a turn): a fixed set.
FOLLOW_UPS = ("called_back", "booked", "no_answer")

#: Statuses after which a message begins nothing (only /start and /restart begin anew).
FINISHED = frozenset({IntakeStatus.COMPLETED, IntakeStatus.DECLINED})


class Direction(StrEnum):
    """Of a transcript line: what the person sent, or what the bot replied."""

    IN = "in"
    OUT = "out"


def dumps(value: Any) -> str:
    """Compact JSON text, UTF-8 as it is (orjson: a tenth of the json module's time per turn)."""
    return orjson.dumps(value).decode()


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(value: datetime | None) -> datetime | None:
    # SQLite hands back naive datetimes; everything stored is UTC.
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


@dataclass
class Intake:
    id: int
    chat_id: int
    flow_id: str
    flow_version: str
    language: str
    status: str
    state: dict[str, Any]
    created_at: datetime
    updated_at: datetime
    user_id: int | None = None
    first_name: str | None = None
    last_name: str | None = None
    username: str | None = None
    source: str | None = None
    outcome: str | None = None
    urgent: bool = False
    flags: list[str] = field(default_factory=list)
    prompt_message_id: int | None = None
    consent_version: str | None = None
    consented_at: datetime | None = None
    human_requested_at: datetime | None = None
    completed_at: datetime | None = None
    reminded_at: datetime | None = None
    reviewed_at: datetime | None = None
    reviewed_by: str | None = None
    urgent_shown_at: datetime | None = None  # the latest urgent text shown (Conversation.urgent_shown)
    acknowledged_at: datetime | None = None  # by staff: see ``urgent_pending``
    acknowledged_by: str | None = None
    waiting_since: datetime | None = None  # the oldest patient message the clinic has not answered
    severity: int = 0  # the highest raised flag's severity: SEVERITY_RANK (written by turns)
    assigned_to: str | None = None  # staff only, like the review mark
    assigned_at: datetime | None = None
    follow_up: str | None = None  # FOLLOW_UPS: what came of contacting the patient (staff only)
    follow_up_at: datetime | None = None
    follow_up_by: str | None = None
    version: int = 0  # raised by every write of the conversation (see Tx.save_intake)
    talk_id: int | None = None  # the conversation with the clinic open now (``talks``)
    #: the tracked booking address's token (``PUBLIC_URL/b/<token>``), made as the ending shows it
    booking_token: str | None = None
    booking_tapped_at: datetime | None = None  # the first tap (the web app's redirect, never a turn)
    booking_taps: int = 0
    booking_nudged_at: datetime | None = None  # the one reminder to book (``bot.jobs.booking_nudge``)
    #: what its search text was last written from in this process (not a column): a turn writes
    #: the text again only when that changed (``Tx.save_intake``); None: not written yet
    indexed: Inputs | None = field(default=None, compare=False, repr=False)

    def search_inputs(self) -> Inputs:
        """What the staff search finds this intake by (``bot.store.search_text``)."""
        return Inputs.of(self.first_name, self.last_name, self.username, self.state)

    @property
    def urgent_pending(self) -> bool:
        """An urgent text was shown and no member of staff has acknowledged it since: the staff
        list pins the intake, however the answers behind it were changed afterwards."""
        shown, seen = self.urgent_shown_at, self.acknowledged_at
        return shown is not None and (seen is None or seen < shown)

    @property
    def human_waiting(self) -> bool:
        """A /human request no member of staff has handled: nobody reviewed, assigned or followed
        up the intake since it was made (the queue's rule: ``bot.store.review.human_waiting``)."""
        asked = self.human_requested_at
        handled = (self.reviewed_at, self.assigned_at, self.follow_up_at)
        return asked is not None and all(t is None or t < asked for t in handled)

    @classmethod
    def from_row(cls, row: Any) -> Intake:
        """From a SQLAlchemy row of the intakes table."""
        return cls.from_mapping(dict(row._mapping), as_utc)

    @classmethod
    def from_mapping(cls, data: dict[str, Any], time: Callable[[Any], datetime | None]) -> Intake:
        """From column values; ``time`` turns a stored time into an aware datetime."""
        data["state"] = orjson.loads(data["state"])
        data["flags"] = orjson.loads(data["flags"])
        data["urgent"] = bool(data["urgent"])
        for key in TIME_FIELDS:
            data[key] = time(data[key])
        return cls(**data)


@dataclass(frozen=True)
class Outgoing:
    """An outbox row: a reply committed but not sent yet."""

    id: int
    intake_id: int
    chat_id: int
    text: str
    payload: Mapping[str, Any]
    attempts: int
    next_try_at: datetime | None = None  # after a failed attempt: not before then


@dataclass(frozen=True)
class TranscriptLine:
    direction: str
    text: str
    at: datetime
    sent_at: datetime | None
    #: an incoming message that met a safety screen: {"screen": id, "ask_first": bool}
    screened: dict[str, Any] | None = None
    #: an outgoing message written by staff (a talk): who wrote it; None for the bot's own
    sender: str | None = None
    #: what the row is: an input's kind (text, command, press, other) or a reply's (send, or
    #: copy: a PDF of the answers, ``text`` its caption)
    kind: str | None = None
