"""The staff pages in a real browser (Debian's Chromium via Playwright): in German for a German
member, on a phone without sideways scrolling, and printed as a few pages without navigation.

The intakes are made by the real bot talking to the fake Telegram server; the web app is
``python -m bot serve`` as a separate process on the same database, in the clinic's time zone.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright
from support.bot_process import ROOT, BotProcess, free_port
from support.default_flow import ROUTINE_TO_SUMMARY, begin
from support.fake_telegram import FakeTelegram
from support.patients import TelegramPatient
from test_browser import CHROMIUM, CHROMIUM_ARGS, PASSWORD, _wait_for

from bot.staff.accounts import Accounts
from bot.store import Store

pytestmark = [pytest.mark.browser, pytest.mark.e2e]  # Chromium, and the bot and web app as processes

PHONE = {"width": 390, "height": 844}
#: A flagged intake printed on A4 (it took 14 pages before the print stylesheet).
MOST_PAGES = 4


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """Two intakes made over Telegram (a completed one with a high flag and a long typed answer,
    one in progress), a German admin and an English reviewer, and the web app serving them."""
    tmp = tmp_path_factory.mktemp("layout")
    database = f"sqlite:///{tmp / 'intake.db'}"
    with FakeTelegram() as fake:
        bot = BotProcess(fake, database).start()
        try:
            pia = TelegramPatient(fake, 601)
            begin(pia)
            steps = list(ROUTINE_TO_SUMMARY)
            steps[6] = ("tap", "I am breastfeeding", "allergic reaction")
            # a typed answer with a long unbroken word: it must wrap on a phone, not widen the page
            steps[19] = ("type", "Smaller pores before summer " + "x" * 80, "worrying about how you look")
            pia.walk(steps)
            pia.tap("Looks right, finish", expect="Points to mention to the dermatologist")
            max_ = TelegramPatient(fake, 602)
            begin(max_)
            max_.tap("18 to 64", expect="botulinum toxin injections")
        finally:
            bot.stop()
    store = Store.open(database)
    accounts = Accounts(store)
    accounts.add("greta", PASSWORD, "admin")
    accounts.set_language("greta", "de")
    accounts.add("rita", PASSWORD)
    with store.transaction(read_only=True) as tx:
        flagged = tx.current_intake(601).id
    store.close()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "WEBHOOK_"))}
    env.update(
        DATABASE_URL=database,
        SECRET_KEY="browser-test-secret",
        WEB_PORT=str(free_port()),
        CLINIC_TIMEZONE="Europe/Berlin",
    )
    server = subprocess.Popen([sys.executable, "-m", "bot", "serve"], cwd=ROOT, env=env)
    url = f"http://127.0.0.1:{env['WEB_PORT']}"
    try:
        _wait_for(url)
        yield {"url": url, "flagged": str(flagged)}
    finally:
        server.terminate()
        server.wait(timeout=10)


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the tests leave screenshots and the printed PDF, for a person to look at."""
    return tmp_path_factory.mktemp("shots")


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


def open_page(browser: Browser, site: dict[str, str], **context: object) -> Page:
    page = browser.new_context(base_url=site["url"], **context).new_page()
    page.on("dialog", lambda d: pytest.fail(f"a script ran in the page: {d.message}"))
    return page


def log_in(page: Page, name: str, *, field: str = "Name", password: str = "Password", button: str = "Log in") -> None:
    page.goto("/login")
    page.get_by_label(field, exact=True).fill(name)
    page.get_by_label(password, exact=True).fill(PASSWORD)
    page.get_by_role("button", name=button).click()
    page.wait_for_url("/")


def test_a_german_member_works_in_german(browser: Browser, site: dict[str, str]) -> None:
    page = open_page(browser, site, locale="de-DE")  # the browser asks for German: so does the login
    page.goto("/")
    expect(page.get_by_role("heading", name="Anmeldung für das Team")).to_be_visible()
    assert page.locator("html").get_attribute("lang") == "de"
    log_in(page, "greta", field="Name", password="Passwort", button="Anmelden")
    expect(page.get_by_role("heading", name="Aufnahmen: Warteschlange", exact=True)).to_be_visible()
    assert page.locator("html").get_attribute("lang") == "de"
    expect(page.get_by_role("button", name="greta abmelden")).to_be_visible()
    expect(page.get_by_role("columnheader", name="Begonnen (Europe/Berlin)")).to_be_visible()
    page.get_by_role("link", name="Protokoll").click()
    expect(page.get_by_role("heading", name="Protokoll", exact=True)).to_be_visible()
    page.goto(f"/intakes/{site['flagged']}")
    expect(page.get_by_role("heading", name="Markierte Antworten")).to_be_visible()
    expect(page.get_by_text("Sind Sie schwanger, möchten Sie schwanger werden oder stillen Sie?").first).to_be_visible()
    expect(page.get_by_role("button", name="Als durchgesehen markieren")).to_be_visible()
    # the settings page switches to English at once, and back
    page.get_by_role("link", name="Einstellungen").click()
    language = page.locator("form", has=page.locator("select#language"))  # the settings page has more forms
    page.get_by_label("Sprache dieser Seiten").select_option("en")
    language.get_by_role("button", name="Speichern").click()
    expect(page.get_by_text("Saved.")).to_be_visible()
    assert page.locator("html").get_attribute("lang") == "en"
    page.get_by_label("Language of these pages").select_option("de")
    language.get_by_role("button", name="Save").click()
    expect(page.get_by_text("Gespeichert.")).to_be_visible()
    page.context.close()


def widths(page: Page) -> tuple[int, int]:
    return page.evaluate("[document.scrollingElement.scrollWidth, window.innerWidth]")


@pytest.mark.parametrize("member", ["greta", "rita"])  # German words are longer
def test_on_a_phone_no_page_scrolls_sideways(browser: Browser, site: dict[str, str], member: str, shots: Path) -> None:
    page = open_page(browser, site, viewport=PHONE, is_mobile=True, has_touch=True, device_scale_factor=2)
    log_in(page, member)
    paths = [
        "/",
        "/intakes",
        "/intakes?status=completed",
        f"/intakes/{site['flagged']}",
        "/flow",
        "/flow?section=health",
        "/settings",
        "/funnel",
    ]
    paths += ["/audit"] if member == "greta" else []
    for path in paths:
        page.goto(path)
        page.wait_for_load_state("networkidle")
        scroll, inner = widths(page)
        assert inner == 390 and scroll <= 390, (path, scroll)
    page.goto("/intakes")
    page.screenshot(path=str(shots / f"phone-list-{member}.png"), full_page=True)
    page.goto(f"/intakes/{site['flagged']}")
    page.screenshot(path=str(shots / f"phone-intake-{member}.png"))
    page.goto("/intakes")
    # below the width, the list's rows are cards: one under the other, each as wide as the page
    rows = page.locator("tbody tr")
    first, second = rows.nth(0).bounding_box(), rows.nth(1).bounding_box()
    assert first and second and second["y"] >= first["y"] + first["height"] and first["width"] > 300
    page.context.close()


def test_an_intake_prints_as_few_pages_without_navigation_buttons_or_forms(
    browser: Browser, site: dict[str, str], shots: Path
) -> None:
    page = open_page(browser, site)
    log_in(page, "rita")
    page.goto(f"/intakes/{site['flagged']}")
    page.emulate_media(media="print")
    shown = page.evaluate(
        """() => [...document.querySelectorAll('header, nav, form, button, input, textarea, select')]
               .filter(e => getComputedStyle(e).display !== 'none' && e.getClientRects().length > 0)
               .map(e => e.tagName)"""
    )
    assert shown == []
    for heading in ("Flags", "Answers", "Transcript"):
        expect(page.get_by_role("heading", name=heading, exact=True)).to_be_visible()
    expect(page.get_by_text("Pregnancy, trying to get pregnant, or breastfeeding").first).to_be_visible()
    expect(page.get_by_text("Before we start, please read this.")).to_be_hidden()  # folded: its summary only
    pdf = page.pdf(format="A4")
    (shots / "intake.pdf").write_bytes(pdf)
    pages = len(re.findall(rb"/Type\s*/Page\b(?!s)", pdf))
    assert 1 <= pages <= MOST_PAGES, pages
    page.context.close()
