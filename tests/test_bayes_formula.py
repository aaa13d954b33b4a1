"""fit_formula (bambi + nutpie) on real data against lme4's published estimates (slow tier).

sleepstudy, ``Reaction ~ Days + (Days | Subject)``: lme4 (Bates et al. 2015, JSS 67(1),
section 5; /work/shared/data/sleepstudy/SOURCE.md) prints Intercept 251.405 (SE 6.825) and
Days 10.467 (SE 1.546). Under bambi's weakly informative default priors the posterior mean
should lie within 0.5 posterior SD of the REML estimate (the posterior SD is close to the
SE, so this is well inside sampling-level agreement; Monte Carlo error is ~0.02 SD).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import imr_bayes

pytestmark = pytest.mark.slow

DATA = Path("/work/shared/data/sleepstudy/sleepstudy_long.csv")
LME4 = {"Intercept": 251.405, "Days": 10.467}


@pytest.fixture(scope="module")
def sleep_fit():
    if not DATA.exists():
        pytest.skip("sleepstudy data not available")
    data = pd.read_csv(DATA)
    return imr_bayes.fit_formula("Reaction ~ Days + (Days | Subject)", data, seed=1), data


def test_days_slope_matches_lme4(sleep_fit):
    fit, _ = sleep_fit
    days = fit.effects.set_index("estimand").loc["Days"]
    assert abs(days["mean"] - LME4["Days"]) < 0.5 * days["sd"]
    assert fit.diagnostics.divergences == 0


def test_intercept_after_undoing_bambis_centring_matches_lme4(sleep_fit):
    # bambi centres Days: its Intercept is the mean reaction at mean(Days) = 4.5.
    fit, data = sleep_fit
    post = fit.idata["posterior"]
    intercept = (post["Intercept"] - data["Days"].mean() * post["Days"]).values.ravel()
    assert abs(intercept.mean() - LME4["Intercept"]) < 0.5 * intercept.std()
    assert np.isfinite(fit.idata["log_likelihood"]["Reaction"].values).all()
