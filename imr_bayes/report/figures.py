"""Figures of the report: compute and draw are separate functions.

``*_data`` functions return tidy frames (tested without drawing); ``plot_*`` functions take
those frames (or a fit's DataTree for the ArviZ diagnostics) and return a matplotlib figure.
:func:`to_png` renders a figure to PNG bytes and closes it. Matplotlib runs on the Agg
backend: no display is needed.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from imr_bayes import outcomes as outcome_registry  # noqa: E402

if TYPE_CHECKING:
    from matplotlib.figure import Figure as MplFigure

#: Resolution of the embedded PNGs.
DPI: int = 96


def to_png(fig: MplFigure) -> bytes:
    """Render a matplotlib figure to PNG bytes and close it."""
    buf = io.BytesIO()
    try:
        fig.savefig(buf, format="png", dpi=DPI, bbox_inches="tight")
    finally:
        plt.close(fig)
    return buf.getvalue()


def forest_data(estimates: pd.DataFrame) -> pd.DataFrame:
    """Put posterior 95 % ETIs and published 95 % CIs of one effect on one scale.

    Parameters
    ----------
    estimates : DataFrame
        Rows of :class:`imr_bayes.estimates.Estimates` tables (any sources) of one estimand
        on the outcome's scale (``source, analysis, outcome, estimate, ci_low, ci_high``).
        Rows without an estimate (a term the paper's AIC step dropped) are left out.

    Returns
    -------
    DataFrame
        Columns ``outcome, label, source, estimate, low, high``: standardized effects (raw
        units divided by the pooled Table 1 baseline SD), signed so that positive favours
        IMR. ``source`` is ``published`` or the analysis name.
    """
    rows = []
    for rec in estimates.itertuples(index=False):
        if pd.isna(rec.estimate) or pd.isna(rec.ci_low):
            continue
        out = outcome_registry.get(rec.outcome)
        sd, sign = out.pooled_baseline_sd(), out.beneficial_sign
        low, high = sorted((sign * rec.ci_low / sd, sign * rec.ci_high / sd))
        source = "published" if rec.source == "published" else str(rec.analysis)
        rows.append({"outcome": rec.outcome, "label": out.abbreviation, "source": source,
                     "estimate": sign * rec.estimate / sd, "low": low, "high": high})
    order = {code: i for i, code in enumerate(outcome_registry.CODES)}
    df = pd.DataFrame(rows, columns=["outcome", "label", "source", "estimate", "low", "high"])
    return df.sort_values("outcome", key=lambda s: s.map(order), kind="stable").reset_index(
        drop=True
    )


def plot_forest(data: pd.DataFrame, *, title: str = "",
                xlabel: str = "effect in pooled baseline SDs (positive favours IMR)",
                marks: Sequence[float] = ()) -> MplFigure:
    """Draw :func:`forest_data`: one row per outcome, one marker per source, 95 % intervals.

    ``marks``: x positions of dotted reference lines (e.g. +/- a clinically important d)
    beside the dashed line at 0.
    """
    sources = list(dict.fromkeys(data["source"]))
    labels = list(dict.fromkeys(data["label"]))
    colors = {s: c for s, c in zip(
        sources, ["#222222", "#2c5d8a", "#d1495b", "#66a182", "#edae49", "#8d6a9f"] * 3,
        strict=False)}
    fig, ax = plt.subplots(figsize=(7.5, 0.42 * len(labels) + 1.4))
    width = 0.7 / max(len(sources), 1)
    for j, source in enumerate(sources):
        sub = data[data["source"] == source]
        y = np.array([labels.index(lbl) for lbl in sub["label"]], dtype=float)
        y = y - 0.35 + width * (j + 0.5)
        ax.hlines(y, sub["low"], sub["high"], color=colors[source], lw=2)
        marker = "s" if source == "published" else "o"
        ax.plot(sub["estimate"], y, marker, color=colors[source], label=source, ms=5)
    ax.axvline(0, color="#888888", lw=0.8, ls="--")
    for x in marks:
        ax.axvline(x, color="#888888", lw=0.8, ls=":")
    ax.set_yticks(range(len(labels)), labels)
    ax.invert_yaxis()
    ax.set_xlabel(xlabel)
    if title:
        ax.set_title(title, fontsize=10)
    fig.tight_layout()
    # the legend goes under the x label (0.55 inch below the axes), clear of the rows
    below = -0.55 / (ax.get_position().height * fig.get_figheight())
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, below), ncol=len(sources),
              fontsize=8, frameon=False)
    return fig


def diagnostic_figures(idata: Any, var_names: Sequence[str]) -> dict[str, MplFigure]:
    """Draw ArviZ rank, energy and ESS plots of one fit.

    Parameters
    ----------
    idata : xarray.DataTree
        The fit's posterior and sample stats.
    var_names : sequence of str
        Posterior variables shown in the rank and ESS plots (the energy plot uses the
        ``sample_stats.energy`` of the whole model).

    Returns
    -------
    dict of str to Figure
        ``rank``, ``energy`` and ``ess`` (the energy plot only when the sampler recorded
        energy).
    """
    import arviz_plots as azp

    names = [v for v in var_names if v in idata["posterior"].data_vars]
    figs: dict[str, MplFigure] = {}
    if names:
        figs["rank"] = azp.plot_rank(idata, var_names=names, backend="matplotlib").get_viz(
            "figure")
        figs["ess"] = azp.plot_ess(idata, var_names=names, backend="matplotlib").get_viz(
            "figure")
    if "sample_stats" in idata.children and "energy" in idata["sample_stats"].data_vars:
        figs["energy"] = azp.plot_energy(idata, backend="matplotlib").get_viz("figure")
    return {k: _item(v) for k, v in figs.items()}


def _item(fig: Any) -> MplFigure:
    """Unwrap the 0-d object array arviz-plots stores its figure in."""
    return fig.item() if hasattr(fig, "item") and not hasattr(fig, "savefig") else fig

