"""Generic linear mixed model engine with SPSS/lme4-style inference.

The (RE)ML optimum is found either natively (the profiled likelihood in lme4's
relative-Cholesky parameterisation, maximised by L-BFGS-B) or by statsmodels'
``MixedLM``; both are refined by the same tight Nelder-Mead polish. Everything printed by
SPSS MIXED and lme4 is then computed here from the estimates:

* the **model-based covariance** of the fixed effects ``(sum_i X_i' V_i^-1 X_i)^-1``
  (statsmodels' default ``bse_fe`` inverts the joint Hessian of fixed effects and variance
  parameters, which is 0.02-0.3 % larger under ML with unbalanced data);
* **Satterthwaite degrees of freedom** for each coefficient and for multi-df contrasts
  (SPSS MIXED's default; lmerTest's method for F tests), from the numerical Hessian of the
  (RE)ML log-likelihood in the variance parameters;
* the log-likelihood, AIC and BIC with lme4's/SPSS's parameter count (fixed effects +
  variance parameters + residual variance).

Problems (too few observations, rank-deficient design, singular fit, non-convergence)
give a ``status`` and warnings, never a traceback or a silent NaN.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from imr_bayes.constants import CI_LEVEL
from imr_bayes.errors import ImrBayesError
from imr_bayes.outcomes import unknown_choice_message

#: Ways to get the degrees of freedom of a t test / CI.
DF_METHODS: tuple[str, ...] = ("satterthwaite", "residual", "normal")

#: Who finds the (RE)ML optimum.
BACKENDS: tuple[str, ...] = ("native", "statsmodels")

#: Status values of a fit. ``ok`` and ``singular`` carry estimates; the others do not.
STATUSES: tuple[str, ...] = (
    "ok",
    "singular",
    "not_converged",
    "too_few_observations",
    "rank_deficient",
    "failed",
)

#: lme4's threshold on the relative Cholesky factor for a singular (boundary) fit.
SINGULAR_TOL: float = 1e-4

COEF_COLUMNS: tuple[str, ...] = (
    "term", "b", "se", "df", "t", "p", "ci_low", "ci_high", "se_statsmodels",
)


@dataclass(frozen=True)
class ContrastTest:
    """A (multi-df) Wald/F test of ``L beta = 0`` with Satterthwaite denominator df.

    Attributes
    ----------
    f : float
        F statistic ``(L b)' (L C L')^-1 (L b) / q``.
    num_df : int
        Number of rows of ``L`` (its rank).
    den_df : float
        Satterthwaite denominator df (lmerTest's eigen-decomposition method).
    p : float
        p value of the F test.
    chi2 : float
        Wald chi-square statistic (``q * f``).
    p_chi2 : float
        p value of the Wald chi-square test.
    """

    f: float
    num_df: int
    den_df: float
    p: float
    chi2: float
    p_chi2: float


@dataclass(frozen=True)
class MixedFit:
    """Result of one linear mixed model fit.

    Attributes
    ----------
    coefficients : pandas.DataFrame
        One row per fixed effect: ``term, b, se, df, t, p, ci_low, ci_high, se_statsmodels``.
        ``se`` is model-based; ``se_statsmodels`` is statsmodels' default ``bse_fe``.
    variance_components : pandas.DataFrame
        ``component, variance, sd`` (random-effect variances, covariances and the
        residual variance; ``sd`` holds the SD for variances and the correlation for
        covariances).
    cov_fe : pandas.DataFrame
        Model-based covariance matrix of the fixed effects.
    method : str
        ``"REML"`` or ``"ML"``.
    loglik, aic, bic : float
        (RE)ML log-likelihood and information criteria (``-2 loglik + 2 k``,
        ``-2 loglik + k log n``); for REML, ``-2 loglik`` is lme4's REML criterion.
    n_params : int
        ``k``: fixed effects + random-effect (co)variances + residual variance.
    n_obs, n_groups : int
        Rows used and number of groups (participants).
    converged : bool
        Whether the optimiser reported convergence.
    status : str
        One of :data:`STATUSES`.
    warnings : tuple of str
        Every warning raised or detected during the fit.
    df_method : str
        How ``df`` was obtained (one of :data:`DF_METHODS`).
    """

    coefficients: pd.DataFrame
    variance_components: pd.DataFrame
    cov_fe: pd.DataFrame
    method: str
    loglik: float
    aic: float
    bic: float
    n_params: int
    n_obs: int
    n_groups: int
    converged: bool
    status: str
    warnings: tuple[str, ...]
    df_method: str
    _engine: _Engine | None = field(default=None, repr=False, compare=False)

    @property
    def ok(self) -> bool:
        """True if the fit carries estimates (status ``ok`` or ``singular``)."""
        return self.status in ("ok", "singular")

    @property
    def warning_text(self) -> str:
        """All warnings joined by ``"; "`` (empty string if none)."""
        return "; ".join(self.warnings)

    def contrast(self, weights: pd.DataFrame | np.ndarray) -> ContrastTest:
        """Test ``L beta = 0`` (F with Satterthwaite denominator df, and Wald chi-square).

        Parameters
        ----------
        weights : DataFrame or array, shape (q, p)
            Contrast matrix ``L``; a DataFrame's columns are matched to term names.

        Returns
        -------
        ContrastTest
        """
        if self._engine is None:
            raise ImrBayesError(f"no estimates to test: the fit's status is {self.status!r}")
        terms = list(self.coefficients["term"])
        if isinstance(weights, pd.DataFrame):
            unknown = [c for c in weights.columns if c not in terms]
            if unknown:
                raise ImrBayesError(unknown_choice_message("term", unknown[0], terms))
            L = weights.reindex(columns=terms, fill_value=0.0).to_numpy(float)
        else:
            L = np.atleast_2d(np.asarray(weights, float))
        b = self.coefficients["b"].to_numpy(float)
        return self._engine.contrast_test(L, b)

    def linear_combination(self, weights: np.ndarray) -> tuple[float, float, float]:
        """Estimate, model-based SE and Satterthwaite df of ``w' beta`` (one row)."""
        if self._engine is None:
            raise ImrBayesError(f"no estimates: the fit's status is {self.status!r}")
        w = np.asarray(weights, float)
        b = self.coefficients["b"].to_numpy(float)
        est = float(w @ b)
        var = float(w @ self._engine.cov @ w)
        df = self._engine.df_for(w[None, :], self.df_method)[0]
        return est, float(np.sqrt(var)), float(df)


class _Engine:
    """Profiled (RE)ML likelihood and model-based covariance for given variance parameters.

    Works on per-group cross-products (Woodbury identity), so no n_i x n_i matrix is ever
    inverted and no inverse of the random-effect covariance is needed (boundary fits work).
    """

    def __init__(self, y: np.ndarray, X: np.ndarray, Z: np.ndarray, codes: np.ndarray,
                 n_groups: int, reml: bool):
        self.reml = reml
        self.n, self.p = X.shape
        self.q = Z.shape[1]
        G = n_groups

        def cross(A: np.ndarray, B: np.ndarray) -> np.ndarray:
            out = np.zeros((G, A.shape[1], B.shape[1]))
            np.add.at(out, codes, A[:, :, None] * B[:, None, :])
            return out

        self.XtX = cross(X, X)
        self.XtZ = cross(X, Z)
        self.ZtZ = cross(Z, Z)
        y2 = y[:, None]
        self.Xty = cross(X, y2)[:, :, 0]
        self.Zty = cross(Z, y2)[:, :, 0]
        self.yty = cross(y2, y2)[:, 0, 0]
        self.n_i = np.bincount(codes, minlength=G).astype(float)
        self._xtx_sum = self.XtX.sum(0)
        self._xty_sum = self.Xty.sum(0)
        self._yty_sum = float(self.yty.sum())
        self._ztz1 = self.ZtZ[:, 0, 0]
        self._xz1 = self.XtZ[:, :, 0]
        self._zy1 = self.Zty[:, 0]
        self.tril = np.tril_indices(self.q)
        self.theta: np.ndarray | None = None
        self.cov: np.ndarray | None = None
        self.vcov_theta: np.ndarray | None = None
        self.dcov: np.ndarray | None = None

    # -- parameterisation: theta = (lower triangle of Psi, row-major; sigma^2)
    def unpack(self, theta: np.ndarray) -> tuple[np.ndarray, float]:
        psi = np.zeros((self.q, self.q))
        psi[self.tril] = theta[:-1]
        psi = psi + np.tril(psi, -1).T
        return psi, float(theta[-1])

    def pack(self, psi: np.ndarray, s2: float) -> np.ndarray:
        return np.concatenate([psi[self.tril], [s2]])

    def _pieces(self, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray, float, float]:
        """``X'V^-1X``, ``X'V^-1y``, ``y'V^-1y`` and ``log|V|`` at ``theta``."""
        if self.q == 1:  # random intercept: scalar per group, no batched linear algebra
            tau2, s2 = float(theta[0]), float(theta[1])
            a = s2 + tau2 * self._ztz1
            if s2 <= 0 or np.any(a <= 0):
                return self._xtx_sum / s2, self._xty_sum / s2, np.nan, np.nan
            m = tau2 / a
            xzm = self._xz1 * m[:, None]
            xvx = (self._xtx_sum - xzm.T @ self._xz1) / s2
            xvy = (self._xty_sum - xzm.T @ self._zy1) / s2
            yvy = (self._yty_sum - np.sum(m * self._zy1**2)) / s2
            logdet_v = float(np.sum(self.n_i - 1) * np.log(s2) + np.sum(np.log(a)))
            return xvx, xvy, float(yvy), logdet_v
        psi, s2 = self.unpack(theta)
        eye = np.eye(self.q)
        A = s2 * eye + psi @ self.ZtZ            # (G, q, q) = s2 I + Psi Z'Z
        K = np.linalg.inv(A)
        M = K @ psi                              # (G, q, q): V^-1 = (I - Z M Z')/s2
        ZtX = np.swapaxes(self.XtZ, 1, 2)
        xvx = (self.XtX - self.XtZ @ M @ ZtX).sum(0) / s2
        xvy = (self.Xty - np.einsum("gpq,gqr,gr->gp", self.XtZ, M, self.Zty)).sum(0) / s2
        yvy = (self.yty - np.einsum("gq,gqr,gr->g", self.Zty, M, self.Zty)).sum() / s2
        sign, logdet_a = np.linalg.slogdet(A)
        if np.any(sign <= 0) or s2 <= 0:
            return xvx, xvy, yvy, np.nan
        logdet_v = float(np.sum(self.n_i - self.q) * np.log(s2) + logdet_a.sum())
        return xvx, xvy, yvy, logdet_v

    def loglik(self, theta: np.ndarray) -> float:
        xvx, xvy, yvy, logdet_v = self._pieces(theta)
        if not np.isfinite(logdet_v):
            return np.nan
        beta = np.linalg.solve(xvx, xvy)
        rvr = yvy - beta @ xvy
        if self.reml:
            sign, logdet_x = np.linalg.slogdet(xvx)
            return float(-0.5 * ((self.n - self.p) * np.log(2 * np.pi) + logdet_v
                                 + logdet_x + rvr))
        return float(-0.5 * (self.n * np.log(2 * np.pi) + logdet_v + rvr))

    def cov_beta(self, theta: np.ndarray) -> np.ndarray:
        xvx = self._pieces(theta)[0]
        return np.linalg.inv(xvx)

    def polish(self, psi: np.ndarray, s2: float) -> tuple[np.ndarray, float]:
        """Refine an optimum on the (RE)ML likelihood (tight tolerance).

        statsmodels (and L-BFGS-B) stop at a gradient tolerance that leaves the fixed
        effects ~1e-5 (relative) from the optimum lme4 reports; a Nelder-Mead pass in the Cholesky
        parameterisation ``Psi = s2 L L'`` and ``log s2`` closes that gap. The refined
        point is kept only if its log-likelihood is at least as high.
        """
        from scipy.optimize import minimize

        eye = np.eye(self.q)
        try:
            L0 = np.linalg.cholesky(psi / s2 + 1e-12 * eye)
        except np.linalg.LinAlgError:
            return psi, s2

        def to_theta(x: np.ndarray) -> np.ndarray:
            L = np.zeros((self.q, self.q))
            L[self.tril] = x[:-1]
            s = np.exp(x[-1])
            return self.pack(s * L @ L.T, s)

        def objective(x: np.ndarray) -> float:
            val = self.loglik(to_theta(x))
            return -val if np.isfinite(val) else np.inf

        x0 = np.concatenate([L0[self.tril], [np.log(s2)]])
        f0 = objective(x0)
        res = minimize(objective, x0, method="Nelder-Mead",
                       options={"xatol": 1e-9, "fatol": 1e-11, "maxiter": 4000,
                                "maxfev": 8000})
        if np.isfinite(res.fun) and res.fun <= f0:
            return self.unpack(to_theta(res.x))
        return psi, s2

    def profiled_deviance(self, x: np.ndarray) -> float:
        """-2 log-likelihood with sigma^2 and beta profiled out (lme4's objective).

        ``x`` holds the lower triangle of the relative Cholesky factor ``Lambda``
        (``Psi = sigma^2 Lambda Lambda'``).
        """
        lam = np.zeros((self.q, self.q))
        lam[self.tril] = x
        rel = lam @ lam.T
        xhx, xhy, yhy, logdet_h = self._pieces(self.pack(rel, 1.0))
        if not np.isfinite(logdet_h):
            return np.inf
        try:
            beta = np.linalg.solve(xhx, xhy)
        except np.linalg.LinAlgError:
            return np.inf
        rhr = yhy - beta @ xhy
        if self.reml:
            dof = self.n - self.p
            logdet_x = np.linalg.slogdet(xhx)[1]
            return float(dof * np.log(2 * np.pi * rhr / dof) + logdet_h + logdet_x + dof)
        return float(self.n * np.log(2 * np.pi * rhr / self.n) + logdet_h + self.n)

    def optimize(self, max_iter: int = 500) -> tuple[np.ndarray, float, bool, str]:
        """Maximise the profiled (RE)ML likelihood over Lambda (its diagonal >= 0).

        One random effect: bounded Brent search; several: L-BFGS-B (then the
        Nelder-Mead :meth:`polish`).

        Returns ``Psi``, ``sigma^2``, whether the optimiser converged, and its message.
        """
        if self.q == 1:  # one relative SD: bounded Brent search to ~1e-10
            from scipy.optimize import minimize_scalar

            res = minimize_scalar(lambda v: self.profiled_deviance(np.array([v])),
                                  bounds=(0.0, 1e3), method="bounded",
                                  options={"xatol": 1e-10, "maxiter": max_iter})
            x = np.array([float(res.x)])
            success, message = bool(res.success), str(res.message)
        else:
            x, success, message = self._optimize_lbfgsb(max_iter)
        lam = np.zeros((self.q, self.q))
        lam[self.tril] = x
        rel = lam @ lam.T
        xhx, xhy, yhy, _ = self._pieces(self.pack(rel, 1.0))
        beta = np.linalg.solve(xhx, xhy)
        rhr = yhy - beta @ xhy
        s2 = float(rhr / (self.n - self.p if self.reml else self.n))
        return s2 * rel, s2, success and np.isfinite(s2), message

    def _optimize_lbfgsb(self, max_iter: int) -> tuple[np.ndarray, bool, str]:
        from scipy.optimize import minimize

        diag = {i * (i + 1) // 2 + i for i in range(self.q)}
        x0 = np.array([1.0 if k in diag else 0.0 for k in range(self.tril[0].size)])
        bounds = [(0.0, None) if k in diag else (None, None) for k in range(x0.size)]
        res = minimize(self.profiled_deviance, x0, method="L-BFGS-B", bounds=bounds,
                       options={"ftol": 1e-13, "gtol": 1e-9, "maxiter": max_iter})
        return res.x, bool(res.success) and bool(np.isfinite(res.fun)), str(res.message)

    def gls_beta(self, theta: np.ndarray) -> np.ndarray:
        """Generalised least-squares fixed effects at the variance parameters ``theta``."""
        xvx, xvy = self._pieces(theta)[:2]
        return np.linalg.solve(xvx, xvy)

    def set_estimates(self, psi: np.ndarray, s2: float, satterthwaite: bool = True) -> list[str]:
        """Store theta-hat, the model-based covariance and what Satterthwaite needs."""
        problems: list[str] = []
        theta = self.pack(psi, s2)
        self.theta = theta
        self.cov = self.cov_beta(theta)
        if not satterthwaite:
            return problems
        k = theta.size
        h = 1e-4 * np.maximum(np.abs(theta), 1e-3 * s2)
        # d cov / d theta_k by central differences
        dcov = np.empty((k, self.p, self.p))
        for j in range(k):
            e = np.zeros(k)
            e[j] = h[j]
            dcov[j] = (self.cov_beta(theta + e) - self.cov_beta(theta - e)) / (2 * h[j])
        # Hessian of the log-likelihood in theta
        f0 = self.loglik(theta)
        hess = np.empty((k, k))
        for i in range(k):
            for j in range(i, k):
                ei = np.zeros(k)
                ej = np.zeros(k)
                ei[i] = h[i]
                ej[j] = h[j]
                if i == j:
                    val = (self.loglik(theta + ei) - 2 * f0 + self.loglik(theta - ei)) / h[i] ** 2
                else:
                    val = (self.loglik(theta + ei + ej) - self.loglik(theta + ei - ej)
                           - self.loglik(theta - ei + ej) + self.loglik(theta - ei - ej)) / (
                        4 * h[i] * h[j])
                hess[i, j] = hess[j, i] = val
        if not np.all(np.isfinite(hess)):
            problems.append("Satterthwaite df unavailable (variance parameters on the "
                            "boundary); residual df used")
            return problems
        try:
            vcov = np.linalg.inv(-hess)
        except np.linalg.LinAlgError:
            problems.append("Satterthwaite df unavailable (singular information matrix); "
                            "residual df used")
            return problems
        self.vcov_theta = vcov
        self.dcov = dcov
        return problems

    def _sat_df(self, w: np.ndarray) -> float:
        var = float(w @ self.cov @ w)
        g = np.einsum("p,kpr,r->k", w, self.dcov, w)
        denom = float(g @ self.vcov_theta @ g)
        if not np.isfinite(denom) or denom <= 0:
            return np.nan
        return 2 * var**2 / denom

    def df_for(self, L: np.ndarray, method: str) -> np.ndarray:
        resid = float(self.n - self.p)
        if method == "normal":
            return np.full(L.shape[0], np.inf)
        if method == "residual" or self.dcov is None:
            return np.full(L.shape[0], resid)
        out = np.array([self._sat_df(w) for w in L])
        # a non-finite Satterthwaite df (degenerate direction) falls back to residual df
        return np.where(np.isfinite(out), np.minimum(out, resid), resid)

    def contrast_test(self, L: np.ndarray, b: np.ndarray) -> ContrastTest:
        VL = L @ self.cov @ L.T
        est = L @ b
        chi2 = float(est @ np.linalg.solve(VL, est))
        q = int(np.linalg.matrix_rank(VL))
        f = chi2 / q
        if self.dcov is None:
            ddf = float(self.n - self.p)
        else:
            d, P = np.linalg.eigh(VL)
            nus = np.array([self._sat_df(P[:, m] @ L) for m in range(L.shape[0])])
            if q == 1:
                ddf = float(nus[-1])
            else:
                good = nus > 2
                E = float(np.sum(nus[good] / (nus[good] - 2)))
                ddf = 2 * E / (E - q) if E > q else float(np.min(nus))
        return ContrastTest(
            f=f, num_df=q, den_df=ddf, p=float(stats.f.sf(f, q, ddf)),
            chi2=chi2, p_chi2=float(stats.chi2.sf(chi2, q)),
        )


def _empty_fit(terms: list[str], status: str, problems: list[str], method: str, n_obs: int,
               n_groups: int, df_method: str, n_params: int) -> MixedFit:
    coefs = pd.DataFrame({c: np.nan for c in COEF_COLUMNS[1:]}, index=range(len(terms)))
    coefs.insert(0, "term", terms)
    return MixedFit(
        coefficients=coefs,
        variance_components=pd.DataFrame(columns=["component", "variance", "sd"]),
        cov_fe=pd.DataFrame(np.nan, index=terms, columns=terms),
        method=method, loglik=np.nan, aic=np.nan, bic=np.nan, n_params=n_params,
        n_obs=n_obs, n_groups=n_groups, converged=False, status=status,
        warnings=tuple(problems), df_method=df_method,
    )


def fit_mixed(
    y: pd.Series | np.ndarray,
    exog: pd.DataFrame,
    groups: pd.Series | np.ndarray,
    *,
    exog_re: pd.DataFrame | None = None,
    reml: bool = True,
    df_method: str = "satterthwaite",
    level: float = CI_LEVEL,
    backend: str = "native",
    max_iter: int = 500,
    inference: bool = True,
) -> MixedFit:
    """Fit ``y = X beta + Z_i b_i + e`` and report SPSS/lme4-style inference.

    Parameters
    ----------
    y : array-like, shape (n,)
        Outcome; rows with a missing value in ``y`` or ``exog`` are dropped.
    exog : DataFrame, shape (n, p)
        Fixed-effects design, including the intercept column; its column names become the
        ``term`` names.
    groups : array-like, shape (n,)
        Group (participant) labels.
    exog_re : DataFrame, optional
        Random-effects design ``Z`` (default: a random intercept).
    reml : bool
        REML (default) or ML.
    df_method : {"satterthwaite", "residual", "normal"}
        Degrees of freedom of the t tests and CIs: Satterthwaite (SPSS MIXED's default),
        ``n - p``, or the normal distribution.
    level : float
        CI level (default :data:`imr_bayes.constants.CI_LEVEL`).
    backend : {"native", "statsmodels"}
        Who finds the optimum: ``native`` maximises the profiled likelihood directly
        (lme4's parameterisation; ~100x faster on the trial's data), ``statsmodels`` runs
        ``MixedLM.fit``. Both are refined by the same Nelder-Mead polish and give the
        same inference; ``se_statsmodels`` is only filled by the statsmodels backend.
    max_iter : int
        Iteration limit of the native optimiser; a fit that hits it gets status
        ``not_converged``.
    inference : bool
        Compute Satterthwaite df (default). ``False`` skips the numerical derivatives
        (for AIC comparisons that only need the likelihood); ``df`` is then ``n - p``
        and ``df_method`` says ``"residual"``. The derivatives are also skipped when
        ``df_method`` is not ``"satterthwaite"`` (F contrasts then use ``n - p``).

    Returns
    -------
    MixedFit
    """
    if backend not in BACKENDS:
        raise ImrBayesError(unknown_choice_message("backend", backend, BACKENDS))
    if df_method not in DF_METHODS:
        raise ImrBayesError(unknown_choice_message("df_method", df_method, DF_METHODS))
    if not 0 < level < 1:
        raise ImrBayesError(f"level should be in (0, 1) but got {level!r}")
    method = "REML" if reml else "ML"
    exog = pd.DataFrame(exog).reset_index(drop=True).astype(float)
    terms = list(exog.columns)
    yv = pd.Series(np.asarray(y, dtype=float))
    gv = pd.Series(np.asarray(groups))
    if exog_re is None:
        exog_re = pd.DataFrame({"Intercept": np.ones(len(exog))})
    exog_re = pd.DataFrame(exog_re).reset_index(drop=True).astype(float)
    keep = (yv.notna() & exog.notna().all(axis=1) & exog_re.notna().all(axis=1)
            & gv.notna()).to_numpy()
    yv, gv, X, Z = yv[keep], gv[keep], exog[keep], exog_re[keep]
    n, p, q = len(yv), X.shape[1], Z.shape[1]
    n_params = p + q * (q + 1) // 2 + 1
    codes, uniques = pd.factorize(gv)
    n_groups = len(uniques)

    def empty(status: str, problems: list[str]) -> MixedFit:
        return _empty_fit(terms, status, problems, method, n, n_groups, df_method, n_params)

    if n_groups < 2 or n <= n_params or n <= n_groups:
        return empty("too_few_observations", [
            f"too few observations: {n} rows in {n_groups} groups for {n_params} parameters"])
    Xa = X.to_numpy()
    rank = np.linalg.matrix_rank(Xa)
    if rank < p:
        const = [t for t in terms if np.ptp(X[t].to_numpy()) == 0 and t != terms[0]]
        detail = f" (constant columns: {', '.join(const)})" if const else ""
        return empty("rank_deficient", [
            f"fixed-effects design has rank {rank} < {p} columns{detail}"])

    problems: list[str] = []
    engine = _Engine(yv.to_numpy(), Xa, Z.to_numpy(), codes, n_groups, reml)
    se_sm = np.full(p, np.nan)
    if backend == "statsmodels":
        try:
            psi, s2, converged, se_sm, msgs = _statsmodels_fit(yv.to_numpy(), Xa, codes,
                                                               Z.to_numpy(), reml)
        except (np.linalg.LinAlgError, ValueError) as exc:
            return empty("failed", [f"statsmodels MixedLM failed: {exc}"])
        problems += msgs
    else:
        with np.errstate(all="ignore"):
            psi, s2, converged, msg = engine.optimize(max_iter)
        if not converged:
            problems.append(f"optimiser did not converge: {msg}")
    if not (np.isfinite(s2) and s2 > 0 and np.all(np.isfinite(psi))):
        return empty("failed", [*problems, "non-finite or zero variance estimates"])
    if converged and (backend == "statsmodels" or q > 1):
        with np.errstate(all="ignore"):
            psi, s2 = engine.polish(psi, s2)
    beta = engine.gls_beta(engine.pack(psi, s2))
    # singular fit: relative Cholesky factor (lme4's theta) with a ~0 diagonal element
    try:
        rel = np.linalg.cholesky(psi / s2 + 1e-14 * np.eye(q))
        singular = bool(np.min(np.abs(np.diag(rel))) < SINGULAR_TOL)
    except np.linalg.LinAlgError:
        singular = True
    if singular:
        problems.append("singular fit: a random-effect variance is estimated at ~0 "
                        "(boundary of the parameter space)")
    with np.errstate(all="ignore"):
        problems += engine.set_estimates(
            psi, s2, satterthwaite=inference and df_method == "satterthwaite")
    if not inference and df_method == "satterthwaite":
        df_method = "residual"
    status = "ok" if converged else "not_converged"
    if converged and singular:
        status = "singular"
    cov = engine.cov
    se = np.sqrt(np.diag(cov))
    df = engine.df_for(np.eye(p), df_method)
    tval = beta / se
    pval = 2 * stats.t.sf(np.abs(tval), df)
    crit = stats.t.ppf(0.5 + level / 2, df)
    coefs = pd.DataFrame({
        "term": terms, "b": beta, "se": se, "df": df, "t": tval, "p": pval,
        "ci_low": beta - crit * se, "ci_high": beta + crit * se,
        "se_statsmodels": se_sm,
    })
    ll = engine.loglik(engine.theta)
    vc_rows = []
    re_names = list(Z.columns)
    for i in range(q):
        for j in range(i + 1):
            if i == j:
                vc_rows.append((f"group {re_names[i]}", psi[i, i], np.sqrt(max(psi[i, i], 0))))
            else:
                denom = np.sqrt(psi[i, i] * psi[j, j])
                corr = psi[i, j] / denom if denom > 0 else np.nan
                vc_rows.append((f"group cov({re_names[j]}, {re_names[i]})", psi[i, j], corr))
    vc_rows.append(("residual", s2, np.sqrt(s2)))
    return MixedFit(
        coefficients=coefs,
        variance_components=pd.DataFrame(vc_rows, columns=["component", "variance", "sd"]),
        cov_fe=pd.DataFrame(cov, index=terms, columns=terms),
        method=method, loglik=ll, aic=-2 * ll + 2 * n_params,
        bic=-2 * ll + n_params * np.log(n), n_params=n_params, n_obs=n, n_groups=n_groups,
        converged=converged, status=status, warnings=tuple(problems), df_method=df_method,
        _engine=engine,
    )


def _statsmodels_fit(y: np.ndarray, X: np.ndarray, codes: np.ndarray, Z: np.ndarray,
                     reml: bool) -> tuple[np.ndarray, float, bool, np.ndarray, list[str]]:
    """Run statsmodels ``MixedLM``; return Psi, sigma^2, converged, default SEs, warnings."""
    import statsmodels.api as sm

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = sm.MixedLM(y, X, groups=codes, exog_re=Z).fit(reml=reml)
    msgs: list[str] = []
    for w in caught:
        msg = str(w.message).strip()
        if msg and msg not in msgs and not issubclass(w.category, DeprecationWarning):
            msgs.append(msg)
    psi = np.atleast_2d(np.asarray(res.cov_re, float))
    return psi, float(res.scale), bool(res.converged), np.asarray(res.bse_fe, float), msgs


def fit_formula(
    data: pd.DataFrame,
    formula: str,
    *,
    groups: str,
    re_formula: str | None = None,
    reml: bool = True,
    df_method: str = "satterthwaite",
    backend: str = "native",
) -> MixedFit:
    """Fit a mixed model from a patsy formula (any long data set, e.g. BtheB, sleepstudy).

    Parameters
    ----------
    data : DataFrame
        Long data.
    formula : str
        Fixed part, e.g. ``"bdi ~ bdi_pre + time + treatment"``. Terms keep patsy's names
        (``"Intercept"``, ``"treatment[T.BtheB]"``).
    groups : str
        Grouping column.
    re_formula : str, optional
        Random part, e.g. ``"~Days"`` (default: random intercept).
    reml, df_method, backend
        As in :func:`fit_mixed`.

    Returns
    -------
    MixedFit
    """
    import patsy

    if groups not in data.columns:
        raise ImrBayesError(unknown_choice_message("groups column", groups, list(data.columns)))
    frame = data.reset_index(drop=True)
    try:
        y, X = patsy.dmatrices(formula, frame, return_type="dataframe", NA_action="drop")
        Z = (patsy.dmatrix(re_formula, frame.loc[X.index], return_type="dataframe")
             if re_formula else None)
    except patsy.PatsyError as exc:
        raise ImrBayesError(f"bad formula {formula!r}: {exc}") from None
    return fit_mixed(y.iloc[:, 0], X, frame.loc[X.index, groups], exog_re=Z, reml=reml,
                     df_method=df_method, backend=backend)
