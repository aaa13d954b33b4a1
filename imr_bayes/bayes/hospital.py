"""Hospitalization (logistic regression, OR 1.22) and length of stay (hurdle Student-t).

``analysis="hospitalization"``: the counterpart of the paper's logistic regression of a
hospitalization in the year after T2 on the arm, adjusted for a hospitalization in the year
before T1 (OR = 1.22, 95 % CI 0.44-3.42)::

    hosp_after_i ~ Bernoulli(logistic(a + b_imr imr_i + b_before hosp_before_i))

Estimands: ``odds_ratio`` = exp(b_imr), ``log_odds_ratio``, ``odds_ratio_hosp_before`` and
``risk_difference`` (IMR - CAU, standardized over the sample's ``hosp_before``).

``analysis="los"``: the counterpart of the Mann-Whitney test of the length-of-stay
difference scores ``d_i = los_after - los_before`` (days). Most participants were in hospital
in neither year, so ``d_i = 0`` exactly for most, and the rest have heavy tails of both
signs. A hurdle Student-t model takes both features literally::

    P(d_i != 0) = logistic(h_arm)
    d_i | d_i != 0 ~ StudentT(nu, mu_arm, sigma_arm),   nu = 1 + nu_minus_one

The t likelihood lets a few very long stays move the locations little (robust), the hurdle
keeps the zeros from collapsing the scale, and the model still has a mean per arm,
``p_arm * mu_arm``, to set beside the published means (-7.72 vs -4.46 days). Estimands:
``los_difference`` (IMR - CAU mean difference score), ``los_mean`` per arm, ``p_nonzero``
per arm and ``prob_superiority`` = P(D_imr < D_cau) + P(tie)/2 for a random pair (the
probability that IMR is better: fewer days), the model version of 1 - U_imr / (n_imr n_cau)
with U_imr the Mann-Whitney count of pairs where the IMR score is larger.
``docs/completion_fidelity.md`` gives why not an ordinal or a plain Student-t model.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from imr_bayes.constants import ARMS
from imr_bayes.errors import DataValidationError

#: Draws of random pairs per posterior draw behind ``prob_superiority``.
PAIR_DRAWS: int = 400


def _people(data: pd.DataFrame, columns: tuple[str, ...]) -> pd.DataFrame:
    missing = [c for c in ("participant_id", "arm", *columns) if c not in data.columns]
    if missing:
        raise DataValidationError([f"missing column {c!r}" for c in missing])
    per = data.drop_duplicates("participant_id")
    bad = sorted(set(per["arm"].astype(str)) - set(ARMS))
    if bad:
        raise DataValidationError([f"arm values {bad} not in {list(ARMS)}"])
    out = pd.DataFrame({"arm": per["arm"].astype(str).to_numpy()})
    for c in columns:
        out[c] = pd.to_numeric(per[c], errors="coerce").to_numpy(float)
    out = out.dropna().reset_index(drop=True)
    if out.empty or out["arm"].nunique() < 2:
        raise DataValidationError([f"{', '.join(columns)}: need observed values in both arms"])
    return out


def _prior(pm: Any, name: str, prior: dict[str, Any], **kw: Any):
    return getattr(pm, prior["dist"])(name, **prior["kwargs"], **kw)


def build_logit_model(priors: dict[str, dict[str, Any]], y: np.ndarray, imr: np.ndarray,
                      before: np.ndarray, *, adjustment: str = "hosp_before"):
    """PyMC logistic regression of ``y`` on ``imr`` and ``before`` (data as ``pm.Data``).

    ``adjustment`` names the adjustment column (its coefficient is
    ``log_odds_ratio_<adjustment>``, prior ``log_odds_ratio_adjustment``).
    """
    import pymc as pm

    with pm.Model() as model:
        d = {"y": pm.Data("y", y), "imr": pm.Data("imr", imr),
             "before": pm.Data("before", before)}
        a = _prior(pm, "intercept", priors["intercept"])
        b = _prior(pm, "log_odds_ratio", priors["log_odds_ratio"])
        c = _prior(pm, f"log_odds_ratio_{adjustment}", priors["log_odds_ratio_adjustment"])
        eta = a + b * d["imr"] + c * d["before"]
        pm.Potential("loglik", pm.logp(pm.Bernoulli.dist(logit_p=eta), d["y"]).sum())
    return model


def _logit_loglik(y: np.ndarray, eta: np.ndarray) -> np.ndarray:
    return -np.logaddexp(0.0, np.where(y > 0, -eta, eta))


def fit_logistic(data: pd.DataFrame, request) -> Any:
    """Fit the ``logistic`` kind: a 0/1 response on the arm, adjusted for a 0/1 covariate.

    For the hospitalization analysis: ``hosp_after`` on the arm and ``hosp_before``.

    Returns
    -------
    imr_bayes.bayes.api.BayesianFit
        ``outcome`` is the spec's ``response``; estimands ``odds_ratio`` (scale ``ratio``),
        ``log_odds_ratio``, ``odds_ratio_<adjust_for>``, ``risk_difference``.
    """
    import xarray as xr

    from imr_bayes.bayes import engine

    spec = request.spec
    response, adjust = spec.response, spec.adjust_for
    per = _people(data, (adjust, response))
    y = per[response].to_numpy(float)
    if not np.isin(y, (0.0, 1.0)).all() or not np.isin(per[adjust], (0.0, 1.0)).all():
        raise DataValidationError([f"{adjust} and {response} must be 0/1"])
    imr = (per["arm"] == "imr").to_numpy(float)
    before = per[adjust].to_numpy(float)
    priors = spec.resolved_priors()
    compiled = engine.compiled(
        {"kind": "logistic", "adjustment": adjust, "priors": priors},
        lambda: build_logit_model(priors, y, imr, before, adjustment=adjust), spec.sampler)
    compiled = compiled.with_data({"y": y, "imr": imr, "before": before})
    post_raw, stats = engine.sample(compiled, spec.sampler, request.seed)
    coef_c = f"log_odds_ratio_{adjust}"
    a, b, c = (engine.flat(post_raw, n) for n in ("intercept", "log_odds_ratio", coef_c))
    eta = a[:, None] + b[:, None] * imr[None] + c[:, None] * before[None]
    p1 = 1 / (1 + np.exp(-(a[:, None] + b[:, None] + c[:, None] * before[None])))
    p0 = 1 / (1 + np.exp(-(a[:, None] + c[:, None] * before[None])))
    risk_diff = (p1 - p0).mean(axis=1)
    posterior = engine.dataset({
        "intercept": ((), a), "log_odds_ratio": ((), b), coef_c: ((), c),
        "odds_ratio": ((), np.exp(b)), "risk_difference": ((), risk_diff)}, post_raw)
    quantities = [
        ({"estimand": "odds_ratio"}, np.exp(b)),
        ({"estimand": "log_odds_ratio"}, b),
        ({"estimand": f"odds_ratio_{adjust}", "scale": "ratio", "null": 1.0}, np.exp(c)),
        ({"estimand": "risk_difference"}, risk_diff),
    ]
    groups = {
        "log_likelihood": xr.Dataset(
            {"y": (("chain", "draw", "participant"),
                   engine.chain_draw(_logit_loglik(y[None], eta), post_raw))}),
        "observed_data": xr.Dataset({"y": ("participant", y)}),
        "constant_data": xr.Dataset({"imr": ("participant", imr),
                                     adjust: ("participant", before)}),
    }
    return engine.assemble(data, request, posterior=posterior, sample_stats=stats,
                           groups=groups, quantities=quantities,
                           var_names=["intercept", "log_odds_ratio", coef_c], priors=priors,
                           n_rows=len(per), n_participants=len(per), outcome=response)


def build_los_model(priors: dict[str, dict[str, Any]], d: np.ndarray, arm_idx: np.ndarray):
    """PyMC hurdle Student-t model of the difference scores ``d`` (arm index 0 imr, 1 cau)."""
    import pymc as pm
    import pytensor.tensor as pt

    with pm.Model(coords={"arm": list(ARMS)}) as model:
        data = {"d": pm.Data("d", d), "arm_idx": pm.Data("arm_idx", arm_idx)}
        h = _prior(pm, "nonzero_logit", priors["nonzero_logit"], dims="arm")
        mu = _prior(pm, "location", priors["location"], dims="arm")
        sigma = _prior(pm, "scale", priors["scale"], dims="arm")
        nu_m1 = _prior(pm, "nu_minus_one", priors["nu_minus_one"])
        k = data["arm_idx"]
        nonzero = pt.neq(data["d"], 0.0)
        eta = h[k]
        logp_t = pm.logp(pm.StudentT.dist(nu=nu_m1 + 1.0, mu=mu[k], sigma=sigma[k]),
                         data["d"])
        ll = pt.switch(nonzero, -pt.log1pexp(-eta) + logp_t, -pt.log1pexp(eta))
        pm.Potential("loglik", ll.sum())
    return model


def _superiority(p: np.ndarray, mu: np.ndarray, sigma: np.ndarray, nu: np.ndarray,
                 rng: np.random.Generator) -> np.ndarray:
    """P(D_imr < D_cau) + P(D_imr = D_cau) / 2 per draw, by simulating random pairs."""
    n_draw = len(nu)
    shape = (n_draw, PAIR_DRAWS)
    out = []
    for a in range(2):
        nz = rng.random(shape) < p[:, a, None]
        t = mu[:, a, None] + sigma[:, a, None] * rng.standard_t(nu[:, None], size=shape)
        out.append(np.where(nz, t, 0.0))
    d_imr, d_cau = out
    return ((d_imr < d_cau) + 0.5 * (d_imr == d_cau)).mean(axis=1)


def fit_hurdle(data: pd.DataFrame, request) -> Any:
    """Fit the ``hurdle`` kind: hurdle Student-t of difference scores ``after - before``.

    For the length-of-stay analysis: ``los_after - los_before`` (days).

    Returns
    -------
    imr_bayes.bayes.api.BayesianFit
        ``outcome`` is the spec's ``response`` (``los_difference``); estimands
        ``los_difference`` (days, IMR - CAU), ``los_mean`` and ``p_nonzero`` per arm,
        ``location_difference`` (IMR - CAU among non-zero scores), ``prob_superiority``,
        ``nu``.
    """
    import xarray as xr
    from scipy import stats as sps

    from imr_bayes.bayes import engine

    spec = request.spec
    per = _people(data, (spec.before, spec.after))
    per = pd.DataFrame({"arm": per["arm"], "d": per[spec.after] - per[spec.before]})
    d = per["d"].to_numpy(float)
    arm_idx = np.where(per["arm"].to_numpy() == "imr", 0, 1).astype(np.int64)
    for a, arm in enumerate(ARMS):
        if ((arm_idx == a) & (d != 0)).sum() < 2:
            raise DataValidationError([f"{spec.response}: arm {arm!r} has fewer than 2 "
                                       "non-zero difference scores"])
    priors = spec.resolved_priors()
    compiled = engine.compiled({"kind": "hurdle", "priors": priors},
                               lambda: build_los_model(priors, d, arm_idx), spec.sampler)
    compiled = compiled.with_data({"d": d, "arm_idx": arm_idx})
    post_raw, stats = engine.sample(compiled, spec.sampler, request.seed)
    h, mu, sigma = (engine.flat(post_raw, n) for n in ("nonzero_logit", "location", "scale"))
    nu = engine.flat(post_raw, "nu_minus_one") + 1.0
    p = 1 / (1 + np.exp(-h))
    means = p * mu
    rng = np.random.default_rng([request.seed, 2])
    sup = _superiority(p, mu, sigma, nu, rng)
    posterior = engine.dataset({
        "nonzero_logit": (("arm",), h), "location": (("arm",), mu), "scale": (("arm",), sigma),
        "nu": ((), nu), "p_nonzero": (("arm",), p), "los_mean": (("arm",), means),
        "los_difference": ((), means[:, 0] - means[:, 1]),
        "prob_superiority": ((), sup)}, post_raw, {"arm": list(ARMS)})
    quantities = [({"estimand": "los_difference"}, means[:, 0] - means[:, 1])]
    for a, arm in enumerate(ARMS):
        quantities.append(({"estimand": "los_mean", "arm": arm, "scale": "days"}, means[:, a]))
        quantities.append(({"estimand": "p_nonzero", "arm": arm, "scale": "probability"},
                           p[:, a]))
    quantities += [
        ({"estimand": "location_difference"}, mu[:, 0] - mu[:, 1]),
        ({"estimand": "prob_superiority"}, sup),
        ({"estimand": "nu", "scale": "df"}, nu),
    ]
    k = arm_idx
    logp_t = sps.t.logpdf(d[None], df=nu[:, None], loc=mu[:, k], scale=sigma[:, k])
    eta = h[:, k]
    ll = np.where(d[None] != 0, -np.logaddexp(0.0, -eta) + logp_t, -np.logaddexp(0.0, eta))
    groups = {
        "log_likelihood": xr.Dataset({"y": (("chain", "draw", "participant"),
                                            engine.chain_draw(ll, post_raw))}),
        "observed_data": xr.Dataset({"y": ("participant", d)}),
        "constant_data": xr.Dataset({"arm_index": ("participant", arm_idx)}),
    }
    return engine.assemble(data, request, posterior=posterior, sample_stats=stats,
                           groups=groups, quantities=quantities,
                           var_names=["nonzero_logit", "location", "scale", "nu"],
                           priors=priors, n_rows=len(d), n_participants=len(d),
                           outcome=spec.response)
