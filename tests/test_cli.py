"""The ``meter-sim`` command (meter_sim.cli): output shapes and exit statuses."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from meter_sim.cli import app
from tests.helpers import REAL_OULAD, needs_real_oulad

runner = CliRunner()
ROOT = Path(__file__).resolve().parent.parent

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
        "invoice_date": "2018-05-01",
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


# -- oulad: the hand-made excerpt in the OULAD format, and the real data ------

EXCERPT = "tests/data/oulad-excerpt"  # hand-made; see its README
STARTER = "scenarios/plans/starter.yaml"  # 45.00 a month + 9.00 per learner-month

# Billable learners per month on the excerpt, worked out by hand in
# tests/test_oulad.py (test_excerpt_monthly_learners).
EXCERPT_MONTHLY_CSV = (
    "month,explicit,always_active,course_window,just_in_time,monthly_sweep,batched\n"
    "2013-09,2,2,2,2,2,2\n"
    "2013-10,2,2,2,1,1,2\n"
    "2013-11,2,2,2,1,1,2\n"
    "2013-12,1,2,1,0,0,1\n"
    "2014-01,2,3,2,2,2,2\n"
    "2014-02,1,3,2,1,1,2\n"
    "2014-03,1,3,1,0,0,1\n"
    "2014-04,1,3,1,0,0,1\n"
    "2014-05,1,3,1,0,0,1\n"
    "2014-06,1,3,1,1,1,1\n"
    "2014-07,1,3,1,0,0,1\n"
    "2014-08,1,3,1,0,0,1\n"
    "2014-09,1,3,1,1,1,1\n"
)


def test_oulad_csv_prints_the_monthly_table(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("METER_SIM_OULAD", raising=False)
    code, out, err = invoke("oulad", EXCERPT, "--plan", STARTER, "--format", "csv")
    assert code == 0
    assert out == EXCERPT_MONTHLY_CSV
    text = " ".join(err.split())
    assert (
        "studentAssessment.csv: 10 rows read, 5 used, 1 not activity (banked), 4 rejected"
        in text
    )
    assert (
        "13 needs (4 registrations, 5 submissions, 2 withdrawals, 2 final results) of 3 learners"
        in text
    )
    assert "Rejected rows (6)" in text
    assert "6 timeline(s) of 13 needs read and billed in" in text


def test_oulad_json_sets_every_strategy_side_by_side() -> None:
    code, out, _ = invoke("oulad", EXCERPT, "--plan", STARTER, "--format", "json")
    assert code == 0
    document = json.loads(out)
    assert list(document) == [
        "folder", "start_day", "timezone", "plan", "currency", "from", "through",
        "strategies", "months", "inputs", "rejected",
    ]  # fmt: skip
    assert (document["folder"], document["start_day"], document["timezone"]) == (
        EXCERPT,
        1,
        "Europe/London",
    )
    assert (document["plan"], document["from"], document["through"]) == (
        "Starter",
        "2013-09",
        "2014-09",
    )
    summary = {
        row["strategy"]: (row["learner_months"], row["total_ex_tax"], row["toggles"],
                          row["blocked"])
        for row in document["strategies"]
    }  # fmt: skip
    # 13 x 45.00 + learner-months x 9.00; see tests/test_oulad.py for the months.
    assert summary == {
        "explicit": (17, "738.00", 3, 1),
        "always_active": (35, "900.00", 0, 0),
        "course_window": (18, "747.00", 4, 0),
        "just_in_time": (9, "666.00", 23, 0),
        "monthly_sweep": (9, "666.00", 14, 0),
        "batched": (18, "747.00", 4, 0),
    }
    assert document["months"][4] == {
        "month": "2014-01", "explicit": 2, "always_active": 3, "course_window": 2,
        "just_in_time": 2, "monthly_sweep": 2, "batched": 2,
    }  # fmt: skip
    assert [row["rows_rejected"] for row in document["inputs"]] == [0, 1, 1, 4]
    assert [(r["line"], r["reason"].split(":")[0]) for r in document["rejected"]] == [
        (5, "malformed number"),
        (5, "no registration date"),
        (8, "no placeable registration"),
        (9, "no placeable registration"),
        (10, "unknown assessment"),
        (11, "malformed number"),
    ]


def test_oulad_table_without_a_plan_counts_learners_only() -> None:
    code, out, _ = invoke("oulad", EXCERPT)
    assert code == 0
    text = " ".join(out.split())
    assert (
        "Billable learners per month: OULAD (tests/data/oulad-excerpt), day 0 on the 1st"
        in text
    )
    assert (
        "Strategies compared, 2013-09 to 2014-09: usage only (no plan or prices given)"
        in text
    )
    assert "always_active │ 35 │ 0.00 │ 0.00 │ 0 │ 0.0 │ 0" in text
    assert (
        "assessments.csv: 4 rows read, 3 used, 0 not activity (banked), 1 rejected"
        in text
    )
    assert "unknown assessment" in text


def test_oulad_one_strategy_prints_its_monthly_bill() -> None:
    code, out, err = invoke(
        "oulad", EXCERPT, "--strategy", "course_window", "--grace-days", "30",
        "--plan", STARTER, "--format", "csv",
    )  # fmt: skip
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == (
        "month,billable_learners,included_learners,overage_learners,base_fee,"
        "overage_amount,total"
    )
    # Grace 30: 1002 is Active to 10 December, 1004 to 2 March (test_oulad.py).
    billable = [int(line.split(",")[1]) for line in lines[1:]]
    assert billable == [2, 2, 2, 2, 2, 2, 2, 1, 1, 1, 1, 1, 1]
    assert lines[4] == "2013-12,2,0,2,45.00,18.00,63.00"
    text = " ".join(err.split())
    assert "course_window │ 20 │ 765.00 │ 765.00 │ 2 │ 0.0 │ 0" in text
    assert "1 timeline(s) of 13 needs" in text


def test_oulad_explicit_lists_the_needs_it_blocks() -> None:
    code, out, _ = invoke(
        "oulad", EXCERPT, "--strategy", "explicit", "--plan", STARTER,
        "--format", "json",
    )  # fmt: skip
    assert code == 0
    document = json.loads(out)
    assert document["strategy"] == "explicit"
    assert document["summary"]["learner_months"] == 17
    assert document["invoice"]["total_ex_tax"] == "738.00"
    assert [m["billable_learners"] for m in document["months"]][:4] == [2, 2, 2, 1]
    # 1002 withdrew on 10 November 2013 and submitted on 25 November (GMT).
    assert document["blocked_needs"] == [
        {
            "learner_id": "1002", "at": "2013-11-25T12:00:00+00:00",
            "event": "submission", "code_module": "KKK", "code_presentation": "2013J",
            "line": 4,
        }
    ]  # fmt: skip


def test_oulad_start_day_moves_the_period() -> None:
    code, out, _ = invoke("oulad", EXCERPT, "--start-day", "15", "--format", "json")
    assert code == 0
    document = json.loads(out)
    # LLL 2014B's last day becomes 2014-10-13 (day 240 from 15 February).
    assert (document["start_day"], document["through"]) == (15, "2014-10")


def test_oulad_folder_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("METER_SIM_OULAD", EXCERPT)
    code, out, _ = invoke("oulad", "--strategy", "always_active", "--format", "json")
    assert code == 0
    assert json.loads(out)["folder"] == EXCERPT


def test_oulad_writes_the_registrations_status_log(tmp_path: Path) -> None:
    status = tmp_path / "status.csv"
    code, _, err = invoke(
        "oulad", EXCERPT, "--strategy", "explicit", "--status-log", str(status),
        "--format", "csv",
    )  # fmt: skip
    assert code == 0
    assert "3 learners written to" in " ".join(err.split())
    assert status.read_text().splitlines() == [
        "learner_id,changed_at,is_active",
        "1001,2013-09-01T08:00:00Z,true",
        "1001,2014-09-29T16:00:00Z,false",
        "1002,2013-09-21T08:00:00Z,true",
        "1002,2013-11-10T17:00:00Z,false",
        "1004,2014-01-29T09:00:00Z,true",
        "1004,2014-01-31T17:00:00Z,false",
    ]
    code, out, _ = invoke(
        "bill", str(status), "--timezone", "Europe/London", "--plan", STARTER,
        "--format", "json",
    )  # fmt: skip
    assert code == 0
    assert json.loads(out)["invoice"]["total_ex_tax"] == "738.00"  # as explicit


def test_oulad_status_log_never_overwrites_an_input(tmp_path: Path) -> None:
    import shutil

    folder = tmp_path / "oulad"
    shutil.copytree(EXCERPT, folder)
    target = folder / "studentRegistration.csv"
    before = target.read_bytes()
    code, _, err = invoke("oulad", str(folder), "--status-log", str(target))
    assert code == 2
    assert "--status-log would overwrite an input file" in err
    assert target.read_bytes() == before


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--strategy", "lazy"],
            "`--strategy`: one of explicit, always_active, course_window, "
            "just_in_time, monthly_sweep, batched expected, got 'lazy'",
        ),
        (["--plan", STARTER, "--included", "3"], "either --plan or --included"),
        (["--start-day", "29"], "Invalid value for '--start-day'"),
        (["--grace-days", "-1"], "Invalid value for '--grace-days'"),
    ],
)
def test_oulad_bad_options_exit_2(args: list[str], message: str) -> None:
    code, _, err = invoke("oulad", EXCERPT, *args)
    assert code == 2
    assert message in " ".join(err.split())
    assert "Traceback" not in err


def test_oulad_status_log_needs_csv_or_parquet(tmp_path: Path) -> None:
    out = tmp_path / "status.json"
    code, _, err = invoke("oulad", EXCERPT, "--status-log", str(out))
    assert code == 2
    assert "the suffix must be `.csv` or `.parquet`, got `.json`" in " ".join(
        err.split()
    )
    assert not out.exists()


def test_oulad_missing_folder_names_it_and_how_to_set_it(tmp_path: Path) -> None:
    code, _, err = invoke("oulad", str(tmp_path / "nowhere"))
    assert code == 2
    text = " ".join(err.split())
    assert "OULAD folder not found" in text
    assert "nowhere" in text
    assert "METER_SIM_OULAD" in text


def test_oulad_malformed_file_names_file_and_line(tmp_path: Path) -> None:
    import shutil

    folder = tmp_path / "oulad"
    shutil.copytree(EXCERPT, folder)
    (folder / "assessments.csv").write_bytes(b'"code_module","id_assessment"\r\n')
    code, _, err = invoke("oulad", str(folder))
    assert code == 2
    assert "assessments.csv:1: missing column(s) `code_presentation`" in " ".join(
        err.split()
    )


@needs_real_oulad
def test_real_oulad_end_to_end(tmp_path: Path) -> None:
    status = tmp_path / "oulad-status.parquet"
    code, out, _ = invoke(
        "oulad", str(REAL_OULAD), "--strategy", "explicit", "--status-log",
        str(status), "--plan", "scenarios/plans/enterprise.yaml", "--format", "json",
    )  # fmt: skip
    assert code == 0
    oulad = json.loads(out)
    registrations = oulad["inputs"][2]
    assert (registrations["rows_read"], registrations["rows_used"]) == (32593, 32548)
    assert len(oulad["rejected"]) == 45 + 3
    # The written timeline, billed by `meter-sim bill`, gives the same bill.
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
    assert sum(usage.values()) == written.height == oulad["summary"]["learner_months"]
    assert written.select("learner_id", "month").is_unique().all()
    assert {m["month"]: m["billable_learners"] for m in oulad["months"]} == {
        month: usage.get(month, 0) for month in (m["month"] for m in oulad["months"])
    }
    assert pl.read_parquet(status).height == 60856


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


FORECAST = ["forecast", "scenarios/training-provider.yaml", "--runs", "2"]
BILL = ["bill", "examples/status.csv"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            [*FORECAST, "--included", "1000000001"],
            "error: `--included`: the plan's included_learners input should be less "
            "than or equal to 1000000000, got 1000000001",
        ),
        (
            [*FORECAST, "--included", "100", "--base-fee-per-learner", "10000000.01"],
            # 100 x 10,000,000.01 = 1,000,000,001.00, over a plan's 1e9 base fee.
            "error: `--base-fee-per-learner`: the plan's base_fee input should be "
            "less than or equal to 1e+9, got 1000000001.00",
        ),
        (
            [*BILL, "--included", "1000000001", "--overage-price", "1"],
            "error: `--included`: the plan's included_learners input should be less "
            "than or equal to 1000000000, got 1000000001",
        ),
    ],
)
def test_options_out_of_a_plans_bounds_are_named(args: list[str], message: str) -> None:
    code, _, err = invoke(*args)
    assert code == 2
    assert err.strip() == message


def test_oulad_grace_days_are_bounded() -> None:
    code, out, err = invoke("oulad", EXCERPT, "--grace-days", "106751992")
    assert code == 2
    assert "Invalid value for '--grace-days'" in out + err
    assert "less than or equal to 3650" in out + err
    assert "Traceback" not in out + err


RUN_COMMAND = (
    "import sys; from meter_sim.cli import run; sys.argv[0] = 'meter-sim'; run()"
)


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="no /dev/full here")
@pytest.mark.parametrize(
    "args",
    [
        ["bill", "examples/status.csv"],
        ["bill", "examples/status.csv", "--format", "json"],
        ["run", "scenarios/april-to-july.yaml", "--format", "csv"],
        ["plans", "scenarios/april-to-july.yaml"],
        [
            *["reconcile", "--status", "examples/provider-year/status.csv"],
            *["--invoice", "examples/provider-year/invoice.csv"],
            *["--plan", "scenarios/plans/standard.yaml"],
        ],
    ],
    ids=" ".join,
)
def test_a_full_disk_on_standard_output_is_a_clear_error(args: list[str]) -> None:
    with Path("/dev/full").open("w") as full:
        done = subprocess.run(
            [sys.executable, "-c", RUN_COMMAND, *args],
            stdout=full,
            stderr=subprocess.PIPE,
            text=True,
            check=False,
        )
    assert done.returncode == 2
    assert "error: cannot write to standard output: No space left on device" in (
        done.stderr
    )
    assert "Traceback" not in done.stderr


def test_a_closed_pipe_ends_quietly(tmp_path: Path) -> None:
    rows = [f"L{n},2018-04-11T10:00:00+10:00,yes" for n in range(5_000)]
    log = tmp_path / "many.csv"
    log.write_text("learner_id,changed_at,is_active\n" + "\n".join(rows) + "\n")
    args = ["bill", str(log), "--through", "2018-12", "--format", "json"]
    reader = subprocess.Popen(
        [sys.executable, "-c", RUN_COMMAND, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert reader.stdout is not None
    assert reader.stdout.read(10) == '{"timezone'  # then stop reading, like `head`
    reader.stdout.close()
    _, err = reader.communicate(timeout=60)
    assert reader.returncode == 0
    assert "Traceback" not in err
    assert "error" not in err


@pytest.mark.parametrize("zone", ["Factory", "localtime", "posixrules"])
@pytest.mark.parametrize("command", ["run", "compare", "forecast", "explore"])
def test_zones_zoneinfo_reads_but_polars_does_not_are_refused(
    tmp_path: Path, zone: str, command: str
) -> None:
    text = (ROOT / "scenarios" / "training-provider.yaml").read_text("utf-8")
    scenario = tmp_path / "x.yaml"
    scenario.write_text(text.replace("Australia/Sydney", zone), "utf-8")
    (tmp_path / "plans").symlink_to(ROOT / "scenarios" / "plans")
    extra = {"forecast": ["--runs", "2"], "explore": ["--out", "x.html"]}
    code, _, err = invoke(command, str(scenario), *extra.get(command, []))
    assert code == 2
    assert "timezone: an IANA time zone name expected, e.g. Australia/Sydney" in err
    assert "Traceback" not in err


@pytest.mark.parametrize("option", ["--timezone", "--naive-timezone"])
def test_zone_options_are_checked_alike(option: str) -> None:
    code, _, err = invoke("bill", "examples/status.csv", option, "Factory")
    assert code == 2
    assert f"`{option}`: unknown IANA time zone 'Factory'" in err


@settings(max_examples=50)
@given(
    ids=st.lists(
        st.text(min_size=1, max_size=12).filter(lambda s: s == s.strip() and s),
        min_size=1,
        max_size=5,
        unique=True,
    )
)
def test_any_ids_round_trip_the_json(ids: list[str]) -> None:
    """Ids of any characters (NUL, quotes, "\\0frame 0\\0") stay in their place."""
    import tempfile

    ids = [*ids, *sorted({"\0frame 0\0", "\0frame 1\0"} - set(ids))]
    at = datetime(2018, 4, 11, tzinfo=UTC)
    frame = pl.DataFrame(
        {
            "learner_id": [*ids, ids[0]],  # the last row repeats the first
            "changed_at": [at] * (len(ids) + 1),
            "is_active": [True] * (len(ids) + 1),
        }
    )
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "status.parquet"
        frame.write_parquet(path)
        code, out, _ = invoke("bill", str(path), "--format", "json")
    assert code == 0
    document = json.loads(out)
    months = document["learner_months"]
    assert sorted(row["learner_id"] for row in months) == sorted(ids)
    assert {row["month"] for row in months} == {"2018-04"}
    assert [row["line"] for row in document["rejected"]] == [len(ids) + 1]
    assert document["months"][0]["billable_learners"] == len(ids)


TERMS_PLAN = """name: Terms
currency: AUD
base_fee: 100.00
included_learners: 1
overage_price: 10.00
direct_debit_surcharge: 0.015
term_start: 2018-04
implementation_fee: 500.00
onboarding_fee: 250.00
"""


def test_bill_shows_the_plan_terms_lines(status_csv: Path, tmp_path: Path) -> None:
    # April to June 2018: L1 and L2 in April (1 over the tier: 10.00), L2 in May
    # and June. Base 3 x 100.00; the 1.5% direct-debit surcharge 3 x 1.50 = 4.50;
    # one-off 500.00 + 250.00 in April, the term's first month. Ex tax: 300.00 +
    # 10.00 + 4.50 + 750.00 = 1064.50. April's overage is invoiced on 1 May.
    plan = tmp_path / "terms.yaml"
    plan.write_text(TERMS_PLAN)
    args = ("bill", str(status_csv), "--plan", str(plan), "--through", "2018-06")
    code, out, _ = invoke(*args)
    assert code == 0
    flat = " ".join(out.split())
    assert "Total for the period: AUD 310.00" in flat
    assert (
        "Invoice: one-off fees: AUD 750.00; direct-debit surcharge: AUD 4.50; "
        "ex tax: AUD 1064.50"
    ) in flat
    code, out, _ = invoke(*args, "--format", "json")
    assert code == 0
    lines = json.loads(out)["invoice"]["lines"]
    dated = [(x["kind"], x["period_start"], x["invoice_date"]) for x in lines]
    assert ("overage", "2018-04-01", "2018-05-01") in dated
    assert ("one_off", "2018-04-01", "2018-04-01") in dated
    assert json.loads(out)["invoice"]["total_ex_tax"] == "1064.50"
