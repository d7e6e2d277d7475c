"""The Active Learner meter: status log -> intervals -> billable learner-months.

The vectorised polars engine of the rules in DESIGN.md section 1 (Metering); the
readable event-by-event reference is `meter_sim.lifecycle`, and tests hold the two
equal. A learner is billed once for a calendar month, in the billing time zone, if
Active at any instant of it, however often the status was toggled [1]_.

Months are handled as integer month indices (``year * 12 + month - 1``) of the
instant's local wall-clock date, so month edges follow DST exactly: a month starts
at local midnight on the 1st, or where that does not exist, at the first instant
of the 1st. The local month of an instant is looked up in a per-UTC-day table
(the month at the day's start, and the instant in the day at which the next
month starts, if one does): exact for DST, and much faster than converting every
instant to local time. Learner ids may be text or integer codes (the fast path of
`meter_sim.logs` encodes them); only their equality and order are used.

References
----------
.. [1] "Active Learners and Metering", "Can I switch a Learner from Active to
   Inactive (and vice-versa) more than once in a month?"
"""

from __future__ import annotations

import functools
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import polars as pl

from meter_sim.lifecycle import (
    REJECTED_OUTCOMES,
    SCHEDULED_COMMUNICATION_KINDS,
    Channel,
    Outcome,
    ReadKind,
    month_start,
)
from meter_sim.logs import REJECTED_SCHEMA, UTC_US

if TYPE_CHECKING:
    from collections.abc import Iterable

    from meter_sim.lifecycle import Policy

REASONS = ("created_active", "carried_over", "reactivated", "activity_while_inactive")
"""Why a learner-month is billed, in order of precedence (the last only under the
Terms' definition, ``Policy(definition="flag_or_activity")``)."""

ReasonEnum = pl.Enum(REASONS)
OutcomeEnum = pl.Enum([str(o) for o in Outcome])


TABLE_YEARS = (1800, 2400)
"""Years covered by the month tables, ``[first, last)``: instants and months
outside are clamped to the edges (logs only hold the years 1900 to 2199)."""

DAY_US = 86_400_000_000
"""Microseconds in a UTC day. [us]"""

_EPOCH = date(1970, 1, 1)
_FIRST_MONTH = TABLE_YEARS[0] * 12
_FIRST_DAY = (date(TABLE_YEARS[0], 1, 1) - _EPOCH).days


def known_zone(name: str) -> bool:
    """Whether ``name`` is a time zone that both zoneinfo and polars know.

    The one zone check of every entry point (scenario files, ``--timezone``,
    ``--naive-timezone``, the library): months are cut with zoneinfo and times
    converted with polars, so a name only one of them reads (``Factory``,
    ``localtime``, ``posixrules`` pass zoneinfo and fail in polars) is refused
    everywhere.
    """
    try:
        ZoneInfo(name)
        pl.Series([datetime(2000, 1, 1, tzinfo=UTC)]).dt.convert_time_zone(name)
    except (ZoneInfoNotFoundError, ValueError, OSError, pl.exceptions.PolarsError):
        return False
    return True


@functools.lru_cache(maxsize=8)
def _day_table(timezone: str) -> tuple[pl.Series, pl.Series]:
    """Per UTC day of `TABLE_YEARS`: local month at its start, next month's start.

    Months are at least 28 days long, so a UTC day holds at most one local month
    start; month starts are `meter_sim.lifecycle.month_start` (local midnight on
    the 1st, or the first instant of the 1st where midnight does not exist).

    Returns
    -------
    (pl.Series, pl.Series)
        Int32 month index at 00:00 UTC of each day [months], and Int64 instant
        (microseconds since 1970 UTC) within that day at which the next local
        month starts, or the largest Int64 when none does. [us]
    """
    zone = ZoneInfo(timezone)
    # One month either side: local time differs from UTC by less than a day.
    months = np.arange(_FIRST_MONTH - 1, TABLE_YEARS[1] * 12 + 1)
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    starts = np.array(
        [
            (month_start(date(int(m) // 12, int(m) % 12 + 1, 1), zone) - epoch)
            // timedelta(microseconds=1)
            for m in months
        ],
        dtype=np.int64,
    )
    n_days = (date(TABLE_YEARS[1], 1, 1) - date(TABLE_YEARS[0], 1, 1)).days
    day_start = (np.arange(n_days, dtype=np.int64) + _FIRST_DAY) * DAY_US
    at = np.searchsorted(starts, day_start, side="right") - 1
    following = starts[at + 1]
    edge = np.where(following < day_start + DAY_US, following, np.iinfo(np.int64).max)
    return (
        pl.Series(months[at], dtype=pl.Int32),
        pl.Series(edge, dtype=pl.Int64),
    )


@functools.lru_cache(maxsize=1)
def _month_days() -> pl.Series:
    """Int32 days since 1970-01-01 of the 1st of each month of `TABLE_YEARS`."""
    days = [
        (date(m // 12, m % 12 + 1, 1) - _EPOCH).days
        for m in range(_FIRST_MONTH, TABLE_YEARS[1] * 12)
    ]
    return pl.Series(days, dtype=pl.Int32)


def month_index(instant: pl.Expr, timezone: str) -> pl.Expr:
    """Integer month index of a UTC instant in a billing time zone.

    Looked up per UTC day (see the module docstring); exact for DST.

    Parameters
    ----------
    instant : pl.Expr
        A Datetime expression (any time unit; time-zone aware, or naive UTC), in
        the years of `TABLE_YEARS`.
    timezone : str
        IANA billing time zone.

    Returns
    -------
    pl.Expr
        Int32 ``year * 12 + month - 1`` of the local date (null for a null
        instant). [months]
    """
    months, edges = _day_table(timezone)
    micros = instant.dt.cast_time_unit("us").to_physical()
    day = (micros // DAY_US - _FIRST_DAY).clip(0, months.len() - 1)
    later = (micros >= pl.lit(edges).gather(day)).cast(pl.Int32)
    return pl.lit(months).gather(day) + later


def month_starts(months: Iterable[int], timezone: str) -> pl.DataFrame:
    """Lookup table of month starts: ``_m`` Int32 -> ``_start`` Datetime(us, UTC).

    One exact `meter_sim.lifecycle.month_start` call per distinct month (local
    midnight on the 1st, or the first instant of the 1st at a DST gap).

    Parameters
    ----------
    months : iterable of int
        Month indices (``year * 12 + month - 1``); repeats are fine.
    timezone : str
        IANA billing time zone.

    Returns
    -------
    pl.DataFrame
        One row per distinct month, sorted by ``_m``.
    """
    zone = ZoneInfo(timezone)
    wanted = sorted(set(months))
    starts = [month_start(date(m // 12, m % 12 + 1, 1), zone) for m in wanted]
    return pl.DataFrame(
        {"_m": wanted, "_start": starts}, schema={"_m": pl.Int32, "_start": UTC_US}
    )


def month_start_date(index: pl.Expr) -> pl.Expr:
    """The first day (Date) of the month with integer index ``index``.

    Looked up in a table of `TABLE_YEARS` (much faster than ``pl.date``).
    """
    days = _month_days()
    at = (index.cast(pl.Int32) - _FIRST_MONTH).clip(0, days.len() - 1)
    return pl.lit(days).gather(at).cast(pl.Date)


def date_to_index(month: date) -> int:
    """Integer month index of a date's month (``year * 12 + month - 1``)."""
    return month.year * 12 + month.month - 1


def status_intervals(events: pl.LazyFrame) -> pl.LazyFrame:
    """Turn status events into half-open Active intervals.

    Repeated Yes or No rows change nothing; a learner's first row creates it (a
    first No creates it inactive, so it opens no interval).

    Parameters
    ----------
    events : pl.LazyFrame
        ``learner_id`` String, ``changed_at`` Datetime(us, UTC), ``is_active``
        Boolean, ``line`` Int64; sorted by ``(learner_id, changed_at, line)`` with
        no Yes and No for one learner at one instant (as `StatusLog.events`).

    Returns
    -------
    pl.LazyFrame
        ``learner_id`` String, ``activated_at`` Datetime(us, UTC) (inclusive),
        ``deactivated_at`` Datetime(us, UTC) (exclusive; null while still Active),
        ``created`` Boolean (the interval starts at the learner's creation).
    """
    same = pl.col("learner_id") == pl.col("learner_id").shift(1)
    first = same.not_().fill_null(value=True)
    changes = events.select("learner_id", "changed_at", "is_active").filter(
        first | (pl.col("is_active") != pl.col("is_active").shift(1))
    )
    next_same = (pl.col("learner_id") == pl.col("learner_id").shift(-1)).fill_null(
        value=False
    )
    return (
        changes.with_columns(
            pl.when(next_same)
            .then(pl.col("changed_at").shift(-1))
            .alias("deactivated_at"),
            first.alias("created"),
        )
        .filter(pl.col("is_active"))
        .select(
            "learner_id",
            pl.col("changed_at").alias("activated_at"),
            "deactivated_at",
            "created",
        )
    )


def learner_months(
    intervals: pl.LazyFrame, timezone: str, first: date, last: date
) -> pl.LazyFrame:
    """Billable learner-months of a period, each with its reason.

    An interval ``[a, d)`` meters month M iff it overlaps ``[start(M),
    start(M+1))``; an interval still open meters every month to ``last``. The
    reason is ``created_active`` when the learner was created Active in M,
    ``carried_over`` when an interval that began before M reaches into it, else
    ``reactivated`` (DESIGN.md section 1).

    Parameters
    ----------
    intervals : pl.LazyFrame
        As returned by `status_intervals`: sorted by ``(learner_id,
        activated_at)``, a learner's intervals not overlapping.
    timezone : str
        IANA billing time zone.
    first, last : date
        First days of the first and last months of the period (inclusive).

    Returns
    -------
    pl.LazyFrame
        ``learner_id`` String, ``month`` Date (first day), ``reason``
        Enum(created_active, carried_over, reactivated); one row per learner and
        month, sorted by ``(learner_id, month)``.
    """
    lo, hi = date_to_index(first), date_to_index(last)
    start = month_index(pl.col("activated_at"), timezone)
    end = month_index(pl.col("deactivated_at") - timedelta(microseconds=1), timezone)
    same = pl.col("learner_id") == pl.col("learner_id").shift(1)
    # A learner's intervals do not overlap, so only the last month of one can be
    # the first month of the next; that month keeps the earlier interval's reason
    # (created_active or carried_over beat reactivated), so the later one skips it.
    spans = (
        intervals.select(
            "learner_id",
            "created",
            start.alias("m_start"),
            pl.max_horizontal(start, pl.lit(lo, pl.Int32)).alias("m_lo"),
            pl.min_horizontal(end.fill_null(hi), pl.lit(hi, pl.Int32)).alias("m_hi"),
        )
        .with_columns(
            pl.when(same.fill_null(value=False))
            .then(pl.max_horizontal("m_lo", pl.col("m_hi").shift(1) + 1))
            .otherwise("m_lo")
            .alias("m_lo")
        )
        .filter(pl.col("m_lo") <= pl.col("m_hi"))
    )
    created, carried, reactivated = (pl.lit(r, ReasonEnum) for r in REASONS[:3])
    reason = (
        pl.when(pl.col("created") & (pl.col("m") == pl.col("m_start")))
        .then(created)
        .when(pl.col("m") > pl.col("m_start"))
        .then(carried)
        .otherwise(reactivated)
    )
    return (
        spans.with_columns(
            pl.int_ranges("m_lo", pl.col("m_hi") + 1, dtype=pl.Int32).alias("m")
        )
        .explode("m")
        .select(
            "learner_id",
            month_start_date(pl.col("m")).alias("month"),
            reason.alias("reason"),
        )
    )


def activity_months(
    outcomes: pl.DataFrame, timezone: str, first: date, last: date
) -> pl.DataFrame:
    """Learner-months of activity recorded while Is Active was No (Terms' reading).

    Under the Terms' definition of an LRM Active Learner (Is Active is Yes *or any
    Activity has occurred*, `meter_sim.lifecycle.Policy`), such a month is billed
    with reason ``activity_while_inactive``. Reads are not activity; activity on a
    learner not yet created or not in the status log bills nothing.

    Parameters
    ----------
    outcomes : pl.DataFrame
        As returned by `activity_outcomes` (``learner_id`` String,
        ``occurred_at`` Datetime(us, UTC), ``activity`` String, ``is_active``
        Boolean, null before creation).
    timezone : str
        IANA billing time zone.
    first, last : date
        First days of the first and last months of the period (inclusive).

    Returns
    -------
    pl.DataFrame
        ``learner_id`` String, ``month`` Date, ``reason`` `ReasonEnum`
        (``activity_while_inactive``); one row per learner and month of the
        period, sorted by ``(learner_id, month)``.
    """
    month = month_index(pl.col("occurred_at"), timezone)
    lo, hi = date_to_index(first), date_to_index(last)
    return (
        outcomes.lazy()
        .filter(
            (pl.col("is_active") == False)  # noqa: E712 (null: not yet created)
            & ~pl.col("activity").is_in([str(k) for k in ReadKind])
        )
        .select("learner_id", month.alias("m"))
        .filter(pl.col("m").is_between(lo, hi))
        .unique()
        .select(
            "learner_id",
            month_start_date(pl.col("m")).alias("month"),
            pl.lit("activity_while_inactive", ReasonEnum).alias("reason"),
        )
        .sort("learner_id", "month")
        .collect()
    )


def monthly_usage(months: pl.LazyFrame, first: date, last: date) -> pl.LazyFrame:
    """Billable learners per month, every month of the period listed.

    Parameters
    ----------
    months : pl.LazyFrame
        Learner-months as returned by `learner_months`.
    first, last : date
        First days of the first and last months (inclusive).

    Returns
    -------
    pl.LazyFrame
        ``month`` Date, ``billable_learners`` UInt32 (distinct learners; zero
        months included), sorted by month. [learners]
    """
    calendar = pl.LazyFrame(
        {"month": pl.date_range(first, last, interval="1mo", eager=True)}
    )
    counts = months.group_by("month").agg(pl.len().alias("billable_learners"))
    return (
        calendar.join(counts, on="month", how="left")
        .with_columns(pl.col("billable_learners").fill_null(0).cast(pl.UInt32))
        .sort("month")
    )


def period_of(events: pl.DataFrame, timezone: str) -> tuple[date, date]:
    """The default period: months of the first and last status rows.

    Parameters
    ----------
    events : pl.DataFrame
        Needs ``changed_at`` Datetime(us, UTC); at least one row.
    timezone : str
        IANA billing time zone.

    Returns
    -------
    (date, date)
        First days of the first and last months.
    """
    row = events.select(
        month_start_date(month_index(pl.col("changed_at").min(), timezone)).alias("a"),
        month_start_date(month_index(pl.col("changed_at").max(), timezone)).alias("b"),
    ).row(0)
    return row[0], row[1]


def activity_outcomes(
    activity: pl.DataFrame, status: pl.DataFrame, policy: Policy
) -> pl.DataFrame:
    """Check each activity and read against the learner's status at its time.

    An activity on an inactive learner contradicts the rules [1]_: it is marked
    rejected (never billed, never dropped). Reads are allowed while inactive except
    through the closed Learner App; a Learncycle scheduled communication may be
    ``allowed_while_inactive`` by `Policy`.

    Parameters
    ----------
    activity : pl.DataFrame
        `ActivityLog.events` (columns of ``ACTIVITY_SCHEMA``).
    status : pl.DataFrame
        `StatusLog.events`.
    policy : Policy
        Rule switches.

    Returns
    -------
    pl.DataFrame
        The activity columns plus ``is_active`` Boolean (null before creation or for
        an unknown learner), ``status_line`` Int64 (the status row in force) and
        ``outcome`` Enum of `Outcome` values; sorted by ``(learner_id,
        occurred_at, line)``.

    References
    ----------
    .. [1] "Active Learners and Metering", "A Learner must be Active in order to
       allow activity."
    """
    known = status.select("learner_id").unique()
    joined = status_in_force(activity, "occurred_at", status)
    is_read = pl.col("activity").is_in([str(k) for k in ReadKind])
    scheduled_ok = (
        pl.col("scheduled")
        & (pl.col("channel") == str(Channel.AUTOMATION))
        & pl.col("activity").is_in([str(k) for k in SCHEDULED_COMMUNICATION_KINDS])
        & pl.lit(policy.allow_scheduled_communications_while_inactive)
    )
    outcome = (
        pl.when(~pl.col("learner_id").is_in(known["learner_id"].implode()))
        .then(pl.lit(str(Outcome.REJECTED_UNKNOWN_LEARNER)))
        .when(pl.col("is_active").is_null())
        .then(pl.lit(str(Outcome.REJECTED_NOT_YET_CREATED)))
        .when(pl.col("is_active") & is_read)
        .then(pl.lit(str(Outcome.READ)))
        .when(pl.col("is_active"))
        .then(pl.lit(str(Outcome.ACCEPTED)))
        .when(pl.col("channel") == str(Channel.LEARNER_APP))
        .then(pl.lit(str(Outcome.REJECTED_PORTAL_CLOSED)))
        .when(is_read)
        .then(pl.lit(str(Outcome.READ)))
        .when(scheduled_ok)
        .then(pl.lit(str(Outcome.ALLOWED_WHILE_INACTIVE)))
        .otherwise(pl.lit(str(Outcome.REJECTED_INACTIVE)))
    )
    return joined.with_columns(outcome.cast(OutcomeEnum).alias("outcome")).sort(
        "learner_id", "occurred_at", "line"
    )


def status_in_force(rows: pl.DataFrame, at: str, status: pl.DataFrame) -> pl.DataFrame:
    """``rows`` with their learner's Is Active at each row's instant.

    The status row in force is the learner's latest one at or before the
    instant (a change at that very instant counts).

    Parameters
    ----------
    rows : pl.DataFrame
        Has ``learner_id`` String and the Datetime(us, UTC) column ``at``.
    at : str
        The name of the instant column of ``rows``.
    status : pl.DataFrame
        `StatusLog.events` (``learner_id``, ``changed_at``, ``is_active``,
        ``line``).

    Returns
    -------
    pl.DataFrame
        ``rows`` plus ``is_active`` Boolean (null before the learner's first
        status row, or for a learner not in the status log) and
        ``status_line`` Int64 (the status row in force); sorted by
        ``(learner_id, at)``.
    """
    state = status.select(
        "learner_id",
        pl.col("changed_at").alias("__changed_at__"),
        "is_active",
        pl.col("line").alias("status_line"),
    )
    return (
        rows.sort("learner_id", at)
        .join_asof(
            state,
            left_on=at,
            right_on="__changed_at__",
            by="learner_id",
            strategy="backward",
            check_sortedness=False,
        )
        .drop("__changed_at__")
    )


def rejected_activity(
    outcomes: pl.DataFrame, source: str, timezone: str
) -> pl.DataFrame:
    """The rejected rows of `activity_outcomes`, as a ``rejected`` frame.

    Parameters
    ----------
    outcomes : pl.DataFrame
        As returned by `activity_outcomes`.
    source : str
        The activity log's file, for the ``source`` column.
    timezone : str
        IANA zone in which the reasons show times (the billing time zone).

    Returns
    -------
    pl.DataFrame
        Columns ``source``, ``line``, ``reason`` (`meter_sim.logs.REJECTED_SCHEMA`),
        sorted by line.
    """
    outcome = pl.col("outcome").cast(pl.String)
    inactive = "learner '{}' is inactive (status line {})"
    why = (
        pl.when(outcome == str(Outcome.REJECTED_INACTIVE))
        .then(pl.format(inactive, "learner_id", "status_line"))
        .when(outcome == str(Outcome.REJECTED_PORTAL_CLOSED))
        .then(
            pl.format(
                inactive + ": the Learner App is closed", "learner_id", "status_line"
            )
        )
        .when(outcome == str(Outcome.REJECTED_UNKNOWN_LEARNER))
        .then(pl.format("learner '{}' is not in the status log", "learner_id"))
        .otherwise(pl.format("learner '{}' did not exist yet", "learner_id"))
    )
    rejected = outcomes.filter(outcome.is_in([str(o) for o in REJECTED_OUTCOMES]))
    return (
        rejected.select(
            pl.lit(source).alias("source"),
            "line",
            pl.format(
                "activity `{}` via `{}` at {} rejected: {}",
                "activity",
                "channel",
                pl.col("occurred_at")
                .dt.convert_time_zone(timezone)
                .dt.to_string("%Y-%m-%dT%H:%M:%S%:z"),
                why,
            ).alias("reason"),
        )
        .cast(REJECTED_SCHEMA)
        .sort("line")
    )
