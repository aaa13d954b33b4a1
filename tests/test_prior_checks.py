"""Prior checks: the log prior group, power-scaling sensitivity, prior predictive checks.

References: closed forms of the priors (log densities, normal quantiles and tail shares)
and fits made deliberately prior-dominated or in conflict with the data.
"""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import xarray as xr
from scipy import stats as sps

import imr_bayes
from imr_bayes import outcomes, prior_checks, registry, stages
from imr_bayes.errors import ImrBayesError
from imr_bayes.reanalysis import FitRecord, Fits, Reanalysis, RunContext, RunSettings, StageResult
from imr_bayes.report import sections

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
PRIMARY = outcomes.PRIMARY


def _normal(mu: float, sigma: float) -> dict:
    return {"dist": "Normal", "kwargs": {"mu": mu, "sigma": sigma}}


@pytest.fixture(scope="module")
def twin():
    from imr_bayes.data import default_twin

    return default_twin()


@pytest.fixture(scope="module")
def itt_fit(twin):
    return imr_bayes.fit(twin, analysis="itt_parity", outcome=PRIMARY, draws=300, tune=300,
                         chains=2, seed=3)


@pytest.fixture(scope="module")
def logistic_fits(twin):
    """Hospitalization OR under its own prior, a tight prior at 0 and a tight prior at OR e^3."""
    out = {}
    for label, prior in (("default", _normal(0, 2.5)), ("tight", _normal(0, 0.02)),
                         ("conflict", _normal(3, 0.1))):
        priors = {"intercept": _normal(0, 2.5), "log_odds_ratio": prior,
                  "log_odds_ratio_adjustment": _normal(0, 2.5)}
        out[label] = imr_bayes.fit(twin, analysis="hospitalization", draws=500, tune=500,
                                   chains=2, seed=5, priors=priors)
    return out


def _with(fit, *, priors: dict | None = None, constant_data: xr.Dataset | None = None):
    """The fit with other resolved priors (attrs) or another design (constant_data)."""
    tree = fit.idata.copy()
    if priors is not None:
        tree.attrs = {**fit.idata.attrs, "priors": json.dumps(priors)}
    if constant_data is not None:
        tree["constant_data"] = xr.DataTree(constant_data)
    return dataclasses.replace(fit, idata=tree)


@dataclasses.dataclass
class _FakeFit:
    """What the prior predictive checks read: attrs, constant data, spec, names."""

    analysis: str
    outcome: str
    idata: xr.DataTree
    spec: object


def _fake(analysis: str, outcome: str, model: str, priors: dict, constant: dict) -> _FakeFit:
    tree = xr.DataTree.from_dict({"constant_data": xr.Dataset(constant)})
    tree.attrs = {"model": model, "priors": json.dumps(priors), "seed": 11}
    return _FakeFit(analysis, outcome, tree, registry.get(analysis))


# --------------------------------------------------------------------------- log prior
#: PyTensor evaluates float constants exactly representable in float32 (2.5, 0.5, 1) in
#: float32, which shifts a log density by a constant of order 1e-8.
ATOL = 1e-6


def test_log_prior_group_is_the_joint_prior_of_the_sampled_parameters(itt_fit):
    tree = itt_fit.idata
    priors = json.loads(tree.attrs["priors"])
    post, lp = tree["posterior"], tree["log_prior"]
    scale = float(tree["constant_data"]["scale"])
    terms = [str(t) for t in post["term"].values]
    sds = ("sigma_participant", "sigma_group", "sigma_residual")
    # every top-level prior, no standard-normal latent of the group effects
    assert set(lp.data_vars) == {f"beta_{t}" for t in terms} | set(sds)
    assert "group_raw" not in lp.data_vars and "log_prior" not in tree["sample_stats"]
    for t in terms:
        p = priors[t]
        assert p["dist"] == "Normal"
        x = post["beta_std"].sel(term=t).values
        np.testing.assert_allclose(lp[f"beta_{t}"].values,
                                   sps.norm.logpdf(x, p["kwargs"]["mu"], p["kwargs"]["sigma"]),
                                   atol=ATOL)
    for name in sds:
        p = priors[name]
        assert p["dist"] == "HalfNormal"
        x = post[name].values / scale  # sampled on the standardized scale
        np.testing.assert_allclose(lp[name].values,
                                   sps.halfnorm.logpdf(x, scale=p["kwargs"]["sigma"]),
                                   atol=ATOL)


def test_log_prior_of_the_logistic_model(logistic_fits):
    fit = logistic_fits["conflict"]
    post, lp = fit.idata["posterior"], fit.idata["log_prior"]
    assert set(lp.data_vars) == {"intercept", "log_odds_ratio", "log_odds_ratio_hosp_before"}
    np.testing.assert_allclose(lp["log_odds_ratio"].values,
                               sps.norm.logpdf(post["log_odds_ratio"].values, 3, 0.1),
                               atol=ATOL)
    np.testing.assert_allclose(lp["intercept"].values,
                               sps.norm.logpdf(post["intercept"].values, 0, 2.5), atol=ATOL)


# ------------------------------------------------------------------------ power scaling
def test_power_scaling_flags_a_prior_dominated_fit_and_not_a_data_dominated_one(logistic_fits):
    rows = {label: prior_checks.power_scaling(f).set_index("estimand")
            for label, f in logistic_fits.items()}
    default = rows["default"].loc["log_odds_ratio"]
    assert default["prior_sensitivity"] < prior_checks.SENSITIVITY_THRESHOLD
    assert default["likelihood_sensitivity"] >= prior_checks.SENSITIVITY_THRESHOLD
    assert default["diagnosis"] == prior_checks.NOT_SENSITIVE and not default["sensitive"]
    tight = rows["tight"].loc["log_odds_ratio"]  # N(0, 0.02): the data cannot move it
    assert tight["diagnosis"] == "potential strong prior / weak likelihood"
    assert tight["sensitive"]
    assert tight["likelihood_sensitivity"] < prior_checks.SENSITIVITY_THRESHOLD
    conflict = rows["conflict"].loc["log_odds_ratio"]  # N(3, 0.1) against an OR near 1
    assert conflict["diagnosis"] == "potential prior-data conflict"
    # the adjustment's own wide prior stays data-dominated in all three fits
    assert not any(r.loc["odds_ratio_hosp_before", "sensitive"] for r in rows.values())
    assert all(r["reliable"].all() for r in rows.values())


def test_power_scaling_of_the_itt_fit_covers_every_estimate(itt_fit):
    table = prior_checks.power_scaling(itt_fit)
    assert list(table.columns) == list(prior_checks.POWER_SCALING_COLUMNS)
    assert len(table) == len(itt_fit.estimates.table)
    head = table[table["estimand"] == "condition_x_time"].iloc[0]
    assert head["treatment"] and not head["sensitive"]  # the twin's 187 people dominate
    assert "group_raw" not in head["priors_scaled"] and "sigma_group" in head["priors_scaled"]
    np.testing.assert_allclose(table["pareto_k_threshold"], 1 - 1 / np.log10(600))


def test_power_scaling_needs_the_log_prior_group(itt_fit):
    tree = xr.DataTree.from_dict({k: itt_fit.idata[k].to_dataset()
                                  for k in itt_fit.idata.children if k != "log_prior"})
    with pytest.raises(ImrBayesError, match="no log_prior group"):
        prior_checks.power_scaling(dataclasses.replace(itt_fit, idata=tree))


# --------------------------------------------------------------------- prior predictive
def test_itt_prior_predictive_matches_the_closed_form(itt_fit):
    n = 20000
    draws = {(r["quantity"], r.get("arm"), r.get("time"), r["scale"]): v
             for r, v in prior_checks.prior_predictive_draws(itt_fit, draws=n, seed=1)}
    priors = json.loads(itt_fit.idata.attrs["priors"])
    sd = {t: priors[t]["kwargs"]["sigma"] for t in ("intercept", "condition",
                                                    "condition_x_time")}
    # 18-month IMR - CAU difference in d: condition + 2 condition_x_time
    diff = draws[("difference", None, 2, "d")]
    s = np.hypot(sd["condition"], 2 * sd["condition_x_time"])
    assert s == pytest.approx(np.sqrt(0.5**2 + 4 * 0.5**2))  # docs/priors.md: default set
    tol = 0.06 * s  # about 3 Monte Carlo SEs of a 2.5 % quantile at 20000 draws
    assert np.quantile(diff, 0.025) == pytest.approx(-1.959964 * s, abs=tol)
    assert np.quantile(diff, 0.975) == pytest.approx(1.959964 * s, abs=tol)
    # headline: 2 x condition_x_time (its d_horizon), raw = d x pooled baseline SD
    o = outcomes.get(PRIMARY)
    head_d, head_raw = draws[("2 x condition_x_time", None, None, "d")], \
        draws[("2 x condition_x_time", None, None, "raw")]
    np.testing.assert_allclose(head_raw, head_d * o.pooled_baseline_sd())
    assert np.std(head_d) == pytest.approx(2 * sd["condition_x_time"], rel=0.03)
    # share of the CAU baseline mean (intercept only) off the 1-5 scale
    table = prior_checks.prior_predictive(itt_fit, draws=n, seed=1).set_index(
        ["quantity", "arm", "time", "scale"])
    row = table.loc[("arm_time_mean", "cau", 0, "raw")]
    centre, scale = float(itt_fit.idata["constant_data"]["center"]), o.pooled_baseline_sd()
    z = ((o.scale_min - centre) / scale, (o.scale_max - centre) / scale)
    share = sps.norm.cdf(z[0], 0, sd["intercept"]) + sps.norm.sf(z[1], 0, sd["intercept"])
    assert row["share_outside"] == pytest.approx(share, abs=4 * np.sqrt(share / n) + 1e-3)
    assert not table["flagged"].any()  # default priors keep 95 % of every mean on the scale


def test_wide_priors_put_the_means_off_the_scale_and_are_flagged(itt_fit):
    from imr_bayes.spec import load_prior_set

    wide = load_prior_set("wide")
    priors = {k: wide.priors[k].resolved(1) for k in json.loads(itt_fit.idata.attrs["priors"])}
    table = prior_checks.prior_predictive(_with(itt_fit, priors=priors))
    means = table[table["quantity"] == "arm_time_mean"]
    assert means["flagged"].all() and (means["share_outside"] > 0.5).all()
    diff = table[(table["quantity"] == "difference") & (table["scale"] == "raw")].iloc[0]
    assert diff["flagged"]  # differences wider than the scale itself


def test_lmm_prior_predictive_reads_any_design(itt_fit):
    """A covariate the standard design lacks enters through the fit's X and its prior."""
    cd = itt_fit.idata["constant_data"].to_dataset()
    treated = cd["treated"].values > 0
    extra = np.where(treated, 1.0, 0.25)[:, None] * np.ones((1, cd.sizes["time"]))
    X = np.concatenate([cd["X"].values, extra[:, :, None]], axis=2)
    terms = [*map(str, cd["term"].values), "team"]
    cd = cd.drop_vars(["X", "term"]).assign(X=(("participant", "time", "term"), X)) \
        .assign_coords(term=terms)
    priors = {**json.loads(itt_fit.idata.attrs["priors"]), "team": _normal(0, 2.0)}
    n = 20000
    draws = {(r["quantity"], r.get("time"), r["scale"]): v for r, v in
             prior_checks.prior_predictive_draws(_with(itt_fit, priors=priors,
                                                       constant_data=cd), draws=n, seed=2)}
    # IMR - CAU at 18 months: condition + 2 condition_x_time + (1 - 0.25) team
    expected = np.sqrt(0.5**2 + 4 * 0.5**2 + (0.75 * 2.0) ** 2)
    assert np.std(draws[("difference", 2, "d")]) == pytest.approx(expected, rel=0.03)
    with pytest.raises(ImrBayesError, match="no 'team'"):
        prior_checks.prior_predictive_draws(_with(itt_fit, constant_data=cd))


def test_cace_prior_predictive_follows_the_mixture():
    sd = dict(zip(("intercept", "time", "complier", "complier_x_time", "cace_condition",
                   "cace_condition_x_time"), (1.0, 0.3, 0.4, 0.2, 0.5, 0.25), strict=True))
    priors = {k: _normal(0, s) for k, s in sd.items()}
    priors.update(compliance_intercept=_normal(30, 0.01), compliance_coef=_normal(0, 1))
    centre, scale = 3.3, 0.5
    fit = _fake("cace", PRIMARY, "cace", priors, {
        "W": (("participant", "covariate"), np.zeros((50, 3))), "center": ((), centre),
        "scale": ((), scale)})
    n = 20000
    draws = {(r["quantity"], r.get("arm"), r.get("time"), r["scale"]): v
             for r, v in prior_checks.prior_predictive_draws(fit, draws=n)}
    # every participant a complier: IMR - CAU at 18 months = a + 2 tau
    diff = draws[("difference", None, 2, "d")]
    assert np.std(diff) == pytest.approx(np.hypot(0.5, 2 * 0.25), rel=0.03)
    cau0 = (draws[("arm_time_mean", "cau", 0, "raw")] - centre) / scale
    assert np.std(cau0) == pytest.approx(np.hypot(1.0, 0.4), rel=0.03)  # b0 + k0
    assert np.std(draws[("2 x cace_condition_x_time", None, None, "d")]) == pytest.approx(
        0.5, rel=0.03)


def test_hurdle_prior_predictive_is_the_g_computed_mean_of_days():
    """Near-point priors: P(stay) = 1 and a log-normal with SD ~ 0 give exp(mu) days.

    The length-of-stay model is truncated at the contract's 366 days, so its arm means stay
    inside the range by construction: the check reports their prior spread, it cannot flag.
    """
    tiny = _normal(0, 1e-6)
    priors = {"any_stay_intercept": _normal(30, 0.01), "any_stay_imr": tiny,
              "any_stay_coef": tiny, "days_intercept": _normal(np.log(10.0), 1e-6),
              "days_imr": _normal(np.log(2.0), 1e-6), "days_coef": tiny,
              "days_sigma": {"dist": "HalfNormal", "kwargs": {"sigma": 1e-6}}}
    X = {"X": (("participant", "covariate"), np.array([[0.5, -1.0], [-0.5, 1.0]]))}
    table = prior_checks.prior_predictive(
        _fake("los", "los_after", "hurdle", priors, X), draws=2000).set_index(
        ["quantity", "arm"])
    assert table.loc[("arm_mean", "cau"), "median"] == pytest.approx(10.0, rel=1e-3)
    assert table.loc[("arm_mean", "imr"), "median"] == pytest.approx(20.0, rel=1e-3)
    diff = table.xs("los_difference", level="quantity").iloc[0]
    assert diff["median"] == pytest.approx(10.0, rel=1e-3)
    assert not table["flagged"].any()


def test_logistic_prior_predictive(logistic_fits):
    table = prior_checks.prior_predictive(logistic_fits["default"], draws=20000, seed=4)
    table = table.set_index(["quantity", "arm"])
    odds = table.xs("odds_ratio", level="quantity").iloc[0]
    assert np.log(odds["q975"]) == pytest.approx(1.959964 * 2.5, abs=0.15)
    probs = table.xs("arm_mean", level="quantity")
    assert (probs["share_outside"] == 0).all() and (probs["q025"] >= 0).all()


def test_every_analysis_kind_has_a_prior_predictive_map():
    kinds = {spec.model for spec in registry.analyses().values()}
    assert kinds <= set(prior_checks.PRIOR_PREDICTIVE_KINDS)


def test_samplers_follow_pymc_parametrizations():
    import pymc as pm

    from imr_bayes.spec import DISTRIBUTIONS

    assert set(prior_checks.SAMPLERS) == set(DISTRIBUTIONS)
    kwargs = {"Normal": {"mu": 1.0, "sigma": 2.0}, "StudentT": {"nu": 3.0, "mu": 1.0,
                                                                  "sigma": 2.0},
              "HalfNormal": {"sigma": 2.0}, "HalfStudentT": {"nu": 3.0, "sigma": 2.0},
              "HalfCauchy": {"beta": 2.0}, "Exponential": {"lam": 0.5}}
    rng = np.random.default_rng(8)
    ours = {d: prior_checks.draw_prior({"dist": d, "kwargs": kw}, 4000, rng)
            for d, kw in kwargs.items()}
    theirs = pm.draw([getattr(pm, d).dist(**kw) for d, kw in kwargs.items()], draws=4000,
                     random_seed=9, mode="FAST_COMPILE")
    for (d, x), y in zip(ours.items(), theirs, strict=True):
        assert sps.ks_2samp(x, y).pvalue > 1e-3, d
    with pytest.raises(ImrBayesError, match="unknown prior distribution 'Beta'"):
        prior_checks.draw_prior({"dist": "Beta", "kwargs": {}}, 1, rng)


# ------------------------------------------------------------------- stages and sections
def test_stages_and_sections_cover_barg_1e(itt_fit, logistic_fits):
    ctx = RunContext(settings=RunSettings(quick=True), progress=lambda e: None)
    fits = Fits((FitRecord("itt_parity", PRIMARY, itt_fit),
                 FitRecord("hospitalization", "hosp_after", logistic_fits["default"])))
    ctx.results["fits"] = StageResult(value=fits)
    ctx.results["power_scaling"] = stages.power_scaling(ctx)
    ctx.results["prior_predictive"] = stages.prior_predictive(ctx)
    r = Reanalysis(run_id="t", settings=ctx.settings, started="2026-01-01T00:00:00",
                   seconds=1.0, stages=dict(ctx.results), data_hash="0" * 64)
    ps = sections.power_scaling(r)
    assert ps.status == "ok"
    assert set(ps.tables["fits"]["analysis"]) == {"itt_parity", "hospitalization"}
    assert ps.tables["effects_and_flagged"]["treatment"].any()
    pp = sections.prior_predictive(r)
    assert pp.status == "ok" and pp.figures[0].png.startswith(PNG_MAGIC)
    per_fit = pp.tables["fits"].set_index("analysis")
    assert per_fit.loc["hospitalization", "effect_scale"] == "probability"
    assert per_fit.loc["itt_parity", "effect_d_q975"] > 0
    barg = sections.barg_checklist(r).tables["barg"].set_index("item")
    assert barg.loc["1.E", "status"] == "covered"
    empty = RunContext(settings=RunSettings(quick=True), progress=lambda e: None)
    assert stages.prior_predictive(empty).status == "unavailable"
    assert stages.power_scaling(empty).status == "unavailable"
