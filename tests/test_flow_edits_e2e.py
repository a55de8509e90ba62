"""The bot as a process, restarted on a flow that lost the step a patient is on (over the fake
Telegram server, two process lifetimes, on SQLite and PostgreSQL): the patient finishes that step
on the version they began on, a new patient begins on the new one, and /delete still erases."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from support.bot_process import BotProcess
from support.databases import db_rows, postgres_rows
from support.default_flow import Q_CONCERNS, Q_SKIN_TYPE, to_safety_question
from support.edited_flows import edited_file, without_step
from support.patients import TelegramPatient

pytestmark = pytest.mark.e2e  # the bot runs as a process, twice

FLOW_CHANGED = "We have updated this questionnaire since you began"


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, db_path: Path) -> tuple[str, Callable[[str], list[tuple]]]:
    """The bot's database URL, and how the test reads rows of it (outside the bot)."""
    if request.param == "sqlite":
        return f"sqlite:///{db_path}", lambda sql: db_rows(db_path, sql)
    url = request.getfixturevalue("postgres_url")
    return url, lambda sql: postgres_rows(url, sql)


def test_a_patient_on_a_step_the_restarted_bot_lost_finishes_it_on_their_version_and_can_erase_everything(
    fake, database: tuple[str, Callable[[str], list[tuple]]], tmp_path: Path
) -> None:
    database, rows = database
    patient = TelegramPatient(fake, 301)
    bot = BotProcess(fake, database).start()
    try:
        to_safety_question(patient)
        patient.tap("No", expect=Q_CONCERNS)
        patient.tap("Large-looking pores")
        patient.tap("Done", expect=Q_SKIN_TYPE)
    finally:
        assert bot.stop() == 0
    bot = BotProcess(fake, database, flow=str(edited_file(tmp_path, without_step("skin_type")))).start()
    try:
        patient.tap("Always burns, never tans", expect="Are you pregnant")  # their own version's question
        newcomer = TelegramPatient(fake, 302)
        to_safety_question(newcomer)
        newcomer.tap("No", expect=Q_CONCERNS)
        newcomer.tap("Large-looking pores")
        newcomer.tap("Done", expect="Are you pregnant")  # the new version: no skin type question
        patient.command("/delete", expect="Erase everything stored about you")
        patient.tap("Yes, erase everything")
        fake.wait_for(lambda: "has been erased" in fake.messages(301)[-1]["text"])
    finally:
        assert bot.stop() == 0
    assert not any(FLOW_CHANGED in (m.get("text") or "") for m in fake.messages(301))
    assert "Traceback" not in bot.read() and "failed" not in bot.read(), bot.read()
    assert rows("SELECT chat_id, flow_version FROM intakes") == [(302, "edited")]  # 301's erased
    assert rows("SELECT version FROM flow_versions ORDER BY first_run_at") == [("1.0",), ("edited",)]
