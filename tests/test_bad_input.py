"""Hostile and broken input: the corpus of tests/data/bad/ and huge inputs.

Every file of the corpus is listed in ``tests/data/bad/corpus.toml`` with what is
wrong with it and what meter_sim must say. Each is given to the Python API and to
the command that reads it: a bad file must raise a `MeterSimError` (exit status 2,
no traceback) whose message names the file and the line or field; a file that can
be read must have every row accounted for (read = used + rejected).

Huge inputs (a 100 MB field, a 100 MB header, a million bad rows) are written in a
temporary folder and run in a child process, which must answer within
`TIME_BOUND` seconds and a peak memory of `MEMORY_BOUND` MB.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tomllib
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from typer.testing import CliRunner

from meter_sim.billing import bill, bill_streaming, run_scenario
from meter_sim.cli import app
from meter_sim.exceptions import LogFormatError, MeterSimError
from meter_sim.logs import read_activity_log, read_status_log
from meter_sim.pricing import Plan
from meter_sim.reconcile import read_invoice, read_vendor_report, reconcile
from meter_sim.scenario import load_plan, load_scenario

BAD = Path(__file__).parent / "data" / "bad"
ROOT = Path(__file__).parents[1]
TABLE = BAD / "corpus.toml"
NOT_INPUTS = {"README.md", "corpus.toml", "make_corpus.py"}
"""Files of tests/data/bad/ that are not corpus inputs."""

runner = CliRunner()

STATUS = """learner_id,changed_at,is_active
A,2018-07-02T09:00:00+10:00,yes
B,2018-07-03T09:00:00+10:00,yes
B,2018-07-20T09:00:00+10:00,no
"""
"""The good status log beside a bad activity log, invoice, report or plan."""

INVOICE = "month,billable_learners,amount\n2018-07,2,110.00\n2018-08,1,100.00\n"
PLAN_TEXT = (
    "name: Check\ncurrency: AUD\nbase_fee: 100.00\nincluded_learners: 1\n"
    "overage_price: 10.00\n"
)
PLAN = Plan(
    name="Check",
    currency="AUD",
    base_fee=Decimal("100.00"),
    included_learners=1,
    overage_price=Decimal("10.00"),
)


@dataclass(frozen=True)
class Entry:
    """One row of the corpus table (see its header for the fields)."""

    file: str
    kind: str
    wrong: str
    error: str | None = None
    also: str | None = None
    source: str | None = None
    rows: dict[str, list[int]] = field(default_factory=dict)
    cli_error: str | None = None
    xfail: str | None = None

    @property
    def path(self) -> Path:
        """The file, relative to the working folder (as a user would name it)."""
        return Path(os.path.relpath((BAD / self.file).resolve()))

    @property
    def named(self) -> Path:
        """The file the message must start with."""
        if self.source is None:
            return self.path
        return Path(os.path.relpath((BAD / self.source).resolve()))


def load_table() -> list[Entry]:
    entries = []
    for row in tomllib.loads(TABLE.read_text(encoding="utf-8"))["input"]:
        kind = row.pop("kind", None) or Path(row["file"]).parent.name
        entries.append(Entry(kind=kind, **row))
    return entries


ENTRIES = load_table()


def params() -> list[Any]:
    return [
        pytest.param(
            entry,
            id=entry.file,
            marks=[pytest.mark.xfail(strict=True, reason=entry.xfail)]
            if entry.xfail
            else [],
        )
        for entry in ENTRIES
    ]


@dataclass(frozen=True)
class Companions:
    """Good files to go with a bad one: a status log, an invoice and a plan."""

    status: Path
    invoice: Path
    plan: Path


@pytest.fixture(scope="module")
def good(tmp_path_factory: pytest.TempPathFactory) -> Companions:
    folder = tmp_path_factory.mktemp("good")
    files = Companions(
        folder / "status.csv", folder / "invoice.csv", folder / "plan.yaml"
    )
    files.status.write_text(STATUS, encoding="utf-8")
    files.invoice.write_text(INVOICE, encoding="utf-8")
    files.plan.write_text(PLAN_TEXT, encoding="utf-8")
    return files


def use(entry: Entry, good: Companions) -> pl.DataFrame:
    """Read the input and use it as its command does; the row accounting."""
    path = entry.path
    if entry.kind == "status":
        return bill(read_status_log(path), plan=PLAN).inputs
    if entry.kind == "activity":
        status = read_status_log(good.status)
        return bill(status, read_activity_log(path), plan=PLAN).inputs
    if entry.kind == "invoice":
        return reconcile(
            read_status_log(good.status), read_invoice(path), plan=PLAN
        ).inputs
    if entry.kind == "vendor":
        return reconcile(
            read_status_log(good.status),
            read_invoice(good.invoice),
            vendor_report=read_vendor_report(path),
            plan=PLAN,
        ).inputs
    if entry.kind == "plan":
        return bill(read_status_log(good.status), plan=load_plan(path)).inputs
    assert entry.kind == "scenario"
    return run_scenario(load_scenario(path)).inputs


def command(entry: Entry, good: Companions) -> list[str]:
    """The command that reads the input; the row accounting goes to stderr."""
    path = str(entry.path)
    status, invoice, plan = str(good.status), str(good.invoice), str(good.plan)
    check = ["reconcile", "--status", status, "--plan", plan, "--format", "csv"]
    return {
        "status": ["bill", path],
        "activity": ["bill", status, "--activity", path],
        "invoice": [*check, "--invoice", path],
        "vendor": [*check, "--invoice", invoice, "--vendor-report", path],
        "plan": ["bill", status, "--plan", path],
        "scenario": ["run", path],
    }[entry.kind] + (
        [] if entry.kind in {"invoice", "vendor"} else ["--format", "json"]
    )


def flat(text: str) -> str:
    """Text with every run of white space one space (the terminal wraps lines)."""
    return " ".join(text.split())


def accounting(label: str, counts: list[int]) -> str:
    read, used, rejected = counts
    return f"{label}: {read} rows read, {used} used, {rejected} rejected"


# --- the table itself ---------------------------------------------------------------


def test_every_corpus_file_is_in_the_table() -> None:
    on_disk = {
        str(path.relative_to(BAD))
        for path in BAD.rglob("*")
        if path.is_file()
        and path.name not in NOT_INPUTS
        and "__pycache__" not in path.parts
        and path.parent.name != "plans"  # plans that corpus scenarios name
    }
    listed = {entry.file for entry in ENTRIES}
    assert on_disk - listed == set(), "corpus files missing from corpus.toml"
    assert {f for f in listed if not f.startswith("../")} - on_disk == set()
    assert all((BAD / f).is_file() for f in listed)
    assert all(
        (entry.error is None) != (not entry.rows) or entry.xfail for entry in ENTRIES
    ), "each entry has an error or rows"


def test_the_corpus_covers_every_kind_of_input() -> None:
    kinds = {entry.kind for entry in ENTRIES}
    assert kinds == {"status", "activity", "invoice", "vendor", "plan", "scenario"}


def test_the_written_files_match_their_generator(tmp_path: Path) -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location("make_corpus", BAD / "make_corpus.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    for name, data in module.text_files().items():
        assert (BAD / name).read_bytes() == data, name


# --- every input, through the Python API and the command -----------------------------


@pytest.mark.parametrize("entry", params())
def test_python_api(entry: Entry, good: Companions) -> None:
    if entry.error is not None:
        with pytest.raises(MeterSimError) as info:
            use(entry, good)
        message = str(info.value)
        assert message.startswith(f"{entry.named}{entry.error}")
        assert entry.also is None or entry.also in message
        return
    if entry.cli_error is not None:
        with pytest.raises(MeterSimError) as info:
            use(entry, good)
        assert str(info.value).startswith(f"{entry.path}{entry.cli_error}")
        return
    inputs = use(entry, good)
    for label, counts in entry.rows.items():
        row = inputs.row(by_predicate=pl.col("input") == f"{entry.path} ({label})")
        assert list(row[1:]) == counts
        assert counts[0] == counts[1] + counts[2]


@pytest.mark.parametrize("entry", params())
def test_command(entry: Entry, good: Companions) -> None:
    result = runner.invoke(app, command(entry, good))
    output = result.stdout + result.stderr
    assert "Traceback" not in output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    expected = entry.error or entry.cli_error
    if expected is not None:
        assert result.exit_code == 2, output
        named = entry.named if entry.error else entry.path
        assert flat(f"error: {named}{expected}") in flat(result.stderr)
        assert entry.also is None or entry.also in result.stderr
        return
    assert result.exit_code in {0, 1}, output  # 1: the invoice differs
    for label, counts in entry.rows.items():
        assert flat(accounting(f"{entry.path} ({label})", counts)) in flat(
            result.stderr
        )


# --- huge inputs, in a child process with bounded time and memory --------------------

TIME_BOUND = 20.0
"""Most seconds a command may take on a huge input (2-core machine). [s]"""

MEMORY_BOUND = 1_536
"""Most peak memory (resident) a command may use on a 100 MB input. [MB]"""

ADDRESS_CAP = 4_096
"""The child's address space is capped here, so a runaway cannot take the
machine's memory (it fails instead). [MB]"""

HUGE = 100 * 2**20
"""Size of a huge field. [bytes]"""

DRIVER = """
import json, resource, sys, time
cap = int(sys.argv[1]) * 2**20
resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
from meter_sim.cli import app
start = time.perf_counter()
try:
    app(sys.argv[2:], prog_name="meter-sim")
    code = 0
except SystemExit as exc:
    code = exc.code
sys.stderr.write("\\n" + json.dumps({
    "code": code,
    "seconds": time.perf_counter() - start,
    "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
}) + "\\n")
"""
"""Runs ``meter-sim ARGS`` and reports its exit status, time and peak memory."""


@dataclass(frozen=True)
class Run:
    code: int
    seconds: float
    peak_mb: float
    stderr: str


def run_bounded(*args: str) -> Run:
    """Run the command in a child process with its address space capped."""
    done = subprocess.run(
        [sys.executable, "-c", DRIVER, str(ADDRESS_CAP), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=ROOT,
    )
    assert "Traceback" not in done.stderr, done.stderr[-2000:]
    last = done.stderr.strip().splitlines()[-1]
    report = json.loads(last)
    return Run(report["code"], report["seconds"], report["peak_mb"], done.stderr)


def write_huge(path: Path, head: str, middle: str, tail: str) -> Path:
    """``head``, then ``middle`` repeated to `HUGE` bytes, then ``tail``."""
    with path.open("w", encoding="utf-8") as out:
        out.write(head)
        out.write(middle * (HUGE // len(middle)))
        out.write(tail)
    return path


HEADER = "learner_id,changed_at,is_active\n"

HUGE_CASES = [
    pytest.param(
        "status.csv",
        (HEADER + "L1,", "2", ",yes\n"),
        ":2: `changed_at`: not an ISO-8601 date-time",
        id="100 MB time field",
    ),
    pytest.param(
        "status.csv",
        (HEADER, "L", ",2018-07-02T09:00:00+10:00,yes\n"),
        ":2: `learner_id`: longer than",
        id="100 MB learner id",
        marks=pytest.mark.slow,
    ),
    pytest.param(
        "status.csv",
        ("learner_id,changed_at,is_active,", "x", "\nL1,2018-07-02T09:00:00Z,yes,\n"),
        ":1: the header line is longer than 1,000,000 bytes",
        id="100 MB header",
        marks=pytest.mark.slow,
    ),
    pytest.param(
        "status.csv",
        (HEADER + '"', "\n", '",2018-07-02T09:00:00Z,yes\nL2,x,yes\n'),
        ":2: `learner_id`: blank",
        id="100 MB of line breaks in a quoted field",
        marks=pytest.mark.slow,
    ),
    pytest.param(
        "activity.csv",
        ("learner_id,occurred_at,activity\nA,2018-07-10T09:00:00+10:00,", "x", "\n"),
        ":2: `activity`: expected one of sales",
        id="100 MB activity field",
        marks=pytest.mark.slow,
    ),
    pytest.param(
        "invoice.csv",
        ("month,billable_learners,amount\n2018-07,2,", "9", "\n"),
        ":2: `amount`: expected a plain amount like 1234.50",
        id="100 MB amount",
        marks=pytest.mark.slow,
    ),
    pytest.param(
        "scenario.yaml",
        ("name: ", "x", "\n"),
        ": larger than 2,000,000 bytes",
        id="100 MB scenario",
    ),
    pytest.param(
        "plan.yaml",
        ("name: Big\ndescription: ", "x", "\n"),
        ": larger than 2,000,000 bytes",
        id="100 MB plan",
    ),
]


def huge_command(name: str, path: Path, good: Companions) -> list[str]:
    status, plan = str(good.status), str(good.plan)
    return {
        "status.csv": ["bill", str(path)],
        "activity.csv": ["bill", status, "--activity", str(path)],
        "invoice.csv": ["reconcile", "--status", status, "--plan", plan, "--invoice", str(path)],
        "scenario.yaml": ["run", str(path)],
        "plan.yaml": ["bill", status, "--plan", str(path)],
    }[name]  # fmt: skip


@pytest.mark.parametrize(("name", "parts", "error"), HUGE_CASES)
def test_huge_input_gets_a_clear_error_in_bounded_time_and_memory(
    tmp_path: Path, good: Companions, name: str, parts: tuple[str, str, str], error: str
) -> None:
    path = write_huge(tmp_path / name, *parts)
    run = run_bounded(*huge_command(name, path, good))
    assert run.code == 2
    first = run.stderr.split("error: ", 1)[1]
    assert flat(first).startswith(flat(f"{path}{error}"))
    assert len(run.stderr) < 10_000  # the message quotes no huge value
    assert run.seconds < TIME_BOUND
    assert run.peak_mb < MEMORY_BOUND


@pytest.mark.slow
def test_a_million_bad_rows_get_one_short_message(tmp_path: Path) -> None:
    path = tmp_path / "status.csv"
    with path.open("w", encoding="utf-8") as out:
        out.write(HEADER)
        out.writelines(f"L{i},2018-07-02 09:00,yes\n" for i in range(1_000_000))
    run = run_bounded("bill", str(path))
    assert run.code == 2
    assert f"{path}:2: `changed_at`: time has no UTC offset" in run.stderr
    assert "... and 999980 more problem(s)" in run.stderr
    assert len(run.stderr) < 10_000
    assert run.seconds < TIME_BOUND
    assert run.peak_mb < MEMORY_BOUND


def test_a_header_of_twenty_thousand_columns_gets_a_short_message(
    tmp_path: Path,
) -> None:
    path = tmp_path / "status.csv"
    path.write_text(",".join(f"column{i}" for i in range(20_000)) + "\n")
    with pytest.raises(MeterSimError) as info:
        read_status_log(path)
    assert str(info.value).startswith(f"{path}: missing column(s) `learner_id`")
    assert str(info.value).endswith("column19, ... and 19,980 more")
    assert len(str(info.value)) < 2_000


def test_bill_refuses_months_outside_the_supported_years(good: Companions) -> None:
    with pytest.raises(MeterSimError, match="outside the supported years 1900 to 2199"):
        bill(
            read_status_log(good.status),
            plan=PLAN,
            first_month=date(2399, 11, 1),
            last_month=date(2400, 2, 1),
        )


@pytest.mark.parametrize(
    ("first", "last", "message"),
    [
        (date(1899, 12, 1), None, "`--from` 1899-12 is outside the supported years"),
        (None, date(2200, 1, 1), "`--through` 2200-01 is outside the supported years"),
        (date(5, 1, 1), date(2018, 7, 1), "`--from` 0005-01 is outside"),
    ],
)
def test_bill_and_bill_streaming_name_the_month_outside_the_years(
    good: Companions,
    tmp_path: Path,
    first: date | None,
    last: date | None,
    message: str,
) -> None:
    status = read_status_log(good.status)
    with pytest.raises(LogFormatError) as info:
        bill(status, plan=PLAN, first_month=first, last_month=last)
    assert str(info.value).startswith(message)
    assert info.value.field == ("from" if first and first.year < 1900 else "through")
    with pytest.raises(LogFormatError, match=re.escape(message)):  # before any reading
        bill_streaming(
            tmp_path / "absent.parquet",
            tmp_path / "months.parquet",
            plan=PLAN,
            first_month=first,
            last_month=last,
        )


def test_a_header_line_over_the_cap_is_refused_unread(tmp_path: Path) -> None:
    path = tmp_path / "status.csv"
    path.write_text("\n\n" + "learner_id,changed_at,is_active," + "x" * 1_000_000)
    with pytest.raises(LogFormatError) as info:
        read_status_log(path)
    assert str(info.value).startswith(
        f"{path}:1: the header line is longer than 1,000,000 bytes"
    )
    assert info.value.line == 1


@pytest.mark.parametrize(
    ("text", "error"),
    [
        pytest.param(
            "\r\r" + (HEADER + "L1,2018-07-02T09:00:00Z,yes\n").replace("\n", "\r"),
            ":1: the lines end with a carriage return alone",
            id="CR line ends after blank lines",
        ),
        pytest.param(
            HEADER.replace("\n", "\r"),
            ":1: the lines end with a carriage return alone",
            id="CR line ends, a header only",
        ),
        pytest.param(
            HEADER + "L\r1,2018-07-02T09:00:00Z,yes\n",
            None,
            id="CR inside an unquoted id (a value, as csv.writer writes it)",
        ),
        pytest.param(
            HEADER + '"a\rb",2018-07-02T09:00:00Z,yes\n',
            None,
            id="CR inside a quoted id (LF line ends)",
        ),
        pytest.param(
            (HEADER + '"a\rb",2018-07-02T09:00:00Z,yes\n').replace("\n", "\r\n"),
            None,
            id="CR inside a quoted id (CRLF line ends)",
        ),
        pytest.param(
            HEADER + "".join(f"学生{i},2018-07-02T09:00:00Z,yes\n" for i in range(50)),
            None,
            id="UTF-8 ids in Chinese (not taken for UTF-16)",
        ),
        pytest.param(
            HEADER + "x" * 1_000 + ",2018-07-02T09:00:00Z,yes\n",
            None,
            id="an id of the longest length accepted",
        ),
        pytest.param(
            HEADER + "x" * 1_001 + ",2018-07-02T09:00:00Z,yes\n",
            ":2: `learner_id`: longer than 1,000 characters (1001)",
            id="an id one character too long",
        ),
    ],
)
def test_the_checks_of_a_csv_start_refuse_only_what_they_should(
    tmp_path: Path, text: str, error: str | None
) -> None:
    path = tmp_path / "status.csv"
    path.write_bytes(text.encode())
    if error is None:
        assert read_status_log(path).rows_read >= 1
        return
    with pytest.raises(LogFormatError) as info:
        read_status_log(path)
    assert str(info.value).startswith(f"{path}{error}")


@pytest.mark.parametrize(
    "fast",
    [
        pytest.param(False, id="general path (an event_id column)"),
        pytest.param(True, id="fast path"),
    ],
)
def test_a_typed_parquet_learner_id_over_the_limit_is_refused(
    tmp_path: Path, *, fast: bool
) -> None:
    path = tmp_path / "status.parquet"
    at = datetime(2018, 7, 2, tzinfo=UTC)
    frame = pl.DataFrame(
        {"learner_id": ["L1", "x" * 1_001], "changed_at": [at, at]}
    ).with_columns(is_active=pl.lit(value=True))
    if not fast:
        frame = frame.with_columns(event_id=pl.lit(None, pl.String))
    frame.write_parquet(path)
    with pytest.raises(LogFormatError) as info:
        read_status_log(path)
    assert str(info.value).startswith(
        f"{path}:row 2: `learner_id`: longer than 1,000 characters"
    )


def test_big_endian_utf16_without_a_byte_order_mark_is_named(tmp_path: Path) -> None:
    path = tmp_path / "status.csv"
    path.write_bytes((HEADER + "L1,2018-07-02T09:00:00Z,yes\n").encode("utf-16-be"))
    with pytest.raises(LogFormatError, match="looks like UTF-16 text"):
        read_status_log(path)
