"""Hospitalization (logistic) and length-of-stay (hurdle Student-t) Bayesian analyses.

References: the paper's OR 1.22 (95 % CI 0.44-3.42) and LOS difference means; the
frequentist replication on the same twin (logistic MLE, Mann-Whitney U); hand-computed
log densities (scipy).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import imr_bayes
from imr_bayes import published
from imr_bayes.bayes.hospital import build_logit_model, build_los_model
from imr_bayes.data import default_twin
from imr_bayes.errors import DataValidationError, SpecError
from imr_bayes.frequentist import hospitalization as freq_hospitalization
from imr_bayes.spec import load_analysis

DRAWS = dict(draws=300, tune=300, chains=2)


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
    d = np.array([0.0, -12.0, 0.0, 30.0, 5.0, 0.0])
    arm = np.array([0, 0, 1, 1, 1, 0])
    priors = load_analysis("los").resolved_priors()
    model = build_los_model(priors, d, arm)
    h, mu, sigma, nu_m1 = np.array([0.2, -0.5]), np.array([-3.0, 4.0]), np.array([20.0, 35.0]), 4.0
    got = _potential(model)({"nonzero_logit": h, "location": mu, "scale_log__": np.log(sigma),
                             "nu_minus_one_log__": math.log(nu_m1)})
    want = 0.0
    for di, k in zip(d, arm, strict=True):
        p = 1 / (1 + math.exp(-h[k]))
        want += (math.log(1 - p) if di == 0 else
                 math.log(p) + stats.t.logpdf(di, df=nu_m1 + 1, loc=mu[k], scale=sigma[k]))
    assert float(got) == pytest.approx(want, rel=1e-9)


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


def test_los_against_mann_whitney_and_observed_shares(los_fit, twin):
    est = los_fit.estimates
    people = twin.drop_duplicates("participant_id")
    per = pd.DataFrame({"arm": people["arm"].astype(str),
                        "d": people["los_after"] - people["los_before"]}).dropna()
    # the model saw these difference scores, in this order
    np.testing.assert_array_equal(los_fit.idata["observed_data"]["y"].values, per["d"])
    freq = freq_hospitalization(twin).length_of_stay.set_index("arm")
    n_imr, n_cau = int(freq.loc["imr", "n"]), int(freq.loc["cau", "n"])
    u_share = 1 - freq.loc["imr vs cau", "u_imr"] / (n_imr * n_cau)  # P(IMR lower)
    sup = est.row("prob_superiority")
    assert sup["estimate"] == pytest.approx(u_share, abs=0.04)
    for arm in ("imr", "cau"):
        share = float((per.loc[per["arm"] == arm, "d"] != 0).mean())
        assert est.row("p_nonzero", arm=arm)["estimate"] == pytest.approx(share, abs=0.05)
    text = published.text_results().set_index("key")["value"].astype(float)
    diff = est.row("los_difference")
    assert diff["ci_low"] < text["los_diff_imr_mean"] - text["los_diff_cau_mean"] < \
        diff["ci_high"]
    assert los_fit.outcome == "los_difference"


def test_bad_inputs():
    with pytest.raises(DataValidationError, match="los_before"):
        imr_bayes.fit(default_twin().drop(columns="los_before"), analysis="los")
    with pytest.raises(SpecError, match="unknown hurdle prior 'locaton'.*Did you mean .location."):
        load_analysis("los").with_overrides(priors={"locaton": {
            "dist": "Normal", "kwargs": {"mu": 0, "sigma": 1}}})
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
