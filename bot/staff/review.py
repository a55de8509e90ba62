"""What the staff pages and the clinic API read and write, each call one transaction.

These calls block (they wait for the database): the web app runs them on its own threads, never
on the event loop that serves the patients (``bot.staff.web``).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, tzinfo

import sqlalchemy as sa

from bot.staff.filters import AuditFilters, Filters
from bot.store import Intake, Store, alerts, deliveries, queue
from bot.store import review as rows
from bot.store.queue import Cursor, ListPage, Position, Queued
from bot.store.review import AuditPage, IntakeView

PAGE_SIZE = 25
#: Audit lines to a page.
AUDIT_PAGE = 100
#: Intakes read (and written out) at a time by an export.
EXPORT_BATCH = 200
#: Audit lines written per transaction, and the pause between two (see Review.record_all).
AUDIT_BATCH = 2000
AUDIT_PAUSE = 0.02


class Review:
    def __init__(self, store: Store, zone: tzinfo = UTC):
        self.store = store
        #: the clinic's time zone: the filters' dates are its days
        self.zone = zone

    def queue(self, high: int, start: Position | None = None, size: int = PAGE_SIZE) -> tuple[list[Queued], dict]:
        """A page of the work queue from ``start`` (one more than ``size`` when there are more),
        and how many each bucket holds (capped)."""
        with self.store.transaction(read_only=True) as tx:
            return queue.walk(tx, high, size + 1, start), queue.bucket_counts(tx, high)

    def list_page(
        self, filters: Filters, me: str, after: Cursor | None, size: int = PAGE_SIZE, before: Cursor | None = None
    ) -> ListPage:
        """A page of the full list, keyset-paged from ``after`` (or up to ``before``)."""
        with self.store.transaction(read_only=True) as tx:
            search = replace(filters.to_search(me), zone=self.zone)
            return queue.list_page(tx, search, filters.sort, after, size, before=before)

    def position(self, high: int, intake_id: int) -> Position | None:
        with self.store.transaction(read_only=True) as tx:
            return queue.position(tx, high, intake_id)

    def step(self, high: int, start: Position, forward: bool) -> int | None:
        """The intake after (or before) ``start`` in the queue, or None at its end."""
        with self.store.transaction(read_only=True) as tx:
            found = queue.walk(tx, high, 1, start, forward)
            return found[0].intake.id if found else None

    def first_in_queue(self, high: int) -> int | None:
        with self.store.transaction(read_only=True) as tx:
            found = queue.walk(tx, high, 1)
            return found[0].intake.id if found else None

    def rank_severities(self, ranks: dict[str, int]) -> int:
        """Rank the flags of intakes stored before 0010, a batch per transaction; how many batches."""
        after, batches = 0, 0
        while after is not None:
            with self.store.transaction() as tx:
                after = queue.rank_severities(tx, ranks, after)
            batches += after is not None
        return batches

    def assign(self, intake_id: int, to: str | None, by: str) -> bool:
        """Assign the intake (to nobody: None), with its audit line; whether it is there."""
        with self.store.transaction() as tx:
            done = rows.assign(tx, intake_id, to)
            if done:
                rows.record(tx, by, "assign" if to else "unassign", intake_id, to)
            return done

    def follow_up(self, intake_id: int, value: str | None, by: str) -> bool:
        """Record a follow-up (None: clear it), with its audit line; whether the intake is there."""
        with self.store.transaction() as tx:
            done = rows.follow_up(tx, intake_id, value, by)
            if done:
                rows.record(tx, by, "follow_up", intake_id, value or "cleared")
            return done

    def export_ids(
        self, filters: Filters | None = None, since: datetime | None = None, me: str | None = None
    ) -> list[int]:
        """The ids of the intakes to export: those the filters find, or all (since ``since``)."""
        with self.store.transaction(read_only=True) as tx:
            search = replace(filters.to_search(me), zone=self.zone) if filters is not None else None
            return rows.intake_ids(tx, search, since)

    def intakes(self, ids: list[int], batch: int = EXPORT_BATCH) -> Iterator[list[Intake]]:
        """The intakes with these ids, a batch at a time, each read in a transaction of its own: an
        export of 100,000 holds a few hundred in memory, not all of them (erased meanwhile: left out)."""
        for start in range(0, len(ids), batch):
            with self.store.transaction(read_only=True) as tx:
                found = rows.intakes_for_export(tx, ids=ids[start : start + batch])
            # Yielded once the transaction is over: a download that stalls must hold no snapshot
            # (nor one of the pool's connections) while it waits.
            yield found

    def intake(self, intake_id: int) -> Intake | None:
        """The intake alone (no transcript), or None when it is not there."""
        with self.store.transaction(read_only=True) as tx:
            return tx.intake(intake_id)

    def intake_view(self, intake_id: int) -> IntakeView | None:
        """The intake, its transcript and notes, in one read transaction."""
        with self.store.transaction(read_only=True) as tx:
            return rows.intake_view(tx, intake_id)

    def add_note(self, intake_id: int, author: str, text: str) -> bool:
        """A note, and its audit line, on an intake that still exists; whether it was added."""
        with self.store.transaction() as tx:
            added = rows.add_note(tx, intake_id, author, text)
            if added:
                rows.record(tx, author, "note", intake_id)
            return added

    def mark_reviewed(self, intake_id: int, by: str, reviewed: bool = True) -> None:
        with self.store.transaction() as tx:
            if rows.mark_reviewed(tx, intake_id, by, reviewed):  # no audit line for an intake that is not there
                rows.record(tx, by, "review" if reviewed else "unreview", intake_id)

    def acknowledge(self, intake_id: int, by: str) -> bool:
        """Acknowledge an urgent intake, with its audit line; whether there was one to acknowledge."""
        with self.store.transaction() as tx:
            done = rows.acknowledge(tx, intake_id, by)
            if done:
                rows.record(tx, by, "acknowledge", intake_id)
            return done

    def record(self, actor: str, action: str, intake_id: int | None = None, detail: str | None = None) -> None:
        """The audit log: who viewed or exported what, and when (never what the intake says)."""
        with self.store.transaction() as tx:
            rows.record(tx, actor, action, intake_id, detail)

    def record_all(self, actor: str, action: str, intake_ids: Iterable[int], detail: str | None = None) -> None:
        """One audit line per intake, a batch to a transaction, with a pause between batches.

        On SQLite a write holds the one write lock, and the patients' turns (committed on the
        event loop) wait for it. SQLite's lock is not fair: a waiting connection sleeps and
        retries, and a writer that begins again at once can keep it out for as long as it goes
        on (630 ms measured at 100,000 intakes). The pause lets the turns in between batches.
        """
        ids = list(intake_ids)
        for start in range(0, len(ids), AUDIT_BATCH):
            if start:
                time.sleep(AUDIT_PAUSE)
            with self.store.transaction() as tx:
                rows.record_all(tx, actor, action, ids[start : start + AUDIT_BATCH], detail)

    def audit_page(self, filters: AuditFilters, size: int = AUDIT_PAGE) -> AuditPage:
        """A page of the audit log, newest first, from ``filters.before`` or ``filters.after``."""
        with self.store.transaction(read_only=True) as tx:
            search = replace(filters.to_search(), zone=self.zone)
            return rows.audit_page(tx, search, size, before=filters.before, after=filters.after)

    def failed_webhooks(self) -> list[sa.Row]:
        with self.store.transaction(read_only=True) as tx:
            return deliveries.given_up(tx)

    def failed_alerts(self) -> list[sa.Row]:
        """Staff alerts given up on (a staff chat that removed the bot, a mail server that refused)."""
        with self.store.transaction(read_only=True) as tx:
            return alerts.given_up(tx)
