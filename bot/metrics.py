"""What the process counts for Prometheus (``/metrics``), defined once, here.

Counters and the turn latency histogram live in prometheus-client's default registry, which is
per process: with several workers each exposes its own figures and Prometheus scrapes each (a
target per worker), adding them up in its queries. What the database holds for everyone (the
outbox's backlog and the age of its oldest row, the intakes in progress) is read at scrape time
by ``StoreFigures``, one cheap indexed query each, so every worker reports the same truth.

Labels are closed sets named here (a result, a channel): never a chat id, a name, an intake id
or anything a patient typed, so no label can carry health data or grow without bound.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from bot.store import IntakeStatus, Store, as_utc, utcnow
from bot.store.records import Direction
from bot.store.schema import intakes, messages
from bot.store.store import GAVE_UP

log = logging.getLogger(__name__)

#: What became of one update's turn. ``stale``: a run rolled back and run again from the store
#: (its copy kept in memory was out of date); the run again then counts as one of the others.
TURN_RESULTS = ("applied", "duplicate", "failed", "stale")

TURNS = Counter("intake_turns", "Telegram updates' turns, by what became of them", ["result"])
for _result in TURN_RESULTS:
    TURNS.labels(_result)  # every series from the start: a rate() needs the zero

#: From an update's arrival at the channel to its turn committed (the group commit included).
TURN_SECONDS = Histogram(
    "intake_turn_seconds",
    "Seconds from an update reaching the channel to its turn being committed",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
WEBHOOKS = Counter(
    "intake_completion_webhooks", "Completion webhook posts to the clinic, by result", ["result"]
)  # delivered | failed (a try that did not get a 2xx; it is retried until given up)
ALERTS = Counter(
    "intake_staff_alerts", "Staff alerts sent, by channel and result", ["channel", "result"]
)  # channel: telegram | email; result: sent | failed
REMINDERS = Counter("intake_reminders_sent", "Reminders queued for quiet intakes")
NUDGES = Counter("intake_booking_nudges_sent", "Reminders to book queued")
for _result in ("delivered", "failed"):
    WEBHOOKS.labels(_result)


def turn(result: str) -> None:
    TURNS.labels(result).inc()


@contextmanager
def timed_turn() -> Iterator[None]:
    started = time.perf_counter()
    try:
        yield
    finally:
        TURN_SECONDS.observe(time.perf_counter() - started)


# --- read from the store at scrape time ------------------------------------------------------------

#: The partial index's own condition, with the direction written into the SQL rather than bound:
#: a plan made for any value (PostgreSQL's generic plan for a prepared statement) could not use
#: an index that holds only outgoing rows.
_UNSENT = sa.and_(messages.c.direction == sa.literal_column(f"'{Direction.OUT.value}'"), messages.c.sent_at.is_(None))
#: Along the partial index ``ix_messages_outbox`` (only unsent rows are in it); given-up rows stay
#: unsent for the record, and are not backlog.
_BACKLOG = sa.select(sa.func.count(), sa.func.min(messages.c.id)).where(_UNSENT, messages.c.attempts < GAVE_UP)
_AT = sa.select(messages.c.at).where(messages.c.id == sa.bindparam("id"))
#: Along ``ix_intakes_status_updated``: a count of the in-progress part of the index.
_ACTIVE = sa.select(sa.func.count()).select_from(intakes).where(intakes.c.status == IntakeStatus.IN_PROGRESS.value)


class StoreFigures(Collector):
    """The outbox's backlog and age, and the intakes in progress, read when scraped."""

    def __init__(self, store: Store):
        self.store = store

    def collect(self) -> Iterator[Metric]:
        try:
            with self.store.transaction(read_only=True) as tx:
                unsent, oldest = tx.conn.execute(_BACKLOG).one()
                at = tx.conn.execute(_AT, {"id": oldest}).scalar() if oldest is not None else None
                active = tx.conn.execute(_ACTIVE).scalar()
        except sa.exc.SQLAlchemyError as err:  # the scrape still answers with the counters
            log.warning("metrics: the store did not answer (%s)", type(err).__name__)
            return
        at = as_utc(at)
        age = max(0.0, (utcnow() - at).total_seconds()) if at is not None else 0.0
        yield GaugeMetricFamily("intake_outbox_unsent", "Replies committed and not sent yet (all workers)", unsent)
        yield GaugeMetricFamily(
            "intake_outbox_oldest_unsent_seconds", "Age of the oldest reply not sent yet (0: none)", age
        )
        yield GaugeMetricFamily("intake_active_intakes", "Intakes in progress", active)


class _Scrape(Collector):
    def __init__(self, store: Store | None):
        self.figures = StoreFigures(store) if store is not None else None

    def collect(self) -> Iterator[Metric]:
        yield from REGISTRY.collect()
        if self.figures is not None:
            yield from self.figures.collect()


def exposition(store: Store | None) -> bytes:
    """The text Prometheus reads: this process's counters, then what the store holds now.
    Blocking (it reads the database): call it off the event loop."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Scrape(store))
    return generate_latest(registry)
