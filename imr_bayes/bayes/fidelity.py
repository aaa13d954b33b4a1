"""Fidelity: high vs moderate fidelity subgroups (Tables 4-5) and a fidelity dose-response.

``analysis="fidelity"`` is the Bayesian counterpart of Tables 4 and 5. Sample: every control
plus the IMR participants who attended >= 10 sessions in a group with a fidelity score
(:func:`imr_bayes.frequentist.fidelity.fidelity_sample`); subgroups high (group score
>= 4.0) and moderate; categorical time. On the standardized scale::

    z_it = b0 + b1 [t=1] + b2 [t=2] + h_i (a_h + c_h1 [t=1] + c_h2 [t=2])
                                     + m_i (a_m + c_m1 [t=1] + c_m2 [t=2])
           + u_i + [t>0] g_j(i) + e_it

with the participant intercept ``u_i`` integrated out (fast path) and the IMR-group effect
``g_j`` for treated participants after baseline, exactly as the ITT model. Estimands
``high_x_t1`` (= Table "Exp high fidelity at post treatment"), ``high_x_t2`` (follow-up),
``moderate_x_t1/_t2``, the subgroup main effects and the high - moderate contrasts
``high_minus_moderate`` at each follow-up. The spec (``models/analyses/fidelity.yaml``) maps
each to its printed Table 4/5 term. This module holds the designs
(:func:`fidelity_subgroups_design`, :func:`fidelity_slope_design`) that the ``lmm`` kind
(:func:`imr_bayes.bayes.lmm.fit_lmm`) fits.

``analysis="fidelity_dose"`` uses all IMR participants (ITT sample) and every scored group:
the ITT model whose IMR-group effect has a mean that depends on the group's fidelity score
``f_j`` (centred at the mean over scored groups ``f_bar``)::

    g_j ~ N(theta (f_j - f_bar), sigma_group^2)

``theta`` (``fidelity_slope``) is the change in a group's post-baseline effect per fidelity
point, in outcome units. It is sampled as a fixed coefficient of the column
``[treated, t > 0] (f_j(i) - f_bar)``, which is the same model. Participants of an unscored
group get 0 in that column (their group is treated as of average fidelity).
:func:`plot_fidelity_slope` draws it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from imr_bayes import outcomes
from imr_bayes.constants import TIMES
from imr_bayes.errors import DataValidationError

#: Fixed terms of the fidelity subgroup model, and the prior-set entry each one uses.
SUBGROUP_TERMS: dict[str, str] = {
    "intercept": "intercept", "time_1": "time_1", "time_2": "time_2",
    "high": "condition", "moderate": "condition",
    "high_x_t1": "condition_x_time_1", "high_x_t2": "condition_x_time_2",
    "moderate_x_t1": "condition_x_time_1", "moderate_x_t2": "condition_x_time_2",
}
def _per_participant(rows: pd.DataFrame, column: str, pids: np.ndarray) -> np.ndarray:
    per = rows.drop_duplicates("participant_id").set_index(
        rows.drop_duplicates("participant_id")["participant_id"].astype(str))[column]
    return per.reindex(pids).to_numpy()


def subgroup_design(subgroup: np.ndarray) -> np.ndarray:
    """Design (P, 3, 9) of the subgroup model for subgroup labels per participant."""
    high = (subgroup == "high").astype(float)[:, None]
    mod = (subgroup == "moderate").astype(float)[:, None]
    t = np.asarray(TIMES)[None, :]
    t1, t2 = (t == 1).astype(float), (t == 2).astype(float)
    ones = np.ones((len(subgroup), len(TIMES)))
    cols = [ones, ones * t1, ones * t2, high * ones, mod * ones, high * t1, high * t2,
            mod * t1, mod * t2]
    return np.stack(cols, axis=-1)


def fidelity_subgroups_design(panel, rows: pd.DataFrame, request):
    """Return the high/moderate fidelity subgroup design of Tables 4-5 (categorical time).

    Terms :data:`SUBGROUP_TERMS` with their prior-set entries; derived quantity
    ``high_minus_moderate`` per follow-up time.
    """
    from imr_bayes.bayes.lmm import Design, shared_priors, with_design

    sub = _per_participant(rows, "subgroup", panel.participants).astype(str)
    panel = with_design(panel, subgroup_design(sub), tuple(SUBGROUP_TERMS))
    priors = shared_priors(request, panel, SUBGROUP_TERMS)
    n_sub = {k: int(((sub == k) & (panel.mask.sum(axis=1) > 0)).sum())
             for k in ("control", "high", "moderate")}
    k = {t: i for i, t in enumerate(panel.terms)}

    def derived(variables: dict, panel_) -> tuple[dict, list]:
        beta = variables["beta"][1]
        return {}, [({"estimand": "high_minus_moderate", "time": t},
                     beta[:, k[f"high_x_t{t}"]] - beta[:, k[f"moderate_x_t{t}"]])
                    for t in (1, 2)]

    return Design(panel=panel, priors=priors, derived=derived,
                  attrs={"subgroup_participants": str(n_sub)})


def group_fidelity(data: pd.DataFrame, groups: tuple[str, ...]) -> np.ndarray:
    """Fidelity score of each IMR group (NaN for an unscored group).

    Raises
    ------
    DataValidationError
        If a group has more than one fidelity score.
    """
    if "fidelity" not in data.columns:
        raise DataValidationError(["missing column 'fidelity'"])
    imr = data[(data["arm"].astype(str) == "imr").to_numpy()]
    g = imr["imr_group"].astype("string")
    f = pd.to_numeric(imr["fidelity"], errors="coerce")
    per = pd.DataFrame({"g": g, "f": f}).dropna(subset=["g"]).drop_duplicates()
    counts = per.dropna().groupby("g")["f"].nunique()
    bad = sorted(counts.index[counts > 1])
    if bad:
        raise DataValidationError([f"IMR group(s) {bad} have more than one fidelity score"])
    score = per.dropna().groupby("g")["f"].first()
    return score.reindex(list(groups)).to_numpy(float)


def fidelity_slope_design(panel, rows: pd.DataFrame, request):
    """Return the fidelity dose-response design: the group effect's mean follows group fidelity.

    Adds the column ``[treated, t > 0] (f_j(i) - f_bar)`` with coefficient
    ``fidelity_slope`` (prior from the spec's ``priors``) to the standard ITT design; the
    derived ``group_total_effect`` is each group's random effect plus its fidelity part.

    Raises
    ------
    DataValidationError
        Fewer than 3 scored IMR groups, or a group with two fidelity scores.
    """
    from imr_bayes.bayes.lmm import Design, shared_priors, with_design

    score = group_fidelity(rows, panel.groups)
    scored = np.isfinite(score)
    if scored.sum() < 3:
        raise DataValidationError([f"fidelity_slope needs >= 3 scored IMR groups, got "
                                   f"{int(scored.sum())}"])
    centre = float(score[scored].mean())
    fc = np.where(scored, score - centre, 0.0)
    column = panel.group_on * fc[panel.group_idx][:, None]
    priors = shared_priors(request, panel)
    panel = with_design(panel, np.concatenate([panel.X, column[:, :, None]], axis=2),
                        (*panel.terms, "fidelity_slope"))
    priors.update(request.spec.resolved_priors())
    k = panel.terms.index("fidelity_slope")

    def derived(variables: dict, panel_) -> tuple[dict, list]:
        slope = variables["beta"][1][:, k]
        total = variables["group_effect"][1] + slope[:, None] * fc[None, :]
        return {"group_total_effect": (("group",), total)}, []

    return Design(panel=panel, priors=priors, derived=derived,
                  constant_data={"group_fidelity": (("group",), score),
                                 "fidelity_centre": ((), centre)},
                  attrs={"scored_groups": int(scored.sum()), "fidelity_centre": centre})


def fidelity_slope_data(fit) -> dict[str, Any]:
    """Numbers behind :func:`plot_fidelity_slope` (compute and draw are separate).

    Returns
    -------
    dict
        ``groups``, ``fidelity`` (scores), ``effect_mean``, ``effect_low``, ``effect_high``
        (each group's total post-baseline effect, 95 % ETI), ``grid``, ``line_mean``,
        ``line_low``, ``line_high`` (the slope's 95 % band), ``slope`` (mean, low, high).
    """
    from imr_bayes.bayes.engine import flat
    from imr_bayes.constants import CI_LEVEL

    post = fit.idata["posterior"]
    const = fit.idata["constant_data"]
    score = np.asarray(const["group_fidelity"].values, dtype=float)
    centre = float(const["fidelity_centre"].values)
    total = flat(post.to_dataset(), "group_total_effect")
    slope = flat(post.to_dataset(), "beta")[:, list(post["term"].values).index(
        "fidelity_slope")]
    a = (1 - CI_LEVEL) / 2
    keep = np.isfinite(score)
    grid = np.linspace(score[keep].min() - 0.05, score[keep].max() + 0.05, 50)
    lines = slope[:, None] * (grid[None, :] - centre)
    return {
        "groups": list(post["group"].values[keep]), "fidelity": score[keep],
        "effect_mean": total[:, keep].mean(axis=0),
        "effect_low": np.quantile(total[:, keep], a, axis=0),
        "effect_high": np.quantile(total[:, keep], 1 - a, axis=0),
        "grid": grid, "line_mean": lines.mean(axis=0),
        "line_low": np.quantile(lines, a, axis=0),
        "line_high": np.quantile(lines, 1 - a, axis=0),
        "slope": (float(slope.mean()), float(np.quantile(slope, a)),
                  float(np.quantile(slope, 1 - a))),
    }


def plot_fidelity_slope(fit):
    """Plot each IMR group's post-baseline effect against its fidelity score.

    Points: posterior mean group effect with 95 % ETI; line and band: the posterior mean
    and 95 % ETI of ``fidelity_slope * (f - f_bar)``.

    Parameters
    ----------
    fit : BayesianFit
        A ``fidelity_dose`` fit.

    Returns
    -------
    matplotlib.figure.Figure
    """
    from matplotlib.figure import Figure

    from imr_bayes.errors import ImrBayesError

    if "group_total_effect" not in fit.idata["posterior"].data_vars:
        raise ImrBayesError(f"plot_fidelity_slope needs a fit of the fidelity_slope design, "
                            f"got {fit.analysis!r}")
    d = fidelity_slope_data(fit)
    fig = Figure(figsize=(6, 4), layout="constrained")
    ax = fig.subplots()
    ax.fill_between(d["grid"], d["line_low"], d["line_high"], alpha=0.25,
                    label="slope, 95 % ETI")
    ax.plot(d["grid"], d["line_mean"], label="posterior mean slope")
    ax.errorbar(d["fidelity"], d["effect_mean"],
                yerr=[d["effect_mean"] - d["effect_low"], d["effect_high"] - d["effect_mean"]],
                fmt="o", capsize=2, color="black", label="IMR group effect, 95 % ETI")
    ax.axhline(0.0, color="grey", lw=0.5)
    m, lo, hi = d["slope"]
    o = outcomes.get(fit.outcome)
    ax.set_xlabel("group fidelity score (IMR Fidelity Scale)")
    ax.set_ylabel(f"group effect after baseline ({o.code})")
    ax.set_title(f"Fidelity slope: {m:.3g} per point (95 % ETI {lo:.3g} to {hi:.3g})")
    ax.legend(fontsize="small")
    return fig
