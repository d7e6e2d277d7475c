"""Tests of meter_sim._yaml: positions, safe scalars, guards and error messages."""

from __future__ import annotations

import textwrap
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from meter_sim._yaml import (
    MAX_ALIASES,
    MAX_DEPTH,
    MAX_PROBLEMS,
    Position,
    Positions,
    Problem,
    load_yaml,
    to_scenario_error,
    validation_problems,
)
from meter_sim.exceptions import MeterSimError, ScenarioError

DATA = Path(__file__).parent / "data"


def write(tmp_path: Path, text: str, name: str = "doc.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


def walk(value: object) -> list[object]:
    """Every scalar in nested dicts and lists."""
    if isinstance(value, dict):
        return [leaf for item in value.values() for leaf in walk(item)]
    if isinstance(value, list):
        return [leaf for item in value for leaf in walk(item)]
    return [value]


class Entry(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    at: str
    count: int = Field(ge=0)


class Doc(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    entries: list[Entry]


DOC = """
name: demo
entries:
  - at: "2018-04-11 09:00"
    count: 1
  - {at: "2018-04-12 09:00", count: -3}
"""


# --- positions ----------------------------------------------------------------------


def test_positions_of_keys_values_and_items(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        learners:
          - id: L1
            status:
              - {at: 2018-04-11 09:00, active: yes}
              - at: 2018-04-11 16:00
                active: no
        """,
    )
    data, positions = load_yaml(path)
    assert data["learners"][0]["status"][1] == {
        "at": "2018-04-11 16:00",
        "active": False,
    }
    assert positions.get(()) == Position(1, 1)
    assert positions.get(("learners",)) == Position(2, 3)
    assert positions.get(("learners", 0)) == Position(2, 5)
    assert positions.get(("learners", 0, "id")) == Position(2, 9)
    assert positions.key(("learners", 0, "id")) == Position(2, 5)
    assert positions.get(("learners", 0, "status")) == Position(4, 7)
    assert positions.get(("learners", 0, "status", 0)) == Position(4, 9)
    assert positions.get(("learners", 0, "status", 0, "active")) == Position(4, 40)
    assert positions.get(("learners", 0, "status", 1)) == Position(5, 9)
    assert positions.get(("learners", 0, "status", 1, "at")) == Position(5, 13)
    assert positions.key(("learners", 0, "status", 1, "active")) == Position(6, 9)
    assert positions.get(("learners", 0, "status", 1, "active")) == Position(6, 17)
    assert ("learners", 0, "status", 2) not in positions
    assert positions.text(("learners", 0, "status", 1, "active")) == "no"
    assert positions.source == path
    assert positions.lines[1] == "  - id: L1"


def test_locate_falls_back_to_the_nearest_parent(tmp_path: Path) -> None:
    _, positions = load_yaml(write(tmp_path, DOC))
    assert positions.locate(("entries", 0, "missing")) == (
        ("entries", 0, "missing"),
        Position(3, 5),
    )
    assert positions.locate(("nowhere", "at", 7)) == (
        ("nowhere", "at", 7),
        Position(1, 1),
    )
    # A validator's tag between two keys of the document is dropped.
    assert positions.locate(("entries", 1, "Entry", "count")) == (
        ("entries", 1, "count"),
        Position(5, 37),
    )
    assert positions.locate(("entries", 1, "count"), at_key=True)[1] == Position(5, 30)


def test_merge_keys_are_not_duplicates_and_have_positions(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        defaults: &defaults {channel: ui, active: yes}
        entry:
          <<: *defaults
          active: no
        """,
    )
    data, positions = load_yaml(path)
    assert data["entry"] == {"channel": "ui", "active": False}
    assert positions.get(("entry", "active")) == Position(4, 11)
    assert positions.get(("entry", "channel")) == Position(1, 31)  # the anchor's


# --- scalars ------------------------------------------------------------------------


def test_timestamps_stay_text(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        naive: 2018-04-11 09:00
        iso: 2018-04-11T09:00:00+10:00
        date: 2018-04-11
        tagged: !!timestamp 2018-04-11
        month: 2018-04
        """,
    )
    data, _ = load_yaml(path)
    assert data == {
        "naive": "2018-04-11 09:00",
        "iso": "2018-04-11T09:00:00+10:00",
        "date": "2018-04-11",
        "tagged": "2018-04-11",
        "month": "2018-04",
    }


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("7.50", Decimal("7.50")),
        ("0.1", Decimal("0.1")),
        ("-3.25", Decimal("-3.25")),
        ("+2.5", Decimal("2.5")),
        ("1.5e+3", Decimal("1.5e+3")),
        (".5", Decimal("0.5")),
        ("!!float 3", Decimal("3")),
        (".inf", Decimal("Infinity")),
        ("-.Inf", Decimal("-Infinity")),
    ],
)
def test_floats_are_decimals_from_source_text(
    tmp_path: Path, text: str, expected: Decimal
) -> None:
    data, _ = load_yaml(write(tmp_path, f"x: {text}\n"))
    assert type(data["x"]) is Decimal
    assert data["x"] == expected
    assert str(data["x"]) == str(expected)


def test_nan_is_a_decimal_nan(tmp_path: Path) -> None:
    data, _ = load_yaml(write(tmp_path, "x: .nan\n"))
    assert isinstance(data["x"], Decimal)
    assert data["x"].is_nan()


def test_no_float_ever_comes_out(tmp_path: Path) -> None:
    data, _ = load_yaml(write(tmp_path, "a: [1.0, 2.5e-3, .NaN, {b: 0.1}]\nc: 3\n"))
    assert not any(isinstance(leaf, float) for leaf in walk(data))
    assert data["c"] == 3
    assert type(data["c"]) is int


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("1_000.50", "number"),
        ("1:30.5", "number"),
        ("010", "whole number"),
        ("0x10", "whole number"),
        ("1_000", "whole number"),
        ("1:30", "whole number"),
    ],
)
def test_numbers_yaml_would_misread_are_refused(
    tmp_path: Path, text: str, kind: str
) -> None:
    with pytest.raises(
        ScenarioError, match=rf"doc\.yaml:1:4: '{text}' is not a plain decimal {kind}"
    ):
        load_yaml(write(tmp_path, f"x: {text}\n"))


def test_explicit_float_that_is_not_a_number(tmp_path: Path) -> None:
    with pytest.raises(
        ScenarioError, match=r"doc\.yaml:1:4: 'abc' is not a plain decimal number"
    ) as info:
        load_yaml(write(tmp_path, "x: !!float abc\n"))
    assert (info.value.line, info.value.column) == (1, 4)


def test_other_scalars_are_unchanged(tmp_path: Path) -> None:
    data, _ = load_yaml(write(tmp_path, "a: yes\nb: off\nc: ~\nd: 12\ne: '12'\n"))
    assert data == {"a": True, "b": False, "c": None, "d": 12, "e": "12"}


def test_empty_file(tmp_path: Path) -> None:
    data, positions = load_yaml(write(tmp_path, "# nothing\n"))
    assert data is None
    assert len(positions) == 0


# --- guards -------------------------------------------------------------------------


def test_duplicate_key_is_an_error() -> None:
    with pytest.raises(
        ScenarioError, match=r"duplicate_key\.yaml:8:5: duplicate key `status`"
    ) as info:
        load_yaml(DATA / "duplicate_key.yaml")
    error = info.value
    assert (error.line, error.column, error.key_path) == (8, 5, "learners.0.status")
    assert "(first at line 6, column 5)" in str(error)
    assert "    8 |     status:\n      |     ^ duplicate key `status`" in str(error)


def test_duplicate_key_in_a_flow_mapping(tmp_path: Path) -> None:
    path = write(tmp_path, "a: {b: 1, c: 2, b: 3}\n")
    with pytest.raises(ScenarioError, match=r"doc\.yaml:1:17: duplicate key `b` in a"):
        load_yaml(path)


def test_duplicate_top_level_key(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match=r":2:1: duplicate key `a` in the document"):
        load_yaml(write(tmp_path, "a: 1\na: 2\n"))


def test_too_many_aliases(tmp_path: Path) -> None:
    aliases = ", ".join(["*x"] * (MAX_ALIASES + 1))
    path = write(tmp_path, f"a: &x 1\nb: [{aliases}]\n")
    with pytest.raises(
        ScenarioError, match=rf"more than {MAX_ALIASES} aliases"
    ) as info:
        load_yaml(path)
    assert info.value.line == 2


def test_a_few_aliases_are_fine(tmp_path: Path) -> None:
    data, _ = load_yaml(write(tmp_path, "a: &x {k: 1}\nb: [*x, *x]\n"))
    assert data["b"] == [{"k": 1}, {"k": 1}]


def test_billion_laughs_is_refused_quickly() -> None:
    with pytest.raises(
        ScenarioError, match=r"aliases expand to more than 10000 values"
    ):
        load_yaml(DATA / "billion_laughs.yaml")


def test_deep_nesting_is_refused(tmp_path: Path) -> None:
    depth = MAX_DEPTH + 5
    path = write(tmp_path, "x: " + "[" * depth + "]" * depth + "\n")
    with pytest.raises(
        ScenarioError, match=rf"doc\.yaml:1:\d+: nested deeper than {MAX_DEPTH} levels"
    ):
        load_yaml(path)


def test_recursive_alias_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match="nested deeper than 100 levels through"):
        load_yaml(write(tmp_path, "a: &a [*a]\n"))


# --- syntax and file errors ---------------------------------------------------------


def test_syntax_error_names_line_and_column_with_a_caret() -> None:
    with pytest.raises(
        ScenarioError, match=r"syntax_error\.yaml:8:4: expected"
    ) as info:
        load_yaml(DATA / "syntax_error.yaml")
    error = info.value
    assert (error.line, error.column, error.key_path) == (8, 4, None)
    assert str(error).endswith(
        "    7 |       - {at: 2018-04-11 10:00, active: yes}\n"
        "    8 |    activities: []\n"
        "      |    ^ expected <block end>, but found '<block mapping start>'"
    )
    assert "while parsing a block collection at line 5, column 3" in str(error)


def test_unclosed_flow_sequence(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match=r"doc\.yaml:2:2: expected ',' or '\]'"):
        load_yaml(write(tmp_path, "a: [1, 2\nb: 3\n"))


def test_more_than_one_document(tmp_path: Path) -> None:
    with pytest.raises(
        ScenarioError,
        match=r"doc\.yaml:2:1: expected a single document in the stream, but found "
        r"another document \(line 1, column 1\)",
    ):
        load_yaml(write(tmp_path, "a: 1\n---\nb: 2\n"))


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match=r"nope\.yaml: file not found") as info:
        load_yaml(tmp_path / "nope.yaml")
    assert info.value.source == str(tmp_path / "nope.yaml")
    assert info.value.line is None


def test_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes("name: caf\xe9\n".encode("latin-1"))
    with pytest.raises(ScenarioError, match=r"latin1\.yaml: not UTF-8 text"):
        load_yaml(path)


def test_scenario_error_is_a_meter_sim_error() -> None:
    assert issubclass(ScenarioError, MeterSimError)


# --- pydantic errors ----------------------------------------------------------------


def validation_error(model: type[BaseModel], data: Any) -> ValidationError:
    with pytest.raises(ValidationError) as info:
        model.model_validate(data)
    return info.value


def test_validation_error_reads_file_line_col_key_path_with_caret(
    tmp_path: Path,
) -> None:
    path = write(tmp_path, DOC)
    data, positions = load_yaml(path)
    error = to_scenario_error(validation_error(Doc, data), positions, model=Doc)
    assert str(error) == (
        f"{path}:5:37: entries.1.count: greater than or equal to 0 expected, got -3\n"
        "    4 |     count: 1\n"
        '    5 |   - {at: "2018-04-12 09:00", count: -3}\n'
        "      |                                     ^ greater than or equal to 0"
        " expected"
    )
    assert (error.source, error.line, error.column) == (str(path), 5, 37)
    assert error.key_path == "entries.1.count"
    assert "pydantic" not in str(error)
    assert "https://" not in str(error)


def test_missing_key_points_at_the_enclosing_mapping(tmp_path: Path) -> None:
    path = write(tmp_path, "name: demo\nentries:\n  - count: 1\n")
    data, positions = load_yaml(path)
    error = to_scenario_error(validation_error(Doc, data), positions, model=Doc)
    assert str(error).startswith(
        f"{path}:3:5: entries.0.at: missing required key `at`\n"
    )
    assert error.key_path == "entries.0.at"
    assert (error.line, error.column) == (3, 5)


def test_unknown_key_points_at_the_key_and_lists_allowed_keys(tmp_path: Path) -> None:
    path = write(tmp_path, "name: demo\nentries:\n  - {at: x, count: 1, cnt: 2}\n")
    data, positions = load_yaml(path)
    error = to_scenario_error(validation_error(Doc, data), positions, model=Doc)
    assert str(error) == (
        f"{path}:3:23: entries.0.cnt: unknown key `cnt`; expected one of at, count\n"
        "    2 | entries:\n"
        "    3 |   - {at: x, count: 1, cnt: 2}\n"
        "      |                       ^ unknown key `cnt`"
    )


def test_wrong_types_show_the_value(tmp_path: Path) -> None:
    path = write(tmp_path, "name: [a]\nentries: {}\n")
    data, positions = load_yaml(path)
    message = str(to_scenario_error(validation_error(Doc, data), positions))
    assert f"{path}:1:7: name: a string expected, got a list\n" in message
    assert f"{path}:2:10: entries: a list expected, got {{}}\n" in message


def test_problems_are_in_file_order_and_capped(tmp_path: Path) -> None:
    entries = "".join(f"  - {{at: x, count: -{n}}}\n" for n in range(1, 16))
    path = write(tmp_path, f"name: 5\nentries:\n{entries}")
    data, positions = load_yaml(path)
    error = to_scenario_error(validation_error(Doc, data), positions)
    message = str(error)
    heads = [line for line in message.splitlines() if line.startswith(str(path))]
    assert len(heads) == MAX_PROBLEMS
    assert heads[0].startswith(f"{path}:1:7: name: a string expected, got 5")
    assert heads[1].startswith(f"{path}:3:20: entries.0.count:")
    assert message.endswith(f"... and {16 - MAX_PROBLEMS} more problems")
    assert (error.line, error.key_path) == (1, "name")


def test_prefix_places_a_part_validated_on_its_own(tmp_path: Path) -> None:
    path = write(tmp_path, "plan:\n  at: now\n  count: 2.5\n  size: 1\n")
    data, positions = load_yaml(path)
    problems = validation_problems(
        validation_error(Entry, data["plan"]), prefix=("plan",), model=Entry
    )
    assert problems == [
        Problem(("plan", "count"), "a whole number expected", Decimal("2.5")),
        Problem(
            ("plan", "size"),
            "unknown key `size`; expected one of at, count",
            at_key=True,
        ),
    ]
    error = positions.error(problems)
    assert str(error).startswith(
        f"{path}:3:10: plan.count: a whole number expected, got 2.5\n"
    )
    assert f"{path}:4:3: plan.size: unknown key `size`" in str(error)


def test_problems_at_one_place_are_merged(tmp_path: Path) -> None:
    _, positions = load_yaml(write(tmp_path, "a: 1\n"))
    error = positions.error(
        [
            Problem(("a",), "first", 1),
            Problem(("a",), "second"),
            Problem(("a",), "first", 1),
        ]
    )
    assert (
        str(error).splitlines()[0] == f"{positions.source}:1:4: a: first, got 1; second"
    )


def test_error_needs_a_problem(tmp_path: Path) -> None:
    positions = Positions(tmp_path / "x.yaml", [])
    with pytest.raises(ValueError, match="`problems` must not be empty"):
        positions.error([])


def test_snippet_of_the_first_line_and_beyond_the_end(tmp_path: Path) -> None:
    positions = Positions(tmp_path / "x.yaml", ["a:\tb"])
    assert positions.snippet(Position(1, 4), "here") == (
        "    1 | a: b\n      |    ^ here"
    )
    assert positions.snippet(Position(3, 1), "here") == ""
