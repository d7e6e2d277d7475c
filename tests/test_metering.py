"""The polars meter (meter_sim.metering): month edges, reasons, usage; by hand."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import polars as pl
from polars.testing import assert_frame_equal

from meter_sim.metering import (
    learner_months,
    monthly_usage,
    period_of,
    status_intervals,
)
from tests.helpers import status_log

SYD = ZoneInfo("Australia/Sydney")
TZ = "Australia/Sydney"


def syd(*args: int) -> datetime:
    return datetime(*args, tzinfo=SYD).astimezone(UTC)  # type: ignore[misc, arg-type]


def months_of(
    *rows: tuple[str, datetime, bool], first: date, last: date
) -> list[tuple[str, date, str]]:
    log = status_log(*rows)
    frame = learner_months(
        status_intervals(log.events.lazy()), TZ, first, last
    ).collect()
    return [(a, b, str(c)) for a, b, c in frame.rows()]


def test_intervals_skip_repeats_and_respect_creation_inactive() -> None:
    log = status_log(
        ("A", syd(2018, 4, 11, 10), True),
        ("A", syd(2018, 4, 11, 11), True),  # repeated Yes: nothing
        ("A", syd(2018, 4, 11, 16), False),
        ("A", syd(2018, 4, 12), False),  # repeated No: nothing
        ("B", syd(2018, 5, 1), False),  # created inactive: no interval
        ("B", syd(2018, 6, 3), True),
    )
    got = status_intervals(log.events.lazy()).collect()
    expected = pl.DataFrame(
        {
            "learner_id": ["A", "B"],
            "activated_at": [syd(2018, 4, 11, 10), syd(2018, 6, 3)],
            "deactivated_at": [syd(2018, 4, 11, 16), None],
            "created": [True, False],
        },
        schema_overrides={"deactivated_at": pl.Datetime("us", "UTC")},
    ).with_columns(
        pl.col("activated_at").dt.cast_time_unit("us"),
        pl.col("deactivated_at").dt.cast_time_unit("us"),
    )
    assert_frame_equal(got, expected)


def test_faq_example_months_and_reasons() -> None:
    got = months_of(
        ("L1", syd(2018, 4, 11, 10), True),
        ("L1", syd(2018, 4, 11, 16), False),
        ("L1", syd(2018, 7, 2, 9), True),
        first=date(2018, 4, 1),
        last=date(2018, 9, 1),
    )
    assert got == [
        ("L1", date(2018, 4, 1), "created_active"),
        ("L1", date(2018, 7, 1), "reactivated"),
        ("L1", date(2018, 8, 1), "carried_over"),
        ("L1", date(2018, 9, 1), "carried_over"),
    ]


def test_deactivation_exactly_at_local_midnight_on_the_first() -> None:
    # Active from 10 June; off at 00:00 1 July Sydney (= 14:00 UTC 30 June).
    got = months_of(
        ("A", syd(2018, 6, 10), True),
        ("A", syd(2018, 7, 1), False),
        first=date(2018, 6, 1),
        last=date(2018, 7, 1),
    )
    assert got == [("A", date(2018, 6, 1), "created_active")]


def test_one_microsecond_past_midnight_meters_the_next_month() -> None:
    got = months_of(
        ("A", syd(2018, 6, 10), True),
        ("A", syd(2018, 7, 1, 0, 0, 0, 1), False),
        first=date(2018, 6, 1),
        last=date(2018, 7, 1),
    )
    assert got == [
        ("A", date(2018, 6, 1), "created_active"),
        ("A", date(2018, 7, 1), "carried_over"),
    ]


def test_activation_at_the_last_instant_of_a_month() -> None:
    # 23:59:59.999999 on 31 May Sydney: metered in May, and carried into June.
    got = months_of(
        ("A", syd(2018, 4, 2), False),
        ("A", syd(2018, 5, 31, 23, 59, 59, 999999), True),
        ("A", syd(2018, 6, 1, 8), False),
        first=date(2018, 4, 1),
        last=date(2018, 6, 1),
    )
    assert got == [
        ("A", date(2018, 5, 1), "reactivated"),
        ("A", date(2018, 6, 1), "carried_over"),
    ]


def test_activation_exactly_at_month_start_is_a_reactivation() -> None:
    got = months_of(
        ("A", syd(2018, 4, 2), False),
        ("A", syd(2018, 6, 1), True),
        first=date(2018, 4, 1),
        last=date(2018, 6, 1),
    )
    assert got == [("A", date(2018, 6, 1), "reactivated")]


def test_dst_month_in_sydney_uses_local_midnight() -> None:
    # DST starts 7 Oct 2018; 1 Nov begins at 13:00 UTC 31 Oct (AEDT, +11).
    # Off at 13:30 UTC 31 Oct = 00:30 1 Nov local: November is metered.
    # Off at 13:30 UTC 30 Jun... (AEST) for contrast: 23:30 30 Jun local.
    got = months_of(
        ("A", syd(2018, 10, 5), True),
        ("A", datetime(2018, 10, 31, 13, 30, tzinfo=UTC), False),
        ("B", syd(2018, 10, 5), True),
        ("B", datetime(2018, 10, 31, 12, 30, tzinfo=UTC), False),  # 23:30 31 Oct
        first=date(2018, 10, 1),
        last=date(2018, 11, 1),
    )
    assert got == [
        ("A", date(2018, 10, 1), "created_active"),
        ("A", date(2018, 11, 1), "carried_over"),
        ("B", date(2018, 10, 1), "created_active"),
    ]


def test_leap_day_29_february() -> None:
    got = months_of(
        ("A", syd(2020, 2, 29, 23, 59), True),
        ("A", syd(2020, 3, 1), False),
        ("B", syd(2020, 2, 29, 12), True),
        ("B", syd(2020, 3, 1, 0, 0, 1), False),
        first=date(2020, 2, 1),
        last=date(2020, 3, 1),
    )
    assert got == [
        ("A", date(2020, 2, 1), "created_active"),
        ("B", date(2020, 2, 1), "created_active"),
        ("B", date(2020, 3, 1), "carried_over"),
    ]


def test_active_for_months_with_no_rows_and_open_at_the_end() -> None:
    got = months_of(
        ("A", syd(2018, 1, 15), True), first=date(2018, 1, 1), last=date(2018, 5, 1)
    )
    assert got == [("A", date(2018, 1, 1), "created_active")] + [
        ("A", date(2018, m, 1), "carried_over") for m in range(2, 6)
    ]


def test_many_toggles_in_a_month_bill_once() -> None:
    rows = [("A", syd(2018, 3, 1, 1), True)]
    for day in range(2, 29):
        rows += [("A", syd(2018, 3, day, 9), False), ("A", syd(2018, 3, day, 10), True)]
    rows.append(("A", syd(2018, 3, 29), False))
    got = months_of(*rows, first=date(2018, 3, 1), last=date(2018, 4, 1))
    assert got == [("A", date(2018, 3, 1), "created_active")]


def test_reactivated_in_a_later_month() -> None:
    got = months_of(
        ("A", syd(2018, 3, 1), True),
        ("A", syd(2018, 3, 2), False),
        ("A", syd(2018, 5, 9), True),
        ("A", syd(2018, 5, 10), False),
        ("A", syd(2018, 5, 20), True),
        ("A", syd(2018, 5, 21), False),
        first=date(2018, 3, 1),
        last=date(2018, 6, 1),
    )
    assert got == [
        ("A", date(2018, 3, 1), "created_active"),
        ("A", date(2018, 5, 1), "reactivated"),
    ]


def test_period_clips_and_carries_over() -> None:
    got = months_of(
        ("A", syd(2017, 11, 5), True),
        ("A", syd(2018, 2, 5), False),
        first=date(2018, 1, 1),
        last=date(2018, 12, 1),
    )
    assert got == [
        ("A", date(2018, 1, 1), "carried_over"),
        ("A", date(2018, 2, 1), "carried_over"),
    ]


def test_monthly_usage_lists_zero_months_and_counts_distinct_learners() -> None:
    log = status_log(
        ("A", syd(2018, 4, 11, 10), True),
        ("A", syd(2018, 4, 11, 16), False),
        ("A", syd(2018, 4, 20), True),
        ("A", syd(2018, 4, 21), False),
        ("B", syd(2018, 4, 11), True),
        ("B", syd(2018, 5, 2), False),
        ("A", syd(2018, 7, 2), True),
    )
    first, last = period_of(log.events, TZ)
    assert (first, last) == (date(2018, 4, 1), date(2018, 7, 1))
    lm = learner_months(status_intervals(log.events.lazy()), TZ, first, last)
    usage = monthly_usage(lm, first, last).collect()
    assert usage.rows() == [
        (date(2018, 4, 1), 2),
        (date(2018, 5, 1), 1),
        (date(2018, 6, 1), 0),
        (date(2018, 7, 1), 1),
    ]
    assert usage.schema["billable_learners"] == pl.UInt32
