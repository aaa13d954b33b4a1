"""A random twin with a planted missing-not-at-random (MNAR) dropout mechanism.

The synthetic twin (:mod:`imr_bayes.data`) makes outcomes missing completely at random
within arm and completion status, and has no parameter for informative dropout. This
wrapper draws a random twin, draws the **complete** values of one outcome from the twin's
own generative model (:func:`imr_bayes.data.twin_outcomes.outcome_values` with every cell
observed), and then deletes follow-up values with a known MNAR mechanism::

    eta_i  = direction * (mean_t y_it - arm mean) / arm SD     participant's level, benefit +
    P(y_it missing) = expit(alpha_{arm,t} + gamma_arm * eta_i)  t = 12, 18 months

``eta_i`` uses all three complete values, including the ones that go missing (MNAR).
``alpha`` is solved per arm and time so that the expected share missing equals the twin's
(Table 3 Ns) times ``share_scale``; baseline values stay observed. ``gamma_imr < 0`` makes
worse-off IMR participants drop out more, so the observed IMR follow-ups look better than
the arm really is, and the MAR analysis overstates the benefit. The truth per replicate is
the REML condition x time estimate of the paper's LMM on the complete data
(:func:`imr_bayes.sensitivity.delta.complete_data_lmm`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import optimize, special

from imr_bayes import published
from imr_bayes.constants import ARMS, N_RANDOMIZED, TIMES
from imr_bayes.errors import ImrBayesError
from imr_bayes.outcomes import get as get_outcome


@dataclass(frozen=True)
class PlantedMnar:
    """One random twin with planted MNAR dropout in one outcome.

    Attributes
    ----------
    data : pandas.DataFrame
        Contract long data; ``outcome`` holds the complete values with the planted
        follow-up values removed (other outcomes as the random twin has them).
    complete : numpy.ndarray, shape (P, 3)
        The outcome's complete values, participants in ``data`` order.
    outcome : str
    gamma : dict
        Log-odds of missing per SD of the participant's level, per arm.
    truth : float
        Condition x time REML estimate of the paper's LMM on the complete values (raw).
    missing_share : float
        Share of follow-up values removed.
    """

    data: pd.DataFrame
    complete: np.ndarray
    outcome: str
    gamma: dict[str, float]
    truth: float
    missing_share: float


def _target_missing(outcome: str) -> dict[tuple[str, int], float]:
    """Share of follow-up values missing per arm and time in Table 3 (the twin's shares)."""
    mm = published.marginal_means("itt")
    mm = mm[mm["outcome"] == outcome].set_index(["arm", "time"])["n"].astype(float)
    return {(arm, t): 1.0 - mm.loc[(arm, t)] / N_RANDOMIZED[arm] for arm in ARMS
            for t in TIMES[1:]}


def _solve_alpha(eta: np.ndarray, gamma: float, share: float) -> float:
    """Intercept so that the mean of expit(alpha + gamma eta) equals ``share``."""
    def gap(alpha: float) -> float:
        return float(special.expit(alpha + gamma * eta).mean() - share)

    return float(optimize.brentq(gap, -30.0, 30.0))


def simulate_mnar_twin(*, seed: int, outcome: str = "imrs_client", gamma_imr: float = -1.5,
                       gamma_cau: float = 0.0, share_scale: float = 1.0,
                       **params: object) -> PlantedMnar:
    """Draw a random twin and plant MNAR dropout in ``outcome`` (see the module docstring).

    Parameters
    ----------
    seed : int
        Seed of the twin and of the planted dropout (same seed, same data).
    outcome : str
        Outcome code.
    gamma_imr, gamma_cau : float
        Log-odds of a missing follow-up per SD of the participant's level in the
        beneficial direction (negative: worse-off participants miss more), per arm.
    share_scale : float
        Multiplies the twin's share missing at each follow-up (must keep it below 0.9).
    **params
        Twin parameters (:class:`imr_bayes.data.twin_design.TwinParams`).

    Returns
    -------
    PlantedMnar

    Raises
    ------
    ImrBayesError
        Unknown outcome or twin parameter, or a share outside (0, 0.9].
    """
    from imr_bayes.data import simulate_twin
    from imr_bayes.data.twin_design import TwinParams, participants
    from imr_bayes.data.twin_outcomes import observed, outcome_values
    from imr_bayes.sensitivity.delta import complete_data_lmm

    o = get_outcome(outcome)
    twin = simulate_twin(seed=seed, mode="random", **params)
    settings = TwinParams.from_kwargs(**params)
    rng = np.random.default_rng(int(seed))
    people = participants(rng, False, settings)     # the same draws simulate_twin made
    observed(people, rng, False)
    pids = twin["participant_id"].astype(str).to_numpy()[:: len(TIMES)]
    if list(people["participant_id"].astype(str)) != list(pids):
        raise ImrBayesError("planted-MNAR twin: participants differ from simulate_twin's")
    rng2 = np.random.default_rng([int(seed), 77])
    full = np.ones((len(people), len(TIMES)), dtype=bool)
    y = outcome_values(outcome, people, full, rng2, False, settings)
    arms = people["arm"].to_numpy()
    level = y.mean(axis=1)
    eta = np.empty(len(people))
    for arm in ARMS:
        idx = arms == arm
        eta[idx] = o.direction * (level[idx] - level[idx].mean()) / level[idx].std(ddof=1)
    gamma = {"imr": float(gamma_imr), "cau": float(gamma_cau)}
    missing = np.zeros_like(full)
    for (arm, t), share in _target_missing(outcome).items():
        target = share * share_scale
        if not 0.0 < target <= 0.9:
            raise ImrBayesError(f"share missing {target:.3f} for {arm} at time {t} is "
                                "outside (0, 0.9]; choose another share_scale")
        idx = arms == arm
        alpha = _solve_alpha(eta[idx], gamma[arm], target)
        prob = special.expit(alpha + gamma[arm] * eta[idx])
        missing[idx, t] = rng2.random(idx.sum()) < prob
    data = twin.copy()
    data[outcome] = np.where(missing, np.nan, y).reshape(-1)
    treated = (arms == "imr").astype(float)
    time = np.broadcast_to(np.asarray(TIMES, dtype=float), y.shape)
    X = np.stack([np.ones_like(time), time, np.broadcast_to(treated[:, None], y.shape),
                  treated[:, None] * time], axis=-1)
    truth = float(complete_data_lmm(y, X).beta[0, 3])
    return PlantedMnar(data=data, complete=y, outcome=outcome, gamma=gamma, truth=truth,
                       missing_share=float(missing[:, 1:].mean()))
