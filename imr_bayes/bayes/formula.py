"""Formula interface: any bambi model on any long data set, sampled by nutpie.

bambi builds the PyMC model from a formula such as
``"Reaction ~ Days + (Days | Subject)"``; the model is then compiled once
(:func:`imr_bayes.bayes.sampling.compile_model`) and sampled with nutpie, and the result is
diagnosed and summarized like the ITT fits.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd

from imr_bayes.constants import DEFAULT_SEED
from imr_bayes.errors import DataValidationError, SpecError
from imr_bayes.spec import DiagnosticsSpec


def build(formula: str, data: pd.DataFrame, *, family: str = "gaussian",
          priors: dict[str, Any] | None = None, center_predictors: bool = True):
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


def fit_formula(formula: str, data: pd.DataFrame, *, family: str = "gaussian",
                priors: dict[str, Any] | None = None, seed: int = DEFAULT_SEED,
                draws: int = 1000, tune: int = 1000, chains: int = 4, cores: int = 2,
                thresholds: DiagnosticsSpec | None = None, label: str = "formula",
                center_predictors: bool = True, backend: str = "auto"):
    """Fit a bambi formula with nutpie and return a :class:`BayesianFit`.

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
    draws, tune, chains, cores : int
    thresholds : DiagnosticsSpec, optional
        Diagnostic thresholds (default: R-hat <= 1.01, ESS >= 400, no divergences).
    label : str
        Stored as the fit's ``analysis`` label.
    center_predictors : bool
        bambi's default (True) centres predictors, so ``Intercept`` is the mean response at
        the predictors' means, not at zero as in lme4/statsmodels (see ``docs/parity.md``).
    backend : {"auto", "pyfunc", "numba"}
        See :func:`imr_bayes.bayes.sampling.compile_model`.

    Returns
    -------
    BayesianFit
        ``effects`` holds one row per scalar parameter (bambi's names; vector parameters
        such as group-specific effects are summarized in ``idata`` only).
    """
    import pymc as pm
    import xarray as xr

    from imr_bayes.bayes.api import BayesianFit
    from imr_bayes.bayes.effects import effects_frame, summarize_draws
    from imr_bayes.bayes.sampling import choose_backend, compile_model, sample
    from imr_bayes.diagnostics import diagnose
    from imr_bayes.provenance import data_sha256, package_versions, spec_sha256

    model = build(formula, data, family=family, priors=priors,
                  center_predictors=center_predictors)
    pm_model = model.backend.model
    compiled = compile_model(pm_model, backend=choose_backend(backend, draws=draws, tune=tune,
                                                               chains=chains))
    raw = sample(compiled, draws=draws, tune=tune, chains=chains, cores=cores, seed=seed)
    posterior = raw["posterior"].to_dataset()
    stats = raw["sample_stats"].to_dataset()
    stats = stats.drop_vars([v for v in stats.data_vars if stats[v].dtype == object])
    loglik = pm.compute_log_likelihood(xr.DataTree.from_dict({"posterior": posterior}),
                                       model=pm_model, extend_inferencedata=False,
                                       progressbar=False)
    loglik = loglik.to_dataset() if hasattr(loglik, "to_dataset") else loglik
    response = model.response_term.name
    observed = xr.Dataset({response: ("__obs__", np.asarray(data[response], dtype=float))})
    tree = xr.DataTree.from_dict({"posterior": posterior, "sample_stats": stats,
                                  "log_likelihood": loglik, "observed_data": observed})
    spec_record = {"formula": formula, "family": family,
                   "priors": {k: str(v) for k, v in (priors or {}).items()}}
    tree.attrs.update({
        "analysis": label, "outcome": response, "formula": formula,
        "spec_hash": spec_sha256(spec_record), "data_hash": data_sha256(data),
        "seed": int(seed), "versions": json.dumps(package_versions(), sort_keys=True),
        "engine": "bambi", "sampler": "nutpie", "center_predictors": int(center_predictors),
    })
    free = [v.name for v in pm_model.free_RVs]
    scalar = [v for v in posterior.data_vars if posterior[v].ndim == 2]
    diagnostics = diagnose(tree, [v for v in free if v in posterior],
                           thresholds or DiagnosticsSpec())
    rows = [{"analysis": label, "outcome": response, "estimand": v, "scale": "raw",
             "n_rows": len(data), **summarize_draws(posterior[v].values)} for v in scalar]
    return BayesianFit(analysis=label, outcome=response, idata=tree,
                       effects=effects_frame(rows), diagnostics=diagnostics, spec=None)
