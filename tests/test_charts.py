"""Tests for meter_sim.charts: chart specs via ``to_dict()``, never pixels.

The inputs are a small hand-written status log and activity log in the billing
time zone Australia/Sydney (+10:00 until 7 October 2018, +11:00 after), billed
April to December 2018:

- L1 is created Active on 11 April 09:00, set Inactive at 17:00, and Active
  again from 2 July (still Active at the end of the log).
- L2 is created on 11 April, set Inactive the same day; a message attempted on
  10 May while Inactive is rejected; it is Active on 14 May 09:00-17:00, and
  from 2 July. A Learner App message on 20 June (Inactive) is rejected too; a
  view on 1 June (a read) is allowed.
- L3 is created Inactive on 1 March (before the period), Active from 15 March
  to 3 April; a scheduled automation message on 5 April is allowed while
  Inactive, and a message for the unknown learner L9 is rejected.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import altair as alt
import polars as pl
import pytest

from meter_sim import charts
from meter_sim.billing import Bill, bill
from meter_sim.elearning import parse_elearning_log
from meter_sim.logs import parse_activity_log, parse_status_log
from meter_sim.metering import REASONS
from meter_sim.pricing import Plan, TierChange
from meter_sim.reconcile import MONTHS_SCHEMA, Reconciliation, read_invoice, reconcile
from meter_sim.savings import FINDINGS

if TYPE_CHECKING:
    from pathlib import Path

TZ = "Australia/Sydney"
FIRST = date(2018, 4, 1)
LAST = date(2018, 12, 1)
MONTHS = [f"2018-{m:02d}" for m in range(4, 13)]

STATUS = pl.DataFrame(
    [
        ("L1", "2018-04-11T09:00:00+10:00", "yes"),
        ("L1", "2018-04-11T17:00:00+10:00", "no"),
        ("L1", "2018-07-02T09:00:00+10:00", "yes"),
        ("L2", "2018-04-11T09:30:00+10:00", "yes"),
        ("L2", "2018-04-11T17:00:00+10:00", "no"),
        ("L2", "2018-05-14T09:00:00+10:00", "yes"),
        ("L2", "2018-05-14T17:00:00+10:00", "no"),
        ("L2", "2018-07-02T09:00:00+10:00", "yes"),
        ("L3", "2018-03-01T09:00:00+11:00", "no"),
        ("L3", "2018-03-15T09:00:00+11:00", "yes"),
        ("L3", "2018-04-03T12:00:00+10:00", "no"),
    ],
    schema=["learner_id", "changed_at", "is_active"],
    orient="row",
)
"""Status log rows; data line ``i`` (0-based) is CSV line ``i + 2``."""

ACTIVITY = pl.DataFrame(
    [
        ("L1", "2018-04-11T10:00:00+10:00", "enrolment", "ui", "no"),
        ("L2", "2018-05-10T10:00:00+10:00", "message", "ui", "no"),
        ("L2", "2018-05-14T09:05:00+10:00", "document", "ui", "no"),
        ("L2", "2018-06-01T10:00:00+10:00", "view", "ui", "no"),
        ("L2", "2018-06-20T10:00:00+10:00", "message", "learner_app", "no"),
        ("L3", "2018-04-05T08:00:00+10:00", "message", "automation", "yes"),
        ("L9", "2018-08-01T10:00:00+10:00", "message", "api", "no"),
        ("L1", "2018-12-03T09:15:00+11:00", "attendance", "ui", "no"),
    ],
    schema=["learner_id", "occurred_at", "activity", "channel", "scheduled"],
    orient="row",
)
"""Activity log rows: lines 3 (L2, 10 May), 6 (L2, Learner App) and 8 (L9) are
rejected; line 5 is a read; line 7 is allowed while Inactive."""

REJECTED_LINES = [3, 6, 8]

PLAN = Plan(
    name="Test",
    currency="EUR",
    base_fee=Decimal("45.00"),
    included_learners=1,
    overage_price=Decimal("9.50"),
)


@pytest.fixture(scope="module")
def billed() -> Bill:
    status = parse_status_log(STATUS, "status.csv")
    activity = parse_activity_log(ACTIVITY, "activity.csv")
    return bill(
        status, activity, plan=PLAN, timezone=TZ, first_month=FIRST, last_month=LAST
    )


@pytest.fixture(scope="module")
def timeline(billed: Bill) -> dict[str, Any]:
    chart = charts.status_timeline(
        billed.intervals,
        billed.activity,
        timezone=TZ,
        first_month=FIRST,
        last_month=LAST,
    )
    return chart.to_dict()


@pytest.fixture(scope="module")
def monthly(billed: Bill) -> dict[str, Any]:
    return charts.monthly_bill(billed.monthly, currency=PLAN.currency).to_dict()


@pytest.fixture(scope="module")
def grid(billed: Bill) -> dict[str, Any]:
    chart = charts.billed_months(
        billed.learner_months, first_month=FIRST, last_month=LAST
    )
    return chart.to_dict()


def rows(spec: dict[str, Any], *nested: dict[str, Any]) -> list[dict[str, Any]]:
    """The data rows of the innermost of ``nested`` (outermost first) with data.

    Altair moves the rows to the top-level ``datasets``; a layer's units may
    inherit the data of the layer.
    """
    node = next(n for n in reversed(nested) if "data" in n)
    return list(spec["datasets"][node["data"]["name"]])


def units(spec: dict[str, Any]) -> list[dict[str, Any]]:
    """Every unit (single-mark) spec inside a layered or concatenated spec."""
    if "layer" in spec:
        return [u for s in spec["layer"] for u in units(s)]
    if "vconcat" in spec:
        return [u for s in spec["vconcat"] for u in units(s)]
    return [spec]


def mark_type(unit: dict[str, Any]) -> str:
    mark = unit["mark"]
    return str(mark if isinstance(mark, str) else mark["type"])


def tooltip_fields(unit: dict[str, Any]) -> list[str]:
    return [t["field"] for t in unit["encoding"]["tooltip"]]


def title_text(spec: dict[str, Any]) -> str:
    title = spec["title"]
    return str(title if isinstance(title, str) else title["text"])


# -- the theme -----------------------------------------------------------------


def test_theme_is_registered_and_enabled() -> None:
    assert charts.THEME_NAME in alt.theme.names()
    assert alt.theme.active == charts.THEME_NAME


def test_theme_config_reaches_the_spec(grid: dict[str, Any]) -> None:
    assert grid["config"]["view"]["stroke"] is None
    assert grid["config"]["title"]["anchor"] == "start"


# -- status_timeline --------------------------------------------------------------


def test_timeline_layers_marks_and_title(timeline: dict[str, Any]) -> None:
    assert title_text(timeline) == "Learner status timeline"
    assert "2018-04 to 2018-12" in timeline["title"]["subtitle"]
    assert [mark_type(u) for u in timeline["layer"]] == ["bar", "point", "point"]


def test_timeline_encodings(timeline: dict[str, Any]) -> None:
    bars, points, _ = timeline["layer"]
    x = bars["encoding"]["x"]
    assert (x["field"], x["type"]) == ("start", "temporal")
    assert x["title"] == f"Wall-clock time [{TZ}]"
    assert x["scale"]["type"] == "utc"
    assert x["scale"]["domain"] == [
        {"year": 2018, "month": 4, "date": 1, "utc": True},
        {"year": 2019, "month": 1, "date": 1, "utc": True},
    ]
    assert bars["encoding"]["x2"]["field"] == "end"
    for unit in timeline["layer"]:
        y = unit["encoding"]["y"]
        assert (y["field"], y["type"]) == ("learner_id", "nominal")
        assert y["title"] == "Learner [learner_id]"
        assert unit["encoding"]["color"]["field"] == "event"
    assert (points["encoding"]["x"]["field"], points["encoding"]["x"]["type"]) == (
        "at",
        "temporal",
    )


def test_timeline_tooltips(timeline: dict[str, Any]) -> None:
    bars, points, rejected = timeline["layer"]
    assert tooltip_fields(bars) == ["learner_id", "activated", "deactivated"]
    expected = ["learner_id", "occurred", "activity", "channel", "outcome", "line"]
    assert tooltip_fields(points) == expected
    assert tooltip_fields(rejected) == expected


def test_timeline_intervals_in_wall_clock_time(timeline: dict[str, Any]) -> None:
    bars = rows(timeline, timeline["layer"][0])
    got = [(r["learner_id"], r["start"], r["end"], r["deactivated"]) for r in bars]
    assert got == [
        ("L1", "2018-04-11T09:00:00Z", "2018-04-11T17:00:00Z", "2018-04-11 17:00 AEST"),
        # Still Active at the end of the log: drawn to the end of December.
        ("L1", "2018-07-02T09:00:00Z", "2019-01-01T00:00:00Z", "still Active"),
        ("L2", "2018-04-11T09:30:00Z", "2018-04-11T17:00:00Z", "2018-04-11 17:00 AEST"),
        ("L2", "2018-05-14T09:00:00Z", "2018-05-14T17:00:00Z", "2018-05-14 17:00 AEST"),
        ("L2", "2018-07-02T09:00:00Z", "2019-01-01T00:00:00Z", "still Active"),
        # Began in March, before the period: clipped to 1 April, tooltip unclipped.
        ("L3", "2018-04-01T00:00:00Z", "2018-04-03T12:00:00Z", "2018-04-03 12:00 AEST"),
    ]
    assert bars[-1]["activated"] == "2018-03-15 09:00 AEDT"
    assert {r["event"] for r in bars} == {"active"}


def test_timeline_rejected_layer_has_exactly_the_rejected_rows(
    billed: Bill, timeline: dict[str, Any]
) -> None:
    rejected = timeline["layer"][2]
    assert billed.activity is not None
    expected = billed.activity.filter(
        pl.col("outcome").cast(pl.String).str.starts_with("rejected_")
    )
    data = rows(timeline, rejected)
    assert sorted(r["line"] for r in data) == sorted(expected["line"]) == REJECTED_LINES
    assert {r["outcome"] for r in data} == {
        "rejected_inactive",
        "rejected_portal_closed",
        "rejected_unknown_learner",
    }
    assert {r["event"] for r in data} == {"rejected"}
    assert data[0]["at"] == "2018-05-10T10:00:00Z"
    assert data[0]["occurred"] == "2018-05-10 10:00 AEST"


def test_timeline_rejected_is_a_red_cross_in_the_legend(
    timeline: dict[str, Any],
) -> None:
    encoding = timeline["layer"][2]["encoding"]
    for channel, value in (("color", "#d62728"), ("shape", "cross")):
        scale = encoding[channel]["scale"]
        assert dict(zip(scale["domain"], scale["range"], strict=True))["rejected"] == (
            value
        )
        assert encoding[channel]["title"] == "Event"


def test_timeline_other_activity_layer(timeline: dict[str, Any]) -> None:
    data = rows(timeline, timeline["layer"][1])
    assert [(r["line"], r["event"]) for r in data] == [
        (2, "accepted"),
        # After 7 October Sydney is on +11:00: 09:15 local stays 09:15.
        (9, "accepted"),
        (4, "accepted"),
        (5, "read"),
        (7, "allowed_while_inactive"),
    ]
    assert data[1]["at"] == "2018-12-03T09:15:00Z"
    assert data[1]["occurred"] == "2018-12-03 09:15 AEDT"


def test_timeline_without_activity_has_one_layer(billed: Bill) -> None:
    spec = charts.status_timeline(
        billed.intervals, timezone=TZ, first_month=FIRST, last_month=LAST
    ).to_dict()
    assert [mark_type(u) for u in spec["layer"]] == ["bar"]


def test_timeline_without_rejections_keeps_an_empty_rejected_layer(
    billed: Bill,
) -> None:
    assert billed.activity is not None
    accepted = billed.activity.filter(pl.col("outcome") == "accepted")
    spec = charts.status_timeline(
        billed.intervals, accepted, timezone=TZ, first_month=FIRST, last_month=LAST
    ).to_dict()
    assert len(spec["layer"]) == 3
    assert rows(spec, spec["layer"][2]) == []


def test_timeline_period_clips_rows(billed: Bill) -> None:
    spec = charts.status_timeline(
        billed.intervals,
        billed.activity,
        timezone=TZ,
        first_month=date(2018, 5, 1),
        last_month=date(2018, 6, 1),
    ).to_dict()
    bars = rows(spec, spec["layer"][0])
    assert [(r["learner_id"], r["start"], r["end"]) for r in bars] == [
        ("L2", "2018-05-14T09:00:00Z", "2018-05-14T17:00:00Z"),
    ]
    assert [r["line"] for r in rows(spec, spec["layer"][2])] == [3, 6]


# -- monthly_bill ---------------------------------------------------------------


def test_monthly_bill_layout_and_titles(monthly: dict[str, Any]) -> None:
    assert title_text(monthly) == "Monthly bill [EUR]"
    learners, amounts = monthly["vconcat"]
    assert title_text(learners) == "Billable learners per month"
    assert title_text(amounts) == "Monthly total [EUR]"
    assert [mark_type(u) for u in learners["layer"]] == ["bar", "text", "tick", "bar"]
    assert [mark_type(u) for u in amounts["layer"]] == ["bar", "text"]


def test_monthly_bill_axes(monthly: dict[str, Any]) -> None:
    learners, amounts = monthly["vconcat"]
    for unit in units(monthly):
        x = unit["encoding"]["x"]
        assert (x["field"], x["type"]) == ("month", "ordinal")
        assert x["title"] == "Billing month [YYYY-MM]"
        assert x["scale"]["domain"] == MONTHS
    bars, _, included, overage = learners["layer"]
    assert (overage["encoding"]["y"]["field"], overage["encoding"]["y2"]["field"]) == (
        "included_learners",
        "billable_learners",
    )
    # Only the months above the included learners are shaded as overage.
    shaded = rows(monthly, learners, overage)
    assert shaded
    assert all(r["overage_learners"] > 0 for r in shaded)
    assert bars["encoding"]["y"]["field"] == "billable_learners"
    assert bars["encoding"]["y"]["type"] == "quantitative"
    assert included["encoding"]["y"]["field"] == "included_learners"
    for unit in learners["layer"]:
        assert unit["encoding"]["y"]["title"] == "Billable learners [learners]"
    money = amounts["layer"][0]["encoding"]
    assert (money["y"]["field"], money["y"]["stack"]) == ("amount", "zero")
    for unit in amounts["layer"]:
        assert unit["encoding"]["y"]["title"] == "Amount [EUR]"
    assert money["color"]["field"] == "line"


def test_monthly_bill_tooltips(monthly: dict[str, Any]) -> None:
    learners, amounts = monthly["vconcat"]
    assert tooltip_fields(learners["layer"][0]) == [
        "month",
        "billable_learners",
        "included_learners",
        "overage_learners",
    ]
    money = amounts["layer"][0]["encoding"]["tooltip"]
    assert [t["field"] for t in money] == ["month", "line", "amount", "total"]
    assert money[2]["title"] == "amount [EUR]"


def test_monthly_bill_rows(billed: Bill, monthly: dict[str, Any]) -> None:
    learners, amounts = monthly["vconcat"]
    data = rows(monthly, learners, learners["layer"][0])
    assert [r["month"] for r in data] == MONTHS
    assert [r["billable_learners"] for r in data] == [3, 1, 0, 2, 2, 2, 2, 2, 2]
    assert {r["included_learners"] for r in data} == {1}
    money = rows(monthly, amounts, amounts["layer"][0])
    assert len(money) == 2 * len(MONTHS)
    for month, total in zip(
        MONTHS, billed.monthly["total"].cast(pl.Float64), strict=True
    ):
        lines = [r for r in money if r["month"] == month]
        assert [r["line"] for r in lines] == ["base_subscription", "overage"]
        assert sum(r["amount"] for r in lines) == pytest.approx(total)
        assert all(isinstance(r["amount"], float) for r in lines)
    april = {r["line"]: r["amount"] for r in money if r["month"] == "2018-04"}
    assert april == {"base_subscription": 45.0, "overage": 19.0}


def test_monthly_bill_takes_the_currency_from_the_argument(billed: Bill) -> None:
    spec = charts.monthly_bill(billed.monthly, currency="NZD").to_dict()
    assert spec["vconcat"][1]["layer"][0]["encoding"]["y"]["title"] == "Amount [NZD]"


# -- both meters: the e-Learning meter beside the LRM one -------------------------

ELEARNING = pl.DataFrame(
    [
        ("L1", "E1", "2018-04-11T10:00:00+10:00", "no"),
        ("L1", "E1", "2018-07-02T10:00:00+10:00", "yes"),
        ("L2", "E2", "2018-05-14T10:00:00+10:00", "yes"),
        ("L2", "E2", "2018-05-14T11:00:00+10:00", "no"),
        ("L2", "E3", "2018-09-03T10:00:00+10:00", "yes"),
        ("L2", "E3", "2018-10-15T10:00:00+11:00", "no"),
    ],
    schema=["learner_id", "enrolment_id", "changed_at", "enabled"],
    orient="row",
)
"""e-Learning enrolments, each enabled while its learner is LRM-Active.

L1's E1 is created Disabled in April (not billed) and enabled on 2 July, to the
end of the log: July to December. L2's E2 is enabled and disabled on 14 May
(May), E3 from 3 September to 15 October (September and October). So e-Learning
Active Learners: April 0, May 1, June 0, July 1, August 1, September 2,
October 2, November 1, December 1.
"""

ELEARNING_COUNTS = [0, 1, 0, 1, 1, 2, 2, 1, 1]
LRM_COUNTS = [3, 1, 0, 2, 2, 2, 2, 2, 2]

BOTH_PLAN = PLAN.model_copy(
    update={
        "included_elearning_learners": 1,
        "elearning_overage_price": Decimal("4.00"),
        "tier_changes": (
            TierChange(effective=date(2018, 11, 1), included_elearning_learners=2),
        ),
    }
)
"""The test plan with 1 e-Learning Active Learner included (2 from November)
and 4.00 for each beyond: only September and October have e-Learning overage
(2 - 1 = 1 learner, 4.00)."""


@pytest.fixture(scope="module")
def both() -> Bill:
    return bill(
        parse_status_log(STATUS, "status.csv"),
        parse_activity_log(ACTIVITY, "activity.csv"),
        plan=BOTH_PLAN,
        timezone=TZ,
        first_month=FIRST,
        last_month=LAST,
        elearning=parse_elearning_log(ELEARNING, "elearning.csv"),
    )


@pytest.fixture(scope="module")
def meters(both: Bill) -> dict[str, Any]:
    return charts.meters_chart(both.monthly).to_dict()


def test_monthly_bill_adds_the_elearning_overage_line(both: Bill) -> None:
    spec = charts.monthly_bill(both.monthly, currency=PLAN.currency).to_dict()
    amounts = spec["vconcat"][1]
    assert amounts["title"]["subtitle"] == (
        "Stacked invoice lines: base subscription and overage (LRM and e-Learning)"
    )
    color = amounts["layer"][0]["encoding"]["color"]
    assert dict(
        zip(color["scale"]["domain"], color["scale"]["range"], strict=True)
    ) == {
        "base_subscription": "#9ecae9",
        "overage": "#4c78a8",
        "elearning_overage": "#54a24b",
    }
    money = rows(spec, amounts, amounts["layer"][0])
    assert len(money) == 3 * len(MONTHS)
    by_month = {
        month: {r["line"]: r["amount"] for r in money if r["month"] == month}
        for month in MONTHS
    }
    # April: 45.00 base + (3 - 1) x 9.50 LRM overage, no e-Learning overage.
    assert by_month["2018-04"] == {
        "base_subscription": 45.0,
        "overage": 19.0,
        "elearning_overage": 0.0,
    }
    # September: 45.00 + (2 - 1) x 9.50 + (2 - 1) x 4.00 = 58.50, the total.
    assert by_month["2018-09"] == {
        "base_subscription": 45.0,
        "overage": 9.5,
        "elearning_overage": 4.0,
    }
    september = next(r for r in money if r["month"] == "2018-09")
    assert september["total"] == 58.5
    for month, total in zip(
        MONTHS, both.monthly["total"].cast(pl.Float64), strict=True
    ):
        assert sum(by_month[month].values()) == pytest.approx(total)


def test_monthly_bill_without_elearning_keeps_two_lines(
    monthly: dict[str, Any],
) -> None:
    amounts = monthly["vconcat"][1]
    assert amounts["title"]["subtitle"] == (
        "Stacked invoice lines: base subscription and overage"
    )
    color = amounts["layer"][0]["encoding"]["color"]
    assert color["scale"]["domain"] == ["base_subscription", "overage"]


def test_meters_chart_layout_and_encodings(meters: dict[str, Any]) -> None:
    assert title_text(meters) == "Active Learners per meter"
    assert meters["title"]["subtitle"].startswith("Lines: billable learners")
    counted, included = meters["layer"]
    assert [mark_type(counted), mark_type(included)] == ["line", "line"]
    assert counted["mark"]["point"] == {"filled": True, "size": 60}
    assert included["mark"]["strokeDash"] == [6, 3]
    for unit in (counted, included):
        encoding = unit["encoding"]
        x = encoding["x"]
        assert (x["field"], x["type"], x["title"]) == (
            "month",
            "ordinal",
            "Billing month [YYYY-MM]",
        )
        assert x["scale"]["domain"] == MONTHS
        assert encoding["y"]["title"] == "Active Learners [learners]"
        assert encoding["y"]["type"] == "quantitative"
        color = encoding["color"]
        assert (color["field"], color["title"]) == ("meter", "Meter")
        assert dict(
            zip(color["scale"]["domain"], color["scale"]["range"], strict=True)
        ) == {"LRM Active Learners": "#4c78a8", "e-Learning Active Learners": "#54a24b"}
        assert tooltip_fields(unit) == [
            "month",
            "meter",
            "learners",
            "included",
            "overage",
        ]
    assert counted["encoding"]["y"]["field"] == "learners"
    assert included["encoding"]["y"]["field"] == "included"
    # At most 3 learners: one tick per learner.
    assert counted["encoding"]["y"]["axis"]["values"] == [0, 1, 2, 3]


def test_meters_chart_rows(meters: dict[str, Any]) -> None:
    data = rows(meters, meters)
    assert [r["month"] for r in data] == [m for m in MONTHS for _ in range(2)]
    lrm = [r for r in data if r["meter"] == "LRM Active Learners"]
    elearning = [r for r in data if r["meter"] == "e-Learning Active Learners"]
    assert [r["learners"] for r in lrm] == LRM_COUNTS
    assert [r["learners"] for r in elearning] == ELEARNING_COUNTS
    # LRM: 1 included throughout; overage = billable - 1 (never below 0).
    assert {r["included"] for r in lrm} == {1}
    assert [r["overage"] for r in lrm] == [2, 0, 0, 1, 1, 1, 1, 1, 1]
    # e-Learning: 1 included, 2 from November (the change effective 1 November).
    assert [r["included"] for r in elearning] == [1] * 7 + [2] * 2
    assert [r["overage"] for r in elearning] == [0, 0, 0, 0, 0, 1, 1, 0, 0]
    assert {r["rank"] for r in lrm} == {0}
    assert {r["rank"] for r in elearning} == {1}


def test_meters_chart_title_is_the_argument(both: Bill) -> None:
    spec = charts.meters_chart(both.monthly, title="Both meters, 2018").to_dict()
    assert title_text(spec) == "Both meters, 2018"


def test_meters_chart_needs_the_elearning_meter(billed: Bill) -> None:
    with pytest.raises(ValueError, match="no `elearning_learners` column"):
        charts.meters_chart(billed.monthly)


def test_meters_chart_names_another_missing_column(both: Bill) -> None:
    with pytest.raises(ValueError, match="no `included_elearning_learners` column"):
        charts.meters_chart(both.monthly.drop("included_elearning_learners"))


def test_meters_chart_renders_to_svg(both: Bill, tmp_path: Path) -> None:
    """Vega-Lite compiles and Vega draws it (vl-convert, headless): both series
    are in the picture, with the legend and axis titles."""
    path = tmp_path / "meters.svg"
    charts.save(charts.meters_chart(both.monthly), path, title="meters")
    svg = path.read_text(encoding="utf-8")
    assert svg.startswith("<svg")
    for text in (
        "Active Learners per meter",
        "LRM Active Learners",
        "e-Learning Active Learners",
        "Billing month [YYYY-MM]",
        "Active Learners [learners]",
    ):
        assert text in svg
    # One line per meter for the counts and one for the included learners.
    assert svg.count('aria-roledescription="line mark"') == 4


# -- billed_months --------------------------------------------------------------


def test_billed_months_spec(billed: Bill, grid: dict[str, Any]) -> None:
    assert title_text(grid) == "Billed learner-months"
    assert mark_type(grid) == "rect"
    encoding = grid["encoding"]
    assert (encoding["x"]["field"], encoding["x"]["type"]) == ("month", "ordinal")
    # June is a column even though nobody is billed in it.
    assert encoding["x"]["scale"]["domain"] == MONTHS
    assert encoding["x"]["title"] == "Billing month [YYYY-MM]"
    assert encoding["y"]["title"] == "Learner [learner_id]"
    assert encoding["color"]["scale"]["domain"] == list(REASONS)
    assert tooltip_fields(grid) == ["learner_id", "month", "reason"]
    data = rows(grid, grid)
    assert len(data) == billed.learner_months.height
    assert [r["month"] for r in data if r["learner_id"] == "L2"] == [
        "2018-04",
        "2018-05",
        *MONTHS[3:],
    ]
    assert {
        (r["learner_id"], r["reason"]) for r in data if r["month"] == "2018-04"
    } == {
        ("L1", "created_active"),
        ("L2", "created_active"),
        ("L3", "carried_over"),
    }


# -- every chart ----------------------------------------------------------------


@pytest.mark.parametrize("name", ["timeline", "monthly", "grid", "meters"])
def test_every_chart_has_titles_units_and_tooltips(
    name: str, request: pytest.FixtureRequest
) -> None:
    spec: dict[str, Any] = request.getfixturevalue(name)
    assert title_text(spec)
    for unit in units(spec):
        if mark_type(unit) != "text":
            assert unit["encoding"]["tooltip"]
        for channel in ("x", "y"):
            title = unit["encoding"][channel]["title"]
            assert "[" in title
            assert title.endswith("]")


def test_annual_cost_chart_spec() -> None:
    from datetime import date as day

    from meter_sim.pricing import annual_costs

    usage = pl.DataFrame(
        {"month": [day(2018, 12, 1), day(2019, 1, 1)], "billable_learners": [3, 1]},
        schema={"month": pl.Date, "billable_learners": pl.UInt32},
    )
    cheap = PLAN.model_copy(update={"name": "Cheap", "base_fee": Decimal("1.00")})
    annual = annual_costs(usage, {"test": PLAN, "cheap": cheap})
    spec = charts.annual_cost(annual).to_dict()
    assert spec["mark"]["type"] == "bar"
    assert spec["encoding"]["x"]["sort"] == {"field": "rank", "op": "min"}
    rows = spec["datasets"][spec["data"]["name"]]
    assert {r["name"]: r["rank"] for r in rows} == {"Cheap": 0, "Test": 1}
    assert spec["encoding"]["y"]["title"] == "Cost per billing year, ex tax [EUR]"
    assert spec["encoding"]["xOffset"]["field"] == "year"
    assert {t["field"] for t in spec["encoding"]["tooltip"]} == {
        "name", "year", "months", "total_ex_tax", "total_inc_tax"
    }  # fmt: skip
    rows = spec["datasets"][spec["data"]["name"]]
    # Test: 45.00 base + 2 x 9.50 overage (included 1) = 64.00 in 2018; 45.00 in 2019.
    test_2018 = next(r for r in rows if r["name"] == "Test" and r["year"] == "2018-01")
    assert test_2018["total_ex_tax"] == 64.0
    assert len(rows) == 4


def test_annual_cost_chart_refuses_mixed_currencies() -> None:
    from datetime import date as day

    from meter_sim.exceptions import PricingError
    from meter_sim.pricing import annual_costs

    usage = pl.DataFrame(
        {"month": [day(2018, 12, 1)], "billable_learners": [3]},
        schema={"month": pl.Date, "billable_learners": pl.UInt32},
    )
    aud = PLAN.model_copy(update={"currency": "AUD"})
    with pytest.raises(PricingError, match="several currencies"):
        charts.annual_cost(annual_costs(usage, {"eur": PLAN, "aud": aud}))


def test_strategy_comparison_chart_spec() -> None:
    from pathlib import Path

    from meter_sim.scenario import load_scenario
    from meter_sim.simulate import compare_strategies

    example = Path(__file__).parents[1] / "scenarios" / "april-to-july.yaml"
    table = compare_strategies(load_scenario(example)).table
    spec = charts.strategy_comparison(table, currency="AUD").to_dict()
    cost, effort = spec["hconcat"]
    assert cost["encoding"]["x"]["field"] == "total_ex_tax"
    assert cost["encoding"]["x"]["title"] == "Cost, ex tax [AUD]"
    assert effort["encoding"]["x"]["field"] == "toggles"
    assert cost["encoding"]["y"]["sort"] == table["strategy"].to_list()
    assert len(cost["encoding"]["tooltip"]) == 7
    data = cost.get("data", spec.get("data"))
    rows = spec["datasets"][data["name"]]
    assert [r["toggles"] for r in rows] == [8, 0, 0, 30, 4, 0]


def test_forecast_and_commitment_chart_specs() -> None:
    from pathlib import Path

    from meter_sim.scenario import load_scenario
    from meter_sim.simulate import commitment_plans, commitment_table, forecast

    scenario = load_scenario(
        Path(__file__).parents[1] / "scenarios" / "training-provider.yaml"
    )
    result = forecast(scenario, runs=3)
    fan = charts.forecast_fan(result.bands(), included_learners=150).to_dict()
    band, median, rule = fan["layer"]
    assert band["mark"]["type"] == "area"
    assert (band["encoding"]["y"]["field"], band["encoding"]["y2"]["field"]) == (
        "billable_p10", "billable_p90"
    )  # fmt: skip
    assert median["encoding"]["y"]["field"] == "billable_p50"
    assert rule["mark"]["type"] == "rule"
    plans = commitment_plans(scenario.plan, [100, 200], Decimal("6.33"))
    table = commitment_table(result, plans, strategy="course_window")
    curve = charts.commitment_curve(table, currency="AUD").to_dict()
    lines, labels = curve["layer"]
    assert lines["encoding"]["y"]["title"] == "Annual cost, ex tax [AUD per year]"
    assert lines["encoding"]["x"]["sort"] == {"field": "rank", "op": "min"}
    ranks = {r["plan"]: r["rank"] for r in curve["datasets"][lines["data"]["name"]]}
    by_rank = sorted(ranks, key=ranks.__getitem__)
    assert by_rank == table.sort("expected_annual", "plan")["plan"].to_list()
    assert labels["mark"]["type"] == "text"


# -- invoice_check ----------------------------------------------------------------

INVOICE = (
    "month,billable_learners,amount\n"
    "2018-04,2,54.50\n"  # one learner short: 3 are billable (64.00)
    "2018-05,1,45.00\n"
    "2018-06,0,45.00\n"
    "2018-07,2,56.50\n"  # right count, overage at 11.50 instead of 9.50
    "2018-08,2,54.50\n"
    "2018-09,2,54.50\n"
    "2018-10,2,54.50\n"
    "2018-11,2,54.50\n"
)
"""The vendor's invoice of the billed fixture's months, December left out."""


@pytest.fixture(scope="module")
def checked(tmp_path_factory: pytest.TempPathFactory) -> Reconciliation:
    path = tmp_path_factory.mktemp("invoice") / "invoice.csv"
    path.write_text(INVOICE)
    return reconcile(
        parse_status_log(STATUS, "status.csv"),
        read_invoice(path),
        plan=PLAN,
        timezone=TZ,
        activity=parse_activity_log(ACTIVITY, "activity.csv"),
        first_month=FIRST,
        last_month=LAST,
    )


@pytest.fixture(scope="module")
def check(checked: Reconciliation) -> dict[str, Any]:
    return charts.invoice_check(checked.months, currency=PLAN.currency).to_dict()


def test_invoice_check_verdicts_match_reconcile() -> None:
    verdict = MONTHS_SCHEMA["verdict"]
    assert isinstance(verdict, pl.Enum)
    assert list(charts.MONTH_VERDICTS) == verdict.categories.to_list()


def test_invoice_check_layout_and_titles(check: dict[str, Any]) -> None:
    assert title_text(check) == "Invoice check [EUR]"
    # April and July differ, December is not invoiced (nothing charged for its
    # expected 54.50): -9.50 + 2.00 - 54.50 in all.
    assert check["title"]["subtitle"] == (
        "3 of 9 month(s) do not match; invoiced minus expected over the period: "
        "EUR -62.00"
    )
    learners, amounts = check["vconcat"]
    assert title_text(learners) == "Billable learners: expected and invoiced"
    assert title_text(amounts) == "Amount difference per month [EUR]"
    assert [mark_type(u) for u in learners["layer"]] == ["bar", "tick", "text"]
    assert [mark_type(u) for u in amounts["layer"]] == ["bar", "text"]


def test_invoice_check_encodings(check: dict[str, Any]) -> None:
    learners, amounts = check["vconcat"]
    for unit in units(check):
        x = unit["encoding"]["x"]
        assert (x["field"], x["type"], x["scale"]["domain"]) == (
            "month",
            "ordinal",
            MONTHS,
        )
    bars, ticks, labels = learners["layer"]
    assert bars["encoding"]["y"]["field"] == "expected_learners"
    assert ticks["encoding"]["y"]["field"] == "invoiced_learners"
    assert labels["encoding"]["text"]["field"] == "learner_label"
    assert amounts["layer"][0]["encoding"]["y"]["field"] == "amount_difference"
    assert amounts["layer"][0]["encoding"]["y"]["title"] == "Invoiced - expected [EUR]"
    for unit in (bars, amounts["layer"][0]):
        color = unit["encoding"]["color"]
        assert color["field"] == "verdict"
        assert color["scale"]["domain"] == ["ok", "differs", "not_invoiced"]
    assert tooltip_fields(bars)[-1] == "findings"


def test_invoice_check_rows(check: dict[str, Any]) -> None:
    learners, amounts = check["vconcat"]
    data = rows(check, learners, learners["layer"][0])
    assert [r["month"] for r in data] == MONTHS
    assert [r["verdict"] for r in data] == [
        "differs", "ok", "ok", "differs", "ok", "ok", "ok", "ok", "not_invoiced"
    ]  # fmt: skip
    assert [r["expected_learners"] for r in data] == [3, 1, 0, 2, 2, 2, 2, 2, 2]
    assert [r["invoiced_learners"] for r in data] == [2, 1, 0, 2, 2, 2, 2, 2, None]
    assert data[3]["amount_difference"] == pytest.approx(2.0)
    assert "11.50" in data[3]["findings"]
    # The invoiced ticks leave out December; labels only where counts differ.
    ticks = rows(check, learners["layer"][1])
    assert [r["month"] for r in ticks] == MONTHS[:-1]
    labels = rows(check, learners["layer"][2])
    assert [(r["month"], r["learner_label"], r["top"]) for r in labels] == [
        ("2018-04", "-1", 3)
    ]
    money = rows(check, amounts["layer"][1])
    assert [(r["month"], r["amount_label"]) for r in money] == [
        ("2018-04", "-9.50"),
        ("2018-07", "+2.00"),
        ("2018-12", "-54.50"),
    ]


# -- savings ----------------------------------------------------------------------

SAVINGS = pl.DataFrame(
    [
        (date(2018, 5, 1), "L1", "no_activity", "9.50"),
        (date(2018, 5, 1), "L2", "wasted_reactivation", "0.00"),
        (date(2018, 7, 1), "L2", "no_activity", "9.50"),
        (date(2018, 7, 1), "L3", "no_activity", "0.00"),
        (date(2018, 7, 1), "L4", "possible_duplicate", "9.50"),
    ],
    schema=["billing_month", "learner_id", "finding", "cost"],
    orient="row",
).with_columns(
    pl.col("finding").cast(pl.Enum(FINDINGS)),
    pl.col("cost").cast(pl.Decimal(38, 2)),
    pl.lit("detail").alias("detail"),
)


@pytest.fixture(scope="module")
def saved() -> dict[str, Any]:
    return charts.savings(SAVINGS, currency=PLAN.currency).to_dict()


def test_savings_chart_layout_and_encodings(saved: dict[str, Any]) -> None:
    assert title_text(saved) == "Savings: avoidable learner-months [EUR]"
    assert saved["title"]["subtitle"].startswith("5 learner-month(s), EUR 28.50 in all")
    bars, labels = saved["layer"]
    assert [mark_type(bars), mark_type(labels)] == ["bar", "text"]
    encoding = bars["encoding"]
    assert (encoding["x"]["field"], encoding["x"]["type"]) == ("month", "ordinal")
    assert encoding["x"]["scale"]["domain"] == ["2018-05", "2018-07"]
    assert (encoding["y"]["field"], encoding["y"]["stack"]) == ("cost", "zero")
    assert encoding["y"]["title"] == "Avoidable cost [EUR]"
    assert encoding["color"]["scale"]["domain"] == list(FINDINGS)
    assert encoding["order"]["field"] == "order"
    assert tooltip_fields(bars) == ["month", "finding", "learner_months", "cost"]


def test_savings_chart_rows_per_month_and_finding(saved: dict[str, Any]) -> None:
    bars, labels = saved["layer"]
    got = [
        (r["month"], r["finding"], r["learner_months"], r["cost"])
        for r in rows(saved, bars)
    ]
    assert got == [
        ("2018-05", "wasted_reactivation", 1, 0.0),
        ("2018-05", "no_activity", 1, 9.5),
        ("2018-07", "possible_duplicate", 1, 9.5),
        ("2018-07", "no_activity", 2, 9.5),
    ]
    totals = [(r["month"], r["learner_months"], r["cost"]) for r in rows(saved, labels)]
    assert totals == [("2018-05", 2, 9.5), ("2018-07", 3, 19.0)]


def test_savings_chart_of_a_reconciliation(checked: Reconciliation) -> None:
    spec = charts.savings(checked.savings, currency=PLAN.currency).to_dict()
    data = rows(spec, spec["layer"][0])
    assert sum(r["learner_months"] for r in data) == checked.savings.height
    assert sum(r["cost"] for r in data) == pytest.approx(
        float(checked.savings["cost"].sum())
    )


@pytest.mark.parametrize("name", ["check", "saved"])
def test_invoice_charts_have_titles_units_and_tooltips(
    name: str, request: pytest.FixtureRequest
) -> None:
    spec: dict[str, Any] = request.getfixturevalue(name)
    assert title_text(spec)
    for unit in units(spec):
        if mark_type(unit) != "text":
            assert unit["encoding"]["tooltip"]
        for channel in ("x", "y"):
            assert unit["encoding"][channel]["title"].endswith("]")
