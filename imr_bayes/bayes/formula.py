"""Formula interface: any bambi model on any long data set, sampled by nutpie.

bambi builds the PyMC model from a formula such as
``"Reaction ~ Days + (Days | Subject)"``; the model is compiled
(:func:`imr_bayes.bayes.sampling.compile_model`) and sampled with nutpie, and bambi's own
post-processing turns the draws into the posterior :meth:`bambi.Model.fit` returns (same
names, uncentred ``Intercept``, no ``*_offset`` or ``mu``). The result is diagnosed and
summarized like the ITT fits.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from imr_bayes.constants import DEFAULT_SEED
from imr_bayes.errors import DataValidationError, SpecError
from imr_bayes.spec import DiagnosticsSpec

if TYPE_CHECKING:
    import bambi
    import xarray as xr

    from imr_bayes.bayes.api import BayesianFit


def build(formula: str, data: pd.DataFrame, *, family: str = "gaussian",
          priors: dict[str, Any] | None = None, center_predictors: bool = True
          ) -> bambi.Model:
    """Return the built bambi model (its PyMC model is ``.backend.model``).

    Raises
    ------
    DataValidationError
        If a variable of the formula is not a column of ``data``.
    SpecError
        If bambi rejects the formula, family or priors.
    """
    import bambi as bmb

    try:
        model = bmb.Model(formula, data, family=family, priors=priors,
                          center_predictors=center_predictors)
        model.build()
    except KeyError as exc:
        raise DataValidationError([f"formula {formula!r} uses a column not in the data: "
                                   f"{exc}; columns: {', '.join(map(str, data.columns))}"]
                                  ) from exc
    except (ValueError, TypeError) as exc:
        raise SpecError(f"bambi cannot build {formula!r} (family {family!r}): {exc}") from exc
    return model


def bambi_tree(model: bambi.Model, raw: xr.DataTree) -> xr.DataTree:
    """Turn nutpie's draws of a bambi model into the DataTree :meth:`bambi.Model.fit` returns.

    The steps are bambi's and PyMC's own, in the order ``Model.fit()`` takes them
    (``bambi.backend.pymc.PyMCModel._run_mcmc``): the deterministic parameters of the
    likelihood (``mu``, ``p``, ...) are not kept; bambi's ``_clean_results`` then drops the
    ``*_offset`` variables, orders the dimensions and, for centred predictors, subtracts
    ``mean(X) @ beta`` from ``Intercept``. The per-observation log-likelihood is computed
    by PyMC beforehand, on the draws the sampler made (the centred ``Intercept`` and the
    offsets its model graph reads).

    Parameters
    ----------
    model : bambi.Model
        The built model that was sampled.
    raw : xarray.DataTree
        :func:`imr_bayes.bayes.sampling.sample`'s result: ``posterior`` (free variables and
        deterministics) and ``sample_stats``.

    Returns
    -------
    xarray.DataTree
        Groups ``posterior``, ``sample_stats``, ``log_likelihood``, ``observed_data``.
    """
    import pymc as pm
    import xarray as xr
    from pymc.backends.arviz import (
        coords_and_dims_for_inferencedata,
        dict_to_dataset,
        find_observations,
    )

    pm_model = model.backend.model
    posterior = raw["posterior"].to_dataset()
    loglik = pm.compute_log_likelihood(xr.DataTree.from_dict({"posterior": posterior}),
                                       model=pm_model, extend_inferencedata=False,
                                       progressbar=False)
    response_params = [v.name for v in pm_model.deterministics
                       if v.name in model.family.likelihood.params]
    stats = raw["sample_stats"].to_dataset()
    stats = stats.drop_vars([v for v in stats.data_vars if stats[v].dtype == object])
    coords, dims = coords_and_dims_for_inferencedata(pm_model)
    observed = dict_to_dataset(find_observations(pm_model), coords=coords, dims=dims,
                               sample_dims=[])
    tree = xr.DataTree.from_dict({
        "posterior": posterior.drop_vars(response_params), "sample_stats": stats,
        "log_likelihood": loglik, "observed_data": observed,
    })
    # private in bambi 0.21.0; the slow tests compare the result with bambi's own fit()
    return model.backend._clean_results(tree, omit_offsets=True, include_response_params=False)


def fit_formula(formula: str, data: pd.DataFrame, *, family: str = "gaussian",
                priors: dict[str, Any] | None = None, seed: int = DEFAULT_SEED,
                draws: int = 1000, tune: int = 1000, chains: int = 4, cores: int = 2,
                thresholds: DiagnosticsSpec | None = None, label: str = "formula",
                center_predictors: bool = True, backend: str = "auto") -> BayesianFit:
    """Fit a bambi formula with nutpie and return a :class:`BayesianFit`.

    The posterior is the one :meth:`bambi.Model.fit` returns (see :func:`bambi_tree`):
    bambi's names, ``Intercept`` at predictors = 0, no ``*_offset`` variables and no
    per-observation parameters of the likelihood (``mu``, ``p``, ...).

    Parameters
    ----------
    formula : str
        bambi/formulae formula, e.g. ``"Reaction ~ Days + (Days | Subject)"``.
    data : pandas.DataFrame
        Long data (one row per observation).
    family : str
        bambi family name.
    priors : dict, optional
        bambi priors (``{term: bambi.Prior(...)}``); bambi's defaults otherwise.
    seed : int
        Same seed and data => identical draws.
    draws, tune, chains, cores : int
    thresholds : DiagnosticsSpec, optional
        Diagnostic thresholds (default: R-hat <= 1.01, ESS >= 400, no divergences).
    label : str
        Stored as the fit's ``analysis`` label.
    center_predictors : bool
        Passed to :class:`bambi.Model`: the sampler then works with centred predictors
        (better geometry). Either way ``Intercept`` is reported at predictors = 0, as by
        bambi's ``fit()``, lme4, brms and statsmodels.
    backend : {"auto", "pyfunc", "numba"}
        See :func:`imr_bayes.bayes.sampling.compile_model`.

    Returns
    -------
    BayesianFit
        ``idata``: bambi's posterior, nutpie's ``sample_stats``, ``observed_data`` and a
        per-observation ``log_likelihood``. ``effects``: one row per scalar parameter
        (bambi's names; vector parameters such as group-specific effects are in ``idata``
        only). ``diagnostics``: every parameter of the posterior.
    """
    from imr_bayes.bayes.sampling import choose_backend, compile_model, sample
    from imr_bayes.provenance import data_sha256, package_versions, spec_sha256

    model = build(formula, data, family=family, priors=priors,
                  center_predictors=center_predictors)
    compiled = compile_model(model.backend.model,
                             backend=choose_backend(backend, draws=draws, tune=tune,
                                                    chains=chains))
    raw = sample(compiled, draws=draws, tune=tune, chains=chains, cores=cores, seed=seed)
    tree = bambi_tree(model, raw)
    response = model.response_term.name
    spec_record = {"formula": formula, "family": family,
                   "priors": {k: str(v) for k, v in (priors or {}).items()}}
    tree.attrs.update({
        "analysis": label, "outcome": response, "formula": formula,
        "spec_hash": spec_sha256(spec_record), "data_hash": data_sha256(data),
        "seed": int(seed), "versions": json.dumps(package_versions(), sort_keys=True),
        "engine": "bambi", "sampler": "nutpie", "center_predictors": int(center_predictors),
    })
    return formula_fit(tree, n_rows=len(data), thresholds=thresholds)


def formula_fit(tree: xr.DataTree, *, n_rows: int,
                thresholds: DiagnosticsSpec | None = None) -> BayesianFit:
    """Assemble the :class:`BayesianFit` of a formula fit from its DataTree.

    Parameters
    ----------
    tree : xarray.DataTree
        :func:`bambi_tree`'s result with the root attrs ``analysis`` and ``outcome``.
    n_rows : int
        Rows of the data (the effects table's ``n_rows``).
    thresholds : DiagnosticsSpec, optional
        Diagnostic thresholds (default: :class:`DiagnosticsSpec`'s).

    Returns
    -------
    BayesianFit
        Diagnostics of every posterior variable; effects of the scalar ones.
    """
    from imr_bayes.bayes.api import BayesianFit
    from imr_bayes.diagnostics import diagnose
    from imr_bayes.estimates import Estimates

    label, response = tree.attrs["analysis"], tree.attrs["outcome"]
    posterior = tree["posterior"]
    diagnostics = diagnose(tree, list(posterior.data_vars), thresholds or DiagnosticsSpec())
    items = []
    for name, var in posterior.data_vars.items():
        extra = [d for d in var.dims if d not in ("chain", "draw")]
        if not extra:
            items.append(({"estimand": str(name)}, var.values))
            continue
        stacked = var.stack(element=extra).transpose("chain", "draw", "element")
        for k, coord in enumerate(stacked["element"].values):
            tag = ", ".join(str(c) for c in np.atleast_1d(coord))
            items.append(({"estimand": f"{name}[{tag}]"}, stacked.values[..., k]))
    est = Estimates.from_draws({"analysis": label, "outcome": response, "n_rows": n_rows},
                               items)
    return BayesianFit(analysis=label, outcome=response, idata=tree,
                       estimates=est, diagnostics=diagnostics, spec=None)
