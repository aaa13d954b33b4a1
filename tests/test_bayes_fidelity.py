"""Fidelity subgroups (Tables 4-5), fidelity dose-response and the attendance moderator.

References: the paper's fidelity numbers (15 groups, mean 3.94, SD 0.29; 39 high and 29
moderate participants), and frequentist REML fits of the same designs on the same twin
(:func:`imr_bayes.frequentist.fidelity_analysis`, :func:`imr_bayes.frequentist.fit_mixed`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import imr_bayes
from imr_bayes import published
from imr_bayes.bayes.fidelity import (
    SUBGROUP_TERMS,
    fidelity_slope_data,
    group_fidelity,
    plot_fidelity_slope,
    subgroup_design,
)
from imr_bayes.data import default_twin
from imr_bayes.errors import DataValidationError, ImrBayesError
from imr_bayes.frequentist import fidelity_analysis, fit_mixed
from imr_bayes.spec import load_analysis

DRAWS = dict(draws=300, tune=300, chains=2)


def _text(key: str) -> float:
    return float(published.text_results().set_index("key").loc[key, "value"])


@pytest.fixture(scope="session")
def twin() -> pd.DataFrame:
    return default_twin()


@pytest.fixture(scope="session")
def fidelity_fit(twin):
    return imr_bayes.fit(twin, analysis="fidelity", imr_group=False, seed=3, **DRAWS)


@pytest.fixture(scope="session")
def dose_fit(twin):
    return imr_bayes.fit(twin, analysis="fidelity_dose", seed=4, **DRAWS)


def test_group_fidelity_scores_match_the_paper(twin):
    groups = tuple(f"G{g:02d}" for g in range(1, 16))
    score = group_fidelity(twin, groups)
    assert np.isfinite(score).all()
    assert round(score.mean(), 2) == _text("fidelity_mean")
    assert round(score.std(ddof=1), 2) == _text("fidelity_sd")
    bad = twin.copy()
    first = (bad["imr_group"] == "G01").to_numpy().nonzero()[0][0]
    bad.loc[first, "fidelity"] = 1.0
    with pytest.raises(DataValidationError, match="G01"):
        group_fidelity(bad, groups)


def test_subgroup_design_columns():
    X = subgroup_design(np.array(["control", "high", "moderate"]))
    assert X.shape == (3, 3, 9)
    # high participant at 18 months: intercept, time_2, high, high_x_t2
    np.testing.assert_array_equal(X[1, 2], [1, 0, 1, 1, 0, 0, 1, 0, 0])
    np.testing.assert_array_equal(X[0].sum(axis=0), [3, 1, 1, 0, 0, 0, 0, 0, 0])


def test_fidelity_subgroups_agree_with_reml(fidelity_fit, twin):
    """Without a group effect the posterior matches REML (Table 4 design) within 0.3 SD."""
    assert fidelity_fit.idata.attrs["subgroup_participants"] == str(
        {"control": 71, "high": int(_text("fidelity_high_n")),
         "moderate": int(_text("fidelity_moderate_n"))})
    reml = fidelity_analysis(twin, outcome="imrs_client").coefficients.set_index("term")
    # the printed Table 4/5 term of each model term is in the spec
    published_term = {e.name: e.published.term for e in load_analysis("fidelity").estimands
                      if e.published is not None and e.published.table == "fidelity"}
    assert set(published_term) == set(SUBGROUP_TERMS)
    est = fidelity_fit.estimates
    for term, pub in published_term.items():
        row = est.row(term)  # no fidelity_ prefix: the analysis column says fidelity
        assert row["analysis"] == "fidelity"
        assert abs(row["estimate"] - reml.loc[pub, "b"]) < 0.3 * row["sd"], term
        assert row["sd"] == pytest.approx(reml.loc[pub, "se"], rel=0.25), term
    for t in (1, 2):  # the high - moderate contrast at each follow-up
        diff = est.draws_of(est.row(f"high_x_t{t}")) - est.draws_of(est.row(f"moderate_x_t{t}"))
        np.testing.assert_allclose(est.draws_of(est.row("high_minus_moderate", time=t)), diff)


def test_fidelity_slope_has_a_posterior_and_is_plotted(dose_fit, fidelity_fit):
    slope = dose_fit.estimates.row("fidelity_slope")
    assert slope["sd"] > 0 and slope["ci_low"] < slope["estimate"] < slope["ci_high"]
    assert dose_fit.idata.attrs["scored_groups"] == 15
    d = fidelity_slope_data(dose_fit)
    assert len(d["fidelity"]) == 15
    assert d["slope"][0] == pytest.approx(slope["estimate"])
    # the band of slope x (f - mean f) pinches at the mean fidelity
    width = d["line_high"] - d["line_low"]
    assert width.argmin() == np.abs(d["grid"] - d["fidelity"].mean()).argmin()
    fig = plot_fidelity_slope(dose_fit)
    (ax,) = fig.axes
    assert "per point" in ax.get_title()
    # only a fit of the fidelity_slope design has a slope to plot
    with pytest.raises(ImrBayesError, match="fidelity_slope design, got 'fidelity'"):
        plot_fidelity_slope(fidelity_fit)


@pytest.mark.slow
def test_attendance_moderator_agrees_with_reml_and_is_labelled(twin):
    fit = imr_bayes.fit(twin, analysis="attendance_dose", imr_group=False, seed=6, **DRAWS)
    label = load_analysis("attendance_dose").label
    assert label.startswith("NON-RANDOMIZED")
    assert (fit.estimates.table["label"] == label).all()
    assert fit.idata.attrs["label"] == label
    rows = twin[twin["imrs_client"].notna()]
    imr = (rows["arm"] == "imr").to_numpy(float)
    per = twin.drop_duplicates("participant_id")
    mean_sessions = pd.to_numeric(per.loc[per["arm"] == "imr", "sessions_attended"]).mean()
    s = np.where(imr > 0, (pd.to_numeric(rows["sessions_attended"]).fillna(0).to_numpy(float)
                           - mean_sessions) / 10, 0.0)
    t = rows["time"].to_numpy(float)
    X = pd.DataFrame({"intercept": 1.0, "time": t, "condition": imr,
                      "condition_x_time": imr * t, "condition_x_sessions": imr * s,
                      "attendance_slope": imr * s * t})
    reml = fit_mixed(rows["imrs_client"].to_numpy(float), X,
                     rows["participant_id"].astype(str)).coefficients.set_index("term")
    est = fit.estimates
    for term in ("condition_x_time", "condition_x_sessions", "attendance_slope"):
        row = est.row(term)
        assert abs(row["estimate"] - reml.loc[term, "b"]) < 0.3 * row["sd"], term


@pytest.mark.slow
def test_default_settings_pass_diagnostics(twin):
    for analysis, outcome in (("fidelity", "imrs_client"), ("fidelity", "sers_sf"),
                              ("fidelity_dose", "imrs_client"),
                              ("attendance_dose", "imrs_client")):
        fit = imr_bayes.fit(twin, analysis=analysis, outcome=outcome)
        assert fit.diagnostics.passed, (analysis, outcome, fit.diagnostics.problems)


def _planted_slope_data(theta_d: float, seed: int) -> pd.DataFrame:
    """ITT-shaped data whose IMR-group effects follow theta_d per fidelity point (z scale)."""
    from imr_bayes.bayes.itt import standardization

    rng = np.random.default_rng(seed)
    centre, scale = standardization("imrs_client")
    fid = np.linspace(3.46, 4.54, 15)
    g = theta_d * (fid - fid.mean()) + rng.normal(0.0, 0.05, 15)
    rows = []
    for i in range(187):
        imr = i < 116
        j = i % 15
        u = rng.normal(0.0, 0.7)
        for t in (0, 1, 2):
            z = 0.05 * t + (0.15 * t + (g[j] if t > 0 else 0.0) if imr else 0.0) + u
            rows.append({"participant_id": f"P{i:03d}", "arm": "imr" if imr else "cau",
                         "time": t, "imr_group": f"G{j + 1:02d}" if imr else None,
                         "fidelity": fid[j] if imr else np.nan,
                         "imrs_client": centre + scale * (z + rng.normal(0.0, 0.6))})
    out = pd.DataFrame(rows)
    out["imr_group"] = out["imr_group"].astype("string")
    return out


@pytest.mark.slow
def test_fidelity_slope_recovers_a_planted_slope():
    """A planted slope of 0.8 baseline SDs per fidelity point is covered and told from 0."""
    fit = imr_bayes.fit(_planted_slope_data(0.8, seed=21), analysis="fidelity_dose",
                        seed=21, draws=500, tune=500, chains=2)
    row = fit.estimates.row("fidelity_slope_d")
    assert row["ci_low"] < 0.8 < row["ci_high"]
    assert row["ci_low"] > 0.0
