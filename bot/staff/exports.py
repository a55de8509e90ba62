"""Completed (and other) intakes out of the store: CSV, JSON, and FHIR R4.

Every format says the same things: the intake's status and ending, its flags with their topics,
and each answer with the question as the patient saw it. FHIR puts the flow in a
``Questionnaire`` and each intake in a ``QuestionnaireResponse`` that points to it
(``url|version``); step ids are the ``linkId``s, choice ids the codes, and the ending and flags
travel as extensions, so a clinic's system sees them. Who answered is a ``Patient`` contained in
the response (its ``subject`` and ``source``): the Telegram name, user id and username.

Every urgent ending ever shown travels too (``urgent_shown``: when, the flag, its reason in words,
the ending, and each answer behind it as it was then and as it is now), because a person told to
get help now may go back and change that answer afterwards: staff must still learn it was shown.

Each intake is read with its own flow version's engine (``bot.engine.engines``): an exporter given
the registry hands every per-intake question to the exporter of the intake's version
(``Exporter.own``). The CSV keeps the newest version's question columns (a step id means one thing
in every version: ``validate`` refuses another meaning) and gives, at the end, the intake's version
and the answers of its version to questions the newest one no longer has; the FHIR bundle carries
one Questionnaire per version met, each response pointing at its own (``url|version``).

An answer the flow cannot read (its step was taken out of the flow, retyped, or lost that choice
after the patient answered: set aside in the conversation, or stored before the edit and not
touched since) never stops an export: it is shown as "(no longer in the questionnaire)" with its
stored value, for that intake alone. FHIR leaves it out of the response's items (its ``linkId`` or
its value would not fit the Questionnaire exported beside it) and carries it in an extension.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from typing import Any

import orjson

from bot.engine import Engine, Engines
from bot.flow import model
from bot.flow.graph import answerable, fits
from bot.store import Intake, IntakeStatus, Store, review

FORMATS = ("csv", "json", "fhir")
#: The conversation messages of a batch of intakes, by intake id, as JSON objects.
TalksOf = Callable[[list[int]], dict[int, list[dict[str, Any]]]]
#: The CSV's last columns: the flow version the intake began on, and its answers to questions of
#: that version the newest one (whose questions are the columns) no longer has ("id: answer; ...").
_VERSION = ("flow_version", "answers_of_its_version")
#: How staff pages and every export show an answer the flow cannot read.
NOT_IN_QUESTIONNAIRE = "(no longer in the questionnaire)"
EXTENSION_BASE = "https://skin-botox-intake.invalid/fhir/StructureDefinition"
#: Identifier systems for who answered: Telegram's numeric user id is the ``id`` of the Bot API's
#: ``User`` object (stable for a person); a username is what ``https://t.me/<username>`` opens (a
#: person can change it).
TELEGRAM_USER_ID = "https://core.telegram.org/bots/api#user"
TELEGRAM_USERNAME = "https://t.me"
STATUS_FHIR = {
    IntakeStatus.COMPLETED: "completed",
    IntakeStatus.IN_PROGRESS: "in-progress",
    IntakeStatus.ABANDONED: "stopped",
    IntakeStatus.DECLINED: "stopped",
}


def load_intakes(store: Store, since: datetime | None = None, ids: Iterable[int] | None = None) -> list[Intake]:
    """Intakes to export, in id order (all, those started since ``since``, or these ids)."""
    with store.transaction(read_only=True) as tx:
        return review.intakes_for_export(tx, since, ids)


class Exporter:
    def __init__(self, engine: Engine | Engines, engines: Engines | None = None):
        if isinstance(engine, Engines):
            engine, engines = engine.current, engine
        self.engine = engine
        #: each flow version's engine: an intake is read with its own (None: every one with ``engine``)
        self.engines = engines
        self.flow = engine.flow
        self.lang = self.flow.default_language
        self.questions = [s for s in self.flow.steps if answerable(s)]

    def own(self, intake: Intake) -> Exporter:
        """The exporter of the flow version ``intake`` began on (this one when it is this version's,
        or the version is not known)."""
        if self.engines is None:
            return self
        engine = self.engines.for_intake(intake)
        return self if engine is self.engine else self.engines.part(engine, Exporter)

    # --- shared -------------------------------------------------------------------------------

    def question_text(self, step: Any, lang: str | None = None) -> str:
        if isinstance(step, model.ConsentStep):
            return "Consent to store and use the answers"
        return self.engine.text(step.ask, lang or self.lang)

    def answers(self, intake: Intake) -> Iterator[tuple[Any, Any, str]]:
        """(step, raw value, display) of each question answered, in flow order (skips and answers
        the flow cannot read left out)."""
        if (own := self.own(intake)) is not self:
            yield from own.answers(intake)
            return
        given = intake.state.get("answers", {})
        for step in self.questions:
            value = given.get(step.id)
            if value is not None and fits(step, value):
                yield step, value, self.engine.display(step, value, intake.language)

    def unreadable(self, intake: Intake) -> list[tuple[str, Any]]:
        """(step id, stored value) of each answer the flow cannot read: stored before the flow was
        edited and not touched since, or set aside by the engine (``Conversation.aside``)."""
        if (own := self.own(intake)) is not self:
            return own.unreadable(intake)
        steps = self.engine.steps
        given = intake.state.get("answers", {})
        found = [(q, v) for q, v in given.items() if v is not None and not fits(steps.get(q), v)]
        return found + list((intake.state.get("aside") or {}).items())

    def unreadable_question(self, step_id: str, lang: str | None = None) -> str:
        """The question of an answer the flow cannot read: its words where the step is still a
        question, else its id."""
        step = self.engine.steps.get(step_id)
        return self.question_text(step, lang) if answerable(step) else step_id

    def outcome_topic(self, outcome: str | None, lang: str | None = None) -> str | None:
        """An ending's name for staff (``Engine.outcome_topic``) in the export's language."""
        return self.engine.outcome_topic(outcome, lang or self.lang) if outcome else None

    def flags(self, intake: Intake) -> list[dict[str, str]]:
        if (own := self.own(intake)) is not self:
            return own.flags(intake)
        by_id = {f.id: f for f in self.flow.flags}
        return [
            {"id": f, "severity": by_id[f].severity, "topic": self.engine.text(by_id[f].topic, self.lang)}
            for f in intake.flags
            if f in by_id
        ]

    def urgent_shown(self, intake: Intake, lang: str | None = None) -> list[dict[str, Any]]:
        """Each urgent ending shown (``Conversation.urgent_shown``), oldest first: ``at``, ``flag``,
        ``reason`` (the flag's topic), ``outcome``, and the answers behind it, then and now. Words
        in the export's language, answers in the patient's; with ``lang`` (a staff page), all in it."""
        if (own := self.own(intake)) is not self:
            return own.urgent_shown(intake, lang)
        by_id = {f.id: f for f in self.flow.flags}
        now = intake.state.get("answers", {}) | (intake.state.get("aside") or {})
        shown = []
        for record in intake.state.get("urgent_shown", ()):
            flag = by_id.get(record.get("flag", ""))
            answers = []
            for question_id, value in (record.get("answers") or {}).items():
                current = now.get(question_id)
                answers.append(
                    {
                        "question_id": question_id,
                        "question": self.unreadable_question(question_id, lang),
                        "value": value,
                        "display": self._display(intake, question_id, value, lang),
                        "value_now": current,
                        "display_now": self._display(intake, question_id, current, lang)
                        if current is not None
                        else None,
                        "changed": current != value,
                    }
                )
            shown.append(
                {
                    "at": record.get("at") or None,
                    "flag": record.get("flag"),
                    "reason": self.engine.text(flag.topic, lang or self.lang)
                    if flag is not None
                    else record.get("flag"),
                    "outcome": record.get("outcome"),
                    "outcome_topic": self.outcome_topic(record.get("outcome"), lang),
                    "answers": answers,
                }
            )
        return shown

    def urgent_sentence(self, shown: dict[str, Any]) -> str:
        """One entry of ``urgent_shown`` in words, for staff (in English, times in UTC)."""
        return urgent_sentence(shown)

    def _display(self, intake: Intake, question_id: str, value: Any, lang: str | None = None) -> str:
        step = self.engine.steps.get(question_id)
        if fits(step, value) and value is not None:
            return self.engine.display(step, value, lang or intake.language)
        return stored_words(value)

    def summary(self, intake: Intake) -> dict[str, Any]:
        if (own := self.own(intake)) is not self:
            return own.summary(intake)
        return {
            "id": intake.id,
            "status": intake.status,
            "outcome": intake.outcome,
            "outcome_topic": self.outcome_topic(intake.outcome),
            "urgent": intake.urgent,
            "language": intake.language,
            "source": intake.source,
            "flow": {"id": intake.flow_id, "version": intake.flow_version},
            "consent": {"version": intake.consent_version, "at": _iso(intake.consented_at)},
            "created_at": _iso(intake.created_at),
            "updated_at": _iso(intake.updated_at),
            "completed_at": _iso(intake.completed_at),
            "reviewed_at": _iso(intake.reviewed_at),
            "reviewed_by": intake.reviewed_by,
            "human_requested_at": _iso(intake.human_requested_at),
            # a conversation with the clinic open now, and since when the patient waits for us
            "conversation_open": intake.talk_id is not None,
            "waiting_since": _iso(intake.waiting_since),
            "urgent_shown_at": _iso(intake.urgent_shown_at),
            "urgent_pending": intake.urgent_pending,
            "acknowledged_at": _iso(intake.acknowledged_at),
            "acknowledged_by": intake.acknowledged_by,
            # the booking button (tracked taps only: nothing of the booking site is known)
            "booking": {
                "tapped_at": _iso(intake.booking_tapped_at),
                "taps": intake.booking_taps,
                "nudged_at": _iso(intake.booking_nudged_at),
            },
        }

    # --- JSON ---------------------------------------------------------------------------------

    def to_json(self, intake: Intake) -> dict[str, Any]:
        if (own := self.own(intake)) is not self:
            return own.to_json(intake)
        data = self.summary(intake)
        data["patient"] = {
            "telegram_user_id": intake.user_id,
            "first_name": intake.first_name,
            "last_name": intake.last_name,
            "username": intake.username,
        }
        data["flags"] = self.flags(intake)
        data["urgent_shown"] = self.urgent_shown(intake)
        data["answers"] = [
            {"question_id": step.id, "question": self.question_text(step), "value": value, "display": shown}
            for step, value, shown in self.answers(intake)
        ]
        # A list of their own: a question asked again after an edit has its new answer in "answers";
        # a system that maps answers by question_id must never take the old one for it.
        data["answers_not_in_questionnaire"] = [
            {"question_id": q, "question": self.unreadable_question(q), "value": value, "display": NOT_IN_QUESTIONNAIRE}
            for q, value in self.unreadable(intake)
        ]
        return data

    def json_chunks(self, batches: Iterable[list[Intake]], talks: TalksOf | None = None) -> Iterator[str]:
        """A JSON array of ``to_json`` objects, one batch of intakes per chunk; with ``talks``, each
        with its conversations' messages (``messages``: the patient's words, staff messages)."""
        yield "["
        first = True
        for batch in batches:
            parts = []
            said = talks([i.id for i in batch]) if talks is not None else {}
            for intake in batch:
                data = self.to_json(intake)
                if talks is not None:
                    data["messages"] = said.get(intake.id, [])
                parts.append(("\n" if first else ",\n") + _json(data))
                first = False
            yield "".join(parts)
        yield "\n]\n"

    # --- CSV ----------------------------------------------------------------------------------

    def csv_chunks(self, batches: Iterable[list[Intake]]) -> Iterator[str]:
        """A header row, then one row per intake, one batch per chunk."""
        fixed = [
            "id",
            "status",
            "outcome",
            "urgent",
            "flags",
            "language",
            "source",
            "created_at",
            "completed_at",
            "reviewed_at",
            "consent_version",
        ]
        out = io.StringIO()
        writer = csv.writer(out)
        # Last, so that an import reading columns by position finds the others where they were:
        # the answers the flow cannot read ("id: stored value; ..."), every urgent text shown in
        # words ("urgent text shown at ... | ..."), who the person is on Telegram, so that a row
        # can be matched to a person (the CSV is for staff, like the intake page), then the ending
        # and the flags in words, then the booking button's first tap, taps and the reminder to
        # book (empty where taps are not recorded). A new column only ever goes at the end.
        writer.writerow(
            [
                *fixed,
                *(s.id for s in self.questions),
                "not_in_questionnaire",
                "urgent_shown",
                *_PERSON,
                *_IN_WORDS,
                *_BOOKING,
                *_VERSION,
            ]
        )
        yield out.getvalue()
        for batch in batches:
            out.seek(0)
            out.truncate()
            for intake in batch:
                writer.writerow(self._csv_row(intake))
            yield out.getvalue()

    def _csv_row(self, intake: Intake) -> list[str]:
        """The row in this exporter's columns; the values read with the intake's own version."""
        own = self.own(intake)
        unreadable = own.unreadable(intake)
        answered = list(own.answers(intake))
        shown = {q: NOT_IN_QUESTIONNAIRE for q, _ in unreadable}
        shown |= {step.id: text for step, _, text in answered}
        summary = own.summary(intake)
        row = [
            intake.id,
            intake.status,
            intake.outcome or "",
            "yes" if intake.urgent else "no",
            "; ".join(f["id"] for f in own.flags(intake)),
            intake.language,
            intake.source or "",
            summary["created_at"],
            summary["completed_at"] or "",
            summary["reviewed_at"] or "",
            intake.consent_version or "",
        ]
        row += [shown.get(s.id, "") for s in self.questions]
        row.append("; ".join(f"{q}: {stored_words(value)}" for q, value in unreadable))
        row.append(" | ".join(own.urgent_sentence(entry) for entry in own.urgent_shown(intake)))
        row += [intake.first_name or "", intake.last_name or "", intake.username or "", intake.user_id or ""]
        row.append(summary["outcome_topic"] or "")
        row.append("; ".join(f"{f['severity']}: {f['topic']}" for f in own.flags(intake)))
        booking = summary["booking"]
        row += [booking["tapped_at"] or "", booking["taps"] if intake.booking_token else "", booking["nudged_at"] or ""]
        columns = {s.id for s in self.questions}
        row.append(intake.flow_version)
        row.append("; ".join(f"{step.id}: {text}" for step, _, text in answered if step.id not in columns))
        return [_cell(v) for v in row]

    # --- FHIR R4 ------------------------------------------------------------------------------

    def canonical(self) -> str:
        return self.flow.url or f"urn:skin-botox-intake:questionnaire:{self.flow.id}"

    def questionnaire(self, versioned: bool = False) -> dict[str, Any]:
        """The flow as a FHIR Questionnaire; ``versioned``: an earlier version's, beside the newest
        one's in a bundle (its resource id names its version)."""
        items = []
        for step in self.questions:
            item: dict[str, Any] = {"linkId": step.id, "text": self.question_text(step), "type": _fhir_type(step)}
            item["required"] = not getattr(step, "optional", False)
            if isinstance(step, model.MultiQuestion):
                item["repeats"] = True
            options = self._options(step)
            if options:
                item["answerOption"] = [{"valueCoding": c} for c in options]
            if isinstance(step, model.TextQuestion):
                item["maxLength"] = step.max_length
            items.append(item)
        return {
            "resourceType": "Questionnaire",
            "id": self.flow.id.replace("_", "-") + (f"-{_fhir_id(self.flow.version)}" if versioned else ""),
            "url": self.canonical(),
            "version": self.flow.version,
            "name": "".join(part.capitalize() for part in self.flow.id.split("_")),
            "title": self.engine.text(self.flow.title, self.lang),
            "status": "active",
            "publisher": self.engine.text(self.flow.clinic, self.lang),
            "language": self.lang,
            "item": items,
        }

    def _options(self, step: Any) -> list[dict[str, str]]:
        if isinstance(step, model.YesNoQuestion):
            return []  # a boolean
        labels = self.engine.option_labels(step, self.lang)
        if not labels:
            return []
        system = f"{self.canonical()}/{step.id}"
        return [{"system": system, "code": code, "display": display} for code, display in labels]

    def response(self, intake: Intake) -> dict[str, Any]:
        if (own := self.own(intake)) is not self:
            return own.response(intake)
        items = []
        for step, value, _shown in self.answers(intake):
            items.append({"linkId": step.id, "text": self.question_text(step), "answer": self._answer(step, value)})
        extensions: list[dict[str, Any]] = []
        if intake.outcome:
            extensions.append(
                {
                    "url": f"{EXTENSION_BASE}/intake-outcome",
                    "valueCoding": {"code": intake.outcome, "display": self.outcome_topic(intake.outcome)},
                }
            )
        for step_id, value in self.unreadable(intake):
            # Not an item: its linkId or its value would not fit the Questionnaire beside it.
            extensions.append(
                {
                    "url": f"{EXTENSION_BASE}/intake-answer-not-in-questionnaire",
                    "extension": [
                        {"url": "linkId", "valueString": step_id},
                        {"url": "value", "valueString": stored_words(value)},
                    ],
                }
            )
        extensions += [self._urgent_extension(shown) for shown in self.urgent_shown(intake)]
        for flag in self.flags(intake):
            extensions.append(
                {
                    "url": f"{EXTENSION_BASE}/intake-flag",
                    "extension": [
                        {"url": "code", "valueCode": flag["id"]},
                        {"url": "severity", "valueCode": flag["severity"]},
                        {"url": "topic", "valueString": flag["topic"]},
                    ],
                }
            )
        resource: dict[str, Any] = {"resourceType": "QuestionnaireResponse", "id": f"intake-{intake.id}"}
        patient = self.patient(intake)
        if patient is not None:
            resource["contained"] = [patient]
        if extensions:
            resource["extension"] = extensions
        resource["questionnaire"] = f"{self.canonical()}|{intake.flow_version}"
        resource["status"] = STATUS_FHIR.get(intake.status, "in-progress")
        if patient is not None:
            # The patient answered for themself: the response is about them and from them.
            resource["subject"] = {"reference": f"#{patient['id']}"}
        resource["authored"] = _iso(intake.completed_at or intake.updated_at)
        if patient is not None:
            resource["source"] = {"reference": f"#{patient['id']}"}
        if items:
            resource["item"] = items
        return resource

    def patient(self, intake: Intake) -> dict[str, Any] | None:
        """Who answered, as a ``Patient`` contained in their response (the clinic's system matches
        it to its own record): the name they gave Telegram, and their Telegram user id and
        username as identifiers. None when the intake knows nobody (never on Telegram)."""
        identifiers = []
        if intake.user_id is not None:
            identifiers.append(
                {"type": {"text": "Telegram user id"}, "system": TELEGRAM_USER_ID, "value": str(intake.user_id)}
            )
        if intake.username:
            identifiers.append(
                {"type": {"text": "Telegram username"}, "system": TELEGRAM_USERNAME, "value": intake.username}
            )
        names = [n for n in (intake.first_name, intake.last_name) if n]
        if not identifiers and not names:
            return None
        patient: dict[str, Any] = {"resourceType": "Patient", "id": "patient"}
        if identifiers:
            patient["identifier"] = identifiers
        if names:
            name: dict[str, Any] = {"text": " ".join(names)}
            if intake.last_name:
                name["family"] = intake.last_name
            if intake.first_name:
                name["given"] = [intake.first_name]
            patient["name"] = [name]
        return patient

    def _urgent_extension(self, shown: dict[str, Any]) -> dict[str, Any]:
        """An urgent ending shown, as a complex extension: when, the flag, why, the ending, and
        each answer behind it (its value then, and what it was changed to, if it was)."""
        parts: list[dict[str, Any]] = []
        if shown["at"]:
            parts.append({"url": "at", "valueDateTime": shown["at"]})
        parts.append({"url": "flag", "valueCode": shown["flag"]})
        parts.append({"url": "reason", "valueString": shown["reason"]})
        if shown["outcome"]:
            parts.append({"url": "outcome", "valueCode": shown["outcome"]})
        for answer in shown["answers"]:
            inner = [
                {"url": "linkId", "valueString": answer["question_id"]},
                {"url": "value", "valueString": answer["display"]},
            ]
            if answer["changed"]:
                inner.append({"url": "valueNow", "valueString": answer["display_now"] or "(withdrawn)"})
            parts.append({"url": "answer", "extension": inner})
        return {"url": f"{EXTENSION_BASE}/intake-urgent-shown", "extension": parts}

    def _answer(self, step: Any, value: Any) -> list[dict[str, Any]]:
        if isinstance(step, model.YesNoQuestion):
            return [{"valueBoolean": value == "yes"}]
        if isinstance(step, model.NumberQuestion):
            return [{"valueInteger": int(value)} if step.integer else {"valueDecimal": float(value)}]
        if isinstance(step, model.TextQuestion):
            return [{"valueString": str(value)}]
        options = {c["code"]: c for c in self._options(step)}
        values = value if isinstance(value, list) else [value]
        return [{"valueCoding": options[str(v)]} for v in values if str(v) in options]

    def fhir_chunks(self, batches: Iterable[list[Intake]]) -> Iterator[str]:
        """A FHIR Bundle (collection): the Questionnaire, then a QuestionnaireResponse per intake."""
        head = {"fullUrl": self.canonical(), "resource": self.questionnaire()}
        yield '{"resourceType": "Bundle", "type": "collection", "entry": [\n' + _json(head)
        met = {id(self)}  # the versions whose Questionnaire is in the bundle: each once, before its first response
        for batch in batches:
            parts = []
            for intake in batch:
                own = self.own(intake)
                if id(own) not in met:
                    met.add(id(own))
                    entry = {"fullUrl": own.version_url(), "resource": own.questionnaire(versioned=True)}
                    parts.append(",\n" + _json(entry))
                entry = {"fullUrl": f"urn:uuid:intake-{intake.id}", "resource": own.response(intake)}
                parts.append(",\n" + _json(entry))
            yield "".join(parts)
        yield "\n]}\n"

    def version_url(self) -> str:
        """A bundle entry's address for this version's Questionnaire beside the newest one's."""
        return f"urn:skin-botox-intake:questionnaire:{self.flow.id}:{self.engine.hash or self.flow.version}"

    def chunks(self, fmt: str, batches: Iterable[list[Intake]], talks: TalksOf | None = None) -> Iterator[str]:
        """The export in ``fmt`` (csv, json or fhir), written a batch of intakes at a time, so that
        an export of 100,000 intakes never holds them all (nor the whole document) in memory.
        ``talks`` reads a batch's conversation messages (JSON only)."""
        if fmt == "csv":
            return self.csv_chunks(batches)
        if fmt == "json":
            return self.json_chunks(batches, talks)
        return self.fhir_chunks(batches)


def _fhir_id(text: str) -> str:
    """``text`` in the letters a FHIR id may have."""
    return "".join(c if c.isascii() and (c.isalnum() or c in "-.") else "-" for c in text)[:30]


def stored_words(value: Any) -> str:
    """A stored value as it is (a choice id, a number, the words typed), for an answer the flow
    cannot put in words any more."""
    return ", ".join(map(str, value)) if isinstance(value, list) else str(value)


def _fhir_type(step: Any) -> str:
    if isinstance(step, model.YesNoQuestion):
        return "boolean"
    if isinstance(step, model.NumberQuestion):
        return "integer" if step.integer else "decimal"
    if isinstance(step, model.TextQuestion):
        return "text"
    return "choice"


def _json(value: Any) -> str:
    """Indented JSON with UTF-8 as it is (orjson: the json module's indenting encoder is pure Python,
    some twenty times slower, and an export is most of the work on the staff threads)."""
    return orjson.dumps(value, option=orjson.OPT_INDENT_2).decode()


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


#: The CSV's columns after the answers: the person on Telegram, then the ending and the flags in
#: words ("high: Pregnancy ...; review: ...").
_PERSON = ("first_name", "last_name", "username", "telegram_user_id")
_IN_WORDS = ("outcome_topic", "flag_topics")
_BOOKING = ("booking_tapped_at", "booking_taps", "booking_nudged_at")


def _cell(value: Any) -> str:
    """A CSV cell that a spreadsheet will not run as a formula (CSV injection)."""
    text = str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def utc_minute(at: datetime) -> str:
    return at.strftime("%Y-%m-%d %H:%M UTC")


def urgent_sentence(
    shown: dict[str, Any], gettext: Callable[[str], str] = str, when: Callable[[datetime], str] = utc_minute
) -> str:
    """One entry of ``urgent_shown`` in words: "urgent text shown at 2026-12-05 10:32 UTC (reason);
    answer later changed to No". The exports' English by default; a page or a PDF passes its
    language's ``gettext`` and its clock (``when``)."""
    at = when(datetime.fromisoformat(shown["at"])) if shown["at"] else gettext("an unknown time")
    sentence = gettext("urgent text shown at %(at)s (%(reason)s)") % {"at": at, "reason": shown["reason"]}
    for answer in (a for a in shown["answers"] if a["changed"]):
        if len(shown["answers"]) == 1:
            which = gettext("answer")
        else:
            which = gettext("answer to “%(question)s”") % {"question": answer["question"]}
        if answer["display_now"] is None:
            sentence += "; " + gettext("%(which)s later withdrawn") % {"which": which}
        else:
            change = gettext("%(which)s later changed to %(now)s")
            sentence += "; " + change % {"which": which, "now": answer["display_now"]}
    return sentence
