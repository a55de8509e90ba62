"""What staff read and write about intakes: search, notes, review marks, the audit log, exports.

Every statement of the staff side lives here (or in ``accounts.py`` and ``deliveries.py``); the
staff app (``bot.staff``) says what it wants, this module says how to find it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo

import sqlalchemy as sa

from bot.store import search_index
from bot.store.records import Intake, IntakeStatus, TranscriptLine, as_utc, utcnow
from bot.store.schema import audit, intakes, notes
from bot.store.store import Tx

STATUSES = tuple(IntakeStatus)


def day_range(
    column: sa.ColumnElement[datetime], since: date | None, until: date | None, zone: tzinfo = UTC
) -> list[sa.ColumnElement[bool]]:
    """From the start of ``since`` to the end of ``until`` (both days included), as the days are in
    ``zone`` (the clinic's, ``CLINIC_TIMEZONE``): one rule for every date filter of the staff pages.
    A day is from its midnight to the next, so a day of a clock change has 23 or 25 hours."""
    conditions: list[sa.ColumnElement[bool]] = []
    if since:
        conditions.append(column >= _midnight(since, zone))
    if until:
        conditions.append(column < _midnight(until + timedelta(days=1), zone))
    return conditions


def _midnight(day: date, zone: tzinfo) -> datetime:
    """The instant a day begins in ``zone``, in UTC (what the database holds)."""
    return datetime.combine(day, time.min, tzinfo=zone).astimezone(UTC)


def along(query: sa.Select, index: str | None) -> sa.Select:
    """Read the intakes along this index on SQLite (None: by rowid only, from an ``id IN``).

    SQLite's planner, knowing no better, takes an equality on any indexed column (``status =
    'completed'``, ``waiting_since IS NULL``) for a few rows and sorts what it finds: 70,000 rows
    sorted for 25 shown, 350 ms at 100,000 intakes; ANALYZE did not change its mind. Read along
    the sort's index, a page stops at its 25th match. The worst case, a filter that matches
    nothing, reads the index once through. PostgreSQL plans from its statistics: no hint there.
    """
    hint = f"INDEXED BY {index}" if index else "NOT INDEXED"
    return query.with_hint(intakes, hint, dialect_name="sqlite")


@dataclass(frozen=True)
class Search:
    """Which intakes a staff member asks for (every field optional)."""

    status: str | None = None
    outcome: str | None = None
    flag: str | None = None
    source: str | None = None
    since: date | None = None
    until: date | None = None
    text: str | None = None  # part of a name, @username, e-mail address or phone number
    zone: tzinfo = UTC  # the zone the dates are days of (the clinic's)
    reviewed: bool | None = None  # True: reviewed only; False: not reviewed only
    acknowledged: bool = False  # urgent intakes a member of staff has acknowledged
    assigned_to: str | None = None  # a staff member's name
    waiting: bool = False  # waiting for the clinic: an open conversation or a /human request
    follow_up: str | None = None  # one of FOLLOW_UPS
    #: the booking button: True tapped; False shown (tracked) and not tapped; None either
    booking_tapped: bool | None = None

    def where(self, *, with_status: bool = True) -> list[sa.ColumnElement[bool]]:
        conditions: list[sa.ColumnElement[bool]] = []
        if self.status and with_status:
            conditions.append(intakes.c.status == self.status)
        if self.reviewed is not None:
            conditions.append(intakes.c.reviewed_at.is_not(None) if self.reviewed else intakes.c.reviewed_at.is_(None))
        if self.acknowledged:
            conditions.append(intakes.c.acknowledged_at.is_not(None))
        if self.assigned_to:
            conditions.append(intakes.c.assigned_to == self.assigned_to)
        if self.waiting:
            # the few waiting, found along ix_intakes_waiting and ix_intakes_human, then sorted:
            # as one OR, SQLite read every intake (250 ms at 100,000)
            waiting = sa.select(intakes.c.id).where(intakes.c.waiting_since.is_not(None))
            asking = along(sa.select(intakes.c.id).where(human_waiting()), "ix_intakes_human")
            conditions.append(intakes.c.id.in_(sa.union_all(waiting, asking)))
        if self.follow_up:
            conditions.append(intakes.c.follow_up == self.follow_up)
        if self.booking_tapped:
            conditions.append(intakes.c.booking_tapped_at.is_not(None))
        elif self.booking_tapped is False:  # a tracked button was shown (its token): only then is "not" known
            conditions += [intakes.c.booking_token.is_not(None), intakes.c.booking_tapped_at.is_(None)]
        if self.outcome:
            conditions.append(intakes.c.outcome == self.outcome)
        if self.flag:
            # flags are a JSON list of ids; ids are [a-z0-9_], so the quoted id matches exactly
            conditions.append(intakes.c.flags.contains(f'"{self.flag}"', autoescape=True))
        if self.source:
            conditions.append(intakes.c.source == self.source)
        conditions += day_range(intakes.c.created_at, self.since, self.until, self.zone)
        if self.text and (found := search_index.found(self.text)) is not None:
            # names, username, e-mail and phone typed in the answers; case, accents and umlauts
            # folded, % and _ as typed (bot.store.search_text)
            conditions.append(found)
        return conditions


@dataclass(frozen=True)
class Note:
    author: str
    text: str
    created_at: datetime


@dataclass(frozen=True)
class IntakeView:
    """Everything the intake page shows, read in one transaction."""

    intake: Intake
    transcript: list[TranscriptLine]
    notes: list[Note]


def urgent_pending() -> sa.ColumnElement[bool]:
    """An urgent text was shown that nobody has acknowledged since (``Intake.urgent_pending``)."""
    c = intakes.c
    return sa.and_(
        c.urgent_shown_at.is_not(None), sa.or_(c.acknowledged_at.is_(None), c.acknowledged_at < c.urgent_shown_at)
    )


def human_waiting() -> sa.ColumnElement[bool]:
    """A /human request nobody has handled: no member of staff has reviewed, assigned or followed
    up the intake since it was made (``Intake.human_waiting``)."""
    c = intakes.c
    asked = c.human_requested_at
    handled = (c.reviewed_at, c.assigned_at, c.follow_up_at)
    return sa.and_(asked.is_not(None), *(sa.or_(t.is_(None), t < asked) for t in handled))


def intakes_for_export(tx: Tx, since: datetime | None = None, ids: Iterable[int] | None = None) -> list[Intake]:
    """Intakes in id order: all, those started since ``since``, or those with these ids."""
    query = sa.select(intakes).order_by(intakes.c.id)
    if since is not None:
        query = query.where(intakes.c.created_at >= since)
    if ids is not None:
        query = query.where(intakes.c.id.in_(list(ids)))
    return [Intake.from_row(r) for r in tx.conn.execute(query)]


def intake_ids(tx: Tx, which: Search | None = None, since: datetime | None = None) -> list[int]:
    """The ids of the intakes ``which`` finds (all, or those started since ``since``), in order."""
    query = sa.select(intakes.c.id).order_by(intakes.c.id)
    if which is not None:
        query = query.where(*which.where())
    if since is not None:
        query = query.where(intakes.c.created_at >= since)
    return [row[0] for row in tx.conn.execute(query)]


def intake_view(tx: Tx, intake_id: int) -> IntakeView | None:
    intake = tx.intake(intake_id)
    if intake is None:
        return None
    return IntakeView(intake, tx.transcript(intake_id), notes_of(tx, intake_id))


def notes_of(tx: Tx, intake_id: int) -> list[Note]:
    rows = tx.conn.execute(sa.select(notes).where(notes.c.intake_id == intake_id).order_by(notes.c.id))
    return [Note(r.author, r.text, as_utc(r.created_at)) for r in rows]


def add_note(tx: Tx, intake_id: int, author: str, text: str) -> bool:
    """Add a note to an intake that still exists; whether it did."""
    if tx.conn.execute(sa.select(intakes.c.id).where(intakes.c.id == intake_id)).first() is None:
        return False
    tx.conn.execute(notes.insert().values(intake_id=intake_id, author=author, text=text, created_at=utcnow()))
    return True


def mark_reviewed(tx: Tx, intake_id: int, by: str, reviewed: bool = True) -> bool:
    """Set or clear the review mark; False when there is no such intake."""
    done = tx.conn.execute(
        intakes.update()
        .where(intakes.c.id == intake_id)
        .values(reviewed_at=utcnow() if reviewed else None, reviewed_by=by if reviewed else None)
    )
    return done.rowcount > 0


def acknowledge(tx: Tx, intake_id: int, by: str) -> bool:
    """A member of staff has seen that an urgent text was shown; False when the intake is gone or
    never had one. A turn never writes these columns, so nothing the patient does clears it."""
    done = tx.conn.execute(
        intakes.update()
        .where(intakes.c.id == intake_id, intakes.c.urgent_shown_at.is_not(None))
        .values(acknowledged_at=utcnow(), acknowledged_by=by)
    )
    return done.rowcount > 0


def assign(tx: Tx, intake_id: int, to: str | None) -> bool:
    """Give the intake to a member of staff (None: to nobody); False when there is no such intake.
    A turn never writes these columns."""
    done = tx.conn.execute(
        intakes.update().where(intakes.c.id == intake_id).values(assigned_to=to, assigned_at=utcnow() if to else None)
    )
    return done.rowcount > 0


def follow_up(tx: Tx, intake_id: int, value: str | None, by: str) -> bool:
    """Record what came of contacting the patient (one of FOLLOW_UPS, or None to clear it); False
    when there is no such intake. A turn never writes these columns."""
    done = tx.conn.execute(
        intakes.update()
        .where(intakes.c.id == intake_id)
        .values(follow_up=value, follow_up_at=utcnow() if value else None, follow_up_by=by if value else None)
    )
    return done.rowcount > 0


def record(tx: Tx, actor: str, action: str, intake_id: int | None = None, detail: str | None = None) -> None:
    """The audit log: who viewed or exported what, and when (never what the intake says)."""
    tx.conn.execute(audit.insert().values(actor=actor, action=action, intake_id=intake_id, detail=detail, at=utcnow()))


def recent(tx: Tx, actor: str, action: str, since: datetime, scan: int = 200) -> int:
    """How many of ``actor``'s last ``scan`` audit lines are ``action`` at or after ``since``:
    read along ``ix_audit_actor``, so the cost is bounded however long the actor's history
    (a rate counted in the store holds across workers; more than ``scan`` audited actions since
    then would hide the older ones)."""
    last = (
        sa.select(audit.c.action, audit.c.at)
        .where(audit.c.actor == actor)
        .order_by(audit.c.id.desc())
        .limit(scan)
        .subquery()
    )
    query = sa.select(sa.func.count()).select_from(last).where(last.c.action == action, last.c.at >= since)
    return tx.conn.execute(query).scalar_one()


def record_all(tx: Tx, actor: str, action: str, intake_ids: Iterable[int], detail: str | None = None) -> None:
    """One audit line per intake, in one statement (an export of thousands)."""
    now = utcnow()
    rows = [{"actor": actor, "action": action, "intake_id": i, "detail": detail, "at": now} for i in intake_ids]
    if rows:
        tx.conn.execute(audit.insert(), rows)


@dataclass(frozen=True)
class AuditSearch:
    """Which audit lines an admin asks for (every field optional, all of them together)."""

    actor: str | None = None
    action: str | None = None
    intake_id: int | None = None
    since: date | None = None
    until: date | None = None
    zone: tzinfo = UTC  # the zone the dates are days of (the clinic's)

    def where(self) -> list[sa.ColumnElement[bool]]:
        conditions: list[sa.ColumnElement[bool]] = []
        if self.actor:
            conditions.append(audit.c.actor == self.actor)
        if self.action:
            conditions.append(audit.c.action == self.action)
        if self.intake_id is not None:
            conditions.append(audit.c.intake_id == self.intake_id)
        return conditions + day_range(audit.c.at, self.since, self.until, self.zone)


@dataclass(frozen=True)
class AuditLine:
    id: int
    actor: str
    action: str
    intake_id: int | None
    detail: str | None
    at: datetime  # UTC, whatever zone the database session is in

    @classmethod
    def of(cls, row: sa.Row) -> AuditLine:
        at = as_utc(row.at)
        assert at is not None  # the column is NOT NULL
        return cls(row.id, row.actor, row.action, row.intake_id, row.detail, at.astimezone(UTC))


@dataclass
class AuditPage:
    """One page of the audit log, newest first, and where the pages beside it begin."""

    entries: list[AuditLine]
    older: int | None  # ``?before=`` for the next older page; None on the oldest
    newer: int | None  # ``?after=`` for the next newer page; None on the newest
    actions: list[str]  # every action the log holds, for the filter's choice


def audit_page(
    tx: Tx, search: AuditSearch, size: int, *, before: int | None = None, after: int | None = None
) -> AuditPage:
    """Keyset paging on the primary key (ids only grow, so id order is time order): a page costs
    the same at the end of a long log as at its start, where OFFSET would read every row before it.

    One query a page: ``size + 1`` lines tell whether there are more in the direction read; the
    other direction has more because ``before``/``after`` came from a line this page's link was
    made on. (Asking the database instead, "any line above this id with these filters", read
    750,000 lines on PostgreSQL with a date filter: it walked the id index hoping for an early hit.)
    """
    query = sa.select(audit).where(*search.where()).limit(size + 1)
    if after is not None:  # the page above ``after``: read upwards, then turn it newest first
        found = list(tx.conn.execute(query.where(audit.c.id > after).order_by(audit.c.id.asc())))
        more_newer, more_older, found = len(found) > size, True, found[:size][::-1]
    else:
        if before is not None:
            query = query.where(audit.c.id < before)
        found = list(tx.conn.execute(query.order_by(audit.c.id.desc())))
        more_older, more_newer, found = len(found) > size, before is not None, found[:size]
    return AuditPage(
        entries=[AuditLine.of(row) for row in found],
        older=found[-1].id if found and more_older else None,
        newer=found[0].id if found and more_newer else None,
        actions=actions(tx),
    )


def actions(tx: Tx) -> list[str]:
    """Every action the audit log holds, in order. SELECT DISTINCT would read the whole log (450 ms
    at a million lines); this steps from one action to the next along ix_audit_action, one index
    lookup each (a "loose index scan", which neither SQLite nor PostgreSQL makes of DISTINCT)."""
    step = sa.select(audit.c.action).order_by(audit.c.action).limit(1)
    found = sa.select(step.scalar_subquery().label("action")).cte("found", recursive=True)
    after = sa.select(step.where(audit.c.action > found.c.action).scalar_subquery()).where(found.c.action.is_not(None))
    found = found.union_all(after)
    return list(tx.conn.execute(sa.select(found.c.action).where(found.c.action.is_not(None))).scalars())


def audit_log(tx: Tx, limit: int = 500) -> list[sa.Row]:
    """The newest ``limit`` audit lines (the page itself reads ``audit_page``)."""
    return list(tx.conn.execute(sa.select(audit).order_by(audit.c.id.desc()).limit(limit)))
