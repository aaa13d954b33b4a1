"""Logistic regression with a status instead of a traceback (statsmodels ``Logit``)."""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from imr_bayes.constants import CI_LEVEL


@dataclass(frozen=True)
class LogitFit:
    """A logistic regression fit.

    Attributes
    ----------
    coefficients : pandas.DataFrame
        ``term, b, se, z, p, odds_ratio, or_ci_low, or_ci_high`` (Wald, as SPSS prints);
        aliased columns keep their row with no numbers (see ``warnings``).
    loglik, loglik_null : float
        Log-likelihood of the model and of the intercept-only model.
    lr_chi2, lr_df, lr_p : float
        Omnibus likelihood-ratio test of all predictors.
    n : int
        Rows used.
    status : str
        ``ok``, ``too_few_observations``, ``separation``, ``not_converged`` or ``failed``.
    warnings : tuple of str
        Warnings raised or detected.
    """

    coefficients: pd.DataFrame
    loglik: float
    loglik_null: float
    lr_chi2: float
    lr_df: float
    lr_p: float
    n: int
    status: str
    warnings: tuple[str, ...]

    @property
    def warning_text(self) -> str:
        """All warnings joined by ``"; "``."""
        return "; ".join(self.warnings)


def aliased_columns(X: pd.DataFrame, tol: float = 1e-8) -> list[str]:
    """Columns that are linear combinations of earlier columns (greedy, left to right)."""
    kept: list[int] = []
    out: list[str] = []
    A = X.to_numpy(float)
    for j in range(A.shape[1]):
        trial = A[:, [*kept, j]]
        if np.linalg.matrix_rank(trial, tol=tol * max(1.0, np.abs(trial).max())) > len(kept):
            kept.append(j)
        else:
            out.append(str(X.columns[j]))
    return out


def fit_logit(y: np.ndarray, X: pd.DataFrame, *, level: float = CI_LEVEL) -> LogitFit:
    """Fit ``logit P(y = 1) = X b`` by maximum likelihood.

    Parameters
    ----------
    y : array, shape (n,)
        0/1 outcome.
    X : DataFrame, shape (n, p)
        Design including the intercept column (named ``intercept``).
    level : float
        Level of the odds-ratio CIs.

    Returns
    -------
    LogitFit
    """
    import statsmodels.api as sm
    from statsmodels.tools.sm_exceptions import PerfectSeparationError

    terms = list(X.columns)
    y = np.asarray(y, float)
    n, p = X.shape
    nan_coefs = pd.DataFrame({"term": terms, **{c: np.nan for c in (
        "b", "se", "z", "p", "odds_ratio", "or_ci_low", "or_ci_high")}})

    def empty(status: str, problems: list[str]) -> LogitFit:
        return LogitFit(nan_coefs, np.nan, np.nan, np.nan, float(p - 1), np.nan, n, status,
                        tuple(problems))

    events = int(y.sum())
    if n <= p or events == 0 or events == n:
        return empty("too_few_observations", [
            f"too few observations: {n} rows, {events} events, {p} parameters"])
    problems: list[str] = []
    aliased = aliased_columns(X)
    if aliased:
        problems.append("aliased (collinear) columns dropped, as R and SPSS do: "
                        + ", ".join(aliased))
        X = X.drop(columns=aliased)
        if X.shape[0] <= X.shape[1]:
            return empty("too_few_observations", [*problems, "too few observations"])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            res = sm.Logit(y, X.to_numpy(float)).fit(disp=0, maxiter=200)
        except PerfectSeparationError as exc:
            return empty("separation", [f"perfect separation: {exc}"])
        except np.linalg.LinAlgError as exc:
            return empty("failed", [f"logistic regression failed: {exc}"])
    for w in caught:
        msg = str(w.message).strip()
        if msg and msg not in problems and not issubclass(w.category, DeprecationWarning):
            problems.append(msg)
    b = np.asarray(res.params, float)
    se = np.asarray(res.bse, float)
    # quasi-complete separation: a log-odds running off to +-infinity with an exploding SE
    runaway = [str(t) for t, bb, ss in zip(X.columns, b, se, strict=True)
               if abs(bb) > 10 and ss > 100]
    if runaway:
        problems.append("quasi-complete separation (estimate diverges): " + ", ".join(runaway))
    status = "ok"
    if runaway or any("separation" in m.lower() for m in problems):
        status = "separation"
    elif not res.mle_retvals.get("converged", True):
        status = "not_converged"
    crit = stats.norm.ppf(0.5 + level / 2)
    with np.errstate(over="ignore"):
        coefs = pd.DataFrame({
            "term": list(X.columns), "b": b, "se": se, "z": b / se,
            "p": 2 * stats.norm.sf(np.abs(b / se)), "odds_ratio": np.exp(b),
            "or_ci_low": np.exp(b - crit * se), "or_ci_high": np.exp(b + crit * se),
        })
    coefs = coefs.set_index("term").reindex(terms).reset_index()
    lr = float(2 * (res.llf - res.llnull))
    df = float(res.df_model)
    return LogitFit(coefs, float(res.llf), float(res.llnull), lr, df,
                    float(stats.chi2.sf(lr, df)), n, status, tuple(problems))
