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
import sqlalchemy as sa
from starlette.testclient import TestClient
from support.fhir import checked_bundle
from support.patients import InProcessPatient
from support.staff import csrf_of, login, staff_store

from bot.channels.telegram.events import Chat
from bot.channels.telegram.runner import TurnRunner
from bot.engine import Engine
from bot.staff.accounts import Accounts
from bot.staff.exports import Exporter, load_intakes
from bot.staff.web import create_app
from bot.store import Store, utcnow
from bot.store import review as review_rows

SYMPTOMS_TOPIC = "Symptoms now after a recent injection"


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


def urgent_then_changed(skin: Engine, store: Store, chat_id: int = 5) -> InProcessPatient:
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
    return person


def routine_start(skin: Engine, store: Store, chat_id: int) -> InProcessPatient:
    person = patient(skin, store, chat_id)
    person.consent()
    person.tap("18 to 64")
    return person


def test_the_intake_page_says_when_why_and_that_the_answer_changed(skin: Engine, store: Store, app) -> None:
    intake_id = urgent_then_changed(skin, store).intake().id
    client = TestClient(app)
    login(client)
    page = client.get(f"/intakes/{intake_id}").text
    said = r"urgent text shown at \d{4}-\d\d-\d\d \d\d:\d\d UTC \((.*)\); answer later changed to No"
    line = re.search(said, page)
    assert line is not None and line.group(1).startswith(SYMPTOMS_TOPIC)


def test_the_json_export_and_the_api_carry_urgent_shown(skin: Engine, store: Store, app) -> None:
    intake_id = urgent_then_changed(skin, store).intake().id
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


# --------------------------------------------------------------------------- acknowledging, the list


def intake_row(store: Store, intake_id: int):
    with store.transaction(read_only=True) as tx:
        return tx.intake(intake_id)


def acknowledge(client: TestClient, intake_id: int):
    return client.post(f"/intakes/{intake_id}/acknowledge", data={"csrf": csrf_of(client, f"/intakes/{intake_id}")})


def test_acknowledge_records_who_and_when_and_an_audit_line(skin: Engine, store: Store, app) -> None:
    intake_id = urgent_then_changed(skin, store).intake().id
    plain = routine_start(skin, store, 6).intake().id
    assert intake_row(store, intake_id).urgent_pending  # the answer changed, still urgent for staff
    client = TestClient(app)
    login(client)
    page = client.get(f"/intakes/{intake_id}").text
    assert "not acknowledged yet" in page and ">Acknowledge</button>" in page
    assert client.post(f"/intakes/{intake_id}/acknowledge", data={"csrf": "forged"}).status_code == 403
    assert not intake_row(store, intake_id).acknowledged_at

    acknowledge(client, intake_id)
    row = intake_row(store, intake_id)
    assert row.acknowledged_by == "rita" and row.acknowledged_at >= row.urgent_shown_at
    assert not row.urgent_pending
    page = client.get(f"/intakes/{intake_id}").text
    assert "✓ acknowledged by rita" in page and ">Acknowledge</button>" not in page
    assert "urgent text shown at" in page  # the record itself stays

    acknowledge(client, plain)  # nothing urgent there: nothing to acknowledge, no audit line
    assert intake_row(store, plain).acknowledged_at is None
    with store.transaction(read_only=True) as tx:
        lines = [(r.actor, r.action, r.intake_id) for r in review_rows.audit_log(tx) if r.action == "acknowledge"]
    assert lines == [("rita", "acknowledge", intake_id)]


def test_a_turn_after_acknowledgement_does_not_clear_it_and_a_new_urgent_text_pins_again(
    skin: Engine, store: Store, app
) -> None:
    person = urgent_then_changed(skin, store)
    intake_id = person.intake().id
    client = TestClient(app)
    login(client)
    acknowledge(client, intake_id)
    seen = intake_row(store, intake_id)
    person.tap("No", expect="What would you like to improve?")  # the patient goes on
    row = intake_row(store, intake_id)
    assert (row.acknowledged_at, row.acknowledged_by) == (seen.acknowledged_at, "rita")
    assert row.urgent_shown_at == seen.urgent_shown_at and not row.urgent_pending

    person.command("/back")
    person.tap("Yes", expect="Please get emergency help now")  # signs of an allergic reaction now
    row = intake_row(store, intake_id)
    assert row.urgent_pending and row.acknowledged_by == "rita"  # shown again since: pinned again
    assert [s["flag"] for s in row.state["urgent_shown"]] == ["toxin_spread_now", "allergy_now"]


def test_the_list_pins_unacknowledged_urgent_then_human_then_high_flags(skin: Engine, store: Store, app) -> None:
    pending = urgent_then_changed(skin, store, 11).intake().id  # the oldest, yet first
    plain_old = routine_start(skin, store, 12).intake().id
    person = routine_start(skin, store, 13)
    high = person.intake().id
    for label in ("No, never", "No", "Large-looking pores", "Done", "Skip this question"):
        person.tap(label)
    person.tap(dict(skin.option_labels(skin.steps["pregnancy"], "en"))["breastfeeding"])
    assert "pregnancy" in intake_row(store, high).flags
    asking = routine_start(skin, store, 14)
    asking.command("/human")
    human = asking.intake().id
    seen = urgent_then_changed(skin, store, 15).intake().id
    plain_new = routine_start(skin, store, 16).intake().id
    client = TestClient(app)
    login(client)
    acknowledge(client, seen)

    # the work queue: the urgent text nobody acknowledged, then the /human request; the rest are
    # in progress (nothing for staff yet), the acknowledged one included (tests/test_queue.py)
    page = client.get("/").text
    assert [int(i) for i in dict.fromkeys(re.findall(r'href="/intakes/(\d+)\?at=', page))] == [pending, human]
    rows = re.findall(r'<tr class="([^"]+)"[^>]*>\s*<td><a href="/intakes/(\d+)', page)
    assert ("unreviewed urgent urgent-pending", str(pending)) in rows
    assert "⚠ urgent: not acknowledged" in page
    listing = client.get("/intakes").text
    rows = re.findall(r'<tr class="([^"]+)"[^>]*>\s*<td><a href="/intakes/(\d+)', listing)
    assert ("unreviewed urgent-acknowledged", str(seen)) in rows and "urgent, acknowledged by rita" in listing
    # the API lists as the full list does: by the flags raised now (the urgent answers of these two
    # were changed since), gravest first, then newest first
    token = Accounts(store).add_token("erp")
    answer = client.get("/api/intakes?sort=severity", headers={"Authorization": f"Bearer {token}"}).json()
    listed = {i["id"]: i for i in answer["intakes"]}
    assert next(iter(listed)) == high and set(listed) == {pending, plain_old, high, human, seen, plain_new}
    assert [i for i in listed if listed[i]["urgent_pending"]] == [pending]
    assert listed[seen]["acknowledged_by"] == "rita" and listed[seen]["urgent_shown_at"]


def test_migration_0007_pins_intakes_urgent_before_it_until_acknowledged(empty_database_url: str) -> None:
    """An urgent intake from before the record existed had an urgent text shown: pinned."""
    old = Store(empty_database_url)
    old.migrate("0006")
    now = utcnow()
    insert = sa.text(
        "INSERT INTO intakes (chat_id, flow_id, flow_version, language, status, urgent, flags, state,"
        " created_at, updated_at, completed_at, version)"
        " VALUES (:chat, 'f', '1', 'en', 'completed', :urgent, '[]', '{\"v\": 1}', :now, :now, :now, 0) RETURNING id"
    )
    with old.engine.begin() as conn:
        urgent = conn.execute(insert, {"chat": 1, "urgent": True, "now": now}).scalar_one()
        calm = conn.execute(insert, {"chat": 2, "urgent": False, "now": now}).scalar_one()
    old.close()
    store = Store.open(empty_database_url)
    try:
        assert intake_row(store, urgent).urgent_shown_at == now and intake_row(store, urgent).urgent_pending
        assert intake_row(store, calm).urgent_shown_at is None and not intake_row(store, calm).urgent_pending
    finally:
        store.close()
