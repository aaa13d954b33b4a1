"""Outcomes of the synthetic twin: trajectories, variance components, missingness.

For outcome ``y``, participant ``i`` of arm ``a`` at time ``t``::

    y_it = m_a,t + x_i . beta_t + b_i + u_g(i) [IMR, t > 0] + e_it      (then rounded and
                                                                         clipped to the scale)

* ``m_a,t``: the Table 3 mean of the arm at time ``t`` (shifted on the latent scale so
  that rounding and clipping to the scale keep the expected mean);
* ``x_i . beta_t`` (IMR only, centred over the arm): the share of scheduled sessions
  attended, plus the participant's fidelity class (>= 10 sessions in a high / moderate
  fidelity group) for the two outcomes of Tables 4-5; ``beta_t`` solves for the Table 7
  completer means and the Table 4-5 subgroup differences, so the treatment effect grows
  with attendance while the arm keeps its Table 3 mean;
* ``b_i ~ N(0, rho S_a^2)`` and ``e_it ~ N(0, (1 - rho) S_a^2)`` with ``S_a`` the Table 1
  baseline SD of the arm and ``rho`` solved (generalised least squares) so that the LMM's
  model-based SE of the published coefficient equals the SE implied by its printed CI;
* ``u_g ~ N(0, group_icc S^2)``: the IMR group effect after baseline.

The derivation and every assumption are in ``docs/twin.md``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache

import numpy as np
import pandas as pd
from scipy import optimize, stats

from imr_bayes import published
from imr_bayes.constants import ARMS, CI_LEVEL, TIMES
from imr_bayes.data.twin_design import TwinParams, text
from imr_bayes.data.twin_exact import match_sum_on_grid, snap, target_units
from imr_bayes.outcomes import CODES, OUTCOMES, PRIMARY, Outcome
from imr_bayes.trial import fidelity_outcomes

#: Published coefficients tried, in order, to calibrate the within-participant correlation.
SE_SOURCES: tuple[tuple[str, str], ...] = (
    ("itt", "condition_x_time"), ("completers", "condition_x_time"), ("itt", "time"),
    ("itt", "condition"), ("itt", "intercept"),
)
#: Subgroups whose observation counts are fixed: IMR completers, other IMR, CAU.
SUBGROUPS: tuple[str, ...] = ("imr_c", "imr_n", "cau")
_RHO_BOUNDS = (0.02, 0.95)


@dataclass(frozen=True)
class Calibration:
    """How one outcome's variance components were set.

    Attributes
    ----------
    outcome : str
        Outcome code.
    rho : float
        Within-participant correlation (random-intercept share of the total variance).
    sample, term : str
        Published coefficient whose CI fixed ``rho``.
    se_target : float
        SE implied by that CI: width / (2 z_0.975).
    se_model : float
        GLS model-based SE at ``rho`` under the published design.
    total_sd : float
        Pooled Table 1 baseline SD.
    """

    outcome: str
    rho: float
    sample: str
    term: str
    se_target: float
    se_model: float
    total_sd: float


@cache
def _means(sample: str) -> dict[tuple[str, str, int], tuple[int, float]]:
    mm = published.marginal_means(sample)
    return {(o, a, int(t)): (int(n), float(m)) for o, a, t, n, m in
            zip(mm["outcome"], mm["arm"], mm["time"], mm["n"], mm["mean"], strict=True)}


@cache
def baseline_sd(code: str, arm: str) -> float:
    """Table 1 baseline SD of an outcome in an arm (cached)."""
    return OUTCOMES[code].baseline_sd(arm)


def cell(sample: str, code: str, arm: str, time: int) -> tuple[int, float]:
    """Return the published ``(n, mean)`` of a Table 3 (``itt``) or 7 (``completers``) cell."""
    return _means(sample)[(code, arm, time)]


def _patterns(sample: str, code: str) -> list[tuple[float, int, tuple[int, ...]]]:
    """List expected (weight, condition, observed times) under independent missingness."""
    out = []
    for arm in ARMS:
        size = cell(sample, code, arm, 0)[0] if sample == "completers" else None
        size = size if size is not None else cell("itt", code, arm, 0)[0]
        n_arm = max(size, cell(sample, code, arm, 0)[0])
        p = [cell(sample, code, arm, t)[0] / n_arm for t in TIMES]
        for mask in range(1, 8):
            obs = tuple(t for t in TIMES if mask >> t & 1)
            w = n_arm * math.prod(p[t] if t in obs else 1 - p[t] for t in TIMES)
            out.append((w, int(arm == "imr"), obs))
    return out


def gls_se(rho: float, sample: str, code: str, terms: tuple[str, ...], term: str) -> float:
    """Model-based SE of ``term`` in a random-intercept LMM with unit total variance.

    ``sqrt(diag((sum_i X_i' V_i^-1 X_i)^-1))`` with ``V_i = rho J + (1 - rho) I`` over the
    expected observation patterns of the published design (Ns of Table 3 or 7).
    """
    cols = {"intercept": lambda t, c: 1.0, "time": lambda t, c: float(t),
            "condition": lambda t, c: float(c), "condition_x_time": lambda t, c: float(c * t)}
    info = np.zeros((len(terms), len(terms)))
    for w, cond, obs in _patterns(sample, code):
        X = np.array([[cols[k](t, cond) for k in terms] for t in obs])
        V = rho * np.ones((len(obs), len(obs))) + (1 - rho) * np.eye(len(obs))
        info += w * X.T @ np.linalg.solve(V, X)
    cov = np.linalg.inv(info)
    k = terms.index(term)
    return float(math.sqrt(cov[k, k]))


@cache
def calibration(code: str) -> Calibration:
    """Calibrate the within-participant correlation of an outcome.

    Uses the first printed CI of :data:`SE_SOURCES`: the LMM SE of that coefficient is
    matched exactly under the published design.
    """
    o = OUTCOMES[code]
    total_sd = o.pooled_baseline_sd()
    z = stats.norm.ppf(0.5 + CI_LEVEL / 2)
    for sample, term in SE_SOURCES:
        fe = published.fixed_effects(sample)
        fe = fe[(fe["outcome"] == code) & fe["in_final_model"].astype(bool)]
        row = fe[fe["term"] == term]
        if row.empty or row[["ci_low", "ci_high"]].isna().any(axis=None):
            continue
        terms = tuple(t for t in published.TERMS if t in set(fe["term"]))
        target = float((row["ci_high"].iloc[0] - row["ci_low"].iloc[0]) / (2 * z))

        def gap(rho: float, sample: str = sample, term: str = term,
                terms: tuple[str, ...] = terms, target: float = target) -> float:
            return gls_se(rho, sample, code, terms, term) * total_sd - target

        lo, hi = _RHO_BOUNDS
        if gap(lo) * gap(hi) < 0:
            rho = float(optimize.brentq(gap, lo, hi, xtol=1e-6))
        else:
            rho = lo if abs(gap(lo)) < abs(gap(hi)) else hi
        se_model = gls_se(rho, sample, code, terms, term) * total_sd
        return Calibration(code, rho, sample, term, target, se_model, total_sd)
    raise ValueError(f"no printed CI to calibrate outcome {code!r}")  # pragma: no cover


def _grid(o: Outcome) -> np.ndarray:
    step = o.step if o.step is not None else (o.scale_max - o.scale_min) / 1000
    return np.arange(round(o.scale_min / step), round(o.scale_max / step) + 1) * step


def _moments(grid: np.ndarray, mu: float, sd: float) -> tuple[float, float]:
    """Mean and SD of ``N(mu, sd)`` rounded to ``grid`` (tails clipped to its ends)."""
    edges = np.concatenate([[-np.inf], (grid[:-1] + grid[1:]) / 2, [np.inf]])
    prob = np.diff(stats.norm.cdf((edges - mu) / sd))
    mean = float(prob @ grid)
    return mean, float(math.sqrt(max(prob @ grid**2 - mean**2, 0.0)))


def _bounded(code: str) -> bool:
    o = OUTCOMES[code]
    return o.scale_min is not None and o.scale_max is not None


@cache
def latent_mean(code: str, target: float, sd: float) -> float:
    """Return the mean of ``N(mu, sd)`` whose rounded, clipped value has mean ``target``.

    ``target`` itself for an unbounded scale or an unreachable target.
    """
    if not _bounded(code):
        return target
    o = OUTCOMES[code]
    grid = _grid(o)
    span = o.scale_max - o.scale_min
    a, b = o.scale_min - 3 * span, o.scale_max + 3 * span
    if not _moments(grid, a, sd)[0] < target < _moments(grid, b, sd)[0]:
        return target
    return float(optimize.brentq(lambda mu: _moments(grid, mu, sd)[0] - target, a, b,
                                 xtol=1e-9))


@cache
def _latent_curve(code: str, arm: str) -> tuple[np.ndarray, np.ndarray]:
    o = OUTCOMES[code]
    grid = _grid(o)
    sd = latent_sd(code, arm)
    span = o.scale_max - o.scale_min
    mus = np.linspace(o.scale_min - 3 * span, o.scale_max + 3 * span, 1601)
    edges = np.concatenate([[-np.inf], (grid[:-1] + grid[1:]) / 2, [np.inf]])
    prob = np.diff(stats.norm.cdf((edges[None, :] - mus[:, None]) / sd), axis=1)
    return prob @ grid, mus


def latent_means(code: str, arm: str, targets: np.ndarray) -> np.ndarray:
    """Latent means whose rounded, clipped values have expected means ``targets``.

    Per participant: each IMR participant's expected observed value (arm mean plus the
    attendance / fidelity shift) is mapped through the scale's floor, ceiling and grid at
    the arm's latent SD (interpolated on a fine curve of the expected value).
    """
    targets = np.asarray(targets, dtype=float)
    if not _bounded(code):
        return targets
    expected, mus = _latent_curve(code, arm)
    return np.interp(targets, expected, mus)


@cache
def latent_sd(code: str, arm: str) -> float:
    """SD of the latent normal whose rounded, clipped baseline values have the Table 1 SD.

    Floors and ceilings shrink the SD of a clipped normal; the latent SD is widened until
    the observed SD is the published one, or to the SD that comes closest where the
    published SD is out of reach of a clipped normal (ASI: mean 0.5, SD 1.3 on 0-4).
    """
    sd = baseline_sd(code, arm)
    if not _bounded(code):
        return sd
    grid = _grid(OUTCOMES[code])
    mean = cell("itt", code, arm, 0)[1]

    def observed_sd(sigma: float) -> float:
        return _moments(grid, latent_mean(code, mean, sigma), sigma)[1]

    sigmas = sd * np.linspace(1.0, 6.0, 51)
    sds = []
    for k, sigma in enumerate(sigmas):
        sds.append(observed_sd(float(sigma)))
        if sds[-1] >= sd:
            if k == 0:
                return sd
            return float(optimize.brentq(lambda x: observed_sd(x) - sd, sigmas[k - 1],
                                         sigma, xtol=1e-6))
    return float(sigmas[int(np.argmax(sds))])


def _subgroup(people: pd.DataFrame) -> np.ndarray:
    comp = people["completer"].fillna(False).to_numpy(bool)
    imr = people["arm"].to_numpy() == "imr"
    return np.where(imr & comp, "imr_c", np.where(imr, "imr_n", "cau"))


def _sub_counts(code: str, time: int) -> dict[str, int]:
    n_imr = cell("itt", code, "imr", time)[0]
    n_c = cell("completers", code, "imr", time)[0]
    return {"imr_c": n_c, "imr_n": n_imr - n_c, "cau": cell("itt", code, "cau", time)[0]}


def observed(people: pd.DataFrame, rng: np.random.Generator, exact: bool
             ) -> dict[str, np.ndarray]:
    """Which outcome is observed for whom at which time (boolean, participants x 3).

    Exact mode: exactly the Table 3 Ns per arm and time, of which the Table 7 Ns among IMR
    completers. Random mode: binomial counts with those shares. Outcomes share one
    assessment pattern (the primary outcome's), departing from it only as far as their
    own Ns require (e.g. the clinician-rated scales).
    """
    group = _subgroup(people)
    size_pub = {"imr_c": int(text("completers_n"))}
    size_pub["imr_n"] = cell("itt", PRIMARY, "imr", 0)[0] - size_pub["imr_c"]
    size_pub["cau"] = cell("itt", PRIMARY, "cau", 0)[0]
    n = len(people)

    def pick(counts: dict[str, int], priority: np.ndarray) -> np.ndarray:
        chosen = np.zeros(n, dtype=bool)
        for g in SUBGROUPS:
            idx = np.flatnonzero(group == g)
            k = counts[g]
            if not exact:
                share = min(counts[g] / size_pub[g], 1.0)
                k = int(rng.binomial(len(idx), share))
            k = min(k, len(idx))
            chosen[idx[np.argsort(-priority[idx], kind="stable")[:k]]] = True
        return chosen

    base = np.column_stack([pick(_sub_counts(PRIMARY, t), rng.random(n)) for t in TIMES])
    out = {}
    for code in CODES:
        out[code] = np.column_stack([
            base[:, t] if code == PRIMARY else
            pick(_sub_counts(code, t), 2.0 * base[:, t] + rng.random(n))
            for t in TIMES
        ])
    return out


@cache
def _subset_targets(code: str, time: int) -> list[tuple[str, float]]:
    """Return the published differences (subgroup - arm mean) the IMR regressors produce."""
    m_imr = cell("itt", code, "imr", time)[1]
    out = [("completer", cell("completers", code, "imr", time)[1] - m_imr)]
    if code in fidelity_outcomes():
        fe = published.fidelity_effects(code).set_index("term")["b"]
        suffix = {0: None, 1: "post", 2: "followup"}[time]
        m_cau = cell("itt", code, "cau", time)[1]
        for cls in ("high", "moderate"):
            diff = fe[cls] + (fe[f"{cls}_x_{suffix}"] if suffix else 0.0)
            out.append((cls, m_cau + diff - m_imr))
    return out


def imr_shift(code: str, people: pd.DataFrame) -> np.ndarray:
    """``x_i . beta_t`` per participant and time (zero for CAU), centred over the IMR arm."""
    imr = people["arm"].to_numpy() == "imr"
    att = people["sessions_attended"].astype("Float64").to_numpy(float, na_value=np.nan)
    sch = people["sessions_scheduled"].astype("Float64").to_numpy(float, na_value=np.nan)
    share = np.where(imr, att / np.where(imr, sch, 1.0), 0.0)
    cls = people["fidelity_class"].to_numpy()
    regs = [share]
    if code in fidelity_outcomes():
        regs += [(cls == "high").astype(float), (cls == "moderate").astype(float)]
    X = np.column_stack(regs)
    X[imr] -= X[imr].mean(axis=0)
    X[~imr] = 0.0
    members = {"completer": people["completer"].fillna(False).to_numpy(bool),
               "high": cls == "high", "moderate": cls == "moderate"}
    out = np.zeros((len(people), len(TIMES)))
    for t in TIMES:
        targets = _subset_targets(code, t)
        A = np.array([X[members[name]].mean(axis=0) if members[name].any()
                      else np.zeros(X.shape[1]) for name, _ in targets])
        rhs = np.array([value for _, value in targets])
        out[:, t] = X @ np.linalg.lstsq(A, rhs, rcond=None)[0]
    return out


def _draw(rng: np.random.Generator, n: int, arms: np.ndarray, exact: bool,
          against: np.ndarray | None = None) -> np.ndarray:
    """Draw standard normal values (exact mode: moments fixed).

    In exact mode the draws are standardized within arm (mean 0, SD 1) and made
    orthogonal to ``against``, so that their sample moments equal the model's.
    """
    z = rng.normal(0.0, 1.0, n)
    if not exact:
        return z
    for arm in ARMS:
        idx = arms == arm
        x = z[idx] - z[idx].mean()
        if against is not None:
            a = against[idx] - against[idx].mean()
            x = x - a * (a @ x) / (a @ a)
        z[idx] = x / x.std(ddof=1)
    return z


def outcome_values(code: str, people: pd.DataFrame, seen: np.ndarray,
                   rng: np.random.Generator, exact: bool, params: TwinParams) -> np.ndarray:
    """Values of one outcome (participants x 3; NaN where not observed)."""
    o: Outcome = OUTCOMES[code]
    cal = calibration(code)
    arms = people["arm"].to_numpy()
    imr = arms == "imr"
    sd_arm = np.where(imr, latent_sd(code, "imr"), latent_sd(code, "cau"))
    n = len(people)
    b = _draw(rng, n, arms, exact) * math.sqrt(cal.rho) * sd_arm
    groups = people["imr_group"].fillna("").to_numpy(str)
    labels, gidx = np.unique(groups, return_inverse=True)
    u = rng.normal(0.0, math.sqrt(params.group_icc) * cal.total_sd, len(labels))
    u = np.where(imr, u[gidx], 0.0)
    y = np.full((n, len(TIMES)), np.nan)
    shift = imr_shift(code, people)
    mu = np.empty((n, len(TIMES)))
    for t in TIMES:
        for arm in ARMS:
            idx = arms == arm
            target = cell("itt", code, arm, t)[1] + shift[idx, t]
            mu[idx, t] = latent_means(code, arm, target)
    targets = _cxt_targets(code) if exact else ()
    tries = params.exact_tries if targets else 1
    best, best_gap = None, math.inf
    for _ in range(tries):
        for t in TIMES:
            e = _draw(rng, n, arms, exact, against=b) * math.sqrt(1 - cal.rho) * sd_arm
            y[:, t] = snap(mu[:, t] + b + (u if t > 0 else 0.0) + e, o)
        if exact:
            _match_cells(code, y, people, seen, rng)
        values = np.where(seen, y, np.nan)
        if not targets:
            return values
        gap = _cxt_gap(values, people, cal.rho, targets)
        if gap < best_gap:
            best, best_gap = values.copy(), gap
    return best


@cache
def _cxt_targets(code: str) -> tuple[tuple[str, float, float], ...]:
    """Return the printed condition x time coefficients of an outcome: (sample, B, SE)."""
    z = stats.norm.ppf(0.5 + CI_LEVEL / 2)
    out = []
    for sample in ("itt", "completers"):
        fe = published.fixed_effects(sample)
        row = fe[(fe["outcome"] == code) & (fe["term"] == "condition_x_time")
                 & fe["b"].notna()]
        if not row.empty:
            r = row.iloc[0]
            out.append((sample, float(r["b"]), float((r["ci_high"] - r["ci_low"]) / (2 * z))))
    return tuple(out)


def gls_condition_x_time(y: np.ndarray, imr: np.ndarray, rho: float) -> float:
    """Condition x time estimate of the paper's random-intercept LMM at a known ``rho``.

    Generalized least squares with ``V_i = rho J + (1 - rho) I`` over each participant's
    observed times (rows of ``y``: participants; columns: times 0, 1, 2; NaN = missing);
    fixed effects intercept, time, condition, condition x time.
    """
    info = np.zeros((4, 4))
    score = np.zeros(4)
    seen = ~np.isnan(y)
    for mask in range(1, 8):
        obs = [t for t in TIMES if mask >> t & 1]
        rows = np.all(seen[:, obs], axis=1) & (seen.sum(axis=1) == len(obs))
        if not rows.any():
            continue
        k = len(obs)
        Vinv = np.linalg.inv(rho * np.ones((k, k)) + (1 - rho) * np.eye(k))
        tt = np.array(obs, dtype=float)
        for cond in (0.0, 1.0):
            sel = rows & (imr == bool(cond))
            if not sel.any():
                continue
            X = np.column_stack([np.ones(k), tt, np.full(k, cond), cond * tt])
            XtV = X.T @ Vinv
            info += sel.sum() * XtV @ X
            score += XtV @ y[sel][:, obs].sum(axis=0)
    return float(np.linalg.solve(info, score)[3])


def _cxt_gap(values: np.ndarray, people: pd.DataFrame, rho: float,
             targets: tuple[tuple[str, float, float], ...]) -> float:
    imr = people["arm"].to_numpy() == "imr"
    comp = people["completer"].fillna(False).to_numpy(bool)
    gap = 0.0
    for sample, b, se in targets:
        keep = np.ones(len(imr), dtype=bool) if sample == "itt" else (~imr | comp)
        est = gls_condition_x_time(values[keep], imr[keep], rho)
        gap += ((est - b) / se) ** 2
    return gap


def _match_cells(code: str, y: np.ndarray, people: pd.DataFrame, seen: np.ndarray,
                 rng: np.random.Generator) -> None:
    """Exact mode: observed arm means equal Table 3, IMR completer means Table 7."""
    o = OUTCOMES[code]
    group = _subgroup(people)
    for t in TIMES:
        obs = seen[:, t]
        n_imr, m_imr = int((obs & (group != "cau")).sum()), cell("itt", code, "imr", t)[1]
        idx_c = np.flatnonzero(obs & (group == "imr_c"))
        k_imr = target_units(n_imr, m_imr, o)
        k_c = target_units(len(idx_c), cell("completers", code, "imr", t)[1], o)
        idx_cau = np.flatnonzero(obs & (group == "cau"))
        k_cau = target_units(len(idx_cau), cell("itt", code, "cau", t)[1], o)
        for idx, k in ((idx_c, k_c), (np.flatnonzero(obs & (group == "imr_n")), k_imr - k_c),
                       (idx_cau, k_cau)):
            y[idx, t] = match_sum_on_grid(y[idx, t], o, k, rng)
