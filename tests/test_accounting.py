"""Nothing lost: every command that reads rows accounts for every one of them.

For every readable input of the bad-input corpus and every example, each command
that reads it (``bill``, ``run``, ``reconcile``, ``report status``, ``report
activity``, ``plans``, ``compare``, ``oulad``) must report the rows it read, used
and rejected for that input, and

- read = used + rejected (+ not activity, for OULAD's banked results);
- read = the data rows of the file, counted here independently (CSV records that
  are not wholly blank, Parquet rows, the scenario's status and activity entries);
- rejected = the rejected rows listed with their reasons, where the output lists
  them (JSON);
- every command that reads an input gives it the same counts.
"""

from __future__ import annotations

import csv
import json
import re
from dataclasses import dataclass
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from meter_sim.cli import app
from meter_sim.scenario import load_scenario
from tests.test_bad_input import ENTRIES, INVOICE, PLAN_TEXT, STATUS

runner = CliRunner()
ROOT = Path(__file__).parents[1]
OULAD_EXCERPT = Path("tests/data/oulad-excerpt")

LABELS = {
    "status": "status log",
    "activity": "activity log",
    "invoice": "invoice",
    "vendor": "status report",
}

Counts = tuple[int, int, int]


@dataclass(frozen=True)
class Output:
    """What a command said about its inputs."""

    counts: dict[str, Counts]
    """(read, used, rejected) by input label, e.g. ``"x.csv (status log)"``."""
    rejected: dict[str, int] | None
    """Rejected rows listed per source file; None when the output lists none."""


LINE = re.compile(
    r"(\S+ \((?:status log|activity log|invoice|status report)\)): "
    r"(\d+) rows read, (\d+) used, (\d+) rejected"
)


def run(*args: str) -> Output:
    """Run ``meter-sim ARGS`` and collect its row accounting."""
    result = runner.invoke(app, list(args))
    assert result.exit_code in {0, 1}, result.stdout + result.stderr
    counts: dict[str, Counts] = {}
    rejected: dict[str, int] | None = None
    if "--format" in args and args[args.index("--format") + 1] == "json":
        document = json.loads(result.stdout)
        for row in document.get("inputs", []):
            counts[row["input"]] = (
                row["rows_read"],
                row["rows_used"],
                row["rows_rejected"],
            )
        listed: dict[str, int] = {}
        for row in document["rejected"]:
            listed[row["source"]] = listed.get(row["source"], 0) + 1
        rejected = listed
    for label, read, used, gone in LINE.findall(" ".join(result.stderr.split())):
        counts[label] = (int(read), int(used), int(gone))
    return Output(counts, rejected)


def data_rows(path: Path) -> int:
    """Data rows of a CSV (every record, blank ones too) or Parquet file."""
    if path.suffix == ".parquet":
        return pl.read_parquet(path).height
    with path.open(newline="", encoding="utf-8-sig") as handle:
        records = list(csv.reader(handle))
    return len(records) - 1


def test_blank_records_are_read_and_rejected_with_their_line(tmp_path: Path) -> None:
    # Issue #18.13: `,,,` and `"",""` records were skipped unseen (5 records, "2
    # rows read"), while the same rows in Parquet were errors. Now both read them
    # and reject them with their line, and the rest is billed.
    csv_log = tmp_path / "blank.csv"
    csv_log.write_text(
        "learner_id,changed_at,is_active\n"
        "L1,2018-07-01T00:00:00Z,yes\n"
        ",,\n"
        '"","",""\n'
        "  , ,\t\n"
        "L2,2018-07-02T00:00:00Z,no\n",
        encoding="utf-8",
    )
    parquet_log = tmp_path / "blank.parquet"
    pl.DataFrame(
        {
            "learner_id": ["L1", None, None, None, "L2"],
            "changed_at": [
                "2018-07-01T00:00:00Z",
                None,
                None,
                None,
                "2018-07-02T00:00:00Z",
            ],
            "is_active": [True, None, None, None, False],
        }
    ).with_columns(pl.col("changed_at").str.to_datetime(time_zone="UTC")).write_parquet(
        parquet_log
    )
    streaming = ["--streaming", "--learner-months", str(tmp_path / "months.parquet")]
    for log, first, options in (
        (csv_log, 3, []),
        (parquet_log, 2, []),
        (parquet_log, 2, streaming),
    ):
        result = runner.invoke(app, ["bill", str(log), "--format", "json", *options])
        assert result.exit_code == 0, result.stderr
        assert f"{log} (status log): 5 rows read, 2 used, 3 rejected" in " ".join(
            result.stderr.split()
        )
        document = json.loads(result.stdout)
        assert [(r["line"], r["reason"]) for r in document["rejected"]] == [
            (line, "blank record (every field empty); not used")
            for line in range(first, first + 3)
        ]
        assert [m["billable_learners"] for m in document["months"]] == [1]


@pytest.fixture(scope="module")
def good(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("accounting")
    files = {
        "status": folder / "status.csv",
        "invoice": folder / "invoice.csv",
        "plan": folder / "plan.yaml",
        "out": folder / "report.csv",
    }
    files["status"].write_text(STATUS, encoding="utf-8")
    files["invoice"].write_text(INVOICE, encoding="utf-8")
    files["plan"].write_text(PLAN_TEXT, encoding="utf-8")
    return files


def commands(kind: str, path: str, good: dict[str, Path]) -> list[list[str]]:
    """Every command that reads an input of this kind."""
    status, invoice = str(good["status"]), str(good["invoice"])
    plan, out = str(good["plan"]), str(good["out"])
    check = ["reconcile", "--plan", plan, "--format", "json"]
    return {
        "status": [
            ["bill", path, "--format", "json"],
            ["report", "status", path, "--out", out],
            ["plans", path, "--format", "json"],
            [*check, "--status", path, "--invoice", invoice],
        ],
        "activity": [
            ["bill", status, "--activity", path, "--format", "json"],
            ["report", "status", status, "--activity", path, "--out", out],
            ["report", "activity", status, "--activity", path, "--out", out],
            [*check, "--status", status, "--activity", path, "--invoice", invoice],
        ],
        "invoice": [[*check, "--status", status, "--invoice", path]],
        "vendor": [
            [*check, "--status", status, "--invoice", invoice, "--vendor-report", path]
        ],
    }[kind]


def check_input(path: str, label: str, outputs: list[Output]) -> Counts:
    """The input's counts add up, match the file and agree between commands."""
    key = f"{path} ({label})"
    seen = set()
    for output in outputs:
        assert key in output.counts, f"{key} not reported"
        read, used, gone = output.counts[key]
        assert read == used + gone
        if output.rejected is not None:
            # A scenario is the source of both its status and activity rows.
            listed = sum(
                counts[2] for name, counts in output.counts.items()
                if name.startswith(f"{path} (")
            )  # fmt: skip
            assert output.rejected.get(path, 0) == listed
        seen.add((read, used, gone))
    assert len(seen) == 1, f"commands disagree on {key}: {seen}"
    return seen.pop()


READABLE = [
    pytest.param(entry, id=entry.file)
    for entry in ENTRIES
    if entry.rows
    and entry.cli_error is None
    and entry.xfail is None
    and entry.kind != "scenario"
]


@pytest.mark.parametrize("entry", READABLE)
def test_every_readable_corpus_input_is_accounted_for(
    entry: object, good: dict[str, Path]
) -> None:
    from tests.test_bad_input import Entry

    assert isinstance(entry, Entry)
    path = str(entry.path)
    outputs = [run(*args) for args in commands(entry.kind, path, good)]
    counts = check_input(path, LABELS[entry.kind], outputs)
    assert counts[0] == data_rows(entry.path)
    assert list(counts) == entry.rows[LABELS[entry.kind]]


SCENARIOS = [
    "scenarios/april-to-july.yaml",
    "scenarios/training-provider.yaml",
    "tests/data/minimal.yaml",
    "tests/data/bad/scenario/duplicate-rows.yaml",
]


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_every_scenario_row_is_accounted_for(scenario: str) -> None:
    outputs = [
        run("run", scenario, "--format", "json"),
        run("plans", scenario, "--price-book", "scenarios/plans", "--format", "json"),
        run("compare", scenario, "--format", "json"),
    ]
    loaded = load_scenario(scenario)
    status = sum(len(learner.status) for learner in loaded.learners)
    activity = sum(len(learner.activities) for learner in loaded.learners)
    for label, entries in (("status log", status), ("activity log", activity)):
        # `plans` bills the usage only: it reads no activity log.
        reading = [o for o in outputs if f"{scenario} ({label})" in o.counts]
        assert len(reading) >= 2
        assert check_input(scenario, label, reading)[0] == entries


def test_the_examples_are_accounted_for(good: dict[str, Path]) -> None:
    status, activity = "examples/status.csv", "examples/activity.csv"
    plan, out = "scenarios/plans/standard.yaml", str(good["out"])
    outputs = [
        run("bill", status, "--activity", activity, "--format", "json"),
        run("report", "status", status, "--activity", activity, "--out", out),
        run("report", "activity", status, "--activity", activity, "--out", out),
        run("plans", status, "--format", "json"),
        run(
            "reconcile", "--status", status, "--activity", activity,
            "--invoice", str(good["invoice"]), "--plan", plan, "--format", "json",
        ),
    ]  # fmt: skip
    for path, label in ((status, "status log"), (activity, "activity log")):
        reading = [o for o in outputs if f"{path} ({label})" in o.counts]
        assert len(reading) >= 4
        assert check_input(path, label, reading)[0] == data_rows(Path(path))


def test_the_provider_year_is_accounted_for() -> None:
    folder = "examples/provider-year"
    files = {
        "status log": f"{folder}/status.csv",
        "activity log": f"{folder}/activity.csv",
        "invoice": f"{folder}/invoice.csv",
        "status report": f"{folder}/vendor-report.csv",
    }
    output = run(
        "reconcile", "--status", files["status log"],
        "--activity", files["activity log"], "--invoice", files["invoice"],
        "--vendor-report", files["status report"],
        "--plan", "scenarios/plans/standard.yaml", "--format", "json",
    )  # fmt: skip
    for label, path in files.items():
        assert check_input(path, label, [output])[0] == data_rows(Path(path))


def test_oulad_files_are_accounted_for() -> None:
    result = runner.invoke(app, ["oulad", str(OULAD_EXCERPT), "--format", "json"])
    assert result.exit_code == 0, result.stderr
    document = json.loads(result.stdout)
    listed: dict[str, int] = {}
    for row in document["rejected"]:
        listed[row["source"]] = listed.get(row["source"], 0) + 1
    assert len(document["inputs"]) == 4
    for row in document["inputs"]:
        read = row["rows_read"]
        assert (
            read == row["rows_used"] + row["rows_not_activity"] + row["rows_rejected"]
        )
        assert read == data_rows(Path(row["input"]))
        assert listed.get(row["input"], 0) == row["rows_rejected"]


def test_a_log_of_only_blank_records_says_where_its_rows_went(tmp_path: Path) -> None:
    log = tmp_path / "blank.csv"
    log.write_text('learner_id,changed_at,is_active\n,,\n"","",""\n', encoding="utf-8")
    result = runner.invoke(app, ["bill", str(log)])
    assert result.exit_code == 2
    assert (
        f"{log}: the status log has no rows; nothing to bill (2 rows read, all blank "
        "records)" in " ".join(result.stderr.split())
    )
