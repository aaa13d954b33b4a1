"""Posterior predictive checks: replication, the paper's estimators, published-statistic checks.

No MCMC here: fits are normal approximations at the frequentist REML fit of the default twin
(``fixtures_ppc.synthetic_fit``). The estimators are checked against the frequentist LMM
(``fit_lmm``, itself validated against lme4 on real data), the coverage against the printed
Tables 2 and 3.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from fixtures_ppc import synthetic_fidelity_fit, synthetic_fit

from imr_bayes import ppc, published
from imr_bayes.data import default_twin
from imr_bayes.errors import ImrBayesError
from imr_bayes.frequentist import fit_lmm, marginal_means
from imr_bayes.outcomes import CODES
from imr_bayes.spec import load_analysis


@pytest.fixture(scope="session")
def twin():
    return default_twin()


@pytest.fixture(scope="session")
def fits(twin):
    return {o: synthetic_fit(twin, o) for o in CODES}


@pytest.fixture(scope="session")
def checks(fits):
    return pd.concat([ppc.published_checks(f) for f in fits.values()], ignore_index=True)


def _panel_frame(fit):
    """Observed cells of a fit's panel as contract-shaped long data."""
    const = fit.idata["constant_data"]
    y = fit.idata["observed_data"]["y"].to_numpy()
    p, t = np.nonzero(np.isfinite(y))
    return pd.DataFrame({"participant_id": [f"p{k}" for k in p],
                         "arm": np.where(const["treated"].to_numpy()[p] > 0, "imr", "cau"),
                         "time": t, fit.outcome: y[p, t]})


@pytest.mark.parametrize("outcome", ["imrs_client", "cses", "ismi"])
def test_estimators_equal_the_frequentist_lmm_on_observed_data(fits, twin, outcome):
    """GLS at the REML variance ratio = REML fixed effects; means, diffs and d = emm.py."""
    fit = fits[outcome]
    y = np.where(fit.idata["constant_data"]["mask"].to_numpy() > 0,
                 fit.idata["observed_data"]["y"].to_numpy(), np.nan)
    treated = fit.idata["constant_data"]["treated"].to_numpy()
    stats = ppc.table_statistics(y[None], treated, outcome,
                                 b_terms=("time", "condition", "condition_x_time"))
    ref = fit_lmm(twin, outcome)
    b = ref.coefficients.set_index("term").loc["condition_x_time", "b"]
    assert stats[("condition_x_time", None, None)][0] == pytest.approx(b, rel=1e-6, abs=1e-9)
    mm = marginal_means(twin, outcome)
    for _, r in mm.iterrows():
        t = int(r["time"])
        assert stats[("mean", r["arm"], t)][0] == pytest.approx(r["mean"], rel=1e-6)
        if r["arm"] == "imr":
            assert stats[("difference", None, t)][0] == pytest.approx(r["diff"], rel=1e-5,
                                                                      abs=1e-8)
            assert stats[("cohens_d", None, t)][0] == pytest.approx(r["d"], rel=1e-5,
                                                                    abs=1e-8)


@pytest.mark.parametrize("outcome", ["sers_sf", "asi"])
def test_fixed_variance_gls_is_close_to_refitting_the_lmm(fits, outcome):
    """The approximation: on replicated data, GLS at the observed-data variance ratio stays
    within 6 % of a standard error of a full REML refit, 1.5 % on average (measured on 30
    replicates of 4 outcomes: max 5.0 %, mean 0.5-0.8 %; docs/ppc.md)."""
    fit = fits[outcome]
    reps = ppc.replicate(fit, draws=6, seed=3)
    treated = fit.idata["constant_data"]["treated"].to_numpy()
    y_obs = np.where(fit.idata["constant_data"]["mask"].to_numpy() > 0,
                     fit.idata["observed_data"]["y"].to_numpy(), np.nan)
    terms = ("time", "condition", "condition_x_time")
    ratios = {c: ppc._variance_ratio(y_obs, treated, outcome, c, terms)
              for c in ("categorical", "linear")}
    fast = ppc.table_statistics(reps, treated, outcome, b_terms=terms, ratios=ratios)
    z_b, z_mean = [], []
    for k in range(len(reps)):
        frame = _panel_frame(SimpleFit(fit, reps[k]))
        row = fit_lmm(frame, outcome).coefficients.set_index("term").loc["condition_x_time"]
        z_b.append(abs(fast[("condition_x_time", None, None)][k] - row["b"]) / row["se"])
        cat = fit_lmm(frame, outcome, time="categorical")
        est, se, _ = cat.linear_combination(np.array([1.0, 0, 1, 1, 0, 1]))  # IMR at 18 m
        z_mean.append(abs(fast[("mean", "imr", 2)][k] - est) / se)
    assert max(z_b) < 0.06 and np.mean(z_b) < 0.015
    assert max(z_mean) < 0.06 and np.mean(z_mean) < 0.015


class SimpleFit:
    """A fit view with other observed values (same cells)."""

    def __init__(self, fit, y):
        self.analysis, self.outcome, self.spec = fit.analysis, fit.outcome, fit.spec
        self.idata = fit.idata.copy()
        self.idata["observed_data"] = self.idata["observed_data"].to_dataset().assign(
            y=(("participant", "time"), y))


def test_published_checks_cover_every_printed_table3_statistic(checks):
    assert list(checks.columns) == list(ppc.CHECK_COLUMNS)
    t3 = checks[checks["statistic"] != "condition_x_time"]
    counts = t3.groupby(["outcome", "statistic"]).size().unstack()
    assert sorted(counts.index) == sorted(CODES)
    assert (counts["mean"] == 6).all()
    assert (counts["difference"] == 3).all() and (counts["cohens_d"] == 3).all()
    assert len(t3) == 12 * (6 + 3 + 3)
    # Table 2: a B row exactly where the paper's final model kept condition x time
    fe = published.fixed_effects("itt")
    kept = set(fe[(fe["term"] == "condition_x_time") & fe["in_final_model"]]["outcome"])
    b_rows = checks[checks["statistic"] == "condition_x_time"]
    assert set(b_rows["outcome"]) == kept and len(b_rows) == len(kept)
    # published values are the printed ones
    mm = published.marginal_means("itt")
    cell = mm[(mm["outcome"] == "cses") & (mm["arm"] == "imr") & (mm["time"] == 1)].iloc[0]
    row = checks[(checks["outcome"] == "cses") & (checks["statistic"] == "difference")
                 & (checks["time"] == 1)].iloc[0]
    assert row["published"] == cell["diff"] == 15.10


def test_percentile_and_flag_are_consistent(checks):
    assert checks["percentile"].between(0, 1).all()
    tail = (1 - 0.95) / 2
    expected = (checks["percentile"] < tail) | (checks["percentile"] > 1 - tail)
    assert (checks["flagged"] == expected).all()
    assert (checks["ppc_low"] <= checks["ppc_high"]).all()
    assert np.allclose(checks["p_value"], 2 * np.minimum(checks["percentile"],
                                                         1 - checks["percentile"]))


def test_position_is_mid_rank_percentile():
    rep = np.arange(1, 101, dtype=float)  # hand-computed: 1..95 lie below 95.5
    assert ppc._position(rep, 95.5) == pytest.approx((0.95, 0.10))
    assert ppc._position(rep, 50.0) == pytest.approx((0.495, 0.99))  # 49 below + half a tie
    summ = ppc._summary(rep, 98.5, 0.95)
    assert summ["flagged"] and summ["percentile"] == pytest.approx(0.98)
    assert summ["ppc_low"] == pytest.approx(np.quantile(rep, 0.025))


def test_planted_discrepancy_is_flagged(fits):
    """Shift the replicated world by 1 SD at 18 months in IMR: the printed 18-month mean
    must then fall below its predictive interval."""
    fit = fits["imrs_client"]
    post = fit.idata["posterior"].to_dataset()
    shifted = post.copy()
    shifted["beta_std"] = post["beta_std"] + xr_shift(post)
    view = SimpleFit(fit, fit.idata["observed_data"]["y"].to_numpy())
    view.idata["posterior"] = shifted
    assert view.spec.name == "itt_parity"
    out = ppc.published_checks(view)
    row = out[(out["statistic"] == "mean") & (out["arm"] == "imr") & (out["time"] == 2)]
    assert bool(row["flagged"].iloc[0]) and row["percentile"].iloc[0] < 0.025


def xr_shift(post):
    """+0.5 SD per time step on the condition x time slope (1 SD at 18 months)."""
    return (post["term"] == "condition_x_time") * 0.5


def test_replicates_keep_missingness_and_seed(fits):
    fit = fits["bsi"]
    mask = fit.idata["constant_data"]["mask"].to_numpy() > 0
    a = ppc.replicate(fit, draws=20, seed=5)
    assert a.shape == (20, *mask.shape)
    assert np.array_equal(np.isfinite(a), np.broadcast_to(mask, a.shape))
    assert np.array_equal(a, ppc.replicate(fit, draws=20, seed=5), equal_nan=True)
    assert not np.allclose(np.nan_to_num(a), np.nan_to_num(ppc.replicate(fit, draws=20,
                                                                          seed=6)))
    cond = ppc.replicate(fit, draws=20, seed=5, participants="conditional")
    assert np.array_equal(np.isfinite(cond), np.isfinite(a))
    # conditional replicates track the observed participants more closely than new ones
    y = np.where(mask, fit.idata["observed_data"]["y"].to_numpy(), np.nan)
    err = {m: np.nanmean((r - y[None]) ** 2) for m, r in (("new", a), ("cond", cond))}
    assert err["cond"] < err["new"]


def test_data_checks_report_bounds(fits):
    out = ppc.data_checks(fits["asi"], draws=200)
    assert list(out.columns) == list(ppc.DATA_CHECK_COLUMNS)
    assert set(out["statistic"]) == set(ppc.DATA_STATISTICS)
    assert len(out) == 2 * 3 * len(ppc.DATA_STATISTICS)
    rng = out[out["statistic"] == "outside_range"]
    assert (rng["observed"] == 0).all()  # the data respect the 0-4 scale
    # a normal model of a 0-4 item with many zeros puts mass below 0
    assert (rng["ppc_mean"] > 0).all()
    sfs = ppc.data_checks(fits["sfs"], draws=50)  # no known range
    assert sfs[sfs["statistic"] == "outside_range"]["observed"].isna().all()


def test_published_sample_is_read_from_the_spec():
    from imr_bayes import registry

    want = {"itt": "itt", "itt_categorical": "itt", "itt_parity": "itt",
            "itt_categorical_parity": "itt", "completers": "completers",
            "completers_categorical": "completers", "fidelity": "fidelity"}
    for name, spec in registry.analyses().items():
        got = ppc.published_sample(SimpleNamespace(analysis=name, spec=spec))
        assert got == want.get(name), name


@pytest.mark.parametrize("analysis", ["cace", "fidelity_dose", "attendance_dose"])
def test_other_analyses_have_no_published_counterpart(fits, analysis):
    view = SimpleFit(fits["sers_sf"], fits["sers_sf"].idata["observed_data"]["y"].to_numpy())
    view.analysis, view.spec = analysis, load_analysis(analysis)
    out = ppc.published_checks(view)
    assert out.empty and list(out.columns) == list(ppc.CHECK_COLUMNS)


@pytest.mark.parametrize("outcome", ["imrs_client", "sers_sf"])
def test_fidelity_checks_cover_table_4_or_5(twin, outcome):
    """The 9 printed coefficients; on the fitted data they equal fidelity_analysis."""
    from imr_bayes.frequentist import fidelity_analysis

    fit = synthetic_fidelity_fit(twin, outcome)
    out = ppc.published_checks(fit, draws=200)
    printed = published.fidelity_effects(outcome).set_index("term")
    assert sorted(out["statistic"]) == sorted(printed.index)
    ref = fidelity_analysis(twin, outcome=outcome).coefficients.set_index("term")["b"]
    got = out.set_index("statistic")
    assert np.allclose(got["observed"], ref.reindex(got.index), rtol=1e-6, atol=1e-8)
    assert (got["published"] == printed["b"].reindex(got.index)).all()
    # group effects without a group index (current fidelity fits) cannot be replicated
    tree = fit.idata.copy()
    tree["constant_data"] = tree["constant_data"].to_dataset().drop_vars("group_index")
    tree["posterior"] = tree["posterior"].to_dataset().assign(
        group_effect=(("chain", "draw", "group"), np.zeros((2, 200, 3))))
    fit.idata = tree
    assert ppc.published_checks(fit).empty


def test_bad_arguments(fits):
    with pytest.raises(ImrBayesError, match="participants mode"):
        ppc.replicate(fits["bsi"], participants="old")
    with pytest.raises(ImrBayesError, match="draws"):
        ppc.replicate(fits["bsi"], draws=0)
    with pytest.raises(ImrBayesError, match="level"):
        ppc.published_checks(fits["bsi"], level=95)


def test_plot_published_checks(checks):
    import matplotlib.pyplot as plt

    fig = ppc.plot_published_checks(checks[checks["outcome"] == "imrs_client"])
    assert len(fig.axes[0].collections) >= 1
    plt.close(fig)
    with pytest.raises(ImrBayesError):
        ppc.plot_published_checks(checks.iloc[:0])


def test_plot_data_checks_draws_one_panel_per_arm_and_time(fits):
    import matplotlib.pyplot as plt

    t = ppc.predictive_tree(fits["imrs_client"], draws=20, seed=1)
    pp = t["posterior_predictive"]
    assert sorted(pp.data_vars) == sorted(f"{a}_t{k}" for a in ("imr", "cau") for k in (0, 1, 2))
    n_obs = int(fits["imrs_client"].idata["constant_data"]["mask"].sum())
    assert sum(pp[v].shape[-1] for v in pp.data_vars) == n_obs
    fig = ppc.plot_data_checks(t)
    assert sum(ax.has_data() for ax in fig.axes) == 6
    plt.close(fig)


def test_real_fidelity_fit_gets_table_5_checks(twin):
    """A fitted `fidelity` analysis carries its group index, so Table 5's 9 checks run."""
    import imr_bayes

    fit = imr_bayes.fit(twin, outcome="sers_sf", analysis="fidelity",
                        draws=100, tune=100, chains=1, seed=1)
    out = ppc.published_checks(fit, draws=100)
    printed = published.fidelity_effects("sers_sf").set_index("term")
    assert sorted(out["statistic"]) == sorted(printed.index)
    got = out.set_index("statistic")
    assert (got["published"] == printed["b"].reindex(got.index)).all()
    assert (got["ppc_low"] < got["ppc_high"]).all()
