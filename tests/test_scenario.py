"""Tests of meter_sim.scenario: the schema, the loader, its errors and the frames."""

from __future__ import annotations

import textwrap
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import polars as pl
import pytest
from polars.testing import assert_frame_equal
from pydantic import ValidationError

from meter_sim.exceptions import ScenarioError
from meter_sim.lifecycle import (
    ActivityEvent,
    ActivityKind,
    Channel,
    Outcome,
    ReadKind,
    StatusEvent,
    replay,
)
from meter_sim.logs import ACTIVITY_SCHEMA, STATUS_SCHEMA
from meter_sim.pricing import Plan
from meter_sim.scenario import (
    Scenario,
    load_scenario,
    parse_instant,
)

ROOT = Path(__file__).parent.parent
EXAMPLE = ROOT / "scenarios" / "april-to-july.yaml"
PLANS = ROOT / "scenarios" / "plans"
DATA = Path(__file__).parent / "data"
SYDNEY = ZoneInfo("Australia/Sydney")

LEARNER = """\
learners:
  - id: L1
    status:
      - {at: 2018-04-11 10:00, active: yes}
"""


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def write(folder: Path, text: str, name: str = "scenario.yaml") -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


def scenario_text(plan: str = "{name: Inline, overage_price: 7.50}") -> str:
    return f"name: Test\ntimezone: Australia/Sydney\nplan: {plan}\n" + LEARNER


def lines_of(path: Path, needle: str) -> list[int]:
    """1-based numbers of the lines of ``path`` that contain ``needle``."""
    text = path.read_text(encoding="utf-8").splitlines()
    return [number for number, line in enumerate(text, 1) if needle in line]


@pytest.fixture(scope="module")
def example() -> Scenario:
    return load_scenario(EXAMPLE)


# --- the example scenario -----------------------------------------------------------


def test_example_metadata_plan_and_period(example: Scenario) -> None:
    assert example.name == "April to July (vendor FAQ example)"
    assert example.timezone == "Australia/Sydney"
    assert example.period == (date(2018, 4, 1), date(2018, 12, 1))
    assert example.source == EXAMPLE
    assert example.plan_source == EXAMPLE.parent / "plans" / "starter.yaml"
    assert example.plan == Plan(
        name="Starter",
        description=example.plan.description,
        currency="AUD",
        base_fee=Decimal("45.00"),
        included_learners=0,
        overage_price=Decimal("9.00"),
    )
    assert "Illustrative, not Wisenet's prices" in example.plan.description
    assert [learner.id for learner in example.learners] == ["L1", "L2"]


def test_example_status_frame(example: Scenario) -> None:
    # Sydney is +10:00 until 7 October 2018 and +11:00 after (1 January 2019).
    lines = lines_of(EXAMPLE, ", active: ")
    assert len(lines) == 10
    expected = pl.DataFrame(
        [
            ("L1", utc(2018, 4, 11, 0, 0), True, "ui", "admissions"),
            ("L1", utc(2018, 4, 11, 6, 0), False, "ui", "admissions"),
            ("L1", utc(2018, 7, 1, 23, 0), True, "ui", "trainer"),
            ("L1", utc(2018, 12, 31, 13, 0), False, "automation", None),
            ("L2", utc(2018, 4, 11, 0, 30), True, "ui", "admissions"),
            ("L2", utc(2018, 4, 11, 6, 0), False, "ui", "admissions"),
            ("L2", utc(2018, 5, 13, 23, 0), True, "ui", "admissions"),
            ("L2", utc(2018, 5, 14, 7, 0), False, "ui", "admissions"),
            ("L2", utc(2018, 7, 1, 23, 0), True, "ui", "trainer"),
            ("L2", utc(2018, 12, 31, 13, 0), False, "automation", None),
        ],
        schema=["learner_id", "changed_at", "is_active", "channel", "actor"],
        orient="row",
    ).select(
        pl.Series("line", lines, dtype=pl.Int64),
        pl.col("learner_id"),
        pl.col("changed_at").cast(pl.Datetime("us", "UTC")),
        pl.col("is_active"),
        pl.lit(None, dtype=pl.String).alias("event_id"),
        pl.col("channel"),
        pl.col("actor").cast(pl.String),
    )
    frame = example.status_frame()
    assert frame.schema == STATUS_SCHEMA
    assert_frame_equal(frame, expected)


def test_example_activity_frame(example: Scenario) -> None:
    frame = example.activity_frame()
    assert frame.schema == ACTIVITY_SCHEMA
    assert frame.height == 17
    assert frame["line"].to_list() == lines_of(EXAMPLE, "kind: ")
    assert frame["event_id"].null_count() == 17
    assert not frame["scheduled"].any()
    assert set(frame["channel"]) == {"ui"}
    l2 = frame.filter(pl.col("learner_id") == "L2")
    assert l2.head(3).select("occurred_at", "activity").rows() == [
        (utc(2018, 4, 11, 0, 35), "enrolment"),
        (utc(2018, 5, 10, 0, 0), "message"),  # 10:00 +10:00
        (utc(2018, 5, 13, 23, 5), "document"),  # 09:05 +10:00, the day before in UTC
    ]
    # 2018-10-08 09:15 is after the switch to daylight saving time (+11:00).
    october = frame.filter(pl.col("occurred_at").dt.month() == 10)
    assert october["occurred_at"].to_list() == [utc(2018, 10, 7, 22, 15)] * 2
    l1 = frame.filter(pl.col("learner_id") == "L1")["activity"].to_list()
    assert l1 == ["enrolment", "enrolment"] + ["attendance"] * 6


def test_example_tells_the_faq_story(example: Scenario) -> None:
    """Replayed by the reference state machine, the example bills as documented."""
    status = [
        StatusEvent(row["learner_id"], row["changed_at"], row["is_active"])
        for row in example.status_frame().iter_rows(named=True)
    ]
    activity = [
        ActivityEvent(
            row["learner_id"], row["occurred_at"], ActivityKind(row["activity"])
        )
        for row in example.activity_frame().iter_rows(named=True)
    ]
    result = replay(status, activity)
    assert [(e.learner_id, e.kind, o) for e, o in result.rejections] == [
        ("L2", ActivityKind.MESSAGE, Outcome.REJECTED_INACTIVE)
    ]
    assert example.period is not None
    first, last = example.period
    months = {
        learner_id: [
            m for m, _ in learner.billable_months(example.timezone, first, last)
        ]
        for learner_id, learner in result.learners.items()
    }
    july_to_december = [date(2018, month, 1) for month in range(7, 13)]
    assert months["L1"] == [date(2018, 4, 1), *july_to_december]
    assert months["L2"] == [date(2018, 4, 1), date(2018, 5, 1), *july_to_december]
    assert all(date(2018, 6, 1) not in billed for billed in months.values())
    # Deactivated at the first instant of January 2019: January is not billed.
    for learner in result.learners.values():
        billed = learner.billable_months(example.timezone, first, date(2019, 2, 1))
        assert billed[-1][0] == date(2018, 12, 1)


@pytest.mark.parametrize(
    ("file", "name", "base_fee", "included", "overage"),
    [
        ("starter.yaml", "Starter", "45.00", 0, "9.00"),
        ("standard-s.yaml", "Standard-S", "450.00", 50, "10.00"),
        ("standard.yaml", "Standard", "950.00", 150, "7.50"),
        ("premium.yaml", "Premium", "1950.00", 400, "5.75"),
        ("enterprise.yaml", "Enterprise", "4500.00", 1200, "4.25"),
    ],
)
def test_price_book(
    tmp_path: Path, file: str, name: str, base_fee: str, included: int, overage: str
) -> None:
    path = write(tmp_path, scenario_text(plan=f"plans/{file}"))
    (tmp_path / "plans").mkdir()
    (tmp_path / "plans" / file).write_bytes((PLANS / file).read_bytes())
    plan = load_scenario(path).plan
    assert (plan.name, plan.currency, plan.included_learners) == (name, "AUD", included)
    assert str(plan.base_fee) == base_fee
    assert str(plan.overage_price) == overage
    assert plan.description.startswith("Illustrative, not Wisenet's prices.")


# --- valid forms --------------------------------------------------------------------


def test_minimal_fixture_forms() -> None:
    scenario = load_scenario(DATA / "minimal.yaml")
    assert scenario.plan == Plan(
        name="Inline",
        currency="AUD",
        base_fee=Decimal(0),
        included_learners=0,
        overage_price=Decimal("7.50"),
    )
    assert scenario.plan_source is None
    assert scenario.period is None
    assert scenario.description == ""
    (learner,) = scenario.learners
    assert learner.id == "1042"  # an integer id is its decimal text
    assert learner.name is None
    assert [entry.at for entry in learner.status] == [
        utc(2018, 4, 10, 14, 0),  # a bare date is local midnight (+10:00)
        utc(2018, 4, 30, 14, 0),
    ]
    assert learner.status[0].channel is Channel.UI
    assert learner.status[1].channel is Channel.BULK
    assert learner.activities[0].kind is ReadKind.VIEW
    assert learner.activities[1].kind is ActivityKind.MESSAGE
    assert learner.activities[1].scheduled is True
    assert learner.activities[1].at == datetime(2018, 5, 2, 23, 0, 0, 500000, UTC)
    frame = scenario.activity_frame()
    assert frame.select("learner_id", "activity", "channel", "scheduled").rows() == [
        ("1042", "view", "ui", False),
        ("1042", "message", "automation", True),
    ]
    assert scenario.status_frame()["actor"].to_list() == [None, "cleanup"]


def test_inline_plan_floats_are_kept_as_decimal(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        scenario_text(
            "{name: X, base_fee: 0.10, overage_price: 7.1, currency: AUD, "
            "included_learners: 0}"
        ),
    )
    plan = load_scenario(path).plan
    assert type(plan.overage_price) is Decimal
    assert plan.overage_price == Decimal("7.1")
    assert plan.base_fee * 3 == Decimal("0.30")  # 0.1 + 0.1 + 0.1, exactly


def test_scenario_is_frozen(example: Scenario) -> None:
    with pytest.raises(AttributeError):
        example.name = "x"  # type: ignore[misc]
    with pytest.raises(ValidationError, match="frozen"):
        example.learners[0].id = "L9"  # type: ignore[misc]


# --- times --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2018-04-11 10:00", utc(2018, 4, 11, 0, 0)),
        ("2018-04-11T10:00", utc(2018, 4, 11, 0, 0)),
        ("2018-04-11T10:00:30", utc(2018, 4, 11, 0, 0, 30)),
        ("2018-04-11", utc(2018, 4, 10, 14, 0)),
        ("2018-04-11T10:00+09:30", utc(2018, 4, 11, 0, 30)),
        ("2018-04-11 10:00Z", utc(2018, 4, 11, 10, 0)),
        ("2018-10-08 09:00", utc(2018, 10, 7, 22, 0)),  # +11:00 after 7 October
        ("2019-01-01 00:00", utc(2018, 12, 31, 13, 0)),
        ("2018-10-07 02:30+10:00", utc(2018, 10, 6, 16, 30)),  # with an offset: fine
    ],
)
def test_parse_instant(text: str, expected: datetime) -> None:
    assert parse_instant(text, SYDNEY) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("11/04/2018", "an ISO-8601 date-time expected"),
        ("2018-04-11 9:00", "an ISO-8601 date-time expected"),
        ("2018-02-30 09:00", r"a valid date-time expected \(day is out of range"),
        (
            "2018-10-07 02:30",
            r"an existing local time expected.*\(\+10:00 or \+11:00\)",
        ),
        ("2018-04-01 02:30", r"an unambiguous local time.*\(\+11:00 or \+10:00\)"),
    ],
)
def test_parse_instant_errors(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_instant(text, SYDNEY)


def test_parse_instant_without_zone_needs_an_offset() -> None:
    assert parse_instant("2018-04-11T10:00+10:00", None) == utc(2018, 4, 11, 0, 0)
    with pytest.raises(ValueError, match="a date-time with a UTC offset expected"):
        parse_instant("2018-04-11 10:00", None)


def test_nonexistent_local_time() -> None:
    with pytest.raises(
        ScenarioError,
        match=r"nonexistent_time\.yaml:8:14: learners\.0\.status\.0\.at: an existing "
        r"local time expected: it is skipped in Australia/Sydney when the clocks go "
        r"forward; add the offset \(\+10:00 or \+11:00\), got '2018-10-07 02:30'",
    ) as info:
        load_scenario(DATA / "nonexistent_time.yaml")
    error = info.value
    assert (error.line, error.column) == (8, 14)
    assert error.key_path == "learners.0.status.0.at"
    assert error.source == str(DATA / "nonexistent_time.yaml")
    assert str(error).endswith(
        "    8 |       - {at: 2018-10-07 02:30, active: yes}\n"
        "      |              ^ an existing local time expected"
    )


def test_ambiguous_local_time() -> None:
    with pytest.raises(
        ScenarioError,
        match=r"ambiguous_time\.yaml:9:14: learners\.0\.status\.1\.at: an unambiguous "
        r"local time expected: it occurs twice in Australia/Sydney",
    ) as info:
        load_scenario(DATA / "ambiguous_time.yaml")
    assert (info.value.line, info.value.column) == (9, 14)
    assert info.value.key_path == "learners.0.status.1.at"


def test_time_of_the_wrong_type(tmp_path: Path) -> None:
    text = scenario_text().replace("at: 2018-04-11 10:00", "at: 20180411")
    with pytest.raises(
        ScenarioError,
        match=r":7:14: learners\.0\.status\.0\.at: an ISO-8601 date-time expected, e\.g\. "
        r"2018-04-11 09:00 \(local time\) or 2018-04-11T09:00\+10:00, got 20180411",
    ):
        load_scenario(write(tmp_path, text))


# --- schema errors ------------------------------------------------------------------


def test_unknown_key_with_position_and_caret() -> None:
    path = DATA / "unknown_key.yaml"
    with pytest.raises(ScenarioError, match=r"unknown key `nmae`") as info:
        load_scenario(path)
    error = info.value
    assert str(error) == (
        f"{path}:6:5: learners.0.nmae: unknown key `nmae`; expected one of id, name, "
        "status, activities, elearning, course_end\n"
        "    5 |   - id: L1\n"
        "    6 |     nmae: entered in April\n"
        "      |     ^ unknown key `nmae`"
    )
    assert (error.line, error.column, error.key_path) == (6, 5, "learners.0.nmae")


def test_wrong_type() -> None:
    with pytest.raises(
        ScenarioError,
        match=r"wrong_type\.yaml:7:40: learners\.0\.status\.0\.active: a boolean "
        r"expected: true/false or yes/no, got 'sometimes'",
    ) as info:
        load_scenario(DATA / "wrong_type.yaml")
    assert (info.value.line, info.value.column) == (7, 40)
    assert info.value.key_path == "learners.0.status.0.active"
    assert "got a list" not in str(info.value)  # no echo of the failed list itself


def test_bad_timezone() -> None:
    with pytest.raises(
        ScenarioError,
        match=r"bad_timezone\.yaml:2:11: timezone: an IANA time zone name expected, "
        r"e\.g\. Australia/Sydney, got 'Australia/Sidney'",
    ) as info:
        load_scenario(DATA / "bad_timezone.yaml")
    assert (info.value.line, info.value.column, info.value.key_path) == (
        2,
        11,
        "timezone",
    )
    # Times without an offset are not reported again for want of a time zone.
    assert str(info.value).count("\n") == 3


@pytest.mark.parametrize("zone", ["Australia", "../etc", "Foo/Bar", "5"])
def test_other_bad_timezones(tmp_path: Path, zone: str) -> None:
    text = scenario_text().replace("Australia/Sydney", zone)
    with pytest.raises(ScenarioError, match=r":2:11: timezone: (an IANA|a string)"):
        load_scenario(write(tmp_path, text))


def test_duplicate_learner_id() -> None:
    with pytest.raises(
        ScenarioError,
        match=r"duplicate_learner\.yaml:8:9: learners\.1\.id: a unique learner id "
        r"expected \(also used at line 5\), got 'L1'",
    ) as info:
        load_scenario(DATA / "duplicate_learner.yaml")
    assert (info.value.line, info.value.column) == (8, 9)
    assert info.value.key_path == "learners.1.id"


def test_integer_id_and_text_id_collide(tmp_path: Path) -> None:
    text = scenario_text().replace("- id: L1", "- id: 7") + LEARNER.replace(
        "learners:\n", ""
    ).replace("L1", "'7'")
    with pytest.raises(ScenarioError, match=r":8:9: learners\.1\.id: a unique"):
        load_scenario(write(tmp_path, text))


def test_id_that_yaml_reads_as_another_number(tmp_path: Path) -> None:
    text = scenario_text().replace("- id: L1", "- id: 0012")
    with pytest.raises(
        ScenarioError,
        match=r":5:9: '0012' is not a plain decimal whole number .* or quote it if "
        r"it is text",
    ):
        load_scenario(write(tmp_path, text))


def test_duplicate_yaml_key() -> None:
    with pytest.raises(
        ScenarioError, match=r"duplicate_key\.yaml:8:5: duplicate key `status`"
    ) as info:
        load_scenario(DATA / "duplicate_key.yaml")
    assert info.value.key_path == "learners.0.status"


def test_missing_keys_and_empty_lists(tmp_path: Path) -> None:
    path = write(tmp_path, "name: Test\nlearners:\n  - id: L1\n    status: []\n")
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    message = str(info.value)
    assert f"{path}:1:1: timezone: missing required key `timezone`" in message
    assert f"{path}:1:1: plan: missing required key `plan`" in message
    assert (
        f"{path}:4:13: learners.0.status: at least 1 item expected, got []" in message
    )


def test_document_that_is_not_a_mapping(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match=r":1:1: a mapping expected, got a list"):
        load_scenario(write(tmp_path, "- a\n- b\n"))
    with pytest.raises(ScenarioError, match=r":1:1: a mapping expected, got null"):
        load_scenario(write(tmp_path, "# empty\n"))


def test_unknown_channel_and_kind(tmp_path: Path) -> None:
    text = scenario_text() + (
        "    activities:\n      - {at: 2018-04-12 10:00, kind: dance, channel: fax}\n"
    )
    with pytest.raises(ScenarioError) as info:
        load_scenario(write(tmp_path, text))
    message = str(info.value)
    assert (
        ":9:38: learners.0.activities.0.kind: an activity or read kind expected: "
        "one of sales, personal_contact, compliance_demographic, enrolment, message, "
        "attendance, document; or view, reprint, compliance_export, report, "
        "got 'dance'"
    ) in message
    assert (
        ":9:54: learners.0.activities.0.channel: one of 'ui', 'automation', "
        "'connector', 'api', 'learner_app', 'bulk' or 'import' expected, got 'fax'"
    ) in message


@pytest.mark.parametrize(
    ("period", "message"),
    [
        (
            "{from: 2018-12, through: 2018-04}",
            r":3:9: period: `from` expected not after `through` "
            r"\(2018-12 is after 2018-04\)\n",
        ),
        ("{from: 2018-13, through: 2018-12}", r":3:16: period\.from: a month YYYY-MM"),
        ("{from: 2018-04}", r":3:9: period\.through: missing required key `through`"),
    ],
)
def test_bad_period(tmp_path: Path, period: str, message: str) -> None:
    text = scenario_text().replace("plan:", f"period: {period}\nplan:")
    with pytest.raises(ScenarioError, match=message):
        load_scenario(write(tmp_path, text))


def test_missing_scenario_file(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match=r"missing\.yaml: file not found"):
        load_scenario(tmp_path / "missing.yaml")


def test_syntax_error() -> None:
    with pytest.raises(ScenarioError, match=r"syntax_error\.yaml:8:4: ") as info:
        load_scenario(DATA / "syntax_error.yaml")
    assert (info.value.line, info.value.column) == (8, 4)


def test_billion_laughs() -> None:
    with pytest.raises(ScenarioError, match=r"billion_laughs\.yaml:\d+:\d+: aliases"):
        load_scenario(DATA / "billion_laughs.yaml")


# --- plans --------------------------------------------------------------------------


def test_plan_escaping_plans_folder() -> None:
    with pytest.raises(
        ScenarioError,
        match=r"plan_escape\.yaml:4:7: plan: a plan file inside the `plans/` folder "
        r"beside the scenario expected, e\.g\. plans/standard\.yaml, "
        r"got 'plans/\.\./\.\./\.\./scenarios/plans/starter\.yaml'",
    ) as info:
        load_scenario(DATA / "plan_escape.yaml")
    assert (info.value.line, info.value.column, info.value.key_path) == (4, 7, "plan")


@pytest.mark.parametrize(
    "reference", ["starter.yaml", "../plans/starter.yaml", "/etc/hostname", "plans"]
)
def test_plan_outside_plans_folder(tmp_path: Path, reference: str) -> None:
    write(tmp_path / "plans", "name: Starter\n", name="starter.yaml")
    write(tmp_path, "name: Starter\n", name="starter.yaml")
    path = write(tmp_path / "inner", scenario_text(plan=reference))
    with pytest.raises(ScenarioError, match=r":3:7: plan: a plan file inside"):
        load_scenario(path)


def test_missing_plan_file(tmp_path: Path) -> None:
    path = write(tmp_path, scenario_text(plan="plans/gold.yaml"))
    with pytest.raises(
        ScenarioError,
        match=r":3:7: plan: an existing plan file expected \(.*plans/gold\.yaml not "
        r"found\)\n",
    ):
        load_scenario(path)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (
            "overage_price: .nan",
            r"3:16: overage_price: a finite number expected, got .nan",
        ),
        (
            "overage_price: .inf",
            r"3:16: overage_price: a finite number expected, got .inf",
        ),
        (
            "overage_price: -7.50",
            r"3:16: overage_price: greater than or equal to 0 expected, got -7\.50",
        ),
        ("overage_pric: 7.50", r"3:1: overage_pric: unknown key `overage_pric`"),
    ],
)
def test_errors_inside_a_plan_file_name_its_lines(
    tmp_path: Path, line: str, message: str
) -> None:
    rest = "currency: AUD\nincluded_learners: 0\n"
    if line.startswith("overage_pric:"):
        rest += "overage_price: 1\n"
    plan = write(
        tmp_path / "plans", f"name: Bad\nbase_fee: 45.00\n{line}\n{rest}", "bad.yaml"
    )
    path = write(tmp_path, scenario_text(plan="plans/bad.yaml"))
    with pytest.raises(ScenarioError, match=rf"^{plan}:{message}") as info:
        load_scenario(path)
    assert info.value.source == str(plan)
    assert info.value.line == 3


def test_plan_file_syntax_error(tmp_path: Path) -> None:
    plan = write(tmp_path / "plans", "name: [Bad\n", "bad.yaml")
    path = write(tmp_path, scenario_text(plan="plans/bad.yaml"))
    with pytest.raises(ScenarioError, match=rf"^{plan}:2:1: "):
        load_scenario(path)


def test_inline_plan_errors_are_reported_with_the_others(tmp_path: Path) -> None:
    text = scenario_text(
        "{name: X, overage_price: .nan, base_fee: -1, currency: AUD, "
        "included_learners: 0}"
    ).replace("active: yes", "active: maybe")
    with pytest.raises(ScenarioError) as info:
        load_scenario(write(tmp_path, text))
    message = str(info.value)
    assert (
        ":3:48: plan.base_fee: greater than or equal to 0 expected, got -1" in message
    )
    assert ":3:32: plan.overage_price: a finite number expected, got .nan" in message
    assert ":7:40: learners.0.status.0.active: a boolean expected" in message
    assert (info.value.line, info.value.column) == (3, 32)
    assert info.value.key_path == "plan.overage_price"


def test_plan_of_the_wrong_type(tmp_path: Path) -> None:
    with pytest.raises(
        ScenarioError, match=r":3:7: plan: a plan file path or a mapping of plan fields"
    ):
        load_scenario(write(tmp_path, scenario_text(plan="[a, b]")))


def test_learners_and_needs_frames_for_strategies(example: Scenario) -> None:
    learners = example.learners_frame()
    assert learners.rows() == [
        ("L1", utc(2018, 4, 11, 0), utc(2018, 12, 21, 6)),  # 17:00 AEDT (+11)
        ("L2", utc(2018, 4, 11, 0, 30), utc(2018, 12, 21, 6)),
    ]
    needs = example.needs_frame()
    assert needs.height == 17  # every activity of the example is a need (no reads)
    may = needs.filter(pl.col("kind").is_in(["message", "document"]))
    assert may.select("learner_id", "at", "kind", "deferrable").rows() == [
        ("L2", utc(2018, 5, 10, 0), "message", True),
        ("L2", utc(2018, 5, 13, 23, 5), "document", True),
    ]
    assert not needs.filter(pl.col("kind") == "attendance")["deferrable"].any()


def test_a_need_before_creation_is_an_error(tmp_path: Path) -> None:
    plan = (
        "{name: X, currency: AUD, base_fee: 0, included_learners: 0, overage_price: 1}"
    )
    text = scenario_text(plan).replace(
        "      - {at: 2018-04-11 10:00, active: yes}",
        "      - {at: 2018-04-11 10:00, active: yes}\n"
        "    activities:\n      - {at: 2018-04-10 10:00, kind: message}",
    )
    scenario = load_scenario(write(tmp_path, text))
    with pytest.raises(ScenarioError, match=r"activities\.0\.at: a time not before"):
        scenario.needs_frame()
