"""One process: the store, the engine, the staff web app, the Telegram channel (when a token is
set) and the background jobs, started together and stopped cleanly on SIGINT or SIGTERM.

``python -m bot serve`` is the whole product: the staff web app and clinic API on
WEB_LISTEN:WEB_PORT, with Telegram's webhook on the same server (at WEBHOOK_URL's path) or long
polling in the background. ``python -m bot run`` is the bot alone: long polling, or the webhook
on a server of its own (WEBHOOK_LISTEN:WEBHOOK_PORT). Every server also answers /healthz,
/readyz and /metrics (``bot.operations``); ``run`` polling has one only with OPS_PORT. Both run the same jobs,
with or without Telegram: retention, the completion webhook, abandonment, and (with a channel to
deliver them) reminders.

A clean stop stops taking updates first (the server finishes the requests in flight, polling
ends), then the jobs, then the channel, which lets the replies on their way finish and records
them; what is left unsent stays in the outbox for the next start.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import os
import secrets
import signal
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import uvicorn
from starlette.applications import Starlette
from starlette.middleware import Middleware

from bot import heap
from bot.config import Settings
from bot.engine import Engine, Engines
from bot.errors import UserError
from bot.failures import log_failure
from bot.jobs import Job, Jobs
from bot.jobs.quiet_intakes import QuietIntakes
from bot.jobs.retention import Retention
from bot.jobs.search_index import SearchIndex
from bot.jobs.seen_updates import SeenUpdates
from bot.logs import RequestIds
from bot.operations import Operations, Readiness
from bot.store import Store
from bot.store.advisory import LockSession

if TYPE_CHECKING:
    from bot.channels.telegram.lead import Lead

log = logging.getLogger(__name__)
SECRET_FILE = Path("data/secret_key")


def secret_key(settings: Settings, path: Path = SECRET_FILE) -> str:
    """SECRET_KEY, or one made once and kept in data/ (readable by this user only).

    The file is this machine's: workers on several machines need SECRET_KEY, the same in each
    (it signs the staff's session cookie, which any worker behind the load balancer may read).
    Workers started together on one machine all use the first one's key: each writes its own
    beside the file and links it into place, which fails once one is there.
    """
    if settings.secret_key:
        return settings.secret_key
    if path.exists():
        return _read_key(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    mine = path.with_name(f".{path.name}.{os.getpid()}")
    fd = os.open(mine, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(secrets.token_urlsafe(48))
    try:
        os.link(mine, path)
    except FileExistsError:
        pass  # another process's key was first: use it
    finally:
        mine.unlink()
    return _read_key(path)


def _read_key(path: Path) -> str:
    key = path.read_text().strip()
    if not key:
        raise UserError(f"{path} is empty: delete it (a new key is made at the next start) or set SECRET_KEY")
    return key


def running_engines(store: Store, path: str | Path, now: datetime | None = None) -> Engines:
    """The engines of a process that runs the flow file at ``path``: it is checked against the
    versions of the same flow the store has run (a change that would break intakes in flight is
    refused: ``FlowError``, each problem at its place in the file), kept as a version the first
    time it runs, and the newest; earlier versions' engines are built from the store as their
    intakes come along (``bot.engine.engines``)."""
    from bot.flow.versions import read_version
    from bot.store import flow_versions, utcnow

    checked = read_version(path)
    flow_versions.publish(store, checked, now or utcnow())
    engines = Engines(Engine(checked.flow, flow_hash=checked.source.hash), flow_versions.sources(store))
    with store.transaction(read_only=True) as tx:
        in_flight = flow_versions.in_progress_versions(tx, checked.flow.id)
    # the earlier versions intakes in progress are on, built now: ~80 ms each, not on a patient's turn
    engines.warm([h for h in in_flight if h != checked.source.hash])
    return engines


#: The advisory-lock space in which each PostgreSQL worker serving the staff app shows a
#: fingerprint of its key (``LockSession.mark``): b"skey" as a number.
KEY_SPACE = int.from_bytes(b"skey", "big")


class KeyMismatch(UserError):
    """Another worker on the database signs staff sessions with another key."""


def same_key_everywhere(locks: LockSession, key: str) -> None:
    """KeyMismatch, in one line, when a worker already serving the staff app on this database
    has another key: a staff member's session cookie, signed by one, would be refused by the
    other whenever the load balancer changed worker (a new data/secret_key made on each
    machine, say). The fingerprint is 31 bits of an HMAC of the key: it tells keys apart and
    nothing more."""
    fingerprint = int.from_bytes(hmac.digest(key.encode(), b"staff session key", "sha256")[:4], "big") & 0x7FFFFFFF
    if locks.mark(KEY_SPACE, fingerprint) - {fingerprint}:
        raise KeyMismatch(
            "another worker on this database signs staff sessions with a different key: "
            "set the same SECRET_KEY in every worker (data/secret_key is made on each machine)"
        )


def link_base(settings: Settings) -> str:
    """Where staff open an intake's page: PUBLIC_URL, else the staff app's own address."""
    return settings.public_url or f"http://{settings.web_listen}:{settings.web_port}"


@dataclass(frozen=True)
class Parts:
    """What this process runs besides the jobs."""

    web: bool  # the staff web app and clinic API
    telegram: bool  # the Telegram channel


class Runtime:
    def __init__(self, settings: Settings, engine: Engine | Engines, store: Store, parts: Parts):
        self.settings = settings
        #: each flow version's engine (an intake runs and is shown on its own); ``engine``: the newest
        self.engines = engines = engine if isinstance(engine, Engines) else Engines.single(engine)
        self.engine = engine = engines.current
        self.store = store
        self.parts = parts
        self.channel: Any = None
        if parts.telegram:
            from bot.channels.telegram.channel import TelegramChannel

            self.channel = TelegramChannel(settings, engines, store)
        #: PostgreSQL: this process's advisory locks, shared out with the other workers on the
        #: database (each job's round, the polling lead); None on SQLite, where it is alone
        self.locks = LockSession.of(store)
        self.jobs = Jobs(self._jobs(), locks=self.locks)
        self.lead: Lead | None = None  # polling only: whether this process polls or stands by
        if self.channel is not None and not settings.webhook_url:
            from bot.channels.telegram.lead import Lead

            self.lead = Lead(self.locks)
        self.server: uvicorn.Server | None = None
        self.web: Any = None  # the staff web app, once built (closed at the stop)
        self._stopping = asyncio.Event()
        self._broken = False  # polling died: exit with status 1
        self._secret: str | None = None  # the staff app's key, once read (at the start of run)

    @property
    def leading(self) -> bool | None:
        """Polling on PostgreSQL: True while this process polls Telegram, False while it stands by
        for the process that does; None when there is no lead to hold (SQLite, a webhook, no
        Telegram) or not yet. /readyz's role: leader, follower, single."""
        return self.lead.leading if self.lead is not None else None

    def _jobs(self) -> list[Job]:
        settings = self.settings
        channel = self.channel
        jobs: list[Job] = [
            QuietIntakes(
                self.store,
                settings.remind_after,
                settings.abandon_after,
                remind=channel.remind if channel is not None else None,
                on_abandoned=channel.forget_kept if channel is not None else None,
            ),
            SeenUpdates(self.store),
            SearchIndex(self.store),
        ]
        if channel is not None:
            from bot.jobs.handbacks import HandBacks

            jobs.append(HandBacks(self.store, channel.hand_back))
            if settings.booking_nudge_after is not None:
                from bot.jobs.booking_nudge import BookingNudge

                jobs.append(BookingNudge(self.store, settings.booking_nudge_after, channel.nudge_booking))
        if settings.retention_days:
            log.info("intakes are erased %d days after their last activity (RETENTION_DAYS)", settings.retention_days)
            jobs.append(Retention(self.store, settings.retention_days))
        if settings.clinic_webhook_url and settings.clinic_webhook_secret:
            from bot.jobs.completion_webhook import CompletionWebhook, WebhookSettings

            jobs.append(
                CompletionWebhook(
                    self.store,
                    self.engines,
                    WebhookSettings(
                        settings.clinic_webhook_url,
                        settings.clinic_webhook_secret,
                        settings.clinic_webhook_max_attempts,
                        settings.clinic_webhook_retry_base,
                    ),
                )
            )
        if settings.alerts.active:
            jobs.append(self._alert_job())
        return jobs

    def _alert_job(self) -> Job:
        """Staff alerts, through this process's bot (its rate limiter and pacer) and by e-mail."""
        from bot.alerts.content import AlertWriter
        from bot.alerts.senders import senders
        from bot.jobs.alerts import AlertJob

        settings = self.settings
        channel = self.channel
        bot, pacer = (channel.bot, channel.outbox.pacer) if channel is not None else (None, None)
        writer = AlertWriter(self.engine, link_base(settings), settings.alerts.detail)
        log.info(
            "staff alerts on %s by %s", ", ".join(sorted(settings.alerts.events)), ", ".join(settings.alerts.channels)
        )
        return AlertJob(self.store, writer, settings.alerts, senders(settings.alerts, bot, pacer))

    # --- what serves HTTP --------------------------------------------------------------------------

    def _server(self) -> uvicorn.Server | None:
        """The one HTTP server of the process: the web app (with the webhook's route), the webhook
        alone (``run`` with WEBHOOK_URL), the probes and metrics alone (``run`` polling with
        OPS_PORT), or none (``run`` polling). Each answers /healthz, /readyz and /metrics."""
        settings = self.settings
        routes: list[Any] = []
        operations = self._operations().routes()  # /healthz, /readyz, /metrics: on whichever server there is
        if self.channel is not None and settings.webhook_url:
            from bot.channels.telegram.update_webhook import webhook_path, webhook_routes

            routes = webhook_routes(self.channel)
            if self.parts.web:
                # Said at start because it surprises: WEBHOOK_LISTEN and WEBHOOK_PORT do not apply here.
                log.info("Telegram webhook served at %s on WEB_LISTEN:WEB_PORT", webhook_path(self.channel))
        if self.parts.web:
            from bot.staff.web import create_app

            https = bool(settings.public_url and settings.public_url.startswith("https://"))
            from bot.staff.sessions import Lifetime

            lifetime = Lifetime(
                idle=timedelta(minutes=settings.staff_session_idle_minutes),
                absolute=timedelta(hours=settings.staff_session_max_hours),
            )
            app = create_app(
                self.engines,
                self.store,
                self._secret or secret_key(settings),
                https=https,
                extra_routes=[*operations, *routes],
                lifetime=lifetime,
                zone=settings.clinic_timezone,
                flow_path=str(settings.flow_path),
            )
            self.web = app.state.web
            if self.channel is not None:  # a staff message goes out at once, not at the outbox's next round
                self.web.talks.queued = self.channel.staff_message_queued
            host, port = settings.web_listen, settings.web_port
            log.info("staff web app on http://%s:%s", host, port)
        elif routes:
            app = Starlette(routes=[*operations, *routes], middleware=[Middleware(RequestIds)])
            host, port = settings.webhook_listen, settings.webhook_port
        elif settings.ops_port is not None:  # `run` polling: a server of its own, for the probes and metrics
            app = Starlette(routes=operations, middleware=[Middleware(RequestIds)])
            host, port = settings.ops_listen, settings.ops_port
            log.info("health and metrics on http://%s:%s (OPS_LISTEN:OPS_PORT)", host, port)
        else:
            return None
        if settings.ops_port is not None and (host, port) != (settings.ops_listen, settings.ops_port):
            log.info("OPS_PORT is for `run` polling only: /healthz, /readyz and /metrics are on %s:%s", host, port)
        config = uvicorn.Config(
            app,
            host=host,
            port=port,
            log_level="warning",
            access_log=False,
            # LOG_FORMAT=json: uvicorn's own lines go through the root logger's JSON too
            log_config=None if settings.log_format == "json" else uvicorn.config.LOGGING_CONFIG,
            lifespan="off",
            # The client's address (failed logins are counted by it) is taken from X-Forwarded-For
            # only when the connection comes from one of these proxies.
            proxy_headers=True,
            forwarded_allow_ips=settings.forwarded_allow_ips,
        )
        server = uvicorn.Server(config)
        # The runtime owns the signals: uvicorn would re-raise SIGTERM after shutting down (exit
        # status -15), and a clean stop should exit 0.
        server.capture_signals = contextlib.nullcontext  # type: ignore[method-assign]
        return server

    def _operations(self) -> Operations:
        """The probes and metrics of this process (``bot.operations``)."""
        readiness = Readiness(
            self.store,
            bot=self.channel.bot if self.channel is not None else None,
            role=self._role,
        )
        return Operations(readiness, self.settings.metrics_token)

    def _role(self) -> str:
        """Whether this process polls Telegram (leader), stands by (follower), or holds no lead
        (single: SQLite, a webhook, no Telegram): ``leading``, from the polling lead's lock."""
        leading = self.leading
        return "single" if leading is None else "leader" if leading else "follower"

    # --- running -----------------------------------------------------------------------------------

    def _polling_ended(self, task: asyncio.Task) -> None:
        """Polling only ends when cancelled; if it died, the process stops with status 1, so that
        whatever supervises it starts it again: a bot that answers nobody must not look alive."""
        if task.cancelled() or task.exception() is None:
            return
        log_failure(log, "polling for Telegram's updates stopped", task.exception())
        self._broken = True
        self.stop()

    def stop(self) -> None:
        """Begin a clean stop (the signal handlers call this)."""
        self._stopping.set()
        if self.web is not None:
            self.web.streaming = False  # the staff pages' event streams end (the browser reconnects)
        if self.server is not None:
            self.server.should_exit = True  # uvicorn finishes the requests in flight, then returns

    async def run(self) -> int:
        """Run until stopped; the exit status (1 when the server could not listen, or polling
        died). Raises StartupError (a UserError) when Telegram refuses to start, KeyMismatch
        when another worker on the database has another key for the staff app."""
        if self.parts.web:
            self._secret = secret_key(self.settings)
            if self.locks is not None:
                try:
                    await asyncio.to_thread(same_key_everywhere, self.locks, self._secret)
                except KeyMismatch:
                    await asyncio.to_thread(self.locks.close)
                    raise
        if self.channel is not None:
            await self.channel.start()  # sets the webhook, or deletes it for polling
        self.server = self._server()
        self.jobs.start()
        heap.settle()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, self.stop)
        polling = None
        if self.channel is not None and self.lead is not None:
            polling = asyncio.create_task(self.lead.run(self.channel.poll), name="telegram-polling")
            polling.add_done_callback(self._polling_ended)
        status = 0
        try:
            if self.server is not None:
                await self.server.serve()
                status = 0 if self.server.started else 1
            else:
                await self._stopping.wait()
            if self._broken:
                status = 1
        finally:
            log.info("stopping")
            if polling is not None:
                polling.cancel()
                await asyncio.gather(polling, return_exceptions=True)  # a death was logged already
                if self.lead is not None:
                    await self.lead.step_down()
            await self.jobs.stop()
            if self.channel is not None:
                await self.channel.stop()
            if self.web is not None:
                await asyncio.to_thread(self.web.close)
            if self.locks is not None:  # the lead and the jobs' locks, free for the other workers now
                await asyncio.to_thread(self.locks.close)
        return status


def run(settings: Settings, engine: Engine | Engines, store: Store, parts: Parts) -> int:
    """Run one process until SIGINT or SIGTERM; its exit status."""

    async def main() -> int:
        return await Runtime(settings, engine, store, parts).run()

    return asyncio.run(main())
