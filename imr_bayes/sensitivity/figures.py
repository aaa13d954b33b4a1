"""Figure of the delta adjustment: P(benefit) and the pooled p-value against delta."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from imr_bayes.errors import ImrBayesError
from imr_bayes.outcomes import get as get_outcome
from imr_bayes.sensitivity.tipping import REACHED, tipping_points


def plot_tipping_points(table: pd.DataFrame, *, p_benefit_threshold: float = 0.975,
                        alpha: float = 0.05) -> Any:
    """Draw a :func:`imr_bayes.sensitivity.delta_adjust` table; return the figure.

    Left panel: posterior P(benefit) of condition x time against delta, one line per
    outcome, with the ``p_benefit_threshold`` line. Right panel: Rubin-pooled p-value (log
    scale) with the ``alpha`` line. Tipping points (:func:`tipping_points` with the same
    thresholds) are marked where reached. The figure is returned, never shown.

    Raises
    ------
    ImrBayesError
        If the table is empty (or not a delta-adjustment table).
    """
    from matplotlib.figure import Figure

    if table.empty:
        raise ImrBayesError("plot_tipping_points needs a non-empty delta_adjust table")
    tips = tipping_points(table, p_benefit_threshold=p_benefit_threshold, alpha=alpha)
    tips = tips.set_index(["outcome", "estimand", "arms"])
    fig = Figure(figsize=(11, 4.8), layout="constrained")
    ax_b, ax_f = fig.subplots(1, 2)
    keys = list(table.groupby(["outcome", "estimand", "arms"], sort=False).groups)
    colors = [_color(k, len(keys)) for k in range(len(keys))]
    for color, key in zip(colors, keys, strict=True):
        outcome, estimand, arms = key
        g = table[(table["outcome"] == outcome) & (table["estimand"] == estimand)
                  & (table["arms"] == arms)].sort_values("delta")
        label = get_outcome(outcome).abbreviation
        if len({k[1] for k in keys}) > 1:
            label += f" {estimand}"
        if len({k[2] for k in keys}) > 1:
            label += f" ({arms})"
        ax_b.plot(g["delta"], g["p_benefit"], color=color, label=label, lw=1.4)
        ax_f.plot(g["delta"], np.clip(g["freq_p"], 1e-6, 1), color=color, lw=1.4)
        tip = tips.loc[key]
        if tip["bayes_status"] == REACHED:
            ax_b.plot(tip["bayes_delta"], p_benefit_threshold, "o", color=color, ms=5)
        if tip["freq_status"] == REACHED:
            ax_f.plot(tip["freq_delta"], alpha, "o", color=color, ms=5)
    ax_b.axhline(p_benefit_threshold, color="k", ls="--", lw=0.8)
    ax_b.set_ylim(-0.02, 1.02)
    ax_b.set_xlabel("delta (pooled baseline SD, unfavourable)")
    ax_b.set_ylabel("posterior P(benefit) of condition x time")
    ax_b.set_title(f"Bayesian: tipping below P = {p_benefit_threshold}")
    ax_f.axhline(alpha, color="k", ls="--", lw=0.8)
    ax_f.set_yscale("log")
    ax_f.set_xlabel("delta (pooled baseline SD, unfavourable)")
    ax_f.set_ylabel("p-value (Rubin's rules)")
    ax_f.set_title(f"Frequentist: tipping above p = {alpha}")
    arms = sorted(set(table["arms"]))
    fig.suptitle("Delta adjustment of missing follow-ups "
                 f"(shifted: {', '.join('IMR arm' if a == 'imr' else 'both arms' for a in arms)})")
    fig.legend(loc="outside right center", fontsize=8, frameon=False)
    return fig


def _color(k: int, n: int) -> tuple[float, float, float, float]:
    """Colour ``k`` of ``n`` distinct colours (tab20 for up to 20 lines)."""
    from matplotlib import colormaps

    cmap = colormaps["tab20" if n > 10 else "tab10"]
    return cmap(k % cmap.N)
