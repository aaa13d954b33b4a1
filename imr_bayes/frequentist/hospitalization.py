"""Hospitalization analyses (Results, "After adjusting for hospitalization a year prior").

1. Logistic regression of hospitalization in the year after T2 (``hosp_after``) on the arm
   (IMR = 1), adjusted for hospitalization in the year before T1 (``hosp_before``): odds
   ratio with Wald 95 % CI and p (the paper: OR = 1.22, 0.44-3.42, p = 0.71).
2. Length of stay: difference scores ``los_after - los_before`` per participant, compared
   between arms with the Mann-Whitney test (asymptotic, tie-corrected, no continuity
   correction, as SPSS's asymptotic significance). ``u`` is the smaller of the two U
   statistics, which SPSS prints (the paper: U = 3928.50, p = 0.50).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from imr_bayes.frequentist.lmm import require_columns
from imr_bayes.frequentist.logistic import LogitFit, fit_logit


@dataclass(frozen=True)
class HospitalizationResult:
    """Both hospitalization analyses.

    Attributes
    ----------
    odds_ratio : pandas.DataFrame
        One row: ``n, events, odds_ratio, ci_low, ci_high, p, status, warning`` for the arm.
    length_of_stay : pandas.DataFrame
        One row per arm (``arm, n, mean, sd, median``) of the difference scores, plus the
        test row ``arm="imr vs cau"`` with ``u, u_imr, z, p``.
    logit : LogitFit
        The full logistic regression (arm and the baseline hospitalization).
    """

    odds_ratio: pd.DataFrame
    length_of_stay: pd.DataFrame
    logit: LogitFit


def participants(data: pd.DataFrame) -> pd.DataFrame:
    """One row per participant (participant-level columns are constant within participant)."""
    require_columns(data, ["participant_id", "arm"])
    return data.drop_duplicates("participant_id").reset_index(drop=True)


def hospitalization(data: pd.DataFrame) -> HospitalizationResult:
    """Reproduce the hospitalization odds ratio and the length-of-stay Mann-Whitney test.

    Parameters
    ----------
    data : DataFrame
        Long (or one row per participant) data with ``hosp_before``, ``hosp_after``,
        ``los_before``, ``los_after``.

    Returns
    -------
    HospitalizationResult
    """
    require_columns(data, ["hosp_before", "hosp_after", "los_before", "los_after"])
    per = participants(data)
    h = per[["arm", "hosp_before", "hosp_after"]].dropna()
    X = pd.DataFrame({"intercept": 1.0, "condition": (h["arm"] == "imr").to_numpy(float),
                      "hosp_before": h["hosp_before"].to_numpy(float)})
    logit = fit_logit(h["hosp_after"].to_numpy(float), X)
    c = logit.coefficients.set_index("term").loc["condition"]
    odds = pd.DataFrame([{
        "term": "condition", "n": logit.n, "events": int(h["hosp_after"].sum()),
        "odds_ratio": c["odds_ratio"], "ci_low": c["or_ci_low"], "ci_high": c["or_ci_high"],
        "p": c["p"], "status": logit.status, "warning": logit.warning_text,
    }])

    los = per[["arm", "los_before", "los_after"]].dropna()
    diff = los["los_after"] - los["los_before"]
    rows = []
    groups = {arm: diff[(los["arm"] == arm).to_numpy()].to_numpy(float) for arm in ("imr", "cau")}
    for arm, v in groups.items():
        rows.append({"arm": arm, "n": v.size, "mean": v.mean() if v.size else np.nan,
                     "sd": v.std(ddof=1) if v.size > 1 else np.nan,
                     "median": np.median(v) if v.size else np.nan,
                     "status": "ok" if v.size > 1 else "too_few_observations",
                     "warning": "" if v.size > 1 else
                     f"{v.size} length-of-stay difference(s) in arm {arm}"})
    a, b = groups["imr"], groups["cau"]
    test = {"arm": "imr vs cau", "n": a.size + b.size, "status": "ok", "warning": ""}
    if a.size and b.size and np.ptp(np.concatenate([a, b])) > 0:
        res = stats.mannwhitneyu(a, b, alternative="two-sided", use_continuity=False,
                                 method="asymptotic")
        u_imr = float(res.statistic)
        u = min(u_imr, a.size * b.size - u_imr)
        mu = a.size * b.size / 2
        z = stats.norm.isf(res.pvalue / 2) * np.sign(u_imr - mu) if res.pvalue < 1 else 0.0
        test.update(u=u, u_imr=u_imr, z=float(z), p=float(res.pvalue))
    else:
        test.update(u=np.nan, u_imr=np.nan, z=np.nan, p=np.nan,
                    status="too_few_observations",
                    warning="Mann-Whitney test needs both arms and some variation")
    rows.append(test)
    cols = ["arm", "n", "mean", "sd", "median", "u", "u_imr", "z", "p", "status", "warning"]
    los_df = pd.DataFrame(rows).reindex(columns=cols)
    return HospitalizationResult(odds_ratio=odds, length_of_stay=los_df, logit=logit)
