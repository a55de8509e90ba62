"""Settings from the environment and an optional ``.env`` file, as one typed object."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from dotenv import load_dotenv

DEFAULT_FLOW = "flows/skin_botox.yaml"


@dataclass(frozen=True)
class Settings:
    flow_path: str
    telegram_token: str | None


def load_settings(env_file: str | Path | None = ".env") -> Settings:
    """Read settings; variables already in the environment win over the ``.env`` file."""
    if env_file is not None and Path(env_file).is_file():
        load_dotenv(env_file, override=False)
    return Settings(
        flow_path=os.environ.get("FLOW_PATH") or DEFAULT_FLOW,
        telegram_token=os.environ.get("TELEGRAM_BOT_TOKEN") or None,
    )
