"""The operations endpoints: ``/healthz``, ``/readyz`` and ``/metrics``, on every HTTP server of the
process (the staff app under ``serve``, the webhook's server under ``run``, or with ``run``
polling, a small server of its own on OPS_LISTEN:OPS_PORT).

- ``/healthz``: the process is up and its event loop answers. Nothing is checked: a load balancer
  or supervisor that restarts on a failing health check must not restart for a database outage.
- ``/readyz``: this process can do its work now: the database answers (within ``DB_TIMEOUT``),
  its schema is at the code's migration head, Telegram answers getMe (when a token is set; the
  answer kept for ``TELEGRAM_TTL``, so probes never become Bot API traffic), and whether this process
  leads (polls Telegram) or stands by. A standby is ready: it serves the staff app and takes over
  when the leader dies. 503 with the reason when not ready.
- ``/metrics``: Prometheus' text (``bot.metrics``), for a bearer token equal to METRICS_TOKEN; 404
  without one configured, 401 for a wrong one.

None of them needs a login, and none says anything about an intake or a patient: only "ok" or what
is not. Each check runs at most once at a time (probes arriving meanwhile wait for its answer), so
a hung database costs one thread, not one per probe.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import sqlalchemy as sa
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bot import metrics
from bot.store import Store

log = logging.getLogger(__name__)

#: Longest a readiness probe waits for the database (a probe's own timeout is usually 1 to 5 s).
DB_TIMEOUT = 2.0
#: Longest a probe waits for Telegram's getMe.
TELEGRAM_TIMEOUT = 3.0
#: How long a getMe answer (ok or not) is believed: Telegram is asked at most this often.
TELEGRAM_TTL = 30.0
#: The headers every answer here carries.
HEADERS = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}


def migration_heads() -> set[str]:
    """The code's Alembic head revision(s)."""
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from bot.store.store import MIGRATIONS

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return set(ScriptDirectory.from_config(config).get_heads())


class Once:
    """An async check run at most once at a time; callers meanwhile share its answer."""

    def __init__(self, name: str, check: Callable[[], Awaitable[str | None]]):
        self.name = name
        self.check = check
        self._running: asyncio.Task | None = None

    async def __call__(self, timeout: float) -> str | None:
        if self._running is None or self._running.done():
            self._running = asyncio.ensure_future(self.check())
        try:
            return await asyncio.wait_for(asyncio.shield(self._running), timeout)
        except TimeoutError:
            return f"{self.name}: timed out"


class Readiness:
    """What ``/readyz`` checks, for one process."""

    def __init__(
        self,
        store: Store,
        bot: Any = None,
        role: Callable[[], str] = lambda: "single",
        clock: Callable[[], float] = time.monotonic,
    ):
        self.store = store
        #: python-telegram-bot's Bot (None: no token, Telegram is not checked)
        self.bot = bot
        #: "leader", "follower" or "single"
        self.role = role
        self.clock = clock
        self.heads = migration_heads()
        self._database = Once("database", self._check_database)
        self._telegram = Once("telegram", self._check_telegram)
        self._telegram_answer: tuple[float, str | None] | None = None  # (when, problem)

    async def _check_database(self) -> str | None:
        return await run_in_threadpool(self._read_revision)

    def _read_revision(self) -> str | None:
        try:
            with self.store.engine.connect() as conn:
                revisions = {row[0] for row in conn.execute(sa.text("SELECT version_num FROM alembic_version"))}
        except sa.exc.SQLAlchemyError as err:
            return f"database: {type(getattr(err, 'orig', None) or err).__name__}"
        if revisions != self.heads:
            return "database: not at the code's migration head (a migration is pending or the code is older)"
        return None

    async def _check_telegram(self) -> str | None:
        now = self.clock()
        if self._telegram_answer is not None and now - self._telegram_answer[0] < TELEGRAM_TTL:
            return self._telegram_answer[1]
        try:
            await asyncio.wait_for(self.bot.get_me(), TELEGRAM_TIMEOUT)
            problem = None
        except Exception as err:  # any failure means not reachable; its kind is enough to say
            problem = f"telegram: {type(err).__name__}"
        self._telegram_answer = (self.clock(), problem)
        return problem

    async def report(self) -> tuple[bool, dict[str, Any]]:
        checks: dict[str, Any] = {}
        database = await self._database(DB_TIMEOUT)
        checks["database"] = "ok" if database is None else database
        problems = [database] if database else []
        if self.bot is not None:
            telegram = await self._telegram(TELEGRAM_TIMEOUT + 0.5)
            checks["telegram"] = "ok" if telegram is None else telegram
            problems += [telegram] if telegram else []
        else:
            checks["telegram"] = "off"
        checks["role"] = self.role()
        body: dict[str, Any] = {"ready": not problems, "checks": checks}
        if problems:
            body["reason"] = "; ".join(problems)
        return not problems, body


class Operations:
    """The routes of this module for one process."""

    def __init__(self, readiness: Readiness, metrics_token: str | None):
        self.readiness = readiness
        self.metrics_token = metrics_token

    def routes(self) -> list[Route]:
        return [
            Route("/healthz", self.healthz, methods=["GET", "HEAD"]),
            Route("/readyz", self.readyz, methods=["GET", "HEAD"]),
            Route("/metrics", self.metrics, methods=["GET"]),
        ]

    async def healthz(self, request: Request) -> Response:
        return JSONResponse({"status": "ok"}, headers=HEADERS)

    async def readyz(self, request: Request) -> Response:
        ready, body = await self.readiness.report()
        return JSONResponse(body, 200 if ready else 503, headers=HEADERS)

    async def metrics(self, request: Request) -> Response:
        if not self.metrics_token:
            return JSONResponse({"error": "not found"}, 404, headers=HEADERS)
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), self.metrics_token.encode()):
            return JSONResponse(
                {"error": "a valid bearer token is required"}, 401, headers={**HEADERS, "WWW-Authenticate": "Bearer"}
            )
        text = await run_in_threadpool(metrics.exposition, self.readiness.store)
        return Response(text, headers={**HEADERS, "Content-Type": "text/plain; version=0.0.4; charset=utf-8"})
