"""Failed logins: counted per client and name in the store, so that the answers tell no names
apart and a flood from one place locks no colleague out elsewhere. On SQLite and PostgreSQL."""

from __future__ import annotations

import re
import statistics
import time

import pytest
import sqlalchemy as sa
from starlette.testclient import TestClient
from support.staff import PASSWORD, csrf_of, staff_store

import bot.staff.accounts as accounts_module
from bot.engine import Engine
from bot.staff import throttle
from bot.staff.accounts import Accounts
from bot.staff.throttle import PAIR, Rule, client_of
from bot.staff.web import create_app
from bot.store import Store
from bot.store.schema import login_throttle

WRONG = "not the password"


@pytest.fixture()
def store(database_url: str) -> Store:
    return staff_store(database_url)


@pytest.fixture()
def accounts(store: Store) -> Accounts:
    return Accounts(store)


@pytest.fixture()
def app(skin: Engine, store: Store):
    return create_app(skin, store, secret_key="test-secret-key")


def browser(app, address: str) -> TestClient:
    return TestClient(app, client=(address, 50000))


def attempt(client: TestClient, name: str, password: str = WRONG) -> tuple[int, str]:
    """One login: its status and the message shown (none after a success)."""
    response = client.post(
        "/login", data={"name": name, "password": password, "csrf": csrf_of(client, "/login")}, follow_redirects=False
    )
    shown = re.search(r'role="alert">([^<]*)<', response.text)
    return response.status_code, shown.group(1) if shown else ""


def test_an_unknown_and_an_existing_name_answer_the_same_after_every_failure(app) -> None:
    rita_guesser, ghost_guesser = browser(app, "198.51.100.1"), browser(app, "198.51.100.2")
    answers = [(attempt(rita_guesser, "rita"), attempt(ghost_guesser, "nobody-here")) for _ in range(PAIR.free + 3)]
    for number, (existing, unknown) in enumerate(answers, 1):
        assert existing == unknown, number
    assert answers[0][0] == (401, "Wrong name or password.")
    assert answers[-1][0][0] == 401 and answers[-1][0][1].startswith("Too many failed attempts: try again in")


def test_a_flood_from_one_client_does_not_lock_out_the_colleague_at_another(app, monkeypatch) -> None:
    monkeypatch.setattr(throttle, "CLIENT", Rule("client", 8))  # 20 in production: fewer hashes here
    attacker = browser(app, "203.0.113.66")
    for _ in range(throttle.CLIENT.free + 3):  # past the pair's and the client's thresholds
        status, shown = attempt(attacker, "rita")
    assert status == 401 and shown.startswith("Too many failed attempts")
    assert attempt(attacker, "rita", PASSWORD)[1].startswith("Too many failed attempts")  # the guesser stays out
    rita = browser(app, "192.0.2.10")
    assert attempt(rita, "rita") == (401, "Wrong name or password.")  # a typo of her own
    assert attempt(rita, "rita", PASSWORD) == (303, "")


def test_many_clients_guessing_one_name_lock_it_only_for_clients_that_failed(
    accounts: Accounts, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(throttle, "NAME", Rule("name", 6))  # 50 in production: fewer hashes here
    guessers = [f"203.0.113.{n}" for n in range(1, 9)]
    for address in guessers:
        assert accounts.authenticate("rita", WRONG, client=address).member is None
    locked = accounts.authenticate("rita", PASSWORD, client=guessers[0])
    assert locked.member is None and locked.locked_for
    assert accounts.authenticate("rita", PASSWORD, client="192.0.2.10").member is not None


def test_a_client_trying_many_names_is_locked_out_of_every_name(accounts: Accounts, monkeypatch) -> None:
    monkeypatch.setattr(throttle, "CLIENT", Rule("client", 8))  # 20 in production: fewer hashes here
    for n in range(throttle.CLIENT.free + 1):
        result = accounts.authenticate(f"name{n}", WRONG, client="203.0.113.7")
    assert result.locked_for
    assert accounts.authenticate("rita", PASSWORD, client="203.0.113.7").locked_for  # even a right one
    assert accounts.authenticate("rita", PASSWORD, client="203.0.113.8").member is not None


def test_every_answer_checks_exactly_one_argon2_hash(accounts: Accounts, monkeypatch: pytest.MonkeyPatch) -> None:
    """What makes the answers take the same time: one argon2 check each, against the dummy hash
    whenever there is no account to check (unknown, disabled) or the attempt is locked out."""
    accounts.add("dora", PASSWORD)
    accounts.disable("dora")
    checked: list[bool] = []
    real_verify = accounts_module._verify

    def counting_verify(hashed: str, password: str) -> bool:
        checked.append(hashed == accounts_module._DUMMY_HASH)
        return real_verify(hashed, password)

    monkeypatch.setattr(accounts_module, "_verify", counting_verify)

    def dummy(name: str, password: str = WRONG, client: str = "192.0.2.1") -> bool:
        checked.clear()
        accounts.authenticate(name, password, client=client)
        assert len(checked) == 1, (name, checked)
        return checked[0]

    assert dummy("nobody") and dummy("dora", PASSWORD)
    assert not dummy("rita") and not dummy("rita", PASSWORD)
    for _ in range(PAIR.free + 1):
        dummy("rita", client="203.0.113.5")
    assert accounts.authenticate("rita", PASSWORD, client="203.0.113.5").locked_for
    assert dummy("rita", PASSWORD, client="203.0.113.5")  # locked out: the dummy, even for the right password


@pytest.mark.slow
def test_a_locked_out_answer_takes_about_as_long_as_a_wrong_password(accounts: Accounts) -> None:
    """Generous bounds (this machine is shared): both are one argon2 check, tens of milliseconds."""

    def median(name: str, client: str) -> float:
        times = []
        for _ in range(5):
            start = time.perf_counter()
            accounts.authenticate(name, WRONG, client=client)
            times.append(time.perf_counter() - start)
        return statistics.median(times)

    for _ in range(PAIR.free + 1):
        accounts.authenticate("rita", WRONG, client="203.0.113.9")
    locked = median("rita", "203.0.113.9")
    wrong = median("adam", "192.0.2.2")
    unknown = median("nobody", "192.0.2.3")
    assert 0.4 < locked / wrong < 2.5 and 0.4 < unknown / wrong < 2.5, (locked, wrong, unknown)


def test_failed_logins_are_kept_as_digests_only(accounts: Accounts) -> None:
    accounts.authenticate("my-password-typed-as-name", WRONG, client="203.0.113.44")
    with accounts.store.transaction(read_only=True) as tx:
        stored = " ".join(str(v) for row in tx.conn.execute(sa.select(login_throttle)) for v in row)
    assert "my-password" not in stored and "203.0.113" not in stored


def test_an_ipv6_client_is_counted_by_its_64_and_a_mapped_ipv4_as_ipv4() -> None:
    assert client_of("2001:db8:1:2::1") == client_of("2001:db8:1:2:ffff::9") == "2001:db8:1:2::/64"
    assert client_of("::ffff:192.0.2.1") == "192.0.2.1" and client_of(None) == "unknown"
