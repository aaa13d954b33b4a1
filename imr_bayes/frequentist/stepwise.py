"""The paper's forward stepwise model selection by AIC.

Methods, Statistical Analysis: "We first determined the best-fitting model using a
stepwise modeling procedure. Subsequently, time and conditions were entered into the
model; a time x condition interaction term was included only if the inclusion of this
term improved the model based on the Akaike Information Criterion." Tables 2 and 6 show
four final shapes (intercept only; + time; + condition; + condition x time) and footnote b
says the empty cells are empty because "the best fitting model was found at an earlier
step": the terms enter in the order time, condition, condition x time, and the search
stops at the first term that does not lower the AIC.

Two readings of the search are implemented. ``rule="best"`` (default) fits the nested
sequence intercept -> + time -> + condition -> + condition x time and keeps the model with
the lowest AIC ("the best-fitting model"); ``rule="forward"`` stops at the first term that
does not lower the AIC. They differ only when a later term more than makes up for an
earlier one that did not help (e.g. condition with p = 0.82 for the primary outcome in
Table 2, needed for the interaction to be tested at all). ``docs/frequentist.md`` gives
how often each rule reproduces the published final-model shapes on the twin.

The AIC compares models with different fixed effects, so the steps use **ML** fits (REML
likelihoods of different fixed parts are not comparable); the final model is refitted by
**REML** for the reported estimates (SPSS MIXED's default). ``aic_method="REML"`` reproduces
the common shortcut of comparing REML AICs, for sensitivity.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from imr_bayes.frequentist.lmm import TERMS, check_choice, fit_lmm
from imr_bayes.frequentist.mixed import MixedFit

AIC_METHODS: tuple[str, ...] = ("ML", "REML")
RULES: tuple[str, ...] = ("best", "forward")


@dataclass(frozen=True)
class StepwiseResult:
    """Outcome of the stepwise procedure for one outcome.

    Attributes
    ----------
    outcome : str
        Outcome code.
    terms : tuple of str
        Terms the AIC chose (besides the intercept), in entry order.
    final : MixedFit
        The chosen model refitted by REML (linear time).
    steps : pandas.DataFrame
        One row per model of the nested sequence: ``outcome, step, added, terms, aic,
        delta_aic`` (vs intercept only), ``chosen``, ``status``.
    """

    outcome: str
    terms: tuple[str, ...]
    final: MixedFit
    steps: pd.DataFrame


def stepwise(
    data: pd.DataFrame,
    outcome: str,
    *,
    sample: str = "itt",
    aic_method: str = "ML",
    rule: str = "best",
    candidates: tuple[str, ...] = TERMS,
) -> StepwiseResult:
    """Run the AIC selection over the nested sequence and refit the chosen model by REML.

    Parameters
    ----------
    data : DataFrame
        Long data in the contract layout.
    outcome : str
        Outcome code.
    sample : {"itt", "completers"}
        Analysis sample.
    aic_method : {"ML", "REML"}
        Likelihood used for the AIC comparisons (default ML; see module docstring).
    rule : {"best", "forward"}
        Lowest AIC of the nested sequence, or stop at the first non-improving term.
    candidates : tuple of str
        Terms in entry order (default time, condition, condition x time).

    Returns
    -------
    StepwiseResult
    """
    check_choice("aic_method", aic_method, AIC_METHODS)
    check_choice("rule", rule, RULES)
    reml = aic_method == "REML"
    fits = [fit_lmm(data, outcome, terms=candidates[:k], reml=reml, sample=sample,
                    inference=False)
            for k in range(len(candidates) + 1)]
    aic = [f.aic if f.ok else float("inf") for f in fits]
    if rule == "best":
        chosen = min(range(len(fits)), key=lambda k: (aic[k], k))
    else:
        chosen = 0
        while chosen < len(candidates) and aic[chosen + 1] < aic[chosen]:
            chosen += 1
    rows = []
    for k, f in enumerate(fits):
        rows.append((outcome, k, "intercept" if k == 0 else candidates[k - 1],
                     " + ".join(("intercept", *candidates[:k])), f.aic,
                     f.aic - fits[0].aic, k == chosen, f.status))
    terms = tuple(candidates[:chosen])
    final = fit_lmm(data, outcome, terms=terms, reml=True, sample=sample)
    steps = pd.DataFrame(rows, columns=["outcome", "step", "added", "terms", "aic",
                                        "delta_aic", "chosen", "status"])
    return StepwiseResult(outcome=outcome, terms=terms, final=final, steps=steps)
