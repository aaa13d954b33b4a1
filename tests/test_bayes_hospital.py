"""Hospitalization (logistic) and length-of-stay (hurdle log-normal) Bayesian analyses.

References: the paper's OR 1.22 (95 % CI 0.44-3.42); the frequentist replication on the same
twin (logistic MLE); hand-computed log densities (scipy); the truncated log-normal mean by
quadrature; a planted simulation with known g-computed means (``bench/los_simulation.py``).
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import imr_bayes
from imr_bayes import published
from imr_bayes.bayes.hospital import (
    build_logit_model,
    build_los_model,
    los_design,
    truncated_lognormal_mean,
)
from imr_bayes.data import default_twin
from imr_bayes.errors import DataValidationError, SpecError
from imr_bayes.frequentist import hospitalization as freq_hospitalization
from imr_bayes.spec import load_analysis

DRAWS = dict(draws=300, tune=300, chains=2)
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
import los_simulation  # noqa: E402


def _potential(model):
    expr = model.replace_rvs_by_values([model.potentials[0]])[0]
    return model.compile_fn(expr, inputs=model.value_vars, point_fn=True)


@pytest.fixture(scope="session")
def twin() -> pd.DataFrame:
    return default_twin()


@pytest.fixture(scope="session")
def hosp_fit(twin):
    return imr_bayes.fit(twin, analysis="hospitalization", seed=11, **DRAWS)


@pytest.fixture(scope="session")
def los_fit(twin):
    return imr_bayes.fit(twin, analysis="los", seed=12, **DRAWS)


def test_logit_likelihood_is_the_bernoulli_density():
    y = np.array([1.0, 0.0, 0.0, 1.0, 1.0])
    imr = np.array([1.0, 1.0, 0.0, 0.0, 1.0])
    before = np.array([0.0, 1.0, 1.0, 0.0, 1.0])
    priors = load_analysis("hospitalization").resolved_priors()
    model = build_logit_model(priors, y, imr, before)
    a, b, c = -0.4, 0.3, 1.1
    got = _potential(model)({"intercept": a, "log_odds_ratio": b,
                             "log_odds_ratio_hosp_before": c})
    p = 1 / (1 + np.exp(-(a + b * imr + c * before)))
    assert float(got) == pytest.approx(stats.bernoulli.logpmf(y, p).sum(), rel=1e-9)


def test_hurdle_likelihood_by_hand():
    y = np.array([0.0, 12.0, 0.0, 30.0, 366.0, 0.0])
    imr = np.array([1.0, 1.0, 0.0, 0.0, 0.0, 1.0])
    X = np.array([[0.5, -1.0], [1.2, 0.3], [-0.7, 0.0], [0.1, 2.0], [-1.1, -0.4], [0.0, 1.0]])
    priors = load_analysis("los").resolved_priors()
    model = build_los_model(priors, y, imr, X, ("x1", "x2"), upper=366.0)
    a, b, g, c, e, h, s = -0.4, 0.3, np.array([0.8, -0.2]), 2.5, -0.2, np.array([0.1, 0.4]), 1.3
    got = _potential(model)({"any_stay_intercept": a, "any_stay_imr": b, "any_stay_coef": g,
                             "days_intercept": c, "days_imr": e, "days_coef": h,
                             "days_sigma_log__": math.log(s)})
    want = 0.0
    for yi, ii, xi in zip(y, imr, X, strict=True):
        p = 1 / (1 + math.exp(-(a + b * ii + xi @ g)))
        mu = c + e * ii + xi @ h
        if yi == 0:
            want += math.log(1 - p)
        else:  # log-normal density truncated at 366 days
            want += (math.log(p) + stats.lognorm.logpdf(yi, s, scale=math.exp(mu))
                     - stats.norm.logcdf((math.log(366.0) - mu) / s))
    assert float(got) == pytest.approx(want, rel=1e-9)


def test_truncated_lognormal_mean_by_quadrature():
    from scipy import integrate

    for mu, s, upper in ((2.5, 1.0, 366.0), (5.0, 1.5, 366.0), (1.0, 0.3, 366.0)):
        dist = stats.lognorm(s, scale=math.exp(mu))
        num = integrate.quad(lambda x, d=dist: x * d.pdf(x), 0, upper, limit=200)[0]
        assert truncated_lognormal_mean(np.array(mu), np.array(s), upper) == pytest.approx(
            num / dist.cdf(upper), rel=1e-7)
    # far below the bound the truncation vanishes: exp(mu + s^2 / 2)
    assert truncated_lognormal_mean(np.array(0.0), np.array(0.5), 366.0) == pytest.approx(
        math.exp(0.125), rel=1e-12)


def test_los_design_columns():
    per = pd.DataFrame({"arm": ["imr", "cau", "imr", "cau"], "los_before": [0, 10, 0, 100],
                        "hospitalization_length": ["none", "le_1y", "gt_1y", "le_1y"]})
    X, names = los_design(per, "los_before", ("hospitalization_length",))
    assert names == ("any_los_before", "log1p_los_before", "hospitalization_length[gt_1y]",
                     "hospitalization_length[none]")
    np.testing.assert_allclose(X.mean(axis=0), 0, atol=1e-12)
    np.testing.assert_allclose(X.std(axis=0), 1)
    # any stay before: 0, 1, 0, 1 -> z-scored -1, 1, -1, 1
    np.testing.assert_allclose(X[:, 0], [-1, 1, -1, 1])


def test_los_recovers_planted_g_computed_means():
    """Planted hurdle log-normal data (600 per arm, seed 4931): known g-computed means.

    The targets are the means over the replicate's own baselines at the true parameters
    (``los_simulation.truth``); each posterior mean lies within 3 posterior SDs of its target
    and each 95 % ETI covers it (the 20-replicate study is in ``docs/completion_fidelity.md``).
    """
    data = los_simulation.simulate(600, 4931)
    known = los_simulation.truth(data)
    fit = imr_bayes.fit(data, analysis="los", seed=4931, draws=500, tune=500, chains=2)
    est = fit.estimates
    for name, (estimand, arm) in {
            "los_mean_imr": ("los_mean", "imr"), "los_mean_cau": ("los_mean", "cau"),
            "p_any_stay_imr": ("p_any_stay", "imr"), "p_any_stay_cau": ("p_any_stay", "cau"),
            "los_difference": ("los_difference", None)}.items():
        row = est.row(estimand, arm=arm)
        assert abs(row["estimate"] - known[name]) < 3 * row["sd"], (name, row, known[name])
        assert row["ci_low"] < known[name] < row["ci_high"], name
    # the change (after - before) is the g-computed mean minus the sample's mean before
    before = data.drop_duplicates("participant_id")["los_before"].mean()
    assert est.row("los_change", arm="imr")["estimate"] == pytest.approx(
        est.row("los_mean", arm="imr")["estimate"] - before, rel=1e-9)
    assert fit.diagnostics.divergences == 0


def test_odds_ratio_agrees_with_mle_and_paper(hosp_fit, twin):
    est = hosp_fit.estimates
    freq = freq_hospitalization(twin).odds_ratio.iloc[0]
    row = est.row("odds_ratio")
    assert (row["scale"], row["outcome"]) == ("ratio", "hosp_after")
    # weak N(0, 2.5) prior on the log OR, 187 participants: the posterior median of the OR
    # is the MLE within a quarter of the log-OR posterior SD
    log_sd = est.row("log_odds_ratio")["sd"]
    assert abs(math.log(row["median"]) - math.log(freq["odds_ratio"])) < 0.25 * log_sd
    text = published.text_results().set_index("key")["value"].astype(float)
    assert row["ci_low"] < text["hosp_or"] < row["ci_high"]
    # interval widths on the log scale agree with the Wald CI within 20 %
    width = math.log(row["ci_high"]) - math.log(row["ci_low"])
    wald = math.log(freq["ci_high"]) - math.log(freq["ci_low"])
    assert width == pytest.approx(wald, rel=0.2)
    assert hosp_fit.outcome == "hosp_after"
    assert est.row("odds_ratio_hosp_before")["estimate"] > 0
    assert {"spec_hash", "data_hash", "seed", "versions"} <= set(hosp_fit.idata.attrs)
    assert hosp_fit.diagnostics.divergences == 0


def test_los_on_the_twin(los_fit, twin):
    est = los_fit.estimates
    people = twin.drop_duplicates("participant_id")
    # the model saw los_after, in this order, and the baseline beside it
    np.testing.assert_array_equal(los_fit.idata["observed_data"]["y"].values,
                                  people["los_after"].to_numpy(float))
    assert los_fit.outcome == "los_after"
    diff, ratio = est.row("los_difference"), est.row("los_ratio")
    draws = los_fit.idata["posterior"]
    np.testing.assert_allclose(
        draws["los_difference"].values,
        draws["los_mean"].sel(arm="imr").values - draws["los_mean"].sel(arm="cau").values)
    assert diff["scale"] == "days" and ratio["scale"] == "ratio"
    # P(benefit) = P(fewer days with IMR) = P(ratio < 1), the same draws
    assert diff["p_benefit"] == pytest.approx(ratio["p_benefit"])
    # every g-computed mean lies within the range a year allows
    assert 0 < est.row("los_mean", arm="cau")["ci_low"] < est.row("los_mean", arm="cau")[
        "ci_high"] < 366
    assert 0.3 < est.row("prob_superiority")["estimate"] < 0.7


def test_bad_inputs():
    with pytest.raises(DataValidationError, match="los_before"):
        imr_bayes.fit(default_twin().drop(columns="los_before"), analysis="los")
    with pytest.raises(SpecError, match="unknown hurdle prior 'days_im'.*Did you mean .days_imr."):
        load_analysis("los").with_overrides(priors={"days_im": {
            "dist": "Normal", "kwargs": {"mu": 0, "sigma": 1}}})
    with pytest.raises(SpecError, match="unknown covariate 'hospitalisation_length'"):
        load_analysis("los").with_overrides(covariates=["hospitalisation_length"])
    with pytest.raises(SpecError, match="override of analysis 'hospitalization' 'imr_group'"):
        imr_bayes.fit(default_twin(), analysis="hospitalization", imr_group=False)
    # a kind with its own response takes no outcome
    with pytest.raises(SpecError, match="own response 'hosp_after'"):
        imr_bayes.fit(default_twin(), analysis="hospitalization", outcome="imrs_client")


def test_engine_override_is_refused_by_a_kind_without_a_participant_intercept():
    with pytest.raises(SpecError, match="engine"):
        load_analysis("hospitalization").with_overrides(engine="full")


@pytest.mark.slow
def test_default_settings_pass_diagnostics(twin):
    for analysis in ("hospitalization", "los"):
        fit = imr_bayes.fit(twin, analysis=analysis)
        assert fit.diagnostics.passed, (analysis, fit.diagnostics.problems)
