"""Multiplicity by partial pooling of the condition x time effects across outcomes.

Gelman, Hill & Yajima (2012, "Why we (usually) don't have to worry about multiple
comparisons"): instead of adjusting p values, the standardized treatment effects of the
outcomes (d at 18 months, ``docs/indices.md``) share a normal population distribution,

    y_k ~ N(theta_k, se_k),   theta_k = mu + tau * z_k,   z_k ~ N(0, 1)   (non-centred),
    mu ~ N(0, mu_prior_sd),   tau ~ HalfNormal(tau_prior_sd),

so that noisy estimates are shrunk toward the common mean and extreme ones become less
extreme. Effects are oriented so that positive = benefit (lower-is-better outcomes are sign
flipped) before pooling. The model is fitted with nutpie; diagnostics are checked and
returned. :func:`compare_with_bh` sets the result beside Benjamini–Hochberg. See
``docs/multiplicity.md``.

The input is a tidy frame ``outcome, estimate_d, se_d``, built by :func:`published_effects`
from the published tables (by default the 18-month differences of all 12 outcomes; the
condition x time B's of the outcomes the paper's AIC step kept are an option, conditional on
that selection) or by :func:`effects_from_fits` from the participant-level Bayesian fits.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import special

from imr_bayes.constants import CI_LEVEL, DEFAULT_SEED
from imr_bayes.errors import ImrBayesError
from imr_bayes.indices import eti, p_benefit, p_direction

#: Columns of :attr:`PartialPoolingResult.table`.
TABLE_COLUMNS: tuple[str, ...] = (
    "outcome", "estimate_d", "se_d", "benefit_d", "post_mean", "post_sd", "eti95_low",
    "eti95_high", "p_benefit", "p_direction", "p_benefit_unpooled", "shrinkage",
)


def _z(level: float) -> float:
    return float(special.ndtri((1 + level) / 2))


#: Published estimands :func:`published_effects` can pool; the first is the default.
PUBLISHED_ESTIMANDS: tuple[str, ...] = ("followup_difference", "condition_x_time")
#: Steps from a per-step condition x time slope to the 18-month contrast (time 0, 1, 2).
SLOPE_HORIZON: float = 2.0


def published_effects(sample: str = "itt", *, estimand: str = "followup_difference",
                      level: float = CI_LEVEL) -> pd.DataFrame:
    """Standardized published effects of all 12 outcomes, ready for :func:`partial_pooling`.

    Parameters
    ----------
    sample : {"itt", "completers"}
        Tables 2/3 (ITT) or 6/7 (completers).
    estimand : {"followup_difference", "condition_x_time"}
        ``"followup_difference"`` (default): the IMR - CAU mean difference at 18 months of
        Table 3/7, printed for all 12 outcomes (it includes any baseline difference); its p
        value is derived from the CI (normal). ``"condition_x_time"``: the printed
        condition x time B of Table 2/6; only the outcomes whose final model kept the term
        have one, so pooling them is conditional on the paper's AIC selection (winner's
        curse, ``docs/multiplicity.md``).
    level : float, default ``CI_LEVEL``
        Level of the printed intervals.

    Returns
    -------
    pandas.DataFrame
        One row per outcome (all 12): ``outcome, estimate_d, se_d, b, ci_low, ci_high, p,
        sd, included, note`` with d as everywhere in the package (``docs/indices.md``):
        ``estimate_d = h * b / SD`` and ``se_d = h * (ci_high - ci_low) /
        (2 z_{(1+level)/2}) / SD``, SD the outcome's pooled Table 1 baseline SD
        (:meth:`imr_bayes.outcomes.Outcome.pooled_baseline_sd`) and h the horizon: 2 for a
        per-step B (the 18-month contrast is 2B), 1 for the 18-month difference. Outcomes
        without a printed estimate have NaN numbers, ``included=False`` and a note;
        :func:`partial_pooling` excludes them.
    """
    from imr_bayes import published
    from imr_bayes.outcomes import get, unknown_choice_message

    if estimand not in PUBLISHED_ESTIMANDS:
        raise ImrBayesError(unknown_choice_message("estimand", estimand, PUBLISHED_ESTIMANDS))
    z = _z(level)
    horizon = SLOPE_HORIZON if estimand == "condition_x_time" else 1.0
    if estimand == "condition_x_time":
        fe = published.fixed_effects(sample)
        fe = fe[fe["term"] == "condition_x_time"]
        src = pd.DataFrame({"outcome": fe["outcome"], "b": fe["b"], "ci_low": fe["ci_low"],
                            "ci_high": fe["ci_high"], "p": fe["p"],
                            "has": fe["in_final_model"] & fe["b"].notna()})
        empty = ("no printed condition x time estimate (term not in the paper's final model, "
                 "footnote b); excluded from pooling")
    else:
        mm = published.marginal_means(sample)
        mm = mm[(mm["arm"] == "imr") & (mm["time"] == 2)]
        se = (mm["diff_ci_high"] - mm["diff_ci_low"]) / (2 * z)
        src = pd.DataFrame({"outcome": mm["outcome"], "b": mm["diff"],
                            "ci_low": mm["diff_ci_low"], "ci_high": mm["diff_ci_high"],
                            "p": 2 * special.ndtr(-np.abs(mm["diff"] / se)),
                            "has": mm["diff"].notna()})
        empty = "no printed 18-month mean difference; excluded from pooling"
    rows = []
    for r in src.itertuples():
        sd = get(r.outcome).pooled_baseline_sd()
        has = bool(r.has)
        se_b = (r.ci_high - r.ci_low) / (2 * z) if has else math.nan
        rows.append({
            "outcome": r.outcome, "estimate_d": horizon * r.b / sd if has else math.nan,
            "se_d": horizon * se_b / sd if has else math.nan, "b": r.b, "ci_low": r.ci_low,
            "ci_high": r.ci_high, "p": r.p, "sd": sd, "included": has,
            "note": "" if has else empty,
        })
    return pd.DataFrame(rows)


def effects_from_fits(effects: pd.DataFrame, *, estimand: str = "condition_x_time_d",
                      horizon: float = SLOPE_HORIZON) -> pd.DataFrame:
    """Turn participant-level fit summaries into the pooling input.

    Parameters
    ----------
    effects : pandas.DataFrame
        Rows of ``BayesianFit.estimates.table`` of several outcomes (concatenated), with
        columns ``outcome, estimand, estimate, sd`` (or the deprecated ``effects`` layout
        with ``mean`` in place of ``estimate``).
    estimand : str, default "condition_x_time_d"
        The standardized estimand (in pooled Table 1 baseline SDs).
    horizon : float, default 2
        Steps from the estimand's unit to the 18-month contrast: 2 for the per-step
        ``condition_x_time_d``, 1 for a contrast at one time point.

    Returns
    -------
    pandas.DataFrame
        ``outcome, estimate_d, se_d``: ``horizon`` times the posterior mean and SD, i.e. a
        normal approximation of each outcome's posterior of d under its own prior.
    """
    value = "estimate" if "estimate" in effects.columns else "mean"
    missing = {"outcome", "estimand", value, "sd"} - set(effects.columns)
    if missing:
        raise ImrBayesError(f"effects frame lacks column(s) {sorted(missing)}")
    rows = effects[effects["estimand"] == estimand]
    if rows.empty:
        found = sorted(set(effects["estimand"].astype(str)))
        raise ImrBayesError(f"no rows with estimand {estimand!r}; found {found}")
    if rows["outcome"].duplicated().any():
        raise ImrBayesError("effects frame has several rows per outcome for " + estimand)
    if not (math.isfinite(horizon) and horizon > 0):
        raise ImrBayesError(f"horizon must be a finite value > 0; got {horizon!r}")
    return pd.DataFrame({"outcome": rows["outcome"].to_numpy(),
                         "estimate_d": horizon * rows[value].to_numpy(dtype=float),
                         "se_d": horizon * rows["sd"].to_numpy(dtype=float)})


@dataclass(frozen=True)
class PartialPoolingResult:
    """Result of :func:`partial_pooling`.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per pooled outcome (:data:`TABLE_COLUMNS`). ``benefit_d`` is the input
        oriented so that positive = benefit; ``post_*``, ``eti95_*`` describe theta_k on that
        oriented scale; ``p_benefit = P(theta_k > 0)``; ``p_benefit_unpooled`` the same from
        the outcome's own normal likelihood; ``shrinkage`` =
        ``1 - (post_mean - mu_mean) / (benefit_d - mu_mean)`` (0 none, 1 full).
    hyper : pandas.DataFrame
        Posterior of ``mu`` and ``tau``: ``parameter, mean, sd, eti95_low, eti95_high``
        (and ``p_benefit`` for mu).
    diagnostics : imr_bayes.diagnostics.Diagnostics
        Against the thresholds of ``models/methods/pooling.yaml``.
    idata : xarray.DataTree
        Posterior and sample stats, with the provenance attrs of every fit.
    excluded : pandas.DataFrame
        Outcomes without an estimate (``outcome, note``).
    """

    table: pd.DataFrame
    hyper: pd.DataFrame
    diagnostics: Any
    idata: Any
    excluded: pd.DataFrame


def prepare_effects(effects: pd.DataFrame, *, oriented: bool = False
                    ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Validate the pooling input and orient it so that positive = benefit.

    Returns
    -------
    (data, excluded)
        ``data``: ``outcome, estimate_d, se_d, benefit_d`` of the usable rows;
        ``excluded``: ``outcome, note`` of rows without a finite estimate (or
        ``included=False``). See :func:`partial_pooling` for ``oriented``.
    """
    missing = {"outcome", "estimate_d", "se_d"} - set(effects.columns)
    if missing:
        raise ImrBayesError(f"effects frame lacks column(s) {sorted(missing)}; "
                            "expected outcome, estimate_d, se_d")
    if effects["outcome"].duplicated().any():
        dup = sorted(set(effects.loc[effects["outcome"].duplicated(), "outcome"]))
        raise ImrBayesError(f"duplicated outcome(s) {dup}")
    est = effects["estimate_d"].astype(float)
    se = effects["se_d"].astype(float)
    usable = np.isfinite(est) & np.isfinite(se)
    if "included" in effects.columns:
        usable &= effects["included"].astype(bool)
    note = effects["note"] if "note" in effects.columns else pd.Series("", index=effects.index)
    excluded = pd.DataFrame({
        "outcome": effects.loc[~usable, "outcome"].to_numpy(),
        "note": [n or "no estimate; excluded from pooling" for n in note[~usable]],
    })
    data = effects.loc[usable, ["outcome", "estimate_d", "se_d"]].reset_index(drop=True)
    if (data["se_d"] <= 0).any():
        bad = list(data.loc[data["se_d"] <= 0, "outcome"])
        raise ImrBayesError(f"se_d must be > 0; not so for {bad}")
    if len(data) < 2:
        raise ImrBayesError(f"partial pooling needs at least 2 outcomes with an estimate; "
                            f"got {len(data)}")
    if oriented:
        sign = np.ones(len(data))
    else:
        from imr_bayes.outcomes import get

        sign = np.array([get(code).direction for code in data["outcome"]], dtype=float)
    data["benefit_d"] = data["estimate_d"] * sign
    return data, excluded


def build_model(benefit_d: np.ndarray, se_d: np.ndarray, outcomes: list[str], *,
                mu_prior_sd: float, tau_prior_sd: float) -> Any:
    """Build the non-centred PyMC model (no sampling); see the module docstring.

    Data and prior scales are ``pm.Data`` (``benefit_d``, ``se_d``, ``mu_prior_sd``,
    ``tau_prior_sd``), so one compiled model serves every data set with as many outcomes.
    """
    import pymc as pm

    for name, value in {"mu_prior_sd": mu_prior_sd, "tau_prior_sd": tau_prior_sd}.items():
        if not (math.isfinite(value) and value > 0):
            raise ImrBayesError(f"{name} must be a finite value > 0; got {value!r}")
    with pm.Model(coords={"outcome": list(outcomes)}) as model:
        y = pm.Data("benefit_d", np.asarray(benefit_d, dtype=float), dims="outcome")
        se = pm.Data("se_d", np.asarray(se_d, dtype=float), dims="outcome")
        mu_sd = pm.Data("mu_prior_sd", float(mu_prior_sd))
        tau_sd = pm.Data("tau_prior_sd", float(tau_prior_sd))
        mu = pm.Normal("mu", 0.0, mu_sd)
        tau = pm.HalfNormal("tau", tau_sd)
        z = pm.Normal("z", 0.0, 1.0, dims="outcome")
        theta = pm.Deterministic("theta", mu + tau * z, dims="outcome")
        pm.Normal("y", theta, se, observed=y, dims="outcome")
    return model


def pooling_spec():
    """Return the spec of the partial-pooling model (``models/methods/pooling.yaml``)."""
    from imr_bayes.spec import load_spec

    return load_spec("pooling", folder="methods")


def _prior_sd(spec, name: str) -> float:
    return float(spec.priors[name].kwargs["sigma"])


def partial_pooling(
    effects: pd.DataFrame,
    *,
    oriented: bool = False,
    mu_prior_sd: float | None = None,
    tau_prior_sd: float | None = None,
    seed: int = DEFAULT_SEED,
    draws: int | None = None,
    tune: int | None = None,
    chains: int | None = None,
    cores: int | None = None,
    target_accept: float | None = None,
) -> PartialPoolingResult:
    """Fit the hierarchical (partial pooling) model of standardized effects across outcomes.

    Parameters
    ----------
    effects : pandas.DataFrame
        ``outcome, estimate_d, se_d`` (optional ``included`` and ``note``); rows without a
        finite estimate are excluded and listed in ``excluded``.
    oriented : bool, default False
        False: ``outcome`` holds codes of :mod:`imr_bayes.outcomes` and lower-is-better
        outcomes are sign flipped so that positive = benefit. True: the estimates are already
        oriented (any outcome labels).
    mu_prior_sd, tau_prior_sd : float, optional
        Prior scales: ``mu ~ N(0, mu_prior_sd)``, ``tau ~ HalfNormal(tau_prior_sd)``
        (default: the spec's, 0.5 and 0.25).
    seed : int
        Same seed, same draws.
    draws, tune, chains, cores, target_accept : optional
        Override the spec's sampler settings (its ``target_accept`` 0.95: with few outcomes
        tau's posterior reaches 0, where even the non-centred funnel needs small steps).

    Returns
    -------
    PartialPoolingResult
    """
    import xarray as xr

    from imr_bayes.bayes import engine
    from imr_bayes.diagnostics import diagnose
    from imr_bayes.provenance import data_sha256

    spec = pooling_spec()
    sampler = {k: v for k, v in (("draws", draws), ("tune", tune), ("chains", chains),
                                 ("cores", cores), ("target_accept", target_accept))
               if v is not None}
    if sampler:
        spec = spec.with_overrides(**sampler)
    mu_sd = _prior_sd(spec, "mu") if mu_prior_sd is None else mu_prior_sd
    tau_sd = _prior_sd(spec, "tau") if tau_prior_sd is None else tau_prior_sd
    data, excluded = prepare_effects(effects, oriented=oriented)
    outcomes = list(data["outcome"])
    for name, value in {"mu_prior_sd": mu_sd, "tau_prior_sd": tau_sd}.items():
        if not (math.isfinite(value) and value > 0):
            raise ImrBayesError(f"{name} must be a finite value > 0; got {value!r}")
    n = len(outcomes)
    ones = np.ones(n)
    compiled = engine.compiled(
        {"kind": "pooling", "outcomes": n},
        lambda: build_model(0 * ones, ones, [str(i) for i in range(n)], mu_prior_sd=mu_sd,
                            tau_prior_sd=tau_sd),
        spec.sampler).with_data({
            "benefit_d": data["benefit_d"].to_numpy(dtype=float),
            "se_d": data["se_d"].to_numpy(dtype=float),
            "mu_prior_sd": np.asarray(float(mu_sd)), "tau_prior_sd": np.asarray(float(tau_sd))})
    posterior, stats = engine.sample(compiled, spec.sampler, seed)
    posterior = posterior.assign_coords(outcome=outcomes) if "outcome" in posterior.dims \
        else posterior
    idata = xr.DataTree.from_dict({"posterior": posterior, "sample_stats": stats})
    priors = {"mu": {"dist": "Normal", "kwargs": {"mu": 0.0, "sigma": mu_sd}},
              "tau": {"dist": "HalfNormal", "kwargs": {"sigma": tau_sd}}}
    idata.attrs.update({"analysis": "pooling", "outcomes": ",".join(outcomes),
                        **engine.provenance(spec, seed=seed, data_hash=data_sha256(data),
                                            priors=priors)})
    post = idata["posterior"]
    theta = post["theta"]
    low, high = eti(theta, CI_LEVEL)
    mu_mean = float(post["mu"].mean())
    table = data.assign(
        post_mean=theta.mean(("chain", "draw")).values,
        post_sd=theta.std(("chain", "draw")).values,
        eti95_low=low.values, eti95_high=high.values,
        p_benefit=p_benefit(theta, "higher").values,
        p_direction=p_direction(theta).values,
        p_benefit_unpooled=special.ndtr(data["benefit_d"] / data["se_d"]),
    )
    table["shrinkage"] = 1 - (table["post_mean"] - mu_mean) / (table["benefit_d"] - mu_mean)
    hyper_rows = []
    for name in ("mu", "tau"):
        lo, hi = eti(post[name], CI_LEVEL)
        hyper_rows.append({
            "parameter": name, "mean": float(post[name].mean()), "sd": float(post[name].std()),
            "eti95_low": float(lo), "eti95_high": float(hi),
            "p_benefit": float(p_benefit(post[name], "higher")) if name == "mu" else math.nan,
        })
    return PartialPoolingResult(
        table=table[list(TABLE_COLUMNS)], hyper=pd.DataFrame(hyper_rows),
        diagnostics=diagnose(idata, ["mu", "tau", "z"], spec.diagnostics), idata=idata,
        excluded=excluded,
    )


def compare_with_bh(
    result: PartialPoolingResult,
    pvalues: Mapping[str, float] | pd.Series,
    *,
    alpha: float = 0.05,
    family_size: int | None = None,
    pd_threshold: float | None = None,
) -> pd.DataFrame:
    """Set the partial-pooling conclusions beside Benjamini–Hochberg on the same outcomes.

    Parameters
    ----------
    result : PartialPoolingResult
    pvalues : mapping or Series
        Outcome -> frequentist p value of its effect, for every outcome of ``result.table``.
    alpha : float, default 0.05
        FDR level of BH and significance level of the raw p.
    family_size : int, optional
        Number of hypotheses in the BH family (default: the outcomes of ``result.table``).
        Hypotheses beyond those are entered with p = 1: for the published Table 2, the
        outcomes whose condition x time term the paper's AIC step dropped (no evidence of an
        interaction), so ``family_size=12`` gives the BH adjustment over all 12 outcomes.
    pd_threshold : float, optional
        Pooled detection: P(benefit) or P(harm) >= ``pd_threshold`` (default 1 - alpha/2).

    Returns
    -------
    pandas.DataFrame
        ``outcome, p, p_bh, raw_detect, bh_detect, p_benefit_unpooled, p_benefit_pooled,
        pooled_detect, conclusion`` where ``conclusion`` reads e.g. "BH null, pooled detect".
        ``bh_detect`` is statsmodels' BH rejection (``p_(i) <= alpha * i / m``).
    """
    from statsmodels.stats.multitest import multipletests

    p_map = dict(pvalues)
    table = result.table
    missing = [o for o in table["outcome"] if o not in p_map or not math.isfinite(p_map[o])]
    if missing:
        raise ImrBayesError(f"no finite p value for outcome(s) {missing}")
    if not 0 < alpha < 1:
        raise ImrBayesError(f"alpha should be in (0, 1) but got {alpha!r}")
    threshold = 1 - alpha / 2 if pd_threshold is None else float(pd_threshold)
    p = np.array([p_map[o] for o in table["outcome"]], dtype=float)
    if np.any((p < 0) | (p > 1)):
        raise ImrBayesError(f"p values should be in [0, 1]; got {p.tolist()}")
    m = len(p) if family_size is None else int(family_size)
    if m < len(p):
        raise ImrBayesError(f"family_size {m} is smaller than the {len(p)} outcomes compared")
    padded = np.concatenate([p, np.ones(m - len(p))])
    reject, p_bh, _, _ = multipletests(padded, alpha=alpha, method="fdr_bh")
    out = pd.DataFrame({
        "outcome": table["outcome"], "p": p, "p_bh": p_bh[: len(p)], "raw_detect": p < alpha,
        "bh_detect": reject[: len(p)], "p_benefit_unpooled": table["p_benefit_unpooled"],
        "p_benefit_pooled": table["p_benefit"],
        "pooled_detect": table["p_direction"] >= threshold,
    })
    word = {True: "detect", False: "null"}
    out["conclusion"] = [f"BH {word[bool(b)]}, pooled {word[bool(q)]}"
                         for b, q in zip(out["bh_detect"], out["pooled_detect"], strict=True)]
    return out.reset_index(drop=True)


def plot_pooling(result: PartialPoolingResult, *, title: str | None = None, ax: Any = None
                 ) -> Any:
    """Draw no-pooling estimates beside their partial-pooling posteriors; return the figure.

    Each outcome gets its input estimate with a 95 % normal interval (grey) and its
    posterior mean with the 95 % ETI (blue); the dashed line is the posterior mean of mu.
    The scale is the benefit-oriented standardized effect. The figure is never shown.
    """
    import matplotlib.pyplot as plt

    table = result.table
    if ax is None:
        fig, ax = plt.subplots(figsize=(6.4, 0.45 * len(table) + 2.0))
    else:
        fig = ax.figure
    y = np.arange(len(table))[::-1]
    z = _z(CI_LEVEL)
    ax.errorbar(table["benefit_d"], y + 0.15, xerr=z * table["se_d"], fmt="o", color="0.55",
                label="no pooling (estimate, 95 % CI)")
    ax.errorbar(table["post_mean"], y - 0.15,
                xerr=[table["post_mean"] - table["eti95_low"],
                      table["eti95_high"] - table["post_mean"]],
                fmt="o", color="tab:blue", label="partial pooling (mean, 95 % ETI)")
    mu = float(result.hyper.set_index("parameter").loc["mu", "mean"])
    ax.axvline(mu, color="tab:blue", linestyle="--", linewidth=0.8, label="posterior mean of mu")
    ax.axvline(0.0, color="k", linewidth=0.6)
    ax.set_yticks(y, table["outcome"])
    ax.set_xlabel("standardized effect, positive = benefit (baseline SD units)")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=2, fontsize=8)
    ax.set_title(title or "Partial pooling across outcomes")
    return fig
