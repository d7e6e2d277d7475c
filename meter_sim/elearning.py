"""The e-Learning Active Learner meter: enrolment log -> billable learner-months.

A second meter beside the LRM one, independent of Is Active [1]_: a learner is an
e-Learning Active Learner in month M if at any instant of M they had at least one
*Enabled* e-Learning enrolment; once per learner per month, however many
enrolments or toggles. New enrolments start Disabled (not billed) until enabled by
hand or by an enrolment rule; enabling and then disabling at once still meters the
month. A learner-month's reason is ``activated`` (the learner's first enrolment
was enabled in M) or ``continuing`` (an enrolment was enabled at the start of M),
the metering events of [1]_.

The log is read and checked like the status log (`meter_sim.logs`: same errors,
same row accounting), folded into one "any enrolment enabled" status per learner,
and metered by the same engine (`meter_sim.metering.status_intervals`,
`meter_sim.metering.learner_months`). Enabling an enrolment is a data change of
the learner record, so with a status log an enabling row at an instant the learner
is LRM-inactive (or before the learner exists, or of a learner not in the status
log) is rejected like any other activity on an inactive learner, and not applied
(DESIGN.md section 1, e-Learning meter).

References
----------
.. [1] Wisenet, "e-Learning Active Learners" (``reference/domain-research.md``
   sections 2.9 and 6.3, source W4).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl

from meter_sim.logs import (
    CHANNEL_WORDS,
    REJECTED_SCHEMA,
    UTC_US,
    _bad_id,
    _bad_word,
    _columns,
    _drop_duplicates,
    _flag,
    _learner_id,
    _learner_id_error,
    _Log,
    _parse_checked,
    _parse_instants,
    _raise_errors,
    _read_table,
    _refuse_conflicts,
    _text,
    _with_blank,
    _words_error,
)
from meter_sim.metering import (
    learner_months,
    monthly_usage,
    status_in_force,
    status_intervals,
)

if TYPE_CHECKING:
    from datetime import date

ELEARNING_SCHEMA = pl.Schema(
    {
        "line": pl.Int64(),
        "learner_id": pl.String(),
        "enrolment_id": pl.String(),
        "changed_at": UTC_US,
        "enabled": pl.Boolean(),
        "event_id": pl.String(),
        "channel": pl.String(),
        "actor": pl.String(),
    }
)
"""Columns of a parsed e-Learning enrolment log (`ElearningLog.events`)."""

ELEARNING_REQUIRED = ("learner_id", "enrolment_id", "changed_at", "enabled")

ELEARNING_REASONS = ("activated", "continuing")
"""Why an e-Learning learner-month is billed (the metering events of W4)."""

ElearningReasonEnum = pl.Enum(ELEARNING_REASONS)


class ElearningLog(_Log):
    """A validated e-Learning enrolment log (attributes as `meter_sim.logs._Log`).

    ``events`` has the columns of `ELEARNING_SCHEMA`: ``line`` Int64,
    ``learner_id`` and ``enrolment_id`` String, ``changed_at`` Datetime(us,
    UTC), ``enabled`` Boolean, ``event_id``, ``channel``, ``actor`` String
    (nullable); duplicates removed, sorted by ``(learner_id, enrolment_id,
    changed_at, line)``.
    """


def parse_elearning_log(
    raw: pl.DataFrame,
    source: str,
    *,
    naive_timezone: str | None = None,
    line_word: str = "line",
) -> ElearningLog:
    """Validate an e-Learning enrolment log table and turn it into an `ElearningLog`.

    Parameters
    ----------
    raw : pl.DataFrame
        Columns ``learner_id``, ``enrolment_id`` (text or whole numbers),
        ``changed_at`` (as a status log's), ``enabled`` (a Yes/No word, Boolean
        or 0/1: the enrolment's Enabled after the change) and optionally
        ``event_id``, ``channel``, ``actor``. An enrolment's first row is its
        creation (``enabled`` No for a new enrolment, Yes when an enrolment rule
        enables it at once).
    source : str
        The file name, used in messages and in ``rejected``.
    naive_timezone : str or None
        IANA zone in which times without an offset are read; None makes such
        times an error.
    line_word : str
        ``"line"`` (CSV, header on line 1) or ``"row"`` (Parquet, from 1).

    Returns
    -------
    ElearningLog
        Parsed, deduplicated events and the duplicates (and blank records).

    Raises
    ------
    LogFormatError
        As `meter_sim.logs.parse_status_log` (missing column, blank or bad
        value, id over 1,000 characters, time without an offset, ``event_id``
        reused), and also for an enrolment listed under two learners, or set to
        Enabled and Disabled at one instant (naming both lines).
    """
    kinds = {
        "learner_id": "id",
        "enrolment_id": "id",
        "changed_at": "time",
        "enabled": "flag",
        "event_id": "text",
        "channel": "text",
        "actor": "text",
    }
    frame, blank = _columns(raw, source, kinds, ELEARNING_REQUIRED, line_word)
    frame, changed_at, time_error = _parse_instants(frame, "changed_at", naive_timezone)
    enabled, repairs, flag_error = _flag(frame, "enabled")
    checks = {
        "learner_id": _learner_id_error(),
        "enrolment_id": _learner_id_error("enrolment_id"),
        "changed_at": time_error,
        "enabled": flag_error,
        "channel": _words_error("channel", CHANNEL_WORDS, required=False),
    }
    values = [
        pl.col("line"),
        _learner_id().alias("learner_id"),
        _learner_id("enrolment_id").alias("enrolment_id"),
        changed_at.alias("changed_at"),
        enabled.alias("enabled"),
        _text("event_id").alias("event_id"),
        _text("channel").str.to_lowercase().alias("channel"),
        _text("actor").alias("actor"),
    ]
    suspect = (
        _bad_id()
        | _bad_id("enrolment_id")
        | time_error.is_not_null()
        | enabled.is_null()
        | _bad_word("channel", CHANNEL_WORDS, required=False)
    )
    parsed = _parse_checked(
        frame, values, checks, suspect, source, line_word, repairs=repairs
    ).cast(ELEARNING_SCHEMA)
    return _with_blank(
        prepare_elearning_log(parsed, source, line_word=line_word), blank
    )


def prepare_elearning_log(
    events: pl.DataFrame, source: str, *, line_word: str = "line"
) -> ElearningLog:
    """Deduplicate parsed enrolment events and check each enrolment's rows.

    Parameters
    ----------
    events : pl.DataFrame
        Columns of `ELEARNING_SCHEMA` (e.g. from a scenario), any order.
    source : str
        Where the rows came from, for messages.
    line_word : str
        ``"line"`` or ``"row"``, for messages.

    Returns
    -------
    ElearningLog
        As `parse_elearning_log`.

    Raises
    ------
    LogFormatError
        If one ``event_id`` labels different rows, one enrolment is listed under
        two learners, or one enrolment is Enabled and Disabled at one instant.
    """
    content = tuple(c for c in ELEARNING_SCHEMA if c != "line")
    kept, duplicates = _drop_duplicates(
        events, source, content, "changed_at", line_word
    )
    owners = (
        kept.group_by("enrolment_id")
        .agg(
            pl.col("learner_id").n_unique().alias("owners"),
            pl.col("learner_id").sort_by("line").alias("learners"),
            pl.col("line").sort().alias("lines"),
        )
        .filter(pl.col("owners") > 1)
    )
    if not owners.is_empty():
        first_other = pl.col("learners").list.eval(pl.element() != pl.element().first())
        errors = owners.select(
            pl.col("lines").list.get(first_other.list.arg_max()).alias("line"),
            pl.lit("enrolment_id").alias("field"),
            pl.format(
                "enrolment '{}' is listed under learners '{}' and '{}' "
                f"({line_word}s {{}}); an enrolment belongs to one learner",
                "enrolment_id",
                pl.col("learners").list.first(),
                pl.col("learners").list.get(first_other.list.arg_max()),
                pl.col("lines").cast(pl.List(pl.String)).list.join(", "),
            ).alias("message"),
        )
        _raise_errors(errors, source, line_word)
    kept = kept.sort("learner_id", "enrolment_id", "changed_at", "line")
    _refuse_conflicts(
        kept,
        ["learner_id", "enrolment_id"],
        "enabled",
        pl.format("enrolment '{}' of learner '{}'", "enrolment_id", "learner_id"),
        ("Enabled", "Disabled"),
        source,
        line_word,
    )
    return ElearningLog(kept, duplicates, source, events.height)


def read_elearning_log(
    path: str | Path, *, naive_timezone: str | None = None
) -> ElearningLog:
    """Read and validate an e-Learning enrolment log file (CSV or Parquet).

    Parameters and errors are as for `meter_sim.logs.read_status_log`; see
    `parse_elearning_log` (DESIGN.md section 4, e-Learning enrolment log).
    """
    path = Path(path)
    frame, line_word = _read_table(path)
    return parse_elearning_log(
        frame, str(path), naive_timezone=naive_timezone, line_word=line_word
    )


def refuse_enabling_while_inactive(
    log: ElearningLog, status: pl.DataFrame, timezone: str
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Split enrolment events into those applied and enablings refused by the LRM.

    Enabling an enrolment changes the learner record, which needs Is Active Yes
    on every channel [1]_. Every ``enabled`` Yes row at an instant when the
    learner's status (the status row in force, a change at the same instant
    included) is No, or before the learner's first status row, or of a learner
    not in the status log, is refused and not applied. Disabling is applied
    whatever the status.

    Parameters
    ----------
    log : ElearningLog
        The validated enrolment log.
    status : pl.DataFrame
        `meter_sim.logs.StatusLog.events` (``learner_id``, ``changed_at``,
        ``is_active``, ``line``).
    timezone : str
        IANA zone in which the reasons show times (the billing time zone).

    Returns
    -------
    (pl.DataFrame, pl.DataFrame)
        The events applied (``log.events``' columns and order), and the refused
        rows as `REJECTED_SCHEMA` (``source``, ``line``, ``reason``).

    References
    ----------
    .. [1] "Active Learners and Metering", "A Learner must be Active in order to
       allow activity."; ``reference/domain-research.md`` section 6.3, rule 17.
    """
    enabling = log.events.filter(pl.col("enabled"))
    checked = status_in_force(enabling, "changed_at", status)
    known = pl.col("learner_id").is_in(status["learner_id"].unique().implode())
    refused = checked.filter(~pl.col("is_active").fill_null(value=False))
    why = (
        pl.when(~known)
        .then(pl.format("learner '{}' is not in the status log", "learner_id"))
        .when(pl.col("is_active").is_null())
        .then(pl.format("learner '{}' did not exist yet", "learner_id"))
        .otherwise(
            pl.format(
                "learner '{}' is inactive (status line {})", "learner_id", "status_line"
            )
        )
    )
    rejected = refused.select(
        pl.lit(log.source).alias("source"),
        "line",
        pl.format(
            "enabling e-Learning enrolment '{}' at {} rejected: {}; enabling an "
            "enrolment is a data change, which needs the learner Active",
            "enrolment_id",
            pl.col("changed_at")
            .dt.convert_time_zone(timezone)
            .dt.to_string("%Y-%m-%dT%H:%M:%S%:z"),
            why,
        ).alias("reason"),
    ).cast(REJECTED_SCHEMA)
    applied = log.events.join(refused.select("line"), on="line", how="anti")
    return applied, rejected.sort("line")


def enabled_status(events: pl.DataFrame) -> pl.DataFrame:
    """Fold enrolment events into one "any enrolment Enabled" status per learner.

    Each enrolment's real changes count +1 (Disabled -> Enabled, or created
    Enabled) or -1 (Enabled -> Disabled); a repeated value changes nothing. The
    learner's count of Enabled enrolments after each instant's changes decides
    the learner's status: Yes while at least one is Enabled. Changes of several
    enrolments at one instant are taken together, so one enrolment disabled as
    another is enabled leaves the learner Enabled throughout.

    Parameters
    ----------
    events : pl.DataFrame
        ``learner_id``, ``enrolment_id`` String, ``changed_at`` Datetime(us,
        UTC), ``enabled`` Boolean, ``line`` Int64; sorted by ``(learner_id,
        enrolment_id, changed_at, line)``, no enrolment Enabled and Disabled at
        one instant (as `ElearningLog.events`).

    Returns
    -------
    pl.DataFrame
        ``learner_id`` String, ``changed_at`` Datetime(us, UTC), ``is_active``
        Boolean (some enrolment Enabled), ``line`` Int64 (the first row of the
        instant); sorted by ``(learner_id, changed_at, line)``, one row per
        learner and instant: the input of `meter_sim.metering.status_intervals`.
    """
    first = (pl.col("enrolment_id") != pl.col("enrolment_id").shift(1)).fill_null(
        value=True
    ) | (pl.col("learner_id") != pl.col("learner_id").shift(1)).fill_null(value=True)
    changed = first | (pl.col("enabled") != pl.col("enabled").shift(1))
    step = (
        pl.when(changed & pl.col("enabled"))
        .then(1)
        .when(changed & ~pl.col("enabled") & ~first)
        .then(-1)
        .otherwise(0)
    )
    return (
        events.lazy()
        .select("learner_id", "changed_at", "line", step.alias("step"))
        .group_by("learner_id", "changed_at")
        .agg(pl.col("step").sum(), pl.col("line").min())
        .sort("learner_id", "changed_at")
        .select(
            "learner_id",
            "changed_at",
            (pl.col("step").cum_sum().over("learner_id") > 0).alias("is_active"),
            "line",
        )
        .collect()
    )


@dataclass(frozen=True)
class ElearningMeter:
    """The e-Learning meter of a billing run.

    Attributes
    ----------
    learner_months : pl.DataFrame
        ``learner_id`` String, ``month`` Date (first day), ``reason``
        Enum(`ELEARNING_REASONS`); one row per billable learner-month, sorted by
        ``(learner_id, month)``.
    usage : pl.DataFrame
        ``month`` Date, ``elearning_learners`` UInt32 (distinct e-Learning
        Active Learners; every month of the period). [learners]
    rejected : pl.DataFrame
        `REJECTED_SCHEMA`: duplicates, blank records and refused enablings.
    rows_read : int
        Rows of the log. [rows]
    still_enabled : int
        Learners with an enrolment still Enabled at the end of the log (billed
        through the period's last month only). [learners]
    """

    learner_months: pl.DataFrame
    usage: pl.DataFrame
    rejected: pl.DataFrame
    rows_read: int
    still_enabled: int = 0


def meter_elearning(
    log: ElearningLog,
    status: pl.DataFrame | None,
    *,
    timezone: str,
    first: date,
    last: date,
) -> ElearningMeter:
    """Meter an e-Learning enrolment log over a period.

    Parameters
    ----------
    log : ElearningLog
        The validated enrolment log.
    status : pl.DataFrame or None
        `meter_sim.logs.StatusLog.events`: enablings while LRM-inactive are then
        refused (`refuse_enabling_while_inactive`); None to meter the log alone.
    timezone : str
        IANA billing time zone; months are calendar months there.
    first, last : date
        First days of the first and last months (inclusive).

    Returns
    -------
    ElearningMeter
        Learner-months with reasons, usage per month, and rejected rows.
    """
    events, refused = log.events, log.rejected.clear()
    if status is not None:
        events, refused = refuse_enabling_while_inactive(log, status, timezone)
    folded = enabled_status(events)
    still = folded.group_by("learner_id").agg(pl.col("is_active").last())
    intervals = status_intervals(folded.lazy())
    reason = (
        pl.when(pl.col("reason") == "carried_over")
        .then(pl.lit("continuing"))
        .otherwise(pl.lit("activated"))
        .cast(ElearningReasonEnum)
    )
    months = (
        learner_months(intervals, timezone, first, last)
        .with_columns(reason.alias("reason"))
        .collect()
    )
    usage = (
        monthly_usage(months.lazy(), first, last)
        .rename({"billable_learners": "elearning_learners"})
        .collect()
    )
    rejected = pl.concat([log.rejected, refused]).cast(REJECTED_SCHEMA).sort("line")
    return ElearningMeter(
        months,
        usage,
        rejected,
        log.rows_read,
        int(still["is_active"].sum()),
    )
