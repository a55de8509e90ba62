"""Settings from the environment and an optional ``.env`` file, as one typed object.

Every setting is listed, with its default, in ``.env.example``. A malformed value stops start-up
with one clear line (``SettingsError``), never a traceback.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dotenv import load_dotenv

from bot.alerts.settings import AlertSettings, AlertSettingsError, load_alert_settings
from bot.errors import UserError

DEFAULT_FLOW = "flows/skin_botox.yaml"
DEFAULT_DATABASE = "sqlite:///data/intake.db"
_TOKEN = re.compile(r"^\d{3,}:[A-Za-z0-9_-]{30,}$")
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d)?\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, None: 1}


class SettingsError(UserError):
    """A setting is present but unusable."""

    exit_code = 2


#: Days an intake is kept after its last activity when RETENTION_DAYS is not set: health data is
#: kept no longer than needed, so the product erases by default; a clinic may set its own period.
DEFAULT_RETENTION_DAYS = 365
#: A staff session ends after this long without a request, and this long after its login at the
#: latest: NIST SP 800-63B (AAL2) asks for a new login after 30 minutes of inactivity and every
#: 12 hours, about one working day. A screen left open at reception shows health data.
DEFAULT_SESSION_IDLE_MINUTES = 30
DEFAULT_SESSION_MAX_HOURS = 12


@dataclass(frozen=True)
class Settings:
    flow_path: str = DEFAULT_FLOW
    telegram_token: str | None = None
    telegram_base_url: str | None = None
    database_url: str = DEFAULT_DATABASE
    webhook_url: str | None = None
    webhook_secret: str | None = None
    webhook_listen: str = "0.0.0.0"
    webhook_port: int = 8443
    remind_after: float = 24 * 3600.0
    abandon_after: float = 7 * 86400.0
    chat_rate: float = 1.0
    #: messages a second for the bot as a whole (Telegram's ~30), across every worker
    bot_rate: float = 30.0
    log_level: str = "INFO"
    #: LOG_FORMAT: text (a line a record, for people) or json (an object a line, for a collector)
    log_format: str = "text"
    #: METRICS_TOKEN: /metrics answers a request bearing it (None: /metrics is off, a 404)
    metrics_token: str | None = None
    #: OPS_LISTEN:OPS_PORT: a small server of /healthz, /readyz and /metrics for `run` in polling
    #: mode, which has no HTTP server otherwise (None: none)
    ops_listen: str = "127.0.0.1"
    ops_port: int | None = None
    clinic_webhook_url: str | None = None
    clinic_webhook_secret: str | None = None
    clinic_webhook_max_attempts: int = 10
    clinic_webhook_retry_base: float = 30.0
    secret_key: str | None = None
    web_listen: str = "127.0.0.1"
    web_port: int = 8000
    public_url: str | None = None
    # Proxies whose X-Forwarded-For is believed (uvicorn's setting): the client's address counts
    # failed logins, and a header from anyone else could claim any address.
    forwarded_allow_ips: str = "127.0.0.1,::1"
    retention_days: int | None = DEFAULT_RETENTION_DAYS
    staff_session_idle_minutes: int = DEFAULT_SESSION_IDLE_MINUTES
    staff_session_max_hours: int = DEFAULT_SESSION_MAX_HOURS
    #: the clinic's time zone: every time on the staff pages, and the days their date filters mean
    clinic_timezone: ZoneInfo = field(default_factory=lambda: ZoneInfo("UTC"))
    #: staff alerts: which events, to which channels (bot.alerts.settings)
    alerts: AlertSettings = field(default_factory=AlertSettings)
    #: BOOKING_TRACKING: the booking button opens PUBLIC_URL/b/<token>, which notes the tap (with
    #: a PUBLIC_URL); off: it opens the booking page directly and nothing is stored
    booking_tracking: bool = True
    #: BOOKING_NUDGE_AFTER: one reminder to book this long after an ending with a booking button
    #: that was not tapped (None: off, the default)
    booking_nudge_after: float | None = None

    @property
    def booking_tap_base(self) -> str | None:
        """Where tracked booking addresses begin (PUBLIC_URL); None: taps are not recorded."""
        return self.public_url if self.booking_tracking and self.public_url else None

    def check_token(self) -> str:
        """The bot token, or SettingsError saying what is wrong with it."""
        token = self.telegram_token
        if not token:
            raise SettingsError("TELEGRAM_BOT_TOKEN is not set: get a token from @BotFather and put it in .env")
        if not _TOKEN.match(token):
            raise SettingsError(
                "TELEGRAM_BOT_TOKEN does not look like a bot token (expected digits, a colon, then 30+ "
                "letters, digits, - or _)"
            )
        return token


def duration(name: str, value: str) -> float:
    """'90' or '90s', '30m', '24h', '7d' -> seconds."""
    match = _DURATION.match(value)
    if not match:
        raise SettingsError(f"{name}={value!r} is not a duration such as 90s, 30m, 24h or 7d")
    return float(match.group(1)) * _UNITS[match.group(2)]


def _port(name: str, value: str) -> int:
    try:
        port = int(value)
    except ValueError:
        raise SettingsError(f"{name}={value!r} is not a port number") from None
    if not 0 < port < 65536:
        raise SettingsError(f"{name}={port} is not a port number")
    return port


def _chat_rate(value: str, name: str = "TELEGRAM_CHAT_RATE", example: str = "1") -> float:
    """Messages per second: a positive, finite number (the pacer divides by it)."""
    try:
        rate = float(value)
    except ValueError:
        rate = math.nan
    if not (math.isfinite(rate) and rate > 0):
        raise SettingsError(f"{name}={value!r} must be a number of messages per second above 0, such as {example}")
    return rate


def _webhook_url(value: str | None, base_url: str | None) -> str | None:
    """WEBHOOK_URL: https, which Telegram insists on. Plain http only for a self-hosted Bot API
    server (TELEGRAM_BASE_URL), which accepts it when run with --local (the tests' fake does)."""
    if value is None:
        return None
    if value.startswith("https://") or (base_url and value.startswith("http://")):
        return value
    raise SettingsError(
        f"WEBHOOK_URL={value!r} must start with https:// (Telegram delivers updates only over HTTPS; "
        "plain http:// is accepted only with a self-hosted Bot API server in TELEGRAM_BASE_URL)"
    )


def _log_level(value: str) -> str:
    level = value.upper()
    if level not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):  # logging would raise on it
        raise SettingsError(f"LOG_LEVEL={value!r} must be DEBUG, INFO, WARNING or ERROR")
    return level


def _log_format(value: str) -> str:
    if value.lower() not in ("text", "json"):
        raise SettingsError(f"LOG_FORMAT={value!r} must be text or json")
    return value.lower()


def _metrics_token(value: str | None) -> str | None:
    """METRICS_TOKEN: long enough not to be guessed (the endpoint is unauthenticated otherwise)."""
    if value is not None and len(value) < 16:
        raise SettingsError(
            "METRICS_TOKEN must be at least 16 characters (make one: python -c "
            "'import secrets; print(secrets.token_urlsafe(32))')"
        )
    return value


def _retention(value: str | None) -> int | None:
    """RETENTION_DAYS: a number of days, or ``off`` to keep intakes until they are deleted."""
    if value is None:
        return DEFAULT_RETENTION_DAYS
    if value.lower() == "off":
        return None
    if not value.isdecimal() or int(value) < 1:  # isdigit() would let "²" through to int()
        raise SettingsError(f"RETENTION_DAYS={value!r} must be a whole number of days (1 or more), or off")
    return int(value)


def _on_off(name: str, value: str | None, default: bool) -> bool:
    if value is None:
        return default
    if value.lower() in ("on", "true", "yes", "1"):
        return True
    if value.lower() in ("off", "false", "no", "0"):
        return False
    raise SettingsError(f"{name}={value!r} must be on or off")


def _nudge_after(value: str | None) -> float | None:
    """BOOKING_NUDGE_AFTER: a duration (24h, 2d), or off (the default)."""
    if value is None or value.lower() == "off":
        return None
    seconds = duration("BOOKING_NUDGE_AFTER", value)
    if seconds <= 0:
        raise SettingsError(f"BOOKING_NUDGE_AFTER={value!r} must be longer than 0 (or off)")
    return seconds


def _whole(name: str, value: str | None, default: int, most: int) -> int:
    """A whole number from 1 to ``most``, or the default when unset."""
    if value is None:
        return default
    if not value.isdecimal() or not 1 <= int(value) <= most:
        raise SettingsError(f"{name}={value!r} must be a whole number from 1 to {most}")
    return int(value)


def _zone(value: str) -> ZoneInfo:
    """An IANA time zone (zone data from the system, else the ``tzdata`` package)."""
    try:
        return ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a folder of zones ("Europe")
        raise SettingsError(
            f"CLINIC_TIMEZONE={value!r} is not an IANA time zone name such as Europe/Berlin, America/New_York or UTC"
        ) from None


def _private_link(url: str) -> bool:
    """https anywhere, or plain http to this machine only (nothing crosses a network unencrypted)."""
    if url.startswith("https://"):
        return True
    host = urlparse(url).hostname if url.startswith("http://") else None
    return host in ("localhost", "127.0.0.1", "::1")


def load_settings(env_file: str | Path | None = ".env") -> Settings:
    """Read settings; variables already in the environment win over the ``.env`` file."""
    if env_file is not None and Path(env_file).is_file():
        load_dotenv(env_file, override=False)
    env = {k: v.strip() for k, v in os.environ.items() if v.strip()}
    webhook_url = _webhook_url(env.get("WEBHOOK_URL"), env.get("TELEGRAM_BASE_URL"))
    secret = env.get("WEBHOOK_SECRET")
    if secret and not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", secret):
        raise SettingsError("WEBHOOK_SECRET may hold only letters, digits, _ and - (1 to 256 of them)")
    clinic_url = env.get("CLINIC_WEBHOOK_URL")
    if clinic_url and not _private_link(clinic_url):
        raise SettingsError(
            f"CLINIC_WEBHOOK_URL={clinic_url!r} must start with https:// (plain http only to this machine, "
            "such as http://127.0.0.1:9000/intake): completed intakes are health data"
        )
    if clinic_url and len(env.get("CLINIC_WEBHOOK_SECRET", "")) < 16:
        raise SettingsError("CLINIC_WEBHOOK_URL is set: CLINIC_WEBHOOK_SECRET must be at least 16 characters")
    try:
        max_attempts = int(env.get("CLINIC_WEBHOOK_MAX_ATTEMPTS", "10"))
    except ValueError:
        raise SettingsError("CLINIC_WEBHOOK_MAX_ATTEMPTS must be a whole number") from None
    try:
        alerts = load_alert_settings(env, has_token=bool(env.get("TELEGRAM_BOT_TOKEN")), duration=duration)
    except AlertSettingsError as err:
        raise SettingsError(str(err)) from None
    settings = Settings(
        flow_path=env.get("FLOW_PATH", DEFAULT_FLOW),
        telegram_token=env.get("TELEGRAM_BOT_TOKEN"),
        telegram_base_url=env.get("TELEGRAM_BASE_URL"),
        database_url=env.get("DATABASE_URL", DEFAULT_DATABASE),
        webhook_url=webhook_url,
        webhook_secret=secret,
        webhook_listen=env.get("WEBHOOK_LISTEN", "0.0.0.0"),
        webhook_port=_port("WEBHOOK_PORT", env.get("WEBHOOK_PORT", "8443")),
        remind_after=duration("REMIND_AFTER", env.get("REMIND_AFTER", "24h")),
        abandon_after=duration("ABANDON_AFTER", env.get("ABANDON_AFTER", "7d")),
        chat_rate=_chat_rate(env.get("TELEGRAM_CHAT_RATE", "1")),
        bot_rate=_chat_rate(env.get("TELEGRAM_BOT_RATE", "30"), "TELEGRAM_BOT_RATE", "30"),
        log_level=_log_level(env.get("LOG_LEVEL", "INFO")),
        log_format=_log_format(env.get("LOG_FORMAT", "text")),
        metrics_token=_metrics_token(env.get("METRICS_TOKEN")),
        ops_listen=env.get("OPS_LISTEN", "127.0.0.1"),
        ops_port=_port("OPS_PORT", env["OPS_PORT"]) if "OPS_PORT" in env else None,
        clinic_webhook_url=clinic_url,
        clinic_webhook_secret=env.get("CLINIC_WEBHOOK_SECRET"),
        clinic_webhook_max_attempts=max(1, max_attempts),
        clinic_webhook_retry_base=duration("CLINIC_WEBHOOK_RETRY_BASE", env.get("CLINIC_WEBHOOK_RETRY_BASE", "30s")),
        secret_key=env.get("SECRET_KEY"),
        web_listen=env.get("WEB_LISTEN", "127.0.0.1"),
        web_port=_port("WEB_PORT", env.get("WEB_PORT", "8000")),
        public_url=env.get("PUBLIC_URL"),
        forwarded_allow_ips=env.get("FORWARDED_ALLOW_IPS", "127.0.0.1,::1"),
        retention_days=_retention(env.get("RETENTION_DAYS")),
        staff_session_idle_minutes=_whole(
            "STAFF_SESSION_IDLE_MINUTES", env.get("STAFF_SESSION_IDLE_MINUTES"), DEFAULT_SESSION_IDLE_MINUTES, 24 * 60
        ),
        staff_session_max_hours=_whole(
            "STAFF_SESSION_MAX_HOURS", env.get("STAFF_SESSION_MAX_HOURS"), DEFAULT_SESSION_MAX_HOURS, 7 * 24
        ),
        clinic_timezone=_zone(env.get("CLINIC_TIMEZONE", "UTC")),
        alerts=alerts,
        booking_tracking=_on_off("BOOKING_TRACKING", env.get("BOOKING_TRACKING"), True),
        booking_nudge_after=_nudge_after(env.get("BOOKING_NUDGE_AFTER")),
    )
    if settings.booking_nudge_after is not None and settings.booking_tap_base is None:
        raise SettingsError(
            "BOOKING_NUDGE_AFTER needs booking taps recorded (PUBLIC_URL set, BOOKING_TRACKING not off): "
            "without them the reminder would also reach people who have booked"
        )
    if settings.webhook_url and not settings.webhook_secret:
        raise SettingsError("WEBHOOK_URL is set but WEBHOOK_SECRET is not: set a secret so forged updates are refused")
    return settings
