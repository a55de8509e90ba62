"""Shared fixtures: flows loaded once, and an engine per flow."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.engine import Engine
from bot.flow import load_checked

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_FLOW = ROOT / "flows" / "skin_botox.yaml"
ALL_TYPES_FLOW = ROOT / "tests" / "flows" / "all_types.yaml"


@pytest.fixture(scope="session")
def all_types() -> Engine:
    return Engine(load_checked(ALL_TYPES_FLOW))


@pytest.fixture(scope="session")
def skin() -> Engine:
    return Engine(load_checked(DEFAULT_FLOW))
