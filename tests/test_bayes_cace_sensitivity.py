"""CACE without the exclusion restriction: never-taker effect rho, scaled priors, sensitivity.

References: hand-computed mixture likelihoods (scipy multivariate normal densities) and prior
densities (scipy normal), the paper's completer share, and, in the slow tier, data with a
planted never-taker effect (``bench/cace_simulation.py``). The fast tests do not sample: the
sensitivity function, its stage and its report section are exercised with stand-in fits.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import imr_bayes
from imr_bayes.bayes.completion import (
    SCALED_TERMS,
    SENSITIVITY_COLUMNS,
    SENSITIVITY_RHOS,
    CacePanel,
    CaceSensitivity,
    build_cace_model,
    cace_loglik,
    cace_priors,
    cace_sensitivity,
    cace_structure,
    scaled_priors,
)
from imr_bayes.bayes.itt import make_panel
from imr_bayes.errors import SpecError
from imr_bayes.estimates import Estimates
from imr_bayes.reanalysis import (
    STAGES,
    FitRecord,
    Fits,
    Reanalysis,
    RunContext,
    RunSettings,
    StageResult,
)
from imr_bayes.registry import FitRequest
from imr_bayes.report import sections
from imr_bayes.spec import PriorSet, load_analysis, load_prior_set

#: Data inputs of the CACE graph before the never-taker effect and the prior scaling.
LEGACY_DATA = {"z", "mask", "treated", "complier_obs", "W", "group_idx", "group_on"}


def _tiny_cace() -> CacePanel:
    """Two IMR participants (one complier) and two controls; pi_hat = 1/2."""
    rows = [
        ("A", "imr", "G01", True, [3.6, 3.9, 4.1]),
        ("B", "imr", "G02", False, [3.0, 3.4, np.nan]),
        ("C", "cau", None, None, [3.4, 3.5, 3.3]),
        ("D", "cau", None, None, [2.9, np.nan, 3.2]),
    ]
    long = []
    for pid, arm, grp, comp, ys in rows:
        for t, y in enumerate(ys):
            long.append({"participant_id": pid, "arm": arm, "time": t, "imr_group": grp,
                         "completer": comp, "imrs_client": y})
    df = pd.DataFrame(long)
    df["completer"] = df["completer"].astype("boolean")
    return CacePanel(panel=make_panel(df, "imrs_client"),
                     complier=np.array([1.0, 0.0, 0.0, 0.0]),
                     W=np.array([[0.5], [-1.0], [1.5], [0.2]]), covariate_names=("x",))


def _request(spec, prior_set: str | PriorSet = "default") -> FitRequest:
    ps = load_prior_set(prior_set) if isinstance(prior_set, str) else prior_set
    return FitRequest(analysis="cace", outcome="imrs_client", spec=spec, prior_set=ps, seed=1)


# --- the spec ---------------------------------------------------------------------------

def test_rho_and_prior_scaling_are_typed_fields_of_the_cace_kind():
    spec = load_analysis("cace")
    assert spec.never_taker_effect_ratio == 0.0 and spec.scale_effect_priors is True
    assert "exclusion restriction" in spec.label and ">= 50 %" in spec.label
    assert spec.with_overrides(never_taker_effect_ratio=0.25).never_taker_effect_ratio == 0.25
    for bad in (-0.1, 1.5):
        with pytest.raises(SpecError, match="never_taker_effect_ratio"):
            spec.with_overrides(never_taker_effect_ratio=bad)
    with pytest.raises(SpecError, match="Did you mean .never_taker_effect_ratio"):
        spec.with_overrides(never_taker_ratio=0.5)


# --- graph structure, prior scales, likelihood (no sampling) ----------------------------

def test_graph_parts_and_prior_scales():
    cp = _tiny_cace()
    assert cp.observed_complier_share == 0.5
    base = load_analysis("cace")
    legacy = base.with_overrides(scale_effect_priors=False)
    assert cace_structure(legacy) == {"never_taker_effect": False, "scaled_priors": False}
    assert set(cp.model_data(legacy)) == LEGACY_DATA  # the graph of the pinned fits
    assert cp.effect_prior_scales(legacy) == dict.fromkeys(SCALED_TERMS, 1.0)
    # rho = 0: the slope carries pi of the ITT effect; rho = 0.5: pi + (1 - pi) / 2
    assert cp.effect_prior_scales(base) == {"cace_condition": 0.5,
                                            "cace_condition_x_time": 0.5}
    half = base.with_overrides(never_taker_effect_ratio=0.5)
    assert cp.effect_prior_scales(half) == {"cace_condition": 0.5,
                                            "cace_condition_x_time": 0.75}
    data = cp.model_data(half)
    assert set(data) - LEGACY_DATA == {"never_taker_effect_ratio", "prior_scale_cace_condition",
                                       "prior_scale_cace_condition_x_time"}
    assert data["never_taker_effect_ratio"].tolist() == [0.5]
    assert data["prior_scale_cace_condition_x_time"].tolist() == [0.75]


def test_likelihood_and_priors_with_a_never_taker_effect_by_hand():
    cp = _tiny_cace()
    p = cp.panel
    rho = 0.5
    spec = load_analysis("cace").with_overrides(never_taker_effect_ratio=rho)
    par = {"intercept": 0.1, "time": 0.05, "complier": 0.3, "complier_x_time": 0.1,
           "cace_condition": -0.05, "cace_condition_x_time": 0.2, "sigma_residual": 0.6,
           "sigma_participant": 0.8, "compliance_intercept": -0.2,
           "compliance_coef": np.array([0.7]), "sigma_group": 0.3,
           "group_raw": np.array([1.0, -0.5])}
    draws = {k: np.atleast_1d(v)[None] if np.ndim(v) else np.array([v])
             for k, v in par.items()}
    ll, _ = cace_loglik(cp, draws, rho=rho)

    def block(z, mean):
        keep = np.isfinite(z)
        cov = par["sigma_residual"] ** 2 * np.eye(int(keep.sum())) + par["sigma_participant"] ** 2
        return stats.multivariate_normal(mean[keep], cov).logpdf(z[keep])

    t = np.arange(3.0)
    want = []
    for i in range(4):
        z = (p.y[i] - p.center) / p.scale
        treated = p.treated[i] > 0
        mu0 = par["intercept"] + par["time"] * t
        mu1 = mu0 + par["complier"] + par["complier_x_time"] * t
        if treated:  # never-takers randomized to IMR gain rho x tau per step
            mu0 = mu0 + rho * par["cace_condition_x_time"] * t
            g = par["sigma_group"] * par["group_raw"][p.group_idx[i]] * (t > 0)
            mu1 = mu1 + par["cace_condition"] + par["cace_condition_x_time"] * t + g
        pi = 1 / (1 + np.exp(-(par["compliance_intercept"] + 0.7 * cp.W[i, 0])))
        l1, l0 = np.log(pi) + block(z, mu1), np.log(1 - pi) + block(z, mu0)
        want.append((l1 if cp.complier[i] else l0) if treated else np.logaddexp(l1, l0))
    np.testing.assert_allclose(ll[0], want, rtol=1e-10)

    priors = cace_priors(_request(spec))
    model = build_cace_model(cp, spec, priors)
    model.set_data("never_taker_effect_ratio", cp.model_data(spec)["never_taker_effect_ratio"])
    expr = model.replace_rvs_by_values([model.potentials[0]])[0]
    fn = model.compile_fn(expr, inputs=model.value_vars, point_fn=True)
    point = {k: v for k, v in par.items() if not k.startswith("sigma")}
    point.update({f"{k}_log__": np.log(v) for k, v in par.items() if k.startswith("sigma")})
    assert float(fn(point)) == pytest.approx(float(np.sum(want)), rel=1e-9)
    # the scaled priors: ITT prior N(0, 0.5) over kappa = 0.75 (slope) and 0.5 (baseline)
    for name, kappa in (("cace_condition_x_time", 0.75), ("cace_condition", 0.5)):
        logp = model.compile_logp(vars=[model[name]])(point)
        assert float(logp) == pytest.approx(stats.norm(0, 0.5 / kappa).logpdf(point[name]))
    assert float(model.compile_logp(vars=[model["complier"]])(point)) == pytest.approx(
        stats.norm(0, 0.5).logpdf(point["complier"]))  # stratum differences: not scaled


def test_recorded_priors_are_the_scaled_ones_and_need_location_and_scale():
    spec = load_analysis("cace")
    enthusiastic = cace_priors(_request(spec, "enthusiastic"))
    out = scaled_priors(enthusiastic, {"cace_condition": 0.5, "cace_condition_x_time": 0.8})
    slope = enthusiastic["cace_condition_x_time"]["kwargs"]
    assert out["cace_condition_x_time"]["kwargs"] == pytest.approx(
        {"mu": slope["mu"] / 0.8, "sigma": slope["sigma"] / 0.8})
    assert out["complier_x_time"] == enthusiastic["complier_x_time"]
    raw = load_prior_set("default").model_dump(mode="python")
    raw["priors"]["condition_x_time"] = {"dist": "Exponential", "kwargs": {"lam": 1.0}}
    with pytest.raises(SpecError, match="location-scale prior"):
        cace_priors(_request(spec, PriorSet(**raw)))


# --- the sensitivity function, its stage and its report section (stand-in fits) ---------

def _stand_in_fit(rho: float, *, cace: float = 0.1, passed: bool = True):
    """A fit-shaped object of the cace analysis at ``rho`` (real spec and Estimates)."""
    rng = np.random.default_rng(int(100 * rho))
    draws = rng.normal(cace, 0.05, 400)
    spec = load_analysis("cace").with_overrides(never_taker_effect_ratio=rho)
    share = np.full(400, 0.5)
    est = Estimates.from_draws(
        {"analysis": "cace", "outcome": "imrs_client", "n_rows": 10, "n_participants": 4},
        [({"estimand": "cace_condition_x_time", "sign": 1}, draws),
         ({"estimand": "cace_condition_x_time_d", "scale": "d", "sign": 1}, 2 * draws),
         ({"estimand": "itt_condition_x_time_implied", "sign": 1},
          (share + (1 - share) * rho) * draws),
         ({"estimand": "complier_share", "scale": "probability"}, share)])
    kappa = 0.5 + 0.5 * rho
    priors = {"cace_condition_x_time": {"dist": "Normal",
                                        "kwargs": {"mu": 0.0, "sigma": 0.5 / kappa}}}
    diag = SimpleNamespace(passed=passed, summary=lambda: {
        "max_r_hat": 1.001, "min_ess_bulk": 900.0, "min_ess_tail": 800.0, "divergences": 0})
    return SimpleNamespace(spec=spec, estimates=est, diagnostics=diag, outcome="imrs_client",
                           idata=SimpleNamespace(attrs={"priors": json.dumps(priors)}))


def test_sensitivity_table_from_given_fits():
    fits = tuple(_stand_in_fit(r, cace=0.1 / (1 + r)) for r in SENSITIVITY_RHOS)
    res = cace_sensitivity(None, "imrs_client", existing=fits)
    t = res.table
    assert list(t.columns) == list(SENSITIVITY_COLUMNS)
    assert t["rho"].tolist() == list(SENSITIVITY_RHOS)
    np.testing.assert_allclose(t["never_taker_effect"], t["rho"] * t["cace"])
    np.testing.assert_allclose(t["cace_d"], 2 * t["cace"])
    np.testing.assert_allclose(t["prior_sd_d"], 0.5 / (0.5 + 0.5 * t["rho"]))
    assert (t["diagnostics"] == "passed").all()
    assert res.label == load_analysis("cace").label and res.outcome == "imrs_client"


def test_stage_reuses_the_main_run_fit_and_the_section_renders(monkeypatch):
    from imr_bayes import stages

    calls = []

    def fake_fit(data, *, analysis, outcome, never_taker_effect_ratio, **kw):
        calls.append((analysis, outcome, never_taker_effect_ratio, kw))
        return _stand_in_fit(never_taker_effect_ratio, passed=never_taker_effect_ratio < 0.5)

    monkeypatch.setattr(imr_bayes, "fit", fake_fit)
    settings = RunSettings(quick=True, seed=7, outcomes=("imrs_client", "bsi"))
    ctx = RunContext(settings=settings, progress=lambda e: None, _data=pd.DataFrame())
    ctx.results["fits"] = StageResult(value=Fits((
        FitRecord("cace", "imrs_client", _stand_in_fit(0.0)),
        FitRecord("itt", "imrs_client", SimpleNamespace()))))
    res = stages.cace_sensitivity(ctx)
    # rho = 0 comes from the main run; the others are fitted with the run's seed and draws
    assert [(a, o, r) for a, o, r, _ in calls] == [("cace", "imrs_client", 0.25),
                                                   ("cace", "imrs_client", 0.5)]
    assert calls[0][3] == {"seed": 7, **settings.sampling}
    assert res.status == "warning" and "1 of 3" in res.message
    assert isinstance(res.value, CaceSensitivity)

    assert "cace_sensitivity" in {s.key for s in STAGES}
    assert "cace_sensitivity" in {s.key for s in sections.SECTIONS}
    run = Reanalysis(run_id="t", settings=settings, started="2026-01-01T00:00:00", seconds=1.0,
                     stages={"cace_sensitivity": res})
    view = sections.cace_sensitivity(run)
    assert view.status == "warning"
    assert view.tables["cace_sensitivity"].equals(res.value.table)
    assert len(view.figures) == 1 and view.figures[0].png.startswith(b"\x89PNG")
    assert "exclusion restriction" in view.text[0]
    assert [r["rho"] for r in view.summary["rows"]] == list(SENSITIVITY_RHOS)
    off = RunSettings(analyses=("itt",))
    assert stages.cace_sensitivity(RunContext(settings=off, progress=lambda e: None)
                                   ).status == "unavailable"


# --- slow: a planted violation of the exclusion restriction -----------------------------

@pytest.mark.slow
def test_planted_never_taker_effect_biases_rho_0_and_not_the_true_rho():
    """Replicates 0-2 of ``bench/cace_simulation.py --rho-true 0.5`` (its seeds and settings).

    Never-takers randomized to IMR gain 0.5 x the compliers' effect of 0.25 SD per step. The
    fit at the true rho covers 0.25 in each replicate; the fit under the exclusion
    restriction (rho = 0) credits the never-takers' gain to the compliers, so on the same
    data it lies above the true-rho fit (in the full simulation by +0.09 SD per step on
    average, docs/completion_fidelity.md).
    """
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
    from cace_simulation import TAU, run

    res = run(3, 20261126, 500, 500, 2, rho_true=0.5, fit_rhos=(0.0, 0.5))
    wide = res.pivot(index="replicate", columns="rho", values="mean")
    true_rho = res[res["rho"] == 0.5]
    assert true_rho["covered"].all(), true_rho
    assert (wide[0.0] - wide[0.5]).mean() > 0, wide
    assert (res["divergences"] == 0).all()
    assert (res["truth"] == TAU).all() and TAU == 0.25  # the docstring's planted effect
