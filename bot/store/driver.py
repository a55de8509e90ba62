"""The statements every turn runs, as SQL text on the database driver itself.

A turn runs about six statements. Through SQLAlchemy Core each cost some 30 µs of Python on top
of the driver's own few µs (``benchmarks/telegram_bench.py --profile``), which made them most of
a durable turn's cost. These few are therefore written once per dialect and run on the DBAPI connection of the
same SQLAlchemy transaction; everything else stays on Core. The tests run them on both SQLite
and PostgreSQL, and read what they wrote back through Core.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from bot.store.records import TIME_FIELDS, Intake, dumps
from bot.store.schema import intakes

COLUMNS = tuple(column.name for column in intakes.columns)
#: What a turn changes on its intake. Never the staff's review mark, acknowledgement, assignment or
#: follow-up, nor where it began: a reviewer marking an intake while the patient answers keeps the
#: mark. The person's names and username are their Telegram profile's as of the latest turn (staff
#: search by them).
TURN_COLUMNS = (
    "first_name",
    "last_name",
    "username",
    "language",
    "status",
    "outcome",
    "urgent",
    "urgent_shown_at",
    "flags",
    "state",
    "prompt_message_id",
    "consent_version",
    "consented_at",
    "human_requested_at",
    "updated_at",
    "completed_at",
    "reminded_at",
    # /human opens a conversation and the patient's messages in one set the wait; staff write
    # them too, raising the version, so a turn never overwrites what it did not read
    "talk_id",
    "waiting_since",
    # the booking button's token, made by the turn showing the ending, and the nudge's mark, set
    # by the turn that queues it; never the tap (the web app's redirect writes it, alone)
    "booking_token",
    "booking_nudged_at",
)
#: With ``severity``, only when a turn's flags changed it (``Tx.save_intake(ranked=True)``).
RANKED_COLUMNS = (*TURN_COLUMNS, "severity")
NEW_COLUMNS = tuple(name for name in COLUMNS if name != "id")
_TIMES = frozenset(TIME_FIELDS)


def sqlite_time(value: datetime | None) -> str | None:
    """A time as SQLAlchemy's SQLite DateTime stores it (naive UTC text), so Core reads it back."""
    if value is None:
        return None
    if value.tzinfo is not None and value.utcoffset():
        value = value.astimezone(UTC)
    return value.isoformat(" ", "microseconds")[:26]


class _LastTime:
    """``sqlite_time`` remembering its last answer: a turn stores the same moment five times."""

    def __init__(self) -> None:
        self.value: datetime | None = None
        self.text: str | None = None

    def __call__(self, value: datetime | None) -> str | None:
        if value is not self.value:
            self.value, self.text = value, sqlite_time(value)
        return self.text


def parse_sqlite_time(value: str | datetime | None) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _aware(value: datetime | None) -> datetime | None:
    return value if value is None or value.tzinfo is not None else value.replace(tzinfo=UTC)


class Statements:
    """The per-turn SQL of one dialect, and how values cross the driver."""

    def __init__(self, dialect: str):
        self.sqlite = dialect == "sqlite"
        self.p = p = "?" if self.sqlite else "%s"  # sqlite3 takes qmark parameters, psycopg format ones
        self.time = _LastTime() if self.sqlite else _aware
        self.read_time = parse_sqlite_time if self.sqlite else _aware
        self.current_intake = f"SELECT {', '.join(COLUMNS)} FROM intakes WHERE chat_id = {p} ORDER BY id DESC LIMIT 1"
        self.intake_version = f"SELECT id, version FROM intakes WHERE chat_id = {p} ORDER BY id DESC LIMIT 1"
        # Only if nobody else wrote the intake since it was read (its version): see ``Tx.save_intake``.
        self.save_intake, self.save_ranked_intake = (
            f"UPDATE intakes SET {', '.join(f'{c} = {p}' for c in columns)}, version = version + 1 "
            f"WHERE id = {p} AND version = {p}"
            for columns in (TURN_COLUMNS, RANKED_COLUMNS)
        )
        self.create_intake = (
            f"INSERT INTO intakes ({', '.join(NEW_COLUMNS)}) VALUES ({', '.join([p] * len(NEW_COLUMNS))}) RETURNING id"
        )
        # The intake's search text, written when what it is made of changed; the same text again
        # changes nothing (no write, so no trigger on SQLite's index).
        self.index_intake = (
            f"INSERT INTO intake_search (intake_id, text) VALUES ({p}, {p}) ON CONFLICT (intake_id) "
            "DO UPDATE SET text = excluded.text WHERE intake_search.text <> excluded.text"
        )
        self._turn_rows: dict[tuple[int, int], str] = {}
        # A new update, or a number used again (seen before the window, or carrying something else):
        # one row inserted or refreshed. A redelivery changes nothing: 0 rows. A fingerprint of 0
        # (carried over by migration 0005) is not known, and matches any.
        self.claim_update = (
            f"INSERT INTO telegram_updates (bot_id, update_id, fingerprint, seen_at) VALUES ({p}, {p}, {p}, {p}) "
            "ON CONFLICT (bot_id, update_id) DO UPDATE SET seen_at = excluded.seen_at, "
            f"fingerprint = excluded.fingerprint WHERE telegram_updates.seen_at < {p} OR "
            "(telegram_updates.fingerprint <> excluded.fingerprint AND telegram_updates.fingerprint <> 0)"
        )
        # Where patients drop off (``bot.store.funnel``): leaving a step adds the time spent on it
        # (epoch seconds: plain integer arithmetic on both databases); coming to one marks it.
        self.funnel_leave = (
            f"UPDATE funnel_steps SET seconds = COALESCE(seconds, 0) + ({p} - entered), backs = backs + {p}, "
            f"here = FALSE WHERE intake_id = {p} AND step = {p}"
        )
        self.funnel_enter = (
            "INSERT INTO funnel_steps (intake_id, step, entered, here, skipped, begun, flow_version, source) "
            f"VALUES ({p}, {p}, {p}, TRUE, FALSE, {p}, {p}, {p}) "
            "ON CONFLICT (intake_id, step) DO UPDATE SET entered = excluded.entered, here = TRUE, skipped = FALSE"
        )
        # a step skip logic hid (a row already there, reached or hidden before, stays as it is)
        self.funnel_skip = (
            "INSERT INTO funnel_steps (intake_id, step, entered, here, skipped, begun, flow_version, source) "
            f"VALUES ({p}, {p}, {p}, FALSE, TRUE, {p}, {p}, {p}) ON CONFLICT (intake_id, step) DO NOTHING"
        )
        self.funnel_invalid = f"UPDATE funnel_steps SET invalid = invalid + {p} WHERE intake_id = {p} AND step = {p}"
        self.mark_sent = (
            f"UPDATE messages SET sent_at = {p}, telegram_message_id = {p}, last_error = NULL WHERE id = {p}"
        )

    def turn_rows(self, inputs: int, replies: int) -> str:
        """One INSERT of a turn's input row (``inputs`` 0 or 1) and its reply rows, ids returned."""
        key = (inputs, replies)
        if key not in self._turn_rows:
            p = self.p
            rows = [f"({p}, {p}, {p}, 'in', {p}, {p}, {p}, {p}, 0, {p})"] * inputs
            rows += [f"({p}, {p}, NULL, 'out', {p}, {p}, {p}, {p}, 0, NULL)"] * replies
            self._turn_rows[key] = (
                "INSERT INTO messages "
                "(intake_id, chat_id, update_id, direction, kind, text, at, payload, attempts, talk_id) "
                f"VALUES {', '.join(rows)} RETURNING id"
            )
        return self._turn_rows[key]

    def intake(self, row: Sequence[Any]) -> Intake:
        return Intake.from_mapping(dict(zip(COLUMNS, row, strict=True)), self.read_time)

    def intake_values(self, intake: Intake, ranked: bool = False) -> list[Any]:
        """For ``save_intake`` (``save_ranked_intake``): what a turn changes, then the id and the
        version it was read as."""
        return [*self._values(intake, RANKED_COLUMNS if ranked else TURN_COLUMNS), intake.id, intake.version]

    def new_intake_values(self, intake: Intake) -> list[Any]:
        """For ``create_intake``: every column but the id."""
        return self._values(intake, NEW_COLUMNS)

    def _values(self, intake: Intake, columns: Sequence[str]) -> list[Any]:
        values: list[Any] = []
        for name in columns:
            value = getattr(intake, name)
            if name in _TIMES:
                value = self.time(value)
            elif name in ("state", "flags"):
                value = dumps(value)
            elif name == "urgent" and self.sqlite:
                value = int(value)
            values.append(value)
        return values
