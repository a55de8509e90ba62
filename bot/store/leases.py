"""Several workers on one PostgreSQL: a chat's turns one at a time, each reply sent by one worker,
and Telegram's limits kept for the bot as a whole (issue 15, section 1; migration 0016).

- **Per-chat order.** A turn holds PostgreSQL's transaction-level advisory lock of its chat
  (``pg_try_advisory_xact_lock(LOCK_NAMESPACE, key)``) before it reads anything: another worker's
  turn of the same chat cannot run until the first has committed, then reads what it wrote. An
  advisory lock, not ``SELECT ... FOR UPDATE`` on the intake: a chat's first update has no intake
  row to lock yet, and /delete removes it. The group commit (``bot.store.group``) tries the locks
  of all its turns first, in one statement, and puts the turns whose chat is busy into its next
  group: nobody waits on a lock, so there is no deadlock between two workers' groups (which share
  a transaction among many chats), and no event loop waits for another process's commit.
  Released by the commit or rollback.
- **Leases.** The worker that commits a turn claims its replies in that transaction
  (``claimed_by``, ``lease_until``); the outbox's round claims what nobody holds (a SIGKILLed
  worker's rows once their lease ran out, a retry now due) under the chat's lock, with
  ``FOR UPDATE SKIP LOCKED``. A chat's rows are claimed only as a prefix: never a row while an
  earlier one of the chat is leased by another worker or waits for its retry, so replies keep
  their order whichever worker sends them. A live worker extends its leases every second.
- **The send budget** (``send_budget``): token buckets in an UNLOGGED table, one row per chat and
  row 0 for the bot, taken from by every worker in one autocommit statement per send.

SQLite is one process: none of this runs there (the process's asyncio locks and ``ChatPacer``).
"""

from __future__ import annotations

import os
import secrets
import socket
from collections.abc import Iterable
from typing import Any

import orjson

from bot.store.records import Outgoing, as_utc

#: The first of the two 32-bit keys of every chat lock: the bot's other advisory locks (migrations,
#: the polling leader) must use another first key or the one-bigint form (a separate key space).
LOCK_NAMESPACE = 15_001
#: Seconds a claim lasts without being extended: how long a SIGKILLed worker's replies wait.
LEASE_SECONDS = 5.0


def lock_key(chat_id: int) -> int:
    """The chat's 32-bit lock key (chats 2**32 apart share one: harmless, they only take turns)."""
    return ((chat_id + 2**31) % 2**32) - 2**31


def worker_name() -> str:
    """This process, unique among the workers (a pid can be reused after a restart)."""
    return f"{socket.gethostname()[:32]}:{os.getpid()}:{secrets.token_hex(4)}"


_TRY_LOCK = f"SELECT k FROM unnest(%s::int4[]) AS k WHERE pg_try_advisory_xact_lock({LOCK_NAMESPACE}, k)"
_PENDING = "c.direction = 'out' AND c.sent_at IS NULL AND c.attempts < %(most)s"
#: The claimable prefix of each chat's unsent rows: a row, if neither it nor an earlier row of its
#: chat is leased by another worker or waiting for a retry. Rows this worker holds already come
#: back too (the outbox skips those it has in memory).
_CLAIM = f"""
UPDATE messages AS m SET claimed_by = %(me)s, lease_until = clock_timestamp() + make_interval(secs => %(lease)s)
WHERE m.id IN (
  SELECT c.id FROM messages AS c
  WHERE c.chat_id = ANY(%(chats)s::int8[]) AND {_PENDING}
    AND NOT EXISTS (
      SELECT 1 FROM messages AS e
      WHERE e.chat_id = c.chat_id AND e.direction = 'out' AND e.sent_at IS NULL AND e.attempts < %(most)s
        AND e.id <= c.id
        AND ((e.claimed_by <> %(me)s AND e.lease_until > clock_timestamp()) OR e.next_try_at > clock_timestamp()))
  FOR UPDATE OF c SKIP LOCKED)
RETURNING m.id, m.intake_id, m.chat_id, m.text, m.payload, m.attempts, m.next_try_at
"""
#: Chats with a row nobody holds that may be sent now (the round's candidates).
_DUE_CHATS = f"""
SELECT DISTINCT c.chat_id FROM messages AS c
WHERE {_PENDING} AND (c.claimed_by IS NULL OR c.lease_until <= clock_timestamp())
  AND (c.next_try_at IS NULL OR c.next_try_at <= clock_timestamp())
LIMIT %(limit)s
"""
_RENEW = """
UPDATE messages SET lease_until = clock_timestamp() + make_interval(secs => %s)
WHERE id = ANY(%s::int8[]) AND claimed_by = %s RETURNING id
"""
_RELEASE = "UPDATE messages SET claimed_by = NULL, lease_until = NULL WHERE claimed_by = %s AND sent_at IS NULL"
#: One token from the bot's bucket (key 0) and one from the chat's, each refilled for the time
#: since it was last taken from; negative: the wait before sending. Rows are always locked in
#: the same order (0 first) so two workers' takes cannot deadlock.
_TAKE = """
INSERT INTO send_budget AS b (key, tokens, at)
VALUES (0, %(all_burst)s - 1, clock_timestamp()), (%(chat)s, %(burst)s - 1, clock_timestamp())
ON CONFLICT (key) DO UPDATE SET
  tokens = LEAST(
    CASE WHEN b.key = 0 THEN %(all_burst)s ELSE %(burst)s END,
    b.tokens + EXTRACT(EPOCH FROM clock_timestamp() - b.at)::float8
      * CASE WHEN b.key = 0 THEN %(all_rate)s ELSE %(rate)s END) - 1,
  at = clock_timestamp()
RETURNING key, tokens
"""
_TAKE_ALL = """
INSERT INTO send_budget AS b (key, tokens, at) VALUES (0, %(all_burst)s - 1, clock_timestamp())
ON CONFLICT (key) DO UPDATE SET
  tokens = LEAST(%(all_burst)s, b.tokens + EXTRACT(EPOCH FROM clock_timestamp() - b.at)::float8 * %(all_rate)s) - 1,
  at = clock_timestamp()
RETURNING key, tokens
"""
#: Buckets full again (untouched for a minute): forgotten, so the table holds the chats of the last minute.
_FORGET_BUDGETS = "DELETE FROM send_budget WHERE key <> 0 AND at < clock_timestamp() - interval '1 minute'"


def try_lock_chats(driver: Any, chat_ids: Iterable[int]) -> list[int]:
    """The chats whose lock was free (now held to the end of the transaction); the others are
    busy with another worker's turn or round, and wait for a later group or round."""
    chats = sorted(set(chat_ids), key=lock_key)
    if not chats:
        return []
    got = {row[0] for row in driver.execute(_TRY_LOCK, ([lock_key(c) for c in chats],)).fetchall()}
    return [chat for chat in chats if lock_key(chat) in got]


class Leases:
    """This worker's claims on outbox rows (PostgreSQL)."""

    def __init__(self, worker: str | None = None, lease: float = LEASE_SECONDS, max_attempts: int = 8):
        self.worker = worker or worker_name()
        self.lease = lease
        self.max_attempts = max_attempts  # a row tried this often was given up on

    def claim(self, driver: Any, chat_ids: Iterable[int]) -> list[Outgoing]:
        """Claim the sendable prefix of these chats' unsent rows (the caller holds their locks);
        in order."""
        chats = sorted(set(chat_ids))
        if not chats:
            return []
        rows = driver.execute(
            _CLAIM, {"me": self.worker, "lease": self.lease, "chats": chats, "most": self.max_attempts}
        ).fetchall()
        return [
            Outgoing(id_, intake, chat, text, orjson.loads(payload), attempts, as_utc(retry))
            for id_, intake, chat, text, payload, attempts, retry in sorted(rows)
        ]

    def due_chats(self, driver: Any, limit: int = 200) -> list[int]:
        """Chats with a row nobody holds that may be sent now."""
        rows = driver.execute(_DUE_CHATS, {"most": self.max_attempts, "limit": limit}).fetchall()
        return [row[0] for row in rows]

    def renew(self, driver: Any, row_ids: Iterable[int]) -> set[int]:
        """Extend the leases of the rows this worker has in memory; the ids it still holds (a row
        missing was erased, or taken over by another worker after this one stalled)."""
        ids = sorted(row_ids)
        if not ids:
            return set()
        return {row[0] for row in driver.execute(_RENEW, (self.lease, ids, self.worker)).fetchall()}

    def release(self, driver: Any) -> int:
        """At a clean stop: this worker's unsent rows are free for the others at once (rather than
        when the lease runs out); how many."""
        return driver.execute(_RELEASE, (self.worker,)).rowcount


class SharedBudget:
    """Telegram's limits across all workers: ``rate`` messages a second per chat (bursts of
    ``burst``) and ``all_rate`` for the bot (bursts of ``all_burst``), in ``send_budget``."""

    def __init__(self, rate: float = 1.0, burst: int = 3, all_rate: float = 30.0, all_burst: int = 30):
        self.values = {"rate": rate, "burst": float(burst), "all_rate": all_rate, "all_burst": float(all_burst)}
        self.takes = 0

    def take(self, driver: Any, chat_id: int | None) -> float:
        """Take a token (the bot's, and the chat's unless None); the seconds to wait first."""
        values = self.values
        if chat_id is None or chat_id == 0:
            rows = driver.execute(_TAKE_ALL, values).fetchall()
        else:
            rows = driver.execute(_TAKE, {**values, "chat": chat_id}).fetchall()
        self.takes += 1
        if self.takes % 1000 == 0:
            driver.execute(_FORGET_BUDGETS)
        wait = 0.0
        for key, tokens in rows:
            rate = values["all_rate"] if key == 0 else values["rate"]
            wait = max(wait, -tokens / rate)
        return wait
