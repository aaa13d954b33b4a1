"""Posterior indices: hand-computed values, a conjugate Savage-Dickey check, agreement rule."""

from __future__ import annotations

import math

import numpy as np
import pytest
import xarray as xr
from scipy import stats

from imr_bayes.errors import ImrBayesError
from imr_bayes.indices import (
    AGREEMENT_CLASSES,
    agreement_class,
    alternative_prior,
    describe_prior,
    direction_sign,
    eti,
    p_abs_gt,
    p_benefit,
    p_direction,
    posterior_density_at,
    prior_density,
    reweighted_bf10,
    rope_share,
    savage_dickey_bf10,
)

DRAWS = np.array([-2.0, -0.5, 0.1, 0.2, 0.3, 1.0, 1.5, 3.0])


def test_p_direction_and_benefit_hand_counted():
    # 6 of 8 draws > 0, 2 < 0
    assert p_direction(DRAWS) == 0.75
    assert p_direction(-DRAWS) == 0.75
    assert p_benefit(DRAWS, "higher") == 0.75
    assert p_benefit(DRAWS, -1) == 0.25
    # benefit beyond 0.25: draws 0.3, 1.0, 1.5, 3.0 -> 4 / 8
    assert p_benefit(DRAWS, 1, threshold=0.25) == 0.5
    # |x| > 1: -2.0, 1.5, 3.0 -> 3 / 8
    assert p_abs_gt(DRAWS, 1.0) == 0.375


def test_rope_share_full_posterior_inclusive_bounds():
    # [-0.5, 0.3] holds -0.5, 0.1, 0.2, 0.3 -> 4 / 8 (bounds inclusive)
    assert rope_share(DRAWS, -0.5, 0.3) == 0.5
    with pytest.raises(ImrBayesError, match="low < high"):
        rope_share(DRAWS, 0.3, -0.5)


def test_eti_linear_quantiles():
    # 0, 1, ..., 100: the 2.5 % and 97.5 % quantiles are 2.5 and 97.5
    assert eti(np.arange(101.0)) == pytest.approx((2.5, 97.5), abs=1e-12)
    assert eti(np.arange(101.0), level=0.5) == pytest.approx((25.0, 75.0), abs=1e-12)
    with pytest.raises(ImrBayesError, match="should be in"):
        eti(DRAWS, level=95)


def test_xarray_reduces_only_sample_dims():
    values = np.stack([DRAWS.reshape(2, 4), -DRAWS.reshape(2, 4)], axis=-1)
    da = xr.DataArray(values, dims=("chain", "draw", "outcome"),
                      coords={"outcome": ["a", "b"]})
    pb = p_benefit(da, "higher")
    assert pb.dims == ("outcome",)
    assert pb.sel(outcome="a").item() == 0.75
    assert pb.sel(outcome="b").item() == 0.25
    low, high = eti(da)
    assert low.dims == ("outcome",)
    assert low.sel(outcome="a").item() == pytest.approx(np.quantile(DRAWS, 0.025))


def test_bad_draws_and_direction():
    with pytest.raises(ImrBayesError, match="non-finite"):
        p_direction([0.1, np.nan])
    with pytest.raises(ImrBayesError, match="empty"):
        p_direction([])
    with pytest.raises(ImrBayesError, match="Did you mean 'higher'"):
        direction_sign("hihger")
    with pytest.raises(ImrBayesError, match="direction must be"):
        direction_sign(0)


def test_savage_dickey_matches_conjugate_normal():
    # Prior theta ~ N(0, 1); one observation y = 1.2 with SE 0.5. Posterior precision
    # 1 + 4 = 5 -> sd = 0.447214, mean = 4 * 1.2 / 5 = 0.96.
    # Exact BF10 = N(0; 0, 1) / N(0; 0.96, 0.447214) = 0.398942 / 0.089082 = 4.4785
    exact = stats.norm.pdf(0, 0, 1) / stats.norm.pdf(0, 0.96, 5**-0.5)
    assert exact == pytest.approx(4.4785, abs=1e-3)
    draws = np.random.default_rng(4931).normal(0.96, 5**-0.5, size=20_000)
    bf = savage_dickey_bf10(draws, {"dist": "Normal", "kwargs": {"mu": 0, "sigma": 1}})
    assert bf == pytest.approx(exact, rel=0.05)
    # the posterior density itself, exact 0.089082
    assert posterior_density_at(draws, 0.0) == pytest.approx(0.089082, rel=0.05)
    # three ways of giving the prior agree
    assert prior_density(stats.norm(0, 1)) == pytest.approx(0.398942, abs=1e-6)
    assert prior_density(0.398942) == 0.398942


def test_reweighted_bf10_matches_the_test_prior_closed_form():
    # Same conjugate model, draws under the estimation prior N(0, 1). Test prior N(0, 0.4):
    # BF10 = N(1.2; 0, sqrt(0.16 + 0.25)) / N(1.2; 0, 0.5) = 0.107611 / 0.044789 = 2.40261
    # (the marginal density of y under H1 over its density under the null).
    exact = stats.norm.pdf(1.2, 0, math.sqrt(0.41)) / stats.norm.pdf(1.2, 0, 0.5)
    assert exact == pytest.approx(2.40261, abs=1e-4)
    draws = np.random.default_rng(4931).normal(0.96, 5**-0.5, size=20_000)
    est = {"dist": "Normal", "kwargs": {"mu": 0, "sigma": 1}}
    test = {"dist": "Normal", "kwargs": {"mu": 0, "sigma": 0.4}}
    bf = reweighted_bf10(draws, est, test)
    assert bf == pytest.approx(exact, rel=0.05)  # the KDE's 5 % as above
    # the importance weights alone: E_post[p_test / p_est] = m_test / m_est, exact
    # N(1.2; 0, sqrt(0.41)) / N(1.2; 0, sqrt(1.25)) = 0.107611 / 0.200586 = 0.536479
    ratio = bf / savage_dickey_bf10(draws, est)
    # (tolerance: 4 Monte Carlo SEs; the weights' relative SE is 0.9 % at 20 000 draws)
    assert ratio == pytest.approx(0.536479, rel=0.036)
    # the test prior equal to the estimation prior gives the Savage-Dickey BF itself
    assert reweighted_bf10(draws, est, est) == pytest.approx(savage_dickey_bf10(draws, est))
    with pytest.raises(ImrBayesError, match="distributions"):
        reweighted_bf10(draws, 0.4, test)


def test_alternative_prior_is_the_planned_effect_per_horizon():
    # planned d = 0.4 at 18 months: N(0, 0.2) on the standardized per-step slope, N(0, 0.4)
    # on a standardized difference, N(0, 0.4 * 24 / 2) = N(0, 4.8) on a raw slope with SD 24
    assert alternative_prior(horizon=2) == {"dist": "Normal", "kwargs": {"mu": 0.0,
                                                                         "sigma": 0.2}}
    assert alternative_prior()["kwargs"]["sigma"] == pytest.approx(0.4)
    assert alternative_prior(sd_scale=24, horizon=2)["kwargs"]["sigma"] == pytest.approx(4.8)
    assert describe_prior(alternative_prior(horizon=2), scale="standardized scale") == (
        "Normal(mu=0, sigma=0.2) on the standardized scale")
    assert describe_prior(None) == ""


def test_savage_dickey_outside_range_is_inf_with_warning():
    draws = np.random.default_rng(1).normal(10, 1, size=500)
    with pytest.warns(RuntimeWarning, match="outside the range"):
        assert math.isinf(savage_dickey_bf10(draws, 0.4))
    with pytest.raises(ImrBayesError, match="Did you mean 'Normal'"):
        prior_density({"dist": "Normall", "kwargs": {}})
    with pytest.raises(ImrBayesError, match="bad parameters"):
        prior_density({"dist": "Normal", "kwargs": {"scale": 1}})


@pytest.mark.parametrize(
    ("freq_ci", "freq_p", "eti95", "pd", "expected"),
    [
        # both detect: p 0.01, pd 0.994, same sign (SERS-SF ITT under the reference prior)
        ((0.84, 6.59), 0.01, (0.89, 6.53), 0.994, "both_detect"),
        # both null: p 0.18, pd 0.907
        ((-1.98, 10.25), 0.18, (-1.98, 10.24), 0.907, "both_null"),
        # frequentist only: p 0.048 but pd 0.967 < 0.975
        ((0.0007, 0.15), 0.048, (-0.0047, 0.1447), 0.967, "frequentist_only"),
        # Bayesian only: p 0.18 but pd 0.982
        ((-0.02, 0.13), 0.18, (0.005, 0.155), 0.982, "bayesian_only"),
        # opposite sign: both detect, in opposite directions
        ((0.1, 0.5), 0.01, (-0.6, -0.05), 0.99, "opposite_sign"),
        # opposite sign: only the frequentist side detects, the posterior leans the other way
        ((0.1, 0.5), 0.01, (-0.6, 0.2), 0.80, "opposite_sign"),
        # no p printed (NaN): the CI decides; CI excludes 0 -> frequentist detects
        ((0.02, 0.33), float("nan"), (0.01, 0.3), 0.985, "both_detect"),
        ((-0.11, 0.22), None, (-0.1, 0.2), 0.80, "both_null"),
    ],
)
def test_agreement_class_cases(freq_ci, freq_p, eti95, pd, expected):
    got = agreement_class(freq_ci, freq_p, eti95, pd)
    assert got == expected
    assert got in AGREEMENT_CLASSES


def test_agreement_class_thresholds_and_validation():
    # a stricter pd threshold turns a Bayesian detection into a null
    assert agreement_class((-1, 1), 0.5, (0.1, 2.0), 0.985, pd_threshold=0.99) == "both_null"
    # explicit point estimates override the interval midpoints for the sign
    assert agreement_class((-0.1, 0.5), 0.03, (-0.2, 0.1), 0.6, freq_estimate=-0.05,
                           posterior_center=-0.02) == "frequentist_only"
    with pytest.raises(ImrBayesError, match="low <= high"):
        agreement_class((1, 0), 0.5, (0, 1), 0.6)
    with pytest.raises(ImrBayesError, match="freq_p"):
        agreement_class((0, 1), 1.5, (0, 1), 0.6)
    with pytest.raises(ImrBayesError, match="p_direction"):
        agreement_class((0, 1), 0.5, (0, 1), 1.6)


def test_scaled_threshold():
    # ROPE on the per-time-step slope of IMRS client (SD 0.5): 0.1 * 0.5 / 2 = 0.025
    from imr_bayes.indices import ROPE_D, scaled_threshold

    assert scaled_threshold(ROPE_D, sd_scale=0.5, horizon=2) == pytest.approx(0.025)
    assert scaled_threshold(0.2, horizon=2) == pytest.approx(0.1)
    with pytest.raises(ImrBayesError, match="horizon"):
        scaled_threshold(0.2, horizon=0)
