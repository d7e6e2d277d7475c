"""The same billing as ``meter-sim bill``, as the fastest DuckDB SQL we found.

Rules (docs/DESIGN.md section 1): a learner is billed once for a calendar month in
the billing time zone if Active at any instant of it; status intervals are
half-open; identical rows count once; Yes and No for one learner at one instant
is an error; the period runs from the month of the first row to the month of the
last.

The SQL is written as an analyst fluent in DuckDB would write it, like the
product's own engine (see README "The DuckDB SQL" for the formulations tried):

- the log is read once (``read_parquet``, or ``read_csv`` with typed columns);
  times become integer microseconds (``epoch_us``);
- months come from a small table with one row per UTC day (the month at the
  day's start and the instant in the day where the next local month starts,
  built once with ICU under ``SET TimeZone``), joined on the integer day number:
  no time-zone arithmetic per row;
- one ``lag`` over each learner's rows ordered by (time, status) keeps the real
  changes (identical rows and repeats change nothing) and finds Yes and No at
  one instant (an error);
- one ``lag`` / ``lead`` pass over the changes, which alternate Yes and No,
  closes each Active interval (the next change) and gives the previous
  interval's last month, so ``greatest(start, previous_end + 1)`` keeps a
  learner's runs of months from overlapping;
- ``range()`` expands the runs; ``COPY ... TO parquet`` without ``ORDER BY``;
  the monthly usage is counted from the runs (a +1 at each run's first month,
  a -1 after its last, summed), not from the expanded rows.

Usage::

    uv run --group bench python benchmarks/duckdb_bill.py STATUS OUT.parquet \
        [--timezone Australia/Sydney]

STATUS is a ``.parquet`` or ``.csv`` status log; writes the learner-months
(``learner_id``, ``month`` Date, ``reason``) to OUT.parquet and prints the
monthly usage as CSV (``month,billable_learners``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import duckdb

DAY_US = 86_400_000_000
"""Microseconds in a day."""

DAYS_SQL = f"""
CREATE TEMP TABLE days AS          -- one row per UTC day, 1900 to 2200
WITH d AS (
    SELECT range AS day, make_timestamptz(range * {DAY_US}) AS t   -- session zone
    FROM range(-25567, 84006)
), m AS (
    SELECT day, year(t) * 12 + month(t) - 1 AS m0 FROM d
), n AS (                          -- the instant the next local month starts
    SELECT day, m0, epoch_us(make_timestamptz(((m0 + 1) // 12)::BIGINT,
                                              ((m0 + 1) % 12 + 1)::BIGINT, 1, 0, 0, 0))
               AS next_start
    FROM m
)
SELECT day, m0::INTEGER AS m0,
       -- where the next local month starts, if by the end of this day (inclusive,
       -- so that the day of t - 1 us gives the month of t too)
       CASE WHEN next_start <= (day + 1) * {DAY_US} THEN next_start
            ELSE 9223372036854775807 END AS edge
FROM n
"""

BILLING_SQL = f"""
CREATE TEMP TABLE runs AS
WITH rows AS (
    SELECT learner_id, epoch_us(changed_at) AS t, is_active FROM {{source}}
), ordered AS (             -- one window pass over each learner's rows
    SELECT learner_id, t, is_active,
           lag(is_active) OVER w AS prev, lag(t) OVER w AS prev_t
    FROM rows
    WINDOW w AS (PARTITION BY learner_id ORDER BY t, is_active)
), changes AS (             -- the real changes (a first row creates the learner)
    SELECT learner_id, t, is_active, prev IS NULL AS created,
           -- month of t - 1 us and of t, from the day of t - 1 us
           days.m0 + (t - 1 >= days.edge)::INTEGER AS m_before,
           days.m0 + (t >= days.edge)::INTEGER AS m_at
    FROM ordered JOIN days ON days.day = (t - 1) // {DAY_US}
    WHERE (prev IS NULL OR prev <> is_active)
      AND (CASE WHEN prev_t = t
                THEN error('Yes and No for one learner at one instant') END) IS NULL
), intervals AS (           -- changes alternate Yes, No: each Yes opens an interval
    SELECT learner_id, is_active, created, m_at AS m_start,
           lead(m_before) OVER v AS m_end,      -- the next No closes it
           -- the previous interval's last month (a creation No closes none)
           lag(CASE WHEN NOT created THEN m_before END) OVER v AS m_prev_end
    FROM changes
    WINDOW v AS (PARTITION BY learner_id ORDER BY t)
)
SELECT learner_id, created, m_start,
       greatest(m_start, getvariable('lo'), coalesce(m_prev_end + 1, m_start)) AS m_lo,
       least(coalesce(m_end, getvariable('hi')), getvariable('hi')) AS m_hi
FROM intervals
WHERE is_active
"""

EXPAND_SQL = """
COPY (
    SELECT learner_id,
           make_date((m // 12)::BIGINT, (m % 12 + 1)::BIGINT, 1) AS month,
           CASE WHEN created AND m = m_start THEN 'created_active'
                WHEN m > m_start THEN 'carried_over'
                ELSE 'reactivated' END AS reason
    FROM runs, range(m_lo, m_hi + 1) AS r(m)
    WHERE m_lo <= m_hi
) TO '{out}' (FORMAT parquet)
"""

USAGE_SQL = """
WITH steps AS (
    SELECT m_lo AS m, count(*) AS up, 0 AS down FROM runs WHERE m_lo <= m_hi GROUP BY 1
    UNION ALL
    SELECT m_hi + 1, 0, count(*) FROM runs WHERE m_lo <= m_hi GROUP BY 1
), months AS (
    SELECT r.m, coalesce(sum(up - down), 0) AS change
    FROM range(getvariable('lo'), getvariable('hi') + 1) AS r(m)
    LEFT JOIN steps ON steps.m = r.m
    GROUP BY r.m
)
SELECT strftime(make_date((m // 12)::BIGINT, (m % 12 + 1)::BIGINT, 1), '%Y-%m'),
       sum(change) OVER (ORDER BY m)::BIGINT
FROM months ORDER BY m
"""


def source(status: Path) -> str:
    """The table function reading ``status`` (Parquet, or CSV with typed columns)."""
    if status.suffix.lower() == ".csv":
        return (
            f"read_csv('{status}', header = true, columns = {{'learner_id': 'VARCHAR', "
            "'changed_at': 'TIMESTAMPTZ', 'is_active': 'BOOLEAN'}, "
            "timestampformat = '%Y-%m-%dT%H:%M:%S%z')"
        )
    return f"read_parquet('{status}')"


def bill(status: Path, out: Path, timezone: str) -> str:
    """Bill ``status`` with DuckDB; write learner-months to ``out``.

    Returns the monthly usage as CSV text (every month of the period, zeros
    included) and prints nothing.
    """
    con = duckdb.connect()
    con.execute(f"SET TimeZone = '{timezone}'")
    con.execute("SET preserve_insertion_order = false")
    con.execute("SET enable_progress_bar = false")
    con.execute(DAYS_SQL)
    rows = source(status)
    if status.suffix.lower() == ".csv":  # read and parse once, for both passes
        con.execute(f"CREATE TEMP TABLE log AS SELECT * FROM {rows}")
        rows = "log"
    # The period: the months of the first and last rows.
    lo, hi = con.execute(
        f"""
        SELECT year(min(changed_at)) * 12 + month(min(changed_at)) - 1,
               year(max(changed_at)) * 12 + month(max(changed_at)) - 1
        FROM {rows}
        """
    ).fetchone() or (0, 0)
    con.execute(f"SET VARIABLE lo = {lo}::INTEGER")
    con.execute(f"SET VARIABLE hi = {hi}::INTEGER")
    con.execute(BILLING_SQL.format(source=rows))
    con.execute(EXPAND_SQL.format(out=out))
    usage = con.execute(USAGE_SQL).fetchall()
    return "month,billable_learners\n" + "".join(f"{a},{b}\n" for a, b in usage)


def main(argv: list[str] | None = None) -> int:
    """Command line: ``duckdb_bill.py STATUS OUT [--timezone TZ]``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("status", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--timezone", default="Australia/Sydney")
    args = parser.parse_args(argv)
    sys.stdout.write(bill(args.status, args.out, args.timezone))
    return 0


if __name__ == "__main__":
    sys.exit(main())
