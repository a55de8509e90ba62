"""The clinic API's OpenAPI 3.1 document (read-only; bearer tokens from ``python -m bot token add``)."""

from __future__ import annotations

from typing import Any

from bot.store import Direction, IntakeStatus

_FILTERS = [
    ("status", "in_progress | completed | abandoned | declined"),
    ("outcome", "the ending's id, e.g. routine"),
    ("flag", "a flag id, e.g. pregnancy"),
    ("source", "the /start source, e.g. website"),
    ("since", "started on or after this date (YYYY-MM-DD)"),
    ("until", "started on or before this date (YYYY-MM-DD)"),
    ("q", "search in the Telegram name and username"),
    ("page", "page number, from 1 (25 intakes a page)"),
]


def document() -> dict[str, Any]:
    flag = {
        "type": "object",
        "properties": {"id": {"type": "string"}, "severity": {"type": "string"}, "topic": {"type": "string"}},
    }
    summary = {
        "type": "object",
        "properties": {
            "id": {"type": "integer"},
            "status": {"type": "string", "enum": [s.value for s in IntakeStatus]},
            "outcome": {"type": ["string", "null"]},
            "outcome_topic": {
                "type": ["string", "null"],
                "description": "the ending in words for staff (its topic, else its text's first words)",
            },
            "urgent": {"type": "boolean"},
            "language": {"type": "string"},
            "source": {"type": ["string", "null"]},
            "created_at": {"type": "string", "format": "date-time"},
            "completed_at": {"type": ["string", "null"], "format": "date-time"},
            "flags": {"type": "array", "items": {"$ref": "#/components/schemas/Flag"}},
            "urgent_shown_at": {
                "type": ["string", "null"],
                "format": "date-time",
                "description": "when an urgent text was last shown (null: never)",
            },
            "urgent_pending": {
                "type": "boolean",
                "description": "an urgent text was shown and no member of staff has acknowledged it since",
            },
            "acknowledged_at": {"type": ["string", "null"], "format": "date-time"},
            "acknowledged_by": {"type": ["string", "null"]},
            "urgent_shown": {
                "type": "array",
                "items": {"$ref": "#/components/schemas/UrgentShown"},
                "description": "every urgent text the patient was shown, oldest first; kept when the answer "
                "behind it was changed afterwards",
            },
        },
    }
    urgent_shown = {
        "type": "object",
        "properties": {
            "at": {"type": ["string", "null"], "format": "date-time"},
            "flag": {"type": "string", "description": "the urgent flag's id"},
            "reason": {"type": "string", "description": "the flag's topic, in words"},
            "outcome": {"type": ["string", "null"], "description": "the urgent ending shown"},
            "outcome_topic": {"type": ["string", "null"], "description": "that ending in words, for staff"},
            "answers": {
                "type": "array",
                "description": "the answers that raised the flag: as they were then, and now",
                "items": {
                    "type": "object",
                    "properties": {
                        "question_id": {"type": "string"},
                        "question": {"type": "string"},
                        "value": {},
                        "display": {"type": "string"},
                        "value_now": {"description": "null when the answer was withdrawn (went back, /restart)"},
                        "display_now": {"type": ["string", "null"]},
                        "changed": {"type": "boolean"},
                    },
                },
            },
        },
    }
    answer = {
        "type": "object",
        "properties": {
            "question_id": {"type": "string"},
            "question": {"type": "string"},
            "value": {},
            "display": {
                "type": "string",
                "description": "the answer in words; in answers_not_in_questionnaire, '(no longer in the "
                "questionnaire)': the current flow cannot read it (it was edited after the answer was given), "
                "and its value is as stored",
            },
        },
    }
    line = {
        "type": "object",
        "properties": {
            "direction": {"type": "string", "enum": [d.value for d in Direction]},
            "text": {"type": "string"},
            "at": {"type": "string", "format": "date-time"},
            "screened": {
                "type": "object",
                "description": "only on a patient's message that met a safety screen: which one, and "
                "whether its words were ambiguous (the patient was asked first)",
                "properties": {"screen": {"type": "string"}, "ask_first": {"type": "boolean"}},
            },
        },
    }
    intake = {
        "allOf": [
            {"$ref": "#/components/schemas/IntakeSummary"},
            {
                "type": "object",
                "properties": {
                    "answers": {"type": "array", "items": {"$ref": "#/components/schemas/Answer"}},
                    "answers_not_in_questionnaire": {
                        "type": "array",
                        "description": "answers the current flow cannot read, kept with the patient's words; never "
                        "the current answer to a question (that is in answers)",
                        "items": {"$ref": "#/components/schemas/Answer"},
                    },
                    "transcript": {"type": "array", "items": {"$ref": "#/components/schemas/TranscriptLine"}},
                },
            },
        ]
    }
    unauthorized = {"description": "no or an invalid bearer token"}
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Skin Botox intake: clinic API",
            "version": "1",
            "description": "Read-only access to intakes.",
        },
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "Flag": flag,
                "UrgentShown": urgent_shown,
                "IntakeSummary": summary,
                "Answer": answer,
                "TranscriptLine": line,
                "Intake": intake,
            },
        },
        "security": [{"bearer": []}],
        "paths": {
            "/api/intakes": {
                "get": {
                    "summary": "List intakes with the staff list's filters, in its order: unacknowledged "
                    "urgent intakes first, then requests for a person, then high flags, then the rest; newest "
                    "first within each",
                    "parameters": [
                        {"name": n, "in": "query", "required": False, "description": d, "schema": {"type": "string"}}
                        for n, d in _FILTERS
                    ],
                    "responses": {
                        "200": {
                            "description": "a page of intakes",
                            "content": {
                                "application/json": {
                                    "schema": {
                                        "type": "object",
                                        "properties": {
                                            "total": {"type": "integer"},
                                            "page": {"type": "integer"},
                                            "pages": {"type": "integer"},
                                            "counts": {"type": "object"},
                                            "intakes": {
                                                "type": "array",
                                                "items": {"$ref": "#/components/schemas/IntakeSummary"},
                                            },
                                        },
                                    }
                                }
                            },
                        },
                        "401": unauthorized,
                    },
                }
            },
            "/api/intakes/{intake_id}": {
                "get": {
                    "summary": "One intake with its answers, flags and transcript",
                    "parameters": [
                        {"name": "intake_id", "in": "path", "required": True, "schema": {"type": "integer"}}
                    ],
                    "responses": {
                        "200": {
                            "description": "the intake",
                            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Intake"}}},
                        },
                        "401": unauthorized,
                        "404": {"description": "no such intake (or erased by the patient)"},
                    },
                }
            },
        },
    }
