"""Posterior indices on draws: direction, benefit, ROPE, Savage–Dickey Bayes factor, agreement.

Every index takes posterior draws as a NumPy array (any shape: all values are pooled draws)
or an ``xarray.DataArray``. For a DataArray the sample dimensions present among
``("chain", "draw", "sample")`` are reduced and every other dimension is kept, so
``p_direction(idata.posterior["b"])`` returns one value per coefficient; without any of
those dimensions all dimensions are reduced. NumPy input gives a ``float``.

Definitions, thresholds, the d convention (d = the effect at 18 months divided by the
outcome's pooled Table 1 baseline SD), the test prior of BF10 and the agreement rule are
written down in ``docs/indices.md``.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import xarray as xr
from scipy import stats

from imr_bayes.constants import CI_LEVEL
from imr_bayes.errors import ImrBayesError
from imr_bayes.outcomes import unknown_choice_message

#: Half-width of the region of practical equivalence, in baseline SDs of the outcome
#: (bayestestR's default of 0.1 SD, i.e. half of Cohen's "small" effect).
ROPE_D: float = 0.1
#: Smallest standardized effect called clinically important (Cohen's "small", d = 0.2).
CLINICALLY_IMPORTANT_D: float = 0.2
#: The five agreement classes of :func:`agreement_class`.
AGREEMENT_CLASSES: tuple[str, ...] = (
    "both_detect", "both_null", "frequentist_only", "bayesian_only", "opposite_sign",
)
#: Sample dimensions reduced when draws come as an ``xarray.DataArray``.
SAMPLE_DIMS: tuple[str, ...] = ("chain", "draw", "sample")

Draws = np.ndarray | xr.DataArray | Sequence[float]
Index = float | xr.DataArray

_DIRECTIONS: dict[str, int] = {"higher": 1, "lower": -1}
#: Prior families accepted as data by :func:`savage_dickey_bf10` (PyMC parameter names).
_PRIOR_FAMILIES: dict[str, Callable[..., Any]] = {
    "Normal": lambda mu=0.0, sigma=1.0: stats.norm(loc=mu, scale=sigma),
    "StudentT": lambda nu, mu=0.0, sigma=1.0: stats.t(df=nu, loc=mu, scale=sigma),
    "Cauchy": lambda alpha=0.0, beta=1.0: stats.cauchy(loc=alpha, scale=beta),
    "Laplace": lambda mu=0.0, b=1.0: stats.laplace(loc=mu, scale=b),
}


def direction_sign(direction: int | str) -> int:
    """Return +1 or -1 for a direction of benefit.

    Parameters
    ----------
    direction : {1, -1, "higher", "lower"}
        +1 or ``"higher"`` if larger values are beneficial, -1 or ``"lower"`` otherwise
        (``imr_bayes.outcomes.Outcome.direction`` can be passed as is).

    Raises
    ------
    ImrBayesError
        For any other value.
    """
    if isinstance(direction, str):
        if direction not in _DIRECTIONS:
            raise ImrBayesError(unknown_choice_message("direction", direction, list(_DIRECTIONS)))
        return _DIRECTIONS[direction]
    if direction in (1, -1) and not isinstance(direction, bool):
        return int(direction)
    raise ImrBayesError(
        f"direction must be 1, -1, 'higher' or 'lower'; got {direction!r}"
    )


def scaled_threshold(d: float, *, sd_scale: float | None = None, horizon: float = 1.0) -> float:
    """Convert a standardized threshold ``d`` to the scale of an estimate: ``d * sd / horizon``.

    Parameters
    ----------
    d : float
        Standardized effect, e.g. :data:`ROPE_D` or :data:`CLINICALLY_IMPORTANT_D`.
    sd_scale : float, optional
        Baseline SD of the outcome (raw-scale estimates); ``None`` for estimates already in
        SD units.
    horizon : float, default 1
        Multiple of the estimate compared with ``d``: 2 for a per-time-step condition x time
        slope judged at 18 months (time coded 0, 1, 2), 1 for a difference between arms.
        So on the ``condition_x_time_d`` scale the ROPE is +/- 0.05 and "clinically
        important" means |slope| > 0.1.
    """
    scale = 1.0 if sd_scale is None else float(sd_scale)
    if not (math.isfinite(scale) and scale > 0):
        raise ImrBayesError(f"sd_scale must be a finite value > 0; got {sd_scale!r}")
    if not (math.isfinite(horizon) and horizon > 0):
        raise ImrBayesError(f"horizon must be a finite value > 0; got {horizon!r}")
    return d * scale / horizon


def alternative_prior(*, sd_scale: float | None = None, horizon: float = 1.0,
                      d: float | None = None) -> dict[str, Any]:
    """Return the test prior of a reported BF10: N(0, planned effect^2) on the estimate's scale.

    Under H1 the 18-month standardized effect is N(0, d^2) with d the trial's planned effect
    (0.40, ``imr_bayes.constants.PLANNED_EFFECT_D``): effects of the planned size are
    typical, effects beyond twice it are rare (``docs/indices.md``, "BF10 under a test
    prior"). On the estimate's scale the SD is ``d * sd_scale / horizon``
    (:func:`scaled_threshold`): 0.2 on the standardized per-step slope, 0.4 on a
    standardized difference at one time point.

    Returns
    -------
    dict
        ``{"dist": "Normal", "kwargs": {"mu": 0.0, "sigma": ...}}``, the layout of the
        fits' ``priors`` attr.
    """
    if d is None:
        from imr_bayes.constants import PLANNED_EFFECT_D

        d = PLANNED_EFFECT_D
    sigma = scaled_threshold(abs(d), sd_scale=sd_scale, horizon=horizon)
    return {"dist": "Normal", "kwargs": {"mu": 0.0, "sigma": float(sigma)}}


def describe_prior(prior: Mapping[str, Any] | None, *, scale: str = "") -> str:
    """Return a prior as text, e.g. ``Normal(mu=0, sigma=0.2) on the standardized scale``."""
    if not prior:
        return ""
    args = ", ".join(f"{k}={v:g}" for k, v in prior.get("kwargs", {}).items())
    return f"{prior.get('dist')}({args})" + (f" on the {scale}" if scale else "")


def _reduce(draws: Draws, func: Callable[[np.ndarray], float]) -> Index:
    """Apply ``func`` (1-D draws -> float) over the sample dimensions of ``draws``."""
    if isinstance(draws, xr.DataArray):
        dims = [d for d in SAMPLE_DIMS if d in draws.dims] or list(draws.dims)
        if any(draws.sizes[d] == 0 for d in dims):
            raise ImrBayesError("posterior draws are empty")
        return xr.apply_ufunc(
            lambda a: np.apply_along_axis(func, -1, a.reshape(*a.shape[: a.ndim - len(dims)], -1)),
            draws,
            input_core_dims=[dims],
        )
    arr = np.asarray(draws, dtype=float).ravel()
    return func(arr)


def _check(x: np.ndarray) -> np.ndarray:
    if x.size == 0:
        raise ImrBayesError("posterior draws are empty")
    if not np.all(np.isfinite(x)):
        raise ImrBayesError(
            f"posterior draws contain {int(np.sum(~np.isfinite(x)))} non-finite value(s)"
        )
    return x


def p_direction(draws: Draws) -> Index:
    """Probability of direction: the posterior share on the dominant side of zero.

    ``max(P(x > 0), P(x < 0))`` as in bayestestR (Makowski et al. 2019); between 0.5 and 1
    for a continuous posterior. A two-sided p < 0.05 roughly matches pd > 0.975.
    """
    def pd(x: np.ndarray) -> float:
        x = _check(x)
        return float(max(np.mean(x > 0), np.mean(x < 0)))

    return _reduce(draws, pd)


def p_benefit(draws: Draws, direction: int | str, *, threshold: float = 0.0) -> Index:
    """Posterior probability of a benefit larger than ``threshold``.

    Parameters
    ----------
    draws : array or DataArray
        Posterior draws of an effect (IMR minus control, or a condition x time slope).
    direction : {1, -1, "higher", "lower"}
        Direction of benefit of the outcome.
    threshold : float, default 0
        Magnitude (>= 0) the benefit must exceed, on the scale of the draws; 0 gives
        P(any benefit), the clinically important threshold gives P(important benefit).

    Returns
    -------
    float or DataArray
        ``P(sign * x > threshold)``.
    """
    sign = direction_sign(direction)
    if not math.isfinite(threshold) or threshold < 0:
        raise ImrBayesError(f"threshold must be a finite value >= 0; got {threshold!r}")
    return _reduce(draws, lambda x: float(np.mean(sign * _check(x) > threshold)))


def p_abs_gt(draws: Draws, threshold: float) -> Index:
    """Posterior probability that the effect's magnitude exceeds ``threshold`` (> 0)."""
    if not math.isfinite(threshold) or threshold <= 0:
        raise ImrBayesError(f"threshold must be a finite value > 0; got {threshold!r}")
    return _reduce(draws, lambda x: float(np.mean(np.abs(_check(x)) > threshold)))


def rope_share(draws: Draws, low: float, high: float) -> Index:
    """Share of the full posterior inside the region of practical equivalence [low, high].

    The full posterior is used (bayestestR's ``rope(ci = 1)``), not only the 95 % interval,
    so the share is a posterior probability: P(low <= x <= high).
    """
    if not (math.isfinite(low) and math.isfinite(high)) or low >= high:
        raise ImrBayesError(f"ROPE needs finite low < high; got low={low!r}, high={high!r}")

    def share(x: np.ndarray) -> float:
        x = _check(x)
        return float(np.mean((x >= low) & (x <= high)))

    return _reduce(draws, share)


def eti(draws: Draws, level: float = CI_LEVEL) -> tuple[Index, Index]:
    """Equal-tailed interval: the (1 - level)/2 and (1 + level)/2 posterior quantiles.

    Parameters
    ----------
    draws : array or DataArray
        Posterior draws.
    level : float, default ``CI_LEVEL`` (0.95)
        Interval probability in (0, 1).

    Returns
    -------
    (low, high)
        Two floats, or two DataArrays for DataArray input.
    """
    if not 0 < level < 1:
        raise ImrBayesError(f"level should be in (0, 1) but got {level!r}")
    tail = (1 - level) / 2
    low = _reduce(draws, lambda x: float(np.quantile(_check(x), tail)))
    high = _reduce(draws, lambda x: float(np.quantile(_check(x), 1 - tail)))
    return low, high


def posterior_density_at(draws: Draws, at: float = 0.0) -> Index:
    """Posterior density at ``at`` by the ArviZ (arviz-stats) linear KDE.

    The KDE uses arviz-stats' default bandwidth ("experimental") on a 512-point grid over
    the range of the draws, without boundary reflection (effects are unbounded), and is
    linearly interpolated at ``at``. A point outside the range of the draws gets density 0.
    """
    from arviz_stats.base import array_stats

    def density(x: np.ndarray) -> float:
        x = _check(x)
        if at < x.min() or at > x.max():
            return 0.0
        grid, pdf, _ = array_stats.kde(x, grid_len=512, bound_correction=False)
        return float(np.interp(at, grid, pdf))

    return _reduce(draws, density)


def _distribution(prior: Mapping[str, Any] | Any) -> Any:
    """Return a frozen distribution (anything with ``pdf``) from a prior mapping or object."""
    if isinstance(prior, Mapping):
        family = prior.get("dist")
        if family not in _PRIOR_FAMILIES:
            raise ImrBayesError(
                unknown_choice_message("prior family", family, list(_PRIOR_FAMILIES))
            )
        try:
            return _PRIOR_FAMILIES[family](**dict(prior.get("kwargs", {})))
        except TypeError as exc:
            raise ImrBayesError(f"bad parameters for prior {family}: {exc}") from None
    if hasattr(prior, "pdf"):
        return prior
    raise ImrBayesError(
        "prior must be a density value, a mapping {'dist': ..., 'kwargs': {...}} or an "
        f"object with a pdf method; got {type(prior).__name__}"
    )


def prior_density(prior: float | Mapping[str, Any] | Any, at: float = 0.0) -> float:
    """Density of a prior at ``at``.

    Parameters
    ----------
    prior : float, mapping or frozen distribution
        The density value itself (a float > 0); a prior as data,
        ``{"dist": "Normal", "kwargs": {"mu": 0, "sigma": 1}}`` (families: Normal,
        StudentT, Cauchy, Laplace, with PyMC's parameter names); or any object with a
        ``pdf`` method (e.g. a frozen ``scipy.stats`` distribution).
    at : float, default 0
        Where to evaluate.
    """
    if isinstance(prior, int | float) and not isinstance(prior, bool):
        value = float(prior)
    else:
        value = float(_distribution(prior).pdf(at))
    if not math.isfinite(value) or value <= 0:
        raise ImrBayesError(f"prior density at {at} must be finite and > 0; got {value!r}")
    return value


def savage_dickey_bf10(
    posterior_draws: Draws, prior: float | Mapping[str, Any] | Any, *, at: float = 0.0
) -> Index:
    """Savage–Dickey Bayes factor BF10 of "effect != at" against "effect = at".

    ``BF10 = prior density at `at` / posterior density at `at``` (Dickey 1971; Wagenmakers et
    al. 2010). The posterior density is estimated from the draws by
    :func:`posterior_density_at`; the prior density is exact (see :func:`prior_density`).
    Valid when the prior of the effect is proper and independent of the other parameters
    under the null (Heck 2019).

    Returns
    -------
    float or DataArray
        BF10 (> 1 favours an effect). ``inf`` (with a ``RuntimeWarning``) when ``at`` lies
        outside the range of the draws: the posterior density there cannot be estimated
        and the evidence for an effect is overwhelming at this number of draws.
    """
    p0 = prior_density(prior, at)
    post = posterior_density_at(posterior_draws, at)
    if np.any(np.asarray(post) == 0):
        warnings.warn(
            f"the value {at} lies outside the range of the posterior draws; BF10 is inf "
            "(the posterior density there is not estimable from the draws)",
            RuntimeWarning,
            stacklevel=2,
        )
    with np.errstate(divide="ignore"):
        if isinstance(post, xr.DataArray):
            return p0 / post
        return float(np.inf) if post == 0 else p0 / post


def reweighted_bf10(
    posterior_draws: Draws, prior: Mapping[str, Any] | Any, test_prior: Mapping[str, Any] | Any,
    *, at: float = 0.0,
) -> Index:
    """BF10 under a test prior, from draws of the posterior under the estimation prior.

    With the same likelihood L, the marginal likelihoods under two priors of the effect
    satisfy m_test / m_prior = E_post[p_test(x) / p_prior(x)] (the expectation over the
    posterior under ``prior``), so

        BF10_test = m_test / L(at) = BF10_prior * E_post[p_test(x) / p_prior(x)],

    with BF10_prior the Savage-Dickey ratio of :func:`savage_dickey_bf10`. Exact up to Monte
    Carlo and KDE error; the weights stay bounded when the test prior is no wider than the
    estimation prior over the posterior's range (N(0, 0.2) against N(0, 0.5) here: weights
    at most 2.5). Same validity conditions as :func:`savage_dickey_bf10`.

    Parameters
    ----------
    posterior_draws : array or DataArray
        Draws of the effect under ``prior``.
    prior, test_prior : mapping or frozen distribution
        The estimation prior the draws were made under and the test prior of H1 (see
        :func:`prior_density`; a bare density value is not enough here).
    at : float, default 0
        The point null.

    Returns
    -------
    float or DataArray
        BF10 under ``test_prior``.
    """
    if isinstance(prior, int | float) or isinstance(test_prior, int | float):
        raise ImrBayesError("reweighted_bf10 needs both priors as distributions, not as a "
                            "density value")
    est, test = _distribution(prior), _distribution(test_prior)

    def weight(x: np.ndarray) -> float:
        x = _check(x)
        with np.errstate(divide="ignore", invalid="ignore"):
            w = np.asarray(test.pdf(x), dtype=float) / np.asarray(est.pdf(x), dtype=float)
        if not np.all(np.isfinite(w)):
            raise ImrBayesError("the estimation prior has zero density where the posterior "
                                "has draws; cannot reweight to the test prior")
        return float(w.mean())

    bf = savage_dickey_bf10(posterior_draws, prior, at=at)
    return bf * _reduce(posterior_draws, weight)


def agreement_class(
    freq_ci: tuple[float, float],
    freq_p: float | None,
    posterior_eti: tuple[float, float],
    p_direction: float,
    *,
    alpha: float = 0.05,
    pd_threshold: float | None = None,
    freq_estimate: float | None = None,
    posterior_center: float | None = None,
) -> str:
    """Classify a frequentist and a Bayesian conclusion about one effect.

    Rule (``docs/indices.md``):

    * the frequentist analysis *detects* an effect if ``freq_p < alpha`` (the paper's
      criterion); if no p value is given (None or NaN), if its CI excludes 0;
    * the Bayesian analysis *detects* an effect if ``p_direction >= pd_threshold``
      (default ``1 - alpha / 2`` = 0.975, the Bayesian analogue of a two-sided p < alpha);
    * each side's sign is that of its point estimate (``freq_estimate`` or else the CI
      midpoint; ``posterior_center`` or else the ETI midpoint).

    The class is, in this order: ``opposite_sign`` if at least one side detects and the two
    signs differ (both nonzero); ``both_detect``; ``frequentist_only``; ``bayesian_only``;
    ``both_null``.

    Parameters
    ----------
    freq_ci : (low, high)
        Frequentist confidence interval.
    freq_p : float or None
        Frequentist two-sided p value.
    posterior_eti : (low, high)
        Posterior equal-tailed interval (95 %).
    p_direction : float
        Posterior probability of direction.
    alpha : float, default 0.05
        Frequentist significance level.
    pd_threshold : float, optional
        Bayesian detection threshold on the probability of direction.
    freq_estimate, posterior_center : float, optional
        Point estimates that give each side's sign (midpoints of the intervals otherwise).

    Returns
    -------
    str
        One of :data:`AGREEMENT_CLASSES`.
    """
    f_low, f_high = (float(v) for v in freq_ci)
    b_low, b_high = (float(v) for v in posterior_eti)
    for name, (lo, hi) in {"freq_ci": (f_low, f_high), "posterior_eti": (b_low, b_high)}.items():
        if not (math.isfinite(lo) and math.isfinite(hi)) or lo > hi:
            raise ImrBayesError(f"{name} must be finite with low <= high; got ({lo}, {hi})")
    if not 0 < alpha < 1:
        raise ImrBayesError(f"alpha should be in (0, 1) but got {alpha!r}")
    threshold = 1 - alpha / 2 if pd_threshold is None else float(pd_threshold)
    if not 0.5 <= threshold <= 1:
        raise ImrBayesError(f"pd_threshold should be in [0.5, 1] but got {threshold!r}")
    if not 0 <= p_direction <= 1:
        raise ImrBayesError(f"p_direction should be in [0, 1] but got {p_direction!r}")
    has_p = freq_p is not None and not math.isnan(freq_p)
    if has_p and not 0 <= freq_p <= 1:
        raise ImrBayesError(f"freq_p should be in [0, 1] but got {freq_p!r}")

    freq_detect = freq_p < alpha if has_p else (f_low > 0 or f_high < 0)
    bayes_detect = p_direction >= threshold
    f_sign = np.sign(freq_estimate if freq_estimate is not None else (f_low + f_high) / 2)
    b_sign = np.sign(posterior_center if posterior_center is not None else (b_low + b_high) / 2)

    if (freq_detect or bayes_detect) and f_sign != 0 and b_sign != 0 and f_sign != b_sign:
        return "opposite_sign"
    if freq_detect and bayes_detect:
        return "both_detect"
    if freq_detect:
        return "frequentist_only"
    if bayes_detect:
        return "bayesian_only"
    return "both_null"
