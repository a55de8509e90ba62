"""Urgent texts shown, as staff meet them (issue 12, section 2): the intake page, the JSON export,
the clinic API and FHIR carry ``urgent_shown`` even after the answer behind it was changed.

A real store (SQLite file and PostgreSQL), turns made as the channel makes them, and the real web
app through Starlette's test client.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient
from support.fhir import checked_bundle
from support.patients import InProcessPatient
from support.staff import login, staff_store

from bot.channels.telegram.events import Chat
from bot.channels.telegram.runner import TurnRunner
from bot.engine import Engine
from bot.staff.accounts import Accounts
from bot.staff.exports import Exporter, load_intakes
from bot.staff.web import create_app
from bot.store import Store

SYMPTOMS_TOPIC = "Trouble swallowing, breathing or speaking, drooping eyelids, double vision or weakness"


@pytest.fixture()
def store(database_url: str) -> Iterator[Store]:
    store = staff_store(database_url)
    yield store
    store.close()


@pytest.fixture()
def app(skin: Engine, store: Store):
    return create_app(skin, store, secret_key="test-secret-key")


def patient(skin: Engine, store: Store, chat_id: int, lang: str = "en") -> InProcessPatient:
    return InProcessPatient(TurnRunner(skin, store), Chat(chat_id, chat_id, f"P{chat_id}", None, None, lang))


def urgent_then_changed(skin: Engine, store: Store, chat_id: int = 5) -> int:
    """Symptoms now after a recent injection: the urgent ending; then back, and the answer changed
    to No. The intake is in progress again, no longer urgent by its answers."""
    person = patient(skin, store, chat_id)
    person.consent()
    person.tap("18 to 64")
    person.tap("Yes, in the last 4 weeks")
    person.tap("Yes", expect="Please get medical help now")
    person.command("/back")
    person.tap("Yes, change that answer")
    person.tap("No", expect="A quick safety question")
    return person.intake().id


def routine_start(skin: Engine, store: Store, chat_id: int) -> int:
    person = patient(skin, store, chat_id)
    person.consent()
    person.tap("18 to 64")
    return person.intake().id


def test_the_intake_page_says_when_why_and_that_the_answer_changed(skin: Engine, store: Store, app) -> None:
    intake_id = urgent_then_changed(skin, store)
    client = TestClient(app)
    login(client)
    page = client.get(f"/intakes/{intake_id}").text
    said = r"urgent text shown at \d{4}-\d\d-\d\d \d\d:\d\d UTC \(([^)]*)\); answer later changed to No"
    line = re.search(said, page)
    assert line is not None and line.group(1).startswith(SYMPTOMS_TOPIC)


def test_the_json_export_and_the_api_carry_urgent_shown(skin: Engine, store: Store, app) -> None:
    intake_id = urgent_then_changed(skin, store)
    routine_start(skin, store, 6)
    data = json.loads("".join(Exporter(skin).chunks("json", [load_intakes(store)])))
    shown = data[0]["urgent_shown"]
    assert [(s["flag"], s["outcome"]) for s in shown] == [("toxin_spread_now", "urgent_care")]
    assert shown[0]["reason"].startswith(SYMPTOMS_TOPIC) and shown[0]["at"].startswith("20")
    assert shown[0]["answers"] == [
        {
            "question_id": "toxin_symptoms_now",
            "question": skin.text(skin.steps["toxin_symptoms_now"].ask, "en"),
            "value": "yes",
            "display": "Yes",
            "value_now": "no",
            "display_now": "No",
            "changed": True,
        }
    ]
    assert data[0]["urgent"] is False and data[1]["urgent_shown"] == []

    token = Accounts(store).add_token("erp")
    client = TestClient(app)
    headers = {"Authorization": f"Bearer {token}"}
    assert client.get(f"/api/intakes/{intake_id}", headers=headers).json()["urgent_shown"] == shown
    listed = {i["id"]: i for i in client.get("/api/intakes", headers=headers).json()["intakes"]}
    assert listed[intake_id]["urgent_shown"] == shown
    spec = client.get("/api/openapi.json", headers=headers).json()
    assert "urgent_shown" in spec["components"]["schemas"]["IntakeSummary"]["properties"]
    assert spec["components"]["schemas"]["UrgentShown"]["properties"]["reason"]["type"] == "string"


def test_csv_says_it_in_words(skin: Engine, store: Store) -> None:
    urgent_then_changed(skin, store)
    rows = list(csv.DictReader(io.StringIO("".join(Exporter(skin).chunks("csv", [load_intakes(store)])))))
    assert rows[0]["urgent_shown"].startswith("urgent text shown at ")
    assert rows[0]["urgent_shown"].endswith("; answer later changed to No")


def test_fhir_carries_it_as_a_valid_extension(skin: Engine, store: Store) -> None:
    urgent_then_changed(skin, store)
    bundle = json.loads("".join(Exporter(skin).chunks("fhir", [load_intakes(store)])))
    _, [response] = checked_bundle(bundle)  # validated with fhir.resources R4B
    [extension] = [e for e in response["extension"] if e["url"].endswith("/intake-urgent-shown")]
    parts = {p["url"]: p for p in extension["extension"]}
    assert parts["flag"]["valueCode"] == "toxin_spread_now" and parts["outcome"]["valueCode"] == "urgent_care"
    assert parts["reason"]["valueString"].startswith(SYMPTOMS_TOPIC) and "valueDateTime" in parts["at"]
    assert parts["answer"]["extension"] == [
        {"url": "linkId", "valueString": "toxin_symptoms_now"},
        {"url": "value", "valueString": "Yes"},
        {"url": "valueNow", "valueString": "No"},
    ]


def test_a_german_intake_and_a_restart_say_withdrawn(skin: Engine, store: Store) -> None:
    person = patient(skin, store, 8, "de")
    person.command("/start")
    for label in ("Weiter", "Ich stimme zu", "18 bis 64", "Ja, in den letzten 4 Wochen", "Ja"):
        person.tap(label)
    person.command("/back", expect="Sie haben uns gesagt, dass Sie diese Beschwerden jetzt haben")
    person.tap("Ja, Antwort ändern")
    person.command("/restart")
    person.tap("Ja, neu beginnen")
    [intake] = load_intakes(store)
    [shown] = Exporter(skin).urgent_shown(intake)
    assert shown["answers"][0]["display"] == "Ja" and shown["answers"][0]["value_now"] is None
    assert Exporter(skin).urgent_sentence(shown).endswith("; answer later withdrawn")
