"""YAML -> Flow. Every mistake is reported as ``file:line:column: message``, never a traceback.

PyYAML (with libyaml when present) builds a node tree that knows where each value starts; we
turn it into plain Python data while remembering those positions, validate the data with the
pydantic models, and translate pydantic's errors into the author's terms.
"""

from __future__ import annotations

import re
from pathlib import Path as FilePath
from typing import Any

import yaml
from pydantic import ValidationError

from bot.flow import model
from bot.flow.problems import FlowError, Path, Problem, SourceMap, did_you_mean

try:  # libyaml is about ten times faster; pure Python is the fallback, never a requirement
    from yaml import CSafeLoader as _Loader
except ImportError:  # pragma: no cover - depends on how PyYAML was built
    from yaml import SafeLoader as _Loader  # type: ignore[assignment]

_BOOL_WORDS = {"true", "false"}
# What YAML does not allow anywhere in a file (PyYAML's Reader.NON_PRINTABLE): C0 controls but tab
# and line breaks, DEL, C1 controls but NEL, surrogates, U+FFFE and U+FFFF.
_NOT_PRINTABLE = re.compile("[^\x09\x0a\x0d\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
# The line breaks YAML counts (and so the line numbers of every other message): CR LF, CR, LF, NEL, LS, PS.
_LINE_BREAK = re.compile("\r\n|[\r\n\x85\u2028\u2029]")
# U+0000 to U+001F by their ASCII names (ESC, NUL), which an author may know from an editor or a search.
_CONTROL_NAMES = ("NUL", "SOH", "STX", "ETX", "EOT", "ENQ", "ACK", "BEL", "BS", "HT", "LF", "VT", "FF", "CR", "SO")
_CONTROL_NAMES += ("SI", "DLE", "DC1", "DC2", "DC3", "DC4", "NAK", "SYN", "ETB", "CAN", "EM", "SUB", "ESC", "FS")
_CONTROL_NAMES += ("GS", "RS", "US")
_MOST_REPORTED = 20  # a binary file pasted in has thousands: the first ones and a count say enough


def _all_field_names() -> set[str]:
    names: set[str] = set()
    for cls in vars(model).values():
        if isinstance(cls, type) and issubclass(cls, model.BaseModel):
            for name, info in cls.model_fields.items():
                names.add(info.alias or name)
    return names


_FIELD_NAMES = _all_field_names()
_STEP_KINDS = ("question", "info", "consent", "summary", "outcome")
_ANSWER_MODELS = {cls.model_fields["answer"].annotation.__args__[0]: cls for cls in model.QUESTION_TYPES}
_ANSWER_TYPES = ("yesno", "single", "multi", "number", "text", "scale")


def parse_yaml(text: str, file: str) -> tuple[Any, SourceMap]:
    """Parse one YAML document into plain data and a map of where each value sits."""
    source = SourceMap(file)
    try:
        loader = _Loader(text)
        try:
            root = loader.get_single_node()
            problems: list[Problem] = []
            data = _to_python(loader, root, (), source, problems, set()) if root is not None else None
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as err:
        raise FlowError([_yaml_problem(err, text, file)]) from None
    except yaml.reader.ReaderError:
        raise FlowError(_unprintable_problems(text, file)) from None
    except yaml.YAMLError as err:
        raise FlowError([Problem(file, 1, 1, f"YAML syntax: {err}")]) from None
    if problems:
        raise FlowError(problems)
    return data, source


def _yaml_problem(err: yaml.MarkedYAMLError, text: str, file: str) -> Problem:
    """A YAML syntax error in an author's words (libyaml's and PyYAML's own texts differ)."""
    mark = err.problem_mark or err.context_mark
    line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
    problem = (err.problem or "not valid YAML").strip()
    lines = text.splitlines()
    # An unclosed quote makes the parser stumble a line or more later: find the quote itself.
    for number in range(min(line, len(lines)), 0, -1):
        content = lines[number - 1].split(" #", 1)[0]
        if content.count('"') - content.count('\\"') == 1:
            return Problem(file, number, content.index('"') + 1, "YAML syntax: this quote is not closed on its line")
    if "mapping values are not allowed" in problem:
        return Problem(
            file,
            line,
            column,
            "YAML syntax: unexpected ':' here: check this line's indentation, or put a text that contains "
            "': ' in quotes",
        )
    if "expected key" in problem or "expected <block end>" in problem:
        return Problem(file, line, column, "YAML syntax: this line is not indented like the lines around it")
    if "found character '\\t'" in problem:
        return Problem(file, line, column, "YAML syntax: a tab is used for indentation; use spaces")
    return Problem(file, line, column, f"YAML syntax: {problem}")


def _unprintable_problems(text: str, file: str) -> list[Problem]:
    """Each character YAML refuses (a NUL, an escape pasted from a terminal), at its line and column.

    The reader's error carries only an offset, and under libyaml a byte offset into the UTF-8 text,
    wrong by one column for every accented letter before it; so the text is searched here instead,
    and every such character is reported, not only the first one the reader stopped at.
    """
    found = list(_NOT_PRINTABLE.finditer(text))
    problems = []
    for match in found[:_MOST_REPORTED]:
        line, column = _line_column(text, match.start())
        problems.append(
            Problem(
                file,
                line,
                column,
                f"YAML syntax: {_character_name(match.group())} is not allowed in a flow: "
                "delete it (most editors do not show it; it often comes with text pasted from elsewhere)",
            )
        )
    if len(found) > _MOST_REPORTED:
        line, column = _line_column(text, found[_MOST_REPORTED].start())
        rest = len(found) - _MOST_REPORTED
        problems.append(Problem(file, line, column, f"YAML syntax: {rest} more control character(s) from here on"))
    if not problems:  # the reader refused something else: keep its words, at the start
        problems.append(Problem(file, 1, 1, "YAML syntax: the file has a character YAML does not allow"))
    return problems


def _line_column(text: str, index: int) -> tuple[int, int]:
    """1-based line and column of ``text[index]``, lines broken where YAML breaks them."""
    line, start = 1, 0
    for end in _LINE_BREAK.finditer(text, 0, index):
        line, start = line + 1, end.end()
    return line, index - start + 1


def _character_name(char: str) -> str:
    """``control character U+001B (ESC)``: the code an author can search for, and its usual name."""
    code = ord(char)
    if code < len(_CONTROL_NAMES):
        return f"control character U+{code:04X} ({_CONTROL_NAMES[code]})"
    if code == 0x7F:
        return "control character U+007F (DEL)"
    if code <= 0x9F:
        return f"control character U+{code:04X}"
    return f"character U+{code:04X}"  # a lone surrogate, U+FFFE or U+FFFF


def _to_python(loader: Any, node: yaml.Node, path: Path, source: SourceMap, problems: list, seen: set[Any]) -> Any:
    source.values[path] = (node.start_mark.line + 1, node.start_mark.column + 1)
    # An alias (*name) makes the composer hand out its anchor's node (&name) again. A flow never
    # needs one, and followed here one could recurse (id: &a [*a]) or grow exponentially (a
    # "billion laughs" file of a few hundred bytes): a node met twice is refused instead.
    if id(node) in seen:
        if ("reported", id(node)) in seen:
            return None
        seen.add(("reported", id(node)))
        line, column = node.start_mark.line + 1, node.start_mark.column + 1
        problems.append(
            Problem(
                source.file,
                line,
                column,
                "YAML aliases (&name ... *name) are not allowed in a flow: write this value out where it is used",
            )
        )
        return None
    seen.add(id(node))
    if isinstance(node, yaml.MappingNode):
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = _scalar(loader, key_node)
            if not isinstance(key, (str, int)):
                key = str(key)
            child = (*path, key)
            if key in result:
                line, column = key_node.start_mark.line + 1, key_node.start_mark.column + 1
                problems.append(Problem(source.file, line, column, f"duplicate key '{key}'"))
                continue
            source.keys[child] = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
            result[key] = _to_python(loader, value_node, child, source, problems, seen)
        return result
    if isinstance(node, yaml.SequenceNode):
        return [_to_python(loader, item, (*path, i), source, problems, seen) for i, item in enumerate(node.value)]
    return _scalar(loader, node)


def _scalar(loader: Any, node: yaml.Node) -> Any:
    if not isinstance(node, yaml.ScalarNode):
        return str(node.value)
    # YAML 1.1 reads yes/no/on/off as booleans; a clinic writing `equals: no` means the word.
    if node.tag == "tag:yaml.org,2002:bool" and node.value.lower() not in _BOOL_WORDS:
        return node.value
    return loader.construct_object(node, deep=True)


def parse_flow(text: str, file: str = "<flow>") -> tuple[model.Flow, SourceMap]:
    """Validate the structure of a flow (keys, types, required values) and build the model."""
    data, source = parse_yaml(text, file)
    if not isinstance(data, dict):
        raise FlowError([source.problem((), "a flow must be a mapping with id, title, steps, ...")])
    try:
        flow = model.Flow.model_validate(data)
    except ValidationError as err:
        raise FlowError(_explain(err, data, source)) from None
    return flow, source


def read_flow_text(path: str | FilePath) -> str:
    """A flow file's text; a file that is missing or unreadable is a FlowError at its line 1."""
    name = str(path)
    try:
        return FilePath(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise FlowError([Problem(name, 1, 1, "file not found")]) from None
    except (OSError, UnicodeDecodeError) as err:
        raise FlowError([Problem(name, 1, 1, f"cannot read the file: {err}")]) from None


def load_flow(path: str | FilePath) -> tuple[model.Flow, SourceMap]:
    return parse_flow(read_flow_text(path), str(path))


# --- pydantic errors in the author's terms ----------------------------------------------------


def _explain(err: ValidationError, data: Any, source: SourceMap) -> list[Problem]:
    errors = err.errors(include_url=False)
    # A misspelt required key shows up twice: as unknown ('aks') and as missing ('ask'). Report it
    # once, at the misspelling, suggesting the missing key.
    missing: dict[Path, list[str]] = {}
    for error in errors:
        if error["type"] == "missing":
            path, _, rest = _data_path(error["loc"], data)
            missing.setdefault(path, []).append(str(rest[-1]))
    explained: set[tuple[Path, str]] = set()
    problems: dict[Path, Problem] = {}
    for error in errors:
        path, value, rest = _data_path(error["loc"], data)
        if error["type"] == "extra_forbidden":
            key = str(error["loc"][-1])
            hint = did_you_mean(key, missing.get(path[:-1], []), cutoff=0.5)
            if hint:
                explained.add((path[:-1], hint.split("'")[1]))
                problems[path] = source.problem(path, f"unknown key '{key}'{hint}", at_key=True)
                continue
    for error in errors:
        path, value, rest = _data_path(error["loc"], data)
        if path in problems:
            continue  # one message per place: a union reports each alternative it tried
        if error["type"] == "missing" and (path, str(rest[-1])) in explained:
            continue
        message, at_key = _message(error, value, rest)
        where = path
        # An unknown kind or answer type is the fault of that value, not of the whole step.
        if error["type"] in ("step_kind", "answer_type") and isinstance(value, dict):
            key = "kind" if error["type"] == "step_kind" else "answer"
            if key in value:
                where = (*path, key)
        problems[path] = source.problem(where, message, at_key=at_key)
    return list(problems.values())


def _data_path(loc: tuple, data: Any) -> tuple[Path, Any, list]:
    """Follow pydantic's location through the data, dropping union tags it inserts."""
    path: list[str | int] = []
    current = data
    rest: list = []
    for part in loc:
        if (isinstance(current, dict) and part in current) or (
            isinstance(current, list) and isinstance(part, int) and part < len(current)
        ):
            path.append(part)
            current = current[part]
        else:
            rest.append(part)
    return tuple(path), current, rest


def _message(error: dict, value: Any, rest: list) -> tuple[str, bool]:
    kind = error["type"]
    missing = next((r for r in reversed(rest) if isinstance(r, str) and r in _FIELD_NAMES), None)
    if kind == "missing":
        return f"missing required key '{missing or rest[-1]}'", False
    if kind == "extra_forbidden":
        key = str(error["loc"][-1])
        if key in _FIELD_NAMES:  # a real key, in the wrong place
            answer = next((r[1:-1] for r in rest if isinstance(r, str) and r[1:-1] in _ANSWER_TYPES), None)
            if answer is not None:
                users = [a for a, cls in _ANSWER_MODELS.items() if key in cls.model_fields]
                where = f" (it is for: {', '.join(users)})" if users else ""
                return f"key '{key}' does not belong to a {answer} question{where}", True
            return f"key '{key}' does not belong here", True
        return f"unknown key '{key}'{did_you_mean(key, _FIELD_NAMES)}", True
    if kind == "step_kind":
        got = value.get("kind") if isinstance(value, dict) else None
        return f"unknown step kind '{got}'{did_you_mean(got, _STEP_KINDS)}; use one of: " + ", ".join(
            _STEP_KINDS
        ), False
    if kind == "answer_type":
        got = value.get("answer") if isinstance(value, dict) else None
        if got is None:
            return "a question needs `answer:` (one of: " + ", ".join(_ANSWER_TYPES) + ")", False
        return f"unknown answer type '{got}'{did_you_mean(got, _ANSWER_TYPES)}; use one of: " + ", ".join(
            _ANSWER_TYPES
        ), False
    if kind == "condition_kind":
        keys = list(value) if isinstance(value, dict) else []
        hint = did_you_mean(keys[0], model._CONDITION_TAGS) if keys else ""
        return error["msg"] + hint, False
    if kind == "literal_error":
        expected = [e.strip(" '") for e in str(error["ctx"]["expected"]).replace(" or ", ", ").split(",")]
        return f"'{value}' is not one of: {', '.join(expected)}{did_you_mean(value, expected)}", False
    if kind == "string_pattern_mismatch":
        pattern = error["ctx"]["pattern"]
        if pattern.startswith("^[a-z][a-z0-9_]"):
            return (
                f"'{value}' is not a valid id: use lower-case letters, digits and _, "
                "starting with a letter (at most 24 characters)"
            ), False
        if "https?" in pattern:
            return f"'{value}' is not a web address (http:// or https://)", False
        if "[0-5][0-9]-" in pattern:
            return f"'{value}' is not opening hours such as 09:00-18:00", False
        return f"'{value}' is not a language code such as en, de or pt-BR", False
    if kind in {"string_type", "dict_type"} and rest and rest[0] in {"str", "dict[str,str]"}:
        return "expected a text, or a map of language code to text", False
    messages = {
        "string_type": "expected a text",
        "int_type": "expected a whole number",
        "int_parsing": "expected a whole number",
        "int_from_float": "expected a whole number",
        "float_type": "expected a number",
        "float_parsing": "expected a number",
        "bool_type": "expected true or false",
        "bool_parsing": "expected true or false",
        "list_type": "expected a list (lines starting with '- ')",
        "dict_type": "expected a mapping (key: value lines)",
        "model_type": "expected a mapping (key: value lines)",
        "model_attributes_type": "expected a mapping (key: value lines)",
    }
    if kind in messages:
        return messages[kind], False
    if kind in {"too_short", "string_too_short"}:
        if kind == "string_too_short":
            return "must not be empty", False
        return f"needs at least {error['ctx']['min_length']} item(s)", False
    if kind == "string_too_long":
        return f"too long: at most {error['ctx']['max_length']} characters", False
    if kind == "value_error":  # a model's own check (a time zone, opening hours): its words
        return str(error["ctx"]["error"]), False
    return error["msg"][:1].lower() + error["msg"][1:], False
