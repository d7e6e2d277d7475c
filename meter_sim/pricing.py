"""Plans (price book entries) and invoice lines, in `Decimal` money.

A plan bills a base subscription each month that includes a number of Active
Learners; each billable learner beyond them is overage, priced per learner-month
("Active Learners and Metering", "What is the Base Subscription?"; DESIGN.md
section 1, Charging). Every invoice line is rounded to cents, half-up.

A plan may also price the separate e-Learning meter (its own included learners
and overage, ``reference/domain-research.md`` section 6.4, rule 18) and state
the contract's other terms (rules 21, 23 and 25): tier changes during the year,
a direct-debit surcharge on the monthly base fee, and one-off implementation and
onboarding fees at the start of the term. Every line carries the date of the
invoice it is on: the base fee in advance, overage in arrears (rule 21).
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING, Annotated, Final, Literal

import polars as pl
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainValidator,
    ValidationInfo,
    field_validator,
    model_validator,
)

from meter_sim.exceptions import PricingError
from meter_sim.logs import YEARS

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

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

_MONTH_TEXT: Final = re.compile(r"(?P<year>\d{4})-(?P<month>0[1-9]|1[0-2])", re.ASCII)
_DATE_TEXT: Final = re.compile(
    r"(?P<year>\d{4})-(?P<month>\d{2})-(?P<day>\d{2})", re.ASCII
)


def _in_years(year: int, what: str) -> int:
    if not YEARS[0] <= year <= YEARS[1]:
        msg = f"a {what} in the years {YEARS[0]} to {YEARS[1]} expected"
        raise ValueError(msg)
    return year


def _month(value: object) -> date:
    if type(value) is date and value.day == 1:  # from Python, not from YAML
        return date(_in_years(value.year, "month"), value.month, 1)
    match = _MONTH_TEXT.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        msg = "a month YYYY-MM expected, e.g. 2018-04"
        raise ValueError(msg)
    return date(_in_years(int(match["year"]), "month"), int(match["month"]), 1)


def _day(value: object) -> date:
    if type(value) is date:  # from Python, not from YAML
        return date(_in_years(value.year, "date"), value.month, value.day)
    match = _DATE_TEXT.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        msg = "a date YYYY-MM-DD expected, e.g. 2019-03-15"
        raise ValueError(msg)
    year = _in_years(int(match["year"]), "date")
    try:
        return date(year, int(match["month"]), int(match["day"]))
    except ValueError:
        msg = "a date that exists expected, e.g. 2019-03-15"
        raise ValueError(msg) from None


Month = Annotated[date, PlainValidator(_month, json_schema_input_type=str)]
"""A calendar month written ``YYYY-MM``, held as its first day (years 1900-2199)."""

Day = Annotated[date, PlainValidator(_day, json_schema_input_type=str)]
"""A calendar date written ``YYYY-MM-DD`` (years 1900-2199)."""

Fraction = Annotated[Decimal, Field(ge=0, le=1, allow_inf_nan=False)]
"""A rate from 0 to 1, e.g. ``0.10`` for 10%. [fraction, unitless]"""

Learners = Annotated[int, Field(ge=0, le=MAX_INCLUDED, strict=True)]
"""A whole number of learners from 0 to `MAX_INCLUDED`. [learners]"""


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


_PRICE_FORMS: Final = (
    ("overage_price", "overage_tiers"),
    ("elearning_overage_price", "elearning_overage_tiers"),
)
"""The two ways to price each meter's overage: flat, or tiers (one at a time)."""


class TierChange(BaseModel):
    """A change of the plan's tier during the term, from a given date.

    The tier in force on the first day of a month applies to the whole month,
    so a change takes effect from the first month whose 1st is on or after
    ``effective``: effective on 2019-03-01 it applies from March 2019, effective
    on 2019-03-15 from April 2019 (``reference/domain-research.md`` section
    6.4, rule 23; no daily proration).

    Parameters
    ----------
    effective : date
        When the change is agreed to take effect, ``YYYY-MM-DD``.
    base_fee : Decimal or None
        New base subscription fee. [currency per month]
    included_learners : int or None
        New LRM Active Learner tier. [learners per month]
    overage_price, overage_tiers : Decimal or OverageTiers or None
        New LRM overage price, flat or tiers (at most one); it replaces the
        plan's price in either form.
    included_elearning_learners : int or None
        New e-Learning Active Learner tier. [learners per month]
    elearning_overage_price, elearning_overage_tiers : Decimal or OverageTiers or None
        New e-Learning overage price, flat or tiers (at most one).

    A field left out keeps the value in force before the change; at least one
    must be given.

    Raises
    ------
    pydantic.ValidationError
        If the change changes nothing, gives both forms of one price, or a
        value is invalid (as for `Plan`).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    effective: Day
    base_fee: Money | None = None
    included_learners: Learners | None = None
    overage_price: Money | None = None
    overage_tiers: OverageTiers | None = None
    included_elearning_learners: Learners | None = None
    elearning_overage_price: Money | None = None
    elearning_overage_tiers: OverageTiers | None = None

    @model_validator(mode="after")
    def _changes_something(self) -> TierChange:
        if not self.changes():
            fields = ", ".join(f"`{name}`" for name in self._tier_fields())
            msg = f"a tier change must set at least one of {fields}"
            raise ValueError(msg)
        for flat, tiers in _PRICE_FORMS:
            if getattr(self, flat) is not None and getattr(self, tiers) is not None:
                msg = f"give at most one of `{flat}` (flat) and `{tiers}`"
                raise ValueError(msg)
        return self

    @classmethod
    def _tier_fields(cls) -> list[str]:
        return [name for name in cls.model_fields if name != "effective"]

    @property
    def first_month(self) -> date:
        """First day of the first month the change applies to (rule 23)."""
        day = self.effective
        return day if day.day == 1 else _month_end(day) + timedelta(days=1)

    def changes(self) -> dict[str, object]:
        """The plan fields this change sets, as a `Plan.model_copy` update.

        A new price in one form clears the other form of the same meter's price.
        """
        update = {
            name: getattr(self, name)
            for name in self._tier_fields()
            if getattr(self, name) is not None
        }
        for flat, tiers in _PRICE_FORMS:
            if flat in update:
                update[tiers] = None
            elif tiers in update:
                update[flat] = None
        return update


class Plan(BaseModel):
    """A price book entry for the Active Learner meter (and the e-Learning one).

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
    included_elearning_learners : int
        e-Learning Active Learners (learners with at least one Enabled
        e-Learning enrolment in the month) included each month, the
        e-Learning Active Learner Tier. Default 0. [learners per month]
        (``reference/domain-research.md`` sections 2.4, 2.9; 6.4 rule 18.)
    elearning_overage_price : Decimal or None
        Flat price of each e-Learning Active Learner beyond
        ``included_elearning_learners``. [currency per learner-month]
    elearning_overage_tiers : OverageTiers or None
        Graduated or volume bands instead; at most one of the two. With
        neither, a month with e-Learning overage cannot be priced (`invoice`
        raises `PricingError`; it never bills them at zero). No tolerance
        applies to this meter.
    annual_minimum_spend : Decimal or None
        Floor on the fees of each billing year; a shortfall is billed as a
        ``minimum_spend_true_up`` line at the year's end. [currency per year]
    minimum_spend_counts_overage : bool
        Whether overage (of both meters) counts toward the minimum spend
        (default True) or only the base subscription does. Direct-debit
        surcharges and one-off fees never count.
    billing_year_start_month : int
        Month (1-12) in which each billing year starts. Default 1 (January).
    tax_rate : Decimal
        Tax on each monthly invoice's total, e.g. 0.10 for Australian GST;
        shown as its own line. Default 0. [fraction, unitless]
    tax_name : str
        Label of the tax line, e.g. ``"GST"``.
    tier_changes : tuple of TierChange
        Changes of tier during the term (a list in YAML), in increasing
        ``effective`` order, at most one taking effect in any month (rule 23).
        Default none.
    direct_debit_surcharge : Decimal or None
        Surcharge for paying the base fee monthly by direct debit, as a fraction
        of each month's base fee, e.g. ``0.015``; a ``direct_debit_surcharge``
        line each month (``reference/domain-research.md`` section 2.4; rule
        21). Default none. [fraction, unitless]
    implementation_fee, onboarding_fee : Decimal or None
        One-off fees payable in full when the term starts: a ``one_off`` line
        each in the ``term_start`` month, if that month is billed (rule 25).
        [currency]
    term_start : date or None
        First month of the subscription term, ``YYYY-MM``; needed with a one-off
        fee.

    Raises
    ------
    pydantic.ValidationError
        For a missing, negative, non-finite or absurd value, a fractional
        ``included_learners``, both or neither of ``overage_price`` and
        ``overage_tiers``, both ``elearning_overage_price`` and
        ``elearning_overage_tiers``, bad tiers, tier changes out of date
        order or two taking effect in one month, or a one-off fee without
        ``term_start``.

    References
    ----------
    .. [1] "Active Learners and Metering", "What is the Base Subscription?"
    .. [2] DESIGN.md section 1, Charging.
    .. [3] ``reference/domain-research.md`` sections 2.4, 6.4 and 9.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1)
    description: str = ""
    currency: str = Field(pattern=r"^[A-Z]{3}$")
    base_fee: Money
    included_learners: Learners
    overage_price: Money | None = None
    overage_tiers: OverageTiers | None = None
    tolerance: Fraction = Decimal(0)
    included_elearning_learners: Learners = 0
    elearning_overage_price: Money | None = None
    elearning_overage_tiers: OverageTiers | None = None
    annual_minimum_spend: Money | None = None
    minimum_spend_counts_overage: bool = True
    billing_year_start_month: int = Field(default=1, ge=1, le=12, strict=True)
    tax_rate: Fraction = Decimal(0)
    tax_name: str = Field(default="tax", min_length=1)
    tier_changes: tuple[TierChange, ...] = ()
    direct_debit_surcharge: Fraction | None = None
    term_start: Month | None = None
    implementation_fee: Money | None = None
    onboarding_fee: Money | None = None

    @model_validator(mode="after")
    def _one_overage_price(self) -> Plan:
        if (self.overage_price is None) == (self.overage_tiers is None):
            msg = "give exactly one of `overage_price` (flat) and `overage_tiers`"
            raise ValueError(msg)
        return self

    @field_validator("elearning_overage_tiers")
    @classmethod
    def _one_elearning_price(
        cls, tiers: OverageTiers | None, info: ValidationInfo
    ) -> OverageTiers | None:
        if tiers is not None and info.data.get("elearning_overage_price") is not None:
            msg = (
                "give at most one of `elearning_overage_price` (flat) and "
                "`elearning_overage_tiers`"
            )
            raise ValueError(msg)
        return tiers

    @field_validator("tier_changes")
    @classmethod
    def _in_date_order(cls, changes: tuple[TierChange, ...]) -> tuple[TierChange, ...]:
        for (i, earlier), (j, later) in itertools.pairwise(enumerate(changes)):
            first, then = earlier.effective, later.effective
            if then <= first:
                how = "the same date as" if then == first else "before"
                msg = (
                    f"tier_changes.{j}.effective {then} is {how} "
                    f"tier_changes.{i}.effective {first}: list the changes in "
                    "date order, one per date"
                )
                raise ValueError(msg)
            if later.first_month == earlier.first_month:
                msg = (
                    f"tier_changes.{i} ({first}) and tier_changes.{j} ({then}) "
                    f"both take effect in {later.first_month:%Y-%m} (a change "
                    "applies from the first month starting on or after its "
                    "`effective` date); merge them into one"
                )
                raise ValueError(msg)
        return changes

    @field_validator("implementation_fee", "onboarding_fee")
    @classmethod
    def _fee_needs_term_start(
        cls, fee: Decimal | None, info: ValidationInfo
    ) -> Decimal | None:
        # A term_start that failed validation is not in info.data: said once.
        if fee is not None and info.data.get("term_start", date.min) is None:
            msg = "a one-off fee needs `term_start` (YYYY-MM, the term's first month)"
            raise ValueError(msg)
        return fee

    def in_force(self, month: date) -> Plan:
        """The plan with the tier changes in force in ``month`` applied.

        Parameters
        ----------
        month : date
            First day of a calendar month.

        Returns
        -------
        Plan
            ``self`` if no change applies yet; otherwise a copy with the fields
            of every change whose `TierChange.first_month` is not after
            ``month`` (later changes over earlier ones). The tier in force on
            the 1st applies to the whole month (domain-research 6.4, rule 23).

        Examples
        --------
        >>> plan = Plan(
        ...     name="S",
        ...     currency="AUD",
        ...     base_fee=500,
        ...     included_learners=100,
        ...     overage_price=5,
        ...     tier_changes=[{"effective": "2019-03-15", "included_learners": 150}],
        ... )
        >>> plan.in_force(date(2019, 3, 1)).included_learners
        100
        >>> plan.in_force(date(2019, 4, 1)).included_learners
        150
        """
        update: dict[str, object] = {}
        for change in self.tier_changes[: self.changes_in_force(month)]:
            update |= change.changes()
        return self.model_copy(update=update) if update else self

    def changes_in_force(self, month: date) -> int:
        """How many of ``tier_changes`` apply in ``month`` (0: the tier as stated).

        A change applies from its `TierChange.first_month` on (the tier in force
        on the 1st applies to the whole month; domain-research 6.4, rule 23);
        the changes are in date order, so these are the first ones.
        """
        return sum(change.first_month <= month for change in self.tier_changes)

    @property
    def one_off_fees(self) -> list[tuple[str, Decimal]]:
        """``(label, fee)`` of each one-off fee the plan states, in order."""
        fees = (
            ("implementation fee", self.implementation_fee),
            ("onboarding fee", self.onboarding_fee),
        )
        return [(label, fee) for label, fee in fees if fee is not None]


InvoiceLineKind = Literal[
    "base_subscription",
    "direct_debit_surcharge",
    "one_off",
    "overage",
    "elearning_overage",
    "minimum_spend_true_up",
    "tax",
]
LINE_KINDS: tuple[InvoiceLineKind, ...] = (
    "base_subscription",
    "direct_debit_surcharge",
    "one_off",
    "overage",
    "elearning_overage",
    "minimum_spend_true_up",
    "tax",
)
"""Invoice line kinds, in the order they appear within a month."""

IN_ADVANCE: Final[frozenset[InvoiceLineKind]] = frozenset(
    {"base_subscription", "direct_debit_surcharge", "one_off"}
)
"""Kinds invoiced in advance, on the invoice dated the first day of their service
period; every other kind is invoiced in arrears, on the invoice dated the day
after its service period ends (``reference/domain-research.md`` section 6.4,
rule 21)."""

_DERIVED = date.min
"""Default of `InvoiceLine.invoice_date`: replaced by the date rule 21 gives."""


def invoice_date_of(
    kind: InvoiceLineKind, period_start: date, period_end: date
) -> date:
    """Date of the invoice a line of ``kind`` appears on (rule 21).

    Parameters
    ----------
    kind : str
        One of `LINE_KINDS`.
    period_start, period_end : date
        The line's service period, first and last day inclusive.

    Returns
    -------
    date
        ``period_start`` for the kinds of `IN_ADVANCE` (base fee, direct-debit
        surcharge, one-off fees); otherwise the day after ``period_end``: a
        month's overage (both meters) and tax are on the invoice dated the 1st
        of the next month, a billing year's true-up on the one dated the 1st
        after the year ends (``reference/domain-research.md`` section 6.4, rules
        21 and 22; DESIGN.md section 1, Charging).

    Examples
    --------
    >>> invoice_date_of("base_subscription", date(2019, 4, 1), date(2019, 4, 30))
    datetime.date(2019, 4, 1)
    >>> invoice_date_of("overage", date(2019, 4, 1), date(2019, 4, 30))
    datetime.date(2019, 5, 1)
    """
    return period_start if kind in IN_ADVANCE else period_end + timedelta(days=1)


@dataclass(frozen=True)
class InvoiceLine:
    """One line of an invoice.

    Attributes
    ----------
    kind : str
        One of `LINE_KINDS`: what the line charges for.
    period_start, period_end : date
        Service period covered, first and last day inclusive: a calendar month,
        or a billing year for a true-up.
    quantity : int
        Months for the base fee and true-up, learners for overage (one line per
        band with graduated tiers), 1 for tax, a direct-debit surcharge and a
        one-off fee. [months] or [learners]
    unit_price : Decimal
        Price of one unit; for tax and a direct-debit surcharge, the amount the
        rate applies to. [currency]
    amount : Decimal
        ``quantity * unit_price`` (for tax and a surcharge, ``rate * unit_price``)
        rounded to cents, half-up. [currency]
    description : str
        What a reader of the invoice sees, e.g. ``"overage 101-500 @ 6.00"``.
    invoice_date : date
        Date of the invoice the line appears on. Default (left out): the date
        `invoice_date_of` gives its kind and service period (rule 21).
    """

    kind: InvoiceLineKind
    period_start: date
    period_end: date
    quantity: int
    unit_price: Decimal
    amount: Decimal
    description: str = ""
    invoice_date: date = _DERIVED

    def __post_init__(self) -> None:
        if self.invoice_date == _DERIVED:
            when = invoice_date_of(self.kind, self.period_start, self.period_end)
            object.__setattr__(self, "invoice_date", when)


@dataclass(frozen=True)
class Invoice:
    """Invoice lines for a run of months, with totals.

    Lines are kept by service month: a month's lines, then the next month's; a
    billing year's true-up belongs to its last month, and each month's tax is
    computed on that month's lines. Each line also says which invoice it is on
    (`InvoiceLine.invoice_date`); `by_invoice_date` groups them so.

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
        return self._sum(*(kind for kind in LINE_KINDS if kind != "tax"))

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

    def by_invoice_date(self) -> dict[date, list[InvoiceLine]]:
        """The lines grouped by the invoice they appear on (rule 21).

        Returns
        -------
        dict of date to list of InvoiceLine
            By `InvoiceLine.invoice_date`, earliest first; each invoice's lines
            in the order of `lines`. The invoice dated the 1st of May carries
            May's base fee (in advance) and April's overage and tax (in
            arrears). The last month's arrears are on an invoice dated after
            the period.
        """
        grouped: dict[date, list[InvoiceLine]] = {}
        for line in sorted(self.lines, key=lambda x: x.invoice_date):
            grouped.setdefault(line.invoice_date, []).append(line)
        return grouped


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

ELEARNING = "elearning_learners"
"""Optional usage column: distinct e-Learning Active Learners in the month (UInt32)."""

MONTHLY_BILL_ELEARNING_SCHEMA = pl.Schema(
    {
        **{k: v for k, v in MONTHLY_BILL_SCHEMA.items() if k != "total"},
        ELEARNING: pl.UInt32(),
        "included_elearning_learners": pl.UInt32(),
        "elearning_overage_learners": pl.UInt32(),
        "elearning_overage_amount": pl.Decimal(38, 2),
        "total": pl.Decimal(38, 2),
    }
)
"""Columns of `monthly_bill` when the usage has ``elearning_learners``."""


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
        Supplies ``included_learners`` and ``tolerance`` (as stated: for a month
        after a tier change pass `Plan.in_force` of the month).

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


def elearning_overage_learners(elearning_learners: int, plan: Plan) -> int:
    """e-Learning Active Learners above the plan's included ones in one month.

    Parameters
    ----------
    elearning_learners : int
        Distinct e-Learning Active Learners of the month. [learners]
    plan : Plan
        Supplies ``included_elearning_learners`` (`Plan.in_force` of the month
        after a tier change).

    Returns
    -------
    int
        ``max(0, elearning_learners - included_elearning_learners)``; no
        tolerance, no pooling across months (domain-research 6.4, rules 18-19).
        [learners]

    Raises
    ------
    PricingError
        If ``elearning_learners`` is negative.
    """
    if elearning_learners < 0:
        msg = f"`elearning_learners` must be >= 0, got {elearning_learners}"
        raise PricingError(msg)
    return max(0, elearning_learners - plan.included_elearning_learners)


def _bands(
    learners: int, price: Decimal | None, tiers: OverageTiers | None, label: str
) -> list[tuple[int, Decimal, str]]:
    """``learners`` of overage at a flat ``price`` or in ``tiers``, per band."""
    if learners <= 0:
        return []
    if tiers is None:
        flat = price or Decimal(0)
        return [(learners, flat, f"{label} @ {flat}")]
    if tiers.mode == "volume":
        band = next(t for t in tiers.tiers if t.up_to is None or learners <= t.up_to)
        return [(learners, band.price, f"{label}, volume band @ {band.price}")]
    bands = []
    lower = 0
    for tier in tiers.tiers:
        upper = learners if tier.up_to is None else min(learners, tier.up_to)
        if upper > lower:
            text = f"{label} {lower + 1}-{upper} @ {tier.price}"
            bands.append((upper - lower, tier.price, text))
        if tier.up_to is None or learners <= tier.up_to:
            break
        lower = tier.up_to
    return bands


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
    return _bands(learners, plan.overage_price, plan.overage_tiers, "overage")


def elearning_overage_bands(
    learners: int, plan: Plan, month: date | None = None
) -> list[tuple[int, Decimal, str]]:
    """Split a month's e-Learning overage learners into priced bands.

    Parameters
    ----------
    learners : int
        e-Learning overage learners of the month (`elearning_overage_learners`).
        [learners]
    plan : Plan
        Flat ``elearning_overage_price`` or ``elearning_overage_tiers``.
    month : date or None
        The month priced, named in the error.

    Returns
    -------
    list of (int, Decimal, str)
        As `overage_bands`, described ``"e-Learning overage ..."``.

    Raises
    ------
    PricingError
        If there is overage and the plan states no e-Learning overage price:
        such learners are never billed at zero (DESIGN.md section 1, Charging).
    """
    price, tiers = plan.elearning_overage_price, plan.elearning_overage_tiers
    if learners > 0 and price is None and tiers is None:
        when = "a month" if month is None else f"{month:%Y-%m}"
        msg = (
            f"plan {plan.name!r} states no e-Learning overage price "
            "(`elearning_overage_price` or `elearning_overage_tiers`), but "
            f"{when} has {learners} e-Learning Active Learner(s) above its "
            f"{plan.included_elearning_learners} included; give the plan a price"
        )
        raise PricingError(msg)
    return _bands(learners, price, tiers, "e-Learning overage")


def month_total(
    billable_learners: int,
    plan: Plan,
    *,
    month: date | None = None,
    elearning_learners: int | None = None,
) -> Decimal:
    """A month's charge for a count of billable learners, before tax and true-up.

    Parameters
    ----------
    billable_learners : int
        Distinct Active Learners billed in the month. [learners]
    plan : Plan
        The price book entry.
    month : date or None
        First day of the month priced: the tier in force then applies
        (`Plan.in_force`). Default: the plan's tier as stated, before any
        ``tier_changes``.
    elearning_learners : int or None
        Distinct e-Learning Active Learners of the month; None prices the LRM
        meter only. [learners]

    Returns
    -------
    Decimal
        Base fee plus overage (of both meters), each line rounded to cents
        half-up, as the month's ``total`` of `monthly_bill`; without the
        direct-debit surcharge and one-off fees, which are lines of `invoice`
        only. [``plan.currency``]

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
    terms = plan if month is None else plan.in_force(month)
    lines = _metered_lines(
        month or date(2000, 1, 1), billable_learners, elearning_learners, terms
    )
    return sum((x.amount for x in lines), Decimal("0.00"))


def _metered_lines(
    month: date, billable: int, elearning: int | None, terms: Plan
) -> list[InvoiceLine]:
    """A month's base fee and overage lines under ``terms`` (the plan in force)."""
    end = _month_end(month)
    fee = terms.base_fee
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
    priced: list[tuple[InvoiceLineKind, list[tuple[int, Decimal, str]]]] = [
        ("overage", overage_bands(overage_learners(billable, terms), terms))
    ]
    if elearning is not None:
        over = elearning_overage_learners(elearning, terms)
        priced.append(
            ("elearning_overage", elearning_overage_bands(over, terms, month))
        )
    for kind, bands in priced:
        for quantity, price, label in bands:
            amount = round_money(quantity * price)
            lines.append(InvoiceLine(kind, month, end, quantity, price, amount, label))
    return lines


def _percent(rate: Decimal) -> str:
    """``0.10`` -> ``"10"``, ``0.015`` -> ``"1.5"``."""
    return format((rate * 100).normalize(), "f")


def _term_lines(base: InvoiceLine, plan: Plan) -> list[InvoiceLine]:
    """A month's direct-debit surcharge and one-off fee lines (rules 21 and 25)."""
    month, end = base.period_start, base.period_end
    lines = []
    rate = plan.direct_debit_surcharge
    if rate is not None:
        label = f"direct-debit surcharge {_percent(rate)}% of {base.amount}"
        surcharge = round_money(base.amount * rate)
        lines.append(
            InvoiceLine(
                "direct_debit_surcharge", month, end, 1, base.amount, surcharge, label
            )
        )
    if plan.term_start == month:
        for label, fee in plan.one_off_fees:
            text = f"{label} (one-off, term starting {month:%Y-%m})"
            lines.append(
                InvoiceLine("one_off", month, end, 1, fee, round_money(fee), text)
            )
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
    counted: tuple[InvoiceLineKind, ...] = (
        ("base_subscription", "overage", "elearning_overage")
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


def _usage_rows(usage: pl.DataFrame) -> list[tuple[date, int, int | None]]:
    """``(month, billable_learners, elearning_learners or None)`` per usage row."""
    if ELEARNING not in usage.columns:
        return [
            (m, n, None) for m, n in usage.select("month", "billable_learners").rows()
        ]
    rows = usage.select("month", "billable_learners", ELEARNING).rows()
    for month, _, elearning in rows:
        if elearning is None:
            msg = f"usage: `{ELEARNING}` of {month:%Y-%m} is missing (null)"
            raise PricingError(msg)
    return rows


def invoice(usage: pl.DataFrame, plan: Plan) -> Invoice:
    """Price a run of months: every line of the plan, dated by invoice.

    Each month gets a ``base_subscription`` line (1 month at the ``base_fee``
    in force, `Plan.in_force`), a ``direct_debit_surcharge`` line if the plan
    has one, ``one_off`` lines in the ``term_start`` month, ``overage`` lines
    when there is overage (one per band used) and, when ``usage`` has
    ``elearning_learners``, ``elearning_overage`` lines likewise. A billing year
    wholly inside ``usage`` whose fees fall short of ``annual_minimum_spend``
    gets a ``minimum_spend_true_up`` line in its last month (a year only partly
    covered gets none). Each month with a ``tax_rate`` gets a ``tax`` line on
    its subtotal. Every line is rounded to cents half-up on its own, and dated
    with the invoice it is on (`invoice_date_of`).

    Parameters
    ----------
    usage : pl.DataFrame
        ``month`` Date (first day), ``billable_learners`` integer; every month of
        the period, as `meter_sim.metering.monthly_usage`. Optionally
        ``elearning_learners`` integer (e-Learning Active Learners); without it
        the e-Learning meter is not priced.
    plan : Plan
        The price book entry.

    Returns
    -------
    Invoice
        The lines and totals, in ``plan.currency``.

    Raises
    ------
    PricingError
        If a month has e-Learning overage the plan states no price for, or
        an ``elearning_learners`` value is null.

    References
    ----------
    .. [1] DESIGN.md section 1, Charging.
    .. [2] ``reference/domain-research.md`` section 6.4, rules 18-25.
    """
    rows = _usage_rows(usage)
    by_month: dict[date, list[InvoiceLine]] = {}
    for month, billable, elearning in rows:
        metered = _metered_lines(month, billable, elearning, plan.in_force(month))
        by_month[month] = [metered[0], *_term_lines(metered[0], plan), *metered[1:]]
    lines = [line for month_lines in by_month.values() for line in month_lines]
    true_ups = _true_ups(list(by_month), lines, plan)
    ordered: list[InvoiceLine] = []
    for month, month_lines in by_month.items():
        if month in true_ups:
            month_lines.append(true_ups[month])
        ordered += month_lines
        if plan.tax_rate:
            subtotal = sum((x.amount for x in month_lines), Decimal("0.00"))
            tax = round_money(subtotal * plan.tax_rate)
            label = f"{plan.tax_name} {_percent(plan.tax_rate)}% of {subtotal}"
            ordered.append(
                InvoiceLine("tax", month, _month_end(month), 1, subtotal, tax, label)
            )
    return Invoice(plan.currency, ordered)


def monthly_bill(usage: pl.DataFrame, plan: Plan) -> pl.DataFrame:
    """The month-by-month bill: usage, included and overage learners, and money.

    Parameters
    ----------
    usage : pl.DataFrame
        ``month`` Date, ``billable_learners`` integer (every month of the
        period); optionally ``elearning_learners`` integer.
    plan : Plan
        The price book entry.

    Returns
    -------
    pl.DataFrame
        Columns of `MONTHLY_BILL_SCHEMA`: ``month`` Date, ``billable_learners``,
        ``included_learners`` (the tier in force that month),
        ``overage_learners`` UInt32 [learners]; ``base_fee``,
        ``overage_amount``, ``total`` Decimal(38, 2) [``plan.currency``]. With
        ``elearning_learners`` in ``usage``, those of
        `MONTHLY_BILL_ELEARNING_SCHEMA`: also ``elearning_learners``,
        ``included_elearning_learners``, ``elearning_overage_learners``
        [learners] and ``elearning_overage_amount`` [``plan.currency``], before
        ``total``. ``total`` is base fee plus overage (both meters), before tax,
        any minimum-spend true-up, direct-debit surcharge and one-off fee (those
        are lines of `invoice`).

    Raises
    ------
    PricingError
        As `invoice`.
    """
    zero = Decimal("0.00")
    amounts: dict[tuple[date, InvoiceLineKind], Decimal] = {}
    for line in invoice(usage, plan).lines:
        key = (line.period_start, line.kind)
        amounts[key] = amounts.get(key, zero) + line.amount
    rows = []
    for month, billable, elearning in _usage_rows(usage):
        terms = plan.in_force(month)
        base = amounts.get((month, "base_subscription"), zero)
        over = amounts.get((month, "overage"), zero)
        row: dict[str, object] = {
            "month": month,
            "billable_learners": billable,
            "included_learners": terms.included_learners,
            "overage_learners": overage_learners(billable, terms),
            "base_fee": base,
            "overage_amount": over,
        }
        if elearning is not None:
            e_over = amounts.get((month, "elearning_overage"), zero)
            row |= {
                ELEARNING: elearning,
                "included_elearning_learners": terms.included_elearning_learners,
                "elearning_overage_learners": elearning_overage_learners(
                    elearning, terms
                ),
                "elearning_overage_amount": e_over,
            }
            over += e_over
        rows.append(row | {"total": base + over})
    schema = (
        MONTHLY_BILL_ELEARNING_SCHEMA
        if ELEARNING in usage.columns
        else MONTHLY_BILL_SCHEMA
    )
    return pl.DataFrame(rows, schema=schema)


def _comparison_schema(
    kinds: Sequence[InvoiceLineKind], *, elearning: bool
) -> pl.Schema:
    """Columns of `compare_plans` with an amount for each of ``kinds``."""
    money = pl.Decimal(38, 2)
    counts = ["learner_months", *(["elearning_learner_months"] * elearning)]
    columns: dict[str, pl.DataType] = {
        "plan": pl.String(),
        "name": pl.String(),
        "currency": pl.String(),
        "months": pl.UInt32(),
    }
    columns |= dict.fromkeys(counts, pl.UInt64())
    columns |= dict.fromkeys(kinds, money)
    columns |= dict.fromkeys(("total_ex_tax", "tax", "total_inc_tax"), money)
    return pl.Schema(columns)


COMPARISON_SCHEMA = _comparison_schema(
    ("base_subscription", "overage", "minimum_spend_true_up"), elearning=False
)
"""Columns of `compare_plans` for usage and plans using none of the optional
line kinds (see there)."""


def _comparison_kinds(
    usage: pl.DataFrame, plans: Mapping[str, Plan]
) -> list[InvoiceLineKind]:
    """The line kinds `compare_plans` gives a column, in `LINE_KINDS` order."""
    optional: dict[InvoiceLineKind, bool] = {
        "direct_debit_surcharge": any(
            p.direct_debit_surcharge is not None for p in plans.values()
        ),
        "one_off": any(p.one_off_fees for p in plans.values()),
        "elearning_overage": ELEARNING in usage.columns,
    }
    return [k for k in LINE_KINDS if k != "tax" and optional.get(k, True)]


def compare_plans(usage: pl.DataFrame, plans: Mapping[str, Plan]) -> pl.DataFrame:
    """Price the same usage under every plan of a price book.

    Parameters
    ----------
    usage : pl.DataFrame
        ``month`` Date, ``billable_learners`` integer (every month of the
        period); optionally ``elearning_learners`` integer.
    plans : mapping of str to Plan
        Price book entries by key (e.g. the plan file's stem).

    Returns
    -------
    pl.DataFrame
        One row per plan, cheapest total (inc tax) first: ``plan`` key,
        ``name``, ``currency``, ``months`` [months], ``learner_months``
        [learner-months], the amount of each invoice line kind, ``total_ex_tax``,
        ``tax``, ``total_inc_tax`` [each plan's currency]: the columns of
        `COMPARISON_SCHEMA`, and only when used, ``elearning_learner_months``
        after ``learner_months`` and an ``elearning_overage`` amount when
        ``usage`` has ``elearning_learners``, a ``direct_debit_surcharge`` or
        ``one_off`` amount when any plan states one (amounts in `LINE_KINDS`
        order).

    Raises
    ------
    PricingError
        As `invoice`, for any plan.
    """
    kinds = _comparison_kinds(usage, plans)
    elearning = ELEARNING in usage.columns
    counts = {"learner_months": int(usage["billable_learners"].sum())}
    if elearning:
        counts["elearning_learner_months"] = int(usage[ELEARNING].sum())
    rows: list[dict[str, object]] = []
    for key, plan in plans.items():
        bill = invoice(usage, plan)
        rows.append(
            {
                "plan": key,
                "name": plan.name,
                "currency": plan.currency,
                "months": usage.height,
                **counts,
                **{kind: bill.amount(kind) for kind in kinds},
                "total_ex_tax": bill.total_ex_tax,
                "tax": bill.tax,
                "total_inc_tax": bill.total_inc_tax,
            }
        )
    frame = pl.DataFrame(rows, schema=_comparison_schema(kinds, elearning=elearning))
    return frame.sort("total_inc_tax", "plan")


def annual_costs(usage: pl.DataFrame, plans: Mapping[str, Plan]) -> pl.DataFrame:
    """Each plan's cost per billing year of the usage.

    Parameters
    ----------
    usage : pl.DataFrame
        ``month`` Date, ``billable_learners`` integer; optionally
        ``elearning_learners`` integer.
    plans : mapping of str to Plan
        Price book entries by key.

    Returns
    -------
    pl.DataFrame
        ``plan`` String, ``name`` String, ``currency`` String, ``billing_year``
        Date (first day of the plan's billing year), ``months`` UInt32 (months of
        that year in the usage), ``total_ex_tax`` and ``total_inc_tax``
        Decimal(38, 2) [currency]; sorted by plan and year. Every line of
        `invoice` counts (both meters' overage and the plan's terms), in the
        billing year of its service period, whatever its invoice date.

    Raises
    ------
    PricingError
        As `invoice`, for any plan.
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
