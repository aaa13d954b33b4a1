"""Prior checks of every fit: power-scaling sensitivity and prior predictive checks.

Both checks read what a fit carries (its DataTree groups, its resolved priors in the ``priors``
attr, its ``constant_data`` and its spec), so they serve every model kind and design:

* **Power-scaling sensitivity** (Kallioinen, Paananen, Bürkner & Vehtari 2024; arviz-stats
  ``psense``, the Python counterpart of R's priorsense). The prior, or the likelihood, is
  raised to a power alpha near 1 (0.99 and 1.01); Pareto-smoothed importance weights give the
  power-scaled posterior without refitting, and the sensitivity of a quantity is the
  derivative of the cumulative Jensen-Shannon distance between its base and power-scaled
  posteriors with respect to log2(alpha). :func:`log_prior_group` computes the joint log prior
  density per draw that this needs (every fit's ``log_prior`` group, added by
  :func:`imr_bayes.bayes.engine.sample`); :func:`power_scaling` tabulates the sensitivity of
  every estimate of a fit with arviz-stats' diagnosis.
* **Prior predictive checks** (Gabry et al. 2019; Kruschke 2021, BARG step 1.E).
  :func:`prior_predictive_draws` draws a fit's parameters from its resolved priors and maps
  them to the model-implied arm x time means and treatment effects on the outcome's raw
  scale (and in pooled-baseline-SD units, d); :func:`prior_predictive` summarizes the draws
  against the outcome's possible range (``models/trial.yaml``);
  :func:`plot_prior_predictive` draws the summaries.

What a flag can and cannot mean: ``docs/prior_checks.md``.
"""

from __future__ import annotations

import json
import logging
import threading
import weakref
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from imr_bayes import outcomes as outcome_registry
from imr_bayes.constants import ARMS, TIMES
from imr_bayes.errors import ImrBayesError
from imr_bayes.outcomes import unknown_choice_message

#: Sensitivity above which a quantity counts as sensitive: arviz-stats' ``psense_summary``
#: default, the threshold priorsense and Kallioinen et al. (2024) use.
SENSITIVITY_THRESHOLD: float = 0.05
#: Power-scaling factors of the finite-difference derivative (arviz-stats' defaults).
ALPHAS: tuple[float, float] = (0.99, 1.01)
#: Suffix of the standard-normal latent variables of non-centred random effects. Their
#: N(0, 1) is the group-level model of participants and groups, not a prior of a parameter:
#: as priorsense's ``lprior`` for brms models, the joint log prior leaves them out.
LATENT_SUFFIX: str = "_raw"
#: Share of prior-predictive draws outside the possible range above which a quantity is
#: flagged (a convention; ``docs/prior_checks.md``).
OUTSIDE_SHARE: float = 0.05
#: Prior draws per fit in the prior predictive checks.
PRIOR_DRAWS: int = 4000

#: Columns of :func:`power_scaling`.
POWER_SCALING_COLUMNS: tuple[str, ...] = (
    "analysis", "outcome", "estimand", "arm", "time", "scale", "treatment",
    "prior_sensitivity", "likelihood_sensitivity", "diagnosis", "sensitive",
    "pareto_k_prior", "pareto_k_likelihood", "pareto_k_threshold", "reliable",
    "priors_scaled",
)
#: Columns of :func:`prior_predictive`.
PRIOR_PREDICTIVE_COLUMNS: tuple[str, ...] = (
    "analysis", "outcome", "model", "quantity", "arm", "time", "scale", "mean", "q025",
    "q25", "median", "q75", "q975", "range_low", "range_high", "share_below", "share_above",
    "share_outside", "flagged", "n_draws",
)
#: Diagnosis of arviz-stats' ``psense_summary`` for a quantity that is not sensitive.
NOT_SENSITIVE: str = "✓"


# ------------------------------------------------------------------------------ log prior
def prior_variables(model: Any) -> tuple[str, ...]:
    """Return the free variables of a PyMC model whose priors are power-scaled.

    Every free random variable except the standard-normal latents of non-centred random
    effects (named ``*_raw``, :data:`LATENT_SUFFIX`).
    """
    return tuple(v.name for v in model.free_RVs if not v.name.endswith(LATENT_SUFFIX))


_LOG_PRIOR_FUNCTIONS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_LOCK = threading.Lock()


def _log_prior_function(model: Any) -> tuple[tuple[str, ...], tuple[str, ...], Callable]:
    """Compile, once per model, the log prior density of each prior variable over draws.

    Returns ``(prior names, input names, function)``: the function takes the free
    variables' constrained values stacked over draws (in input-name order) and returns one
    array of shape (draws,) per prior variable, summed over the variable's elements. The
    value transforms are removed first, so the densities are those of the constrained
    parameters (no Jacobian), as priorsense's ``lprior``.
    """
    cached = _LOG_PRIOR_FUNCTIONS.get(model)
    if cached is not None:
        return cached
    import pytensor
    import pytensor.tensor as pt
    from pymc.model.transform.conditioning import remove_value_transforms
    from pytensor.graph.replace import vectorize_graph

    plain = remove_value_transforms(model)
    names = prior_variables(model)
    values = [plain.rvs_to_values[rv] for rv in plain.free_RVs]
    batched = {v: pt.tensor(name=v.name, dtype=v.dtype, shape=(None, *v.type.shape))
               for v in values}
    terms = vectorize_graph(plain.logp(vars=[plain[n] for n in names], sum=False),
                            replace=batched)
    outputs = [t.reshape((t.shape[0], -1)).sum(axis=1) for t in terms]
    function = pytensor.function(list(batched.values()), outputs, mode="FAST_COMPILE",
                                 on_unused_input="ignore")
    cached = (names, tuple(rv.name for rv in plain.free_RVs), function)
    _LOG_PRIOR_FUNCTIONS[model] = cached
    return cached


def log_prior_group(model: Any, posterior: Any) -> Any:
    """Return the log prior density of every prior variable at each posterior draw.

    One function for every model kind: the densities come from the PyMC model that was
    sampled (its free random variables and their priors), evaluated at the draws of its
    free variables, so a new parameter or prior of a kind is included without code here.

    Parameters
    ----------
    model : pymc.Model
        The model the draws come from.
    posterior : xarray.Dataset
        Its draws (dims ``chain``, ``draw``): every free variable on its constrained scale,
        as the sampler returns them (before a kind rescales its posterior).

    Returns
    -------
    xarray.Dataset
        One variable per prior variable (:func:`prior_variables`), dims ``(chain, draw)``:
        its log prior density summed over its elements. Their sum is the joint log prior
        that arviz-stats' ``psense`` power-scales (the fit's ``log_prior`` group).
    """
    import xarray as xr

    with _LOCK:  # a compiled PyTensor function is not thread-safe (Dask threads share it)
        names, inputs, function = _log_prior_function(model)
    n_chain, n_draw = posterior.sizes["chain"], posterior.sizes["draw"]
    arrays = []
    for name in inputs:
        v = posterior[name].transpose("chain", "draw", ...).to_numpy()
        arrays.append(np.ascontiguousarray(v.reshape((n_chain * n_draw, *v.shape[2:])),
                                           dtype="float64"))
    with _LOCK:
        out = function(*arrays)
    return xr.Dataset(
        {n: (("chain", "draw"), np.asarray(v).reshape(n_chain, n_draw))
         for n, v in zip(names, out, strict=True)},
        coords={"chain": posterior["chain"].values, "draw": posterior["draw"].values})


# -------------------------------------------------------------------- power-scaling table
def _pareto_k(component: Any, alphas: tuple[float, float]) -> float:
    """Largest Pareto k of the power-scaling weights ``(alpha - 1) * component``."""
    import arviz_stats  # noqa: F401 - registers the ``azstats`` accessor

    total = component.to_stacked_array("element", sample_dims=["chain", "draw"]).sum("element")
    return max(float(((alpha - 1.0) * total).azstats.pareto_khat(
        sample_dims=["chain", "draw"], log_weights=True)) for alpha in alphas)


def power_scaling(fit: Any, *, threshold: float = SENSITIVITY_THRESHOLD,
                  alphas: tuple[float, float] = ALPHAS) -> pd.DataFrame:
    """Power-scaling prior and likelihood sensitivity of every estimate of a fit.

    arviz-stats' ``psense_summary`` on the fit's estimates (every row of
    ``fit.estimates``: parameters, arm x time means, treatment effects, SDs), with the fit's
    ``log_prior`` group (the joint prior of :func:`prior_variables`) and its pointwise
    ``log_likelihood`` group (summed over participants) as the power-scaled components.

    Parameters
    ----------
    fit : imr_bayes.bayes.api.BayesianFit
    threshold : float
        Sensitivity threshold (:data:`SENSITIVITY_THRESHOLD`).
    alphas : tuple of float
        Lower and upper power-scaling factors.

    Returns
    -------
    pandas.DataFrame
        :data:`POWER_SCALING_COLUMNS`. ``diagnosis`` is arviz-stats' (``potential
        prior-data conflict`` when both sensitivities reach the threshold, ``potential
        strong prior / weak likelihood`` when only the prior's does, :data:`NOT_SENSITIVE`
        otherwise); ``sensitive`` is True for the first two. ``pareto_k_*`` is the largest
        Pareto k of the importance weights of the two power-scalings; above
        ``pareto_k_threshold`` = min(1 - 1/log10(S), 0.7) (S draws) the weights, and with
        them the sensitivities, are unreliable (``reliable`` False).

    Raises
    ------
    ImrBayesError
        If the fit has no ``log_prior`` or ``log_likelihood`` group.
    """
    import xarray as xr
    from arviz_stats import psense_summary

    tree = fit.idata
    missing = [g for g in ("log_prior", "log_likelihood") if g not in tree.children]
    if missing:
        raise ImrBayesError(f"fit {fit.analysis}/{fit.outcome} has no {' or '.join(missing)} "
                            "group; power-scaling needs both (imr_bayes.bayes.engine adds "
                            "log_prior to every fit it assembles)")
    posterior = tree["posterior"]
    shape = (posterior.sizes["chain"], posterior.sizes["draw"])
    coords = {"chain": posterior["chain"].values, "draw": posterior["draw"].values}
    rows = fit.estimates.table.reset_index(drop=True)
    quantities = xr.Dataset(
        {f"q{i}": (("chain", "draw"), np.reshape(fit.estimates.draws_of(row), shape))
         for i, row in rows.iterrows()}, coords=coords)
    log_prior = tree["log_prior"].to_dataset()
    log_lik = tree["log_likelihood"].to_dataset()
    data = xr.DataTree.from_dict({"posterior": quantities, "log_prior": log_prior,
                                  "log_likelihood": log_lik})
    # psense_summary logs a pointer to its docs for every flag; the flags are in the table.
    logger = logging.getLogger("arviz_stats.psense")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        summary = psense_summary(data, threshold=threshold, alphas=alphas, round_to=12)
    finally:
        logger.setLevel(level)
    k_prior, k_lik = _pareto_k(log_prior, alphas), _pareto_k(log_lik, alphas)
    k_max = min(1.0 - 1.0 / np.log10(shape[0] * shape[1]), 0.7)
    treatment = {e.name for e in getattr(fit.spec, "estimands", ()) if e.treatment}
    out = rows[["analysis", "outcome", "estimand", "arm", "time", "scale"]].copy()
    out["treatment"] = out["estimand"].isin(treatment)
    labels = [f"q{i}" for i in range(len(rows))]
    out["prior_sensitivity"] = summary.loc[labels, "prior"].to_numpy(float)
    out["likelihood_sensitivity"] = summary.loc[labels, "likelihood"].to_numpy(float)
    out["diagnosis"] = summary.loc[labels, "diagnosis"].to_numpy()
    out["sensitive"] = out["diagnosis"] != NOT_SENSITIVE
    out["pareto_k_prior"], out["pareto_k_likelihood"] = k_prior, k_lik
    out["pareto_k_threshold"] = k_max
    out["reliable"] = max(k_prior, k_lik) <= k_max
    out["priors_scaled"] = ", ".join(str(v) for v in log_prior.data_vars)
    return out[list(POWER_SCALING_COLUMNS)]


def power_scaling_table(fits: Iterable[Any], **kwargs: Any) -> pd.DataFrame:
    """:func:`power_scaling` of several fits in one table (keyword arguments passed on)."""
    tables = [power_scaling(f, **kwargs) for f in fits]
    if not tables:
        return pd.DataFrame(columns=list(POWER_SCALING_COLUMNS))
    return pd.concat(tables, ignore_index=True)


def plot_power_scaling(table: pd.DataFrame, *,
                       threshold: float = SENSITIVITY_THRESHOLD) -> Any:
    """Draw prior against likelihood sensitivity, one point per fit x estimate.

    The threshold lines split the plane into arviz-stats' diagnoses: upper left strong
    prior / weak likelihood, upper right prior-data conflict, below not prior-sensitive.
    Flagged points are red and labelled (analysis, outcome, estimand).
    """
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 4.6))
    x, y = table["likelihood_sensitivity"], table["prior_sensitivity"]
    flagged = table["sensitive"].astype(bool)
    ax.scatter(x[~flagged], y[~flagged], s=14, color="#2c5d8a", alpha=0.6,
               label="not sensitive")
    ax.scatter(x[flagged], y[flagged], s=22, color="#d1495b", label="flagged")
    for row in table[flagged].itertuples():
        ax.annotate(f"{row.analysis}, {row.outcome}: {row.estimand}",
                    (row.likelihood_sensitivity, row.prior_sensitivity), fontsize=7,
                    xytext=(-4, 4), textcoords="offset points", ha="right")
    ax.axhline(threshold, color="#888888", lw=0.8, ls="--")
    ax.axvline(threshold, color="#888888", lw=0.8, ls="--")
    ax.set_xlim(0.0, 1.08 * max(float(x.max()), 2 * threshold))
    ax.set_ylim(0.0, 1.08 * max(float(y.max()), 2 * threshold))
    ax.set_xlabel("likelihood sensitivity (CJS gradient)")
    ax.set_ylabel("prior sensitivity (CJS gradient)")
    ax.legend(loc="best", fontsize=8, frameon=False)
    fig.tight_layout()
    return fig


# ---------------------------------------------------------------------- prior predictive
#: Samplers of the prior distributions a spec may name (:data:`imr_bayes.spec.DISTRIBUTIONS`),
#: with PyMC's parametrizations: ``(rng, size, **kwargs) -> ndarray``.
SAMPLERS: dict[str, Callable[..., np.ndarray]] = {
    "Normal": lambda rng, size, mu, sigma: rng.normal(mu, sigma, size),
    "StudentT": lambda rng, size, nu, mu, sigma: mu + sigma * rng.standard_t(nu, size),
    "HalfNormal": lambda rng, size, sigma: np.abs(rng.normal(0.0, sigma, size)),
    "HalfStudentT": lambda rng, size, sigma, nu=1.0: np.abs(sigma * rng.standard_t(nu, size)),
    "HalfCauchy": lambda rng, size, beta: np.abs(beta * rng.standard_cauchy(size)),
    "Exponential": lambda rng, size, lam: rng.exponential(1.0 / lam, size),
}


def draw_prior(prior: Mapping[str, Any], size: int | tuple[int, ...],
               rng: np.random.Generator) -> np.ndarray:
    """Draw from one resolved prior ``{dist, kwargs}``.

    Raises
    ------
    ImrBayesError
        For a distribution without a sampler in :data:`SAMPLERS`.
    """
    sampler = SAMPLERS.get(prior["dist"])
    if sampler is None:
        raise ImrBayesError(unknown_choice_message("prior distribution", prior["dist"],
                                                   tuple(SAMPLERS)))
    return sampler(rng, size, **prior["kwargs"])


Row = dict[str, Any]
Quantity = tuple[Row, np.ndarray]


def _scalar(tree: Any, name: str) -> float:
    return float(tree["constant_data"][name])


def _parameter(priors: Mapping[str, Any], name: str, size: int | tuple[int, ...],
               rng: np.random.Generator) -> np.ndarray:
    if name not in priors:
        raise ImrBayesError(f"the fit's resolved priors have no {name!r}; it has "
                            f"{', '.join(priors)}")
    return draw_prior(priors[name], size, rng)


def _outcome_quantities(fit: Any, means: dict[str, np.ndarray], params: dict[str, np.ndarray],
                        priors: Mapping[str, Any], rng: np.random.Generator) -> list[Quantity]:
    """Rows of a model of a trial outcome, from its standardized arm x time mean draws.

    ``means[arm]`` has shape (S, time), standardized. Rows: ``arm_time_mean`` (raw, against
    the outcome's scale range), ``difference`` IMR - CAU at 18 months (raw and d, against
    +- the range's width) and, for each treatment estimand of the spec with a prior-set
    prior and no time, ``d_horizon`` x the estimand (the contrast behind its BF10 and ROPE;
    raw and d, no range).
    """
    tree = fit.idata
    centre, sd = _scalar(tree, "center"), _scalar(tree, "scale")
    o = outcome_registry.get(fit.outcome)
    low = np.nan if o.scale_min is None else float(o.scale_min)
    high = np.nan if o.scale_max is None else float(o.scale_max)
    width = high - low
    n = len(next(iter(means.values())))
    out: list[Quantity] = []
    for arm in ARMS:
        for k, t in enumerate(TIMES):
            out.append(({"quantity": "arm_time_mean", "arm": arm, "time": t, "scale": "raw",
                         "range_low": low, "range_high": high}, centre + sd * means[arm][:, k]))
    last = len(TIMES) - 1
    diff = means["imr"][:, last] - means["cau"][:, last]
    out.append(({"quantity": "difference", "time": TIMES[last], "scale": "raw",
                 "range_low": -width, "range_high": width}, sd * diff))
    out.append(({"quantity": "difference", "time": TIMES[last], "scale": "d",
                 "range_low": -width / sd, "range_high": width / sd}, diff))
    for e in getattr(fit.spec, "estimands", ()):
        if not (e.treatment and e.prior and e.times is None):
            continue
        draws = params[e.prior] if e.prior in params else _parameter(priors, e.prior, n, rng)
        name = e.name if e.d_horizon == 1 else f"{e.d_horizon} x {e.name}"
        for scale, factor in (("raw", sd), ("d", 1.0)):
            out.append(({"quantity": name, "scale": scale, "range_low": np.nan,
                         "range_high": np.nan}, e.d_horizon * factor * draws))
    return out


def _lmm_quantities(fit: Any, priors: Mapping[str, Any], rng: np.random.Generator,
                    n: int) -> list[Quantity]:
    """Any ``lmm`` design: arm x time means of ``X beta`` averaged over each arm's rows."""
    cd = fit.idata["constant_data"]
    X = cd["X"].transpose("participant", "time", "term").to_numpy()
    terms = [str(t) for t in cd["term"].values]
    params = {t: _parameter(priors, t, n, rng) for t in terms}
    beta = np.column_stack([params[t] for t in terms])
    treated = cd["treated"].to_numpy() > 0
    means = {arm: beta @ X[treated if arm == "imr" else ~treated].mean(axis=0).T
             for arm in ARMS}
    return _outcome_quantities(fit, means, params, priors, rng)


def _cace_quantities(fit: Any, priors: Mapping[str, Any], rng: np.random.Generator,
                     n: int) -> list[Quantity]:
    """CACE mixture: arm means over compliers (share from the compliance model) and others."""
    from imr_bayes.bayes.completion import CACE_TERMS

    cd = fit.idata["constant_data"]
    W = cd["W"].to_numpy()
    params = {t: _parameter(priors, t, n, rng) for t in CACE_TERMS}
    c0 = _parameter(priors, "compliance_intercept", n, rng)
    c = _parameter(priors, "compliance_coef", (n, W.shape[1]), rng)
    share = (1.0 / (1.0 + np.exp(-(c0[:, None] + c @ W.T)))).mean(axis=1)
    t = np.asarray(TIMES, dtype=float)[None, :]

    def p(name: str) -> np.ndarray:
        return params[name][:, None]

    base = p("intercept") + p("time") * t + share[:, None] * (p("complier")
                                                              + p("complier_x_time") * t)
    means = {"cau": base,
             "imr": base + share[:, None] * (p("cace_condition") + p("cace_condition_x_time") * t)}
    return _outcome_quantities(fit, means, params, priors, rng)


def _logistic_quantities(fit: Any, priors: Mapping[str, Any], rng: np.random.Generator,
                         n: int) -> list[Quantity]:
    """Event probability per arm (standardized over the adjustment), risk difference, OR."""
    cd = fit.idata["constant_data"]
    adjust = cd[fit.spec.adjust_for].to_numpy()[None, :]
    a = _parameter(priors, "intercept", n, rng)[:, None]
    b = _parameter(priors, "log_odds_ratio", n, rng)
    c = _parameter(priors, "log_odds_ratio_adjustment", n, rng)[:, None]
    prob = {arm: (1.0 / (1.0 + np.exp(-(a + (b[:, None] if arm == "imr" else 0.0)
                                         + c * adjust)))).mean(axis=1) for arm in ARMS}
    out: list[Quantity] = [({"quantity": "arm_mean", "arm": arm, "scale": "probability",
                             "range_low": 0.0, "range_high": 1.0}, prob[arm]) for arm in ARMS]
    out.append(({"quantity": "risk_difference", "scale": "probability", "range_low": -1.0,
                 "range_high": 1.0}, prob["imr"] - prob["cau"]))
    out.append(({"quantity": "odds_ratio", "scale": "ratio", "range_low": np.nan,
                 "range_high": np.nan}, np.exp(b)))
    return out


def _hurdle_quantities(fit: Any, priors: Mapping[str, Any], rng: np.random.Generator,
                       n: int) -> list[Quantity]:
    """Mean days per arm by g-computation over the sample's baselines, and IMR - CAU.

    The hurdle log-normal kind: P(any stay) x the truncated log-normal mean, every
    participant's baseline under each arm (as the fit's own g-computation); the range of a
    mean is the contract's length-of-stay range, of a difference +- its width.
    """
    from imr_bayes.bayes.hospital import truncated_lognormal_mean
    from imr_bayes.data.contract import LOS_RANGE

    X = fit.idata["constant_data"]["X"].transpose("participant", "covariate").to_numpy()
    k = X.shape[1]
    a, b = (_parameter(priors, name, n, rng) for name in ("any_stay_intercept", "any_stay_imr"))
    c, e = (_parameter(priors, name, n, rng) for name in ("days_intercept", "days_imr"))
    g = _parameter(priors, "any_stay_coef", (n, k), rng)
    h = _parameter(priors, "days_coef", (n, k), rng)
    s = _parameter(priors, "days_sigma", n, rng)
    width = LOS_RANGE[1] - LOS_RANGE[0]
    means = {}
    for arm in ARMS:
        imr = 1.0 if arm == "imr" else 0.0
        p = 1.0 / (1.0 + np.exp(-(a[:, None] + b[:, None] * imr + g @ X.T)))
        mu = c[:, None] + e[:, None] * imr + h @ X.T
        means[arm] = (p * truncated_lognormal_mean(mu, s[:, None], LOS_RANGE[1])).mean(axis=1)
    out: list[Quantity] = [({"quantity": "arm_mean", "arm": arm, "scale": "days",
                             "range_low": LOS_RANGE[0], "range_high": LOS_RANGE[1]}, means[arm])
                           for arm in ARMS]
    out.append(({"quantity": "los_difference", "scale": "days", "range_low": -width,
                 "range_high": width}, means["imr"] - means["cau"]))
    return out


#: Model kind -> function ``(fit, priors, rng, draws) -> [(row, draws)]``.
PRIOR_PREDICTIVE_KINDS: dict[str, Callable[..., list[Quantity]]] = {
    "lmm": _lmm_quantities, "pn_lmm": _lmm_quantities, "cace": _cace_quantities,
    "logistic": _logistic_quantities,
    "hurdle": _hurdle_quantities,
}


def prior_predictive_draws(fit: Any, *, draws: int = PRIOR_DRAWS,
                           seed: int | None = None) -> list[Quantity]:
    """Draw a fit's parameters from its resolved priors; map them to means and effects.

    The priors are the fit's own (root attr ``priors``: the prior set's and the spec's,
    oriented); the design is its ``constant_data``. Random effects have prior mean 0 and
    leave the arm x time means unchanged, so only the fixed-effect (mean-structure) priors
    are drawn.

    Parameters
    ----------
    fit : imr_bayes.bayes.api.BayesianFit
    draws : int
        Prior draws.
    seed : int, optional
        Default: the fit's seed.

    Returns
    -------
    list of (dict, ndarray)
        ``({quantity, arm?, time?, scale, range_low, range_high}, draws)``: for a model of
        a trial outcome (``lmm`` in every design, ``cace``) the arm x time means (raw),
        the IMR - CAU difference at 18 months (raw and d) and the spec's headline treatment
        effects at their ``d_horizon`` (raw and d); for ``logistic`` the event probability
        per arm, the risk difference and the odds ratio; for ``hurdle`` the mean
        difference score per arm and IMR - CAU (days). ``range_*`` is the interval a value
        can take (NaN where unbounded or unknown).

    Raises
    ------
    ImrBayesError
        For a model kind without a map in :data:`PRIOR_PREDICTIVE_KINDS`, or a parameter
        without a resolved prior.
    """
    kind = str(fit.idata.attrs["model"])
    if kind not in PRIOR_PREDICTIVE_KINDS:
        raise ImrBayesError(unknown_choice_message("model kind for prior predictive checks",
                                                   kind, tuple(PRIOR_PREDICTIVE_KINDS)))
    priors = json.loads(fit.idata.attrs["priors"])
    rng = np.random.default_rng(int(fit.idata.attrs["seed"]) if seed is None else seed)
    return PRIOR_PREDICTIVE_KINDS[kind](fit, priors, rng, draws)


def prior_predictive(fit: Any, *, draws: int = PRIOR_DRAWS, seed: int | None = None,
                     outside_share: float = OUTSIDE_SHARE) -> pd.DataFrame:
    """Prior predictive check of a fit: its prior means and effects against the possible range.

    Parameters
    ----------
    fit : imr_bayes.bayes.api.BayesianFit
    draws : int
    seed : int, optional
        Default: the fit's seed.
    outside_share : float
        A quantity is flagged when more than this share of its prior draws falls outside
        the range its values can take.

    Returns
    -------
    pandas.DataFrame
        :data:`PRIOR_PREDICTIVE_COLUMNS`: per quantity of :func:`prior_predictive_draws`
        the prior mean and quantiles (2.5, 25, 50, 75, 97.5 %), the range, the shares of
        draws below, above and outside it (NaN without a range) and ``flagged``.
    """
    rows = []
    for row, values in prior_predictive_draws(fit, draws=draws, seed=seed):
        low, high = row["range_low"], row["range_high"]
        below = float(np.mean(values < low)) if np.isfinite(low) else np.nan
        above = float(np.mean(values > high)) if np.isfinite(high) else np.nan
        q = np.quantile(values, [0.025, 0.25, 0.5, 0.75, 0.975])
        rows.append({
            "analysis": fit.analysis, "outcome": fit.outcome,
            "model": str(fit.idata.attrs["model"]), "arm": None, "time": None, **row,
            "mean": float(np.mean(values)), "q025": q[0], "q25": q[1], "median": q[2],
            "q75": q[3], "q975": q[4], "share_below": below, "share_above": above,
            "share_outside": below + above,
            "flagged": bool(below + above > outside_share), "n_draws": len(values)})
    table = pd.DataFrame(rows, columns=list(PRIOR_PREDICTIVE_COLUMNS))
    table["time"] = table["time"].astype("Int64")
    return table


def prior_predictive_table(fits: Iterable[Any], **kwargs: Any) -> pd.DataFrame:
    """:func:`prior_predictive` of several fits in one table (keyword arguments passed on)."""
    tables = [prior_predictive(f, **kwargs) for f in fits]
    if not tables:
        return pd.DataFrame(columns=list(PRIOR_PREDICTIVE_COLUMNS))
    return pd.concat(tables, ignore_index=True)


def prior_predictive_plot_data(table: pd.DataFrame) -> pd.DataFrame:
    """Put the prior arm means of :func:`prior_predictive` on their range, 0 = min, 1 = max.

    Rows of arm (x time) means with a finite range; columns ``fit`` (analysis, outcome),
    ``label`` (arm and time), ``low``, ``q25``, ``median``, ``q75``, ``high`` (2.5 and
    97.5 % as ``low`` and ``high``) as fractions of the range, ``share_outside`` and
    ``flagged``.
    """
    means = table[table["quantity"].isin(("arm_time_mean", "arm_mean"))
                  & np.isfinite(table["range_low"].astype(float))
                  & np.isfinite(table["range_high"].astype(float))]
    width = means["range_high"] - means["range_low"]

    def rel(col: str) -> pd.Series:
        return (means[col] - means["range_low"]) / width

    time = means["time"].astype("Int64")
    label = means["arm"].astype(str) + time.map(lambda t: "" if pd.isna(t) else f", t{t}")
    return pd.DataFrame({
        "fit": means["analysis"] + ", " + means["outcome"], "label": label,
        "low": rel("q025"), "q25": rel("q25"), "median": rel("median"), "q75": rel("q75"),
        "high": rel("q975"), "share_outside": means["share_outside"],
        "flagged": means["flagged"]}).reset_index(drop=True)


def plot_prior_predictive(data: pd.DataFrame) -> Any:
    """Draw :func:`prior_predictive_plot_data`: prior 50 % and 95 % intervals per arm mean.

    One row per fit x arm (x time), grouped by fit; the possible range is shaded (0 to 1).
    Flagged rows are red.
    """
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.5, 0.2 * len(data) + 1.4))
    y = np.arange(len(data))
    colors = np.where(data["flagged"].astype(bool), "#d1495b", "#2c5d8a")
    ax.axvspan(0.0, 1.0, color="#dddddd", zorder=0)
    ax.hlines(y, data["low"], data["high"], color=colors, lw=1.2)
    ax.hlines(y, data["q25"], data["q75"], color=colors, lw=3.5)
    ax.scatter(data["median"], y, color="white", edgecolors=colors, s=14, zorder=3)
    ax.set_yticks(y, [f"{f}: {lbl}" for f, lbl in zip(data["fit"], data["label"],
                                                       strict=True)], fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel("prior arm mean as a fraction of the possible range (grey: 0 = min, 1 = max)")
    fig.tight_layout()
    return fig
