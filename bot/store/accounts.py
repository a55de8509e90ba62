"""Staff accounts and clinic API tokens: the rows behind ``bot.staff.accounts``."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from bot.store.schema import api_tokens, staff
from bot.store.store import Tx


def member(tx: Tx, name: str) -> sa.Row | None:
    return tx.conn.execute(sa.select(staff).where(staff.c.name == name)).first()


def member_by_id(tx: Tx, member_id: int) -> sa.Row:
    return tx.conn.execute(sa.select(staff).where(staff.c.id == member_id)).one()


def members(tx: Tx) -> list[sa.Row]:
    return list(tx.conn.execute(sa.select(staff).order_by(staff.c.name)))


def add_member(tx: Tx, name: str, password_hash: str, role: str, now: datetime) -> None:
    tx.conn.execute(
        staff.insert().values(name=name, password_hash=password_hash, role=role, created_at=now, failed_logins=0)
    )


def update_member(tx: Tx, name: str, **values: Any) -> bool:
    """Change a staff member's row; False when there is nobody of that name."""
    return tx.conn.execute(staff.update().where(staff.c.name == name).values(**values)).rowcount > 0


def update_member_by_id(tx: Tx, member_id: int, **values: Any) -> None:
    tx.conn.execute(staff.update().where(staff.c.id == member_id).values(**values))


def update_member_if_unchanged(tx: Tx, member_id: int, password_hash: str, **values: Any) -> bool:
    """Change an active member's row only if its password is still ``password_hash``; whether it did."""
    done = tx.conn.execute(
        staff.update()
        .where(staff.c.id == member_id, staff.c.password_hash == password_hash, staff.c.disabled_at.is_(None))
        .values(**values)
    )
    return done.rowcount > 0


def token_named(tx: Tx, name: str) -> sa.Row | None:
    return tx.conn.execute(sa.select(api_tokens).where(api_tokens.c.name == name)).first()


def add_token(tx: Tx, name: str, digest: str, now: datetime, scopes: str = "read") -> None:
    tx.conn.execute(api_tokens.insert().values(name=name, token_hash=digest, created_at=now, scopes=scopes))


def revoke_token(tx: Tx, name: str, now: datetime) -> bool:
    """Revoke an active token; False when there is no active token of that name."""
    done = tx.conn.execute(
        api_tokens.update().where(api_tokens.c.name == name, api_tokens.c.revoked_at.is_(None)).values(revoked_at=now)
    )
    return done.rowcount > 0


def tokens(tx: Tx) -> list[sa.Row]:
    return list(tx.conn.execute(sa.select(api_tokens).order_by(api_tokens.c.name)))


#: How stale a token's "last used" may get: marking it on every API call would make every call
#: a write (on SQLite, a turn of the write lock that the patients' turns wait for).
USE_MARK_EVERY = timedelta(minutes=1)


def active_token(tx: Tx, digest: str) -> sa.Row | None:
    """The active (not revoked) token with this digest."""
    return tx.conn.execute(
        sa.select(api_tokens).where(api_tokens.c.token_hash == digest, api_tokens.c.revoked_at.is_(None))
    ).first()


def mark_token_used(tx: Tx, token_id: int, now: datetime) -> None:
    tx.conn.execute(api_tokens.update().where(api_tokens.c.id == token_id).values(last_used_at=now))
