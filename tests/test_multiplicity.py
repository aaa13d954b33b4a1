"""Partial pooling across outcomes: inputs from the paper, shrinkage property, tau -> 0 limit."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from imr_bayes.diagnostics import Diagnostics, diagnose
from imr_bayes.errors import ImrBayesError
from imr_bayes.multiplicity import (
    build_model,
    compare_with_bh,
    effects_from_fits,
    partial_pooling,
    pooling_spec,
    prepare_effects,
    published_effects,
)
from imr_bayes.spec import DiagnosticsSpec

# Oriented (positive = benefit) toy estimates, far from their precision-weighted mean.
Y = np.array([-0.4, -0.2, 0.0, 0.5, 0.7, 0.9])
SE = np.array([0.10, 0.20, 0.15, 0.10, 0.20, 0.15])
TOY = pd.DataFrame({"outcome": list("abcdef"), "estimate_d": Y, "se_d": SE})
FAST = dict(seed=11, draws=500, tune=500, chains=2)
#: The prior scales of models/methods/pooling.yaml: mu ~ N(0, 0.5), tau ~ HalfNormal(0.25).
SPEC = pooling_spec()
MU_SD = SPEC.priors["mu"].kwargs["sigma"]
TAU_SD = SPEC.priors["tau"].kwargs["sigma"]


def test_pooling_spec_priors_and_thresholds():
    assert (SPEC.model, MU_SD, TAU_SD) == ("pooling", 0.5, 0.25)
    assert set(SPEC.priors) == {"mu", "tau"} and SPEC.priors["tau"].dist == "HalfNormal"
    d = SPEC.diagnostics
    assert (d.r_hat_max, d.ess_bulk_min, d.ess_tail_min, d.divergences_max) == (1.01, 400, 400, 0)



def test_published_condition_x_time_inputs_hand_computed():
    eff = published_effects("itt", estimand="condition_x_time").set_index("outcome")
    # Table 2 prints condition x time for 5 outcomes; the other 7 cells are empty.
    assert sorted(eff.index[eff["included"]]) == sorted(
        ["imrs_client", "imrs_clinician", "cses", "mhrm", "sers_sf"])
    assert eff.loc["mspss", "note"].startswith("no printed condition x time")
    assert math.isnan(eff.loc["mspss", "estimate_d"])
    # d = 2 B / SD (the 18-month contrast of a per-step slope; docs/indices.md).
    # IMRS client: SD 0.5 (Table 1, both arms); d = 2 * 0.07 / 0.5 = 0.28;
    # se_d = 2 * (0.15 - 0.0007) / 3.919928 / 0.5 = 2 * 0.0380874 / 0.5 = 0.1523497
    assert eff.loc["imrs_client", "estimate_d"] == pytest.approx(0.28)
    assert eff.loc["imrs_client", "se_d"] == pytest.approx(0.1523497, abs=1e-6)
    # SERS-SF: pooled SD sqrt((115 * 23.6^2 + 70 * 24.0^2) / 185) = 23.75214;
    # d = 2 * 3.71 / 23.75214 = 0.312393; se_d = 2 * (6.59 - 0.84) / 3.919928 / 23.75214
    # = 0.123514
    assert eff.loc["sers_sf", "estimate_d"] == pytest.approx(0.312393, abs=1e-6)
    assert eff.loc["sers_sf", "se_d"] == pytest.approx(0.123514, abs=1e-6)


def test_published_followup_difference_covers_all_outcomes_by_default():
    eff = published_effects("itt").set_index("outcome")
    assert eff["included"].all() and len(eff) == 12
    pd.testing.assert_frame_equal(
        eff, published_effects("itt", estimand="followup_difference").set_index("outcome"))
    # Table 3 SERS-SF at 18 months: 11.86 (4.95, 18.76); d = 11.86 / 23.752144 = 0.499323;
    # p from the CI: se = 13.81 / 3.919928 = 3.52302, z = 3.36643, p = 2 Phi(-3.36643)
    # = 0.000761
    assert eff.loc["sers_sf", "estimate_d"] == pytest.approx(0.499323, abs=1e-6)
    assert eff.loc["sers_sf", "p"] == pytest.approx(0.000761, abs=5e-6)
    with pytest.raises(ImrBayesError, match="Did you mean 'condition_x_time'"):
        published_effects("itt", estimand="condition_x_tme")


def test_effects_from_fits_and_input_validation():
    # rows of BayesianFit.estimates.table of two outcomes
    fits = pd.DataFrame({
        "outcome": ["a", "a", "b"], "estimand": ["condition_x_time", "condition_x_time_d",
                                                 "condition_x_time_d"],
        "estimate": [0.07, 0.14, -0.1], "sd": [0.04, 0.08, 0.05],
    })
    # the per-step standardized slope times the horizon 2: d at 18 months
    got = effects_from_fits(fits)
    assert got.to_dict("list") == {"outcome": ["a", "b"], "estimate_d": [0.28, -0.2],
                                   "se_d": [0.16, 0.1]}
    assert effects_from_fits(fits, horizon=1)["estimate_d"].tolist() == [0.14, -0.1]
    # the deprecated effects layout (mean) still reads the same during the deprecation
    legacy = effects_from_fits(fits.rename(columns={"estimate": "mean"}))
    pd.testing.assert_frame_equal(legacy, got)
    with pytest.raises(ImrBayesError, match="lacks column"):
        effects_from_fits(fits.drop(columns="sd"))
    with pytest.raises(ImrBayesError, match="no rows with estimand"):
        effects_from_fits(fits, estimand="nope")
    with pytest.raises(ImrBayesError, match="at least 2 outcomes"):
        partial_pooling(TOY.iloc[:1], oriented=True)
    with pytest.raises(ImrBayesError, match="se_d must be > 0"):
        partial_pooling(TOY.assign(se_d=0.0), oriented=True)
    with pytest.raises(ImrBayesError, match="unknown outcome"):
        partial_pooling(TOY)  # not oriented: the codes must be trial outcomes


def test_model_likelihood_wiring_without_sampling():
    model = build_model(Y, SE, list("abcdef"), mu_prior_sd=MU_SD, tau_prior_sd=TAU_SD)
    point = {"mu": 0.1, "tau_log__": math.log(0.3), "z": np.linspace(-1, 1, 6)}
    loglik = model.compile_logp(vars=model.observed_RVs, mode="FAST_COMPILE")(point)
    theta = 0.1 + 0.3 * np.linspace(-1, 1, 6)
    assert loglik == pytest.approx(stats.norm.logpdf(Y, theta, SE).sum(), rel=1e-10)


def test_lower_is_better_outcomes_are_oriented_and_empty_cells_excluded():
    eff = pd.DataFrame({"outcome": ["ismi", "sers_sf", "bsi"], "estimate_d": [-0.2, 0.3, np.nan],
                        "se_d": [0.1, 0.1, np.nan]})
    data, excluded = prepare_effects(eff)
    # ISMI (self-stigma) is lower-is-better: -0.2 becomes a benefit of 0.2
    assert data.set_index("outcome")["benefit_d"].to_dict() == {"ismi": 0.2, "sers_sf": 0.3}
    assert list(excluded["outcome"]) == ["bsi"]
    oriented, _ = prepare_effects(eff, oriented=True)
    assert list(oriented["benefit_d"]) == [-0.2, 0.3]


@pytest.fixture(scope="module")
def toy_fit():
    return partial_pooling(TOY, oriented=True, **FAST)


def test_partial_pooling_lies_between_no_pooling_and_pooled_mean(toy_fit):
    # complete-pooling (precision-weighted) mean: sum(y / se^2) / sum(1 / se^2)
    pooled = float(np.sum(Y / SE**2) / np.sum(SE**-2))
    table = toy_fit.table.set_index("outcome")
    for k, (y, post) in enumerate(zip(Y, table["post_mean"], strict=True)):
        lo, hi = sorted((y, pooled))
        assert lo < post < hi, f"outcome {k}: {post} not between {y} and {pooled}"
    # more shrinkage for noisier estimates at similar distance: b (se .2) vs a (se .1)
    assert table.loc["b", "shrinkage"] > table.loc["a", "shrinkage"]
    # the standard diagnostics, against the spec's thresholds (ESS >= 400) ...
    assert isinstance(toy_fit.diagnostics, Diagnostics)
    assert toy_fit.diagnostics.passed == (not toy_fit.diagnostics.problems)
    # ... and this short run (2 x 500 draws) passes at ESS >= 200
    short = diagnose(toy_fit.idata, ["mu", "tau", "z"],
                     DiagnosticsSpec(ess_bulk_min=200, ess_tail_min=200))
    assert short.passed, short.problems
    # the default prior scales are the spec's, recorded with the fit
    priors = json.loads(toy_fit.idata.attrs["priors"])
    assert priors["mu"]["kwargs"]["sigma"] == MU_SD
    assert priors["tau"]["kwargs"]["sigma"] == TAU_SD
    assert toy_fit.idata.attrs["spec_hash"] == SPEC.with_overrides(
        draws=500, tune=500, chains=2).sha256
    assert set(toy_fit.hyper["parameter"]) == {"mu", "tau"}
    # the compiled model is shared; the outcome labels must be those of this data set
    assert list(toy_fit.idata["posterior"]["theta"]["outcome"].values) == list("abcdef")


def test_tau_to_zero_matches_complete_pooling_closed_form():
    # tau ~ HalfNormal(1e-4): every theta_k = mu, and mu | y is conjugate normal:
    # precision = 1 / 0.5^2 + sum(1 / se^2); mean = sum(y / se^2) / precision
    prec = MU_SD**-2 + np.sum(SE**-2)
    mean, sd = float(np.sum(Y / SE**2) / prec), float(prec**-0.5)
    res = partial_pooling(TOY, oriented=True, tau_prior_sd=1e-4, **FAST)
    mu = res.hyper.set_index("parameter").loc["mu"]
    assert mu["mean"] == pytest.approx(mean, abs=0.01)  # MC SE ~ 0.045 / sqrt(1000) = 0.0014
    assert mu["sd"] == pytest.approx(sd, rel=0.1)
    assert np.allclose(res.table["post_mean"], mean, atol=0.01)


def test_compare_with_bh_hand_computed(toy_fit):
    # Table 2 ITT p values for the five printed outcomes mapped onto the toy fit's labels.
    p = dict(zip("abcdef", [0.048, 0.18, 0.18, 0.10, 0.01, 0.9], strict=True))
    out = compare_with_bh(toy_fit, p).set_index("outcome")
    # BH, m = 6, sorted p: .01 .048 .10 .18 .18 .9 -> p*m/i: .06 .144 .2 .27 .216 .9
    # step-up minimum from the top: .06 .144 .2 .216 .216 .9
    assert out["p_bh"].to_dict() == pytest.approx(
        {"e": 0.06, "a": 0.144, "d": 0.2, "b": 0.216, "c": 0.216, "f": 0.9})
    assert not out["bh_detect"].any()
    # family of 12 (6 extra hypotheses at p = 1): e -> .01 * 12 = 0.12
    wide = compare_with_bh(toy_fit, p, family_size=12).set_index("outcome")
    assert wide.loc["e", "p_bh"] == pytest.approx(0.12)
    assert wide.loc["e", "raw_detect"] and not wide.loc["e", "bh_detect"]
    with pytest.raises(ImrBayesError, match="no finite p value"):
        compare_with_bh(toy_fit, {"a": 0.1})


@pytest.mark.slow
def test_same_seed_same_numbers(toy_fit):
    again = partial_pooling(TOY, oriented=True, **FAST)
    pd.testing.assert_frame_equal(again.table, toy_fit.table)


def test_plot_pooling_returns_figure(toy_fit):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from imr_bayes.multiplicity import plot_pooling

    fig = plot_pooling(toy_fit, title="toy")
    try:
        ax = fig.axes[0]
        assert ax.get_title() == "toy"
        assert [t.get_text() for t in ax.get_yticklabels()] == list("abcdef")
    finally:
        plt.close(fig)
