"""Shared helpers: build validated status logs from rows written out by hand."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl
import pytest

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


def _real_oulad_folder() -> Path:
    """The real OULAD folder: ``$METER_SIM_OULAD``, else ``../shared/data/oulad``."""
    env = os.environ.get("METER_SIM_OULAD")
    if env:
        return Path(env)
    return Path(__file__).parents[2] / "shared" / "data" / "oulad"


REAL_OULAD = _real_oulad_folder()

needs_real_oulad = pytest.mark.skipif(
    not (REAL_OULAD / "studentRegistration.csv").is_file(),
    reason=f"real OULAD data not found at {REAL_OULAD} (set METER_SIM_OULAD to its folder)",
)
"""Skip a test, with the reason, where the real OULAD data is absent."""
