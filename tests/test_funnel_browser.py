"""The Funnel page in a real browser (Chromium through Playwright) against ``python -m bot serve``:
the chart drawn on the server as SVG shows, with its bars, at phone width and without a script,
and the page never scrolls sideways. The intakes are made by real turns on the store."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from playwright.sync_api import expect
from support.bot_process import ROOT, free_port
from support.default_flow import DEFAULT_FLOW
from support.patients import InProcessPatient
from test_browser import PASSWORD, _wait_for, browser  # noqa: F401  (the browser fixture)

from bot.channels.telegram.events import Chat
from bot.channels.telegram.runner import TurnRunner
from bot.engine import Engine
from bot.flow import load_checked
from bot.staff.accounts import Accounts
from bot.store import Store

pytestmark = [pytest.mark.browser, pytest.mark.e2e]


@pytest.fixture(scope="module")
def funnel_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    tmp: Path = tmp_path_factory.mktemp("funnel-browser")
    database = f"sqlite:///{tmp / 'intake.db'}"
    store = Store.open(database)
    Accounts(store).add("rita", PASSWORD)
    runner = TurnRunner(Engine(load_checked(DEFAULT_FLOW)), store)

    def walk() -> None:
        for chat in range(1, 8):  # seven at the first question, two of them a step further
            person = InProcessPatient(runner, Chat(chat, chat, "P", None, None, "en"))
            person.consent()
            if chat <= 2:
                person.tap("18 to 64")

    # on a thread of its own: Playwright's event loop runs on this one, and turns run their own
    with ThreadPoolExecutor(1) as pool:
        pool.submit(walk).result()
    store.close()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "WEBHOOK_"))}
    env.update(DATABASE_URL=database, SECRET_KEY="funnel-browser-secret", WEB_PORT=str(free_port()))
    server = subprocess.Popen([sys.executable, "-m", "bot", "serve"], cwd=ROOT, env=env)
    url = f"http://127.0.0.1:{env['WEB_PORT']}"
    try:
        _wait_for(url)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=10)


#: What the page says in each language: the login form, the link, the heading, and the long
#: question as the chart's label column shows it (cut at a word) and in full (its tooltip).
WORDS = {
    "en": {
        "password": "Password",
        "log_in": "Log in",
        "funnel": "Funnel",
        "heading": "Where patients drop off",
        "cut": "Have you ever had…",
        "full": "Have you ever had botulinum toxin injections (such as Botox, Dysport or Xeomin)",
    },
    "de": {
        "password": "Passwort",
        "log_in": "Anmelden",
        "funnel": "Abbrüche",
        "heading": "Wo Patienten abbrechen",
        "cut": "Hatten Sie schon…",
        "full": "Hatten Sie schon einmal Injektionen mit Botulinumtoxin",
    },
}


@pytest.mark.parametrize("language", ["en", "de"])
def test_the_funnel_chart_renders_on_a_phone(browser, funnel_site: str, language: str) -> None:  # noqa: F811
    words = WORDS[language]
    context = browser.new_context(base_url=funnel_site, viewport={"width": 390, "height": 844}, locale=language)
    page = context.new_page()
    blocked: list[str] = []
    page.on("console", lambda m: blocked.append(m.text) if "Content Security Policy" in m.text else None)
    page.goto("/")
    page.get_by_label("Name").fill("rita")
    page.get_by_label(words["password"]).fill(PASSWORD)
    page.get_by_role("button", name=words["log_in"]).click()
    page.get_by_role("link", name=words["funnel"]).click()
    expect(page.get_by_role("heading", name=words["heading"])).to_be_visible()
    chart = page.locator("figure.funnel-chart svg")
    expect(chart).to_be_visible()
    box = chart.bounding_box()
    assert box and 200 < box["width"] <= 390 and box["height"] > 20, box
    bars = page.locator("figure.funnel-chart rect:not(clipPath rect)")
    assert bars.count() >= 4  # welcome, consent, age_band, the next question (and stopped parts)
    widest = max(bars.nth(i).bounding_box()["width"] for i in range(bars.count()))
    assert widest > 50  # drawn to scale, not collapsed
    assert page.locator("figure.funnel-chart .masked").count() >= 1  # the step two reached: pale
    # the steps by their words: a long question cut to fit before the bars, in full in its tooltip
    labels = page.locator("figure.funnel-chart text")
    long = labels.filter(has_text=words["cut"])
    expect(long).to_have_count(1)
    assert words["full"] in long.locator("title").text_content()
    bars_begin = min(bars.nth(i).bounding_box()["x"] for i in range(bars.count()))
    for i in range(labels.count()):
        label = labels.nth(i).bounding_box()
        assert label["width"] > 20 and label["x"] + label["width"] <= bars_begin, (labels.nth(i).text_content(), label)
    cell = page.locator("table.funnel td span[title]").first
    assert words["full"] in cell.get_attribute("title") and cell.inner_text().endswith("…")
    assert page.evaluate("document.scrollingElement.scrollWidth") <= 390
    assert not blocked, blocked
    context.close()
