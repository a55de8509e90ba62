"""Sending committed replies: in order per chat, paced, retried, and marked sent.

A turn commits its replies first (see ``runner.py``); the channel then hands the committed rows to
``Outbox.push`` and they are sent from memory, with no second read of the database. Each send is
recorded ("sent", with Telegram's message id) in whichever group commit comes next, or within
``MARK_DELAY`` seconds. If the process dies before that, those replies go out once more after the
restart; none is ever lost. A chat's replies are sent strictly in order: one that must wait for a
retry holds back the ones after it (they wait in the store, not in memory) until the retry round
sends it or it is given up on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import Any

from telegram import Bot
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TelegramError

from bot.channels.telegram.failed_turns import is_store_trouble
from bot.channels.telegram.replies import Document, Reply, ReplyOp, deliver
from bot.channels.telegram.shown import ShownMessages
from bot.failures import log_failure
from bot.store import Outgoing, Store, Tx, utcnow
from bot.store.group import GroupCommit
from bot.store.leases import Leases, SharedBudget, try_lock_chats

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 8
#: Longest a sent reply waits for a group commit to record it (a crash in between sends it again).
MARK_DELAY = 0.2
#: After a commit that could not record them: the database is in trouble, do not hammer it.
MARK_RETRY_DELAY = 2.0
#: Longest a stop waits for the replies being sent right now to be answered and recorded.
STOP_GRACE = 5.0
#: Recently sent rows whose Telegram message id an edit may need, kept in memory.
REMEMBERED_IDS = 20_000
# Edits that cannot matter any more: the message is gone, too old, or already shows this.
_HARMLESS_EDIT_ERRORS = ("message is not modified", "message to edit not found", "message can't be edited")


def retry_seconds(err: RetryAfter) -> float:
    """How long Telegram asks to wait (python-telegram-bot gives an int or a timedelta)."""
    retry = err.retry_after
    return float(retry) if isinstance(retry, (int, float)) else retry.total_seconds()


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

    async def wait_all(self) -> None:
        """An edit: the bot's overall limit only, which python-telegram-bot's AIORateLimiter
        keeps within one process."""


class SharedPacer:
    """``ChatPacer``'s promise for every worker on one PostgreSQL: the tokens are taken from
    ``send_budget`` (one autocommit statement, on an UNLOGGED table: no WAL flush), so the bot
    as a whole keeps to ``rate`` a chat and ``all_rate`` overall, however many workers send."""

    def __init__(self, store: Store, budget: SharedBudget):
        self.store = store
        self.budget = budget
        # one connection of its own, in autocommit: a pool checkout per message (with its
        # pre-ping and isolation level set and reset) cost twice the statement itself
        self._conn: Any = None

    async def wait(self, chat_id: int) -> None:
        await self._wait(chat_id)

    async def wait_all(self) -> None:
        await self._wait(None)

    async def _wait(self, chat_id: int | None) -> None:
        try:
            if self._conn is None:
                self._conn = self.store.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
            delay = self.budget.take(self._conn.connection.driver_connection, chat_id)
        except Exception as err:  # the database's trouble: send unpaced (a 429 still holds the chat back)
            log_failure(log, "the shared send budget could not be read", err)
            self.close(broken=True)
            return
        if delay:
            await asyncio.sleep(delay)

    def close(self, broken: bool = False) -> None:
        """Give the connection back; a ``broken`` one is thrown away (handed back, the pool
        would try to reset it and log the failure with a traceback)."""
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                if broken:
                    conn.invalidate()
                conn.close()


class Outbox:
    """The replies to send: per chat a queue in memory, fed by commits and by the retry round.

    It is also a rider of the group commit (``bot.store.group.Rider``): the "sent" marks ride
    along with the next turns' transaction instead of costing one of their own.
    """

    def __init__(
        self,
        store: Store,
        bot: Bot,
        pacer: ChatPacer | SharedPacer,
        group: GroupCommit,
        clock: Callable[[], datetime] = utcnow,
        copies: Callable[[int, int], Document | None] | None = None,
        leases: Leases | None = None,
    ):
        self.store = store
        #: several workers: send only rows claimed for this one (``bot.store.leases``)
        self.leases = leases
        #: makes a copy of an intake's answers for a chat (``copies.Copies.make``), when asked for
        self.copies = copies
        self.bot = bot
        self.pacer = pacer
        self.group = group
        self.clock = clock
        group.riders.append(self)
        self._queues: dict[int, deque[Outgoing]] = {}
        self._workers: dict[int, asyncio.Task] = {}
        self._known: set[int] = set()  # rows in memory: queued, being sent, or sent and not marked yet
        self._held: set[int] = set()  # chats whose next reply waits in the store for a retry
        self._marks: list[tuple[int, int | None, datetime]] = []  # (row, Telegram message id, when)
        self._mark_timer: asyncio.TimerHandle | None = None
        self._telegram_ids: dict[int, int | None] = {}  # row -> Telegram message id, recent sends
        self.shown = ShownMessages()  # what recent messages show: an edit that changes nothing is skipped
        self._stopping = False  # no new send begins once stop() was called
        self._rendering = asyncio.Semaphore(1)  # copies made one at a time (``_send_copy``)

    # --- what to send ----------------------------------------------------------------------------

    def push(self, rows: Iterable[Outgoing]) -> None:
        """Committed replies, to send in order after what the chat is already waiting for."""
        for row in rows:
            chat = row.chat_id
            if row.id in self._known:
                continue  # queued, being sent or sent already (a turn's catch-up may name it again)
            if chat in self._held:
                if self.leases is None:
                    continue  # stays in the store: the retry round sends it after the one held up
                # claimed: the store said the chat may go on (what held it is sent or due)
                self._held.discard(chat)
            self._queues.setdefault(chat, deque()).append(row)
            self._known.add(row.id)
            if chat not in self._workers:
                self._workers[chat] = asyncio.get_running_loop().create_task(self._work(chat))

    def forget(self, chat_id: int) -> None:
        """The chat was erased: nothing queued for it may go out any more."""
        for row in self._queues.pop(chat_id, ()):
            self._known.discard(row.id)
        self._held.discard(chat_id)

    async def deliver_due(self) -> int:
        """The retry round: replies in the store and not in memory (after a restart, or held up
        by a failure) whose chat may send again now; how many chats were started."""
        if self.leases is not None:
            return self._claim_due(self.leases)
        with self.store.transaction(read_only=True) as tx:
            rows = tx.pending(max_attempts=MAX_ATTEMPTS, limit=1000)
        now = self.clock()
        waiting: dict[int, list[Outgoing]] = {}
        for row in rows:
            if row.id not in self._known:
                waiting.setdefault(row.chat_id, []).append(row)
        self._held &= waiting.keys()  # a held chat with nothing left (erased, given up) is free
        started = 0
        for chat, chat_rows in waiting.items():
            if chat in self._workers:
                continue  # cannot happen while held; never reorder around a running worker
            first = chat_rows[0]
            if first.next_try_at is not None and first.next_try_at > now:
                continue  # its first reply is not due yet: everything after it waits too
            self._held.discard(chat)
            self.push(chat_rows)
            started += 1
        return started

    def _claim_due(self, leases: Leases) -> int:
        """Several workers: claim the rows nobody holds (a dead worker's, a retry now due), chat
        by chat under the chat's lock (a chat busy with a turn, or with another worker's round,
        waits for the next round), and send them; how many chats were started."""
        with self.store.transaction() as tx:
            chats = try_lock_chats(tx.driver, leases.due_chats(tx.driver))
            rows = leases.claim(tx.driver, chats)
        fresh = {row.chat_id for row in rows if row.id not in self._known}
        self.push(rows)
        return len(fresh)

    def renew(self) -> None:
        """Several workers: extend the leases of the rows in memory. A queued row this worker no
        longer holds (another took it after this one stalled past its lease, or it was erased)
        is dropped, never sent twice."""
        leases = self.leases
        if leases is None or not self._known:
            return
        with self.store.transaction() as tx:
            held = leases.renew(tx.driver, self._known)
        for chat, queue in list(self._queues.items()):
            lost = [row for row in queue if row.id not in held]
            if lost:
                log.warning("%d repl(ies) to chat %s taken over by another worker: not sent here", len(lost), chat)
                self._queues[chat] = deque(row for row in queue if row.id in held)
                self._known.difference_update(row.id for row in lost)

    async def run(self, interval: float = 2.0) -> None:
        """Retry what failed, forever (cancelled at shutdown); with several workers, every second,
        claiming what nobody holds and extending this worker's leases."""
        if self.leases is not None:
            interval = min(interval, 1.0)
        while True:
            await asyncio.sleep(interval)
            try:
                self.renew()
                await self.deliver_due()
            except Exception as err:  # keep retrying whatever one round met
                log_failure(log, "outbox round failed", err)

    async def idle(self) -> None:
        """Wait until every queued reply has been sent or held (tests and benchmarks)."""
        while self._workers:
            await asyncio.gather(*list(self._workers.values()), return_exceptions=True)

    async def stop(self, grace: float = STOP_GRACE) -> None:
        """Stop sending and record what was sent; unsent replies stay in the store for the next start.

        A reply on its way is let finish (for up to ``grace`` seconds) and recorded: cancelled
        while Telegram was answering, it would count as unsent and go out again at the next start.
        """
        self._stopping = True
        workers = list(self._workers.values())
        if workers:
            _, late = await asyncio.wait(workers, timeout=grace)
            for worker in late:
                worker.cancel()
            await asyncio.gather(*late, return_exceptions=True)
        if self._marks:
            self.group.commit_now()
        if isinstance(self.pacer, SharedPacer):
            self.pacer.close()
        if self.leases is not None and not self._marks:  # recorded: what is left unsent is free now
            try:
                with self.store.transaction() as tx:
                    self.leases.release(tx.driver)
            except Exception as err:  # the leases run out by themselves
                log_failure(log, "releasing the outbox's claims at stop failed", err)

    # --- sending ---------------------------------------------------------------------------------

    async def _work(self, chat: int) -> None:
        try:
            while not self._stopping and (queue := self._queues.get(chat)):
                row = queue.popleft()
                try:
                    go_on = await self._send(row)
                except Exception as err:
                    # Anything unforeseen (the database refusing to record a failure, say) must
                    # not end this worker with the chat's replies stranded in memory: they are
                    # in the store, and the retry round sends them once the chat is held.
                    log_failure(log, f"reply {row.id} to chat {chat} failed; held for the retry round", err)
                    go_on = False
                if not go_on:  # must wait for a retry: hold the chat back
                    self._known.discard(row.id)
                    self._held.add(chat)
                    for later in self._queues.pop(chat, ()):
                        self._known.discard(later.id)  # in the store: the retry round sends them
        finally:
            del self._workers[chat]
            if not self._queues.get(chat):
                self._queues.pop(chat, None)

    async def _send(self, row: Outgoing) -> bool:
        """Send one reply; True to go on with the chat's next one."""
        now = self.clock()
        reply = Reply.from_payload(row.payload)
        if reply.op == ReplyOp.COPY:
            return await self._send_copy(row, reply, now)
        try:
            telegram_id = await self._call(row, reply)
        except RetryAfter as err:  # only this chat waits: the others' replies go on
            retry = retry_seconds(err)
            log.info("Telegram holds chat %s back for %ss (429)", row.chat_id, retry)
            self._failed(row, f"429: retry after {retry}s", now + timedelta(seconds=retry), counts=False)
            return False
        except Forbidden as err:  # the person blocked the bot: nothing more can reach them
            self._failed(row, f"forbidden: {err.message}", None, give_up=True)
            return True
        except BadRequest as err:
            # python-telegram-bot re-capitalises Telegram's descriptions: compare without case.
            if reply.op in (ReplyOp.EDIT, ReplyOp.MARKUP) and any(
                e in err.message.lower() for e in _HARMLESS_EDIT_ERRORS
            ):
                message_id = self._edited(row, reply)
                if message_id is not None and "not modified" in err.message.lower():
                    self.shown.record(row.chat_id, message_id, reply)  # it shows that already
                self._sent(row, None)
                return True
            log.error("reply %s refused by Telegram: %s", row.id, err.message)
            self._failed(row, f"bad request: {err.message}", None, give_up=True)
            return True
        except NetworkError as err:  # includes timeouts: the reply may or may not have arrived
            backoff = min(300.0, 2.0 ** (row.attempts + 1))
            self._failed(row, f"network: {err.message}", now + timedelta(seconds=backoff))
            return False
        self._sent(row, telegram_id)
        return True

    async def _send_copy(self, row: Outgoing, reply: Reply, now: datetime) -> bool:
        """Send a copy of the answers (``copies.py``), made now. A copy never holds back the
        chat's later replies (a crisis text may be among them): whatever goes wrong but
        Telegram's own "wait" (a 429, which would hold any reply) gives it up, and the person
        can tap again. A timed-out upload may have arrived all the same: given up, it is not
        sent a second time. Also True when it went (or was given up): the chat goes on."""
        if self.copies is None or reply.intake is None:
            self._failed(row, "copy: nothing in this process makes copies", None, give_up=True)
            return True
        try:
            async with self._rendering:  # CPU-bound: one at a time, so the turns keep their share
                document = await asyncio.to_thread(self.copies, row.chat_id, reply.intake)
            await self.pacer.wait(row.chat_id)
            # erased (/delete, retention) while it was being made or waited for the pacer
            if document is not None and not await asyncio.to_thread(self._stored, row.chat_id, reply.intake):
                document = None
        except Exception as err:
            if is_store_trouble(err):
                raise  # the database's trouble: held for the retry round like any reply
            log_failure(log, f"copy {row.id} could not be made", err)
            self._failed(row, f"copy: {type(err).__name__}", None, give_up=True)
            return True
        if document is None:
            self._failed(row, "copy: the intake was erased", None, give_up=True)
            return True
        try:
            telegram_id = await deliver(self.bot, row.chat_id, reply, document=document)
        except RetryAfter as err:
            retry = retry_seconds(err)
            self._failed(row, f"429: retry after {retry}s", now + timedelta(seconds=retry), counts=False)
            return False
        except TelegramError as err:
            log.warning("copy %s not sent: %s", row.id, type(err).__name__)
            self._failed(row, f"copy: {err.message}", None, give_up=True)
            return True
        self._sent(row, telegram_id)
        return True

    def _stored(self, chat_id: int, intake_id: int) -> bool:
        with self.store.transaction(read_only=True) as tx:
            intake = tx.intake(intake_id)
        return intake is not None and intake.chat_id == chat_id

    async def _call(self, row: Outgoing, reply: Reply) -> int | None:
        if reply.op == ReplyOp.SEND:
            await self.pacer.wait(row.chat_id)
            telegram_id = await deliver(self.bot, row.chat_id, reply)
            if telegram_id is not None:
                self.shown.record(row.chat_id, telegram_id, reply)
            return telegram_id
        # Edits are not paced per chat: the per-chat guideline is about new messages, and taking
        # the buttons off an answered question should never lag behind the next question.
        message_id = self._edited(row, reply)
        if message_id is not None:
            if not self.shown.changes(row.chat_id, message_id, reply):
                return None  # it shows that already: Telegram would refuse "message is not modified"
            await self.pacer.wait_all()
            await deliver(self.bot, row.chat_id, reply, message_id)
            self.shown.record(row.chat_id, message_id, reply)
        return None

    def _edited(self, row: Outgoing, reply: Reply) -> int | None:
        """Telegram's id of the message an edit changes (None: it never went out)."""
        if reply.message_id is None and reply.target is not None:
            return self._telegram_id(reply.target)
        return reply.message_id

    def _telegram_id(self, row_id: int) -> int | None:
        """Telegram's id of a reply this bot sent (from memory when recent, else from the store)."""
        if row_id in self._telegram_ids:
            return self._telegram_ids[row_id]
        with self.store.transaction(read_only=True) as tx:
            return tx.telegram_message_id(row_id)

    def _failed(
        self, row: Outgoing, error: str, retry_at: datetime | None, give_up: bool = False, counts: bool = True
    ) -> None:
        """Record a failed send; ``counts`` False when Telegram only asked to wait (a 429): however
        often it asks, the reply is never given up for that."""
        give_up = give_up or (counts and row.attempts + 1 >= MAX_ATTEMPTS)
        with self.store.transaction() as tx:
            tx.mark_failed(row.id, error, retry_at, give_up=give_up, counts=counts)

    # --- recording what was sent (a rider of the group commit) ---------------------------------

    def _sent(self, row: Outgoing, telegram_id: int | None) -> None:
        self._marks.append((row.id, telegram_id, self.clock()))
        ids = self._telegram_ids
        ids[row.id] = telegram_id
        if len(ids) > REMEMBERED_IDS:
            del ids[next(iter(ids))]  # the oldest: dicts keep their order
        if self._mark_timer is None:
            self._mark_timer = asyncio.get_running_loop().call_later(MARK_DELAY, self._marks_due)

    def _marks_due(self) -> None:
        self._mark_timer = None
        if self._marks:
            self.group.flush_soon()

    def has_work(self) -> bool:
        return bool(self._marks)

    def take(self) -> list[tuple[int, int | None, datetime]]:
        taken, self._marks = self._marks, []
        return taken

    def write(self, tx: Tx, load: list[tuple[int, int | None, datetime]]) -> None:
        tx.mark_all_sent(load)

    def done(self, load: list[tuple[int, int | None, datetime]], committed: bool) -> None:
        if committed:
            self._known.difference_update(row for row, _, _ in load)
            return
        # Not recorded: kept for the next commit. Dropped, the rows would stay unsent in the
        # store yet "known" here, so this process would never send them, and the next one to
        # start would send them again, an old question out of the blue.
        self._marks[:0] = load
        if self._mark_timer is None:
            self._mark_timer = asyncio.get_running_loop().call_later(MARK_RETRY_DELAY, self._marks_due)
