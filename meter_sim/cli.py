"""The ``meter-sim`` command: bill a status log, run a scenario (DESIGN.md section 4).

Errors in the input print one clear message naming the file, line and field, and
exit with status 2; never a traceback.
"""

from __future__ import annotations

import json
import os
import re
import sys
from dataclasses import replace
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import polars as pl
import typer
from pydantic import ValidationError
from rich.console import Console
from rich.progress import Progress
from rich.table import Table
from rich.text import Text

from meter_sim._typing import (  # typer reads them at run time
    Definition,
    OutputFormat,
)
from meter_sim.billing import DEFAULT_TIMEZONE, bill, check_timezone, run_scenario
from meter_sim.elearning import read_elearning_log
from meter_sim.exceptions import LogFormatError, MeterSimError, PricingError
from meter_sim.lifecycle import Policy
from meter_sim.logs import (
    REJECTED_SCHEMA,
    YEARS,
    prepare_status_log,
    read_activity_log,
    read_status_log,
)
from meter_sim.pricing import Plan, annual_costs, compare_plans, invoice
from meter_sim.scenario import PLANS_FOLDER, load_plan, load_price_book, load_scenario
from meter_sim.strategies import STRATEGIES

if TYPE_CHECKING:
    from collections.abc import Callable

    from meter_sim.billing import Bill
    from meter_sim.datasets.oulad import OuladComparison, OuladData
    from meter_sim.elearning import ElearningLog
    from meter_sim.logs import ActivityLog, StatusLog
    from meter_sim.pricing import InvoiceLineKind
    from meter_sim.reconcile import Reconciliation
    from meter_sim.scenario import Scenario
    from meter_sim.simulate import Forecast
    from meter_sim.strategies import StrategyRun

app = typer.Typer(
    name="meter-sim",
    help="Model, forecast and audit per-Active-Learner subscription billing.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
console = Console()
errors = Console(stderr=True)

MONTH_COLUMNS = (
    "month",
    "billable_learners",
    "included_learners",
    "overage_learners",
    "base_fee",
    "overage_amount",
    "total",
)

ELEARNING_COLUMNS = (
    "elearning_learners",
    "included_elearning_learners",
    "elearning_overage_learners",
    "elearning_overage_amount",
)
"""The monthly bill's e-Learning meter columns, shown when a bill has them."""


def _month_columns(monthly: pl.DataFrame, *, every: bool = True) -> list[str]:
    """The monthly bill's columns: the LRM meter's, then e-Learning's, then total.

    With ``every`` False only the e-Learning overage amount is added (the
    table format shows the e-Learning usage in a table of its own).
    """
    extra = [c for c in ELEARNING_COLUMNS if c in monthly.columns]
    if not every:
        extra = extra[-1:]
    return [*MONTH_COLUMNS[:-1], *extra, MONTH_COLUMNS[-1]]


NaiveTimezoneOption = Annotated[
    str | None,
    typer.Option("--naive-timezone", help="Zone of times written without offset."),
]
FromOption = Annotated[str | None, typer.Option("--from", help="First month, YYYY-MM.")]
ThroughOption = Annotated[
    str | None, typer.Option("--through", help="Last month, YYYY-MM.")
]
TimezoneOption = Annotated[
    str, typer.Option("--timezone", help="Billing time zone (IANA).")
]
ActivityOption = Annotated[
    Path | None, typer.Option("--activity", help="Activity log to check.")
]
DefinitionOption = Annotated[
    Definition,
    typer.Option(
        "--definition",
        help="Who the meter counts: flag (Is Active was Yes at some instant of the "
        "month, the help article) or flag_or_activity (also a month with activity "
        "recorded while inactive, the Terms; needs --activity).",
    ),
]
ElearningOption = Annotated[
    Path | None,
    typer.Option(
        "--elearning",
        help="e-Learning enrolment log (learner_id, enrolment_id, changed_at, "
        "enabled): bill the e-Learning meter too.",
    ),
]
PlanOption = Annotated[
    Path | None, typer.Option("--plan", help="Plan YAML (a price book entry).")
]
IncludedOption = Annotated[
    int | None, typer.Option("--included", min=0, help="Included learners/month.")
]
OveragePriceOption = Annotated[
    str | None,
    typer.Option("--overage-price", help="Price per overage learner-month."),
]


@app.callback()
def main() -> None:
    """Model, forecast and audit per-Active-Learner subscription billing."""


def run() -> None:
    """The ``meter-sim`` command: `app`, with standard output's failures made clear.

    A closed pipe (``meter-sim ... | head``) ends the command quietly, exit 0; any
    other failure to write standard output (a full disk: ``> /dev/full``) is one
    message on standard error and exit status 2, as for bad input (DESIGN.md
    section 5, CLI contract). The rest of the output is then discarded, so
    Python does not fail again when it exits.
    """
    try:
        try:
            app(prog_name="meter-sim")
        finally:
            sys.stdout.flush()
    except BrokenPipeError:
        _discard_stdout()
        sys.exit(0)
    except OSError as exc:
        _discard_stdout()
        reason = exc.strerror or str(exc)
        errors.print(
            Text("error: ", style="bold red")
            + _safe(f"cannot write to standard output: {reason}")
        )
        sys.exit(2)


def _discard_stdout() -> None:
    """Point standard output at the null device (what is left is not written)."""
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, sys.stdout.fileno())
    os.close(null)


def _month(value: str | None, option: str) -> date | None:
    if value is None:
        return None
    if re.fullmatch(r"\d{4}-\d{2}", value, flags=re.ASCII):
        year, month = int(value[:4]), int(value[5:])
        if YEARS[0] <= year <= YEARS[1] and 1 <= month <= 12:
            return date(year, month, 1)
    msg = f"expected a month as YYYY-MM in {YEARS[0]} to {YEARS[1]}, got {value!r}"
    raise typer.BadParameter(msg, param_hint=f"'{option}'")


def _decimal(value: str | None, option: str = "--overage-price") -> Decimal | None:
    if value is None:
        return None
    if not re.fullmatch(r"\d+(\.\d+)?", value, flags=re.ASCII):
        msg = f"expected a non-negative decimal amount like 7.50, got {value!r}"
        raise typer.BadParameter(msg, param_hint=f"'{option}'")
    return Decimal(value)


def _safe(text: str) -> Text:
    """Text for the terminal: no rich markup, control characters made visible."""
    shown = "".join(c if c.isprintable() or c == "\n" else repr(c)[1:-1] for c in text)
    return Text(shown)


def _as_text(frame: pl.DataFrame) -> pl.DataFrame:
    """Months (Date columns) as ``YYYY-MM`` and money as strings, for output."""
    return frame.with_columns(
        pl.col(pl.Date).dt.to_string("%Y-%m"),
        pl.col(pl.Decimal).cast(pl.String),
        pl.col(pl.Enum).cast(pl.String),
    )


def _print_json(document: dict[str, Any]) -> None:
    """Print ``document`` as one line of JSON.

    A DataFrame anywhere in it is written by polars as an array of row objects
    (much faster than Python objects for listings of millions of rejected rows);
    the rest by `json.dumps`. The parts are joined as they are written, with no
    placeholder that a learner id could spell.
    """
    sys.stdout.write(_json_text(document) + "\n")


def _json_text(value: object) -> str:
    """JSON text of ``value``: mappings and lists walked, frames by polars."""
    if isinstance(value, pl.DataFrame):
        return value.write_json()
    if isinstance(value, dict):
        items = (f"{json.dumps(str(k))}: {_json_text(v)}" for k, v in value.items())
        return "{" + ", ".join(items) + "}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_json_text(v) for v in value) + "]"
    return json.dumps(value)


def _json_document(
    result: Bill,
    *,
    with_learners: bool,
    rejected_file: Path | None = None,
    with_elearning: bool = True,
) -> dict[str, Any]:
    document: dict[str, Any] = {
        "timezone": result.timezone,
        "currency": result.plan.currency,
        "months": _as_text(
            result.monthly.select(_month_columns(result.monthly))
        ).to_dicts(),
    }
    if with_learners:
        document["learner_months"] = _as_text(result.learner_months).to_dicts()
    if result.elearning is not None and with_elearning:
        months = result.elearning.learner_months
        document["elearning_learner_months"] = _as_text(months).to_dicts()
    if rejected_file is None:
        document["rejected"] = result.rejected
    else:
        document["rejected_file"] = str(rejected_file)
    document["invoice"] = _invoice_document(result)
    return document


SHORT_TEXT = 12
"""Text columns at most this wide are never wrapped (verdicts, ids). [characters]"""


def _print_table(frame: pl.DataFrame, title: str, *, to: Console = console) -> None:
    text = _as_text(frame)
    table = Table(title=_safe(title), title_justify="left")
    for name, dtype in frame.schema.items():
        widest = text.select(pl.col(name).cast(pl.String).str.len_chars().max()).item()
        numeric = dtype.is_numeric() or name == "month"
        short = numeric or (widest or 0) <= SHORT_TEXT
        header = name.replace("_", " ")
        table.add_column(
            header.replace(" ", "\n") if numeric else header,
            justify="right" if dtype.is_numeric() else "left",
            no_wrap=short,
            min_width=(widest or 0) if short else SHORT_TEXT,
            overflow="fold",
        )
    for row in text.iter_rows():
        table.add_row(*(_safe("" if v is None else str(v)) for v in row))
    to.print(table)


def _print_bill(
    result: Bill,
    output: OutputFormat,
    *,
    with_learners: bool,
    title: str,
    csv_learner_months: bool = False,
    rejected_file: Path | None = None,
    with_elearning: bool = True,
) -> None:
    """Print a bill; in csv and json, the row accounting goes to standard error.

    The csv format prints the monthly bill, or with ``csv_learner_months`` the
    learner-months. With ``rejected_file`` the rejected rows are in that file
    (``result.rejected`` is not listed).
    """
    report = errors
    if rejected_file is not None:
        result = replace(result, rejected=result.rejected.clear())
    if output == "json":
        document = _json_document(
            result,
            with_learners=with_learners,
            rejected_file=rejected_file,
            with_elearning=with_elearning,
        )
        _print_json(document)
    elif output == "csv":
        frame = result.learner_months if csv_learner_months else result.monthly
        sys.stdout.write(_as_text(frame).write_csv())
        if not result.rejected.is_empty():
            _print_table(
                result.rejected, f"Rejected rows ({result.rejected.height})", to=errors
            )
    else:
        report = console
        money = result.monthly.select(pl.col("total").sum()).item()
        plan = result.plan
        _print_table(
            result.monthly.select(_month_columns(result.monthly, every=False)),
            f"{title}: {plan.name}, {plan.currency}, months in {result.timezone}",
        )
        if result.elearning is not None:
            _print_table(
                result.monthly.select("month", *ELEARNING_COLUMNS[:-1]),
                "e-Learning meter (its overage amount is in the bill above)",
            )
        console.print(_safe(f"Total for the period: {plan.currency} {money}"))
        _print_invoice_totals(result)
        if with_learners:
            _print_table(result.learner_months, "Billable learner-months")
        if result.elearning is not None and with_elearning:
            _print_table(
                result.elearning.learner_months, "Billable e-Learning learner-months"
            )
        if not result.rejected.is_empty():
            _print_table(result.rejected, f"Rejected rows ({result.rejected.height})")
    _print_inputs(result.inputs, None, to=report)
    _print_still_open(result, report)


def _print_still_open(result: Bill, report: Console) -> None:
    """Say how many learners are still Active (or Enabled) at the end of the log."""
    still = result.still_active
    if still:
        report.print(
            f"{still} learner(s) still active at the end of the log are billed "
            f"through {result.last_month:%Y-%m} only; bill later months with "
            "--through YYYY-MM (or a scenario's period)."
        )
    enabled = 0 if result.elearning is None else result.elearning.still_enabled
    if enabled:
        report.print(
            f"{enabled} learner(s) with an e-Learning enrolment still Enabled at the "
            f"end of the log are billed through {result.last_month:%Y-%m} only."
        )


INVOICE_EXTRAS: tuple[tuple[InvoiceLineKind, str], ...] = (
    ("one_off", "one-off fees"),
    ("direct_debit_surcharge", "direct-debit surcharge"),
    ("minimum_spend_true_up", "minimum-spend true-up"),
)
"""Invoice line kinds outside the monthly bill's ``total``, as the table names them."""


def _print_invoice_totals(result: Bill) -> None:
    """Invoice lines the monthly bill leaves out, and the tax, when there are any.

    Those lines are one-off fees, the direct-debit surcharge and the
    minimum-spend true-up (`INVOICE_EXTRAS`).
    """
    bill, plan = result.invoice, result.plan
    extras = [(label, bill.amount(kind)) for kind, label in INVOICE_EXTRAS]
    parts = [f"{label}: {plan.currency} {amount}" for label, amount in extras if amount]
    if not (parts or plan.tax_rate):
        return
    parts.append(f"ex {plan.tax_name}: {plan.currency} {bill.total_ex_tax}")
    if plan.tax_rate:
        parts += [
            f"{plan.tax_name}: {plan.currency} {bill.tax}",
            f"inc {plan.tax_name}: {plan.currency} {bill.total_inc_tax}",
        ]
    console.print(_safe("Invoice: " + "; ".join(parts)))


def _invoice_document(result: Bill) -> dict[str, Any]:
    bill = result.invoice
    lines = [
        {
            "kind": line.kind,
            "period_start": line.period_start.isoformat(),
            "period_end": line.period_end.isoformat(),
            "quantity": line.quantity,
            "unit_price": str(line.unit_price),
            "amount": str(line.amount),
            "description": line.description,
            "invoice_date": line.invoice_date.isoformat(),
        }
        for line in bill.lines
    ]
    return {
        "lines": lines,
        "total_ex_tax": str(bill.total_ex_tax),
        "tax": str(bill.tax),
        "total_inc_tax": str(bill.total_inc_tax),
    }


def _fail(exc: MeterSimError) -> typer.Exit:
    errors.print(Text("error: ", style="bold red") + _safe(str(exc)), soft_wrap=True)
    return typer.Exit(code=2)


def _policy(definition: Definition, activity: Path | None) -> Policy:
    """The rule switches of ``--definition``; the Terms' reading needs activity."""
    if definition == "flag_or_activity" and activity is None:
        msg = (
            "--definition flag_or_activity bills activity recorded while inactive; "
            "give the activity log with --activity"
        )
        raise _fail(LogFormatError(msg, field="definition"))
    return Policy(definition=definition)


@app.command("bill")
def bill_command(
    status_log: Annotated[Path, typer.Argument(help="Status log (.csv or .parquet).")],
    activity: ActivityOption = None,
    plan: PlanOption = None,
    included: IncludedOption = None,
    overage_price: OveragePriceOption = None,
    timezone: TimezoneOption = DEFAULT_TIMEZONE,
    naive_timezone: NaiveTimezoneOption = None,
    from_month: FromOption = None,
    through_month: ThroughOption = None,
    definition: DefinitionOption = "flag",
    elearning: ElearningOption = None,
    elearning_included: Annotated[
        int | None,
        typer.Option(
            "--elearning-included", min=0, help="Included e-Learning learners/month."
        ),
    ] = None,
    elearning_overage_price: Annotated[
        str | None,
        typer.Option(
            "--elearning-overage-price",
            help="Price per e-Learning overage learner-month.",
        ),
    ] = None,
    elearning_months_file: Annotated[
        Path | None,
        typer.Option(
            "--elearning-learner-months",
            help="Write the e-Learning learner-months to this .csv/.parquet.",
        ),
    ] = None,
    learner_months_file: Annotated[
        Path | None,
        typer.Option(
            "--learner-months",
            help="Write learner-months to this .csv/.parquet instead of printing them.",
        ),
    ] = None,
    output: Annotated[
        OutputFormat, typer.Option("--format", help="csv prints the monthly bill.")
    ] = "table",
    streaming: Annotated[
        bool,
        typer.Option(
            "--streaming",
            help="Bill a typed Parquet log larger than memory, a range of learners "
            "at a time (needs --learner-months FILE.parquet).",
        ),
    ] = False,
    rejected_file: Annotated[
        Path | None,
        typer.Option(
            "--rejected",
            help="Write the rejected rows to this .csv/.parquet instead of listing "
            "them (with --streaming, memory then stays bounded however many).",
        ),
    ] = None,
) -> None:
    """Bill a status log: monthly usage and invoice, learner-months, rejections."""
    first, last = _month(from_month, "--from"), _month(through_month, "--through")
    policy = _policy(definition, activity)
    inputs = (status_log, activity, plan, elearning)
    _check_bill_outputs(
        learner_months_file, elearning_months_file, rejected_file, inputs
    )
    if elearning is None and {elearning_included, elearning_overage_price} != {None}:
        msg = "--elearning-included/-overage-price price an e-Learning log: --elearning"
        raise _fail(LogFormatError(msg, field="elearning-included"))
    if rejected_file is not None:
        _check_rejected_file(rejected_file, learner_months_file, *inputs)
    if streaming:
        _bill_streaming(
            status_log,
            learner_months_file,
            plan=_streaming_plan(plan, included, overage_price, activity, elearning),
            timezone=timezone,
            naive_timezone=naive_timezone,
            first=first,
            last=last,
            output=output,
            rejected_file=rejected_file,
        )
        return
    try:
        chosen, status, activity_log = _plan_and_logs(
            status_log,
            activity,
            timezone=timezone,
            naive_timezone=naive_timezone,
            plan=plan,
            included=included,
            overage_price=overage_price,
        )
        chosen, elearning_log = _elearning_inputs(
            elearning,
            chosen,
            plan,
            (elearning_included, elearning_overage_price),
            naive_timezone,
        )
        result = bill(
            status,
            activity_log,
            plan=chosen,
            timezone=timezone,
            first_month=first,
            last_month=last,
            policy=policy,
            elearning=elearning_log,
        )
        if elearning_months_file is not None:
            _write_elearning_months(result, elearning_months_file)
        if learner_months_file is not None:
            result.write_learner_months(learner_months_file)
            errors.print(
                _safe(
                    f"{result.learner_month_count} learner-months written to "
                    f"{learner_months_file}"
                )
            )
        if rejected_file is not None:
            from meter_sim.reports import write_report

            write_report(result.rejected, rejected_file)
            _say_rejected_written(result, rejected_file)
    except MeterSimError as exc:
        raise _fail(exc) from None
    _print_bill(
        result,
        output,
        with_learners=learner_months_file is None,
        title="Monthly bill",
        rejected_file=rejected_file,
        with_elearning=elearning_months_file is None,
    )


def _check_rejected_file(
    rejected_file: Path, learner_months_file: Path | None, *inputs: Path | None
) -> None:
    """Refuse a bad ``--rejected`` before any work is done."""
    from meter_sim.reports import report_form

    try:
        report_form(rejected_file)
        if learner_months_file is not None and _same_file(
            rejected_file, learner_months_file
        ):
            msg = f"{rejected_file}: --rejected and --learner-months name the same file"
            raise LogFormatError(msg, source=str(rejected_file), field="rejected")
        _refuse_overwrite(rejected_file, "--rejected", *inputs)
        if not rejected_file.parent.is_dir():
            msg = f"{rejected_file}: --rejected: no folder {rejected_file.parent}"
            raise LogFormatError(msg, source=str(rejected_file), field="rejected")
    except MeterSimError as exc:
        raise _fail(exc) from None


def _say_rejected_written(result: Bill, rejected_file: Path) -> None:
    count = int(result.inputs["rows_rejected"].sum())
    rows = "row" if count == 1 else "rows"
    errors.print(_safe(f"{count} rejected {rows} written to {rejected_file}"))


def _streaming_plan(
    plan: Path | None,
    included: int | None,
    overage_price: str | None,
    activity: Path | None,
    elearning: Path | None,
) -> Plan:
    """The plan of a ``bill --streaming`` run (a status log alone)."""
    try:
        for option, given in (("activity", activity), ("elearning", elearning)):
            if given is not None:
                msg = f"--streaming bills a status log alone; drop --{option}"
                raise LogFormatError(msg, field=option)
        return _choose_plan(plan, included, _decimal(overage_price))
    except MeterSimError as exc:
        raise _fail(exc) from None


def _bill_streaming(
    status_log: Path,
    learner_months_file: Path | None,
    *,
    plan: Plan,
    timezone: str,
    naive_timezone: str | None,
    first: date | None,
    last: date | None,
    output: OutputFormat,
    rejected_file: Path | None,
) -> None:
    """``bill --streaming``: bill a range of learners at a time, then print.

    ``naive_timezone`` is not needed (the fast path's times carry a zone) but is
    checked, not ignored.
    """
    from meter_sim.billing import bill_streaming

    try:
        check_timezone(timezone, field="--timezone")
        if naive_timezone is not None:
            check_timezone(naive_timezone, field="--naive-timezone")
        if learner_months_file is None or learner_months_file.suffix != ".parquet":
            msg = (
                "--streaming writes the learner-months: give --learner-months X.parquet"
            )
            raise LogFormatError(msg, field="learner-months")
        result = bill_streaming(
            status_log,
            learner_months_file,
            plan=plan,
            timezone=timezone,
            first_month=first,
            last_month=last,
            rejected_file=rejected_file,
        )
    except MeterSimError as exc:
        raise _fail(exc) from None
    errors.print(
        _safe(
            f"{result.learner_month_count} learner-months written to "
            f"{learner_months_file}"
        )
    )
    if rejected_file is not None:
        _say_rejected_written(result, rejected_file)
    _print_bill(
        result,
        output,
        with_learners=False,
        title="Monthly bill",
        rejected_file=rejected_file,
    )


def _check_bill_outputs(
    learner_months: Path | None,
    elearning_months: Path | None,
    rejected: Path | None,
    inputs: tuple[Path | None, ...],
) -> None:
    """Refuse, before any work, learner-month files that would replace an input.

    ``inputs`` are the status log, activity log, plan and e-Learning log (each
    possibly None), in that order. The e-Learning learner-months may not name
    the file of the learner-months or of the rejected rows either.
    """
    outputs = {
        "--learner-months": learner_months,
        "--elearning-learner-months": elearning_months,
    }
    try:
        for option, out in outputs.items():
            if out is not None:
                _refuse_overwrite(out, option, *inputs)
        others = {"--learner-months": learner_months, "--rejected": rejected}
        for option, other in others.items():
            if (
                elearning_months is not None
                and other is not None
                and _same_file(elearning_months, other)
            ):
                msg = (
                    f"{elearning_months}: --elearning-learner-months and "
                    f"{option} name the same file"
                )
                raise LogFormatError(msg, field="elearning-learner-months")
        if elearning_months is not None and inputs[-1] is None:
            msg = "--elearning-learner-months needs the log: --elearning LOG"
            raise LogFormatError(msg, field="elearning-learner-months")
    except MeterSimError as exc:
        raise _fail(exc) from None


def _write_elearning_months(result: Bill, path: Path) -> None:
    """Write a bill's e-Learning learner-months (``--elearning-learner-months``)."""
    from meter_sim.reports import write_report

    assert result.elearning is not None
    months = result.elearning.learner_months
    write_report(months, path)
    errors.print(_safe(f"{months.height} e-Learning learner-months written to {path}"))


def _elearning_inputs(
    elearning: Path | None,
    chosen: Plan,
    plan: Path | None,
    prices: tuple[int | None, str | None],
    naive_timezone: str | None,
) -> tuple[Plan, ElearningLog | None]:
    """The plan with its e-Learning tier (`_with_elearning_prices`) and the log."""
    chosen = _with_elearning_prices(chosen, plan, *prices)
    return chosen, _read_elearning(elearning, naive_timezone)


def _read_elearning(
    path: Path | None, naive_timezone: str | None
) -> ElearningLog | None:
    """The ``--elearning`` log, read and checked, or None when not given."""
    if path is None:
        return None
    return read_elearning_log(path, naive_timezone=naive_timezone)


def _with_elearning_prices(
    chosen: Plan, plan: Path | None, included: int | None, price: str | None
) -> Plan:
    """``chosen`` with the e-Learning tier of ``--elearning-included/-overage-price``.

    A plan file states its own e-Learning tier (`meter_sim.pricing.Plan`); the
    options go with command-line prices, or alone on a usage-only bill.
    """
    if included is None and price is None:
        return chosen
    if plan is not None:
        msg = (
            "give the e-Learning tier in the plan file (included_elearning_learners, "
            "elearning_overage_price), not with --elearning-included/-overage-price"
        )
        raise LogFormatError(msg, field="elearning-included")
    if included is None or price is None:
        msg = "--elearning-included and --elearning-overage-price go together"
        raise LogFormatError(msg, field="elearning-included")
    if chosen is USAGE_ONLY:
        msg = (
            "--elearning-included/-overage-price go with --included and "
            "--overage-price (or give a plan file)"
        )
        raise LogFormatError(msg, field="elearning-included")
    fields = chosen.model_dump() | {
        "included_elearning_learners": included,
        "elearning_overage_price": _decimal(price, "--elearning-overage-price"),
    }
    try:
        return Plan.model_validate(fields)
    except ValidationError as exc:
        options = {"included_elearning_learners": "--elearning-included"}
        raise _option_error(exc, options, "--elearning-overage-price") from None


def _choose_plan(
    plan: Path | None, included: int | None, price: Decimal | None
) -> Plan:
    if plan is not None:
        if included is not None or price is not None:
            msg = "give either --plan or --included/--overage-price, not both"
            raise LogFormatError(msg, field="plan")
        return load_plan(plan)
    if included is None and price is None:
        return USAGE_ONLY
    if included is None or price is None:
        msg = "--included and --overage-price go together (or give --plan)"
        raise LogFormatError(msg, field="included" if included is None else "price")
    try:
        return Plan(
            name="command-line plan",
            currency="AUD",
            base_fee=Decimal(0),
            included_learners=included,
            overage_price=price,
        )
    except ValidationError as exc:
        options = {"included_learners": "--included"}
        raise _option_error(exc, options, "--overage-price") from None


def _option_error(
    exc: ValidationError, options: dict[str, str], default: str
) -> LogFormatError:
    """The first problem of a plan built from options, naming the option.

    ``options`` maps a plan field to the option it comes from, ``default`` is
    the option of any other field. The bounds are those of a plan file.
    """
    error = exc.errors()[0]
    plan_field = str(error["loc"][0]) if error["loc"] else ""
    option = options.get(plan_field, default)
    got = error.get("input")
    msg = f"`{option}`: the plan's {plan_field} {error['msg'].lower()}, got {got}"
    return LogFormatError(msg, field=option.lstrip("-"))


USAGE_ONLY = Plan(
    name="usage only (no plan or prices given)",
    currency="AUD",
    base_fee=Decimal(0),
    included_learners=0,
    overage_price=Decimal(0),
    elearning_overage_price=Decimal(0),
)
"""The plan of a bill run without --plan or prices: it counts, and charges nothing."""


MAX_GRACE_DAYS = 3_650
"""Longest ``oulad --grace-days`` (ten years; the data covers two). [days]"""


@app.command("oulad")
def oulad_command(
    folder: Annotated[
        Path | None,
        typer.Argument(
            metavar="DIR",
            help="OULAD folder (default: $METER_SIM_OULAD, else ../shared/data/oulad "
            "beside the repository).",
            show_default=False,
        ),
    ] = None,
    strategy: Annotated[
        str | None,
        typer.Option(
            "--strategy",
            help="Print this one's monthly bill: explicit (the registrations "
            "timeline) or a strategy; default: all of them side by side.",
            show_default=False,
        ),
    ] = None,
    start_day: Annotated[
        int,
        typer.Option(
            "--start-day",
            min=1,
            max=28,
            help="Day of the month of day 0 (February for YYYYB, October for YYYYJ).",
        ),
    ] = 1,
    grace_days: Annotated[
        int,
        typer.Option(
            "--grace-days",
            min=0,
            max=MAX_GRACE_DAYS,
            help="course_window and batched: days from the course end to switch-off.",
        ),
    ] = 14,
    plan: PlanOption = None,
    included: IncludedOption = None,
    overage_price: OveragePriceOption = None,
    status_log_file: Annotated[
        Path | None,
        typer.Option(
            "--status-log",
            help="Also write the registrations status log (.csv/.parquet) for bill.",
        ),
    ] = None,
    output: Annotated[
        OutputFormat, typer.Option("--format", help="csv prints the monthly table.")
    ] = "table",
) -> None:
    """Bill the real OULAD enrolments under every strategy, month by month."""
    import time

    from meter_sim.datasets.oulad import compare_oulad, oulad_folder, read_oulad

    price = _decimal(overage_price)
    try:
        chosen = _choose_plan(plan, included, price)
        strategies = _oulad_strategies(strategy, grace_days)
        if status_log_file is not None:
            inputs = (oulad_folder(folder), plan)
            _refuse_overwrite(status_log_file, "--status-log", *inputs)
        started = time.perf_counter()
        data = read_oulad(folder, start_day=start_day)
        if status_log_file is not None:
            _write_oulad_status_log(data.folder, start_day, status_log_file)
        result = compare_oulad(
            data,
            plan=chosen,
            strategies=strategies,
            explicit=strategy in {None, _EXPLICIT},
        )
        seconds = time.perf_counter() - started
    except MeterSimError as exc:
        raise _fail(exc) from None
    if strategy is None:
        _print_oulad_comparison(data, result, output)
    else:
        _print_oulad_strategy(data, result, strategy, output)
    report = console if output == "table" else errors
    report.print(
        _safe(
            f"{len(result.bills)} timeline(s) of {data.needs.height} needs read and "
            f"billed in {seconds:.1f} s"
        )
    )


_EXPLICIT = "explicit"
"""The `oulad` command's name for the registrations timeline."""


def _oulad_strategies(
    strategy: str | None, grace_days: int
) -> dict[str, Callable[..., StrategyRun]]:
    """The strategies the `oulad` command runs, with ``--grace-days`` applied."""
    from functools import partial

    from meter_sim.strategies import batched, course_window

    known = [_EXPLICIT, *STRATEGIES]
    if strategy is not None and strategy not in known:
        msg = f"`--strategy`: one of {', '.join(known)} expected, got {strategy!r}"
        raise LogFormatError(msg, field="strategy")
    chosen: dict[str, Callable[..., StrategyRun]] = dict(STRATEGIES)
    chosen["course_window"] = partial(course_window, grace_days=grace_days)
    chosen["batched"] = partial(batched, grace_days=grace_days)
    if strategy is None:
        return chosen
    return {name: run for name, run in chosen.items() if name == strategy}


def _write_oulad_status_log(folder: Path, start_day: int, out: Path) -> None:
    """Write the registrations status log for `meter-sim bill`."""
    from meter_sim.datasets.oulad import registrations_status_log, write_status_log

    log = registrations_status_log(folder, start_day=start_day)
    write_status_log(log, out)
    learners = log.status["learner_id"].n_unique()
    errors.print(
        _safe(
            f"registrations status log: {log.status.height} status changes for "
            f"{learners} learners written to {out}"
        )
    )


def _oulad_title(data: OuladData) -> str:
    suffix = "st" if data.start_day in {1, 21} else "th"
    suffix = {2: "nd", 22: "nd", 3: "rd", 23: "rd"}.get(data.start_day, suffix)
    return (
        f"OULAD ({data.folder}), day 0 on the {data.start_day}{suffix} of "
        f"February/October, months in {data.timezone}"
    )


def _oulad_summary(result: OuladComparison) -> pl.DataFrame:
    return result.table.rename({"total_ex_tax": "ex tax", "total_inc_tax": "inc tax"})


def _print_oulad_inputs(data: OuladData, output: OutputFormat) -> None:
    """Rows read, used, not activity and rejected per file; the rejected rows."""
    from meter_sim.datasets.oulad import EVENTS

    report = console if output == "table" else errors
    for name, read, used, banked, gone in data.inputs.iter_rows():
        report.print(
            _safe(
                f"{Path(name).name}: {read} rows read, {used} used, {banked} not "
                f"activity (banked), {gone} rejected"
            )
        )
    events = dict(data.needs["event"].cast(pl.String).value_counts().iter_rows())
    parts = ", ".join(f"{events.get(e, 0)} {e.replace('_', ' ')}s" for e in EVENTS)
    report.print(
        _safe(f"{data.needs.height} needs ({parts}) of {data.learners.height} learners")
    )
    rejected = data.rejected
    if rejected.is_empty() or output == "json":
        return
    shown = rejected.head(SHOWN_ROWS)
    more = rejected.height - shown.height
    title = f"Rejected rows ({rejected.height})" + (
        f", first {SHOWN_ROWS}" if more else ""
    )
    _print_table(shown, title, to=report)
    if more:
        report.print(f"... and {more} more (all of them with --format json)")


def _oulad_document(data: OuladData, result: OuladComparison) -> dict[str, Any]:
    plan = next(iter(result.bills.values())).plan
    return {
        "folder": str(data.folder),
        "start_day": data.start_day,
        "timezone": data.timezone,
        "plan": plan.name,
        "currency": plan.currency,
        "from": f"{result.first_month:%Y-%m}",
        "through": f"{result.last_month:%Y-%m}",
    }


def _oulad_tail(data: OuladData) -> dict[str, Any]:
    return {
        "inputs": data.inputs.to_dicts(),
        "rejected": data.rejected,
    }


def _print_oulad_comparison(
    data: OuladData, result: OuladComparison, output: OutputFormat
) -> None:
    """Every strategy side by side: billable learners per month and a summary."""
    from meter_sim.datasets.oulad import monthly_learners

    wide = monthly_learners(result)
    plan = next(iter(result.bills.values())).plan
    if output == "json":
        document = _oulad_document(data, result)
        document["strategies"] = _as_text(result.table).to_dicts()
        document["months"] = _as_text(wide).to_dicts()
        _print_json(document | _oulad_tail(data))
        return
    summary_title = (
        f"Strategies compared, {result.first_month:%Y-%m} to "
        f"{result.last_month:%Y-%m}: {plan.name}, amounts in {plan.currency}"
    )
    if output == "csv":
        sys.stdout.write(_as_text(wide).write_csv())
        _print_table(_oulad_summary(result), summary_title, to=errors)
    else:
        _print_table(wide, f"Billable learners per month: {_oulad_title(data)}")
        _print_table(_oulad_summary(result), summary_title)
    _print_oulad_inputs(data, output)


def _print_oulad_strategy(
    data: OuladData, result: OuladComparison, strategy: str, output: OutputFormat
) -> None:
    """One strategy's monthly bill, its summary row and the blocked needs."""
    chosen = result.bills[strategy]
    run = result.runs[strategy]
    blocked = run.needs.filter("blocked").select(
        "learner_id",
        pl.col("at").dt.convert_time_zone(data.timezone),
        "event",
        "code_module",
        "code_presentation",
        "line",
    )
    if output == "json":
        document = _oulad_document(data, result) | {"strategy": strategy}
        document["summary"] = _as_text(result.table).to_dicts()[0]
        document["months"] = _as_text(chosen.monthly.select(MONTH_COLUMNS)).to_dicts()
        document["invoice"] = _invoice_document(chosen)
        document["blocked_needs"] = _as_text(
            blocked.with_columns(pl.col("at").dt.to_string("%+"))
        ).to_dicts()
        _print_json(document | _oulad_tail(data))
        return
    if output == "csv":
        sys.stdout.write(_as_text(chosen.monthly).write_csv())
        _print_table(_oulad_summary(result), f"Summary: {strategy}", to=errors)
    else:
        plan = chosen.plan
        _print_table(
            chosen.monthly.select(MONTH_COLUMNS),
            f"Monthly bill, {strategy}: {plan.name}, {plan.currency}; "
            f"{_oulad_title(data)}",
        )
        money = chosen.monthly.select(pl.col("total").sum()).item()
        console.print(_safe(f"Total for the period: {plan.currency} {money}"))
        _print_invoice_totals(chosen)
        _print_table(_oulad_summary(result), f"Summary: {strategy}")
    if not blocked.is_empty():
        report = console if output == "table" else errors
        _print_table(
            blocked.head(SHOWN_ROWS),
            f"Needs the {strategy} timeline does not allow ({blocked.height})"
            + (f", first {SHOWN_ROWS}" if blocked.height > SHOWN_ROWS else ""),
            to=report,
        )
    _print_oulad_inputs(data, output)


@app.command("run")
def run_command(
    scenario: Annotated[Path, typer.Argument(help="Scenario YAML file.")],
    learners: Annotated[
        bool,
        typer.Option("--learners", help="Also list each learner-month and its reason."),
    ] = False,
    output: Annotated[
        OutputFormat, typer.Option("--format", help="csv prints the monthly bill.")
    ] = "table",
    definition: DefinitionOption = "flag",
) -> None:
    """Run a scenario: its monthly bill, and with --learners each learner-month."""
    try:
        result = run_scenario(
            load_scenario(scenario), policy=Policy(definition=definition)
        )
    except MeterSimError as exc:
        raise _fail(exc) from None
    _print_bill(
        result,
        output,
        with_learners=learners,
        title="Monthly bill",
        csv_learner_months=learners,
        with_elearning=learners,
    )


@app.command("plans")
def plans_command(
    source: Annotated[
        Path, typer.Argument(help="A scenario (.yaml) or a status log (.csv/.parquet).")
    ],
    price_book: Annotated[
        Path | None,
        typer.Option(
            "--price-book",
            help="Folder of plan files (default: the scenario's plans/ folder, "
            "or scenarios/plans for a status log).",
            show_default=False,
        ),
    ] = None,
    timezone: Annotated[
        str, typer.Option("--timezone", help="Billing time zone of a status log.")
    ] = DEFAULT_TIMEZONE,
    naive_timezone: NaiveTimezoneOption = None,
    from_month: FromOption = None,
    through_month: ThroughOption = None,
    output: Annotated[
        OutputFormat, typer.Option("--format", help="Output format.")
    ] = "table",
    chart: Annotated[
        Path | None,
        typer.Option(
            "--chart", help="Save a chart of annual cost per plan (.html/.png/.svg)."
        ),
    ] = None,
) -> None:
    """Price the same usage under every plan of a price book, cheapest first."""
    first, last = _month(from_month, "--from"), _month(through_month, "--through")
    folder = _price_book_of(source, price_book)
    try:
        if chart is not None:
            _refuse_overwrite(chart, "--chart", source, *_plan_files(source), folder)
        result = _usage_for_plans(source, timezone, naive_timezone, first, last)
        usage = result.monthly.select(
            "month", *(c for c in USAGE_COLUMNS if c in result.monthly.columns)
        )
        plans, not_priced = _priceable(usage, load_price_book(folder), folder)
        table = compare_plans(usage, plans)
        if chart is not None:
            from meter_sim import charts

            charts.save(
                charts.annual_cost(annual_costs(usage, plans)),
                chart,
                title=f"Annual cost per plan: {source.name}",
            )
    except MeterSimError as exc:
        raise _fail(exc) from None
    _print_comparison(table, result, output, not_priced)
    _print_inputs(
        result.inputs,
        None if output == "json" else result.rejected,
        to=console if output == "table" else errors,
    )
    if chart is not None:
        errors.print(_safe(f"chart of annual cost per plan written to {chart}"))


USAGE_COLUMNS = ("billable_learners", "elearning_learners")
"""The usage `plans` prices: both meters' counts, where the bill has them."""


def _priceable(
    usage: pl.DataFrame, plans: dict[str, Plan], folder: Path
) -> tuple[dict[str, Plan], dict[str, str]]:
    """The plans that can price ``usage``, and why each other one cannot.

    A plan without an e-Learning price cannot price e-Learning learners over its
    tier (`meter_sim.pricing`); it is named, not priced at zero. Raises
    `LogFormatError` when no plan of ``folder`` can price the usage.
    """
    priced, refused = {}, {}
    for name, plan in plans.items():
        try:
            invoice(usage, plan)
        except PricingError as exc:
            refused[name] = str(exc)
        else:
            priced[name] = plan
    if not priced:
        name, why = next(iter(refused.items()))
        msg = (
            f"{folder}: no plan of the price book can price this usage "
            f"({', '.join(refused)}); {name}: {why}"
        )
        raise LogFormatError(msg, source=str(folder))
    return priced, refused


def _price_book_of(source: Path, price_book: Path | None) -> Path:
    """The price book of `plans`: ``--price-book``, the scenario's, or the default."""
    if price_book is not None:
        return price_book
    if _is_scenario(source):
        return source.parent / PLANS_FOLDER
    return Path("scenarios") / PLANS_FOLDER


def _usage_for_plans(
    source: Path,
    timezone: str,
    naive_timezone: str | None,
    first: date | None,
    last: date | None,
) -> Bill:
    """Meter a scenario or a status log for `plans`."""
    if _is_scenario(source):
        scenario = load_scenario(source)
        result = run_scenario(scenario)
        if first or last:
            result = bill(
                prepare_status_log(scenario.status_frame(), str(source)),
                plan=USAGE_ONLY,
                timezone=scenario.timezone,
                first_month=first or result.first_month,
                last_month=last or result.last_month,
                elearning=scenario.elearning_log(),
            )
        return result
    check_timezone(timezone, field="--timezone")
    if naive_timezone is not None:
        check_timezone(naive_timezone, field="--naive-timezone")
    status = read_status_log(source, naive_timezone=naive_timezone)
    result = bill(
        status, plan=USAGE_ONLY, timezone=timezone, first_month=first, last_month=last
    )
    return result


def _print_comparison(
    table: pl.DataFrame,
    result: Bill,
    output: OutputFormat,
    not_priced: dict[str, str],
) -> None:
    if output == "json":
        document = {
            "timezone": result.timezone,
            "from": f"{result.first_month:%Y-%m}",
            "through": f"{result.last_month:%Y-%m}",
            "plans": _as_text(table).to_dicts(),
            "not_priced": not_priced,
            "inputs": result.inputs.to_dicts(),
            "rejected": result.rejected,
        }
        _print_json(document)
        return
    if output == "csv":
        sys.stdout.write(_as_text(table).write_csv())
        for name, why in not_priced.items():
            errors.print(_safe(f"not priced: {name}: {why}"))
        return
    names = {
        "base_subscription": "base",
        "minimum_spend_true_up": "true-up",
        "total_ex_tax": "ex tax",
        "total_inc_tax": "inc tax",
    }
    currencies = ", ".join(table["currency"].unique(maintain_order=True).to_list())
    learner_months = result.learner_months.height
    _print_table(
        table.drop("name", "currency", "months", "learner_months", "tax").rename(names),
        f"Plans priced on the same {learner_months} billable learner-months, "
        f"{result.first_month:%Y-%m} to {result.last_month:%Y-%m} "
        f"({result.timezone}); cheapest first; amounts in {currencies}",
    )
    for name, why in not_priced.items():
        console.print(_safe(f"not priced: {name}: {why}"))


@app.command("compare")
def compare_command(
    scenario: Annotated[Path, typer.Argument(help="Scenario YAML file.")],
    output: Annotated[
        OutputFormat, typer.Option("--format", help="Output format.")
    ] = "table",
    chart: Annotated[
        Path | None,
        typer.Option(
            "--chart", help="Save a chart of the strategies (.html/.png/.svg)."
        ),
    ] = None,
) -> None:
    """Compare status-management strategies on a scenario's needs, side by side."""
    from meter_sim.simulate import EXPLICIT, compare_strategies

    try:
        if chart is not None:
            _refuse_overwrite(chart, "--chart", scenario, *_plan_files(scenario))
        loaded = load_scenario(scenario)
        result = compare_strategies(loaded)
        inputs, rejected = _scenario_rows(loaded, result.bills.get(EXPLICIT))
        if chart is not None:
            from meter_sim import charts

            charts.save(
                charts.strategy_comparison(result.table, currency=loaded.plan.currency),
                chart,
                title=f"Strategies compared: {loaded.name}",
            )
    except MeterSimError as exc:
        raise _fail(exc) from None
    table = result.table
    if output == "json":
        document = {
            "scenario": loaded.name,
            "timezone": loaded.timezone,
            "currency": loaded.plan.currency,
            "from": f"{result.first_month:%Y-%m}",
            "through": f"{result.last_month:%Y-%m}",
            "strategies": table.with_columns(
                pl.col(pl.Decimal).cast(pl.String)
            ).to_dicts(),
            "inputs": inputs.to_dicts(),
            "rejected": rejected,
        }
        _print_json(document)
    elif output == "csv":
        sys.stdout.write(_as_text(table).write_csv())
    else:
        _print_table(
            table.rename({"total_ex_tax": "ex tax", "total_inc_tax": "inc tax"}),
            f"{loaded.name}: strategies compared, {result.first_month:%Y-%m} to "
            f"{result.last_month:%Y-%m}; amounts in {loaded.plan.currency}",
        )
    _print_inputs(
        inputs,
        None if output == "json" else rejected,
        to=console if output == "table" else errors,
    )
    if chart is not None:
        errors.print(_safe(f"chart of the strategies written to {chart}"))


def _scenario_rows(
    scenario: Scenario, explicit: Bill | None
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The row accounting and rejected rows of a scenario's own learners.

    ``explicit`` is the bill of the scenario's learners, None when it has only
    cohorts (drawn, not read): then no rows were read.
    """
    if explicit is not None:
        return explicit.inputs, explicit.rejected
    source = str(scenario.source)
    inputs = pl.DataFrame(
        [(f"{source} ({log})", 0, 0, 0) for log in ("status log", "activity log")],
        schema=["input", "rows_read", "rows_used", "rows_rejected"],
        orient="row",
    )
    return inputs, REJECTED_SCHEMA.to_frame()


@app.command("forecast")
def forecast_command(
    scenario: Annotated[Path, typer.Argument(help="Scenario YAML file with cohorts.")],
    runs: Annotated[
        int, typer.Option("--runs", min=1, max=100_000, help="Draws.")
    ] = 200,
    seed: Annotated[
        int | None,
        typer.Option("--seed", min=0, help="Random seed (default: the scenario's)."),
    ] = None,
    strategy: Annotated[
        str, typer.Option("--strategy", help="Strategy the commitment is chosen for.")
    ] = "course_window",
    price_book: Annotated[
        Path | None,
        typer.Option(
            "--price-book",
            help="Plans to choose from (default: the scenario's plans/ folder).",
            show_default=False,
        ),
    ] = None,
    included: Annotated[
        str | None,
        typer.Option(
            "--included",
            help="Instead of a price book: commitments to compare, e.g. 100,150,200 "
            "(variants of the scenario's plan).",
        ),
    ] = None,
    fee_per_learner: Annotated[
        str | None,
        typer.Option(
            "--base-fee-per-learner",
            help="With --included: base fee per included learner (default: keep).",
        ),
    ] = None,
    output: Annotated[
        OutputFormat, typer.Option("--format", help="csv prints the monthly bands.")
    ] = "table",
    chart: Annotated[
        Path | None,
        typer.Option(
            "--chart", help="Save the fan and commitment charts (.html/.png/.svg)."
        ),
    ] = None,
) -> None:
    """Forecast monthly billable learners and cost, and choose a commitment."""
    from meter_sim.simulate import commitment_table, forecast

    try:
        if chart is not None:
            inputs = (scenario, *_plan_files(scenario), price_book)
            _refuse_overwrite(chart, "--chart", *inputs)
        loaded = load_scenario(scenario)
        plans = _commitment_candidates(loaded, price_book, included, fee_per_learner)
        if strategy not in STRATEGIES:
            known = ", ".join(STRATEGIES)
            msg = f"`--strategy`: one of {known} expected, got {strategy!r}"
            raise LogFormatError(msg, field="strategy")
        with Progress(transient=True, console=errors, disable=output != "table") as bar:
            task = bar.add_task("drawing and billing", total=runs)
            result = forecast(
                loaded,
                runs=runs,
                seed=seed,
                progress=lambda done: bar.update(task, completed=done),
            )
        commitment = commitment_table(result, plans, strategy=strategy)
        if chart is not None:
            import altair as alt

            from meter_sim import charts

            fan = charts.forecast_fan(
                result.bands(), included_learners=loaded.plan.included_learners
            )
            curve = charts.commitment_curve(commitment, currency=loaded.plan.currency)
            both = alt.vconcat(fan, curve).resolve_scale(color="independent")
            charts.save(
                both.resolve_legend(color="independent"),
                chart,
                title=f"Forecast: {loaded.name}",
            )
    except MeterSimError as exc:
        raise _fail(exc) from None
    _print_forecast(loaded, result, commitment, strategy, output)
    if chart is not None:
        errors.print(_safe(f"forecast charts written to {chart}"))


def _commitment_candidates(
    scenario: Scenario,
    price_book: Path | None,
    included: str | None,
    fee_per_learner: str | None,
) -> dict[str, Plan]:
    from meter_sim.simulate import commitment_plans

    if included is None:
        if fee_per_learner is not None:
            msg = "--base-fee-per-learner goes with --included"
            raise LogFormatError(msg, field="base-fee-per-learner")
        return load_price_book(price_book or scenario.source.parent / PLANS_FOLDER)
    counts = []
    for part in included.split(","):
        if not re.fullmatch(r"\d+", part.strip(), flags=re.ASCII):
            msg = f"`--included`: whole numbers joined by commas expected, got {part!r}"
            raise LogFormatError(msg, field="included")
        counts.append(int(part))
    fee = _decimal(fee_per_learner)
    try:
        return commitment_plans(scenario.plan, counts, fee)
    except ValidationError as exc:
        options = {"included_learners": "--included"}
        raise _option_error(exc, options, "--base-fee-per-learner") from None


def _print_forecast(
    scenario: Scenario,
    result: Forecast,
    commitment: pl.DataFrame,
    strategy: str,
    output: OutputFormat,
) -> None:
    per_run = (
        result.runs.group_by("run", "strategy", maintain_order=True)
        .agg(
            pl.col("billable_learners").sum().alias("learner_months"),
            pl.col("total").sum().cast(pl.Float64).alias("cost"),
        )
        .group_by("strategy", maintain_order=True)
        .agg(
            pl.col("learner_months").mean().round(1).alias("learner_months_mean"),
            *(
                pl.col("cost")
                .quantile(q, interpolation="linear")
                .round(2)
                .alias(f"cost_p{p}")
                for q, p in ((0.1, 10), (0.5, 50), (0.9, 90))
            ),
        )
    )
    money = _as_text(commitment)
    cheapest = commitment.filter("cheapest")["plan"].to_list()
    safest = commitment.filter("safest")["plan"].to_list()
    if output == "json":
        document = {
            "scenario": scenario.name,
            "seed": result.seed,
            "runs": int(result.runs["run"].n_unique()),
            "from": f"{result.first_month:%Y-%m}",
            "through": f"{result.last_month:%Y-%m}",
            "currency": scenario.plan.currency,
            "strategies": per_run.to_dicts(),
            "bands": _as_text(result.bands()).to_dicts(),
            "commitment": {
                "strategy": strategy,
                "plans": money.to_dicts(),
                "cheapest": cheapest[0] if cheapest else None,
                "safest": safest[0] if safest else None,
            },
        }
        _print_json(document)
        return
    if output == "csv":
        bands = _as_text(result.bands())
        sys.stdout.write(bands.write_csv())
        return
    currency = scenario.plan.currency
    _print_table(
        per_run,
        f"{scenario.name}: {result.runs['run'].n_unique()} runs (seed {result.seed}), "
        f"{result.first_month:%Y-%m} to {result.last_month:%Y-%m}; cost ex tax "
        f"over the period in {currency} (p10, median, p90)",
    )
    _print_table(
        commitment.rename({"expected_annual": "expected", "p90_annual": "p90"}),
        f"Commitment for {strategy}: annual cost ex tax in {currency}",
    )
    console.print(
        _safe(
            f"Cheapest on average: {', '.join(cheapest)}; "
            f"safest (lowest p90): {', '.join(safest)}"
        )
    )


LONG_INPUT = 2_000_000
"""Inputs larger than this in total show a progress bar. [bytes]"""

SHOWN_ROWS = 50
"""Rows of a long listing printed in the table format."""


def _read_logs(
    status_log: Path, activity: Path | None, naive_timezone: str | None
) -> tuple[StatusLog, ActivityLog | None]:
    """Check ``--naive-timezone`` and read the status log and activity log."""
    if naive_timezone is not None:
        check_timezone(naive_timezone, field="--naive-timezone")
    status = read_status_log(status_log, naive_timezone=naive_timezone)
    if activity is None:
        return status, None
    return status, read_activity_log(activity, naive_timezone=naive_timezone)


def _plan_and_logs(
    status_log: Path,
    activity: Path | None,
    *,
    timezone: str,
    naive_timezone: str | None,
    plan: Path | None,
    included: int | None,
    overage_price: str | None,
) -> tuple[Plan, StatusLog, ActivityLog | None]:
    """Check the time zones, choose the plan, and read the status and activity logs."""
    check_timezone(timezone, field="--timezone")
    chosen = _choose_plan(plan, included, _decimal(overage_price))
    status, activity_log = _read_logs(status_log, activity, naive_timezone)
    return chosen, status, activity_log


def _progress(*paths: Path | None) -> Progress:
    """A progress bar on standard error, shown on a terminal when inputs are long."""
    size = sum(p.stat().st_size for p in paths if p is not None and p.is_file())
    quiet = size < LONG_INPUT or not errors.is_terminal
    return Progress(transient=True, console=errors, disable=quiet)


def _same_file(a: Path, b: Path) -> bool:
    """Whether two paths name one file (also through links, hard or symbolic)."""
    if a.exists() and b.exists():
        return a.samefile(b)
    return a.resolve() == b.resolve()


def _refuse_overwrite(out: Path, option: str, *inputs: Path | None) -> None:
    """Raise `LogFormatError` if writing ``out`` would replace an input file.

    ``inputs`` are every file the command reads (logs, plan, invoice, vendor
    report, scenario) and folders it reads files of (a price book, the OULAD
    folder): each file directly inside such a folder counts as an input. Links,
    hard or symbolic, and other spellings of a path are seen through.
    """
    files: list[Path] = []
    for path in inputs:
        if path is not None and path.is_dir():
            files += [entry for entry in path.iterdir() if entry.is_file()]
        elif path is not None:
            files.append(path)
    clash = next((p for p in files if _same_file(out, p)), None)
    if clash is not None:
        msg = f"{out}: {option} would overwrite an input file ({clash})"
        raise LogFormatError(msg, source=str(out), field=option.lstrip("-"))


def _is_scenario(source: Path) -> bool:
    """Whether a command's source is a scenario (YAML) rather than a status log."""
    return source.suffix.lower() in {".yaml", ".yml"}


def _plan_files(source: Path) -> tuple[Path, ...]:
    """The plan folder a scenario's plan file is read from; none for a status log."""
    return (source.parent / PLANS_FOLDER,) if _is_scenario(source) else ()


def _print_inputs(
    inputs: pl.DataFrame, rejected: pl.DataFrame | None, *, to: Console
) -> None:
    """Rows read, used and rejected per input, then the rejected rows listed.

    Parameters
    ----------
    inputs : pl.DataFrame
        ``input``, ``rows_read``, ``rows_used``, ``rows_rejected`` (as
        `meter_sim.billing.Bill.inputs`). [rows]
    rejected : pl.DataFrame or None
        ``source``, ``line``, ``reason`` of every rejected row; None when they
        are printed elsewhere (the JSON output carries them).
    to : Console
        Standard output (the table format) or standard error.
    """
    if rejected is not None and not rejected.is_empty():
        _print_listing(rejected, f"Rejected rows ({rejected.height})", to=to)
    for label, read, used, gone in inputs.iter_rows():
        to.print(_safe(f"{label}: {read} rows read, {used} used, {gone} rejected"))


def _print_listing(frame: pl.DataFrame, title: str, *, to: Console = console) -> None:
    """Print at most `SHOWN_ROWS` rows of a listing, saying how many are left out."""
    shown = frame.head(SHOWN_ROWS)
    more = frame.height - shown.height
    _print_table(shown, title + (f", first {SHOWN_ROWS}" if more else ""), to=to)
    if more:
        to.print(f"... and {more} more (all of them with --format json or --out DIR)")


@app.command("reconcile")
def reconcile_command(
    status_log: Annotated[
        Path, typer.Option("--status", help="Status log (.csv or .parquet).")
    ],
    invoice: Annotated[
        Path,
        typer.Option(
            "--invoice",
            help="Invoice: month,billable_learners[,amount] or month,learner_id.",
        ),
    ],
    vendor_report: Annotated[
        Path | None,
        typer.Option(
            "--vendor-report",
            help="Vendor's learner status report: billing_month,learner_id,"
            "billable_in_month[,first_name,last_name,date_of_birth].",
        ),
    ] = None,
    activity: ActivityOption = None,
    plan: PlanOption = None,
    included: IncludedOption = None,
    overage_price: OveragePriceOption = None,
    timezone: TimezoneOption = DEFAULT_TIMEZONE,
    naive_timezone: NaiveTimezoneOption = None,
    from_month: FromOption = None,
    through_month: ThroughOption = None,
    definition: DefinitionOption = "flag",
    elearning: ElearningOption = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", help="Folder to write every table to, as Excel-friendly CSV."
        ),
    ] = None,
    output: Annotated[
        OutputFormat, typer.Option("--format", help="csv prints the month verdicts.")
    ] = "table",
) -> None:
    """Check an invoice against the logs (exit 0 matches, 1 differs, 2 bad input)."""
    from meter_sim.reconcile import read_invoice, read_vendor_report, reconcile

    first, last = _month(from_month, "--from"), _month(through_month, "--through")
    policy = _policy(definition, activity)
    if plan is None and included is None and overage_price is None:
        msg = (
            "reconcile needs the plan the invoice follows: --plan PLAN.yaml "
            "(or --included N --overage-price P)"
        )
        raise _fail(LogFormatError(msg, field="plan"))
    try:
        with _progress(status_log, activity, invoice, vendor_report) as bar:
            task = bar.add_task("reading the logs", total=3)
            chosen, status, activity_log = _plan_and_logs(
                status_log,
                activity,
                timezone=timezone,
                naive_timezone=naive_timezone,
                plan=plan,
                included=included,
                overage_price=overage_price,
            )
            bar.update(task, advance=1, description="reading the invoice")
            bill_in = read_invoice(invoice)
            vendor = (
                None if vendor_report is None else read_vendor_report(vendor_report)
            )
            bar.update(task, advance=1, description="reconciling")
            result = reconcile(
                status,
                bill_in,
                plan=chosen,
                timezone=timezone,
                activity=activity_log,
                vendor_report=vendor,
                first_month=first,
                last_month=last,
                policy=policy,
                elearning=_read_elearning(elearning, naive_timezone),
            )
            bar.update(task, advance=1)
        if out is not None:
            _write_reconciliation(
                result, out, status_log, activity, invoice, vendor_report, plan,
                elearning,
            )  # fmt: skip
    except MeterSimError as exc:
        raise _fail(exc) from None
    _print_reconciliation(result, output)
    if out is not None:
        errors.print(_safe(f"every table written to {out}/ as Excel-friendly CSV"))
    if not result.matches:
        raise typer.Exit(code=1)


def _reconciliation_tables(result: Reconciliation) -> dict[str, pl.DataFrame]:
    return {
        "months": result.months,
        "learner_months": result.learner_months,
        "activity_while_inactive": result.activity_while_inactive,
        "savings": result.savings,
        "rejected": result.rejected,
        "inputs": result.inputs,
    }


def _write_reconciliation(
    result: Reconciliation, folder: Path, *inputs: Path | None
) -> None:
    from meter_sim.reports import write_report

    if folder.exists() and not folder.is_dir():
        msg = f"{folder}: is a file; --out needs a folder"
        raise LogFormatError(msg, source=str(folder), field="out")
    tables = {
        folder / f"{name}.csv": frame
        for name, frame in _reconciliation_tables(result).items()
    }
    for path in tables:
        _refuse_overwrite(path, "--out", *inputs)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        msg = f"{folder}: cannot create the folder: {exc.strerror or exc}"
        raise LogFormatError(msg, source=str(folder), field="out") from None
    for path, frame in tables.items():
        write_report(frame, path, form="excel-csv")


def _print_reconciliation(result: Reconciliation, output: OutputFormat) -> None:
    expected = result.expected
    currency = expected.plan.currency
    if output == "json":
        document: dict[str, Any] = {
            "timezone": expected.timezone,
            "currency": currency,
            "matches": result.matches,
        }
        for name, frame in _reconciliation_tables(result).items():
            document[name] = _as_text(
                frame.with_columns(pl.col(pl.Datetime).dt.to_string("%+"))
            ).to_dicts()
        _print_json(document)
        return
    report = errors
    if output == "csv":
        sys.stdout.write(_as_text(result.months).write_csv())
    else:
        report = console
        _print_reconciliation_tables(result)
    _print_inputs(result.inputs, result.rejected, to=report)
    if result.matches:
        report.print("The invoice matches the logs: every month is ok.")
    else:
        wrong = result.months.filter(pl.col("verdict") != "ok").height
        over = result.months.select(pl.col("amount_difference").sum()).item()
        report.print(
            _safe(
                f"The invoice does not match the logs in {wrong} of "
                f"{result.months.height} month(s); invoiced minus expected: "
                f"{currency} {over}"
            )
        )


def _print_reconciliation_tables(result: Reconciliation) -> None:
    expected = result.expected
    currency = expected.plan.currency
    shown = {
        "month": "month",
        "verdict": "verdict",
        "expected_learners": "expected",
        "invoiced_learners": "billed",
        "learner_difference": "diff",
        "vendor_report_learners": "status report",
        "expected_amount": "expected amount",
        "invoiced_amount": "billed amount",
        "amount_difference": "amount diff",
    }
    table = result.months
    # The status report's count is shown only where it differs from the invoice's.
    agrees = table.select(
        (pl.col("vendor_report_learners") == pl.col("invoiced_learners")).all()
    ).item()
    months = table.select(
        pl.col(c).alias(name)
        for c, name in shown.items()
        if table[c].null_count() < table.height
        and not (c == "vendor_report_learners" and agrees)
    )
    _print_table(
        months,
        f"Invoice check: {expected.plan.name}, months in {expected.timezone}, "
        f"amounts in {currency} before tax",
    )
    for month, findings in result.months.select("month", "findings").iter_rows():
        for k, finding in enumerate(findings.splitlines()):
            lead = f"{month:%Y-%m}: " if k == 0 else "         "
            console.print(_safe(lead + finding))
    differences = result.learner_months.filter(pl.col("verdict") != "billed_ok")
    if not differences.is_empty():
        _print_listing(
            differences.drop("reason", "source"),
            f"Learner-months that differ ({differences.height})",
        )
    if not result.activity_while_inactive.is_empty():
        _print_listing(
            result.activity_while_inactive,
            f"Activity while inactive, against the rules "
            f"({result.activity_while_inactive.height})",
        )
    _print_savings(result, currency)


def _print_savings(result: Reconciliation, currency: str) -> None:
    savings = result.savings
    if result.expected.activity is None:
        console.print(
            "Savings: give --activity to find billed months with no activity."
        )
    if savings.is_empty():
        return
    summary = (
        savings.group_by("finding")
        .agg(pl.len().alias("learner_months"), pl.col("cost").sum())
        .sort("finding")
    )
    _print_table(
        summary, f"Savings: learner-months that could have been avoided ({currency})"
    )
    _print_listing(
        savings.sort(
            "cost", "billing_month", "learner_id", descending=[True, False, False]
        ),
        f"Savings, learner by learner, costliest first ({savings.height})",
    )


report_app = typer.Typer(
    help="Write the learner status report or the activity report.",
    no_args_is_help=True,
)
app.add_typer(report_app, name="report")

ReportOutOption = Annotated[
    Path, typer.Option("--out", help="Report file to write (.csv or .parquet).")
]
ExcelOption = Annotated[
    bool,
    typer.Option(
        "--excel",
        help="Excel-friendly CSV: UTF-8 with BOM; no cell can start a formula.",
    ),
]


def _write(
    frame: pl.DataFrame, out: Path, *inputs: Path | None, excel: bool, what: str
) -> None:
    from meter_sim.reports import write_report

    _refuse_overwrite(out, "--out", *inputs)
    write_report(frame, out, form="excel-csv" if excel else None)
    errors.print(_safe(f"{what}: {frame.height} rows written to {out}"))


@report_app.command("status")
def report_status_command(
    status_log: Annotated[Path, typer.Argument(help="Status log (.csv or .parquet).")],
    out: ReportOutOption,
    activity: ActivityOption = None,
    plan: PlanOption = None,
    included: IncludedOption = None,
    overage_price: OveragePriceOption = None,
    timezone: TimezoneOption = DEFAULT_TIMEZONE,
    naive_timezone: NaiveTimezoneOption = None,
    from_month: FromOption = None,
    through_month: ThroughOption = None,
    elearning: ElearningOption = None,
    excel: ExcelOption = False,
) -> None:
    """Learner status report: one row per learner and month, and why it is billed."""
    from meter_sim.reports import status_report

    first, last = _month(from_month, "--from"), _month(through_month, "--through")
    try:
        with _progress(status_log, activity) as bar:
            task = bar.add_task("reading the logs", total=2)
            chosen, status, activity_log = _plan_and_logs(
                status_log,
                activity,
                timezone=timezone,
                naive_timezone=naive_timezone,
                plan=plan,
                included=included,
                overage_price=overage_price,
            )
            bar.update(task, advance=1, description="metering")
            result = bill(
                status,
                activity_log,
                plan=chosen,
                timezone=timezone,
                first_month=first,
                last_month=last,
                elearning=_read_elearning(elearning, naive_timezone),
            )
            report = status_report(result, status)
            bar.update(task, advance=1)
        _write(
            report,
            out,
            status_log,
            activity,
            plan,
            elearning,
            excel=excel,
            what="learner status report",
        )
    except MeterSimError as exc:
        raise _fail(exc) from None
    _print_inputs(result.inputs, result.rejected, to=errors)


@report_app.command("activity")
def report_activity_command(
    status_log: Annotated[Path, typer.Argument(help="Status log (.csv or .parquet).")],
    activity: Annotated[
        Path, typer.Option("--activity", help="Activity log (.csv or .parquet).")
    ],
    out: ReportOutOption,
    timezone: TimezoneOption = DEFAULT_TIMEZONE,
    naive_timezone: NaiveTimezoneOption = None,
    excel: ExcelOption = False,
) -> None:
    """Activity report: each activity with its month, the status then, and outcome."""
    from meter_sim.reports import activity_report

    try:
        check_timezone(timezone, field="--timezone")
        with _progress(status_log, activity) as bar:
            task = bar.add_task("reading the logs", total=2)
            status, activity_log = _read_logs(status_log, activity, naive_timezone)
            bar.update(task, advance=1, description="checking activity")
            result = bill(status, activity_log, plan=USAGE_ONLY, timezone=timezone)
            report = activity_report(result)
            bar.update(task, advance=1)
        _write(report, out, status_log, activity, excel=excel, what="activity report")
    except MeterSimError as exc:
        raise _fail(exc) from None
    _print_inputs(result.inputs, result.rejected, to=errors)


@app.command("explore")
def explore_command(
    scenario: Annotated[Path, typer.Argument(help="Scenario YAML file.")],
    out: Annotated[Path, typer.Option("--out", help="The HTML page to write (.html).")],
) -> None:
    """Write a pricing explorer: one offline HTML page with sliders and charts."""
    from meter_sim.explore import explorer_data, write_explorer

    try:
        if out.suffix.lower() not in {".html", ".htm"}:
            msg = f"{out}: `--out`: an .html file expected"
            raise LogFormatError(msg, source=str(out), field="out")
        _refuse_overwrite(out, "--out", scenario, *_plan_files(scenario))
        data = explorer_data(load_scenario(scenario))
        size = write_explorer(data, out)
    except MeterSimError as exc:
        raise _fail(exc) from None
    errors.print(
        _safe(
            f"pricing explorer of {data.scenario!r} written to {out} "
            f"({size / 1024:,.0f} KiB; opens offline in any browser)"
        )
    )
