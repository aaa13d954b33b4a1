"""Shared data for the Bayesian tests: a small contract-shaped simulator with known truth.

Used only where the twin is not needed (structure tests, recovery of planted values). It follows
the data contract's column layout: participant_id, arm, time, team, imr_group and outcome
columns.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from imr_bayes import outcomes
from imr_bayes.bayes.itt import standardization


def simulate_itt(outcome: str = "imrs_client", *, n_imr: int = 116, n_cau: int = 71,
                 n_groups: int = 15, cxt_d: float = 0.2, sd_participant: float = 0.7,
                 sd_group: float = 0.25, sd_residual: float = 0.6, missing: float = 0.1,
                 sd_residual_cau: float | None = None, sd_residual_baseline: float | None = None,
                 group_loading: str = "shift", n_teams: int = 14, sd_team: float = 0.0,
                 seed: int = 1) -> pd.DataFrame:
    """Simulate long ITT data on the standardized scale of ``outcome`` (truth in SD units).

    ``sd_residual_cau`` (default: ``sd_residual``) gives the control arm its own residual SD;
    ``sd_residual_baseline`` (default: the arm's) one SD for both arms at baseline.
    ``group_loading`` is the group effect's loading: ``shift`` (``[t > 0]``) or ``slope``
    (``t``). Participants are spread over ``n_teams`` teams (the randomization strata) with
    team intercepts ``N(0, sd_team^2)``, drawn from a separate stream so that the other
    values do not depend on them. Values are clipped to the outcome's scale range, as the
    data contract requires (a few tail values of a strong planted effect would otherwise
    fall off the scale). ``attrs["group_effects"]`` holds the planted group effects.
    """
    sd_cau = sd_residual if sd_residual_cau is None else sd_residual_cau
    side = np.random.default_rng([seed, 1])
    team = side.integers(1, n_teams + 1, n_imr + n_cau)
    v = side.normal(0, sd_team, n_teams + 1)
    rng = np.random.default_rng(seed)
    center, scale = standardization(outcome)
    n = n_imr + n_cau
    arm = np.array(["imr"] * n_imr + ["cau"] * n_cau)
    group = np.array([f"G{(k % n_groups) + 1:02d}" for k in range(n_imr)] + [None] * n_cau,
                     dtype=object)
    u = rng.normal(0, sd_participant, n)
    g = rng.normal(0, sd_group, n_groups)
    rows = []
    for i in range(n):
        for t in (0, 1, 2):
            c = float(arm[i] == "imr")
            sd = sd_residual if c else sd_cau
            if t == 0 and sd_residual_baseline is not None:
                sd = sd_residual_baseline
            z = 0.05 * t + cxt_d * c * t + u[i] + v[team[i]] + rng.normal(0, sd)
            if c and t > 0:
                z += g[int(group[i][1:]) - 1] * (t if group_loading == "slope" else 1)
            y = center + scale * z
            if t > 0 and rng.random() < missing:
                y = np.nan
            rows.append((f"P{i:03d}", arm[i], t, int(team[i]), group[i], y))
    df = pd.DataFrame(rows, columns=["participant_id", "arm", "time", "team", "imr_group",
                                     outcome])
    o = outcomes.get(outcome)
    df[outcome] = df[outcome].clip(o.scale_min, o.scale_max)
    df["imr_group"] = df["imr_group"].astype("string")
    # the planted group effects (standardized), for recovery tests
    df.attrs["group_effects"] = {f"G{k + 1:02d}": float(g[k]) for k in range(n_groups)}
    return df
