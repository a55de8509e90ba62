"""Staff alerts with the bot as a process (``python -m bot run``) on the fake Telegram server and a
real SMTP server: a SIGKILL between committing the urgent turn and sending its alert, then exactly
one alert in the staff chat and one e-mail; a redelivered update alerts nobody twice."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from support.bot_process import BotProcess
from support.databases import db_rows
from support.default_flow import Q_TOXIN, begin
from support.fake_telegram import FakeTelegram
from support.patients import TelegramPatient
from support.smtp import SmtpServer

pytestmark = pytest.mark.e2e

STAFF_CHAT = -1009876543210


def alert_env(smtp: SmtpServer) -> dict[str, str]:
    return {
        "ALERT_TELEGRAM_CHAT_ID": str(STAFF_CHAT),
        "SMTP_URL": smtp.url,
        "ALERT_EMAIL_FROM": "bot@clinic.example",
        "ALERT_EMAIL_TO": "desk@clinic.example",
        "ALERT_RETRY_BASE": "0.3s",
        "PUBLIC_URL": "https://clinic.example",
    }


def staff_messages(fake: FakeTelegram) -> list[str]:
    return [m["text"] for m in fake.messages(STAFF_CHAT)]


def symptoms_now(patient: TelegramPatient) -> int:
    """To the urgent ending (symptoms right after an injection); the update id of the urgent answer."""
    begin(patient)
    patient.tap("18 to 64", expect=Q_TOXIN)
    patient.tap("Yes, in the last 4 weeks", expect="Since your last injection")
    return patient.tap("Yes", expect="Please get medical help now")


def test_sigkill_between_committing_and_sending_then_exactly_one_alert_per_channel(
    fake: FakeTelegram, db_path: Path
) -> None:
    fake.add_group(STAFF_CHAT)
    # Telegram holds the staff chat back (a 429) and the mail server is not up yet: the urgent
    # turn commits its alerts, and neither can go out before the bot is killed.
    fake.fail_next("sendMessage", times=1, error_code=429, retry_after=3, chat_id=STAFF_CHAT)
    smtp = SmtpServer()
    env = alert_env(smtp)
    bot = BotProcess(fake, f"sqlite:///{db_path}", **env).start()
    patient = TelegramPatient(fake, 401, first_name="Zelda")
    try:
        symptoms_now(patient)
        fake.wait_for(lambda: any(c["status"] == 429 for c in fake.calls("sendMessage")))
        fake.wait_for(lambda: db_rows(db_path, "SELECT max(attempts) FROM alerts WHERE channel = 'email'") == [(1,)])
    finally:
        bot.kill()
    pending = "SELECT event, channel FROM alerts WHERE sent_at IS NULL ORDER BY channel"
    assert db_rows(db_path, pending) == [("urgent", "email"), ("urgent", "telegram")]
    assert staff_messages(fake) == [] and smtp.received == []

    with smtp:
        bot = BotProcess(fake, f"sqlite:///{db_path}", **env).start()
        try:
            fake.wait_for(lambda: len(staff_messages(fake)) == 1, timeout=20)
            [mail] = smtp.wait_for(1, timeout=20)
            fake.wait_for(lambda: db_rows(db_path, "SELECT count(*) FROM alerts WHERE sent_at IS NULL") == [(0,)])
            time.sleep(1.5)  # three more rounds of the job: nothing goes out again
        finally:
            bot.stop()
        assert len(smtp.received) == 1
    [alert] = staff_messages(fake)
    (intake_id,) = db_rows(db_path, "SELECT id FROM intakes WHERE chat_id = 401")[0]
    assert alert.startswith(f"Urgent: an urgent text was shown: intake {intake_id}")
    assert f"https://clinic.example/intakes/{intake_id}" in alert and f"/intakes/{intake_id}" in mail.body
    assert "Zelda" not in alert + mail.raw


def test_a_redelivered_update_alerts_nobody_twice(fake: FakeTelegram, db_path: Path) -> None:
    fake.add_group(STAFF_CHAT)
    with SmtpServer() as smtp:
        bot = BotProcess(fake, f"sqlite:///{db_path}", **alert_env(smtp)).start()
        try:
            patient = TelegramPatient(fake, 402)
            urgent = symptoms_now(patient)
            fake.wait_for(lambda: len(staff_messages(fake)) == 1)
            smtp.wait_for(1)
            fake.redeliver(urgent)  # Telegram sends the urgent answer again
            patient.command("/privacy", expect="")  # a fence: the redelivery has been handled
            fake.wait_for(lambda: db_rows(db_path, "SELECT count(*) FROM alerts WHERE sent_at IS NULL") == [(0,)])
            time.sleep(1.0)
        finally:
            bot.stop()
        assert len(staff_messages(fake)) == 1 and len(smtp.received) == 1
    assert db_rows(db_path, "SELECT count(*) FROM alerts") == [(2,)]
