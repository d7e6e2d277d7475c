"""The ``meter-sim`` command (meter_sim.cli): output shapes and exit statuses."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING

import polars as pl
import pytest
from typer.testing import CliRunner

from meter_sim.cli import app
from tests.helpers import REAL_OULAD, needs_real_oulad

if TYPE_CHECKING:
    from pathlib import Path

runner = CliRunner()

STATUS = (
    "learner_id,changed_at,is_active\n"
    "L1,2018-04-11T10:00:00+10:00,yes\n"
    "L1,2018-04-11T16:00:00+10:00,no\n"
    "L1,2018-04-11T16:00:00+10:00,no\n"
    "L2,2018-04-11T10:00:00+10:00,yes\n"
    "L1,2018-07-02T09:00:00+10:00,yes\n"
)
ACTIVITY = (
    "learner_id,occurred_at,activity\n"
    "L1,2018-05-10T10:00:00+10:00,message\n"
    "L1,2018-05-10T10:00:00+10:00,view\n"
)


@pytest.fixture
def status_csv(tmp_path: Path) -> Path:
    path = tmp_path / "status.csv"
    path.write_text(STATUS)
    return path


def invoke(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_bill_json_follows_the_design_to_the_letter(
    status_csv: Path, tmp_path: Path
) -> None:
    activity = tmp_path / "activity.csv"
    activity.write_text(ACTIVITY)
    code, out, _ = invoke(
        "bill", str(status_csv), "--activity", str(activity),
        "--included", "1", "--overage-price", "7.50", "--format", "json",
    )  # fmt: skip
    assert code == 0
    document = json.loads(out)
    assert list(document) == [
        "timezone", "currency", "months", "learner_months", "rejected", "invoice"
    ]  # fmt: skip
    invoice = document["invoice"]
    assert (invoice["total_ex_tax"], invoice["tax"], invoice["total_inc_tax"]) == (
        "15.00", "0.00", "15.00"
    )  # fmt: skip
    assert invoice["lines"][1] == {
        "kind": "overage", "period_start": "2018-04-01", "period_end": "2018-04-30",
        "quantity": 1, "unit_price": "7.50", "amount": "7.50", "description": "overage @ 7.50",
    }  # fmt: skip
    assert document["timezone"] == "Australia/Sydney"
    assert document["currency"] == "AUD"
    # April: L1 and L2 created; May, June: L2 carried over; July: both.
    assert document["months"] == [
        {"month": "2018-04", "billable_learners": 2, "included_learners": 1,
         "overage_learners": 1, "base_fee": "0.00", "overage_amount": "7.50", "total": "7.50"},
        {"month": "2018-05", "billable_learners": 1, "included_learners": 1,
         "overage_learners": 0, "base_fee": "0.00", "overage_amount": "0.00", "total": "0.00"},
        {"month": "2018-06", "billable_learners": 1, "included_learners": 1,
         "overage_learners": 0, "base_fee": "0.00", "overage_amount": "0.00", "total": "0.00"},
        {"month": "2018-07", "billable_learners": 2, "included_learners": 1,
         "overage_learners": 1, "base_fee": "0.00", "overage_amount": "7.50", "total": "7.50"},
    ]  # fmt: skip
    assert document["learner_months"] == [
        {"learner_id": "L1", "month": "2018-04", "reason": "created_active"},
        {"learner_id": "L1", "month": "2018-07", "reason": "reactivated"},
        {"learner_id": "L2", "month": "2018-04", "reason": "created_active"},
        {"learner_id": "L2", "month": "2018-05", "reason": "carried_over"},
        {"learner_id": "L2", "month": "2018-06", "reason": "carried_over"},
        {"learner_id": "L2", "month": "2018-07", "reason": "carried_over"},
    ]
    assert document["rejected"] == [
        {"source": str(activity), "line": 2, "reason": (
            "activity `message` via `ui` at 2018-05-10T10:00:00+10:00 rejected: "
            "learner 'L1' is inactive (status line 3)")},
        {"source": str(status_csv), "line": 4, "reason": "duplicate of line 3; counted once"},
    ]  # fmt: skip


def test_bill_period_options_and_csv(status_csv: Path) -> None:
    code, out, _ = invoke(
        "bill",
        str(status_csv),
        "--from",
        "2018-06",
        "--through",
        "2018-08",
        "--format",
        "csv",
    )
    assert code == 0
    assert out.splitlines() == [
        "month,billable_learners,included_learners,overage_learners,base_fee,overage_amount,total",
        "2018-06,1,0,1,0.00,0.00,0.00",
        "2018-07,2,0,2,0.00,0.00,0.00",
        "2018-08,2,0,2,0.00,0.00,0.00",
    ]


def test_bill_writes_learner_months_instead_of_printing(
    status_csv: Path, tmp_path: Path
) -> None:
    target = tmp_path / "months.parquet"
    code, out, _ = invoke(
        "bill", str(status_csv), "--learner-months", str(target), "--format", "json"
    )
    assert code == 0
    assert "learner_months" not in json.loads(out)
    written = pl.read_parquet(target)
    assert written.height == 6  # L1: Apr, Jul; L2: Apr..Jul
    assert written.filter(pl.col("learner_id") == "L1")["month"].to_list() == [
        date(2018, 4, 1),
        date(2018, 7, 1),
    ]
    csv_target = tmp_path / "months.csv"
    assert invoke("bill", str(status_csv), "--learner-months", str(csv_target))[0] == 0
    assert csv_target.read_text().splitlines()[:2] == [
        "learner_id,month,reason",
        "L1,2018-04,created_active",
    ]


def test_bill_table_shows_bill_learners_and_accounting(status_csv: Path) -> None:
    code, out, _ = invoke(
        "bill", str(status_csv), "--included", "0", "--overage-price", "2"
    )
    assert code == 0
    assert "Monthly bill" in out
    assert "Total for the period: AUD 12.00" in out  # 2 + 1 + 1 + 2 learners x 2.00
    assert "status.csv (status log): 5 rows read, 4 used, 1 rejected" in " ".join(
        out.split()
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--format", "xml"], "'xml' is not one of 'table', 'csv', 'json'"),
        (["--from", "2018/04"], "expected a month as YYYY-MM"),
        (["--overage-price", "-1"], "non-negative decimal"),
        (["--overage-price", "abc"], "non-negative decimal"),
        (["--timezone", "Mars/Base"], "unknown IANA time zone 'Mars/Base'"),
        (["--naive-timezone", "Nowhere"], "unknown IANA time zone 'Nowhere'"),
        (["--from", "2018-08", "--through", "2018-07"], "is after `--through`"),
        (["--learner-months", "out.xlsx"], "unknown file type '.xlsx'"),
    ],
)
def test_bad_options_exit_2_with_a_clear_message(
    status_csv: Path, args: list[str], message: str
) -> None:
    code, out, err = invoke("bill", str(status_csv), *args)
    assert code == 2
    assert message in " ".join((out + err).replace("│", " ").split())
    assert "Traceback" not in out + err


def test_bad_input_file_exits_2_naming_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "status.csv"
    path.write_text("learner_id,changed_at,is_active\nL1,2018-04-11 10:00,yes\n")
    code, out, err = invoke("bill", str(path))
    assert code == 2
    assert f"{path}:2: `changed_at`: time has no UTC offset" in " ".join(err.split())
    assert out == ""


EXAMPLE = "scenarios/april-to-july.yaml"


def test_run_scenario_table_and_learners() -> None:
    code, out, _ = invoke("run", EXAMPLE, "--learners")
    assert code == 0
    text = " ".join(out.split())
    assert "Monthly bill: Starter, AUD" in text
    assert "Total for the period: AUD 540.00" in text
    assert "2018-06 │ 0 │ 0 │ 0 │ 45.00 │ 0.00 │ 45.00" in text
    assert "L2 │ 2018-05 │ reactivated" in text
    assert "learner 'L2' is inactive" in text


def test_run_scenario_json_and_csv() -> None:
    code, out, _ = invoke("run", EXAMPLE, "--format", "json")
    assert code == 0
    document = json.loads(out)
    assert list(document) == ["timezone", "currency", "months", "rejected", "invoice"]
    assert [m["billable_learners"] for m in document["months"]] == [
        2,
        1,
        0,
        2,
        2,
        2,
        2,
        2,
        2,
    ]
    code, out, _ = invoke("run", EXAMPLE, "--format", "csv", "--learners")
    assert out.splitlines()[:3] == [
        "learner_id,month,reason",
        "L1,2018-04,created_active",
        "L1,2018-07,reactivated",
    ]


def test_run_bad_scenario_exits_2_with_position(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("name: x\ntimezone: Australia/Sydney\nlearners: []\nextra: 1\n")
    code, out, err = invoke("run", str(path))
    assert code == 2
    assert f"{path}:4:1" in err
    assert "Traceback" not in out + err


def test_bill_with_a_plan_file(status_csv: Path) -> None:
    code, out, _ = invoke(
        "bill",
        str(status_csv),
        "--plan",
        "scenarios/plans/standard.yaml",
        "--format",
        "json",
    )
    assert code == 0
    first = json.loads(out)["months"][0]
    assert (first["base_fee"], first["included_learners"], first["total"]) == (
        "950.00",
        150,
        "950.00",
    )
    code, _, err = invoke(
        "bill",
        str(status_csv),
        "--plan",
        "scenarios/plans/standard.yaml",
        "--included",
        "3",
    )
    assert code == 2
    assert "either --plan or --included" in err


@needs_real_oulad
def test_real_oulad_registrations_bill_end_to_end(tmp_path: Path) -> None:
    status = tmp_path / "oulad-status.parquet"
    code, out, _ = invoke("oulad", str(status), "--data", str(REAL_OULAD))
    assert code == 0
    text = " ".join(out.split())
    assert "32593 registrations read: 32548 used, 45 rejected" in text
    assert "no registration date" in text
    months_file = tmp_path / "months.parquet"
    code, out, _ = invoke(
        "bill", str(status), "--timezone", "Europe/London",
        "--plan", "scenarios/plans/enterprise.yaml",
        "--learner-months", str(months_file), "--format", "json",
    )  # fmt: skip
    assert code == 0
    document = json.loads(out)
    assert document["rejected"] == []
    written = pl.read_parquet(months_file)
    usage = {m["month"]: m["billable_learners"] for m in document["months"]}
    # Independent count: distinct learners per month in the written learner-months.
    counted = written.group_by(pl.col("month").dt.to_string("%Y-%m")).len()
    assert dict(counted.rows()) == {k: v for k, v in usage.items() if v}
    assert sum(usage.values()) == written.height
    assert written.select("learner_id", "month").is_unique().all()
    status_rows = pl.read_parquet(status).height
    assert status_rows == 60856


def test_csv_output_reports_rejections_on_stderr(status_csv: Path) -> None:
    code, out, err = invoke("bill", str(status_csv), "--format", "csv")
    assert code == 0
    assert out.startswith("month,billable_learners")
    text = " ".join(err.split())
    assert "duplicate of line 3; counted once" in text
    assert "(status log): 5 rows read, 4 used, 1 rejected" in text


def test_no_prices_bills_usage_only_and_prices_go_together(status_csv: Path) -> None:
    code, out, _ = invoke("bill", str(status_csv))
    assert code == 0
    assert "usage only (no plan or prices given)" in out
    code, _, err = invoke("bill", str(status_csv), "--included", "5")
    assert code == 2
    assert "--included and --overage-price go together" in err


def test_markup_in_data_is_shown_as_text(tmp_path: Path) -> None:
    path = tmp_path / "status.csv"
    path.write_text(
        "learner_id,changed_at,is_active\n[b]L1[/b],2018-04-11T00:00:00Z,y\n"
        "\x1b[31mL2,2018-04-11T00:00:00Z,y\n"
    )
    code, out, _ = invoke("bill", str(path))
    assert code == 0
    assert "[b]L1[/b]" in out
    assert "\x1b" not in out
    assert "\\x1b[31mL2" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--included", "1", "--overage-price", "7_5"], "like 7.50, got '7_5'"),
        (["--included", "1", "--overage-price", "\u0663"], "like 7.50"),
        (["--included", "1", "--overage-price", "0.00001"], "`--overage-price`"),
        (["--included", "1", "--overage-price", "10000000000"], "`--overage-price`"),
        (
            ["--from", "18-04"],
            "expected a month as YYYY-MM in 1900 to 2199, got '18-04'",
        ),
        (["--timezone", "localtime"], "unknown IANA time zone 'localtime'"),
    ],
)
def test_odd_option_values_are_refused(
    status_csv: Path, args: list[str], message: str
) -> None:
    code, out, err = invoke("bill", str(status_csv), *args)
    assert code == 2
    assert message in " ".join((out + err).replace("│", " ").split())


def test_learner_months_never_overwrites_an_input(status_csv: Path) -> None:
    before = status_csv.read_text()
    code, _, err = invoke("bill", str(status_csv), "--learner-months", str(status_csv))
    assert code == 2
    assert "would overwrite an input" in err
    assert status_csv.read_text() == before


def test_learner_months_into_a_missing_folder(status_csv: Path, tmp_path: Path) -> None:
    code, _, err = invoke(
        "bill", str(status_csv), "--learner-months", str(tmp_path / "no" / "m.csv")
    )
    assert code == 2
    assert "cannot write the report: No such file or directory" in " ".join(err.split())


def test_the_shipped_example_logs_bill_as_worked_by_hand() -> None:
    """examples/: L1 Apr, Jul-Dec; L2 Apr, May; L3 June (off at midnight 1 July);
    L4 Sep, Oct (off at midnight 1 Nov, AEDT). Starter: 45.00 + 9.00 a learner."""
    code, out, err = invoke(
        "bill", "examples/status.csv", "--activity", "examples/activity.csv",
        "--plan", "scenarios/plans/starter.yaml", "--through", "2018-12", "--format", "json",
    )  # fmt: skip
    assert code == 0
    document = json.loads(out)
    counts = [m["billable_learners"] for m in document["months"]]
    assert counts == [2, 1, 1, 1, 1, 2, 2, 1, 1]
    assert sum(Decimal(m["total"]) for m in document["months"]) == Decimal("513.00")
    assert [r["line"] for r in document["rejected"]] == [3, 7, 9]
    text = " ".join(err.split())
    assert (
        "examples/activity.csv (activity log): 7 rows read, 5 used, 2 rejected" in text
    )
    assert (
        "1 learner(s) still active at the end of the log are billed through 2018-12"
        in text
    )


def test_plans_on_the_april_to_july_scenario() -> None:
    """9 months, 15 learner-months ([2, 1, 0, 2, 2, 2, 2, 2, 2]); no whole year."""
    code, out, _ = invoke("plans", EXAMPLE, "--format", "csv")
    assert code == 0
    rows = [line.split(",") for line in out.splitlines()[1:]]
    got = {row[0]: (row[8], row[9], row[10]) for row in rows}
    assert got == {
        "starter": ("540.00", "0.00", "540.00"),  # 9 x 45 + 15 x 9
        "standard-s": ("4050.00", "405.00", "4455.00"),  # 9 x 450, GST 10%
        "standard": ("8550.00", "855.00", "9405.00"),
        "standard-tolerance": ("8550.00", "855.00", "9405.00"),
        "premium": ("17550.00", "1755.00", "19305.00"),
        "premium-graduated": ("17550.00", "1755.00", "19305.00"),
        "enterprise": ("40500.00", "4050.00", "44550.00"),
    }
    assert [row[0] for row in rows][:3] == ["starter", "standard-s", "standard"]


def test_plans_on_a_status_log_with_a_whole_billing_year(tmp_path: Path) -> None:
    book = tmp_path / "book"
    book.mkdir()
    (book / "floor.yaml").write_text(
        "name: Floor\ncurrency: AUD\nbase_fee: 45.00\nincluded_learners: 0\n"
        "overage_price: 9.00\nannual_minimum_spend: 1000.00\n"
    )
    chart = tmp_path / "annual.html"
    code, out, err = invoke(
        "plans", "examples/status.csv", "--price-book", str(book),
        "--from", "2018-01", "--through", "2018-12", "--format", "json", "--chart", str(chart),
    )  # fmt: skip
    assert code == 0
    (plan,) = json.loads(out)["plans"]
    # 12 x 45 = 540 base; 12 learner-months x 9 = 108 overage; 1000 - 648 = 352.
    assert (plan["base_subscription"], plan["overage"], plan["minimum_spend_true_up"]) == (
        "540.00", "108.00", "352.00"
    )  # fmt: skip
    assert plan["total_inc_tax"] == "1000.00"
    assert chart.read_text().startswith("<!DOCTYPE html>")
    assert "chart of annual cost per plan written to" in " ".join(err.split())


def test_plans_reports_a_bad_price_book(tmp_path: Path) -> None:
    code, _, err = invoke("plans", EXAMPLE, "--price-book", str(tmp_path))
    assert code == 2
    assert "a price book folder holding plan files (*.yaml) expected" in err
    (tmp_path / "bad.yaml").write_text(
        "name: Bad\ncurrency: AUD\nbase_fee: 1\nincluded_learners: 0\n"
        "overage_tiers:\n  mode: graduated\n  tiers:\n"
        "    - {up_to: 100, price: 1}\n    - {up_to: 50, price: 1}\n    - {price: 1}\n"
    )
    code, _, err = invoke("plans", EXAMPLE, "--price-book", str(tmp_path))
    assert code == 2
    assert f"{tmp_path / 'bad.yaml'}:6:3: overage_tiers" in err
    assert "increasing `up_to`" in err
