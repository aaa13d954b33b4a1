"""Importing data as trial teams keep them: wide CSV and SPSS fixtures made from the twin
(``tests/fixtures/import/make_import_fixtures.py``), code maps, missing codes, import specs,
and the command-line data options."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from imr_bayes import DataValidationError, ImrBayesError, SpecError
from imr_bayes.cli.data_options import add_data_arguments, import_options, load_data
from imr_bayes.data import (
    ImportSpec,
    default_twin,
    import_frame,
    load,
    parse_import_spec,
    read_import_spec,
    required_columns,
)
from imr_bayes.data.contract import format_rows

FIXTURES = Path(__file__).parent / "fixtures" / "import"
WIDE_CSV = FIXTURES / "twin_wide.csv"
WIDE_SAV = FIXTURES / "twin_wide.sav"
# the SPSS-parity ITT analysis: the fewest columns an outcome analysis needs (no team)
ITT = required_columns(["itt_parity"], ["imrs_client"])


@pytest.fixture(scope="module")
def twin() -> pd.DataFrame:
    return default_twin()


def problems_of(call, *args, **kwargs) -> list[str]:
    with pytest.raises(DataValidationError) as info:
        call(*args, **kwargs)
    return info.value.problems


def test_fixtures_are_small():
    assert all(p.stat().st_size < 200_000 for p in FIXTURES.iterdir())


@pytest.mark.parametrize(("data", "spec"), [(WIDE_CSV, "twin_wide_csv.yaml"),
                                            (WIDE_SAV, "twin_wide_sav.yaml")])
def test_team_exports_load_in_one_call_and_equal_the_twin(twin, data, spec):
    loaded = load(data, column_map=FIXTURES / spec)
    pd.testing.assert_frame_equal(loaded, twin)


def test_the_sav_fixture_uses_spss_conventions():
    import pyreadstat

    raw, meta = pyreadstat.read_sav(str(WIDE_SAV), user_missing=True)
    assert meta.variable_value_labels["groep"] == {1.0: "Interventie", 2.0: "Controle"}
    assert (raw["imrs_c_T2"] == -99).sum() > 0
    assert meta.missing_ranges["imrs_c_T2"] == [{"lo": -99.0, "hi": -99.0}]
    assert (raw["sessies"] == 999).sum() == 71


def test_only_the_needed_columns_are_required(twin):
    data = load(WIDE_CSV, column_map={"ID": "participant_id", "Group": "arm",
                                      "Imr_group": "imr_group", "IMRS_client": "imrs_client"},
                na_values=[-99, 999], required=ITT)
    pd.testing.assert_frame_equal(data, twin[list(ITT)])


def test_missing_codes_left_in_are_named_with_file_rows_and_columns(twin):
    found = problems_of(load, WIDE_CSV, column_map={
        "ID": "participant_id", "Group": "arm", "Imr_group": "imr_group",
        "IMRS_client": "imrs_client"}, required=ITT)
    # rows are the wide file's participant rows (1 = first participant)
    people = twin["participant_id"].drop_duplicates().reset_index(drop=True)
    missing = twin.loc[twin["imrs_client"].isna(), "participant_id"].unique()
    rows = format_rows(people.index[people.isin(missing)] + 1)
    assert found == [
        "column 'imrs_client' (file: IMRS_client_T0 … IMRS_client_T2): value(s) '999.0', "
        "'-99.0' outside the IMRS client scale range 1 to 5; -99, 999 look like missing-value "
        f"codes: declare them in na_values; {rows}"]


def test_a_wide_file_read_as_long_says_it_looks_wide():
    found = problems_of(load, WIDE_CSV, layout="long", required=ITT)
    assert found[0].startswith("the data look wide (one row per participant): 36 column(s) "
                               "such as 'IMRS_client_T0', 'IMRS_client_T1' end in a time suffix")
    assert "layout='wide'" in found[0]
    assert all(len(p) <= 200 for p in found)


def test_wide_auto_detection_and_stem_hints(twin):
    raw = pd.read_csv(WIDE_CSV, dtype=str)
    found = problems_of(import_frame, raw, required=ITT)
    assert found[0] == "missing column(s) needed here: participant_id, arm, imr_group, imrs_client"
    assert "'IMRS_client' -> 'imrs_client'" in found[1]
    found = problems_of(import_frame, raw, {"IMRS_client_T0": "imrs_client"}, required=ITT)
    assert found == ["column_map: column 'IMRS_client_T0' not in the file (wide layout: map the "
                     "name without its time suffix, 'IMRS_client')"]


def test_a_rename_onto_an_existing_column_is_reported(twin):
    raw = twin[list(ITT)].assign(group=twin["arm"])
    assert problems_of(import_frame, raw, {"group": "arm"}, required=ITT) == [
        "duplicate column name(s): arm"]


def test_time_suffixes_map_through_time_codes(twin):
    raw = pd.read_csv(WIDE_CSV, dtype=str)
    raw.columns = [c[:-1] + str(int(c[-1]) + 1) if c[-3:-1] == "_T" else c for c in raw.columns]
    spec = read_import_spec(FIXTURES / "twin_wide_csv.yaml")
    with pytest.raises(DataValidationError, match=r"column 'time' \(file: time suffix _T\(\\d\)\$\)"
                                                  r": value\(s\) '3' outside \{0, 1, 2\}"):
        import_frame(raw, spec)
    loaded = import_frame(raw, spec, time_codes={"1": 0, "2": 1, "3": 2})
    pd.testing.assert_frame_equal(loaded, twin)


def test_arm_codes_are_explicit_for_numbers_and_case_insensitive(twin):
    raw = twin[list(ITT)].assign(arm=np.where(twin["arm"] == "imr", "1", "0"))
    found = problems_of(import_frame, raw, required=ITT)
    assert found == ["column 'arm': unknown arm label(s) '1', '0'; valid: imr, cau (map other "
                     "labels with arm_codes); rows 1–561 (all)"]
    loaded = import_frame(raw, arm_codes={"1": "imr", "0": "CAU".lower()}, required=ITT)
    pd.testing.assert_frame_equal(loaded, twin[list(ITT)])
    upper = twin[list(ITT)].assign(arm=twin["arm"].str.upper())
    pd.testing.assert_frame_equal(import_frame(upper, required=ITT), twin[list(ITT)])


def test_na_values_per_column(twin):
    raw = twin[[*ITT, "age"]].assign(age=twin["age"].where(twin["participant_id"] != "P001", -9))
    loaded = import_frame(raw, na_values={"age": [-9]}, required=ITT)
    assert loaded["age"].isna().sum() == 3 and loaded["age"].notna().sum() == len(twin) - 3
    # a list applies to every column but participant_id
    ids = raw.assign(participant_id=raw["participant_id"].replace({"P001": "999"}))
    kept = import_frame(ids.drop(columns="age"), na_values=[999], required=ITT)
    assert "999" in set(kept["participant_id"])


def test_long_sav_with_value_labels_on_time_and_arm(twin, tmp_path):
    import pyreadstat

    cols = [*ITT, "sex"]
    out = twin[cols].assign(
        arm=np.where(twin["arm"] == "imr", 1.0, 2.0), time=twin["time"] + 1.0,
        sex=twin["sex"].map({"male": 1.0, "female": 2.0}),
        imrs_client=twin["imrs_client"].fillna(-99.0), imr_group=twin["imr_group"].fillna(""))
    path = tmp_path / "long.sav"
    pyreadstat.write_sav(out, str(path), missing_ranges={"imrs_client": [-99.0]},
                         variable_value_labels={"arm": {1.0: "IMR", 2.0: "CAU"},
                                                "time": {1.0: "T1", 2.0: "T2", 3.0: "T3"},
                                                "sex": {1.0: "Man", 2.0: "Vrouw"}})
    loaded = load(path, time_codes={"t1": 0, "t2": 1, "t3": 2},
                  recode={"sex": {"man": "male", "vrouw": "female"}}, required=ITT)
    pd.testing.assert_frame_equal(loaded, twin[cols])
    # without value labels the codes are used, mapped through the same kind of maps
    loaded = load(path, column_map=ImportSpec(value_labels=False),
                  arm_codes={"1": "imr", "2": "cau"}, time_codes={"1": 0, "2": 1, "3": 2},
                  recode={"sex": {"1": "male", "2": "female"}}, required=ITT)
    pd.testing.assert_frame_equal(loaded, twin[cols])


def test_import_spec_errors_name_the_key_with_a_did_you_mean(tmp_path):
    path = tmp_path / "spec.yaml"
    path.write_text("colums: {id: participant_id}\nlayout: wid\narm_codes: {1: control}\n"
                    "time_pattern: '_T\\d$'\n")
    with pytest.raises(SpecError) as info:
        read_import_spec(path)
    text = str(info.value)
    assert text.startswith(f"invalid import spec '{path}':")
    assert "unknown key 'colums'. Did you mean 'columns'?" in text
    assert "layout: unknown layout 'wid'. Did you mean 'wide'? Valid choices: auto, long, wide." \
        in text
    assert "arm_codes: Value error, " not in text
    assert "'1' -> unknown arm 'control'" in text
    assert "time_pattern: needs exactly one group capturing the time label, has 0" in text
    with pytest.raises(SpecError, match="unknown key 'id'.*Column renames go under 'columns:'"):
        parse_import_spec({"id": "participant_id"})
    with pytest.raises(SpecError, match="recode of 'arm': use arm_codes"):
        parse_import_spec({"recode": {"arm": {"x": "imr"}}})
    with pytest.raises(SpecError, match="'1' -> 3: time codes are 0, 1, 2"):
        parse_import_spec({"time_codes": {1: 3}})
    with pytest.raises(SpecError, match="import spec file not found"):
        read_import_spec(tmp_path / "absent.yaml")


def test_keyword_options_override_the_spec_file():
    spec = read_import_spec(FIXTURES / "twin_wide_sav.yaml")
    assert spec.layout == "auto" and spec.time_codes == {"1": 0, "2": 1, "3": 2}
    assert spec.na_values == (999.0,)
    assert spec.columns["groep"] == "arm"


# ----------------------------------------------------------------------- command line
def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(allow_abbrev=False)
    add_data_arguments(parser)
    return parser.parse_args(argv)


def test_cli_loads_a_team_export_with_its_spec(twin):
    args = parse(["--data", str(WIDE_SAV), "--column-map", str(FIXTURES / "twin_wide_sav.yaml")])
    pd.testing.assert_frame_equal(load_data(args, required=None), twin)
    args = parse(["--data", str(WIDE_CSV), "--column-map", "ID=participant_id", "Group=arm",
                  "Imr_group=imr_group", "IMRS_client=imrs_client", "--na-values", "-99", "999"])
    pd.testing.assert_frame_equal(load_data(args, required=ITT), twin[list(ITT)])


def test_cli_spec_file_and_pairs_combine(twin):
    args = parse(["--data", str(WIDE_SAV), "--column-map", str(FIXTURES / "twin_wide_sav.yaml"),
                  "leeftijd=age"])
    assert import_options(args)["column_map"].columns["leeftijd"] == "age"
    with pytest.raises(SpecError, match="'leeftijd' and 'oud' both map to 'age'"):
        import_options(parse(["--data", "x.sav", "--column-map",
                              str(FIXTURES / "twin_wide_sav.yaml"), "oud=age"]))


def test_cli_time_and_arm_codes(twin, tmp_path):
    raw = twin[list(ITT)].assign(arm=np.where(twin["arm"] == "imr", "1", "0"),
                                 time=twin["time"] + 1)
    raw.to_csv(tmp_path / "long.csv", index=False)
    args = parse(["--data", str(tmp_path / "long.csv"), "--arm-codes", "1=imr", "0=cau",
                  "--time-codes", "1=0", "2=1", "3=2"])
    pd.testing.assert_frame_equal(load_data(args, required=ITT), twin[list(ITT)])


def test_cli_without_data_gives_the_twin_and_refuses_import_options(twin):
    assert load_data(parse([]), required=ITT).equals(twin)
    with pytest.raises(ImrBayesError, match="--column-map, --layout need\\(s\\) --data"):
        load_data(parse(["--column-map", "a=b", "--layout", "wide"]), required=ITT)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--column-map", "idparticipant"],
         "--column-map takes an import-spec YAML file or FILE_COL=CONTRACT_COL pairs; "
         "got 'idparticipant'"),
        (["--column-map", "a.yaml", "b.yml"], "--column-map takes one import-spec YAML file"),
        (["--time-codes", "T1=baseline"], "--time-codes: codes are whole numbers 0, 1, 2"),
        (["--arm-codes", "1"], "--arm-codes takes LABEL=ARM pairs; got '1'"),
    ],
)
def test_cli_option_errors_are_one_line(argv, message):
    with pytest.raises(ImrBayesError, match="^" + message.replace("(", r"\(").replace(")", r"\)")):
        import_options(parse(["--data", "trial.csv", *argv]))


def test_cli_help_lists_the_data_options():
    parser = argparse.ArgumentParser(prog="imr-bayes fit")
    add_data_arguments(parser)
    text = parser.format_help()
    for option in ("--data FILE", "--column-map SPEC", "--layout {auto,long,wide}",
                   "--time-pattern REGEX", "--time-codes LABEL=CODE", "--arm-codes LABEL=ARM",
                   "--na-values CODE"):
        assert option in text
    assert "%" not in text
