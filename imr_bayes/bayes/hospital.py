"""Hospitalization (logistic regression, OR 1.22) and length of stay (hurdle log-normal).

``analysis="hospitalization"``: the counterpart of the paper's logistic regression of a
hospitalization in the year after T2 on the arm, adjusted for a hospitalization in the year
before T1 (OR = 1.22, 95 % CI 0.44-3.42)::

    hosp_after_i ~ Bernoulli(logistic(a + b_imr imr_i + b_before hosp_before_i))

Estimands: ``odds_ratio`` = exp(b_imr), ``log_odds_ratio``, ``odds_ratio_hosp_before`` and
``risk_difference`` (IMR - CAU, standardized over the sample's ``hosp_before``).

``analysis="los"``: days in hospital in the year after 12 months, ``los_after``, adjusted for
the days in the year before baseline, ``los_before``, and the lifetime length of
hospitalization of Table 1 (> 1 year: 30 % IMR vs 14 % CAU, an imbalance the paper's
difference scores ignore). Most participants spent no day in hospital, the rest a few days to
a whole year, so a hurdle log-normal model (Mullahy 1986; Cragg 1971)::

    P(y_i > 0)         = logistic(a + b imr_i + x_i' g)
    log y_i | y_i > 0  ~ N(c + e imr_i + x_i' h, s^2),   truncated at y_i <= 366 days

with x_i the z-scored baseline design (any stay before, log(1 + los_before), the lifetime
length dummies). The estimands are response-scale means by g-computation (standardization over
the sample's own baselines; Robins 1986, Snowden et al. 2011): for each posterior draw and each
participant, the mean under each arm, P(y > 0) x E[y | y > 0] with the truncated log-normal
mean in closed form, averaged over the sample. ``los_mean`` per arm, ``los_difference`` (IMR -
CAU, days) and ``los_ratio``; ``los_change`` per arm (``los_mean`` minus the sample's mean
``los_before``, the adjusted counterpart of the paper's mean difference scores -7.72 and
-4.46); ``p_any_stay`` per arm and its difference; ``prob_superiority`` = P(D_imr < D_cau) +
P(tie)/2 for the change scores D = after - before of two random participants of the sample,
one under each arm (the model version of 1 - U_imr / (n_imr n_cau) of the paper's Mann-Whitney
test, with both arms standardized to the same baselines). ``docs/completion_fidelity.md`` gives
the reasons.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from imr_bayes.constants import ARMS
from imr_bayes.errors import DataValidationError

#: Draws of random pairs per posterior draw behind ``prob_superiority``.
PAIR_DRAWS: int = 400


def _people(data: pd.DataFrame, columns: tuple[str, ...], extra: tuple[str, ...] = ()
            ) -> pd.DataFrame:
    """Return one row per participant: ``arm``, numeric ``columns``, ``extra`` columns.

    Rows with a missing value in ``columns`` are dropped; the ``extra`` columns are kept as
    they are (missing values included).
    """
    missing = [c for c in ("participant_id", "arm", *columns, *extra) if c not in data.columns]
    if missing:
        raise DataValidationError([f"missing column {c!r}" for c in missing])
    per = data.drop_duplicates("participant_id")
    bad = sorted(set(per["arm"].astype(str)) - set(ARMS))
    if bad:
        raise DataValidationError([f"arm values {bad} not in {list(ARMS)}"])
    out = pd.DataFrame({"arm": per["arm"].astype(str).to_numpy()})
    for c in columns:
        out[c] = pd.to_numeric(per[c], errors="coerce").to_numpy(float)
    for c in extra:
        out[c] = per[c].to_numpy()
    out = out.dropna(subset=["arm", *columns]).reset_index(drop=True)
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


def los_design(per: pd.DataFrame, baseline: str, covariates: tuple[str, ...]
               ) -> tuple[np.ndarray, tuple[str, ...]]:
    """Z-scored baseline design of the length-of-stay model, one row per participant.

    Columns: ``any_<baseline>`` (a stay in the year before), ``log1p_<baseline>`` and the
    dummies of ``covariates`` (:func:`imr_bayes.covariates.standardized_design`, missing
    category = reference). Constant columns and columns equal to an earlier one up to sign
    are dropped.

    Raises
    ------
    DataValidationError
        If no column varies.
    """
    from imr_bayes.covariates import standardized_design

    before = per[baseline].to_numpy(float)
    raw = {f"any_{baseline}": (before > 0).astype(float),
           f"log1p_{baseline}": np.log1p(before)}
    names, cols = [], []
    for name, x in raw.items():
        if x.std() > 0:
            names.append(name)
            cols.append((x - x.mean()) / x.std())
    if covariates:
        W, wnames = standardized_design(per, covariates)
        for name, x in zip(wnames, W.T, strict=True):
            if not any(np.allclose(x, c) or np.allclose(x, -c) for c in cols):
                names.append(name)
                cols.append(x)
    if not cols:
        raise DataValidationError([f"{baseline}: no baseline covariate of the length-of-stay "
                                   "model varies"])
    return np.column_stack(cols), tuple(names)


def build_los_model(priors: dict[str, dict[str, Any]], y: np.ndarray, imr: np.ndarray,
                    X: np.ndarray, columns: tuple[str, ...], *, upper: float):
    """PyMC hurdle log-normal model of ``y`` (days) on ``imr`` and the design ``X``.

    The positive part is truncated at ``upper`` days; data are ``pm.Data`` (``y``, ``imr``,
    ``X``), the covariate coefficients have dims ``covariate`` (``columns``).
    """
    import pymc as pm
    import pytensor.tensor as pt

    with pm.Model(coords={"covariate": list(columns)}) as model:
        d = {"y": pm.Data("y", y), "imr": pm.Data("imr", imr), "X": pm.Data("X", X)}
        a = _prior(pm, "any_stay_intercept", priors["any_stay_intercept"])
        b = _prior(pm, "any_stay_imr", priors["any_stay_imr"])
        g = _prior(pm, "any_stay_coef", priors["any_stay_coef"], dims="covariate")
        c = _prior(pm, "days_intercept", priors["days_intercept"])
        e = _prior(pm, "days_imr", priors["days_imr"])
        h = _prior(pm, "days_coef", priors["days_coef"], dims="covariate")
        s = _prior(pm, "days_sigma", priors["days_sigma"])
        eta = a + b * d["imr"] + pt.dot(d["X"], g)
        mu = c + e * d["imr"] + pt.dot(d["X"], h)
        positive = pt.gt(d["y"], 0.0)
        log_y = pt.log(pt.switch(positive, d["y"], 1.0))
        log_days = (pm.logp(pm.Normal.dist(mu, s), log_y) - log_y
                    - pm.logcdf(pm.Normal.dist(mu, s), np.log(upper)))
        ll = pt.switch(positive, -pt.log1pexp(-eta) + log_days, -pt.log1pexp(eta))
        pm.Potential("loglik", ll.sum())
    return model


def truncated_lognormal_mean(mu: np.ndarray, sigma: np.ndarray, upper: float) -> np.ndarray:
    """E[Y | Y > 0] of log Y ~ N(mu, sigma^2) truncated at Y <= ``upper``.

    ``exp(mu + sigma^2 / 2) Phi((ln upper - mu - sigma^2) / sigma) / Phi((ln upper - mu) /
    sigma)`` (the partial expectation of the log-normal; Johnson, Kotz & Balakrishnan 1994),
    computed on the log scale.
    """
    from scipy import special

    lu = np.log(upper)
    return np.exp(mu + sigma**2 / 2 + special.log_ndtr((lu - mu - sigma**2) / sigma)
                  - special.log_ndtr((lu - mu) / sigma))


def _los_loglik(y: np.ndarray, eta: np.ndarray, mu: np.ndarray, sigma: np.ndarray,
                upper: float) -> np.ndarray:
    """Pointwise log-likelihood (draws x participants) of the hurdle log-normal model."""
    from scipy import special

    pos = y > 0
    log_y = np.log(np.where(pos, y, 1.0))
    z = (log_y - mu) / sigma
    log_days = (-0.5 * z**2 - np.log(sigma) - 0.5 * np.log(2 * np.pi) - log_y
                - special.log_ndtr((np.log(upper) - mu) / sigma))
    return np.where(pos, -np.logaddexp(0.0, -eta) + log_days, -np.logaddexp(0.0, eta))


def _draw_days(rng: np.random.Generator, p: np.ndarray, mu: np.ndarray, sigma: np.ndarray,
               upper: float) -> np.ndarray:
    """One draw of y per cell: 0 with probability 1 - p, else truncated log-normal."""
    from scipy import special

    top = special.ndtr((np.log(upper) - mu) / sigma)
    z = special.ndtri(rng.random(mu.shape) * top)
    return np.where(rng.random(mu.shape) < p, np.exp(mu + sigma * z), 0.0)


def _superiority(rng: np.random.Generator, p: np.ndarray, mu: np.ndarray, sigma: np.ndarray,
                 before: np.ndarray, upper: float) -> np.ndarray:
    """P(D_imr < D_cau) + P(tie) / 2 per draw, D = after - before, by simulating pairs.

    ``p`` and ``mu`` are (draws, arms in ``ARMS`` order, participants) under each arm; each
    pair draws two participants of the sample at random, one under IMR, one under CAU.
    """
    n_draw, _, n = mu.shape
    rows = np.arange(n_draw)[:, None]
    change = {}
    for a, arm in enumerate(ARMS):
        who = rng.integers(0, n, size=(n_draw, PAIR_DRAWS))
        y = _draw_days(rng, p[rows, a, who], mu[rows, a, who], sigma[:, None], upper)
        change[arm] = y - before[who]
    d_imr, d_cau = change["imr"], change["cau"]
    return ((d_imr < d_cau) + 0.5 * (d_imr == d_cau)).mean(axis=1)


def fit_hurdle(data: pd.DataFrame, request) -> Any:
    """Fit the ``hurdle`` kind: hurdle log-normal of days, g-computed means per arm.

    For the length-of-stay analysis: ``los_after`` on the arm, adjusted for ``los_before``
    and the spec's ``covariates`` (see the module docstring).

    Returns
    -------
    imr_bayes.bayes.api.BayesianFit
        ``outcome`` is the spec's ``response``; estimands ``los_difference`` (days, IMR -
        CAU), ``los_ratio``, ``los_mean``, ``los_change`` and ``p_any_stay`` per arm,
        ``p_any_stay_difference`` and ``prob_superiority``.
    """
    import xarray as xr

    from imr_bayes.bayes import engine
    from imr_bayes.data.contract import LOS_RANGE

    spec = request.spec
    upper = float(LOS_RANGE[1])
    per = _people(data, (spec.baseline, spec.response), spec.covariates)
    y = per[spec.response].to_numpy(float)
    imr = (per["arm"] == "imr").to_numpy(float)
    for arm in ARMS:
        if ((per["arm"] == arm) & (y > 0)).sum() < 2:
            raise DataValidationError([f"{spec.response}: arm {arm!r} has fewer than 2 "
                                       "participants with a stay"])
    X, columns = los_design(per, spec.baseline, spec.covariates)
    priors = spec.resolved_priors()
    compiled = engine.compiled(
        {"kind": "hurdle", "columns": list(columns), "upper": upper, "priors": priors},
        lambda: build_los_model(priors, y, imr, X, columns, upper=upper), spec.sampler)
    compiled = compiled.with_data({"y": y, "imr": imr, "X": X})
    post_raw, stats = engine.sample(compiled, spec.sampler, request.seed)
    names = ("any_stay_intercept", "any_stay_imr", "any_stay_coef", "days_intercept",
             "days_imr", "days_coef", "days_sigma")
    a, b, g, c, e, h, s = (engine.flat(post_raw, n) for n in names)
    # g-computation: every participant's baseline under each arm (axis 1, ARMS order)
    arm_imr = np.array([float(arm == "imr") for arm in ARMS])[None, :, None]
    i_imr, i_cau = ARMS.index("imr"), ARMS.index("cau")
    eta = (a[:, None, None] + b[:, None, None] * arm_imr + (g @ X.T)[:, None, :])
    mu = (c[:, None, None] + e[:, None, None] * arm_imr + (h @ X.T)[:, None, :])
    p = 1 / (1 + np.exp(-eta))
    mean_i = p * truncated_lognormal_mean(mu, s[:, None, None], upper)
    means, p_any = mean_i.mean(axis=2), p.mean(axis=2)
    before = per[spec.baseline].to_numpy(float)
    change = means - before.mean()
    sup = _superiority(np.random.default_rng([request.seed, 2]), p, mu, s, before, upper)
    diff, ratio = means[:, i_imr] - means[:, i_cau], means[:, i_imr] / means[:, i_cau]
    posterior = engine.dataset({
        "any_stay_intercept": ((), a), "any_stay_imr": ((), b),
        "any_stay_coef": (("covariate",), g),
        "days_intercept": ((), c), "days_imr": ((), e), "days_coef": (("covariate",), h),
        "days_sigma": ((), s), "p_any_stay": (("arm",), p_any), "los_mean": (("arm",), means),
        "los_change": (("arm",), change), "los_difference": ((), diff), "los_ratio": ((), ratio),
        "prob_superiority": ((), sup)}, post_raw, {"arm": list(ARMS), "covariate": list(columns)})
    quantities = [({"estimand": "los_difference"}, diff), ({"estimand": "los_ratio"}, ratio),
                  ({"estimand": "p_any_stay_difference"}, p_any[:, i_imr] - p_any[:, i_cau])]
    for k, arm in enumerate(ARMS):
        quantities += [({"estimand": "los_mean", "arm": arm}, means[:, k]),
                       ({"estimand": "los_change", "arm": arm}, change[:, k]),
                       ({"estimand": "p_any_stay", "arm": arm}, p_any[:, k])]
    quantities.append(({"estimand": "prob_superiority"}, sup))
    k = np.where(imr > 0, i_imr, i_cau)  # each participant's own arm
    n = np.arange(len(y))
    ll = _los_loglik(y[None], eta[:, k, n], mu[:, k, n], s[:, None], upper)
    groups = {
        "log_likelihood": xr.Dataset({"y": (("chain", "draw", "participant"),
                                            engine.chain_draw(ll, post_raw))}),
        "observed_data": xr.Dataset({"y": ("participant", y)}),
        "constant_data": xr.Dataset({"imr": ("participant", imr),
                                     "X": (("participant", "covariate"), X),
                                     spec.baseline: ("participant", before)},
                                    coords={"covariate": list(columns)}),
    }
    return engine.assemble(data, request, posterior=posterior, sample_stats=stats,
                           groups=groups, quantities=quantities,
                           var_names=list(names), priors=priors, n_rows=len(y),
                           n_participants=len(y), outcome=spec.response)
