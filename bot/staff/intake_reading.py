"""What the intake page reads of an intake, in words: its answers by section with the flags each
raised, the transcript as shown (long information texts folded, ticks as ticked), which message
met a safety screen, and an urgent text's sentence, in the reader's language.

Kept apart from ``web.py`` (routes, guards, rendering): this part knows the flow and the
transcript, not HTTP.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from babel.support import NullTranslations

from bot.engine import Engine
from bot.flow import model
from bot.staff.exports import Exporter, stored_words, urgent_sentence

#: How the transcript records a tick of a multiple-choice question: what the press did, "☑ label"
#: ticked, "☐ label" unticked (the Telegram channel's marks, ``render.CHECKED``/``UNCHECKED``:
#: the staff app reads the transcript and imports no channel; a test keeps the two the same).
CHECKED, UNCHECKED = "☑ ", "☐ "


class IntakeReading:
    """The flow's words for one intake's page; ``when`` shows a stored time on the clinic's clock."""

    def __init__(self, engine: Engine, exporter: Exporter, when: Callable[..., str]):
        self.engine = engine
        self.exporter = exporter
        self.when = when

    def flag_names(self, lang: str | None = None) -> dict[str, str]:
        """Each flag's topic for staff, in ``lang`` (the flow's default language without one)."""
        lang = lang or self.engine.flow.default_language
        return {f.id: self.engine.text(f.topic, lang) for f in self.engine.flow.flags}

    def screens(self, lang: str | None = None) -> dict[str, dict[str, str]]:
        """Each safety screen's name for staff: its flag's topic and severity."""
        names = self.flag_names(lang)
        severity = {f.id: f.severity for f in self.engine.flow.flags}
        return {
            s.id: {"topic": names.get(s.flag, s.flag), "severity": severity.get(s.flag, "")}
            for s in self.engine.flow.safety
        }

    def screened_lines(self, transcript: list[Any]) -> dict[str, dict[str, Any]]:
        """For each flag a safety screen raised, the first message that raised it (its number in
        the transcript, from 1, and its time): the flag list links to it."""
        flag_of = {s.id: s.flag for s in self.engine.flow.safety}
        found: dict[str, dict[str, Any]] = {}
        for number, line in enumerate(transcript, 1):
            screened = line.screened
            if screened and not screened.get("ask_first") and screened.get("screen") in flag_of:
                found.setdefault(flag_of[screened["screen"]], {"number": number, "at": line.at})
        return found

    @functools.cached_property
    def folded_texts(self) -> dict[str, str]:
        """The start of each long text the bot shows as information (the welcome, the consent
        text, "what to expect", and the summary, which repeats the answers), in every flow
        language: the transcript folds a message that begins so. The text's kind by its start."""
        flow = self.engine.flow
        texts: list[tuple[str, Any]] = []
        if flow.steps and isinstance(flow.steps[0], model.InfoStep):
            texts.append(("welcome", flow.steps[0].text))
        texts += [("consent", s.text) for s in flow.steps if isinstance(s, model.ConsentStep)]
        texts += [("summary", s.text) for s in flow.steps if isinstance(s, model.SummaryStep)]
        if flow.what_to_expect is not None:
            texts.append(("expect", flow.what_to_expect))
        starts = {}
        for kind, text in texts:
            for lang in flow.languages:
                start = self.engine.text(text, lang)[:60].strip()
                if len(start) >= 20:  # long enough to be that text and no other
                    starts.setdefault(start, kind)
        return starts

    def transcript_lines(self, transcript: list[Any]) -> list[dict[str, Any]]:
        """The transcript as the page shows it: each line's number (from 1, the flag list's
        links), the kind of a long information text (folded), and a tick of a multiple-choice
        question as ticked or unticked (``presses.tick`` logs "☑ label" or "☐ label": what the
        press did)."""
        starts = self.folded_texts
        lines = []
        previous_day = None
        for number, line in enumerate(transcript, 1):
            entry: dict[str, Any] = {"number": number, "line": line, "fold": None, "ticked": None, "label": None}
            # the date once a day (the clinic's): a page of one afternoon's messages is times only
            day = self.when(line.at, day=True, clock=False, zone=False)
            entry["day"] = day if day != previous_day else None
            previous_day = day
            if line.direction == "out":
                entry["fold"] = next((kind for start, kind in starts.items() if line.text.startswith(start)), None)
            elif line.text.startswith((CHECKED, UNCHECKED)):
                entry["ticked"] = line.text.startswith(CHECKED)
                entry["label"] = line.text[len(CHECKED) :]
            lines.append(entry)
        return lines

    def sections(self, intake: Any, words: NullTranslations, lang: str) -> list[dict[str, Any]]:
        """Answers grouped by section, each with the flags it raised; last, the answers the flow
        cannot read any more (it was edited after they were given), with what was stored. Every
        question, choice and title in ``lang``: a German intake read in English shows English
        questions and English labels of the choices made (typed words stay as typed)."""
        titles = {s.id: self.engine.text(s.title, lang) for s in self.engine.flow.sections}
        titles["consent"] = words.gettext("Consent")
        readable = list(self.exporter.answers(intake))
        answers = {step.id: value for step, value, _ in readable}
        raised_by: dict[str, list[str]] = {}  # question -> the raised flags its answer is behind
        for flag_id in intake.flags:
            for question in self.engine.flag_sources(answers, flag_id):
                raised_by.setdefault(question, []).append(flag_id)
        names = self.flag_names(lang)
        severity = {f.id: f.severity for f in self.engine.flow.flags}
        groups: list[dict[str, Any]] = []
        for step, value, _shown in readable:
            shown = self.engine.display(step, value, lang)
            section = "consent" if isinstance(step, model.ConsentStep) else getattr(step, "section", None) or "other"
            if not groups or groups[-1]["id"] != section:
                groups.append({"id": section, "title": titles.get(section) or words.gettext("Other"), "answers": []})
            flags = [
                {"id": f, "topic": names[f], "severity": severity[f]} for f in raised_by.get(step.id, []) if f in names
            ]
            question = (
                words.gettext("Consent to store and use the answers")
                if isinstance(step, model.ConsentStep)
                else self.engine.text(step.ask, lang)
            )
            groups[-1]["answers"].append({"id": step.id, "question": question, "answer": shown, "flags": flags})
        gone = words.gettext("(no longer in the questionnaire)")
        unreadable = [
            {
                "id": step_id,
                "question": self.exporter.unreadable_question(step_id, lang),
                "answer": f"{gone}: {stored_words(value)}",
                "flags": [],
            }
            for step_id, value in self.exporter.unreadable(intake)
        ]
        if unreadable:
            title = words.gettext("No longer in the questionnaire")
            groups.append({"id": "not_in_questionnaire", "title": title, "answers": unreadable})
        return groups

    def urgent_sentence(self, shown: dict[str, Any], words: NullTranslations) -> str:
        """``exports.urgent_sentence`` in the reader's language, on the clinic's clock."""
        return urgent_sentence(shown, words.gettext, self.when)
