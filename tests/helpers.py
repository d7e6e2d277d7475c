"""Shared helpers: build validated status logs from rows written out by hand."""

from __future__ import annotations

from typing import TYPE_CHECKING

import polars as pl

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
