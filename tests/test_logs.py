"""Status-log and activity-log readers (meter_sim.logs): formats and every error."""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING

import numpy as np
import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st

from meter_sim import billing, logs
from meter_sim.billing import run_scenario
from meter_sim.exceptions import LogFormatError, ScenarioError
from meter_sim.logs import (
    _EXPORT_ISO,
    _decimal_order,
    _export_instant,
    _learner_groups,
    _lexical_order,
    _sort_rows,
    read_activity_log,
    read_status_log,
)
from meter_sim.pricing import Plan
from meter_sim.scenario import load_scenario

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from meter_sim.logs import StatusLog


def write(tmp_path: Path, text: str, name: str = "status.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


HEADER = "learner_id,changed_at,is_active\n"


def test_reads_offsets_z_spaces_and_status_words(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "learner_id,changed_at,is_active,channel,actor,event_id\n"
        "L1,2018-04-11T10:00:00+10:00,Yes,UI,ann,e1\n"
        "L1,2018-04-11 06:30:00.25Z,n,,,\n"
        "7,2018-04-11T10:00+1000,TRUE,api,,\n"
        "L2,2018-04-11T00:00:00Z,0,,,\n",
    )
    log = read_status_log(path)
    assert log.rows_read == 4
    assert log.rejected.is_empty()
    rows = log.events.select("line", "learner_id", "changed_at", "is_active").rows()
    assert rows == [
        (4, "7", datetime(2018, 4, 11, 0, tzinfo=UTC), True),
        (2, "L1", datetime(2018, 4, 11, 0, tzinfo=UTC), True),
        (3, "L1", datetime(2018, 4, 11, 6, 30, 0, 250000, tzinfo=UTC), False),
        (5, "L2", datetime(2018, 4, 11, 0, tzinfo=UTC), False),
    ]
    assert log.events["channel"].to_list() == ["api", "ui", None, None]
    assert log.events["actor"].to_list() == [None, "ann", None, None]
    assert log.events["event_id"].to_list() == [None, "e1", None, None]


def test_rows_in_any_order_come_out_in_time_order(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        HEADER + "L1,2018-07-02T09:00:00+10:00,yes\n"
        "L1,2018-04-11T16:00:00+10:00,no\n"
        "L1,2018-04-11T10:00:00+10:00,yes\n",
    )
    assert read_status_log(path).events["line"].to_list() == [4, 3, 2]


def test_bom_and_padded_header_are_accepted(tmp_path: Path) -> None:
    path = tmp_path / "bom.csv"
    path.write_bytes(
        b"\xef\xbb\xbflearner_id, changed_at ,is_active\r\n"
        b"L1,2018-04-11T00:00:00Z,y\r\n"
    )
    assert read_status_log(path).events["learner_id"].to_list() == ["L1"]


@pytest.mark.parametrize(
    ("row", "message"),
    [
        (
            "L1,2018-04-11T10:00:00,yes",
            r"status.csv:3: `changed_at`: time has no UTC offset",
        ),
        (
            "L1,2018-02-30T10:00:00+10:00,yes",
            r"status.csv:3: `changed_at`: impossible date or time",
        ),
        (
            "L1,11/04/2018 10:00,yes",
            r"status.csv:3: `changed_at`: not an ISO-8601 date-time",
        ),
        ("L1,,yes", r"status.csv:3: `changed_at`: blank"),
        (
            "L1,2018-04-11T10:00:00Z,",
            r"status.csv:3: `is_active`: blank; expected one of",
        ),
        (
            "L1,2018-04-11T10:00:00Z,maybe",
            r"status.csv:3: `is_active`: expected one of true, yes.*got 'maybe'",
        ),
        (",2018-04-11T10:00:00Z,yes", r"status.csv:3: `learner_id`: blank"),
    ],
)
def test_bad_rows_name_file_line_and_field(
    tmp_path: Path, row: str, message: str
) -> None:
    path = write(tmp_path, HEADER + "L0,2018-04-01T00:00:00Z,yes\n" + row + "\n")
    with pytest.raises(LogFormatError, match=message) as info:
        read_status_log(path)
    assert info.value.line == 3
    assert info.value.source == str(path)


def test_all_problems_are_listed_with_their_lines(tmp_path: Path) -> None:
    path = write(
        tmp_path, HEADER + "L1,2018-04-11T10:00:00,yes\nL2,2018-04-11T10:00:00Z,x\n"
    )
    with pytest.raises(LogFormatError) as info:
        read_status_log(path)
    lines = str(info.value).splitlines()
    assert lines[0].startswith(f"{path}:2: `changed_at`")
    assert lines[1].startswith(f"{path}:3: `is_active`")


def test_unknown_channel_is_an_error(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "learner_id,changed_at,is_active,channel\nL1,2018-04-11T00:00:00Z,y,fax\n",
    )
    with pytest.raises(
        LogFormatError, match=r":2: `channel`: expected one of ui, .*got 'fax'"
    ):
        read_status_log(path)


def test_missing_column_is_named(tmp_path: Path) -> None:
    path = write(tmp_path, "learner_id,changed_at\nL1,2018-04-11T00:00:00Z\n")
    with pytest.raises(
        LogFormatError, match=r"missing column\(s\) `is_active`"
    ) as info:
        read_status_log(path)
    assert info.value.field == "is_active"


def test_yes_and_no_at_one_instant_names_both_lines(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        HEADER + "L1,2018-04-11T00:00:00Z,yes\nL2,2018-04-11T00:00:00Z,yes\n"
        "L1,2018-04-11T10:00:00+10:00,no\n",
    )
    with pytest.raises(
        LogFormatError, match=r"learner 'L1' is set to Yes \(line 2\) and No \(line 4\)"
    ):
        read_status_log(path)


def test_duplicates_count_once_and_are_reported(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "learner_id,changed_at,is_active,event_id\n"
        "L1,2018-04-11T00:00:00Z,yes,\n"
        "L1,2018-04-11T00:00:00Z,yes,\n"
        "L1,2018-04-12T00:00:00Z,no,e2\n"
        "L1,2018-04-12T00:00:00Z,no,e2\n",
    )
    log = read_status_log(path)
    assert log.events["line"].to_list() == [2, 4]
    assert log.rejected.rows() == [
        (str(path), 3, "duplicate of line 2; counted once"),
        (str(path), 5, "duplicate of line 4; counted once"),
    ]
    assert log.rows_read == log.events.height + log.rejected.height


def test_event_id_reused_for_different_rows_is_an_error(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "learner_id,changed_at,is_active,event_id\n"
        "L1,2018-04-11T00:00:00Z,yes,e1\nL2,2018-04-11T00:00:00Z,yes,e1\n",
    )
    with pytest.raises(LogFormatError, match=r"event_id 'e1' is used on lines 2, 3"):
        read_status_log(path)


def test_naive_timezone_reads_local_times(tmp_path: Path) -> None:
    path = write(tmp_path, HEADER + "L1,2018-04-11 10:00,yes\nL1,2018-11-01,no\n")
    log = read_status_log(path, naive_timezone="Australia/Sydney")
    assert log.events["changed_at"].to_list() == [
        datetime(2018, 4, 11, 0, tzinfo=UTC),
        datetime(2018, 10, 31, 13, tzinfo=UTC),  # AEDT, +11:00
    ]


@pytest.mark.parametrize(
    "local",
    ["2018-10-07T02:30:00", "2018-04-01T02:30:00"],  # skipped hour; repeated hour
)
def test_naive_dst_gap_and_overlap_are_errors(tmp_path: Path, local: str) -> None:
    path = write(tmp_path, HEADER + f"L1,{local},yes\n")
    with pytest.raises(
        LogFormatError,
        match=r":2: `changed_at`: ambiguous or non-existent local time in Australia",
    ):
        read_status_log(path, naive_timezone="Australia/Sydney")


def test_parquet_with_integer_ids_and_typed_columns(tmp_path: Path) -> None:
    path = tmp_path / "status.parquet"
    pl.DataFrame(
        {
            "learner_id": [101, 102],
            "changed_at": [datetime(2018, 4, 11, tzinfo=UTC)] * 2,
            "is_active": [True, False],
        }
    ).write_parquet(path)
    log = read_status_log(path)
    assert log.events.select("line", "learner_id", "is_active").rows() == [
        (1, "101", True),
        (2, "102", False),
    ]


def test_parquet_naive_datetimes_need_a_zone(tmp_path: Path) -> None:
    path = tmp_path / "status.parquet"
    pl.DataFrame(
        {
            "learner_id": ["a"],
            "changed_at": [datetime(2018, 4, 11)],  # noqa: DTZ001
            "is_active": [True],
        }
    ).write_parquet(path)
    with pytest.raises(
        LogFormatError, match=r"row 1: `changed_at`: time has no time zone"
    ):
        read_status_log(path)
    log = read_status_log(path, naive_timezone="Europe/London")
    assert log.events["changed_at"].item() == datetime(2018, 4, 10, 23, tzinfo=UTC)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "the file is empty"),
        (b"learner_id,changed_at,is_active\n\xff\xfe,x,y\n", "not UTF-8"),
    ],
)
def test_unreadable_files(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "status.csv"
    path.write_bytes(content)
    with pytest.raises(LogFormatError, match=message):
        read_status_log(path)


def test_missing_file_and_unknown_type(tmp_path: Path) -> None:
    with pytest.raises(LogFormatError, match="no such file"):
        read_status_log(tmp_path / "nope.csv")
    other = write(tmp_path, "x", "status.xlsx")
    with pytest.raises(LogFormatError, match=r"unknown file type '\.xlsx'"):
        read_status_log(other)


def test_header_only_gives_an_empty_log(tmp_path: Path) -> None:
    log = read_status_log(write(tmp_path, HEADER))
    assert log.events.is_empty()
    assert log.rows_read == 0


def test_activity_log_reads_kinds_channels_and_scheduled(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "learner_id,occurred_at,activity,channel,scheduled\n"
        "L1,2018-04-11T00:05:00Z,Enrolment,,\n"
        "L1,2018-05-10T00:00:00Z,message,automation,yes\n"
        "L1,2018-05-11T00:00:00Z,view,learner_app,\n",
        "activity.csv",
    )
    log = read_activity_log(path)
    assert log.events.select("activity", "channel", "scheduled").rows() == [
        ("enrolment", "ui", False),
        ("message", "automation", True),
        ("view", "learner_app", False),
    ]


def test_unknown_activity_is_an_error(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "learner_id,occurred_at,activity\nL1,2018-04-11T00:05:00Z,dance\n",
        "activity.csv",
    )
    with pytest.raises(
        LogFormatError,
        match=r"activity.csv:2: `activity`: expected one of sales, .*got 'dance'",
    ):
        read_activity_log(path)


def test_paths_are_literal_not_glob_patterns(tmp_path: Path) -> None:
    write(tmp_path, HEADER + "WRONG,2018-04-11T00:00:00Z,y\n", "a1.csv")
    literal = write(tmp_path, HEADER + "RIGHT,2018-04-11T00:00:00Z,y\n", "a[1].csv")
    assert read_status_log(literal).events["learner_id"].to_list() == ["RIGHT"]


def test_a_users_line_column_does_not_replace_line_numbers(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "line,learner_id,changed_at,is_active\n"
        "7,L1,2018-04-11T00:00:00Z,y\n7,L1,2018-04-11T00:00:00Z,y\n",
    )
    log = read_status_log(path)
    assert log.rejected["reason"].to_list() == ["duplicate of line 2; counted once"]


def test_line_numbers_count_line_breaks_inside_quoted_fields(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        HEADER + '"L\n1",2018-04-11T00:00:00Z,y\n'
        '"L\n\n2",2018-04-11T00:00:00Z,y\n'
        "L3,2018-04-11T00:00:00,y\n",
    )
    with pytest.raises(LogFormatError, match=r"status\.csv:7: `changed_at`"):
        read_status_log(path)


def test_blank_records_are_rejected_and_lines_stay_right(tmp_path: Path) -> None:
    path = write(tmp_path, HEADER + "\nL1,2018-04-11T00:00:00Z,y\n,,\n\nL1,x,y\n\n")
    with pytest.raises(LogFormatError, match=r"status\.csv:6: `changed_at`") as info:
        read_status_log(path)
    assert len(str(info.value).splitlines()) == 1
    ok = write(tmp_path, HEADER + "L1,2018-04-11T00:00:00Z,y\r\n\r\n", "ok.csv")
    log = read_status_log(ok)
    assert log.rows_read == 2
    assert log.rejected.rows() == [
        (str(ok), 3, "blank record (every field empty); not used")
    ]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("learner_id,changed_at,is_active\n".encode("utf-16"), "UTF-16"),
        (
            b"learner_id;changed_at;is_active\nL1;2018-04-11T00:00:00Z;y\n",
            "separated by commas",
        ),
        (
            b"learner_id,learner_id,changed_at,is_active\n",
            "column `learner_id` appears more than once",
        ),
        (
            b"learner_id,changed_at,is_active\nL1,2018-04-11T00:00:00Z,y\nL2,x,y,extra\n",
            r"status.csv:3: cannot be read as CSV: this record has a different number of fields",
        ),
    ],
)
def test_malformed_csv_files_get_a_hint(
    tmp_path: Path, content: bytes, message: str
) -> None:
    path = tmp_path / "status.csv"
    path.write_bytes(content)
    with pytest.raises(LogFormatError, match=message):
        read_status_log(path)


@pytest.mark.parametrize(
    ("column", "values", "message"),
    [
        (
            "learner_id",
            [[1]],
            r"column `learner_id` holds List\(Int64\); expected text or a whole number",
        ),
        ("learner_id", [1.5], "column `learner_id` holds Float64"),
        ("is_active", [b"y"], "column `is_active` holds Binary"),
    ],
)
def test_parquet_columns_of_the_wrong_type(
    tmp_path: Path, column: str, values: list[object], message: str
) -> None:
    columns: dict[str, list[object]] = {
        "learner_id": ["a"],
        "changed_at": [datetime(2018, 4, 11, tzinfo=UTC)],
        "is_active": [True],
    }
    columns[column] = values
    path = tmp_path / "status.parquet"
    pl.DataFrame(columns).write_parquet(path)
    with pytest.raises(LogFormatError, match=message):
        read_status_log(path)


def test_years_outside_the_supported_range(tmp_path: Path) -> None:
    path = write(
        tmp_path, HEADER + "L1,9999-12-31T23:00:00Z,y\nL1,1899-12-31T00:00:00Z,n\n"
    )
    with pytest.raises(LogFormatError) as info:
        read_status_log(path)
    assert str(info.value).count("outside the supported years 1900 to 2199") == 2


def test_long_values_are_cut_in_messages(tmp_path: Path) -> None:
    path = write(tmp_path, HEADER + f"L1,2018-04-11T00:00:00Z,{'x' * 10_000}\n")
    with pytest.raises(LogFormatError) as info:
        read_status_log(path)
    assert len(str(info.value)) < 400


def test_a_folder_is_not_a_file(tmp_path: Path) -> None:
    with pytest.raises(LogFormatError, match="is a folder"):
        read_status_log(tmp_path)


# --- The fast path: typed Parquet ------------------------------------------------


def typed_parquet(tmp_path: Path, rows: list[tuple[object, datetime, bool]]) -> Path:
    path = tmp_path / "typed.parquet"
    pl.DataFrame(
        {
            "learner_id": [r[0] for r in rows],
            "changed_at": [r[1] for r in rows],
            "is_active": [r[2] for r in rows],
        },
        schema_overrides={"changed_at": pl.Datetime("ms", "Australia/Sydney")},
    ).write_parquet(path)
    return path


def decoded(log: StatusLog) -> pl.DataFrame:
    assert log.packed is not None
    events = log.packed.events
    return events.with_columns(log.packed.learners.gather(events["learner_id"]))


def at(day: int, hour: int = 0, millisecond: int = 0) -> datetime:
    return datetime(2018, 4, day, hour, 0, 0, millisecond * 1000, tzinfo=UTC)


def test_typed_parquet_takes_the_fast_path_with_the_same_answer(
    tmp_path: Path,
) -> None:
    rows: list[tuple[object, datetime, bool]] = [
        ("L2", at(3), True),
        ("L10", at(2, 5, 250), True),
        ("L2", at(1), False),
        ("L10", at(2, 5, 250), True),  # duplicate of row 2
        ("é", at(4), True),
        ("L2", at(3), True),  # duplicate of row 1
        ("L10", at(9), False),
        ("A-very-long-learner-id-beyond-16-bytes", at(5), True),
    ]
    path = typed_parquet(tmp_path, rows)
    log = read_status_log(path)
    assert log.packed is not None
    assert log.rows_read == 8
    # The general path, on the same rows, says the same.
    general = log.events
    assert decoded(log).equals(general.select("learner_id", "changed_at", "is_active"))
    assert log.packed.learners.to_list() == sorted({str(r[0]) for r in rows})
    assert log.rejected.select("line", "reason").rows() == [
        (4, "duplicate of row 2; counted once"),
        (6, "duplicate of row 1; counted once"),
    ]


def test_fast_path_integer_ids_sort_as_text(tmp_path: Path) -> None:
    path = typed_parquet(tmp_path, [(1000, at(1), True), (999, at(2), True)])
    log = read_status_log(path)
    assert log.packed is not None
    assert log.packed.learners.to_list() == ["1000", "999"]


def test_fast_path_conflict_names_both_rows(tmp_path: Path) -> None:
    path = typed_parquet(
        tmp_path, [("L1", at(1), True), ("L2", at(1), True), ("L1", at(1), False)]
    )
    with pytest.raises(
        LogFormatError,
        match=r"row 3: `is_active`: learner 'L1' is set to Yes \(row 1\) and No "
        r"\(row 3\) at the same instant 2018-04-01T00:00:00",
    ):
        read_status_log(path)


@pytest.mark.parametrize(
    ("learner", "when", "message"),
    [
        (None, at(1), r"row 2: `learner_id`: blank"),
        ("  ", at(1), r"row 2: `learner_id`: blank"),
        ("L1", datetime(1899, 12, 31, 23, tzinfo=UTC), "outside the supported years"),
    ],
)
def test_fast_path_still_validates(
    tmp_path: Path, learner: str | None, when: datetime, message: str
) -> None:
    path = typed_parquet(tmp_path, [("L0", at(1), True), (learner, when, True)])
    with pytest.raises(LogFormatError, match=message):
        read_status_log(path)


SPACED_IDS = ("L1", "L1 ", "\u00a0L1", " L1")
"""Ids that differ only by white space: four learners, on every path."""


def test_ids_with_spaces_are_kept_as_written_on_every_path(tmp_path: Path) -> None:
    # Issue #18.3: the CSV reader trimmed (NBSP too) and merged these silently,
    # the fast path sent them to it, and a scenario kept them: 1 learner or 4.
    rows: list[tuple[object, datetime, bool]] = [
        (i, at(1 + n), True) for n, i in enumerate(SPACED_IDS)
    ]
    csv = write(
        tmp_path, HEADER + "".join(f"{i},{t.isoformat()},yes\n" for i, t, _ in rows)
    )
    fast = read_status_log(typed_parquet(tmp_path, rows))
    general = read_status_log(csv)
    assert fast.packed is not None  # the ids need no other path
    assert sorted(decoded(fast)["learner_id"]) == sorted(SPACED_IDS)
    assert sorted(general.events["learner_id"]) == sorted(SPACED_IDS)
    assert general.rows_read == 4
    assert general.rejected.is_empty()
    learners = "".join(
        f"  - id: {json.dumps(i)}\n    status: [{{at: {t.isoformat()}, active: yes}}]\n"
        for i, t, _ in rows
    )
    scenario = tmp_path / "spaced.yaml"
    scenario.write_text(
        "name: Spaced\ntimezone: Australia/Sydney\nperiod: {from: 2018-04, "
        "through: 2018-04}\nplan: {name: P, currency: AUD, base_fee: 0, "
        "included_learners: 0, overage_price: 1}\nlearners:\n" + learners,
        encoding="utf-8",
    )
    billed = run_scenario(load_scenario(scenario))
    assert billed.learner_months["learner_id"].sort().to_list() == sorted(SPACED_IDS)


@pytest.mark.parametrize("blank", ["", "   ", "\u00a0", "\t"])
def test_an_id_of_only_white_space_is_blank_in_a_log_and_a_scenario(
    tmp_path: Path, blank: str
) -> None:
    with pytest.raises(LogFormatError, match=r"status.csv:2: `learner_id`: blank"):
        read_status_log(write(tmp_path, HEADER + f"{blank},2018-07-01T00:00:00Z,yes\n"))
    scenario = tmp_path / "blank.yaml"
    scenario.write_text(
        "name: Blank\ntimezone: UTC\nplan: {name: P, currency: AUD, base_fee: 0, "
        "included_learners: 0, overage_price: 1}\nlearners:\n"
        f"  - id: {json.dumps(blank)}\n    status: [{{at: 2018-07-01, active: yes}}]\n",
        encoding="utf-8",
    )
    with pytest.raises(ScenarioError, match="blank"):
        load_scenario(scenario)


def test_learner_groups_tell_ids_apart_when_hash_prefixes_collide() -> None:
    ids = pl.Series([f"L{i % 50}" for i in range(400)])
    first = ids.hash(seed=0).to_numpy(writable=True)
    second = ids.hash(seed=1).to_numpy()
    # Two bits of the first hash: every group holds many ids.
    rows, starts = _learner_groups(first, second, prefix_bits=2)
    grouped = ids.gather(pl.Series(rows))
    assert int(starts.sum()) == 50
    learner_of_row = np.cumsum(starts) - 1
    assert pl.DataFrame({"id": grouped, "g": learner_of_row}).n_unique() == 50
    # Rows of one learner stay in file order.
    for group in range(50):
        members = rows[learner_of_row == group]
        assert (np.diff(members.astype(np.int64)) > 0).all()


@pytest.mark.parametrize(
    "values",
    [
        ["b", "a", "ab", "", "a\x00b", "zz"],
        ["S000000010", "S000000002", "S100000000", "S000000001"],
        ["short", "a-much-longer-learner-id-of-many-bytes", "é", "e"],
        ["1000", "999", "10", "1"],
    ],
)
def test_lexical_order_is_the_order_of_sort(values: list[str]) -> None:
    series = pl.Series(values)
    order = _lexical_order(series)
    assert series.gather(pl.Series(order)).to_list() == sorted(values)


@given(
    values=st.lists(
        st.one_of(
            st.integers(-(2**63) + 1, 2**63 - 1),
            st.integers(-1_000, 1_000),
            st.sampled_from([0, 9, 10, 99, 100, 10**18 - 1, 10**18, 2**63 - 1]),
        ),
        min_size=1,
        max_size=50,
    ),
    unsigned=st.booleans(),
)
def test_decimal_order_is_the_order_of_the_texts(
    values: list[int], *, unsigned: bool
) -> None:
    numbers = (
        np.array([abs(v) for v in values] + [10**19 - 1], dtype=np.uint64)
        if unsigned  # UInt64 ids, up to the largest the order takes
        else np.array(values, dtype=np.int64)
    )
    order = _decimal_order(numbers)
    texts = [str(v) for v in numbers.tolist()]
    assert [texts[i] for i in order] == sorted(texts)


def test_sort_rows_without_room_for_a_packed_key() -> None:
    codes = np.array([3, 1, 3, 2**20, 1], dtype=np.uint32)
    ticks = np.array([2**50, 7, 2**50, 4, 6], dtype=np.int64)
    got_codes, got_ticks, repeated = _sort_rows(codes, ticks)
    assert got_codes.tolist() == [1, 1, 3, 2**20]
    assert got_ticks.tolist() == [6, 7, 2**50, 4]
    assert repeated.rows() == [(1, 3), (3, 2**49)]


@pytest.mark.parametrize(
    ("dtype", "far"),
    [(np.uint32, 2**31 - 2), (np.int64, 2**40)],
    ids=["uint32", "int64"],
)
def test_sort_rows_with_a_packed_key(dtype: type, far: int) -> None:
    # Worked out by hand: (code, ticks) in order, identical rows once; a
    # repeated (learner, instant) is listed once per extra row (ticks // 2).
    codes = np.array([2, 0, 2, 1, 0, 2, 0], dtype=np.uint32)
    ticks: np.ndarray = np.array([far, 5, far, 8, 4, 3, 5], dtype=dtype)
    got_codes, got_ticks, repeated = _sort_rows(codes, ticks)
    assert got_codes.tolist() == [0, 0, 1, 2, 2]
    assert got_ticks.tolist() == [4, 5, 8, 3, far]
    assert got_ticks.dtype == dtype
    assert repeated.rows() == [(0, 2), (0, 2), (2, far // 2)]


# -- the export form is parsed fast, every other row in full ---------------------


def test_rows_of_every_form_keep_their_place(tmp_path: Path) -> None:
    """Rows in the export form and in the other forms, interleaved, each parsed."""
    path = tmp_path / "mixed.csv"
    path.write_text(
        "learner_id,changed_at,is_active\n"
        "A,2018-04-11T10:00:00+10:00,yes\n"  # export form
        "B,2018-04-11 10:00:00+10:00,yes\n"  # a space for T
        "C,2018-04-11T10:00Z,yes\n"  # no seconds
        "D,2018-04-11T00:00:00.25z,yes\n"  # lower-case z
        "E,2018-04-11T00:00:00.000001-0130,yes\n",  # offset without colon
        encoding="utf-8",
    )
    events = read_status_log(path).events.sort("line")
    assert events["changed_at"].to_list() == [
        datetime(2018, 4, 11, 0, 0, tzinfo=UTC),
        datetime(2018, 4, 11, 0, 0, tzinfo=UTC),
        datetime(2018, 4, 11, 10, 0, tzinfo=UTC),
        datetime(2018, 4, 11, 0, 0, 0, 250_000, tzinfo=UTC),
        datetime(2018, 4, 11, 1, 30, 0, 1, tzinfo=UTC),
    ]


@given(
    # A wall-clock time, written below with an offset of its own.
    instant=st.datetimes(
        min_value=datetime(1900, 1, 2),  # noqa: DTZ001
        max_value=datetime(2199, 12, 30),  # noqa: DTZ001
    ),
    offset_minutes=st.integers(-14 * 60, 14 * 60),
    digits=st.integers(0, 6),
    colon=st.booleans(),
)
def test_the_export_form_parses_as_the_full_reader(
    instant: datetime, offset_minutes: int, digits: int, colon: bool
) -> None:
    from meter_sim.logs import _EXPORT_ISO, _instants_and_errors, _parse_instants

    sign = "-" if offset_minutes < 0 else "+"
    hours, minutes = divmod(abs(offset_minutes), 60)
    fraction = f".{instant.microsecond:06d}"[: digits + 1] if digits else ""
    offset = f"{sign}{hours:02d}{':' if colon else ''}{minutes:02d}"
    text = f"{instant:%Y-%m-%dT%H:%M:%S}{fraction}{offset}"
    frame = pl.DataFrame({"line": [2], "t": [text]})
    full_value, full_error = _instants_and_errors(frame, "t", None)
    expected = frame.select(full_value.alias("v"), full_error.alias("e")).row(0)
    fast_frame, value, error = _parse_instants(frame, "t", None)
    assert re.fullmatch(_EXPORT_ISO, text)  # so the fast path parses it
    assert fast_frame.select(value, error).row(0) == expected


def test_a_time_finer_than_a_microsecond_is_refused_in_text_and_typed(
    tmp_path: Path,
) -> None:
    """100 ns into July is not midnight: refused, never cut (issue #18, 5)."""
    from meter_sim.logs import SUB_MICROSECOND

    text = write(
        tmp_path,
        "learner_id,changed_at,is_active\n"
        "L1,2018-06-30T00:00:00+10:00,yes\n"
        "L1,2018-07-01T00:00:00.0000001+10:00,no\n",
    )
    with pytest.raises(LogFormatError) as caught:
        read_status_log(text)
    assert str(caught.value) == f"{text}:3: `changed_at`: {SUB_MICROSECOND}"
    typed = tmp_path / "status.parquet"
    pl.DataFrame(
        {
            "learner_id": ["L1", "L1"],
            "changed_at": pl.Series([0, 1_530_367_200_000_000_100]).cast(
                pl.Datetime("ns", "UTC")
            ),
            "is_active": [True, False],
        }
    ).write_parquet(typed)
    with pytest.raises(LogFormatError) as caught:
        read_status_log(typed)
    assert str(caught.value) == f"{typed}:row 2: `changed_at`: {SUB_MICROSECOND}"
    # Whole microseconds in a nanosecond column are kept exactly.
    pl.DataFrame(
        {
            "learner_id": ["L1"],
            "changed_at": pl.Series([1_530_367_200_000_001_000]).cast(
                pl.Datetime("ns", "UTC")
            ),
            "is_active": [True],
        }
    ).write_parquet(typed)
    assert read_status_log(typed).events["changed_at"].to_list() == [
        datetime(2018, 6, 30, 14, 0, 0, 1, tzinfo=UTC)
    ]


# --- A log replaced while it is read (issue #18.2) -------------------------------

CHANGED = "the file changed while it was read"


def swapped_link(tmp_path: Path) -> tuple[Path, Path]:
    """A link ``log.parquet`` to one typed log, and another log to swap in."""
    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir()
    second.mkdir()
    old = typed_parquet(first, [("A1", at(1), True), ("A2", at(2), True)])
    new = typed_parquet(second, [("B1", at(3), True)])
    link = tmp_path / "log.parquet"
    link.symlink_to(old)
    return link, new


def swap(link: Path, target: Path) -> None:
    link.unlink()
    link.symlink_to(target)


def meddle(
    monkeypatch: pytest.MonkeyPatch,
    module: object,
    name: str,
    act: Callable[[], object],
) -> None:
    """Make ``module.name`` first do ``act`` (change the file), then its work."""
    original = getattr(module, name)

    def meddling(*args: object, **kwargs: object) -> object:
        act()
        return original(*args, **kwargs)

    monkeypatch.setattr(module, name, meddling)


def test_a_log_swapped_between_the_fast_paths_reads_is_read_as_one_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The fast path reads the ids, then the dictionary: a swap in between billed
    # one file's ids on the other's months. Every read now goes to the file
    # opened first, and a link re-pointed meanwhile is not followed.
    link, new = swapped_link(tmp_path)
    alone = decoded(read_status_log(link)).rows()
    meddle(monkeypatch, logs, "_dictionary", lambda: swap(link, new))
    log = read_status_log(link)
    assert decoded(log).rows() == alone
    assert sorted(log.events["learner_id"]) == ["A1", "A2"]  # read again: the same


def test_a_log_rewritten_in_place_while_it_is_read_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    link, new = swapped_link(tmp_path)
    target = link.resolve()
    # The same file, new content.
    meddle(
        monkeypatch, logs, "_dictionary", lambda: target.write_bytes(new.read_bytes())
    )
    with pytest.raises(LogFormatError, match=f"log.parquet: {CHANGED}"):
        read_status_log(link)


def test_a_csv_written_to_while_it_is_read_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path, HEADER + "L1,2018-04-11T00:00:00Z,y\n")

    def append() -> None:
        with path.open("a", encoding="utf-8") as handle:
            handle.write("L2,2018-04-12T00:00:00Z,y\n")

    meddle(monkeypatch, logs, "_find", append)
    with pytest.raises(LogFormatError, match=f"status.csv: {CHANGED}"):
        read_status_log(path)


def test_a_log_swapped_while_it_is_streamed_is_streamed_as_one_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    link, new = swapped_link(tmp_path)
    plan = Plan(
        name="P", currency="AUD", base_fee=0, included_learners=0, overage_price=1
    )
    out = tmp_path / "months.parquet"
    alone = billing.bill_streaming(link, out, plan=plan).monthly
    meddle(monkeypatch, billing, "_id_ranges", lambda: swap(link, new))
    assert billing.bill_streaming(link, out, plan=plan).monthly.equals(alone)
    assert sorted(pl.read_parquet(out)["learner_id"]) == ["A1", "A2"]


def test_naive_times_after_2099_are_read_by_the_rules_of_the_month_edges(
    tmp_path: Path,
) -> None:
    # Issue #18.4: 23:30 on 30 April 2150 in New York (EDT) is 03:30 UTC, in April;
    # read by polars' zone data (no DST after 2099) it was 04:30 UTC, in May.
    naive = write(
        tmp_path,
        HEADER + "L1,2150-04-30T23:30:00,yes\nL1,2150-04-30T23:45:00,no\n",
    )
    offset = write(
        tmp_path,
        HEADER + "L1,2150-04-30T23:30:00-04:00,yes\nL1,2150-04-30T23:45:00-04:00,no\n",
        "offset.csv",
    )
    plan = Plan(
        name="P", currency="AUD", base_fee=0, included_learners=0, overage_price=1
    )
    bills = [
        billing.bill(read_status_log(naive, naive_timezone="America/New_York"), plan=plan,
                     timezone="America/New_York"),
        billing.bill(read_status_log(offset), plan=plan, timezone="America/New_York"),
    ]  # fmt: skip
    for result in bills:
        assert result.learner_months.select("month").to_series().to_list() == [
            date(2150, 4, 1)
        ]


def test_unusual_spellings_of_the_status_are_read_in_full(tmp_path: Path) -> None:
    # The usual spellings are read quickly; the others (spaces, mixed case) are
    # read in full for their rows only, and give the same values.
    path = write(
        tmp_path,
        HEADER + "L1,2018-04-11T00:00:00Z, Yes\n"
        "L1,2018-04-12T00:00:00Z,nO \n"
        "L2,2018-04-11T00:00:00Z,tRuE\n"
        "L3,2018-04-11T00:00:00Z,Y\n",
    )
    rows = read_status_log(path).events.select("line", "is_active").sort("line")
    assert rows.rows() == [(2, True), (3, False), (4, True), (5, True)]


@st.composite
def export_texts(draw: st.DrawFn) -> tuple[str, datetime]:
    """A time as an export writes it, and the instant it names."""
    wall = draw(
        st.datetimes(datetime(1900, 1, 2), datetime(2199, 12, 30)).map(  # noqa: DTZ001
            lambda d: d.replace(tzinfo=None)
        )
    )
    digits = draw(st.integers(0, 6))
    wall = wall.replace(
        microsecond=wall.microsecond // 10 ** (6 - digits) * 10 ** (6 - digits)
    )
    minutes = draw(st.integers(-14 * 60, 14 * 60))
    style = draw(st.sampled_from(["Z", "colon", "compact"]))
    minutes = 0 if style == "Z" else minutes
    text = wall.strftime("%Y-%m-%dT%H:%M:%S")
    if digits:
        text += "." + f"{wall.microsecond:06d}"[:digits]
    sign, size = "-" if minutes < 0 else "+", abs(minutes)
    text += {
        "Z": "Z",
        "colon": f"{sign}{size // 60:02d}:{size % 60:02d}",
        "compact": f"{sign}{size // 60:02d}{size % 60:02d}",
    }[style]
    return text, (wall - timedelta(minutes=minutes)).replace(tzinfo=UTC)


@given(cases=st.lists(export_texts(), min_size=1, max_size=30))
def test_the_export_form_is_read_by_its_fields_exactly(
    cases: list[tuple[str, datetime]],
) -> None:
    texts = pl.Series([t for t, _ in cases])
    read = texts.to_frame("t").select(_export_instant(pl.col("t")))
    assert read.to_series().to_list() == [instant for _, instant in cases]
    assert texts.str.contains(_EXPORT_ISO).all()


@given(
    hours=st.integers(0, 99),
    minutes=st.integers(0, 99),
    sign=st.sampled_from("+-"),
    colon=st.booleans(),
)
def test_an_impossible_offset_is_no_instant_as_for_the_full_parser(
    hours: int, minutes: int, sign: str, *, colon: bool
) -> None:
    text = f"2018-07-02T09:00:00{sign}{hours:02d}{':' if colon else ''}{minutes:02d}"
    frame = pl.DataFrame({"t": [text]})
    quick = frame.select(_export_instant(pl.col("t"))).item()
    full = frame.select(
        pl.col("t").str.to_datetime(
            "%Y-%m-%dT%H:%M:%S%#z", strict=False, time_unit="us"
        )
    ).item()
    assert quick == full


def test_a_log_with_columns_named_line_and_bucket_streams_as_it_bills(
    tmp_path: Path,
) -> None:
    # A log's own `line` and `bucket` columns collided with the streaming split's
    # (a traceback, or blank records found where bill found a blank id).
    plan = Plan(
        name="P", currency="AUD", base_fee=0, included_learners=0, overage_price=1
    )
    path = tmp_path / "own.parquet"
    frame = pl.DataFrame(
        {
            "learner_id": ["L1", "L2", None],
            "changed_at": [at(1), at(2), None],
            "is_active": [True, True, None],
            "line": [7, 7, 7],
            "bucket": [1, 1, 1],
        },
        schema_overrides={"changed_at": pl.Datetime("us", "UTC")},
    )
    frame.head(2).write_parquet(path)
    billed = billing.bill(read_status_log(path), plan=plan).monthly
    streamed = billing.bill_streaming(path, tmp_path / "m.parquet", plan=plan).monthly
    assert streamed.equals(billed)
    frame.write_parquet(path)  # the third row is not blank: its id is
    for attempt in (
        lambda: read_status_log(path),
        lambda: billing.bill_streaming(path, tmp_path / "m.parquet", plan=plan),
    ):
        with pytest.raises(
            LogFormatError, match=r"own.parquet:row 3: `learner_id`: blank"
        ):
            attempt()


def test_more_than_nine_fractional_digits_get_the_sub_microsecond_message(
    tmp_path: Path,
) -> None:
    path = write(tmp_path, HEADER + "L1,2018-07-01T00:00:00.0000000001+10:00,yes\n")
    with pytest.raises(LogFormatError, match="more than 6 digits after the second"):
        read_status_log(path)


def test_a_line_break_in_a_quoted_header_name_moves_the_line_numbers(
    tmp_path: Path,
) -> None:
    header = 'learner_id,changed_at,is_active,"my\nnote"\n'
    rows = "L1,2018-04-11T00:00:00Z,yes,x\n,,,\nL2,2018-04-11T00:00:00Z,maybe,x\n"
    with pytest.raises(LogFormatError, match=r"status.csv:5: `is_active`"):
        read_status_log(write(tmp_path, header + rows))


def test_a_bare_carriage_return_in_an_id_is_refused_not_dropped(
    tmp_path: Path,
) -> None:
    # Polars drops an unquoted CR, so `L1\r` merged with `L1` silently (a
    # break-it trial); quoted, it is kept as written; CRLF line ends are fine.
    bare = write(
        tmp_path,
        HEADER + "L1,2018-04-11T00:00:00Z,yes\nL1\r,2018-04-12T00:00:00Z,yes\n",
    )
    with pytest.raises(
        LogFormatError, match=r"status.csv:3: a carriage return ends a field"
    ):
        read_status_log(bare)
    quoted = write(tmp_path, HEADER + '"L1\r",2018-04-12T00:00:00Z,yes\n', "quoted.csv")
    assert read_status_log(quoted).events["learner_id"].to_list() == ["L1\r"]
    crlf = write(
        tmp_path,
        HEADER.replace("\n", "\r\n") + "L1,2018-04-12T00:00:00Z,yes\r\n",
        "crlf.csv",
    )
    assert read_status_log(crlf).events["learner_id"].to_list() == ["L1"]
