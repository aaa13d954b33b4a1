"""Estimated marginal means per arm x time, differences and Cohen's d (Tables 3 and 7).

The means come from the categorical-time model (time as baseline / 12 / 18 months,
condition and their interaction, random participant intercept, REML): with this saturated
mean structure each arm x time cell has its own estimated mean, as SPSS's
``/EMMEANS=TABLES(condition*time)`` prints them. CIs use the model-based SE of each
linear combination with its Satterthwaite df.

Cohen's d divides the IMR - CAU difference at each time by a standard deviation. The
paper does not say which. Reconstructing the SD from its own numbers (``diff / d``, see
``docs/frequentist.md``) shows a *time-specific* SD: the d values of Table 3 are not
proportional to the differences across time points, so a single baseline SD cannot
give them, and the implied SD is close to the pooled within-arm SD of the scores observed
at that time point. That is the default (``d_sd="observed_pooled"``); the pooled baseline
SD and the model's total SD ``sqrt(tau^2 + sigma^2)`` are available for sensitivity.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from imr_bayes.constants import CI_LEVEL, TIMES
from imr_bayes.frequentist.lmm import check_choice, fit_lmm, select_sample
from imr_bayes.frequentist.mixed import MixedFit

D_SDS: tuple[str, ...] = ("observed_pooled", "baseline_pooled", "model")

MEANS_COLUMNS: tuple[str, ...] = (
    "outcome", "arm", "time", "n", "mean", "se", "ci_low", "ci_high", "diff", "diff_se",
    "diff_ci_low", "diff_ci_high", "d", "d_sd", "status", "warning",
)

_TERMS = ("intercept", "time[1]", "time[2]", "condition", "condition_x_time[1]",
          "condition_x_time[2]")


def _weights(arm: str, time: int) -> np.ndarray:
    cond = 1.0 if arm == "imr" else 0.0
    w = dict.fromkeys(_TERMS, 0.0)
    w["intercept"] = 1.0
    w["condition"] = cond
    if time > 0:
        w[f"time[{time}]"] = 1.0
        w[f"condition_x_time[{time}]"] = cond
    return np.array([w[t] for t in _TERMS])


def pooled_sd(a: pd.Series, b: pd.Series) -> float:
    """Pooled within-group SD ``sqrt(((n1-1) s1^2 + (n2-1) s2^2) / (n1 + n2 - 2))``."""
    a, b = a.dropna(), b.dropna()
    n1, n2 = len(a), len(b)
    if n1 + n2 <= 2:
        return np.nan
    v1 = a.var(ddof=1) if n1 > 1 else 0.0
    v2 = b.var(ddof=1) if n2 > 1 else 0.0
    return float(np.sqrt(((n1 - 1) * v1 + (n2 - 1) * v2) / (n1 + n2 - 2)))


def marginal_means(
    data: pd.DataFrame,
    outcome: str,
    *,
    sample: str = "itt",
    d_sd: str = "observed_pooled",
    level: float = CI_LEVEL,
    fit: MixedFit | None = None,
) -> pd.DataFrame:
    """Table 3/7 rows for one outcome: EMM per arm x time, IMR - CAU difference, d.

    Parameters
    ----------
    data : DataFrame
        Long data in the contract layout.
    outcome : str
        Outcome code.
    sample : {"itt", "completers"}
        Analysis sample.
    d_sd : {"observed_pooled", "baseline_pooled", "model"}
        Denominator of Cohen's d (see module docstring).
    level : float
        CI level.
    fit : MixedFit, optional
        A categorical-time fit of this outcome and sample to reuse.

    Returns
    -------
    DataFrame
        Columns :data:`MEANS_COLUMNS`; ``diff``/``d`` only on IMR rows (as in the paper).
    """
    check_choice("d_sd", d_sd, D_SDS)
    if fit is None:
        fit = fit_lmm(data, outcome, time="categorical", sample=sample)
    rows = select_sample(data, sample)
    obs = rows[rows[outcome].notna().to_numpy()]
    counts = obs.groupby(["arm", "time"]).size()
    warning = fit.warning_text
    out = []
    for t in TIMES:
        at_t = obs[obs["time"] == t]
        if d_sd == "observed_pooled":
            sd = pooled_sd(at_t.loc[at_t["arm"] == "imr", outcome],
                           at_t.loc[at_t["arm"] == "cau", outcome])
        elif d_sd == "baseline_pooled":
            base = obs[obs["time"] == 0]
            sd = pooled_sd(base.loc[base["arm"] == "imr", outcome],
                           base.loc[base["arm"] == "cau", outcome])
        else:
            vc = fit.variance_components
            sd = float(np.sqrt(vc["variance"].clip(lower=0).sum())) if fit.ok else np.nan
        for arm in ("imr", "cau"):
            rec = {"outcome": outcome, "arm": arm, "time": t,
                   "n": int(counts.get((arm, t), 0)), "status": fit.status,
                   "warning": warning, "d_sd": sd}
            if fit.ok:
                est, se, df = fit.linear_combination(_weights(arm, t))
                crit = stats.t.ppf(0.5 + level / 2, df)
                rec.update(mean=est, se=se, ci_low=est - crit * se, ci_high=est + crit * se)
                if arm == "imr":
                    w = _weights("imr", t) - _weights("cau", t)
                    dif, dse, ddf = fit.linear_combination(w)
                    dcrit = stats.t.ppf(0.5 + level / 2, ddf)
                    rec.update(diff=dif, diff_se=dse, diff_ci_low=dif - dcrit * dse,
                               diff_ci_high=dif + dcrit * dse)
                    if np.isfinite(sd) and sd > 0:
                        rec["d"] = dif / sd
                    else:
                        rec["d"] = np.nan
                        note = f"Cohen's d not computed: the {d_sd} SD at time {t} is undefined"
                        rec["warning"] = "; ".join(w for w in (warning, note) if w)
            out.append(rec)
    frame = pd.DataFrame(out)
    return frame.reindex(columns=list(MEANS_COLUMNS))
