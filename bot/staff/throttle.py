"""How often a login may be tried: failed logins counted per client and name, in the store.

Three counts, each under a SHA-256 key (what was typed as a name is not kept, nor an address):

- a **client and a name** together: locked from the 5th failure, for a growing while (30 s,
  doubling, at most 15 minutes). This is the lock a guesser meets, and it is theirs alone: the
  same name from another client is not locked by it.
- a **client**, whatever the names: locked from the 21st failure. One address trying many names
  (a list of likely ones) is stopped; a clinic's staff behind one address have room for typos.
- a **name**, from every client: locked from the 51st failure, and only for clients that have
  failed on that name themselves. Many addresses guessing one colleague's password are slowed,
  while the colleague, at a browser that has not failed, still logs in with the right password.

None of this asks whether the name exists: an unknown name is counted, locked and answered
exactly as an existing one, so the answers cannot tell names apart. Each attempt is counted
*before* its password is checked (and the count undone if it was right), in a transaction
that locks the rows, so guesses made at once, in one process or several on one database, each
see the lock the one before set. Counts are forgotten a day after their last failure; a right
password clears its client's counts, and a new password every count involving the name.
"""

from __future__ import annotations

import hashlib
import ipaddress
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Row

from bot.store import Store, Tx, as_utc
from bot.store import throttle as rows


@dataclass(frozen=True)
class Rule:
    scope: str
    free: int  # failures before the next one locks


PAIR = Rule("pair", 4)
CLIENT = Rule("client", 20)
NAME = Rule("name", 50)
FIRST_LOCK = timedelta(seconds=30)
MAX_LOCK = timedelta(minutes=15)
FORGET_AFTER = timedelta(days=1)


def lock_for(rule: Rule, failures: int) -> timedelta | None:
    """How long ``failures`` failures lock under ``rule``: none up to its free ones, then doubling."""
    if failures <= rule.free:
        return None
    return min(MAX_LOCK, FIRST_LOCK * 2 ** min(failures - rule.free - 1, 20))


def client_of(host: str | None) -> str:
    """The address a client is counted by: an IPv6 address by its /64 (one machine is given a
    whole /64, and could otherwise try from each of its addresses)."""
    try:
        address = ipaddress.ip_address(host or "")
    except ValueError:
        return host or "unknown"
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:  # ::ffff:192.0.2.1 is 192.0.2.1
            return str(address.ipv4_mapped)
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)


def _digest(*parts: str) -> str:
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()


@dataclass(frozen=True)
class Attempt:
    """A login attempt as counted: whether its password may be checked at all (``waits`` says
    how long until it may), and the lock that stands if the password is wrong."""

    waits: timedelta | None
    locked_if_wrong: timedelta | None


class Throttle:
    def __init__(self, store: Store):
        self.store = store

    def keys(self, client: str, name: str) -> dict[Rule, tuple[str, str | None]]:
        name_key = _digest("name", name)
        return {
            PAIR: (_digest(PAIR.scope, client_of(client), name), name_key),
            CLIENT: (_digest(CLIENT.scope, client_of(client)), None),
            NAME: (name_key, name_key),
        }

    def attempt(self, client: str, name: str, now: datetime) -> Attempt:
        """Count an attempt as a failure before its password is checked, unless it is locked out."""
        keys = self.keys(client, name)
        with self.store.transaction() as tx:
            found = rows.lock_rows(tx, dict(keys.values()), now)
            counts = {rule: self._current(found[key], now) for rule, (key, _) in keys.items()}
            binding = [PAIR, CLIENT] + ([NAME] if counts[PAIR][0] > 0 else [])  # see the module's docstring
            waits = [until - now for rule in binding if (until := counts[rule][1]) is not None and until > now]
            if waits:
                return Attempt(max(waits), None)
            locks = []  # if the password is wrong, this client has failed on the name: all three bind
            for rule, (key, _) in keys.items():
                failures = counts[rule][0] + 1
                lock = lock_for(rule, failures)
                rows.set_count(tx, key, failures, now + lock if lock else counts[rule][1], now)
                locks += [lock] if lock else []
            rows.sweep(tx, now - FORGET_AFTER)
        return Attempt(None, max(locks, default=None))

    def succeeded(self, client: str, name: str, now: datetime) -> None:
        """The password was right: its client's counts start again, and the name's count loses
        the failure this attempt was counted as."""
        keys = self.keys(client, name)
        with self.store.transaction() as tx:
            name_row = rows.lock_rows(tx, {keys[NAME][0]: keys[NAME][1]}, now)[keys[NAME][0]]
            failures, until = self._current(name_row, now)
            rows.set_count(tx, keys[NAME][0], max(0, failures - 1), until, now)
            rows.forget(tx, [keys[PAIR][0], keys[CLIENT][0]])

    @staticmethod
    def forget_name(tx: Tx, name: str) -> None:
        """In the caller's transaction (a new password): every count involving ``name``."""
        rows.forget_name(tx, _digest("name", name))

    @staticmethod
    def _current(row: Row, now: datetime) -> tuple[int, datetime | None]:
        """A row's failures and lock, or nothing when its last failure is a day old."""
        if as_utc(row.updated_at) < now - FORGET_AFTER:
            return 0, None
        return row.failures, as_utc(row.locked_until)
