"""The learner status report, the activity report and report files (meter_sim.reports).

Expected values are worked out by hand from the logs; the example logs are
``examples/status.csv`` (status lines 2-13, line 9 a duplicate of line 8) and
``examples/activity.csv`` (lines 2-8), billed April to December 2018 in Sydney.
"""

from __future__ import annotations

import csv
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from meter_sim.billing import Bill, bill
from meter_sim.exceptions import LogFormatError
from meter_sim.logs import (
    StatusLog,
    parse_activity_log,
    read_activity_log,
    read_status_log,
)
from meter_sim.pricing import Plan
from meter_sim.reports import (
    ACTIVITY_REPORT_SCHEMA,
    STATUS_REPORT_SCHEMA,
    activity_report,
    status_report,
    write_report,
)
from tests.helpers import status_log

if TYPE_CHECKING:
    from meter_sim._typing import ReportForm

EXAMPLES = Path(__file__).parents[1] / "examples"
SYD = ZoneInfo("Australia/Sydney")
ASU = ZoneInfo("America/Asuncion")


def plan(included: int) -> Plan:
    return Plan(
        name="p",
        currency="AUD",
        base_fee=Decimal(0),
        included_learners=included,
        overage_price=Decimal("1.00"),
    )


def syd(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, micro: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, 0, micro, tzinfo=SYD)


def row(
    report: pl.DataFrame, month: str, learner: str, *columns: str
) -> tuple[object, ...]:
    """The named columns of one learner-month (month as ``YYYY-MM``)."""
    year, number = map(int, month.split("-"))
    picked = report.filter(
        (pl.col("billing_month") == date(year, number, 1))
        & (pl.col("learner_id") == learner)
    )
    assert picked.height == 1
    return picked.select(columns).row(0)


@pytest.fixture(scope="module")
def example_status() -> StatusLog:
    return read_status_log(EXAMPLES / "status.csv")


@pytest.fixture(scope="module")
def example_bill(example_status: StatusLog) -> Bill:
    return bill(
        example_status,
        read_activity_log(EXAMPLES / "activity.csv"),
        plan=plan(1),
        timezone="Australia/Sydney",
        first_month=date(2018, 4, 1),
        last_month=date(2018, 12, 1),
    )


@pytest.fixture(scope="module")
def example_report(example_bill: Bill, example_status: StatusLog) -> pl.DataFrame:
    return status_report(example_bill, example_status)


# --- status_report ----------------------------------------------------------

STATUS_COLUMNS = (
    "is_active_at_month_start",
    "is_active_at_month_end",
    "status_changes_in_month",
    "first_activated_at",
    "last_deactivated_at",
    "metering_reason",
    "billable_in_month",
)


def test_status_report_has_a_row_per_learner_from_its_creation_month(
    example_report: pl.DataFrame,
) -> None:
    # L1 and L2 are created in April, L3 in June, L4 in September: 9 + 9 + 7 + 4.
    assert example_report.height == 29
    keys = [
        (f"{m:%Y-%m}", learner)
        for m, learner in example_report.select("billing_month", "learner_id").rows()
    ]
    assert keys[:7] == [
        ("2018-04", "L1"),
        ("2018-04", "L2"),
        ("2018-05", "L1"),
        ("2018-05", "L2"),
        ("2018-06", "L1"),
        ("2018-06", "L2"),
        ("2018-06", "L3"),
    ]
    assert keys[-4:] == [
        ("2018-12", "L1"),
        ("2018-12", "L2"),
        ("2018-12", "L3"),
        ("2018-12", "L4"),
    ]


def test_status_report_schema_is_in_the_billing_time_zone(
    example_report: pl.DataFrame,
) -> None:
    assert example_report.columns == list(STATUS_REPORT_SCHEMA)
    schema = example_report.schema
    assert schema["created_at"] == pl.Datetime("us", "Australia/Sydney")
    assert schema["last_activity_at"] == pl.Datetime("us", "Australia/Sydney")
    assert schema["status_changes_in_month"] == pl.UInt32
    assert schema["metering_reason"] == pl.Enum(
        [
            "created_active",
            "carried_over",
            "reactivated",
            "activity_while_inactive",
            "not_billable",
        ]
    )
    assert row(example_report, "2018-12", "L4", "created_at") == (syd(2018, 9, 20, 9),)


@pytest.mark.parametrize(
    ("month", "learner", "expected"),
    [
        # Created Active at 10:00 on 11 April, deactivated 16:00: not active at
        # either end; the creation is not a toggle, the deactivation is.
        (
            "2018-04",
            "L1",
            (
                False,
                False,
                1,
                syd(2018, 4, 11, 10),
                syd(2018, 4, 11, 16),
                "created_active",
                True,
            ),
        ),
        ("2018-06", "L1", (False, False, 0, None, None, "not_billable", False)),
        # Reactivated 2 July 09:00 and still active.
        (
            "2018-07",
            "L1",
            (False, True, 1, syd(2018, 7, 2, 9), None, "reactivated", True),
        ),
        ("2018-08", "L1", (True, True, 0, None, None, "carried_over", True)),
        # Yes 09:00, No 17:00 on 14 May; the duplicate No (line 9) is gone.
        (
            "2018-05",
            "L2",
            (
                False,
                False,
                2,
                syd(2018, 5, 14, 9),
                syd(2018, 5, 14, 17),
                "reactivated",
                True,
            ),
        ),
        # Created Active 30 June 23:30; its No at 1 July 00:00 is July's.
        (
            "2018-06",
            "L3",
            (False, True, 0, syd(2018, 6, 30, 23, 30), None, "created_active", True),
        ),
        # Deactivated exactly at the July start: inactive at the start, not billed.
        (
            "2018-07",
            "L3",
            (False, False, 1, None, syd(2018, 7, 1), "not_billable", False),
        ),
        # Deactivated exactly at the November start (AEDT, +11:00).
        ("2018-10", "L4", (True, True, 0, None, None, "carried_over", True)),
        (
            "2018-11",
            "L4",
            (False, False, 1, None, syd(2018, 11, 1), "not_billable", False),
        ),
    ],
)
def test_status_columns_of_the_example(
    example_report: pl.DataFrame, month: str, learner: str, expected: tuple[object, ...]
) -> None:
    assert row(example_report, month, learner, *STATUS_COLUMNS) == expected


def test_repeated_rows_are_not_toggles_and_a_learner_created_inactive_is_listed() -> (
    None
):
    log = status_log(
        ("E", syd(2018, 5, 1, 9), True),  # creation: not a toggle
        ("E", syd(2018, 5, 2, 9), True),  # repeated Yes: changes nothing
        ("E", syd(2018, 5, 3, 9), False),  # toggle 1
        ("E", syd(2018, 5, 4, 9), False),  # repeated No: changes nothing
        ("E", syd(2018, 5, 5, 9), True),  # toggle 2
        ("E", syd(2018, 5, 6, 9), False),  # toggle 3
        ("N", syd(2018, 5, 10, 9), False),  # created inactive, never activated
    )
    result = bill(log, plan=plan(5), first_month=date(2018, 5, 1))
    report = status_report(result, log)
    assert row(report, "2018-05", "E", *STATUS_COLUMNS) == (
        False,
        False,
        3,
        syd(2018, 5, 1, 9),
        syd(2018, 5, 6, 9),
        "created_active",
        True,
    )
    assert row(report, "2018-05", "N", "created_at", *STATUS_COLUMNS, "is_overage") == (
        syd(2018, 5, 10, 9),
        False,
        False,
        0,
        None,
        None,
        "not_billable",
        False,
        False,
    )


def test_month_start_at_a_dst_gap_at_midnight() -> None:
    # America/Asuncion skipped 2017-10-01 00:00 (-04) to 01:00 (-03): October
    # starts at 01:00 -03:00 = 04:00 UTC.
    october = datetime(2017, 10, 1, 4, tzinfo=UTC)
    log = status_log(
        ("X", datetime(2017, 9, 10, 12, tzinfo=UTC), True),
        ("X", october, False),  # exactly at the October start
        ("Y", datetime(2017, 9, 10, 12, tzinfo=UTC), True),
        ("Y", october.replace(hour=3, minute=59), False),  # 23:59 -04:00, September
        ("Z", october, True),  # created exactly at the October start
    )
    result = bill(log, plan=plan(5), timezone="America/Asuncion")
    report = status_report(result, log)
    columns = (
        "is_active_at_month_start",
        "is_active_at_month_end",
        "status_changes_in_month",
        "last_deactivated_at",
        "billable_in_month",
    )
    assert row(report, "2017-09", "X", *columns) == (False, True, 0, None, True)
    assert row(report, "2017-10", "X", *columns) == (False, False, 1, october, False)
    local = pl.col("last_deactivated_at").dt.to_string("%Y-%m-%dT%H:%M%:z")
    shown = report.filter(pl.col("last_deactivated_at").is_not_null()).select(local)
    assert shown["last_deactivated_at"].to_list() == [
        "2017-09-30T23:59-04:00",  # Y
        "2017-10-01T01:00-03:00",  # X: the first instant of 1 October
    ]
    assert row(report, "2017-09", "Y", *columns) == (
        False,
        False,
        1,
        datetime(2017, 9, 30, 23, 59, tzinfo=ASU),
        True,
    )
    assert row(report, "2017-10", "Y", *columns) == (False, False, 0, None, False)
    assert row(report, "2017-10", "Z", *columns, "metering_reason") == (
        True,
        True,
        0,
        None,
        True,
        "created_active",
    )
    assert report.filter(pl.col("learner_id") == "Z").height == 1


def test_is_overage_in_the_example(example_report: pl.DataFrame) -> None:
    # One learner included. April: L1 metered at 10:00, L2 at 10:30, so L2 is
    # overage. September: L1 carried over (month start), L4 created on the 20th.
    # October: both from the month start, tie broken by id, so L4.
    overage = example_report.filter("is_overage").select("billing_month", "learner_id")
    assert [(f"{m:%Y-%m}", learner) for m, learner in overage.rows()] == [
        ("2018-04", "L2"),
        ("2018-09", "L4"),
        ("2018-10", "L4"),
    ]


def test_is_overage_follows_the_first_metered_instant_then_the_learner_id() -> None:
    log = status_log(
        ("A", syd(2018, 5, 10, 9), True),
        ("B", syd(2018, 5, 3, 9), True),
        ("C", syd(2018, 5, 20, 9), True),
        ("D", syd(2018, 4, 2, 9), False),  # created inactive
        ("D", syd(2018, 6, 15, 9), True),
    )
    result = bill(log, plan=plan(1), first_month=date(2018, 4, 1))
    report = status_report(result, log)
    overage = {
        (f"{m:%Y-%m}", learner)
        for m, learner in report.filter("is_overage")
        .select("billing_month", "learner_id")
        .rows()
    }
    # May: B (3rd), A (10th), C (20th); the last two are overage although B is
    # not the last by id. June: A, B, C from the month start (by id), D on the
    # 15th; three overage.
    assert overage == {
        ("2018-05", "A"),
        ("2018-05", "C"),
        ("2018-06", "B"),
        ("2018-06", "C"),
        ("2018-06", "D"),
    }
    assert row(report, "2018-04", "D", "billable_in_month", "is_overage") == (
        False,
        False,
    )


ACTIVITY_COLUMNS = (
    "activity_events_in_month",
    "rejected_activities_in_month",
    "last_activity_at",
    "inactivation_candidate",
)


@pytest.mark.parametrize(
    ("month", "learner", "expected"),
    [
        ("2018-04", "L1", (1, 0, syd(2018, 4, 11, 10, 5), False)),  # enrolment
        # A view (read, not counted) and a scheduled message while inactive
        # (allowed_while_inactive, counted); not billable, so not a candidate.
        ("2018-05", "L1", (1, 0, syd(2018, 5, 21, 9), False)),
        # The message of 10 May was rejected (inactive), the document accepted.
        ("2018-05", "L2", (1, 1, syd(2018, 5, 14, 9, 5), False)),
        ("2018-06", "L2", (0, 1, None, False)),  # Learner App view refused
        ("2018-07", "L1", (1, 0, syd(2018, 7, 2, 9, 15), False)),
        ("2018-08", "L1", (0, 0, None, True)),  # billable, no activity
        ("2018-06", "L3", (0, 0, None, True)),
        ("2018-12", "L2", (0, 0, None, False)),
    ],
)
def test_activity_columns_of_the_example(
    example_report: pl.DataFrame, month: str, learner: str, expected: tuple[object, ...]
) -> None:
    assert row(example_report, month, learner, *ACTIVITY_COLUMNS) == expected


def test_activity_columns_are_null_without_an_activity_log(
    example_status: StatusLog,
) -> None:
    result = bill(example_status, plan=plan(1))
    report = status_report(result, example_status)
    assert report.select(ACTIVITY_COLUMNS).null_count().row(0) == (report.height,) * 4
    assert report.schema["activity_events_in_month"] == pl.UInt32
    assert report["billable_in_month"].sum() == 11  # billing columns unaffected


def test_a_learner_created_after_the_period_has_no_rows() -> None:
    log = status_log(("A", syd(2018, 5, 10, 9), True), ("B", syd(2018, 7, 1), True))
    result = bill(log, plan=plan(1), last_month=date(2018, 6, 1))
    report = status_report(result, log)
    assert report["learner_id"].to_list() == ["A", "A"]


# --- activity_report --------------------------------------------------------


def test_activity_report_of_the_example(example_bill: Bill) -> None:
    report = activity_report(example_bill)
    assert report.columns == list(ACTIVITY_REPORT_SCHEMA)
    assert report.schema["occurred_at_local"] == pl.Datetime("us", "Australia/Sydney")
    assert report.select("line", "outcome", "metering_effect").rows() == [
        (2, "accepted", "first_in_month"),
        (3, "rejected_inactive", "none"),
        (4, "accepted", "first_in_month"),
        (5, "read", "none"),
        (6, "allowed_while_inactive", "none"),
        (7, "rejected_portal_closed", "none"),
        (8, "accepted", "first_in_month"),
    ]
    # Line 6: L1's scheduled Learncycle message of 21 May 09:00 (AEST), while
    # inactive since status line 3.
    assert report.filter(pl.col("line") == 6).row(0) == (
        6,
        "a5",
        "L1",
        datetime(2018, 5, 20, 23, tzinfo=UTC),
        syd(2018, 5, 21, 9),
        date(2018, 5, 1),
        "message",
        "automation",
        True,
        False,
        3,
        "allowed_while_inactive",
        "none",
    )
    # Line 7: L2 inactive since status line 8 (line 9 repeats it).
    assert report.filter(pl.col("line") == 7).select(
        "learner_active_at_event", "status_line"
    ).row(0) == (False, 8)


def test_metering_effect_ties_months_and_unknown_learners() -> None:
    status = status_log(("A", syd(2018, 5, 1, 9), True))
    activity = parse_activity_log(
        pl.DataFrame(
            [
                ("A", "2018-05-10T10:00:00+10:00", "message"),  # line 2
                ("A", "2018-05-03T09:00:00+10:00", "view"),  # line 3: a read
                ("A", "2018-05-10T10:00:00+10:00", "enrolment"),  # line 4: tie
                ("A", "2018-06-02T09:00:00+10:00", "attendance"),  # line 5
                ("A", "2018-06-01T00:00:00+10:00", "message"),  # line 6: June start
                ("B", "2018-05-10T10:00:00+10:00", "message"),  # line 7: unknown
            ],
            schema=["learner_id", "occurred_at", "activity"],
            orient="row",
        ),
        "activity.csv",
    )
    result = bill(status, activity, plan=plan(1), last_month=date(2018, 6, 1))
    report = activity_report(result)
    assert report.select(
        "line", "billing_month", "learner_active_at_event", "metering_effect"
    ).rows() == [
        (2, date(2018, 5, 1), True, "first_in_month"),
        (3, date(2018, 5, 1), True, "none"),
        (4, date(2018, 5, 1), True, "already_metered"),
        (5, date(2018, 6, 1), True, "already_metered"),
        (6, date(2018, 6, 1), True, "first_in_month"),
        (7, date(2018, 5, 1), None, "none"),
    ]
    assert report.filter(pl.col("line") == 7).select("status_line", "outcome").row(
        0
    ) == (None, "rejected_unknown_learner")


def test_activity_report_needs_an_activity_log(example_status: StatusLog) -> None:
    with pytest.raises(LogFormatError, match="needs an activity log"):
        activity_report(bill(example_status, plan=plan(1)))


# --- write_report -----------------------------------------------------------


def read_back(path: Path, schema: pl.Schema) -> pl.DataFrame:
    """Parse a csv report as a program would, into ``schema``."""
    text = pl.read_csv(path, infer_schema=False)
    columns = []
    for name, dtype in schema.items():
        column = pl.col(name)
        if dtype == pl.Date:
            column = (column + "-01").str.to_date("%Y-%m-%d")
        elif isinstance(dtype, pl.Datetime):
            column = column.str.to_datetime(
                "%Y-%m-%dT%H:%M:%S%.f%:z", time_unit="us"
            ).dt.convert_time_zone(dtype.time_zone or "UTC")
        elif dtype == pl.Boolean:
            column = column.replace_strict({"Y": True, "N": False}, default=None)
        columns.append(column.cast(dtype).alias(name))
    return text.select(columns)


def test_csv_round_trips(example_report: pl.DataFrame, tmp_path: Path) -> None:
    path = tmp_path / "status.csv"
    write_report(example_report, path)
    assert_frame_equal(read_back(path, example_report.schema), example_report)
    lines = path.read_text(encoding="utf-8").splitlines()
    assert lines[0] == ",".join(STATUS_REPORT_SCHEMA)
    # April, L1: created 11 April 10:00 AEST; no activity log prefix, no BOM.
    assert lines[1] == (
        "2018-04,L1,2018-04-11T10:00:00+10:00,N,N,1,2018-04-11T10:00:00+10:00,"
        "2018-04-11T16:00:00+10:00,created_active,Y,N,1,0,2018-04-11T10:05:00+10:00,N,"
    )  # the last field, e-Learning, is empty (null): no e-Learning log was given


def test_csv_keeps_sub_seconds_only_when_present(tmp_path: Path) -> None:
    frame = pl.DataFrame(
        {
            "at": [syd(2018, 4, 11, 10), syd(2018, 4, 11, 10, 0, 250000), None],
            "day": [date(2018, 4, 11), None, None],
            "month": [date(2018, 4, 1), None, None],
            "flag": [True, False, None],
        },
        schema_overrides={"at": pl.Datetime("us", "Australia/Sydney")},
    )
    path = tmp_path / "times.csv"
    write_report(frame, path)
    assert path.read_text(encoding="utf-8").splitlines() == [
        "at,day,month,flag",
        "2018-04-11T10:00:00+10:00,2018-04-11,2018-04,Y",
        "2018-04-11T10:00:00.250000+10:00,,,N",
        ",,,",
    ]


def test_parquet_keeps_the_frame(example_report: pl.DataFrame, tmp_path: Path) -> None:
    path = tmp_path / "status.parquet"
    write_report(example_report, path)
    assert_frame_equal(pl.read_parquet(path), example_report)


TRICKY_IDS = [
    '=HYPERLINK("x")',
    "-1",
    "@SUM(A1)",
    "+1",
    "\tTAB",
    "\rCR",
    "a,b",
    'say "hi"',
    "line\nbreak",
    "Zoë 李",
]


def test_excel_csv_defuses_formulas_and_keeps_numbers(tmp_path: Path) -> None:
    frame = pl.DataFrame(
        {
            "learner_id": TRICKY_IDS,
            "delta": [-5] * len(TRICKY_IDS),
            "amount": [Decimal("-1.50")] * len(TRICKY_IDS),
        }
    )
    path = tmp_path / "excel.csv"
    write_report(frame, path, form="excel-csv")
    assert path.read_bytes().startswith(b"\xef\xbb\xbf")
    with path.open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["learner_id", "delta", "amount"]
    assert [r[0] for r in rows[1:]] == [
        '\'=HYPERLINK("x")',
        "'-1",
        "'@SUM(A1)",
        "'+1",
        "'\tTAB",
        "'\rCR",
        "a,b",
        'say "hi"',
        "line\nbreak",
        "Zoë 李",
    ]
    assert {(r[1], r[2]) for r in rows[1:]} == {("-5", "-1.50")}


def test_excel_csv_of_a_status_report(tmp_path: Path) -> None:
    log = status_log(*((i, syd(2018, 5, 1, 9), True) for i in TRICKY_IDS))
    result = bill(log, plan=plan(100))
    path = tmp_path / "status.csv"
    write_report(status_report(result, log), path, form="excel-csv")
    with path.open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.DictReader(handle))
    ids = {r["learner_id"] for r in rows}
    assert {'\'=HYPERLINK("x")', "'-1", "'@SUM(A1)", "a,b", "line\nbreak"} <= ids
    assert {r["status_changes_in_month"] for r in rows} == {"0"}
    assert {r["metering_reason"] for r in rows} == {"created_active"}


def test_plain_csv_does_not_prefix(tmp_path: Path) -> None:
    path = tmp_path / "plain.csv"
    write_report(pl.DataFrame({"learner_id": ["=1", "-1"]}), path)
    assert path.read_bytes() == b"learner_id\n=1\n-1\n"


@pytest.mark.parametrize(
    ("name", "form", "message"),
    [
        ("report.xlsx", None, r"report\.xlsx: unknown file type '\.xlsx'; expected"),
        ("report.parquet", "excel-csv", r"excel-csv report needs a \.csv file name"),
        ("report.csv", "parquet", r"parquet report needs a \.parquet file name"),
        ("missing/report.csv", None, r"missing/report\.csv: cannot write the report"),
    ],
)
def test_write_report_errors_name_the_path(
    tmp_path: Path, name: str, form: ReportForm | None, message: str
) -> None:
    with pytest.raises(LogFormatError, match=message) as caught:
        write_report(pl.DataFrame({"a": [1]}), tmp_path / name, form=form)
    assert caught.value.source == str(tmp_path / name)
