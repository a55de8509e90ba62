"""The staff work queue and the full list, read along indexes at any size (migration 0010).

**The queue** says whom to look at first, in buckets, each read by one indexed query:

0. ``urgent``: an urgent text shown that nobody has acknowledged since (oldest first);
1. ``waiting``: an open conversation waiting for the clinic (``waiting_since``, oldest first);
2. ``human``: a ``/human`` request nobody has handled yet (oldest first). A request is handled
   once a member of staff acts on the intake after it: marks it reviewed, assigns it, or records a
   follow-up. Nothing is stored for it: those three times are compared with the request's;
3. ``high``: a completed intake with a high (or urgent) flag, not reviewed (newest first);
4. ``rest``: every other intake not reviewed and not in progress (newest first).

An intake is in the first bucket it fits, so the buckets never overlap. Reviewed intakes leave
the queue, except while an urgent text is unacknowledged or the patient waits for an answer.
A place in the queue (``Position``) is the bucket, the bucket's time and the id: "next" and
"previous" are one keyset step from it, so they work from an intake that has just left the queue.

**The list** pages by keyset on (created_at, id) or (severity, created_at, id), never OFFSET: a
page deep down costs what the first does. Its counts are capped (``CAP``): counting up to a
thousand reads at most that many index entries, where an exact count reads every match (the
whole table for "all intakes"); a clinic needs "more than a thousand" to know the list is long,
not the exact figure. A kept count (a counter row per status) would add a write to every turn
that changes a status, and still not count a filter; an estimate (PostgreSQL's planner rows) is
not there on SQLite and can be off by a factor for a filter. The keys read for the count serve a
filter that matches few: its page is picked from them (``list_page``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from bot.store.records import Intake, IntakeStatus
from bot.store.review import Search, along, human_waiting, urgent_pending
from bot.store.schema import When, intakes
from bot.store.store import Tx

#: Counts stop at this many: "1,000+" (see the module's note).
CAP = 1000
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
c = intakes.c


@dataclass(frozen=True)
class Bucket:
    name: str
    where: sa.ColumnElement[bool]
    key: sa.ColumnElement[datetime]  # the time the bucket is ordered by
    ascending: bool  # oldest first (a wait), or newest first
    index: str  # the index read along (see ``along``)


def buckets(high: int) -> list[Bucket]:
    """The queue's buckets in order; ``high`` is the lowest severity number that counts as a high
    flag (the flow's ranks: the store knows no flow)."""
    urgent = urgent_pending()
    waiting = c.waiting_since.is_not(None)
    human = human_waiting()
    unreviewed = c.reviewed_at.is_(None)
    high_flags = sa.and_(unreviewed, c.status == IntakeStatus.COMPLETED.value, c.severity >= high)
    rest = sa.and_(unreviewed, c.status != IntakeStatus.IN_PROGRESS.value)
    return [
        Bucket("urgent", urgent, c.urgent_shown_at, True, "ix_intakes_urgent_shown"),
        Bucket("waiting", sa.and_(waiting, ~urgent), c.waiting_since, True, "ix_intakes_waiting"),
        Bucket("human", sa.and_(human, ~waiting, ~urgent), c.human_requested_at, True, "ix_intakes_human"),
        Bucket("high", sa.and_(high_flags, ~human, ~waiting, ~urgent), c.created_at, False, "ix_intakes_unreviewed"),
        Bucket(
            "rest", sa.and_(rest, ~high_flags, ~human, ~waiting, ~urgent), c.created_at, False, "ix_intakes_unreviewed"
        ),
    ]


@dataclass(frozen=True)
class Position:
    """A place in the queue: the bucket, its time there, the intake's id. As text
    ``bucket.microseconds.id`` (a link carries it)."""

    bucket: int
    at: datetime
    id: int

    def __str__(self) -> str:
        return f"{self.bucket}.{(self.at - EPOCH) // timedelta(microseconds=1)}.{self.id}"

    @classmethod
    def parse(cls, text: str) -> Position:
        """ValueError when ``text`` is not one."""
        bucket, micros, intake_id = (int(part) for part in text.split("."))
        if not 0 <= bucket < 5 or intake_id < 1:
            raise ValueError(text)
        return cls(bucket, EPOCH + timedelta(microseconds=micros), intake_id)


@dataclass(frozen=True)
class Queued:
    intake: Intake
    position: Position

    @property
    def bucket(self) -> str:
        return NAMES[self.position.bucket]


NAMES = ("urgent", "waiting", "human", "high", "rest")


def _after(bucket: Bucket, at: datetime, intake_id: int, forward: bool) -> sa.ColumnElement[bool]:
    """Beyond (at, id) in the bucket's order (``forward``), or before it."""
    mine = sa.tuple_(bucket.key, c.id)
    there = sa.tuple_(sa.literal(at, When), sa.literal(intake_id, sa.BigInteger))
    return mine > there if bucket.ascending == forward else mine < there


def _ordered(bucket: Bucket, forward: bool) -> list[sa.ColumnElement]:
    up = bucket.ascending == forward
    return [bucket.key.asc(), c.id.asc()] if up else [bucket.key.desc(), c.id.desc()]


def _as_utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def walk(
    tx: Tx, high: int, size: int, start: Position | None = None, forward: bool = True, *, include: bool = False
) -> list[Queued]:
    """Up to ``size`` intakes of the queue from ``start`` (beyond it; ``include`` from it), in
    queue order, or backwards from it (``forward`` False). One indexed query per bucket read."""
    found: list[Queued] = []
    every = buckets(high)
    order = range(len(every)) if forward else range(len(every) - 1, -1, -1)
    for number in order:
        if start is not None and (number < start.bucket if forward else number > start.bucket):
            continue
        bucket = every[number]
        query = along(sa.select(intakes).where(bucket.where), bucket.index)
        if start is not None and number == start.bucket:
            beyond = _after(bucket, start.at, start.id, forward)
            if include:
                beyond = sa.or_(beyond, c.id == start.id)
            query = query.where(beyond)
        rows = tx.conn.execute(query.order_by(*_ordered(bucket, forward)).limit(size - len(found)))
        for row in rows:
            intake = Intake.from_row(row)
            found.append(Queued(intake, Position(number, _as_utc(getattr(row, bucket.key.name)), intake.id)))
        if len(found) >= size:
            break
    return found


def position(tx: Tx, high: int, intake_id: int) -> Position | None:
    """Where the intake is in the queue now; None when it is not in it (or not there at all)."""
    every = buckets(high)
    which = sa.case(*[(b.where, n) for n, b in enumerate(every)], else_=None)
    row = tx.conn.execute(
        sa.select(which.label("bucket"), *[b.key.label(f"k{n}") for n, b in enumerate(every)]).where(c.id == intake_id)
    ).first()
    if row is None or row.bucket is None:
        return None
    return Position(row.bucket, _as_utc(row[1 + row.bucket]), intake_id)


def bucket_counts(tx: Tx, high: int) -> dict[str, int]:
    """How many intakes each bucket holds, each counted up to ``CAP`` + 1."""
    return {b.name: capped_count(tx, [b.where], index=b.index) for b in buckets(high)}


def capped_count(
    tx: Tx, conditions: Iterable[sa.ColumnElement[bool]], cap: int = CAP, *, index: str | None = None
) -> int:
    """The matches, counted up to ``cap`` + 1 (more than the cap: "1,000+"), read along ``index``
    on SQLite if given (see ``along``)."""
    inner = sa.select(sa.literal(1).label("one")).select_from(intakes).where(*conditions).limit(cap + 1)
    if index is not None:
        inner = along(inner, index)
    inner = inner.subquery()
    return tx.conn.execute(sa.select(sa.func.count()).select_from(inner)).scalar_one()


# --- the full list -------------------------------------------------------------------------------

SORTS = ("date", "severity")


@dataclass(frozen=True)
class Cursor:
    """Where a list page begins: just beyond this row's (severity,) created_at and id. As text
    ``[severity.]microseconds.id``."""

    at: datetime
    id: int
    severity: int | None = None  # for the severity sort only

    def __str__(self) -> str:
        micros = (self.at - EPOCH) // timedelta(microseconds=1)
        head = f"{self.severity}." if self.severity is not None else ""
        return f"{head}{micros}.{self.id}"

    @classmethod
    def parse(cls, text: str, sort: str) -> Cursor:
        """ValueError when ``text`` is not one for ``sort``."""
        parts = [int(p) for p in text.split(".")]
        if sort == "severity":
            severity, micros, intake_id = parts
        else:
            severity, (micros, intake_id) = None, parts
        if intake_id < 1:
            raise ValueError(text)
        return cls(EPOCH + timedelta(microseconds=micros), intake_id, severity)


@dataclass
class ListPage:
    items: list[Intake]
    total: int  # capped at CAP + 1
    counts: dict[str, int]  # per status, each capped
    next: Cursor | None  # the next (older) page's start, ``?after=``; None on the last page
    sources: list[str]
    previous: Cursor | None = None  # the previous (newer) page's end, ``?before=``; None on the first


def _index(which: Search, sort: str) -> str | None:
    """The index a list page reads along: the sort's, or a filter's that holds the same order;
    None for "waiting for us", whose few matches are found first (then sorted), and "" for a text
    search, which finds its matches its own way."""
    if which.text:
        return ""
    if which.waiting:
        return None
    if sort == "severity":
        return "ix_intakes_severity"
    if which.assigned_to:
        return "ix_intakes_assigned"
    if which.follow_up:
        return "ix_intakes_follow_up"
    if which.reviewed is False:
        return "ix_intakes_unreviewed"
    return "ix_intakes_created"


def _sort_key(sort: str) -> list[sa.ColumnElement]:
    return [c.severity, c.created_at, c.id] if sort == "severity" else [c.created_at, c.id]


def list_page(
    tx: Tx,
    which: Search,
    sort: str = "date",
    after: Cursor | None = None,
    size: int = 25,
    *,
    before: Cursor | None = None,
    counts: bool = True,
) -> ListPage:
    """One page of the list, newest (or gravest, then newest) first: from just beyond ``after``,
    or the page just above ``before`` (read upwards, then turned). One query for the rows:
    ``size + 1`` tell whether there are more in the direction read; the other direction has more
    because the cursor came from a row of the page beside this one."""
    conditions = which.where()
    key = _sort_key(sort)
    upwards = before is not None and after is None
    cursor = before if upwards else after
    # The keys of the matches, up to CAP + 1, in whatever order the database finds them: their
    # number is the page's count; when they are few (an ending or flag seldom seen, a name) the
    # page is picked from them here. Walking the sort's index for those would read it through
    # (0.3 s at 100,000 on SQLite, against 80 ms for reading the table once); when they are many,
    # the walk stops at its 25th match.
    found = list(tx.conn.execute(sa.select(*key).where(*conditions).limit(CAP + 1)))
    total = len(found)
    if total <= CAP:
        rows, more = _pick(tx, found, sort, cursor, upwards, size)
    else:
        query = sa.select(intakes).where(*conditions)
        if (index := _index(which, sort)) != "":
            query = along(query, index)
        if cursor is not None:
            there = _there(cursor, sort)
            query = query.where(sa.tuple_(*key) > there if upwards else sa.tuple_(*key) < there)
        order = [k.asc() for k in key] if upwards else [k.desc() for k in key]
        rows = list(tx.conn.execute(query.order_by(*order).limit(size + 1)))
        more, rows = len(rows) > size, rows[:size]
        rows = rows[::-1] if upwards else rows
    items = [Intake.from_row(r) for r in rows]
    # read upwards: older rows exist (``before`` is one); read down: newer exist past ``after``
    older, newer = (True, more) if upwards else (more, cursor is not None)
    older, newer = older and bool(items), newer and bool(items)
    by_status: dict[str, int] = {}
    if counts and not which.where(with_status=False):
        # Per status only over every intake: with another filter, a status that has few of its
        # matches would be counted by reading every intake of that status (250 ms at 100,000).
        by_status = {s.value: capped_count(tx, [c.status == s.value]) for s in IntakeStatus}
    return ListPage(
        items,
        total,
        by_status,
        _cursor(items[-1], sort) if older else None,
        distinct_sources(tx),
        _cursor(items[0], sort) if newer else None,
    )


def _pick(
    tx: Tx, found: list[sa.Row], sort: str, cursor: Cursor | None, upwards: bool, size: int
) -> tuple[list[sa.Row], bool]:
    """The page among a few matches' keys (``list_page``), newest (gravest) first, its rows read
    by id; and whether there are more beyond it in the direction read."""
    keys = sorted((_key(row, sort) for row in found), reverse=True)
    if cursor is None:
        beyond = keys
    else:
        there = _key(cursor, sort)
        beyond = [k for k in keys if k > there] if upwards else [k for k in keys if k < there]
    chosen = beyond[-size:] if upwards else beyond[:size]
    ids = [k[-1] for k in chosen]
    rows = {row.id: row for row in tx.conn.execute(sa.select(intakes).where(c.id.in_(ids)))} if ids else {}
    return [rows[i] for i in ids if i in rows], len(beyond) > size


def _key(row: sa.Row | Cursor, sort: str) -> tuple:
    """A row's (or a cursor's) place in the list's order, as Python compares it."""
    at = _as_utc(row.created_at if isinstance(row, sa.Row) else row.at)
    return ((row.severity or 0), at, row.id) if sort == "severity" else (at, row.id)


def _there(cursor: Cursor, sort: str) -> sa.Tuple:
    there: list[sa.ColumnElement] = [sa.literal(cursor.at, When), sa.literal(cursor.id, sa.BigInteger)]
    if sort == "severity":
        there.insert(0, sa.literal(cursor.severity or 0, sa.SmallInteger))
    return sa.tuple_(*there)


def _cursor(intake: Intake, sort: str) -> Cursor:
    return Cursor(intake.created_at, intake.id, intake.severity if sort == "severity" else None)


def distinct_sources(tx: Tx) -> list[str]:
    """Every source intakes came from, stepping along ix_intakes_source from one to the next (a
    loose index scan: SELECT DISTINCT would read every intake)."""
    step = sa.select(c.source).where(c.source.is_not(None)).order_by(c.source).limit(1)
    found = sa.select(step.scalar_subquery().label("source")).cte("found", recursive=True)
    after = sa.select(step.where(c.source > found.c.source).scalar_subquery()).where(found.c.source.is_not(None))
    found = found.union_all(after)
    return [s for s in tx.conn.execute(sa.select(found.c.source).where(found.c.source.is_not(None))).scalars() if s]


def rank_severities(tx: Tx, ranks: dict[str, int], after: int = 0, limit: int = 5000) -> int | None:
    """Give intakes stored before their severity was kept (migration 0010) the flow's: those with
    flags and severity 0, by id from ``after``, ``limit`` at a time. The last id ranked, or None
    when none was left. Turns keep the severity from then on."""
    whens = []
    for rank in sorted({r for r in ranks.values() if r}, reverse=True):
        named = [c.flags.contains(f'"{flag}"', autoescape=True) for flag, r in ranks.items() if r == rank]
        whens.append((sa.or_(*named), rank))
    ids = list(
        tx.conn.execute(
            sa.select(c.id).where(c.severity == 0, c.flags != "[]", c.id > after).order_by(c.id).limit(limit)
        ).scalars()
    )
    if not ids or not whens:
        return None
    tx.conn.execute(intakes.update().where(c.id.in_(ids)).values(severity=sa.case(*whens, else_=0)))
    return ids[-1]
