"""Each staff member's language for the staff pages.

``staff.language``: a language the staff pages have a catalog for ("en", "de", ...), chosen on the
settings page or with ``python -m bot staff language NAME LANG``. Empty (every member so far)
means not chosen: the pages follow the browser's Accept-Language, else the flow's default
language. A nullable column is added in place on SQLite too (no rebuild).

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("staff") as batch:
        batch.add_column(sa.Column("language", sa.String(16)))


def downgrade() -> None:
    with op.batch_alter_table("staff") as batch:
        batch.drop_column("language")
