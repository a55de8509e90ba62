"""The questionnaire on Telegram: python-telegram-bot's Application, polling or a webhook.

Each update becomes one turn (``runner.py``, ``turn.py``) under its chat's lock, so a chat's updates apply in
order while different chats are served concurrently. The turns of updates that arrive together
(a ``getUpdates`` batch, concurrent webhook requests) are committed together, each atomic on its
own (``bot.store.group``); once committed, a turn's replies are sent by the outbox. Updates
are confirmed to Telegram only after their turn is committed: in polling mode the next
``getUpdates`` offset moves past an update only once it is applied, and in webhook mode the HTTP
answer is sent after the turn. A crash at any moment therefore loses no answer, and a redelivered
update is recognised by its bot and ``update_id`` within Telegram's redelivery window (numbers
repeat: after a week without updates, or with a new token); one whose turn keeps failing for a reason other than
the database is given up on (``failed_turns.py``). The webhook's endpoint is in ``update_webhook.py``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from telegram import BotCommand, Update
from telegram.error import BadRequest, Conflict, InvalidToken, NetworkError, RetryAfter, TelegramError, TimedOut
from telegram.ext import AIORateLimiter, Application, ApplicationBuilder
from telegram.request import BaseRequest

from bot import logs, metrics
from bot.alerts.rules import AlertRules
from bot.channels.telegram import render
from bot.channels.telegram.commands import COMMANDS
from bot.channels.telegram.copies import Copies
from bot.channels.telegram.events import Chat, Event
from bot.channels.telegram.failed_turns import FailedTurns, is_store_trouble
from bot.channels.telegram.locks import KeyedLocks
from bot.channels.telegram.outage import Outages
from bot.channels.telegram.outbox import MAX_ATTEMPTS, ChatPacer, Outbox, SharedPacer, retry_seconds
from bot.channels.telegram.replies import Reply, deliver
from bot.channels.telegram.runner import TurnRunner
from bot.channels.telegram.turn import TurnResult
from bot.channels.telegram.updates import ALLOWED_UPDATES, parse_update
from bot.config import Settings
from bot.engine import Engine, Engines
from bot.errors import UserError
from bot.failures import log_failure
from bot.store import Duplicate, Intake, Store, Tx
from bot.store.group import GroupCommit
from bot.store.leases import Leases, SharedBudget

log = logging.getLogger(__name__)

POLL_TIMEOUT = 25  # seconds a getUpdates long poll waits for news
#: Callback queries answered early (while their turn could not be applied), remembered so that the
#: same query coming again is not answered twice.
EARLY_ANSWERS = 10_000
MAX_WEBHOOK_BODY = 1 << 20
#: Times the bot waits out a 429 at start-up before giving up.
STARTUP_WAITS = 5


class StartupError(UserError):
    """The bot cannot start (Telegram refused the token, or cannot be reached): one clear line."""


class _RetryAfterIsHandled(logging.Filter):
    """Drops AIORateLimiter's log of a 429 it passes on.

    With ``max_retries=0`` it logs every 429 with a traceback before raising it; the caller
    handles it (the outbox holds just that chat back), so the record is only noise.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.exc_info and isinstance(record.exc_info[1], RetryAfter))


def _rate_limiter(overall: float = 30) -> AIORateLimiter:
    # max_retries=0: the limiter would otherwise sleep out a 429 itself, and while it sleeps it
    # holds back every request of the bot, so one chat's 429 would pause all chats. A 429 goes
    # to the caller instead: the outbox holds back only that chat.
    limiter_log = logging.getLogger("telegram.ext.AIORateLimiter")
    if not any(isinstance(f, _RetryAfterIsHandled) for f in limiter_log.filters):
        limiter_log.addFilter(_RetryAfterIsHandled())
    return AIORateLimiter(overall_max_rate=overall, overall_time_period=1, max_retries=0)


def build_application(settings: Settings, request: BaseRequest | None = None, rate_limit: bool = True) -> Application:
    """The Application; ``request`` replaces the HTTP layer (benchmarks pass a stub network)."""
    builder = (
        ApplicationBuilder()
        .token(settings.check_token())
        .updater(None)  # we poll ourselves, confirming an update only once its turn is committed
    )
    if rate_limit:
        builder = builder.rate_limiter(_rate_limiter(settings.bot_rate))
    if request is not None:
        builder = builder.request(request).get_updates_request(request)
    else:
        builder = builder.get_updates_read_timeout(POLL_TIMEOUT + 10)
    if settings.telegram_base_url:
        base = settings.telegram_base_url.rstrip("/")
        builder = builder.base_url(base if base.endswith("/bot") else base + "/bot")
        builder = builder.base_file_url((base[: -len("/bot")] if base.endswith("/bot") else base) + "/file/bot")
    return builder.build()


class TelegramChannel:
    def __init__(
        self,
        settings: Settings,
        engine: Engine | Engines,
        store: Store,
        request: BaseRequest | None = None,
        rate_limit: bool = True,
    ):
        self.settings = settings
        #: each flow version's engine; ``engine`` is the newest (new intakes, words before one begins)
        self.engines = engines = engine if isinstance(engine, Engines) else Engines.single(engine)
        self.engine = engine = engines.current
        self.store = store
        self.application = build_application(settings, request, rate_limit)
        #: Telegram numbers updates per bot: the token's first part is the bot's id
        self.bot_id = int(settings.check_token().split(":", 1)[0])
        # PostgreSQL may be shared by several workers (``bot.store.leases``): replies are claimed
        # and Telegram's limits kept in the database; SQLite is one process, paced in memory.
        shared = store.engine.dialect.name == "postgresql"
        self.leases = Leases(max_attempts=MAX_ATTEMPTS) if shared else None
        self.runner = TurnRunner(
            engines,
            store,
            notify_completion=bool(settings.clinic_webhook_url),
            retention_days=settings.retention_days,
            bot_id=self.bot_id,
            alerts=AlertRules.of(settings.alerts, engine),
            booking_base=settings.booking_tap_base,
            leases=self.leases,
        )
        self.group = GroupCommit(store)
        copies = Copies(store, engines, settings.clinic_timezone)
        pacer = (
            SharedPacer(
                store,
                SharedBudget(settings.chat_rate, all_rate=settings.bot_rate, all_burst=max(1, int(settings.bot_rate))),
            )
            if shared
            else ChatPacer(settings.chat_rate)
        )
        self.outbox = Outbox(store, self.application.bot, pacer, self.group, copies=copies.make, leases=self.leases)
        self._loop: asyncio.AbstractEventLoop | None = None  # once started: staff messages nudge it
        self._nudges: set[asyncio.Task] = set()
        self.locks = KeyedLocks()
        self.failed_turns = FailedTurns()
        self._tasks: list[asyncio.Task] = []
        self._later: set[asyncio.Task] = set()  # direct replies waiting out a 429
        #: updates of a batch applied while an earlier one failed: fetched again with it, skipped
        self._applied_early: set[int] = set()
        self.outages = Outages()  # chats whose turns fail for the database
        self._answered_early: dict[str, None] = {}  # callback query ids, oldest first

    @property
    def bot(self) -> Any:
        return self.application.bot

    # --- one update ------------------------------------------------------------------------------

    async def process(self, update: Update) -> bool:
        """Apply one update; False if its turn failed and it must come again (not confirmed).

        Called directly, not through python-telegram-bot's dispatcher (``process_update``): its
        one handler would only call back here, and report a failure through a side channel.
        """
        try:
            return await self._apply(update)
        except Exception as err:  # a bug outside the turn: never let it reach (and stall) the caller
            log_failure(log, f"update {update.update_id} not handled", err)
            return True

    async def _apply(self, update: Update) -> bool:
        try:
            parsed = parse_update(update)
        except Exception as err:  # an update this bot cannot read: nothing to apply
            log_failure(log, f"update {update.update_id} not understood", err)
            parsed = None
        if parsed is None:
            if update.callback_query is not None:
                await self._answer(update, None)
            return True
        chat, event = parsed
        logs.turn_id.set(logs.new_id())  # this task's log lines belong to this turn (LOG_FORMAT=json)
        async with self.locks.hold(chat.id):
            if self.outages.in_trouble(chat.id):  # its last turn could not be stored: no spinning button meanwhile
                await self._answer_early(update)
            try:
                with metrics.timed_turn():
                    result = await self.group.run(lambda tx: self._turn(tx, update.update_id, chat, event), chat.id)
                metrics.turn("applied")
            except Duplicate:
                metrics.turn("duplicate")
                log.info("update %s was applied before (Telegram sent it again): skipped", update.update_id)
                result = TurnResult(duplicate=True)
            except Exception as err:
                metrics.turn("failed")
                # Nothing was committed. Unconfirmed, the update comes back; given up on, the
                # patient hears so and the update is confirmed, so the bot moves on.
                if not self.failed_turns.give_up(update.update_id, err):
                    await self._not_applied_yet(update, chat, err)
                    return False
                result = TurnResult(direct=[render.send(self._apology(chat))])
            else:
                self.failed_turns.forget(update.update_id)
            self.outages.cleared(chat.id)
            if update.callback_query is not None and update.callback_query.id not in self._answered_early:
                await self._answer(update, result.toast)
            for reply in result.direct:
                await self._send_direct(chat.id, reply)
        return True

    async def _not_applied_yet(self, update: Update, chat: Chat, err: Exception) -> None:
        """The update's turn failed and it comes again: its button stops spinning now and, when
        the database has kept failing this chat (``outage.py``), the person hears their message
        is safe, once. Nothing of this is stored (the database is what failed)."""
        await self._answer_early(update)
        if is_store_trouble(err) and self.outages.failed(chat.id):  # a bug gets an apology instead
            language = self.engine.language_for(chat.language_code)
            await self._send_direct(chat.id, render.send(self.engine.message(language, "please_wait")))

    async def _answer_early(self, update: Update) -> None:
        """Answer a button press before its turn is applied (without the toast the turn would give)."""
        query = update.callback_query
        if query is None or query.id in self._answered_early:
            return
        self._answered_early[query.id] = None
        if len(self._answered_early) > EARLY_ANSWERS:
            del self._answered_early[next(iter(self._answered_early))]
        await self._answer(update, None)

    def _apology(self, chat: Chat) -> str:
        # In the language of the person's Telegram: what the failed turn read is not to be trusted.
        return self.engine.message(self.engine.language_for(chat.language_code), "sorry")

    def _turn(self, tx: Tx, update_id: int, chat: Chat, event: Event) -> TurnResult:
        result = self.runner.apply_in(tx, update_id, chat, event)
        # Sending starts once the turn is committed, on its own: a chat that Telegram holds back
        # (a 429 can ask for minutes) never delays anyone else's updates.
        if result.erased:
            tx.on_commit(lambda: self.outbox.forget(chat.id))
        tx.on_commit(lambda: self.outbox.push(result.outgoing))
        return result

    async def drain(self) -> None:
        """Wait until every reply committed so far was sent and recorded (tests and benchmarks)."""
        await self.outbox.idle()
        self.group.commit_now()

    async def _answer(self, update: Update, toast: str | None) -> None:
        # A 429 is not waited out: a query unanswered for long cannot be answered any more.
        try:
            await update.callback_query.answer(toast)
        except TelegramError as err:  # an old query cannot be answered any more: nothing to do
            log.info("callback query not answered: %s", err.message)

    async def _send_direct(self, chat_id: int, reply: Reply, tries: int = 3) -> None:
        """A reply that is deliberately not stored (after /delete, an apology): best effort."""
        shown = self.outbox.shown
        if reply.message_id is not None and not shown.changes(chat_id, reply.message_id, reply):
            return  # an edit that changes nothing (a stale button's keyboard is gone already)
        try:
            telegram_id = await deliver(self.bot, chat_id, reply)
            if telegram_id is not None or reply.message_id is not None:
                shown.record(chat_id, telegram_id if telegram_id is not None else reply.message_id, reply)
        except RetryAfter as err:
            if tries > 1:  # waited out in the background: this chat's lock and webhook answer go on
                self._send_later(retry_seconds(err), chat_id, reply, tries - 1)
            else:
                log.warning("direct reply to chat %s given up: Telegram keeps asking to wait", chat_id)
        except TelegramError as err:
            log.warning("direct reply to chat %s failed: %s", chat_id, err.message)

    def _send_later(self, delay: float, chat_id: int, reply: Reply, tries: int) -> None:
        async def later() -> None:
            await asyncio.sleep(delay)
            await self._send_direct(chat_id, reply, tries)

        task = asyncio.get_running_loop().create_task(later())
        self._later.add(task)
        task.add_done_callback(self._later.discard)

    # --- start-up and background work -------------------------------------------------------

    async def start(self) -> None:
        """Connect (getMe), register the commands, route updates (a webhook, or none for polling),
        and start the background work; StartupError, in one line, when Telegram refuses."""
        await self._at_start("getMe", self.application.initialize)  # checks the token and the connection
        try:
            await self.register_commands()
            if self.settings.webhook_url:
                await self._at_start(f"setWebhook (WEBHOOK_URL={self.settings.webhook_url})", self.set_webhook)
            else:  # polling needs no webhook; one left from an earlier run would refuse getUpdates
                await self._at_start("deleteWebhook", self.bot.delete_webhook)
        except BaseException:
            with contextlib.suppress(TelegramError):
                await self.application.shutdown()
            raise
        with self.store.transaction() as tx:  # updates seen before the upgrade that keeps them per bot
            if adopted := tx.adopt_updates(self.bot_id):
                log.info("%d update(s) seen before the upgrade taken as this bot's", adopted)
        await self.outbox.deliver_due()  # replies committed before a crash or restart
        self._tasks = [asyncio.create_task(self.outbox.run(), name="outbox")]
        self._loop = asyncio.get_running_loop()
        log.info("bot @%s started with flow %s v%s", self.bot.username, self.engine.flow.id, self.engine.flow.version)

    async def stop(self) -> None:
        # Unsent replies stay in the outbox and go out at the next start.
        tasks = [*self._tasks, *self._later]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.outbox.stop()
        with contextlib.suppress(TelegramError):
            await self.application.shutdown()

    async def register_commands(self) -> None:
        """The command menu in every flow language (and the default language for the rest)."""
        flow = self.engine.flow
        for language in [None, *flow.languages]:
            lang = language or flow.default_language
            commands = [BotCommand(name, self.engine.message(lang, f"cmd_{name}")) for name in COMMANDS]
            await self._at_start(
                f"setMyCommands (the command menu, language {language or 'default'})",
                lambda commands=commands, language=language: self.bot.set_my_commands(commands, language_code=language),
            )

    async def _at_start(self, what: str, call: Callable[[], Awaitable[Any]]) -> Any:
        """A Bot API call at start-up (``what`` names it): a 429 is waited out; any other refusal
        is a StartupError in one line, never a traceback."""
        for _ in range(STARTUP_WAITS):
            try:
                return await call()
            except RetryAfter as err:
                log.warning("Telegram asks to wait %ss before %s", retry_seconds(err), what)
                await asyncio.sleep(retry_seconds(err))
            except InvalidToken:
                raise StartupError("Telegram refused the bot token: check TELEGRAM_BOT_TOKEN") from None
            except BadRequest as err:  # a NetworkError to python-telegram-bot, but an answer
                raise StartupError(f"Telegram refused {what}: {_line(err.message)}") from None
            except NetworkError as err:
                where = self.settings.telegram_base_url or "api.telegram.org"
                raise StartupError(f"cannot reach the Telegram Bot API at {where}: {_line(err.message)}") from None
            except TelegramError as err:
                raise StartupError(f"Telegram refused {what}: {_line(err.message)}") from None
        raise StartupError(f"Telegram kept asking the bot to wait before {what}: try again later")

    # --- for the jobs (``bot.jobs.quiet_intakes``) ------------------------------------------------

    async def remind(self, intake: Intake, quiet_since: datetime) -> None:
        """One reminder, with the current question again, if the intake is still quiet since then."""

        def work(tx: Tx) -> None:
            result = self.runner.remind_in(tx, intake.id, quiet_since)
            tx.on_commit(lambda: self.outbox.push(result.outgoing))

        async with self.locks.hold(intake.chat_id):
            await self.group.run(work, intake.chat_id)

    async def nudge_booking(self, intake_id: int, chat_id: int) -> None:
        """The one reminder to book, if still due (``TurnRunner.nudge_in`` checks, under the chat's lock)."""

        def work(tx: Tx) -> None:
            result = self.runner.nudge_in(tx, intake_id)
            tx.on_commit(lambda: self.outbox.push(result.outgoing))

        async with self.locks.hold(chat_id):
            await self.group.run(work, chat_id)

    def staff_message_queued(self) -> None:
        """Staff stored a message in this process (``serve``): look for it now rather than at the
        outbox's next round. Called from any thread."""
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._deliver_soon)

    def _deliver_soon(self) -> None:
        task = asyncio.get_running_loop().create_task(self.outbox.deliver_due())
        self._nudges.add(task)
        task.add_done_callback(self._nudged)

    def _nudged(self, task: asyncio.Task) -> None:
        self._nudges.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log_failure(log, "looking for staff messages failed (the outbox's round will)", task.exception())

    async def hand_back(self, talk_id: int, intake_id: int, chat_id: int) -> None:
        """Staff handed a talk back: the patient's question, shown again (``TurnRunner.hand_back_in``)."""

        def work(tx: Tx) -> None:
            result = self.runner.hand_back_in(tx, talk_id, intake_id)
            tx.on_commit(lambda: self.outbox.push(result.outgoing))

        async with self.locks.hold(chat_id):
            await self.group.run(work, chat_id)

    def forget_kept(self) -> None:
        """Intakes were changed behind the turns' back (marked abandoned): the copies kept in
        memory are stale. The next turn of each would find out by its write and run again;
        reading them afresh is cheaper."""
        self.runner.recent.clear()

    # --- polling -------------------------------------------------------------------------------

    async def poll(self) -> None:
        """Long polling; an update's offset is confirmed only after its turn is committed."""
        offset: int | None = None
        failures = 0
        while True:
            try:
                updates = await self.bot.get_updates(
                    offset=offset, timeout=POLL_TIMEOUT, allowed_updates=ALLOWED_UPDATES
                )
                failures = 0
            except TimedOut:
                continue
            except RetryAfter as err:  # getUpdates bypasses the rate limiter: wait as Telegram asks
                log.warning("getUpdates: Telegram asks to wait %ss", retry_seconds(err))
                await asyncio.sleep(retry_seconds(err))
                continue
            except Conflict as err:
                log.error("another bot instance or a webhook is using this token: %s", err.message)
                await asyncio.sleep(5)
                continue
            except NetworkError as err:
                failures += 1
                log.warning("getUpdates failed (%s); retrying", err.message)
                await asyncio.sleep(min(30.0, 0.5 * 2**failures))
                continue
            except TelegramError as err:  # refused (the token revoked meanwhile, say): keep asking, slowly
                failures += 1
                log.error("getUpdates refused (%s); retrying", err.message)
                await asyncio.sleep(min(60.0, 0.5 * 2**failures))
                continue
            if updates:
                offset = await self.apply_batch(updates)

    async def apply_batch(self, updates: list[Update]) -> int:
        """Apply a batch, chats concurrently; the offset to confirm (the first failed update's).

        The updates after a failed one come again with it, those of other chats already applied
        among them: they are skipped here (and the store would refuse them as redeliveries).
        """
        by_chat: dict[Any, list[Update]] = {}
        for update in updates:
            if update.update_id in self._applied_early:
                continue
            chat = update.effective_chat
            by_chat.setdefault(chat.id if chat else ("update", update.update_id), []).append(update)
        failed: list[int] = []

        async def run_chat(chat_updates: list[Update]) -> None:
            for update in chat_updates:
                if not await self.process(update):
                    failed.append(update.update_id)
                    return  # keep the chat's order: the rest come again with the failed one
                self._applied_early.add(update.update_id)

        await asyncio.gather(*(run_chat(u) for u in by_chat.values()))
        offset = min(failed) if failed else updates[-1].update_id + 1
        self._applied_early = {applied for applied in self._applied_early if applied >= offset}
        if failed:
            await asyncio.sleep(1)
        return offset

    async def set_webhook(self) -> bool:
        return await self.bot.set_webhook(
            self.settings.webhook_url,
            secret_token=self.settings.webhook_secret,
            allowed_updates=ALLOWED_UPDATES,
        )


def _line(text: str) -> str:
    return (text.splitlines() or [""])[0]
