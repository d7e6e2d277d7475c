"""Generate realistic, seeded status logs (Parquet) for the billing benchmarks.

A vendor's export of five years of learner status changes: most learners have
2 to 10 changes (created Active, switched off at the end of a course, back on for
the next one, a few redundant re-saves of the same value), a few have one or many
more; about 1% of rows are exact duplicates (a re-sent batch) and about 2% of rows
are out of time order. Times have whole-second resolution, as an audit log's.

Two layouts (``--layout``):

- ``export`` (default): ids are text (``S`` and nine digits), rows are in time
  order but for about 2% moved anywhere, about 5 rows per learner;
- ``vendor``: ids are 64-bit integers, rows fully shuffled, about 10 rows per
  learner (a database dump in no particular order).

Usage (from the repository root)::

    uv run --group bench python benchmarks/generate.py /tmp/meter-bench \
        --events 1M,10M,30M [--layout vendor] [--csv]

writes ``/tmp/meter-bench/status-1M.parquet`` (``status-vendor-1M.parquet``
for the vendor layout) etc. (columns ``learner_id`` String or Int64,
``changed_at`` Datetime(us, UTC), ``is_active`` Boolean); ``--csv`` also writes
``status-1M.csv``, the same rows as an export writes them (times in
Australia/Sydney with their offset, ``2019-03-04T10:11:12+11:00``; ``true`` /
``false``). The same seed, size and layout give the same file. Files already
present with the right row count are kept. Data goes outside the repository
(e.g. under /tmp).
"""

from __future__ import annotations

import argparse
import shutil
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import polars as pl

START = datetime(2019, 1, 1, tzinfo=UTC)
"""First instant of the five years covered. [UTC]"""
END = datetime(2024, 1, 1, tzinfo=UTC)
"""End (exclusive) of the five years covered. [UTC]"""
DAY = 86_400
"""Seconds in a day. [s]"""
CHUNK_EVENTS = 10_000_000
"""Rows generated, time-sorted and written per chunk (bounds the memory). [rows]"""
DUPLICATE_SHARE = 0.01
"""Share of the rows that are exact copies of another row. [unitless]"""
MOVED_SHARE = 0.02
"""Share of the rows written at a random place instead of in time order."""
LAYOUTS = ("export", "vendor")
"""File layouts: text ids mostly in time order, or integer ids shuffled."""
ID_MULTIPLIER = 0x9E3779B97F4A7C15
"""Odd 64-bit constant that scatters the vendor layout's ids (multiplication
modulo 2**64 is a bijection)."""
CSV_ZONE = "Australia/Sydney"
"""Zone of the local times (with offsets) of the CSV export."""


@dataclass(frozen=True)
class Shape:
    """How learners behave; times in seconds, shares unitless.

    Attributes
    ----------
    created_inactive : float
        Share of learners whose first row is No (created inactive).
    ends_inactive : float
        Share of learners whose last row is No (switched off after the course);
        the others are still Active at the end of the log.
    repeat : float
        Chance that a change repeats the current value (changes nothing).
    active_days, inactive_days : float
        Mean length of an Active spell (a course) and of a gap between
        courses. [days]
    quick : float
        Chance that a spell is a quick toggle (mean two hours) instead.
    """

    created_inactive: float = 0.05
    ends_inactive: float = 0.9
    repeat: float = 0.08
    active_days: float = 45.0
    inactive_days: float = 200.0
    quick: float = 0.08


def parse_size(text: str) -> int:
    """``"30M"`` -> 30_000_000, ``"500k"`` -> 500_000, ``"1000"`` -> 1000."""
    scale = {"k": 1_000, "m": 1_000_000, "g": 1_000_000_000}
    text = text.strip().lower()
    if text[-1] in scale:
        return int(float(text[:-1]) * scale[text[-1]])
    return int(text)


def size_label(events: int) -> str:
    """30_000_000 -> ``"30M"``, 500_000 -> ``"500k"``."""
    if events % 1_000_000 == 0:
        return f"{events // 1_000_000}M"
    if events % 1_000 == 0:
        return f"{events // 1_000}k"
    return str(events)


def _changes_per_learner(
    rng: np.random.Generator, learners: int, layout: str
) -> np.ndarray:
    """Rows per learner.

    ``export``: 90% 2 to 10, 5% a single row, 5% 11 to 40 (mean about 6.5);
    ``vendor``: 90% 5 to 15, 5% a single row, 5% 16 to 40 (mean about 10.5).
    """
    low, high = (2, 11) if layout == "export" else (5, 16)
    kind = rng.random(learners)
    counts = rng.integers(low, high, learners)
    counts = np.where(kind < 0.05, 1, counts)
    return np.where(kind > 0.95, rng.integers(high, 41, learners), counts)


def _learners(
    rng: np.random.Generator, first_id: int, learners: int, shape: Shape, layout: str
) -> pl.DataFrame:
    """Status rows of ``learners`` learners, in learner order; times may pass END."""
    counts = _changes_per_learner(rng, learners, layout)
    total = int(counts.sum())
    starts = np.cumsum(counts) - counts
    owner = np.repeat(np.arange(learners), counts)
    position = np.arange(total) - np.repeat(starts, counts)
    # State: the first row's value, then each row flips it unless it repeats.
    first_state = rng.random(learners) >= shape.created_inactive
    flips = (rng.random(total) >= shape.repeat) & (position > 0)
    parity = np.cumsum(flips)
    parity -= np.repeat(parity[starts] - flips[starts], counts)
    state = first_state[owner] ^ (parity % 2 == 1)
    last = starts + counts - 1
    state[last] &= (rng.random(learners) >= shape.ends_inactive) | (counts == 1)
    # Time: creation uniform over the years, then spells of the previous state.
    span = int((END - START).total_seconds())
    created = rng.integers(0, span - 30 * DAY, learners)
    previous = np.roll(state, 1)
    mean_days = np.where(previous, shape.active_days, shape.inactive_days)
    gaps = rng.exponential(mean_days * DAY)
    quick = rng.random(total) < shape.quick
    gaps = np.where(quick, rng.exponential(2 * 3600.0, total), gaps)
    gaps = np.maximum(gaps.astype(np.int64), 1)
    gaps[starts] = 0
    offsets = np.cumsum(gaps)
    offsets -= np.repeat(offsets[starts], counts)
    seconds = created[owner] + offsets
    ids = (first_id + owner) * 7_919 % 1_000_000_000  # distinct, scattered
    return pl.DataFrame(
        {"id": ids.astype(np.int64), "t": seconds, "is_active": state}
    ).filter(pl.col("t") < span)


def _chunk(
    rng: np.random.Generator, first_id: int, rows: int, shape: Shape, layout: str
) -> tuple[pl.DataFrame, int]:
    """About ``rows`` rows (exactly ``rows``, with duplicates), as written.

    Returns the frame and the number of learners used.
    """
    base = rows - round(rows * DUPLICATE_SHARE)
    parts: list[pl.DataFrame] = []
    have, used = 0, 0
    while have < base:
        learners = max(1_000, int((base - have) / 5.0))
        part = _learners(rng, first_id + used, learners, shape, layout)
        parts.append(part)
        have += part.height
        used += learners
    frame = pl.concat(parts).head(base)
    used = frame["id"].n_unique()
    # Written in time order (an export), then ~2% of rows moved anywhere and the
    # duplicates placed a little after the row they copy (a re-sent batch).
    frame = frame.sort("t", "id")
    order = np.arange(base, dtype=np.float64)
    moved = rng.random(base) < MOVED_SHARE
    order[moved] = rng.random(int(moved.sum())) * base
    copies = rng.integers(0, base, rows - base)
    copy_order = order[copies] + rng.integers(1, 5_000, rows - base)
    frame = pl.concat(
        [
            frame.with_columns(pl.Series("order", order)),
            frame[copies].with_columns(pl.Series("order", copy_order)),
        ]
    ).sort("order")
    changed_at = (pl.lit(START) + pl.duration(seconds=pl.col("t"))).dt.cast_time_unit(
        "us"
    )
    if layout == "vendor":  # 63-bit ids (a bijection of the numbers); shuffled
        wide = frame["id"].to_numpy().astype(np.uint64) * np.uint64(ID_MULTIPLIER)
        frame = frame.with_columns(pl.Series("id", (wide >> np.uint64(1)) + 1))
        frame = frame[rng.permutation(frame.height)]
        ids = pl.col("id").cast(pl.Int64)
    else:
        ids = pl.format("S{}", pl.col("id").cast(pl.String).str.zfill(9))
    written = frame.select(
        ids.alias("learner_id"),
        changed_at.dt.convert_time_zone("UTC").alias("changed_at"),
        "is_active",
    )
    return written, used


def generate(
    events: int, path: Path, *, seed: int, shape: Shape, layout: str = "export"
) -> Path:
    """Write a status log of exactly ``events`` rows to ``path`` (Parquet).

    Parameters
    ----------
    events : int
        Rows to write, duplicates included. [rows]
    path : Path
        The ``.parquet`` file to write (replaced).
    seed : int
        Seed of ``numpy.random.default_rng``; same seed and size, same file.
    shape : Shape
        How learners behave.
    layout : str
        One of `LAYOUTS`.

    Returns
    -------
    Path
        ``path``.
    """
    rng = np.random.default_rng([seed, events, LAYOUTS.index(layout)])
    parts_dir = path.with_suffix(".parts")
    shutil.rmtree(parts_dir, ignore_errors=True)
    parts_dir.mkdir(parents=True)
    done, first_id, index = 0, 0, 0
    while done < events:
        rows = min(CHUNK_EVENTS, events - done)
        frame, used = _chunk(rng, first_id, rows, shape, layout)
        frame.write_parquet(parts_dir / f"{index:05d}.parquet")
        done, first_id, index = done + rows, first_id + used + 1, index + 1
    tmp = path.with_suffix(".tmp.parquet")
    pl.scan_parquet(sorted(parts_dir.glob("*.parquet"))).sink_parquet(tmp)
    tmp.replace(path)
    shutil.rmtree(parts_dir)
    return path


def write_csv(parquet: Path) -> Path:
    """Write ``parquet``'s rows beside it as a CSV export; returns the CSV file.

    Times are local times in `CSV_ZONE` with their offset, as an export
    writes them; the status is ``true`` or ``false``.
    """
    csv = parquet.with_suffix(".csv")
    tmp = csv.with_suffix(".tmp.csv")
    pl.scan_parquet(parquet).select(
        pl.col("learner_id").cast(pl.String),
        pl.col("changed_at")
        .dt.convert_time_zone(CSV_ZONE)
        .dt.strftime("%Y-%m-%dT%H:%M:%S%:z"),
        "is_active",
    ).sink_csv(tmp)
    tmp.replace(csv)
    return csv


def main(argv: list[str] | None = None) -> int:
    """Command line: ``generate.py OUT_DIR [--events 1M,10M,30M] [--seed 7]``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="folder for the Parquet files")
    parser.add_argument("--events", default="1M,10M,30M", help="sizes, e.g. 1M,30M")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--layout", choices=LAYOUTS, default="export")
    parser.add_argument("--csv", action="store_true", help="also write a CSV export")
    parser.add_argument("--force", action="store_true", help="rewrite existing files")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    for events in (parse_size(s) for s in args.events.split(",")):
        path = args.out / log_name(events, args.layout)
        if (
            not args.force
            and path.exists()
            and pl.scan_parquet(path).select(pl.len()).collect().item() == events
        ):
            print(f"{path}: present, kept")
        else:
            generate(events, path, seed=args.seed, shape=Shape(), layout=args.layout)
            size = path.stat().st_size / 2**20
            print(f"{path}: {events:,} rows, {size:,.0f} MiB")
        csv = path.with_suffix(".csv")
        if args.csv and (args.force or not csv.exists()):
            write_csv(path)
            print(f"{csv}: {csv.stat().st_size / 2**20:,.0f} MiB")
    return 0


def log_name(events: int, layout: str) -> str:
    """A log's file name, e.g. ``status-30M.parquet``, ``status-vendor-30M.parquet``."""
    tag = "" if layout == "export" else f"{layout}-"
    return f"status-{tag}{size_label(events)}.parquet"


if __name__ == "__main__":
    sys.exit(main())
