"""Participant data: the contract every data set meets, file I/O, and the synthetic twin.

Public API: :data:`CONTRACT_COLUMNS`, :func:`validate`, :func:`load`, :func:`save`,
:func:`simulate_twin`, :func:`default_twin`.
"""

from __future__ import annotations

from imr_bayes.data.contract import CONTRACT_COLUMNS, validate
from imr_bayes.data.io import load, save
from imr_bayes.data.twin import default_twin, simulate_twin
from imr_bayes.data.twin_design import TwinParams

__all__ = [
    "CONTRACT_COLUMNS",
    "TwinParams",
    "default_twin",
    "load",
    "save",
    "simulate_twin",
    "validate",
]
