"""The store on a real SQLite file and a real PostgreSQL: migrations, outbox, erasure."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from support.turns import add_out, mark_sent, record_in

from bot.store import Duplicate, Intake, Store, StoreError, utcnow
from bot.store.schema import declared_on, metadata


@pytest.fixture()
def store(database_url: str):
    store = Store(database_url)
    yield store
    store.close()


def new_intake(chat_id: int = 1) -> Intake:
    now = utcnow()
    return Intake(0, chat_id, "f", "1", "en", "in_progress", {"v": 1}, now, now)


def test_migrations_build_exactly_the_declared_schema(empty_database_url: str) -> None:
    store = Store.open(empty_database_url)
    try:
        with store.engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"include_object": declared_on(conn.dialect.name)})
            diff = compare_metadata(context, metadata)
    finally:
        store.close()
    assert diff == []


def test_migrating_twice_changes_nothing(store: Store) -> None:
    store.migrate()  # the store is a copy of a migrated template: this is the second time
    with store.transaction() as tx:
        assert tx.current_intake(1) is None


def test_an_update_id_is_recorded_once_and_the_transaction_rolls_back(store: Store) -> None:
    with store.transaction() as tx:
        intake = tx.create_intake(new_intake())
        record_in(tx, intake.id, 1, 500, "hello", utcnow())
    with pytest.raises(Duplicate), store.transaction() as tx:
        add_out(tx, intake.id, 1, {"op": "send", "text": "would be lost"}, utcnow())
        record_in(tx, intake.id, 1, 500, "hello again", utcnow())
    with store.transaction() as tx:
        assert [line.text for line in tx.transcript(intake.id)] == ["hello"]
        assert tx.pending(1) == []


def test_the_outbox_keeps_order_retries_and_gives_up(store: Store) -> None:
    now = utcnow()
    later = now.replace(year=now.year + 1)
    with store.transaction() as tx:
        intake = tx.create_intake(new_intake())
        first = add_out(tx, intake.id, 1, {"op": "send", "text": "one"}, now)
        second = add_out(tx, intake.id, 1, {"op": "send", "text": "two"}, now)
        assert tx.pending(1) == [first, second]
        tx.mark_failed(first.id, "network", later)
        # still first in line, with when it may be tried again: the outbox holds the chat until then
        assert [(r.id, r.attempts, r.next_try_at) for r in tx.pending(1)] == [
            (first.id, 1, later),
            (second.id, 0, None),
        ]
        tx.mark_failed(second.id, "forbidden", None, give_up=True)
        assert [r.id for r in tx.pending(1)] == [first.id]  # given up on: never pending again
        mark_sent(tx, first.id, 77, now)
        assert tx.pending(1) == []
        assert tx.telegram_message_id(first.id) == 77


def test_what_the_driver_writes_reads_back_through_core(store: Store) -> None:
    """The per-turn statements bypass SQLAlchemy: its reads must still see the same values."""
    import sqlalchemy as sa

    from bot.store.schema import intakes, messages

    now = utcnow()
    with store.transaction() as tx:
        intake = tx.create_intake(new_intake(5))
        record_in(tx, intake.id, 5, 901, "Ja, gern – ✓", now, "press")
        out = add_out(tx, intake.id, 5, {"op": "send", "text": "Frage", "keyboard": None}, now)
        intake.state = {"v": 1, "answers": {"note": "Grüße 🌿"}}
        intake.flags, intake.urgent, intake.status = ["pregnant"], True, "completed"
        intake.consented_at = intake.completed_at = now
        intake.prompt_message_id = out.id
        tx.save_intake(intake)
        tx.mark_all_sent([(out.id, 4242, now)])
    with store.transaction(read_only=True) as tx:
        core = Intake.from_row(tx.conn.execute(sa.select(intakes).where(intakes.c.id == intake.id)).one())
        driver = tx.current_intake(5)
        row = tx.conn.execute(sa.select(messages).where(messages.c.id == out.id)).one()
        (text,) = tx.conn.execute(sa.select(messages.c.text).where(messages.c.update_id == 901)).one()
    assert core == driver == intake
    assert core.completed_at == now and core.urgent is True and core.state["answers"]["note"] == "Grüße 🌿"
    assert text == "Ja, gern – ✓"
    assert row.telegram_message_id == 4242 and row.sent_at.replace(tzinfo=now.tzinfo) == now


def test_a_turn_never_overwrites_the_review_mark(store: Store) -> None:
    from bot.staff.review import Review

    with store.transaction() as tx:
        intake = tx.create_intake(new_intake(6))
    Review(store).mark_reviewed(intake.id, "rita")  # while the patient's next turn is in flight
    intake.state = {"v": 1, "turn": 2}
    with store.transaction() as tx:
        tx.save_intake(intake)
    with store.transaction() as tx:
        saved = tx.intake(intake.id)
    assert saved.reviewed_by == "rita" and saved.reviewed_at is not None and saved.state == {"v": 1, "turn": 2}


def test_a_savepoint_undoes_only_its_own_writes_and_callbacks(store: Store) -> None:
    ran: list[str] = []
    with store.transaction() as tx:
        intake = tx.create_intake(new_intake(7))
        record_in(tx, intake.id, 7, 1001, "kept", utcnow())
        tx.on_commit(lambda: ran.append("kept"))
        with pytest.raises(Duplicate), tx.savepoint():
            record_in(tx, intake.id, 7, 1002, "undone", utcnow())
            tx.on_commit(lambda: ran.append("undone"))
            record_in(tx, intake.id, 7, 1001, "a redelivery", utcnow())
        assert ran == []  # nothing runs before the commit
    assert ran == ["kept"]
    with store.transaction() as tx:
        assert [line.text for line in tx.transcript(intake.id)] == ["kept"]


def test_delete_chat_erases_intakes_and_transcripts_of_that_chat_only(store: Store) -> None:
    with store.transaction() as tx:
        mine, other = tx.create_intake(new_intake(1)), tx.create_intake(new_intake(2))
        for intake in (mine, other):
            record_in(tx, intake.id, intake.chat_id, None, "text", utcnow())
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
            record_in(tx, intake.id, intake.chat_id, None, "text", now)
            tx.queue_completion(intake.id, now)
        tx.conn.execute(audit.insert().values(actor="rita", action="view", intake_id=old.id, at=now))
        assert tx.purge_before(now - timedelta(days=30)) == 1
        assert tx.intake(old.id) is None and tx.transcript(old.id) == []
        assert tx.intake(fresh.id) is not None
        assert tx.conn.execute(audit.select()).first().intake_id == old.id  # who looked stays on record


def test_migrating_old_data_keeps_every_row_and_never_reuses_an_id(empty_database_url: str) -> None:
    """0003 rebuilds SQLite's tables (for AUTOINCREMENT): no cascade may erase a transcript."""
    import sqlalchemy as sa

    from bot.store.schema import messages

    old = Store(empty_database_url)
    old.migrate("0002")
    now = utcnow()
    ids = []
    with old.engine.begin() as conn:  # the 0002 schema: written as plain SQL, not with today's tables
        for chat in (1, 2):
            intake_id = conn.execute(
                sa.text(
                    "INSERT INTO intakes (chat_id, flow_id, flow_version, language, status, urgent, flags,"
                    " state, created_at, updated_at) VALUES (:chat, 'f', '1', 'en', 'in_progress', false, '[]',"
                    " :state, :now, :now) RETURNING id"
                ),
                {"chat": chat, "now": now, "state": '{"v":1}'},
            ).scalar_one()
            conn.execute(
                sa.text(
                    "INSERT INTO messages (intake_id, chat_id, direction, kind, text, at, attempts)"
                    " VALUES (:intake, :chat, 'in', 'text', 'hi', :now, 0)"
                ),
                {"intake": intake_id, "chat": chat, "now": now},
            )
            ids.append(intake_id)
    old.close()
    store = Store.open(empty_database_url)
    try:
        with store.transaction() as tx:
            assert [tx.intake(i).version for i in ids] == [0, 0]
            assert [len(tx.transcript(i)) for i in ids] == [1, 1]
            newest_message = tx.conn.execute(sa.select(sa.func.max(messages.c.id))).scalar_one()
            assert tx.delete_chat(2) == 1  # the newest intake and message go...
            newer = tx.create_intake(new_intake(3))
            record_in(tx, newer.id, 3, None, "again", utcnow())
        with store.transaction() as tx:
            assert newer.id > ids[1]  # ...and their ids do not come back
            (message_id,) = tx.conn.execute(sa.select(messages.c.id).where(messages.c.chat_id == 3)).one()
            assert message_id > newest_message
            with pytest.raises(sa.exc.IntegrityError):  # foreign keys are enforced again
                orphan = {"chat_id": 9, "direction": "in", "kind": "text", "text": "x", "at": now, "attempts": 0}
                tx.conn.execute(messages.insert().values(intake_id=999, **orphan))
    finally:
        store.close()


def test_a_write_from_an_outdated_copy_is_refused_as_stale(store: Store) -> None:
    """Another writer (abandoning, erasing) moves the intake on: an older copy cannot overwrite it."""
    from datetime import timedelta

    from bot.store import Stale

    with store.transaction() as tx:
        intake = tx.create_intake(new_intake(8))
    with store.transaction() as tx:
        assert tx.abandon(intake.updated_at + timedelta(hours=1)) == 1
    intake.state = {"v": 1, "turn": 2}
    with pytest.raises(Stale), store.transaction() as tx:
        tx.save_intake(intake)
    with store.transaction() as tx:
        fresh = tx.intake(intake.id)
        assert fresh.status == "abandoned" and fresh.state == {"v": 1} and fresh.version == 1
        fresh.status = "in_progress"
        tx.save_intake(fresh)  # the copy just read is current
        tx.delete_chat(8)
        with pytest.raises(Stale):
            tx.save_intake(fresh)  # erased meanwhile


def test_a_turns_input_and_replies_go_in_together_in_order_and_once(store: Store) -> None:
    now = utcnow()
    replies = [{"op": "edit", "text": "Age?\n✓ 40", "target": 1}, {"op": "send", "text": "Next?", "keyboard": None}]
    with store.transaction() as tx:
        intake = tx.create_intake(new_intake(9))
        tx.claim_update(0, 700, 1, now)
        rows = tx.record_turn(intake.id, 9, 700, "40", "text", replies, now)
        assert [(r.text, r.payload) for r in rows] == [("Age?\n✓ 40", replies[0]), ("Next?", replies[1])]
        assert rows[0].id < rows[1].id
        assert tx.record_turn(intake.id, 9, None, None, "text", [], now) == []  # nothing to write
        reminder = tx.record_turn(intake.id, 9, None, None, "text", [replies[1]], now)  # no input row
    with pytest.raises(Duplicate), store.transaction() as tx:
        tx.claim_update(0, 700, 1, now)  # redelivered: nothing kept (a turn claims its update first)
        tx.record_turn(intake.id, 9, 700, "40 again", "text", replies, now)
    with store.transaction() as tx:
        lines = [(line.direction, line.text) for line in tx.transcript(intake.id)]
        assert lines == [("in", "40"), ("out", "Next?"), ("out", "Next?")]  # edits are not transcript lines
        assert [r.id for r in tx.pending(9)] == [rows[0].id, rows[1].id, reminder[0].id]


def test_a_long_running_store_checkpoints_from_its_own_thread(database_url: str) -> None:
    import time

    store = Store(database_url)
    store.checkpoint_in_background()
    checkpointer = store._checkpointer
    try:
        if not database_url.startswith("sqlite"):
            assert checkpointer is None  # PostgreSQL has nothing of the kind to do
            return
        with store.transaction() as tx:
            intake = tx.create_intake(new_intake(11))
            record_in(tx, intake.id, 11, 1100, "text", utcnow())
            (autocheckpoint,) = tx.driver.execute("PRAGMA wal_autocheckpoint").fetchone()
        assert autocheckpoint == 10_000  # committing connections only checkpoint as a safety net
        deadline = time.monotonic() + 10
        while checkpointer.checkpoints == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert checkpointer.checkpoints > 0
        with store.transaction(read_only=True) as tx:  # the log was copied back into the database
            busy, logged, copied = tx.driver.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
            assert busy == 0 and logged == copied
    finally:
        store.close()
    assert store._checkpointer is None and not checkpointer._thread.is_alive()
    with Store(database_url).transaction() as tx:  # everything committed is in the database file
        assert [line.text for line in tx.transcript(intake.id)] == ["text"]


def test_an_erased_chat_leaves_no_message_and_its_updates_are_still_refused(store: Store) -> None:
    """A redelivered update applied before /delete is still refused; nothing of the chat remains."""
    import sqlalchemy as sa

    from bot.store.schema import messages, telegram_updates

    with store.transaction() as tx:
        intake = tx.create_intake(new_intake(12))
        record_in(tx, intake.id, 12, 1201, "my answer", utcnow())
        add_out(tx, intake.id, 12, {"op": "send", "text": "a question"}, utcnow())
        assert tx.delete_chat(12) == 1
    with store.transaction() as tx:
        assert tx.conn.execute(sa.select(messages)).all() == []
        assert tx.pending() == [] and tx.current_intake(12) is None
        (seen,) = tx.conn.execute(sa.select(telegram_updates)).all()
        assert set(seen._mapping.keys()) == {"bot_id", "update_id", "fingerprint", "seen_at"}  # no words, no chat
        fresh = tx.create_intake(new_intake(12))
    with pytest.raises(Duplicate), store.transaction() as tx:
        record_in(tx, fresh.id, 12, 1201, "my answer", utcnow())  # Telegram sends it again


def test_a_reused_update_id_is_new_after_the_redelivery_window_or_from_another_bot(store: Store) -> None:
    """Telegram numbers updates per bot, and picks the next at random after a week without
    updates: a number seen long ago, or by another bot, is a new update, never dropped."""
    from datetime import timedelta

    from bot.store.store import UPDATE_WINDOW

    now = utcnow()
    with store.transaction() as tx:
        tx.claim_update(111, 7, 5, now)
    for when in (now + timedelta(hours=23), now + UPDATE_WINDOW - timedelta(seconds=1)):
        with pytest.raises(Duplicate), store.transaction() as tx:
            tx.claim_update(111, 7, 5, when)  # a redelivery: the same bot and update within the window
    with store.transaction() as tx:
        tx.claim_update(222, 7, 5, now)  # a new bot's numbering starts again: another bot
        tx.claim_update(111, 7, 5, now + timedelta(days=8))  # a week later: the number came round again
    with pytest.raises(Duplicate), store.transaction() as tx:
        tx.claim_update(111, 7, 5, now + timedelta(days=8, hours=1))  # ...and is now remembered afresh
    with store.transaction() as tx:
        assert tx.forget_updates(now + timedelta(days=3)) == 1  # bot 222's row; 111's was refreshed
        assert tx.forget_updates(now + timedelta(days=11)) == 1


def test_a_reused_update_id_carrying_another_message_is_new_within_the_window(store: Store) -> None:
    """A re-issued token of the same bot may number afresh: the number is the same, what the update
    carries (its message or button press) is not. A redelivery carries the same."""
    now = utcnow()
    with store.transaction() as tx:
        tx.claim_update(111, 1, 5, now)
        tx.claim_update(111, 1, 6, now)  # the same bot and number, another message: new
    with pytest.raises(Duplicate), store.transaction() as tx:
        tx.claim_update(111, 1, 6, now)  # and that one, sent again, is a redelivery
    with store.transaction() as tx:
        tx.conn.exec_driver_sql("UPDATE telegram_updates SET fingerprint = 0")  # carried over: not known
    with pytest.raises(Duplicate), store.transaction() as tx:
        tx.claim_update(111, 1, 7, now)  # not known: refused within the window, as before the upgrade


def test_an_updates_fingerprint_is_what_it_carried_never_the_words() -> None:
    from support.fake_telegram import FakeTelegram
    from telegram import Bot, Update

    from bot.channels.telegram.runner import fingerprint
    from bot.channels.telegram.updates import parse_update

    def event_of(payload: dict):
        return parse_update(Update.de_json({"update_id": 1, **payload}, Bot(FakeTelegram.TOKEN)))

    user = {"id": 42, "is_bot": False, "first_name": "Ada"}
    chat = {"id": 42, "type": "private"}

    def message(message_id: int, text: str) -> dict:
        return {"message": {"message_id": message_id, "date": 0, "chat": chat, "from": user, "text": text}}

    one, same, other = event_of(message(9, "yes")), event_of(message(9, "no")), event_of(message(10, "yes"))
    assert one[1].origin == same[1].origin == "m9" and other[1].origin == "m10"
    assert fingerprint(42, "m9") == fingerprint(42, "m9") != fingerprint(42, "m10") != fingerprint(43, "m10")
    press = event_of({"callback_query": {"id": "77", "from": user, "chat_instance": "1", "data": "x"}})
    assert press[1].origin == "q77"


def old_intake(conn, now) -> int:
    """An intake written as an older schema holds it (for the migrations' tests); its id."""
    import sqlalchemy as sa

    return conn.execute(
        sa.text(
            "INSERT INTO intakes (chat_id, flow_id, flow_version, language, status, urgent, flags,"
            " state, created_at, updated_at, version) VALUES (1, 'f', '1', 'en', 'in_progress', false, '[]',"
            " :state, :now, :now, 0) RETURNING id"
        ),
        {"now": now, "state": '{"v": 1}'},
    ).scalar_one()


def test_migration_0005_carries_recent_update_ids_over_for_the_first_bot_to_start(empty_database_url: str) -> None:
    """An update applied just before the upgrade and sent again just after is still refused."""
    import sqlalchemy as sa

    old = Store(empty_database_url)
    old.migrate("0004")
    now = utcnow()
    with old.engine.begin() as conn:
        intake_id = old_intake(conn, now)
        insert = sa.text(
            "INSERT INTO messages (intake_id, chat_id, update_id, direction, kind, text, at, attempts)"
            " VALUES (:intake, :chat, :update, 'in', :kind, '', :at, 0)"
        )
        conn.execute(insert, {"intake": intake_id, "chat": 1, "update": 41, "kind": "text", "at": now})
        conn.execute(insert, {"intake": None, "chat": 0, "update": 42, "kind": "erased", "at": now})  # a tombstone
        old_day = now.replace(year=now.year - 1)
        conn.execute(insert, {"intake": intake_id, "chat": 1, "update": 40, "kind": "text", "at": old_day})
    old.close()
    store = Store.open(empty_database_url)
    try:
        with store.transaction() as tx:
            assert tx.adopt_updates(555) == 2  # 41 and the erased 42; 40 is long past the window
            assert tx.adopt_updates(555) == 0
        for update in (41, 42):
            with pytest.raises(Duplicate), store.transaction() as tx:
                tx.claim_update(555, update, 9, utcnow())
        with store.transaction() as tx:
            tx.claim_update(555, 40, 9, utcnow())
            (erased,) = tx.conn.execute(sa.text("SELECT count(*) FROM messages WHERE intake_id IS NULL")).one()
            assert erased == 0  # the tombstones went: the window keeps the number now
            tx.record_turn(intake_id, 1, 41, "the same number, another bot's", "text", [], utcnow())  # not unique
    finally:
        store.close()


def test_migration_0005_goes_down_to_tombstones_and_up_again(empty_database_url: str) -> None:
    """Down to 0004 (a release rolled back): the updates seen become tombstones, so an erased
    chat's update is still refused there; up again, they are carried over once more."""
    import sqlalchemy as sa
    from alembic import command
    from alembic.config import Config

    from bot.store.store import MIGRATIONS

    store = Store.open(empty_database_url)
    now = utcnow()
    with store.transaction() as tx:
        intake = tx.create_intake(new_intake(3))
        record_in(tx, intake.id, 3, 50, "kept", now)
        tx.claim_update(0, 51, 1, now)  # an erased chat's update: no message left
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with store.engine.connect() as conn:
        if store.engine.dialect.name == "sqlite":  # as Store.migrate: a rebuilt table cascades nothing
            conn.connection.driver_connection.execute("PRAGMA foreign_keys=OFF")
        with conn.begin():
            config.attributes["connection"] = conn
            command.downgrade(config, "0004")
        if store.engine.dialect.name == "sqlite":
            conn.connection.driver_connection.execute("PRAGMA foreign_keys=ON")
    with store.engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT update_id, intake_id, kind FROM messages ORDER BY update_id")).all()
        assert [(u, i is None, k) for u, i, k in rows] == [(50, False, "text"), (51, True, "erased")]
    with pytest.raises(sa.exc.IntegrityError), store.engine.begin() as conn:  # unique again, as 0004 had it
        conn.execute(
            sa.text(
                "INSERT INTO messages (intake_id, chat_id, update_id, direction, kind, text, at, attempts)"
                " VALUES (NULL, 0, 51, 'in', 'erased', '', :at, 0)"
            ),
            {"at": now},
        )
    store.migrate()
    try:
        with store.transaction() as tx:
            assert tx.adopt_updates(7) == 2
            for update in (50, 51):
                with pytest.raises(Duplicate), tx.savepoint():
                    tx.claim_update(7, update, 1, now)
            assert tx.conn.execute(sa.text("SELECT count(*) FROM messages")).scalar() == 1  # the tombstone went
    finally:
        store.close()


def test_migration_0004_keeps_the_message_id_counter(empty_database_url: str) -> None:
    """Rebuilding messages (SQLite) must not hand out the ids of messages erased before it."""
    import sqlalchemy as sa

    old = Store(empty_database_url)
    old.migrate("0003")
    now = utcnow()
    with old.engine.begin() as conn:
        intake_id = old_intake(conn, now)
        insert = sa.text(
            "INSERT INTO messages (intake_id, chat_id, direction, kind, text, at, attempts)"
            " VALUES (:intake, 1, 'in', 'text', 'hi', :now, 0) RETURNING id"
        )
        ids = [conn.execute(insert, {"intake": intake_id, "now": now}).scalar_one() for _ in range(5)]
        conn.execute(sa.text("DELETE FROM messages WHERE id > :keep"), {"keep": ids[1]})  # the newest erased
    old.close()
    store = Store.open(empty_database_url)
    try:
        with store.transaction() as tx:
            assert len(tx.transcript(intake_id)) == 2
            newest = add_out(tx, intake_id, 1, {"op": "send", "text": "next"}, utcnow())
        assert newest.id > ids[-1]  # never an erased message's id
    finally:
        store.close()


def test_the_sqlite_file_and_its_log_are_readable_by_this_user_only(tmp_path) -> None:
    """It holds health data: it was readable by everyone (0644) while the session key was 0600."""
    import stat

    db = tmp_path / "private.db"
    store = Store.open(f"sqlite:///{db}")
    with store.transaction() as tx:
        tx.create_intake(Intake(0, 1, "f", "1", "en", "in_progress", {"v": 1}, utcnow(), utcnow()))
    wal = db.with_name(db.name + "-wal")
    for path in (db, wal):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    store.close()
    db.chmod(0o644)  # made by an earlier version
    Store.open(f"sqlite:///{db}").close()
    assert stat.S_IMODE(db.stat().st_mode) == 0o600
