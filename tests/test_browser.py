"""The staff web app in a real browser (Debian's Chromium driven by Playwright).

The intake under review is made by the real bot talking to the fake Telegram server; the web app
is ``python -m bot serve`` as a separate process on the same database.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright
from support.bot_process import ROOT, BotProcess, free_port
from support.default_flow import begin
from support.fake_telegram import FakeTelegram
from support.patients import TelegramPatient

from bot.staff.accounts import Accounts
from bot.store import Store

pytestmark = [pytest.mark.browser, pytest.mark.e2e]  # Chromium, and the bot and web app as processes

CHROMIUM = "/usr/bin/chromium"
# Flags this machine needs: no sandbox as root, and no background traffic to Google's hosts.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PASSWORD = "correct horse battery"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A database with intakes made over Telegram, a staff account, and the web app serving it."""
    tmp = tmp_path_factory.mktemp("browser")
    database = f"sqlite:///{tmp / 'intake.db'}"
    with FakeTelegram() as fake:
        bot = BotProcess(fake, database).start()
        try:
            eve = TelegramPatient(fake, 501, first_name="Eve", username="eve_s")  # her profile in every update
            fake.send_command(501, "/start website", first_name="Eve", username="eve_s")
            eve.expect("automated assistant")
            eve.tap("Continue", expect="Before we start")
            eve.tap("I agree", expect="How old are you?")
            eve.tap("18 to 64", expect="botulinum toxin injections")
            eve.tap("No, never", expect="A quick safety question")
            eve.tap("No", expect="What would you like")
            eve.type("<script>alert('owned')</script> and pores", expect="Please choose")
            sam = TelegramPatient(fake, 502)
            begin(sam)
            sam.tap("Under 18", expect="parent")
        finally:
            bot.stop()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "WEBHOOK_"))}
    env.update(DATABASE_URL=database, SECRET_KEY="browser-test-secret", WEB_PORT=str(free_port()))
    store = Store.open(database)  # the staff account (`python -m bot staff add` has tests of its own)
    Accounts(store).add("rita", PASSWORD)
    store.close()
    server = subprocess.Popen([sys.executable, "-m", "bot", "serve"], cwd=ROOT, env=env)
    url = f"http://127.0.0.1:{env['WEB_PORT']}"
    try:
        _wait_for(url)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=10)


def _wait_for(url: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            httpx.get(url + "/login", timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise AssertionError("the web app did not start")


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


@pytest.fixture()
def page(browser: Browser, site: str) -> Iterator[Page]:
    context = browser.new_context(base_url=site, accept_downloads=True)
    page = context.new_page()
    outside: list[str] = []
    page.on("request", lambda r: outside.append(r.url) if not r.url.startswith(site) else None)
    page.on("dialog", lambda d: pytest.fail(f"a script ran in the page: {d.message}"))
    yield page
    context.close()
    assert outside == [], f"requests left the site: {outside}"


def log_in(page: Page) -> None:
    page.goto("/")
    expect(page).to_have_url("/login?next=/")
    page.get_by_label("Name").fill("rita")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Intakes")).to_be_visible()


def test_every_page_sends_the_logged_out_to_the_login(page: Page) -> None:
    for path in ("/", "/intakes/1", "/flow", "/audit", "/export?format=csv"):
        page.goto(path)
        expect(page.get_by_role("heading", name="Staff log in")).to_be_visible()
    response = page.request.get("/api/intakes")
    assert response.status == 401


def test_review_an_intake_made_on_telegram(page: Page, tmp_path: Path) -> None:
    log_in(page)
    page.get_by_role("link", name="All intakes, with every filter").click()  # from the work queue
    page.get_by_label("Status", exact=True).select_option("in_progress")
    page.get_by_role("button", name="Filter").click()
    expect(page.get_by_role("link", name="Eve")).to_be_visible()
    expect(page.get_by_role("cell", name="completed")).to_have_count(0)
    page.get_by_label("Name, @username, phone or e-mail").fill("eve_s")
    page.get_by_role("button", name="Filter").click()
    page.get_by_role("link", name="Eve").click()
    expect(page.get_by_role("heading", name="Transcript")).to_be_visible()
    # what the patient typed is shown as text, never run
    expect(page.get_by_text("<script>alert('owned')</script> and pores")).to_be_visible()
    expect(page.get_by_text("/start website")).to_be_visible()
    page.get_by_role("button", name="Mark reviewed").click()
    expect(page.get_by_text("✓ by rita")).to_be_visible()
    page.get_by_label("Add a note").fill("Call back about the pores question.")
    page.get_by_role("button", name="Save note").click()
    expect(page.get_by_text("Call back about the pores question.")).to_be_visible()
    page.screenshot(path=str(tmp_path / "intake.png"), full_page=True)
    page.goto("/intakes")
    with page.expect_download() as download:
        page.get_by_role("link", name="CSV").click()
    content = Path(download.value.path()).read_text()
    assert content.splitlines()[0].startswith("id,status,outcome")
    assert len(content.splitlines()) == 3  # both intakes


def test_the_flow_diagram_renders_offline(page: Page) -> None:
    log_in(page)
    page.goto("/flow")
    expect(page.locator(".diagram svg")).to_be_visible(timeout=15_000)
    expect(page.get_by_text("age_band")).not_to_have_count(0)


def _view_box(page: Page) -> list[float]:
    return [float(n) for n in page.locator(".diagram svg").get_attribute("viewBox").split()]


def test_the_questionnaire_page_says_when_each_question_is_asked_and_what_it_raises(page: Page) -> None:
    log_in(page)
    page.get_by_role("link", name="Questionnaire").click()
    asked = page.locator("#step-toxin_symptoms_now")
    # a conditional question: when it is asked, in words, never condition syntax
    expect(asked.locator(".step-head")).to_contain_text("Q3")
    expect(asked.locator("p.when")).to_have_text(
        "Asked only when Q2 “Have you ever had botulinum toxin injections (such as…” is "
        "“Yes, in the last 4 weeks”, “Yes, 1 to 3 months ago” or “I'm not sure”."
    )
    # the flag its answer raises, with its severity and staff topic, and where it leads at once
    urgent = asked.locator(".raises li")
    expect(urgent.locator(".flag")).to_have_text("urgent")
    expect(urgent).to_contain_text("Symptoms now after a recent injection")
    expect(urgent).to_contain_text("Raised when the answer is “Yes”.")
    expect(urgent).to_contain_text(
        "Stops the questions at once and shows the ending: “Urgent: medical help now for symptoms after an injection”"
    )
    pregnancy = page.locator("#step-pregnancy .raises li")
    expect(pregnancy.locator(".flag")).to_have_text("high")
    expect(pregnancy).to_contain_text("Pregnancy, trying to get pregnant, or breastfeeding")
    # an ending by its words for staff, and when it is shown
    ending = page.locator("#step-under_18_end")
    expect(ending).to_contain_text("Ending: Under 18: questions stopped")
    expect(ending.locator("p.when")).to_have_text("Shown when Q1 “How old are you?” is “Under 18”.")
    # the link from an urgent flag goes to its ending
    urgent.get_by_role("link").click()
    expect(page).to_have_url(re.compile(r"/flow#step-urgent_care$"))


def test_the_diagram_zooms_pans_and_shows_one_section(page: Page) -> None:
    log_in(page)
    page.goto("/flow")
    svg = page.locator(".diagram svg")
    expect(svg).to_be_visible(timeout=15_000)
    level = page.locator("[data-zoom-level]")
    # 39 steps do not fit a page at a readable size: it opens at natural size, at the start
    expect(level).to_have_text("100%")
    page.locator(".diagram").scroll_into_view_if_needed()
    expect(svg.get_by_text("welcome (info)")).to_be_in_viewport()
    expect(svg.get_by_text("routine (ending)")).not_to_be_in_viewport()  # far below: move or zoom to see
    start = _view_box(page)
    page.get_by_role("button", name="Zoom in").click()
    expect(level).to_have_text("125%")
    closer = _view_box(page)
    assert closer[2] == pytest.approx(start[2] / 1.25) and closer[3] == pytest.approx(start[3] / 1.25)
    page.get_by_role("button", name="Fit").click()
    whole = _view_box(page)
    assert whole[2] > 2 * start[2] and whole[3] > 2 * start[3]  # everything, small
    assert int(level.inner_text().rstrip("%")) < 50
    page.get_by_role("button", name="100%").click()
    expect(level).to_have_text("100%")
    # dragging moves the picture with the pointer
    box = page.locator(".diagram").bounding_box()
    before = _view_box(page)
    page.mouse.move(box["x"] + 500, box["y"] + 400)
    page.mouse.down()
    page.mouse.move(box["x"] + 300, box["y"] + 250, steps=5)
    page.mouse.up()
    after = _view_box(page)
    assert after[0] == pytest.approx(before[0] + 200, abs=2) and after[1] == pytest.approx(before[1] + 150, abs=2)
    # the keyboard zooms too, once the diagram has the focus
    page.locator(".diagram").focus()
    page.keyboard.press("-")
    expect(level).to_have_text("80%")
    # one section at a time: choosing it shows it (the form sends itself)
    page.get_by_label("Show").select_option(label="Your skin")
    expect(page).to_have_url(re.compile(r"/flow\?section=skin#diagram$"))
    expect(svg.get_by_text("line_areas (multi)")).to_have_count(1, timeout=15_000)
    expect(svg.get_by_text("allergy_signs_now (in Safety check)")).to_have_count(1)  # the way in
    expect(svg.get_by_text("toxin_last_time (single)")).to_have_count(0)
    expect(page.get_by_label("Show")).to_have_value("skin")


def test_without_javascript_the_page_still_explains_and_picks_a_section(browser: Browser, site: str) -> None:
    context = browser.new_context(base_url=site, java_script_enabled=False)
    page = context.new_page()
    try:
        log_in(page)
        page.goto("/flow")
        expect(page.locator("#step-pregnancy .raises .flag")).to_have_text("high")
        expect(page.get_by_role("button", name="Zoom in")).to_be_hidden()  # nothing that cannot work
        page.get_by_label("Show").select_option(label="Health")
        page.get_by_role("button", name="Show").click()  # the picker is a plain form
        expect(page).to_have_url(re.compile(r"/flow\?section=health#diagram$"))
        expect(page.locator(".diagram pre")).to_contain_text('state "Q13 pregnancy (single)" as pregnancy')
        expect(page.locator(".diagram pre")).not_to_contain_text("toxin_last_time")
    finally:
        context.close()


def test_download_an_intakes_pdf_from_its_page(page: Page, tmp_path: Path) -> None:
    """ "Download PDF" on the intake page gives the intake as a PDF whose text is what the patient
    typed (a <script> as text) and the consent receipt."""
    import io

    from pypdf import PdfReader

    log_in(page)
    page.goto("/intakes?q=eve_s")
    page.get_by_role("link", name="Eve").click()
    with page.expect_download() as download:
        page.get_by_role("link", name="Download PDF").click()
    assert re.fullmatch(r"intake-\d+\.pdf", download.value.suggested_filename)
    reader = PdfReader(io.BytesIO(Path(download.value.path()).read_bytes()))
    text = "\n".join(p.extract_text() for p in reader.pages)
    assert "<script>alert('owned')</script> and pores" in text
    assert "Consent receipt" in text and "SHA-256" in text
    # the first page as an image (PDFium, Chrome's PDF engine): printed, not blank, inside its margins
    import pypdfium2

    image = pypdfium2.PdfDocument(download.value.path())[0].render(scale=1).to_pil().convert("L")
    image.save(tmp_path / "intake-page-1.png")
    width, height = image.size
    ink = [(x, y) for y in range(0, height, 2) for x in range(0, width, 2) if image.getpixel((x, y)) < 128]
    assert len(ink) > 500  # text, not an empty page
    margin = 15 / 210 * width  # 15 mm of the page's 210 (the PDF's margins are 18 mm)
    assert all(margin < x < width - margin for x, _ in ink)
