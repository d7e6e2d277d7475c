"""The same billing as ``meter-sim bill``, written as DuckDB SQL (the comparison).

Rules (docs/DESIGN.md section 1): a learner is billed once for a calendar month in
the billing time zone if Active at any instant of it; status intervals are
half-open; identical rows count once; Yes and No for one learner at one instant
is an error; the period runs from the month of the first row to the month of the
last. The SQL is what an analyst fluent in DuckDB would write: one aggregation
that drops identical rows and finds same-instant conflicts, window functions over
each learner's rows (``lag`` to keep the changes, ``lead`` to close each Active
interval), integer month indices in the billing zone (ICU, built into the duckdb
wheel, no download) and distinct learner-months with the reason of the earliest
interval.

Usage::

    uv run --group bench python benchmarks/duckdb_bill.py STATUS.parquet OUT.parquet \
        [--timezone Australia/Sydney]

writes the learner-months (``learner_id``, ``month`` Date, ``reason``) to
OUT.parquet and prints the monthly usage as CSV (``month,billable_learners``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import duckdb

MONTH = "(year({t}) * 12 + month({t}) - 1)"
"""Integer month index of a TIMESTAMPTZ in the session zone (the billing zone)."""

BILLING_SQL = f"""
CREATE TEMP TABLE learner_months AS
WITH ordered AS (           -- one window pass over each learner's rows
    SELECT learner_id, changed_at, is_active,
           lag(is_active) OVER w AS prev,
           lag(changed_at) OVER w AS prev_at,
           lead(CASE WHEN NOT is_active THEN changed_at END IGNORE NULLS) OVER w
               AS next_no
    FROM read_parquet($status)
    WINDOW w AS (PARTITION BY learner_id ORDER BY changed_at, is_active)
),
starts AS (                 -- Active interval [changed_at, next_no) per real change
    SELECT learner_id, changed_at, next_no, prev IS NULL AS created,
           CASE WHEN prev_at = changed_at AND prev <> is_active
                THEN error('Yes and No for one learner at one instant')
           END AS conflict
    FROM ordered
    WHERE (is_active AND (prev IS NULL OR NOT prev))   -- identical rows: no change
       OR (prev_at = changed_at AND prev <> is_active)  -- kept to raise the error
),
spans AS (                  -- in integer months of the billing zone
    SELECT learner_id, changed_at, created,
           {MONTH.format(t="changed_at")} AS m_start,
           coalesce({MONTH.format(t="next_no - INTERVAL 1 MICROSECOND")},
                    getvariable('hi')) AS m_end
    FROM starts
),
runs AS (                   -- a month shared with the previous interval is its
    SELECT *,               -- (earlier) interval's: runs do not overlap
           greatest(m_start, getvariable('lo'),
                    lag(m_end) OVER (PARTITION BY learner_id ORDER BY changed_at) + 1)
               AS m_lo,
           least(m_end, getvariable('hi')) AS m_hi
    FROM spans
)
SELECT learner_id,
       make_date((m // 12)::BIGINT, (m % 12 + 1)::BIGINT, 1) AS month,
       CASE WHEN created AND m = m_start THEN 'created_active'
            WHEN m > m_start THEN 'carried_over'
            ELSE 'reactivated' END AS reason
FROM runs, range(m_lo, m_hi + 1) AS r(m)
"""


def bill(status: Path, out: Path, timezone: str) -> str:
    """Bill ``status`` with DuckDB; write learner-months to ``out``.

    Returns the monthly usage as CSV text (every month of the period, zeros
    included) and prints nothing.
    """
    con = duckdb.connect()
    con.execute(f"SET TimeZone = '{timezone}'")
    con.execute("SET preserve_insertion_order = false")
    con.execute("SET enable_progress_bar = false")
    for name, agg in (("lo", "min"), ("hi", "max")):
        month = MONTH.format(t=f"{agg}(changed_at)")
        con.execute(
            f"SET VARIABLE {name} = (SELECT {month} FROM read_parquet($status))",
            {"status": str(status)},
        )
    con.execute(BILLING_SQL, {"status": str(status)})
    con.execute(f"COPY learner_months TO '{out}' (FORMAT parquet)")
    rows = con.execute(
        """
        SELECT strftime(make_date((m // 12)::BIGINT, (m % 12 + 1)::BIGINT, 1),
                        '%Y-%m') AS month,
               count(learner_id) AS billable_learners
        FROM range(getvariable('lo'), getvariable('hi') + 1) AS r(m)
        LEFT JOIN learner_months
               ON learner_months.month
                  = make_date((m // 12)::BIGINT, (m % 12 + 1)::BIGINT, 1)
        GROUP BY m ORDER BY m
        """
    ).fetchall()
    return "month,billable_learners\n" + "".join(f"{a},{b}\n" for a, b in rows)


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
