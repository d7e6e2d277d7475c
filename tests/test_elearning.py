"""The e-Learning Active Learner meter (meter_sim.elearning), issue #15.1.

The worked example below is billed by hand; the property test holds the engine
equal to the event-by-event reference (`meter_sim.lifecycle.replay_elearning`).

Status log (LRM, Australia/Sydney, +11:00 in summer): L1 Active 10 to 20 January
2026, then inactive; L2 Active from 5 January. e-Learning enrolment log:

- line 2: L1's E1 created Disabled on 12 January: not billed.
- line 3: E1 enabled on 13 January (L1 LRM-active): L1 e-Learning Active from then.
- line 4: E2 enabled on 1 February while L1 is LRM-inactive: refused, not applied.
- line 5: E1 disabled on 10 February: L1 Enabled 13 January to 10 February, so
  January (activated) and February (continuing, Enabled at the month's start).
- line 6: E2 disabled on 5 March: E2 was never Enabled; nothing changes.
- lines 7-8: L2's E3 enabled and disabled one second later on 6 January: still
  January (activated): "enabling then disabling at once still meters".
- line 9: L1's E4 enabled on 10 March, L1 LRM-inactive: refused.

So the e-Learning meter bills January {L1, L2} = 2, February {L1} = 1, March and
April none. The LRM meter bills January {L1, L2}, then {L2}. Plan: base 10.00,
1 included LRM learner at 5.00 overage, 0 included e-Learning learners at 3.00:
January 10.00 + 1 x 5.00 + 2 x 3.00 = 21.00; February 10.00 + 3.00 = 13.00; March
and April 10.00 each: 54.00 in all.
"""

from __future__ import annotations

import csv
import json
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl
import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from meter_sim.billing import bill, run_scenario
from meter_sim.cli import app
from meter_sim.elearning import read_elearning_log
from meter_sim.exceptions import LogFormatError
from meter_sim.lifecycle import (
    EnrolmentEvent,
    StatusEvent,
    replay,
    replay_elearning,
)
from meter_sim.logs import read_status_log
from meter_sim.pricing import Plan
from meter_sim.scenario import load_scenario
from tests.helpers import status_log

if TYPE_CHECKING:
    from meter_sim.billing import Bill

runner = CliRunner()

STATUS = """learner_id,changed_at,is_active
L1,2026-01-10T09:00:00+11:00,yes
L1,2026-01-20T09:00:00+11:00,no
L2,2026-01-05T09:00:00+11:00,yes
"""

ENROLMENTS = """learner_id,enrolment_id,changed_at,enabled
L1,E1,2026-01-12T09:00:00+11:00,no
L1,E1,2026-01-13T09:00:00+11:00,yes
L1,E2,2026-02-01T09:00:00+11:00,yes
L1,E1,2026-02-10T09:00:00+11:00,no
L1,E2,2026-03-05T09:00:00+11:00,no
L2,E3,2026-01-06T09:00:00+11:00,yes
L2,E3,2026-01-06T09:00:01+11:00,no
L1,E4,2026-03-10T09:00:00+11:00,yes
"""

PLAN = Plan(
    name="Both meters",
    currency="AUD",
    base_fee=Decimal("10.00"),
    included_learners=1,
    overage_price=Decimal("5.00"),
    included_elearning_learners=0,
    elearning_overage_price=Decimal("3.00"),
)

JAN, FEB, MAR, APR = (date(2026, m, 1) for m in (1, 2, 3, 4))


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    (tmp_path / "status.csv").write_text(STATUS)
    (tmp_path / "elearning.csv").write_text(ENROLMENTS)
    return {"status": tmp_path / "status.csv", "elearning": tmp_path / "elearning.csv"}


def rows(frame: pl.DataFrame) -> list[tuple[str, str, str]]:
    return [
        (learner, f"{month:%Y-%m}", str(reason))
        for learner, month, reason in frame.select(
            "learner_id", "month", "reason"
        ).iter_rows()
    ]


def test_the_worked_example_bills_both_meters(files: dict[str, Path]) -> None:
    result = bill(
        read_status_log(files["status"]),
        plan=PLAN,
        first_month=JAN,
        last_month=APR,
        elearning=read_elearning_log(files["elearning"]),
    )
    assert result.elearning is not None
    assert rows(result.elearning.learner_months) == [
        ("L1", "2026-01", "activated"),
        ("L1", "2026-02", "continuing"),
        ("L2", "2026-01", "activated"),
    ]
    assert rows(result.learner_months) == [
        ("L1", "2026-01", "created_active"),
        ("L2", "2026-01", "created_active"),
        ("L2", "2026-02", "carried_over"),
        ("L2", "2026-03", "carried_over"),
        ("L2", "2026-04", "carried_over"),
    ]
    monthly = result.monthly
    assert monthly["elearning_learners"].to_list() == [2, 1, 0, 0]
    assert monthly["billable_learners"].to_list() == [2, 1, 1, 1]
    assert monthly["total"].to_list() == [
        Decimal("21.00"),
        Decimal("13.00"),
        Decimal("10.00"),
        Decimal("10.00"),
    ]
    lines = [
        (x.period_start, x.quantity, x.amount)
        for x in result.invoice.lines
        if x.kind == "elearning_overage"
    ]
    assert lines == [(JAN, 2, Decimal("6.00")), (FEB, 1, Decimal("3.00"))]
    assert result.invoice.total_ex_tax == Decimal("54.00")
    # The two refused enablings, with their lines; every row used or rejected.
    refused = result.rejected.filter(pl.col("source") == str(files["elearning"]))
    assert refused["line"].to_list() == [4, 9]
    assert refused["reason"][0] == (
        "enabling e-Learning enrolment 'E2' at 2026-02-01T09:00:00+11:00 rejected: "
        "learner 'L1' is inactive (status line 3); enabling an enrolment is a data "
        "change, which needs the learner Active"
    )
    assert result.inputs.rows()[-1] == (
        f"{files['elearning']} (e-Learning log)",
        8,
        6,
        2,
    )


def test_bill_command_with_the_elearning_log(
    files: dict[str, Path], tmp_path: Path
) -> None:
    out = tmp_path / "elearning-months.csv"
    result = runner.invoke(
        app,
        [
            "bill", str(files["status"]), "--elearning", str(files["elearning"]),
            "--included", "1", "--overage-price", "5.00",
            "--elearning-included", "0", "--elearning-overage-price", "3.00",
            "--through", "2026-04", "--format", "json",
            "--elearning-learner-months", str(out),
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    document = json.loads(result.stdout)
    assert [m["elearning_learners"] for m in document["months"]] == [2, 1, 0, 0]
    assert "elearning_learner_months" not in document  # written to the file
    with out.open() as handle:
        written = list(csv.DictReader(handle))
    assert [(r["learner_id"], r["month"], r["reason"]) for r in written] == [
        ("L1", "2026-01", "activated"),
        ("L1", "2026-02", "continuing"),
        ("L2", "2026-01", "activated"),
    ]
    assert "3 e-Learning learner-months written" in result.stderr


def test_bill_command_prices_and_needs_the_elearning_tier(
    files: dict[str, Path],
) -> None:
    args = ["bill", str(files["status"]), "--elearning", str(files["elearning"])]
    priced = runner.invoke(
        app,
        [
            *args, "--included", "1", "--overage-price", "5.00",
            "--elearning-included", "0", "--elearning-overage-price", "3.00",
            "--through", "2026-04", "--format", "json",
        ],
    )  # fmt: skip
    assert priced.exit_code == 0, priced.stderr
    # No base fee on a command-line plan: January 1 x 5.00 + 2 x 3.00 = 11.00,
    # February 1 x 3.00; the LRM learner of later months is the included one.
    totals = [m["total"] for m in json.loads(priced.stdout)["months"]]
    assert totals == ["11.00", "3.00", "0.00", "0.00"]
    # LRM prices alone do not price e-Learning overage: a clear error, not 0.00.
    unpriced = runner.invoke(app, [*args, "--included", "1", "--overage-price", "5"])
    assert unpriced.exit_code == 2
    assert "e-Learning" in unpriced.stderr
    assert "Traceback" not in unpriced.stderr
    half = runner.invoke(app, [*args, "--elearning-included", "3"])
    assert half.exit_code == 2
    assert "go together" in half.stderr
    usage_only = runner.invoke(app, [*args, "--format", "json"])
    assert usage_only.exit_code == 0, usage_only.stderr
    months = json.loads(usage_only.stdout)["months"]
    assert [m["elearning_learners"] for m in months] == [2, 1, 0]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "learner_id,changed_at,enabled\nL1,2026-01-01T00:00:00Z,yes\n",
            "missing column(s) `enrolment_id`",
        ),
        (
            "learner_id,enrolment_id,changed_at,enabled\nL1, ,2026-01-01T00:00:00Z,yes\n",
            ":2: `enrolment_id`: blank",
        ),
        (
            "learner_id,enrolment_id,changed_at,enabled\nL1,E1,2026-01-01T00:00:00Z,on\n",
            ":2: `enabled`: expected one of true, yes, y, 1, false, no, n, 0; got 'on'",
        ),
        (
            "learner_id,enrolment_id,changed_at,enabled\n"
            "L1,E1,2026-01-01T00:00:00Z,yes\nL2,E1,2026-01-02T00:00:00Z,no\n",
            ":3: `enrolment_id`: enrolment 'E1' is listed under learners 'L1' and "
            "'L2' (lines 2, 3); an enrolment belongs to one learner",
        ),
        (
            "learner_id,enrolment_id,changed_at,enabled\n"
            "L1,E1,2026-01-01T00:00:00Z,yes\nL1,E1,2026-01-01T00:00:00Z,no\n",
            ":3: `enabled`: enrolment 'E1' of learner 'L1' is set to Enabled (line 2) "
            "and Disabled (line 3) at the same instant 2026-01-01T00:00:00Z",
        ),
        (
            "learner_id,enrolment_id,changed_at,enabled\nL1,E1,2026-01-01 09:00,yes\n",
            ":2: `changed_at`:",
        ),
    ],
)
def test_bad_enrolment_logs_get_a_clear_error(
    tmp_path: Path, text: str, message: str
) -> None:
    path = tmp_path / "elearning.csv"
    path.write_text(text)
    with pytest.raises(LogFormatError) as info:
        read_elearning_log(path)
    assert message in str(info.value)
    assert str(info.value).startswith(str(path))


def test_duplicates_and_blank_records_are_counted_and_reported(tmp_path: Path) -> None:
    path = tmp_path / "elearning.csv"
    path.write_text(
        "learner_id,enrolment_id,changed_at,enabled\n"
        "L1,E1,2026-01-01T00:00:00Z,yes\n"
        ",,,\n"
        "L1,E1,2026-01-01T00:00:00Z,YES\n"
    )
    log = read_elearning_log(path)
    assert log.rows_read == 3
    assert log.events.height == 1
    assert log.rejected.select("line", "reason").rows() == [
        (3, "blank record (every field empty); not used"),
        (4, "duplicate of line 2; counted once"),
    ]


def test_a_typed_parquet_enrolment_log_reads_like_csv(
    files: dict[str, Path], tmp_path: Path
) -> None:
    from_csv = read_elearning_log(files["elearning"])
    path = tmp_path / "elearning.parquet"
    pl.read_csv(files["elearning"]).select(
        "learner_id",
        "enrolment_id",
        pl.col("changed_at").str.to_datetime(time_zone="UTC"),
        pl.col("enabled") == "yes",
    ).write_parquet(path)
    typed = read_elearning_log(path)
    assert typed.events.drop("line").equals(from_csv.events.drop("line"))
    assert typed.events["line"].to_list() == [x - 1 for x in from_csv.events["line"]]


# --- the differential test against the event-by-event reference -----------------

ZONE = "Australia/Sydney"
BASE = datetime(2025, 12, 31, 12, 0, tzinfo=UTC)  # 23:00 on 31 December in Sydney


@st.composite
def logs(
    draw: st.DrawFn,
) -> tuple[list[tuple[str, datetime, bool]], list[EnrolmentEvent]]:
    """A small status log and enrolment log around month edges, no conflicts."""
    learners = [f"L{k}" for k in range(draw(st.integers(1, 4)))]
    offsets = st.sampled_from([0, 1, 3_600, 86_400, 2_678_400, 2_682_000, 5_000_000])
    status: dict[tuple[str, datetime], bool] = {}
    for learner in learners:
        for _ in range(draw(st.integers(0, 4))):
            at = BASE + timedelta(seconds=draw(offsets) + draw(st.integers(0, 3)))
            status.setdefault((learner, at), draw(st.booleans()))
    enrolments: dict[tuple[str, str, datetime], bool] = {}
    for learner in learners:
        for k in range(draw(st.integers(0, 3))):
            for _ in range(draw(st.integers(1, 4))):
                at = BASE + timedelta(seconds=draw(offsets) + draw(st.integers(0, 3)))
                enrolments.setdefault(
                    (learner, f"{learner}-E{k}", at), draw(st.booleans())
                )
    return (
        [(learner, at, value) for (learner, at), value in status.items()],
        [EnrolmentEvent(who, e, at, on) for (who, e, at), on in enrolments.items()],
    )


def write_enrolments(path: Path, events: list[EnrolmentEvent]) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["learner_id", "enrolment_id", "changed_at", "enabled"])
        for e in events:
            writer.writerow(
                [e.learner_id, e.enrolment_id, e.changed_at.isoformat(), e.enabled]
            )


@settings(max_examples=max(10, settings().max_examples // 2))
@given(case=logs(), with_status=st.booleans())
def test_the_meter_equals_the_event_by_event_replay(
    case: tuple[list[tuple[str, datetime, bool]], list[EnrolmentEvent]],
    with_status: bool,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    status_rows, enrolments = case
    path = tmp_path_factory.mktemp("elearning") / "elearning.csv"
    write_enrolments(path, enrolments)
    first, last = date(2026, 1, 1), date(2026, 3, 1)
    learners = None
    if with_status:
        events = [StatusEvent(learner, at, value) for learner, at, value in status_rows]
        learners = replay(events).learners
    expected, refused = replay_elearning(enrolments, learners, ZONE, first, last)
    if with_status and not status_rows:
        return  # an empty status log cannot be billed; nothing to compare
    status = (
        status_log(*status_rows)
        if with_status
        else status_log(("nobody", BASE, False))  # the meter alone: no status given
    )
    from meter_sim.elearning import meter_elearning

    got = meter_elearning(
        read_elearning_log(path),
        status.events if with_status else None,
        timezone=ZONE,
        first=first,
        last=last,
    )
    assert sorted(rows(got.learner_months)) == sorted(
        (learner, f"{month:%Y-%m}", reason)
        for learner, months in expected.items()
        for month, reason in months
    )
    assert got.rejected.height == len(refused)
    counts = dict(got.usage.iter_rows())
    for month in (first, date(2026, 2, 1), last):
        assert counts[month] == sum(
            any(m == month for m, _ in months) for months in expected.values()
        )
    event(f"status given: {with_status}; refused: {len(refused) > 0}")
    event(f"billed learner-months: {min(got.learner_months.height, 3)}")


# --- the example scenario: through `run` and through `bill --elearning` ----------

EXAMPLE = Path(__file__).parents[1] / "scenarios" / "elearning.yaml"

EXAMPLE_LRM = {
    "A": ["2026-01", "2026-02", "2026-03", "2026-04"],
    "B": ["2026-01", "2026-02"],
    "C": ["2026-02", "2026-03", "2026-04"],
    "D": ["2026-03"],
}
EXAMPLE_ELEARNING = [  # worked by hand in the scenario's header
    ("A", "2026-01", "activated"),
    ("A", "2026-02", "continuing"),
    ("A", "2026-03", "continuing"),
    ("B", "2026-01", "activated"),
    ("B", "2026-02", "continuing"),
    ("B", "2026-03", "continuing"),
    ("B", "2026-04", "continuing"),
    ("C", "2026-02", "activated"),
    ("D", "2026-03", "activated"),
]


BOTH_PLAN = (
    "name: both\ncurrency: AUD\nbase_fee: 100.00\nincluded_learners: 2\n"
    "overage_price: 10.00\nincluded_elearning_learners: 1\n"
    "elearning_overage_price: 4.00\n"
)
"""The example scenario's plan as a plan file."""


def price_book(folder: Path) -> Path:
    """A price book of the example's plan (``both``) and one without e-Learning."""
    book = folder / "book"
    book.mkdir()
    (book / "both.yaml").write_text(BOTH_PLAN)
    (book / "lrm-only.yaml").write_text(
        "name: LRM only\ncurrency: AUD\nbase_fee: 90.00\nincluded_learners: 2\n"
        "overage_price: 10.00\n"
    )
    return book


def export_example(folder: Path) -> tuple[Path, Path]:
    """The example scenario's status and enrolment logs, written as CSV files."""
    scenario = load_scenario(EXAMPLE)
    status, enrolments = folder / "status.csv", folder / "elearning.csv"
    scenario.status_frame().select("learner_id", "changed_at", "is_active").write_csv(
        status
    )
    frame = scenario.elearning_frame()
    assert frame is not None
    frame.select("learner_id", "enrolment_id", "changed_at", "enabled").write_csv(
        enrolments
    )
    return status, enrolments


def check_example(result: Bill) -> None:
    lrm: dict[str, list[str]] = {}
    for learner, month, _ in rows(result.learner_months):
        lrm.setdefault(learner, []).append(month)
    assert lrm == EXAMPLE_LRM
    assert result.elearning is not None
    assert rows(result.elearning.learner_months) == EXAMPLE_ELEARNING
    assert result.monthly["billable_learners"].to_list() == [2, 3, 3, 2]
    assert result.monthly["elearning_learners"].to_list() == [2, 3, 3, 1]
    assert result.monthly["total"].to_list() == [
        Decimal("104.00"),
        Decimal("118.00"),
        Decimal("118.00"),
        Decimal("100.00"),
    ]
    assert result.invoice.total_ex_tax == Decimal("440.00")
    # Overage in arrears: January's e-Learning overage (1 x 4.00) is on the
    # invoice of 1 February, beside February's base fee (in advance).
    february = result.invoice.by_invoice_date()[FEB]
    assert sorted((x.kind, x.period_start, x.amount) for x in february) == [
        ("base_subscription", FEB, Decimal("100.00")),
        ("elearning_overage", JAN, Decimal("4.00")),
    ]
    refused = result.rejected.filter(pl.col("reason").str.contains("e-Learning"))
    assert refused["reason"].str.extract(r"enrolment '([^']+)'").to_list() == [
        "B-E2",
        "D-E2",
    ]


def test_the_example_scenario_runs_as_worked_by_hand() -> None:
    check_example(run_scenario(load_scenario(EXAMPLE)))
    result = runner.invoke(app, ["run", str(EXAMPLE), "--learners", "--format", "json"])
    assert result.exit_code == 0, result.stderr
    document = json.loads(result.stdout)
    assert [m["elearning_learners"] for m in document["months"]] == [2, 3, 3, 1]
    assert [
        (r["learner_id"], r["month"], r["reason"])
        for r in document["elearning_learner_months"]
    ] == EXAMPLE_ELEARNING


def test_the_example_billed_from_exported_logs_is_the_same(tmp_path: Path) -> None:
    scenario = load_scenario(EXAMPLE)
    status, enrolments = export_example(tmp_path)
    result = bill(
        read_status_log(status),
        plan=scenario.plan,
        timezone=scenario.timezone,
        first_month=JAN,
        last_month=APR,
        elearning=read_elearning_log(enrolments),
    )
    check_example(result)
    plan = tmp_path / "plan.yaml"
    plan.write_text(BOTH_PLAN)
    command = runner.invoke(
        app,
        [
            "bill", str(status), "--elearning", str(enrolments), "--plan", str(plan),
            "--from", "2026-01", "--through", "2026-04", "--format", "json",
        ],
    )  # fmt: skip
    assert command.exit_code == 0, command.stderr
    totals = [m["total"] for m in json.loads(command.stdout)["months"]]
    assert totals == ["104.00", "118.00", "118.00", "100.00"]


def test_plans_prices_both_meters_and_names_a_plan_that_cannot(
    tmp_path: Path,
) -> None:
    # The example's usage (LRM 2, 3, 3, 2; e-Learning 2, 3, 3, 1) under its own
    # plan gives 440.00 (worked in the scenario's header); a plan with no
    # e-Learning price cannot price 1 e-Learning learner over its tier of 0.
    book = price_book(tmp_path)
    result = runner.invoke(
        app, ["plans", str(EXAMPLE), "--price-book", str(book), "--format", "json"]
    )
    assert result.exit_code == 0, result.stderr
    document = json.loads(result.stdout)
    assert [(p["plan"], p["total_ex_tax"]) for p in document["plans"]] == [
        ("both", "440.00")
    ]
    assert list(document["not_priced"]) == ["lrm-only"]
    assert "states no e-Learning overage price" in document["not_priced"]["lrm-only"]
    (book / "both.yaml").unlink()
    alone = runner.invoke(app, ["plans", str(EXAMPLE), "--price-book", str(book)])
    assert alone.exit_code == 2
    assert "no plan of the price book can price this usage (lrm-only)" in (
        " ".join(alone.stderr.split())
    )


def test_the_status_report_shows_the_elearning_meter(tmp_path: Path) -> None:
    # B is LRM-inactive from 10 February but B-E1 stays Enabled: in April the
    # report says not billable on the LRM meter, billable on the e-Learning one.
    status, enrolments = export_example(tmp_path)
    out = tmp_path / "report.csv"
    result = runner.invoke(
        app,
        [
            "report", "status", str(status), "--elearning", str(enrolments),
            "--out", str(out), "--from", "2026-01", "--through", "2026-04",
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    report = pl.read_csv(out)
    rows_of = {
        (r["billing_month"], r["learner_id"]): (
            r["billable_in_month"],
            r["elearning_billable_in_month"],
        )
        for r in report.iter_rows(named=True)
    }
    assert rows_of[("2026-04", "B")] == ("N", "Y")
    assert rows_of[("2026-04", "A")] == ("Y", "N")
    assert rows_of[("2026-03", "D")] == ("Y", "Y")
    assert sum(e == "Y" for _, e in rows_of.values()) == 9  # the e-Learning months


def test_reconcile_checks_an_invoice_of_both_meters(tmp_path: Path) -> None:
    # The example's months cost 104.00, 118.00, 118.00 and 100.00 (its header);
    # an invoice that leaves out January's e-Learning overage (1 x 4.00) differs.
    status, enrolments = export_example(tmp_path)
    plan = tmp_path / "plan.yaml"
    plan.write_text(BOTH_PLAN)
    invoice = tmp_path / "invoice.csv"
    args = [
        "reconcile", "--status", str(status), "--elearning", str(enrolments),
        "--invoice", str(invoice), "--plan", str(plan), "--format", "json",
    ]  # fmt: skip
    invoice.write_text(
        "month,billable_learners,amount\n"
        "2026-01,2,104.00\n2026-02,3,118.00\n2026-03,3,118.00\n2026-04,2,100.00\n"
    )
    right = runner.invoke(app, args)
    assert right.exit_code == 0, right.stdout
    months = json.loads(right.stdout)["months"]
    assert [m["expected_elearning_learners"] for m in months] == [2, 3, 3, 1]
    invoice.write_text(invoice.read_text().replace("104.00", "100.00"))
    wrong = runner.invoke(app, args)
    assert wrong.exit_code == 1
    january = json.loads(wrong.stdout)["months"][0]
    assert (january["verdict"], january["amount_difference"]) == ("differs", "-4.00")


def test_every_strategy_keeps_the_elearning_meter() -> None:
    # always_active keeps every learner Active from creation on. LRM: Jan {A, B},
    # Feb {A, B, C}, Mar and Apr {A, B, C, D}: overage 0 + 1 + 2 + 2 = 5 x 10.00.
    # e-Learning: as the scenario, but D-E2 (15 April) is now accepted, D being
    # Active: 2, 3, 3, 2 learners, overage 1 + 2 + 2 + 1 = 6 x 4.00. Total 4 x
    # 100.00 + 50.00 + 24.00 = 474.00, and no enabling is refused.
    from meter_sim.simulate import compare_strategies

    comparison = compare_strategies(load_scenario(EXAMPLE))
    always = comparison.bills["always_active"]
    assert always.elearning is not None
    assert always.monthly["elearning_learners"].to_list() == [2, 3, 3, 2]
    assert always.invoice.total_ex_tax == Decimal("474.00")
    assert always.rejected.is_empty()
    assert comparison.bills["explicit"].invoice.total_ex_tax == Decimal("440.00")


# --- faults found by a break-it trial ----------------------------------------------


def test_e_learning_outputs_and_prices_are_checked_before_any_work(
    files: dict[str, Path], tmp_path: Path
) -> None:
    base = ["bill", str(files["status"]), "--elearning", str(files["elearning"])]
    same = str(tmp_path / "same.csv")
    for other in ("--learner-months", "--rejected"):
        result = runner.invoke(
            app, [*base, "--elearning-learner-months", same, other, same]
        )
        assert result.exit_code == 2
        assert f"--elearning-learner-months and {other} name the same file" in (
            " ".join(result.stderr.split())
        )
        assert not (tmp_path / "same.csv").exists()
    alone = runner.invoke(
        app,
        ["bill", str(files["status"]), "--elearning-included", "1",
         "--elearning-overage-price", "2"],
    )  # fmt: skip
    assert alone.exit_code == 2
    assert "price an e-Learning log: --elearning" in alone.stderr
    usage_only = runner.invoke(
        app, [*base, "--elearning-included", "1", "--elearning-overage-price", "2"]
    )
    assert usage_only.exit_code == 2
    assert "go with --included and --overage-price" in usage_only.stderr
    bad = runner.invoke(
        app,
        [*base, "--included", "1", "--overage-price", "5", "--elearning-included",
         "1", "--elearning-overage-price", "1e3"],
    )  # fmt: skip
    assert bad.exit_code == 2
    assert "--elearning-overage-price" in bad.stderr


def test_the_default_period_and_enrolments_still_enabled(tmp_path: Path) -> None:
    # B is Active 10 to 20 January 2026. A Disabled enrolment row of November
    # 2025 (before B exists) does not stretch the period back; B-E1 enabled on
    # 11 January and never disabled bills January, and B-E2 disabled in March
    # stretches the period to March: e-Learning January to March.
    status = tmp_path / "status.csv"
    status.write_text(
        "learner_id,changed_at,is_active\n"
        "B,2026-01-10T09:00:00+11:00,yes\nB,2026-01-20T09:00:00+11:00,no\n"
    )
    enrolments = tmp_path / "elearning.csv"
    enrolments.write_text(
        "learner_id,enrolment_id,changed_at,enabled\n"
        "B,E0,2025-11-11T09:00:00+11:00,no\n"
        "B,E1,2026-01-11T09:00:00+11:00,yes\n"
        "B,E2,2026-03-03T09:00:00+11:00,no\n"
    )
    result = runner.invoke(
        app, ["bill", str(status), "--elearning", str(enrolments), "--format", "json"]
    )
    assert result.exit_code == 0, result.stderr
    months = json.loads(result.stdout)["months"]
    assert [m["month"] for m in months] == ["2026-01", "2026-02", "2026-03"]
    assert [m["elearning_learners"] for m in months] == [1, 1, 1]
    assert (
        "1 learner(s) with an e-Learning enrolment still Enabled at the end of the "
        "log are billed through 2026-03 only"
    ) in " ".join(result.stderr.split())


def test_plans_csv_names_the_plans_not_priced(tmp_path: Path) -> None:
    book = price_book(tmp_path)
    result = runner.invoke(
        app, ["plans", str(EXAMPLE), "--price-book", str(book), "--format", "csv"]
    )
    assert result.exit_code == 0
    assert "lrm-only" not in result.stdout
    assert "not priced: lrm-only:" in result.stderr


def test_run_takes_the_definition_and_lists_learner_months_only_if_asked(
    tmp_path: Path,
) -> None:
    # L1: Active 5 to 20 January 2026; a contact edit on 15 March while Inactive.
    # Under the Terms, March is billed for it; under the flag it is not.
    scenario = tmp_path / "terms.yaml"
    scenario.write_text(
        "name: Terms\ntimezone: Australia/Sydney\n"
        "period: {from: 2026-01, through: 2026-03}\n"
        "plan: {name: P, currency: AUD, base_fee: 0, included_learners: 0, "
        "overage_price: 1.00}\n"
        "learners:\n"
        "  - id: L1\n"
        "    status:\n"
        "      - {at: 2026-01-05 09:00, active: yes}\n"
        "      - {at: 2026-01-20 09:00, active: no}\n"
        "    activities:\n"
        "      - {at: 2026-03-15 10:00, kind: personal_contact}\n"
    )
    args = ["run", str(scenario), "--learners", "--format", "json"]
    flag = json.loads(runner.invoke(app, args).stdout)
    terms = json.loads(
        runner.invoke(app, [*args, "--definition", "flag_or_activity"]).stdout
    )
    assert [m["billable_learners"] for m in flag["months"]] == [1, 0, 0]
    assert [m["billable_learners"] for m in terms["months"]] == [1, 0, 1]
    assert terms["learner_months"][-1] == {
        "learner_id": "L1",
        "month": "2026-03",
        "reason": "activity_while_inactive",
    }
    quiet = runner.invoke(app, ["run", str(EXAMPLE), "--format", "json"])
    assert "elearning_learner_months" not in json.loads(quiet.stdout)


def test_a_bad_scenario_enrolment_names_its_key(tmp_path: Path) -> None:
    scenario = tmp_path / "bad.yaml"
    scenario.write_text(
        "name: Bad\ntimezone: Australia/Sydney\n"
        "plan: {name: P, currency: AUD, base_fee: 0, included_learners: 0, "
        "overage_price: 1.00}\n"
        "learners:\n"
        "  - id: L1\n"
        "    status: [{at: 2026-01-05 09:00, active: yes}]\n"
        "    elearning: [{at: 2026-01-06 09:00, enrolment: ' ', enabled: yes}]\n"
    )
    result = runner.invoke(app, ["run", str(scenario)])
    assert result.exit_code == 2
    message = " ".join(result.stderr.split())
    assert "learners.0.elearning.0.enrolment" in message
    assert "blank (empty or only white space); an id is expected" in message
