"""Validation of the columns a caller needs (``validate(df, required=...)``), the analyses'
column requirements, and messages that lead with the reason and compress their rows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from imr_bayes import DataValidationError, ImrBayesError
from imr_bayes.data import default_twin, required_columns, validate
from imr_bayes.data.contract import format_rows

ITT = ("participant_id", "arm", "time", "team", "imr_group", "imrs_client")


@pytest.fixture(scope="module")
def twin() -> pd.DataFrame:
    return default_twin()


def problems(df: pd.DataFrame, **kwargs) -> list[str]:
    with pytest.raises(DataValidationError) as info:
        validate(df, **kwargs)
    return info.value.problems


@pytest.mark.parametrize(
    ("numbers", "all_rows", "expected"),
    [
        ([6], False, "row 6"),
        ([5, 6], False, "rows 5, 6"),
        (range(10, 26), False, "rows 10–25"),
        (range(1, 562), True, "rows 1–561 (all)"),
        ([12, 3, 7, 3], False, "rows 3, 7, 12"),
        ([3, 7, 12, *range(20, 100, 2)], False, "rows 3, 7, 12, 20, 22 and 38 more"),
        ([1, 2, 3, 8, 20, 21, 22, 23, 40, 41, 50, 60], False,
         "rows 1–3, 8, 20–23, 40, 41 and 2 more"),
    ],
)
def test_row_lists_are_compressed(numbers, all_rows, expected):
    assert format_rows(list(numbers), all_rows=all_rows) == expected


def test_subset_is_validated_and_returned_typed(twin):
    raw = twin[list(ITT)].astype(str).assign(notes="free text")
    data = validate(raw, required=["imr_group", "imrs_client"])
    assert list(data.columns) == list(ITT)
    pd.testing.assert_frame_equal(data, twin[list(ITT)].astype({"imrs_client": "float64"}))


def test_present_optional_columns_are_still_checked(twin):
    bad = twin[[*ITT, "age"]].assign(age=200.0)
    found = problems(bad, required=["imrs_client"])
    assert found == ["column 'age': value(s) '200.0' outside the plausible age range 16 to 100 "
                     "years; rows 1–561 (all)"]


def test_required_columns_must_be_there_with_a_did_you_mean(twin):
    raw = twin[list(ITT)].rename(columns={"imrs_client": "IMRS_Client"})
    found = problems(raw, required=["imrs_client"])
    assert found == ["missing column(s) needed here: imrs_client",
                     "did you mean: 'IMRS_Client' -> 'imrs_client' (rename with column_map)"]
    with pytest.raises(ImrBayesError, match="'imrs' is not a contract column"):
        validate(twin, required=["imrs"])


def test_missing_codes_in_an_outcome_are_refused(twin):
    """Issue 16: -99 in 8 % of the rows gave a wrong fit; now it is named before sampling."""
    rng = np.random.default_rng(16)
    rows = rng.choice(len(twin), size=int(0.08 * len(twin)), replace=False)
    bad = twin.copy()
    bad.loc[rows, "imrs_client"] = -99.0
    found = problems(bad, required=required_columns(["itt"], ["imrs_client"]))
    assert len(found) == 1
    assert found[0].startswith("column 'imrs_client': value(s) '-99.0' outside the IMRS client "
                               "scale range 1 to 5; -99 looks like a missing-value code: "
                               "declare it in na_values; rows ")
    assert found[0].endswith(f"and {len(rows) - 5} more")
    # an outcome without a known range (SFS) refuses the usual codes too
    sfs = twin.assign(sfs=twin["sfs"].where(twin["time"] != 2, 999.0))
    assert problems(sfs, required=required_columns(["itt"], ["sfs"])) == [
        "column 'sfs': 999 looks like a missing-value code: declare it in na_values; "
        "rows 3, 6, 9, 12, 15 and 182 more"]


def test_a_merge_that_duplicates_rows_is_refused(twin):
    """Issue 16: every participant x time twice went through (last row won)."""
    merged = pd.concat([twin, twin], ignore_index=True)
    found = problems(merged, required=required_columns(["itt"], ["imrs_client"]))
    assert found == ["columns 'participant_id', 'time': duplicate participant x time "
                     "('P001 @ time 0', 'P001 @ time 1', 'P001 @ time 2', 'P002 @ time 0' "
                     "(and 557 more)); rows 1–1122 (all)"]


def test_every_row_bad_gives_short_lines_that_lead_with_the_reason(twin):
    n = len(twin)
    bad = twin.assign(
        participant_id=[f"participant-with-a-very-long-identifier-{i:05d}" for i in range(n)],
        arm=np.where(twin["arm"] == "imr", "Intervention group (IMR)", "Care as usual group"),
        time=twin["time"] + 10,
        team=99,
        sessions_attended="many sessions, see paper file",
        fidelity=-99.0,
        age=999.0,
        sex="a category text that nobody expects",
        income="another unexpected category text",
        **{code: -99.0 for code in ("imrs_client", "mhrm", "bsi", "sfs", "sers_sf")},
    )
    message = str(pytest.raises(DataValidationError, validate, bad).value)
    lines = message.splitlines()
    assert len(lines) > 12
    assert max(len(line) for line in lines) <= 200, max(lines, key=len)
    for line in lines[1:]:
        assert line.startswith(("  - column ", "  - columns ")), line
        assert line.endswith("(all)") or "and " in line, line


def test_completer_is_derived_when_the_column_is_absent(twin):
    cols = [*ITT, "sessions_attended", "sessions_scheduled"]
    data = validate(twin[cols], required=required_columns(["completers"], ["imrs_client"]))
    assert data["completer"].equals(twin["completer"])
    assert "completer" not in validate(twin[cols], required=["imrs_client"]).columns


def test_full_contract_is_unchanged(twin):
    assert validate(twin).equals(twin)
    found = problems(twin.drop(columns=["team"]).assign(notes=""))
    assert found == ["missing column(s): team",
                     "unknown column(s): notes (rename them with column_map, or drop them; see "
                     "docs/data_contract.md)"]


def test_required_columns_per_kind():
    assert required_columns(["itt"], ["imrs_client", "bsi"]) == (*ITT, "bsi")
    # the SPSS-parity model does not adjust for the randomization stratum
    assert "team" not in required_columns(["itt_parity"], ["imrs_client"])
    assert required_columns(["hospitalization"], ["imrs_client"]) == (
        "participant_id", "arm", "time", "hosp_before", "hosp_after")
    cace = required_columns(["cace"], ["bsi"])
    assert {"completer", "age", "sex", "diagnosis_mood", "imr_group", "bsi"} <= set(cace)
    assert set(required_columns(["fidelity"], [])) == {
        "participant_id", "arm", "time", "imr_group", "sessions_attended", "fidelity"}
    assert required_columns(["los"]) == ("participant_id", "arm", "time", "los_before",
                                         "los_after", "hospitalization_length")
    with pytest.raises(ImrBayesError, match="Did you mean 'itt'"):
        required_columns(["ittt"])
    with pytest.raises(ImrBayesError, match="unknown outcome 'imrs'"):
        required_columns(["itt"], ["imrs"])


def test_every_registered_analysis_has_its_columns():
    """The columns come from the specs: every analysis of models/analyses has them."""
    from imr_bayes import registry
    from imr_bayes.bayes.api import applicable_outcomes

    for name, spec in registry.analyses().items():
        if spec.outcomes == "response":
            need = required_columns([name])
            assert spec.response in spec.columns("") or {spec.before, spec.after} <= set(
                spec.columns("")), name
            assert set(spec.columns("")) <= set(need), name
            continue
        code = applicable_outcomes(spec)[0]
        need = required_columns([name], [code])
        assert {"participant_id", "arm", "time", code} <= set(need), name
        assert set(spec.columns(code)) <= set(need), name
    # the frequentist-only selective non-completion regression is known too
    assert "completer" in required_columns(["noncompletion"])
