"""The learner status report and the activity report, and how reports are written.

Both reports are read off a billing run (`meter_sim.billing.Bill`): the status
report has one row per learner record per billing month (domain research 8.1),
the activity report one row per activity-log event (domain research 8.2). Months
are calendar months in the billing time zone, DST-aware (DESIGN.md section 1,
Metering). `write_report` writes either to CSV for programs, CSV for people
opening it in Excel, or Parquet.

References
----------
.. [1] "Active Learners and Metering" (Wisenet), via DESIGN.md section 1.
.. [2] domain-research.md, sections 8.1 (Learner Status Report) and 8.2 (Learner
   Activity Report).
.. [3] OWASP, "CSV Injection".
.. [4] OWASP Application Security Verification Standard 5.0, requirement
   1.2.10 (CSV and formula injection).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import polars as pl

from meter_sim.exceptions import LogFormatError
from meter_sim.lifecycle import REJECTED_OUTCOMES, Outcome
from meter_sim.logs import UTC_US
from meter_sim.metering import (
    REASONS,
    date_to_index,
    month_index,
    month_start_date,
    month_starts,
)

if TYPE_CHECKING:
    from datetime import date
    from pathlib import Path

    from meter_sim._typing import ReportForm
    from meter_sim.billing import Bill
    from meter_sim.logs import StatusLog

LOCAL = pl.Datetime("us", "*")
"""Placeholder dtype in the report schemas: Datetime(us) in the billing time zone."""

STATUS_REPORT_SCHEMA = pl.Schema(
    {
        "billing_month": pl.Date(),
        "learner_id": pl.String(),
        "created_at": LOCAL,
        "is_active_at_month_start": pl.Boolean(),
        "is_active_at_month_end": pl.Boolean(),
        "status_changes_in_month": pl.UInt32(),
        "first_activated_at": LOCAL,
        "last_deactivated_at": LOCAL,
        "metering_reason": pl.Enum([*REASONS, "not_billable"]),
        "billable_in_month": pl.Boolean(),
        "is_overage": pl.Boolean(),
        "activity_events_in_month": pl.UInt32(),
        "rejected_activities_in_month": pl.UInt32(),
        "last_activity_at": LOCAL,
        "inactivation_candidate": pl.Boolean(),
        "elearning_billable_in_month": pl.Boolean(),
    }
)
"""Columns of `status_report`, in order (`LOCAL`: the billing time zone)."""

ACTIVITY_REPORT_SCHEMA = pl.Schema(
    {
        "line": pl.Int64(),
        "event_id": pl.String(),
        "learner_id": pl.String(),
        "occurred_at_utc": UTC_US,
        "occurred_at_local": LOCAL,
        "billing_month": pl.Date(),
        "activity": pl.String(),
        "channel": pl.String(),
        "scheduled": pl.Boolean(),
        "learner_active_at_event": pl.Boolean(),
        "status_line": pl.Int64(),
        "outcome": pl.String(),
        "metering_effect": pl.Enum(["first_in_month", "already_metered", "none"]),
    }
)
"""Columns of `activity_report`, in order (`LOCAL`: the billing time zone)."""

APPLIED_OUTCOMES = (str(Outcome.ACCEPTED), str(Outcome.ALLOWED_WHILE_INACTIVE))
"""Outcomes of activities that happened (reads and rejected attempts did not)."""

MONTH_COLUMNS = ("billing_month", "month")
"""Date columns written ``YYYY-MM`` in CSV; other Date columns are ISO dates."""

SUFFIXES: dict[ReportForm, str] = {
    "csv": ".csv",
    "excel-csv": ".csv",
    "parquet": ".parquet",
}
"""The file name suffix each report form needs."""

FORMULA_START = r"^(?:[\t\r\n\x00]|[\s\x1c-\x1f]*[=+\-@\uff1d\uff0b\uff0d\uff20])"
"""A text cell matching this could start a spreadsheet formula [3]_ [4]_: its first
character other than spaces (and the separators U+001C to U+001F, which Python
counts as space) is ``=``, ``+``, ``-`` or ``@`` (or their full-width forms, which
some spreadsheets read as the same), or it starts with a tab, a line break or a
NUL."""


def _in_zone(schema: pl.Schema, timezone: str) -> pl.Schema:
    """``schema`` with every `LOCAL` column in ``timezone``."""
    zoned = pl.Datetime("us", timezone)
    return pl.Schema({k: zoned if v == LOCAL else v for k, v in schema.items()})


def _month_table(first: date, last: date, timezone: str) -> pl.DataFrame:
    """``_m`` Int32, ``billing_month`` Date, ``_start``, ``_end`` (UTC) per month.

    Month starts from `meter_sim.metering.month_starts` (exact at DST).
    """
    lo, hi = date_to_index(first), date_to_index(last)
    starts = month_starts(range(lo, hi + 2), timezone)
    return starts.with_columns(
        pl.col("_start").shift(-1).alias("_end"),
        month_start_date(pl.col("_m")).alias("billing_month"),
    ).head(-1)


def _edges(intervals: pl.DataFrame) -> pl.DataFrame:
    """Effective status changes: ``learner_id``, ``_at``, ``_up``, ``created``.

    One row per activation (``_up`` True; ``created`` when it is the creation)
    and per deactivation, sorted by ``(learner_id, _at)``.
    """
    up = intervals.select(
        "learner_id", pl.col("activated_at").alias("_at"), _up=True, created="created"
    )
    down = intervals.filter(pl.col("deactivated_at").is_not_null()).select(
        "learner_id", pl.col("deactivated_at").alias("_at"), _up=False, created=False
    )
    return pl.concat([up, down]).sort("learner_id", "_at")


def _status_at(
    grid: pl.DataFrame, edges: pl.DataFrame, at: str, name: str, *, exact: bool
) -> pl.DataFrame:
    """Add column ``name``: the status in force at column ``at`` (False if none).

    With ``exact`` a change exactly at ``at`` counts; without, only those before.
    """
    joined = grid.join_asof(
        edges.select("learner_id", pl.col("_at").alias(f"_{name}"), "_up"),
        left_on=at,
        right_on=f"_{name}",
        by="learner_id",
        allow_exact_matches=exact,
        check_sortedness=False,
    )
    return joined.with_columns(pl.col("_up").fill_null(value=False).alias(name)).drop(
        "_up", f"_{name}"
    )


def _activity_months(activity: pl.DataFrame, timezone: str) -> pl.DataFrame:
    """Per learner and month index ``_m``: applied and rejected counts, last applied."""
    outcome = pl.col("outcome").cast(pl.String)
    applied = outcome.is_in(APPLIED_OUTCOMES)
    return activity.group_by(
        "learner_id", month_index(pl.col("occurred_at"), timezone).alias("_m")
    ).agg(
        applied.sum().alias("activity_events_in_month"),
        outcome.is_in([str(o) for o in REJECTED_OUTCOMES])
        .sum()
        .alias("rejected_activities_in_month"),
        pl.col("occurred_at").filter(applied).max().alias("last_activity_at"),
    )


def _with_activity(grid: pl.DataFrame, result: Bill) -> pl.DataFrame:
    """Add the activity columns: counted from ``result.activity``, else null."""
    counts = ("activity_events_in_month", "rejected_activities_in_month")
    if result.activity is None:
        return grid.with_columns(
            *(pl.lit(None, pl.UInt32).alias(c) for c in counts),
            pl.lit(None, UTC_US).alias("last_activity_at"),
        )
    months = _activity_months(result.activity, result.timezone)
    return grid.join(months, on=["learner_id", "_m"], how="left").with_columns(
        pl.col(counts).fill_null(0)
    )


def status_report(result: Bill, status: StatusLog) -> pl.DataFrame:
    """The learner status report: one row per learner record per billing month.

    Every learner of ``status`` that exists by the end of a month (its first
    status row is before the next month starts) has a row for that month, for
    every month of ``result.first_month`` to ``result.last_month``. The status
    columns come from ``result.intervals``; a learner is billed for a month if
    Active at any instant of it, however often it was toggled [1]_, and the
    billing columns come from ``result.learner_months`` and ``result.monthly``.
    A subset of the Learner Status Report of [2]_.

    Parameters
    ----------
    result : Bill
        The billing run (`meter_sim.billing.bill`).
    status : StatusLog
        The status log that was billed: it gives every learner record and its
        creation, including learners created inactive (no interval).

    Returns
    -------
    pl.DataFrame
        Columns of `STATUS_REPORT_SCHEMA`, Datetime(us) columns in the billing
        time zone, sorted by ``(billing_month, learner_id)``:

        - ``billing_month`` Date: first day of the month.
        - ``learner_id`` String.
        - ``created_at`` Datetime: the learner's first status row.
        - ``is_active_at_month_start`` Boolean: status in force at the month's
          first instant (a change exactly then counts; False before creation).
        - ``is_active_at_month_end`` Boolean: status in force just before the
          next month starts.
        - ``status_changes_in_month`` UInt32: activations other than the creation,
          plus deactivations, in ``[start(M), start(M+1))``; repeated Yes or No
          rows change nothing and are not counted. [toggles]
        - ``first_activated_at`` Datetime: first activation (or creation Active)
          in the month; null if none.
        - ``last_deactivated_at`` Datetime: last deactivation in the month; null
          if none.
        - ``metering_reason`` Enum(created_active, carried_over, reactivated,
          not_billable).
        - ``billable_in_month`` Boolean: the Active Learner meter.
        - ``is_overage`` Boolean: the month's billable learners are ordered by
          the instant they were first metered in it (the month start if Active
          then, else ``first_activated_at``), then by ``learner_id``; the last
          ``overage_learners`` of them (``result.monthly``) are overage.
        - ``activity_events_in_month`` UInt32: applied activities (outcome
          ``accepted`` or ``allowed_while_inactive``; not reads, not rejected
          attempts). [activities]
        - ``rejected_activities_in_month`` UInt32: rejected attempts (any outcome
          of `meter_sim.lifecycle.REJECTED_OUTCOMES`). [activities]
        - ``last_activity_at`` Datetime: last applied activity; null if none.
        - ``inactivation_candidate`` Boolean: billable with no applied activity.

        - ``elearning_billable_in_month`` Boolean: the e-Learning meter
          (`meter_sim.elearning`) bills the learner in the month.

        The four activity columns are null in every row when ``result.activity``
        is None (unknown, not zero); ``elearning_billable_in_month`` likewise
        when ``result.elearning`` is None.

    See Also
    --------
    activity_report : one row per activity-log event.
    write_report : write the report to CSV or Parquet.

    References
    ----------
    .. [1] "Active Learners and Metering", "Can I switch a Learner from Active to
       Inactive (and vice-versa) more than once in a month?"; DESIGN.md section 1.
    .. [2] domain-research.md, section 8.1.

    Examples
    --------
    >>> from meter_sim import bill, load_plan, read_status_log
    >>> log = read_status_log("examples/status.csv")
    >>> plan = load_plan("scenarios/plans/starter.yaml")
    >>> report = status_report(bill(log, plan=plan), log)
    >>> report.filter(pl.col("learner_id") == "L3").select(
    ...     "billing_month", "is_active_at_month_end", "metering_reason"
    ... ).head(2)
    shape: (2, 3)
    ┌───────────────┬────────────────────────┬─────────────────┐
    │ billing_month ┆ is_active_at_month_end ┆ metering_reason │
    │ ---           ┆ ---                    ┆ ---             │
    │ date          ┆ bool                   ┆ enum            │
    ╞═══════════════╪════════════════════════╪═════════════════╡
    │ 2018-06-01    ┆ true                   ┆ created_active  │
    │ 2018-07-01    ┆ false                  ┆ not_billable    │
    └───────────────┴────────────────────────┴─────────────────┘
    """
    tz = result.timezone
    lo, hi = date_to_index(result.first_month), date_to_index(result.last_month)
    created = status.events.group_by("learner_id").agg(
        pl.col("changed_at").min().alias("created_at")
    )
    first = pl.max_horizontal(month_index(pl.col("created_at"), tz), pl.lit(lo))
    grid = (
        created.filter(first <= hi)
        .with_columns(pl.int_ranges(first, hi + 1, dtype=pl.Int32).alias("_m"))
        .explode("_m")
        .join(_month_table(result.first_month, result.last_month, tz), on="_m")
        .sort("learner_id", "_m")
    )
    edges = _edges(result.intervals)
    changes = edges.group_by(
        "learner_id", month_index(pl.col("_at"), tz).alias("_m")
    ).agg(
        pl.col("created").not_().sum().alias("status_changes_in_month"),
        pl.col("_at").filter("_up").min().alias("first_activated_at"),
        pl.col("_at").filter(pl.col("_up").not_()).max().alias("last_deactivated_at"),
    )
    billed = result.learner_months.select(
        "learner_id",
        pl.col("month").alias("billing_month"),
        pl.col("reason").cast(pl.String).alias("metering_reason"),
    )
    overage = result.monthly.select(
        pl.col("month").alias("billing_month"), "overage_learners"
    )
    grid = _status_at(grid, edges, "_start", "is_active_at_month_start", exact=True)
    grid = _status_at(grid, edges, "_end", "is_active_at_month_end", exact=False)
    grid = (
        grid.join(changes, on=["learner_id", "_m"], how="left")
        .join(billed, on=["learner_id", "billing_month"], how="left")
        .join(overage, on="billing_month", how="left")
        .with_columns(
            pl.col("status_changes_in_month").fill_null(0),
            pl.col("metering_reason").is_not_null().alias("billable_in_month"),
            pl.col("metering_reason").fill_null("not_billable"),
            pl.when("is_active_at_month_start")
            .then("_start")
            .otherwise("first_activated_at")
            .alias("_metered"),
        )
        # Within a month, billable learners in first-metered order come first;
        # the reverse running count of billable rows is 1 for the last of them.
        .sort("_m", "_metered", "learner_id", nulls_last=True)
        .with_columns(
            (
                pl.col("billable_in_month")
                & (
                    pl.col("billable_in_month").cum_sum(reverse=True).over("_m")
                    <= pl.col("overage_learners")
                )
            ).alias("is_overage")
        )
    )
    grid = _with_elearning(_with_activity(grid, result), result).with_columns(
        pl.when(pl.col("activity_events_in_month").is_not_null())
        .then(pl.col("billable_in_month") & (pl.col("activity_events_in_month") == 0))
        .alias("inactivation_candidate")
    )
    # Casting a UTC Datetime to the billing zone converts it (same instant).
    return (
        grid.sort("billing_month", "learner_id")
        .select(STATUS_REPORT_SCHEMA.names())
        .cast(_in_zone(STATUS_REPORT_SCHEMA, tz))
    )


def _with_elearning(grid: pl.DataFrame, result: Bill) -> pl.DataFrame:
    """``grid`` with ``elearning_billable_in_month`` (null without the meter)."""
    name = "elearning_billable_in_month"
    if result.elearning is None:
        return grid.with_columns(pl.lit(None, pl.Boolean).alias(name))
    billed = result.elearning.learner_months.select(
        "learner_id",
        pl.col("month").alias("billing_month"),
        pl.lit(value=True).alias(name),
    )
    return grid.join(
        billed, on=["learner_id", "billing_month"], how="left"
    ).with_columns(pl.col(name).fill_null(value=False))


def activity_report(result: Bill) -> pl.DataFrame:
    """The activity report: one row per activity-log event, with its outcome.

    Each activity or read is shown with the learner's status at its time and
    what became of it. An activity never meters a learner by itself: the status
    does, a learner being billed for a month if Active at any instant of it
    [1]_. ``metering_effect`` only marks which applied activity was the
    learner's first of the billing month. A subset of the Learner Activity
    Report of [2]_.

    Parameters
    ----------
    result : Bill
        A billing run with an activity log (`meter_sim.billing.bill`).

    Returns
    -------
    pl.DataFrame
        Columns of `ACTIVITY_REPORT_SCHEMA`, sorted by ``line``:

        - ``line`` Int64: the activity log line (for Parquet, the row).
        - ``event_id``, ``learner_id`` String.
        - ``occurred_at_utc`` Datetime(us, UTC); ``occurred_at_local``
          Datetime(us) in the billing time zone.
        - ``billing_month`` Date: first day of the billing month.
        - ``activity``, ``channel`` String; ``scheduled`` Boolean.
        - ``learner_active_at_event`` Boolean: null before the learner's creation
          or for a learner not in the status log.
        - ``status_line`` Int64: the status row in force; null if none.
        - ``outcome`` String: a `meter_sim.lifecycle.Outcome` value.
        - ``metering_effect`` Enum(first_in_month, already_metered, none): an
          ``accepted`` activity is ``first_in_month`` if it is the learner's
          first accepted activity of the billing month (ties at one instant go
          to the lower line), else ``already_metered``; reads, rejected
          attempts and scheduled communications ``allowed_while_inactive``
          (they do not need Active) are ``none``.

        Duplicate rows removed by the log reader are not listed (they are in
        ``result.rejected``).

    Raises
    ------
    LogFormatError
        If ``result`` was billed without an activity log.

    See Also
    --------
    status_report : one row per learner record per billing month.

    References
    ----------
    .. [1] "Active Learners and Metering"; DESIGN.md section 1, Metering.
    .. [2] domain-research.md, section 8.2.
    """
    if result.activity is None:
        msg = (
            "the activity report needs an activity log: bill the status log "
            "with one (e.g. `--activity LOG`)"
        )
        raise LogFormatError(msg, field="activity")
    tz = result.timezone
    month = month_index(pl.col("occurred_at"), tz)
    # Only an accepted activity needs the learner Active; one allowed while
    # inactive (a scheduled communication) has no metering effect.
    applied = pl.col("outcome").cast(pl.String) == str(Outcome.ACCEPTED)
    first = applied & (applied.cum_sum().over("learner_id", month) == 1)
    effect = (
        pl.when(applied.not_())
        .then(pl.lit("none"))
        .when(first)
        .then(pl.lit("first_in_month"))
        .otherwise(pl.lit("already_metered"))
    )
    return (
        result.activity.sort("learner_id", "occurred_at", "line")
        .select(
            "line",
            "event_id",
            "learner_id",
            pl.col("occurred_at").alias("occurred_at_utc"),
            pl.col("occurred_at").alias("occurred_at_local"),
            month_start_date(month).alias("billing_month"),
            "activity",
            "channel",
            "scheduled",
            pl.col("is_active").alias("learner_active_at_event"),
            "status_line",
            pl.col("outcome").cast(pl.String),
            effect.alias("metering_effect"),
        )
        .sort("line")
        .cast(_in_zone(ACTIVITY_REPORT_SCHEMA, tz))
    )


def report_form(path: Path, form: ReportForm | None = None) -> ReportForm:
    """The form `write_report` writes ``path`` in (checked before long work).

    Raises
    ------
    LogFormatError
        If ``path`` is a folder, or its suffix is unknown or does not fit
        ``form`` (see `write_report`).
    """
    suffix = path.suffix.lower()
    if path.is_dir():
        msg = f"{path}: is a folder; a .csv or .parquet file name is expected"
        raise LogFormatError(msg, source=str(path))
    if form is None:
        if suffix not in {".csv", ".parquet"}:
            msg = f"{path}: unknown file type {suffix!r}; expected .csv or .parquet"
            raise LogFormatError(msg, source=str(path))
        return "parquet" if suffix == ".parquet" else "csv"
    if suffix != SUFFIXES[form]:
        article = "an" if form[0] in "aeiou" else "a"
        msg = f"{path}: {article} {form} report needs a {SUFFIXES[form]} file name"
        raise LogFormatError(msg, source=str(path))
    return form


def _iso(name: str, dtype: pl.Datetime) -> pl.Expr:
    """ISO-8601 text in the column's zone, with offset; sub-seconds only if any."""
    column = pl.col(name)
    offset = "%:z" if dtype.time_zone else ""
    digits = {"ms": 3, "us": 6, "ns": 9}[dtype.time_unit or "us"]
    return (
        pl.when(column.dt.nanosecond() == 0)
        .then(column.dt.to_string(f"%Y-%m-%dT%H:%M:%S{offset}"))
        .otherwise(column.dt.to_string(f"%Y-%m-%dT%H:%M:%S%.{digits}f{offset}"))
    )


def _cell(name: str, dtype: pl.DataType, *, excel: bool) -> pl.Expr:
    """The CSV text (or number) of one column."""
    column = pl.col(name)
    if isinstance(dtype, pl.Date):
        return column.dt.to_string("%Y-%m" if name in MONTH_COLUMNS else "%Y-%m-%d")
    if isinstance(dtype, pl.Datetime):
        return _iso(name, dtype)
    if isinstance(dtype, pl.Boolean):
        return pl.when(column).then(pl.lit("Y")).when(column.not_()).then(pl.lit("N"))
    if isinstance(dtype, pl.Decimal):
        return column.cast(pl.String)
    if isinstance(dtype, pl.String | pl.Enum | pl.Categorical):
        text = column.cast(pl.String)
        if excel:
            unsafe = text.str.contains(FORMULA_START)
            return pl.when(unsafe).then(pl.lit("'") + text).otherwise(text)
        return text
    return column


def write_report(
    frame: pl.DataFrame | pl.LazyFrame,
    path: Path,
    *,
    form: ReportForm | None = None,
) -> None:
    """Write a report (or any frame of dates, times, flags, text and numbers).

    Parameters
    ----------
    frame : pl.DataFrame or pl.LazyFrame
        E.g. `status_report` or `activity_report`; a LazyFrame is streamed to
        the file (for reports larger than memory).
    path : Path
        The file to write (replaced if it exists).
    form : {'csv', 'excel-csv', 'parquet'} or None
        None: from the suffix, ``.csv`` -> ``'csv'``, ``.parquet`` ->
        ``'parquet'``. The suffix must fit the form (``excel-csv``: ``.csv``).

        - ``'parquet'``: the frame as is (Date, Datetime with zone, Boolean,
          Enum, Decimal kept).
        - ``'csv'``, for programs (round-trips): Date columns named
          ``billing_month`` or ``month`` as ``YYYY-MM``, other Dates as ISO
          dates; Datetime columns as ISO-8601 in the column's zone with its
          offset, sub-second digits only when there are any (e.g.
          ``2018-04-11T10:00:00+10:00``, ``2018-04-11T10:00:00.250000+10:00``);
          Booleans ``Y``/``N`` (blank for null); Enum and Decimal as text;
          standard CSV quoting, UTF-8.
        - ``'excel-csv'``, for people opening it in Excel: as ``'csv'``, with a
          UTF-8 byte order mark, and every text cell that could start a
          formula (`FORMULA_START`: ``=``, ``+``, ``-`` or ``@`` after any
          spaces, their full-width forms, or a leading tab, line break or NUL)
          prefixed with ``'`` so that no cell can start a formula [1]_;
          numeric columns stay numbers.

    Raises
    ------
    LogFormatError
        If the suffix is unknown or does not fit ``form``, or the file cannot
        be written; the message names the path.

    References
    ----------
    .. [1] OWASP, "CSV Injection".

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from datetime import UTC, datetime
    >>> frame = pl.DataFrame(
    ...     {
    ...         "learner_id": ["=1+1", "L2"],
    ...         "at": [datetime(2018, 4, 11, tzinfo=UTC)] * 2,
    ...         "billable": [True, None],
    ...     }
    ... )
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "report.csv"
    >>> write_report(frame, path, form="excel-csv")
    >>> print(path.read_text(encoding="utf-8-sig"), end="")
    learner_id,at,billable
    '=1+1,2018-04-11T00:00:00+00:00,Y
    L2,2018-04-11T00:00:00+00:00,
    """
    form = report_form(path, form)
    lazy = frame.lazy()
    excel = form == "excel-csv"
    if form != "parquet":
        schema = lazy.collect_schema()
        lazy = lazy.select(_cell(n, d, excel=excel).alias(n) for n, d in schema.items())
    try:
        if form == "parquet":
            lazy.sink_parquet(path)
        else:
            lazy.sink_csv(path, include_bom=excel)
    except (OSError, pl.exceptions.PolarsError) as exc:
        raise LogFormatError.unwritable(path, exc, "report") from None
