"""A Mermaid state diagram of a flow, drawn by transitions' own diagram support.

The diagram machine is built from exactly the states and transitions the engine runs, so what
staff and authors see is what patients get. Conditions label the edges; endings are marked.
"""

from __future__ import annotations

from typing import ClassVar

from transitions import State
from transitions.extensions import GraphMachine

from bot.engine import Engine
from bot.flow import model


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


def mermaid(engine: Engine) -> str:
    flow = engine.flow
    states = []
    for step in flow.steps:
        label = f"{step.id} ({_kind(step)})"
        if isinstance(step, model.OutcomeStep):
            label = f"{step.id} (ending{', urgent' if step.urgent else ''})"
        states.append({"name": step.id, "label": label, "final": isinstance(step, model.OutcomeStep)})
    # `finish` exists from every step (an urgent answer left standing ends the questions wherever
    # the person is), but drawing all of them hides the flow: draw it where urgent flags are raised.
    raising: set[str] = set()
    for flag in flow.flags:
        if flag.severity == "urgent":
            raising |= engine.questions_raising(flag.id)
    transitions = [t for t in engine.transitions if t["trigger"] != "finish" or t["source"] in raising]
    title = engine.text(flow.title, flow.default_language)
    diagram = _Diagram()
    _LabelledGraphMachine(
        model=diagram,
        states=states,
        transitions=transitions,
        initial=engine.first,
        auto_transitions=False,
        graph_engine="mermaid",
        show_conditions=True,
        title=f"{title} (v{flow.version})".replace(":", " -"),
    )
    text = diagram.get_graph().draw(None)
    # Mermaid reads ':' inside an edge label as the end of the label; keep the labels readable.
    lines = []
    for line in text.splitlines():
        if " --> " in line and ": " in line:
            head, _, label = line.partition(": ")
            line = f"{head}: {label.replace(':', ' ')}"
        lines.append(line)
    lines += [f"  {s.id} --> [*]" for s in flow.steps if isinstance(s, model.OutcomeStep)]
    return "\n".join(lines) + "\n"


def _kind(step: object) -> str:
    if isinstance(step, model.QUESTION_TYPES):
        return step.answer
    return getattr(step, "kind", "step")
