"""The group commit on a real SQLite file and a real PostgreSQL: many callers' work in one
transaction, each atomic on its own, nobody answered before the commit."""

from __future__ import annotations

import asyncio

import pytest
import sqlalchemy as sa
import sqlalchemy.exc
from support.turns import record_in

from bot.store import Intake, Stale, Store, Tx, utcnow
from bot.store.group import CommitFailed, GroupCommit
from bot.store.schema import messages


@pytest.fixture()
def store(database_url: str):
    store = Store(database_url)
    yield store
    store.close()


def inputs(store: Store) -> list[str]:
    with store.transaction(read_only=True) as tx:
        return list(tx.conn.execute(sa.select(messages.c.text).order_by(messages.c.id)).scalars())


def record(text: str, update_id: int):
    def work(tx: Tx) -> str:
        intake = tx.current_intake(1) or tx.create_intake(
            Intake(0, 1, "f", "1", "en", "in_progress", {}, utcnow(), utcnow())
        )
        record_in(tx, intake.id, 1, update_id, text, utcnow())
        return text

    return work


async def test_callers_that_arrive_together_share_one_commit(store: Store) -> None:
    group = GroupCommit(store)
    results = await asyncio.gather(*(group.run(record(f"answer {i}", i)) for i in range(1, 21)))
    assert results == [f"answer {i}" for i in range(1, 21)]
    assert group.commits == 1 and group.carried == 20
    assert inputs(store) == [f"answer {i}" for i in range(1, 21)]


async def test_one_callers_failure_is_undone_alone(store: Store) -> None:
    group = GroupCommit(store)

    def broken(tx: Tx) -> None:
        record("half-done", 3)(tx)
        raise RuntimeError("the turn failed")

    outcome = await asyncio.gather(
        group.run(record("first", 1)), group.run(broken), group.run(record("second", 2)), return_exceptions=True
    )
    assert outcome[0] == "first" and outcome[2] == "second"
    assert isinstance(outcome[1], RuntimeError)
    assert inputs(store) == ["first", "second"]  # nothing of the failed work was kept
    assert group.commits == 1


async def test_work_runs_without_savepoints_unless_some_work_fails(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    savepoints: list[int] = []
    real = Tx.savepoint
    monkeypatch.setattr(Tx, "savepoint", lambda tx: savepoints.append(1) or real(tx))
    group = GroupCommit(store)
    await asyncio.gather(*(group.run(record(f"answer {i}", i)) for i in range(1, 4)))
    assert savepoints == [] and group.reruns == 0

    def broken(tx: Tx) -> None:
        raise RuntimeError("the turn failed")

    outcome = await asyncio.gather(
        group.run(record("kept", 10)), group.run(broken), group.run(record("kept too", 11)), return_exceptions=True
    )
    assert outcome[0] == "kept" and isinstance(outcome[1], RuntimeError) and outcome[2] == "kept too"
    assert group.reruns == 1 and len(savepoints) == 3  # the second run isolates each caller
    assert inputs(store)[-2:] == ["kept", "kept too"]  # each kept once


async def test_stale_work_is_rolled_back_and_run_once_more(store: Store) -> None:
    group = GroupCommit(store)
    runs: list[int] = []

    def stale_once(tx: Tx) -> str:
        runs.append(len(runs))
        record(f"try {len(runs)}", 10 + len(runs))(tx)
        if len(runs) == 1:
            raise Stale(1)
        return "applied"

    def always_stale(tx: Tx) -> None:
        record("never kept", 99)(tx)
        raise Stale(1)

    outcome = await asyncio.gather(group.run(stale_once), group.run(always_stale), return_exceptions=True)
    assert outcome[0] == "applied" and runs == [0, 1]
    assert isinstance(outcome[1], Stale)  # given up after a second stale run
    assert inputs(store) == ["try 2"]  # the first run's write was undone, the second kept once


class Marks:
    """A rider: writes that go with whichever group commits next."""

    def __init__(self, load: list[str], refuse: int = 0) -> None:
        self.load = load
        self.refuse = refuse  # writes that fail, as on a connection killed under the commit
        self.written: list[list[str]] = []
        self.done_with: list[tuple[list[str], bool]] = []

    def has_work(self) -> bool:
        return bool(self.load)

    def take(self) -> list[str]:
        taken, self.load = self.load, []
        return taken

    def write(self, tx: Tx, load: list[str]) -> None:
        self.written.append(list(load))
        if self.refuse:
            self.refuse -= 1
            raise sqlalchemy.exc.OperationalError("UPDATE messages", {}, Exception("server closed the connection"))

    def done(self, taken: list[str], committed: bool) -> None:
        self.done_with.append((taken, committed))
        if not committed:
            self.load[:0] = taken


async def test_riders_write_with_the_next_commit(store: Store) -> None:
    group = GroupCommit(store)
    marks = Marks(["a", "b"])
    group.riders.append(marks)
    await group.run(record("first", 1))  # the rider's writes go with this commit
    assert marks.done_with == [(["a", "b"], True)] and marks.load == []
    group.flush_soon()  # nothing left to carry: no transaction at all
    await asyncio.sleep(0)
    assert group.commits == 1


async def test_a_failed_commit_fails_every_caller_and_riders_keep_their_load(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    group = GroupCommit(store)
    marks = Marks(["a"])
    group.riders.append(marks)
    committed: list[str] = []

    ids = iter(range(100, 200))

    def work(tx: Tx) -> str:
        record("lost", next(ids))(tx)
        tx.on_commit(lambda: committed.append("lost"))
        return "done"

    real = Store.transaction

    class RefusedCommit:
        """The database refuses the commit itself (a full disk, say): everything is rolled back."""

        def __init__(self, store: Store, **kwargs) -> None:
            self.inner = real(store, **kwargs)

        def __enter__(self) -> Tx:
            return self.inner.__enter__()

        def __exit__(self, *exc) -> bool | None:
            if exc[0] is not None:  # rolling back works as ever
                return self.inner.__exit__(*exc)
            error = RuntimeError("disk full")
            self.inner.__exit__(RuntimeError, error, None)
            raise error

    monkeypatch.setattr(Store, "transaction", lambda self, **kwargs: RefusedCommit(self, **kwargs))
    outcome = await asyncio.gather(group.run(work), group.run(work), return_exceptions=True)
    monkeypatch.undo()
    # the database's trouble, not the callers': each gets CommitFailed (a StoreError) and may try again
    assert all(isinstance(o, CommitFailed) and str(o.__cause__) == "disk full" for o in outcome)
    assert committed == [] and inputs(store) == [] and group.commits == 0
    assert marks.done_with == [(["a"], False)] and marks.load == ["a"]  # carried by the next commit
    await group.run(record("next", 2))
    assert marks.done_with[-1] == (["a"], True) and inputs(store) == ["next"]


async def test_sent_marks_whose_write_fails_are_handed_back_and_carried_by_the_next_commit(store: Store) -> None:
    # The outbox's "sent" marks ride a group commit; their UPDATE failed (PostgreSQL connections
    # being killed). Dropped, the rows would stay unsent in the store and never be retried by this
    # process, and the next process would send them again, days later.
    group = GroupCommit(store)
    marks = Marks(["a", "b"], refuse=1)
    group.riders.append(marks)
    assert await group.run(record("first", 1)) == "first"  # the turn itself commits all the same
    assert marks.done_with == [(["a", "b"], False)] and marks.load == ["a", "b"]
    await group.run(record("second", 2))
    assert marks.done_with[-1] == (["a", "b"], True) and marks.load == []
    assert inputs(store) == ["first", "second"]
