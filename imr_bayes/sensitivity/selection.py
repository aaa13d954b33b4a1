r"""Informative dropout: a shared-parameter model (PyMC) beside the MAR model.

Outcome part (standardized scale): the base analysis' ITT model (``models/methods/
dropout.yaml``: ``base``, by default the partially nested ``itt``), built by its kind's
builder in :mod:`imr_bayes.bayes.itt` with the participant intercept sampled explicitly
(``engine="full"``)::

    z_it = x_it' beta + sigma_u v_i + (group and team effects) + e_it,   v_i ~ N(0, 1)

Missingness part, for every follow-up cell (12 and 18 months) of a participant in the
analysis set (``m_it = 1`` if the value is missing)::

    logit P(m_it = 1) = alpha[arm, t] + gamma[arm] * direction * v_i

``v_i`` is shared: ``gamma[arm] < 0`` means that participants whose level is worse (in the
outcome's unfavourable direction) miss follow-ups more often. With ``gamma = 0`` the model
is the MAR model; the data inform ``gamma`` only through the parametric link (the
standardized participant effect is estimated from the observed values, mostly baseline), so
its prior matters and the result is a sensitivity analysis, not a correction. Priors:
``alpha ~ N(-2, 1.5)``, ``gamma ~ N(0, gamma_sd)`` (default 1: a log-odds change of 2 per
SD is plausible but not favoured); the outcome part uses the prior set's priors. Baseline
missingness is not modelled (MAR).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from imr_bayes.constants import ARMS, CI_LEVEL, DEFAULT_SEED
from imr_bayes.errors import ImrBayesError


@dataclass(frozen=True)
class InformativeDropoutFit:
    """Shared-parameter model fit and its MAR counterpart.

    Attributes
    ----------
    outcome : str
    table : pandas.DataFrame
        ``model`` ("mar", "shared_parameter"), ``estimand`` (``condition_x_time`` raw,
        ``condition_x_time_d`` per baseline SD, ``gamma`` per arm), ``arm``, ``mean``,
        ``median``, ``sd``, ``eti95_low``, ``eti95_high``, ``p_benefit``.
    idata : xarray.DataTree
        Posterior (``beta`` raw by term, SDs raw, ``alpha``, ``gamma``) and sample stats.
    diagnostics : imr_bayes.diagnostics.Diagnostics
    mar_fit : BayesianFit
    """

    outcome: str
    table: pd.DataFrame
    idata: Any
    diagnostics: Any
    mar_fit: Any


def _panel_data(panel: Any, direction: int) -> dict[str, np.ndarray]:
    fu = np.zeros_like(panel.mask)
    fu[:, 1:] = 1.0
    data = panel.model_data()
    data.update({"missing_fu": ((1.0 - panel.mask) * fu)[:, 1:],
                 "direction": np.asarray(float(direction))})
    return data


def build_model(panel: Any, spec: Any, priors: dict[str, dict[str, Any]]):
    """Build the shared-parameter PyMC model on one ITT panel (see the module docstring).

    Parameters
    ----------
    panel : imr_bayes.bayes.itt.Panel
    spec : LmmSpec or PnLmmSpec
        The base ITT spec (its kind's builder makes the outcome part, ``engine="full"``).
    priors : dict
        Resolved priors of the outcome part (standardized scale) and of ``alpha`` and
        ``gamma`` (normal).

    Returns
    -------
    pymc.Model
    """
    import pymc as pm

    from imr_bayes.bayes.itt import model_builder

    if not spec.has_participant_intercept:
        raise ImrBayesError("the shared-parameter model needs the participant intercept")
    model = model_builder(spec)(panel, spec, priors, engine="full")
    data_np = _panel_data(panel, direction=1)

    def prior(name: str, spec_: dict[str, Any], **kw: Any):
        return getattr(pm, spec_["dist"])(name, **spec_["kwargs"], **kw)

    with model:
        model.add_coords({"arm": list(ARMS), "follow_up": [1, 2]})
        missing_fu = pm.Data("missing_fu", data_np["missing_fu"])
        direction = pm.Data("direction", data_np["direction"])
        arm_idx = model["arm_idx"]
        v = model["participant_raw"]
        alpha = prior("alpha", priors["alpha"], dims=("arm", "follow_up"))
        gamma = prior("gamma", priors["gamma"], dims="arm")
        eta = alpha[arm_idx] + (gamma[arm_idx] * direction * v)[:, None]
        logp_m = pm.logp(pm.Bernoulli.dist(logit_p=eta), missing_fu)
        pm.Potential("loglik_missing", logp_m.sum())
    return model


def _summary(draws: np.ndarray, direction: int | None) -> dict[str, float]:
    x = np.ravel(draws)
    lo, hi = np.quantile(x, [(1 - CI_LEVEL) / 2, (1 + CI_LEVEL) / 2])
    return {"mean": float(x.mean()), "median": float(np.median(x)), "sd": float(x.std(ddof=1)),
            "eti95_low": float(lo), "eti95_high": float(hi),
            "p_benefit": float(np.mean(direction * x > 0)) if direction else float("nan")}


def fit_informative_dropout(data: pd.DataFrame, *, outcome: str = "imrs_client",
                            mar_fit: Any = None, prior_set: str = "default",
                            seed: int = DEFAULT_SEED, draws: int = 1000, tune: int = 1000,
                            chains: int = 4, cores: int = 2, target_accept: float = 0.9,
                            gamma_sd: float | None = None) -> InformativeDropoutFit:
    """Fit the shared-parameter informative-dropout model and set it beside the MAR fit.

    Parameters
    ----------
    data : pandas.DataFrame
        Contract long data.
    outcome : str
        Outcome code.
    mar_fit : BayesianFit, optional
        The MAR (``itt``) fit of the same data and outcome; fitted here with the same
        sampler settings if not given.
    prior_set : str
        Prior set of the outcome part (``models/priors``).
    seed, draws, tune, chains, cores, target_accept
        Sampler settings (nutpie; same seed, same draws).
    gamma_sd : float, optional
        SD of the normal prior of ``gamma`` (log-odds per SD of the participant effect;
        default: the spec's, ``models/methods/dropout.yaml``).

    Returns
    -------
    InformativeDropoutFit

    Raises
    ------
    ImrBayesError
        Bad sampler settings or ``gamma_sd``, unknown outcome or prior set, data without
        the needed columns, or a ``mar_fit`` of another outcome.
    """
    import xarray as xr

    import imr_bayes
    from imr_bayes import outcomes, registry
    from imr_bayes import spec as spec_mod
    from imr_bayes.bayes import engine
    from imr_bayes.bayes.itt import make_panel, model_key, sd_parameters
    from imr_bayes.diagnostics import diagnose
    from imr_bayes.provenance import data_sha256

    direction = outcomes.get(outcome).direction
    for name, val, low in (("draws", draws, 1), ("tune", tune, 0), ("chains", chains, 1),
                           ("cores", cores, 1)):
        if isinstance(val, bool) or not isinstance(val, (int, np.integer)) or val < low:
            raise ImrBayesError(f"{name} must be an integer >= {low}, got {val!r}")
    method = spec_mod.load_spec("dropout", folder="methods").with_overrides(
        draws=draws, tune=tune, chains=chains, cores=cores, target_accept=target_accept)
    own = method.resolved_priors()
    if gamma_sd is not None:
        if not (np.isfinite(gamma_sd) and gamma_sd > 0):
            raise ImrBayesError(f"gamma_sd must be > 0, got {gamma_sd!r}")
        own["gamma"] = {"dist": "Normal", "kwargs": {"mu": 0.0, "sigma": float(gamma_sd)}}
    if mar_fit is not None and mar_fit.outcome != outcome:
        raise ImrBayesError(f"mar_fit is a fit of {mar_fit.outcome!r}, not {outcome!r}")
    spec = registry.get(method.base)
    panel = make_panel(data, outcome, spec)
    priors = spec_mod.priors_for(spec_mod.load_prior_set(prior_set),
                                 panel.terms + sd_parameters(spec), direction)
    priors.update(own)
    key = {**model_key(panel, spec, priors), "kind": "dropout", "base": spec.model,
           "participants": len(panel.participants)}
    compiled = engine.compiled(key, lambda: build_model(panel, spec, priors),
                               method.sampler).with_data(_panel_data(panel, direction))
    post, stats = engine.sample(compiled, method.sampler, seed)
    s = panel.scale
    beta_std = xr.concat([post[f"beta_{t}"] for t in panel.terms], dim="term")
    beta_std = beta_std.assign_coords(term=list(panel.terms)).transpose("chain", "draw", "term")
    beta = beta_std * s
    if "intercept" in panel.terms:
        beta.loc[{"term": "intercept"}] = beta.sel(term="intercept") + panel.center
    ds = {"beta": beta, "beta_std": beta_std,
          "sigma_participant": post["sigma_participant"] * s,
          "sigma_residual": post["sigma_residual"] * s,
          "alpha": post["alpha"], "gamma": post["gamma"]}
    if "sigma_group" in post:
        ds["sigma_group"] = post["sigma_group"] * s
    posterior = xr.Dataset(ds)
    tree = xr.DataTree.from_dict({"posterior": posterior, "sample_stats": stats})
    tree.attrs.update({"analysis": "shared_parameter", "outcome": outcome,
                       **engine.provenance(method, seed=seed, data_hash=data_sha256(data),
                                           priors=priors,
                                           prior_set=spec_mod.load_prior_set(prior_set))})
    diagnostics = diagnose(tree, [v for v in ("beta", "sigma_participant", "sigma_group",
                                              "sigma_residual", "alpha", "gamma")
                                  if v in posterior], method.diagnostics)
    if mar_fit is None:
        mar_fit = imr_bayes.fit(data, outcome=outcome, analysis=method.base,
                                prior_set=prior_set,
                                seed=seed, draws=draws, tune=tune, chains=chains, cores=cores)
    rows = []
    mar_post = mar_fit.idata["posterior"]
    for model_name, b, bstd in (("mar", mar_post["beta"], mar_post["beta_std"]),
                                ("shared_parameter", beta, beta_std)):
        rows.append({"model": model_name, "estimand": "condition_x_time", "arm": None,
                     **_summary(b.sel(term="condition_x_time").values, direction)})
        rows.append({"model": model_name, "estimand": "condition_x_time_d", "arm": None,
                     **_summary(bstd.sel(term="condition_x_time").values, direction)})
    for arm in ARMS:
        rows.append({"model": "shared_parameter", "estimand": "gamma", "arm": arm,
                     **_summary(post["gamma"].sel(arm=arm).values, None)})
    table = pd.DataFrame(rows)
    table.insert(0, "outcome", outcome)
    return InformativeDropoutFit(outcome=outcome, table=table, idata=tree,
                                 diagnostics=diagnostics, mar_fit=mar_fit)
