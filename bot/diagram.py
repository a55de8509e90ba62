"""A Mermaid state diagram of a flow, drawn by transitions' own diagram support.

The diagram machine is built from exactly the states and transitions the engine runs, so what
staff and authors see is what patients get. Conditions label the edges; endings are marked. A long
flow can be drawn one section at a time (``mermaid(engine, part)``).
"""

from __future__ import annotations

from typing import ClassVar

from transitions import State
from transitions.extensions import GraphMachine

from bot.engine import Engine
from bot.flow import model, sections
from bot.flow.conditions import Words, in_words


class _LabelledState(State):
    def __init__(self, *args, label: str = "", **kwargs):
        super().__init__(*args, **kwargs)
        self.label = label


class _LabelledGraphMachine(GraphMachine):
    state_cls = _LabelledState
    # A questionnaire reads top to bottom; left to right, a long flow becomes a thin strip.
    machine_attributes: ClassVar[dict[str, str]] = {**GraphMachine.machine_attributes, "rankdir": "TB"}


class _Diagram:
    """The one model the diagram machine needs; it never runs a conversation."""

    state = ""


def mermaid(engine: Engine, part: str | None = None, words: Words | None = None) -> str:
    """The whole flow, or one part of it (``bot.flow.sections``: a section with the steps that
    stand in it): its steps, every way in and out, and the steps those lead from or to outside it,
    dashed and named with their part. The edges say their conditions by ids (``describe``: for
    authors), or in ``words`` (``conditions.in_words``: for staff)."""
    flow = engine.flow
    lang = flow.default_language
    # `finish` exists from every step (an urgent answer left standing ends the questions wherever
    # the person is), but drawing all of them hides the flow: draw it where urgent flags are raised.
    raising: set[str] = set()
    for flag in flow.flags:
        if flag.severity == "urgent":
            raising |= engine.questions_raising(flag.id)
    hidden = _never_taken(engine)
    transitions = [
        t
        for t in engine.transitions
        if (t["trigger"] != "finish" or t["source"] in raising) and (t["trigger"], t["source"], t["dest"]) not in hidden
    ]
    title = engine.text(flow.title, lang)
    steps = [step.id for step in flow.steps]
    outside: list[str] = []
    if part is not None:
        chosen = next(p for p in sections.parts(flow) if p.id == part)
        inside = set(chosen.steps)
        transitions = [t for t in transitions if t["source"] in inside or t["dest"] in inside]
        touched = {t["source"] for t in transitions} | {t["dest"] for t in transitions}
        steps = [s for s in steps if s in inside or s in touched]
        outside = [s for s in steps if s not in inside]
        title = f"{title} - {section_title(engine, chosen)}"
    where = sections.part_of(flow)
    names = {p.id: section_title(engine, p) for p in sections.parts(flow)}
    numbers = sections.question_numbers(flow)  # as the questionnaire page numbers them
    states = []
    for step_id in steps:
        step = engine.steps[step_id]
        label = f"{step.id} ({_kind(step)})"
        if isinstance(step, model.OutcomeStep):
            label = f"{step.id} (ending{', urgent' if step.urgent else ''})"
        if step_id in outside:
            label = f"{step.id} (in {names[where[step_id]]})"
        if step_id in numbers:
            label = f"Q{numbers[step_id]} {label}"
        states.append({"name": step.id, "label": label, "final": isinstance(step, model.OutcomeStep)})
    diagram = _Diagram()
    _LabelledGraphMachine(
        model=diagram,
        states=states,
        transitions=transitions,
        initial=steps[0],
        auto_transitions=False,
        graph_engine="mermaid",
        show_conditions=True,
        title=f"{title} (v{flow.version})".replace(":", " -"),
    )
    text = diagram.get_graph().draw(None)
    whens = {(str(e.trigger), e.source, e.dest): e.when for e in engine.graph.edges()}
    lines = []
    for line in text.splitlines():
        if " --> " in line and ": " in line:
            head, _, label = line.partition(": ")
            trigger = label.split(" ", 1)[0]
            source, _, dest = head.strip().partition(" --> ")
            when = whens.get((trigger, source, dest))
            if words is not None and when is not None:
                label = _label_text(in_words(when, words))
                label = f"{words.severity('urgent')} - {label}" if trigger == "finish" else label
            else:  # ids and operators ("age < 18"); Mermaid reads ':' as the end of the label
                label = _edge_label(label).replace(":", " ")
            line = f"{head}: {label}" if label else head
        elif line.startswith("  [*] --> ") and part is not None:
            continue  # a part starts where the steps before it lead, drawn outside it
        elif line.startswith("  Class ") and line.endswith(" s_active"):
            line = line.removesuffix(" s_active") + " s_default"  # a diagram has no current state
        lines.append(line)
    lines += [f"  {s} --> [*]" for s in steps if isinstance(engine.steps[s], model.OutcomeStep) and s not in outside]
    if outside:
        lines.append("  classDef outside fill:#f4f4f4,color:#444,stroke-dasharray:4 4")
        lines.append(f"  class {','.join(outside)} outside")
    return "\n".join(lines) + "\n"


def _edge_label(label: str) -> str:
    """``next [cond]`` -> ``cond``; a plain ``next`` needs no label; ``finish [cond]`` (an urgent
    answer ends the questions) -> ``urgent - cond``."""
    trigger, _, condition = label.partition(" ")
    condition = condition.strip().removeprefix("[").removesuffix("]")
    if trigger == "finish":
        return f"urgent - {condition}" if condition else "urgent"
    return condition


def _label_text(label: str) -> str:
    """An edge label as Mermaid can read it, whatever words a flow's labels hold: ':' and ';' end
    a label or a statement, '#' starts an entity, and quotes, brackets and braces are syntax."""
    for mark, instead in (
        (":", " "),
        (";", ","),
        ("#", ""),
        ('"', "“"),
        ("<", "‹"),
        (">", "›"),
        ("{", "("),
        ("}", ")"),
    ):
        label = label.replace(mark, instead)
    return " ".join(label.split())


def _never_taken(engine: Engine) -> set[tuple[str, str, str]]:
    """The machine's transitions that can never be taken: a later step with the very condition of
    an earlier candidate from the same step (the engine tries them in order, so the earlier one
    is always taken first). Drawing them only hides the ways people really go."""
    never: set[tuple[str, str, str]] = set()
    tried: dict[tuple[str, str], list[object]] = {}
    for edge in engine.graph.edges():
        conditions = tried.setdefault((str(edge.trigger), edge.source), [])
        if edge.when is not None and edge.when in conditions:
            never.add((str(edge.trigger), edge.source, edge.dest))
        conditions.append(edge.when)
    return never


def section_title(engine: Engine, part: sections.Part) -> str:
    """A part's name for staff: its section's title, or the start and the end named as such."""
    if part.id == sections.START:
        return "Start"
    if part.id == sections.END:
        return "Summary and endings"
    return engine.text(part.title, engine.flow.default_language) if part.title is not None else part.id


def _kind(step: object) -> str:
    if isinstance(step, model.QUESTION_TYPES):
        return step.answer
    return getattr(step, "kind", "step")
