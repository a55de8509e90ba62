"""What every check reads (the flow, where each value sits in the file, the flow's rules) and
how it reports a problem."""

from __future__ import annotations

from bot.flow import model
from bot.flow.graph import FlowGraph
from bot.flow.problems import Path, Problem, SourceMap


class Context:
    def __init__(self, flow: model.Flow, source: SourceMap):
        self.flow = flow
        self.source = source
        self.problems: list[Problem] = []
        # What the engine will do, asked of the same rules it runs (a duplicated id refers to its
        # first step; the duplicate is reported).
        self.graph = FlowGraph(flow)
        self.index = self.graph.index
        self.steps = self.graph.by_id
        self.flag_severity = self.graph.flag_severity
        self.compiler = self.graph.compiler

    def error(self, path: Path, message: str, *, at_key: bool = False) -> None:
        self.problems.append(self.source.problem(path, message, at_key=at_key))
