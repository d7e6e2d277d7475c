"""Shared type aliases and option strings (`Literal` aliases) used across meter_sim."""

from __future__ import annotations

from typing import Literal, TypeAlias

OutputFormat: TypeAlias = Literal["table", "csv", "json"]
"""How the command line prints a result: ``{'table', 'csv', 'json'}``."""

BillingReason: TypeAlias = Literal[
    "created_active", "carried_over", "reactivated", "activity_while_inactive"
]
"""Why a learner is billable in a month (DESIGN.md section 1, Metering); the last
only under the Terms' definition (`Definition`)."""

ElearningReason: TypeAlias = Literal["activated", "continuing"]
"""Why a learner is billable on the e-Learning meter in a month (W4's events)."""

Definition: TypeAlias = Literal["flag", "flag_or_activity"]
"""Which learners the LRM meter counts: ``flag`` (Is Active was Yes at some
instant of the month; the help article) or ``flag_or_activity`` (that, or an
activity was recorded in the month while Is Active was No; the Terms' definition
of an LRM Active Learner). DESIGN.md section 1, Metering."""

ReportForm: TypeAlias = Literal["csv", "excel-csv", "parquet"]
"""How a report is written: ``{'csv', 'excel-csv', 'parquet'}`` (`write_report`)."""
