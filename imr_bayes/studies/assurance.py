"""Study ``assurance``: the probability that a new IMR trial shows a benefit, over a grid of n.

*Design prior.* The reanalysis posterior of the primary outcome: the SPSS-parity ITT model
(:data:`ANALYSIS`, whose participant, IMR-group shift and single residual SD are the
structure the conjugate analysis below assumes; same spec and priors as
:func:`imr_bayes.fit`) fitted to the default synthetic twin once per study (the
``prepare`` step, stored as ``context.parquet``). Each replicate takes one joint posterior
draw of all parameters (fixed effects and the participant, IMR-group and residual SDs), so the
uncertainty about the effect *and* about the variance components carries into the design.

*New trial.* ``n`` participants per arm (1:1), measured at baseline, 12 and 18 months; IMR
participants in therapy groups of ``group_size``; each follow-up missing with probability
``missing`` (about the twin's 15 %). Outcomes are simulated from the partially nested model
at the drawn parameters (standardized scale).

*Analysis of the new trial* (a documented approximation, fast enough for thousands of
trials): the exact conjugate posterior of the fixed effects *given the variance components* —
generalized least squares with the partially nested covariance (participant intercept, group
effect for treated participants after baseline, residual), combined with the analysis prior's
normal priors on the fixed effects. The variance components are fixed at the values that
generated the trial instead of being estimated; with 40+ participants per arm they are
estimated precisely, and a test checks the approximation against a full MCMC fit of the ITT
model on the same simulated trial. Success: ``P(benefit) > threshold`` (0.975), benefit
meaning a condition x time effect in the outcome's beneficial direction.

All grid sizes of one replicate share the same design-prior draw (common random numbers), so
the assurance curve is smooth in ``n``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from imr_bayes import outcomes
from imr_bayes.bayes.itt import standardization
from imr_bayes.errors import StudyError
from imr_bayes.studies import fitting
from imr_bayes.studies.figures import mc_se, new_figure
from imr_bayes.studies.runner import Study
from imr_bayes.studies.store import Store

#: The analysis behind the design prior (its structure is the conjugate analysis').
ANALYSIS: str = "itt_parity"
TERMS: tuple[str, ...] = ("intercept", "time", "condition", "condition_x_time")
SDS: tuple[str, ...] = ("sigma_participant", "sigma_group", "sigma_residual")
DEFAULTS: dict[str, Any] = {
    "outcome": "imrs_client", "prior_set": "default",
    "n_per_arm": [50, 75, 100, 150, 200, 300], "group_size": 8, "missing": 0.15,
    "threshold": 0.975, "design_draws": 1000, "design_tune": 1000, "design_chains": 2,
    "backend": "numba",
}
QUICK: dict[str, Any] = {"n_per_arm": [40, 80], "design_draws": 100, "design_tune": 100,
                         "design_chains": 1, "backend": "pyfunc"}


def prepare(*, settings: Mapping[str, Any], seed: int) -> pd.DataFrame:
    """Fit the ITT model to the default twin; return its joint posterior draws (standardized).

    Columns: the four fixed effects (``intercept, time, condition, condition_x_time``) and
    ``sigma_participant, sigma_group, sigma_residual``; one row per draw.
    """
    from imr_bayes.bayes.itt import make_panel
    from imr_bayes.data import default_twin

    outcome = settings["outcome"]
    panel = make_panel(default_twin(), outcome, fitting.itt_spec(ANALYSIS))
    post, _ = fitting.sample_posterior(
        panel.model_data(), seed=int(seed), draws=settings["design_draws"],
        tune=settings["design_tune"], chains=settings["design_chains"], outcome=outcome,
        prior_set=settings["prior_set"], backend=settings["backend"], analysis=ANALYSIS,
    )
    columns = {t: post[f"beta_{t}"] for t in TERMS} | {s: post[s] for s in SDS}
    return pd.DataFrame({k: np.asarray(v.values, dtype=float).ravel()
                         for k, v in columns.items()})


def simulate_trial(n_per_arm: int, params: Mapping[str, float], rng: np.random.Generator, *,
                   group_size: int, missing: float) -> dict[str, np.ndarray]:
    """Simulate a new two-arm trial (standardized outcome) from the partially nested model.

    Returns
    -------
    dict
        ``z`` (participant x time, NaN where missing), ``treated`` (0/1 per participant),
        ``group`` (IMR group index, -1 for controls).
    """
    n = 2 * n_per_arm
    treated = np.repeat([1.0, 0.0], n_per_arm)
    group = np.where(treated > 0, np.arange(n) // group_size, -1)
    n_groups = int(group.max()) + 1
    time = np.arange(3.0)
    mean = (params["intercept"] + params["time"] * time[None, :]
            + treated[:, None] * (params["condition"] + params[fitting.ESTIMAND] * time))
    g = rng.normal(0.0, params["sigma_group"], n_groups)
    group_term = np.where(group >= 0, g[np.maximum(group, 0)], 0.0)[:, None] * (time > 0)
    z = (mean + rng.normal(0.0, params["sigma_participant"], n)[:, None] + group_term
         + rng.normal(0.0, params["sigma_residual"], (n, 3)))
    lost = rng.random((n, 3)) < missing
    lost[:, 0] = False
    return {"z": np.where(lost, np.nan, z), "treated": treated, "group": group}


def conjugate_posterior(trial: Mapping[str, np.ndarray], params: Mapping[str, float],
                        prior: Mapping[str, tuple[float, float]]) -> tuple[np.ndarray,
                                                                            np.ndarray]:
    """Posterior of the fixed effects given the variance components (exact, normal).

    Parameters
    ----------
    trial : mapping
        Output of :func:`simulate_trial` (or any data in that layout).
    params : mapping
        ``sigma_participant, sigma_group, sigma_residual`` (standardized scale).
    prior : mapping
        ``term -> (mean, sd)`` normal prior of each fixed effect in :data:`TERMS`.

    Returns
    -------
    mean : ndarray, shape (4,)
    cov : ndarray, shape (4, 4)
        In :data:`TERMS` order.
    """
    z, treated, group = trial["z"], trial["treated"], trial["group"]
    sp2, sg2, se2 = (params[s] ** 2 for s in SDS)
    precision = np.zeros((4, 4))
    score = np.zeros(4)
    blocks = [np.array([i]) for i in np.flatnonzero(group < 0)]
    blocks += [np.flatnonzero(group == j) for j in np.unique(group[group >= 0])]
    for members in blocks:
        pid, t = np.nonzero(np.isfinite(z[members]))
        pid = members[pid]
        c = treated[pid]
        x = np.column_stack([np.ones_like(c), t, c, c * t])
        on = (c > 0) & (t > 0)
        cov = (se2 * np.eye(len(pid)) + sp2 * (pid[:, None] == pid[None, :])
               + sg2 * (on[:, None] & on[None, :]))
        solved = np.linalg.solve(cov, np.column_stack([x, z[pid, t]]))
        precision += x.T @ solved[:, :4]
        score += x.T @ solved[:, 4]
    mu0 = np.array([prior[k][0] for k in TERMS])
    inv_var0 = np.array([1 / prior[k][1] ** 2 for k in TERMS])
    cov = np.linalg.inv(precision + np.diag(inv_var0))
    return cov @ (score + inv_var0 * mu0), cov


def normal_priors(outcome: str, prior_set: str) -> dict[str, tuple[float, float]]:
    """Return ``term -> (mu, sigma)`` of the analysis prior's fixed effects.

    Raises
    ------
    StudyError
        If a fixed-effect prior is not Normal (the conjugate analysis needs normal priors).
    """
    priors = fitting.resolved_priors(outcome, prior_set, ANALYSIS)
    out = {}
    for term in TERMS:
        if priors[term]["dist"] != "Normal":
            raise StudyError(
                f"the assurance study's conjugate analysis needs a Normal prior on {term!r}; "
                f"prior set {prior_set!r} gives {priors[term]['dist']}"
            )
        out[term] = (float(priors[term]["kwargs"]["mu"]), float(priors[term]["kwargs"]["sigma"]))
    return out


def replicate(*, index: int, seed: np.random.SeedSequence, settings: Mapping[str, Any],
              context: pd.DataFrame | None) -> pd.DataFrame:
    """Run one replicate: one design-prior draw, one new trial per grid size; one row per n."""
    from scipy import stats

    if context is None:
        raise StudyError("the assurance study needs its design prior (prepare step)")
    rng = np.random.default_rng(seed)
    outcome = settings["outcome"]
    direction = outcomes.get(outcome).direction
    scale = standardization(outcome)[1]
    prior = normal_priors(outcome, settings["prior_set"])
    params = context.iloc[int(rng.integers(len(context)))].to_dict()
    k = TERMS.index(fitting.ESTIMAND)
    rows = []
    for n in settings["n_per_arm"]:
        trial = simulate_trial(int(n), params, rng, group_size=settings["group_size"],
                               missing=settings["missing"])
        mean, cov = conjugate_posterior(trial, params, prior)
        sd = float(np.sqrt(cov[k, k]))
        p_benefit = float(stats.norm.cdf(direction * mean[k] / sd))
        rows.append({"n_per_arm": int(n), "true": params[fitting.ESTIMAND] * scale,
                     "mean": mean[k] * scale, "sd": sd * scale, "p_benefit": p_benefit,
                     "success": p_benefit > settings["threshold"],
                     "true_benefit": direction * params[fitting.ESTIMAND] > 0})
    return pd.DataFrame(rows)


def summarize(store_dir: str | Path) -> pd.DataFrame:
    """Return one row per n: assurance with its Monte Carlo SE.

    Columns: ``n_per_arm, replicates, assurance`` (share of new trials with P(benefit) >
    threshold), ``mcse``, ``mean_p_benefit``, ``mean_sd`` (posterior SD of condition x time,
    raw units), ``prior_p_benefit`` (share of design-prior draws with a true benefit: the
    ceiling of assurance as n grows) and ``power_given_benefit`` (success among replicates
    whose true effect is a benefit).
    """
    rows = Store.load(store_dir).read()
    out = (rows.groupby("n_per_arm", sort=True)
           .agg(replicates=("success", "size"), assurance=("success", "mean"),
                mean_p_benefit=("p_benefit", "mean"), mean_sd=("sd", "mean"),
                prior_p_benefit=("true_benefit", "mean"))
           .reset_index())
    out["mcse"] = mc_se(out["assurance"].to_numpy(), out["replicates"].to_numpy())
    cond = rows[rows["true_benefit"]].groupby("n_per_arm")["success"].mean()
    out["power_given_benefit"] = out["n_per_arm"].map(cond)
    return out[["n_per_arm", "replicates", "assurance", "mcse", "mean_p_benefit", "mean_sd",
                "prior_p_benefit", "power_given_benefit"]]


def plot(store_dir: str | Path) -> Any:
    """Assurance against n per arm, with 95 % Monte Carlo intervals and its ceiling."""
    summary = summarize(store_dir)
    threshold = Store.load(store_dir).settings["threshold"]
    fig, (ax,) = new_figure(1, width=5.5)
    n = summary["n_per_arm"]
    ax.errorbar(n, summary["assurance"], yerr=1.96 * summary["mcse"], fmt="o-", color="C0",
                capsize=3, label="assurance")
    ax.plot(n, summary["power_given_benefit"], "s--", color="C2", ms=4,
            label="success | true benefit")
    ceiling = float((summary["prior_p_benefit"] * summary["replicates"]).sum()
                    / summary["replicates"].sum())
    ax.axhline(ceiling, color="0.4", ls=":", lw=1,
               label=f"design-prior P(benefit) = {ceiling:.2f}")
    ax.set(xlabel="participants per arm (new trial)", ylabel="probability",
           ylim=(0, 1.02),
           title=f"Assurance: P(benefit) > {threshold} (R = {int(summary['replicates'].min())})")
    ax.legend(fontsize=8, loc="lower right")
    return fig


STUDY = Study(
    name="assurance",
    description="probability that a new IMR trial reaches P(benefit) > 0.975, by n per arm",
    replicate=replicate, defaults=DEFAULTS, quick=QUICK, summarize=summarize, plot=plot,
    prepare=prepare,
)
