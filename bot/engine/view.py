"""What to show for a conversation's current step: a prompt, the summary, or the ending.

Views are plain frozen data in the conversation's language; channels render them (Telegram as
messages and buttons, the terminal as numbered lines) and decide nothing themselves.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from bot.engine.conversation import Conversation
from bot.engine.texts import Texts
from bot.flow import booking, model
from bot.flow.conditions import Predicate


class PromptKind(StrEnum):
    QUESTION = "question"
    INFO = "info"
    CONSENT = "consent"
    SUMMARY = "summary"
    OUTCOME = "outcome"


@dataclass(frozen=True)
class Option:
    id: str
    label: str
    selected: bool = False
    exclusive: bool = False


@dataclass(frozen=True)
class SummaryLine:
    step_id: str
    question: str
    answer: str


@dataclass(frozen=True)
class Ending:
    """An ending as the person reads it: text, the topics listed, the paragraphs whose condition
    holds, the consultation sentence, and the booking button's link (None: no button): the page
    itself, and ``booking`` with its prefill, which the channel fills in for the person
    (``bot.flow.booking.fill``: the engine knows no intake number); then the flow's recap of
    their answers (not under an urgent ending: nothing may stand beside "get help now"), and
    whether any answer is stored (``answered``: a copy of them can be made)."""

    id: str
    text: str
    consultation: str
    urgent: bool
    topics: tuple[str, ...]
    booking_link: str | None
    paragraphs: tuple[str, ...] = ()
    booking: model.Booking | None = None
    recap: tuple[str, ...] = ()
    answered: bool = False


@dataclass(frozen=True)
class Prompt:
    """What to show for the current step, in the conversation's language."""

    step_id: str
    kind: PromptKind
    answer: str | None  # the question's answer type
    text: str
    hint: str | None = None
    options: tuple[Option, ...] = ()
    can_skip: bool = False
    can_back: bool = True
    current: str | None = None  # the answer given earlier, when the step is revisited
    summary: tuple[SummaryLine, ...] = ()
    ending: Ending | None = None
    revision: int = 0  # the conversation's revision it was made at (buttons carry it)


class Views:
    def __init__(
        self,
        flow: model.Flow,
        texts: Texts,
        steps: dict[str, Any],
        order: dict[str, int],
        draft: Callable[[Conversation, model.MultiQuestion], Iterable[str]],
        compile: Callable[[Any], Predicate],
    ):
        self.flow = flow
        self.texts = texts
        self.steps = steps
        self.order = order
        self.draft = draft
        self.consent_id = next((s.id for s in flow.steps if isinstance(s, model.ConsentStep)), None)
        self.flag_topics = {f.id: f.topic for f in flow.flags}
        # Notes and staff-only flags are for staff; an ending lists what the person may raise.
        self.unlisted_flags = frozenset(f.id for f in flow.flags if f.severity == "note" or f.staff_only)
        self.paragraphs = {
            s.id: tuple((p.text, compile(p.when) if p.when is not None else None) for p in s.paragraphs)
            for s in flow.steps
            if isinstance(s, model.OutcomeStep) and s.paragraphs
        }

    def view(self, conv: Conversation) -> Prompt:
        step = self.steps[conv.state]
        lang = conv.language
        text, message = self.texts.text, self.texts.message
        can_back = bool(conv.path) and self.order[conv.path[0]] < self.order[conv.state]
        revision = conv.revision
        if isinstance(step, model.OutcomeStep):
            topics = (
                tuple(
                    text(self.flag_topics[f], lang)
                    for f in conv.flags
                    if f in self.flag_topics and f not in self.unlisted_flags
                )
                if step.list_flags
                else ()
            )
            paragraphs = tuple(
                text(words, lang)
                for words, holds in self.paragraphs.get(step.id, ())
                if holds is None or holds(conv.answers, conv.flags)
            )
            answered = self.summary_steps(conv)
            offered = booking.of_ending(self.flow, step)
            ending = Ending(
                step.id,
                text(step.text, lang),
                text(step.consultation, lang),
                step.urgent,
                topics,
                offered.link if offered is not None else None,
                paragraphs,
                offered,
                () if step.urgent else self.recap(conv, set(answered)),
                bool(answered),
            )
            return Prompt(
                step.id, PromptKind.OUTCOME, None, ending.text, ending=ending, can_back=can_back, revision=revision
            )
        if isinstance(step, model.InfoStep):
            options = (Option("continue", message(lang, "continue")),)
            return Prompt(
                step.id,
                PromptKind.INFO,
                None,
                text(step.text, lang),
                options=options,
                can_back=can_back,
                revision=revision,
            )
        if isinstance(step, model.SummaryStep):
            return Prompt(
                step.id,
                PromptKind.SUMMARY,
                None,
                text(step.text, lang),
                hint=message(lang, "summary_hint"),
                options=(Option("confirm", message(lang, "confirm")),),
                summary=self.summary(conv),
                can_back=can_back,
                revision=revision,
            )
        if isinstance(step, model.ConsentStep):
            options = tuple(Option(i, label) for i, label in self.texts.option_labels(step, lang))
            return Prompt(
                step.id,
                PromptKind.CONSENT,
                None,
                text(step.text, lang),
                options=options,
                can_back=can_back,
                revision=revision,
            )
        selected = set(self.draft(conv, step)) if isinstance(step, model.MultiQuestion) else set()
        exclusive = {c.id for c in getattr(step, "choices", ()) if c.exclusive}
        options = tuple(
            Option(i, label, i in selected, i in exclusive) for i, label in self.texts.option_labels(step, lang)
        )
        current = None
        if step.id in conv.answers:
            current = message(lang, "your_answer", answer=self.texts.display(step, conv.answers[step.id], lang))
        return Prompt(
            step.id,
            PromptKind.QUESTION,
            step.answer,
            text(step.ask, lang),
            hint=text(step.hint, lang) or None,
            options=options,
            can_skip=step.optional,
            can_back=can_back,
            current=current,
            revision=revision,
        )

    def recap(self, conv: Conversation, answered: set[str]) -> tuple[str, ...]:
        """The flow's recap sentences whose question has an answer on the person's way."""
        lang = conv.language
        return tuple(
            self.texts.text(line.text, lang).replace(
                "{answer}", self.texts.display(self.steps[line.question], conv.answers[line.question], lang)
            )
            for line in self.flow.recap
            if line.question in answered and conv.answers[line.question] is not None
        )

    def summary_steps(self, conv: Conversation) -> list[str]:
        """The steps the summary lists, in order: every answer so far but the consent."""
        return [s for s in conv.path if s in conv.answers and s != self.consent_id]

    def summary(self, conv: Conversation) -> tuple[SummaryLine, ...]:
        """Every answer so far, in order, as the person would read it (consent left out)."""
        lang = conv.language
        return tuple(
            SummaryLine(
                s, self.texts.text(self.steps[s].ask, lang), self.texts.display(self.steps[s], conv.answers[s], lang)
            )
            for s in self.summary_steps(conv)
        )
