"""The flow versions a process has run (``flow_versions``, migration 0017), and which intakes use them.

Written once per content, at the start of the first process that runs it (``record``); read when
an intake of a version the process does not run comes along (``source``), and by ``validate`` and
the start-up check (``of_flow``, ``in_flight``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import orjson
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from bot.flow.problems import FlowError, Problem
from bot.flow.versions import Checked, Earlier, FlowSource, breaking_changes, parse_version
from bot.store.records import IntakeStatus, as_utc
from bot.store.schema import flow_versions, intakes
from bot.store.store import Store, Tx

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Stored:
    source: FlowSource
    first_run_at: datetime


def record(tx: Tx, source: FlowSource, now: datetime) -> bool:
    """Keep ``source`` if the store does not have it yet; True when it was new.

    The first time a flow id is recorded at all, the intakes begun before migration 0017 under
    the same id and version string are bound to it: the only content the store can know for them.
    (Had the clinic edited the flow keeping its version string, those intakes would be bound to a
    content they did not begin on; ``Engine`` reads them then as it read every intake before 0017.)
    """
    conn = tx.conn
    if conn.execute(sa.select(flow_versions.c.hash).where(flow_versions.c.hash == source.hash)).first():
        return False
    first_of_flow = not conn.execute(
        sa.select(flow_versions.c.hash).where(flow_versions.c.flow_id == source.flow_id).limit(1)
    ).first()
    # two processes started together both find it new: the second's insert does nothing
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    insert = (
        dialect.insert(flow_versions)
        .values(hash=source.hash, flow_id=source.flow_id, version=source.version, source=source.text, first_run_at=now)
        .on_conflict_do_nothing()
        .returning(flow_versions.c.hash)  # PostgreSQL's rowcount says nothing here
    )
    if conn.execute(insert).first() is None:
        return False
    if first_of_flow:
        conn.execute(
            sa.update(intakes)
            .where(
                intakes.c.flow_hash.is_(None),
                intakes.c.flow_id == source.flow_id,
                intakes.c.flow_version == source.version,
            )
            .values(flow_hash=source.hash)
        )
    return True


def source(tx: Tx, content_hash: str) -> FlowSource | None:
    row = tx.conn.execute(sa.select(flow_versions).where(flow_versions.c.hash == content_hash)).first()
    return _source(row) if row is not None else None


def of_flow(tx: Tx, flow_id: str) -> list[Stored]:
    """Every stored version of ``flow_id``, the first run first."""
    rows = tx.conn.execute(
        sa.select(flow_versions)
        .where(flow_versions.c.flow_id == flow_id)
        .order_by(flow_versions.c.first_run_at, flow_versions.c.hash)
    )
    return [Stored(_source(row), as_utc(row.first_run_at)) for row in rows]  # type: ignore[arg-type]


def in_progress_versions(tx: Tx, flow_id: str) -> list[str]:
    """The content hashes the intakes of ``flow_id`` in progress are bound to (their engines are
    worth building before the first of their turns comes)."""
    rows = tx.conn.execute(
        sa.select(intakes.c.flow_hash)
        .where(
            intakes.c.status == IntakeStatus.IN_PROGRESS.value,
            intakes.c.flow_id == flow_id,
            intakes.c.flow_hash.is_not(None),
        )
        .distinct()
    )
    return [h for (h,) in rows]


def unbound_in_progress(tx: Tx, flow_id: str) -> list[dict]:
    """The stored states of ``flow_id``'s intakes in progress bound to no kept version (begun
    before migration 0017 under another version string): the next flow run reads them."""
    rows = tx.conn.execute(
        sa.select(intakes.c.state).where(
            intakes.c.status == IntakeStatus.IN_PROGRESS.value,
            intakes.c.flow_id == flow_id,
            intakes.c.flow_hash.is_(None),
        )
    )
    return [orjson.loads(state) for (state,) in rows]


def _source(row: sa.Row) -> FlowSource:
    return FlowSource(row.flow_id, row.version, row.hash, row.source)


def sources(store: Store) -> Callable[[str], FlowSource | None]:
    """``source`` in a read of its own: what ``Engines`` asks, once per version a process meets."""

    def find(content_hash: str) -> FlowSource | None:
        with store.transaction(read_only=True) as tx:
            return source(tx, content_hash)

    return find


def check(store: Store, new: Checked) -> list[Problem]:
    """What ``new`` changes that the versions of its flow run before, or its intakes in progress
    on none of them, forbid (``bot.flow.versions.breaking_changes``)."""
    with store.transaction(read_only=True) as tx:
        stored = [s.source for s in of_flow(tx, new.flow.id) if s.source.hash != new.source.hash]
        unbound = unbound_in_progress(tx, new.flow.id)
    earlier = [Earlier(s, parse_version(s.text, f"<stored {s.flow_id} v{s.version}>").flow) for s in stored]
    return breaking_changes(new, earlier, unbound)


def publish(store: Store, new: Checked, now: datetime) -> None:
    """At the start of a long-running process: refuse ``new`` if it breaks intakes of earlier
    versions (FlowError, every problem at its place), else keep it (once)."""
    problems = check(store, new)
    if problems:
        raise FlowError(problems)
    with store.transaction() as tx:
        if record(tx, new.source, now):
            log.info("flow %s v%s first run: kept as version %s", new.flow.id, new.flow.version, new.source.hash[:12])
