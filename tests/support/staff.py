"""Staff in the web app's tests: an account's password, and logging in through the real form."""

from __future__ import annotations

import re

from starlette.testclient import TestClient

PASSWORD = "correct horse battery"


def login(client: TestClient, name: str = "rita", password: str = PASSWORD) -> None:
    page = client.get("/login")
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
    response = client.post("/login", data={"name": name, "password": password, "csrf": csrf}, follow_redirects=False)
    assert response.status_code == 303, response.text
