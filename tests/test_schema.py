"""The scenario and plan JSON Schemas (meter_sim.schema, scenarios/*.schema.json)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from jsonschema.exceptions import best_match

from meter_sim._yaml import load_yaml
from meter_sim.schema import (
    FIELD_DOCS,
    PLAN_SCHEMA_FILE,
    SCENARIO_SCHEMA_FILE,
    plan_schema,
    scenario_schema,
    schema_text,
    write_schemas,
)

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = ROOT / "scenarios"
DATA = Path(__file__).resolve().parent / "data"
SCENARIO_FILES = sorted(SCENARIOS.glob("*.yaml"))
PLAN_FILES = sorted((SCENARIOS / "plans").glob("*.yaml"))
TERMS_PLAN_FILES = sorted((SCENARIOS / "plans" / "terms").glob("*.yaml"))
"""Example plans with plan terms, outside the default price book (`plans/*.yaml`)."""


def validator(name: str) -> jsonschema.Draft202012Validator:
    schema = json.loads((SCENARIOS / name).read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def yaml_data(path: Path) -> Any:
    """The file as meter_sim reads it (YAML 1.1 booleans, Decimal floats, no dates)."""
    return load_yaml(path)[0]


def problems(checker: jsonschema.Draft202012Validator, data: Any) -> list[str]:
    """Each error as ``path: message``; for ``anyOf``, its most relevant branch's."""
    found = []
    for error in checker.iter_errors(data):
        leaf = best_match([error]) or error
        found.append(f"{'.'.join(map(str, leaf.absolute_path))}: {leaf.message}")
    return sorted(found)


@pytest.mark.parametrize(
    ("name", "generate"),
    [(SCENARIO_SCHEMA_FILE, scenario_schema), (PLAN_SCHEMA_FILE, plan_schema)],
)
def test_committed_schema_is_the_generated_one(name: str, generate: Any) -> None:
    committed = (SCENARIOS / name).read_text(encoding="utf-8")
    assert committed == schema_text(generate()), (
        f"scenarios/{name} is out of date: run `uv run python tools/export_schema.py`"
    )


def test_write_schemas_writes_both_files(tmp_path: Path) -> None:
    written = write_schemas(tmp_path)
    assert [p.name for p in written] == [SCENARIO_SCHEMA_FILE, PLAN_SCHEMA_FILE]
    assert written[0].read_text() == (SCENARIOS / SCENARIO_SCHEMA_FILE).read_text()


@pytest.mark.parametrize("path", [*SCENARIO_FILES, DATA / "minimal.yaml"], ids=str)
def test_every_scenario_validates(path: Path) -> None:
    assert problems(validator(SCENARIO_SCHEMA_FILE), yaml_data(path)) == []


@pytest.mark.parametrize("path", PLAN_FILES + TERMS_PLAN_FILES, ids=lambda p: p.name)
def test_every_plan_validates(path: Path) -> None:
    assert problems(validator(PLAN_SCHEMA_FILE), yaml_data(path)) == []


def test_there_are_scenarios_and_plans_to_validate() -> None:
    names = {p.name for p in SCENARIO_FILES}
    assert {"april-to-july.yaml", "training-provider.yaml"} <= names
    assert len(PLAN_FILES) == 7
    assert [p.name for p in TERMS_PLAN_FILES] == ["both-meters.yaml"]


def test_plan_terms_are_checked_by_the_schema() -> None:
    plan = dict(yaml_data(SCENARIOS / "plans" / "terms" / "both-meters.yaml"))
    plan["term_start"] = "2019-1"
    plan["tier_changes"] = [{"effective": "2019-02-30x", "base_fee": 1}]
    assert problems(validator(PLAN_SCHEMA_FILE), plan) == [
        r"term_start: '2019-1' does not match '^\\d{4}-(0[1-9]|1[0-2])$'",
        r"tier_changes.0.effective: '2019-02-30x' does not match "
        r"'^\\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\\d|3[01])$'",
    ]


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        (
            DATA / "unknown_key.yaml",
            "learners.0: Additional properties are not allowed ('nmae' was unexpected)",
        ),
        (
            DATA / "wrong_type.yaml",
            "learners.0.status.0.active: 'sometimes' is not of type 'boolean'",
        ),
    ],
    ids=["unknown_key", "wrong_type"],
)
def test_broken_scenario_files_are_rejected(path: Path, expected: str) -> None:
    assert problems(validator(SCENARIO_SCHEMA_FILE), yaml_data(path)) == [expected]


def _broken(change: str) -> Any:
    data = copy.deepcopy(yaml_data(SCENARIOS / "april-to-july.yaml"))
    if change == "month":
        data["period"]["through"] = "2018-13"
    elif change == "kind":
        data["learners"][0]["activities"][0]["kind"] = "dance"
    elif change == "time":
        data["learners"][0]["status"][0]["at"] = "11/04/2018 10:00"
    elif change == "timezone":
        del data["timezone"]
    elif change == "inline plan":
        data["plan"] = {"name": "X", "currency": "aud", "base_fee": 1}
    return data


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ("month", ["period.through: '2018-13' does not match"]),
        ("kind", ["learners.0.activities.0.kind: 'dance' is not one of"]),
        ("time", ["learners.0.status.0.at: '11/04/2018 10:00' does not match"]),
        ("timezone", [": 'timezone' is a required property"]),
        ("inline plan", ["plan.currency: 'aud' does not match"]),
    ],
)
def test_broken_scenarios_are_rejected(change: str, expected: list[str]) -> None:
    found = problems(validator(SCENARIO_SCHEMA_FILE), _broken(change))
    assert len(found) == len(expected), found
    for got, start in zip(found, expected, strict=True):
        assert got.startswith(start), got


def test_broken_plan_is_rejected() -> None:
    plan = dict(yaml_data(SCENARIOS / "plans" / "standard.yaml"))
    plan["currency"] = "aud"
    plan["included_learners"] = -1
    assert problems(validator(PLAN_SCHEMA_FILE), plan) == [
        "currency: 'aud' does not match '^[A-Z]{3}$'",
        "included_learners: -1 is less than the minimum of 0",
    ]


def _properties(schema: dict[str, Any]) -> dict[str, dict[str, Any]]:
    models = {"ScenarioDocument": schema} | schema["$defs"]
    return {
        name: model["properties"]
        for name, model in models.items()
        if "properties" in model
    }


def test_every_field_is_described_and_in_the_reference() -> None:
    reference = (SCENARIOS / "README.md").read_text(encoding="utf-8")
    for model, properties in _properties(scenario_schema()).items():
        assert set(properties) == set(FIELD_DOCS[model]), model
        for name, prop in properties.items():
            assert prop["description"], (model, name)
            assert f"`{name}`" in reference, (
                f"{model}.{name} not in scenarios/README.md"
            )
