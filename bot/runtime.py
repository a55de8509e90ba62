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
import logging
import os
import secrets
import signal
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.middleware import Middleware

from bot import heap
from bot.config import Settings
from bot.engine import Engine
from bot.failures import log_failure
from bot.jobs import Job, Jobs
from bot.jobs.quiet_intakes import QuietIntakes
from bot.jobs.retention import Retention
from bot.jobs.search_index import SearchIndex
from bot.jobs.seen_updates import SeenUpdates
from bot.logs import RequestIds
from bot.operations import Operations, Readiness
from bot.store import Store

log = logging.getLogger(__name__)
SECRET_FILE = Path("data/secret_key")


def secret_key(settings: Settings) -> str:
    """SECRET_KEY, or one made once and kept in data/ (readable by this user only)."""
    if settings.secret_key:
        return settings.secret_key
    if SECRET_FILE.exists():
        return SECRET_FILE.read_text().strip()
    SECRET_FILE.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    fd = os.open(SECRET_FILE, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(key)
    return key


def link_base(settings: Settings) -> str:
    """Where staff open an intake's page: PUBLIC_URL, else the staff app's own address."""
    return settings.public_url or f"http://{settings.web_listen}:{settings.web_port}"


@dataclass(frozen=True)
class Parts:
    """What this process runs besides the jobs."""

    web: bool  # the staff web app and clinic API
    telegram: bool  # the Telegram channel


class Runtime:
    def __init__(self, settings: Settings, engine: Engine, store: Store, parts: Parts):
        self.settings = settings
        self.engine = engine
        self.store = store
        self.parts = parts
        self.channel: Any = None
        if parts.telegram:
            from bot.channels.telegram.channel import TelegramChannel

            self.channel = TelegramChannel(settings, engine, store)
        self.jobs = Jobs(self._jobs())
        self.server: uvicorn.Server | None = None
        self.web: Any = None  # the staff web app, once built (closed at the stop)
        self._stopping = asyncio.Event()
        self._broken = False  # polling died: exit with status 1

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
                    self.engine,
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
                self.engine,
                self.store,
                secret_key(settings),
                https=https,
                extra_routes=[*operations, *routes],
                lifetime=lifetime,
                zone=settings.clinic_timezone,
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
        """Whether this process polls Telegram (leader), stands by (follower), or is alone (single):
        ``leading`` is set where a leader lock is held (None or absent: no lock is used)."""
        leading = getattr(self, "leading", None)
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
        died). Raises StartupError (a UserError) when Telegram refuses to start."""
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
        if self.channel is not None and not self.settings.webhook_url:
            polling = asyncio.create_task(self.channel.poll(), name="telegram-polling")
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
            await self.jobs.stop()
            if self.channel is not None:
                await self.channel.stop()
            if self.web is not None:
                await asyncio.to_thread(self.web.close)
        return status


def run(settings: Settings, engine: Engine, store: Store, parts: Parts) -> int:
    """Run one process until SIGINT or SIGTERM; its exit status."""

    async def main() -> int:
        return await Runtime(settings, engine, store, parts).run()

    return asyncio.run(main())
