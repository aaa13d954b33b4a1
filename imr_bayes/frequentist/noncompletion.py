"""Selective non-completion (Results: "omnibus test: chi2(13) = 11.64, p = 0.56").

Among IMR participants, completion (attended >= 50 % of scheduled sessions) is regressed
on the 12 baseline characteristics of Table 1 by logistic regression; the omnibus
likelihood-ratio chi-square tests all of them at once. The characteristics are coded by
:mod:`imr_bayes.covariates` (the trial facts' coding): categorical ones enter as dummies
with the most frequent category as reference; the ``"missing"`` category (e.g. income) is
treated as a missing value, so those participants drop out (listwise, as SPSS's LOGISTIC
REGRESSION does). The paper's 13 df cannot be reproduced from the Table 1
categories (they give more dummies); the df here is whatever the data's categories give,
and is reported.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from imr_bayes.covariates import coded_columns
from imr_bayes.frequentist.hospitalization import participants
from imr_bayes.frequentist.lmm import require_columns
from imr_bayes.frequentist.logistic import LogitFit, fit_logit
from imr_bayes.trial import facts


@dataclass(frozen=True)
class NoncompletionResult:
    """Completion regressed on baseline characteristics.

    Attributes
    ----------
    omnibus : pandas.DataFrame
        One row: ``n, n_dropped, completers, chi2, df, p, status, warning``.
    coefficients : pandas.DataFrame
        Per dummy: ``term, b, se, z, p, odds_ratio, or_ci_low, or_ci_high``.
    logit : LogitFit
        The underlying fit.
    """

    omnibus: pd.DataFrame
    coefficients: pd.DataFrame
    logit: LogitFit


def _design(per: pd.DataFrame, characteristics: tuple[str, ...]) -> pd.DataFrame:
    cols = coded_columns(per, characteristics, missing="nan")
    return pd.DataFrame({"intercept": np.ones(len(per)), **cols}, index=per.index)


def noncompletion(data: pd.DataFrame, *,
                  characteristics: tuple[str, ...] | None = None) -> NoncompletionResult:
    """Test for selective non-completion among IMR participants.

    Parameters
    ----------
    data : DataFrame
        Contract data (``completer`` and the baseline characteristics).
    characteristics : tuple of str, optional
        Predictors (default: the 12 baseline characteristics of Table 1, the trial facts'
        ``covariates.baseline_model``).

    Returns
    -------
    NoncompletionResult
    """
    if characteristics is None:
        characteristics = facts().covariates.baseline_model
    require_columns(data, ["completer", *characteristics])
    per = participants(data)
    per = per[(per["arm"] == "imr").to_numpy() & per["completer"].notna().to_numpy()]
    X = _design(per, characteristics)
    keep = X.notna().all(axis=1).to_numpy()
    y = per["completer"].astype(float).to_numpy()[keep]
    logit = fit_logit(y, X[keep])
    omni = pd.DataFrame([{
        "n": int(keep.sum()), "n_dropped": int((~keep).sum()), "completers": int(y.sum()),
        "chi2": logit.lr_chi2, "df": logit.lr_df, "p": logit.lr_p, "status": logit.status,
        "warning": logit.warning_text,
    }])
    coefs = logit.coefficients[logit.coefficients["term"] != "intercept"].reset_index(drop=True)
    return NoncompletionResult(omnibus=omni, coefficients=coefs, logit=logit)
