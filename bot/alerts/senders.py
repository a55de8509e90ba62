"""The two ways an alert reaches staff: a staff Telegram chat and e-mail over SMTP.

Each sender's ``send`` returns what the far end answered (for ``python -m bot alerts test`` and
the logs) or raises ``SendFailed`` with a short reason that holds no health data.

Telegram: the alert is sent by the job through the channel's own bot (``replies.deliver``), so it
goes through the same python-telegram-bot rate limiter as every reply, and through the outbox's
per-chat pacer. It is deliberately not an outbox row: outbox rows are a patient's transcript
(kept, exported and erased with the intake, sent in the patient chat's order), and the outbox
gives up on a 403 at once (a patient who blocked the bot will not come back), whereas a staff chat
that removed the bot is usually put right by adding it again, so an alert keeps being retried.

E-mail: the standard library's ``smtplib`` and ``email``, run off the event loop in a thread:
one short exchange per alert does not need an asynchronous client as a dependency.
"""

from __future__ import annotations

import asyncio
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate
from typing import Any, Protocol

from telegram.error import RetryAfter, TelegramError

from bot.alerts.content import AlertText
from bot.alerts.settings import AlertSettings, Smtp
from bot.channels.telegram.outbox import retry_seconds
from bot.channels.telegram.replies import Reply, ReplyOp, deliver


class SendFailed(Exception):
    """An alert did not go out; ``retry_after`` when the far end said how long to wait (a 429)."""

    def __init__(self, reason: str, retry_after: float | None = None):
        super().__init__(reason[:200])
        self.retry_after = retry_after


class Sender(Protocol):
    #: "telegram" or "email": the alerts table's channel
    channel: str

    def describe(self) -> str:
        """Where it sends to, for messages (no secrets)."""

    async def send(self, alert: AlertText, key: str) -> str:
        """Send ``alert``; what the far end answered. ``key`` names the alert (same on a retry)."""


class TelegramSender:
    channel = "telegram"

    def __init__(self, bot: Any, chat_id: int, pacer: Any = None):
        self.bot = bot
        self.chat_id = chat_id
        self.pacer = pacer

    def describe(self) -> str:
        return f"Telegram chat {self.chat_id}"

    async def send(self, alert: AlertText, key: str) -> str:
        if self.pacer is not None:
            await self.pacer.wait(self.chat_id)
        try:
            message_id = await deliver(self.bot, self.chat_id, Reply(ReplyOp.SEND, alert.message))
        except RetryAfter as err:
            raise SendFailed(f"429: retry after {retry_seconds(err)}s", retry_seconds(err)) from None
        except TelegramError as err:  # 403 (the bot was removed), 400 (no such chat), network
            kind = type(err).__name__
            raise SendFailed(err.message if err.message.startswith(kind) else f"{kind}: {err.message}") from None
        return f"sent, message {message_id}"


class EmailSender:
    channel = "email"

    def __init__(self, smtp: Smtp, sender: str, recipients: tuple[str, ...], timeout: float = 20.0):
        self.smtp = smtp
        self.sender = sender
        self.recipients = recipients
        self.timeout = timeout

    def describe(self) -> str:
        return f"e-mail to {', '.join(self.recipients)} via {self.smtp}"

    async def send(self, alert: AlertText, key: str) -> str:
        return await asyncio.to_thread(self._send, self.message(alert, key))

    def message(self, alert: AlertText, key: str) -> EmailMessage:
        msg = EmailMessage()
        msg["Subject"] = alert.subject
        msg["From"] = self.sender
        msg["To"] = ", ".join(self.recipients)
        msg["Date"] = formatdate(localtime=False, usegmt=True)
        # The same id on every try of one alert: a mail client that sees a repeat treats it as one.
        domain = self.sender.rsplit("@", 1)[-1].strip(" >") or "localhost"
        msg["Message-ID"] = f"<alert.{key}@{domain}>"
        msg["Auto-Submitted"] = "auto-generated"  # RFC 3834: no out-of-office replies, please
        msg.set_content(alert.body)
        return msg

    def _send(self, msg: EmailMessage) -> str:
        smtp = self.smtp
        context = ssl.create_default_context()
        try:
            if smtp.security == "ssl":
                client: smtplib.SMTP = smtplib.SMTP_SSL(smtp.host, smtp.port, timeout=self.timeout, context=context)
            else:
                client = smtplib.SMTP(smtp.host, smtp.port, timeout=self.timeout)
            with client:
                client.ehlo()
                if smtp.security == "starttls":
                    if client.has_extn("starttls"):
                        client.starttls(context=context)
                        client.ehlo()
                    elif not smtp.local:  # never a password or an alert in the clear across a network
                        raise SendFailed(f"{smtp.host} offers no STARTTLS: not sending in the clear")
                if smtp.user:
                    client.login(smtp.user, smtp.password or "")
                refused = client.send_message(msg)
        except SendFailed:
            raise
        except (smtplib.SMTPException, OSError) as err:
            raise SendFailed(f"{type(err).__name__}: {err}") from None
        accepted = len(self.recipients) - len(refused)
        return f"accepted by {smtp.host} for {accepted} of {len(self.recipients)} recipient(s)"


def senders(settings: AlertSettings, bot: Any = None, pacer: Any = None) -> list[Sender]:
    """A sender for each configured channel (the Telegram one needs the channel's bot)."""
    found: list[Sender] = []
    if settings.telegram_chat_id is not None and bot is not None:
        found.append(TelegramSender(bot, settings.telegram_chat_id, pacer))
    if settings.smtp is not None and settings.email_from:
        found.append(EmailSender(settings.smtp, settings.email_from, settings.email_to, settings.timeout))
    return found
