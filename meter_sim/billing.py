"""The billing run: logs and a plan in, learner-months, usage and invoice out.

The one orchestrator of the data flow of DESIGN.md section 2: status log ->
intervals -> billable learner-months -> monthly usage -> invoice lines, with
activity checked against the statuses and every rejected row collected.
"""

from __future__ import annotations

import ctypes
import functools
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl

from meter_sim.elearning import meter_elearning
from meter_sim.exceptions import LogFormatError
from meter_sim.lifecycle import Policy
from meter_sim.logs import (
    LINE,
    OUTSIDE_YEARS,
    REJECTED_SCHEMA,
    SUB_MICROSECOND,
    YEARS,
    Pinned,
    pack_status,
    packable,
    packable_columns,
    parse_status_log,
    prepare_activity_log,
    prepare_status_log,
    read_status_log,
)
from meter_sim.metering import (
    activity_months,
    activity_outcomes,
    known_zone,
    learner_months,
    month_index,
    month_start_date,
    monthly_usage,
    period_of,
    rejected_activity,
    status_intervals,
)
from meter_sim.pricing import invoice, monthly_bill

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from datetime import date

    from meter_sim.elearning import ElearningLog, ElearningMeter
    from meter_sim.logs import ActivityLog, StatusLog
    from meter_sim.pricing import Invoice, Plan
    from meter_sim.scenario import Scenario

DEFAULT_TIMEZONE = "Australia/Sydney"
"""The default billing time zone (DESIGN.md section 1, Metering)."""


@dataclass(frozen=True)
class Bill:
    """Everything a billing run produces.

    Attributes
    ----------
    timezone : str
        IANA billing time zone.
    plan : Plan
        The plan priced.
    first_month, last_month : date
        First days of the period's first and last months.
    intervals : pl.DataFrame
        `meter_sim.metering.status_intervals`: ``learner_id``, ``activated_at``,
        ``deactivated_at`` (null while Active), ``created``.
    learner_months : pl.DataFrame
        ``learner_id`` String, ``month`` Date, ``reason`` Enum; one row per
        billable learner-month, sorted by ``(learner_id, month)``.
    monthly : pl.DataFrame
        `meter_sim.pricing.MONTHLY_BILL_SCHEMA`: the month-by-month bill.
    invoice : Invoice
        Every invoice line (base, overage, minimum-spend true-up, tax) and the
        totals ex and inc tax.
    activity : pl.DataFrame or None
        `meter_sim.metering.activity_outcomes`, when an activity log was given.
    rejected : pl.DataFrame
        ``source``, ``line``, ``reason``: duplicates of both logs and rejected
        activities, sorted by source and line.
    inputs : pl.DataFrame
        One row per input log: ``input`` String (``"<source> (status log)"`` or
        ``"<source> (activity log)"``), ``rows_read``, ``rows_used``,
        ``rows_rejected`` Int64, with ``rows_read == rows_used + rows_rejected``.
        [rows]
    still_active : int
        Learners still Active at the end of the log (billed through
        ``last_month`` only). [learners]
    learner_month_count : int
        Rows of ``learner_months``. [learner-months]
    coded_intervals : pl.LazyFrame
        ``intervals`` as the engine makes them (computed when asked for), with
        ``learner_id`` UInt32 codes when ``learners`` is given.
    coded_learner_months : pl.DataFrame or None
        ``learner_months`` as the engine made them, codes likewise; None for a
        bill run with `bill_streaming`, whose learner-months are in
        ``learner_months_file``.
    learners : pl.Series or None
        String: the learner id of each code (`meter_sim.logs.PackedStatus`), for
        a status log read on the fast path; ``intervals`` and
        ``learner_months`` turn the codes back into ids the first time they are
        asked for.
    learner_months_file : Path or None
        Where `bill_streaming` wrote the learner-months.
    elearning : ElearningMeter or None
        The e-Learning meter (`meter_sim.elearning.meter_elearning`), when an
        e-Learning enrolment log was given: its learner-months, usage and
        rejected rows (also in ``rejected``); ``monthly`` then has the
        e-Learning columns and ``invoice`` its overage lines.
    """

    timezone: str
    plan: Plan
    first_month: date
    last_month: date
    monthly: pl.DataFrame
    invoice: Invoice
    activity: pl.DataFrame | None
    rejected: pl.DataFrame
    inputs: pl.DataFrame
    still_active: int
    learner_month_count: int
    coded_intervals: pl.LazyFrame = field(repr=False)
    coded_learner_months: pl.DataFrame | None = field(repr=False)
    learners: pl.Series | None = field(default=None, repr=False)
    learner_months_file: Path | None = None
    elearning: ElearningMeter | None = None

    @functools.cached_property
    def intervals(self) -> pl.DataFrame:
        """The status intervals, learner ids as text (see the class docstring)."""
        return self._decoded(self.coded_intervals.collect())

    @functools.cached_property
    def learner_months(self) -> pl.DataFrame:
        """The billable learner-months, learner ids as text (class docstring)."""
        if self.coded_learner_months is None:
            assert self.learner_months_file is not None  # set by bill_streaming
            return pl.read_parquet(self.learner_months_file)
        return self._decoded(self.coded_learner_months)

    def _decoded(self, frame: pl.DataFrame) -> pl.DataFrame:
        if self.learners is None:
            return frame
        return frame.with_columns(self.learners.gather(frame["learner_id"]))

    def write_learner_months(self, path: Path) -> None:
        """Write the learner-months to a ``.csv`` or ``.parquet`` file.

        As `meter_sim.reports.write_report`. A large Parquet file is written
        with the ids decoded a batch at a time, so the text column is never held
        whole in memory.

        Raises
        ------
        LogFormatError
            As `meter_sim.reports.write_report`.
        """
        from meter_sim.reports import write_report

        months, learners = self.coded_learner_months, self.learners
        parquet = path.suffix.lower() == ".parquet" and not path.is_dir()
        if months is None or learners is None or not parquet:
            write_report(self.learner_months, path)
            return
        _sink_decoded(months, learners, path)


LEARNER_MONTHS_ZSTD_LEVEL = 1
"""Zstandard level of learner-months written to Parquet: the fastest; the file
is about 10% larger than at polars' default level, and smaller than snappy's."""


def _sink_decoded(months: pl.DataFrame, learners: pl.Series, path: Path) -> None:
    """Write coded learner-months to Parquet, decoding ids a batch at a time."""
    ids = pl.col("learner_id").map_batches(
        learners.gather, return_dtype=pl.String, is_elementwise=True
    )
    try:
        months.lazy().with_columns(ids).sink_parquet(
            path, compression_level=LEARNER_MONTHS_ZSTD_LEVEL
        )
    except (OSError, pl.exceptions.PolarsError) as exc:
        raise LogFormatError.unwritable(path, exc, "report") from None


def _accounting(
    label: str, rows_read: int, rejected: Sequence[pl.DataFrame | int]
) -> tuple[str, int, int, int]:
    """One row of `Bill.inputs`; ``rejected``: frames of rejected rows, or counts."""
    gone = sum(part if isinstance(part, int) else part.height for part in rejected)
    return label, rows_read, rows_read - gone, gone


def check_timezone(timezone: str, *, field: str = "timezone") -> str:
    """Return ``timezone`` if it is an IANA zone that both zoneinfo and polars know.

    Parameters
    ----------
    timezone : str
        E.g. ``"Australia/Sydney"``.
    field : str
        The option or key named in the error, e.g. ``"naive-timezone"``.

    Raises
    ------
    LogFormatError
        If the zone is unknown.
    """
    if not known_zone(timezone):
        msg = f"`{field}`: unknown IANA time zone {timezone!r} (e.g. Australia/Sydney)"
        raise LogFormatError(msg, field=field)
    return timezone


def check_months(first_month: date | None, last_month: date | None) -> None:
    """Refuse a first or last month outside the supported years.

    The years are `meter_sim.logs.YEARS` (1900 to 2199), as for the times of a
    log and the command's ``--from`` and ``--through``; the month tables cover
    no more, so a month outside them would be metered wrongly.

    Parameters
    ----------
    first_month, last_month : date or None
        The period's months as given (None: not given, nothing to check).

    Raises
    ------
    LogFormatError
        If either month's year is outside `meter_sim.logs.YEARS`; ``field`` is
        ``"from"`` or ``"through"``.
    """
    for month, option in ((first_month, "from"), (last_month, "through")):
        if month is not None and not YEARS[0] <= month.year <= YEARS[1]:
            shown = f"{month.year:04d}-{month.month:02d}"
            msg = f"`--{option}` {shown} is {OUTSIDE_YEARS}"
            raise LogFormatError(msg, field=option)


def bill(
    status: StatusLog,
    activity: ActivityLog | None = None,
    *,
    plan: Plan,
    timezone: str = DEFAULT_TIMEZONE,
    first_month: date | None = None,
    last_month: date | None = None,
    policy: Policy | None = None,
    elearning: ElearningLog | None = None,
) -> Bill:
    """Meter a status log (and an e-Learning enrolment log) and price them.

    Parameters
    ----------
    status : StatusLog
        The validated status log.
    activity : ActivityLog or None
        Activities to check against the statuses; rejected ones are reported,
        never billed.
    plan : Plan
        The price book entry.
    timezone : str
        IANA billing time zone; months are calendar months there.
    first_month, last_month : date or None
        First days of the first and last months reported; default the months of
        the status log's first row and of the last row of the status log or
        the e-Learning log.
    policy : Policy or None
        Rule switches (scheduled communications; the definition of an Active
        Learner: under ``flag_or_activity`` a month with activity while
        inactive is billed, reason ``activity_while_inactive``); default
        `Policy()`.
    elearning : ElearningLog or None
        e-Learning enrolments, metered by the second meter over the same
        period (`meter_sim.elearning`); enablings while LRM-inactive are
        rejected. The plan then prices both meters.

    Returns
    -------
    Bill
        Learner-months, month-by-month bill, invoice lines and rejections.

    Raises
    ------
    LogFormatError
        If the time zone is unknown, ``first_month`` or ``last_month`` is outside
        the supported years 1900 to 2199 (`check_months`), the period is
        reversed, or the status log has no rows and no period is given.

    References
    ----------
    .. [1] DESIGN.md sections 1 and 2.
    """
    check_timezone(timezone)
    check_months(first_month, last_month)
    packed = status.packed
    events = status.events if packed is None else packed.events
    if first_month is None or last_month is None:
        if events.is_empty():
            msg = f"{status.source}: the status log has no rows; nothing to bill"
            if status.rows_read:  # only blank records: say where they went
                msg += f" ({status.rows_read} rows read, all blank records)"
            raise LogFormatError(msg, source=status.source)
        default_first, default_last = period_of(events, timezone)
        if elearning is not None and not elearning.events.is_empty():
            # Through the e-Learning log's last row too (an enrolment disabled
            # later still bills until then); not earlier than the status log,
            # as nobody can be enabled before the learner exists.
            later = period_of(elearning.events, timezone)[1]
            default_last = max(default_last, later)
        first_month = first_month or default_first
        last_month = last_month or default_last
    if first_month > last_month:
        msg = f"`--from` {first_month:%Y-%m} is after `--through` {last_month:%Y-%m}"
        raise LogFormatError(msg, field="from")
    policy = policy or Policy()
    intervals = status_intervals(events.lazy())
    months = learner_months(intervals, timezone, first_month, last_month).collect()
    rejected = [status.rejected]
    inputs = [_accounting(f"{status.source} (status log)", status.rows_read, rejected)]
    outcomes = None
    if activity is not None:
        outcomes = activity_outcomes(activity.events, status.events, policy)
        refused = [
            activity.rejected,
            rejected_activity(outcomes, activity.source, timezone),
        ]
        label = f"{activity.source} (activity log)"
        inputs.append(_accounting(label, activity.rows_read, refused))
        rejected += refused
        if policy.definition == "flag_or_activity":
            extra = activity_months(outcomes, timezone, first_month, last_month)
            if packed is not None:
                extra = _encoded(extra, packed.learners)
            months = _with_activity_months(months, extra)
    usage = monthly_usage(months.lazy(), first_month, last_month).collect()
    second = None
    if elearning is not None:
        second = meter_elearning(
            elearning,
            status.events,
            timezone=timezone,
            first=first_month,
            last=last_month,
        )
        usage = usage.join(second.usage, on="month", how="left")
        label = f"{elearning.source} (e-Learning log)"
        inputs.append(_accounting(label, elearning.rows_read, [second.rejected]))
        rejected.append(second.rejected)
    return Bill(
        timezone=timezone,
        plan=plan,
        first_month=first_month,
        last_month=last_month,
        still_active=_still_active(events),
        learner_month_count=months.height,
        coded_intervals=intervals,
        coded_learner_months=months,
        learners=None if packed is None else packed.learners,
        monthly=monthly_bill(usage, plan),
        invoice=invoice(usage, plan),
        activity=outcomes,
        elearning=second,
        rejected=pl.concat(rejected).cast(REJECTED_SCHEMA).sort("source", "line"),
        inputs=pl.DataFrame(
            inputs,
            schema=["input", "rows_read", "rows_used", "rows_rejected"],
            orient="row",
        ),
    )


def _encoded(frame: pl.DataFrame, learners: pl.Series) -> pl.DataFrame:
    """``frame`` with its ``learner_id`` text turned into the fast path's codes.

    ``learners`` is `meter_sim.logs.PackedStatus.learners`; every id of ``frame``
    must be in it (activity months are of learners of the status log).
    """
    codes = pl.DataFrame({"learner_id": learners}).with_row_index("code")
    return (
        frame.join(codes, on="learner_id", how="inner")
        .select(pl.col("code").cast(pl.UInt32).alias("learner_id"), "month", "reason")
        .sort("learner_id", "month")
    )


def _with_activity_months(months: pl.DataFrame, extra: pl.DataFrame) -> pl.DataFrame:
    """Learner-months with the Terms' activity months added where none is billed.

    A month the flag already bills keeps its reason (`metering.REASONS` order).
    """
    added = extra.join(months, on=["learner_id", "month"], how="anti")
    return pl.concat([months, added]).sort("learner_id", "month")


BUCKET = "__bucket__"
"""Column naming each row's id range while `bill_streaming` splits a log."""

STREAM_CHUNK_ROWS = 8_000_000
"""Status rows billed at a time by `bill_streaming` (bounds its memory). [rows]"""


def bill_streaming(
    path: Path,
    learner_months_file: Path,
    *,
    plan: Plan,
    timezone: str = DEFAULT_TIMEZONE,
    first_month: date | None = None,
    last_month: date | None = None,
    chunk_rows: int = STREAM_CHUNK_ROWS,
    rejected_file: Path | None = None,
) -> Bill:
    """Bill a status log larger than memory, a range of learners at a time.

    The learners are split by id into ranges of about ``chunk_rows`` rows (from
    a sample of the ids); each range is read (only its rows are kept), packed
    and billed as by `bill`, and its learner-months are written to a part file;
    the parts, in id order, are then joined into ``learner_months_file``. A
    learner's rows all fall in one range, so the learner-months, monthly counts,
    duplicates and conflicts are those of `bill` on the whole log. Peak memory is
    about that of `bill` on ``chunk_rows`` rows (about 1 GiB for the default),
    whatever the size of the log.

    Parameters
    ----------
    path : Path
        A Parquet status log that `meter_sim.logs.packable` accepts.
    learner_months_file : Path
        The ``.parquet`` file the learner-months are written to (replaced).
    plan, timezone, first_month, last_month
        As for `bill`; the default period is that of the whole log.
    chunk_rows : int
        Rows per range, roughly. [rows]
    rejected_file : Path or None
        Write the rejected rows (duplicates) to this ``.csv`` or ``.parquet``
        file (as `meter_sim.reports.write_report`), a range at a time, in
        order of learner range then line, instead of keeping them in memory:
        then memory does not grow with the number of rejected rows either.

    Returns
    -------
    Bill
        As `bill`, with ``coded_learner_months`` None (the learner-months are
        in ``learner_months_file``) and ``intervals`` not available; with
        ``rejected_file``, ``rejected`` is empty (``inputs`` counts them).

    Raises
    ------
    LogFormatError
        As `meter_sim.logs.read_status_log` and `bill`; also if the file cannot
        take the fast path (then bill it without streaming).
    """
    check_timezone(timezone)
    check_months(first_month, last_month)
    source = str(path)
    schema, pin = _streamable(path)
    scan = pl.scan_parquet(pin.reading, glob=False)
    at = pl.col("changed_at")
    rows, earliest, latest = (
        scan.select(
            pl.len(),
            month_start_date(month_index(at.min(), timezone)).alias("a"),
            month_start_date(month_index(at.max(), timezone)).alias("b"),
        )
        .collect(engine="streaming")
        .row(0)
    )
    if rows == 0:  # nothing to stream: bill it the ordinary way
        return bill(
            read_status_log(path),
            plan=plan,
            timezone=timezone,
            first_month=first_month,
            last_month=last_month,
        )
    first_month = first_month or earliest
    last_month = last_month or latest
    ids = pl.col("learner_id").cast(pl.String)
    edges = _id_ranges(scan, ids, rows, chunk_rows)
    try:
        work = Path(
            tempfile.mkdtemp(prefix=".meter-sim-", dir=learner_months_file.parent)
        )
    except OSError as exc:
        raise LogFormatError.unwritable(learner_months_file, exc, "report") from None
    (work / "rejected").mkdir()
    bills: list[_Summary] = []
    try:
        # One streaming pass splits the log by id range into files, row numbers
        # kept (a sum of comparisons streams; search_sorted would not).
        bucket = pl.sum_horizontal(
            pl.lit(0, pl.UInt32), *((ids >= edge).cast(pl.UInt32) for edge in edges)
        )
        # Private names: a log's own columns called `line` or `bucket` stay its own.
        scan.drop(LINE, BUCKET, strict=False).with_row_index(
            LINE, offset=1
        ).with_columns(bucket.fill_null(0).alias(BUCKET)).sink_parquet(
            pl.PartitionBy(work / "in", key=BUCKET, include_key=False)
        )
        pin.check()  # the last read of the log itself
        for index in range(len(edges) + 1):
            folder = work / "in" / f"{BUCKET}={index}"
            if not folder.exists():
                continue
            status = _bill_part(pl.scan_parquet(folder / "*.parquet"), schema, source)
            part = bill(
                status,
                plan=plan,
                timezone=timezone,
                first_month=first_month,
                last_month=last_month,
            )
            part.write_learner_months(work / f"{index:05d}.parquet")
            if rejected_file is not None:  # spilled: memory stays bounded
                part.rejected.write_parquet(work / "rejected" / f"{index:05d}.parquet")
            bills.append(_summary(part, keep_rejected=rejected_file is None))
            del part  # keep only the summary: memory stays that of one range
            _trim_heap()
        parts = sorted(work.glob("*.parquet"))
        try:
            pl.scan_parquet(parts).sink_parquet(learner_months_file)
        except (OSError, pl.exceptions.PolarsError) as exc:
            raise LogFormatError.unwritable(
                learner_months_file, exc, "report"
            ) from None
        if rejected_file is not None:
            from meter_sim.reports import write_report

            spilled = sorted((work / "rejected").glob("*.parquet"))
            write_report(pl.scan_parquet(spilled), rejected_file)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return _joined(
        bills,
        plan=plan,
        timezone=timezone,
        source=source,
        rows=rows,
        out=learner_months_file,
    )


def _trim_heap() -> None:
    """Give the C heap's free memory back to the system (glibc's ``malloc_trim``).

    Between the ranges of `bill_streaming`, so that what one range freed does
    not stay in the process and add up over many ranges (measured: the
    high-water mark then stays flat over 30 ranges instead of rising 11%).
    Elsewhere than glibc, nothing.
    """
    try:
        trim = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):
        return
    trim(0)


def _streamable(path: Path) -> tuple[pl.Schema, Pinned]:
    """The schema of a log `bill_streaming` can bill, and the file's identity.

    Raises `LogFormatError` if the file is missing, a folder, or not a typed
    Parquet log that `meter_sim.logs.packable` accepts.
    """
    if not path.is_file():
        what = "is a folder; a .parquet file is expected" if path.is_dir() else None
        msg = f"{path}: {what or 'no such file'}"
        raise LogFormatError(msg, source=str(path))
    pin = Pinned(path)  # the file is read several times: the same file
    try:
        schema = pl.read_parquet_schema(pin.reading)
    except (pl.exceptions.PolarsError, OSError):
        schema = pl.Schema()
    at = schema.get("changed_at")
    if isinstance(at, pl.Datetime) and at.time_unit == "ns":
        # Nanosecond columns stream when every time is a whole microsecond.
        finer = pl.col("changed_at").dt.nanosecond() % 1000 != 0
        row = pl.scan_parquet(pin.reading, glob=False).select(
            pl.arg_where(finer).first()
        )
        first = row.collect().item()
        if first is not None:
            msg = f"{path}:row {first + 1}: `changed_at`: {SUB_MICROSECOND}"
            raise LogFormatError(
                msg, source=str(path), line=first + 1, field="changed_at"
            )
        schema = {**schema, "changed_at": pl.Datetime("us", at.time_zone)}
    if not packable(schema):
        msg = (
            f"{path}: streaming needs a Parquet status log with `learner_id` text "
            "or integer, `changed_at` a time-zone-aware timestamp (ms or us), "
            "`is_active` a boolean, and no other status columns; bill it without "
            "--streaming"
        )
        raise LogFormatError(msg, source=str(path))
    return pl.Schema(schema), pin


def _bill_part(
    chunk: pl.LazyFrame, schema: Mapping[str, pl.DataType], source: str
) -> StatusLog:
    """Pack one id range of a streamed log (its ``line`` column kept).

    A range the fast path cannot pack (blank records, or values to report) is
    read the general way, which rejects or reports them as `bill` would.
    """
    columns = [*packable_columns(schema), pl.col(LINE).cast(pl.Int64).alias("line")]
    status = pack_status(chunk.select(columns), source, loader=_no_events)
    if status is None:
        return parse_status_log(chunk.collect(), source, line_word="row")
    return status


def _no_events() -> pl.DataFrame:
    msg = "a streamed status log keeps no events; read it with read_status_log"
    raise LogFormatError(msg)


def _id_ranges(
    scan: pl.LazyFrame, ids: pl.Expr, rows: int, chunk_rows: int
) -> list[str]:
    """Ids splitting the learners into ranges of about ``chunk_rows`` rows."""
    ranges = -(-rows // chunk_rows)
    if ranges <= 1:
        return []
    every = max(1, rows // (ranges * 1_000))
    sample = (
        scan.select(ids.alias("id"))
        .gather_every(every)
        .drop_nulls()
        .collect(engine="streaming")
        .to_series()
        .sort()
    )
    picks = [sample[len(sample) * k // ranges] for k in range(1, ranges)]
    return sorted(set(picks))


@dataclass(frozen=True)
class _Summary:
    """What `bill_streaming` keeps of the bill of one range of learners."""

    usage: pl.DataFrame
    rejected: pl.DataFrame
    rejected_rows: int
    still_active: int
    learner_month_count: int
    first_month: date
    last_month: date


def _summary(part: Bill, *, keep_rejected: bool) -> _Summary:
    rejected = part.rejected if keep_rejected else part.rejected.clear()
    return _Summary(
        part.monthly.select("month", "billable_learners"),
        rejected,
        part.rejected.height,
        part.still_active,
        part.learner_month_count,
        part.first_month,
        part.last_month,
    )


def _joined(
    parts: list[_Summary],
    *,
    plan: Plan,
    timezone: str,
    source: str,
    rows: int,
    out: Path,
) -> Bill:
    """One bill from the bills of disjoint ranges of learners."""
    usage = (
        pl.concat([p.usage for p in parts])
        .group_by("month")
        .agg(pl.col("billable_learners").sum().cast(pl.UInt32))
        .sort("month")
    )
    rejected = pl.concat([p.rejected for p in parts]).sort("source", "line")
    label = f"{source} (status log)"
    return Bill(
        timezone=timezone,
        plan=plan,
        first_month=parts[0].first_month,
        last_month=parts[0].last_month,
        monthly=monthly_bill(usage, plan),
        invoice=invoice(usage, plan),
        activity=None,
        rejected=rejected,
        inputs=pl.DataFrame(
            [_accounting(label, rows, [sum(p.rejected_rows for p in parts)])],
            schema=["input", "rows_read", "rows_used", "rows_rejected"],
            orient="row",
        ),
        still_active=sum(p.still_active for p in parts),
        learner_month_count=sum(p.learner_month_count for p in parts),
        coded_intervals=pl.LazyFrame(),
        coded_learner_months=None,
        learners=None,
        learner_months_file=out,
    )


def _still_active(events: pl.DataFrame) -> int:
    """Learners whose last row is Yes (events sorted by learner and time)."""
    last = pl.col("learner_id") != pl.col("learner_id").shift(-1)
    return int(
        events.select((last.fill_null(value=True) & pl.col("is_active")).sum()).item()
    )


def run_scenario(scenario: Scenario, *, policy: Policy | None = None) -> Bill:
    """Bill a scenario's learners with its plan, time zone and period.

    Parameters
    ----------
    scenario : Scenario
        As returned by `meter_sim.scenario.load_scenario`.
    policy : Policy or None
        Rule switches; default `Policy()`.

    Returns
    -------
    Bill
        As `bill`; ``rejected`` lines are the scenario file's YAML lines. The
        learners' ``elearning`` entries, if any, are metered by the second
        meter (``Bill.elearning``).

    Raises
    ------
    LogFormatError
        If one learner is set to Yes and No at the same instant (naming both
        YAML lines).
    """
    source = str(scenario.source)
    period = scenario.period or (None, None)
    return bill(
        prepare_status_log(scenario.status_frame(), source),
        prepare_activity_log(scenario.activity_frame(), source),
        plan=scenario.plan,
        timezone=scenario.timezone,
        first_month=period[0],
        last_month=period[1],
        policy=policy,
        elearning=scenario.elearning_log(),
    )
