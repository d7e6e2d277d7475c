"""Safe output: CSV for people cannot run formulas; ids survive a round trip.

CSV written for people (``report ... --excel``, ``reconcile --out``) must not let
a spreadsheet read any cell as a formula (CSV injection; OWASP ASVS 5.0, 1.2.10):
no text cell may start with ``=``, ``+``, ``-`` or ``@`` (after spaces, or in
their full-width forms), or with a tab, a line break or a NUL; numbers stay
numbers. CSV written for programs (``report`` without ``--excel``) must give back
exactly the learner ids it was given, commas, quotes, line breaks and non-ASCII
letters included, through the status log reader and the vendor report reader.
"""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from meter_sim.billing import bill
from meter_sim.cli import USAGE_ONLY, app
from meter_sim.logs import read_status_log
from meter_sim.reconcile import read_vendor_report
from meter_sim.reports import status_report, write_report

runner = CliRunner()
BAD = Path(__file__).parent / "data" / "bad"
NUMBER = re.compile(r"-?[0-9]+(\.[0-9]+)?")
FORMULA = tuple("=+-@\uff1d\uff0b\uff0d\uff20")
EXAMPLES = settings(max_examples=max(10, settings().max_examples // 2))

ids = st.text(st.characters(exclude_categories=["Cs"]), min_size=1, max_size=12).filter(
    lambda text: text.strip() != ""
)
"""Learner ids: any text that is not blank (kept as written, spaces too)."""


def unsafe(cell: str) -> bool:
    """Whether a spreadsheet could read ``cell`` as a formula."""
    if NUMBER.fullmatch(cell):
        return False
    return cell[:1] in {"\t", "\r", "\n", "\x00"} or cell.lstrip().startswith(FORMULA)


def cells(path: Path) -> list[list[str]]:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return list(csv.reader(handle))


def status_csv(path: Path, learner_ids: list[str]) -> Path:
    """A status log creating each learner Active, a day apart.

    Every field is quoted: Python's minimal quoting leaves a carriage return
    bare, which no CSV reader keeps (RFC 4180 wants it quoted).
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n", quoting=csv.QUOTE_ALL)
    writer.writerow(["learner_id", "changed_at", "is_active"])
    start = datetime(2018, 7, 1, tzinfo=UTC)
    for day, learner_id in enumerate(learner_ids):
        writer.writerow([learner_id, (start + timedelta(days=day)).isoformat(), "yes"])
    path.write_text(buffer.getvalue(), encoding="utf-8")
    return path


# --- CSV for people ---------------------------------------------------------------


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder for the files of every example (overwritten each time)."""
    return tmp_path_factory.mktemp("safe")


@EXAMPLES
@given(texts=st.lists(st.text(max_size=8), min_size=1, max_size=6))
def test_no_text_cell_of_an_excel_csv_can_start_a_formula(
    texts: list[str], workdir: Path
) -> None:
    path = workdir / "excel.csv"
    frame = pl.DataFrame(
        {"text": texts, "count": [-3] * len(texts), "amount": ["-1.50"] * len(texts)}
    ).with_columns(pl.col("amount").cast(pl.Decimal(10, 2)))
    write_report(frame, path, form="excel-csv")
    rows = cells(path)
    assert rows[0] == ["text", "count", "amount"]
    for row, text in zip(rows[1:], texts, strict=True):
        assert not unsafe(row[0])
        assert row[0] in {text, "'" + text}
        assert row[1:] == ["-3", "-1.50"]


def test_report_excel_output_is_safe(tmp_path: Path) -> None:
    out = tmp_path / "report.csv"
    for kind in ("status", "activity"):
        result = runner.invoke(
            app,
            [
                "report", kind, str(BAD / "status" / "formula-ids.csv"),
                "--activity", str(BAD / "activity" / "header-only.csv"),
                "--out", str(out), "--excel",
            ],
        )  # fmt: skip
        assert result.exit_code == 0, result.stderr
        rows = cells(out)
        assert rows
        assert not [cell for row in rows for cell in row if unsafe(cell)]
    result = runner.invoke(
        app,
        ["report", "status", str(BAD / "status" / "formula-ids.csv"), "--out", str(out),
         "--excel"],
    )  # fmt: skip
    ids = {row[1] for row in cells(out)[1:]}
    assert ids == {'\'=HYPERLINK("http://x")', "'+61 400 000 000", "'-1", "'@SUM(A1)"}


def test_reconcile_out_folder_is_safe(tmp_path: Path) -> None:
    status = status_csv(tmp_path / "status.csv", ["=cmd|' /C calc'!A0", "-2+3", "A"])
    invoice = tmp_path / "lines.csv"
    invoice.write_text(
        "month,learner_id\n2018-07,=cmd|' /C calc'!A0\n2018-07,@SUM(1)\n"
        "2018-07,\t=1\n2018-07, =1+1\n2018-07,\uff1d1\n",
        encoding="utf-8",
    )
    vendor = tmp_path / "vendor.csv"
    vendor.write_text(
        "billing_month,learner_id,billable_in_month,first_name,last_name,"
        "date_of_birth\n2018-07,-2+3,Y,=Ann,+Lee,1990-01-02\n2018-07,A,Y,=Ann,+Lee,"
        "1990-01-02\n",
        encoding="utf-8",
    )
    plan = tmp_path / "plan.yaml"
    plan.write_text(
        "name: P\ncurrency: AUD\nbase_fee: 1\nincluded_learners: 0\noverage_price: 1\n",
        encoding="utf-8",
    )
    out = tmp_path / "out"
    result = runner.invoke(
        app,
        [
            "reconcile", "--status", str(status), "--invoice", str(invoice),
            "--vendor-report", str(vendor), "--plan", str(plan), "--out", str(out),
        ],
    )  # fmt: skip
    assert result.exit_code == 1, result.stderr
    written = sorted(out.glob("*.csv"))
    assert len(written) == 6
    found = [
        (path.name, cell)
        for path in written
        for row in cells(path)
        for cell in row
        if unsafe(cell)
    ]
    assert found == []
    learners = cells(out / "learner_months.csv")
    assert "'=cmd|' /C calc'!A0" in {row[1] for row in learners}


# --- CSV for programs -------------------------------------------------------------


def test_awkward_ids_round_trip_through_the_report_command(tmp_path: Path) -> None:
    source = BAD / "status" / "awkward-ids.csv"
    out = tmp_path / "report.csv"
    result = runner.invoke(app, ["report", "status", str(source), "--out", str(out)])
    assert result.exit_code == 0, result.stderr
    written = set(read_vendor_report(out).rows["learner_id"].to_list())
    assert written == set(read_status_log(source).events["learner_id"].to_list())
    assert written == {"Smith, Jo", 'say "hi"', "two\nlines", "Émilie Núñez", "学生"}


@settings(max_examples=max(10, settings().max_examples // 4))
@given(learner_ids=st.lists(ids, min_size=1, max_size=6, unique=True))
def test_any_id_round_trips_through_the_readers_and_the_report(
    learner_ids: list[str], workdir: Path
) -> None:
    log = read_status_log(status_csv(workdir / "status.csv", learner_ids))
    assert sorted(log.events["learner_id"].to_list()) == sorted(learner_ids)
    report = status_report(bill(log, plan=USAGE_ONLY), log)
    write_report(report, workdir / "report.csv")
    back = read_vendor_report(workdir / "report.csv")
    assert set(back.rows["learner_id"].to_list()) == set(learner_ids)
    assert back.rows.height == report.height
