"""Write the files of the bad-input corpus that are not plain UTF-8 text.

The text files of ``tests/data/bad/`` are written by hand; this script writes the
others (other encodings, byte order marks, control characters, old Mac line
endings, Parquet), so that their bytes are reproducible and reviewable here.
Run it from the repository root after changing it::

    uv run python tests/data/bad/make_corpus.py

Huge inputs (a 100 MB field, a 100 MB header) are never committed: the tests
write them in a temporary folder (tests/test_bad_input.py).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import polars as pl

HERE = Path(__file__).parent
HEADER = "learner_id,changed_at,is_active\n"
ROW = "L1,2018-07-02T09:00:00+10:00,yes\n"
PLAN = "name: Bad\ncurrency: AUD\nbase_fee: 100.00\nincluded_learners: 1\n"


def text_files() -> dict[str, bytes]:
    """Files whose bytes matter: encodings, BOMs, line endings, control bytes."""
    return {
        "status/latin1.csv": (HEADER + "José,2018-07-02T09:00:00+10:00,yes\n").encode(
            "latin-1"
        ),
        "status/windows-1252-quotes.csv": (
            HEADER + "\u201cL1\u201d,2018-07-02T09:00:00+10:00,yes\n"
        ).encode("cp1252"),
        "status/utf16-with-bom.csv": (HEADER + ROW).encode("utf-16"),
        "status/utf16-without-bom.csv": (HEADER + ROW).encode("utf-16-le"),
        "status/utf8-bom-crlf.csv": b"\xef\xbb\xbf"
        + (HEADER + ROW).replace("\n", "\r\n").encode(),
        "status/old-mac-line-endings.csv": (HEADER + ROW).replace("\n", "\r").encode(),
        "status/nul-in-id.csv": (
            HEADER + "L\x001,2018-07-02T09:00:00+10:00,yes\n"
        ).encode(),
        "plan/utf16.yaml": (PLAN + "overage_price: 10.00\n").encode("utf-16"),
        "plan/latin1.yaml": ("name: Café\n" + PLAN[10:] + "overage_price: 10\n").encode(
            "latin-1"
        ),
        "plan/control-character.yaml": (
            PLAN + "overage_price: 10.00\ndescription: ring \x07 the bell\n"
        ).encode(),
        "plan/nul-character.yaml": (PLAN + "overage_price: 10.00\x00\n").encode(),
    }


def parquet_files() -> dict[str, pl.DataFrame]:
    """Typed files with what only a typed file can hold: nulls, floats, epochs."""
    at = datetime(2018, 7, 1, 23, tzinfo=UTC)
    return {
        "status/null-time.parquet": pl.DataFrame(
            {
                "learner_id": ["L1", "L1"],
                "changed_at": [at, None],
                "is_active": [True, False],
            }
        ),
        "status/naive-times.parquet": pl.DataFrame(
            {
                "learner_id": ["L1"],
                "changed_at": [datetime(2018, 7, 2, 9)],  # noqa: DTZ001
                "is_active": [True],
            }
        ),
        "status/epoch-seconds.parquet": pl.DataFrame(
            {"learner_id": ["L1"], "changed_at": [1530486000], "is_active": [True]}
        ),
        "status/yes-and-no-at-once.parquet": pl.DataFrame(
            {
                "learner_id": ["L1", "L2", "L1"],
                "changed_at": [at, at, at],
                "is_active": [True, True, False],
            }
        ),
        "invoice/float-amount.parquet": pl.DataFrame(
            {"month": ["2018-07"], "billable_learners": [2], "amount": [110.0]}
        ),
        "invoice/negative-decimal.parquet": pl.DataFrame(
            {
                "month": [date(2018, 7, 1)],
                "billable_learners": [2],
                "amount": pl.Series(["-110.00"]).cast(pl.Decimal(10, 2)),
            }
        ),
    }


def main() -> None:
    """Write every file of `text_files` and `parquet_files` under this folder."""
    for name, data in text_files().items():
        (HERE / name).write_bytes(data)
    for name, frame in parquet_files().items():
        frame.write_parquet(HERE / name)
    (HERE / "status/not-parquet.parquet").write_text(HEADER + ROW, encoding="utf-8")


if __name__ == "__main__":
    main()
