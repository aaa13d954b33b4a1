"""Shared machinery of the analyses beyond the ITT model (completion, fidelity, hospital).

The ITT engine (:mod:`imr_bayes.bayes.itt`) fits one model structure; the later analyses
need (a) the ITT linear mixed model with a *different fixed design* (fidelity subgroups,
a fidelity slope on the group effect, an attendance moderator) and (b) their own PyMC models
(CACE mixture, logistic regression, hurdle Student-t). This module gives both one path:

* :func:`design_panel` swaps the design of an ITT :class:`~imr_bayes.bayes.itt.Panel`;
  the ITT builder and its compiled-model cache then serve the new design unchanged;
* :func:`compile_once` caches any other compiled model by a structural key;
* :func:`sample_posterior` samples (nutpie by default) with the spec's settings;
* :func:`option_priors` reads the priors of analysis-specific parameters from the spec's
  ``options.priors`` (validated with :class:`imr_bayes.spec.PriorSpec`);
* :func:`lmm_groups` builds the ``log_likelihood``/``observed_data``/``constant_data``
  groups of a marginal-engine LMM;
* :func:`finish` assembles the DataTree with the same provenance attrs as ITT fits, runs
  the diagnostics and returns the :class:`~imr_bayes.bayes.api.BayesianFit`.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from imr_bayes.constants import TIMES
from imr_bayes.errors import SpecError
from imr_bayes.outcomes import unknown_choice_message
from imr_bayes.spec import AnalysisSpec, PriorSpec

_COMPILED: dict[str, Any] = {}


def option_priors(spec: AnalysisSpec, defaults: dict[str, dict[str, Any]]
                  ) -> dict[str, dict[str, Any]]:
    """Resolve the priors of analysis-specific parameters.

    Parameters
    ----------
    spec : AnalysisSpec
        Its ``options["priors"]`` (a mapping ``name -> {dist, kwargs}``) overrides the
        defaults.
    defaults : dict
        ``{name: {dist, kwargs}}``; the valid names.

    Raises
    ------
    SpecError
        If ``options.priors`` names an unknown parameter or holds an invalid prior.
    """
    given = dict(spec.options.get("priors", {}) or {})
    out = {}
    for name in given:
        if name not in defaults:
            raise SpecError(unknown_choice_message(f"prior of analysis {spec.name!r}", name,
                                                   tuple(defaults)))
    for name, default in defaults.items():
        raw = given.get(name, default)
        try:
            prior = PriorSpec.model_validate(raw)
        except Exception as exc:  # pydantic ValidationError: re-raised as a domain error
            raise SpecError(f"invalid prior {name!r} in analysis {spec.name!r}: {exc}"
                            ) from None
        out[name] = prior.resolved(1)
    return out


def check_options(spec: AnalysisSpec, valid: tuple[str, ...]) -> None:
    """Raise a :class:`SpecError` if the spec's ``options`` hold a key not in ``valid``."""
    for key in spec.options:
        if key not in valid:
            raise SpecError(unknown_choice_message(f"option of analysis {spec.name!r}", key,
                                                   valid))


def design_panel(panel, X: np.ndarray, terms: tuple[str, ...]):
    """Return the panel with another fixed design ``X`` (P, T, K) and term names."""
    return dataclasses.replace(panel, X=np.asarray(X, dtype=float), terms=tuple(terms))


def compile_once(key: dict[str, Any], build: Callable[[], Any], spec: AnalysisSpec):
    """Return the compiled model for a structural ``key``, building it on first use.

    The backend is the spec's (``auto`` resolved by the run's size, as for ITT fits).
    """
    from imr_bayes.bayes.sampling import choose_backend, compile_model

    s = spec.sampler
    backend = choose_backend(s.backend, draws=s.draws, tune=s.tune, chains=s.chains)
    text = json.dumps({**key, "backend": backend}, sort_keys=True, default=str)
    if text not in _COMPILED:
        _COMPILED[text] = compile_model(build(), backend=backend)
    return _COMPILED[text]


def sample_posterior(compiled, spec: AnalysisSpec, seed: int):
    """Sample ``compiled`` with the spec's sampler settings.

    Returns
    -------
    (posterior, sample_stats) : tuple of xarray.Dataset
        The sampled variables (constrained scale) and the sampler statistics.
    """
    from imr_bayes.bayes.sampling import sample

    s = spec.sampler
    raw = sample(compiled, draws=s.draws, tune=s.tune, chains=s.chains, cores=s.cores,
                 seed=seed, sampler=s.sampler, target_accept=s.target_accept)
    posterior = raw["posterior"].to_dataset()
    stats = raw["sample_stats"].to_dataset()
    stats = stats.drop_vars([v for v in stats.data_vars if stats[v].dtype == object])
    return posterior, stats


def flat(posterior, name: str) -> np.ndarray:
    """Draws of variable ``name`` as an array ``(chain * draw, ...)``."""
    v = posterior[name]
    return v.stack(sample=("chain", "draw")).transpose("sample", ...).to_numpy()


def chain_draw(values: np.ndarray, posterior) -> np.ndarray:
    """Reshape ``(chain * draw, ...)`` draws back to ``(chain, draw, ...)``."""
    shape = (posterior.sizes["chain"], posterior.sizes["draw"])
    return np.asarray(values).reshape(shape + np.shape(values)[1:])


def dataset(variables: dict[str, tuple[tuple[str, ...], np.ndarray]], posterior,
            coords: dict[str, Any] | None = None):
    """Build a posterior Dataset from ``{name: (extra dims, flat draws)}``."""
    import xarray as xr

    dims = ("chain", "draw")
    ds = {k: (dims + d, chain_draw(v, posterior)) for k, (d, v) in variables.items()}
    used = {d for dd, _ in variables.values() for d in dd}
    c = {"chain": posterior["chain"].values, "draw": posterior["draw"].values}
    c.update({k: v for k, v in (coords or {}).items() if k in used})
    return xr.Dataset(ds, coords=c)


def lmm_groups(panel, draws, posterior, *, seed: int, posterior_predictive: bool
               ) -> dict[str, Any]:
    """``log_likelihood`` (per participant, raw scale), ``observed_data``, ``constant_data``.

    For an LMM fitted with the ITT builder on ``panel`` (either engine); optionally a
    ``posterior_predictive`` group of replicated outcomes on the raw scale.
    """
    import xarray as xr

    from imr_bayes.bayes.itt import mean_std, residual_var
    from imr_bayes.bayes.marginal import block_logp_np, draw_participant_effects

    mu = mean_std(draws, panel)
    rvar = residual_var(draws, panel)
    resid = panel.z[None] - mu
    pvar = draws.sigma_participant**2
    if draws.participant_raw is None:
        ll = block_logp_np(resid, panel.mask, rvar, pvar)
        u = None
    else:
        u = draws.sigma_participant[:, None] * draws.participant_raw
        r = resid - u[:, :, None]
        ll = (-0.5 * (np.log(2 * np.pi * rvar[:, :, None]) + r**2 / rvar[:, :, None])
              * panel.mask).sum(axis=2)
    ll = ll - panel.mask.sum(axis=1)[None] * np.log(panel.scale)
    pcoords = {"participant": panel.participants, "time": list(TIMES)}
    out = {
        "log_likelihood": xr.Dataset(
            {"y": (("chain", "draw", "participant"), chain_draw(ll, posterior))},
            coords={"participant": panel.participants}),
        "observed_data": xr.Dataset({"y": (("participant", "time"), panel.y)}, coords=pcoords),
        "constant_data": xr.Dataset(
            {"treated": ("participant", panel.treated),
             "mask": (("participant", "time"), panel.mask),
             "group_index": ("participant", panel.group_idx),
             "group_on": (("participant", "time"), panel.group_on),
             "X": (("participant", "time", "term"), panel.X),
             "center": ((), panel.center), "scale": ((), panel.scale)},
            coords={**pcoords, "term": list(panel.terms)}),
    }
    if posterior_predictive:
        rng = np.random.default_rng([seed, 1])
        if u is None:
            u = draw_participant_effects(resid, panel.mask, rvar, pvar, rng)
        yrep = mu + u[:, :, None] + np.sqrt(rvar)[:, :, None] * rng.standard_normal(mu.shape)
        out["posterior_predictive"] = xr.Dataset(
            {"y": (("chain", "draw", "participant", "time"),
                   chain_draw(panel.center + panel.scale * yrep, posterior))},
            coords=pcoords)
    return out


def sample_lmm(panel, request, priors: dict[str, dict[str, Any]]):
    """Sample the ITT builder's LMM on ``panel`` (any fixed design).

    Returns
    -------
    (draws, posterior, sample_stats)
        :class:`imr_bayes.bayes.itt.Draws` (standardized scale) and the raw Datasets.
    """
    from imr_bayes.bayes.itt import compiled_for, extract_draws

    spec = request.spec
    compiled = compiled_for(panel, spec, priors)
    posterior, stats = sample_posterior(compiled, spec, request.seed)
    return extract_draws(posterior, panel, spec), posterior, stats


def lmm_variables(draws, panel, spec) -> dict[str, tuple[tuple[str, ...], np.ndarray]]:
    """Posterior variables of an LMM on the raw outcome scale.

    ``beta`` (intercept shifted by the centre, every other coefficient times the scale),
    ``beta_std`` and the SD parameters and IMR-group effects, as :func:`dataset` input.
    """
    s = panel.scale
    beta = draws.beta * s
    if "intercept" in panel.terms:
        beta[:, panel.terms.index("intercept")] += panel.center
    out = {"beta": (("term",), beta), "beta_std": (("term",), draws.beta)}
    if spec.random.participant:
        out["sigma_participant"] = ((), draws.sigma_participant * s)
    if spec.random.imr_group:
        out["sigma_group"] = ((), draws.sigma_group * s)
        out["group_effect"] = (("group",), draws.sigma_group[:, None] * draws.group_raw * s)
    sres = draws.sigma_residual * s
    out["sigma_residual"] = (("arm",) if sres.ndim == 2 else (), sres)
    return out


def lmm_effects(request, panel, variables, terms: tuple[str, ...],
                effect_terms: tuple[str, ...], direction: int) -> pd.DataFrame:
    """Tidy effects of an LMM built on the ITT design: each term (raw), effects also per SD.

    ``effect_terms`` get P(benefit) in ``direction`` and a standardized ``<term>_d`` row; the
    participant, group and residual SDs follow.
    """
    from imr_bayes.bayes.effects import effects_frame, summarize_draws

    base = {"analysis": request.analysis, "outcome": request.outcome,
            "n_rows": panel.n_rows,
            "n_participants": int((panel.mask.sum(axis=1) > 0).sum())}
    beta, beta_std = variables["beta"][1], variables["beta_std"][1]
    rows = []
    for i, term in enumerate(terms):
        effect = term in effect_terms
        rows.append({**base, "estimand": term, "scale": "raw",
                     **summarize_draws(beta[:, i], direction=direction if effect else None)})
        if effect:
            rows.append({**base, "estimand": f"{term}_d", "scale": "d",
                         **summarize_draws(beta_std[:, i], direction=direction)})
    return effects_frame(rows + sd_rows(base, variables))


def sd_rows(base: dict[str, Any], variables) -> list[dict[str, Any]]:
    """Effects rows of the participant, group and residual SDs (scalar ones only)."""
    from imr_bayes.bayes.effects import summarize_draws

    return [{**base, "estimand": name, "scale": "raw", **summarize_draws(variables[name][1])}
            for name in ("sigma_participant", "sigma_group", "sigma_residual")
            if name in variables and variables[name][1].ndim == 1]


def finish(data: pd.DataFrame, request, *, posterior, sample_stats, groups: dict[str, Any],
           effects: pd.DataFrame, var_names: list[str], priors: dict[str, Any],
           n_rows: int, extra_attrs: dict[str, Any] | None = None,
           outcome: str | None = None):
    """Assemble the DataTree (ITT provenance attrs), diagnose it, return the fit.

    Parameters
    ----------
    data : pandas.DataFrame
        The data the caller passed (hashed for ``data_hash``).
    request : imr_bayes.bayes.analyses.FitRequest
    posterior, sample_stats : xarray.Dataset
    groups : dict
        Further DataTree groups (``log_likelihood``, ``observed_data``, ...).
    effects : pandas.DataFrame
        Tidy effects (:data:`imr_bayes.bayes.effects.COLUMNS`).
    var_names : list of str
        Posterior variables to diagnose.
    priors : dict
        Resolved priors, recorded in the attrs.
    n_rows : int
        Rows used by the likelihood.
    extra_attrs : dict, optional
        Further root attrs (e.g. the non-randomized label).
    outcome : str, optional
        Outcome label of the fit when it is not ``request.outcome`` (e.g. ``hosp_after``).
    """
    import xarray as xr

    from imr_bayes.bayes.api import BayesianFit
    from imr_bayes.diagnostics import diagnose
    from imr_bayes.provenance import data_sha256, package_versions, spec_sha256

    spec = request.spec
    s = spec.sampler
    outcome = outcome or request.outcome
    tree = xr.DataTree.from_dict({"posterior": posterior, "sample_stats": sample_stats,
                                  **groups})
    tree.attrs.update({
        "analysis": request.analysis, "outcome": outcome,
        "spec_hash": spec.sha256, "prior_set": request.prior_set.name,
        "prior_set_hash": spec_sha256(request.prior_set.model_dump(mode="json")),
        "data_hash": data_sha256(data), "seed": int(request.seed),
        "versions": json.dumps(package_versions(), sort_keys=True),
        "engine": s.engine, "sampler": s.sampler, "n_rows": int(n_rows),
        "priors": json.dumps(priors, sort_keys=True),
        **(extra_attrs or {}),
    })
    diagnostics = diagnose(tree, var_names, spec.diagnostics)
    return BayesianFit(analysis=request.analysis, outcome=outcome, idata=tree,
                       effects=effects, diagnostics=diagnostics, spec=spec)
