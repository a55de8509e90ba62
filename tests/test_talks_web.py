"""The conversation panel on the intake page and the clinic API's messages, in-process (Starlette's
test client over the real app, a real SQLite file, real turns writing the patient's side)."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa
from starlette.testclient import TestClient
from support.patients import InProcessPatient
from support.staff import csrf_of, login, staff_store

from bot.channels.telegram.events import Chat
from bot.channels.telegram.runner import TurnRunner
from bot.engine import Engine
from bot.staff.accounts import Accounts
from bot.staff.web import create_app
from bot.store import Store


@pytest.fixture()
def store(sqlite_url: str) -> Store:
    store = staff_store(sqlite_url)
    Accounts(store).set_display_name("rita", "Rita <Nurse>")
    return store


@pytest.fixture()
def app(skin: Engine, store: Store):
    return create_app(skin, store, secret_key="test-secret-key")


def patient_in_talk(skin: Engine, store: Store, chat: Chat | None = None) -> InProcessPatient:
    patient = InProcessPatient(TurnRunner(skin, store), chat or Chat(7, 7, "Eve", None, "eve", "en"))
    patient.command("/start")
    for label in ("Continue", "I agree") if chat is None else ("Weiter", "Ich stimme zu"):
        patient.tap(label)
    patient.command("/human")
    patient.type("<script>alert('x')</script> is ibuprofen OK?")
    return patient


def test_the_panel_shows_the_talk_and_a_staff_message_is_stored_signed(skin: Engine, store: Store, app) -> None:
    patient = patient_in_talk(skin, store)
    intake_id = patient.intake().id
    client = TestClient(app)
    login(client)
    page = client.get(f"/intakes/{intake_id}").text
    assert 'id="talk"' in page and "Waiting for an answer from us since" in page
    assert "&lt;script&gt;alert(" in page and "<script>alert(" not in page  # escaped
    assert "— Rita &lt;Nurse&gt;, Example Skin Clinic" in page  # the signature, never the login name
    assert '<script src="/static/talk.js"></script>' in page and "Please call us" in page  # a saved reply
    assert client.get("/static/talk.js").status_code == 200
    csrf = csrf_of(client, f"/intakes/{intake_id}")
    forged = client.post(f"/intakes/{intake_id}/talk/messages", data={"text": "hi"}, follow_redirects=False)
    assert forged.status_code == 403  # no CSRF token: refused
    sent = client.post(f"/intakes/{intake_id}/talk/messages", data={"text": "Yes, <b>that</b> is fine.", "csrf": csrf})
    assert sent.status_code == 200
    assert patient.outbox()[-1]["text"] == (
        "Yes, <b>that</b> is fine.\n\n(Reply here to answer. /resume goes back to the questions.)"
        "\n\n— Rita <Nurse>, Example Skin Clinic"
    )
    page = client.get(f"/intakes/{intake_id}").text
    assert "Yes, &lt;b&gt;that&lt;/b&gt; is fine." in page and "Waiting for an answer" not in page
    assert 'data-state="queued"' in page
    assert "Hand back to the questionnaire" in page  # in progress: the questions can go on
    long = client.post(f"/intakes/{intake_id}/talk/messages", data={"text": "x" * 4096, "csrf": csrf})
    assert "too long for one Telegram message" in long.text
    client.post(f"/intakes/{intake_id}/talk/end", data={"ending": "close", "csrf": csrf})
    assert patient.intake().talk_id is None
    assert patient.outbox()[-1]["text"].startswith("The clinic team has ended this conversation")
    page = client.get(f"/intakes/{intake_id}").text
    assert "Start a conversation" in page and "Hand back" not in page
    assert re.search(r"Opened [0-9-]+ [0-9:]+ UTC by the patient; ended [0-9-]+ [0-9:]+ UTC by rita: closed", page)
    client.post(f"/intakes/{intake_id}/talk/start", data={"csrf": csrf})
    assert patient.intake().talk_id is not None


def test_staff_messages_are_rate_limited_per_member(skin: Engine, store: Store, app) -> None:
    intake_id = patient_in_talk(skin, store).intake().id
    client = TestClient(app)
    login(client)
    csrf = csrf_of(client, f"/intakes/{intake_id}")
    for number in range(10):
        answer = client.post(f"/intakes/{intake_id}/talk/messages", data={"text": f"{number}", "csrf": csrf})
        assert "Too many messages" not in answer.text
    answer = client.post(f"/intakes/{intake_id}/talk/messages", data={"text": "one more", "csrf": csrf})
    assert "Too many messages in a minute" in answer.text
    adam = TestClient(app)
    login(adam, "adam")
    csrf = csrf_of(adam, f"/intakes/{intake_id}")
    answer = adam.post(f"/intakes/{intake_id}/talk/messages", data={"text": "from adam", "csrf": csrf})
    assert "Too many messages" not in answer.text


def test_the_api_writes_with_a_message_token_and_refuses_a_read_only_one(skin: Engine, store: Store, app) -> None:
    patient = patient_in_talk(skin, store, Chat(8, 8, "Grete", None, "grete", "de"))
    intake_id = patient.intake().id
    accounts = Accounts(store)
    reader = {"Authorization": f"Bearer {accounts.add_token('erp')}"}
    writer = {"Authorization": f"Bearer {accounts.add_token('desk', ['read', 'message'])}"}
    client = TestClient(app)
    refused = client.post(f"/api/intakes/{intake_id}/messages", json={"text": "Hallo"}, headers=reader)
    assert refused.status_code == 403
    first = client.get(f"/api/intakes/{intake_id}/messages", headers=reader).json()["messages"]
    assert [(m["from"], m["state"]) for m in first] == [("patient", "received")]
    made = client.post(f"/api/intakes/{intake_id}/messages", json={"text": "Nein, lieber Paracetamol."}, headers=writer)
    assert made.status_code == 201 and made.json()["state"] == "queued"
    assert patient.outbox()[-1]["text"].endswith("— Ihr Team von Example Skin Clinic")  # German, the clinic's name
    since = client.get(f"/api/intakes/{intake_id}/messages?after={first[-1]['id']}", headers=reader).json()
    assert [(m["from"], m["sender"], m["id"]) for m in since["messages"]] == [
        ("staff", "token:desk", made.json()["id"])
    ]
    assert client.post(f"/api/intakes/{intake_id}/messages", json={"text": ""}, headers=writer).status_code == 400
    assert (
        client.post(f"/api/intakes/{intake_id}/messages", json={"text": "x" * 5000}, headers=writer).status_code == 400
    )
    assert client.post("/api/intakes/999/messages", json={"text": "hi"}, headers=writer).status_code == 404
    assert client.get(f"/api/intakes/{intake_id}/messages?after=x", headers=reader).status_code == 400
    one = client.get(f"/api/intakes/{intake_id}", headers=reader).json()
    assert one["conversation_open"] is True and one["waiting_since"] is None  # answered by the token
    assert one["transcript"][-1]["sender"] == "token:desk"
    with store.transaction() as tx:
        actions = [r.action for r in tx.conn.execute(sa.text("SELECT action FROM audit"))]
    assert "message" in actions
    spec = client.get("/api/openapi.json", headers=reader).json()
    assert set(spec["paths"]["/api/intakes/{intake_id}/messages"]) >= {"get", "post"}


def test_the_page_shows_a_staff_message_in_the_transcript_with_its_sender(skin: Engine, store: Store, app) -> None:
    intake_id = patient_in_talk(skin, store).intake().id
    client = TestClient(app)
    login(client)
    csrf = csrf_of(client, f"/intakes/{intake_id}")
    client.post(f"/intakes/{intake_id}/talk/messages", data={"text": "Hello from the clinic", "csrf": csrf})
    page = client.get(f"/intakes/{intake_id}").text
    exported = client.get("/export?format=json").json()
    [(intake, messages)] = [(i["id"], i["messages"]) for i in exported]
    assert intake == intake_id and [(m["from"], m["sender"]) for m in messages] == [
        ("patient", None),
        ("staff", "Rita <Nurse>"),
    ]
    transcript = page.split("<h2>Transcript</h2>")[1]
    assert re.search(r'<span class="who">Rita &lt;Nurse&gt;</span>.*?Hello from the clinic', transcript, re.S)


def test_the_panel_in_german_for_a_german_member(skin: Engine, store: Store, app) -> None:
    intake_id = patient_in_talk(skin, store).intake().id
    Accounts(store).set_language("rita", "de")
    client = TestClient(app)
    login(client)
    page = client.get(f"/intakes/{intake_id}").text
    assert "Gespräch mit der Patientin oder dem Patienten" in page and "Zurück zum Fragebogen" in page
    assert 'data-word-sent="gesendet"' in page  # the words the live script writes, in German too
    assert "Please call us" in page  # saved replies stay in the patient's language (English here)


def test_a_finished_intake_can_be_talked_to_and_closed_but_not_handed_back(skin: Engine, store: Store, app) -> None:
    patient = InProcessPatient(TurnRunner(skin, store), Chat(9, 9, "Sam", None, "sam", "en"))
    patient.command("/start")
    for label in ("Continue", "I agree", "Under 18"):
        patient.tap(label)
    intake_id = patient.intake().id
    client = TestClient(app)
    login(client)
    csrf = csrf_of(client, f"/intakes/{intake_id}")
    client.post(f"/intakes/{intake_id}/talk/messages", data={"text": "A follow-up question", "csrf": csrf})
    page = client.get(f"/intakes/{intake_id}").text
    assert ">Close</button>" in page and "Hand back to the questionnaire" not in page
    assert patient.type("Yes?").outgoing[-1].payload["text"].startswith("Your message has been passed on")
    assert patient.intake().status == "completed"  # the intake stays as it was


def test_a_member_sets_the_name_patients_read_on_the_settings_page(skin: Engine, store: Store, app) -> None:
    intake_id = patient_in_talk(skin, store).intake().id
    client = TestClient(app)
    login(client, "adam")
    page = client.get("/settings").text
    assert 'name="display_name"' in page
    csrf = csrf_of(client, "/settings")
    refused = client.post("/settings/display-name", data={"display_name": "  ", "csrf": csrf})
    assert "A name has 1 to 64 printable characters." in refused.text
    assert client.post("/settings/display-name", data={"display_name": "Dr. Adam"}).status_code == 403  # CSRF
    client.post("/settings/display-name", data={"display_name": "Dr.  Adam", "csrf": csrf})
    assert 'value="Dr. Adam"' in client.get("/settings").text
    page = client.get(f"/intakes/{intake_id}").text
    assert "— Dr. Adam, Example Skin Clinic" in page  # the signature the box shows
