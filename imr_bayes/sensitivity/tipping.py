"""Tipping points of the delta adjustment: how far from MAR before the conclusion changes.

For each outcome (and condition x time term) of a :func:`imr_bayes.sensitivity.delta_adjust`
table, the tipping point is the smallest ``delta`` at which

* the posterior P(benefit) falls below ``p_benefit_threshold`` (default 0.975), and
* the Rubin-pooled frequentist p-value rises above ``alpha`` (default 0.05); a pooled
  estimate in the unfavourable direction counts as no evidence of benefit whatever its p.

Each is reported with a status: ``"already at delta = 0"`` (the MAR analysis itself does
not reach the threshold: nothing to tip), ``"reached"`` (with the first grid value and a
value linearly interpolated between the two grid points around the crossing) or ``"not
reached within the grid"`` (the conclusion holds up to the largest ``delta`` tried).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from imr_bayes.errors import ImrBayesError
from imr_bayes.outcomes import get as get_outcome

#: Statuses of a tipping point.
ALREADY = "already at delta = 0"
REACHED = "reached"
NOT_REACHED = "not reached within the grid"

#: Columns of :func:`tipping_points`.
COLUMNS: tuple[str, ...] = (
    "outcome", "estimand", "arms", "sd", "mar_p_benefit", "mar_freq_p", "mar_freq_benefit",
    "bayes_status", "bayes_delta_grid", "bayes_delta", "bayes_delta_raw",
    "freq_status", "freq_delta_grid", "freq_delta", "freq_delta_raw", "max_delta",
    "sentence",
)

_NEEDED = ("outcome", "estimand", "arms", "delta", "sd", "direction", "p_benefit", "freq_p",
           "freq_estimate")


def _crossing(delta: np.ndarray, value: np.ndarray, threshold: float, *, below: bool
              ) -> tuple[str, float, float]:
    """First grid crossing of ``threshold`` (below it, or above it) with interpolation."""
    crossed = value < threshold if below else value > threshold
    if crossed[0]:
        return ALREADY, float(delta[0]), float(delta[0])
    hits = np.flatnonzero(crossed)
    if hits.size == 0:
        return NOT_REACHED, np.nan, np.nan
    k = int(hits[0])
    d0, d1, v0, v1 = delta[k - 1], delta[k], value[k - 1], value[k]
    frac = (threshold - v0) / (v1 - v0) if v1 != v0 else 1.0
    return REACHED, float(d1), float(d0 + frac * (d1 - d0))


def _fmt(x: float) -> str:
    return f"{x:.2f}".rstrip("0").rstrip(".") if abs(x) >= 0.01 or x == 0 else f"{x:.3g}"


def _sentence(row: dict[str, object], threshold: float, alpha: float) -> str:
    o = get_outcome(str(row["outcome"]))
    who = "the IMR arm's" if row["arms"] == "imr" else "both arms'"
    worse = "lower" if o.direction > 0 else "higher"
    sd = float(row["sd"])  # type: ignore[arg-type]
    parts = []
    if row["bayes_status"] == ALREADY:
        parts.append(f"under MAR P(benefit) is already {row['mar_p_benefit']:.3f} "
                     f"(below {threshold}), so there is no Bayesian conclusion of benefit "
                     "to tip")
    elif row["bayes_status"] == REACHED:
        d = float(row["bayes_delta"])  # type: ignore[arg-type]
        parts.append(f"P(benefit) = {row['mar_p_benefit']:.3f} under MAR falls below "
                     f"{threshold} if {who} missing follow-ups are {_fmt(d)} baseline SD "
                     f"({_fmt(d * sd)} points) {worse} than MAR predicts")
    else:
        parts.append(f"P(benefit) = {row['mar_p_benefit']:.3f} under MAR stays at or above "
                     f"{threshold} even if {who} missing follow-ups are "
                     f"{_fmt(float(row['max_delta']))} baseline SD {worse} than MAR "
                     "predicts")
    if row["freq_status"] == ALREADY and not row["mar_freq_benefit"]:
        parts.append(f"the pooled estimate already points away from benefit at MAR "
                     f"(p = {row['mar_freq_p']:.3f})")
    elif row["freq_status"] == ALREADY:
        parts.append(f"the pooled p-value is already {row['mar_freq_p']:.3f} (> {alpha}) "
                     "at MAR")
    elif row["freq_status"] == REACHED:
        d = float(row["freq_delta"])  # type: ignore[arg-type]
        parts.append(f"the pooled p-value ({row['mar_freq_p']:.3f} at MAR) exceeds {alpha} "
                     f"from {_fmt(d)} SD ({_fmt(d * sd)} points)")
    else:
        parts.append(f"the pooled p-value ({row['mar_freq_p']:.3g} at MAR) stays at or below "
                     f"{alpha} across the grid")
    return f"{o.abbreviation}: " + "; ".join(parts) + "."


def tipping_points(table: pd.DataFrame, *, p_benefit_threshold: float = 0.975,
                   alpha: float = 0.05) -> pd.DataFrame:
    """Tipping points per outcome from a delta-adjustment table.

    Parameters
    ----------
    table : pandas.DataFrame
        Output of :func:`imr_bayes.sensitivity.delta_adjust` (any number of outcomes).
    p_benefit_threshold : float
        Posterior P(benefit) that counts as a Bayesian conclusion of benefit.
    alpha : float
        Two-sided significance level of the pooled frequentist test.

    Returns
    -------
    pandas.DataFrame
        One row per outcome x term x arms, columns :data:`COLUMNS`. ``*_delta_grid`` is the
        first grid value at which the threshold is crossed, ``*_delta`` the linearly
        interpolated crossing (pooled baseline SDs), ``*_delta_raw`` the same in outcome
        units; NaN when not reached. ``sentence`` says it in plain language.

    Raises
    ------
    ImrBayesError
        Missing columns or thresholds outside (0, 1).
    """
    missing = [c for c in _NEEDED if c not in table.columns]
    if missing:
        raise ImrBayesError(f"tipping_points needs a delta_adjust table; missing columns "
                            f"{missing}")
    for name, val in (("p_benefit_threshold", p_benefit_threshold), ("alpha", alpha)):
        if not 0 < val < 1:
            raise ImrBayesError(f"{name} must be in (0, 1), got {val}")
    rows = []
    for (outcome, estimand, arms), g in table.groupby(["outcome", "estimand", "arms"],
                                                      sort=False):
        g = g.sort_values("delta")
        delta = g["delta"].to_numpy(float)
        b_status, b_grid, b_delta = _crossing(delta, g["p_benefit"].to_numpy(float),
                                              p_benefit_threshold, below=True)
        benefit = g["direction"].to_numpy(float) * g["freq_estimate"].to_numpy(float) > 0
        freq_p = np.where(benefit, g["freq_p"].to_numpy(float), 1.0)
        f_status, f_grid, f_delta = _crossing(delta, freq_p, alpha, below=False)
        sd = float(g["sd"].iloc[0])
        row = {
            "outcome": outcome, "estimand": estimand, "arms": arms, "sd": sd,
            "mar_p_benefit": float(g["p_benefit"].iloc[0]),
            "mar_freq_p": float(g["freq_p"].iloc[0]),
            "mar_freq_benefit": bool(benefit[0]),
            "bayes_status": b_status, "bayes_delta_grid": b_grid, "bayes_delta": b_delta,
            "bayes_delta_raw": b_delta * sd, "freq_status": f_status,
            "freq_delta_grid": f_grid, "freq_delta": f_delta, "freq_delta_raw": f_delta * sd,
            "max_delta": float(delta[-1]),
        }
        row["sentence"] = _sentence(row, p_benefit_threshold, alpha)
        rows.append(row)
    return pd.DataFrame(rows, columns=list(COLUMNS))
