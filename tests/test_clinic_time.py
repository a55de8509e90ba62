"""The clinic's time zone (CLINIC_TIMEZONE): the days of the date filters and the times on the pages."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from starlette.testclient import TestClient
from support.staff import login, staff_store

from bot.cli import main
from bot.config import SettingsError, load_settings
from bot.engine import Engine
from bot.staff.filters import AuditFilters, Filters
from bot.staff.review import Review
from bot.staff.web import create_app
from bot.store import Intake, Store
from bot.store.schema import audit

BERLIN = ZoneInfo("Europe/Berlin")


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


#: Instants around Berlin's midnights (UTC+1 in winter, UTC+2 from 29 March 2026).
MOMENTS = {
    "berlin 1 Mar 23:59": at("2026-03-01 22:59"),
    "berlin 2 Mar 00:30 (UTC still 1 Mar)": at("2026-03-01 23:30"),
    "berlin 2 Mar 23:30 (UTC 2 Mar)": at("2026-03-02 22:30"),
    "berlin 3 Mar 00:30 (UTC still 2 Mar)": at("2026-03-02 23:30"),
    "berlin 30 Mar 00:30 summer (UTC still 29 Mar)": at("2026-03-29 22:30"),
    "berlin 29 Mar 23:30 summer": at("2026-03-29 21:30"),
}


def add_intakes_and_audit_lines(store: Store) -> dict[int, str]:
    """An intake and an audit line at each moment; the intake ids by moment's name."""
    names = {}
    with store.transaction() as tx:
        for number, (name, when) in enumerate(MOMENTS.items()):
            intake = Intake(0, 2000 + number, "skin_botox", "1.0", "en", "completed", {"v": 1}, when, when)
            names[tx.create_intake(intake).id] = name
            tx.conn.execute(audit.insert().values(actor=name, action="view", intake_id=None, detail=None, at=when))
    return names


def found(store: Store, zone: ZoneInfo, since: date, until: date) -> tuple[set[int], set[str]]:
    """What the list's and the audit log's date filters find: intake ids, audit lines' actors."""
    review = Review(store, zone)
    ids = set(review.export_ids(Filters(since=since, until=until)))
    listed = review.list_page(Filters(since=since, until=until), "rita", None, size=100).items
    assert {intake.id for intake in listed} == ids
    logged = {line.actor for line in review.audit_page(AuditFilters(since=since, until=until)).entries}
    return ids, logged


@pytest.mark.parametrize("zone", [BERLIN, UTC], ids=["Europe/Berlin", "UTC"])
def test_a_filters_day_is_the_clinics_day_on_sqlite_and_postgresql(store: Store, zone: ZoneInfo) -> None:
    names = add_intakes_and_audit_lines(store)

    def day(first: date, last: date | None = None) -> set[str]:
        ids, logged = found(store, zone, first, last or first)
        assert {names[i] for i in ids} == logged  # the list, the export and the audit log agree
        return logged

    if zone is BERLIN:
        assert day(date(2026, 3, 2)) == {"berlin 2 Mar 00:30 (UTC still 1 Mar)", "berlin 2 Mar 23:30 (UTC 2 Mar)"}
        assert day(date(2026, 3, 1)) == {"berlin 1 Mar 23:59"}
        # the day summer time begins has 23 hours: its end is 22:00 UTC, not 23:00
        assert day(date(2026, 3, 29)) == {"berlin 29 Mar 23:30 summer"}
        assert day(date(2026, 3, 30)) == {"berlin 30 Mar 00:30 summer (UTC still 29 Mar)"}
    else:
        assert day(date(2026, 3, 1)) == {"berlin 1 Mar 23:59", "berlin 2 Mar 00:30 (UTC still 1 Mar)"}
        assert day(date(2026, 3, 2)) == {"berlin 2 Mar 23:30 (UTC 2 Mar)", "berlin 3 Mar 00:30 (UTC still 2 Mar)"}
        assert day(date(2026, 3, 29)) == {
            "berlin 29 Mar 23:30 summer",
            "berlin 30 Mar 00:30 summer (UTC still 29 Mar)",
        }
    assert day(date(2026, 3, 1), date(2026, 3, 30)) == set(MOMENTS)


def test_the_pages_show_the_clinics_time_and_say_its_zone(skin: Engine, sqlite_url: str) -> None:
    store = staff_store(sqlite_url)
    with store.transaction() as tx:
        winter, summer = at("2026-01-15 23:30"), at("2026-07-01 09:05")
        tx.create_intake(Intake(0, 3001, "skin_botox", "1.0", "en", "completed", {"v": 1}, winter, winter))
        tx.create_intake(Intake(0, 3002, "skin_botox", "1.0", "en", "completed", {"v": 1}, summer, summer))
        tx.conn.execute(audit.insert().values(actor="adam", action="view", intake_id=1, detail=None, at=winter))
    client = TestClient(create_app(skin, store, secret_key="test-secret-key", zone=BERLIN))
    login(client, "adam")
    listed = client.get("/").text
    assert "Started (Europe/Berlin)" in listed and "2026-01-16 00:30" in listed and "2026-07-01 11:05" in listed
    assert "2026-07-01 11:05 CEST" in client.get("/intakes/2").text  # the summer zone, said on the intake
    assert "2026-01-16 00:30 CET" in client.get("/intakes/1").text
    log = client.get("/audit").text
    assert "When (Europe/Berlin)" in log and "2026-01-16 00:30:00" in log
    # a day filter is the clinic's day: 23:30 UTC on 15 January is on the 16th in Berlin
    assert "1 intake." in client.get("/?since=2026-01-16&until=2026-01-16").text
    assert "0 intakes." in client.get("/?since=2026-01-15&until=2026-01-15").text
    store.close()


def test_clinic_timezone_is_an_iana_name_or_a_clear_start_up_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)  # no .env here
    assert load_settings().clinic_timezone == ZoneInfo("UTC")
    monkeypatch.setenv("CLINIC_TIMEZONE", "Europe/Berlin")
    assert load_settings().clinic_timezone == BERLIN
    for wrong in ("Europe/Berln", "Europe", "CET+1", "../etc/passwd", "/etc/localtime"):
        monkeypatch.setenv("CLINIC_TIMEZONE", wrong)
        with pytest.raises(SettingsError, match="is not an IANA time zone name such as Europe/Berlin"):
            load_settings()
    monkeypatch.setenv("CLINIC_TIMEZONE", "Europe/Berln")
    assert main(["serve"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("CLINIC_TIMEZONE='Europe/Berln' is not an IANA time zone") and "Traceback" not in err


def test_zone_data_comes_from_the_tzdata_package_where_the_system_has_none() -> None:
    """A fresh machine without /usr/share/zoneinfo still knows the zones: zoneinfo falls back to
    the tzdata package, a dependency."""
    import importlib.resources

    import tzdata

    assert importlib.resources.files(tzdata).joinpath("zoneinfo", "Europe", "Berlin").is_file()
