"""The comparison table: posterior vs reproduced frequentist vs published, per effect.

:func:`compare` gives one row per analysis x outcome x estimand (treatment effects only):
the published B with its CI, p and significance; the frequentist estimate reproduced on
the same data; the posterior mean, median and 95 % ETI; pd, P(benefit), P(|d| > 0.2), the
ROPE share and the Savage–Dickey BF10 (``imr_bayes.indices``); the agreement class; the
Benjamini–Hochberg-adjusted frequentist conclusion beside the partial-pooling conclusion
(``imr_bayes.multiplicity``). :func:`write_comparison` writes it as CSV, HTML and Markdown.
Columns and rules: ``docs/comparison.md``.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from imr_bayes import indices
from imr_bayes import outcomes as outcome_registry
from imr_bayes.constants import CI_LEVEL
from imr_bayes.errors import ImrBayesError

#: Columns of :func:`compare`, in order.
COLUMNS: tuple[str, ...] = (
    "analysis", "outcome", "estimand", "time", "fit_estimand", "published_table",
    "published_b", "published_ci_low", "published_ci_high", "published_p",
    "published_significant", "published_note",
    "frequentist_b", "frequentist_ci_low", "frequentist_ci_high", "frequentist_p",
    "frequentist_significant",
    "post_mean", "post_median", "eti95_low", "eti95_high", "post_mean_d",
    "p_direction", "p_benefit", "p_abs_d_gt_0_2", "p_rope", "rope_low", "rope_high",
    "bf10", "prior",
    "agreement", "agreement_published",
    "p_bh", "bh_detect", "pooled_p_benefit", "pooled_detect", "multiplicity_conclusion",
)
#: Published Table 4/5 term of each fidelity subgroup-model term (``docs/comparison.md``).
FIDELITY_PUBLISHED_TERMS: dict[str, str] = {
    "high_x_t1": "high_x_post", "high_x_t2": "high_x_followup",
    "moderate_x_t1": "moderate_x_post", "moderate_x_t2": "moderate_x_followup",
}
#: Analyses compared with the ITT (Tables 2-3) or completer (Tables 6-7) numbers.
SAMPLE_OF_ANALYSIS: dict[str, str] = {
    "itt": "itt", "itt_categorical": "itt", "completers": "completers",
}
#: Prefix a registered analysis puts before its treatment estimands in ``fit.effects``.
ESTIMAND_PREFIX: dict[str, str] = {"completers": "pp_", "fidelity": "fidelity_"}
_TABLES = {"itt": ("Table 2", "Table 3"), "completers": ("Table 6", "Table 7")}


@dataclass(frozen=True)
class EffectDraws:
    """Posterior draws of one treatment effect of one fit.

    Attributes
    ----------
    estimand : str
        Canonical name (the model term, e.g. ``condition_x_time``, ``high_x_t1``,
        ``difference``); the ``analysis`` column says which analysis it belongs to.
    fit_estimand : str
        The name in ``fit.effects`` (e.g. ``pp_condition_x_time``).
    time : int or None
        Time point of a difference.
    raw : ndarray
        Draws on the outcome's scale.
    std : ndarray
        Draws in pooled baseline SDs (the priors' scale).
    horizon : int
        Time steps to the 18-month contrast: 2 for a linear slope, else 1; the
        standardized effect ``d`` of P(|d| > 0.2) and the ROPE is ``horizon * std``.
    prior : dict or None
        The prior of ``std`` ({dist, kwargs}) when the effect is a model parameter.
    scale : float
        Outcome units per standardized unit (the pooled baseline SD the fit used).
    """

    estimand: str
    fit_estimand: str
    time: int | None
    raw: np.ndarray
    std: np.ndarray
    horizon: int
    prior: dict[str, Any] | None
    scale: float


def _flat(da: Any) -> np.ndarray:
    return np.asarray(da.values, dtype=float).ravel()


def effect_draws(fit: Any) -> list[EffectDraws]:
    """Extract the treatment effects of a fit, generically by name.

    * every term of ``posterior.beta`` whose name contains ``_x_`` (condition x time, the
      categorical ``condition_x_time_1/_2``, fidelity ``high_x_t1``, ...), with
      ``beta_std`` as its standardized draws and its prior from the fit's ``priors`` attr;
    * IMR - CAU differences of the model-implied means at 12 and 18 months
      (``posterior.cell_mean``), standardized by the fit's scale;
    * any scalar posterior variable ``v`` with a ``v_std`` companion and ``_x_`` in its name
      (e.g. the CACE's ``cace_condition_x_time``).
    """
    post = fit.idata["posterior"]
    priors = json.loads(fit.idata.attrs.get("priors", "{}") or "{}")
    prefix = ESTIMAND_PREFIX.get(str(fit.analysis), "")
    const = fit.idata["constant_data"] if "constant_data" in fit.idata.children else None
    if const is not None and "scale" in const.data_vars:
        scale = float(const["scale"])
    else:
        scale = outcome_registry.get(str(fit.outcome)).pooled_baseline_sd()
    out: list[EffectDraws] = []
    if "beta" in post.data_vars and "beta_std" in post.data_vars:
        for term in [str(t) for t in post["beta"]["term"].values]:
            if "_x_" not in term:
                continue
            out.append(EffectDraws(
                estimand=term, fit_estimand=prefix + term, time=None,
                raw=_flat(post["beta"].sel(term=term)),
                std=_flat(post["beta_std"].sel(term=term)),
                horizon=2 if term.endswith("condition_x_time") else 1,
                prior=priors.get(term), scale=scale))
    if "cell_mean" in post.data_vars:
        cell = post["cell_mean"]
        for t in (1, 2):
            diff = _flat(cell.sel(arm="imr", time=t) - cell.sel(arm="cau", time=t))
            out.append(EffectDraws("difference", "difference", t, diff, diff / scale, 1, None,
                                   scale))
    for name in post.data_vars:
        name = str(name)
        if ("_x_" in name and f"{name}_std" in post.data_vars and post[name].ndim == 2
                and not any(e.estimand == name for e in out)):
            out.append(EffectDraws(name, name, None, _flat(post[name]),
                                   _flat(post[f"{name}_std"]),
                                   2 if name.endswith("condition_x_time") else 1,
                                   priors.get(name), scale))
    return out


def _get(source: Any, key: str) -> Any:
    """``source[key]`` for a mapping; for a single result, itself if its sample is ``key``."""
    if source is None:
        return None
    if isinstance(source, Mapping):
        return source.get(key)
    return source if getattr(source, "sample", None) == key else None


def _nan_row(**kw: Any) -> dict[str, Any]:
    base = {"b": math.nan, "ci_low": math.nan, "ci_high": math.nan, "p": math.nan,
            "table": "", "note": "", "dropped": False}
    base.update(kw)
    return base


def _published_row(published: Any, analysis: str, outcome: str, eff: EffectDraws
                   ) -> dict[str, Any]:
    sample = SAMPLE_OF_ANALYSIS.get(analysis)
    if sample is not None and eff.estimand == "condition_x_time":
        fe = published.fixed_effects(sample)
        r = fe[(fe["outcome"] == outcome) & (fe["term"] == "condition_x_time")]
        if r.empty:
            return _nan_row()
        r = r.iloc[0]
        if not bool(r["in_final_model"]):
            return _nan_row(table=_TABLES[sample][0], dropped=True,
                            note="term not in the paper's final model (AIC step)")
        return _nan_row(b=r["b"], ci_low=r["ci_low"], ci_high=r["ci_high"], p=r["p"],
                        table=_TABLES[sample][0])
    if sample is not None and eff.estimand == "difference":
        mm = published.marginal_means(sample)
        r = mm[(mm["outcome"] == outcome) & (mm["arm"] == "imr") & (mm["time"] == eff.time)]
        if r.empty:
            return _nan_row()
        r = r.iloc[0]
        return _nan_row(b=r["diff"], ci_low=r["diff_ci_low"], ci_high=r["diff_ci_high"],
                        table=_TABLES[sample][1], note="no p printed; CI decides")
    if analysis == "fidelity" and eff.estimand in FIDELITY_PUBLISHED_TERMS:
        try:
            fe = published.fidelity_effects(outcome)
        except ImrBayesError:
            return _nan_row(note="no published fidelity analysis of this outcome")
        r = fe[fe["term"] == FIDELITY_PUBLISHED_TERMS[eff.estimand]]
        if r.empty:
            return _nan_row()
        r = r.iloc[0]
        table = "Table 4" if outcome == "imrs_client" else "Table 5"
        return _nan_row(b=r["b"], ci_low=r["ci_low"], ci_high=r["ci_high"], p=r["p"],
                        table=table)
    return _nan_row()


def _frequentist_row(frequentist: Any, analysis: str, outcome: str, eff: EffectDraws
                     ) -> dict[str, Any]:
    sample = SAMPLE_OF_ANALYSIS.get(analysis)
    res = _get(frequentist, sample) if sample else None
    if res is not None and eff.estimand == "condition_x_time":
        e = res.effects
        r = e[(e["outcome"] == outcome) & (e["estimand"] == "condition_x_time")]
        if len(r):
            r = r.iloc[0]
            return _nan_row(b=r["estimate"], ci_low=r["ci_low"], ci_high=r["ci_high"],
                            p=r["p"])
    if res is not None and eff.estimand == "difference":
        mm = res.marginal_means
        r = mm[(mm["outcome"] == outcome) & (mm["arm"] == "imr") & (mm["time"] == eff.time)]
        if len(r):
            r = r.iloc[0]
            return _nan_row(b=r["diff"], ci_low=r["diff_ci_low"], ci_high=r["diff_ci_high"])
    if analysis == "fidelity" and eff.estimand in FIDELITY_PUBLISHED_TERMS:
        fid = _get(frequentist, f"fidelity_{outcome}")
        if fid is not None:
            c = fid.coefficients
            r = c[c["term"] == FIDELITY_PUBLISHED_TERMS[eff.estimand]]
            if len(r):
                r = r.iloc[0]
                return _nan_row(b=r["b"], ci_low=r["ci_low"], ci_high=r["ci_high"], p=r["p"])
    return _nan_row()


def _significant(side: dict[str, Any], alpha: float) -> Any:
    """Frequentist detection as in ``indices.agreement_class`` (p, else CI); NA if unknown.

    A term the paper's AIC step dropped counts as not detected.
    """
    if side["dropped"]:
        return False
    if np.isfinite(side["p"]):
        return bool(side["p"] < alpha)
    if np.isfinite(side["ci_low"]) and np.isfinite(side["ci_high"]):
        return bool(side["ci_low"] > 0 or side["ci_high"] < 0)
    return pd.NA


def _agreement(side: dict[str, Any], eti: tuple[float, float], pd_: float, center: float,
               alpha: float) -> Any:
    if side["dropped"]:  # the paper's conclusion is "no interaction", sign not printed
        return "bayesian_only" if pd_ >= 1 - alpha / 2 else "both_null"
    if not (np.isfinite(side["ci_low"]) and np.isfinite(side["ci_high"])):
        return pd.NA
    p = side["p"] if np.isfinite(side["p"]) else None
    est = side["b"] if np.isfinite(side["b"]) else None
    return indices.agreement_class((side["ci_low"], side["ci_high"]), p, eti, pd_,
                                   alpha=alpha, freq_estimate=est, posterior_center=center)


def _describe(prior: dict[str, Any] | None) -> str:
    if not prior:
        return ""
    args = ", ".join(f"{k}={v:g}" for k, v in prior.get("kwargs", {}).items())
    return f"{prior.get('dist')}({args}) on the standardized scale"


def _posterior_row(eff: EffectDraws, direction: int, rope_d: float) -> dict[str, Any]:
    lo, hi = indices.eti(eff.raw, CI_LEVEL)
    d = eff.horizon * eff.std
    rope = rope_d / eff.horizon * eff.scale  # the ROPE on the raw scale of the estimand
    bf = math.nan
    if eff.prior is not None:
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # inf is reported as inf
            bf = float(indices.savage_dickey_bf10(eff.std, eff.prior))
    return {
        "post_mean": float(np.mean(eff.raw)), "post_median": float(np.median(eff.raw)),
        "eti95_low": float(lo), "eti95_high": float(hi), "post_mean_d": float(np.mean(d)),
        "p_direction": float(indices.p_direction(eff.raw)),
        "p_benefit": float(indices.p_benefit(eff.raw, direction)),
        "p_abs_d_gt_0_2": float(indices.p_abs_gt(d, indices.CLINICALLY_IMPORTANT_D)),
        "p_rope": float(indices.rope_share(d, -rope_d, rope_d)),
        "rope_low": -rope, "rope_high": rope, "bf10": bf, "prior": _describe(eff.prior),
    }


def _pooling(fits: list[Any], seed: int, settings: Mapping[str, Any]
             ) -> pd.DataFrame:
    """Partial pooling of the standardized condition x time effects per analysis."""
    from imr_bayes import multiplicity

    frames = []
    for analysis in dict.fromkeys(str(f.analysis) for f in fits):
        sub = [f for f in fits if str(f.analysis) == analysis]
        effects = []
        for f in sub:
            e = next((x for x in effect_draws(f) if x.estimand == "condition_x_time"), None)
            if e is not None:
                effects.append({"outcome": f.outcome, "estimate_d": float(np.mean(e.std)),
                                "se_d": float(np.std(e.std, ddof=1))})
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


def compare(fits: Iterable[Any], frequentist: Any = None, published: Any = None, *,
            alpha: float = 0.05, rope_d: float = indices.ROPE_D,
            pooling: bool | Mapping[str, Any] = True, seed: int | None = None
            ) -> pd.DataFrame:
    """Set posterior, reproduced frequentist and published results side by side.

    Parameters
    ----------
    fits : iterable of BayesianFit
        Any registered analyses (``itt``, ``itt_categorical``, ``completers``,
        ``fidelity``, ``cace``, ...), one fit per analysis x outcome. Treatment effects are
        found by name (:func:`effect_draws`).
    frequentist : mapping or Replication, optional
        ``{"itt": Replication, "completers": Replication, "fidelity_<outcome>":
        FidelityResult}`` (the pipeline's store) or a single :class:`Replication`.
    published : module or object, optional
        Anything with ``fixed_effects(sample)``, ``marginal_means(sample)`` and
        ``fidelity_effects(outcome)`` (default :mod:`imr_bayes.published`).
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
    fits = list(fits)
    if not fits:
        raise ImrBayesError("compare needs at least one Bayesian fit")
    if not 0 < alpha < 1:
        raise ImrBayesError(f"alpha should be in (0, 1) but got {alpha!r}")
    if not (math.isfinite(rope_d) and rope_d > 0):
        raise ImrBayesError(f"rope_d must be a finite value > 0; got {rope_d!r}")
    if published is None:
        from imr_bayes import published as published_mod

        published = published_mod
    rows = []
    for fit in fits:
        analysis, outcome = str(fit.analysis), str(fit.outcome)
        direction = outcome_registry.get(outcome).direction
        for eff in effect_draws(fit):
            pub = _published_row(published, analysis, outcome, eff)
            freq = _frequentist_row(frequentist, analysis, outcome, eff)
            post = _posterior_row(eff, direction, rope_d)
            eti = (post["eti95_low"], post["eti95_high"])
            rows.append({
                "analysis": analysis, "outcome": outcome, "estimand": eff.estimand,
                "time": eff.time, "fit_estimand": eff.fit_estimand,
                "published_table": pub["table"], "published_b": pub["b"],
                "published_ci_low": pub["ci_low"], "published_ci_high": pub["ci_high"],
                "published_p": pub["p"], "published_significant": _significant(pub, alpha),
                "published_note": pub["note"],
                "frequentist_b": freq["b"], "frequentist_ci_low": freq["ci_low"],
                "frequentist_ci_high": freq["ci_high"], "frequentist_p": freq["p"],
                "frequentist_significant": _significant(freq, alpha),
                **post,
                "agreement": _agreement(freq, eti, post["p_direction"], post["post_mean"],
                                        alpha),
                "agreement_published": _agreement(pub, eti, post["p_direction"],
                                                  post["post_mean"], alpha),
            })
    table = pd.DataFrame(rows)
    table = _add_multiplicity(table, fits, frequentist, alpha, pooling, seed)
    table["time"] = table["time"].astype("Int64")
    return table.reindex(columns=list(COLUMNS))


def _add_multiplicity(table: pd.DataFrame, fits: list[Any], frequentist: Any, alpha: float,
                      pooling: bool | Mapping[str, Any], seed: int | None) -> pd.DataFrame:
    bh = []
    for sample in ("itt", "completers"):
        res = _get(frequentist, sample)
        if res is None or not len(getattr(res, "multiplicity", ())):
            continue
        m = res.multiplicity
        for analysis, s in SAMPLE_OF_ANALYSIS.items():
            if s == sample:
                bh.append(pd.DataFrame({
                    "analysis": analysis, "outcome": m["outcome"],
                    "estimand": "condition_x_time", "p_bh": m["p_bh"].astype(float),
                    "bh_detect": m["p_bh"].astype(float) < alpha}))
    key = ["analysis", "outcome", "estimand"]
    if bh:
        table = table.merge(pd.concat(bh, ignore_index=True), on=key, how="left")
    if pooling:
        settings = dict(pooling) if isinstance(pooling, Mapping) else {}
        s = int(fits[0].idata.attrs.get("seed", 0)) if seed is None else int(seed)
        pooled = _pooling(fits, s, settings)
        table = table.merge(pooled, on=key, how="left")
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
    "analysis", "outcome", "estimand", "time", "published_b", "published_ci_low",
    "published_ci_high", "published_p", "frequentist_b", "frequentist_p", "post_mean",
    "eti95_low", "eti95_high", "p_direction", "p_benefit", "p_abs_d_gt_0_2", "p_rope",
    "bf10", "agreement", "multiplicity_conclusion",
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

