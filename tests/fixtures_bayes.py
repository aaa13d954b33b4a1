"""Shared data for the Bayesian tests: a small contract-shaped simulator with known truth.

Used only where the twin is not needed (structure tests, recovery of planted values). It follows
the data contract's column layout: participant_id, arm, time, imr_group and outcome columns.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from imr_bayes import outcomes
from imr_bayes.bayes.itt import standardization


def simulate_itt(outcome: str = "imrs_client", *, n_imr: int = 116, n_cau: int = 71,
                 n_groups: int = 15, cxt_d: float = 0.2, sd_participant: float = 0.7,
                 sd_group: float = 0.25, sd_residual: float = 0.6, missing: float = 0.1,
                 sd_residual_cau: float | None = None, seed: int = 1) -> pd.DataFrame:
    """Simulate long ITT data on the standardized scale of ``outcome`` (truth in SD units).

    ``sd_residual_cau`` (default: ``sd_residual``) gives the control arm its own residual SD.
    Values are clipped to the outcome's scale range, as the data contract requires (a few
    tail values of a strong planted effect would otherwise fall off the scale).
    """
    sd_cau = sd_residual if sd_residual_cau is None else sd_residual_cau
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
            z = 0.05 * t + cxt_d * c * t + u[i] + rng.normal(0, sd_residual if c else sd_cau)
            if c and t > 0:
                z += g[int(group[i][1:]) - 1]
            y = center + scale * z
            if t > 0 and rng.random() < missing:
                y = np.nan
            rows.append((f"P{i:03d}", arm[i], t, group[i], y))
    df = pd.DataFrame(rows, columns=["participant_id", "arm", "time", "imr_group", outcome])
    o = outcomes.get(outcome)
    df[outcome] = df[outcome].clip(o.scale_min, o.scale_max)
    df["imr_group"] = df["imr_group"].astype("string")
    return df
