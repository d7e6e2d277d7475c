"""Run a scenario under status-management strategies: compare and forecast costs.

The orchestrator of DESIGN.md section 2 for "scenario x strategy -> logs": each
strategy of `meter_sim.strategies` turns the scenario's needs into a status log,
which is metered and priced exactly like a real log (`meter_sim.billing.bill`).

`compare_strategies` does this once for a scenario's explicit learners. For the
learners to come (a scenario's ``cohorts``), `forecast` is a Monte Carlo run:
`draw_population` draws a population from the cohorts, every strategy is billed
on that same draw, many times over, and `Forecast` summarises the spread
(`Forecast.bands`, `Forecast.annual`); `commitment_table` prices the drawn usage
under alternative plans, such as `commitment_plans` of one edition, to choose how
many Active Learners to commit to.

Determinism (STYLE.md, Determinism rows): one `numpy.random.Generator` is made
per forecast from its seed and passed down; nothing seeds a global generator.
Every draw happens in a fixed order (intakes in file order, then within an
intake: sizes, creation days and times, withdrawals, each need kind in
`meter_sim.lifecycle.ActivityKind` order, certificates), and every frame is
sorted on explicit keys before it is returned, so one seed gives one result.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import numpy as np
import polars as pl

from meter_sim.billing import bill, run_scenario
from meter_sim.lifecycle import ActivityKind, month_start
from meter_sim.logs import prepare_activity_log
from meter_sim.metering import period_of
from meter_sim.pricing import Plan, invoice, month_total, round_money
from meter_sim.scenario import DEFERRABLE_KINDS, LEARNERS_SCHEMA, NEEDS_SCHEMA
from meter_sim.strategies import STRATEGIES, status_log
from meter_sim.zones import local_to_utc

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

    from numpy.typing import NDArray

    from meter_sim.billing import Bill
    from meter_sim.scenario import Cohorts, Intake, Scenario
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
    """The scenario's period, or the months its learners and cohorts span.

    Without a ``period`` in the file: from the month of the first explicit
    learner's creation through the month of its last need (or creation), and
    from the first month of `cohort_period` through its last; both when the
    scenario has both.

    Returns
    -------
    (date, date)
        First days of the first and last months, in the scenario's time zone.
    """
    if scenario.period is not None:
        return scenario.period
    spans = [] if scenario.cohorts is None else [cohort_period(scenario.cohorts)]
    if scenario.learners:
        spans.append(_learners_period(scenario))
    return min(span[0] for span in spans), max(span[1] for span in spans)


def cohort_period(cohorts: Cohorts) -> tuple[date, date]:
    """The months a cohort section's learners can be billed in.

    From the month of the earliest possible creation (the first intake's start
    less ``enrolment_lead_days``) through the last course month of the last
    intake to end. These are local calendar months, the same whatever the draw.

    Parameters
    ----------
    cohorts : Cohorts
        A scenario's ``cohorts`` section.

    Returns
    -------
    (date, date)
        First days of the first and last months.

    Examples
    --------
    >>> from meter_sim.scenario import Cohorts
    >>> cohorts = Cohorts.model_validate(
    ...     {
    ...         "course_months": 12,
    ...         "enrolment_lead_days": 30,
    ...         "intakes": [{"month": "2027-02", "size": 150}],
    ...     }
    ... )
    >>> cohort_period(cohorts)
    (datetime.date(2027, 1, 1), datetime.date(2028, 1, 1))
    """
    created = min(i.month for i in cohorts.intakes) - timedelta(
        days=cohorts.enrolment_lead_days
    )
    last = max(_add_months(i.month, cohorts.course_months - 1) for i in cohorts.intakes)
    return created.replace(day=1), last


def _add_months(month: date, months: int) -> date:
    index = month.year * 12 + month.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def _learners_period(scenario: Scenario) -> tuple[date, date]:
    """Months of the first explicit creation and the last need (or creation)."""
    learners, needs = scenario.learners_frame(), scenario.needs_frame()
    first = learners["created_at"].min()
    last = needs["at"].max() if not needs.is_empty() else learners["created_at"].max()
    edges = pl.DataFrame(
        {"changed_at": [first, last]}, schema={"changed_at": pl.Datetime("us", "UTC")}
    )
    return period_of(edges, scenario.timezone)


def compare_strategies(
    scenario: Scenario,
    strategies: Mapping[str, Callable[..., StrategyRun]] | None = None,
) -> StrategyComparison:
    """Bill a scenario's needs under each strategy, beside its own timeline.

    The explicit learners take part, and when the scenario has ``cohorts`` one
    population drawn with the scenario's ``seed`` joins them (`forecast` draws
    many). The scenario's own timeline (``explicit``) is shown when it has
    explicit learners. The period is `scenario_period`.

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
    horizon = _horizon(last, scenario.timezone)
    learners, needs = scenario.learners_frame(), scenario.needs_frame()
    if scenario.cohorts is not None:
        rng = np.random.default_rng(scenario.seed)
        drawn = draw_population(scenario.cohorts, timezone=scenario.timezone, rng=rng)
        learners = pl.concat([learners, drawn[0]])
        needs = pl.concat([needs, drawn[1]])
    bills: dict[str, Bill] = {}
    rows = []
    if scenario.learners:
        explicit = run_scenario(scenario)
        bills[EXPLICIT] = explicit
        rows.append(_row(EXPLICIT, explicit, toggles=_toggles(explicit), delay=0.0,
                         blocked=explicit.rejected.height))  # fmt: skip
    for name, strategy in (strategies or STRATEGIES).items():
        run = strategy(learners, needs, timezone=scenario.timezone, horizon=horizon)
        result = _bill_run(
            scenario, run, f"{scenario.source} ({name})", (first, last), check=True
        )
        bills[name] = result
        rows.append(
            _row(name, result, toggles=run.toggles, delay=run.delay_days,
                 blocked=result.rejected.height)
        )  # fmt: skip
    table = pl.DataFrame(rows, schema=COMPARISON_SCHEMA, orient="row")
    return StrategyComparison(table, bills, first, last)


def _horizon(last: date, timezone: str) -> datetime:
    """The local start of the month after ``last``: where planning stops."""
    return month_start(_add_months(last, 1), ZoneInfo(timezone))


def _bill_run(
    scenario: Scenario,
    run: StrategyRun,
    source: str,
    period: tuple[date, date],
    *,
    check: bool,
) -> Bill:
    """Bill a strategy's status log with the scenario's plan over ``period``.

    With ``check`` the needs, as they happened, are also checked against the
    statuses as an activity log (the ``blocked`` count); without it only the
    status log is billed, which gives the same usage and invoice. The
    scenario's e-Learning enrolments, if any, are billed on the second meter,
    their enablings checked against the strategy's statuses.
    """
    activity = (
        prepare_activity_log(_needs_as_activity(run.needs), source) if check else None
    )
    return bill(
        status_log(run, source),
        activity,
        plan=scenario.plan,
        timezone=scenario.timezone,
        first_month=period[0],
        last_month=period[1],
        elearning=scenario.elearning_log(),
    )


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


# -- drawing populations -------------------------------------------------------

_US_PER_HOUR = 3_600_000_000
_US_PER_DAY = 24 * _US_PER_HOUR
_DAY_OPENS = 8 * _US_PER_HOUR
"""Business hours, when needs fall and learners are created, open at 08:00 local."""
_DAY_CLOSES = 18 * _US_PER_HOUR
"""Business hours close at 18:00 local (exclusive); a course ends then."""
_INTAKE_STARTS = 9 * _US_PER_HOUR
"""An intake starts at 09:00 local on the 1st of its month."""
_OPEN = _DAY_CLOSES - _DAY_OPENS
"""Length of a business day. [us]"""

CERTIFICATE = ActivityKind.DOCUMENT
"""Kind of the certificate need on a completer's course end day."""

_Needs = list[tuple["NDArray[np.int64]", "NDArray[np.int64]", str]]
"""Drawn needs of an intake: (learner index, local wall time [us], kind) arrays."""


def draw_population(
    cohorts: Cohorts,
    *,
    timezone: str,
    rng: np.random.Generator,
    prefix: str = "C",
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Draw one population of learners and their needs from a cohort section.

    The rules, per intake (in file order). "Local" is wall-clock time in
    ``timezone``; every instant drawn falls in business hours, 08:00 to 18:00
    local.

    - Size: ``Poisson(size)`` learners.
    - Creation: the enrolment admin creates each learner [1]_ on a day drawn
      uniformly from the ``enrolment_lead_days`` days before the intake's first
      day, at a time drawn uniformly from 08:00 to 18:00 local; with a lead of
      0 days, at the intake start (09:00 local on the 1st). Each learner has an
      ``enrolment`` need at its creation.
    - Course: the ``course_months`` calendar months from the intake month
      (course month 1 is the intake month).
    - Withdrawal: a learner still enrolled withdraws in each course month with
      probability ``dropout_per_month`` (the withdrawal month is geometric;
      nobody withdraws when the rate is 0). Its course ends that month.
    - ``course_end``: 18:00 local on the last day of the learner's last course
      month (the withdrawal month, or the final month); no need falls after it.
    - Needs: in each course month a learner attends, each kind of
      ``needs_per_month`` draws ``Poisson(rate)`` needs, each at an instant
      drawn uniformly from that month's business hours (in course month 1 from
      the intake start, 09:00 on the 1st).
    - Certificate: a learner who completes the course (does not withdraw) gets
      a ``document`` need on its course end day, at a time drawn uniformly from
      08:00 to 18:00 local.

    ``message`` and ``document`` needs are deferrable, as for explicit learners
    (`meter_sim.scenario.DEFERRABLE_KINDS`). Draws are vectorised per intake and
    kind. Local wall times become UTC instants DST-safely: an ambiguous local
    time is the earlier instant, and one the clocks skip is read with the offset
    in force before the gap (so it lands after the gap, as Python's ``fold=0``).

    Parameters
    ----------
    cohorts : Cohorts
        Intakes, course length, dropout, lead and need rates.
    timezone : str
        IANA time zone of the local times.
    rng : numpy.random.Generator
        The run's random generator; the draws advance it.
    prefix : str
        Learner ids are ``f"{prefix}{intake}-{n}"``: the intake's 1-based number
        in file order and the learner's 1-based number in the intake, zero-padded
        to at least 4 digits, e.g. ``"C1-0001"``.

    Returns
    -------
    (pl.DataFrame, pl.DataFrame)
        Learners in `meter_sim.scenario.LEARNERS_SCHEMA` (``learner_id``,
        ``created_at``, ``course_end``), sorted by ``learner_id``; needs in
        `meter_sim.scenario.NEEDS_SCHEMA` (``learner_id``, ``at``, ``kind``,
        ``deferrable``, ``line`` null), sorted by ``(learner_id, at, kind)``.
        Times are Datetime("us", "UTC").

    References
    ----------
    .. [1] DESIGN.md section 1: "A new learner starts ``active`` (creating a
       learner is activity)"; the vendor FAQ's learner enrolled in April for a
       course starting in July ("Active Learners and Metering").

    Examples
    --------
    >>> from meter_sim.scenario import Cohorts
    >>> cohorts = Cohorts.model_validate(
    ...     {
    ...         "course_months": 2,
    ...         "needs_per_month": {"attendance": 4},
    ...         "intakes": [{"month": "2027-02", "size": 3}],
    ...     }
    ... )
    >>> learners, needs = draw_population(
    ...     cohorts, timezone="Australia/Sydney", rng=np.random.default_rng(1)
    ... )
    >>> learners.columns
    ['learner_id', 'created_at', 'course_end']
    >>> needs.columns
    ['learner_id', 'at', 'kind', 'deferrable', 'line']
    """
    digits = len(str(len(cohorts.intakes)))
    ids: list[pl.Series] = []
    created: list[NDArray[np.int64]] = []
    course_end: list[NDArray[np.int64]] = []
    who: list[NDArray[np.int64]] = []
    at: list[NDArray[np.int64]] = []
    kind: list[NDArray[np.int8]] = []
    for number, intake in enumerate(cohorts.intakes, start=1):
        drawn = _draw_intake(cohorts, intake, rng)
        count = drawn[0].size
        width = max(4, len(str(count)))
        ids.append(
            pl.select(
                pl.concat_str(
                    pl.lit(f"{prefix}{number:0{digits}d}-"),
                    pl.int_range(1, count + 1).cast(pl.String).str.zfill(width),
                )
            ).to_series()
        )
        offset = sum(part.size for part in created)
        created.append(drawn[0])
        course_end.append(drawn[1])
        for learner, when, name in drawn[2]:
            who.append(learner + offset)
            at.append(when)
            kind.append(np.full(when.size, _KIND_NAMES.index(name), dtype=np.int8))
    # Ids sort as (intake, learner number): equal-width numbers within each part.
    learner_ids = pl.concat(ids).alias("learner_id")
    learners = pl.DataFrame(
        {
            "learner_id": learner_ids,
            "created_at": np.concatenate(created),
            "course_end": np.concatenate(course_end),
        }
    ).with_columns(
        _utc(pl.col("created_at"), timezone), _utc(pl.col("course_end"), timezone)
    )
    needs_who, needs_kind = np.concatenate(who), np.concatenate(kind)
    instants = pl.DataFrame({"at": np.concatenate(at)}).select(
        _utc(pl.col("at"), timezone)
    )["at"]
    # (learner_id, at, kind) order, on the UTC instants; ids sort as the learner
    # index does and kind codes as the kinds' names.
    order = np.lexsort((needs_kind, instants.dt.epoch("us").to_numpy(), needs_who))
    needs = pl.DataFrame(
        {
            "learner_id": learner_ids.gather(needs_who[order]),
            "at": instants.gather(order),
            "kind": pl.Series(_KIND_NAMES).gather(needs_kind[order]),
        }
    ).with_columns(
        pl.col("kind").is_in(_DEFERRABLE_NAMES).alias("deferrable"),
        pl.lit(None, pl.Int64).alias("line"),
    )
    return learners.cast(LEARNERS_SCHEMA), needs.cast(NEEDS_SCHEMA)


_KIND_NAMES = sorted(str(kind) for kind in ActivityKind)
"""Activity kinds by name; a drawn need's kind code is its index here."""

_DEFERRABLE_NAMES = sorted(str(kind) for kind in DEFERRABLE_KINDS)


def _draw_intake(
    cohorts: Cohorts, intake: Intake, rng: np.random.Generator
) -> tuple[NDArray[np.int64], NDArray[np.int64], _Needs]:
    """Draw one intake (the rules of `draw_population`) as local wall times.

    Returns creation and course end per learner and the needs (learner index,
    time, kind), wall times as microseconds since 1970-01-01 00:00 local.
    """
    count = int(rng.poisson(intake.size))
    first = np.datetime64(intake.month, "M")
    start_day = _day_us(np.array([first]))[0]
    lead = cohorts.enrolment_lead_days
    if lead:
        days = rng.integers(1, lead + 1, size=count)
        hours = rng.integers(_DAY_OPENS, _DAY_CLOSES, size=count)
        created = start_day - days * _US_PER_DAY + hours
    else:
        created = np.full(count, start_day + _INTAKE_STARTS, dtype=np.int64)
    length = cohorts.course_months
    withdrawn = (
        rng.geometric(cohorts.dropout_per_month, size=count)
        if cohorts.dropout_per_month > 0
        else np.full(count, length + 1, dtype=np.int64)
    )
    attended = np.minimum(withdrawn, length)
    end_day = _day_us(first + attended) - _US_PER_DAY
    course_end = end_day + _DAY_CLOSES
    # One row per learner and course month attended: learner index, month number.
    who = np.repeat(np.arange(count), attended)
    month = np.arange(who.size) - np.repeat(np.cumsum(attended) - attended, attended)
    months = first + month
    month_day = _day_us(months)
    low = np.where(month == 0, _INTAKE_STARTS - _DAY_OPENS, 0)
    high = (_day_us(months + 1) - month_day) // _US_PER_DAY * _OPEN
    needs: _Needs = [(np.arange(count), created, str(ActivityKind.ENROLMENT))]
    for kind, rate in cohorts.needs_per_month.rates().items():
        rows = np.repeat(np.arange(who.size), rng.poisson(rate, size=who.size))
        open_time = rng.integers(low[rows], high[rows])
        at = month_day[rows] + open_time // _OPEN * _US_PER_DAY
        needs.append((who[rows], at + _DAY_OPENS + open_time % _OPEN, str(kind)))
    done = np.flatnonzero(withdrawn > length)
    hours = rng.integers(_DAY_OPENS, _DAY_CLOSES, size=done.size)
    needs.append((done, end_day[done] + hours, str(CERTIFICATE)))
    return created.astype(np.int64), course_end.astype(np.int64), needs


def _day_us(months: NDArray[np.datetime64]) -> NDArray[np.int64]:
    """First day of each month as microseconds since 1970-01-01 [us]."""
    days: NDArray[np.int64] = months.astype("datetime64[D]").astype(np.int64)
    return days * _US_PER_DAY


def _utc(wall: pl.Expr, timezone: str) -> pl.Expr:
    """Local wall time (Int64 us since 1970-01-01) -> UTC instant, DST-safe.

    An ambiguous wall time is the earlier instant. A wall time the clocks skip
    is read with the offset of the day before (in force before the gap), so it
    lands after the gap by the gap's length.
    """
    naive = wall.cast(pl.Datetime("us"))
    return local_to_utc(naive, timezone, resolve=True).alias(wall.meta.output_name())


# -- forecasting ---------------------------------------------------------------

FORECAST_SCHEMA = pl.Schema(
    {
        "run": pl.UInt32(),
        "strategy": pl.String(),
        "month": pl.Date(),
        "billable_learners": pl.UInt32(),
        "total": pl.Decimal(38, 2),
    }
)
"""Columns of `Forecast.runs`."""

BANDS = (0.1, 0.5, 0.9)
"""Quantiles of `Forecast.bands`: p10, p50, p90."""

ANNUAL_SCHEMA = pl.Schema(
    {
        "run": pl.UInt32(),
        "strategy": pl.String(),
        "plan": pl.String(),
        "total_ex_tax": pl.Decimal(38, 2),
        "annual": pl.Decimal(38, 2),
    }
)
"""Columns of `Forecast.annual`."""

COMMITMENT_SCHEMA = pl.Schema(
    {
        "plan": pl.String(),
        "expected_annual": pl.Decimal(38, 2),
        "p90_annual": pl.Decimal(38, 2),
        "cheapest": pl.Boolean(),
        "safest": pl.Boolean(),
    }
)
"""Columns of `commitment_table`."""

_MONTHS_PER_YEAR = 12


@dataclass(frozen=True)
class Forecast:
    """Monte Carlo runs of a scenario: every strategy billed on each drawn population.

    Attributes
    ----------
    runs : pl.DataFrame
        Long format, columns of `FORECAST_SCHEMA`: ``run`` UInt32 (0-based draw
        number), ``strategy`` String, ``month`` Date (first day),
        ``billable_learners`` UInt32 [learners], ``total`` Decimal(38, 2), the
        month's base fee plus overage [plan currency, ex tax; without the
        minimum-spend true-up, a yearly line, see `annual`]. Sorted by run, then
        strategy in the order given, then month.
    plan : Plan
        The scenario's plan, which priced ``total``.
    first_month, last_month : date
        The period forecast (first days of its months).
    seed : int
        The seed of the run's random generator.
    strategies : tuple of str
        The strategies, in order.
    """

    runs: pl.DataFrame
    plan: Plan
    first_month: date
    last_month: date
    seed: int
    strategies: tuple[str, ...]

    @property
    def months(self) -> int:
        """Months in the period [months]."""
        first, last = self.first_month, self.last_month
        return (last.year - first.year) * 12 + last.month - first.month + 1

    def bands(self) -> pl.DataFrame:
        """Per strategy and month, the p10, p50 and p90 over the runs.

        Quantiles are linearly interpolated between the runs' values, as Float64
        (a band is a statistic, not money on an invoice).

        Returns
        -------
        pl.DataFrame
            ``strategy`` String, ``month`` Date, ``billable_p10``,
            ``billable_p50``, ``billable_p90`` Float64 [learners],
            ``total_p10``, ``total_p50``, ``total_p90`` Float64 [plan currency,
            ex tax]; in strategy order, then month.
        """
        columns = [
            pl.col(source).cast(pl.Float64).quantile(q, interpolation="linear")
            .alias(f"{name}_p{round(q * 100)}")
            for name, source in (("billable", "billable_learners"), ("total", "total"))
            for q in BANDS
        ]  # fmt: skip
        return self.runs.group_by("strategy", "month", maintain_order=True).agg(columns)

    def annual(
        self, plans: Mapping[str, Plan], *, strategy: str | None = None
    ) -> pl.DataFrame:
        """Each run's usage priced under each plan, and annualised.

        The invoice is `meter_sim.pricing.invoice` of the run's monthly billable
        learners over the whole period (base fees, overage, any minimum-spend
        true-up of billing years wholly inside the period; tax left out).
        ``annual = total_ex_tax * 12 / months``, rounded to cents half-up.

        Parameters
        ----------
        plans : mapping of str to Plan
            Plans by key, e.g. `meter_sim.scenario.load_price_book` or
            `commitment_plans`.
        strategy : str or None
            Only this strategy's runs; default all.

        Returns
        -------
        pl.DataFrame
            Columns of `ANNUAL_SCHEMA`: ``run`` UInt32, ``strategy`` String,
            ``plan`` String, ``total_ex_tax`` Decimal(38, 2) over the period and
            ``annual`` Decimal(38, 2) per year [each plan's currency]; sorted by
            run, strategy (in order) and plan (in the order given).

        Raises
        ------
        ValueError
            If ``strategy`` is not one of the forecast's.
        """
        names = self.strategies if strategy is None else (strategy,)
        if strategy is not None and strategy not in self.strategies:
            known = ", ".join(self.strategies)
            msg = f"`strategy`: one of {known} expected, got {strategy!r}"
            raise ValueError(msg)
        usage = self.runs.filter(pl.col("strategy").is_in(names)).partition_by(
            "run", "strategy", maintain_order=True, as_dict=True
        )
        rows = []
        for (run, name), months in usage.items():
            for key, plan in plans.items():
                total = invoice(months, plan).total_ex_tax
                annual = round_money(total * _MONTHS_PER_YEAR / self.months)
                rows.append((run, name, key, total, annual))
        return pl.DataFrame(rows, schema=ANNUAL_SCHEMA, orient="row")


def forecast(
    scenario: Scenario,
    *,
    runs: int = 200,
    seed: int | None = None,
    strategies: Mapping[str, Callable[..., StrategyRun]] | None = None,
    progress: Callable[[int], None] | None = None,
    batch: int = 25,
) -> Forecast:
    """Bill every strategy on many populations drawn from a scenario's cohorts.

    One `numpy.random.default_rng` is made from the seed and owned by this call
    (STYLE.md, Determinism). Each run draws one population (`draw_population`,
    learner ids ``C<intake>-<n>``) and adds the scenario's explicit learners and
    their needs; every strategy runs on that same draw, so the strategies are
    compared on equal terms. Each strategy's status log is billed as in
    `compare_strategies` (`meter_sim.billing.bill` with the scenario's plan over
    `scenario_period`), without the activity check (a strategy never blocks a
    need). Without cohorts every run is the same.

    For speed, ``batch`` runs are billed together: their learners, each id
    prefixed with its run (``r<run>:``), go through each strategy and
    `meter_sim.billing.bill` at once, and the learner-months are split by run
    again and priced per run (`meter_sim.pricing.monthly_bill`). This relies on
    a strategy deciding each learner on its own, as every strategy of
    `meter_sim.strategies.STRATEGIES` does; the runs are the same whatever the
    batch size (the draws happen in run order either way).

    Parameters
    ----------
    scenario : Scenario
        With ``cohorts`` and/or explicit learners.
    runs : int
        Number of draws, at least 1. [runs]
    seed : int or None
        Seed of the generator; default the scenario's ``seed``. Not negative.
    strategies : mapping of str to callable or None
        Strategies by name; default `meter_sim.strategies.STRATEGIES`. Each must
        decide every learner independently of the others (see above).
    progress : callable or None
        Called with the number of runs done after each batch.
    batch : int
        Runs billed together, at least 1; 1 bills each run on its own. [runs]

    Returns
    -------
    Forecast
        Every run's month-by-month billable learners and totals per strategy.
        The same scenario and seed give the same result.

    Raises
    ------
    ValueError
        If ``runs`` or ``batch`` is below 1, or an explicit learner's id looks
        like a drawn one (``C<digits>-<digits>``).

    References
    ----------
    .. [1] "Active Learners and Metering": the customer manages the status; a
       learner is billed once for each month Active at any instant.
    """
    for name, value in (("runs", runs), ("batch", batch)):
        if value < 1:
            msg = f"`{name}`: at least 1 expected, got {value}"
            raise ValueError(msg)
    chosen = dict(strategies or STRATEGIES)
    period = scenario_period(scenario)
    used_seed = scenario.seed if seed is None else seed
    rng = np.random.default_rng(used_seed)
    fixed = (scenario.learners_frame(), scenario.needs_frame())
    clash = fixed[0].filter(pl.col("learner_id").str.contains(_DRAWN_ID.pattern))
    if not clash.is_empty():
        msg = (
            f"learner id {clash['learner_id'][0]!r} looks like a drawn cohort "
            "learner's (C<intake>-<n>); rename it"
        )
        raise ValueError(msg)
    width = len(str(runs - 1))
    frames = []
    for start in range(0, runs, batch):
        chunk = range(start, min(start + batch, runs))
        learners, needs = [], []
        for run in chunk:
            drawn = _population(scenario, fixed, rng)
            tag = (pl.lit(f"r{run:0{width}d}:") + pl.col("learner_id")).alias(
                "learner_id"
            )
            learners.append(drawn[0].with_columns(tag))
            needs.append(drawn[1].with_columns(tag))
        together = (pl.concat(learners), pl.concat(needs))
        frames += [
            _bill_batch(scenario, name, strategy, together, period, chunk)
            for name, strategy in chosen.items()
        ]
        if progress is not None:
            progress(chunk.stop)
    return Forecast(
        runs=pl.concat(frames)
        .cast(FORECAST_SCHEMA)
        .sort(
            "run",
            pl.col("strategy").replace_strict(list(chosen), range(len(chosen))),
            "month",
        ),
        plan=scenario.plan,
        first_month=period[0],
        last_month=period[1],
        seed=used_seed,
        strategies=tuple(chosen),
    )


_DRAWN_ID = re.compile(r"^C\d+-\d+$")
"""Ids `forecast` gives drawn learners."""


def _population(
    scenario: Scenario,
    fixed: tuple[pl.DataFrame, pl.DataFrame],
    rng: np.random.Generator,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """One run's learners and needs: the explicit ones plus a drawn population."""
    if scenario.cohorts is None:
        return fixed
    drawn = draw_population(scenario.cohorts, timezone=scenario.timezone, rng=rng)
    return pl.concat([fixed[0], drawn[0]]), pl.concat([fixed[1], drawn[1]])


def _bill_batch(
    scenario: Scenario,
    name: str,
    strategy: Callable[..., StrategyRun],
    population: tuple[pl.DataFrame, pl.DataFrame],
    period: tuple[date, date],
    chunk: range,
) -> pl.DataFrame:
    """Run and bill one strategy on a batch of runs; the monthly bill per run.

    Learner ids are ``r<run>:<id>``. Returns ``run``, ``strategy``, ``month``,
    ``billable_learners`` and ``total`` for every run of ``chunk`` and month.
    """
    learners, needs = population
    horizon = _horizon(period[1], scenario.timezone)
    result = strategy(learners, needs, timezone=scenario.timezone, horizon=horizon)
    source = f"{scenario.source} ({name}, runs {chunk.start}-{chunk.stop - 1})"
    months = _bill_run(scenario, result, source, period, check=False).learner_months
    run_of = pl.col("learner_id").str.extract(r"^r(\d+):", 1).cast(pl.UInt32)
    counts = months.group_by(run_of.alias("run"), "month").agg(
        pl.len().alias("billable_learners")
    )
    calendar = pl.DataFrame({"run": list(chunk)}, schema={"run": pl.UInt32}).join(
        pl.DataFrame({"month": pl.date_range(*period, "1mo", eager=True)}),
        how="cross",
    )
    usage = (
        calendar.join(counts, on=["run", "month"], how="left")
        .with_columns(pl.col("billable_learners").fill_null(0).cast(pl.UInt32))
        .sort("run", "month")
    )
    return usage.join(
        _monthly_totals(usage, scenario.plan),
        on=["month", "billable_learners"],
        how="left",
        maintain_order="left",
    ).select(
        "run", pl.lit(name).alias("strategy"), "month", "billable_learners", "total"
    )


def _monthly_totals(usage: pl.DataFrame, plan: Plan) -> pl.DataFrame:
    """``(month, billable_learners)`` -> the month's ``total`` under ``plan``.

    A month's total (`meter_sim.pricing.monthly_bill`: base fee plus overage,
    without the yearly minimum-spend true-up) depends only on its billable
    learners and on the tier in force that month (`Plan.in_force`: a tier change
    applies from the first month starting on or after it), so each distinct
    count of each month is priced once (`meter_sim.pricing.month_total`).
    """
    pairs = usage.select("month", "billable_learners").unique().sort("month")
    totals = []
    terms: dict[date, Plan] = {}
    for month, count in pairs.iter_rows():
        if month not in terms:
            terms[month] = plan.in_force(month)
        totals.append(month_total(count, terms[month]))
    return pairs.with_columns(pl.Series("total", totals, dtype=pl.Decimal(38, 2)))


def commitment_plans(
    base: Plan,
    included: Sequence[int],
    base_fee_per_learner: Decimal | None = None,
    *,
    scale_minimum_spend: bool = True,
) -> dict[str, Plan]:
    """Variants of one plan that commit to different numbers of included learners.

    Parameters
    ----------
    base : Plan
        The edition to vary, e.g. ``plans/standard.yaml``.
    included : sequence of int
        Included Active Learners of each variant. [learners per month]
    base_fee_per_learner : Decimal or None
        When given, each variant's base fee is ``base_fee_per_learner *
        included`` rounded to cents half-up [currency per learner per month];
        otherwise every variant keeps ``base.base_fee``.
    scale_minimum_spend : bool
        When the base fee changes and ``base`` has an ``annual_minimum_spend``,
        scale it by the same factor (new base fee / old base fee, rounded to
        cents half-up), so a minimum spend that is the base fee's yearly
        commitment stays one. Keyword only. Default True.

    Returns
    -------
    dict of str to Plan
        Keyed ``included_<n>`` with ``n`` zero-padded to the widest count (so
        key order is numeric order), in the order of ``included``; each named
        ``"<base name>, <n> included"``. Validated like any plan.

    Raises
    ------
    pydantic.ValidationError
        If a count or fee is out of a plan's range.

    Examples
    --------
    >>> from meter_sim.scenario import load_plan
    >>> plans = commitment_plans(
    ...     load_plan("scenarios/plans/standard.yaml"), [100, 200], Decimal("6.33")
    ... )
    >>> [(k, p.base_fee, p.annual_minimum_spend) for k, p in plans.items()]
    [('included_100', Decimal('633.00'), Decimal('7596.00')), \
('included_200', Decimal('1266.00'), Decimal('15192.00'))]
    """
    width = max((len(str(n)) for n in included), default=1)
    plans = {}
    for count in included:
        fields = base.model_dump()
        fields |= {"name": f"{base.name}, {count} included", "included_learners": count}
        if base_fee_per_learner is not None:
            fee = round_money(base_fee_per_learner * count)
            fields["base_fee"] = fee
            minimum = base.annual_minimum_spend
            if scale_minimum_spend and minimum is not None and base.base_fee:
                fields["annual_minimum_spend"] = round_money(
                    minimum * fee / base.base_fee
                )
        plans[f"included_{count:0{width}d}"] = Plan.model_validate(fields)
    return plans


def commitment_table(
    forecast: Forecast, plans: Mapping[str, Plan], *, strategy: str
) -> pl.DataFrame:
    """Expected and bad-case (p90) annual cost of each plan under one strategy.

    Each run's usage of ``strategy`` is priced under each plan
    (`Forecast.annual`: ``invoice(usage, plan).total_ex_tax * 12 / months``,
    rounded to cents half-up). A plan's ``expected_annual`` is the mean of its
    runs' annual costs, rounded to cents half-up; ``p90_annual`` is their 90th
    percentile by nearest rank: the ``ceil(0.9 * runs)``-th smallest run cost.

    Parameters
    ----------
    forecast : Forecast
        The runs, e.g. `forecast` of a scenario.
    plans : mapping of str to Plan
        At least one plan, by key: the price book, or `commitment_plans`.
    strategy : str
        One of ``forecast.strategies``.

    Returns
    -------
    pl.DataFrame
        Columns of `COMMITMENT_SCHEMA`, one row per plan in the order given:
        ``plan`` String, ``expected_annual`` and ``p90_annual`` Decimal(38, 2)
        [plan currency per year, ex tax], ``cheapest`` Boolean (the lowest
        expected cost), ``safest`` Boolean (the lowest p90); exactly one of
        each, ties going to the smallest plan key (string order).

    Raises
    ------
    ValueError
        If ``plans`` is empty or ``strategy`` is not one of the forecast's.
    """
    if not plans:
        msg = "`plans`: at least one plan expected"
        raise ValueError(msg)
    annual = forecast.annual(plans, strategy=strategy)
    rows = []
    for key in plans:
        costs = sorted(annual.filter(pl.col("plan") == key)["annual"].to_list())
        expected = round_money(sum(costs, Decimal(0)) / len(costs))
        rank = math.ceil(Decimal("0.9") * len(costs))
        rows.append((key, expected, costs[rank - 1]))
    cheapest = min(rows, key=lambda row: (row[1], row[0]))[0]
    safest = min(rows, key=lambda row: (row[2], row[0]))[0]
    table = [(key, e, p, key == cheapest, key == safest) for key, e, p in rows]
    return pl.DataFrame(table, schema=COMMITMENT_SCHEMA, orient="row")
