"""The staff search (``Search(text=...)``) on a real SQLite file and a real PostgreSQL: names folded
for case, accents and umlauts, % and _ as typed, phone numbers by their digits, e-mail addresses,
what erasure and a changed name leave findable, and migration 0011 indexing existing intakes."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from urllib.parse import quote

import pytest
import sqlalchemy as sa
from starlette.testclient import TestClient
from support.default_flow import Q_CONTACT, Q_CONTACT_TIMES, ROUTINE_TO_SUMMARY, SUMMARY, begin
from support.patients import InProcessPatient
from support.staff import login, staff_store
from support.turns import apply

from bot.channels.telegram.events import Chat, Event
from bot.channels.telegram.runner import TurnRunner
from bot.engine import Engine
from bot.jobs.search_index import SearchIndex
from bot.staff.accounts import Accounts
from bot.staff.web import create_app
from bot.store import Intake, Store, utcnow
from bot.store.review import Search
from bot.store.schema import intake_search, intakes
from bot.store.search_text import Inputs, fold, phone_digits, query_forms


def person(
    chat_id: int,
    first: str | None,
    last: str | None = None,
    username: str | None = None,
    **answers: Any,
) -> Intake:
    now = utcnow()
    state = {"v": 1, "answers": answers} if answers else {"v": 1}
    return Intake(0, chat_id, "f", "1", "en", "completed", state, now, now, chat_id, first, last, username)


def found(store: Store, text: str) -> set[int]:
    """The ids of the intakes the staff search finds for ``text`` (the condition the list, the API
    and the exports use)."""
    with store.transaction(read_only=True) as tx:
        return set(tx.conn.execute(sa.select(intakes.c.id).where(*Search(text=text).where())).scalars())


def add(store: Store, *people: Intake) -> list[int]:
    with store.transaction() as tx:
        return [tx.create_intake(p).id for p in people]


# --- folding, pure -------------------------------------------------------------------------------


def test_folding_reads_case_umlauts_and_accents_alike() -> None:
    assert fold("MÜLLER") == fold("Müller") == "mueller"
    assert fold("Straße") == fold("STRASSE") == "strasse"
    assert fold("Çelik Şahin Yılmaz") == "celik sahin yilmaz"
    assert fold("Hélène  Lefèvre") == "helene lefevre"
    assert fold("Søren Ærø") == "soeren aeroe"
    assert fold("Mu\u0308ller") == "mueller"  # u and a combining diaeresis
    assert query_forms("Mueller") == ["mueller", "muller"]
    assert query_forms("%") == ["%"] and query_forms("e_e") == ["e_e"]
    assert query_forms("@") == [] and query_forms("   ") == []
    assert query_forms("+49\u00a0170\u00a01234567") == ["1701234567", "491701234567"]  # pasted
    assert Inputs.of("Siobhán", "O’Brien", None, {}).text().splitlines() == ["siobhan o'brien", "siobhan obrien"]


def test_phone_numbers_have_their_digits_without_country_code_or_trunk_zero() -> None:
    assert phone_digits("+49 170 1234567") == ["1701234567", "491701234567"]
    assert phone_digits("0049 (0)170 123-45 67") == ["1701234567", "491701234567"]
    assert phone_digits("0170/1234567") == ["1701234567"]
    assert phone_digits("+1 (555) 010-9999") == ["5550109999", "15550109999"]
    assert phone_digits("+90 532 123 45 67") == ["5321234567", "905321234567"]
    assert phone_digits("+353 87 123 4567") == ["871234567", "353871234567"]


def test_only_contact_details_are_taken_from_the_answers() -> None:
    inputs = Inputs.of(
        "Anna",
        None,
        None,
        {
            "answers": {
                "contact_detail": "Tel. +49 170 1234567 ab 17 Uhr",
                "goal": "Weniger Falten seit 12.05.2023, Ibuprofen 400 mg",
                "email": "Anna.Weiss@Example.org",
                "concerns": ["pores", "oily"],
                "age": 41,
            }
        },
    )
    assert inputs.contacts == ("Anna.Weiss@Example.org", "+49 170 1234567")
    text = inputs.text()
    assert "ibuprofen" not in text and "falten" not in text and "2023" not in text
    assert text.splitlines() == ["anna", "anna.weiss@example.org", "1701234567", "491701234567"]
    # two numbers in one answer are two numbers; a number with spaced separators is one
    assert Inputs.of(None, None, None, {"answers": {"c": "030 1234567 / 0170 7654321"}}).contacts == (
        "030 1234567",
        "0170 7654321",
    )
    assert Inputs.of(None, None, None, {"answers": {"c": "0170 / 123 45 67"}}).contacts == ("0170 / 123 45 67",)
    assert Inputs.of(None, None, None, {"answers": {"c": "IBAN DE89 3704 0044 0532 0130 00"}}).contacts == ()


# --- the store, on SQLite and PostgreSQL ---------------------------------------------------------


def test_names_are_found_whatever_their_case_accents_and_umlauts(store: Store) -> None:
    mueller, spelled, plain, caps, other = add(
        store,
        person(1, "Jürgen", "Müller"),
        person(2, "Hans", "Mueller"),
        person(3, "Ute", "Muller"),
        person(4, "Eva", "MÜLLER"),
        person(5, "Anna", "Miller"),
    )
    all_muellers = {mueller, spelled, plain, caps}
    for typed in ("muller", "Mueller", "Müller", "MÜLLER", "mül", "MUELL"):
        assert found(store, typed) == all_muellers, typed
    assert found(store, "eller") == {mueller, spelled, caps}  # the part after ue of the spelled-out form
    assert found(store, "jurgen müller") == found(store, "JUERGEN MUELLER") == {mueller}
    assert found(store, "miller") == {other}

    turkish, french, german, nordic = add(
        store,
        person(11, "Şükrü", "Yılmaz", "sukru_y"),
        person(12, "Hélène", "Lefèvre"),
        person(13, "Grete", "Straße"),
        person(14, "Søren", "Kierkegård"),
    )
    assert found(store, "sukru yilmaz") == found(store, "ŞÜKRÜ") == found(store, "Suekrue") == {turkish}
    assert found(store, "helene lefevre") == found(store, "LEFÈVRE") == {french}
    assert found(store, "strasse") == found(store, "STRASSE") == found(store, "straße") == {german}
    assert found(store, "soren") == found(store, "Soeren") == found(store, "kierkegard") == {nordic}
    assert found(store, "@sukru_y") == {turkish}
    (irish,) = add(store, person(15, "Siobhán", "O’Brien"))
    assert found(store, "obrien") == found(store, "O'Brien") == found(store, "o’brien") == {irish}


def test_percent_and_underscore_are_what_was_typed(store: Store) -> None:
    underscore, percent, neither = add(
        store, person(1, "Eve", None, "eve_e"), person(2, "Ali", "100%"), person(3, "Eve", "Eden", "eveeve")
    )
    assert found(store, "_") == {underscore}
    assert found(store, "e_e") == {underscore}
    assert found(store, "%") == {percent}
    assert found(store, "0%") == found(store, "100%") == {percent}
    assert found(store, "eve") == {underscore, neither}
    assert found(store, "\\") == set()


def test_phone_numbers_are_found_by_their_digits(store: Store) -> None:
    international, national, email, other = add(
        store,
        person(1, "Lena", contact_detail="+49 170 1234567"),
        person(2, "Max", contact_detail="0171 / 765 43 21"),
        person(3, "Ana", contact_detail="ana.garcia@example.es"),
        person(4, "Ole", contact_detail="+45 20 12 34 56"),
    )
    for typed in ("+49 170 1234567", "01701234567", "0170 1234567", "170-123", "4917012", "0049 170 1234567"):
        assert found(store, typed) == {international}, typed
    for typed in ("0171 7654321", "+49 171 7654321", "765 43", "(0171) 765-4321"):
        assert found(store, typed) == {national}, typed
    assert found(store, "+45 20123456") == found(store, "20 12 34") == {other}
    assert found(store, "17") == {international, national}  # two digits: still found, row by row
    assert found(store, "GARCIA@example") == found(store, "ana.garcia") == {email}
    assert found(store, "1234567890") == set()


def test_an_erased_intake_is_found_no_more(store: Store) -> None:
    kept, erased, old = add(
        store,
        person(1, "Zoë", "Brückner", contact_detail="zoe@example.com"),
        person(2, "Zoe", "Brueckner", contact_detail="+49 151 2222333"),
        person(3, "Zoé", "Bruckner", contact_detail="+49 151 2222444"),
    )
    assert found(store, "bruckner") == {kept, erased, old}
    with store.transaction() as tx:
        tx.delete_chat(2)
        tx.conn.execute(intakes.update().where(intakes.c.id == old).values(updated_at=utcnow() - timedelta(days=400)))
    with store.transaction() as tx:
        assert tx.purge_before(utcnow() - timedelta(days=365)) == 1
    for typed in ("bruckner", "zoe", "br", "151 2222", "2222333", "2222444"):
        assert found(store, typed) == ({kept} if typed in ("bruckner", "zoe", "br") else set()), typed
    with store.transaction(read_only=True) as tx:
        assert set(tx.conn.execute(sa.select(intake_search.c.intake_id)).scalars()) == {kept}
        if store.engine.dialect.name == "sqlite":  # nor does the FTS index still know them
            rows = tx.conn.exec_driver_sql("SELECT rowid FROM intake_search_fts WHERE intake_search_fts MATCH 'zoe'")
            assert [r[0] for r in rows] == [kept]


def test_a_changed_name_or_contact_is_found_as_it_is_now(store: Store) -> None:
    (intake_id,) = add(store, person(1, "Olga", "Petrowa", "olga_p", contact_detail="olga@example.ru"))
    with store.transaction() as tx:
        intake = tx.intake(intake_id)
        assert intake is not None
        intake.last_name, intake.username = "Schütz", "olga_s"
        intake.state = {"v": 1, "answers": {"contact_detail": "+7 912 345 67 89"}}
        tx.save_intake(intake)
    for gone in ("petrowa", "olga_p", "olga@example"):
        assert found(store, gone) == set(), gone
    for now in ("schutz", "Schuetz", "olga_s", "912 345", "79123456789", "olga schütz"):
        assert found(store, now) == {intake_id}, now


def test_a_turn_keeps_the_persons_current_telegram_name(skin: Engine, store: Store) -> None:
    turns = TurnRunner(skin, store)
    patient = InProcessPatient(turns, Chat(77, 77, "Ayşe", "Demir", "ayse_d", "en"))
    patient.command("/start")
    assert found(store, "ayse demir") == {patient.intake().id}
    # she renames herself on Telegram, then taps on
    apply(turns, 77_000_999, Chat(77, 77, "Ayşe", "Öztürk", None, "en"), Event("command", command="help"))
    assert patient.intake().last_name == "Öztürk" and patient.intake().username is None
    assert found(store, "demir") == found(store, "ayse_d") == set()
    assert found(store, "ayse ozturk") == found(store, "OEZTUERK") == {patient.intake().id}


def test_a_turn_that_changes_nothing_searched_writes_no_search_text(store: Store) -> None:
    (intake_id,) = add(store, person(1, "Ida", contact_detail="ida@example.com"))
    with store.transaction() as tx:
        intake = tx.intake(intake_id)
        assert intake is not None
        tx.save_intake(intake)  # read back: written once (the same text: nothing changes)
        assert intake.indexed == intake.search_inputs()
        tx.conn.execute(intake_search.update().values(text="tampered"))
        intake.state = {"v": 1, "answers": {"contact_detail": "ida@example.com", "goal": "smoother skin"}}
        tx.save_intake(intake)  # what the search reads did not change: not written again
        assert tx.conn.execute(sa.select(intake_search.c.text)).scalar_one() == "tampered"


# --- migration 0011 ------------------------------------------------------------------------------


@pytest.mark.parametrize("count", [2_345])
def test_the_migration_indexes_the_intakes_already_there(empty_database_url: str, count: int) -> None:
    store = Store(empty_database_url)
    try:
        store.migrate("0009")
        now = utcnow()
        rows = [
            {
                "chat_id": n,
                "user_id": n,
                "first_name": "Françoise" if n % 2 else "Gül",
                "last_name": f"Nummer{n}",
                "username": None,
                "flow_id": "f",
                "flow_version": "1",
                "language": "en",
                "status": "completed",
                "urgent": False,
                "flags": "[]",
                "state": f'{{"v": 1, "answers": {{"contact_detail": "+49 160 {n:07d}"}}}}',
                "created_at": now,
                "updated_at": now,
                "version": 0,
            }
            for n in range(1, count + 1)
        ]
        with store.transaction() as tx:
            tx.conn.execute(sa.table("intakes", *(sa.column(k) for k in rows[0])).insert(), rows)
        store.migrate()
        assert len(found(store, "francoise")) == (count + 1) // 2
        assert len(found(store, "GUEL")) == count // 2
        assert found(store, "nummer2345") == found(store, "0160 0002345") == {2345}
        with store.transaction(read_only=True) as tx:
            assert tx.conn.execute(sa.select(sa.func.count()).select_from(intake_search)).scalar_one() == count
    finally:
        store.close()


def test_the_search_is_answered_from_the_trigram_index(store: Store) -> None:
    add(
        store,
        *(
            person(n, f"Name{n}", "Müller" if n % 7 else "Öztürk", contact_detail=f"+49 170 {n:07d}")
            for n in range(1, 300)
        ),
    )
    page = sa.select(intakes.c.id).where(*Search(text="oeztuerk_%").where())
    with store.transaction(read_only=True) as tx:
        compiled = page.compile(tx.conn)
        if store.engine.dialect.name == "sqlite":
            values = tuple(compiled.params[name] for name in compiled.positiontup or ())
            plan = " | ".join(row[-1] for row in tx.conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled}", values))
            # the intakes are reached by id from what the FTS index found, never scanned
            assert "VIRTUAL TABLE INDEX" in plan and "SCAN intakes" not in plan, plan
        else:
            # a small table, read whole more cheaply: leave the planner only bitmap scans, to show
            # that the trigram index answers these patterns (escapes and all)
            for setting in ("enable_seqscan", "enable_indexscan", "enable_nestloop"):
                tx.conn.exec_driver_sql(f"SET LOCAL {setting} = off")
            plan = " | ".join(row[0] for row in tx.conn.exec_driver_sql(f"EXPLAIN {compiled}", compiled.params))
            assert "ix_intake_search_text" in plan, plan


def test_the_daily_compaction_leaves_no_erased_trigram_in_sqlites_index(store: Store) -> None:
    ids = add(store, *(person(n, f"Vorname{n}", "Großmann", contact_detail=f"+49 160 {n:07d}") for n in range(1, 60)))
    with store.transaction() as tx:
        for chat in range(1, 60, 2):
            tx.delete_chat(chat)
    SearchIndex(store).compact()  # the job's work (nothing to do on PostgreSQL: it runs all the same)
    assert found(store, "grossmann") == set(ids[1::2])
    if store.engine.dialect.name != "sqlite":
        return

    def index_bytes() -> int:
        """The index's segments (record 1 holds averages, 10 the structure: not what it indexes)."""
        with store.transaction(read_only=True) as tx:
            return tx.conn.exec_driver_sql(
                "SELECT sum(length(block)) FROM intake_search_fts_data WHERE id > 10"
            ).scalar_one()

    compacted = index_bytes()
    with store.transaction() as tx:  # the index made afresh from the texts left: the same bytes
        tx.conn.exec_driver_sql("INSERT INTO intake_search_fts(intake_search_fts) VALUES ('rebuild')")
    assert index_bytes() == compacted
    with store.transaction() as tx:  # whereas without the compaction, erasing leaves more behind
        tx.delete_chat(2)
    assert index_bytes() > compacted


def test_staff_find_a_patient_by_the_phone_number_typed_in_the_default_flow(skin: Engine, database_url: str) -> None:
    store = staff_store(database_url)
    try:
        turns = TurnRunner(skin, store)
        patient = InProcessPatient(turns, Chat(31, 31, "Jürgen", "Müller", None, "en"))
        begin(patient)
        patient.walk(ROUTINE_TO_SUMMARY[: ROUTINE_TO_SUMMARY.index(("tap", "No, never", Q_CONTACT)) + 1])
        patient.tap("By phone", expect="phone number or email address")
        patient.type("0170 / 123 45 67", expect=Q_CONTACT_TIMES)
        patient.tap("Any time")
        patient.tap("Done", expect=SUMMARY)
        other = InProcessPatient(turns, Chat(32, 32, "Hans", "Miller", None, "en"))
        begin(other)
        wanted = patient.intake().id

        client = TestClient(create_app(skin, store, secret_key="test-secret-key"))
        login(client)
        token = Accounts(store).add_token("erp")
        for typed in ("+49 170 1234567", "01701234567", "170-123", "mueller", "MULLER", "Jürgen Müller"):
            page = client.get(f"/?q={quote(typed)}").text
            assert f"/intakes/{wanted}" in page and "1 intake." in page, typed
            listed = client.get(f"/api/intakes?q={quote(typed)}", headers={"Authorization": f"Bearer {token}"})
            assert [item["id"] for item in listed.json()["intakes"]] == [wanted], typed
        csv = client.get(f"/export?format=csv&q={quote('0170 123')}").text
        assert "Jürgen" in csv and "Miller" not in csv
    finally:
        store.close()
