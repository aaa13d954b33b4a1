"""fit_formula (bambi model, nutpie draws) returns what bambi's own ``Model.fit()`` returns.

External references:

* bambi itself. ``bambi.Model(formula, data, priors=...).fit()`` (PyMC's own NUTS, an
  independent sampler) on the same data gives the same parameter names, dimensions and
  coordinates, and the same posterior means within Monte Carlo error: |mean - bambi's mean|
  < 4 x sqrt(MCSE_ours^2 + MCSE_bambi^2) for every scalar and every element of every vector
  parameter. Under exact MCSEs |z| >= 4 has probability 6e-5 per element; measured max |z|
  2.3 (sleepstudy, 41 elements) and 2.9 (BtheB, 105) at the test's seeds, and no drift at
  4 x 2000 draws with two other seed pairs (max |z| 2.6). bambi's
  ``Model.compute_log_likelihood`` on our reported posterior reproduces our per-observation
  log-likelihood (PyMC's, from the draws as sampled) to floating-point rounding, which holds
  only if the reported ``Intercept`` is bambi's uncentred one.
* Published mixed-model estimates (see each ``/work/shared/data/*/SOURCE.md``): sleepstudy,
  lme4 REML ``fm1`` (Bates et al. 2015, JSS 67(1), section 5), and Beat the Blues, lme4 ML
  ``BtheB_lmer1`` (Hothorn & Everitt 2014, HSAUR3 ch. 13). Under weakly informative priors
  the posterior mean of each fixed effect lies within 0.5 posterior SD of the printed
  estimate (measured: at most 0.07 SD). The posterior SD is close to the printed SE, Monte
  Carlo error is 0.03-0.05 SD at these draws; the bound leaves room for the prior and for
  averaging over the variance components, and catches the centred intercept (298 ms on
  sleepstudy, 4.8 posterior SD off).

The two data sets' fits (ours and bambi's) run once per session, in the slow tier: bambi's
two PyMC fits take 11 s with warm compile caches and 23 s with cold ones on the shared 2-core
machine, ours 8 s and 25 s. The fast tier checks the log-likelihood identity and the absence
of offsets on two families with a handful of draws; the slow tier on every family
fit_formula accepts.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import imr_bayes

DATA = Path("/work/shared/data")
SEED, REF_SEED = 1, 11
DRAWS, TUNE, CHAINS = 500, 500, 4
MCSE_Z = 4.0
PUBLISHED_SD = 0.5


def _btheb(data: pd.DataFrame) -> pd.DataFrame:
    # lme4's na.action = na.omit. formulae takes the first *sorted* level as reference unless
    # the column is an ordered Categorical: TAU / No / <6m as in the publication.
    data = data.dropna(subset=["bdi"]).reset_index(drop=True)
    for col, levels in (("treatment", ["TAU", "BtheB"]), ("drug", ["No", "Yes"]),
                        ("length", ["<6m", ">6m"])):
        data[col] = pd.Categorical(data[col], categories=levels, ordered=True)
    return data


def _btheb_priors() -> dict[str, Any]:
    import bambi as bmb

    # a prior of our own on one parameter, so both fits must receive the same priors
    return {"sigma": bmb.Prior("HalfStudentT", nu=4, sigma=10)}


@dataclass(frozen=True)
class Case:
    """A public data set with a published mixed model and its bambi formula."""

    csv: str
    formula: str
    #: (bambi variable, level of a categorical term or None) -> published estimate
    published: dict[tuple[str, str | None], float]
    prepare: Callable[[pd.DataFrame], pd.DataFrame] | None = None
    priors: Callable[[], dict[str, Any]] | None = None


CASES = {
    # lme4 fm1 (REML), summary(fm1)
    "sleepstudy": Case("sleepstudy/sleepstudy_long.csv", "Reaction ~ Days + (Days | Subject)",
                       {("Intercept", None): 251.405, ("Days", None): 10.467}),
    # HSAUR3 BtheB_lmer1 (ML), Figure 13.2
    "btheb": Case("btheb/btheb_long.csv",
                  "bdi ~ bdi_pre + time + treatment + drug + length + (1 | subject)",
                  {("Intercept", None): 5.59239, ("bdi_pre", None): 0.63968,
                   ("time", None): -0.70476, ("treatment", "BtheB"): -2.32908,
                   ("drug", "Yes"): -2.82495, ("length", ">6m"): 0.19708},
                  prepare=_btheb, priors=_btheb_priors),
}


@pytest.fixture(scope="session", params=list(CASES))
def pair(request):
    """(our fit, bambi's own fit, the bambi model, the case) on one data set, once."""
    import bambi as bmb

    case = CASES[request.param]
    path = DATA / case.csv
    if not path.exists():
        pytest.skip(f"{path} not available")
    data = pd.read_csv(path)
    if case.prepare:
        data = case.prepare(data)
    priors = case.priors() if case.priors else None
    ours = imr_bayes.fit_formula(case.formula, data, priors=priors, seed=SEED, draws=DRAWS,
                                 tune=TUNE, chains=CHAINS)
    model = bmb.Model(case.formula, data, priors=priors)
    ref = model.fit(draws=DRAWS, tune=TUNE, chains=CHAINS, cores=2, random_seed=REF_SEED,
                    progressbar=False)
    return ours, ref, model, case


def _elements(posterior) -> pd.DataFrame:
    """Mean and MCSE of every scalar element of every variable, indexed by name[coord]."""
    import arviz as az

    ds = posterior.to_dataset() if hasattr(posterior, "to_dataset") else posterior
    mcse = az.mcse(ds, method="mean")
    mcse = getattr(mcse, "dataset", mcse)
    rows = {}
    for name, da in ds.data_vars.items():
        mean = da.mean(("chain", "draw"))
        extra = [d for d in da.dims if d not in ("chain", "draw")]
        flat_mean = mean.stack(_k=extra) if extra else mean.expand_dims(_k=[0])
        flat_mcse = mcse[name].stack(_k=extra) if extra else mcse[name].expand_dims(_k=[0])
        for k in range(flat_mean.sizes["_k"]):
            label = ",".join(str(flat_mean[d].values[k]) for d in extra)
            rows[f"{name}[{label}]" if extra else name] = (float(flat_mean.values[k]),
                                                           float(flat_mcse.values[k]))
    return pd.DataFrame.from_dict(rows, orient="index", columns=["mean", "mcse"])


@pytest.mark.slow
def test_parameters_are_bambis(pair):
    ours, ref, _, _ = pair
    post, ref_post = ours.idata["posterior"], ref["posterior"]
    assert set(post.data_vars) == set(ref_post.data_vars)
    for name, da in ref_post.data_vars.items():
        assert post[name].dims == da.dims, name
        for dim in da.dims[2:]:
            assert list(map(str, post[dim].values)) == list(map(str, ref_post[dim].values))
    assert not [v for v in post.data_vars if v.endswith("_offset") or v == "mu"]
    scalars = {v for v, da in ref_post.data_vars.items() if da.ndim == 2}
    names = set(ours.estimates.table["estimand"])
    assert scalars <= names  # scalars by name, vector parameters element by element
    vectors = {n.split("[")[0] for n in names - scalars}
    assert vectors == {v for v, da in ref_post.data_vars.items() if da.ndim > 2}
    # diagnostics cover exactly the reported parameters, element by element
    assert set(ours.diagnostics.table["parameter"]) == set(_elements(post).index)


@pytest.mark.slow
def test_posterior_means_match_bambis_fit_within_monte_carlo_error(pair):
    ours, ref, _, _ = pair
    a, b = _elements(ours.idata["posterior"]), _elements(ref["posterior"])
    z = (a["mean"] - b.loc[a.index, "mean"]).abs() / np.hypot(a["mcse"], b.loc[a.index, "mcse"])
    assert z.max() < MCSE_Z, z.sort_values().tail(3).to_dict()


@pytest.mark.slow
def test_fixed_effects_match_published_lme4(pair):
    ours, _, _, case = pair
    post = ours.idata["posterior"]
    for (name, level), published in case.published.items():
        da = post[name]
        if level is not None:
            da = da.sel({da.dims[-1]: level})
        draws = da.values.ravel()
        assert abs(draws.mean() - published) < PUBLISHED_SD * draws.std(), (name, level)


@pytest.mark.slow
def test_log_likelihood_is_bambis_on_the_reported_posterior(pair):
    ours, _, model, _ = pair
    _assert_bambi_log_likelihood(ours, model)


def _assert_bambi_log_likelihood(fit, model) -> None:
    """bambi's log-likelihood of the reported posterior equals the fit's (PyMC's, from the
    draws as sampled): 1e-9 relative, floating-point rounding only."""
    out = model.compute_log_likelihood(fit.idata.copy(), inplace=False)
    name = fit.idata.attrs["outcome"]
    ours = fit.idata["log_likelihood"][name].values
    np.testing.assert_allclose(out["log_likelihood"][name].values, ours, rtol=1e-9, atol=1e-9)
    assert np.isfinite(ours).all()


def _family_data() -> pd.DataFrame:
    """Simulated responses for every family, 9 groups x 10 rows, one predictor."""
    rng = np.random.default_rng(20261130)
    n_groups, per_group = 9, 10
    g = np.repeat(np.arange(n_groups), per_group)
    n = g.size
    x = rng.normal(3.0, 1.0, n)  # mean far from 0: centring moves the intercept
    eta = -1.5 + 0.5 * x + rng.normal(0, 0.3, n_groups)[g]
    prob = 1 / (1 + np.exp(-eta))
    positive = rng.gamma(2.0, np.exp(eta) / 2)
    data = pd.DataFrame({"x": x, "g": g.astype(str), "trials": 10})
    data["gauss"] = eta + rng.normal(0, 1, n)
    data["binary"] = rng.binomial(1, prob)
    data["successes"] = rng.binomial(10, prob)
    data["count"] = rng.poisson(np.exp(eta))
    data["positive"] = positive
    data["positive_or_zero"] = np.where(rng.random(n) < 0.2, 0.0, positive)
    data["unit"] = np.clip(rng.beta(2 * np.exp(eta), 2), 0.01, 0.99)
    data["angle"] = np.angle(np.exp(1j * (0.5 * (x - 3) + rng.vonmises(0, 4, n))))
    data["category"] = pd.Categorical(
        np.digitize(eta + rng.logistic(size=n), [-0.5, 0.5]).astype(str))
    return data


#: family -> response: every bambi family fit_formula accepts (with a group-specific
#: intercept). Not accepted, before and after bambi's post-processing was adopted (see
#: docs/formula.md): gamma and wald (no finite initial point with the inverse link),
#: cumulative and sratio, multinomial and dirichlet_multinomial (dimension mismatch).
FAMILIES = {
    "gaussian": "gauss", "t": "gauss", "laplace": "gauss", "asymmetriclaplace": "gauss",
    "exgaussian": "gauss", "bernoulli": "binary", "binomial": "p(successes, trials)",
    "beta_binomial": "p(successes, trials)", "zero_inflated_binomial": "p(successes, trials)",
    "poisson": "count", "negativebinomial": "count", "zero_inflated_poisson": "count",
    "zero_inflated_negativebinomial": "count", "hurdle_poisson": "count",
    "hurdle_negativebinomial": "count", "exponential": "positive", "weibull": "positive",
    "hurdle_gamma": "positive_or_zero", "hurdle_lognormal": "positive_or_zero",
    "beta": "unit", "vonmises": "angle", "categorical": "category",
}
#: the fast tier: the default family and the one whose response is a ``p(y, n)`` term
FAST_FAMILIES = ("gaussian", "binomial")


@pytest.fixture(scope="session")
def family_data() -> pd.DataFrame:
    return _family_data()


@pytest.mark.parametrize("family", [
    pytest.param(f, marks=() if f in FAST_FAMILIES else pytest.mark.slow) for f in FAMILIES])
def test_family_reports_bambis_posterior(family, family_data):
    import bambi as bmb

    formula = f"{FAMILIES[family]} ~ x + (1 | g)"
    fit = imr_bayes.fit_formula(formula, family_data, family=family, seed=SEED, draws=30,
                                tune=30, chains=2, backend="pyfunc")
    model = bmb.Model(formula, family_data, family=family)
    model.build()
    post = fit.idata["posterior"]
    # no offsets, no per-observation parameter of the likelihood (mu, p, ...)
    assert not [v for v, da in post.data_vars.items()
                if v.endswith("_offset") or "__obs__" in da.dims]
    assert {"Intercept", "x", "1|g"} <= set(post.data_vars)
    _assert_bambi_log_likelihood(fit, model)
