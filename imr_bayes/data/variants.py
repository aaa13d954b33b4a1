"""Misspecified twin variants: the twin's design with outcomes that break one assumption.

The synthetic twin (:mod:`imr_bayes.data.twin`) is generated from the model the package
fits, so a check on the twin cannot reveal a misspecification. A *variant* keeps the twin's
design - arms, IMR groups, teams, attendance, fidelity, baseline characteristics and, per
outcome, which participant x time cells are observed - and replaces the outcome values by a
draw from a known data-generating model that breaks **one** assumption of the default ITT
model at a time:

``correct``
    the default ITT model's structure (random participant intercept, IMR-group shift after
    baseline, one residual SD, Gaussian);
``heteroscedastic``
    the residual SD of the IMR arm after baseline is ``imr_sd_ratio`` times the shared one;
``group_slope``
    the IMR-group effect grows with time (loading t = 0, 1, 2: a deviation of the group's
    slope) instead of a constant shift after baseline;
``serial``
    serial correlation: besides a smaller random intercept, the within-participant
    deviations follow a continuous-time AR(1) over the visits at 0, 12 and 18 months
    (correlation ``ar_phi`` over 12 months, ``ar_phi ** 0.5`` over 6);
``floor``
    a latent Gaussian of the ``correct`` structure, observed on the outcome's discrete scale
    (rounded to its step, piled up at its floor and ceiling).

On the standardized scale of the outcome (``z = (y - m) / s``, ``m`` and ``s`` the pooled
Table 1 baseline mean and SD, as in the fitted model) every variant is::

    z_it = x_it' beta + u_i + c_i L_t g_j(i) + e_it

with linear time (``x_it`` = 1, t, c_i, c_i t, t = 0, 1, 2), ``beta`` the least-squares
fit of the outcome's Table 3 means (or a given standardized 18-month ``effect``),
``u_i ~ N(0, rho)``, ``g_j ~ N(0, group_icc)`` per IMR group (a treated participant without
a group is a singleton cluster), ``L_t`` the group loading and ``e_it`` the residual.
``rho`` is the twin's calibrated within-participant correlation of the outcome. The
continuous variants are observed as ``m + s z`` clipped to the scale range (the clipped
share is reported; it is negligible for outcomes far from their bounds such as IMRS client,
and large for ASI, SES, IS, where no Gaussian model can be correct); ``floor`` is observed as
``snap(M + S z)`` on the scale's grid.

**Truth.** Every variant keeps a Gaussian marginal for a participant of arm a at time t,
``N(x_at' beta, v_at)``, so the expected observed value - through clipping, or rounding and
clipping - is computed **exactly** (normal CDF over the grid cells), and the true
18-month IMR - CAU difference on the observed scale is the difference of the two expected
values. ``docs/ppc.md`` ("Misspecified twin variants") describes each variant and its use.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from functools import cache

import numpy as np
import pandas as pd
from scipy import stats

from imr_bayes import published
from imr_bayes.constants import ARMS, DEFAULT_SEED, TIMES
from imr_bayes.data.contract import CONTRACT_COLUMNS, validate
from imr_bayes.errors import ImrBayesError
from imr_bayes.outcomes import CODES, OUTCOMES, PRIMARY, unknown_choice_message

#: The variants, in the order of ``docs/ppc.md``.
VARIANTS: tuple[str, ...] = ("correct", "heteroscedastic", "group_slope", "serial", "floor")
#: How each variant departs from the default ITT model (one line each).
DESCRIPTIONS: dict[str, str] = {
    "correct": "the default ITT model's structure (Gaussian, compound symmetric, "
               "group shift after baseline, one residual SD)",
    "heteroscedastic": "IMR residual SD after baseline = imr_sd_ratio x the shared SD",
    "group_slope": "IMR-group effect on the slope (loading t = 0, 1, 2)",
    "serial": "AR(1)-like serial correlation over 0, 12, 18 months plus a small intercept",
    "floor": "latent Gaussian observed on the discrete scale, piled up at floor/ceiling",
}
#: Design modes: the twin's design at ``seed`` (exact) or a fresh random twin's design.
DESIGN_MODES: tuple[str, ...] = ("exact", "random")
#: Columns of :attr:`Variant.truth`.
TRUTH_COLUMNS: tuple[str, ...] = (
    "kind", "outcome", "estimand", "time", "truth", "truth_linear", "truth_d", "imr_mean",
    "cau_mean", "share_clipped", "method",
)


@dataclass(frozen=True)
class VariantParams:
    """Assumptions of the variants (standardized scale: baseline variance 1).

    Attributes
    ----------
    group_icc : float
        Variance of the IMR-group effect ``g_j`` (share of the baseline variance). With the
        shift loading it is the ICC added after baseline; ``group_slope`` multiplies it by
        t^2 (same at 12 months, 4 x at 18 months).
    participant_share : float or None
        Variance of the random participant intercept (``rho``); default (None): the twin's
        calibrated correlation of the outcome (``twin_outcomes.calibration``). The residual
        variance is ``1 - rho``.
    imr_sd_ratio : float
        ``heteroscedastic``: residual SD of IMR participants after baseline over the shared
        residual SD (baseline and CAU keep the shared one).
    ar_phi : float
        ``serial``: correlation of the serial part over 12 months (``ar_phi ** (dm / 12)``
        for visits ``dm`` months apart).
    serial_intercept : float
        ``serial``: variance of the random intercept; the serial part has ``1 -
        serial_intercept``. Defaults give between-wave correlations 0.60 (0-12 months),
        0.77 (12-18) and 0.48 (0-18), against one common correlation under compound symmetry.
    floor_share : float or None
        ``floor``: share of CAU baseline values at the floor; the latent location is set to
        reach it. None: the twin's own latent calibration of the outcome (its published
        means and SDs through the floor and ceiling: ASI, SES and IS pile up, most others
        barely).
    effect : float or None
        True 18-month IMR - CAU difference of the latent model in baseline SDs; None: the
        least-squares fit of the outcome's Table 3 means. With ``effect`` the baseline
        difference is 0 and ``condition_x_time = effect / 2``.
    """

    group_icc: float = 0.05
    participant_share: float | None = None
    imr_sd_ratio: float = 1.5
    ar_phi: float = 0.5
    serial_intercept: float = 0.2
    floor_share: float | None = None
    effect: float | None = None

    @classmethod
    def from_kwargs(cls, **params: object) -> VariantParams:
        """Build parameters from keywords; unknown names or bad values raise."""
        names = [f.name for f in fields(cls)]
        for key in params:
            if key not in names:
                raise ImrBayesError(unknown_choice_message("variant parameter", key, names))
        out = cls(**params)  # type: ignore[arg-type]
        checks = [
            ("group_icc", 0.0 <= out.group_icc < 1.0, "[0, 1)"),
            ("imr_sd_ratio", out.imr_sd_ratio > 0, "> 0"),
            ("ar_phi", 0.0 <= out.ar_phi < 1.0, "[0, 1)"),
            ("serial_intercept", 0.0 <= out.serial_intercept < 1.0, "[0, 1)"),
            ("participant_share", out.participant_share is None
             or 0.0 <= out.participant_share < 1.0, "[0, 1) or None"),
            ("floor_share", out.floor_share is None or 0.0 < out.floor_share < 1.0,
             "(0, 1) or None"),
        ]
        for name, ok, valid in checks:
            if not ok:
                raise ImrBayesError(f"{name} must be in {valid}, got {getattr(out, name)!r}")
        return out


@dataclass(frozen=True)
class LatentModel:
    """The data-generating model of one variant and outcome (standardized scale).

    Attributes
    ----------
    kind, outcome : str
    beta : ndarray, shape (4,)
        intercept, time, condition, condition x time (linear time 0, 1, 2).
    participant_var : float
        Variance of the random intercept.
    residual_cov : dict
        ``arm -> (3, 3)`` covariance of the within-participant deviations over the times.
    group_var : float
        Variance of the IMR-group effect ``g_j``.
    loading : ndarray, shape (3,)
        Group loading per time (shift: 0, 1, 1; slope: 0, 1, 2).
    center, scale : float
        Observed value ``center + scale * z`` (``floor``: the latent location and SD).
    discrete : bool
        True: observed values are rounded to the scale's step and clipped (``floor``);
        False: only clipped to the range.
    """

    kind: str
    outcome: str
    beta: np.ndarray
    participant_var: float
    residual_cov: dict[str, np.ndarray]
    group_var: float
    loading: np.ndarray
    center: float
    scale: float
    discrete: bool

    def mean(self, arm: str, t: int) -> float:
        """Latent mean (standardized) of arm x time."""
        c = 1.0 if arm == "imr" else 0.0
        return float(self.beta @ np.array([1.0, t, c, c * t]))

    def var(self, arm: str, t: int) -> float:
        """Marginal latent variance (standardized) of arm x time (a grouped participant)."""
        group = self.group_var * self.loading[t] ** 2 if arm == "imr" else 0.0
        return float(self.participant_var + self.residual_cov[arm][t, t] + group)

    def expected(self, arm: str, t: int) -> float:
        """Return the expected observed value of arm x time (exact, :func:`observed_moments`)."""
        mu = self.center + self.scale * self.mean(arm, t)
        sd = self.scale * math.sqrt(self.var(arm, t))
        return observed_moments(self.outcome, mu, sd, discrete=self.discrete)[0]

    def share_clipped(self, arm: str, t: int) -> float:
        """Probability that a value of arm x time lies beyond the scale (is clipped)."""
        o = OUTCOMES[self.outcome]
        mu = self.center + self.scale * self.mean(arm, t)
        sd = self.scale * math.sqrt(self.var(arm, t))
        lo = -math.inf if o.scale_min is None else o.scale_min
        hi = math.inf if o.scale_max is None else o.scale_max
        if self.discrete and o.step is not None:
            lo, hi = lo + o.step / 2, hi - o.step / 2
        return float(stats.norm.cdf((lo - mu) / sd) + stats.norm.sf((hi - mu) / sd))


@dataclass(frozen=True)
class Variant:
    """One simulated variant data set and its truth.

    Attributes
    ----------
    kind : str
        One of :data:`VARIANTS`.
    data : pandas.DataFrame
        Contract long data (validated), the design's columns with the variant's outcomes.
    truth : pandas.DataFrame
        :data:`TRUTH_COLUMNS`, one row per outcome x follow-up time: ``truth`` is the true
        IMR - CAU difference of expected observed values (exact), ``truth_linear`` the
        latent difference in raw units (``scale x truth_d``, what the Gaussian model's
        difference equals when nothing is clipped or rounded), ``truth_d`` in latent
        baseline SDs, ``share_clipped`` the expected share of values of the IMR and CAU
        cells beyond the scale (clipped to it).
    params : VariantParams
    seed : int
    outcomes : tuple of str
        The outcomes drawn from the variant (the others keep the design's values).
    """

    kind: str
    data: pd.DataFrame
    truth: pd.DataFrame
    params: VariantParams
    seed: int
    outcomes: tuple[str, ...]

    def difference(self, outcome: str = PRIMARY, time: int = 2) -> float:
        """Return the true IMR - CAU difference of ``outcome`` at ``time`` (observed scale)."""
        row = self.truth[(self.truth["outcome"] == outcome) & (self.truth["time"] == time)]
        if row.empty:
            raise ImrBayesError(unknown_choice_message("variant outcome", outcome,
                                                       self.outcomes))
        return float(row["truth"].iloc[0])


# ------------------------------------------------------------------------- observation model
def _grid(code: str) -> np.ndarray:
    o = OUTCOMES[code]
    return np.arange(round(o.scale_min / o.step), round(o.scale_max / o.step) + 1) * o.step


def observed_moments(code: str, mu: float, sd: float, *, discrete: bool
                     ) -> tuple[float, float]:
    """Mean and SD of ``N(mu, sd)`` as observed on the outcome's scale (exact).

    ``discrete``: rounded to the scale's step and clipped to its range (the twin's
    ``snap``); otherwise only clipped (a censored normal). Unbounded scales: ``(mu, sd)``.
    """
    o = OUTCOMES[code]
    if o.scale_min is None or o.scale_max is None:
        return float(mu), float(sd)
    if discrete and o.step is not None:
        grid = _grid(code)
        edges = np.concatenate([[-np.inf], (grid[:-1] + grid[1:]) / 2, [np.inf]])
        prob = np.diff(stats.norm.cdf((edges - mu) / sd))
        mean = float(prob @ grid)
        return mean, float(math.sqrt(max(prob @ grid**2 - mean**2, 0.0)))
    lo, hi = o.scale_min, o.scale_max
    a, b = (lo - mu) / sd, (hi - mu) / sd
    pa, pb = stats.norm.cdf(a), stats.norm.cdf(b)
    da, db = stats.norm.pdf(a), stats.norm.pdf(b)
    inner = pb - pa
    m1 = mu * inner + sd * (da - db)                         # E[X; lo < X < hi]
    m2 = (mu**2 + sd**2) * inner + sd * ((lo + mu) * da - (hi + mu) * db)
    mean = lo * pa + hi * (1 - pb) + m1
    second = lo**2 * pa + hi**2 * (1 - pb) + m2
    return float(mean), float(math.sqrt(max(second - mean**2, 0.0)))


def observe(code: str, values: np.ndarray, *, discrete: bool) -> np.ndarray:
    """Map latent raw values onto the outcome's scale (clip; ``discrete``: round first)."""
    from imr_bayes.data.twin_exact import snap

    o = OUTCOMES[code]
    if discrete:
        return snap(values, o)
    lo = -np.inf if o.scale_min is None else o.scale_min
    hi = np.inf if o.scale_max is None else o.scale_max
    return np.clip(values, lo, hi)


# ------------------------------------------------------------------------------ the models
@cache
def published_coefficients(code: str) -> tuple[float, ...]:
    """Least-squares linear-time fit of the outcome's Table 3 means (standardized).

    Returns (intercept, time, condition, condition x time) in pooled baseline SDs around the
    pooled baseline mean (the fitted model's standardization).
    """
    from imr_bayes.bayes.itt import standardization

    center, scale = standardization(code)
    mm = published.marginal_means("itt")
    mm = mm[mm["outcome"] == code]
    X, y = [], []
    for arm, t, mean in zip(mm["arm"], mm["time"], mm["mean"], strict=True):
        c = 1.0 if arm == "imr" else 0.0
        X.append([1.0, float(t), c, c * float(t)])
        y.append((float(mean) - center) / scale)
    beta = np.linalg.lstsq(np.array(X), np.array(y), rcond=None)[0]
    return tuple(float(b) for b in beta)


def _months() -> np.ndarray:
    from imr_bayes.trial import time_months

    m = time_months()
    return np.array([m[t] for t in TIMES], dtype=float)


def latent_model(kind: str, outcome: str, params: VariantParams | None = None
                 ) -> LatentModel:
    """Return the data-generating model of a variant for one outcome.

    Raises
    ------
    ImrBayesError
        Unknown kind or outcome; ``floor`` on an outcome without a known discrete scale.
    """
    if kind not in VARIANTS:
        raise ImrBayesError(unknown_choice_message("variant", kind, VARIANTS))
    if outcome not in OUTCOMES:
        raise ImrBayesError(unknown_choice_message("outcome", outcome, CODES))
    from imr_bayes.bayes.itt import standardization
    from imr_bayes.data.twin_outcomes import calibration

    p = params or VariantParams()
    o = OUTCOMES[outcome]
    rho = calibration(outcome).rho if p.participant_share is None else p.participant_share
    beta = np.array(published_coefficients(outcome))
    if p.effect is not None:
        beta[2], beta[3] = 0.0, p.effect / 2
    n_t = len(TIMES)
    t_arr = np.asarray(TIMES, dtype=float)
    loading = np.where(t_arr > 0, 1.0, 0.0)
    eye = np.eye(n_t)
    cov = {arm: (1 - rho) * eye for arm in ARMS}
    if kind == "heteroscedastic":
        scale_imr = np.where(t_arr > 0, p.imr_sd_ratio, 1.0)
        cov["imr"] = (1 - rho) * np.diag(scale_imr**2)
    elif kind == "group_slope":
        loading = t_arr.copy()
    elif kind == "serial":
        rho = p.serial_intercept
        lag = np.abs(_months()[:, None] - _months()[None, :]) / 12.0
        ar = (1 - rho) * p.ar_phi**lag
        cov = {arm: ar for arm in ARMS}
    center, scale = standardization(outcome)
    discrete = kind == "floor"
    if discrete:
        if not _discrete_scale(outcome):
            raise ImrBayesError(
                f"the floor variant needs a bounded discrete scale; {outcome} has none")
        if p.floor_share is None:
            center, scale, beta = _twin_latent(outcome, beta if p.effect is not None
                                               else None)
        else:
            # baseline latent variance is rho + (1 - rho) = 1 in every kind
            center = (o.scale_min + o.step / 2
                      - scale * (beta[0] + float(stats.norm.ppf(p.floor_share))))
    return LatentModel(kind=kind, outcome=outcome, beta=beta, participant_var=float(rho),
                       residual_cov=cov, group_var=float(p.group_icc), loading=loading,
                       center=float(center), scale=float(scale), discrete=discrete)


def _twin_latent(code: str, beta: np.ndarray | None) -> tuple[float, float, np.ndarray]:
    """Return the twin's latent calibration: location, SD and linear-time latent means.

    The latent SD is the pooled latent SD of the twin (``twin_outcomes.latent_sd``, widened
    so that the rounded and clipped baseline values have the Table 1 SD); the cell means are
    the latent means whose rounded, clipped values have the Table 3 means, fitted by least
    squares in linear time (``beta`` overrides the slope terms when an effect is given).
    """
    from imr_bayes.data.twin_outcomes import cell, latent_mean, latent_sd
    from imr_bayes.trial import n_randomized

    n = n_randomized()
    sd = math.sqrt(sum((n[a] - 1) * latent_sd(code, a) ** 2 for a in ARMS)
                   / (sum(n.values()) - 2))
    X, y = [], []
    for arm in ARMS:
        c = 1.0 if arm == "imr" else 0.0
        for t in TIMES:
            X.append([1.0, float(t), c, c * t])
            y.append(latent_mean(code, cell("itt", code, arm, t)[1], sd))
    fitted = np.linalg.lstsq(np.array(X), np.array(y), rcond=None)[0]
    base0 = sum(n[a] * latent_mean(code, cell("itt", code, a, 0)[1], sd) for a in ARMS) \
        / sum(n.values())
    out = (fitted - np.array([base0, 0.0, 0.0, 0.0])) / sd
    if beta is not None:
        out[2:] = beta[2:]
    return float(base0), float(sd), out


def truth_table(kind: str, outcomes: tuple[str, ...] | list[str] | str | None = None, *,
                params: VariantParams | None = None, **kwargs: object) -> pd.DataFrame:
    """Return the true IMR - CAU differences of a variant at 12 and 18 months (exact).

    Exact: each arm x time marginal is Gaussian on the latent scale, observed through
    clipping (continuous variants) or rounding and clipping (``floor``), whose expected
    value :func:`observed_moments` computes from the normal CDF.

    Parameters
    ----------
    kind : str
        One of :data:`VARIANTS`.
    outcomes : str or sequence of str, optional
        Default: all 12 (``floor``: the 11 with a bounded discrete scale).
    params : VariantParams, optional
        The variant's parameters; or give its fields as keywords.

    Returns
    -------
    pandas.DataFrame
        :data:`TRUTH_COLUMNS`.
    """
    p = params if params is not None else VariantParams.from_kwargs(**kwargs)
    rows = []
    for code in _outcomes(outcomes, kind):
        model = latent_model(kind, code, p)
        for t in TIMES[1:]:
            imr, cau = model.expected("imr", t), model.expected("cau", t)
            d = model.mean("imr", t) - model.mean("cau", t)
            clipped = (model.share_clipped("imr", t) + model.share_clipped("cau", t)) / 2
            rows.append({"kind": kind, "outcome": code, "estimand": "difference", "time": t,
                         "truth": imr - cau, "truth_linear": model.scale * d, "truth_d": d,
                         "imr_mean": imr, "cau_mean": cau, "share_clipped": clipped,
                         "method": "exact"})
    return pd.DataFrame(rows, columns=list(TRUTH_COLUMNS))


def _outcomes(outcomes: tuple[str, ...] | list[str] | str | None, kind: str
              ) -> tuple[str, ...]:
    """Return the requested outcomes (default all; ``floor``: those with a discrete scale)."""
    if outcomes is None:
        return tuple(c for c in CODES if kind != "floor" or _discrete_scale(c))
    if isinstance(outcomes, str):
        outcomes = (outcomes,)
    for code in outcomes:
        if code not in OUTCOMES:
            raise ImrBayesError(unknown_choice_message("outcome", code, CODES))
    return tuple(outcomes)


def _discrete_scale(code: str) -> bool:
    o = OUTCOMES[code]
    return o.scale_min is not None and o.scale_max is not None and o.step is not None


# ------------------------------------------------------------------------------ simulation
def _design(seed: int, design: pd.DataFrame | None, design_mode: str) -> pd.DataFrame:
    from imr_bayes.data.twin import default_twin, simulate_twin

    if design is not None:
        return design.copy()
    if design_mode not in DESIGN_MODES:
        raise ImrBayesError(unknown_choice_message("design mode", design_mode, DESIGN_MODES))
    if design_mode == "exact" and seed == DEFAULT_SEED:
        return default_twin()
    return simulate_twin(seed=seed, mode=design_mode)


def _people(data: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Participants (first-row order), treated flag and cluster index (-1: control)."""
    pids = pd.unique(data["participant_id"].astype(str))
    first = data.drop_duplicates("participant_id").set_index(
        data.drop_duplicates("participant_id")["participant_id"].astype(str))
    first = first.loc[pids]
    treated = (first["arm"].astype(str) == "imr").to_numpy()
    group = first["imr_group"].astype("string").to_numpy(dtype=object, na_value=None)
    labels: dict[str, int] = {}
    cluster = np.full(len(pids), -1, dtype=np.int64)
    for k, (on, g) in enumerate(zip(treated, group, strict=True)):
        if on:  # an IMR participant without a group is a singleton cluster
            key = str(g) if g is not None else f"__single_{pids[k]}"
            cluster[k] = labels.setdefault(key, len(labels))
    return pids, treated, cluster


def simulate_outcome(model: LatentModel, treated: np.ndarray, cluster: np.ndarray,
                     rng: np.random.Generator) -> np.ndarray:
    """Draw one outcome of a variant for a design (participants x 3, observed scale).

    Draw order (common random numbers across variants with the same generator state): the
    intercepts' standard normals, the clusters', then the residuals'.
    """
    n_p, n_t = len(treated), len(TIMES)
    n_c = int(cluster.max()) + 1 if (cluster >= 0).any() else 0
    u = rng.standard_normal(n_p) * math.sqrt(model.participant_var)
    g = rng.standard_normal(max(n_c, 1)) * math.sqrt(model.group_var)
    white = rng.standard_normal((n_p, n_t))
    e = np.empty((n_p, n_t))
    for arm in ARMS:
        on = treated if arm == "imr" else ~treated
        chol = np.linalg.cholesky(model.residual_cov[arm] + 1e-15 * np.eye(n_t))
        e[on] = white[on] @ chol.T
    c = treated.astype(float)[:, None]
    t = np.asarray(TIMES, dtype=float)[None, :]
    X = np.stack([np.ones((n_p, n_t)), np.broadcast_to(t, (n_p, n_t)),
                  np.broadcast_to(c, (n_p, n_t)), c * t], axis=-1)
    z = X @ model.beta + u[:, None] + e
    grouped = cluster >= 0
    z[grouped] += g[cluster[grouped]][:, None] * model.loading[None, :]
    return observe(model.outcome, model.center + model.scale * z, discrete=model.discrete)


def simulate_variant(kind: str, *, seed: int = DEFAULT_SEED,
                     outcomes: tuple[str, ...] | list[str] | str | None = None,
                     design: pd.DataFrame | None = None, design_mode: str = "exact",
                     **params: object) -> Variant:
    """Simulate a misspecified twin variant (one assumption broken) with its truth.

    Parameters
    ----------
    kind : {"correct", "heteroscedastic", "group_slope", "serial", "floor"}
        See :data:`VARIANTS` and the module docstring.
    seed : int
        Seed of the design (``simulate_twin(seed=seed, mode=design_mode)``; the default
        seed and mode give the default twin's design) and of the outcome draws
        (``default_rng([seed, 101, outcome index])``). The same seed gives identical data;
        variants with the same seed share their random numbers (common random numbers), so
        they differ only by the broken assumption.
    outcomes : str or sequence of str, optional
        Outcomes to draw from the variant (default all 12; ``floor``: the 11 with a bounded
        discrete scale, not SFS); the others keep the design's values.
    design : pandas.DataFrame, optional
        Contract long data whose design (and per-outcome observed cells) to use instead of
        a twin.
    design_mode : {"exact", "random"}
        Twin mode of the design when ``design`` is None (``random`` for studies).
    **params
        :class:`VariantParams` fields, e.g. ``imr_sd_ratio=2.0``, ``effect=0.3``.

    Returns
    -------
    Variant
        ``data`` passes :func:`imr_bayes.data.validate`; ``truth`` per outcome x follow-up.
    """
    if kind not in VARIANTS:
        raise ImrBayesError(unknown_choice_message("variant", kind, VARIANTS))
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ImrBayesError(f"seed must be a non-negative integer, got {seed!r}")
    p = VariantParams.from_kwargs(**params)
    codes = _outcomes(outcomes, kind)
    data = _design(int(seed), design, design_mode).reset_index(drop=True)
    pids, treated, cluster = _people(data)
    row_p = pd.Series(np.arange(len(pids)), index=pids)[
        data["participant_id"].astype(str)].to_numpy()
    row_t = pd.to_numeric(data["time"]).astype(int).to_numpy()
    for code in codes:
        model = latent_model(kind, code, p)
        rng = np.random.default_rng([int(seed), 101, CODES.index(code)])
        y = simulate_outcome(model, treated, cluster, rng)
        seen = pd.to_numeric(data[code]).notna().to_numpy()
        data[code] = np.where(seen, y[row_p, row_t], np.nan)
    data = data[[c for c in CONTRACT_COLUMNS if c in data.columns]]
    return Variant(kind=kind, data=validate(data),
                   truth=truth_table(kind, codes, params=p), params=p,
                   seed=int(seed), outcomes=codes)


__all__ = [
    "DESCRIPTIONS", "DESIGN_MODES", "TRUTH_COLUMNS", "VARIANTS", "LatentModel", "Variant",
    "VariantParams", "latent_model", "observe", "observed_moments", "published_coefficients",
    "simulate_outcome", "simulate_variant", "truth_table",
]
