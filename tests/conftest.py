"""Hypothesis profiles: ``ci`` (default) and ``thorough`` (``HYPOTHESIS_PROFILE``)."""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

# Generation speed varies on a shared 2-core CI machine: a slow draw is not a bug.
SLOW_OK = [HealthCheck.too_slow]
settings.register_profile(
    "ci", max_examples=200, deadline=None, suppress_health_check=SLOW_OK
)
settings.register_profile(
    "thorough", max_examples=20_000, deadline=None, suppress_health_check=SLOW_OK
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
