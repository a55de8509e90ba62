"""A live conversation with the clinic, end to end: the real bot process (``serve``: the staff web
app and the bot in one process; ``run``: the bot alone) on the fake Telegram server, staff through
the web app over HTTP (and its event stream), the clinic API, a SIGKILL, and /delete."""

from __future__ import annotations

import json
import re
import threading
import time
from pathlib import Path

import httpx
import pytest
from support.bot_process import BotProcess
from support.databases import db_rows
from support.default_flow import GOAL_TO_SUMMARY, Q_ALLERGY_NOW, Q_TOXIN, SAFETY_TO_GOAL, begin
from support.fake_telegram import FakeTelegram
from support.patients import TelegramPatient
from support.staff import PASSWORD

from bot.engine import Engine
from bot.flow import load_checked
from bot.staff.accounts import Accounts
from bot.staff.talks import Talks
from bot.store import Store

pytestmark = pytest.mark.e2e

STAFF_CHAT = -1001234567890
ROOT = Path(__file__).resolve().parents[1]


def prepared(db_path: Path) -> dict[str, str]:
    """A nurse (display name Anna) and two API tokens in the database; the tokens."""
    store = Store.open(f"sqlite:///{db_path}")
    try:
        accounts = Accounts(store)
        accounts.add("nurse.k", PASSWORD, "reviewer")
        accounts.set_display_name("nurse.k", "Anna")
        return {"read": accounts.add_token("erp"), "message": accounts.add_token("desk", ["read", "message"])}
    finally:
        store.close()


def serve(fake: FakeTelegram, db_path: Path, port: int) -> BotProcess:
    fake.add_group(STAFF_CHAT)
    return BotProcess(
        fake,
        f"sqlite:///{db_path}",
        command="serve",
        WEB_LISTEN="127.0.0.1",
        WEB_PORT=str(port),
        SECRET_KEY="k" * 32,
        ALERT_TELEGRAM_CHAT_ID=str(STAFF_CHAT),
        PUBLIC_URL=f"http://127.0.0.1:{port}",
    ).start()


def logged_in(port: int) -> httpx.Client:
    web = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10)
    csrf = re.search(r'name="csrf" value="([^"]+)"', web.get("/login").text).group(1)
    answer = web.post("/login", data={"name": "nurse.k", "password": PASSWORD, "csrf": csrf})
    assert answer.status_code == 303, answer.text
    return web


def csrf_of(web: httpx.Client, path: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', web.get(path).text).group(1)


class EventStream:
    """The intake page's server-sent events, read on a thread as a browser's EventSource would."""

    def __init__(self, web: httpx.Client, intake_id: int):
        self.events: list[dict] = []
        self.web = web
        self.path = f"/intakes/{intake_id}/talk/events"
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        with self.web.stream("GET", self.path, timeout=None) as response:
            assert response.headers["content-type"].startswith("text/event-stream")
            for line in response.iter_lines():
                if self._stop.is_set():
                    return
                if line.startswith("data: "):
                    self.events.append(json.loads(line.removeprefix("data: ")))

    def wait_for(self, check, timeout: float = 15.0) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for event in list(self.events):
                if check(event):
                    return event
            time.sleep(0.05)
        raise AssertionError(f"no such event in {self.events}")

    def close(self) -> None:
        self._stop.set()


def test_human_alert_staff_writes_patient_answers_live_then_hand_back_and_the_intake_completes(
    fake: FakeTelegram, db_path: Path, unused_port: int
) -> None:
    prepared(db_path)
    bot = serve(fake, db_path, unused_port)
    stream = None
    try:
        patient = TelegramPatient(fake, 601, first_name="Zelda")
        begin(patient)
        patient.tap("18 to 64", expect=Q_TOXIN)
        patient.command("/human", expect="A person from Example Skin Clinic will read what you write here")
        [(intake_id,)] = db_rows(db_path, "SELECT id FROM intakes WHERE chat_id = 601")
        alert = fake.wait_for(lambda: fake.messages(STAFF_CHAT)[0]["text"], timeout=20)
        assert f"intake {intake_id}" in alert and "Zelda" not in alert  # no name in an alert

        web = logged_in(unused_port)
        page = web.get(f"/intakes/{intake_id}").text
        assert "Conversation with the patient" in page and "Waiting for an answer from us" in page
        stream = EventStream(web, intake_id)
        patient.type("Is it OK if I'm on ibuprofen?")
        stream.wait_for(lambda e: e["from"] == "patient" and e["text"] == "Is it OK if I'm on ibuprofen?")

        csrf = csrf_of(web, f"/intakes/{intake_id}")
        began = time.monotonic()
        sent = web.post(
            f"/intakes/{intake_id}/talk/messages", data={"text": "Which dose, and how often?", "csrf": csrf}
        )
        assert sent.status_code == 303
        signed = patient.expect("Which dose, and how often?")
        print(f"staff message to the patient in {time.monotonic() - began:.3f} s")  # (pytest -s shows it)
        assert signed["text"].endswith("— Anna, Example Skin Clinic") and "nurse.k" not in signed["text"]
        stream.wait_for(lambda e: e["from"] == "staff" and e["state"] == "sent")  # delivery state, live

        patient.type("400 mg, twice a day")
        stream.wait_for(lambda e: e["text"] == "400 mg, twice a day")
        assert "400 mg, twice a day" in web.get(f"/intakes/{intake_id}").text  # and without JavaScript

        web.post(f"/intakes/{intake_id}/talk/end", data={"ending": "handback", "csrf": csrf})
        patient.expect("The clinic team has handed you back to the questions")
        patient.expect(Q_TOXIN)  # the same question, shown again
        patient.tap("No, never", expect=Q_ALLERGY_NOW)
        patient.walk(SAFETY_TO_GOAL + GOAL_TO_SUMMARY)
        patient.tap("Looks right, finish", expect="consultation")
        [(status, talk)] = db_rows(db_path, f"SELECT status, talk_id FROM intakes WHERE id = {intake_id}")
        assert (status, talk) == ("completed", None)
        audit = [a for (a,) in db_rows(db_path, f"SELECT action FROM audit WHERE intake_id = {intake_id}")]
        assert "message" in audit and "talk_handback" in audit
    finally:
        if stream is not None:
            stream.close()
        assert bot.stop() == 0


def test_the_api_writes_with_a_message_token_and_a_read_only_token_is_refused(
    fake: FakeTelegram, db_path: Path, unused_port: int
) -> None:
    tokens = prepared(db_path)
    bot = serve(fake, db_path, unused_port)
    try:
        patient = TelegramPatient(fake, 602, language_code="de")
        patient.command("/start", expect="Guten Tag")
        patient.command("/human", expect="Eine Person von Example Skin Clinic")
        patient.type("Darf ich Ibuprofen nehmen?")
        [(intake_id,)] = db_rows(db_path, "SELECT id FROM intakes WHERE chat_id = 602")
        api = httpx.Client(base_url=f"http://127.0.0.1:{unused_port}", timeout=10)
        reader = {"Authorization": f"Bearer {tokens['read']}"}
        writer = {"Authorization": f"Bearer {tokens['message']}"}
        url = f"/api/intakes/{intake_id}/messages"
        before = fake.wait_for(lambda: api.get(url, headers=reader).json()["messages"])
        assert [m["text"] for m in before] == ["Darf ich Ibuprofen nehmen?"]
        assert api.post(url, json={"text": "Bitte nicht."}, headers=reader).status_code == 403
        made = api.post(url, json={"text": "Ja, das ist in Ordnung."}, headers=writer)
        assert made.status_code == 201
        got = patient.expect("Ja, das ist in Ordnung.")
        assert got["text"].endswith("— Ihr Team von Example Skin Clinic")
        assert not any("Bitte nicht." in m["text"] for m in fake.messages(602))
        since = api.get(f"{url}?after={before[-1]['id']}", headers=reader).json()["messages"]
        assert [(m["id"], m["from"]) for m in since] == [(made.json()["id"], "staff")]
        fake.wait_for(
            lambda: api.get(f"{url}?after={before[-1]['id']}", headers=reader).json()["messages"][0]["state"] == "sent"
        )
    finally:
        assert bot.stop() == 0


def rows(url: str, sql: str) -> list[tuple]:
    """A query's rows on either database (a store of the test's own, closed after)."""
    store = Store(url)
    try:
        with store.transaction(read_only=True) as tx:
            return [tuple(r) for r in tx.conn.exec_driver_sql(sql)]
    finally:
        store.close()


def test_sigkill_mid_conversation_loses_no_message_and_sends_none_twice(fake: FakeTelegram, database_url: str) -> None:
    """On SQLite and PostgreSQL: the bot killed with a talk open, a staff message written while it
    is down and a patient's message waiting at Telegram; after the restart each arrives once, in
    the order they were written."""
    url = database_url
    bot = BotProcess(fake, url).start()
    patient = TelegramPatient(fake, 603)
    begin(patient)
    patient.tap("18 to 64", expect=Q_TOXIN)
    patient.command("/human", expect="A person from")
    patient.type("Before the kill")
    fake.wait_for(lambda: rows(url, "SELECT count(*) FROM messages WHERE talk_id IS NOT NULL") == [(1,)])
    bot.kill()  # no chance to finish anything
    store = Store(url)
    talks = Talks(store, Engine(load_checked(ROOT / "flows" / "skin_botox.yaml")))
    [(intake_id,)] = rows(url, "SELECT id FROM intakes WHERE chat_id = 603")
    talks.send(intake_id, "nurse.k", "Anna", "Written while the bot was down")  # stored before it is sent
    patient.type("While the bot was down")  # waits at Telegram
    bot = BotProcess(fake, url).start()
    try:
        patient.expect("Written while the bot was down")
        patient.type("After the restart")
        fake.wait_for(lambda: len(talks.messages(intake_id)) == 4)
        talks.send(intake_id, "nurse.k", "Anna", "And once more")
        patient.expect("And once more")
        time.sleep(2.5)  # a round of the outbox and of the hand-back job: nothing goes out again
        texts = [m["text"] for m in fake.messages(603)]
        assert sum("Written while the bot was down" in t for t in texts) == 1
        assert sum("And once more" in t for t in texts) == 1
        got = [(m.direction, m.text.split("\n")[0], m.state) for m in talks.messages(intake_id)]
        assert got == [
            ("in", "Before the kill", "received"),
            ("out", "Written while the bot was down", "sent"),
            ("in", "While the bot was down", "received"),
            ("in", "After the restart", "received"),
            ("out", "And once more", "sent"),
        ]
    finally:
        bot.stop()
        store.close()


def test_delete_with_a_staff_message_queued_never_sends_it(fake: FakeTelegram, db_path: Path) -> None:
    url = f"sqlite:///{db_path}"
    bot = BotProcess(fake, url).start()
    store = Store(url)
    try:
        patient = TelegramPatient(fake, 604)
        begin(patient)
        patient.command("/human", expect="A person from")
        patient.command("/delete", expect="erase")
        # Telegram holds the chat back: the staff message waits in the outbox
        fake.fail_next("sendMessage", times=1, error_code=429, retry_after=4, chat_id=604)
        talks = Talks(store, Engine(load_checked(ROOT / "flows" / "skin_botox.yaml")))
        [(intake_id,)] = db_rows(db_path, "SELECT id FROM intakes WHERE chat_id = 604")
        assert talks.send(intake_id, "nurse.k", "Anna", "A message that must never arrive") is not None
        fake.wait_for(
            lambda: any(
                c["status"] == 429 and c["params"].get("chat_id") in (604, "604") for c in fake.calls("sendMessage")
            ),
            timeout=15,
        )
        patient.tap("Yes, erase everything")
        fake.wait_for(lambda: "has been erased" in fake.messages(604)[-1]["text"])  # the question, edited
        time.sleep(6)  # past the wait Telegram asked for, and two rounds of the outbox
        assert not any("must never arrive" in m["text"] for m in fake.messages(604))
        assert db_rows(db_path, "SELECT count(*) FROM messages") == [(0,)]
        assert db_rows(db_path, "SELECT count(*) FROM talks") == [(0,)]
    finally:
        bot.stop()
        store.close()
