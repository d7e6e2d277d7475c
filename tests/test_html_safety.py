"""No text of the data can run as script in a page meter_sim writes (issue #18, 1).

Every HTML writer (``plans``, ``compare`` and ``forecast --chart``, ``explore
--out``, and `meter_sim.charts.chart_html` for any chart, learner ids included)
is fed names, ids and titles that would end a ``<script>`` element, open an HTML
comment or add an element with an event handler. Each page is opened in headless
Chromium: it must draw (``data-ready``), show the hostile text as text, run none
of it, and request nothing from the network.
"""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from typer.testing import CliRunner

from meter_sim import charts
from meter_sim.billing import bill
from meter_sim.cli import USAGE_ONLY, app
from tests.helpers import status_log

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Dialog

ROOT = Path(__file__).resolve().parent.parent
runner = CliRunner()

HOSTILE = [
    "</script><script>window.injected = 'script';</script>",
    "<!--<script>window.injected = 'comment';</script>",
    "<img src=x onerror=\"window.injected = 'img'\">",
    "</SCRIPT ><svg onload=\"window.injected = 'svg'\">",
    "\u2028\u2029</script\t><script>window.injected = 'separators';</script>",
    "&lt;/script&gt;<b>&amp;</b>",
]
"""Names, titles and ids each made to break out of a page's script or markup."""


def yaml_text(text: str) -> str:
    """A double-quoted YAML scalar of ``text`` (escapes for backslash and quote)."""
    inner = text.replace("\\", "\\\\").replace('"', '\\"')
    return '"' + inner.replace("\u2028", "\\L").replace("\u2029", "\\P") + '"'


def rename(path: Path, name: str) -> None:
    """Give the scenario or plan file at ``path`` the top-level ``name``."""
    lines = path.read_text(encoding="utf-8").splitlines()
    named = [f"name: {yaml_text(name)}" if x.startswith("name:") else x for x in lines]
    path.write_text("\n".join(named) + "\n", encoding="utf-8")


@pytest.fixture(scope="module")
def hostile_scenarios(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of ``scenarios/`` whose scenario and plan names are hostile."""
    folder = tmp_path_factory.mktemp("hostile") / "scenarios"
    shutil.copytree(ROOT / "scenarios", folder)
    for index, path in enumerate(sorted((folder / "plans").glob("*.yaml"))):
        rename(path, HOSTILE[index % len(HOSTILE)])
    for path in folder.glob("*.yaml"):
        rename(path, HOSTILE[0] + HOSTILE[2])
    return folder


def assert_safe_in_browser(browser: Browser, page_file: Path, shown: str) -> None:
    """The page draws, shows ``shown`` as text, runs none of it, asks no network.

    Only the first characters of ``shown`` are looked for: Vega cuts long axis
    labels with an ellipsis.
    """
    context = browser.new_context()
    requests: list[str] = []
    context.on("request", lambda request: requests.append(request.url))
    page = context.new_page()
    dialogs: list[str] = []

    def refuse(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", refuse)
    page.goto(page_file.as_uri())
    page.wait_for_selector("body[data-ready=true]", timeout=30_000)
    injected = page.evaluate("() => window.injected")
    elements = page.evaluate(
        "() => document.querySelectorAll('img, body > svg, script:not([type])').length"
    )
    texts = page.evaluate(
        "() => Array.from(document.querySelectorAll('svg text, title'))"
        ".map(e => e.textContent).join('\\n')"
    )
    context.close()
    assert injected is None
    assert dialogs == []
    # The page's own scripts: the inlined libraries and the one that draws.
    assert elements == 2
    assert shown[:12] in texts  # Vega cuts long axis labels with an ellipsis
    assert [url for url in requests if not url.startswith("file:")] == []


PAGES = [
    # (command, scenario, options, output option, text the page must show)
    ("plans", "april-to-july.yaml", [], "--chart", HOSTILE[0]),
    # The scenario's name is the page's title (the chart shows strategies).
    ("compare", "april-to-july.yaml", [], "--chart", HOSTILE[0] + HOSTILE[2]),
    # Commitments are named by plan file; the scenario's name is the title.
    ("forecast", "training-provider.yaml", ["--runs", "3"], "--chart", HOSTILE[0]),
    ("explore", "training-provider.yaml", [], "--out", HOSTILE[0] + HOSTILE[2]),
]


@pytest.mark.parametrize(
    ("command", "scenario", "options", "output", "shown"),
    PAGES,
    ids=[page[0] for page in PAGES],
)
def test_every_html_writer_is_safe(
    browser: Browser,
    hostile_scenarios: Path,
    tmp_path: Path,
    command: str,
    scenario: str,
    options: list[str],
    output: str,
    shown: str,
) -> None:
    page = tmp_path / f"{command}.html"
    args = [command, str(hostile_scenarios / scenario), *options, output, str(page)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert_safe_in_browser(browser, page, shown)


def test_any_chart_with_hostile_learner_ids_is_safe(
    browser: Browser, tmp_path: Path
) -> None:
    start = datetime(2018, 4, 11, tzinfo=UTC)
    log = status_log(*((learner_id, start, True) for learner_id in HOSTILE))
    chart = charts.status_timeline(
        bill(log, plan=USAGE_ONLY, timezone="Australia/Sydney").intervals,
        timezone="Australia/Sydney",
        first_month=start.date().replace(day=1),
        last_month=start.date().replace(day=1),
    )
    page = tmp_path / "timeline.html"
    page.write_text(charts.chart_html(chart, title=HOSTILE[3]), encoding="utf-8")
    for learner_id in HOSTILE:
        assert_safe_in_browser(browser, page, learner_id.strip())


def test_json_script_has_no_markup_and_round_trips() -> None:
    import json

    document = {"names": HOSTILE, "nested": [{"id": "\0</script>"}]}
    text = charts.json_script(document)
    assert not {"<", ">", "&"} & set(text)
    assert json.loads(text) == document
