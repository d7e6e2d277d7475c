"""Tests for meter_sim.datasets.oulad on tiny OULAD-shaped files (and the real data).

Expected instants were worked out by hand: day 0 of 2013J is 2013-10-01, of
2014B 2014-02-01, of 2014J 2014-10-01; London is on GMT (UTC+0) from late
October to late March and on BST (UTC+1) otherwise, so 09:00 local is 08:00Z in
summer and 09:00Z in winter, and 17:00 local is 16:00Z or 17:00Z.
"""

from __future__ import annotations

import csv
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from meter_sim.datasets.oulad import (
    ENV_VAR,
    OuladStatusLog,
    _status_changes,
    oulad_folder,
    registrations_status_log,
    write_status_log,
)
from meter_sim.exceptions import LogFormatError
from tests.helpers import REAL_OULAD as REAL
from tests.helpers import needs_real_oulad

if TYPE_CHECKING:
    from pathlib import Path

REGISTRATION_HEADER = [
    "code_module",
    "code_presentation",
    "id_student",
    "date_registration",
    "date_unregistration",
]
COURSES_HEADER = ["code_module", "code_presentation", "module_presentation_length"]
COURSES = [["AAA", "2013J", "268"], ["BBB", "2014B", "234"], ["CCC", "2014J", "269"]]

# Physical line numbers are given in the comments (header is line 1).
REGISTRATIONS = [
    ["AAA", "2013J", "11391", "-159", ""],  # 2: J, BST start, no withdrawal
    ["BBB", "2014B", "20000", "-10", "30"],  # 3: B, GMT, withdrawal
    ["CCC", "2014J", "25000", "-80", ""],  # 4: registration in July (BST)
    ["AAA", "2013J", "30000", "-20", ""],  # 5: overlaps line 6
    ["BBB", "2014B", "30000", "-30", "200"],  # 6
    ["BBB", "2014B", "40000", "-5", "10"],  # 7: disjoint from line 8
    ["CCC", "2014J", "40000", "0", "40"],  # 8
    ["AAA", "2013J", "50000", "", "12"],  # 9: no registration date
    ["BBB", "2014B", "60000", "10", "5"],  # 10: withdrawal before registration
    ["ZZZ", "2013J", "70000", "-3", ""],  # 11: presentation not in courses.csv
    ["AAA", "2013J", "80000", "1x", ""],  # 12: malformed number
    ["BBB", "2014B", "90000", "3", "3"],  # 13: same-day withdrawal, 09:00-17:00
]


def utc(year: int, month: int, day: int, hour: int) -> datetime:
    return datetime(year, month, day, hour, tzinfo=UTC)


def write_csv(path: Path, header: list[str], rows: list[list[str]]) -> None:
    """Write an OULAD-style CSV: every field quoted, CRLF line endings."""
    lines = [",".join(f'"{value}"' for value in row) for row in [header, *rows]]
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode())


def make_folder(
    folder: Path,
    registrations: list[list[str]] | None = None,
    courses: list[list[str]] | None = None,
) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    write_csv(
        folder / "studentRegistration.csv",
        REGISTRATION_HEADER,
        REGISTRATIONS if registrations is None else registrations,
    )
    write_csv(
        folder / "courses.csv", COURSES_HEADER, COURSES if courses is None else courses
    )
    return folder


def status_of(log: OuladStatusLog, learner_id: str) -> list[tuple[datetime, bool]]:
    rows = log.status.filter(pl.col("learner_id") == learner_id)
    return list(
        zip(rows["changed_at"].to_list(), rows["is_active"].to_list(), strict=True)
    )


@pytest.fixture
def log(tmp_path: Path) -> OuladStatusLog:
    return registrations_status_log(make_folder(tmp_path / "oulad"))


def test_schemas(log: OuladStatusLog) -> None:
    assert log.status.schema == pl.Schema(
        {
            "learner_id": pl.String(),
            "changed_at": pl.Datetime("us", "UTC"),
            "is_active": pl.Boolean(),
        }
    )
    assert log.rejected.schema == pl.Schema(
        {"source": pl.String(), "line": pl.Int64(), "reason": pl.String()}
    )
    assert log.status.equals(log.status.sort("learner_id", "changed_at"))


def test_j_presentation_registered_in_summer_without_withdrawal(
    log: OuladStatusLog,
) -> None:
    # 2013-10-01 - 159 days = 2013-04-25 (BST); + 268 days = 2014-06-26 (BST).
    assert status_of(log, "11391") == [
        (utc(2013, 4, 25, 8), True),
        (utc(2014, 6, 26, 16), False),
    ]


def test_b_presentation_in_winter_with_withdrawal(log: OuladStatusLog) -> None:
    # 2014-02-01 - 10 days = 2014-01-22 (GMT); + 30 days = 2014-03-03 (GMT).
    assert status_of(log, "20000") == [
        (utc(2014, 1, 22, 9), True),
        (utc(2014, 3, 3, 17), False),
    ]


def test_registration_in_july_is_0800_utc(log: OuladStatusLog) -> None:
    # 2014-10-01 - 80 days = 2014-07-13 (BST); + 269 days = 2015-06-27 (BST).
    assert status_of(log, "25000") == [
        (utc(2014, 7, 13, 8), True),
        (utc(2015, 6, 27, 16), False),
    ]


def test_overlapping_enrolments_are_merged(log: OuladStatusLog) -> None:
    # AAA 2013J: 2013-09-11 08:00Z to 2014-06-26 16:00Z;
    # BBB 2014B: 2014-01-02 09:00Z to 2014-08-20 16:00Z (2014-02-01 + 200 days).
    assert status_of(log, "30000") == [
        (utc(2013, 9, 11, 8), True),
        (utc(2014, 8, 20, 16), False),
    ]


def test_disjoint_enrolments_give_two_intervals(log: OuladStatusLog) -> None:
    # BBB 2014B: 2014-01-27 to 2014-02-11 (GMT); CCC 2014J: 2014-10-01 (BST) to
    # 2014-11-10 (GMT, after the clocks went back on 2014-10-26).
    assert status_of(log, "40000") == [
        (utc(2014, 1, 27, 9), True),
        (utc(2014, 2, 11, 17), False),
        (utc(2014, 10, 1, 8), True),
        (utc(2014, 11, 10, 17), False),
    ]


def test_same_day_withdrawal_is_a_short_interval(log: OuladStatusLog) -> None:
    assert status_of(log, "90000") == [
        (utc(2014, 2, 4, 9), True),
        (utc(2014, 2, 4, 17), False),
    ]


def test_rejected_rows_have_lines_and_reasons(
    log: OuladStatusLog, tmp_path: Path
) -> None:
    source = str(tmp_path / "oulad" / "studentRegistration.csv")
    expected = pl.DataFrame(
        {
            "source": [source] * 4,
            "line": [9, 10, 11, 12],
            "reason": [
                "no registration date: `date_registration` is empty",
                "withdrawal before registration: `date_unregistration` 5 is before "
                "`date_registration` 10 [days]",
                "presentation not in courses.csv: "
                "(`code_module` 'ZZZ', `code_presentation` '2013J')",
                "malformed number: `date_registration` is '1x', expected a whole "
                "number of days (at most 6 digits)",
            ],
        },
        schema={"source": pl.String, "line": pl.Int64, "reason": pl.String},
    )
    assert_frame_equal(log.rejected, expected)
    rejected_learners = {"50000", "60000", "70000", "80000"}
    assert rejected_learners.isdisjoint(log.status["learner_id"].to_list())


def test_every_row_is_used_or_rejected(log: OuladStatusLog) -> None:
    assert log.rows_read == len(REGISTRATIONS) == 12
    assert log.rows_used == 8
    assert log.rows_read == log.rows_used + log.rejected.height


def test_status_alternates_starting_active(log: OuladStatusLog) -> None:
    assert_alternates(log.status)


def test_start_day_moves_day_zero(tmp_path: Path) -> None:
    log = registrations_status_log(make_folder(tmp_path), start_day=15)
    # 2013-10-15 - 159 days = 2013-05-09; + 268 days = 2014-07-10.
    assert status_of(log, "11391") == [
        (utc(2013, 5, 9, 8), True),
        (utc(2014, 7, 10, 16), False),
    ]
    # 2014-02-15 - 10 days = 2014-02-05; + 30 days = 2014-03-17 (still GMT).
    assert status_of(log, "20000") == [
        (utc(2014, 2, 5, 9), True),
        (utc(2014, 3, 17, 17), False),
    ]


@pytest.mark.parametrize("start_day", [0, 29, -1])
def test_start_day_out_of_range(tmp_path: Path, start_day: int) -> None:
    with pytest.raises(ValueError, match="`start_day` must be an integer from 1 to 28"):
        registrations_status_log(make_folder(tmp_path), start_day=start_day)


def test_folder_from_environment_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = make_folder(tmp_path / "from_env")
    monkeypatch.setenv(ENV_VAR, str(folder))
    assert oulad_folder() == folder
    log = registrations_status_log()
    assert log.rows_read == 12
    assert log.rejected["source"].unique().to_list() == [
        str(folder / "studentRegistration.csv")
    ]


def test_argument_wins_over_environment_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "nowhere"))
    assert oulad_folder(tmp_path) == tmp_path


def test_missing_folder_names_it_and_how_to_set_it(tmp_path: Path) -> None:
    missing = tmp_path / "no_such_folder"
    with pytest.raises(LogFormatError, match=r"no_such_folder.*METER_SIM_OULAD"):
        registrations_status_log(missing)


def test_missing_folder_from_environment_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "gone"))
    with pytest.raises(LogFormatError, match=r"'.*gone' \(from environment variable"):
        oulad_folder()


def test_no_folder_and_no_environment_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(ENV_VAR, raising=False)
    with pytest.raises(
        LogFormatError, match="no OULAD folder given and METER_SIM_OULAD is not set"
    ):
        registrations_status_log()


def test_missing_file_names_it(tmp_path: Path) -> None:
    folder = make_folder(tmp_path)
    (folder / "courses.csv").unlink()
    with pytest.raises(LogFormatError, match=r"looked for '.*courses\.csv'") as info:
        registrations_status_log(folder)
    assert info.value.source == str(folder / "courses.csv")


def test_missing_column_names_the_field(tmp_path: Path) -> None:
    folder = make_folder(tmp_path)
    write_csv(
        folder / "studentRegistration.csv",
        REGISTRATION_HEADER[:-1],
        [row[:-1] for row in REGISTRATIONS],
    )
    with pytest.raises(LogFormatError, match=r"missing column.*`date_unregistration`"):
        registrations_status_log(folder)


def test_malformed_course_length_rejects_its_registrations(tmp_path: Path) -> None:
    courses = [["AAA", "2013J", "26x"], *COURSES[1:]]
    log = registrations_status_log(make_folder(tmp_path, courses=courses))
    aaa = [line for line, row in enumerate(REGISTRATIONS, start=2) if row[0] == "AAA"]
    bad = log.rejected.filter(pl.col("reason").str.contains("courses.csv line 2"))
    assert bad["line"].to_list() == aaa == [2, 5, 9, 12]
    assert bad["reason"][0] == (
        "malformed number: courses.csv line 2: `module_presentation_length` is "
        "'26x', expected a whole number of days"
    )
    assert bad["reason"][2].startswith(
        "no registration date: `date_registration` is empty; malformed number: "
        "courses.csv line 2"
    )
    assert log.rows_read == log.rows_used + log.rejected.height


def test_duplicate_presentation_in_courses(tmp_path: Path) -> None:
    folder = make_folder(tmp_path, courses=[*COURSES, ["BBB", "2014B", "240"]])
    with pytest.raises(LogFormatError, match="listed on lines 3, 5"):
        registrations_status_log(folder)


def test_line_numbers_count_physical_lines(tmp_path: Path) -> None:
    folder = make_folder(tmp_path)
    header = ",".join(f'"{name}"' for name in REGISTRATION_HEADER)
    text = (
        f"{header}\r\n"
        '"AAA","2013J","1","-1",""\r\n'  # line 2
        '"AAA","2013J","2","two\r\nlines",""\r\n'  # lines 3-4
        '"AAA","2013J","3","",""\r\n'  # line 5
        '"AAA","2013J","x4","0",""\r\n'  # line 6
    )
    (folder / "studentRegistration.csv").write_bytes(text.encode())
    log = registrations_status_log(folder)
    assert log.rejected["line"].to_list() == [3, 5, 6]
    assert log.rejected["reason"][2].startswith("malformed number: `id_student`")
    assert log.rows_read == 4
    assert log.rows_used == 1


def test_leading_zeros_are_dropped_from_learner_id(tmp_path: Path) -> None:
    log = registrations_status_log(
        make_folder(tmp_path, registrations=[["AAA", "2013J", "0042", "0", ""]])
    )
    assert log.status["learner_id"].to_list() == ["42", "42"]


def test_header_only_gives_empty_frames(tmp_path: Path) -> None:
    log = registrations_status_log(make_folder(tmp_path, registrations=[]))
    assert (log.rows_read, log.rows_used, log.status.height) == (0, 0, 0)
    assert log.rejected.height == 0


def test_touching_intervals_merge() -> None:
    t = [utc(2014, 1, d, 9) for d in (1, 2, 3, 4, 5)]
    used = pl.DataFrame(
        {
            "learner_id": ["a", "a", "a"],
            "activated_at": [t[0], t[1], t[3]],
            "deactivated_at": [t[1], t[2], t[4]],
        },
        schema_overrides={
            "activated_at": pl.Datetime("us", "UTC"),
            "deactivated_at": pl.Datetime("us", "UTC"),
        },
    )
    status = _status_changes(used)
    assert status["changed_at"].to_list() == [t[0], t[2], t[3], t[4]]
    assert status["is_active"].to_list() == [True, False, True, False]


def test_write_status_log_csv(log: OuladStatusLog, tmp_path: Path) -> None:
    path = tmp_path / "status.csv"
    write_status_log(log, path)
    lines = path.read_text().splitlines()
    assert lines[0] == "learner_id,changed_at,is_active"
    assert "11391,2013-04-25T08:00:00Z,true" in lines
    assert "11391,2014-06-26T16:00:00Z,false" in lines
    assert len(lines) == log.status.height + 1
    back = pl.read_csv(path, schema_overrides={"learner_id": pl.String}).with_columns(
        pl.col("changed_at").str.to_datetime(time_unit="us", time_zone="UTC")
    )
    assert_frame_equal(back, log.status)


def test_write_status_log_parquet(log: OuladStatusLog, tmp_path: Path) -> None:
    path = tmp_path / "status.parquet"
    write_status_log(log, path)
    assert_frame_equal(pl.read_parquet(path), log.status)


def test_write_status_log_rejects_other_suffixes(
    log: OuladStatusLog, tmp_path: Path
) -> None:
    with pytest.raises(LogFormatError, match=r"`\.csv` or `\.parquet`, got `\.json`"):
        write_status_log(log, tmp_path / "status.json")


def test_invariant_is_checked(log: OuladStatusLog) -> None:
    with pytest.raises(ValueError, match="`rows_read` \\(99\\) must equal"):
        OuladStatusLog(log.status, log.rejected, rows_read=99, rows_used=1)


def assert_alternates(status: pl.DataFrame) -> None:
    """Each learner's rows go True, False, True, ... at strictly later times."""
    checked = status.with_columns(
        position=pl.int_range(pl.len()).over("learner_id"),
        earlier=pl.col("changed_at").shift(1).over("learner_id"),
    )
    assert checked.filter(
        pl.col("is_active") != (pl.col("position") % 2 == 0)
    ).is_empty()
    assert checked.filter(pl.col("changed_at") <= pl.col("earlier")).is_empty()
    assert (status.group_by("learner_id").len()["len"] % 2 == 0).all()


@needs_real_oulad
def test_real_data() -> None:
    with (REAL / "courses.csv").open(newline="") as handle:
        presentations = {
            (row["code_module"], row["code_presentation"])
            for row in csv.DictReader(handle)
        }
    with (REAL / "studentRegistration.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    no_registration = sum(row["date_registration"] == "" for row in rows)
    withdrawn_before = sum(
        row["date_registration"] != ""
        and row["date_unregistration"] != ""
        and int(row["date_unregistration"]) < int(row["date_registration"])
        for row in rows
    )
    not_in_courses = sum(
        (row["code_module"], row["code_presentation"]) not in presentations
        for row in rows
    )

    log = registrations_status_log(REAL)

    assert log.rows_read == len(rows) == 32593
    assert no_registration == 45
    assert (withdrawn_before, not_in_courses) == (0, 0)
    reasons = log.rejected["reason"].str.extract(r"^([^:]+):").value_counts()
    assert dict(reasons.iter_rows()) == {"no registration date": 45}
    assert log.rejected.height == no_registration + withdrawn_before + not_in_courses
    assert log.rows_read == log.rows_used + log.rejected.height
    assert_alternates(log.status)
