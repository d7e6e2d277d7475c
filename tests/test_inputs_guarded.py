"""No command writes over a file it reads (issue #18, items 7 and 12).

For every command and every output option, the output is spelled as another
name of each input in turn (a hard link, or the same path through ``..``): the
command must refuse with exit status 2 and a message naming the option, before
it writes, and the input must keep its bytes. The inputs are all of them: logs,
the plan, the price book's plans, the scenario and its plan, the invoice, the
vendor report, the OULAD files.

And a price book or a scenario's ``plan:`` that leads out of its folder through
a symbolic link is refused without reading, so no error quotes the target.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from meter_sim.cli import app
from meter_sim.exceptions import ScenarioError
from meter_sim.scenario import load_price_book, load_scenario

ROOT = Path(__file__).resolve().parent.parent
runner = CliRunner()
SECRET = "password: hunter2"


@pytest.fixture
def work(tmp_path: Path) -> Path:
    """Every input a command reads, copied into one folder."""
    shutil.copytree(ROOT / "scenarios", tmp_path / "scenarios")
    shutil.copytree(ROOT / "tests" / "data" / "oulad-excerpt", tmp_path / "oulad")
    for name in ("status.csv", "activity.csv", "invoice.csv", "vendor-report.csv"):
        shutil.copy(ROOT / "examples" / "provider-year" / name, tmp_path / name)
    pl.read_csv(tmp_path / "status.csv", infer_schema=False).with_columns(
        pl.col("changed_at").str.to_datetime(time_zone="UTC"),
        pl.col("is_active").str.to_lowercase().is_in(["true", "yes", "y", "1"]),
    ).write_parquet(tmp_path / "status.parquet")
    (tmp_path / "book").mkdir()
    shutil.copy(tmp_path / "scenarios/plans/premium.yaml", tmp_path / "book/p.yaml")
    return tmp_path


PLAN = "scenarios/plans/standard.yaml"
LOGS = ["status.csv", "--activity", "activity.csv", "--plan", PLAN]
CASES = [
    # (command line with OUT for the output, inputs it reads)
    (["bill", *LOGS, "--learner-months", "OUT"], ["status.csv", "activity.csv", PLAN]),
    (["bill", *LOGS, "--rejected", "OUT"], ["status.csv", "activity.csv", PLAN]),
    (
        [
            "bill",
            "status.parquet",
            "--plan",
            PLAN,
            "--streaming",
            *["--learner-months", "OUT"],
        ],
        ["status.parquet", PLAN],
    ),
    (
        [
            *["reconcile", "--status", "status.csv", "--activity", "activity.csv"],
            *["--invoice", "invoice.csv", "--vendor-report", "vendor-report.csv"],
            *["--plan", PLAN, "--out", "OUT"],
        ],
        ["status.csv", "activity.csv", "invoice.csv", "vendor-report.csv", PLAN],
    ),
    (["report", "status", *LOGS, "--out", "OUT"], ["status.csv", "activity.csv", PLAN]),
    (
        [
            "plans",
            "scenarios/april-to-july.yaml",
            *["--price-book", "book"],
            *["--chart", "OUT"],
        ],
        ["scenarios/april-to-july.yaml", "scenarios/plans/starter.yaml", "book/p.yaml"],
    ),
    (
        ["plans", "status.csv", "--price-book", "book", "--chart", "OUT"],
        ["book/p.yaml"],
    ),
    (
        ["compare", "scenarios/april-to-july.yaml", "--chart", "OUT"],
        ["scenarios/april-to-july.yaml", "scenarios/plans/starter.yaml"],
    ),
    (
        [
            *["forecast", "scenarios/training-provider.yaml", "--runs", "2"],
            *["--price-book", "book", "--chart", "OUT"],
        ],
        [
            "scenarios/training-provider.yaml",
            "scenarios/plans/standard.yaml",
            "book/p.yaml",
        ],
    ),
    (
        ["explore", "scenarios/training-provider.yaml", "--out", "OUT"],
        ["scenarios/training-provider.yaml", "scenarios/plans/standard.yaml"],
    ),
    (
        ["oulad", "oulad", "--plan", PLAN, "--status-log", "OUT"],
        ["oulad/studentRegistration.csv", PLAN],
    ),
]


def spelled_as(work: Path, target: str, args: list[str], spelling: str) -> Path:
    """Another name of input ``target`` that the output option accepts."""
    option = args[args.index("OUT") - 1]
    if option == "--chart" or args[0] == "explore":
        suffix = ".html"
    else:
        suffix = ".csv" if option == "--out" else ".parquet"
    if args[0] == "reconcile":  # --out is a folder: one of its tables is the input
        folder = work / "outdir"
        folder.mkdir()
        os.link(work / target, folder / "months.csv")
        return folder
    if spelling == "dots" and Path(target).suffix == suffix:
        return work / "book" / ".." / target
    link = work / f"link-to-input{suffix}"
    os.link(work / target, link)
    return link


@pytest.mark.parametrize("spelling", ["hard link", "dots"])
@pytest.mark.parametrize(
    ("args", "target"),
    [(args, target) for args, inputs in CASES for target in inputs],
    ids=lambda value: " ".join(value) if isinstance(value, list) else value,
)
def test_no_output_overwrites_an_input(
    work: Path,
    args: list[str],
    target: str,
    spelling: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(work)
    before = (work / target).read_bytes()
    out = spelled_as(work, target, args, spelling)
    option = args[args.index("OUT") - 1]
    result = runner.invoke(app, [str(out) if a == "OUT" else a for a in args])
    assert result.exit_code == 2, result.output
    assert f"{option} would overwrite an input file" in result.output
    assert (work / target).read_bytes() == before


def test_an_output_beside_the_inputs_is_written(
    work: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The guard refuses only an input: a new file in the price book folder is fine."""
    monkeypatch.chdir(work)
    args = ["compare", "scenarios/april-to-july.yaml", "--chart"]
    result = runner.invoke(app, [*args, "scenarios/plans/chart.html"])
    assert result.exit_code == 0, result.output
    assert (work / "scenarios/plans/chart.html").stat().st_size > 0


def test_a_price_book_link_out_of_the_folder_is_not_read(work: Path) -> None:
    (work / "secret.txt").write_text(SECRET + "\n", encoding="utf-8")
    (work / "book" / "z.yaml").symlink_to("../secret.txt")
    with pytest.raises(ScenarioError) as caught:
        load_price_book(work / "book")
    message = str(caught.value)
    assert message == (
        f"{work / 'book' / 'z.yaml'}: a plan file inside the price book folder "
        f"{work / 'book'} expected; it is a link to a file elsewhere (not read)"
    )
    result = runner.invoke(
        app, ["plans", str(work / "status.csv"), "--price-book", str(work / "book")]
    )
    assert result.exit_code == 2
    assert "link to a file elsewhere" in result.output
    assert "hunter2" not in result.output


def test_a_link_inside_the_price_book_is_a_plan(work: Path) -> None:
    (work / "book" / "again.yaml").symlink_to("p.yaml")
    plans = load_price_book(work / "book")
    assert list(plans) == ["again", "p"]
    assert plans["again"] == plans["p"]


@pytest.mark.parametrize("entry", ["loop", "folder"])
def test_a_price_book_entry_that_is_no_file_is_named(work: Path, entry: str) -> None:
    path = work / "book" / "z.yaml"
    if entry == "loop":
        path.symlink_to("z.yaml")
    else:
        path.mkdir()
    with pytest.raises(ScenarioError, match=r"z\.yaml: a (usable )?plan file"):
        load_price_book(work / "book")


def test_a_scenario_plan_linked_out_of_plans_is_not_read(work: Path) -> None:
    (work / "secret.txt").write_text(SECRET + "\n", encoding="utf-8")
    (work / "scenarios/plans/z.yaml").symlink_to("../../secret.txt")
    scenario = work / "scenarios/x.yaml"
    text = (work / "scenarios/april-to-july.yaml").read_text(encoding="utf-8")
    scenario.write_text(text.replace("plans/starter.yaml", "plans/z.yaml"), "utf-8")
    with pytest.raises(ScenarioError, match="a plan file inside the `plans/` folder"):
        load_scenario(scenario)
    result = runner.invoke(app, ["run", str(scenario)])
    assert result.exit_code == 2
    assert "hunter2" not in result.output
