"""One HTTP receiver for the tests: a clinic's endpoint for completed intakes, or a bot's webhook."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class Receiver:
    """Records every POST and answers it: 403 when ``secret`` is set and the request's
    ``secret_header`` differs, else 500 while ``failures`` last (each failure used up once), else 200.

    ``requests`` holds every POST as ``(headers, body)``, ``accepted`` only those answered 200.
    """

    def __init__(
        self, failures: int = 0, secret: str | None = None, secret_header: str = "X-Telegram-Bot-Api-Secret-Token"
    ) -> None:
        self.failures = failures
        self.secret = secret
        self.secret_header = secret_header
        self.requests: list[tuple[dict[str, str], bytes]] = []
        self.accepted: list[tuple[dict[str, str], bytes]] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                status = receiver._answer(dict(self.headers), self.headers.get(receiver.secret_header), body)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self.server.server_address[1]}"
        # a short poll interval: shutdown() waits for the serving loop to notice
        threading.Thread(target=self.server.serve_forever, args=(0.02,), daemon=True).start()

    def url(self, path: str = "/hook") -> str:
        return self.base_url + path

    def _answer(self, headers: dict[str, str], secret: str | None, body: bytes) -> int:
        with self._lock:
            self.requests.append((headers, body))
            if self.secret is not None and secret != self.secret:
                return 403
            if self.failures > 0:
                self.failures -= 1
                return 500
            self.accepted.append((headers, body))
            return 200

    def accepted_json(self) -> list[tuple[Any, str | None]]:
        """The accepted bodies as JSON, each with its secret header."""
        name = self.secret_header.casefold()
        return [
            (json.loads(body), next((v for k, v in headers.items() if k.casefold() == name), None))
            for headers, body in self.accepted
        ]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@contextmanager
def receiving(**options: Any) -> Iterator[Receiver]:
    receiver = Receiver(**options)
    try:
        yield receiver
    finally:
        receiver.close()
