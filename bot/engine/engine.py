"""The engine: one transitions Machine per flow, shared by every conversation.

A conversation is plain data (``bot.engine.conversation.Conversation``); the machine's events
are triggered on it directly (``machine.events["next"].trigger(conversation)``), so an idle
conversation costs no machine object at all (README's figures: about 15-19 µs an answer). States are the
flow's step ids; the transitions (``next`` with skip logic, ``finish`` to urgent care) are the
flow's rules as ``bot.flow.graph`` states them, the same rules the checker reads.

``back``, ``restart`` and ``change`` (from the summary) jump to a known step with
``machine.set_state``. The engine is pure: no I/O, and the only times it records (when consent
was given, when an urgent ending was shown) are passed in by the caller.

An urgent ending, once shown, is recorded for good (``Conversation.urgent_shown``); going back
from it, or changing the answer behind it at the summary, stays possible, and the channel asks
first (``urgent_at_stake`` says when, ``urgent_change_ask`` with which words).
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from transitions import Machine

from bot.engine.conversation import Conversation
from bot.engine.parse import Invalid, Parser, ordinal, same
from bot.engine.recovery import fitting, set_aside
from bot.engine.screen import Screened, Screens
from bot.engine.texts import Texts
from bot.engine.view import Prompt, SummaryLine, Views
from bot.flow import model
from bot.flow.conditions import Predicate, describe, mentions_pattern
from bot.flow.graph import TYPED_TEXT, FlowGraph, Trigger, answerable, leaves, option_ids, reads

HELP_AFTER = 2  # invalid answers in a row before the choices and hint are shown again
_REASKABLE = frozenset({"choose_one", "not_a_number", "not_whole", "text_empty"})


@dataclass(frozen=True)
class Effect:
    """What one operation did: accepted or not (with the correction to show), flags it raised."""

    accepted: bool
    error: str | None = None
    raised: tuple[str, ...] = ()
    finished: bool = False
    help: bool = False


@dataclass(frozen=True)
class _FlagRule:
    id: str
    severity: str
    predicate: Predicate
    reads: frozenset[str]  # question ids the rule looks at, and TYPED_TEXT for any typed text


def _named(predicate: Predicate, label: str) -> Callable[[Any], bool]:
    """A transitions condition over the event's model, named for the diagram."""

    def condition(event: Any) -> bool:
        conv = event.model
        return predicate(conv.answers, conv.flags)

    condition.__name__ = label
    return condition


class Engine:
    """Runs one flow for any number of conversations.

    Its public surface: starting and reading a conversation (``start``, ``step``, ``finished``,
    ``view``, ``summary``, ``display``), the operations a person can do (``reply``, ``choose``,
    ``toggle``, ``submit_selection``, ``skip``, ``back``, ``change``, ``restart``,
    ``set_language``), the flow's words (``text``, ``message``, ``option_labels``,
    ``language_for``, ``outcome_topic``) and which answers raise which flags (``questions_raising``,
    ``flag_sources``). ``flow``, ``graph``, ``steps`` and the machine's ``states`` and
    ``transitions`` are there to read, never to change.
    """

    def __init__(self, flow: model.Flow, flow_hash: str | None = None):
        self.flow = flow
        #: the content hash of the flow's source (``bot.flow.versions``) when it was built from one
        #: the store keeps: intakes begun on it are bound to it; None: an engine of no stored version
        self.hash = flow_hash
        #: the flow's rules (what comes next, where urgent flags lead): shared with the checker
        self.graph = graph = FlowGraph(flow)
        self.steps: dict[str, Any] = graph.by_id
        self.order: dict[str, int] = graph.index
        self.first = flow.steps[0].id
        self.texts = Texts(flow)
        self.messages = self.texts.messages
        self.parser = Parser(self.texts)
        self.views = Views(flow, self.texts, self.steps, self.order, self._draft, graph.compile)
        self.consent_id = self.views.consent_id
        self.text_questions = frozenset(graph.text_questions)
        self.shown: dict[str, Predicate | None] = graph.shown
        self.flag_rules = [
            _FlagRule(f.id, f.severity, graph.compile(f.when), reads(f.when)) for f in flow.flags if f.when is not None
        ]
        self.urgent_flags = graph.urgent_flags
        #: each flag's severity as a number (``model.SEVERITY_RANK``): see ``severity_of``
        self.flag_ranks = {f.id: model.SEVERITY_RANK[f.severity] for f in flow.flags}
        #: every urgent flag, a screen's too: an intake with one raised is urgent for staff
        self.urgent_marks = graph.urgent_marks
        self.screen_flags = graph.screen_flags
        self._typed_rules = {
            f.id: _typed_leaves(f.when) for f in flow.flags if f.when is not None and TYPED_TEXT in reads(f.when)
        }
        self.screens = Screens(flow, self.texts)
        #: the machine's definition, also drawn by the diagram (``bot.diagram``)
        self.states, self.transitions = self._definition()
        self.machine = Machine(
            model=None,
            states=self.states,
            transitions=self.transitions,
            initial=self.first,
            auto_transitions=False,  # a to_<state> trigger per state grows with states squared
            send_event=True,
        )
        self._next = self.machine.events[Trigger.NEXT]
        self._finish = self.machine.events.get(Trigger.FINISH)  # only flows with urgent flags have it

    def _definition(self) -> tuple[list[dict], list[dict]]:
        states = [{"name": s.id, "final": isinstance(s, model.OutcomeStep)} for s in self.flow.steps]
        transitions: list[dict] = []
        for edge in self.graph.edges():
            t: dict[str, Any] = {"trigger": str(edge.trigger), "source": edge.source, "dest": edge.dest}
            if edge.predicate is not None:
                t["conditions"] = [_named(edge.predicate, describe(edge.when))]
            transitions.append(t)
        return states, transitions

    def severity_of(self, flags: Iterable[str]) -> int:
        """The highest severity among ``flags`` as a number (0: none): the intake's ``severity``,
        which the staff list sorts by and the queue reads "high flags" from."""
        ranks = self.flag_ranks
        return max((ranks.get(f, 0) for f in flags), default=0)

    # --- which question raises which flag (for staff pages and the diagram) --------------------

    def questions_raising(self, flag_id: str) -> frozenset[str]:
        """The questions whose answer can raise ``flag_id`` (a typed-text test: every text question)."""
        rule = next((f for f in self.flow.flags if f.id == flag_id), None)
        return self.graph.questions_read(rule.when) if rule is not None and rule.when is not None else frozenset()

    def flag_sources(self, answers: dict[str, Any], flag_id: str) -> list[str]:
        """The answered questions behind a raised flag: those its rule reads, and of the text
        questions only those whose answer itself mentions the rule's words."""
        rule = next((f for f in self.flag_rules if f.id == flag_id), None)
        if rule is None:
            return []
        found = [q for q in rule.reads if q != TYPED_TEXT and answers.get(q) is not None]
        for leaf in self._typed_rules.get(flag_id, ()):
            for q in sorted(self.text_questions, key=self.order.__getitem__):
                if q not in found and leaf(answers.get(q)):
                    found.append(q)
        return sorted(found, key=self.order.__getitem__)

    # --- starting and reading ----------------------------------------------------------------

    def language_for(self, code: str | None) -> str:
        """The flow language closest to ``code`` (a Telegram ``language_code`` such as 'de-AT')."""
        if code:
            code = code.replace("_", "-")
            for candidate in (code, code.split("-")[0].lower()):
                if candidate in self.flow.languages:
                    return candidate
        return self.flow.default_language

    def start(self, language: str | None = None) -> Conversation:
        return Conversation(self.flow.id, self.first, self.language_for(language))

    def step(self, conv: Conversation) -> Any:
        return self.steps[conv.state]

    def finished(self, conv: Conversation) -> bool:
        """Whether the conversation reached an ending. A step the flow no longer knows is left only
        on a conversation that had ended (``recover`` moves every other one on): it still has."""
        step = self.steps.get(conv.state)
        return step is None or isinstance(step, model.OutcomeStep)

    def recover(self, conv: Conversation, ended: bool = False) -> bool:
        """Fit a conversation stored under an earlier edition of this flow to it; True when the
        person's place moved (the channel tells them so).

        Answers the flow cannot read are set aside, and the path keeps the steps the flow still
        has, in its order. An ``ended`` conversation keeps its place: its ending stands even where
        the flow lost it. Any other goes on at the first step that is neither done nor hidden, as
        walking this flow with the answers kept finds it, when its own step is gone or that step
        comes earlier (a retyped question is asked again); otherwise it stays where it is.
        """
        here = self.steps.get(conv.state)
        placed = ended or not isinstance(here, model.OutcomeStep)
        if placed and fitting(conv, self.steps, self.order, self.views.flag_topics):
            return False
        set_aside(conv, self.steps, self.order)
        if ended:
            return False
        self._update_flags(conv, "", everything=True)
        was = conv.state
        self.machine.set_state(self.first, model=conv)
        while conv.state in conv.path and not isinstance(self.steps[conv.state], model.SummaryStep | model.OutcomeStep):
            self._trigger(self._next, conv)
        if here is not None and placed and self.order[conv.state] >= self.order[was]:
            self.machine.set_state(was, model=conv)  # nothing to answer again before it: stay
            return False
        conv.draft = None
        conv.invalid = 0
        conv.revision += 1
        return True

    def view(self, conv: Conversation) -> Prompt:
        return self.views.view(conv)

    def summary(self, conv: Conversation) -> tuple[SummaryLine, ...]:
        """Every answer so far, in order, as the person would read it (consent left out)."""
        return self.views.summary(conv)

    def display(self, step: Any, value: Any, lang: str) -> str:
        """An answer in words: choice labels, a number with its unit, the text typed."""
        return self.texts.display(step, value, lang)

    def text(self, value: Any, lang: str) -> str:
        """A flow text in ``lang`` (falling back to the default language), placeholders filled."""
        return self.texts.text(value, lang)

    def message(self, conv: Conversation | str, key: str, **values: Any) -> str:
        """An interface message in the conversation's language (or ``conv`` as a language code)."""
        return self.texts.message(conv if isinstance(conv, str) else conv.language, key, **values)

    def outcome_topic(self, outcome_id: str, lang: str | None = None) -> str:
        """An ending in words for staff (lists, filters, exports): the outcome's ``topic`` in
        ``lang`` (the flow's default language without one), else the first words of its text; an
        id the flow no longer has (it was edited after the intake ended) as it is."""
        step = self.steps.get(outcome_id)
        if not isinstance(step, model.OutcomeStep):
            return outcome_id
        return self.texts.outcome_topic(step, lang or self.flow.default_language)

    def option_labels(self, step: Any, lang: str) -> list[tuple[str, str]]:
        """(id, label) of each option of a choice-like step, in order."""
        return self.texts.option_labels(step, lang)

    # --- the safety screen ------------------------------------------------------------------------

    def screen(self, conv: Conversation | str, text: str) -> Screened | None:
        """The safety screen a typed message meets (``conv`` or a language code), if any; read
        before the message is taken as an answer, at any step. Changes nothing."""
        if not self.screens:
            return None
        return self.screens.read(text, conv if isinstance(conv, str) else conv.language)

    def screened(self, conv: Conversation, found: Screened) -> Effect:
        """A screen's words were typed (or its question answered Yes): its flag is raised for
        good; a screen with no text of its own ends the intake at its outcome at once."""
        raised: tuple[str, ...] = ()
        if found.flag not in conv.flags:
            conv.flags.append(found.flag)
            raised = (found.flag,)
        if found.text is None and found.outcome is not None and not self.finished(conv):
            self._jump(conv, found.outcome)
        return Effect(True, raised=raised, finished=self.finished(conv))

    def stop(self, conv: Conversation, screen_id: str) -> Effect:
        """After a screen's text, the person chose to stop: to the screen's outcome, if it has one."""
        screen = self.screens.by_id.get(screen_id)
        if screen is None or screen.outcome is None or self.finished(conv):
            return Effect(False)
        self._jump(conv, screen.outcome)
        return Effect(True, finished=True)

    # --- operations ----------------------------------------------------------------------------

    def reply(self, conv: Conversation, text: str, now: str | None = None) -> Effect:
        """A typed message: parsed for the current step, then answered."""
        step = self.step(conv)
        if isinstance(step, model.OutcomeStep):
            return Effect(False, self.message(conv, "finished"))
        if isinstance(step, model.SummaryStep):
            return self._summary_reply(conv, text, now)
        try:
            value = self.parser.parse(step, text, conv.language)
        except Invalid as bad:
            return self._invalid(conv, bad)
        return self._answer(conv, value, now)

    def choose(self, conv: Conversation, option: str, now: str | None = None) -> Effect:
        """A tapped option of the current step (a choice id, 'continue', 'confirm', 'skip')."""
        step = self.step(conv)
        if isinstance(step, model.OutcomeStep):
            return Effect(False, self.message(conv, "finished"))
        if option == "skip":
            return self.skip(conv, now)
        if isinstance(step, model.MultiQuestion):
            if option == "done":
                return self.submit_selection(conv, now)
            return self.toggle(conv, option)
        if isinstance(step, model.InfoStep) and option == "continue":
            return self._answer(conv, None, now)
        if isinstance(step, model.SummaryStep) and option == "confirm":
            return self._answer(conv, None, now)
        if isinstance(step, model.ScaleQuestion):
            value = next((p.value for p in step.points if str(p.value) == option), None)
            if value is not None:
                return self._answer(conv, value, now)
        elif option in option_ids(step):
            return self._answer(conv, option, now)
        return self._invalid(conv, Invalid("choose_one"))

    def toggle(self, conv: Conversation, choice_id: str) -> Effect:
        step = self.step(conv)
        if not isinstance(step, model.MultiQuestion) or choice_id not in option_ids(step):
            return self._invalid(conv, Invalid("choose_one"))
        selected = list(self._draft(conv, step))
        choice = next(c for c in step.choices if c.id == choice_id)
        if choice_id in selected:
            selected.remove(choice_id)
        elif choice.exclusive:
            selected = [choice_id]
        else:
            exclusive = {c.id for c in step.choices if c.exclusive}
            selected = [c for c in selected if c not in exclusive] + [choice_id]
            if step.max_selected is not None and len(selected) > step.max_selected:
                return self._invalid(conv, Invalid("choose_at_most", {"max": step.max_selected}))
        order = [c.id for c in step.choices]
        conv.draft = sorted(selected, key=order.index)
        # The revision stays: a quick tap on Done right after a tick must not find its button stale.
        return Effect(True)

    def submit_selection(self, conv: Conversation, now: str | None = None) -> Effect:
        step = self.step(conv)
        if not isinstance(step, model.MultiQuestion):
            return self._invalid(conv, Invalid("choose_one"))
        try:
            value = self.parser.check_selection(step, list(self._draft(conv, step)), conv.language)
        except Invalid as bad:
            return self._invalid(conv, bad)
        return self._answer(conv, value, now)

    def skip(self, conv: Conversation, now: str | None = None) -> Effect:
        step = self.step(conv)
        if not getattr(step, "optional", False):
            return self._invalid(conv, Invalid("required"))
        return self._answer(conv, None, now)

    def give(self, conv: Conversation, value: Any) -> Effect:
        """A stored answer given to the current step as it is, with no parsing (a choice id, a
        list of them, a number, a text, None for a skip or to go past a step that takes none):
        the what-if replay's way through a flow (``bot.engine.replay``), under every rule an
        answer meets here (skip logic, flags, urgent endings)."""
        return self._answer(conv, value, None)

    def back(self, conv: Conversation) -> Effect:
        """To the previous completed step, keeping its answer until it is answered again."""
        here = self.order.get(conv.state, len(self.order))  # an ending the flow lost: after every step
        position = bisect.bisect_left([self.order[s] for s in conv.path], here)
        if position == 0:
            return Effect(False, self.message(conv, "at_start"))
        self._jump(conv, conv.path[position - 1])
        return Effect(True)

    def change(self, conv: Conversation, step_id: str) -> Effect:
        """From the summary: answer ``step_id`` again, then return to the summary."""
        if not isinstance(self.step(conv), model.SummaryStep) or step_id not in conv.answers:
            return Effect(False, self.message(conv, "choose_one"))
        self._jump(conv, step_id)
        return Effect(True)

    def restart(self, conv: Conversation) -> Effect:
        """Begin the questions again: every answer goes, the record of urgent endings shown stays."""
        conv.answers.clear()
        conv.path.clear()
        conv.flags[:] = [f for f in conv.flags if f in self.screen_flags]  # what was typed stays known
        conv.consent = None
        conv.aside = None
        self._jump(conv, self.first)
        return Effect(True)

    def set_language(self, conv: Conversation, language: str) -> Effect:
        if language not in self.flow.languages:
            return Effect(False)
        conv.language = language
        conv.revision += 1
        return Effect(True)

    # --- urgent endings shown ------------------------------------------------------------------

    def urgent_at_stake(self, conv: Conversation, step_id: str | None = None) -> str | None:
        """The urgent flag whose ending a move would leave behind, so the person is asked first;
        None when nothing urgent is at stake.

        Without ``step_id``: going back from an urgent ending (the first urgent flag raised). With
        it: changing that answer at the summary, when it is an answer behind an urgent ending
        shown before (the latest such one).
        """
        if step_id is None:
            step = self.steps.get(conv.state)
            if isinstance(step, model.OutcomeStep) and step.urgent:
                raised = [f for f in conv.flags if f in self.urgent_flags]
                if raised:
                    return raised[0]
                # Only an answer can be changed: a safety screen's flag (typed words, no `when`)
                # has none behind it, and going back from its ending asks nothing.
                last = conv.urgent_shown[-1]["flag"] if conv.urgent_shown else None
                return last if last in self.urgent_flags else None
            return None
        for record in reversed(conv.urgent_shown):
            if step_id in record.get("answers", {}):
                return str(record["flag"])
        return None

    def urgent_change_ask(self, conv: Conversation, flag_id: str) -> str:
        """The kind yes/no question asked before leaving an urgent answer behind: the flag's own
        words (``ask_before_change``) or the interface's ``urgent_change_ask``."""
        rule = next((f for f in self.flow.flags if f.id == flag_id), None)
        if rule is not None and rule.ask_before_change is not None:
            return self.text(rule.ask_before_change, conv.language)
        return self.message(conv, "urgent_change_ask")

    def summary_target(self, conv: Conversation, text: str) -> str | None:
        """The step whose answer ``text`` typed at the summary asks to change (its number), if any."""
        if not isinstance(self.step(conv), model.SummaryStep):
            return None
        lines = self.views.summary_steps(conv)
        number = ordinal(text.strip(), len(lines))
        return lines[number - 1] if number is not None else None

    def mark_urgent_shown(
        self,
        conv: Conversation,
        flag_id: str,
        now: str | None,
        answers: dict[str, Any] | None = None,
        outcome: str | None = None,
    ) -> None:
        """Record for good that an urgent text was shown: when, why (``flag_id``, the answers
        behind it, as they are now), and which ending (None for a text shown without one). The
        engine records its urgent endings itself; a channel showing an urgent text of its own
        (a safety screen on typed words, say) records it here."""
        record = {"at": now or "", "flag": flag_id, "outcome": outcome, "answers": dict(answers or {})}
        conv.urgent_shown = [*conv.urgent_shown, record]

    def _record_urgent(self, conv: Conversation, now: str | None) -> None:
        """An urgent ending is being shown: keep when, which flags, and the answers behind them."""
        for flag_id in conv.flags:
            if flag_id in self.urgent_flags:
                answers = {q: conv.answers[q] for q in self.flag_sources(conv.answers, flag_id)}
                self.mark_urgent_shown(conv, flag_id, now, answers, conv.state)

    # --- internals -------------------------------------------------------------------------------

    def _jump(self, conv: Conversation, step_id: str) -> None:
        self.machine.set_state(step_id, model=conv)
        conv.draft = None
        conv.invalid = 0
        conv.revision += 1

    def _invalid(self, conv: Conversation, bad: Invalid) -> Effect:
        conv.invalid += 1
        step = self.step(conv)
        text = self.message(conv, bad.key, **bad.values)
        # The question's own re-ask words stand in for "not understood"; limits keep their figures.
        if getattr(step, "reask", None) is not None and bad.key in _REASKABLE:
            text = self.text(step.reask, conv.language)
        return Effect(False, text, help=conv.invalid >= HELP_AFTER)

    def _answer(self, conv: Conversation, value: Any, now: str | None) -> Effect:
        step = self.step(conv)
        before = set(conv.flags)
        changed = False
        if answerable(step):
            if step.id in conv.answers:
                changed = conv.answers[step.id] != value
            conv.answers[step.id] = value
        if isinstance(step, model.ConsentStep):
            conv.consent = {"version": step.version, "at": now or ""} if value == "agree" else None
            if value == "decline":  # declining (or withdrawing) keeps nothing but the decision
                conv.answers = {step.id: value}
                conv.aside = None
                conv.path[:] = [s for s in conv.path if self.order[s] <= self.order[step.id]]
                changed = True
        if step.id not in conv.path:
            bisect.insort(conv.path, step.id, key=self.order.__getitem__)
        if changed:
            self._prune(conv, after=self.order[step.id])
        self._update_flags(conv, step.id, everything=changed)
        conv.draft = None
        conv.invalid = 0
        conv.revision += 1
        if self.urgent_flags and not self.urgent_flags.isdisjoint(conv.flags):
            self._trigger(self._finish, conv)
        else:
            self._trigger(self._next, conv)
            while conv.state in conv.path and not isinstance(
                self.steps[conv.state], model.SummaryStep | model.OutcomeStep
            ):
                self._trigger(self._next, conv)  # skip steps answered before, back to where they were
        finished = self.finished(conv)
        if finished and getattr(self.steps.get(conv.state), "urgent", False):
            self._record_urgent(conv, now)
        raised = tuple(f for f in conv.flags if f not in before)
        return Effect(True, raised=raised, finished=finished)

    def _trigger(self, event: Any, conv: Conversation) -> None:
        if not event.trigger(conv):  # pragma: no cover - the checker guarantees a final outcome
            raise RuntimeError(f"flow {self.flow.id}: no step follows '{conv.state}'")

    def _prune(self, conv: Conversation, after: int) -> None:
        """Drop answers to later steps that the changed answer now hides."""
        kept: list[str] = []
        for step_id in conv.path:
            predicate = self.shown[step_id]
            if self.order[step_id] > after and predicate is not None and not predicate(conv.answers, conv.flags):
                conv.answers.pop(step_id, None)
            else:
                kept.append(step_id)
        conv.path[:] = kept

    def _update_flags(self, conv: Conversation, answered: str, everything: bool) -> None:
        current = set(conv.flags)
        is_text = answered in self.text_questions
        flags = []
        for rule in self.flag_rules:
            affected = everything or answered in rule.reads or (is_text and TYPED_TEXT in rule.reads)
            if rule.predicate(conv.answers, ()) if affected else rule.id in current:
                flags.append(rule.id)
        conv.flags[:] = flags + [f for f in self.screens.flag_order if f in current]  # a screen's flag stays

    def _draft(self, conv: Conversation, step: model.MultiQuestion) -> Iterable[str]:
        if conv.draft is not None:
            return conv.draft
        earlier = conv.answers.get(step.id)
        return earlier if isinstance(earlier, list) else []

    def _summary_reply(self, conv: Conversation, text: str, now: str | None) -> Effect:
        text = text.strip()
        target = self.summary_target(conv, text)
        if target is not None:
            return self.change(conv, target)
        if not text or same(text, self.message(conv, "confirm")):
            return self._answer(conv, None, now)
        return self._invalid(conv, Invalid("summary_hint"))


def _typed_leaves(cond: Any) -> list[Callable[[Any], bool]]:
    """For each typed-text test in ``cond``: whether one typed answer mentions its words."""
    tests = []
    for leaf in leaves(cond):
        if isinstance(leaf, model.TypedTextCondition):
            pattern = mentions_pattern(leaf.typed_text_mentions)
            tests.append(lambda value, pattern=pattern: isinstance(value, str) and bool(pattern.search(value)))
    return tests
