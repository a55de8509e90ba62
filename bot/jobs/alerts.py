"""Staff alerts: each queued alert sent to the staff Telegram chat or by e-mail, from a durable queue.

A turn that raises an event (an urgent mark, a /human request, a completion with a high flag)
queues one row per channel in its own transaction (``bot.store.alerts.queue``), so an alert is
never lost: a crash after the commit leaves the row, sent at the next start. Redelivered
updates are refused before they queue anything, and the unique key (intake, event, channel) makes
a second queuing of the same alert nothing. This job sends due rows, each first claimed (so two
processes never send the same alert at once), retries with exponential backoff across restarts,
and gives up after ALERT_MAX_ATTEMPTS tries: the admin's audit page lists those, and the audit
log says so, as it says when an alert went out.

What no queue can close: a process killed in the instant after the far end took an alert and
before "sent" was committed sends it again once its claim runs out. A repeat is the lesser harm
for an alert; an e-mail carries the same Message-ID on every try, so mail clients show one.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from bot import metrics
from bot.alerts.content import AlertWriter
from bot.alerts.senders import Sender, SendFailed
from bot.alerts.settings import AlertSettings
from bot.store import Store, as_utc, utcnow
from bot.store import alerts as queue
from bot.store.review import record

log = logging.getLogger(__name__)
#: Seconds beyond the send's timeout that an alert being sent stays claimed by its sender.
LEASE_MARGIN = 60.0
#: The audit log's actor for what the alert job did.
ACTOR = "alerts"


class AlertJob:
    """The job that sends due alerts (``bot.jobs.Job``)."""

    name = "alerts"

    def __init__(
        self,
        store: Store,
        writer: AlertWriter,
        settings: AlertSettings,
        senders: list[Sender],
        clock: Callable[[], datetime] = utcnow,
        interval: float = 0.5,
    ):
        self.store = store
        self.writer = writer
        self.settings = settings
        self.senders = {s.channel: s for s in senders}
        self.clock = clock
        self._interval = interval

    def interval(self) -> float:
        return self._interval

    def first_delay(self) -> float:
        return 0.0  # what waited while the process was down goes out at once

    async def round(self) -> None:
        await self.send_due()

    async def close(self) -> None:
        pass  # the Telegram sender's bot belongs to the channel; SMTP connects per alert

    async def send_due(self) -> int:
        """Try every due alert once; how many went out."""
        now = self.clock()
        due = await asyncio.to_thread(self._in_transaction, lambda tx: queue.due(tx, now))
        return sum([await self._send(row) for row in due])

    def _in_transaction(self, work: Callable[[Any], Any]) -> Any:
        with self.store.transaction() as tx:
            return work(tx)

    def _flags(self, intake_id: int) -> list[str] | None:
        with self.store.transaction(read_only=True) as tx:
            intake = tx.intake(intake_id)
        return list(intake.flags) if intake is not None else None

    async def _send(self, row: sa.Row) -> bool:
        now = self.clock()
        lease = now + timedelta(seconds=self.settings.timeout + LEASE_MARGIN)
        if not await asyncio.to_thread(self._in_transaction, lambda tx: queue.claim(tx, row.id, now, lease)):
            return False  # another process is sending it
        sender = self.senders.get(row.channel)
        retry_after = None
        try:
            if sender is None:
                raise SendFailed(f"the {row.channel} channel is not configured any more")
            alert = self.writer.write(row.event, row.intake_id, await asyncio.to_thread(self._flags, row.intake_id))
            answer = await sender.send(alert, key=f"{row.id}.{int(as_utc(row.created_at).timestamp())}")
        except SendFailed as err:
            error, retry_after = str(err), err.retry_after
            metrics.ALERTS.labels(row.channel, "failed").inc()
        else:
            metrics.ALERTS.labels(row.channel, "sent").inc()
            log.info("alert %s (%s, intake %s) sent by %s: %s", row.id, row.event, row.intake_id, row.channel, answer)
            await asyncio.to_thread(self._sent, row)
            return True
        await asyncio.to_thread(self._failed, row, error, retry_after)
        return False

    def _sent(self, row: sa.Row) -> None:
        with self.store.transaction() as tx:
            queue.sent(tx, row.id, self.clock())
            record(tx, ACTOR, "alert_sent", row.intake_id, f"{row.event} by {row.channel}")

    def _failed(self, row: sa.Row, error: str, retry_after: float | None) -> None:
        now = self.clock()
        with self.store.transaction() as tx:
            if retry_after is not None:  # the far end asked to wait: no try used up
                queue.update(tx, row.id, next_try_at=now + timedelta(seconds=retry_after), last_error=error)
                return
            attempts = row.attempts + 1
            if attempts >= self.settings.max_attempts:
                log.error(
                    "alert %s (%s, intake %s) by %s given up after %d tries: %s",
                    row.id,
                    row.event,
                    row.intake_id,
                    row.channel,
                    attempts,
                    error,
                )
                queue.update(tx, row.id, attempts=attempts, gave_up_at=now, last_error=error)
                record(tx, ACTOR, "alert_given_up", row.intake_id, f"{row.event} by {row.channel}: {error}"[:256])
                return
            delay = min(6 * 3600.0, self.settings.retry_base * 2 ** (attempts - 1))
            log.warning("alert %s by %s failed (try %d): %s", row.id, row.channel, attempts, error)
            queue.update(tx, row.id, attempts=attempts, next_try_at=now + timedelta(seconds=delay), last_error=error)
