"""The flow format's JSON Schema, generated from the models (so it cannot drift from the loader)."""

from __future__ import annotations

from typing import Any

from bot.flow.model import Flow


def flow_schema() -> dict[str, Any]:
    schema = Flow.model_json_schema(by_alias=True)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "Skin Botox intake flow",
        "description": "A clinic's questionnaire for the intake bot; see flows/README.md.",
        **{k: v for k, v in schema.items() if k != "title"},
    }
