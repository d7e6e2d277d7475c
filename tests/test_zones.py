"""Local times to UTC (meter_sim.zones) by zoneinfo's rules, as the month edges are."""

# Naive local wall-clock times are what is under test here.
# ruff: noqa: DTZ001

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import polars as pl
from hypothesis import given
from hypothesis import strategies as st

from meter_sim.zones import local_to_utc, offset_changes

ZONES = (
    "America/New_York",
    "Australia/Sydney",
    "Australia/Lord_Howe",
    "America/Asuncion",
    "Europe/Amsterdam",
    "Pacific/Apia",
    "Africa/Casablanca",
)


def zoneinfo_reading(wall: datetime, zone: ZoneInfo) -> tuple[datetime | None, ...]:
    """(strict, resolved) UTC readings of a naive local time, by zoneinfo alone.

    strict: None when the time occurs twice or never; resolved: the earlier of
    two, and for a skipped time the offset before the gap (fold=0 of the gap).
    """
    readings = []
    for fold in (0, 1):
        aware = wall.replace(tzinfo=zone, fold=fold)
        back = aware.astimezone(UTC).astimezone(zone).replace(tzinfo=None)
        readings.append(aware.astimezone(UTC) if back == wall else None)
    first, second = readings
    ambiguous = first is not None and second is not None and first != second
    strict = None if ambiguous else first or second
    if first is None and second is None:  # skipped: the offset before the gap
        earlier = wall.replace(tzinfo=zone, fold=0).utcoffset()
        later = wall.replace(tzinfo=zone, fold=1).utcoffset()
        assert earlier is not None
        assert later is not None
        resolved = (wall - min(earlier, later)).replace(tzinfo=UTC)
    else:
        resolved = min(r for r in readings if r is not None)
    return strict, resolved


@st.composite
def local_times(draw: st.DrawFn) -> tuple[str, datetime]:
    """A zone and a local time, often within hours of one of its offset changes."""
    zone = draw(st.sampled_from(ZONES))
    if draw(st.booleans()):
        seconds = draw(st.integers(0, 300 * 365 * 86_400))
        return zone, datetime(1900, 1, 1) + timedelta(seconds=seconds)
    starts, _ = offset_changes(zone)
    change = int(draw(st.sampled_from(list(starts[1:]))))
    near = draw(st.integers(-3 * 3600, 3 * 3600)) * 1_000_000
    shift = draw(st.integers(-14, 14)) * 3600 * 1_000_000
    micros = change + near + shift + draw(st.sampled_from([0, 1, -1]))
    return zone, datetime(1970, 1, 1) + timedelta(microseconds=micros)


@given(case=st.lists(local_times(), min_size=1, max_size=20))
def test_local_times_are_read_as_zoneinfo_reads_them(
    case: list[tuple[str, datetime]],
) -> None:
    for zone in {z for z, _ in case}:
        walls = [w for z, w in case if z == zone]
        frame = pl.DataFrame({"wall": walls}, schema={"wall": pl.Datetime("us")})
        strict, resolved = (
            frame.select(local_to_utc(pl.col("wall"), zone, resolve=r))[
                "wall"
            ].to_list()
            for r in (False, True)
        )
        expected = [zoneinfo_reading(w, ZoneInfo(zone)) for w in walls]
        assert strict == [e[0] for e in expected]
        assert resolved == [e[1] for e in expected]


def test_new_york_keeps_daylight_saving_time_after_2099() -> None:
    # Polars' zone data has no DST after 2099 (issue #18.4); zoneinfo does.
    walls = [datetime(2150, 4, 30, 23, 30), datetime(2150, 3, 8, 2, 30)]
    frame = pl.DataFrame({"wall": walls}, schema={"wall": pl.Datetime("us")})
    got = frame.select(local_to_utc(pl.col("wall"), "America/New_York"))["wall"]
    # 23:30 EDT (-04:00) is 03:30 UTC; 02:30 on 8 March 2150 is skipped.
    assert got.to_list() == [datetime(2150, 5, 1, 3, 30, tzinfo=UTC), None]
