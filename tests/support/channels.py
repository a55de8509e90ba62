"""A real TelegramChannel (python-telegram-bot's Application) talking HTTP to a FakeTelegram of its own."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from bot.channels.telegram.channel import TelegramChannel
from bot.config import Settings
from bot.engine import Engine
from bot.store import Store
from support.fake_telegram import FakeTelegram


@asynccontextmanager
async def channel_with_fake(engine: Engine, store: Store) -> AsyncIterator[tuple[TelegramChannel, FakeTelegram]]:
    """The channel initialised (not polling: a test hands it updates or replies), unpaced."""
    with FakeTelegram() as fake:
        settings = Settings(telegram_token=fake.TOKEN, telegram_base_url=fake.base_url, chat_rate=1000)
        channel = TelegramChannel(settings, engine, store)
        await channel.application.initialize()
        try:
            yield channel, fake
        finally:
            await channel.outbox.stop()
            await channel.application.shutdown()
