"""Which contract columns the requested analyses need.

``imr_bayes.fit()`` and the command line validate only these columns (plus whichever other
contract columns are present), so a data set need not carry columns an analysis never reads:
``validate(df, required=required_columns(["itt"], ["imrs_client"]))``. The columns of a
Bayesian analysis come from its spec (:meth:`imr_bayes.spec.SpecBase.columns`); the
frequentist-only analyses are listed here.
"""

from __future__ import annotations

from collections.abc import Iterable

from imr_bayes.data.contract import CONTRACT_COLUMNS, REQUIRED_VALUES
from imr_bayes.errors import ImrBayesError
from imr_bayes.outcomes import CODES, unknown_choice_message


def _frequentist_only() -> dict[str, tuple[str, ...]]:
    """Frequentist analyses without a Bayesian spec -> the columns they read."""
    from imr_bayes.covariates import characteristics

    return {"noncompletion": (*REQUIRED_VALUES, "completer", *characteristics())}


def required_columns(analyses: Iterable[str], outcomes: Iterable[str] = ()
                     ) -> tuple[str, ...]:
    """Return the contract columns that the given analyses need, in contract order.

    Parameters
    ----------
    analyses : iterable of str
        Analyses of ``models/analyses`` (e.g. ``["itt", "hospitalization"]``) or the
        frequentist ``noncompletion`` regression.
    outcomes : iterable of str
        Outcome codes the analyses are fitted to (ignored by analyses with their own
        response, such as hospitalization).

    Returns
    -------
    tuple of str
        Pass it as ``required=`` to :func:`imr_bayes.data.validate` or
        :func:`imr_bayes.data.load`.

    Raises
    ------
    ImrBayesError
        If an analysis or an outcome is unknown (the message lists the valid ones).
    """
    from imr_bayes import registry
    from imr_bayes.bayes.api import applicable_outcomes

    analyses = [analyses] if isinstance(analyses, str) else list(analyses)
    outcomes = [outcomes] if isinstance(outcomes, str) else list(outcomes)
    for code in outcomes:
        if code not in CODES:
            raise ImrBayesError(unknown_choice_message("outcome", code, CODES))
    extra = _frequentist_only()
    valid = (*registry.names(), *extra)
    wanted: set[str] = set(REQUIRED_VALUES)
    for name in analyses:
        if name in extra:
            wanted.update(extra[name])
            continue
        if name not in valid:
            raise ImrBayesError(unknown_choice_message("analysis", name, valid))
        spec = registry.get(name)
        if spec.outcomes == "response":
            wanted.update(spec.columns(""))
            continue
        allowed = applicable_outcomes(spec)
        for code in outcomes or ():
            if code in allowed:
                wanted.update(spec.columns(code))
        wanted.update(c for c in spec.columns("") if c)
    return tuple(c for c in CONTRACT_COLUMNS if c in wanted)
