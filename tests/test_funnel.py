"""Where patients drop off (issue 14, section 4): the funnel counted from real turns."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from datetime import timedelta

import pytest
import sqlalchemy as sa
from starlette.testclient import TestClient
from support.edited_flows import edited, without_step
from support.patients import InProcessPatient
from support.staff import login, staff_store

from bot.channels.telegram.events import Chat
from bot.channels.telegram.runner import TurnRunner
from bot.engine import Engine
from bot.flow import model
from bot.staff.accounts import Accounts
from bot.staff.web import create_app
from bot.store import Store, utcnow
from bot.store.funnel import Move, funnel_moves
from bot.store.funnel_report import Period, StepCounts, funnel
from bot.store.schema import audit


@pytest.fixture()
def store(database_url: str) -> Iterator[Store]:
    store = staff_store(database_url)
    yield store
    store.close()


def walk_two(skin: Engine, store: Store) -> None:
    """Pat: an invalid answer at the age question, skip logic past the symptom question, back from
    pregnancy, stops at skin type. Sam: stops at the question after age."""
    runner = TurnRunner(skin, store)
    pat = InProcessPatient(runner, Chat(78, 78, "Pat", None, None, "en"))
    pat.consent()
    pat.type("hello")  # not a choice: an invalid answer at age_band
    pat.tap("18 to 64")
    for label in ("No, never", "No", "Large-looking pores", "Done", "Skip this question"):
        pat.tap(label)
    pat.command("/back")  # from pregnancy, back to skin_type
    sam = InProcessPatient(runner, Chat(79, 79, "Sam", None, None, "en"))
    sam.consent()
    sam.tap("18 to 64")


def rows_of(skin: Engine, store: Store, period: Period | None = None) -> dict[str, StepCounts]:
    steps = skin.flow.steps
    questions = [s.id for s in steps if not isinstance(s, model.OutcomeStep)]
    endings = [s.id for s in steps if isinstance(s, model.OutcomeStep)]
    with store.transaction(read_only=True) as tx:
        return {row.step: row for row in funnel(tx.conn, questions, endings, period or Period())}


def test_reached_stopped_back_invalid_and_skipped_per_step(skin: Engine, store: Store) -> None:
    walk_two(skin, store)
    rows = rows_of(skin, store)
    assert list(rows)[:4] == ["welcome", "consent", "age_band", "toxin_last_time"]  # flow order
    assert (rows["age_band"].reached, rows["age_band"].invalid, rows["age_band"].stopped) == (2, 1, 0)
    assert (rows["toxin_last_time"].reached, rows["toxin_last_time"].stopped) == (2, 1)
    # hidden by skip logic for Pat (went past it); Sam never got that far: not counted
    assert (rows["toxin_symptoms_now"].reached, rows["toxin_symptoms_now"].skipped) == (0, 1)
    assert (rows["pregnancy"].reached, rows["pregnancy"].went_back, rows["pregnancy"].stopped) == (1, 1, 0)
    assert (rows["skin_type"].reached, rows["skin_type"].stopped, rows["skin_type"].went_back) == (1, 1, 0)
    assert rows["skin_type"].median_seconds is not None and rows["contact_times"].median_seconds is None
    assert sum(row.stopped for row in rows.values()) == 2
    assert rows["routine"].reached == 0


def test_the_period_and_source_choose_the_intakes(skin: Engine, store: Store) -> None:
    walk_two(skin, store)
    today = utcnow().date()
    assert rows_of(skin, store, Period(since=today, until=today))["age_band"].reached == 2
    assert rows_of(skin, store, Period(until=today - timedelta(days=1)))["age_band"].reached == 0
    assert rows_of(skin, store, Period(source="poster"))["age_band"].reached == 0
    assert rows_of(skin, store, Period(flow_version=skin.flow.version))["age_band"].reached == 2


def test_erasing_an_intake_erases_its_funnel_rows(skin: Engine, store: Store) -> None:
    walk_two(skin, store)
    with store.transaction() as tx:
        tx.delete_chat(78)
    rows = rows_of(skin, store)
    assert rows["age_band"].reached == 1 and rows["pregnancy"].reached == 0


def test_the_page_shows_counts_masked_a_chart_and_the_same_table_as_csv(skin: Engine, store: Store) -> None:
    walk_two(skin, store)
    runner = TurnRunner(skin, store)
    for chat in range(100, 106):  # six more at the first question: age_band reached by 8
        InProcessPatient(runner, Chat(chat, chat, "P", None, None, "en")).consent()
    client = TestClient(create_app(skin, store, secret_key="k"))
    assert client.get("/funnel", follow_redirects=False).status_code in (302, 303)  # signed in only
    login(client)  # rita: a reviewer may read it
    page = client.get("/funnel")
    assert page.status_code == 200 and 'href="/funnel"' in page.text
    assert "<svg" in page.text and "<script" not in page.text
    assert "reached 8" in page.text and "stopped 6" in page.text  # age_band: 8 came, 6 still there
    assert "reached &lt;5" in page.text and "reached 1<" not in page.text and "reached 2<" not in page.text
    assert not re.search(r"\b(Pat|Sam)\b", page.text)  # counts only (a name, not a word like "clipPath")
    table = list(csv.reader(io.StringIO(client.get("/funnel.csv").text)))
    assert table[0] == ["step", "question", "reached", "stopped", "went_back", "invalid", "skipped", "median_seconds"]
    rows = {row[0]: row for row in table[1:]}
    assert rows["age_band"][1:6] == ["How old are you?", "8", "6", "0", "<5"]
    assert rows["toxin_symptoms_now"][2:7] == ["0", "0", "0", "0", "<5"]
    today = utcnow().date()
    later = client.get(f"/funnel.csv?since={today + timedelta(days=1)}").text
    assert "age_band,How old are you?,0," in later
    bad = client.get("/funnel?since=not-a-date&until=2020-01-01")
    assert bad.status_code == 400 and "YYYY-MM-DD" in bad.text
    assert client.get("/funnel.csv?since=2026-02-01&until=2026-01-01").status_code == 400
    client.post("/logout", data={"csrf": re.search(r'name="csrf" value="([^"]+)"', page.text)[1]})
    login(client, "adam")  # an admin too
    assert client.get("/funnel").status_code == 200


def audit_lines(store: Store) -> list[tuple[str, str, int | None, str | None]]:
    with store.transaction(read_only=True) as tx:
        query = sa.select(audit.c.actor, audit.c.action, audit.c.intake_id, audit.c.detail).order_by(audit.c.id)
        return [tuple(row) for row in tx.conn.execute(query.where(audit.c.action != "login"))]


def test_steps_are_named_by_their_question_and_section_in_the_pages_language(skin: Engine, store: Store) -> None:
    walk_two(skin, store)
    client = TestClient(create_app(skin, store, secret_key="k"))
    login(client)
    page = client.get("/funnel").text
    # a question as the flow asks it, its section, its id small beside it; the chart's label cut short
    assert 'How old are you?</span><br><small class="muted">About you · <code>age_band</code>' in page
    assert ">Welcome text</span>" in page and ">Consent</span>" in page and ">Summary</span>" in page
    assert "Completed, with points to discuss" in page  # an ending by its name for staff
    assert '>Text to read</span><br><small class="muted">Your skin · <code>sweat_see_gp</code>' in page  # not a welcome
    assert "<span>How old are you?</span>" in page  # short enough for the table: no tooltip
    # a long question cut at a word, in full in its tooltip
    long = "Have you ever had botulinum toxin injections (such as Botox, Dysport or Xeomin), for looks or"
    assert f'<span title="{long} for a medical reason? If so, when was the last one?">' in page
    assert ">Have you ever had botulinum toxin injections (such as Botox, Dysport or…</span>" in page
    chart = re.search(r"<svg.*</svg>", page, re.S)[0]
    # in the chart's tooltip, the words in full with their section and the step's id
    assert "<title>How old are you? (About you · age_band)</title>How old are you?</text>" in chart
    assert f"<title>{long}" in chart and "(Safety check · toxin_last_time)</title>Have you ever had…</text>" in chart
    # the same page in German: the flow's German words, the page's German words
    Accounts(store).set_language("adam", "de")
    german = TestClient(create_app(skin, store, secret_key="k"))
    login(german, "adam")
    page = german.get("/funnel").text
    assert 'Wie alt sind Sie?</span><br><small class="muted">Zu Ihrer Person · <code>age_band</code>' in page
    assert ">Begrüßungstext</span>" in page and ">Einwilligung</span>" in page and ">Zusammenfassung</span>" in page
    assert "Abgeschlossen, mit Punkten für die Beratung" in page and "How old are you?" not in page
    table = list(csv.reader(io.StringIO(german.get("/funnel.csv").text)))
    questions = {row[0]: row[1] for row in table[1:]}
    assert questions["age_band"] == "Wie alt sind Sie?" and questions["welcome"] == "Begrüßungstext"
    assert questions["review_answers"] == "Zusammenfassung" and questions["consent"] == "Einwilligung"


def test_a_step_no_longer_in_the_questionnaire_is_shown_by_its_id(skin: Engine, store: Store, tmp_path) -> None:
    walk_two(skin, store)  # Pat stopped at skin_type, which the flow has lost since
    changed = edited(tmp_path, without_step("skin_type"))
    client = TestClient(create_app(changed, store, secret_key="k"))
    login(client)
    page = client.get("/funnel").text
    assert '<code>skin_type</code> <span class="muted">(no longer in the questionnaire)</span>' in page
    # on the chart too, cut to its column
    assert "<title>skin_type (no longer in the questionnaire)</title>skin_type (no longer…</text>" in page
    table = list(csv.reader(io.StringIO(client.get("/funnel.csv").text)))
    rows = {row[0]: row for row in table[1:]}
    assert rows["skin_type"][1:4] == ["(no longer in the questionnaire)", "<5", "<5"]
    assert list(rows)[-1] == "skin_type"  # after the flow's own steps
    Accounts(store).set_language("rita", "de")
    assert "(nicht mehr im Fragebogen)" in client.get("/funnel").text


def test_viewing_and_downloading_are_written_to_the_audit_log_with_the_filters(skin: Engine, store: Store) -> None:
    walk_two(skin, store)
    client = TestClient(create_app(skin, store, secret_key="k"))
    login(client)
    client.get("/funnel")
    client.get(f"/funnel?since=2026-01-01&until=2026-12-31&version={skin.flow.version}&source=poster")
    client.get("/funnel.csv?source=poster")
    client.get("/funnel?since=not-a-date")  # nothing shown: nothing written
    client.get("/funnel.csv?since=not-a-date")
    assert audit_lines(store) == [
        ("rita", "view", None, "funnel"),
        ("rita", "view", None, f"funnel since=2026-01-01 until=2026-12-31 version={skin.flow.version} source=poster"),
        ("rita", "export", None, "funnel.csv source=poster"),
    ]
    assert not any("Pat" in str(line) or "Sam" in str(line) for line in audit_lines(store))  # never a person


def test_moves_skip_only_what_skip_logic_hid_between_two_questions() -> None:
    questions = ["a", "b", "c", "d", "summary"]
    forward = list(funnel_moves({"state": "a", "path": []}, {"state": "d", "path": ["a"]}, questions))
    assert forward == [Move("leave", "a", 0), Move("enter", "d"), Move("skip", "b"), Move("skip", "c")]
    # an urgent ending reached early hides nothing: the questions after it were not skipped
    ended = list(funnel_moves({"state": "a"}, {"state": "urgent_care", "path": ["a"]}, questions))
    assert ended == [Move("leave", "a", 0), Move("enter", "urgent_care")]
    # back to the summary after changing an answer: the steps between were answered, not hidden
    changed = {"state": "b", "path": ["a", "b", "c", "d"]}
    assert [m.kind for m in funnel_moves(changed, {"state": "summary", "path": ["a", "b", "c", "d"]}, questions)] == [
        "leave",
        "enter",
    ]
    back = list(funnel_moves({"state": "c", "path": ["a", "b"]}, {"state": "b", "path": ["a"]}, questions))
    assert back == [Move("leave", "c", 1), Move("enter", "b")]
    assert list(funnel_moves({"state": "b", "invalid": 1}, {"state": "b", "invalid": 2}, questions)) == [
        Move("invalid", "b", 1)
    ]
    assert list(funnel_moves({"state": "b", "invalid": 2}, {"state": "b"}, questions)) == []
