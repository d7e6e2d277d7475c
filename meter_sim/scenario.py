"""A scenario: learners, their Is Active history and activities, a plan and a time zone.

A scenario is a small YAML file that tells a story in status changes and
activities, such as the vendor FAQ's learner who enrols in April for a course
starting in July [1]_. `load_scenario` validates it with pydantic models
(``frozen=True, extra="forbid"``, so a misspelt key is an error) and reports every
problem as ``file:line:col key.path: what was expected, got <value>`` with the
source line and a caret (STYLE.md, Config and Errors rows). The loaded `Scenario`
hands its status and activity logs to `meter_sim.logs` as polars frames.

The file looks like this::

    name: April to July (vendor FAQ example)
    description: optional text
    timezone: Australia/Sydney          # IANA name; the billing time zone
    period: {from: 2018-04, through: 2018-12}   # optional
    plan: plans/starter.yaml            # or an inline mapping of Plan fields
    seed: 20260101                      # optional; random draws (cohorts); default 0
    learners:                           # optional if there are cohorts
      - id: L1
        name: optional text
        status:                         # the first entry creates the learner
          - {at: 2018-04-11 10:00, active: yes, channel: ui, actor: optional}
        activities:                     # optional
          - {at: 2018-04-11 10:05, kind: enrolment, channel: ui, scheduled: no}
    cohorts:                            # optional if there are learners
      course_months: 12                 # course length [months]
      dropout_per_month: 0.02           # withdrawal chance per course month
      enrolment_lead_days: 30           # learners created up to this before the start
      needs_per_month: {attendance: 4, message: 1, document: 0.2}
      intakes:
        - {month: 2027-02, size: 150}   # starts 1 Feb, 09:00 local; ~150 learners

A scenario needs learners, cohorts or both. Cohorts describe learners that do not
exist yet, as expected sizes and rates: `meter_sim.simulate.draw_population` draws
populations from them and `meter_sim.simulate.forecast` bills many such draws.

References
----------
.. [1] Wisenet, "Active Learners and Metering", question "If the Learner is
   commencing their course later in the year however I am enrolling them early
   in the year how does that work?" (``reference/active-learners-and-metering.txt``).
.. [2] DESIGN.md section 4, User-facing formats (times, ids, Is Active).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Final
from zoneinfo import ZoneInfo

import polars as pl
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainValidator,
    StrictBool,
    ValidationError,
    ValidationInfo,
    model_validator,
)

from meter_sim._yaml import (
    Positions,
    Problem,
    load_yaml,
    to_scenario_error,
    validation_problems,
)
from meter_sim.elearning import ELEARNING_SCHEMA, prepare_elearning_log
from meter_sim.exceptions import ScenarioError
from meter_sim.lifecycle import ActivityKind, Channel, ReadKind
from meter_sim.logs import (
    ACTIVITY_SCHEMA,
    STATUS_SCHEMA,
    SUB_MICROSECOND,
    SUB_MICROSECOND_DIGITS,
    WHITE_SPACE,
    YEARS,
)
from meter_sim.metering import known_zone
from meter_sim.pricing import Month, Plan

if TYPE_CHECKING:
    import os
    from datetime import timedelta

    from meter_sim.elearning import ElearningLog

__all__ = [
    "MAX_COURSE_MONTHS",
    "MAX_INTAKE_SIZE",
    "MAX_LEAD_DAYS",
    "MAX_NEEDS_PER_MONTH",
    "PLANS_FOLDER",
    "ZONE_CONTEXT_KEY",
    "ActivityEntry",
    "Cohorts",
    "Intake",
    "LearnerSpec",
    "NeedRates",
    "Period",
    "Scenario",
    "ScenarioDocument",
    "StatusEntry",
    "load_plan",
    "load_price_book",
    "load_scenario",
    "parse_instant",
]

PLANS_FOLDER: Final = "plans"
"""A plan named by path must lie in this folder beside the scenario file."""

ZONE_CONTEXT_KEY: Final = "timezone"
"""Key of the validation context holding the `ZoneInfo` naive times are read in."""

_INSTANT: Final = re.compile(
    r"(?P<date>\d{4}-\d{2}-\d{2})"
    r"(?:[T ](?P<time>\d{2}:\d{2}(?::\d{2}(?:\.\d{1,6})?)?)"
    r"(?P<offset>Z|[+-]\d{2}:\d{2})?)?",
    re.ASCII,
)
_INSTANT_EXPECTED: Final = (
    "an ISO-8601 date-time expected, e.g. 2018-04-11 09:00 (local time) or "
    "2018-04-11T09:00+10:00"
)

MAX_COURSE_MONTHS: Final = 120
"""Longest course a cohort may have (ten years). [months]"""

MAX_LEAD_DAYS: Final = 366
"""Longest enrolment lead a cohort may have. [days]"""

MAX_INTAKE_SIZE: Final = 100_000
"""Largest expected intake (anything larger is a typing error). [learners]"""

MAX_NEEDS_PER_MONTH: Final = 1_000
"""Largest expected needs per learner, kind and course month. [needs per month]"""


def _offset_text(offset: timedelta | None) -> str:
    minutes = int(offset.total_seconds() // 60) if offset is not None else 0
    sign = "-" if minutes < 0 else "+"
    hours, rest = divmod(abs(minutes), 60)
    return f"{sign}{hours:02d}:{rest:02d}"


def _localize(naive: datetime, zone: ZoneInfo) -> datetime:
    """Read a naive date-time as wall-clock time in ``zone``; return it in UTC."""
    earlier = naive.replace(tzinfo=zone, fold=0)
    later = naive.replace(tzinfo=zone, fold=1)
    if earlier.utcoffset() == later.utcoffset():
        return earlier.astimezone(UTC)
    offsets = (
        f"{_offset_text(earlier.utcoffset())} or {_offset_text(later.utcoffset())}"
    )
    wall = earlier.astimezone(UTC).astimezone(zone).replace(tzinfo=None)
    if wall == naive:
        msg = (
            f"an unambiguous local time expected: it occurs twice in {zone.key} "
            f"when the clocks go back; add the offset ({offsets})"
        )
    else:
        msg = (
            f"an existing local time expected: it is skipped in {zone.key} "
            f"when the clocks go forward; add the offset ({offsets})"
        )
    raise ValueError(msg)


def parse_instant(text: str, zone: ZoneInfo | None) -> datetime:
    """Read an ISO-8601 date-time, as written in a scenario, as a UTC instant.

    With an offset or ``Z`` the text is that instant; without one it is local
    (wall-clock) time in ``zone``, and a bare date is local midnight [1]_.

    Parameters
    ----------
    text : str
        ``YYYY-MM-DD``, or ``YYYY-MM-DD HH:MM[:SS[.ffffff]]`` with ``T`` or a
        space between date and time, optionally followed by ``Z`` or ``+HH:MM``.
    zone : ZoneInfo or None
        Time zone of times written without an offset; None to require offsets.

    Returns
    -------
    datetime
        Time-zone aware, in UTC. [UTC]

    Raises
    ------
    ValueError
        If ``text`` is not such a date-time, names a day or time that does not
        exist, falls outside the years `meter_sim.logs.YEARS` (1900 to 2199, in
        UTC, as in a status log), has no offset while ``zone`` is None, or is a
        local time that the clocks of ``zone`` skip (DST gap) or pass twice (DST
        overlap).

    References
    ----------
    .. [1] DESIGN.md section 4: a time without an offset is read in a time zone
       the user names; a DST-ambiguous or non-existent local time is an error.

    Examples
    --------
    >>> parse_instant("2018-04-11 10:00", ZoneInfo("Australia/Sydney"))
    datetime.datetime(2018, 4, 11, 0, 0, tzinfo=datetime.timezone.utc)
    """
    match = _INSTANT.fullmatch(text.strip())
    if match is None:
        if re.search(SUB_MICROSECOND_DIGITS, text):  # as a status log says it
            raise ValueError(SUB_MICROSECOND)
        raise ValueError(_INSTANT_EXPECTED)
    try:
        if match["time"] is None:
            value = datetime.combine(date.fromisoformat(match["date"]), time())
        else:
            value = datetime.fromisoformat(text.strip())
    except ValueError as exc:
        msg = f"a valid date-time expected ({exc})"
        raise ValueError(msg) from None
    # Checked on the written year first: far years overflow a conversion to UTC.
    if YEARS[0] <= value.year <= YEARS[1]:
        if value.tzinfo is not None:
            instant = value.astimezone(UTC)
        elif zone is None:
            msg = "a date-time with a UTC offset expected (no valid `timezone` given)"
            raise ValueError(msg)
        else:
            instant = _localize(value, zone)
        if YEARS[0] <= instant.year <= YEARS[1]:
            return instant
    msg = f"a time in the years {YEARS[0]} to {YEARS[1]} (UTC) expected"
    raise ValueError(msg)


def _instant(value: object, info: ValidationInfo) -> datetime:
    if not isinstance(value, str):
        raise ValueError(_INSTANT_EXPECTED)  # noqa: TRY004 (pydantic wants ValueError)
    context = info.context if isinstance(info.context, dict) else {}
    zone = context.get(ZONE_CONTEXT_KEY)
    if ZONE_CONTEXT_KEY in context and zone is None:
        # The `timezone` is invalid and reported; do not report each naive time.
        return parse_instant(value, ZoneInfo("UTC"))
    return parse_instant(value, zone)


Instant = Annotated[datetime, PlainValidator(_instant, json_schema_input_type=str)]
"""An ISO-8601 date-time; naive ones are local time in the scenario's time zone."""


def _learner_id(value: object) -> object:
    # DESIGN.md section 4: integer ids, as the vendor's own, are their decimal text;
    # ids are kept as written, and one of only white space is blank, as in a log.
    if isinstance(value, str) and not value.strip(WHITE_SPACE):
        msg = "blank (empty or only white space); an id is expected"
        raise ValueError(msg)
    return (
        str(value) if isinstance(value, int) and not isinstance(value, bool) else value
    )


LearnerId = Annotated[str, BeforeValidator(_learner_id), Field(min_length=1)]
"""A learner record's id; an integer is read as its decimal text."""


def _kind(value: object) -> ActivityKind | ReadKind:
    for kinds in (ActivityKind, ReadKind):
        if isinstance(value, str) and value in kinds.__members__.values():
            return kinds(value)
    msg = (
        f"an activity or read kind expected: one of {', '.join(ActivityKind)}; "
        f"or {', '.join(ReadKind)}"
    )
    raise ValueError(msg)


Kind = Annotated[
    ActivityKind | ReadKind, PlainValidator(_kind, json_schema_input_type=str)
]
"""An `ActivityKind` (needs Active) or a `ReadKind` (allowed while Inactive)."""


def _zone_name(value: str) -> str:
    if not known_zone(value):
        msg = "an IANA time zone name expected, e.g. Australia/Sydney"
        raise ValueError(msg)
    return value


TimeZoneName = Annotated[str, AfterValidator(_zone_name)]
"""An IANA time zone name that zoneinfo and polars know (`known_zone`), e.g.
``"Australia/Sydney"``."""


def _plan_source(value: object) -> str | dict[str, Any]:
    if (isinstance(value, str) and value.strip()) or isinstance(value, dict):
        return value
    msg = (
        "a plan file path or a mapping of plan fields expected, "
        f"e.g. {PLANS_FOLDER}/standard.yaml"
    )
    raise ValueError(msg)


PlanSource = Annotated[
    str | dict[str, Any], PlainValidator(_plan_source, json_schema_input_type=Any)
]
"""A path to a plan file, or the plan's fields inline (validated as `Plan`)."""


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class StatusEntry(_Strict):
    """One change of a learner's Is Active status (DESIGN.md section 1).

    Parameters
    ----------
    at : datetime
        When; read by `parse_instant` and held in UTC. [UTC]
    active : bool
        The new Is Active value (YAML ``yes``/``no``, ``true``/``false``).
    channel : Channel
        Where the change came from. Default ``ui``.
    actor : str or None
        Who made it.
    """

    at: Instant
    active: StrictBool
    channel: Channel = Channel.UI
    actor: str | None = None


class ActivityEntry(_Strict):
    """One attempted activity or read on a learner record [1]_.

    Parameters
    ----------
    at : datetime
        When; read by `parse_instant` and held in UTC. [UTC]
    kind : ActivityKind or ReadKind
        What is attempted: an activity needs the learner Active, a read does not.
    channel : Channel
        Where it comes from. Default ``ui``.
    scheduled : bool
        True for a Learncycle scheduled communication (see
        `meter_sim.lifecycle.Policy`). Default False.

    References
    ----------
    .. [1] "Active Learners and Metering", "What do you mean by Activity?"
    """

    at: Instant
    kind: Kind
    channel: Channel = Channel.UI
    scheduled: StrictBool = False


class EnrolmentEntry(_Strict):
    """One change of a learner's e-Learning enrolment [1]_.

    Parameters
    ----------
    at : datetime
        When; read by `parse_instant` and held in UTC. [UTC]
    enrolment : str
        The enrolment's id, unique to this learner (an integer is read as its
        decimal text). An enrolment's first entry creates it: ``enabled: no``
        for a new enrolment (they start Disabled), ``yes`` when an enrolment
        rule enables it at once.
    enabled : bool
        The enrolment's Enabled after the change (YAML ``yes``/``no``).
    channel : Channel
        Where the change came from. Default ``ui``.
    actor : str or None
        Who made it.

    References
    ----------
    .. [1] Wisenet, "e-Learning Active Learners" (``reference/domain-research.md``
       section 2.9): new enrolments start Disabled until enabled by hand or by
       an Elearning Enrolment Rule.
    """

    at: Instant
    enrolment: LearnerId
    enabled: StrictBool
    channel: Channel = Channel.UI
    actor: str | None = None


class LearnerSpec(_Strict):
    """A learner record: its id, Is Active history and activities.

    Parameters
    ----------
    id : str
        The learner record's id, unique in the scenario; an integer is read as
        its decimal text (DESIGN.md section 4).
    name : str or None
        Free text for people.
    status : tuple of StatusEntry
        At least one change; the first creates the learner (created Inactive if
        it says ``active: no``, then not metered).
    activities : tuple of ActivityEntry
        Attempted activities and reads, possibly none. The activities (not the
        reads) are also the learner's *needs* when a status-management strategy
        decides the status instead of ``status`` (`meter_sim.strategies`).
    course_end : datetime or None
        End of the learner's enrolment, for strategies that follow the course
        (``course_window``, ``batched``); read like ``at``. [UTC]
    elearning : tuple of EnrolmentEntry
        e-Learning enrolment changes, possibly none: the second meter
        (`meter_sim.elearning`). Enabling one while the learner is Inactive is
        a data change, rejected and reported.
    """

    id: LearnerId
    name: str | None = None
    status: tuple[StatusEntry, ...] = Field(min_length=1)
    activities: tuple[ActivityEntry, ...] = ()
    elearning: tuple[EnrolmentEntry, ...] = ()
    course_end: Instant | None = None


class Period(_Strict):
    """The months to report, ``from`` through ``through`` inclusive.

    Parameters
    ----------
    from_ : date
        First month, written ``from: YYYY-MM``; held as its first day.
    through : date
        Last month, ``YYYY-MM``, not before ``from``; held as its first day.
    """

    from_: Month = Field(alias="from")
    through: Month

    @model_validator(mode="after")
    def _ordered(self) -> Period:
        if self.from_ > self.through:
            msg = (
                "`from` expected not after `through` "
                f"({self.from_:%Y-%m} is after {self.through:%Y-%m})"
            )
            raise ValueError(msg)
        return self


Rate = Annotated[float, Field(ge=0, le=MAX_NEEDS_PER_MONTH, allow_inf_nan=False)]
"""Expected needs of one kind per learner and course month. [needs per month]"""


class NeedRates(_Strict):
    """Expected needs per learner and course month, by activity kind.

    Each kind's count in a course month is Poisson with this mean; a kind left
    out has none. The keys are the activity kinds of DESIGN.md section 1 (reads
    are not needs: they are allowed while Inactive).

    Parameters
    ----------
    sales, personal_contact, compliance_demographic, enrolment, message, \
attendance, document : float
        Mean needs of that kind per learner and course month, 0 to
        `MAX_NEEDS_PER_MONTH`. Default 0. [needs per month]
    """

    sales: Rate = 0.0
    personal_contact: Rate = 0.0
    compliance_demographic: Rate = 0.0
    enrolment: Rate = 0.0
    message: Rate = 0.0
    attendance: Rate = 0.0
    document: Rate = 0.0

    def rates(self) -> dict[ActivityKind, float]:
        """The kinds with a positive rate, in `ActivityKind` order.

        Returns
        -------
        dict of ActivityKind to float
            Mean needs per learner and course month. [needs per month]
        """
        values = {kind: float(getattr(self, kind.value)) for kind in ActivityKind}
        return {kind: rate for kind, rate in values.items() if rate > 0}


class Intake(_Strict):
    """One intake of a cohort: when the course starts and how many enrol.

    Parameters
    ----------
    month : date
        The month the course starts, written ``YYYY-MM``; it starts on the 1st
        at 09:00 local time. Held as the first day.
    size : float
        Expected learners: the drawn number is Poisson with this mean, 0 to
        `MAX_INTAKE_SIZE`. [learners]
    """

    month: Month
    size: float = Field(ge=0, le=MAX_INTAKE_SIZE, allow_inf_nan=False)


class Cohorts(_Strict):
    """Learners to come, described by intakes and rates (a scenario's ``cohorts:``).

    Drawn by `meter_sim.simulate.draw_population`, whose docstring states the
    rules.

    Parameters
    ----------
    course_months : int
        Course length, 1 to `MAX_COURSE_MONTHS`: the course runs this many
        calendar months from the intake month. [months]
    dropout_per_month : float
        Probability that a learner withdraws in each course month, 0 to 1.
        Default 0. [fraction, per month]
    enrolment_lead_days : int
        Learners are created (enrolment admin) on one of this many days before
        the intake starts, 0 to `MAX_LEAD_DAYS`; 0 creates them at the start.
        Default 30. [days]
    needs_per_month : NeedRates
        Expected needs per learner and course month, by activity kind.
        Default none.
    intakes : tuple of Intake
        At least one intake.
    """

    course_months: int = Field(ge=1, le=MAX_COURSE_MONTHS, strict=True)
    dropout_per_month: float = Field(default=0.0, ge=0, le=1, allow_inf_nan=False)
    enrolment_lead_days: int = Field(default=30, ge=0, le=MAX_LEAD_DAYS, strict=True)
    needs_per_month: NeedRates = NeedRates()
    intakes: tuple[Intake, ...] = Field(min_length=1)


class ScenarioDocument(_Strict):
    """The scenario file as written, validated (times already in UTC).

    Validate with ``context={ZONE_CONTEXT_KEY: ZoneInfo(timezone)}`` so that
    times without an offset can be read; `load_scenario` does this.

    Parameters
    ----------
    name : str
        Title of the scenario.
    description : str
        Free text. Default empty.
    timezone : str
        IANA name of the billing time zone; times without an offset are local
        time there [1]_.
    period : Period or None
        Months to report; None to let the reports use the months of the logs.
    plan : str or dict
        Path of a plan file relative to the scenario file, inside its
        ``plans/`` folder; or an inline mapping of `meter_sim.pricing.Plan`
        fields.
    seed : int
        Seed of the random draws (`meter_sim.simulate.forecast`); not negative.
        Default 0.
    cohorts : Cohorts or None
        Learners to come, drawn at random; None for none.
    learners : tuple of LearnerSpec
        Learners with explicit timelines; at least one unless there are
        ``cohorts``.

    References
    ----------
    .. [1] DESIGN.md section 1, Metering: calendar months in the billing time
       zone (default ``Australia/Sydney``; DST-aware).
    """

    name: str = Field(min_length=1)
    description: str = ""
    timezone: TimeZoneName
    period: Period | None = None
    plan: PlanSource
    seed: int = Field(default=0, ge=0, strict=True)
    cohorts: Cohorts | None = None
    learners: tuple[LearnerSpec, ...] = ()

    @model_validator(mode="after")
    def _someone(self) -> ScenarioDocument:
        if not self.learners and self.cohorts is None:
            msg = "at least 1 learner in `learners` or a `cohorts` section expected"
            raise ValueError(msg)
        return self


@dataclass(frozen=True)
class Scenario:
    """A loaded, validated scenario with its plan resolved.

    Build one with `load_scenario`.

    Attributes
    ----------
    name, description : str
        From the file.
    timezone : str
        IANA name of the billing time zone, e.g. ``"Australia/Sydney"``.
    period : tuple of (date, date) or None
        First days of the first and last months to report, or None.
    plan : Plan
        The price book entry, resolved from a file or inline.
    learners : tuple of LearnerSpec
        The learners in file order (times in UTC); possibly none when there
        are ``cohorts``.
    source : Path
        The scenario file, as named when loading.
    plan_source : Path or None
        The plan file, or None for an inline plan.
    seed : int
        Seed of the scenario's random draws. Default 0.
    cohorts : Cohorts or None
        Learners to come (`meter_sim.simulate.draw_population`), or None.
    positions : Positions
        Where each value of the scenario file is, for error messages.
    """

    name: str
    description: str
    timezone: str
    period: tuple[date, date] | None
    plan: Plan
    learners: tuple[LearnerSpec, ...]
    source: Path
    plan_source: Path | None = None
    seed: int = 0
    cohorts: Cohorts | None = None
    positions: Positions | None = field(default=None, repr=False, compare=False)

    def _line(self, path: tuple[str | int, ...]) -> int | None:
        if self.positions is None:
            return None
        position = self.positions.get(path)
        return None if position is None else position.line

    def status_frame(self) -> pl.DataFrame:
        """The status log the scenario describes, one row per status entry.

        Returns
        -------
        polars.DataFrame
            In file order, with exactly the columns of `meter_sim.logs.STATUS_SCHEMA`:
            ``line`` : Int64, the YAML line of the entry; ``learner_id`` : String;
            ``changed_at`` : Datetime("us", "UTC"); ``is_active`` : Boolean;
            ``event_id`` : String (null); ``channel`` : String; ``actor`` :
            String (nullable). Not deduplicated or sorted by time: the status
            log rules of DESIGN.md section 4 apply when it is metered.
        """
        rows = [
            (
                self._line(("learners", i, "status", j)),
                learner.id,
                entry.at,
                entry.active,
                None,
                str(entry.channel),
                entry.actor,
            )
            for i, learner in enumerate(self.learners)
            for j, entry in enumerate(learner.status)
        ]
        return pl.DataFrame(rows, schema=STATUS_SCHEMA, orient="row")

    def activity_frame(self) -> pl.DataFrame:
        """The activity log the scenario describes, one row per activity entry.

        Returns
        -------
        polars.DataFrame
            In file order, with exactly the columns of `meter_sim.logs.ACTIVITY_SCHEMA`:
            ``line`` : Int64, the YAML line of the entry; ``learner_id`` : String;
            ``occurred_at`` : Datetime("us", "UTC"); ``activity`` : String (an
            activity or read kind); ``channel`` : String; ``scheduled`` :
            Boolean; ``event_id`` : String (null). Activities are attempts:
            whether each is allowed is decided against the status log.
        """
        rows = [
            (
                self._line(("learners", i, "activities", j)),
                learner.id,
                entry.at,
                str(entry.kind),
                str(entry.channel),
                entry.scheduled,
                None,
            )
            for i, learner in enumerate(self.learners)
            for j, entry in enumerate(learner.activities)
        ]
        return pl.DataFrame(rows, schema=ACTIVITY_SCHEMA, orient="row")

    def elearning_frame(self) -> pl.DataFrame | None:
        """The e-Learning enrolment log the scenario describes, or None if none.

        Returns
        -------
        polars.DataFrame or None
            In file order, the columns of `meter_sim.elearning.ELEARNING_SCHEMA`:
            ``line`` Int64 (the YAML line of the entry), ``learner_id``,
            ``enrolment_id`` String, ``changed_at`` Datetime("us", "UTC"),
            ``enabled`` Boolean, ``event_id`` (null), ``channel``, ``actor``
            String. None when no learner has an ``elearning`` entry.
        """
        rows = [
            (
                self._line(("learners", i, "elearning", j)),
                learner.id,
                entry.enrolment,
                entry.at,
                entry.enabled,
                None,
                str(entry.channel),
                entry.actor,
            )
            for i, learner in enumerate(self.learners)
            for j, entry in enumerate(learner.elearning)
        ]
        if not rows:
            return None
        return pl.DataFrame(rows, schema=ELEARNING_SCHEMA, orient="row")

    def elearning_log(self) -> ElearningLog | None:
        """`elearning_frame` validated as an e-Learning log, or None if none.

        Raises
        ------
        LogFormatError
            As `meter_sim.elearning.prepare_elearning_log` (an enrolment under
            two learners, or Enabled and Disabled at one instant), naming the
            YAML lines.
        """
        frame = self.elearning_frame()
        return None if frame is None else prepare_elearning_log(frame, str(self.source))

    def learners_frame(self) -> pl.DataFrame:
        """Each learner's creation and course end, for status-management strategies.

        Returns
        -------
        polars.DataFrame
            ``learner_id`` String; ``created_at`` Datetime("us", "UTC"), the
            earliest status entry (creating a learner makes it Active);
            ``course_end`` Datetime("us", "UTC"), nullable. In file order.
        """
        rows = [
            (learner.id, min(e.at for e in learner.status), learner.course_end)
            for learner in self.learners
        ]
        return pl.DataFrame(rows, schema=LEARNERS_SCHEMA, orient="row")

    def needs_frame(self) -> pl.DataFrame:
        """The learners' needs: their activities (not reads), for strategies.

        Messages and documents may be deferred by a strategy; other activities
        may not.

        Returns
        -------
        polars.DataFrame
            ``learner_id`` String, ``at`` Datetime("us", "UTC"), ``kind`` String
            (an `ActivityKind` value), ``deferrable`` Boolean, ``line`` Int64 (the
            YAML line). In file order.

        Raises
        ------
        ScenarioError
            If a need falls before its learner's first status entry (the learner
            did not exist yet), naming the YAML line.
        """
        rows = []
        for i, learner in enumerate(self.learners):
            created = min(e.at for e in learner.status)
            for j, entry in enumerate(learner.activities):
                if not isinstance(entry.kind, ActivityKind):
                    continue
                line = self._line(("learners", i, "activities", j))
                if entry.at < created:
                    msg = (
                        f"{self.source}:{line}: learners.{i}.activities.{j}.at: a time "
                        f"not before the learner's creation expected "
                        f"({created.isoformat()}), got {entry.at.isoformat()}"
                    )
                    raise ScenarioError(msg, source=str(self.source), line=line)
                deferrable = entry.kind in DEFERRABLE_KINDS
                rows.append((learner.id, entry.at, str(entry.kind), deferrable, line))
        return pl.DataFrame(rows, schema=NEEDS_SCHEMA, orient="row")


LEARNERS_SCHEMA = pl.Schema(
    {
        "learner_id": pl.String(),
        "created_at": pl.Datetime("us", "UTC"),
        "course_end": pl.Datetime("us", "UTC"),
    }
)
"""Columns of `Scenario.learners_frame`."""

NEEDS_SCHEMA = pl.Schema(
    {
        "learner_id": pl.String(),
        "at": pl.Datetime("us", "UTC"),
        "kind": pl.String(),
        "deferrable": pl.Boolean(),
        "line": pl.Int64(),
    }
)
"""Columns of `Scenario.needs_frame`."""

DEFERRABLE_KINDS = frozenset({ActivityKind.MESSAGE, ActivityKind.DOCUMENT})
"""Needs a strategy may move in time: messages and documents."""


def _zone_of(raw: object) -> ZoneInfo | None:
    name = raw.get("timezone") if isinstance(raw, dict) else None
    if not isinstance(name, str):
        return None
    try:
        return ZoneInfo(_zone_name(name))
    except ValueError:
        return None


def _learner_problems(
    document: ScenarioDocument, positions: Positions
) -> list[Problem]:
    """Ids that YAML read as non-canonical numbers, and duplicate ids."""
    problems = []
    first_line: dict[str, int] = {}
    for index, learner in enumerate(document.learners):
        path = ("learners", index, "id")
        text = positions.text(path)
        if text is not None and text != learner.id:
            problems.append(
                Problem(
                    path,
                    f"a quoted id expected: YAML reads {text} as the number "
                    f"{learner.id}; write '{text}'",
                )
            )
        position = positions.locate(path)[1]
        if learner.id in first_line:
            problems.append(
                Problem(
                    path,
                    "a unique learner id expected (also used at line "
                    f"{first_line[learner.id]})",
                    learner.id,
                )
            )
        else:
            first_line[learner.id] = position.line
    return problems


def _load_plan_file(
    reference: str, scenario_file: Path, positions: Positions
) -> tuple[Plan, Path]:
    """Resolve ``plan: <path>`` inside the scenario's ``plans/`` folder and load it."""
    folder = (scenario_file.parent / PLANS_FOLDER).resolve()
    candidate = scenario_file.parent / reference
    try:
        inside = _inside(candidate, folder)
        usable = candidate.is_file()
    except (OSError, RuntimeError, ValueError) as exc:  # too long, NUL, a loop
        reason = exc.strerror if isinstance(exc, OSError) else None
        problem = Problem(
            ("plan",), f"a usable plan file path expected ({reason or exc})", reference
        )
        raise positions.error([problem]) from None
    if not inside:
        problem = Problem(
            ("plan",),
            f"a plan file inside the `{PLANS_FOLDER}/` folder beside the scenario "
            f"expected, e.g. {PLANS_FOLDER}/standard.yaml",
            reference,
        )
        raise positions.error([problem])
    if not usable:
        problem = Problem(
            ("plan",), f"an existing plan file expected ({candidate} not found)"
        )
        raise positions.error([problem])
    return load_plan(candidate), candidate


def load_plan(path: str | os.PathLike[str]) -> Plan:
    """Load and validate a plan (price book entry) YAML file.

    Parameters
    ----------
    path : str or path-like
        A YAML mapping of `meter_sim.pricing.Plan` fields, e.g.
        ``scenarios/plans/standard.yaml``.

    Returns
    -------
    Plan
        The validated plan; money as `Decimal` (YAML floats are read from their
        text, never through a binary float).

    Raises
    ------
    ScenarioError
        If the file is missing or not valid YAML, or a field is unknown, missing,
        negative, not finite or of the wrong type; the message names the plan
        file's line, column and field.
    """
    data, positions = load_yaml(path)
    try:
        return Plan.model_validate(data)
    except ValidationError as exc:
        raise to_scenario_error(exc, positions, model=Plan) from None


def load_scenario(path: str | os.PathLike[str]) -> Scenario:
    """Load and validate a scenario YAML file and the plan it names.

    Every problem in the scenario file is reported at once, each as
    ``file:line:col key.path: what was expected, got <value>`` followed by the
    source line with a caret; problems in a plan file name the plan file's own
    lines (STYLE.md section 9).

    Parameters
    ----------
    path : str or path-like
        The scenario file. A ``plan:`` path is read relative to its folder.

    Returns
    -------
    Scenario
        With times in UTC and the plan resolved.

    Raises
    ------
    ScenarioError
        If the file is missing or not valid YAML (see `meter_sim._yaml.load_yaml`);
        if a key is unknown or missing, or a value is of the wrong type or out of
        range; if the time zone is unknown; if a time without an offset is skipped
        or repeated by a daylight-saving change; if two learners share an id; if
        there are neither learners nor ``cohorts``; if the plan path leaves the
        ``plans/`` folder or the plan file is missing or invalid.

    References
    ----------
    .. [1] DESIGN.md section 2 (data flow) and section 4 (formats).

    Examples
    --------
    >>> scenario = load_scenario("scenarios/april-to-july.yaml")
    >>> scenario.plan.name, scenario.timezone
    ('Starter', 'Australia/Sydney')
    """
    source = Path(path)
    raw, positions = load_yaml(source)
    problems: list[Problem] = []
    document: ScenarioDocument | None = None
    try:
        document = ScenarioDocument.model_validate(
            raw, context={ZONE_CONTEXT_KEY: _zone_of(raw)}
        )
    except ValidationError as exc:
        problems += validation_problems(exc, model=ScenarioDocument)
    inline = raw.get("plan") if isinstance(raw, dict) else None
    inline_plan: Plan | None = None
    if isinstance(inline, dict):
        try:
            inline_plan = Plan.model_validate(inline)
        except ValidationError as exc:
            problems += validation_problems(exc, prefix=("plan",), model=Plan)
    if document is not None:
        problems += _learner_problems(document, positions)
    if problems or document is None:
        raise positions.error(problems)
    # An inline plan (a mapping) was validated above; otherwise `plan` is a path.
    plan, plan_source = (
        (inline_plan, None)
        if inline_plan is not None
        else _load_plan_file(str(document.plan), source, positions)
    )
    period = (
        None
        if document.period is None
        else (document.period.from_, document.period.through)
    )
    return Scenario(
        name=document.name,
        description=document.description,
        timezone=document.timezone,
        period=period,
        plan=plan,
        learners=document.learners,
        source=source,
        plan_source=plan_source,
        seed=document.seed,
        cohorts=document.cohorts,
        positions=positions,
    )


def load_price_book(folder: str | os.PathLike[str]) -> dict[str, Plan]:
    """Load every plan file (``*.yaml``) of a price book folder.

    A plan file must lie in the folder: an entry that is a link to a file
    elsewhere (``plans/z.yaml -> ../../secret.txt``) is refused before it is
    read, by the same rule as a scenario's ``plan:`` reference, so no error
    quotes a line of a file outside the price book.

    Parameters
    ----------
    folder : str or path-like
        E.g. ``scenarios/plans``.

    Returns
    -------
    dict of str to Plan
        Plans by file stem (``"standard"`` for ``standard.yaml``), in name order.

    Raises
    ------
    ScenarioError
        If the folder does not exist or holds no ``.yaml`` file, an entry leads
        outside the folder or is not a file, or any plan file is invalid (naming
        its file, line and field).
    """
    path = Path(folder)
    files = sorted(path.glob("*.yaml")) if path.is_dir() else []
    if not files:
        msg = f"{path}: a price book folder holding plan files (*.yaml) expected"
        raise ScenarioError(msg, source=str(path))
    inside = path.resolve()
    for file in files:
        try:
            contained = _inside(file, inside)
        except (OSError, RuntimeError, ValueError) as exc:  # a loop of links
            msg = f"{file}: a usable plan file path expected ({exc})"
            raise ScenarioError(msg, source=str(file)) from None
        if not contained:
            msg = (
                f"{file}: a plan file inside the price book folder {path} expected; "
                "it is a link to a file elsewhere (not read)"
            )
            raise ScenarioError(msg, source=str(file))
        if not file.is_file():
            msg = f"{file}: a plan file expected; it is not a regular file"
            raise ScenarioError(msg, source=str(file))
    return {file.stem: load_plan(file) for file in files}


def _inside(candidate: Path, folder: Path) -> bool:
    """Whether ``candidate``, links followed, lies inside ``folder`` (resolved).

    The one containment rule of plan files: a scenario's ``plan:`` reference
    and every entry of a price book (DESIGN.md section 4, Plans).

    Raises
    ------
    OSError, RuntimeError, ValueError
        If the path cannot be resolved (a name too long, a loop of links, which
        Python 3.11 reports as RuntimeError, a NUL character).
    """
    resolved = candidate.resolve()
    return resolved.is_relative_to(folder) and resolved != folder
