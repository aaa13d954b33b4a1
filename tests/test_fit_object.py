"""``BayesianFit`` as a brms/bambi-like object: repr, summary, plot, pp_check, save/load, LOO-PIT.

Tiny seeded fits on the default twin (2 chains x 200 draws after 200 tuning, the run's
``QUICK_SAMPLING``), shared per session. References: NumPy quantiles and the input data
frame (summary, pp_check), the fit's own diagnostics (summary's R-hat and ESS), the saved
fit (load), scipy's Kolmogorov-Smirnov test against the uniform (LOO-PIT), and the full
engine's per-participant log-likelihood (the per-observation one).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import imr_bayes
from imr_bayes import BayesianFit
from imr_bayes.bayes.io import load_tree, save_tree
from imr_bayes.constants import ARMS, TIMES
from imr_bayes.data import default_twin
from imr_bayes.errors import ImrBayesError
from imr_bayes.reanalysis import QUICK_SAMPLING

#: LOO-PIT of a correct model: the KS test against U(0, 1) must not reject at this level
#: (lenient: the twin's scores sit on a discrete scale grid, the predictive is continuous).
PIT_UNIFORM_P = 0.01
#: LOO-PIT of a wrong model must be rejected with a p-value below this.
PIT_WRONG_P = 1e-6


@pytest.fixture(scope="session")
def twin() -> pd.DataFrame:
    return default_twin()


@pytest.fixture(scope="session")
def itt(twin):
    return imr_bayes.fit(twin, outcome="imrs_client", analysis="itt", seed=3,
                         posterior_predictive=True, **QUICK_SAMPLING)


@pytest.fixture(scope="session")
def hosp(twin):
    return imr_bayes.fit(twin, analysis="hospitalization", seed=4, **QUICK_SAMPLING)


def test_fit_is_public_and_dir_is_tidy():
    names = dir(imr_bayes)
    assert {"fit", "fit_formula", "BayesianFit", "compare", "reanalyze"} <= set(names)
    assert not [n for n in names if n.startswith("_") and n != "__version__"]
    assert "importlib" not in names and "Any" not in names


def test_repr_is_one_short_line_and_html_shows_the_verdict(itt):
    text = repr(itt)
    row = itt.estimates.row("condition_x_time")
    assert "\n" not in text and len(text) < 250
    assert f"{row['estimate']:.3g}" in text and "diagnostics" in text
    page = itt._repr_html_()
    assert len(page) < 4000
    for needle in ("itt", "imrs_client", "2 chains x 200 draws after 200 tuning", "95 % ETI",
                   "P(benefit)", f"{row['p_benefit']:.3f}", f"{row['ci_low']:.4g} to",
                   "passed" if itt.diagnostics.passed else "FAILED"):
        assert needle in page, needle
    for _, r in itt.estimates.table.iterrows():  # treatment estimands only
        if r["estimand"] in ("arm_time_mean", "cohens_d", "sigma_residual"):
            assert f">{r['estimand']}" not in page


def test_summary_matches_the_draws_and_the_diagnostics(itt):
    table = itt.summary()
    assert list(table.columns) == ["kind", "mean", "sd", "eti95_lb", "eti95_ub", "ess_bulk",
                                   "ess_tail", "r_hat", "mcse_mean", "mcse_sd"]
    estimands = table[table["kind"] == "estimand"]
    assert list(estimands.index) == ["condition_x_time", "difference[0]", "difference[1]",
                                     "difference[2]"]
    for label, estimand, time in (("condition_x_time", "condition_x_time", None),
                                  ("difference[2]", "difference", 2)):
        draws = itt.estimates.draws_of(itt.estimates.row(estimand, time=time))
        lo, hi = np.quantile(draws, [0.025, 0.975])  # NumPy's quantiles: the reference
        np.testing.assert_allclose(estimands.loc[label, ["mean", "sd", "eti95_lb", "eti95_ub"]]
                                   .to_numpy(float), [draws.mean(), draws.std(ddof=1), lo, hi],
                                   rtol=1e-10)
    params = table[table["kind"] == "parameter"]
    diag = itt.diagnostics.table.set_index("parameter")
    assert list(params.index) == list(diag.index)  # every diagnosed parameter, no beta_std
    for col in ("r_hat", "ess_bulk", "ess_tail"):
        np.testing.assert_allclose(params[col].to_numpy(float), diag[col].to_numpy(float),
                                   rtol=1e-12)
    narrow = itt.summary(level=0.5)
    assert {"eti50_lb", "eti50_ub"} <= set(narrow.columns)
    assert (narrow["eti50_ub"] - narrow["eti50_lb"] < table["eti95_ub"] - table["eti95_lb"]).all()
    with pytest.raises(ImrBayesError, match=r"level must be a probability in \(0, 1\); got 95"):
        itt.summary(level=95)


def test_summary_of_a_non_lmm_fit(hosp):
    table = hosp.summary()
    assert table.loc["odds_ratio", "kind"] == "estimand"
    assert table.loc["odds_ratio", "mean"] == pytest.approx(
        hosp.estimates.row("odds_ratio")["estimate"], rel=1e-12)
    assert set(table[table["kind"] == "parameter"].index) == {
        "intercept", "log_odds_ratio", "log_odds_ratio_hosp_before"}


def test_plot_draws_the_sampled_parameters(itt):
    import matplotlib.pyplot as plt
    from arviz_plots import PlotCollection

    for kind in ("trace", "rank"):
        pc = itt.plot(kind)
        assert isinstance(pc, PlotCollection)
        assert set(pc.viz["plot"].data_vars) == set(itt.diagnostics.var_names)  # no beta_std
    pc = itt.plot("rank", var_names=["sigma_residual"])
    assert set(pc.viz["plot"].data_vars) == {"sigma_residual"}
    plt.close("all")
    with pytest.raises(ImrBayesError, match=r"unknown plot kind 'forest'.*trace, rank"):
        itt.plot("forest")
    with pytest.raises(ImrBayesError, match=r"unknown posterior variable 'betta'.*'beta'"):
        itt.plot(var_names=["betta"])


def test_pp_check_replicates_only_the_observed_cells(itt, twin):
    tree = itt.pp_check_data(num_samples=20)
    pp, obs = tree["posterior_predictive"], tree["observed_data"]
    total = 0
    for arm in ARMS:
        for t in TIMES:
            name = f"{arm}_t{t}"
            cell = twin[(twin["arm"] == arm) & (twin["time"] == t)]["imrs_client"].dropna()
            np.testing.assert_allclose(np.sort(obs[name].values), np.sort(cell.to_numpy()))
            assert pp[name].shape == (1, 20, len(cell))
            assert np.isfinite(pp[name].values).all()
            total += len(cell)
    assert total == int(twin["imrs_client"].notna().sum()) == itt.idata.attrs["n_rows"]
    assert total < len(twin)  # the 561-cell grid is not what is compared
    again = itt.pp_check_data(num_samples=20)
    np.testing.assert_array_equal(again["posterior_predictive"]["imr_t2"].values,
                                  pp["imr_t2"].values)  # seeded


def test_pp_check_draws_and_refuses_what_it_cannot(itt, hosp):
    import matplotlib.pyplot as plt
    from arviz_plots import PlotCollection

    for kind in ("dist", "ecdf", "loo_pit"):
        assert isinstance(itt.pp_check(kind=kind, num_samples=10), PlotCollection)
    plt.close("all")
    with pytest.raises(ImrBayesError, match=r"unknown pp_check kind 'dens'.*dist, ecdf"):
        itt.pp_check(kind="dens")
    with pytest.raises(ImrBayesError, match=r"'hospitalization' is model: logistic"):
        hosp.pp_check()
    with pytest.raises(ImrBayesError, match="posterior_predictive=True"):
        hosp.pp_check(kind="loo_pit")


@pytest.mark.parametrize("name", ["itt", "hosp"])
def test_load_restores_estimates_diagnostics_spec_and_idata(name, itt, hosp, tmp_path):
    fit = {"itt": itt, "hosp": hosp}[name]
    back = BayesianFit.load(fit.save(tmp_path / "fit.nc"))
    pd.testing.assert_frame_equal(back.estimates.table, fit.estimates.table)
    assert back.estimates.draws.keys() == fit.estimates.draws.keys()
    for key, draws in fit.estimates.draws.items():
        np.testing.assert_array_equal(back.estimates.draws[key], draws)
    assert back.diagnostics.summary() == fit.diagnostics.summary()
    assert back.diagnostics.problems == fit.diagnostics.problems
    pd.testing.assert_frame_equal(back.diagnostics.table, fit.diagnostics.table)
    assert back.spec == fit.spec and back.diagnostics.thresholds == fit.spec.diagnostics
    assert (back.analysis, back.outcome) == (fit.analysis, fit.outcome)
    assert back.idata.identical(fit.idata)
    assert repr(back) == repr(fit)
    pd.testing.assert_frame_equal(back.summary(), fit.summary())


def test_load_refuses_bare_trees_and_missing_files(itt, tmp_path):
    bare = save_tree(itt.idata, tmp_path / "bare.nc")
    with pytest.raises(ImrBayesError, match="not written by BayesianFit.save.*load_tree"):
        BayesianFit.load(bare)
    with pytest.raises(ImrBayesError, match="fit file not found"):
        BayesianFit.load(tmp_path / "nope.nc")
    assert "estimates" in load_tree(itt.save(tmp_path / "fit.nc")).children


# ------------------------------------------------------------------------------- LOO-PIT

def test_per_observation_groups_line_up(itt):
    tree = itt.idata
    mask = tree["constant_data"]["mask"].values > 0
    cells = tree["observed_data"]["y_cell"]
    assert cells.dims == ("cell",) and cells.size == int(mask.sum())
    p = [list(tree["observed_data"]["participant"].values).index(x)
         for x in cells["cell_participant"].values]
    t = cells["cell_time"].values
    np.testing.assert_array_equal(cells.values, tree["observed_data"]["y"].values[p, t])
    np.testing.assert_array_equal(tree["posterior_predictive"]["y_cell"].values,
                                  tree["posterior_predictive"]["y"].values[:, :, p, t])
    assert tree["log_likelihood"]["y_cell"].dims == ("chain", "draw", "cell")
    assert tree["log_likelihood"]["y"].dims == ("chain", "draw", "participant")


def test_cell_log_likelihood_sums_to_the_block_given_the_same_participant_effect(twin):
    """Full engine: u_i is sampled, so both densities condition on it and must agree."""
    fit = imr_bayes.fit(twin, outcome="imrs_client", analysis="itt", engine="full", seed=5,
                        draws=50, tune=50, chains=1, posterior_predictive=True)
    ll = fit.idata["log_likelihood"]
    summed = ll["y_cell"].groupby(ll["cell_participant"]).sum()
    block = ll["y"].sel(participant=summed["cell_participant"].values)
    np.testing.assert_allclose(summed.values, block.values, rtol=1e-12, atol=1e-10)


def _loo_pit(tree) -> np.ndarray:
    import arviz_stats

    return np.asarray(arviz_stats.loo_pit(tree, var_names="y_cell")["y_cell"].values)


def test_loo_pit_is_uniform_for_the_right_model_and_flags_wrong_ones(twin):
    right = imr_bayes.fit(twin, outcome="sfs", seed=8, posterior_predictive=True,
                          **QUICK_SAMPLING)
    pit = _loo_pit(right.idata)
    assert pit.size == right.idata.attrs["n_rows"]
    assert ((pit >= 0) & (pit <= 1)).all()
    assert stats.kstest(pit, "uniform").pvalue > PIT_UNIFORM_P  # measured: D 0.029, p 0.77

    # The ITT model fitted to the outcome times 3 (SFS has no fixed scale range), its
    # replicates and leave-one-out weights checked against the real scores.
    wrong = imr_bayes.fit(twin.assign(sfs=3 * twin["sfs"]), outcome="sfs", seed=8,
                          posterior_predictive=True, **QUICK_SAMPLING)
    tree = wrong.idata.copy()
    tree["observed_data"] = right.idata["observed_data"].to_dataset()
    assert stats.kstest(_loo_pit(tree), "uniform").pvalue < PIT_WRONG_P  # measured: D 1.0

    # Subtler: replicates half as dispersed as the model's (too narrow a predictive).
    pp = right.idata["posterior_predictive"].to_dataset()
    centre = pp["y_cell"].mean(("chain", "draw"))
    narrow = right.idata.copy()
    narrow["posterior_predictive"] = pp.assign(y_cell=centre + 0.5 * (pp["y_cell"] - centre))
    assert stats.kstest(_loo_pit(narrow), "uniform").pvalue < PIT_WRONG_P  # measured: D 0.15


def test_a_formula_fit_round_trips_with_its_own_thresholds(tmp_path):
    from imr_bayes.spec import DiagnosticsSpec

    rng = np.random.default_rng(2)
    g = np.repeat(np.arange(8), 6)
    x = rng.normal(size=g.size)
    data = pd.DataFrame({"y": 1 + 0.5 * x + rng.normal(0, 0.3, 8)[g]
                         + rng.normal(0, 0.5, g.size), "x": x, "g": g.astype(str)})
    thresholds = DiagnosticsSpec(r_hat_max=1.05, ess_bulk_min=10, ess_tail_min=10)
    fit = imr_bayes.fit_formula("y ~ x + (1 | g)", data, seed=1, draws=30, tune=30, chains=2,
                                backend="pyfunc", thresholds=thresholds)
    back = BayesianFit.load(fit.save(tmp_path / "formula.nc"))
    assert back.spec is None and back.diagnostics.thresholds == thresholds
    pd.testing.assert_frame_equal(back.estimates.table, fit.estimates.table)
    pd.testing.assert_frame_equal(back.diagnostics.table, fit.diagnostics.table)
    table = back.summary()
    assert set(table["kind"]) == {"parameter"} and {"Intercept", "x"} <= set(table.index)
    assert "Intercept" in back._repr_html_()
