"""Invoice reconciliation: our logs against the vendor's invoice and status report.

An analyst has the provider's own status log (and activity log), the vendor's
invoice, and optionally the vendor's learner status report. `reconcile` meters the
logs (`meter_sim.billing.bill`) over the invoice's months and compares, learner by
learner and month by month (DESIGN.md section 2, ``reconcile``):

- each invoiced learner-month is ``billed_ok`` (the log says Active in the month),
  ``billed_not_active`` (an overcharge), or ``billed_twice`` (a repeated invoice
  line); each learner-month the log bills but the invoice does not is
  ``active_not_billed``;
- each month's invoiced count and amount are compared with the count from the log
  and the plan's price, and the differences are explained: learners, a count that
  matches months counted in UTC rather than the billing time zone, an overage
  priced at another rate, a status report that disagrees with the invoice
  (``reference/domain-research.md`` section 6.5, invariants 26-29);
- activity on an inactive learner, which contradicts the rules, is listed apart.

Every row of every input is either used or listed in ``rejected`` with a reason.

Input formats (DESIGN.md section 4; CSV with a header line, or Parquet):

- **Invoice**, either per month: ``month`` (``YYYY-MM``), ``billable_learners``,
  optional ``amount`` (the month's charge before tax and any minimum-spend
  true-up, i.e. base fee plus overage, of both meters when an e-Learning log is
  given; ``total``, as ``meter-sim bill --format csv`` writes it, is accepted
  instead); or per learner: ``month``,
  ``learner_id``, one line per learner billed.
- **Vendor status report** (a documented subset of ``reference/domain-research.md``
  section 8.1): ``billing_month`` (``YYYY-MM``), ``learner_id``,
  ``billable_in_month`` (``Y``/``N``, or any boolean word of the status log);
  optional ``first_name``, ``last_name``, ``date_of_birth`` (``YYYY-MM-DD``), used
  to find likely duplicate learner records. Other columns are ignored, so
  ``meter-sim report status`` output is a valid status report.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import polars as pl

from meter_sim.billing import DEFAULT_TIMEZONE, _accounting, bill
from meter_sim.exceptions import LogFormatError, PricingError
from meter_sim.lifecycle import Outcome, Policy
from meter_sim.logs import (
    FALSE_WORDS,
    OUTSIDE_YEARS,
    REJECTED_SCHEMA,
    TRUE_WORDS,
    YEARS,
    _blank_id,
    _bool_value,
    _clashes,
    _collect_errors,
    _columns,
    _learner_id,
    _raise_errors,
    _read_table,
    _shown,
    _split_repeats,
    _text,
    _words_error,
)
from meter_sim.metering import ReasonEnum, month_index
from meter_sim.pricing import (
    CENT,
    elearning_overage_learners,
    month_total,
    overage_learners,
    round_money,
)
from meter_sim.reports import status_report
from meter_sim.savings import find_savings

if TYPE_CHECKING:
    from meter_sim.billing import Bill
    from meter_sim.elearning import ElearningLog
    from meter_sim.logs import ActivityLog, StatusLog
    from meter_sim.pricing import Plan

InvoiceForm = Literal["months", "learners"]
"""An invoice lists counts per month (``months``) or one line per learner."""

MONEY = pl.Decimal(38, 2)

INVOICE_MONTHS_SCHEMA = pl.Schema(
    {
        "line": pl.Int64(),
        "month": pl.Date(),
        "billable_learners": pl.Int64(),
        "amount": MONEY,
    }
)
"""Rows of a per-month invoice (`InvoiceFile.rows`); ``amount`` null if absent."""

INVOICE_LINES_SCHEMA = pl.Schema(
    {"line": pl.Int64(), "month": pl.Date(), "learner_id": pl.String()}
)
"""Rows of a per-learner invoice (`InvoiceFile.rows`)."""

VENDOR_REPORT_SCHEMA = pl.Schema(
    {
        "line": pl.Int64(),
        "billing_month": pl.Date(),
        "learner_id": pl.String(),
        "billable_in_month": pl.Boolean(),
        "first_name": pl.String(),
        "last_name": pl.String(),
        "date_of_birth": pl.Date(),
    }
)
"""Rows of a vendor status report (`VendorReport.rows`)."""

VERDICTS = ("billed_ok", "billed_not_active", "active_not_billed", "billed_twice")
"""Verdicts of a learner-month, DESIGN.md section 2 (``reconcile``)."""

VerdictEnum = pl.Enum(VERDICTS)

LEARNER_MONTHS = pl.DataFrame(
    schema={
        "month": pl.Date(),
        "learner_id": pl.String(),
        "verdict": VerdictEnum,
        "reason": ReasonEnum,
        "source": pl.String(),
        "line": pl.Int64(),
        "explanation": pl.String(),
    }
)
"""An empty frame of `Reconciliation.learner_months`' columns."""

MONTHS_SCHEMA = pl.Schema(
    {
        "month": pl.Date(),
        "verdict": pl.Enum(["ok", "differs", "not_invoiced"]),
        "expected_learners": pl.UInt32(),
        "invoiced_learners": pl.UInt32(),
        "learner_difference": pl.Int64(),
        "utc_learners": pl.UInt32(),
        "terms_learners": pl.UInt32(),
        "vendor_report_learners": pl.UInt32(),
        "billed_not_active": pl.UInt32(),
        "active_not_billed": pl.UInt32(),
        "billed_twice": pl.UInt32(),
        "expected_amount": MONEY,
        "invoiced_amount": MONEY,
        "plan_amount_for_invoiced": MONEY,
        "amount_difference": MONEY,
        "findings": pl.String(),
    }
)
"""Columns of `Reconciliation.months` (see there)."""


def _with_elearning(schema: pl.Schema) -> pl.Schema:
    """``schema`` with ``expected_elearning_learners`` after ``expected_learners``."""
    columns: list[tuple[str, pl.DataType]] = []
    for name, dtype in schema.items():
        columns.append((name, dtype))
        if name == "expected_learners":
            columns.append(("expected_elearning_learners", pl.UInt32()))
    return pl.Schema(columns)


MONTHS_ELEARNING_SCHEMA = _with_elearning(MONTHS_SCHEMA)
"""Columns of `Reconciliation.months` when the logs include an e-Learning log:
`MONTHS_SCHEMA` with ``expected_elearning_learners`` after ``expected_learners``."""

MAX_COUNT = 999_999_999
"""Largest learner count an invoice may state. [learners]"""

SHOWN_LEARNERS = 5
"""Learner ids named in a month's finding before "and N more"."""


@dataclass(frozen=True)
class InvoiceFile:
    """A validated invoice to check.

    Attributes
    ----------
    form : {'months', 'learners'}
        Counts per month, or one line per learner billed.
    rows : pl.DataFrame
        `INVOICE_MONTHS_SCHEMA` or `INVOICE_LINES_SCHEMA` (``line`` is the file
        line, or the Parquet row); repeated identical month rows removed.
    rejected : pl.DataFrame
        `meter_sim.logs.REJECTED_SCHEMA`: rows counted once.
    source : str
        The file.
    rows_read : int
        Data rows read; ``rows_read == rows.height + rejected.height``. [rows]
    has_amount : bool
        A per-month invoice with an ``amount`` (or ``total``) column.
    """

    form: InvoiceForm
    rows: pl.DataFrame
    rejected: pl.DataFrame
    source: str
    rows_read: int
    has_amount: bool = False


@dataclass(frozen=True)
class VendorReport:
    """A validated vendor learner status report (attributes as `InvoiceFile`).

    ``rows`` has the columns of `VENDOR_REPORT_SCHEMA`; one row per learner and
    billing month.
    """

    rows: pl.DataFrame
    rejected: pl.DataFrame
    source: str
    rows_read: int


def _month(frame: pl.DataFrame, name: str) -> tuple[pl.Expr, pl.Expr]:
    """The first day of a ``YYYY-MM`` (or Date) column's month, and its error."""
    if frame.schema[name] == pl.Date:
        value = pl.date(pl.col(name).dt.year(), pl.col(name).dt.month(), 1)
        blank: pl.Expr = pl.when(pl.col(name).is_null()).then(
            pl.lit("blank; YYYY-MM expected")
        )
        year = value.dt.year()
    else:
        text = _text(name)
        value = (text + "-01").str.to_date("%Y-%m-%d", strict=False)
        year = value.dt.year()
        blank = (
            pl.when(text.is_null())
            .then(pl.lit("blank; a month YYYY-MM is expected"))
            .when(~text.str.contains(r"^[0-9]{4}-(0[1-9]|1[0-2])$"))
            .then(
                pl.format(
                    "expected a month as YYYY-MM, got '{}' (if a spreadsheet turned "
                    "it into a date, format the column as text)",
                    _shown(name),
                )
            )
        )
    outside = pl.when((year < YEARS[0]) | (year > YEARS[1])).then(pl.lit(OUTSIDE_YEARS))
    return value, pl.coalesce(blank, outside)


def _count(frame: pl.DataFrame, name: str) -> tuple[pl.Expr, pl.Expr]:
    """A whole-number count column, and its error (blank, negative, not a number)."""
    if frame.schema[name].is_integer():
        value = pl.col(name).cast(pl.Int64, strict=False)
        error = (
            pl.when(pl.col(name).is_null())
            .then(pl.lit("blank; a whole number is expected"))
            .when(value < 0)
            .then(pl.lit("negative; a count >= 0 is expected"))
            .when(value.is_null() | (value > MAX_COUNT))
            .then(pl.lit(f"more than {MAX_COUNT:,}; surely a typing error"))
        )
        return value, error
    text = _text(name)
    error = (
        pl.when(text.is_null())
        .then(pl.lit("blank; a whole number is expected"))
        .when(~text.str.contains(r"^[0-9]+$"))
        .then(
            pl.format("expected a whole number >= 0 like 120, got '{}'", _shown(name))
        )
        .when(~text.str.contains(r"^[0-9]{1,9}$"))
        .then(pl.lit(f"more than {MAX_COUNT:,}; surely a typing error"))
    )
    return text.cast(pl.Int64, strict=False), error


def _money(frame: pl.DataFrame, name: str) -> tuple[pl.Expr, pl.Expr]:
    """An amount column as Decimal(38, 2), and its error."""
    dtype = frame.schema[name]
    if dtype.is_integer() or isinstance(dtype, pl.Decimal):
        value = pl.col(name).cast(MONEY, strict=False)
        error = (
            pl.when(pl.col(name).is_null())
            .then(None)
            .when(value.is_null() | (value != pl.col(name)))
            .then(pl.lit("not a whole number of cents"))
            .when(value < 0)
            .then(pl.lit("negative; an amount >= 0 is expected"))
            .when(value > 1e12)
            .then(pl.lit("more than 1,000,000,000,000; surely a typing error"))
        )
        return value, error
    text = _text(name)
    error = (
        pl.when(text.is_null())
        .then(None)
        .when(text.str.contains(r"^-[0-9]+(\.[0-9]{1,2})?$"))
        .then(pl.lit("negative; an amount >= 0 is expected"))
        .when(~text.str.contains(r"^[0-9]{1,12}(\.[0-9]{1,2})?$"))
        .then(
            pl.format(
                "expected a plain amount like 1234.50 (no currency sign, no thousands "
                "separator, at most 2 decimals), got '{}'",
                _shown(name),
            )
        )
    )
    return text.cast(MONEY, strict=False), error


def _repeated(
    frame: pl.DataFrame, key: list[str], content: list[str], source: str, word: str
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Keep the first of identical rows; raise if one key has different content."""
    clash = _clashes(frame, key, content)
    if not clash.is_empty():
        what = " and ".join(f"`{k}` {{}}" for k in key)
        errors = clash.select(
            pl.col("lines").list.get(1).alias("line"),
            pl.lit(key[0]).alias("field"),
            pl.format(
                f"{what} is on {word}s {{}} with different values",
                *(
                    pl.col(k).dt.to_string("%Y-%m")
                    if frame.schema[k] == pl.Date
                    else pl.col(k)
                    for k in key
                ),
                pl.col("lines").cast(pl.List(pl.String)).list.join(", "),
            ).alias("message"),
        )
        _raise_errors(errors, source, word)
    kept, rejected = _split_repeats(frame, content, source, word)
    return kept.sort("line"), rejected.sort("line")


def read_invoice(path: str | Path) -> InvoiceFile:
    """Read and validate an invoice to check (CSV or Parquet, DESIGN.md section 4).

    Parameters
    ----------
    path : str or Path
        A ``.csv`` (UTF-8, header line) or ``.parquet`` file: per month
        ``month``, ``billable_learners`` and optionally ``amount`` (or
        ``total``) [currency, before tax]; or per learner ``month``,
        ``learner_id``. Other columns are ignored.

    Returns
    -------
    InvoiceFile
        The rows; identical repeated month rows are counted once and listed as
        rejected (a repeated learner line is kept: it is a double charge, found by
        `reconcile`).

    Raises
    ------
    LogFormatError
        If the file cannot be read, has neither layout, or a value is bad (a month
        not ``YYYY-MM``, a negative or non-numeric count, an amount with a currency
        sign, negative or with more than 2 decimals), or one month has two rows
        with different values. Messages name the file, line and column.
    """
    path = Path(path)
    source = str(path)
    raw, word = _read_table(path)
    columns = set(raw.columns)
    if "learner_id" in columns and "billable_learners" in columns:
        msg = (
            f"{source}: has both `learner_id` and `billable_learners`; an invoice "
            "is either per month (month, billable_learners, amount) or per learner "
            "(month, learner_id)"
        )
        raise LogFormatError(msg, source=source, line=1, field="learner_id")
    if "learner_id" in columns:
        frame, blank_records = _columns(
            raw, source, {"month": "month", "learner_id": "id"}, ["month"], word
        )
        month, month_error = _month(frame, "month")
        checks = {
            "month": month_error,
            "learner_id": pl.when(_blank_id()).then(pl.lit("blank")),
        }
        _raise_errors(_collect_errors(frame, checks), source, word)
        rows = frame.select(
            "line", month.alias("month"), _learner_id().alias("learner_id")
        ).cast(INVOICE_LINES_SCHEMA)
        return InvoiceFile("learners", rows, blank_records, source, raw.height)
    if {"amount", "total"} <= columns:
        msg = f"{source}: has both `amount` and `total`; give the month's amount once"
        raise LogFormatError(msg, source=source, line=1, field="total")
    if "billable_learners" not in columns:
        found = ", ".join(c for c in raw.columns if not c.startswith("__"))
        msg = (
            f"{source}: an invoice needs columns month, billable_learners (and "
            "optionally amount), or month, learner_id (one line per learner "
            f"billed); found {found}"
        )
        raise LogFormatError(msg, source=source, line=1, field="billable_learners")
    raw = raw.rename({"total": "amount"}) if "total" in columns else raw
    kinds = {"month": "month", "billable_learners": "count", "amount": "money"}
    frame, blank_records = _columns(
        raw, source, kinds, ["month", "billable_learners"], word
    )
    month, month_error = _month(frame, "month")
    count, count_error = _count(frame, "billable_learners")
    amount, amount_error = _money(frame, "amount")
    checks = {
        "month": month_error,
        "billable_learners": count_error,
        "amount": amount_error,
    }
    _raise_errors(_collect_errors(frame, checks), source, word)
    parsed = frame.select(
        "line",
        month.alias("month"),
        count.alias("billable_learners"),
        amount.alias("amount"),
    ).cast(INVOICE_MONTHS_SCHEMA)
    has_amount = "amount" in raw.columns
    if has_amount:
        blank = parsed.filter(pl.col("amount").is_null())
        if not blank.is_empty():
            errors = blank.select(
                "line",
                pl.lit("amount").alias("field"),
                pl.lit("blank; every month needs its amount").alias("message"),
            )
            _raise_errors(errors, source, word)
    content = ["month", "billable_learners", "amount"]
    rows, rejected = _repeated(parsed, ["month"], content, source, word)
    rejected = pl.concat([rejected, blank_records]).sort("line")
    return InvoiceFile("months", rows, rejected, source, raw.height, has_amount)


def read_vendor_report(path: str | Path) -> VendorReport:
    """Read and validate the vendor's learner status report (CSV or Parquet).

    Parameters
    ----------
    path : str or Path
        One row per learner and billing month: ``billing_month`` (``YYYY-MM``),
        ``learner_id``, ``billable_in_month`` (Y/N); optionally ``first_name``,
        ``last_name``, ``date_of_birth`` (``YYYY-MM-DD``). Other columns of the
        layout of ``reference/domain-research.md`` section 8.1 are ignored.

    Returns
    -------
    VendorReport
        The rows; identical repeated rows are counted once and listed as rejected.

    Raises
    ------
    LogFormatError
        If the file cannot be read, a column is missing, a value is bad, or one
        learner and month has two rows that disagree (naming both lines).
    """
    path = Path(path)
    source = str(path)
    raw, word = _read_table(path)
    kinds = {
        "billing_month": "month",
        "learner_id": "id",
        "billable_in_month": "flag",
        "first_name": "text",
        "last_name": "text",
        "date_of_birth": "date",
    }
    required = ["billing_month", "learner_id", "billable_in_month"]
    frame, blank_records = _columns(raw, source, kinds, required, word)
    month, month_error = _month(frame, "billing_month")
    flag_is_bool = frame.schema["billable_in_month"] == pl.Boolean
    billable = (
        pl.col("billable_in_month")
        if flag_is_bool
        else _bool_value("billable_in_month")
    )
    if frame.schema["date_of_birth"] == pl.Date:
        born, born_error = pl.col("date_of_birth"), pl.lit(None, pl.String)
    else:
        text = _text("date_of_birth")
        born = text.str.to_date("%Y-%m-%d", strict=False)
        born_error = pl.when(text.is_not_null() & born.is_null()).then(
            pl.format(
                "expected a date as YYYY-MM-DD, got '{}'", _shown("date_of_birth")
            )
        )
    checks = {
        "billing_month": month_error,
        "learner_id": pl.when(_blank_id()).then(pl.lit("blank")),
        "billable_in_month": pl.when(pl.col("billable_in_month").is_null()).then(
            pl.lit("blank; Y or N expected")
        )
        if flag_is_bool
        else _words_error("billable_in_month", TRUE_WORDS + FALSE_WORDS, required=True),
        "date_of_birth": born_error,
    }
    _raise_errors(_collect_errors(frame, checks), source, word)
    parsed = frame.select(
        "line",
        month.alias("billing_month"),
        _learner_id().alias("learner_id"),
        billable.alias("billable_in_month"),
        _text("first_name").alias("first_name"),
        _text("last_name").alias("last_name"),
        born.alias("date_of_birth"),
    ).cast(VENDOR_REPORT_SCHEMA)
    content = [c for c in VENDOR_REPORT_SCHEMA if c != "line"]
    rows, rejected = _repeated(
        parsed, ["learner_id", "billing_month"], content, source, word
    )
    rejected = pl.concat([rejected, blank_records]).sort("line")
    return VendorReport(rows, rejected, source, raw.height)


@dataclass(frozen=True)
class Reconciliation:
    """An invoice checked against the logs, month by month and learner by learner.

    Attributes
    ----------
    expected : Bill
        The logs metered and priced with the plan over the invoice's months.
    months : pl.DataFrame
        One row per month of the period, columns of `MONTHS_SCHEMA` (with an
        e-Learning log, `MONTHS_ELEARNING_SCHEMA`): ``month`` Date; ``verdict``
        Enum (``ok``, ``differs``, ``not_invoiced``: a per-month invoice
        without the month); ``expected_learners`` (from the log),
        ``expected_elearning_learners`` (e-Learning Active Learners from the
        e-Learning log; only with one),
        ``invoiced_learners`` (null if not invoiced), ``learner_difference``
        (invoiced - expected), ``utc_learners`` (the log's count with months in
        UTC), ``terms_learners`` (the log's count under the Terms' definition,
        `meter_sim.lifecycle.Policy`; null without an activity log),
        ``vendor_report_learners`` (billable rows of the status report; null
        without one), ``billed_not_active``, ``active_not_billed``,
        ``billed_twice`` (null without learner-level input) [learners];
        ``expected_amount`` (the plan's price of the expected count),
        ``invoiced_amount`` (null if the invoice gives none),
        ``plan_amount_for_invoiced`` (the plan's price of the invoiced count),
        each price at the tier in force that month (`Plan.in_force`),
        ``amount_difference`` (invoiced, or else the plan's price of the invoiced
        count, minus expected) [currency, before tax and true-up]; ``findings``
        String: each difference explained, one per line (empty when ok).
    learner_months : pl.DataFrame
        ``month`` Date, ``learner_id`` String, ``verdict`` Enum(`VERDICTS`),
        ``reason`` Enum (why the log bills it; null when it does not), ``source``
        String and ``line`` Int64 (the invoice or status report row; null for
        ``active_not_billed``), ``explanation`` String; sorted by month, learner
        and line. Empty when the invoice is per month and no status report was
        given (``learner_level`` False).
    learner_level : bool
        Whether learner-months were compared (per-learner invoice, or a status
        report).
    activity_while_inactive : pl.DataFrame
        Activities the log records on an inactive learner (they contradict the
        rules): ``line``, ``learner_id``, ``occurred_at`` (Datetime, billing time
        zone), ``activity``, ``channel``, ``outcome``, ``status_line``.
    savings : pl.DataFrame
        `meter_sim.savings.find_savings` of the expected learner-months.
    rejected : pl.DataFrame
        `REJECTED_SCHEMA` rows of every input not used, each with its reason.
    inputs : pl.DataFrame
        ``input``, ``rows_read``, ``rows_used``, ``rows_rejected`` per input file;
        read = used + rejected. [rows]
    """

    expected: Bill
    months: pl.DataFrame
    learner_months: pl.DataFrame
    learner_level: bool
    activity_while_inactive: pl.DataFrame
    savings: pl.DataFrame
    rejected: pl.DataFrame
    inputs: pl.DataFrame

    @property
    def matches(self) -> bool:
        """True when every month's verdict is ``ok``."""
        return bool(self.months.select((pl.col("verdict") == "ok").all()).item())


def _outside(
    rows: pl.DataFrame, month: str, first: date, last: date, source: str
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Split rows into those inside the period and the rejected others."""
    inside = pl.col(month).is_between(first, last)
    reason = pl.format(
        f"month {{}} is outside the period {first:%Y-%m} to {last:%Y-%m}",
        pl.col(month).dt.to_string("%Y-%m"),
    )
    rejected = rows.filter(~inside).select(
        pl.lit(source).alias("source"), "line", reason.alias("reason")
    )
    return rows.filter(inside), rejected.cast(REJECTED_SCHEMA)


def _classify(
    billed: pl.DataFrame,
    expected: pl.DataFrame,
    tz: str,
    in_utc: Bill,
    in_terms: Bill | None,
    status: StatusLog,
) -> pl.DataFrame:
    """Learner-month verdicts of invoiced lines against the expected learner-months.

    ``expected`` has the learner-months the log bills (``month``, ``learner_id``,
    ``reason``) in the months compared; ``tz`` is the billing time zone;
    ``in_terms`` the bill under the Terms' definition (None without activity).
    """
    ordered = billed.sort("month", "learner_id", "line").with_columns(
        pl.col("line").first().over("month", "learner_id").alias("_first")
    )
    twice = ordered.filter(pl.col("line") != pl.col("_first")).select(
        "month",
        "learner_id",
        pl.lit("billed_twice").alias("verdict"),
        "source",
        "line",
        pl.format("invoiced again; first on line {}", "_first").alias("explanation"),
    )
    once = ordered.filter(pl.col("line") == pl.col("_first")).drop("_first")
    known = status.events.group_by("learner_id").agg(
        pl.col("changed_at").min().alias("_created")
    )
    utc = in_utc.learner_months.select(
        "month", "learner_id", pl.lit(value=True).alias("_in_utc")
    )
    terms = (
        pl.DataFrame(schema={"month": pl.Date, "learner_id": pl.String})
        if in_terms is None
        else in_terms.learner_months.filter(
            pl.col("reason") == "activity_while_inactive"
        ).select("month", "learner_id")
    ).with_columns(pl.lit(value=True).alias("_in_terms"))
    joined = (
        once.join(expected, on=["month", "learner_id"], how="full", coalesce=True)
        .join(utc, on=["month", "learner_id"], how="left")
        .join(terms, on=["month", "learner_id"], how="left")
        .join(known, on="learner_id", how="left")
    )
    in_utc_flag = pl.col("_in_utc").fill_null(value=False)
    created = pl.col("_created").dt.convert_time_zone(tz)  # shown only
    month = pl.col("month")
    # Months by zoneinfo's rules, as metered (polars' zone data stops DST in 2099).
    created_later = month_index(pl.col("_created"), tz) > (
        month.dt.year() * 12 + month.dt.month() - 1
    )
    reason = pl.col("reason").cast(pl.String)
    verdict = (
        pl.when(pl.col("line").is_null())
        .then(pl.lit("active_not_billed"))
        .when(pl.col("reason").is_null())
        .then(pl.lit("billed_not_active"))
        .otherwise(pl.lit("billed_ok"))
    )
    billed_why = (  # why the log bills the learner-month
        pl.when(reason == "activity_while_inactive")
        .then(pl.lit("activity recorded while inactive (the Terms' definition)"))
        .otherwise(pl.format("Active in the month ({})", reason))
    )
    explanation = (
        pl.when(pl.col("line").is_null() & ~in_utc_flag)
        .then(
            pl.format(
                "{}; the invoice would omit it if months were counted in UTC",
                billed_why,
            )
        )
        .when(pl.col("line").is_null())
        .then(pl.format("{} but not invoiced", billed_why))
        .when(pl.col("reason").is_not_null())
        .then(billed_why)
        .when(pl.col("_created").is_null())
        .then(pl.lit("the learner is not in the status log"))
        .when(pl.col("_in_terms").fill_null(value=False))
        .then(
            pl.lit(
                "not Active in the month, but activity was recorded while inactive: "
                "billed only under the Terms' definition (Is Active or any "
                "Activity; --definition flag_or_activity)"
            )
        )
        .when(in_utc_flag)
        .then(
            pl.lit(
                f"not Active in the month in {tz}; Active in it only if months are "
                "counted in UTC"
            )
        )
        .when(created_later)
        .then(
            pl.format(
                "the learner was created later, on {}",
                created.dt.to_string("%Y-%m-%dT%H:%M:%S%:z"),
            )
        )
        .otherwise(pl.lit("not Active at any time in the month"))
    )
    classified = joined.select(
        "month",
        "learner_id",
        verdict.alias("verdict"),
        "reason",
        "source",
        "line",
        explanation.alias("explanation"),
    )
    return (
        pl.concat([classified, twice], how="diagonal")
        .with_columns(pl.col("verdict").cast(VerdictEnum))
        .select(
            "month", "learner_id", "verdict", "reason", "source", "line", "explanation"
        )
        .sort("month", "learner_id", "line", nulls_last=True)
    )


def _named(learners: pl.DataFrame, verdict: str) -> dict[date, str]:
    """Per month, the first learner ids of one verdict, e.g. ``"L1, L2 and 3 more"``."""
    rows = (
        learners.filter(pl.col("verdict") == verdict)
        .group_by("month")
        .agg(pl.col("learner_id").unique(maintain_order=True))
        .iter_rows()
    )
    named = {}
    for month, ids in rows:
        # Control characters (a newline in an id) shown escaped: one finding, one line.
        printable = [
            "".join(c if c.isprintable() else repr(c)[1:-1] for c in i) for i in ids
        ]
        shown = ", ".join(printable[:SHOWN_LEARNERS])
        more = len(ids) - SHOWN_LEARNERS
        named[month] = shown + (f" and {more} more" if more > 0 else "")
    return named


def _findings(
    row: dict[str, object], plan: Plan, timezone: str, names: dict[str, dict[date, str]]
) -> list[str]:
    """The differences of one month of `Reconciliation.months`, in words."""
    month = row["month"]
    cur = plan.currency
    expected = row["expected_learners"]
    invoiced = row["invoiced_learners"]
    if invoiced is None:
        return [
            f"not on the invoice; the log gives {expected} billable learner(s) "
            f"({cur} {row['expected_amount']})"
        ]
    assert isinstance(month, date)
    assert isinstance(invoiced, int)
    notes = []
    if row["learner_difference"]:
        notes.append(
            f"invoiced {invoiced} learner(s); the log gives {expected} "
            f"({row['learner_difference']:+d})"
        )
        if row["utc_learners"] == invoiced and timezone != "UTC":
            notes.append(
                f"{invoiced} is the month's count with months in UTC, not in "
                f"{timezone}: the invoice may count months in the wrong time zone"
            )
        terms = row["terms_learners"]
        if terms == invoiced and terms != expected:
            notes.append(
                f"{invoiced} is the month's count under the Terms' definition (Is "
                "Active, or any activity recorded in the month while inactive): the "
                "invoice counts learners with activity while inactive "
                "(--definition flag_or_activity)"
            )
    words = {
        "billed_not_active": "billed but not Active in the month",
        "active_not_billed": "Active in the month but not invoiced",
        "billed_twice": "extra invoice line(s) for a learner already invoiced",
    }
    for verdict, text in words.items():
        if row[verdict]:
            notes.append(f"{row[verdict]} {text}: {names[verdict][month]}")
    vendor = row["vendor_report_learners"]
    if vendor is not None and vendor != invoiced:
        notes.append(
            f"the vendor's status report lists {vendor} billable learner(s); the "
            f"invoice charges {invoiced}"
        )
    amount, planned = row["invoiced_amount"], row["plan_amount_for_invoiced"]
    if amount is not None and amount != planned:
        assert isinstance(amount, Decimal)
        assert isinstance(planned, Decimal)
        elearning = row.get("expected_elearning_learners")
        assert elearning is None or isinstance(elearning, int)
        notes.append(_amount_note(amount, planned, invoiced, month, plan, elearning))
    return notes


def _price_text(price: Decimal) -> str:
    """A price with at least two decimals: ``5`` -> ``"5.00"``, ``7.125`` as is."""
    exponent = price.as_tuple().exponent
    return str(price) if isinstance(exponent, int) and exponent < -2 else f"{price:.2f}"


def _tier_name(index: int, plan: Plan) -> str:
    """The plan's tier before its changes (0), or that of its ``index``-th change."""
    if index == 0:
        return "the plan's tier as stated (before its tier changes)"
    change = plan.tier_changes[index - 1]
    return (
        f"the tier change effective {change.effective} "
        f"(from {change.first_month:%Y-%m})"
    )


def _other_tier_note(
    amount: Decimal, invoiced: int, month: date, plan: Plan, elearning: int | None
) -> str:
    """Which other tier of the plan the amount is the price of, if one is."""
    in_force = plan.changes_in_force(month)
    for index in range(len(plan.tier_changes) + 1):
        if index == in_force:
            continue
        start = plan.tier_changes[index - 1].first_month if index else None
        try:
            price = month_total(
                invoiced, plan, month=start, elearning_learners=elearning
            )
        except PricingError:  # that tier prices no e-Learning overage
            continue
        if price == amount:
            return (
                f": it is the price under {_tier_name(index, plan)}, not under "
                f"{_tier_name(in_force, plan)}, the tier in force in {month:%Y-%m} "
                "(the tier in force on a month's 1st applies to the whole month)"
            )
    return ""


def _amount_note(
    amount: Decimal,
    planned: Decimal,
    invoiced: int,
    month: date,
    plan: Plan,
    elearning: int | None = None,
) -> str:
    """Why a month's amount is not the plan's price for the invoiced count.

    The price, base fee and overage rate are those of the tier in force in
    ``month`` (`Plan.in_force`); an amount that is the price under another tier
    of the plan is named so (domain-research 6.4, rule 23). ``elearning`` is
    the month's expected e-Learning Active Learners (None without that meter):
    their overage is part of the price, and an amount without it is named so.
    """
    cur = plan.currency
    note = (
        f"amount {cur} {amount} is not the plan's price for {invoiced} "
        f"learner(s), {cur} {planned}"
    )
    if plan.tax_rate and amount == round_money(planned * (1 + plan.tax_rate)):
        return note + f": it is that price with {plan.tax_name} added"
    other_tier = _other_tier_note(amount, invoiced, month, plan, elearning)
    if other_tier:
        return note + other_tier
    terms = plan.in_force(month)
    e_over = 0 if elearning is None else elearning_overage_learners(elearning, terms)
    if e_over and amount == month_total(invoiced, terms):
        return note + (
            f": it leaves out the e-Learning overage ({e_over} e-Learning Active "
            f"Learner(s) above the {terms.included_elearning_learners} included, "
            f"{cur} {planned - amount})"
        )
    over = overage_learners(invoiced, terms)
    # Everything but the LRM overage: the base fee and any e-Learning overage.
    base = month_total(terms.included_learners, terms, elearning_learners=elearning)
    if over and terms.overage_price is not None and amount > base:
        rate = ((amount - base) / over).quantize(CENT)
        if round_money(rate * over) + base == amount:
            return note + (
                f": the {over} overage learner(s) are priced at {rate} each; "
                f"the plan's rate is {_price_text(terms.overage_price)}"
            )
    return note


def _month_table(
    expected: Bill,
    in_utc: Bill,
    in_terms: Bill | None,
    invoice: InvoiceFile,
    invoice_rows: pl.DataFrame,
    vendor_rows: pl.DataFrame | None,
    learners: pl.DataFrame | None,
) -> pl.DataFrame:
    """`Reconciliation.months`: counts, amounts and findings per month."""
    plan = expected.plan
    elearning = expected.elearning is not None
    e_columns = ["expected_elearning_learners"] if elearning else []
    table = expected.monthly.select(
        "month",
        pl.col("billable_learners").alias("expected_learners"),
        *(pl.col("elearning_learners").alias(name) for name in e_columns),
        pl.col("total").alias("expected_amount"),
    ).join(
        in_utc.monthly.select(
            "month", pl.col("billable_learners").alias("utc_learners")
        ),
        on="month",
        how="left",
    )
    table = (
        table.with_columns(pl.lit(None, pl.UInt32).alias("terms_learners"))
        if in_terms is None
        else table.join(
            in_terms.monthly.select(
                "month", pl.col("billable_learners").alias("terms_learners")
            ),
            on="month",
            how="left",
        )
    )
    if invoice.form == "months":
        invoiced = invoice_rows.select(
            "month",
            pl.col("billable_learners").alias("invoiced_learners"),
            pl.col("amount").alias("invoiced_amount"),
        )
        table = table.join(invoiced, on="month", how="left")
    else:
        counts = invoice_rows.group_by("month").agg(pl.len().alias("invoiced_learners"))
        table = table.join(counts, on="month", how="left").with_columns(
            pl.col("invoiced_learners").fill_null(0),
            pl.lit(None, MONEY).alias("invoiced_amount"),
        )
    if vendor_rows is None:
        table = table.with_columns(
            pl.lit(None, pl.UInt32).alias("vendor_report_learners")
        )
    else:
        listed = vendor_rows.group_by("billing_month").agg(
            pl.col("billable_in_month").sum().alias("vendor_report_learners")
        )
        table = table.join(
            listed, left_on="month", right_on="billing_month", how="left"
        )
    verdicts = ("billed_not_active", "active_not_billed", "billed_twice")
    if learners is None:
        table = table.with_columns(pl.lit(None, pl.UInt32).alias(v) for v in verdicts)
    else:
        counts = learners.group_by("month").agg(
            (pl.col("verdict") == v).sum().alias(v) for v in verdicts
        )
        table = table.join(counts, on="month", how="left").with_columns(
            pl.col(v).fill_null(0) for v in verdicts
        )
    # Each month at the tier in force in it (`Plan.in_force`, rule 23), with
    # the e-Learning overage of the expected e-Learning count (the invoice
    # states no e-Learning count).
    e_counts = (
        table["expected_elearning_learners"].to_list()
        if elearning
        else [None] * table.height
    )
    planned = [
        None if n is None else month_total(n, plan, month=m, elearning_learners=e)
        for (m, n), e in zip(
            table.select("month", "invoiced_learners").iter_rows(),
            e_counts,
            strict=True,
        )
    ]
    table = table.with_columns(
        pl.Series("plan_amount_for_invoiced", planned, dtype=MONEY),
        (
            pl.col("invoiced_learners").cast(pl.Int64) - pl.col("expected_learners")
        ).alias("learner_difference"),
    ).with_columns(
        (
            pl.coalesce("invoiced_amount", "plan_amount_for_invoiced", pl.lit(0, MONEY))
            - pl.col("expected_amount")
        ).alias("amount_difference")
    )
    names = {v: _named(learners, v) if learners is not None else {} for v in verdicts}
    findings = [
        _findings(row, plan, expected.timezone, names)
        for row in table.iter_rows(named=True)
    ]
    schema = MONTHS_ELEARNING_SCHEMA if elearning else MONTHS_SCHEMA
    verdict = [
        "ok" if not notes else "not_invoiced" if invoiced is None else "differs"
        for notes, invoiced in zip(findings, table["invoiced_learners"], strict=True)
    ]
    return (
        table.with_columns(
            pl.Series("verdict", verdict),
            pl.Series("findings", ["\n".join(notes) for notes in findings]),
        )
        .select(list(schema))
        .cast(schema)
    )


def reconcile(
    status: StatusLog,
    invoice: InvoiceFile,
    *,
    plan: Plan,
    timezone: str = DEFAULT_TIMEZONE,
    activity: ActivityLog | None = None,
    vendor_report: VendorReport | None = None,
    first_month: date | None = None,
    last_month: date | None = None,
    policy: Policy | None = None,
    elearning: ElearningLog | None = None,
) -> Reconciliation:
    """Check an invoice (and the vendor's status report) against the logs.

    Parameters
    ----------
    status : StatusLog
        The provider's own record of status changes.
    invoice : InvoiceFile
        As returned by `read_invoice`; per month or per learner.
    plan : Plan
        The plan the invoice should follow; prices the expected counts.
    timezone : str
        IANA billing time zone; months are calendar months there.
    activity : ActivityLog or None
        The provider's activity log: activity while inactive is listed, and the
        savings finder needs it to find months with no activity.
    vendor_report : VendorReport or None
        The vendor's learner status report; compared learner by learner when the
        invoice is per month, and its billable count with the invoice's.
    first_month, last_month : date or None
        First days of the first and last months checked; default the first and
        last months of the invoice (and status report). Rows outside are listed
        as rejected.
    policy : Policy or None
        Rule switches; default `Policy()`.
    elearning : ElearningLog or None
        The provider's e-Learning enrolment log: the expected bill then has the
        e-Learning meter too (`meter_sim.billing.bill`); the month table gets
        ``expected_elearning_learners``, and each month's price (expected, and
        of the invoiced count) includes the e-Learning overage of the expected
        e-Learning count.

    Returns
    -------
    Reconciliation
        Month verdicts, learner-month verdicts, activity while inactive, savings,
        rejected rows and the row accounting of every input.

    Raises
    ------
    LogFormatError
        If the period cannot be known (no invoice rows and no period given), it is
        reversed, or the time zone is unknown.

    References
    ----------
    .. [1] DESIGN.md section 2 (``reconcile``) and section 4 (invoice format).
    .. [2] ``reference/domain-research.md`` section 6.5, invariants 26-30.
    """
    seen = invoice.rows["month"]
    if seen.is_empty() and vendor_report is not None:
        seen = vendor_report.rows["billing_month"]
    if first_month is None or last_month is None:
        if seen.is_empty():
            msg = (
                f"{invoice.source}: the invoice has no rows; give --from and --through"
            )
            raise LogFormatError(msg, source=invoice.source)
        lowest, highest = seen.min(), seen.max()
        assert isinstance(lowest, date)
        assert isinstance(highest, date)
        first_month = first_month or lowest
        last_month = last_month or highest
    expected = bill(
        status,
        activity,
        plan=plan,
        timezone=timezone,
        first_month=first_month,
        last_month=last_month,
        policy=policy,
        elearning=elearning,
    )
    terms_reading = (policy or Policy()).definition == "flag_or_activity"
    in_utc = (
        expected
        if timezone == "UTC"
        else bill(  # the same reading of the rules, months in UTC
            status,
            activity if terms_reading else None,
            plan=plan,
            timezone="UTC",
            first_month=first_month,
            last_month=last_month,
            policy=policy,
        )
    )
    in_terms = None
    if activity is not None:  # the Terms' reading, to explain an invoice that uses it
        rules = policy or Policy()
        in_terms = (
            expected
            if rules.definition == "flag_or_activity"
            else bill(
                status,
                activity,
                plan=plan,
                timezone=timezone,
                first_month=first_month,
                last_month=last_month,
                policy=dataclasses.replace(rules, definition="flag_or_activity"),
            )
        )
    invoice_rows, invoice_out = _outside(
        invoice.rows, "month", first_month, last_month, invoice.source
    )
    rejected = [expected.rejected, invoice.rejected, invoice_out]
    inputs = [
        *expected.inputs.iter_rows(),
        _accounting(
            f"{invoice.source} (invoice)",
            invoice.rows_read,
            [invoice.rejected, invoice_out],
        ),
    ]
    vendor_rows = None
    if vendor_report is not None:
        vendor_rows, vendor_out = _outside(
            vendor_report.rows,
            "billing_month",
            first_month,
            last_month,
            vendor_report.source,
        )
        rejected += [vendor_report.rejected, vendor_out]
        inputs.append(
            _accounting(
                f"{vendor_report.source} (status report)",
                vendor_report.rows_read,
                [vendor_report.rejected, vendor_out],
            )
        )
    billed = None
    expected_months = expected.learner_months
    if invoice.form == "learners":
        billed = invoice_rows.select(
            "month", "learner_id", "line", pl.lit(invoice.source).alias("source")
        )
    elif vendor_rows is not None and vendor_report is not None:
        # Learner by learner only in the months the status report covers.
        covered = vendor_rows["billing_month"].unique().implode()
        expected_months = expected.learner_months.filter(pl.col("month").is_in(covered))
        billed = vendor_rows.filter(pl.col("billable_in_month")).select(
            pl.col("billing_month").alias("month"),
            "learner_id",
            "line",
            pl.lit(vendor_report.source).alias("source"),
        )
    learners = (
        None
        if billed is None
        else _classify(
            billed, expected_months, expected.timezone, in_utc, in_terms, status
        )
    )
    table = _month_table(
        expected, in_utc, in_terms, invoice, invoice_rows, vendor_rows, learners
    )
    names = None if vendor_rows is None else vendor_rows
    savings = find_savings(
        status_report(expected, status), expected.monthly, plan, names=names
    )
    return Reconciliation(
        expected=expected,
        months=table,
        learner_months=learners if learners is not None else LEARNER_MONTHS.clear(),
        learner_level=learners is not None,
        activity_while_inactive=_while_inactive(expected),
        savings=savings,
        rejected=pl.concat(rejected).cast(REJECTED_SCHEMA).sort("source", "line"),
        inputs=pl.DataFrame(
            inputs,
            schema=["input", "rows_read", "rows_used", "rows_rejected"],
            orient="row",
        ),
    )


def _while_inactive(expected: Bill) -> pl.DataFrame:
    """Activities on an inactive learner: they contradict the rules."""
    columns = ["line", "learner_id", "occurred_at", "activity", "channel", "outcome"]
    if expected.activity is None:
        schema = pl.Schema(
            {
                "line": pl.Int64(),
                "learner_id": pl.String(),
                "occurred_at": pl.Datetime("us", expected.timezone),
                "activity": pl.String(),
                "channel": pl.String(),
                "outcome": pl.String(),
                "status_line": pl.Int64(),
            }
        )
        return pl.DataFrame(schema=schema)
    inactive = [str(Outcome.REJECTED_INACTIVE), str(Outcome.REJECTED_PORTAL_CLOSED)]
    return (
        expected.activity.filter(pl.col("outcome").cast(pl.String).is_in(inactive))
        .with_columns(
            pl.col("occurred_at").dt.convert_time_zone(expected.timezone),
            pl.col("outcome").cast(pl.String),
        )
        .select(*columns, "status_line")
        .sort("line")
    )
