"""The staff work queue and the full list (issue 13, section 1), on a real SQLite file and a real
PostgreSQL: the queue's order and its steps, every filter and sort of the list, keyset pages,
capped counts, assignment and follow-ups with their audit lines, and the severity a turn keeps."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from itertools import pairwise
from typing import Any

import pytest
import sqlalchemy as sa
from starlette.testclient import TestClient
from support.patients import InProcessPatient
from support.staff import csrf_of, login, staff_store

from bot.channels.telegram.events import Chat
from bot.channels.telegram.runner import TurnRunner
from bot.engine import Engine
from bot.flow.model import SEVERITY_RANK
from bot.staff.i18n import StaffLanguages
from bot.staff.web import create_app, waited
from bot.store import Intake, Store, utcnow
from bot.store import queue as q
from bot.store import review as rows
from bot.store.review import Search
from bot.store.schema import audit, intakes

HIGH = SEVERITY_RANK["high"]
NOW = utcnow()


@pytest.fixture()
def store(database_url: str) -> Iterator[Store]:
    store = staff_store(database_url)
    yield store
    store.close()


def make(store: Store, chat: int, days_ago: float, status: str = "completed", **columns: Any) -> int:
    """An intake started ``days_ago`` with these columns (times as days ago: ``*_ago``)."""
    for name in [k for k in columns if k.endswith("_ago")]:
        columns[name.removesuffix("_ago")] = NOW - timedelta(days=columns.pop(name))
    created = NOW - timedelta(days=days_ago)
    intake = Intake(0, chat, "skin_botox", "1.0", "en", status, {"v": 1}, created, created, **columns)
    with store.transaction() as tx:
        return tx.create_intake(intake).id


@pytest.fixture()
def world(store: Store) -> dict[str, int]:
    """One intake for each bucket and for each way out of the queue, named for what it is."""
    made = {
        "urgent_old": make(store, 1, 9, urgent_shown_at_ago=9, severity=4, flags=["allergy_now"]),
        "urgent_new": make(store, 2, 1, urgent_shown_at_ago=1, severity=4, reviewed_at_ago=0.5, reviewed_by="rita"),
        "urgent_seen": make(
            store, 3, 8, urgent_shown_at_ago=8, acknowledged_at_ago=7, acknowledged_by="rita", severity=4
        ),
        "waiting_long": make(store, 4, 20, status="in_progress", waiting_since_ago=2),
        "waiting_short": make(store, 5, 3, waiting_since_ago=0.1, reviewed_at_ago=1, reviewed_by="rita"),
        "human_old": make(store, 6, 6, status="in_progress", human_requested_at_ago=5),
        "human_new": make(store, 7, 2, human_requested_at_ago=1, reviewed_at_ago=3, reviewed_by="rita"),
        "human_taken": make(store, 8, 4, human_requested_at_ago=3, assigned_to="rita", assigned_at_ago=2),
        "high_new": make(store, 9, 1.5, severity=3, flags=["pregnancy"], source="flyer"),
        "high_old": make(store, 10, 5, severity=3, flags=["toxin_allergy"]),
        "high_reviewed": make(store, 11, 2.5, severity=3, reviewed_at_ago=2, reviewed_by="adam"),
        "rest_new": make(store, 12, 0.5, severity=2, flags=["recent_toxin"], outcome="points_to_discuss"),
        "rest_abandoned": make(store, 13, 7, status="abandoned", follow_up="no_answer", follow_up_at_ago=6),
        "rest_old": make(store, 14, 30, status="declined", source="flyer"),
        "reviewed": make(store, 15, 3.5, reviewed_at_ago=3, reviewed_by="adam", follow_up="booked"),
        "in_progress": make(store, 16, 0.2, status="in_progress", assigned_to="adam", assigned_at_ago=0.1),
    }
    return made


QUEUE = [
    ("urgent", "urgent_old"),  # oldest first
    ("urgent", "urgent_new"),  # reviewed, yet unacknowledged: it stays
    ("waiting", "waiting_long"),
    ("waiting", "waiting_short"),  # reviewed, yet a message waits: it stays
    ("human", "human_old"),
    ("human", "human_new"),  # reviewed before the request: the request is not handled
    ("high", "high_new"),  # newest first
    ("high", "high_old"),
    ("high", "urgent_seen"),  # acknowledged: a completed intake with a grave flag, not reviewed
    ("rest", "rest_new"),
    ("rest", "human_taken"),  # assigned after the request: handled
    ("rest", "rest_abandoned"),
    ("rest", "rest_old"),
]


def names(world: dict[str, int], ids: list[int]) -> list[str]:
    by_id = {v: k for k, v in world.items()}
    return [by_id[i] for i in ids]


def test_the_queue_in_order_bucket_by_bucket(store: Store, world: dict[str, int]) -> None:
    with store.transaction(read_only=True) as tx:
        found = q.walk(tx, HIGH, 100)
        counts = q.bucket_counts(tx, HIGH)
    assert [(item.bucket, names(world, [item.intake.id])[0]) for item in found] == QUEUE
    assert counts == {"urgent": 2, "waiting": 2, "human": 2, "high": 3, "rest": 4}
    # reviewed (and nothing waiting), or in progress with nothing for staff: not in the queue


def test_next_and_previous_step_through_the_queue_even_from_an_intake_that_left_it(
    store: Store, world: dict[str, int]
) -> None:
    with store.transaction(read_only=True) as tx:
        order = q.walk(tx, HIGH, 100)
        for before, after in pairwise(order):
            assert q.position(tx, HIGH, before.intake.id) == before.position
            assert q.walk(tx, HIGH, 1, before.position)[0].intake.id == after.intake.id
            assert q.walk(tx, HIGH, 1, after.position, forward=False)[0].intake.id == before.intake.id
        assert q.walk(tx, HIGH, 1, order[-1].position) == []
        assert q.walk(tx, HIGH, 1, order[0].position, forward=False) == []
        place = q.position(tx, HIGH, world["high_new"])
        assert q.position(tx, HIGH, world["reviewed"]) is None
    with store.transaction() as tx:
        rows.mark_reviewed(tx, world["high_new"], "rita")
    with store.transaction(read_only=True) as tx:
        assert q.position(tx, HIGH, world["high_new"]) is None  # it left the queue
        assert q.walk(tx, HIGH, 1, place)[0].intake.id == world["high_old"]  # the next from where it was
        # a page of the queue from a place, the place's own intake included or not
        assert [i.intake.id for i in q.walk(tx, HIGH, 2, place)] == [world["high_old"], world["urgent_seen"]]
    assert q.Position.parse(str(place)) == place
    for bad in ("", "1.2", "x.1.2", "9.1.2", "1.1.0"):
        with pytest.raises(ValueError):
            q.Position.parse(bad)


FILTERS = [
    (Search(reviewed=True), {"urgent_new", "waiting_short", "human_new", "high_reviewed", "reviewed"}),
    (
        Search(reviewed=False),
        {
            "urgent_old",
            "urgent_seen",
            "waiting_long",
            "human_old",
            "human_taken",
            "high_new",
            "high_old",
            "rest_new",
            "rest_abandoned",
            "rest_old",
            "in_progress",
        },
    ),
    (Search(acknowledged=True), {"urgent_seen"}),
    (Search(assigned_to="rita"), {"human_taken"}),
    (Search(assigned_to="adam"), {"in_progress"}),
    (Search(waiting=True), {"waiting_long", "waiting_short", "human_old", "human_new"}),
    (Search(follow_up="booked"), {"reviewed"}),
    (Search(follow_up="no_answer"), {"rest_abandoned"}),
    (Search(status="in_progress"), {"waiting_long", "human_old", "in_progress"}),
    (Search(status="declined"), {"rest_old"}),
    (Search(flag="pregnancy"), {"high_new"}),
    (Search(outcome="points_to_discuss"), {"rest_new"}),
    (Search(source="flyer"), {"high_new", "rest_old"}),
    (Search(source="flyer", reviewed=False, status="completed"), {"high_new"}),
    (Search(since=(NOW - timedelta(days=1)).date()), {"urgent_new", "rest_new", "in_progress", "high_new"}),
]


@pytest.mark.parametrize(("which", "expected"), FILTERS, ids=[str(i) for i in range(len(FILTERS))])
def test_each_filter_of_the_list(store: Store, world: dict[str, int], which: Search, expected: set[str]) -> None:
    with store.transaction(read_only=True) as tx:
        page = q.list_page(tx, which, size=100)
    got = names(world, [i.id for i in page.items])
    if which.since is not None:  # a day boundary in the server's zone: at least the last day's
        assert {"in_progress", "rest_new"} <= set(got) <= expected
        return
    assert set(got) == expected
    created = [i.created_at for i in page.items]
    assert created == sorted(created, reverse=True)  # newest first
    assert page.total == len(expected)


def test_sort_by_severity_then_date_and_keyset_pages_cover_everything_once(store: Store, world: dict[str, int]) -> None:
    everything, after, pages = [], None, 0
    with store.transaction(read_only=True) as tx:
        while True:
            page = q.list_page(tx, Search(), "severity", after, size=3, counts=False)
            everything += page.items
            pages += 1
            if page.next is None:
                break
            after = q.Cursor.parse(str(page.next), "severity")
    assert pages == 6 and len(everything) == len(world) == len({i.id for i in everything})
    keys = [(i.severity, i.created_at) for i in everything]
    assert keys == sorted(keys, reverse=True)
    assert names(world, [i.id for i in everything[:2]]) == ["urgent_new", "urgent_seen"]
    with store.transaction(read_only=True) as tx:
        by_date = q.list_page(tx, Search(), "date", None, size=100)
    assert [i.created_at for i in by_date.items] == sorted((i.created_at for i in everything), reverse=True)
    assert by_date.counts == {"in_progress": 3, "completed": 11, "declined": 1, "abandoned": 1}
    assert by_date.sources == ["flyer"]


def test_counts_stop_at_the_cap(store: Store, world: dict[str, int]) -> None:
    with store.transaction(read_only=True) as tx:
        assert q.capped_count(tx, [], cap=5) == 6  # "5+"
        assert q.capped_count(tx, [intakes.c.status == "declined"], cap=5) == 1


def test_assignment_and_follow_up_are_staff_only_and_audited(skin: Engine, store: Store) -> None:
    app = create_app(skin, store, secret_key="test-secret-key")
    person = InProcessPatient(TurnRunner(skin, store), Chat(77, 77, "Pat", None, None, "en"))
    person.consent()
    intake_id = person.intake().id
    rita, adam = TestClient(app), TestClient(app)
    login(rita)
    login(adam, "adam")
    csrf = csrf_of(rita, f"/intakes/{intake_id}")
    # a reviewer may take it, not give it to a colleague
    refused = rita.post(f"/intakes/{intake_id}/assign", data={"csrf": csrf, "to": "adam"})
    assert refused.status_code == 403
    rita.post(f"/intakes/{intake_id}/assign", data={"csrf": csrf, "to": "rita"})
    rita.post(f"/intakes/{intake_id}/follow-up", data={"csrf": csrf, "follow_up": "called_back"})
    assert rita.post(f"/intakes/{intake_id}/follow-up", data={"csrf": csrf, "follow_up": "x"}).status_code == 400
    person.tap("18 to 64")  # the patient's turn writes the intake: never these columns
    with store.transaction(read_only=True) as tx:
        intake = tx.intake(intake_id)
    assert (intake.assigned_to, intake.follow_up, intake.follow_up_by) == ("rita", "called_back", "rita")
    mine = rita.get("/intakes?mine=1").text
    assert f'href="/intakes/{intake_id}"' in mine and "called back" in mine
    assert f'href="/intakes/{intake_id}"' not in adam.get("/intakes?mine=1").text
    assert f'href="/intakes/{intake_id}"' in rita.get("/intakes?follow_up=called_back").text
    # an admin gives it to a colleague
    adam.post(f"/intakes/{intake_id}/assign", data={"csrf": csrf_of(adam, "/"), "to": "adam"})
    adam.post(f"/intakes/{intake_id}/assign", data={"csrf": csrf_of(adam, "/"), "to": "rita"})
    with store.transaction(read_only=True) as tx:
        lines = tx.conn.execute(
            sa.select(audit.c.actor, audit.c.action, audit.c.detail)
            .where(audit.c.intake_id == intake_id, audit.c.action.in_(("assign", "follow_up")))
            .order_by(audit.c.id)
        ).all()
    assert [tuple(line) for line in lines] == [
        ("rita", "assign", "rita"),
        ("rita", "follow_up", "called_back"),
        ("adam", "assign", "adam"),
        ("adam", "assign", "rita"),
    ]


def test_a_turn_keeps_the_severity_and_the_app_ranks_intakes_stored_before(skin: Engine, store: Store) -> None:
    person = InProcessPatient(TurnRunner(skin, store), Chat(78, 78, "Pat", None, None, "en"))
    person.consent()
    person.tap("18 to 64")
    for label in ("No, never", "No", "Large-looking pores", "Done", "Skip this question"):
        person.tap(label)
    person.tap(dict(skin.option_labels(skin.steps["pregnancy"], "en"))["breastfeeding"])
    intake = person.intake()
    assert "pregnancy" in intake.flags
    with store.transaction(read_only=True) as tx:
        assert tx.intake(intake.id).severity == HIGH
    older = make(store, 79, 3, flags=["recent_toxin", "allergy_now"])  # as stored before 0010: 0
    unknown = make(store, 80, 3, flags=["no_such_flag"])
    create_app(skin, store, secret_key="k")
    with store.transaction(read_only=True) as tx:
        assert tx.intake(older).severity == SEVERITY_RANK["urgent"] and tx.intake(unknown).severity == 0


def test_the_queue_page_and_the_list_show_words_badges_and_waits(skin: Engine, store: Store, world) -> None:
    client = TestClient(create_app(skin, store, secret_key="k"))
    login(client)
    page = client.get("/").text
    assert '<span class="badge sev-high">high: Pregnancy, trying to get pregnant, or breastfeeding</span>' in page
    assert re.search(r'class="waiting">waiting 2 d [01] h<', page)  # waiting_long: two days
    queue_ids = [int(i) for i in dict.fromkeys(re.findall(r'href="/intakes/(\d+)\?at=', page))]
    assert queue_ids[:3] == [world["urgent_old"], world["urgent_new"], world["waiting_long"]]
    listing = client.get("/intakes?flag=pregnancy").text
    assert '<option value="pregnancy" selected>' in listing and "pregnancy</span>" not in listing
    row = rf'<tr class="reviewed[^"]*"[^>]*>\s*<td><a href="/intakes/{world["reviewed"]}"'
    assert re.search(row, client.get("/intakes").text)
    assert client.get("/?status=completed", follow_redirects=False).headers["location"] == "/intakes?status=completed"


def test_waiting_times_in_words() -> None:
    english, german = StaffLanguages("en").translations("en"), StaffLanguages("en").translations("de")
    assert waited(timedelta(minutes=130), english) == "waiting 2 h 10 min"
    assert waited(timedelta(seconds=30), english) == "waiting 0 min"
    assert waited(timedelta(days=3, hours=4, minutes=5), english) == "waiting 3 d 4 h"
    assert waited(timedelta(minutes=130), german) == "wartet seit 2 h 10 min"


def test_migration_0010_goes_down_and_up_again(empty_database_url: str) -> None:
    from alembic import command
    from alembic.config import Config

    from bot.store.store import MIGRATIONS

    store = Store.open(empty_database_url)
    try:
        make(store, 1, 1, severity=3, assigned_to="rita")
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        with store.engine.begin() as conn:
            config.attributes["connection"] = conn
            command.downgrade(config, "0009")
        with store.engine.connect() as conn:
            assert "severity" not in {c["name"] for c in sa.inspect(conn).get_columns("intakes")}
        store.migrate()
        with store.transaction(read_only=True) as tx:
            assert [(i.severity, i.assigned_to) for i in [tx.intake(1)]] == [(0, None)]
    finally:
        store.close()


@pytest.mark.parametrize("sort", ["date", "severity"])
def test_previous_pages_are_the_same_pages_read_upwards(store: Store, world: dict[str, int], sort: str) -> None:
    pages, after = [], None
    with store.transaction(read_only=True) as tx:
        while True:
            page = q.list_page(tx, Search(), sort, after, size=4, counts=False)
            pages.append(page)
            if page.next is None:
                break
            after = page.next
        assert pages[0].previous is None and all(p.previous is not None for p in pages[1:])
        back = pages[-1]
        for expected in reversed(pages[:-1]):
            back = q.list_page(tx, Search(), sort, None, size=4, before=back.previous, counts=False)
            assert [i.id for i in back.items] == [i.id for i in expected.items]
            assert back.next is not None
        assert back.previous is None  # the first page again: nothing above it
