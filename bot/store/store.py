"""Intakes, transcripts and the outbox in SQLite (default) or PostgreSQL, via SQLAlchemy Core.

Every turn is one transaction (``Store.transaction``): the patient's input, the engine's new
state and the bot's replies are committed together before anything is sent. The replies wait in
the outbox (outgoing transcript rows with no ``sent_at``) until the channel has sent them.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine

from bot.store.schema import intakes, messages, notes, webhook_deliveries

MIGRATIONS = Path(__file__).with_name("migrations")
GAVE_UP = 999  # attempts recorded for a reply given up on: never pending again


class StoreError(Exception):
    """The database cannot be used (unreachable, wrong URL, failed migration): one clear line."""


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

    @classmethod
    def from_row(cls, row: Any) -> Intake:
        data = dict(row._mapping)
        data["state"] = json.loads(data["state"])
        data["flags"] = json.loads(data["flags"])
        for key in (
            "created_at",
            "updated_at",
            "consented_at",
            "human_requested_at",
            "completed_at",
            "reminded_at",
            "reviewed_at",
        ):
            data[key] = as_utc(data[key])
        return cls(**data)

    def to_row(self) -> dict[str, Any]:
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        data["state"] = json.dumps(self.state, ensure_ascii=False, separators=(",", ":"))
        data["flags"] = json.dumps(self.flags)
        return data


@dataclass(frozen=True)
class Outgoing:
    """An outbox row: a reply committed but not sent yet."""

    id: int
    intake_id: int
    chat_id: int
    text: str
    payload: dict[str, Any]
    attempts: int


@dataclass(frozen=True)
class TranscriptLine:
    direction: str
    text: str
    at: datetime
    sent_at: datetime | None


def _engine(url: str) -> Engine:
    if url.startswith("sqlite:///"):
        path = Path(url.removeprefix("sqlite:///"))
        if str(path) not in ("", ":memory:"):
            path.parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(url)

        @sa.event.listens_for(engine, "connect")
        def _pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            # WAL with synchronous=NORMAL survives a killed process (the log is on disk at
            # commit) at a fraction of the cost of an fsync per transaction.
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=10000")
            cursor.close()

        return engine
    if url.startswith(("postgresql://", "postgres://")):
        url = "postgresql+psycopg://" + url.split("://", 1)[1]
    return sa.create_engine(url, pool_pre_ping=True)


class Store:
    def __init__(self, url: str):
        self.url = url
        try:
            self.engine = _engine(url)
            with self.engine.connect() as conn:
                conn.execute(sa.text("SELECT 1"))
        except (sa.exc.SQLAlchemyError, OSError, ImportError, ValueError) as err:
            reason = str(getattr(err, "orig", None) or err).strip().splitlines()[0]
            raise StoreError(f"cannot open the database {_safe(url)}: {reason}") from None
        dialect = self.engine.dialect.name
        insert = {"sqlite": sqlite.insert, "postgresql": postgresql.insert}[dialect]
        # A redelivered update_id inserts nothing (and returns no row): see Tx.record_in.
        self._record_in = insert(messages).on_conflict_do_nothing(index_elements=["update_id"]).returning(messages.c.id)

    @classmethod
    def open(cls, url: str) -> Store:
        """Connect and bring the schema up to date."""
        store = cls(url)
        store.migrate()
        return store

    def migrate(self) -> None:
        from alembic import command
        from alembic.config import Config

        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        try:
            with self.engine.begin() as conn:
                config.attributes["connection"] = conn
                command.upgrade(config, "head")
        except sa.exc.SQLAlchemyError as err:
            raise StoreError(f"cannot migrate the database {_safe(self.url)}: {err}") from None

    def close(self) -> None:
        self.engine.dispose()

    @contextmanager
    def transaction(self) -> Iterator[Tx]:
        with self.engine.begin() as conn:
            yield Tx(conn, self._record_in)


# The per-turn statements, built once: executing a prebuilt statement with parameters skips
# SQLAlchemy's per-call statement construction, which dominated a turn's cost when profiled.
_CURRENT_INTAKE = (
    sa.select(intakes).where(intakes.c.chat_id == sa.bindparam("chat")).order_by(intakes.c.id.desc()).limit(1)
)
_INTAKE_BY_ID = sa.select(intakes).where(intakes.c.id == sa.bindparam("intake"))
_SAVE_INTAKE = intakes.update().where(intakes.c.id == sa.bindparam("_id"))
_ADD_OUT = messages.insert().returning(messages.c.id)
_PENDING = (
    sa.select(messages)
    .where(
        messages.c.direction == "out",
        messages.c.sent_at.is_(None),
        messages.c.attempts < sa.bindparam("max_attempts"),
        messages.c.chat_id == sa.bindparam("chat"),
        sa.or_(messages.c.next_try_at.is_(None), messages.c.next_try_at <= sa.bindparam("due")),
    )
    .order_by(messages.c.id)
    .limit(sa.bindparam("limit"))
)
_MARK_SENT = (
    messages.update()
    .where(messages.c.id == sa.bindparam("_id"))
    .values(sent_at=sa.bindparam("sent_at"), telegram_message_id=sa.bindparam("telegram_id"), last_error=None)
)


class Duplicate(Exception):
    """This update was applied before: roll the turn back and do nothing."""


class Tx:
    """The operations of one transaction."""

    def __init__(self, conn: Connection, record_in: Any):
        self.conn = conn
        self._record_in_stmt = record_in

    # --- intakes ---------------------------------------------------------------------------------

    def current_intake(self, chat_id: int) -> Intake | None:
        row = self.conn.execute(_CURRENT_INTAKE, {"chat": chat_id}).first()
        return Intake.from_row(row) if row is not None else None

    def intake(self, intake_id: int) -> Intake | None:
        row = self.conn.execute(_INTAKE_BY_ID, {"intake": intake_id}).first()
        return Intake.from_row(row) if row is not None else None

    def create_intake(self, intake: Intake) -> Intake:
        values = intake.to_row()
        values.pop("id")
        intake.id = self.conn.execute(intakes.insert().values(**values).returning(intakes.c.id)).scalar_one()
        return intake

    def save_intake(self, intake: Intake) -> None:
        values = intake.to_row()
        values["_id"] = values.pop("id")
        self.conn.execute(_SAVE_INTAKE, values)

    def delete_chat(self, chat_id: int) -> int:
        """Erase every intake of a chat with its transcript and outbox; how many intakes went."""
        return self._delete_intakes(intakes.c.chat_id == chat_id)

    def purge_before(self, cutoff: datetime) -> int:
        """Retention: erase intakes with no activity since ``cutoff``; how many went."""
        return self._delete_intakes(intakes.c.updated_at < cutoff)

    def _delete_intakes(self, which: sa.ColumnElement[bool]) -> int:
        ids = sa.select(intakes.c.id).where(which)
        # Children first: SQLite enforces ON DELETE CASCADE only with its foreign_keys pragma.
        self.conn.execute(messages.delete().where(messages.c.intake_id.in_(ids)))
        for child in (webhook_deliveries, notes):
            self.conn.execute(child.delete().where(child.c.intake_id.in_(ids)))
        return self.conn.execute(intakes.delete().where(which)).rowcount

    def quiet_intakes(self, updated_before: datetime, *, reminded: bool | None = None) -> list[Intake]:
        query = sa.select(intakes).where(intakes.c.status == "in_progress", intakes.c.updated_at < updated_before)
        if reminded is not None:
            query = query.where(intakes.c.reminded_at.isnot(None) if reminded else intakes.c.reminded_at.is_(None))
        return [Intake.from_row(r) for r in self.conn.execute(query.order_by(intakes.c.id))]

    # --- transcript and outbox -------------------------------------------------------------------

    def record_in(
        self, intake_id: int, chat_id: int, update_id: int | None, text: str, at: datetime, kind: str = "text"
    ) -> None:
        """The patient's input; raises Duplicate when this update_id was applied already."""
        values = {
            "intake_id": intake_id,
            "chat_id": chat_id,
            "update_id": update_id,
            "direction": "in",
            "kind": kind,
            "text": text,
            "at": at,
            "attempts": 0,
        }
        # rowcount is not reliable here across drivers; a returned row is
        if self.conn.execute(self._record_in_stmt, values).first() is None:
            raise Duplicate(update_id)

    def add_out(self, intake_id: int, chat_id: int, text: str, payload: dict[str, Any], at: datetime) -> int:
        values = {
            "intake_id": intake_id,
            "chat_id": chat_id,
            "direction": "out",
            "kind": payload["op"],
            "text": text,
            "at": at,
            "payload": json.dumps(payload, ensure_ascii=False, separators=(",", ":")),
            "attempts": 0,
        }
        return self.conn.execute(_ADD_OUT, values).scalar_one()

    def pending(
        self, chat_id: int | None = None, *, due_by: datetime | None = None, max_attempts: int = 8, limit: int = 100
    ) -> list[Outgoing]:
        """Unsent replies in order; with ``due_by``, only those that may be tried now."""
        if chat_id is not None and due_by is not None:  # the per-turn case, prebuilt
            rows = self.conn.execute(
                _PENDING, {"chat": chat_id, "due": due_by, "max_attempts": max_attempts, "limit": limit}
            )
        else:
            query = sa.select(messages).where(
                messages.c.direction == "out", messages.c.sent_at.is_(None), messages.c.attempts < max_attempts
            )
            if chat_id is not None:
                query = query.where(messages.c.chat_id == chat_id)
            if due_by is not None:
                query = query.where(sa.or_(messages.c.next_try_at.is_(None), messages.c.next_try_at <= due_by))
            rows = self.conn.execute(query.order_by(messages.c.id).limit(limit))
        return [Outgoing(r.id, r.intake_id, r.chat_id, r.text, json.loads(r.payload), r.attempts) for r in rows]

    def mark_sent(self, message_id: int, telegram_message_id: int | None, at: datetime) -> None:
        self.mark_all_sent([(message_id, telegram_message_id)], at)

    def mark_all_sent(self, sent: list[tuple[int, int | None]], at: datetime) -> None:
        if sent:
            self.conn.execute(_MARK_SENT, [{"_id": i, "telegram_id": t, "sent_at": at} for i, t in sent])

    def mark_failed(self, message_id: int, error: str, next_try_at: datetime | None, give_up: bool = False) -> None:
        attempts = GAVE_UP if give_up else messages.c.attempts + 1
        self.conn.execute(
            messages.update()
            .where(messages.c.id == message_id)
            .values(attempts=attempts, last_error=error[:256], next_try_at=next_try_at)
        )

    def abandon(self, updated_before: datetime) -> int:
        """Mark intakes quiet since ``updated_before`` as abandoned; how many."""
        return self.conn.execute(
            intakes.update()
            .where(intakes.c.status == "in_progress", intakes.c.updated_at < updated_before)
            .values(status="abandoned")
        ).rowcount

    def queue_completion(self, intake_id: int, now: datetime) -> None:
        """Queue a completed intake for the clinic's webhook, in the turn that completes it."""
        self.conn.execute(webhook_deliveries.insert().values(intake_id=intake_id, created_at=now, attempts=0))

    def telegram_message_id(self, message_id: int) -> int | None:
        return self.conn.execute(
            sa.select(messages.c.telegram_message_id).where(messages.c.id == message_id)
        ).scalar_one_or_none()

    def transcript(self, intake_id: int) -> list[TranscriptLine]:
        """Every message in and out, in order (edits of sent messages left out)."""
        rows = self.conn.execute(
            sa.select(messages.c.direction, messages.c.text, messages.c.at, messages.c.sent_at)
            .where(messages.c.intake_id == intake_id, messages.c.kind.notin_(("edit", "markup")))
            .order_by(messages.c.id)
        )
        return [TranscriptLine(r.direction, r.text, as_utc(r.at), as_utc(r.sent_at)) for r in rows]


def _safe(url: str) -> str:
    """The URL without its password, for messages."""
    try:
        return sa.engine.make_url(url).render_as_string(hide_password=True)
    except sa.exc.ArgumentError:
        return "(unreadable DATABASE_URL)"
