"""Errors raised by meter_sim: one base class, one subclass per kind of failure.

Every error carries structured attributes (file, line, field; or learner and time) so
that the command line and notebooks can show one clear message, never a traceback
(DESIGN.md section 5).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from datetime import datetime


class MeterSimError(Exception):
    """Base class of every error meter_sim raises on purpose."""


class LogFormatError(MeterSimError):
    """A status log, activity log or other input file is not as documented.

    Parameters
    ----------
    message : str
        What was expected and what was found; already names the file and line.
    source : str or None
        The file (or other source) the problem is in.
    line : int or None
        1-based line of the file (for Parquet, the 1-based row). [line]
    field : str or None
        The column at fault, if one is.
    """

    def __init__(
        self,
        message: str,
        *,
        source: str | None = None,
        line: int | None = None,
        field: str | None = None,
    ) -> None:
        super().__init__(message)
        self.source = source
        self.line = line
        self.field = field

    @classmethod
    def unwritable(
        cls, path: object, exc: Exception, what: str, *, field: str | None = None
    ) -> LogFormatError:
        """The error for an output file that cannot be written.

        ``what`` names it (``"report"``, ``"chart"``, ...); the reason is the
        system's words for an `OSError` (e.g. "No such file or directory"),
        else the exception's text.
        """
        reason = (exc.strerror if isinstance(exc, OSError) else None) or exc
        return cls(
            f"{path}: cannot write the {what}: {reason}", source=str(path), field=field
        )


class ScenarioError(MeterSimError):
    """A scenario or plan YAML file is invalid.

    The message reads ``file:line:col key.path: what was expected`` followed by a
    snippet with a caret, one block per problem (STYLE.md, dagster errors).

    Parameters
    ----------
    message : str
        The full, formatted message.
    source : str or None
        The YAML file.
    line, column : int or None
        1-based position of the first problem. [line], [column]
    key_path : str or None
        Dotted path of the first offending key, e.g. ``learners.0.status.1.at``.
    """

    def __init__(
        self,
        message: str,
        *,
        source: str | None = None,
        line: int | None = None,
        column: int | None = None,
        key_path: str | None = None,
    ) -> None:
        super().__init__(message)
        self.source = source
        self.line = line
        self.column = column
        self.key_path = key_path


class InactiveLearnerError(MeterSimError):
    """An activity was attempted on a learner whose Is Active status is No.

    Raised by the scalar API (`meter_sim.lifecycle.Learner.perform`); on a replayed
    log the attempt becomes a rejected row instead. Source: "Active Learners and
    Metering", "A Learner must be Active in order to allow activity."

    Parameters
    ----------
    learner_id : str
        The learner record.
    at : datetime
        When the activity was attempted (time-zone aware).
    activity : str
        The activity kind, e.g. ``"message"``.
    channel : str
        The channel it came through, e.g. ``"ui"``.
    """

    def __init__(
        self, learner_id: str, at: datetime, activity: str, channel: str
    ) -> None:
        msg = (
            f"learner {learner_id!r} is inactive at {at.isoformat()}: "
            f"activity `{activity}` via `{channel}` is not allowed"
        )
        super().__init__(msg)
        self.learner_id = learner_id
        self.at = at
        self.activity = activity
        self.channel = channel


class InvalidTransitionError(MeterSimError):
    """A status change that the learner state machine does not allow.

    For example a change dated before the learner's last change, or one for a
    learner that has not been created.

    Parameters
    ----------
    message : str
        What was attempted and why it is not allowed.
    learner_id : str
        The learner record.
    at : datetime
        When the change was attempted.
    """

    def __init__(self, message: str, *, learner_id: str, at: datetime) -> None:
        super().__init__(message)
        self.learner_id = learner_id
        self.at = at


class PricingError(MeterSimError):
    """A plan or a pricing request that cannot be priced (e.g. a bad overage price)."""
