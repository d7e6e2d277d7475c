"""Turn the OULAD's real enrolments and dated learner activity into meter_sim inputs.

The Open University Learning Analytics Dataset (OULAD) [1]_ holds, for each
student on a module-presentation, the registration and withdrawal days and every
dated assessment submission, all counted in days from the presentation's start.
This module reads four of its CSV files from a folder outside the project (the
data is never copied into it): ``courses.csv``, ``assessments.csv``,
``studentRegistration.csv`` and ``studentAssessment.csv``. Columns are found by
name (the ``studentAssessment.csv`` copy has its columns in another order than
the original, and writes a missing ``score`` as ``?``; ``score`` is not used).

It gives meter_sim two views of the same enrolments:

- `read_oulad`: the learners and their *needs* (dated activities that must
  happen), the input of every status-management strategy of
  `meter_sim.strategies`; `compare_oulad` bills every strategy on them;
- `registrations_status_log`: the provider's own *explicit* timeline, a status
  log Active from each registration to its end, for `meter-sim bill`.

Conventions (the issue "Real data: what 32,593 real enrolments would cost under
each strategy" [2]_; the day-0 convention and its uncertainty are from the
dataset README [3]_):

- a learner is a person: ``learner_id`` is ``id_student`` as its decimal text.
  One learner may hold several module enrolments and is still billed once a
  month [4]_;
- day 0 of presentation ``YYYYB`` is 1 February YYYY and of ``YYYYJ`` is
  1 October YYYY; the day of the month is the ``start_day`` parameter (the real
  start days are not published). A ``date*`` value of N days is the date day 0
  + N days;
- needs, each an ``enrolment`` activity (not deferrable) at 12:00
  Europe/London local time on its date: the registration
  (``date_registration``); every assessment submission that is not banked
  (``date_submitted``; ``is_banked = 1`` rows carry a result from an earlier
  presentation and are not activity); the withdrawal (``date_unregistration``)
  for an enrolment that has one; otherwise the final result on the module's last
  day (``module_presentation_length``);
- submissions dated after the enrolment's withdrawal day are real (601 rows in
  the real data: 13 are banked and 3 belong to a registration without a date,
  the other 585 are needs). They are needs like any other, marked
  ``after_withdrawal``, and a strategy must switch the learner on again for
  them when it has switched the learner off (`late_reactivations`);
- the billing time zone is Europe/London (`TIMEZONE`): months are its calendar
  months;
- a learner's ``created_at`` is its earliest need (in the real data always its
  first registration) and its ``course_end`` the end of its last enrolment (the
  latest withdrawal or final-result need), so no need falls before creation;
- the explicit timeline is Active from 09:00 London time on each registration
  date to 17:00 on the withdrawal date or the module's last day; a learner's
  overlapping or touching intervals merge, separate ones stay separate.

Every input row is accounted for (`OuladData.inputs`): a row is *used*, *not
activity* (a banked submission) or *rejected*, and each rejected row is listed
with its file, its physical line (the header is line 1; line breaks inside
quoted fields count) and a reason, never dropped silently. A reason starts with
one of these fixed phrases, then a colon and the details; several problems of
one row are joined with ``"; "``:

- ``malformed number``: an id (``id_student``, ``id_assessment``) is not a whole
  number of at most 18 digits; a day count (``date_registration``,
  ``date_unregistration``, ``date_submitted``, ``module_presentation_length``)
  is not a whole number of at most 6 digits (a module length also not
  negative); or
  ``is_banked`` is not 0 or 1. A registration on a presentation whose
  ``courses.csv`` row is malformed says so, naming that line;
- ``malformed presentation code``: ``code_presentation`` is not ``YYYYB`` or
  ``YYYYJ`` (``courses.csv``, ``studentRegistration.csv``);
- ``missing presentation``: ``code_module`` or ``code_presentation`` is empty
  (``assessments.csv``);
- ``no registration date``: ``date_registration`` is empty (45 rows of the real
  data);
- ``withdrawal before registration``: ``date_unregistration`` is an earlier day
  than ``date_registration`` (a same-day withdrawal is valid);
- ``registration after module end``: no withdrawal and ``date_registration`` is
  after the module's last day;
- ``presentation not in courses.csv``: no ``courses.csv`` row has the
  registration's (``code_module``, ``code_presentation``);
- ``duplicate registration``: an earlier row has the same student and
  presentation (the first is kept);
- ``unknown assessment``: a submission's ``id_assessment`` has no valid row in
  ``assessments.csv``;
- ``no placeable registration``: a submission (not banked) whose student has no
  row in ``studentRegistration.csv`` for the assessment's presentation, or whose
  registration row was rejected (3 rows of the real data).

Each row is checked for every problem above that concerns its file, and is
rejected if it has any; a submission without one is banked (not activity) or
used. A presentation
listed twice in ``courses.csv`` or an assessment id listed twice in
``assessments.csv`` makes the lookup ambiguous: an error, not a rejected row.

The data is licensed CC BY 4.0; cite it as in [1]_.

References
----------
.. [1] Kuzilek, J., Hlosta, M., Zdrahal, Z. "Open University Learning
   Analytics dataset". Scientific Data 4, 170171 (2017).
   doi:10.1038/sdata.2017.171. Licence: CC BY 4.0. Distributed by the Open
   University, Knowledge Media Institute (analyse.kmi.open.ac.uk/open_dataset).
.. [2] Project issue #6, "Real data: what 32,593 real enrolments would cost
   under each strategy (OULAD)": the conventions as restated above.
.. [3] The OULAD folder's README.md, sections "Columns", "Relative days ->
   calendar dates" and "Things to watch when simulating 'active' status".
.. [4] DESIGN.md section 1, Metering: "Billable learners per month = distinct
   learner records; toggles, enrolments, activities don't add."
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, replace
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Final
from zoneinfo import ZoneInfo

import polars as pl

from meter_sim.billing import bill
from meter_sim.exceptions import LogFormatError
from meter_sim.lifecycle import month_start
from meter_sim.logs import UTC_US, prepare_activity_log
from meter_sim.metering import month_index, month_start_date
from meter_sim.simulate import COMPARISON_SCHEMA, EXPLICIT, StrategyComparison
from meter_sim.strategies import STRATEGIES, StrategyRun, status_log

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from meter_sim.billing import Bill
    from meter_sim.logs import ActivityLog
    from meter_sim.pricing import Plan

__all__ = [
    "ASSESSMENTS_FILE",
    "COURSES_FILE",
    "DEFAULT_FOLDER",
    "ENROLMENTS_SCHEMA",
    "ENV_VAR",
    "EVENTS",
    "FILES",
    "INPUTS_SCHEMA",
    "LEARNERS_SCHEMA",
    "NEEDS_SCHEMA",
    "POPULATION_SCHEMA",
    "REGISTRATIONS_FILE",
    "REJECTED_SCHEMA",
    "STATUS_SCHEMA",
    "SUBMISSIONS_FILE",
    "TIMEZONE",
    "OuladComparison",
    "OuladData",
    "OuladStatusLog",
    "compare_oulad",
    "late_reactivations",
    "monthly_learners",
    "oulad_folder",
    "population",
    "read_oulad",
    "registrations_status_log",
    "write_status_log",
]

ENV_VAR: Final = "METER_SIM_OULAD"
"""Environment variable naming the OULAD folder when no folder is passed."""

DEFAULT_FOLDER: Final = (
    Path(__file__).resolve().parents[3] / "shared" / "data" / "oulad"
)
"""The folder used when none is passed and `ENV_VAR` is unset, if it exists:
``../shared/data/oulad`` beside the repository (the team's shared data)."""

REGISTRATIONS_FILE: Final = "studentRegistration.csv"
"""Registrations: ``code_module``, ``code_presentation``, ``id_student``,
``date_registration``, ``date_unregistration``."""

COURSES_FILE: Final = "courses.csv"
"""Presentations: ``code_module``, ``code_presentation``,
``module_presentation_length``."""

ASSESSMENTS_FILE: Final = "assessments.csv"
"""Assessments: ``code_module``, ``code_presentation``, ``id_assessment`` (other
columns are not used)."""

SUBMISSIONS_FILE: Final = "studentAssessment.csv"
"""Submissions: ``id_student``, ``id_assessment``, ``date_submitted``,
``is_banked`` (``score`` is not used)."""

FILES: Final = (COURSES_FILE, ASSESSMENTS_FILE, REGISTRATIONS_FILE, SUBMISSIONS_FILE)
"""The files `read_oulad` reads, in the order it accounts for them."""

TIMEZONE: Final = "Europe/London"
"""Billing time zone, and the zone of every local time below."""

LOCAL_TIME_ZONE: Final = TIMEZONE
"""Time zone of the 09:00 activation and 17:00 deactivation times."""

ACTIVATION_HOUR: Final = 9
"""Local hour of activation on the registration date (explicit timeline). [h]"""

DEACTIVATION_HOUR: Final = 17
"""Local hour of deactivation on the withdrawal or last day (explicit timeline). [h]"""

NEED_HOUR: Final = 12
"""Local hour of every need on its date. [h]"""

NEED_KIND: Final = "enrolment"
"""The activity kind of every need (DESIGN.md section 1: enrolment activity)."""

EVENTS: Final = ("registration", "submission", "withdrawal", "final_result")
"""What a need stands for, in tie-break order (column ``event``)."""

EventEnum: Final = pl.Enum(EVENTS)
"""Dtype of the needs' ``event`` column."""

NO_REGISTRATION_DATE: Final = "no registration date"
WITHDRAWAL_BEFORE_REGISTRATION: Final = "withdrawal before registration"
REGISTRATION_AFTER_MODULE_END: Final = "registration after module end"
PRESENTATION_NOT_IN_COURSES: Final = "presentation not in courses.csv"
MALFORMED_PRESENTATION: Final = "malformed presentation code"
MALFORMED_NUMBER: Final = "malformed number"
MISSING_PRESENTATION: Final = "missing presentation"
DUPLICATE_REGISTRATION: Final = "duplicate registration"
UNKNOWN_ASSESSMENT: Final = "unknown assessment"
NO_PLACEABLE_REGISTRATION: Final = "no placeable registration"

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
_ASSESSMENT_COLUMNS: Final = ("code_module", "code_presentation", "id_assessment")
_SUBMISSION_COLUMNS: Final = (
    "id_student",
    "id_assessment",
    "date_submitted",
    "is_banked",
)
_KEYS: Final = ["code_module", "code_presentation"]
_ID_PATTERN: Final = r"^[0-9]{1,18}$"
_DAYS_PATTERN: Final = r"^-?[0-9]{1,6}$"
_PRESENTATION_PATTERN: Final = r"^([0-9]{4})([BJ])$"
_START_MONTH: Final = {"B": 2, "J": 10}
_ID_TEXT: Final = "a whole number (at most 18 digits)"
_DAYS_TEXT: Final = "a whole number of days (at most 6 digits)"

STATUS_SCHEMA: Final = pl.Schema(
    {"learner_id": pl.String(), "changed_at": UTC_US, "is_active": pl.Boolean()}
)
"""Columns and dtypes of `OuladStatusLog.status` and `OuladData.explicit`."""

REJECTED_SCHEMA: Final = pl.Schema(
    {"source": pl.String(), "line": pl.Int64(), "reason": pl.String()}
)
"""Columns and dtypes of every ``rejected`` frame of this module."""

LEARNERS_SCHEMA: Final = pl.Schema(
    {"learner_id": pl.String(), "created_at": UTC_US, "course_end": UTC_US}
)
"""Columns and dtypes of `OuladData.learners` (`meter_sim.strategies` input)."""

NEEDS_SCHEMA: Final = pl.Schema(
    {
        "learner_id": pl.String(),
        "at": UTC_US,
        "kind": pl.String(),
        "deferrable": pl.Boolean(),
        "event": EventEnum,
        "code_module": pl.String(),
        "code_presentation": pl.String(),
        "line": pl.Int64(),
        "after_withdrawal": pl.Boolean(),
    }
)
"""Columns and dtypes of `OuladData.needs` (`meter_sim.strategies` input)."""

ENROLMENTS_SCHEMA: Final = pl.Schema(
    {
        "line": pl.Int64(),
        "learner_id": pl.String(),
        "code_module": pl.String(),
        "code_presentation": pl.String(),
        "registered_at": UTC_US,
        "ended_at": UTC_US,
        "withdrew": pl.Boolean(),
    }
)
"""Columns and dtypes of `OuladData.enrolments`."""

INPUTS_SCHEMA: Final = pl.Schema(
    {
        "input": pl.String(),
        "rows_read": pl.Int64(),
        "rows_used": pl.Int64(),
        "rows_not_activity": pl.Int64(),
        "rows_rejected": pl.Int64(),
    }
)
"""Columns and dtypes of `OuladData.inputs`."""


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


@dataclass(frozen=True)
class OuladData:
    """OULAD enrolments as meter_sim's learners and needs, with every row accounted.

    Attributes
    ----------
    folder : pathlib.Path
        The folder the files were read from.
    start_day : int
        Day of the month of day 0 (1 February / 1 October). [day of month]
    learners : polars.DataFrame
        One row per learner with at least one used registration, sorted by
        ``learner_id``: ``learner_id`` : String (``id_student`` as decimal
        text), ``created_at`` : Datetime("us", "UTC") (the earliest need),
        ``course_end`` : Datetime("us", "UTC") (the latest withdrawal or
        final-result need: the end of the last enrolment). The ``learners``
        input of `meter_sim.strategies`.
    needs : polars.DataFrame
        One row per need, sorted by (``learner_id``, ``at``, ``event``,
        ``line``); the ``needs`` input of `meter_sim.strategies`:
        ``learner_id`` : String; ``at`` : Datetime("us", "UTC") (12:00
        Europe/London on the need's date); ``kind`` : String (always
        ``enrolment``); ``deferrable`` : Boolean (always false); ``event`` :
        Enum of `EVENTS`; ``code_module``, ``code_presentation`` : String (the
        enrolment); ``line`` : Int64 (the physical line in
        ``studentRegistration.csv`` for ``registration``, ``withdrawal`` and
        ``final_result``, in ``studentAssessment.csv`` for ``submission``)
        [line]; ``after_withdrawal`` : Boolean (a submission dated after the
        enrolment's withdrawal day).
    enrolments : polars.DataFrame
        One row per used registration, sorted by ``line``: ``line`` : Int64,
        ``learner_id``, ``code_module``, ``code_presentation`` : String,
        ``registered_at`` and ``ended_at`` : Datetime("us", "UTC") (its
        registration need and its withdrawal or final-result need),
        ``withdrew`` : Boolean.
    explicit : polars.DataFrame
        The provider's explicit timeline (as `registrations_status_log`):
        ``learner_id`` : String, ``changed_at`` : Datetime("us", "UTC"),
        ``is_active`` : Boolean, sorted by (``learner_id``, ``changed_at``).
    rejected : polars.DataFrame
        Every rejected row of every file: ``source`` : String (the file's
        path), ``line`` : Int64 [line], ``reason`` : String (a fixed phrase of
        the module docstring, a colon, details); in the order of `FILES`, then
        by line.
    inputs : polars.DataFrame
        One row per file of `FILES`, in that order: ``input`` : String (the
        file's path), ``rows_read``, ``rows_used``, ``rows_not_activity``
        (banked submissions), ``rows_rejected`` : Int64, with ``rows_read ==
        rows_used + rows_not_activity + rows_rejected``. A row of
        ``courses.csv`` or ``assessments.csv`` is used when it is a valid
        lookup row. [rows]

    Raises
    ------
    ValueError
        If a file's rows do not add up, or its ``rows_rejected`` is not the
        number of its rows in ``rejected``.

    See Also
    --------
    read_oulad : builds it from the files.
    compare_oulad : bills every strategy on it.
    """

    folder: Path
    start_day: int
    learners: pl.DataFrame
    needs: pl.DataFrame
    enrolments: pl.DataFrame
    explicit: pl.DataFrame
    rejected: pl.DataFrame
    inputs: pl.DataFrame

    def __post_init__(self) -> None:
        listed = dict(self.rejected.group_by("source").len().iter_rows())
        for name, read, used, banked, gone in self.inputs.iter_rows():
            if read != used + banked + gone:
                msg = (
                    f"{name}: `rows_read` ({read}) must equal `rows_used` ({used}) "
                    f"+ `rows_not_activity` ({banked}) + `rows_rejected` ({gone})"
                )
                raise ValueError(msg)
            if listed.get(name, 0) != gone:
                msg = (
                    f"{name}: `rows_rejected` ({gone}) must equal its rows in "
                    f"`rejected` ({listed.get(name, 0)})"
                )
                raise ValueError(msg)

    @property
    def timezone(self) -> str:
        """The billing time zone, `TIMEZONE`."""
        return TIMEZONE

    def period(self) -> tuple[date, date]:
        """The months from the earliest need through the latest, in `TIMEZONE`.

        Returns
        -------
        (date, date)
            First days of the first and last months.

        Raises
        ------
        LogFormatError
            If there are no needs (every row was rejected, or the files are empty).
        """
        if self.needs.is_empty():
            msg = f"{self.folder}: no usable registrations, so nothing to bill"
            raise LogFormatError(msg, source=str(self.folder))
        at = pl.col("at")
        row = self.needs.select(
            month_start_date(month_index(at.min(), TIMEZONE)).alias("first"),
            month_start_date(month_index(at.max(), TIMEZONE)).alias("last"),
        ).row(0)
        return row[0], row[1]

    def without_late_submissions(self) -> OuladData:
        """The same data without the needs marked ``after_withdrawal``.

        Billing every strategy on both shows what the late submissions cost.
        ``learners`` is unchanged (a late submission is never a learner's first
        need nor the end of an enrolment); ``inputs`` and ``rejected`` still
        describe the files. Its `period` may end earlier: give
        `compare_oulad` the full data's period to bill the same months.

        Returns
        -------
        OuladData
            A copy with fewer ``needs``.
        """
        return replace(self, needs=self.needs.filter(~pl.col("after_withdrawal")))

    def horizon(self) -> datetime:
        """The planning horizon of the strategies: the start of the month after.

        Returns
        -------
        datetime
            The local start (midnight, `TIMEZONE`) of the month after the last
            month of `period`, as a UTC datetime.

        Raises
        ------
        LogFormatError
            As `period`.
        """
        return _month_after(self.period()[1])


def _month_after(month: date) -> datetime:
    """The local start (`TIMEZONE`) of the month after ``month``, in UTC."""
    index = month.year * 12 + month.month
    return month_start(date(index // 12, index % 12 + 1, 1), ZoneInfo(TIMEZONE))


def oulad_folder(folder: str | os.PathLike[str] | None = None) -> Path:
    """Find the folder holding the OULAD CSV files.

    Parameters
    ----------
    folder : str, os.PathLike or None
        The folder. If None: the environment variable ``METER_SIM_OULAD``
        (`ENV_VAR`; an empty value counts as unset), else `DEFAULT_FOLDER`
        (``../shared/data/oulad`` beside the repository) when it exists.

    Returns
    -------
    pathlib.Path
        The folder as given or named (not resolved), or `DEFAULT_FOLDER`.

    Raises
    ------
    LogFormatError
        If the folder given (or named by ``METER_SIM_OULAD``) is not a
        directory, or none is given, ``METER_SIM_OULAD`` is unset and the
        default folder does not exist. The message names the folder looked for
        and how to set it.
    """
    how = (
        f"pass the folder holding the OULAD CSV files ({', '.join(FILES)}), "
        f"or set the environment variable {ENV_VAR}=/path/to/oulad"
    )
    if folder is not None:
        path, origin = Path(folder), "the folder argument"
    elif value := os.environ.get(ENV_VAR, ""):
        path, origin = Path(value), f"environment variable {ENV_VAR}"
    elif DEFAULT_FOLDER.is_dir():
        return DEFAULT_FOLDER
    else:
        msg = (
            f"no OULAD folder given, {ENV_VAR} is not set and the default folder "
            f"'{DEFAULT_FOLDER}' does not exist: {how}"
        )
        raise LogFormatError(msg, source=str(DEFAULT_FOLDER))
    if not path.is_dir():
        msg = f"OULAD folder not found: looked for '{path}' (from {origin}); {how}"
        raise LogFormatError(msg, source=str(path))
    return path


def _check_start_day(start_day: int) -> None:
    if isinstance(start_day, bool) or not 1 <= start_day <= 28:
        msg = f"`start_day` must be an integer from 1 to 28, got {start_day!r}"
        raise ValueError(msg)


def registrations_status_log(
    folder: str | os.PathLike[str] | None = None, *, start_day: int = 1
) -> OuladStatusLog:
    """Build the explicit Active Learner status log from OULAD registrations.

    Applies the explicit-timeline rule of the module docstring [2]_ to every row
    of ``studentRegistration.csv`` joined to ``courses.csv`` on
    (``code_module``, ``code_presentation``). Both files are read with every
    column as a string and validated here, so each bad value is reported with
    its line. Activation is at 09:00 and deactivation at 17:00 Europe/London
    local time (GMT or BST as in force that day), stored in UTC.

    Parameters
    ----------
    folder : str, os.PathLike or None
        Folder holding ``studentRegistration.csv`` and ``courses.csv`` [1]_;
        if None, see `oulad_folder`.
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
    read_oulad : the same registrations (and the submissions) as needs.

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
    _check_start_day(start_day)
    base = oulad_folder(folder)
    registrations_path = _require_file(base, REGISTRATIONS_FILE)
    courses = _read_courses(_require_file(base, COURSES_FILE))
    registrations = _read_csv(registrations_path, _REGISTRATION_COLUMNS)

    placed = _place(registrations, courses, start_day=start_day)
    used = placed.filter(pl.col("reason") == "")
    return OuladStatusLog(
        status=_status_changes(used),
        rejected=_rejected_rows(placed, registrations_path),
        rows_read=registrations.height,
        rows_used=used.height,
    )


def read_oulad(
    folder: str | os.PathLike[str] | None = None, *, start_day: int = 1
) -> OuladData:
    """Read the OULAD enrolments and submissions as learners and needs.

    Applies the conventions of the module docstring [1]_: every used
    registration gives a ``registration`` need and a ``withdrawal`` or
    ``final_result`` need; every used submission a ``submission`` need; each
    at 12:00 Europe/London on its date. All four files are read with every
    column as a string, found by name, and validated here, so each bad value is
    reported with its file and line; vectorised (no Python loop per row).

    Parameters
    ----------
    folder : str, os.PathLike or None
        Folder holding the files of `FILES` [2]_; if None, see `oulad_folder`.
    start_day : int
        Day of the month of day 0 (of February for ``YYYYB``, of October for
        ``YYYYJ``); 1 to 28. Default 1. [day of month]

    Returns
    -------
    OuladData
        ``learners`` and ``needs`` (ready for `meter_sim.strategies`),
        ``enrolments``, the ``explicit`` timeline, ``rejected`` rows and the
        per-file accounting ``inputs``.

    Raises
    ------
    LogFormatError
        If the folder or a file is missing, a file is not valid CSV, a required
        column is missing (``field`` names it), ``courses.csv`` lists a
        presentation twice or ``assessments.csv`` an assessment id twice.
    ValueError
        If ``start_day`` is not an integer from 1 to 28.

    See Also
    --------
    compare_oulad : bills every strategy on the result.

    References
    ----------
    .. [1] Project issue #6 (the conventions); the OULAD README (columns, the
       day-0 convention, withdrawals and banked results).
    .. [2] Kuzilek, J., Hlosta, M., Zdrahal, Z. "Open University Learning
       Analytics dataset". Scientific Data 4, 170171 (2017).
       doi:10.1038/sdata.2017.171 (CC BY 4.0).

    Examples
    --------
    On the hand-made excerpt of the tests (the real data is not shipped):

    >>> data = read_oulad("tests/data/oulad-excerpt")
    >>> data.inputs.drop("input").rows()  # read, used, not activity, rejected
    [(2, 2, 0, 0), (4, 3, 0, 1), (5, 4, 0, 1), (10, 5, 1, 4)]
    >>> data.needs.height, data.learners.height
    (13, 3)

    On the real data::

        data = read_oulad()  # $METER_SIM_OULAD, else ../shared/data/oulad
        data.needs.height, data.learners.height  # (237096, 28755)
    """
    _check_start_day(start_day)
    base = oulad_folder(folder)
    paths = {name: _require_file(base, name) for name in FILES}
    courses = _read_courses(paths[COURSES_FILE])
    assessments = _read_assessments(paths[ASSESSMENTS_FILE])
    registrations = _read_csv(paths[REGISTRATIONS_FILE], _REGISTRATION_COLUMNS)
    placed = _place(registrations, courses, start_day=start_day)
    submissions = _place_submissions(
        _read_csv(paths[SUBMISSIONS_FILE], _SUBMISSION_COLUMNS), assessments, placed
    )
    used = placed.filter(pl.col("reason") == "")
    needs = _needs(used, submissions)
    checked = {
        COURSES_FILE: courses.rename(
            {"course_line": "line", "course_reason": "reason"}
        ),
        ASSESSMENTS_FILE: assessments,
        REGISTRATIONS_FILE: placed,
        SUBMISSIONS_FILE: submissions,
    }
    rejected = pl.concat(
        [_rejected_rows(frame, paths[name]) for name, frame in checked.items()]
    )
    inputs = pl.DataFrame(
        [(str(paths[name]), *_tally(frame)) for name, frame in checked.items()],
        schema=INPUTS_SCHEMA,
        orient="row",
    )
    return OuladData(
        folder=base,
        start_day=start_day,
        learners=_learners(needs, used),
        needs=needs,
        enrolments=used.select(
            "line",
            "learner_id",
            "code_module",
            "code_presentation",
            "registered_at",
            "ended_at",
            "withdrew",
        ).cast(ENROLMENTS_SCHEMA),
        explicit=_status_changes(used),
        rejected=rejected,
        inputs=inputs,
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
    if suffix not in {".csv", ".parquet"}:
        msg = (
            f"cannot write a status log to '{target}': the suffix must be "
            f"`.csv` or `.parquet`, got `{target.suffix}`"
        )
        raise LogFormatError(msg, source=str(target))
    try:
        if suffix == ".csv":
            log.status.with_columns(
                pl.col("changed_at").dt.strftime("%Y-%m-%dT%H:%M:%S%.fZ")
            ).write_csv(target)
        else:
            log.status.write_parquet(target)
    except OSError as exc:
        msg = f"{target}: cannot write the status log: {exc.strerror or exc}"
        raise LogFormatError(msg, source=str(target)) from None


# -- reading and checking the files -------------------------------------------


def _require_file(folder: Path, name: str) -> Path:
    """Return ``folder / name``, or raise `LogFormatError` if it is not a file."""
    path = folder / name
    if not path.is_file():
        msg = (
            f"OULAD file not found: looked for '{path}'; the OULAD folder is the "
            f"folder argument or the environment variable {ENV_VAR}"
        )
        raise LogFormatError(msg, source=str(path))
    return path


def _read_csv(path: Path, required: tuple[str, ...]) -> pl.DataFrame:
    """Read a CSV with every column as String and add its physical ``line``.

    Columns are found by name, in any order. Quoted ``""`` and unquoted empty
    fields both count as empty; a blank line is a row of nulls. The physical
    line is 2 + the row index + the newlines inside quoted fields of the rows
    before it.
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


def _parsed(column: str, pattern: str, dtype: pl.DataType) -> pl.Expr:
    """A String column as ``dtype`` where it matches ``pattern``, else null."""
    return pl.when(pl.col(column).str.contains(pattern)).then(
        pl.col(column).cast(dtype)
    )


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


def _malformed_presentation(column: str = "code_presentation") -> pl.Expr:
    """Reason text when ``column`` is not ``YYYYB`` or ``YYYYJ``, else null."""
    return pl.when(
        pl.col(column).fill_null("").str.contains(_PRESENTATION_PATTERN).not_()
    ).then(
        pl.format(
            f"{MALFORMED_PRESENTATION}: `{column}` is '{{}}', expected YYYYB or YYYYJ",
            _shown(column),
        )
    )


def _reasons(problems: list[pl.Expr]) -> pl.Expr:
    """The problems that apply, joined with ``"; "`` (``""`` when none)."""
    return pl.concat_str(problems, separator="; ", ignore_nulls=True)


def _raise_if_listed_twice(
    frame: pl.DataFrame, key: list[str], path: Path, what: str, field: str
) -> None:
    """Raise `LogFormatError` naming the lines when ``key`` repeats in ``frame``."""
    twice = frame.filter(
        pl.struct(key).is_duplicated() & pl.all_horizontal(pl.col(key).is_not_null())
    )
    if twice.is_empty():
        return
    first = twice.row(0, named=True)
    same = pl.all_horizontal(pl.col(name) == first[name] for name in key)
    lines = twice.filter(same)["line"].to_list()
    shown = ", ".join(repr(first[name]) for name in key)
    msg = (
        f"{path}: {what} ({shown}) is listed on lines "
        f"{', '.join(map(str, lines))}; each {what} must appear once"
    )
    raise LogFormatError(msg, source=str(path), line=lines[0], field=field)


def _read_courses(path: Path) -> pl.DataFrame:
    """Read and check ``courses.csv``; one row per presentation.

    Returns the key columns, ``length`` : Int32 (null if malformed) [days],
    ``course_line`` : Int64, ``course_reason`` : String (why the row itself is
    rejected, ``""`` when valid) and ``course_problem`` : String (what a
    registration on this presentation is told when ``length`` is malformed,
    null otherwise).
    """
    frame = _read_csv(path, _COURSE_COLUMNS)
    _raise_if_listed_twice(frame, _KEYS, path, "presentation", "code_presentation")
    column = "module_presentation_length"
    valid = pl.col(column).str.contains(r"^[0-9]{1,6}$").fill_null(value=False)
    bad_length = f"`{column}` is '{{}}', expected a whole number of days"
    return frame.select(
        *_KEYS,
        length=pl.when(valid).then(pl.col(column).cast(pl.Int32)),
        course_line="line",
        course_reason=_reasons(
            [
                pl.when(valid.not_()).then(
                    pl.format(f"{MALFORMED_NUMBER}: {bad_length}", _shown(column))
                ),
                _malformed_presentation(),
            ]
        ),
        course_problem=pl.when(valid.not_()).then(
            pl.format(
                f"{MALFORMED_NUMBER}: {COURSES_FILE} line {{}}: {bad_length}",
                pl.col("line"),
                _shown(column),
            )
        ),
    )


def _read_assessments(path: Path) -> pl.DataFrame:
    """Read and check ``assessments.csv``.

    Returns ``line`` : Int64, ``assessment`` : Int64 (``id_assessment``, null if
    malformed), ``code_module``, ``code_presentation`` : String and ``reason``
    : String (``""`` for a valid row).
    """
    frame = _read_csv(path, _ASSESSMENT_COLUMNS).with_columns(
        assessment=_parsed("id_assessment", _ID_PATTERN, pl.Int64())
    )
    _raise_if_listed_twice(frame, ["assessment"], path, "assessment", "id_assessment")
    missing = [
        pl.when(_is_empty(column)).then(
            pl.lit(f"{MISSING_PRESENTATION}: `{column}` is empty")
        )
        for column in _KEYS
    ]
    return frame.select(
        "line",
        "assessment",
        *_KEYS,
        reason=_reasons([_malformed("id_assessment", _ID_PATTERN, _ID_TEXT), *missing]),
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
    """Give each registration row its dates and instants, or a rejection reason.

    Returns one row per registration row, sorted by ``line``: ``line`` : Int64,
    ``learner_id`` : String (null if ``id_student`` is malformed),
    ``code_module``, ``code_presentation`` : String, ``day0`` : Date,
    ``unregistered`` : Int32 (``date_unregistration``) [days], ``withdrew`` :
    Boolean, ``activated_at`` and ``deactivated_at`` (09:00 and 17:00, the
    explicit timeline), ``registered_at`` and ``ended_at`` (12:00, the needs) :
    Datetime("us", "UTC"), and ``reason`` : String (``""`` when the row is used).
    """
    presentation = pl.col("code_presentation").str.extract_groups(_PRESENTATION_PATTERN)
    registration_day = pl.col("day0") + pl.duration(days=pl.col("registered"))
    end_day = pl.col("day0") + pl.duration(
        days=pl.coalesce(
            "unregistered", pl.when(_is_empty("date_unregistration")).then("length")
        )
    )
    learner = pl.col("id_student").str.contains(_ID_PATTERN)
    first_line = pl.col("line").min().over("learner_id", *_KEYS)
    parsed = (
        registrations.lazy()
        .join(
            courses.lazy()
            .drop("course_line", "course_reason")
            .with_columns(_in_courses=pl.lit(value=True)),
            on=_KEYS,
            how="left",
        )
        .with_columns(
            learner_id=pl.when(learner).then(
                pl.col("id_student").cast(pl.Int64).cast(pl.String)
            ),
            year=presentation.struct.field("1").cast(pl.Int32),
            month=presentation.struct.field("2").replace_strict(
                _START_MONTH, default=None, return_dtype=pl.Int8
            ),
            registered=_parsed("date_registration", _DAYS_PATTERN, pl.Int32()),
            unregistered=_parsed("date_unregistration", _DAYS_PATTERN, pl.Int32()),
            withdrew=_is_empty("date_unregistration").not_(),
        )
        .with_columns(
            day0=pl.date(pl.col("year"), pl.col("month"), start_day),
            first_line=pl.when(pl.col("learner_id").is_not_null()).then(first_line),
        )
        .with_columns(
            activated_at=_local_to_utc(registration_day, ACTIVATION_HOUR),
            deactivated_at=_local_to_utc(end_day, DEACTIVATION_HOUR),
            registered_at=_local_to_utc(registration_day, NEED_HOUR),
            ended_at=_local_to_utc(end_day, NEED_HOUR),
        )
    )
    problems = [
        _malformed("id_student", _ID_PATTERN, _ID_TEXT),
        pl.when(_is_empty("date_registration")).then(
            pl.lit(f"{NO_REGISTRATION_DATE}: `date_registration` is empty")
        ),
        pl.when(_is_empty("date_registration").not_()).then(
            _malformed("date_registration", _DAYS_PATTERN, _DAYS_TEXT)
        ),
        pl.when(_is_empty("date_unregistration").not_()).then(
            _malformed("date_unregistration", _DAYS_PATTERN, _DAYS_TEXT)
        ),
        pl.when(pl.col("_in_courses").is_null()).then(
            pl.format(
                f"{PRESENTATION_NOT_IN_COURSES}: "
                "(`code_module` '{}', `code_presentation` '{}')",
                _shown("code_module"),
                _shown("code_presentation"),
            )
        ),
        pl.when(pl.col("month").is_null()).then(_malformed_presentation()),
        pl.col("course_problem"),
        _order_problem(),
        pl.when(pl.col("line") > pl.col("first_line")).then(
            pl.format(
                f"{DUPLICATE_REGISTRATION}: `id_student` {{}} on (`code_module` "
                "'{}', `code_presentation` '{}') is already on line {}",
                "learner_id",
                _shown("code_module"),
                _shown("code_presentation"),
                "first_line",
            )
        ),
    ]
    return (
        parsed.select(
            "line",
            "learner_id",
            *_KEYS,
            "day0",
            "unregistered",
            "withdrew",
            "activated_at",
            "deactivated_at",
            "registered_at",
            "ended_at",
            reason=_reasons(problems),
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


def _place_submissions(
    submissions: pl.DataFrame, assessments: pl.DataFrame, placed: pl.DataFrame
) -> pl.DataFrame:
    """Give each submission row its need, or a rejection reason.

    Each row is joined to its assessment (for the presentation) and to the
    first registration row of its student on that presentation. Returns one row
    per submission row, sorted by ``line``: ``line`` : Int64, ``learner_id``,
    ``code_module``, ``code_presentation`` : String, ``at`` : Datetime("us",
    "UTC") (12:00 local on the submission date), ``after_withdrawal`` :
    Boolean, ``banked`` : Boolean and ``reason`` : String (``""`` unless
    rejected).
    """
    known = assessments.filter(pl.col("reason") == "").select(
        "assessment", "code_module", "code_presentation"
    )
    registrations = (
        placed.filter(pl.col("learner_id").is_not_null())
        .sort("line")
        .unique(["learner_id", *_KEYS], keep="first", maintain_order=True)
        .select(
            "learner_id",
            *_KEYS,
            "day0",
            "unregistered",
            "withdrew",
            registration_line="line",
            registration_reason="reason",
        )
    )
    student = pl.col("id_student").str.contains(_ID_PATTERN)
    frame = (
        submissions.with_columns(
            learner_id=pl.when(student).then(
                pl.col("id_student").cast(pl.Int64).cast(pl.String)
            ),
            assessment=_parsed("id_assessment", _ID_PATTERN, pl.Int64()),
            submitted=_parsed("date_submitted", _DAYS_PATTERN, pl.Int32()),
            banked=pl.col("is_banked") == "1",
        )
        .join(known, on="assessment", how="left")
        .join(registrations, on=["learner_id", *_KEYS], how="left")
    )
    placeable = (
        pl.col("learner_id").is_not_null()
        & pl.col("code_module").is_not_null()
        & ~pl.col("banked").fill_null(value=False)
    )
    problems = [
        _malformed("id_student", _ID_PATTERN, _ID_TEXT),
        _malformed("id_assessment", _ID_PATTERN, _ID_TEXT),
        _malformed("date_submitted", _DAYS_PATTERN, _DAYS_TEXT),
        pl.when(pl.col("is_banked").fill_null("").is_in(["0", "1"]).not_()).then(
            pl.format(
                f"{MALFORMED_NUMBER}: `is_banked` is '{{}}', expected 0 or 1",
                _shown("is_banked"),
            )
        ),
        pl.when(
            pl.col("assessment").is_not_null() & pl.col("code_module").is_null()
        ).then(
            pl.format(
                f"{UNKNOWN_ASSESSMENT}: `id_assessment` {{}} has no valid row in "
                f"{ASSESSMENTS_FILE}",
                "assessment",
            )
        ),
        pl.when(placeable & pl.col("registration_line").is_null()).then(
            pl.format(
                f"{NO_PLACEABLE_REGISTRATION}: {REGISTRATIONS_FILE} has no row for "
                "`id_student` {} on (`code_module` '{}', `code_presentation` '{}')",
                "learner_id",
                "code_module",
                "code_presentation",
            )
        ),
        pl.when(placeable & (pl.col("registration_reason") != "")).then(
            pl.format(
                f"{NO_PLACEABLE_REGISTRATION}: the registration on "
                f"{REGISTRATIONS_FILE} line {{}} was rejected ({{}})",
                "registration_line",
                pl.col("registration_reason").str.extract(r"^([^:]+)"),
            )
        ),
    ]
    day = pl.col("day0") + pl.duration(days=pl.col("submitted"))
    return frame.select(
        "line",
        "learner_id",
        *_KEYS,
        at=_local_to_utc(day, NEED_HOUR),
        after_withdrawal=pl.col("withdrew").fill_null(value=False)
        & (pl.col("submitted") > pl.col("unregistered")).fill_null(value=False),
        banked=pl.col("banked").fill_null(value=False),
        reason=_reasons(problems),
    ).sort("line")


def _needs(registrations: pl.DataFrame, submissions: pl.DataFrame) -> pl.DataFrame:
    """The needs of the used registrations and submissions (`NEEDS_SCHEMA`)."""
    enrolment = ["learner_id", "code_module", "code_presentation", "line"]
    ending = (
        pl.when(pl.col("withdrew"))
        .then(pl.lit("withdrawal"))
        .otherwise(pl.lit("final_result"))
    )
    frames = [
        registrations.select(
            *enrolment, at="registered_at", event=pl.lit("registration")
        ),
        registrations.select(*enrolment, at="ended_at", event=ending),
        submissions.filter((pl.col("reason") == "") & ~pl.col("banked")).select(
            *enrolment, "at", "after_withdrawal", event=pl.lit("submission")
        ),
    ]
    return (
        pl.concat(frames, how="diagonal")
        .with_columns(
            kind=pl.lit(NEED_KIND),
            deferrable=pl.lit(value=False),
            event=pl.col("event").cast(EventEnum),
            after_withdrawal=pl.col("after_withdrawal").fill_null(value=False),
        )
        .select(NEEDS_SCHEMA.names())
        .cast(NEEDS_SCHEMA)
        .sort("learner_id", "at", "event", "line")
    )


def _learners(needs: pl.DataFrame, registrations: pl.DataFrame) -> pl.DataFrame:
    """One row per learner: earliest need and end of the last enrolment."""
    ends = registrations.group_by("learner_id").agg(course_end=pl.col("ended_at").max())
    return (
        needs.group_by("learner_id")
        .agg(created_at=pl.col("at").min())
        .join(ends, on="learner_id", how="left")
        .select(LEARNERS_SCHEMA.names())
        .cast(LEARNERS_SCHEMA)
        .sort("learner_id")
    )


def _rejected_rows(frame: pl.DataFrame, path: Path) -> pl.DataFrame:
    """The rows of a checked frame with a reason, as `REJECTED_SCHEMA`, by line."""
    return (
        frame.filter(pl.col("reason") != "")
        .select(
            source=pl.lit(str(path), dtype=pl.String()),
            line=pl.col("line"),
            reason=pl.col("reason"),
        )
        .cast(REJECTED_SCHEMA)
        .sort("line")
    )


def _tally(frame: pl.DataFrame) -> tuple[int, int, int, int]:
    """Rows read, used, not activity (banked) and rejected of a checked frame."""
    valid = pl.col("reason") == ""
    banked = pl.col("banked") if "banked" in frame.columns else pl.lit(value=False)
    read, used, not_activity, rejected = frame.select(
        pl.len().alias("read"),
        (valid & ~banked).sum().alias("used"),
        (valid & banked).sum().alias("not_activity"),
        (~valid).sum().alias("rejected"),
    ).row(0)
    return int(read), int(used), int(not_activity), int(rejected)


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


# -- running the strategies ---------------------------------------------------


@dataclass(frozen=True)
class OuladComparison(StrategyComparison):
    """Strategies side by side on the OULAD needs (a `StrategyComparison`).

    Attributes
    ----------
    table : pl.DataFrame
        Columns of `meter_sim.simulate.COMPARISON_SCHEMA`, one row per strategy
        (``explicit`` first when compared): ``strategy``, ``learner_months``
        [learner-months], ``total_ex_tax``, ``total_inc_tax`` [plan currency],
        ``toggles`` [changes], ``delay_days`` [days], ``blocked`` [needs].
    bills : dict of str to Bill
        Each strategy's bill, by name.
    first_month, last_month : date
        The period billed (`OuladData.period`).
    runs : dict of str to StrategyRun
        Each strategy's status log and needs as they happened, by name. For
        ``explicit``, ``status`` is `OuladData.explicit` and ``needs.blocked``
        marks the needs its timeline does not allow.
    seconds : dict of str to float
        Wall time of each strategy's run and bill, by name. [s]
    """

    runs: dict[str, StrategyRun]
    seconds: dict[str, float]


def compare_oulad(
    data: OuladData,
    *,
    plan: Plan,
    strategies: Mapping[str, Callable[..., StrategyRun]] | None = None,
    explicit: bool = True,
    check: bool = True,
    period: tuple[date, date] | None = None,
) -> OuladComparison:
    """Bill every strategy on the OULAD needs, beside the explicit timeline.

    Each strategy turns ``data.learners`` and ``data.needs`` into a status log
    over ``data.period()`` (horizon ``data.horizon()``), which is metered in
    Europe/London months and priced with ``plan`` by `meter_sim.billing.bill`,
    exactly like a real log [1]_.

    Parameters
    ----------
    data : OuladData
        As returned by `read_oulad`.
    plan : Plan
        The plan priced (e.g. ``scenarios/plans/enterprise.yaml``).
    strategies : mapping of str to callable or None
        Strategies by name, each called as ``strategy(learners, needs,
        timezone=..., horizon=...)``; default `meter_sim.strategies.STRATEGIES`
        with their default parameters (an empty mapping: none). Use
        `functools.partial` for other parameters (e.g. ``partial(course_window,
        grace_days=0)``).
    explicit : bool
        Also bill the provider's explicit timeline (`OuladData.explicit`) as
        the first row, ``explicit``; its ``blocked`` counts the needs that fall
        while it has the learner Inactive.
    check : bool
        Check every strategy's needs, as they happened, against its status log
        with the meter (``blocked`` is then the meter's count of rejected
        activities); without it ``blocked`` is the strategy's own count
        (`meter_sim.strategies.StrategyRun.blocked`), which is faster. The
        explicit timeline is always checked.
    period : (date, date) or None
        First days of the first and last months billed; default
        ``data.period()``. The strategies plan up to the start of the month
        after the last. Give the period of the full data when comparing a
        reduced copy (`OuladData.without_late_submissions`), so that both bill
        the same months.

    Returns
    -------
    OuladComparison
        The table, each bill and run, and the wall time of each.

    Raises
    ------
    LogFormatError
        If ``data`` has no needs and no ``period`` is given, or ``period`` is
        reversed.

    References
    ----------
    .. [1] DESIGN.md section 2 ("scenario x strategy -> logs"), as
       `meter_sim.simulate.compare_strategies` does for a scenario.

    Examples
    --------
    >>> from meter_sim.scenario import load_plan
    >>> data = read_oulad("tests/data/oulad-excerpt")
    >>> plan = load_plan("scenarios/plans/starter.yaml")
    >>> result = compare_oulad(data, plan=plan)
    >>> for row in result.table.select("strategy", "learner_months", "blocked").rows():
    ...     print(row)
    ('explicit', 17, 1)
    ('always_active', 35, 0)
    ('course_window', 18, 0)
    ('just_in_time', 9, 0)
    ('monthly_sweep', 9, 0)
    ('batched', 18, 0)
    """
    first, last = data.period() if period is None else period
    horizon = _month_after(last)
    bills: dict[str, Bill] = {}
    runs: dict[str, StrategyRun] = {}
    seconds: dict[str, float] = {}
    rows: list[tuple[object, ...]] = []
    if explicit:
        started = time.perf_counter()
        run, result = _bill_explicit(data, plan, (first, last))
        seconds[EXPLICIT] = time.perf_counter() - started
        runs[EXPLICIT], bills[EXPLICIT] = run, result
        rows.append(_row(EXPLICIT, result, run, blocked=run.blocked))
    for name, strategy in (STRATEGIES if strategies is None else strategies).items():
        started = time.perf_counter()
        run = strategy(data.learners, data.needs, timezone=TIMEZONE, horizon=horizon)
        result = bill(
            status_log(run, f"OULAD ({name})"),
            _activity(run.needs, f"OULAD needs ({name})") if check else None,
            plan=plan,
            timezone=TIMEZONE,
            first_month=first,
            last_month=last,
        )
        seconds[name] = time.perf_counter() - started
        runs[name], bills[name] = run, result
        blocked = result.rejected.height if check else run.blocked
        rows.append(_row(name, result, run, blocked=blocked))
    table = pl.DataFrame(rows, schema=COMPARISON_SCHEMA, orient="row")
    return OuladComparison(table, bills, first, last, runs, seconds)


def _row(
    name: str, result: Bill, run: StrategyRun, *, blocked: int
) -> tuple[object, ...]:
    return (
        name,
        result.learner_months.height,
        result.invoice.total_ex_tax,
        result.invoice.total_inc_tax,
        run.toggles,
        run.delay_days,
        blocked,
    )


def _activity(needs: pl.DataFrame, source: str) -> ActivityLog:
    """Needs, at the time they happened, as an activity log.

    ``line`` is the need's 1-based row in ``needs``; ``event_id`` is
    ``"<event>:<line in its file>"`` (unique), so needs that share a learner and
    an instant are distinct activities, not duplicates.
    """
    frame = needs.select(
        pl.int_range(1, pl.len() + 1, dtype=pl.Int64).alias("line"),
        "learner_id",
        pl.col("happened_at").alias("occurred_at"),
        pl.col("kind").alias("activity"),
        pl.lit("ui").alias("channel"),
        pl.lit(value=False).alias("scheduled"),
        pl.format("{}:{}", "event", "line").alias("event_id"),
    )
    return prepare_activity_log(frame, source, line_word="need")


def _bill_explicit(
    data: OuladData, plan: Plan, period: tuple[date, date]
) -> tuple[StrategyRun, Bill]:
    """Bill the explicit timeline, checking every need against it."""
    needs = data.needs.with_columns(
        happened_at="at", delay_days=pl.lit(0.0), blocked=pl.lit(value=False)
    )
    run = StrategyRun(status=data.explicit, needs=needs)
    result = bill(
        status_log(run, f"OULAD ({EXPLICIT})"),
        _activity(needs, f"OULAD needs ({EXPLICIT})"),
        plan=plan,
        timezone=TIMEZONE,
        first_month=period[0],
        last_month=period[1],
    )
    refused = result.rejected.filter(pl.col("source") == f"OULAD needs ({EXPLICIT})")
    blocked = pl.int_range(1, pl.len() + 1).is_in(refused["line"].implode())
    return StrategyRun(data.explicit, needs.with_columns(blocked=blocked)), result


def monthly_learners(comparison: StrategyComparison) -> pl.DataFrame:
    """Billable learners per month, one column per strategy (wide format).

    Parameters
    ----------
    comparison : StrategyComparison
        E.g. the result of `compare_oulad`.

    Returns
    -------
    pl.DataFrame
        ``month`` : Date (first day), then one UInt32 column per strategy, in
        the comparison's order [learners]; one row per month of the period.
    """
    names = list(comparison.bills)
    return (
        comparison.monthly()
        .pivot("strategy", index="month", values="billable_learners")
        .select("month", *names)
        .sort("month")
    )


def late_reactivations(run: StrategyRun) -> pl.DataFrame:
    """The late submissions a strategy had to switch the learner on again for.

    A need marked ``after_withdrawal`` (a submission dated after the
    enrolment's withdrawal day) *forced a reactivation* when the run's status
    log switches the learner on (a ``True`` row that is not the learner's
    first, its creation) at the instant the need happened: the learner was
    Inactive just before it and had to be made Active for it, since "a
    Learner must be Active in order to allow activity" [1]_. A timeline that
    does not serve its needs (``explicit``) reactivates no one: its late
    submissions are ``blocked`` instead.

    Parameters
    ----------
    run : StrategyRun
        A run on `OuladData.needs` (e.g. ``comparison.runs["course_window"]``).

    Returns
    -------
    pl.DataFrame
        The forcing needs, sorted by (``learner_id``, ``at``, ``line``):
        ``learner_id``, ``code_module``, ``code_presentation`` : String,
        ``at`` : Datetime("us", "UTC"), ``line`` : Int64 (in
        ``studentAssessment.csv``).

    References
    ----------
    .. [1] Wisenet, "Active Learners and Metering"; DESIGN.md section 1.
    """
    switched_on = run.status.filter(
        pl.col("is_active") & (pl.int_range(pl.len()).over("learner_id") > 0)
    ).select("learner_id", happened_at="changed_at")
    return (
        run.needs.filter("after_withdrawal")
        .join(switched_on, on=["learner_id", "happened_at"], how="semi")
        .select("learner_id", "code_module", "code_presentation", "at", "line")
        .sort("learner_id", "at", "line")
    )


POPULATION_SCHEMA: Final = pl.Schema(
    {
        "month": pl.Date(),
        "enrolled_learners": pl.UInt32(),
        "registrations": pl.UInt32(),
        "submissions": pl.UInt32(),
        "withdrawals": pl.UInt32(),
        "final_results": pl.UInt32(),
    }
)
"""Columns and dtypes of `population`."""


def population(data: OuladData) -> pl.DataFrame:
    """The OULAD population over time: enrolled learners and needs per month.

    Parameters
    ----------
    data : OuladData
        As returned by `read_oulad`.

    Returns
    -------
    pl.DataFrame
        Columns of `POPULATION_SCHEMA`, one row per month of ``data.period()``
        (Europe/London months), sorted: ``month`` (first day);
        ``enrolled_learners``, the distinct learners with an enrolment from its
        registration need's month through its end need's month [learners];
        ``registrations``, ``submissions``, ``withdrawals`` and
        ``final_results``, the needs of each event in the month [needs].

    Raises
    ------
    LogFormatError
        If ``data`` has no needs.
    """
    first, last = data.period()
    months = pl.DataFrame({"month": pl.date_range(first, last, "1mo", eager=True)})
    start = month_index(pl.col("registered_at"), TIMEZONE)
    end = month_index(pl.col("ended_at"), TIMEZONE)
    enrolled = (
        data.enrolments.select(
            "learner_id", month=pl.int_ranges(start, end + 1, dtype=pl.Int32)
        )
        .explode("month")
        .unique()
        .group_by(month=month_start_date(pl.col("month")))
        .agg(enrolled_learners=pl.len())
    )
    events = data.needs.group_by(
        month=month_start_date(month_index(pl.col("at"), TIMEZONE))
    ).agg((pl.col("event") == event).sum().alias(f"{event}s") for event in EVENTS)
    return (
        months.join(enrolled, on="month", how="left")
        .join(events, on="month", how="left")
        .select(POPULATION_SCHEMA.names())
        .fill_null(0)
        .cast(POPULATION_SCHEMA)
        .sort("month")
    )
