"""Per-protocol (completers) and CACE analyses.

References: the paper's sample sizes (57 completers, 71 controls), the frequentist REML
per-protocol estimate on the same twin, and hand-computed mixture likelihoods (scipy
multivariate normal densities).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import imr_bayes
from imr_bayes import published
from imr_bayes.bayes.completion import (
    CacePanel,
    build_cace_model,
    cace_loglik,
    cace_priors,
    completers_sample,
)
from imr_bayes.bayes.itt import make_panel
from imr_bayes.covariates import standardized_design
from imr_bayes.data import default_twin
from imr_bayes.errors import DataValidationError, SpecError
from imr_bayes.frequentist import fit_lmm
from imr_bayes.registry import FitRequest
from imr_bayes.spec import load_analysis, load_prior_set
from imr_bayes.trial import facts

DRAWS = dict(draws=300, tune=300, chains=2)


@pytest.fixture(scope="session")
def twin() -> pd.DataFrame:
    return default_twin()


@pytest.fixture(scope="session")
def pp_fit(twin):
    return imr_bayes.fit(twin, analysis="completers", imr_group=False, seed=5, **DRAWS)


def _text(key: str) -> float:
    return float(published.text_results().set_index("key").loc[key, "value"])


def test_completers_sample_sizes(twin):
    per = completers_sample(twin).drop_duplicates("participant_id")
    assert int((per["arm"] == "imr").sum()) == _text("completers_n")
    assert int((per["arm"] == "cau").sum()) == 71
    with pytest.raises(DataValidationError, match="completer"):
        completers_sample(twin.drop(columns="completer"))


def test_per_protocol_agrees_with_reml(pp_fit, twin):
    """No group effect, weak priors: posterior mean within 0.3 posterior SD of REML."""
    reml = fit_lmm(twin, "imrs_client", sample="completers").coefficients.set_index("term")
    est = pp_fit.estimates
    assert set(est.table["analysis"]) == {"completers"}  # no pp_ prefix: the analysis says it
    for term in ("condition", "condition_x_time"):
        row = est.row(term)
        assert abs(row["estimate"] - reml.loc[term, "b"]) < 0.3 * row["sd"], term
        assert row["sd"] == pytest.approx(reml.loc[term, "se"], rel=0.25)
    assert pp_fit.idata.attrs["sample"].startswith("IMR completers")
    assert {"spec_hash", "data_hash", "seed", "versions"} <= set(pp_fit.idata.attrs)
    assert est.row("condition_x_time_d")["scale"] == "d"


def test_per_protocol_categorical_time_agrees_with_reml(twin):
    """Table 7 counterpart: categorical time, no group effect, within 0.3 posterior SD."""
    fit = imr_bayes.fit(twin, analysis="completers_categorical", imr_group=False, seed=7,
                        **DRAWS)
    reml = fit_lmm(twin, "imrs_client", time="categorical",
                   sample="completers").coefficients.set_index("term")
    est = fit.estimates
    for k in (1, 2):
        row = est.row(f"condition_x_time_{k}")
        assert abs(row["estimate"] - reml.loc[f"condition_x_time[{k}]", "b"]) < 0.3 * row["sd"]
    published_diff = published.marginal_means("completers")
    pub = published_diff[(published_diff["outcome"] == "imrs_client")
                         & (published_diff["arm"] == "imr")].set_index("time")["diff"]
    for t in (0, 1, 2):  # Table 7 IMR - CAU differences lie inside the 95 % ETIs
        row = est.row("difference", time=t)
        assert row["ci_low"] < pub.loc[t] < row["ci_high"]


def test_compliance_design_standardized_and_deduplicated(twin):
    people = twin.drop_duplicates("participant_id")
    covariates = load_analysis("cace").compliance_covariates()
    assert covariates == facts().covariates.baseline_model  # default: the trial facts'
    W, names = standardized_design(people, covariates)
    assert W.shape == (len(people), len(names))
    np.testing.assert_allclose(W.mean(axis=0), 0.0, atol=1e-12)
    np.testing.assert_allclose(W.std(axis=0), 1.0, rtol=1e-12)
    # "no admission" and "never hospitalized" are the same people (Table 1): one column
    assert ("admissions[none]" in names) != ("hospitalization_length[none]" in names)
    assert not any(n.endswith("[missing]") for n in names)
    with pytest.raises(DataValidationError, match="agee"):
        standardized_design(people, ("agee",))


def _tiny_cace() -> CacePanel:
    rows = [  # IMR complier, IMR never-taker, two controls (one with a missing visit)
        ("A", "imr", "G01", True, [3.6, 3.9, 4.1]),
        ("B", "imr", "G02", False, [3.0, 3.1, np.nan]),
        ("C", "cau", None, None, [3.4, 3.5, 3.3]),
        ("D", "cau", None, None, [2.9, np.nan, 3.2]),
    ]
    long = []
    for pid, arm, grp, comp, ys in rows:
        for t, y in enumerate(ys):
            long.append({"participant_id": pid, "arm": arm, "time": t, "imr_group": grp,
                         "completer": comp, "imrs_client": y})
    df = pd.DataFrame(long)
    df["completer"] = df["completer"].astype("boolean")
    panel = make_panel(df, "imrs_client")
    W = np.array([[0.5], [-1.0], [1.5], [0.2]])
    return CacePanel(panel=panel, complier=np.array([1.0, 0.0, 0.0, 0.0]), W=W,
                     covariate_names=("x",))


def test_cace_mixture_likelihood_by_hand():
    cp = _tiny_cace()
    p = cp.panel
    par = {"intercept": 0.1, "time": 0.05, "complier": 0.3, "complier_x_time": 0.1,
           "cace_condition": -0.05, "cace_condition_x_time": 0.2, "sigma_residual": 0.6,
           "sigma_participant": 0.8, "compliance_intercept": -0.2,
           "compliance_coef": np.array([0.7]), "sigma_group": 0.3,
           "group_raw": np.array([1.0, -0.5])}
    draws = {k: np.atleast_1d(v)[None] if np.ndim(v) else np.array([v])
             for k, v in par.items()}
    ll, post = cace_loglik(cp, draws, rho=0.0)

    def block(z, mean):
        keep = np.isfinite(z)
        n = int(keep.sum())
        cov = par["sigma_residual"] ** 2 * np.eye(n) + par["sigma_participant"] ** 2
        return stats.multivariate_normal(mean[keep], cov).logpdf(z[keep])

    t = np.arange(3.0)
    mu0 = par["intercept"] + par["time"] * t
    want = []
    for i in range(4):
        z = (p.y[i] - p.center) / p.scale
        treated = p.treated[i] > 0
        mu1 = mu0 + par["complier"] + par["complier_x_time"] * t
        if treated:
            g = par["sigma_group"] * par["group_raw"][p.group_idx[i]] * (t > 0)
            mu1 = mu1 + par["cace_condition"] + par["cace_condition_x_time"] * t + g
        pi = 1 / (1 + np.exp(-(par["compliance_intercept"] + 0.7 * cp.W[i, 0])))
        l1, l0 = np.log(pi) + block(z, mu1), np.log(1 - pi) + block(z, mu0)
        want.append((l1 if cp.complier[i] else l0) if treated else np.logaddexp(l1, l0))
        if not treated:
            assert post[0, i] == pytest.approx(np.exp(l1 - np.logaddexp(l1, l0)))
    np.testing.assert_allclose(ll[0], want, rtol=1e-10)

    # the PyMC model's likelihood term is the same function
    spec = load_analysis("cace")
    req = FitRequest(analysis="cace", outcome="imrs_client", spec=spec,
                     prior_set=load_prior_set("default"), seed=1)
    model = build_cace_model(cp, spec, cace_priors(req))
    expr = model.replace_rvs_by_values([model.potentials[0]])[0]
    fn = model.compile_fn(expr, inputs=model.value_vars, point_fn=True)
    point = {k: v for k, v in par.items() if not k.startswith("sigma")}
    point.update({f"{k}_log__": np.log(v) for k, v in par.items() if k.startswith("sigma")})
    assert float(fn(point)) == pytest.approx(float(np.sum(want)), rel=1e-9)


def test_cace_overrides_are_checked(twin):
    with pytest.raises(SpecError, match="compliance covariate 'agee'"):
        imr_bayes.fit(twin, analysis="cace", covariates=["agee"], draws=5, tune=5, chains=1)
    with pytest.raises(SpecError, match=r"unknown override of analysis 'cace' 'engine'"):
        imr_bayes.fit(twin, analysis="cace", engine="full")  # no engine: always marginal
    with pytest.raises(SpecError, match="override of analysis 'cace' 'residual_sd_by_arm'"):
        imr_bayes.fit(twin, analysis="cace", residual_sd_by_arm=True)
    spec = load_analysis("cace")
    assert set(spec.prior_names) == {"compliance_intercept", "compliance_coef"}
    with pytest.raises(SpecError, match="needs a prior for compliance_coef"):
        spec.with_overrides(priors={"compliance_intercept": {
            "dist": "Normal", "kwargs": {"mu": 0, "sigma": 1}}})


@pytest.mark.slow
def test_cace_on_the_twin_and_default_diagnostics(twin):
    fit = imr_bayes.fit(twin, analysis="cace")
    est = fit.estimates
    # the complier share is learned where compliance is observed: 57 of 116 in the IMR arm
    assert est.row("complier_share")["estimate"] == pytest.approx(57 / 116, abs=0.06)
    for name in ("cace_condition_x_time", "cace_condition_x_time_d", "complier_x_time",
                 "itt_condition_x_time_implied"):
        assert np.isfinite(est.row(name)["estimate"])
    assert fit.diagnostics.passed, fit.diagnostics.problems
    pp = imr_bayes.fit(twin, analysis="completers")
    assert pp.diagnostics.passed, pp.diagnostics.problems
