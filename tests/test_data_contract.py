"""The participant-data contract: every validation rule has a bad file under
``tests/fixtures/contract/`` (rows in messages are 1-based data rows)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from imr_bayes import DataValidationError, ImrBayesError, SpecError
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
        ("wrong_type.csv", ["column 'age': not a number ('sixty-five'); rows 4–6",
                            "column 'sessions_attended': not a whole number ('48.5'); rows 1–3"]),
        ("unknown_arm.csv", ["column 'arm': unknown arm label(s) 'control'; valid: imr, cau"]),
        ("duplicate_time.csv", ["columns 'participant_id', 'time': duplicate participant x time "
                                "('S2 @ time 1'); rows 5, 10"]),
        ("cau_with_imr_values.csv", ["column 'imr_group': a CAU participant has a value",
                                     "column 'sessions_attended': a CAU participant"]),
        ("time_out_of_range.csv", ["column 'time': value(s) '3' outside {0, 1, 2}"]),
        ("outcome_out_of_range.csv", ["column 'imrs_client': value(s) '5.5' outside the "
                                      "IMRS client scale range 1 to 5; row 2",
                                      "column 'asi': value(s) '-1.0' outside"]),
        ("participant_value_changes.csv", ["column 'age': participant-level value changes"]),
        ("no_baseline.csv", ["column 'time': participant(s) 'S3' without a baseline row (time 0)"
                             "; rows 7, 8"]),
        ("completer_inconsistent.csv", ["column 'completer': inconsistent"]),
        ("unknown_category.csv", ["column 'sex': unknown category 'm'; valid: male, female; "
                                  "rows 1–3"]),
        ("team_out_of_range.csv", ["column 'team': value(s) '15' outside"]),
        ("more_sessions_than_scheduled.csv", ["columns 'sessions_attended', "
                                              "'sessions_scheduled': more sessions attended"]),
        ("missing_required_value.csv", ["column 'participant_id': missing value (required); "
                                        "row 2"]),
    ],
)
def test_each_rule_has_a_bad_file(name, expected):
    problems = problems_of(name)
    for text in expected:
        assert any(p.startswith(text) for p in problems), (text, problems)


def test_every_problem_is_listed_at_once():
    raw = pd.read_csv(FIXTURES / "several_problems.csv", dtype=str, keep_default_na=False)
    with pytest.raises(DataValidationError, match=r"^4 problem\(s\) in the participant") as info:
        validate(raw)
    problems = info.value.problems
    assert any(p.startswith("column 'arm': unknown arm label(s) 'IMR'") and p.endswith("; row 1")
               for p in problems)
    assert any(p.startswith("column 'time': value(s) '7'") and p.endswith("; row 6")
               for p in problems)
    assert any(p.startswith("column 'arm': participant-level value changes")
               and p.endswith("; rows 1–3") for p in problems)
    assert any(p.startswith("column 'mhrm': value(s) '200.0' outside the MHRM scale range")
               for p in problems)
    # load() maps arm labels case-insensitively ('IMR' -> 'imr'), so two problems remain
    assert len(problems_of("several_problems.csv")) == 2


def test_column_map_renames_before_validation():
    mapping = {"id": "participant_id", "group": "arm", "IMRS_client": "imrs_client"}
    data = load(FIXTURES / "renamed_columns.csv", column_map=mapping)
    assert data.equals(load(FIXTURES / "valid.csv"))
    with pytest.raises(SpecError, match="'imrs' is not a contract column"):
        load(FIXTURES / "renamed_columns.csv", column_map={**mapping, "IMRS_client": "imrs"})
    with pytest.raises(DataValidationError, match="column 'nope' not in the file"):
        load(FIXTURES / "renamed_columns.csv", column_map={**mapping, "nope": "age"})
    with pytest.raises(SpecError, match="'group' and 'arm2' both map to 'arm'"):
        load(FIXTURES / "renamed_columns.csv", column_map={**mapping, "arm2": "arm"})


def test_unmapped_columns_get_a_did_you_mean():
    problems = problems_of("renamed_columns.csv")
    assert "did you mean: 'IMRS_client' -> 'imrs_client' (rename with column_map)" in problems


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
