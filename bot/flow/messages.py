"""The interface's own words (buttons, corrections): shipped defaults, overridable per flow."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from bot.flow import model

_FILE = Path(__file__).with_name("messages.yaml")
DEFAULT_MESSAGES: dict[str, dict[str, str]] = yaml.safe_load(_FILE.read_text(encoding="utf-8"))
_PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")


def placeholders(text: str) -> set[str]:
    return set(_PLACEHOLDER.findall(text))


def messages_for(flow: model.Flow) -> dict[str, dict[str, str]]:
    """language -> key -> text, with the flow's overrides over the shipped defaults."""
    result: dict[str, dict[str, str]] = {}
    for lang in flow.languages:
        base = DEFAULT_MESSAGES.get(lang, DEFAULT_MESSAGES["en"])
        table = dict(base)
        for key, value in flow.messages.items():
            if isinstance(value, str):
                table[key] = value
            elif lang in value:
                table[key] = value[lang]
        result[lang] = table
    return result
