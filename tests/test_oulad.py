"""Tests for meter_sim.datasets.oulad on hand-made OULAD-shaped files (and the real data).

Expected instants were worked out by hand: day 0 of 2013J is 2013-10-01, of
2014B 2014-02-01, of 2014J 2014-10-01; London is on GMT (UTC+0) from late
October to late March (2013-10-27 to 2014-03-30) and on BST (UTC+1) otherwise, so
09:00 local is 08:00Z in summer and 09:00Z in winter, 12:00 local is 11:00Z or
12:00Z, and 17:00 local is 16:00Z or 17:00Z.

The registrations status log (explicit timeline) is tested on files written by
`make_folder`; the needs, on the hand-made excerpt in ``tests/data/oulad-excerpt``
(see its README for what each row is for). The real data is only read when it is
present (`tests.helpers.needs_real_oulad`); its expected counts are derived here
independently, with Python's csv module.
"""

from __future__ import annotations

import csv
import shutil
from datetime import UTC, date, datetime
from decimal import Decimal
from functools import partial
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from meter_sim.datasets import oulad
from meter_sim.datasets.oulad import (
    ENV_VAR,
    OuladStatusLog,
    _status_changes,
    compare_oulad,
    late_reactivations,
    monthly_learners,
    oulad_folder,
    population,
    read_oulad,
    registrations_status_log,
    write_status_log,
)
from meter_sim.exceptions import LogFormatError
from meter_sim.scenario import load_plan
from meter_sim.simulate import COMPARISON_SCHEMA
from meter_sim.strategies import always_active, course_window
from tests.helpers import REAL_OULAD as REAL
from tests.helpers import needs_real_oulad

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
    ["AAA", "2013J", "10001", "-159", ""],  # 2: J, BST start, no withdrawal
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
    assert status_of(log, "10001") == [
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
    assert status_of(log, "10001") == [
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


def test_no_folder_no_environment_variable_and_no_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(ENV_VAR, raising=False)
    monkeypatch.setattr(oulad, "DEFAULT_FOLDER", tmp_path / "shared" / "oulad")
    with pytest.raises(
        LogFormatError,
        match=r"no OULAD folder given, METER_SIM_OULAD is not set and the default "
        r"folder '.*shared/oulad' does not exist",
    ):
        registrations_status_log()


def test_default_folder_when_it_exists(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(ENV_VAR, raising=False)
    folder = make_folder(tmp_path / "shared" / "oulad")
    monkeypatch.setattr(oulad, "DEFAULT_FOLDER", folder)
    assert oulad_folder() == folder
    monkeypatch.setenv(ENV_VAR, "")  # an empty value counts as unset
    assert oulad_folder() == folder


def test_default_folder_is_beside_the_repository() -> None:
    repository = Path(__file__).resolve().parents[1]
    assert (repository / "pyproject.toml").is_file()
    assert repository.parent / "shared" / "data" / "oulad" == oulad.DEFAULT_FOLDER


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
    assert "10001,2013-04-25T08:00:00Z,true" in lines
    assert "10001,2014-06-26T16:00:00Z,false" in lines
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


# -- needs: the hand-made excerpt ---------------------------------------------

EXCERPT = Path(__file__).parent / "data" / "oulad-excerpt"
STARTER = Path("scenarios/plans/starter.yaml")  # 45.00 a month + 9.00 per learner


@pytest.fixture(scope="module")
def excerpt() -> oulad.OuladData:
    return read_oulad(EXCERPT)


@pytest.fixture(scope="module")
def compared(excerpt: oulad.OuladData) -> oulad.OuladComparison:
    return compare_oulad(excerpt, plan=load_plan(STARTER))


def test_every_excerpt_row_is_accounted_for(excerpt: oulad.OuladData) -> None:
    expected = pl.DataFrame(
        {
            "input": [str(EXCERPT / name) for name in oulad.FILES],
            "rows_read": [2, 4, 5, 10],
            "rows_used": [2, 3, 4, 5],
            "rows_not_activity": [0, 0, 0, 1],  # the banked result, line 7
            "rows_rejected": [0, 1, 1, 4],
        },
        schema=oulad.INPUTS_SCHEMA,
    )
    assert_frame_equal(excerpt.inputs, expected)
    assert oulad.FILES == (
        "courses.csv",
        "assessments.csv",
        "studentRegistration.csv",
        "studentAssessment.csv",
    )


def test_excerpt_rejected_rows(excerpt: oulad.OuladData) -> None:
    assessments = str(EXCERPT / "assessments.csv")
    registrations = str(EXCERPT / "studentRegistration.csv")
    submissions = str(EXCERPT / "studentAssessment.csv")
    expected = pl.DataFrame(
        [
            (
                assessments,
                5,
                "malformed number: `id_assessment` is '60x', expected a whole number "
                "(at most 18 digits)",
            ),
            (registrations, 5, "no registration date: `date_registration` is empty"),
            (
                submissions,
                8,
                "no placeable registration: the registration on "
                "studentRegistration.csv line 5 was rejected (no registration date)",
            ),
            (
                submissions,
                9,
                "no placeable registration: studentRegistration.csv has no row for "
                "`id_student` 1005 on (`code_module` 'KKK', `code_presentation` "
                "'2013J')",
            ),
            (
                submissions,
                10,
                "unknown assessment: `id_assessment` 603 has no valid row in "
                "assessments.csv",
            ),
            (
                submissions,
                11,
                "malformed number: `date_submitted` is '1x', expected a whole number "
                "of days (at most 6 digits); no placeable registration: "
                "studentRegistration.csv has no row for `id_student` 1002 on "
                "(`code_module` 'LLL', `code_presentation` '2014B')",
            ),
        ],
        schema=oulad.REJECTED_SCHEMA,
        orient="row",
    )
    assert_frame_equal(excerpt.rejected, expected)


def need(
    learner: str,
    at: datetime,
    event: str,
    presentation: str,
    line: int,
    *,
    late: bool = False,
) -> tuple[object, ...]:
    module = {"2013J": "KKK", "2014B": "LLL"}[presentation]
    return (learner, at, "enrolment", False, event, module, presentation, line, late)


# Every need at 12:00 London time: 11:00Z in BST, 12:00Z in GMT.
EXCERPT_NEEDS = [
    # 1001, KKK 2013J (registration line 2) and LLL 2014B (line 4).
    need("1001", utc(2013, 9, 1, 11), "registration", "2013J", 2),  # 10-01 - 30 d
    need("1001", utc(2013, 10, 29, 12), "submission", "2013J", 2),  # + 28 d, GMT
    need("1001", utc(2014, 1, 27, 12), "registration", "2014B", 4),  # 02-01 - 5 d
    need("1001", utc(2014, 2, 20, 12), "submission", "2014B", 5),  # + 19 d
    need("1001", utc(2014, 6, 18, 11), "final_result", "2013J", 2),  # + 260 d, BST
    need("1001", utc(2014, 6, 20, 11), "submission", "2013J", 6),  # + 262 d
    need("1001", utc(2014, 9, 29, 11), "final_result", "2014B", 4),  # + 240 d
    # 1002, KKK 2013J (line 3): withdraws on day 40, submits on day 55.
    need("1002", utc(2013, 9, 21, 11), "registration", "2013J", 3),  # - 10 d
    need("1002", utc(2013, 9, 28, 11), "submission", "2013J", 3),  # - 3 d
    need("1002", utc(2013, 11, 10, 12), "withdrawal", "2013J", 3),  # + 40 d
    need("1002", utc(2013, 11, 25, 12), "submission", "2013J", 4, late=True),
    # 1004, LLL 2014B (line 6): withdraws on day -1; its banked result is no need.
    need("1004", utc(2014, 1, 29, 12), "registration", "2014B", 6),  # - 3 d
    need("1004", utc(2014, 1, 31, 12), "withdrawal", "2014B", 6),  # - 1 d
]


def test_excerpt_needs(excerpt: oulad.OuladData) -> None:
    expected = pl.DataFrame(EXCERPT_NEEDS, schema=oulad.NEEDS_SCHEMA, orient="row")
    assert_frame_equal(excerpt.needs, expected)


def test_excerpt_learners(excerpt: oulad.OuladData) -> None:
    # created_at: the first need; course_end: the last enrolment's end need.
    expected = pl.DataFrame(
        [
            ("1001", utc(2013, 9, 1, 11), utc(2014, 9, 29, 11)),
            ("1002", utc(2013, 9, 21, 11), utc(2013, 11, 10, 12)),
            ("1004", utc(2014, 1, 29, 12), utc(2014, 1, 31, 12)),
        ],
        schema=oulad.LEARNERS_SCHEMA,
        orient="row",
    )
    assert_frame_equal(excerpt.learners, expected)


def test_excerpt_enrolments(excerpt: oulad.OuladData) -> None:
    expected = pl.DataFrame(
        [
            (2, "1001", "KKK", "2013J", utc(2013, 9, 1, 11), utc(2014, 6, 18, 11), False),
            (3, "1002", "KKK", "2013J", utc(2013, 9, 21, 11), utc(2013, 11, 10, 12), True),
            (4, "1001", "LLL", "2014B", utc(2014, 1, 27, 12), utc(2014, 9, 29, 11), False),
            (6, "1004", "LLL", "2014B", utc(2014, 1, 29, 12), utc(2014, 1, 31, 12), True),
        ],
        schema=oulad.ENROLMENTS_SCHEMA,
        orient="row",
    )  # fmt: skip
    assert_frame_equal(excerpt.enrolments, expected)


def test_excerpt_explicit_timeline(excerpt: oulad.OuladData) -> None:
    # 09:00 local on the registration date to 17:00 local on the end date; 1001's
    # two enrolments overlap (2014-01-27 to 2014-06-18) and merge.
    expected = [
        ("1001", utc(2013, 9, 1, 8), True),
        ("1001", utc(2014, 9, 29, 16), False),
        ("1002", utc(2013, 9, 21, 8), True),
        ("1002", utc(2013, 11, 10, 17), False),
        ("1004", utc(2014, 1, 29, 9), True),
        ("1004", utc(2014, 1, 31, 17), False),
    ]
    assert excerpt.explicit.rows() == expected
    assert_frame_equal(excerpt.explicit, registrations_status_log(EXCERPT).status)


def test_excerpt_period_and_horizon(excerpt: oulad.OuladData) -> None:
    assert excerpt.period() == (date(2013, 9, 1), date(2014, 9, 1))
    # Midnight at the start of 1 October 2014 in London (BST) is 23:00Z.
    assert excerpt.horizon() == utc(2014, 9, 30, 23)
    assert excerpt.timezone == "Europe/London"


def test_start_day_moves_every_need(tmp_path: Path) -> None:
    data = read_oulad(EXCERPT, start_day=15)
    firsts = data.needs.filter(pl.col("line") == 3).select("event", "at").rows()
    # Day 0 of KKK 2013J is 2013-10-15. Line 3 of studentRegistration.csv: the
    # registration on day -10 is 2013-10-05 (BST), the withdrawal on day 40 is
    # 2013-11-24 (GMT); line 3 of studentAssessment.csv, day -3, is 2013-10-12.
    assert firsts == [
        ("registration", utc(2013, 10, 5, 11)),
        ("submission", utc(2013, 10, 12, 11)),
        ("withdrawal", utc(2013, 11, 24, 12)),
    ]
    # LLL 2014B ends on day 240 from 2014-02-15: 2014-10-13, a month later.
    assert data.period() == (date(2013, 9, 1), date(2014, 10, 1))
    assert data.inputs.equals(read_oulad(EXCERPT).inputs)


@pytest.mark.parametrize("start_day", [0, 29])
def test_read_oulad_start_day_out_of_range(start_day: int) -> None:
    with pytest.raises(ValueError, match="`start_day` must be an integer from 1 to 28"):
        read_oulad(EXCERPT, start_day=start_day)


def test_columns_are_found_by_name(tmp_path: Path) -> None:
    # The original studentAssessment.csv: id_assessment first, every field quoted,
    # a missing score written "" instead of ?.
    folder = tmp_path / "original"
    shutil.copytree(EXCERPT, folder)
    with (EXCERPT / "studentAssessment.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    header = ["id_assessment", "id_student", "date_submitted", "is_banked", "score"]
    write_csv(
        folder / "studentAssessment.csv",
        header,
        [[row[name].replace("?", "") for name in header] for row in rows],
    )
    original = read_oulad(folder)
    assert_frame_equal(original.needs, read_oulad(EXCERPT).needs)
    assert original.inputs["rows_rejected"].to_list() == [0, 1, 1, 4]


def test_excerpt_strategies_side_by_side(compared: oulad.OuladComparison) -> None:
    # Learner-months by hand over 2013-09 to 2014-09 (13 months):
    # explicit: 1001 all 13, 1002 Sep-Nov (until 17:00 on 10 Nov), 1004 Jan = 17;
    #   it blocks 1002's submission on 25 Nov (after its withdrawal).
    # always_active: 1001 13, 1002 13, 1004 Jan-Sep 9 = 35.
    # course_window (14 days): 1001 open to the horizon 13; 1002 to 24 Nov plus a
    #   spell on 25 Nov, Sep-Nov 3; 1004 to 14 Feb, Jan-Feb 2 = 18; toggles 1002
    #   off, on, off and 1004 off = 4.
    # just_in_time: the months with a need: 1001 Sep, Oct, Jan, Feb, Jun, Sep;
    #   1002 Sep, Nov; 1004 Jan = 9; toggles: 7 + 4 + 2 spells, 2 rows each, less
    #   one creation per learner, and 1001's last spell ends before the horizon:
    #   13 + 7 + 3 = 23.
    # monthly_sweep: the same 9 months; 1001 switched off on 1 Oct, 1 Nov, 1 Feb,
    #   1 Mar, 1 Jul and on again at its next need, open from 29 Sep (10); 1002
    #   off 1 Oct, on 10 Nov, off 1 Dec (3); 1004 off 1 Feb (1) = 14.
    # batched: no need is deferrable, so course_window's.
    # Cost with Starter: 13 x 45.00 + learner-months x 9.00.
    expected = pl.DataFrame(
        [
            ("explicit", 17, Decimal("738.00"), Decimal("738.00"), 3, 0.0, 1),
            ("always_active", 35, Decimal("900.00"), Decimal("900.00"), 0, 0.0, 0),
            ("course_window", 18, Decimal("747.00"), Decimal("747.00"), 4, 0.0, 0),
            ("just_in_time", 9, Decimal("666.00"), Decimal("666.00"), 23, 0.0, 0),
            ("monthly_sweep", 9, Decimal("666.00"), Decimal("666.00"), 14, 0.0, 0),
            ("batched", 18, Decimal("747.00"), Decimal("747.00"), 4, 0.0, 0),
        ],
        schema=COMPARISON_SCHEMA,
        orient="row",
    )
    assert_frame_equal(compared.table, expected)
    assert (compared.first_month, compared.last_month) == (
        date(2013, 9, 1),
        date(2014, 9, 1),
    )
    assert set(compared.seconds) == set(compared.runs) == set(compared.bills)
    assert all(seconds > 0 for seconds in compared.seconds.values())


def test_excerpt_monthly_learners(compared: oulad.OuladComparison) -> None:
    months = [date(2013, m, 1) for m in range(9, 13)] + [
        date(2014, m, 1) for m in range(1, 10)
    ]
    expected = pl.DataFrame(
        {
            "month": months,
            "explicit": [2, 2, 2, 1, 2, 1, 1, 1, 1, 1, 1, 1, 1],
            "always_active": [2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3, 3],
            "course_window": [2, 2, 2, 1, 2, 2, 1, 1, 1, 1, 1, 1, 1],
            "just_in_time": [2, 1, 1, 0, 2, 1, 0, 0, 0, 1, 0, 0, 1],
            "monthly_sweep": [2, 1, 1, 0, 2, 1, 0, 0, 0, 1, 0, 0, 1],
            "batched": [2, 2, 2, 1, 2, 2, 1, 1, 1, 1, 1, 1, 1],
        },
        schema_overrides=dict.fromkeys(compared.bills, pl.UInt32),
    )
    assert_frame_equal(monthly_learners(compared), expected)


def test_explicit_run_marks_blocked_needs(compared: oulad.OuladComparison) -> None:
    blocked = compared.runs["explicit"].needs.filter("blocked")
    assert blocked.select("learner_id", "event", "line", "after_withdrawal").rows() == [
        ("1002", "submission", 4, True)
    ]
    rejected = compared.bills["explicit"].rejected
    assert rejected["line"].to_list() == [11]  # the 11th need, in needs order
    assert "learner '1002' is inactive" in rejected["reason"][0]


def test_late_reactivations(compared: oulad.OuladComparison) -> None:
    forced = {name: late_reactivations(run) for name, run in compared.runs.items()}
    # 1002's submission of 25 Nov falls after course_window's window (to 24 Nov)
    # and outside any just_in_time spell; the monthly sweep left 1002 Active from
    # its withdrawal need (10 Nov) to the 1 Dec sweep; explicit blocks it instead.
    late = [("1002", "KKK", "2013J", utc(2013, 11, 25, 12), 4)]
    assert {name: frame.rows() for name, frame in forced.items()} == {
        "explicit": [],
        "always_active": [],
        "course_window": late,
        "just_in_time": late,
        "monthly_sweep": [],
        "batched": late,
    }


def test_course_window_grace(excerpt: oulad.OuladData) -> None:
    grace = {
        f"grace {days}": partial(course_window, grace_days=days) for days in (0, 14, 30)
    }
    result = compare_oulad(
        excerpt, plan=load_plan(STARTER), strategies=grace, explicit=False, check=False
    )
    # grace 0: 1001 13, 1002 Sep-Nov 3, 1004 Jan 1 = 17 (switched off after the
    #   spell of the end need itself: 1001, 1002 twice with the 25 Nov spell, 1004).
    # grace 30: 1002 to 10 Dec (Sep-Dec 4), 1004 to 2 Mar (Jan-Mar 3), 1001 open;
    #   1002's late submission falls inside its window: 20.
    assert result.table.select("strategy", "learner_months", "toggles").rows() == [
        ("grace 0", 17, 5),
        ("grace 14", 18, 4),
        ("grace 30", 20, 2),
    ]
    wide = monthly_learners(result)
    assert wide["grace 30"].to_list() == [2, 2, 2, 2, 2, 2, 2, 1, 1, 1, 1, 1, 1]
    assert late_reactivations(result.runs["grace 30"]).is_empty()


def test_without_late_submissions(excerpt: oulad.OuladData) -> None:
    fewer = excerpt.without_late_submissions()
    assert fewer.needs.height == excerpt.needs.height - 1
    assert not fewer.needs["after_withdrawal"].any()
    assert_frame_equal(fewer.learners, excerpt.learners)
    result = compare_oulad(fewer, plan=load_plan(STARTER), explicit=True)
    # 1002's late submission fell in November, already billed: nothing changes in
    # learner-months, but course_window and just_in_time toggle twice less and the
    # explicit timeline no longer blocks a need.
    rows = result.table.select("strategy", "learner_months", "toggles", "blocked")
    assert rows.rows() == [
        ("explicit", 17, 3, 0),
        ("always_active", 35, 0, 0),
        ("course_window", 18, 2, 0),
        ("just_in_time", 9, 21, 0),
        ("monthly_sweep", 9, 14, 0),
        ("batched", 18, 2, 0),
    ]


def test_excerpt_population(excerpt: oulad.OuladData) -> None:
    table = population(excerpt)
    assert table.schema == oulad.POPULATION_SCHEMA
    assert table["month"].to_list()[0] == date(2013, 9, 1)
    assert table.drop("month").rows() == [
        # enrolled (1001 KKK Sep-Jun, 1001 LLL Jan-Sep, 1002 Sep-Nov, 1004 Jan),
        # registrations, submissions, withdrawals, final results
        (2, 2, 1, 0, 0),  # 2013-09
        (2, 0, 1, 0, 0),
        (2, 0, 1, 1, 0),
        (1, 0, 0, 0, 0),
        (2, 2, 0, 1, 0),  # 2014-01
        (1, 0, 1, 0, 0),
        (1, 0, 0, 0, 0),
        (1, 0, 0, 0, 0),
        (1, 0, 0, 0, 0),
        (1, 0, 1, 0, 1),  # 2014-06
        (1, 0, 0, 0, 0),
        (1, 0, 0, 0, 0),
        (1, 0, 0, 0, 1),  # 2014-09
    ]


# -- needs: malformed and unusual rows ----------------------------------------


def excerpt_copy(tmp_path: Path) -> Path:
    folder = tmp_path / "oulad"
    shutil.copytree(EXCERPT, folder)
    return folder


def append_line(path: Path, line: str) -> None:
    with path.open("ab") as handle:
        handle.write(f"{line}\r\n".encode())


def test_malformed_banked_flag_is_rejected(tmp_path: Path) -> None:
    folder = excerpt_copy(tmp_path)
    append_line(folder / "studentAssessment.csv", "1001,501,30,2,60")
    data = read_oulad(folder)
    last = data.rejected.row(-1, named=True)
    assert (last["line"], last["reason"]) == (
        12,
        "malformed number: `is_banked` is '2', expected 0 or 1",
    )
    assert data.inputs.row(3) == (str(folder / "studentAssessment.csv"), 11, 5, 1, 5)


def test_banked_row_needs_no_registration(tmp_path: Path) -> None:
    folder = excerpt_copy(tmp_path)
    append_line(folder / "studentAssessment.csv", "1005,501,-5,1,60")  # 1005: none
    data = read_oulad(folder)
    assert data.inputs.row(3)[1:] == (11, 5, 2, 4)


def test_duplicate_registration_is_rejected(tmp_path: Path) -> None:
    folder = excerpt_copy(tmp_path)
    append_line(folder / "studentRegistration.csv", '"KKK","2013J","01002","-9",""')
    data = read_oulad(folder)
    assert data.rejected.filter(pl.col("line") == 7)["reason"].to_list() == [
        "duplicate registration: `id_student` 1002 on (`code_module` 'KKK', "
        "`code_presentation` '2013J') is already on line 3"
    ]
    assert data.needs.height == len(EXCERPT_NEEDS)  # submissions joined once


def test_duplicate_assessment_is_an_error(tmp_path: Path) -> None:
    folder = excerpt_copy(tmp_path)
    append_line(folder / "assessments.csv", '"LLL","2014B","501","TMA","9","5"')
    with pytest.raises(
        LogFormatError, match=r"assessment \(501\) is listed on lines 2, 6"
    ):
        read_oulad(folder)


def test_missing_presentation_in_assessments(tmp_path: Path) -> None:
    folder = excerpt_copy(tmp_path)
    append_line(folder / "assessments.csv", '"","2014B","777","TMA","9","5"')
    append_line(folder / "studentAssessment.csv", "1001,777,30,0,60")
    data = read_oulad(folder)
    reasons = dict(
        data.rejected.filter(pl.col("source").str.contains("ssessment"))
        .select(pl.col("source").str.extract(r"(\w+)\.csv$"), "reason")
        .filter(pl.col("reason").str.contains("777|`code_module` is empty"))
        .iter_rows()
    )
    assert reasons == {
        "assessments": "missing presentation: `code_module` is empty",
        "studentAssessment": "unknown assessment: `id_assessment` 777 has no valid "
        "row in assessments.csv",
    }


def test_missing_submission_column_names_the_field(tmp_path: Path) -> None:
    folder = excerpt_copy(tmp_path)
    (folder / "studentAssessment.csv").write_bytes(b"id_student,id_assessment\r\n")
    with pytest.raises(
        LogFormatError, match=r"missing column\(s\) `date_submitted`"
    ) as info:
        read_oulad(folder)
    assert (info.value.line, info.value.field) == (1, "date_submitted")


def test_missing_assessments_file_names_it(tmp_path: Path) -> None:
    folder = excerpt_copy(tmp_path)
    (folder / "assessments.csv").unlink()
    with pytest.raises(LogFormatError, match=r"looked for '.*assessments\.csv'"):
        read_oulad(folder)


def test_nothing_to_bill_without_needs(tmp_path: Path) -> None:
    folder = excerpt_copy(tmp_path)
    header = (EXCERPT / "studentRegistration.csv").read_bytes().split(b"\r\n")[0]
    (folder / "studentRegistration.csv").write_bytes(header + b"\r\n")
    data = read_oulad(folder)
    assert data.needs.is_empty()
    # Every submission but the banked one has no registration left.
    assert data.inputs["rows_rejected"].to_list() == [0, 1, 0, 9]
    with pytest.raises(LogFormatError, match="no usable registrations"):
        compare_oulad(data, plan=load_plan(STARTER))


def test_accounting_invariant_is_checked(excerpt: oulad.OuladData) -> None:
    with pytest.raises(ValueError, match="`rows_rejected` \\(1\\) must equal its rows"):
        oulad.OuladData(**{**excerpt.__dict__, "rejected": excerpt.rejected.head(0)})


# -- needs: the real data -----------------------------------------------------


def read_rows(name: str) -> list[dict[str, str]]:
    with (REAL / name).open(newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="module")
def real() -> oulad.OuladData:
    return read_oulad(REAL)


@needs_real_oulad
def test_real_data_every_row_is_accounted_for(real: oulad.OuladData) -> None:
    """Counts derived from the files with the csv module, not from the adapter."""
    courses = read_rows("courses.csv")
    assessments = {
        row["id_assessment"]: (row["code_module"], row["code_presentation"])
        for row in read_rows("assessments.csv")
    }
    registrations = read_rows("studentRegistration.csv")
    submissions = read_rows("studentAssessment.csv")
    registered = {
        (row["id_student"], row["code_module"], row["code_presentation"]): row
        for row in registrations
    }
    undated = [
        line
        for line, row in enumerate(registrations, start=2)
        if row["date_registration"] == ""
    ]
    banked = [row for row in submissions if row["is_banked"] == "1"]
    unplaced = [
        line
        for line, row in enumerate(submissions, start=2)
        if row["is_banked"] == "0"
        and registered[(row["id_student"], *assessments[row["id_assessment"]])][
            "date_registration"
        ]
        == ""
    ]

    assert [len(courses), len(assessments), len(registrations), len(submissions)] == [
        22,
        206,
        32593,
        173912,
    ]
    assert (len(undated), len(banked), len(unplaced)) == (45, 1909, 3)
    expected = pl.DataFrame(
        {
            "input": [str(REAL / name) for name in oulad.FILES],
            "rows_read": [22, 206, len(registrations), len(submissions)],
            "rows_used": [
                22,
                206,
                len(registrations) - len(undated),
                len(submissions) - len(banked) - len(unplaced),
            ],
            "rows_not_activity": [0, 0, 0, len(banked)],
            "rows_rejected": [0, 0, len(undated), len(unplaced)],
        },
        schema=oulad.INPUTS_SCHEMA,
    )
    assert_frame_equal(real.inputs, expected)
    rejected = real.rejected.with_columns(
        pl.col("source").str.extract(r"(\w+\.csv)$"),
        pl.col("reason").str.extract(r"^([^:]+):"),
    )
    assert rejected.rows() == [
        *(
            ("studentRegistration.csv", line, "no registration date")
            for line in undated
        ),
        *(
            ("studentAssessment.csv", line, "no placeable registration")
            for line in unplaced
        ),
    ]


@needs_real_oulad
def test_real_data_needs(real: oulad.OuladData) -> None:
    assessments = {
        row["id_assessment"]: (row["code_module"], row["code_presentation"])
        for row in read_rows("assessments.csv")
    }
    registrations = read_rows("studentRegistration.csv")
    by_key = {
        (row["id_student"], row["code_module"], row["code_presentation"]): row
        for row in registrations
    }
    used = [row for row in registrations if row["date_registration"]]
    submitted = [
        (row, by_key[(row["id_student"], *assessments[row["id_assessment"]])])
        for row in read_rows("studentAssessment.csv")
    ]
    late_rows = [
        (row, registration)
        for row, registration in submitted
        if registration["date_unregistration"] != ""
        and int(row["date_submitted"]) > int(registration["date_unregistration"])
    ]
    counts = dict(real.needs["event"].cast(pl.String).value_counts().iter_rows())
    withdrew = sum(row["date_unregistration"] != "" for row in used)
    assert counts == {
        "registration": len(used),
        "withdrawal": withdrew,
        "final_result": len(used) - withdrew,
        "submission": sum(
            row["is_banked"] == "0" and registration["date_registration"] != ""
            for row, registration in submitted
        ),
    }
    assert counts == {
        "registration": 32548,
        "withdrawal": 10033,
        "final_result": 22515,
        "submission": 172000,
    }
    assert real.needs.height == 237096
    # The README's 601 submissions after the student's own withdrawal: 13 banked
    # (not activity), 3 of a registration without a date (rejected), 585 needs.
    banked = [row for row, _ in late_rows if row["is_banked"] == "1"]
    undated = [
        row
        for row, registration in late_rows
        if row["is_banked"] == "0" and registration["date_registration"] == ""
    ]
    late = len(late_rows) - len(banked) - len(undated)
    assert (len(late_rows), len(banked), len(undated), late) == (601, 13, 3, 585)
    assert int(real.needs["after_withdrawal"].sum()) == late
    assert real.learners.height == len({row["id_student"] for row in used}) == 28755
    # Strategies' requirements: unique learners, no need before its creation.
    assert real.learners["learner_id"].is_unique().all()
    early = real.needs.join(real.learners, on="learner_id").filter(
        pl.col("at") < pl.col("created_at")
    )
    assert early.is_empty()
    assert real.period() == (date(2012, 3, 1), date(2015, 9, 1))


def test_compare_over_a_given_period(excerpt: oulad.OuladData) -> None:
    # Three more months (October to December 2014) for each of the 3 learners.
    result = compare_oulad(
        excerpt,
        plan=load_plan(STARTER),
        strategies={"always_active": always_active},
        explicit=False,
        period=(date(2013, 9, 1), date(2014, 12, 1)),
    )
    assert result.table["learner_months"].to_list() == [35 + 3 * 3]
    assert result.last_month == date(2014, 12, 1)


def test_notebook_skip_reason(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.helpers import missing_oulad_reason

    monkeypatch.setenv(ENV_VAR, str(EXCERPT))
    assert missing_oulad_reason() is None
    monkeypatch.setenv(ENV_VAR, str(tmp_path))  # an empty folder
    assert missing_oulad_reason() == (
        "real OULAD data not found: courses.csv, assessments.csv, "
        f"studentRegistration.csv, studentAssessment.csv missing in '{tmp_path}' "
        "(set METER_SIM_OULAD to the folder of the OULAD CSV files)"
    )
    monkeypatch.delenv(ENV_VAR)
    monkeypatch.setattr(oulad, "DEFAULT_FOLDER", tmp_path / "absent")
    reason = missing_oulad_reason()
    assert reason is not None
    assert "METER_SIM_OULAD is not set" in reason
    assert "absent' does not exist" in reason
