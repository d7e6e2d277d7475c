"""Write the scenario and plan JSON Schemas into ``scenarios/``.

Run from the repository root after changing a pydantic model of
``meter_sim.scenario`` or ``meter_sim.pricing`` (``tests/test_schema.py`` fails
until the committed files match)::

    uv run python tools/export_schema.py
"""

from __future__ import annotations

import sys
from pathlib import Path

from meter_sim.schema import write_schemas


def main() -> None:
    """Write ``scenarios/scenario.schema.json`` and ``scenarios/plan.schema.json``."""
    folder = Path(__file__).resolve().parent.parent / "scenarios"
    for path in write_schemas(folder):
        sys.stdout.write(f"wrote {path}\n")


if __name__ == "__main__":
    main()
