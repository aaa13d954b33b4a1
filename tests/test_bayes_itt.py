"""ITT fits: panel structure (no sampling), one shared tiny fit, seeding, save/load, errors.

The tiny fits here check structure and bookkeeping, not convergence (few draws); the
done-when checks on the default twin are in ``test_bayes_twin.py`` (slow tier). The tiny fit
is of the default ``itt`` analysis (the partially nested model); the panel tests of the
group shift are of the SPSS-parity model (``itt_parity``); the partially nested structure is
tested in ``test_bayes_pn.py``.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from fixtures_bayes import simulate_itt

import imr_bayes
from imr_bayes import SpecError
from imr_bayes.bayes import itt
from imr_bayes.bayes.io import load_tree
from imr_bayes.errors import DataValidationError
from imr_bayes.spec import load_analysis

TINY = {"draws": 200, "tune": 200, "chains": 2}


@pytest.fixture(scope="session")
def sim():
    return simulate_itt(seed=11, cxt_d=0.3)


@pytest.fixture(scope="session")
def tiny_fit(sim):
    return imr_bayes.fit(sim, outcome="imrs_client", seed=7, posterior_predictive=True, **TINY)


def test_panel_drops_missing_rows_and_nests_groups_in_treated_followups(sim):
    panel = itt.make_panel(sim, "imrs_client", load_analysis("itt_parity"))
    assert panel.n_rows == int(sim["imrs_client"].notna().sum())
    controls = panel.treated == 0
    assert panel.group_on[controls].sum() == 0              # controls never get a group
    assert panel.group_on[:, 0].sum() == 0                  # nobody at baseline
    assert panel.group_on[~controls, 1:].all()               # every treated follow-up
    assert len(panel.groups) == 15
    # Standardization: pooled Table 1 baseline SD of the IMRS client (0.5 in both arms).
    assert panel.scale == pytest.approx(0.5)


def test_parity_model_gives_a_treated_participant_without_group_no_group_effect(sim):
    data = sim.copy()
    data.loc[data["participant_id"] == "P000", "imr_group"] = pd.NA
    panel = itt.make_panel(data, "imrs_client", load_analysis("itt_parity"))
    k = list(panel.participants).index("P000")
    assert panel.treated[k] == 1 and panel.group_on[k].sum() == 0
    assert panel.group_on.sum() == itt.make_panel(sim, "imrs_client", load_analysis(
        "itt_parity")).group_on.sum() - panel.mask.shape[1] + 1  # two follow-ups fewer


def test_categorical_design_has_cell_dummies(sim):
    panel = itt.make_panel(sim, "imrs_client", load_analysis("itt_categorical"))
    x = dict(zip(panel.terms, np.moveaxis(panel.X, -1, 0), strict=True))
    k = int(np.argmax(panel.treated))
    np.testing.assert_array_equal(x["condition_x_time_2"][k], [0, 0, 1])
    np.testing.assert_array_equal(x["time_1"][k], [0, 1, 0])


def test_panel_errors_name_the_problem(sim):
    spec = load_analysis("itt")
    with pytest.raises(DataValidationError, match="missing column 'imrs_client'"):
        itt.make_panel(sim.drop(columns="imrs_client"), "imrs_client", spec)
    bad = sim.assign(arm=sim["arm"].replace({"cau": "control"}))
    with pytest.raises(DataValidationError, match="control"):
        itt.make_panel(bad, "imrs_client", spec)
    with pytest.raises(DataValidationError, match=r"time values \[3\]"):
        itt.make_panel(sim.assign(time=sim["time"].replace({2: 3})), "imrs_client", spec)


def test_fit_returns_complete_datatree(tiny_fit, sim):
    tree = tiny_fit.idata
    for group in ("posterior", "sample_stats", "log_likelihood", "observed_data",
                  "constant_data", "posterior_predictive"):
        assert group in tree.children, group
    attrs = tree.attrs
    for key in ("spec_hash", "data_hash", "seed", "versions", "analysis", "outcome"):
        assert key in attrs
    assert attrs["seed"] == 7 and "pymc" in json.loads(attrs["versions"])
    post = tree["posterior"]
    assert post.sizes["chain"] == 2 and post.sizes["draw"] == 200
    assert list(post["beta"].coords["term"].values) == [
        "intercept", "time", "condition", "condition_x_time"]
    # One log-likelihood block per participant with data.
    assert tree["log_likelihood"]["y"].shape == (2, 200, 187)
    # Posterior predictive covers the full grid, observed cells and missing ones.
    yrep = tree["posterior_predictive"]["y"]
    assert yrep.shape == (2, 200, 187, 3) and np.isfinite(yrep.values).all()


def test_estimates_have_raw_and_standardized_effect(tiny_fit):
    est = tiny_fit.estimates
    raw, d = est.row("condition_x_time"), est.row("condition_x_time_d")
    assert d["estimate"] == pytest.approx(raw["estimate"] / 0.5)
    assert raw["ci_low"] < raw["estimate"] < raw["ci_high"] and raw["ci_level"] == 0.95
    assert 0.5 <= raw["p_direction"] <= 1 and raw["p_benefit"] == raw["p_direction"]
    assert raw["n_rows"] == tiny_fit.idata.attrs["n_rows"]
    assert (raw["source"], raw["analysis"], raw["outcome"], raw["scale"]) == (
        "posterior", "itt", "imrs_client", "raw")
    assert d["scale"] == "d"
    # The draws behind a row are the posterior's: its summary is their mean.
    assert est.draws_of(raw).mean() == pytest.approx(raw["estimate"])
    np.testing.assert_allclose(
        est.draws_of(raw),
        tiny_fit.idata["posterior"]["beta"].sel(term="condition_x_time").values.ravel())


def test_legacy_effects_warn_and_equal_the_estimates_renamed(tiny_fit):
    with pytest.warns(DeprecationWarning, match="use BayesianFit.estimates.table"):
        eff = tiny_fit.effects
    table = tiny_fit.estimates.table
    assert list(eff["estimand"]) == list(table["estimand"])
    for old, new in (("mean", "estimate"), ("eti95_low", "ci_low"),
                     ("eti95_high", "ci_high"), ("p_benefit", "p_benefit")):
        np.testing.assert_array_equal(eff[old].to_numpy(), table[new].to_numpy())


def test_cohens_d_divides_by_observed_pooled_sd_at_that_time(tiny_fit, sim):
    est = tiny_fit.estimates
    t2 = sim[sim["time"] == 2].dropna(subset=["imrs_client"])
    g = t2.groupby("arm")["imrs_client"]
    n, var = g.count(), g.var(ddof=1)
    sd = np.sqrt(((n - 1) * var).sum() / (n - 1).sum())  # hand-computed pooled SD
    diff = est.row("difference", time=2)["estimate"]
    d = est.row("cohens_d", time=2)["estimate"]
    assert d == pytest.approx(diff / sd, rel=1e-9)


def test_planted_effect_inside_interval(tiny_fit):
    # simulate_itt planted condition x time = 0.3 SD per step; 95 % ETI must cover it.
    d = tiny_fit.estimates.row("condition_x_time_d")
    assert d["ci_low"] < 0.3 < d["ci_high"]


def test_diagnostics_are_reported(tiny_fit):
    diag = tiny_fit.diagnostics
    assert {"r_hat", "ess_bulk", "ess_tail", "mcse_mean"} <= set(diag.table.columns)
    assert "beta[condition_x_time]" in set(diag.table["parameter"])
    assert diag.passed == (not diag.problems)
    assert len(diag.bfmi) == 2


def test_same_seed_identical_draws_other_seed_not(sim, tiny_fit):
    again = imr_bayes.fit(sim, outcome="imrs_client", seed=7, **TINY)
    np.testing.assert_array_equal(again.idata["posterior"]["beta"].values,
                                  tiny_fit.idata["posterior"]["beta"].values)


def test_save_and_load_roundtrip(tiny_fit, tmp_path):
    path = tiny_fit.save(tmp_path / "fit.nc")
    back = load_tree(path)
    assert back.attrs["spec_hash"] == tiny_fit.idata.attrs["spec_hash"]
    np.testing.assert_array_equal(back["posterior"]["beta"].values,
                                  tiny_fit.idata["posterior"]["beta"].values)
    assert not list(tmp_path.glob(".*part"))


def test_bad_arguments_raise_spec_errors(sim):
    with pytest.raises(SpecError, match=r"unknown analysis 'it'.*Did you mean 'itt'"):
        imr_bayes.fit(sim, analysis="it")
    with pytest.raises(SpecError, match=r"unknown override.*'engin'.*Did you mean 'engine'"):
        imr_bayes.fit(sim, engin="full")
    with pytest.raises(SpecError, match=r"engine.*'fast'.*marginal"):
        imr_bayes.fit(sim, engine="fast")
    with pytest.raises(imr_bayes.ImrBayesError, match=r"unknown outcome 'imrs'"):
        imr_bayes.fit(sim, outcome="imrs")


def test_posterior_predictive_reproduces_observed_cell_means(tiny_fit, sim):
    # Replicated data on the observed cells must centre on the observed arm x time means:
    # within 4 SDs of the replicated mean's own spread across draws.
    tree = tiny_fit.idata
    mask = tree["constant_data"]["mask"].values > 0
    treated = tree["constant_data"]["treated"].values > 0
    yrep = tree["posterior_predictive"]["y"].values.reshape(-1, *mask.shape)
    y = tree["observed_data"]["y"].values
    for arm in (True, False):
        for t in range(3):
            cells = mask[:, t] & (treated == arm)
            rep_means = yrep[:, cells, t].mean(axis=1)
            assert abs(rep_means.mean() - y[cells, t].mean()) < 4 * rep_means.std()
