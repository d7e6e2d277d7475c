"""The example of ``examples/provider-year/``: reproducible, and its faults are found.

``generate.py`` there writes a training provider's year of logs and a vendor report
and invoice with planted faults; its constants name the planted learners and months.
The expectations here are worked out from those constants and the plan, not copied
from a reconcile run:

- (d) February and March counted in UTC: the edge learner is billed in February
  (``billed_not_active``) instead of March (``active_not_billed``), +1 and -1;
- (b) April: one Active learner not invoiced (-1);
- (a) September: one learner invoiced though never Active (+1);
- (c) November: the count is right, the overage priced at the wrong rate.

Every other month matches, and undoing exactly these faults makes the invoice match.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl
import pytest
from typer.testing import CliRunner

from meter_sim import load_plan, read_activity_log, read_status_log
from meter_sim.cli import app
from meter_sim.pricing import month_total, overage_learners
from meter_sim.reconcile import read_invoice, read_vendor_report, reconcile

if TYPE_CHECKING:
    from types import ModuleType

    from meter_sim.reconcile import Reconciliation

EXAMPLE = Path(__file__).parents[1] / "examples" / "provider-year"
FILES = ("status.csv", "activity.csv", "vendor-report.csv", "invoice.csv")
PLAN_FILE = Path(__file__).parents[1] / "scenarios" / "plans" / "standard.yaml"


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "provider_year_generate", EXAMPLE / "generate.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


g = _generator()
MONTHS = [date(2026, m, 1) for m in range(1, 13)]
FEBRUARY, MARCH = g.UTC_MONTHS
PLANTED_DIFFERENCES = {
    FEBRUARY: 1,  # (d) the edge learner counted in February
    MARCH: -1,  # (d) ... and so not in March
    g.ACTIVE_NOT_BILLED[0]: -1,  # (b)
    g.BILLED_NOT_ACTIVE[0]: 1,  # (a)
}
"""Invoiced minus expected learners in the months whose count is wrong."""
FAULTY_MONTHS = {*PLANTED_DIFFERENCES, g.WRONG_RATE_MONTH}


def reconcile_cli(folder: Path, *extra: str) -> tuple[int, str]:
    result = CliRunner().invoke(
        app,
        [
            "reconcile",
            "--status", str(folder / "status.csv"),
            "--activity", str(folder / "activity.csv"),
            "--invoice", str(folder / "invoice.csv"),
            "--vendor-report", str(folder / "vendor-report.csv"),
            "--plan", str(PLAN_FILE),
            *extra,
        ],
    )  # fmt: skip
    return result.exit_code, result.stdout


@pytest.fixture(scope="module")
def checked() -> Reconciliation:
    return reconcile(
        read_status_log(EXAMPLE / "status.csv"),
        read_invoice(EXAMPLE / "invoice.csv"),
        plan=load_plan(PLAN_FILE),
        timezone=g.TIMEZONE,
        activity=read_activity_log(EXAMPLE / "activity.csv"),
        vendor_report=read_vendor_report(EXAMPLE / "vendor-report.csv"),
    )


def test_generate_reproduces_the_committed_files(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(EXAMPLE / "generate.py"), str(tmp_path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(FILES)
    for name in FILES:
        assert (tmp_path / name).read_bytes() == (EXAMPLE / name).read_bytes(), name


def test_the_files_are_small() -> None:
    assert sum((EXAMPLE / name).stat().st_size for name in FILES) < 500_000


def test_every_input_row_is_used(checked: Reconciliation) -> None:
    # Only the planted activity on an inactive learner is rejected.
    assert checked.rejected.height == 1
    for label, read, used, rejected in checked.inputs.iter_rows():
        assert read == used + rejected
        assert rejected == (1 if "(activity log)" in label else 0), label


def test_exactly_the_planted_months_differ(checked: Reconciliation) -> None:
    months = checked.months
    assert months["month"].to_list() == MONTHS
    verdicts = dict(
        months.select("month", pl.col("verdict").cast(pl.String)).iter_rows()
    )
    assert verdicts == {m: "differs" if m in FAULTY_MONTHS else "ok" for m in MONTHS}
    differences = dict(months.select("month", "learner_difference").iter_rows())
    assert differences == {m: PLANTED_DIFFERENCES.get(m, 0) for m in MONTHS}
    # The invoice agrees with the vendor's report in every month.
    assert (months["vendor_report_learners"] == months["invoiced_learners"]).all()


def test_the_utc_months_are_explained(checked: Reconciliation) -> None:
    findings = dict(checked.months.select("month", "findings").iter_rows())
    for month in MONTHS:
        in_utc = "with months in UTC" in findings[month]
        assert in_utc == (month in g.UTC_MONTHS), month
    utc = dict(checked.months.select("month", "utc_learners").iter_rows())
    invoiced = dict(checked.months.select("month", "invoiced_learners").iter_rows())
    assert all(utc[m] == invoiced[m] for m in g.UTC_MONTHS)


def test_exactly_the_planted_learner_months_differ(checked: Reconciliation) -> None:
    differing = checked.learner_months.filter(pl.col("verdict") != "billed_ok")
    got = {
        (month, learner, str(verdict))
        for month, learner, verdict in differing.select(
            "month", "learner_id", "verdict"
        ).iter_rows()
    }
    assert got == {
        (FEBRUARY, g.EDGE_LEARNER, "billed_not_active"),
        (MARCH, g.EDGE_LEARNER, "active_not_billed"),
        (*g.ACTIVE_NOT_BILLED, "active_not_billed"),
        (*g.BILLED_NOT_ACTIVE, "billed_not_active"),
    }


def test_the_amounts_differ_by_the_planted_money(checked: Reconciliation) -> None:
    plan = checked.expected.plan
    assert plan.overage_price is not None
    expected = dict(checked.months.select("month", "expected_learners").iter_rows())
    amount_difference = dict(
        checked.months.select("month", "amount_difference").iter_rows()
    )
    wrong = g.WRONG_RATE_MONTH
    planted = {
        m: month_total(n + PLANTED_DIFFERENCES.get(m, 0), plan) - month_total(n, plan)
        for m, n in expected.items()
    }
    planted[wrong] = overage_learners(expected[wrong], plan) * (
        g.WRONG_RATE - plan.overage_price
    )
    assert amount_difference == planted
    # September is above the included learners: its extra learner costs 7.50.
    assert planted[g.BILLED_NOT_ACTIVE[0]] == plan.overage_price == Decimal("7.50")
    assert (
        f"are priced at {g.WRONG_RATE} each"
        in checked.months.filter(pl.col("month") == wrong)["findings"].item()
    )


def test_the_activity_while_inactive_is_the_planted_one(
    checked: Reconciliation,
) -> None:
    learner, at, activity, channel = g.INACTIVE_ACTIVITY
    found = checked.activity_while_inactive
    assert found.select("learner_id", "activity", "channel").rows() == [
        (learner, activity, channel)
    ]
    assert found["occurred_at"].item() == datetime.fromisoformat(at)


def test_the_savings_name_the_duplicate_and_the_wasted_reactivation(
    checked: Reconciliation,
) -> None:
    savings = checked.savings
    first, second = g.DUPLICATE
    billed = checked.expected.learner_months
    both = set(billed.filter(pl.col("learner_id") == first)["month"]) & set(
        billed.filter(pl.col("learner_id") == second)["month"]
    )
    duplicates = savings.filter(pl.col("finding") == "possible_duplicate")
    assert set(duplicates["learner_id"]) == {second}
    assert set(duplicates["billing_month"]) == both
    wasted = savings.filter(pl.col("finding") == "wasted_reactivation")
    reactivated = datetime.fromisoformat(g.WASTED_STATUS[0][0])
    assert wasted.select("billing_month", "learner_id").rows() == [
        (date(reactivated.year, reactivated.month, 1), g.WASTED_LEARNER)
    ]


def test_the_cli_reports_the_faults() -> None:
    code, out = reconcile_cli(EXAMPLE, "--format", "csv")
    assert code == 1
    verdicts = pl.read_csv(out.encode()).select("month", "verdict")
    assert [m for m, v in verdicts.iter_rows() if v != "ok"] == sorted(
        f"{m:%Y-%m}" for m in FAULTY_MONTHS
    )


def test_undoing_the_planted_faults_makes_the_invoice_match(tmp_path: Path) -> None:
    plan = load_plan(PLAN_FILE)
    report = pl.read_csv(EXAMPLE / "vendor-report.csv", infer_schema=False)
    fixed_flags = {
        (f"{FEBRUARY:%Y-%m}", g.EDGE_LEARNER): "N",
        (f"{MARCH:%Y-%m}", g.EDGE_LEARNER): "Y",
        (f"{g.ACTIVE_NOT_BILLED[0]:%Y-%m}", g.ACTIVE_NOT_BILLED[1]): "Y",
        (f"{g.BILLED_NOT_ACTIVE[0]:%Y-%m}", g.BILLED_NOT_ACTIVE[1]): "N",
    }
    fixes = pl.DataFrame(
        [(*key, flag) for key, flag in fixed_flags.items()],
        schema=["billing_month", "learner_id", "billable_in_month"],
        orient="row",
    )
    assert report.join(fixes, on=list(fixes.columns), how="semi").is_empty()
    fixed = report.update(fixes, on=["billing_month", "learner_id"])
    counts = fixed.group_by(
        pl.col("billing_month").alias("month"), maintain_order=True
    ).agg((pl.col("billable_in_month") == "Y").sum().alias("billable_learners"))
    invoice = counts.with_columns(
        pl.col("billable_learners")
        .map_elements(lambda n: str(month_total(n, plan)), return_dtype=pl.String)
        .alias("amount")
    )
    fixed.write_csv(tmp_path / "vendor-report.csv")
    invoice.write_csv(tmp_path / "invoice.csv")
    for name in ("status.csv", "activity.csv"):
        (tmp_path / name).write_bytes((EXAMPLE / name).read_bytes())
    code, out = reconcile_cli(tmp_path)
    assert code == 0, out
    assert "The invoice matches the logs: every month is ok." in out
