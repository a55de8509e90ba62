"""The fixtures every test module may use (registered as a pytest plugin by tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.engine import Engine
from bot.flow import load_checked
from support.bot_process import BotProcess, free_port
from support.cli import CommandLine
from support.databases import postgres_schema_url
from support.default_flow import ALL_TYPES_FLOW, DEFAULT_FLOW
from support.fake_telegram import FakeTelegram

# --------------------------------------------------------------------------- flows


@pytest.fixture(scope="session")
def all_types() -> Engine:
    return Engine(load_checked(ALL_TYPES_FLOW))


@pytest.fixture(scope="session")
def skin() -> Engine:
    return Engine(load_checked(DEFAULT_FLOW))


# --------------------------------------------------------------------------- databases


@pytest.fixture()
def postgres_url(request: pytest.FixtureRequest) -> str:
    """A PostgreSQL database of the test's own (skips when PostgreSQL is not reachable)."""
    return postgres_schema_url(request)


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The same tests against a real SQLite file and a real PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'intake.db'}"
    return request.getfixturevalue("postgres_url")


@pytest.fixture()
def db_path(tmp_path: Path) -> Path:
    """Where a test's SQLite database goes."""
    return tmp_path / "intake.db"


# --------------------------------------------------------------------------- servers and the bot


@pytest.fixture()
def unused_port() -> int:
    return free_port()


@pytest.fixture()
def fake_telegram() -> Iterator[FakeTelegram]:
    """A running FakeTelegram for one test."""
    with FakeTelegram() as fake:
        yield fake


@pytest.fixture()
def fake(fake_telegram: FakeTelegram) -> FakeTelegram:
    """The same running FakeTelegram, under the end-to-end tests' short name."""
    return fake_telegram


@pytest.fixture(params=["polling", "webhook"])
def bot(request: pytest.FixtureRequest, fake: FakeTelegram, db_path: Path, unused_port: int) -> Iterator[BotProcess]:
    """The bot under test (``python -m bot run`` on a SQLite file), once with long polling and once
    receiving a webhook; its output must hold no traceback."""
    env = {}
    if request.param == "webhook":
        env = {
            "WEBHOOK_URL": f"http://127.0.0.1:{unused_port}/telegram",
            "WEBHOOK_SECRET": "e2e-secret",
            "WEBHOOK_LISTEN": "127.0.0.1",
            "WEBHOOK_PORT": str(unused_port),
        }
    process = BotProcess(fake, f"sqlite:///{db_path}", **env).start()
    if request.param == "webhook":
        fake.wait_for(lambda: (fake.webhook() or {}).get("url") == env["WEBHOOK_URL"])
    yield process
    process.stop()
    assert "Traceback" not in process.read(), process.read()


# --------------------------------------------------------------------------- the command line


@pytest.fixture()
def cli(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> CommandLine:
    """``python -m bot ...`` in this process: ``cli("validate", path).returncode / .stdout / .stderr``."""
    return CommandLine(capsys, monkeypatch)
