"""Staff sessions live in the store: they end at logout, on disable, on a new password, when idle
and when old, and a copied cookie ends with them. On SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa
from starlette.testclient import TestClient
from support.staff import csrf_of, login, staff_store

from bot.engine import Engine
from bot.staff.accounts import Accounts
from bot.staff.sessions import SEEN_MARKED_EVERY, Lifetime, digest
from bot.staff.web import create_app
from bot.store import Store, utcnow
from bot.store.schema import staff, staff_sessions

COOKIE = "intake_session"
LIFETIME = Lifetime(idle=timedelta(minutes=30), absolute=timedelta(hours=12))


class Clock:
    """A clock the test moves by hand (no sleeping)."""

    def __init__(self) -> None:
        self.now = utcnow()

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture()
def store(database_url: str) -> Store:
    return staff_store(database_url)


@pytest.fixture()
def clock() -> Clock:
    return Clock()


@pytest.fixture()
def app(skin: Engine, store: Store, clock: Clock):
    return create_app(skin, store, secret_key="test-secret-key", lifetime=LIFETIME, clock=clock)


def logged_in(app, name: str = "rita") -> TestClient:
    client = TestClient(app)
    login(client, name)
    return client


def copy_of(app, client: TestClient) -> TestClient:
    """Another browser holding a copy of ``client``'s session cookie (as a thief would)."""
    return TestClient(app, cookies={COOKIE: client.cookies[COOKIE]})


def works(client: TestClient) -> bool:
    """Whether the cookie still opens the intake list and the export of every intake."""
    page = client.get("/", follow_redirects=False)
    export = client.get("/export?format=json", follow_redirects=False)
    assert page.status_code == export.status_code, (page.status_code, export.status_code)
    if page.status_code == 303:
        assert page.headers["location"].startswith("/login")
        return False
    assert page.status_code == 200
    return True


def sessions_of(store: Store) -> list[sa.Row]:
    with store.transaction(read_only=True) as tx:
        return list(tx.conn.execute(sa.select(staff_sessions)))


def test_a_copied_cookie_stops_working_after_logout(app) -> None:
    rita = logged_in(app)
    thief = copy_of(app, rita)
    assert works(thief)
    rita.post("/logout", data={"csrf": csrf_of(rita, "/")}, follow_redirects=False)
    assert not works(rita) and not works(thief)
    assert thief.post("/intakes/1/notes", data={"text": "x"}, follow_redirects=False).status_code == 303


def test_logging_in_on_a_shared_computer_ends_the_session_signed_in_there_before(app) -> None:
    """Reception's computer: adam logs in where rita was signed in. A copy of rita's cookie taken
    from that computer must not go on working for the rest of her idle time."""
    desk = logged_in(app)
    thief = copy_of(app, desk)
    login(desk, "adam")
    assert works(desk) and not works(thief)


def test_a_copied_cookie_stops_working_once_the_account_is_disabled(app, store: Store) -> None:
    thief = copy_of(app, logged_in(app))
    adam = logged_in(app, "adam")
    assert works(thief)
    Accounts(store).disable("rita")  # `python -m bot staff disable rita`, from another process
    assert not works(thief)
    assert works(adam)  # only rita's sessions ended
    assert [row.staff_id for row in sessions_of(store)] != [] and len(sessions_of(store)) == 1


def test_every_session_of_a_member_ends_when_the_password_changes(app, store: Store) -> None:
    first, second = logged_in(app), logged_in(app)
    thief = copy_of(app, first)
    adam = logged_in(app, "adam")
    Accounts(store).set_password("rita", "a brand new password")  # `staff passwd rita`
    assert not works(first) and not works(second) and not works(thief)
    assert works(adam)


def test_a_session_ends_after_the_idle_time(app, clock: Clock) -> None:
    rita = logged_in(app)
    for _ in range(5):  # used within the idle time again and again: it lasts
        clock.now += LIFETIME.idle - timedelta(minutes=2)
        assert works(rita)
    clock.now += LIFETIME.idle
    assert not works(rita)


def test_a_session_ends_at_its_absolute_lifetime_however_busy(app, clock: Clock) -> None:
    rita = logged_in(app)
    start = clock.now
    while clock.now + timedelta(minutes=10) < start + LIFETIME.absolute:
        clock.now += timedelta(minutes=10)
        assert works(rita), clock.now - start
    clock.now = start + LIFETIME.absolute
    assert not works(rita)


def test_last_seen_is_written_at_most_once_a_minute(app, store: Store, clock: Clock) -> None:
    rita = logged_in(app)
    login_time = sessions_of(store)[0].last_seen_at
    for _ in range(3):
        clock.now += timedelta(seconds=10)
        assert works(rita)
    assert sessions_of(store)[0].last_seen_at == login_time  # 30 s of pages: no write
    clock.now += SEEN_MARKED_EVERY
    assert works(rita)
    assert sessions_of(store)[0].last_seen_at > login_time


def test_the_store_keeps_only_a_digest_of_the_session_token(app, store: Store) -> None:
    rita = logged_in(app)
    cookie = rita.cookies[COOKIE]
    import base64
    import json

    token = json.loads(base64.b64decode(cookie.split(".")[0] + "=="))["session"]
    (row,) = sessions_of(store)
    assert row.token_hash == digest(token) and len(row.token_hash) == 64
    stored = " ".join(str(value) for value in row)
    assert token not in stored and cookie not in stored


def test_the_role_is_read_from_the_store_at_each_request(app, store: Store) -> None:
    rita = logged_in(app)
    assert rita.get("/audit").status_code == 403
    with store.transaction() as tx:
        tx.conn.execute(staff.update().where(staff.c.name == "rita").values(role="admin"))
    assert rita.get("/audit").status_code == 200
    with store.transaction() as tx:
        tx.conn.execute(staff.update().where(staff.c.name == "rita").values(role="reviewer"))
    assert rita.get("/audit").status_code == 403


def test_sessions_that_ran_out_are_swept_at_the_next_login(app, store: Store, clock: Clock) -> None:
    logged_in(app), logged_in(app, "adam")
    clock.now += LIFETIME.idle + timedelta(minutes=1)
    logged_in(app)
    assert len(sessions_of(store)) == 1
