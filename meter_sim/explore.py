"""Pricing explorer: one self-contained HTML page in which sliders reprice a scenario.

Sales demonstrate pricing in front of a customer, and customers explore their own
numbers, in any browser and without Python. `explorer_data` computes in polars
what the page needs, once, from `meter_sim.simulate.compare_strategies`: for each
strategy and month, the billable learners split into the scenario's explicit
learners and each cohort intake's drawn learners. `explorer_chart` is a Vega-Lite
chart (altair) whose expressions reprice those counts as the sliders move, and
`explorer_html` wraps it, with its data and the Vega, Vega-Lite and Vega-Embed
libraries inlined (from ``vl-convert-python``), into one HTML file that loads
nothing from the network.

What the page computes, and how it matches meter_sim
----------------------------------------------------
- **Billable learners** of month M under strategy S: the explicit learners'
  count plus, for each intake i, ``round(size_i * n_i(M) / expected_i)``, where
  ``n_i(M)`` is how many learners of intake i are billable in M in the drawn
  population, ``expected_i`` the intake's ``size`` in the scenario and
  ``size_i`` the slider's value; ``round`` is JavaScript's ``Math.round``
  (halves up). At the scenario's own sizes this is exactly the count of
  `meter_sim.simulate.compare_strategies` (one population drawn with the
  scenario's ``seed``), so the page then shows the totals that ``meter-sim
  compare`` prints.
- **The approximation**: another intake size is *not* a new draw. Learners of
  one intake are drawn independently and alike, and every strategy decides each
  learner on its own, so the expected billable count of an intake in a month is
  proportional to its size; the page scales the drawn count by the size ratio.
  A fresh draw at that size would differ by chance (a few learners), as two
  draws at the same size do; `meter_sim.simulate.forecast` shows that spread.
  `scaled_usage` is the same formula in polars.
- **Money**, month by month, exactly as `meter_sim.pricing.invoice` prices the
  counts, with the sliders' included learners, base fee and flat overage price
  and the plan's other terms: overage learners ``max(0, billable - included)``
  (none while billable <= included x (1 + ``tolerance``)); base fee and overage
  lines rounded to cents half-up; a billing year wholly inside the period whose
  fees fall short of ``annual_minimum_spend`` gets the true-up in its last
  month; tax on each month's rounded lines. The page computes in whole cents
  (and ten-thousandths for prices), so its totals equal meter_sim's Decimal
  ones to the cent.

A plan with ``overage_tiers`` is refused (the page has one flat overage price).

References
----------
.. [1] "Active Learners and Metering": a learner is billed once for each month
   Active at any instant; the base subscription includes a number of Active
   Learners and each one beyond is invoiced as overage. DESIGN.md section 1.
.. [2] Issue #9, "Sales and customers: a pricing explorer page".
"""

from __future__ import annotations

import html
import math
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

import altair as alt
import polars as pl

from meter_sim import charts
from meter_sim.exceptions import LogFormatError, PricingError, ScenarioError
from meter_sim.simulate import EXPLICIT, compare_strategies, scenario_period

if TYPE_CHECKING:
    from collections.abc import Sequence
    from datetime import date
    from decimal import Decimal
    from pathlib import Path

    from meter_sim.pricing import Plan
    from meter_sim.scenario import Intake, Scenario

__all__ = [
    "DEFAULT_STRATEGY",
    "TOTAL_LABELS",
    "ExplorerData",
    "explorer_chart",
    "explorer_data",
    "explorer_html",
    "scaled_usage",
    "write_explorer",
]

DEFAULT_STRATEGY: Final = "course_window"
"""Strategy shown first when the scenario has no explicit timeline of its own."""

TOTAL_LABELS: Final = {
    "ex_tax": "Total ex tax",
    "inc_tax": "Total inc tax",
    "learner_months": "Billable learner-months",
}
"""Start of each line of the page's totals panel (``<label>: <value>``)."""

_DRAWN_ID: Final = re.compile(r"^C(\d+)-\d+$")
"""Ids `meter_sim.simulate.draw_population` gives drawn learners: C<intake>-<n>."""

_LINES: Final = ("base_subscription", "overage", "minimum_spend_true_up")
_LINE_COLORS: Final = ("#9ecae9", "#4c78a8", "#b279a2")
_PART_COLORS: Final = ("#4c78a8", "#f58518")
_INCLUDED_COLOR: Final = "#d62728"
_UNITS: Final = 10_000
"""Prices and fees are handled in ten-thousandths (plans allow 4 decimals)."""
_WIDTH: Final = 560
"""Width of the month charts. [pixels]"""


@dataclass(frozen=True)
class ExplorerData:
    """What the explorer page needs, computed once in polars.

    Attributes
    ----------
    months : pl.DataFrame
        One row per strategy and month of the period, strategies in
        ``strategies`` order then months in order: ``strategy`` String;
        ``month`` Date (first day); ``explicit`` UInt32, billable learners
        that are the scenario's own [learners]; ``intake_1`` ... ``intake_N``
        UInt32, billable learners drawn for each intake (file order)
        [learners]; ``billing_year`` Date (first day of the plan's billing year
        holding the month); ``last_of_year`` Boolean (the billing year's last
        month); ``year_complete`` Boolean (all 12 months of that billing year
        lie inside the period, so a minimum-spend true-up applies).
    strategies : tuple of str
        The strategies compared, ``explicit`` first when the scenario has
        explicit learners.
    intakes : tuple of Intake
        The scenario's cohort intakes (none without cohorts).
    plan : Plan
        The scenario's plan (flat overage price).
    scenario : str
        The scenario's name.
    timezone : str
        The billing time zone.
    first_month, last_month : date
        The period (first days of its months), `meter_sim.simulate.scenario_period`.
    totals : pl.DataFrame
        `meter_sim.simulate.StrategyComparison.table` of the same draw:
        ``strategy``, ``learner_months``, ``total_ex_tax``, ``total_inc_tax``,
        ... (what the page shows at the scenario's own values).
    """

    months: pl.DataFrame
    strategies: tuple[str, ...]
    intakes: tuple[Intake, ...]
    plan: Plan
    scenario: str
    timezone: str
    first_month: date
    last_month: date
    totals: pl.DataFrame

    @property
    def default_strategy(self) -> str:
        """The strategy shown first: ``explicit`` if there, else `DEFAULT_STRATEGY`."""
        for name in (EXPLICIT, DEFAULT_STRATEGY):
            if name in self.strategies:
                return name
        return self.strategies[0]


def _intake_of(explicit_ids: set[str]) -> pl.Expr:
    """0 for an explicit learner, else the 1-based intake number of a drawn id."""
    drawn = pl.col("learner_id").str.extract(_DRAWN_ID.pattern, 1).cast(pl.Int64)
    return (
        pl.when(pl.col("learner_id").is_in(list(explicit_ids)))
        .then(pl.lit(0, pl.Int64))
        .otherwise(drawn)
    )


def explorer_data(scenario: Scenario) -> ExplorerData:
    """Bill a scenario under every strategy and split the counts by intake.

    Runs `meter_sim.simulate.compare_strategies` (one population drawn from the
    cohorts with the scenario's ``seed``) and counts, per strategy and month,
    the billable learners of the explicit timeline and of each intake [1]_.

    Parameters
    ----------
    scenario : Scenario
        Learners and/or cohorts, and a plan with a flat ``overage_price``.

    Returns
    -------
    ExplorerData
        The counts (``explicit + intake_1 + ... + intake_N`` is each month's
        billable learners of `compare_strategies`), the plan and the period.

    Raises
    ------
    PricingError
        If the plan prices overage in ``overage_tiers`` (the page has one flat
        price).
    ScenarioError
        If an explicit learner's id looks like a drawn one (``C<n>-<n>``) while
        the scenario has cohorts: the counts could not be told apart.

    References
    ----------
    .. [1] "Active Learners and Metering": a learner is billed once for each
       month Active at any instant.
    """
    plan = scenario.plan
    if plan.overage_tiers is not None:
        msg = (
            f"plan {plan.name!r}: the explorer prices overage at one flat price; "
            "a plan with `overage_tiers` is not supported (use `overage_price`)"
        )
        raise PricingError(msg)
    explicit_ids = {learner.id for learner in scenario.learners}
    intakes = () if scenario.cohorts is None else scenario.cohorts.intakes
    clash = sorted(i for i in explicit_ids if _DRAWN_ID.match(i))
    if intakes and clash:
        msg = (
            f"{scenario.source}: learner id {clash[0]!r} looks like a drawn cohort "
            "learner's (C<intake>-<n>); rename it to explore this scenario"
        )
        raise ScenarioError(msg, source=str(scenario.source))
    comparison = compare_strategies(scenario)
    first, last = scenario_period(scenario)
    intake = _intake_of(explicit_ids)
    counts = [
        pl.len().alias("billable"),
        (intake == 0).sum().cast(pl.UInt32).alias("explicit"),
        *(
            (intake == i).sum().cast(pl.UInt32).alias(f"intake_{i}")
            for i in range(1, len(intakes) + 1)
        ),
    ]
    frames = []
    for name, result in comparison.bills.items():
        per_month = result.learner_months.group_by("month").agg(counts)
        frames.append(
            result.monthly.select("month", "billable_learners")
            .join(per_month, on="month", how="left", maintain_order="left")
            .select(
                pl.lit(name).alias("strategy"),
                "month",
                "billable_learners",
                pl.col("billable").fill_null(0),
                pl.exclude("month", "billable_learners", "billable")
                .fill_null(0)
                .cast(pl.UInt32),
            )
        )
    months = pl.concat(frames)
    split = pl.sum_horizontal(
        "explicit", *(f"intake_{i}" for i in range(1, len(intakes) + 1))
    )
    mismatch = months.filter(
        (pl.col("billable") != pl.col("billable_learners"))
        | (split != pl.col("billable_learners"))
    )
    if not mismatch.is_empty():  # pragma: no cover - the meter's own invariant
        msg = f"billable learners not split by intake: {mismatch.head(3)}"
        raise AssertionError(msg)
    return ExplorerData(
        months=_with_billing_years(
            months.drop("billable", "billable_learners"), plan, first, last
        ),
        strategies=tuple(comparison.bills),
        intakes=tuple(intakes),
        plan=plan,
        scenario=scenario.name,
        timezone=scenario.timezone,
        first_month=first,
        last_month=last,
        totals=comparison.table,
    )


def _with_billing_years(
    months: pl.DataFrame, plan: Plan, first: date, last: date
) -> pl.DataFrame:
    """Add ``billing_year``, ``last_of_year`` and ``year_complete`` per month."""
    start = plan.billing_year_start_month
    back = (pl.col("month").dt.month().cast(pl.Int64) - start) % 12
    calendar = pl.DataFrame(
        {"month": pl.date_range(first, last, "1mo", eager=True)}
    ).with_columns(
        pl.col("month").dt.offset_by(pl.format("-{}mo", back)).alias("billing_year")
    )
    year_end = pl.col("billing_year").dt.offset_by("11mo")
    calendar = calendar.with_columns(
        (pl.col("month") == year_end).alias("last_of_year"),
        ((pl.col("billing_year") >= first) & (year_end <= last)).alias("year_complete"),
    )
    return months.join(calendar, on="month", how="left", maintain_order="left")


def _js_round(value: pl.Expr) -> pl.Expr:
    """JavaScript's ``Math.round``: the nearest integer, halves up."""
    floor = value.floor()
    return (floor + (value - floor >= 0.5).cast(pl.Float64)).cast(pl.Int64)


def scaled_usage(
    data: ExplorerData, strategy: str, sizes: Sequence[float] | None = None
) -> pl.DataFrame:
    """The monthly billable learners the page shows for given intake sizes.

    The explicit learners' count plus, per intake,
    ``round(size * drawn / expected)`` with JavaScript's ``Math.round`` (halves
    up), in IEEE double arithmetic as the browser does it; see the module
    docstring for why this is the expected count at that size.

    Parameters
    ----------
    data : ExplorerData
        From `explorer_data`.
    strategy : str
        One of ``data.strategies``.
    sizes : sequence of float or None
        One expected size per intake, in file order [learners]; None for the
        scenario's own (then the counts are `compare_strategies`' exactly).

    Returns
    -------
    pl.DataFrame
        ``month`` Date, ``billable_learners`` UInt32 [learners], one row per
        month of the period: ready for `meter_sim.pricing.invoice`.

    Raises
    ------
    ValueError
        If ``strategy`` is unknown or ``sizes`` has the wrong length or a
        negative size.
    """
    if strategy not in data.strategies:
        known = ", ".join(data.strategies)
        msg = f"`strategy`: one of {known} expected, got {strategy!r}"
        raise ValueError(msg)
    chosen = [i.size for i in data.intakes] if sizes is None else list(sizes)
    if len(chosen) != len(data.intakes) or any(s < 0 for s in chosen):
        msg = f"`sizes`: {len(data.intakes)} sizes >= 0 expected, got {chosen}"
        raise ValueError(msg)
    billable = pl.col("explicit").cast(pl.Int64)
    for number, (intake, size) in enumerate(
        zip(data.intakes, chosen, strict=True), start=1
    ):
        drawn = pl.col(f"intake_{number}").cast(pl.Float64)
        if intake.size > 0:
            billable = billable + _js_round(pl.lit(float(size)) * drawn / intake.size)
        else:
            billable = billable + drawn.cast(pl.Int64)
    return data.months.filter(pl.col("strategy") == strategy).select(
        "month", billable.cast(pl.UInt32).alias("billable_learners")
    )


# -- the chart -----------------------------------------------------------------


def _units(amount: Decimal) -> int:
    """An amount in ten-thousandths of the currency unit (plans allow 4 decimals)."""
    return int(amount * _UNITS)


def _ratio(fraction: Decimal) -> tuple[int, int]:
    """A non-negative decimal fraction as (numerator, denominator), denominator 10^k."""
    exponent = fraction.normalize().as_tuple().exponent
    places = max(0, -exponent) if isinstance(exponent, int) else 0
    denominator = 10**places
    return int(fraction * denominator), denominator


def _step(value: float, *, coarse: float) -> float:
    """``coarse`` when ``value`` lies on its grid, else a cent."""
    return coarse if math.isclose(value / coarse, round(value / coarse)) else 0.01


def _slider_max(value: float, step: float, floor: float) -> float:
    top = max(2 * value, floor)
    return math.ceil(top / step) * step


@dataclass(frozen=True)
class _Params:
    strategy: alt.Parameter
    included: alt.Parameter
    base_fee: alt.Parameter
    overage_price: alt.Parameter
    sizes: tuple[alt.Parameter, ...]

    def all(self) -> list[alt.Parameter]:
        return [
            self.strategy,
            self.included,
            self.base_fee,
            self.overage_price,
            *self.sizes,
        ]


def _params(data: ExplorerData) -> _Params:
    plan, currency = data.plan, data.plan.currency
    peak = int(data.months.select(_default_billable(data).max()).item() or 0)
    included = plan.included_learners
    base = float(plan.base_fee)
    price = float(plan.overage_price or 0)
    base_step = _step(base, coarse=1.0)
    price_step = _step(price, coarse=0.05)
    sizes = []
    for number, intake in enumerate(data.intakes, start=1):
        step = 1.0 if float(intake.size).is_integer() else 0.1
        sizes.append(
            alt.param(
                name=f"size_{number}",
                value=intake.size,
                bind=alt.binding_range(
                    min=0,
                    max=_slider_max(intake.size * 1.5, step, 10),
                    step=step,
                    name=f"Intake {intake.month:%Y-%m}, expected size [learners] ",
                ),
            )
        )
    return _Params(
        strategy=alt.param(
            name="strategy",
            value=data.default_strategy,
            bind=alt.binding_select(
                options=list(data.strategies), name="Status-management strategy "
            ),
        ),
        included=alt.param(
            name="included",
            value=included,
            bind=alt.binding_range(
                min=0,
                max=int(_slider_max(max(included, math.ceil(peak * 0.75)), 1, 10)),
                step=1,
                name="Included learners [learners per month] ",
            ),
        ),
        base_fee=alt.param(
            name="base_fee",
            value=base,
            bind=alt.binding_range(
                min=0,
                max=_slider_max(base, base_step, 100),
                step=base_step,
                name=f"Base fee [{currency} per month] ",
            ),
        ),
        overage_price=alt.param(
            name="overage_price",
            value=price,
            bind=alt.binding_range(
                min=0,
                max=_slider_max(price, price_step, 1),
                step=price_step,
                name=f"Overage price [{currency} per learner-month] ",
            ),
        ),
        sizes=tuple(sizes),
    )


def _default_billable(data: ExplorerData) -> pl.Expr:
    columns = ["explicit", *(f"intake_{i}" for i in range(1, len(data.intakes) + 1))]
    return pl.sum_horizontal(columns)


def _billable_expression(data: ExplorerData) -> str:
    """Vega expression of a row's billable learners at the sliders' intake sizes."""
    parts = ["datum.explicit"]
    for number, intake in enumerate(data.intakes, start=1):
        field = f"datum.intake_{number}"
        if intake.size > 0:
            parts.append(f"round(size_{number} * {field} / {float(intake.size)!r})")
        else:
            parts.append(field)
    return " + ".join(parts)


def _money_transforms(data: ExplorerData) -> list[dict[str, Any]]:
    """Vega-Lite transforms pricing every row, in whole cents, as `invoice` does.

    Adds ``billable``, ``overage_learners``, ``base_c``, ``overage_c``,
    ``true_up_c``, ``tax_c``, ``ex_c`` and ``inc_c`` (cents) to every row.
    """
    plan = data.plan
    over = "max(0, datum.billable - included)"
    if plan.tolerance:
        num, den = _ratio(plan.tolerance)
        over = (
            f"(datum.billable * {den} <= included * {den + num}) ? 0 : "
            f"max(0, datum.billable - included)"
        )
    counted = "datum.base_c + datum.overage_c"
    if not plan.minimum_spend_counts_overage:
        counted = "datum.base_c"
    transforms: list[dict[str, Any]] = [
        {"calculate": _billable_expression(data), "as": "billable"},
        {"calculate": over, "as": "overage_learners"},
        {
            "calculate": f"floor((round(base_fee * {_UNITS}) + 50) / 100)",
            "as": "base_c",
        },
        {
            "calculate": "floor((datum.overage_learners * "
            f"round(overage_price * {_UNITS}) + 50) / 100)",
            "as": "overage_c",
        },
        {"calculate": counted, "as": "fees_c"},
        {
            "joinaggregate": [{"op": "sum", "field": "fees_c", "as": "year_fees_c"}],
            "groupby": ["strategy", "billing_year"],
        },
    ]
    minimum = plan.annual_minimum_spend
    true_up = "0"
    if minimum is not None:
        true_up = (
            "datum.last_of_year && datum.year_complete ? max(0, floor(("
            f"{_units(minimum)} - datum.year_fees_c * 100 + 50) / 100)) : 0"
        )
    tax = "0"
    if plan.tax_rate:
        num, den = _ratio(plan.tax_rate)
        tax = f"floor((2 * datum.ex_c * {num} + {den}) / {2 * den})"
    return [
        *transforms,
        {"calculate": true_up, "as": "true_up_c"},
        {"calculate": "datum.base_c + datum.overage_c + datum.true_up_c", "as": "ex_c"},
        {"calculate": tax, "as": "tax_c"},
        {"calculate": "datum.ex_c + datum.tax_c", "as": "inc_c"},
    ]


def _money(expr: str, currency: str) -> str:
    return f"'{currency} ' + format({expr} / 100, ',.2f')"


def _base(rows: pl.DataFrame, data: ExplorerData, *, selected: bool) -> alt.Chart:
    """The embedded rows, priced; only the chosen strategy's with ``selected``."""
    transforms = _money_transforms(data)
    if selected:
        transforms.append({"filter": "datum.strategy == strategy"})
    return alt.Chart(rows, transform=transforms)


def _totals_panel(rows: pl.DataFrame, data: ExplorerData) -> alt.Chart:
    currency = data.plan.currency
    months = rows["label"].n_unique()
    period = f"{data.first_month:%Y-%m} to {data.last_month:%Y-%m} ({months} months)"
    labels = TOTAL_LABELS
    chart: alt.Chart = (
        _base(rows, data, selected=True)
        .transform_aggregate(
            ex_c="sum(ex_c)",
            inc_c="sum(inc_c)",
            learner_months="sum(billable)",
            overage="sum(overage_learners)",
        )
        .transform_calculate(
            strategy_line=f"'Strategy: ' + strategy + ', {period}'",
            ex_tax=f"'{labels['ex_tax']}: ' + {_money('datum.ex_c', currency)}",
            inc_tax=f"'{labels['inc_tax']}: ' + {_money('datum.inc_c', currency)}",
            learner_months=f"'{labels['learner_months']}: ' + "
            "format(datum.learner_months, ',d') + ' (overage: ' + "
            "format(datum.overage, ',d') + ')'",
        )
        .transform_fold(
            ["strategy_line", "ex_tax", "inc_tax", "learner_months"],
            as_=["line", "text"],
        )
        .mark_text(align="left", baseline="middle", fontSize=15, x=0)
        .encode(
            y=alt.Y(
                "line:N",
                sort=["strategy_line", "ex_tax", "inc_tax", "learner_months"],
                axis=None,
            ),
            text=alt.Text("text:N"),
        )
        .properties(
            title=alt.Title(
                f"Totals over the period [{currency}]",
                subtitle="Ex tax: base fees, overage and any minimum-spend "
                "true-up; as `meter-sim compare` at the scenario's own values",
            ),
            width=_WIDTH,
            height=96,
        )
    )
    return chart


def _month_axis(labels: list[str]) -> alt.X:
    return alt.X(
        "label:O",
        title="Billing month [YYYY-MM]",
        scale=alt.Scale(domain=labels),
        axis=alt.Axis(labelAngle=-45 if len(labels) > 12 else 0),
    )


def _learners_panel(rows: pl.DataFrame, data: ExplorerData, x: alt.X) -> alt.LayerChart:
    title = "Billable learners [learners]"
    tooltip = [
        alt.Tooltip("label:O", title="month"),
        alt.Tooltip("billable:Q", title="billable [learners]", format=",d"),
        alt.Tooltip("included_now:Q", title="included [learners]", format=",d"),
        alt.Tooltip("overage_learners:Q", title="overage [learners]", format=",d"),
    ]
    parts: list[str | alt.FieldName] = ["within included", "above included"]
    bars = (
        _base(rows, data, selected=True)
        .transform_calculate(
            included_now="included",
            within="min(datum.billable, included)",
            above="max(0, datum.billable - included)",
        )
        .transform_calculate(
            **{"within included": "datum.within", "above included": "datum.above"}
        )
        .transform_fold(parts, as_=["part", "learners"])
        .mark_bar(width={"band": 0.75})
        .encode(
            x=x,
            y=alt.Y(
                "learners:Q",
                title=title,
                stack="zero",
                axis=alt.Axis(tickMinStep=1, format=",d"),
            ),
            color=alt.Color(
                "part:N",
                title="Billable learners",
                scale=alt.Scale(domain=parts, range=list(_PART_COLORS)),
                legend=alt.Legend(orient="bottom"),
            ),
            order=alt.Order("part:N", sort="descending"),
            tooltip=tooltip,
        )
    )
    rule = (
        _base(rows, data, selected=True)
        .transform_aggregate(rows="count()")
        .transform_calculate(included_now="included")
        .mark_rule(color=_INCLUDED_COLOR, strokeDash=[6, 3], strokeWidth=2)
        .encode(
            y=alt.Y("included_now:Q", title=title),
            tooltip=[alt.Tooltip("included_now:Q", title="included [learners]")],
        )
    )
    return alt.LayerChart(
        layer=[bars, rule],
        title=alt.Title(
            "Billable learners per month",
            subtitle="Distinct Active Learners of the chosen strategy; dashed red: "
            "included learners (above it: overage, unless within the tolerance)",
        ),
        width=_WIDTH,
        height=200,
    )


def _cost_panel(rows: pl.DataFrame, data: ExplorerData, x: alt.X) -> alt.Chart:
    currency = data.plan.currency
    money = ",.2f"
    # The true-up line only for a plan with an annual minimum spend.
    kept = _LINES if data.plan.annual_minimum_spend is not None else _LINES[:2]
    lines: list[str | alt.FieldName] = list(kept)
    chart: alt.Chart = (
        _base(rows, data, selected=True)
        .transform_calculate(
            base_subscription="datum.base_c / 100",
            overage="datum.overage_c / 100",
            minimum_spend_true_up="datum.true_up_c / 100",
            month_ex_tax="datum.ex_c / 100",
            month_inc_tax="datum.inc_c / 100",
        )
        .transform_fold(lines, as_=["line", "amount"])
        .mark_bar(width={"band": 0.75})
        .encode(
            x=x,
            y=alt.Y("amount:Q", title=f"Amount, ex tax [{currency}]", stack="zero"),
            color=alt.Color(
                "line:N",
                title="Invoice line",
                scale=alt.Scale(domain=lines, range=list(_LINE_COLORS)),
                legend=alt.Legend(orient="bottom"),
            ),
            order=alt.Order("line:N", sort="ascending"),
            tooltip=[
                alt.Tooltip("label:O", title="month"),
                alt.Tooltip("line:N", title="invoice line"),
                alt.Tooltip("amount:Q", title=f"amount [{currency}]", format=money),
                alt.Tooltip(
                    "month_ex_tax:Q", title=f"month ex tax [{currency}]", format=money
                ),
                alt.Tooltip(
                    "month_inc_tax:Q",
                    title=f"month inc tax [{currency}]",
                    format=money,
                ),
            ],
        )
        .properties(
            title=alt.Title(
                f"Monthly cost [{currency}]",
                subtitle="Stacked invoice lines of the chosen strategy, ex tax",
            ),
            width=_WIDTH,
            height=200,
        )
    )
    return chart


def _annual_panel(rows: pl.DataFrame, data: ExplorerData) -> alt.LayerChart:
    currency = data.plan.currency
    money = ",.2f"
    base = (
        _base(rows, data, selected=True)
        .transform_aggregate(
            ex_c="sum(ex_c)",
            inc_c="sum(inc_c)",
            true_up_c="sum(true_up_c)",
            months="count()",
            groupby=["year_label"],
        )
        .transform_calculate(
            ex_tax="datum.ex_c / 100",
            inc_tax="datum.inc_c / 100",
            true_up="datum.true_up_c / 100",
        )
        .encode(
            x=alt.X("year_label:N", title="Billing year", axis=alt.Axis(labelAngle=0)),
            y=alt.Y("ex_tax:Q", title=f"Cost, ex tax [{currency}]"),
            tooltip=[
                alt.Tooltip("year_label:N", title="billing year"),
                alt.Tooltip("months:Q", title="months in the period [months]"),
                alt.Tooltip("ex_tax:Q", title=f"ex tax [{currency}]", format=money),
                alt.Tooltip("inc_tax:Q", title=f"inc tax [{currency}]", format=money),
                alt.Tooltip(
                    "true_up:Q", title=f"of which true-up [{currency}]", format=money
                ),
            ],
        )
    )
    return alt.LayerChart(
        layer=[
            base.mark_bar(width={"band": 0.6}, color=_LINE_COLORS[1]),
            base.mark_text(dy=-8, fontSize=12).encode(
                text=alt.Text("ex_tax:Q", format=money)
            ),
        ],
        title=alt.Title(
            f"Annual cost [{currency}]",
            subtitle="Per billing year of the plan, ex tax; a year only partly in "
            "the period shows its months",
        ),
        width=260,
        height=200,
    )


def _strategy_panel(rows: pl.DataFrame, data: ExplorerData) -> alt.LayerChart:
    currency = data.plan.currency
    money = ",.2f"
    base = (
        _base(rows, data, selected=False)
        .transform_aggregate(
            ex_c="sum(ex_c)",
            inc_c="sum(inc_c)",
            learner_months="sum(billable)",
            groupby=["strategy"],
        )
        .transform_calculate(
            ex_tax="datum.ex_c / 100",
            inc_tax="datum.inc_c / 100",
            chosen="datum.strategy == strategy ? 'chosen' : 'other'",
        )
        .encode(
            y=alt.Y("strategy:N", title="Strategy", sort=list(data.strategies)),
            x=alt.X("ex_tax:Q", title=f"Cost over the period, ex tax [{currency}]"),
            tooltip=[
                alt.Tooltip("strategy:N", title="strategy"),
                alt.Tooltip("learner_months:Q", title="billable learner-months"),
                alt.Tooltip("ex_tax:Q", title=f"ex tax [{currency}]", format=money),
                alt.Tooltip("inc_tax:Q", title=f"inc tax [{currency}]", format=money),
            ],
        )
    )
    return alt.LayerChart(
        layer=[
            base.mark_bar().encode(
                color=alt.Color(
                    "chosen:N",
                    scale=alt.Scale(
                        domain=["chosen", "other"], range=["#4c78a8", "#c7d5e6"]
                    ),
                    legend=None,
                )
            ),
            base.mark_text(align="left", dx=4, fontSize=11).encode(
                text=alt.Text("ex_tax:Q", format=money)
            ),
        ],
        title=alt.Title(
            f"Strategies compared [{currency}]",
            subtitle="Same learners and prices; the chosen strategy in dark blue",
        ),
        width=240,
        height=alt.Step(26),
    )


def _chart_rows(data: ExplorerData) -> pl.DataFrame:
    """The rows the page embeds: months as text, billing years labelled.

    A billing year is labelled by its calendar year when it starts in January
    (``2027``), else by its months (``2027-07 to 2028-06``); a year only partly
    inside the period adds how many of its months are (`` (6 months)``).
    """
    months_in_year = pl.len().over("strategy", "billing_year")
    year_end = pl.col("billing_year").dt.offset_by("11mo")
    name = (
        pl.col("billing_year").dt.strftime("%Y")
        if data.plan.billing_year_start_month == 1
        else pl.concat_str(
            pl.col("billing_year").dt.strftime("%Y-%m"),
            pl.lit(" to "),
            year_end.dt.strftime("%Y-%m"),
        )
    )
    label = pl.concat_str(
        name,
        pl.when(months_in_year < 12)
        .then(pl.format(" ({} months)", months_in_year))
        .otherwise(pl.lit("")),
    )
    return data.months.with_columns(
        pl.col("month").dt.strftime("%Y-%m").alias("label"),
        label.alias("year_label"),
        pl.col("billing_year").dt.strftime("%Y-%m"),
    ).drop("month")


def explorer_chart(data: ExplorerData) -> alt.VConcatChart:
    """The explorer's charts, repriced by sliders and selectors (Vega-Lite).

    Parameters bound to inputs: ``strategy`` (a selector), ``included``
    [learners per month], ``base_fee`` [currency per month], ``overage_price``
    [currency per learner-month] and one ``size_<i>`` per intake [learners].
    Every panel reprices the embedded counts with Vega-Lite ``calculate``
    transforms, in whole cents, as described in the module docstring.

    Parameters
    ----------
    data : ExplorerData
        From `explorer_data`.

    Returns
    -------
    alt.VConcatChart
        From top to bottom: the totals of the chosen strategy (``mark_text``);
        billable learners per month, stacked within and above the included
        learners, with the included line (``mark_bar`` + ``mark_rule``); the
        monthly cost by invoice line (stacked ``mark_bar``); and side by side
        the annual cost per billing year and every strategy's cost over the
        period (``mark_bar`` + ``mark_text``). The data (`ExplorerData.months`
        with months as ``YYYY-MM`` text) is embedded once.
    """
    rows = _chart_rows(data)
    x = _month_axis(rows["label"].unique(maintain_order=True).to_list())
    params = _params(data)
    chart = alt.vconcat(
        _totals_panel(rows, data),
        _learners_panel(rows, data, x),
        _cost_panel(rows, data, x),
        alt.hconcat(_annual_panel(rows, data), _strategy_panel(rows, data)),
        title=alt.Title(
            f"Pricing explorer: {data.scenario} [{data.plan.currency}]",
            subtitle=f"Plan {data.plan.name}; billing months in {data.timezone}",
        ),
        padding={"left": 5, "top": 5, "right": 5, "bottom": 20},
    ).resolve_scale(color="independent")
    result: alt.VConcatChart = chart.add_params(*params.all())
    return result


# -- the page ------------------------------------------------------------------


_STYLE: Final = """
body { font-family: "DejaVu Sans", Helvetica, Arial, sans-serif; margin: 1.5em;
       color: #222; max-width: 70em; }
h1 { font-size: 1.4em; margin-bottom: 0.2em; }
p.lead { color: #555; margin-top: 0; }
#controls { display: grid; gap: 0.3em 1em; margin: 1em 0; padding: 0.8em 1em;
            background: #f4f6f9; border-radius: 6px; }
#controls .vega-bind { display: flex; align-items: center; }
#controls .vega-bind-name { display: inline-block; min-width: 24em; }
#controls input[type=range] { width: 18em; vertical-align: middle; }
#error { color: #d62728; font-weight: bold; }
details { margin-top: 1.5em; color: #333; }
details li { margin: 0.3em 0; }
"""


def _explanation(data: ExplorerData) -> str:
    plan = data.plan
    currency = html.escape(plan.currency)
    items = [
        "Each learner is billed once for each calendar month in which it is "
        f"Active at any instant ({html.escape(data.timezone)} time). The base fee "
        "includes a number of Active Learners each month; each billable learner "
        "beyond them is overage, at the overage price.",
        "The counts come from <code>meter-sim compare</code>: every "
        "status-management strategy bills the same learners. At the scenario's "
        "own values the totals are exactly that command's.",
        "Money is computed as meter_sim's invoice does: each line rounded to cents "
        "half-up; ex tax includes any annual minimum-spend true-up (billing years "
        "wholly inside the period); tax is charged on each month's lines.",
    ]
    if data.intakes:
        items.append(
            "<b>Intake sizes are an approximation.</b> The learners of each intake "
            "were drawn once, with the scenario's seed. Moving an intake's slider "
            "scales that intake's billable learners in every month by the size "
            "ratio (rounded to whole learners): the expected count at that size, "
            "since learners of an intake are alike and each is managed on its own. "
            "A new draw would differ by a few learners by chance; "
            "<code>meter-sim forecast</code> shows that spread."
        )
    if EXPLICIT in data.strategies:
        items.append(
            "<code>explicit</code> is the scenario's own status timeline; it "
            "covers only the learners listed in the scenario."
        )
    if plan.tolerance:
        items.append(
            f"The plan's tolerance ({plan.tolerance}) applies: no overage while "
            "billable learners stay within the included ones times "
            f"(1 + {plan.tolerance})."
        )
    if plan.annual_minimum_spend is not None:
        items.append(
            f"Annual minimum spend: {currency} {plan.annual_minimum_spend} per "
            "billing year."
        )
    listed = "".join(f"<li>{item}</li>" for item in items)
    summary = "<summary>How the page computes</summary>"
    return f"<details open>{summary}<ul>{listed}</ul></details>"


def explorer_html(data: ExplorerData) -> str:
    """The explorer as one self-contained HTML document.

    The chart's Vega-Lite spec (data included) and the Vega, Vega-Lite and
    Vega-Embed libraries are inlined; the page loads nothing from the network
    and needs no server: open the file in any browser, also offline.

    Parameters
    ----------
    data : ExplorerData
        From `explorer_data`.

    Returns
    -------
    str
        The HTML document. Inputs bound to the chart's parameters are placed in
        ``<div id="controls">``, the charts in ``<div id="charts">``; when the
        charts are drawn, ``<body>`` gets ``data-ready="true"`` (an error is
        shown in ``<p id="error">``).
    """
    with alt.theme.enable(charts.THEME_NAME):
        spec = explorer_chart(data).to_dict()
    spec_text = charts.json_script(spec)
    title = html.escape(f"Pricing explorer: {data.scenario}")
    lead = html.escape(
        f"Plan {data.plan.name}, {data.first_month:%Y-%m} to {data.last_month:%Y-%m}. "
        "Move a slider or choose a strategy: every chart and total follows at once."
    )
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="meter_sim.explore">
<title>{title}</title>
<style>{_STYLE}</style>
<script>{charts.javascript()}</script>
</head>
<body>
<h1>{title}</h1>
<p class="lead">{lead}</p>
<p id="error"></p>
<div id="controls"></div>
<div id="charts"></div>
{_explanation(data)}
<script type="application/json" id="spec">{spec_text}</script>
<script>
const spec = JSON.parse(document.getElementById("spec").textContent);
vegaEmbed("#charts", spec, {{renderer: "svg", actions: false, bind: "#controls"}})
  .then((result) => {{
    window.explorerView = result.view;
    document.body.dataset.ready = "true";
  }})
  .catch((error) => {{
    document.getElementById("error").textContent = "The charts failed: " + error;
  }});
</script>
</body>
</html>
"""


def write_explorer(data: ExplorerData, path: Path) -> int:
    """Write the explorer page (`explorer_html`) to a file.

    Parameters
    ----------
    data : ExplorerData
        From `explorer_data`.
    path : Path
        The ``.html`` file to write (replaced if it exists).

    Returns
    -------
    int
        The file's size. [bytes]

    Raises
    ------
    LogFormatError
        If the file cannot be written.
    """
    document = explorer_html(data).encode("utf-8")
    try:
        path.write_bytes(document)
    except OSError as exc:
        raise LogFormatError.unwritable(path, exc, "page", field="out") from None
    return len(document)
