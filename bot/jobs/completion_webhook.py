"""The completion webhook: each completed intake POSTed to the clinic, signed, from a durable queue.

A delivery row is written in the same transaction that completes the intake (``Tx.queue_completion``),
so none is lost; a background job sends due rows, retrying with exponential backoff across
restarts, and gives up after a configurable number of tries (admins see those). Each attempt
first claims its row (``deliveries.claim``), so two processes with the same settings never post
the same delivery twice at once. The body is fixed at the first
attempt, so every retry carries the same bytes and the same ``X-Intake-Delivery`` id.

Signature: ``X-Intake-Signature: sha256=<hex>``, the HMAC-SHA256 of ``"{timestamp}.{body}"``
with the shared secret, where ``timestamp`` is ``X-Intake-Timestamp`` (Unix seconds). The
README shows how a receiver verifies it.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
import sqlalchemy as sa

from bot import metrics
from bot.engine import Engine
from bot.staff.exports import Exporter, load_intakes
from bot.store import Store, deliveries, utcnow

log = logging.getLogger(__name__)
#: Seconds beyond the request's timeout that a delivery being sent stays claimed by its sender.
LEASE_MARGIN = 60.0


def sign(secret: str, timestamp: str, body: bytes) -> str:
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


@dataclass(frozen=True)
class WebhookSettings:
    url: str
    secret: str
    max_attempts: int = 10
    retry_base: float = 30.0  # seconds before the first retry; doubles each time, at most 6 hours
    timeout: float = 10.0


class CompletionWebhook:
    """The job that POSTs due deliveries (``bot.jobs.Job``)."""

    name = "completion-webhook"

    def __init__(
        self,
        store: Store,
        engine: Engine,
        settings: WebhookSettings,
        clock: Callable[[], datetime] = utcnow,
        transport: httpx.AsyncBaseTransport | None = None,
        interval: float = 0.5,
    ):
        self.store = store
        self.exporter = Exporter(engine)
        self.settings = settings
        self.clock = clock
        self._interval = interval
        self.client = httpx.AsyncClient(timeout=settings.timeout, transport=transport)

    def interval(self) -> float:
        return self._interval

    def first_delay(self) -> float:
        return 0.0  # what waited while the process was down goes out at once

    async def round(self) -> None:
        await self.deliver_due()

    async def close(self) -> None:
        await self.client.aclose()

    async def deliver_due(self) -> int:
        """Try every due delivery once; how many were delivered."""
        now = self.clock()
        due = await asyncio.to_thread(self._in_transaction, lambda tx: deliveries.due(tx, now))
        delivered = 0
        for row in due:
            delivered += await self._deliver(row)
        return delivered

    def _in_transaction(self, work: Callable[[Any], Any]) -> Any:
        with self.store.transaction() as tx:
            return work(tx)

    def _body(self, row: sa.Row) -> str | None:
        """The bytes of the delivery, fixed at its first attempt; None once the intake is erased."""
        if row.body is not None:
            return row.body
        found = load_intakes(self.store, ids=[row.intake_id])
        if not found:
            return None  # erased meanwhile: its delivery went with it
        body = json.dumps(
            {"event": "intake.completed", "delivery": row.id, "intake": self.exporter.to_json(found[0])},
            ensure_ascii=False,
            separators=(",", ":"),
        )
        self._update(row.id, body=body)
        return body

    async def _deliver(self, row: sa.Row) -> bool:
        now = self.clock()
        lease = now + timedelta(seconds=self.settings.timeout + LEASE_MARGIN)
        if not await asyncio.to_thread(self._in_transaction, lambda tx: deliveries.claim(tx, row.id, now, lease)):
            return False  # another process is sending it (two processes with the same settings)
        body = await asyncio.to_thread(self._body, row)
        if body is None:
            return False
        payload = body.encode()
        timestamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/json",
            "X-Intake-Delivery": str(row.id),
            "X-Intake-Timestamp": timestamp,
            "X-Intake-Signature": sign(self.settings.secret, timestamp, payload),
        }
        error = None
        try:
            response = await self.client.post(self.settings.url, content=payload, headers=headers)
            if 200 <= response.status_code < 300:
                await asyncio.to_thread(self._update, row.id, delivered_at=self.clock(), last_error=None)
                metrics.WEBHOOKS.labels("delivered").inc()
                return True
            error = f"HTTP {response.status_code}"
        except httpx.HTTPError as err:
            error = f"{type(err).__name__}: {err}"[:200]
        metrics.WEBHOOKS.labels("failed").inc()
        attempts = row.attempts + 1
        if attempts >= self.settings.max_attempts:
            log.error("completion webhook for intake %s given up after %d tries", row.intake_id, attempts)
            values: dict[str, Any] = {"attempts": attempts, "gave_up_at": self.clock(), "last_error": error}
        else:
            delay = min(6 * 3600.0, self.settings.retry_base * 2 ** (attempts - 1))
            values = {"attempts": attempts, "next_try_at": self.clock() + timedelta(seconds=delay), "last_error": error}
        await asyncio.to_thread(self._update, row.id, **values)
        return False

    def _update(self, delivery_id: int, **values: Any) -> None:
        with self.store.transaction() as tx:
            deliveries.update(tx, delivery_id, **values)
