"""Done-when tests on the exact default twin against the paper's printed tables."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from imr_bayes import published
from imr_bayes.frequentist import (
    fidelity_analysis,
    hospitalization,
    noncompletion,
    replicate,
    versus_published,
)
from imr_bayes.outcomes import get


@pytest.fixture(scope="session")
def twin():
    from imr_bayes.data import default_twin

    return default_twin()


@pytest.fixture(scope="session")
def replications(twin):
    """replicate() once per sample, with the paper's final models (the shared, cached result)."""
    return {s: replicate(twin, sample=s, selection="published") for s in ("itt", "completers")}


@pytest.mark.parametrize("sample", ["itt", "completers"])
def test_condition_x_time_inside_every_published_ci(replications, sample):
    v = versus_published(replications[sample])
    cells = v[(v["quantity"] == "b") & (v["cell"] == "condition_x_time")]
    printed = published.fixed_effects(sample)
    n_printed = int((printed["in_final_model"].astype(bool)
                     & (printed["term"] == "condition_x_time")).sum())
    assert len(cells) == n_printed > 0
    assert (cells["status"] == "ok").all()
    outside = cells[~cells["inside_published_ci"].astype(bool)]
    assert outside.empty, outside[["outcome", "published", "published_ci_low",
                                   "published_ci_high", "reproduced"]].to_string()


@pytest.mark.parametrize("sample", ["itt", "completers"])
def test_fixed_effects_table_has_the_published_shape(replications, sample):
    fe = replications[sample].fixed_effects
    pub = published.fixed_effects(sample)
    for col in pub.columns:
        assert col in fe.columns
    assert {"se", "status"} <= set(fe.columns)
    assert len(fe) == len(pub)
    inside = fe[fe["in_final_model"]]
    assert inside[["b", "se", "ci_low", "ci_high", "p"]].notna().all().all()
    assert (inside["se"] > 0).all()
    # the CI is b +- t(df) * se
    from scipy import stats

    half = stats.t.ppf(0.975, inside["df"]) * inside["se"]
    assert np.allclose(inside["ci_high"] - inside["b"], half)


def test_itt_marginal_mean_counts_match_table_3(replications):
    mm = replications["itt"].marginal_means.set_index(["outcome", "arm", "time"])
    pub = published.marginal_means("itt").set_index(["outcome", "arm", "time"])
    assert (mm.loc[pub.index, "n"].to_numpy() == pub["n"].to_numpy()).all()
    assert len(mm) == len(pub) == 72


def test_marginal_means_are_consistent_with_their_differences(replications):
    mm = replications["itt"].marginal_means
    wide = mm.pivot_table(index=["outcome", "time"], columns="arm", values="mean")
    diff = mm[mm["arm"] == "imr"].set_index(["outcome", "time"])["diff"]
    assert np.allclose(diff.loc[wide.index], wide["imr"] - wide["cau"])


def test_secondary_outcomes_benjamini_hochberg(replications):
    mult = replications["itt"].multiplicity
    assert len(mult) == 11 and "imrs_client" not in set(mult["outcome"])
    # BH-adjusted p is never below the raw p (up to floating-point rounding, 1e-12)
    assert (mult["p_bh"] >= mult["p"] - 1e-12).all()
    # the paper: the self-esteem effect "did not remain following Benjamini-Hochberg correction"
    assert not mult.set_index("outcome").loc["sers_sf", "significant_bh"]


@pytest.mark.parametrize("outcome", ["imrs_client", "sers_sf"])
def test_fidelity_coefficients_and_omnibus_come_out(twin, outcome):
    res = fidelity_analysis(twin, outcome=outcome)
    pub = published.fidelity_effects(outcome)
    assert list(res.coefficients["term"]) == list(pub["term"])
    assert res.coefficients[["b", "se", "t", "p", "ci_low", "ci_high"]].notna().all().all()
    omni = res.omnibus.iloc[0]
    assert omni["num_df"] == 4 and np.isfinite(omni["f"]) and 0 < omni["p"] < 1
    assert 100 < omni["den_df"] < 400  # the paper: F(4, 271) and F(4, 237)
    # the paper's subgroups: 39 participants in 8 high-fidelity groups, 29 in 7 moderate
    groups = res.subgroups.set_index("subgroup")
    assert groups.loc["high", "participants"] == 39 and groups.loc["high", "groups"] == 8
    assert groups.loc["moderate", "participants"] == 29
    assert groups.loc["moderate", "groups"] == 7
    v = versus_published(res)
    assert {"b", "se", "t", "F", "p"} <= set(v["quantity"])


def test_hospitalization_or_and_u_come_out(twin):
    res = hospitalization(twin)
    o = res.odds_ratio.iloc[0]
    assert o["status"] == "ok" and o["ci_low"] < o["odds_ratio"] < o["ci_high"]
    test = res.length_of_stay.set_index("arm").loc["imr vs cau"]
    assert 0 <= test["u"] <= 116 * 71 / 2 and 0 < test["p"] < 1
    v = versus_published(res)
    assert set(v["quantity"]) >= {"odds_ratio", "U", "mean", "sd"}


def test_noncompletion_omnibus_comes_out(twin):
    res = noncompletion(twin)
    o = res.omnibus.iloc[0]
    assert o["n"] + o["n_dropped"] == 116
    assert np.isfinite(o["chi2"]) and o["df"] >= 12
    assert o["status"] in {"ok", "separation", "not_converged"}
    if o["status"] != "ok":
        assert o["warning"]
    v = versus_published(res).set_index("quantity")
    assert v.loc["chi2", "published"] == 11.64 and v.loc["df", "published"] == 13
    assert v.loc["chi2", "reproduced"] == pytest.approx(o["chi2"])


def test_versus_published_inside_flag_is_na_without_a_ci(replications):
    v = versus_published(replications["itt"])
    d = v[v["quantity"] == "d"]
    assert d["inside_published_ci"].isna().all()
    assert (d["note"] == "no published CI").all()
    b = v[v["quantity"] == "b"]
    recomputed = (b["reproduced"] >= b["published_ci_low"]) & (
        b["reproduced"] <= b["published_ci_high"])
    assert (b["inside_published_ci"].astype(bool) == recomputed).all()


def test_stepwise_chooses_the_lowest_aic(replications):
    steps = replications["itt"].steps
    for _, g in steps.groupby("outcome"):
        assert g["chosen"].sum() == 1
        assert g.loc[g["chosen"], "aic"].iloc[0] == pytest.approx(g["aic"].min())


def test_replication_problems_are_empty_on_the_twin(replications):
    for rep in replications.values():
        assert rep.problems.empty, rep.problems[["outcome", "status", "warning"]]
        assert isinstance(rep.fixed_effects, pd.DataFrame)


def test_effects_table_covers_every_outcome(replications):
    eff = replications["itt"].effects.set_index("outcome")
    assert len(eff) == 12 and (eff["estimand"] == "condition_x_time").all()
    fe = replications["itt"].fixed_effects.set_index(["outcome", "term"])
    # where the paper's final model is the full model, the effect is its B
    b = fe.loc[("sers_sf", "condition_x_time"), "b"]
    assert eff.loc["sers_sf", "estimate"] == pytest.approx(b)
    assert eff.loc["cses", "estimate_d"] == pytest.approx(
        eff.loc["cses", "estimate"] / get("cses").pooled_baseline_sd())
    mult = replications["itt"].multiplicity.set_index("outcome")
    assert mult.loc["mspss", "p"] == pytest.approx(eff.loc["mspss", "p"])
