"""The billing run (meter_sim.billing) on the vendor's April-to-July example."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest

from meter_sim.billing import bill, run_scenario
from meter_sim.exceptions import LogFormatError
from meter_sim.lifecycle import Outcome
from meter_sim.logs import parse_status_log
from meter_sim.pricing import Plan
from meter_sim.scenario import load_scenario
from tests.helpers import status_log

EXAMPLE = Path(__file__).parents[1] / "scenarios" / "april-to-july.yaml"


def months(result_months: pl.DataFrame, learner: str) -> list[str]:
    rows = result_months.filter(pl.col("learner_id") == learner)["month"]
    return [f"{m:%Y-%m}" for m in rows]


def test_faq_example_bills_exactly_the_months_the_vendor_says() -> None:
    result = run_scenario(load_scenario(EXAMPLE))
    july_on = [f"2018-{m:02d}" for m in range(7, 13)]
    assert months(result.learner_months, "L1") == ["2018-04", *july_on]
    assert months(result.learner_months, "L2") == ["2018-04", "2018-05", *july_on]
    usage = dict(result.monthly.select("month", "billable_learners").rows())
    assert usage[date(2018, 6, 1)] == 0
    assert usage[date(2018, 5, 1)] == 1
    # Starter plan: 45.00 a month, no included learners, 9.00 per learner-month.
    # 9 months x 45.00 + 15 learner-months x 9.00 = 405.00 + 135.00 = 540.00.
    assert result.monthly["total"].sum() == Decimal("540.00")
    assert (result.first_month, result.last_month) == (
        date(2018, 4, 1),
        date(2018, 12, 1),
    )


def test_faq_example_rejects_the_may_email_and_nothing_else() -> None:
    result = run_scenario(load_scenario(EXAMPLE))
    assert result.activity is not None
    rejected = result.activity.filter(
        pl.col("outcome") == str(Outcome.REJECTED_INACTIVE)
    )
    assert rejected.select("learner_id", "activity").rows() == [("L2", "message")]
    assert result.rejected.height == 1
    assert "learner 'L2' is inactive" in result.rejected["reason"].item()
    assert result.inputs.select(
        (pl.col("rows_read") == pl.col("rows_used") + pl.col("rows_rejected")).all()
    ).item()


def test_default_period_is_first_to_last_row_and_checks() -> None:
    from datetime import UTC, datetime

    log = status_log(
        ("A", datetime(2018, 2, 27, 13, 30, tzinfo=UTC), True),  # 28 Feb 00:30 Sydney
        ("A", datetime(2018, 4, 30, 14, 30, tzinfo=UTC), False),  # 1 May 00:30 Sydney
    )
    plan = Plan(
        name="p",
        currency="AUD",
        base_fee=Decimal(0),
        included_learners=0,
        overage_price=Decimal("1.00"),
    )
    result = bill(log, plan=plan)
    assert (result.first_month, result.last_month) == (
        date(2018, 2, 1),
        date(2018, 5, 1),
    )
    assert result.monthly["billable_learners"].to_list() == [1, 1, 1, 1]
    with pytest.raises(LogFormatError, match="unknown IANA time zone"):
        bill(log, plan=plan, timezone="Nowhere/Land")
    with pytest.raises(LogFormatError, match="is after"):
        bill(log, plan=plan, first_month=date(2018, 5, 1), last_month=date(2018, 4, 1))
    empty = parse_status_log(
        pl.DataFrame(
            schema={
                "learner_id": pl.String,
                "changed_at": pl.String,
                "is_active": pl.String,
            }
        ),
        "empty.csv",
    )
    with pytest.raises(LogFormatError, match="no rows; nothing to bill"):
        bill(empty, plan=plan)
    assert bill(
        empty, plan=plan, first_month=date(2018, 1, 1), last_month=date(2018, 2, 1)
    ).monthly["billable_learners"].to_list() == [0, 0]
