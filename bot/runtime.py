"""One process for a clinic: the staff web app, the clinic API and (with a token) the Telegram bot.

In webhook mode Telegram's updates arrive on the same application and port as the web pages
(WEB_LISTEN:WEB_PORT, at WEBHOOK_URL's path); WEBHOOK_LISTEN and WEBHOOK_PORT are for ``run``
alone. In polling mode the bot polls in the background of the same process.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import signal
import sys
from pathlib import Path

import uvicorn

from bot import heap
from bot.config import Settings
from bot.engine import Engine
from bot.staff.web import create_app
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


def serve(settings: Settings, engine: Engine, store: Store) -> int:
    channel = None
    extra_routes = []
    if settings.telegram_token:
        from bot.channels.telegram.channel import TelegramChannel
        from bot.channels.telegram.update_webhook import webhook_path, webhook_routes

        channel = TelegramChannel(settings, engine, store)
        if settings.webhook_url:
            extra_routes = webhook_routes(channel)
            # Said at start because it surprises: WEBHOOK_LISTEN and WEBHOOK_PORT do not apply here.
            log.info("Telegram webhook served at %s on WEB_LISTEN:WEB_PORT", webhook_path(channel))

    https = bool(settings.public_url and settings.public_url.startswith("https://"))
    app = create_app(engine, store, secret_key(settings), https=https, extra_routes=extra_routes)
    port = settings.web_port
    log.info("staff web app on http://%s:%s", settings.web_listen, port)
    config = uvicorn.Config(
        app, host=settings.web_listen, port=port, log_level="warning", access_log=False, lifespan="off"
    )
    server = uvicorn.Server(config)
    # uvicorn re-raises SIGTERM after shutting down (exit status -15); a clean stop should exit 0.
    server.capture_signals = contextlib.nullcontext  # type: ignore[method-assign]

    async def main() -> int:
        from bot.channels.telegram.channel import StartupError

        polling = None
        if channel is not None:
            try:
                await channel.start()  # sets the webhook, or deletes it for polling
            except StartupError as err:
                print(err, file=sys.stderr)
                return 1
            if not settings.webhook_url:
                polling = asyncio.create_task(channel.poll(), name="telegram-polling")
        heap.settle()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, lambda: setattr(server, "should_exit", True))
        try:
            await server.serve()
        finally:
            if polling is not None:
                polling.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await polling
            if channel is not None:
                await channel.stop()
        return 0 if server.started else 1

    return asyncio.run(main())
