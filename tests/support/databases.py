"""Databases for the tests: a real SQLite file or a real PostgreSQL, one of its own per test."""

from __future__ import annotations

import sqlite3
import uuid
from pathlib import Path

import pytest

POSTGRES_ADMIN_URL = "postgresql://127.0.0.1:5432/test"
POSTGRES_ADMIN = "host=127.0.0.1 port=5432 dbname=test connect_timeout=3"


def postgres_schema_url(request: pytest.FixtureRequest) -> str:
    """A fresh schema in the local PostgreSQL for one test, dropped afterwards."""
    import psycopg

    try:
        admin = psycopg.connect(POSTGRES_ADMIN, autocommit=True)
    except psycopg.OperationalError as err:
        pytest.skip(f"PostgreSQL is not reachable at 127.0.0.1:5432 ({str(err).strip()[:80]})")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin.execute(f'CREATE SCHEMA "{schema}"')

    def drop() -> None:
        admin.execute(f'DROP SCHEMA "{schema}" CASCADE')
        admin.close()

    request.addfinalizer(drop)
    return f"{POSTGRES_ADMIN_URL}?options=-csearch_path%3D{schema}"


def db_rows(db: Path, sql: str, *params: object) -> list[tuple]:
    """Rows of a query on a SQLite file, read with the standard library (not through the store)."""
    with sqlite3.connect(db) as conn:
        return conn.execute(sql, params).fetchall()


def postgres_rows(url: str, sql: str, *params: object) -> list[tuple]:
    """Rows of a query on a test's PostgreSQL database (its URL is a libpq URI too)."""
    import psycopg

    with psycopg.connect(url) as conn:
        return conn.execute(sql, params).fetchall()
