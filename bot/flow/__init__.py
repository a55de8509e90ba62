"""The questionnaire as data: load a YAML flow, check it, and read it."""

from __future__ import annotations

from pathlib import Path as FilePath

from bot.flow.check import check_flow
from bot.flow.load import load_flow, parse_flow
from bot.flow.model import Flow
from bot.flow.problems import FlowError, Problem

__all__ = ["Flow", "FlowError", "Problem", "load_checked", "parse_checked"]


def load_checked(path: str | FilePath) -> Flow:
    """Load a flow file and run every check; raises FlowError listing all problems."""
    flow, source = load_flow(path)
    problems = check_flow(flow, source)
    if problems:
        raise FlowError(problems)
    return flow


def parse_checked(text: str, file: str = "<flow>") -> Flow:
    flow, source = parse_flow(text, file)
    problems = check_flow(flow, source)
    if problems:
        raise FlowError(problems)
    return flow
