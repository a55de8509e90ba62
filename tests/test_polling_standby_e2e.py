"""A standby for polling mode (issue 15, section 2): two ``python -m bot serve`` processes polling
the fake Telegram server on one PostgreSQL. One holds the lead and polls; the other stands by,
serving the staff web app. The leader is SIGKILLed just after a patient's answer went out: the
standby takes over within 10 seconds, and every answer is applied once, none lost.
"""

from __future__ import annotations

import json
import time
import urllib.request

import pytest
from support.bot_process import BotProcess, free_port
from support.databases import postgres_rows
from support.default_flow import Q_ALLERGY_NOW, Q_CONCERNS, Q_TOXIN
from support.fake_telegram import FakeTelegram
from support.patients import TelegramPatient

pytestmark = pytest.mark.e2e


def polling_serve(fake: FakeTelegram, url: str) -> BotProcess:
    return BotProcess(
        fake, url, command="serve", WEB_LISTEN="127.0.0.1", WEB_PORT=str(free_port()), SECRET_KEY="s" * 40
    )


def web_answers(process: BotProcess) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{process.env['WEB_PORT']}/login", timeout=2) as answer:
            return answer.status == 200
    except OSError:
        return False


def role(process: BotProcess) -> str | None:
    """What the process's /readyz says it is: leader, follower or single (None: no answer)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{process.env['WEB_PORT']}/readyz", timeout=3) as answer:
            return json.loads(answer.read())["checks"]["role"]
    except OSError:
        return None


def test_the_standby_takes_over_within_ten_seconds_and_nothing_is_lost_or_applied_twice(
    fake: FakeTelegram, postgres_url: str
) -> None:
    leader = polling_serve(fake, postgres_url)
    standby = polling_serve(fake, postgres_url)
    try:
        leader.start()
        fake.wait_for(lambda: "holds the lead" in leader.read())
        standby.start()
        fake.wait_for(lambda: "standing by" in standby.read())
        assert web_answers(standby)  # a standby still serves the staff
        assert (role(leader), role(standby)) == ("leader", "follower")

        patient = TelegramPatient(fake, 5150)
        sent = [patient.command("/start website", expect="automated assistant")]
        sent.append(patient.tap("Continue", expect="Before we start"))
        sent.append(patient.tap("I agree", expect="How old are you"))
        sent.append(patient.tap("18 to 64", expect=Q_TOXIN))
        # An answer on its way, then the leader killed: fetched or not, committed or not,
        # confirmed or not, it must be applied exactly once (unconfirmed, it comes again to the
        # standby; committed already, its turn there is refused as a redelivery).
        sent.append(fake.press_button(patient.chat_id, "No, never", **patient.user()))
        time.sleep(0.05)
        leader.kill()
        killed_at = time.monotonic()
        patient.expect(Q_ALLERGY_NOW, timeout=15)
        sent.append(patient.tap("No", expect=Q_CONCERNS))  # only the standby can apply this one
        took_over = time.monotonic() - killed_at
        sent.append(patient.tap("Large-looking pores"))
        sent.append(patient.tap("Done", expect="react to the sun"))
        assert "holds the lead" in standby.read()
        assert role(standby) == "leader"
    finally:
        leader.stop()
        standby.stop()

    assert took_over < 10, f"the standby answered {took_over:.1f} s after the leader's death"
    applied = postgres_rows(
        postgres_url, "SELECT update_id FROM messages WHERE chat_id = %s AND direction = 'in' ORDER BY id", 5150
    )
    assert [update for (update,) in applied] == sent  # each once, in order, none lost
    [(state,)] = postgres_rows(postgres_url, "SELECT state FROM intakes WHERE chat_id = %s", 5150)
    answers = (json.loads(state) if isinstance(state, str) else state)["answers"]
    assert answers["age_band"] == "from_18_to_64" and answers["toxin_last_time"] == "never"
    assert answers["allergy_signs_now"] == "no" and answers["skin_concerns"] == ["large_pores"]
    assert "Traceback" not in standby.output, standby.output
    assert "standing by" in standby.output and "holds the lead" in standby.output
