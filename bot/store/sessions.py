"""Staff sessions: the rows behind ``bot.staff.sessions`` (only a digest of each token is stored)."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from bot.store.schema import staff, staff_sessions
from bot.store.store import Tx


def add(tx: Tx, digest: str, staff_id: int, now: datetime) -> None:
    tx.conn.execute(
        staff_sessions.insert().values(token_hash=digest, staff_id=staff_id, created_at=now, last_seen_at=now)
    )


def find(tx: Tx, digest: str) -> sa.Row | None:
    """The session with this digest and its member's current name, role and language; None when there is no
    such session or its member is disabled (the role is read here, never trusted from a cookie)."""
    return tx.conn.execute(
        sa.select(
            staff_sessions.c.id,
            staff_sessions.c.created_at,
            staff_sessions.c.last_seen_at,
            staff.c.name,
            staff.c.role,
            staff.c.language,
        )
        .join(staff, staff.c.id == staff_sessions.c.staff_id)
        .where(staff_sessions.c.token_hash == digest, staff.c.disabled_at.is_(None))
    ).first()


def touch(tx: Tx, session_id: int, now: datetime) -> None:
    tx.conn.execute(staff_sessions.update().where(staff_sessions.c.id == session_id).values(last_seen_at=now))


def end(tx: Tx, digest: str) -> None:
    tx.conn.execute(staff_sessions.delete().where(staff_sessions.c.token_hash == digest))


def end_all(tx: Tx, staff_id: int) -> None:
    """End every session of one member (disabled, or given a new password)."""
    tx.conn.execute(staff_sessions.delete().where(staff_sessions.c.staff_id == staff_id))


def sweep(tx: Tx, idle_since: datetime, started_before: datetime) -> int:
    """Delete sessions last seen before ``idle_since`` or begun before ``started_before``."""
    done = tx.conn.execute(
        staff_sessions.delete().where(
            sa.or_(staff_sessions.c.last_seen_at < idle_since, staff_sessions.c.created_at < started_before)
        )
    )
    return done.rowcount
