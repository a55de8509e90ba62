"""Operations: /healthz, /readyz, /metrics and the JSON log (issue 15, section 4).

In process, the real ``TelegramChannel`` (python-telegram-bot over HTTP to the fake Bot API, a
real SQLite file, then a real PostgreSQL) applies real updates, and /metrics is scraped from the real staff app: the
counters move by what happened and the text holds no chat id, name or answer. End to end, the
real processes (``serve``, ``run`` with a webhook, ``run`` polling with OPS_PORT) answer the probes
and log one JSON object a line.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import sys
from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest
import sqlalchemy as sa
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from support.bot_process import BotProcess, free_port
from support.channels import channel_with_fake
from support.fake_telegram import FakeTelegram
from support.patients import TelegramPatient
from telegram import Update

from bot import logs, metrics
from bot.channels.telegram.channel import TelegramChannel
from bot.config import Settings, SettingsError, load_settings
from bot.engine import Engine
from bot.jobs.completion_webhook import CompletionWebhook, WebhookSettings
from bot.jobs.quiet_intakes import QuietIntakes
from bot.operations import TELEGRAM_TTL, Operations, Readiness
from bot.runtime import Parts, Runtime
from bot.staff.web import create_app
from bot.store import Intake, Store, utcnow
from bot.store.schema import messages

pytestmark = pytest.mark.filterwarnings("ignore:.*retry_after.*:telegram.warnings.PTBDeprecationWarning")

TOKEN = "metrics-token-of-some-length"
CHAT_ID = 73_519_246
FIRST_NAME = "Quenoviel"
SECRET = "Zebra-42-secret"


@pytest.fixture()
async def channel(skin: Engine, store: Store) -> AsyncIterator[tuple[TelegramChannel, FakeTelegram]]:
    async with channel_with_fake(skin, store) as pair:
        yield pair


def client(app) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://staff")


def staff_app(skin: Engine, store: Store, readiness: Readiness, token: str | None = TOKEN):
    """The staff web app with the operations routes, as ``serve`` builds it."""
    return create_app(skin, store, "secret", extra_routes=Operations(readiness, token).routes())


async def next_update(channel: TelegramChannel) -> Update:
    (update,) = await channel.bot.get_updates(timeout=0)
    await channel.bot.get_updates(offset=update.update_id + 1, timeout=0)
    return update


async def deliver(channel: TelegramChannel, update_id: int) -> Update:
    update = await next_update(channel)
    assert update.update_id == update_id
    assert await channel.process(update)
    await channel.drain()
    return update


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a scrape by (name, labels)."""
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def turns(found: dict, result: str) -> float:
    return found[("intake_turns_total", (("result", result),))]


async def scrape(http: httpx.AsyncClient) -> str:
    response = await http.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return response.text


# --- /metrics after real turns -----------------------------------------------------------------


async def test_metrics_count_real_turns_and_carry_no_chat_id_name_or_answer(
    channel, skin: Engine, store: Store, monkeypatch
) -> None:
    channel, fake = channel
    http = client(staff_app(skin, store, Readiness(store, channel.bot)))
    before = samples(await scrape(http))

    user = {"first_name": FIRST_NAME, "username": "quen_73", "language_code": "en"}
    await deliver(channel, fake.send_command(CHAT_ID, "/start", **user))
    await deliver(channel, fake.press_button(CHAT_ID, "Continue", **user))
    await deliver(channel, fake.press_button(CHAT_ID, "I agree", **user))
    typed = await deliver(channel, fake.send_text(CHAT_ID, SECRET, **user))  # typed at a choice: asked again
    assert await channel.process(typed)  # Telegram sends it again: a duplicate
    await deliver(channel, fake.press_button(CHAT_ID, "18 to 64", **user))
    with store.transaction() as tx:  # a staff write meanwhile: the copy kept in memory is stale
        tx.conn.execute(sa.text("UPDATE intakes SET version = version + 1"))
    await deliver(channel, fake.press_button(CHAT_ID, "No, never", **user))  # stale, then applied from the store

    def broken(*args, **kwargs):
        raise ValueError("a bug")

    monkeypatch.setattr(channel.runner, "apply_in", broken)
    fake.send_text(CHAT_ID, SECRET, **user)
    assert not await channel.process(await next_update(channel))  # failed: it would come again
    monkeypatch.undo()

    text = await scrape(http)
    after = samples(text)
    assert turns(after, "applied") - turns(before, "applied") == 6
    assert turns(after, "duplicate") - turns(before, "duplicate") == 1
    # On PostgreSQL (several workers) the kept copy is checked against the stored version under the
    # chat's lock before the turn (``bot.store.leases``): read afresh, never a stale rerun there.
    stale = 0 if store.engine.dialect.name == "postgresql" else 1
    assert turns(after, "stale") - turns(before, "stale") == stale
    assert turns(after, "failed") - turns(before, "failed") == 1
    latency = ("intake_turn_seconds_count", ())
    assert after[latency] - before[latency] == 8  # every turn that reached the store, whatever became of it
    assert after[("intake_active_intakes", ())] == 1
    assert after[("intake_outbox_unsent", ())] == 0  # drained: all sent and marked
    assert after[("intake_outbox_oldest_unsent_seconds", ())] == 0

    # Nothing that says who or what: no chat id, name, username or typed words anywhere, and the
    # only labels of ours are closed sets (an intake id could only hide in an open one).
    for private in (str(CHAT_ID), FIRST_NAME, "quen_73", SECRET, "Zebra"):
        assert private not in text
    for family in text_string_to_metric_families(text):
        if family.name.startswith("intake_"):
            for sample in family.samples:
                assert set(sample.labels) <= {"result", "channel", "le"}, sample
                assert sample.labels.get("result", "sent") in {*metrics.TURN_RESULTS, "delivered", "failed", "sent"}
    ours = {f.name for f in text_string_to_metric_families(text) if f.name.startswith("intake_")}
    assert {
        "intake_turns",
        "intake_turn_seconds",
        "intake_outbox_unsent",
        "intake_outbox_oldest_unsent_seconds",
        "intake_active_intakes",
        "intake_completion_webhooks",
        "intake_staff_alerts",
        "intake_reminders_sent",
        "intake_booking_nudges_sent",
    } <= ours


async def test_the_outbox_backlog_and_its_age_are_read_from_the_store(channel, skin: Engine, store: Store) -> None:
    channel, fake = channel
    http = client(staff_app(skin, store, Readiness(store, channel.bot)))
    fake.block(CHAT_ID)  # every send fails: the replies stay in the outbox
    await deliver(channel, fake.send_command(CHAT_ID, "/start"))
    found = samples(await scrape(http))
    assert found[("intake_outbox_unsent", ())] == 0  # given up on (blocked): not backlog
    with store.transaction() as tx:  # as if they were waiting for a retry, the first 2 minutes old
        tx.conn.execute(sa.text("UPDATE messages SET attempts = 1 WHERE direction = 'out'"))
        first = tx.conn.execute(sa.text("SELECT min(id) FROM messages WHERE direction = 'out'")).scalar()
        two_minutes_ago = utcnow() - timedelta(minutes=2)
        tx.conn.execute(sa.update(messages).where(messages.c.id == first).values(at=two_minutes_ago))
        waiting = tx.conn.execute(sa.text("SELECT count(*) FROM messages WHERE direction = 'out'")).scalar()
    found = samples(await scrape(http))
    assert found[("intake_outbox_unsent", ())] == waiting >= 1
    assert 110 < found[("intake_outbox_oldest_unsent_seconds", ())] < 300


async def test_reminders_count_once_committed(channel, skin: Engine, store: Store) -> None:
    channel, fake = channel
    await deliver(channel, fake.send_command(CHAT_ID, "/start"))
    before = REGISTRY.get_sample_value("intake_reminders_sent_total")
    job = QuietIntakes(store, remind_after=0.05, abandon_after=3600, remind=channel.remind)
    await asyncio.sleep(0.1)
    await job.round()
    await job.round()  # reminded already: nothing more
    assert REGISTRY.get_sample_value("intake_reminders_sent_total") - before == 1


async def test_completion_webhook_posts_count_by_result(skin: Engine, store: Store) -> None:
    now = utcnow()
    with store.transaction() as tx:
        intake = tx.create_intake(Intake(0, 5, "skin_botox", "1.0", "en", "completed", {"answers": {}}, now, now))
        tx.queue_completion(intake.id, now)
    answers = iter([500, 204])
    sender = CompletionWebhook(
        store,
        skin,
        WebhookSettings("https://clinic.test/hook", "a-shared-secret-of-some-length", retry_base=0.0),
        transport=httpx.MockTransport(lambda request: httpx.Response(next(answers))),
    )

    def count(result: str) -> float:
        return REGISTRY.get_sample_value("intake_completion_webhooks_total", {"result": result})

    before = count("delivered"), count("failed")
    try:
        assert await sender.deliver_due() == 0  # 500: retried
        assert await sender.deliver_due() == 1
    finally:
        await sender.close()
    assert (count("delivered") - before[0], count("failed") - before[1]) == (1, 1)


async def test_metrics_are_off_without_a_token_and_refuse_a_wrong_one(skin: Engine, store: Store) -> None:
    readiness = Readiness(store)
    off = client(staff_app(skin, store, readiness, token=None))
    assert (await off.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})).status_code == 404
    on = client(staff_app(skin, store, readiness))
    assert (await on.get("/metrics")).status_code == 401
    wrong = await on.get("/metrics", headers={"Authorization": "Bearer not-the-token-at-all"})
    assert wrong.status_code == 401 and wrong.headers["www-authenticate"] == "Bearer"
    assert "intake_turns_total" not in wrong.text


# --- /healthz and /readyz ----------------------------------------------------------------------


async def test_healthz_and_readyz_answer_without_a_login(channel, skin: Engine, store: Store) -> None:
    channel, _ = channel
    http = client(staff_app(skin, store, Readiness(store, channel.bot)))
    health = await http.get("/healthz")
    assert health.status_code == 200 and health.json() == {"status": "ok"}
    assert health.headers["cache-control"] == "no-store"
    assert "set-cookie" not in health.headers  # no session for a probe
    ready = await http.get("/readyz")
    assert ready.status_code == 200, ready.text
    assert ready.json() == {
        "ready": True,
        "checks": {"database": "ok", "telegram": "ok", "role": "single"},
    }
    assert re.fullmatch(r"[0-9a-f]{12}", ready.headers["x-request-id"])


async def test_readyz_asks_telegram_at_most_once_in_a_while(channel, store: Store) -> None:
    channel, fake = channel
    now = [1000.0]
    readiness = Readiness(store, channel.bot, clock=lambda: now[0])
    asked = len(fake.calls("getMe"))
    for _ in range(5):
        assert (await readiness.report())[0]
    assert len(fake.calls("getMe")) == asked + 1
    now[0] += TELEGRAM_TTL + 1
    assert (await readiness.report())[0]
    assert len(fake.calls("getMe")) == asked + 2


async def test_readyz_is_503_with_the_reason_when_telegram_cannot_be_reached(skin: Engine, store: Store) -> None:
    with FakeTelegram() as fake:
        settings = Settings(telegram_token=fake.TOKEN, telegram_base_url=fake.base_url)
        channel = TelegramChannel(settings, skin, store)
    # the fake has stopped: nothing answers at its address any more
    ready = await client(staff_app(skin, store, Readiness(store, channel.bot))).get("/readyz")
    assert ready.status_code == 503
    body = ready.json()
    assert body["ready"] is False and body["checks"]["database"] == "ok"
    assert body["checks"]["telegram"] == "telegram: NetworkError" and body["reason"] == body["checks"]["telegram"]


async def test_readyz_is_503_when_the_database_is_behind_the_code(skin: Engine, empty_database_url: str) -> None:
    store = Store(empty_database_url)
    try:
        store.migrate("0014")
        ready = await client(staff_app(skin, store, Readiness(store))).get("/readyz")
        assert ready.status_code == 503
        assert "migration head" in ready.json()["reason"]
        assert ready.json()["checks"]["telegram"] == "off"  # no token: not checked
        store.migrate()
        assert (await client(staff_app(skin, store, Readiness(store))).get("/readyz")).status_code == 200
    finally:
        store.close()


async def test_readyz_is_503_when_the_database_does_not_answer(skin: Engine, store: Store) -> None:
    readiness = Readiness(store)
    app = staff_app(skin, store, readiness)
    real = store.engine
    store.engine = sa.create_engine(f"postgresql+psycopg://nobody@127.0.0.1:{free_port()}/nothing")
    try:
        ready = await client(app).get("/readyz")
    finally:
        store.engine.dispose()
        store.engine = real
    assert ready.status_code == 503
    assert ready.json()["reason"] == "database: OperationalError"


async def test_readyz_gives_up_on_a_database_that_hangs(store: Store, monkeypatch) -> None:
    import bot.operations as operations

    monkeypatch.setattr(operations, "DB_TIMEOUT", 0.2)
    readiness = Readiness(store)
    release = asyncio.Event()

    async def hanging() -> str | None:
        await release.wait()
        return None

    readiness._database.check = hanging
    ready, body = await readiness.report()
    assert not ready and body["reason"] == "database: timed out"
    release.set()


@pytest.mark.parametrize(("leading", "role"), [(None, "single"), (True, "leader"), (False, "follower")])
def test_the_role_is_the_leader_lock_s(skin: Engine, store: Store, leading, role) -> None:
    from bot.channels.telegram.lead import Lead

    runtime = Runtime(Settings(), skin, store, Parts(web=True, telegram=False))
    assert runtime._role() == "single"  # no Telegram: no lead to hold
    runtime.lead = Lead(runtime.locks)  # what a polling process has (bot.channels.telegram.lead)
    runtime.lead.leading = leading
    assert runtime._role() == role


# --- settings ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "value", "says"),
    [
        ("LOG_FORMAT", "xml", "LOG_FORMAT='xml' must be text or json"),
        ("METRICS_TOKEN", "short", "METRICS_TOKEN must be at least 16 characters"),
        ("OPS_PORT", "70000", "OPS_PORT=70000 is not a port number"),
    ],
)
def test_operations_settings_are_checked(monkeypatch, name: str, value: str, says: str) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError, match=re.escape(says)):
        load_settings(env_file=None)


# --- the JSON log ------------------------------------------------------------------------------


def test_a_json_line_has_time_level_logger_message_and_the_turn(capsys) -> None:
    record = logging.LogRecord("bot.x", logging.WARNING, __file__, 1, "reply %s refused", (7,), None)
    token = logs.turn_id.set("abc123abc123")
    try:
        line = json.loads(logs.JsonFormatter().format(record))
    finally:
        logs.turn_id.reset(token)
    assert line.keys() == {"time", "level", "logger", "message", "turn"}
    assert (line["level"], line["logger"], line["message"]) == ("WARNING", "bot.x", "reply 7 refused")
    assert line["time"].endswith("+00:00")


def test_a_json_line_names_an_exception_s_type_and_place_never_its_text() -> None:
    try:
        raise ValueError(f"invalid input syntax: {SECRET}")
    except ValueError:
        record = logging.LogRecord("bot.x", logging.ERROR, __file__, 1, "turn failed", (), sys.exc_info())
    line = json.loads(logs.JsonFormatter().format(record))
    assert line["exception"] == "ValueError" and "test_operations.py" in line["stack"]
    assert SECRET not in json.dumps(line)


async def test_each_staff_request_has_an_id_in_its_log_lines_even_on_the_staff_threads(
    skin: Engine, store: Store
) -> None:
    app = create_app(skin, store, "secret")
    web = app.state.web
    seen: list[str | None] = []

    async def page(request):
        seen.append(logs.request_id.get())
        seen.append(await web.blocking(logs.request_id.get))  # work on the staff threads
        return PlainTextResponse("ok")

    probe = Starlette(routes=[Route("/probe", page)], middleware=[Middleware(logs.RequestIds)])
    response = await client(probe).get("/probe")
    assert seen[0] is not None and seen == [seen[0], seen[0]]
    assert response.headers["x-request-id"] == seen[0]
    answered = await client(app).get("/login")
    assert re.fullmatch(r"[0-9a-f]{12}", answered.headers["x-request-id"])
    web.close()


# --- the real processes ------------------------------------------------------------------------


def get(port: int, path: str, **headers: str) -> httpx.Response:
    return httpx.get(f"http://127.0.0.1:{port}{path}", headers=headers, timeout=5)


@pytest.mark.e2e
def test_serve_answers_the_probes_and_metrics_and_logs_json_without_patient_words(fake, db_path) -> None:
    port = free_port()
    bot = BotProcess(
        fake,
        f"sqlite:///{db_path}",
        command="serve",
        WEB_PORT=str(port),
        SECRET_KEY="test-secret",
        METRICS_TOKEN=TOKEN,
        LOG_FORMAT="json",
        LOG_LEVEL="DEBUG",
    ).start()
    try:
        patient = TelegramPatient(fake, CHAT_ID, first_name=FIRST_NAME)
        patient.command("/start", expect="automated assistant")
        patient.tap("Continue", expect="Before we start")
        patient.tap("I agree", expect="How old are you?")
        typed = patient.type(SECRET, expect="Please tap one of the three age groups.")
        fake.redeliver(typed)  # logged ("applied before") within its turn
        fake.wait_for(lambda: "applied before" in bot.read())
        assert get(port, "/healthz").json() == {"status": "ok"}
        ready = get(port, "/readyz")
        assert ready.status_code == 200 and ready.json()["checks"] == {
            "database": "ok",
            "telegram": "ok",
            "role": "single",
        }
        assert get(port, "/metrics").status_code == 401
        scraped = get(port, "/metrics", Authorization=f"Bearer {TOKEN}")
        assert scraped.status_code == 200
        found = samples(scraped.text)
        assert (turns(found, "applied"), turns(found, "duplicate")) == (4, 1)
        assert found[("intake_active_intakes", ())] == 1
        for private in (str(CHAT_ID), FIRST_NAME, SECRET):
            assert private not in scraped.text
    finally:
        assert bot.stop() == 0
    lines = [json.loads(line) for line in bot.read().splitlines() if line.strip()]  # every line is JSON
    assert any(line["level"] == "DEBUG" for line in lines)
    (skipped,) = [line for line in lines if "applied before" in line["message"]]
    assert re.fullmatch(r"[0-9a-f]{12}", skipped["turn"]) and "request" not in skipped  # polled: no HTTP request
    assert SECRET not in bot.output and FIRST_NAME not in bot.output


@pytest.mark.e2e
@pytest.mark.parametrize("mode", ["webhook", "polling"])
def test_run_answers_the_probes_on_its_webhook_server_or_on_ops_port(fake, db_path, mode: str) -> None:
    port = free_port()
    env = {"METRICS_TOKEN": TOKEN}
    if mode == "webhook":
        env.update(
            WEBHOOK_URL=f"http://127.0.0.1:{port}/telegram",
            WEBHOOK_SECRET="ops-secret",
            WEBHOOK_LISTEN="127.0.0.1",
            WEBHOOK_PORT=str(port),
        )
    else:
        env.update(OPS_PORT=str(port))
    bot = BotProcess(fake, f"sqlite:///{db_path}", **env).start()
    try:
        patient = TelegramPatient(fake, CHAT_ID)
        patient.command("/start", expect="automated assistant")
        fake.wait_for(lambda: _answers(port))
        assert get(port, "/healthz").status_code == 200
        ready = get(port, "/readyz")
        assert ready.status_code == 200 and ready.json()["checks"]["telegram"] == "ok", ready.text
        scraped = get(port, "/metrics", Authorization=f"Bearer {TOKEN}")
        assert turns(samples(scraped.text), "applied") == 1
    finally:
        assert bot.stop() == 0
    assert "Traceback" not in bot.output


def _answers(port: int) -> bool:
    try:
        return get(port, "/healthz").status_code == 200
    except httpx.HTTPError:
        return False
