"""Exports: CSV, JSON and FHIR R4 (validated with fhir.resources' R4B models)."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from support.default_flow import ROUTINE, routine
from support.fhir import checked_bundle
from support.patients import InProcessPatient

from bot.channels.telegram.events import Chat
from bot.channels.telegram.runner import TurnRunner
from bot.engine import Engine
from bot.flow import model
from bot.staff.exports import Exporter, load_intakes
from bot.store import Store


@pytest.fixture()
def filled(skin: Engine, sqlite_url: str) -> Store:
    """Four intakes of the default flow: routine, flagged (German), declined, and in progress."""
    store = Store(sqlite_url)
    turns = TurnRunner(skin, store)

    def play(chat_id: int, script: list[tuple[str, str]], lang: str = "en", finish: bool = True) -> None:
        patient = InProcessPatient(turns, Chat(chat_id, chat_id, f"P{chat_id}", None, None, lang))
        engine = turns.engine
        patient.command("/start website")
        patient.tap(engine.message(lang, "continue"))
        for op, arg in script[1:]:
            with store.transaction() as tx:
                conv_state = tx.current_intake(chat_id).state["state"]
            step = engine.steps[conv_state]
            if op == "choose":
                label = dict(engine.option_labels(step, lang))[arg]
                patient.tap(label)
                if isinstance(step, model.MultiQuestion):
                    patient.tap(engine.message(lang, "done"))
            else:
                patient.type(arg)
        if finish:
            patient.tap(engine.message(lang, "confirm"))

    play(1, ROUTINE)
    flagged = routine("de")
    flagged[7] = ("choose", "breastfeeding")
    play(2, flagged, lang="de")
    patient = InProcessPatient(turns, Chat(3, 3, "P3", None, None, "en"))
    patient.command("/start")
    patient.tap("Continue")
    patient.tap("No thanks")
    play(4, ROUTINE[:8], finish=False)
    return store


def test_json_export_has_answers_flags_and_ending(skin: Engine, filled: Store) -> None:
    data = json.loads("".join(Exporter(skin).chunks("json", [load_intakes(filled)])))
    assert [d["status"] for d in data] == ["completed", "completed", "declined", "in_progress"]
    first = data[0]
    assert first["outcome"] == "routine" and first["source"] == "website" and first["flags"] == []
    age = next(a for a in first["answers"] if a["question_id"] == "age_band")
    assert age == {
        "question_id": "age_band",
        "question": "How old are you?",
        "value": "from_18_to_64",
        "display": "18 to 64",
    }
    assert data[1]["flags"] == [
        {"id": "pregnancy", "severity": "high", "topic": "Pregnancy, trying to get pregnant, or breastfeeding"}
    ]
    assert data[1]["language"] == "de" and data[1]["outcome"] == "points_to_discuss"
    # the ending in words for staff, in the flow's default language like the flags' topics
    assert first["outcome_topic"] == "Completed, no points to discuss"
    assert data[1]["outcome_topic"] == "Completed, with points to discuss at the consultation"
    assert data[2]["outcome_topic"] == "Consent declined: nothing stored"
    assert data[3]["outcome"] is None and data[3]["outcome_topic"] is None
    assert [a["question_id"] for a in data[2]["answers"]] == ["consent"]  # declined: nothing else kept


def test_csv_export_has_one_row_per_intake_and_one_column_per_question(skin: Engine, filled: Store) -> None:
    rows = list(csv.reader(io.StringIO("".join(Exporter(skin).chunks("csv", [load_intakes(filled)])))))
    header, body = rows[0], rows[1:]
    questions = [s.id for s in skin.flow.steps if isinstance(s, (*model.QUESTION_TYPES, model.ConsentStep))]
    person = ["first_name", "last_name", "username", "telegram_user_id"]
    # new columns only ever at the end: an import reading columns by position still finds these
    assert header[:3] == ["id", "status", "outcome"] and header[11 : 11 + len(questions)] == questions
    assert header[11 + len(questions) :] == [
        "not_in_questionnaire",
        "urgent_shown",
        *person,
        "outcome_topic",
        "flag_topics",
        "booking_tapped_at",
        "booking_taps",
        "booking_nudged_at",
        "flow_version",  # the version it began on, and its answers to questions the newest one lacks
        "answers_of_its_version",
    ]
    assert len(body) == 4
    first = dict(zip(header, body[0], strict=True))
    assert first["age_band"] == "18 to 64" and first["skin_concerns"] == "Large-looking pores, Oily skin or shine"
    assert first["skin_type"] == ""  # skipped
    flagged = dict(zip(header, body[1], strict=True))
    assert flagged["flags"] == "pregnancy"
    # the ending and the flags in words, in the flow's default language (as the JSON says them)
    assert first["outcome"] == "routine" and first["outcome_topic"] == "Completed, no points to discuss"
    assert flagged["outcome_topic"] == "Completed, with points to discuss at the consultation"
    assert flagged["flag_topics"] == "high: Pregnancy, trying to get pregnant, or breastfeeding"
    assert dict(zip(header, body[3], strict=True))["outcome_topic"] == ""  # still in progress
    # a row can be matched to a person: who they are on Telegram
    assert first["first_name"].startswith("P") and first["telegram_user_id"] == first["first_name"][1:]


def test_fhir_export_validates_and_fits_its_questionnaire(skin: Engine, filled: Store) -> None:
    bundle = json.loads("".join(Exporter(skin).chunks("fhir", [load_intakes(filled)])))
    questionnaire, responses = checked_bundle(bundle)
    assert len(responses) == 4
    for response in responses:
        assert response["questionnaire"] == f"{questionnaire['url']}|{questionnaire['version']}"
    routine_response, flagged = responses[0], responses[1]
    linked = {i["linkId"] for i in routine_response["item"]}
    assert "sweat_areas" not in linked and "line_areas" not in linked  # hidden by skip logic: absent
    assert "skin_type" not in linked  # skipped: absent
    outcome = next(e for e in routine_response["extension"] if e["url"].endswith("intake-outcome"))
    assert outcome["valueCoding"] == {"code": "routine", "display": "Completed, no points to discuss"}
    flag = next(e for e in flagged["extension"] if e["url"].endswith("intake-flag"))
    assert {"url": "code", "valueCode": "pregnancy"} in flag["extension"]
    assert routine_response["status"] == "completed" and responses[3]["status"] == "in-progress"


def test_fhir_responses_say_who_answered(skin: Engine, filled: Store) -> None:
    """Each response's subject and source is the person on Telegram, a Patient contained in it."""
    turns = TurnRunner(skin, filled)
    patient = InProcessPatient(turns, Chat(9, 9009, "Jürgen", "Müller", "jmueller", "de"))
    patient.command("/start")
    bundle = json.loads("".join(Exporter(skin).chunks("fhir", [load_intakes(filled)])))
    _questionnaire, responses = checked_bundle(bundle)  # fhir.resources validates the Patient too
    assert len(responses) == 5
    for response in responses:
        assert response["subject"] == response["source"] == {"reference": "#patient"}
    first = responses[0]["contained"]
    assert first == [
        {
            "resourceType": "Patient",
            "id": "patient",
            "identifier": [
                {
                    "type": {"text": "Telegram user id"},
                    "system": "https://core.telegram.org/bots/api#user",
                    "value": "1",
                }
            ],
            "name": [{"text": "P1", "given": ["P1"]}],
        }
    ]
    (juergen,) = responses[4]["contained"]
    assert juergen["name"] == [{"text": "Jürgen Müller", "family": "Müller", "given": ["Jürgen"]}]
    assert [(i["system"], i["value"]) for i in juergen["identifier"]] == [
        ("https://core.telegram.org/bots/api#user", "9009"),
        ("https://t.me", "jmueller"),
    ]


def test_export_command_writes_each_format(cli, filled: Store, tmp_path: Path) -> None:
    env = {"DATABASE_URL": filled.url, "PATH": "/usr/bin:/bin"}
    for fmt in ("csv", "json", "fhir"):
        out = tmp_path / f"export.{fmt}"
        result = cli("export", "--format", fmt, "--out", str(out), "--since", "2000-01-01", env=env)
        assert result.returncode == 0, result.stderr
        assert out.stat().st_size > 100
    result = cli("export", "--since", "yesterday", env=env)
    assert result.returncode == 2 and "is not a date" in result.stderr
    future = cli("export", "--format", "json", "--since", "2999-01-01", env=env)
    assert json.loads(future.stdout) == []


def test_the_export_command_writes_every_intake_past_a_batch(
    cli, skin: Engine, sqlite_url: str, tmp_path: Path
) -> None:
    """Issue 11: the command exports a batch of intakes at a time (EXPORT_BATCH); more than two
    batches come out whole, each intake once, in every format (the old code's cut-off was a fixed
    page size no test could reach; what a test can reach is the batches' seams)."""
    from bot.staff.review import EXPORT_BATCH
    from bot.store import Intake, utcnow

    store = Store(sqlite_url)
    count = EXPORT_BATCH * 2 + 7
    now = utcnow()
    with store.transaction() as tx:
        for chat in range(count):
            state = skin.start("en").to_dict()
            tx.create_intake(
                Intake(0, 2000 + chat, skin.flow.id, skin.flow.version, "en", "completed", state, now, now)
            )
    env = {"DATABASE_URL": store.url, "PATH": "/usr/bin:/bin"}
    found = {}
    for fmt in ("csv", "json", "fhir"):
        out = tmp_path / f"export.{fmt}"
        result = cli("export", "--format", fmt, "--out", str(out), env=env)
        assert result.returncode == 0, result.stderr
        text = out.read_text(encoding="utf-8")
        if fmt == "csv":
            found[fmt] = [int(row[0]) for row in list(csv.reader(io.StringIO(text)))[1:]]
        elif fmt == "json":
            found[fmt] = [item["id"] for item in json.loads(text)]
        else:
            entries = json.loads(text)["entry"][1:]
            found[fmt] = [int(e["resource"]["id"].removeprefix("intake-")) for e in entries]
    assert len(found["csv"]) == count and len(set(found["csv"])) == count
    assert found["csv"] == found["json"] == found["fhir"]


def test_csv_cells_cannot_run_as_spreadsheet_formulas(skin: Engine, sqlite_url: str) -> None:
    from bot.store import Intake, utcnow

    store = Store(sqlite_url)
    now = utcnow()
    state = {
        "v": 1,
        "flow": "skin_botox",
        "state": "review_answers",
        "lang": "en",
        "answers": {"consent": "agree", "goal_text": '=HYPERLINK("http://evil.example","click")'},
    }
    with store.transaction() as tx:
        tx.create_intake(Intake(0, 9, "skin_botox", "1.0", "en", "in_progress", state, now, now, source="@SUM(A1)"))
    row = list(csv.reader(io.StringIO("".join(Exporter(skin).chunks("csv", [load_intakes(store)])))))[1]
    assert '\'=HYPERLINK("http://evil.example","click")' in row
    assert "'@SUM(A1)" in row
    assert not any(cell[:1] in "=+@" for cell in row if cell)
