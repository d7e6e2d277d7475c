"""Shared type aliases and option strings (`Literal` aliases) used across meter_sim."""

from __future__ import annotations

from typing import Literal, TypeAlias

OutputFormat: TypeAlias = Literal["table", "csv", "json"]
"""How the command line prints a result: ``{'table', 'csv', 'json'}``."""

BillingReason: TypeAlias = Literal["created_active", "carried_over", "reactivated"]
"""Why a learner is billable in a month (DESIGN.md section 1, Metering)."""

ReportForm: TypeAlias = Literal["csv", "excel-csv", "parquet"]
"""How a report is written: ``{'csv', 'excel-csv', 'parquet'}`` (`write_report`)."""
