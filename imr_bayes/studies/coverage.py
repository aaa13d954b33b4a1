"""Study ``coverage``: SBC and 95 % interval coverage of an ITT model's condition x time.

The model is the setting ``analysis``: the partially nested ``itt`` (default) or the
SPSS-parity ``itt_parity``.

One replicate:

1. draw a random synthetic twin and keep its *design*: arms, the 15 IMR groups and their
   sizes, and which participant x time cells of the outcome are observed;
2. draw every parameter of the ITT model from its prior (the prior set of the analysis,
   standardized scale) and simulate the outcome from the model on that design
   (:func:`imr_bayes.studies.fitting.simulate_z`);
3. fit the ITT model (fast path: participant intercept integrated out, nutpie) and record the
   posterior mean, SD and 95 % ETI of condition x time (raw units of the outcome), whether the
   ETI covers the true value, and the SBC rank of the truth among ``ranks`` evenly thinned
   posterior draws.

Because the truth is drawn from the same prior the model uses, a correct model and sampler
give ranks uniform on ``0..ranks`` and 95 % ETIs that cover the truth in 95 % of replicates
(averaged over the prior), whatever the prior. The summary reports the coverage with its Monte
Carlo SE and a chi-square test of rank uniformity (Talts et al., 2018).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from imr_bayes.constants import CI_LEVEL
from imr_bayes.studies import fitting
from imr_bayes.studies.figures import binomial_band, mc_se, new_figure
from imr_bayes.studies.runner import Study
from imr_bayes.studies.store import Store

#: Settings of a full run (``--quick`` overrides :data:`QUICK`).
DEFAULTS: dict[str, Any] = {
    "outcome": "imrs_client", "prior_set": "default", "analysis": "itt",
    "draws": 500, "tune": 500, "chains": 2, "backend": "numba", "ranks": 99, "rank_bins": 20,
}
QUICK: dict[str, Any] = {"draws": 60, "tune": 60, "chains": 1, "backend": "pyfunc", "ranks": 19,
                         "rank_bins": 4}


def replicate(*, index: int, seed: np.random.SeedSequence, settings: Mapping[str, Any],
              context: pd.DataFrame | None) -> pd.DataFrame:
    """Run one SBC replicate; return one row (see the module docstring)."""
    rng = np.random.default_rng(seed)
    outcome, prior_set = settings["outcome"], settings["prior_set"]
    analysis = settings["analysis"]
    panel = fitting.design_panel(rng, outcome, analysis)
    truth = fitting.draw_prior(outcome, prior_set, rng, analysis)
    data = {**panel.model_data(), "z": fitting.simulate_z(panel, truth, rng)}
    fit = fitting.fit_effect(data, seed=fitting.nutpie_seed(rng), draws=settings["draws"],
                             tune=settings["tune"], chains=settings["chains"], outcome=outcome,
                             prior_set=prior_set, backend=settings["backend"],
                             analysis=analysis)
    true_std = truth[fitting.ESTIMAND]
    row = {"estimand": fitting.ESTIMAND, "true": true_std * panel.scale,
           **fit.summary(panel.scale)}
    row["covered"] = bool(row["eti95_low"] <= row["true"] <= row["eti95_high"])
    row.update(rank=fit.rank(true_std, settings["ranks"]), n_ranks=settings["ranks"],
               divergences=fit.divergences, r_hat=fit.r_hat, ess_bulk=fit.ess_bulk,
               n_rows=panel.n_rows)
    return pd.DataFrame([row])


def summarize(store_dir: str | Path) -> pd.DataFrame:
    """Return one row: coverage with its Monte Carlo SE, and the SBC rank-uniformity test.

    Columns: ``estimand, replicates, nominal, coverage, mcse, coverage_low, coverage_high``
    (coverage +/- 1.96 MCSE), ``rank_chi2, rank_df, rank_p`` (chi-square test of uniform
    ranks over ``rank_bins`` bins), ``mean_error`` (posterior mean minus truth, raw units),
    ``mean_width`` (ETI width), ``share_divergent`` (replicates with any divergence),
    ``share_rhat_ok`` (R-hat <= 1.01, among replicates with more than one chain).
    """
    from scipy import stats

    store = Store.load(store_dir)
    rows = store.read()
    n = len(rows)
    cover = float(rows["covered"].mean())
    se = float(mc_se(cover, n))
    counts = rank_counts(rows, store.settings["rank_bins"])
    expected = n / len(counts)
    chi2 = float(((counts - expected) ** 2 / expected).sum())
    df = len(counts) - 1
    rhat = rows["r_hat"].dropna()
    return pd.DataFrame([{
        "estimand": fitting.ESTIMAND, "replicates": n, "nominal": CI_LEVEL,
        "coverage": cover, "mcse": se,
        "coverage_low": cover - 1.96 * se, "coverage_high": cover + 1.96 * se,
        "rank_chi2": chi2, "rank_df": df, "rank_p": float(stats.chi2.sf(chi2, df)),
        "mean_error": float((rows["mean"] - rows["true"]).mean()),
        "mean_width": float((rows["eti95_high"] - rows["eti95_low"]).mean()),
        "share_divergent": float((rows["divergences"] > 0).mean()),
        "share_rhat_ok": float((rhat <= 1.01).mean()) if len(rhat) else float("nan"),
    }])


def rank_counts(rows: pd.DataFrame, bins: int) -> np.ndarray:
    """Count SBC ranks (0..n_ranks) in ``bins`` equal bins."""
    n_values = int(rows["n_ranks"].iloc[0]) + 1
    edges = np.linspace(0, n_values, bins + 1)
    counts, _ = np.histogram(rows["rank"].to_numpy(), bins=edges)
    return counts


def plot(store_dir: str | Path) -> Any:
    """Rank histogram (with the 95 % band of uniform ranks) and truth vs 95 % ETI."""
    store = Store.load(store_dir)
    rows = store.read()
    summary = summarize(store_dir).iloc[0]
    bins = store.settings["rank_bins"]
    counts = rank_counts(rows, bins)
    n = len(rows)
    fig, (ax_rank, ax_int) = new_figure(2)
    lo, hi = binomial_band(1 / bins, n)
    ax_rank.axhspan(lo * n, hi * n, color="0.85", label="95 % band, uniform ranks")
    ax_rank.bar(np.arange(bins), counts, width=0.9, color="C0")
    ax_rank.axhline(n / bins, color="0.3", lw=1)
    ax_rank.set_xticks(np.arange(0, bins, max(1, bins // 5)))
    ax_rank.set(xlabel=f"rank of the truth ({bins} bins)", ylabel="replicates",
                title=f"SBC ranks (chi-square p = {summary['rank_p']:.2f})")
    ax_rank.legend(loc="lower right", fontsize=8)
    order = np.argsort(rows["true"].to_numpy())
    x = np.arange(n)
    sorted_rows = rows.iloc[order]
    colors = np.where(sorted_rows["covered"], "C0", "C3")
    ax_int.vlines(x, sorted_rows["eti95_low"], sorted_rows["eti95_high"], colors=colors,
                  lw=1)
    ax_int.plot(x, sorted_rows["true"], "k.", ms=2, label="truth")
    ax_int.set(xlabel="replicate (sorted by truth)", ylabel="condition x time (raw units)",
               title=(f"95 % ETI coverage {summary['coverage']:.3f} "
                      f"(MC SE {summary['mcse']:.3f}, R = {n})"))
    ax_int.legend(loc="upper left", fontsize=8)
    return fig


STUDY = Study(
    name="coverage",
    description="SBC and 95 % ETI coverage of the ITT model's condition x time effect",
    replicate=replicate, defaults=DEFAULTS, quick=QUICK, summarize=summarize, plot=plot,
)
