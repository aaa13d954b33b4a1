"""The published numbers: shapes, codes and spot values checked against the paper's tables.

Each spot value cites its table and cell in the paper (../shared/seed/imr_trial_paper.txt).
Values are compared exactly (``==`` on the printed decimal), since they are transcriptions.
"""

from __future__ import annotations

import math

import pandas as pd
import pytest

from imr_bayes import published
from imr_bayes.errors import ImrBayesError, PublishedDataError
from imr_bayes.outcomes import CODES


@pytest.mark.parametrize("sample", ["itt", "completers"])
def test_fixed_effects_shape_and_codes(sample):
    fe = published.fixed_effects(sample)
    assert list(fe.columns) == list(published.FIXED_EFFECT_COLUMNS)
    assert len(fe) == 12 * 4
    assert set(fe["outcome"]) == set(CODES)
    assert set(fe["term"]) == set(published.TERMS)
    assert not fe.duplicated(["outcome", "term"]).any()
    # every outcome's intercept is in the final model and significant at <0.001 or printed
    assert fe.loc[fe["term"] == "intercept", "in_final_model"].all()
    dropped = fe[~fe["in_final_model"]]
    assert dropped[["b", "ci_low", "ci_high", "p"]].isna().all().all()
    kept = fe[fe["in_final_model"]]
    assert kept[["b", "ci_low", "ci_high"]].notna().all().all()
    assert fe["source"].str.startswith("Table 2" if sample == "itt" else "Table 6").all()


def test_table2_empty_cells_follow_footnote_b():
    fe = published.fixed_effects("itt").set_index(["outcome", "term"])
    # Table 2: SES, IS and ASI keep only the intercept; BSI and SFS keep intercept and time.
    for code in ("ses", "is", "asi"):
        assert list(fe.loc[code, "in_final_model"]) == [True, False, False, False]
    for code in ("bsi", "sfs", "mspss", "ismi"):
        assert not fe.loc[(code, "condition_x_time"), "in_final_model"]
    # kept: 12 intercepts, 9 time, 7 condition, 5 condition x time terms
    assert fe["in_final_model"].sum() == 12 + 9 + 7 + 5


def test_fixed_effect_spot_values():
    itt = published.fixed_effects("itt").set_index(["outcome", "term"])
    # Table 2, IMRS client version, Condition x time: 0.07, 0.0007 to 0.15, p = 0.048*
    row = itt.loc[("imrs_client", "condition_x_time")]
    assert (row["b"], row["ci_low"], row["ci_high"], row["p"]) == (0.07, 0.0007, 0.15, 0.048)
    assert row["p_text"] == "0.048"
    # Table 2, Pers. Recovery (SERS-SF), Condition: 4.90, -1.90 to 11.7 (printed 11.7), p 0.16
    assert itt.loc[("sers_sf", "condition"), "ci_high"] == 11.7
    # Table 2, Clinical Recovery (BSI), Time: -0.05, -0.09 to -0.004, p 0.03
    assert itt.loc[("bsi", "time"), "ci_high"] == -0.004
    # Table 2, Intercepts print p <0.001: p_text keeps it, p is NaN
    assert itt.loc[("cses", "intercept"), "p_text"] == "<0.001"
    assert math.isnan(itt.loc[("cses", "intercept"), "p"])
    comp = published.fixed_effects("completers").set_index(["outcome", "term"])
    # Table 6, Pers. recovery (MHRM), Condition x time: 2.87, -0.32 to 5.42, 0.03*
    row = comp.loc[("mhrm", "condition_x_time")]
    assert (row["b"], row["ci_low"], row["ci_high"], row["p"]) == (2.87, -0.32, 5.42, 0.03)
    # Table 6, Pers. recovery (ISMI), Time: 0.001, -0.05 to 0.05, 0.97
    assert comp.loc[("ismi", "time"), "b"] == 0.001
    assert comp.loc[("ismi", "time"), "p"] == 0.97


@pytest.mark.parametrize("sample", ["itt", "completers"])
def test_marginal_means_shape(sample):
    mm = published.marginal_means(sample)
    assert list(mm.columns) == list(published.MARGINAL_MEAN_COLUMNS)
    assert len(mm) == 12 * 2 * 3
    assert not mm.duplicated(["outcome", "arm", "time"]).any()
    assert set(mm["arm"]) == {"imr", "cau"} and set(mm["time"]) == {0, 1, 2}
    imr, cau = mm[mm["arm"] == "imr"], mm[mm["arm"] == "cau"]
    cols = ["diff", "diff_ci_low", "diff_ci_high", "d"]
    assert imr[cols].notna().all().all()
    assert cau[cols].isna().all().all()
    assert mm[["n", "mean", "ci_low", "ci_high"]].notna().all().all()
    # the asterisk marks exactly the outcomes with a significant condition x time (Table 2/6)
    fe = published.fixed_effects(sample)
    sig = set(fe[(fe["term"] == "condition_x_time") & (fe["p"] < 0.05)]["outcome"])
    assert set(mm.loc[mm["d_marked"], "outcome"]) == sig


def test_marginal_means_spot_values():
    t3 = published.marginal_means("itt").set_index(["outcome", "arm", "time"])
    # Table 3, IMRS client version, Experimental, follow-up:
    # 104 3.55 (3.45, 3.65) 0.17 (0.02, 0.33) 0.34*
    row = t3.loc[("imrs_client", "imr", 2)]
    assert row["n"] == 104 and row["mean"] == 3.55 and row["d"] == 0.34 and row["d_marked"]
    assert (row["diff"], row["diff_ci_low"], row["diff_ci_high"]) == (0.17, 0.02, 0.33)
    # Table 3, MSPSS, Control, baseline: N = 70 (not 71)
    assert t3.loc[("mspss", "cau", 0), "n"] == 70
    # Table 3, SES, Experimental, baseline: N = 115
    assert t3.loc[("ses", "imr", 0), "n"] == 115
    # Table 3, ISMI, Experimental, 12 months: printed "–−0.19", recorded -0.19 with a note
    assert t3.loc[("ismi", "imr", 1), "diff"] == -0.19
    assert "artifact" in t3.loc[("ismi", "imr", 1), "note"]
    t7 = published.marginal_means("completers").set_index(["outcome", "arm", "time"])
    # Table 7, IMRS clinician, Experimental, baseline: diff CI printed "(−0.05, 022)"
    assert t7.loc[("imrs_clinician", "imr", 0), "diff_ci_high"] == 0.22
    # Table 7, ASI, Experimental, 12 months: diff CI printed "(−0.32, 032)"
    assert t7.loc[("asi", "imr", 1), "diff_ci_high"] == 0.32
    # Table 7, MHRM, Control, 12 months: 58 67.71 (62.94, 74.49), kept as printed
    row = t7.loc[("mhrm", "cau", 1)]
    assert (row["n"], row["mean"], row["ci_low"], row["ci_high"]) == (58, 67.71, 62.94, 74.49)


@pytest.mark.parametrize(("outcome", "table"), [("imrs_client", "4"), ("sers_sf", "5")])
def test_fidelity_effects_shape(outcome, table):
    fid = published.fidelity_effects(outcome)
    assert list(fid.columns) == list(published.FIDELITY_COLUMNS)
    assert tuple(fid["term"]) == published.FIDELITY_TERMS
    assert fid[["b", "se", "t", "ci_low", "ci_high"]].notna().all().all()
    assert fid["source"].str.startswith(f"Table {table}").all()


def test_fidelity_spot_values():
    t4 = published.fidelity_effects("imrs_client").set_index("term")
    # Table 4, Intercept: 3.29 0.05 62.6 <0.001 3.18 3.39
    assert tuple(t4.loc["intercept", ["b", "se", "t"]]) == (3.29, 0.05, 62.6)
    assert t4.loc["intercept", "p_text"] == "<0.001"
    # Table 4, Exp moderate fidelity at follow-up: 0.20 0.10 2.05 0.04 0.01 0.38
    assert tuple(t4.loc["moderate_x_followup", ["b", "se", "t", "p", "ci_low", "ci_high"]]) == (
        0.20, 0.10, 2.05, 0.04, 0.01, 0.38)
    t5 = published.fidelity_effects("sers_sf").set_index("term")
    # Table 5, Exp high fidelity at post treatment: 7.22 3.40 2.12 0.04 0.50 13.93
    assert tuple(t5.loc["high_x_post", ["b", "se", "t", "p", "ci_low", "ci_high"]]) == (
        7.22, 3.40, 2.12, 0.04, 0.50, 13.93)


def test_baseline_table1():
    t1 = published.baseline()
    assert list(t1.columns) == list(published.BASELINE_COLUMNS)
    out = t1[t1["variable"] == "outcome"]
    assert len(out) == 24 and set(out["outcome"]) == set(CODES)
    # Table 1, MHRM: control 69.0 (19.04), IMR 70.2 (21.0)
    mhrm = out[out["outcome"] == "mhrm"].set_index("arm")
    assert (mhrm.loc["cau", "mean"], mhrm.loc["cau", "sd"]) == (69.0, 19.04)
    # Table 1, Personality disorders Y/N: 25 (28%) and 33 (31%), recorded as printed
    pers = t1[t1["variable"] == "diagnosis_personality"].set_index("arm")
    assert (pers.loc["cau", "n"], pers.loc["cau", "pct"]) == (25, 28)
    assert (pers.loc["imr", "n"], pers.loc["imr", "pct"]) == (33, 31)


def test_text_results():
    text = published.text_results()
    assert list(text.columns) == list(published.TEXT_COLUMNS)
    assert text["key"].is_unique
    assert text["sentence"].str.len().gt(20).all()
    value = dict(zip(text["key"], text["value"], strict=True))
    # Results: 187 randomized, 116 IMR, 71 CAU; OR 1.22 (0.44, 3.42) p 0.71; U = 3,928.50
    assert (value["n_randomized"], value["n_randomized_imr"], value["n_randomized_cau"]) == (
        187, 116, 71)
    assert (value["hosp_or"], value["hosp_or_ci_low"], value["hosp_or_ci_high"]) == (
        1.22, 0.44, 3.42)
    assert value["los_mann_whitney_u"] == 3928.50
    # Results: completers SD 12.64; Discussion: 12.53 for the same quantity
    assert value["completers_sessions_sd"] == 12.64
    assert value["discussion_completers_sessions_sd"] == 12.53
    # Results: F(4, 271) = 1.42, p = 0.23 and F(4, 237) = 3.11, p = 0.02
    assert (value["fidelity_f_imrs_client_df2"], value["fidelity_f_sers_sf"]) == (271, 3.11)
    assert published.text_value("noncompletion_chi2_df") == 13
    assert "3,928.50" in text.loc[text["key"] == "los_mann_whitney_u", "sentence"].iloc[0]


def test_printed_keeps_precision():
    t2 = published.printed("table2")
    row = t2[(t2["outcome"] == "imrs_client") & (t2["term"] == "intercept")].iloc[0]
    assert row["b"] == "3.30"  # Table 2, IMRS client version, Intercept printed 3.30


@pytest.mark.parametrize(
    ("call", "arg", "hint"),
    [
        (published.fixed_effects, "itt_sample", "itt"),
        (published.marginal_means, "completer", "completers"),
        (published.fidelity_effects, "sers", "sers_sf"),
        (published.printed, "table8", "table"),
        (published.text_value, "hosp_orr", "hosp_or"),
    ],
)
def test_bad_choices_raise_with_suggestion(call, arg, hint):
    with pytest.raises(ImrBayesError, match=hint) as err:
        call(arg)
    assert "Valid choices" in str(err.value)


def test_malformed_file_raises(tmp_path, monkeypatch):
    folder = tmp_path / "published"
    folder.mkdir()
    good = published.printed("table2")
    good.loc[0, "b"] = "3.3O"  # letter O instead of zero
    good.to_csv(folder / published.FILES["table2"], index=False)
    published._read_text.cache_clear()
    try:
        with monkeypatch.context() as m:
            m.setenv("IMR_BAYES_MODELS", str(tmp_path))
            with pytest.raises(PublishedDataError, match="3.3O"):
                published.fixed_effects("itt")
    finally:
        published._read_text.cache_clear()
    assert isinstance(published.fixed_effects("itt"), pd.DataFrame)
