"""Plans (price book entries) and invoice lines, in `Decimal` money.

A plan bills a base subscription each month that includes a number of Active
Learners; each billable learner beyond them is overage, priced per learner-month
("Active Learners and Metering", "What is the Base Subscription?"; DESIGN.md
section 1, Charging). Every invoice line is rounded to cents, half-up.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Annotated, Literal

import polars as pl
from pydantic import BaseModel, ConfigDict, Field

from meter_sim.exceptions import PricingError

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
    overage_price : Decimal
        Price of each billable learner beyond ``included_learners``.
        [currency per learner-month]

    References
    ----------
    .. [1] "Active Learners and Metering", "What is the Base Subscription?"
    .. [2] DESIGN.md section 1, Charging.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1)
    description: str = ""
    currency: str = Field(pattern=r"^[A-Z]{3}$")
    base_fee: Money
    included_learners: int = Field(ge=0, le=MAX_INCLUDED, strict=True)
    overage_price: Money


InvoiceLineKind = Literal["base_subscription", "overage"]


@dataclass(frozen=True)
class InvoiceLine:
    """One line of an invoice.

    Attributes
    ----------
    kind : {'base_subscription', 'overage'}
        What the line charges for.
    period_start, period_end : date
        Service period covered, first and last day inclusive (a calendar month).
    quantity : int
        Months for the base fee, overage learners for overage. [months] or [learners]
    unit_price : Decimal
        Price of one unit. [currency]
    amount : Decimal
        ``quantity * unit_price`` rounded to cents, half-up. [currency]
    """

    kind: InvoiceLineKind
    period_start: date
    period_end: date
    quantity: int
    unit_price: Decimal
    amount: Decimal


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
        Supplies ``included_learners``. [learners]

    Returns
    -------
    int
        ``max(0, billable_learners - included_learners)``; no pooling across
        months (DESIGN.md section 1, Charging). [learners]

    Raises
    ------
    PricingError
        If ``billable_learners`` is negative.
    """
    if billable_learners < 0:
        msg = f"`billable_learners` must be >= 0, got {billable_learners}"
        raise PricingError(msg)
    return max(0, billable_learners - plan.included_learners)


def invoice_lines(usage: pl.DataFrame, plan: Plan) -> list[InvoiceLine]:
    """Invoice lines for each month of a usage table.

    Each month gets a ``base_subscription`` line (quantity 1 month at
    ``base_fee``) and, when there is overage, an ``overage`` line (quantity =
    overage learners at ``overage_price``). Each line's amount is rounded to cents
    half-up on its own.

    Parameters
    ----------
    usage : pl.DataFrame
        ``month`` Date (first day), ``billable_learners`` integer; as
        `meter_sim.metering.monthly_usage`.
    plan : Plan
        The price book entry.

    Returns
    -------
    list of InvoiceLine
        In month order, base line first. Amounts in ``plan.currency``.

    References
    ----------
    .. [1] DESIGN.md section 1, Charging.
    """
    lines: list[InvoiceLine] = []
    for month, billable in usage.select("month", "billable_learners").iter_rows():
        end = _month_end(month)
        fee = plan.base_fee
        lines.append(
            InvoiceLine("base_subscription", month, end, 1, fee, round_money(fee))
        )
        extra = overage_learners(billable, plan)
        if extra:
            amount = round_money(extra * plan.overage_price)
            lines.append(
                InvoiceLine("overage", month, end, extra, plan.overage_price, amount)
            )
    return lines


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
        [``plan.currency``]. ``total`` is the sum of the month's invoice lines.
    """
    zero = Decimal("0.00")
    amounts: dict[tuple[date, InvoiceLineKind], Decimal] = {}
    for line in invoice_lines(usage, plan):
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
