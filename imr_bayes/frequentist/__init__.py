"""Frequentist replication of every published analysis of the IMR trial.

Public API (see ``docs/frequentist.md`` for the map from each published table to its code):

* :func:`replicate` - Tables 2 + 3 (ITT) or 6 + 7 (completers): stepwise AIC final models,
  marginal means, Cohen's d, Benjamini-Hochberg across the secondary outcomes;
* :func:`fit_lmm` - one outcome's linear mixed model in the paper's coding, with
  model-based SEs and Satterthwaite df as SPSS MIXED prints them;
* :func:`fidelity_analysis` - Tables 4 and 5 and the omnibus subgroup x time F test;
* :func:`hospitalization` - odds ratio and the length-of-stay Mann-Whitney test;
* :func:`noncompletion` - selective non-completion, omnibus likelihood-ratio chi-square;
* :func:`benjamini_hochberg`, :func:`versus_published`;
* :func:`fit_mixed`, :func:`fit_formula` - the mixed-model engine for any design or formula
  (used to reproduce published lme4 results on real data).
"""

from __future__ import annotations

from imr_bayes.frequentist.emm import marginal_means
from imr_bayes.frequentist.fidelity import FidelityResult, fidelity_analysis, fidelity_sample
from imr_bayes.frequentist.hospitalization import HospitalizationResult, hospitalization
from imr_bayes.frequentist.lmm import TERMS, TIME_CODINGS, design, fit_lmm, select_sample
from imr_bayes.frequentist.logistic import LogitFit, fit_logit
from imr_bayes.frequentist.mixed import (
    BACKENDS,
    DF_METHODS,
    STATUSES,
    ContrastTest,
    MixedFit,
    fit_formula,
    fit_mixed,
)
from imr_bayes.frequentist.multiplicity import benjamini_hochberg
from imr_bayes.frequentist.noncompletion import NoncompletionResult, noncompletion
from imr_bayes.frequentist.replication import Replication, replicate
from imr_bayes.frequentist.stepwise import StepwiseResult, stepwise
from imr_bayes.frequentist.versus import versus_published

__all__ = [
    "BACKENDS",
    "DF_METHODS",
    "STATUSES",
    "TERMS",
    "TIME_CODINGS",
    "ContrastTest",
    "FidelityResult",
    "HospitalizationResult",
    "LogitFit",
    "MixedFit",
    "NoncompletionResult",
    "Replication",
    "StepwiseResult",
    "benjamini_hochberg",
    "design",
    "fidelity_analysis",
    "fidelity_sample",
    "fit_formula",
    "fit_lmm",
    "fit_logit",
    "fit_mixed",
    "hospitalization",
    "marginal_means",
    "noncompletion",
    "replicate",
    "select_sample",
    "stepwise",
    "versus_published",
]
