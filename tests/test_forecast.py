"""Cohorts, drawn populations, Monte Carlo forecasts and commitment choice."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, time
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from meter_sim.billing import bill
from meter_sim.exceptions import ScenarioError
from meter_sim.pricing import Plan
from meter_sim.scenario import Cohorts, Scenario, load_scenario
from meter_sim.simulate import (
    FORECAST_SCHEMA,
    Forecast,
    commitment_plans,
    commitment_table,
    compare_strategies,
    draw_population,
    forecast,
    scenario_period,
)
from meter_sim.strategies import STRATEGIES, status_log

SCENARIOS = Path(__file__).parents[1] / "scenarios"
PROVIDER = SCENARIOS / "training-provider.yaml"
SYDNEY = "Australia/Sydney"

SMALL = """\
name: Small provider
timezone: Australia/Sydney
plan: plans/standard.yaml
seed: 7
cohorts:
  course_months: 4
  dropout_per_month: 0.1
  enrolment_lead_days: 20
  needs_per_month: {attendance: 2, message: 1, document: 0.3}
  intakes:
    - {month: 2027-02, size: 12}
    - {month: 2027-04, size: 8}
"""


def write_scenario(folder: Path, text: str) -> Path:
    """Write a scenario beside a copy of the Standard plan."""
    (folder / "plans").mkdir(exist_ok=True)
    (folder / "plans" / "standard.yaml").write_text(
        (SCENARIOS / "plans" / "standard.yaml").read_text()
    )
    path = folder / "scenario.yaml"
    path.write_text(text)
    return path


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Scenario:
    return load_scenario(write_scenario(tmp_path_factory.mktemp("small"), SMALL))


@pytest.fixture(scope="module")
def provider() -> Scenario:
    return load_scenario(PROVIDER)


def cohorts_of(scenario: Scenario) -> Cohorts:
    assert scenario.cohorts is not None
    return scenario.cohorts


# -- the cohorts section ---------------------------------------------------------


def test_training_provider_scenario_loads(provider: Scenario) -> None:
    cohorts = cohorts_of(provider)
    assert (provider.timezone, provider.plan.name, provider.seed) == (
        SYDNEY,
        "Standard",
        20260101,
    )
    assert provider.learners == ()
    assert (cohorts.course_months, cohorts.enrolment_lead_days) == (12, 30)
    assert cohorts.dropout_per_month == pytest.approx(0.02)
    assert [(i.month, i.size) for i in cohorts.intakes] == [
        (date(2027, 2, 1), 150.0),
        (date(2027, 7, 1), 120.0),
    ]
    assert {str(k): v for k, v in cohorts.needs_per_month.rates().items()} == {
        "message": 1.0,
        "attendance": 4.0,
        "document": pytest.approx(0.2),
    }
    assert scenario_period(provider) == (date(2027, 1, 1), date(2028, 6, 1))


def test_cohort_only_period_runs_from_first_creation_to_last_course_month(
    small: Scenario,
) -> None:
    # Lead 20 days before 1 Feb: January; the April intake's 4th month is July.
    assert scenario_period(small) == (date(2027, 1, 1), date(2027, 7, 1))


def test_seed_defaults_to_zero_and_learners_are_optional(tmp_path: Path) -> None:
    scenario = load_scenario(write_scenario(tmp_path, SMALL.replace("seed: 7\n", "")))
    assert scenario.seed == 0


def test_a_scenario_needs_learners_or_cohorts(tmp_path: Path) -> None:
    text = "name: x\ntimezone: Australia/Sydney\nplan: plans/standard.yaml\n"
    path = write_scenario(tmp_path, text)
    with pytest.raises(ScenarioError, match=r"scenario\.yaml:1:1: at least 1 learner"):
        load_scenario(path)


def test_cohort_errors_name_file_line_column_and_key(tmp_path: Path) -> None:
    text = SMALL.replace("document: 0.3", "dance: 0.3").replace("size: 8", "size: -8")
    path = write_scenario(tmp_path, text)
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    message = str(info.value)
    assert (
        f"{path}:9:48: cohorts.needs_per_month.dance: unknown key `dance`; "
        "expected one of sales, personal_contact" in message
    )
    assert (
        f"{path}:12:30: cohorts.intakes.1.size: greater than or equal to 0 "
        "expected, got -8" in message
    )


# -- draw_population -----------------------------------------------------------


def test_intake_sizes_are_poisson_around_the_expected_size() -> None:
    cohorts = Cohorts.model_validate(
        {
            "course_months": 1,
            "intakes": [
                {"month": "2027-02", "size": 20},
                {"month": "2027-07", "size": 3.5},
            ],
        }
    )
    rng = np.random.default_rng(11)
    draws = 300
    sizes = np.zeros((draws, 2))
    for i in range(draws):
        learners, _ = draw_population(cohorts, timezone=SYDNEY, rng=rng)
        ids = learners["learner_id"]
        sizes[i] = [ids.str.starts_with("C1-").sum(), ids.str.starts_with("C2-").sum()]
    for column, size in enumerate((20.0, 3.5)):
        # The mean of `draws` Poisson(size) counts has standard error sqrt(size/draws).
        tolerance = 4 * math.sqrt(size / draws)
        assert abs(sizes[:, column].mean() - size) < tolerance
        # Poisson: the variance equals the mean (loosely: within 35%).
        assert sizes[:, column].var() == pytest.approx(size, rel=0.35)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_drawn_population_facts(provider: Scenario, seed: int) -> None:
    learners, needs = draw_population(
        cohorts_of(provider), timezone=SYDNEY, rng=np.random.default_rng(seed)
    )
    assert learners.schema == pl.Schema(
        {
            "learner_id": pl.String(),
            "created_at": pl.Datetime("us", "UTC"),
            "course_end": pl.Datetime("us", "UTC"),
        }
    )
    assert needs.columns == ["learner_id", "at", "kind", "deferrable", "line"]
    assert learners["learner_id"].is_unique().all()
    assert learners.equals(learners.sort("learner_id"))
    assert needs.equals(needs.sort("learner_id", "at", "kind"))
    joined = needs.join(learners, on="learner_id", how="left")
    assert joined["created_at"].null_count() == 0
    # No need before creation or after the course end.
    assert joined.filter(pl.col("at") < pl.col("created_at")).is_empty()
    assert joined.filter(pl.col("at") > pl.col("course_end")).is_empty()
    # Every learner has an enrolment need at its creation.
    enrolled = joined.filter(
        (pl.col("kind") == "enrolment") & (pl.col("at") == pl.col("created_at"))
    )
    assert set(enrolled["learner_id"]) == set(learners["learner_id"])
    # All needs (and so all creations) fall in 08:00-18:00 local time.
    local = needs.select(pl.col("at").dt.convert_time_zone(SYDNEY).dt.time())["at"]
    assert local.is_between(time(8), time(18), closed="left").all()
    # Messages and documents are deferrable, nothing else is.
    assert needs.filter(
        pl.col("deferrable") != pl.col("kind").is_in(["message", "document"])
    ).is_empty()
    # A course ends at 18:00 local on the last day of a month, in the course.
    ends = learners.select(pl.col("course_end").dt.convert_time_zone(SYDNEY))[
        "course_end"
    ]
    assert (ends.dt.time() == time(18)).all()
    assert (ends.dt.offset_by("1d").dt.day() == 1).all()
    assert (ends < datetime(2028, 7, 1, tzinfo=ZoneInfo(SYDNEY))).all()
    # Creation lies in the 30 days before the intake start (1 Feb or 1 Jul).
    created = learners.select(
        pl.col("learner_id").str.slice(0, 3),
        pl.col("created_at").dt.convert_time_zone(SYDNEY).dt.date(),
    )
    for prefix, start in (("C1-", date(2027, 2, 1)), ("C2-", date(2027, 7, 1))):
        days = created.filter(pl.col("learner_id") == prefix)["created_at"]
        earliest = date.fromordinal(start.toordinal() - 30)
        assert days.is_between(earliest, start, closed="left").all()


def test_no_lead_creates_at_the_intake_start_and_withdrawals_end_courses() -> None:
    cohorts = Cohorts.model_validate(
        {
            "course_months": 6,
            "dropout_per_month": 0.2,
            "enrolment_lead_days": 0,
            "needs_per_month": {"attendance": 3},
            "intakes": [{"month": "2027-10", "size": 40}],
        }
    )
    learners, needs = draw_population(
        cohorts, timezone=SYDNEY, rng=np.random.default_rng(3)
    )
    start = datetime(2027, 10, 1, 9, tzinfo=ZoneInfo(SYDNEY)).astimezone(UTC)
    assert (learners["created_at"] == start).all()
    learners = learners.with_columns(
        pl.col("course_end").dt.convert_time_zone(SYDNEY).dt.date().alias("end")
    )
    # October to March; with 20% dropout a month some withdraw, some complete.
    assert (learners["end"] < date(2028, 3, 1)).any()
    assert (learners["end"] <= date(2028, 3, 31)).all()
    certificates = needs.filter(pl.col("kind") == "document")
    last_month = learners.filter(pl.col("end") == date(2028, 3, 31))
    assert 0 < last_month.height < learners.height
    # Completers get a certificate; a learner who withdraws in the final month
    # ends then too, but without one.
    assert 0 < certificates.height <= last_month.height
    assert set(certificates["learner_id"]) <= set(last_month["learner_id"])
    assert certificates["learner_id"].is_unique().all()


# -- forecast --------------------------------------------------------------------


def test_same_seed_same_runs_other_seed_other_runs(small: Scenario) -> None:
    first = forecast(small, runs=4)
    again = forecast(small, runs=4, seed=small.seed)
    assert first.seed == 7
    assert first.runs.schema == FORECAST_SCHEMA
    assert first.runs.height == 4 * len(STRATEGIES) * 7
    assert_frame_equal(first.runs, again.runs)
    other = forecast(small, runs=4, seed=8)
    assert not first.runs.equals(other.runs)


def test_batching_does_not_change_the_runs(small: Scenario) -> None:
    assert_frame_equal(
        forecast(small, runs=5, batch=1).runs, forecast(small, runs=5, batch=2).runs
    )


def test_forecast_equals_billing_each_draw_directly(small: Scenario) -> None:
    """The batched path against the plain one: draw, strategy, bill."""
    result = forecast(small, runs=2, seed=5)
    rng = np.random.default_rng(5)
    first, last = scenario_period(small)
    horizon = datetime(2027, 7, 31, 14, tzinfo=UTC)  # 1 Aug 2027 00:00 Sydney
    for run in range(2):
        learners, needs = draw_population(cohorts_of(small), timezone=SYDNEY, rng=rng)
        for name, strategy in STRATEGIES.items():
            decided = strategy(learners, needs, timezone=SYDNEY, horizon=horizon)
            monthly = bill(
                status_log(decided, name),
                plan=small.plan,
                timezone=SYDNEY,
                first_month=first,
                last_month=last,
            ).monthly
            got = result.runs.filter(
                (pl.col("run") == run) & (pl.col("strategy") == name)
            )
            assert got["billable_learners"].to_list() == (
                monthly["billable_learners"].to_list()
            )
            assert got["total"].to_list() == monthly["total"].to_list()


def test_explicit_learners_are_in_every_run(tmp_path: Path) -> None:
    text = (SCENARIOS / "april-to-july.yaml").read_text()
    (tmp_path / "plans").mkdir()
    (tmp_path / "plans" / "starter.yaml").write_text(
        (SCENARIOS / "plans" / "starter.yaml").read_text()
    )
    plain = tmp_path / "plain.yaml"
    plain.write_text(text)
    # Without cohorts every run is the explicit learners' comparison.
    result = forecast(load_scenario(plain), runs=2)
    expected = compare_strategies(load_scenario(plain)).monthly()
    for run in range(2):
        got = result.runs.filter(pl.col("run") == run).drop("run")
        assert_frame_equal(
            got, expected.filter(pl.col("strategy") != "explicit"), check_dtypes=False
        )
    # With a cohort starting in August 2018 (created in July), April has the
    # explicit learners only.
    mixed = tmp_path / "mixed.yaml"
    mixed.write_text(
        text + "cohorts:\n  course_months: 3\n  intakes: [{month: 2018-08, size: 5}]\n"
    )
    runs = forecast(load_scenario(mixed), runs=3).runs
    april = runs.filter(
        (pl.col("strategy") == "always_active") & (pl.col("month") == date(2018, 4, 1))
    )
    assert april["billable_learners"].to_list() == [2, 2, 2]


def test_bands_are_ordered_percentiles(small: Scenario) -> None:
    result = forecast(small, runs=6)
    bands = result.bands()
    assert bands.columns == [
        "strategy",
        "month",
        "billable_p10",
        "billable_p50",
        "billable_p90",
        "total_p10",
        "total_p50",
        "total_p90",
    ]
    assert bands.height == len(STRATEGIES) * 7
    assert bands["strategy"].unique(maintain_order=True).to_list() == list(STRATEGIES)
    for name in ("billable", "total"):
        assert (bands[f"{name}_p10"] <= bands[f"{name}_p50"]).all()
        assert (bands[f"{name}_p50"] <= bands[f"{name}_p90"]).all()


def test_progress_reports_runs_done(small: Scenario) -> None:
    done: list[int] = []
    forecast(small, runs=5, batch=2, progress=done.append)
    assert done == [2, 4, 5]


def test_bad_arguments(small: Scenario) -> None:
    with pytest.raises(ValueError, match="`runs`: at least 1"):
        forecast(small, runs=0)
    with pytest.raises(ValueError, match="`strategy`: one of"):
        commitment_table(forecast(small, runs=1), {"s": small.plan}, strategy="x")


# -- the property: no strategy beats the needs, none exceeds always_active -------


def _cohorts() -> st.SearchStrategy[Cohorts]:
    rates = st.fixed_dictionaries(
        {},
        optional={
            kind: st.floats(0, 3, allow_nan=False)
            for kind in ("attendance", "message", "document", "sales")
        },
    )
    intake = st.fixed_dictionaries(
        {
            "month": st.sampled_from(["2027-01", "2027-03", "2027-04", "2027-10"]),
            "size": st.floats(0, 12, allow_nan=False),
        }
    )
    return st.builds(
        lambda months, dropout, lead, needs, intakes: Cohorts.model_validate(
            {
                "course_months": months,
                "dropout_per_month": dropout,
                "enrolment_lead_days": lead,
                "needs_per_month": needs,
                "intakes": intakes,
            }
        ),
        st.integers(1, 5),
        st.floats(0, 0.6, allow_nan=False),
        st.integers(0, 40),
        rates,
        st.lists(intake, min_size=1, max_size=2),
    )


def _need_months(needs: pl.DataFrame, first: date, last: date) -> pl.DataFrame:
    """Per local month of the period: learners with a non-deferrable need in it."""
    return (
        needs.filter(~pl.col("deferrable"))
        .select(
            "learner_id",
            pl.col("at").dt.convert_time_zone(SYDNEY).dt.date().alias("day"),
        )
        .select(
            "learner_id",
            pl.date(pl.col("day").dt.year(), pl.col("day").dt.month(), 1).alias(
                "month"
            ),
        )
        .unique()
        .filter(pl.col("month").is_between(first, last))
        .group_by("month")
        .agg(pl.len().alias("needed"))
    )


@settings(max_examples=max(10, settings().max_examples // 10))
@given(cohorts=_cohorts(), seed=st.integers(0, 2**32))
def test_strategies_bill_between_the_needs_and_always_active(
    small: Scenario, cohorts: Cohorts, seed: int
) -> None:
    scenario = Scenario(
        name="h",
        description="",
        timezone=SYDNEY,
        period=None,
        plan=small.plan,
        learners=(),
        source=Path("h.yaml"),
        seed=seed,
        cohorts=cohorts,
    )
    runs = forecast(scenario, runs=1).runs
    # Run 0 of a forecast is the generator's first draw.
    _, needs = draw_population(
        cohorts, timezone=SYDNEY, rng=np.random.default_rng(seed)
    )
    first, last = scenario_period(scenario)
    needed = _need_months(needs, first, last)
    wide = runs.pivot("strategy", index="month", values="billable_learners")
    wide = wide.join(needed, on="month", how="left").with_columns(
        pl.col("needed").fill_null(0)
    )
    for name in STRATEGIES:
        # Per month, so also over the period.
        assert (wide[name] <= wide["always_active"]).all(), name
        assert (wide[name] >= wide["needed"]).all(), name
    assert int(wide["needed"].sum()) == (
        needs.filter(~pl.col("deferrable"))
        .select(
            "learner_id",
            pl.col("at").dt.convert_time_zone(SYDNEY).dt.strftime("%Y-%m").alias("m"),
        )
        .unique()
        .height
    )


# -- commitment choice -----------------------------------------------------------


def test_commitment_plans_scale_the_base_fee(provider: Scenario) -> None:
    plans = commitment_plans(provider.plan, [50, 150, 400], Decimal("6.33"))
    assert list(plans) == ["included_050", "included_150", "included_400"]
    standard = plans["included_150"]
    assert (standard.included_learners, standard.base_fee) == (150, Decimal("949.50"))
    assert standard.annual_minimum_spend == Decimal("11394.00")  # 11400 * 949.5/950
    assert standard.name == "Standard, 150 included"
    assert standard.overage_price == provider.plan.overage_price
    same_fee = commitment_plans(provider.plan, [200])["included_200"]
    assert (same_fee.base_fee, same_fee.annual_minimum_spend) == (
        Decimal("950.00"),
        Decimal("11400.00"),
    )
    kept = commitment_plans(
        provider.plan, [100], Decimal("6.33"), scale_minimum_spend=False
    )
    assert kept["included_100"].annual_minimum_spend == Decimal("11400.00")


def _cents(amount: Decimal) -> Decimal:
    return amount.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


@pytest.fixture(scope="module")
def provider_forecast(provider: Scenario) -> Forecast:
    return forecast(provider, runs=20)


@pytest.mark.parametrize("strategy", ["always_active", "just_in_time"])
def test_commitment_table_against_brute_force(
    provider_forecast: Forecast, strategy: str
) -> None:
    result = provider_forecast
    base = Plan(
        name="Flat",
        currency="AUD",
        base_fee=Decimal("950.00"),
        included_learners=150,
        overage_price=Decimal("7.50"),
    )
    plans = commitment_plans(base, [100, 150, 200, 250], Decimal("6.33"))
    table = commitment_table(result, plans, strategy=strategy)

    # Independently: base fee + overage learners x price, month by month.
    usage: dict[int, list[int]] = {}
    for run, name, _, billable, _ in result.runs.iter_rows():
        if name == strategy:
            usage.setdefault(run, []).append(billable)
    assert len(usage) == 20
    expected: dict[str, Decimal] = {}
    p90: dict[str, Decimal] = {}
    for included in (100, 150, 200, 250):
        fee = _cents(Decimal("6.33") * included)
        costs = []
        for months in usage.values():
            total = sum(
                (fee + max(0, b - included) * Decimal("7.50") for b in months),
                Decimal(0),
            )
            costs.append(_cents(total * 12 / len(months)))
        key = f"included_{included}"
        expected[key] = _cents(sum(costs, Decimal(0)) / len(costs))
        p90[key] = sorted(costs)[17]  # nearest rank: ceil(0.9 * 20) = 18th
    cheapest = min(expected, key=lambda k: (expected[k], k))
    safest = min(p90, key=lambda k: (p90[k], k))

    assert table.columns == [
        "plan",
        "expected_annual",
        "p90_annual",
        "cheapest",
        "safest",
    ]
    assert table["plan"].to_list() == list(plans)
    assert dict(zip(table["plan"], table["expected_annual"], strict=True)) == expected
    assert dict(zip(table["plan"], table["p90_annual"], strict=True)) == p90
    assert table.filter("cheapest")["plan"].to_list() == [cheapest]
    assert table.filter("safest")["plan"].to_list() == [safest]


def test_commitment_ties_go_to_the_smallest_key(small: Scenario) -> None:
    result = forecast(small, runs=2)
    table = commitment_table(
        result, {"b": small.plan, "a": small.plan}, strategy="batched"
    )
    assert table.filter("cheapest")["plan"].to_list() == ["a"]
    assert table.filter("safest")["plan"].to_list() == ["a"]


def test_each_forecast_month_is_priced_at_the_tier_in_force(tmp_path: Path) -> None:
    """A tier change effective 15 September 2018 prices October onwards anew.

    The April-to-July scenario's two learners, under ``always_active``, are
    billable every month from April to December 2018 (created on 11 April,
    Active to the end of the year). Starter plan: 45.00 a month, nobody
    included, 9.00 per learner; from 15 September the overage price is 6.00,
    which applies from October (the tier in force on a month's 1st bills the
    whole month). So April to September: 45.00 + 2 x 9.00 = 63.00; October to
    December: 45.00 + 2 x 6.00 = 57.00. Over the period 6 x 63.00 + 3 x 57.00
    = 549.00, annualised 549.00 x 12 / 9 = 732.00.
    """
    (tmp_path / "plans").mkdir()
    (tmp_path / "plans" / "starter.yaml").write_text(
        (SCENARIOS / "plans" / "starter.yaml").read_text()
        + 'tier_changes:\n  - {effective: "2018-09-15", overage_price: 6.00}\n'
    )
    path = tmp_path / "scenario.yaml"
    path.write_text((SCENARIOS / "april-to-july.yaml").read_text())
    scenario = load_scenario(path)
    result = forecast(
        scenario, runs=2, strategies={"always_active": STRATEGIES["always_active"]}
    )
    totals = [Decimal("63.00")] * 6 + [Decimal("57.00")] * 3
    for run in range(2):
        got = result.runs.filter(pl.col("run") == run)
        assert got["billable_learners"].to_list() == [2] * 9
        assert got["total"].to_list() == totals
    annual = result.annual({"starter": scenario.plan})
    assert annual["total_ex_tax"].to_list() == [Decimal("549.00")] * 2
    assert annual["annual"].to_list() == [Decimal("732.00")] * 2
    bands = result.bands()
    assert bands["total_p50"].to_list() == [63.0] * 6 + [57.0] * 3
