"""Status-management strategies: turn learners' needs into Is Active status changes.

A learner must be Active for any activity [1]_ and is billed once for every local
calendar month in which it is Active at any instant [2]_. A *strategy* decides when
the learners are switched on and off so that each of their *needs* (dated
activities that must happen) can happen; the result is a status log that
`meter_sim.metering` bills like any other. The strategies run from neglect
(`always_active`) to switching a learner on for a few minutes per need
(`just_in_time`); `STRATEGIES` lists them by name.

Every strategy takes the same inputs:

``learners`` : pl.DataFrame
    ``learner_id`` String (unique, not null); ``created_at`` Datetime("us", "UTC")
    (not null), the record's creation, which makes the learner Active [3]_;
    ``course_end`` Datetime("us", "UTC") (nullable), the end of the enrolment.
    Other columns are ignored (as `meter_sim.scenario.Scenario.learners_frame`).
``needs`` : pl.DataFrame
    ``learner_id`` String (a learner of ``learners``); ``at`` Datetime("us",
    "UTC"), when the need falls due, never before the learner's ``created_at``;
    ``kind`` String, an activity kind (``sales``, ``personal_contact``,
    ``compliance_demographic``, ``enrolment``, ``message``, ``attendance``,
    ``document``); ``deferrable`` Boolean, whether a strategy may move the need
    later (callers set it for ``message`` and ``document``). Other columns (e.g.
    ``line``) are kept. Any order (as `meter_sim.scenario.Scenario.needs_frame`).
``timezone`` : str, keyword
    IANA billing time zone; months are its local calendar months.
``horizon`` : datetime, keyword
    Time-zone aware end of the planning period (exclusive). No strategy switches a
    learner off at or after it: a learner Active at the horizon stays Active (the
    last spell stays open). A need at or after the horizon is still served, by at
    most one last switch-on that then stays open.

Terms: a *spell* is how long a learner is switched on for a need: `SPELL` from the
need, but never across a local month start (the spell then ends at that month
start exactly, so it does not bill the next month). Overlapping or touching spells
and windows of one learner merge into one Active interval. A *day* here is 24
hours of elapsed time (``timedelta(days=1)``), also across a DST change.

Examples
--------
>>> from datetime import UTC, datetime
>>> learners = pl.DataFrame(
...     {
...         "learner_id": ["L1"],
...         "created_at": [datetime(2018, 4, 11, 0, tzinfo=UTC)],
...         "course_end": [None],
...     },
...     schema_overrides={"course_end": UTC_US},
... )
>>> needs = pl.DataFrame(
...     {
...         "learner_id": ["L1"],
...         "at": [datetime(2018, 7, 1, 23, tzinfo=UTC)],
...         "kind": ["attendance"],
...         "deferrable": [False],
...     },
...     schema_overrides={"at": UTC_US},
... )
>>> run = just_in_time(
...     learners,
...     needs,
...     timezone="Australia/Sydney",
...     horizon=datetime(2019, 1, 1, tzinfo=UTC),
... )
>>> run.toggles, run.delay_days, run.blocked
(3, 0.0, 0)

References
----------
.. [1] Wisenet, "Active Learners and Metering" (``reference/active-learners-and-
   metering.txt``): "A Learner must be Active in order to allow activity."
.. [2] "Active Learners and Metering", "Can I switch a Learner from Active to
   Inactive (and vice-versa) more than once in a month?"
.. [3] DESIGN.md section 1: "A new learner starts ``active`` (creating a learner is
   activity)."
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import polars as pl

from meter_sim.logs import STATUS_SCHEMA, UTC_US, prepare_status_log
from meter_sim.metering import month_index, month_starts

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from meter_sim.logs import StatusLog

SPELL = timedelta(minutes=15)
"""How long a learner is switched on for one need, before month-start clipping."""

LEARNER_COLUMNS = pl.Schema(
    {"learner_id": pl.String(), "created_at": UTC_US, "course_end": UTC_US}
)
"""Columns a ``learners`` frame must have (``course_end`` may be null)."""

NEED_COLUMNS = pl.Schema(
    {
        "learner_id": pl.String(),
        "at": UTC_US,
        "kind": pl.String(),
        "deferrable": pl.Boolean(),
    }
)
"""Columns a ``needs`` frame must have."""

STATUS_COLUMNS = pl.Schema(
    {"learner_id": pl.String(), "changed_at": UTC_US, "is_active": pl.Boolean()}
)
"""Columns of `StrategyRun.status`."""

_FOREVER = datetime(9999, 12, 31, tzinfo=UTC)
"""Stands for "never switched off" while merging intervals."""

_MICROSECONDS_PER_DAY = 86_400_000_000
_ROW = "__row__"
_INTERVALS = pl.Schema(
    {"learner_id": pl.String(), "activated_at": UTC_US, "deactivated_at": UTC_US}
)


@dataclass(frozen=True)
class StrategyRun:
    """What a strategy decided: the status log and when each need happened.

    Attributes
    ----------
    status : pl.DataFrame
        The Is Active status log: ``learner_id`` String, ``changed_at``
        Datetime("us", "UTC"), ``is_active`` Boolean; one row per actual change,
        a learner's first row its creation (``True`` at ``created_at``), then
        alternating False/True; sorted by ``(learner_id, changed_at)``. Feed it
        to the meter with `status_log`.
    needs : pl.DataFrame
        The input needs, in input order, plus ``happened_at`` Datetime("us",
        "UTC") (when the need was done; ``at`` unless the strategy deferred it),
        ``delay_days`` Float64 (``happened_at - at``) [days] and ``blocked``
        Boolean (the learner was not Active at ``happened_at`` by ``status``, so
        the need could not happen; always false for these strategies).
    """

    status: pl.DataFrame
    needs: pl.DataFrame

    @property
    def toggles(self) -> int:
        """Status changes after creation: rows minus one per learner [changes]."""
        return self.status.height - self.status["learner_id"].n_unique()

    @property
    def delay_days(self) -> float:
        """Total delay of the needs [days]."""
        return float(self.needs["delay_days"].sum())

    @property
    def blocked(self) -> int:
        """Needs that could not happen [needs]."""
        return int(self.needs["blocked"].sum())


def status_log(run: StrategyRun, source: str) -> StatusLog:
    """The run's status rows as a validated `meter_sim.logs.StatusLog`.

    Parameters
    ----------
    run : StrategyRun
        A strategy's result.
    source : str
        Name for messages and ``rejected`` rows, e.g. ``"just_in_time"``.

    Returns
    -------
    StatusLog
        Events with the columns of `meter_sim.logs.STATUS_SCHEMA`: ``line`` is the
        1-based row of ``run.status``; ``event_id``, ``channel`` and ``actor`` are
        null.
    """
    frame = (
        run.status.with_row_index("line", offset=1)
        .with_columns(
            pl.lit(None, pl.String).alias(name)
            for name in ("event_id", "channel", "actor")
        )
        .select(STATUS_SCHEMA.names())
        .cast(STATUS_SCHEMA)
    )
    return prepare_status_log(frame, source, line_word="row")


def always_active(
    learners: pl.DataFrame,
    needs: pl.DataFrame,
    *,
    timezone: str,
    horizon: datetime,
) -> StrategyRun:
    """Never switch a learner off: Active from creation on.

    The neglect baseline: nobody manages the status, and the vendor goes on
    invoicing every month: "Wisenet will not be responsible if the Customer
    neglects to update a learner status and will continue to invoice
    accordingly" [1]_.

    Parameters
    ----------
    learners : pl.DataFrame
        ``learner_id`` String (unique), ``created_at`` Datetime("us", "UTC"),
        ``course_end`` Datetime("us", "UTC") (nullable); see the module docstring.
    needs : pl.DataFrame
        ``learner_id`` String, ``at`` Datetime("us", "UTC") (not before the
        learner's ``created_at``), ``kind`` String, ``deferrable`` Boolean.
    timezone : str
        IANA billing time zone.
    horizon : datetime
        Time-zone aware end of the planning period (exclusive).

    Returns
    -------
    StrategyRun
        One status row per learner (``True`` at ``created_at``); every need
        happens on time.

    Raises
    ------
    ValueError
        If a column is missing, has another dtype or holds nulls where it may
        not; if a learner is listed twice; if a need names an unknown learner or
        falls before its learner's creation (the message names the first such
        learner, in ``needs`` order); if ``horizon`` is naive.
    zoneinfo.ZoneInfoNotFoundError
        If ``timezone`` is unknown.

    References
    ----------
    .. [1] "Active Learners and Metering", "What is the Customer Responsibility?"
    """
    prepared = _prepare(learners, needs, timezone, horizon)
    forever = learners.select(
        "learner_id",
        pl.col("created_at").alias("activated_at"),
        pl.lit(None, UTC_US).alias("deactivated_at"),
    )
    return _finish(_on_time(prepared), forever, horizon)


def course_window(
    learners: pl.DataFrame,
    needs: pl.DataFrame,
    *,
    timezone: str,
    horizon: datetime,
    grace_days: int = 14,
) -> StrategyRun:
    """Active from creation to ``grace_days`` after the course ends.

    The vendor's Learncycle automation can set a learner Inactive a chosen number
    of days after the enrolment end date [1]_. A learner is Active from
    ``created_at`` to ``course_end + grace_days`` (its *window*); without a
    ``course_end`` the window never ends. A need after the window gets a spell
    (the learner is switched on again only for such later needs). A window that
    would end before the creation spell ends is the creation spell.

    Parameters
    ----------
    learners, needs : pl.DataFrame
        As for `always_active`.
    timezone : str
        IANA billing time zone.
    horizon : datetime
        Time-zone aware end of the planning period (exclusive).
    grace_days : int
        Time from ``course_end`` to the automatic switch-off; not negative.
        [days]

    Returns
    -------
    StrategyRun
        Every need happens on time.

    Raises
    ------
    ValueError
        As for `always_active`; or if ``grace_days`` is negative.
    zoneinfo.ZoneInfoNotFoundError
        If ``timezone`` is unknown.

    References
    ----------
    .. [1] The vendor's help on inactivating learners ("Learn More? How to set a
       Learner as Inactive" in "Active Learners and Metering"): automation that
       inactivates a learner a set number of days after the enrolment end date.
    """
    _require_not_negative(grace_days=grace_days)
    prepared = _prepare(learners, needs, timezone, horizon)
    intervals = _window_intervals(learners, prepared, timezone, grace_days)
    return _finish(_on_time(prepared), intervals, horizon)


def just_in_time(
    learners: pl.DataFrame,
    needs: pl.DataFrame,
    *,
    timezone: str,
    horizon: datetime,
) -> StrategyRun:
    """Switch a learner on only for a spell at creation and at each need.

    The vendor's own example: a learner entered on 11 April is switched to
    inactive later that day and not switched back until July, so May and June
    are not charged [1]_; however often the status is switched within a month,
    the learner is charged once for it [2]_. Spells are ``[created_at,
    created_at + SPELL)`` and ``[at, at + SPELL)`` per need, each cut at the next
    local month start; overlapping or touching spells merge.

    Parameters
    ----------
    learners, needs : pl.DataFrame
        As for `always_active`.
    timezone : str
        IANA billing time zone.
    horizon : datetime
        Time-zone aware end of the planning period (exclusive).

    Returns
    -------
    StrategyRun
        Every need happens on time; the most toggles of all strategies.

    Raises
    ------
    ValueError
        As for `always_active`.
    zoneinfo.ZoneInfoNotFoundError
        If ``timezone`` is unknown.

    References
    ----------
    .. [1] "Active Learners and Metering", "If the Learner is commencing their
       course later in the year however I am enrolling them early in the year how
       does that work?"
    .. [2] "Active Learners and Metering", "Can I switch a Learner from Active to
       Inactive (and vice-versa) more than once in a month?"
    """
    prepared = _prepare(learners, needs, timezone, horizon)
    intervals = pl.concat(
        [_spells(learners, "created_at", timezone), _spells(prepared, "at", timezone)]
    )
    return _finish(_on_time(prepared), intervals, horizon)


def monthly_sweep(
    learners: pl.DataFrame,
    needs: pl.DataFrame,
    *,
    timezone: str,
    horizon: datetime,
    lookahead_days: int = 14,
) -> StrategyRun:
    """Bulk-inactivate, at each month start, the learners with nothing to do soon.

    A learner is Active from creation. At each local month start ``E`` after
    ``created_at`` and before ``horizon``, a bulk inactivation (channel ``bulk``
    [1]_) switches off every learner with no need in ``[E, E +
    lookahead_days)``; switching off exactly at the month start does not bill
    that month [1]_. A switched-off learner is switched on at its next need and
    stays on until a sweep finds no need ahead. This is the customer's
    "timely" status management [2]_ done as one monthly routine.

    The Active intervals are ``[created_at, first off-sweep after it)`` and, for
    each off-sweep, ``[first need at or after it, next off-sweep after that
    need)``; a sweep that finds the learner already off changes nothing.

    Parameters
    ----------
    learners, needs : pl.DataFrame
        As for `always_active`.
    timezone : str
        IANA billing time zone.
    horizon : datetime
        Time-zone aware end of the planning period (exclusive): the sweep at a
        month start equal to or after it is not run.
    lookahead_days : int
        How far ahead a sweep looks for needs; not negative. [days]

    Returns
    -------
    StrategyRun
        Every need happens on time.

    Raises
    ------
    ValueError
        As for `always_active`; or if ``lookahead_days`` is negative.
    zoneinfo.ZoneInfoNotFoundError
        If ``timezone`` is unknown.

    References
    ----------
    .. [1] DESIGN.md section 1: channels (``bulk``) and "Deactivating exactly at
       ``start(M+1)`` does not meter M+1."
    .. [2] "Active Learners and Metering", "What is the Customer Responsibility?"
    """
    _require_not_negative(lookahead_days=lookahead_days)
    prepared = _prepare(learners, needs, timezone, horizon)
    ahead = prepared.select("learner_id", pl.col("at").alias("_need")).sort(
        "learner_id", "_need"
    )
    sweeps = _sweeps(learners, timezone, horizon)
    off = (
        _next_need(sweeps, ahead, "swept_at")
        .filter(
            pl.col("_need").is_null()
            | (pl.col("_need") >= pl.col("swept_at") + timedelta(days=lookahead_days))
        )
        .select("learner_id", "swept_at")
    )
    back_on = (
        _next_need(off, ahead, "swept_at")
        .select("learner_id", pl.col("_need").alias("activated_at"))
        .drop_nulls()
    )
    starts = (
        pl.concat(
            [
                learners.select(
                    "learner_id", pl.col("created_at").alias("activated_at")
                ),
                back_on,
            ]
        )
        .unique()
        .sort("learner_id", "activated_at")
    )
    intervals = starts.join_asof(
        off.select("learner_id", pl.col("swept_at").alias("deactivated_at")),
        left_on="activated_at",
        right_on="deactivated_at",
        by="learner_id",
        strategy="forward",
        allow_exact_matches=False,
        check_sortedness=False,
    )
    return _finish(_on_time(prepared), intervals, horizon)


def batched(
    learners: pl.DataFrame,
    needs: pl.DataFrame,
    *,
    timezone: str,
    horizon: datetime,
    max_deferral_days: int = 31,
    grace_days: int = 14,
) -> StrategyRun:
    """Follow the course, and defer messages and documents into billed months.

    First the `course_window` intervals are built from the non-deferrable needs
    only; the months they touch are *already billed*. A deferrable need inside
    those intervals happens on time. One outside them is moved forward (never
    back) to ``max(at, start(M))`` for the first already-billed month ``M`` with
    ``month(at) <= M`` and ``start(M) <= at + max_deferral_days``, and gets a
    spell there, which is free because ``M`` is billed anyway; if there is no
    such month it keeps its time and gets a spell (billing a new month). This
    saves the extra month of the vendor's example, where a document or email in
    May makes May billable [1]_.

    Parameters
    ----------
    learners, needs : pl.DataFrame
        As for `always_active`.
    timezone : str
        IANA billing time zone.
    horizon : datetime
        Time-zone aware end of the planning period (exclusive).
    max_deferral_days : int
        Longest a deferrable need may wait (up to a month start); not negative.
        [days]
    grace_days : int
        As for `course_window`; not negative. [days]

    Returns
    -------
    StrategyRun
        Deferred needs have ``happened_at`` after ``at`` and a positive
        ``delay_days``.

    Raises
    ------
    ValueError
        As for `always_active`; or if ``max_deferral_days`` or ``grace_days`` is
        negative.
    zoneinfo.ZoneInfoNotFoundError
        If ``timezone`` is unknown.

    References
    ----------
    .. [1] "Active Learners and Metering", "If the Learner is commencing their
       course later in the year however I am enrolling them early in the year how
       does that work?": "if you need to add a document or email the Learner in
       May, [...] you will be charged for the month of May."
    """
    _require_not_negative(max_deferral_days=max_deferral_days, grace_days=grace_days)
    prepared = _prepare(learners, needs, timezone, horizon)
    fixed = prepared.filter(~pl.col("deferrable"))
    base = _merge(_window_intervals(learners, fixed, timezone, grace_days), horizon)
    # Months the base intervals touch. Of an open interval only its first month
    # can be the first billed month at or after an uncovered need (a need after
    # its start is covered), so it stands for the rest.
    first = month_index(pl.col("activated_at"), timezone)
    last = month_index(pl.col("deactivated_at") - timedelta(microseconds=1), timezone)
    billed = (
        base.select(
            "learner_id",
            pl.int_ranges(first, last.fill_null(first) + 1, dtype=pl.Int32).alias(
                "_billed"
            ),
        )
        .explode("_billed")
        .unique()
        .sort("learner_id", "_billed")
    )
    covers = base.select(
        "learner_id",
        pl.col("activated_at").alias("_from"),
        pl.col("deactivated_at").alias("_to"),
    )
    covered = pl.col("_from").is_not_null() & (
        pl.col("_to").is_null() | (pl.col("at") < pl.col("_to"))
    )
    flexible = (
        prepared.filter(pl.col("deferrable"))
        .sort("learner_id", "at")
        .join_asof(
            covers,
            left_on="at",
            right_on="_from",
            by="learner_id",
            strategy="backward",
            check_sortedness=False,
        )
        .with_columns(
            covered.alias("_covered"),
            month_index(pl.col("at"), timezone).alias("_month"),
        )
        .sort("learner_id", "_month")
        .join_asof(
            billed,
            left_on="_month",
            right_on="_billed",
            by="learner_id",
            strategy="forward",
            check_sortedness=False,
        )
    )
    flexible = _join_month_start(flexible, pl.col("_billed"), "_billed_start", timezone)
    moved = (
        ~pl.col("_covered")
        & pl.col("_billed_start").is_not_null()
        & (pl.col("_billed_start") <= pl.col("at") + timedelta(days=max_deferral_days))
    )
    flexible = flexible.with_columns(
        pl.when(moved)
        .then(pl.max_horizontal("at", "_billed_start"))
        .otherwise(pl.col("at"))
        .alias("happened_at")
    )
    extra = _spells(flexible.filter(~pl.col("_covered")), "happened_at", timezone)
    done = pl.concat(
        [_on_time(fixed), flexible.select(*prepared.columns, "happened_at")]
    )
    return _finish(done, pl.concat([base, extra]), horizon)


STRATEGIES: dict[str, Callable[..., StrategyRun]] = {
    "always_active": always_active,
    "course_window": course_window,
    "just_in_time": just_in_time,
    "monthly_sweep": monthly_sweep,
    "batched": batched,
}
"""The strategies by name, from neglect to the most managed."""


# -- helpers -----------------------------------------------------------------


def _require_not_negative(**days: int) -> None:
    for name, value in days.items():
        if value < 0:
            msg = f"`{name}` must not be negative, got {value}"
            raise ValueError(msg)


def _check_columns(
    frame: pl.DataFrame, what: str, schema: pl.Schema, nullable: Mapping[str, bool]
) -> None:
    for name, dtype in schema.items():
        if name not in frame.columns:
            msg = f"`{what}`: missing column `{name}` ({dtype} expected)"
            raise ValueError(msg)
        if frame.schema[name] != dtype:
            msg = f"`{what}.{name}`: {dtype} expected, got {frame.schema[name]}"
            raise ValueError(msg)
        if not nullable.get(name, False) and frame[name].null_count():
            msg = f"`{what}.{name}`: must not be null"
            raise ValueError(msg)


def _prepare(
    learners: pl.DataFrame, needs: pl.DataFrame, timezone: str, horizon: datetime
) -> pl.DataFrame:
    """Check the inputs; return the needs with a row number `_ROW` (input order)."""
    ZoneInfo(timezone)  # an unknown zone raises ZoneInfoNotFoundError
    if horizon.tzinfo is None or horizon.utcoffset() is None:
        msg = f"`horizon` must be time-zone aware, got naive {horizon.isoformat()}"
        raise ValueError(msg)
    _check_columns(learners, "learners", LEARNER_COLUMNS, {"course_end": True})
    _check_columns(needs, "needs", NEED_COLUMNS, {"kind": True})
    twice = learners.filter(pl.col("learner_id").is_duplicated())
    if not twice.is_empty():
        msg = f"`learners.learner_id`: {twice['learner_id'][0]!r} is listed twice"
        raise ValueError(msg)
    numbered = needs.with_row_index(_ROW)
    created = numbered.join(
        learners.select("learner_id", pl.col("created_at").alias("_created")),
        on="learner_id",
        how="left",
        maintain_order="left",
    )
    unknown = created.filter(pl.col("_created").is_null())
    if not unknown.is_empty():
        learner = unknown["learner_id"][0]
        msg = f"`needs.learner_id`: learner {learner!r} is not in `learners`"
        raise ValueError(msg)
    early = created.filter(pl.col("at") < pl.col("_created"))
    if not early.is_empty():
        row = early.row(0, named=True)
        learner, at, at_creation = row["learner_id"], row["at"], row["_created"]
        msg = (
            f"`needs.at`: learner {learner!r} has a need at {at.isoformat()}, before "
            f"its creation at {at_creation.isoformat()}"
        )
        raise ValueError(msg)
    return numbered


def _on_time(needs: pl.DataFrame) -> pl.DataFrame:
    """The needs, each happening when it falls due."""
    return needs.with_columns(pl.col("at").alias("happened_at"))


def _join_month_start(
    frame: pl.DataFrame, month: pl.Expr, name: str, timezone: str
) -> pl.DataFrame:
    """Add column ``name``: the local start of month index ``month`` (null stays)."""
    keyed = frame.with_columns(month.cast(pl.Int32).alias("_m"))
    table = month_starts(keyed["_m"].drop_nulls(), timezone).rename({"_start": name})
    return keyed.join(table, on="_m", how="left", maintain_order="left").drop("_m")


def _spells(frame: pl.DataFrame, when: str, timezone: str) -> pl.DataFrame:
    """A spell per row from column ``when``: ``SPELL`` long, cut at a month start."""
    starts = frame.select("learner_id", pl.col(when).alias("activated_at"))
    following = month_index(pl.col("activated_at"), timezone) + 1
    return _join_month_start(starts, following, "_next", timezone).select(
        "learner_id",
        "activated_at",
        pl.min_horizontal(pl.col("activated_at") + SPELL, "_next").alias(
            "deactivated_at"
        ),
    )


def _window_intervals(
    learners: pl.DataFrame, needs: pl.DataFrame, timezone: str, grace_days: int
) -> pl.DataFrame:
    """The `course_window` intervals (not merged): windows and out-of-window spells."""
    creation = _spells(learners, "created_at", timezone).select(
        "learner_id", pl.col("deactivated_at").alias("_creation_end")
    )
    end = pl.col("course_end") + timedelta(days=grace_days)
    windows = learners.join(creation, on="learner_id", maintain_order="left").select(
        "learner_id",
        pl.col("created_at").alias("activated_at"),
        pl.when(end.is_not_null())
        .then(pl.max_horizontal(end, "_creation_end"))
        .alias("deactivated_at"),
    )
    outside = needs.join(
        windows.select("learner_id", pl.col("deactivated_at").alias("_window_end")),
        on="learner_id",
    ).filter(pl.col("at") >= pl.col("_window_end"))
    return pl.concat([windows, _spells(outside, "at", timezone)])


def _sweeps(learners: pl.DataFrame, timezone: str, horizon: datetime) -> pl.DataFrame:
    """Each learner's sweeps: local month starts after creation, before the horizon.

    Returns ``learner_id`` String, ``swept_at`` Datetime(us, UTC), sorted.
    """
    empty = pl.DataFrame(schema={"learner_id": pl.String(), "swept_at": UTC_US})
    if learners.is_empty():
        return empty
    zone = ZoneInfo(timezone)
    first = learners.select(
        month_index(pl.col("created_at").min(), timezone) + 1
    ).item()
    local = horizon.astimezone(zone)
    last = local.year * 12 + local.month - 1
    table = month_starts(range(first, last + 1), timezone)
    utc_horizon = horizon.astimezone(UTC)
    return (
        learners.select("learner_id", "created_at")
        .join(table.filter(pl.col("_start") < utc_horizon), how="cross")
        .filter(pl.col("_start") > pl.col("created_at"))
        .select("learner_id", pl.col("_start").alias("swept_at"))
        .sort("learner_id", "swept_at")
    )


def _next_need(frame: pl.DataFrame, ahead: pl.DataFrame, at: str) -> pl.DataFrame:
    """Add ``_need``: the learner's first need at or after column ``at`` (or null)."""
    return frame.sort("learner_id", at).join_asof(
        ahead,
        left_on=at,
        right_on="_need",
        by="learner_id",
        strategy="forward",
        check_sortedness=False,
    )


def _merge(intervals: pl.DataFrame, horizon: datetime) -> pl.DataFrame:
    """Merge a learner's overlapping or touching intervals.

    An end at or after ``horizon`` becomes null (the learner stays Active), and an
    open interval swallows the learner's later ones. Returns ``learner_id``,
    ``activated_at``, ``deactivated_at`` (null: open), sorted, disjoint and not
    touching.
    """
    utc_horizon = horizon.astimezone(UTC)
    reach = (
        pl.when(pl.col("deactivated_at") < utc_horizon)
        .then(pl.col("deactivated_at"))
        .otherwise(pl.lit(_FOREVER, UTC_US))
    )
    previous = pl.col("_reach").cum_max().shift(1).over("learner_id")
    starts_new = previous.is_null() | (pl.col("activated_at") > previous)
    return (
        intervals.cast(_INTERVALS)
        .with_columns(reach.alias("_reach"))
        .sort("learner_id", "activated_at")
        .with_columns(starts_new.cum_sum().alias("_group"))
        .group_by("learner_id", "_group", maintain_order=True)
        .agg(pl.col("activated_at").min(), pl.col("_reach").max())
        .select(
            "learner_id",
            "activated_at",
            pl.when(pl.col("_reach") < pl.lit(_FOREVER, UTC_US))
            .then(pl.col("_reach"))
            .alias("deactivated_at"),
        )
    )


def _finish(
    needs: pl.DataFrame, intervals: pl.DataFrame, horizon: datetime
) -> StrategyRun:
    """Build the run: merge intervals, write status rows, check every need."""
    merged = _merge(intervals, horizon)
    status = (
        pl.concat(
            [
                merged.select(
                    "learner_id",
                    pl.col("activated_at").alias("changed_at"),
                    pl.lit(value=True).alias("is_active"),
                ),
                merged.filter(pl.col("deactivated_at").is_not_null()).select(
                    "learner_id",
                    pl.col("deactivated_at").alias("changed_at"),
                    pl.lit(value=False).alias("is_active"),
                ),
            ]
        )
        .sort("learner_id", "changed_at")
        .cast(STATUS_COLUMNS)
    )
    state = status.select(
        "learner_id",
        pl.col("changed_at").alias("_changed"),
        pl.col("is_active").alias("_active"),
    )
    delay = (pl.col("happened_at") - pl.col("at")).dt.total_microseconds()
    checked = (
        needs.sort("learner_id", "happened_at")
        .join_asof(
            state,
            left_on="happened_at",
            right_on="_changed",
            by="learner_id",
            strategy="backward",
            check_sortedness=False,
        )
        .with_columns(
            (delay / _MICROSECONDS_PER_DAY).cast(pl.Float64).alias("delay_days"),
            (~pl.col("_active").fill_null(value=False)).alias("blocked"),
        )
        .sort(_ROW)
        .drop(_ROW, "_changed", "_active")
    )
    return StrategyRun(status=status, needs=checked)
