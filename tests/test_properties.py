"""Property tests: the polars engine equals the event-by-event lifecycle replay.

Random status and activity logs are metered both ways (DESIGN.md section 2: two
implementations of the rules, on purpose) and must agree on every learner-month,
its reason, every month's count and charge, and every activity's outcome. The logs
carry the awkward parts of real exports:

- billing time zones with awkward clocks: Australia/Sydney, Australia/Lord_Howe
  (a half-hour DST), America/Asuncion (DST at midnight, so a month may start at
  01:00), Pacific/Chatham (+12:45), America/St_Johns (-03:30), Europe/London, UTC;
- times piled up at and around local midnight on the 1st and the zone's DST
  transitions (to the microsecond), sub-second times, years from 1901 to 2198,
  learners active across years;
- out-of-order rows, duplicates (the same row, or the same instant written with
  another offset), Yes and No for one learner at one instant (an error naming both
  lines), activities before creation and on unknown learners;
- learner ids with commas, quotes, line breaks, spaces around them (kept), leading zeros,
  non-ASCII letters and formula characters.

The file tests write each log as CSV (and as Parquet, the reader's fast path) and
bill it through the public readers; the invariant tests work on frames. Example
counts come from the hypothesis profile (tests/conftest.py; README, Testing).
"""

from __future__ import annotations

import csv
import functools
import io
import json
import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import polars as pl
import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from meter_sim.billing import bill, bill_streaming, run_scenario
from meter_sim.exceptions import LogFormatError, MeterSimError
from meter_sim.lifecycle import (
    DEFINITIONS,
    REJECTED_OUTCOMES,
    ActivityEvent,
    ActivityKind,
    Channel,
    Outcome,
    Policy,
    ReadKind,
    Status,
    StatusEvent,
    month_start,
    replay,
)
from meter_sim.logs import (
    FALSE_WORDS,
    SUB_MICROSECOND,
    TRUE_WORDS,
    YEARS,
    read_activity_log,
    read_status_log,
)
from meter_sim.metering import (
    learner_months,
    status_intervals,
)
from meter_sim.pricing import Plan
from meter_sim.scenario import load_scenario
from tests.helpers import status_log

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable
    from pathlib import Path

    from meter_sim._typing import Definition
    from meter_sim.billing import Bill

ZONES = (
    "Australia/Sydney",
    "Australia/Lord_Howe",
    "America/Asuncion",
    "Pacific/Chatham",
    "America/St_Johns",
    "Europe/London",
    "UTC",
)
"""Billing time zones (at most 8: the engine caches the tables of 8 zones)."""

COMMON_YEARS = tuple(range(2015, 2021))
RARE_YEARS = (1901, 1969, 2037, 2099, 2195)
"""First years of a log; a log spans up to four years from its first."""

LEARNER_IDS = (
    "L1",
    "L2",
    "007",
    "7",
    "Émilie",
    "学生",
    "a,b",
    'say "hi"',
    "two\nlines",
    " pad ",
    "pad",
    "\u00a0pad",
    "=1+1",
    "-5",
    "@x",
)
"""Learner ids as written; the readers keep them so (``" pad "``, ``"pad"`` and
``"\u00a0pad"`` are three learners: DESIGN.md section 4)."""

KINDS = [*ActivityKind, *ReadKind]
DAY = timedelta(days=1)
US = timedelta(microseconds=1)
NEAR = (0, 1, -1, 1_000, -1_000, 1_000_000, -1_000_000, 3_600_000_000)
"""Offsets from an edge: the edge, a microsecond, a millisecond, a second, an
hour. [us]"""
OTHER_OFFSETS = ("+00:00", "-03:30", "+05:45", "+14:00", "-12:00", "+10:00")


# --- reference helpers ------------------------------------------------------------


@functools.cache
def transitions(zone: str, year: int) -> tuple[datetime, ...]:
    """Every change of ``zone``'s UTC offset in ``year``, to the microsecond. [UTC]"""
    tz = ZoneInfo(zone)
    found = []
    day = datetime(year, 1, 1, tzinfo=UTC)
    while day.year == year:
        following = day + DAY
        if day.astimezone(tz).utcoffset() != following.astimezone(tz).utcoffset():
            low, high = day, following
            while high - low > US:
                middle = low + (high - low) // 2
                if middle.astimezone(tz).utcoffset() == low.astimezone(tz).utcoffset():
                    low = middle
                else:
                    high = middle
            found.append(high)
        day = following
    return tuple(found)


def local_month(instant: datetime, zone: str) -> date:
    """The first day of the local calendar month of ``instant`` in ``zone``."""
    local = instant.astimezone(ZoneInfo(zone))
    return date(local.year, local.month, 1)


def add_months(month: date, count: int) -> date:
    index = month.year * 12 + month.month - 1 + count
    return date(index // 12, index % 12 + 1, 1)


def months_between(first: date, last: date) -> list[date]:
    count = (last.year - first.year) * 12 + last.month - first.month
    return [add_months(first, k) for k in range(count + 1)]


def cents(amount: Decimal) -> Decimal:
    return amount.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def record_lines(records: Iterable[tuple[str, ...]]) -> list[int]:
    """The line of each CSV record after the header; line breaks in fields count."""
    lines, line = [], 2
    for record in records:
        lines.append(line)
        line += sum(part.count("\n") for part in record) + 1
    return lines


# --- generated logs ---------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    """One status row as the file holds it."""

    learner: str
    at: datetime
    active: bool
    text: tuple[str, str, str]
    """``learner_id``, ``changed_at`` and ``is_active`` as written."""


@dataclass(frozen=True)
class ActivityRow:
    """One activity row as the file holds it."""

    learner: str
    at: datetime
    kind: ActivityKind | ReadKind
    channel: Channel
    scheduled: bool
    text: tuple[str, str, str, str, str]
    """``learner_id``, ``occurred_at``, ``activity``, ``channel``, ``scheduled``."""


@dataclass
class Case:
    """A generated status log and activity log, a zone, a period and a plan."""

    zone: str
    status: list[Row]
    activity: list[ActivityRow]
    period: tuple[date, date] | None
    plan: Plan
    lines: list[int] = field(default_factory=list)
    """The line of each status row in the CSV file (line breaks in ids count)."""

    @property
    def learner_count(self) -> int:
        return len({row.learner for row in self.status})

    def conflicts(self) -> dict[tuple[str, datetime], tuple[int, int]]:
        """(learner, instant) with both Yes and No: the first line of each."""
        first: dict[tuple[str, datetime, bool], int] = {}
        for row, line in zip(self.status, self.csv_lines(), strict=True):
            first.setdefault((row.learner, row.at, row.active), line)
        return {
            (learner, at): (line, first[learner, at, False])
            for (learner, at, active), line in first.items()
            if active and (learner, at, False) in first
        }

    def csv_lines(self) -> list[int]:
        return record_lines(row.text for row in self.status)

    def unique_status(self) -> list[Row]:
        """The rows the reader keeps: the first of each identical content."""
        seen: set[tuple[str, datetime, bool]] = set()
        kept = []
        for row in self.status:
            key = (row.learner, row.at, row.active)
            if key not in seen:
                seen.add(key)
                kept.append(row)
        return kept


def written_instant(draw: st.DrawFn, at: datetime, zone: str) -> str:
    """``at`` written as an export might: any offset, separator and precision."""
    style = draw(st.sampled_from(["Z", "local", "compact", "other"]))
    if style == "Z":
        shown = at.astimezone(UTC)
    elif style == "other":
        text = draw(st.sampled_from(OTHER_OFFSETS))
        hours, minutes = int(text[1:3]), int(text[4:6])
        sign = -1 if text[0] == "-" else 1
        offset = timedelta(hours=hours, minutes=minutes) * sign
        shown = at.astimezone(datetime.strptime(text.replace(":", ""), "%z").tzinfo)
        assert shown.utcoffset() == offset
    else:
        shown = at.astimezone(ZoneInfo(zone))
        if (shown.utcoffset() or timedelta()) % timedelta(minutes=1):
            shown = at.astimezone(UTC)  # local mean time: ISO offsets have no seconds
    clock = f"{shown:%H:%M}"
    if shown.second or shown.microsecond or draw(st.booleans()):
        clock += f":{shown:%S}"
    if shown.microsecond:
        digits = f"{shown.microsecond:06d}"
        clock += "." + (digits[:3] if digits.endswith("000") else digits)
    sep = draw(st.sampled_from(["T", " "]))
    offset_text = f"{shown:%z}"
    if style == "Z":
        offset_text = draw(st.sampled_from(["Z", "z", "+00:00"]))
    elif style != "compact":
        offset_text = offset_text[:3] + ":" + offset_text[3:]
    return f"{shown:%Y-%m-%d}{sep}{clock}{offset_text}"


def word(draw: st.DrawFn, *, value: bool) -> str:
    text = draw(st.sampled_from(TRUE_WORDS if value else FALSE_WORDS))
    return draw(st.sampled_from([text, text.upper(), text.capitalize()]))


@st.composite
def instants(draw: st.DrawFn, zone: str, first_year: int) -> datetime:
    """An instant, often within a microsecond of a local month start or a DST change."""
    year = first_year + draw(st.integers(0, 3))
    anchor_kind = draw(st.sampled_from(["month", "dst", "any"]))
    if anchor_kind == "dst" and transitions(zone, year):
        anchor = draw(st.sampled_from(transitions(zone, year)))
    elif anchor_kind == "any":
        anchor = datetime(year, 1, 1, tzinfo=UTC) + timedelta(
            microseconds=draw(st.integers(0, 365 * 86_400_000_000))
        )
    else:
        anchor = month_start(date(year, draw(st.integers(1, 12)), 1), ZoneInfo(zone))
    offset = draw(
        st.one_of(
            st.sampled_from(NEAR),
            st.integers(-40 * 86_400_000_000, 40 * 86_400_000_000),
        )
    )
    return anchor + timedelta(microseconds=offset)


@st.composite
def cases(draw: st.DrawFn, *, conflicts: bool = True) -> Case:
    """A status log (and activity log) with the awkward parts of real exports."""
    zone = draw(st.sampled_from(ZONES))
    first_year = draw(
        st.one_of(st.sampled_from(COMMON_YEARS), st.sampled_from(RARE_YEARS))
    )
    ids = draw(
        st.lists(st.sampled_from(LEARNER_IDS), min_size=1, max_size=5, unique=True)
    )
    status: list[Row] = []
    for written in ids:
        learner = written
        times = draw(
            st.lists(instants(zone, first_year), min_size=1, max_size=8, unique=True)
        )
        for at in times:
            active = draw(st.booleans())
            text = (written, written_instant(draw, at, zone), word(draw, value=active))
            status.append(Row(learner, at, active, text))
    # Duplicates: the same row again, or the same instant written another way.
    for _ in range(draw(st.integers(0, 3))):
        row = draw(st.sampled_from(status))
        text = row.text
        if draw(st.booleans()):
            text = (text[0], written_instant(draw, row.at, zone), text[2])
        status.append(Row(row.learner, row.at, row.active, text))
    if conflicts and draw(st.integers(0, 9)) == 0:
        row = draw(st.sampled_from(status))
        text = (row.text[0], row.text[1], word(draw, value=not row.active))
        status.append(Row(row.learner, row.at, not row.active, text))
    status = draw(st.permutations(status))
    if not conflicts:  # ids like " pad " and "pad" are one learner: keep one value
        value: dict[tuple[str, datetime], bool] = {}
        status = [
            row
            for row in status
            if value.setdefault((row.learner, row.at), row.active) == row.active
        ]
    activity = draw(activities(zone, first_year, status))
    period = None
    if draw(st.booleans()):
        start = local_month(min(row.at for row in status), zone)
        # Periods stay in the supported years (others are refused: test_bad_input).
        end = date(YEARS[1], 12, 1)
        first = min(add_months(start, draw(st.integers(-2, 12))), end)
        period = (first, min(add_months(first, draw(st.integers(0, 30))), end))
    plan = Plan(
        name="property",
        currency="AUD",
        base_fee=draw(st.sampled_from([Decimal(0), Decimal("100.005")])),
        included_learners=draw(st.integers(0, 3)),
        overage_price=draw(
            st.sampled_from([Decimal(0), Decimal("7.50"), Decimal("0.0049")])
        ),
    )
    return Case(zone, list(status), activity, period, plan)


@st.composite
def activities(
    draw: st.DrawFn, zone: str, first_year: int, status: list[Row]
) -> list[ActivityRow]:
    """Activities and reads near the learners' status changes, and on a stranger."""
    rows: list[ActivityRow] = []
    written_ids = [*sorted({row.text[0] for row in status}), "ghost"]
    for _ in range(draw(st.integers(0, 8))):
        written = draw(st.sampled_from(written_ids))
        mine = [row.at for row in status if row.text[0] == written]
        near = draw(st.booleans())
        if mine and near:
            at = draw(st.sampled_from(mine)) + timedelta(
                microseconds=draw(st.sampled_from(NEAR))
            )
        else:
            at = draw(instants(zone, first_year))
        kind = draw(st.sampled_from(KINDS))
        channel = draw(st.sampled_from(list(Channel)))
        scheduled = draw(st.booleans())
        channel_text = str(channel).upper() if draw(st.booleans()) else str(channel)
        if channel is Channel.UI and draw(st.booleans()):
            channel_text = ""  # blank means ui
        text = (
            written,
            written_instant(draw, at, zone),
            str(kind).capitalize() if draw(st.booleans()) else str(kind),
            channel_text,
            word(draw, value=scheduled) if scheduled or draw(st.booleans()) else "",
        )
        rows.append(ActivityRow(written, at, kind, channel, scheduled, text))
    repeat = draw(st.booleans())
    if rows and repeat:
        rows.append(draw(st.sampled_from(rows)))  # a duplicate
    return rows


# --- writing the files ------------------------------------------------------------


def write_csv(path: Path, header: list[str], records: list[tuple[str, ...]]) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(records)
    path.write_text(buffer.getvalue(), encoding="utf-8")


def write_status_csv(case: Case, path: Path) -> None:
    write_csv(
        path, ["learner_id", "changed_at", "is_active"], [r.text for r in case.status]
    )


def write_status_parquet(case: Case, path: Path, *, typed_zone: str) -> None:
    """The status rows as a typed Parquet file (the reader's fast path)."""
    pl.DataFrame(
        {
            "learner_id": [r.text[0] for r in case.status],
            "changed_at": [r.at for r in case.status],
            "is_active": [r.active for r in case.status],
        },
        schema={
            "learner_id": pl.String,
            "changed_at": pl.Datetime("us", "UTC"),
            "is_active": pl.Boolean,
        },
    ).with_columns(pl.col("changed_at").dt.convert_time_zone(typed_zone)).write_parquet(
        path
    )


def write_activity_csv(case: Case, path: Path) -> None:
    header = ["learner_id", "occurred_at", "activity", "channel", "scheduled"]
    write_csv(path, header, [r.text for r in case.activity])


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder for the files of every example (overwritten each time)."""
    return tmp_path_factory.mktemp("properties")


# --- the reference ----------------------------------------------------------------


@dataclass(frozen=True)
class Expected:
    """What the lifecycle replay says a case bills."""

    first: date
    last: date
    learner_months: list[tuple[str, date, str]]
    counts: dict[date, int]
    outcomes: dict[int, str]
    """Outcome of each activity row the reader keeps, by its line."""
    still_active: int


def expected_bill(case: Case, policy: Policy | None = None) -> Expected:
    kept = case.unique_status()
    events = [StatusEvent(r.learner, r.at, r.active) for r in kept]
    acts = [
        ActivityEvent(a.learner, a.at, a.kind, a.channel, a.scheduled)
        for a in case.activity
    ]
    reference = replay(events, acts, policy=policy)
    if case.period is None:
        first = local_month(min(r.at for r in kept), case.zone)
        last = local_month(max(r.at for r in kept), case.zone)
    else:
        first, last = case.period
    rows = sorted(
        (learner_id, month, str(reason))
        for learner_id, months in reference.billable_months(
            case.zone, first, last
        ).items()
        for month, reason in months
    )
    counts = dict.fromkeys(months_between(first, last), 0)
    for _, month, _ in rows:
        counts[month] += 1
    outcomes: dict[int, str] = {}
    seen: set[tuple[object, ...]] = set()
    lines = record_lines(a.text for a in case.activity)
    for line, act, (_, outcome) in zip(
        lines, case.activity, reference.outcomes, strict=True
    ):
        key = (act.learner, act.at, act.kind, act.channel, act.scheduled)
        if key not in seen:
            seen.add(key)
            outcomes[line] = str(outcome)
    still = sum(
        learner.status is Status.ACTIVE for learner in reference.learners.values()
    )
    return Expected(first, last, rows, counts, outcomes, still)


def check_bill(result: Bill, case: Case, expected: Expected) -> None:
    """The engine's bill equals the replay's, month by month and learner by learner."""
    assert (result.first_month, result.last_month) == (expected.first, expected.last)
    got = sorted(
        (learner_id, month, str(reason))
        for learner_id, month, reason in result.learner_months.select(
            "learner_id", "month", "reason"
        ).iter_rows()
    )
    assert got == expected.learner_months
    monthly = result.monthly
    assert dict(monthly.select("month", "billable_learners").iter_rows()) == (
        expected.counts
    )
    plan = case.plan
    for month, count in expected.counts.items():
        over = max(0, count - plan.included_learners)
        assert plan.overage_price is not None
        total = cents(plan.base_fee) + cents(over * plan.overage_price)
        row = monthly.filter(pl.col("month") == month).row(0, named=True)
        assert row["overage_learners"] == over
        assert row["total"] == total
    assert result.invoice.total_ex_tax == sum(
        monthly["total"].to_list(), start=Decimal(0)
    )
    assert result.still_active == expected.still_active
    # Invariants: at most once a month per learner; never more than known.
    assert result.learner_months.select("learner_id", "month").is_unique().all()
    assert max(expected.counts.values()) <= case.learner_count


def check_activity(result: Bill, case: Case, expected: Expected) -> None:
    assert result.activity is not None
    got = dict(
        result.activity.select("line", pl.col("outcome").cast(pl.String)).iter_rows()
    )
    assert got == expected.outcomes
    refused = {
        line for line, outcome in expected.outcomes.items()
        if Outcome(outcome) in REJECTED_OUTCOMES
    }  # fmt: skip
    row = result.inputs.filter(pl.col("input").str.ends_with("(activity log)")).row(0)
    _, read, used, gone = row
    duplicates = len(case.activity) - len(expected.outcomes)
    assert (read, used, gone) == (
        len(case.activity),
        len(expected.outcomes) - len(refused),
        duplicates + len(refused),
    )


def check_conflict(error: LogFormatError, case: Case, path: Path) -> None:
    """The error names the first conflict's line (or row) and both lines of it."""
    conflicts = case.conflicts()
    assert conflicts
    word = "row" if path.suffix == ".parquet" else "line"
    lines = case.csv_lines()
    # Lines in the file's own numbering: rows from 1 for Parquet.
    rows = range(1, len(lines) + 1)
    renumber = dict(zip(lines, lines if word == "line" else rows, strict=True))
    (learner, _), (yes, no) = min(conflicts.items(), key=lambda item: max(item[1]))
    yes, no = renumber[yes], renumber[no]
    where = f"{path}:{'row ' if word == 'row' else ''}{max(yes, no)}"
    assert str(error).startswith(
        f"{where}: `is_active`: learner '{learner}' is set to Yes ({word} {yes}) and "
        f"No ({word} {no}) at the same instant"
    )
    assert error.line == max(yes, no)


# --- the differential tests -------------------------------------------------------


@given(case=cases(), definition=st.sampled_from(DEFINITIONS))
def test_csv_logs_bill_as_the_lifecycle_replay(
    case: Case, definition: Definition, workdir: Path
) -> None:
    status_path, activity_path = workdir / "status.csv", workdir / "activity.csv"
    write_status_csv(case, status_path)
    write_activity_csv(case, activity_path)
    if case.conflicts():
        with pytest.raises(LogFormatError) as info:
            read_status_log(status_path)
        check_conflict(info.value, case, status_path)
        event("Yes and No at one instant: refused")
        return
    status = read_status_log(status_path)
    assert status.rows_read == len(case.status)
    assert status.rejected.height == len(case.status) - len(case.unique_status())
    activity = read_activity_log(activity_path)
    policy = Policy(definition=definition)
    expected = expected_bill(case, policy)
    first, last = case.period or (None, None)
    result = bill(
        status, activity, plan=case.plan, timezone=case.zone,
        first_month=first, last_month=last, policy=policy,
    )  # fmt: skip
    check_bill(result, case, expected)
    check_activity(result, case, expected)
    event(f"billed: {len(expected.learner_months) > 0}, zone {case.zone}")
    terms = any(r == "activity_while_inactive" for *_, r in expected.learner_months)
    event(f"{definition}; a month billed for activity while inactive: {terms}")


@settings(max_examples=max(10, settings().max_examples // 4))
@given(
    case=cases(),
    typed_zone=st.sampled_from(["UTC", *ZONES[:3]]),
    definition=st.sampled_from(DEFINITIONS),
)
def test_parquet_logs_bill_as_the_lifecycle_replay(
    case: Case, typed_zone: str, definition: Definition, workdir: Path
) -> None:
    path, activity_path = workdir / "status.parquet", workdir / "activity.csv"
    write_status_parquet(case, path, typed_zone=typed_zone)
    write_activity_csv(case, activity_path)
    if case.conflicts():
        with pytest.raises(LogFormatError) as info:
            read_status_log(path)
        check_conflict(info.value, case, path)
        event("Yes and No at one instant: refused")
        return
    status = read_status_log(path)
    assert status.rows_read == len(case.status)
    assert status.rejected.height == len(case.status) - len(case.unique_status())
    first, last = case.period or (None, None)
    policy = Policy(definition=definition)
    result = bill(
        status, read_activity_log(activity_path), plan=case.plan,
        timezone=case.zone, first_month=first, last_month=last, policy=policy,
    )  # fmt: skip
    assert status.packed is not None  # the fast path's codes, activity months encoded
    check_bill(result, case, expected_bill(case, policy))


def scenario_text(case: Case, first: date, last: date) -> str:
    """The case's status rows as a scenario: ids as written, times in UTC."""
    plan = case.plan
    lines = [
        "name: property",
        f"timezone: {case.zone}",
        f"period: {{from: {first:%Y-%m}, through: {last:%Y-%m}}}",
        "plan:",
        "  name: property",
        "  currency: AUD",
        f"  base_fee: '{plan.base_fee}'",
        f"  included_learners: {plan.included_learners}",
        f"  overage_price: '{plan.overage_price}'",
        "learners:",
    ]
    rows: dict[str, list[Row]] = {}
    for row in case.status:
        rows.setdefault(row.learner, []).append(row)
    for learner, status in rows.items():
        lines += [f"  - id: {json.dumps(learner)}", "    status:"]
        lines += [
            f"      - {{at: '{r.at.isoformat()}', active: {'yes' if r.active else 'no'}}}"
            for r in sorted(status, key=lambda r: r.at)
        ]
    return "\n".join(lines) + "\n"


def outcome(result: Bill, months: pl.DataFrame) -> tuple[object, ...]:
    """What a bill says: its learner-months (as a set) and its months' counts."""
    billed = {
        (learner_id, month, str(reason))
        for learner_id, month, reason in months.select(
            "learner_id", "month", "reason"
        ).iter_rows()
    }
    monthly = result.monthly.select("month", "billable_learners", "total").rows()
    return billed, monthly


@settings(max_examples=max(10, settings().max_examples // 4))
@given(case=cases(conflicts=False))
def test_every_path_bills_a_log_alike(case: Case, workdir: Path) -> None:
    # Issue #18: a log written as CSV and as typed Parquet, billed by `bill`,
    # `bill --streaming` and `run` of the same rows as a scenario, gives one bill
    # (ids with spaces kept as written on every path).
    csv_log, parquet_log = workdir / "same.csv", workdir / "same.parquet"
    scenario, streamed = workdir / "same.yaml", workdir / "streamed.parquet"
    write_status_csv(case, csv_log)
    write_status_parquet(case, parquet_log, typed_zone="UTC")
    expected = expected_bill(case)
    first, last = expected.first, expected.last
    scenario.write_text(scenario_text(case, first, last), encoding="utf-8")
    bills = [
        bill(
            read_status_log(path), plan=case.plan, timezone=case.zone,
            first_month=first, last_month=last,
        )
        for path in (csv_log, parquet_log)
    ]  # fmt: skip
    results = [outcome(b, b.learner_months) for b in bills]
    streaming = bill_streaming(
        parquet_log, streamed, plan=case.plan, timezone=case.zone,
        first_month=first, last_month=last,
    )  # fmt: skip
    results.append(outcome(streaming, pl.read_parquet(streamed)))
    ran = run_scenario(load_scenario(scenario))
    results.append(outcome(ran, ran.learner_months))
    assert results[0][0] == set(expected.learner_months)
    assert all(r == results[0] for r in results), "paths disagree"


def test_a_time_finer_than_a_microsecond_is_refused_alike_on_every_path(
    tmp_path: Path,
) -> None:
    at = "2018-07-01T00:00:00.0000001+10:00"
    csv_log = tmp_path / "fine.csv"
    csv_log.write_text(f"learner_id,changed_at,is_active\nL1,{at},yes\n")
    parquet_log = tmp_path / "fine.parquet"
    midnight = datetime(2018, 6, 30, 14, tzinfo=UTC)  # 00:00 on 1 July at +10:00
    pl.DataFrame(
        {"learner_id": ["L1"], "changed_at": [midnight], "is_active": [True]}
    ).select(
        "learner_id",
        pl.col("changed_at").cast(pl.Datetime("ns", "UTC"))
        + pl.duration(nanoseconds=100),
        "is_active",
    ).write_parquet(parquet_log)
    scenario = tmp_path / "fine.yaml"
    scenario.write_text(
        "name: Fine\ntimezone: UTC\nplan: {name: P, currency: AUD, base_fee: 0, "
        "included_learners: 0, overage_price: 1}\nlearners:\n"
        f"  - id: L1\n    status: [{{at: '{at}', active: yes}}]\n",
        encoding="utf-8",
    )
    plan = Plan(
        name="P", currency="AUD", base_fee=0, included_learners=0, overage_price=1
    )
    attempts: list[Callable[[], object]] = [
        lambda: read_status_log(csv_log),
        lambda: read_status_log(parquet_log),
        lambda: bill_streaming(parquet_log, tmp_path / "out.parquet", plan=plan),
        lambda: load_scenario(scenario),
    ]
    for attempt in attempts:
        with pytest.raises(MeterSimError, match=re.escape(SUB_MICROSECOND)):
            attempt()


# --- invariants on frames ---------------------------------------------------------


def frame_log(rows: list[Row]) -> pl.DataFrame:
    return status_log(*[(r.learner, r.at, r.active) for r in rows]).events


def counts_of(result: Bill) -> dict[date, int]:
    return dict(result.monthly.select("month", "billable_learners").iter_rows())


def billed(result: Bill) -> set[tuple[str, date]]:
    return set(result.learner_months.select("learner_id", "month").iter_rows())


def bill_rows(rows: list[Row], case: Case, period: tuple[date, date]) -> Bill:
    return bill(
        status_log(*[(r.learner, r.at, r.active) for r in rows]),
        plan=case.plan,
        timezone=case.zone,
        first_month=period[0],
        last_month=period[1],
    )


def full_period(case: Case) -> tuple[date, date]:
    start = local_month(min(r.at for r in case.status), case.zone)
    end = local_month(max(r.at for r in case.status), case.zone)
    return add_months(start, -1), add_months(end, 2)


HALF = settings(max_examples=max(10, settings().max_examples // 2))
"""The invariant tests take half the profile's examples."""


@HALF
@given(case=cases(conflicts=False), data=st.data())
def test_toggles_inside_a_month_never_change_its_count(
    case: Case, data: st.DataObject
) -> None:
    """Switching a billable learner off and on (or on and off) inside a month."""
    rows = case.unique_status()
    period = full_period(case)
    before = bill_rows(rows, case, period)
    candidates = sorted(billed(before))
    if not candidates:
        return
    learner, month = data.draw(st.sampled_from(candidates))
    zone = ZoneInfo(case.zone)
    start, end = month_start(month, zone), month_start(add_months(month, 1), zone)
    mine = sorted({r.at for r in rows if r.learner == learner})
    # A gap between the learner's changes, inside the month and after creation.
    gaps = [
        (max(a, start), min(b, end))
        for a, b in zip(mine, [*mine[1:], end], strict=True)
        if min(b, end) - max(a, start) > 2 * US
    ]
    if not gaps:
        event("no room for a toggle")
        return
    low, high = data.draw(st.sampled_from(gaps))
    span = (high - low) // US
    t1 = low + US * data.draw(st.integers(1, span - 2))
    t2 = t1 + US * data.draw(st.integers(1, (high - t1) // US - 1))
    # The status in force at t1: the value of the learner's last row before it.
    now = max(
        (r for r in rows if r.learner == learner and r.at < t1), key=lambda r: r.at
    )
    text = ("", "", "")
    toggled = [
        *rows,
        Row(learner, t1, not now.active, text),
        Row(learner, t2, now.active, text),
    ]
    after = bill_rows(toggled, case, period)
    assert counts_of(after) == counts_of(before)
    assert billed(after) == billed(before)
    assert after.invoice.total_ex_tax == before.invoice.total_ex_tax
    event("toggled inside a billed month")


@HALF
@given(case=cases(conflicts=False), data=st.data())
def test_removing_a_learner_never_raises_anothers_bill(
    case: Case, data: st.DataObject
) -> None:
    """Without one learner's rows, the others bill the same months, for the same
    reasons, and no month costs more (flat overage price)."""
    rows = case.unique_status()
    learners = sorted({r.learner for r in rows})
    if len(learners) < 2:
        event("one learner: nothing to remove")
        return
    gone = data.draw(st.sampled_from(learners))
    period = full_period(case)
    before = bill_rows(rows, case, period)
    after = bill_rows([r for r in rows if r.learner != gone], case, period)
    others = pl.col("learner_id") != gone
    keep = ["learner_id", "month", "reason"]
    assert after.learner_months.select(keep).rows() == (
        before.learner_months.filter(others).select(keep).rows()
    )
    for (month, was), (_, now) in zip(
        counts_of(before).items(), counts_of(after).items(), strict=True
    ):
        assert was - 1 <= now <= was, month
    totals = zip(before.monthly["total"], after.monthly["total"], strict=True)
    assert all(now <= was for was, now in totals)


def test_sub_second_toggle_still_meters_its_month() -> None:
    t = datetime(2018, 5, 15, tzinfo=UTC)
    status = [
        StatusEvent("A", datetime(2018, 4, 1, tzinfo=UTC), is_active=False),
        StatusEvent("A", t, is_active=True),
        StatusEvent("A", t + timedelta(microseconds=1), is_active=False),
    ]
    events = status_log(
        *[(e.learner_id, e.changed_at, e.is_active) for e in status]
    ).events
    got = learner_months(
        status_intervals(events.lazy()), "UTC", date(2018, 4, 1), date(2018, 6, 1)
    ).collect()
    assert got.select(
        "learner_id", "month", pl.col("reason").cast(pl.String)
    ).rows() == [("A", date(2018, 5, 1), "reactivated")]


def test_dst_transitions_are_found_to_the_microsecond() -> None:
    # Lord Howe moves its clocks by half an hour at 02:00 local standard time.
    (back, forward) = transitions("Australia/Lord_Howe", 2018)
    lord_howe = ZoneInfo("Australia/Lord_Howe")
    assert (back - US).astimezone(lord_howe).utcoffset() == timedelta(hours=11)
    assert back.astimezone(lord_howe).utcoffset() == timedelta(hours=10, minutes=30)
    assert forward.astimezone(lord_howe).utcoffset() == timedelta(hours=11)
    # Asuncion's clocks went forward at midnight on Sunday 1 October 2017: October
    # starts at 01:00 local, the first instant of the 1st.
    asuncion = ZoneInfo("America/Asuncion")
    assert month_start(date(2017, 10, 1), asuncion) in transitions(
        "America/Asuncion", 2017
    )
