"""Study ``nesting``: type-I error and coverage of the naive vs the partially nested model.

IMR was delivered in 15 therapy groups; controls had none (a partially nested design). When
participants of one group resemble each other after baseline (an IMR-group ICC), a model
without the group effect (*naive*) treats correlated follow-up scores of treated participants
as independent and overstates the precision of the condition x time effect.

One replicate:

1. take the design of a fresh random twin (arms, IMR groups and their sizes, observed cells);
2. simulate the standardized outcome from the partially nested model with **no treatment
   effect** (condition x time = 0, condition = 0, time = ``time_effect``) and variance
   components that sum to 1 for a treated participant after baseline:
   ``sigma_group^2 = icc``, ``sigma_participant^2 = participant_share * (1 - icc)``,
   ``sigma_residual^2 = (1 - participant_share) * (1 - icc)``; replicate ``i`` uses
   ``iccs[i % len(iccs)]``;
3. fit the partially nested ITT model and the naive model (the same compiled model with the
   group effect switched off, see :mod:`imr_bayes.studies.fitting`) and record for each
   whether the 95 % ETI of condition x time excludes 0 (a type-I error) and covers the truth.

The generator and the fitted model are the SPSS-parity model with its group shift
(``analysis: itt_parity``): the question is the group effect alone, not the partially
nested model's other parts (residual cells, teams).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from imr_bayes.constants import CI_LEVEL
from imr_bayes.studies import fitting
from imr_bayes.studies.figures import mc_se, new_figure
from imr_bayes.studies.runner import Study
from imr_bayes.studies.store import Store

MODELS: tuple[str, str] = ("naive", "nested")
DEFAULTS: dict[str, Any] = {
    "outcome": "imrs_client", "prior_set": "default", "analysis": "itt_parity",
    "iccs": [0.05, 0.10],
    "participant_share": 0.5, "time_effect": 0.05,
    "draws": 500, "tune": 500, "chains": 2, "backend": "numba",
}
QUICK: dict[str, Any] = {"draws": 60, "tune": 60, "chains": 1, "backend": "pyfunc"}


def truth(icc: float, settings: Mapping[str, Any]) -> dict[str, float]:
    """Return the generating parameters (standardized scale) of a replicate with ``icc``."""
    share = settings["participant_share"]
    return {
        "intercept": 0.0, "time": settings["time_effect"], "condition": 0.0,
        fitting.ESTIMAND: 0.0,
        "sigma_group": float(np.sqrt(icc)),
        "sigma_participant": float(np.sqrt(share * (1 - icc))),
        "sigma_residual": float(np.sqrt((1 - share) * (1 - icc))),
    }


def replicate(*, index: int, seed: np.random.SeedSequence, settings: Mapping[str, Any],
              context: pd.DataFrame | None) -> pd.DataFrame:
    """Run one replicate; return two rows (naive and nested model)."""
    rng = np.random.default_rng(seed)
    icc = float(settings["iccs"][index % len(settings["iccs"])])
    outcome = settings["outcome"]
    panel = fitting.design_panel(rng, outcome, settings["analysis"])
    data = {**panel.model_data(), "z": fitting.simulate_z(panel, truth(icc, settings), rng)}
    rows = []
    for model in MODELS:
        fit = fitting.fit_effect(
            data, seed=fitting.nutpie_seed(rng), draws=settings["draws"],
            tune=settings["tune"], chains=settings["chains"], group_effect=model == "nested",
            outcome=outcome, prior_set=settings["prior_set"], backend=settings["backend"],
            analysis=settings["analysis"],
        )
        s = fit.summary(panel.scale)
        rows.append({
            "model": model, "icc": icc, "estimand": fitting.ESTIMAND, "true": 0.0, **s,
            "covered": bool(s["eti95_low"] <= 0.0 <= s["eti95_high"]),
            "divergences": fit.divergences, "r_hat": fit.r_hat, "ess_bulk": fit.ess_bulk,
        })
    rows = pd.DataFrame(rows)
    # The truth is 0: an ETI that excludes it is a type-I error.
    return rows.assign(reject=~rows["covered"])


def summarize(store_dir: str | Path) -> pd.DataFrame:
    """Return one row per (ICC, model): type-I error with MC SE, coverage, posterior SD.

    Columns: ``icc, model, replicates, type_i_error, mcse, coverage, nominal_alpha,
    mean_sd`` (average posterior SD, raw units), ``sd_ratio`` (mean SD over the nested
    model's mean SD at the same ICC) and ``share_divergent``.
    """
    rows = Store.load(store_dir).read()
    out = (rows.groupby(["icc", "model"], sort=True)
           .agg(replicates=("reject", "size"), type_i_error=("reject", "mean"),
                coverage=("covered", "mean"), mean_sd=("sd", "mean"),
                share_divergent=("divergences", lambda d: float((d > 0).mean())))
           .reset_index())
    out["mcse"] = mc_se(out["type_i_error"].to_numpy(), out["replicates"].to_numpy())
    out["nominal_alpha"] = 1 - CI_LEVEL
    nested_sd = out[out["model"] == "nested"].set_index("icc")["mean_sd"]
    out["sd_ratio"] = out["mean_sd"] / out["icc"].map(nested_sd)
    return out[["icc", "model", "replicates", "type_i_error", "mcse", "coverage",
                "nominal_alpha", "mean_sd", "sd_ratio", "share_divergent"]]


def plot(store_dir: str | Path) -> Any:
    """Type-I error (with 95 % MC intervals) by ICC for the naive and nested models."""
    summary = summarize(store_dir)
    fig, (ax_err, ax_sd) = new_figure(2)
    iccs = np.sort(summary["icc"].unique())
    pos = {icc: k for k, icc in enumerate(iccs)}
    for shift, (model, color) in zip((-0.08, 0.08), zip(MODELS, ("C3", "C0"), strict=True),
                                     strict=True):
        part = summary[summary["model"] == model]
        x = part["icc"].map(pos).to_numpy() + shift
        ax_err.errorbar(x, part["type_i_error"], yerr=1.96 * part["mcse"], fmt="o",
                        color=color, capsize=3, label=model)
        ax_sd.plot(x, part["mean_sd"], "o", color=color, label=model)
    ax_err.axhline(1 - CI_LEVEL, color="0.3", ls="--", lw=1, label="nominal 0.05")
    n = int(summary["replicates"].min())
    ax_err.set(xticks=range(len(iccs)), xticklabels=[f"{v:.2f}" for v in iccs],
               xlabel="IMR-group ICC", ylabel="type-I error (95 % ETI excludes 0)",
               title=f"Type-I error, true effect 0 (>= {n} replicates per ICC)")
    ax_sd.set(xticks=range(len(iccs)), xticklabels=[f"{v:.2f}" for v in iccs],
              xlabel="IMR-group ICC", ylabel="mean posterior SD (raw units)",
              title="Precision claimed by each model")
    ax_err.legend(fontsize=8)
    ax_sd.legend(fontsize=8)
    return fig


STUDY = Study(
    name="nesting",
    description="type-I error and coverage: naive vs partially nested model, IMR-group ICC",
    replicate=replicate, defaults=DEFAULTS, quick=QUICK, summarize=summarize, plot=plot,
)
