"""The partially nested ITT model (``model: pn_lmm``; ``docs/models.md``).

Fast tier: the spec's fields, the panel's structure (group loading, singleton clusters,
teams, residual cells), the ICC-scale prior of the group SD (closed form against Monte
Carlo and against ``scipy.stats``), the ICC estimand against a hand computation, and the
bookkeeping of one tiny fit (no convergence claims: few draws). Slow tier: recovery of
planted values (an arm-specific residual SD after baseline, a slope group effect, a team
effect) and agreement with statsmodels REML where the model has a frequentist twin
(nested team and participant intercepts).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from fixtures_bayes import simulate_itt
from scipy import stats

import imr_bayes
from imr_bayes import SpecError
from imr_bayes.bayes import itt
from imr_bayes.errors import DataValidationError
from imr_bayes.spec import LmmSpec, PnLmmSpec, load_analysis, load_prior_set, priors_for

TINY = {"draws": 150, "tune": 150, "chains": 2}


@pytest.fixture(scope="module")
def sim():
    return simulate_itt(seed=11, cxt_d=0.3, sd_team=0.2)


@pytest.fixture(scope="module")
def spec():
    return load_analysis("itt")


# ------------------------------------------------------------------------------ the specs
def test_itt_is_the_partially_nested_kind_and_itt_parity_keeps_the_spss_model():
    new, parity = load_analysis("itt"), load_analysis("itt_parity")
    assert isinstance(new, PnLmmSpec) and isinstance(parity, LmmSpec)
    assert (new.group_effect, new.singletons, new.residual_sd, new.team) == (
        "slope", True, "by_arm_after_baseline", "random")
    assert not parity.residual_sd_by_arm and parity.random.imr_group
    assert load_analysis("itt_categorical").model == "pn_lmm"
    assert load_analysis("itt_categorical_parity").model == "lmm"
    # the rest of the parity spec is the former `itt` (estimands, sampler, diagnostics)
    assert [e.name for e in new.estimands] == [e.name for e in parity.estimands]
    assert new.sampler == parity.sampler and new.diagnostics == parity.diagnostics


def test_each_kind_keeps_only_its_own_fields(spec):
    with pytest.raises(SpecError, match="residual_sd_by_arm"):
        spec.with_overrides(residual_sd_by_arm=True)
    with pytest.raises(SpecError, match="group_effect"):
        load_analysis("itt_parity").with_overrides(group_effect="slope")
    with pytest.raises(SpecError, match=r"'slpe'.*Did you mean 'slope'"):
        spec.with_overrides(group_effect="slpe")
    assert spec.with_overrides(team="none").columns("bsi") == (
        "participant_id", "arm", "time", "bsi", "imr_group")
    assert "team" in spec.columns("bsi")
    with pytest.raises(SpecError, match="fidelity_slope needs the IMR-group effect"):
        load_analysis("fidelity_dose").with_overrides(imr_group=False)


# ------------------------------------------------------------------------------ the panel
def test_group_loading_follows_the_spec(sim, spec):
    time = np.array([0.0, 1.0, 2.0])
    for effect, loading in (("slope", time), ("shift", (time > 0) * 1.0)):
        panel = itt.make_panel(sim, "imrs_client", spec.with_overrides(group_effect=effect))
        treated = panel.treated > 0
        assert (panel.group_on[~treated] == 0).all()           # controls have no group
        np.testing.assert_array_equal(panel.group_on[treated], np.tile(loading,
                                                                       (treated.sum(), 1)))
        assert panel.group_shift_on is None
    both = itt.make_panel(sim, "imrs_client", spec.with_overrides(group_effect="both"))
    np.testing.assert_array_equal(both.group_on[both.treated > 0][0], time)
    np.testing.assert_array_equal(both.group_shift_on[both.treated > 0][0], [0, 1, 1])


def test_treated_participant_without_group_is_a_singleton_cluster(sim, spec):
    data = sim.copy()
    data.loc[data["participant_id"].isin(["P000", "P001"]), "imr_group"] = pd.NA
    panel = itt.make_panel(data, "imrs_client", spec)
    assert panel.groups[-2:] == ("single:P000", "single:P001")
    assert len(panel.groups) == 17
    k = list(panel.participants).index("P001")
    assert panel.groups[panel.group_idx[k]] == "single:P001"
    np.testing.assert_array_equal(panel.group_on[k], [0, 1, 2])
    # off: no group effect for them (the parity model's rule)
    off = itt.make_panel(data, "imrs_client", spec.with_overrides(singletons=False))
    assert len(off.groups) == 15 and off.group_on[k].sum() == 0
    # singletons come from the whole data set: an outcome without P001's values keeps them
    other = data.assign(bsi=data["imrs_client"] - 1).drop(columns="imrs_client")
    other.loc[other["participant_id"] == "P001", "bsi"] = np.nan
    assert itt.make_panel(other, "bsi", spec).groups == panel.groups


def test_teams_and_residual_cells(sim, spec):
    panel = itt.make_panel(sim, "imrs_client", spec)
    people = sim.drop_duplicates("participant_id").set_index("participant_id")["team"]
    teams = np.array(panel.teams, dtype=int)[panel.team_idx]
    np.testing.assert_array_equal(teams, people.loc[panel.participants].to_numpy())
    cells = np.array(itt.RESIDUAL_CELLS)[panel.residual_idx]
    assert set(cells[:, 0]) == {"baseline"}
    assert set(cells[panel.treated > 0, 1:].ravel()) == {"imr_follow_up"}
    assert set(cells[panel.treated == 0, 1:].ravel()) == {"cau_follow_up"}
    shared = itt.make_panel(sim, "imrs_client", spec.with_overrides(residual_sd="shared",
                                                                    team="none"))
    assert shared.residual_idx is None and shared.team_idx is None
    assert set(shared.model_data()) == set(itt.make_panel(
        sim, "imrs_client", load_analysis("itt_parity")).model_data())


def test_missing_team_names_the_way_out(sim, spec):
    with pytest.raises(DataValidationError, match="team='none'"):
        itt.make_panel(sim.drop(columns="team"), "imrs_client", spec)
    gap = sim.assign(team=sim["team"].where(sim["participant_id"] != "P005"))
    with pytest.raises(DataValidationError, match=r"1 participant\(s\) without a team"):
        itt.make_panel(gap, "imrs_client", spec)


# ------------------------------------------------------------------- ICC-scale group prior
def _default_group_prior():
    return load_prior_set("default").priors["sigma_group"].resolved(1)


def test_group_prior_on_the_icc_scale_closed_form():
    """The numbers docs/priors.md states for HalfNormal(0.2), other variance 1."""
    prior = _default_group_prior()
    assert prior == {"dist": "HalfNormal", "kwargs": {"sigma": 0.2}}
    q = itt.icc_quantiles(prior, [0.5, 0.9, 0.975])
    np.testing.assert_allclose(q, [0.0179, 0.0977, 0.1673], atol=5e-5)
    # P(ICC > 0.1) = P(sigma > 1/3) = 2 (1 - Phi(1/3 / 0.2))
    assert 2 * stats.norm.sf((0.1 / 0.9) ** 0.5 / 0.2) == pytest.approx(0.0956, abs=5e-4)
    # 18 months under the slope loading (L = 2)
    assert itt.icc_quantiles(prior, 0.5, loading=2.0) == pytest.approx(0.0680, abs=5e-4)
    # the former default, now the group_icc_high set: median ICC 0.10 (issue 14)
    high = load_prior_set("group_icc_high").priors["sigma_group"].resolved(1)
    assert itt.icc_quantiles(high, 0.5) == pytest.approx(0.1021, abs=5e-4)
    low = load_prior_set("group_icc_low").priors["sigma_group"].resolved(1)
    assert itt.icc_quantiles(low, 0.95) == pytest.approx(0.0370, abs=5e-4)


@pytest.mark.parametrize("prior", [
    {"dist": "HalfNormal", "kwargs": {"sigma": 0.2}},
    {"dist": "HalfStudentT", "kwargs": {"nu": 3.0, "sigma": 0.15}},
    {"dist": "HalfCauchy", "kwargs": {"beta": 0.1}},
    {"dist": "Exponential", "kwargs": {"lam": 5.0}},
])
def test_icc_quantiles_match_simulation(prior):
    # Monte Carlo: the quantile of n = 200 000 draws has SE sqrt(q(1-q)/n)/f(x); compared on
    # the probability scale, the empirical CDF at the closed-form quantile is within 5 SEs.
    n = 200_000
    rng = np.random.default_rng(2)
    sd = itt.draw_prior(prior, n, rng)
    icc = sd**2 / (sd**2 + 1.0)
    for q in (0.1, 0.5, 0.9):
        value = itt.icc_quantiles(prior, q)
        assert np.mean(icc <= value) == pytest.approx(q, abs=5 * np.sqrt(q * (1 - q) / n))
    # and the SD quantiles against scipy's own distributions
    ref = {"HalfNormal": lambda k: stats.halfnorm(scale=k["sigma"]),
           "HalfStudentT": lambda k: stats.t(k["nu"], scale=k["sigma"]),
           "HalfCauchy": lambda k: stats.halfcauchy(scale=k["beta"]),
           "Exponential": lambda k: stats.expon(scale=1 / k["lam"])}[prior["dist"]](
        prior["kwargs"])
    q = 0.8
    x = itt.sd_quantile(prior, q)
    got = 2 * ref.cdf(x) - 1 if prior["dist"] == "HalfStudentT" else ref.cdf(x)
    assert got == pytest.approx(q, abs=1e-10)


def test_icc_estimand_by_hand(spec):
    sd = {"sigma_group": np.array([0.3]), "sigma_participant": np.array([0.7]),
          "sigma_residual": np.array([0.9]), "sigma_team": np.array([0.3]),
          "sigma_group_shift": np.array([0.2])}
    rest = 0.3**2 + 0.7**2 + 0.9**2
    np.testing.assert_allclose(itt.icc_group(sd, spec)[0],
                               [0.09 / (0.09 + rest), 0.36 / (0.36 + rest)])
    shift = spec.with_overrides(group_effect="shift", team="none")
    rest = 0.7**2 + 0.9**2
    np.testing.assert_allclose(itt.icc_group(sd, shift)[0], [0.09 / (0.09 + rest)] * 2)
    both = spec.with_overrides(group_effect="both")
    rest = 0.3**2 + 0.7**2 + 0.9**2
    np.testing.assert_allclose(itt.icc_group(sd, both)[0],
                               [(0.09 + 0.04) / (0.13 + rest), (0.36 + 0.04) / (0.4 + rest)])


# ------------------------------------------------------------------- one tiny fit (fast)
@pytest.fixture(scope="module")
def tiny(sim):
    data = sim.copy()
    data.loc[data["participant_id"] == "P000", "imr_group"] = pd.NA   # one singleton
    return imr_bayes.fit(data, outcome="imrs_client", seed=5, **TINY)


def test_fit_carries_the_partially_nested_structure(tiny):
    post, const = tiny.idata["posterior"], tiny.idata["constant_data"]
    assert list(post["sigma_residual"].coords["residual"].values) == list(itt.RESIDUAL_CELLS)
    assert post["team_effect"].sizes["team"] == 14
    assert post["group_effect"].sizes["group"] == 16            # 15 groups + P000 alone
    assert {"team_index", "residual_index"} <= set(const.data_vars)
    est = tiny.estimates
    base = est.row("sigma_residual", time=0)
    assert base["note"] == "baseline, both arms"
    for arm, cell in (("imr", "imr_follow_up"), ("cau", "cau_follow_up")):
        row = est.row("sigma_residual", arm=arm)
        np.testing.assert_allclose(est.draws_of(row),
                                   post["sigma_residual"].sel(residual=cell).values.ravel())


def test_icc_rows_have_their_prior_beside_them(tiny):
    prior = tiny.idata["prior"]
    for t in (1, 2):
        row = tiny.estimates.row("icc_group", time=t, arm="imr")
        assert row["scale"] == "probability" and 0 < row["estimate"] < 1
        draws = prior["icc_group"].sel(time=t).values.ravel()
        lo, med, hi = np.quantile(draws, [0.025, 0.5, 0.975])
        assert row["note"] == (f"prior (default set): median {med:.3f}, 95 % interval "
                               f"{lo:.3f} to {hi:.3f}")
    # the prior draws of sigma_group follow its prior (HalfNormal(0.2), standardized)
    sd = prior["sigma_group"].values.ravel()
    assert stats.kstest(sd, stats.halfnorm(scale=0.2).cdf).pvalue > 0.001
    # the posterior ICC is the model's formula applied to the posterior SDs
    post = tiny.idata["posterior"]
    s = float(tiny.idata["constant_data"]["scale"])
    g = post["sigma_group"].values.ravel() / s
    rest = sum((post[v].values.ravel() / s) ** 2 for v in ("sigma_team", "sigma_participant"))
    rest = rest + (post["sigma_residual"].sel(residual="imr_follow_up").values.ravel() / s) ** 2
    np.testing.assert_allclose(tiny.estimates.draws_of(tiny.estimates.row(
        "icc_group", time=2, arm="imr")), 4 * g**2 / (4 * g**2 + rest), rtol=1e-10)


def test_saved_fit_reconstructs_the_model_log_likelihood(tiny):
    """conditional_pieces (what PPC and delta read) rebuilds the likelihood the fit stored."""
    from imr_bayes.bayes.marginal import block_logp_np

    tree = tiny.idata
    post, const = tree["posterior"], tree["constant_data"]
    offset, cell_var, pvar = itt.conditional_pieces(post, const)
    beta = post["beta_std"].stack(s=("chain", "draw")).transpose("s", ...).values
    mu = np.einsum("ptk,sk->spt", const["X"].values, beta) + offset
    s, c = float(const["scale"]), float(const["center"])
    mask = const["mask"].values
    z = np.where(mask > 0, (tree["observed_data"]["y"].values - c) / s, 0.0)
    ll = block_logp_np(z[None] - mu, mask, cell_var, pvar) - mask.sum(axis=1) * np.log(s)
    np.testing.assert_allclose(ll, tree["log_likelihood"]["y"].values.reshape(ll.shape),
                               rtol=1e-9)


def test_prior_set_varying_only_the_group_sd():
    default = load_prior_set("default").priors
    for name in ("group_icc_low", "group_icc_high"):
        other = load_prior_set(name).priors
        assert {k for k in default if default[k] != other[k]} == {"sigma_group"}


# --------------------------------------------------------------------- planted (slow tier)
PLANTED = {"sd_group": 0.3, "sd_team": 0.3, "sd_participant": 0.7, "sd_residual": 0.9,
           "sd_residual_cau": 0.45, "sd_residual_baseline": 0.6, "cxt_d": 0.2}


@pytest.fixture(scope="module")
def planted_data():
    # SFS: no bounded range, so no value is clipped and the planted SDs hold exactly
    return simulate_itt("sfs", n_imr=240, n_cau=160, group_loading="slope", seed=23,
                        **PLANTED)


@pytest.fixture(scope="module")
def planted_fit(planted_data):
    return imr_bayes.fit(planted_data, outcome="sfs", seed=4, draws=600, tune=600, chains=2)


@pytest.mark.slow
def test_recovers_planted_residual_sds_slope_group_effect_and_team(planted_fit):
    """Every planted value within 3.5 posterior SDs of its posterior mean.

    Eleven checks on one data set: a 95 % interval each would fail somewhere in about 40 % of
    data sets; 3.5 SDs keeps the family's false-alarm rate near 0.5 % (normal approximation)
    while a real bias of one posterior SD or more in a well-estimated SD is still visible.
    """
    est = planted_fit.estimates
    scale = float(planted_fit.idata["constant_data"]["scale"])

    def close(row, truth):
        z = (row["estimate"] - truth) / row["sd"]
        assert abs(z) < 3.5, (row["estimand"], row["arm"], row["time"], truth, z)

    for (name, where), truth in (
            (("sigma_residual", {"time": 0}), PLANTED["sd_residual_baseline"]),
            (("sigma_residual", {"arm": "imr"}), PLANTED["sd_residual"]),
            (("sigma_residual", {"arm": "cau"}), PLANTED["sd_residual_cau"]),
            (("sigma_group", {}), PLANTED["sd_group"]),
            (("sigma_team", {}), PLANTED["sd_team"]),
            (("sigma_participant", {}), PLANTED["sd_participant"])):
        close(est.row(name, **where), truth * scale)
    close(est.row("condition_x_time_d"), PLANTED["cxt_d"])
    # the arm difference after baseline is found: IMR / CAU follow-up SD (planted 2)
    ratio = (est.draws_of(est.row("sigma_residual", arm="imr"))
             / est.draws_of(est.row("sigma_residual", arm="cau")))
    assert np.mean(ratio > 1) > 0.999
    assert abs(ratio.mean() - 2.0) < 3.5 * ratio.std()
    # planted ICC at 12 and 18 months (slope loading: group variance 4x at 18 months)
    rest = PLANTED["sd_team"] ** 2 + PLANTED["sd_participant"] ** 2 + PLANTED["sd_residual"] ** 2
    for t in (1, 2):
        v = (t * PLANTED["sd_group"]) ** 2
        close(est.row("icc_group", time=t, arm="imr"), v / (v + rest))
    # sampler health (the spec's ESS threshold needs the spec's 4 x 1000 draws; here 2 x 600)
    table = planted_fit.diagnostics.table
    assert table["r_hat"].max() < 1.01 and planted_fit.diagnostics.divergences == 0


@pytest.mark.slow
def test_recovers_the_planted_groups_slopes(planted_data, planted_fit):
    """Each group's posterior mean slope deviation tracks its planted value.

    16 members per group, two follow-ups each; the correlation over the 15 groups was
    0.87, 0.91 and 0.98 for the data seeds 23-25 (0.82-0.96 for the shift model on the same
    data), so 0.6 fails only if the group effects are not identified or mis-mapped.
    """
    post = planted_fit.idata["posterior"]["group_effect"]
    scale = float(planted_fit.idata["constant_data"]["scale"])
    labels = [str(g) for g in post.coords["group"].values]
    est = post.mean(("chain", "draw")).values / scale
    planted = np.array([planted_data.attrs["group_effects"][g] for g in labels])
    assert np.corrcoef(est, planted)[0, 1] > 0.6


@pytest.mark.slow
def test_replicated_data_reproduce_the_arm_specific_spread(planted_fit):
    """PPC (imr_bayes.ppc, which reads the residual cells and team effects of the fit): the
    observed SD of every arm x time cell lies inside its 95 % predictive interval."""
    from imr_bayes import ppc

    checks = ppc.data_checks(planted_fit, draws=400)
    sd = checks[checks["statistic"] == "sd"]
    assert len(sd) == 6 and not sd["flagged"].any(), sd


def _nested_reml(data, code):
    import statsmodels.formula.api as smf

    d = data[["participant_id", "team", "arm", "time", code]].dropna()
    d = d.assign(condition=(d["arm"] == "imr").astype(float), y=d[code].astype(float))
    res = smf.mixedlm("y ~ time * condition", d, groups=d["team"], re_formula="1",
                      vc_formula={"participant": "0 + C(participant_id)"}).fit(reml=True)
    return float(res.fe_params["time:condition"]), float(np.sqrt(res.cov_re.iloc[0, 0]))


@pytest.mark.slow
def test_team_model_agrees_with_nested_reml_under_wide_priors():
    """External reference: statsmodels REML with team and participant-in-team intercepts.

    The partially nested model without the group effect and with one residual SD is that
    model; under the wide prior set its posterior mean of condition x time lies within 0.1
    posterior SD of the REML estimate (as the parity model's check in test_bayes_twin), and
    the team SD's posterior interval covers the REML estimate.
    """
    data = simulate_itt("sfs", sd_team=0.4, sd_group=0.0, seed=8)
    fit = imr_bayes.fit(data, outcome="sfs", prior_set="wide", group_effect="none",
                        residual_sd="shared", seed=2, draws=1000, tune=1000, chains=2)
    cxt, team_sd = _nested_reml(data, "sfs")
    post = fit.estimates.row("condition_x_time")
    assert abs(post["estimate"] - cxt) < 0.1 * post["sd"]
    team = fit.estimates.row("sigma_team")
    assert team["ci_low"] < team_sd < team["ci_high"]


def test_priors_for_every_sd_of_the_model(spec):
    names = itt.sd_parameters(spec)
    assert names == ("sigma_participant", "sigma_group", "sigma_residual", "sigma_team")
    resolved = priors_for(load_prior_set("sceptical"), spec.terms + names, 1)
    assert resolved["sigma_team"] == {"dist": "HalfNormal", "kwargs": {"sigma": 0.2}}
