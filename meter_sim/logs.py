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

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl

from meter_sim.exceptions import LogFormatError
from meter_sim.lifecycle import ActivityKind, Channel, ReadKind

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

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

STATUS_REQUIRED = ("learner_id", "changed_at", "is_active")
ACTIVITY_REQUIRED = ("learner_id", "occurred_at", "activity")
TRUE_WORDS = ("true", "yes", "y", "1")
FALSE_WORDS = ("false", "no", "n", "0")
ACTIVITY_WORDS = tuple(str(k) for k in (*ActivityKind, *ReadKind))
CHANNEL_WORDS = tuple(str(c) for c in Channel)
MAX_LISTED_ERRORS = 20

_ISO = (
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}(T[0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,9})?)?)?"
    r"(?<offset>[+-][0-9]{2}:?[0-9]{2})?$"
)
_OFFSET = r"T[0-9:.]+[+-][0-9]{2}:?[0-9]{2}$"


@dataclass(frozen=True)
class _Log:
    """A validated log: its events, its duplicates, and where it came from.

    Attributes
    ----------
    events : pl.DataFrame
        The parsed rows, duplicates removed (columns: see the subclass).
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


class StatusLog(_Log):
    """A validated status log (attributes as `_Log`).

    ``events`` has the columns of `STATUS_SCHEMA`: ``line`` Int64, ``learner_id``
    String, ``changed_at`` Datetime(us, UTC), ``is_active`` Boolean,
    ``event_id``, ``channel``, ``actor`` String (nullable); sorted by
    ``(learner_id, changed_at, line)``.
    """


class ActivityLog(_Log):
    """A validated activity log (attributes as `_Log`).

    ``events`` has the columns of `ACTIVITY_SCHEMA`: ``line`` Int64,
    ``learner_id`` String, ``occurred_at`` Datetime(us, UTC), ``activity`` String
    (an `ActivityKind` or `ReadKind` value), ``channel`` String (a `Channel`
    value, default ``ui``), ``scheduled`` Boolean, ``event_id`` String
    (nullable); sorted by ``(learner_id, occurred_at, line)``.
    """


LINE = "__line__"
"""Internal column: each row's physical line (CSV) or 1-based row (Parquet)."""

YEARS = (1900, 2199)
"""Times must fall in these years (inclusive); others are surely typing errors."""

SHOWN_CHARACTERS = 60
"""Values quoted in messages are cut to this many characters. [characters]"""


def _read_table(path: Path) -> tuple[pl.DataFrame, str]:
    """Read a CSV (all columns as text) or Parquet file.

    Returns the frame with a `LINE` column, and the word for its positions
    (``"line"`` for CSV, ``"row"`` for Parquet). Paths are taken literally (no
    glob patterns). CSV rows that are entirely blank are skipped; a quoted field
    holding line breaks moves the following rows' line numbers on accordingly.
    """
    if path.is_dir():
        msg = f"{path}: is a folder; a .csv or .parquet file is expected"
        raise LogFormatError(msg, source=str(path))
    if not path.is_file():
        msg = f"{path}: no such file"
        raise LogFormatError(msg, source=str(path))
    suffix = path.suffix.lower()
    if suffix not in {".csv", ".txt", ".parquet"}:
        msg = f"{path}: unknown file type {suffix!r}; expected .csv or .parquet"
        raise LogFormatError(msg, source=str(path))
    try:
        if suffix == ".parquet":
            frame = pl.read_parquet(path, glob=False)
            return frame.with_row_index(LINE, offset=1).cast({LINE: pl.Int64}), "row"
        frame = _read_csv(path)
    except pl.exceptions.NoDataError:
        msg = f"{path}: the file is empty (a header line is expected)"
        raise LogFormatError(msg, source=str(path)) from None
    except (pl.exceptions.PolarsError, OSError) as exc:
        raise _unreadable(path, suffix, exc) from None
    return frame, "line"


def _read_csv(path: Path) -> pl.DataFrame:
    with path.open("rb") as handle:
        start = handle.read(4)
    if start[:2] in (b"\xff\xfe", b"\xfe\xff"):
        msg = f"{path}: the file is UTF-16 text; save it as UTF-8 (CSV UTF-8)"
        raise LogFormatError(msg, source=str(path))
    frame = pl.read_csv(path, infer_schema=False, glob=False)
    frame = frame.rename(lambda c: c.strip())
    twice = [
        c.removesuffix("_duplicated_0") for c in frame.columns if "_duplicated_" in c
    ]
    if twice:
        msg = f"{path}:1: column `{twice[0]}` appears more than once in the header"
        raise LogFormatError(msg, source=str(path), line=1, field=twice[0])
    if frame.width == 1 and any(sep in frame.columns[0] for sep in ";\t|"):
        msg = (
            f"{path}:1: the header {frame.columns[0][:SHOWN_CHARACTERS]!r} is one "
            "column; fields must be separated by commas"
        )
        raise LogFormatError(msg, source=str(path), line=1)
    # Line of each record: 2 for the first, plus the line breaks inside quoted
    # fields of the records before it.
    breaks = pl.sum_horizontal(
        pl.col(c).str.count_matches("\n").fill_null(0) for c in frame.columns
    )
    blank = pl.all_horizontal(
        pl.col(c).is_null() | (pl.col(c).str.strip_chars() == "") for c in frame.columns
    )
    lines = pl.int_range(pl.len(), dtype=pl.Int64) + 2 + breaks.cum_sum() - breaks
    return frame.with_columns(lines.alias(LINE)).filter(~blank)


def _unreadable(path: Path, suffix: str, exc: Exception) -> LogFormatError:
    """A clear error for a file the reader refused, with the line where possible."""
    reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    line = None
    if "utf-8" in reason.lower() or "utf8" in reason.lower():
        reason = "the file is not UTF-8 text (save it as CSV UTF-8)"
    elif suffix != ".parquet":
        line = _first_ragged_line(path)
        if line is not None:
            reason = (
                "this record has a different number of fields than the header "
                "(check commas and quotes)"
            )
    where = f"{path}:{line}" if line else str(path)
    kind = "Parquet" if suffix == ".parquet" else "CSV"
    msg = f"{where}: cannot be read as {kind}: {reason[:200]}"
    return LogFormatError(msg, source=str(path), line=line)


def _first_ragged_line(path: Path) -> int | None:
    """The line of the first CSV record whose field count differs from the header."""
    try:
        with path.open(newline="", encoding="utf-8", errors="replace") as handle:
            reader = csv.reader(handle)
            header = next(reader, [])
            for record in reader:
                if record and len(record) != len(header):
                    return reader.line_num
    except csv.Error:
        return None
    return None


_KINDS: dict[str, tuple[str, Callable[[pl.DataType], bool]]] = {
    "text": (
        "text",
        lambda d: d in (pl.String, pl.Categorical, pl.Null) or isinstance(d, pl.Enum),
    ),
    "id": ("text or a whole number", lambda d: _KINDS["text"][1](d) or d.is_integer()),
    "time": (
        "text or a timestamp",
        lambda d: _KINDS["text"][1](d) or isinstance(d, pl.Datetime),
    ),
    "flag": (
        "text, a boolean or 0/1",
        lambda d: _KINDS["text"][1](d) or d == pl.Boolean or d.is_integer(),
    ),
    "month": (
        "text (YYYY-MM) or a date",
        lambda d: _KINDS["text"][1](d) or d == pl.Date,
    ),
    "date": (
        "text (YYYY-MM-DD) or a date",
        lambda d: _KINDS["text"][1](d) or d == pl.Date,
    ),
    "count": (
        "text or a whole number",
        lambda d: _KINDS["text"][1](d) or d.is_integer(),
    ),
    "money": (
        "text or a decimal (not a float: floats cannot hold cents exactly)",
        lambda d: _KINDS["text"][1](d) or d.is_integer() or isinstance(d, pl.Decimal),
    ),
}


def _columns(
    raw: pl.DataFrame,
    source: str,
    kinds: dict[str, str],
    required: Sequence[str],
    line_word: str,
) -> pl.DataFrame:
    """Select the log's columns (absent optional ones as nulls) and `LINE`.

    Raises `LogFormatError` for a missing required column, or a Parquet column
    of a type that cannot hold the field.
    """
    missing = [c for c in required if c not in raw.columns]
    if missing:
        names = ", ".join(f"`{c}`" for c in missing)
        optional = [c for c in kinds if c not in required]
        found = ", ".join(c[:SHOWN_CHARACTERS] for c in raw.columns if c != LINE)
        msg = (
            f"{source}: missing column(s) {names}; expected {', '.join(required)}"
            f" (optional: {', '.join(optional)}); found {found}"
        )
        raise LogFormatError(msg, source=source, line=1, field=missing[0])
    for name, kind in kinds.items():
        dtype = raw.schema.get(name)
        expected, fits = _KINDS[kind]
        if dtype is not None and not fits(dtype):
            msg = f"{source}: column `{name}` holds {dtype}; expected {expected}"
            raise LogFormatError(msg, source=source, field=name)
    if LINE not in raw.columns:
        raw = raw.with_row_index(LINE, offset=2 if line_word == "line" else 1)
    return raw.select(
        pl.col(LINE).cast(pl.Int64).alias("line"),
        *(
            pl.col(c).cast(pl.String)
            if c in raw.columns and _KINDS["text"][1](raw.schema[c])
            else pl.col(c)
            if c in raw.columns
            else pl.lit(None, pl.String).alias(c)
            for c in kinds
        ),
    )


def _shown(name: str) -> pl.Expr:
    """A column's text as quoted in messages: cut to `SHOWN_CHARACTERS`."""
    text = _text(name)
    return (
        pl.when(text.str.len_chars() > SHOWN_CHARACTERS)
        .then(text.str.slice(0, SHOWN_CHARACTERS) + "...")
        .otherwise(text)
    )


def _text(name: str) -> pl.Expr:
    """A column as stripped text with blanks as null."""
    text = pl.col(name).cast(pl.String).str.strip_chars()
    return pl.when(text == "").then(None).otherwise(text)


def _parse_instants(
    frame: pl.DataFrame, name: str, naive_timezone: str | None
) -> tuple[pl.Expr, pl.Expr]:
    """Expressions for the parsed UTC instant of column ``name`` and its error text.

    Instants must fall in the years `YEARS` (UTC).
    """
    value, error = _instants_and_errors(frame, name, naive_timezone)
    year = value.dt.year()
    outside = pl.when((year < YEARS[0]) | (year > YEARS[1])).then(
        pl.lit(f"outside the supported years {YEARS[0]} to {YEARS[1]}")
    )
    return value, pl.coalesce(error, outside)


def _instants_and_errors(
    frame: pl.DataFrame, name: str, naive_timezone: str | None
) -> tuple[pl.Expr, pl.Expr]:
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
    text = _text(name).str.replace(r"^([0-9]{4}-[0-9]{2}-[0-9]{2}) ", "${1}T")
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
    bad = pl.format(f"{expected}; got '{{}}'", _shown(name))
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
    frame: pl.DataFrame,
    source: str,
    content: Sequence[str],
    time: str,
    line_word: str,
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
                f"event_id '{{}}' is used on {line_word}s {{}} with different content",
                "event_id",
                pl.col("lines").cast(pl.List(pl.String)).list.join(", "),
            ).alias("message"),
        )
        _raise_errors(errors, source, line_word)
    first_line = pl.col("line").min().over(content)
    marked = frame.with_columns(first_line.alias("_first"))
    kept = marked.filter(pl.col("line") == pl.col("_first")).drop("_first")
    duplicates = marked.filter(pl.col("line") != pl.col("_first")).select(
        pl.lit(source).alias("source"),
        "line",
        pl.format(f"duplicate of {line_word} {{}}; counted once", "_first").alias(
            "reason"
        ),
    )
    return kept.sort("learner_id", time, "line"), duplicates.sort("line")


def parse_status_log(
    raw: pl.DataFrame,
    source: str,
    *,
    naive_timezone: str | None = None,
    line_word: str = "line",
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
    kinds = {
        "learner_id": "id",
        "changed_at": "time",
        "is_active": "flag",
        "event_id": "text",
        "channel": "text",
        "actor": "text",
    }
    frame = _columns(raw, source, kinds, STATUS_REQUIRED, line_word)
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
    return prepare_status_log(parsed, source, line_word=line_word)


def prepare_status_log(
    events: pl.DataFrame, source: str, *, line_word: str = "line"
) -> StatusLog:
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
    kept, duplicates = _drop_duplicates(
        events, source, content, "changed_at", line_word
    )
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
                f"learner '{{}}' is set to Yes ({line_word} {{}}) and No ({line_word} "
                "{}) at the same instant {}",
                "learner_id",
                "yes",
                "no",
                pl.col("changed_at").dt.to_string("%Y-%m-%dT%H:%M:%S%.fZ"),
            ).alias("message"),
        )
        _raise_errors(errors, source, line_word)
    return StatusLog(kept, duplicates, source, events.height)


def parse_activity_log(
    raw: pl.DataFrame,
    source: str,
    *,
    naive_timezone: str | None = None,
    line_word: str = "line",
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
    kinds = {
        "learner_id": "id",
        "occurred_at": "time",
        "activity": "text",
        "channel": "text",
        "event_id": "text",
        "scheduled": "flag",
    }
    frame = _columns(raw, source, kinds, ACTIVITY_REQUIRED, line_word)
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
    return prepare_activity_log(parsed, source, line_word=line_word)


def prepare_activity_log(
    events: pl.DataFrame, source: str, *, line_word: str = "line"
) -> ActivityLog:
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
    kept, duplicates = _drop_duplicates(
        events, source, content, "occurred_at", line_word
    )
    return ActivityLog(kept, duplicates, source, events.height)


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
    frame, line_word = _read_table(path)
    return parse_status_log(
        frame, str(path), naive_timezone=naive_timezone, line_word=line_word
    )


def read_activity_log(
    path: str | Path, *, naive_timezone: str | None = None
) -> ActivityLog:
    """Read and validate an activity log file (CSV or Parquet, DESIGN.md section 4).

    Parameters and errors are as for `read_status_log`; see `parse_activity_log`.
    """
    path = Path(path)
    frame, line_word = _read_table(path)
    return parse_activity_log(
        frame, str(path), naive_timezone=naive_timezone, line_word=line_word
    )
