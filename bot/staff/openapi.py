"""The clinic API's OpenAPI 3.1 document (bearer tokens from ``python -m bot token add``; writing a
message to a patient needs a token made with ``--scope read,message``)."""

from __future__ import annotations

from typing import Any

from bot.store import Direction, IntakeStatus

_FILTERS = [
    ("status", "in_progress | completed | abandoned | declined"),
    ("outcome", "the ending's id, e.g. routine"),
    ("flag", "a flag id, e.g. pregnancy"),
    ("source", "the /start source, e.g. website"),
    ("since", "started on or after this date (YYYY-MM-DD, a day in the clinic's CLINIC_TIMEZONE)"),
    ("until", "started on or before this date (YYYY-MM-DD, a day in the clinic's CLINIC_TIMEZONE)"),
    ("q", "search in the name, @username, and a phone number or e-mail typed in the answers "
     "(case and accents ignored)"),
    ("review", "reviewed | unreviewed"),
    ("acknowledged", "1: urgent intakes someone acknowledged"),
    ("waiting", "1: a patient waiting for an answer from the clinic"),
    ("follow_up", "called_back | booked | no_answer"),
    ("booking", "tapped: the booking button was tapped | not_tapped: shown (tracked) and not tapped"),
    ("sort", "date (newest first, the default) | severity (gravest first, then newest)"),
    ("after", "the `next` of the answer before: the page after it (same filters and sort)"),
    ("limit", "intakes in the answer, 1 to 100 (default 25)"),
]  # fmt: skip


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
            "conversation_open": {
                "type": "boolean",
                "description": "a conversation with the clinic is open (what the patient types goes to staff)",
            },
            "waiting_since": {
                "type": ["string", "null"],
                "format": "date-time",
                "description": "the oldest patient message (or /human) the clinic has not answered yet",
            },
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
            "booking": {
                "type": "object",
                "description": "the booking button's taps, noted by PUBLIC_URL/b/<token> (nothing of the "
                "booking site), and the one reminder to book (BOOKING_NUDGE_AFTER)",
                "properties": {
                    "tapped_at": {"type": ["string", "null"], "format": "date-time"},
                    "taps": {"type": "integer"},
                    "nudged_at": {"type": ["string", "null"], "format": "date-time"},
                },
            },
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
            "sender": {"type": "string", "description": "only on a message written by staff: who wrote it"},
        },
    }
    talk_message = {
        "type": "object",
        "properties": {
            "id": {"type": "integer", "description": "grows with every message: ask for ?after= the last one seen"},
            "talk": {"type": "integer", "description": "the conversation it belongs to"},
            "from": {"type": "string", "enum": ["patient", "staff"]},
            "sender": {"type": ["string", "null"], "description": "a staff message's sender (display name or token)"},
            "text": {"type": "string", "description": "as the patient wrote it, or read it (signed)"},
            "at": {"type": "string", "format": "date-time"},
            "state": {
                "type": "string",
                "enum": ["received", "queued", "sent", "failed"],
                "description": "received: the patient's; queued: stored, not sent yet; sent; failed: given up",
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
            "description": "Read intakes; with a token that has the message scope, write to a patient.",
        },
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "Flag": flag,
                "UrgentShown": urgent_shown,
                "IntakeSummary": summary,
                "Answer": answer,
                "TranscriptLine": line,
                "TalkMessage": talk_message,
                "Intake": intake,
            },
        },
        "security": [{"bearer": []}],
        "paths": {
            "/api/intakes": {
                "get": {
                    "summary": "List intakes with the staff list's filters, newest (or gravest) first, "
                    "a page at a time: follow `next` (as `after`) until it is null",
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
                                            "total": {
                                                "type": "integer",
                                                "description": "how many match, counted up to 1,000",
                                            },
                                            "total_is_lower_bound": {
                                                "type": "boolean",
                                                "description": "true: more than 1,000 match",
                                            },
                                            "counts": {
                                                "type": "object",
                                                "description": "intakes per status, each up to 1,000 "
                                                "(only when no filter is given)",
                                            },
                                            "next": {
                                                "type": ["string", "null"],
                                                "description": "pass as `after` for the next page; null on the last",
                                            },
                                            "intakes": {
                                                "type": "array",
                                                "items": {"$ref": "#/components/schemas/IntakeSummary"},
                                            },
                                        },
                                    }
                                }
                            },
                        },
                        "400": {"description": "a `page`, `after` or `limit` that cannot be read"},
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
            "/api/intakes/{intake_id}.pdf": {
                "get": {
                    "summary": "The intake as a PDF for the patient's chart, with the consent receipt (an audit line)",
                    "parameters": [
                        {"name": "intake_id", "in": "path", "required": True, "schema": {"type": "integer"}}
                    ],
                    "responses": {
                        "200": {
                            "description": "the PDF",
                            "content": {"application/pdf": {"schema": {"type": "string", "format": "binary"}}},
                        },
                        "401": unauthorized,
                        "404": {"description": "no such intake (or erased by the patient)"},
                    },
                }
            },
            "/api/intakes/{intake_id}/messages": {
                "parameters": [{"name": "intake_id", "in": "path", "required": True, "schema": {"type": "integer"}}],
                "get": {
                    "summary": "The messages of the intake's conversations with the clinic, oldest first",
                    "parameters": [
                        {
                            "name": "after",
                            "in": "query",
                            "required": False,
                            "description": "only messages with a higher id (what came since)",
                            "schema": {"type": "integer", "minimum": 0},
                        }
                    ],
                    "responses": {
                        "200": {
                            "description": "the messages",
                            "content": {
                                "application/json": {
                                    "schema": {
                                        "type": "object",
                                        "properties": {
                                            "messages": {
                                                "type": "array",
                                                "items": {"$ref": "#/components/schemas/TalkMessage"},
                                            }
                                        },
                                    }
                                }
                            },
                        },
                        "400": {"description": "after is not a whole number"},
                        "401": unauthorized,
                        "404": {"description": "no such intake (or erased by the patient)"},
                    },
                },
                "post": {
                    "summary": "Write to the patient in the bot's Telegram chat (opens a conversation if none is "
                    "open); stored, then sent in order with the bot's replies, signed with the clinic's name. "
                    "Needs a token with the message scope",
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "required": ["text"],
                                    "properties": {"text": {"type": "string", "minLength": 1, "maxLength": 4096}},
                                }
                            }
                        },
                    },
                    "responses": {
                        "201": {
                            "description": "stored, to be sent",
                            "content": {
                                "application/json": {
                                    "schema": {
                                        "type": "object",
                                        "properties": {"id": {"type": "integer"}, "state": {"const": "queued"}},
                                    }
                                }
                            },
                        },
                        "400": {"description": "no text, or too long for one Telegram message once signed"},
                        "401": unauthorized,
                        "403": {"description": "the token has no message scope (tokens are read-only by default)"},
                        "404": {"description": "no such intake (or erased by the patient)"},
                        "429": {"description": "too many messages in a minute from this token"},
                    },
                },
            },
        },
    }
