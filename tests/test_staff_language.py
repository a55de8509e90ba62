"""The staff pages in the staff member's language: the catalogs, the choice of language, the pages."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
import sqlalchemy as sa
from babel.messages.extract import extract_from_dir, extract_python
from babel.messages.pofile import read_po
from starlette.testclient import TestClient
from support.patients import InProcessPatient
from support.staff import PASSWORD, csrf_of, login, staff_store

from bot.channels.telegram.events import Chat
from bot.channels.telegram.runner import TurnRunner
from bot.engine import Engine
from bot.staff.accounts import AccountError, Accounts
from bot.staff.i18n import LOCALE_DIR, StaffLanguages, catalog_languages
from bot.staff.web import create_app
from bot.store import Store

STAFF = Path(__file__).parent.parent / "bot" / "staff"
TEMPLATES = STAFF / "templates"


def marked_strings() -> set[str | tuple[str, ...]]:
    """Every string marked for translation in bot/staff (and bot/flow/conditions.py), found as
    `make staff-texts` finds it (bot/staff/babel.cfg). Every template must give some: Jinja's
    extractor skips a template it cannot parse without a word."""
    method_map = [("**.py", "python"), ("templates/**.html", "jinja2")]
    options = {"templates/**.html": {"trimmed": "true", "extensions": "jinja2.ext.do"}}
    found = set()
    files = set()
    for filename, _line, message, _comments, _context in extract_from_dir(
        STAFF, method_map, options, keywords={"_": None, "gettext": None, "ngettext": (1, 2), "N_": None}
    ):
        found.add(message)
        files.add(filename)
    assert {f"templates/{p.name}" for p in TEMPLATES.glob("*.html")} <= files
    # the questionnaire page's sentences for conditions, written beside the rules they say
    with (STAFF.parent / "flow" / "conditions.py").open("rb") as source:
        for _line, _funcname, message, _comments in extract_python(source, ["_", "gettext"], [], {}):
            found.add(message)
    return found


def test_english_and_german_are_offered() -> None:
    assert catalog_languages()[:1] == ("en",) and "de" in catalog_languages()


@pytest.mark.parametrize("language", [lang for lang in catalog_languages() if lang != "en"])
def test_every_catalog_translates_every_marked_string_with_the_same_placeholders(language: str) -> None:
    with (LOCALE_DIR / language / "LC_MESSAGES" / "messages.po").open("rb") as po:
        catalog = read_po(po)
    marked = marked_strings()
    assert len(marked) > 100  # the extraction found the templates and the code
    translated = {m.id: m for m in catalog if m.id}
    missing = [m for m in marked if m not in translated]
    assert missing == [], f"run `make staff-texts` and translate: {missing}"
    untranslated = [
        m.id
        for m in translated.values()
        if m.id in marked and ("fuzzy" in m.flags or not all(m.string if isinstance(m.string, tuple) else [m.string]))
    ]
    assert untranslated == [], f"empty or fuzzy in {language}: {untranslated}"
    problems = [(m.id, [str(e) for e in errors]) for m, errors in catalog.check()]
    assert problems == []  # each %(name)s of the English is in the translation, and no other
    # the pages format every translation (newstyle gettext): a lone % would break the page
    for message in translated.values():
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        values = {name: 1 for name in re.findall(r"%\((\w+)\)", " ".join(ids))}
        for string in message.string if isinstance(message.string, tuple) else (message.string,):
            string % values  # raises on a stray % (write %% for a percent sign)


# Text in a template that needs no translation: formats, codes, marks.
UNTRANSLATED = {"CSV", "JSON", "FHIR", "UTC"}


class _Words(HTMLParser):
    """The words of an HTML page a person reads: text, and the attributes that are read out."""

    def __init__(self) -> None:
        super().__init__()
        self.words: list[str] = []
        self.code = 0  # inside <script>, <style> or <code>: not words

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.code += tag in ("script", "style", "code")
        self.words += [v for k, v in attrs if k in ("aria-label", "title", "placeholder", "alt") and v]

    def handle_endtag(self, tag: str) -> None:
        self.code -= tag in ("script", "style", "code")

    def handle_data(self, data: str) -> None:
        if not self.code:
            self.words.append(data)


def bare_words(source: str) -> list[str]:
    """Words written in a template outside ``_()`` and ``{% trans %}``: each ``{{ }}`` is taken as
    a value (a number), each ``{% %}`` as nothing, and what is left read as HTML."""
    html = re.sub(r"\{\{.*?\}\}", "0", source, flags=re.S)
    html = re.sub(r"\{%.*?%\}|\{#.*?#\}", "", html, flags=re.S)
    parser = _Words()
    parser.feed(html)
    return [w.strip() for w in parser.words if set(re.findall(r"[^\W\d_]{2,}", w)) - UNTRANSLATED]


@pytest.mark.parametrize("template", sorted(p.name for p in TEMPLATES.glob("*.html")))
def test_no_template_has_words_that_are_not_marked_for_translation(template: str) -> None:
    assert bare_words((TEMPLATES / template).read_text()) == []


def test_the_check_for_bare_words_finds_them() -> None:
    template = '<p class="x">Hello {{ name }}</p><nav aria-label="Main">{{ _("Fine") }}</nav><code>a b</code>'
    assert bare_words(template) == ["Hello 0", "Main"]


def test_the_browser_language_is_taken_by_its_q_values_else_the_default() -> None:
    languages = StaffLanguages("en")
    assert languages.from_browser("de-CH,de;q=0.9,en;q=0.8") == "de"
    assert languages.from_browser("fr;q=0.9, en;q=0.5, de;q=0.8") == "de"
    assert languages.from_browser("fr, it") is None
    assert languages.from_browser("de;q=0, en") == "en"
    assert languages.from_browser("de;q=x") is None and languages.from_browser("") is None
    assert languages.choose(None, "fr") == "en" and StaffLanguages("de").choose(None, "fr") == "de"
    assert StaffLanguages("xx").default == "en"  # a flow language the pages do not have
    assert languages.choose("de", "en") == "de" and languages.choose("xx", "de") == "de"
    assert languages.names["de"] == "Deutsch" and languages.names["en"] == "English"


@pytest.fixture()
def staff(sqlite_url: str) -> Store:
    return staff_store(sqlite_url)


def test_a_german_member_sees_every_page_in_german(skin: Engine, staff: Store) -> None:
    patient = InProcessPatient(TurnRunner(skin, staff), Chat(7, 7, "Eve", None, "eve", "en"))
    patient.command("/start website")
    for label in ("Continue", "I agree", "18 to 64", "No, never"):
        patient.tap(label)
    Accounts(staff).set_language("adam", "de")
    client = TestClient(create_app(skin, staff, secret_key="test-secret-key"))
    login(client, "adam")
    paths = ("/", "/intakes", "/flow", "/audit", "/settings", "/intakes/1", "/intakes/999")
    pages = {path: client.get(path).text for path in paths}
    for path, page in pages.items():
        assert '<html lang="de">' in page and "Einstellungen" in page and "Log out" not in page, path
    assert "1 Aufnahme." in pages["/intakes"] and "in Bearbeitung" in pages["/intakes"]
    assert "Aufnahmen: Warteschlange" in pages["/"] and "wartet auf uns:" in pages["/"]
    assert "Aufnahme 1:" in pages["/intakes/1"] and "Als durchgesehen markieren" in pages["/intakes/1"]
    assert "Verlauf" in pages["/intakes/1"] and "Einwilligung" in pages["/intakes/1"]
    assert "<h1>Der Fragebogen</h1>" in pages["/flow"] and "angemeldet" in pages["/audit"]  # the log's action in words
    assert "Diese Aufnahme gibt es nicht" in pages["/intakes/999"]
    bad = client.get("/audit?intake=12a")
    assert bad.status_code == 400 and "Die Aufnahmenummer muss eine ganze Zahl ab 1 sein." in bad.text
    # a colleague without a setting, on an English browser, sees English
    other = TestClient(create_app(skin, staff, secret_key="test-secret-key"))
    login(other, "rita")
    assert '<html lang="en">' in other.get("/").text and "1 intake." in other.get("/intakes").text


def test_before_login_the_browser_language_then_the_flows_default(skin: Engine, staff: Store) -> None:
    client = TestClient(create_app(skin, staff, secret_key="test-secret-key"))
    german = client.get("/login", headers={"Accept-Language": "de-DE,de;q=0.9,en;q=0.5"}).text
    assert '<html lang="de">' in german and "Anmeldung für das Team" in german and "Passwort" in german
    assert '<html lang="en">' in client.get("/login", headers={"Accept-Language": "fr"}).text  # the flow's: en
    wrong = client.post(
        "/login",
        data={"name": "rita", "password": "wrong one", "csrf": csrf_of(client, "/login")},
        headers={"Accept-Language": "de"},
    )
    assert wrong.status_code == 401 and "Name oder Passwort falsch." in wrong.text


def test_the_settings_form_sets_the_language_and_the_next_page_follows_it(skin: Engine, staff: Store) -> None:
    client = TestClient(create_app(skin, staff, secret_key="test-secret-key"))
    login(client)
    form = client.get("/settings").text
    assert '<option value="de" lang="de">Deutsch</option>' in form
    saved = client.post("/settings", data={"language": "de", "csrf": csrf_of(client, "/settings")})
    assert saved.status_code == 200 and '<html lang="de">' in saved.text and "Gespeichert." in saved.text
    assert [m.language for m in Accounts(staff).list() if m.name == "rita"] == ["de"]
    # "as the browser asks" clears it; an unknown language is the same as none
    client.post("/settings", data={"language": "", "csrf": csrf_of(client, "/settings")})
    assert '<html lang="en">' in client.get("/").text
    client.post("/settings", data={"language": "xx", "csrf": csrf_of(client, "/settings")})
    assert [m.language for m in Accounts(staff).list() if m.name == "rita"] == [None]
    forged = client.post("/settings", data={"language": "de"})
    assert forged.status_code == 403 and [m.language for m in Accounts(staff).list() if m.name == "rita"] == [None]


def test_the_language_is_set_from_the_command_line(cli, tmp_path: Path) -> None:
    env = {"DATABASE_URL": f"sqlite:///{tmp_path / 'staff.db'}", "PATH": "/usr/bin:/bin"}
    assert cli("staff", "add", "alice", stdin=PASSWORD + "\n", env=env).returncode == 0
    assert cli("staff", "language", "alice", "de", env=env).stdout == "language of alice: de\n"
    assert cli("staff", "list", env=env).stdout.rstrip().endswith("language de")
    refused = cli("staff", "language", "alice", "xx", env=env)
    assert refused.returncode == 1 and "no language 'xx'" in refused.stderr and "Traceback" not in refused.stderr
    assert cli("staff", "language", "nobody", "de", env=env).stderr.strip() == "no staff member called nobody"
    assert cli("staff", "language", "alice", "auto", env=env).returncode == 0
    assert cli("staff", "list", env=env).stdout.rstrip().endswith("language auto")
    assert cli("staff", "add", "bert", "--language", "de", stdin=PASSWORD + "\n", env=env).returncode == 0
    assert cli("staff", "list", env=env).stdout.splitlines()[1].endswith("language de")
    typo = cli("staff", "add", "carl", "--language", "dee", stdin=PASSWORD + "\n", env=env)
    assert typo.returncode == 1 and "carl" not in cli("staff", "list", env=env).stdout


def test_set_language_refuses_what_the_pages_do_not_have(database_url: str) -> None:
    store = Store(database_url)  # the column is there on SQLite and PostgreSQL (migration 0012)
    try:
        accounts = Accounts(store)
        accounts.add("alice", PASSWORD)
        with pytest.raises(AccountError, match="no language 'fr'"):
            accounts.set_language("alice", "fr")
        accounts.set_language("alice", "de")
        assert accounts.list()[0].language == "de"
    finally:
        store.close()


def flagged_english_intake(skin: Engine, store: Store) -> int:
    """An English intake up to the allergy question: ticks and an untick, a typed goal, and the
    pregnancy answer (a high flag)."""
    patient = InProcessPatient(TurnRunner(skin, store), Chat(8, 8, "Eve", None, "eve", "en"))
    patient.command("/start website")
    for label in ("Continue", "I agree", "18 to 64", "No, never", "No", "Large-looking pores", "Oily skin or shine"):
        patient.tap(label)
    patient.tap("Oily skin or shine")  # unticked again
    patient.tap("Done")
    patient.tap("Skip this question")
    patient.tap("I am pregnant")
    with store.transaction() as tx:
        return tx.current_intake(8).id


def test_an_intake_is_read_in_the_members_language_and_its_transcript_in_the_patients(
    skin: Engine, staff: Store
) -> None:
    intake_id = flagged_english_intake(skin, staff)
    Accounts(staff).set_language("adam", "de")
    client = TestClient(create_app(skin, staff, secret_key="test-secret-key"))
    login(client, "adam")
    page = client.get(f"/intakes/{intake_id}").text
    answers, transcript = page.split("<h2>Verlauf</h2>")
    # questions, the choices made and the section titles in German, as the flow words them
    assert "Was möchten Sie verbessern?" in answers and "Große Poren" in answers
    assert "Large-looking pores" not in answers and "What would you like to improve?" not in answers
    assert "Schwangerschaft, Kinderwunsch oder Stillzeit" in answers and "Ich bin schwanger" in answers
    assert "Fragen und Antworten auf Deutsch; der Patient hat auf Englisch geantwortet" in answers
    assert "<dt>Sprache</dt><dd>Englisch</dd>" in answers  # the patient's language by its name
    # a link list at the top jumps to the flagged answer
    jump = re.search(r'<a href="#a-(\w+)">Sind Sie schwanger', answers)
    assert jump and f'id="a-{jump.group(1)}" class="flagged"' in answers
    # the transcript keeps what the patient saw and did, in English, the ticks as ticks
    assert "What would you like to improve?" in transcript and "Große Poren" not in transcript
    assert "☑</span> angekreuzt: Large-looking pores" in transcript
    assert "☑</span> angekreuzt: Oily skin or shine" in transcript
    assert "☐</span> Kreuz entfernt: Oily skin or shine" in transcript
    # the welcome and the consent text are folded, whole
    assert "<details><summary>Der Begrüßungstext</summary><p>Hello! This is the automated assistant" in transcript
    assert "<details><summary>Der Einwilligungstext</summary><p>Before we start, please read this." in transcript
    # the list names the flag in German too
    assert "Schwangerschaft, Kinderwunsch oder Stillzeit" in client.get("/intakes").text
    # an English reader sees English questions and no note about languages
    english = TestClient(create_app(skin, staff, secret_key="test-secret-key"))
    login(english, "rita")
    page = english.get(f"/intakes/{intake_id}").text
    assert "What would you like to improve?" in page and "the patient answered in" not in page
    assert "☑</span> ticked: Large-looking pores" in page and "<summary>The welcome text</summary>" in page


def test_the_staff_apps_tick_marks_are_the_ones_the_channel_logs() -> None:
    from bot.channels.telegram import render
    from bot.staff import intake_reading

    assert (intake_reading.CHECKED, intake_reading.UNCHECKED) == (render.CHECKED, render.UNCHECKED)


def test_migration_0012_goes_down_and_up_keeping_every_member(empty_database_url: str) -> None:
    """Down to the revision before it (a release rolled back) the language setting goes, the
    members stay; up again, nobody has chosen a language."""
    from alembic import command
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from bot.store.store import MIGRATIONS

    store = Store.open(empty_database_url)
    accounts = Accounts(store)
    accounts.add("alice", PASSWORD)
    accounts.set_language("alice", "de")
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    [before] = [  # found by its file: its number may change when branches are merged
        r.down_revision
        for r in ScriptDirectory.from_config(config).walk_revisions()
        if r.path.endswith("_staff_language.py")
    ]
    with store.engine.connect() as conn:
        if store.engine.dialect.name == "sqlite":  # as Store.migrate: a rebuilt table cascades nothing
            conn.connection.driver_connection.execute("PRAGMA foreign_keys=OFF")
        with conn.begin():
            config.attributes["connection"] = conn
            command.downgrade(config, before)
        if store.engine.dialect.name == "sqlite":
            conn.connection.driver_connection.execute("PRAGMA foreign_keys=ON")
    with store.engine.connect() as conn:
        columns = {c["name"] for c in sa.inspect(conn).get_columns("staff")}
        assert "language" not in columns and "role" in columns
    store.migrate()
    try:
        [alice] = accounts.list()
        assert (alice.name, alice.language) == ("alice", None)
        assert accounts.authenticate("alice", PASSWORD).member is not None
    finally:
        store.close()


def test_an_urgent_text_shown_is_told_in_the_readers_language_with_the_answers_in_it(
    skin: Engine, staff: Store
) -> None:
    """An English patient was shown an urgent text, then changed the answer behind it: a German
    member reads the whole sentence in German, the changed answer by its German label."""
    person = InProcessPatient(TurnRunner(skin, staff), Chat(9, 9, "Ida", None, None, "en"))
    person.consent()
    person.tap("18 to 64")
    person.tap("Yes, in the last 4 weeks")
    person.tap("Yes", expect="Please get medical help now")
    person.command("/back")
    person.tap("Yes, change that answer")
    person.tap("No", expect="A quick safety question")
    Accounts(staff).set_language("adam", "de")
    client = TestClient(create_app(skin, staff, secret_key="test-secret-key"))
    login(client, "adam")
    page = client.get(f"/intakes/{person.intake().id}").text
    said = re.search(r"dringender Text gezeigt um \d{4}-\d\d-\d\d \d\d:\d\d UTC \((.*?)\); (.*?)</li>", page)
    assert said is not None, page
    assert said.group(2) == "Antwort später geändert in Nein"
    german_topic = skin.text(next(f.topic for f in skin.flow.flags if f.id == "toxin_spread_now"), "de")
    assert said.group(1) == german_topic
