"""Databases for the tests: a real SQLite file or a real PostgreSQL database, one of its own per test.

Migrating takes a good part of a second; a test that is not about migrations gets a copy of a
database migrated once per session instead (``Templates``): the SQLite file is copied, the
PostgreSQL database is made with ``CREATE DATABASE ... TEMPLATE``. Tests of the migrations
themselves take an empty database and run them.
"""

from __future__ import annotations

import shutil
import sqlite3
import uuid
from pathlib import Path

import pytest

from bot.store import Store

POSTGRES = "postgresql://127.0.0.1:5432"
POSTGRES_ADMIN = "host=127.0.0.1 port=5432 dbname=test connect_timeout=3"


class Templates:
    """Databases migrated once (per session, per pytest-xdist worker), copied for each test."""

    def __init__(self, directory: Path):
        self.directory = directory
        self._sqlite: Path | None = None
        self._admin = None  # a psycopg connection to the ``test`` database, once PostgreSQL is used
        self._postgres: str | None = None  # the template database's name
        self._made: list[str] = []  # databases of tests that could not be dropped at once

    # ------------------------------------------------------------------ SQLite

    def sqlite(self, path: Path, migrated: bool = True) -> str:
        """The URL of a SQLite file at ``path``: a copy of the migrated template, or nothing yet."""
        if migrated:
            if self._sqlite is None:
                template = self.directory / "migrated.db"
                Store.open(f"sqlite:///{template}").close()
                assert not template.with_name(template.name + "-wal").exists(), "the template's log was not folded in"
                self._sqlite = template
            shutil.copy(self._sqlite, path)
        return f"sqlite:///{path}"

    # ------------------------------------------------------------------ PostgreSQL

    def _connect(self):
        import psycopg

        if self._admin is None:
            try:
                self._admin = psycopg.connect(POSTGRES_ADMIN, autocommit=True)
            except psycopg.OperationalError as err:
                pytest.skip(f"PostgreSQL is not reachable at 127.0.0.1:5432 ({str(err).strip()[:80]})")
        return self._admin

    def postgres(self, request: pytest.FixtureRequest, migrated: bool = True) -> str:
        """The URL of a PostgreSQL database for one test (dropped afterwards): made from the migrated
        template, or empty."""
        admin = self._connect()
        if migrated and self._postgres is None:
            name = f"tmpl_{uuid.uuid4().hex[:12]}"
            admin.execute(f'CREATE DATABASE "{name}"')
            self._postgres = name
            Store.open(f"{POSTGRES}/{name}").close()  # closed: a template must have no connections
        name = f"t_{uuid.uuid4().hex[:12]}"
        template = f' TEMPLATE "{self._postgres}"' if migrated else ""
        admin.execute(f'CREATE DATABASE "{name}"{template}')
        # FORCE: a test may leave a store open, and a killed bot its connections for a moment
        request.addfinalizer(lambda: admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)'))
        return f"{POSTGRES}/{name}"

    def close(self) -> None:
        if self._admin is not None:
            if self._postgres is not None:
                self._admin.execute(f'DROP DATABASE "{self._postgres}" WITH (FORCE)')
            self._admin.close()


def db_rows(db: Path, sql: str, *params: object) -> list[tuple]:
    """Rows of a query on a SQLite file, read with the standard library (not through the store)."""
    with sqlite3.connect(db) as conn:
        return conn.execute(sql, params).fetchall()


def postgres_rows(url: str, sql: str, *params: object) -> list[tuple]:
    """Rows of a query on a test's PostgreSQL database (its URL is a libpq URI too)."""
    import psycopg

    with psycopg.connect(url) as conn:
        return conn.execute(sql, params).fetchall()
