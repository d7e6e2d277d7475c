"""Plans and invoice lines (meter_sim.pricing): Decimal money, half-up cents."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import polars as pl
import pytest
from pydantic import ValidationError

from meter_sim.exceptions import PricingError
from meter_sim.pricing import (
    InvoiceLine,
    Plan,
    invoice_lines,
    monthly_bill,
    overage_learners,
    round_money,
)

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
    lines = invoice_lines(usage((april, 173)), STANDARD)
    assert lines == [
        InvoiceLine(
            "base_subscription",
            april,
            date(2018, 4, 30),
            1,
            Decimal("950.00"),
            Decimal("950.00"),
        ),
        InvoiceLine(
            "overage", april, date(2018, 4, 30), 23, Decimal("7.50"), Decimal("172.50")
        ),
    ]
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
    december = invoice_lines(usage((date(2018, 12, 1), 5)), plan)
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
    assert missing == {"currency", "base_fee", "included_learners", "overage_price"}


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
