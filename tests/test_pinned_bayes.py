"""Bayesian estimates equal the numbers pinned before the core refactor (issue 13).

``tests/fixtures/pinned/bayes_effects.csv`` holds the 0.1 ``effects`` of 11 fits (every
analysis; 2 chains x 300 draws, seed 4931) made by ``make_pinned.py`` before the refactor.
The refactor kept every model graph, so the posterior means must agree within 0.5 Monte Carlo
SE (SD / sqrt(min bulk ESS) of the pinned fit); on a machine whose compile cache matches the
pinning run they are identical. Estimand names moved (no ``pp_``/``fidelity_`` prefixes);
the deprecated ``fit.effects`` keeps the 0.1 names, so the rows are matched through it.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import imr_bayes
from imr_bayes.data import default_twin

pytestmark = pytest.mark.slow

PINNED = Path(__file__).parent / "fixtures" / "pinned" / "bayes_effects.csv"
SETTINGS = {"draws": 300, "tune": 300, "chains": 2, "seed": 4931}


@pytest.fixture(scope="module")
def pinned():
    return pd.read_csv(PINNED)


@pytest.mark.parametrize("analysis, outcome", [
    ("itt", "imrs_client"), ("itt", "asi"), ("itt_categorical", "imrs_client"),
    ("completers", "imrs_client"), ("completers_categorical", "ses"),
    ("cace", "imrs_client"), ("fidelity", "sers_sf"), ("fidelity_dose", "imrs_client"),
    ("attendance_dose", "imrs_client"), ("hospitalization", "imrs_client"),
    ("los", "imrs_client"),
])
def test_estimates_match_the_pinned_values(pinned, analysis, outcome):
    old = pinned[(pinned["analysis"] == analysis) & (pinned["requested_outcome"] == outcome)]
    kw = {} if analysis in ("hospitalization", "los") else {"outcome": outcome}
    fit = imr_bayes.fit(default_twin(), analysis=analysis, **kw, **SETTINGS)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        new = fit.effects
    keys = ["estimand", "arm", "time"]
    old = old.assign(time=old["time"].astype("Int64"))
    merged = old.merge(new.assign(time=new["time"].astype("Int64")), on=keys, how="outer",
                       suffixes=("_old", "_new"), indicator=True)
    assert (merged["_merge"] == "both").all(), merged.loc[merged["_merge"] != "both", keys]
    mcse = merged["sd_old"] / np.sqrt(merged["min_ess_bulk"])
    gap = (merged["mean_new"] - merged["mean_old"]).abs() / mcse
    assert gap.max() <= 0.5, merged.loc[gap.idxmax(), keys]
    for col in ("p_benefit", "p_direction"):
        a, b = merged[f"{col}_old"].to_numpy(float), merged[f"{col}_new"].to_numpy(float)
        assert np.array_equal(np.isnan(a), np.isnan(b)), col
