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
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from hypothesis import HealthCheck, settings

if TYPE_CHECKING:
    from collections.abc import Iterator

    from playwright.sync_api import Browser

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


CHROMIUM = Path("/usr/bin/chromium")
NO_BROWSER = (
    f"headless Chromium not installed ({CHROMIUM} missing): install Debian's "
    "`chromium` package (`.ci/run` does) to run the browser tests"
)
CHROMIUM_FLAGS = [
    # As root on a closed network (.library/env/machines/python.md, Known to work).
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    """Debian's headless Chromium, driven by Playwright (no browser download)."""
    if not CHROMIUM.exists():
        pytest.skip(NO_BROWSER)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS
        )
        yield launched
        launched.close()
