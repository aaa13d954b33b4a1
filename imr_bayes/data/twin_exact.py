"""Small exact-matching tools of the synthetic twin's ``mode="exact"``.

Two kinds of adjustment make a random draw reproduce printed summary numbers:

* :func:`match_sum_on_grid` moves values of a cell by single scale steps (respecting the
  scale's range and granularity) until the cell's sum, hence its mean, hits a target;
* :func:`climb_mean_sd` moves integer counts (sessions, days, years) one at a time until
  a mean and an SD round to printed values.

Both draw only from the ``numpy.random.Generator`` they are given.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from imr_bayes.outcomes import Outcome


def grid_units(outcome: Outcome) -> tuple[float, float, float] | None:
    """Return ``(step, lo_units, hi_units)`` of an outcome's grid, or None if continuous."""
    if outcome.step is None:
        return None
    lo = -math.inf if outcome.scale_min is None else round(outcome.scale_min / outcome.step)
    hi = math.inf if outcome.scale_max is None else round(outcome.scale_max / outcome.step)
    return outcome.step, lo, hi


def snap(values: np.ndarray, outcome: Outcome) -> np.ndarray:
    """Round values to the outcome's granularity and clip them to its scale range."""
    out = np.asarray(values, dtype=float)
    lo = -np.inf if outcome.scale_min is None else outcome.scale_min
    hi = np.inf if outcome.scale_max is None else outcome.scale_max
    out = np.clip(out, lo, hi)
    if outcome.step is not None:
        out = np.clip(np.round(out / outcome.step) * outcome.step, lo, hi)
    return out


def target_units(n: int, mean: float, outcome: Outcome) -> float:
    """Sum of ``n`` values whose mean is nearest to ``mean``, in grid units (or raw)."""
    if outcome.step is None:
        return n * mean
    return float(round(n * mean / outcome.step))


def match_sum_on_grid(
    values: np.ndarray, outcome: Outcome, total_units: float, rng: np.random.Generator
) -> np.ndarray:
    """Shift a cell's values so that they sum to ``total_units`` grid steps.

    A common shift comes first (re-snapped until the remainder is small), then single
    steps on randomly chosen values that are not at the bound in the needed direction.
    Continuous outcomes (no known granularity) get one exact common shift.

    Parameters
    ----------
    values : ndarray
        Observed values of the cell, already on the grid.
    outcome : Outcome
        Gives the range and granularity.
    total_units : float
        Target sum in grid units (raw units for a continuous outcome).
    rng : numpy.random.Generator
        Chooses which values move.

    Returns
    -------
    ndarray
        The adjusted values (same order). If the range makes the target unreachable the
        closest reachable sum is returned.
    """
    n = len(values)
    if n == 0:
        return values.copy()
    grid = grid_units(outcome)
    if grid is None:
        return values + (total_units - values.sum()) / n
    step, lo, hi = grid
    k = np.round(values / step)
    for _ in range(20):
        gap = total_units - k.sum()
        if abs(gap) < n:
            break
        k = np.clip(k + np.round(gap / n), lo, hi)
    while True:
        gap = int(round(total_units - k.sum()))
        if gap == 0:
            break
        direction = 1 if gap > 0 else -1
        movable = np.flatnonzero(k < hi) if direction > 0 else np.flatnonzero(k > lo)
        if len(movable) == 0:
            break
        chosen = rng.choice(movable, size=min(abs(gap), len(movable)), replace=False)
        k[chosen] += direction
    return k * step


def climb_mean_sd(
    values: np.ndarray,
    lo: np.ndarray,
    hi: np.ndarray,
    objective: Callable[[float, float, float], float],
    rng: np.random.Generator,
    *,
    owner: np.ndarray | None = None,
    sign: np.ndarray | None = None,
    n_derived: int | None = None,
    steps: tuple[int, ...] = (1,),
    max_iter: int = 200_000,
) -> np.ndarray:
    """Greedy integer moves until ``objective(n, sum, sum of squares)`` reaches zero.

    Each proposal adds a step to one value, or moves a step from one value to another
    (keeping the sum), within the bounds; it is kept only if the objective decreases.
    By default the objective sees the values themselves; with
    ``owner`` and ``sign`` it sees derived values ``d[owner[k]] += sign[k] * values[k]``
    (e.g. length-of-stay differences after - before).

    Parameters
    ----------
    values, lo, hi : ndarray
        Integer-valued start values and per-value bounds.
    objective : callable
        ``objective(n, s1, s2) -> float``, zero when the targets are met.
    rng : numpy.random.Generator
        Chooses the moves.
    owner, sign : ndarray, optional
        Map values onto derived values (see above).
    n_derived : int, optional
        Number of derived values (default: number of values).
    steps : tuple of int
        Step sizes tried (each move picks one at random).
    max_iter : int
        Upper bound on the number of proposed moves.

    Returns
    -------
    ndarray
        The adjusted values.
    """
    v = np.asarray(values, dtype=float).copy()
    owner = np.arange(len(v)) if owner is None else np.asarray(owner)
    sign = np.ones(len(v)) if sign is None else np.asarray(sign, dtype=float)
    n = len(v) if n_derived is None else n_derived
    d = np.zeros(n)
    np.add.at(d, owner, sign * v)
    s1, s2 = float(d.sum()), float((d**2).sum())
    best = objective(n, s1, s2)
    batch = 4096
    done = 0
    d_list = d.tolist()
    while best > 0 and done < max_iter:
        k1s = rng.integers(len(v), size=batch).tolist()
        k2s = rng.integers(len(v), size=batch).tolist()
        pair = (rng.random(batch) < 0.5).tolist()
        moves = (rng.choice(np.asarray(steps), size=batch)
                 * rng.choice(np.array([-1, 1]), size=batch)).tolist()
        for k1, k2, both, mv in zip(k1s, k2s, pair, moves, strict=True):
            change = {k1: mv} if not both or k1 == k2 else {k1: mv, k2: -mv}
            if any(not lo[k] <= v[k] + m <= hi[k] for k, m in change.items()):
                continue
            t1, t2, touched = s1, s2, {}
            for k, m in change.items():
                j = owner[k]
                old_d = touched.get(j, d_list[j])
                new_d = old_d + sign[k] * m
                t1 += new_d - old_d
                t2 += new_d * new_d - old_d * old_d
                touched[j] = new_d
            val = objective(n, t1, t2)
            if val < best:
                best, s1, s2 = val, t1, t2
                for k, m in change.items():
                    v[k] += m
                for j, new_d in touched.items():
                    d_list[j] = new_d
                if best <= 0:
                    break
        done += batch
    return v


def mean_sd_objective(
    mean: float, sd: float, decimals: tuple[int, int], *, n_extra: int = 0,
    s1_extra: float = 0.0, s2_extra: float = 0.0,
) -> Callable[[int, float, float], float]:
    """Objective that is zero when the mean and SD (ddof 1) round to the printed values.

    ``n_extra``, ``s1_extra`` and ``s2_extra`` add fixed values (their count, sum and sum
    of squares), so the moments of a combined group can be matched by moving one part.
    """
    tol_m = 0.5 * 10.0 ** -decimals[0] * 0.98
    tol_s = 0.5 * 10.0 ** -decimals[1] * 0.98

    def objective(n: int, s1: float, s2: float) -> float:
        nn = n + n_extra
        t1 = s1 + s1_extra
        t2 = s2 + s2_extra
        m = t1 / nn
        sd_now = math.sqrt(max((t2 - nn * m * m) / (nn - 1), 0.0))
        if abs(m - mean) <= tol_m and abs(sd_now - sd) <= tol_s:
            return 0.0
        scale = max(abs(sd), 1e-9)
        return ((m - mean) / scale) ** 2 + ((sd_now - sd) / scale) ** 2

    return objective
