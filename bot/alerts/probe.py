"""``python -m bot alerts test``: a test alert to every configured channel, and what each answered.

One line per channel, ``ok`` or ``FAILED`` with the reason; the exit status is 0 only when every
channel took its alert (so a deployment script can check the setup).
"""

from __future__ import annotations

import asyncio
from typing import TextIO

from telegram.error import TelegramError

from bot.alerts.content import AlertWriter
from bot.alerts.senders import Sender, SendFailed, senders
from bot.config import Settings
from bot.engine import Engine


async def _probe(settings: Settings, engine: Engine, out: TextIO) -> int:
    alerts = settings.alerts
    if not alerts.channels:
        print("no alert channel is configured: set ALERT_TELEGRAM_CHAT_ID and/or SMTP_URL (see .env.example)", file=out)
        return 1
    alert = AlertWriter(engine, "", alerts.detail).test()
    bot = None
    if alerts.telegram_chat_id is not None:
        from bot.channels.telegram.channel import build_application

        bot = build_application(settings).bot
    failures = 0
    try:
        if bot is not None:
            try:
                await bot.initialize()
            except TelegramError as err:
                print(
                    f"Telegram chat {alerts.telegram_chat_id}: FAILED: the bot cannot log in: {err.message}", file=out
                )
                failures += 1
                bot = None
        found: list[Sender] = senders(alerts, bot)
        for sender in found:
            try:
                answer = await sender.send(alert, key="test")
            except SendFailed as err:
                print(f"{sender.describe()}: FAILED: {err}", file=out)
                failures += 1
            else:
                print(f"{sender.describe()}: ok, {answer}", file=out)
    finally:
        if bot is not None:
            await bot.shutdown()
    return 1 if failures else 0


def probe(settings: Settings, engine: Engine, out: TextIO) -> int:
    return asyncio.run(_probe(settings, engine, out))
