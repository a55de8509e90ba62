"""End to end: the real bot, as a separate process, against the fake Telegram Bot API server.

Each test plays patients on the fake server's side and reads what the bot sent back. The bot
under test is ``python -m bot run`` with TELEGRAM_BASE_URL pointing at the fake, a real SQLite
file (or PostgreSQL) and the default flow.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest
from support.bot_process import ROOT, BotProcess
from support.databases import db_rows, postgres_rows
from support.default_flow import ROUTINE_TO_SUMMARY, begin
from support.fake_telegram import FakeTelegram
from support.patients import TelegramPatient

pytestmark = pytest.mark.e2e  # every test here starts the bot as a process


def test_a_full_intake_by_buttons_and_typing_ends_with_a_consultation(fake, bot, db_path) -> None:
    patient = TelegramPatient(fake, 101)
    begin(patient)
    patient.walk(ROUTINE_TO_SUMMARY)
    summary = patient.last()
    assert "1. How old are you?" in summary["text"] and "→ 18 to 64" in summary["text"]
    assert "✏️ 1" in patient.buttons()
    patient.tap("Looks right, finish", expect="consultation")
    ending = patient.last()
    assert patient.buttons(ending) == ["Book a consultation", "📄 Send me a copy of my answers"]
    # no PUBLIC_URL: the booking page itself, its prefill filled in (the flow shares no name)
    [(intake_id,)] = db_rows(db_path, "SELECT id FROM intakes WHERE chat_id = 101")
    assert ending["reply_markup"]["inline_keyboard"][0][0]["url"] == (
        "https://cal.com/example-skin-clinic/consultation?notes=Pre-consultation%20questionnaire%3A%20intake%20"
        f"{intake_id}&metadata%5Bintake%5D={intake_id}&metadata%5Bsource%5D=website&metadata%5Bending%5D=routine"
    )
    # every earlier question lost its buttons and shows the answer given
    for message in fake.messages(101)[:-1]:
        assert not message.get("reply_markup"), message
    assert any(m["text"].endswith("✓ 18 to 64") for m in fake.messages(101))
    assert fake.unanswered_callback_queries() == []
    [(status, outcome, source, flags)] = db_rows(
        db_path, "SELECT status, outcome, source, flags FROM intakes WHERE chat_id = 101"
    )
    assert (status, outcome, source, json.loads(flags)) == ("completed", "routine", "website", [])
    transcript = db_rows(
        db_path,
        "SELECT direction, text FROM messages WHERE chat_id = 101 AND kind IN ('text','command','press','send')",
    )
    assert transcript[0] == ("in", "/start website")
    assert ("in", "Smaller pores before summer") in transcript
    assert ("in", "18 to 64") in transcript  # a button press is recorded as the chosen label


def test_points_to_discuss_and_urgent_care(fake, bot) -> None:
    points = TelegramPatient(fake, 102)
    begin(points)
    steps = list(ROUTINE_TO_SUMMARY)
    steps[6] = ("tap", "I am breastfeeding", "allergic reaction")
    points.walk(steps)
    points.tap("Looks right, finish", expect="Points to mention to the dermatologist")
    assert "• Pregnancy, trying to get pregnant, or breastfeeding" in points.last()["text"]

    urgent = TelegramPatient(fake, 103)
    begin(urgent)
    urgent.tap("18 to 64", expect="botulinum toxin injections")
    urgent.tap("Yes, in the last 4 weeks", expect="Since your last injection")
    urgent.tap("Yes", expect="🚨")
    assert "consultation" in urgent.last()["text"].lower()


def test_declining_consent_and_under_18_end_politely(fake, bot, db_path) -> None:
    decline = TelegramPatient(fake, 104)
    decline.command("/start", expect="automated assistant")
    decline.tap("Continue", expect="Before we start")
    decline.tap("No thanks", expect="No problem")
    young = TelegramPatient(fake, 105)
    begin(young)
    young.tap("Under 18", expect="parent")
    rows = dict(db_rows(db_path, "SELECT chat_id, status FROM intakes WHERE chat_id IN (104, 105)"))
    assert rows == {104: "declined", 105: "completed"}


def test_a_redelivered_update_is_applied_once(fake, bot, db_path) -> None:
    patient = TelegramPatient(fake, 106)
    begin(patient)
    update = patient.tap("18 to 64", expect="botulinum toxin injections")

    def sends() -> int:
        return sum(c["params"].get("chat_id") == 106 for c in fake.calls("sendMessage"))

    sent = sends()
    fake.redeliver(update)
    # A fence instead of a fixed wait: /privacy is answered only once the bot is done with the
    # redelivered update before it; nothing may have been sent in between.
    patient.quiet_after(patient.seen)
    patient.expect("botulinum toxin injections")  # /privacy shows the current question again
    assert sends() == sent + 2  # those two messages; not a call more, failed or not
    (count,) = db_rows(db_path, f"SELECT count(*) FROM messages WHERE update_id = {update}")[0]
    assert count == 1


def test_stale_button_sticker_and_overlong_message(fake, bot, db_path) -> None:
    patient = TelegramPatient(fake, 107)
    begin(patient)
    age_question = patient.last()
    patient.tap("18 to 64", expect="botulinum toxin injections")
    fake.press(107, age_question["message_id"], age_question_data(age_question))
    patient.fake.wait_for(lambda: not fake.unanswered_callback_queries())
    toast = fake.calls("answerCallbackQuery")[-1]["params"]
    assert toast.get("text") == "That button belongs to an earlier step."
    patient.expect("botulinum toxin injections")  # the current question again
    # taking the buttons off twice is "message is not modified" on Telegram: harmless, not an error,
    # and not even tried: the bot knows the message has no buttons left
    assert db_rows(db_path, "SELECT count(*) FROM messages WHERE chat_id = 107 AND last_error IS NOT NULL") == [(0,)]
    edits = [c for c in fake.calls() if c["method"].startswith("edit") and c["params"].get("chat_id") in (107, "107")]
    assert edits and all(c["status"] == 200 for c in edits), edits

    fake.send_sticker(107)
    patient.expect("I can only read typed text and button taps")
    patient.expect("botulinum toxin injections")

    patient.tap("No, never", expect="A quick safety question")
    patient.tap("No", expect="What would you like")
    patient.walk(ROUTINE_TO_SUMMARY[3:19])
    patient.type("x" * 10_000, expect="That is a little long")
    assert "under 300 characters (yours has 10000)" in patient.last()["text"]


def age_question_data(message: dict) -> str:
    return message["reply_markup"]["inline_keyboard"][1][0]["callback_data"]


def test_delete_erases_everything(fake, bot, db_path) -> None:
    patient = TelegramPatient(fake, 108)
    begin(patient)
    patient.tap("18 to 64", expect="botulinum toxin injections")
    patient.command("/delete", expect="Erase everything")
    patient.tap("Yes, erase everything")
    fake.wait_for(lambda: "erased" in fake.messages(108)[-1]["text"])
    assert db_rows(db_path, "SELECT count(*) FROM intakes WHERE chat_id = 108") == [(0,)]
    assert db_rows(db_path, "SELECT count(*) FROM messages WHERE chat_id = 108") == [(0,)]
    patient.command("/myanswers", expect="No answers are stored yet.")  # and this stores nothing either
    assert db_rows(db_path, "SELECT count(*) FROM intakes WHERE chat_id = 108") == [(0,)]


def test_language_switch_and_telegram_language(fake, bot) -> None:
    patient = TelegramPatient(fake, 109)
    patient.command("/start", expect="automated assistant")
    patient.command("/language", expect="Choose your language")
    patient.tap("Deutsch", expect="automatische Assistent")
    assert patient.buttons() == ["Weiter"]
    german = TelegramPatient(fake, 110, language_code="de")
    german.command("/start", expect="automatische Assistent")
    assert set(fake.commands()) >= {"", "en", "de"}
    assert fake.commands()["de"][0]["description"] == "Fragebogen beginnen oder fortsetzen"


def test_two_patients_at_once(fake, bot) -> None:
    first, second = TelegramPatient(fake, 111), TelegramPatient(fake, 112)
    first.command("/start", expect="automated assistant")
    second.command("/start", expect="automated assistant")
    fake.press_button(111, "Continue")
    fake.press_button(112, "Continue")
    first.expect("Before we start")
    second.expect("Before we start")
    fake.press_button(111, "I agree")
    fake.press_button(112, "No thanks")
    first.expect("How old are you?")
    second.expect("No problem")
    assert "How old" not in " ".join(m["text"] for m in fake.messages(112))


def test_back_and_restart(fake, bot) -> None:
    patient = TelegramPatient(fake, 113)
    begin(patient)
    patient.tap("18 to 64", expect="botulinum toxin injections")
    patient.tap("Back", expect="How old are you?")
    assert "Your answer: 18 to 64" in patient.last()["text"]
    patient.command("/back", expect="Before we start")
    patient.command("/restart", expect="Start again from the beginning?")
    patient.tap("Yes, start again", expect="automated assistant")


def test_sigkill_mid_intake_then_restart_resumes(fake, db_path) -> None:
    bot = BotProcess(fake, f"sqlite:///{db_path}").start()
    patient = TelegramPatient(fake, 114)
    begin(patient)
    patient.tap("18 to 64", expect="botulinum toxin injections")
    bot.kill()
    fake.press_button(114, "No, never")  # pressed while the bot is down: Telegram keeps the update
    bot = BotProcess(fake, f"sqlite:///{db_path}").start()
    try:
        patient.expect("A quick safety question")
        patient.tap("No", expect="What would you like")
        answers = json.loads(db_rows(db_path, "SELECT state FROM intakes WHERE chat_id = 114")[0][0])["answers"]
        assert answers == {
            "consent": "agree",
            "age_band": "from_18_to_64",
            "toxin_last_time": "never",
            "allergy_signs_now": "no",
        }
        (ins,) = db_rows(db_path, "SELECT count(*) FROM messages WHERE chat_id = 114 AND direction = 'in'")[0]
        assert ins == 6  # /start, Continue, I agree, 18 to 64, No never, No: each once
    finally:
        bot.stop()


def test_replies_wait_out_a_429_and_arrive(fake, bot) -> None:
    patient = TelegramPatient(fake, 115)
    patient.command("/start", expect="automated assistant")
    fake.fail_next("sendMessage", times=1, error_code=429, retry_after=1, chat_id=115)
    patient.tap("Continue", expect="Before we start")
    assert any(c["status"] == 429 and c["params"].get("chat_id") == 115 for c in fake.calls("sendMessage"))


def test_webhook_mode_full_path_and_forged_secret(fake, db_path, unused_port) -> None:
    url = f"http://127.0.0.1:{unused_port}/telegram/hook"
    bot = BotProcess(
        fake,
        f"sqlite:///{db_path}",
        WEBHOOK_URL=url,
        WEBHOOK_SECRET="s3cret-value",
        WEBHOOK_LISTEN="127.0.0.1",
        WEBHOOK_PORT=str(unused_port),
    ).start()
    try:
        fake.wait_for(lambda: fake.webhook() and fake.webhook().get("url") == url)
        patient = TelegramPatient(fake, 116)
        begin(patient)
        patient.tap("Under 18", expect="parent")
        forged = {
            "update_id": 999_999,
            "message": {
                "message_id": 1,
                "date": 0,
                "chat": {"id": 116, "type": "private"},
                "from": {"id": 116, "is_bot": False, "first_name": "X"},
                "text": "/delete",
            },
        }
        assert fake.post_to_webhook(forged, secret="wrong") == 403
        assert fake.post_to_webhook(forged, secret=None) == 403
        assert db_rows(db_path, "SELECT count(*) FROM intakes WHERE chat_id = 116") == [(1,)]
    finally:
        bot.stop()


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"TELEGRAM_BOT_TOKEN": ""}, "TELEGRAM_BOT_TOKEN is not set"),
        ({"TELEGRAM_BOT_TOKEN": "not-a-token"}, "TELEGRAM_BOT_TOKEN does not look like a bot token"),
        ({"DATABASE_URL": "postgresql://127.0.0.1:1/nowhere"}, "cannot open the database"),
        ({"FLOW_PATH": "flows/missing.yaml"}, "flows/missing.yaml:1:1: file not found"),
        ({"TELEGRAM_BOT_TOKEN": "123456789:AAWrongTokenForTheFakeServer_xyzabc"}, "Telegram refused the bot token"),
        ({"REMIND_AFTER": "soon"}, "REMIND_AFTER='soon' is not a duration"),
    ],
)
def test_start_up_problems_stop_with_one_clear_line(fake, db_path, env, message) -> None:
    process = BotProcess(fake, f"sqlite:///{db_path}", **env).start(wait=False)
    code = process.wait_exit(timeout=30)
    output = process.read().strip()
    assert code != 0
    assert "Traceback" not in output
    assert output.splitlines()[-1].startswith(message) or message in output.splitlines()[-1], output


def test_unreachable_telegram_stops_with_one_line(db_path) -> None:
    env = {
        "TELEGRAM_BOT_TOKEN": FakeTelegram.TOKEN,
        "TELEGRAM_BASE_URL": "http://127.0.0.1:9/bot",
        "DATABASE_URL": f"sqlite:///{db_path}",
    }
    result = subprocess.run(
        [sys.executable, "-m", "bot", "run"],
        cwd=ROOT,
        env={**_base_env(), **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("cannot reach the Telegram Bot API at http://127.0.0.1:9")


def _base_env() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "WEBHOOK_", "DATABASE_"))}


def test_a_reply_committed_but_not_sent_goes_out_after_a_crash(fake, db_path) -> None:
    bot = BotProcess(fake, f"sqlite:///{db_path}").start()
    patient = TelegramPatient(fake, 117)
    patient.command("/start", expect="automated assistant")
    # Telegram holds the chat's replies back for a few seconds (a wait the bot keeps, across the
    # restart too, once it has recorded it)...
    fake.set_rate_limited(True, retry_after=3)
    patient.fake.press_button(117, "Continue")
    fake.wait_for(lambda: any(c["status"] == 429 for c in fake.calls()))
    bot.kill()  # ...and the bot dies before it could send the committed reply
    fake.set_rate_limited(False)
    assert db_rows(db_path, "SELECT count(*) FROM messages WHERE direction = 'out' AND sent_at IS NULL")[0][0] >= 1
    bot = BotProcess(fake, f"sqlite:///{db_path}").start()
    try:
        patient.expect("Before we start")
        unsent = "SELECT count(*) FROM messages WHERE direction = 'out' AND sent_at IS NULL"
        fake.wait_for(lambda: db_rows(db_path, unsent) == [(0,)])
        (presses,) = db_rows(db_path, "SELECT count(*) FROM messages WHERE chat_id = 117 AND kind = 'press'")[0]
        assert presses == 1
    finally:
        bot.stop()


def test_one_reminder_after_a_quiet_spell_survives_a_restart_then_abandoned(fake, db_path) -> None:
    timing = {"REMIND_AFTER": "3s", "ABANDON_AFTER": "6s"}
    bot = BotProcess(fake, f"sqlite:///{db_path}", **timing).start()
    patient = TelegramPatient(fake, 118)
    begin(patient)
    bot.stop()  # the quiet period runs on while the bot is down
    time.sleep(3.5)  # a fixed wait on purpose: REMIND_AFTER must pass while no bot runs at all
    bot = BotProcess(fake, f"sqlite:///{db_path}", **timing).start()
    try:
        patient.expect("Hello again! Your answers are saved.", timeout=10)
        patient.expect("How old are you?")
        fake.wait_for(
            lambda: db_rows(db_path, "SELECT status FROM intakes WHERE chat_id = 118") == [("abandoned",)], timeout=15
        )
        texts = [m["text"] for m in fake.messages(118)]
        assert sum(t.startswith("Hello again!") for t in texts) == 1
        patient.tap("18 to 64", expect="botulinum toxin injections")  # coming back resumes the intake
        assert db_rows(db_path, "SELECT status FROM intakes WHERE chat_id = 118") == [("in_progress",)]
    finally:
        bot.stop()


def test_the_bot_on_postgresql(fake, empty_postgres_url) -> None:
    """On an empty PostgreSQL database: the bot makes its tables at start."""
    postgres_url = empty_postgres_url
    bot = BotProcess(fake, postgres_url).start()
    try:
        patient = TelegramPatient(fake, 119)
        begin(patient)
        update = patient.tap("18 to 64", expect="botulinum toxin injections")
        fake.redeliver(update)
        patient.tap("No, never", expect="A quick safety question")
        [(state, status)] = postgres_rows(postgres_url, "SELECT state, status FROM intakes WHERE chat_id = 119")
        [(count,)] = postgres_rows(postgres_url, "SELECT count(*) FROM messages WHERE update_id = %s", update)
        assert json.loads(state)["answers"]["toxin_last_time"] == "never" and status == "in_progress"
        assert count == 1
    finally:
        bot.stop()


def test_one_process_serves_the_web_app_and_the_telegram_webhook(fake, db_path, unused_port) -> None:
    import httpx

    url = f"http://127.0.0.1:{unused_port}/telegram/hook"
    bot = BotProcess(
        fake,
        f"sqlite:///{db_path}",
        command="serve",
        WEBHOOK_URL=url,
        WEBHOOK_SECRET="one-process-secret",
        WEB_LISTEN="127.0.0.1",
        WEB_PORT=str(unused_port),
        SECRET_KEY="k" * 32,
    ).start()
    try:
        fake.wait_for(lambda: (fake.webhook() or {}).get("url") == url)
        patient = TelegramPatient(fake, 120)
        begin(patient)
        login_page = httpx.get(f"http://127.0.0.1:{unused_port}/login")
        assert login_page.status_code == 200 and "Staff log in" in login_page.text
        forged = {
            "update_id": 1,
            "message": {"message_id": 1, "date": 0, "chat": {"id": 120, "type": "private"}, "text": "/delete"},
        }
        assert fake.post_to_webhook(forged, secret="nope") == 403
    finally:
        assert bot.stop() == 0
