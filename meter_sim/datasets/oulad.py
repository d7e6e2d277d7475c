"""Turn OULAD module registrations into an Active Learner status log.

The Open University Learning Analytics Dataset (OULAD) [1]_ holds, for each
student on a module-presentation, the registration and withdrawal days
relative to the presentation's start. This module reads ``courses.csv`` and
``studentRegistration.csv`` from a folder outside the project (the data is
never copied into it) and applies the issue's rule [2]_:

- a learner is a person: ``learner_id`` is ``id_student`` as its decimal text;
- day 0 of presentation ``YYYYB`` is 1 February YYYY and of ``YYYYJ`` is
  1 October YYYY (the day of the month is the ``start_day`` parameter; the
  real start days are not published, see the dataset README);
- each registration row makes the learner active from 09:00 Europe/London
  local time on the registration date (day 0 + ``date_registration`` days)
  until 17:00 London time on the withdrawal date (day 0 +
  ``date_unregistration`` days), or, without a withdrawal, until 17:00 on the
  module's last day (day 0 + ``module_presentation_length`` days);
- a learner with several enrolments at once stays active until the last one
  ends: each learner's overlapping or touching intervals are merged into one,
  separate ones stay separate (the learner is inactive in between);
- rows that cannot be placed are reported with their physical line in
  ``studentRegistration.csv`` (the header is line 1) and a reason, never
  dropped silently.

Every rejection reason starts with one of the fixed phrases below, followed by
a colon and the details (several problems in one row are joined with ``"; "``):

- ``no registration date``: ``date_registration`` is empty (45 rows of the
  real data);
- ``withdrawal before registration``: ``date_unregistration`` is an earlier
  day than ``date_registration``, so the interval would end before it starts
  (no such row in the real data; a same-day withdrawal is a valid 09:00-17:00
  interval);
- ``registration after module end``: no withdrawal and ``date_registration``
  is after the module's last day;
- ``presentation not in courses.csv``: no ``courses.csv`` row has the row's
  (``code_module``, ``code_presentation``);
- ``malformed presentation code``: ``code_presentation`` is not ``YYYYB`` or
  ``YYYYJ``;
- ``malformed number``: ``id_student`` is not a whole number of at most 18
  digits, a day count (``date_registration``, ``date_unregistration``) is
  not a whole number of at most 6 digits, or the presentation's
  ``module_presentation_length`` in ``courses.csv`` is not.

The data is licensed CC BY 4.0; cite it as in [1]_.

References
----------
.. [1] Kuzilek, J., Hlosta, M., Zdrahal, Z. "Open University Learning
   Analytics dataset". Scientific Data 4, 170171 (2017).
   doi:10.1038/sdata.2017.171. Licence: CC BY 4.0. Distributed by the Open
   University, Knowledge Media Institute (analyse.kmi.open.ac.uk/open_dataset).
.. [2] The project issue that asked for this loader: the rule as restated
   above. Background: the OULAD folder's README.md, section "Relative days
   -> calendar dates" (the day-0 convention and its uncertainty); DESIGN.md
   section 4 (the status log format written by `write_status_log`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import polars as pl

from meter_sim.exceptions import LogFormatError

__all__ = [
    "COURSES_FILE",
    "ENV_VAR",
    "REGISTRATIONS_FILE",
    "OuladStatusLog",
    "oulad_folder",
    "registrations_status_log",
    "write_status_log",
]

ENV_VAR: Final = "METER_SIM_OULAD"
"""Environment variable naming the OULAD folder when no folder is passed."""

REGISTRATIONS_FILE: Final = "studentRegistration.csv"
"""Registrations: ``code_module``, ``code_presentation``, ``id_student``,
``date_registration``, ``date_unregistration``."""

COURSES_FILE: Final = "courses.csv"
"""Presentations: ``code_module``, ``code_presentation``,
``module_presentation_length``."""

LOCAL_TIME_ZONE: Final = "Europe/London"
"""Time zone of the 09:00 activation and 17:00 deactivation times."""

ACTIVATION_HOUR: Final = 9
"""Local hour of activation on the registration date. [h]"""

DEACTIVATION_HOUR: Final = 17
"""Local hour of deactivation on the withdrawal or last day. [h]"""

NO_REGISTRATION_DATE: Final = "no registration date"
WITHDRAWAL_BEFORE_REGISTRATION: Final = "withdrawal before registration"
REGISTRATION_AFTER_MODULE_END: Final = "registration after module end"
PRESENTATION_NOT_IN_COURSES: Final = "presentation not in courses.csv"
MALFORMED_PRESENTATION: Final = "malformed presentation code"
MALFORMED_NUMBER: Final = "malformed number"

_REGISTRATION_COLUMNS: Final = (
    "code_module",
    "code_presentation",
    "id_student",
    "date_registration",
    "date_unregistration",
)
_COURSE_COLUMNS: Final = (
    "code_module",
    "code_presentation",
    "module_presentation_length",
)
_KEYS: Final = ["code_module", "code_presentation"]
_ID_PATTERN: Final = r"^[0-9]{1,18}$"
_DAYS_PATTERN: Final = r"^-?[0-9]{1,6}$"
_PRESENTATION_PATTERN: Final = r"^([0-9]{4})([BJ])$"
_START_MONTH: Final = {"B": 2, "J": 10}

STATUS_SCHEMA: Final = pl.Schema(
    {
        "learner_id": pl.String(),
        "changed_at": pl.Datetime("us", "UTC"),
        "is_active": pl.Boolean(),
    }
)
"""Columns and dtypes of `OuladStatusLog.status`."""

REJECTED_SCHEMA: Final = pl.Schema(
    {"source": pl.String(), "line": pl.Int64(), "reason": pl.String()}
)
"""Columns and dtypes of `OuladStatusLog.rejected`."""


@dataclass(frozen=True)
class OuladStatusLog:
    """A status log built from OULAD registrations, with the rows it could not use.

    Attributes
    ----------
    status : polars.DataFrame
        One row per status change, sorted by (``learner_id``, ``changed_at``);
        ``True`` at each merged interval's start, ``False`` at its end, so each
        learner's rows alternate ``True``/``False`` starting with ``True``.
        Columns: ``learner_id`` : String (``id_student`` as decimal text),
        ``changed_at`` : Datetime("us", "UTC"), ``is_active`` : Boolean.
    rejected : polars.DataFrame
        One row per registration row that could not be placed, sorted by
        ``line``. Columns: ``source`` : String (path of
        ``studentRegistration.csv``), ``line`` : Int64 (physical line, header
        is line 1) [line], ``reason`` : String (starts with one of the fixed
        phrases listed in the module docstring).
    rows_read : int
        Data rows read from ``studentRegistration.csv`` (header excluded).
        [rows]
    rows_used : int
        Rows that became an interval; ``rows_read == rows_used +
        rejected.height``. [rows]

    Raises
    ------
    ValueError
        If ``rows_read != rows_used + rejected.height``.
    """

    status: pl.DataFrame
    rejected: pl.DataFrame
    rows_read: int
    rows_used: int

    def __post_init__(self) -> None:
        if self.rows_read != self.rows_used + self.rejected.height:
            msg = (
                f"`rows_read` ({self.rows_read}) must equal `rows_used` "
                f"({self.rows_used}) + rejected rows ({self.rejected.height})"
            )
            raise ValueError(msg)


def oulad_folder(folder: str | os.PathLike[str] | None = None) -> Path:
    """Find the folder holding the OULAD CSV files.

    Parameters
    ----------
    folder : str, os.PathLike or None
        The folder. If None, the environment variable ``METER_SIM_OULAD``
        (`ENV_VAR`) names it; an empty value counts as unset.

    Returns
    -------
    pathlib.Path
        The folder, as given (not resolved).

    Raises
    ------
    LogFormatError
        If no folder is given and ``METER_SIM_OULAD`` is unset, or the folder
        does not exist or is not a directory. The message says which folder
        was looked for and how to set it.
    """
    how = (
        f"pass the folder holding {REGISTRATIONS_FILE} and {COURSES_FILE}, "
        f"or set the environment variable {ENV_VAR}=/path/to/oulad"
    )
    if folder is not None:
        path, origin = Path(folder), "--data (the `folder` argument)"
    else:
        value = os.environ.get(ENV_VAR, "")
        if not value:
            msg = f"no OULAD folder given and {ENV_VAR} is not set: {how}"
            raise LogFormatError(msg)
        path, origin = Path(value), f"environment variable {ENV_VAR}"
    if not path.is_dir():
        msg = f"OULAD folder not found: looked for '{path}' (from {origin}); {how}"
        raise LogFormatError(msg, source=str(path))
    return path


def registrations_status_log(
    folder: str | os.PathLike[str] | None = None, *, start_day: int = 1
) -> OuladStatusLog:
    """Build an Active Learner status log from OULAD registrations.

    Applies the rule stated in the module docstring [2]_ to every row of
    ``studentRegistration.csv`` joined to ``courses.csv`` on
    (``code_module``, ``code_presentation``). Both files are read with every
    column as a string and validated here, so each bad value is reported with
    its line. Activation is at 09:00 and deactivation at 17:00 Europe/London
    local time (GMT or BST as in force that day), stored in UTC.

    Parameters
    ----------
    folder : str, os.PathLike or None
        Folder holding ``studentRegistration.csv`` and ``courses.csv`` [1]_;
        if None, the environment variable ``METER_SIM_OULAD``. See
        `oulad_folder`.
    start_day : int
        Day of the month of day 0: day 0 of ``YYYYB`` is ``start_day``
        February YYYY and of ``YYYYJ`` is ``start_day`` October YYYY; 1 to 28.
        Default 1. [day of month]

    Returns
    -------
    OuladStatusLog
        ``status`` (``learner_id`` : String, ``changed_at`` :
        Datetime("us", "UTC"), ``is_active`` : Boolean; sorted by
        (``learner_id``, ``changed_at``)), ``rejected`` (``source`` : String,
        ``line`` : Int64, ``reason`` : String), ``rows_read`` and
        ``rows_used``.

    Raises
    ------
    LogFormatError
        If the folder or a file is missing (see `oulad_folder`), a file is not
        valid CSV, a required column is missing (``field`` names it), or
        ``courses.csv`` lists a presentation twice.
    ValueError
        If ``start_day`` is not an integer from 1 to 28.

    See Also
    --------
    write_status_log : writes ``status`` as CSV or Parquet.

    References
    ----------
    .. [1] Kuzilek, J., Hlosta, M., Zdrahal, Z. "Open University Learning
       Analytics dataset". Scientific Data 4, 170171 (2017).
       doi:10.1038/sdata.2017.171 (CC BY 4.0).
    .. [2] The project issue that asked for this loader (the rule as restated
       in this module's docstring).

    Examples
    --------
    On the real data (not shipped with meter_sim)::

        log = registrations_status_log("../shared/data/oulad")
        log.rows_read, log.rows_used, log.rejected.height  # (32593, 32548, 45)
    """
    if isinstance(start_day, bool) or not 1 <= start_day <= 28:
        msg = f"`start_day` must be an integer from 1 to 28, got {start_day!r}"
        raise ValueError(msg)
    base = oulad_folder(folder)
    registrations_path = _require_file(base, REGISTRATIONS_FILE)
    courses = _read_courses(_require_file(base, COURSES_FILE))
    registrations = _read_csv(registrations_path, _REGISTRATION_COLUMNS)

    placed = _place(registrations, courses, start_day=start_day)
    used = placed.filter(pl.col("reason") == "")
    rejected = (
        placed.filter(pl.col("reason") != "")
        .select(
            source=pl.lit(str(registrations_path), dtype=pl.String()),
            line=pl.col("line"),
            reason=pl.col("reason"),
        )
        .sort("line")
    )
    return OuladStatusLog(
        status=_status_changes(used),
        rejected=rejected,
        rows_read=registrations.height,
        rows_used=used.height,
    )


def write_status_log(log: OuladStatusLog, path: str | os.PathLike[str]) -> None:
    """Write the status log of an `OuladStatusLog` as CSV or Parquet.

    Parameters
    ----------
    log : OuladStatusLog
        Its ``status`` frame is written (``learner_id``, ``changed_at``,
        ``is_active``); ``rejected`` is not.
    path : str or os.PathLike
        Output file; the suffix (any case) chooses the format: ``.csv`` writes
        ``changed_at`` as ISO-8601 UTC with a ``Z`` (e.g.
        ``2013-09-09T08:00:00Z``) and ``is_active`` as ``true``/``false``
        (the status log format of DESIGN.md section 4); ``.parquet`` keeps the
        dtypes.

    Raises
    ------
    LogFormatError
        If the suffix is neither ``.csv`` nor ``.parquet``, or the file cannot be
        written (e.g. its folder does not exist).
    """
    target = Path(path)
    suffix = target.suffix.lower()
    try:
        if suffix == ".csv":
            log.status.with_columns(
                pl.col("changed_at").dt.strftime("%Y-%m-%dT%H:%M:%S%.fZ")
            ).write_csv(target)
        elif suffix == ".parquet":
            log.status.write_parquet(target)
    except OSError as exc:
        msg = f"{target}: cannot write the status log: {exc.strerror or exc}"
        raise LogFormatError(msg, source=str(target)) from None
    if suffix not in {".csv", ".parquet"}:
        msg = (
            f"cannot write a status log to '{target}': the suffix must be "
            f"`.csv` or `.parquet`, got `{target.suffix}`"
        )
        raise LogFormatError(msg, source=str(target))


def _require_file(folder: Path, name: str) -> Path:
    """Return ``folder / name``, or raise `LogFormatError` if it is not a file."""
    path = folder / name
    if not path.is_file():
        msg = (
            f"OULAD file not found: looked for '{path}'; the OULAD folder is the "
            f"`--data` option (`folder` argument) or the environment variable {ENV_VAR}"
        )
        raise LogFormatError(msg, source=str(path))
    return path


def _read_csv(path: Path, required: tuple[str, ...]) -> pl.DataFrame:
    """Read a CSV with every column as String and add its physical ``line``.

    Quoted ``""`` and unquoted empty fields both count as empty; a blank line
    is a row of nulls. The physical line is 2 + the row index + the newlines
    inside quoted fields of the rows before it.
    """
    try:
        frame = pl.read_csv(path, infer_schema=False, raise_if_empty=True)
    except pl.exceptions.PolarsError as error:
        msg = f"{path}: not a readable CSV file ({type(error).__name__}: {error})"
        raise LogFormatError(msg, source=str(path)) from None
    missing = [name for name in required if name not in frame.columns]
    if missing:
        msg = (
            f"{path}:1: missing column(s) {', '.join(f'`{m}`' for m in missing)}; "
            f"found {', '.join(f'`{c}`' for c in frame.columns)}"
        )
        raise LogFormatError(msg, source=str(path), line=1, field=missing[0])
    newlines = pl.sum_horizontal(
        pl.all().str.count_matches("\n", literal=True).fill_null(0)
    ).cast(pl.Int64)
    return frame.select(
        *required,
        line=pl.int_range(pl.len(), dtype=pl.Int64) + 2 + newlines.cum_sum() - newlines,
    )


def _is_empty(column: str) -> pl.Expr:
    """Whether a String column's value is null or ``""``."""
    return pl.col(column).is_null() | (pl.col(column) == "")


def _shown(column: str) -> pl.Expr:
    """A String column's value for messages (null shown as empty)."""
    return pl.col(column).fill_null("")


def _malformed(column: str, pattern: str, expected: str) -> pl.Expr:
    """Reason text when ``column`` does not match ``pattern``, else null."""
    return (
        pl.when(pl.col(column).fill_null("").str.contains(pattern).not_())
        .then(
            pl.format(
                f"{MALFORMED_NUMBER}: `{column}` is '{{}}', expected {expected}",
                _shown(column),
            )
        )
        .otherwise(None)
    )


def _read_courses(path: Path) -> pl.DataFrame:
    """Read and check ``courses.csv``; one row per presentation.

    Returns the key columns, ``length`` : Int32 (null if malformed) [days] and
    ``course_problem`` : String (null if the row is valid).
    """
    frame = _read_csv(path, _COURSE_COLUMNS)
    duplicated = frame.filter(pl.struct(_KEYS).is_duplicated())
    if duplicated.height:
        first = duplicated.row(0, named=True)
        lines = duplicated.filter(
            (pl.col("code_module") == first["code_module"])
            & (pl.col("code_presentation") == first["code_presentation"])
        )["line"].to_list()
        msg = (
            f"{path}: presentation ({first['code_module']!r}, "
            f"{first['code_presentation']!r}) is listed on lines "
            f"{', '.join(map(str, lines))}; each presentation must appear once"
        )
        raise LogFormatError(
            msg, source=str(path), line=lines[0], field="code_presentation"
        )
    column = "module_presentation_length"
    valid = pl.col(column).str.contains(r"^[0-9]{1,6}$").fill_null(value=False)
    return frame.select(
        *_KEYS,
        length=pl.when(valid).then(pl.col(column).cast(pl.Int32)),
        course_problem=pl.when(valid.not_()).then(
            pl.format(
                f"{MALFORMED_NUMBER}: {COURSES_FILE} line {{}}: `{column}` is '{{}}', "
                "expected a whole number of days",
                pl.col("line"),
                _shown(column),
            )
        ),
    )


def _local_to_utc(day: pl.Expr, hour: int) -> pl.Expr:
    """``hour``:00 Europe/London local time on ``day`` (a Date), in UTC."""
    return (
        (day.cast(pl.Datetime("us")) + pl.duration(hours=hour))
        .dt.replace_time_zone(LOCAL_TIME_ZONE, ambiguous="raise", non_existent="raise")
        .dt.convert_time_zone("UTC")
    )


def _place(
    registrations: pl.DataFrame, courses: pl.DataFrame, *, start_day: int
) -> pl.DataFrame:
    """Give each registration row its interval, or a rejection reason.

    Returns one row per registration row: ``line`` : Int64, ``learner_id`` :
    String, ``activated_at`` and ``deactivated_at`` : Datetime("us", "UTC"),
    ``reason`` : String (``""`` when the row is used).
    """
    days = "a whole number of days (at most 6 digits)"
    presentation = pl.col("code_presentation").str.extract_groups(_PRESENTATION_PATTERN)
    parsed = (
        registrations.lazy()
        .join(
            courses.lazy().with_columns(_in_courses=pl.lit(value=True)),
            on=_KEYS,
            how="left",
        )
        .with_columns(
            year=presentation.struct.field("1").cast(pl.Int32),
            month=presentation.struct.field("2").replace_strict(
                _START_MONTH, default=None, return_dtype=pl.Int8
            ),
            registered=pl.when(pl.col("date_registration").str.contains(_DAYS_PATTERN))
            .then(pl.col("date_registration").cast(pl.Int32))
            .otherwise(None),
            unregistered=pl.when(
                pl.col("date_unregistration").str.contains(_DAYS_PATTERN)
            )
            .then(pl.col("date_unregistration").cast(pl.Int32))
            .otherwise(None),
        )
        .with_columns(day0=pl.date(pl.col("year"), pl.col("month"), start_day))
        .with_columns(
            activated_at=_local_to_utc(
                pl.col("day0") + pl.duration(days=pl.col("registered")),
                ACTIVATION_HOUR,
            ),
            deactivated_at=_local_to_utc(
                pl.col("day0")
                + pl.duration(
                    days=pl.coalesce(
                        "unregistered",
                        pl.when(_is_empty("date_unregistration")).then("length"),
                    )
                ),
                DEACTIVATION_HOUR,
            ),
        )
    )
    problems = [
        _malformed("id_student", _ID_PATTERN, "a whole number (at most 18 digits)"),
        pl.when(_is_empty("date_registration")).then(
            pl.lit(f"{NO_REGISTRATION_DATE}: `date_registration` is empty")
        ),
        pl.when(_is_empty("date_registration").not_()).then(
            _malformed("date_registration", _DAYS_PATTERN, days)
        ),
        pl.when(_is_empty("date_unregistration").not_()).then(
            _malformed("date_unregistration", _DAYS_PATTERN, days)
        ),
        pl.when(pl.col("_in_courses").is_null()).then(
            pl.format(
                f"{PRESENTATION_NOT_IN_COURSES}: "
                "(`code_module` '{}', `code_presentation` '{}')",
                _shown("code_module"),
                _shown("code_presentation"),
            )
        ),
        pl.when(pl.col("month").is_null()).then(
            pl.format(
                f"{MALFORMED_PRESENTATION}: `code_presentation` is '{{}}', "
                "expected YYYYB or YYYYJ",
                _shown("code_presentation"),
            )
        ),
        pl.col("course_problem"),
        _order_problem(),
    ]
    return (
        parsed.select(
            "line",
            learner_id=pl.col("id_student")
            .cast(pl.Int64, strict=False)
            .cast(pl.String),
            activated_at="activated_at",
            deactivated_at="deactivated_at",
            reason=pl.concat_str(problems, separator="; ", ignore_nulls=True),
        )
        .sort("line")
        .collect()
    )


def _order_problem() -> pl.Expr:
    """Reason text when a placed interval would end before it starts, else null."""
    backwards = pl.col("deactivated_at") < pl.col("activated_at")
    return (
        pl.when(backwards & pl.col("unregistered").is_not_null())
        .then(
            pl.format(
                f"{WITHDRAWAL_BEFORE_REGISTRATION}: `date_unregistration` {{}} is "
                "before `date_registration` {} [days]",
                pl.col("unregistered"),
                pl.col("registered"),
            )
        )
        .when(backwards)
        .then(
            pl.format(
                f"{REGISTRATION_AFTER_MODULE_END}: `date_registration` {{}} is after "
                "the module's last day {} (`module_presentation_length`) [days]",
                pl.col("registered"),
                pl.col("length"),
            )
        )
    )


def _status_changes(used: pl.DataFrame) -> pl.DataFrame:
    """Merge each learner's overlapping or touching intervals into status changes.

    Intervals are sorted by (``learner_id``, ``activated_at``,
    ``deactivated_at``); a row starts a new merged interval when it starts
    after the latest end of that learner's earlier rows. Each merged interval
    gives a ``True`` row at its start and a ``False`` row at its end.
    """
    latest_end = pl.col("deactivated_at").cum_max().shift(1).over("learner_id")
    merged = (
        used.lazy()
        .select("learner_id", "activated_at", "deactivated_at")
        .sort("learner_id", "activated_at", "deactivated_at")
        .with_columns(
            block=(
                latest_end.is_null() | (pl.col("activated_at") > latest_end)
            ).cum_sum()
        )
        .group_by("learner_id", "block")
        .agg(pl.col("activated_at").min(), pl.col("deactivated_at").max())
    )
    changes = pl.concat(
        [
            merged.select(
                "learner_id",
                changed_at="activated_at",
                is_active=pl.lit(value=True),
            ),
            merged.select(
                "learner_id",
                changed_at="deactivated_at",
                is_active=pl.lit(value=False),
            ),
        ]
    )
    return changes.sort("learner_id", "changed_at").collect().cast(STATUS_SCHEMA)
