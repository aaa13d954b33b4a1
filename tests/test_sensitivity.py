"""Missing-data sensitivity: Rubin's rules, closed-form REML, delta adjustment, tipping points.

One small seeded ITT fit (random twin, primary outcome, 2 x 300 draws) is shared by the
session; everything else needs no sampling.
"""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import imr_bayes
from imr_bayes.cli import main
from imr_bayes.data import simulate_twin
from imr_bayes.errors import ImrBayesError
from imr_bayes.frequentist import fit_lmm
from imr_bayes.sensitivity import (
    complete_data_lmm,
    delta_adjust,
    plot_tipping_points,
    rubin_pool,
    simulate_mnar_twin,
    tipping_points,
)
from imr_bayes.sensitivity.tipping import ALREADY, NOT_REACHED, REACHED

OUTCOME = "imrs_client"


@pytest.fixture(scope="session")
def twin() -> pd.DataFrame:
    return simulate_twin(seed=11, mode="random")


@pytest.fixture(scope="session")
def itt_fit(twin):
    return imr_bayes.fit(twin, outcome=OUTCOME, seed=5, draws=300, tune=300, chains=2)


@pytest.fixture(scope="session")
def table_imr(itt_fit) -> pd.DataFrame:
    return delta_adjust(itt_fit, [0.0, 0.25, 0.5, 1.0, 2.0], arms="imr", n_imputations=10)


# --------------------------------------------------------------------------- Rubin's rules

def test_rubin_pool_hand_computed():
    # Hand computation (M = 3, complete-data df 10):
    # Qbar = 1.0; W = (0.04 + 0.05 + 0.03) / 3 = 0.04; B = (0 + 0.2^2 + 0.2^2) / 2 = 0.04
    # T = W + (1 + 1/3) B = 0.0933333; lambda = 0.0533333 / 0.0933333 = 0.5714286
    # riv = 0.0533333 / 0.04 = 1.3333333; nu_old = 2 / lambda^2 = 6.125
    # nu_obs = 11/13 * 10 * (1 - lambda) = 3.6263736; nu = 1 / (1/nu_old + 1/nu_obs) = 2.277784
    r = rubin_pool([1.0, 1.2, 0.8], [0.04, 0.05, 0.03], df_complete=10)
    assert r.estimate == pytest.approx(1.0)
    assert r.within == pytest.approx(0.04)
    assert r.between == pytest.approx(0.04)
    assert r.total == pytest.approx(0.0933333, rel=1e-6)
    assert r.se == pytest.approx(0.3055050, rel=1e-6)
    assert r.lambda_ == pytest.approx(0.5714286, rel=1e-6)
    assert r.riv == pytest.approx(1.3333333, rel=1e-6)
    assert r.df == pytest.approx(2.277784, rel=1e-5)
    assert r.t == pytest.approx(3.273268, rel=1e-6)
    assert r.p == pytest.approx(2 * stats.t.sf(3.273268, 2.277784), rel=1e-5)
    # large-sample (Rubin 1987) df: nu_old
    assert rubin_pool([1.0, 1.2, 0.8], [0.04, 0.05, 0.03]).df == pytest.approx(6.125)


def test_rubin_pool_without_between_variance_is_the_complete_data_test():
    r = rubin_pool([0.5, 0.5, 0.5], [0.04, 0.04, 0.04], df_complete=30)
    assert r.se == pytest.approx(0.2)
    assert r.df == pytest.approx(30)
    assert r.p == pytest.approx(2 * stats.t.sf(2.5, 30))


@pytest.mark.parametrize("est, var, msg", [
    ([1.0], [0.1], "at least 2"), ([1.0, 2.0], [0.1], "variances"),
    ([1.0, 2.0], [0.1, -0.1], ">= 0"),
])
def test_rubin_pool_rejects_bad_input(est, var, msg):
    with pytest.raises(ImrBayesError, match=msg):
        rubin_pool(est, var)


# ------------------------------------------------------------- closed-form complete-data REML

def _balanced(seed: int, sd_u: float) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    n_p, treated = 60, (np.arange(60) < 35).astype(float)
    t = np.array([0.0, 1.0, 2.0])
    y = (0.2 * t + 0.3 * treated[:, None] * t + rng.normal(0, sd_u, (n_p, 1))
         + rng.normal(0, 1, (n_p, 3)))
    X = np.stack([np.ones((n_p, 3)), np.tile(t, (n_p, 1)), np.repeat(treated[:, None], 3, 1),
                  treated[:, None] * t], axis=-1)
    long = pd.DataFrame({"participant_id": np.repeat([f"P{i:02d}" for i in range(n_p)], 3),
                         "arm": np.repeat(np.where(treated > 0, "imr", "cau"), 3),
                         "time": np.tile([0, 1, 2], n_p), OUTCOME: y.ravel()})
    return long, y, X


@pytest.mark.parametrize("seed, sd_u", [(1, 1.0), (2, 0.6)])
def test_complete_data_lmm_matches_fit_lmm(seed, sd_u):
    long, y, X = _balanced(seed, sd_u)
    ref = fit_lmm(long, OUTCOME).coefficients.set_index("term")
    got = complete_data_lmm(y, X)
    for k, term in enumerate(["intercept", "time", "condition", "condition_x_time"]):
        assert got.beta[0, k] == pytest.approx(ref.loc[term, "b"], abs=1e-6)
        assert np.sqrt(got.cov[0, k, k]) == pytest.approx(ref.loc[term, "se"], rel=1e-4)
    # Satterthwaite df of the within-participant term is exact: P (T - 1) - 2
    assert got.df[0] == 2 * 60 - 2
    assert ref.loc["condition_x_time", "df"] == pytest.approx(got.df[0], rel=1e-3)


def test_complete_data_lmm_boundary_pools_the_strata():
    # no participant variance and a between-participant sum of squares below its expectation
    long, y, X = _balanced(3, 0.0)
    rbar = (y - y.mean(axis=1, keepdims=True))
    y = y - 0.9 * (y.mean(axis=1, keepdims=True) - y.mean())  # shrink participant means
    del rbar
    got = complete_data_lmm(y, X)
    assert got.participant_var[0] == 0.0
    ols = np.linalg.lstsq(X.reshape(-1, 4), y.ravel(), rcond=None)
    resid_var = float(ols[1][0]) / (180 - 4)
    assert got.resid_var[0] == pytest.approx(resid_var)
    long[OUTCOME] = y.ravel()
    ref = fit_lmm(long, OUTCOME).coefficients.set_index("term")
    assert np.sqrt(got.cov[0, 3, 3]) == pytest.approx(ref.loc["condition_x_time", "se"],
                                                      rel=1e-3)


# ------------------------------------------------------------------------- delta adjustment

def test_delta_zero_reproduces_the_mar_posterior(itt_fit, table_imr):
    row = table_imr[table_imr["delta"] == 0].iloc[0]
    mar = itt_fit.idata["posterior"]["beta"].sel(term="condition_x_time").values.ravel()
    ess = float(itt_fit.diagnostics.table.set_index("parameter")
                .loc["beta[condition_x_time]", "ess_bulk"])
    mcse = mar.std(ddof=1) / np.sqrt(ess)
    # two samples of the same posterior: the difference of means has SD <= sqrt(2) MCSE
    assert abs(row["mean"] - mar.mean()) < 4 * np.sqrt(2) * mcse
    assert row["mar_mean"] == pytest.approx(mar.mean())
    lo, hi = np.quantile(mar, [0.025, 0.975])
    # MC SE of a 2.5 % quantile of a normal posterior: sd sqrt(p (1 - p) / ESS) / phi(z_p)
    ess_tail = float(itt_fit.diagnostics.table.set_index("parameter")
                     .loc["beta[condition_x_time]", "ess_tail"])
    q_mcse = mar.std(ddof=1) * np.sqrt(0.025 * 0.975 / ess_tail) / stats.norm.pdf(1.96)
    assert row["eti95_low"] == pytest.approx(lo, abs=4 * np.sqrt(2) * q_mcse)
    assert row["eti95_high"] == pytest.approx(hi, abs=4 * np.sqrt(2) * q_mcse)
    p = row["mar_p_benefit"]
    assert abs(row["p_benefit"] - p) < 4 * np.sqrt(2 * max(p * (1 - p), 0.01) / ess)


def test_delta_adjust_table_structure(table_imr):
    assert list(table_imr["delta"]) == [0.0, 0.25, 0.5, 1.0, 2.0]
    assert set(table_imr["estimand"]) == {"condition_x_time"}
    assert (table_imr["n_imputations"] == 10).all()
    assert (table_imr["n_draws"] == 600).all()
    assert (table_imr["beta_prior"] == "normal").all()
    assert np.allclose(table_imr["delta_raw"], table_imr["delta"] * table_imr["sd"])
    assert (table_imr["eti95_low"] < table_imr["mean"]).all()
    assert (table_imr["freq_ci_low"] < table_imr["freq_estimate"]).all()
    assert table_imr["freq_p"].between(0, 1).all()


def test_p_benefit_is_monotone_in_delta(table_imr):
    # shifting the IMR arm's missing follow-ups in the unfavourable direction can only
    # lower the benefit: P(benefit) and the effect fall, the pooled p rises while > 0
    assert np.all(np.diff(table_imr["p_benefit"]) <= 0)
    assert np.all(np.diff(table_imr["mean"]) < 0)
    assert np.all(np.diff(table_imr["freq_estimate"]) < 0)
    assert table_imr["p_benefit"].iloc[-1] < table_imr["p_benefit"].iloc[0]


@pytest.mark.parametrize("arms", ["imr", "both"])
def test_pooled_shift_equals_the_hand_derived_slope_change(itt_fit, twin, arms):
    # With complete balanced data the LMM's condition x time estimate is the difference of
    # the arms' OLS slopes, sum_i (y_i2 - y_i0) / (2 n_arm): shifting the missing
    # 18-month values by -delta SD moves it by -delta SD (m_imr2/n_imr - [m_cau2/n_cau]) / 2.
    # The 12-month shifts do not move it.
    tab = delta_adjust(itt_fit, [0.0, 1.0], arms=arms, n_imputations=4)
    obs = twin.pivot(index="participant_id", columns="time", values=OUTCOME)
    arm = twin.groupby("participant_id")["arm"].first().reindex(obs.index)
    miss2 = obs[2].isna()
    share = {a: miss2[arm == a].mean() for a in ("imr", "cau")}
    sd = tab["sd"].iloc[0]
    expected = -sd * (share["imr"] - (share["cau"] if arms == "both" else 0.0)) / 2
    got = tab["freq_estimate"].iloc[1] - tab["freq_estimate"].iloc[0]
    assert got == pytest.approx(expected, rel=1e-8)


def test_delta_adjust_same_seed_same_table(itt_fit):
    a = delta_adjust(itt_fit, [0.0, 0.5], n_imputations=3, seed=9)
    b = delta_adjust(itt_fit, [0.5, 0.0], n_imputations=3, seed=9)
    pd.testing.assert_frame_equal(a, b)


@pytest.mark.parametrize("kwargs, msg", [
    ({"arms": "imx"}, "Did you mean 'imr'"),
    ({"deltas": [-0.1]}, ">= 0"),
    ({"deltas": []}, "non-empty"),
    ({"n_imputations": 1}, ">= 2"),
    ({"n_imputations": 10_000}, "exceeds"),
])
def test_delta_adjust_rejects_bad_input(itt_fit, kwargs, msg):
    with pytest.raises(ImrBayesError, match=msg):
        delta_adjust(itt_fit, **kwargs)


def test_delta_adjust_rejects_a_fit_without_its_groups(itt_fit):
    import dataclasses

    import xarray as xr

    bare = xr.DataTree.from_dict({"posterior": itt_fit.idata["posterior"].to_dataset()})
    with pytest.raises(ImrBayesError, match="constant_data/X"):
        delta_adjust(dataclasses.replace(itt_fit, idata=bare))


# ---------------------------------------------------------------------------- tipping points

def _table(p_benefit, freq_p, *, outcome=OUTCOME, estimate=1.0):
    deltas = [0.0, 0.1, 0.2, 0.3][: len(p_benefit)]
    return pd.DataFrame({"outcome": outcome, "estimand": "condition_x_time", "arms": "imr",
                         "delta": deltas, "sd": 0.5, "direction": 1,
                         "p_benefit": p_benefit, "freq_p": freq_p,
                         "freq_estimate": estimate})


def test_tipping_points_interpolate_between_grid_values():
    t = tipping_points(_table([0.99, 0.98, 0.97, 0.96], [0.01, 0.03, 0.07, 0.09])).iloc[0]
    assert t["bayes_status"] == REACHED
    assert t["bayes_delta_grid"] == 0.2
    assert t["bayes_delta"] == pytest.approx(0.15)      # 0.98 -> 0.97 crosses 0.975 midway
    assert t["bayes_delta_raw"] == pytest.approx(0.075)
    assert t["freq_status"] == REACHED
    assert t["freq_delta"] == pytest.approx(0.15)       # 0.03 -> 0.07 crosses 0.05 midway
    assert "0.15 baseline SD" in t["sentence"] and t["sentence"].startswith("IMRS client")


def test_tipping_points_already_and_not_reached():
    t = tipping_points(_table([0.96, 0.95], [0.20, 0.30])).iloc[0]
    assert (t["bayes_status"], t["freq_status"]) == (ALREADY, ALREADY)
    assert "no Bayesian conclusion of benefit" in t["sentence"]
    t = tipping_points(_table([0.999, 0.998], [0.001, 0.002])).iloc[0]
    assert (t["bayes_status"], t["freq_status"]) == (NOT_REACHED, NOT_REACHED)
    assert np.isnan(t["bayes_delta"]) and "0.1 baseline SD" in t["sentence"]


def test_tipping_points_significant_harm_is_not_benefit():
    t = tipping_points(_table([0.001, 0.0], [0.001, 0.0005], estimate=-1.0)).iloc[0]
    assert t["freq_status"] == ALREADY
    assert "points away from benefit" in t["sentence"]


def test_tipping_points_reject_a_foreign_table():
    with pytest.raises(ImrBayesError, match="missing columns"):
        tipping_points(pd.DataFrame({"outcome": ["x"]}))


def test_plot_tipping_points(table_imr):
    both = pd.concat([table_imr, table_imr.assign(outcome="bsi", direction=-1)])
    fig = plot_tipping_points(both)
    axes = fig.get_axes()
    assert len(axes) == 2
    assert len(axes[0].get_lines()) >= 2 + 1          # one line per outcome + threshold
    with pytest.raises(ImrBayesError, match="non-empty"):
        plot_tipping_points(table_imr.iloc[:0])


# ------------------------------------------------------------------------ planted MNAR twin

def test_planted_mnar_twin():
    a = simulate_mnar_twin(seed=3, gamma_imr=-2.0, share_scale=2.0)
    b = simulate_mnar_twin(seed=3, gamma_imr=-2.0, share_scale=2.0)
    pd.testing.assert_frame_equal(a.data, b.data)
    grid = a.data.pivot(index="participant_id", columns="time", values=OUTCOME)
    assert grid[0].notna().all()                         # baseline stays observed
    assert 0.15 < a.missing_share < 0.45                 # about twice the twin's ~14 %
    # worse-off IMR participants miss more: their complete-data level is lower
    arm = a.data.groupby("participant_id")["arm"].first().reindex(grid.index)
    level = pd.Series(a.complete.mean(axis=1), index=grid.index)
    imr = arm == "imr"
    gone = grid[2].isna()
    assert level[imr & gone].mean() < level[imr & ~gone].mean()
    # truth = REML condition x time of the paper's LMM on the complete data
    full = a.data.copy()
    full[OUTCOME] = a.complete.reshape(-1)
    ref = fit_lmm(full, OUTCOME).coefficients.set_index("term").loc["condition_x_time", "b"]
    assert a.truth == pytest.approx(ref, abs=1e-6)
    with pytest.raises(ImrBayesError, match="share_scale"):
        simulate_mnar_twin(seed=3, share_scale=20.0)


# ---------------------------------------------------------------------------------- the CLI

def test_cli_sensitivity_writes_tables_and_figure(tmp_path, capsys):
    code = main(["sensitivity", "--quick", "--outcomes", OUTCOME, "--draws", "150", "--tune",
                 "150", "--chains", "1", "--n-imputations", "5", "--deltas", "0.5", "1",
                 "--out", str(tmp_path)])
    assert code == 0
    out = capsys.readouterr().out
    assert "IMRS client" in out and "wrote" in out
    table = pd.read_csv(tmp_path / "delta_adjustment.csv")
    assert list(table["delta"]) == [0.0, 0.5, 1.0]
    tips = pd.read_csv(tmp_path / "tipping_points.csv")
    assert list(tips["outcome"]) == [OUTCOME]
    assert (tmp_path / "tipping_points.png").stat().st_size > 1000
    umask = os.umask(0)
    os.umask(umask)
    assert (tmp_path / "tipping_points.csv").stat().st_mode & 0o777 == 0o666 & ~umask
    assert not list(tmp_path.glob(".*part*"))


@pytest.mark.parametrize("argv, msg", [
    (["--arms", "cau"], "unknown arms"), (["--outcomes", "imrs_clent"], "imrs_client"),
])
def test_cli_sensitivity_user_errors(tmp_path, capsys, argv, msg):
    assert main(["sensitivity", *argv, "--out", str(tmp_path)]) == 2
    assert msg in capsys.readouterr().err


# ----------------------------------------------------- shared-parameter model (no sampling)

def test_shared_parameter_model_structure(twin):
    from imr_bayes import spec as spec_mod
    from imr_bayes.bayes.itt import make_panel, sd_parameters
    from imr_bayes.sensitivity.selection import build_model

    spec = spec_mod.load_analysis("itt")
    panel = make_panel(twin, OUTCOME, spec)
    priors = spec_mod.priors_for(spec_mod.load_prior_set("default"),
                                 panel.terms + sd_parameters(spec), 1)
    # the missingness part's priors are the dropout spec's (docs/missing_data.md)
    dropout = spec_mod.load_spec("dropout", folder="methods")
    assert dropout.base == "itt"
    assert dropout.resolved_priors() == {
        "alpha": {"dist": "Normal", "kwargs": {"mu": -2.0, "sigma": 1.5}},
        "gamma": {"dist": "Normal", "kwargs": {"mu": 0.0, "sigma": 1.0}}}
    priors.update(dropout.resolved_priors())
    model = build_model(panel, spec, priors)
    free = {v.name for v in model.free_RVs}
    assert {"alpha", "gamma", "participant_raw", "beta_condition_x_time"} <= free
    assert model.named_vars_to_dims["gamma"] == ("arm",)
    assert model.named_vars_to_dims["alpha"] == ("arm", "follow_up")
    assert {p.name for p in model.potentials} == {"loglik", "loglik_missing"}


def test_fit_informative_dropout_rejects_bad_input(twin, itt_fit):
    from imr_bayes.sensitivity import fit_informative_dropout

    with pytest.raises(ImrBayesError, match="not 'bsi'"):
        fit_informative_dropout(twin, outcome="bsi", mar_fit=itt_fit)
    with pytest.raises(ImrBayesError, match="draws"):
        fit_informative_dropout(twin, draws=0, mar_fit=itt_fit)
    with pytest.raises(ImrBayesError, match="gamma_sd"):
        fit_informative_dropout(twin, gamma_sd=-1.0, mar_fit=itt_fit)


# ------------------------------------------------ imputation and Gibbs step vs dense algebra

def _toy_posterior(n_draws: int, seed: int = 0):
    """Six participants; slope group effects, a team effect and residual variances per cell
    (baseline, IMR and CAU follow-ups), as the partially nested model has them."""
    from imr_bayes.sensitivity.delta import _Posterior

    rng = np.random.default_rng(seed)
    n_p, t = 6, np.array([0.0, 1.0, 2.0])
    treated = np.array([1, 1, 1, 0, 0, 0], dtype=float)
    X = np.stack([np.ones((n_p, 3)), np.tile(t, (n_p, 1)), np.repeat(treated[:, None], 3, 1),
                  treated[:, None] * t], axis=-1)
    mask = np.ones((n_p, 3))
    mask[0, 2] = mask[1, 1:] = mask[4, 2] = 0.0
    z = np.where(mask > 0, rng.normal(size=(n_p, 3)), 0.0)
    group = rng.normal(size=2) * 0.2
    team = np.array([0.1, -0.2, 0.1, 0.0, -0.2, 0.1])
    offset = treated[:, None] * t[None] * group[[0, 1, 0, 0, 0, 0]][:, None] + team[:, None]
    cells = np.where(t[None] == 0, 0.5, np.where(treated[:, None] > 0, 0.4, 0.9))
    return _Posterior(
        outcome=OUTCOME, analysis="itt", terms=("intercept", "time", "condition",
                                                "condition_x_time"),
        z=z, mask=mask, X=X, treated=treated, scale=1.0,
        beta=np.tile(rng.normal(size=4) * 0.3, (n_draws, 1)),
        offset=np.broadcast_to(offset, (n_draws, n_p, 3)),
        participant_var=np.full(n_draws, 0.7),
        cell_var=np.broadcast_to(cells, (n_draws, n_p, 3)),
        prior_mean=np.array([0.0, 0.0, 0.0, 0.1]), prior_prec=np.array([1.0, 4.0, 4.0, 4.0]),
        beta_prior="normal", seed=1)


def _dense_v(p, i):
    return np.diag(p.cell_var[0, i]) + p.participant_var[0] * np.ones((3, 3))


def test_gibbs_step_matches_dense_gls():
    from imr_bayes.sensitivity.delta import _conditional_beta, shift_cells

    p = _toy_posterior(2)
    y = np.where(p.mask > 0, p.z, 0.3)[None].repeat(2, axis=0)
    shift = shift_cells(p, "imr")
    beta0, slope = _conditional_beta(p, y, shift, np.zeros((2, 4)))
    g = p.offset[0]
    prec = np.diag(p.prior_prec).astype(float)
    rhs = p.prior_prec * p.prior_mean
    rhs_shift = np.zeros(4)
    for i in range(6):
        vinv = np.linalg.inv(_dense_v(p, i))
        prec += p.X[i].T @ vinv @ p.X[i]
        rhs += p.X[i].T @ vinv @ (y[0, i] - g[i])
        rhs_shift += p.X[i].T @ vinv @ shift[i]
    np.testing.assert_allclose(beta0[0], np.linalg.solve(prec, rhs), rtol=1e-10)
    np.testing.assert_allclose(slope[0], np.linalg.solve(prec, rhs_shift), rtol=1e-10)
    # the shifted cells: missing follow-ups of treated participants only
    assert shift.sum() == 3 and shift[4].sum() == 0


def test_mar_imputation_is_the_conditional_gaussian():
    from imr_bayes.sensitivity.delta import _mean_std, impute_mar

    n = 40_000
    p = _toy_posterior(n)
    draws = impute_mar(p, np.random.default_rng(3))
    mu = _mean_std(p)[0]
    for i, miss in ((0, [2]), (1, [1, 2])):
        obs = [t for t in range(3) if t not in miss]
        v = _dense_v(p, i)
        k = v[np.ix_(miss, obs)] @ np.linalg.inv(v[np.ix_(obs, obs)])
        mean = mu[i, miss] + k @ (p.z[i, obs] - mu[i, obs])
        cov = v[np.ix_(miss, miss)] - k @ v[np.ix_(obs, miss)]
        got = draws[:, i, miss]
        np.testing.assert_allclose(got.mean(axis=0), mean, atol=4 * np.sqrt(cov.max() / n))
        np.testing.assert_allclose(np.cov(got.T).reshape(cov.shape), cov, rtol=0.05)
    assert np.all(draws[:, p.mask > 0] == p.z[p.mask > 0])


def test_complete_data_lmm_categorical_time_matches_fit_lmm():
    long, y, X = _balanced(4, 0.8)
    t = X[:, :, 1]
    c = X[:, :, 2]
    Xc = np.stack([X[:, :, 0], (t == 1) * 1.0, (t == 2) * 1.0, c, c * (t == 1), c * (t == 2)],
                  axis=-1)
    ref = fit_lmm(long, OUTCOME, time="categorical").coefficients.set_index("term")
    got = complete_data_lmm(y, Xc)
    for k, term in ((4, "condition_x_time[1]"), (5, "condition_x_time[2]")):
        assert got.beta[0, k] == pytest.approx(ref.loc[term, "b"], abs=1e-6)
        assert np.sqrt(got.cov[0, k, k]) == pytest.approx(ref.loc[term, "se"], rel=1e-4)
        assert ref.loc[term, "df"] == pytest.approx(got.df[0], rel=1e-3)
    assert got.df[0] == 2 * 60 - 4
