"""PSIS-LOO with and without condition x time on small seeded fits of simulated data."""

from __future__ import annotations

import numpy as np
import pytest
from fixtures_bayes import simulate_itt
from scipy.special import logsumexp

import imr_bayes
from imr_bayes import loo
from imr_bayes.errors import ImrBayesError

SAMPLER = {"draws": 250, "tune": 250, "chains": 2}


@pytest.fixture(scope="session")
def strong():
    """Planted condition x time of 0.4 SD per step (0.8 SD at 18 months)."""
    return simulate_itt(cxt_d=0.4, seed=3)


@pytest.fixture(scope="session")
def result(strong):
    with_fit = imr_bayes.fit(strong, outcome="imrs_client", seed=2, cores=1, **SAMPLER)
    return loo.loo_interaction(strong, outcome="imrs_client", with_fit=with_fit, seed=2,
                               cores=1, **SAMPLER), with_fit


def test_reduced_model_has_no_interaction(strong):
    fit = loo.fit_without_interaction(strong, outcome="imrs_client", seed=2, cores=1,
                                      **SAMPLER)
    terms = list(fit.idata["posterior"]["beta"]["term"].values)
    assert terms == ["intercept", "time", "condition"]
    assert fit.analysis == "itt_no_interaction"
    assert "log_likelihood" in fit.idata.children


def test_table_structure(result):
    comp, _ = result
    assert list(comp.table.columns) == list(loo.TABLE_COLUMNS)
    assert set(comp.table["model"]) == {"with_interaction", "without_interaction"}
    assert comp.pointwise["participant"].nunique() == len(comp.pointwise) == 187


def test_planted_interaction_is_preferred(result):
    comp, _ = result
    assert comp.elpd_diff > 2 * comp.diff_se > 0
    best = comp.table.iloc[0]
    assert best["model"] == "with_interaction" and best["elpd_diff"] == 0
    other = comp.table.iloc[1]
    assert other["elpd_diff"] == pytest.approx(-comp.elpd_diff, rel=1e-9)
    assert other["diff_se"] == pytest.approx(comp.diff_se, rel=1e-6)
    d = (comp.pointwise["elpd_with"] - comp.pointwise["elpd_without"]).to_numpy()
    assert comp.elpd_diff == pytest.approx(d.sum())
    assert comp.diff_se == pytest.approx(np.sqrt(len(d) * np.var(d)))


def test_elpd_identities_by_hand(result):
    """p_loo = lppd - elpd_loo with lppd = sum_i log mean_s exp(ll_is) (Vehtari et al. 2017)."""
    comp, with_fit = result
    ll = with_fit.idata["log_likelihood"]["y"].to_numpy()
    ll = ll.reshape(-1, ll.shape[-1])
    lppd = float(np.sum(logsumexp(ll, axis=0) - np.log(ll.shape[0])))
    row = comp.table.set_index("model").loc["with_interaction"]
    assert row["p_loo"] == pytest.approx(lppd - row["elpd_loo"], rel=1e-6)
    assert row["elpd_loo"] < lppd
    k = comp.pointwise["k_with"].to_numpy()
    assert row["share_k_gt_0_7"] == pytest.approx(np.mean(k > 0.7))
    assert row["max_k"] == pytest.approx(k.max())
    assert row["n_points"] == 187


def test_summary_dict(result):
    comp, _ = result
    s = comp.summary()
    assert s["elpd_diff"] == comp.elpd_diff and 0 <= s["share_k_gt_0_7_with"] <= 1


def test_bad_input(strong, result):
    comp, with_fit = result
    with pytest.raises(ImrBayesError, match="analysis"):
        loo.fit_without_interaction(strong, analysis="fidelity")

    class Renamed:
        outcome = "sers_sf"
        analysis = "itt"
        idata = with_fit.idata

    with pytest.raises(ImrBayesError, match="different outcomes"):
        loo.compare_interaction(with_fit, Renamed())
