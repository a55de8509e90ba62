"""The fixtures every test module may use (registered as a pytest plugin by tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from bot.engine import Engine
from bot.flow import load_checked
from bot.store import Store
from support.bot_process import BotProcess, free_port, start_in_mode
from support.cli import CommandLine
from support.databases import Templates
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


@pytest.fixture(scope="session")
def templates(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Templates]:
    """Databases migrated once per session, copied for each test that needs one."""
    templates = Templates(tmp_path_factory.mktemp("templates"))
    yield templates
    templates.close()


@pytest.fixture()
def postgres_url(request: pytest.FixtureRequest, templates: Templates) -> str:
    """A migrated PostgreSQL database of the test's own (skips when PostgreSQL is not reachable)."""
    return templates.postgres(request)


@pytest.fixture()
def empty_postgres_url(request: pytest.FixtureRequest, templates: Templates) -> str:
    """An empty PostgreSQL database of the test's own: no tables yet."""
    return templates.postgres(request, migrated=False)


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, templates: Templates, tmp_path: Path) -> str:
    """The same tests against a real SQLite file and a real PostgreSQL, already migrated (a copy of
    the session's template): open it with ``Store(url)``."""
    if request.param == "sqlite":
        return templates.sqlite(tmp_path / "intake.db")
    return templates.postgres(request)


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_database_url(request: pytest.FixtureRequest, templates: Templates, tmp_path: Path) -> str:
    """An empty SQLite file and an empty PostgreSQL database, for tests of the migrations."""
    if request.param == "sqlite":
        return templates.sqlite(tmp_path / "intake.db", migrated=False)
    return templates.postgres(request, migrated=False)


@pytest.fixture()
def store(database_url: str) -> Iterator[Store]:
    """A Store on ``database_url`` (SQLite, then PostgreSQL), closed after the test (a module may
    define a ``store`` of its own)."""
    store = Store(database_url)
    yield store
    store.close()


@pytest.fixture()
def db_path(request: pytest.FixtureRequest, templates: Templates, tmp_path: Path) -> Path:
    """A migrated SQLite database file of the test's own (a bot started on it finds nothing to do);
    for a test that takes ``bot``, that bot's database (shared by the module's tests)."""
    if "running_bot" in request.fixturenames:
        return request.getfixturevalue("running_bot").db_path
    path = tmp_path / "intake.db"
    templates.sqlite(path)
    return path


@pytest.fixture()
def sqlite_url(db_path: Path) -> str:
    """The same migrated SQLite file as ``db_path``, as a database URL."""
    return f"sqlite:///{db_path}"


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
def fake(request: pytest.FixtureRequest) -> Iterator[FakeTelegram]:
    """The end-to-end tests' FakeTelegram: for a test that takes ``bot``, the one that bot talks to;
    else a fresh one for this test."""
    if "running_bot" in request.fixturenames:
        yield request.getfixturevalue("running_bot").fake
        return
    with FakeTelegram() as fake:
        yield fake


@dataclass
class RunningBot:
    fake: FakeTelegram
    db_path: Path
    process: BotProcess


@pytest.fixture(scope="module", params=["polling", "webhook"])
def running_bot(request: pytest.FixtureRequest, templates: Templates, tmp_path_factory: pytest.TempPathFactory):
    """One bot process (``python -m bot run`` on a migrated SQLite file) with its FakeTelegram, for all
    the tests of a module that take ``bot``: once with long polling and once receiving a webhook.

    Starting the bot takes a second or two; the tests are independent of each other all the same,
    because each plays chats of its own (its own chat ids) and asks about those chats only.
    """
    db_path = tmp_path_factory.mktemp(f"bot-{request.param}") / "intake.db"
    templates.sqlite(db_path)
    with FakeTelegram() as fake:
        process = start_in_mode(fake, db_path, request.param)
        try:
            yield RunningBot(fake, db_path, process)
        finally:
            process.stop()
    assert "Traceback" not in process.read(), process.read()


@pytest.fixture()
def bot(running_bot: RunningBot) -> Iterator[BotProcess]:
    """The bot under test, once with long polling and once receiving a webhook (one process for
    the module's tests, see ``running_bot``); it must still run after the test, and have written
    no traceback during it."""
    process = running_bot.process
    before = len(process.read())
    yield process
    output = process.read()
    assert process.proc is not None and process.proc.poll() is None, f"the bot exited:\n{output}"
    assert "Traceback" not in output[before:], output[before:]


# --------------------------------------------------------------------------- the command line


@pytest.fixture()
def cli(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> CommandLine:
    """``python -m bot ...`` in this process: ``cli("validate", path).returncode / .stdout / .stderr``."""
    return CommandLine(capsys, monkeypatch)
