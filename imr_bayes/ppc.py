"""Posterior predictive checks: data-level checks and checks of the published statistics.

Replicated data sets are drawn from the posterior of a fitted ITT-type linear mixed model
(``imr_bayes.fit(..., analysis="itt" | "itt_categorical" | "completers")``) **with the
observed missingness pattern**: only the participant x time cells observed in the data are
replicated, so every statistic is recomputed on exactly the rows the paper had.

* :func:`replicate` — replicated outcomes (raw scale), NaN outside the observed cells.
* :func:`data_checks` — per arm x time: mean, SD, minimum and maximum of the replicated
  data against the observed ones, and the share of replicated values outside the outcome's
  scale range (``Outcome.scale_min/scale_max``).
* :func:`published_checks` — every published Table 3/7 statistic (arm x time estimated
  marginal means, IMR - CAU differences, Cohen's d) and the Table 2/6 condition x time B,
  recomputed on each replicated data set with the paper's estimators (GLS with the
  variance components of the frequentist REML fit, see :func:`gls`); the percentile of
  the published value in its posterior predictive distribution, a two-sided predictive p
  value, and a flag outside 2.5-97.5 %.
* :func:`structure_checks` — statistics the model is **not** fitted to, which can fail:
  between-wave correlations per arm, arm x time SDs after baseline, shares at the scale's
  floor and ceiling, the within-IMR-group ICC; each with a two-sided predictive p.
* :func:`selection_checks` — Table 2/6's condition x time B with the paper's AIC step
  repeated inside every replicate (:func:`aic_selection`): the printed B's are
  post-selection numbers.
* :func:`loo_pit`, :func:`plot_loo_pit` — LOO-PIT of every observed cell (``y_cell``).
* :func:`plot_published_checks`, :func:`plot_data_checks`, :func:`plot_structure_checks` —
  figures (Matplotlib, ArviZ).

The approximation, what each check means and what a flag can and cannot mean are written
down in ``docs/ppc.md``; the misspecified twin variants that show the new checks at work are
:mod:`imr_bayes.data.variants`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from imr_bayes import outcomes as outcome_registry
from imr_bayes.constants import ARMS, CI_LEVEL, TIMES
from imr_bayes.errors import ImrBayesError
from imr_bayes.outcomes import unknown_choice_message

#: How replicated participants get their intercept (see :func:`replicate`).
PARTICIPANT_MODES: tuple[str, ...] = ("new", "conditional")
#: Columns of :func:`published_checks`.
CHECK_COLUMNS: tuple[str, ...] = (
    "statistic", "outcome", "arm", "time", "published", "observed", "ppc_mean", "ppc_low",
    "ppc_high", "percentile", "p_value", "flagged", "n_replicates", "source",
)
#: Columns of :func:`data_checks`.
DATA_CHECK_COLUMNS: tuple[str, ...] = (
    "outcome", "arm", "time", "n_observed", "statistic", "observed", "ppc_mean", "ppc_low",
    "ppc_high", "percentile", "flagged",
)
#: Statistics of :func:`data_checks` (``outside_range``: share of values off the scale).
DATA_STATISTICS: tuple[str, ...] = ("mean", "sd", "min", "max", "outside_range")
#: Fixed terms of the categorical-time model behind Tables 3 and 7 (frequentist names).
CATEGORICAL_TERMS: tuple[str, ...] = (
    "intercept", "time[1]", "time[2]", "condition", "condition_x_time[1]",
    "condition_x_time[2]",
)
_LINEAR_ORDER: tuple[str, ...] = ("intercept", "time", "condition", "condition_x_time")
# ----------------------------------------------------------------------------- replication
def _flat(da: Any) -> np.ndarray:
    """Stack chain and draw of a posterior variable into a leading sample axis."""
    return da.stack(sample=("chain", "draw")).transpose("sample", ...).to_numpy()


def _require(fit: Any) -> tuple[Any, Any]:
    tree = fit.idata
    groups = set(tree.children)
    missing = [g for g in ("posterior", "observed_data", "constant_data") if g not in groups]
    if missing:
        raise ImrBayesError(f"fit {fit.analysis}/{fit.outcome} lacks group(s) {missing}")
    post, const = tree["posterior"], tree["constant_data"]
    need_post = [v for v in ("beta_std", "sigma_residual") if v not in post.data_vars]
    need_const = [v for v in ("X", "mask", "treated", "center", "scale")
                  if v not in const.data_vars]
    if need_post or need_const:
        raise ImrBayesError(
            f"fit {fit.analysis}/{fit.outcome} is not a linear mixed model fit of the ITT "
            f"builder: missing posterior {need_post} / constant_data {need_const}")
    return post, const


def replicate(fit: Any, *, draws: int | None = None, participants: str = "new",
              seed: int | None = None) -> np.ndarray:
    """Draw replicated data sets from the posterior, with the observed missingness.

    For posterior draw s, participant i and observed time t (standardized scale)::

        z_rep = x_it' beta_s + [t > 0] c_i g_j(i),s + u_i + e_it,  e_it ~ N(0, sigma_res,s^2)

    for the SPSS-parity model; for the partially nested model the group effect carries its
    loading (``t`` on the slope), the team effect is added and ``e_it`` has the residual SD
    of its cell (baseline, IMR or CAU follow-up;
    :func:`imr_bayes.bayes.itt.conditional_pieces`).

    ``participants="new"`` draws ``u_i ~ N(0, sigma_participant,s^2)``: a replicated trial
    with new participants in the same design cells, the mixed predictive replication of
    Marshall & Spiegelhalter (2007), which checks the population-level structure the
    published statistics describe. ``"conditional"`` draws ``u_i`` from its conditional
    posterior given the data (the fit's own ``posterior_predictive`` group); replicates then
    stay close to the observed data and the check is more lenient. IMR-group effects
    (singleton clusters included) are new groups in the ``"new"`` mode (``g ~ N(0,
    sigma_group,s^2)`` per group: a new trial has new therapy groups, :func:`_new_groups`)
    and the posterior draws of the trial's groups in the ``"conditional"`` mode; team effects
    are the posterior draws of the trial's teams in both modes (a new trial in the same
    teams).

    Parameters
    ----------
    fit : BayesianFit
        A fit of an ITT builder (``itt``, ``itt_parity``, ``itt_categorical``, ...).
    draws : int, optional
        Number of posterior draws to use, evenly spaced (default: all).
    participants : {"new", "conditional"}
    seed : int, optional
        Random seed (default: the fit's seed). Same seed => same replicates.

    Returns
    -------
    ndarray, shape (draws, participant, time)
        Replicated outcomes on the raw scale; NaN in cells not observed in the data.
    """
    from imr_bayes.bayes.itt import conditional_pieces

    if participants not in PARTICIPANT_MODES:
        raise ImrBayesError(unknown_choice_message("participants mode", participants,
                                                   PARTICIPANT_MODES))
    post, const = _require(fit)
    beta = _flat(post["beta_std"])
    n_all = beta.shape[0]
    if draws is not None and not (isinstance(draws, int) and 1 <= draws):
        raise ImrBayesError(f"draws must be a positive integer; got {draws!r}")
    keep = (np.arange(n_all) if draws is None or draws >= n_all
            else np.unique(np.linspace(0, n_all - 1, draws).round().astype(int)))
    beta = beta[keep]
    center = float(const["center"])
    scale = float(const["scale"])
    X = const["X"].to_numpy()
    mask = const["mask"].to_numpy()
    n_s, n_p = len(keep), X.shape[0]
    if ("group_effect" in post.data_vars and post.sizes.get("group", 0)
            and ("group_index" not in const.data_vars or "group_on" not in const.data_vars)):
        raise ImrBayesError(
            f"fit {fit.analysis}/{fit.outcome} has IMR-group effects but its constant_data "
            "lacks group_index/group_on, so groups cannot be mapped to participants")
    offset, cell_var, pvar = conditional_pieces(post, const, keep)
    mu = np.einsum("ptk,sk->spt", X, beta) + offset
    rng_seed = int(fit.idata.attrs.get("seed", 0)) if seed is None else int(seed)
    rng = np.random.default_rng([rng_seed, 7])
    if participants == "new":
        mu = mu + _new_groups(post, const, keep, scale, rng_seed)
        u = np.sqrt(pvar)[:, None] * rng.standard_normal((n_s, n_p))
    else:
        from imr_bayes.bayes.marginal import draw_participant_effects

        y = fit.idata["observed_data"]["y"].to_numpy()
        z = np.where(mask > 0, (y - center) / scale, 0.0)
        u = draw_participant_effects(z[None] - mu, mask, cell_var, pvar, rng)
    zrep = mu + u[:, :, None] + np.sqrt(cell_var) * rng.standard_normal(mu.shape)
    return np.where(mask[None] > 0, center + scale * zrep, np.nan)


def _new_groups(post: Any, const: Any, keep: np.ndarray, scale: float,
                seed: int) -> np.ndarray:
    """Offset that swaps the trial's posterior group effects for new groups, (S, P, T).

    For each group effect of the model (the slope or shift deviation ``group_effect`` with
    its loading ``group_on``, and ``group_shift_effect`` with ``group_shift_on`` where the
    model has both): ``loading * (g_new - g_post)[group_index]`` with
    ``g_new ~ N(0, sigma_s^2)`` per group and draw (standardized scale), from its own stream
    (``[seed, 7, 1]``) so that the participants' and residuals' draws do not move. Zero for
    a fit without group effects.
    """
    if not (post.sizes.get("group", 0) and "group_index" in const.data_vars):
        return np.zeros(1)
    rng = np.random.default_rng([seed, 7, 1])
    gi = const["group_index"].to_numpy().astype(int)
    out = np.zeros(1)
    for effect, sd_name, loading in (("group_effect", "sigma_group", "group_on"),
                                     ("group_shift_effect", "sigma_group_shift",
                                      "group_shift_on")):
        if effect not in post.data_vars or sd_name not in post.data_vars:
            continue
        g_post = _flat(post[effect])[keep] / scale
        sd = _flat(post[sd_name])[keep] / scale
        g_new = sd[:, None] * rng.standard_normal(g_post.shape)
        out = out + const[loading].to_numpy()[None] * (g_new - g_post)[:, gi][:, :, None]
    return out


# ------------------------------------------------------------------------------ estimators
def gls(y: np.ndarray, X: np.ndarray, ratio: float) -> np.ndarray:
    """Generalized least squares under a random-intercept covariance, for many data sets.

    With ``V_i = sigma^2 (I + ratio J)`` on the observed cells of participant i (``ratio`` =
    tau^2 / sigma^2, the variance components held fixed), ``V_i^-1`` is proportional to
    ``I - c_i J`` with ``c_i = ratio / (1 + n_i ratio)`` (Sherman–Morrison), and::

        beta = (sum_i X_i' V_i^-1 X_i)^-1 sum_i X_i' V_i^-1 y_i

    At the REML estimates of the variance components this is exactly the REML fixed-effect
    estimate of the linear mixed model (Henderson), the estimator behind Tables 2, 3, 6, 7.

    Parameters
    ----------
    y : ndarray, shape (R, P, T) or (P, T)
        Outcomes; NaN marks a cell not observed (the same cells in every data set).
    X : ndarray, shape (P, T, K)
        Fixed-effect design.
    ratio : float
        tau^2 / sigma^2 (>= 0).

    Returns
    -------
    ndarray, shape (R, K) (or (K,) for 2-D ``y``)
    """
    y = np.asarray(y, dtype=float)
    single = y.ndim == 2
    y = y[None] if single else y
    mask = np.isfinite(y[0])
    if not np.array_equal(np.isfinite(y), np.broadcast_to(mask, y.shape)):
        raise ImrBayesError("every data set must have the same observed cells")
    if not (np.isfinite(ratio) and ratio >= 0):
        raise ImrBayesError(f"variance ratio must be finite and >= 0; got {ratio!r}")
    m = mask.astype(float)
    Xm = X * m[:, :, None]
    y0 = np.where(mask[None], y, 0.0)
    n = m.sum(axis=1)
    c = ratio / (1.0 + n * ratio)
    s = Xm.sum(axis=1)                                        # (P, K)
    A = np.einsum("ptk,ptl->kl", Xm, Xm) - np.einsum("p,pk,pl->kl", c, s, s)
    b = np.einsum("ptk,rpt->rk", Xm, y0) - np.einsum("p,pk,rp->rk", c, s, y0.sum(axis=2))
    beta = np.linalg.solve(A, b.T).T
    return beta[0] if single else beta


def _design(treated: np.ndarray, terms: tuple[str, ...]) -> np.ndarray:
    """Frequentist design (P, T, K) in the paper's coding for the given term names."""
    t = np.broadcast_to(np.asarray(TIMES, dtype=float), (len(treated), len(TIMES)))
    c = np.broadcast_to(treated[:, None].astype(float), t.shape)
    cols = {
        "intercept": np.ones_like(t), "time": t, "condition": c, "condition_x_time": c * t,
        "time[1]": (t == 1) * 1.0, "time[2]": (t == 2) * 1.0,
        "condition_x_time[1]": c * (t == 1), "condition_x_time[2]": c * (t == 2),
    }
    return np.stack([cols[k] for k in terms], axis=-1)


def _variance_ratio(y: np.ndarray, treated: np.ndarray, outcome: str,
                    time: str, terms: tuple[str, ...]) -> float:
    """tau^2 / sigma^2 of the frequentist REML fit (``fit_lmm``) to the observed data."""
    from imr_bayes.frequentist import fit_lmm

    p_idx, t_idx = np.nonzero(np.isfinite(y))
    frame = pd.DataFrame({
        "participant_id": [f"p{k}" for k in p_idx],
        "arm": np.where(treated[p_idx] > 0, "imr", "cau"),
        "time": np.asarray(TIMES)[t_idx],
        outcome: y[p_idx, t_idx],
    })
    res = fit_lmm(frame, outcome, time=time, terms=terms, reml=True, inference=False)
    vc = res.variance_components.set_index("component")["variance"]
    if not res.ok and res.status != "singular":
        raise ImrBayesError(
            f"frequentist fit of {outcome} ({time} time) failed with status {res.status!r}: "
            f"{res.warning_text}")
    resid = float(vc["residual"])
    tau2 = float(vc.drop("residual").clip(lower=0).sum())
    return tau2 / resid


def _pooled_sd(y: np.ndarray, treated: np.ndarray) -> np.ndarray:
    """Pooled within-arm SD of the observed values per data set and time, shape (R, T)."""
    parts = []
    for arm_on in (1.0, 0.0):
        sub = y[:, treated == arm_on, :]
        n = np.isfinite(sub[0]).sum(axis=0)
        var = np.nanvar(sub, axis=1, ddof=1) if sub.shape[1] else np.zeros((len(y), 3))
        parts.append((n, np.where(n > 1, var, 0.0)))
    (n1, v1), (n2, v2) = parts
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.sqrt(((n1 - 1) * v1 + (n2 - 1) * v2) / (n1 + n2 - 2))


def table_statistics(y: np.ndarray, treated: np.ndarray, outcome: str, *,
                     b_terms: tuple[str, ...] | None = None,
                     ratios: dict[str, float] | None = None) -> dict[tuple, np.ndarray]:
    """Compute the paper's statistics of Tables 2/3 (or 6/7) on many data sets at once.

    Parameters
    ----------
    y : ndarray, shape (R, P, T)
        Data sets with the same observed cells (NaN elsewhere); the first axis may be 1.
    treated : ndarray, shape (P,)
        1.0 for IMR participants.
    outcome : str
    b_terms : tuple of str, optional
        Terms (besides the intercept) of the published final linear model; the condition x
        time B is computed when it contains ``condition_x_time``.
    ratios : dict, optional
        ``{"categorical": r, "linear": r}`` variance ratios; by default estimated by
        :func:`_variance_ratio` from the first data set (the observed data).

    Returns
    -------
    dict
        ``(statistic, arm, time) -> ndarray (R,)``: ``("mean", arm, t)``,
        ``("difference", None, t)``, ``("cohens_d", None, t)`` and
        ``("condition_x_time", None, None)``.
    """
    ratios = dict(ratios or {})
    if "categorical" not in ratios:
        ratios["categorical"] = _variance_ratio(y[0], treated, outcome, "categorical",
                                                ("time", "condition", "condition_x_time"))
    beta = gls(y, _design(treated, CATEGORICAL_TERMS), ratios["categorical"])
    k = {t: i for i, t in enumerate(CATEGORICAL_TERMS)}
    sd = _pooled_sd(y, treated)
    out: dict[tuple, np.ndarray] = {}
    for t in TIMES:
        cau = beta[:, k["intercept"]] + (beta[:, k[f"time[{t}]"]] if t else 0.0)
        diff = beta[:, k["condition"]] + (beta[:, k[f"condition_x_time[{t}]"]] if t else 0.0)
        out[("mean", "imr", t)] = cau + diff
        out[("mean", "cau", t)] = cau
        out[("difference", None, t)] = diff
        with np.errstate(invalid="ignore", divide="ignore"):
            out[("cohens_d", None, t)] = diff / sd[:, t]
    if b_terms is not None and "condition_x_time" in b_terms:
        terms = tuple(t for t in _LINEAR_ORDER if t == "intercept" or t in b_terms)
        if "linear" not in ratios:
            ratios["linear"] = _variance_ratio(y[0], treated, outcome, "linear",
                                               tuple(t for t in terms if t != "intercept"))
        b = gls(y, _design(treated, terms), ratios["linear"])
        out[("condition_x_time", None, None)] = b[:, terms.index("condition_x_time")]
    return out


# ---------------------------------------------------------------------------------- checks
def _position(rep: np.ndarray, value: float) -> tuple[float, float]:
    """Mid-rank percentile of ``value`` among ``rep`` and the two-sided predictive p."""
    rep = rep[np.isfinite(rep)]
    if not np.isfinite(value) or rep.size == 0:
        return np.nan, np.nan
    pct = float(np.mean(rep < value) + 0.5 * np.mean(rep == value))
    return pct, float(min(1.0, 2 * min(pct, 1 - pct)))


def _summary(rep: np.ndarray, published: float, level: float) -> dict[str, float]:
    tail = (1 - level) / 2
    finite = rep[np.isfinite(rep)]
    lo, hi = np.quantile(finite, [tail, 1 - tail]) if finite.size else (np.nan, np.nan)
    pct, p = _position(rep, published)
    return {"ppc_mean": float(finite.mean()) if finite.size else np.nan,
            "ppc_low": float(lo), "ppc_high": float(hi), "percentile": pct, "p_value": p,
            "flagged": bool(np.isfinite(pct) and (pct < tail or pct > 1 - tail))}


def published_sample(fit: Any) -> str | None:
    """Return the printed sample whose tables a fit's model reproduces, or None.

    ``itt`` or ``completers`` (Tables 2-3 / 6-7) for the standard LMM design (either LMM
    kind: ``pn_lmm`` or the parity ``lmm``), ``fidelity`` (Tables 4/5) for the fidelity
    subgroups; read from the fit's spec.
    """
    from imr_bayes.spec import LMM_KINDS

    spec = getattr(fit, "spec", None)
    published = getattr(spec, "published", None)
    if published is None or getattr(spec, "model", None) not in LMM_KINDS:
        return None
    if published.sample in ("itt", "completers") and spec.design == "standard":
        return published.sample
    if published.sample == "fidelity" and spec.design == "fidelity_subgroups":
        return "fidelity"
    return None


def _fidelity_terms(fit: Any) -> dict[str, str]:
    """Model term -> printed Table 4/5 term, from the spec's published map."""
    return {e.name: e.published.term for e in fit.spec.estimands
            if e.published is not None and e.published.table == "fidelity"}


def published_checks(fit: Any, *, draws: int | None = None, participants: str = "new",
                     seed: int | None = None, level: float = CI_LEVEL) -> pd.DataFrame:
    """Check every published statistic of the fit's sample against its predictive distribution.

    For the ITT analyses: Table 3 (6 arm x time means, 3 IMR - CAU differences, 3 Cohen's d)
    and Table 2's condition x time B where the paper's final model has it; for
    ``completers``: Tables 7 and 6; for ``fidelity`` (IMRS client, SERS-SF): the 9
    coefficients of Table 4 or 5, when the fit carries ``constant_data.group_index``. Each
    statistic is recomputed on every replicated data set (:func:`replicate`, same
    missingness) with the paper's estimator (:func:`gls` at the frequentist REML variance
    components of the observed data; d divided by the pooled within-arm SD observed at
    that time, ``docs/frequentist.md``).

    Parameters
    ----------
    fit : BayesianFit
    draws : int, optional
        Posterior draws (replicated data sets) to use (default all).
    participants : {"new", "conditional"}
        See :func:`replicate`.
    seed : int, optional
    level : float, default ``CI_LEVEL``
        Predictive interval and flag level (flag: percentile outside (1 -+ level) / 2).

    Returns
    -------
    pandas.DataFrame
        :data:`CHECK_COLUMNS`. ``arm`` is empty for contrasts, ``time`` for B; ``observed``
        is the statistic on the fitted data; ``percentile`` is the mid-rank share of
        replicates below the published value; ``p_value`` the two-sided predictive p. An
        analysis without a published counterpart (CACE, dose models, hospitalization, ...)
        gives an empty frame.
    """
    if not 0 < level < 1:
        raise ImrBayesError(f"level should be in (0, 1) but got {level!r}")
    sample = published_sample(fit)
    if sample == "fidelity":
        return _fidelity_checks(fit, draws=draws, participants=participants, seed=seed,
                                level=level)
    if sample is None:
        return pd.DataFrame(columns=list(CHECK_COLUMNS))
    from imr_bayes import published
    from imr_bayes.frequentist.replication import published_terms

    outcome = fit.outcome
    yrep = replicate(fit, draws=draws, participants=participants, seed=seed)
    const = fit.idata["constant_data"]
    treated = const["treated"].to_numpy()
    y_obs = fit.idata["observed_data"]["y"].to_numpy()
    y_obs = np.where(const["mask"].to_numpy() > 0, y_obs, np.nan)
    b_terms = published_terms(sample).get(outcome, ())
    ratios = {"categorical": _variance_ratio(y_obs, treated, outcome, "categorical",
                                             ("time", "condition", "condition_x_time"))}
    if "condition_x_time" in b_terms:
        ratios["linear"] = _variance_ratio(
            y_obs, treated, outcome, "linear",
            tuple(t for t in _LINEAR_ORDER if t in b_terms))
    obs = table_statistics(y_obs[None], treated, outcome, b_terms=b_terms, ratios=ratios)
    rep = table_statistics(yrep, treated, outcome, b_terms=b_terms, ratios=ratios)

    means = published.marginal_means(sample)
    means = means[means["outcome"] == outcome]
    rows: list[dict[str, Any]] = []

    def add(stat: str, arm: str | None, t: int | None, value: float, source: str) -> None:
        key = (stat, arm, t)
        rows.append({"statistic": stat, "outcome": outcome, "arm": arm, "time": t,
                     "published": float(value), "observed": float(obs[key][0]),
                     **_summary(rep[key], float(value), level),
                     "n_replicates": int(len(yrep)), "source": source})

    for t in TIMES:
        for arm in ARMS:
            r = means[(means["arm"] == arm) & (means["time"] == t)]
            if len(r):
                add("mean", arm, t, r["mean"].iloc[0], r["source"].iloc[0])
    for stat, col in (("difference", "diff"), ("cohens_d", "d")):
        for t in TIMES:
            r = means[(means["arm"] == "imr") & (means["time"] == t)]
            if len(r) and pd.notna(r[col].iloc[0]):
                add(stat, None, t, r[col].iloc[0], r["source"].iloc[0])
    fe = published.fixed_effects(sample)
    r = fe[(fe["outcome"] == outcome) & (fe["term"] == "condition_x_time")
           & fe["in_final_model"].astype(bool)]
    if len(r) and ("condition_x_time", None, None) in rep:
        add("condition_x_time", None, None, r["b"].iloc[0], r["source"].iloc[0])
    table = pd.DataFrame(rows, columns=list(CHECK_COLUMNS))
    table["time"] = table["time"].astype("Int64")
    return table


def _fidelity_checks(fit: Any, *, draws: int | None, participants: str, seed: int | None,
                     level: float) -> pd.DataFrame:
    """Table 4/5 coefficients of a ``fidelity`` fit (statistic = the published term name).

    Recomputed on each replicate by :func:`gls` with the fit's subgroup design at the
    REML variance ratio of the observed data (``frequentist.fit_mixed``). Empty when the
    outcome has no published fidelity table or the fit cannot be replicated (IMR-group
    effects without ``constant_data.group_index``, see ``docs/ppc.md``).
    """
    from imr_bayes import published
    from imr_bayes.frequentist import fit_mixed
    from imr_bayes.trial import fidelity_outcomes

    empty = pd.DataFrame(columns=list(CHECK_COLUMNS))
    const = fit.idata["constant_data"]
    post = fit.idata["posterior"]
    unmappable = ("group_effect" in post.data_vars and post.sizes.get("group", 0)
                  and "group_index" not in const.data_vars)
    if fit.outcome not in fidelity_outcomes() or unmappable:
        return empty
    terms = [str(t) for t in const["term"].values]
    printed = _fidelity_terms(fit)
    if set(terms) != set(printed):
        raise ImrBayesError(f"fidelity fit has terms {terms}; its spec maps {list(printed)}")
    X = const["X"].to_numpy()
    mask = const["mask"].to_numpy() > 0
    y_obs = np.where(mask, fit.idata["observed_data"]["y"].to_numpy(), np.nan)
    p_idx, t_idx = np.nonzero(mask)
    ref = fit_mixed(y_obs[p_idx, t_idx], pd.DataFrame(X[p_idx, t_idx], columns=terms),
                    p_idx, reml=True, inference=False)
    vc = ref.variance_components.set_index("component")["variance"]
    ratio = float(vc.drop("residual").clip(lower=0).sum()) / float(vc["residual"])
    obs = gls(y_obs, X, ratio)
    rep = gls(replicate(fit, draws=draws, participants=participants, seed=seed), X, ratio)
    table = published.fidelity_effects(fit.outcome).set_index("term")
    rows = []
    for k, term in enumerate(terms):
        pub = table.loc[printed[term]]
        rows.append({"statistic": printed[term], "outcome": fit.outcome, "arm": None,
                     "time": None, "published": float(pub["b"]), "observed": float(obs[k]),
                     **_summary(rep[:, k], float(pub["b"]), level),
                     "n_replicates": int(rep.shape[0]), "source": pub["source"]})
    out = pd.DataFrame(rows, columns=list(CHECK_COLUMNS))
    out["time"] = out["time"].astype("Int64")
    return out


def data_checks(fit: Any, *, draws: int | None = None, participants: str = "new",
                seed: int | None = None, level: float = CI_LEVEL) -> pd.DataFrame:
    """Data-level posterior predictive checks per arm x time.

    For each arm x time cell: the mean, SD, minimum and maximum of the observed values
    against their replicated distributions, and ``outside_range``, the share of values
    below ``scale_min`` or above ``scale_max`` (0 for the observed data by the data
    contract; outcomes without a known range give NaN). A normal model does not respect a
    bounded scale, so ``outside_range`` measures how much predictive mass falls off it.

    Returns
    -------
    pandas.DataFrame
        :data:`DATA_CHECK_COLUMNS`; ``flagged`` when the observed statistic lies outside the
        central ``level`` predictive interval.
    """
    yrep = replicate(fit, draws=draws, participants=participants, seed=seed)
    const = fit.idata["constant_data"]
    treated = const["treated"].to_numpy()
    mask = const["mask"].to_numpy() > 0
    y_obs = np.where(mask, fit.idata["observed_data"]["y"].to_numpy(), np.nan)
    o = outcome_registry.get(fit.outcome)
    rows = []
    for arm in ARMS:
        on = treated > 0 if arm == "imr" else treated == 0
        for t in TIMES:
            cell = on & mask[:, t]
            n = int(cell.sum())
            if n == 0:
                continue
            rep = yrep[:, cell, t]
            obs = y_obs[cell, t]
            stats = {
                "mean": (obs.mean(), rep.mean(axis=1)),
                "sd": (obs.std(ddof=1) if n > 1 else np.nan,
                       rep.std(axis=1, ddof=1) if n > 1 else np.full(len(rep), np.nan)),
                "min": (obs.min(), rep.min(axis=1)),
                "max": (obs.max(), rep.max(axis=1)),
            }
            if o.scale_min is not None and o.scale_max is not None:
                off = lambda v: np.mean((v < o.scale_min) | (v > o.scale_max), axis=-1)  # noqa: E731
                stats["outside_range"] = (float(off(obs)), off(rep))
            else:
                stats["outside_range"] = (np.nan, np.full(len(rep), np.nan))
            for name in DATA_STATISTICS:
                value, draws_ = stats[name]
                if np.all(np.isnan(draws_)):
                    summ = {"ppc_mean": np.nan, "ppc_low": np.nan, "ppc_high": np.nan,
                            "percentile": np.nan, "flagged": False}
                else:
                    summ = _summary(np.asarray(draws_, float), float(value), level)
                    summ.pop("p_value")
                rows.append({"outcome": fit.outcome, "arm": arm, "time": t, "n_observed": n,
                             "statistic": name, "observed": float(value), **summ})
    return pd.DataFrame(rows, columns=list(DATA_CHECK_COLUMNS))


# --------------------------------------------------------------------------------- figures
def predictive_tree(fit: Any, *, draws: int | None = 100, participants: str = "new",
                    seed: int | None = None) -> Any:
    """Build a DataTree with ``posterior_predictive`` and ``observed_data`` of observed cells.

    Variables are named ``<arm>_t<time>`` (dimension ``obs_<arm>_t<time>``) so that ArviZ's
    predictive plots draw one panel per arm x time.
    """
    import xarray as xr

    yrep = replicate(fit, draws=draws, participants=participants, seed=seed)
    const = fit.idata["constant_data"]
    treated = const["treated"].to_numpy()
    mask = const["mask"].to_numpy() > 0
    y_obs = fit.idata["observed_data"]["y"].to_numpy()
    pp, od = {}, {}
    for arm in ARMS:
        on = treated > 0 if arm == "imr" else treated == 0
        for t in TIMES:
            cell = on & mask[:, t]
            if not cell.any():
                continue
            name = f"{arm}_t{t}"
            pp[name] = (("chain", "draw", f"obs_{name}"), yrep[None, :, cell, t])
            od[name] = ((f"obs_{name}",), y_obs[cell, t])
    return xr.DataTree.from_dict({"posterior_predictive": xr.Dataset(pp),
                                  "observed_data": xr.Dataset(od)})


def plot_data_checks(predictive: Any) -> Any:
    """ArviZ ``plot_ppc_dist`` of the observed values per arm x time (Matplotlib figure).

    ``predictive`` is the DataTree of :func:`predictive_tree` (compute and draw are separate).
    """
    import arviz_plots as azp

    draws = int(predictive["posterior_predictive"].sizes["draw"])
    pc = azp.plot_ppc_dist(predictive, kind="kde", num_samples=min(draws, 50),
                           backend="matplotlib")
    fig = pc.viz["chart"] if "chart" in pc.viz.children else pc.viz["figure"]
    fig = fig.item() if hasattr(fig, "item") else fig
    return fig


def plot_published_checks(table: pd.DataFrame) -> Any:
    """Percentile of every published statistic in its posterior predictive distribution.

    One dot per row of :func:`published_checks`, grouped by statistic; the band marks the
    central 95 %, flagged rows are red.
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    df = table.reset_index(drop=True)
    if df.empty:
        raise ImrBayesError("no published checks to plot")
    labels = [
        f"{o} {s}" + (f" {a}" if isinstance(a, str) else "")
        + ("" if pd.isna(t) else f" t{int(t)}")
        for o, s, a, t in zip(df["outcome"], df["statistic"], df["arm"], df["time"],
                              strict=True)
    ]
    fig, ax = plt.subplots(figsize=(6.5, 0.16 * len(df) + 1.2))
    y = np.arange(len(df))
    tail = (1 - CI_LEVEL) / 2
    ax.axvspan(tail, 1 - tail, color="#dde7f0")
    colors = np.where(df["flagged"].astype(bool), "#d1495b", "#2c5d8a")
    ax.scatter(df["percentile"], y, c=colors, s=12, zorder=3)
    ax.set_yticks(y, labels, fontsize=5)
    ax.set_xlim(-0.02, 1.02)
    ax.invert_yaxis()
    ax.set_xlabel("percentile of the published value in its posterior predictive distribution")
    fig.tight_layout()
    return fig


# ---------------------------------------------------------- checks of unfitted statistics
#: Columns of :func:`structure_checks`.
STRUCTURE_COLUMNS: tuple[str, ...] = (
    "statistic", "outcome", "arm", "time", "time_other", "n_observed", "observed",
    "ppc_mean", "ppc_low", "ppc_high", "percentile", "p_value", "flagged", "n_replicates",
)
#: Statistics of :func:`structure_checks`, none of which the model's parameters are fitted
#: to: ``sd`` per arm x follow-up time; ``correlation`` between two waves per arm;
#: ``floor_share`` / ``ceiling_share``: values at or beyond the scale's minimum / maximum
#: (within half a scale step of it, or past it: a replicated value below the floor is one
#: the instrument would have recorded at the floor), all times of an arm; ``group_icc``,
#: the within-IMR-group ICC of the IMR arm at each follow-up time (one-way ANOVA).
STRUCTURE_STATISTICS: tuple[str, ...] = (
    "sd", "correlation", "floor_share", "ceiling_share", "group_icc",
)
#: Wave pairs of the between-wave correlations.
WAVE_PAIRS: tuple[tuple[int, int], ...] = ((0, 1), (0, 2), (1, 2))


def _corr(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pearson correlation along the last axis (rows are data sets)."""
    a = a - a.mean(axis=-1, keepdims=True)
    b = b - b.mean(axis=-1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (a * b).sum(-1) / np.sqrt((a * a).sum(-1) * (b * b).sum(-1))


def anova_icc(y: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """One-way ANOVA intraclass correlation of clustered values, for many data sets.

    ``ICC = (MSB - MSW) / (MSB + (n0 - 1) MSW)`` with ``n0 = (N - sum n_j^2 / N) / (k - 1)``
    (unbalanced groups; Donner 1986). Not truncated at 0, so that its predictive
    distribution keeps its tails.

    Parameters
    ----------
    y : ndarray, shape (R, N)
        Values of N participants in R data sets.
    groups : ndarray of int, shape (N,)
        Cluster label of each participant.

    Returns
    -------
    ndarray, shape (R,)
    """
    labels, idx = np.unique(groups, return_inverse=True)
    k, n_total = len(labels), len(groups)
    if k < 2 or n_total <= k:
        return np.full(len(y), np.nan)
    onehot = np.zeros((n_total, k))
    onehot[np.arange(n_total), idx] = 1.0
    n_j = onehot.sum(axis=0)
    sums = y @ onehot
    means = sums / n_j
    grand = y.mean(axis=1, keepdims=True)
    ssb = (n_j * (means - grand) ** 2).sum(axis=1)
    ssw = (y**2).sum(axis=1) - (sums**2 / n_j).sum(axis=1)
    msb, msw = ssb / (k - 1), ssw / (n_total - k)
    n0 = (n_total - (n_j**2).sum() / n_total) / (k - 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (msb - msw) / (msb + (n0 - 1) * msw)


def structure_statistics(y: np.ndarray, treated: np.ndarray, outcome: str, *,
                         group_index: np.ndarray | None = None,
                         group_on: np.ndarray | None = None) -> dict[tuple, tuple]:
    """Compute the statistics of :func:`structure_checks` on many data sets at once.

    Parameters
    ----------
    y : ndarray, shape (R, P, T)
        Data sets with the same observed cells (NaN elsewhere).
    treated : ndarray, shape (P,)
    outcome : str
        Outcome code (its scale range and step define floor and ceiling).
    group_index, group_on : ndarray, optional
        IMR-group index per participant and the (P, T) indicator of the group effect
        (``constant_data`` of a fit); without them no ICC is computed.

    Returns
    -------
    dict
        ``(statistic, arm, time, time_other) -> (n, ndarray (R,))``.
    """
    o = outcome_registry.get(outcome)
    seen = np.isfinite(y[0])
    out: dict[tuple, tuple] = {}
    for arm in ARMS:
        on = treated > 0 if arm == "imr" else treated == 0
        for t in TIMES[1:]:
            cell = on & seen[:, t]
            n = int(cell.sum())
            out[("sd", arm, t, None)] = (n, y[:, cell, t].std(axis=1, ddof=1) if n > 1
                                         else np.full(len(y), np.nan))
        for s, t in WAVE_PAIRS:
            both = on & seen[:, s] & seen[:, t]
            n = int(both.sum())
            out[("correlation", arm, s, t)] = (
                n, _corr(y[:, both, s], y[:, both, t]) if n > 2 else np.full(len(y), np.nan))
        values = y[:, on, :][:, seen[on]]                           # (R, observed cells)
        n = values.shape[1]
        bounded = o.scale_min is not None and o.scale_max is not None and n > 0
        half = (o.step if o.step is not None else 0.0) / 2
        for name, sign in (("floor_share", 1.0), ("ceiling_share", -1.0)):
            if not bounded:
                out[(name, arm, None, None)] = (n, np.full(len(y), np.nan))
                continue
            bound = o.scale_min if sign > 0 else o.scale_max
            edge = bound + sign * half
            tol = 1e-9 * max(1.0, abs(bound))
            at = values <= edge + tol if sign > 0 else values >= edge - tol
            out[(name, arm, None, None)] = (n, at.mean(axis=1))
    if group_index is not None and group_on is not None:
        for t in TIMES[1:]:
            cell = (treated > 0) & seen[:, t] & (group_on[:, t] > 0)
            n = int(cell.sum())
            out[("group_icc", "imr", t, None)] = (
                n, anova_icc(y[:, cell, t], np.asarray(group_index)[cell]))
    return out


def structure_checks(fit: Any, *, draws: int | None = None, participants: str = "new",
                     seed: int | None = None, level: float = CI_LEVEL) -> pd.DataFrame:
    """Check statistics the model is not fitted to against their predictive distributions.

    Between-wave correlations per arm, arm x time SDs after baseline, the shares of values
    at the scale's floor and ceiling per arm, and the within-IMR-group ICC of the IMR arm at
    12 and 18 months (:data:`STRUCTURE_STATISTICS`), each on the observed data and on every
    replicated data set (:func:`replicate`, same missingness; by default new participants
    and new IMR groups, the mixed replication that checks the variance structure). Unlike
    the published statistics (means, differences, B), which the fixed effects are fitted to
    and which therefore cannot fail (``docs/ppc.md``), these can: a compound-symmetric
    Gaussian model predicts one correlation for every pair of waves, one residual SD for
    both arms, no pile-up at a floor, and an ICC set by its ``sigma_group``.

    Parameters
    ----------
    fit : BayesianFit
        A fit of the ITT builder (see :func:`replicate`).
    draws : int, optional
        Replicated data sets (evenly spaced posterior draws; default all).
    participants : {"new", "conditional"}
        See :func:`replicate` (``"new"`` also draws new IMR groups).
    seed : int, optional
    level : float
        Central predictive interval; ``flagged`` when the observed statistic lies outside it,
        i.e. the two-sided posterior predictive p (``p_value``) is below ``1 - level``.

    Returns
    -------
    pandas.DataFrame
        :data:`STRUCTURE_COLUMNS`: one row per statistic x arm x time (``time_other``: the
        second wave of a correlation; both NA for floor and ceiling shares). ``percentile``
        is the mid-rank share of replicates below the observed value. Outcomes without a
        known range give NaN shares (never flagged).
    """
    if not 0 < level < 1:
        raise ImrBayesError(f"level should be in (0, 1) but got {level!r}")
    yrep = replicate(fit, draws=draws, participants=participants, seed=seed)
    const = fit.idata["constant_data"]
    treated = const["treated"].to_numpy()
    mask = const["mask"].to_numpy() > 0
    y_obs = np.where(mask, fit.idata["observed_data"]["y"].to_numpy(), np.nan)
    groups = {k: const[k].to_numpy() for k in ("group_index", "group_on")
              if k in const.data_vars}
    kw = {"group_index": groups.get("group_index"), "group_on": groups.get("group_on")}
    obs = structure_statistics(y_obs[None], treated, fit.outcome, **kw)
    rep = structure_statistics(yrep, treated, fit.outcome, **kw)
    rows = []
    for key, (n, values) in rep.items():
        stat, arm, t, t2 = key
        value = float(obs[key][1][0])
        if np.all(np.isnan(values)) or not np.isfinite(value):
            summ = {"ppc_mean": np.nan, "ppc_low": np.nan, "ppc_high": np.nan,
                    "percentile": np.nan, "p_value": np.nan, "flagged": False}
        else:
            summ = _summary(values, value, level)
        rows.append({"statistic": stat, "outcome": fit.outcome, "arm": arm, "time": t,
                     "time_other": t2, "n_observed": n, "observed": value, **summ,
                     "n_replicates": int(len(yrep))})
    table = pd.DataFrame(rows, columns=list(STRUCTURE_COLUMNS))
    for col in ("time", "time_other"):
        table[col] = table[col].astype("Int64")
    return table


def plot_structure_checks(table: pd.DataFrame) -> Any:
    """Observed statistic against its replicated 95 % interval, one panel per statistic.

    Rows of :func:`structure_checks` (several outcomes or analyses may be stacked); bars are
    the central predictive intervals, ticks their means, dots the observed values (red:
    flagged).
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    df = table[np.isfinite(table["ppc_low"].astype(float))].reset_index(drop=True)
    if df.empty:
        raise ImrBayesError("no structure checks with a predictive distribution to plot")
    kinds = [k for k in STRUCTURE_STATISTICS if (df["statistic"] == k).any()]
    sizes = [int((df["statistic"] == k).sum()) for k in kinds]
    fig, axes = plt.subplots(len(kinds), 1, figsize=(6.5, 0.17 * sum(sizes) + 0.9 * len(kinds)),
                             gridspec_kw={"height_ratios": sizes}, squeeze=False)
    for ax, kind in zip(axes[:, 0], kinds, strict=True):
        sub = df[df["statistic"] == kind]
        y = np.arange(len(sub))
        labels = [
            f"{o} {a}" + ("" if pd.isna(t) else f" t{int(t)}")
            + ("" if pd.isna(t2) else f"-t{int(t2)}")
            + (f" [{an}]" if "analysis" in sub and isinstance(an, str) else "")
            for o, a, t, t2, an in zip(sub["outcome"], sub["arm"], sub["time"],
                                       sub["time_other"],
                                       sub["analysis"] if "analysis" in sub else [None] * len(sub),
                                       strict=True)]
        ax.hlines(y, sub["ppc_low"], sub["ppc_high"], color="#9db4cc", lw=4)
        ax.scatter(sub["ppc_mean"], y, marker="|", color="#2c5d8a", s=40, zorder=3)
        colors = np.where(sub["flagged"].astype(bool), "#d1495b", "#1b1b1b")
        ax.scatter(sub["observed"], y, c=colors, s=14, zorder=4)
        ax.set_yticks(y, labels, fontsize=5)
        ax.invert_yaxis()
        if kind.endswith("_share"):  # shares live on [0, 1]; keep 0 in view
            top = float(np.nanmax(np.r_[sub["ppc_high"], sub["observed"], 0.05]))
            ax.set_xlim(-0.02 * top, 1.08 * top)
        ax.set_title(kind.replace("_", " "), fontsize=7, loc="left")
        ax.tick_params(axis="x", labelsize=6)
    fig.tight_layout()
    return fig


# ------------------------------------------------------------------------------- LOO-PIT
#: Groups of a fit's LOO-PIT inputs (:func:`loo_pit_tree`).
LOO_PIT_GROUPS: tuple[str, ...] = ("posterior_predictive", "log_likelihood", "observed_data")


def loo_pit_tree(fit: Any) -> Any:
    """Return the ``y_cell`` groups of a fit, all that LOO-PIT needs (a small DataTree).

    ``y_cell`` exists in fits made with ``posterior_predictive=True``: each observed cell's
    replicate and log density given the participant effect drawn with it
    (``docs/models.md``). The tree also keeps the posterior's residual SD, from which ArviZ
    reads the sample dimensions and the relative efficiency.

    Raises
    ------
    ImrBayesError
        If the fit has no ``y_cell``.
    """
    import xarray as xr

    tree = fit.idata
    if "posterior_predictive" not in tree.children or \
            "y_cell" not in tree["posterior_predictive"].data_vars:
        raise ImrBayesError(
            f"LOO-PIT needs the per-observation y_cell of a linear mixed model fitted with "
            f"posterior_predictive=True; fit {fit.analysis}/{fit.outcome} has none")
    parts = {g: tree[g].to_dataset()[["y_cell"]] for g in LOO_PIT_GROUPS}
    post = tree["posterior"].to_dataset()
    parts["posterior"] = post[[v for v in ("sigma_residual",) if v in post.data_vars]
                              or list(post.data_vars)[:1]]
    return xr.DataTree.from_dict(parts)


def _pit_tree(data: Any) -> Any:
    return data if hasattr(data, "children") and "log_likelihood" in data.children \
        else loo_pit_tree(data)


def loo_pit(data: Any) -> Any:
    """Return the LOO-PIT value of every observed cell (``arviz_stats.loo_pit``, ``y_cell``).

    ``data`` is a fit made with ``posterior_predictive=True`` or its :func:`loo_pit_tree`.
    Under a calibrated model the values are close to uniform.
    """
    import arviz_stats as azs

    return azs.loo_pit(_pit_tree(data), var_names=["y_cell"])["y_cell"]


def plot_loo_pit(data: Any) -> Any:
    """ArviZ LOO-PIT ECDF-difference plot of the observed cells (Matplotlib figure).

    ``arviz_plots.plot_loo_pit`` on ``y_cell`` (``data``: a fit with ``y_cell`` or its
    :func:`loo_pit_tree`), with its simultaneous envelope and the p value of its uniformity
    test: an ECDF leaving the band says the predictive distributions of single observations
    are miscalibrated (above 0 on the left and below on the right: values pile up at 0
    and 1, predictive distributions too narrow; the reverse: too wide; one hump: biased).
    """
    import arviz_plots as azp

    pc = azp.plot_loo_pit(_pit_tree(data), var_names=["y_cell"], backend="matplotlib")
    fig = pc.viz["chart"] if "chart" in pc.viz.children else pc.viz["figure"]
    return fig.item() if hasattr(fig, "item") else fig


# ------------------------------------------------------- the AIC step inside each replicate
#: Columns of :func:`selection_checks`.
SELECTION_COLUMNS: tuple[str, ...] = (
    "outcome", "sample", "paper_kept", "observed_kept", "p_kept", "published", "observed",
    "ppc_mean", "ppc_low", "ppc_high", "percentile", "p_value", "flagged", "n_kept",
    "n_replicates", "source",
)
#: The paper's nested sequence of linear-time models (terms after the intercept).
SELECTION_SEQUENCE: tuple[str, ...] = ("time", "condition", "condition_x_time")


def gls_rss(y: np.ndarray, X: np.ndarray, ratio: float) -> tuple[np.ndarray, np.ndarray]:
    """GLS estimate and weighted residual sum of squares at a fixed variance ratio.

    As :func:`gls`, with ``RSS = sum_i (y_i - X_i b)' (I + ratio J)^-1 (y_i - X_i b)``,
    the quantity the profile (ML) likelihood of the random-intercept model depends on once
    the variance ratio is fixed.

    Returns
    -------
    (beta, rss) : ndarray (R, K), ndarray (R,)
    """
    y = np.asarray(y, dtype=float)
    mask = np.isfinite(y[0])
    m = mask.astype(float)
    Xm = X * m[:, :, None]
    y0 = np.where(mask[None], y, 0.0)
    c = ratio / (1.0 + m.sum(axis=1) * ratio)
    s = Xm.sum(axis=1)
    ysum = y0.sum(axis=2)
    A = np.einsum("ptk,ptl->kl", Xm, Xm) - np.einsum("p,pk,pl->kl", c, s, s)
    b = np.einsum("ptk,rpt->rk", Xm, y0) - np.einsum("p,pk,rp->rk", c, s, ysum)
    beta = np.linalg.solve(A, b.T).T
    ywy = (y0**2).sum(axis=(1, 2)) - (c[None] * ysum**2).sum(axis=1)
    return beta, ywy - (beta * b).sum(axis=1)


def aic_selection(y: np.ndarray, treated: np.ndarray, ratio: float
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Run the paper's AIC step (``rule="best"``) on many data sets at a fixed ratio.

    Fits the nested sequence intercept -> + time -> + condition -> + condition x time by
    GLS and chooses the lowest ``AIC_k = N log(RSS_k / N) + 2 p_k`` (ML profile likelihood
    at the fixed ratio; the log-determinant and the variance parameters are common to all
    models and drop out), the lowest k on ties, as
    :func:`imr_bayes.frequentist.stepwise.stepwise` does with refitted variance components.

    Returns
    -------
    (chosen, b_cxt) : ndarray of int (R,), ndarray (R,)
        Number of terms chosen after the intercept (3: condition x time kept) and the
        condition x time B of the full model.
    """
    n = float(np.isfinite(y[0]).sum())
    aic, b_full = [], None
    for k in range(len(SELECTION_SEQUENCE) + 1):
        terms = ("intercept", *SELECTION_SEQUENCE[:k])
        beta, rss = gls_rss(y, _design(treated, terms), ratio)
        aic.append(n * np.log(rss / n) + 2 * len(terms))
        b_full = beta[:, -1]
    return np.argmin(np.stack(aic, axis=1), axis=1), b_full


def selection_checks(fit: Any, *, draws: int | None = None, participants: str = "new",
                     seed: int | None = None, level: float = CI_LEVEL) -> pd.DataFrame:
    """Check Table 2/6's condition x time B with the AIC selection repeated per replicate.

    The paper printed a condition x time B only where its AIC step kept the term, so the
    printed B's are **post-selection** numbers. Here the selection is repeated on the
    observed data and on every replicated data set (:func:`aic_selection`, GLS at the REML
    variance ratio of the full model on the observed data, the approximation of
    :func:`gls`); ``p_kept`` is the share of replicates in which the term survives. Where the
    paper printed a B, it is compared with the predictive distribution of B **among the
    replicates that kept the term** (the post-selection predictive distribution); where it
    printed none, the row is flagged if nearly every replicate would have printed one
    (``p_kept`` above ``(1 + level) / 2``).

    Returns
    -------
    pandas.DataFrame
        :data:`SELECTION_COLUMNS`, one row per outcome of a fit of the ``itt`` or
        ``completers`` sample (empty otherwise).
    """
    if not 0 < level < 1:
        raise ImrBayesError(f"level should be in (0, 1) but got {level!r}")
    sample = published_sample(fit)
    if sample not in ("itt", "completers"):
        return pd.DataFrame(columns=list(SELECTION_COLUMNS))
    from imr_bayes import published

    const = fit.idata["constant_data"]
    treated = const["treated"].to_numpy()
    y_obs = np.where(const["mask"].to_numpy() > 0, fit.idata["observed_data"]["y"].to_numpy(),
                     np.nan)
    ratio = _variance_ratio(y_obs, treated, fit.outcome, "linear", SELECTION_SEQUENCE)
    yrep = replicate(fit, draws=draws, participants=participants, seed=seed)
    chosen_obs, b_obs = aic_selection(y_obs[None], treated, ratio)
    chosen, b = aic_selection(yrep, treated, ratio)
    kept = chosen == len(SELECTION_SEQUENCE)
    fe = published.fixed_effects(sample)
    row = fe[(fe["outcome"] == fit.outcome) & (fe["term"] == "condition_x_time")]
    printed = bool(len(row) and row["in_final_model"].astype(bool).iloc[0]
                   and pd.notna(row["b"].iloc[0]))
    value = float(row["b"].iloc[0]) if printed else np.nan
    tail = (1 - level) / 2
    p_kept = float(kept.mean())
    if printed and kept.any():
        summ = _summary(b[kept], value, level)
    else:
        summ = {"ppc_mean": np.nan, "ppc_low": np.nan, "ppc_high": np.nan,
                "percentile": np.nan, "p_value": np.nan,
                "flagged": bool(not printed and p_kept > 1 - tail)}
    out = pd.DataFrame([{
        "outcome": fit.outcome, "sample": sample, "paper_kept": printed,
        "observed_kept": bool(chosen_obs[0] == len(SELECTION_SEQUENCE)), "p_kept": p_kept,
        "published": value, "observed": float(b_obs[0]), **summ, "n_kept": int(kept.sum()),
        "n_replicates": int(len(yrep)),
        "source": row["source"].iloc[0] if len(row) else ""}], columns=list(SELECTION_COLUMNS))
    return out
