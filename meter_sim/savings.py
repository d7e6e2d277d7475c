"""The savings finder: billed learner-months that status management could have avoided.

Three kinds of finding (``reference/domain-research.md`` section 6.5, invariant
30), each learner-month given one, in this order of precedence:

- ``possible_duplicate``: two learner records with the same name and date of birth
  billed in one month; every record but the first billed (by creation, then id) is
  a person billed twice;
- ``wasted_reactivation``: billed only because it was reactivated, deactivated again
  in the month, and no activity happened in it;
- ``no_activity``: billed (carried over or reactivated) with no activity in the
  month; setting the learner inactive before the month (or not reactivating it)
  would have avoided the charge. A month a learner was created in is not listed:
  creating a learner makes it Active that month ("Active Learners and Metering").

Money: a finding's ``cost`` is what removing it from the month's count would save,
taking the month's findings one at a time from the top of the count, so a month's
costs add up to ``price(n) - price(n - k)`` for ``n`` billable learners and ``k``
findings (zero while the count stays within the included learners).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import polars as pl

from meter_sim.pricing import month_total

if TYPE_CHECKING:
    from datetime import date
    from decimal import Decimal

    from meter_sim.pricing import Plan

FINDINGS = ("possible_duplicate", "wasted_reactivation", "no_activity")
"""Kinds of saving, in order of precedence."""

SAVINGS_SCHEMA = pl.Schema(
    {
        "billing_month": pl.Date(),
        "learner_id": pl.String(),
        "finding": pl.Enum(FINDINGS),
        "detail": pl.String(),
        "cost": pl.Decimal(38, 2),
    }
)
"""Columns of `find_savings`."""

_WHEN = "%Y-%m-%dT%H:%M:%S%:z"


def _duplicates(report: pl.DataFrame, names: pl.DataFrame) -> pl.DataFrame:
    """Billed learner-months of records sharing a name and date of birth."""
    person = names.select(
        "learner_id",
        pl.concat_str(
            pl.col("first_name").str.to_lowercase().str.replace_all(r"\s+", " "),
            pl.col("last_name").str.to_lowercase().str.replace_all(r"\s+", " "),
            pl.col("date_of_birth").cast(pl.String),
            separator="|",
        ).alias("_person"),
    ).drop_nulls()
    person = person.unique("learner_id", keep="first", maintain_order=True)
    billed = report.filter(pl.col("billable_in_month")).join(
        person, on="learner_id", how="inner"
    )
    ranked = billed.sort(
        "billing_month", "_person", "created_at", "learner_id"
    ).with_columns(
        pl.col("learner_id").first().over("billing_month", "_person").alias("_first")
    )
    return ranked.filter(pl.col("learner_id") != pl.col("_first")).select(
        "billing_month",
        "learner_id",
        pl.lit("possible_duplicate").alias("finding"),
        pl.format(
            "same name and date of birth as {}, also billed this month", "_first"
        ).alias("detail"),
    )


def find_savings(
    report: pl.DataFrame,
    monthly: pl.DataFrame,
    plan: Plan,
    *,
    names: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """Billed learner-months that could have been avoided, each with its cost.

    Parameters
    ----------
    report : pl.DataFrame
        `meter_sim.reports.status_report`: uses ``billing_month``, ``learner_id``,
        ``created_at``, ``metering_reason``, ``billable_in_month``,
        ``is_active_at_month_end``, ``first_activated_at``,
        ``last_deactivated_at`` and ``activity_events_in_month`` (null when no
        activity log was given: then only duplicates can be found).
    monthly : pl.DataFrame
        The month-by-month bill: ``month`` Date, ``billable_learners``.
    plan : Plan
        Prices the months, each at the tier in force in it (`Plan.in_force`).
    names : pl.DataFrame or None
        ``learner_id``, ``first_name``, ``last_name`` String, ``date_of_birth``
        Date (e.g. the vendor's status report); duplicates are looked for only
        when given. Names compare case-insensitively.

    Returns
    -------
    pl.DataFrame
        Columns of `SAVINGS_SCHEMA`: ``billing_month`` Date, ``learner_id``,
        ``finding`` Enum(`FINDINGS`), ``detail`` String, ``cost``
        Decimal(38, 2) [``plan.currency``, before tax]; sorted by month, finding
        and learner.

    References
    ----------
    .. [1] ``reference/domain-research.md`` section 6.5, invariant 30.
    """
    no_activity = pl.col("activity_events_in_month") == 0
    reason = pl.col("metering_reason").cast(pl.String)
    wasted = (reason == "reactivated") & no_activity & ~pl.col("is_active_at_month_end")
    idle = pl.col("billable_in_month") & reason.is_in(["carried_over", "reactivated"])
    found = [
        report.filter(wasted.fill_null(value=False)).select(
            "billing_month",
            "learner_id",
            pl.lit("wasted_reactivation").alias("finding"),
            pl.format(
                "reactivated at {} and deactivated at {} with no activity",
                pl.col("first_activated_at").dt.to_string(_WHEN),
                pl.col("last_deactivated_at").dt.to_string(_WHEN),
            ).alias("detail"),
        ),
        report.filter((idle & no_activity).fill_null(value=False)).select(
            "billing_month",
            "learner_id",
            pl.lit("no_activity").alias("finding"),
            pl.format("billed ({}) with no activity in the month", reason).alias(
                "detail"
            ),
        ),
    ]
    if names is not None:
        found.insert(0, _duplicates(report, names))
    kinds = pl.Enum(FINDINGS)
    chosen = (
        pl.concat(found)
        .with_columns(pl.col("finding").cast(kinds))
        .sort("billing_month", "finding", "learner_id")
        .unique(["billing_month", "learner_id"], keep="first", maintain_order=True)
    )
    # One at a time from the top of the month's count: the i-th finding (0-based)
    # of a month with n billable learners saves price(n - i) - price(n - i - 1).
    ranked = chosen.join(
        monthly.select(pl.col("month").alias("billing_month"), "billable_learners"),
        on="billing_month",
        how="left",
    ).with_columns(
        (
            pl.col("billable_learners").cast(pl.Int64)
            - pl.int_range(pl.len()).over("billing_month")
        ).alias("_n")
    )
    # Each month at the tier in force in it (`Plan.in_force`, rule 23).
    price: dict[tuple[date, int], Decimal] = {}
    terms: dict[date, Plan] = {}

    def priced(month: date, n: int) -> Decimal:
        if (month, n) not in price:
            if month not in terms:
                terms[month] = plan.in_force(month)
            price[month, n] = month_total(max(n, 0), terms[month])
        return price[month, n]

    costs = [
        priced(month, n) - priced(month, n - 1)
        for month, n in ranked.select("billing_month", "_n").iter_rows()
    ]
    return ranked.select(
        "billing_month",
        "learner_id",
        "finding",
        "detail",
        pl.Series("cost", costs, dtype=pl.Decimal(38, 2)),
    ).cast(SAVINGS_SCHEMA)
