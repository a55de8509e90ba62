"""Telegram's webhook: the HTTP endpoint updates arrive at when WEBHOOK_URL is set.

A request without the secret Telegram was given (``X-Telegram-Bot-Api-Secret-Token``) is refused
before anything is read; the body is held to 1 MB whatever its headers say; the answer is sent only
after the update's turn is committed, so an unanswered request means the update comes again.
The runtime (``bot.runtime``) mounts these routes on the staff web app's server (``serve``) or on
a server of their own (``run``).
"""

from __future__ import annotations

import hmac
import json
import logging
import re
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from telegram import Update

if TYPE_CHECKING:
    from bot.channels.telegram.channel import TelegramChannel

log = logging.getLogger(__name__)

MAX_WEBHOOK_BODY = 1 << 20
_CONTENT_LENGTH = re.compile(r"[0-9]{1,12}")


def webhook_path(channel: TelegramChannel) -> str:
    return urlparse(channel.settings.webhook_url or "").path or "/telegram"


def webhook_routes(channel: TelegramChannel) -> list[Route]:
    async def endpoint(request: Request) -> Response:
        return await receive(channel, request)

    return [Route(webhook_path(channel), endpoint, methods=["POST"])]


async def receive(channel: TelegramChannel, request: Request) -> Response:
    """POST from Telegram: refused without the secret; answered only after the turn."""
    secret = channel.settings.webhook_secret or ""
    given = request.headers.get("x-telegram-bot-api-secret-token", "")
    if not secret or not hmac.compare_digest(given.encode(), secret.encode()):
        log.warning("webhook request with a wrong secret refused")
        return PlainTextResponse("forbidden", status_code=403)
    length = request.headers.get("content-length")
    if length is not None and not _CONTENT_LENGTH.fullmatch(length):
        return PlainTextResponse("bad content-length", status_code=400)
    if length is not None and int(length) > MAX_WEBHOOK_BODY:
        return PlainTextResponse("too large", status_code=413)
    body = await _read_at_most(request, MAX_WEBHOOK_BODY)  # a chunked body has no length to trust
    if body is None:
        return PlainTextResponse("too large", status_code=413)
    try:
        update = Update.de_json(json.loads(body), channel.bot)
    except Exception:  # any malformed body: Telegram never sends one
        return PlainTextResponse("bad update", status_code=400)
    if update is None:
        return PlainTextResponse("bad update", status_code=400)
    ok = await channel.process(update)
    return PlainTextResponse("ok" if ok else "retry", status_code=200 if ok else 500)


async def _read_at_most(request: Any, limit: int) -> bytes | None:
    """The request's body, or None once it grows beyond ``limit`` bytes (the rest is not read)."""
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            return None
    return bytes(body)
