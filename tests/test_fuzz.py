"""Fuzzing the readers: any bytes give a result or a `MeterSimError`, quickly.

Hypothesis feeds the status log, activity log, invoice and vendor report readers
(CSV and Parquet) and the YAML loaders (plan, scenario) with raw bytes, and with
valid files mutated byte by byte (inserted separators, quotes, line breaks, BOMs,
control characters, huge numbers; deleted and repeated spans), which reach much
deeper than random bytes. A log that reads is also billed. The only exception
allowed is `MeterSimError`, and each input must be handled within `SECONDS`.

The ``ci`` profile runs a short fuzz in every ``pytest``; run it longer with::

    HYPOTHESIS_PROFILE=thorough uv run pytest tests/test_fuzz.py -p no:cacheprovider

Whatever a run finds becomes a file of the bad-input corpus (tests/data/bad/).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from meter_sim.billing import bill, run_scenario
from meter_sim.exceptions import MeterSimError
from meter_sim.logs import read_activity_log, read_status_log
from meter_sim.pricing import Plan
from meter_sim.reconcile import read_invoice, read_vendor_report, reconcile
from meter_sim.scenario import load_plan, load_scenario

if TYPE_CHECKING:
    from collections.abc import Callable

ROOT = Path(__file__).parents[1]
SECONDS = 5.0
"""Most time one fuzzed input may take. [s]"""

FUZZ = settings(
    max_examples=settings().max_examples,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
"""The profile's examples for each test (each is a few milliseconds)."""

PLAN = Plan(
    name="Fuzz", currency="AUD", base_fee=0, included_learners=1, overage_price=1
)

SEEDS = {
    "status.csv": (ROOT / "examples" / "status.csv").read_bytes(),
    "activity.csv": (ROOT / "examples" / "activity.csv").read_bytes(),
    "invoice.csv": b"month,billable_learners,amount\n2018-07,2,110.00\n2018-08,1,1.5\n",
    "lines.csv": b"month,learner_id\n2018-07,L1\n2018-07,L2\n",
    "vendor.csv": (
        b"billing_month,learner_id,billable_in_month,first_name,last_name,"
        b"date_of_birth\n2018-07,L1,Y,Ann,Lee,1990-01-02\n2018-07,L2,N,,,\n"
    ),
    "plan.yaml": (ROOT / "scenarios" / "plans" / "premium-graduated.yaml").read_bytes(),
    "scenario.yaml": (ROOT / "tests" / "data" / "minimal.yaml").read_bytes(),
}
"""Valid files to mutate, by the name they are written under."""

PIECES = [
    b",", b"\n", b"\r", b"\r\n", b'"', b'""', b"\x00", b"\xff", b"\xef\xbb\xbf",
    b"\xfe\xff", b"\t", b";", b" ", b":", b"-", b"+", b"T", b"Z", b"z", b".",
    b"9" * 40, b"-1", b"1e999", b".nan", b".inf", b"NaN", b"Infinity", b"yes", b"no",
    b"2018-02-30", b"2018-04-30T23:59:59.999999+14:00", b"2199-12-31T23:00:00-12:00",
    b"&a ", b"*a", b"<<: *a", b"[", b"]", b"{", b"}", b"!!", b"!!binary ", b"? ",
    b"- ", b"#", b"'", b"\\", b"%", b"\xc3", b"\xe2\x80\xa8", b"=1+1", b"@x",
    "\uff11".encode(),  # a full-width digit
]  # fmt: skip
"""Bytes that break files in interesting ways."""


@st.composite
def mutated(draw: st.DrawFn, seed: bytes) -> bytes:
    """``seed`` with a few insertions, deletions, repeats and byte flips."""
    data = bytearray(seed)
    for _ in range(draw(st.integers(1, 6))):
        at = draw(st.integers(0, len(data)))
        op = draw(st.sampled_from(["insert", "delete", "repeat", "flip"]))
        if op == "insert":
            data[at:at] = draw(st.sampled_from(PIECES))
        elif op == "delete":
            del data[at : at + draw(st.integers(1, 12))]
        elif op == "repeat":
            start = draw(st.integers(0, len(data)))
            data[at:at] = data[start : start + draw(st.integers(1, 60))]
        elif data:
            data[min(at, len(data) - 1)] = draw(st.integers(0, 255))
    return bytes(data)


def status_then_bill(path: Path) -> None:
    log = read_status_log(path)
    if log.rows_read:
        bill(log, plan=PLAN)


def activity_then_bill(path: Path) -> None:
    activity = read_activity_log(path)
    bill(read_status_log(ROOT / "examples" / "status.csv"), activity, plan=PLAN)


def invoice_then_reconcile(path: Path) -> None:
    invoice = read_invoice(path)
    if invoice.rows.height:
        status = read_status_log(ROOT / "examples" / "status.csv")
        reconcile(status, invoice, plan=PLAN)


def scenario_then_run(path: Path) -> None:
    run_scenario(load_scenario(path))


TARGETS: dict[str, Callable[[Path], object]] = {
    "status.csv": status_then_bill,
    "activity.csv": activity_then_bill,
    "invoice.csv": invoice_then_reconcile,
    "lines.csv": invoice_then_reconcile,
    "vendor.csv": read_vendor_report,
    "plan.yaml": load_plan,
    "scenario.yaml": scenario_then_run,
}


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


def handled(target: str, data: bytes, folder: Path) -> None:
    """Write ``data`` as ``target`` and read it: a result or a MeterSimError."""
    path = folder / target
    path.write_bytes(data)
    started = time.perf_counter()
    try:
        TARGETS[target](path)
    except MeterSimError as error:
        message = str(error)
    else:
        message = "read"
    assert message  # an error always says what is wrong
    assert time.perf_counter() - started < SECONDS


@FUZZ
@given(target=st.sampled_from(sorted(TARGETS)), data=st.binary(max_size=400))
def test_random_bytes_never_crash_a_reader(
    target: str, data: bytes, workdir: Path
) -> None:
    handled(target, data, workdir)


@FUZZ
@given(target=st.sampled_from(sorted(TARGETS)), data=st.data())
def test_mutated_files_never_crash_a_reader(
    target: str, data: st.DataObject, workdir: Path
) -> None:
    handled(target, data.draw(mutated(SEEDS[target])), workdir)


@FUZZ
@given(data=st.binary(max_size=600), name=st.sampled_from(["status", "invoice"]))
def test_random_bytes_named_parquet_never_crash(
    data: bytes, name: str, workdir: Path
) -> None:
    path = workdir / f"{name}.parquet"
    path.write_bytes(b"PAR1" + data + b"PAR1" if data[:1] == b"\x00" else data)
    try:
        (read_status_log if name == "status" else read_invoice)(path)
    except MeterSimError as error:
        message = str(error)
    else:
        message = "read"
    assert message
