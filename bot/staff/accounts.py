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
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from bot.store import Store, as_utc, utcnow
from bot.store.schema import api_tokens, staff

ROLES = ("reviewer", "admin")
MIN_PASSWORD = 10
FREE_FAILURES = 4  # failed logins before the account is locked for a while
MAX_LOCK = timedelta(minutes=15)
_NAME = re.compile(r"^[a-zA-Z0-9._@-]{2,64}$")
_hasher = PasswordHasher()
_DUMMY_HASH = _hasher.hash("not a real password")


class AccountError(Exception):
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

    def add(self, name: str, password: str, role: str = "reviewer") -> StaffMember:
        if not _NAME.match(name):
            raise AccountError("a name has 2 to 64 letters, digits or . _ @ -")
        if role not in ROLES:
            raise AccountError(f"role must be one of: {', '.join(ROLES)}")
        check_password(password)
        with self.store.transaction() as tx:
            if tx.conn.execute(sa.select(staff.c.id).where(staff.c.name == name)).first():
                raise AccountError(f"there is already a staff member called {name}")
            tx.conn.execute(
                staff.insert().values(
                    name=name, password_hash=_hasher.hash(password), role=role, created_at=utcnow(), failed_logins=0
                )
            )
            return _member(tx.conn.execute(sa.select(staff).where(staff.c.name == name)).one())

    def list(self) -> list[StaffMember]:
        with self.store.transaction() as tx:
            return [_member(r) for r in tx.conn.execute(sa.select(staff).order_by(staff.c.name))]

    def disable(self, name: str) -> None:
        with self.store.transaction() as tx:
            done = tx.conn.execute(staff.update().where(staff.c.name == name).values(disabled_at=utcnow()))
            if done.rowcount == 0:
                raise AccountError(f"no staff member called {name}")

    def set_password(self, name: str, password: str) -> None:
        check_password(password)
        with self.store.transaction() as tx:
            done = tx.conn.execute(
                staff.update()
                .where(staff.c.name == name)
                .values(password_hash=_hasher.hash(password), failed_logins=0, locked_until=None)
            )
            if done.rowcount == 0:
                raise AccountError(f"no staff member called {name}")

    def authenticate(self, name: str, password: str, now: datetime | None = None) -> LoginResult:
        now = now or utcnow()
        with self.store.transaction() as tx:
            row = tx.conn.execute(sa.select(staff).where(staff.c.name == name)).first()
            if row is None or row.disabled_at is not None:
                _verify(_DUMMY_HASH, password)  # the same work as a real check
                return LoginResult(None)
            locked_until = as_utc(row.locked_until)
            if locked_until is not None and locked_until > now:
                return LoginResult(None, locked_until - now)
            if not _verify(row.password_hash, password):
                failures = row.failed_logins + 1
                lock = None
                if failures > FREE_FAILURES:
                    lock = min(MAX_LOCK, timedelta(seconds=2 ** (failures - FREE_FAILURES) * 15))
                tx.conn.execute(
                    staff.update()
                    .where(staff.c.id == row.id)
                    .values(failed_logins=failures, locked_until=now + lock if lock else None)
                )
                return LoginResult(None, lock)
            values: dict = {"failed_logins": 0, "locked_until": None, "last_login_at": now}
            if _hasher.check_needs_rehash(row.password_hash):
                values["password_hash"] = _hasher.hash(password)
            tx.conn.execute(staff.update().where(staff.c.id == row.id).values(**values))
            return LoginResult(_member(tx.conn.execute(sa.select(staff).where(staff.c.id == row.id)).one()))

    # --- API tokens ------------------------------------------------------------------------------

    def add_token(self, name: str) -> str:
        """A new token for the clinic API; returned once, stored only as its digest."""
        if not _NAME.match(name):
            raise AccountError("a token name has 2 to 64 letters, digits or . _ @ -")
        token = "ik_" + secrets.token_urlsafe(32)
        with self.store.transaction() as tx:
            if tx.conn.execute(sa.select(api_tokens.c.id).where(api_tokens.c.name == name)).first():
                raise AccountError(f"there is already a token called {name}")
            tx.conn.execute(api_tokens.insert().values(name=name, token_hash=_digest(token), created_at=utcnow()))
        return token

    def revoke_token(self, name: str) -> None:
        with self.store.transaction() as tx:
            done = tx.conn.execute(
                api_tokens.update()
                .where(api_tokens.c.name == name, api_tokens.c.revoked_at.is_(None))
                .values(revoked_at=utcnow())
            )
            if done.rowcount == 0:
                raise AccountError(f"no active token called {name}")

    def tokens(self) -> list[tuple[str, datetime, bool, datetime | None]]:
        with self.store.transaction() as tx:
            rows = tx.conn.execute(sa.select(api_tokens).order_by(api_tokens.c.name))
            return [(r.name, r.created_at, r.revoked_at is not None, r.last_used_at) for r in rows]

    def token_name(self, token: str) -> str | None:
        """The name of an active token, or None."""
        with self.store.transaction() as tx:
            row = tx.conn.execute(
                sa.select(api_tokens).where(
                    api_tokens.c.token_hash == _digest(token), api_tokens.c.revoked_at.is_(None)
                )
            ).first()
            if row is None:
                return None
            tx.conn.execute(api_tokens.update().where(api_tokens.c.id == row.id).values(last_used_at=utcnow()))
            return row.name


def _verify(hashed: str, password: str) -> bool:
    try:
        return _hasher.verify(hashed, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
