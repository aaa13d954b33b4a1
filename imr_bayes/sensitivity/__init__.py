"""Missing-data sensitivity: delta adjustment, tipping points, informative-dropout model.

``delta_adjust`` (pattern-mixture delta adjustment with Rubin's rules), ``tipping_points``
and ``plot_tipping_points`` (compute and draw), ``fit_informative_dropout`` (shared-parameter
model) and ``simulate_mnar_twin`` (a random twin with a planted MNAR mechanism). See
``docs/missing_data.md``.
"""

from __future__ import annotations

from imr_bayes.sensitivity.delta import (
    ARM_CHOICES,
    DEFAULT_DELTAS,
    CompleteDataFit,
    RubinResult,
    complete_data_lmm,
    delta_adjust,
    rubin_pool,
)
from imr_bayes.sensitivity.figures import plot_tipping_points
from imr_bayes.sensitivity.mnar_twin import PlantedMnar, simulate_mnar_twin
from imr_bayes.sensitivity.selection import InformativeDropoutFit, fit_informative_dropout
from imr_bayes.sensitivity.tipping import tipping_points

__all__ = [
    "ARM_CHOICES", "DEFAULT_DELTAS", "CompleteDataFit", "RubinResult", "complete_data_lmm",
    "delta_adjust", "rubin_pool", "PlantedMnar", "simulate_mnar_twin",
    "InformativeDropoutFit", "fit_informative_dropout", "plot_tipping_points",
    "tipping_points",
]
