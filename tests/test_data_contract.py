"""The participant-data contract: every validation rule has a bad file under
``tests/fixtures/contract/`` (rows in messages are 1-based data rows)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from imr_bayes import DataValidationError, ImrBayesError
from imr_bayes.data import CONTRACT_COLUMNS, load, save, validate
from imr_bayes.outcomes import CODES

FIXTURES = Path(__file__).parent / "fixtures" / "contract"


def problems_of(name: str) -> list[str]:
    with pytest.raises(DataValidationError) as info:
        load(FIXTURES / name)
    return info.value.problems


def test_valid_file_loads_with_contract_dtypes():
    data = load(FIXTURES / "valid.csv")
    assert list(data.columns) == list(CONTRACT_COLUMNS)
    assert {c: str(t) for c, t in data.dtypes.items()} == CONTRACT_COLUMNS
    assert len(data) == 9
    assert data["completer"].isna().tolist() == [False] * 6 + [True] * 3


def test_contract_covers_every_outcome_and_the_published_columns():
    for code in CODES:
        assert CONTRACT_COLUMNS[code] == "float64"
    assert CONTRACT_COLUMNS["completer"] == "boolean"
    assert CONTRACT_COLUMNS["hosp_before"] == "Int64"


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("missing_column.csv", ["missing column(s): team, ismi"]),
        ("unknown_column.csv", ["unknown column(s): notes"]),
        ("wrong_type.csv", ["rows 4, 5, 6, column 'age': not a number ('sixty-five')",
                            "rows 1, 2, 3, column 'sessions_attended': not a whole number"]),
        ("unknown_arm.csv", ["rows 7, 8, 9, column 'arm': unknown arm label(s) 'control'"]),
        ("duplicate_time.csv", ["rows 5, 10, columns 'participant_id', 'time': duplicate"]),
        ("cau_with_imr_values.csv", ["rows 7, 8, 9, column 'imr_group': a CAU participant",
                                     "rows 7, 8, 9, column 'sessions_attended': a CAU"]),
        ("time_out_of_range.csv", ["row 6, column 'time': value(s) '3' outside {0, 1, 2}"]),
        ("outcome_out_of_range.csv", ["row 2, column 'imrs_client': value(s) '5.5' outside the "
                                      "IMRS client scale range 1 to 5",
                                      "row 8, column 'asi': value(s) '-1.0' outside"]),
        ("participant_value_changes.csv", ["rows 1, 2, 3, column 'age': participant-level value"
                                           " changes"]),
        ("no_baseline.csv", ["rows 7, 8, column 'time': participant(s) 'S3' without a baseline"]),
        ("completer_inconsistent.csv", ["rows 4, 5, 6, column 'completer': inconsistent"]),
        ("unknown_category.csv", ["rows 1, 2, 3, column 'sex': unknown category 'm'; valid: "
                                  "male, female"]),
        ("team_out_of_range.csv", ["rows 1, 2, 3, column 'team': value(s) '15' outside"]),
        ("more_sessions_than_scheduled.csv", ["rows 1, 2, 3, columns 'sessions_attended', "
                                              "'sessions_scheduled': more sessions attended"]),
        ("missing_required_value.csv", ["row 2, column 'participant_id': missing value"]),
    ],
)
def test_each_rule_has_a_bad_file(name, expected):
    problems = problems_of(name)
    for text in expected:
        assert any(p.startswith(text) for p in problems), (text, problems)


def test_every_problem_is_listed_at_once():
    problems = problems_of("several_problems.csv")
    assert any("row 1, column 'arm': unknown arm label(s) 'IMR'" in p for p in problems)
    assert any("row 6, column 'time': value(s) '7'" in p for p in problems)
    assert any("rows 1, 2, 3, column 'arm': participant-level value changes" in p for p in problems)
    assert any("row 9, column 'mhrm': value(s) '200.0' outside the MHRM scale range" in p
               for p in problems)
    with pytest.raises(DataValidationError, match=r"^4 problem\(s\) in the participant data"):
        load(FIXTURES / "several_problems.csv")


def test_column_map_renames_before_validation():
    mapping = {"id": "participant_id", "group": "arm", "IMRS_client": "imrs_client"}
    data = load(FIXTURES / "renamed_columns.csv", column_map=mapping)
    assert data.equals(load(FIXTURES / "valid.csv"))
    with pytest.raises(DataValidationError, match="not a contract column"):
        load(FIXTURES / "renamed_columns.csv", column_map={**mapping, "IMRS_client": "imrs"})
    with pytest.raises(DataValidationError, match="column 'nope' not in the file"):
        load(FIXTURES / "renamed_columns.csv", column_map={**mapping, "nope": "age"})


def test_file_errors_are_clear(tmp_path):
    with pytest.raises(ImrBayesError, match="data file not found"):
        load(tmp_path / "absent.csv")
    with pytest.raises(ImrBayesError, match=r"unknown file extension '.xlsx'; valid: .csv"):
        load(tmp_path / "data.xlsx")
    with pytest.raises(ImrBayesError, match="cannot parse parquet file"):
        load(FIXTURES / "not_a_table.parquet")
    with pytest.raises(ImrBayesError, match="cannot parse csv file"):
        load(FIXTURES / "unparsable.csv")


def test_parquet_round_trip_and_atomic_save(tmp_path):
    data = load(FIXTURES / "valid.csv")
    out = save(data, tmp_path / "twin.parquet")
    assert load(out).equals(data)
    bad = data.assign(arm="other")
    with pytest.raises(DataValidationError):
        save(bad, tmp_path / "bad.csv")
    assert not list(tmp_path.glob("bad*")) and not list(tmp_path.glob(".bad*"))


def test_completer_is_derived_when_missing():
    raw = pd.read_csv(FIXTURES / "valid.csv", dtype=str, keep_default_na=False)
    raw["completer"] = ""
    data = validate(raw)
    imr = data[data["arm"] == "imr"].drop_duplicates("participant_id")
    share = imr["sessions_attended"].astype(float) / imr["sessions_scheduled"].astype(float)
    assert imr["completer"].tolist() == (share >= 0.5).tolist()
    assert data.loc[data["arm"] == "cau", "completer"].isna().all()


def test_validate_rejects_non_frames_and_empty_frames():
    with pytest.raises(DataValidationError, match="expected a pandas DataFrame"):
        validate([1, 2])
    empty = pd.DataFrame({c: [] for c in CONTRACT_COLUMNS})
    with pytest.raises(DataValidationError, match="no rows"):
        validate(empty)
