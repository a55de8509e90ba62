"""The completion webhook, end to end: the real bot completes an intake and a receiver in this test
gets it, checks the signature with the README's own snippet, and fails on purpose to force retries."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.bot_process import BotProcess
from support.databases import db_rows
from support.default_flow import begin
from support.fake_telegram import FakeTelegram
from support.patients import TelegramPatient
from support.receiver import Receiver

README = Path(__file__).resolve().parent.parent / "README.md"
SECRET = "a-shared-secret-of-some-length"


def documented_verify():
    """The verification snippet exactly as the README shows it."""
    text = README.read_text()
    block = re.search(r"```python\n(import hashlib\n.*?def verify\(.*?)```", text, re.DOTALL)
    assert block, "the README's verification snippet is missing"
    namespace: dict = {}
    exec(block.group(1), namespace)  # our own documentation, run as a reader would
    return namespace["verify"]


@pytest.fixture()
def receiver() -> Iterator[Receiver]:
    r = Receiver(failures=2)  # a clinic's endpoint: answers 500 twice, then 200
    yield r
    r.close()


@pytest.mark.e2e
def test_a_completed_intake_is_posted_signed_and_retried_until_accepted(receiver: Receiver, tmp_path: Path) -> None:
    verify = documented_verify()
    db = tmp_path / "intake.db"
    with FakeTelegram() as fake:
        bot = BotProcess(
            fake,
            f"sqlite:///{db}",
            CLINIC_WEBHOOK_URL=receiver.url(),
            CLINIC_WEBHOOK_SECRET=SECRET,
            CLINIC_WEBHOOK_RETRY_BASE="0.3s",
        ).start()
        try:
            patient = TelegramPatient(fake, 301)
            begin(patient)
            patient.tap("Under 18", expect="parent")  # an ending: the intake is complete
            fake.wait_for(lambda: len(receiver.requests) == 3, timeout=20)
            # the third request was answered 200: wait until the bot has recorded that, before
            # stopping it (a stop does not wait for a delivery in flight to be written down)
            written = "SELECT count(*) FROM webhook_deliveries WHERE delivered_at IS NOT NULL OR attempts >= 3"
            fake.wait_for(lambda: db_rows(db, written) == [(1,)], timeout=20)
        finally:
            bot.stop()
    headers, body = receiver.requests[-1]
    assert verify(SECRET, headers, body)
    assert {h["X-Intake-Delivery"] for h, _ in receiver.requests} == {headers["X-Intake-Delivery"]}
    assert {b for _, b in receiver.requests} == {body}  # every retry carries the same bytes
    event = json.loads(body)
    assert event["event"] == "intake.completed"
    assert event["intake"]["outcome"] == "under_18_end" and event["intake"]["status"] == "completed"
    assert [a["question_id"] for a in event["intake"]["answers"]] == ["consent", "age_band"]
    delivered = db_rows(db, "SELECT attempts, delivered_at IS NOT NULL, last_error FROM webhook_deliveries")
    assert delivered == [(2, 1, None)]


def test_the_documented_check_rejects_tampering_and_old_or_missing_signatures() -> None:
    import hashlib
    import hmac
    import time

    verify = documented_verify()
    body = b'{"event":"intake.completed"}'
    now = str(int(time.time()))
    good = "sha256=" + hmac.new(SECRET.encode(), now.encode() + b"." + body, hashlib.sha256).hexdigest()
    headers = {"X-Intake-Timestamp": now, "X-Intake-Signature": good}
    assert verify(SECRET, headers, body)
    assert not verify(SECRET, headers, body.replace(b"completed", b"deleted"))  # tampered body
    assert not verify("another-secret-entirely", headers, body)
    flipped = good[:-1] + ("1" if good[-1] == "0" else "0")  # one hex digit off (never the same one)
    assert not verify(SECRET, {**headers, "X-Intake-Signature": flipped}, body)
    old = str(int(time.time()) - 3600)
    stale = "sha256=" + hmac.new(SECRET.encode(), old.encode() + b"." + body, hashlib.sha256).hexdigest()
    assert not verify(SECRET, {"X-Intake-Timestamp": old, "X-Intake-Signature": stale}, body)
    assert not verify(SECRET, {}, body)


def test_the_sender_signs_what_it_sends(sqlite_url: str) -> None:
    """In-process: the signature the sender puts on the wire is the documented one."""
    import asyncio

    import httpx

    from bot.engine import Engine
    from bot.flow import load_checked
    from bot.jobs.completion_webhook import CompletionWebhook, WebhookSettings
    from bot.store import Intake, Store, utcnow

    verify = documented_verify()
    store = Store(sqlite_url)
    now = utcnow()
    with store.transaction() as tx:
        intake = tx.create_intake(Intake(0, 5, "skin_botox", "1.0", "en", "completed", {"answers": {}}, now, now))
        tx.queue_completion(intake.id, now)
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(204)

    engine = Engine(load_checked("flows/skin_botox.yaml"))
    sender = CompletionWebhook(
        store, engine, WebhookSettings("https://clinic.test/hook", SECRET), transport=httpx.MockTransport(handler)
    )

    async def go() -> int:
        try:
            return await sender.deliver_due()
        finally:
            await sender.close()

    assert asyncio.run(go()) == 1
    assert verify(SECRET, dict(seen[0].headers), seen[0].content)
    assert verify(SECRET, {k.title(): v for k, v in seen[0].headers.items()}, seen[0].content)


def test_gives_up_after_the_configured_tries(db_path: Path) -> None:
    import asyncio
    from datetime import timedelta

    import httpx

    from bot.engine import Engine
    from bot.flow import load_checked
    from bot.jobs.completion_webhook import CompletionWebhook, WebhookSettings
    from bot.store import Intake, Store, utcnow

    store = Store(f"sqlite:///{db_path}")
    start = utcnow()
    with store.transaction() as tx:
        intake = tx.create_intake(Intake(0, 6, "skin_botox", "1.0", "en", "completed", {"answers": {}}, start, start))
        tx.queue_completion(intake.id, start)
    clock = [start]
    sender = CompletionWebhook(
        store,
        Engine(load_checked("flows/skin_botox.yaml")),
        WebhookSettings("https://clinic.test/hook", SECRET, 3, 10),
        clock=lambda: clock[0],
        transport=httpx.MockTransport(lambda request: httpx.Response(503)),
    )

    async def go() -> None:
        for _ in range(5):
            await sender.deliver_due()
            clock[0] += timedelta(hours=1)
        await sender.close()

    asyncio.run(go())
    assert db_rows(db_path, "SELECT attempts, gave_up_at IS NOT NULL, last_error FROM webhook_deliveries") == [
        (3, 1, "HTTP 503")
    ]


def test_two_processes_never_post_the_same_delivery_twice(tmp_path: Path) -> None:
    """Each attempt claims its row first: two senders on one database post each delivery once."""
    import asyncio

    import httpx

    from bot.engine import Engine
    from bot.flow import load_checked
    from bot.jobs.completion_webhook import CompletionWebhook, WebhookSettings
    from bot.store import Intake, Store, utcnow

    url = f"sqlite:///{tmp_path / 'two.db'}"
    store = Store.open(url)
    now = utcnow()
    with store.transaction() as tx:
        for chat in range(5):
            intake = tx.create_intake(Intake(0, chat, "skin_botox", "1.0", "en", "completed", {"v": 1}, now, now))
            tx.queue_completion(intake.id, now)
    posted: list[str] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        posted.append(request.headers["X-Intake-Delivery"])
        await asyncio.sleep(0.05)  # slow enough that both senders see the rows due
        return httpx.Response(200)

    engine = Engine(load_checked("flows/skin_botox.yaml"))
    senders = [
        CompletionWebhook(Store(url), engine, WebhookSettings("https://clinic.test/hook", SECRET), transport=t)
        for t in (httpx.MockTransport(handler), httpx.MockTransport(handler))
    ]

    async def go() -> list[int]:
        try:
            return await asyncio.gather(*(s.deliver_due() for s in senders))
        finally:
            for sender in senders:
                await sender.close()

    assert sum(asyncio.run(go())) == 5
    assert sorted(posted) == sorted(set(posted)) and len(posted) == 5


def test_a_clean_stop_lets_a_delivery_in_flight_finish_and_records_it(tmp_path: Path) -> None:
    """Cancelled while the clinic answered, a delivery would count as unsent and go out again."""
    import asyncio

    import httpx

    from bot.engine import Engine
    from bot.flow import load_checked
    from bot.jobs import Jobs
    from bot.jobs.completion_webhook import CompletionWebhook, WebhookSettings
    from bot.store import Intake, Store, utcnow

    store = Store.open(f"sqlite:///{tmp_path / 'stop.db'}")
    now = utcnow()
    with store.transaction() as tx:
        intake = tx.create_intake(Intake(0, 8, "skin_botox", "1.0", "en", "completed", {"v": 1}, now, now))
        tx.queue_completion(intake.id, now)

    async def go() -> None:
        arrived = asyncio.Event()

        async def slow_clinic(request: httpx.Request) -> httpx.Response:
            arrived.set()
            await asyncio.sleep(0.5)
            return httpx.Response(200)

        sender = CompletionWebhook(
            store,
            Engine(load_checked("flows/skin_botox.yaml")),
            WebhookSettings("https://clinic.test/hook", SECRET),
            transport=httpx.MockTransport(slow_clinic),
        )
        jobs = Jobs([sender])
        jobs.start()
        await asyncio.wait_for(arrived.wait(), 10)
        await jobs.stop()

    asyncio.run(go())
    with store.transaction() as tx:
        assert tx.conn.exec_driver_sql("SELECT delivered_at IS NOT NULL FROM webhook_deliveries").scalar() == 1
