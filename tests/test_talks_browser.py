"""The conversation panel in a real browser (Debian's Chromium driven by Playwright): a patient's
message appears on the open intake page without a reload, a saved reply goes in with one click,
and the patient receives what was sent. The bot and the web app are one ``serve`` process on the
fake Telegram server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect, sync_playwright
from support.bot_process import BotProcess
from support.databases import db_rows
from support.default_flow import Q_TOXIN, begin
from support.fake_telegram import FakeTelegram
from support.patients import TelegramPatient
from support.staff import PASSWORD
from test_browser import CHROMIUM, CHROMIUM_ARGS

from bot.staff.accounts import Accounts
from bot.store import Store

pytestmark = [pytest.mark.browser, pytest.mark.e2e]


@pytest.fixture()
def page() -> Iterator[Page]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        context = browser.new_context()
        page = context.new_page()
        problems: list[str] = []
        # (the browser's own request for /favicon.ico finds nothing: not the page's doing)
        page.on(
            "console",
            lambda m: (
                problems.append(m.text) if m.type == "error" and "Failed to load resource" not in m.text else None
            ),
        )
        page.on(
            "response",
            lambda r: problems.append(f"{r.status} {r.url}") if r.status >= 400 and "favicon" not in r.url else None,
        )
        page.on("dialog", lambda d: pytest.fail(f"a script ran in the page: {d.message}"))
        yield page
        context.close()
        browser.close()
        assert problems == [], problems  # no CSP violation, no script error


def test_a_patient_message_appears_without_a_reload_and_a_saved_reply_reaches_the_patient(
    fake: FakeTelegram, db_path: Path, unused_port: int, page: Page
) -> None:
    store = Store.open(f"sqlite:///{db_path}")
    Accounts(store).add("rita", PASSWORD)
    Accounts(store).set_display_name("rita", "Rita")
    store.close()
    site = f"http://127.0.0.1:{unused_port}"
    bot = BotProcess(
        fake, f"sqlite:///{db_path}", command="serve", WEB_PORT=str(unused_port), SECRET_KEY="s" * 32
    ).start()
    try:
        patient = TelegramPatient(fake, 701)
        begin(patient)
        patient.tap("18 to 64", expect=Q_TOXIN)
        patient.command("/human", expect="A person from")
        [(intake_id,)] = db_rows(db_path, "SELECT id FROM intakes WHERE chat_id = 701")

        page.goto(f"{site}/intakes/{intake_id}")
        page.get_by_label("Name").fill("rita")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Log in").click()
        panel = page.locator("#talk")
        expect(panel.get_by_role("heading", name="Conversation with the patient")).to_be_visible()
        page.evaluate("window.notReloaded = true")

        patient.type("<b>Is ibuprofen OK?</b>")
        expect(panel.locator("li.in").last).to_contain_text("<b>Is ibuprofen OK?</b>", timeout=10_000)  # as text
        assert page.evaluate("window.notReloaded") is True  # it came in without a reload

        panel.get_by_role("button", name="A colleague will look at this").click()
        expect(page.get_by_label("Message to the patient")).to_have_value(
            "Thank you. A colleague will look at this and get back to you here."
        )
        panel.get_by_role("button", name="Send to the patient").click()
        got = patient.expect("A colleague will look at this")
        assert got["text"].endswith("— Rita, Example Skin Clinic")
        expect(panel.locator("li.out").last).to_have_attribute("data-state", "sent", timeout=10_000)
    finally:
        assert bot.stop() == 0
