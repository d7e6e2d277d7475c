"""The learner status state machine: Is Active, activity, reads, channels, and replay.

This is the readable, event-by-event reference implementation of the rules of the
vendor article "Active Learners and Metering" [1]_ as set out in DESIGN.md section 1.
The vectorised engine in `meter_sim.metering` must agree with it; the tests hold the
two equal on random logs.

References
----------
.. [1] Wisenet, "Active Learners and Metering" (``reference/active-learners-and-
   metering.txt``): "A Learner must be Active in order to allow activity."
"""

from __future__ import annotations

import bisect
import enum
import itertools
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from meter_sim.exceptions import InactiveLearnerError, InvalidTransitionError

if TYPE_CHECKING:
    from collections.abc import Iterable

    from meter_sim._typing import BillingReason, Definition, ElearningReason


class Status(enum.Enum):
    """The two values of a learner record's Is Active status."""

    ACTIVE = "active"
    INACTIVE = "inactive"


class ActivityKind(enum.StrEnum):
    """Kinds of activity: any add or edit of a learner record; each needs Active [1]_.

    References
    ----------
    .. [1] "Active Learners and Metering", "What do you mean by Activity?"
    """

    SALES = "sales"
    PERSONAL_CONTACT = "personal_contact"
    COMPLIANCE_DEMOGRAPHIC = "compliance_demographic"
    ENROLMENT = "enrolment"
    MESSAGE = "message"
    ATTENDANCE = "attendance"
    DOCUMENT = "document"


class ReadKind(enum.StrEnum):
    """Kinds of read, allowed whatever the status [1]_.

    References
    ----------
    .. [1] "Active Learners and Metering", "What is an Inactive Learner?"
    """

    VIEW = "view"
    REPRINT = "reprint"
    COMPLIANCE_EXPORT = "compliance_export"
    REPORT = "report"


class Channel(enum.StrEnum):
    """Channels through which a change, an activity or a read arrives (DESIGN.md 1)."""

    UI = "ui"
    AUTOMATION = "automation"
    CONNECTOR = "connector"
    API = "api"
    LEARNER_APP = "learner_app"
    BULK = "bulk"
    IMPORT = "import"


class Outcome(enum.StrEnum):
    """What became of an activity or read when it was applied to a learner."""

    ACCEPTED = "accepted"
    READ = "read"
    ALLOWED_WHILE_INACTIVE = "allowed_while_inactive"
    REJECTED_INACTIVE = "rejected_inactive"
    REJECTED_PORTAL_CLOSED = "rejected_portal_closed"
    REJECTED_UNKNOWN_LEARNER = "rejected_unknown_learner"
    REJECTED_NOT_YET_CREATED = "rejected_not_yet_created"


REJECTED_OUTCOMES = frozenset(
    {
        Outcome.REJECTED_INACTIVE,
        Outcome.REJECTED_PORTAL_CLOSED,
        Outcome.REJECTED_UNKNOWN_LEARNER,
        Outcome.REJECTED_NOT_YET_CREATED,
    }
)
"""Outcomes that mean the attempt did not happen (and is reported)."""

SCHEDULED_COMMUNICATION_KINDS = frozenset({ActivityKind.MESSAGE, ActivityKind.DOCUMENT})
"""Activity kinds a Learncycle schedule may send to an inactive learner, by policy."""

DEFINITIONS = ("flag", "flag_or_activity")
"""The values of `Policy.definition`."""

TRANSITIONS: dict[tuple[Status, bool], Status] = {
    (Status.ACTIVE, True): Status.ACTIVE,  # a repeated Yes changes nothing
    (Status.ACTIVE, False): Status.INACTIVE,
    (Status.INACTIVE, True): Status.ACTIVE,
    (Status.INACTIVE, False): Status.INACTIVE,  # a repeated No changes nothing
}
"""The one transition table: (current status, requested Is Active) -> new status."""


@dataclass(frozen=True)
class Policy:
    """Switches for rules the vendor's pages word differently.

    Parameters
    ----------
    allow_scheduled_communications_while_inactive : bool
        Newer vendor wording lets a Learncycle *schedule* send a message or generate
        a document for an inactive learner without changing data. When True
        (default) such an attempt is allowed and recorded as
        ``allowed_while_inactive``; when False it is rejected like any activity.
    definition : {'flag', 'flag_or_activity'}
        Which learners the LRM meter counts (`meter_sim._typing.Definition`).
        ``flag`` (default) follows the help article [1]_: Active at some instant
        of the month. ``flag_or_activity`` follows the Terms [2]_: also a learner
        with an activity (not a read) recorded in the month while Is Active was
        No, whether that activity was rejected or allowed by this policy; such a
        month's reason is ``activity_while_inactive``.

    Raises
    ------
    ValueError
        For an unknown ``definition``.

    References
    ----------
    .. [1] "Active Learners and Metering", "What is an Active Learner?"
    .. [2] Wisenet Terms, "LRM Active Learner" (``reference/domain-research.md``
       section 2.3, source W3).
    """

    allow_scheduled_communications_while_inactive: bool = True
    definition: Definition = "flag"

    def __post_init__(self) -> None:
        if self.definition not in DEFINITIONS:
            msg = (
                f"unknown definition {self.definition!r}; expected one of "
                + ", ".join(DEFINITIONS)
            )
            raise ValueError(msg)


@dataclass(frozen=True)
class StatusChange:
    """One accepted status change of a learner (the first one is its creation)."""

    at: datetime
    status: Status
    channel: Channel
    actor: str | None = None


def _require_aware(at: datetime, what: str) -> None:
    if at.tzinfo is None or at.utcoffset() is None:
        msg = f"`{what}` must be time-zone aware, got naive {at.isoformat()}"
        raise ValueError(msg)


@dataclass
class Learner:
    """A learner record with its Is Active status history.

    Create one with its creation time; a learner is created Active unless
    ``active=False`` (creating a learner is activity [1]_). Change the status with
    `set_status`, attempt activities with `perform`, reads with `read`.

    Parameters
    ----------
    learner_id : str
        The learner record's id.
    created_at : datetime
        Creation instant, time-zone aware.
    active : bool
        Is Active at creation. Default True.
    channel : Channel
        Channel of the creation. Default ``Channel.UI``.
    actor : str or None
        Who created it.
    policy : Policy
        Rule switches; default `Policy()`.

    Raises
    ------
    ValueError
        If ``created_at`` is naive.

    References
    ----------
    .. [1] "Active Learners and Metering", "If the Learner is commencing their course
       later in the year...": entering a learner makes them Active that month.
    """

    learner_id: str
    created_at: datetime
    active: bool = True
    channel: Channel = Channel.UI
    actor: str | None = None
    policy: Policy = field(default_factory=Policy)
    history: list[StatusChange] = field(init=False)

    def __post_init__(self) -> None:
        _require_aware(self.created_at, "created_at")
        status = Status.ACTIVE if self.active else Status.INACTIVE
        self.history = [StatusChange(self.created_at, status, self.channel, self.actor)]

    @property
    def status(self) -> Status:
        """The current (latest) status."""
        return self.history[-1].status

    def set_status(
        self,
        at: datetime,
        *,
        active: bool,
        channel: Channel = Channel.UI,
        actor: str | None = None,
    ) -> bool:
        """Set Is Active to Yes (``active=True``) or No at ``at``.

        Parameters
        ----------
        at : datetime
            When, time-zone aware; not before the latest change.
        active : bool
            The requested Is Active value.
        channel : Channel
            Where the change came from.
        actor : str or None
            Who made it.

        Returns
        -------
        bool
            True if the status changed; False for a repeated Yes or No.

        Raises
        ------
        ValueError
            If ``at`` is naive.
        InvalidTransitionError
            If ``at`` is before the latest change, or equal to it with the opposite
            value (Yes and No at one instant).
        """
        _require_aware(at, "at")
        last = self.history[-1]
        new = TRANSITIONS[(last.status, active)]
        if at < last.at or (at == last.at and new is not last.status):
            msg = (
                f"learner {self.learner_id!r}: status change to "
                f"{'Yes' if active else 'No'} at {at.isoformat()} is not after the "
                f"latest change at {last.at.isoformat()}"
            )
            raise InvalidTransitionError(msg, learner_id=self.learner_id, at=at)
        if new is last.status:
            return False
        self.history.append(StatusChange(at, new, channel, actor))
        return True

    def status_at(self, at: datetime) -> Status | None:
        """The status at instant ``at``; None before the learner was created."""
        times = [change.at for change in self.history]
        index = bisect.bisect_right(times, at) - 1
        return None if index < 0 else self.history[index].status

    def can_use_portal(self, at: datetime) -> bool:
        """Whether the Learner App (portal) is open to the learner at ``at`` [1]_.

        References
        ----------
        .. [1] "Active Learners and Metering": "Inactive Learners will not have
           access to the Wisenet Learner App (Learner portal)."
        """
        return self.status_at(at) is Status.ACTIVE

    def outcome(
        self,
        kind: ActivityKind | ReadKind,
        at: datetime,
        *,
        channel: Channel = Channel.UI,
        scheduled: bool = False,
    ) -> Outcome:
        """Decide what an activity or read at ``at`` becomes, without raising.

        Parameters
        ----------
        kind : ActivityKind or ReadKind
            What is attempted.
        at : datetime
            When, time-zone aware.
        channel : Channel
            Where it comes from.
        scheduled : bool
            True for a Learncycle scheduled communication (see `Policy`).

        Returns
        -------
        Outcome
            ``read`` for an allowed read, ``accepted`` for an activity on an active
            learner, ``allowed_while_inactive`` for a scheduled communication the
            policy allows, else one of the ``rejected_*`` outcomes.
        """
        _require_aware(at, "at")
        status = self.status_at(at)
        if status is None:
            return Outcome.REJECTED_NOT_YET_CREATED
        if status is Status.ACTIVE:
            return Outcome.READ if isinstance(kind, ReadKind) else Outcome.ACCEPTED
        if channel is Channel.LEARNER_APP:
            return Outcome.REJECTED_PORTAL_CLOSED
        if isinstance(kind, ReadKind):
            return Outcome.READ
        if (
            scheduled
            and channel is Channel.AUTOMATION
            and kind in SCHEDULED_COMMUNICATION_KINDS
            and self.policy.allow_scheduled_communications_while_inactive
        ):
            return Outcome.ALLOWED_WHILE_INACTIVE
        return Outcome.REJECTED_INACTIVE

    def perform(
        self,
        kind: ActivityKind | ReadKind,
        at: datetime,
        *,
        channel: Channel = Channel.UI,
        scheduled: bool = False,
    ) -> Outcome:
        """Attempt an activity or read at ``at``; raise if the rules forbid it.

        Parameters are as for `outcome`.

        Returns
        -------
        Outcome
            ``accepted``, ``read`` or ``allowed_while_inactive``.

        Raises
        ------
        InactiveLearnerError
            If the learner is inactive at ``at`` and the attempt is not allowed (an
            activity, or anything through the closed portal).
        InvalidTransitionError
            If ``at`` is before the learner was created.
        """
        result = self.outcome(kind, at, channel=channel, scheduled=scheduled)
        if result is Outcome.REJECTED_NOT_YET_CREATED:
            msg = f"learner {self.learner_id!r} did not exist yet at {at.isoformat()}"
            raise InvalidTransitionError(msg, learner_id=self.learner_id, at=at)
        if result in REJECTED_OUTCOMES:
            raise InactiveLearnerError(self.learner_id, at, str(kind), str(channel))
        return result

    def read(
        self, kind: ReadKind, at: datetime, *, channel: Channel = Channel.UI
    ) -> Outcome:
        """Read the learner record; allowed whatever the status except via the portal.

        Raises
        ------
        InactiveLearnerError
            If the read comes through the closed Learner App of an inactive learner.
        InvalidTransitionError
            If ``at`` is before the learner was created.
        """
        return self.perform(kind, at, channel=channel)

    def intervals(self) -> list[tuple[datetime, datetime | None]]:
        """Status intervals, half-open ``[activated_at, deactivated_at)``.

        Returns
        -------
        list of (datetime, datetime or None)
            One pair per spell of Active, in time order; ``None`` while still Active.
        """
        spells: list[tuple[datetime, datetime | None]] = []
        start: datetime | None = None
        for change in self.history:
            if change.status is Status.ACTIVE:
                start = change.at
            elif start is not None:
                spells.append((start, change.at))
                start = None
        if start is not None:
            spells.append((start, None))
        return spells

    def billable_months(
        self, timezone: str, first: date, last: date
    ) -> list[tuple[date, BillingReason]]:
        """Months of ``[first, last]`` this learner is billed for, with the reason.

        A learner is billed once for a calendar month (in ``timezone``) if Active
        at any instant of it [1]_. The reason is ``created_active`` if created
        Active in the month, ``carried_over`` if an Active spell began before the
        month and reaches into it, else ``reactivated`` (DESIGN.md section 1).

        Parameters
        ----------
        timezone : str
            IANA billing time zone, e.g. ``"Australia/Sydney"``.
        first, last : date
            First days of the first and last months reported (inclusive).

        Returns
        -------
        list of (date, str)
            ``(first day of month, reason)`` in month order.

        References
        ----------
        .. [1] "Active Learners and Metering", "Can I switch a Learner from Active
           to Inactive (and vice-versa) more than once in a month?"
        """
        zone = ZoneInfo(timezone)
        spells = self.intervals()
        created_active = self.history[0].status is Status.ACTIVE
        result: list[tuple[date, BillingReason]] = []
        month = first
        while month <= last:
            start, end = month_start(month, zone), month_start(_next_month(month), zone)
            hits = [(a, d) for a, d in spells if a < end and (d is None or d > start)]
            if hits:
                reason: BillingReason
                if created_active and start <= self.created_at < end:
                    reason = "created_active"
                elif any(a < start for a, _ in hits):
                    reason = "carried_over"
                else:
                    reason = "reactivated"
                result.append((month, reason))
            month = _next_month(month)
        return result


def _next_month(month: date) -> date:
    return date(month.year + month.month // 12, month.month % 12 + 1, 1)


def month_start(month: date, zone: ZoneInfo) -> datetime:
    """The first instant of a calendar month in a time zone, in UTC.

    The month starts at local midnight on the 1st; where that local time does not
    exist (a DST gap at midnight), at the first instant of the 1st that does
    (DESIGN.md section 1, Metering).

    Parameters
    ----------
    month : date
        Any day of the month; only year and month are used.
    zone : ZoneInfo
        The billing time zone.

    Returns
    -------
    datetime
        A UTC datetime.
    """
    midnight = datetime(month.year, month.month, 1, tzinfo=zone)
    utc = midnight.astimezone(UTC)
    if utc.astimezone(zone).replace(tzinfo=None) == midnight.replace(tzinfo=None):
        return utc
    # Midnight falls in a gap: search the instant at which the local date turns.
    low = midnight.replace(fold=1).astimezone(UTC) - timedelta(days=1)
    high = utc + timedelta(days=1)
    day = month.replace(day=1)
    while high - low > timedelta(microseconds=1):
        mid = low + (high - low) / 2
        if mid.astimezone(zone).date() >= day:
            high = mid
        else:
            low = mid
    return high


@dataclass(frozen=True)
class StatusEvent:
    """One row of a status log, for `replay`."""

    learner_id: str
    changed_at: datetime
    is_active: bool
    channel: Channel = Channel.UI
    actor: str | None = None


@dataclass(frozen=True)
class ActivityEvent:
    """One row of an activity log, for `replay`."""

    learner_id: str
    occurred_at: datetime
    kind: ActivityKind | ReadKind
    channel: Channel = Channel.UI
    scheduled: bool = False


@dataclass(frozen=True)
class Replay:
    """The result of `replay`: learners, and the outcome of every activity.

    Attributes
    ----------
    learners : dict of str to Learner
        Every learner of the status log, by id.
    outcomes : list of (ActivityEvent, Outcome)
        Each activity event in the order given, with what became of it.
    """

    learners: dict[str, Learner]
    outcomes: list[tuple[ActivityEvent, Outcome]]
    policy: Policy = field(default_factory=Policy)

    @property
    def rejections(self) -> list[tuple[ActivityEvent, Outcome]]:
        """The activity events that were rejected, with their outcome."""
        return [(e, o) for e, o in self.outcomes if o in REJECTED_OUTCOMES]

    def billable_months(
        self, timezone: str, first: date, last: date
    ) -> dict[str, list[tuple[date, BillingReason]]]:
        """Each learner's billable months of ``[first, last]`` under the policy.

        Under ``definition="flag"`` these are `Learner.billable_months`. Under
        ``"flag_or_activity"`` a month in which an activity (not a read) was
        recorded while the learner's Is Active was No is billable too, with
        reason ``activity_while_inactive`` when the flag alone does not bill it
        (`Policy`).

        Parameters
        ----------
        timezone : str
            IANA billing time zone.
        first, last : date
            First days of the first and last months (inclusive).

        Returns
        -------
        dict of str to list of (date, str)
            Learner id -> ``(first day of month, reason)`` in month order; a
            learner billed in no month is left out.
        """
        zone = ZoneInfo(timezone)
        result: dict[str, dict[date, BillingReason]] = {
            learner_id: dict(learner.billable_months(timezone, first, last))
            for learner_id, learner in self.learners.items()
        }
        if self.policy.definition == "flag_or_activity":
            for event, _ in self.outcomes:
                learner = self.learners.get(event.learner_id)
                if (
                    learner is None
                    or isinstance(event.kind, ReadKind)
                    or learner.status_at(event.occurred_at) is not Status.INACTIVE
                ):
                    continue
                local = event.occurred_at.astimezone(zone)
                month = date(local.year, local.month, 1)
                if first <= month <= last:
                    result[event.learner_id].setdefault(
                        month, "activity_while_inactive"
                    )
        return {
            learner_id: sorted(months.items())
            for learner_id, months in result.items()
            if months
        }


def replay(
    status: Iterable[StatusEvent],
    activity: Iterable[ActivityEvent] = (),
    *,
    policy: Policy | None = None,
) -> Replay:
    """Replay a status log and an activity log event by event.

    Status rows are applied in time order whatever their order in ``status``
    (ties keep the given order); a learner's first row creates it. Every activity
    gets an `Outcome`; none is raised or lost.

    Parameters
    ----------
    status : iterable of StatusEvent
        Status changes; Yes and No for one learner at one instant raise.
    activity : iterable of ActivityEvent
        Activities and reads to check against the statuses.
    policy : Policy or None
        Rule switches; default `Policy()`.

    Returns
    -------
    Replay
        The learners and the outcome of each activity event.

    Raises
    ------
    InvalidTransitionError
        If one learner has Yes and No at the same instant.
    """
    policy = policy or Policy()
    learners: dict[str, Learner] = {}
    for event in sorted(status, key=lambda e: e.changed_at):
        learner = learners.get(event.learner_id)
        if learner is None:
            learners[event.learner_id] = Learner(
                event.learner_id,
                event.changed_at,
                active=event.is_active,
                channel=event.channel,
                actor=event.actor,
                policy=policy,
            )
        else:
            learner.set_status(
                event.changed_at,
                active=event.is_active,
                channel=event.channel,
                actor=event.actor,
            )
    outcomes = []
    for act in activity:
        learner = learners.get(act.learner_id)
        if learner is None:
            outcomes.append((act, Outcome.REJECTED_UNKNOWN_LEARNER))
            continue
        outcome = learner.outcome(
            act.kind, act.occurred_at, channel=act.channel, scheduled=act.scheduled
        )
        outcomes.append((act, outcome))
    return Replay(learners, outcomes, policy)


@dataclass(frozen=True)
class EnrolmentEvent:
    """One row of an e-Learning enrolment log, for `replay_elearning`."""

    learner_id: str
    enrolment_id: str
    changed_at: datetime
    enabled: bool


def replay_elearning(
    events: Iterable[EnrolmentEvent],
    learners: dict[str, Learner] | None,
    timezone: str,
    first: date,
    last: date,
) -> tuple[dict[str, list[tuple[date, ElearningReason]]], list[EnrolmentEvent]]:
    """Replay an e-Learning enrolment log event by event (the reference meter).

    A learner is an e-Learning Active Learner while at least one of their
    enrolments is Enabled, and billable in month M if so at any instant of M,
    once however many enrolments or toggles [1]_. Rows are applied in time order
    (ties keep the given order), all rows of one instant before the learner's
    state is looked at. With ``learners`` (the LRM status, e.g.
    `Replay.learners`), a row that enables an enrolment while the learner is
    not Active (or does not exist yet, or is unknown) is refused and not
    applied: enabling is a data change (DESIGN.md section 1, e-Learning meter).

    Parameters
    ----------
    events : iterable of EnrolmentEvent
        The enrolment rows; no enrolment Enabled and Disabled at one instant.
    learners : dict of str to Learner, or None
        The LRM learners by id; None to apply every row.
    timezone : str
        IANA billing time zone.
    first, last : date
        First days of the first and last months (inclusive).

    Returns
    -------
    (dict of str to list of (date, str), list of EnrolmentEvent)
        Learner id -> ``(first day of month, reason)`` in month order, reason
        ``activated`` (an Enabled spell began in the month) or ``continuing``
        (one began before it); and the refused rows in time order.

    References
    ----------
    .. [1] Wisenet, "e-Learning Active Learners" (``reference/domain-research.md``
       section 2.9, source W4).
    """
    zone = ZoneInfo(timezone)
    applied: dict[str, list[EnrolmentEvent]] = {}
    refused = []
    for event in sorted(events, key=lambda e: e.changed_at):
        if learners is not None and event.enabled:
            learner = learners.get(event.learner_id)
            if learner is None or learner.status_at(event.changed_at) is not (
                Status.ACTIVE
            ):
                refused.append(event)
                continue
        applied.setdefault(event.learner_id, []).append(event)
    months = {
        learner_id: _elearning_months(_enabled_spells(rows), zone, first, last)
        for learner_id, rows in applied.items()
    }
    return {k: v for k, v in months.items() if v}, refused


def _enabled_spells(
    rows: list[EnrolmentEvent],
) -> list[tuple[datetime, datetime | None]]:
    """Half-open spells in which some enrolment is Enabled (rows in time order)."""
    enabled: dict[str, bool] = {}
    spells: list[tuple[datetime, datetime | None]] = []
    start: datetime | None = None
    for at, group in itertools.groupby(rows, key=lambda e: e.changed_at):
        for event in group:
            enabled[event.enrolment_id] = event.enabled
        if any(enabled.values()) and start is None:
            start = at
        elif not any(enabled.values()) and start is not None:
            spells.append((start, at))
            start = None
    if start is not None:
        spells.append((start, None))
    return spells


def _elearning_months(
    spells: list[tuple[datetime, datetime | None]],
    zone: ZoneInfo,
    first: date,
    last: date,
) -> list[tuple[date, ElearningReason]]:
    """Months of ``[first, last]`` some spell overlaps, with the W4 reason."""
    billed: list[tuple[date, ElearningReason]] = []
    month = first
    while month <= last:
        begin, end = month_start(month, zone), month_start(_next_month(month), zone)
        hits = [a for a, d in spells if a < end and (d is None or d > begin)]
        if hits:
            billed.append((month, "continuing" if min(hits) < begin else "activated"))
        month = _next_month(month)
    return billed
