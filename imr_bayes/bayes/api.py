"""Public API: ``fit`` (every analysis of ``models/analyses``), ``fit_formula``, ``BayesianFit``."""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from imr_bayes.constants import CI_LEVEL, DEFAULT_SEED
from imr_bayes.diagnostics import Diagnostics
from imr_bayes.errors import SpecError
from imr_bayes.estimates import Estimates


@dataclass(frozen=True)
class BayesianFit:
    """One Bayesian fit: labelled draws, estimates, diagnostics and the spec it came from.

    It behaves like a brms or bambi fit: ``summary()`` (a table at 95 %), ``plot()``
    (trace, rank), ``pp_check()`` (on the observed cells only), ``save()`` /
    ``BayesianFit.load()``, a short ``repr`` and an HTML view in notebooks.

    Attributes
    ----------
    analysis : str
    outcome : str
    idata : xarray.DataTree
        Groups ``posterior``, ``sample_stats``, ``log_likelihood``, ``observed_data``,
        ``constant_data`` and, on request, ``posterior_predictive`` (``docs/models.md``; the
        linear mixed models then also carry the per-observation ``y_cell`` that ArviZ's
        ``loo_pit`` reads). Root attrs: ``spec_hash``, ``spec`` (JSON), ``data_hash``,
        ``seed``, ``versions`` (JSON), ``analysis``, ``outcome``, ``priors`` (JSON).
    estimates : Estimates
        Posterior estimates (source ``posterior``), with their draws.
    diagnostics : Diagnostics
    spec : SpecBase or None
        The validated spec (None for :func:`fit_formula`).
    """

    analysis: str
    outcome: str
    idata: Any
    estimates: Estimates
    diagnostics: Diagnostics
    spec: Any

    def __repr__(self) -> str:
        status = "passed" if self.diagnostics.passed else "FAILED"
        head = ""
        rows = self.estimates.table
        treat = [e.name for e in getattr(self.spec, "estimands", ()) if e.treatment]
        if treat:
            r = rows[rows["estimand"] == treat[0]].head(1)
            if len(r):
                r = r.iloc[0]
                head = (f"; {treat[0]} {r['estimate']:.3g} (95 % ETI {r['ci_low']:.3g} to "
                        f"{r['ci_high']:.3g})")
        return (f"BayesianFit(analysis={self.analysis!r}, outcome={self.outcome!r}, "
                f"{len(rows)} estimates{head}; diagnostics {status})")

    def _repr_html_(self) -> str:
        """Compact HTML for notebooks: settings, diagnostics, treatment estimands."""
        from imr_bayes.bayes.views import html_summary

        return html_summary(self)

    @property
    def effects(self) -> pd.DataFrame:
        """Deprecated: the estimates in the layout of imr_bayes 0.1 (use :attr:`estimates`).

        Columns ``mean``, ``eti95_low``, ``eti95_high`` and the 0.1 estimand names
        (``pp_`` and ``fidelity_`` prefixes). Removed in the next release.
        """
        warnings.warn("BayesianFit.effects is deprecated and will be removed in the next "
                      "release; use BayesianFit.estimates.table (columns estimate, ci_low, "
                      "ci_high)", DeprecationWarning, stacklevel=2)
        return legacy_effects(self)

    def summary(self, *, level: float = CI_LEVEL) -> pd.DataFrame:
        """Treatment estimands and sampled parameters, as brms' ``summary()``.

        Parameters
        ----------
        level : float
            Probability of the equal-tailed interval (default 0.95).

        Returns
        -------
        pandas.DataFrame
            One row per estimand or parameter (ArviZ labels), column ``kind`` and
            :func:`arviz_stats.summary`'s columns: mean, sd, ``eti95_lb``, ``eti95_ub``,
            bulk and tail ESS, R-hat, MCSEs (:func:`imr_bayes.bayes.views.summary_table`).
        """
        from imr_bayes.bayes.views import summary_table

        return summary_table(self, level=level)

    def plot(self, kind: str = "trace", var_names: Sequence[str] | None = None) -> Any:
        """Trace (``"trace"``, as brms' ``plot()``) or rank (``"rank"``) plot.

        Parameters
        ----------
        kind : {"trace", "rank"}
        var_names : sequence of str, optional
            Posterior variables (default: the sampled parameters the diagnostics check).

        Returns
        -------
        arviz_plots.PlotCollection
            Matplotlib backend (:func:`imr_bayes.bayes.views.plot_fit`).
        """
        from imr_bayes.bayes.views import plot_fit

        return plot_fit(self, kind, var_names)

    def pp_check_data(self, *, num_samples: int = 50, participants: str = "conditional",
                      seed: int | None = None) -> Any:
        """Replicated data of the observed cells beside the observed values (DataTree).

        See :func:`imr_bayes.bayes.views.pp_check_data`; :meth:`pp_check` draws it.
        """
        from imr_bayes.bayes.views import pp_check_data

        return pp_check_data(self, num_samples=num_samples, participants=participants,
                             seed=seed)

    def pp_check(self, *, kind: str = "dist", num_samples: int = 50,
                 participants: str = "conditional", seed: int | None = None) -> Any:
        """Posterior predictive check, as brms' ``pp_check()``, on the observed cells only.

        Parameters
        ----------
        kind : {"dist", "ecdf", "loo_pit"}
            Replicated densities or ECDFs over the observed ones per arm x time, or
            ArviZ's LOO-PIT (needs ``posterior_predictive=True`` at fit time).
        num_samples : int
            Replicated data sets drawn.
        participants : {"conditional", "new"}
            The participants' own intercepts (as brms) or new participants.
        seed : int, optional
            Default: the fit's seed.

        Returns
        -------
        arviz_plots.PlotCollection
            Matplotlib backend (:func:`imr_bayes.bayes.views.pp_check`).
        """
        from imr_bayes.bayes.views import pp_check

        return pp_check(self, kind=kind, num_samples=num_samples, participants=participants,
                        seed=seed)

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the fit to ``path`` as netCDF, atomically; :meth:`load` reads it back.

        The file holds ``idata`` (with its provenance attrs) and a group ``estimates`` (the
        estimates table and their draws; :mod:`imr_bayes.bayes.io`).
        """
        from imr_bayes.bayes.io import save_fit

        return save_fit(self, path)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> BayesianFit:
        """Read a fit written by :meth:`save`: ``idata``, estimates, spec and diagnostics.

        The diagnostics are recomputed against the spec's thresholds.

        Raises
        ------
        ImrBayesError
            If the file is missing or was not written by :meth:`save`.
        """
        from imr_bayes.bayes.io import load_fit

        return load_fit(path)


#: 0.1 names: analysis -> (prefix, estimands it applied to).
_LEGACY_PREFIX: dict[str, tuple[str, tuple[str, ...]]] = {
    "completers": ("pp_", ("condition",)),
    "completers_categorical": ("pp_", ("condition",)),
    "fidelity": ("fidelity_", ("high", "moderate")),
}


def legacy_effects(fit: BayesianFit) -> pd.DataFrame:
    """Return the estimates of ``fit`` in the 0.1 ``effects`` layout (deprecation period)."""
    t = fit.estimates.table.drop(columns="note").rename(columns={
        "estimate": "mean", "ci_low": "eti95_low", "ci_high": "eti95_high", "label": "note"})
    prefix, starts = _LEGACY_PREFIX.get(fit.analysis, ("", ()))
    names = []
    for e, time in zip(t["estimand"], t["time"], strict=True):
        if e == "high_minus_moderate":
            e = f"high_minus_moderate_x_t{time}"
        names.append(f"{prefix}{e}" if prefix and str(e).startswith(starts) else e)
    t = t.assign(estimand=names)
    cols = ["analysis", "outcome", "estimand", "arm", "time", "mean", "median", "sd",
            "eti95_low", "eti95_high", "scale", "p_direction", "p_benefit", "n_rows",
            "n_participants"] + (["note"] if t["note"].notna().any() else [])
    return t[cols]


def resolve_outcome(spec: Any, outcome: str | None) -> str:
    """Return the outcome a spec is fitted to: the code given, the primary one, or its response.

    Raises
    ------
    SpecError
        An unknown outcome code, an outcome the spec does not apply to, or an outcome given
        to a kind with its own response.
    """
    from imr_bayes import outcomes

    if spec.outcomes == "response":
        response = spec.response
        if outcome not in (None, response):
            raise SpecError(f"analysis {spec.name!r} models its own response {response!r}; "
                            f"leave outcome out (got {outcome!r})")
        return response
    code = outcome or outcomes.PRIMARY
    outcomes.get(code)
    allowed = applicable_outcomes(spec)
    if code not in allowed:
        raise SpecError(f"analysis {spec.name!r} applies to outcome(s) {', '.join(allowed)}; "
                        f"got {code!r}")
    return code


def applicable_outcomes(spec: Any, field: str = "outcomes") -> tuple[str, ...]:
    """Return the outcome codes a spec's ``outcomes`` (or ``main_run``) field names."""
    from imr_bayes import outcomes, trial

    value = getattr(spec, field)
    if isinstance(value, tuple):
        return value
    return {"all": outcomes.CODES, "primary": (outcomes.PRIMARY,),
            "fidelity": trial.fidelity_outcomes(),
            "response": (getattr(spec, "response", ""),)}[value]


def fit(data: pd.DataFrame, *, outcome: str | None = None, analysis: str = "itt",
        prior_set: str | None = None, seed: int = DEFAULT_SEED, draws: int | None = None,
        tune: int | None = None, chains: int | None = None,
        posterior_predictive: bool = False, **overrides: Any) -> BayesianFit:
    """Fit an analysis of ``models/analyses`` to long participant data.

    Parameters
    ----------
    data : pandas.DataFrame
        Long data in the contract's layout (one row per participant x time). The columns
        the analysis needs are validated against the contract before any sampling.
    outcome : str, optional
        Outcome code (see :data:`imr_bayes.outcomes.CODES`; default the primary outcome).
        Analyses with their own response (hospitalization, length of stay) take none.
    analysis : str
        An analysis with a spec in ``models/analyses`` (``itt``, ``itt_categorical``, ...).
    prior_set : str, optional
        A prior set in ``models/priors`` (default: the spec's).
    seed : int
        Same seed and data => identical draws.
    draws, tune, chains : int, optional
        Override the spec's sampler settings.
    posterior_predictive : bool
        Add a ``posterior_predictive`` group.
    **overrides
        Other spec fields of the analysis' kind, re-validated: sampler settings
        (``engine``, ``sampler``, ``backend``, ``cores``, ``target_accept``), random
        effects (``imr_group``, ``participant``), ``residual_sd_by_arm``, ``covariates``,
        ``priors``, ... (:meth:`imr_bayes.spec.SpecBase.with_overrides`).

    Returns
    -------
    BayesianFit

    Raises
    ------
    SpecError
        Unknown analysis, prior set, outcome or override (with the valid choices).
    DataValidationError
        The data lack a needed column or break the contract (values out of range, unknown
        codes, duplicate participant x time rows, ...), before any sampling.
    """
    from imr_bayes import registry
    from imr_bayes.spec import load_prior_set

    spec = registry.get(analysis)
    kind = registry.get_kind(spec.model)
    code = resolve_outcome(spec, outcome)
    sampler = {k: v for k, v in (("draws", draws), ("tune", tune), ("chains", chains))
               if v is not None}
    if sampler or overrides:
        spec = spec.with_overrides(**sampler, **overrides)
    priors = load_prior_set(prior_set or spec.prior_set)
    checked = validate_for(data, spec, code)
    request = registry.FitRequest(analysis=analysis, outcome=code, spec=spec,
                                  prior_set=priors, seed=int(seed),
                                  posterior_predictive=posterior_predictive)
    return kind.fit_function()(checked, request)


def validate_for(data: pd.DataFrame, spec: Any, outcome: str) -> pd.DataFrame:
    """Validate the columns an analysis needs against the data contract.

    Raises
    ------
    DataValidationError
        Naming each problem (missing column, value out of range, duplicate rows, ...).
    """
    from imr_bayes.data import validate

    return validate(data, required=spec.columns(outcome))


def fit_formula(formula: str, data: pd.DataFrame, *, family: str = "gaussian",
                priors: dict[str, Any] | None = None, seed: int = DEFAULT_SEED,
                draws: int = 1000, tune: int = 1000, chains: int = 4, cores: int = 2,
                thresholds: Any = None, label: str = "formula",
                center_predictors: bool = True, backend: str = "auto") -> BayesianFit:
    """Fit any bambi formula to long data (nutpie sampler) and diagnose it.

    See :func:`imr_bayes.bayes.formula.fit_formula`.
    """
    from imr_bayes.bayes.formula import fit_formula as _fit

    return _fit(formula, data, family=family, priors=priors, seed=seed, draws=draws,
                tune=tune, chains=chains, cores=cores, thresholds=thresholds, label=label,
                center_predictors=center_predictors, backend=backend)
