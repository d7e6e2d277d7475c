"""The learner state machine (meter_sim.lifecycle), with values worked by hand."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from meter_sim.exceptions import InactiveLearnerError, InvalidTransitionError
from meter_sim.lifecycle import (
    TRANSITIONS,
    ActivityEvent,
    ActivityKind,
    Channel,
    Learner,
    Outcome,
    Policy,
    ReadKind,
    Status,
    StatusEvent,
    month_start,
    replay,
)

SYD = ZoneInfo("Australia/Sydney")


def syd(*args: int) -> datetime:
    return datetime(*args, tzinfo=SYD)  # type: ignore[misc, arg-type]


def test_transition_table_is_complete_and_idempotent() -> None:
    assert len(TRANSITIONS) == 4
    assert TRANSITIONS[(Status.ACTIVE, True)] is Status.ACTIVE
    assert TRANSITIONS[(Status.INACTIVE, False)] is Status.INACTIVE
    assert TRANSITIONS[(Status.ACTIVE, False)] is Status.INACTIVE
    assert TRANSITIONS[(Status.INACTIVE, True)] is Status.ACTIVE


def test_new_learner_is_active_and_activity_is_accepted() -> None:
    learner = Learner("L1", syd(2018, 4, 11, 10))
    assert learner.status is Status.ACTIVE
    assert learner.perform(ActivityKind.ENROLMENT, syd(2018, 4, 11, 10, 5)) is (
        Outcome.ACCEPTED
    )
    assert learner.can_use_portal(syd(2018, 4, 11, 12))


def test_activity_on_inactive_learner_raises_on_every_channel() -> None:
    learner = Learner("L1", syd(2018, 4, 11, 10))
    assert learner.set_status(syd(2018, 4, 11, 16), active=False)
    for channel in Channel:
        with pytest.raises(InactiveLearnerError, match="learner 'L1' is inactive"):
            learner.perform(ActivityKind.MESSAGE, syd(2018, 5, 10), channel=channel)


def test_reads_allowed_when_inactive_but_not_through_the_portal() -> None:
    learner = Learner("L1", syd(2018, 4, 11, 10))
    learner.set_status(syd(2018, 4, 11, 16), active=False)
    at = syd(2018, 5, 1)
    for kind in ReadKind:
        assert learner.read(kind, at) is Outcome.READ
    assert not learner.can_use_portal(at)
    with pytest.raises(InactiveLearnerError, match="learner_app"):
        learner.read(ReadKind.VIEW, at, channel=Channel.LEARNER_APP)


def test_scheduled_communications_policy_switch() -> None:
    created, off, at = syd(2018, 4, 1), syd(2018, 4, 2), syd(2018, 4, 3)
    allowed = Learner("L1", created)
    allowed.set_status(off, active=False)
    outcome = allowed.perform(
        ActivityKind.MESSAGE, at, channel=Channel.AUTOMATION, scheduled=True
    )
    assert outcome is Outcome.ALLOWED_WHILE_INACTIVE
    # An unscheduled automation data change is still rejected.
    with pytest.raises(InactiveLearnerError):
        allowed.perform(ActivityKind.ENROLMENT, at, channel=Channel.AUTOMATION)
    strict = Learner(
        "L2",
        created,
        policy=Policy(allow_scheduled_communications_while_inactive=False),
    )
    strict.set_status(off, active=False)
    with pytest.raises(InactiveLearnerError):
        strict.perform(
            ActivityKind.DOCUMENT, at, channel=Channel.AUTOMATION, scheduled=True
        )


def test_repeated_values_change_nothing_and_intervals_are_half_open() -> None:
    learner = Learner("L1", syd(2018, 4, 11, 10))
    assert not learner.set_status(syd(2018, 4, 11, 11), active=True)
    assert learner.set_status(syd(2018, 4, 11, 16), active=False)
    assert not learner.set_status(syd(2018, 4, 12), active=False)
    assert learner.set_status(syd(2018, 7, 2, 9), active=True)
    assert learner.intervals() == [
        (syd(2018, 4, 11, 10), syd(2018, 4, 11, 16)),
        (syd(2018, 7, 2, 9), None),
    ]
    # Half-open: active at the activation instant, inactive at the deactivation.
    assert learner.status_at(syd(2018, 4, 11, 10)) is Status.ACTIVE
    assert learner.status_at(syd(2018, 4, 11, 16)) is Status.INACTIVE
    assert learner.status_at(syd(2018, 4, 11, 9)) is None


def test_out_of_order_and_same_instant_conflicts_raise() -> None:
    learner = Learner("L1", syd(2018, 4, 11, 10))
    learner.set_status(syd(2018, 4, 11, 16), active=False)
    with pytest.raises(InvalidTransitionError, match="not after the latest change"):
        learner.set_status(syd(2018, 4, 11, 12), active=True)
    with pytest.raises(InvalidTransitionError, match="not after the latest change"):
        learner.set_status(syd(2018, 4, 11, 16), active=True)
    with pytest.raises(InvalidTransitionError, match="did not exist yet"):
        learner.perform(ReadKind.VIEW, syd(2018, 1, 1))


def test_naive_times_are_refused() -> None:
    with pytest.raises(ValueError, match="time-zone aware"):
        Learner("L1", datetime(2018, 4, 11, 10))  # noqa: DTZ001


def test_faq_example_billable_months() -> None:
    """The vendor FAQ: entered 11 April, inactive the same day, active in July."""
    learner = Learner("L1", syd(2018, 4, 11, 10))
    learner.set_status(syd(2018, 4, 11, 16), active=False)
    learner.set_status(syd(2018, 7, 2, 9), active=True)
    months = learner.billable_months(
        "Australia/Sydney", date(2018, 4, 1), date(2018, 9, 1)
    )
    assert months == [
        (date(2018, 4, 1), "created_active"),
        (date(2018, 7, 1), "reactivated"),
        (date(2018, 8, 1), "carried_over"),
        (date(2018, 9, 1), "carried_over"),
    ]


def test_month_start_follows_dst() -> None:
    # Sydney: AEST (+10) in July, AEDT (+11) in November.
    assert month_start(date(2018, 7, 1), SYD) == datetime(2018, 6, 30, 14, tzinfo=UTC)
    assert month_start(date(2018, 11, 1), SYD) == datetime(2018, 10, 31, 13, tzinfo=UTC)


def test_month_start_when_midnight_on_the_first_does_not_exist() -> None:
    # America/Asuncion began DST on 2017-10-01 at 00:00 (-04) -> 01:00 (-03):
    # the month starts at 01:00 local, which is 04:00 UTC.
    zone = ZoneInfo("America/Asuncion")
    start = month_start(date(2017, 10, 1), zone)
    assert start == datetime(2017, 10, 1, 4, tzinfo=UTC)
    local = start.astimezone(zone)
    assert (local.day, local.hour, local.minute) == (1, 1, 0)
    assert (start - timedelta(microseconds=1)).astimezone(zone).day == 30


def test_replay_records_rejections_and_orders_rows_by_time() -> None:
    status = [
        StatusEvent("L1", syd(2018, 4, 11, 16), is_active=False),
        StatusEvent("L1", syd(2018, 4, 11, 10), is_active=True),
    ]
    activity = [
        ActivityEvent("L1", syd(2018, 5, 10, 10), ActivityKind.MESSAGE),
        ActivityEvent("L1", syd(2018, 4, 11, 10, 5), ActivityKind.ENROLMENT),
        ActivityEvent("L9", syd(2018, 4, 11, 10, 5), ReadKind.VIEW),
    ]
    result = replay(status, activity)
    assert result.learners["L1"].intervals() == [
        (syd(2018, 4, 11, 10), syd(2018, 4, 11, 16))
    ]
    assert [o for _, o in result.outcomes] == [
        Outcome.REJECTED_INACTIVE,
        Outcome.ACCEPTED,
        Outcome.REJECTED_UNKNOWN_LEARNER,
    ]
    assert len(result.rejections) == 2
