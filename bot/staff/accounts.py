"""Staff accounts and clinic API tokens.

Passwords are hashed with argon2 (argon2-cffi's defaults, rehashed when those change). Failed
logins are counted per client and name (``bot.staff.throttle``); every attempt checks exactly one
argon2 hash (the member's, or a dummy for an unknown name, a disabled account or a locked-out
attempt), so neither the answer nor its time tells whether a name exists. API tokens are random,
shown once, and stored as SHA-256 digests.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from bot.errors import UserError
from bot.staff.i18n import catalog_languages
from bot.staff.roles import Role
from bot.staff.throttle import Throttle
from bot.store import Store, as_utc, utcnow
from bot.store import accounts as rows
from bot.store import sessions as session_rows

ROLES = tuple(Role)
MIN_PASSWORD = 10
TOKEN_USE_MARKED_EVERY = timedelta(minutes=1)
_NAME = re.compile(r"^[a-zA-Z0-9._@-]{2,64}$")
_hasher = PasswordHasher()
_DUMMY_HASH = _hasher.hash("not a real password")


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
    language: str | None = None  # the staff pages' language; None: the browser's


@dataclass(frozen=True)
class LoginResult:
    member: StaffMember | None
    locked_for: timedelta | None = None  # set when this client may not try this name for a while
    #: the name typed is a member's (False when unknown, or not looked up: locked out). The audit
    #: log names a failed login's member only then: a password typed into the name field by
    #: mistake must not be shown to admins.
    known: bool = False


def _member(row: sa.Row) -> StaffMember:
    return StaffMember(
        row.id, row.name, row.role, row.created_at, row.disabled_at is not None, row.last_login_at, row.language
    )


def check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise AccountError(f"the password must have at least {MIN_PASSWORD} characters")


#: What an API token may do: read intakes (every token), write to a patient (``message``).
SCOPES = ("read", "message")


@dataclass(frozen=True)
class TokenAccess:
    name: str
    scopes: frozenset[str]


class Accounts:
    def __init__(self, store: Store):
        self.store = store
        self.throttle = Throttle(store)

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
        self._change(name, password_hash=_hasher.hash(password))

    def set_display_name(self, name: str, display_name: str) -> None:
        """What patients read under this member's messages ("Anna", "Dr. Weber"): never the login
        name. Sessions go on (nothing about access changed)."""
        shown = " ".join(display_name.split())
        if not 1 <= len(shown) <= 64 or not shown.isprintable():
            raise AccountError("a display name has 1 to 64 printable characters")
        with self.store.transaction() as tx:
            if not rows.update_member(tx, name, display_name=shown):
                raise AccountError(f"no staff member called {name}")

    @staticmethod
    def check_language(language: str) -> None:
        if language not in catalog_languages():
            raise AccountError(f"the staff pages have no language {language!r}: {', '.join(catalog_languages())}")

    def set_language(self, name: str, language: str | None) -> None:
        """The staff pages' language for one member (None: the browser's); their sessions go on."""
        if language is not None:
            self.check_language(language)
        with self.store.transaction() as tx:
            if not rows.update_member(tx, name, language=language):
                raise AccountError(f"no staff member called {name}")

    def _change(self, name: str, **values: object) -> None:
        """Change a member's row, end all their sessions and forget the failed logins on their
        name (an admin's reset lets them in at once), in one transaction."""
        with self.store.transaction() as tx:
            row = rows.member(tx, name)
            if row is None:
                raise AccountError(f"no staff member called {name}")
            rows.update_member_by_id(tx, row.id, **values)
            session_rows.end_all(tx, row.id)
            self.throttle.forget_name(tx, name)

    def authenticate(
        self, name: str, password: str, now: datetime | None = None, client: str | None = None
    ) -> LoginResult:
        """Check a login from ``client`` (its address).

        The attempt is counted first (``Throttle.attempt``); then exactly one argon2 hash is
        checked, whatever happens: the member's, or a dummy one when the attempt is locked out,
        the name unknown or the account disabled, so that every answer but success takes the same
        time. The hash is checked outside any transaction: it takes tens of milliseconds on
        purpose, and on SQLite a write transaction held that long would keep the patients' turns
        waiting. A success is written only if the account is still as it was read (not disabled,
        the same password) meanwhile.
        """
        now = now or utcnow()
        client = client or "unknown"
        attempt = self.throttle.attempt(client, name, now)
        row = None
        if attempt.waits is None:
            with self.store.transaction(read_only=True) as tx:
                row = rows.member(tx, name)
        usable = row is not None and row.disabled_at is None
        right = _verify(row.password_hash if usable else _DUMMY_HASH, password) and usable
        if attempt.waits is not None:
            return LoginResult(None, attempt.waits)
        if not right:
            return LoginResult(None, attempt.locked_if_wrong, known=row is not None)
        values: dict = {"last_login_at": now}
        if _hasher.check_needs_rehash(row.password_hash):
            values["password_hash"] = _hasher.hash(password)
        with self.store.transaction() as tx:
            if not rows.update_member_if_unchanged(tx, row.id, row.password_hash, **values):
                return LoginResult(None, known=True)  # disabled, or given a new password, while this was checked
            member = _member(rows.member_by_id(tx, row.id))
        self.throttle.succeeded(client, name, now)
        return LoginResult(member)

    # --- API tokens ------------------------------------------------------------------------------

    def add_token(self, name: str, scopes: Iterable[str] = ("read",)) -> str:
        """A new token for the clinic API; returned once, stored only as its digest. ``scopes``:
        what it may do (``SCOPES``); reading is always among them."""
        if not _NAME.match(name):
            raise AccountError("a token name has 2 to 64 letters, digits or . _ @ -")
        wanted = {s.strip() for s in scopes if s.strip()} | {"read"}
        unknown = wanted - set(SCOPES)
        if unknown:
            raise AccountError(f"unknown scope {', '.join(sorted(unknown))}: use {', '.join(SCOPES)}")
        token = "ik_" + secrets.token_urlsafe(32)
        with self.store.transaction() as tx:
            if rows.token_named(tx, name) is not None:
                raise AccountError(f"there is already a token called {name}")
            rows.add_token(tx, name, _digest(token), utcnow(), ",".join(s for s in SCOPES if s in wanted))
        return token

    def revoke_token(self, name: str) -> None:
        with self.store.transaction() as tx:
            if not rows.revoke_token(tx, name, utcnow()):
                raise AccountError(f"no active token called {name}")

    def tokens(self) -> list[tuple[str, datetime, bool, datetime | None, str]]:
        """(name, created, revoked, last used, scopes) of every token."""
        with self.store.transaction(read_only=True) as tx:
            return [(r.name, r.created_at, r.revoked_at is not None, r.last_used_at, r.scopes) for r in rows.tokens(tx)]

    def token_name(self, token: str) -> str | None:
        """The name of an active token, or None."""
        access = self.token_access(token)
        return access.name if access is not None else None

    def token_access(self, token: str) -> TokenAccess | None:
        """The name and scopes of an active token, or None. Its last use is marked to the minute: marking it
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
        return TokenAccess(row.name, frozenset(row.scopes.split(",")))


def _verify(hashed: str, password: str) -> bool:
    try:
        return _hasher.verify(hashed, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
