"""The registry: model kinds (spec class + fit function) and the analyses built from YAML.

A *kind* is a model family: a spec class (a member of the discriminated union of
:mod:`imr_bayes.spec`) and the function that fits it. An *analysis* is one YAML file in
``models/analyses`` naming a kind (``model: lmm``); the registry of analyses is built from
those files, so adding an analysis of an existing kind is one YAML file, and adding a new
kind is one YAML file plus one function registered with :func:`register_kind`.

A fit function has the signature ``(data, request) -> BayesianFit`` where ``request`` is a
:class:`FitRequest`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import pandas as pd

from imr_bayes.errors import SpecError
from imr_bayes.outcomes import unknown_choice_message
from imr_bayes.spec import BUILTIN_KINDS, PriorSet, SpecBase


@dataclass(frozen=True)
class FitRequest:
    """Everything a fit function needs besides the data.

    Attributes
    ----------
    analysis : str
    outcome : str
        The outcome fitted (for kinds with their own response: that response).
    spec : SpecBase
        Validated, with the caller's overrides applied.
    prior_set : PriorSet
    seed : int
    posterior_predictive : bool
    """

    analysis: str
    outcome: str
    spec: SpecBase
    prior_set: PriorSet
    seed: int
    posterior_predictive: bool = False


@dataclass(frozen=True)
class Kind:
    """A registered model kind.

    Attributes
    ----------
    name : str
        The ``model:`` value of its specs.
    spec_class : type
        Its pydantic spec class (a :class:`imr_bayes.spec.SpecBase` subclass).
    fit : str or callable or None
        ``"module:function"`` (imported on first use) or the function itself,
        ``(data, request) -> BayesianFit``; None for kinds that ``imr_bayes.fit`` does not
        fit (their ``entry`` says what does).
    entry : str
        Where the kind is used when it is not fitted by ``imr_bayes.fit``.
    """

    name: str
    spec_class: type[SpecBase]
    fit: str | Callable[..., Any] | None
    entry: str = ""

    def fit_function(self) -> Callable[[pd.DataFrame, FitRequest], Any]:
        """Return the fit function (importing it on first use)."""
        if self.fit is None:
            raise SpecError(f"model kind {self.name!r} is not fitted by imr_bayes.fit; "
                            f"use {self.entry}")
        if callable(self.fit):
            return self.fit
        module, attr = self.fit.split(":")
        return getattr(importlib.import_module(module), attr)


_BUILTIN_FITS: dict[str, tuple[str | None, str]] = {
    "lmm": ("imr_bayes.bayes.lmm:fit_lmm", ""),
    "pn_lmm": ("imr_bayes.bayes.lmm:fit_lmm", ""),
    "cace": ("imr_bayes.bayes.completion:fit_cace", ""),
    "logistic": ("imr_bayes.bayes.hospital:fit_logistic", ""),
    "hurdle": ("imr_bayes.bayes.hospital:fit_hurdle", ""),
    "pooling": (None, "imr_bayes.multiplicity.partial_pooling"),
    "dropout": (None, "imr_bayes.sensitivity.fit_informative_dropout"),
}
_KINDS: dict[str, Kind] = {
    name: Kind(name, BUILTIN_KINDS[name], fit, entry)
    for name, (fit, entry) in _BUILTIN_FITS.items()
}


def register_kind(name: str, *, fit: str | Callable[..., Any],
                  spec_class: type[SpecBase] | None = None,
                  priors: tuple[str, ...] = (), replace: bool = False) -> Kind:
    """Register a model kind.

    Parameters
    ----------
    name : str
        The ``model:`` value its specs use.
    fit : str or callable
        The fit function ``(data, request) -> BayesianFit`` or its ``"module:function"``.
    spec_class : type, optional
        Its spec class (a :class:`imr_bayes.spec.SpecBase` subclass whose ``model`` field is
        ``Literal[name]``). Default: the base fields only, with the kind's own priors
        ``priors`` (every one required in the spec's ``priors:``).
    priors : tuple of str
        Names of the kind's own priors (only without ``spec_class``).
    replace : bool
        Replace an existing kind of that name.

    Returns
    -------
    Kind

    Raises
    ------
    SpecError
        If the name is taken and ``replace`` is False.
    """
    if name in _KINDS and not replace:
        raise SpecError(f"model kind {name!r} is already registered")
    if spec_class is None:
        namespace = {"__annotations__": {"model": Literal[name]},
                     "__module__": __name__, "prior_names": tuple(priors)}
        spec_class = type(f"{name.title().replace('_', '')}Spec", (SpecBase,), namespace)
    kind = Kind(name, spec_class, fit)
    _KINDS[name] = kind
    return kind


def unregister_kind(name: str) -> None:
    """Remove a kind registered with :func:`register_kind` (built-in kinds stay)."""
    if name in BUILTIN_KINDS:
        raise SpecError(f"model kind {name!r} is built in")
    _KINDS.pop(name, None)


def kind_specs() -> dict[str, type[SpecBase]]:
    """``model:`` value -> spec class of every registered kind."""
    return {name: k.spec_class for name, k in _KINDS.items()}


def get_kind(name: str) -> Kind:
    """Return the kind ``name`` or raise with the valid names."""
    try:
        return _KINDS[name]
    except KeyError:
        raise SpecError(unknown_choice_message("model kind", name, tuple(_KINDS))) from None


def analyses() -> dict[str, SpecBase]:
    """Every analysis spec of ``models/analyses``, validated, by name (file order)."""
    from imr_bayes.spec import analysis_names, load_analysis

    return {name: load_analysis(name) for name in analysis_names()}


def names() -> tuple[str, ...]:
    """Names of the analyses (``models/analyses/*.yaml``)."""
    from imr_bayes.spec import analysis_names

    return analysis_names()


def get(name: str) -> SpecBase:
    """Return the validated spec of analysis ``name`` (raise with the valid names)."""
    from imr_bayes.spec import load_analysis

    return load_analysis(name)
