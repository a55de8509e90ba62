"""Staff accounts and clinic API tokens.

Passwords are hashed with argon2 (argon2-cffi's defaults, rehashed when those change). Repeated
failed logins lock an account for a growing while; an unknown name costs the same time as a
wrong password, so names cannot be probed. API tokens are random, shown once, and stored as
SHA-256 digests.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from bot.errors import UserError
from bot.staff.roles import Role
from bot.store import Store, as_utc, utcnow
from bot.store import accounts as rows
from bot.store import sessions as session_rows

ROLES = tuple(Role)
MIN_PASSWORD = 10
FREE_FAILURES = 4  # failed logins before the account is locked for a while
MAX_LOCK = timedelta(minutes=15)
TOKEN_USE_MARKED_EVERY = timedelta(minutes=1)
_NAME = re.compile(r"^[a-zA-Z0-9._@-]{2,64}$")
_hasher = PasswordHasher()
_DUMMY_HASH = _hasher.hash("not a real password")
#: One login checked at a time in this process (see Accounts.authenticate).
_checking = threading.Lock()


class AccountError(UserError):
    """A request about an account that cannot be done (one clear line)."""


@dataclass(frozen=True)
class StaffMember:
    id: int
    name: str
    role: str
    created_at: datetime
    disabled: bool
    last_login_at: datetime | None


@dataclass(frozen=True)
class LoginResult:
    member: StaffMember | None
    locked_for: timedelta | None = None  # set when the account is locked


def _member(row: sa.Row) -> StaffMember:
    return StaffMember(row.id, row.name, row.role, row.created_at, row.disabled_at is not None, row.last_login_at)


def check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise AccountError(f"the password must have at least {MIN_PASSWORD} characters")


class Accounts:
    def __init__(self, store: Store):
        self.store = store

    def add(self, name: str, password: str, role: str = Role.REVIEWER) -> StaffMember:
        if not _NAME.match(name):
            raise AccountError("a name has 2 to 64 letters, digits or . _ @ -")
        if role not in ROLES:
            raise AccountError(f"role must be one of: {', '.join(ROLES)}")
        check_password(password)
        hashed = _hasher.hash(password)  # slow on purpose: outside the transaction
        with self.store.transaction() as tx:
            if rows.member(tx, name) is not None:
                raise AccountError(f"there is already a staff member called {name}")
            rows.add_member(tx, name, hashed, role, utcnow())
            return _member(rows.member(tx, name))

    def list(self) -> list[StaffMember]:
        with self.store.transaction(read_only=True) as tx:
            return [_member(r) for r in rows.members(tx)]

    def disable(self, name: str) -> None:
        """Disable an account and end its sessions (a copied cookie stops working too)."""
        self._change(name, disabled_at=utcnow())

    def set_password(self, name: str, password: str) -> None:
        """A new password; every session of the member ends (whoever knew the old one is out)."""
        check_password(password)
        self._change(name, password_hash=_hasher.hash(password), failed_logins=0, locked_until=None)

    def _change(self, name: str, **values: object) -> None:
        """Change a member's row and end all their sessions, in one transaction."""
        with self.store.transaction() as tx:
            row = rows.member(tx, name)
            if row is None:
                raise AccountError(f"no staff member called {name}")
            rows.update_member_by_id(tx, row.id, **values)
            session_rows.end_all(tx, row.id)

    def authenticate(self, name: str, password: str, now: datetime | None = None) -> LoginResult:
        """Check a login.

        The password hash is checked outside any transaction: it takes tens of milliseconds on
        purpose, and on SQLite a write transaction held that long would keep the patients' turns
        waiting. Logins are checked one at a time (``_checking``), so that guesses made at once
        each see the lock the one before may have set; a success is written only if the account
        is still as it was read (not disabled, the same password) meanwhile.
        """
        with _checking:
            return self._authenticate(name, password, now or utcnow())

    def _authenticate(self, name: str, password: str, now: datetime) -> LoginResult:
        with self.store.transaction(read_only=True) as tx:
            row = rows.member(tx, name)
        if row is None or row.disabled_at is not None:
            _verify(_DUMMY_HASH, password)  # the same work as a real check
            return LoginResult(None)
        locked_until = as_utc(row.locked_until)
        if locked_until is not None and locked_until > now:
            return LoginResult(None, locked_until - now)
        if not _verify(row.password_hash, password):
            with self.store.transaction() as tx:
                failures = rows.member_by_id(tx, row.id).failed_logins + 1
                lock = None
                if failures > FREE_FAILURES:
                    lock = min(MAX_LOCK, timedelta(seconds=2 ** (failures - FREE_FAILURES) * 15))
                rows.update_member_by_id(tx, row.id, failed_logins=failures, locked_until=now + lock if lock else None)
            return LoginResult(None, lock)
        values: dict = {"failed_logins": 0, "locked_until": None, "last_login_at": now}
        if _hasher.check_needs_rehash(row.password_hash):
            values["password_hash"] = _hasher.hash(password)
        with self.store.transaction() as tx:
            if not rows.update_member_if_unchanged(tx, row.id, row.password_hash, **values):
                return LoginResult(None)  # disabled, or given a new password, while this was checked
            return LoginResult(_member(rows.member_by_id(tx, row.id)))

    # --- API tokens ------------------------------------------------------------------------------

    def add_token(self, name: str) -> str:
        """A new token for the clinic API; returned once, stored only as its digest."""
        if not _NAME.match(name):
            raise AccountError("a token name has 2 to 64 letters, digits or . _ @ -")
        token = "ik_" + secrets.token_urlsafe(32)
        with self.store.transaction() as tx:
            if rows.token_named(tx, name) is not None:
                raise AccountError(f"there is already a token called {name}")
            rows.add_token(tx, name, _digest(token), utcnow())
        return token

    def revoke_token(self, name: str) -> None:
        with self.store.transaction() as tx:
            if not rows.revoke_token(tx, name, utcnow()):
                raise AccountError(f"no active token called {name}")

    def tokens(self) -> list[tuple[str, datetime, bool, datetime | None]]:
        with self.store.transaction(read_only=True) as tx:
            return [(r.name, r.created_at, r.revoked_at is not None, r.last_used_at) for r in rows.tokens(tx)]

    def token_name(self, token: str) -> str | None:
        """The name of an active token, or None. Its last use is marked to the minute: marking it
        on every API call would make every call a write, and on SQLite the patients' turns wait
        for the one write lock."""
        now = utcnow()
        with self.store.transaction(read_only=True) as tx:
            row = rows.active_token(tx, _digest(token))
        if row is None:
            return None
        last = as_utc(row.last_used_at)
        if last is None or now - last >= TOKEN_USE_MARKED_EVERY:
            with self.store.transaction() as tx:
                rows.mark_token_used(tx, row.id, now)
        return row.name


def _verify(hashed: str, password: str) -> bool:
    try:
        return _hasher.verify(hashed, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
