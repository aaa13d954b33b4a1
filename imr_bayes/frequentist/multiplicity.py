"""Benjamini-Hochberg false discovery rate adjustment (the paper's sensitivity analysis)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from imr_bayes.errors import ImrBayesError


def benjamini_hochberg(pvalues: pd.Series | np.ndarray | list[float]) -> pd.Series | np.ndarray:
    """Benjamini-Hochberg adjusted p values (step-up, ``min(1, p_(i) m / i)`` made monotone).

    Parameters
    ----------
    pvalues : Series, array or list
        Raw p values in [0, 1]. Missing values (NaN) are not counted in ``m`` and stay NaN
        (a failed fit must not pass as a test).

    Returns
    -------
    Series or ndarray
        Adjusted p values in the input's order (a Series keeps its index).

    Raises
    ------
    ImrBayesError
        If a p value lies outside [0, 1].
    """
    is_series = isinstance(pvalues, pd.Series)
    p = np.asarray(pvalues, dtype=float)
    finite = np.isfinite(p)
    if np.any((p[finite] < 0) | (p[finite] > 1)):
        bad = p[finite][(p[finite] < 0) | (p[finite] > 1)][0]
        raise ImrBayesError(f"p values should be in [0, 1] but got {bad!r}")
    out = np.full(p.shape, np.nan)
    vals = p[finite]
    m = vals.size
    if m:
        order = np.argsort(vals)
        ranked = vals[order] * m / np.arange(1, m + 1)
        adjusted = np.minimum.accumulate(ranked[::-1])[::-1]
        res = np.empty(m)
        res[order] = np.minimum(adjusted, 1.0)
        out[finite] = res
    if is_series:
        return pd.Series(out, index=pvalues.index, name="p_bh")
    return out
