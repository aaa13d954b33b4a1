"""The comparison table: posterior vs reproduced frequentist vs published, per effect.

:func:`compare` joins three :class:`imr_bayes.estimates.Estimates` on (analysis, outcome,
estimand, arm, time): each fit's posterior estimates, their printed counterparts and their
frequentist replication on the same data (both found through the analysis spec's published
map, :mod:`imr_bayes.counterparts`). One row per treatment estimand of each fit (the
estimands the spec marks ``treatment``; baseline rows never): the published estimate with its
CI, p and significance; the reproduced frequentist estimate; the posterior mean, median and
95 % ETI; pd, P(benefit), P(|d| > 0.2), the ROPE share, the Savage-Dickey BF10 under the
fit's prior and under the test prior N(0, planned effect^2) (:mod:`imr_bayes.indices`); the
agreement class; the Benjamini-Hochberg-adjusted frequentist
conclusion beside the partial-pooling conclusion (:mod:`imr_bayes.multiplicity`).
:func:`write_comparison` writes it as CSV, HTML and Markdown. Columns and rules:
``docs/comparison.md``.
"""

from __future__ import annotations

import json
import math
import os
import warnings
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from imr_bayes import indices
from imr_bayes import outcomes as outcome_registry
from imr_bayes.constants import CI_LEVEL
from imr_bayes.errors import ImrBayesError
from imr_bayes.estimates import KEY, Estimates

#: Columns of :func:`compare`, in order.
COLUMNS: tuple[str, ...] = (
    "analysis", "outcome", "estimand", "arm", "time", "scale", "label",
    "published_reference", "published_estimate", "published_ci_low", "published_ci_high",
    "published_p", "published_significant", "published_note",
    "frequentist_estimate", "frequentist_ci_low", "frequentist_ci_high", "frequentist_p",
    "frequentist_significant",
    "posterior_estimate", "posterior_median", "posterior_ci_low", "posterior_ci_high",
    "posterior_d", "p_direction", "p_benefit", "p_abs_d_gt_0_2", "p_rope", "rope_low",
    "rope_high", "bf10", "prior", "bf10_test", "test_prior",
    "agreement", "agreement_published",
    "p_bh", "bh_detect", "pooled_p_benefit", "pooled_detect", "multiplicity_conclusion",
)
_SIDE = ("estimate", "ci_low", "ci_high", "p", "note", "reference")


def _dropped(side: Mapping[str, Any]) -> bool:
    from imr_bayes.counterparts import DROPPED

    note = side.get("note")
    return isinstance(note, str) and note == DROPPED


def _significant(side: Mapping[str, Any], alpha: float) -> Any:
    """Frequentist detection as in ``indices.agreement_class`` (p, else CI); NA if unknown.

    A term the paper's AIC step dropped counts as not detected.
    """
    if _dropped(side):
        return False
    p, lo, hi = (_num(side.get(k)) for k in ("p", "ci_low", "ci_high"))
    null = side.get("_null", 0.0)
    if np.isfinite(p):
        return bool(p < alpha)
    if np.isfinite(lo) and np.isfinite(hi):
        return bool(lo > null or hi < null)
    return pd.NA


def _num(value: Any) -> float:
    return float(value) if value is not None and not pd.isna(value) else math.nan


def _agreement(side: Mapping[str, Any], eti: tuple[float, float], pd_: float,
               center: float, alpha: float, log: bool) -> Any:
    if _dropped(side):  # the paper's conclusion is "no interaction", sign not printed
        return "bayesian_only" if pd_ >= 1 - alpha / 2 else "both_null"
    lo, hi, est, p = (_num(side.get(k)) for k in ("ci_low", "ci_high", "estimate", "p"))
    if not (np.isfinite(lo) and np.isfinite(hi)):
        return pd.NA
    if log:  # ratios: compare on the log scale, where no effect is 0
        lo, hi, est = np.log(lo), np.log(hi), np.log(est)
        eti, center = (np.log(eti[0]), np.log(eti[1])), np.log(center)
    return indices.agreement_class((lo, hi), p if np.isfinite(p) else None, eti, pd_,
                                   alpha=alpha, freq_estimate=est if np.isfinite(est) else None,
                                   posterior_center=center)


def _posterior_row(fit: Any, row: Mapping[str, Any], draws: np.ndarray, rope_d: float
                   ) -> dict[str, Any]:
    """Posterior indices of one treatment estimand (d-based ones for outcome-scale effects)."""
    e = fit.spec.estimand(str(row["estimand"]))
    out = {"posterior_estimate": row["estimate"], "posterior_median": row["median"],
           "posterior_ci_low": row["ci_low"], "posterior_ci_high": row["ci_high"],
           "p_direction": row["p_direction"], "p_benefit": row["p_benefit"],
           "posterior_d": math.nan, "p_abs_d_gt_0_2": math.nan, "p_rope": math.nan,
           "rope_low": math.nan, "rope_high": math.nan, "bf10": math.nan, "prior": "",
           "bf10_test": math.nan, "test_prior": ""}
    outcome = str(fit.outcome)
    if e.scale != "raw" or outcome not in outcome_registry.OUTCOMES:
        return out
    scale = outcome_registry.get(outcome).pooled_baseline_sd()
    std = standardized(fit, row, draws, scale)
    d = e.d_horizon * std
    rope = rope_d / e.d_horizon * scale  # the ROPE on the raw scale of the estimand
    out.update({"posterior_d": float(np.mean(d)),
                "p_abs_d_gt_0_2": float(indices.p_abs_gt(d, indices.CLINICALLY_IMPORTANT_D)),
                "p_rope": float(indices.rope_share(d, -rope_d, rope_d)),
                "rope_low": -rope, "rope_high": rope})
    priors = json.loads(fit.idata.attrs.get("priors", "{}") or "{}")
    prior = priors.get(e.prior) if e.prior else None
    if prior is not None:
        from imr_bayes.constants import PLANNED_EFFECT_D

        test = indices.alternative_prior(horizon=e.d_horizon)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # inf is reported as inf
            out["bf10"] = float(indices.savage_dickey_bf10(std, prior))
            out["bf10_test"] = float(indices.reweighted_bf10(std, prior, test))
        out["prior"] = indices.describe_prior(prior, scale="standardized scale")
        out["test_prior"] = indices.describe_prior(
            test, scale=f"standardized scale (test prior: planned d = "
                        f"{PLANNED_EFFECT_D:g} at 18 months)")
    return out


def standardized(fit: Any, row: Mapping[str, Any], draws: np.ndarray, scale: float
                 ) -> np.ndarray:
    """Draws of an outcome-scale estimand in pooled baseline SDs.

    The fit's own ``<estimand>_d`` draws where it reports them (the model's standardized
    parameter), else ``draws / scale``.
    """
    name = f"{row['estimand']}_d"
    t = fit.estimates.table
    hit = t[(t["estimand"] == name) & (t["time"].isna() if pd.isna(row["time"])
                                       else t["time"].eq(row["time"]).fillna(False))]
    if len(hit) == 1:
        return fit.estimates.draws_of(hit.iloc[0])
    return draws / scale


def _side(table: pd.DataFrame, key: tuple, prefix: str) -> dict[str, Any]:
    if table.empty:
        return {}
    mask = pd.Series(True, index=table.index)
    for col, value in zip(KEY, key, strict=True):
        mask &= table[col].isna() if value is None else table[col].eq(value).fillna(False)
    hit = table[mask]
    if hit.empty:
        return {}
    r = hit.iloc[0]
    return {k: r[k] for k in _SIDE} | {"_prefix": prefix}


def compare(fits: Iterable[Any], frequentist: Any = None, published: bool | Estimates = True,
            *, alpha: float = 0.05, rope_d: float = indices.ROPE_D,
            pooling: bool | Mapping[str, Any] = True, seed: int | None = None
            ) -> pd.DataFrame:
    """Set posterior, reproduced frequentist and published results side by side.

    Parameters
    ----------
    fits : iterable of BayesianFit
        Fits of any analyses, one per analysis x outcome. Their specs say which estimands
        are treatment effects and where each was printed.
    frequentist : FrequentistResults or Estimates, optional
        The frequentist replication on the same data
        (:func:`imr_bayes.counterparts.run_frequentist`), or its estimates.
    published : bool or Estimates, default True
        True: the paper's printed counterparts (:mod:`imr_bayes.published`); False: none;
        or published estimates to use instead.
    alpha : float, default 0.05
        Significance level of the frequentist side; the Bayesian side detects at
        pd >= 1 - alpha / 2 (``docs/indices.md``).
    rope_d : float, default ``indices.ROPE_D`` (0.1)
        Half-width of the ROPE in baseline SDs of the 18-month effect.
    pooling : bool or mapping, default True
        Fit the partial-pooling model (``imr_bayes.multiplicity.partial_pooling``) of the
        standardized condition x time effects of each analysis with >= 2 outcomes; a
        mapping passes sampler settings (``draws``, ``tune``, ``chains``). False skips it.
    seed : int, optional
        Seed of the pooling fit (default: the first fit's seed).

    Returns
    -------
    pandas.DataFrame
        :data:`COLUMNS`; see ``docs/comparison.md``.
    """
    from imr_bayes import counterparts

    fits = list(fits)
    if not fits:
        raise ImrBayesError("compare needs at least one Bayesian fit")
    if not 0 < alpha < 1:
        raise ImrBayesError(f"alpha should be in (0, 1) but got {alpha!r}")
    if not (math.isfinite(rope_d) and rope_d > 0):
        raise ImrBayesError(f"rope_d must be a finite value > 0; got {rope_d!r}")
    rows = []
    for fit in fits:
        spec, outcome = fit.spec, str(fit.outcome)
        if isinstance(published, Estimates):
            pub = published
        elif published:
            pub = counterparts.published_estimates(spec, outcome)
        else:
            pub = Estimates.empty()
        freq = (frequentist if isinstance(frequentist, Estimates)
                else counterparts.frequentist_estimates(frequentist, spec, outcome))
        treatment = {e.name for e in spec.estimands if e.treatment}
        post = fit.estimates
        for row in post.table.to_dict("records"):
            if row["estimand"] not in treatment or row["time"] == 0:
                continue
            key = tuple(None if pd.isna(row[k]) else row[k] for k in KEY)
            e = spec.estimand(str(row["estimand"]))
            ps = _side(pub.table, key, "published")
            fs = _side(freq.table, key, "frequentist")
            for side in (ps, fs):
                if side:
                    side["_null"] = e.no_effect
            draws = post.draws_of(row)
            info = _posterior_row(fit, row, draws, rope_d)
            eti = (info["posterior_ci_low"], info["posterior_ci_high"])
            log = e.scale == "ratio"
            rows.append({
                "analysis": row["analysis"], "outcome": outcome, "estimand": row["estimand"],
                "arm": row["arm"], "time": row["time"], "scale": e.scale,
                "label": row["label"],
                **{f"published_{k}": ps.get(k, math.nan if k not in ("note", "reference")
                                             else pd.NA)
                   for k in ("reference", "estimate", "ci_low", "ci_high", "p", "note")},
                "published_significant": _significant(ps, alpha) if ps else pd.NA,
                **{f"frequentist_{k}": fs.get(k, math.nan)
                   for k in ("estimate", "ci_low", "ci_high", "p")},
                "frequentist_significant": _significant(fs, alpha) if fs else pd.NA,
                **info,
                "agreement": (_agreement(fs, eti, info["p_direction"],
                                         info["posterior_estimate"], alpha, log)
                              if fs else pd.NA),
                "agreement_published": (_agreement(ps, eti, info["p_direction"],
                                                   info["posterior_estimate"], alpha, log)
                                        if ps else pd.NA),
            })
    table = pd.DataFrame(rows)
    table = _add_multiplicity(table, fits, frequentist, alpha, pooling, seed)
    table["time"] = table["time"].astype("Int64")
    return table.reindex(columns=list(COLUMNS))


def _pooling(fits: list[Any], seed: int, settings: Mapping[str, Any]) -> pd.DataFrame:
    """Partial pooling of the standardized condition x time effects per analysis."""
    from imr_bayes import multiplicity

    frames = []
    for analysis in dict.fromkeys(str(f.analysis) for f in fits):
        effects = []
        for f in fits:
            t = f.estimates.table
            if str(f.analysis) != analysis or not (t["estimand"] == "condition_x_time").any():
                continue
            row = f.estimates.row("condition_x_time")
            d = f.spec.estimand("condition_x_time").d_horizon * standardized(
                f, row, f.estimates.draws_of(row),
                outcome_registry.get(str(f.outcome)).pooled_baseline_sd())
            effects.append({"outcome": f.outcome, "estimate_d": float(np.mean(d)),
                            "se_d": float(np.std(d, ddof=1))})
        if len({e["outcome"] for e in effects}) < 2:
            continue
        if len({e["outcome"] for e in effects}) != len(effects):
            raise ImrBayesError(f"analysis {analysis!r} has several fits of one outcome")
        res = multiplicity.partial_pooling(pd.DataFrame(effects), seed=seed, **settings)
        t = res.table
        frames.append(pd.DataFrame({
            "analysis": analysis, "outcome": t["outcome"], "estimand": "condition_x_time",
            "pooled_p_benefit": t["p_benefit"],
            "pooled_detect": t["p_direction"] >= 1 - 0.05 / 2}))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(
        columns=["analysis", "outcome", "estimand", "pooled_p_benefit", "pooled_detect"])


def _add_multiplicity(table: pd.DataFrame, fits: list[Any], frequentist: Any, alpha: float,
                      pooling: bool | Mapping[str, Any], seed: int | None) -> pd.DataFrame:
    from imr_bayes.counterparts import FrequentistResults, benjamini_hochberg

    key = ["analysis", "outcome", "estimand"]
    if table.empty:
        return table
    if isinstance(frequentist, FrequentistResults):
        specs = {str(f.analysis): f.spec for f in fits}
        bh = pd.concat([benjamini_hochberg(frequentist, s) for s in specs.values()],
                       ignore_index=True)
        if len(bh):
            bh["bh_detect"] = bh["p_bh"] < alpha
            table = table.merge(bh, on=key, how="left")
    if pooling:
        settings = dict(pooling) if isinstance(pooling, Mapping) else {}
        s = int(fits[0].idata.attrs.get("seed", 0)) if seed is None else int(seed)
        table = table.merge(_pooling(fits, s, settings), on=key, how="left")
    for col in ("p_bh", "bh_detect", "pooled_p_benefit", "pooled_detect"):
        if col not in table.columns:
            table[col] = pd.NA
    word = {True: "detect", False: "null"}
    table["multiplicity_conclusion"] = [
        f"BH {word[bool(b)]}, pooled {word[bool(q)]}" if not (pd.isna(b) or pd.isna(q))
        else (f"pooled {word[bool(q)]}" if not pd.isna(q) else pd.NA)
        for b, q in zip(table["bh_detect"], table["pooled_detect"], strict=True)]
    return table


# ----------------------------------------------------------------------------------- output
#: Columns of the rendered (HTML / Markdown) table; the CSV keeps every column.
RENDERED: tuple[str, ...] = (
    "analysis", "outcome", "estimand", "time", "published_estimate", "published_ci_low",
    "published_ci_high", "published_p", "frequentist_estimate", "frequentist_p",
    "posterior_estimate", "posterior_ci_low", "posterior_ci_high", "p_direction", "p_benefit",
    "p_abs_d_gt_0_2", "p_rope", "bf10", "agreement", "multiplicity_conclusion",
)


def _fmt(value: Any) -> str:
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return ""
    if isinstance(value, bool | np.bool_):
        return "yes" if value else "no"
    if isinstance(value, float | np.floating):
        v = float(value)
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return f"{v:.3g}" if abs(v) < 1000 else f"{v:.0f}"
    return str(value)


def to_markdown(table: pd.DataFrame, columns: Iterable[str] = RENDERED) -> str:
    """Render the table as GitHub Markdown (3 significant digits)."""
    cols = [c for c in columns if c in table.columns]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for _, r in table[cols].iterrows():
        lines.append("| " + " | ".join(_fmt(r[c]).replace("|", "/") for c in cols) + " |")
    return "\n".join(lines) + "\n"


def to_html(table: pd.DataFrame, columns: Iterable[str] = RENDERED) -> str:
    """Render the table as a standalone HTML page (pandas Styler; agreement classes coloured)."""
    cols = [c for c in columns if c in table.columns]
    colours = {"both_detect": "#d8ecd3", "both_null": "#eeeeee",
               "frequentist_only": "#fbe3c0", "bayesian_only": "#d6e4f2",
               "opposite_sign": "#f4c7c7"}
    styler = (table[cols].style.format(_fmt).hide(axis="index")
              .map(lambda v: f"background-color: {colours[v]}" if v in colours else "",
                   subset=["agreement"] if "agreement" in cols else []))
    body = styler.to_html()
    return ("<!DOCTYPE html>\n<html><head><meta charset='utf-8'><title>imr_bayes comparison"
            "</title><style>table{border-collapse:collapse;font:12px sans-serif}"
            "td,th{border:1px solid #ccc;padding:2px 5px}</style></head><body>\n"
            "<h1>Posterior vs frequentist vs published</h1>\n"
            f"<p>95 % intervals (CI_LEVEL = {CI_LEVEL}); classes and ROPE: "
            "docs/comparison.md, docs/indices.md.</p>\n" + body + "\n</body></html>\n")


def write_comparison(table: pd.DataFrame, out_dir: str | os.PathLike[str], *,
                     stem: str = "comparison") -> dict[str, Path]:
    """Write ``<stem>.csv`` (all columns), ``<stem>.html`` and ``<stem>.md``, atomically.

    Returns
    -------
    dict
        ``{"csv": path, "html": path, "md": path}``.
    """
    from imr_bayes.atomic import atomic_path, write_text

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    csv = out / f"{stem}.csv"
    with atomic_path(csv) as tmp:
        table.to_csv(tmp, index=False)
    return {"csv": csv, "html": write_text(out / f"{stem}.html", to_html(table)),
            "md": write_text(out / f"{stem}.md", to_markdown(table))}

