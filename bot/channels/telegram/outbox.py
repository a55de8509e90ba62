"""Sending committed replies: in order per chat, paced, retried, and marked sent.

A turn commits its replies first (see ``turns.py``); this module sends them. If the process dies
between sending and marking a reply sent, the reply goes out once more after the restart; it is
never lost. A chat's replies are sent strictly in order: a reply that fails holds back the ones
after it until a retry succeeds or the reply is given up on.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter

from bot.channels.telegram.locks import KeyedLocks
from bot.store import Outgoing, Store, utcnow

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 8
# Edits that cannot matter any more: the message is gone, too old, or already shows this.
_HARMLESS_EDIT_ERRORS = ("message is not modified", "message to edit not found", "message can't be edited")


def markup(keyboard: list[list[dict[str, str]]] | None) -> InlineKeyboardMarkup | None:
    if not keyboard:
        return None
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(b["text"], url=b["url"])
                if "url" in b
                else InlineKeyboardButton(b["text"], callback_data=b["data"])
                for b in row
            ]
            for row in keyboard
        ]
    )


class ChatPacer:
    """At most ``rate`` messages a second to one chat, with short bursts of ``burst`` allowed.

    Telegram asks bots to stay near one message per second in a private chat; python-telegram-bot's
    AIORateLimiter paces the overall and group limits but not this one.
    """

    def __init__(self, rate: float = 1.0, burst: int = 3, clock: Callable[[], float] = time.monotonic):
        self.rate = rate
        self.burst = burst
        self.clock = clock
        self._buckets: dict[int, tuple[float, float]] = {}  # chat -> (tokens, when)

    def delay(self, chat_id: int) -> float:
        """Take a token for ``chat_id``; how long to wait before sending (0 when none)."""
        now = self.clock()
        tokens, when = self._buckets.get(chat_id, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - when) * self.rate)
        tokens -= 1.0
        self._buckets[chat_id] = (tokens, now)
        if len(self._buckets) > 10_000:  # forget chats that have been quiet long enough to be full
            full = [c for c, (t, w) in self._buckets.items() if t + (now - w) * self.rate >= self.burst]
            for c in full:
                del self._buckets[c]
        return max(0.0, -tokens / self.rate)

    async def wait(self, chat_id: int) -> None:
        delay = self.delay(chat_id)
        if delay:
            await asyncio.sleep(delay)


class Outbox:
    def __init__(self, store: Store, bot: Bot, pacer: ChatPacer, clock: Callable[[], datetime] = utcnow):
        self.store = store
        self.bot = bot
        self.pacer = pacer
        self.clock = clock
        self._locks = KeyedLocks()

    async def deliver(self, chat_id: int) -> None:
        """Send this chat's due replies in order; stop at the first that must wait for a retry."""
        async with self._locks.hold(chat_id):
            batch = 20
            while True:
                with self.store.transaction() as tx:
                    rows = tx.pending(chat_id, due_by=self.clock(), max_attempts=MAX_ATTEMPTS, limit=batch)
                sent: list[tuple[int, int | None]] = []
                try:
                    for row in rows:
                        if not await self._send(row, sent):
                            return
                finally:
                    # Marked together: a crash before this line sends these once more, never loses them.
                    with self.store.transaction() as tx:
                        tx.mark_all_sent(sent, self.clock())
                if len(rows) < batch:
                    return

    async def deliver_due(self) -> int:
        """Every chat with a reply due (after a restart, or for a retry); how many chats."""
        with self.store.transaction() as tx:
            chats = sorted({r.chat_id for r in tx.pending(due_by=self.clock(), max_attempts=MAX_ATTEMPTS, limit=500)})
        await asyncio.gather(*(self.deliver(chat) for chat in chats))
        return len(chats)

    async def run(self, interval: float = 2.0) -> None:
        """Retry what failed, forever (cancelled at shutdown)."""
        while True:
            await asyncio.sleep(interval)
            try:
                await self.deliver_due()
            except Exception:  # keep retrying whatever one round met; the error is logged
                log.exception("outbox round failed")

    async def _send(self, row: Outgoing, sent: list[tuple[int, int | None]]) -> bool:
        """Send one reply (recorded in ``sent``); True to go on with the chat's next one."""
        now = self.clock()
        try:
            telegram_id = await self._call(row, dict(sent))
        except RetryAfter as err:
            retry = err.retry_after if isinstance(err.retry_after, (int, float)) else err.retry_after.total_seconds()
            self._failed(row, f"429: retry after {retry}s", now + timedelta(seconds=float(retry)))
            return False
        except Forbidden as err:  # the person blocked the bot: nothing more can reach them
            self._failed(row, f"forbidden: {err.message}", None, give_up=True)
            return True
        except BadRequest as err:
            # python-telegram-bot re-capitalises Telegram's descriptions: compare without case.
            if row.payload["op"] != "send" and any(e in err.message.lower() for e in _HARMLESS_EDIT_ERRORS):
                sent.append((row.id, None))
                return True
            log.error("reply %s refused by Telegram: %s", row.id, err.message)
            self._failed(row, f"bad request: {err.message}", None, give_up=True)
            return True
        except NetworkError as err:  # includes timeouts: the reply may or may not have arrived
            backoff = min(300.0, 2.0 ** (row.attempts + 1))
            self._failed(row, f"network: {err.message}", now + timedelta(seconds=backoff))
            return False
        sent.append((row.id, telegram_id))
        return True

    async def _call(self, row: Outgoing, sent_now: dict[int, int | None]) -> int | None:
        payload: dict[str, Any] = row.payload
        op = payload["op"]
        if op == "send":
            await self.pacer.wait(row.chat_id)
            message = await self.bot.send_message(
                row.chat_id, payload["text"], reply_markup=markup(payload["keyboard"])
            )
            return message.message_id
        message_id = payload.get("message_id")
        target = payload.get("target")
        if message_id is None and target is not None:
            if target in sent_now:  # sent a moment ago in this pass, not marked yet
                message_id = sent_now[target]
            else:
                with self.store.transaction() as tx:
                    message_id = tx.telegram_message_id(target)
        if message_id is None:
            return None  # the message to edit never went out: nothing to change
        # Edits are not paced: the per-chat guideline is about new messages, and taking the
        # buttons off an answered question should never lag behind the next question.
        if op == "edit":
            await self.bot.edit_message_text(payload["text"], chat_id=row.chat_id, message_id=message_id)
        else:
            await self.bot.edit_message_reply_markup(
                chat_id=row.chat_id, message_id=message_id, reply_markup=markup(payload["keyboard"])
            )
        return None

    def _failed(self, row: Outgoing, error: str, retry_at: datetime | None, give_up: bool = False) -> None:
        with self.store.transaction() as tx:
            tx.mark_failed(row.id, error, retry_at, give_up=give_up or row.attempts + 1 >= MAX_ATTEMPTS)
