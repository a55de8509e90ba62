"""Several processes on one database, as separate real processes (issue 15: what must happen once).

- Workers started at the same moment on an empty PostgreSQL database all come up; the migrations
  run once (``Store.migrate`` under an advisory lock).
- SQLite serves one process: a second ``serve`` on the same file is refused with one line, while
  the command line's exports still work beside the running one.

The jobs run once across workers and the polling standby are in test_jobs_once_e2e.py and
test_polling_standby_e2e.py.
"""

from __future__ import annotations

import time
import urllib.request

import pytest
from support.bot_process import BotProcess, free_port
from support.databases import postgres_rows

pytestmark = pytest.mark.e2e

SECRET = "several-workers-test-secret-key-0123456789"


def web_worker(fake, database_url: str, **env: str) -> BotProcess:
    """``python -m bot serve`` without Telegram (the staff web app and the jobs), not started yet."""
    return BotProcess(
        fake,
        database_url,
        command="serve",
        TELEGRAM_BOT_TOKEN="",
        SECRET_KEY=SECRET,
        WEB_LISTEN="127.0.0.1",
        WEB_PORT=str(free_port()),
        **env,
    )


def serving(worker: BotProcess) -> bool:
    """The worker's staff web app answers."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{worker.env['WEB_PORT']}/login", timeout=2) as answer:
            return answer.status == 200
    except OSError:
        return False


def wait_serving(workers: list[BotProcess], timeout: float = 40) -> None:
    deadline = time.monotonic() + timeout
    waiting = list(workers)
    while waiting:
        for worker in list(waiting):
            assert worker.proc is not None
            if worker.proc.poll() is not None:
                raise AssertionError(f"a worker exited with {worker.proc.returncode}:\n{worker.read()}")
            if serving(worker):
                waiting.remove(worker)
        if time.monotonic() > deadline:
            raise AssertionError("workers did not come up:\n" + "\n---\n".join(w.read() for w in waiting))
        time.sleep(0.1)


def test_workers_started_together_on_an_empty_postgres_all_come_up(fake_telegram, empty_postgres_url):
    workers = [web_worker(fake_telegram, empty_postgres_url) for _ in range(3)]
    try:
        for worker in workers:  # as close to the same moment as three Popen calls get
            worker.start(wait=False)
        wait_serving(workers)
        outputs = [worker.read() for worker in workers]
    finally:
        for worker in workers:
            worker.stop()
    for output in outputs:
        assert "Traceback" not in output, output
        assert "cannot migrate" not in output, output
    # the schema once: one version row, each table once
    assert postgres_rows(empty_postgres_url, "SELECT count(*) FROM alembic_version") == [(1,)]
    tables = postgres_rows(
        empty_postgres_url,
        "SELECT table_name, count(*) FROM information_schema.tables WHERE table_schema = 'public' GROUP BY table_name",
    )
    assert {"intakes", "messages", "alembic_version"} <= {name for name, _ in tables}
    assert all(count == 1 for _, count in tables)
    # one migrated, the others waited for it
    assert sum("waiting for it" in output for output in outputs) <= 2


def test_a_second_worker_on_one_sqlite_file_is_refused_in_one_line(fake_telegram, tmp_path):
    url = f"sqlite:///{tmp_path / 'intake.db'}"
    first = web_worker(fake_telegram, url)
    second = web_worker(fake_telegram, url)
    try:
        first.start(wait=False)
        wait_serving([first])
        second.start(wait=False)
        status = second.wait_exit(timeout=30)
        refusal = second.read().strip()
        # the command line's short commands still work beside the running worker
        export = BotProcess(fake_telegram, url, command="export", SECRET_KEY=SECRET).start(wait=False)
        assert export.wait_exit(timeout=30) == 0, export.read()
        assert serving(first)
    finally:
        second.stop()
        first.stop()
    assert status == 1
    assert refusal.splitlines() == [refusal]
    assert f"process {first.proc.pid}" in refusal
    assert "SQLite serves one process" in refusal
    # its end lets go of the file: the next worker comes up
    again = web_worker(fake_telegram, url)
    try:
        again.start(wait=False)
        wait_serving([again])
    finally:
        again.stop()


def test_a_worker_with_another_staff_key_on_the_same_postgres_is_refused(fake_telegram, postgres_url):
    first = web_worker(fake_telegram, postgres_url)
    other = web_worker(fake_telegram, postgres_url)
    other.env["SECRET_KEY"] = "another-machines-key-" + "x" * 30
    try:
        first.start(wait=False)
        wait_serving([first])
        other.start(wait=False)
        status = other.wait_exit(timeout=30)
        refusal = other.read().strip().splitlines()
    finally:
        other.stop()
        first.stop()
    assert status == 1
    assert refusal[-1] == (
        "another worker on this database signs staff sessions with a different key: "
        "set the same SECRET_KEY in every worker (data/secret_key is made on each machine)"
    )
    assert "Traceback" not in "\n".join(refusal)
