"""Booking by outcome (issue 14, section 3): the booking button's address filled per person, its
tap noted through the web app's redirect, the staff list's filter, and the one nudge to book.

In-process turns (``TurnRunner``) on a real SQLite file and PostgreSQL; the web app through
Starlette's test client (the real application); the nudge across a restart with the real bot
process (python-telegram-bot's Application) against the fake Bot API, over one SQLite file.
"""

from __future__ import annotations

import asyncio
import csv
import io
import re
import time
from datetime import timedelta
from urllib.parse import parse_qsl, urlsplit

import pytest
import sqlalchemy as sa
from prometheus_client import REGISTRY
from starlette.testclient import TestClient
from support.bot_process import BotProcess
from support.databases import db_rows
from support.default_flow import ROUTINE_TO_SUMMARY, begin
from support.patients import InProcessPatient, TelegramPatient
from support.staff import login, staff_store

from bot.channels.telegram.events import Chat
from bot.channels.telegram.runner import TurnRunner
from bot.config import SettingsError, load_settings
from bot.engine import Engine
from bot.flow import FlowError, model, parse_checked
from bot.flow.booking import BookingValues, fill, new_token
from bot.jobs.booking_nudge import BookingNudge
from bot.staff.accounts import Accounts
from bot.staff.web import create_app
from bot.store import Store, utcnow
from bot.store import booking as taps
from bot.store.group import GroupCommit

BASE = "https://intake.clinic.example"
TRACKED = re.compile(re.escape(BASE) + r"/b/([A-Za-z0-9_-]{22})$")
CAL = "https://cal.com/example-skin-clinic/consultation"
ZOE = Chat(61, 61, "Zoë", "Müller & Co", "zoe", "en")


# --- the link, filled ----------------------------------------------------------------------------


def test_prefill_values_are_encoded_and_an_empty_one_is_left_out() -> None:
    booking = model.Booking(
        link="https://cal.com/clinic/consult?month=2026-12#top",
        prefill={"notes": "Intake {intake} ({ending})", "metadata[source]": "{source}", "name": "{name}"},
        share_name=True,
    )
    link = fill(booking, BookingValues(12, "routine", "de", source="a&b=c #1", name="Zoë Müller"))
    head, _, fragment = link.partition("#")
    assert fragment == "top" and head.startswith("https://cal.com/clinic/consult?month=2026-12&")
    assert dict(parse_qsl(urlsplit(head).query)) == {
        "month": "2026-12",
        "notes": "Intake 12 (routine)",
        "metadata[source]": "a&b=c #1",
        "name": "Zoë Müller",
    }
    # no source: its parameter is not sent empty
    bare = fill(booking, BookingValues(12, "routine", "de"))
    assert "metadata%5Bsource%5D" not in bare and "name=" not in bare


def test_the_name_goes_only_where_the_flow_shares_it() -> None:
    hidden = model.Booking(link="https://cal.com/c", prefill={"name": "{name}", "notes": "{intake}"})
    assert fill(hidden, BookingValues(5, "routine", "en", name="Zoë")) == "https://cal.com/c?notes=5"


FLOW = """\
id: mini
version: "1"
title: Mini
clinic: Example Skin Clinic
booking_link:
  link: https://cal.com/clinic/consult
  prefill:
    name: "{name}"
    notes: "Intake {intake} via {source}"
  share_name: true
languages: [en]
default_language: en
steps:
  - id: consent
    kind: consent
    version: "1"
    text: "We ask a few questions before your consultation. This is not a diagnosis."
    agree: "I agree"
    decline: "No thanks"
  - id: no_consent
    kind: outcome
    when: {question: consent, equals: decline}
    text: "No problem."
    consultation: "You are welcome to book a dermatologist consultation directly."
    booking: none
  - id: routine
    kind: outcome
    text: "Thank you. See {booking_link}"
    consultation: "The next step is a consultation with our dermatologist."
    booking:
      link: https://calendly.com/clinic/consult
      prefill: {a1: "{intake}"}
"""


def test_a_flow_with_share_name_loads_and_each_ending_offers_its_own_booking() -> None:
    flow = parse_checked(FLOW, "mini.yaml")
    engine = Engine(flow)
    conv = engine.start("en")
    engine.choose(conv, "agree")
    ending = engine.view(conv).ending
    assert ending is not None and ending.booking == model.Booking(
        link="https://calendly.com/clinic/consult", prefill={"a1": "{intake}"}
    )
    # a text's {booking_link} is the flow's page itself, without its prefill
    assert ending.text == "Thank you. See https://cal.com/clinic/consult"


def test_the_checker_refuses_name_without_share_name_at_its_line() -> None:
    with pytest.raises(FlowError) as raised:
        parse_checked(FLOW.replace("  share_name: true\n", ""), "mini.yaml")
    assert [str(p) for p in raised.value.problems] == [
        "mini.yaml:8:11: '{name}' sends the person's name to the booking site: add share_name: true beside link "
        "if the clinic wants that"
    ]


# --- the button under the ending -----------------------------------------------------------------


def finish_routine(patient: InProcessPatient, source: str = "/start website") -> dict:
    begin(patient, source)
    patient.walk(ROUTINE_TO_SUMMARY)
    patient.tap("Looks right, finish", expect="consultation")
    return patient.outbox()[-1]


def button_url(payload: dict) -> str:
    """The booking button's address (the first row; the copy of the answers has its own)."""
    [button] = payload["keyboard"][0]
    assert button["text"] == "Book a consultation"
    return button["url"]


def test_with_taps_recorded_the_button_opens_a_random_token_kept_with_the_intake(skin: Engine, store: Store) -> None:
    patient = InProcessPatient(TurnRunner(skin, store, booking_base=BASE + "/"), ZOE)
    url = button_url(finish_routine(patient))
    token = TRACKED.match(url).group(1)
    intake = patient.intake()
    assert intake.booking_token == token and token != str(intake.id)
    assert intake.booking_tapped_at is None and intake.booking_taps == 0
    patient.command("/myanswers")  # a later turn keeps the same token
    assert patient.intake().booking_token == token
    assert len({new_token() for _ in range(1000)}) == 1000


def test_without_taps_recorded_the_button_opens_the_filled_booking_page_and_nothing_is_stored(
    skin: Engine, store: Store
) -> None:
    patient = InProcessPatient(TurnRunner(skin, store), ZOE)
    url = button_url(finish_routine(patient, "/start insta"))
    intake = patient.intake()
    assert intake.booking_token is None
    head, _, query = url.partition("?")
    assert head == CAL
    assert dict(parse_qsl(query)) == {
        "notes": f"Pre-consultation questionnaire: intake {intake.id}",
        "metadata[intake]": str(intake.id),
        "metadata[source]": "insta",
        "metadata[ending]": "routine",
    }
    assert "Zo" not in url  # the default flow does not share the name


def test_the_under_18_ending_has_no_button_and_makes_no_token(skin: Engine, store: Store) -> None:
    patient = InProcessPatient(TurnRunner(skin, store, booking_base=BASE), ZOE)
    begin(patient)
    patient.tap("Under 18", expect="parent")
    keyboard = patient.outbox()[-1].get("keyboard") or []
    assert not any("url" in button for row in keyboard for button in row)  # no booking button
    assert patient.intake().booking_token is None


# --- the tap, through the web app ----------------------------------------------------------------


@pytest.fixture()
def staffed(sqlite_url: str) -> Store:
    return staff_store(sqlite_url)


def test_a_tap_is_counted_and_forwarded_to_the_booking_page_filled_now(skin: Engine, staffed: Store) -> None:
    patient = InProcessPatient(TurnRunner(skin, staffed, booking_base=BASE), ZOE)
    token = TRACKED.match(button_url(finish_routine(patient))).group(1)
    intake_id = patient.intake().id
    client = TestClient(create_app(skin, staffed, secret_key="k"))

    assert client.head(f"/b/{token}", follow_redirects=False).status_code in (302, 404)
    assert patient.intake().booking_taps == 0  # a HEAD (a link preview) notes nothing
    first = client.get(f"/b/{token}", follow_redirects=False)
    assert first.status_code == 302
    assert first.headers["cache-control"] == "no-store" and first.headers["referrer-policy"] == "no-referrer"
    location = first.headers["location"]
    assert location.startswith(CAL + "?") and f"metadata%5Bintake%5D={intake_id}" in location
    assert "metadata%5Bsource%5D=website" in location and "metadata%5Bending%5D=routine" in location
    tapped = patient.intake()
    assert tapped.booking_taps == 1 and tapped.booking_tapped_at is not None
    assert client.get(f"/b/{token}", follow_redirects=False).status_code == 302
    again = patient.intake()
    assert again.booking_taps == 2 and again.booking_tapped_at == tapped.booking_tapped_at  # the first tap's time

    # staff see it: the intake page, the list's filter, the API
    login(client)
    page = client.get(f"/intakes/{intake_id}").text
    assert "Booking tapped" in page and "2 taps" in page
    assert f"/intakes/{intake_id}" in client.get("/intakes?booking=tapped").text
    assert f"/intakes/{intake_id}" not in client.get("/intakes?booking=not_tapped").text
    headers = {"Authorization": f"Bearer {Accounts(staffed).add_token('erp')}"}
    listed = client.get("/api/intakes?booking=tapped", headers=headers).json()["intakes"]
    assert [i["id"] for i in listed] == [intake_id] and listed[0]["booking"]["taps"] == 2
    assert client.get("/api/intakes?booking=not_tapped", headers=headers).json()["intakes"] == []
    [row] = list(csv.DictReader(io.StringIO(client.get("/export?format=csv").text)))
    assert row["booking_taps"] == "2" and row["booking_tapped_at"] and row["booking_nudged_at"] == ""


def test_the_list_filters_those_who_did_not_tap(skin: Engine, staffed: Store) -> None:
    tapper = InProcessPatient(TurnRunner(skin, staffed, booking_base=BASE), ZOE)
    token = TRACKED.match(button_url(finish_routine(tapper))).group(1)
    quiet = InProcessPatient(TurnRunner(skin, staffed, booking_base=BASE), Chat(62, 62, "Ola", None, None, "en"))
    finish_routine(quiet)
    untracked = InProcessPatient(TurnRunner(skin, staffed), Chat(63, 63, "Ida", None, None, "en"))
    finish_routine(untracked)  # no tracking: neither tapped nor "did not" is known
    client = TestClient(create_app(skin, staffed, secret_key="k"))
    client.get(f"/b/{token}", follow_redirects=False)
    login(client)
    not_tapped = client.get("/intakes?booking=not_tapped").text
    assert f"/intakes/{quiet.intake().id}" in not_tapped
    assert f"/intakes/{tapper.intake().id}" not in not_tapped and f"/intakes/{untracked.intake().id}" not in not_tapped


def test_an_unknown_or_erased_token_says_only_that_the_link_is_not_in_use(skin: Engine, staffed: Store) -> None:
    patient = InProcessPatient(TurnRunner(skin, staffed, booking_base=BASE), ZOE)
    token = TRACKED.match(button_url(finish_routine(patient))).group(1)
    intake_id = patient.intake().id
    client = TestClient(create_app(skin, staffed, secret_key="k"))
    for path in ("/b/" + new_token(), "/b/" + str(intake_id), "/b/%27%3Bdrop", "/b/" + "x" * 500):
        response = client.get(path, follow_redirects=False)
        assert response.status_code == 404 and "no longer in use" in response.text, path
    german = client.get("/b/" + new_token(), headers={"Accept-Language": "de-AT,de;q=0.9"})
    assert german.status_code == 404 and "nicht mehr verwendet" in german.text
    patient.command("/delete")
    patient.tap("Yes, erase everything")
    assert patient.intake() is None
    gone = client.get(f"/b/{token}", follow_redirects=False)
    assert gone.status_code == 404 and "Zo" not in gone.text and "cal.com" not in gone.text

    # retention erases the same way: the row, and its token with it
    kept = InProcessPatient(TurnRunner(skin, staffed, booking_base=BASE), Chat(68, 68, "Kim", None, None, "en"))
    token = TRACKED.match(button_url(finish_routine(kept))).group(1)
    assert client.get(f"/b/{token}", follow_redirects=False).status_code == 302
    with staffed.transaction() as tx:
        assert tx.purge_before(utcnow() + timedelta(days=1)) == 1
    assert client.get(f"/b/{token}", follow_redirects=False).status_code == 404


# --- the nudge, in process -------------------------------------------------------------------------


def nudge(turns: TurnRunner, intake_id: int):
    async def once():
        return await GroupCommit(turns.store).run(lambda tx: turns.nudge_in(tx, intake_id))

    return asyncio.run(once())


def due(store: Store, after: timedelta = timedelta(0)) -> list[int]:
    now = utcnow() + timedelta(seconds=1)
    with store.transaction() as tx:
        return [d.intake_id for d in taps.nudges_due(tx, now - after, now - after - timedelta(days=1))]


def test_the_nudge_goes_once_with_the_tracked_button_and_not_after_a_tap(skin: Engine, store: Store) -> None:
    turns = TurnRunner(skin, store, booking_base=BASE)
    patient = InProcessPatient(turns, ZOE)
    url = button_url(finish_routine(patient))
    intake_id = patient.intake().id
    assert due(store) == [intake_id]
    assert due(store, timedelta(hours=1)) == []  # not due yet
    nudged = REGISTRY.get_sample_value("intake_booking_nudges_sent_total")
    result = nudge(turns, intake_id)
    [row] = result.outgoing
    assert row.payload["text"].startswith("Hello again, and thank you")
    assert row.payload["keyboard"] == [[{"text": "Book a consultation", "url": url}]]
    assert patient.intake().booking_nudged_at is not None
    assert due(store) == [] and nudge(turns, intake_id).outgoing == []  # once
    assert REGISTRY.get_sample_value("intake_booking_nudges_sent_total") - nudged == 1  # /metrics counts it once

    tapper = InProcessPatient(turns, Chat(64, 64, "Tia", None, None, "en"))
    finish_routine(tapper)
    tapper_id = tapper.intake().id
    with store.transaction() as tx:
        taps.note_tap(tx, tapper_id, utcnow())
    assert due(store) == [] and nudge(turns, tapper_id).outgoing == []


def test_no_nudge_after_delete_an_urgent_ending_or_a_new_intake(skin: Engine, store: Store) -> None:
    turns = TurnRunner(skin, store, booking_base=BASE)
    erased = InProcessPatient(turns, Chat(65, 65, "Eva", None, None, "en"))
    finish_routine(erased)
    erased_id = erased.intake().id
    erased.command("/delete")
    erased.tap("Yes, erase everything")

    urgent = InProcessPatient(turns, Chat(66, 66, "Una", None, None, "en"))
    begin(urgent)
    urgent.tap("18 to 64", expect="botulinum toxin injections")
    urgent.tap("Yes, in the last 4 weeks", expect="Since your last injection")
    urgent.tap("Yes", expect="🚨")
    assert urgent.outbox()[-1].get("keyboard")  # urgent endings keep their button...
    assert urgent.intake().booking_token is not None

    again = InProcessPatient(turns, Chat(67, 67, "Ana", None, None, "en"))
    finish_routine(again)
    first_id = again.intake().id
    again.command("/restart", expect="automated assistant")  # after an ending: a new intake at once
    assert again.intake().id != first_id

    assert due(store) == []  # ...but no nudge for any of them
    for intake_id in (erased_id, urgent.intake().id, first_id):
        assert nudge(turns, intake_id).outgoing == []


def test_the_job_finds_only_what_is_due_and_not_too_late(skin: Engine, store: Store) -> None:
    turns = TurnRunner(skin, store, booking_base=BASE)
    patient = InProcessPatient(turns, ZOE)
    finish_routine(patient)
    sent: list[tuple[int, int]] = []

    async def record(intake_id: int, chat_id: int) -> None:
        sent.append((intake_id, chat_id))

    job = BookingNudge(store, 3600, record)
    asyncio.run(job.round())
    assert sent == []  # completed just now: an hour has not passed
    with store.transaction() as tx:
        tx.conn.execute(
            taps.intakes.update().values(completed_at=utcnow() - timedelta(hours=2)),
        )
    asyncio.run(job.round())
    assert sent == [(patient.intake().id, ZOE.id)]
    with store.transaction() as tx:  # a day and more past due: too late to be a friendly reminder
        tx.conn.execute(taps.intakes.update().values(completed_at=utcnow() - timedelta(days=3)))
    sent.clear()
    asyncio.run(job.round())
    assert sent == []


# --- settings --------------------------------------------------------------------------------------


def test_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("PUBLIC_URL", "BOOKING_TRACKING", "BOOKING_NUDGE_AFTER"):
        monkeypatch.delenv(name, raising=False)
    assert load_settings(None).booking_tap_base is None
    monkeypatch.setenv("PUBLIC_URL", BASE)
    settings = load_settings(None)
    assert settings.booking_tap_base == BASE and settings.booking_nudge_after is None
    monkeypatch.setenv("BOOKING_NUDGE_AFTER", "2d")
    assert load_settings(None).booking_nudge_after == 2 * 86400
    monkeypatch.setenv("BOOKING_TRACKING", "off")
    with pytest.raises(SettingsError, match="BOOKING_NUDGE_AFTER needs booking taps recorded"):
        load_settings(None)
    monkeypatch.setenv("BOOKING_NUDGE_AFTER", "off")
    assert load_settings(None).booking_tap_base is None
    monkeypatch.setenv("BOOKING_TRACKING", "maybe")
    with pytest.raises(SettingsError, match="BOOKING_TRACKING='maybe' must be on or off"):
        load_settings(None)


# --- the nudge across a restart: the real bot against the fake Bot API ------------------------------


@pytest.mark.e2e
def test_the_nudge_survives_a_restart_and_never_follows_a_tap_delete_or_an_urgent_ending(
    fake, db_path, unused_port
) -> None:
    """``python -m bot serve`` (the web app and the bot, python-telegram-bot polling the fake Bot
    API) twice over one SQLite file: the nudge falls due while no bot runs, and comes once after the
    restart; a patient who tapped (through the served web app), one who erased everything, and one
    shown an urgent text get none."""
    import httpx

    public = f"http://127.0.0.1:{unused_port}"
    settings = {
        "PUBLIC_URL": public,
        "WEB_LISTEN": "127.0.0.1",
        "WEB_PORT": str(unused_port),
        "SECRET_KEY": "k" * 32,
        "BOOKING_NUDGE_AFTER": "4s",
        "REMIND_AFTER": "1h",
    }
    tracked = re.compile(re.escape(public) + r"/b/([A-Za-z0-9_-]{22})$")
    bot = BotProcess(fake, f"sqlite:///{db_path}", command="serve", **settings).start()
    try:
        tapper = TelegramPatient(fake, 134)
        begin(tapper)
        tapper.walk(ROUTINE_TO_SUMMARY)
        tapper.tap("Looks right, finish", expect="consultation")
        tapped = httpx.get(tapper.last()["reply_markup"]["inline_keyboard"][0][0]["url"], follow_redirects=False)
        assert tapped.status_code == 302 and tapped.headers["location"].startswith(CAL + "?")

        erased = TelegramPatient(fake, 132)
        begin(erased)
        erased.walk(ROUTINE_TO_SUMMARY)
        erased.tap("Looks right, finish", expect="consultation")
        erased.command("/delete", expect="Erase everything")
        erased.tap("Yes, erase everything")
        fake.wait_for(lambda: "erased" in fake.messages(132)[-1]["text"])

        urgent = TelegramPatient(fake, 133)
        begin(urgent)
        urgent.tap("18 to 64", expect="botulinum toxin injections")
        urgent.tap("Yes, in the last 4 weeks", expect="Since your last injection")
        urgent.tap("Yes", expect="🚨")

        routine = TelegramPatient(fake, 131)  # last: its nudge falls due only once the bot is down
        begin(routine)
        routine.walk(ROUTINE_TO_SUMMARY)
        routine.tap("Looks right, finish", expect="consultation")
        url = routine.last()["reply_markup"]["inline_keyboard"][0][0]["url"]
        assert tracked.match(url)
    finally:
        assert bot.stop() == 0
    assert db_rows(db_path, "SELECT count(*) FROM intakes WHERE booking_nudged_at IS NOT NULL") == [(0,)]
    assert db_rows(db_path, "SELECT booking_taps FROM intakes WHERE chat_id = 134") == [(1,)]
    time.sleep(4.5)  # a fixed wait on purpose: BOOKING_NUDGE_AFTER passes while no bot runs at all
    bot = BotProcess(fake, f"sqlite:///{db_path}", command="serve", **settings).start()
    try:
        nudged = routine.expect("Hello again, and thank you", timeout=15)
        assert nudged["reply_markup"]["inline_keyboard"] == [[{"text": "Book a consultation", "url": url}]]
        fake.wait_for(
            lambda: db_rows(db_path, "SELECT count(*) FROM intakes WHERE booking_nudged_at IS NOT NULL") == [(1,)]
        )
        time.sleep(2)  # more rounds of the job: still one nudge, and none for the others
    finally:
        assert bot.stop() == 0
    texts = {chat: [m["text"] for m in fake.messages(chat)] for chat in (131, 132, 133, 134)}
    assert sum(t.startswith("Hello again, and thank you") for t in texts[131]) == 1
    assert not any(t.startswith("Hello again, and thank you") for c in (132, 133, 134) for t in texts[c])


def test_migration_0015_goes_down_and_up_again(skin: Engine, empty_database_url: str) -> None:
    from alembic import command
    from alembic.config import Config

    from bot.store.store import MIGRATIONS

    store = Store.open(empty_database_url)
    try:
        patient = InProcessPatient(TurnRunner(skin, store, booking_base=BASE), ZOE)
        finish_routine(patient)
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        with store.engine.begin() as conn:
            config.attributes["connection"] = conn
            command.downgrade(config, "0014")
        with store.engine.connect() as conn:
            columns = {c["name"] for c in sa.inspect(conn).get_columns("intakes")}
        assert not {"booking_token", "booking_tapped_at", "booking_taps", "booking_nudged_at"} & columns
        store.migrate()
        intake = patient.intake()
        assert intake.booking_token is None and intake.booking_taps == 0 and intake.status == "completed"
    finally:
        store.close()


def test_the_questionnaire_page_says_what_each_ending_sends_to_the_booking_site(skin: Engine, staffed: Store) -> None:
    client = TestClient(create_app(skin, staffed, secret_key="k"))
    login(client)
    page = client.get("/flow").text
    assert f"Booking button: <code>{CAL}</code>" in page
    assert "<code>metadata[intake]</code> = “{intake}”" in page
    assert page.count("No booking button.") == 2  # consent declined, under 18
