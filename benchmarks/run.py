"""Time ``meter-sim bill`` against the same billing in DuckDB SQL, and check answers.

One process per measurement (wall time, and peak resident memory of that process
and its children from ``/usr/bin/time``):

- ``meter-sim bill STATUS --timezone Australia/Sydney --included 20000
  --overage-price 2.50 --learner-months OUT.parquet --format json``: the public
  path (the log read and checked, learner-months written to Parquet, the
  monthly usage, invoice and rejected duplicates printed as JSON);
- ``benchmarks/duckdb_bill.py STATUS OUT.parquet``: the billing as DuckDB SQL,
  monthly usage printed as CSV;
- optionally ``meter-sim bill --streaming`` on a larger log.

Each size is run on each of ``--inputs``: a layout of `generate.py`
(``export``: text ids mostly in time order; ``vendor``: 64-bit integer ids,
rows shuffled) and a format (``parquet`` or ``csv``, the same rows).

Each size is measured ``--repeat`` times, the engines taking turns; the best
wall time of each is reported (the machine may be shared), with the largest
peak memory seen. The answers must be identical: the learner-months (learner,
month, reason) as multisets, compared in DuckDB, and the monthly counts; and on
a sample of learners, the lifecycle reference (`meter_sim.lifecycle.replay`)
must give the same learner-months.

Usage (from the repository root)::

    uv run --group bench python benchmarks/run.py /tmp/meter-bench \
        --sizes 1M,10M,30M --inputs export:parquet,vendor:parquet --streaming 300M
    uv run --group bench python benchmarks/run.py /tmp/meter-bench \
        --sizes 2M,10M --inputs export:csv

Writes ``results.json`` and ``results.md`` beside the data.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from datetime import date
from pathlib import Path

import duckdb
import polars as pl

sys.path.insert(0, str(Path(__file__).parent))

from generate import LAYOUTS, log_name, parse_size, size_label
from generate import main as generate_main

from meter_sim.lifecycle import StatusEvent, replay

HERE = Path(__file__).parent
TIMEZONE = "Australia/Sydney"
SAMPLE_LEARNERS = 2_000
"""Learners replayed by the lifecycle reference per size."""


@dataclass
class Run:
    """One measured process: wall time [s] and peak resident memory [MiB]."""

    seconds: float
    peak_mib: float
    stdout: str


@dataclass
class Row:
    """The figures of one size (best of the repeats)."""

    engine: str
    events: int
    seconds: float
    peak_mib: float


def measure_rss(command: list[str]) -> Run:
    """Run ``command`` in its own process: wall time and peak memory.

    The peak resident memory is that of the command and its children, as
    ``/usr/bin/time`` reports it (``wait4`` from a small parent: a process forked
    straight from this one would count this one's memory too).
    ``PYTHONDONTWRITEBYTECODE`` is dropped, as on an ordinary installation, so
    that the warm-up run leaves bytecode and start-up is not timed compiling.
    """
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    start = time.perf_counter()
    done = subprocess.run(
        ["/usr/bin/time", "-f", "peak-kib %M", *command],
        capture_output=True,
        env=env,
        text=True,
        check=False,
    )
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        msg = f"{' '.join(command)} failed ({done.returncode}):\n{done.stderr[-2000:]}"
        raise RuntimeError(msg)
    peak = next(
        line
        for line in reversed(done.stderr.splitlines())
        if line.startswith("peak-kib")
    )
    return Run(seconds, int(peak.split()[1]) / 1024, done.stdout)


def meter_sim_command(status: Path, out: Path, *, streaming: bool = False) -> list[str]:
    """The public ``meter-sim bill`` command line.

    With ``streaming``, the rejected rows go to a file beside ``out``
    (``--rejected``), so that memory does not grow with them.
    """
    command = [str(Path(sys.executable).parent / "meter-sim"), "bill", str(status)]
    command += ["--timezone", TIMEZONE, "--included", "20000"]
    command += ["--overage-price", "2.50"]
    command += ["--learner-months", str(out), "--format", "json"]
    if not streaming:
        return command
    return [
        *command,
        "--streaming",
        "--rejected",
        str(out.with_suffix(".rejected.parquet")),
    ]


def duckdb_command(status: Path, out: Path) -> list[str]:
    """The DuckDB SQL billing command line."""
    return [
        sys.executable,
        str(HERE / "duckdb_bill.py"),
        str(status),
        str(out),
        "--timezone",
        TIMEZONE,
    ]


def months_of_meter_sim(stdout: str) -> list[tuple[str, int]]:
    """``(month, billable_learners)`` from ``meter-sim bill --format json``."""
    document = json.loads(stdout)
    return [(m["month"], m["billable_learners"]) for m in document["months"]]


def months_of_duckdb(stdout: str) -> list[tuple[str, int]]:
    """``(month, billable_learners)`` from ``duckdb_bill.py``'s CSV."""
    rows = stdout.strip().splitlines()[1:]
    return [(a, int(b)) for a, b in (r.split(",") for r in rows)]


def same_learner_months(ours: Path, theirs: Path) -> tuple[int, int, int]:
    """Row counts of both files and rows in one but not the other (multisets)."""
    con = duckdb.connect()
    con.execute("SET enable_progress_bar = false")
    a, b = (
        f"(SELECT learner_id::VARCHAR AS learner_id, month, reason::VARCHAR AS reason"
        f" FROM '{path}')"
        for path in (ours, theirs)
    )
    counts = con.execute(
        f"SELECT (SELECT count(*) FROM {a}), (SELECT count(*) FROM {b}),"
        f" (SELECT count(*) FROM ({a} EXCEPT ALL {b}))"
        f" + (SELECT count(*) FROM ({b} EXCEPT ALL {a}))"
    ).fetchone()
    assert counts is not None
    return int(counts[0]), int(counts[1]), int(counts[2])


def lifecycle_check(status: Path, ours: Path, months: list[tuple[str, int]]) -> int:
    """Learner-months of a sample of learners that differ from the lifecycle replay.

    The learners whose id hash falls in a thin slice are replayed event by event
    over the same period as the bill; returns the size of the symmetric
    difference with ``ours`` for them (0 when they agree).
    """
    rows = pl.scan_parquet(status).select(pl.len()).collect().item()
    share = max(1, rows // (SAMPLE_LEARNERS * 5))
    pick = pl.col("learner_id").hash(seed=42) % share == 0
    sample = (
        pl.scan_parquet(status)
        .with_columns(pl.col("learner_id").cast(pl.String))
        .filter(pick)
        .collect()
    )
    first = date.fromisoformat(months[0][0] + "-01")
    last = date.fromisoformat(months[-1][0] + "-01")
    # Identical rows count once; the lifecycle takes the log's distinct rows.
    events = [
        StatusEvent(lid, at, active)
        for lid, at, active in sample.unique().sort("learner_id", "changed_at").rows()
    ]
    reference = replay(events, [])
    expected = {
        (lid, month, str(reason))
        for lid, learner in reference.learners.items()
        for month, reason in learner.billable_months(TIMEZONE, first, last)
    }
    got = {
        (lid, month, str(reason))
        for lid, month, reason in pl.scan_parquet(ours)
        .join(sample.lazy().select("learner_id").unique(), on="learner_id")
        .collect()
        .rows()
    }
    return len(expected ^ got)


def output(folder: Path, events: int, layout: str, suffix: str, engine: str) -> Path:
    """The learner-months file an engine writes for one input."""
    stem = Path(log_name(events, layout)).stem
    return folder / f"{engine}-{stem}-{suffix}.parquet"


def bench_size(
    folder: Path, events: int, layout: str, suffix: str, repeat: int
) -> dict[str, object]:
    """Measure one size of one input: both engines, ``repeat`` times each; check."""
    parquet = folder / log_name(events, layout)
    status = parquet.with_suffix(f".{suffix}")
    ours, theirs = (output(folder, events, layout, suffix, e) for e in ("ms", "duck"))
    label = f"{size_label(events)} {layout} {suffix}"
    best: dict[str, Run] = {}
    peaks: dict[str, float] = {"meter-sim": 0.0, "duckdb": 0.0}
    for _ in range(repeat):
        for engine, command in (
            ("meter-sim", meter_sim_command(status, ours)),
            ("duckdb", duckdb_command(status, theirs)),
        ):
            run = measure_rss(command)
            print(f"  {label} {engine}: {run.seconds:.2f} s, {run.peak_mib:.0f} MiB")
            peaks[engine] = max(peaks[engine], run.peak_mib)
            if engine not in best or run.seconds < best[engine].seconds:
                best[engine] = run
    monthly_ours = months_of_meter_sim(best["meter-sim"].stdout)
    monthly_theirs = months_of_duckdb(best["duckdb"].stdout)
    n_ours, n_theirs, differ = same_learner_months(ours, theirs)
    sample_differ = lifecycle_check(parquet, ours, monthly_ours)
    check = {
        "learner_months": n_ours,
        "duckdb_learner_months": n_theirs,
        "rows_differing": differ,
        "monthly_counts_equal": monthly_ours == monthly_theirs,
        "lifecycle_sample_differing": sample_differ,
    }
    check["passed"] = (
        differ == 0
        and n_ours == n_theirs
        and monthly_ours == monthly_theirs
        and sample_differ == 0
    )
    rows = [
        Row(engine, events, best[engine].seconds, peaks[engine])
        for engine in ("meter-sim", "duckdb")
    ]
    return {
        "size": size_label(events),
        "input": f"{layout} {suffix}",
        "rows": [asdict(r) for r in rows],
        "check": check,
    }


def bench_streaming(
    folder: Path, events: int, compare: Path | None
) -> dict[str, object]:
    """Measure ``meter-sim bill --streaming`` once; compare with an in-memory run."""
    label = size_label(events)
    status = folder / f"status-{label}.parquet"
    out = folder / f"ms-stream-{label}.parquet"
    run = measure_rss(meter_sim_command(status, out, streaming=True))
    print(
        f"  {label} meter-sim --streaming: {run.seconds:.1f} s, {run.peak_mib:.0f} MiB"
    )
    result: dict[str, object] = {
        "size": label,
        "events": events,
        "seconds": run.seconds,
        "peak_mib": run.peak_mib,
    }
    if compare is not None:
        n_a, n_b, differ = same_learner_months(out, compare)
        result["same_as_in_memory"] = differ == 0 and n_a == n_b
    return result


def machine() -> str:
    """CPU model, cores and memory of this machine."""
    model = "unknown CPU"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return (
        f"{model}, {os.cpu_count()} cores, {memory:.0f} GiB RAM, "
        f"{platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}, polars {pl.__version__}, "
        f"duckdb {duckdb.__version__}"
    )


def markdown(results: dict[str, object]) -> str:
    """The table of figures, as Markdown."""
    lines = [
        "| input | events | meter-sim [s] | meter-sim peak RSS [MiB] | DuckDB [s] | "
        "DuckDB peak RSS [MiB] | meter-sim / DuckDB | meter-sim [M events/s] | "
        "DuckDB [M events/s] | answers identical |",
        "| :--- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | :---: |",
    ]
    sizes = results["sizes"]
    assert isinstance(sizes, list)
    for size in sizes:
        ours, theirs = size["rows"]
        lines.append(
            f"| {size['input']} | {size['size']} | {ours['seconds']:.2f} | "
            f"{ours['peak_mib']:.0f} | "
            f"{theirs['seconds']:.2f} | {theirs['peak_mib']:.0f} | "
            f"{ours['seconds'] / theirs['seconds']:.2f} | "
            f"{ours['events'] / ours['seconds'] / 1e6:.2f} | "
            f"{theirs['events'] / theirs['seconds'] / 1e6:.2f} | "
            f"{'yes' if size['check']['passed'] else 'NO'} |"
        )
    streaming = results.get("streaming")
    if isinstance(streaming, dict):
        same = streaming.get("same_as_in_memory")
        lines += [
            "",
            "| events (--streaming) | meter-sim [s] | peak RSS [MiB] | "
            "M events/s | same as in memory |",
            "| ---: | ---: | ---: | ---: | :---: |",
            f"| {streaming['size']} | {streaming['seconds']:.1f} | "
            f"{streaming['peak_mib']:.0f} | "
            f"{streaming['events'] / streaming['seconds'] / 1e6:.2f} | "
            f"{'n/a' if same is None else 'yes' if same else 'NO'} |",
        ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Command line: ``run.py DATA_DIR [--sizes 1M,10M,30M] [--streaming 300M]``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path, help="data folder (e.g. /tmp/meter-bench)")
    parser.add_argument("--sizes", default="1M,10M,30M")
    parser.add_argument(
        "--inputs",
        default="export:parquet,vendor:parquet",
        help="layout:format pairs, e.g. export:parquet,vendor:parquet,export:csv",
    )
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--streaming", default="", help="size for --streaming, e.g. 300M"
    )
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    sizes = [parse_size(s) for s in args.sizes.split(",") if s]
    streamed = parse_size(args.streaming) if args.streaming else None
    inputs = [tuple(pair.split(":")) for pair in args.inputs.split(",") if pair]
    if any(
        len(p) != 2 or p[0] not in LAYOUTS or p[1] not in {"parquet", "csv"}
        for p in inputs
    ):
        parser.error(f"--inputs: layout:format pairs expected, got {args.inputs!r}")
    for layout in sorted({layout for layout, _ in inputs}):
        wanted = [size_label(s) for s in sizes]
        if streamed and layout == "export":
            wanted.append(size_label(streamed))
        csv = ["--csv"] if (layout, "csv") in inputs else []
        generate_main(
            [
                str(args.folder),
                "--events",
                ",".join(wanted),
                "--seed",
                str(args.seed),
                "--layout",
                layout,
                *csv,
            ]
        )
    print("warming up (bytecode, file cache)")
    warm = args.folder / log_name(sizes[0], inputs[0][0])
    measure_rss(meter_sim_command(warm, args.folder / "warm.parquet"))
    measure_rss(duckdb_command(warm, args.folder / "warm.parquet"))
    results: dict[str, object] = {"machine": machine(), "repeat": args.repeat}
    results["sizes"] = [
        bench_size(args.folder, n, layout, suffix, args.repeat)
        for layout, suffix in inputs
        for n in sizes
    ]
    if streamed is not None:
        in_memory = output(args.folder, max(sizes), "export", "parquet", "ms")
        compare = in_memory if streamed == max(sizes) else None
        results["streaming"] = bench_streaming(args.folder, streamed, compare)
        if streamed != max(sizes):  # also check the streaming answer on a size both run
            check = bench_streaming(args.folder, max(sizes), in_memory)
            results["streaming_check"] = check
    table = markdown(results)
    (args.folder / "results.json").write_text(
        json.dumps(results, indent=2, default=str)
    )
    (args.folder / "results.md").write_text(f"Machine: {results['machine']}\n\n{table}")
    print(f"\nMachine: {results['machine']}\n")
    print(table)
    sizes_results = results["sizes"]
    assert isinstance(sizes_results, list)
    passed = all(s["check"]["passed"] for s in sizes_results)
    streamed_check = results.get("streaming_check")
    if isinstance(streamed_check, dict):
        same = streamed_check.get("same_as_in_memory")
        print(f"--streaming on {streamed_check['size']}: same as in memory: {same}")
        passed = passed and bool(same)
    print("answer check:", "passed" if passed else "FAILED")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
