"""Registry of Bayesian analyses: ``imr_bayes.fit(..., analysis=NAME)`` looks NAME up here.

An analysis is a spec file ``models/analyses/<name>.yaml`` plus a fit function registered
under the same name. Later analyses (completers, CACE, fidelity, ...) plug in with
:func:`register`; the fit function receives a :class:`FitRequest` and returns a
:class:`imr_bayes.bayes.api.BayesianFit`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from imr_bayes.errors import SpecError
from imr_bayes.outcomes import unknown_choice_message
from imr_bayes.spec import AnalysisSpec, PriorSet


@dataclass(frozen=True)
class FitRequest:
    """Everything a registered fit function needs besides the data.

    Attributes
    ----------
    analysis : str
    outcome : str
    spec : AnalysisSpec
        Validated, with sampler settings already overridden by the caller's arguments.
    prior_set : PriorSet
    seed : int
    posterior_predictive : bool
    options : dict
        Analysis-specific options, already checked against :attr:`Analysis.options`.
    """

    analysis: str
    outcome: str
    spec: AnalysisSpec
    prior_set: PriorSet
    seed: int
    posterior_predictive: bool = False
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Analysis:
    """A registered analysis.

    Attributes
    ----------
    name : str
        Same as its spec file's name.
    target : str
        ``"module:function"`` of the fit function ``(data, request) -> BayesianFit``,
        imported on first use so the registry itself stays light.
    options : tuple of str
        Option names ``fit(**options)`` accepts for this analysis.
    """

    name: str
    target: str
    options: tuple[str, ...] = ()

    def fit_function(self) -> Callable[[pd.DataFrame, FitRequest], Any]:
        """Import and return the fit function."""
        module, attr = self.target.split(":")
        return getattr(importlib.import_module(module), attr)


_REGISTRY: dict[str, Analysis] = {}

#: Options every ITT-type analysis accepts (see :func:`imr_bayes.bayes.itt.fit_itt`).
ITT_OPTIONS: tuple[str, ...] = (
    "engine", "sampler", "backend", "imr_group", "participant", "residual_sd_by_arm", "cores",
    "target_accept",
)


def register(analysis: Analysis, *, replace: bool = False) -> None:
    """Add an analysis to the registry.

    Raises
    ------
    SpecError
        If the name is taken and ``replace`` is False.
    """
    if analysis.name in _REGISTRY and not replace:
        raise SpecError(f"analysis {analysis.name!r} is already registered")
    _REGISTRY[analysis.name] = analysis


def get(name: str) -> Analysis:
    """Return the registered analysis ``name`` or raise with the valid names."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise SpecError(unknown_choice_message("analysis", name, names())) from None


def names() -> tuple[str, ...]:
    """Names of the registered analyses."""
    return tuple(_REGISTRY)


register(Analysis("itt", "imr_bayes.bayes.itt:fit_itt", ITT_OPTIONS))
register(Analysis("itt_categorical", "imr_bayes.bayes.itt:fit_itt", ITT_OPTIONS))

# Completion, fidelity, attendance and hospitalization analyses (docs/completion_fidelity.md).
_HOSPITAL_OPTIONS: tuple[str, ...] = ("sampler", "backend", "cores", "target_accept")
for _name, _target, _options in (
    ("completers", "imr_bayes.bayes.completion:fit_completers", ITT_OPTIONS),
    ("completers_categorical", "imr_bayes.bayes.completion:fit_completers", ITT_OPTIONS),
    ("cace", "imr_bayes.bayes.completion:fit_cace",
     ("sampler", "backend", "cores", "target_accept", "imr_group", "covariates")),
    ("fidelity", "imr_bayes.bayes.fidelity:fit_fidelity", ITT_OPTIONS),
    ("fidelity_dose", "imr_bayes.bayes.fidelity:fit_fidelity_dose", ITT_OPTIONS),
    ("attendance_dose", "imr_bayes.bayes.attendance:fit_attendance_dose", ITT_OPTIONS),
    ("hospitalization", "imr_bayes.bayes.hospital:fit_hospitalization", _HOSPITAL_OPTIONS),
    ("los", "imr_bayes.bayes.hospital:fit_los", _HOSPITAL_OPTIONS),
):
    register(Analysis(_name, _target, _options))
