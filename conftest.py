"""Skip the notebooks that read the real OULAD data where it is absent.

nbval cannot skip from inside a notebook, so a skip marker with the reason is
added to every cell collected from a notebook of `REAL_DATA_NOTEBOOKS`. This file
sits at the repository root so that it applies however the notebooks are
collected (``pytest`` or ``pytest notebooks/05-real-enrolments.ipynb``).
"""

from __future__ import annotations

import pytest

from tests.helpers import MISSING_OULAD

REAL_DATA_NOTEBOOKS = frozenset({"05-real-enrolments.ipynb"})
"""Notebooks that read the real OULAD data, which is never part of the project."""


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark the cells of `REAL_DATA_NOTEBOOKS` skipped when the data is absent."""
    if MISSING_OULAD is None:
        return
    for item in items:
        if item.path.name in REAL_DATA_NOTEBOOKS:
            item.add_marker(pytest.mark.skip(reason=MISSING_OULAD))
