"""The billing run (meter_sim.billing) on the vendor's April-to-July example."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest

from meter_sim.billing import bill, bill_streaming, run_scenario
from meter_sim.exceptions import LogFormatError
from meter_sim.lifecycle import Outcome, Policy
from meter_sim.logs import parse_status_log, read_activity_log, read_status_log
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


def random_log(tmp_path: Path, *, learners: int = 300, seed: int = 3) -> Path:
    """A typed Parquet status log with toggles, repeats and duplicates."""
    import numpy as np

    rng = np.random.default_rng(seed)
    n = learners * 6
    ids = rng.integers(0, learners, n)
    seconds = rng.integers(0, 3 * 365 * 86_400, n)
    frame = pl.DataFrame(
        {
            "learner_id": [f"L{i}" for i in ids],
            "changed_at": pl.Series(seconds * 1_000_000 + 1_500_000_000_000_000).cast(
                pl.Datetime("us", "UTC")
            ),
            "is_active": rng.random(n) < 0.6,
        }
    ).unique(["learner_id", "changed_at"], keep="first", maintain_order=True)
    frame = pl.concat([frame, frame.head(25)])  # duplicated rows
    path = tmp_path / "status.parquet"
    frame.write_parquet(path)
    return path


PLAN = Plan(
    name="p",
    currency="AUD",
    base_fee=Decimal(0),
    included_learners=10,
    overage_price=Decimal("2.50"),
)


def test_fast_path_bill_equals_the_general_path(tmp_path: Path) -> None:
    path = random_log(tmp_path)
    fast = read_status_log(path)
    assert fast.packed is not None
    general = parse_status_log(pl.read_parquet(path), "x", line_word="row")
    a, b = bill(fast, plan=PLAN), bill(general, plan=PLAN)
    assert a.learner_months.equals(b.learner_months)
    assert a.learner_months.schema == b.learner_months.schema
    assert a.intervals.equals(b.intervals)
    assert a.monthly.equals(b.monthly)
    assert a.still_active == b.still_active
    assert a.learner_months.equals(a.learner_months.sort("learner_id", "month"))
    assert a.rejected.height == 25


def test_streaming_bill_equals_the_in_memory_bill(tmp_path: Path) -> None:
    path = random_log(tmp_path, learners=500)
    whole = bill(read_status_log(path), plan=PLAN)
    out = tmp_path / "months.parquet"
    streamed = bill_streaming(path, out, plan=PLAN, chunk_rows=700)
    assert pl.read_parquet(out).equals(whole.learner_months)
    assert streamed.learner_months.equals(whole.learner_months)
    assert streamed.monthly.equals(whole.monthly)
    assert streamed.rejected.equals(whole.rejected)
    assert streamed.inputs.equals(whole.inputs)
    assert streamed.still_active == whole.still_active
    assert not list(tmp_path.glob(".meter-sim-*"))  # its work files are gone


def test_streaming_needs_a_typed_parquet_log(tmp_path: Path) -> None:
    csv = tmp_path / "status.csv"
    csv.write_text("learner_id,changed_at,is_active\nL1,2018-04-11T00:00:00Z,y\n")
    with pytest.raises(LogFormatError, match="streaming needs a Parquet status log"):
        bill_streaming(csv, tmp_path / "out.parquet", plan=PLAN)


def test_bill_command_streaming(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from meter_sim.cli import app

    path = random_log(tmp_path)
    out = tmp_path / "months.parquet"
    args = ["bill", str(path), "--learner-months", str(out), "--format", "csv"]
    streamed = CliRunner().invoke(app, [*args, "--streaming"])
    assert streamed.exit_code == 0, streamed.output
    in_memory = CliRunner().invoke(app, args)
    assert streamed.stdout == in_memory.stdout
    missing = CliRunner().invoke(app, ["bill", str(path), "--streaming"])
    assert missing.exit_code == 2
    assert "give --learner-months" in missing.output
    zone = CliRunner().invoke(
        app, [*args, "--streaming", "--naive-timezone", "No/Zone"]
    )
    assert zone.exit_code == 2
    assert "`--naive-timezone`: unknown IANA time zone 'No/Zone'" in zone.output
    nowhere = [*args[:2], "--learner-months", str(tmp_path / "no" / "m.parquet")]
    folder = CliRunner().invoke(app, [*nowhere, "--streaming"])
    assert folder.exit_code == 2
    assert "cannot write the report: No such file or directory" in folder.output


def test_streaming_writes_rejected_rows_to_a_file(tmp_path: Path) -> None:
    path = random_log(tmp_path, learners=500)
    whole = bill(read_status_log(path), plan=PLAN)
    assert whole.rejected.height == 25
    rejected = tmp_path / "rejected.parquet"
    streamed = bill_streaming(
        path, tmp_path / "m.parquet", plan=PLAN, chunk_rows=700, rejected_file=rejected
    )
    assert streamed.rejected.is_empty()  # not kept in memory
    assert streamed.inputs.equals(whole.inputs)  # but counted
    assert pl.read_parquet(rejected).sort("line").equals(whole.rejected)


@pytest.mark.parametrize("streaming", [False, True], ids=["in memory", "streaming"])
def test_bill_command_rejected_file(tmp_path: Path, *, streaming: bool) -> None:
    import json

    from typer.testing import CliRunner

    from meter_sim.cli import app

    path = random_log(tmp_path)
    out, rejected = tmp_path / "months.parquet", tmp_path / "rejected.csv"
    args = ["bill", str(path), "--learner-months", str(out), "--format", "json"]
    extra = ["--streaming"] if streaming else []
    listed = CliRunner().invoke(app, args)
    written = CliRunner().invoke(app, [*args, *extra, "--rejected", str(rejected)])
    assert written.exit_code == 0, written.output
    document, before = json.loads(written.stdout), json.loads(listed.stdout)
    assert "rejected" not in document
    assert document["rejected_file"] == str(rejected)
    assert document["months"] == before["months"]
    assert "25 rejected rows written to" in written.stderr
    lines = pl.read_csv(rejected).sort("line")
    assert lines.rows() == [
        (r["source"], r["line"], r["reason"]) for r in before["rejected"]
    ]
    again = CliRunner().invoke(app, [*args, *extra, "--rejected", str(path)])
    assert again.exit_code == 2
    assert "--rejected would overwrite an input file" in again.output


@pytest.mark.parametrize("streaming", [False, True], ids=["in memory", "streaming"])
def test_a_bad_rejected_file_is_refused_before_any_work(
    tmp_path: Path, *, streaming: bool
) -> None:
    from typer.testing import CliRunner

    from meter_sim.cli import app

    path = random_log(tmp_path)
    out = tmp_path / "months.parquet"
    args = ["bill", str(path), "--learner-months", str(out)]
    args += ["--streaming"] if streaming else []
    wrong = CliRunner().invoke(app, [*args, "--rejected", str(tmp_path / "r.txt")])
    assert wrong.exit_code == 2
    assert "unknown file type '.txt'; expected .csv or .parquet" in wrong.output
    same = CliRunner().invoke(app, [*args, "--rejected", str(out)])
    assert same.exit_code == 2
    assert "--rejected and --learner-months name the same file" in same.output
    nowhere = CliRunner().invoke(app, [*args, "--rejected", str(tmp_path / "no/r.csv")])
    assert nowhere.exit_code == 2
    assert "--rejected: no folder" in nowhere.output
    (tmp_path / "link.parquet").hardlink_to(path)
    linked = CliRunner().invoke(
        app, [*args, "--rejected", str(tmp_path / "link.parquet")]
    )
    assert linked.exit_code == 2
    assert "--rejected would overwrite an input file" in linked.output
    assert not out.exists()  # all refused before billing


TERMS_STATUS = """learner_id,changed_at,is_active
L1,2026-01-10T09:00:00+11:00,yes
L1,2026-01-20T09:00:00+11:00,no
L2,2026-01-05T09:00:00+11:00,yes
"""

TERMS_ACTIVITY = """learner_id,occurred_at,activity,channel,scheduled
L1,2026-03-15T10:00:00+11:00,personal_contact,ui,
L1,2026-02-15T10:00:00+11:00,view,ui,
L1,2026-04-02T10:00:00+11:00,message,automation,yes
L2,2026-02-15T10:00:00+11:00,message,ui,
"""


@pytest.mark.parametrize("form", ["csv", "csv with channels", "parquet"])
def test_the_terms_definition_bills_activity_while_inactive(
    tmp_path: Path, form: str
) -> None:
    # Worked by hand, months in Sydney, January to April 2026:
    # - flag: L1 January (created, made inactive on the 20th); L2 every month.
    # - flag_or_activity adds L1 in March (a contact edit while inactive) and in
    #   April (a scheduled email the policy allows while inactive: still a new
    #   message, so Activity under the Terms); L1's February view is a read.
    # Plan: 10.00 a month, 1 included, 5.00 per overage learner-month.
    status_path = tmp_path / "status.csv"
    status_path.write_text(TERMS_STATUS)
    if form == "csv with channels":  # kept as text: not the packed integer codes
        pl.read_csv(status_path).with_columns(channel=pl.lit("ui")).write_csv(
            status_path
        )
    if form == "parquet":  # the typed fast path
        status_path = tmp_path / "status.parquet"
        pl.read_csv(tmp_path / "status.csv").select(
            "learner_id",
            pl.col("changed_at").str.to_datetime(time_zone="UTC"),
            pl.col("is_active") == "yes",
        ).write_parquet(status_path)
    (tmp_path / "activity.csv").write_text(TERMS_ACTIVITY)
    status = read_status_log(status_path)
    assert (status.packed is None) == (form == "csv with channels")
    activity = read_activity_log(tmp_path / "activity.csv")
    plan = Plan(
        name="T",
        currency="AUD",
        base_fee=Decimal(10),
        included_learners=1,
        overage_price=Decimal(5),
    )
    first, last = date(2026, 1, 1), date(2026, 4, 1)
    flag = bill(status, activity, plan=plan, first_month=first, last_month=last)
    terms = bill(
        status, activity, plan=plan, policy=Policy(definition="flag_or_activity"),
        first_month=first, last_month=last,
    )  # fmt: skip
    assert flag.monthly["billable_learners"].to_list() == [2, 1, 1, 1]
    assert terms.monthly["billable_learners"].to_list() == [2, 1, 2, 2]
    assert terms.learner_months.filter(pl.col("learner_id") == "L1").select(
        pl.col("month").dt.to_string("%Y-%m"), pl.col("reason").cast(pl.String)
    ).rows() == [
        ("2026-01", "created_active"),
        ("2026-03", "activity_while_inactive"),
        ("2026-04", "activity_while_inactive"),
    ]
    # 4 x 10.00 + overage: flag 1 x 5.00 = 45.00; Terms 3 x 5.00 = 55.00.
    assert flag.invoice.total_ex_tax == Decimal("45.00")
    assert terms.invoice.total_ex_tax == Decimal("55.00")
    # Still reported: the contact edit is rejected either way.
    assert terms.rejected.height == flag.rejected.height == 1


def test_the_terms_definition_keeps_a_month_the_flag_bills() -> None:
    # The FAQ example's May email to L2 is activity while inactive, but L2 is
    # reactivated on 14 May, so May is billed anyway and keeps its reason.
    example = load_scenario(EXAMPLE)
    flag = run_scenario(example)
    terms = run_scenario(example, policy=Policy(definition="flag_or_activity"))
    assert terms.learner_months.equals(flag.learner_months)
    assert terms.monthly["total"].sum() == Decimal("540.00")
