"""Setting up staff alerts: the settings (a broken one stops start-up with one line), `alerts test`
on every configured channel, and the admin's page listing the alerts given up on."""

from __future__ import annotations

import asyncio
import os

import pytest
from starlette.testclient import TestClient
from support.fake_telegram import FakeTelegram
from support.patients import InProcessPatient
from support.smtp import SmtpServer
from support.staff import login, staff_store

from bot.alerts.content import AlertWriter
from bot.alerts.rules import AlertRules
from bot.alerts.senders import EmailSender
from bot.alerts.settings import AlertSettings, Smtp
from bot.channels.telegram.events import Chat
from bot.channels.telegram.runner import TurnRunner
from bot.config import SettingsError, load_settings
from bot.engine import Engine
from bot.jobs.alerts import AlertJob
from bot.staff.web import create_app

STAFF_CHAT = -100111222333
TOKEN = FakeTelegram.TOKEN


def settings_from(monkeypatch: pytest.MonkeyPatch, **env: str):
    for name in [n for n in os.environ if n.startswith(("ALERT_", "SMTP_", "TELEGRAM_"))]:
        monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return load_settings(env_file=None)


# --------------------------------------------------------------------------- settings


def test_alerts_are_off_until_a_channel_is_set_and_default_to_urgent_human_high(monkeypatch) -> None:
    alerts = settings_from(monkeypatch).alerts
    assert alerts.events == {"urgent", "human", "high"} and alerts.channels == () and not alerts.active
    alerts = settings_from(
        monkeypatch,
        TELEGRAM_BOT_TOKEN=TOKEN,
        ALERT_TELEGRAM_CHAT_ID="-1001234",
        SMTP_URL="smtp://alerts%40clinic:p%40ss@mail.example",
        ALERT_EMAIL_FROM="Intake bot <bot@clinic.example>",
        ALERT_EMAIL_TO="desk@clinic.example, doctor@clinic.example",
        ALERT_ON="urgent, completed",
        ALERT_DETAIL="topics",
    ).alerts
    assert alerts.channels == ("telegram", "email") and alerts.telegram_chat_id == -1001234
    assert alerts.smtp == Smtp("mail.example", 587, "starttls", "alerts@clinic", "p@ss")
    assert alerts.email_to == ("desk@clinic.example", "doctor@clinic.example")
    assert alerts.events == {"urgent", "completed"} and alerts.detail == "topics"
    smtps = settings_from(
        monkeypatch, SMTP_URL="smtps://mail.example", ALERT_EMAIL_FROM="a@b.c", ALERT_EMAIL_TO="d@e.f"
    )
    assert smtps.alerts.smtp == Smtp("mail.example", 465, "ssl")
    assert (
        settings_from(
            monkeypatch, ALERT_ON="off", SMTP_URL="smtps://m.example", ALERT_EMAIL_FROM="a@b.c", ALERT_EMAIL_TO="d@e.f"
        ).alerts.active
        is False
    )


BROKEN = [
    ({"ALERT_ON": "urgent,sometimes"}, "unknown event 'sometimes'"),
    ({"TELEGRAM_BOT_TOKEN": TOKEN, "ALERT_TELEGRAM_CHAT_ID": "@clinicstaff"}, "is not a chat id"),
    ({"ALERT_TELEGRAM_CHAT_ID": "-100123"}, "TELEGRAM_BOT_TOKEN is not"),
    ({"SMTP_URL": "http://mail.example", "ALERT_EMAIL_FROM": "a@b.c", "ALERT_EMAIL_TO": "d@e.f"}, "SMTP_URL="),
    ({"SMTP_URL": "smtp://u:hunter2secret@mail:port", "ALERT_EMAIL_FROM": "a@b.c", "ALERT_EMAIL_TO": "d@e.f"}, ":***@"),
    ({"SMTP_URL": "smtp://mail.example"}, "ALERT_EMAIL_FROM and ALERT_EMAIL_TO must be set"),
    ({"ALERT_EMAIL_TO": "desk@clinic.example"}, "SMTP_URL is not"),
    (
        {"SMTP_URL": "smtp://m.example", "ALERT_EMAIL_FROM": "a@b.c", "ALERT_EMAIL_TO": "the front desk"},
        "not an e-mail",
    ),
    ({"ALERT_DETAIL": "everything"}, "minimal or topics"),
    ({"ALERT_MAX_ATTEMPTS": "0"}, "ALERT_MAX_ATTEMPTS"),
]


@pytest.mark.parametrize(("env", "says"), BROKEN, ids=[says for _, says in BROKEN])
def test_a_broken_alert_setting_is_one_clear_line(monkeypatch, env: dict[str, str], says: str) -> None:
    with pytest.raises(SettingsError) as raised:
        settings_from(monkeypatch, **env)
    message = str(raised.value)
    assert says in message and "\n" not in message
    assert "hunter2secret" not in message  # a password in SMTP_URL is never shown


@pytest.mark.parametrize("command", ["run", "serve"])
def test_start_up_with_a_broken_alert_setting_stops_with_one_line(cli, tmp_path, command: str) -> None:
    env = {"TELEGRAM_BOT_TOKEN": TOKEN, "DATABASE_URL": f"sqlite:///{tmp_path}/x.db", "ALERT_ON": "urgent,sometimes"}
    ran = cli(command, env=env)
    assert ran.returncode == 2
    assert ran.stderr.strip().count("\n") == 0 and "ALERT_ON='urgent,sometimes'" in ran.stderr
    assert not (tmp_path / "x.db").exists()  # stopped before anything began


# --------------------------------------------------------------------------- alerts test


def test_alerts_test_says_what_each_channel_answered(cli, fake_telegram: FakeTelegram) -> None:
    fake_telegram.add_group(STAFF_CHAT)
    with SmtpServer() as smtp:
        env = {
            "TELEGRAM_BOT_TOKEN": TOKEN,
            "TELEGRAM_BASE_URL": fake_telegram.base_url,
            "ALERT_TELEGRAM_CHAT_ID": str(STAFF_CHAT),
            "SMTP_URL": smtp.url,
            "ALERT_EMAIL_FROM": "bot@clinic.example",
            "ALERT_EMAIL_TO": "desk@clinic.example",
        }
        ran = cli("alerts", "test", env=env)
        [mail] = smtp.wait_for(1)
    assert ran.returncode == 0, ran
    lines = ran.stdout.splitlines()
    assert lines[0].startswith(f"Telegram chat {STAFF_CHAT}: ok, sent, message ")
    assert (
        lines[1] == f"e-mail to desk@clinic.example via {smtp.url}: ok, accepted by 127.0.0.1 for 1 of 1 recipient(s)"
    )
    assert len(lines) == 2
    assert [m["text"] for m in fake_telegram.messages(STAFF_CHAT)] == [
        "Test alert from the intake bot\n\nThis is a test alert: staff alerts reach this channel."
    ]
    assert mail.message["Subject"] == "Test alert from the intake bot"


def test_alerts_test_fails_with_a_line_per_broken_channel(cli, fake_telegram: FakeTelegram) -> None:
    fake_telegram.add_group(STAFF_CHAT)
    fake_telegram.block(STAFF_CHAT)
    with SmtpServer() as stopped:
        url = stopped.url
    env = {
        "TELEGRAM_BOT_TOKEN": TOKEN,
        "TELEGRAM_BASE_URL": fake_telegram.base_url,
        "ALERT_TELEGRAM_CHAT_ID": str(STAFF_CHAT),
        "SMTP_URL": url,
        "ALERT_EMAIL_FROM": "bot@clinic.example",
        "ALERT_EMAIL_TO": "desk@clinic.example",
    }
    ran = cli("alerts", "test", env=env)
    assert ran.returncode == 1
    assert ran.stdout.splitlines() == [
        f"Telegram chat {STAFF_CHAT}: FAILED: Forbidden: bot was kicked from the group chat",
        f"e-mail to desk@clinic.example via {url}: FAILED: ConnectionRefusedError: [Errno 111] Connection refused",
    ]
    assert cli("alerts", "test", env={}).stdout.startswith("no alert channel is configured")


# --------------------------------------------------------------------------- the admin's page


def test_admins_see_staff_alerts_that_were_given_up(skin: Engine, sqlite_url: str) -> None:
    store = staff_store(sqlite_url)
    with SmtpServer() as stopped:
        settings = AlertSettings(
            smtp=Smtp(stopped.host, stopped.port, "starttls"),
            email_from="bot@clinic.example",
            email_to=("desk@clinic.example",),
            max_attempts=1,
        )
    patient = InProcessPatient(TurnRunner(skin, store, alerts=AlertRules.of(settings, skin)), Chat(9, 9, "Ida"))
    patient.command("/human")
    sender = EmailSender(settings.smtp, settings.email_from, settings.email_to, timeout=5)
    job = AlertJob(store, AlertWriter(skin, "https://clinic.example"), settings, [sender])
    asyncio.run(job.send_due())
    intake_id = patient.intake().id
    admin = TestClient(create_app(skin, store, secret_key="test-secret-key"))
    login(admin, "adam")
    page = admin.get("/audit").text
    assert "Staff alerts given up on" in page and "ConnectionRefusedError" in page
    assert f'<a href="/intakes/{intake_id}">{intake_id}</a></td><td>human</td><td>email</td>' in page
    assert "alert_given_up" in page  # and the audit log says so
    reviewer = TestClient(create_app(skin, store, secret_key="test-secret-key"))
    login(reviewer, "rita")
    assert reviewer.get("/audit").status_code == 403


def test_alerts_test_logs_in_with_the_user_and_password_of_smtp_url(cli) -> None:
    with SmtpServer(login=("alerts@clinic.example", "p@ss:word")) as smtp:
        env = {"SMTP_URL": smtp.url, "ALERT_EMAIL_FROM": "bot@clinic.example", "ALERT_EMAIL_TO": "desk@clinic.example"}
        assert "%40" in smtp.url and "%3A" in smtp.url  # percent-encoded, as .env.example says
        ran = cli("alerts", "test", env=env)
        smtp.wait_for(1)
    assert ran.returncode == 0, ran
    assert ran.stdout.startswith("e-mail to desk@clinic.example via smtp://alerts%40clinic.example@127.0.0.1:")
    assert "p@ss" not in ran.stdout  # the password is never shown
