"""Staff accounts and API tokens: argon2 passwords, growing lockout, one-time tokens.

(How the lockout tells no names apart and locks no colleague out: tests/test_login_throttle.py.)"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from bot.staff.accounts import AccountError, Accounts
from bot.staff.throttle import MAX_LOCK, PAIR
from bot.store import Store, utcnow
from bot.store.schema import login_throttle, staff

FREE_FAILURES = PAIR.free


@pytest.fixture()
def accounts(database_url: str) -> Accounts:
    return Accounts(Store(database_url))


def test_passwords_are_hashed_with_argon2(accounts: Accounts) -> None:
    accounts.add("alice", "correct horse battery", "admin")
    with accounts.store.transaction() as tx:
        hashed = tx.conn.execute(staff.select()).one().password_hash
    assert hashed.startswith("$argon2id$") and "correct horse" not in hashed
    assert accounts.authenticate("alice", "correct horse battery").member.role == "admin"


def test_bad_requests_are_refused_clearly(accounts: Accounts) -> None:
    accounts.add("alice", "correct horse battery")
    for call, message in [
        (lambda: accounts.add("alice", "another long password"), "already a staff member called alice"),
        (lambda: accounts.add("bob", "short"), "at least 10 characters"),
        (lambda: accounts.add("b b", "long enough password"), "letters, digits"),
        (lambda: accounts.add("carol", "long enough password", "boss"), "role must be one of"),
        (lambda: accounts.disable("nobody"), "no staff member called nobody"),
    ]:
        with pytest.raises(AccountError, match=message):
            call()


@pytest.mark.slow  # a dozen argon2 hashes at the production cost, twice (SQLite, PostgreSQL)
def test_repeated_failures_lock_the_account_for_a_growing_while(accounts: Accounts) -> None:
    accounts.add("alice", "correct horse battery")
    now = utcnow()
    for _ in range(FREE_FAILURES):
        result = accounts.authenticate("alice", "wrong password", now)
        assert result.member is None and result.locked_for is None
    locks = []
    for _ in range(4):
        result = accounts.authenticate("alice", "wrong password", now)
        locks.append(result.locked_for)
        now += result.locked_for  # wait it out, then fail again
    assert locks == sorted(locks) and locks[0] > timedelta(0) and locks[-1] <= MAX_LOCK
    locked = accounts.authenticate("alice", "wrong password", now)
    assert accounts.authenticate("alice", "correct horse battery", now).member is None  # still locked
    now += locked.locked_for
    assert accounts.authenticate("alice", "correct horse battery", now).member is not None
    assert accounts.authenticate("alice", "wrong password", now).locked_for is None  # the count starts again


def test_unknown_and_disabled_accounts_cannot_log_in(accounts: Accounts) -> None:
    accounts.add("alice", "correct horse battery")
    assert accounts.authenticate("mallory", "correct horse battery").member is None
    accounts.disable("alice")
    assert accounts.authenticate("alice", "correct horse battery").member is None
    assert accounts.list()[0].disabled


def test_a_new_password_works_and_clears_a_lock(accounts: Accounts) -> None:
    accounts.add("alice", "correct horse battery")
    for _ in range(FREE_FAILURES + 1):
        accounts.authenticate("alice", "nope nope nope")
    accounts.set_password("alice", "a brand new password")
    assert accounts.authenticate("alice", "a brand new password").member is not None


def test_api_tokens_are_shown_once_stored_hashed_and_revocable(accounts: Accounts) -> None:
    token = accounts.add_token("erp")
    assert token.startswith("ik_") and len(token) > 40
    assert accounts.token_name(token) == "erp"
    assert accounts.token_name(token + "x") is None
    with pytest.raises(AccountError, match="already a token called erp"):
        accounts.add_token("erp")
    accounts.revoke_token("erp")
    assert accounts.token_name(token) is None
    assert accounts.tokens()[0][2] is True


def test_staff_command_line_reads_the_password_from_standard_input(cli, tmp_path: Path) -> None:
    env = {"DATABASE_URL": f"sqlite:///{tmp_path / 'staff.db'}", "PATH": "/usr/bin:/bin"}

    def bot(*args: str, stdin: str = ""):
        return cli(*args, stdin=stdin, env=env)

    assert (
        bot("staff", "add", "alice", "--role", "admin", stdin="correct horse battery\n").stdout
        == "added alice (admin)\n"
    )
    result = bot("staff", "add", "bob", stdin="short\n")
    assert result.returncode == 1 and result.stderr.strip() == "the password must have at least 10 characters"
    assert bot("staff", "list").stdout.startswith("alice\tadmin\tactive\tlast login never")
    assert bot("staff", "disable", "alice").returncode == 0
    assert "disabled" in bot("staff", "list").stdout
    token = bot("token", "add", "erp").stdout.strip()
    assert token.startswith("ik_") and "Traceback" not in bot("token", "revoke", "erp").stderr
    assert bot("token", "revoke", "erp").stderr.strip() == "no active token called erp"
    named = bot("staff", "display-name", "alice", "Dr.  Alice   Weber")
    assert named.stdout == "alice signs messages to patients as Dr. Alice Weber\n"
    assert bot("staff", "display-name", "nobody", "X").stderr.strip() == "no staff member called nobody"
    assert bot("staff", "display-name", "alice", "\x07").returncode == 1
    desk = bot("token", "add", "desk", "--scope", "read,message").stdout.strip()
    assert "desk\tactive\tread,message\tcreated" in bot("token", "list").stdout
    assert bot("token", "add", "bad", "--scope", "write").stderr.strip() == "unknown scope write: use read, message"
    store = Store(env["DATABASE_URL"])
    try:
        accounts = Accounts(store)
        assert accounts.token_access(desk).scopes == {"read", "message"}
        assert accounts.token_access(bot("token", "add", "reader").stdout.strip()).scopes == {"read"}
    finally:
        store.close()


def test_guesses_made_at_once_each_see_the_lock_the_one_before_set(accounts: Accounts) -> None:
    """The web app checks logins on several threads (and processes): four wrong guesses at the same
    moment, with the free tries used up, must not all be counted (one is; the lock it sets stops
    the rest)."""
    from concurrent.futures import ThreadPoolExecutor

    accounts.add("alice", "correct horse battery")
    for _ in range(FREE_FAILURES):
        accounts.authenticate("alice", "wrong password")
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: accounts.authenticate("alice", "still wrong"), range(4)))
    assert all(r.member is None and r.locked_for for r in results)
    with accounts.store.transaction() as tx:
        counts = sorted(row.failures for row in tx.conn.execute(login_throttle.select()))
    assert counts == [FREE_FAILURES + 1] * 3  # one was counted (pair, client, name); three met its lock


def test_a_login_checked_while_the_account_is_disabled_fails(accounts: Accounts, monkeypatch) -> None:
    import bot.staff.accounts as module

    accounts.add("alice", "correct horse battery")
    real_verify = module._verify

    def verify_then_disable(hashed: str, password: str) -> bool:
        accounts.disable("alice")  # an admin, meanwhile, in another process
        return real_verify(hashed, password)

    monkeypatch.setattr(module, "_verify", verify_then_disable)
    assert accounts.authenticate("alice", "correct horse battery").member is None
