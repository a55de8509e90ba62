"""End to end: the real bot (a separate process) against the fake Bot API, when things go wrong.

Poison input, a failing turn, one chat's flood limit, Telegram refusing a start-up call, and the
log at DEBUG: each must leave the bot serving everyone else, answering every button press, and
logging neither a traceback nor anything a patient typed.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.bot_process import BotProcess
from support.default_flow import ROUTINE_TO_SUMMARY, begin
from support.fake_telegram import FakeTelegram
from support.patients import TelegramPatient

pytestmark = pytest.mark.e2e  # every test here starts the bot as a process

STALE = "That button belongs to an earlier step."
AGE_REASK = "Please tap one of the three age groups."
APOLOGY = "Sorry, something went wrong with your last message"


def webhook_env(port: int) -> dict[str, str]:
    return {
        "WEBHOOK_URL": f"http://127.0.0.1:{port}/telegram",
        "WEBHOOK_SECRET": "robust-secret",
        "WEBHOOK_LISTEN": "127.0.0.1",
        "WEBHOOK_PORT": str(port),
    }


def start_bot(fake: FakeTelegram, database_url: str, mode: str, port: int, **env: str) -> BotProcess:
    if mode == "webhook":
        env = {**webhook_env(port), **env}
    process = BotProcess(fake, database_url, **env).start()
    if mode == "webhook":
        fake.wait_for(lambda: (fake.webhook() or {}).get("url") == env["WEBHOOK_URL"])
    return process


def answered_toast(fake: FakeTelegram) -> str | None:
    fake.wait_for(lambda: not fake.unanswered_callback_queries())
    return fake.calls("answerCallbackQuery")[-1]["params"].get("text")


# --- 1. poison input ---------------------------------------------------------------------------


def test_a_superscript_digit_and_forged_buttons_are_answered_and_everyone_goes_on(fake, bot) -> None:
    patient = TelegramPatient(fake, 201)
    begin(patient)
    # "²".isdigit() is True, yet int("²") raises: typed at a choice question it is just no choice.
    patient.type("²", expect=AGE_REASK)
    question = patient.last()
    assert "How old are you?" in question["text"]
    for forged in ("².0.c", "1.².c", "١.0.c", "x" * 80):
        fake.press(201, question["message_id"], forged)
        assert answered_toast(fake) == STALE
        patient.expect("How old are you?")  # the current question again, with live buttons
    patient.tap("18 to 64", expect="botulinum toxin injections")

    other = TelegramPatient(fake, 202)
    begin(other)
    other.tap("Under 18", expect="parent")
    assert fake.unanswered_callback_queries() == []
    # (the fixture asserts at the end that the bot's output has no traceback)


# --- 1. a turn that keeps failing --------------------------------------------------------------


@pytest.fixture(params=["polling", "webhook"])
def postgres_bot(
    request: pytest.FixtureRequest, fake: FakeTelegram, postgres_url: str, unused_port: int
) -> Iterator[BotProcess]:
    process = start_bot(fake, postgres_url, request.param, unused_port)
    yield process
    process.stop()


def test_an_update_whose_turn_keeps_failing_gets_an_apology_and_the_bot_moves_on(fake, postgres_bot) -> None:
    """A first name longer than its column (Telegram sends at most 64 characters; only a forged
    update carries 300) makes PostgreSQL refuse the new intake the same way every time the turn
    runs, standing for any bug one update triggers. It must not stall that chat (polling) or every
    chat (a webhook delivers in order): after a few runs the patient hears so and the update is
    confirmed."""
    forged = TelegramPatient(fake, 203, first_name="Zebra" + "z" * 295)
    forged.command("/start", expect=APOLOGY)
    other = TelegramPatient(fake, 204)
    begin(other)
    other.tap("Under 18", expect="parent")
    assert postgres_bot.stop() == 0
    output = postgres_bot.read()
    assert "Traceback" not in output, output
    assert "Zebra" not in output, output
    assert "StringDataRightTruncation" in output  # the exception's type (a DataError) is logged, and only that


def test_a_nul_byte_typed_on_postgresql_is_kept_without_it(fake, postgres_bot, postgres_url) -> None:
    """PostgreSQL refuses a NUL in text: typed text is cleaned at the edge, so the answer is kept
    (without the NUL) and no apology is needed."""
    from bot.store import Store

    patient = TelegramPatient(fake, 205)
    begin(patient)
    walk = [("tap", "18 to 64", "botulinum toxin injections"), ("tap", "No, never", "A quick safety question")]
    patient.walk(walk)
    patient.tap("No", expect="What would you like to improve?")
    patient.type("pores\x00, oily", expect="react to the sun")
    store = Store(postgres_url)
    with store.transaction() as tx:
        intake = tx.current_intake(205)
        assert len(intake.state["answers"]["skin_concerns"]) == 2  # both choices, read from the cleaned text
        typed = [line.text for line in tx.transcript(intake.id) if line.direction == "in"]
    store.close()
    assert "pores, oily" in typed and not any("\x00" in t for t in typed)
    assert APOLOGY not in [m.get("text") for m in fake.messages(205)]


def test_a_postgresql_outage_answers_the_press_tells_the_patient_once_to_wait_and_loses_nothing(
    fake, postgres_bot, postgres_url
) -> None:
    """The database refuses every connection for a while (a restart, a failover). The patient's
    press is answered at once (no spinning button), they hear once that their message is safe,
    and when the database is back their answer is applied: nothing lost, nothing twice."""
    import psycopg
    from support.databases import POSTGRES_ADMIN

    patient = TelegramPatient(fake, 207)
    begin(patient)
    name = postgres_url.rsplit("/", 1)[1]
    with psycopg.connect(POSTGRES_ADMIN, autocommit=True) as admin:
        admin.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS false')
        try:
            admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,))
            patient.tap("18 to 64")  # waits until the press is answered: while the database is down
            patient.expect("We have your message, it is safe.")
            quiet = patient.newest_id()
            time.sleep(2)  # Telegram keeps sending the update: the notice is not repeated
            assert patient.newest_id() == quiet
        finally:
            admin.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS true')
    patient.expect("botulinum toxin injections", timeout=30)
    texts = [m["text"] for m in fake.messages(207)]
    assert sum("it is safe" in t for t in texts) == 1
    assert sum("botulinum toxin injections" in t for t in texts) == 1  # the answer applied once
    patient.tap("No, never", expect="A quick safety question")  # and on as usual
    output = postgres_bot.read()
    assert "Traceback" not in output, output


# --- 2. one chat's flood limit -----------------------------------------------------------------


def test_one_chats_429_holds_back_only_that_chat(fake, bot) -> None:
    held, other = TelegramPatient(fake, 211), TelegramPatient(fake, 212)
    held.command("/start", expect="automated assistant")
    other.command("/start", expect="automated assistant")
    # Telegram's wait is long beside the other chat's replies, so that a loaded machine's slowness
    # cannot pass for (or hide) waiting for the held chat.
    retry_after, times = 6, 1
    fake.fail_next("sendMessage", times=times, retry_after=retry_after, chat_id=211)
    asked = time.monotonic()
    held.command("/help")  # two replies: the help text, then the current step again
    fake.wait_for(lambda: refused(fake, 211))

    for label, reply in (("Continue", "Before we start"), ("I agree", "How old are you?")):
        tapped = time.monotonic()
        other.tap(label, expect=reply)
        assert time.monotonic() - tapped < retry_after / 2, f"{reply!r} waited for the other chat's 429"
    other.type("18 to 64", expect="botulinum toxin injections")
    assert time.monotonic() - asked < retry_after

    held.expect("/myanswers shows what is stored", timeout=30)
    assert time.monotonic() - asked >= retry_after * times  # Telegram's wait was kept
    held.expect("automated assistant")
    texts = [m["text"] for m in fake.messages(211)]
    assert len(texts) == 3 and texts[1].startswith("I am the automated assistant") and "Continue" in held.buttons()
    assert len(refused(fake, 211)) == times


def refused(fake: FakeTelegram, chat_id: int) -> list[dict]:
    """The sendMessage calls for ``chat_id`` that were answered 429."""
    return [c for c in fake.calls("sendMessage") if c["params"].get("chat_id") == chat_id and c["status"] == 429]


def test_a_429_on_get_updates_is_waited_out(fake, db_path) -> None:
    bot = BotProcess(fake, f"sqlite:///{db_path}").start()
    try:
        patient = TelegramPatient(fake, 213)
        fake.fail_next("getUpdates", retry_after=2)  # the poll after the one now waiting
        patient.command("/start", expect="automated assistant")
        patient.tap("Continue", expect="Before we start")
        polls = fake.calls("getUpdates")
        refused = next(i for i, c in enumerate(polls) if c["status"] == 429)
        assert polls[refused + 1]["at"] - polls[refused]["at"] >= 2
    finally:
        assert bot.stop() == 0
    assert "Traceback" not in bot.read(), bot.read()


# --- 3. Telegram refuses a start-up call -------------------------------------------------------


@pytest.mark.parametrize("command", ["run", "serve"])
@pytest.mark.parametrize(
    ("method", "description", "line"),
    [
        (
            "setWebhook",
            "Bad Request: bad webhook: Failed to resolve host: Name or service not known",
            "Telegram refused setWebhook (WEBHOOK_URL=http://127.0.0.1:",
        ),
        (
            "setMyCommands",
            "Bad Request: BOT_COMMAND_DESCRIPTION_INVALID",
            "Telegram refused setMyCommands (the command menu, language default): ",
        ),
    ],
)
def test_a_refused_start_up_call_stops_with_one_line(
    fake, db_path: Path, unused_port: int, command: str, method: str, description: str, line: str
) -> None:
    fake.fail_next(method, error_code=400, description=description)
    env = {**webhook_env(unused_port), "WEB_LISTEN": "127.0.0.1", "WEB_PORT": str(unused_port)}
    process = BotProcess(fake, f"sqlite:///{db_path}", command=command, LOG_LEVEL="WARNING", SECRET_KEY="k" * 32, **env)
    if method == "setMyCommands":
        del process.env["WEBHOOK_URL"]
    code = process.start(wait=False).wait_exit(timeout=30)
    output = process.read().strip()
    assert code != 0
    assert "Traceback" not in output, output
    assert len(output.splitlines()) == 1 and output.startswith(line), output
    assert description.split(": ", 1)[1].casefold() in output.casefold()  # Telegram's reason, re-cased by PTB


# --- 4. nothing a patient typed in the log, even at DEBUG --------------------------------------


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_at_debug_the_log_holds_nothing_a_patient_typed(fake, db_path, log_format: str) -> None:
    secret = "Zebra-42-secret"
    bot = BotProcess(fake, f"sqlite:///{db_path}", LOG_LEVEL="DEBUG", LOG_FORMAT=log_format).start()
    try:
        patient = TelegramPatient(fake, 214)
        patient.command(f"/start {secret}", expect="automated assistant")
        patient.tap("Continue", expect="Before we start")
        patient.tap("I agree", expect="How old are you?")
        patient.type(secret, expect=AGE_REASK)  # typed at a choice question
        patient.walk(ROUTINE_TO_SUMMARY[:19])
        patient.type(secret, expect="worrying about how you look")  # a free-text answer, echoed back
        assert any(secret in (m["text"] or "") for m in fake.messages(214))
    finally:
        bot.stop()
    output = bot.read()
    assert secret not in output
    if log_format == "text":
        assert " DEBUG " in output  # the level did apply
        return
    lines = [json.loads(line) for line in output.splitlines()]  # one object a line, every line
    assert any(line["level"] == "DEBUG" for line in lines)
    assert secret not in json.dumps(lines, ensure_ascii=True)  # nor escaped in a way the raw check misses
