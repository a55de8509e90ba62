"""The store on a real SQLite file and a real PostgreSQL: migrations, outbox, erasure."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from bot.store import Duplicate, Intake, Store, StoreError, utcnow
from bot.store.schema import metadata


@pytest.fixture()
def store(database_url: str):
    store = Store.open(database_url)
    yield store
    store.close()


def new_intake(chat_id: int = 1) -> Intake:
    now = utcnow()
    return Intake(0, chat_id, "f", "1", "en", "in_progress", {"v": 1}, now, now)


def test_migrations_build_exactly_the_declared_schema(store: Store) -> None:
    with store.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    assert diff == []


def test_migrating_twice_changes_nothing(store: Store) -> None:
    store.migrate()
    with store.transaction() as tx:
        assert tx.current_intake(1) is None


def test_an_update_id_is_recorded_once_and_the_transaction_rolls_back(store: Store) -> None:
    with store.transaction() as tx:
        intake = tx.create_intake(new_intake())
        tx.record_in(intake.id, 1, 500, "hello", utcnow())
    with pytest.raises(Duplicate), store.transaction() as tx:
        tx.add_out(intake.id, 1, "would be lost", {"op": "send", "text": "x"}, utcnow())
        tx.record_in(intake.id, 1, 500, "hello again", utcnow())
    with store.transaction() as tx:
        assert [line.text for line in tx.transcript(intake.id)] == ["hello"]
        assert tx.pending(1) == []


def test_the_outbox_keeps_order_retries_and_gives_up(store: Store) -> None:
    now = utcnow()
    with store.transaction() as tx:
        intake = tx.create_intake(new_intake())
        first = tx.add_out(intake.id, 1, "one", {"op": "send", "text": "one"}, now)
        second = tx.add_out(intake.id, 1, "two", {"op": "send", "text": "two"}, now)
        assert [r.id for r in tx.pending(1)] == [first, second]
        tx.mark_failed(first, "network", now.replace(year=now.year + 1))
        assert [r.id for r in tx.pending(1, due_by=now)] == [second]
        tx.mark_failed(second, "forbidden", None, give_up=True)
        assert [r.id for r in tx.pending(1)] == [first]  # given up on: never pending again
        tx.mark_sent(first, 77, now)
        assert tx.pending(1) == []
        assert tx.telegram_message_id(first) == 77


def test_delete_chat_erases_intakes_and_transcripts_of_that_chat_only(store: Store) -> None:
    with store.transaction() as tx:
        mine, other = tx.create_intake(new_intake(1)), tx.create_intake(new_intake(2))
        for intake in (mine, other):
            tx.record_in(intake.id, intake.chat_id, None, "text", utcnow())
        assert tx.delete_chat(1) == 1
        assert tx.current_intake(1) is None and tx.transcript(mine.id) == []
        assert tx.current_intake(2) is not None and len(tx.transcript(other.id)) == 1


def test_an_unreachable_database_is_one_clear_line() -> None:
    with pytest.raises(StoreError) as caught:
        Store("postgresql://nobody:secret@127.0.0.1:1/nowhere")
    message = str(caught.value)
    assert message.startswith("cannot open the database postgresql://nobody:***@127.0.0.1:1/nowhere:")
    assert "secret" not in message and "\n" not in message


def test_retention_erases_quiet_intakes_with_everything_they_hold(store: Store) -> None:
    from datetime import timedelta

    from bot.store.schema import audit

    now = utcnow()
    with store.transaction() as tx:
        old, fresh = new_intake(1), new_intake(2)
        old.updated_at = now - timedelta(days=40)
        old, fresh = tx.create_intake(old), tx.create_intake(fresh)
        for intake in (old, fresh):
            tx.record_in(intake.id, intake.chat_id, None, "text", now)
            tx.queue_completion(intake.id, now)
        tx.conn.execute(audit.insert().values(actor="rita", action="view", intake_id=old.id, at=now))
        assert tx.purge_before(now - timedelta(days=30)) == 1
        assert tx.intake(old.id) is None and tx.transcript(old.id) == []
        assert tx.intake(fresh.id) is not None
        assert tx.conn.execute(audit.select()).first().intake_id == old.id  # who looked stays on record
