"""PostgreSQL advisory locks (``bot.store.advisory``), the jobs' rounds under them (``bot.jobs``) and
the polling lead (``bot.channels.telegram.lead``), in one process with two lock sessions standing
for two workers on the real PostgreSQL. The same with real processes: test_jobs_once_e2e.py,
test_polling_standby_e2e.py."""

from __future__ import annotations

import asyncio
import itertools
import time

import pytest
from support.databases import postgres_rows

from bot.channels.telegram.lead import Lead
from bot.jobs import Jobs
from bot.store import Store
from bot.store.advisory import SPACE, LockSession, key


@pytest.fixture()
def sessions(postgres_url: str):
    store = Store(postgres_url)
    made = [LockSession(store.engine.url), LockSession(store.engine.url)]
    yield made
    for session in made:
        session.close()
    store.close()


def kill_connection(url: str, session: LockSession) -> None:
    """The session's connection ends on the server's side (as when a network drops it)."""
    pid = session._connection().info.backend_pid
    postgres_rows(url, "SELECT pg_terminate_backend(%s)", pid)


def test_keys_are_two_int4_in_the_bots_space():
    for name in ("lead", "job:retention", "job:quiet-intakes", "migrate"):
        space, number = key(name)
        assert space == SPACE and -(2**31) <= number < 2**31
    assert key("lead") == key("lead") != key("job:lead")


def test_one_session_holds_a_lock_until_it_lets_go_or_closes(sessions):
    first, second = sessions
    assert first.try_take("job:x")
    assert first.try_take("job:x")  # held already: still one hold, one release frees it
    assert not second.try_take("job:x")
    first.release("job:x")
    assert second.try_take("job:x")
    assert not first.try_take("job:x")
    second.close()  # a process's end: its connection closes, its locks go (once the server notices)
    deadline = time.monotonic() + 5
    while not first.try_take("job:x"):
        assert time.monotonic() < deadline
        time.sleep(0.01)


def test_a_broken_connection_loses_its_locks_and_keep_says_whether_they_came_back(sessions, postgres_url):
    first, second = sessions
    assert first.try_take("lead") and first.try_take("job:x")
    assert first.keep("lead")
    kill_connection(postgres_url, first)
    assert second.try_take("lead")  # the server let go of the broken connection's locks
    assert first.keep("lead") is False  # a new connection, and the lead is another's
    assert first.try_take("job:x")  # nobody took this one meanwhile: ours again
    kill_connection(postgres_url, first)
    assert first.keep("job:x") is True  # taken back at once


def test_keep_cannot_tell_while_the_database_refuses_connections(sessions, postgres_url):
    import psycopg
    from support.databases import POSTGRES_ADMIN

    first, _ = sessions
    assert first.try_take("lead")
    name = postgres_url.rsplit("/", 1)[1]
    with psycopg.connect(POSTGRES_ADMIN, autocommit=True) as admin:
        admin.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS false')
        try:
            kill_connection(postgres_url.replace(name, "test"), first)
            assert first.keep("lead") is None
            assert first.try_take("job:x") is False  # a job's round is skipped meanwhile
        finally:
            admin.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS true')
    assert first.keep("lead") is True


class SlowJob:
    """Records when each of its rounds ran."""

    name = "slow"

    def __init__(self, rounds: list[tuple[str, float, float]], who: str):
        self.rounds = rounds
        self.who = who

    def interval(self) -> float:
        return 0.01

    def first_delay(self) -> float:
        return 0.0

    async def round(self) -> None:
        began = time.monotonic()
        await asyncio.sleep(0.15)
        self.rounds.append((self.who, began, time.monotonic()))

    async def close(self) -> None:
        return None


async def test_a_jobs_rounds_never_overlap_across_workers(sessions):
    rounds: list[tuple[str, float, float]] = []
    workers = [Jobs([SlowJob(rounds, who)], locks=session) for who, session in zip("ab", sessions, strict=True)]
    for jobs in workers:
        jobs.start()
    await asyncio.sleep(1.5)
    for jobs in workers:
        await jobs.stop()
    rounds.sort(key=lambda r: r[1])
    assert len(rounds) >= 6
    for (_, _, ended), (_, began, _) in itertools.pairwise(rounds):
        assert began >= ended  # the next round began only after the last one ended
    assert sessions[0].try_take("job:slow") and sessions[1].try_take("job:slow") is False  # released


async def test_alone_on_sqlite_every_round_runs(tmp_path):
    rounds: list[tuple[str, float, float]] = []
    store = Store(f"sqlite:///{tmp_path / 'x.db'}")
    assert LockSession.of(store) is None
    store.close()
    jobs = Jobs([SlowJob(rounds, "a"), SlowJob(rounds, "b")])
    jobs.start()
    await asyncio.sleep(0.5)
    await jobs.stop()
    assert {who for who, _, _ in rounds} == {"a", "b"}


class Poller:
    """Stands for TelegramChannel.poll: counts while it runs."""

    def __init__(self):
        self.running = False
        self.began = 0

    async def poll(self) -> None:
        self.began += 1
        self.running = True
        try:
            await asyncio.Event().wait()
        finally:
            self.running = False


async def wait_until(condition, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "not in time"
        await asyncio.sleep(0.02)


async def test_one_polls_the_other_stands_by_and_takes_over_when_the_leader_goes(sessions):
    pollers = [Poller(), Poller()]
    leads = [Lead(session, retry=0.1, heartbeat=0.1) for session in sessions]
    first = asyncio.create_task(leads[0].run(pollers[0].poll))
    await wait_until(lambda: leads[0].leading)
    second = asyncio.create_task(leads[1].run(pollers[1].poll))
    await wait_until(lambda: leads[1].leading is False)
    await asyncio.sleep(0.3)
    assert pollers[0].running and not pollers[1].running
    first.cancel()  # the leader stops: the runtime closes its lock session then
    await asyncio.gather(first, return_exceptions=True)
    assert not pollers[0].running
    await asyncio.to_thread(sessions[0].close)
    await wait_until(lambda: leads[1].leading and pollers[1].running)
    second.cancel()
    await asyncio.gather(second, return_exceptions=True)


async def test_a_leader_whose_lock_connection_breaks_stops_polling_once_the_standby_leads(sessions, postgres_url):
    pollers = [Poller(), Poller()]
    # the standby tries far more often than the leader checks: it takes the freed lead first
    leads = [Lead(sessions[0], retry=0.1, heartbeat=0.5), Lead(sessions[1], retry=0.02, heartbeat=0.5)]
    tasks = [asyncio.create_task(leads[0].run(pollers[0].poll))]
    await wait_until(lambda: pollers[0].running)
    tasks.append(asyncio.create_task(leads[1].run(pollers[1].poll)))
    await wait_until(lambda: leads[1].leading is False)
    await asyncio.to_thread(kill_connection, postgres_url, sessions[0])
    await wait_until(lambda: pollers[1].running)
    # two pollers at once only until the old leader's next heartbeat
    await wait_until(lambda: not pollers[0].running, timeout=1.5)
    await asyncio.sleep(0.3)
    assert [lead.leading for lead in leads] == [False, True]
    assert pollers[0].began == 1
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def test_polling_that_fails_is_raised_to_the_runtime(sessions):
    async def broken() -> None:
        raise RuntimeError("polling broke")

    lead = Lead(sessions[0], retry=0.1, heartbeat=0.1)
    with pytest.raises(RuntimeError, match="polling broke"):
        await lead.run(broken)
    assert lead.leading is False


async def test_a_leader_stopping_cleanly_hands_the_lead_over_at_once(sessions):
    pollers = [Poller(), Poller()]
    leads = [Lead(session, retry=0.1, heartbeat=0.1) for session in sessions]
    first = asyncio.create_task(leads[0].run(pollers[0].poll))
    await wait_until(lambda: leads[0].leading)
    second = asyncio.create_task(leads[1].run(pollers[1].poll))
    await wait_until(lambda: leads[1].leading is False)
    first.cancel()
    await asyncio.gather(first, return_exceptions=True)
    await leads[0].step_down()  # the lock session itself stays open (the process goes on stopping)
    await wait_until(lambda: pollers[1].running)
    assert leads[0].leading is None
    second.cancel()
    await asyncio.gather(second, return_exceptions=True)


async def test_a_worker_that_cannot_remind_never_takes_a_reminding_workers_turn(tmp_path):
    from bot.jobs.quiet_intakes import QuietIntakes

    store = Store(f"sqlite:///{tmp_path / 'x.db'}")

    async def remind(intake, since) -> None:
        return None

    try:
        # a `serve` without a token only marks intakes abandoned: its rounds go by another name
        assert QuietIntakes(store, 60, 3600).name == "abandonment"
        assert QuietIntakes(store, 60, 3600, remind=remind).name == "quiet-intakes"
    finally:
        store.close()
