"""Altair charts: status timelines, billed months, monthly bills, invoice checks.

Every builder is a pure function ``frame -> chart``: it aggregates and reshapes in
polars, hands altair only the few rows it draws, and returns the chart without
displaying it (STYLE.md, Charts). Each chart has a title, axis titles with units
and tooltips. Importing this module registers and enables the ``meter_sim`` theme.

Times are drawn as wall-clock times of the billing time zone: they are converted
in polars, written as text with a ``Z`` suffix and placed on a UTC time scale, so
the picture is the same whatever the time zone of the browser or renderer.
Money columns (Decimal) are cast to Float64 for drawing only.

References
----------
.. [1] DESIGN.md section 5, Charts, and section 1, Metering.
"""

from __future__ import annotations

import html
import json
import re
from datetime import date, datetime
from functools import cache
from typing import TYPE_CHECKING, Final

import altair as alt
import polars as pl

from meter_sim.exceptions import LogFormatError, PricingError
from meter_sim.metering import REASONS
from meter_sim.savings import FINDINGS

if TYPE_CHECKING:
    from pathlib import Path

THEME_NAME: Final = "meter_sim"
"""Name of the altair theme registered (and enabled) by this module."""

EVENT_KINDS: Final = (
    "active",
    "accepted",
    "read",
    "allowed_while_inactive",
    "rejected",
)
"""Legend entries of `status_timeline`, in legend order."""

_EVENT_COLORS: Final = ("#4c78a8", "#222222", "#9e9e9e", "#f58518", "#d62728")
_EVENT_SHAPES: Final = ("square", "circle", "circle", "triangle-up", "cross")
_REASON_COLORS: Final = ("#4c78a8", "#9ecae9", "#f58518", "#e45756")
_LINE_KINDS: Final = ("base_subscription", "overage", "elearning_overage")
_LINE_COLORS: Final = ("#9ecae9", "#4c78a8", "#54a24b")
_LINE_AMOUNTS: Final = ("base_fee", "overage_amount", "elearning_overage_amount")
"""`meter_sim.pricing.monthly_bill` column of each of `_LINE_KINDS`."""
METERS: Final = ("LRM Active Learners", "e-Learning Active Learners")
"""Legend entries of `meters_chart`, in legend order."""
_METER_COLORS: Final = (_EVENT_COLORS[0], _LINE_COLORS[2])
_METER_COLUMNS: Final = (
    ("billable_learners", "included_learners", "overage_learners"),
    ("elearning_learners", "included_elearning_learners", "elearning_overage_learners"),
)
"""Per meter of `METERS`: its billable, included and overage learner columns."""
_ISO_Z: Final = "%Y-%m-%dT%H:%M:%SZ"
_LOCAL_TEXT: Final = "%Y-%m-%d %H:%M %Z"
_LANE: Final = 11
"""Offset of activities (above) and rejected attempts (below) a status bar. [pixels]"""
_ROW: Final = 46
"""Height of one learner's row in the timeline and grid. [pixels]"""
_MONTH: Final = 60
"""Width of one month's column in the month charts. [pixels]"""


@alt.theme.register(THEME_NAME, enable=True)
def meter_sim_theme() -> alt.theme.ThemeConfig:
    """The meter_sim altair theme: plain background, readable sizes.

    Returns
    -------
    ThemeConfig
        Vega-Lite ``config`` (fonts, title and axis sizes, no view border) and a
        default width. [pixels]
    """
    return {
        "width": 560,
        "config": {
            "font": "DejaVu Sans, Helvetica, Arial, sans-serif",
            "view": {"stroke": None, "continuousWidth": 560},
            "title": {"fontSize": 15, "anchor": "start", "subtitleColor": "#555555"},
            "axis": {
                "labelFontSize": 11,
                "titleFontSize": 12,
                "titleFontWeight": "normal",
                "gridColor": "#e6e6e6",
            },
            "legend": {"labelFontSize": 11, "titleFontSize": 12},
        },
    }


def _next_month(month: date) -> date:
    return date(month.year + month.month // 12, month.month % 12 + 1, 1)


def _wall_clock(instant: pl.Expr, timezone: str) -> pl.Expr:
    """A UTC instant as billing-zone wall-clock text with a ``Z`` (for a UTC scale)."""
    return instant.dt.convert_time_zone(timezone).dt.strftime(_ISO_Z)


def _local_text(instant: pl.Expr, timezone: str) -> pl.Expr:
    """A UTC instant as readable local text with the zone abbreviation (tooltips)."""
    return instant.dt.convert_time_zone(timezone).dt.strftime(_LOCAL_TEXT)


def _month_label(month: pl.Expr) -> pl.Expr:
    return month.dt.strftime("%Y-%m")


def _period_labels(first_month: date, last_month: date) -> list[str]:
    months = pl.date_range(first_month, last_month, interval="1mo", eager=True)
    return months.dt.strftime("%Y-%m").to_list()


def _utc_datetime(month: date) -> alt.DateTime:
    return alt.DateTime(year=month.year, month=month.month, date=1, utc=True)


def _timeline_intervals(
    intervals: pl.DataFrame, timezone: str, start: datetime, end: datetime
) -> pl.DataFrame:
    """Active intervals clipped to ``[start, end)`` (naive wall-clock), as text."""
    local_start = pl.col("activated_at").dt.convert_time_zone(timezone)
    local_end = pl.col("deactivated_at").dt.convert_time_zone(timezone)
    naive_start = local_start.dt.replace_time_zone(None)
    naive_end = local_end.dt.replace_time_zone(None).fill_null(end)
    return (
        intervals.select(
            "learner_id",
            pl.max_horizontal(naive_start, pl.lit(start)).alias("start"),
            pl.min_horizontal(naive_end, pl.lit(end)).alias("end"),
            _local_text(pl.col("activated_at"), timezone).alias("activated"),
            _local_text(pl.col("deactivated_at"), timezone)
            .fill_null("still Active")
            .alias("deactivated"),
            pl.lit("active").alias("event"),
        )
        .filter(pl.col("start") < pl.col("end"))
        .with_columns(
            pl.col("start").dt.strftime(_ISO_Z), pl.col("end").dt.strftime(_ISO_Z)
        )
        .sort("learner_id", "start")
    )


def _timeline_activity(
    activity: pl.DataFrame, timezone: str, start: datetime, end: datetime
) -> pl.DataFrame:
    """Activities inside ``[start, end)`` (wall-clock) with their legend entry."""
    naive = (
        pl.col("occurred_at").dt.convert_time_zone(timezone).dt.replace_time_zone(None)
    )
    outcome = pl.col("outcome").cast(pl.String)
    return (
        activity.filter(naive >= start, naive < end)
        .select(
            "learner_id",
            _wall_clock(pl.col("occurred_at"), timezone).alias("at"),
            _local_text(pl.col("occurred_at"), timezone).alias("occurred"),
            "activity",
            "channel",
            outcome.alias("outcome"),
            "line",
            pl.when(outcome.str.starts_with("rejected_"))
            .then(pl.lit("rejected"))
            .otherwise(outcome)
            .alias("event"),
        )
        .sort("learner_id", "at", "line")
    )


def _event_color() -> alt.Color:
    return alt.Color(
        "event:N",
        title="Event",
        scale=alt.Scale(domain=list(EVENT_KINDS), range=list(_EVENT_COLORS)),
        legend=alt.Legend(orient="bottom", symbolStrokeWidth=0),
    )


def _event_shape() -> alt.Shape:
    return alt.Shape(
        "event:N",
        title="Event",
        scale=alt.Scale(domain=list(EVENT_KINDS), range=list(_EVENT_SHAPES)),
        legend=alt.Legend(orient="bottom", symbolStrokeWidth=0),
    )


def status_timeline(
    intervals: pl.DataFrame,
    activity: pl.DataFrame | None = None,
    *,
    timezone: str,
    first_month: date,
    last_month: date,
) -> alt.LayerChart:
    """One row per learner: Active intervals as bars, activities as points.

    Rejected attempts (an ``outcome`` starting with ``rejected_``) are drawn as
    red crosses in a layer of their own (legend entry ``rejected``), so an
    activity on an inactive learner is visible, never hidden [1]_. Times are the
    wall-clock times of ``timezone``; the x axis spans the period, with a grid
    line at each month start, so the months an interval touches can be read off.

    Parameters
    ----------
    intervals : pl.DataFrame
        ``learner_id`` String, ``activated_at`` Datetime(us, UTC) (inclusive),
        ``deactivated_at`` Datetime(us, UTC) (exclusive; null while still
        Active), as `meter_sim.billing.Bill.intervals`. Any order. An open
        interval is drawn to the end of ``last_month``; intervals are clipped
        to the period.
    activity : pl.DataFrame or None
        ``line`` Int64, ``learner_id`` String, ``occurred_at`` Datetime(us, UTC),
        ``activity`` String, ``channel`` String, ``outcome`` Enum or String (an
        `meter_sim.lifecycle.Outcome` value), as
        `meter_sim.billing.Bill.activity`. Rows outside the period are left out.
        None draws the intervals only.
    timezone : str
        IANA billing time zone in which times are shown.
    first_month, last_month : date
        First days of the period's first and last months (inclusive).

    Returns
    -------
    alt.LayerChart
        Layers in order: Active intervals (``mark_bar``), activities not
        rejected (``mark_point``), rejected attempts (``mark_point`` with a
        cross); the last two only when ``activity`` is given. Each layer holds
        its own rows.

    References
    ----------
    .. [1] "Active Learners and Metering", "A Learner must be Active in order to
       allow activity."; DESIGN.md section 1.
    """
    start = datetime.combine(first_month.replace(day=1), datetime.min.time())
    end = datetime.combine(_next_month(last_month), datetime.min.time())
    bars = _timeline_intervals(intervals, timezone, start, end)
    x_scale = alt.Scale(
        type="utc", domain=[_utc_datetime(first_month), _utc_datetime(end.date())]
    )
    x_axis = alt.Axis(format="%b %Y", tickCount={"interval": "month", "step": 1})
    x_title = f"Wall-clock time [{timezone}]"
    y = alt.Y("learner_id:N", title="Learner [learner_id]", sort="ascending")
    base = alt.Chart(bars).encode(y=y)
    interval_layer = base.mark_bar(
        height={"band": 0.55}, stroke=_EVENT_COLORS[0], strokeWidth=2
    ).encode(
        x=alt.X("start:T", title=x_title, scale=x_scale, axis=x_axis),
        x2="end:T",
        color=_event_color(),
        tooltip=[
            alt.Tooltip("learner_id:N", title="learner"),
            alt.Tooltip("activated:N", title=f"activated ({timezone})"),
            alt.Tooltip("deactivated:N", title=f"deactivated ({timezone})"),
        ],
    )
    layers: list[alt.Chart] = [interval_layer]
    if activity is not None:
        points = _timeline_activity(activity, timezone, start, end)
        tooltip = [
            alt.Tooltip("learner_id:N", title="learner"),
            alt.Tooltip("occurred:N", title=f"at ({timezone})"),
            alt.Tooltip("activity:N", title="activity"),
            alt.Tooltip("channel:N", title="channel"),
            alt.Tooltip("outcome:N", title="outcome"),
            alt.Tooltip("line:Q", title="line [line]"),
        ]
        x = alt.X("at:T", title=x_title, scale=x_scale, axis=x_axis)
        kept = points.filter(pl.col("event") != "rejected")
        rejected = points.filter(pl.col("event") == "rejected")
        layers.append(
            alt.Chart(kept)
            .mark_point(filled=True, size=70, opacity=0.9, yOffset=-_LANE)
            .encode(
                x=x,
                y=y,
                color=_event_color(),
                shape=_event_shape(),
                tooltip=tooltip,
            )
        )
        layers.append(
            alt.Chart(rejected)
            .mark_point(filled=True, size=150, opacity=1, yOffset=_LANE)
            .encode(
                x=x,
                y=y,
                color=_event_color(),
                shape=_event_shape(),
                tooltip=tooltip,
            )
        )
    n_learners = intervals.select(pl.col("learner_id").n_unique()).item()
    return alt.LayerChart(
        layer=layers,
        title=alt.Title(
            "Learner status timeline",
            subtitle=(
                f"Active intervals, activities and rejected attempts; "
                f"{first_month:%Y-%m} to {last_month:%Y-%m}, {n_learners} learner(s)"
            ),
        ),
        height=alt.Step(_ROW),
    )


def billed_months(
    learner_months: pl.DataFrame, *, first_month: date, last_month: date
) -> alt.Chart:
    """A learner x month grid of the billable learner-months, coloured by reason.

    A learner is billed once for a month in which it was Active at any instant
    [1]_; each cell shows why (``created_active``, ``carried_over``,
    ``reactivated``). Months of the period nobody was billed stay as empty columns.

    Parameters
    ----------
    learner_months : pl.DataFrame
        ``learner_id`` String, ``month`` Date (first day), ``reason`` Enum or
        String, one row per billable learner-month, as
        `meter_sim.billing.Bill.learner_months`.
    first_month, last_month : date
        First days of the period's first and last months (inclusive); every
        month between them gets a column.

    Returns
    -------
    alt.Chart
        ``mark_rect`` with x ``month`` (ordinal ``YYYY-MM`` text), y
        ``learner_id``, colour ``reason``.

    References
    ----------
    .. [1] "Active Learners and Metering", "Can I switch a Learner from Active to
       Inactive (and vice-versa) more than once in a month?"
    """
    cells = learner_months.select(
        "learner_id",
        _month_label(pl.col("month")).alias("month"),
        pl.col("reason").cast(pl.String),
    ).sort("learner_id", "month")
    labels = _period_labels(first_month, last_month)
    chart: alt.Chart = (
        alt.Chart(cells)
        .mark_rect(stroke="white", strokeWidth=2)
        .encode(
            x=alt.X(
                "month:O",
                title="Billing month [YYYY-MM]",
                scale=alt.Scale(domain=labels),
                axis=alt.Axis(labelAngle=0),
            ),
            y=alt.Y("learner_id:N", title="Learner [learner_id]", sort="ascending"),
            color=alt.Color(
                "reason:N",
                title="Billed because",
                scale=alt.Scale(domain=list(REASONS), range=list(_REASON_COLORS)),
                legend=alt.Legend(orient="bottom"),
            ),
            tooltip=[
                alt.Tooltip("learner_id:N", title="learner"),
                alt.Tooltip("month:O", title="month"),
                alt.Tooltip("reason:N", title="reason"),
            ],
        )
        .properties(
            title=alt.Title(
                "Billed learner-months",
                subtitle=f"{cells.height} learner-month(s); one per learner and month",
            ),
            height=alt.Step(_ROW),
            width=alt.Step(_MONTH),
        )
    )
    return chart


def _learner_axis(top: int) -> alt.Axis:
    """A learners axis; below 10 learners one tick per learner (no half learners)."""
    if top < 10:
        return alt.Axis(values=list(range(top + 1)), format="d")
    return alt.Axis(format=",d")


def _bill_rows(monthly: pl.DataFrame) -> pl.DataFrame:
    return monthly.select(
        _month_label(pl.col("month")).alias("month"),
        pl.col("billable_learners", "included_learners", "overage_learners").cast(
            pl.Int64
        ),
        pl.col("total").cast(pl.Float64),
    ).sort("month")


def _amount_rows(monthly: pl.DataFrame) -> pl.DataFrame:
    """One row per month and invoice line kind drawn (e-Learning when billed)."""
    kinds = [
        kind
        for kind, column in zip(_LINE_KINDS, _LINE_AMOUNTS, strict=True)
        if column in monthly.columns
    ]
    amounts = dict(zip(_LINE_KINDS, _LINE_AMOUNTS, strict=True))
    return (
        monthly.select(
            _month_label(pl.col("month")).alias("month"),
            *(pl.col(amounts[kind]).cast(pl.Float64).alias(kind) for kind in kinds),
            pl.col("total").cast(pl.Float64),
        )
        .unpivot(
            kinds,
            index=["month", "total"],
            variable_name="line",
            value_name="amount",
        )
        .with_columns(
            pl.col("line")
            .replace_strict({k: i for i, k in enumerate(_LINE_KINDS)})
            .alias("order")
        )
        .sort("month", "order")
    )


def _learner_panel(rows: pl.DataFrame, x: alt.X) -> alt.LayerChart:
    base = alt.Chart(rows).encode(x=x)
    tooltip = [
        alt.Tooltip("month:O", title="month"),
        alt.Tooltip("billable_learners:Q", title="billable [learners]"),
        alt.Tooltip("included_learners:Q", title="included [learners]"),
        alt.Tooltip("overage_learners:Q", title="overage [learners]"),
    ]
    legend = alt.Scale(
        domain=["billable learners", "included learners", "overage learners"],
        range=[_EVENT_COLORS[0], "#d62728", "#f58518"],
    )
    top = rows.select(pl.max_horizontal("billable_learners", "included_learners"))
    axis = _learner_axis(int(top.max().item() or 0))
    title = "Billable learners [learners]"
    bars = base.mark_bar(width={"band": 0.7}).encode(
        y=alt.Y("billable_learners:Q", title=title, axis=axis),
        color=alt.Color(
            "legend:N",
            title=None,
            scale=legend,
            legend=alt.Legend(symbolType="square", symbolOpacity=1),
        ),
        tooltip=tooltip,
    )
    labels = base.mark_text(dy=-7, fontSize=11).encode(
        y=alt.Y("billable_learners:Q", title=title, axis=axis),
        text=alt.Text("billable_learners:Q"),
    )
    included = base.mark_tick(thickness=3, size=_MONTH - 8).encode(
        y=alt.Y("included_learners:Q", title=title, axis=axis),
        color=alt.Color("legend_included:N", title=None, scale=legend),
        tooltip=tooltip,
    )
    overage = (
        alt.Chart(rows.filter(pl.col("overage_learners") > 0))
        .mark_bar(width={"band": 0.7}, opacity=0.85)
        .encode(
            x=x,
            y=alt.Y("included_learners:Q", title=title, axis=axis),
            y2="billable_learners:Q",
            color=alt.Color("legend_overage:N", title=None, scale=legend),
            tooltip=tooltip,
        )
    )
    return alt.LayerChart(
        layer=[bars, labels, included, overage],
        title=alt.Title(
            "Billable learners per month",
            subtitle="Bars: distinct Active Learners, overage shaded; red ticks: "
            "included learners",
        ),
        height=180,
        width=alt.Step(_MONTH),
    )


def _amount_panel(
    rows: pl.DataFrame, x: alt.X, currency: str, *, elearning: bool
) -> alt.LayerChart:
    money = ",.2f"
    tooltip = [
        alt.Tooltip("month:O", title="month"),
        alt.Tooltip("line:N", title="invoice line"),
        alt.Tooltip("amount:Q", title=f"amount [{currency}]", format=money),
        alt.Tooltip("total:Q", title=f"month total [{currency}]", format=money),
    ]
    shown = len(_LINE_KINDS) if elearning else len(_LINE_KINDS) - 1
    bars = (
        alt.Chart(rows)
        .mark_bar(width={"band": 0.7})
        .encode(
            x=x,
            y=alt.Y("amount:Q", title=f"Amount [{currency}]", stack="zero"),
            color=alt.Color(
                "line:N",
                title="Invoice line",
                scale=alt.Scale(
                    domain=list(_LINE_KINDS[:shown]), range=list(_LINE_COLORS[:shown])
                ),
            ),
            order=alt.Order("order:Q", sort="ascending"),
            tooltip=tooltip,
        )
    )
    totals = (
        alt.Chart(rows.unique("month", keep="first", maintain_order=True))
        .mark_text(dy=-7, fontSize=11)
        .encode(
            x=x,
            y=alt.Y("total:Q", title=f"Amount [{currency}]"),
            text=alt.Text("total:Q", format=money),
        )
    )
    return alt.LayerChart(
        layer=[bars, totals],
        title=alt.Title(
            f"Monthly total [{currency}]",
            subtitle="Stacked invoice lines: base subscription and overage"
            + (" (LRM and e-Learning)" if elearning else ""),
        ),
        height=180,
        width=alt.Step(_MONTH),
    )


def monthly_bill(monthly: pl.DataFrame, *, currency: str) -> alt.VConcatChart:
    """The month-by-month bill: billable learners above, money below.

    The upper panel shows billable learners per month as bars with the plan's
    included learners as a tick; learners above the tick are overage [1]_. The
    lower panel stacks each month's invoice lines (base subscription, overage,
    and e-Learning overage when the bill has the e-Learning meter) to the month
    total. The direct-debit surcharge, one-off fees, true-up and tax are lines
    of the invoice only, not of ``monthly``, and are not drawn.

    Parameters
    ----------
    monthly : pl.DataFrame
        Columns of `meter_sim.pricing.MONTHLY_BILL_SCHEMA`, as
        `meter_sim.billing.Bill.monthly`: ``month`` Date (first day),
        ``billable_learners``, ``included_learners``, ``overage_learners``
        UInt32 [learners]; ``base_fee``, ``overage_amount``, ``total``
        Decimal(38, 2) [``currency``]. One row per month. Optionally, as
        `meter_sim.pricing.MONTHLY_BILL_ELEARNING_SCHEMA`,
        ``elearning_overage_amount`` Decimal(38, 2) [``currency``], drawn as
        the ``elearning_overage`` line (the e-Learning counts are drawn by
        `meters_chart`).
    currency : str
        ISO 4217 code of the amounts, shown in the axis title, e.g. ``"AUD"``.

    Returns
    -------
    alt.VConcatChart
        Two layered panels sharing the month axis (ordinal ``YYYY-MM`` text):
        learners (``mark_bar`` + ``mark_text`` + ``mark_tick``) and amounts
        (stacked ``mark_bar`` + ``mark_text``).

    References
    ----------
    .. [1] "Active Learners and Metering", "What is the Base Subscription?";
       DESIGN.md section 1, Charging.
    """
    learners = _bill_rows(monthly).with_columns(
        pl.lit("billable learners").alias("legend"),
        pl.lit("included learners").alias("legend_included"),
        pl.lit("overage learners").alias("legend_overage"),
    )
    amounts = _amount_rows(monthly)
    elearning = "elearning_overage_amount" in monthly.columns
    labels = learners["month"].to_list()
    x = alt.X(
        "month:O",
        title="Billing month [YYYY-MM]",
        scale=alt.Scale(domain=labels),
        axis=alt.Axis(labelAngle=0),
    )
    return alt.VConcatChart(
        vconcat=[
            _learner_panel(learners, x),
            _amount_panel(amounts, x, currency, elearning=elearning),
        ],
        title=alt.Title(f"Monthly bill [{currency}]"),
        resolve=alt.Resolve(
            scale=alt.ScaleResolveMap(color="independent"),
            legend=alt.LegendResolveMap(color="independent"),
        ),
    )


def _meter_rows(monthly: pl.DataFrame) -> pl.DataFrame:
    """One row per month and meter: learners, included and overage (Int64)."""
    return pl.concat(
        [
            monthly.select(
                _month_label(pl.col("month")).alias("month"),
                pl.lit(meter).alias("meter"),
                pl.lit(rank).alias("rank"),
                pl.col(counted).cast(pl.Int64).alias("learners"),
                pl.col(included).cast(pl.Int64).alias("included"),
                pl.col(over).cast(pl.Int64).alias("overage"),
            )
            for rank, (meter, (counted, included, over)) in enumerate(
                zip(METERS, _METER_COLUMNS, strict=True)
            )
        ]
    ).sort("month", "rank")


def meters_chart(
    monthly: pl.DataFrame, *, title: str = "Active Learners per meter"
) -> alt.LayerChart:
    """Both meters month by month: LRM and e-Learning Active Learners.

    The LRM meter counts the learners whose Is Active was Yes at some instant
    of the month [1]_; the e-Learning meter, independently, the learners with at
    least one Enabled e-Learning enrolment at some instant of it [2]_. Each is
    drawn as a line with a point per month, and the included learners of each
    meter's tier as a dashed line of the same colour (a step where a tier change
    takes effect; where both meters include as many, one dashed line hides the
    other); the tooltip gives each month's overage learners.

    Parameters
    ----------
    monthly : pl.DataFrame
        The month-by-month bill of both meters, as
        `meter_sim.billing.Bill.monthly` of a bill with an e-Learning log
        (`meter_sim.pricing.MONTHLY_BILL_ELEARNING_SCHEMA`): ``month`` Date
        (first day); ``billable_learners``, ``included_learners``,
        ``overage_learners``, ``elearning_learners``,
        ``included_elearning_learners``, ``elearning_overage_learners``
        integers [learners]. One row per month; other columns are ignored.
    title : str
        The chart's title.

    Returns
    -------
    alt.LayerChart
        Layers: ``mark_line`` with points of each meter's count (colour
        ``meter``, `METERS`) and dashed ``mark_line`` of each meter's included
        learners; x ``month`` (ordinal ``YYYY-MM`` text), y learners. Rows:
        ``month``, ``meter``, ``rank`` (legend order), ``learners``,
        ``included``, ``overage`` [learners].

    Raises
    ------
    ValueError
        If a column is missing (naming it): without ``elearning_learners`` the
        bill has no e-Learning meter (bill with ``elearning=``).

    References
    ----------
    .. [1] "Active Learners and Metering"; DESIGN.md section 1, Metering.
    .. [2] ``reference/domain-research.md`` sections 2.4 and 6.4, rule 18.
    """
    if "elearning_learners" not in monthly.columns:
        msg = (
            "`monthly` has no `elearning_learners` column: the bill has no "
            "e-Learning meter; bill with an e-Learning enrolment log "
            "(`bill(..., elearning=...)`, `meter-sim bill --elearning LOG`)"
        )
        raise ValueError(msg)
    needed = ["month", *(c for columns in _METER_COLUMNS for c in columns)]
    missing = [c for c in needed if c not in monthly.columns]
    if missing:
        msg = f"`monthly` has no `{missing[0]}` column (needed: {', '.join(needed)})"
        raise ValueError(msg)
    rows = _meter_rows(monthly)
    labels = rows["month"].unique(maintain_order=True).to_list()
    x = alt.X(
        "month:O",
        title="Billing month [YYYY-MM]",
        scale=alt.Scale(domain=labels),
        axis=alt.Axis(labelAngle=0),
    )
    top = rows.select(pl.max_horizontal("learners", "included").max()).item()
    y_title = "Active Learners [learners]"
    color = alt.Color(
        "meter:N",
        title="Meter",
        scale=alt.Scale(domain=list(METERS), range=list(_METER_COLORS)),
        legend=alt.Legend(orient="bottom"),
    )
    tooltip = [
        alt.Tooltip("month:O", title="month"),
        alt.Tooltip("meter:N", title="meter"),
        alt.Tooltip("learners:Q", title="billable [learners]"),
        alt.Tooltip("included:Q", title="included [learners]"),
        alt.Tooltip("overage:Q", title="overage [learners]"),
    ]
    axis = _learner_axis(int(top or 0))
    base = alt.Chart(rows).encode(x=x, color=color, tooltip=tooltip)
    counted = base.mark_line(point={"filled": True, "size": 60}, strokeWidth=2).encode(
        y=alt.Y("learners:Q", title=y_title, axis=axis)
    )
    included = base.mark_line(
        strokeDash=[6, 3], strokeWidth=1.5, interpolate="step"
    ).encode(y=alt.Y("included:Q", title=y_title, axis=axis))
    return alt.LayerChart(
        layer=[counted, included],
        title=alt.Title(
            title,
            subtitle="Lines: billable learners of each meter; dashed: included "
            "learners of each meter's tier (above it: overage)",
        ),
        height=200,
        width=alt.Step(_MONTH),
    )


def annual_cost(annual: pl.DataFrame) -> alt.Chart:
    """Each plan's cost per billing year, as grouped bars (ex tax).

    Parameters
    ----------
    annual : pl.DataFrame
        As `meter_sim.pricing.annual_costs`: ``plan``, ``name``, ``currency``
        String, ``billing_year`` Date, ``months`` UInt32, ``total_ex_tax`` and
        ``total_inc_tax`` Decimal(38, 2) [currency]. One row per plan and year.

    Returns
    -------
    alt.Chart
        ``mark_bar`` with x = plan name (nominal), y = ``total_ex_tax``
        (quantitative), color and column offset = billing year; tooltips give
        both totals and the months covered.

    Raises
    ------
    PricingError
        If the plans are in more than one currency (their amounts cannot share
        an axis).
    """
    currencies = annual["currency"].unique().sort().to_list()
    if len(currencies) > 1:
        msg = f"plans in several currencies cannot share one axis: {currencies}"
        raise PricingError(msg)
    currency = currencies[0] if currencies else ""
    money = ",.2f"
    rows = annual.with_columns(
        pl.col("billing_year").dt.strftime("%Y-%m").alias("year"),
        pl.col("total_ex_tax", "total_inc_tax").cast(pl.Float64),
    ).drop("billing_year")
    # Sorted by a rank field, not a list of names: Vega-Lite writes a list into
    # an expression, which some names (a U+2028) break.
    cheapest_first = (
        rows.group_by("name")
        .agg(pl.col("total_ex_tax").sum())
        .sort("total_ex_tax", "name")
        .with_row_index("rank")
        .select("name", "rank")
    )
    rows = rows.join(cheapest_first, on="name", how="left", maintain_order="left")
    chart: alt.Chart = (
        alt.Chart(rows)
        .mark_bar()
        .encode(
            x=alt.X(
                "name:N",
                title="Plan (cheapest over the period first)",
                sort=alt.EncodingSortField("rank", op="min"),
                axis=alt.Axis(labelAngle=-20),
            ),
            xOffset=alt.XOffset("year:N"),
            y=alt.Y(
                "total_ex_tax:Q", title=f"Cost per billing year, ex tax [{currency}]"
            ),
            color=alt.Color("year:N", title="Billing year"),
            tooltip=[
                alt.Tooltip("name:N", title="plan"),
                alt.Tooltip("year:N", title="billing year from"),
                alt.Tooltip("months:Q", title="months covered [months]"),
                alt.Tooltip(
                    "total_ex_tax:Q", title=f"ex tax [{currency}]", format=money
                ),
                alt.Tooltip(
                    "total_inc_tax:Q", title=f"inc tax [{currency}]", format=money
                ),
            ],
        )
        .properties(
            title=alt.Title(
                f"Annual cost per plan [{currency}]",
                subtitle="Same usage priced under each plan of the price book; "
                "a partly covered year shows only its months",
            ),
            width=alt.Step(28),
        )
    )
    return chart


def strategy_comparison(table: pl.DataFrame, *, currency: str) -> alt.HConcatChart:
    """Strategies side by side: what each costs and how many status changes it takes.

    Parameters
    ----------
    table : pl.DataFrame
        As `meter_sim.simulate.StrategyComparison.table`: ``strategy`` String,
        ``learner_months`` UInt32 [learner-months], ``total_ex_tax``,
        ``total_inc_tax`` Decimal(38, 2) [``currency``], ``toggles`` UInt32
        [changes], ``delay_days`` Float64 [days], ``blocked`` UInt32 [needs].
    currency : str
        ISO 4217 code of the amounts, for axis titles.

    Returns
    -------
    alt.HConcatChart
        Two bar charts sharing the strategy order of ``table``: cost (ex tax) and
        status toggles; tooltips give every column.
    """
    rows = table.with_columns(pl.col("total_ex_tax", "total_inc_tax").cast(pl.Float64))
    order = rows["strategy"].to_list()
    money = ",.2f"
    tooltip = [
        alt.Tooltip("strategy:N", title="strategy"),
        alt.Tooltip("learner_months:Q", title="billable learner-months"),
        alt.Tooltip("total_ex_tax:Q", title=f"ex tax [{currency}]", format=money),
        alt.Tooltip("total_inc_tax:Q", title=f"inc tax [{currency}]", format=money),
        alt.Tooltip("toggles:Q", title="status changes [changes]"),
        alt.Tooltip(
            "delay_days:Q", title="delay imposed on needs [days]", format=",.1f"
        ),
        alt.Tooltip("blocked:Q", title="blocked needs"),
    ]
    y = alt.Y("strategy:N", title="Strategy", sort=order)
    cost = (
        alt.Chart(rows)
        .mark_bar()
        .encode(
            x=alt.X("total_ex_tax:Q", title=f"Cost, ex tax [{currency}]"),
            y=y,
            tooltip=tooltip,
        )
        .properties(title="Cost over the period", width=260)
    )
    effort = (
        alt.Chart(rows)
        .mark_bar(color="#f58518")
        .encode(
            x=alt.X("toggles:Q", title="Status changes [changes]"),
            y=y,
            tooltip=tooltip,
        )
        .properties(title="Admin effort", width=200)
    )
    return alt.HConcatChart(
        hconcat=[cost, effort],
        title=alt.Title(
            f"Status-management strategies compared [{currency}]",
            subtitle="Same needs; each strategy sets Is Active its own way",
        ),
    )


def forecast_fan(
    bands: pl.DataFrame, *, included_learners: int | None = None
) -> alt.LayerChart:
    """Monthly billable learners forecast: the p10-p90 band and the median.

    Parameters
    ----------
    bands : pl.DataFrame
        As `meter_sim.simulate.Forecast.bands`: ``strategy`` String, ``month``
        Date, ``billable_p10``, ``billable_p50``, ``billable_p90`` Float64
        [learners] (the ``total_*`` columns are ignored).
    included_learners : int or None
        The plan's included learners, drawn as a horizontal rule. [learners]

    Returns
    -------
    alt.LayerChart
        ``mark_area`` (p10 to p90, one colour per strategy) under ``mark_line``
        (p50), and ``mark_rule`` for the included learners when given.
    """
    rows = bands.select(
        "strategy",
        pl.col("month").dt.strftime("%Y-%m").alias("label"),
        "billable_p10",
        "billable_p50",
        "billable_p90",
    )
    x = alt.X("label:O", title="Billing month [YYYY-MM]", axis=alt.Axis(labelAngle=-45))
    color = alt.Color("strategy:N", title="Strategy", sort=None)
    tooltip = [
        alt.Tooltip("strategy:N"),
        alt.Tooltip("label:O", title="month"),
        alt.Tooltip("billable_p10:Q", title="p10 [learners]", format=",.0f"),
        alt.Tooltip("billable_p50:Q", title="median [learners]", format=",.0f"),
        alt.Tooltip("billable_p90:Q", title="p90 [learners]", format=",.0f"),
    ]
    band = (
        alt.Chart(rows)
        .mark_area(opacity=0.2)
        .encode(
            x=x,
            y=alt.Y("billable_p10:Q", title="Billable learners [learners]"),
            y2="billable_p90:Q",
            color=color,
            tooltip=tooltip,
        )
    )
    median = (
        alt.Chart(rows)
        .mark_line(point=True)
        .encode(x=x, y="billable_p50:Q", color=color, tooltip=tooltip)
    )
    layers: list[alt.Chart] = [band, median]
    if included_learners is not None:
        rule = pl.DataFrame({"included": [included_learners]})
        layers.append(
            alt.Chart(rule)
            .mark_rule(color="#d62728", strokeDash=[6, 3])
            .encode(
                y="included:Q",
                tooltip=[alt.Tooltip("included:Q", title="included [learners]")],
            )
        )
    return alt.LayerChart(
        layer=layers,
        title=alt.Title(
            "Forecast of billable learners",
            subtitle="Shaded: p10 to p90 over the runs; line: median; dashed: included",
        ),
        width=alt.Step(22),
    )


def commitment_curve(table: pl.DataFrame, *, currency: str) -> alt.LayerChart:
    """Expected and p90 annual cost per commitment (plan); cheapest, safest marked.

    Parameters
    ----------
    table : pl.DataFrame
        As `meter_sim.simulate.commitment_table`: ``plan`` String,
        ``expected_annual``, ``p90_annual`` Decimal [``currency`` per year],
        ``cheapest``, ``safest`` Boolean. Plans are drawn cheapest first.
    currency : str
        ISO 4217 code, for the axis title.

    Returns
    -------
    alt.LayerChart
        ``mark_line`` with points for the expected and the p90 annual cost per
        plan, and ``mark_text`` labels on the cheapest and safest plans.
    """
    # A rank field, not a list of names (see `annual_cost`).
    rows = table.sort("expected_annual", "plan").select(
        "plan",
        pl.int_range(pl.len()).alias("rank"),
        pl.col("expected_annual").cast(pl.Float64).alias("expected"),
        pl.col("p90_annual").cast(pl.Float64).alias("p90"),
        pl.concat_str(
            pl.when("cheapest").then(pl.lit("cheapest ")).otherwise(pl.lit("")),
            pl.when("safest").then(pl.lit("safest")).otherwise(pl.lit("")),
        )
        .str.strip_chars()
        .alias("mark"),
    )
    long = rows.unpivot(
        index=["plan", "rank", "mark"], on=["expected", "p90"], variable_name="measure"
    )
    money = ",.2f"
    x = alt.X(
        "plan:N",
        title="Commitment (plan)",
        sort=alt.EncodingSortField("rank", op="min"),
        axis=alt.Axis(labelAngle=-20),
    )
    lines = (
        alt.Chart(long)
        .mark_line(point=True)
        .encode(
            x=x,
            y=alt.Y("value:Q", title=f"Annual cost, ex tax [{currency} per year]"),
            color=alt.Color("measure:N", title="Annual cost"),
            tooltip=[
                alt.Tooltip("plan:N"),
                alt.Tooltip("measure:N"),
                alt.Tooltip("value:Q", title=f"[{currency} per year]", format=money),
            ],
        )
    )
    labels = (
        alt.Chart(rows.filter(pl.col("mark") != ""))
        .mark_text(dy=-12, fontWeight="bold")
        .encode(x=x, y="expected:Q", text="mark:N")
    )
    return alt.LayerChart(
        layer=[lines, labels],
        title=alt.Title(
            f"Which commitment to buy [{currency}]",
            subtitle="Expected (mean over the runs) and p90 annual cost of each plan",
        ),
    )


MONTH_VERDICTS: Final = ("ok", "differs", "not_invoiced")
"""Legend entries of `invoice_check`: the verdicts of `Reconciliation.months`."""

_VERDICT_COLORS: Final = ("#9ecae9", "#d62728", "#f58518")
_FINDING_COLORS: Final = ("#b279a2", "#f58518", "#4c78a8")


def _signed(value: pl.Expr) -> pl.Expr:
    """A number as text with its sign, e.g. ``+1`` or ``-7.50``."""
    text = value.cast(pl.String)
    return pl.when(value > 0).then(pl.concat_str(pl.lit("+"), text)).otherwise(text)


def _verdict_color() -> alt.Color:
    return alt.Color(
        "verdict:N",
        title="Month",
        scale=alt.Scale(domain=list(MONTH_VERDICTS), range=list(_VERDICT_COLORS)),
        legend=alt.Legend(orient="bottom"),
    )


def invoice_check(months: pl.DataFrame, *, currency: str) -> alt.VConcatChart:
    """An invoice checked month by month: learners and money, differences marked.

    The upper panel shows each month's billable learners from the logs as a bar
    and the invoiced count as a black tick; the lower panel, the invoiced amount
    minus the expected one. Bars are coloured by the month's verdict, so the
    months that differ stand out, and a month's nonzero difference is written
    above it. A learner is billed once for each month Active at any instant of it
    [1]_; what each difference means is in the tooltip (``findings``).

    Parameters
    ----------
    months : pl.DataFrame
        As `meter_sim.reconcile.Reconciliation.months`: ``month`` Date (first
        day); ``verdict`` Enum or String (`MONTH_VERDICTS`);
        ``expected_learners``, ``invoiced_learners`` (null if not invoiced),
        ``learner_difference`` integers [learners]; ``expected_amount``,
        ``invoiced_amount`` (null if the invoice gives none),
        ``amount_difference`` Decimal [``currency``, before tax]; ``findings``
        String. One row per month; other columns are ignored.
    currency : str
        ISO 4217 code of the amounts, for the axis titles, e.g. ``"AUD"``.

    Returns
    -------
    alt.VConcatChart
        Two layered panels sharing the month axis (ordinal ``YYYY-MM`` text):
        learners (``mark_bar`` of the expected count, ``mark_tick`` of the
        invoiced count, ``mark_text`` of the nonzero differences) and amounts
        (``mark_bar`` of the difference, ``mark_text`` of the nonzero
        differences).

    References
    ----------
    .. [1] "Active Learners and Metering", "Can I switch a Learner from Active to
       Inactive (and vice-versa) more than once in a month?"; DESIGN.md section 2
       (``reconcile``).
    """
    rows = months.select(
        _month_label(pl.col("month")).alias("month"),
        pl.col("verdict").cast(pl.String),
        pl.col("expected_learners", "invoiced_learners", "learner_difference").cast(
            pl.Int64
        ),
        pl.col("expected_amount", "invoiced_amount", "amount_difference").cast(
            pl.Float64
        ),
        _signed(pl.col("learner_difference")).alias("learner_label"),
        _signed(pl.col("amount_difference")).alias("amount_label"),
        pl.max_horizontal("expected_learners", "invoiced_learners")
        .cast(pl.Int64)
        .alias("top"),
        "findings",
    ).sort("month")
    money = ",.2f"
    tooltip = [
        alt.Tooltip("month:O", title="month"),
        alt.Tooltip("verdict:N", title="verdict"),
        alt.Tooltip("expected_learners:Q", title="expected [learners]"),
        alt.Tooltip("invoiced_learners:Q", title="invoiced [learners]"),
        alt.Tooltip("learner_difference:Q", title="difference [learners]"),
        alt.Tooltip("expected_amount:Q", title=f"expected [{currency}]", format=money),
        alt.Tooltip("invoiced_amount:Q", title=f"invoiced [{currency}]", format=money),
        alt.Tooltip(
            "amount_difference:Q", title=f"difference [{currency}]", format=money
        ),
        alt.Tooltip("findings:N", title="findings"),
    ]
    x = alt.X(
        "month:O",
        title="Billing month [YYYY-MM]",
        scale=alt.Scale(domain=rows["month"].to_list()),
        axis=alt.Axis(labelAngle=0),
    )
    learners_title = "Billable learners [learners]"
    base = alt.Chart(rows).encode(x=x)
    learners = alt.LayerChart(
        layer=[
            base.mark_bar(width={"band": 0.7}).encode(
                y=alt.Y("expected_learners:Q", title=learners_title),
                color=_verdict_color(),
                tooltip=tooltip,
            ),
            alt.Chart(rows.filter(pl.col("invoiced_learners").is_not_null()))
            .mark_tick(color="#222222", thickness=3, size=_MONTH - 8)
            .encode(
                x=x,
                y=alt.Y("invoiced_learners:Q", title=learners_title),
                tooltip=tooltip,
            ),
            alt.Chart(rows.filter(pl.col("learner_difference") != 0))
            .mark_text(dy=-9, fontSize=11, fontWeight="bold")
            .encode(
                x=x,
                y=alt.Y("top:Q", title=learners_title),
                text=alt.Text("learner_label:N"),
            ),
        ],
        title=alt.Title(
            "Billable learners: expected and invoiced",
            subtitle="Bars: from the logs, coloured by the month's verdict; black "
            "ticks: invoiced; labels: invoiced - expected",
        ),
        height=180,
        width=alt.Step(_MONTH),
    )
    amount_title = f"Invoiced - expected [{currency}]"
    differing = rows.filter(pl.col("amount_difference") != 0)
    amounts = alt.LayerChart(
        layer=[
            base.mark_bar(width={"band": 0.7}).encode(
                y=alt.Y("amount_difference:Q", title=amount_title),
                color=_verdict_color(),
                tooltip=tooltip,
            ),
            alt.Chart(differing)
            .mark_text(dy=-9, fontSize=11, fontWeight="bold")
            .encode(
                x=x,
                y=alt.Y("amount_difference:Q", title=amount_title),
                text=alt.Text("amount_label:N"),
            ),
        ],
        title=alt.Title(
            f"Amount difference per month [{currency}]",
            subtitle="Invoiced amount (or the plan's price of the invoiced count) "
            "minus the plan's price of the expected count, before tax",
        ),
        height=140,
        width=alt.Step(_MONTH),
    )
    differ = rows.filter(pl.col("verdict") != "ok").height
    total = months["amount_difference"].sum()
    return alt.VConcatChart(
        vconcat=[learners, amounts],
        title=alt.Title(
            f"Invoice check [{currency}]",
            subtitle=f"{differ} of {rows.height} month(s) do not match; invoiced minus "
            f"expected over the period: {currency} {total}",
        ),
    )


def savings(savings: pl.DataFrame, *, currency: str) -> alt.LayerChart:
    """What the avoidable learner-months cost, per month and kind of finding.

    Each billed learner-month that status management could have avoided (a
    possible duplicate record, a wasted reactivation, a month with no activity)
    costs what removing it from the month's count would save: nothing while the
    count stays within the included learners, the overage price above them.

    Parameters
    ----------
    savings : pl.DataFrame
        As `meter_sim.reconcile.Reconciliation.savings`
        (`meter_sim.savings.SAVINGS_SCHEMA`): ``billing_month`` Date (first day),
        ``learner_id`` String, ``finding`` Enum or String (one of
        `meter_sim.savings.FINDINGS`), ``cost`` Decimal [``currency``, before
        tax]; other columns are ignored. One row per learner-month.
    currency : str
        ISO 4217 code of the costs, for the axis title, e.g. ``"AUD"``.

    Returns
    -------
    alt.LayerChart
        Stacked ``mark_bar`` of the cost per month (ordinal ``YYYY-MM`` text,
        the months with findings) and finding (colour, in the order of
        `meter_sim.savings.FINDINGS`), and ``mark_text`` of each month's total.
        Rows are aggregated per month and finding: ``learner_months``
        [learner-months] and ``cost`` Float64 [``currency``].
    """
    order = {kind: i for i, kind in enumerate(FINDINGS)}
    rows = (
        savings.group_by(
            _month_label(pl.col("billing_month")).alias("month"),
            pl.col("finding").cast(pl.String),
        )
        .agg(pl.len().alias("learner_months"), pl.col("cost").sum())
        .with_columns(
            pl.col("cost").cast(pl.Float64),
            pl.col("finding")
            .replace_strict(order, return_dtype=pl.Int64)
            .alias("order"),
        )
        .sort("month", "order")
    )
    totals = (
        rows.group_by("month")
        .agg(pl.col("learner_months").sum(), pl.col("cost").sum())
        .sort("month")
    )
    money = ",.2f"
    x = alt.X(
        "month:O",
        title="Billing month [YYYY-MM]",
        scale=alt.Scale(domain=totals["month"].to_list()),
        axis=alt.Axis(labelAngle=0),
    )
    y_title = f"Avoidable cost [{currency}]"
    bars = (
        alt.Chart(rows)
        .mark_bar(width={"band": 0.7})
        .encode(
            x=x,
            y=alt.Y("cost:Q", title=y_title, stack="zero"),
            color=alt.Color(
                "finding:N",
                title="Finding",
                scale=alt.Scale(domain=list(FINDINGS), range=list(_FINDING_COLORS)),
                legend=alt.Legend(orient="bottom"),
            ),
            order=alt.Order("order:Q", sort="ascending"),
            tooltip=[
                alt.Tooltip("month:O", title="month"),
                alt.Tooltip("finding:N", title="finding"),
                alt.Tooltip("learner_months:Q", title="learner-months"),
                alt.Tooltip("cost:Q", title=f"cost [{currency}]", format=money),
            ],
        )
    )
    labels = (
        alt.Chart(totals)
        .mark_text(dy=-7, fontSize=11)
        .encode(
            x=x,
            y=alt.Y("cost:Q", title=y_title),
            text=alt.Text("cost:Q", format=money),
        )
    )
    total = savings["cost"].sum()
    return alt.LayerChart(
        layer=[bars, labels],
        title=alt.Title(
            f"Savings: avoidable learner-months [{currency}]",
            subtitle=f"{savings.height} learner-month(s), {currency} {total} in all; "
            "a finding within the included learners costs nothing",
        ),
        height=200,
        width=alt.Step(_MONTH),
    )


# -- self-contained HTML pages ---------------------------------------------------


_SNIPPET: Final = "window.vegaEmbed = vegaEmbed;"
"""A page calls only ``vegaEmbed`` (which brings Vega and Vega-Lite along)."""


@cache
def javascript() -> str:
    """Vega, Vega-Lite and Vega-Embed in one script (`vl_convert.javascript_bundle`).

    The bundle is inlined as it is: it must not contain ``</script`` or
    ``<!--`` (checked), which would end or confuse the ``<script>`` element.

    Raises
    ------
    RuntimeError
        If the bundle of the installed ``vl-convert-python`` cannot be inlined.
    """
    import vl_convert as vlc

    version = alt.SCHEMA_VERSION.lstrip("v").rsplit(".", 1)[0]
    bundle: str = vlc.javascript_bundle(_SNIPPET, vl_version=version)
    lowered = bundle.lower()
    if "</script" in lowered or "<!--" in lowered:  # pragma: no cover - upstream
        msg = "the Vega bundle of vl-convert cannot be inlined in a <script>"
        raise RuntimeError(msg)
    return bundle


_SCRIPT_ESCAPES: Final = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026"}


def json_script(document: object) -> str:
    r"""JSON text that is safe inside any ``<script>`` element, whatever it holds.

    Every ``<``, ``>`` and ``&`` is written as a JSON ``\u`` escape, so no
    string of the data (a plan name ``</script><script>...``, an id ``<!--``)
    can end or confuse the element; every other non-ASCII character, U+2028 and
    U+2029 included, is escaped by `json.dumps`, so the text is also a valid
    JavaScript literal. ``JSON.parse`` gives back the data exactly.

    Parameters
    ----------
    document : object
        Anything `json.dumps` takes (a Vega-Lite spec with its data).

    Returns
    -------
    str
        The JSON text, ASCII ``<``, ``>`` and ``&`` free.
    """
    text = json.dumps(document, separators=(",", ":"))
    return re.sub("[<>&]", lambda m: _SCRIPT_ESCAPES[m.group()], text)


def chart_html(chart: alt.TopLevelMixin, *, title: str) -> str:
    """One self-contained HTML page that draws ``chart``, offline and safely.

    The Vega libraries are inlined (`javascript`) and the spec, with its data,
    sits in a ``<script type="application/json">`` element written by
    `json_script`; the title is HTML-escaped. So the page loads nothing from the
    network and no text of the data (plan names, learner ids, scenario titles)
    can run as script. When the chart is drawn, ``<body>`` gets
    ``data-ready="true"``; an error is shown in ``<p id="error">``.

    Parameters
    ----------
    chart : altair chart
        Any top-level chart of this module.
    title : str
        The page's title (plain text).

    Returns
    -------
    str
        The HTML document.
    """
    with alt.theme.enable(THEME_NAME):
        spec = chart.to_dict()
    heading = html.escape(title)
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="generator" content="meter_sim.charts">
<title>{heading}</title>
<script>{javascript()}</script>
</head>
<body>
<p id="error"></p>
<div id="chart"></div>
<script type="application/json" id="spec">{json_script(spec)}</script>
<script>
const spec = JSON.parse(document.getElementById("spec").textContent);
vegaEmbed("#chart", spec, {{renderer: "svg", actions: false}})
  .then(() => {{ document.body.dataset.ready = "true"; }})
  .catch((error) => {{
    document.getElementById("error").textContent = "The chart failed: " + error;
  }});
</script>
</body>
</html>
"""


CHART_SUFFIXES: Final = (".html", ".png", ".svg")
"""File types `save` writes, by suffix (any case)."""


def save(chart: alt.TopLevelMixin, path: Path, *, title: str) -> None:
    """Save a chart as ``.html`` (`chart_html`), ``.png`` or ``.svg`` (by the suffix).

    Parameters
    ----------
    chart : altair chart
        The chart to save.
    path : Path
        The file to write (replaced if it exists).
    title : str
        The HTML page's title (unused for PNG and SVG).

    Raises
    ------
    LogFormatError
        For another suffix, or a file that cannot be written (field ``chart``).
    """
    suffix = path.suffix.lower()
    if suffix not in CHART_SUFFIXES:
        msg = f"{path}: unknown chart type {suffix!r}; expected .html, .png or .svg"
        raise LogFormatError(msg, source=str(path), field="chart")
    try:
        if suffix == ".html":
            path.write_text(chart_html(chart, title=title), encoding="utf-8")
        else:
            chart.save(path)
    except OSError as exc:
        raise LogFormatError.unwritable(path, exc, "chart", field="chart") from None
