"""Selective non-completion (Results: "omnibus test: chi2(13) = 11.64, p = 0.56").

Among IMR participants, completion (attended >= 50 % of scheduled sessions) is regressed
on the 12 baseline characteristics of Table 1 by logistic regression; the omnibus
likelihood-ratio chi-square tests all of them at once. Categorical characteristics enter
as dummies with the most frequent category as reference; the ``"missing"`` category (e.g.
income) is treated as a missing value, so those participants drop out (listwise, as
SPSS's LOGISTIC REGRESSION does). The paper's 13 df cannot be reproduced from the Table 1
categories (they give more dummies); the df here is whatever the data's categories give,
and is reported.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from imr_bayes.frequentist.hospitalization import participants
from imr_bayes.frequentist.lmm import require_columns
from imr_bayes.frequentist.logistic import LogitFit, fit_logit

#: The 12 baseline characteristics of Table 1 (data-contract names).
CHARACTERISTICS: tuple[str, ...] = (
    "age", "sex", "living_situation", "education", "native_country", "income", "onset",
    "admissions", "hospitalization_length", "diagnosis_psychotic", "diagnosis_mood",
    "diagnosis_personality",
)
_NUMERIC = ("age",)
_MISSING_CODES = ("missing",)


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
    cols: dict[str, np.ndarray] = {"intercept": np.ones(len(per))}
    for c in characteristics:
        if c in _NUMERIC:
            cols[c] = pd.to_numeric(per[c], errors="coerce").to_numpy(float)
            continue
        v = per[c].astype("string")
        v = v.mask(v.isin(_MISSING_CODES))
        levels = v.dropna().value_counts()
        ref = sorted(levels.index[levels == levels.max()])[0] if len(levels) else None
        for lev in sorted(levels.index):
            if lev != ref:
                cols[f"{c}[{lev}]"] = np.where(v.isna(), np.nan, (v == lev).astype(float))
    return pd.DataFrame(cols, index=per.index)


def noncompletion(data: pd.DataFrame, *,
                  characteristics: tuple[str, ...] = CHARACTERISTICS) -> NoncompletionResult:
    """Test for selective non-completion among IMR participants.

    Parameters
    ----------
    data : DataFrame
        Contract data (``completer`` and the baseline characteristics).
    characteristics : tuple of str
        Predictors (default: the 12 of Table 1).

    Returns
    -------
    NoncompletionResult
    """
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
