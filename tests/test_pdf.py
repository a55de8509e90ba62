"""The intake as a PDF (bot/staff/pdf.py): read back with pypdf, from the page, the API and the CLI."""

from __future__ import annotations

import getpass
import hashlib
import io
from datetime import datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from pypdf import PdfReader
from starlette.testclient import TestClient
from support.pdfs import flat, play, text_of
from support.staff import login, staff_store

from bot.engine import Engine
from bot.staff.accounts import Accounts
from bot.staff.exports import Exporter
from bot.staff.i18n import StaffLanguages
from bot.staff.pdf import IntakePdf, consent_text
from bot.staff.review import Review
from bot.staff.web import create_app
from bot.store import Store


@pytest.fixture()
def store(sqlite_url: str) -> Store:
    return staff_store(sqlite_url)


def make(skin: Engine, store: Store, intake_id: int, lang: str = "en") -> bytes:
    exporter = Exporter(skin)
    view = Review(store).intake_view(intake_id)
    return IntakePdf(skin, exporter).render(view, StaffLanguages(skin.flow.default_language).translations(lang))


def test_the_pdf_has_the_answers_flags_ending_transcript_and_consent_receipt(skin: Engine, store: Store) -> None:
    intake_id = play(skin, store, 2, "de", typed="Größere Poren <script>alert('x')</script> äöüß", flagged=True)
    text, pages = text_of(make(skin, store, intake_id))
    with store.transaction() as tx:
        intake = tx.intake(intake_id)
    assert f"Intake {intake_id}" in text and "skin_botox" in text and "Example Skin Clinic" in text
    # a question as the German patient saw it, her answer, and the flag's topic
    pregnancy = next(s for s in skin.flow.steps if s.id == "pregnancy")
    assert flat(skin.text(pregnancy.ask, "de")) in flat(text)
    assert flat(skin.display(pregnancy, "breastfeeding", "de")) in flat(text)
    # staff labels in the flow's default language beside the patient's: the question and its section
    assert flat(f"(en: {skin.text(pregnancy.ask, 'en')})") in flat(text)
    health = next(s for s in skin.flow.sections if s.id == pregnancy.section)
    assert flat(f"{skin.text(health.title, 'de')} (en: {skin.text(health.title, 'en')})") in flat(text)
    flag = next(f for f in skin.flow.flags if f.id in intake.flags)
    assert flat(skin.text(flag.topic, "de")) in flat(text)
    # typed markup is text, umlauts come back as typed
    assert "Größere Poren <script>alert('x')</script> äöüß" in text
    assert flat(skin.outcome_topic(intake.outcome, "de")) in flat(text)
    # the consent receipt: version, and the hash of the very text the bot showed in German
    shown = consent_text(skin, intake.consent_version, "de")
    assert shown is not None and "Consent receipt" in text
    assert hashlib.sha256(shown.encode("utf-8")).hexdigest() in flat(text)
    assert flat(shown) in flat(text)
    # the text hashed is the very message the bot sent (its transcript line, word for word)
    assert shown in [line.text for line in Review(store).intake_view(intake_id).transcript if line.direction == "out"]
    given = datetime.fromisoformat(intake.state["consent"]["at"]).strftime("%Y-%m-%d %H:%M:%S UTC")
    assert f"Given at: {given}" in text and f"Consent text version: {intake.consent_version}" in text
    # the transcript with times: the patient's typed words and the bot's questions
    assert text.count("Patient") >= 10 and pages >= 2


def test_a_10000_character_message_wraps_over_pages(skin: Engine, store: Store) -> None:
    long = ("Wort " * 2000).strip()  # 10,000 characters: refused as an answer, kept in the transcript
    unbroken = "x" * 290  # one word wider than the page: broken inside it
    intake_id = play(skin, store, 3, "en", typed=unbroken, first=long)
    text, pages = text_of(make(skin, store, intake_id))
    assert flat(text).count("Wort") == 2000 and flat(text).count(unbroken) >= 1
    assert pages >= 4
    reader = PdfReader(io.BytesIO(make(skin, store, intake_id)))
    last = reader.pages[-1].extract_text()
    assert f"{len(reader.pages)}/{len(reader.pages)}" in last  # every page has its foot


def test_the_staff_words_in_german(skin: Engine, store: Store) -> None:
    intake_id = play(skin, store, 4, "en")
    text, _ = text_of(make(skin, store, intake_id, "de"))
    assert "Einwilligungsnachweis" in text and "Verlauf" in text


def test_download_from_the_intake_page_and_the_api_each_written_to_the_audit_log(skin: Engine, store: Store) -> None:
    import sqlalchemy as sa

    from bot.store.schema import audit

    intake_id = play(skin, store, 5, "de")
    client = TestClient(create_app(skin, store, secret_key="test-secret-key"))
    assert client.get(f"/intakes/{intake_id}.pdf", follow_redirects=False).status_code == 303  # logged out
    login(client)
    assert f'href="/intakes/{intake_id}.pdf"' in client.get(f"/intakes/{intake_id}").text
    page = client.get(f"/intakes/{intake_id}.pdf")
    assert page.status_code == 200 and page.headers["content-type"] == "application/pdf"
    assert (
        page.headers["cache-control"] == "no-store" and f"intake-{intake_id}.pdf" in page.headers["content-disposition"]
    )
    assert f"Intake {intake_id}" in text_of(page.content)[0]
    assert client.get("/intakes/999999.pdf").status_code == 404

    api = TestClient(create_app(skin, store, secret_key="test-secret-key"))
    assert api.get(f"/api/intakes/{intake_id}.pdf").status_code == 401
    assert api.get(f"/api/intakes/{intake_id}.pdf", headers={"Authorization": "Bearer nope"}).status_code == 401
    headers = {"Authorization": f"Bearer {Accounts(store).add_token('erp')}"}
    answer = api.get(f"/api/intakes/{intake_id}.pdf", headers=headers)
    assert answer.status_code == 200 and answer.content.startswith(b"%PDF")
    assert "Consent receipt" in text_of(answer.content)[0]  # the flow's default language (en)
    assert api.get("/api/intakes/999999.pdf", headers=headers).status_code == 404
    assert "application/pdf" in str(
        api.get("/api/openapi.json", headers=headers).json()["paths"]["/api/intakes/{intake_id}.pdf"]
    )
    with store.transaction(read_only=True) as tx:
        lines = tx.conn.execute(
            sa.select(audit.c.actor, audit.c.action, audit.c.intake_id, audit.c.detail).where(
                audit.c.action == "export"
            )
        )
        assert sorted(tuple(line) for line in lines) == [
            ("rita", "export", intake_id, "pdf"),
            ("token:erp", "export", intake_id, "pdf"),
        ]


def test_the_export_command_writes_one_pdf_per_intake(cli, skin: Engine, store: Store, tmp_path: Path) -> None:
    ids = [play(skin, store, 6, "en"), play(skin, store, 7, "de")]
    env = {"DATABASE_URL": store.url, "PATH": "/usr/bin:/bin"}
    out = tmp_path / "pdfs"
    result = cli("export", "--format", "pdf", "--out", str(out), env=env)
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in out.iterdir()) == sorted(f"intake-{i}.pdf" for i in ids)
    for intake_id in ids:
        assert f"Intake {intake_id}" in text_of((out / f"intake-{intake_id}.pdf").read_bytes())[0]
    assert cli("export", "--format", "pdf", env=env).returncode == 2  # a folder is needed
    # each intake taken out is an "export" line of the audit log, naming who ran the command
    # (and the refused command above wrote none)
    from bot.store.schema import audit

    with store.transaction(read_only=True) as tx:
        lines = tx.conn.execute(sa.select(audit.c.actor, audit.c.intake_id, audit.c.detail)).all()
    assert sorted(lines) == sorted((f"cli:{getpass.getuser()}", i, "pdf") for i in ids)


def test_page_breaks_leave_no_heading_question_or_time_alone_at_a_page_foot(skin: Engine, store: Store) -> None:
    import re

    titles = {"Flags", "Answers", "Urgent texts shown", "Consent receipt", "Transcript"}
    titles |= {skin.text(s.title, lang) for s in skin.flow.sections for lang in ("en", "de")}
    questions = {skin.text(s.ask, lang) for s in skin.flow.steps if hasattr(s, "ask") for lang in ("en", "de")}
    stamp = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC · ")
    checked = 0
    for chat_id, lang in ((8, "en"), (9, "de"), (10, "en")):
        intake_id = play(skin, store, chat_id, lang, flagged=chat_id == 9, first="Lang " * (chat_id * 60))
        reader = PdfReader(io.BytesIO(make(skin, store, intake_id)))
        assert len(reader.pages) >= 3
        for page in reader.pages[:-1]:
            *body, foot = page.extract_text().splitlines()
            assert foot.startswith(f"Intake {intake_id} · ")
            last = body[-1]
            assert last not in titles and last not in questions and not stamp.match(last), body[-3:]
            checked += 1
    assert checked >= 6


@pytest.mark.slow
def test_a_large_batch_is_shared_among_processes_and_every_intake_written_once(
    cli, skin: Engine, store: Store, tmp_path: Path
) -> None:
    from bot.cli import PDFS_PER_WORKER

    count = 2 * PDFS_PER_WORKER  # two processes on a machine with two cores or more
    ids = [play(skin, store, 100 + n, "de" if n % 2 else "en") for n in range(count)]
    out = tmp_path / "pdfs"
    result = cli(
        "export", "--format", "pdf", "--out", str(out), env={"DATABASE_URL": store.url, "PATH": "/usr/bin:/bin"}
    )
    assert result.returncode == 0, result.stderr
    assert f"wrote {count} PDF(s)" in result.stderr
    assert sorted(p.name for p in out.iterdir()) == sorted(f"intake-{i}.pdf" for i in ids)
    assert all(p.read_bytes().startswith(b"%PDF") for p in out.iterdir())
