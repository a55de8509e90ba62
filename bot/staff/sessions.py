"""Staff sessions: a random token in the browser's cookie, its digest in the store.

A session ends at logout, when its member is disabled or given a new password (every session of
that member), after ``idle`` without a request and ``absolute`` after its login, whichever comes
first. Each request reads the session with its member's current name and role, so a role change
takes effect at the next page. "Last seen" is written at most once a minute per session: a write
per page view would, on SQLite, make the patients' turns wait for the one write lock.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.store import Store, as_utc, utcnow
from bot.store import sessions as rows

#: How stale "last seen" may get; an idle session may therefore end up to this much early.
SEEN_MARKED_EVERY = timedelta(minutes=1)
Clock = Callable[[], datetime]


@dataclass(frozen=True)
class Lifetime:
    """How long a session lasts without a request (``idle``) and at most (``absolute``)."""

    idle: timedelta = timedelta(minutes=30)
    absolute: timedelta = timedelta(hours=12)


@dataclass(frozen=True)
class SignedIn:
    """Who a session belongs to, as the store says now."""

    name: str
    role: str
    language: str | None = None  # the pages' language the member chose (None: not chosen)


def digest(token: str) -> str:
    """SHA-256 of a token: what the store keeps instead of the token itself."""
    return hashlib.sha256(token.encode()).hexdigest()


class Sessions:
    def __init__(self, store: Store, lifetime: Lifetime | None = None, clock: Clock = utcnow):
        self.store = store
        self.lifetime = lifetime or Lifetime()
        self.clock = clock

    def start(self, staff_id: int) -> str:
        """A new session for a member who has just logged in; its token, for the cookie only.
        Sessions that have run out (anyone's) are swept on the way."""
        token = secrets.token_urlsafe(32)
        now = self.clock()
        with self.store.transaction() as tx:
            rows.sweep(tx, now - self.lifetime.idle, now - self.lifetime.absolute)
            rows.add(tx, digest(token), staff_id, now)
        return token

    def member(self, token: str) -> SignedIn | None:
        """Who the session with this token belongs to, or None when it has ended, run out, or its
        member is disabled."""
        now = self.clock()
        key = digest(token)
        with self.store.transaction(read_only=True) as tx:
            row = rows.find(tx, key)
        if row is None:
            return None
        last_seen = as_utc(row.last_seen_at)
        if now - last_seen >= self.lifetime.idle or now - as_utc(row.created_at) >= self.lifetime.absolute:
            self.end(token)
            return None
        if now - last_seen >= SEEN_MARKED_EVERY:
            with self.store.transaction() as tx:
                rows.touch(tx, row.id, now)
        return SignedIn(row.name, row.role, row.language)

    def end(self, token: str) -> None:
        with self.store.transaction() as tx:
            rows.end(tx, digest(token))
