"""Hand-built data frames in the data contract's column layout for the frequentist tests."""

from __future__ import annotations

import numpy as np
import pandas as pd


def contract_frame(n_imr: int = 30, n_cau: int = 20, seed: int = 1, missing: float = 0.0,
                   effect: float = 0.3) -> pd.DataFrame:
    """Small long data frame in the contract's column layout (only the columns used here)."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n_imr + n_cau):
        arm = "imr" if i < n_imr else "cau"
        u = rng.normal(0, 0.5)
        comp = bool(rng.random() < 0.5) if arm == "imr" else pd.NA
        for t in (0, 1, 2):
            y = 3 + u + 0.05 * t + (effect * t if arm == "imr" else 0) + rng.normal(0, 0.3)
            if t > 0 and rng.random() < missing:
                y = np.nan
            rows.append({"participant_id": f"P{i:03d}", "arm": arm, "time": t,
                         "completer": comp, "imrs_client": y})
    df = pd.DataFrame(rows)
    df["completer"] = df["completer"].astype("boolean")
    return df
