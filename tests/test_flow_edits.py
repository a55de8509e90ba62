"""A flow edited between restarts, under intakes in flight: nobody is stranded, nothing crashes.

Each test runs a patient into a state with the default flow, then goes on with a bot restarted on
an edited copy (support.edited_flows): the step they are on taken out, a question they answered
retyped to a number, a choice they picked removed. On SQLite and PostgreSQL.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta
from pathlib import Path

import pytest
from starlette.testclient import TestClient
from support.default_flow import (
    GOAL_TO_SUMMARY,
    Q_CONCERNS,
    Q_GOAL,
    Q_SKIN_TYPE,
    ROUTINE,
    SAFETY_TO_GOAL,
    begin,
    to_safety_question,
)
from support.edited_flows import edited, retyped_to_number, without_choice, without_step
from support.fhir import checked_bundle
from support.patients import ADA, InProcessPatient
from support.staff import PASSWORD, login
from support.turns import apply, remind

from bot.channels.telegram.events import Chat, Event
from bot.channels.telegram.runner import TurnRunner
from bot.engine import Engine
from bot.flow.graph import fits
from bot.staff.accounts import Accounts
from bot.staff.exports import NOT_IN_QUESTIONNAIRE, Exporter, load_intakes
from bot.staff.web import create_app
from bot.store import Store, utcnow

FLOW_CHANGED = "We have updated this questionnaire since you began"
Q_PREGNANT = "Are you pregnant"
Q_EVENT = "special event"
Q_EXPECTATION = "What kind of result"


@pytest.fixture()
def patient(skin: Engine, store: Store) -> InProcessPatient:
    """A patient of the default flow (``restart_on`` moves them onto an edited one)."""
    return InProcessPatient(TurnRunner(skin, store))


def restart_on(patient: InProcessPatient, engine: Engine) -> None:
    """The bot restarted on ``engine``'s flow: a new runner, nothing kept in memory."""
    patient.turns = TurnRunner(engine, patient.turns.store)


def to_skin_type(patient: InProcessPatient) -> None:
    to_safety_question(patient)
    patient.tap("No", expect=Q_CONCERNS)
    patient.tap("Large-looking pores")
    patient.tap("Done", expect=Q_SKIN_TYPE)


def state(patient: InProcessPatient) -> dict:
    return patient.intake().state


# --------------------------------------------------------------------------- the step they are on, taken out


@pytest.fixture()
def no_skin_type(tmp_path: Path) -> Engine:
    return edited(tmp_path, without_step("skin_type"))


@pytest.fixture()
def stranded(patient: InProcessPatient, no_skin_type: Engine) -> InProcessPatient:
    """A patient at the skin type question, and the bot restarted on a flow without it."""
    to_skin_type(patient)
    restart_on(patient, no_skin_type)
    return patient


def test_delete_erases_an_intake_whose_step_the_flow_lost(stranded: InProcessPatient) -> None:
    patient = stranded
    patient.command("/delete", expect="Erase everything stored about you")
    result = patient.tap("Yes, erase everything")
    assert result.direct[0].text.startswith("Done: everything stored about you here has been erased.")
    assert patient.intake() is None


def test_restart_starts_over_an_intake_whose_step_the_flow_lost(stranded: InProcessPatient) -> None:
    patient = stranded
    patient.command("/restart", expect="Start again from the beginning?")
    patient.tap("Yes, start again", expect="automated assistant")
    assert state(patient)["state"] == "welcome" and "answers" not in state(patient)


def test_a_patient_who_cancels_delete_at_a_step_the_flow_lost_goes_on(stranded: InProcessPatient) -> None:
    """/delete and its buttons never fit the conversation to the flow: the turn after them must."""
    patient = stranded
    patient.command("/delete", expect="Erase everything stored about you")
    patient.tap("No, carry on", expect="nothing has changed")
    patient.type("1", expect=FLOW_CHANGED)
    assert state(patient)["state"] == "pregnancy" and patient.intake().status == "in_progress"


def test_a_typed_answer_at_a_step_the_flow_lost_is_not_applied_and_the_patient_goes_on(
    stranded: InProcessPatient,
) -> None:
    patient = stranded
    result = patient.type("1", expect=FLOW_CHANGED)
    texts = [row.payload.get("text") or "" for row in result.outgoing]
    assert texts[0].startswith(FLOW_CHANGED) and Q_PREGNANT in texts[-1]
    assert state(patient)["state"] == "pregnancy" and "pregnancy" not in state(patient)["answers"]
    patient.tap("No, or this does not apply to me", expect="allergic reaction to a botulinum")
    assert state(patient)["answers"]["skin_concerns"] == ["large_pores"]  # the answers that fit are kept


def test_a_button_of_a_step_the_flow_lost_is_stale_and_the_patient_goes_on(stranded: InProcessPatient) -> None:
    patient = stranded
    result = patient.tap("Always burns, never tans", expect=Q_PREGNANT)
    assert result.toast == "That button belongs to an earlier step."
    assert [p["text"] for p in patient.outbox() if p.get("text", "").startswith(FLOW_CHANGED)]
    assert state(patient)["state"] == "pregnancy"


def test_back_works_from_the_place_a_patient_was_moved_to(stranded: InProcessPatient) -> None:
    patient = stranded
    patient.command("/back", expect=FLOW_CHANGED)  # moved on to the pregnancy question, then back from it
    assert state(patient)["state"] == "skin_concerns"
    patient.command("/back", expect="A quick safety question")
    assert state(patient)["state"] == "allergy_signs_now"


def test_an_answer_to_a_step_the_flow_lost_is_set_aside_and_nobody_moves(
    patient: InProcessPatient, no_skin_type: Engine
) -> None:
    to_skin_type(patient)
    patient.tap("Always burns, never tans", expect=Q_PREGNANT)
    restart_on(patient, no_skin_type)
    result = patient.command("/start", expect="Welcome back")
    assert not any(FLOW_CHANGED in (row.payload.get("text") or "") for row in result.outgoing)
    stored = state(patient)
    assert stored["state"] == "pregnancy" and "skin_type" not in stored["answers"]
    assert stored["aside"] == {"skin_type": "burns_always"}  # the patient's answer, kept for staff
    assert "skin_type" not in stored["path"]


def test_a_reminder_reaches_a_patient_whose_step_the_flow_lost(stranded: InProcessPatient) -> None:
    patient = stranded
    result = remind(patient.turns, patient.intake().id, utcnow() + timedelta(hours=1))
    texts = [row.payload.get("text") or "" for row in result.outgoing]
    assert any(t.startswith("Hello again!") for t in texts) and Q_PREGNANT in texts[-1]


# --------------------------------------------------------------------------- an answered question, retyped


def test_a_question_retyped_since_it_was_answered_is_asked_again(patient: InProcessPatient, tmp_path: Path) -> None:
    to_safety_question(patient)
    patient.walk(SAFETY_TO_GOAL)
    restart_on(patient, edited(tmp_path, retyped_to_number("event_timing")))
    patient.type("Smaller pores before summer", expect=FLOW_CHANGED)  # meant for the goal: not taken as weeks
    stored = state(patient)
    assert stored["state"] == "event_timing" and stored["aside"] == {"event_timing": "no_date"}
    patient.type("3 weeks", expect=Q_GOAL)  # back where they were: the answers after it stand
    stored = state(patient)
    assert stored["answers"]["event_timing"] == 3 and stored["answers"]["expectation"] == "subtle"
    patient.command("/back", expect=Q_EXPECTATION)


def test_a_removed_choice_is_asked_again_and_its_old_button_is_stale(patient: InProcessPatient, tmp_path: Path) -> None:
    to_safety_question(patient)
    patient.walk(SAFETY_TO_GOAL)
    restart_on(patient, edited(tmp_path, without_choice("expectation", "subtle")))
    result = patient.tap("A subtle, natural-looking improvement", expect=FLOW_CHANGED)
    assert result.toast == "That button belongs to an earlier step."
    assert state(patient)["state"] == "expectation" and state(patient)["aside"] == {"expectation": "subtle"}
    patient.tap("I'm not sure yet", expect=Q_GOAL)


# --------------------------------------------------------------------------- an ending taken out


def test_an_intake_that_ended_at_an_ending_the_flow_lost_stays_ended_and_can_go_back(
    patient: InProcessPatient, tmp_path: Path
) -> None:
    begin(patient)
    patient.tap("Under 18", expect="only for adults")
    restart_on(patient, edited(tmp_path, without_step("under_18_end")))
    patient.type("hello", expect="This questionnaire is finished.")
    patient.command("/language de", expect="Dieser Fragebogen ist abgeschlossen.")
    patient.command("/language en")
    intake = patient.intake()
    assert intake.status == "completed" and intake.outcome == "under_18_end"  # the ending they were shown stands
    patient.command("/back", expect="How old are you?")
    assert patient.intake().status == "in_progress"


def test_a_stale_press_on_an_intake_the_flow_cannot_place_is_answered(stranded: InProcessPatient) -> None:
    patient = stranded
    result = apply(patient.turns, patient.update_id + 1, ADA, Event("press", data="1.0.x", message_id=7))
    assert result.toast == "That button belongs to an earlier step."
    assert state(patient)["state"] == "pregnancy"


# --------------------------------------------------------------------------- the engine alone


def test_fits_says_which_stored_values_a_step_can_still_hold(skin: Engine, tmp_path: Path) -> None:
    retyped = edited(tmp_path, retyped_to_number("event_timing"))
    assert fits(skin.steps["event_timing"], "no_date") and not fits(retyped.steps["event_timing"], "no_date")
    assert fits(retyped.steps["event_timing"], 3) and not fits(retyped.steps["event_timing"], True)
    assert not fits(retyped.steps["event_timing"], 2.5)  # a whole number of weeks
    assert fits(skin.steps["skin_concerns"], ["large_pores"]) and not fits(skin.steps["skin_concerns"], ["gone"])
    assert fits(skin.steps["skin_type"], None)  # a skip fits any question
    assert not fits(skin.steps["welcome"], "x") and not fits(None, "x")


def test_recover_leaves_a_conversation_the_flow_knows_as_it_is(skin: Engine) -> None:
    conv = skin.start("en")
    for kind, value in ROUTINE[:8]:
        getattr(skin, kind)(conv, value)
    before = conv.to_dict()
    assert skin.recover(conv) is False and conv.to_dict() == before


# --------------------------------------------------------------------------- staff pages, the API, exports


def test_staff_pages_api_and_every_export_mark_answers_the_flow_cannot_read(
    skin: Engine, store: Store, tmp_path: Path
) -> None:
    """Three intakes of the default flow: one completed (never touched again), one in progress and
    moved on by a turn after the restart, one that answered nothing the edit touched. The bot then
    runs a flow where the event question asks for weeks and "A subtle ... improvement" is gone."""
    completed, moving, untouched = (
        InProcessPatient(TurnRunner(skin, store), Chat(n, n, f"P{n}", None, None, "en")) for n in (1, 2, 3)
    )
    for patient in (completed, moving):
        to_safety_question(patient)
        patient.walk(SAFETY_TO_GOAL)
    completed.walk(GOAL_TO_SUMMARY)
    completed.tap("Looks right, finish", expect="consultation")
    to_safety_question(untouched)
    engine = edited(tmp_path, retyped_to_number("event_timing"), without_choice("expectation", "subtle"))
    restart_on(moving, engine)
    moving.type("Smaller pores", expect=FLOW_CHANGED)
    assert state(moving)["aside"] == {"event_timing": "no_date", "expectation": "subtle"}
    ids = [p.intake().id for p in (completed, moving, untouched)]
    exporter = Exporter(engine)
    batches = [load_intakes(store)]

    for data in json.loads("".join(exporter.chunks("json", batches)))[:2]:
        assert all(a["display"] != NOT_IN_QUESTIONNAIRE for a in data["answers"])  # never mixed with the current ones
        marked = {a["question_id"]: a for a in data["answers_not_in_questionnaire"]}
        assert marked["event_timing"]["value"] == "no_date" and marked["expectation"]["value"] == "subtle"
        assert marked["event_timing"]["question"].startswith("Is there a date")  # the question as it is now
    assert NOT_IN_QUESTIONNAIRE not in "".join(exporter.chunks("json", [load_intakes(store, ids=ids[2:])]))

    rows = list(csv.DictReader(io.StringIO("".join(exporter.chunks("csv", batches)))))
    assert rows[0]["event_timing"] == NOT_IN_QUESTIONNAIRE and rows[0]["expectation"] == NOT_IN_QUESTIONNAIRE
    assert rows[0]["not_in_questionnaire"] == "event_timing: no_date; expectation: subtle"
    assert rows[0]["goal_text"] == "Smaller pores before summer"  # the answers the flow can read, as ever
    assert rows[2]["not_in_questionnaire"] == "" and rows[2]["age_band"] == "18 to 64"
    columns = list(rows[0])
    last_question = max(columns.index(s.id) for s in exporter.questions)
    assert columns[last_question + 1] == "not_in_questionnaire"  # after them: the others keep their places

    _, responses = checked_bundle(json.loads("".join(exporter.chunks("fhir", batches))))
    for response in responses[:2]:
        assert {"event_timing", "expectation"}.isdisjoint(i["linkId"] for i in response["item"])
        noted = [e["extension"] for e in response["extension"] if e["url"].endswith("answer-not-in-questionnaire")]
        assert {"url": "linkId", "valueString": "event_timing"} in noted[0] and len(noted) == 2
    assert not any(e["url"].endswith("not-in-questionnaire") for e in responses[2].get("extension", []))

    Accounts(store).add("rita", PASSWORD, "reviewer")
    token = Accounts(store).add_token("erp")
    client = TestClient(create_app(engine, store, secret_key="test-secret-key"))
    login(client)
    assert client.get("/").status_code == 200
    for intake_id in ids:
        page = client.get(f"/intakes/{intake_id}")
        assert page.status_code == 200
        assert (f"{NOT_IN_QUESTIONNAIRE}: no_date" in page.text) == (intake_id != ids[2])
    headers = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/intakes", headers=headers).json()["total"] == 3
    one = client.get(f"/api/intakes/{ids[0]}", headers=headers).json()
    marked = next(a for a in one["answers_not_in_questionnaire"] if a["question_id"] == "expectation")
    assert marked == {
        "question_id": "expectation",
        "question": "What kind of result are you hoping for?",
        "value": "subtle",
        "display": NOT_IN_QUESTIONNAIRE,
    }
    for fmt in ("csv", "json", "fhir"):
        assert client.get(f"/export?format={fmt}").status_code == 200
