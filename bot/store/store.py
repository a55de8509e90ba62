"""Intakes, transcripts and the outbox in SQLite (default) or PostgreSQL, via SQLAlchemy Core.

Every turn is atomic (``Store.transaction``): the patient's input, the engine's new state and the
bot's replies are committed together before anything is sent. The replies wait in the outbox
(outgoing transcript rows with no ``sent_at``) until the channel has sent them. Under load the
channel commits several chats' turns in one transaction, each still atomic (``bot.store.group``),
so one commit, the costly part on disk, serves them all.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from bot.errors import UserError
from bot.failures import log_failure
from bot.store import advisory
from bot.store.checkpoint import SAFETY_NET_PAGES, Checkpointer
from bot.store.driver import Statements
from bot.store.funnel import epoch, funnel_moves
from bot.store.records import Direction, Intake, IntakeStatus, Outgoing, TranscriptLine, as_utc, dumps
from bot.store.schema import (
    alerts,
    funnel_steps,
    intake_search,
    intakes,
    messages,
    notes,
    talks,
    telegram_updates,
    webhook_deliveries,
)

log = logging.getLogger(__name__)
MIGRATIONS = Path(__file__).with_name("migrations")
GAVE_UP = 999  # attempts recorded for a reply given up on: never pending again
#: How long an update is remembered to refuse its redelivery: Telegram keeps an unconfirmed update
#: for 24 hours, and numbers repeat (after a week without updates, or with a new bot token).
UPDATE_WINDOW = timedelta(days=2)


class StoreError(UserError):
    """The database cannot be used (unreachable, wrong URL, failed migration): one clear line."""


def _engine(url: str, extra_pragmas: list[str]) -> Engine:
    """``extra_pragmas`` (SQLite) is read as each new connection is made: the store may add to it."""
    # hide_parameters: an error's message never quotes the values (a patient's answers) into a log.
    if url.startswith("sqlite:///"):
        path = Path(url.removeprefix("sqlite:///"))
        if str(path) not in ("", ":memory:") and not str(path).startswith("file:"):
            path.parent.mkdir(parents=True, exist_ok=True)
            _private_file(path)
        engine = sa.create_engine(url, hide_parameters=True)

        @sa.event.listens_for(engine, "connect")
        def _pragmas(dbapi_connection: Any, _record: Any) -> None:
            # SQLAlchemy's recipe for pysqlite: the driver's own transaction handling is off and
            # we say BEGIN ourselves (below), so reads happen inside the transaction and
            # savepoints work (the driver would otherwise begin only at the first write).
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            # WAL with synchronous=NORMAL survives a killed process (the log is on disk at
            # commit) at a fraction of the cost of an fsync per transaction.
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=10000")
            cursor.execute("PRAGMA cache_size=-65536")
            # Savepoints (a turn's, when a group commit isolates its callers; a rider's) keep their
            # undo pages in a statement journal; on disk, with one per turn, that was a third of a
            # turn's cost, and it is never needed after a crash (the WAL is what recovers).
            cursor.execute("PRAGMA temp_store=MEMORY")
            # An erased intake's bytes are overwritten, not left in free pages of the file.
            cursor.execute("PRAGMA secure_delete=FAST")
            for pragma in extra_pragmas:
                cursor.execute(f"PRAGMA {pragma}")
            cursor.close()

        engine.dialect.statement_compiler = _hinting(engine.dialect.statement_compiler)

        @sa.event.listens_for(engine, "begin")
        def _begin(conn: Connection) -> None:
            # A transaction that reads and then writes takes the write lock at once: with a
            # deferred BEGIN, another process's commit in between would fail it with SQLITE_BUSY.
            conn.exec_driver_sql("BEGIN" if conn.get_execution_options().get("read_only") else "BEGIN IMMEDIATE")

        return engine
    if url.startswith(("postgresql://", "postgres://")):
        url = "postgresql+psycopg://" + url.split("://", 1)[1]
    return sa.create_engine(url, pool_pre_ping=True, hide_parameters=True)


def _hinting(compiler: type) -> type:
    """SQLite's compiler, rendering a table hint (``Select.with_hint``: ``INDEXED BY ix``) after
    the table's name, where SQLite takes it. SQLAlchemy renders table hints only for the dialects
    that have them in its own list, which SQLite is not in (``bot.store.queue.along`` uses it)."""

    class Hinting(compiler):  # type: ignore[misc, valid-type]
        def get_from_hint_text(self, table: Any, text: str) -> str:
            return text

    return Hinting


class Store:
    def __init__(self, url: str):
        self.url = url
        self._pragmas: list[str] = []
        self._checkpointer: Checkpointer | None = None
        try:
            self.engine = _engine(url, self._pragmas)
            with self.engine.connect() as conn:
                conn.execute(sa.text("SELECT 1"))
        except (sa.exc.SQLAlchemyError, OSError, ImportError, ValueError) as err:
            reason = str(getattr(err, "orig", None) or err).strip().splitlines()[0]
            raise StoreError(f"cannot open the database {_safe(url)}: {reason}") from None
        self.statements = Statements(self.engine.dialect.name)

    @classmethod
    def open(cls, url: str) -> Store:
        """Connect and bring the schema up to date."""
        store = cls(url)
        store.migrate()
        return store

    def migrate(self, revision: str = "head") -> None:
        """Bring the schema up to ``revision`` (tests stop earlier to migrate old data)."""
        from alembic import command
        from alembic.config import Config

        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        sqlite = self.engine.dialect.name == "sqlite"
        try:
            with self.engine.connect() as conn:
                driver = conn.connection.driver_connection
                if sqlite:
                    # Rebuilding a table (SQLite's way to change one) drops the old one; with
                    # foreign keys on, that would cascade into its children. The pragma works
                    # only outside a transaction, hence on the driver, before BEGIN.
                    driver.execute("PRAGMA foreign_keys=OFF")
                try:
                    with conn.begin():
                        if not sqlite:
                            # Workers started together on a fresh database: one migrates, the
                            # others wait here and then find the schema current (the lock is
                            # let go by the commit). Without it they raced on Alembic's table.
                            advisory.for_transaction(conn, "migrate")
                        config.attributes["connection"] = conn
                        command.upgrade(config, revision)
                        broken = sqlite and conn.exec_driver_sql("PRAGMA foreign_key_check").first()
                        if broken:
                            raise StoreError(f"migrating {_safe(self.url)} broke a reference in table {broken[0]}")
                finally:
                    if sqlite:
                        driver.execute("PRAGMA foreign_keys=ON")
        except sa.exc.SQLAlchemyError as err:
            raise StoreError(f"cannot migrate the database {_safe(self.url)}: {err}") from None

    def checkpoint_in_background(self) -> None:
        """For a long-running process on SQLite: checkpoints leave the event loop (see
        ``bot.store.checkpoint``). Nothing to do on PostgreSQL."""
        database = self.engine.url.database
        if self.engine.dialect.name != "sqlite" or not database or database == ":memory:" or self._checkpointer:
            return
        self._pragmas.append(f"wal_autocheckpoint={SAFETY_NET_PAGES}")
        self.engine.dispose()  # connections made from now on take the pragma
        self._checkpointer = Checkpointer(database)
        self._checkpointer.start()

    def close(self) -> None:
        if self._checkpointer is not None:
            self._checkpointer.stop()
            self._checkpointer = None
        self.engine.dispose()

    @contextmanager
    def transaction(self, *, read_only: bool = False) -> Iterator[Tx]:
        """One transaction; what was registered with ``Tx.on_commit`` runs once it has committed.

        ``read_only`` lets SQLite read a snapshot without taking the write lock (a long export
        never holds up the bot); it is a promise, not a check.
        """
        with self.engine.connect() as conn:
            if read_only:
                conn.execution_options(read_only=True)
            with conn.begin():
                tx = Tx(conn, self.statements)
                yield tx
        for callback in tx.committed:
            # Committed is committed: a callback that fails (a bug) must neither make the caller
            # think its work was lost nor keep the next callbacks from running.
            try:
                callback()
            except Exception as err:
                log_failure(log, "a callback after a commit failed", err)


_INTAKE_BY_ID = sa.select(intakes).where(intakes.c.id == sa.bindparam("intake"))
_PENDING = (
    sa.select(messages)
    .where(
        messages.c.direction == Direction.OUT.value,
        messages.c.sent_at.is_(None),
        messages.c.attempts < sa.bindparam("most"),
    )
    .order_by(messages.c.id)
    .limit(sa.bindparam("limit"))
)


class Duplicate(Exception):
    """This update was applied before: roll the turn back and do nothing."""


class Stale(Exception):
    """What the work read changed meanwhile (another process wrote it): roll it back and run it
    again from what the store holds now."""


class Tx:
    """The operations of one transaction.

    The per-turn ones (``current_intake``, ``create_intake``, ``record_turn``, ``save_intake``,
    ``mark_all_sent``) run on the driver (``bot.store.driver``); the rest on SQLAlchemy Core.
    """

    def __init__(self, conn: Connection, statements: Statements):
        self.conn = conn
        self.sql = statements
        self.driver = conn.connection.driver_connection
        #: run once the transaction has committed (never if it rolls back)
        self.committed: list[Callable[[], None]] = []

    def on_commit(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` after the commit: sending a reply must never precede storing it."""
        self.committed.append(callback)

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        """If the block raises, only its writes are undone (and its ``on_commit`` work dropped)."""
        kept = len(self.committed)
        self.driver.execute("SAVEPOINT part")
        try:
            yield
        except BaseException:
            self.driver.execute("ROLLBACK TO SAVEPOINT part")
            self.driver.execute("RELEASE SAVEPOINT part")
            del self.committed[kept:]
            raise
        self.driver.execute("RELEASE SAVEPOINT part")

    # --- intakes ---------------------------------------------------------------------------------

    def current_intake(self, chat_id: int) -> Intake | None:
        row = self.driver.execute(self.sql.current_intake, (chat_id,)).fetchone()
        return self.sql.intake(row) if row is not None else None

    def intake_version(self, chat_id: int) -> tuple[int, int] | None:
        """The chat's current intake as (id, version): whether a copy kept in memory is still what
        the store holds (several workers: another may have written it since)."""
        row = self.driver.execute(self.sql.intake_version, (chat_id,)).fetchone()
        return (row[0], row[1]) if row is not None else None

    def intake(self, intake_id: int) -> Intake | None:
        row = self.conn.execute(_INTAKE_BY_ID, {"intake": intake_id}).first()
        return Intake.from_row(row) if row is not None else None

    def create_intake(self, intake: Intake) -> Intake:
        (intake.id,) = self.driver.execute(self.sql.create_intake, self.sql.new_intake_values(intake)).fetchone()
        self._index(intake)
        # the first step, reached as the intake begins (``bot.store.funnel``)
        if first := intake.state.get("state"):
            self.driver.execute(
                self.sql.funnel_enter, (intake.id, first, epoch(intake.created_at), *_begun(intake, self.sql))
            )
        return intake

    def record_steps(
        self, intake: Intake, before: dict[str, Any], after: dict[str, Any], at: datetime, questions: Sequence[str] = ()
    ) -> None:
        """What a turn did to the person's place in the flow, for the funnel (``bot.store.funnel``):
        nothing is written when the turn left their step and invalid answers as they were.
        ``questions``: the flow's steps but its endings, in order (to tell the steps skip logic hid)."""
        sql, now = self.sql, epoch(at)
        for move in funnel_moves(before, after, questions):
            if move.kind == "leave":
                self.driver.execute(sql.funnel_leave, (now, move.count, intake.id, move.step))
            elif move.kind == "enter":
                self.driver.execute(sql.funnel_enter, (intake.id, move.step, now, *_begun(intake, sql)))
            elif move.kind == "skip":
                self.driver.execute(sql.funnel_skip, (intake.id, move.step, now, *_begun(intake, sql)))
            else:
                self.driver.execute(sql.funnel_invalid, (move.count, intake.id, move.step))

    def save_intake(self, intake: Intake, *, ranked: bool = False) -> None:
        """Write what a turn changes (never the review mark, which staff may set meanwhile); its
        ``severity`` too when ``ranked`` (the turn changed it).

        Raises Stale if the stored intake is no longer the version this one was read as (marked
        abandoned or erased since): a copy kept in memory between turns is only checked here,
        which saves every turn a read.
        """
        statement = self.sql.save_ranked_intake if ranked else self.sql.save_intake
        if self.driver.execute(statement, self.sql.intake_values(intake, ranked)).rowcount != 1:
            raise Stale(intake.id)
        intake.version += 1
        self._index(intake)

    def _index(self, intake: Intake) -> None:
        """Write the intake's search text if what it is made of changed since this process last
        wrote it: comparing costs a few µs a turn; folding and the write happen when a name, the
        username or a contact detail in the answers changed (and once for an intake read back)."""
        inputs = intake.search_inputs()
        if inputs != intake.indexed:
            self.driver.execute(self.sql.index_intake, (intake.id, inputs.text()))
            intake.indexed = inputs

    def delete_chat(self, chat_id: int) -> int:
        """Erase every intake of a chat with its transcript and outbox; how many intakes went.

        The chat's updates stay in telegram_updates (numbers and times, nothing else) until their
        window ends, so that Telegram redelivering an update applied before the erasure cannot
        begin a new intake.
        """
        return self._delete_intakes(intakes.c.chat_id == chat_id)

    def purge_before(self, cutoff: datetime, limit: int | None = None) -> int:
        """Retention: erase intakes with no activity since ``cutoff`` (at most ``limit`` of them,
        the oldest first); how many went."""
        which = intakes.c.updated_at < cutoff
        if limit is not None:
            oldest = sa.select(intakes.c.id).where(which).order_by(intakes.c.updated_at, intakes.c.id).limit(limit)
            which = intakes.c.id.in_([row[0] for row in self.conn.execute(oldest)])
        return self._delete_intakes(which)

    # --- updates seen ----------------------------------------------------------------------------

    def claim_update(self, bot_id: int, update_id: int, fingerprint: int, now: datetime) -> None:
        """Note that this bot's update is being applied; Duplicate if it was, within UPDATE_WINDOW
        and with the same ``fingerprint`` (what it carried: a redelivery is the same update; a
        number used again, after a week or by a re-issued token, carries something else). The
        claim is part of the turn: rolled back with it, it was never made."""
        sql = self.sql
        values = (bot_id, update_id, fingerprint, sql.time(now), sql.time(now - UPDATE_WINDOW))
        if self.driver.execute(sql.claim_update, values).rowcount != 1:
            raise Duplicate(update_id)

    def adopt_updates(self, bot_id: int) -> int:
        """The updates carried over by migration 0005 (bot 0) become this bot's; how many."""
        return self.conn.execute(
            telegram_updates.update().where(telegram_updates.c.bot_id == 0).values(bot_id=bot_id)
        ).rowcount

    def forget_updates(self, now: datetime) -> int:
        """Updates seen before the window: their numbers may come again as new updates; how many."""
        return self.conn.execute(
            telegram_updates.delete().where(telegram_updates.c.seen_at < now - UPDATE_WINDOW)
        ).rowcount

    def _delete_intakes(self, which: sa.ColumnElement[bool]) -> int:
        ids = sa.select(intakes.c.id).where(which)
        # Children first: SQLite enforces ON DELETE CASCADE only with its foreign_keys pragma.
        self.conn.execute(messages.delete().where(messages.c.intake_id.in_(ids)))
        # the search text (on SQLite its trigger takes it out of the FTS index too)
        for child in (webhook_deliveries, notes, intake_search, talks, funnel_steps):
            self.conn.execute(child.delete().where(child.c.intake_id.in_(ids)))
        # Staff alerts already sent or given up on go too; one still to send stays (no foreign
        # key), so that erasing right after asking for help never keeps staff from hearing of it.
        done = sa.or_(alerts.c.sent_at.isnot(None), alerts.c.gave_up_at.isnot(None))
        self.conn.execute(alerts.delete().where(alerts.c.intake_id.in_(ids), done))
        return self.conn.execute(intakes.delete().where(which)).rowcount

    def quiet_intakes(self, updated_before: datetime) -> list[Intake]:
        """Intakes in progress, quiet since ``updated_before``, not reminded yet and with no talk
        with the clinic open."""
        query = sa.select(intakes).where(
            intakes.c.status == IntakeStatus.IN_PROGRESS.value,
            intakes.c.updated_at < updated_before,
            intakes.c.reminded_at.is_(None),
            intakes.c.talk_id.is_(None),  # talking with the clinic: no reminder of the questions
        )
        return [Intake.from_row(r) for r in self.conn.execute(query.order_by(intakes.c.id))]

    # --- transcript and outbox -------------------------------------------------------------------

    def record_turn(
        self,
        intake_id: int,
        chat_id: int,
        update_id: int | None,
        text: str | None,
        kind: str,
        replies: list[dict[str, Any]],
        at: datetime,
        screened: dict[str, Any] | None = None,
        talk_id: int | None = None,
    ) -> list[Outgoing]:
        """A turn's input (none when ``text`` is None) and its replies, in one statement; the
        replies to send once this commits, in order. ``screened``: the safety screen the input
        met (``{"screen": id, "ask_first": bool}``), kept beside it for staff; ``talk_id``:
        the input is a message to the clinic in that conversation."""
        sql = self.sql
        when = sql.time(at)
        note = dumps(screened) if screened else None
        values: list[Any] = [intake_id, chat_id, update_id, kind, text, when, note, talk_id] if text is not None else []
        for payload in replies:
            values += (intake_id, chat_id, payload["op"], payload.get("text") or "", when, dumps(payload))
        rows = 1 if text is not None else 0
        if not rows and not replies:
            return []
        # Ids grow in the order the rows are listed (AUTOINCREMENT, a sequence), whatever order
        # RETURNING gives them back in.
        ids = sorted(row[0] for row in self.driver.execute(sql.turn_rows(rows, len(replies)), values).fetchall())
        return [
            Outgoing(row_id, intake_id, chat_id, payload.get("text") or "", payload, 0)
            for row_id, payload in zip(ids[rows:], replies, strict=True)
        ]

    def pending(self, chat_id: int | None = None, *, max_attempts: int = 8, limit: int = 100) -> list[Outgoing]:
        """Unsent replies not given up on, in order (each with when it may be tried again)."""
        query = _PENDING if chat_id is None else _PENDING.where(messages.c.chat_id == chat_id)
        rows = self.conn.execute(query, {"most": max_attempts, "limit": limit})
        return [
            Outgoing(r.id, r.intake_id, r.chat_id, r.text, orjson.loads(r.payload), r.attempts, as_utc(r.next_try_at))
            for r in rows
        ]

    def mark_all_sent(self, sent: list[tuple[int, int | None, datetime]]) -> None:
        """Replies that went out: (row, Telegram's message id, when)."""
        if sent:
            cursor = self.driver.cursor()
            try:
                cursor.executemany(self.sql.mark_sent, [(self.sql.time(at), tg, row) for row, tg, at in sent])
            finally:
                cursor.close()

    def mark_failed(
        self, message_id: int, error: str, next_try_at: datetime | None, give_up: bool = False, counts: bool = True
    ) -> None:
        """A failed send: retry at ``next_try_at`` (None: never); ``counts`` False for a wait
        Telegram asked for (a 429), which uses up none of the reply's attempts."""
        attempts = GAVE_UP if give_up else messages.c.attempts + 1 if counts else messages.c.attempts
        self.conn.execute(
            messages.update()
            .where(messages.c.id == message_id)
            # the worker's claim ends with the attempt (several workers): whoever's round finds it
            # due next sends it
            .values(attempts=attempts, last_error=error[:256], next_try_at=next_try_at)
            .values(claimed_by=None, lease_until=None)
        )

    def abandon(self, updated_before: datetime) -> int:
        """Mark intakes quiet since ``updated_before`` as abandoned; how many."""
        return self.conn.execute(
            intakes.update()
            .where(intakes.c.status == IntakeStatus.IN_PROGRESS.value, intakes.c.updated_at < updated_before)
            .values(status=IntakeStatus.ABANDONED.value, version=intakes.c.version + 1)
        ).rowcount

    def queue_completion(self, intake_id: int, now: datetime) -> None:
        """Queue a completed intake for the clinic's webhook, in the turn that completes it."""
        self.conn.execute(webhook_deliveries.insert().values(intake_id=intake_id, created_at=now, attempts=0))

    def copy_on_its_way(self, intake_id: int, since: datetime) -> bool:
        """Whether a copy of the intake's answers is waiting to be sent, or was sent since ``since``
        (a second tap while the first copy is on its way makes no second file). Read from the
        store, so a turn run again (a group commit's rerun, a redelivery) answers the same."""
        row = self.conn.execute(
            sa.select(messages.c.id)
            .where(
                messages.c.intake_id == intake_id,
                messages.c.kind == "copy",
                sa.or_(
                    sa.and_(messages.c.sent_at.is_(None), messages.c.attempts < GAVE_UP),
                    messages.c.sent_at >= since,
                ),
            )
            .limit(1)
        ).first()
        return row is not None

    def telegram_message_id(self, message_id: int) -> int | None:
        return self.conn.execute(
            sa.select(messages.c.telegram_message_id).where(messages.c.id == message_id)
        ).scalar_one_or_none()

    def transcript(self, intake_id: int) -> list[TranscriptLine]:
        """Every message in and out, in order (edits of sent messages left out)."""
        rows = self.conn.execute(
            sa.select(
                messages.c.direction,
                messages.c.text,
                messages.c.at,
                messages.c.sent_at,
                messages.c.payload,
                messages.c.sender,
                messages.c.kind,
            )
            .where(messages.c.intake_id == intake_id, messages.c.kind.notin_(("edit", "markup")))
            .order_by(messages.c.id)
        )
        return [
            TranscriptLine(
                r.direction,
                r.text,
                as_utc(r.at),
                as_utc(r.sent_at),
                _screened(r.direction, r.payload),
                r.sender,
                r.kind,
            )
            for r in rows
        ]


def _screened(direction: str, payload: str | None) -> dict[str, Any] | None:
    """An incoming row's note of the safety screen it met (outgoing rows' payload is the reply)."""
    return orjson.loads(payload) if direction == Direction.IN.value and payload else None


def _private_file(path: Path) -> None:
    """The database file readable by this user only: it holds health data. SQLite gives its
    write-ahead log and shared-memory files the same permissions as the database file."""
    try:
        if path.exists():
            path.chmod(0o600)
        else:
            os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
    except OSError as err:  # not ours to change (a file owned by another user): SQLite says if it cannot open it
        log.warning("could not make the database file private: %s", type(err).__name__)


def _safe(url: str) -> str:
    """The URL without its password, for messages."""
    try:
        return sa.engine.make_url(url).render_as_string(hide_password=True)
    except sa.exc.ArgumentError:
        return "(unreadable DATABASE_URL)"


def _begun(intake: Intake, sql: Statements) -> tuple[Any, str, str | None]:
    """What ``funnel_steps`` copies of its intake: its start, flow version and source."""
    return sql.time(intake.created_at), intake.flow_version, intake.source
