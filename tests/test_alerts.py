"""Staff alerts, in process: queued in the turn that raised them (an urgent mark, /human, a completion
with a high flag), once per intake, event and channel; sent by the alert job to a real SMTP server
(aiosmtpd) and to a staff group on the fake Telegram server; retried, given up on and shown.

The alert bot process end to end (a SIGKILL between commit and send) is in test_alerts_e2e.py.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import timedelta

import pytest
import yaml
from prometheus_client import REGISTRY
from support.default_flow import DEFAULT_FLOW, GOAL_TO_SUMMARY, Q_ALLERGY_NOW, Q_TOXIN, SAFETY_TO_GOAL, begin
from support.fake_telegram import FakeTelegram
from support.patients import InProcessPatient, Step
from support.smtp import SmtpServer
from support.turns import apply

from bot.alerts.content import AlertWriter
from bot.alerts.rules import AlertRules
from bot.alerts.senders import EmailSender, TelegramSender
from bot.alerts.settings import AlertSettings, Smtp
from bot.channels.telegram.channel import build_application
from bot.channels.telegram.events import Chat, Event
from bot.channels.telegram.outbox import ChatPacer
from bot.channels.telegram.runner import TurnRunner
from bot.config import Settings
from bot.engine import Engine
from bot.flow.messages import DEFAULT_MESSAGES
from bot.jobs.alerts import AlertJob
from bot.store import Store, utcnow
from bot.store import alerts as queue
from bot.store.review import audit_log


def alerts_counted(channel: str, result: str) -> float:
    """The /metrics counter of staff alerts (0 before the first)."""
    return REGISTRY.get_sample_value("intake_staff_alerts_total", {"channel": channel, "result": result}) or 0.0


# A patient whose name and typed words must never reach an alert.
ZELDA = Chat(77, 77, "Zelda", "Quackenbush", "zeldaq", "en")
GRETE = Chat(78, 78, "Grete", "Wunderlich", "grete", "de")
SECRET_GOAL = "Smaller pores before summer"  # typed by the patient on the way to the summary
BOTH = ("telegram", "email")


def runner(engine: Engine, store: Store, events: frozenset[str] = frozenset({"urgent", "human", "high"})) -> TurnRunner:
    high = frozenset(f.id for f in engine.flow.flags if f.severity == "high")
    return TurnRunner(engine, store, alerts=AlertRules(events, BOTH, high))


def queued(store: Store, intake_id: int) -> list[tuple[str, str]]:
    with store.transaction(read_only=True) as tx:
        return [(row.event, row.channel) for row in queue.of_intake(tx, intake_id)]


def symptoms_now(patient: InProcessPatient, lang: str) -> None:
    """Within 4 weeks of a toxin injection, symptoms right now: the urgent ending."""
    if lang == "en":
        begin(patient)
        patient.tap("18 to 64", expect=Q_TOXIN)
        patient.tap("Yes, in the last 4 weeks", expect="Since your last injection")
        patient.tap("Yes", expect="Please get medical help now")
    else:
        patient.command("/start", expect="automatische Assistent")
        patient.tap("Weiter")
        patient.tap("Ich stimme zu")
        patient.tap("18 bis 64")
        patient.tap("Ja, in den letzten 4 Wochen")
        patient.tap("Ja")


def pregnant_to_the_end(patient: InProcessPatient, lang: str = "en") -> None:
    """A complete intake with one high flag (pregnancy), the goal typed on the way."""
    steps: list[Step] = [
        ("command", "/start", None),
        ("tap", "Continue", None),
        ("tap", "I agree", None),
        ("tap", "18 to 64", Q_TOXIN),
        ("tap", "No, never", Q_ALLERGY_NOW),
        *[
            (action, "I am pregnant", expect) if arg == "No, or this does not apply to me" else (action, arg, expect)
            for action, arg, expect in SAFETY_TO_GOAL + GOAL_TO_SUMMARY
        ],
        ("tap", "Looks right, finish", None),
    ]
    if lang == "en":
        patient.walk(steps)
    else:
        walk_in_german(patient, steps)


def walk_in_german(patient: InProcessPatient, steps: list[Step]) -> None:
    """The same steps by their German labels (the flow's choices, the interface's messages): of the
    German words for an English label, the one on the buttons now; a choice typed by its label is
    typed in German too; other typed words stay as they are."""
    flow = yaml.safe_load(DEFAULT_FLOW.read_text(encoding="utf-8"))
    german: dict[str, set[str]] = {}
    for step in flow["steps"]:
        for label in [choice["label"] for choice in step.get("choices") or []] + list(step.values()):
            if isinstance(label, dict) and {"en", "de"} <= label.keys():
                german.setdefault(label["en"], set()).add(label["de"])
    for key, text in DEFAULT_MESSAGES["en"].items():
        german.setdefault(text, set()).add(DEFAULT_MESSAGES["de"][key])
    for action, arg, _ in steps:
        if action == "tap":
            shown = [
                b["text"] for payload in patient.outbox()[-1:] for row in payload.get("keyboard") or [] for b in row
            ]
            [arg] = [de for de in german[arg] if any(text.endswith(de) for text in shown)]
        elif action == "type" and arg in german:
            arg = min(german[arg])
        getattr(patient, action)(arg)


# --------------------------------------------------------------------------- queued in the turn


@pytest.mark.parametrize(("chat", "lang"), [(ZELDA, "en"), (GRETE, "de")])
def test_an_urgent_answer_queues_one_alert_per_channel_in_its_own_turn(skin: Engine, store: Store, chat, lang) -> None:
    turns = runner(skin, store)
    patient = InProcessPatient(turns, chat)
    symptoms_now(patient, lang)
    intake = patient.intake()
    assert intake.urgent and intake.status == "completed"
    assert queued(store, intake.id) == [("urgent", "telegram"), ("urgent", "email")]
    with store.transaction(read_only=True) as tx:
        rows = queue.of_intake(tx, intake.id)
    # written by the turn that made the intake urgent: at its time, in its transaction
    assert {row.created_at.replace(tzinfo=None) for row in rows} == {intake.completed_at.replace(tzinfo=None)}


def test_a_redelivered_update_and_an_urgent_mark_raised_again_queue_nothing_more(skin: Engine, store: Store) -> None:
    turns = runner(skin, store)
    patient = InProcessPatient(turns, ZELDA)
    symptoms_now(patient, "en")
    intake = patient.intake()
    redelivered = apply(turns, patient.update_id, ZELDA, Event("text", text="Yes"))
    assert redelivered.duplicate
    assert queued(store, intake.id) == [("urgent", "telegram"), ("urgent", "email")]
    # the same alert queued once more (another turn, another process): the unique key keeps one
    with store.transaction() as tx:
        queue.queue(tx, intake.id, [("urgent", "toxin_spread_now")], BOTH, utcnow())
    assert queued(store, intake.id) == [("urgent", "telegram"), ("urgent", "email")]


def test_crisis_words_in_an_intake_already_urgent_alert_staff_again(skin: Engine, store: Store) -> None:
    """Once an intake was urgent (symptoms now), crisis words typed after the ending raised no
    alert: one per intake and event. Each urgent flag raised alerts staff once."""
    turns = runner(skin, store)
    patient = InProcessPatient(turns, ZELDA)
    symptoms_now(patient, "en")
    intake = patient.intake()
    patient.type("I want to kill myself")
    patient.type("I want to kill myself")  # the same flag again: nothing more
    with store.transaction(read_only=True) as tx:
        reasons = sorted((row.reason, row.channel) for row in queue.of_intake(tx, intake.id))
    assert reasons == [
        ("self_harm", "email"),
        ("self_harm", "telegram"),
        ("toxin_spread_now", "email"),
        ("toxin_spread_now", "telegram"),
    ]


@pytest.mark.parametrize("chat", [ZELDA, GRETE], ids=["en", "de"])
def test_a_human_request_queues_an_alert(skin: Engine, store: Store, chat: Chat) -> None:
    patient = InProcessPatient(runner(skin, store), chat)
    patient.command("/start")
    patient.command("/human")
    intake = patient.intake()
    assert intake.human_requested_at is not None
    assert queued(store, intake.id) == [("human", "telegram"), ("human", "email")]
    patient.command("/human")  # asked again: still one alert
    assert queued(store, intake.id) == [("human", "telegram"), ("human", "email")]


@pytest.mark.parametrize(("chat", "lang"), [(ZELDA, "en"), (GRETE, "de")])
def test_a_completed_intake_with_a_high_flag_queues_a_high_alert(skin: Engine, store: Store, chat, lang) -> None:
    patient = InProcessPatient(runner(skin, store), chat)
    pregnant_to_the_end(patient, lang)
    intake = patient.intake()
    assert intake.language == lang
    assert intake.status == "completed" and "pregnancy" in intake.flags
    assert queued(store, intake.id) == [("high", "telegram"), ("high", "email")]


def test_every_completion_alerts_only_when_alert_on_says_completed(skin: Engine, store: Store) -> None:
    patient = InProcessPatient(runner(skin, store, frozenset({"completed"})), ZELDA)
    patient.command("/human")  # not asked for: nothing
    patient.command("/resume")  # back to the questions (typed words would go to the clinic)
    pregnant_to_the_end(patient)
    assert queued(store, patient.intake().id) == [("completed", "telegram"), ("completed", "email")]


def test_no_alert_is_queued_when_alerts_are_off(skin: Engine, store: Store) -> None:
    patient = InProcessPatient(TurnRunner(skin, store), ZELDA)
    symptoms_now(patient, "en")
    assert queued(store, patient.intake().id) == []
    assert AlertRules.of(AlertSettings(), skin) is None  # no channel configured: alerts are off


def test_in_progress_answers_without_an_event_queue_nothing(skin: Engine, store: Store) -> None:
    patient = InProcessPatient(runner(skin, store), ZELDA)
    begin(patient)
    patient.tap("18 to 64", expect=Q_TOXIN)
    assert queued(store, patient.intake().id) == []


# --------------------------------------------------------------------------- what an alert says


def test_an_alert_says_event_severity_number_and_link_and_topics_only_when_asked(skin: Engine) -> None:
    minimal = AlertWriter(skin, "https://clinic.example/", "minimal").write("high", 12, ["pregnancy"])
    assert minimal.subject == "Completed with a high flag: intake 12"
    assert minimal.body.splitlines() == ["Severity: high", "Open the intake: https://clinic.example/intakes/12"]
    topics = AlertWriter(skin, "https://clinic.example", "topics").write("high", 12, ["pregnancy"])
    assert topics.body.splitlines()[-1] == "Flags: Pregnancy, trying to get pregnant, or breastfeeding"
    erased = AlertWriter(skin, "https://clinic.example", "topics").write("urgent", 13, None)
    assert erased.body.splitlines()[0] == "Severity: urgent"


def test_alerts_are_written_in_the_flows_default_language(skin: Engine) -> None:
    german = Engine(skin.flow.model_copy(update={"default_language": "de"}))
    alert = AlertWriter(german, "https://klinik.example", "topics").write("urgent", 5, ["pregnancy"])
    assert alert.subject == "Dringend: ein Dringlichkeitshinweis wurde angezeigt: Aufnahme 5"
    assert "Schweregrad: dringend" in alert.body and "Schwangerschaft" in alert.body


# --------------------------------------------------------------------------- e-mail, on a real SMTP server


@pytest.fixture()
def sqlite_store(sqlite_url: str) -> Iterator[Store]:
    store = Store.open(sqlite_url)
    yield store
    store.close()


@pytest.fixture()
def smtp() -> Iterator[SmtpServer]:
    with SmtpServer() as server:
        yield server


def email_settings(server: SmtpServer, **changes) -> AlertSettings:
    values = {
        "smtp": Smtp(server.host, server.port, "starttls"),
        "email_from": "Intake bot <bot@clinic.example>",
        "email_to": ("desk@clinic.example", "doctor@clinic.example"),
        "detail": "topics",
        "max_attempts": 3,
        "retry_base": 0.0,
        **changes,
    }
    return AlertSettings(**values)


def email_job(skin: Engine, store: Store, settings: AlertSettings) -> AlertJob:
    sender = EmailSender(settings.smtp, settings.email_from, settings.email_to, timeout=5)
    return AlertJob(store, AlertWriter(skin, "https://clinic.example", settings.detail), settings, [sender])


def test_an_alert_by_email_carries_number_and_link_but_never_names_or_answers(
    skin: Engine, store: Store, smtp: SmtpServer
) -> None:
    settings = email_settings(smtp)
    patient = InProcessPatient(TurnRunner(skin, store, alerts=AlertRules.of(settings, skin)), ZELDA)
    pregnant_to_the_end(patient)
    intake = patient.intake()
    assert asyncio.run(email_job(skin, store, settings).send_due()) == 1
    [mail] = smtp.wait_for(1)
    assert mail.sender == "bot@clinic.example"
    assert mail.recipients == ["desk@clinic.example", "doctor@clinic.example"]
    assert mail.message["Subject"] == f"Completed with a high flag: intake {intake.id}"
    assert mail.message["To"] == "desk@clinic.example, doctor@clinic.example"
    assert mail.message["Auto-Submitted"] == "auto-generated"
    assert f"https://clinic.example/intakes/{intake.id}" in mail.body
    assert "Severity: high" in mail.body and "Pregnancy" in mail.body  # ALERT_DETAIL=topics
    for private in ("Zelda", "Quackenbush", "zeldaq", SECRET_GOAL, "pores", "I am pregnant"):
        assert private.lower() not in mail.raw.lower(), private
    # sent once: a second round finds nothing due
    assert asyncio.run(email_job(skin, store, settings).send_due()) == 0
    assert len(smtp.received) == 1
    with store.transaction(read_only=True) as tx:
        [row] = queue.of_intake(tx, intake.id)
        log = audit_log(tx)
    assert row.sent_at is not None and row.attempts == 0
    assert [(e.actor, e.action, e.intake_id, e.detail) for e in log] == [
        ("alerts", "alert_sent", intake.id, "high by email")
    ]


def test_an_unreachable_mail_server_is_retried_then_given_up_and_recorded(skin: Engine, sqlite_store: Store) -> None:
    store = sqlite_store
    with SmtpServer() as closed:
        settings = email_settings(closed)
    # the server has stopped: its port refuses connections
    patient = InProcessPatient(TurnRunner(skin, store, alerts=AlertRules.of(settings, skin)), ZELDA)
    symptoms_now(patient, "en")
    job = email_job(skin, store, settings)
    failed = alerts_counted("email", "failed")
    for _ in range(3):
        assert asyncio.run(job.send_due()) == 0
    assert alerts_counted("email", "failed") - failed == 3  # /metrics
    with store.transaction(read_only=True) as tx:
        [row] = queue.given_up(tx)
        log = audit_log(tx)
    assert (row.event, row.channel, row.attempts) == ("urgent", "email", 3)
    assert "ConnectionRefusedError" in row.last_error
    assert [(e.action, e.detail.split(":")[0]) for e in log] == [("alert_given_up", "urgent by email")]
    assert asyncio.run(job.send_due()) == 0  # given up: never tried again


def test_a_failed_try_waits_with_backoff_before_the_next(skin: Engine, sqlite_store: Store) -> None:
    store = sqlite_store
    with SmtpServer() as closed:
        settings = email_settings(closed, retry_base=60.0)
    patient = InProcessPatient(TurnRunner(skin, store, alerts=AlertRules.of(settings, skin)), ZELDA)
    patient.command("/human")
    job = email_job(skin, store, settings)
    asyncio.run(job.send_due())
    asyncio.run(job.send_due())  # not due yet: no second try
    with store.transaction(read_only=True) as tx:
        [row] = queue.of_intake(tx, patient.intake().id)
    assert row.attempts == 1 and row.gave_up_at is None
    assert row.next_try_at.replace(tzinfo=None) - row.created_at.replace(tzinfo=None) >= timedelta(seconds=59)


def test_a_mail_server_across_a_network_without_starttls_is_refused(skin: Engine, sqlite_store: Store) -> None:
    """127.0.0.2 is not this machine's name for itself as far as the check goes: no STARTTLS, no mail."""
    with SmtpServer(host="127.0.0.2") as remote:
        settings = email_settings(remote, max_attempts=1)
        patient = InProcessPatient(TurnRunner(skin, sqlite_store, alerts=AlertRules.of(settings, skin)), ZELDA)
        patient.command("/human")
        asyncio.run(email_job(skin, sqlite_store, settings).send_due())
        assert remote.received == []
    with sqlite_store.transaction(read_only=True) as tx:
        [row] = queue.given_up(tx)
    assert "offers no STARTTLS" in row.last_error


# --------------------------------------------------------------------------- the staff Telegram chat

STAFF_CHAT = -1001234567890


def telegram_settings(**changes) -> AlertSettings:
    values = {"telegram_chat_id": STAFF_CHAT, "detail": "minimal", "max_attempts": 3, "retry_base": 0.0, **changes}
    return AlertSettings(**values)


async def telegram_job(fake: FakeTelegram, skin: Engine, store: Store, settings: AlertSettings):
    """The job with a sender on the channel's own kind of bot (its rate limiter) and a pacer."""
    application = build_application(Settings(telegram_token=fake.TOKEN, telegram_base_url=fake.base_url))
    await application.bot.initialize()
    sender = TelegramSender(application.bot, settings.telegram_chat_id, ChatPacer(rate=1000))
    job = AlertJob(store, AlertWriter(skin, "https://clinic.example", settings.detail), settings, [sender])
    return application, job


async def test_the_staff_chat_gets_the_alert_once(
    skin: Engine, sqlite_store: Store, fake_telegram: FakeTelegram
) -> None:
    fake_telegram.add_group(STAFF_CHAT)
    settings = telegram_settings()
    patient = InProcessPatient(TurnRunner(skin, sqlite_store, alerts=AlertRules.of(settings, skin)), ZELDA)
    await asyncio.to_thread(symptoms_now, patient, "en")
    intake = await asyncio.to_thread(patient.intake)
    application, job = await telegram_job(fake_telegram, skin, sqlite_store, settings)
    sent = alerts_counted("telegram", "sent")
    try:
        assert await job.send_due() == 1
        assert await job.send_due() == 0
        assert alerts_counted("telegram", "sent") - sent == 1  # /metrics
    finally:
        await application.bot.shutdown()
    [alert] = fake_telegram.messages(STAFF_CHAT)
    assert alert["text"].splitlines() == [
        f"Urgent: an urgent text was shown: intake {intake.id}",
        "",
        "Severity: urgent",
        f"Open the intake: https://clinic.example/intakes/{intake.id}",
    ]
    assert alert["reply_markup"] is None
    assert "Zelda" not in alert["text"]


async def test_a_staff_chat_that_removed_the_bot_is_retried_then_given_up_and_recorded(
    skin: Engine, sqlite_store: Store, fake_telegram: FakeTelegram
) -> None:
    fake_telegram.add_group(STAFF_CHAT)
    fake_telegram.block(STAFF_CHAT)  # the bot was removed from the group: 403
    settings = telegram_settings()
    patient = InProcessPatient(TurnRunner(skin, sqlite_store, alerts=AlertRules.of(settings, skin)), ZELDA)
    await asyncio.to_thread(patient.command, "/human")
    application, job = await telegram_job(fake_telegram, skin, sqlite_store, settings)
    try:
        for _ in range(3):
            assert await job.send_due() == 0
        assert await job.send_due() == 0  # given up: not tried a fourth time
    finally:
        await application.bot.shutdown()
    assert len([c for c in fake_telegram.calls("sendMessage") if c["params"]["chat_id"] == STAFF_CHAT]) == 3
    with sqlite_store.transaction(read_only=True) as tx:
        [row] = queue.given_up(tx)
        log = audit_log(tx)
    assert (row.event, row.channel, row.attempts) == ("human", "telegram", 3)
    assert row.last_error == "Forbidden: bot was kicked from the group chat"
    assert [(e.action, e.detail) for e in log] == [
        ("alert_given_up", "human by telegram: Forbidden: bot was kicked from the group chat")
    ]


async def test_a_staff_chat_back_after_a_403_gets_the_alert(
    skin: Engine, sqlite_store: Store, fake_telegram: FakeTelegram
) -> None:
    fake_telegram.add_group(STAFF_CHAT)
    fake_telegram.block(STAFF_CHAT)
    settings = telegram_settings(max_attempts=5)
    patient = InProcessPatient(TurnRunner(skin, sqlite_store, alerts=AlertRules.of(settings, skin)), ZELDA)
    await asyncio.to_thread(patient.command, "/human")
    application, job = await telegram_job(fake_telegram, skin, sqlite_store, settings)
    try:
        assert await job.send_due() == 0
        fake_telegram.block(STAFF_CHAT, False)  # the clinic added the bot again
        assert await job.send_due() == 1
    finally:
        await application.bot.shutdown()
    assert len(fake_telegram.messages(STAFF_CHAT)) == 1


# --------------------------------------------------------------------------- erasure


def test_an_unsent_alert_outlives_the_erasure_and_a_sent_one_goes_with_it(
    skin: Engine, sqlite_store: Store, smtp: SmtpServer
) -> None:
    """/delete right after asking for a person: staff still hear of it (with no topics left to
    name); an alert already sent is erased with the intake."""
    settings = email_settings(smtp)
    turns = TurnRunner(skin, sqlite_store, alerts=AlertRules.of(settings, skin))
    sent = InProcessPatient(turns, ZELDA)
    sent.command("/human")
    asyncio.run(email_job(skin, sqlite_store, settings).send_due())
    erased_first = InProcessPatient(turns, GRETE)
    erased_first.command("/human")
    ids = sent.intake().id, erased_first.intake().id
    for patient in (sent, erased_first):
        patient.command("/delete")
        patient.tap("erase everything" if patient is sent else "alles löschen")
    assert sent.intake() is None and erased_first.intake() is None
    with sqlite_store.transaction(read_only=True) as tx:
        assert [queue.of_intake(tx, i) != [] for i in ids] == [False, True]
    assert asyncio.run(email_job(skin, sqlite_store, settings).send_due()) == 1
    mails = smtp.wait_for(2)
    assert f"intake {ids[1]}" in mails[1].message["Subject"] and "Grete" not in mails[1].raw
    with sqlite_store.transaction(read_only=True) as tx:
        assert queue.of_intake(tx, ids[1]) == []  # sent, for an intake no longer there: done with
