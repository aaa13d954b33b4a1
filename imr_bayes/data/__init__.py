"""Participant data: the contract every data set meets, importing team exports, the twin.

Public API: :data:`CONTRACT_COLUMNS`, :func:`validate` (full contract, or only the columns a
caller needs via ``required=``), :func:`required_columns`,
:func:`load` (CSV, Parquet, SPSS ``.sav``; long or wide; code maps and missing codes),
:func:`import_frame` (the same on a DataFrame), :class:`ImportSpec` (:func:`import_spec`,
:func:`parse_import_spec`, :func:`read_import_spec`),
:func:`save`, :func:`simulate_twin`, :func:`default_twin`.
"""

from __future__ import annotations

from imr_bayes.data.contract import CONTRACT_COLUMNS, validate
from imr_bayes.data.imports import (
    ImportSpec,
    import_frame,
    import_spec,
    parse_import_spec,
    read_import_spec,
)
from imr_bayes.data.io import load, save
from imr_bayes.data.requirements import required_columns
from imr_bayes.data.twin import default_twin, simulate_twin
from imr_bayes.data.twin_design import TwinParams

__all__ = [
    "CONTRACT_COLUMNS",
    "ImportSpec",
    "TwinParams",
    "default_twin",
    "import_frame",
    "import_spec",
    "load",
    "parse_import_spec",
    "read_import_spec",
    "required_columns",
    "save",
    "simulate_twin",
    "validate",
]
