"""Frequentist replication of every published analysis of the IMR trial (statsmodels).

Public API:

* :func:`fit_lmm` - one outcome's linear mixed model in the paper's coding, with
  model-based SEs and Satterthwaite df as SPSS MIXED prints them;
* :func:`fit_mixed`, :func:`fit_formula` - the same engine for any design / formula
  (used to reproduce published lme4 results on real data).
"""

from __future__ import annotations

from imr_bayes.frequentist.lmm import TERMS, TIME_CODINGS, design, fit_lmm, select_sample
from imr_bayes.frequentist.mixed import (
    DF_METHODS,
    STATUSES,
    ContrastTest,
    MixedFit,
    fit_formula,
    fit_mixed,
)

__all__ = [
    "DF_METHODS",
    "STATUSES",
    "TERMS",
    "TIME_CODINGS",
    "ContrastTest",
    "MixedFit",
    "design",
    "fit_formula",
    "fit_lmm",
    "fit_mixed",
    "select_sample",
]
