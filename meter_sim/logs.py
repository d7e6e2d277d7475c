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

import contextlib
import csv
import dataclasses
import functools
import mmap
import os
import re
import weakref
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import numpy as np
import polars as pl

from meter_sim.exceptions import LogFormatError
from meter_sim.lifecycle import ActivityKind, Channel, ReadKind
from meter_sim.zones import local_to_utc

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Mapping, Sequence

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
_SECOND_60 = r"T[0-9]{2}:[0-9]{2}:6[0-9]"
SUB_MICROSECOND_DIGITS = r":[0-9]{2}\.[0-9]{7}"
"""A time written with more than 6 digits after the second (a regular expression)."""
SUB_MICROSECOND = (
    "more than 6 digits after the second; a microsecond is the finest time kept"
)
"""The one message for a time finer than a microsecond, text or typed."""


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


@dataclass(frozen=True)
class PackedStatus:
    """A status log's events as integers: the fast path's form of the events.

    Built by `read_status_log` from a typed Parquet file (see `pack_status`);
    `meter_sim.billing.bill` meters it without ever building the text columns.

    Attributes
    ----------
    events : pl.DataFrame
        ``learner_id`` UInt32 (a code: the index into ``learners``),
        ``changed_at`` Datetime(us, UTC), ``is_active`` Boolean; duplicates
        removed, sorted by ``(learner_id, changed_at)``, no Yes and No for one
        learner at one instant.
    learners : pl.Series
        String: the distinct learner ids in ascending (byte) order; code ``i`` is
        ``learners[i]``, so the order of codes is the order of the ids.
    """

    events: pl.DataFrame
    learners: pl.Series


@dataclass(frozen=True)
class StatusLog:
    """A validated status log.

    Attributes
    ----------
    rejected, source, rows_read
        As `_Log`.
    packed : PackedStatus or None
        The events as integers, when the log was read on the fast path (a typed
        Parquet file); None otherwise.
    events : pl.DataFrame
        Columns of `STATUS_SCHEMA`: ``line`` Int64, ``learner_id`` String,
        ``changed_at`` Datetime(us, UTC), ``is_active`` Boolean, ``event_id``,
        ``channel``, ``actor`` String (nullable); sorted by ``(learner_id,
        changed_at, line)``. For a log read on the fast path it is built the first
        time it is asked for (by reading the file again the general way), so a
        bill that needs only ``packed`` never holds it.
    """

    loaded: pl.DataFrame | Callable[[], pl.DataFrame] = field(repr=False)
    """``events``, or a function returning them (called at most once)."""
    rejected: pl.DataFrame
    source: str
    rows_read: int
    packed: PackedStatus | None = None

    @functools.cached_property
    def events(self) -> pl.DataFrame:
        """The events (see the class docstring)."""
        loaded = self.loaded
        return loaded if isinstance(loaded, pl.DataFrame) else loaded()


class ActivityLog(_Log):
    """A validated activity log (attributes as `_Log`).

    ``events`` has the columns of `ACTIVITY_SCHEMA`: ``line`` Int64,
    ``learner_id`` String, ``occurred_at`` Datetime(us, UTC), ``activity`` String
    (an `ActivityKind` or `ReadKind` value), ``channel`` String (a `Channel`
    value, default ``ui``), ``scheduled`` Boolean, ``event_id`` String
    (nullable); sorted by ``(learner_id, occurred_at, line)``.
    """


_L = TypeVar("_L", bound="StatusLog | _Log")


LINE = "__line__"
"""Internal column: each row's physical line (CSV) or 1-based row (Parquet)."""

YEARS = (1900, 2199)
"""Times must fall in these years (inclusive); others are surely typing errors."""

WHITE_SPACE = (
    "\t\n\x0b\x0c\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006"
    "\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)
"""The white space stripped from text fields and that makes a field blank (Unicode
White_Space), spelled out so that every reader (polars here, Python in a scenario)
strips the same characters."""

SHOWN_CHARACTERS = 60
"""Values quoted in messages are cut to this many characters. [characters]"""

OUTSIDE_YEARS = f"outside the supported years {YEARS[0]} to {YEARS[1]}"
"""The words for a time or month outside `YEARS`, in every message that says so."""

MAX_ID_CHARACTERS = 1_000
"""Longest learner id accepted (after stripping spaces); a longer one is surely a
shifted column or a broken file, and is refused. [characters]"""

MAX_HEADER_BYTES = 1_000_000
"""Longest CSV header line accepted; a longer one is refused before the CSV
reader reads it whole. [bytes]"""

MAX_LISTED_COLUMNS = 20
"""Column names listed in a "missing column" message; the rest are counted."""

SNIFFED_BYTES = 64 * 1024
"""Bytes at the start of a CSV file checked for UTF-16 and old Mac line ends.
[bytes]"""


def _read_table(path: Path, pin: Pinned | None = None) -> tuple[pl.DataFrame, str]:
    """Read a CSV (all columns as text) or Parquet file.

    Returns the frame with a `LINE` column, and the word for its positions
    (``"line"`` for CSV, ``"row"`` for Parquet). Paths are taken literally (no
    glob patterns). Every record is kept (blank ones are rejected by
    `_columns`); a quoted field holding line breaks moves the following rows'
    line numbers on accordingly. The file is read through ``pin`` (one is made
    if None: `Pinned`), so every read sees the same file.
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
    pin = pin or Pinned(path)
    with pin.checked():
        try:
            if suffix == ".parquet":
                frame = pl.read_parquet(pin.reading, glob=False).drop(
                    LINE, strict=False
                )
                frame = frame.with_row_index(LINE, offset=1).cast({LINE: pl.Int64})
            else:
                frame = _read_csv(pin.reading, path)
        except pl.exceptions.NoDataError:
            msg = f"{path}: the file is empty (a header line is expected)"
            raise LogFormatError(msg, source=str(path)) from None
        except (pl.exceptions.PolarsError, OSError) as exc:
            raise _unreadable(path, suffix, exc) from None
    return frame, "row" if suffix == ".parquet" else "line"


class Pinned:
    """A file held open and read through its descriptor: every read, the same file.

    A log read more than once (the fast path reads the ids, then the
    dictionary; a bill with ``--activity`` reads the events again;
    ``--streaming`` samples, then splits) must be one file each time, or the bill
    would mix two. Reads go through ``/proc/self/fd/N`` where the system has it
    (Linux), so a path re-pointed or replaced meanwhile is not seen; the file's
    size and modification time, taken when it was opened, are checked after
    reading (`check`), so a file written to meanwhile is refused. Elsewhere the
    path is read and its device and inode are checked too.

    Attributes
    ----------
    path : Path
        The file as the user named it (for messages).
    reading : Path
        The path to read it by.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file = path.open("rb")  # kept open as long as the pin is
        weakref.finalize(self, self._file.close)
        descriptor = Path(f"/proc/self/fd/{self._file.fileno()}")
        self.reading = descriptor if descriptor.exists() else path
        self._before = self._identity()

    def _identity(self) -> tuple[int, ...]:
        opened = os.fstat(self._file.fileno())
        now: tuple[int, ...] = (
            opened.st_dev,
            opened.st_ino,
            opened.st_size,
            opened.st_mtime_ns,
        )
        if self.reading is self.path:  # no descriptor path: the name must not move
            named = self.path.stat()
            now += (named.st_dev, named.st_ino)
        return now

    @contextlib.contextmanager
    def checked(self) -> Iterator[None]:
        """`check` the file after the block, whether it ended well or raised.

        A file changed under the reader can make it fail in any way (a conflict
        between rows of two versions, a corrupt page, an empty file): the change
        is then what is reported, in place of that failure.
        """
        try:
            yield
        finally:
            self.check()

    def check(self) -> None:
        """Refuse the file if it was written to (or, read by name, replaced).

        Raises
        ------
        LogFormatError
            If the file's size or modification time changed since it was
            opened (or, read by name, the name now names another file).
        """
        try:
            same = self._identity() == self._before
        except OSError:
            same = False
        if not same:
            msg = (
                f"{self.path}: the file changed while it was read (replaced or "
                "written to); read it again once it is complete"
            )
            raise LogFormatError(msg, source=str(self.path))


def _read_csv(path: Path, named: Path) -> pl.DataFrame:
    """Read a CSV file, all columns as text, with `LINE`; see `_read_table`.

    ``path`` is read; ``named`` is the file as the user named it (messages).

    Raises
    ------
    LogFormatError
        If the file is UTF-16 text (with or without a byte order mark); if its
        header line ends with a carriage return alone (old Mac line ends), is
        longer than `MAX_HEADER_BYTES`, names a column twice, or is one column
        holding semicolons, tabs or bars.
    """
    _check_csv_start(path, named)
    frame = pl.read_csv(path, infer_schema=False, glob=False)
    header_breaks = sum(c.count("\n") for c in frame.columns)  # quoted names
    frame = frame.rename(lambda c: c.strip()).drop(LINE, strict=False)  # not ours
    twice = [
        c.removesuffix("_duplicated_0") for c in frame.columns if "_duplicated_" in c
    ]
    if twice:
        msg = f"{named}:1: column `{twice[0]}` appears more than once in the header"
        raise LogFormatError(msg, source=str(named), line=1, field=twice[0])
    if frame.width == 1 and any(sep in frame.columns[0] for sep in ";\t|"):
        msg = (
            f"{named}:1: the header {frame.columns[0][:SHOWN_CHARACTERS]!r} is one "
            "column; fields must be separated by commas"
        )
        raise LogFormatError(msg, source=str(named), line=1)
    if _find(path, b'"') == -1:  # then no field holds a line break
        # The reader drops a carriage return just before a comma (as if it
        # ended a line), and without quotes such a field cannot be quoted.
        bare = _find(path, b"\r,")
        if bare != -1:
            with path.open("rb") as file:
                line = file.read(bare).count(b"\n") + 1
            msg = (
                f"{named}:{line}: a carriage return ends a field, not quoted (a "
                "CSV reader drops it, so `L1\\r` would be read as `L1`); quote "
                "the field or remove the character"
            )
            raise LogFormatError(msg, source=str(named), line=line)
        return frame.with_row_index(LINE, offset=2).cast({LINE: pl.Int64})
    first = 2 + header_breaks
    # Line of each record: 2 for the first, plus the line breaks inside quoted
    # fields of the records before it.
    breaks = pl.sum_horizontal(
        pl.col(c).str.count_matches("\n").fill_null(0) for c in frame.columns
    )
    lines = pl.int_range(pl.len(), dtype=pl.Int64) + first + breaks.cum_sum() - breaks
    return frame.lazy().with_columns(lines.alias(LINE)).collect()


def _find(path: Path, needle: bytes) -> int:
    """Offset of the first ``needle`` in the file, or -1 (through a memory map)."""
    with (
        path.open("rb") as file,
        mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ) as view,
    ):
        return view.find(needle)


def _check_csv_start(path: Path, named: Path) -> None:
    """Refuse a file the CSV reader would misread, from its start alone.

    Reads the first `SNIFFED_BYTES`, and more only to find the end of a long
    header line (at most `MAX_HEADER_BYTES` past any leading blank lines), so
    memory stays bounded whatever the file. Messages name ``named``.

    Raises
    ------
    LogFormatError
        If the file is UTF-16 text, or its header line ends with a carriage return
        alone (old Mac line ends) or is longer than `MAX_HEADER_BYTES`.
    """
    with path.open("rb") as handle:
        start = handle.read(SNIFFED_BYTES)
        if start[:2] in (b"\xff\xfe", b"\xfe\xff"):
            msg = f"{named}: the file is UTF-16 text; save it as UTF-8 (CSV UTF-8)"
            raise LogFormatError(msg, source=str(named))
        if _looks_like_utf16(start):
            msg = (
                f"{named}: the file looks like UTF-16 text without a byte order mark "
                "(a NUL byte beside each letter); save it as UTF-8 (CSV UTF-8)"
            )
            raise LogFormatError(msg, source=str(named))
        blank = b" \t\r\n"
        head = start.removeprefix(b"\xef\xbb\xbf").lstrip(blank)
        if _header_ends_with_lone_cr(head, whole=len(start) < SNIFFED_BYTES):
            msg = (
                f"{named}:1: the lines end with a carriage return alone (old Mac line "
                "ends); save the file with LF or CRLF line ends"
            )
            raise LogFormatError(msg, source=str(named), line=1)
        while b"\n" not in head and len(head) <= MAX_HEADER_BYTES:
            more = handle.read(SNIFFED_BYTES)
            if not more:
                break
            head = (head + more).lstrip(blank)
    end = head.find(b"\n")
    if (len(head) if end < 0 else end) > MAX_HEADER_BYTES:
        msg = (
            f"{named}:1: the header line is longer than {MAX_HEADER_BYTES:,} bytes; "
            "a CSV file needs one header line of column names, separated by commas"
        )
        raise LogFormatError(msg, source=str(named), line=1)


def _looks_like_utf16(start: bytes) -> bool:
    """Whether the bytes are UTF-16 text without a byte order mark.

    Text in UTF-16 has a NUL byte beside each Latin letter: in the first 256
    characters, one of the two byte positions (odd for little-endian, even for
    big-endian) is mostly NUL and the other hardly ever. UTF-8 text has a NUL
    only where a value holds one.
    """
    sample = start[:512]
    half = len(sample) // 2
    if half < 4:
        return False
    nuls = sorted(
        (sample[0 : 2 * half : 2].count(0), sample[1 : 2 * half : 2].count(0))
    )
    return nuls[1] >= half // 2 and nuls[0] <= half // 8


def _header_ends_with_lone_cr(head: bytes, *, whole: bool) -> bool:
    """Whether the header line ends with a carriage return alone (old Mac).

    ``head`` starts at the header line; the header ends at its first carriage
    return or line feed outside quotes. Only the header's end is looked at: a
    carriage return alone in a later line is part of a value (the CSV reader
    keeps it so, quoted or not). ``whole``: ``head`` runs to the end of the file
    (else a carriage return at its very end may be followed by a line feed not
    read).
    """
    quotes = done = 0
    for match in re.finditer(rb"[\r\n]", head):
        at = match.start()
        quotes += head.count(b'"', done, at)
        done = at
        if quotes % 2:
            continue  # inside a quoted column name
        if head[at] == ord("\n"):
            return False
        return head[at + 1 : at + 2] != b"\n" if at + 1 < len(head) else whole
    return False


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


BLANK_RECORD = "blank record (every field empty); not used"
"""The reason a blank record (``,,,`` in CSV, all nulls in Parquet) is rejected."""


def _columns(
    raw: pl.DataFrame,
    source: str,
    kinds: dict[str, str],
    required: Sequence[str],
    line_word: str,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Select the log's columns (absent optional ones as nulls) and `LINE`.

    Returns the selected frame without its blank records, and those records as
    `REJECTED_SCHEMA` rows (reason `BLANK_RECORD`): every record is read, and
    either used or rejected with its line, the same in CSV and Parquet.

    Raises `LogFormatError` for a missing required column (listing the first
    `MAX_LISTED_COLUMNS` columns found, the rest counted), or a Parquet column
    of a type that cannot hold the field.
    """
    missing = [c for c in required if c not in raw.columns]
    if missing:
        names = ", ".join(f"`{c}`" for c in missing)
        optional = [c for c in kinds if c not in required]
        names_found = [c for c in raw.columns if c != LINE]
        found = ", ".join(
            c[:SHOWN_CHARACTERS] for c in names_found[:MAX_LISTED_COLUMNS]
        )
        if len(names_found) > MAX_LISTED_COLUMNS:
            found += f", ... and {len(names_found) - MAX_LISTED_COLUMNS:,} more"
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
    raw, blank = _blank_records(raw, source)
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
    ), blank


def _blank_records(raw: pl.DataFrame, source: str) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Split off the records whose every field is null or white space.

    Only the rows whose first field is blank are looked at across all fields
    (few), and the frame is copied only when there is one.
    """
    fields = [c for c in raw.columns if c != LINE]

    def blank(name: str) -> pl.Expr:
        if raw.schema[name] != pl.String:
            return pl.col(name).is_null()
        return _text(name).is_null()

    candidates = raw.filter(blank(fields[0])) if fields else raw.clear()
    lines = candidates.filter(pl.all_horizontal(blank(c) for c in fields))[LINE]
    rejected = (
        lines.to_frame("line")
        .select(
            pl.lit(source).alias("source"), "line", pl.lit(BLANK_RECORD).alias("reason")
        )
        .cast(REJECTED_SCHEMA)
    )
    if lines.is_empty():
        return raw, rejected
    return raw.filter(~pl.col(LINE).is_in(lines.implode())), rejected


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
    text = pl.col(name).cast(pl.String).str.strip_chars(WHITE_SPACE)
    return pl.when(text == "").then(None).otherwise(text)


_EXPORT_ISO = (
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-5][0-9](\.[0-9]{1,6})?"
    r"(Z|[+-][0-9]{2}:?[0-9]{2})$"
)
"""The form an export writes (seconds and an offset or ``Z``, no spaces)."""


def _export_instant(raw: pl.Expr) -> pl.Expr:
    """The UTC instant of text in the export form (`_EXPORT_ISO`), by its fields.

    The first 19 characters are read as a wall-clock time, the fraction and the
    offset (``Z``, ``+HH:MM`` or ``+HHMM``) by their positions; about twice as
    fast as parsing with ``%z``. Only meaningful for text that matches
    `_EXPORT_ISO` (other text gives null or a value to be ignored).
    """
    wall = raw.str.slice(0, 19).str.to_datetime(
        "%Y-%m-%dT%H:%M:%S", strict=False, time_unit="us"
    )
    tail = raw.str.slice(19)  # [.ffffff](Z|+HH:MM|+HHMM)
    zulu = tail.str.ends_with("Z")
    offset_size = pl.when(zulu).then(1).when(tail.str.slice(-3, 1) == ":").then(6)
    offset = tail.str.slice(-offset_size.otherwise(5))
    hours = offset.str.slice(1, 2).cast(pl.Int64, strict=False)
    rest = offset.str.slice(-2).cast(pl.Int64, strict=False)
    minutes = hours * 60 + rest
    sign = pl.when(offset.str.starts_with("-")).then(-1).otherwise(1)
    digits = tail.str.len_bytes().cast(pl.Int64) - offset_size.otherwise(5) - 1
    fraction = (
        tail.str.slice(1, digits).str.pad_end(6, "0").cast(pl.Int64, strict=False)
    )
    shift = pl.when(zulu).then(0).otherwise(sign * minutes) * 60_000_000
    micros = pl.when(digits > 0).then(fraction).otherwise(0) - shift
    possible = zulu | ((hours <= 23) & (rest <= 59))  # as %z: else not an offset
    return pl.when(possible).then(wall.dt.epoch("us") + micros).cast(UTC_US)


def _parse_instants(
    frame: pl.DataFrame, name: str, naive_timezone: str | None
) -> tuple[pl.DataFrame, pl.Expr, pl.Expr]:
    """The parsed UTC instant of column ``name`` and its error text.

    Instants must fall in the years `YEARS` (UTC). For text, the rows in the form
    an export writes (`_EXPORT_ISO`) are parsed with one format; only the other
    rows (a space for ``T``, no seconds, no offset, blanks, bad values) go
    through every accepted form and its checks (`_instants_and_errors`), which
    give the same instant for a row of the export form.

    Returns
    -------
    tuple
        ``frame`` with any columns the expressions need, and the expressions of
        the instant (Datetime(us, UTC)) and of the error (String, null if none).
    """
    dtype = frame.schema[name]
    if isinstance(dtype, pl.Datetime):
        value, error = _instants_and_errors(frame, name, naive_timezone)
        if dtype.time_unit == "ns":
            finer = pl.col(name).dt.nanosecond() % 1000 != 0
            error = pl.coalesce(pl.when(finer).then(pl.lit(SUB_MICROSECOND)), error)
    else:
        frame, value, error = _text_instants(frame, name, naive_timezone)
    year = value.dt.year()
    outside = pl.when((year < YEARS[0]) | (year > YEARS[1])).then(pl.lit(OUTSIDE_YEARS))
    return frame, value, pl.coalesce(error, outside)


def _text_instants(
    frame: pl.DataFrame, name: str, naive_timezone: str | None
) -> tuple[pl.DataFrame, pl.Expr, pl.Expr]:
    """`_parse_instants` of a text column: the export form fast, the rest in full."""
    raw = pl.col(name).cast(pl.String)
    fast = _export_instant(raw)
    value, error = f"{name} parsed", f"{name} error"
    quick = raw.str.contains(_EXPORT_ISO) & pl.col(value).is_not_null()
    # Lazy, so that polars parses in parallel (an eager select of one chunk does not).
    frame = (
        frame.lazy()
        .with_columns(fast.alias(value), pl.lit(None, pl.String).alias(error))
        .with_columns(quick.alias(f"{name} quick"))
        .collect()
    )
    rows = frame.select(pl.arg_where(~pl.col(f"{name} quick"))).to_series()
    frame = frame.drop(f"{name} quick")
    if rows.is_empty():
        return frame, pl.col(value), pl.col(error)
    # Only the other rows are checked and parsed in full, then put back in place
    # (a scatter copies the instants and errors, never the log's text columns).
    # A row with an error gets no instant: it is not parsed (a huge bad value is
    # not copied again).
    other = frame.select(name)[rows]
    slow_value, slow_error = _instants_and_errors(other, name, naive_timezone)
    errors = other.select(slow_error.cast(pl.String)).to_series()
    good = errors.is_null()
    values = pl.repeat(None, len(rows), dtype=UTC_US, eager=True).scatter(
        good.arg_true(), other.filter(good).select(slow_value).to_series()
    )
    frame = frame.with_columns(
        frame[value].scatter(rows, values), frame[error].scatter(rows, errors)
    )
    return frame, pl.col(value), pl.col(error)


def _instants_and_errors(
    frame: pl.DataFrame, name: str, naive_timezone: str | None
) -> tuple[pl.Expr, pl.Expr]:
    dtype = frame.schema[name]
    if isinstance(dtype, pl.Datetime):
        col = pl.col(name).cast(pl.Datetime("us", dtype.time_zone))
        blank = pl.when(col.is_null()).then(pl.lit("blank; a date-time is expected"))
        if dtype.time_zone is not None:
            return col.dt.convert_time_zone("UTC"), blank
        if naive_timezone is None:
            err = pl.lit(
                "time has no time zone; store it in UTC or pass --naive-timezone TZ"
            )
            return pl.lit(None, UTC_US), blank.otherwise(err)
        local = local_to_utc(col, naive_timezone)
        err = pl.lit(f"ambiguous or non-existent local time in {naive_timezone}")
        return local, blank.when(local.is_null()).then(err)
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
        local = local_to_utc(naive, naive_timezone)
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
        .when(text.str.contains(SUB_MICROSECOND_DIGITS))  # any number of digits
        .then(pl.lit(SUB_MICROSECOND))
        .when(~text.str.contains(_ISO))
        .then(pl.lit("not an ISO-8601 date-time (e.g. 2018-04-11T09:00:00+10:00)"))
        # The parser reads second 60 (a leap second) as the next minute, which could
        # move a change into the next month: refuse it.
        .when((has_offset & aware.is_null()) | text.str.contains(_SECOND_60))
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
    """Long frame (line, field, message) of every non-null error expression.

    The checks run in one query (columns in parallel); only the rows where one
    fails are turned into the long frame.
    """
    wide = frame.lazy().select("line", *(e.alias(f) for f, e in checks.items()))
    return _failures(wide.collect(), list(checks))


def _failures(wide: pl.DataFrame, fields: list[str]) -> pl.DataFrame:
    """``line``, ``field``, ``message`` of the non-null cells of columns ``fields``."""
    failing = wide.select("line", *fields).filter(
        pl.any_horizontal(pl.col(fields).is_not_null())
    )
    return (
        failing.cast(dict.fromkeys(fields, pl.String))
        .unpivot(index="line", variable_name="field", value_name="message")
        .filter(pl.col("message").is_not_null())
    )


def _parse_checked(
    frame: pl.DataFrame,
    values: Sequence[pl.Expr],
    checks: dict[str, pl.Expr],
    suspect: pl.Expr,
    source: str,
    line_word: str,
    repairs: Mapping[str, pl.Expr] | None = None,
) -> pl.DataFrame:
    """Parse and check: the ``values`` columns, or `LogFormatError`.

    One query computes the values and ``suspect``, a cheap test that is true of
    every row a check may fail (a message quoting the value costs far more
    than the test); the messages (``checks``) are then worked out for the
    suspect rows only, and the rows that fail are listed by `_raise_errors`.
    A value read the quick way only in its usual forms (``repairs``: column ->
    its full reading) is null in the others, which makes the row suspect; the
    full reading is then computed for the suspect rows only.
    """
    flag = "__suspect__"
    wide = frame.lazy().select(*values, suspect.alias(flag)).collect()
    suspects = wide[flag]
    if suspects.any():
        rows = frame.filter(suspects)
        _raise_errors(_collect_errors(rows, checks), source, line_word)
        at = suspects.arg_true()
        wide = wide.with_columns(
            wide[name].scatter(at, rows.select(full).to_series())
            for name, full in (repairs or {}).items()
        )
    return wide.drop(flag)


def _bad_word(name: str, words: Sequence[str], *, required: bool) -> pl.Expr:
    """True where `_words_error` gives a message (a cheap test, no message)."""
    value = _text(name).str.to_lowercase()
    unknown = value.is_not_null() & ~value.is_in(words)
    return (unknown | value.is_null()) if required else unknown


def _bad_id(name: str = "learner_id") -> pl.Expr:
    """True where `_learner_id_error` gives a message (a cheap test)."""
    return _blank_id(name) | (_learner_id(name).str.len_chars() > MAX_ID_CHARACTERS)


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


def _forms(words: Sequence[str]) -> list[str]:
    """The usual spellings of ``words``: lower case, upper case, capitalised."""
    return sorted({f for w in words for f in (w, w.upper(), w.capitalize())})


def _quick_bool(name: str) -> pl.Expr:
    """`_bool_value` of the usual spellings (`_forms`), without copying the text.

    Null for any other spelling, which is then read in full (`_parse_checked`'s
    ``repairs``).
    """
    text = pl.col(name).cast(pl.String)
    return (
        pl.when(text.is_in(_forms(TRUE_WORDS)))
        .then(True)
        .when(text.is_in(_forms(FALSE_WORDS)))
        .then(False)
    )


def _flag(
    frame: pl.DataFrame, name: str
) -> tuple[pl.Expr, dict[str, pl.Expr], pl.Expr]:
    """A required Yes/No column: its quick value, its repairs and its check.

    A Boolean column is used as it is; text (or 0/1) is read by `_quick_bool`,
    with `_bool_value` as the repair of unusual spellings (`_parse_checked`).
    """
    if frame.schema[name] == pl.Boolean:
        blank = "blank; expected one of " + ", ".join(TRUE_WORDS + FALSE_WORDS)
        return pl.col(name), {}, pl.when(pl.col(name).is_null()).then(pl.lit(blank))
    return (
        _quick_bool(name),
        {name: _bool_value(name)},
        _words_error(name, TRUE_WORDS + FALSE_WORDS, required=True),
    )


def _bool_value(name: str) -> pl.Expr:
    value = _text(name).str.to_lowercase()
    return (
        pl.when(value.is_in(TRUE_WORDS))
        .then(True)
        .when(value.is_in(FALSE_WORDS))
        .then(False)
    )


def _learner_id(name: str = "learner_id") -> pl.Expr:
    """The ``learner_id`` column as written (a blank one is an error: `_blank_id`).

    ``name`` picks another id column read the same way (an e-Learning log's
    ``enrolment_id``).

    Ids are kept exactly as written, spaces included, by every reader: ``"L1"``,
    ``"L1 "`` and ``"\u00a0L1"`` are three learners in a log, a scenario, an
    invoice and a vendor report alike (DESIGN.md section 4). The column itself
    is used (no copy of the text).
    """
    return pl.col(name).cast(pl.String)


def _blank_id(name: str = "learner_id") -> pl.Expr:
    """True where the id is blank or only white space (`WHITE_SPACE`)."""
    return _text(name).is_null()


def _learner_id_error(name: str = "learner_id") -> pl.Expr:
    """The error of a blank id, or one longer than `MAX_ID_CHARACTERS`."""
    size = _learner_id(name).str.len_chars()
    what = name.removesuffix("_id")
    return (
        pl.when(_blank_id(name))
        .then(pl.lit("blank"))
        .when(size > MAX_ID_CHARACTERS)
        .then(
            pl.format(
                f"longer than {MAX_ID_CHARACTERS:,} characters ({{}}); surely not "
                f"{'an' if what[0] in 'aeiou' else 'a'} {what} id (check the quotes "
                "and commas)",
                size,
            )
        )
    )


def _clashes(
    frame: pl.DataFrame, key: Sequence[str], content: Sequence[str]
) -> pl.DataFrame:
    """The keys that label rows of different content, with their lines.

    Returns the ``key`` columns and ``lines`` (List(Int64), sorted) of each key
    whose rows differ in ``content``; empty when there is none.
    """
    return (
        frame.group_by(key)
        .agg(
            pl.struct(content).n_unique().alias("variants"),
            pl.col("line").sort().alias("lines"),
        )
        .filter(pl.col("variants") > 1)
    )


def _split_repeats(
    frame: pl.DataFrame, content: Sequence[str], source: str, line_word: str
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Keep the first (lowest line) of identical rows; list the others.

    Returns the kept rows (input order) and the repeats as `REJECTED_SCHEMA`
    rows, each ``"duplicate of line N; counted once"``.
    """
    marked = frame.with_columns(pl.col("line").min().over(content).alias("_first"))
    kept = marked.filter(pl.col("line") == pl.col("_first")).drop("_first")
    duplicates = marked.filter(pl.col("line") != pl.col("_first")).select(
        pl.lit(source).alias("source"),
        "line",
        pl.format(f"duplicate of {line_word} {{}}; counted once", "_first").alias(
            "reason"
        ),
    )
    return kept, duplicates.cast(REJECTED_SCHEMA)


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
    clash = _clashes(with_id, ["event_id"], content)
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
    kept, duplicates = _split_repeats(frame, content, source, line_word)
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
        For a missing column, a blank or unparsable value, a learner id longer
        than `MAX_ID_CHARACTERS`, a time without offset (unless
        ``naive_timezone``), an impossible date or one outside `YEARS`, an
        unknown status or channel, an ``event_id`` reused for different rows, or
        Yes and No for one learner at one instant (naming both lines). Up to 20
        problems are listed.
    """
    kinds = {
        "learner_id": "id",
        "changed_at": "time",
        "is_active": "flag",
        "event_id": "text",
        "channel": "text",
        "actor": "text",
    }
    frame, blank = _columns(raw, source, kinds, STATUS_REQUIRED, line_word)
    frame, changed_at, time_error = _parse_instants(frame, "changed_at", naive_timezone)
    is_active, repairs, flag_error = _flag(frame, "is_active")
    checks = {
        "learner_id": _learner_id_error(),
        "changed_at": time_error,
        "is_active": flag_error,
        "channel": _words_error("channel", CHANNEL_WORDS, required=False),
    }
    values = [
        pl.col("line"),
        _learner_id().alias("learner_id"),
        changed_at.alias("changed_at"),
        is_active.alias("is_active"),
        _text("event_id").alias("event_id"),
        _text("channel").str.to_lowercase().alias("channel"),
        _text("actor").alias("actor"),
    ]
    suspect = (
        _bad_id()
        | time_error.is_not_null()
        | is_active.is_null()
        | _bad_word("channel", CHANNEL_WORDS, required=False)
    )
    parsed = _parse_checked(
        frame, values, checks, suspect, source, line_word, repairs=repairs
    )
    parsed = parsed.cast(STATUS_SCHEMA)
    optional = pl.col("event_id", "channel", "actor")
    if parsed.select(optional.is_null().all()).row(0) == (True, True, True):
        # Only the columns the fast path packs: they are duplicates and conflicts
        # found by its integer sorts (far faster than sorting the text).
        packed = pack_status(
            parsed.lazy().select(
                "learner_id",
                pl.col("changed_at").dt.epoch("us").alias("micros"),
                "is_active",
                "line",
            ),
            source,
            loader=lambda: (
                prepare_status_log(parsed, source, line_word=line_word).events
            ),
            line_word=line_word,
        )
        if packed is not None:
            return _with_blank(packed, blank)
    return _with_blank(prepare_status_log(parsed, source, line_word=line_word), blank)


def _with_blank(log: _L, blank: pl.DataFrame) -> _L:
    """``log`` with the blank records (`_columns`) counted as read and rejected."""
    if blank.is_empty():
        return log
    rejected = pl.concat([log.rejected, blank]).sort("line")
    return dataclasses.replace(
        log, rejected=rejected, rows_read=log.rows_read + blank.height
    )


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
    _refuse_conflicts(
        kept,
        ["learner_id"],
        "is_active",
        pl.format("learner '{}'", "learner_id"),
        ("Yes", "No"),
        source,
        line_word,
    )
    return StatusLog(kept, duplicates, source, events.height)


def _refuse_conflicts(
    kept: pl.DataFrame,
    keys: Sequence[str],
    flag: str,
    subject: pl.Expr,
    words: tuple[str, str],
    source: str,
    line_word: str,
) -> None:
    """Raise `LogFormatError` if one subject has both values at one instant.

    ``kept`` is sorted by ``(*keys, changed_at, line)``; ``flag`` is its Boolean
    column, ``words`` how its True and False are said in the message, and
    ``subject`` the text that names a row's subject (e.g. ``learner 'L1'``).
    The message names both lines.
    """
    same = pl.all_horizontal(pl.col(k) == pl.col(k).shift(1) for k in keys)
    # Rows are sorted by (*keys, changed_at, line), so a conflict shows as a row
    # whose predecessor is the same subject at the same instant, other value.
    clash = (
        same
        & (pl.col("changed_at") == pl.col("changed_at").shift(1))
        & (pl.col(flag) != pl.col(flag).shift(1))
    ).fill_null(value=False)
    at = [*keys, "changed_at"]
    found = kept.filter(clash).select(at)
    if found.is_empty():
        return
    conflicts = (
        kept.join(found, on=at, how="semi")
        .group_by(at)
        .agg(
            subject.first().alias("subject"),
            pl.col("line").filter(pl.col(flag)).min().alias("yes"),
            pl.col("line").filter(~pl.col(flag)).min().alias("no"),
        )
        .filter(pl.col("yes").is_not_null() & pl.col("no").is_not_null())
    )
    yes, no = words
    errors = conflicts.select(
        pl.max_horizontal("yes", "no").alias("line"),
        pl.lit(flag).alias("field"),
        pl.format(
            f"{{}} is set to {yes} ({line_word} {{}}) and {no} ({line_word} {{}}) at "
            "the same instant {}",
            "subject",
            "yes",
            "no",
            pl.col("changed_at").dt.to_string("%Y-%m-%dT%H:%M:%S%.fZ"),
        ).alias("message"),
    )
    _raise_errors(errors, source, line_word)


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
        For a missing column, a blank learner id or one longer than
        `MAX_ID_CHARACTERS`, a blank or bad time, an unknown activity kind or
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
    frame, blank = _columns(raw, source, kinds, ACTIVITY_REQUIRED, line_word)
    frame, occurred_at, time_error = _parse_instants(
        frame, "occurred_at", naive_timezone
    )
    scheduled_is_bool = frame.schema["scheduled"] == pl.Boolean
    checks = {
        "learner_id": _learner_id_error(),
        "occurred_at": time_error,
        "activity": _words_error("activity", ACTIVITY_WORDS, required=True),
        "channel": _words_error("channel", CHANNEL_WORDS, required=False),
        "scheduled": pl.lit(None, pl.String)
        if scheduled_is_bool
        else _words_error("scheduled", TRUE_WORDS + FALSE_WORDS, required=False),
    }
    scheduled = pl.col("scheduled") if scheduled_is_bool else _bool_value("scheduled")
    values = [
        pl.col("line"),
        _learner_id().alias("learner_id"),
        occurred_at.alias("occurred_at"),
        _text("activity").str.to_lowercase().alias("activity"),
        _text("channel").str.to_lowercase().fill_null(str(Channel.UI)).alias("channel"),
        scheduled.fill_null(value=False).alias("scheduled"),
        _text("event_id").alias("event_id"),
    ]
    suspect = (
        _bad_id()
        | time_error.is_not_null()
        | _bad_word("activity", ACTIVITY_WORDS, required=True)
        | _bad_word("channel", CHANNEL_WORDS, required=False)
        | (
            pl.lit(value=False)
            if scheduled_is_bool
            else _bad_word("scheduled", TRUE_WORDS + FALSE_WORDS, required=False)
        )
    )
    parsed = _parse_checked(frame, values, checks, suspect, source, line_word)
    parsed = parsed.cast(ACTIVITY_SCHEMA)
    return _with_blank(prepare_activity_log(parsed, source, line_word=line_word), blank)


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


# --- The fast path: typed Parquet, integer codes and one sort on a packed key ---

FAST_ID_TYPES = "String or an integer type"
"""``learner_id`` types the fast path reads (integers become their decimal text)."""


def _micros(year: int) -> int:
    """Microseconds since 1970-01-01 UTC of 1 January of ``year``, 00:00 UTC."""
    days = np.datetime64(f"{year}-01-01", "D") - np.datetime64("1970-01-01", "D")
    return int(days.astype(np.int64)) * 86_400_000_000


PACKED_RANGE = (_micros(YEARS[0]), _micros(YEARS[1] + 1))
"""Instants allowed on the fast path, ``[first, last)`` in microseconds since
1970 UTC: the years `YEARS`, as the general path checks them. [us]"""

CHUNK_ROWS = 2_000_000
"""Rows of a sort key made at a time (bounds temporary memory). [rows]"""


def packable(schema: Mapping[str, pl.DataType]) -> bool:
    """Whether a Parquet status log can take the fast path.

    It can when ``learner_id`` is text or an integer, ``changed_at`` a
    time-zone-aware Datetime and ``is_active`` a Boolean, and none of the
    optional columns (``event_id``, ``channel``, ``actor``) is present. Any
    other file is read the general way (`parse_status_log`).
    """
    ids, at, flag = (schema.get(c) for c in STATUS_REQUIRED)
    return (
        ids is not None
        and (ids == pl.String or ids.is_integer())
        and isinstance(at, pl.Datetime)
        and at.time_zone is not None
        and at.time_unit != "ns"  # checked for sub-microsecond times the general way
        and flag == pl.Boolean
        and not any(c in schema for c in ("event_id", "channel", "actor"))
    )


def packable_columns(schema: Mapping[str, pl.DataType]) -> list[pl.Expr]:
    """Expressions selecting a packable file's columns for `pack_status`.

    ``learner_id`` String or an integer type (as in the file: integers are
    hashed as they are, and only the distinct ids become decimal text),
    ``micros`` Int64 (microseconds since 1970 UTC), ``is_active`` Boolean.
    """
    at = schema["changed_at"]
    assert isinstance(at, pl.Datetime)  # checked by `packable`
    return [
        pl.col("learner_id"),
        pl.col("changed_at")
        .cast(pl.Datetime("us", at.time_zone))
        .to_physical()
        .alias("micros"),
        pl.col("is_active"),
    ]


def _lexical_order(strings: pl.Series) -> np.ndarray:
    """Indices that sort ``strings`` in ascending byte order, as ``sort`` does.

    Ids of at most 16 bytes without NUL are read as two big-endian 64-bit words
    (NUL-padded), whose order is the ids' order; when the words' varying bits
    fit in 64 (as for most id schemes) one integer sort does, else a sort on
    the two words. Other ids are sorted as text (slower).
    """
    widest = strings.str.len_bytes().max()
    if widest is None or widest > 16 or strings.str.contains("\x00").any():  # type: ignore[operator]
        return strings.arg_sort().to_numpy()
    padded = pl.col("s").str.pad_end(16, "\x00").cast(pl.Binary)
    words = strings.to_frame("s").select(
        padded.bin.slice(start, 8)
        .bin.reinterpret(dtype=pl.UInt64, endianness="big")
        .alias(name)
        for start, name in ((0, "high"), (8, "low"))
    )
    high, low = (_varying_bits(words[c].to_numpy()) for c in ("high", "low"))
    if high[1] + low[1] > 64:
        return words.with_row_index("i").sort("high", "low")["i"].to_numpy()
    key = high[0] << np.uint64(low[1])
    key |= low[0]
    return pl.Series(key).arg_sort().to_numpy()


_TENS = np.array([10**k for k in range(20)], dtype=np.uint64)
"""1, 10, ..., 10**19 (the powers of ten an unsigned 64-bit integer holds)."""


def _decimal_order(values: np.ndarray) -> np.ndarray:
    """Indices that sort integers as their decimal text sorts (byte order).

    Text order compares digits left to right, so a number is ranked by its
    digits padded on the right to 19 places (``7`` as ``7000...``), then by its
    length (``1`` before ``10``), negatives (``-``) before the rest: one sort
    of integers, exact, where sorting the texts took 2.8 s for 4M 19-digit ids.

    Parameters
    ----------
    values : np.ndarray
        Integers above ``-2**63`` and below ``10**19``.
    """
    size = (
        np.abs(values.astype(np.int64)).astype(np.uint64)
        if values.dtype.kind == "i"
        else values.astype(np.uint64)
    )
    digits = np.maximum(np.searchsorted(_TENS, size, side="right"), 1)
    padded = size * _TENS[19 - digits]
    return np.lexsort((digits, padded, values >= 0))


def _varying_bits(words: np.ndarray) -> tuple[np.ndarray, int]:
    """``words`` less their minimum, shifted past trailing zeros all share.

    Returns the uint64 values (in the same order as ``words``) and how many
    bits they need.
    """
    values = words - words.min()
    common = int(np.bitwise_or.reduce(values))
    if common == 0:
        return values, 0
    values >>= np.uint64((common & -common).bit_length() - 1)
    return values, int(values.max()).bit_length()


def _learner_groups(
    first_hash: np.ndarray, second_hash: np.ndarray, *, prefix_bits: int = 64
) -> tuple[np.ndarray, np.ndarray]:
    """Order rows so that each learner's rows are together, with one integer sort.

    Each row's key is the top bits of a 64-bit hash of its learner id, then its
    row number in the low bits; one sort of these keys groups the rows by hash
    prefix and yields the row order. Ids are then told apart within a group by
    a second, independent 64-bit hash (groups holding more than one id, a few by
    chance, are put in order of that hash). Two ids are taken for one only if
    both hashes agree (the prefix and the second hash: at least 99 bits for up
    to 2**29 rows), a chance below 1e-14 even for 100 million learners.

    Parameters
    ----------
    first_hash, second_hash : np.ndarray
        uint64: two independent hashes of each row's learner id; fewer than
        2**32 rows. ``first_hash`` is overwritten.
    prefix_bits : int
        At most this many bits of the first hash are used (tests use few, to
        make groups hold many ids).

    Returns
    -------
    (np.ndarray, np.ndarray)
        uint32 row numbers in grouped order (rows of one learner in file order),
        and bool, True at the first row of each learner in that order.
    """
    n = first_hash.size
    bits = max(1, (n - 1).bit_length())
    drop = np.uint64(max(bits, 64 - prefix_bits))
    key = first_hash
    for start in range(0, n, CHUNK_ROWS):  # in place, a chunk at a time
        part = key[start : start + CHUNK_ROWS]
        part >>= drop
        part <<= drop
        part |= np.arange(start, start + part.size, dtype=np.uint64)
    key.sort()  # in place: numpy's vectorised sort beats a copy sorted by polars
    rows = np.empty(n, dtype=np.uint32)
    group_starts = np.empty(n, dtype=bool)
    group_starts[0] = True
    for start in range(0, n, CHUNK_ROWS):
        part = key[start : start + CHUNK_ROWS + 1]
        rows[start : start + CHUNK_ROWS] = part[:CHUNK_ROWS] & np.uint64(
            (1 << bits) - 1
        )
        np.not_equal(
            part[1:] >> drop,
            part[:-1] >> drop,
            out=group_starts[start + 1 : start + part.size],
        )
    del key
    second = _take(second_hash, rows)
    first = group_starts.copy()
    first[1:] |= second[1:] != second[:-1]
    shared = first & ~group_starts  # two ids in one group
    if shared.any():
        _sort_shared_groups(rows, second, first, group_starts, np.flatnonzero(shared))
    return rows, first


def _take(values: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """``values[rows]``, gathered by polars (in parallel, faster than numpy)."""
    return pl.Series(values).gather(pl.Series(rows)).to_numpy()


def _sort_shared_groups(
    rows: np.ndarray,
    second: np.ndarray,
    first: np.ndarray,
    group_starts: np.ndarray,
    inside: np.ndarray,
) -> None:
    """Sort by (second hash, row) the groups holding more than one id; in place."""
    starts = np.flatnonzero(group_starts)
    group = np.unique(np.searchsorted(starts, inside, side="right") - 1)
    after = np.minimum(group + 1, starts.size - 1)
    ends = np.where(group + 1 < starts.size, starts[after], rows.size)
    positions = np.concatenate(
        [np.arange(a, b) for a, b in zip(starts[group], ends, strict=True)]
    )
    members = pl.DataFrame(
        {
            "group": np.repeat(np.arange(group.size), ends - starts[group]),
            "second": second[positions],
            "row": rows[positions],
        }
    ).sort("group", "second", "row")
    rows[positions] = members["row"].to_numpy()
    same = (members["second"] == members["second"].shift(1)) & (
        members["group"] == members["group"].shift(1)
    )
    first[positions] = ~same.fill_null(value=False).to_numpy()


def _sort_rows(
    codes: np.ndarray, ticks: np.ndarray
) -> tuple[np.ndarray, np.ndarray, pl.DataFrame]:
    """Sort rows by (code, ticks) and find repeated (learner, instant) pairs.

    One sort of a packed 64-bit key (code, ticks) when it fits, else a sort on
    the two columns. ``ticks`` (uint32 or int64, >= 0) are time steps since the
    first instant, times two, plus one when Active, so Yes sorts after No at
    one instant.

    Returns
    -------
    (np.ndarray, np.ndarray, pl.DataFrame)
        uint32 codes and ticks (of the input type) of the distinct rows, sorted;
        and ``code``, ``instant`` (ticks // 2) of each (learner, instant) held by
        more than one row (identical rows, or Yes and No).
    """
    time_bits = max(1, int(ticks.max()).bit_length())
    code_bits = max(1, int(codes.max()).bit_length())
    if code_bits + time_bits > 64:
        frame = pl.DataFrame({"code": codes, "ticks": ticks}).sort("code", "ticks")
        codes, ticks = frame["code"].to_numpy(), frame["ticks"].to_numpy()
        instant = ticks >> 1
        same = (codes[1:] == codes[:-1]) & (instant[1:] == instant[:-1])
        keep = np.ones(codes.size, dtype=bool)
        keep[1:] = ~same | (ticks[1:] != ticks[:-1])
        at = np.flatnonzero(same)
        repeated = pl.DataFrame({"code": codes[at], "instant": instant[at]})
        return codes[keep], ticks[keep], repeated.cast({"instant": pl.Int64})
    # In place and a chunk at a time: every temporary array costs page faults.
    key = np.left_shift(codes, np.uint64(time_bits), dtype=np.uint64)
    np.bitwise_or(
        key, ticks.view(np.uint64) if ticks.dtype == np.int64 else ticks, out=key
    )
    key.sort()
    n = key.size
    same = np.empty(n - 1, dtype=bool)  # same learner and instant as the row before
    keep = np.empty(n, dtype=bool)  # not identical to the row before
    keep[0] = True
    for start in range(0, n - 1, CHUNK_ROWS):
        part = key[start : start + CHUNK_ROWS + 1]
        differ = part[1:] ^ part[:-1]  # only the state bit: same learner and instant
        np.less(differ, 2, out=same[start : start + differ.size])
        np.not_equal(differ, 0, out=keep[start + 1 : start + 1 + differ.size])
    mask = np.uint64((1 << time_bits) - 1)
    twice = key[np.flatnonzero(same)]
    repeated = pl.DataFrame(
        {
            "code": (twice >> np.uint64(time_bits)).astype(np.uint32),
            "instant": ((twice & mask) >> np.uint64(1)).astype(np.int64),
        }
    )
    kept = 0
    for start in range(0, n, CHUNK_ROWS):  # drop repeated rows, in place
        part = key[start : start + CHUNK_ROWS][keep[start : start + CHUNK_ROWS]]
        key[kept : kept + part.size] = part
        kept += part.size
    key = key[:kept]
    sorted_ticks = np.empty(kept, dtype=ticks.dtype)
    np.bitwise_and(key, mask, out=sorted_ticks, casting="unsafe")
    key >>= np.uint64(time_bits)
    return key.astype(np.uint32), sorted_ticks, repeated


def pack_status(
    frame: pl.LazyFrame,
    source: str,
    *,
    loader: Callable[[], pl.DataFrame],
    line_word: str = "row",
) -> StatusLog | None:
    """Validate a typed status log and pack it (the fast path of `read_status_log`).

    Learner ids are hashed as the file is read (the text is not kept), rows are
    grouped by learner with one integer sort (`_learner_groups`), the ids are
    encoded to integer codes in id order, and the rows are ordered by (learner,
    time, status) with one more sort, on a single packed 64-bit key. Identical
    rows are then adjacent (counted once and listed), and so are Yes and No for
    one learner at one instant (an error); both are reported by
    `prepare_status_log` from the rows concerned, so the messages read as on the
    general path.

    Parameters
    ----------
    frame : pl.LazyFrame
        ``learner_id`` String or integer, ``micros`` Int64 (microseconds since
        1970 UTC), ``is_active`` Boolean, as from `packable_columns`; optionally
        ``line`` Int64 (the row's 1-based row in the file; default its position
        + 1).
        Read twice (the ids are read again for the codes' dictionary).
    source : str
        The file, for messages and ``rejected``.
    loader : callable
        Returns `StatusLog.events` read the general way, if they are asked for.
    line_word : str
        ``"row"`` (Parquet) or ``"line"`` (CSV), for messages.

    Returns
    -------
    StatusLog or None
        With ``packed`` set. None when the log needs the general path: no rows,
        a null, a time outside `YEARS`, a blank learner id (or only white space)
        or one longer than `MAX_ID_CHARACTERS` (the general path then reports
        them).

    Raises
    ------
    LogFormatError
        If one learner is set to Yes and No at the same instant (naming both
        rows).
    """
    schema = frame.collect_schema()
    columns = schema.names()
    micros = pl.col("micros")
    n, nulls, lo, hi, whole_s, whole_ms = (
        frame.select(
            pl.len(),
            micros.null_count(),
            micros.min().alias("lo"),
            micros.max().alias("hi"),
            (micros % 1_000_000 == 0).all().alias("s"),
            (micros % 1_000 == 0).all().alias("ms"),
        )
        .collect(engine="streaming")
        .row(0)
    )
    if n == 0 or n >= 2**32 or nulls or lo < PACKED_RANGE[0] or hi >= PACKED_RANGE[1]:
        return None
    unit = 1_000_000 if whole_s else 1_000 if whole_ms else 1
    # Time in steps of `unit` since the first instant, x 2, + 1 when Active.
    small = (hi - lo) // unit < 2**31
    ids = pl.col("learner_id")
    read = _read_arrays(
        frame,
        [
            ids.hash(seed=0).alias("first_hash"),
            ids.hash(seed=1).alias("second_hash"),
            ((micros - lo) // unit * 2 + pl.col("is_active").cast(pl.Int64))
            .cast(pl.UInt32 if small else pl.Int64)
            .alias("ticks"),
            *([pl.col("line")] if "line" in columns else []),
        ],
        n,
        refuse=ids.is_null()
        | pl.col("is_active").is_null()
        | (
            ids.str.len_chars() > MAX_ID_CHARACTERS
            if schema["learner_id"] == pl.String
            else pl.lit(value=False)
        ),
    )
    if read is None:
        return None
    line = pl.Series(read.pop("line")) if "line" in columns else None
    first_hash, second_hash, ticks = read.values()
    del read
    rows, first = _learner_groups(first_hash, second_hash)
    del first_hash, second_hash
    # The ids are read again (by polars' threads) while the times are gathered.
    with ThreadPoolExecutor(max_workers=1) as pool:
        dictionary = pool.submit(_dictionary, frame, rows[first])
        ticks = _take(ticks, rows)
        learners, rank = dictionary.result()
    if learners is None:
        return None
    codes = np.cumsum(first, dtype=np.uint32)
    codes -= 1
    codes = _take(rank, codes)  # rows' codes, grouped
    del first, rank
    sorted_codes, sorted_ticks, repeated = _sort_rows(codes, ticks)
    rejected = REJECTED_SCHEMA.to_frame()
    if not repeated.is_empty():
        # Only the rows of learners with a repeated instant need a second look.
        marked = np.zeros(learners.len(), dtype=bool)
        marked[repeated["code"].to_numpy()] = True
        at = np.flatnonzero(np.take(marked, codes))
        grouped = pl.DataFrame({"code": codes[at], "ticks": ticks[at], "row": rows[at]})
        rejected = _recheck(
            grouped, repeated, learners, source, line, lo=lo, unit=unit, word=line_word
        )
    del codes, ticks, rows
    is_active = (sorted_ticks & 1).astype(bool)
    changed_at = sorted_ticks.astype(np.int64)
    del sorted_ticks
    changed_at >>= 1  # in place: no temporary arrays
    changed_at *= unit
    changed_at += lo
    events = pl.DataFrame(
        {
            "learner_id": sorted_codes,
            "changed_at": pl.Series(changed_at).cast(UTC_US),
            "is_active": is_active,
        }
    )
    return StatusLog(loader, rejected, source, n, packed=PackedStatus(events, learners))


def _read_arrays(
    frame: pl.LazyFrame, columns: list[pl.Expr], n: int, *, refuse: pl.Expr
) -> dict[str, np.ndarray] | None:
    """Numeric ``columns`` of ``frame`` (``n`` rows) as numpy arrays.

    The file is streamed in batches copied into arrays allocated once, so no
    more than a batch is held twice. Returns None if a row is flagged by
    ``refuse`` (a boolean expression on the file's columns).
    """
    schema = frame.select(columns).collect_schema()
    arrays = {
        name: np.empty(n, dtype=pl.Series(dtype=dtype).to_numpy().dtype)
        for name, dtype in schema.items()
    }
    start = 0
    batches = frame.select(*columns, refuse.alias("__refuse__")).collect_batches(
        chunk_size=CHUNK_ROWS
    )
    for batch in batches:
        if batch["__refuse__"].any():
            return None
        for name, values in arrays.items():
            values[start : start + batch.height] = batch[name].to_numpy()
        start += batch.height
    return arrays


def _dictionary(
    frame: pl.LazyFrame, first_rows: np.ndarray
) -> tuple[pl.Series | None, np.ndarray]:
    """The learner ids in id order, and the code of each group of `_learner_groups`.

    Parameters
    ----------
    frame : pl.LazyFrame
        As for `pack_status` (its ``learner_id`` column is read).
    first_rows : np.ndarray
        uint32: the row of each learner's first row, in group order.

    Returns
    -------
    (pl.Series or None, np.ndarray)
        String ids in ascending order (None if one is blank or only white
        space), and uint32 the code (index into the ids) of each group.
    """
    wanted = np.zeros(int(first_rows.max()) + 1, dtype=bool)
    wanted[first_rows] = True
    # Position of each group's first row among the wanted rows, in file order.
    position = np.cumsum(wanted, dtype=np.uint32)
    position -= 1
    position = _take(position, first_rows)
    parts, start = [], 0
    for batch in frame.select("learner_id").collect_batches(chunk_size=CHUNK_ROWS):
        mask = pl.Series(wanted[start : start + batch.height])
        parts.append(batch.to_series().head(mask.len()).filter(mask))
        start += batch.height
    ids = pl.concat(parts, rechunk=True)
    lo, hi = ids.min(), ids.max()
    if isinstance(lo, int) and isinstance(hi, int) and lo > -(2**63) and hi < 10**19:
        order = _decimal_order(ids.to_numpy())
        ids = ids.cast(pl.String)  # the ids are their decimal text
    else:
        ids = ids.cast(pl.String)
        if (ids.str.strip_chars(WHITE_SPACE) == "").any():
            return None, position
        order = _lexical_order(ids)
    learners = ids.gather(order)
    by_row = np.empty(order.size, dtype=np.uint32)
    by_row[order] = np.arange(order.size, dtype=np.uint32)
    return learners, by_row[position]


def _recheck(
    grouped: pl.DataFrame,
    repeated: pl.DataFrame,
    learners: pl.Series,
    source: str,
    line: pl.Series | None,
    *,
    lo: int,
    unit: int,
    word: str,
) -> pl.DataFrame:
    """Duplicates and conflicts, from the rows at each repeated (learner, instant).

    Parameters
    ----------
    grouped : pl.DataFrame
        At least every row of the learners in ``repeated``: ``code`` UInt32,
        ``ticks`` (as in `pack_status`), ``row`` UInt32 (0-based position in
        the file, or in ``line``).
    repeated : pl.DataFrame
        ``code``, ``instant`` (ticks // 2) of each (learner, instant) held by
        more than one row.
    line : pl.Series or None
        Int64 line of each row; None: the position + 1.
    word : str
        ``"row"`` or ``"line"``, for messages.

    Returns
    -------
    pl.DataFrame
        The ``rejected`` frame of `prepare_status_log` on those rows.

    Raises
    ------
    LogFormatError
        As `prepare_status_log`, for Yes and No at one instant.
    """
    instants = repeated["instant"].unique().implode()
    involved = (
        grouped.lazy()
        .with_columns((pl.col("ticks").cast(pl.Int64) // 2).alias("instant"))
        .filter(pl.col("instant").is_in(instants))
        .join(repeated.lazy().unique(), on=["code", "instant"], how="semi")
        .collect()
    )
    at = involved["row"]
    frame = involved.select(
        (pl.col("row").cast(pl.Int64) + 1 if line is None else line.gather(at)).alias(
            "line"
        ),
        learners.gather(involved["code"]).alias("learner_id"),
        (pl.col("instant") * unit + lo).cast(UTC_US).alias("changed_at"),
        (pl.col("ticks") % 2 == 1).alias("is_active"),
        *(pl.lit(None, pl.String).alias(c) for c in ("event_id", "channel", "actor")),
    )
    return prepare_status_log(frame, source, line_word=word).rejected


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
        If the file is missing, empty, not UTF-8, of an unknown type, changed
        while it was read (`Pinned`), or any row is invalid (see
        `parse_status_log`).
    """
    path = Path(path)
    if not (path.suffix.lower() == ".parquet" and path.is_file()):
        return _parse_table(path, None, naive_timezone)
    pin = Pinned(path)  # the fast path and a later read of the events: one file
    with pin.checked():
        packed = _read_packed(
            pin, lambda: _parse_table(path, pin, naive_timezone).events
        )
    return packed or _parse_table(path, pin, naive_timezone)


def _parse_table(
    path: Path, pin: Pinned | None, naive_timezone: str | None
) -> StatusLog:
    """`read_status_log` the general way (through ``pin`` if given)."""
    frame, line_word = _read_table(path, pin)
    return parse_status_log(
        frame, str(path), naive_timezone=naive_timezone, line_word=line_word
    )


def _read_packed(pin: Pinned, loader: Callable[[], pl.DataFrame]) -> StatusLog | None:
    """The fast path of `read_status_log`, or None if the file cannot take it.

    Call it within ``pin.checked()``: a failure of a file changed meanwhile is
    then reported as the change.
    """
    path = pin.path
    try:
        schema = pl.read_parquet_schema(pin.reading)
    except (pl.exceptions.PolarsError, OSError):
        return None  # the general path says what is wrong
    if not packable(schema):
        return None
    frame = pl.scan_parquet(pin.reading, glob=False).select(packable_columns(schema))
    try:
        return pack_status(frame, str(path), loader=loader)
    except (pl.exceptions.PolarsError, OSError) as exc:
        raise _unreadable(path, ".parquet", exc) from None


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
