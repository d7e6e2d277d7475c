"""The billing run: logs and a plan in, learner-months, usage and invoice out.

The one orchestrator of the data flow of DESIGN.md section 2: status log ->
intervals -> billable learner-months -> monthly usage -> invoice lines, with
activity checked against the statuses and every rejected row collected.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import polars as pl

from meter_sim.exceptions import LogFormatError
from meter_sim.lifecycle import Policy
from meter_sim.logs import REJECTED_SCHEMA, prepare_activity_log, prepare_status_log
from meter_sim.metering import (
    activity_outcomes,
    learner_months,
    monthly_usage,
    period_of,
    rejected_activity,
    status_intervals,
)
from meter_sim.pricing import invoice, monthly_bill

if TYPE_CHECKING:
    from datetime import date

    from meter_sim.logs import ActivityLog, StatusLog
    from meter_sim.pricing import Invoice, Plan
    from meter_sim.scenario import Scenario

DEFAULT_TIMEZONE = "Australia/Sydney"
"""The default billing time zone (DESIGN.md section 1, Metering)."""


@dataclass(frozen=True)
class Bill:
    """Everything a billing run produces.

    Attributes
    ----------
    timezone : str
        IANA billing time zone.
    plan : Plan
        The plan priced.
    first_month, last_month : date
        First days of the period's first and last months.
    intervals : pl.DataFrame
        `meter_sim.metering.status_intervals`: ``learner_id``, ``activated_at``,
        ``deactivated_at`` (null while Active), ``created``.
    learner_months : pl.DataFrame
        ``learner_id`` String, ``month`` Date, ``reason`` Enum; one row per
        billable learner-month.
    monthly : pl.DataFrame
        `meter_sim.pricing.MONTHLY_BILL_SCHEMA`: the month-by-month bill.
    invoice : Invoice
        Every invoice line (base, overage, minimum-spend true-up, tax) and the
        totals ex and inc tax.
    activity : pl.DataFrame or None
        `meter_sim.metering.activity_outcomes`, when an activity log was given.
    rejected : pl.DataFrame
        ``source``, ``line``, ``reason``: duplicates of both logs and rejected
        activities, sorted by source and line.
    inputs : pl.DataFrame
        One row per input log: ``input`` String (``"<source> (status log)"`` or
        ``"<source> (activity log)"``), ``rows_read``, ``rows_used``,
        ``rows_rejected`` Int64, with ``rows_read == rows_used + rows_rejected``.
        [rows]
    """

    timezone: str
    plan: Plan
    first_month: date
    last_month: date
    intervals: pl.DataFrame
    learner_months: pl.DataFrame
    monthly: pl.DataFrame
    invoice: Invoice
    activity: pl.DataFrame | None
    rejected: pl.DataFrame
    inputs: pl.DataFrame


def _accounting(
    label: str, rows_read: int, rejected: list[pl.DataFrame]
) -> tuple[str, int, int, int]:
    gone = sum(frame.height for frame in rejected)
    return label, rows_read, rows_read - gone, gone


def check_timezone(timezone: str, *, field: str = "timezone") -> str:
    """Return ``timezone`` if it is an IANA zone that both zoneinfo and polars know.

    Parameters
    ----------
    timezone : str
        E.g. ``"Australia/Sydney"``.
    field : str
        The option or key named in the error, e.g. ``"naive-timezone"``.

    Raises
    ------
    LogFormatError
        If the zone is unknown.
    """
    try:
        ZoneInfo(timezone)
        pl.Series([datetime(2000, 1, 1, tzinfo=UTC)]).dt.convert_time_zone(timezone)
    except (ZoneInfoNotFoundError, ValueError, pl.exceptions.PolarsError):
        msg = f"`{field}`: unknown IANA time zone {timezone!r} (e.g. Australia/Sydney)"
        raise LogFormatError(msg, field=field) from None
    return timezone


def bill(
    status: StatusLog,
    activity: ActivityLog | None = None,
    *,
    plan: Plan,
    timezone: str = DEFAULT_TIMEZONE,
    first_month: date | None = None,
    last_month: date | None = None,
    policy: Policy | None = None,
) -> Bill:
    """Meter a status log and price it with a plan.

    Parameters
    ----------
    status : StatusLog
        The validated status log.
    activity : ActivityLog or None
        Activities to check against the statuses; rejected ones are reported,
        never billed.
    plan : Plan
        The price book entry.
    timezone : str
        IANA billing time zone; months are calendar months there.
    first_month, last_month : date or None
        First days of the first and last months reported; default the months of
        the status log's first and last rows.
    policy : Policy or None
        Rule switches (scheduled communications); default `Policy()`.

    Returns
    -------
    Bill
        Learner-months, month-by-month bill, invoice lines and rejections.

    Raises
    ------
    LogFormatError
        If the time zone is unknown, the period is reversed, or the status log has
        no rows and no period is given.

    References
    ----------
    .. [1] DESIGN.md sections 1 and 2.
    """
    check_timezone(timezone)
    if first_month is None or last_month is None:
        if status.events.is_empty():
            msg = f"{status.source}: the status log has no rows; nothing to bill"
            raise LogFormatError(msg, source=status.source)
        default_first, default_last = period_of(status.events, timezone)
        first_month = first_month or default_first
        last_month = last_month or default_last
    if first_month > last_month:
        msg = f"`--from` {first_month:%Y-%m} is after `--through` {last_month:%Y-%m}"
        raise LogFormatError(msg, field="from")
    intervals = status_intervals(status.events.lazy()).collect()
    months = learner_months(
        intervals.lazy(), timezone, first_month, last_month
    ).collect()
    usage = monthly_usage(months.lazy(), first_month, last_month).collect()
    rejected = [status.rejected]
    inputs = [_accounting(f"{status.source} (status log)", status.rows_read, rejected)]
    outcomes = None
    if activity is not None:
        outcomes = activity_outcomes(activity.events, status.events, policy or Policy())
        refused = [
            activity.rejected,
            rejected_activity(outcomes, activity.source, timezone),
        ]
        label = f"{activity.source} (activity log)"
        inputs.append(_accounting(label, activity.rows_read, refused))
        rejected += refused
    return Bill(
        timezone=timezone,
        plan=plan,
        first_month=first_month,
        last_month=last_month,
        intervals=intervals,
        learner_months=months,
        monthly=monthly_bill(usage, plan),
        invoice=invoice(usage, plan),
        activity=outcomes,
        rejected=pl.concat(rejected).cast(REJECTED_SCHEMA).sort("source", "line"),
        inputs=pl.DataFrame(
            inputs,
            schema=["input", "rows_read", "rows_used", "rows_rejected"],
            orient="row",
        ),
    )


def run_scenario(scenario: Scenario, *, policy: Policy | None = None) -> Bill:
    """Bill a scenario's learners with its plan, time zone and period.

    Parameters
    ----------
    scenario : Scenario
        As returned by `meter_sim.scenario.load_scenario`.
    policy : Policy or None
        Rule switches; default `Policy()`.

    Returns
    -------
    Bill
        As `bill`; ``rejected`` lines are the scenario file's YAML lines.

    Raises
    ------
    LogFormatError
        If one learner is set to Yes and No at the same instant (naming both
        YAML lines).
    """
    source = str(scenario.source)
    period = scenario.period or (None, None)
    return bill(
        prepare_status_log(scenario.status_frame(), source),
        prepare_activity_log(scenario.activity_frame(), source),
        plan=scenario.plan,
        timezone=scenario.timezone,
        first_month=period[0],
        last_month=period[1],
        policy=policy,
    )
