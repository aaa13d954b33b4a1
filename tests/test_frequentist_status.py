"""Degenerate data give a status and a warning, never a traceback or a silent NaN."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from fixtures_frequentist import contract_frame

from imr_bayes.frequentist import (
    fidelity_analysis,
    fit_lmm,
    fit_logit,
    fit_mixed,
    hospitalization,
    replicate,
)


def test_too_few_observations():
    df = contract_frame(n_imr=1, n_cau=1)
    fit = fit_lmm(df, "imrs_client")
    assert fit.status == "too_few_observations"
    assert "too few observations" in fit.warning_text
    assert fit.coefficients["b"].isna().all()
    assert list(fit.coefficients["term"]) == ["intercept", "time", "condition", "condition_x_time"]


def test_rank_deficient_design_when_one_arm_is_missing():
    df = contract_frame()
    df = df[df["arm"] == "imr"]
    fit = fit_lmm(df, "imrs_client")
    assert fit.status == "rank_deficient"
    assert "condition" in fit.warning_text


def test_singular_fit_when_there_is_no_between_person_variance():
    rng = np.random.default_rng(3)
    n = 40
    df = pd.DataFrame({"participant_id": np.repeat([f"P{i}" for i in range(n)], 3),
                       "arm": np.repeat(["imr", "cau"] * (n // 2), 3),
                       "time": np.tile([0, 1, 2], n)})
    # pure within-person noise, plus a negative intraclass correlation: the REML estimate
    # of the intercept variance sits on the boundary 0
    noise = rng.normal(0, 1, len(df))
    noise -= pd.Series(noise).groupby(df["participant_id"].to_numpy()).transform("mean") * 1.5
    df["imrs_client"] = 3 + noise
    fit = fit_lmm(df, "imrs_client")
    assert fit.status == "singular"
    assert "singular fit" in fit.warning_text
    vc = fit.variance_components.set_index("component")
    assert vc.loc["group Intercept", "variance"] == pytest.approx(0, abs=1e-6)
    # estimates and SEs are still there (as SPSS and lme4 report them)
    assert fit.coefficients["se"].notna().all() and fit.coefficients["df"].notna().all()


def test_non_convergence_is_a_status():
    df = contract_frame()
    X = pd.DataFrame({"intercept": 1.0, "time": df["time"].astype(float)})
    fit = fit_mixed(df["imrs_client"], X, df["participant_id"], max_iter=1)
    assert fit.status == "not_converged"
    assert "did not converge" in fit.warning_text
    assert not fit.ok


def test_replicate_carries_status_and_warning_columns():
    df = contract_frame(n_imr=1, n_cau=1)
    df.loc[df["time"] > 0, "imrs_client"] = np.nan  # 2 observations in all
    res = replicate(df, outcomes=("imrs_client",))
    fe = res.fixed_effects
    assert set(fe["status"]) == {"too_few_observations"}
    assert fe["warning"].str.contains("too few observations").all()
    mm = res.marginal_means
    assert set(mm["status"]) == {"too_few_observations"}
    assert mm["mean"].isna().all() and (mm["warning"] != "").all()
    assert set(res.steps["status"]) == {"too_few_observations"}


def test_fidelity_without_eligible_participants():
    df = contract_frame()
    df["sessions_attended"] = pd.array(np.where(df["arm"] == "imr", 3, pd.NA), dtype="Int64")
    df["fidelity"] = np.where(df["arm"] == "imr", 4.2, np.nan)
    res = fidelity_analysis(df, outcome="imrs_client")
    # no IMR participant has >= 10 sessions: the high/moderate columns are all zero
    assert res.fit.status == "rank_deficient"
    assert res.omnibus.loc[0, "status"] == "rank_deficient"
    assert res.omnibus.loc[0, "warning"] != ""


def test_logit_without_events_and_with_separation():
    X = pd.DataFrame({"intercept": 1.0, "x": np.arange(10.0)})
    none = fit_logit(np.zeros(10), X)
    assert none.status == "too_few_observations"
    sep = fit_logit((np.arange(10) >= 5).astype(float), X)
    assert sep.status == "separation"
    assert "separation" in sep.warning_text


def test_hospitalization_without_variation_in_length_of_stay():
    df = contract_frame()
    df["hosp_before"] = pd.array(np.tile([0, 1], len(df) // 2 + 1)[: len(df)], dtype="Int64")
    df["hosp_after"] = pd.array(np.tile([0, 0, 1], len(df) // 3 + 1)[: len(df)], dtype="Int64")
    df["los_before"] = 0.0
    df["los_after"] = 0.0
    res = hospitalization(df)
    test = res.length_of_stay.set_index("arm").loc["imr vs cau"]
    assert test["status"] == "too_few_observations"
    assert "Mann-Whitney" in test["warning"]


def test_cohens_d_without_an_sd_says_why():
    from imr_bayes.frequentist import marginal_means

    df = contract_frame()
    # every 18-month score identical: the pooled SD at that time is 0
    df.loc[df["time"] == 2, "imrs_client"] = 3.0
    mm = marginal_means(df, "imrs_client").set_index(["arm", "time"])
    row = mm.loc[("imr", 2)]
    assert np.isnan(row["d"]) and "Cohen's d not computed" in row["warning"]
    assert np.isfinite(mm.loc[("imr", 1), "d"])


def test_hospitalization_without_any_data():
    df = contract_frame()
    for c in ("hosp_before", "hosp_after"):
        df[c] = pd.array([pd.NA] * len(df), dtype="Int64")
    df["los_before"] = np.nan
    df["los_after"] = np.nan
    res = hospitalization(df)
    assert res.odds_ratio.loc[0, "status"] == "too_few_observations"
    assert (res.length_of_stay["status"] == "too_few_observations").all()
    assert (res.length_of_stay["warning"] != "").all()
