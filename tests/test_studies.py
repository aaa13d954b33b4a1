"""The three simulation studies at small R on a LocalCluster started and stopped per run.

The studies run with ``--quick`` settings (tiny fits, the ``pyfunc`` backend of
``imr_bayes.bayes.sampling``) on thread workers (``processes=False``): the ITT model is then
compiled once for the whole module instead of once per worker process (process workers are
exercised in ``test_studies_runner.py``).
Statistical properties are checked without MCMC where possible: the planted ICC of the nesting
data, the prior draws of the SBC, and the conjugate analysis of the assurance study against a
dense GLS written out here and against an MCMC fit of the ITT model.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from imr_bayes.bayes.itt import standardization
from imr_bayes.studies import Store, assurance, coverage, fitting, nesting, run_study
from imr_bayes.studies.figures import write_outputs
from imr_bayes.studies.store import replicate_file

SIZES = {"coverage": 3, "nesting": 2, "assurance": 4}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    out = {}
    for name, r in SIZES.items():
        store = tmp_path_factory.mktemp(name)
        out[name] = run_study(name, replicates=r, out=store, seed=5, quick=True, workers=2,
                              processes=False)
    return out


def test_every_study_stores_every_replicate(runs):
    for name, r in SIZES.items():
        run = runs[name]
        assert run.computed == tuple(range(r)) and run.workers == 2
        assert Store.load(run.store).finished() == set(range(r))


def test_coverage_rows_are_consistent(runs):
    rows = Store.load(runs["coverage"].store).read()
    assert len(rows) == 3 and (rows["estimand"] == "condition_x_time").all()
    inside = (rows["eti95_low"] <= rows["true"]) & (rows["true"] <= rows["eti95_high"])
    assert (rows["covered"] == inside).all()
    assert rows["rank"].between(0, 19).all() and (rows["n_ranks"] == 19).all()
    assert (rows["eti95_low"] < rows["mean"]).all() and (rows["mean"] < rows["eti95_high"]).all()
    # The twin's design: 187 participants, at most 3 observed cells each.
    assert rows["n_rows"].between(187, 3 * 187).all()


def test_stored_replicate_equals_a_direct_call_with_its_seed(runs):
    """Replicate 1 as stored by the 2-worker cluster = the replicate function called here
    with SeedSequence(5).spawn(R)[1]: truth, fit and rank are reproducible anywhere."""
    from imr_bayes.studies.coverage import DEFAULTS, QUICK

    seed = np.random.SeedSequence(5).spawn(3)[1]
    direct = coverage.replicate(index=1, seed=seed, settings={**DEFAULTS, **QUICK},
                                context=None).iloc[0]
    stored = Store.load(runs["coverage"].store).read().set_index("replicate").loc[1]
    for col in ("true", "mean", "sd", "eti95_low", "eti95_high", "rank", "n_rows"):
        assert stored[col] == direct[col], col
    # ... and the truth is the prior draw of that seed (after the design draw).
    rng = np.random.default_rng(seed)
    panel = fitting.design_panel(rng, "imrs_client")
    truth = fitting.draw_prior("imrs_client", "default", rng)
    assert stored["true"] == truth["condition_x_time"] * panel.scale


def test_coverage_summary_matches_hand_computation(runs):
    rows = Store.load(runs["coverage"].store).read()
    s = coverage.summarize(runs["coverage"].store).iloc[0]
    p = rows["covered"].mean()
    assert s["coverage"] == p and s["replicates"] == 3
    assert s["mcse"] == pytest.approx(np.sqrt(p * (1 - p) / 3))
    counts = np.bincount(rows["rank"] // 5, minlength=4)  # 20 rank values, 4 bins of 5
    chi2 = ((counts - 0.75) ** 2 / 0.75).sum()
    assert s["rank_chi2"] == pytest.approx(chi2)
    assert s["rank_p"] == pytest.approx(stats.chi2.sf(chi2, 3))


def test_rerun_of_a_real_study_refits_nothing(runs):
    store = runs["nesting"].store
    mtimes = {i: replicate_file(store, i).stat().st_mtime_ns for i in range(2)}
    again = run_study("nesting", replicates=2, out=store, seed=5, quick=True, workers=1,
                      processes=False)
    assert again.computed == () and again.skipped == (0, 1)
    assert {i: replicate_file(store, i).stat().st_mtime_ns for i in range(2)} == mtimes


def test_nesting_rows_and_summary(runs):
    rows = Store.load(runs["nesting"].store).read()
    assert len(rows) == 4
    models = rows.groupby("replicate")["model"].agg(lambda m: tuple(sorted(m)))
    assert set(models) == {("naive", "nested")}
    assert rows.groupby("replicate")["icc"].first().tolist() == [0.05, 0.10]
    assert (rows["true"] == 0).all() and (rows["reject"] == ~rows["covered"]).all()
    s = nesting.summarize(runs["nesting"].store)
    assert len(s) == 4 and (s["replicates"] == 1).all()
    assert np.allclose(s.loc[s["model"] == "nested", "sd_ratio"], 1.0)
    by = rows.groupby(["icc", "model"])["reject"].mean()
    assert np.allclose(s.set_index(["icc", "model"])["type_i_error"], by)


def test_nesting_data_have_the_planted_icc():
    """simulate_z with nesting.truth(icc): unit variance after baseline, group ICC = icc."""
    rng = np.random.default_rng(3)
    panel = fitting.design_panel(rng, "imrs_client", nesting.DEFAULTS["analysis"])
    params = nesting.truth(0.10, nesting.DEFAULTS)
    full = dataclasses.replace(panel, mask=np.ones_like(panel.mask))
    sims = np.stack([fitting.simulate_z(full, params, rng) for _ in range(1500)])
    treated = np.flatnonzero(panel.treated > 0)
    z2 = sims[:, :, 2] - sims[:, :, 2].mean(axis=0)
    assert z2[:, treated].var(axis=0).mean() == pytest.approx(1.0, abs=0.03)
    # Covariance of two treated participants of the same group at 18 months = ICC.
    g = panel.group_idx[treated]
    same = [(i, j) for k, i in enumerate(treated) for j in treated[k + 1:]
            if g[k] == panel.group_idx[j]]
    icc = np.mean([np.mean(z2[:, i] * z2[:, j]) for i, j in same])
    assert icc == pytest.approx(0.10, abs=0.015)


def test_sbc_prior_draws_follow_the_prior():
    rng = np.random.default_rng(0)
    draws = pd.DataFrame([fitting.draw_prior("imrs_client", "default", rng)
                          for _ in range(4000)])
    # default prior set: condition_x_time ~ N(0, 0.5); sigma_residual ~ HalfNormal(1), also
    # for each residual cell of the partially nested model; sigma_team ~ HalfNormal(0.2).
    assert draws["condition_x_time"].std() == pytest.approx(0.5, rel=0.05)
    for name in ("sigma_residual", "sigma_residual_baseline", "sigma_residual_imr_follow_up",
                 "sigma_residual_cau_follow_up"):
        assert draws[name].mean() == pytest.approx(np.sqrt(2 / np.pi), rel=0.05), name
    assert draws["sigma_team"].mean() == pytest.approx(0.2 * np.sqrt(2 / np.pi), rel=0.05)
    assert (draws["sigma_group"] > 0).all()


def test_assurance_context_is_the_design_prior(runs):
    store = Store.load(runs["assurance"].store)
    context = store.read_context()
    assert list(context.columns) == [*assurance.TERMS, *assurance.SDS]
    assert len(context) == 100 and (context[list(assurance.SDS)] > 0).all().all()
    rows = store.read()
    assert sorted(rows["n_per_arm"].unique()) == [40, 80]
    # Each replicate's truth is a row of the design prior (standardized x baseline SD).
    scale = standardization("imrs_client")[1]
    truths = np.sort(context["condition_x_time"].to_numpy() * scale)
    for value in rows["true"]:
        assert np.min(np.abs(truths - value)) < 1e-12
    s = assurance.summarize(store.root)
    assert s["assurance"].tolist() == rows.groupby("n_per_arm")["success"].mean().tolist()
    assert (s["mcse"] == np.sqrt(s["assurance"] * (1 - s["assurance"]) / 4)).all()


def _dense_posterior(trial, params, prior):
    """Reference: GLS with the full covariance of every observation (written out densely)."""
    z, treated, group = trial["z"], trial["treated"], trial["group"]
    pid, t = np.nonzero(np.isfinite(z))
    c = treated[pid]
    x = np.column_stack([np.ones_like(c), t, c, c * t])
    g = np.where(c > 0, group[pid], -1)
    on = (c > 0) & (t > 0)
    v = (params["sigma_residual"] ** 2 * np.eye(len(pid))
         + params["sigma_participant"] ** 2 * (pid[:, None] == pid[None, :])
         + params["sigma_group"] ** 2 * ((g[:, None] == g[None, :]) & on[:, None] & on[None, :]))
    vinv = np.linalg.inv(v)
    mu0 = np.array([prior[k][0] for k in assurance.TERMS])
    p0 = np.diag([1 / prior[k][1] ** 2 for k in assurance.TERMS])
    cov = np.linalg.inv(x.T @ vinv @ x + p0)
    return cov @ (x.T @ vinv @ z[pid, t] + p0 @ mu0), cov


def test_conjugate_analysis_equals_dense_gls():
    rng = np.random.default_rng(8)
    params = {"intercept": 0.1, "time": 0.05, "condition": 0.0, "condition_x_time": 0.2,
              "sigma_participant": 0.7, "sigma_group": 0.3, "sigma_residual": 0.6}
    prior = assurance.normal_priors("imrs_client", "default")
    trial = assurance.simulate_trial(30, params, rng, group_size=7, missing=0.2)
    mean, cov = assurance.conjugate_posterior(trial, params, prior)
    ref_mean, ref_cov = _dense_posterior(trial, params, prior)
    np.testing.assert_allclose(mean, ref_mean, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(cov, ref_cov, rtol=1e-9, atol=1e-14)


def test_conjugate_analysis_agrees_with_mcmc_on_the_itt_model(runs):
    """The approximation (variance components known) vs the ITT model fitted by MCMC."""
    from imr_bayes.bayes.itt import design

    rng = np.random.default_rng(21)
    params = {"intercept": 0.0, "time": 0.05, "condition": 0.0, "condition_x_time": 0.15,
              "sigma_participant": 0.7, "sigma_group": 0.2, "sigma_residual": 0.6}
    prior = assurance.normal_priors("imrs_client", "default")
    trial = assurance.simulate_trial(60, params, rng, group_size=8, missing=0.15)
    mean, cov = assurance.conjugate_posterior(trial, params, prior)
    treated, group = trial["treated"], trial["group"]
    mask = np.isfinite(trial["z"]).astype(float)
    time = np.broadcast_to(np.arange(3), mask.shape)
    data = {
        "z": np.nan_to_num(trial["z"]), "mask": mask,
        "X": design(time, treated, assurance.TERMS),
        "group_idx": np.maximum(group, 0).astype(np.int64),
        "group_on": ((treated > 0)[:, None] & (time > 0)).astype(float),
        "arm_idx": np.where(treated > 0, 0, 1).astype(np.int64),
    }
    fit = fitting.fit_effect(data, seed=3, draws=400, tune=300, chains=1, backend="pyfunc",
                             analysis=assurance.ANALYSIS)
    post = fit.summary()
    # fit_effect reads the posterior and sample-stats Datasets of sample_posterior
    posterior, stats = fitting.sample_posterior(data, seed=3, draws=400, tune=300, chains=1,
                                                backend="pyfunc", analysis=assurance.ANALYSIS)
    np.testing.assert_array_equal(posterior[f"beta_{fitting.ESTIMAND}"].values, fit.draws)
    assert int(stats["diverging"].values.sum()) == fit.divergences
    sd = np.sqrt(cov[3, 3])
    # The MCMC fit estimates the variance components that the approximation takes as
    # known: agreement within half a posterior SD (mean) and 25 % (SD).
    assert post["mean"] == pytest.approx(mean[3], abs=0.5 * sd)
    assert post["sd"] == pytest.approx(sd, rel=0.25)


def test_summary_table_and_figure_are_written(runs):
    for name in SIZES:
        summary_path, figure_path = write_outputs(name, runs[name].store)
        table = pd.read_csv(summary_path)
        assert len(table) >= 1
        assert figure_path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_cli_resumes_a_finished_study(runs, capsys):
    from distributed import LocalCluster

    from imr_bayes.cli import main

    store = runs["assurance"].store
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                      dashboard_address=":0") as cluster:
        code = main(["study", "assurance", "--replicates", "4", "--seed", "5", "--smoke",
                     "--scheduler", cluster.scheduler_address, "--out", str(store)])
    captured = capsys.readouterr()
    out = captured.out
    assert code == 0
    assert "4/4" in captured.err  # the progress bar starts at the stored replicates
    assert "0 replicates computed, 4 already stored" in out
    assert (store / "assurance.png").exists() and (store / "summary.csv").exists()

