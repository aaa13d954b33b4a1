"""imr_bayes: hierarchical Bayesian reanalysis of the IMR randomized trial.

The heavy parts (PyMC, bambi, ArviZ) are imported lazily, so that ``import imr_bayes``
and the command line start quickly.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any

from imr_bayes.errors import DataValidationError, ImrBayesError, SpecError

__version__ = "0.1.0"

# Public name -> "module:attribute", resolved on first access.
_LAZY: dict[str, str] = {
    "fit": "imr_bayes.bayes.api:fit",
    "fit_formula": "imr_bayes.bayes.api:fit_formula",
    "BayesianFit": "imr_bayes.bayes.api:BayesianFit",
    "compare": "imr_bayes.comparison:compare",
    "Estimates": "imr_bayes.estimates:Estimates",
    "reanalyze": "imr_bayes.reanalysis:run",
    "RunSettings": "imr_bayes.reanalysis:RunSettings",
    "register_kind": "imr_bayes.registry:register_kind",
}

__all__ = ["DataValidationError", "ImrBayesError", "SpecError", "__version__", *_LAZY]


def __dir__() -> list[str]:
    """Public names (:data:`__all__`, the lazily imported ones included) and subpackages."""
    loaded = [name for name, value in globals().items()
              if isinstance(value, ModuleType) and value.__name__ == f"{__name__}.{name}"]
    return sorted({*__all__, *loaded})


def __getattr__(name: str) -> Any:
    """Resolve the lazily imported public names."""
    if name in _LAZY:
        module, attr = _LAZY[name].split(":")
        return getattr(importlib.import_module(module), attr)
    raise AttributeError(f"module 'imr_bayes' has no attribute {name!r}")
