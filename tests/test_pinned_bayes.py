"""Bayesian estimates against pinned values: exactly now, statistically against 0.1.

Two pins of the same 11 fits (every analysis; 2 chains x 300 draws, seed 4931):

* ``bayes_effects.csv`` was made by ``make_pinned.py`` **before the core refactor** (0.1
  layout and names). The refactor itself kept every model graph and reproduced it exactly
  (``docs/architecture.md``, "Numbers kept"). The deterministic compile that came after
  (``numba__fastmath=False``, ``docs/performance.md``) changes the last bits of the log
  density and hence the draws, so the check against 0.1 is statistical: the same posterior
  sampled twice, each mean within 4 combined Monte Carlo SEs (SD / sqrt(min bulk ESS) of each
  run, added in quadrature), and the same rows with P(benefit) where 0.1 had one, except the
  baseline (t = 0) rows, which have none since issue 17. The ``los`` analysis was redesigned
  in issue 17 (hurdle log-normal of ``los_after`` adjusted for the baseline, means by
  g-computation) and has no 0.1 counterpart.
* ``bayes_estimates.csv`` was made by ``make_pinned_estimates.py`` with the deterministic
  compile: same seed, same draws whatever the compile-cache state, so the check is exact
  (relative 1e-10).

Issue 14 made the partially nested model the default ``itt`` and ``itt_categorical`` and
tightened the default prior of ``sigma_group`` (HalfNormal(0.5) -> HalfNormal(0.2)). The pins
stay meaningful because nothing they pinned was changed, only renamed: the former default
models are the analyses ``itt_parity`` and ``itt_categorical_parity`` (same kind ``lmm``,
same PyMC graph, same compile key) and the former default prior set is ``group_icc_high``
(only ``sigma_group`` differs from the default, and only its value). So the pinned fits now
run those names under that prior set (``make_pinned_estimates.py``) and must still reproduce
the pins bitwise; ``RENAMED`` maps the analysis names the CSVs were made with. The new
default model is checked against external references elsewhere (``test_bayes_pn.py``).
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pytestmark = pytest.mark.slow

PINNED = Path(__file__).parent / "fixtures" / "pinned"
sys.path.insert(0, str(PINNED))
from make_pinned_estimates import fit_all  # noqa: E402

KEYS = ["analysis", "outcome", "estimand", "arm", "time"]
#: Analysis names of the pinned CSVs -> their names now (same models, see the docstring).
RENAMED = {"itt": "itt_parity", "itt_categorical": "itt_categorical_parity"}


def _pinned(name: str) -> pd.DataFrame:
    df = pd.read_csv(PINNED / name)
    return df.assign(analysis=df["analysis"].replace(RENAMED))


@pytest.fixture(scope="module")
def now() -> pd.DataFrame:
    return fit_all()


def _keyed(df: pd.DataFrame) -> pd.DataFrame:
    df = df.copy()
    df["time"] = df["time"].astype("Int64")
    df["arm"] = df["arm"].astype("string")
    return df.set_index(KEYS).sort_index()


def test_estimates_equal_the_deterministic_pin(now):
    pinned = _keyed(_pinned("bayes_estimates.csv"))
    current = _keyed(now)
    assert list(current.index) == list(pinned.index)
    for col in ("estimate", "ci_low", "ci_high", "sd", "p_direction", "p_benefit"):
        np.testing.assert_allclose(current[col].to_numpy(float), pinned[col].to_numpy(float),
                                   rtol=1e-10, atol=1e-12, err_msg=col)


def test_estimates_agree_with_the_pre_refactor_release(now):
    """Same posteriors as 0.1 (matched through the deprecated 0.1 names)."""
    import imr_bayes
    from imr_bayes.bayes.api import legacy_effects

    old = _pinned("bayes_effects.csv")
    fits = now[now["analysis"] != "los"].groupby(["analysis", "outcome"], sort=False)
    for (analysis, outcome), rows in fits:
        fit = type("Fit", (), {})()
        fit.analysis = analysis
        fit.estimates = imr_bayes.Estimates(rows.drop(columns="min_ess_bulk"))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            new = legacy_effects(fit).assign(min_ess_bulk=rows["min_ess_bulk"].to_numpy())
        ref = old[(old["analysis"] == analysis) & (old["outcome"] == outcome)]
        merged = ref.merge(new.assign(time=new["time"].astype("Int64")).astype({"arm": object}),
                           on=["estimand", "arm", "time"], how="outer",
                           suffixes=("_old", "_new"), indicator=True)
        assert (merged["_merge"] == "both").all(), (analysis, merged["estimand"].tolist())
        mcse = np.hypot(merged["sd_old"] / np.sqrt(merged["min_ess_bulk_old"]),
                        merged["sd_new"] / np.sqrt(merged["min_ess_bulk_new"]))
        gap = ((merged["mean_new"] - merged["mean_old"]).abs() / mcse).max()
        assert gap <= 4, (analysis, outcome, gap)
        baseline = merged["time"].eq(0).fillna(False).to_numpy()
        assert merged.loc[baseline, "p_benefit_new"].isna().all(), (analysis, outcome)
        assert np.array_equal(merged.loc[~baseline, "p_benefit_old"].isna(),
                              merged.loc[~baseline, "p_benefit_new"].isna())
