"""A training provider's year (2026) and a vendor invoice to check, with planted faults.

Makes four CSV files, in this folder or in the folder given as the argument:

- ``status.csv``: the provider's status log (DESIGN.md section 4): ``learner_id``,
  ``changed_at`` (ISO-8601 with the Australia/Sydney offset), ``is_active``
  (``yes``/``no``), ``channel``, ``actor``; in time order.
- ``activity.csv``: the provider's activity log: ``learner_id``, ``occurred_at``,
  ``activity``, ``channel``; in time order.
- ``vendor-report.csv``: the vendor's learner status report, the subset of
  `meter_sim.reconcile` (``billing_month``, ``learner_id``,
  ``billable_in_month`` Y/N, ``first_name``, ``last_name``, ``date_of_birth``)
  plus ``is_active_at_month_end`` (Y/N) and ``status_changes_in_month``; one row
  per learner record and month from the month of its creation.
- ``invoice.csv``: the vendor's monthly invoice, ``month``,
  ``billable_learners``, ``amount`` (base fee plus overage, before GST, under
  ``scenarios/plans/standard.yaml``: 950.00 AUD for 150 included learners, then
  7.50 each); its counts are the report's ``Y`` rows of each month.

The year: `meter_sim.simulate.draw_population` draws the learners and their needs
from a scaled-down copy of ``scenarios/training-provider.yaml``'s cohorts (its seed,
its course length, dropout and lead; intakes in February and July 2026 of about 120
and 100 learners; 2 attendances, 1 message and 0.2 documents per learner and course
month; times cut to the minute). The ``course_window`` strategy turns the needs into
the status log (Active from creation to 14 days after the course ends; learners
still enrolled stay Active past December), and the needs up to the end of 2026 are
the activity log. Names and dates of birth are drawn from a second seeded generator.

Quirks added by hand to the logs (real-life untidiness; the logs are right):

- `EDGE_LEARNER`, a prospect imported Inactive in January, is Active for one hour
  on 1 March 2026, 08:00 to 09:00 +11:00, for a sales call: March in Sydney, but
  still 28 February in UTC.
- `WASTED_LEARNER`, who withdrew in February, is reactivated and deactivated again
  20 minutes later on 12 August 2026, with no activity (a wasted reactivation).
- `INACTIVE_ACTIVITY`: a message sent through the API to a learner Inactive since
  April (against the rules; the meter must not bill it).
- `DUPLICATE`: two learner records of the same person (same name and date of
  birth), one in each intake, both billed from June 2026.

Planted faults in the vendor's report and invoice (every other month is right):

(a) `BILLED_NOT_ACTIVE`: in September the report marks Y, and the invoice counts,
    learner C1-0060, who has been Inactive since March (an overcharge of 7.50).
(b) `ACTIVE_NOT_BILLED`: in April the report marks N, and the invoice leaves out,
    learner C1-0010, Active all month (within the included learners: no money).
(c) `WRONG_RATE_MONTH`: in November the count is right but the overage learners are
    priced at `WRONG_RATE` (8.50) instead of the plan's 7.50.
(d) `UTC_MONTHS`: February and March are counted in UTC instead of in
    Australia/Sydney, so `EDGE_LEARNER` is billed in February instead of March.

Rerun (the same files, byte for byte; ``tests/test_examples.py`` checks it)::

    uv run python examples/provider-year/generate.py             # into this folder
    uv run python examples/provider-year/generate.py OUT_FOLDER  # elsewhere

The script checks that the draw still has the properties the faults rely on, and
stops with a message if not.
"""

from __future__ import annotations

import argparse
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import numpy as np
import polars as pl

from meter_sim import bill, load_plan, read_activity_log, read_status_log
from meter_sim.lifecycle import month_start
from meter_sim.pricing import Plan, month_total, overage_learners, round_money
from meter_sim.reports import status_report
from meter_sim.scenario import Intake, NeedRates, load_scenario
from meter_sim.simulate import draw_population
from meter_sim.strategies import course_window

if TYPE_CHECKING:
    from meter_sim.billing import Bill
    from meter_sim.logs import StatusLog

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
SCENARIO = ROOT / "scenarios" / "training-provider.yaml"
PLAN = ROOT / "scenarios" / "plans" / "standard.yaml"
TIMEZONE = "Australia/Sydney"
FIRST_MONTH = date(2026, 1, 1)
LAST_MONTH = date(2026, 12, 1)
INTAKES = ({"month": "2026-02", "size": 120}, {"month": "2026-07", "size": 100})
"""The year's intakes: the scenario's, a year earlier and smaller. [learners]"""
NEEDS = {"attendance": 2.0, "message": 1.0, "document": 0.2}
"""Needs per learner and course month (fewer than the scenario's, for small files)."""
NAMES_SEED = 2026
"""Seed of the names and dates of birth (the learners use the scenario's seed)."""
CHANNELS = {
    "enrolment": "ui",
    "attendance": "ui",
    "message": "automation",
    "document": "ui",
}
"""Channel of each drawn activity kind."""

# -- quirks added by hand to the logs ----------------------------------------------

EDGE_LEARNER = "P-0001"
EDGE_STATUS = (
    ("2026-01-20T14:05:00+11:00", "no", "import", "admissions"),
    ("2026-03-01T08:00:00+11:00", "yes", "ui", "sales"),
    ("2026-03-01T09:00:00+11:00", "no", "ui", "sales"),
)
EDGE_ACTIVITY = ("2026-03-01T08:15:00+11:00", "sales", "ui")
WASTED_LEARNER = "C1-0066"
WASTED_STATUS = (
    ("2026-08-12T10:00:00+10:00", "yes", "ui", "trainer"),
    ("2026-08-12T10:20:00+10:00", "no", "ui", "trainer"),
)
INACTIVE_ACTIVITY = ("C1-0042", "2026-10-05T10:00:00+11:00", "message", "api")
DUPLICATE = ("C1-0003", "C2-0017")
"""Two records of one person: the first record, then the duplicate."""

# -- planted faults in the vendor's report and invoice ------------------------------

BILLED_NOT_ACTIVE = (date(2026, 9, 1), "C1-0060")
"""(a) Month and learner marked Y and invoiced, never Active in that month."""
ACTIVE_NOT_BILLED = (date(2026, 4, 1), "C1-0010")
"""(b) Month and learner marked N and not invoiced, though Active."""
WRONG_RATE_MONTH = date(2026, 11, 1)
"""(c) Month whose overage learners are priced at `WRONG_RATE`."""
WRONG_RATE = Decimal("8.50")
"""(c) The wrong overage price. [AUD per learner-month]"""
UTC_MONTHS = (date(2026, 2, 1), date(2026, 3, 1))
"""(d) Months the vendor counts in UTC instead of Australia/Sydney."""

FIRST_NAMES = (
    "Olivia", "Jack", "Charlotte", "Noah", "Amelia", "William", "Isla", "Oliver",
    "Mia", "Thomas", "Ava", "James", "Grace", "Lucas", "Chloe", "Henry", "Zoe",
    "Ethan", "Ruby", "Liam", "Sophie", "Samuel", "Emily", "Lachlan", "Harper",
    "Cooper", "Ella", "Mason", "Lily", "Hamish", "Priya", "Wei", "Aisha", "Minh",
    "Fatima", "Arjun", "Mei", "Tariq", "Ngaio", "Mateo",
)  # fmt: skip
LAST_NAMES = (
    "Smith", "Jones", "Williams", "Brown", "Wilson", "Taylor", "Nguyen", "Johnson",
    "Martin", "White", "Anderson", "Walker", "Thompson", "Harris", "Lee", "Ryan",
    "Robinson", "Kelly", "King", "Davis", "Wright", "Evans", "Roberts", "Green",
    "Hall", "Wood", "Jackson", "Clarke", "Patel", "Chen", "Tran", "Singh", "Murphy",
    "Campbell", "Mitchell", "Cooper", "O'Brien", "Kaur", "Hughes", "Lewis",
)  # fmt: skip

_ISO = "%Y-%m-%dT%H:%M:%S%:z"
_UTC = pl.Datetime("us", "UTC")


def _local_text(column: str) -> pl.Expr:
    """A UTC instant as ISO-8601 text with the Australia/Sydney offset."""
    return pl.col(column).dt.convert_time_zone(TIMEZONE).dt.strftime(_ISO)


def _yes_no(column: str) -> pl.Expr:
    return pl.when(pl.col(column)).then(pl.lit("Y")).otherwise(pl.lit("N"))


def _instants(times: list[str]) -> pl.Series:
    """ISO-8601 texts with an offset as UTC instants."""
    return pl.Series([datetime.fromisoformat(t) for t in times]).cast(_UTC)


def draw_year() -> tuple[pl.DataFrame, pl.DataFrame]:
    """The drawn year's status log and activity log, quirks included.

    Returns
    -------
    (pl.DataFrame, pl.DataFrame)
        Status log ``learner_id``, ``changed_at`` Datetime("us", "UTC"),
        ``is_active`` Boolean, ``channel``, ``actor``; activity log
        ``learner_id``, ``occurred_at`` Datetime("us", "UTC"), ``activity``,
        ``channel``. Sorted by time, then learner.
    """
    scenario = load_scenario(SCENARIO)
    assert scenario.cohorts is not None
    cohorts = scenario.cohorts.model_copy(
        update={
            "intakes": tuple(Intake.model_validate(i) for i in INTAKES),
            "needs_per_month": NeedRates.model_validate(NEEDS),
        }
    )
    learners, needs = draw_population(
        cohorts, timezone=TIMEZONE, rng=np.random.default_rng(scenario.seed)
    )
    horizon = month_start(date(LAST_MONTH.year + 1, 1, 1), ZoneInfo(TIMEZONE))
    learners = learners.with_columns(
        pl.col("created_at", "course_end").dt.truncate("1m")
    )
    needs = needs.with_columns(pl.col("at").dt.truncate("1m")).filter(
        pl.col("at") < horizon
    )
    run = course_window(learners, needs, timezone=TIMEZONE, horizon=horizon)
    created = pl.col("changed_at") == pl.col("changed_at").min().over("learner_id")
    drawn_status = run.status.with_columns(
        pl.when("is_active").then(pl.lit("ui")).otherwise(pl.lit("automation"))
        .alias("channel"),
        pl.when(~pl.col("is_active")).then(pl.lit("learncycle"))
        .when(created).then(pl.lit("admissions"))
        .otherwise(pl.lit("trainer"))
        .alias("actor"),
    )  # fmt: skip
    by_hand = [(EDGE_LEARNER, *row) for row in EDGE_STATUS] + [
        (WASTED_LEARNER, *row) for row in WASTED_STATUS
    ]
    hand_status = pl.DataFrame(
        {
            "learner_id": [r[0] for r in by_hand],
            "changed_at": _instants([r[1] for r in by_hand]),
            "is_active": [r[2] == "yes" for r in by_hand],
            "channel": [r[3] for r in by_hand],
            "actor": [r[4] for r in by_hand],
        }
    )
    drawn_activity = needs.select(
        "learner_id",
        pl.col("at").alias("occurred_at"),
        pl.col("kind").alias("activity"),
        pl.col("kind").replace_strict(CHANNELS).alias("channel"),
    )
    hand = [(EDGE_LEARNER, *EDGE_ACTIVITY), INACTIVE_ACTIVITY]
    hand_activity = pl.DataFrame(
        {
            "learner_id": [r[0] for r in hand],
            "occurred_at": _instants([r[1] for r in hand]),
            "activity": [r[2] for r in hand],
            "channel": [r[3] for r in hand],
        }
    )
    status = pl.concat([drawn_status, hand_status]).sort("changed_at", "learner_id")
    activity = pl.concat([drawn_activity, hand_activity]).sort(
        "occurred_at", "learner_id", "activity"
    )
    return status, activity


def write_logs(status: pl.DataFrame, activity: pl.DataFrame, folder: Path) -> None:
    """Write ``status.csv`` and ``activity.csv`` with Australia/Sydney offsets."""
    status.select(
        "learner_id",
        _local_text("changed_at").alias("changed_at"),
        pl.when("is_active").then(pl.lit("yes")).otherwise(pl.lit("no"))
        .alias("is_active"),
        "channel",
        "actor",
    ).write_csv(folder / "status.csv")  # fmt: skip
    activity.with_columns(_local_text("occurred_at")).write_csv(folder / "activity.csv")


def learner_names(learner_ids: list[str]) -> pl.DataFrame:
    """Seeded names and dates of birth; the `DUPLICATE` pair shares theirs.

    Returns
    -------
    pl.DataFrame
        ``learner_id``, ``first_name``, ``last_name`` String, ``date_of_birth``
        Date; in the order of ``learner_ids``.
    """
    rng = np.random.default_rng(NAMES_SEED)
    count = len(learner_ids)
    first = rng.choice(FIRST_NAMES, size=count)
    last = rng.choice(LAST_NAMES, size=count)
    born = [
        date(1966, 1, 1) + timedelta(days=int(d))
        for d in rng.integers(0, 40 * 365, size=count)
    ]
    names = pl.DataFrame(
        {
            "learner_id": learner_ids,
            "first_name": first.tolist(),
            "last_name": last.tolist(),
            "date_of_birth": born,
        }
    )
    person = names.filter(pl.col("learner_id") == DUPLICATE[0]).drop("learner_id")
    return names.update(
        person.with_columns(learner_id=pl.lit(DUPLICATE[1])), on="learner_id"
    )


def vendor_report(
    sydney: Bill, utc: Bill, status: StatusLog, names: pl.DataFrame
) -> pl.DataFrame:
    """The vendor's status report: right, except for faults (a), (b) and (d).

    Parameters
    ----------
    sydney, utc : Bill
        The logs billed with months in Australia/Sydney and in UTC.
    status : StatusLog
        The status log billed (every learner record, with its creation).
    names : pl.DataFrame
        `learner_names`.

    Returns
    -------
    pl.DataFrame
        The report's columns (see the module docstring), as text; sorted by
        month and learner.
    """
    columns = [
        "billing_month",
        "learner_id",
        "is_active_at_month_end",
        "status_changes_in_month",
        "billable_in_month",
    ]
    counted_in_utc = pl.col("billing_month").is_in(UTC_MONTHS)
    report = pl.concat(
        [
            status_report(sydney, status).filter(~counted_in_utc).select(columns),
            status_report(utc, status).filter(counted_in_utc).select(columns),
        ]
    )
    planted = pl.DataFrame(
        [(*BILLED_NOT_ACTIVE, True), (*ACTIVE_NOT_BILLED, False)],
        schema={"billing_month": pl.Date, "learner_id": pl.String, "billable": bool},
        orient="row",
    )
    report = (
        report.join(planted, on=["billing_month", "learner_id"], how="left")
        .with_columns(pl.coalesce("billable", "billable_in_month").alias("billable"))
        .join(names, on="learner_id")
    )
    return report.sort("billing_month", "learner_id").select(
        pl.col("billing_month").dt.strftime("%Y-%m"),
        "learner_id",
        "first_name",
        "last_name",
        pl.col("date_of_birth").dt.strftime("%Y-%m-%d"),
        _yes_no("is_active_at_month_end").alias("is_active_at_month_end"),
        "status_changes_in_month",
        _yes_no("billable").alias("billable_in_month"),
    )


def vendor_invoice(report: pl.DataFrame, plan: Plan) -> pl.DataFrame:
    """The vendor's invoice from its report: right, except for fault (c).

    Parameters
    ----------
    report : pl.DataFrame
        `vendor_report`.
    plan : Plan
        The plan the invoice follows.

    Returns
    -------
    pl.DataFrame
        ``month`` (``YYYY-MM``), ``billable_learners``, ``amount`` (text with
        two decimals) [AUD, before tax].
    """
    counts = (
        report.group_by(pl.col("billing_month").alias("month"))
        .agg((pl.col("billable_in_month") == "Y").sum().alias("billable_learners"))
        .sort("month")
    )
    wrong = WRONG_RATE_MONTH.strftime("%Y-%m")
    amounts = [
        plan.base_fee + round_money(overage_learners(n, plan) * WRONG_RATE)
        if month == wrong
        else month_total(n, plan)
        for month, n in counts.iter_rows()
    ]
    return counts.with_columns(
        pl.Series("amount", [f"{a:.2f}" for a in amounts], dtype=pl.String)
    )


def _billed(result: Bill) -> set[tuple[date, str]]:
    """The (month, learner_id) pairs a bill charges for."""
    return set(result.learner_months.select("month", "learner_id").iter_rows())


def check(sydney: Bill, utc: Bill, names: pl.DataFrame) -> None:
    """Stop unless the draw has what the quirks and faults rely on.

    Parameters
    ----------
    sydney, utc : Bill
        The logs billed with months in Australia/Sydney and in UTC.
    names : pl.DataFrame
        `learner_names`.

    Raises
    ------
    SystemExit
        Naming every property that does not hold.
    """
    billed = _billed(sydney)
    edge = {(month, EDGE_LEARNER) for month in UTC_MONTHS}
    counts = dict(sydney.monthly.select("month", "billable_learners").iter_rows())
    utc_counts = dict(utc.monthly.select("month", "billable_learners").iter_rows())
    overage = {m for m, n in counts.items() if n > sydney.plan.included_learners}
    assert sydney.activity is not None
    rejected = sydney.activity.filter(pl.col("outcome") != "accepted")["learner_id"]
    together = [{m for m, who in billed if who == learner} for learner in DUPLICATE]
    people = names.group_by("first_name", "last_name", "date_of_birth").agg(
        pl.col("learner_id").sort()
    )
    shared = people.filter(pl.col("learner_id").list.len() > 1)["learner_id"]
    faulty = (BILLED_NOT_ACTIVE[0], ACTIVE_NOT_BILLED[0])
    facts = {
        "months in UTC move only the edge learner": billed ^ _billed(utc) == edge,
        "(a) is not Active in its month": BILLED_NOT_ACTIVE not in billed,
        "(b) is Active in its month": ACTIVE_NOT_BILLED in billed,
        "(a) and (b) months count the same in UTC": all(
            counts[m] == utc_counts[m] for m in faulty
        ),
        "(a) and (c) months have overage": {faulty[0], WRONG_RATE_MONTH} <= overage,
        "one activity while inactive": rejected.to_list() == [INACTIVE_ACTIVITY[0]],
        "the duplicates are billed together": bool(together[0] & together[1]),
        "only the duplicates share a person": shared.to_list() == [list(DUPLICATE)],
    }
    failed = [what for what, holds in facts.items() if not holds]
    if failed:
        raise SystemExit("generate.py: the draw changed: " + "; ".join(failed))


def generate(folder: Path) -> None:
    """Write the four files into ``folder`` (made if missing)."""
    folder.mkdir(parents=True, exist_ok=True)
    write_logs(*draw_year(), folder)
    status = read_status_log(folder / "status.csv")
    activity = read_activity_log(folder / "activity.csv")
    plan = load_plan(PLAN)
    sydney, utc = (
        bill(
            status,
            activity if zone == TIMEZONE else None,
            plan=plan,
            timezone=zone,
            first_month=FIRST_MONTH,
            last_month=LAST_MONTH,
        )
        for zone in (TIMEZONE, "UTC")
    )
    names = learner_names(sorted(set(status.events["learner_id"])))
    check(sydney, utc, names)
    report = vendor_report(sydney, utc, status, names)
    report.write_csv(folder / "vendor-report.csv")
    vendor_invoice(report, plan).write_csv(folder / "invoice.csv")


def main() -> None:
    """Command line: ``generate.py [OUT_FOLDER]``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "folder",
        nargs="?",
        type=Path,
        default=HERE,
        help="where to write the files (default: this script's folder)",
    )
    generate(parser.parse_args().folder)


if __name__ == "__main__":
    main()
