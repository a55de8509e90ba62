"""Shared fixtures: flows loaded once, and an engine per flow."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.engine import Engine
from bot.flow import load_checked

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_FLOW = ROOT / "flows" / "skin_botox.yaml"
ALL_TYPES_FLOW = ROOT / "tests" / "flows" / "all_types.yaml"


@pytest.fixture(scope="session")
def all_types() -> Engine:
    return Engine(load_checked(ALL_TYPES_FLOW))


@pytest.fixture(scope="session")
def skin() -> Engine:
    return Engine(load_checked(DEFAULT_FLOW))


POSTGRES_ADMIN_URL = "postgresql://127.0.0.1:5432/test"


def postgres_schema_url(request: pytest.FixtureRequest) -> str:
    """A fresh schema in the local PostgreSQL for one test, dropped afterwards."""
    import uuid

    import psycopg

    try:
        admin = psycopg.connect("host=127.0.0.1 port=5432 dbname=test connect_timeout=3", autocommit=True)
    except psycopg.OperationalError as err:
        pytest.skip(f"PostgreSQL is not reachable at 127.0.0.1:5432 ({str(err).strip()[:80]})")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin.execute(f'CREATE SCHEMA "{schema}"')

    def drop() -> None:
        admin.execute(f'DROP SCHEMA "{schema}" CASCADE')
        admin.close()

    request.addfinalizer(drop)
    return f"{POSTGRES_ADMIN_URL}?options=-csearch_path%3D{schema}"


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The same tests against a real SQLite file and a real PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'intake.db'}"
    return postgres_schema_url(request)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture()
def unused_port() -> int:
    return free_port()
