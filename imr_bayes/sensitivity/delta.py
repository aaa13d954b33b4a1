r"""Delta-adjustment (pattern-mixture) sensitivity analysis of the condition x time effect.

For every posterior draw ``s`` of a fitted ITT-type model (random participant intercept,
IMR-group and team effects, residual SDs: one, one per arm, or one per residual cell of the
partially nested model), the missing cells of the participant x time grid are imputed
from their conditional distribution given the participant's observed values (the conditional
Gaussian of the participant's block: ``u_i | y_obs`` then a fresh residual), and the
missing **follow-up** cells of the IMR arm (``arms="imr"``) or of both arms (``"both"``) are
shifted by ``delta`` pooled baseline SDs in the outcome's unfavourable direction.

Two analyses of the same completed data sets:

* **Bayesian.** Given the completed data and draw ``s``'s variance components and IMR-group
  effects, the fixed effects are drawn from their full conditional (Gaussian; the prior set's
  normal priors on the standardized scale are included). At ``delta = 0`` this is one Gibbs
  step of the MAR model's own sampler, so the draws keep the MAR posterior exactly (up to
  Monte Carlo error); at ``delta > 0`` they are the posterior of the analysis model refitted
  to the shifted completed data, averaged over the imputations.
* **Frequentist (Rubin's rules).** ``n_imputations`` of the completed data sets are analysed
  with the paper's LMM (random intercept, REML, no group effect). Completed data are
  balanced, so REML has a closed form (:func:`complete_data_lmm`: within/between strata,
  GLS = OLS); the estimates are pooled with :func:`rubin_pool` (Barnard-Rubin df).

Imputed values are not rounded to the scale's granularity or clipped to its range.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from imr_bayes.constants import CI_LEVEL
from imr_bayes.errors import ImrBayesError
from imr_bayes.outcomes import get as get_outcome
from imr_bayes.outcomes import unknown_choice_message

#: Default grid of delta (pooled baseline SDs, unfavourable direction): 0 to 2 by 0.1. Only
#: the missing 18-month values move a linear-time slope (docs/missing_data.md), about 10 %
#: of a trial arm, so tipping points lie beyond 1 SD for clear effects.
DEFAULT_DELTAS: tuple[float, ...] = tuple(round(0.1 * k, 1) for k in range(21))

#: Which arms' missing follow-ups are shifted.
ARM_CHOICES: tuple[str, ...] = ("imr", "both")

#: Columns of the table :func:`delta_adjust` returns, in order.
COLUMNS: tuple[str, ...] = (
    "outcome", "analysis", "estimand", "arms", "delta", "delta_raw", "sd", "direction",
    "n_shifted", "mean", "median", "eti95_low", "eti95_high", "mean_d", "p_benefit",
    "p_direction", "freq_estimate", "freq_se", "freq_ci_low", "freq_ci_high", "freq_df",
    "freq_p", "fmi", "n_draws", "n_imputations", "mar_mean", "mar_p_benefit", "beta_prior",
)


@dataclass(frozen=True)
class RubinResult:
    """Rubin's rules for one scalar estimand.

    Attributes
    ----------
    estimate : float
        Mean of the completed-data estimates.
    within, between, total : float
        Mean completed-data variance ``W``, between-imputation variance ``B``,
        total variance ``T = W + (1 + 1/M) B``.
    se : float
        ``sqrt(T)``.
    df : float
        Barnard-Rubin (1999) degrees of freedom (``inf`` without missing information).
    t, p : float
        ``estimate / se`` and its two-sided p-value on ``df``.
    riv : float
        Relative increase in variance ``(1 + 1/M) B / W``.
    lambda_ : float
        Proportion of the total variance due to missingness, ``(1 + 1/M) B / T``.
    fmi : float
        Fraction of missing information ``(riv + 2/(df + 3)) / (1 + riv)``.
    n_imputations : int
    """

    estimate: float
    within: float
    between: float
    total: float
    se: float
    df: float
    t: float
    p: float
    riv: float
    lambda_: float
    fmi: float
    n_imputations: int

    def ci(self, level: float = CI_LEVEL) -> tuple[float, float]:
        """Return the pooled ``level`` confidence interval on ``df``."""
        q = stats.t.ppf(0.5 + level / 2, self.df) if np.isfinite(self.df) else \
            stats.norm.ppf(0.5 + level / 2)
        return self.estimate - q * self.se, self.estimate + q * self.se


def rubin_pool(estimates: Sequence[float] | np.ndarray, variances: Sequence[float] | np.ndarray,
               *, df_complete: float = np.inf) -> RubinResult:
    """Pool completed-data estimates of one scalar with Rubin's rules.

    Parameters
    ----------
    estimates, variances : array-like, shape (M,)
        Completed-data estimates and their squared standard errors, ``M >= 2``.
    df_complete : float
        Degrees of freedom of the completed-data analysis (``inf``: large sample). The
        pooled df is the Barnard-Rubin small-sample df
        ``1 / (1/nu_old + 1/nu_obs)`` with ``nu_old = (M - 1) / lambda^2`` and
        ``nu_obs = (nu_com + 1) / (nu_com + 3) nu_com (1 - lambda)``.

    Returns
    -------
    RubinResult

    Raises
    ------
    ImrBayesError
        Fewer than two imputations, mismatched lengths, negative or non-finite variances.
    """
    q = np.asarray(estimates, dtype=float).ravel()
    u = np.asarray(variances, dtype=float).ravel()
    m = q.size
    if m < 2:
        raise ImrBayesError(f"Rubin's rules need at least 2 imputations, got {m}")
    if u.size != m:
        raise ImrBayesError(f"{m} estimates but {u.size} variances")
    if not (np.all(np.isfinite(q)) and np.all(np.isfinite(u)) and np.all(u >= 0)):
        raise ImrBayesError("estimates must be finite and variances finite and >= 0")
    if not df_complete > 0:
        raise ImrBayesError(f"df_complete must be > 0, got {df_complete}")
    qbar = float(q.mean())
    w = float(u.mean())
    b = float(q.var(ddof=1))
    total = w + (1 + 1 / m) * b
    lam = (1 + 1 / m) * b / total if total > 0 else 0.0
    riv = (1 + 1 / m) * b / w if w > 0 else np.inf
    if lam == 0:
        df = float(df_complete)
    else:
        nu_old = (m - 1) / lam**2
        if np.isfinite(df_complete):
            nu_obs = (df_complete + 1) / (df_complete + 3) * df_complete * (1 - lam)
            df = float(nu_old * nu_obs / (nu_old + nu_obs))
        else:
            df = float(nu_old)
    se = float(np.sqrt(total))
    t = qbar / se if se > 0 else np.inf * np.sign(qbar)
    p = float(2 * (stats.t.sf(abs(t), df) if np.isfinite(df) else stats.norm.sf(abs(t))))
    fmi = float((riv + 2 / (df + 3)) / (1 + riv)) if np.isfinite(riv) else 1.0
    return RubinResult(estimate=qbar, within=w, between=b, total=total, se=se, df=df,
                       t=float(t), p=p, riv=float(riv), lambda_=float(lam), fmi=fmi,
                       n_imputations=m)


@dataclass(frozen=True)
class CompleteDataFit:
    """REML fits of the random-intercept LMM to complete, balanced data sets.

    Attributes
    ----------
    beta : ndarray, shape (M, K)
    cov : ndarray, shape (M, K, K)
        Model-based covariance ``(sum_i X_i' V_i^-1 X_i)^-1`` at the REML variances.
    resid_var, participant_var : ndarray, shape (M,)
    df : ndarray, shape (M,)
        Denominator df of the within-participant terms (condition x time): the within
        stratum's residual df ``P (T - 1) - rank(X_within)``, which Satterthwaite's
        approximation gives exactly in a balanced design; the residual df ``P T - K``
        where the participant variance is on its boundary (0).
    """

    beta: np.ndarray
    cov: np.ndarray
    resid_var: np.ndarray
    participant_var: np.ndarray
    df: np.ndarray


def complete_data_lmm(y: np.ndarray, X: np.ndarray) -> CompleteDataFit:
    """Fit ``y_it = X_it' beta + u_i + e_it`` by REML to complete balanced data (closed form).

    With every participant observed at the same ``T`` times and an intercept in ``X``, the
    compound-symmetric covariance leaves the column space of ``X`` invariant, so GLS equals
    OLS, and REML splits into a within-participant stratum (estimates the residual variance)
    and a between-participant stratum (``resid_var + T participant_var``); the ANOVA
    estimators are the REML estimates while the participant variance is positive, and with
    a negative ANOVA estimate REML puts it on the boundary 0 and pools both strata.

    Parameters
    ----------
    y : ndarray, shape (M, P, T) or (P, T)
        ``M`` complete data sets (no NaN).
    X : ndarray, shape (P, T, K)
        Fixed-effect design, identical for every data set, with an intercept column.

    Returns
    -------
    CompleteDataFit
    """
    y = np.asarray(y, dtype=float)
    if y.ndim == 2:
        y = y[None]
    if not np.all(np.isfinite(y)):
        raise ImrBayesError("complete_data_lmm needs complete data (found NaN)")
    m, n_p, n_t = y.shape
    k = X.shape[2]
    Xf = X.reshape(n_p * n_t, k)
    yf = y.reshape(m, n_p * n_t)
    beta = np.linalg.lstsq(Xf, yf.T, rcond=None)[0].T                 # (M, K)
    resid = y - np.einsum("ptk,mk->mpt", X, beta)
    rbar = resid.mean(axis=2)                                          # (M, P)
    ss_within = ((resid - rbar[:, :, None]) ** 2).sum(axis=(1, 2))
    ss_between = n_t * (rbar**2).sum(axis=1)
    xbar = X.mean(axis=1)
    rank_b = np.linalg.matrix_rank(xbar)
    rank_w = np.linalg.matrix_rank((X - xbar[:, None, :]).reshape(n_p * n_t, k))
    df_w = n_p * (n_t - 1) - rank_w
    df_b = n_p - rank_b
    a = ss_within / df_w
    b = (ss_between / df_b - a) / n_t
    boundary = b <= 0
    a = np.where(boundary, (ss_within + ss_between) / (df_w + df_b), a)
    b = np.where(boundary, 0.0, b)
    c = b / (a + n_t * b)
    xtx = np.einsum("ptk,ptl->kl", X, X)
    sx = X.sum(axis=1)
    sxx = np.einsum("pk,pl->kl", sx, sx)
    prec = (xtx[None] - c[:, None, None] * sxx[None]) / a[:, None, None]
    cov = np.linalg.inv(prec)
    df = np.where(boundary, float(n_p * n_t - k), float(df_w))
    return CompleteDataFit(beta=beta, cov=cov, resid_var=a, participant_var=b, df=df)


@dataclass(frozen=True)
class _Posterior:
    """The pieces of a fitted ITT-type model the imputation needs (standardized scale)."""

    outcome: str
    analysis: str
    terms: tuple[str, ...]
    z: np.ndarray            # (P, T), 0 where missing
    mask: np.ndarray         # (P, T)
    X: np.ndarray            # (P, T, K)
    treated: np.ndarray      # (P,)
    scale: float
    beta: np.ndarray         # (S, K)
    offset: np.ndarray       # (S, P, T) group and team effects
    participant_var: np.ndarray  # (S,)
    cell_var: np.ndarray     # (S, P, T) residual variance of every cell
    prior_mean: np.ndarray   # (K,)
    prior_prec: np.ndarray   # (K,)
    beta_prior: str
    seed: int


_NEEDED_POSTERIOR = ("beta_std", "sigma_residual")
_NEEDED_CONSTANT = ("X", "mask", "treated", "scale")


def _flat(da) -> np.ndarray:
    return da.stack(sample=("chain", "draw")).transpose("sample", ...).to_numpy()


def _posterior_pieces(fit: Any) -> _Posterior:
    from imr_bayes.bayes.itt import conditional_pieces

    tree = fit.idata
    missing = [f"posterior/{v}" for v in _NEEDED_POSTERIOR
               if "posterior" not in tree or v not in tree["posterior"]]
    missing += [f"constant_data/{v}" for v in _NEEDED_CONSTANT
                if "constant_data" not in tree or v not in tree["constant_data"]]
    if "observed_data" not in tree:
        missing.append("observed_data/y")
    if missing:
        raise ImrBayesError(
            f"fit of analysis {getattr(fit, 'analysis', '?')!r} lacks {', '.join(missing)}; "
            "delta_adjust needs an ITT-type fit (itt, itt_categorical, completers, ...)")
    post = tree["posterior"].to_dataset()
    const = tree["constant_data"].to_dataset()
    y = tree["observed_data"]["y"].to_numpy().astype(float)
    terms = tuple(str(t) for t in const["X"].coords["term"].to_numpy())
    scale = float(const["scale"])
    center = float(const["center"]) if "center" in const else 0.0
    mask = const["mask"].to_numpy().astype(float)
    z = np.where(mask > 0, (y - center) / scale, 0.0)
    beta = _flat(post["beta_std"].sel(term=list(terms)))
    offset, cell_var, pvar = conditional_pieces(post, const)
    priors = json.loads(tree.attrs.get("priors", "{}"))
    prior_mean = np.zeros(len(terms))
    prior_prec = np.zeros(len(terms))
    kinds = set()
    for k, term in enumerate(terms):
        p = priors.get(term)
        if p is not None and p.get("dist") == "Normal":
            prior_mean[k] = float(p["kwargs"]["mu"])
            prior_prec[k] = 1.0 / float(p["kwargs"]["sigma"]) ** 2
            kinds.add("normal")
        else:
            kinds.add("flat")
    return _Posterior(
        outcome=str(fit.outcome), analysis=str(fit.analysis), terms=terms, z=z, mask=mask,
        X=const["X"].to_numpy().astype(float),
        treated=const["treated"].to_numpy().astype(float), scale=scale, beta=beta,
        offset=offset, participant_var=pvar, cell_var=cell_var, prior_mean=prior_mean,
        prior_prec=prior_prec, beta_prior="+".join(sorted(kinds)),
        seed=int(tree.attrs.get("seed", 0)),
    )


def _mean_std(p: _Posterior) -> np.ndarray:
    return np.einsum("ptk,sk->spt", p.X, p.beta) + p.offset


def impute_mar(p: _Posterior, rng: np.random.Generator) -> np.ndarray:
    """Complete the grid once per draw under MAR (standardized scale), shape (S, P, T).

    Given draw ``s``, a participant's values are ``mu + u_i + e_it`` with
    ``u_i ~ N(0, s_u^2)`` and ``e_it ~ N(0, d_it)``: ``u_i | y_obs ~ N(m_i, v_i)`` with
    ``v_i = 1 / (1/s_u^2 + sum_t 1/d_it)``, ``m_i = v_i sum_t r_it / d_it`` over the
    observed cells (``r`` the observed residuals from ``mu``), and each missing cell is
    ``mu + u_i + e`` with a fresh ``e``. Observed cells keep their values.
    """
    from imr_bayes.bayes.marginal import draw_participant_effects

    mu = _mean_std(p)
    u = draw_participant_effects(p.z[None] - mu, p.mask, p.cell_var, p.participant_var, rng)
    draw = mu + u[:, :, None] + np.sqrt(p.cell_var) * rng.standard_normal(mu.shape)
    return np.where(p.mask[None] > 0, p.z[None], draw)


def shift_cells(p: _Posterior, arms: str) -> np.ndarray:
    """Return the 0/1 grid (P, T) of missing follow-up cells that ``delta`` shifts."""
    follow_up = np.zeros_like(p.mask)
    follow_up[:, 1:] = 1.0
    arm = p.treated if arms == "imr" else np.ones_like(p.treated)
    return (1.0 - p.mask) * follow_up * arm[:, None]


def _conditional_beta(p: _Posterior, y: np.ndarray, shift: np.ndarray, normal: np.ndarray
                      ) -> tuple[np.ndarray, np.ndarray]:
    """Full-conditional draws of beta given completed data, as ``beta0 + delta * slope``.

    Given draw ``s``'s variance components and IMR-group and team effects ``g_i``, and
    completed data ``y - direction * delta * shift``, beta is Gaussian with precision
    ``sum_i X_i' V_i^-1 X_i + prior precision`` (``V_i = D_i + s_u^2 J``, ``D_i`` the
    diagonal of the cells' residual variances; Sherman-Morrison:
    ``V_i^-1 = D_i^-1 - c_i D_i^-1 1 1' D_i^-1``, ``c_i = s_u^2 / (1 + s_u^2 tr D_i^-1)``)
    and mean ``prec^-1 (sum_i X_i' V_i^-1 (y_i - g_i) + prior precision * prior mean)``.
    The mean is linear in the data, so the draws at every ``delta`` are
    ``beta0 + delta * slope`` with common noise ``normal``.

    Returns
    -------
    beta0 : ndarray, shape (S, K)
        Draws for the unshifted completed data ``y`` (S, P, T).
    slope : ndarray, shape (S, K)
        Change of the draws per unit of ``delta`` for a shift of +1 on ``shift`` cells
        (P, T); the caller multiplies by the outcome's unfavourable sign.
    """
    d = 1.0 / p.cell_var                                      # (S, P, T) precisions
    b = p.participant_var[:, None]
    c = b / (1.0 + b * d.sum(axis=2))                         # (S, P)
    r = y - p.offset
    dx = np.einsum("spt,ptk->spk", d, p.X)                    # (S, P, K)
    prec = (np.einsum("spt,ptk,ptl->skl", d, p.X, p.X)
            - np.einsum("sp,spk,spl->skl", c, dx, dx) + np.diag(p.prior_prec)[None])

    def xv(resid: np.ndarray) -> np.ndarray:
        """sum_i X_i' V_i^-1 resid_i for resid of shape (S, P, T) or (P, T)."""
        resid = np.broadcast_to(resid, d.shape)
        return (np.einsum("spt,ptk,spt->sk", d, p.X, resid)
                - np.einsum("sp,spk->sk", c * (d * resid).sum(axis=2), dx))

    rhs = xv(r) + (p.prior_prec * p.prior_mean)[None]
    chol = np.linalg.cholesky(prec)
    mean = np.linalg.solve(prec, rhs[:, :, None])[:, :, 0]
    # mean + L^-T n has covariance prec^-1
    noise = np.linalg.solve(np.swapaxes(chol, 1, 2), normal[:, :, None])[:, :, 0]
    slope = np.linalg.solve(prec, xv(shift)[:, :, None])[:, :, 0]
    return mean + noise, slope


def _check_deltas(deltas: Iterable[float]) -> np.ndarray:
    try:
        d = np.asarray(list(deltas), dtype=float)
    except (TypeError, ValueError) as exc:
        raise ImrBayesError(f"deltas must be numbers, got {deltas!r}") from exc
    if d.size == 0 or not np.all(np.isfinite(d)) or np.any(d < 0):
        raise ImrBayesError(
            f"deltas must be a non-empty set of finite values >= 0 (pooled baseline SDs in "
            f"the unfavourable direction), got {d.tolist()}")
    return np.unique(np.append(d, 0.0))


def delta_adjust(fit: Any, deltas: Iterable[float] = DEFAULT_DELTAS, *, arms: str = "imr",
                 n_imputations: int = 50, seed: int | None = None) -> pd.DataFrame:
    """Delta-adjusted (pattern-mixture) sensitivity of the condition x time effect.

    Parameters
    ----------
    fit : BayesianFit or iterable of BayesianFit
        ITT-type fits (``itt``, ``itt_categorical``, ...) from :func:`imr_bayes.fit`; one
        fit per outcome is reused for every ``delta``.
    deltas : iterable of float
        Shifts of the imputed missing follow-up values in pooled baseline SDs of the
        outcome (Table 1), in the **unfavourable** direction (lower for outcomes where
        higher is better, higher for BSI, ASI, ISMI). Values >= 0; ``0`` (MAR) is always
        added, so the table starts at the MAR analysis.
    arms : {"imr", "both"}
        Shift the missing follow-ups of the IMR arm only, or of both arms.
    n_imputations : int
        Completed data sets analysed with the frequentist LMM and pooled by Rubin's rules
        (the Bayesian posterior uses one imputation per posterior draw).
    seed : int, optional
        Seed of the imputations (default: the fit's seed). Imputations are shared across
        ``deltas`` (common random numbers), so the table is smooth in ``delta``.

    Returns
    -------
    pandas.DataFrame
        One row per outcome x ``delta`` x condition x time term, columns :data:`COLUMNS`:
        posterior ``mean``, ``median``, 95 % ETI (raw units), ``mean_d`` (per baseline SD),
        ``p_benefit``, ``p_direction``; Rubin-pooled ``freq_estimate``, ``freq_se``, 95 %
        CI, Barnard-Rubin ``freq_df``, two-sided ``freq_p``, ``fmi``; the MAR posterior of
        the fit itself (``mar_mean``, ``mar_p_benefit``); ``delta_raw`` = ``delta * sd``.

    Raises
    ------
    ImrBayesError
        Unknown ``arms``, bad ``deltas`` or ``n_imputations``, or a fit without the
        groups the imputation needs.
    """
    if arms not in ARM_CHOICES:
        raise ImrBayesError(unknown_choice_message("arms", arms, ARM_CHOICES))
    grid = _check_deltas(deltas)
    fits = [fit] if hasattr(fit, "idata") else list(fit)
    if not fits:
        raise ImrBayesError("delta_adjust needs at least one fit")
    if isinstance(n_imputations, bool) or not isinstance(n_imputations, (int, np.integer)) \
            or n_imputations < 2:
        raise ImrBayesError(f"n_imputations must be an integer >= 2, got {n_imputations!r}")
    return pd.DataFrame([row for f in fits
                         for row in _delta_rows(f, grid, arms, int(n_imputations), seed)],
                        columns=list(COLUMNS))


def _delta_rows(fit: Any, grid: np.ndarray, arms: str, n_imp: int, seed: int | None
                ) -> list[dict[str, Any]]:
    p = _posterior_pieces(fit)
    n_s = p.beta.shape[0]
    if n_imp > n_s:
        raise ImrBayesError(f"n_imputations={n_imp} exceeds the fit's {n_s} posterior draws")
    direction = get_outcome(p.outcome).direction
    rng = np.random.default_rng([p.seed if seed is None else int(seed), 10])
    base = impute_mar(p, rng)
    normal = rng.standard_normal(p.beta.shape)
    pick = np.sort(rng.choice(n_s, size=n_imp, replace=False))
    shift = shift_cells(p, arms)
    effect_terms = [t for t in p.terms if t.startswith("condition_x_time")]
    beta0, slope = _conditional_beta(p, base, shift, normal)
    rows = []
    for delta in grid:
        completed = base[pick] - direction * delta * shift[None]
        beta = beta0 - direction * delta * slope
        freq = complete_data_lmm(completed, p.X)
        for term in effect_terms:
            k = p.terms.index(term)
            draws = beta[:, k] * p.scale
            pooled = rubin_pool(freq.beta[:, k] * p.scale, freq.cov[:, k, k] * p.scale**2,
                                df_complete=float(np.median(freq.df)))
            lo, hi = np.quantile(draws, [(1 - CI_LEVEL) / 2, (1 + CI_LEVEL) / 2])
            ci_lo, ci_hi = pooled.ci()
            mar = p.beta[:, k] * p.scale
            rows.append({
                "outcome": p.outcome, "analysis": p.analysis, "estimand": term, "arms": arms,
                "delta": float(delta), "delta_raw": float(delta * p.scale), "sd": p.scale,
                "direction": direction, "n_shifted": int(shift.sum()),
                "mean": float(draws.mean()), "median": float(np.median(draws)),
                "eti95_low": float(lo), "eti95_high": float(hi),
                "mean_d": float(draws.mean() / p.scale),
                "p_benefit": float(np.mean(direction * draws > 0)),
                "p_direction": float(max(np.mean(draws > 0), np.mean(draws < 0))),
                "freq_estimate": pooled.estimate, "freq_se": pooled.se,
                "freq_ci_low": float(ci_lo), "freq_ci_high": float(ci_hi),
                "freq_df": pooled.df, "freq_p": pooled.p, "fmi": pooled.fmi,
                "n_draws": n_s, "n_imputations": n_imp, "mar_mean": float(mar.mean()),
                "mar_p_benefit": float(np.mean(direction * mar > 0)),
                "beta_prior": p.beta_prior,
            })
    return rows
