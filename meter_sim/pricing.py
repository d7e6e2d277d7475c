"""Plans (price book entries) and invoice lines, in `Decimal` money.

A plan bills a base subscription each month that includes a number of Active
Learners; each billable learner beyond them is overage, priced per learner-month
("Active Learners and Metering", "What is the Base Subscription?"; DESIGN.md
section 1, Charging). Every invoice line is rounded to cents, half-up.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING, Annotated, Literal

import polars as pl
from pydantic import BaseModel, ConfigDict, Field, model_validator

from meter_sim.exceptions import PricingError

if TYPE_CHECKING:
    from collections.abc import Mapping

CENT = Decimal("0.01")
"""Invoice lines are quantised to this, with `decimal.ROUND_HALF_UP`. [AUD]"""

MAX_MONEY = Decimal("1e9")
"""Largest price or fee a plan accepts (anything larger is a typing error)."""

Money = Annotated[
    Decimal, Field(ge=0, le=MAX_MONEY, allow_inf_nan=False, decimal_places=4)
]
"""A non-negative, finite amount up to `MAX_MONEY`, at most 4 decimal places."""

MAX_INCLUDED = 10**9
"""Largest ``included_learners`` a plan accepts. [learners]"""


def round_money(amount: Decimal) -> Decimal:
    """Round an amount to cents, half-up (DESIGN.md section 1, Charging).

    Parameters
    ----------
    amount : Decimal
        Any finite amount. [currency units]

    Returns
    -------
    Decimal
        ``amount`` quantised to 0.01 with ``ROUND_HALF_UP`` (2.005 -> 2.01).

    Examples
    --------
    >>> round_money(Decimal("7.125"))
    Decimal('7.13')
    """
    return amount.quantize(CENT, rounding=ROUND_HALF_UP)


TierMode = Literal["graduated", "volume"]
"""How overage tiers price learners: ``{'graduated', 'volume'}``."""


class Tier(BaseModel):
    """One band of overage tiers.

    Parameters
    ----------
    up_to : int or None
        Last overage learner of the band (inclusive), counted from the first
        learner above the included ones; None for the last, unbounded band.
        [learners]
    price : Decimal
        Price of each learner in the band. [currency per learner-month]
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    up_to: int | None = Field(default=None, ge=1, le=MAX_INCLUDED, strict=True)
    price: Money


class OverageTiers(BaseModel):
    """Overage priced in bands of overage learners.

    Parameters
    ----------
    mode : {'graduated', 'volume'}
        ``graduated``: each band's learners at that band's price (marginal, like
        income tax). ``volume``: every overage learner at the price of the band
        the month's overage reaches.
    tiers : list of Tier
        Bands in increasing order of ``up_to``; every band but the last has an
        ``up_to``, the last has none.

    Raises
    ------
    pydantic.ValidationError
        If the bands are unordered, overlap, or the last one is bounded.

    References
    ----------
    .. [1] ``reference/domain-research.md`` section 9, "Graduated overage", and
       section 6.4, rule 20 (bands applied marginally by default).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    mode: TierMode
    tiers: list[Tier] = Field(min_length=1)

    @model_validator(mode="after")
    def _ordered(self) -> OverageTiers:
        bounds = [tier.up_to for tier in self.tiers]
        if bounds[-1] is not None:
            msg = "the last tier must have no `up_to` (it takes every learner above)"
            raise ValueError(msg)
        inner = bounds[:-1]
        if any(b is None for b in inner):
            msg = "only the last tier may leave out `up_to`"
            raise ValueError(msg)
        if any(b >= c for b, c in itertools.pairwise(inner)):  # type: ignore[operator]
            msg = f"tiers must have increasing `up_to` without overlap, got {inner}"
            raise ValueError(msg)
        return self


class Plan(BaseModel):
    """A price book entry for the Active Learner meter.

    Parameters
    ----------
    name : str
        Short name of the edition, e.g. ``"Standard"``.
    description : str
        Free text; illustrative plans say so here.
    currency : str
        ISO 4217 code, three upper-case letters, e.g. ``"AUD"``.
    base_fee : Decimal
        Base subscription fee per calendar month. [currency per month]
    included_learners : int
        Active Learners included in the base subscription each month; unused ones
        do not roll over. [learners per month]
    overage_price : Decimal or None
        Flat price of each billable learner beyond ``included_learners``.
        [currency per learner-month]. Give this or ``overage_tiers``.
    overage_tiers : OverageTiers or None
        Graduated or volume bands instead of a flat price.
    tolerance : Decimal
        No overage while billable learners <= ``included_learners * (1 +
        tolerance)``; above that, every learner over the included ones is
        overage. Default 0. [fraction, unitless]
    annual_minimum_spend : Decimal or None
        Floor on the fees of each billing year; a shortfall is billed as a
        ``minimum_spend_true_up`` line at the year's end. [currency per year]
    minimum_spend_counts_overage : bool
        Whether overage counts toward the minimum spend (default True) or only
        the base subscription does.
    billing_year_start_month : int
        Month (1-12) in which each billing year starts. Default 1 (January).
    tax_rate : Decimal
        Tax on each monthly invoice's total, e.g. 0.10 for Australian GST;
        shown as its own line. Default 0. [fraction, unitless]
    tax_name : str
        Label of the tax line, e.g. ``"GST"``.

    Raises
    ------
    pydantic.ValidationError
        For a missing, negative, non-finite or absurd value, a fractional
        ``included_learners``, both or neither of ``overage_price`` and
        ``overage_tiers``, or bad tiers.

    References
    ----------
    .. [1] "Active Learners and Metering", "What is the Base Subscription?"
    .. [2] DESIGN.md section 1, Charging.
    .. [3] ``reference/domain-research.md`` sections 6.4 and 9.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1)
    description: str = ""
    currency: str = Field(pattern=r"^[A-Z]{3}$")
    base_fee: Money
    included_learners: int = Field(ge=0, le=MAX_INCLUDED, strict=True)
    overage_price: Money | None = None
    overage_tiers: OverageTiers | None = None
    tolerance: Decimal = Field(default=Decimal(0), ge=0, le=1, allow_inf_nan=False)
    annual_minimum_spend: Money | None = None
    minimum_spend_counts_overage: bool = True
    billing_year_start_month: int = Field(default=1, ge=1, le=12, strict=True)
    tax_rate: Decimal = Field(default=Decimal(0), ge=0, le=1, allow_inf_nan=False)
    tax_name: str = Field(default="tax", min_length=1)

    @model_validator(mode="after")
    def _one_overage_price(self) -> Plan:
        if (self.overage_price is None) == (self.overage_tiers is None):
            msg = "give exactly one of `overage_price` (flat) and `overage_tiers`"
            raise ValueError(msg)
        return self


InvoiceLineKind = Literal[
    "base_subscription", "overage", "minimum_spend_true_up", "tax"
]
LINE_KINDS: tuple[InvoiceLineKind, ...] = (
    "base_subscription",
    "overage",
    "minimum_spend_true_up",
    "tax",
)
"""Invoice line kinds, in the order they appear within a month."""


@dataclass(frozen=True)
class InvoiceLine:
    """One line of an invoice.

    Attributes
    ----------
    kind : {'base_subscription', 'overage', 'minimum_spend_true_up', 'tax'}
        What the line charges for.
    period_start, period_end : date
        Service period covered, first and last day inclusive: a calendar month,
        or a billing year for a true-up.
    quantity : int
        Months for the base fee and true-up, learners for overage (one line per
        band with graduated tiers), 1 for tax. [months] or [learners]
    unit_price : Decimal
        Price of one unit; for tax, the taxed subtotal. [currency]
    amount : Decimal
        ``quantity * unit_price`` (for tax, ``rate * subtotal``) rounded to cents,
        half-up. [currency]
    description : str
        What a reader of the invoice sees, e.g. ``"overage 101-500 @ 6.00"``.
    """

    kind: InvoiceLineKind
    period_start: date
    period_end: date
    quantity: int
    unit_price: Decimal
    amount: Decimal
    description: str = ""


@dataclass(frozen=True)
class Invoice:
    """Invoice lines for a run of months, with totals.

    Each calendar month is one invoice; a billing year's true-up belongs to its
    last month, and each month's tax is computed on that month's lines.

    Attributes
    ----------
    currency : str
        ISO 4217 code of every amount.
    lines : list of InvoiceLine
        In month order; within a month in `LINE_KINDS` order.
    """

    currency: str
    lines: list[InvoiceLine]

    def _sum(self, *kinds: InvoiceLineKind) -> Decimal:
        return sum((x.amount for x in self.lines if x.kind in kinds), Decimal("0.00"))

    @property
    def total_ex_tax(self) -> Decimal:
        """Sum of every line but tax, in ``currency``."""
        return self._sum("base_subscription", "overage", "minimum_spend_true_up")

    @property
    def tax(self) -> Decimal:
        """Sum of the tax lines, in ``currency``."""
        return self._sum("tax")

    @property
    def total_inc_tax(self) -> Decimal:
        """``total_ex_tax + tax``, in ``currency``."""
        return self.total_ex_tax + self.tax

    def amount(self, kind: InvoiceLineKind) -> Decimal:
        """Sum of the lines of one kind, in ``currency``."""
        return self._sum(kind)


MONTHLY_BILL_SCHEMA = pl.Schema(
    {
        "month": pl.Date(),
        "billable_learners": pl.UInt32(),
        "included_learners": pl.UInt32(),
        "overage_learners": pl.UInt32(),
        "base_fee": pl.Decimal(38, 2),
        "overage_amount": pl.Decimal(38, 2),
        "total": pl.Decimal(38, 2),
    }
)
"""Columns of the month-by-month bill (`monthly_bill`)."""


def _month_end(month: date) -> date:
    following = date(month.year + month.month // 12, month.month % 12 + 1, 1)
    return following - timedelta(days=1)


def overage_learners(billable_learners: int, plan: Plan) -> int:
    """Learners above the plan's included learners in one month.

    Parameters
    ----------
    billable_learners : int
        Distinct Active Learners billed in the month. [learners]
    plan : Plan
        Supplies ``included_learners`` and ``tolerance``.

    Returns
    -------
    int
        ``max(0, billable_learners - included_learners)``, or 0 while
        ``billable_learners <= included_learners * (1 + tolerance)``; no pooling
        across months (DESIGN.md section 1, Charging). [learners]

    Raises
    ------
    PricingError
        If ``billable_learners`` is negative.

    Examples
    --------
    >>> plan = Plan(
    ...     name="T",
    ...     currency="AUD",
    ...     base_fee=0,
    ...     included_learners=100,
    ...     overage_price=1,
    ...     tolerance=Decimal("0.05"),
    ... )
    >>> overage_learners(105, plan), overage_learners(106, plan)
    (0, 6)
    """
    if billable_learners < 0:
        msg = f"`billable_learners` must be >= 0, got {billable_learners}"
        raise PricingError(msg)
    if billable_learners <= plan.included_learners * (1 + plan.tolerance):
        return 0
    return billable_learners - plan.included_learners


def overage_bands(learners: int, plan: Plan) -> list[tuple[int, Decimal, str]]:
    """Split a month's overage learners into priced bands.

    Parameters
    ----------
    learners : int
        Overage learners of the month (`overage_learners`). [learners]
    plan : Plan
        Flat ``overage_price`` or ``overage_tiers``.

    Returns
    -------
    list of (int, Decimal, str)
        ``(quantity, unit price, description)`` per band used; empty for none.
        Flat and volume pricing give one band; graduated one per band reached.

    Examples
    --------
    >>> tiers = OverageTiers(
    ...     mode="graduated",
    ...     tiers=[
    ...         Tier(up_to=100, price=7.5),
    ...         Tier(up_to=500, price=6),
    ...         Tier(price=4.5),
    ...     ],
    ... )
    >>> plan = Plan(
    ...     name="G",
    ...     currency="AUD",
    ...     base_fee=0,
    ...     included_learners=0,
    ...     overage_tiers=tiers,
    ... )
    >>> [(q, str(p)) for q, p, _ in overage_bands(150, plan)]
    [(100, '7.5'), (50, '6')]
    """
    if learners <= 0:
        return []
    if plan.overage_tiers is None:
        price = plan.overage_price or Decimal(0)
        return [(learners, price, f"overage @ {price}")]
    tiers = plan.overage_tiers.tiers
    if plan.overage_tiers.mode == "volume":
        band = next(t for t in tiers if t.up_to is None or learners <= t.up_to)
        return [(learners, band.price, f"overage, volume band @ {band.price}")]
    bands = []
    lower = 0
    for tier in tiers:
        upper = learners if tier.up_to is None else min(learners, tier.up_to)
        if upper > lower:
            label = f"overage {lower + 1}-{upper} @ {tier.price}"
            bands.append((upper - lower, tier.price, label))
        if tier.up_to is None or learners <= tier.up_to:
            break
        lower = tier.up_to
    return bands


def month_total(billable_learners: int, plan: Plan) -> Decimal:
    """A month's charge for a count of billable learners, before tax and true-up.

    Parameters
    ----------
    billable_learners : int
        Distinct Active Learners billed in the month. [learners]
    plan : Plan
        The price book entry.

    Returns
    -------
    Decimal
        Base fee plus overage, each line rounded to cents half-up, as the month's
        lines of `invoice` add up. [``plan.currency``]

    Examples
    --------
    >>> plan = Plan(
    ...     name="S",
    ...     currency="AUD",
    ...     base_fee=500,
    ...     included_learners=100,
    ...     overage_price=Decimal("7.50"),
    ... )
    >>> month_total(100, plan), month_total(103, plan)
    (Decimal('500.00'), Decimal('522.50'))
    """
    lines = _month_lines(date(2000, 1, 1), billable_learners, plan)
    return sum((x.amount for x in lines), Decimal("0.00"))


def _month_lines(month: date, billable: int, plan: Plan) -> list[InvoiceLine]:
    end = _month_end(month)
    fee = plan.base_fee
    lines = [
        InvoiceLine(
            "base_subscription",
            month,
            end,
            1,
            fee,
            round_money(fee),
            "base subscription",
        )
    ]
    for quantity, price, label in overage_bands(overage_learners(billable, plan), plan):
        amount = round_money(quantity * price)
        lines.append(InvoiceLine("overage", month, end, quantity, price, amount, label))
    return lines


def _billing_year(month: date, plan: Plan) -> date:
    """First day of the billing year that ``month`` falls in."""
    index = month.year * 12 + month.month - 1
    start = index - (index - (plan.billing_year_start_month - 1)) % 12
    return date(start // 12, start % 12 + 1, 1)


def _true_ups(
    months: list[date], lines: list[InvoiceLine], plan: Plan
) -> dict[date, InvoiceLine]:
    """True-up lines of the complete billing years in ``months``, by last month."""
    minimum = plan.annual_minimum_spend
    if minimum is None:
        return {}
    counted = (
        ("base_subscription", "overage")
        if plan.minimum_spend_counts_overage
        else ("base_subscription",)
    )
    present = set(months)
    result = {}
    for year_start in sorted({_billing_year(m, plan) for m in months}):
        year = [
            date(
                year_start.year + (year_start.month - 1 + k) // 12,
                (year_start.month - 1 + k) % 12 + 1,
                1,
            )
            for k in range(12)
        ]
        if not present.issuperset(year):
            continue
        fees = sum(
            (x.amount for x in lines if x.kind in counted and x.period_start in year),
            Decimal("0.00"),
        )
        shortfall = round_money(minimum - fees)
        if shortfall > 0:
            result[year[-1]] = InvoiceLine(
                "minimum_spend_true_up",
                year_start,
                _month_end(year[-1]),
                1,
                shortfall,
                shortfall,
                f"annual minimum spend {minimum} less fees {fees}",
            )
    return result


def invoice(usage: pl.DataFrame, plan: Plan) -> Invoice:
    """Price a run of months: base, overage, minimum-spend true-up and tax lines.

    Each month gets a ``base_subscription`` line (1 month at ``base_fee``) and,
    when there is overage, ``overage`` lines (one per band used). A billing year
    wholly inside ``usage`` whose fees fall short of ``annual_minimum_spend``
    gets a ``minimum_spend_true_up`` line in its last month (a year only partly
    covered gets none). Each month with a ``tax_rate`` gets a ``tax`` line on its
    subtotal. Every line is rounded to cents half-up on its own.

    Parameters
    ----------
    usage : pl.DataFrame
        ``month`` Date (first day), ``billable_learners`` integer; every month of
        the period, as `meter_sim.metering.monthly_usage`.
    plan : Plan
        The price book entry.

    Returns
    -------
    Invoice
        The lines and totals, in ``plan.currency``.

    References
    ----------
    .. [1] DESIGN.md section 1, Charging.
    .. [2] ``reference/domain-research.md`` section 6.4, rules 19-24.
    """
    rows = usage.select("month", "billable_learners").rows()
    lines = [
        line for month, billable in rows for line in _month_lines(month, billable, plan)
    ]
    true_ups = _true_ups([month for month, _ in rows], lines, plan)
    ordered: list[InvoiceLine] = []
    for month, _ in rows:
        month_lines = [x for x in lines if x.period_start == month]
        if month in true_ups:
            month_lines.append(true_ups[month])
        ordered += month_lines
        if plan.tax_rate:
            subtotal = sum((x.amount for x in month_lines), Decimal("0.00"))
            tax = round_money(subtotal * plan.tax_rate)
            percent = format((plan.tax_rate * 100).normalize(), "f")
            label = f"{plan.tax_name} {percent}% of {subtotal}"
            ordered.append(
                InvoiceLine("tax", month, _month_end(month), 1, subtotal, tax, label)
            )
    return Invoice(plan.currency, ordered)


def monthly_bill(usage: pl.DataFrame, plan: Plan) -> pl.DataFrame:
    """The month-by-month bill: usage, included and overage learners, and money.

    Parameters
    ----------
    usage : pl.DataFrame
        ``month`` Date, ``billable_learners`` integer (every month of the period).
    plan : Plan
        The price book entry.

    Returns
    -------
    pl.DataFrame
        Columns of `MONTHLY_BILL_SCHEMA`: ``month`` Date, ``billable_learners``,
        ``included_learners``, ``overage_learners`` UInt32 [learners];
        ``base_fee``, ``overage_amount``, ``total`` Decimal(38, 2)
        [``plan.currency``]. ``total`` is base fee plus overage, before tax and
        any minimum-spend true-up (those are lines of `invoice`).
    """
    zero = Decimal("0.00")
    amounts: dict[tuple[date, InvoiceLineKind], Decimal] = {}
    for line in invoice(usage, plan).lines:
        key = (line.period_start, line.kind)
        amounts[key] = amounts.get(key, zero) + line.amount
    rows = []
    for month, billable in usage.select("month", "billable_learners").iter_rows():
        base = amounts.get((month, "base_subscription"), zero)
        over = amounts.get((month, "overage"), zero)
        rows.append(
            {
                "month": month,
                "billable_learners": billable,
                "included_learners": plan.included_learners,
                "overage_learners": overage_learners(billable, plan),
                "base_fee": base,
                "overage_amount": over,
                "total": base + over,
            }
        )
    return pl.DataFrame(rows, schema=MONTHLY_BILL_SCHEMA)


COMPARISON_SCHEMA = pl.Schema(
    {
        "plan": pl.String(),
        "name": pl.String(),
        "currency": pl.String(),
        "months": pl.UInt32(),
        "learner_months": pl.UInt64(),
        "base_subscription": pl.Decimal(38, 2),
        "overage": pl.Decimal(38, 2),
        "minimum_spend_true_up": pl.Decimal(38, 2),
        "total_ex_tax": pl.Decimal(38, 2),
        "tax": pl.Decimal(38, 2),
        "total_inc_tax": pl.Decimal(38, 2),
    }
)
"""Columns of `compare_plans`."""


def compare_plans(usage: pl.DataFrame, plans: Mapping[str, Plan]) -> pl.DataFrame:
    """Price the same usage under every plan of a price book.

    Parameters
    ----------
    usage : pl.DataFrame
        ``month`` Date, ``billable_learners`` integer (every month of the period).
    plans : mapping of str to Plan
        Price book entries by key (e.g. the plan file's stem).

    Returns
    -------
    pl.DataFrame
        Columns of `COMPARISON_SCHEMA`, one row per plan, cheapest total
        (inc tax) first: ``plan`` key, ``name``, ``currency``, ``months``
        [months], ``learner_months`` [learner-months], the amount of each
        invoice line kind, ``total_ex_tax``, ``tax``, ``total_inc_tax``
        [each plan's currency].
    """
    learner_months = int(usage["billable_learners"].sum())
    rows: list[dict[str, object]] = []
    for key, plan in plans.items():
        bill = invoice(usage, plan)
        amounts: dict[str, object] = {
            kind: bill.amount(kind) for kind in LINE_KINDS[:3]
        }
        rows.append(
            {
                "plan": key,
                "name": plan.name,
                "currency": plan.currency,
                "months": usage.height,
                "learner_months": learner_months,
                **amounts,
                "total_ex_tax": bill.total_ex_tax,
                "tax": bill.tax,
                "total_inc_tax": bill.total_inc_tax,
            }
        )
    frame = pl.DataFrame(rows, schema=COMPARISON_SCHEMA)
    return frame.sort("total_inc_tax", "plan")


def annual_costs(usage: pl.DataFrame, plans: Mapping[str, Plan]) -> pl.DataFrame:
    """Each plan's cost per billing year of the usage.

    Parameters
    ----------
    usage : pl.DataFrame
        ``month`` Date, ``billable_learners`` integer.
    plans : mapping of str to Plan
        Price book entries by key.

    Returns
    -------
    pl.DataFrame
        ``plan`` String, ``name`` String, ``currency`` String, ``billing_year``
        Date (first day of the plan's billing year), ``months`` UInt32 (months of
        that year in the usage), ``total_ex_tax`` and ``total_inc_tax``
        Decimal(38, 2) [currency]; sorted by plan and year.
    """
    rows = []
    for key, plan in plans.items():
        totals: dict[date, list[Decimal]] = {}
        months: dict[date, int] = {}
        for line in invoice(usage, plan).lines:
            year = _billing_year(line.period_start, plan)
            ex, inc = totals.setdefault(year, [Decimal("0.00"), Decimal("0.00")])
            taxed = line.amount if line.kind == "tax" else Decimal(0)
            totals[year] = [ex + line.amount - taxed, inc + line.amount]
            if line.kind == "base_subscription":
                months[year] = months.get(year, 0) + 1
        rows += [
            {
                "plan": key,
                "name": plan.name,
                "currency": plan.currency,
                "billing_year": year,
                "months": months.get(year, 0),
                "total_ex_tax": ex,
                "total_inc_tax": inc,
            }
            for year, (ex, inc) in totals.items()
        ]
    schema = pl.Schema(
        {
            "plan": pl.String(),
            "name": pl.String(),
            "currency": pl.String(),
            "billing_year": pl.Date(),
            "months": pl.UInt32(),
            "total_ex_tax": pl.Decimal(38, 2),
            "total_inc_tax": pl.Decimal(38, 2),
        }
    )
    return pl.DataFrame(rows, schema=schema).sort("plan", "billing_year")
