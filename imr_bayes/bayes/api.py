"""Public API: ``fit`` (registered analyses), ``fit_formula`` (bambi), ``BayesianFit``."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from imr_bayes import spec as spec_mod
from imr_bayes.constants import DEFAULT_SEED
from imr_bayes.diagnostics import Diagnostics
from imr_bayes.errors import SpecError
from imr_bayes.outcomes import get as get_outcome
from imr_bayes.outcomes import unknown_choice_message


@dataclass(frozen=True)
class BayesianFit:
    """One Bayesian fit: labelled draws, tidy effects, diagnostics and the spec it came from.

    Attributes
    ----------
    analysis : str
    outcome : str
    idata : xarray.DataTree
        Groups ``posterior``, ``sample_stats``, ``log_likelihood``, ``observed_data``,
        ``constant_data`` and, on request, ``posterior_predictive``. Root attrs:
        ``spec_hash``, ``data_hash``, ``seed``, ``versions`` (JSON), ``analysis``,
        ``outcome``.
    effects : pandas.DataFrame
        Tidy estimands (see :data:`imr_bayes.bayes.effects.COLUMNS`).
    diagnostics : Diagnostics
    spec : AnalysisSpec or None
        The validated spec (None for :func:`fit_formula`).
    """

    analysis: str
    outcome: str
    idata: Any
    effects: pd.DataFrame
    diagnostics: Diagnostics
    spec: Any

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write ``idata`` (with its provenance attrs) to ``path`` as netCDF, atomically."""
        from imr_bayes.bayes.io import save_tree

        return save_tree(self.idata, path)


def fit(data: pd.DataFrame, *, outcome: str = "imrs_client", analysis: str = "itt",
        prior_set: str | None = None, seed: int = DEFAULT_SEED, draws: int | None = None,
        tune: int | None = None, chains: int | None = None,
        posterior_predictive: bool = False, **options: Any) -> BayesianFit:
    """Fit a registered Bayesian analysis to long participant data.

    Parameters
    ----------
    data : pandas.DataFrame
        Long data in the contract's layout (one row per participant x time).
    outcome : str
        Outcome code (see :data:`imr_bayes.outcomes.CODES`).
    analysis : str
        A registered analysis with a spec in ``models/analyses`` (``itt``,
        ``itt_categorical``, ...).
    prior_set : str, optional
        A prior set in ``models/priors`` (default: the spec's, ``default``).
    seed : int
        Same seed and data => identical draws.
    draws, tune, chains : int, optional
        Override the spec's sampler settings (spec default 1000, 1000, 4).
    posterior_predictive : bool
        Add a ``posterior_predictive`` group.
    **options
        Analysis options (ITT: ``engine`` "marginal"/"full", ``sampler`` "nutpie"/"pymc",
        ``backend`` "auto"/"pyfunc"/"numba", ``imr_group``, ``participant``,
        ``residual_sd_by_arm``, ``cores``, ``target_accept``).

    Returns
    -------
    BayesianFit

    Raises
    ------
    SpecError
        Unknown analysis, prior set or option (with the valid choices).
    DataValidationError
        Data lack a needed column or hold values outside the contract.
    """
    from imr_bayes.bayes import analyses

    entry = analyses.get(analysis)
    get_outcome(outcome)
    for key in options:
        if key not in entry.options:
            raise SpecError(unknown_choice_message(f"option of analysis {analysis!r}", key,
                                                   entry.options))
    spec = spec_mod.load_analysis(analysis)
    sampler = spec.sampler.model_dump()
    for key, val in (("draws", draws), ("tune", tune), ("chains", chains)):
        if val is not None:
            sampler[key] = val
    for key in ("engine", "sampler", "backend", "cores", "target_accept"):
        if key in options:
            sampler[key] = options.pop(key)
    raw = spec.model_dump(mode="python")
    raw["sampler"] = sampler
    if "imr_group" in options:
        raw["random"]["imr_group"] = bool(options.pop("imr_group"))
    if "participant" in options:
        raw["random"]["participant"] = bool(options.pop("participant"))
    if "residual_sd_by_arm" in options:
        raw["residual_sd_by_arm"] = bool(options.pop("residual_sd_by_arm"))
    spec = spec_mod.parse_analysis(raw, source=f"{analysis} with overrides")
    priors = spec_mod.load_prior_set(prior_set or spec.prior_set)
    request = analyses.FitRequest(analysis=analysis, outcome=outcome, spec=spec,
                                  prior_set=priors, seed=int(seed),
                                  posterior_predictive=posterior_predictive, options=options)
    return entry.fit_function()(data, request)


def fit_formula(formula: str, data: pd.DataFrame, *, family: str = "gaussian",
                priors: dict[str, Any] | None = None, seed: int = DEFAULT_SEED,
                draws: int = 1000, tune: int = 1000, chains: int = 4, cores: int = 2,
                thresholds: spec_mod.DiagnosticsSpec | None = None,
                label: str = "formula", center_predictors: bool = True,
                backend: str = "auto") -> BayesianFit:
    """Fit any bambi formula to long data (nutpie sampler) and diagnose it.

    See :func:`imr_bayes.bayes.formula.fit_formula`.
    """
    from imr_bayes.bayes.formula import fit_formula as _fit

    return _fit(formula, data, family=family, priors=priors, seed=seed, draws=draws,
                tune=tune, chains=chains, cores=cores, thresholds=thresholds, label=label,
                center_predictors=center_predictors, backend=backend)
