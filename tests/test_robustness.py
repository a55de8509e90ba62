"""In process: poison input, failing turns and sends, bad settings, and malformed webhook requests.

The channel tests run the real ``TelegramChannel`` (python-telegram-bot over HTTP to the fake Bot
API, a real SQLite file); only the turn itself is made to fail, as a bug or a database outage would.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Iterator

import pytest
import sqlalchemy.exc
from starlette.applications import Starlette
from starlette.testclient import TestClient
from support.channels import channel_with_fake
from support.fake_telegram import FakeTelegram
from support.turns import apply_async
from telegram import Update
from telegram.error import RetryAfter

from bot.channels.telegram import render
from bot.channels.telegram.channel import TelegramChannel
from bot.channels.telegram.events import Chat, Event
from bot.channels.telegram.failed_turns import MAX_TURN_FAILURES
from bot.channels.telegram.outbox import ChatPacer, Outbox
from bot.channels.telegram.runner import TurnRunner
from bot.channels.telegram.update_webhook import MAX_WEBHOOK_BODY, webhook_routes
from bot.config import Settings, SettingsError, load_settings
from bot.engine import Engine
from bot.flow import model
from bot.store import Store, Tx
from bot.store.group import GroupCommit

pytestmark = pytest.mark.filterwarnings("ignore:.*retry_after.*:telegram.warnings.PTBDeprecationWarning")

CHAT = Chat(42, 42, "Ada", None, "ada", "en")
SECRET = "Zebra-42-secret"
WEBHOOK_SECRET = "hook-secret"

APOLOGY = (
    "Sorry, something went wrong with your last message and it was not saved. Please send it again, "
    "or send /start to see the current question."
)


@pytest.fixture()
def store(sqlite_url: str) -> Iterator[Store]:
    store = Store(sqlite_url)
    yield store
    store.close()


# --- poison input: "²" is a digit to str.isdigit, and int("²") raises ----------------------------


def test_callback_data_that_int_would_choke_on_is_a_stale_press() -> None:
    for junk in ("².0.c", "1.².c", "١.0.c", "1.0x.c", "-1.0.c", " 1.0.c", "1" * 70 + ".0.c", "x" * 200):
        assert render.parse_callback(junk) is None, junk


def test_superscript_and_other_digits_typed_at_a_choice_or_the_summary(skin: Engine) -> None:
    conv = skin.start("en")
    skin.choose(conv, "continue")
    skin.choose(conv, "agree")
    assert skin.view(conv).step_id == "age_band"
    turn = skin.reply(conv, "²")
    assert not turn.accepted and turn.error == "Please tap one of the three age groups."
    assert not skin.reply(conv, "9" * 5000).accepted  # far beyond int()'s digit limit
    assert skin.reply(conv, "٢").accepted  # Arabic-Indic two: a real decimal digit, so choice 2
    assert conv.answers["age_band"] == "from_18_to_64"

    skin.machine.set_state(next(s.id for s in skin.flow.steps if isinstance(s, model.SummaryStep)), model=conv)
    for typed in ("²", "³", "9" * 5000):
        assert not skin.reply(conv, typed).accepted


# --- a turn that raises: given up on after a few runs, unless the database is the trouble ------


@pytest.fixture()
async def channel(skin: Engine, store: Store) -> Iterator[tuple[TelegramChannel, FakeTelegram]]:
    async with channel_with_fake(skin, store) as pair:
        yield pair


def fail_turns(channel: TelegramChannel, monkeypatch: pytest.MonkeyPatch, error: Exception) -> None:
    def failing(tx: Tx, update_id: int, chat: Chat, event: Event) -> None:
        raise error

    monkeypatch.setattr(channel.runner, "apply_in", failing)


async def next_update(channel: TelegramChannel) -> Update:
    (update,) = await channel.bot.get_updates(timeout=0)
    await channel.bot.get_updates(offset=update.update_id + 1, timeout=0)  # confirmed: next time, the next one
    return update


async def test_a_turn_that_keeps_raising_is_apologised_for_and_confirmed(channel, monkeypatch, caplog) -> None:
    channel, fake = channel
    caplog.set_level(logging.DEBUG, logger="bot")
    # A bug whose message quotes the patient, as int() quotes its input.
    fail_turns(channel, monkeypatch, ValueError(f"invalid literal for int() with base 10: {SECRET!r}"))
    fake.send_text(42, SECRET)
    update = await next_update(channel)
    runs = [await channel.process(update) for _ in range(MAX_TURN_FAILURES)]
    assert runs == [False] * (MAX_TURN_FAILURES - 1) + [True]  # confirmed on the last run
    (apology,) = fake.messages(42)
    assert apology["text"] == APOLOGY

    fake.press(42, apology["message_id"], "1.0.c")  # a press whose turn fails the same way
    press = await next_update(channel)
    for _ in range(MAX_TURN_FAILURES):
        await channel.process(press)
    assert fake.unanswered_callback_queries() == []
    assert [m["text"] for m in fake.messages(42)] == [APOLOGY] * 2

    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert SECRET not in logged
    assert "ValueError" in logged
    assert not any(r.exc_info for r in caplog.records)  # no traceback with the exception's text
    assert not channel.failed_turns  # nothing kept about updates given up on


async def test_database_trouble_never_gives_an_update_up(channel, monkeypatch) -> None:
    channel, fake = channel
    outage = sqlalchemy.exc.OperationalError("SELECT 1", {}, sqlite3.OperationalError("database is locked"))
    fail_turns(channel, monkeypatch, outage)
    fake.send_text(42, "18 to 64")
    update = await next_update(channel)
    assert [await channel.process(update) for _ in range(MAX_TURN_FAILURES * 2)] == [False] * MAX_TURN_FAILURES * 2
    assert fake.messages(42) == []  # it comes again once the database answers; no apology

    monkeypatch.undo()
    assert await channel.process(update)  # the database is back: applied as usual
    await channel.drain()
    assert "automated assistant" in fake.messages(42)[0]["text"]  # a first message begins the intake


# --- redeliveries: the same bot's update within Telegram's window, never just a number seen before --


async def test_a_new_bot_token_whose_update_numbers_start_again_is_answered(skin: Engine, store: Store) -> None:
    """A production bot, or a re-issued token, numbers its updates afresh: the first updates carry
    numbers used before. They were dropped in silence; they are new updates."""
    other_token = "987654321:AAAnotherBotTokenForTests_abcdefghij"
    reissued = FakeTelegram.TOKEN.split(":")[0] + ":AAReissuedTokenOfTheSameBot_abcdefgh"
    rounds = (
        (FakeTelegram.TOKEN, 42, "automated assistant"),
        (other_token, 42, "Welcome back"),  # another bot: its own numbering
        (reissued, 43, "automated assistant"),  # the same bot, numbering afresh: another message
    )
    for token, chat, answer in rounds:
        with FakeTelegram(token) as fake:
            settings = Settings(telegram_token=token, telegram_base_url=fake.base_url, chat_rate=1000)
            channel = TelegramChannel(settings, skin, store)
            await channel.application.initialize()
            try:
                fake.send_text(chat, "/start")
                update = await next_update(channel)
                assert update.update_id == 100_000_001  # the same number for both bots
                assert await channel.process(update)
                await channel.drain()
                sent = fake.messages(chat)
                assert answer in sent[0]["text"]  # each bot answers
                assert await channel.process(update)  # Telegram sends it again: applied once
                await channel.drain()
                assert fake.messages(chat) == sent
            finally:
                await channel.application.shutdown()


async def test_a_failed_update_does_not_run_the_rest_of_its_batch_again(channel, monkeypatch) -> None:
    """getUpdates gives the failed update again with every later one: /help before any intake
    (a reply nobody stores) went out once per run, and every applied turn ran again."""
    channel, fake = channel
    real = channel.runner.apply_in
    runs: list[int] = []
    outage = sqlalchemy.exc.OperationalError("SELECT 1", {}, sqlite3.OperationalError("database is locked"))

    down = [True]

    def apply_in(tx: Tx, update_id: int, chat: Chat, event: Event):
        if chat.id == 7 and down:
            raise outage  # chat 7's turn meets the database's trouble
        runs.append(chat.id)
        return real(tx, update_id, chat, event)

    monkeypatch.setattr(channel.runner, "apply_in", apply_in)
    fake.send_text(7, "hello")
    fake.send_text(42, "/help")
    fake.send_text(43, "/privacy")
    batch = await channel.bot.get_updates(timeout=0)
    offset = await channel.apply_batch(batch)
    assert offset == batch[0].update_id  # chat 7's update comes again, with the two after it
    again = await channel.bot.get_updates(offset=offset, timeout=0)
    assert [u.update_id for u in again] == [u.update_id for u in batch]
    down.clear()
    assert await channel.apply_batch(again) == batch[-1].update_id + 1
    await channel.drain()
    assert sorted(runs) == [7, 42, 43]  # the others' turns ran once
    assert len(fake.messages(42)) == len(fake.messages(43)) == 1  # their replies went out once
    assert channel._applied_early == set()


PLEASE_WAIT = {
    "en": "We have your message, it is safe.",
    "de": "Ihre Nachricht ist angekommen und sicher.",
}


@pytest.mark.parametrize("language", ["en", "de"])
async def test_during_a_database_outage_a_press_stops_spinning_and_the_person_is_told_once_to_wait(
    channel, monkeypatch, language: str
) -> None:
    """The patient heard nothing while the database was down, and a tapped button spun until it
    was back (up to 20 s seen). Nothing of this is stored: the database is what is down."""
    import bot.channels.telegram.outage as outage_module

    channel, fake = channel
    fake.send_text(42, "/start", language_code=language)
    assert await channel.process(await next_update(channel))
    await channel.drain()
    welcome = fake.messages(42)[-1]
    button = welcome["reply_markup"]["inline_keyboard"][0][0]["callback_data"]

    monkeypatch.setattr(outage_module, "WAIT_NOTICE_AFTER", 0.3)
    outage = sqlalchemy.exc.OperationalError("SELECT 1", {}, ConnectionRefusedError("connection refused"))
    fail_turns(channel, monkeypatch, outage)
    fake.press(42, welcome["message_id"], button, language_code=language)
    press = await next_update(channel)
    assert not await channel.process(press)  # not applied: it comes again
    assert fake.unanswered_callback_queries() == []  # at once, not when the database is back
    assert len(fake.messages(42)) == 1  # a blip passes unnoticed
    await asyncio.sleep(0.35)
    for _ in range(3):  # Telegram sends it again, and again
        assert not await channel.process(press)
    (wait,) = [m for m in fake.messages(42) if m is not welcome and m["message_id"] != welcome["message_id"]]
    assert wait["text"].startswith(PLEASE_WAIT[language])  # once, in their language
    assert len(fake.calls("answerCallbackQuery")) == 1  # the same query is not answered twice

    monkeypatch.undo()  # the database is back: the press is applied as usual
    assert await channel.process(press)
    await channel.drain()
    assert len(fake.calls("answerCallbackQuery")) == 1
    assert len(fake.messages(42)) == 3  # the next step came
    assert len(channel.outages) == 0  # out of trouble: a later outage gets its own notice
    with channel.store.transaction(read_only=True) as tx:
        transcript = [line.text for line in tx.transcript(tx.current_intake(42).id)]
    assert not any(PLEASE_WAIT[language] in text for text in transcript)  # not stored


# --- the outbox: an unexpected error holds the chat for the retry round ------------------------


class FlakyBot:
    """Sends like Telegram, except that the first send meets a 429."""

    def __init__(self) -> None:
        self.sent: list[str] = []
        self.calls = 0

    async def do_api_request(self, endpoint: str, api_kwargs: dict):
        assert endpoint == "sendMessage"
        self.calls += 1
        if self.calls == 1:
            raise RetryAfter(30)
        self.sent.append(api_kwargs["text"])
        return {"message_id": len(self.sent)}


async def test_a_database_error_while_recording_a_failed_send_holds_the_chat(
    all_types: Engine, store: Store, monkeypatch, caplog
) -> None:
    rows = (await apply_async(TurnRunner(all_types, store), 1, CHAT, Event("command", command="start"))).outgoing
    assert rows
    bot = FlakyBot()
    outbox = Outbox(store, bot, ChatPacer(1000), GroupCommit(store))

    def locked(self, *args, **kwargs) -> None:
        raise sqlite3.OperationalError("database is locked")

    monkeypatch.setattr(Tx, "mark_failed", locked)  # the 429 cannot even be recorded
    outbox.push(rows)
    await outbox.idle()  # the worker ended without raising
    assert bot.sent == []
    assert "OperationalError" in caplog.text and "Traceback" not in caplog.text

    monkeypatch.undo()
    assert await outbox.deliver_due() == 1  # the retry round finds the reply in the store
    await outbox.idle()
    assert bot.sent == [rows[0].payload["text"]]
    outbox.group.commit_now()
    with store.transaction() as tx:
        assert tx.pending(CHAT.id) == []


class CountingBot:
    """Sends like Telegram and counts what it sent."""

    def __init__(self) -> None:
        self.sent: list[str] = []

    async def do_api_request(self, endpoint: str, api_kwargs: dict):
        self.sent.append(api_kwargs["text"])
        return {"message_id": len(self.sent)}


async def test_a_sent_mark_whose_write_fails_is_written_later_and_the_reply_never_goes_out_again(
    all_types: Engine, store: Store, monkeypatch
) -> None:
    rows = (await apply_async(TurnRunner(all_types, store), 1, CHAT, Event("command", command="start"))).outgoing
    bot = CountingBot()
    group = GroupCommit(store)
    outbox = Outbox(store, bot, ChatPacer(1000), group)
    real = Tx.mark_all_sent
    refused: list[int] = []

    def killed(self, sent) -> None:  # the connection is killed under the marks' UPDATE, once
        if not refused:
            refused.append(len(sent))
            raise sqlalchemy.exc.OperationalError("UPDATE messages", {}, Exception("server closed the connection"))
        real(self, sent)

    monkeypatch.setattr(Tx, "mark_all_sent", killed)
    outbox.push(rows)
    await outbox.idle()
    group.commit_now()  # the marks' write fails: they are kept, not dropped
    assert refused == [len(rows)]
    with store.transaction(read_only=True) as tx:
        assert len(tx.pending(CHAT.id)) == len(rows)
    assert await outbox.deliver_due() == 0  # known as sent: this process does not send them again
    group.commit_now()  # the next commit carries them
    with store.transaction(read_only=True) as tx:
        assert tx.pending(CHAT.id) == []  # a restart would send nothing again
    assert len(bot.sent) == len(rows)


class SlowBot:
    """Telegram taking its time to answer: each send waits until ``answer`` is set."""

    def __init__(self) -> None:
        self.sent: list[str] = []
        self.answer = asyncio.Event()
        self.begun = asyncio.Event()

    async def do_api_request(self, endpoint: str, api_kwargs: dict):
        assert endpoint == "sendMessage"
        self.begun.set()
        await self.answer.wait()
        self.sent.append(api_kwargs["text"])
        return {"message_id": len(self.sent)}


async def test_a_clean_stop_lets_the_reply_on_its_way_finish_and_records_it(all_types: Engine, store: Store) -> None:
    """Otherwise the reply counts as unsent and goes out a second time at the next start."""
    turns = TurnRunner(all_types, store)
    first = (await apply_async(turns, 1, CHAT, Event("command", command="start"))).outgoing
    second = (await apply_async(turns, 2, CHAT, Event("command", command="help"))).outgoing
    bot = SlowBot()
    outbox = Outbox(store, bot, ChatPacer(1000), GroupCommit(store))
    outbox.push(first + second)
    await bot.begun.wait()  # the first reply is on its way
    stopping = asyncio.create_task(outbox.stop())
    await asyncio.sleep(0.05)
    bot.answer.set()
    await stopping
    assert bot.sent == [first[0].payload["text"]]  # nothing new began once stopping
    with store.transaction() as tx:
        assert [row.id for row in tx.pending(CHAT.id)] == [row.id for row in second]  # for the next start


async def test_a_stop_gives_up_on_a_reply_telegram_never_answers(all_types: Engine, store: Store) -> None:
    rows = (await apply_async(TurnRunner(all_types, store), 1, CHAT, Event("command", command="start"))).outgoing
    bot = SlowBot()
    outbox = Outbox(store, bot, ChatPacer(1000), GroupCommit(store))
    outbox.push(rows)
    await bot.begun.wait()
    await outbox.stop(grace=0.1)
    with store.transaction() as tx:
        assert [row.id for row in tx.pending(CHAT.id)] == [row.id for row in rows]  # sent again next time


# --- settings ------------------------------------------------------------------------------------


@pytest.fixture()
def env(monkeypatch: pytest.MonkeyPatch):
    for name in ("WEBHOOK_URL", "WEBHOOK_SECRET", "TELEGRAM_BASE_URL", "TELEGRAM_CHAT_RATE", "LOG_LEVEL"):
        monkeypatch.delenv(name, raising=False)

    def settings(**values: str) -> Settings:
        for name, value in values.items():
            monkeypatch.setenv(name, value)
        return load_settings(env_file=None)

    return settings


@pytest.mark.parametrize("rate", ["0", "-1", "nan", "inf", "fast"])
def test_a_chat_rate_must_be_a_positive_number(env, rate: str) -> None:
    with pytest.raises(SettingsError, match=r"TELEGRAM_CHAT_RATE=.* above 0"):
        env(TELEGRAM_CHAT_RATE=rate)


def test_a_fractional_chat_rate_is_fine(env) -> None:
    assert env(TELEGRAM_CHAT_RATE="0.5").chat_rate == 0.5


def test_the_webhook_must_be_https_except_for_a_self_hosted_bot_api(env) -> None:
    with pytest.raises(SettingsError, match="must start with https://"):
        env(WEBHOOK_URL="http://intake.clinic.example/telegram", WEBHOOK_SECRET="s")
    assert env(TELEGRAM_BASE_URL="http://127.0.0.1:8081/bot").webhook_url == "http://intake.clinic.example/telegram"
    with pytest.raises(SettingsError, match="must start with https://"):
        env(WEBHOOK_URL="ftp://intake.clinic.example/telegram")


def test_an_unknown_log_level_is_refused_in_one_line(env) -> None:
    with pytest.raises(SettingsError, match="LOG_LEVEL='chatty'"):
        env(LOG_LEVEL="chatty")


def test_staff_session_lifetimes_default_to_30_minutes_idle_and_12_hours_and_refuse_nonsense(
    env, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("STAFF_SESSION_IDLE_MINUTES", "STAFF_SESSION_MAX_HOURS", "FORWARDED_ALLOW_IPS"):
        monkeypatch.delenv(name, raising=False)
    settings = env()
    assert (settings.staff_session_idle_minutes, settings.staff_session_max_hours) == (30, 12)
    assert settings.forwarded_allow_ips == "127.0.0.1,::1"
    assert env(STAFF_SESSION_IDLE_MINUTES="15", STAFF_SESSION_MAX_HOURS="8").staff_session_max_hours == 8
    for name, value in (("STAFF_SESSION_IDLE_MINUTES", "0"), ("STAFF_SESSION_MAX_HOURS", "12h")):
        with pytest.raises(SettingsError, match=f"{name}='{value}' must be a whole number"):
            env(**{name: value})
        monkeypatch.delenv(name)


# --- the webhook endpoint ------------------------------------------------------------------------


@pytest.fixture()
def webhook(skin: Engine, store: Store) -> TestClient:
    settings = Settings(
        telegram_token=FakeTelegram.TOKEN,
        webhook_url="https://intake.clinic.example/telegram",
        webhook_secret=WEBHOOK_SECRET,
    )
    channel = TelegramChannel(settings, skin, store)
    return TestClient(Starlette(routes=webhook_routes(channel)))


def post(client: TestClient, content, **headers: str | bytes) -> int:
    headers = {"X-Telegram-Bot-Api-Secret-Token": WEBHOOK_SECRET, **headers}
    return client.post("/telegram", content=content, headers=headers).status_code


@pytest.mark.parametrize("length", ["abc", "1e3", "-1", b"\xb2", "99999999999999999999"])
def test_a_malformed_content_length_is_a_bad_request(webhook: TestClient, length: str | bytes) -> None:
    assert post(webhook, b"{}", **{"Content-Length": length}) == 400


def test_a_chunked_body_is_held_to_the_limit_too(webhook: TestClient) -> None:
    chunk = b" " * 65536

    def body() -> Iterator[bytes]:
        yield from [chunk] * (MAX_WEBHOOK_BODY // len(chunk) + 1)

    assert post(webhook, body()) == 413
    assert post(webhook, iter([b"not ", b"json"])) == 400  # a small chunked body is read and judged
    assert post(webhook, b"x" * (MAX_WEBHOOK_BODY + 1)) == 413


class AlwaysWait:
    """Telegram answering every send with a 429 (retry at once)."""

    async def do_api_request(self, endpoint: str, api_kwargs: dict):
        raise RetryAfter(0)


async def test_waits_telegram_asks_for_never_use_up_a_replys_attempts(all_types: Engine, store: Store) -> None:
    from bot.channels.telegram.outbox import MAX_ATTEMPTS

    rows = (await apply_async(TurnRunner(all_types, store), 1, CHAT, Event("command", command="start"))).outgoing
    outbox = Outbox(store, AlwaysWait(), ChatPacer(1000), GroupCommit(store))
    outbox.push(rows)
    await outbox.idle()
    for _ in range(MAX_ATTEMPTS + 2):
        assert await outbox.deliver_due() == 1  # still due: never given up for a 429
        await outbox.idle()
    with store.transaction() as tx:
        (pending,) = tx.pending(CHAT.id)
    assert pending.attempts == 0 and pending.id == rows[0].id


def test_the_databases_trouble_is_told_from_an_updates_fault() -> None:
    import psycopg

    from bot.channels.telegram.failed_turns import is_store_trouble
    from bot.store import Stale
    from bot.store.group import CommitFailed

    trouble = [
        psycopg.errors.ReadOnlySqlTransaction("read-only"),  # a failover
        psycopg.errors.IdleInTransactionSessionTimeout("timeout"),
        psycopg.OperationalError("server closed the connection"),
        sqlite3.OperationalError("database is locked"),
        sqlalchemy.exc.PendingRollbackError("rolled back"),
        CommitFailed("IOError"),
        Stale(1),
    ]
    faults = [
        psycopg.errors.CharacterNotInRepertoire("a NUL in a text"),  # a DataError: this value
        psycopg.errors.UniqueViolation("duplicate"),
        sqlite3.IntegrityError("constraint"),
        sqlalchemy.exc.DataError("INSERT", {}, psycopg.DataError("bad value")),
        ValueError("invalid literal for int()"),
        KeyError("a bug"),
    ]
    assert [is_store_trouble(err) for err in trouble] == [True] * len(trouble)
    assert [is_store_trouble(err) for err in faults] == [False] * len(faults)


def test_a_failing_callback_after_a_commit_neither_undoes_it_nor_stops_the_others(store: Store, caplog) -> None:
    ran: list[str] = []

    def broken() -> None:
        raise RuntimeError("Zebra-42-secret")

    with store.transaction() as tx:
        tx.on_commit(broken)
        tx.on_commit(lambda: ran.append("after"))
    assert ran == ["after"]
    assert "RuntimeError" in caplog.text and SECRET not in caplog.text
