"""Invoice reconciliation (meter_sim.reconcile) and the savings finder (savings).

Expected values are worked out by hand from the logs below. Plan: base fee 100.00,
1 included learner, overage 10.00 per learner-month; billing time zone
Australia/Sydney (UTC+10 in July and August 2018).

- A: created Active 2018-07-02, never deactivated: July (created), August (carried).
- B: created Active 2018-07-03, deactivated 2018-07-20: July only.
- U: Active 2018-08-01 09:00 to 10:00 Sydney, i.e. 2018-07-31 23:00 to
  2018-08-01 00:00 UTC: August in Sydney, but July if months were counted in UTC.
- C: created inactive 2018-07-05 (first row No): never billable.

So July bills {A, B} and August {A, U}: 2 learners, 110.00 each month. Counted in
UTC: July {A, B, U} = 3 (120.00) and August {A} = 1 (100.00).
"""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING

import polars as pl
import pytest
from typer.testing import CliRunner

from meter_sim.cli import app
from meter_sim.elearning import read_elearning_log
from meter_sim.exceptions import LogFormatError
from meter_sim.lifecycle import Policy
from meter_sim.logs import read_activity_log, read_status_log
from meter_sim.pricing import Plan, TierChange
from meter_sim.reconcile import (
    MONTHS_ELEARNING_SCHEMA,
    MONTHS_SCHEMA,
    read_invoice,
    read_vendor_report,
    reconcile,
)

if TYPE_CHECKING:
    from pathlib import Path

    from meter_sim.reconcile import Reconciliation

runner = CliRunner()

STATUS = """learner_id,changed_at,is_active
A,2018-07-02T09:00:00+10:00,yes
B,2018-07-03T09:00:00+10:00,yes
B,2018-07-20T09:00:00+10:00,no
U,2018-08-01T09:00:00+10:00,yes
U,2018-08-01T10:00:00+10:00,no
C,2018-07-05T09:00:00+10:00,no
"""

PLAN = """name: Check
currency: AUD
base_fee: 100.00
included_learners: 1
overage_price: 10.00
"""

PLAN_MODEL = Plan(
    name="Check",
    currency="AUD",
    base_fee=Decimal("100.00"),
    included_learners=1,
    overage_price=Decimal("10.00"),
)

JUL, AUG = date(2018, 7, 1), date(2018, 8, 1)


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    (tmp_path / "status.csv").write_text(STATUS)
    (tmp_path / "plan.yaml").write_text(PLAN)
    return {"status": tmp_path / "status.csv", "plan": tmp_path / "plan.yaml"}


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def check(files: dict[str, Path], invoice: Path, **kwargs: object) -> Reconciliation:
    vendor = kwargs.pop("vendor", None)
    kwargs.setdefault("timezone", "Australia/Sydney")
    return reconcile(
        read_status_log(files["status"]),
        read_invoice(invoice),
        plan=PLAN_MODEL,
        vendor_report=None if vendor is None else read_vendor_report(vendor),  # type: ignore[arg-type]
        **kwargs,  # type: ignore[arg-type]
    )


def invoke(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def reconcile_cli(
    files: dict[str, Path], invoice: Path, *extra: str
) -> tuple[int, str, str]:
    """Run ``meter-sim reconcile`` on the test's status log and plan."""
    return invoke(
        "reconcile", "--status", str(files["status"]), "--invoice", str(invoice),
        "--plan", str(files["plan"]), *extra,
    )  # fmt: skip


def verdicts(result: Reconciliation) -> list[tuple[str, str, str]]:
    return [
        (f"{m:%Y-%m}", learner, str(v))
        for m, learner, v in result.learner_months.select(
            "month", "learner_id", "verdict"
        ).iter_rows()
    ]


# --- a correct invoice passes ---------------------------------------------


def test_a_correct_month_invoice_matches_and_exits_0(
    files: dict[str, Path], tmp_path: Path
) -> None:
    invoice = write(
        tmp_path, "invoice.csv", "month,billable_learners,amount\n"
        "2018-07,2,110.00\n2018-08,2,110.00\n",
    )  # fmt: skip
    result = check(files, invoice)
    assert result.matches
    assert result.months["verdict"].to_list() == ["ok", "ok"]
    assert result.months["expected_amount"].to_list() == [Decimal("110.00")] * 2
    assert result.months["findings"].to_list() == ["", ""]
    assert not result.learner_level
    code, out, _ = reconcile_cli(files, invoice)
    assert code == 0, out
    assert "The invoice matches the logs" in out


def test_the_bill_commands_csv_is_itself_a_valid_invoice(
    files: dict[str, Path], tmp_path: Path
) -> None:
    code, out, _ = invoke(
        "bill", str(files["status"]), "--plan", str(files["plan"]),
        "--format", "csv",
    )  # fmt: skip
    assert code == 0
    invoice = write(tmp_path, "invoice.csv", out)
    code, out, _ = reconcile_cli(files, invoice)
    assert code == 0, out


def test_a_correct_per_learner_invoice_matches(
    files: dict[str, Path], tmp_path: Path
) -> None:
    invoice = write(
        tmp_path, "lines.csv",
        "month,learner_id\n2018-07,A\n2018-07,B\n2018-08,U\n2018-08,A\n",
    )  # fmt: skip
    result = check(files, invoice)
    assert result.matches
    assert verdicts(result) == [
        ("2018-07", "A", "billed_ok"),
        ("2018-07", "B", "billed_ok"),
        ("2018-08", "A", "billed_ok"),
        ("2018-08", "U", "billed_ok"),
    ]
    assert result.learner_months["reason"].cast(pl.String).to_list() == [
        "created_active",
        "created_active",
        "carried_over",
        "created_active",
    ]


# --- planted faults are found and named -------------------------------------


def test_an_invoiced_learner_never_active_that_month_is_an_overcharge(
    files: dict[str, Path], tmp_path: Path
) -> None:
    invoice = write(
        tmp_path, "lines.csv",
        "month,learner_id\n2018-07,A\n2018-07,B\n2018-07,C\n2018-08,A\n2018-08,U\n",
    )  # fmt: skip
    result = check(files, invoice)
    assert not result.matches
    wrong = result.learner_months.filter(pl.col("verdict") != "billed_ok")
    assert wrong.select("learner_id", "verdict", "line", "explanation").rows() == [
        ("C", "billed_not_active", 4, "not Active at any time in the month"),
    ]
    july = result.months.row(0, named=True)
    assert july["verdict"] == "differs"
    assert (july["expected_learners"], july["invoiced_learners"]) == (2, 3)
    assert july["billed_not_active"] == 1
    # 3 learners cost 100 + 2 x 10 = 120.00 against the 110.00 expected.
    assert july["amount_difference"] == Decimal("10.00")
    assert "1 billed but not Active in the month: C" in july["findings"]
    code, out, _ = reconcile_cli(files, invoice)
    assert code == 1
    assert "billed_not_active" in out


def test_an_active_learner_not_invoiced_is_found(
    files: dict[str, Path], tmp_path: Path
) -> None:
    invoice = write(
        tmp_path, "lines.csv", "month,learner_id\n2018-07,A\n2018-08,A\n2018-08,U\n"
    )
    result = check(files, invoice)
    assert verdicts(result)[:2] == [
        ("2018-07", "A", "billed_ok"),
        ("2018-07", "B", "active_not_billed"),
    ]
    missing = result.learner_months.filter(pl.col("learner_id") == "B").row(
        0, named=True
    )
    assert missing["line"] is None
    assert (
        missing["explanation"]
        == "Active in the month (created_active) but not invoiced"
    )
    july = result.months.row(0, named=True)
    assert july["learner_difference"] == -1
    assert july["amount_difference"] == Decimal("-10.00")
    assert "1 Active in the month but not invoiced: B" in july["findings"]


def test_an_overage_priced_at_the_wrong_rate_is_named(
    files: dict[str, Path], tmp_path: Path
) -> None:
    # July: 2 learners, 1 overage, invoiced 112.50 (overage at 12.50, not 10.00).
    invoice = write(
        tmp_path, "invoice.csv", "month,billable_learners,amount\n"
        "2018-07,2,112.50\n2018-08,2,110.00\n",
    )  # fmt: skip
    result = check(files, invoice)
    assert result.months["verdict"].to_list() == ["differs", "ok"]
    july = result.months.row(0, named=True)
    assert july["learner_difference"] == 0
    assert july["plan_amount_for_invoiced"] == Decimal("110.00")
    assert july["amount_difference"] == Decimal("2.50")
    assert july["findings"] == (
        "amount AUD 112.50 is not the plan's price for 2 learner(s), AUD 110.00: "
        "the 1 overage learner(s) are priced at 12.50 each; the plan's rate is 10.00"
    )


def test_months_counted_in_utc_are_named(
    files: dict[str, Path], tmp_path: Path
) -> None:
    invoice = write(
        tmp_path, "invoice.csv", "month,billable_learners,amount\n"
        "2018-07,3,120.00\n2018-08,1,100.00\n",
    )  # fmt: skip
    result = check(files, invoice)
    assert result.months["utc_learners"].to_list() == [3, 1]
    assert result.months["amount_difference"].to_list() == [
        Decimal("10.00"),
        Decimal("-10.00"),
    ]
    for findings in result.months["findings"]:
        assert "with months in UTC, not in Australia/Sydney" in findings


def test_months_counted_in_utc_are_explained_learner_by_learner(
    files: dict[str, Path], tmp_path: Path
) -> None:
    invoice = write(
        tmp_path, "lines.csv",
        "month,learner_id\n2018-07,A\n2018-07,B\n2018-07,U\n2018-08,A\n",
    )  # fmt: skip
    result = check(files, invoice)
    wrong = result.learner_months.filter(pl.col("verdict") != "billed_ok")
    assert wrong.select("month", "learner_id", "verdict", "explanation").rows() == [
        (
            JUL,
            "U",
            "billed_not_active",
            "not Active in the month in Australia/Sydney; Active in it only if "
            "months are counted in UTC",
        ),
        (
            AUG,
            "U",
            "active_not_billed",
            "Active in the month (created_active); the invoice would omit it if "
            "months were counted in UTC",
        ),
    ]


def test_a_learner_invoiced_twice_in_a_month(
    files: dict[str, Path], tmp_path: Path
) -> None:
    invoice = write(
        tmp_path, "lines.csv",
        "month,learner_id\n2018-07,A\n2018-07,B\n2018-07,A\n2018-08,A\n2018-08,U\n",
    )  # fmt: skip
    result = check(files, invoice)
    twice = result.learner_months.filter(pl.col("verdict") == "billed_twice")
    assert twice.select("learner_id", "line", "explanation").rows() == [
        ("A", 4, "invoiced again; first on line 2")
    ]
    assert result.months.row(0, named=True)["invoiced_learners"] == 3


def test_a_learner_unknown_to_the_log_or_created_later(
    files: dict[str, Path], tmp_path: Path
) -> None:
    write(tmp_path, "status.csv", STATUS + "X,2018-08-15T09:00:00+10:00,yes\n")
    invoice = write(
        tmp_path, "lines.csv",
        "month,learner_id\n2018-07,A\n2018-07,B\n2018-07,U\n2018-07,Z\n"
        "2018-07,X\n2018-08,A\n2018-08,U\n2018-08,X\n",
    )  # fmt: skip
    # Billed in UTC, U is Active in July (23:00 to 24:00 on 31 July), not August.
    result = check(files, invoice, timezone="UTC")
    wrong = result.learner_months.filter(pl.col("verdict") == "billed_not_active")
    assert wrong.select(
        pl.col("month").dt.to_string("%Y-%m"), "learner_id", "explanation"
    ).rows() == [
        ("2018-07", "X", "the learner was created later, on 2018-08-14T23:00:00+00:00"),
        ("2018-07", "Z", "the learner is not in the status log"),
        ("2018-08", "U", "not Active at any time in the month"),
    ]


def test_vendor_status_report_compared_learner_by_learner(
    files: dict[str, Path], tmp_path: Path
) -> None:
    invoice = write(
        tmp_path, "invoice.csv", "month,billable_learners,amount\n"
        "2018-07,2,110.00\n2018-08,2,110.00\n",
    )  # fmt: skip
    # The report marks C billable in July (never active) and misses U in August.
    vendor = write(
        tmp_path, "vendor.csv", "billing_month,learner_id,billable_in_month\n"
        "2018-07,A,Y\n2018-07,B,Y\n2018-07,C,Y\n2018-08,A,Y\n2018-08,U,N\n",
    )  # fmt: skip
    result = check(files, invoice, vendor=vendor)
    assert result.learner_level
    assert result.months["vendor_report_learners"].to_list() == [3, 1]
    july, august = result.months.rows(named=True)
    assert (
        "the vendor's status report lists 3 billable learner(s); the invoice "
        "charges 2" in july["findings"]
    )
    assert july["billed_not_active"] == 1
    assert august["active_not_billed"] == 1
    assert not result.matches


def test_a_month_missing_from_a_month_invoice(
    files: dict[str, Path], tmp_path: Path
) -> None:
    invoice = write(
        tmp_path, "invoice.csv", "month,billable_learners,amount\n2018-07,2,110.00\n"
    )
    result = check(files, invoice, last_month=AUG)
    assert result.months["verdict"].to_list() == ["ok", "not_invoiced"]
    assert result.months["findings"][1] == (
        "not on the invoice; the log gives 2 billable learner(s) (AUD 110.00)"
    )


# --- every row is used or listed --------------------------------------------


def test_every_invoice_row_is_used_or_listed(
    files: dict[str, Path], tmp_path: Path
) -> None:
    invoice = write(
        tmp_path, "invoice.csv", "month,billable_learners,amount\n"
        "2018-07,2,110.00\n2018-07,2,110.00\n2018-08,2,110.00\n2018-09,0,100.00\n",
    )  # fmt: skip
    result = check(files, invoice, last_month=AUG)
    assert result.rejected.filter(pl.col("source") == str(invoice)).rows() == [
        (str(invoice), 3, "duplicate of line 2; counted once"),
        (str(invoice), 5, "month 2018-09 is outside the period 2018-07 to 2018-08"),
    ]
    row = result.inputs.filter(pl.col("input").str.ends_with("(invoice)")).row(0)
    assert row[1:] == (4, 2, 2)
    assert result.matches


# --- bad input: clear errors naming the file, line and column ---------------


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "month,billable_learners,amount\n2018-07,2,$110.00\n",
            ":2: `amount`: expected a plain amount like 1234.50 (no currency sign, "
            "no thousands separator, at most 2 decimals), got '$110.00'",
        ),
        (
            "month,billable_learners,amount\n2018-07,2,-5\n",
            ":2: `amount`: negative; an amount >= 0 is expected",
        ),
        (
            "month,billable_learners,amount\n2018-07,2,NaN\n",
            ":2: `amount`: expected a plain amount",
        ),
        (
            "month,billable_learners\nJul-18,2\n",
            ":2: `month`: expected a month as YYYY-MM, got 'Jul-18' (if a "
            "spreadsheet turned it into a date, format the column as text)",
        ),
        ("month,billable_learners\n2018-13,2\n", ":2: `month`: expected a month"),
        (
            "month,billable_learners\n2018-07,two\n",
            ":2: `billable_learners`: expected a whole number >= 0 like 120, got 'two'",
        ),
        (
            "month,billable_learners,amount\n2018-07,2,110.00\n2018-07,3,120.00\n",
            ":3: `month`: `month` 2018-07 is on lines 2, 3 with different values",
        ),
        (
            "month,billable_learners,amount\n2018-07,2,\n",
            ":2: `amount`: blank; every month needs its amount",
        ),
        (
            "month,learner_id,billable_learners\n2018-07,A,1\n",
            ": has both `learner_id` and `billable_learners`",
        ),
        (
            "month,count\n2018-07,2\n",
            ": an invoice needs columns month, billable_learners",
        ),
        ("month,amount,total\n2018-07,1,1\n", ": has both `amount` and `total`"),
    ],
)
def test_bad_invoices_get_a_clear_error(
    tmp_path: Path, text: str, message: str
) -> None:
    path = write(tmp_path, "invoice.csv", text)
    with pytest.raises(LogFormatError) as caught:
        read_invoice(path)
    assert f"{path}{message}" in str(caught.value)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "billing_month,learner_id\n2018-07,A\n",
            ": missing column(s) `billable_in_month`",
        ),
        (
            "billing_month,learner_id,billable_in_month\n2018-07,A,maybe\n",
            ":2: `billable_in_month`: expected one of true, yes, y, 1, false, no, n, 0; "
            "got 'maybe'",
        ),
        (
            "billing_month,learner_id,billable_in_month\n2018-07,A,Y\n2018-07,A,N\n",
            ":3: `learner_id`: `learner_id` A and `billing_month` 2018-07 is on lines "
            "2, 3 with different values",
        ),
        (
            "billing_month,learner_id,billable_in_month,date_of_birth\n"
            "2018-07,A,Y,31/01/1990\n",
            ":2: `date_of_birth`: expected a date as YYYY-MM-DD, got '31/01/1990'",
        ),
    ],
)
def test_bad_vendor_reports_get_a_clear_error(
    tmp_path: Path, text: str, message: str
) -> None:
    path = write(tmp_path, "vendor.csv", text)
    with pytest.raises(LogFormatError) as caught:
        read_vendor_report(path)
    assert f"{path}{message}" in str(caught.value)


def test_cli_bad_input_exits_2_without_traceback(
    files: dict[str, Path], tmp_path: Path
) -> None:
    invoice = write(tmp_path, "invoice.csv", "month,billable_learners\n2018-7,2\n")
    code, _, err = reconcile_cli(files, invoice)
    assert code == 2
    assert f"{invoice}:2: `month`" in err
    assert "Traceback" not in err


def test_cli_needs_a_plan(files: dict[str, Path], tmp_path: Path) -> None:
    invoice = write(tmp_path, "invoice.csv", "month,billable_learners\n2018-07,2\n")
    code, _, err = invoke(
        "reconcile", "--status", str(files["status"]), "--invoice", str(invoice)
    )
    assert code == 2
    assert "reconcile needs the plan the invoice follows" in err


def test_cli_json_and_out_folder(files: dict[str, Path], tmp_path: Path) -> None:
    invoice = write(
        tmp_path, "lines.csv", "month,learner_id\n2018-07,A\n2018-07,=cmd\n"
    )
    out = tmp_path / "out"
    code, stdout, _ = reconcile_cli(
        files, invoice, "--format", "json", "--out", str(out), "--through", "2018-08",
    )  # fmt: skip
    assert code == 1
    document = json.loads(stdout)
    assert document["matches"] is False
    assert [m["verdict"] for m in document["months"]] == ["differs", "differs"]
    assert document["months"][0]["amount_difference"] == "0.00"
    assert sorted(p.name for p in out.iterdir()) == [
        "activity_while_inactive.csv",
        "inputs.csv",
        "learner_months.csv",
        "months.csv",
        "rejected.csv",
        "savings.csv",
    ]
    # The invoiced id "=cmd" cannot start a formula in the Excel-friendly CSV.
    assert "'=cmd" in (out / "learner_months.csv").read_text(encoding="utf-8-sig")


# --- the savings finder -----------------------------------------------------

SAVINGS_STATUS = """learner_id,changed_at,is_active
A,2018-07-02T09:00:00+10:00,yes
B,2018-07-03T09:00:00+10:00,yes
B,2018-07-20T09:00:00+10:00,no
B,2018-08-10T09:00:00+10:00,yes
B,2018-08-10T17:00:00+10:00,no
D,2018-07-04T09:00:00+10:00,yes
E,2018-07-06T09:00:00+10:00,yes
"""
SAVINGS_ACTIVITY = """learner_id,occurred_at,activity
A,2018-07-02T09:30:00+10:00,enrolment
B,2018-07-03T09:30:00+10:00,enrolment
D,2018-07-04T09:30:00+10:00,enrolment
E,2018-07-06T09:30:00+10:00,enrolment
D,2018-08-04T09:30:00+10:00,attendance
E,2018-08-06T09:30:00+10:00,attendance
A,2018-08-06T09:30:00+10:00,view
"""
SAVINGS_VENDOR = """billing_month,learner_id,billable_in_month,first_name,last_name,date_of_birth
2018-07,A,Y,Ann,Lee,1990-01-02
2018-07,B,Y,Bo,Kim,1991-03-04
2018-07,D,Y,Dee,Ray,1992-05-06
2018-07,E,Y, dee ,RAY,1992-05-06
2018-08,A,Y,Ann,Lee,1990-01-02
2018-08,B,Y,Bo,Kim,1991-03-04
2018-08,D,Y,Dee,Ray,1992-05-06
2018-08,E,Y,Dee,Ray,1992-05-06
"""


@pytest.mark.parametrize(
    ("included", "costs"),
    [
        # Flat overage above the included learner: every finding saves 10.00.
        (1, {("2018-07", "E"): "10.00", ("2018-08", "E"): "10.00",
             ("2018-08", "B"): "10.00", ("2018-08", "A"): "10.00"}),
        # 3 included: August has 4 billable; removing the first finding (E) saves
        # price(4) - price(3) = 10.00, the next two nothing. July: E saves 10.00.
        (3, {("2018-07", "E"): "10.00", ("2018-08", "E"): "10.00",
             ("2018-08", "B"): "0.00", ("2018-08", "A"): "0.00"}),
    ],
)  # fmt: skip
def test_savings_finder_names_each_finding_and_its_cost(
    tmp_path: Path, included: int, costs: dict[tuple[str, str], str]
) -> None:
    status = write(tmp_path, "status.csv", SAVINGS_STATUS)
    activity = write(tmp_path, "activity.csv", SAVINGS_ACTIVITY)
    vendor = write(tmp_path, "vendor.csv", SAVINGS_VENDOR)
    invoice = write(
        tmp_path, "invoice.csv", "month,billable_learners\n2018-07,4\n2018-08,4\n"
    )
    plan = PLAN_MODEL.model_copy(update={"included_learners": included})
    result = reconcile(
        read_status_log(status),
        read_invoice(invoice),
        plan=plan,
        activity=read_activity_log(activity),
        vendor_report=read_vendor_report(vendor),
    )
    assert result.matches
    savings = result.savings
    assert savings.select(
        pl.col("billing_month").dt.to_string("%Y-%m"), "learner_id", "finding"
    ).rows() == [
        ("2018-07", "E", "possible_duplicate"),
        ("2018-08", "E", "possible_duplicate"),
        ("2018-08", "B", "wasted_reactivation"),
        ("2018-08", "A", "no_activity"),
    ]
    found = {
        (f"{m:%Y-%m}", learner): str(cost)
        for m, learner, cost in savings.select(
            "billing_month", "learner_id", "cost"
        ).iter_rows()
    }
    assert found == costs
    details = savings["detail"].to_list()
    assert details[0] == "same name and date of birth as D, also billed this month"
    assert details[2] == (
        "reactivated at 2018-08-10T09:00:00+10:00 and deactivated at "
        "2018-08-10T17:00:00+10:00 with no activity"
    )
    assert details[3] == "billed (carried_over) with no activity in the month"


def test_without_activity_only_duplicates_are_found(
    files: dict[str, Path], tmp_path: Path
) -> None:
    invoice = write(
        tmp_path, "invoice.csv", "month,billable_learners\n2018-07,2\n2018-08,2\n"
    )
    result = check(files, invoice)
    assert result.savings.is_empty()


# --- found by trying to break it --------------------------------------------


@pytest.mark.parametrize(
    ("text", "message"),
    [
        # Arabic-Indic and full-width digits are not ASCII digits: refused, not lost.
        (
            "month,billable_learners\n\u0662\u0660\u0662\u0666-01,2\n",
            ":2: `month`: expected a month",
        ),
        (
            "month,billable_learners\n2026-02,\uff13\n",
            ":2: `billable_learners`: expected a whole number",
        ),
        (
            "month,billable_learners,amount\n2026-02,3,\uff11\uff10.00\n",
            ":2: `amount`: expected a plain amount",
        ),
        (
            "month,billable_learners\n2026-02,5000000000\n",
            ":2: `billable_learners`: more than 999,999,999",
        ),
    ],
)
def test_non_ascii_digits_and_huge_counts_are_refused(
    tmp_path: Path, text: str, message: str
) -> None:
    path = write(tmp_path, "invoice.csv", text)
    with pytest.raises(LogFormatError) as caught:
        read_invoice(path)
    assert f"{path}{message}" in str(caught.value)


@pytest.mark.parametrize("count", [5_000_000_000, -1])
def test_parquet_counts_are_checked(tmp_path: Path, count: int) -> None:
    path = tmp_path / "invoice.parquet"
    pl.DataFrame({"month": ["2026-02"], "billable_learners": [count]}).write_parquet(
        path
    )
    with pytest.raises(LogFormatError, match=r"row 1: `billable_learners`: (more|neg)"):
        read_invoice(path)


def test_a_status_report_of_fewer_months_checks_only_those(
    files: dict[str, Path], tmp_path: Path
) -> None:
    invoice = write(
        tmp_path, "invoice.csv", "month,billable_learners,amount\n"
        "2018-07,2,110.00\n2018-08,2,110.00\n",
    )  # fmt: skip
    vendor = write(
        tmp_path, "vendor.csv", "billing_month,learner_id,billable_in_month\n"
        "2018-07,A,Y\n2018-07,B,Y\n",
    )  # fmt: skip
    result = check(files, invoice, vendor=vendor)
    assert result.matches
    assert result.months["vendor_report_learners"].to_list() == [2, None]
    assert result.learner_months.height == 2


def test_a_month_not_invoiced_counts_its_whole_amount(
    files: dict[str, Path], tmp_path: Path
) -> None:
    invoice = write(
        tmp_path, "invoice.csv", "month,billable_learners,amount\n2018-07,2,110.00\n"
    )
    result = check(files, invoice, last_month=AUG)
    assert result.months["amount_difference"].to_list() == [
        Decimal("0.00"),
        Decimal("-110.00"),
    ]


@pytest.mark.parametrize(
    ("amount", "tail"),
    [
        # 110.00 plus 10% GST.
        ("121.00", ": it is that price with GST added"),
        # 3 learners (2 overage): 120.01 is no whole-cent rate (100 + 2 x 10.005),
        # so no rate is claimed.
        ("120.01", ""),
    ],
)
def test_an_amount_is_explained_only_when_it_can_be(
    files: dict[str, Path], tmp_path: Path, amount: str, tail: str
) -> None:
    invoice = write(
        tmp_path, "invoice.csv", "month,billable_learners,amount\n"
        f"2018-07,{3 if tail == '' else 2},{amount}\n",
    )  # fmt: skip
    plan = PLAN_MODEL.model_copy(
        update={"tax_rate": Decimal("0.10"), "tax_name": "GST"}
    )
    result = reconcile(
        read_status_log(files["status"]),
        read_invoice(invoice),
        plan=plan,
        last_month=JUL,
    )
    findings = result.months["findings"][0].splitlines()
    planned = "110.00" if tail else "120.00"
    count = 2 if tail else 3
    assert findings[-1] == (
        f"amount AUD {amount} is not the plan's price for {count} learner(s), "
        f"AUD {planned}{tail}"
    )


def test_control_characters_in_ids_stay_on_one_line(
    files: dict[str, Path], tmp_path: Path
) -> None:
    invoice = write(
        tmp_path, "lines.csv",
        'month,learner_id\n2018-07,A\n2018-07,B\n2018-07,"multi\nline"\n'
        "2018-07,\x1b[31mRED\n",
    )  # fmt: skip
    result = check(files, invoice, last_month=JUL)
    (finding,) = [
        f for f in result.months["findings"][0].splitlines() if "not Active" in f
    ]
    assert finding == (
        "2 billed but not Active in the month: \\x1b[31mRED, multi\\nline"
    )


def test_out_never_overwrites_an_input(files: dict[str, Path], tmp_path: Path) -> None:
    invoice = write(tmp_path, "months.csv", "month,billable_learners\n2018-07,2\n")
    code, _, err = reconcile_cli(files, invoice, "--out", str(tmp_path))
    assert code == 2
    assert "--out would overwrite an input file" in err
    assert invoice.read_text() == "month,billable_learners\n2018-07,2\n"
    code, _, err = invoke(
        "report", "status", str(files["status"]), "--out", str(files["status"])
    )
    assert code == 2
    assert files["status"].read_text() == STATUS


# --- the Terms' definition (Is Active or any Activity) ----------------------------

# B was made inactive on 2018-07-20; an edit of B's contact details recorded on
# 2018-08-10 is activity while inactive. The help article bills August {A, U} (2,
# 110.00); the Terms' definition (Is Active *or any Activity*) also bills B: August
# {A, U, B}, 3 learners, 100.00 + 2 x 10.00 = 120.00. A read (B viewed in August)
# is not activity and bills nothing by itself.
TERMS_ACTIVITY = """learner_id,occurred_at,activity
B,2018-08-10T09:00:00+10:00,personal_contact
B,2018-08-11T09:00:00+10:00,view
"""


def test_an_invoice_that_counts_activity_while_inactive_is_explained(
    files: dict[str, Path], tmp_path: Path
) -> None:
    activity = write(tmp_path, "activity.csv", TERMS_ACTIVITY)
    invoice = write(
        tmp_path, "invoice.csv", "month,billable_learners,amount\n"
        "2018-07,2,110.00\n2018-08,3,120.00\n",
    )  # fmt: skip
    result = check(files, invoice, activity=read_activity_log(activity))
    assert not result.matches
    assert result.months["terms_learners"].to_list() == [2, 3]
    assert result.months["verdict"].to_list() == ["ok", "differs"]
    august = result.months["findings"][1]
    assert "invoiced 3 learner(s); the log gives 2 (+1)" in august
    assert "3 is the month's count under the Terms' definition" in august
    # Billed under the Terms' reading, the same invoice matches.
    terms = check(
        files,
        invoice,
        activity=read_activity_log(activity),
        policy=Policy(definition="flag_or_activity"),
    )
    assert terms.matches
    assert terms.expected.learner_months.filter(pl.col("learner_id") == "B").select(
        "month", pl.col("reason").cast(pl.String)
    ).rows() == [(JUL, "created_active"), (AUG, "activity_while_inactive")]
    code, out, _ = reconcile_cli(
        files, invoice, "--activity", str(activity), "--definition", "flag_or_activity"
    )
    assert code == 0, out
    code, out, _ = reconcile_cli(files, invoice, "--activity", str(activity))
    assert code == 1
    assert "Terms' definition" in " ".join(out.split())


def test_a_learner_billed_only_under_the_terms_is_explained(
    files: dict[str, Path], tmp_path: Path
) -> None:
    activity = write(tmp_path, "activity.csv", TERMS_ACTIVITY)
    invoice = write(
        tmp_path, "lines.csv",
        "month,learner_id\n2018-07,A\n2018-07,B\n2018-08,A\n2018-08,U\n2018-08,B\n",
    )  # fmt: skip
    result = check(files, invoice, activity=read_activity_log(activity))
    wrong = result.learner_months.filter(pl.col("verdict") != "billed_ok")
    assert wrong.select("month", "learner_id", "verdict", "explanation").rows() == [
        (
            AUG,
            "B",
            "billed_not_active",
            "not Active in the month, but activity was recorded while inactive: "
            "billed only under the Terms' definition (Is Active or any Activity; "
            "--definition flag_or_activity)",
        )
    ]


def test_the_terms_definition_needs_an_activity_log(files: dict[str, Path]) -> None:
    code, _, err = invoke(
        "bill", str(files["status"]), "--definition", "flag_or_activity"
    )
    assert code == 2
    assert "give the activity log with --activity" in err


# --- a tier change during the year (domain-research 6.4, rule 23) ------------

TIER_CHANGE_PLAN = PLAN_MODEL.model_copy(
    update={
        "tier_changes": (
            TierChange(
                effective=date(2018, 7, 15),
                base_fee=Decimal("120.00"),
                overage_price=Decimal("15.00"),
            ),
        )
    }
)
"""The test plan, but from 15 July 2018 a base fee of 120.00 and overage at 15.00.

The tier in force on a month's 1st bills the whole month, so July keeps the old
tier and August is the first month of the new one. Both months have 2 billable
learners, 1 of them overage: July 100.00 + 1 x 10.00 = 110.00; August 120.00 +
1 x 15.00 = 135.00.
"""

OLD_TIER = "the plan's tier as stated (before its tier changes)"
NEW_TIER = "the tier change effective 2018-07-15 (from 2018-08)"
RULE_23 = "(the tier in force on a month's 1st applies to the whole month)"


@pytest.mark.parametrize(
    ("july", "august", "verdicts", "finding"),
    [
        ("110.00", "135.00", ["ok", "ok"], ""),
        # August invoiced at the old tier: 100.00 + 1 x 10.00.
        (
            "110.00",
            "110.00",
            ["ok", "differs"],
            "amount AUD 110.00 is not the plan's price for 2 learner(s), AUD "
            f"135.00: it is the price under {OLD_TIER}, not under {NEW_TIER}, the "
            f"tier in force in 2018-08 {RULE_23}",
        ),
        # July invoiced at the new tier although the change is effective on the
        # 15th: 120.00 + 1 x 15.00.
        (
            "135.00",
            "135.00",
            ["differs", "ok"],
            "amount AUD 135.00 is not the plan's price for 2 learner(s), AUD "
            f"110.00: it is the price under {NEW_TIER}, not under {OLD_TIER}, the "
            f"tier in force in 2018-07 {RULE_23}",
        ),
        # August at the new base fee, overage at 12.50: (132.50 - 120.00) / 1.
        (
            "110.00",
            "132.50",
            ["ok", "differs"],
            "amount AUD 132.50 is not the plan's price for 2 learner(s), AUD "
            "135.00: the 1 overage learner(s) are priced at 12.50 each; the plan's "
            "rate is 15.00",
        ),
    ],
    ids=["new-tier-from-august", "old-tier-after-change", "new-tier-too-early",
         "rate-of-the-new-tier"],
)  # fmt: skip
def test_each_month_is_checked_against_the_tier_in_force(
    files: dict[str, Path],
    tmp_path: Path,
    july: str,
    august: str,
    verdicts: list[str],
    finding: str,
) -> None:
    invoice = write(
        tmp_path, "invoice.csv", "month,billable_learners,amount\n"
        f"2018-07,2,{july}\n2018-08,2,{august}\n",
    )  # fmt: skip
    result = reconcile(
        read_status_log(files["status"]),
        read_invoice(invoice),
        plan=TIER_CHANGE_PLAN,
        timezone="Australia/Sydney",
    )
    months = result.months
    assert months["verdict"].to_list() == verdicts
    assert months["expected_amount"].to_list() == [
        Decimal("110.00"),
        Decimal("135.00"),
    ]
    assert months["plan_amount_for_invoiced"].to_list() == [
        Decimal("110.00"),
        Decimal("135.00"),
    ]
    assert months["amount_difference"].to_list() == [
        Decimal(july) - Decimal("110.00"),
        Decimal(august) - Decimal("135.00"),
    ]
    assert [f for f in months["findings"] if f] == ([finding] if finding else [])


def test_savings_are_priced_at_the_tier_in_force(tmp_path: Path) -> None:
    # The savings logs (4 billable learners in July and in August) under the
    # test plan (1 included, 10.00 each above) changed on 20 July 2018 to 3
    # included and 12.00 each above: from August (the tier in force on the 1st).
    # July, old tier: E (the duplicate) saves price(4) - price(3) = 10.00.
    # August, new tier: E saves price(4) - price(3) = 12.00; B and A then save
    # price(3) - price(2) = price(2) - price(1) = 0.00, within the 3 included.
    status = write(tmp_path, "status.csv", SAVINGS_STATUS)
    activity = write(tmp_path, "activity.csv", SAVINGS_ACTIVITY)
    vendor = write(tmp_path, "vendor.csv", SAVINGS_VENDOR)
    invoice = write(
        tmp_path, "invoice.csv", "month,billable_learners\n2018-07,4\n2018-08,4\n"
    )
    change = TierChange(
        effective=date(2018, 7, 20),
        included_learners=3,
        overage_price=Decimal("12.00"),
    )
    plan = PLAN_MODEL.model_copy(update={"tier_changes": (change,)})
    result = reconcile(
        read_status_log(status),
        read_invoice(invoice),
        plan=plan,
        activity=read_activity_log(activity),
        vendor_report=read_vendor_report(vendor),
    )
    assert result.matches
    assert result.savings.select(
        pl.col("billing_month").dt.to_string("%Y-%m"), "learner_id", "cost"
    ).rows() == [
        ("2018-07", "E", Decimal("10.00")),
        ("2018-08", "E", Decimal("12.00")),
        ("2018-08", "B", Decimal("0.00")),
        ("2018-08", "A", Decimal("0.00")),
    ]


# --- the e-Learning meter beside the LRM one (#15.2) -------------------------

ELEARNING = """learner_id,enrolment_id,changed_at,enabled
A,E1,2018-07-02T10:00:00+10:00,yes
B,E2,2018-07-03T10:00:00+10:00,yes
B,E2,2018-07-10T10:00:00+10:00,no
"""
"""A's enrolment is enabled (by a rule, at creation) from 2 July to the end: July
and August. B's from 3 to 10 July: July. Both enabled while LRM-Active. So July
has 2 e-Learning Active Learners and August 1."""

ELEARNING_PLAN = PLAN_MODEL.model_copy(
    update={
        "included_elearning_learners": 1,
        "elearning_overage_price": Decimal("3.00"),
    }
)
"""The test plan with 1 e-Learning Active Learner included and 3.00 for each
beyond: July 100.00 + 1 x 10.00 + 1 x 3.00 = 113.00; August 100.00 + 1 x 10.00
+ 0 = 110.00."""


@pytest.mark.parametrize(
    ("july", "verdicts", "finding"),
    [
        ("113.00", ["ok", "ok"], ""),
        (
            "110.00",
            ["differs", "ok"],
            "amount AUD 110.00 is not the plan's price for 2 learner(s), AUD "
            "113.00: it leaves out the e-Learning overage (1 e-Learning Active "
            "Learner(s) above the 1 included, AUD 3.00)",
        ),
        # LRM overage at 12.50: 113.00 - 100.00 - 3.00 (e-Learning) = 12.50.
        (
            "115.50",
            ["differs", "ok"],
            "amount AUD 115.50 is not the plan's price for 2 learner(s), AUD "
            "113.00: the 1 overage learner(s) are priced at 12.50 each; the plan's "
            "rate is 10.00",
        ),
    ],
    ids=["both-meters", "elearning-left-out", "lrm-rate"],
)
def test_the_month_table_carries_the_elearning_count(
    files: dict[str, Path],
    tmp_path: Path,
    july: str,
    verdicts: list[str],
    finding: str,
) -> None:
    enrolments = write(tmp_path, "elearning.csv", ELEARNING)
    invoice = write(
        tmp_path, "invoice.csv", "month,billable_learners,amount\n"
        f"2018-07,2,{july}\n2018-08,2,110.00\n",
    )  # fmt: skip
    result = reconcile(
        read_status_log(files["status"]),
        read_invoice(invoice),
        plan=ELEARNING_PLAN,
        timezone="Australia/Sydney",
        elearning=read_elearning_log(enrolments),
    )
    months = result.months
    assert months.schema == MONTHS_ELEARNING_SCHEMA
    assert months["expected_elearning_learners"].to_list() == [2, 1]
    assert months["expected_learners"].to_list() == [2, 2]
    assert months["expected_amount"].to_list() == [
        Decimal("113.00"),
        Decimal("110.00"),
    ]
    assert months["plan_amount_for_invoiced"].to_list() == [
        Decimal("113.00"),
        Decimal("110.00"),
    ]
    assert months["verdict"].to_list() == verdicts
    assert [f for f in months["findings"] if f] == ([finding] if finding else [])
    assert f"{enrolments} (e-Learning log)" in result.inputs["input"].to_list()


def test_without_an_elearning_log_the_month_table_is_unchanged(
    files: dict[str, Path], tmp_path: Path
) -> None:
    invoice = write(
        tmp_path, "invoice.csv", "month,billable_learners,amount\n"
        "2018-07,2,110.00\n2018-08,2,110.00\n",
    )  # fmt: skip
    result = check(files, invoice)
    assert result.expected.elearning is None
    assert result.months.schema == MONTHS_SCHEMA


def test_under_the_terms_a_learner_billed_for_activity_is_explained_so(
    files: dict[str, Path], tmp_path: Path
) -> None:
    # Under --definition flag_or_activity, B's August line is right, and says why;
    # months counted in UTC read the rules the same way (B still billed in August).
    activity = write(tmp_path, "activity.csv", TERMS_ACTIVITY)
    invoice = write(
        tmp_path, "lines.csv",
        "month,learner_id\n2018-07,A\n2018-07,B\n2018-08,A\n2018-08,U\n2018-08,B\n",
    )  # fmt: skip
    result = check(
        files,
        invoice,
        activity=read_activity_log(activity),
        policy=Policy(definition="flag_or_activity"),
    )
    assert result.matches
    b_august = result.learner_months.filter(
        (pl.col("learner_id") == "B") & (pl.col("month") == AUG)
    )
    assert b_august["explanation"].item() == (
        "activity recorded while inactive (the Terms' definition)"
    )
    # UTC: July {A, B, U}; August {A, B} (B's edit of 9 August 23:00 UTC).
    assert result.months["utc_learners"].to_list() == [3, 2]
