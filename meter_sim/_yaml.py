"""Safe YAML loading that keeps the line and column of every value for error messages.

Scenario and plan files are read with a `yaml.SafeLoader` subclass that records
where each mapping key, mapping value and sequence item starts, so that a
validation error on ``learners.0.status.1.at`` can name ``file:line:col`` and show
the source line with a caret, in the style of dagster's YAML config errors
(STYLE.md section 7, Config and Errors rows; section 9's example error).

The loader also

- keeps date-times as text (no implicit ``!!timestamp``), so that the scenario
  schema decides how a time without an offset is read (DESIGN.md section 4);
- reads YAML floats as `decimal.Decimal` from their source text, never as binary
  floats, so that money stays exact (DESIGN.md section 1, Charging);
- rejects duplicate keys, which PyYAML would otherwise silently overwrite;
- refuses alias bombs ("billion laughs"), very deep nesting, files larger than
  `MAX_BYTES` and whole numbers of more than `MAX_DIGITS` digits, so that a
  hostile file costs bounded time and memory;
- cuts long values and source lines in its messages, so that a message stays
  readable whatever the file holds.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import (
    TYPE_CHECKING,
    Any,
    Final,
    NamedTuple,
    TypeAlias,
    get_args,
)

import yaml
from pydantic import BaseModel
from yaml.constructor import ConstructorError
from yaml.events import AliasEvent
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from meter_sim.exceptions import ScenarioError

if TYPE_CHECKING:
    import os

    from pydantic import ValidationError
    from pydantic_core import ErrorDetails

__all__ = [
    "MAX_ALIASES",
    "MAX_ALIAS_EXPANSION",
    "MAX_BYTES",
    "MAX_DEPTH",
    "MAX_DIGITS",
    "MAX_PROBLEMS",
    "NO_VALUE",
    "KeyPath",
    "Position",
    "Positions",
    "Problem",
    "load_yaml",
    "to_scenario_error",
    "validation_problems",
]

KeyPath: TypeAlias = tuple[str | int, ...]
"""Path from the document root: mapping keys (str) and sequence indices (int)."""

MAX_ALIASES: Final = 100
"""Most ``*alias`` references a document may contain. [aliases]"""

MAX_DEPTH: Final = 100
"""Deepest nesting of mappings and sequences, aliases followed. [levels]"""

MAX_ALIAS_EXPANSION: Final = 10_000
"""Most values a document may reach again through aliases and merges. [values]"""

MAX_PROBLEMS: Final = 10
"""Most problems spelled out in one `ScenarioError`; the rest are counted."""

MAX_BYTES: Final = 2_000_000
"""Largest YAML file read (PyYAML parses about 100 kB a second; a scenario of
tens of thousands of learners fits). [bytes]"""

MAX_DIGITS: Final = 100
"""Most digits of a YAML whole number (Python refuses more than 4300). [digits]"""

_MAX_SHOWN: Final = 60
"""Longest rendering of an offending value in a message. [characters]"""

_MAX_KEY: Final = 80
"""Longest key or key path quoted in a message. [characters]"""

_MAX_LINE: Final = 100
"""Widest source line shown under a message; longer ones are cut around the
caret. [characters]"""

_TIMESTAMP_TAG: Final = "tag:yaml.org,2002:timestamp"
_FLOAT_TAG: Final = "tag:yaml.org,2002:float"
_MERGE_TAG: Final = "tag:yaml.org,2002:merge"
_NOTE_END: Final = re.compile(r", got |: |; | \(|, e\.g\. ")
"""Where the short note under the caret ends: the message up to its details."""
_LINE_BREAK: Final = re.compile(r"\r\n|[\r\n\x85\u2028\u2029]")
"""What YAML 1.1 (and so PyYAML) counts as a line break."""


class Position(NamedTuple):
    """A place in a source file, both numbers 1-based."""

    line: int
    column: int


class _NoValue(enum.Enum):
    NO_VALUE = "NO_VALUE"


NO_VALUE: Final = _NoValue.NO_VALUE
"""Marks a `Problem` that has no offending value to show (e.g. a missing key)."""


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a YAML document, before it is placed in the file.

    Attributes
    ----------
    key_path : tuple of (str or int)
        Where the problem is, e.g. ``("learners", 0, "status", 1, "at")``. It may
        name a key that is not in the file (a missing key); the message then points
        at the nearest enclosing value that is.
    message : str
        What was expected, e.g. ``"timezone-aware datetime expected"``.
    value : object
        The offending value, shown as ``got <value>``; `NO_VALUE` for none.
    at_key : bool
        Point at the key rather than at its value (unknown or duplicate keys).
    """

    key_path: KeyPath
    message: str
    value: object = NO_VALUE
    at_key: bool = False


def _position(node: Node) -> Position:
    mark = node.start_mark
    return Position(mark.line + 1, mark.column + 1)


def _cut(text: str, limit: int) -> str:
    """``text``, cut to ``limit`` characters with ``...`` when longer."""
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _dotted(path: KeyPath) -> str:
    return _cut(".".join(str(part) for part in path), _MAX_KEY)


class Positions:
    """Where each value of a loaded YAML document starts in its file.

    Returned by `load_yaml` beside the data. Key paths use the document's own
    keys (str) and sequence indices (int), as in a pydantic error's ``loc``.

    Parameters
    ----------
    source : Path
        The file the document was read from, as the user named it.
    lines : sequence of str
        The file's lines, without line breaks.
    """

    def __init__(self, source: Path, lines: Sequence[str]) -> None:
        self.source = source
        self.lines = tuple(lines)
        self._values: dict[KeyPath, Position] = {}
        self._keys: dict[KeyPath, Position] = {}
        self._texts: dict[KeyPath, str] = {}

    def __contains__(self, path: object) -> bool:
        return path in self._values

    def __len__(self) -> int:
        return len(self._values)

    def get(self, path: KeyPath) -> Position | None:
        """The position of the value at ``path``, or None if it is not in the file."""
        return self._values.get(path)

    def key(self, path: KeyPath) -> Position | None:
        """The position of the mapping key that ends ``path``, or None."""
        return self._keys.get(path)

    def text(self, path: KeyPath) -> str | None:
        """The source text of a plain (unquoted) scalar at ``path``, or None."""
        return self._texts.get(path)

    def locate(
        self, loc: Sequence[str | int], *, at_key: bool = False
    ) -> tuple[KeyPath, Position]:
        """Place a key path (e.g. a pydantic ``loc``) in the file.

        Parameters
        ----------
        loc : sequence of (str or int)
            Key path to place. Components that are not document keys but are
            followed by ones that are (such as the member names pydantic inserts
            for a union) are dropped.
        at_key : bool
            Prefer the position of the key over that of its value.

        Returns
        -------
        tuple of (KeyPath, Position)
            The path to show, and the position of its deepest part present in the
            file (the nearest parent that has a position; line 1, column 1 for an
            empty document).
        """
        found: KeyPath = ()
        index = 0
        while index < len(loc):
            candidate = (*found, loc[index])
            if candidate in self._values:
                found = candidate
                index += 1
            elif index + 1 < len(loc) and (*found, loc[index + 1]) in self._values:
                index += 1  # a validator's tag, not a key of the document
            else:
                break
        shown: KeyPath = (*found, *loc[index:])
        position = (self._keys.get(found) if at_key else None) or self._values.get(
            found, Position(1, 1)
        )
        return shown, position

    def snippet(self, position: Position, note: str) -> str:
        """The line at ``position`` and the one before it, with a caret and a note.

        Parameters
        ----------
        position : Position
            Where to point.
        note : str
            Short text printed after the caret.

        Returns
        -------
        str
            Up to three lines, numbered like ``   14 | text``; empty when the
            position is beyond the end of the file.
        """
        if not 1 <= position.line <= len(self.lines):
            return ""
        # A long line is shown as a window around the caret, "..." at each cut.
        start = max(0, position.column - 1 - _MAX_LINE // 2)
        shown = []
        for number in range(max(1, position.line - 1), position.line + 1):
            text = self.lines[number - 1][start : start + _MAX_LINE]
            text = "".join(c if c.isprintable() else " " for c in text)
            if start:
                text = "..." + text
            if len(self.lines[number - 1]) > start + _MAX_LINE:
                text += "..."
            shown.append(f"{number:>5} | {text}".rstrip())
        caret = position.column - 1 - start + (3 if start else 0)
        shown.append(f"{'':>5} | {' ' * caret}^ {_cut(note, _MAX_LINE)}")
        return "\n".join(shown)

    def error(self, problems: Iterable[Problem]) -> ScenarioError:
        """Build one `ScenarioError` naming file, line, column and key of each problem.

        Problems at the same place are merged, listed in file order, and at most
        `MAX_PROBLEMS` are spelled out. Each reads
        ``file:line:col key.path: what was expected, got <value>`` followed by the
        source line with a caret (STYLE.md section 9).

        Parameters
        ----------
        problems : iterable of Problem
            At least one problem.

        Returns
        -------
        ScenarioError
            Its ``source`` is this file; ``line``, ``column`` and ``key_path`` are
            those of the first problem in file order.
        """
        grouped: dict[tuple[Position, KeyPath], list[str]] = {}
        for problem in problems:
            shown, position = self.locate(problem.key_path, at_key=problem.at_key)
            text = problem.message
            if problem.value is not NO_VALUE:
                text += f", got {self._render(problem.key_path, problem.value)}"
            messages = grouped.setdefault((position, shown), [])
            if text not in messages:
                messages.append(text)
        if not grouped:
            msg = "`problems` must not be empty"
            raise ValueError(msg)
        places = sorted(grouped, key=lambda place: place[0])
        blocks = []
        for position, shown in places[:MAX_PROBLEMS]:
            text = "; ".join(grouped[position, shown])
            where = f"{self.source}:{position.line}:{position.column}:"
            head = f"{where} {_dotted(shown)}: {text}" if shown else f"{where} {text}"
            note = _NOTE_END.split(text, maxsplit=1)[0]
            blocks.append("\n".join(filter(None, [head, self.snippet(position, note)])))
        if len(places) > MAX_PROBLEMS:
            blocks.append(f"... and {len(places) - MAX_PROBLEMS} more problems")
        first_position, first_path = places[0]
        return ScenarioError(
            "\n".join(blocks),
            source=str(self.source),
            line=first_position.line,
            column=first_position.column,
            key_path=_dotted(first_path) or None,
        )

    def _render(self, path: KeyPath, value: object) -> str:
        if isinstance(value, str):
            shown = repr(value)
        elif isinstance(value, dict):
            return "a mapping" if value else "{}"
        elif isinstance(value, list | tuple):
            return "a list" if value else "[]"
        else:
            source_text = self._texts.get(path)
            if source_text:
                shown = source_text
            elif value is None:
                shown = "null"
            elif isinstance(value, bool):
                shown = str(value).lower()
            else:
                shown = str(value)
        if len(shown) > _MAX_SHOWN:
            shown = shown[: _MAX_SHOWN - 3] + "..."
        return shown


class _GuardError(yaml.MarkedYAMLError):
    """A document refused by a guard (aliases, depth, size, duplicate key)."""

    def __init__(
        self, problem: str, mark: yaml.Mark | None, key_path: KeyPath | None = None
    ) -> None:
        super().__init__(problem=problem, problem_mark=mark)
        self.key_path = key_path


class _Loader(yaml.SafeLoader):
    """SafeLoader without implicit timestamps, with Decimal floats and guards."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._aliases = 0
        self._depth = 0

    def compose_node(self, parent: Node | None, index: int) -> Node | None:
        """Compose a node, counting aliases and nesting depth."""
        # check_event() leaves the next event in current_event.
        if self.check_event(AliasEvent):
            self._aliases += 1
            if self._aliases > MAX_ALIASES:
                msg = f"more than {MAX_ALIASES} aliases; refusing the document"
                raise _GuardError(msg, self.current_event.start_mark)
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                self.check_event()
                msg = f"nested deeper than {MAX_DEPTH} levels"
                raise _GuardError(msg, self.current_event.start_mark)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


_PLAIN_DECIMAL = re.compile(r"[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?", re.ASCII)
_PLAIN_INTEGER = re.compile(r"[-+]?(0|[1-9]\d*)", re.ASCII)


def _not_plain(node: ScalarNode, kind: str) -> ConstructorError:
    return ConstructorError(
        None,
        None,
        f"{_cut(node.value, _MAX_SHOWN)!r} is not a plain decimal {kind} (YAML would "
        "read it in another base or with separators); write it like 1000 or 7.50, "
        "or quote it if it is text",
        node.start_mark,
    )


def _construct_decimal(loader: _Loader, node: ScalarNode) -> Decimal:
    """Build a YAML float as a Decimal from its source text (``7.50``, ``.inf``).

    Underscores and sexagesimal forms (``1_000.5``, ``1:30``), which YAML 1.1
    reads as numbers, are refused rather than silently read.
    """
    text = loader.construct_scalar(node)
    special = text.lower().lstrip("+-")
    if special in {".inf", ".nan"}:
        sign = "-" if text.startswith("-") else ""
        return Decimal("NaN") if special == ".nan" else Decimal(f"{sign}Infinity")
    if not _PLAIN_DECIMAL.fullmatch(text):
        raise _not_plain(node, "number")
    return Decimal(text)


def _construct_integer(loader: _Loader, node: ScalarNode) -> int:
    """Build a YAML int from plain decimal text; refuse ``010``, ``0x10``, ``1_000``."""
    text = loader.construct_scalar(node)
    if not _PLAIN_INTEGER.fullmatch(text):
        raise _not_plain(node, "whole number")
    if len(text.lstrip("+-")) > MAX_DIGITS:
        msg = (
            f"a whole number of {len(text.lstrip('+-')):,} digits; at most "
            f"{MAX_DIGITS} are read"
        )
        raise ConstructorError(None, None, msg, node.start_mark)
    return int(text)


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != _TIMESTAMP_TAG]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_constructor(_FLOAT_TAG, _construct_decimal)
_Loader.add_constructor("tag:yaml.org,2002:int", _construct_integer)


def _construct_text(loader: _Loader, node: ScalarNode) -> str:
    """Keep an explicit ``!!timestamp`` as its text, like an implicit one."""
    return loader.construct_scalar(node)


_Loader.add_constructor(_TIMESTAMP_TAG, _construct_text)


class _Recorder:
    """Walks a composed document, recording positions and checking keys and size."""

    def __init__(self, loader: _Loader, positions: Positions) -> None:
        self.loader = loader
        self.positions = positions
        self.visited: set[int] = set()
        self.expanded = 0

    def walk(self, node: Node, path: KeyPath, depth: int, *, again: bool) -> None:
        """Record ``node`` at ``path``; ``again`` when reached a second time."""
        again = again or id(node) in self.visited
        self.visited.add(id(node))
        if again:
            self.expanded += 1
            if self.expanded > MAX_ALIAS_EXPANSION:
                msg = (
                    f"aliases expand to more than {MAX_ALIAS_EXPANSION} values "
                    f"(at {_dotted(path)}); refusing the document (an alias bomb?)"
                )
                raise _GuardError(msg, node.start_mark, path)
        if depth > MAX_DEPTH:
            msg = f"nested deeper than {MAX_DEPTH} levels through aliases"
            raise _GuardError(msg, node.start_mark)
        self.positions._values[path] = _position(node)
        if isinstance(node, ScalarNode):
            if node.style is None:
                self.positions._texts[path] = node.value
        elif isinstance(node, SequenceNode):
            for index, item in enumerate(node.value):
                self.walk(item, (*path, index), depth + 1, again=again)
        elif isinstance(node, MappingNode):
            self._walk_mapping(node, path, depth, again=again)

    def _key(self, node: Node) -> str | int | None:
        key = self.loader.construct_object(node, deep=True)
        if not isinstance(key, Hashable):
            return None  # the constructor reports the unhashable key
        return (
            key
            if isinstance(key, str | int) and not isinstance(key, bool)
            else str(key)
        )

    def _walk_mapping(
        self, node: MappingNode, path: KeyPath, depth: int, *, again: bool
    ) -> None:
        seen: dict[str | int, Position] = {}
        merged: list[Node] = []
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE_TAG:
                merged.append(value_node)
                continue
            key = self._key(key_node)
            if key is None:
                continue
            if key in seen:
                first = seen[key]
                where = _dotted(path) or "the document"
                msg = (
                    f"duplicate key `{_cut(str(key), _MAX_KEY)}` in {where} "
                    f"(first at line {first.line}, column {first.column})"
                )
                raise _GuardError(msg, key_node.start_mark, (*path, key))
            seen[key] = _position(key_node)
            self.positions._keys[(*path, key)] = seen[key]
            self.walk(value_node, (*path, key), depth + 1, again=again)
        # `<<: *defaults` merges keys not given explicitly; the first source wins.
        for merge in merged:
            sources = merge.value if isinstance(merge, SequenceNode) else [merge]
            for source in sources:
                if not isinstance(source, MappingNode):
                    continue  # the constructor reports it
                for key_node, value_node in source.value:
                    key = None if key_node.tag == _MERGE_TAG else self._key(key_node)
                    if key is not None and key not in seen:
                        seen[key] = _position(key_node)
                        self.positions._keys[(*path, key)] = seen[key]
                        self.walk(value_node, (*path, key), depth + 1, again=True)


def _syntax_error(exc: yaml.MarkedYAMLError, positions: Positions) -> ScenarioError:
    key_path = exc.key_path if isinstance(exc, _GuardError) else None
    mark = exc.problem_mark or exc.context_mark
    problem = exc.problem or exc.context or "invalid YAML"
    note = problem
    if exc.context and exc.problem:
        if exc.problem.startswith("but "):  # e.g. "expected a single document ..."
            problem = note = f"{exc.context}, {exc.problem}"
        if exc.context_mark is not None:
            cm = exc.context_mark
            where = f"line {cm.line + 1}, column {cm.column + 1}"
            problem += (
                f" ({where})" if note != exc.problem else f" ({exc.context} at {where})"
            )
    if mark is None:
        return ScenarioError(
            f"{positions.source}: {problem}", source=str(positions.source)
        )
    position = Position(mark.line + 1, mark.column + 1)
    head = f"{positions.source}:{position.line}:{position.column}: {problem}"
    snippet = positions.snippet(position, note)
    return ScenarioError(
        "\n".join(filter(None, [head, snippet])),
        source=str(positions.source),
        line=position.line,
        column=position.column,
        key_path=_dotted(key_path) if key_path else None,
    )


def _read_text(source: Path) -> str:
    """The text of a YAML file: UTF-8 (a byte order mark is dropped), bounded.

    At most `MAX_BYTES` are read, so a device or a huge file cannot exhaust
    memory.
    """
    try:
        with source.open("rb") as handle:
            data = handle.read(MAX_BYTES + 1)
    except FileNotFoundError:
        msg = f"{source}: file not found"
        raise ScenarioError(msg, source=str(source)) from None
    except (OSError, ValueError) as exc:  # ValueError: a NUL in the path
        reason = exc.strerror if isinstance(exc, OSError) else None
        msg = f"{source}: cannot read the file ({reason or exc})"
        raise ScenarioError(msg, source=str(source)) from None
    if len(data) > MAX_BYTES:
        msg = (
            f"{source}: larger than {MAX_BYTES:,} bytes; a scenario or plan file is "
            "written by hand (bill large status logs with `meter-sim bill`)"
        )
        raise ScenarioError(msg, source=str(source))
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        msg = f"{source}: the file is UTF-16 text; save it as UTF-8"
        raise ScenarioError(msg, source=str(source))
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        msg = f"{source}: not UTF-8 text ({exc.reason} at byte {exc.start})"
        raise ScenarioError(msg, source=str(source)) from None


def _reader_error(
    exc: yaml.reader.ReaderError, text: str, positions: Positions
) -> ScenarioError:
    """A character YAML does not allow (a control character), with its place."""
    before = text[: exc.position]
    breaks = list(_LINE_BREAK.finditer(before))
    line = len(breaks) + 1
    column = len(before) - (breaks[-1].end() if breaks else 0) + 1
    position = Position(line, column)
    code = exc.character if isinstance(exc.character, int) else ord(exc.character)
    problem = f"the character U+{code:04X} is not allowed in YAML; remove it"
    head = f"{positions.source}:{line}:{column}: {problem}"
    snippet = positions.snippet(position, "not allowed")
    return ScenarioError(
        "\n".join(filter(None, [head, snippet])),
        source=str(positions.source),
        line=line,
        column=column,
    )


def load_yaml(path: str | os.PathLike[str]) -> tuple[Any, Positions]:
    r"""Load one YAML document safely, with the position of each of its values.

    Parameters
    ----------
    path : str or path-like
        A UTF-8 YAML file holding a single document.

    Returns
    -------
    tuple of (object, Positions)
        The data (dicts, lists, str, int, `decimal.Decimal`, bool, None; ``None``
        for an empty file) and where each value starts. Date-times stay text;
        YAML floats become Decimals built from their source text (``.nan`` and
        ``.inf`` become Decimal NaN and Infinity, for the schema to reject).

    Raises
    ------
    ScenarioError
        If the file cannot be read, is larger than `MAX_BYTES` or is not UTF-8;
        on a YAML syntax error, a character YAML does not allow (a control
        character), a duplicate key, more than `MAX_ALIASES` aliases, nesting
        deeper than `MAX_DEPTH`, more than `MAX_ALIAS_EXPANSION` values reached
        again through aliases, or a whole number of more than `MAX_DIGITS`
        digits. The message reads ``file:line:col: problem`` followed by the
        line with a caret.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (folder / "plan.yaml").write_text("name: Demo\noverage_price: 7.50\n")
    >>> data, positions = load_yaml(folder / "plan.yaml")
    >>> data
    {'name': 'Demo', 'overage_price': Decimal('7.50')}
    >>> positions.get(("overage_price",))
    Position(line=2, column=16)
    """
    source = Path(path)
    text = _read_text(source)
    positions = Positions(source, _LINE_BREAK.split(text))
    try:
        loader = _Loader(text)
    except yaml.reader.ReaderError as exc:
        raise _reader_error(exc, text, positions) from None
    try:
        node = loader.get_single_node()
        if node is None:
            return None, positions
        _Recorder(loader, positions).walk(node, (), 0, again=False)
        return loader.construct_document(node), positions
    except yaml.MarkedYAMLError as exc:
        raise _syntax_error(exc, positions) from None
    except yaml.YAMLError as exc:  # e.g. a character YAML does not allow
        msg = f"{source}: {exc}"
        raise ScenarioError(msg, source=str(source)) from None
    finally:
        loader.dispose()


# What a pydantic error says, by error type, as "what was expected".
_EXPECTED: Final[dict[str, str]] = {
    "model_type": "a mapping expected",
    "model_attributes_type": "a mapping expected",
    "dict_type": "a mapping expected",
    "list_type": "a list expected",
    "tuple_type": "a list expected",
    "string_type": "a string expected",
    "bool_type": "a boolean expected: true/false or yes/no",
    "int_type": "an integer expected",
    "int_parsing": "an integer expected",
    "int_from_float": "a whole number expected",
    "decimal_type": "a number expected",
    "decimal_parsing": "a number expected",
    "finite_number": "a finite number expected",
}


def _expected(error: ErrorDetails, model: type[BaseModel] | None) -> str:
    kind = error["type"]
    ctx = error.get("ctx", {})
    loc = error["loc"]
    name = loc[-1] if loc else ""
    if kind == "missing":
        return f"missing required key `{name}`"
    if kind == "extra_forbidden":
        allowed = _allowed_keys(model, loc[:-1]) if model is not None else None
        known = f"; expected one of {', '.join(allowed)}" if allowed else ""
        return f"unknown key `{name}`{known}"
    if kind in {"value_error", "assertion_error"} and "error" in ctx:
        return str(ctx["error"])
    if kind == "enum" and "expected" in ctx:
        return f"one of {ctx['expected']} expected"
    if kind in {"too_short", "string_too_short"} and "min_length" in ctx:
        unit = "character" if kind == "string_too_short" else "item"
        count = ctx["min_length"]
        return f"at least {count} {unit}{'s' * (count != 1)} expected"
    if kind in _EXPECTED:
        return _EXPECTED[kind]
    message = error["msg"]
    if message.startswith("Input should be "):
        expected = message.removeprefix("Input should be ").split(", got ")[0]
        return f"{expected} expected"
    return message[:1].lower() + message[1:]


def _model_of(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in get_args(annotation):
        found = _model_of(arg)
        if found is not None:
            return found
    return None


def _allowed_keys(model: type[BaseModel], loc: Sequence[str | int]) -> list[str] | None:
    """The keys allowed by the model found at ``loc`` (best effort), with aliases."""
    current: type[BaseModel] | None = model
    for part in loc:
        if current is None:
            return None
        if isinstance(part, int):
            continue  # a list item: the model of the items is already current
        fields = {
            info.alias or name: info for name, info in current.model_fields.items()
        }
        if part not in fields:
            continue  # a validator's tag, not a key
        current = _model_of(fields[part].annotation)
    if current is None:
        return None
    return [info.alias or name for name, info in current.model_fields.items()]


def validation_problems(
    error: ValidationError,
    *,
    prefix: KeyPath = (),
    model: type[BaseModel] | None = None,
) -> list[Problem]:
    """Turn a pydantic ``ValidationError`` into `Problem` s, one per error.

    Parameters
    ----------
    error : pydantic.ValidationError
        The error of validating (part of) a loaded document.
    prefix : tuple of (str or int)
        Key path of the validated part within the document, e.g. ``("plan",)``
        for a mapping validated on its own.
    model : type of pydantic.BaseModel or None
        The model validated; used to list the allowed keys next to an unknown one.

    Returns
    -------
    list of Problem
        In pydantic's order; messages say what was expected (``"a mapping
        expected"``) without pydantic's URL and cause chain.
    """
    errors = error.errors(include_url=False)
    # pydantic also reports a list whose items failed as too short; say it once.
    nested = {details["loc"][:-1] for details in errors if details["loc"]}
    problems = []
    for details in errors:
        kind = details["type"]
        if kind == "too_short" and any(
            loc[: len(details["loc"])] == details["loc"] for loc in nested
        ):
            continue
        value = details["input"]
        if kind in {"missing", "extra_forbidden"} or (
            kind == "value_error" and isinstance(value, dict)
        ):
            value = NO_VALUE  # nothing useful to show
        problems.append(
            Problem(
                key_path=(*prefix, *details["loc"]),
                message=_expected(details, model),
                value=value,
                at_key=kind == "extra_forbidden",
            )
        )
    return problems


def to_scenario_error(
    error: ValidationError,
    positions: Positions,
    *,
    prefix: KeyPath = (),
    model: type[BaseModel] | None = None,
) -> ScenarioError:
    """Turn a pydantic ``ValidationError`` into a `ScenarioError` with positions.

    Each pydantic error's ``loc`` is placed in the file through ``positions``
    (falling back to the nearest parent that has a position) and reported as
    ``file:line:col key.path: what was expected, got <value>`` with the source
    line and a caret; problems are grouped by place and capped at
    `MAX_PROBLEMS` (STYLE.md section 9; dagster's ``pydantic_yaml``).

    Parameters
    ----------
    error : pydantic.ValidationError
        Raised by validating data returned by `load_yaml`.
    positions : Positions
        The positions returned with that data.
    prefix : tuple of (str or int)
        Key path of the validated part within the document.
    model : type of pydantic.BaseModel or None
        The model validated, to list allowed keys next to an unknown one.

    Returns
    -------
    ScenarioError
        Raise it ``from None`` to leave pydantic's cause chain out.
    """
    return positions.error(validation_problems(error, prefix=prefix, model=model))
