"""Group commit: the turns of many chats that arrive together share one transaction.

On disk the commit is the costly part of a turn (SQLite writes its log, PostgreSQL flushes its
WAL), and its cost hardly depends on how much it carries. When several chats' updates arrive
together (a ``getUpdates`` batch, concurrent webhook requests), the callers' work runs in one
shared transaction, and one commit serves them all:

- each piece of work is still atomic: if one raises, the group is rolled back and run again with
  a savepoint each, so that only the work that failed is left out and its caller gets the
  exception; the others commit (work that raises ``Stale`` is run once more);
- nobody hears back before the commit: a caller's ``await`` returns only once its work is on
  disk, so a reply can never be sent before what it answers is stored;
- if the commit itself fails, nothing of the group is kept and every caller gets CommitFailed (a
  StoreError: the database's trouble, not the caller's).

On PostgreSQL, where several workers share the database, a caller names the chat its work is
about and the group first tries those chats' advisory locks, all in one statement
(``bot.store.leases.try_lock_chats``). Work whose chat another worker holds right now (its turn of
the same chat is in a transaction) is not run in this group: it goes into the next one, a few
milliseconds later, and then reads what the other wrote. Nobody waits on a lock, so two workers'
groups can never deadlock, and the event loop is never held up by another process's commit.

A lone caller waits one turn of the event loop at most, so one update at a time costs what it
did before. Riders (the outbox's "sent" marks) add their writes to whichever group commits next.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
from collections.abc import Callable
from typing import Any, Protocol, TypeVar

from bot.store.leases import try_lock_chats
from bot.store.store import Stale, Store, StoreError, Tx

log = logging.getLogger(__name__)
T = TypeVar("T")

#: Rounds of the event loop a group may wait for more callers while more keep arriving.
MAX_GATHER_ROUNDS = 8
#: Most callers in one transaction (a getUpdates batch is at most 100 updates).
MAX_GROUP = 256
#: Runs of a caller's work that keeps meeting a Stale read.
STALE_ATTEMPTS = 2
#: Seconds before work whose chat another worker held runs again (in the next group).
LOCK_RETRY = 0.005


class Rider(Protocol):
    """Writes that ride along with the next commit, whoever else it carries.

    The group takes the rider's load before writing it and hands every load back through
    ``done``, whatever happens: written and committed, or not (the write failed, the group was
    rolled back to run again, the commit failed). A load is never dropped on the floor.
    """

    def has_work(self) -> bool: ...

    def take(self) -> Any:
        """What to write now (the rider holds it no more until ``done``)."""

    def write(self, tx: Tx, load: Any) -> None:
        """Write ``load`` within the group's transaction."""

    def done(self, load: Any, committed: bool) -> None:
        """After the commit (``committed``) or after it failed (then keep ``load`` for later)."""


class GroupCommit:
    def __init__(self, store: Store):
        self.store = store
        self.riders: list[Rider] = []
        self._waiting: list[tuple[Callable[[Tx], Any], asyncio.Future, int | None]] = []
        #: several workers may share the database: lock each caller's chat (PostgreSQL)
        self.locking = store.engine.dialect.name == "postgresql"
        self._scheduled = False
        self._seen = 0
        self._rounds = 0
        #: figures for the benchmark: transactions committed, the work they carried, groups run a
        #: second time because a caller's work failed, and work put off because another worker
        #: held its chat
        self.deferred = 0
        self.commits = 0
        self.carried = 0
        self.reruns = 0

    async def run(self, work: Callable[[Tx], T], chat: int | None = None) -> T:
        """Run ``work(tx)`` in the next group's transaction; its result once that has committed.
        ``chat``: the chat the work reads and writes, locked for it on PostgreSQL."""
        future: asyncio.Future = asyncio.get_running_loop().create_future()
        self._waiting.append((work, future, chat))
        self._schedule()
        return await future

    def flush_soon(self) -> None:
        """Commit the riders' writes soon even if no other work comes."""
        self._schedule()

    def _schedule(self) -> None:
        if not self._scheduled:
            self._scheduled = True
            self._seen, self._rounds = len(self._waiting), 0
            # In a context of its own: the group (and the outbox sends its commit starts) serves
            # many turns, so it must not carry the first caller's turn id into the log.
            asyncio.get_running_loop().call_soon(self._gather, context=contextvars.Context())

    def _gather(self) -> None:
        # While callers keep arriving (the other chats of a batch, started together), wait one
        # more round so that they join this group rather than each start one of their own.
        waiting = len(self._waiting)
        if waiting > self._seen and waiting < MAX_GROUP and self._rounds < MAX_GATHER_ROUNDS:
            self._seen, self._rounds = waiting, self._rounds + 1
            asyncio.get_running_loop().call_soon(self._gather)
            return
        self._scheduled = False
        self.commit_now()

    def commit_now(self) -> None:
        """Commit everything waiting, now (synchronously)."""
        group, self._waiting = self._waiting[:MAX_GROUP], self._waiting[MAX_GROUP:]
        if self._waiting:
            self._schedule()
        riders = [rider for rider in self.riders if rider.has_work()]
        if not group and not riders:
            return
        # Work nearly always succeeds, so the group first runs without a savepoint per caller
        # (each costs two statements). If any caller's work raises, the whole transaction is
        # rolled back and the group runs again with one savepoint each, so that only the work
        # that failed is left out (or, if it read something stale, is run once more).
        try:
            self._commit(group, riders, isolated=False)
        except _Undone:
            self.reruns += 1
            self._commit(group, riders, isolated=True)

    def _commit(
        self, group: list[tuple[Callable[[Tx], Any], asyncio.Future, int | None]], riders: list[Rider], isolated: bool
    ) -> None:
        outcomes: list[tuple[asyncio.Future, Any, BaseException | None]] = []
        written: list[tuple[Rider, Any]] = []
        unwritten: list[tuple[Rider, Any]] = []  # a rider's write failed: its load waits for a later group
        later: list[tuple[Callable[[Tx], Any], asyncio.Future, int | None]] = []  # chat held elsewhere
        try:
            with self.store.transaction() as tx:
                if self.locking:
                    wanted = [chat for _, _, chat in group if chat is not None]
                    held = set(try_lock_chats(tx.driver, wanted)) if wanted else set()
                    later = [item for item in group if item[2] is not None and item[2] not in held]
                    if later:
                        group = [item for item in group if item[2] is None or item[2] in held]
                for work, future, _ in group:
                    if isolated:
                        outcomes.append((future, *_attempt(tx, work)))
                        continue
                    try:
                        outcomes.append((future, work(tx), None))
                    except Exception as err:
                        raise _Undone from err
                for rider in riders:
                    load = rider.take()
                    try:
                        with tx.savepoint():
                            rider.write(tx, load)
                    except Exception as err:  # the rider tries again with a later group
                        log.error("%s failed in a group commit: %s", type(rider).__name__, _reason(err))
                        unwritten.append((rider, load))
                    else:
                        written.append((rider, load))
        except BaseException as err:
            # Rolled back (to run again without savepoints, or because the database failed):
            # nothing the riders wrote is kept, so every load goes back to its rider.
            for rider, load in [*written, *unwritten]:
                rider.done(load, committed=False)
            if isinstance(err, _Undone) or not isinstance(err, Exception):
                raise  # (the run again tries every lock afresh: ``later`` is not queued here)
            self._put_off(later)  # never run: no reason to fail them
            log.error("group commit of %d turn(s) failed: %s", len(group), _reason(err))
            for _, future, _ in group:
                if not future.done():
                    # The database's trouble, not any one caller's: each may try again.
                    failed = CommitFailed(_reason(err))
                    failed.__cause__ = err
                    future.set_exception(failed)
            return
        self._put_off(later)
        self.commits += 1
        self.carried += len(group)
        for rider, load in written:
            rider.done(load, committed=True)
        for rider, load in unwritten:
            rider.done(load, committed=False)
        for future, result, err in outcomes:
            if future.done():  # the caller was cancelled meanwhile: its work is stored all the same
                continue
            if err is not None:
                future.set_exception(err)
            else:
                future.set_result(result)

    def _put_off(self, later: list[tuple[Callable[[Tx], Any], asyncio.Future, int | None]]) -> None:
        """Work whose chat another worker held: into a group a moment from now (its caller, who
        holds the chat's asyncio lock, keeps waiting; the chat's order in this process holds)."""
        if not later:
            return
        self.deferred += len(later)

        def again() -> None:
            self._waiting.extend(later)
            self._schedule()

        asyncio.get_running_loop().call_later(LOCK_RETRY, again)


class CommitFailed(StoreError):
    """The group's transaction could not be committed: nothing of it was kept."""


class _Undone(Exception):
    """A caller's work failed in a group run without savepoints: roll it all back, run it again."""


def _attempt(tx: Tx, work: Callable[[Tx], Any]) -> tuple[Any, BaseException | None]:
    """Run one caller's work in its own savepoint: (its result, None) or (None, what it raised).

    Work that raises Stale read something another process changed meanwhile: it is rolled back and
    run once more, when it reads the store afresh.
    """
    for attempt in range(STALE_ATTEMPTS):
        try:
            with tx.savepoint():
                return work(tx), None
        except Stale as err:
            if attempt == STALE_ATTEMPTS - 1:
                return None, err
        except Exception as err:  # this caller's work only; the others go on
            return None, err
    raise AssertionError("unreachable")


def _reason(err: BaseException) -> str:
    """The error's kind and the database's code for it, never its message: a driver's message can
    quote a value (PostgreSQL's "invalid input syntax ...: \"<what the patient typed>\"")."""
    cause = getattr(err, "orig", None) or err
    code = getattr(cause, "sqlstate", None) or getattr(cause, "sqlite_errorname", None)
    return f"{type(cause).__name__}" + (f" ({code})" if code else "")
