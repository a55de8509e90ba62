"""The staff search's index: intakes found by a typed query through ``intake_search``.

An intake's search text (``bot.store.search_text``) is written by the turn that changes what it
is made of (``Tx.create_intake``, ``Tx.save_intake``) and erased with the intake. It is found
through a trigram index, which turns a substring search into a few index look-ups:

- SQLite: the FTS5 table ``intake_search_fts`` (trigram tokenizer), external content over
  ``intake_search`` kept in step by the triggers below; a query is a quoted phrase, so every
  character in it is taken as typed;
- PostgreSQL: ``text LIKE '%…%'`` with ``%``, ``_`` and ``\\`` escaped, which pg_trgm's GIN index
  answers.

A trigram index needs three characters: a shorter query (or query form, "ab", "17") is looked for
with LIKE on ``intake_search`` row by row. That is still right, only slower (a narrow table of one
short line per intake: some tens of ms at 100,000 intakes).
"""

from __future__ import annotations

from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler

from bot.store.schema import intake_search, intakes
from bot.store.search_text import INDEXED_LENGTH, Inputs, query_forms

#: The SQLite side of the index, made by migration 0011 once ``intake_search`` is filled.
SQLITE_INDEX = (
    "CREATE VIRTUAL TABLE intake_search_fts USING fts5("
    "text, content='intake_search', content_rowid='intake_id', tokenize='trigram')",
    "INSERT INTO intake_search_fts(intake_search_fts) VALUES ('rebuild')",
    "CREATE TRIGGER intake_search_ai AFTER INSERT ON intake_search BEGIN "
    "INSERT INTO intake_search_fts(rowid, text) VALUES (new.intake_id, new.text); END",
    "CREATE TRIGGER intake_search_ad AFTER DELETE ON intake_search BEGIN "
    "INSERT INTO intake_search_fts(intake_search_fts, rowid, text) VALUES ('delete', old.intake_id, old.text); END",
    "CREATE TRIGGER intake_search_au AFTER UPDATE ON intake_search BEGIN "
    "INSERT INTO intake_search_fts(intake_search_fts, rowid, text) VALUES ('delete', old.intake_id, old.text); "
    "INSERT INTO intake_search_fts(rowid, text) VALUES (new.intake_id, new.text); END",
)

# The tables as this module reads them (not bot.store.schema: migration 0011 runs this code, and
# must keep working whatever later migrations add to the tables).
_intakes = sa.table(
    "intakes",
    sa.column("id", sa.Integer),
    sa.column("first_name", sa.String),
    sa.column("last_name", sa.String),
    sa.column("username", sa.String),
    sa.column("state", sa.Text),
)
_search = sa.table("intake_search", sa.column("intake_id", sa.Integer), sa.column("text", sa.Text))
_fts = sa.table("intake_search_fts", sa.column("rowid", sa.Integer))


def fill_missing(conn: sa.Connection, batch: int = 1000) -> int:
    """Write the search text of every intake that has none, ``batch`` intakes at a time (in id
    order: a batch is read along the primary key); how many were written."""
    written, after = 0, 0
    while True:
        rows = conn.execute(
            sa.select(_intakes.c.id, _intakes.c.first_name, _intakes.c.last_name, _intakes.c.username, _intakes.c.state)
            .where(_intakes.c.id > after, ~sa.exists().where(_search.c.intake_id == _intakes.c.id))
            .order_by(_intakes.c.id)
            .limit(batch)
        ).all()
        if not rows:
            return written
        texts = [{"intake_id": row.id, "text": Inputs.of(*row[1:4], orjson.loads(row.state)).text()} for row in rows]
        conn.execute(_search.insert(), texts)
        written += len(texts)
        after = rows[-1].id


class Found(sa.sql.expression.ColumnElement[bool]):
    """True for the intakes a typed query finds: ``intakes.id IN (…)``, written for the dialect
    the statement is compiled for (see the module)."""

    type = sa.Boolean()
    inherit_cache = False  # built per query; its SQL depends on the words, nothing to reuse
    # a condition as it stands: without this, SQLite (no boolean type) would get "(… IN …) = 1",
    # which no index answers
    _is_implicitly_boolean = True

    def __init__(self, wanted: list[str]):
        self.wanted = wanted


@compiles(Found)
def _compile(element: Found, compiler: SQLCompiler, **kw: Any) -> str:
    wanted = element.wanted
    short = [form for form in wanted if len(form) < INDEXED_LENGTH]
    long = [form for form in wanted if len(form) >= INDEXED_LENGTH]
    found: list[sa.ColumnElement[bool]] = []
    if compiler.dialect.name == "sqlite":
        if long:
            phrases = " OR ".join('"' + form.replace('"', '""') + '"' for form in long)
            match = sa.literal_column("intake_search_fts").op("MATCH")(sa.literal(phrases))
            found.append(intakes.c.id.in_(sa.select(_fts.c.rowid).where(match)))
        if short:
            likes = [intake_search.c.text.like(_pattern(form, "!"), escape="!") for form in short]
            found.append(intakes.c.id.in_(sa.select(intake_search.c.intake_id).where(sa.or_(*likes))))
    else:
        # backslash is PostgreSQL's own LIKE escape: with it (and no ESCAPE clause) pg_trgm reads
        # the pattern's literal characters and answers from the index
        likes = [intake_search.c.text.like(_pattern(form, "\\")) for form in wanted]
        found.append(intakes.c.id.in_(sa.select(intake_search.c.intake_id).where(sa.or_(*likes))))
    return compiler.process(sa.or_(*found), **kw)


def _pattern(form: str, escape: str) -> str:
    """``%form%`` with LIKE's wildcards in ``form`` taken literally."""
    for special in (escape, "%", "_"):
        form = form.replace(special, escape + special)
    return f"%{form}%"


def found(typed: str) -> sa.ColumnElement[bool] | None:
    """The condition for intakes ``typed`` finds; None when it looks for nothing (only spaces,
    or a lone @): no condition, as for an empty search box."""
    wanted = query_forms(typed)
    return Found(wanted) if wanted else None


def compact(conn: sa.Connection) -> None:
    """SQLite: rewrite the FTS5 index as one segment, leaving out everything deleted (erased
    intakes' trigrams included); see ``bot.jobs.search_index``. Nothing to do on PostgreSQL."""
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql("INSERT INTO intake_search_fts(intake_search_fts) VALUES ('optimize')")
