"""Status-management strategies (meter_sim.strategies), on learners made by hand.

Times are written in Sydney local time (``syd``); every expected status row, month
and delay below was worked out by hand from the rules in the strategy docstrings.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from meter_sim.logs import STATUS_SCHEMA
from meter_sim.metering import learner_months, status_intervals
from meter_sim.strategies import (
    _ROW,
    SPELL,
    STRATEGIES,
    StrategyRun,
    _finish,
    always_active,
    batched,
    course_window,
    just_in_time,
    monthly_sweep,
    status_log,
)

if TYPE_CHECKING:
    from collections.abc import Callable

TZ = "Australia/Sydney"
SYD = ZoneInfo(TZ)
UTC_US = pl.Datetime("us", "UTC")
DEFERRABLE = {"message", "document"}


def syd(*args: int) -> datetime:
    """A Sydney wall-clock time as a UTC datetime."""
    return datetime(*args, tzinfo=SYD).astimezone(UTC)  # type: ignore[misc, arg-type]


HORIZON = syd(2019, 1, 1)


def learners(*rows: tuple[str, datetime, datetime | None]) -> pl.DataFrame:
    return pl.DataFrame(
        rows,
        schema={"learner_id": pl.String, "created_at": UTC_US, "course_end": UTC_US},
        orient="row",
    )


def needs(*rows: tuple[str, datetime, str]) -> pl.DataFrame:
    """Needs ``(learner_id, at, kind)``; messages and documents are deferrable."""
    return pl.DataFrame(
        [(lid, at, kind, kind in DEFERRABLE) for lid, at, kind in rows],
        schema={
            "learner_id": pl.String,
            "at": UTC_US,
            "kind": pl.String,
            "deferrable": pl.Boolean,
        },
        orient="row",
    )


def rows(run: StrategyRun) -> list[tuple[str, datetime, bool]]:
    return [(lid, at, active) for lid, at, active in run.status.iter_rows()]


def months(
    run: StrategyRun, first: date = date(2018, 4, 1), last: date = date(2018, 12, 1)
) -> list[tuple[str, str]]:
    """Billable learner-months of the run, by the meter, as (learner, YYYY-MM)."""
    log = status_log(run, "test")
    frame = learner_months(
        status_intervals(log.events.lazy()), TZ, first, last
    ).collect()
    return [(lid, month.strftime("%Y-%m")) for lid, month, _ in frame.iter_rows()]


def run_of(
    strategy: Callable[..., StrategyRun],
    who: pl.DataFrame,
    what: pl.DataFrame,
    **options: int,
) -> StrategyRun:
    return strategy(who, what, timezone=TZ, horizon=HORIZON, **options)


NO_NEEDS = needs()
A = learners(("A", syd(2018, 4, 11, 10), None))


# -- always_active -----------------------------------------------------------


def test_always_active_is_one_row_per_learner() -> None:
    who = learners(
        ("A", syd(2018, 4, 11, 10), None),
        ("B", syd(2018, 6, 3, 9), syd(2018, 6, 30, 17)),
    )
    what = needs(("A", syd(2018, 7, 2, 9), "attendance"))
    run = run_of(always_active, who, what)
    assert rows(run) == [
        ("A", syd(2018, 4, 11, 10), True),
        ("B", syd(2018, 6, 3, 9), True),
    ]
    assert (run.toggles, run.delay_days, run.blocked) == (0, 0.0, 0)
    assert len(months(run)) == 9 + 7  # A: Apr..Dec, B: Jun..Dec


# -- course_window -----------------------------------------------------------


def test_course_window_ends_after_grace_and_reactivates_for_later_needs() -> None:
    who = learners(("A", syd(2018, 4, 11, 10), syd(2018, 5, 20, 17)))
    what = needs(
        ("A", syd(2018, 5, 1, 9), "attendance"),  # inside the window
        ("A", syd(2018, 7, 2, 9), "message"),  # after it: a spell
    )
    run = run_of(course_window, who, what)
    assert rows(run) == [
        ("A", syd(2018, 4, 11, 10), True),
        ("A", syd(2018, 6, 3, 17), False),  # 20 May 17:00 + 14 days
        ("A", syd(2018, 7, 2, 9), True),
        ("A", syd(2018, 7, 2, 9, 15), False),
    ]
    assert run.toggles == 3
    assert months(run) == [
        ("A", "2018-04"),
        ("A", "2018-05"),
        ("A", "2018-06"),
        ("A", "2018-07"),
    ]


def test_course_window_grace_days_zero_ends_at_course_end() -> None:
    who = learners(("A", syd(2018, 4, 11, 10), syd(2018, 5, 20, 17)))
    run = run_of(course_window, who, NO_NEEDS, grace_days=0)
    assert rows(run) == [
        ("A", syd(2018, 4, 11, 10), True),
        ("A", syd(2018, 5, 20, 17), False),
    ]


def test_course_window_without_course_end_never_ends() -> None:
    what = needs(("A", syd(2018, 11, 5, 9), "attendance"))
    run = run_of(course_window, A, what)
    assert rows(run) == [("A", syd(2018, 4, 11, 10), True)]
    assert run.toggles == 0


def test_course_window_ending_past_the_horizon_stays_open() -> None:
    who = learners(("A", syd(2018, 4, 11, 10), syd(2018, 12, 21, 17)))
    run = run_of(course_window, who, NO_NEEDS)  # would end 4 Jan 2019 17:00
    assert rows(run) == [("A", syd(2018, 4, 11, 10), True)]


def test_course_window_ending_before_creation_is_the_creation_spell() -> None:
    who = learners(("A", syd(2018, 4, 11, 10), syd(2018, 3, 1, 17)))
    run = run_of(course_window, who, NO_NEEDS)
    assert rows(run) == [
        ("A", syd(2018, 4, 11, 10), True),
        ("A", syd(2018, 4, 11, 10) + SPELL, False),
    ]


# -- just_in_time ------------------------------------------------------------


def test_just_in_time_spells_merge_when_they_overlap_or_touch() -> None:
    what = needs(
        ("A", syd(2018, 4, 11, 10, 5), "enrolment"),  # overlaps the creation spell
        ("A", syd(2018, 4, 11, 10, 20), "document"),  # touches [10:05, 10:20)
        ("A", syd(2018, 7, 2, 9), "attendance"),
    )
    run = run_of(just_in_time, A, what)
    assert rows(run) == [
        ("A", syd(2018, 4, 11, 10), True),
        ("A", syd(2018, 4, 11, 10, 35), False),
        ("A", syd(2018, 7, 2, 9), True),
        ("A", syd(2018, 7, 2, 9, 15), False),
    ]
    assert (run.toggles, run.delay_days, run.blocked) == (3, 0.0, 0)
    assert months(run) == [("A", "2018-04"), ("A", "2018-07")]


@pytest.mark.parametrize(
    ("need", "month_start"),
    [
        (syd(2018, 5, 31, 23, 55), syd(2018, 6, 1)),
        (syd(2018, 3, 31, 23, 55), syd(2018, 4, 1)),  # DST (+11) until 1 April 03:00
    ],
)
def test_just_in_time_spell_is_clipped_at_the_month_start(
    need: datetime, month_start: datetime
) -> None:
    who = learners(("A", syd(2018, 3, 1, 10), None))
    run = run_of(just_in_time, who, needs(("A", need, "attendance")))
    assert rows(run)[-2:] == [("A", need, True), ("A", month_start, False)]
    billed = months(run, first=date(2018, 3, 1))
    assert ("A", need.astimezone(SYD).strftime("%Y-%m")) in billed
    assert ("A", month_start.astimezone(SYD).strftime("%Y-%m")) not in billed


def test_just_in_time_spell_at_a_month_start_touches_and_bills_that_month() -> None:
    what = needs(
        ("A", syd(2018, 5, 31, 23, 55), "attendance"),
        ("A", syd(2018, 6, 1), "attendance"),
    )
    run = run_of(just_in_time, A, what)
    assert rows(run)[-2:] == [
        ("A", syd(2018, 5, 31, 23, 55), True),
        ("A", syd(2018, 6, 1, 0, 15), False),
    ]
    assert months(run) == [("A", "2018-04"), ("A", "2018-05"), ("A", "2018-06")]


def test_just_in_time_need_after_the_horizon_leaves_the_last_spell_open() -> None:
    what = needs(("A", syd(2019, 1, 5, 9), "attendance"))
    run = run_of(just_in_time, A, what)
    assert rows(run) == [
        ("A", syd(2018, 4, 11, 10), True),
        ("A", syd(2018, 4, 11, 10, 15), False),
        ("A", syd(2019, 1, 5, 9), True),
    ]
    assert run.blocked == 0


# -- monthly_sweep -----------------------------------------------------------


def test_monthly_sweep_keeps_a_learner_with_a_need_in_the_lookahead() -> None:
    what = needs(("A", syd(2018, 5, 10, 9), "attendance"))  # within [1 May, 15 May)
    run = run_of(monthly_sweep, A, what)
    assert rows(run) == [
        ("A", syd(2018, 4, 11, 10), True),
        ("A", syd(2018, 6, 1), False),  # exactly at the month start
    ]
    assert months(run) == [("A", "2018-04"), ("A", "2018-05")]  # June not billed


def test_monthly_sweep_lookahead_is_half_open() -> None:
    what = needs(("A", syd(2018, 5, 15), "attendance"))  # = 1 May + 14 days
    run = run_of(monthly_sweep, A, what)
    assert rows(run) == [
        ("A", syd(2018, 4, 11, 10), True),
        ("A", syd(2018, 5, 1), False),
        ("A", syd(2018, 5, 15), True),  # back on at the need
        ("A", syd(2018, 6, 1), False),
    ]
    assert run.toggles == 3
    assert months(run) == [("A", "2018-04"), ("A", "2018-05")]
    longer = run_of(monthly_sweep, A, what, lookahead_days=15)
    assert rows(longer) == [
        ("A", syd(2018, 4, 11, 10), True),
        ("A", syd(2018, 6, 1), False),
    ]


def test_monthly_sweep_at_the_horizon_is_not_run() -> None:
    who = learners(("A", syd(2018, 12, 3, 10), None))
    run = run_of(monthly_sweep, who, NO_NEEDS)
    assert rows(run) == [("A", syd(2018, 12, 3, 10), True)]


def test_monthly_sweep_skips_the_month_start_at_creation() -> None:
    who = learners(("A", syd(2018, 11, 1), None))
    run = run_of(monthly_sweep, who, NO_NEEDS)
    assert rows(run) == [
        ("A", syd(2018, 11, 1), True),
        ("A", syd(2018, 12, 1), False),
    ]


# -- batched -----------------------------------------------------------------

# Enrolled on 11 April for a course in July: the window is [11 Apr 10:00,
# 25 Apr 17:00), the July attendance spell bills July; the May message is free
# to move to 1 July if it may wait that long.
EARLY = learners(("A", syd(2018, 4, 11, 10), syd(2018, 4, 11, 17)))
EARLY_NEEDS = needs(
    ("A", syd(2018, 4, 20, 9), "document"),  # inside the window: on time
    ("A", syd(2018, 5, 10, 10), "message"),
    ("A", syd(2018, 7, 2, 9), "attendance"),
)


def test_batched_moves_a_may_message_into_billed_july() -> None:
    run = run_of(batched, EARLY, EARLY_NEEDS, max_deferral_days=60)
    assert rows(run) == [
        ("A", syd(2018, 4, 11, 10), True),
        ("A", syd(2018, 4, 25, 17), False),
        ("A", syd(2018, 7, 1), True),
        ("A", syd(2018, 7, 1, 0, 15), False),
        ("A", syd(2018, 7, 2, 9), True),
        ("A", syd(2018, 7, 2, 9, 15), False),
    ]
    # 10 May 10:00 -> 11 May 00:00 is 14 h; 11 May -> 1 Jul is 21 + 30 days.
    delay = 51 + 14 / 24
    assert run.needs["happened_at"].to_list() == [
        syd(2018, 4, 20, 9),
        syd(2018, 7, 1),
        syd(2018, 7, 2, 9),
    ]
    assert run.needs["delay_days"].to_list() == pytest.approx([0.0, delay, 0.0])
    assert run.delay_days == pytest.approx(delay)
    assert (run.toggles, run.blocked) == (5, 0)
    assert months(run) == [("A", "2018-04"), ("A", "2018-07")]


def test_batched_does_not_move_beyond_max_deferral_days() -> None:
    run = run_of(batched, EARLY, EARLY_NEEDS)  # 10 May + 31 days = 10 Jun < 1 Jul
    assert rows(run) == [
        ("A", syd(2018, 4, 11, 10), True),
        ("A", syd(2018, 4, 25, 17), False),
        ("A", syd(2018, 5, 10, 10), True),
        ("A", syd(2018, 5, 10, 10, 15), False),
        ("A", syd(2018, 7, 2, 9), True),
        ("A", syd(2018, 7, 2, 9, 15), False),
    ]
    assert run.delay_days == 0.0
    assert months(run) == [("A", "2018-04"), ("A", "2018-05"), ("A", "2018-07")]


def test_batched_keeps_the_time_of_a_need_in_an_already_billed_month() -> None:
    what = needs(
        ("A", syd(2018, 7, 2, 9), "attendance"),
        ("A", syd(2018, 7, 20, 14), "document"),  # July is billed: not moved
    )
    run = run_of(batched, EARLY, what, max_deferral_days=60)
    assert rows(run)[-2:] == [
        ("A", syd(2018, 7, 20, 14), True),
        ("A", syd(2018, 7, 20, 14, 15), False),
    ]
    assert run.delay_days == 0.0


# -- the vendor's April-to-July example, for every strategy ------------------

COURSE_END = syd(2018, 12, 21, 17)  # 17:00 +11:00
EXAMPLE_LEARNERS = learners(
    ("L1", syd(2018, 4, 11, 10), COURSE_END),
    ("L2", syd(2018, 4, 11, 10, 30), COURSE_END),
)
MONTHLY = [(2018, 8, 6), (2018, 9, 3), (2018, 10, 8), (2018, 11, 5), (2018, 12, 3)]
EXAMPLE_NEEDS = needs(
    ("L1", syd(2018, 4, 11, 10, 5), "enrolment"),
    ("L1", syd(2018, 7, 2, 9, 5), "enrolment"),
    ("L1", syd(2018, 7, 2, 9, 15), "attendance"),
    *[("L1", syd(y, m, d, 9, 15), "attendance") for y, m, d in MONTHLY],
    ("L2", syd(2018, 4, 11, 10, 35), "enrolment"),
    ("L2", syd(2018, 5, 10, 10), "message"),
    ("L2", syd(2018, 5, 14, 9, 5), "document"),
    ("L2", syd(2018, 7, 2, 9, 15), "attendance"),
    *[("L2", syd(y, m, d, 9, 15), "attendance") for y, m, d in MONTHLY],
)
ALL_YEAR = ["2018-04", "2018-05", "2018-06", "2018-07", "2018-08", "2018-09"]
ALL_YEAR += ["2018-10", "2018-11", "2018-12"]
FROM_JULY = ALL_YEAR[3:]


@pytest.mark.parametrize(
    ("name", "l1_months", "l2_months", "toggles"),
    [
        ("always_active", ALL_YEAR, ALL_YEAR, 0),
        ("course_window", ALL_YEAR, ALL_YEAR, 0),  # ends 4 Jan 2019: past the horizon
        # L1: 7 spells (14 rows), L2: 9 spells (18 rows) -> 13 + 17 toggles
        (
            "just_in_time",
            ["2018-04", *FROM_JULY],
            ["2018-04", "2018-05", *FROM_JULY],
            30,
        ),
        # L1: off 1 May, on 2 Jul; L2: off 1 Jun, on 2 Jul -> 2 + 2 toggles
        (
            "monthly_sweep",
            ["2018-04", *FROM_JULY],
            ["2018-04", "2018-05", *FROM_JULY],
            4,
        ),
        ("batched", ALL_YEAR, ALL_YEAR, 0),  # May needs fall inside the window
    ],
)
def test_vendor_example_learner_months_and_toggles(
    name: str, l1_months: list[str], l2_months: list[str], toggles: int
) -> None:
    run = run_of(STRATEGIES[name], EXAMPLE_LEARNERS, EXAMPLE_NEEDS)
    expected = [("L1", m) for m in l1_months] + [("L2", m) for m in l2_months]
    assert months(run) == expected
    assert run.toggles == toggles
    assert run.delay_days == 0.0
    assert run.blocked == 0
    assert not run.needs["blocked"].any()


def test_vendor_example_monthly_sweep_rows() -> None:
    run = run_of(monthly_sweep, EXAMPLE_LEARNERS, EXAMPLE_NEEDS)
    assert rows(run) == [
        ("L1", syd(2018, 4, 11, 10), True),
        ("L1", syd(2018, 5, 1), False),
        ("L1", syd(2018, 7, 2, 9, 5), True),
        ("L2", syd(2018, 4, 11, 10, 30), True),
        ("L2", syd(2018, 6, 1), False),
        ("L2", syd(2018, 7, 2, 9, 15), True),
    ]


def test_vendor_example_counts() -> None:
    counts = {
        name: len(months(run_of(strategy, EXAMPLE_LEARNERS, EXAMPLE_NEEDS)))
        for name, strategy in STRATEGIES.items()
    }
    assert counts == {
        "always_active": 18,
        "course_window": 18,
        "just_in_time": 15,
        "monthly_sweep": 15,
        "batched": 18,
    }


# -- shape of the result -----------------------------------------------------


def test_registry_order() -> None:
    assert list(STRATEGIES) == [
        "always_active",
        "course_window",
        "just_in_time",
        "monthly_sweep",
        "batched",
    ]


@pytest.mark.parametrize("name", list(STRATEGIES))
def test_status_rows_alternate_from_creation(name: str) -> None:
    run = run_of(STRATEGIES[name], EXAMPLE_LEARNERS, EXAMPLE_NEEDS)
    assert run.status.schema == pl.Schema(
        {"learner_id": pl.String(), "changed_at": UTC_US, "is_active": pl.Boolean()}
    )
    checks = run.status.group_by("learner_id").agg(
        pl.col("is_active").first().alias("first"),
        pl.col("changed_at").first().alias("created"),
        (pl.col("is_active") == pl.col("is_active").shift(1)).any().alias("repeats"),
        pl.col("changed_at").is_sorted().alias("sorted"),
    )
    created = dict(EXAMPLE_LEARNERS.select("learner_id", "created_at").iter_rows())
    for lid, first, at, repeats, is_sorted in checks.iter_rows():
        assert first
        assert at == created[lid]
        assert not repeats
        assert is_sorted


def test_needs_keep_input_order_and_columns() -> None:
    what = needs(
        ("A", syd(2018, 7, 2, 9), "attendance"),
        ("A", syd(2018, 5, 10, 10), "message"),
    ).with_columns(pl.Series("line", [7, 3]))
    run = run_of(just_in_time, A, what)
    assert run.needs.columns == [
        "learner_id",
        "at",
        "kind",
        "deferrable",
        "line",
        "happened_at",
        "delay_days",
        "blocked",
    ]
    assert run.needs["line"].to_list() == [7, 3]
    assert run.needs.schema["delay_days"] == pl.Float64
    assert run.needs["happened_at"].to_list() == what["at"].to_list()


def test_blocked_is_computed_from_the_status() -> None:
    # Intervals that leave the July need uncovered (never produced by a strategy).
    what = needs(
        ("A", syd(2018, 4, 11, 10, 5), "enrolment"),
        ("A", syd(2018, 7, 2, 9), "attendance"),
    ).with_row_index(_ROW)
    intervals = pl.DataFrame(
        [("A", syd(2018, 4, 11, 10), syd(2018, 4, 11, 10, 15))],
        schema={
            "learner_id": pl.String,
            "activated_at": UTC_US,
            "deactivated_at": UTC_US,
        },
        orient="row",
    )
    run = _finish(
        what.with_columns(pl.col("at").alias("happened_at")), intervals, HORIZON
    )
    assert run.needs["blocked"].to_list() == [False, True]
    assert run.blocked == 1


def test_status_log_matches_the_status_schema() -> None:
    run = run_of(just_in_time, A, needs(("A", syd(2018, 7, 2, 9), "attendance")))
    log = status_log(run, "just_in_time")
    assert log.events.schema == STATUS_SCHEMA
    assert log.events["line"].to_list() == [1, 2, 3, 4]
    assert log.rejected.is_empty()
    assert_frame_equal(
        log.events.select("learner_id", "changed_at", "is_active"), run.status
    )


def test_empty_inputs() -> None:
    nobody = learners()
    for strategy in STRATEGIES.values():
        run = run_of(strategy, nobody, NO_NEEDS)
        assert run.status.is_empty()
        assert (run.toggles, run.delay_days, run.blocked) == (0, 0.0, 0)


# -- errors ------------------------------------------------------------------


@pytest.mark.parametrize("name", list(STRATEGIES))
def test_need_before_creation_raises(name: str) -> None:
    who = learners(
        ("L1", syd(2018, 4, 11, 10), None),
        ("L2", syd(2018, 4, 11, 10, 30), None),
    )
    what = needs(
        ("L1", syd(2018, 4, 11, 10, 5), "enrolment"),
        ("L2", syd(2018, 4, 11, 10, 29), "enrolment"),
        ("L1", syd(2018, 4, 11, 9), "enrolment"),
    )
    with pytest.raises(
        ValueError, match=r"learner 'L2' has a need at .* before its creation"
    ):
        run_of(STRATEGIES[name], who, what)


def test_unknown_learner_raises() -> None:
    with pytest.raises(ValueError, match=r"learner 'Z' is not in `learners`"):
        run_of(just_in_time, A, needs(("Z", syd(2018, 5, 1), "sales")))


def test_duplicate_learner_raises() -> None:
    who = learners(("A", syd(2018, 4, 11), None), ("A", syd(2018, 4, 12), None))
    with pytest.raises(ValueError, match=r"'A' is listed twice"):
        run_of(always_active, who, NO_NEEDS)


def test_naive_horizon_raises() -> None:
    with pytest.raises(ValueError, match=r"`horizon` must be time-zone aware"):
        just_in_time(A, NO_NEEDS, timezone=TZ, horizon=datetime(2019, 1, 1))  # noqa: DTZ001


def test_wrong_dtype_raises() -> None:
    what = NO_NEEDS.with_columns(pl.col("at").dt.replace_time_zone(None))
    with pytest.raises(ValueError, match=r"`needs.at`: Datetime"):
        run_of(just_in_time, A, what)


@pytest.mark.parametrize(
    ("strategy", "option"),
    [
        (course_window, "grace_days"),
        (monthly_sweep, "lookahead_days"),
        (batched, "max_deferral_days"),
        (batched, "grace_days"),
    ],
)
def test_negative_days_raise(strategy: Callable[..., StrategyRun], option: str) -> None:
    with pytest.raises(ValueError, match=rf"`{option}` must not be negative, got -1"):
        run_of(strategy, A, NO_NEEDS, **{option: -1})


def test_spell_length() -> None:
    assert timedelta(minutes=15) == SPELL


# -- properties on random learners -------------------------------------------

# Times piled up around Sydney month starts (and 15 minutes either side).
EDGES = [syd(2018, m, 1) for m in range(4, 13)] + [syd(2019, m, 1) for m in (1, 2)]
NEAR_EDGES = [e + timedelta(minutes=k) for e in EDGES for k in (-15, -5, 0, 5, 15)]
PROPERTY_HORIZON = syd(2019, 1, 1)
FEWER = settings(max_examples=max(1, settings().max_examples // 5))
"""Each example runs every strategy and the meter: a fifth of the profile's count."""


def _instant() -> st.SearchStrategy[datetime]:
    anywhere = st.integers(0, 300 * 24 * 4).map(
        lambda q: syd(2018, 4, 1) + timedelta(minutes=15 * q)
    )
    return st.one_of(anywhere, st.sampled_from(NEAR_EDGES))


@st.composite
def _plans(draw: st.DrawFn) -> tuple[pl.DataFrame, pl.DataFrame]:
    count = draw(st.integers(1, 4))
    who, what = [], []
    for i in range(count):
        created = draw(_instant())
        end = draw(st.none() | _instant())
        who.append((f"L{i}", created, end))
        for at in draw(st.lists(_instant(), max_size=8)):
            kind = draw(st.sampled_from(["attendance", "message", "document", "sales"]))
            what.append((f"L{i}", max(at, created), kind))
    return learners(*who), needs(*what)


def _sweep_reference(
    created: datetime, ats: list[datetime], lookahead: timedelta
) -> list[tuple[datetime, bool]]:
    """monthly_sweep for one learner, event by event (a plain loop)."""
    sweeps = [e for e in [*EDGES, syd(2019, 3, 1)] if created < e < PROPERTY_HORIZON]
    events = sorted([(e, 0) for e in sweeps] + [(a, 1) for a in ats])
    changes, active = [(created, True)], True
    for at, what in events:
        if what == 0 and active and not any(at <= a < at + lookahead for a in ats):
            changes.append((at, False))
            active = False
        elif what == 1 and not active:
            changes.append((at, True))
            active = True
    return changes


def _months_of(run: StrategyRun) -> set[tuple[str, str]]:
    return set(months(run, first=date(2018, 1, 1), last=date(2020, 12, 1)))


@FEWER
@given(plan=_plans(), lookahead=st.integers(1, 40))
def test_monthly_sweep_equals_an_event_by_event_sweep(
    plan: tuple[pl.DataFrame, pl.DataFrame], lookahead: int
) -> None:
    who, what = plan
    run = monthly_sweep(
        who, what, timezone=TZ, horizon=PROPERTY_HORIZON, lookahead_days=lookahead
    )
    for lid, created, _ in who.iter_rows():
        ats = what.filter(pl.col("learner_id") == lid)["at"].to_list()
        got = [(at, on) for l2, at, on in rows(run) if l2 == lid]
        assert got == _sweep_reference(created, ats, timedelta(days=lookahead))


@FEWER
@given(plan=_plans())
def test_strategy_invariants(plan: tuple[pl.DataFrame, pl.DataFrame]) -> None:
    who, what = plan
    runs = {
        name: strategy(who, what, timezone=TZ, horizon=PROPERTY_HORIZON)
        for name, strategy in STRATEGIES.items()
    }
    billed = {name: _months_of(run) for name, run in runs.items()}
    for run in runs.values():
        assert run.blocked == 0
        status = run.status
        assert status.height == who.height + run.toggles
        alternates = status.select(
            (pl.col("is_active") != pl.col("is_active").shift(1).over("learner_id"))
            .fill_null(pl.col("is_active"))
            .all()
        ).item()
        assert alternates
        assert status.filter(pl.col("changed_at") >= PROPERTY_HORIZON)[
            "is_active"
        ].all()
    # Before the horizon, just_in_time bills exactly the months of creation and of
    # the needs (a spell reaching the horizon stays open and bills on).
    local = pl.col("t").dt.convert_time_zone(TZ).dt.strftime("%Y-%m")
    wanted = pl.concat(
        [
            who.select("learner_id", pl.col("created_at").alias("t")),
            what.select("learner_id", pl.col("at").alias("t")),
        ]
    ).select("learner_id", local)
    before = {(lid, m) for lid, m in billed["just_in_time"] if m < "2019-01"}
    assert before == {(lid, m) for lid, m in wanted.iter_rows() if m < "2019-01"}
    # Managing the status only ever removes months.
    assert billed["just_in_time"] <= billed["monthly_sweep"] <= billed["always_active"]
    assert billed["batched"] <= billed["course_window"] <= billed["always_active"]
    # batched moves only deferrable needs, forward, by at most max_deferral_days.
    moved = runs["batched"].needs
    assert (moved["delay_days"] >= 0).all()
    assert (moved["delay_days"] <= 31).all()
    assert moved.filter(~pl.col("deferrable"))["delay_days"].sum() == 0
