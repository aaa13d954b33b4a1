"""The core: a new analysis is one YAML file plus one registered function.

A toy analysis (a random-intercept model of arm x time cell means with its own prior) is
added as one spec in a temporary copy of ``models/`` and one function registered with
:func:`imr_bayes.register_kind`. Without any other module being edited it is fitted by
``imr_bayes.fit``, joins the comparison table through its spec's published map (Table 3's
IMR - CAU differences), and appears in the main run and its report. The same run object gives
the comparison table of the report, of ``imr-bayes compare`` and of the API.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import imr_bayes
from imr_bayes import registry
from imr_bayes.paths import models_dir

TOY_SPEC = """\
name: toy
description: Arm x time cell means with a random participant intercept (a toy).
model: toy_cells
outcomes: all
main_run: primary
order: 5
published: {sample: itt}
estimands:
  - name: difference
    times: [1, 2]
    treatment: true
    published: {table: marginal_means, statistic: diff}
priors:
  cell_mean: {dist: Normal, kwargs: {mu: 0, sigma: 1}}
  sigma_participant: {dist: HalfNormal, kwargs: {sigma: 1}}
  sigma_residual: {dist: HalfNormal, kwargs: {sigma: 1}}
sampler: {backend: pyfunc, draws: 150, tune: 150, chains: 2, cores: 2, target_accept: 0.9}
"""


def fit_toy(data: pd.DataFrame, request):
    """The toy kind's fit function: a PyMC model through the package's one fitting path."""
    import pymc as pm

    from imr_bayes.bayes import engine
    from imr_bayes.bayes.itt import make_panel
    from imr_bayes.bayes.marginal import block_logp_pt

    spec = request.spec
    panel = make_panel(data, request.outcome)
    cell = (panel.treated[:, None] * 3 + np.arange(3)[None, :]).astype(np.int64)
    priors = spec.resolved_priors()

    def build():
        labels = [f"{a}_t{t}" for a in ("cau", "imr") for t in range(3)]
        with pm.Model(coords={"arm_time": labels}) as model:
            d = {k: pm.Data(k, v) for k, v in (("z", panel.z), ("mask", panel.mask),
                                                ("cell", cell))}
            p = priors["cell_mean"]
            mu = getattr(pm, p["dist"])("mu", **p["kwargs"], dims="arm_time")
            sp = pm.HalfNormal("sigma_participant", **priors["sigma_participant"]["kwargs"])
            sr = pm.HalfNormal("sigma_residual", **priors["sigma_residual"]["kwargs"])
            resid = d["z"] - mu[d["cell"]]
            rv = pm.math.ones_like(d["z"][:, 0]) * sr**2
            pm.Potential("loglik", block_logp_pt(resid, d["mask"], rv, sp**2).sum())
        return model

    compiled = engine.compiled({"kind": "toy_cells", "priors": priors}, build, spec.sampler)
    post, stats = engine.sample(compiled.with_data({"z": panel.z, "mask": panel.mask,
                                                    "cell": cell}), spec.sampler, request.seed)
    mu = engine.flat(post, "mu") * panel.scale + panel.center
    quantities = [({"estimand": "difference", "time": t}, mu[:, 3 + t] - mu[:, t])
                  for t in (1, 2)]
    return engine.assemble(data, request, posterior=post, sample_stats=stats, groups={},
                           quantities=quantities, var_names=["mu", "sigma_participant",
                                                             "sigma_residual"],
                           priors=priors, n_rows=panel.n_rows,
                           n_participants=len(panel.participants))


@pytest.fixture(scope="module")
def toy_models(tmp_path_factory):
    """A copy of models/ with the toy spec, and the toy kind registered (removed after)."""
    folder = tmp_path_factory.mktemp("models") / "models"
    shutil.copytree(models_dir(), folder)
    (folder / "analyses" / "toy.yaml").write_text(TOY_SPEC)
    mp = pytest.MonkeyPatch()
    mp.setenv("IMR_BAYES_MODELS", str(folder))
    registry.register_kind("toy_cells", fit=fit_toy,
                           priors=("cell_mean", "sigma_participant", "sigma_residual"))
    yield folder
    registry.unregister_kind("toy_cells")
    mp.undo()


def test_the_toy_is_an_analysis(toy_models):
    assert registry.names()[0] == "toy"  # its spec's order puts it first
    spec = registry.get("toy")
    assert spec.model == "toy_cells" and spec.prior_names == (
        "cell_mean", "sigma_participant", "sigma_residual")
    with pytest.raises(imr_bayes.SpecError, match=r"unknown toy_cells prior 'sigma'"):
        registry.get("toy").with_overrides(priors={"sigma": spec.priors["cell_mean"]})


@pytest.fixture(scope="module")
def toy_run(toy_models):
    """The main run restricted to the toy and ITT on one outcome, fits and comparison."""
    settings = imr_bayes.RunSettings(quick=True, outcomes=("imrs_client", "sers_sf"),
                                     analyses=("toy", "itt"))
    return imr_bayes.reanalyze(settings, stages=("comparison",),
                               options={"pooling": False})


def test_the_toy_is_fitted_and_compared(toy_run):
    fit = toy_run.fits[("toy", "imrs_client")]
    assert fit.diagnostics.summary()["max_r_hat"] < 1.05
    diff = fit.estimates.row("difference", time=2)
    table = toy_run.comparison
    toy = table[table["analysis"] == "toy"].set_index("time")
    assert list(toy.index) == [1, 2]
    # the published side comes through the toy's spec: Table 3, IMRS client at 18 months
    assert toy.loc[2, "published_reference"] == "Table 3"
    assert toy.loc[2, "published_estimate"] == 0.17
    assert toy.loc[2, "posterior_estimate"] == diff["estimate"]
    assert toy.loc[2, "frequentist_estimate"] == pytest.approx(0.163, abs=0.01)
    # the toy's cell-means difference and ITT's model-implied one agree on the twin
    itt = table[(table["analysis"] == "itt") & (table["estimand"] == "difference")
                & (table["outcome"] == "imrs_client")].set_index("time")
    assert abs(toy.loc[2, "posterior_estimate"] - itt.loc[2, "posterior_estimate"]) < 0.1


def test_the_toy_is_in_the_report(toy_run, tmp_path):
    from imr_bayes.report import write_report

    folder = write_report(toy_run, tmp_path)
    diag = pd.read_csv(folder / "tables" / "fits__diagnostics.csv")
    assert ("toy", "imrs_client") in set(zip(diag["analysis"], diag["outcome"], strict=True))
    assert (folder / "tables" / "comparison__outcomes_toy.csv").is_file()
    assert "toy" in (folder / "index.html").read_text()


ARGS = ["--quick", "--outcomes", "sers_sf", "--analyses", "itt", "--seed", "7"]


@pytest.fixture(scope="module")
def api_run():
    return imr_bayes.reanalyze(imr_bayes.RunSettings(quick=True, outcomes=("sers_sf",),
                                                     analyses=("itt",), seed=7),
                               stages=("comparison",))


def test_report_and_compare_cli_show_the_api_comparison_table(api_run, tmp_path):
    """The report renders the run's table; ``imr-bayes compare`` computes the same one."""
    from imr_bayes.cli import main
    from imr_bayes.comparison import write_comparison
    from imr_bayes.report import write_report

    api_csv = write_comparison(api_run.comparison, tmp_path / "api")["csv"]
    folder = write_report(api_run, tmp_path / "rep")
    assert main(["compare", *ARGS, "--out", str(tmp_path / "cmp")]) == 0
    api_table = pd.read_csv(api_csv)
    pd.testing.assert_frame_equal(
        api_table, pd.read_csv(folder / "tables" / "comparison__comparison.csv"))
    pd.testing.assert_frame_equal(api_table, pd.read_csv(tmp_path / "cmp" / "comparison.csv"))
    assert len(api_table) == 3  # condition x time and the differences at 12 and 18 months


@pytest.mark.slow
def test_full_reanalyze_cli_gives_the_same_comparison_table(api_run, tmp_path):
    from imr_bayes.cli import main

    assert main(["reanalyze", *ARGS, "--no-progress", "--out", str(tmp_path)]) == 0
    report = pd.read_csv(next(tmp_path.glob("*/tables/comparison__comparison.csv")))
    pd.testing.assert_frame_equal(report, api_run.comparison.pipe(
        lambda t: pd.read_csv(__import__("io").StringIO(t.to_csv(index=False)))))


def test_models_folder_is_read_from_the_environment(toy_models):
    assert Path(models_dir()) == toy_models
