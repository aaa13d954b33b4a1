"""Which contract columns each kind of analysis needs.

``imr_bayes.fit()`` and the command line validate only these columns (plus whichever other
contract columns are present), so a data set need not carry columns an analysis never reads:
``validate(df, required=required_columns(["itt"], ["imrs_client"]))``.
"""

from __future__ import annotations

from collections.abc import Iterable

from imr_bayes.data.contract import (
    CATEGORICAL_COLUMNS,
    CONTRACT_COLUMNS,
    DIAGNOSIS_COLUMNS,
    REQUIRED_VALUES,
)
from imr_bayes.errors import ImrBayesError
from imr_bayes.outcomes import CODES, unknown_choice_message

#: Baseline characteristics of the CACE compliance model and the non-completion regression.
BASELINE_COVARIATES: tuple[str, ...] = ("age", *CATEGORICAL_COLUMNS, *DIAGNOSIS_COLUMNS)

_LMM = (*REQUIRED_VALUES, "imr_group")

#: Kind of analysis (the registered Bayesian analyses, plus the frequentist ``noncompletion``
#: regression) -> contract columns it needs besides its outcome. ``completer`` is satisfied by
#: ``sessions_attended`` + ``sessions_scheduled`` (it is derived from them).
REQUIRED_BY_KIND: dict[str, tuple[str, ...]] = {
    "itt": _LMM,
    "itt_categorical": _LMM,
    "completers": (*_LMM, "completer"),
    "completers_categorical": (*_LMM, "completer"),
    "cace": (*_LMM, "completer", *BASELINE_COVARIATES),
    "fidelity": (*_LMM, "sessions_attended", "fidelity"),
    "fidelity_dose": (*_LMM, "fidelity"),
    "attendance_dose": (*_LMM, "sessions_attended"),
    "hospitalization": (*REQUIRED_VALUES, "hosp_before", "hosp_after"),
    "los": (*REQUIRED_VALUES, "los_before", "los_after"),
    "noncompletion": (*REQUIRED_VALUES, "completer", *BASELINE_COVARIATES),
}
#: Kinds fitted to one of the 12 outcomes (their requirement adds the outcome column).
OUTCOME_KINDS: frozenset[str] = frozenset(
    k for k in REQUIRED_BY_KIND if k not in ("hospitalization", "los", "noncompletion")
)


def required_columns(kinds: Iterable[str], outcomes: Iterable[str] = ()) -> tuple[str, ...]:
    """Return the contract columns that the given analyses need, in contract order.

    Parameters
    ----------
    kinds : iterable of str
        Keys of :data:`REQUIRED_BY_KIND` (e.g. ``["itt", "hospitalization"]``).
    outcomes : iterable of str
        Outcome codes the outcome-level kinds are fitted to (ignored when no kind in
        ``kinds`` takes an outcome).

    Returns
    -------
    tuple of str
        Pass it as ``required=`` to :func:`imr_bayes.data.validate` or
        :func:`imr_bayes.data.load`.

    Raises
    ------
    ImrBayesError
        If a kind or an outcome is unknown (the message lists the valid ones).
    """
    kinds = [kinds] if isinstance(kinds, str) else list(kinds)
    outcomes = [outcomes] if isinstance(outcomes, str) else list(outcomes)
    wanted: set[str] = set(REQUIRED_VALUES)
    for kind in kinds:
        if kind not in REQUIRED_BY_KIND:
            raise ImrBayesError(unknown_choice_message("kind of analysis", kind,
                                                       tuple(REQUIRED_BY_KIND)))
        wanted.update(REQUIRED_BY_KIND[kind])
    for code in outcomes:
        if code not in CODES:
            raise ImrBayesError(unknown_choice_message("outcome", code, CODES))
    if OUTCOME_KINDS.intersection(kinds):
        wanted.update(outcomes)
    return tuple(c for c in CONTRACT_COLUMNS if c in wanted)
