"""The background jobs run once across three workers on one PostgreSQL (issue 15), whichever are
alive: three ``python -m bot run`` processes polling the fake Telegram server (one holds the lead),
patients who go quiet (reminders), who complete (a completion webhook and a staff alert each),
then the first worker SIGKILLed and more of both.

Reminders are counted where the job writes them (one reminder row per intake in the outbox) and
where the patient reads them (once in the chat: each reply is sent by one worker, the outbox's
leases).
"""

from __future__ import annotations

import json
import time

import pytest
from support.bot_process import BotProcess
from support.databases import postgres_rows
from support.default_flow import Q_AGE, ROUTINE_TO_SUMMARY, begin
from support.fake_telegram import FakeTelegram
from support.patients import TelegramPatient
from support.receiver import Receiver

pytestmark = pytest.mark.e2e

STAFF_CHAT = -1005550001111
REMINDER = "Hello again!"


def worker(fake: FakeTelegram, url: str, hook: Receiver) -> BotProcess:
    return BotProcess(
        fake,
        url,
        REMIND_AFTER="3s",
        ABANDON_AFTER="1h",
        CLINIC_WEBHOOK_URL=hook.url(),
        CLINIC_WEBHOOK_SECRET="jobs-once-webhook-secret",
        CLINIC_WEBHOOK_RETRY_BASE="0.2s",
        ALERT_ON="completed",
        ALERT_TELEGRAM_CHAT_ID=str(STAFF_CHAT),
        ALERT_RETRY_BASE="0.2s",
        PUBLIC_URL="https://clinic.example",
    )


def complete(patient: TelegramPatient) -> None:
    begin(patient)
    patient.walk(ROUTINE_TO_SUMMARY)
    patient.tap("Looks right, finish", expect="consultation")


def quiet(patient: TelegramPatient) -> None:
    begin(patient)  # at the age question, and no more


def reminders_by_chat(url: str) -> dict[int, int]:
    rows = postgres_rows(
        url,
        "SELECT chat_id, count(*) FROM messages WHERE direction = 'out' AND text LIKE %s GROUP BY chat_id",
        f"{REMINDER}%",
    )
    return dict(rows)


def reminded(url: str) -> set[int]:
    return set(reminders_by_chat(url))


def chats(patients: list[TelegramPatient]) -> set[int]:
    return {patient.chat_id for patient in patients}


def test_reminders_webhooks_and_alerts_once_across_three_workers(fake: FakeTelegram, postgres_url: str) -> None:
    fake.add_group(STAFF_CHAT)
    hook = Receiver(failures=2)  # two refusals: retried, by whichever worker's round comes next
    workers = [worker(fake, postgres_url, hook) for _ in range(3)]
    try:
        workers[0].start()
        fake.wait_for(lambda: "holds the lead" in workers[0].read())  # the first one polls
        for one in workers[1:]:
            one.start()
        quiet_ones = [TelegramPatient(fake, 600 + n) for n in range(4)]
        done_ones = [TelegramPatient(fake, 700 + n) for n in range(2)]
        for patient in quiet_ones:
            quiet(patient)
        for patient in done_ones:
            complete(patient)
        fake.wait_for(lambda: reminded(postgres_url) >= chats(quiet_ones), timeout=30)
        fake.wait_for(lambda: len(fake.messages(STAFF_CHAT)) == 2 and len(hook.accepted) == 2, timeout=30)

        workers[0].kill()  # the first started: the leader (its standby polls from now on)
        more_quiet = [TelegramPatient(fake, 800 + n) for n in range(2)]
        more_done = [TelegramPatient(fake, 900 + n) for n in range(2)]
        for patient in more_quiet:
            patient.command("/start website", expect="automated assistant")
            patient.tap("Continue", expect="Before we start")
            patient.tap("I agree", expect=Q_AGE)
        for patient in more_done:
            complete(patient)
        fake.wait_for(lambda: reminded(postgres_url) >= chats(quiet_ones + more_quiet), timeout=30)
        fake.wait_for(lambda: len(fake.messages(STAFF_CHAT)) == 4 and len(hook.accepted) == 4, timeout=30)
        time.sleep(3)  # several more rounds of every job on the two left: nothing goes again
        outputs = [one.read() for one in workers]
    finally:
        for one in workers:
            one.stop()
        hook.server.shutdown()

    # one reminder for each quiet patient (and, on a slow machine, for one who took longer than
    # REMIND_AFTER between two answers), never two
    counts = reminders_by_chat(postgres_url)
    assert set(counts.values()) == {1} and set(counts) >= chats(quiet_ones + more_quiet)
    for chat_id in counts:  # and each read once by the patient
        seen = [m for m in fake.messages(chat_id) if (m["text"] or "").startswith(REMINDER)]
        assert len(seen) == 1, (chat_id, seen)
    assert postgres_rows(postgres_url, "SELECT count(*) FROM intakes WHERE reminded_at IS NOT NULL") == [(len(counts),)]
    # each completion posted once (the two refusals aside) and alerted once
    delivered = [json.loads(body)["delivery"] for _, body in hook.accepted]
    assert sorted(delivered) == sorted(set(delivered)) and len(delivered) == 4
    intakes = [json.loads(body)["intake"]["id"] for _, body in hook.accepted]
    assert len(set(intakes)) == 4
    alerts = [m["text"] for m in fake.messages(STAFF_CHAT)]
    assert len(alerts) == 4
    assert sorted(int(text.split("intake ")[1].split()[0].rstrip(",.:")) for text in alerts) == sorted(intakes)
    for output in outputs:
        assert "round failed" not in output, output
        assert "Traceback" not in output, output
    # the rounds were shared out, not all run by one worker: each worker polled or stood by
    assert sum("holds the lead" in output for output in outputs) == 2
    assert sum("standing by" in output for output in outputs) == 2
