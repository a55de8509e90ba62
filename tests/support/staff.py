"""Staff accounts and logins for the web app's tests (Starlette's test client)."""

from __future__ import annotations

import re

from starlette.testclient import TestClient

from bot.staff.accounts import Accounts
from bot.store import Store

PASSWORD = "correct horse battery"


def staff_store(url: str) -> Store:
    """A store with two staff members: rita (reviewer) and adam (admin), both with PASSWORD."""
    store = Store(url)
    accounts = Accounts(store)
    accounts.add("rita", PASSWORD, "reviewer")
    accounts.add("adam", PASSWORD, "admin")
    return store


def csrf_of(client: TestClient, path: str) -> str:
    """The CSRF token of the form on the page at ``path``."""
    return re.search(r'name="csrf" value="([^"]+)"', client.get(path).text).group(1)


def login(client: TestClient, name: str = "rita", password: str = PASSWORD) -> None:
    response = client.post(
        "/login", data={"name": name, "password": password, "csrf": csrf_of(client, "/login")}, follow_redirects=False
    )
    assert response.status_code == 303, response.text
