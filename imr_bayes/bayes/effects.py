"""Tidy effect summaries from posterior draws (95 % equal-tailed intervals, pd, P(benefit))."""

from __future__ import annotations

import numpy as np
import pandas as pd

from imr_bayes.constants import CI_LEVEL

#: Columns of every effects table, in order.
COLUMNS: tuple[str, ...] = (
    "analysis", "outcome", "estimand", "arm", "time", "mean", "median", "sd", "eti95_low",
    "eti95_high", "scale", "p_direction", "p_benefit", "n_rows", "n_participants",
)


def summarize_draws(draws: np.ndarray, *, direction: int | None = None) -> dict[str, float]:
    """Summarize one scalar quantity's draws.

    Parameters
    ----------
    draws : ndarray
        Posterior draws (any shape; flattened).
    direction : int, optional
        +1 if larger values are beneficial, -1 if smaller are; gives ``p_benefit``.

    Returns
    -------
    dict
        ``mean, median, sd, eti95_low, eti95_high`` (the :data:`CI_LEVEL` equal-tailed
        interval), ``p_direction`` (share of draws with the posterior median's sign) and
        ``p_benefit`` (share in the beneficial direction; NaN without ``direction``).
    """
    x = np.ravel(np.asarray(draws, dtype=float))
    alpha = (1 - CI_LEVEL) / 2
    lo, hi = np.quantile(x, [alpha, 1 - alpha])
    p_pos = float(np.mean(x > 0))
    return {
        "mean": float(x.mean()), "median": float(np.median(x)), "sd": float(x.std(ddof=1)),
        "eti95_low": float(lo), "eti95_high": float(hi),
        "p_direction": max(p_pos, float(np.mean(x < 0))),
        "p_benefit": float(np.mean(direction * x > 0)) if direction else float("nan"),
    }


def effects_frame(rows: list[dict[str, object]]) -> pd.DataFrame:
    """Return the rows as an effects table with :data:`COLUMNS` (missing cells empty)."""
    df = pd.DataFrame(rows)
    for col in COLUMNS:
        if col not in df.columns:
            df[col] = np.nan
    df["time"] = df["time"].astype("Int64")
    return df[list(COLUMNS)]
