"""The trial's linear mixed models: one outcome, random participant intercept.

The paper (SPSS MIXED) models each outcome with a random intercept per participant and
fixed effects for time, condition (IMR = 1, CAU = 0) and condition x time. Time is linear
(0/1/2) in the Table 2/6 models and categorical (reference: baseline) in the
marginal-means (Table 3/7) and fidelity (Table 4/5) models.

Term names (the ``term`` column) follow :mod:`imr_bayes.published`: ``intercept``,
``time``, ``condition``, ``condition_x_time``; categorical time gives ``time[1]``,
``time[2]``, ``condition_x_time[1]``, ``condition_x_time[2]``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from imr_bayes.constants import ARMS, TIMES
from imr_bayes.errors import DataValidationError, ImrBayesError
from imr_bayes.frequentist.mixed import MixedFit, fit_mixed
from imr_bayes.outcomes import CODES, unknown_choice_message

TIME_CODINGS: tuple[str, ...] = ("linear", "categorical")
TERMS: tuple[str, ...] = ("time", "condition", "condition_x_time")
SAMPLES: tuple[str, ...] = ("itt", "completers")
DEFAULT_TERMS: tuple[str, ...] = TERMS

_NEEDED = ("participant_id", "arm", "time")


def check_choice(kind: str, value: str, valid: Sequence[str]) -> None:
    """Raise :class:`ImrBayesError` with "did you mean" if ``value`` is not in ``valid``."""
    if value not in valid:
        raise ImrBayesError(unknown_choice_message(kind, value, tuple(valid)))


def require_columns(data: pd.DataFrame, columns: Sequence[str]) -> None:
    """Raise :class:`DataValidationError` naming every missing contract column."""
    missing = [c for c in columns if c not in data.columns]
    if missing:
        raise DataValidationError([f"missing column {c!r} (data contract)" for c in missing])


def select_sample(data: pd.DataFrame, sample: str) -> pd.DataFrame:
    """Rows of the analysis sample: all (``itt``) or IMR completers + all controls.

    Parameters
    ----------
    data : DataFrame
        Long data in the contract layout.
    sample : {"itt", "completers"}
        ``completers`` keeps every CAU participant and the IMR participants whose
        ``completer`` flag is True (attended >= 50 % of scheduled sessions).
    """
    check_choice("sample", sample, SAMPLES)
    require_columns(data, _NEEDED)
    if sample == "itt":
        return data
    require_columns(data, ["completer"])
    comp = data["completer"].astype("boolean").fillna(False).to_numpy(bool)
    return data[(data["arm"] == "cau").to_numpy() | comp]


def design(data: pd.DataFrame, *, time: str = "linear",
           terms: Sequence[str] = DEFAULT_TERMS) -> pd.DataFrame:
    """Fixed-effects design (intercept first) in the paper's coding.

    Parameters
    ----------
    data : DataFrame
        Contract columns ``arm`` and ``time``.
    time : {"linear", "categorical"}
        Time as 0/1/2, or as dummies for 12 and 18 months (reference: baseline).
    terms : sequence of str
        Subset of ``("time", "condition", "condition_x_time")``.
    """
    check_choice("time coding", time, TIME_CODINGS)
    for t in terms:
        check_choice("term", t, TERMS)
    arms = set(data["arm"].dropna().unique())
    if not arms <= set(ARMS):
        raise DataValidationError([f"column 'arm': unknown value(s) {sorted(arms - set(ARMS))}; "
                                   f"valid: {', '.join(ARMS)}"])
    tt = pd.to_numeric(data["time"], errors="coerce").to_numpy(float)
    bad = sorted({str(v) for v, ok in zip(data["time"], np.isin(tt, TIMES), strict=True)
                  if not ok})
    if bad:
        raise DataValidationError([f"column 'time': value(s) {bad[:5]} not in "
                                   f"{', '.join(map(str, TIMES))}"])
    cond = (data["arm"] == "imr").to_numpy(float)
    cols: dict[str, np.ndarray] = {"intercept": np.ones(len(data))}
    if time == "linear":
        parts = {"time": {"time": tt}, "condition": {"condition": cond},
                 "condition_x_time": {"condition_x_time": cond * tt}}
    else:
        d1, d2 = (tt == 1).astype(float), (tt == 2).astype(float)
        parts = {"time": {"time[1]": d1, "time[2]": d2}, "condition": {"condition": cond},
                 "condition_x_time": {"condition_x_time[1]": cond * d1,
                                      "condition_x_time[2]": cond * d2}}
    for t in TERMS:
        if t in terms:
            cols.update(parts[t])
    return pd.DataFrame(cols, index=data.index)


def fit_lmm(
    data: pd.DataFrame,
    outcome: str,
    *,
    time: str = "linear",
    terms: Sequence[str] = DEFAULT_TERMS,
    reml: bool = True,
    sample: str = "itt",
    df_method: str = "satterthwaite",
    inference: bool = True,
    backend: str = "native",
) -> MixedFit:
    """Fit the paper's linear mixed model for one outcome.

    Parameters
    ----------
    data : DataFrame
        Long data in the contract layout (``participant_id``, ``arm``, ``time``, the
        outcome column; ``completer`` for the completer sample).
    outcome : str
        Outcome code (see :data:`imr_bayes.outcomes.CODES`).
    time : {"linear", "categorical"}
        Time coding.
    terms : sequence of str
        Fixed terms besides the intercept.
    reml : bool
        REML (reported estimates) or ML (AIC comparisons between fixed parts).
    sample : {"itt", "completers"}
        Analysis sample.
    df_method : {"satterthwaite", "residual", "normal"}
        Degrees of freedom for t tests and CIs (default: Satterthwaite, as SPSS MIXED).
    inference : bool
        ``False`` skips the Satterthwaite derivatives (likelihood-only fits).
    backend : {"native", "statsmodels"}
        Who finds the optimum (see :func:`imr_bayes.frequentist.fit_mixed`).

    Returns
    -------
    MixedFit
        Coefficients with model-based SEs, variance components, log-likelihood, AIC,
        counts and a status.
    """
    check_choice("outcome", outcome, CODES)
    require_columns(data, [*_NEEDED, outcome])
    cols = [c for c in (*_NEEDED, "completer", outcome) if c in data.columns]
    rows = select_sample(data[cols], sample)  # narrow first: row filters copy every column
    rows = rows[rows[outcome].notna().to_numpy()]
    X = design(rows, time=time, terms=terms)
    return fit_mixed(rows[outcome].to_numpy(float), X, rows["participant_id"].astype(str),
                     reml=reml, df_method=df_method, inference=inference, backend=backend)
