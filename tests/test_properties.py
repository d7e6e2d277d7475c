"""Property tests: the polars engine equals the event-by-event lifecycle replay.

Random status and activity logs, with times piled up around local month edges in
time zones with awkward DST (Lord Howe's half hour, Asuncion's at midnight), are
metered both ways; the learner-months, their reasons and every activity outcome
must agree (DESIGN.md section 2: two implementations of the rules, on purpose).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import polars as pl
from hypothesis import given
from hypothesis import strategies as st

from meter_sim.lifecycle import (
    ActivityEvent,
    ActivityKind,
    Channel,
    Policy,
    ReadKind,
    StatusEvent,
    month_start,
    replay,
)
from meter_sim.logs import parse_activity_log
from meter_sim.metering import (
    activity_outcomes,
    learner_months,
    period_of,
    status_intervals,
)
from tests.helpers import status_log

ZONES = ("Australia/Sydney", "Australia/Lord_Howe", "America/Asuncion", "UTC")
KINDS = [*ActivityKind, *ReadKind]


@st.composite
def instants(draw: st.DrawFn, zone: str) -> datetime:
    """An instant, often within a microsecond of a local month edge."""
    month = date(draw(st.integers(2016, 2018)), draw(st.integers(1, 12)), 1)
    edge = month_start(month, ZoneInfo(zone))
    offset = draw(
        st.one_of(
            st.sampled_from([-1, 0, 1]),
            st.integers(-40 * 86_400_000_000, 40 * 86_400_000_000),
        )
    )
    return edge + timedelta(microseconds=offset)


@st.composite
def logs(
    draw: st.DrawFn,
) -> tuple[str, list[StatusEvent], list[ActivityEvent]]:
    zone = draw(st.sampled_from(ZONES))
    status: list[StatusEvent] = []
    activity: list[ActivityEvent] = []
    for index in range(draw(st.integers(1, 4))):
        learner = f"L{index}"
        times = draw(st.lists(instants(zone), min_size=1, max_size=8, unique=True))
        status += [StatusEvent(learner, t, draw(st.booleans())) for t in times]
        for t in draw(st.lists(instants(zone), max_size=4)):
            kind = draw(st.sampled_from(KINDS))
            channel = draw(st.sampled_from(list(Channel)))
            activity.append(
                ActivityEvent(learner, t, kind, channel, draw(st.booleans()))
            )
    draw(st.randoms()).shuffle(status)
    return zone, status, activity


def _frame_status(events: list[StatusEvent]) -> pl.DataFrame:
    return status_log(
        *[(e.learner_id, e.changed_at, e.is_active) for e in events]
    ).events


@given(logs())
def test_polars_engine_equals_lifecycle_replay(
    case: tuple[str, list[StatusEvent], list[ActivityEvent]],
) -> None:
    zone, status, activity = case
    events = _frame_status(status)
    first, last = period_of(events, zone)
    got = learner_months(status_intervals(events.lazy()), zone, first, last).collect()
    reference = replay(status, activity)
    expected = sorted(
        (month, learner_id, reason)
        for learner_id, learner in reference.learners.items()
        for month, reason in learner.billable_months(zone, first, last)
    )
    assert (
        sorted(
            (m, lid, str(r))
            for lid, m, r in got.select("learner_id", "month", "reason").rows()
        )
        == expected
    )
    # Invariants: at most once a month per learner; never more than known learners.
    assert got.select("learner_id", "month").is_unique().all()
    per_month = got.group_by("month").len()["len"]
    assert per_month.is_empty() or per_month.max() <= len(reference.learners)  # type: ignore[operator]

    frame = pl.DataFrame(
        {
            "line": list(range(2, len(activity) + 2)),
            "learner_id": [a.learner_id for a in activity],
            "occurred_at": [a.occurred_at for a in activity],
            "activity": [str(a.kind) for a in activity],
            "channel": [str(a.channel) for a in activity],
            "scheduled": [a.scheduled for a in activity],
        },
        schema_overrides={"occurred_at": pl.Datetime("us", "UTC"), "line": pl.Int64},
    )
    parsed = parse_activity_log(frame, "activity")
    outcomes = activity_outcomes(parsed.events, events, Policy())
    by_line = dict(outcomes.select("line", pl.col("outcome").cast(pl.String)).rows())
    duplicates = set(parsed.rejected["line"].to_list())
    for line, (_, outcome) in enumerate(reference.outcomes, start=2):
        if line not in duplicates:
            assert by_line[line] == str(outcome)


def test_sub_second_toggle_still_meters_its_month() -> None:
    t = datetime(2018, 5, 15, tzinfo=UTC)
    status = [
        StatusEvent("A", datetime(2018, 4, 1, tzinfo=UTC), is_active=False),
        StatusEvent("A", t, is_active=True),
        StatusEvent("A", t + timedelta(microseconds=1), is_active=False),
    ]
    events = _frame_status(status)
    got = learner_months(
        status_intervals(events.lazy()), "UTC", date(2018, 4, 1), date(2018, 6, 1)
    ).collect()
    assert got.select(
        "learner_id", "month", pl.col("reason").cast(pl.String)
    ).rows() == [("A", date(2018, 5, 1), "reactivated")]
