"""Several workers on one PostgreSQL, in one test process (``bot.store.leases``): two stores stand
for two workers. Chat locks in the group commit (never a deadlock, whatever order), the outbox's
leases (a prefix per chat, taken over once expired), the shared send budget."""

from __future__ import annotations

import asyncio
import threading
import time
from datetime import timedelta

import pytest

from bot.store import Intake, Store, utcnow
from bot.store.group import GroupCommit
from bot.store.leases import Leases, SharedBudget, lock_key, try_lock_chats


@pytest.fixture()
def stores(postgres_url: str):
    """Two workers' stores on one PostgreSQL database."""
    first, second = Store(postgres_url), Store(postgres_url)
    yield first, second
    first.close()
    second.close()


def test_lock_keys_cover_every_chat_in_32_bits() -> None:
    for chat in (1, 2**31 - 1, 2**31, 2**40 + 7, -1001234567890):
        assert -(2**31) <= lock_key(chat) < 2**31
    assert lock_key(5) != lock_key(6)


def test_two_groups_taking_chats_in_opposite_orders_take_turns_without_deadlock(stores) -> None:
    """Worker A's group has chats 2 then 1, worker B's 1 then 2, each holding its transaction a
    while: the second to try finds its chats held and runs that work in a later group; nobody
    deadlocks, each chat is held by one transaction at a time."""
    held: list[tuple[str, int, float, float]] = []  # (worker, chat, from, to)

    def worker(name: str, store: Store, chats: list[int], results: dict) -> None:
        async def run() -> list:
            group = GroupCommit(store)

            def work(chat: int):
                def inside(tx) -> int:
                    began = time.monotonic()
                    time.sleep(0.15)  # inside the transaction, the chat's lock held
                    ended = time.monotonic()  # the lock goes with the commit, after this
                    tx.on_commit(lambda: held.append((name, chat, began, ended)))
                    return chat

                return inside

            done = await asyncio.gather(*(group.run(work(chat), chat) for chat in chats))
            deferred[name] = group.deferred
            return done

        results[name] = asyncio.run(run())

    results: dict = {}
    deferred: dict = {}
    threads = [
        threading.Thread(target=worker, args=("A", stores[0], [2, 1], results)),
        threading.Thread(target=worker, args=("B", stores[1], [1, 2], results)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=20)
    assert results == {"A": [2, 1], "B": [1, 2]}
    assert sum(deferred.values()) > 0, "the second group found its chats held and ran them later"
    for chat in (1, 2):
        spans = sorted((began, ended) for _, c, began, ended in held if c == chat)
        assert len(spans) == 2 and spans[0][1] <= spans[1][0], f"chat {chat} held by both at once: {spans}"


def test_a_chat_busy_elsewhere_is_skipped_by_the_round(stores) -> None:
    first, second = stores
    with first.transaction() as busy:
        assert try_lock_chats(busy.driver, [10]) == [10]
        with second.transaction() as tx:
            assert try_lock_chats(tx.driver, [11, 10]) == [11]


def _intake_with_replies(store: Store, chat: int, replies: int) -> list[int]:
    now = utcnow()
    with store.transaction() as tx:
        intake = tx.current_intake(chat) or tx.create_intake(
            Intake(0, chat, "f", "1", "en", "in_progress", {}, now, now)
        )
        rows = tx.record_turn(
            intake.id, chat, None, None, "text", [{"op": "send", "text": f"r{i}"} for i in range(replies)], now
        )
    return [row.id for row in rows]


def _claim(store: Store, leases: Leases, chat: int) -> list[int]:
    with store.transaction() as tx:
        return [row.id for row in leases.claim(tx.driver, try_lock_chats(tx.driver, [chat]))]


def test_rows_are_claimed_by_one_worker_and_taken_over_once_the_lease_ran_out(stores) -> None:
    first, second = stores
    a, b = Leases("a", lease=0.5), Leases("b", lease=0.5)
    rows = _intake_with_replies(first, 20, 2)
    assert _claim(first, a, 20) == rows
    assert _claim(second, b, 20) == []  # a holds them
    later = _intake_with_replies(first, 20, 1)
    assert _claim(second, b, 20) == [], "never a chat's later row while an earlier one is someone else's"
    with first.transaction() as tx:
        assert a.renew(tx.driver, rows) == set(rows)  # a is alive: its leases go on
    time.sleep(0.6)  # a died: nobody extends them
    assert _claim(second, b, 20) == rows + later
    with first.transaction() as tx:
        assert a.renew(tx.driver, rows) == set(), "a, back from a stall, finds them gone: it sends none"


def test_a_row_waiting_for_its_retry_holds_back_the_rows_after_it(stores) -> None:
    store = stores[0]
    a, b = Leases("a"), Leases("b")
    first, second = _intake_with_replies(store, 30, 2)
    assert _claim(store, a, 30) == [first, second]
    with store.transaction() as tx:  # the first failed (a's claim ends with the attempt): retry in a minute
        tx.mark_failed(first, "network", utcnow() + timedelta(minutes=1))
    with store.transaction() as tx:
        tx.mark_failed(second, "held back", None, counts=False)
    assert _claim(store, b, 30) == []
    with store.transaction() as tx:
        tx.mark_failed(first, "network", utcnow() - timedelta(seconds=1))  # due now
    assert _claim(store, b, 30) == [first, second]


def test_the_send_budget_is_shared_by_every_worker(stores) -> None:
    first, second = stores
    budget = SharedBudget(rate=1.0, burst=3, all_rate=30.0, all_burst=30)
    waits = []
    for store in (first, second, first, second, first):  # one chat, five sends, from two workers
        with store.engine.connect() as conn:
            conn = conn.execution_options(isolation_level="AUTOCOMMIT")
            waits.append(budget.take(conn.connection.driver_connection, 40))
    assert waits[:3] == [0.0, 0.0, 0.0]
    assert waits[3] == pytest.approx(1.0, abs=0.1) and waits[4] == pytest.approx(2.0, abs=0.1)
    overall = []
    with first.engine.connect() as conn:
        conn = conn.execution_options(isolation_level="AUTOCOMMIT")
        for chat in range(100, 140):  # forty chats at once: the bot's 30 a second decide
            overall.append(budget.take(conn.connection.driver_connection, chat))
    assert max(overall) == pytest.approx(15 / 30, abs=0.1)  # 5 tokens taken above, 30 in the bucket


def test_a_worker_stopping_frees_its_unsent_rows_at_once(stores) -> None:
    first, second = stores
    a, b = Leases("a"), Leases("b")
    rows = _intake_with_replies(first, 50, 2)
    assert _claim(first, a, 50) == rows
    with first.transaction() as tx:
        assert a.release(tx.driver) == 2
    assert _claim(second, b, 50) == rows  # no lease to wait out


def test_a_kept_intake_another_worker_moved_on_is_read_afresh_under_the_lock(stores) -> None:
    """Worker A keeps the intake in memory after its turn; worker B applies the next tick; A's next
    tick must start from what B stored (checked against the stored version under the chat's lock,
    not found out by a failed write and a second run)."""
    from pathlib import Path

    from bot.channels.telegram.events import Chat, Event
    from bot.channels.telegram.runner import TurnRunner
    from bot.engine import Engine
    from bot.flow import load_checked

    engine = Engine(load_checked(Path(__file__).parent / "flows" / "workers.yaml"))
    runners = [TurnRunner(engine, store, leases=Leases(name)) for store, name in zip(stores, "ab", strict=True)]
    chat = Chat(60, 60, "Ada", None, "ada", "en")
    groups = [GroupCommit(store) for store in stores]
    update = iter(range(600_000, 700_000))
    buttons: dict[str, str] = {}

    def apply(worker: int, event: Event) -> None:
        runner, group = runners[worker], groups[worker]

        async def run():
            return await group.run(lambda tx: runner.apply_in(tx, next(update), chat, event), chat.id)

        for row in asyncio.run(run()).outgoing:
            for line in row.payload.get("keyboard") or []:
                for key in line:
                    if "data" in key:
                        buttons[key["text"][2:] if key["text"][:2] in ("☐ ", "☑ ") else key["text"]] = key["data"]

    def press(worker: int, label: str) -> None:
        apply(worker, Event("press", data=buttons[label], label=label))

    apply(0, Event("command", command="start"))
    press(0, "I agree")
    press(0, "Fine lines")  # A keeps the intake as this left it
    assert len(runners[0].recent) == 1
    press(1, "Large pores")  # B, from the store
    press(0, "Oiliness")  # A: its copy is one version behind
    assert groups[0].reruns == 0, "A's stale copy was dropped before the turn, not found out by its write"
    with stores[0].transaction() as tx:
        assert tx.current_intake(60).state["draft"] == ["lines", "pores", "oil"]  # the ticks, not yet Done
