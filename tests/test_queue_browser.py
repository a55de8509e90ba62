"""The work queue in a real browser (Debian's Chromium driven by Playwright), against
``python -m bot serve`` as a separate process: the queue's order, assigning an intake to oneself
and finding it with the "assigned to me" filter, and working down the queue (next and previous,
by link and by key, and "next in queue" after "Mark reviewed").

The intakes are written straight into the store, one for each of the queue's buckets and two
more: what puts an intake in a bucket (an unacknowledged urgent text, a message waiting for the
clinic) is made by other parts, tested with the real bot elsewhere.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from support.bot_process import ROOT, free_port
from test_browser import PASSWORD, _wait_for, browser  # noqa: F401  (the browser fixture)

from bot.staff.accounts import Accounts
from bot.store import Intake, Store, utcnow

pytestmark = [pytest.mark.browser, pytest.mark.e2e]


def _intake(store: Store, chat: int, name: str, days_ago: float, status: str = "completed", **columns) -> int:
    created = utcnow() - timedelta(days=days_ago)
    intake = Intake(0, chat, "skin_botox", "1.0", "en", status, {"v": 1}, created, created, first_name=name, **columns)
    with store.transaction() as tx:
        return tx.create_intake(intake).id


@pytest.fixture(scope="module")
def queue_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, int]]]:
    tmp: Path = tmp_path_factory.mktemp("queue-browser")
    database = f"sqlite:///{tmp / 'intake.db'}"
    store = Store.open(database)
    Accounts(store).add("rita", PASSWORD)
    ago = lambda days: utcnow() - timedelta(days=days)  # noqa: E731
    made = {
        # created newest first, so that the list's date order is not the queue's
        "plain": _intake(store, 1, "Paula", 0.5),
        "high": _intake(store, 2, "Hanna", 1, flags=["pregnancy"], severity=3),
        "human": _intake(store, 3, "Hugo", 2, status="in_progress", human_requested_at=ago(1.5)),
        "waiting": _intake(store, 4, "Wanda", 3, status="in_progress", waiting_since=ago(0.1)),
        "urgent": _intake(store, 5, "Ursula", 4, urgent_shown_at=ago(4), flags=["allergy_now"], severity=4),
        "done": _intake(store, 6, "Dora", 5, reviewed_at=ago(4), reviewed_by="rita"),
    }
    store.close()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "WEBHOOK_"))}
    env.update(DATABASE_URL=database, SECRET_KEY="queue-browser-secret", WEB_PORT=str(free_port()))
    server = subprocess.Popen([sys.executable, "-m", "bot", "serve"], cwd=ROOT, env=env)
    url = f"http://127.0.0.1:{env['WEB_PORT']}"
    try:
        _wait_for(url)
        yield url, made
    finally:
        server.terminate()
        server.wait(timeout=10)


@pytest.fixture()
def page(browser, queue_site) -> Iterator[Page]:  # noqa: F811
    url, _ = queue_site
    context = browser.new_context(base_url=url)
    page = context.new_page()
    page.on("dialog", lambda d: pytest.fail(f"a script ran in the page: {d.message}"))
    page.goto("/")
    page.get_by_label("Name").fill("rita")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="work queue")).to_be_visible()
    yield page
    context.close()


def queue_names(page: Page) -> list[str]:
    return [name.strip() for name in page.locator("table.intakes tbody tr td:nth-child(2) a").all_inner_texts()]


def test_the_queue_puts_whom_to_call_first_on_top(page: Page) -> None:
    assert queue_names(page) == ["Ursula", "Wanda", "Hugo", "Hanna", "Paula"]  # Dora was reviewed
    expect(page.get_by_text("high: Pregnancy, trying to get pregnant, or breastfeeding")).to_be_visible()
    expect(page.locator(".badge.sev-urgent")).to_have_count(1)
    wanda = page.locator("tbody tr", has_text="Wanda")
    expect(wanda).to_contain_text(re.compile(r"waiting 2 h \d+ min"))  # since 0.1 days: 2 h 24 min and on
    page.get_by_role("link", name="All intakes, with every filter").click()
    assert queue_names(page) == ["Paula", "Hanna", "Hugo", "Wanda", "Ursula", "Dora"]  # newest first
    expect(page.locator("tr.reviewed")).to_have_count(1)
    page.get_by_label("Sort by").select_option("severity")
    page.get_by_role("button", name="Filter").click()
    assert queue_names(page)[:2] == ["Ursula", "Hanna"]


def test_assign_to_me_then_find_it_assigned_to_me(page: Page, queue_site) -> None:
    page.get_by_role("link", name="Hanna").click()
    expect(page.get_by_text("Assigned to: nobody")).to_be_visible()
    page.get_by_role("button", name="Assign to me").click()
    expect(page.get_by_text("Assigned to: rita")).to_be_visible()
    page.get_by_label("Follow-up").select_option("called_back")
    page.get_by_role("button", name="Save follow-up").click()
    expect(page.get_by_text("follow-up: called back")).to_be_visible()
    page.goto("/intakes")
    page.get_by_label("assigned to me").check()
    page.get_by_role("button", name="Filter").click()
    assert queue_names(page) == ["Hanna"]
    expect(page.locator("tbody tr")).to_contain_text("called back")


def test_next_and_previous_by_link_and_key_and_next_after_mark_reviewed(page: Page) -> None:
    page.get_by_role("link", name="Ursula").click()
    expect(page.get_by_role("heading", name="Ursula")).to_be_visible()
    page.get_by_role("link", name="Next in queue →").click()
    expect(page.get_by_role("heading", name="Wanda")).to_be_visible()
    page.keyboard.press("j")  # queue.js: the next one
    expect(page.get_by_role("heading", name="Hugo")).to_be_visible()
    page.keyboard.press("k")  # the previous one
    expect(page.get_by_role("heading", name="Wanda")).to_be_visible()
    page.keyboard.press("j")
    expect(page.get_by_role("heading", name="Hugo")).to_be_visible()
    page.get_by_role("link", name="Next in queue →").click()
    expect(page.get_by_role("heading", name="Hanna")).to_be_visible()
    page.get_by_role("button", name="Mark reviewed", exact=True).click()
    expect(page.get_by_text("✓ by rita")).to_be_visible()  # Hanna has left the queue...
    page.get_by_role("link", name="Next in queue →").click()
    expect(page.get_by_role("heading", name="Paula")).to_be_visible()  # ...and the next is the one after her
    page.get_by_role("button", name="Reviewed, open the next in queue").click()
    expect(page).to_have_url("/")  # Paula was the last: the queue, without either of them
    assert queue_names(page) == ["Ursula", "Wanda", "Hugo"]
