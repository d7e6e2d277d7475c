"""meter_sim: model, forecast and audit per-Active-Learner subscription billing.

A learner is billed once for a calendar month if Active at any instant of it
(Wisenet, "Active Learners and Metering"); see ``docs/DESIGN.md``.
"""

from __future__ import annotations

from importlib.metadata import version

from meter_sim.billing import Bill, bill, run_scenario
from meter_sim.exceptions import (
    InactiveLearnerError,
    InvalidTransitionError,
    LogFormatError,
    MeterSimError,
    PricingError,
    ScenarioError,
)
from meter_sim.lifecycle import (
    ActivityKind,
    Channel,
    Learner,
    Outcome,
    Policy,
    ReadKind,
    Status,
    replay,
)
from meter_sim.logs import ActivityLog, StatusLog, read_activity_log, read_status_log
from meter_sim.metering import learner_months, monthly_usage, status_intervals
from meter_sim.pricing import (
    Invoice,
    InvoiceLine,
    OverageTiers,
    Plan,
    Tier,
    invoice,
    monthly_bill,
)
from meter_sim.reconcile import (
    InvoiceFile,
    Reconciliation,
    VendorReport,
    read_invoice,
    read_vendor_report,
    reconcile,
)
from meter_sim.reports import (
    ACTIVITY_REPORT_SCHEMA,
    STATUS_REPORT_SCHEMA,
    activity_report,
    status_report,
    write_report,
)
from meter_sim.savings import find_savings
from meter_sim.scenario import Scenario, load_plan, load_price_book, load_scenario
from meter_sim.simulate import (
    Forecast,
    StrategyComparison,
    commitment_plans,
    commitment_table,
    compare_strategies,
    forecast,
)
from meter_sim.strategies import STRATEGIES, StrategyRun

__version__ = version("meter-sim")

__all__ = [
    "ACTIVITY_REPORT_SCHEMA",
    "STATUS_REPORT_SCHEMA",
    "STRATEGIES",
    "ActivityKind",
    "ActivityLog",
    "Bill",
    "Channel",
    "Forecast",
    "InactiveLearnerError",
    "InvalidTransitionError",
    "Invoice",
    "InvoiceFile",
    "InvoiceLine",
    "Learner",
    "LogFormatError",
    "MeterSimError",
    "Outcome",
    "OverageTiers",
    "Plan",
    "Policy",
    "PricingError",
    "ReadKind",
    "Reconciliation",
    "Scenario",
    "ScenarioError",
    "Status",
    "StatusLog",
    "StrategyComparison",
    "StrategyRun",
    "Tier",
    "VendorReport",
    "__version__",
    "activity_report",
    "bill",
    "commitment_plans",
    "commitment_table",
    "compare_strategies",
    "find_savings",
    "forecast",
    "invoice",
    "learner_months",
    "load_plan",
    "load_price_book",
    "load_scenario",
    "monthly_bill",
    "monthly_usage",
    "read_activity_log",
    "read_invoice",
    "read_status_log",
    "read_vendor_report",
    "reconcile",
    "replay",
    "run_scenario",
    "status_intervals",
    "status_report",
    "write_report",
]
