"""Shared helpers: build validated status logs from rows written out by hand."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl
import pytest

from meter_sim.datasets.oulad import DEFAULT_FOLDER, ENV_VAR, FILES, oulad_folder
from meter_sim.exceptions import LogFormatError
from meter_sim.logs import StatusLog, parse_status_log

if TYPE_CHECKING:
    from datetime import datetime


def status_log(*rows: tuple[str, datetime, bool], source: str = "test") -> StatusLog:
    """A `StatusLog` from ``(learner_id, changed_at, is_active)`` rows (line 2 on)."""
    frame = pl.DataFrame(
        {
            "learner_id": [r[0] for r in rows],
            "changed_at": [r[1] for r in rows],
            "is_active": [r[2] for r in rows],
        },
        schema={
            "learner_id": pl.String,
            "changed_at": pl.Datetime("us", "UTC"),
            "is_active": pl.Boolean,
        },
    )
    return parse_status_log(frame, source)


def missing_oulad_reason() -> str | None:
    """Why the real OULAD data cannot be read, or None when it can.

    The folder is found as the package finds it
    (`meter_sim.datasets.oulad.oulad_folder`: ``$METER_SIM_OULAD``, else
    ``../shared/data/oulad`` beside the repository); every file of
    `meter_sim.datasets.oulad.FILES` must be in it.
    """
    try:
        folder = oulad_folder()
    except LogFormatError as exc:
        return f"real OULAD data not found: {exc}"
    missing = [name for name in FILES if not (folder / name).is_file()]
    if missing:
        return (
            f"real OULAD data not found: {', '.join(missing)} missing in '{folder}' "
            "(set METER_SIM_OULAD to the folder of the OULAD CSV files)"
        )
    return None


MISSING_OULAD = missing_oulad_reason()

REAL_OULAD = Path(os.environ.get(ENV_VAR) or DEFAULT_FOLDER)
"""The real OULAD folder, where the tests look for it (it may be absent)."""

needs_real_oulad = pytest.mark.skipif(
    MISSING_OULAD is not None, reason=MISSING_OULAD or ""
)
"""Skip a test, with the reason, where the real OULAD data is absent."""
