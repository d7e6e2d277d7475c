"""The pricing explorer (meter_sim.explore): its counts, its page, and the page in a browser.

The browser test opens the page in headless Debian Chromium (Playwright drives
``/usr/bin/chromium``; no browser is downloaded), moves sliders as a person
would, and checks the displayed totals against `meter_sim.pricing.invoice` of
usage counted here from `compare_strategies`' learner-months.
"""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl
import pytest
from typer.testing import CliRunner

from meter_sim.cli import app
from meter_sim.exceptions import PricingError
from meter_sim.explore import (
    TOTAL_LABELS,
    ExplorerData,
    explorer_chart,
    explorer_data,
    explorer_html,
    scaled_usage,
    write_explorer,
)
from meter_sim.pricing import invoice, monthly_bill
from meter_sim.scenario import load_scenario
from meter_sim.simulate import compare_strategies

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

    from meter_sim.pricing import Plan
    from meter_sim.scenario import Scenario
    from meter_sim.simulate import StrategyComparison

ROOT = Path(__file__).resolve().parent.parent
PROVIDER = ROOT / "scenarios" / "training-provider.yaml"
APRIL_TO_JULY = ROOT / "scenarios" / "april-to-july.yaml"


@pytest.fixture(scope="module")
def provider() -> Scenario:
    return load_scenario(PROVIDER)


@pytest.fixture(scope="module")
def comparison(provider: Scenario) -> StrategyComparison:
    return compare_strategies(provider)


@pytest.fixture(scope="module")
def data(provider: Scenario) -> ExplorerData:
    return explorer_data(provider)


def usage_counted_here(
    comparison: StrategyComparison, strategy: str, factors: dict[str, int]
) -> pl.DataFrame:
    """Monthly billable learners, each intake's learners counted ``factors[prefix]`` times.

    Independent of meter_sim.explore: drawn learners are told by their id prefix
    (``C1-`` for the first intake); a whole factor scales a count exactly.
    """
    bill = comparison.bills[strategy]
    weight = pl.col("learner_id").is_not_null().cast(pl.Int64)  # 1 per row
    for prefix, factor in factors.items():
        weight = (
            pl.when(pl.col("learner_id").str.starts_with(prefix))
            .then(pl.lit(factor))
            .otherwise(weight)
        )
    counted = bill.learner_months.group_by("month").agg(
        weight.sum().alias("billable_learners")
    )
    return (
        bill.monthly.select("month")
        .join(counted, on="month", how="left", maintain_order="left")
        .with_columns(pl.col("billable_learners").fill_null(0).cast(pl.UInt32))
    )


# -- counts --------------------------------------------------------------------


def test_counts_at_the_scenarios_sizes_are_compare_strategies_counts(
    data: ExplorerData, comparison: StrategyComparison
) -> None:
    assert data.strategies == tuple(comparison.bills)
    assert [i.size for i in data.intakes] == [150, 120]
    for strategy, bill in comparison.bills.items():
        usage = scaled_usage(data, strategy)
        assert usage["month"].to_list() == bill.monthly["month"].to_list()
        assert (
            usage["billable_learners"].to_list()
            == bill.monthly["billable_learners"].to_list()
        )
    # The drawn learners of both intakes and no explicit ones.
    assert data.months["explicit"].sum() == 0
    assert data.months["intake_1"].sum() > 0
    assert data.months["intake_2"].sum() > 0


def test_an_intake_twice_as_large_bills_twice_its_learners(
    data: ExplorerData, comparison: StrategyComparison
) -> None:
    got = scaled_usage(data, "monthly_sweep", [300, 120])
    expected = usage_counted_here(comparison, "monthly_sweep", {"C1-": 2})
    assert got.equals(expected)
    assert (
        got["billable_learners"].sum()
        > scaled_usage(data, "monthly_sweep")["billable_learners"].sum()
    )


def test_scaled_counts_round_halves_up_as_javascript() -> None:
    template = load_scenario(PROVIDER)
    months = pl.DataFrame(
        {
            "strategy": ["s"] * 3,
            "month": pl.date_range(
                pl.date(2027, 1, 1), pl.date(2027, 3, 1), "1mo", eager=True
            ),
            "explicit": [0, 1, 0],
            "intake_1": [1, 3, 5],
        },
        schema_overrides={"explicit": pl.UInt32, "intake_1": pl.UInt32},
    )
    assert template.cohorts is not None
    intake = template.cohorts.intakes[0].model_copy(update={"size": 2})
    data = ExplorerData(
        months=months,
        strategies=("s",),
        intakes=(intake,),
        plan=template.plan,
        scenario="halves",
        timezone="Australia/Sydney",
        first_month=months["month"][0],
        last_month=months["month"][-1],
        totals=pl.DataFrame(),
    )
    # size 1 of an expected 2: 0.5 -> 1, 1.5 -> 2 (+1 explicit), 2.5 -> 3.
    usage = scaled_usage(data, "s", [1])
    assert usage["billable_learners"].to_list() == [1, 3, 3]
    with pytest.raises(ValueError, match="`sizes`: 1 sizes >= 0 expected"):
        scaled_usage(data, "s", [1, 2])
    with pytest.raises(ValueError, match="`strategy`: one of s expected"):
        scaled_usage(data, "nope")


def test_a_scenario_of_explicit_learners_only(tmp_path: Path) -> None:
    data = explorer_data(load_scenario(APRIL_TO_JULY))
    assert data.strategies[0] == "explicit"
    assert data.default_strategy == "explicit"
    assert data.intakes == ()
    # L1 and L2 in April, L2 only in May, nobody in June (notebook 01).
    explicit = scaled_usage(data, "explicit")["billable_learners"].to_list()
    assert explicit == [2, 1, 0, 2, 2, 2, 2, 2, 2]
    assert write_explorer(data, tmp_path / "faq.html") > 0


def test_a_tiered_plan_is_refused(tmp_path: Path) -> None:
    (tmp_path / "plans").mkdir()
    plan = (ROOT / "scenarios" / "plans" / "premium-graduated.yaml").read_text()
    (tmp_path / "plans" / "tiers.yaml").write_text(plan)
    scenario = APRIL_TO_JULY.read_text().replace(
        "plan: plans/starter.yaml", "plan: plans/tiers.yaml"
    )
    (tmp_path / "tiers.yaml").write_text(scenario)
    with pytest.raises(PricingError, match=r"one flat price.*`overage_tiers`"):
        explorer_data(load_scenario(tmp_path / "tiers.yaml"))


# -- the chart and the page ----------------------------------------------------


def test_chart_binds_every_control_and_embeds_its_data(data: ExplorerData) -> None:
    spec = explorer_chart(data).to_dict()
    params = {p["name"]: p for p in spec["params"]}
    assert list(params) == [
        "strategy", "included", "base_fee", "overage_price", "size_1", "size_2"
    ]  # fmt: skip
    assert params["strategy"]["bind"]["options"] == list(data.strategies)
    assert params["strategy"]["value"] == "course_window"
    assert params["included"]["value"] == 150
    assert params["included"]["bind"]["input"] == "range"
    assert params["overage_price"]["value"] == 7.5
    assert params["overage_price"]["bind"]["step"] == 0.05
    assert params["size_1"]["value"] == 150
    assert params["size_1"]["bind"]["max"] == 450
    # One embedded dataset of strategy x month rows, no URL.
    assert len(spec["datasets"]) == 1
    (rows,) = spec["datasets"].values()
    assert len(rows) == len(data.strategies) * 18
    assert "url" not in str(spec)
    # The meter_sim theme is applied.
    assert spec["config"]["title"]["anchor"] == "start"


def test_page_is_self_contained(data: ExplorerData) -> None:
    page = explorer_html(data)
    assert page.startswith("<!DOCTYPE html>")
    assert "vegaEmbed" in page
    # Nothing is loaded from elsewhere: no script source, stylesheet link or URL
    # in an attribute.
    assert not re.search(r"<script[^>]*\bsrc=", page)
    assert "<link" not in page
    assert not re.search(r"""(src|href)\s*=\s*["']?https?:""", page)
    # The spec cannot end its <script> element early.
    spec = page.split('<script type="application/json" id="spec">')[1]
    assert "</" not in spec.split("</script>")[0]
    # Small: the inlined libraries (~0.9 MB) and a few kB of data.
    assert len(page.encode()) < 1_100_000


def test_cli_writes_the_page(tmp_path: Path) -> None:
    runner = CliRunner()
    out = tmp_path / "page.html"
    result = runner.invoke(app, ["explore", str(APRIL_TO_JULY), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert out.read_text().startswith("<!DOCTYPE html>")
    assert "pricing explorer of 'April to July" in result.stderr
    bad = runner.invoke(app, ["explore", str(APRIL_TO_JULY), "--out", "x.png"])
    assert bad.exit_code == 2
    assert "an .html file expected" in bad.stderr
    missing = runner.invoke(
        app, ["explore", str(tmp_path / "none.yaml"), "--out", str(out)]
    )
    assert missing.exit_code == 2
    assert "not found" in missing.stderr


# -- in a real browser ---------------------------------------------------------


def money(amount: Decimal, currency: str = "AUD") -> str:
    return f"{currency} {amount:,.2f}"


def totals_shown(page: Page) -> dict[str, str]:
    """The totals panel's lines, by label (``Total ex tax`` -> ``AUD 1,234.50``)."""
    texts = page.eval_on_selector_all(
        "#charts svg text", "elements => elements.map(e => e.textContent)"
    )
    shown = {}
    for text in texts:
        label, _, value = str(text).partition(": ")
        if label in TOTAL_LABELS.values():
            shown[label] = value
    return shown


def expected_totals(usage: pl.DataFrame, plan: Plan) -> dict[str, str]:
    """The totals panel's lines as meter_sim prices ``usage`` under ``plan``."""
    bill = invoice(usage, plan)
    months = int(usage["billable_learners"].sum())
    overage = int(monthly_bill(usage, plan)["overage_learners"].sum())
    return {
        TOTAL_LABELS["ex_tax"]: money(bill.total_ex_tax, plan.currency),
        TOTAL_LABELS["inc_tax"]: money(bill.total_inc_tax, plan.currency),
        TOTAL_LABELS["learner_months"]: f"{months:,} (overage: {overage:,})",
    }


def slider(page: Page, label: str) -> str:
    """CSS selector of the range input whose label starts with ``label``."""
    index = page.eval_on_selector_all(
        "#controls .vega-bind",
        "(binds, label) => binds.findIndex("
        "b => b.textContent.trim().startsWith(label))",
        label,
    )
    assert index >= 0, f"no control labelled {label!r}"
    return f"#controls .vega-bind:nth-child({index + 1}) input[type=range]"


def wait_for_totals(page: Page) -> dict[str, str]:
    """The totals once the view has run (Vega redraws asynchronously)."""
    page.evaluate("async () => { await window.explorerView.runAsync(); }")
    return totals_shown(page)


def test_page_in_headless_chromium_matches_meter_sim(
    browser: Browser,
    data: ExplorerData,
    comparison: StrategyComparison,
    provider: Scenario,
    tmp_path: Path,
) -> None:
    path = tmp_path / "explorer.html"
    size = write_explorer(data, path)
    context = browser.new_context(viewport={"width": 1100, "height": 900})
    requests: list[str] = []
    context.on("request", lambda request: requests.append(request.url))
    page = context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.on(
        "console",
        lambda message: (
            problems.append(message.text) if message.type == "error" else None
        ),
    )
    page.goto(path.as_uri())
    page.wait_for_selector("body[data-ready=true]", timeout=30_000)
    plan = provider.plan

    # The scenario's own values: exactly `meter-sim compare`'s totals.
    row = comparison.table.filter(pl.col("strategy") == "course_window").row(
        0, named=True
    )
    assert totals_shown(page)[TOTAL_LABELS["ex_tax"]] == money(row["total_ex_tax"])
    assert totals_shown(page)[TOTAL_LABELS["inc_tax"]] == money(row["total_inc_tax"])

    # 25 learners more included: press the right arrow on the slider 25 times.
    included = slider(page, "Included learners")
    page.focus(included)
    for _ in range(25):
        page.keyboard.press("ArrowRight")
    assert page.eval_on_selector(included, "input => input.value") == "175"
    usage = usage_counted_here(comparison, "course_window", {})
    expected = expected_totals(
        usage, plan.model_copy(update={"included_learners": 175})
    )
    assert wait_for_totals(page) == expected
    assert expected[TOTAL_LABELS["ex_tax"]] != money(row["total_ex_tax"])

    # Overage price down by ten steps of 0.05, to 7.00 AUD.
    price = slider(page, "Overage price")
    page.focus(price)
    for _ in range(10):
        page.keyboard.press("ArrowLeft")
    cheaper = plan.model_copy(
        update={"included_learners": 175, "overage_price": Decimal("7.00")}
    )
    expected = expected_totals(usage, cheaper)
    assert wait_for_totals(page) == expected

    # No base fee at all: the 2027 fees fall short of the annual minimum spend
    # (11,400.00), so December 2027 gets a true-up, and GST is charged on it.
    base_fee = slider(page, "Base fee")
    page.focus(base_fee)
    page.keyboard.press("Home")
    free = cheaper.model_copy(update={"base_fee": Decimal(0)})
    expected = expected_totals(usage, free)
    assert invoice(usage, free).amount("minimum_spend_true_up") > 0
    assert wait_for_totals(page) == expected

    # Another strategy, and the February intake at its slider's top, 3 x 150.
    page.select_option("#controls select", "monthly_sweep")
    intake = slider(page, "Intake 2027-02")
    page.focus(intake)
    page.keyboard.press("End")
    assert page.eval_on_selector(intake, "input => input.value") == "450"
    usage = usage_counted_here(comparison, "monthly_sweep", {"C1-": 3})
    expected = expected_totals(usage, free)
    assert wait_for_totals(page) == expected

    screenshot = tmp_path / "explorer.png"
    page.screenshot(path=str(screenshot), full_page=True)
    assert screenshot.stat().st_size > 10_000
    context.close()
    # Offline: the page itself was the only request, and nothing failed.
    assert requests == [path.as_uri()]
    assert problems == []
    assert size == path.stat().st_size


def test_page_prices_tolerance_and_a_july_billing_year_as_meter_sim(
    browser: Browser, tmp_path: Path
) -> None:
    """Every strategy's totals at the scenario's values, under a plan with a 5%
    tolerance, billing years from July and a minimum spend without overage."""
    plans = tmp_path / "plans"
    plans.mkdir()
    plan = (ROOT / "scenarios" / "plans" / "standard-tolerance.yaml").read_text()
    plan += "billing_year_start_month: 7\nminimum_spend_counts_overage: false\n"
    (plans / "odd.yaml").write_text(plan)
    scenario = PROVIDER.read_text().replace(
        "plan: plans/standard.yaml", "plan: plans/odd.yaml"
    )
    (tmp_path / "odd.yaml").write_text(scenario)
    loaded = load_scenario(tmp_path / "odd.yaml")
    assert loaded.plan.tolerance == Decimal("0.05")
    data = explorer_data(loaded)
    # July 2027 to June 2028 is a whole billing year of the period.
    july = data.months.filter(pl.col("strategy") == "course_window")
    assert july.filter("last_of_year")["month"].dt.strftime("%Y-%m").to_list() == [
        "2027-06",
        "2028-06",
    ]
    assert july.filter("year_complete")["month"].dt.strftime("%Y-%m").to_list() == [
        f"{year}-{month:02d}"
        for year, months in ((2027, range(7, 13)), (2028, range(1, 7)))
        for month in months
    ]
    table = compare_strategies(loaded).table
    path = tmp_path / "odd.html"
    write_explorer(data, path)
    page = browser.new_page()
    page.goto(path.as_uri())
    page.wait_for_selector("body[data-ready=true]", timeout=30_000)
    for strategy, ex_tax, inc_tax in table.select(
        "strategy", "total_ex_tax", "total_inc_tax"
    ).iter_rows():
        page.select_option("#controls select", strategy)
        shown = wait_for_totals(page)
        assert shown[TOTAL_LABELS["ex_tax"]] == money(ex_tax), strategy
        assert shown[TOTAL_LABELS["inc_tax"]] == money(inc_tax), strategy
    page.close()
