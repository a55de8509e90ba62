"""One process, with or without Telegram: the background jobs run either way.

``python -m bot serve`` without a token (a clinic running only the staff app, or the web app on
a second host) must still erase intakes past their retention period and still post completed
intakes to the clinic's webhook. Tested on the real process.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from support.bot_process import free_port
from support.receiver import Receiver, receiving

from bot.store import Intake, Store, utcnow

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture()
def hook() -> Iterator[Receiver]:
    with receiving() as receiver:
        yield receiver


def _intake(store: Store, chat_id: int, status: str, age: timedelta) -> int:
    when = utcnow() - age
    with store.transaction() as tx:
        intake = tx.create_intake(Intake(0, chat_id, "skin_botox", "1", "en", status, {"v": 1}, when, when))
        if status == "completed":
            tx.queue_completion(intake.id, when)
        return intake.id


def _wait(condition, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


@pytest.mark.e2e
def test_serve_without_a_token_erases_old_intakes_and_posts_completed_ones(tmp_path: Path, hook: Receiver) -> None:
    url = f"sqlite:///{tmp_path / 'intake.db'}"
    store = Store.open(url)
    old = _intake(store, 1, "in_progress", timedelta(days=40))
    completed = _intake(store, 2, "completed", timedelta(minutes=5))
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "WEBHOOK_"))}
    env.update(
        DATABASE_URL=url,
        RETENTION_DAYS="30",
        CLINIC_WEBHOOK_URL=hook.url(),
        CLINIC_WEBHOOK_SECRET="a-shared-secret-of-some-length",
        WEB_PORT=str(port),
        SECRET_KEY="test-secret",
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "bot", "serve"], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    try:
        _wait(lambda: _answers(port))
        _wait(lambda: len(hook.accepted) == 1)
        assert hook.accepted_json()[0][0]["intake"]["id"] == completed
        with store.transaction() as tx:
            assert tx.intake(old) is None  # erased by the retention job at start
            assert tx.intake(completed) is not None
    finally:
        process.terminate()
        output = process.communicate(timeout=15)[0].decode()
    assert process.returncode == 0, output
    assert "Traceback" not in output, output
    store.close()


def _answers(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/login", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


async def test_the_process_stops_with_status_1_when_polling_dies(tmp_path: Path, skin, monkeypatch, caplog) -> None:
    """A bot that answers nobody must not look alive: its supervisor is to start it again."""
    import asyncio

    from bot.channels.telegram.channel import TelegramChannel
    from bot.config import Settings
    from bot.runtime import Parts, Runtime

    async def nothing(self) -> None:
        return None

    async def dies(self) -> None:
        raise RuntimeError("the request layer broke")

    monkeypatch.setattr(TelegramChannel, "start", nothing)
    monkeypatch.setattr(TelegramChannel, "stop", nothing)
    monkeypatch.setattr(TelegramChannel, "poll", dies)
    store = Store.open(f"sqlite:///{tmp_path / 'intake.db'}")
    settings = Settings(telegram_token="123456:" + "A" * 35, retention_days=None)
    try:
        status = await asyncio.wait_for(Runtime(settings, skin, store, Parts(web=False, telegram=True)).run(), 10)
    finally:
        store.close()
    assert status == 1
    assert "polling for Telegram's updates stopped: RuntimeError" in caplog.text
    assert "the request layer broke" not in caplog.text  # an exception's text is never logged


def test_retention_erases_a_large_backlog_in_batches_and_keeps_the_rest(tmp_path: Path) -> None:
    from bot.jobs.retention import BATCH, Retention

    store = Store.open(f"sqlite:///{tmp_path / 'intake.db'}")
    old = [_intake(store, n, "completed", timedelta(days=40)) for n in range(BATCH * 2 + 3)]
    kept = _intake(store, 9999, "in_progress", timedelta(days=2))
    assert Retention(store, 30).erase_due() == len(old)
    with store.transaction() as tx:
        assert tx.intake(old[0]) is None and tx.intake(old[-1]) is None and tx.intake(kept) is not None
    store.close()


def test_processes_started_together_on_one_machine_share_the_secret_key_file(tmp_path: Path) -> None:
    """Each writes a key beside the file and links it into place: the first wins, every one
    reads it (before, the second could read the file empty, or fail on O_EXCL)."""
    import multiprocessing

    from bot.config import Settings
    from bot.runtime import secret_key

    path = tmp_path / "data" / "secret_key"
    with multiprocessing.get_context("spawn").Pool(3) as pool:
        keys = pool.starmap(secret_key, [(Settings(), path)] * 6)
    assert len(set(keys)) == 1 and len(keys[0]) > 40
    assert path.read_text() == keys[0] and oct(path.stat().st_mode & 0o777) == "0o600"
    assert [p.name for p in path.parent.iterdir()] == ["secret_key"]  # no key of a loser left beside it
    assert secret_key(Settings(secret_key="from-the-environment"), path) == "from-the-environment"
