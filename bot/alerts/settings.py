"""The alert settings (ALERT_ON, ALERT_TELEGRAM_CHAT_ID, SMTP_URL, ALERT_EMAIL_FROM/TO, ...).

Read by ``bot.config.load_settings``; a broken one stops start-up with one clear line
(``SettingsError``), never a traceback, and never at the first alert hours later.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from email.utils import parseaddr
from urllib.parse import quote, unquote, urlsplit

from bot.errors import UserError

#: What can raise an alert: an urgent mark, a /human request, a completion with a high flag, any completion.
EVENTS = ("urgent", "human", "high", "completed")
DEFAULT_EVENTS = frozenset({"urgent", "human", "high"})
DETAILS = ("minimal", "topics")
_LOCAL_HOSTS = ("localhost", "127.0.0.1", "::1")


class AlertSettingsError(UserError):
    """An alert setting is present but unusable (the same exit status as any other setting)."""

    exit_code = 2


@dataclass(frozen=True)
class Smtp:
    host: str
    port: int
    #: "ssl": TLS from the first byte (smtps://); "starttls": STARTTLS, required unless the server
    #: is on this machine (a local relay), where a server that offers none is spoken to in the clear
    security: str
    user: str | None = None
    password: str | None = field(default=None, repr=False)

    @property
    def local(self) -> bool:
        return self.host in _LOCAL_HOSTS

    def __str__(self) -> str:  # for messages: never the password
        scheme = "smtps" if self.security == "ssl" else "smtp"
        user = quote(self.user, safe="") + "@" if self.user else ""
        return f"{scheme}://{user}{self.host}:{self.port}"


@dataclass(frozen=True)
class AlertSettings:
    events: frozenset[str] = DEFAULT_EVENTS
    telegram_chat_id: int | None = None
    smtp: Smtp | None = None
    email_from: str | None = None
    email_to: tuple[str, ...] = ()
    detail: str = "minimal"  # or "topics": the raised flags' staff topics too
    max_attempts: int = 10
    retry_base: float = 30.0  # seconds before the first retry; doubles each time, at most 6 hours
    timeout: float = 20.0

    @property
    def channels(self) -> tuple[str, ...]:
        """The channels an alert goes to (none: alerts are off)."""
        return tuple(
            name
            for name, on in (("telegram", self.telegram_chat_id is not None), ("email", self.smtp is not None))
            if on
        )

    @property
    def active(self) -> bool:
        return bool(self.events and self.channels)


def _events(value: str | None) -> frozenset[str]:
    if value is None:
        return DEFAULT_EVENTS
    if value.lower() in ("off", "none"):
        return frozenset()
    events = [e.strip().lower() for e in value.split(",") if e.strip()]
    unknown = [e for e in events if e not in EVENTS]
    if unknown:
        raise AlertSettingsError(
            f"ALERT_ON={value!r} names an unknown event {unknown[0]!r} (events: {', '.join(EVENTS)}; or off)"
        )
    return frozenset(events)


def _chat_id(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        raise AlertSettingsError(
            f"ALERT_TELEGRAM_CHAT_ID={value!r} is not a chat id: a whole number such as -1001234567890 "
            "(a group's or channel's id, which is negative)"
        ) from None


def _smtp(value: str | None) -> Smtp | None:
    if value is None:
        return None
    bad = f"SMTP_URL={_hide_password(value)!r} must look like smtp://user:password@mail.example:587 (STARTTLS) or smtps://..."
    try:
        url = urlsplit(value)
        port = url.port
    except ValueError:
        raise AlertSettingsError(bad) from None
    if url.scheme not in ("smtp", "smtps") or not url.hostname or url.path not in ("", "/"):
        raise AlertSettingsError(bad)
    security = "ssl" if url.scheme == "smtps" else "starttls"
    return Smtp(
        host=url.hostname,
        port=port or (465 if security == "ssl" else 587),
        security=security,
        user=unquote(url.username) if url.username else None,
        password=unquote(url.password) if url.password else None,
    )


def _hide_password(value: str) -> str:
    try:
        url = urlsplit(value)
        if url.password:
            return value.replace(":" + url.password + "@", ":***@", 1)
    except ValueError:
        pass
    return value


def _address(name: str, value: str) -> str:
    _, address = parseaddr(value)
    if "@" not in address or any(c.isspace() for c in address):
        raise AlertSettingsError(f"{name}: {value!r} is not an e-mail address")
    return value


def _positive_int(name: str, value: str | None, default: int) -> int:
    if value is None:
        return default
    if not value.isdecimal() or not 1 <= int(value) <= 1000:
        raise AlertSettingsError(f"{name}={value!r} must be a whole number from 1 to 1000")
    return int(value)


def load_alert_settings(env: Mapping[str, str], has_token: bool, duration) -> AlertSettings:
    """From the environment (values stripped, empty ones left out); ``duration`` reads a duration
    setting as ``bot.config`` does."""
    chat_id = _chat_id(env.get("ALERT_TELEGRAM_CHAT_ID"))
    if chat_id is not None and not has_token:
        raise AlertSettingsError(
            "ALERT_TELEGRAM_CHAT_ID is set but TELEGRAM_BOT_TOKEN is not: alerts go through the bot"
        )
    smtp = _smtp(env.get("SMTP_URL"))
    sender, to = env.get("ALERT_EMAIL_FROM"), env.get("ALERT_EMAIL_TO")
    if smtp is not None and not (sender and to):
        raise AlertSettingsError("SMTP_URL is set: ALERT_EMAIL_FROM and ALERT_EMAIL_TO must be set too")
    if smtp is None and (sender or to):
        raise AlertSettingsError("ALERT_EMAIL_FROM or ALERT_EMAIL_TO is set but SMTP_URL is not: no way to send")
    recipients = tuple(_address("ALERT_EMAIL_TO", a.strip()) for a in (to or "").split(",") if a.strip())
    detail = env.get("ALERT_DETAIL", "minimal").lower()
    if detail not in DETAILS:
        raise AlertSettingsError(f"ALERT_DETAIL={detail!r} must be minimal or topics")
    return AlertSettings(
        events=_events(env.get("ALERT_ON")),
        telegram_chat_id=chat_id,
        smtp=smtp,
        email_from=_address("ALERT_EMAIL_FROM", sender) if sender else None,
        email_to=recipients,
        detail=detail,
        max_attempts=_positive_int("ALERT_MAX_ATTEMPTS", env.get("ALERT_MAX_ATTEMPTS"), 10),
        retry_base=duration("ALERT_RETRY_BASE", env.get("ALERT_RETRY_BASE", "30s")),
    )
