"""Flow versions: every version run is kept, and an intake finishes on the version it began on.

A patient answers part of the default flow on a bot whose engines come from the store
(``bot.runtime.running_engines``, as ``run`` and ``serve`` build them); the bot is restarted on an
edited copy (a step taken out, a choice renamed, a question put in before theirs); they go on and
finish on their own version, while a new patient begins on the new one. The real TurnRunner on a
real store, SQLite and PostgreSQL.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from support.default_flow import (
    DEFAULT_FLOW,
    GOAL_TO_SUMMARY,
    Q_CONCERNS,
    Q_SKIN_TYPE,
    SAFETY_TO_GOAL,
    begin,
    to_safety_question,
)
from support.edited_flows import (
    NEW_QUESTION,
    edited_file,
    question_before,
    renamed_choice,
    without_step,
)
from support.patients import InProcessPatient

from bot.channels.telegram.events import Chat
from bot.channels.telegram.runner import TurnRunner
from bot.engine import Engine, Engines
from bot.flow import FlowError
from bot.flow.versions import content_hash, parse_version, read_version
from bot.runtime import running_engines
from bot.store import Store, flow_versions
from bot.store.schema import flow_versions as flow_versions_table
from bot.store.schema import intakes

FLOW_CHANGED = "We have updated this questionnaire since you began"
BEA = Chat(43, 43, "Bea", None, "bea", "en")


def on(store: Store, path: Path | str) -> TurnRunner:
    """A bot (re)started on the flow file at ``path``: its engines as ``serve`` builds them."""
    return TurnRunner(running_engines(store, path), store)


def to_skin_type(patient: InProcessPatient) -> None:
    to_safety_question(patient)
    patient.tap("No", expect=Q_CONCERNS)
    patient.tap("Large-looking pores")
    patient.tap("Done", expect=Q_SKIN_TYPE)


def finish(patient: InProcessPatient, steps: list) -> None:
    patient.walk(steps)
    patient.tap("Looks right, finish")


def no_flow_changed(patient: InProcessPatient) -> None:
    assert not any(FLOW_CHANGED in (p.get("text") or "") for p in patient.outbox())


# --------------------------------------------------------------------------- keeping versions


def test_a_version_is_kept_once_with_its_source_and_hash(store: Store, tmp_path: Path) -> None:
    engines = running_engines(store, DEFAULT_FLOW)
    running_engines(store, DEFAULT_FLOW)  # a second start: nothing new
    text = DEFAULT_FLOW.read_text(encoding="utf-8")
    with store.transaction() as tx:
        kept = flow_versions.of_flow(tx, "skin_botox")
    assert len(kept) == 1
    assert kept[0].source.text == text and kept[0].source.hash == engines.current.hash
    assert kept[0].source.version == engines.current.flow.version
    # the hash is of the content: a comment and a re-indent are the same version
    same = parse_version("# a note\n" + text, "same.yaml")
    assert same.source.hash == engines.current.hash
    other = edited_file(tmp_path, without_step("skin_type"))
    running_engines(store, other)
    with store.transaction() as tx:
        assert [s.source.version for s in flow_versions.of_flow(tx, "skin_botox")] == [
            engines.current.flow.version,
            "edited",
        ]


def test_content_hash_is_of_the_data_not_of_its_spelling() -> None:
    assert content_hash({"a": 1, "b": [1, 2]}) == content_hash({"b": [1, 2], "a": 1})
    assert content_hash({"a": 1}) != content_hash({"a": 2})


def test_intakes_begun_before_versions_were_kept_are_bound_to_the_first_run_of_their_version(
    skin: Engine, store: Store, tmp_path: Path
) -> None:
    """An intake made by a bot of before migration 0017 (no hash): the first start after it binds
    those of the running version string; one of another version string stays unbound."""
    old = InProcessPatient(TurnRunner(skin, store))  # an engine of no kept version: no hash written
    begin(old)
    other = InProcessPatient(TurnRunner(Engine(read_version(edited_file(tmp_path, version="0.9")).flow), store), BEA)
    begin(other)
    assert old.intake().flow_hash is None and other.intake().flow_hash is None
    engines = running_engines(store, DEFAULT_FLOW)
    assert old.intake().flow_hash == engines.current.hash
    assert other.intake().flow_hash is None


# --------------------------------------------------------------------------- finishing on one's own version


@pytest.fixture()
def first(store: Store) -> InProcessPatient:
    """A patient of the default flow on a bot that keeps versions."""
    return InProcessPatient(on(store, DEFAULT_FLOW))


def restart(patient: InProcessPatient, path: Path) -> TurnRunner:
    """The bot restarted on the flow at ``path``: a new runner, nothing in memory."""
    patient.turns = on(patient.turns.store, path)
    return patient.turns


def test_a_patient_whose_step_was_taken_out_finishes_on_their_own_version(
    first: InProcessPatient, tmp_path: Path
) -> None:
    patient = first
    v1 = patient.turns.engine.hash
    to_skin_type(patient)
    runner = restart(patient, edited_file(tmp_path, without_step("skin_type")))
    assert runner.engine.hash != v1 and "skin_type" not in runner.engine.steps
    patient.tap("Always burns, never tans", expect="Are you pregnant")  # their question, still theirs
    finish(patient, SAFETY_TO_GOAL[4:] + GOAL_TO_SUMMARY)
    intake = patient.intake()
    assert intake.status == "completed" and intake.flow_hash == v1 and intake.flow_version != "edited"
    assert intake.state["answers"]["skin_type"] == "burns_always" and "aside" not in intake.state
    no_flow_changed(patient)
    # a new patient begins on the new version, and is never asked the question taken out
    bea = InProcessPatient(runner, BEA)
    to_safety_question(bea)
    bea.tap("No", expect=Q_CONCERNS)
    bea.tap("Large-looking pores")
    bea.tap("Done", expect="Are you pregnant")
    assert bea.intake().flow_hash == runner.engine.hash and bea.intake().flow_version == "edited"
    # and the first patient, beginning again, begins on the new one
    patient.command("/start", expect="automated assistant")
    assert patient.intake().flow_hash == runner.engine.hash


def test_a_patient_whose_choice_was_renamed_picks_it_on_their_own_version(
    first: InProcessPatient, tmp_path: Path
) -> None:
    patient = first
    to_safety_question(patient)
    patient.walk(SAFETY_TO_GOAL[:-1])  # at "What kind of result"
    restart(patient, edited_file(tmp_path, renamed_choice("expectation", "subtle", "natural")))
    patient.tap("A subtle, natural-looking improvement", expect="In a sentence or two")
    assert patient.intake().state["answers"]["expectation"] == "subtle"
    finish(patient, GOAL_TO_SUMMARY)
    assert patient.intake().status == "completed"
    no_flow_changed(patient)


def test_a_question_put_in_before_a_patients_step_is_not_asked_of_them(first: InProcessPatient, tmp_path: Path) -> None:
    patient = first
    to_skin_type(patient)
    runner = restart(patient, edited_file(tmp_path, question_before("skin_type")))
    assert NEW_QUESTION["id"] in runner.engine.steps
    patient.command("/back", expect=Q_CONCERNS)  # back on their own version: the question before theirs
    patient.tap("Done", expect=Q_SKIN_TYPE)
    patient.tap("Skip this question", expect="Are you pregnant")
    finish(patient, SAFETY_TO_GOAL[4:] + GOAL_TO_SUMMARY)
    assert "sunscreen" not in patient.intake().state["answers"]
    no_flow_changed(patient)
    bea = InProcessPatient(runner, BEA)
    to_safety_question(bea)
    bea.tap("No", expect=Q_CONCERNS)
    bea.tap("Large-looking pores")
    bea.tap("Done", expect="Do you wear sunscreen every day?")


def test_a_reminder_is_worded_and_shown_on_the_intakes_own_version(first: InProcessPatient, tmp_path: Path) -> None:
    from datetime import timedelta

    from support.turns import remind

    from bot.store import utcnow

    patient = first
    to_skin_type(patient)
    restart(patient, edited_file(tmp_path, without_step("skin_type")))
    result = remind(patient.turns, patient.intake().id, utcnow() + timedelta(hours=1))
    texts = [row.payload.get("text") or "" for row in result.outgoing]
    assert any(t.startswith("Hello again!") for t in texts) and Q_SKIN_TYPE in texts[-1]


def test_an_intake_of_an_unknown_version_is_run_on_the_running_flow_as_before(store: Store, tmp_path: Path) -> None:
    """Begun by an engine of no kept version (as before migration 0017, under another version
    string): no source to run it on, so the running flow takes it on (fitted by ``Engine.recover``;
    what would not fit is refused at the start: see below)."""
    patient = InProcessPatient(TurnRunner(Engine(read_version(edited_file(tmp_path, version="0.9")).flow), store))
    to_skin_type(patient)

    def reworded(data: dict) -> None:
        step = next(s for s in data["steps"] if s["id"] == "skin_type")
        step["ask"]["en"] = "How does your skin take the sun?"

    patient.turns = on(store, edited_file(tmp_path, reworded, version="2"))
    patient.command("/back", expect=Q_CONCERNS)
    patient.tap("Done", expect="How does your skin take the sun?")  # the running version's words
    assert patient.intake().flow_hash is None


# --------------------------------------------------------------------------- the registry


def test_engines_build_an_earlier_version_once_and_keep_a_few(store: Store, tmp_path: Path) -> None:
    running_engines(store, DEFAULT_FLOW)
    hashes = [read_version(DEFAULT_FLOW).source.hash]
    for n in range(3):
        hashes.append(
            running_engines(store, edited_file(tmp_path, question_before("skin_type"), version=f"v{n}")).current.hash
        )
    asked: list[str] = []
    find = flow_versions.sources(store)

    def counted(h: str):
        asked.append(h)
        return find(h)

    latest = running_engines(store, DEFAULT_FLOW).current  # the first version, run again
    engines = Engines(latest, counted, kept=2)
    first = engines.of(hashes[1])
    assert first is not None and first.flow.version == "v0" and first.hash == hashes[1]
    assert engines.of(hashes[1]) is first and asked == [hashes[1]]  # built once: no YAML per turn
    assert engines.of(hashes[0]) is latest and asked == [hashes[1]]  # the current one: never asked
    assert engines.of("0" * 64) is None and engines.of("0" * 64) is None
    assert asked.count("0" * 64) == 1  # an unknown hash is asked once
    engines.of(hashes[2])
    engines.of(hashes[3])  # two kept: the least recently used goes
    assert engines.of(hashes[1]) is not first


def test_the_turn_picks_its_engine_without_reading_the_store(first: InProcessPatient, tmp_path: Path) -> None:
    """The versions of the intakes in progress are built as the bot starts: no turn reads the store for one."""
    patient = first
    v1 = patient.turns.engine.hash
    to_skin_type(patient)
    runner = restart(patient, edited_file(tmp_path, without_step("skin_type")))
    assert runner.engines._built.get(v1) is not None  # built at the start
    reads: list[str] = []
    runner.engines._sources = lambda h: reads.append(h)
    patient.tap("Always burns, never tans", expect="Are you pregnant")
    patient.tap("No, or this does not apply to me")
    patient.tap("No")
    assert reads == []


# --------------------------------------------------------------------------- refused changes


def versions_in(url: str) -> int:
    engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
    try:
        with engine.connect() as conn:
            return conn.execute(sa.select(sa.func.count()).select_from(flow_versions_table)).scalar_one()
    finally:
        engine.dispose()


def test_start_refuses_a_version_string_kept_for_other_content(store: Store, tmp_path: Path) -> None:
    running_engines(store, edited_file(tmp_path, version="3"))
    changed = edited_file(tmp_path, without_step("skin_type"), version="3")
    with pytest.raises(FlowError) as refused:
        running_engines(store, changed)
    line = next(n for n, text in enumerate(changed.read_text().splitlines(), 1) if text.startswith("version:"))
    assert str(refused.value) == (
        f"{changed}:{line}:10: the content changed but the version string is still '3', as in a version "
        "already run: give this edition a new version"
    )
    assert versions_in(store.url) == 1


def test_start_refuses_a_step_id_reused_with_another_meaning(store: Store, tmp_path: Path) -> None:
    from support.edited_flows import retyped_to_number

    running_engines(store, DEFAULT_FLOW)
    changed = edited_file(tmp_path, retyped_to_number("event_timing"), version="2")
    with pytest.raises(FlowError) as refused:
        running_engines(store, changed)
    [problem] = refused.value.problems
    lines = changed.read_text().splitlines()
    assert lines[problem.line - 1][problem.column - 1 :] == "number"
    assert lines[problem.line - 1].strip() == "answer: number"
    assert problem.message.startswith("step 'event_timing' was a single question in version ")
    assert "and is a number question here" in problem.message


def test_start_refuses_taking_out_what_an_unbound_intake_in_progress_uses(
    store: Store, skin: Engine, tmp_path: Path
) -> None:
    """Intakes begun before versions were kept, under a version string never run since, would be
    run by the new flow: a step they stand at, a choice they picked, may not go."""
    patient = InProcessPatient(TurnRunner(Engine(read_version(edited_file(tmp_path, version="0.9")).flow), store))
    to_skin_type(patient)  # standing at skin_type, having picked large_pores
    running = edited_file(tmp_path, version="1")
    running_engines(store, running)  # runs: nothing taken out
    from support.edited_flows import without_choice

    changed = edited_file(
        tmp_path, without_step("skin_type"), without_choice("skin_concerns", "large_pores"), version="2"
    )
    with pytest.raises(FlowError) as refused:
        running_engines(store, changed)
    lines = changed.read_text().splitlines()
    found = {p.message.split(" is taken out")[0]: lines[p.line - 1][p.column - 1 :] for p in refused.value.problems}
    assert set(found) == {"step 'skin_type'", "choice 'large_pores' of step 'skin_concerns'"}
    assert found["step 'skin_type'"].startswith("id: pregnancy")  # where it stood
    assert found["choice 'large_pores' of step 'skin_concerns'"].startswith("choices:")
    # once that intake has finished (abandoned here), the step may go
    with store.transaction() as tx:
        tx.conn.execute(sa.update(intakes).values(status="abandoned"))
    running_engines(store, changed)


def test_validate_with_a_database_refuses_with_the_place_and_without_one_checks_the_file(
    cli, store: Store, tmp_path: Path
) -> None:
    running_engines(store, DEFAULT_FLOW)
    changed = edited_file(tmp_path, renamed_choice("expectation", "subtle", "natural"))
    changed.write_text(
        changed.read_text().replace("version: edited", f"version: '{read_version(DEFAULT_FLOW).flow.version}'")
    )
    result = cli("validate", str(changed), env={"DATABASE_URL": store.url, "PATH": "/usr/bin:/bin"})
    assert result.returncode == 1, result.stdout
    [line] = result.stdout.splitlines()
    assert line.startswith(f"{changed}:") and "the version string is still" in line
    _file, row, column = line.split(":")[:3]
    assert (
        changed.read_text()
        .splitlines()[int(row) - 1][int(column) - 1 :]
        .startswith(f"'{read_version(DEFAULT_FLOW).flow.version}'")
    )
    assert cli("validate", str(changed), env={"PATH": "/usr/bin:/bin"}).returncode == 0
    assert cli("validate", str(DEFAULT_FLOW), env={"DATABASE_URL": store.url, "PATH": "/usr/bin:/bin"}).returncode == 0


# --------------------------------------------------------------------------- what-if


def subtle_is_an_expectation(data: dict) -> None:
    """The expectations flag raised for "A subtle, natural-looking improvement" too."""
    rule = next(f for f in data["flags"] if f["id"] == "expectations")
    rule["when"]["any"][0]["one_of"] = ["permanent", "complete", "subtle"]


def every_row(url: str) -> dict[str, list]:
    """Every row of every table, read outside the store."""
    from bot.store.schema import metadata

    engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
    try:
        with engine.connect() as conn:
            return {
                table.name: sorted(map(repr, conn.execute(sa.select(table)).all())) for table in metadata.sorted_tables
            }
    finally:
        engine.dispose()


def test_replay_lists_the_intakes_whose_ending_or_flags_would_change_and_changes_nothing(
    cli, first: InProcessPatient, tmp_path: Path
) -> None:
    ada = first
    to_safety_question(ada)
    ada.walk(SAFETY_TO_GOAL)
    finish(ada, GOAL_TO_SUMMARY)
    assert ada.intake().outcome == "routine" and ada.intake().flags == []
    bea = InProcessPatient(ada.turns, BEA)
    to_skin_type(bea)  # in progress: never answered the expectation question
    store = ada.turns.store
    new = edited_file(tmp_path, subtle_is_an_expectation, version="2")
    before = every_row(store.url)
    result = cli("flows", "replay", str(new), env={"DATABASE_URL": store.url, "PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.splitlines() == [
        f"intake {ada.intake().id} (completed, v{ada.intake().flow_version}): "
        "ending 'routine' -> 'points_to_discuss': its condition any high flag or any review flag holds "
        "(flags raised: expectations); flag 'expectations' would be raised: rule expectation in permanent, "
        "complete, subtle or goal_text mentions permanent, forever, for good, never come back, completely gone, "
        "100%, perfect skin, dauerhaft, für immer, nie wieder, komplett weg, ganz weg, völlig weg, perfekte Haut "
        "(expectation = subtle, goal_text = Smaller pores before summer)",
        "2 intake(s) replayed: the ending or flags of 1 would change",
    ]
    assert every_row(store.url) == before  # nothing written, not even an audit line
    # --since leaves the earlier intakes out
    later = cli(
        "flows", "replay", str(new), "--since", "2999-01-01", env={"DATABASE_URL": store.url, "PATH": "/usr/bin:/bin"}
    )
    assert later.stdout.splitlines() == ["0 intake(s) replayed: the ending or flags of 0 would change"]


def test_replay_says_where_a_new_question_stops_an_intake_and_which_flag_goes(
    first: InProcessPatient, tmp_path: Path
) -> None:
    from bot.engine.replay import compare

    ada = first
    to_safety_question(ada)
    ada.walk(SAFETY_TO_GOAL[:-1])
    ada.tap("A permanent change", expect="In a sentence or two")
    finish(ada, GOAL_TO_SUMMARY)
    intake = ada.intake()
    assert intake.flags == ["expectations"] and intake.outcome == "points_to_discuss"

    def only_complete(data: dict) -> None:
        rule = next(f for f in data["flags"] if f["id"] == "expectations")
        rule["when"] = {"question": "expectation", "one_of": ["complete"]}

    milder = Engine(read_version(edited_file(tmp_path, only_complete, version="2")).flow)
    change = compare(milder, intake)
    assert change is not None and change.reasons == [
        "ending 'points_to_discuss' -> 'routine': the first ending after the last question answered",
        "flag 'expectations' would not be raised: rule expectation in complete (expectation = permanent)",
    ]
    asked_more = Engine(read_version(edited_file(tmp_path, question_before("skin_type"), version="3")).flow)
    change = compare(asked_more, intake)
    assert change is not None and change.reasons == [
        "ending 'points_to_discuss' would not be reached: the walk stops at 'sunscreen', which it never answered",
        "flag 'expectations' would not be raised: rule expectation in permanent, complete or goal_text mentions "
        "permanent, forever, for good, never come back, completely gone, 100%, perfect skin, dauerhaft, für immer, "
        "nie wieder, komplett weg, ganz weg, völlig weg, perfekte Haut (no answer)",
    ]
    assert compare(Engine(read_version(DEFAULT_FLOW).flow), intake) is None  # its own version: nothing changes


# --------------------------------------------------------------------------- staff read each intake on its own version


def test_staff_page_api_pdf_and_every_export_show_an_intake_with_its_own_versions_questions(
    first: InProcessPatient, tmp_path: Path
) -> None:
    import csv
    import io
    import json

    from starlette.testclient import TestClient
    from support.fhir import checked_bundle
    from support.staff import PASSWORD, login

    from bot.staff.accounts import Accounts
    from bot.staff.exports import NOT_IN_QUESTIONNAIRE, Exporter, load_intakes
    from bot.staff.web import create_app

    ada = first
    v1 = ada.turns.engine
    to_skin_type(ada)
    ada.tap("Always burns, never tans", expect="Are you pregnant")
    finish(ada, SAFETY_TO_GOAL[4:] + GOAL_TO_SUMMARY)
    store = ada.turns.store
    engines = running_engines(store, edited_file(tmp_path, without_step("skin_type")))  # the clinic's next version
    intake = ada.intake()
    assert "skin_type" not in engines.current.steps

    exporter = Exporter(engines)
    batches = [load_intakes(store)]
    [data] = json.loads("".join(exporter.chunks("json", batches)))
    assert {
        "question_id": "skin_type",
        "question": "How does your skin react to the sun without sunscreen?",
        "value": "burns_always",
        "display": "Always burns, never tans",
    } in data["answers"]
    assert data["answers_not_in_questionnaire"] == [] and data["flow"]["version"] == v1.flow.version
    [row] = csv.DictReader(io.StringIO("".join(exporter.chunks("csv", batches))))
    assert "skin_type" not in row  # the newest version's columns
    assert row["answers_of_its_version"] == "skin_type: Always burns, never tans"
    assert row["flow_version"] == v1.flow.version and row["not_in_questionnaire"] == ""
    bundle = json.loads("".join(exporter.chunks("fhir", batches)))
    newest, [response] = checked_bundle(bundle)
    versions = [e["resource"]["version"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Questionnaire"]
    assert versions == ["edited", v1.flow.version] and newest["version"] == "edited"
    assert "skin_type" in [i["linkId"] for i in response["item"]]
    assert response["questionnaire"].endswith(f"|{v1.flow.version}")

    Accounts(store).add("rita", PASSWORD, "reviewer")
    token = Accounts(store).add_token("erp")
    client = TestClient(create_app(engines, store, secret_key="test-secret-key"))
    login(client)
    page = client.get(f"/intakes/{intake.id}")
    assert page.status_code == 200
    assert "How does your skin react to the sun without sunscreen?" in page.text
    assert "Always burns, never tans" in page.text and NOT_IN_QUESTIONNAIRE not in page.text
    assert f"version {v1.flow.version} (an earlier version: shown with its own questions)" in page.text
    one = client.get(f"/api/intakes/{intake.id}", headers={"Authorization": f"Bearer {token}"}).json()
    assert "skin_type" in [a["question_id"] for a in one["answers"]]
    assert client.get(f"/intakes/{intake.id}.pdf").status_code == 200
    assert client.app.state.web.pdf_for(intake).engine.hash == v1.hash


def test_serve_refuses_to_start_on_a_version_that_breaks_intakes_with_one_line_at_its_place(
    cli, store: Store, tmp_path: Path
) -> None:
    running_engines(store, edited_file(tmp_path, version="3"))
    changed = edited_file(tmp_path, without_step("skin_type"), version="3")
    env = {"DATABASE_URL": store.url, "FLOW_PATH": str(changed), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    result = cli("serve", env=env)
    assert result.returncode == 1
    [line] = result.stderr.splitlines()
    assert line.startswith(f"{changed}:") and line.endswith("give this edition a new version")
    assert versions_in(store.url) == 1


def test_the_what_if_page_replays_the_flow_file_in_settings_or_one_pasted_for_admins_only(
    first: InProcessPatient, tmp_path: Path
) -> None:
    from starlette.testclient import TestClient
    from support.staff import PASSWORD, csrf_of, login

    from bot.staff.accounts import Accounts
    from bot.staff.web import create_app

    ada = first
    to_safety_question(ada)
    ada.walk(SAFETY_TO_GOAL)
    finish(ada, GOAL_TO_SUMMARY)
    store = ada.turns.store
    new = edited_file(tmp_path, subtle_is_an_expectation, version="2")
    Accounts(store).add("rita", PASSWORD, "reviewer")
    Accounts(store).add("adam", PASSWORD, "admin")
    before = every_row(store.url)
    app = create_app(ada.turns.engines, store, secret_key="test-secret-key", flow_path=str(new))
    reviewer = TestClient(app)
    login(reviewer)
    assert reviewer.get("/flow/what-if").status_code == 403
    admin = TestClient(app)
    login(admin, "adam")
    page = admin.get("/flow/what-if")
    assert page.status_code == 200
    assert f'<a href="/intakes/{ada.intake().id}">' in page.text
    assert "flag &#39;expectations&#39; would be raised" in page.text and "1 intake(s) replayed" in page.text
    pasted = admin.post(
        "/flow/what-if", data={"flow": DEFAULT_FLOW.read_text(), "csrf": csrf_of(admin, "/flow/what-if")}
    )
    assert pasted.status_code == 200 and "the ending or flags of 0 would change" in pasted.text
    later = admin.get("/flow/what-if?since=2999-01-01")
    assert later.status_code == 200 and "0 intake(s) replayed" in later.text
    assert admin.get("/flow/what-if?since=soon").status_code == 400
    broken = admin.post("/flow/what-if", data={"flow": "id: [", "csrf": csrf_of(admin, "/flow/what-if")})
    assert broken.status_code == 400 and "pasted flow:" in broken.text
    german = admin.get("/flow/what-if", headers={"Accept-Language": "de"})
    assert "Was wäre, wenn" in german.text
    # the audit log has the logins only: replaying wrote nothing else
    after = every_row(store.url)
    assert {k: v for k, v in after.items() if k not in ("audit", "staff", "staff_sessions", "login_throttle")} == {
        k: v for k, v in before.items() if k not in ("audit", "staff", "staff_sessions", "login_throttle")
    }
