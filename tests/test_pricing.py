"""Plans and invoice lines (meter_sim.pricing): Decimal money, half-up cents."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING

import polars as pl
import pytest
from pydantic import ValidationError

from meter_sim.exceptions import PricingError, ScenarioError
from meter_sim.pricing import (
    InvoiceLine,
    OverageTiers,
    Plan,
    invoice,
    monthly_bill,
    overage_learners,
    round_money,
)
from meter_sim.scenario import load_plan

if TYPE_CHECKING:
    from pathlib import Path

STANDARD = Plan(
    name="Standard",
    currency="AUD",
    base_fee=Decimal("950.00"),
    included_learners=150,
    overage_price=Decimal("7.50"),
)


def usage(*counts: tuple[date, int]) -> pl.DataFrame:
    return pl.DataFrame(
        {"month": [c[0] for c in counts], "billable_learners": [c[1] for c in counts]},
        schema={"month": pl.Date, "billable_learners": pl.UInt32},
    )


def test_round_money_is_half_up_to_cents() -> None:
    assert round_money(Decimal("7.125")) == Decimal("7.13")
    assert round_money(Decimal("2.005")) == Decimal("2.01")
    assert round_money(Decimal("2.0049")) == Decimal("2.00")
    assert round_money(Decimal("-0.005")) == Decimal("-0.01")


def test_overage_learners_never_negative_and_no_pooling() -> None:
    assert overage_learners(173, STANDARD) == 23
    assert overage_learners(150, STANDARD) == 0
    assert overage_learners(0, STANDARD) == 0
    with pytest.raises(PricingError, match="`billable_learners` must be >= 0"):
        overage_learners(-1, STANDARD)


def test_worked_example_standard_173_learners() -> None:
    """Domain research section 9: (173 - 150) x 7.50 = 172.50; base 950.00."""
    april = date(2018, 4, 1)
    lines = invoice(usage((april, 173)), STANDARD).lines
    end = date(2018, 4, 30)
    assert lines == [
        InvoiceLine(
            "base_subscription", april, end, 1, Decimal("950.00"), Decimal("950.00"),
            "base subscription",
        ),
        InvoiceLine(
            "overage", april, end, 23, Decimal("7.50"), Decimal("172.50"), "overage @ 7.50"
        ),
    ]  # fmt: skip
    bill = monthly_bill(usage((april, 173)), STANDARD)
    assert bill.row(0) == (
        april,
        173,
        150,
        23,
        Decimal("950.00"),
        Decimal("172.50"),
        Decimal("1122.50"),
    )


def test_each_month_priced_on_its_own_with_awkward_price() -> None:
    plan = Plan(
        name="Odd",
        currency="AUD",
        base_fee=Decimal(0),
        included_learners=2,
        overage_price=Decimal("7.125"),
    )
    bill = monthly_bill(
        usage((date(2018, 1, 1), 3), (date(2018, 2, 1), 0), (date(2018, 12, 1), 5)),
        plan,
    )
    # 1 x 7.125 = 7.125 -> 7.13; 3 x 7.125 = 21.375 -> 21.38 (rounded per line).
    assert bill.select("overage_learners", "overage_amount", "total").rows() == [
        (1, Decimal("7.13"), Decimal("7.13")),
        (0, Decimal("0.00"), Decimal("0.00")),
        (3, Decimal("21.38"), Decimal("21.38")),
    ]
    december = invoice(usage((date(2018, 12, 1), 5)), plan).lines
    assert december[-1].period_end == date(2018, 12, 31)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("overage_price", Decimal("-1"), "greater than or equal to 0"),
        ("overage_price", Decimal("NaN"), "finite"),
        ("base_fee", Decimal("Infinity"), "finite"),
        ("included_learners", 1.5, "valid integer"),
        ("currency", "aud", "pattern"),
    ],
)
def test_invalid_plans_are_refused(field: str, value: object, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        Plan.model_validate({"name": "x", field: value})


def test_plans_are_frozen_and_reject_unknown_keys() -> None:
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        Plan.model_validate({"name": "x", "overage": "1"})
    with pytest.raises(ValidationError, match="frozen"):
        STANDARD.base_fee = Decimal(1)  # type: ignore[misc]


def test_a_plan_must_state_every_price() -> None:
    with pytest.raises(ValidationError) as info:
        Plan.model_validate({"name": "x"})
    missing = {e["loc"][0] for e in info.value.errors() if e["type"] == "missing"}
    assert missing == {"currency", "base_fee", "included_learners"}
    fields = {"name": "x", "currency": "AUD", "base_fee": 0, "included_learners": 0}
    with pytest.raises(ValidationError, match="give exactly one of `overage_price`"):
        Plan.model_validate(fields)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("overage_price", Decimal("0.00001")),
        ("overage_price", Decimal("1e30")),
        ("included_learners", 10**20),
    ],
)
def test_absurd_values_are_refused(field: str, value: object) -> None:
    fields = {
        "name": "x",
        "currency": "AUD",
        "base_fee": Decimal(0),
        "included_learners": 0,
        "overage_price": Decimal(1),
    }
    with pytest.raises(ValidationError, match=field):
        Plan.model_validate({**fields, field: value})


# --- tiers, tolerance, minimum spend, tax (hand-worked) -----------------------------

RESEARCH_TIERS = [  # domain research section 9: 100 at 7.50, 400 at 6.00, then 4.50
    {"up_to": 100, "price": Decimal("7.50")},
    {"up_to": 500, "price": Decimal("6.00")},
    {"price": Decimal("4.50")},
]


def tiered(mode: str, **extra: object) -> Plan:
    return Plan.model_validate(
        {
            "name": mode,
            "currency": "AUD",
            "base_fee": Decimal(0),
            "included_learners": 0,
            "overage_tiers": {"mode": mode, "tiers": RESEARCH_TIERS},
            **extra,
        }
    )


def overage_total(plan: Plan, learners: int) -> Decimal:
    lines = invoice(usage((date(2018, 4, 1), learners)), plan).lines
    return sum((x.amount for x in lines if x.kind == "overage"), Decimal("0.00"))


@pytest.mark.parametrize(
    ("learners", "graduated", "volume"),
    [
        (0, "0.00", "0.00"),
        (1, "7.50", "7.50"),
        (100, "750.00", "750.00"),  # exactly at the first band's edge
        (101, "756.00", "606.00"),  # 750 + 1 x 6.00 | 101 x 6.00
        (500, "3150.00", "3000.00"),  # 750 + 400 x 6.00 | 500 x 6.00
        (501, "3154.50", "2254.50"),  # 3150 + 4.50 | 501 x 4.50
        (1000, "5400.00", "4500.00"),  # 3150 + 500 x 4.50 | 1000 x 4.50
    ],
)
def test_tier_modes_at_band_edges(learners: int, graduated: str, volume: str) -> None:
    assert overage_total(tiered("graduated"), learners) == Decimal(graduated)
    assert overage_total(tiered("volume"), learners) == Decimal(volume)


def test_graduated_bands_are_separate_invoice_lines() -> None:
    lines = invoice(usage((date(2018, 4, 1), 501)), tiered("graduated")).lines
    overage = [
        (x.quantity, x.unit_price, x.description) for x in lines if x.kind == "overage"
    ]
    assert overage == [
        (100, Decimal("7.50"), "overage 1-100 @ 7.50"),
        (400, Decimal("6.00"), "overage 101-500 @ 6.00"),
        (1, Decimal("4.50"), "overage 501-501 @ 4.50"),
    ]


def test_tolerance_waives_overage_until_exceeded() -> None:
    plan = STANDARD.model_copy(update={"tolerance": Decimal("0.05")})
    # 150 x 1.05 = 157.5: 157 learners pay nothing over base; 158 pay 8 x 7.50.
    assert overage_learners(157, plan) == 0
    assert overage_learners(158, plan) == 8
    assert overage_total(plan, 158) == Decimal("60.00")


def year_of_usage(start: date, learners: list[int]) -> pl.DataFrame:
    months = [
        date(
            start.year + (start.month - 1 + k) // 12, (start.month - 1 + k) % 12 + 1, 1
        )
        for k in range(len(learners))
    ]
    return usage(*zip(months, learners, strict=True))


MINIMUM = {
    "name": "Min",
    "currency": "AUD",
    "base_fee": Decimal("100.00"),
    "included_learners": 0,
    "overage_price": Decimal("10.00"),
    "annual_minimum_spend": Decimal("1500.00"),
}


@pytest.mark.parametrize(
    ("learner_months", "counts_overage", "true_up"),
    [
        (20, True, "100.00"),  # 1200 base + 200 overage = 1400 -> 100 short
        (20, False, "300.00"),  # only base counts: 1500 - 1200
        (40, True, None),  # 1200 + 400 = 1600 >= 1500: no true-up
        (40, False, "300.00"),
    ],
)
def test_annual_minimum_spend_true_up(
    learner_months: int, counts_overage: bool, true_up: str | None
) -> None:
    plan = Plan.model_validate(
        {**MINIMUM, "minimum_spend_counts_overage": counts_overage}
    )
    learners = [learner_months // 2, learner_months // 2] + [0] * 10
    bill = invoice(year_of_usage(date(2018, 1, 1), learners), plan)
    lines = [x for x in bill.lines if x.kind == "minimum_spend_true_up"]
    if true_up is None:
        assert lines == []
    else:
        (line,) = lines
        assert line.amount == Decimal(true_up)
        assert (line.period_start, line.period_end) == (
            date(2018, 1, 1),
            date(2018, 12, 31),
        )
        assert bill.lines[-1] is line  # December's invoice carries it
    assert bill.total_ex_tax == Decimal("1200.00") + learner_months * Decimal(
        "10.00"
    ) + (Decimal(true_up or 0))


def test_true_up_follows_the_billing_year_and_skips_partial_years() -> None:
    plan = Plan.model_validate({**MINIMUM, "billing_year_start_month": 7})
    # July 2018 .. September 2019: one complete billing year (Jul 2018 - Jun 2019),
    # then three months of the next, which gets no true-up yet.
    bill = invoice(year_of_usage(date(2018, 7, 1), [0] * 15), plan)
    (line,) = [x for x in bill.lines if x.kind == "minimum_spend_true_up"]
    assert (line.period_start, line.period_end, line.amount) == (
        date(2018, 7, 1),
        date(2019, 6, 30),
        Decimal("300.00"),
    )


def test_tax_line_on_the_research_worked_example() -> None:
    """Domain research section 9: 950.00 + 172.50 = 1122.50; GST 112.25; 1234.75."""
    plan = STANDARD.model_copy(update={"tax_rate": Decimal("0.10"), "tax_name": "GST"})
    bill = invoice(usage((date(2018, 4, 1), 173)), plan)
    tax = bill.lines[-1]
    assert (tax.kind, tax.unit_price, tax.amount) == (
        "tax",
        Decimal("1122.50"),
        Decimal("112.25"),
    )
    assert tax.description == "GST 10% of 1122.50"
    assert (bill.total_ex_tax, bill.tax, bill.total_inc_tax) == (
        Decimal("1122.50"),
        Decimal("112.25"),
        Decimal("1234.75"),
    )


def test_tax_is_rounded_half_up_per_monthly_invoice() -> None:
    plan = Plan.model_validate(
        {
            **MINIMUM,
            "base_fee": Decimal("0.05"),
            "annual_minimum_spend": None,
            "tax_rate": "0.1",
        }
    )
    bill = invoice(usage((date(2018, 1, 1), 0), (date(2018, 2, 1), 0)), plan)
    assert [x.amount for x in bill.lines if x.kind == "tax"] == [Decimal("0.01")] * 2


@pytest.mark.parametrize(
    ("tiers", "message"),
    [
        (
            [{"up_to": 100, "price": 1}, {"up_to": 50, "price": 1}, {"price": 1}],
            "increasing",
        ),
        (
            [{"up_to": 100, "price": 1}, {"up_to": 100, "price": 1}, {"price": 1}],
            "increasing",
        ),
        ([{"up_to": 100, "price": 1}], "the last tier must have no `up_to`"),
        ([{"price": 1}, {"price": 2}], "only the last tier may leave out"),
        ([], "at least 1 item"),
        ([{"up_to": 0, "price": 1}, {"price": 1}], "greater than or equal to 1"),
    ],
)
def test_bad_tiers_are_refused(tiers: list[dict[str, object]], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        OverageTiers.model_validate({"mode": "graduated", "tiers": tiers})


def test_flat_and_tiered_overage_are_exclusive() -> None:
    with pytest.raises(ValidationError, match="give exactly one of"):
        tiered("volume", overage_price=Decimal(1))


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (
            "included_learners: 1.5",
            r":4:20: included_learners: an integer expected, got 1.5",
        ),
        (
            "included_learners: -3",
            r":4:20: included_learners: greater than or equal to 0",
        ),
        (
            "included_learners: 0\noverage_price: .nan",
            r":5:16: overage_price: a finite number",
        ),
        (
            "included_learners: 0\noverage_price: -1",
            r":5:16: overage_price: greater than or equal to 0",
        ),
        (
            "included_learners: 0\noverage_tiers: {mode: volume, tiers: [{up_to: 5, price: 1}]}",
            r":5:16: overage_tiers: .*the last tier must have no `up_to`",
        ),
        (
            "included_learners: 0\noverage_tiers: {mode: stepped, tiers: [{price: 1}]}",
            r":5:23: overage_tiers.mode: .*'graduated' or 'volume'",
        ),
    ],
)
def test_plan_file_errors_name_file_line_and_field(
    tmp_path: Path, line: str, message: str
) -> None:
    path = tmp_path / "plan.yaml"
    extra = "" if "overage" in line else "\noverage_price: 1"
    path.write_text(f"name: P\ncurrency: AUD\nbase_fee: 1\n{line}{extra}\n")
    with pytest.raises(ScenarioError, match=rf"^{path}{message}"):
        load_plan(path)
