"""Hypothesis profiles, chosen with ``HYPOTHESIS_PROFILE`` (default ``ci``).

- ``ci``: what every ``pytest`` run (and CI) uses; the property suite takes well
  under a minute.
- ``slow``: ten times more examples, a few minutes; for a nightly job or before
  changing the engine or the readers.
- ``thorough``: 100,000 examples of each property, for a one-off local run (hours
  on a 2-core machine; see the README's Testing section for the recorded run).

``max_examples`` is per test: tests that are costly per example (the Parquet
differential, the invariants, the round trips) take a fraction of it.
``HYPOTHESIS_MAX_EXAMPLES=N`` sets it for a one-off run, on top of the profile.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

# Generation speed varies on a shared 2-core CI machine: a slow draw is not a bug.
SLOW_OK = [HealthCheck.too_slow]
settings.register_profile(
    "ci", max_examples=200, deadline=None, suppress_health_check=SLOW_OK
)
settings.register_profile(
    "slow", max_examples=2_000, deadline=None, suppress_health_check=SLOW_OK
)
settings.register_profile(
    "thorough",
    max_examples=100_000,
    deadline=None,
    suppress_health_check=SLOW_OK,
    print_blob=True,
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
if os.environ.get("HYPOTHESIS_MAX_EXAMPLES"):
    # A one-off run of a set size, e.g. one shard of a long run per core.
    settings.register_profile(
        "sized",
        settings(max_examples=int(os.environ["HYPOTHESIS_MAX_EXAMPLES"])),
    )
    settings.load_profile("sized")
