"""Plans with both meters and the plan's terms (meter_sim.pricing; issue #15, 2 and 4).

Every expected amount is worked out by hand in the comments, from the rules of
``reference/domain-research.md`` section 6.4: rule 18 (an e-Learning tier beside
the LRM one), 21 (base fee in advance, overage in arrears on the invoice dated
the next month; a direct-debit surcharge on monthly base payments), 22 (minimum
spend), 23 (the tier in force on the 1st applies to the whole month) and 25
(one-off fees at the start of the term). Lines are rounded to cents, half-up.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from pydantic import ValidationError

from meter_sim.exceptions import PricingError, ScenarioError
from meter_sim.pricing import (
    COMPARISON_SCHEMA,
    MONTHLY_BILL_ELEARNING_SCHEMA,
    MONTHLY_BILL_SCHEMA,
    InvoiceLine,
    Plan,
    annual_costs,
    compare_plans,
    invoice,
    month_total,
    monthly_bill,
)
from meter_sim.scenario import load_plan, load_price_book

ROOT = Path(__file__).resolve().parent.parent
BOTH_METERS = ROOT / "scenarios" / "plans" / "terms" / "both-meters.yaml"
JAN, FEB, MAR, APR = (date(2019, m, 1) for m in (1, 2, 3, 4))


def usage(
    months: list[date], lrm: list[int], elearning: list[int] | None = None
) -> pl.DataFrame:
    """A usage frame as `meter_sim.metering.monthly_usage` gives it (+ e-Learning)."""
    columns: dict[str, Any] = {"month": months, "billable_learners": lrm}
    schema: dict[str, Any] = {"month": pl.Date, "billable_learners": pl.UInt32}
    if elearning is not None:
        columns["elearning_learners"] = elearning
        schema["elearning_learners"] = pl.UInt32
    return pl.DataFrame(columns, schema=schema)


def plan(**fields: Any) -> Plan:
    base = {
        "name": "P",
        "currency": "AUD",
        "base_fee": Decimal("100.00"),
        "included_learners": 10,
        "overage_price": Decimal("10.00"),
    }
    return Plan.model_validate(base | fields)


def lines_of(bill: Any) -> list[tuple[str, date, date, int, str, str]]:
    """(kind, service month, invoice date, quantity, unit price, amount) per line."""
    return [
        (
            x.kind,
            x.period_start,
            x.invoice_date,
            x.quantity,
            str(x.unit_price),
            str(x.amount),
        )
        for x in bill.lines
    ]


# --- the worked invoice of scenarios/README.md -------------------------------------

THREE_MONTHS = usage([JAN, FEB, MAR], [160, 190, 190], [45, 38, 56])
"""LRM billable learners 160, 190, 190; e-Learning Active Learners 45, 38, 56."""


def test_worked_invoice_both_meters_tier_change_arrears_surcharge_one_offs() -> None:
    """The example price book over January to March 2019, every line by hand.

    Plan (scenarios/plans/terms/both-meters.yaml): base 950.00 incl. 150 LRM
    learners, overage 7.50; 40 e-Learning learners included, e-Learning overage
    graduated 1-10 @ 4.00 then 3.00; GST 10%; direct-debit surcharge 1.75%;
    term from 2019-01 with implementation 3000.00 and onboarding 1500.00; a
    change effective 2019-02-15 to 200 learners at 1250.00.

    January (tier 150 / 950.00):
      base 950.00; surcharge 1.75% x 950.00 = 16.625 -> 16.63; one-off 3000.00
      and 1500.00; overage 160 - 150 = 10 x 7.50 = 75.00; e-Learning 45 - 40 = 5
      in band 1-10: 5 x 4.00 = 20.00. Subtotal 950 + 16.63 + 3000 + 1500 + 75 + 20
      = 5561.63; GST 556.163 -> 556.16.
    February (the change is effective on the 15th: February's 1st is before it,
    so still 150 / 950.00):
      base 950.00; surcharge 16.63; overage 190 - 150 = 40 x 7.50 = 300.00;
      e-Learning 38 <= 40: none. Subtotal 1266.63; GST 126.663 -> 126.66.
    March (1 March is after 15 February: 200 / 1250.00):
      base 1250.00; surcharge 1.75% x 1250.00 = 21.875 -> 21.88; overage 190 <=
      200: none; e-Learning 56 - 40 = 16: 10 x 4.00 = 40.00 and 6 x 3.00 = 18.00.
      Subtotal 1250 + 21.88 + 40 + 18 = 1329.88; GST 132.988 -> 132.99.
    Ex GST 5561.63 + 1266.63 + 1329.88 = 8158.14; GST 556.16 + 126.66 + 132.99
    = 815.81; inc GST 8973.95. No true-up: 2019 is not wholly in the period.
    """
    bill = invoice(THREE_MONTHS, load_plan(BOTH_METERS))
    assert lines_of(bill) == [
        ("base_subscription", JAN, JAN, 1, "950.00", "950.00"),
        ("direct_debit_surcharge", JAN, JAN, 1, "950.00", "16.63"),
        ("one_off", JAN, JAN, 1, "3000.00", "3000.00"),
        ("one_off", JAN, JAN, 1, "1500.00", "1500.00"),
        ("overage", JAN, FEB, 10, "7.50", "75.00"),
        ("elearning_overage", JAN, FEB, 5, "4.00", "20.00"),
        ("tax", JAN, FEB, 1, "5561.63", "556.16"),
        ("base_subscription", FEB, FEB, 1, "950.00", "950.00"),
        ("direct_debit_surcharge", FEB, FEB, 1, "950.00", "16.63"),
        ("overage", FEB, MAR, 40, "7.50", "300.00"),
        ("tax", FEB, MAR, 1, "1266.63", "126.66"),
        ("base_subscription", MAR, MAR, 1, "1250.00", "1250.00"),
        ("direct_debit_surcharge", MAR, MAR, 1, "1250.00", "21.88"),
        ("elearning_overage", MAR, APR, 10, "4.00", "40.00"),
        ("elearning_overage", MAR, APR, 6, "3.00", "18.00"),
        ("tax", MAR, APR, 1, "1329.88", "132.99"),
    ]
    assert [x.description for x in bill.lines if x.kind != "base_subscription"][:6] == [
        "direct-debit surcharge 1.75% of 950.00",
        "implementation fee (one-off, term starting 2019-01)",
        "onboarding fee (one-off, term starting 2019-01)",
        "overage @ 7.50",
        "e-Learning overage 1-5 @ 4.00",
        "GST 10% of 5561.63",
    ]
    assert (bill.total_ex_tax, bill.tax, bill.total_inc_tax) == (
        Decimal("8158.14"),
        Decimal("815.81"),
        Decimal("8973.95"),
    )
    # By invoice date (rule 21): 1 Jan 950 + 16.63 + 3000 + 1500 = 5466.63;
    # 1 Feb 75 + 20 + 556.16 + 950 + 16.63 = 1617.79; 1 Mar 300 + 126.66 + 1250
    # + 21.88 = 1698.54; 1 Apr 40 + 18 + 132.99 = 190.99. Sum 8973.95.
    documents = bill.by_invoice_date()
    assert {day: sum(x.amount for x in lines) for day, lines in documents.items()} == {
        JAN: Decimal("5466.63"),
        FEB: Decimal("1617.79"),
        MAR: Decimal("1698.54"),
        APR: Decimal("190.99"),
    }
    assert [(x.kind, x.period_start) for x in documents[FEB]] == [
        ("overage", JAN),
        ("elearning_overage", JAN),
        ("tax", JAN),
        ("base_subscription", FEB),
        ("direct_debit_surcharge", FEB),
    ]


def test_monthly_bill_with_both_meters() -> None:
    """The same months, month by month: the tier in force and both meters.

    total = base + LRM overage + e-Learning overage (no surcharge, one-off fees or
    tax, which are invoice lines): January 950 + 75 + 20 = 1045.00; February
    950 + 300 = 1250.00; March 1250 + 0 + 58 = 1308.00.
    """
    bill = monthly_bill(THREE_MONTHS, load_plan(BOTH_METERS))
    assert bill.schema == MONTHLY_BILL_ELEARNING_SCHEMA
    assert bill.rows() == [
        (JAN, 160, 150, 10, Decimal("950.00"), Decimal("75.00"),
         45, 40, 5, Decimal("20.00"), Decimal("1045.00")),
        (FEB, 190, 150, 40, Decimal("950.00"), Decimal("300.00"),
         38, 40, 0, Decimal("0.00"), Decimal("1250.00")),
        (MAR, 190, 200, 0, Decimal("1250.00"), Decimal("0.00"),
         56, 40, 16, Decimal("58.00"), Decimal("1308.00")),
    ]  # fmt: skip
    # month_total agrees with each month's total, given the month.
    both = load_plan(BOTH_METERS)
    assert month_total(190, both, month=MAR, elearning_learners=56) == Decimal(
        "1308.00"
    )
    # Without a month, the tier as stated: 170 learners, 950 + 20 x 7.50 + 58 =
    # 1158.00; in March's tier 1250 + 0 + 58 = 1308.00.
    assert month_total(170, both, elearning_learners=56) == Decimal("1158.00")
    assert month_total(170, both, month=MAR, elearning_learners=56) == Decimal(
        "1308.00"
    )


def test_the_example_plan_is_not_in_the_default_price_book() -> None:
    assert "both-meters" not in load_price_book(ROOT / "scenarios" / "plans")
    assert list(load_price_book(BOTH_METERS.parent)) == ["both-meters"]


# --- both meters ----------------------------------------------------------------


def test_both_meters_over_three_months_flat_prices() -> None:
    """Included 10 LRM at 100.00, overage 10.00; 5 e-Learning included, 6.00 each.

    Jan: LRM 12 -> 2 x 10 = 20.00; e-Learning 5 -> 0.   Total 120.00
    Feb: LRM 10 -> 0;              e-Learning 9 -> 4 x 6 = 24.00. Total 124.00
    Mar: LRM 15 -> 5 x 10 = 50.00; e-Learning 7 -> 2 x 6 = 12.00. Total 162.00
    Ex tax 406.00.
    """
    both = plan(included_elearning_learners=5, elearning_overage_price="6.00")
    months = usage([JAN, FEB, MAR], [12, 10, 15], [5, 9, 7])
    bill = invoice(months, both)
    assert lines_of(bill) == [
        ("base_subscription", JAN, JAN, 1, "100.00", "100.00"),
        ("overage", JAN, FEB, 2, "10.00", "20.00"),
        ("base_subscription", FEB, FEB, 1, "100.00", "100.00"),
        ("elearning_overage", FEB, MAR, 4, "6.00", "24.00"),
        ("base_subscription", MAR, MAR, 1, "100.00", "100.00"),
        ("overage", MAR, APR, 5, "10.00", "50.00"),
        ("elearning_overage", MAR, APR, 2, "6.00", "12.00"),
    ]
    assert bill.lines[3].description == "e-Learning overage @ 6.00"
    assert bill.total_ex_tax == Decimal("406.00")
    assert monthly_bill(months, both)["total"].to_list() == [
        Decimal("120.00"),
        Decimal("124.00"),
        Decimal("162.00"),
    ]


def test_elearning_volume_tiers() -> None:
    """Volume: all 12 e-Learning overage learners at the band reached (11+: 2.00)."""
    tiers = {"mode": "volume", "tiers": [{"up_to": 10, "price": 3}, {"price": 2}]}
    both = plan(elearning_overage_tiers=tiers)
    (line,) = [
        x
        for x in invoice(usage([JAN], [0], [12]), both).lines
        if x.kind != "base_subscription"
    ]
    assert (line.quantity, line.amount, line.description) == (
        12,
        Decimal("24.00"),  # 12 x 2.00
        "e-Learning overage, volume band @ 2",
    )


def test_elearning_overage_without_a_price_is_an_error_never_zero() -> None:
    lrm_only = plan(name="Standard", included_elearning_learners=20)
    # Within the included e-Learning learners there is nothing to price: fine.
    assert invoice(usage([JAN], [10], [20]), lrm_only).total_ex_tax == Decimal("100.00")
    with pytest.raises(
        PricingError,
        match=r"plan 'Standard' states no e-Learning overage price "
        r"\(`elearning_overage_price` or `elearning_overage_tiers`\), but 2019-02 has "
        r"1 e-Learning Active Learner\(s\) above its 20 included",
    ):
        invoice(usage([JAN, FEB], [10, 10], [20, 21]), lrm_only)
    with pytest.raises(PricingError, match="2019-02 has 1 e-Learning"):
        compare_plans(usage([JAN, FEB], [10, 10], [20, 21]), {"s": lrm_only})


def test_a_null_elearning_count_is_an_error() -> None:
    months = usage([JAN], [1], [0]).with_columns(
        pl.lit(None, pl.UInt32).alias("elearning_learners")
    )
    with pytest.raises(
        PricingError, match="`elearning_learners` of 2019-01 is missing"
    ):
        invoice(months, plan())


def test_without_the_elearning_column_nothing_changes() -> None:
    """A plan with every new field, on LRM-only usage, keeps today's shapes."""
    both = load_plan(BOTH_METERS)
    months = usage([JAN, FEB], [160, 190])
    assert monthly_bill(months, both).schema == MONTHLY_BILL_SCHEMA
    assert {x.kind for x in invoice(months, both).lines} == {
        "base_subscription",
        "direct_debit_surcharge",
        "one_off",
        "overage",
        "tax",
    }
    standard = plan()
    assert compare_plans(months, {"s": standard}).schema == COMPARISON_SCHEMA
    assert hash(standard) == hash(plan())  # a flat plan stays hashable


def test_compare_plans_and_annual_costs_count_both_meters() -> None:
    """Jan: LRM 12, e-Learning 9 under `plan(...)` with 5 included at 6.00.

    base 100.00, LRM overage 2 x 10 = 20.00, e-Learning 4 x 6 = 24.00: 144.00.
    The LRM-only plan gets the same usage with 9 e-Learning learners <= 20
    included: 100 + 20 = 120.00.
    """
    both = plan(included_elearning_learners=5, elearning_overage_price="6.00")
    wide = plan(included_elearning_learners=20)
    months = usage([JAN], [12], [9])
    table = compare_plans(months, {"both": both, "wide": wide})
    assert table.columns == [
        "plan", "name", "currency", "months", "learner_months",
        "elearning_learner_months", "base_subscription", "overage",
        "elearning_overage", "minimum_spend_true_up", "total_ex_tax", "tax",
        "total_inc_tax",
    ]  # fmt: skip
    assert table.select(
        "plan", "elearning_learner_months", "elearning_overage"
    ).rows() == [
        ("wide", 9, Decimal("0.00")),
        ("both", 9, Decimal("24.00")),
    ]
    assert table["total_ex_tax"].to_list() == [Decimal("120.00"), Decimal("144.00")]
    annual = annual_costs(months, {"both": both})
    assert annual["total_ex_tax"].to_list() == [Decimal("144.00")]


def test_compare_plans_adds_term_columns_only_for_plans_stating_them() -> None:
    """One-off 500.00 (term 2019-01) and a 2% surcharge on 100.00 = 2.00."""
    terms = plan(
        direct_debit_surcharge="0.02", implementation_fee=500, term_start="2019-01"
    )
    table = compare_plans(usage([JAN], [10]), {"terms": terms, "plain": plan()})
    assert table.columns[5:9] == [
        "base_subscription",
        "direct_debit_surcharge",
        "one_off",
        "overage",
    ]
    assert table.select(
        "plan", "direct_debit_surcharge", "one_off", "total_ex_tax"
    ).rows() == [
        ("plain", Decimal("0.00"), Decimal("0.00"), Decimal("100.00")),
        ("terms", Decimal("2.00"), Decimal("500.00"), Decimal("602.00")),
    ]


@pytest.mark.parametrize(
    ("elearning", "counts_overage", "true_up"),
    [
        # base 12 x 100 = 1200, LRM overage 20 x 10 = 200 (January).
        ([30], True, None),  # + e-Learning 30 x 5 = 150: 1550 >= 1500, none
        ([10], True, "50.00"),  # + 10 x 5 = 50: 1450 -> 50 short (100 without it)
        ([0], True, "100.00"),  # 1400 -> 100 short
        ([30], False, "300.00"),  # only the base counts: 1500 - 1200
    ],
)
def test_minimum_spend_counts_both_meters(
    elearning: list[int], counts_overage: bool, true_up: str | None
) -> None:
    months = [date(2019, m, 1) for m in range(1, 13)]
    both = plan(
        included_learners=0,
        elearning_overage_price=5,
        annual_minimum_spend=1500,
        minimum_spend_counts_overage=counts_overage,
        # Neither counts toward the minimum: 12 x 2.00 surcharge, 400.00 one-off.
        direct_debit_surcharge="0.02",
        onboarding_fee=400,
        term_start="2019-01",
    )
    bill = invoice(usage(months, [20] + [0] * 11, elearning + [0] * 11), both)
    found = [x for x in bill.lines if x.kind == "minimum_spend_true_up"]
    assert [str(x.amount) for x in found] == ([true_up] if true_up else [])
    if found:
        # Dated with the invoice after the year ends (arrears, rule 22).
        assert (found[0].period_start, found[0].invoice_date) == (JAN, date(2020, 1, 1))


# --- tier changes (rule 23) -----------------------------------------------------


@pytest.mark.parametrize(
    ("effective", "first_month"),
    [
        ("2019-02-15", MAR),  # 1 February is before the 15th: from March
        ("2019-02-01", FEB),  # in force on 1 February: from February
        ("2019-02-28", MAR),
        ("2019-01-02", FEB),
    ],
)
def test_a_tier_change_applies_from_the_first_month_starting_on_or_after_it(
    effective: str, first_month: date
) -> None:
    """10 included at 100.00 -> 20 included at 150.00; 15 learners every month.

    Before: 100.00 + 5 x 10.00 = 150.00. From the change: 150.00 (15 <= 20).
    """
    changed = plan(
        tier_changes=[
            {"effective": effective, "included_learners": 20, "base_fee": 150}
        ]
    )
    assert changed.tier_changes[0].first_month == first_month
    bill = monthly_bill(usage([JAN, FEB, MAR], [15, 15, 15]), changed)
    expected = {
        m: (20, Decimal("150.00"), Decimal("0.00"))
        if m >= first_month
        else (10, Decimal("100.00"), Decimal("50.00"))
        for m in (JAN, FEB, MAR)
    }
    assert {
        row["month"]: (row["included_learners"], row["base_fee"], row["overage_amount"])
        for row in bill.iter_rows(named=True)
    } == expected


def test_tier_changes_accumulate_and_replace_the_price_form() -> None:
    """Jan: as stated. Feb: 20 included (change 1). Mar: also graduated tiers.

    15, 25, 25 learners: Jan 100 + 5 x 10 = 150.00; Feb 100 + 5 x 10 = 150.00;
    Mar 100 + graduated 1-3 @ 2.00 = 6.00 and 4-5 @ 1.00 = 2.00: 108.00.
    """
    changed = plan(
        tier_changes=[
            {"effective": "2019-02-01", "included_learners": 20},
            {
                "effective": "2019-02-20",
                "overage_tiers": {
                    "mode": "graduated",
                    "tiers": [{"up_to": 3, "price": 2}, {"price": 1}],
                },
            },
        ]
    )
    march = changed.in_force(MAR)
    assert (march.included_learners, march.overage_price) == (20, None)
    assert changed.in_force(JAN) is changed
    bill = monthly_bill(usage([JAN, FEB, MAR], [15, 25, 25]), changed)
    assert bill["total"].to_list() == [
        Decimal("150.00"),
        Decimal("150.00"),
        Decimal("108.00"),
    ]


def test_an_elearning_tier_change() -> None:
    """From March 30 e-Learning learners are included: 33 -> 3 x 4.00 = 12.00."""
    changed = plan(
        included_elearning_learners=10,
        elearning_overage_price=4,
        tier_changes=[{"effective": "2019-03-01", "included_elearning_learners": 30}],
    )
    bill = monthly_bill(usage([FEB, MAR], [0, 0], [33, 33]), changed)
    assert bill["elearning_overage_amount"].to_list() == [
        Decimal("92.00"),  # 23 x 4.00
        Decimal("12.00"),
    ]


# --- invoice timing (rule 21) ---------------------------------------------------


def test_overage_is_in_arrears_and_the_base_fee_in_advance() -> None:
    """December's overage is on the invoice of 1 January, after the period."""
    dec = date(2018, 12, 1)
    bill = invoice(usage([dec], [12]), plan(tax_rate="0.1"))
    assert [(x.kind, x.invoice_date) for x in bill.lines] == [
        ("base_subscription", dec),
        ("overage", JAN),
        ("tax", JAN),  # the month's tax goes with its last charges
    ]
    assert list(bill.by_invoice_date()) == [dec, JAN]


def test_invoice_date_defaults_by_kind_when_a_line_is_written_by_hand() -> None:
    end = date(2019, 1, 31)
    base = InvoiceLine("base_subscription", JAN, end, 1, Decimal(1), Decimal(1))
    over = InvoiceLine("elearning_overage", JAN, end, 1, Decimal(1), Decimal(1))
    given = InvoiceLine("overage", JAN, end, 1, Decimal(1), Decimal(1), "", MAR)
    assert (base.invoice_date, over.invoice_date, given.invoice_date) == (JAN, FEB, MAR)


# --- direct-debit surcharge and one-off fees (rules 21, 25) ---------------------


def test_direct_debit_surcharge_is_a_fraction_of_each_base_fee() -> None:
    """1.5% of 99.99 = 1.49985 -> 1.50 (half-up, its own line, in advance)."""
    surcharged = plan(base_fee="99.99", direct_debit_surcharge="0.015")
    (line,) = [
        x for x in invoice(usage([JAN], [0]), surcharged).lines
        if x.kind == "direct_debit_surcharge"
    ]  # fmt: skip
    assert (line.unit_price, line.amount, line.invoice_date, line.description) == (
        Decimal("99.99"),
        Decimal("1.50"),
        JAN,
        "direct-debit surcharge 1.5% of 99.99",
    )


@pytest.mark.parametrize(
    ("term_start", "one_off_months"),
    [
        ("2019-02", [FEB]),  # in the period: in its first month only
        ("2018-12", []),  # began before the period: billed before it
        ("2019-04", []),  # after the period
    ],
)
def test_one_off_fees_only_in_the_term_start_month_when_billed(
    term_start: str, one_off_months: list[date]
) -> None:
    fees = plan(implementation_fee="2000.005", onboarding_fee=0, term_start=term_start)
    lines = invoice(usage([JAN, FEB, MAR], [0, 0, 0]), fees).lines
    one_off = [
        (x.period_start, x.invoice_date, x.amount) for x in lines if x.kind == "one_off"
    ]
    # 2000.005 -> 2000.01 (half-up); an onboarding fee of 0 is still shown.
    assert one_off == [
        (m, m, amount)
        for m in one_off_months
        for amount in (Decimal("2000.01"), Decimal("0.00"))
    ]


# --- bad price books ------------------------------------------------------------

CHANGE = "tier_changes:\n  - {effective: 2019-03-15, included_learners: 20}\n"


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            CHANGE + "  - {effective: 2019-03-01, base_fee: 5}\n",
            r":7:3: tier_changes: tier_changes\.1\.effective 2019-03-01 is before "
            r"tier_changes\.0\.effective 2019-03-15: list the changes in date order",
        ),
        (
            CHANGE + "  - {effective: 2019-03-15, base_fee: 5}\n",
            r":7:3: tier_changes: tier_changes\.1\.effective 2019-03-15 is the same "
            r"date as tier_changes\.0\.effective 2019-03-15",
        ),
        (
            CHANGE + "  - {effective: 2019-03-20, base_fee: 5}\n",
            r":7:3: tier_changes: tier_changes\.0 \(2019-03-15\) and tier_changes\.1 "
            r"\(2019-03-20\) both take effect in 2019-04 .*; merge them into one",
        ),
        (
            "tier_changes:\n  - {effective: 2019-3-15, base_fee: 5}\n",
            r":7:17: tier_changes\.0\.effective: a date YYYY-MM-DD expected, e\.g\. "
            r"2019-03-15, got '2019-3-15'",
        ),
        (
            "tier_changes:\n  - {effective: 2019-02-30, base_fee: 5}\n",
            r":7:17: tier_changes\.0\.effective: a date that exists expected",
        ),
        (
            "tier_changes:\n  - {effective: 2500-02-01, base_fee: 5}\n",
            r":7:17: tier_changes\.0\.effective: a date in the years 1900 to 2199",
        ),
        (
            "tier_changes:\n  - {effective: 2019-02-01}\n",
            r":7:5: tier_changes\.0: a tier change must set at least one of "
            r"`base_fee`, `included_learners`",
        ),
        (
            "tier_changes:\n  - {effective: 2019-02-01, overage_price: 1, "
            "overage_tiers: {mode: volume, tiers: [{price: 1}]}}\n",
            r":7:5: tier_changes\.0: give at most one of `overage_price` \(flat\) "
            r"and `overage_tiers`",
        ),
        (
            "tier_changes:\n  - {effective: 2019-02-01, tolerance: 0.1}\n",
            r":7:29: tier_changes\.0\.tolerance: unknown key `tolerance`; expected "
            r"one of effective, base_fee",
        ),
        (
            "implementation_fee: 3000\n",
            r":6:21: implementation_fee: a one-off fee needs `term_start` "
            r"\(YYYY-MM, the term's first month\), got 3000",
        ),
        (
            "term_start: 2019-13\nonboarding_fee: 100\n",  # said once, at term_start
            r":6:13: term_start: a month YYYY-MM expected, e\.g\. 2018-04, got "
            r"'2019-13'\n(?!.*onboarding_fee)",
        ),
        (
            "direct_debit_surcharge: 1.5\n",
            r":6:25: direct_debit_surcharge: less than or equal to 1 expected",
        ),
        (
            "elearning_overage_price: 1\n"
            "elearning_overage_tiers: {mode: volume, tiers: [{price: 1}]}\n",
            r":7:26: elearning_overage_tiers: give at most one of "
            r"`elearning_overage_price` \(flat\) and `elearning_overage_tiers`",
        ),
        (
            "included_elearning_learners: -1\n",
            r":6:30: included_elearning_learners: greater than or equal to 0",
        ),
    ],
)
def test_bad_price_books_name_file_line_and_field(
    tmp_path: Path, extra: str, message: str
) -> None:
    path = tmp_path / "plan.yaml"
    path.write_text(
        "name: P\ncurrency: AUD\nbase_fee: 1\nincluded_learners: 0\n"
        f"overage_price: 1\n{extra}"
    )
    with pytest.raises(ScenarioError, match=rf"^{path}{message}") as info:
        load_plan(path)
    assert str(info.value).count(str(path)) == 1  # one problem, one place


def test_a_python_plan_refuses_the_same_mistakes() -> None:
    with pytest.raises(ValidationError, match=r"is before tier_changes\.0\.effective"):
        plan(
            tier_changes=[
                {"effective": date(2019, 3, 1), "base_fee": 1},
                {"effective": date(2019, 1, 1), "base_fee": 2},
            ]
        )
    with pytest.raises(ValidationError, match="a month YYYY-MM expected"):
        plan(term_start=date(2019, 1, 15), onboarding_fee=1)
