"""How the long-running commands log: LOG_LEVEL, and LOG_FORMAT (``text``, or ``json``: one
object a line for a log collector), with the Telegram turn or staff request a line belongs to.

The turn id is set by the channel for each update (``bot.channels.telegram.channel``), the request
id for each staff HTTP request (``RequestIds``): random, so they say which lines belong together
and nothing about who. The JSON lines carry what the text lines do, no more: the message as the
code wrote it (which never holds a patient's words: the code logs kinds, ids and counts), and for
an exception its type and where it was raised, never its text (a driver's message can quote a
value). The standard library's ``logging.Formatter`` is enough for this; a library would add a
dependency for a dozen lines.
"""

from __future__ import annotations

import json
import logging
import secrets
import traceback
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

#: The Telegram turn being run (set by the channel), and the staff HTTP request being answered.
turn_id: ContextVar[str | None] = ContextVar("turn_id", default=None)
request_id: ContextVar[str | None] = ContextVar("request_id", default=None)

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
FORMATS = ("text", "json")


def new_id() -> str:
    """A turn's or a request's id: 48 random bits in hex (unique enough within a day's logs)."""
    return secrets.token_hex(6)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, and the turn or request id."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if (turn := turn_id.get()) is not None:
            line["turn"] = turn
        if (request := request_id.get()) is not None:
            line["request"] = request
        if record.exc_info and record.exc_info[0] is not None:
            kind, _, tb = record.exc_info
            line["exception"] = kind.__name__
            line["stack"] = "".join(traceback.format_tb(tb)).rstrip()  # frames and source lines, no values
        return json.dumps(line, ensure_ascii=False)


def configure(level: str, format: str = "text") -> None:
    """The root logger's level and format, once per process (what basicConfig did)."""
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter() if format == "json" else logging.Formatter(TEXT_FORMAT))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)


class RequestIds:
    """ASGI middleware: a request id for each HTTP request, in the logs and in ``X-Request-ID``."""

    def __init__(self, app: Any):
        self.app = app

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = new_id()
        token = request_id.set(rid)

        async def send_with_id(message: dict) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", rid.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            request_id.reset(token)
