"""Run a scenario under status-management strategies and compare what each costs.

The orchestrator of DESIGN.md section 2 for "scenario x strategy -> logs": each
strategy of `meter_sim.strategies` turns the scenario's needs into a status log,
which is metered and priced exactly like a real log (`meter_sim.billing.bill`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import polars as pl

from meter_sim.billing import bill, run_scenario
from meter_sim.lifecycle import month_start
from meter_sim.logs import prepare_activity_log
from meter_sim.metering import month_index, month_start_date
from meter_sim.strategies import STRATEGIES, status_log

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from meter_sim.billing import Bill
    from meter_sim.scenario import Scenario
    from meter_sim.strategies import StrategyRun

EXPLICIT = "explicit"
"""Name of the scenario's own status timeline in comparisons."""

COMPARISON_SCHEMA = pl.Schema(
    {
        "strategy": pl.String(),
        "learner_months": pl.UInt32(),
        "total_ex_tax": pl.Decimal(38, 2),
        "total_inc_tax": pl.Decimal(38, 2),
        "toggles": pl.UInt32(),
        "delay_days": pl.Float64(),
        "blocked": pl.UInt32(),
    }
)
"""Columns of `StrategyComparison.table`."""


@dataclass(frozen=True)
class StrategyComparison:
    """Strategies side by side on one scenario.

    Attributes
    ----------
    table : pl.DataFrame
        Columns of `COMPARISON_SCHEMA`, one row per strategy (the scenario's own
        ``explicit`` timeline first): billable ``learner_months``
        [learner-months], ``total_ex_tax`` and ``total_inc_tax`` [plan
        currency], status ``toggles`` (changes after creation: admin effort)
        [changes], total ``delay_days`` imposed on needs [days], and ``blocked``
        needs (that could not happen) [needs].
    bills : dict of str to Bill
        Each strategy's full bill, by strategy name.
    first_month, last_month : date
        The period compared (first days of its months).
    """

    table: pl.DataFrame
    bills: dict[str, Bill]
    first_month: date
    last_month: date

    def monthly(self) -> pl.DataFrame:
        """Monthly billable learners and totals per strategy (long format).

        Returns
        -------
        pl.DataFrame
            ``strategy`` String, ``month`` Date, ``billable_learners`` UInt32
            [learners], ``total`` Decimal(38, 2) [plan currency, ex tax].
        """
        return pl.concat(
            [
                b.monthly.select(
                    pl.lit(name).alias("strategy"),
                    "month",
                    "billable_learners",
                    "total",
                )
                for name, b in self.bills.items()
            ]
        )


def scenario_period(scenario: Scenario) -> tuple[date, date]:
    """The scenario's period, or the months of its first creation and last need.

    Returns
    -------
    (date, date)
        First days of the first and last months, in the scenario's time zone.
    """
    if scenario.period is not None:
        return scenario.period
    learners, needs = scenario.learners_frame(), scenario.needs_frame()
    first = learners["created_at"].min()
    last = needs["at"].max() if not needs.is_empty() else learners["created_at"].max()
    edges = pl.DataFrame({"t": [first, last]}, schema={"t": pl.Datetime("us", "UTC")})
    months = edges.select(month_start_date(month_index(pl.col("t"), scenario.timezone)))
    return months.item(0, 0), months.item(1, 0)


def compare_strategies(
    scenario: Scenario,
    strategies: Mapping[str, Callable[..., StrategyRun]] | None = None,
) -> StrategyComparison:
    """Bill a scenario's needs under each strategy, beside its own timeline.

    Parameters
    ----------
    scenario : Scenario
        Learners with needs (their activities) and, optionally, course ends.
    strategies : mapping of str to callable or None
        Strategies by name; default `meter_sim.strategies.STRATEGIES` with their
        default parameters.

    Returns
    -------
    StrategyComparison
        The table and each strategy's bill over the scenario's period.

    References
    ----------
    .. [1] "Active Learners and Metering": the customer manages the status; a
       learner is billed once for each month Active at any instant.
    """
    first, last = scenario_period(scenario)
    zone = ZoneInfo(scenario.timezone)
    horizon = month_start(
        date(last.year + last.month // 12, last.month % 12 + 1, 1), zone
    )
    learners, needs = scenario.learners_frame(), scenario.needs_frame()
    explicit = run_scenario(scenario)
    bills = {EXPLICIT: explicit}
    rows = [_row(EXPLICIT, explicit, toggles=_toggles(explicit), delay=0.0,
                 blocked=explicit.rejected.height)]  # fmt: skip
    for name, strategy in (strategies or STRATEGIES).items():
        run = strategy(learners, needs, timezone=scenario.timezone, horizon=horizon)
        source = f"{scenario.source} ({name})"
        activity = prepare_activity_log(_needs_as_activity(run.needs), source)
        result = bill(
            status_log(run, source),
            activity,
            plan=scenario.plan,
            timezone=scenario.timezone,
            first_month=first,
            last_month=last,
        )
        bills[name] = result
        rows.append(
            _row(name, result, toggles=run.toggles, delay=run.delay_days,
                 blocked=result.rejected.height)
        )  # fmt: skip
    table = pl.DataFrame(rows, schema=COMPARISON_SCHEMA, orient="row")
    return StrategyComparison(table, bills, first, last)


def _row(
    name: str, result: Bill, *, toggles: int, delay: float, blocked: int
) -> tuple[object, ...]:
    return (
        name,
        result.learner_months.height,
        result.invoice.total_ex_tax,
        result.invoice.total_inc_tax,
        toggles,
        delay,
        blocked,
    )


def _toggles(result: Bill) -> int:
    """Status changes after creation implied by a bill's intervals."""
    intervals = result.intervals
    closes = intervals.filter(pl.col("deactivated_at").is_not_null()).height
    reopens = intervals.filter(~pl.col("created")).height
    return closes + reopens


def _needs_as_activity(needs: pl.DataFrame) -> pl.DataFrame:
    """A strategy's needs, at the time they happened, as an activity log."""
    return needs.select(
        pl.int_range(pl.len(), dtype=pl.Int64).alias("line") + 1,
        "learner_id",
        pl.col("happened_at").alias("occurred_at"),
        pl.col("kind").alias("activity"),
        pl.lit("ui").alias("channel"),
        pl.lit(value=False).alias("scheduled"),
        pl.lit(None, pl.String).alias("event_id"),
    )
