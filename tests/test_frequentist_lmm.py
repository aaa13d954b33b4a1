"""fit_lmm in the trial's coding, checked against closed forms on hand-built data."""

from __future__ import annotations

import numpy as np
import pytest
from fixtures_frequentist import contract_frame

from imr_bayes.errors import DataValidationError, ImrBayesError
from imr_bayes.frequentist import fit_lmm


def test_balanced_complete_data_match_closed_form():
    df = contract_frame()
    fit = fit_lmm(df, "imrs_client")
    assert fit.status == "ok"
    coefs = fit.coefficients.set_index("term")
    # balanced, complete, compound symmetry: GLS = OLS; the interaction is the difference
    # of the arms' mean within-participant slopes, with variance sigma^2/2 (1/n1 + 1/n0)
    wide = df.pivot(index="participant_id", columns="time", values="imrs_client")
    slope = (wide[2] - wide[0]) / 2  # OLS slope on t = 0, 1, 2
    arm = df.groupby("participant_id")["arm"].first()
    diff = slope[arm == "imr"].mean() - slope[arm == "cau"].mean()
    assert coefs.loc["condition_x_time", "b"] == pytest.approx(diff, abs=1e-6)
    s2 = fit.variance_components.set_index("component").loc["residual", "variance"]
    se = np.sqrt(s2 / 2 * (1 / 30 + 1 / 20))
    assert coefs.loc["condition_x_time", "se"] == pytest.approx(se, rel=1e-5)
    assert list(coefs.index) == ["intercept", "time", "condition", "condition_x_time"]
    assert (fit.n_obs, fit.n_groups) == (150, 50)


def test_categorical_time_cells_are_cell_means():
    df = contract_frame()
    fit = fit_lmm(df, "imrs_client", time="categorical")
    coefs = fit.coefficients.set_index("term")
    means = df.groupby(["arm", "time"])["imrs_client"].mean()
    # saturated mean model on complete balanced data: coefficients are cell-mean contrasts
    assert coefs.loc["intercept", "b"] == pytest.approx(means[("cau", 0)], abs=1e-6)
    expected = (means[("imr", 2)] - means[("imr", 0)]) - (means[("cau", 2)] - means[("cau", 0)])
    assert coefs.loc["condition_x_time[2]", "b"] == pytest.approx(expected, abs=1e-6)


def test_completer_sample_keeps_all_controls():
    df = contract_frame(missing=0.1)
    fit = fit_lmm(df, "imrs_client", sample="completers")
    ids = df[(df["arm"] == "cau") | df["completer"].fillna(False)]
    kept = ids[ids["imrs_client"].notna()]
    assert fit.n_obs == len(kept)
    assert fit.n_groups == kept["participant_id"].nunique()


def test_bad_choices_name_the_valid_set():
    df = contract_frame()
    with pytest.raises(ImrBayesError, match="Did you mean 'imrs_client'"):
        fit_lmm(df, "imrs_clint")
    with pytest.raises(ImrBayesError, match="linear"):
        fit_lmm(df, "imrs_client", time="cubic")
    with pytest.raises(ImrBayesError, match="itt"):
        fit_lmm(df, "imrs_client", sample="pp")
    with pytest.raises(DataValidationError, match="participant_id"):
        fit_lmm(df.drop(columns="participant_id"), "imrs_client")
    with pytest.raises(DataValidationError, match="'time'.*3"):
        fit_lmm(df.assign(time=df["time"].replace(2, 3)), "imrs_client")
    with pytest.raises(DataValidationError, match="'arm'.*control"):
        fit_lmm(df.assign(arm=df["arm"].replace("cau", "control")), "imrs_client")


@pytest.mark.parametrize("reml", [True, False])
def test_native_and_statsmodels_optimisers_agree(reml):
    df = contract_frame(n_imr=60, n_cau=40, missing=0.15, seed=7)
    a = fit_lmm(df, "imrs_client", reml=reml)
    b = fit_lmm(df, "imrs_client", reml=reml, backend="statsmodels")
    assert a.status == b.status == "ok"
    ca, cb = a.coefficients, b.coefficients
    assert np.allclose(ca["b"], cb["b"], atol=1e-6)
    assert np.allclose(ca["se"], cb["se"], rtol=1e-5)
    assert np.allclose(ca["df"], cb["df"], rtol=1e-3)
    assert a.loglik == pytest.approx(b.loglik, abs=1e-7)


def test_df_methods():
    df = contract_frame(missing=0.1)
    sat = fit_lmm(df, "imrs_client").coefficients
    res = fit_lmm(df, "imrs_client", df_method="residual")
    nor = fit_lmm(df, "imrs_client", df_method="normal").coefficients
    assert np.allclose(sat["b"], nor["b"]) and np.allclose(sat["se"], nor["se"])
    assert (res.coefficients["df"] == res.n_obs - 4).all()
    assert np.isinf(nor["df"]).all()
    # normal quantile: CI half-width 1.959964 SE; Satterthwaite t is wider
    assert np.allclose(nor["ci_high"] - nor["b"], 1.959963985 * nor["se"])
    assert ((sat["ci_high"] - sat["b"]) > (nor["ci_high"] - nor["b"])).all()
    with pytest.raises(ImrBayesError, match="satterthwaite"):
        fit_lmm(df, "imrs_client", df_method="kenward-roger")


def test_satterthwaite_df_are_exact_in_a_balanced_split_plot():
    # balanced, complete: between-participant contrasts (arm means at the mean time, t = 1)
    # get G - 2 df, within-participant terms the within residual df G (T - 1) - 2
    # (split-plot ANOVA, where the Satterthwaite df are exact)
    fit = fit_lmm(contract_frame(n_imr=30, n_cau=20), "imrs_client")
    df = fit.coefficients.set_index("term")["df"]
    assert df["time"] == pytest.approx(98, abs=0.02)
    assert df["condition_x_time"] == pytest.approx(98, abs=0.02)
    # terms: intercept, time, condition, condition_x_time
    assert fit.linear_combination(np.array([0, 0, 1, 1.0]))[2] == pytest.approx(48, abs=0.02)
    assert fit.linear_combination(np.array([1, 1, 0, 0.0]))[2] == pytest.approx(48, abs=0.02)
    # the t = 0 coefficients mix both strata, so their df lie in between
    assert 48 < df["condition"] < 98 and 48 < df["intercept"] < 98


def test_multi_df_f_test_in_a_balanced_split_plot():
    import pandas as pd
    from scipy import stats

    fit = fit_lmm(contract_frame(n_imr=30, n_cau=20), "imrs_client")
    L = pd.DataFrame({"time": [1.0, 0.0], "condition_x_time": [0.0, 1.0]})
    test = fit.contrast(L)
    assert test.num_df == 2 and test.den_df == pytest.approx(98, abs=0.05)
    b = fit.coefficients.set_index("term")["b"][["time", "condition_x_time"]].to_numpy()
    C = fit.cov_fe.loc[["time", "condition_x_time"], ["time", "condition_x_time"]].to_numpy()
    assert test.f == pytest.approx(b @ np.linalg.solve(C, b) / 2)
    assert test.p == pytest.approx(stats.f.sf(test.f, 2, test.den_df))
