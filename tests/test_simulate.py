"""Strategies compared on a scenario (meter_sim.simulate), worked out by hand."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from pathlib import Path

import polars as pl
from typer.testing import CliRunner

from meter_sim.cli import app
from meter_sim.scenario import load_scenario
from meter_sim.simulate import compare_strategies, scenario_period

EXAMPLE = Path(__file__).parents[1] / "scenarios" / "april-to-july.yaml"

# Starter plan: 45.00 a month for the 9 months April..December 2018 = 405.00, plus
# 9.00 per billable learner-month; no tax.
#   explicit: L1 Apr, Jul..Dec (7) + L2 Apr, May, Jul..Dec (8) = 15 -> 540.00;
#     toggles L1 3 (off 11 Apr, on 2 Jul, off 1 Jan), L2 5; the May email blocked.
#   always_active, course_window (creation to 21 Dec + 14 days), batched (nothing
#     to defer: every month already billed): 2 x 9 = 18 -> 567.00, no toggles.
#   just_in_time: a spell per need: 15 -> 540.00; spells L1 7, L2 9: 13 + 17 = 30.
#   monthly_sweep (14 days): L1 off 1 May (no need before 15 May), on 2 Jul;
#     L2 kept in May by the 10 and 14 May needs, off 1 Jun, on 2 Jul: 15, 4 toggles.
EXPECTED = [
    ("explicit", 15, "540.00", 8, 1),
    ("always_active", 18, "567.00", 0, 0),
    ("course_window", 18, "567.00", 0, 0),
    ("just_in_time", 15, "540.00", 30, 0),
    ("monthly_sweep", 15, "540.00", 4, 0),
    ("batched", 18, "567.00", 0, 0),
]


def test_compare_on_the_april_to_july_scenario() -> None:
    result = compare_strategies(load_scenario(EXAMPLE))
    got = [
        (name, months, str(total), toggles, blocked)
        for name, months, total, _, toggles, _, blocked in result.table.rows()
    ]
    assert got == EXPECTED
    assert result.table["delay_days"].to_list() == [0.0] * 6
    assert (result.first_month, result.last_month) == (
        date(2018, 4, 1),
        date(2018, 12, 1),
    )
    monthly = result.monthly().filter(pl.col("strategy") == "monthly_sweep")
    assert monthly["billable_learners"].to_list() == [2, 1, 0, 2, 2, 2, 2, 2, 2]


def test_period_defaults_to_first_creation_and_last_need(tmp_path: Path) -> None:
    text = EXAMPLE.read_text().replace(
        "period: {from: 2018-04, through: 2018-12}\n", ""
    )
    (tmp_path / "plans").mkdir()
    (tmp_path / "plans" / "starter.yaml").write_text(
        (EXAMPLE.parent / "plans" / "starter.yaml").read_text()
    )
    path = tmp_path / "s.yaml"
    path.write_text(text)
    assert scenario_period(load_scenario(path)) == (date(2018, 4, 1), date(2018, 12, 1))


def test_compare_command_outputs() -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["compare", str(EXAMPLE), "--format", "json"])
    assert result.exit_code == 0
    document = json.loads(result.stdout)
    assert (document["from"], document["through"], document["currency"]) == (
        "2018-04", "2018-12", "AUD"
    )  # fmt: skip
    rows = [
        (
            s["strategy"],
            s["learner_months"],
            s["total_ex_tax"],
            s["toggles"],
            s["blocked"],
        )
        for s in document["strategies"]
    ]
    assert rows == EXPECTED
    table = runner.invoke(app, ["compare", str(EXAMPLE)])
    assert table.exit_code == 0
    assert "monthly_sweep │      15 │ 540.00" in table.stdout
    assert sum(Decimal(s["total_inc_tax"]) for s in document["strategies"]) == Decimal(
        "3321.00"
    )


PROVIDER = Path(__file__).parents[1] / "scenarios" / "training-provider.yaml"


def test_forecast_command_is_seeded_and_names_a_commitment(tmp_path: Path) -> None:
    runner = CliRunner()
    args = ["forecast", str(PROVIDER), "--runs", "6", "--format", "json",
            "--included", "100,150,200", "--base-fee-per-learner", "6.33"]  # fmt: skip
    first = runner.invoke(app, args)
    assert first.exit_code == 0, first.stderr
    again = runner.invoke(app, args)
    assert first.stdout == again.stdout  # same seed, same answer
    document = json.loads(first.stdout)
    assert (document["runs"], document["seed"]) == (6, 20260101)
    assert [s["strategy"] for s in document["strategies"]] == [
        "always_active", "course_window", "just_in_time", "monthly_sweep", "batched"
    ]  # fmt: skip
    commitment = document["commitment"]
    plans = {p["plan"]: p for p in commitment["plans"]}
    cheapest = min(plans, key=lambda k: (Decimal(plans[k]["expected_annual"]), k))
    assert commitment["cheapest"] == cheapest
    other = runner.invoke(app, [*args, "--seed", "7"])
    assert json.loads(other.stdout)["strategies"] != document["strategies"]
    chart = tmp_path / "forecast.svg"
    table = runner.invoke(
        app, ["forecast", str(PROVIDER), "--runs", "3", "--chart", str(chart)]
    )
    assert table.exit_code == 0
    assert "Cheapest on average:" in table.stdout
    assert chart.read_text().startswith("<svg")


def test_forecast_command_bad_options() -> None:
    runner = CliRunner()
    bad = runner.invoke(app, ["forecast", str(PROVIDER), "--strategy", "magic"])
    assert bad.exit_code == 2
    assert "`--strategy`: one of always_active" in bad.stderr
    bad = runner.invoke(app, ["forecast", str(PROVIDER), "--included", "100,x"])
    assert bad.exit_code == 2
    assert "whole numbers joined by commas" in bad.stderr
