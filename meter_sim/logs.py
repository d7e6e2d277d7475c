"""Status logs and activity logs: formats, readers (CSV, Parquet) and validation.

The formats are those of DESIGN.md section 4. Every row read is either used or
reported back: bad rows raise `LogFormatError` naming the file, line and field;
duplicate rows are counted once and listed in ``rejected`` with the line they
repeat. Rows may come in any order; they are applied in time order.

Line numbers: in a CSV file the header is line 1 and the first data row line 2
(a quoted field holding a line break is not counted as extra lines); in a
Parquet file ``line`` is the 1-based row number.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl

from meter_sim.exceptions import LogFormatError
from meter_sim.lifecycle import ActivityKind, Channel, ReadKind

if TYPE_CHECKING:
    from collections.abc import Sequence

UTC_US = pl.Datetime("us", "UTC")

STATUS_SCHEMA = pl.Schema(
    {
        "line": pl.Int64(),
        "learner_id": pl.String(),
        "changed_at": UTC_US,
        "is_active": pl.Boolean(),
        "event_id": pl.String(),
        "channel": pl.String(),
        "actor": pl.String(),
    }
)
"""Columns of a parsed status log (`StatusLog.events`)."""

ACTIVITY_SCHEMA = pl.Schema(
    {
        "line": pl.Int64(),
        "learner_id": pl.String(),
        "occurred_at": UTC_US,
        "activity": pl.String(),
        "channel": pl.String(),
        "scheduled": pl.Boolean(),
        "event_id": pl.String(),
    }
)
"""Columns of a parsed activity log (`ActivityLog.events`)."""

REJECTED_SCHEMA = pl.Schema(
    {
        "source": pl.String(),
        "line": pl.Int64(),
        "reason": pl.String(),
    }
)
"""Columns of every ``rejected`` frame: which file, which line, and why."""

TRUE_WORDS = ("true", "yes", "y", "1")
FALSE_WORDS = ("false", "no", "n", "0")
ACTIVITY_WORDS = tuple(str(k) for k in (*ActivityKind, *ReadKind))
CHANNEL_WORDS = tuple(str(c) for c in Channel)
MAX_LISTED_ERRORS = 20

_ISO = (
    r"^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?)?"
    r"(?<offset>[+-]\d{2}:?\d{2})?$"
)
_OFFSET = r"T[0-9:.]+[+-]\d{2}:?\d{2}$"


def empty_rejected() -> pl.DataFrame:
    """An empty frame with the columns of `REJECTED_SCHEMA`."""
    return pl.DataFrame(schema=REJECTED_SCHEMA)


@dataclass(frozen=True)
class StatusLog:
    """A validated status log.

    Attributes
    ----------
    events : pl.DataFrame
        Columns of `STATUS_SCHEMA`: ``line`` Int64, ``learner_id`` String,
        ``changed_at`` Datetime(us, UTC), ``is_active`` Boolean, ``event_id``,
        ``channel``, ``actor`` String (nullable). Duplicates removed; sorted by
        ``(learner_id, changed_at, line)``.
    rejected : pl.DataFrame
        Columns of `REJECTED_SCHEMA`: the duplicate rows, each with its reason.
    source : str
        The file (or scenario) the log came from.
    rows_read : int
        Data rows read; ``rows_read == events.height + rejected.height``. [rows]
    """

    events: pl.DataFrame
    rejected: pl.DataFrame
    source: str
    rows_read: int


@dataclass(frozen=True)
class ActivityLog:
    """A validated activity log.

    Attributes
    ----------
    events : pl.DataFrame
        Columns of `ACTIVITY_SCHEMA`: ``line`` Int64, ``learner_id`` String,
        ``occurred_at`` Datetime(us, UTC), ``activity`` String (an `ActivityKind`
        or `ReadKind` value), ``channel`` String (a `Channel` value, default
        ``ui``), ``scheduled`` Boolean, ``event_id`` String (nullable).
        Duplicates removed; sorted by ``(learner_id, occurred_at, line)``.
    rejected : pl.DataFrame
        Columns of `REJECTED_SCHEMA`: the duplicate rows, each with its reason.
    source : str
        The file (or scenario) the log came from.
    rows_read : int
        Data rows read; ``rows_read == events.height + rejected.height``. [rows]
    """

    events: pl.DataFrame
    rejected: pl.DataFrame
    source: str
    rows_read: int


def _read_table(path: Path) -> tuple[pl.DataFrame, int]:
    """Read a CSV (all columns as text) or Parquet file; return it and line offset."""
    if not path.is_file():
        msg = f"{path}: no such file"
        raise LogFormatError(msg, source=str(path))
    suffix = path.suffix.lower()
    try:
        if suffix == ".parquet":
            return pl.read_parquet(path), 1
        if suffix in {".csv", ".txt"}:
            frame = pl.read_csv(path, infer_schema=False)
            return frame.rename(lambda c: c.strip()), 2
    except pl.exceptions.NoDataError:
        msg = f"{path}: the file is empty (a header line is expected)"
        raise LogFormatError(msg, source=str(path)) from None
    except (pl.exceptions.PolarsError, OSError) as exc:
        reason = str(exc).splitlines()[0]
        if "utf-8" in reason.lower():
            reason = "the file is not UTF-8 text"
        msg = f"{path}: cannot be read as {suffix[1:].upper()}: {reason}"
        raise LogFormatError(msg, source=str(path)) from None
    msg = f"{path}: unknown file type {suffix!r}; expected .csv or .parquet"
    raise LogFormatError(msg, source=str(path))


def _check_columns(
    frame: pl.DataFrame, source: str, required: Sequence[str], optional: Sequence[str]
) -> pl.DataFrame:
    missing = [c for c in required if c not in frame.columns]
    if missing:
        names = ", ".join(f"`{c}`" for c in missing)
        msg = (
            f"{source}: missing column(s) {names}; expected {', '.join(required)}"
            f" (optional: {', '.join(optional)}); found {', '.join(frame.columns)}"
        )
        raise LogFormatError(msg, source=source, line=1, field=missing[0])
    return frame.select(
        *required,
        *(
            pl.col(c) if c in frame.columns else pl.lit(None, pl.String).alias(c)
            for c in optional
        ),
    )


def _text(name: str) -> pl.Expr:
    """A column as stripped text with blanks as null."""
    text = pl.col(name).cast(pl.String).str.strip_chars()
    return pl.when(text == "").then(None).otherwise(text)


def _parse_instants(
    frame: pl.DataFrame, name: str, naive_timezone: str | None
) -> tuple[pl.Expr, pl.Expr]:
    """Expressions for the parsed UTC instant of column ``name`` and its error text."""
    dtype = frame.schema[name]
    if isinstance(dtype, pl.Datetime):
        col = pl.col(name).cast(pl.Datetime("us", dtype.time_zone))
        if dtype.time_zone is not None:
            return col.dt.convert_time_zone("UTC"), pl.lit(None, pl.String)
        if naive_timezone is None:
            err = pl.lit(
                "time has no time zone; store it in UTC or pass --naive-timezone TZ"
            )
            return pl.lit(None, UTC_US), pl.when(col.is_not_null()).then(err)
        local = col.dt.replace_time_zone(
            naive_timezone, ambiguous="null", non_existent="null"
        )
        err = pl.lit(f"ambiguous or non-existent local time in {naive_timezone}")
        return local.dt.convert_time_zone("UTC"), pl.when(local.is_null()).then(err)
    text = _text(name).str.replace(r"^(\d{4}-\d{2}-\d{2}) ", "${1}T")
    text = text.str.replace(r"[zZ]$", "+00:00")
    has_offset = text.str.contains(_OFFSET)
    aware = pl.coalesce(
        text.str.to_datetime("%Y-%m-%dT%H:%M:%S%.f%z", strict=False, time_unit="us"),
        text.str.to_datetime("%Y-%m-%dT%H:%M%z", strict=False, time_unit="us"),
    )
    naive = pl.coalesce(
        text.str.to_datetime("%Y-%m-%dT%H:%M:%S%.f", strict=False, time_unit="us"),
        text.str.to_datetime("%Y-%m-%dT%H:%M", strict=False, time_unit="us"),
        text.str.to_datetime("%Y-%m-%d", strict=False, time_unit="us"),
    )
    if naive_timezone is None:
        local = pl.lit(None, UTC_US)
        naive_error = pl.lit(
            "time has no UTC offset; write it like 2018-04-11T09:00:00+10:00 "
            "(or Z), or pass --naive-timezone TZ"
        )
    else:
        local = naive.dt.replace_time_zone(
            naive_timezone, ambiguous="null", non_existent="null"
        ).dt.convert_time_zone("UTC")
        naive_error = (
            pl.when(naive.is_null())
            .then(pl.lit("impossible date or time"))
            .when(local.is_null())
            .then(pl.lit(f"ambiguous or non-existent local time in {naive_timezone}"))
        )
    value = pl.when(has_offset).then(aware).otherwise(local)
    error = (
        pl.when(text.is_null())
        .then(pl.lit("blank; a date-time is expected"))
        .when(~text.str.contains(_ISO))
        .then(pl.lit("not an ISO-8601 date-time (e.g. 2018-04-11T09:00:00+10:00)"))
        .when(has_offset & aware.is_null())
        .then(pl.lit("impossible date or time"))
        .when(~has_offset)
        .then(naive_error)
    )
    return value, error


def _raise_errors(errors: pl.DataFrame, source: str, line_word: str) -> None:
    """Raise one `LogFormatError` listing the first problems (line, field, message)."""
    if errors.is_empty():
        return
    errors = errors.sort("line", "field")
    listed = [
        f"{source}:{'' if line_word == 'line' else 'row '}{line}: `{field}`: {message}"
        for line, field, message in errors.head(MAX_LISTED_ERRORS).iter_rows()
    ]
    more = errors.height - len(listed)
    if more:
        listed.append(f"... and {more} more problem(s)")
    first = errors.row(0, named=True)
    raise LogFormatError(
        "\n".join(listed), source=source, line=first["line"], field=first["field"]
    )


def _collect_errors(frame: pl.DataFrame, checks: dict[str, pl.Expr]) -> pl.DataFrame:
    """Long frame (line, field, message) of every non-null error expression."""
    parts = [
        frame.select(
            "line", pl.lit(field).alias("field"), expr.alias("message")
        ).filter(pl.col("message").is_not_null())
        for field, expr in checks.items()
    ]
    return pl.concat(parts)


def _words_error(name: str, words: Sequence[str], *, required: bool) -> pl.Expr:
    value = _text(name).str.to_lowercase()
    expected = "expected one of " + ", ".join(words)
    bad = pl.format(f"{expected}; got '{{}}'", _text(name))
    check = pl.when(value.is_not_null() & ~value.is_in(words)).then(bad)
    if required:
        return (
            pl.when(value.is_null()).then(pl.lit(f"blank; {expected}")).otherwise(check)
        )
    return check


def _bool_value(name: str) -> pl.Expr:
    value = _text(name).str.to_lowercase()
    return (
        pl.when(value.is_in(TRUE_WORDS))
        .then(True)
        .when(value.is_in(FALSE_WORDS))
        .then(False)
    )


def _learner_id() -> pl.Expr:
    return _text("learner_id")


def _drop_duplicates(
    frame: pl.DataFrame, source: str, content: Sequence[str], time: str
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Split rows into kept ones and duplicates (same event_id, or identical rows).

    Raises `LogFormatError` when one ``event_id`` labels rows of different content.
    """
    with_id = frame.filter(pl.col("event_id").is_not_null())
    clash = (
        with_id.group_by("event_id")
        .agg(
            pl.struct(content).n_unique().alias("variants"),
            pl.col("line").sort().alias("lines"),
        )
        .filter(pl.col("variants") > 1)
    )
    if not clash.is_empty():
        errors = clash.select(
            pl.col("lines").list.get(1).alias("line"),
            pl.lit("event_id").alias("field"),
            pl.format(
                "event_id '{}' is used on lines {} with different content",
                "event_id",
                pl.col("lines").cast(pl.List(pl.String)).list.join(", "),
            ).alias("message"),
        )
        _raise_errors(errors, source, "line")
    first_line = pl.col("line").min().over(content)
    marked = frame.with_columns(first_line.alias("_first"))
    kept = marked.filter(pl.col("line") == pl.col("_first")).drop("_first")
    duplicates = marked.filter(pl.col("line") != pl.col("_first")).select(
        pl.lit(source).alias("source"),
        "line",
        pl.format("duplicate of line {}; counted once", "_first").alias("reason"),
    )
    return kept.sort("learner_id", time, "line"), duplicates.sort("line")


def parse_status_log(
    raw: pl.DataFrame,
    source: str,
    *,
    naive_timezone: str | None = None,
    line_offset: int = 2,
) -> StatusLog:
    """Validate a status log table and turn it into a `StatusLog`.

    Parameters
    ----------
    raw : pl.DataFrame
        Columns ``learner_id``, ``changed_at``, ``is_active`` and optionally
        ``event_id``, ``channel``, ``actor`` (other columns are ignored). Text
        columns are parsed as DESIGN.md section 4 says; ``changed_at`` may also be
        a Datetime column, ``is_active`` a Boolean, ``learner_id`` an integer. A
        ``line`` column, if present, gives each row's line; otherwise row ``i``
        (0-based) is line ``i + line_offset``.
    source : str
        The file name, used in messages and in ``rejected``.
    naive_timezone : str or None
        IANA zone in which times without an offset are read; None makes such
        times an error.
    line_offset : int
        Line of the first row: 2 for a CSV file with a header, 1 for Parquet.

    Returns
    -------
    StatusLog
        Parsed, deduplicated events sorted by learner and time, and the duplicates.

    Raises
    ------
    LogFormatError
        For a missing column, a blank or unparsable value, a time without offset
        (unless ``naive_timezone``), an impossible date, an unknown status or
        channel, an ``event_id`` reused for different rows, or Yes and No for one
        learner at one instant (naming both lines). Up to 20 problems are listed.
    """
    frame = _with_lines(raw, line_offset)
    frame = _check_columns(
        frame,
        source,
        ("line", "learner_id", "changed_at", "is_active"),
        ("event_id", "channel", "actor"),
    )
    changed_at, time_error = _parse_instants(frame, "changed_at", naive_timezone)
    is_active = (
        pl.col("is_active")
        if frame.schema["is_active"] == pl.Boolean
        else _bool_value("is_active")
    )
    checks = {
        "learner_id": pl.when(_learner_id().is_null()).then(pl.lit("blank")),
        "changed_at": time_error,
        "is_active": pl.when(pl.col("is_active").is_null()).then(
            pl.lit("blank; expected one of " + ", ".join(TRUE_WORDS + FALSE_WORDS))
        )
        if frame.schema["is_active"] == pl.Boolean
        else _words_error("is_active", TRUE_WORDS + FALSE_WORDS, required=True),
        "channel": _words_error("channel", CHANNEL_WORDS, required=False),
    }
    line_word = "line" if line_offset == 2 else "row"
    _raise_errors(_collect_errors(frame, checks), source, line_word)
    parsed = frame.select(
        "line",
        _learner_id().alias("learner_id"),
        changed_at.alias("changed_at"),
        is_active.alias("is_active"),
        _text("event_id").alias("event_id"),
        _text("channel").str.to_lowercase().alias("channel"),
        _text("actor").alias("actor"),
    ).cast(STATUS_SCHEMA)
    return prepare_status_log(parsed, source)


def prepare_status_log(events: pl.DataFrame, source: str) -> StatusLog:
    """Deduplicate parsed status events and check for same-instant conflicts.

    Parameters
    ----------
    events : pl.DataFrame
        Columns of `STATUS_SCHEMA` (e.g. from a scenario), any order.
    source : str
        Where the rows came from, for messages.

    Returns
    -------
    StatusLog
        As `parse_status_log`.

    Raises
    ------
    LogFormatError
        If one ``event_id`` labels different rows, or one learner has Yes and No
        at the same instant (the message names both lines).
    """
    content = ("learner_id", "changed_at", "is_active", "event_id", "channel", "actor")
    kept, duplicates = _drop_duplicates(events, source, content, "changed_at")
    # Rows are sorted by (learner_id, changed_at, line), so a conflict shows as a
    # row whose predecessor is the same learner at the same instant, other value.
    clash = (
        (pl.col("learner_id") == pl.col("learner_id").shift(1))
        & (pl.col("changed_at") == pl.col("changed_at").shift(1))
        & (pl.col("is_active") != pl.col("is_active").shift(1))
    ).fill_null(value=False)
    keys = kept.filter(clash).select("learner_id", "changed_at")
    conflicts = (
        kept.join(keys, on=["learner_id", "changed_at"], how="semi")
        .group_by("learner_id", "changed_at")
        .agg(
            pl.col("is_active").n_unique().alias("values"),
            pl.col("line").filter(pl.col("is_active")).min().alias("yes"),
            pl.col("line").filter(~pl.col("is_active")).min().alias("no"),
        )
        .filter(pl.col("values") > 1)
    )
    if not conflicts.is_empty():
        errors = conflicts.select(
            pl.max_horizontal("yes", "no").alias("line"),
            pl.lit("is_active").alias("field"),
            pl.format(
                "learner '{}' is set to Yes (line {}) and No (line {}) at the same "
                "instant {}",
                "learner_id",
                "yes",
                "no",
                pl.col("changed_at").dt.to_string("%Y-%m-%dT%H:%M:%S%.fZ"),
            ).alias("message"),
        )
        _raise_errors(errors, source, "line")
    return StatusLog(kept, duplicates, source, events.height)


def parse_activity_log(
    raw: pl.DataFrame,
    source: str,
    *,
    naive_timezone: str | None = None,
    line_offset: int = 2,
) -> ActivityLog:
    """Validate an activity log table and turn it into an `ActivityLog`.

    Parameters
    ----------
    raw : pl.DataFrame
        Columns ``learner_id``, ``occurred_at``, ``activity`` (an activity kind
        or a read kind of DESIGN.md section 1) and optionally ``channel``,
        ``event_id`` and ``scheduled`` (a boolean word; true for a Learncycle
        scheduled communication). Other columns are ignored.
    source, naive_timezone, line_offset
        As for `parse_status_log`.

    Returns
    -------
    ActivityLog
        Parsed, deduplicated events, and the duplicates.

    Raises
    ------
    LogFormatError
        For a missing column, a blank or bad time, an unknown activity kind or
        channel, a bad ``scheduled`` value, or an ``event_id`` reused for
        different rows.
    """
    frame = _with_lines(raw, line_offset)
    frame = _check_columns(
        frame,
        source,
        ("line", "learner_id", "occurred_at", "activity"),
        ("channel", "event_id", "scheduled"),
    )
    occurred_at, time_error = _parse_instants(frame, "occurred_at", naive_timezone)
    scheduled_is_bool = frame.schema["scheduled"] == pl.Boolean
    checks = {
        "learner_id": pl.when(_learner_id().is_null()).then(pl.lit("blank")),
        "occurred_at": time_error,
        "activity": _words_error("activity", ACTIVITY_WORDS, required=True),
        "channel": _words_error("channel", CHANNEL_WORDS, required=False),
        "scheduled": pl.lit(None, pl.String)
        if scheduled_is_bool
        else _words_error("scheduled", TRUE_WORDS + FALSE_WORDS, required=False),
    }
    line_word = "line" if line_offset == 2 else "row"
    _raise_errors(_collect_errors(frame, checks), source, line_word)
    scheduled = pl.col("scheduled") if scheduled_is_bool else _bool_value("scheduled")
    parsed = frame.select(
        "line",
        _learner_id().alias("learner_id"),
        occurred_at.alias("occurred_at"),
        _text("activity").str.to_lowercase().alias("activity"),
        _text("channel").str.to_lowercase().fill_null(str(Channel.UI)).alias("channel"),
        scheduled.fill_null(value=False).alias("scheduled"),
        _text("event_id").alias("event_id"),
    ).cast(ACTIVITY_SCHEMA)
    return prepare_activity_log(parsed, source)


def prepare_activity_log(events: pl.DataFrame, source: str) -> ActivityLog:
    """Deduplicate parsed activity events (columns of `ACTIVITY_SCHEMA`).

    Raises
    ------
    LogFormatError
        If one ``event_id`` labels rows of different content.
    """
    content = (
        "learner_id",
        "occurred_at",
        "activity",
        "channel",
        "scheduled",
        "event_id",
    )
    kept, duplicates = _drop_duplicates(events, source, content, "occurred_at")
    return ActivityLog(kept, duplicates, source, events.height)


def _with_lines(raw: pl.DataFrame, line_offset: int) -> pl.DataFrame:
    if "line" in raw.columns:
        return raw.with_columns(pl.col("line").cast(pl.Int64))
    return raw.with_row_index("line", offset=line_offset).with_columns(
        pl.col("line").cast(pl.Int64)
    )


def read_status_log(
    path: str | Path, *, naive_timezone: str | None = None
) -> StatusLog:
    """Read and validate a status log file (CSV or Parquet, DESIGN.md section 4).

    Parameters
    ----------
    path : str or Path
        A ``.csv`` (UTF-8, header line) or ``.parquet`` file.
    naive_timezone : str or None
        IANA zone for times written without an offset; None makes them errors.

    Returns
    -------
    StatusLog
        See `parse_status_log`.

    Raises
    ------
    LogFormatError
        If the file is missing, empty, not UTF-8, of an unknown type, or any row is
        invalid (see `parse_status_log`).
    """
    path = Path(path)
    frame, offset = _read_table(path)
    return parse_status_log(
        frame, str(path), naive_timezone=naive_timezone, line_offset=offset
    )


def read_activity_log(
    path: str | Path, *, naive_timezone: str | None = None
) -> ActivityLog:
    """Read and validate an activity log file (CSV or Parquet, DESIGN.md section 4).

    Parameters and errors are as for `read_status_log`; see `parse_activity_log`.
    """
    path = Path(path)
    frame, offset = _read_table(path)
    return parse_activity_log(
        frame, str(path), naive_timezone=naive_timezone, line_offset=offset
    )
