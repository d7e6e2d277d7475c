"""Local wall-clock times to UTC by the zone rules of ``zoneinfo``, vectorised.

Month edges come from ``zoneinfo`` (`meter_sim.lifecycle.month_start`), so a
local time without an offset (``--naive-timezone``) must be read by the same
rules: polars' own time-zone data stops its DST rules in 2099 and differs from
``zoneinfo`` before 1970 in some zones, which billed April 2150 in New York an
hour off (issue #18.4). The zone's UTC offsets are taken from ``zoneinfo`` once
per zone (a table of the instants at which the offset changes), and each local
time is then placed in that table by a binary search in polars.
"""

from __future__ import annotations

import functools
import itertools
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import polars as pl

YEARS = (1899, 2201)
"""Years whose offset changes are tabled, ``[first, last)``; a time outside is
read with the offset at the nearest edge (logs hold the years 1900 to 2199)."""

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_SECOND = timedelta(seconds=1)


def _offset(zone: ZoneInfo, seconds: int) -> int:
    """The UTC offset of ``zone`` at ``seconds`` since 1970 UTC, in seconds."""
    offset = (_EPOCH + timedelta(seconds=seconds)).astimezone(zone).utcoffset()
    assert offset is not None  # a ZoneInfo always has one
    return offset // _SECOND


@functools.lru_cache(maxsize=8)
def offset_changes(timezone: str) -> tuple[np.ndarray, np.ndarray]:
    """The instants at which ``timezone``'s UTC offset changes, and the offsets.

    The offset is read at the start of every UTC day of `YEARS`; where two days
    differ, the change is found to the second by bisection (zones change at whole
    seconds, at most once a day).

    Returns
    -------
    (np.ndarray, np.ndarray)
        int64 microseconds since 1970 UTC at which each offset starts (the first
        is the table's start), and the int64 offset from then on. [us]
    """
    zone = ZoneInfo(timezone)
    first = int((datetime(YEARS[0], 1, 1, tzinfo=UTC) - _EPOCH).total_seconds())
    last = int((datetime(YEARS[1], 1, 1, tzinfo=UTC) - _EPOCH).total_seconds())
    days = range(first, last, 86_400)
    daily = [_offset(zone, s) for s in days]
    starts, offsets = [first], [daily[0]]
    for day, (before, after) in enumerate(itertools.pairwise(daily)):
        if before == after:
            continue
        low, high = days[day], days[day + 1]  # offset `before` at low, not at high
        while high - low > 1:
            middle = (low + high) // 2
            if _offset(zone, middle) == before:
                low = middle
            else:
                high = middle
        starts.append(high)
        offsets.append(after)
    micros = 1_000_000
    return (
        np.array(starts, dtype=np.int64) * micros,
        np.array(offsets, dtype=np.int64) * micros,
    )


def local_to_utc(local: pl.Expr, timezone: str, *, resolve: bool = False) -> pl.Expr:
    """The UTC instant of a local wall-clock time in ``timezone`` (zoneinfo rules).

    A local time is read with the offset in force at it. One that occurs twice
    (clocks set back) or never (clocks set forward) gives null, or with
    ``resolve``: the earlier of the two instants, and for a skipped time the
    offset in force before the gap (so it lands after the gap by the gap's
    length).

    Parameters
    ----------
    local : pl.Expr
        A naive Datetime expression (any time unit): local wall-clock times.
    timezone : str
        IANA zone.
    resolve : bool
        Resolve ambiguous and skipped times (as above) instead of giving null.

    Returns
    -------
    pl.Expr
        Datetime(us, UTC); null for a null time, and unless ``resolve`` for an
        ambiguous or non-existent one.
    """
    starts, offsets = offset_changes(timezone)
    # Offset k holds for the local times [starts[k] + offsets[k], ends[k]).
    local_starts = starts + offsets
    local_starts[0] = np.iinfo(np.int64).min
    ends = np.append(starts[1:], np.iinfo(np.int64).max // 2) + offsets
    wall = local.dt.cast_time_unit("us").to_physical()
    at = (pl.lit(pl.Series(local_starts)).search_sorted(wall, side="right") - 1).clip(
        0, len(starts) - 1
    )
    before = (at - 1).clip(0, len(starts) - 1)
    this_fits = wall < pl.lit(pl.Series(ends)).gather(at)
    earlier_fits = (at > 0) & (wall < pl.lit(pl.Series(ends)).gather(before))
    offset_now = pl.lit(pl.Series(offsets)).gather(at)
    offset_before = pl.lit(pl.Series(offsets)).gather(before)
    if resolve:  # in a gap, `at` is the offset before it
        utc = (
            pl.when(earlier_fits)
            .then(wall - offset_before)
            .otherwise(wall - offset_now)
        )
    else:
        utc = (
            pl.when(this_fits & ~earlier_fits)
            .then(wall - offset_now)
            .when(earlier_fits & ~this_fits)
            .then(wall - offset_before)
        )
    return utc.cast(pl.Datetime("us", "UTC"))
