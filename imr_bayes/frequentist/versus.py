"""Reproduced vs published, side by side (one long table per result)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from imr_bayes.errors import ImrBayesError
from imr_bayes.frequentist.fidelity import FidelityResult
from imr_bayes.frequentist.hospitalization import HospitalizationResult
from imr_bayes.frequentist.noncompletion import NoncompletionResult
from imr_bayes.frequentist.replication import TABLES, Replication
from imr_bayes.trial import facts

VERSUS_COLUMNS: tuple[str, ...] = (
    "table", "outcome", "cell", "quantity", "published", "published_ci_low",
    "published_ci_high", "reproduced", "reproduced_ci_low", "reproduced_ci_high",
    "difference", "inside_published_ci", "status", "note",
)


def _finish(rows: list[dict]) -> pd.DataFrame:
    out = pd.DataFrame(rows).reindex(columns=list(VERSUS_COLUMNS))
    out["difference"] = out["reproduced"] - out["published"]
    has_ci = out["published_ci_low"].notna() & out["published_ci_high"].notna()
    inside = (out["reproduced"] >= out["published_ci_low"]) & (
        out["reproduced"] <= out["published_ci_high"])
    out["inside_published_ci"] = inside.astype("boolean").where(has_ci, pd.NA)
    out["note"] = [n if isinstance(n, str) else "" for n in out["note"]]
    out.loc[~has_ci & (out["note"] == ""), "note"] = "no published CI"
    return out


def _replication_rows(result: Replication) -> list[dict]:
    from imr_bayes import published

    fixed_table, means_table = TABLES[result.sample]
    rows: list[dict] = []
    pub = published.fixed_effects(result.sample)
    pub = pub[pub["in_final_model"].astype(bool)]
    rep = result.fixed_effects.set_index(["outcome", "term"])
    for _, p in pub.iterrows():
        key = (p["outcome"], p["term"])
        rec = {"table": fixed_table, "outcome": p["outcome"], "cell": p["term"],
               "quantity": "b", "published": p["b"], "published_ci_low": p["ci_low"],
               "published_ci_high": p["ci_high"]}
        if key in rep.index:
            r = rep.loc[key]
            rec["status"] = r["status"]
            if bool(r["in_final_model"]):
                rec.update(reproduced=r["b"], reproduced_ci_low=r["ci_low"],
                           reproduced_ci_high=r["ci_high"])
            else:
                rec["note"] = "term not in the reproduced final model"
        else:
            rec["note"] = "outcome not reproduced"
        rows.append(rec)
    pm = published.marginal_means(result.sample)
    rm = result.marginal_means.set_index(["outcome", "arm", "time"])
    for _, p in pm.iterrows():
        key = (p["outcome"], p["arm"], int(p["time"]))
        r = rm.loc[key] if key in rm.index else None
        cell = f"{p['arm']} t{int(p['time'])}"
        specs = [("n", "n", None, None), ("mean", "mean", "ci_low", "ci_high")]
        if p["arm"] == "imr":
            specs += [("diff", "diff", "diff_ci_low", "diff_ci_high"), ("d", "d", None, None)]
        for quantity, col, lo, hi in specs:
            rec = {"table": means_table, "outcome": p["outcome"], "cell": cell,
                   "quantity": quantity, "published": p[col],
                   "published_ci_low": p[lo] if lo else np.nan,
                   "published_ci_high": p[hi] if hi else np.nan}
            if r is None:
                rec["note"] = "outcome not reproduced"
            else:
                rec.update(reproduced=r[col], status=r["status"],
                           reproduced_ci_low=r[lo] if lo else np.nan,
                           reproduced_ci_high=r[hi] if hi else np.nan)
            rows.append(rec)
    return rows


def _fidelity_rows(result: FidelityResult) -> list[dict]:
    from imr_bayes import published

    tables = facts().fidelity.outcomes
    table = tables.get(result.outcome)
    if table is None:
        raise ImrBayesError(
            f"the paper reports the fidelity analysis only for {' and '.join(tables)}, "
            f"not {result.outcome!r}")
    rows: list[dict] = []
    rep = result.coefficients.set_index("term")
    for _, p in published.fidelity_effects(result.outcome).iterrows():
        r = rep.loc[p["term"]]
        for q in ("b", "se", "t"):
            rows.append({"table": table, "outcome": result.outcome, "cell": p["term"],
                         "quantity": q, "published": p[q],
                         "published_ci_low": p["ci_low"] if q == "b" else np.nan,
                         "published_ci_high": p["ci_high"] if q == "b" else np.nan,
                         "reproduced": r[q],
                         "reproduced_ci_low": r["ci_low"] if q == "b" else np.nan,
                         "reproduced_ci_high": r["ci_high"] if q == "b" else np.nan,
                         "status": r["status"]})
    text = published.text_results().set_index("key")["value"]
    o = result.omnibus.iloc[0]
    for q, col in (("F", "f"), ("df2", "den_df"), ("p", "p")):
        key = f"fidelity_f_{result.outcome}" + {"F": "", "df2": "_df2", "p": "_p"}[q]
        if key in text.index:
            rows.append({"table": "Text (fidelity omnibus)", "outcome": result.outcome,
                         "cell": "subgroup x time", "quantity": q, "published": text[key],
                         "reproduced": o[col], "status": o["status"]})
    return rows


def _hospitalization_rows(result: HospitalizationResult) -> list[dict]:
    from imr_bayes import published

    text = published.text_results().set_index("key")["value"]
    o = result.odds_ratio.iloc[0]
    los = result.length_of_stay.set_index("arm")
    rows = [{"table": "Text (hospitalization)", "outcome": "hosp_after", "cell": "condition",
             "quantity": "odds_ratio", "published": text.get("hosp_or", np.nan),
             "published_ci_low": text.get("hosp_or_ci_low", np.nan),
             "published_ci_high": text.get("hosp_or_ci_high", np.nan),
             "reproduced": o["odds_ratio"], "reproduced_ci_low": o["ci_low"],
             "reproduced_ci_high": o["ci_high"], "status": o["status"]},
            {"table": "Text (hospitalization)", "outcome": "hosp_after", "cell": "condition",
             "quantity": "p", "published": text.get("hosp_p", np.nan),
             "reproduced": o["p"], "status": o["status"]}]
    for arm in ("imr", "cau"):
        for q in ("mean", "sd"):
            rows.append({"table": "Text (length of stay)", "outcome": "los_after - los_before",
                         "cell": arm, "quantity": q,
                         "published": text.get(f"los_diff_{arm}_{q}", np.nan),
                         "reproduced": los.loc[arm, q], "status": los.loc[arm, "status"]})
    test = los.loc["imr vs cau"]
    for q, key, col in (("U", "los_mann_whitney_u", "u"), ("p", "los_p", "p")):
        rows.append({"table": "Text (length of stay)", "outcome": "los_after - los_before",
                     "cell": "imr vs cau", "quantity": q, "published": text.get(key, np.nan),
                     "reproduced": test[col], "status": test["status"]})
    return rows


def _noncompletion_rows(result: NoncompletionResult) -> list[dict]:
    from imr_bayes import published

    text = published.text_results().set_index("key")["value"]
    o = result.omnibus.iloc[0]
    return [{"table": "Text (selective non-completion)", "outcome": "completer",
             "cell": "omnibus", "quantity": q, "published": text.get(key, np.nan),
             "reproduced": o[col], "status": o["status"]}
            for q, key, col in (("chi2", "noncompletion_chi2", "chi2"),
                                ("df", "noncompletion_chi2_df", "df"),
                                ("p", "noncompletion_p", "p"))]


def versus_published(
    result: Replication | FidelityResult | HospitalizationResult | NoncompletionResult,
) -> pd.DataFrame:
    """Set a reproduced result beside the published numbers.

    Parameters
    ----------
    result : Replication, FidelityResult, HospitalizationResult or NoncompletionResult
        From :func:`replicate`, :func:`fidelity_analysis`, :func:`hospitalization` or
        :func:`noncompletion`.

    Returns
    -------
    DataFrame
        Columns :data:`VERSUS_COLUMNS`: one row per published number (``quantity`` b, n,
        mean, diff, d, se, t, F, ...), the reproduced value, their difference and whether
        the reproduced value lies inside the published 95 % CI (NA where the paper prints
        no CI).
    """
    if isinstance(result, Replication):
        return _finish(_replication_rows(result))
    if isinstance(result, FidelityResult):
        return _finish(_fidelity_rows(result))
    if isinstance(result, HospitalizationResult):
        return _finish(_hospitalization_rows(result))
    if isinstance(result, NoncompletionResult):
        return _finish(_noncompletion_rows(result))
    raise ImrBayesError(
        "versus_published takes a Replication, FidelityResult, HospitalizationResult or "
        f"NoncompletionResult, not {type(result).__name__}")
