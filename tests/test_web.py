"""The staff web app and the clinic API, in-process (Starlette's test client over the real app)."""

from __future__ import annotations

import re

import pytest
from starlette.testclient import TestClient
from support.default_flow import with_typed_text_flag
from support.patients import InProcessPatient
from support.staff import PASSWORD, csrf_of, login, staff_store

from bot.channels.telegram.events import Chat
from bot.channels.telegram.runner import TurnRunner
from bot.engine import Engine
from bot.staff.accounts import Accounts
from bot.staff.web import create_app
from bot.store import Store


@pytest.fixture()
def store(sqlite_url: str) -> Store:
    return staff_store(sqlite_url)


@pytest.fixture()
def app(skin: Engine, store: Store):
    return create_app(skin, store, secret_key="test-secret-key")


def intake_with_script(skin: Engine, store: Store, chat_id: int = 7) -> int:
    """An intake whose free text is a <script>, as a patient could type it."""
    patient = InProcessPatient(TurnRunner(skin, store), Chat(chat_id, chat_id, "Eve <b>", None, "eve", "en"))
    patient.command("/start website")
    for label in ("Continue", "I agree", "18 to 64", "No, never", "No"):
        patient.tap(label)
    patient.type("<script>alert('x')</script> pores")
    with store.transaction() as tx:
        return tx.current_intake(chat_id).id


def test_every_page_and_api_route_refuses_the_logged_out(app) -> None:
    client = TestClient(app)
    for path in ("/", "/intakes/1", "/flow", "/export?format=csv", "/audit"):
        response = client.get(path, follow_redirects=False)
        assert response.status_code == 303 and response.headers["location"].startswith("/login"), path
    for path in ("/intakes/1/review", "/intakes/1/notes"):
        assert client.post(path, follow_redirects=False).status_code == 303
    for path in ("/api/intakes", "/api/intakes/1", "/api/openapi.json"):
        response = client.get(path)
        assert response.status_code == 401 and response.headers["www-authenticate"] == "Bearer"
        assert client.get(path, headers={"Authorization": "Bearer nope"}).status_code == 401


def test_login_wrong_password_and_missing_csrf_are_refused(app) -> None:
    client = TestClient(app)
    csrf = csrf_of(client, "/login")
    bad = client.post("/login", data={"name": "rita", "password": "wrong one", "csrf": csrf})
    assert bad.status_code == 401 and "Wrong name or password." in bad.text
    forged = client.post("/login", data={"name": "rita", "password": PASSWORD})
    assert forged.status_code == 403
    assert client.get("/", follow_redirects=False).status_code == 303  # still logged out


def test_a_failed_login_names_the_member_only_when_the_name_is_one(store: Store, app) -> None:
    """A password typed into the name field by mistake is never written to the audit log."""
    import sqlalchemy as sa

    from bot.store.schema import audit

    client = TestClient(app)
    for name in ("rita", "s3cret-Passw0rd!"):
        client.post("/login", data={"name": name, "password": "wrong one", "csrf": csrf_of(client, "/login")})
    with store.transaction(read_only=True) as tx:
        lines = tx.conn.execute(sa.select(audit.c.actor, audit.c.detail).where(audit.c.action == "login_failed"))
        assert [tuple(line) for line in lines] == [("rita", None), ("?", "a name no account has")]


def test_session_cookie_is_httponly_and_samesite_and_secure_over_https(skin: Engine, store: Store, app) -> None:
    for application, secure in ((app, False), (create_app(skin, store, "k", https=True), True)):
        client = TestClient(application, base_url="https://testserver" if secure else "http://testserver")
        csrf = csrf_of(client, "/login")
        response = client.post(
            "/login", data={"name": "rita", "password": PASSWORD, "csrf": csrf}, follow_redirects=False
        )
        header = response.headers["set-cookie"].lower()
        assert "httponly" in header and "samesite=strict" in header
        assert ("secure" in header) is secure


def test_list_intake_review_note_and_escaping(skin: Engine, store: Store, app) -> None:
    intake_id = intake_with_script(skin, store)
    client = TestClient(app)
    login(client)
    listing = client.get("/?q=eve")
    assert f'href="/intakes/{intake_id}"' in listing.text and "Eve &lt;b&gt;" in listing.text
    assert client.get("/?q=nobody").text.count("No intakes match.") == 1
    page = client.get(f"/intakes/{intake_id}")
    assert "<script>alert" not in page.text
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; pores" in page.text
    csrf = csrf_of(client, f"/intakes/{intake_id}")
    client.post(f"/intakes/{intake_id}/review", data={"csrf": csrf, "reviewed": "1"})
    client.post(f"/intakes/{intake_id}/notes", data={"csrf": csrf, "text": "Call about <pores>"})
    page = client.get(f"/intakes/{intake_id}")
    assert "✓ by rita" in page.text and "Call about &lt;pores&gt;" in page.text
    assert client.post(f"/intakes/{intake_id}/notes", data={"text": "no token"}).status_code == 403


def test_exports_from_the_page_and_the_audit_log_for_admins_only(skin: Engine, store: Store, app) -> None:
    intake_id = intake_with_script(skin, store)
    client = TestClient(app)
    login(client)
    csv_export = client.get("/export?format=csv&q=eve")
    assert csv_export.status_code == 200 and csv_export.headers["content-type"].startswith("text/csv")
    assert client.get("/export?format=fhir").json()["resourceType"] == "Bundle"
    assert client.get("/audit").status_code == 403
    client.get(f"/intakes/{intake_id}")
    admin = TestClient(app)
    login(admin, "adam")
    audit = admin.get("/audit").text
    assert "rita" in audit and "export" in audit and "view" in audit
    line = f'<td>exported</td><td><a href="/intakes/{intake_id}">{intake_id}</a></td><td>csv</td>'
    assert line in audit.replace("\n", "").replace("  ", "")


def test_flow_page_shows_the_diagram_without_external_requests(app) -> None:
    client = TestClient(app)
    login(client)
    page = client.get("/flow").text
    assert "stateDiagram-v2" in page and 'src="/static/vendor/mermaid-11.17.2.min.js"' in page
    assert "http://" not in page.replace("http://www.w3.org", "") and "https://cdn" not in page
    assert client.get("/static/vendor/mermaid-11.17.2.min.js").status_code == 200


def test_api_with_a_bearer_token(skin: Engine, store: Store, app) -> None:
    intake_id = intake_with_script(skin, store)
    token = Accounts(store).add_token("erp")
    client = TestClient(app)
    headers = {"Authorization": f"Bearer {token}"}
    listing = client.get("/api/intakes?status=in_progress", headers=headers).json()
    assert listing["total"] == 1 and listing["intakes"][0]["id"] == intake_id
    one = client.get(f"/api/intakes/{intake_id}", headers=headers).json()
    assert one["answers"][0]["question_id"] == "consent" and one["transcript"][0]["text"] == "/start website"
    assert client.get("/api/intakes/999", headers=headers).status_code == 404
    spec = client.get("/api/openapi.json", headers=headers).json()
    assert spec["openapi"].startswith("3.1") and "/api/intakes/{intake_id}" in spec["paths"]


def test_pagination_and_date_and_status_filters(skin: Engine, store: Store, app) -> None:
    from datetime import timedelta

    from bot.store import Intake, utcnow

    now = utcnow()
    with store.transaction() as tx:
        for i in range(30):
            when = now - timedelta(days=i)
            tx.create_intake(
                Intake(
                    0,
                    1000 + i,
                    "skin_botox",
                    "1.0",
                    "en",
                    "completed" if i % 2 else "in_progress",
                    {"v": 1},
                    when,
                    when,
                    first_name=f"P{i}",
                    source="flyer" if i < 3 else None,
                )
            )
    client = TestClient(app)
    login(client)
    first = client.get("/intakes")
    assert "P0 " in first.text and "P29 " not in first.text  # newest first, 25 to a page
    # the next page begins beyond the last row shown (keyset), whatever was added meanwhile
    following = re.search(r'href="/intakes\?([^"]*)" rel="next"', first.text).group(1).replace("&amp;", "&")
    second = client.get(f"/intakes?{following}")
    assert "P29 " in second.text and "P0 " not in second.text and 'rel="next"' not in second.text
    back = re.search(r'href="/intakes\?([^"]*)" rel="prev"', second.text).group(1).replace("&amp;", "&")
    assert client.get(f"/intakes?{back}").text.count('href="/intakes/') == first.text.count('href="/intakes/')
    assert client.get("/intakes?after=nonsense").status_code == 400
    recent = client.get(f"/?since={(now - timedelta(days=2)).date()}")
    assert "3 intakes." in recent.text
    assert "15 intakes." in client.get("/?status=completed").text
    assert "3 intakes." in client.get("/?source=flyer").text
    assert "completed: <strong>15</strong>" in first.text


def test_the_api_list_pages_by_cursor_and_refuses_what_it_cannot_read(skin: Engine, store: Store, app) -> None:
    from datetime import timedelta

    from bot.store import Intake, utcnow

    now = utcnow()
    with store.transaction() as tx:
        for i in range(7):
            when = now - timedelta(hours=i)
            tx.create_intake(Intake(0, 2000 + i, "skin_botox", "1.0", "en", "completed", {"v": 1}, when, when))
    client = TestClient(app)
    headers = {"Authorization": f"Bearer {Accounts(store).add_token('erp')}"}
    seen: list[int] = []
    after = ""
    for _ in range(4):
        answer = client.get(f"/api/intakes?limit=3{after}", headers=headers).json()
        assert answer["total"] == 7 and answer["total_is_lower_bound"] is False
        seen += [i["id"] for i in answer["intakes"]]
        if answer["next"] is None:
            break
        after = f"&after={answer['next']}"
    # every intake once, newest first (each one made an hour before the last), in pages of 3, 3 and 1
    assert seen == sorted(seen) and len(set(seen)) == 7
    for query, word in (
        ("page=2", "`page`"),
        ("after=nonsense", "`after`"),
        ("limit=0", "`limit`"),
        ("limit=101", "`limit`"),
    ):
        refused = client.get(f"/api/intakes?{query}", headers=headers)
        assert refused.status_code == 400 and word in refused.json()["error"], query
    assert client.get("/api/intakes?page=1", headers=headers).status_code == 200


def test_repeated_failed_logins_lock_the_form_with_a_clear_message(app) -> None:
    client = TestClient(app)
    for _ in range(5):
        csrf = csrf_of(client, "/login")
        response = client.post("/login", data={"name": "rita", "password": "guess guess", "csrf": csrf})
    assert response.status_code == 401 and "Too many failed attempts: try again in" in response.text
    csrf = csrf_of(client, "/login")
    locked = client.post("/login", data={"name": "rita", "password": PASSWORD, "csrf": csrf})
    assert locked.status_code == 401  # even the right password waits for the lock to pass


def test_admins_see_completion_webhooks_that_were_given_up(skin: Engine, store: Store, app) -> None:
    from bot.store import utcnow
    from bot.store.schema import webhook_deliveries

    intake_id = intake_with_script(skin, store)
    with store.transaction() as tx:
        tx.conn.execute(
            webhook_deliveries.insert().values(
                intake_id=intake_id, created_at=utcnow(), attempts=10, gave_up_at=utcnow(), last_error="HTTP 503"
            )
        )
    admin = TestClient(app)
    login(admin, "adam")
    page = admin.get("/audit").text
    assert "Completion webhooks given up on" in page and "HTTP 503" in page and f"/intakes/{intake_id}" in page


def test_an_erased_intake_is_gone_from_pages_exports_and_the_api(skin: Engine, store: Store, app) -> None:
    intake_id = intake_with_script(skin, store)
    token = Accounts(store).add_token("erp")
    with store.transaction() as tx:
        tx.delete_chat(7)  # what /delete does
    client = TestClient(app)
    login(client)
    assert client.get(f"/intakes/{intake_id}").status_code == 404
    assert "No intakes match." in client.get("/intakes").text
    assert "the queue is empty" in client.get("/").text
    assert client.get("/export?format=json").json() == []
    api = client.get(f"/api/intakes/{intake_id}", headers={"Authorization": f"Bearer {token}"})
    assert api.status_code == 404


def test_a_flag_raised_by_typed_words_is_shown_beside_the_answer_that_said_them(skin: Engine, store: Store) -> None:
    """A typed-text flag (``typed_text_mentions``) sits beside the free-text answer that mentions it."""
    from bot.store import Intake, utcnow

    engine = with_typed_text_flag(skin, ["for good"], "Words about the result")
    conv = engine.start("en")
    conv.state = "goal_text"
    conv.answers.update({"consent": "agree", "previous_details": "It went fine"})
    conv.path[:] = ["welcome", "consent"]
    assert "words" in engine.reply(conv, "Smooth skin for good").raised
    now = utcnow()
    with store.transaction() as tx:
        intake = tx.create_intake(
            Intake(0, 41, skin.flow.id, skin.flow.version, "en", "in_progress", conv.to_dict(), now, now)
        )
        intake.flags = list(conv.flags)
        tx.save_intake(intake)
    client = TestClient(create_app(engine, store, secret_key="test-secret-key"))
    login(client)
    page = client.get(f"/intakes/{intake.id}").text
    row = page[page.index("Smooth skin for good") :].split("</dd>")[0]
    assert "⚑ Words about the result" in row
    fine = page[page.index("It went fine") :].split("</dd>")[0]
    assert "⚑" not in fine


def test_staff_see_which_safety_screen_a_message_met_beside_it(skin: Engine, store: Store, app) -> None:
    patient = InProcessPatient(TurnRunner(skin, store), Chat(44, 44, "Cy", None, "cy", "en"))
    patient.command("/start website")
    patient.tap("Continue")
    patient.tap("I agree")
    patient.type("Some days I just want to die")
    patient.tap("Carry on with the questions")
    patient.type("die")  # ambiguous: asked first
    patient.tap("No")
    patient.tap("18 to 64")
    intake_id = patient.intake().id
    client = TestClient(app)
    login(client)
    page = client.get(f"/intakes/{intake_id}").text
    screen = "⚑ Safety screen “self_harm”: Words about self-harm or suicide in a typed message"
    said = page[page.index("<p>Some days I just want to die</p>") :].split("</li>")[0]
    assert screen in said and "asked first" not in said
    ambiguous = page[page.index("<p>die</p>") :].split("</li>")[0]
    assert screen in ambiguous and "the patient was asked first" in ambiguous
    plain = page[page.index("<p>/start website</p>") :].split("</li>")[0]
    assert "⚑" not in plain
    flags = page[page.index("<h2>Flags</h2>") : page.index("<h2>Answers</h2>")]
    assert "urgent</strong>: Words about self-harm or suicide in a typed message" in flags
    assert re.search(r'<a href="#m-(\d+)">typed at \d\d:\d\d UTC: see the transcript</a>', flags)
    number = re.search(r'href="#m-(\d+)"', flags).group(1)
    assert f'id="m-{number}" class="in screened"' in page
    token = Accounts(store).add_token("erp")
    api = client.get(f"/api/intakes/{intake_id}", headers={"Authorization": f"Bearer {token}"}).json()
    marked = [line for line in api["transcript"] if "screened" in line]
    assert [(line["text"], line["screened"]) for line in marked] == [
        ("Some days I just want to die", {"screen": "self_harm", "ask_first": False}),
        ("die", {"screen": "self_harm", "ask_first": True}),
    ]


async def test_a_slow_staff_request_never_holds_up_the_event_loop(app, monkeypatch) -> None:
    """Under ``serve`` the patients' turns share this loop: a search that waits half a second for
    the database must leave the loop free meanwhile (it runs on the staff threads)."""
    import asyncio
    import time

    import httpx

    from bot.staff.review import Review

    real_search = Review.list_page

    def slow_search(self, *args, **kwargs):
        time.sleep(0.5)  # a database that takes its time, as 100,000 intakes did
        return real_search(self, *args, **kwargs)

    monkeypatch.setattr(Review, "list_page", slow_search)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://staff") as client:
        form = await client.get("/login")
        csrf = re.search(r'name="csrf" value="([^"]+)"', form.text).group(1)
        await client.post("/login", data={"name": "rita", "password": PASSWORD, "csrf": csrf})
        gaps: list[float] = []

        async def ticker() -> None:
            last = time.monotonic()
            while True:
                await asyncio.sleep(0.005)
                now = time.monotonic()
                gaps.append(now - last)
                last = now

        ticking = asyncio.create_task(ticker())
        page = await client.get("/intakes?q=eve")
        ticking.cancel()
    assert page.status_code == 200 and "intakes." in page.text
    assert sum(gaps) >= 0.45 and max(gaps) < 0.4, max(gaps)  # held up, the loop would pause for 0.5 s


def test_an_export_larger_than_a_batch_streams_every_intake_once(skin: Engine, store: Store, app) -> None:
    """Exports are written a batch of intakes at a time (EXPORT_BATCH): none lost or doubled at the seams."""
    import csv
    import io
    import json

    from bot.staff.review import EXPORT_BATCH
    from bot.store import Intake, utcnow

    count = EXPORT_BATCH * 2 + 7
    now = utcnow()
    with store.transaction() as tx:
        for chat in range(count):
            conv = skin.start("en")
            tx.create_intake(
                Intake(0, 1000 + chat, skin.flow.id, skin.flow.version, "en", "completed", conv.to_dict(), now, now)
            )
    client = TestClient(app)
    login(client, "adam")
    bundle = json.loads(client.get("/export?format=fhir").text)
    responses = [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "QuestionnaireResponse"]
    ids = [r["id"] for r in responses]
    assert len(ids) == count and len(set(ids)) == count
    listed = json.loads(client.get("/export?format=json").text)
    assert sorted(i["id"] for i in listed) == sorted(int(i.removeprefix("intake-")) for i in ids)
    rows = list(csv.reader(io.StringIO(client.get("/export?format=csv").text)))
    assert len(rows) == count + 1 and rows[0][0] == "id"
    import sqlalchemy as sa

    from bot.store.schema import audit

    with store.transaction() as tx:
        exported = tx.conn.execute(
            sa.select(audit.c.intake_id).where(audit.c.action == "export", audit.c.detail == "fhir")
        ).all()
    assert sorted(i for (i,) in exported) == sorted(int(i.removeprefix("intake-")) for i in ids)  # one line each


def test_an_export_holds_no_transaction_between_its_batches(skin: Engine, store: Store) -> None:
    """A download that stalls must not keep a snapshot (or a pooled connection) open."""
    from bot.staff.review import Review
    from bot.store import Intake, utcnow

    now = utcnow()
    with store.transaction() as tx:
        ids = [
            tx.create_intake(Intake(0, 50 + n, skin.flow.id, "1", "en", "completed", {"v": 1}, now, now)).id
            for n in range(3)
        ]
    batches = Review(store).intakes(ids, batch=2)
    first = next(batches)
    assert [i.id for i in first] == ids[:2]
    assert store.engine.pool.checkedout() == 0
    assert [i.id for i in next(batches)] == ids[2:]


def test_an_exports_audit_lines_go_in_batches_one_insert_each(store: Store, monkeypatch) -> None:
    """Issue 11: an export's audit lines are written in batches (AUDIT_BATCH to a transaction, one
    executemany INSERT each), not a statement per intake, and none is lost at a batch's seam."""
    import sqlalchemy as sa

    from bot.staff import review as staff_review
    from bot.store.schema import audit

    monkeypatch.setattr(staff_review, "AUDIT_BATCH", 3)  # read at each call: 7 lines make 3 batches
    monkeypatch.setattr(staff_review, "AUDIT_PAUSE", 0.0)
    writes: list[bool] = []
    transaction = store.transaction

    def counted(*, read_only: bool = False):
        writes.append(not read_only)
        return transaction(read_only=read_only)

    monkeypatch.setattr(store, "transaction", counted)
    inserts: list[int] = []

    def seen(conn, cursor, statement, parameters, context, executemany) -> None:
        if statement.lstrip().upper().startswith("INSERT INTO AUDIT"):
            inserts.append(len(parameters) if executemany else 1)

    sa.event.listen(store.engine, "before_cursor_execute", seen)
    try:
        staff_review.Review(store).record_all("adam", "export", [11, 12, 13, 14, 15, 16, 17], "csv")
    finally:
        sa.event.remove(store.engine, "before_cursor_execute", seen)
    assert writes == [True, True, True]
    assert inserts == [3, 3, 1]
    with transaction(read_only=True) as tx:
        lines = tx.conn.execute(sa.select(audit.c.intake_id, audit.c.detail).order_by(audit.c.id)).all()
    assert [tuple(line) for line in lines] == [(i, "csv") for i in range(11, 18)]


# --- defects a security probe of the staff app found ----------------------------------------------


def test_the_login_redirect_keeps_the_query_so_a_link_to_one_export_stays_that_export(app) -> None:
    client = TestClient(app)
    wanted = "/export?format=fhir&flag=pregnancy"
    redirect = client.get(wanted, follow_redirects=False)
    assert redirect.status_code == 303
    assert redirect.headers["location"] == "/login?next=/export%3Fformat%3Dfhir%26flag%3Dpregnancy"
    page = client.get(redirect.headers["location"])
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
    done = client.post(
        redirect.headers["location"], data={"name": "rita", "password": PASSWORD, "csrf": csrf}, follow_redirects=False
    )
    assert done.headers["location"] == wanted


def test_api_answers_are_never_cached_nor_sniffed(skin: Engine, store: Store, app) -> None:
    token = Accounts(store).add_token("erp")
    client = TestClient(app)
    for path, headers in (("/api/intakes", {"Authorization": f"Bearer {token}"}), ("/api/intakes", {})):
        response = client.get(path, headers=headers)
        assert response.headers["cache-control"] == "no-store", path
        assert response.headers["x-content-type-options"] == "nosniff", path


def test_marking_an_intake_that_is_not_there_writes_no_audit_line(store: Store, app) -> None:
    import sqlalchemy as sa

    from bot.store.schema import audit

    client = TestClient(app)
    login(client)
    csrf = csrf_of(client, "/")
    client.post("/intakes/999/review", data={"csrf": csrf, "reviewed": "1"}, follow_redirects=False)
    with store.transaction() as tx:
        assert tx.conn.execute(sa.select(audit.c.action).where(audit.c.intake_id == 999)).all() == []


def test_dates_at_the_ends_of_the_calendar_are_any_time_not_a_server_error(skin: Engine, store: Store, app) -> None:
    intake_id = intake_with_script(skin, store)
    token = Accounts(store).add_token("erp")
    client = TestClient(app)
    login(client)
    for query in ("since=0001-01-01", "until=9999-12-31", "since=0001-01-01&until=9999-12-31"):
        page = client.get(f"/?{query}")
        assert page.status_code == 200 and f"/intakes/{intake_id}" in page.text, query
        assert client.get(f"/export?format=csv&{query}").status_code == 200, query
        listed = client.get(f"/api/intakes?{query}", headers={"Authorization": f"Bearer {token}"})
        assert listed.status_code == 200 and listed.json()["total"] == 1, query


def test_percent_and_underscore_in_a_search_or_flag_are_taken_literally(skin: Engine, store: Store, app) -> None:
    intake_with_script(skin, store)  # Eve, @eve
    client = TestClient(app)
    login(client)
    for query in ("q=%25", "q=_", "q=e_e", "flag=%25", "flag=_"):
        assert "1 intake." not in client.get(f"/?{query}").text, query
    assert "1 intake." in client.get("/?q=eve").text


@pytest.fixture()
def audit_app(skin: Engine, database_url: str):
    """The web app on a real SQLite file and a real PostgreSQL, and its store."""
    store = staff_store(database_url)
    return create_app(skin, store, secret_key="test-secret-key"), store


def audit_lines(store: Store, count: int) -> list[int]:
    """``count`` audit lines, one a second: actor n0..n2 by turns, action view/export by turns, intake i."""
    from datetime import UTC, datetime, timedelta

    import sqlalchemy as sa

    from bot.store.schema import audit

    start = datetime(2026, 3, 1, 8, 0, 7, tzinfo=UTC)
    rows = [
        {
            "actor": f"n{i % 3}",
            "action": "view" if i % 2 else "export",
            "intake_id": i,
            "detail": f"line {i}",
            "at": start + timedelta(seconds=i) + timedelta(days=i // 100),
        }
        for i in range(1, count + 1)
    ]
    with store.transaction() as tx:
        tx.conn.execute(sa.delete(audit))
        tx.conn.execute(audit.insert(), rows)
        return list(tx.conn.execute(sa.select(audit.c.id).order_by(audit.c.id)).scalars())


def lines_shown(page: str) -> list[int]:
    return [int(n) for n in re.findall(r"<td>line (\d+)</td>", page)]


def test_the_audit_log_pages_newest_first_each_line_once_without_gaps(audit_app) -> None:
    app, store = audit_app
    audit_lines(store, 250)
    admin = TestClient(app)
    login(admin, "adam")  # the login's own line comes after the 250 (no detail: not counted)
    seen: list[int] = []
    page = admin.get("/audit")
    while True:
        assert page.status_code == 200
        seen += lines_shown(page.text)
        older = re.search(r'href="/audit\?([^"]*)" rel="next"', page.text)
        if not older:
            break
        page = admin.get("/audit?" + older.group(1).replace("&amp;", "&"))
    assert seen == list(range(250, 0, -1))
    # and back up: "newer" from the oldest page gives the page before it again, in the same order
    newer = re.search(r'href="/audit\?([^"]*)" rel="prev"', page.text).group(1).replace("&amp;", "&")
    back = lines_shown(admin.get("/audit?" + newer).text)
    assert back == list(range(151, 51, -1))


def test_the_audit_log_filters_by_member_action_intake_and_dates_together(audit_app) -> None:
    app, store = audit_app
    audit_lines(store, 250)
    admin = TestClient(app)
    login(admin, "adam")
    assert lines_shown(admin.get("/audit?actor=n1").text) == [i for i in range(250, 0, -1) if i % 3 == 1][:100]
    assert lines_shown(admin.get("/audit?action=export").text) == [i for i in range(250, 0, -1) if i % 2 == 0][:100]
    assert lines_shown(admin.get("/audit?intake=42").text) == [42]
    # day 1 holds lines 1-99, day 2 lines 100-199, day 3 lines 200-250 (see audit_lines)
    assert lines_shown(admin.get("/audit?since=2026-03-02&until=2026-03-02").text) == list(range(199, 99, -1))
    assert lines_shown(admin.get("/audit?since=2026-03-03").text) == list(range(250, 199, -1))
    together = admin.get("/audit?actor=n0&action=view&since=2026-03-02&until=2026-03-02").text
    assert lines_shown(together) == [i for i in range(199, 99, -1) if i % 3 == 0 and i % 2]
    # paging keeps the filters: the second page of one member's lines is that member's too
    older = re.search(r'href="/audit\?([^"]*)" rel="next"', admin.get("/audit?action=view").text).group(1)
    assert "action=view" in older
    second = lines_shown(admin.get("/audit?" + older.replace("&amp;", "&")).text)
    assert second == [i for i in range(250, 0, -1) if i % 2][100:]
    # the action filter offers the actions the log holds
    assert '<option value="export" selected>exported</option>' in admin.get("/audit?action=export").text
    offered = re.findall(r'<option value="([a-z_]+)"(?: selected)?>', admin.get("/audit").text)
    assert offered == ["export", "login", "view"]  # each once, in order (read along ix_audit_action)
    assert "No audit lines match these filters" in admin.get("/audit?actor=nobody").text
    for query in ("since=0001-01-01", "until=9999-12-31", "since=0001-01-01&until=9999-12-31"):
        page = admin.get(f"/audit?{query}").text  # the login's line and lines 250-152, and an older page
        assert lines_shown(page) == list(range(250, 151, -1)) and 'rel="next"' in page, query


def test_a_bad_audit_filter_is_a_clear_message_and_lists_nothing(audit_app) -> None:
    app, store = audit_app
    audit_lines(store, 5)
    admin = TestClient(app)
    login(admin, "adam")
    for query, message in (
        ("intake=12a", "The intake number must be a whole number"),
        ("intake=-3", "The intake number must be a whole number"),
        ("intake=99999999999999999999999", "The intake number must be a whole number"),
        ("since=2026-13-01", "“From” must be a date"),
        ("until=yesterday", "“To” must be a date"),
        ("since=2026-03-02&until=2026-03-01", "“From” is after “To”"),
        ("before=x", "The page link is not valid"),
    ):
        page = admin.get(f"/audit?{query}")
        assert page.status_code == 400 and message in page.text, query
        assert "Traceback" not in page.text and lines_shown(page.text) == [], query
        assert (
            page.headers["Cache-Control"] == "no-store"
            and "default-src 'self'" in page.headers["Content-Security-Policy"]
        )


def test_the_audit_log_links_intakes_shows_seconds_and_is_for_admins_only(audit_app) -> None:
    app, store = audit_app
    audit_lines(store, 3)
    admin = TestClient(app)
    login(admin, "adam")
    page = admin.get("/audit").text
    assert '<a href="/intakes/2">2</a>' in page
    assert '<time datetime="2026-03-01T08:00:09+00:00">2026-03-01 08:00:09</time>' in page
    assert admin.get("/intakes/2").status_code == 404  # an intake that is not there: the page's own answer
    reviewer = TestClient(app)
    login(reviewer)
    refused = reviewer.get("/audit?actor=n1")
    assert refused.status_code == 403 and "line 1" not in refused.text
