"""Benjamini-Hochberg, contrasts, Cohen's d, Mann-Whitney and aliasing against hand computation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from fixtures_frequentist import contract_frame

from imr_bayes import published
from imr_bayes.errors import ImrBayesError
from imr_bayes.frequentist import (
    benjamini_hochberg,
    fit_lmm,
    fit_logit,
    hospitalization,
    marginal_means,
)
from imr_bayes.outcomes import get


def test_benjamini_hochberg_by_hand():
    p = [0.01, 0.04, 0.03, 0.20]
    # sorted 0.01, 0.03, 0.04, 0.20 -> 0.04, 0.06, 0.0533, 0.20 -> monotone from the top
    expected = [0.04, 0.16 / 3, 0.16 / 3, 0.20]
    assert benjamini_hochberg(p) == pytest.approx(expected)
    s = benjamini_hochberg(pd.Series(p, index=list("abcd")))
    assert list(s.index) == list("abcd")
    with_nan = benjamini_hochberg([0.01, np.nan, 0.02])
    assert np.isnan(with_nan[1]) and with_nan[[0, 2]] == pytest.approx([0.02, 0.02])
    with pytest.raises(ImrBayesError, match="1.5"):
        benjamini_hochberg([0.2, 1.5])


def test_benjamini_hochberg_matches_statsmodels_reference():
    from statsmodels.stats.multitest import multipletests

    p = np.random.default_rng(0).uniform(0, 0.2, 11)
    assert benjamini_hochberg(p) == pytest.approx(multipletests(p, method="fdr_bh")[1])


def test_paper_sers_sf_p_does_not_survive_bh_across_eleven():
    # the paper's statement, from its own printed p: 0.01 is the smallest of 11 p values,
    # so its BH-adjusted p is 0.01 * 11 = 0.11 > 0.05 whatever the other ten are
    others = np.full(10, 0.5)
    adj = benjamini_hochberg(np.concatenate([[0.01], others]))
    assert adj[0] == pytest.approx(0.11)


def test_single_row_contrast_is_the_t_test():
    fit = fit_lmm(contract_frame(missing=0.15), "imrs_client")
    row = fit.coefficients.set_index("term").loc["condition_x_time"]
    test = fit.contrast(pd.DataFrame({"condition_x_time": [1.0]}))
    assert test.f == pytest.approx(row["t"] ** 2)
    assert test.den_df == pytest.approx(row["df"], rel=1e-6)
    assert test.p == pytest.approx(row["p"], rel=1e-6)
    with pytest.raises(ImrBayesError, match="Did you mean 'condition_x_time'"):
        fit.contrast(pd.DataFrame({"condition_x_tim": [1.0]}))


def test_cohens_d_divides_by_the_observed_pooled_sd_at_each_time():
    df = contract_frame(missing=0.2)
    mm = marginal_means(df, "imrs_client").set_index(["arm", "time"])
    for t in (0, 1, 2):
        at = df[(df["time"] == t) & df["imrs_client"].notna()]
        a = at.loc[at["arm"] == "imr", "imrs_client"]
        b = at.loc[at["arm"] == "cau", "imrs_client"]
        sd = np.sqrt(((len(a) - 1) * a.var() + (len(b) - 1) * b.var()) / (len(a) + len(b) - 2))
        row = mm.loc[("imr", t)]
        assert row["d"] == pytest.approx(row["diff"] / sd)
        assert row["n"] == len(a) and mm.loc[("cau", t), "n"] == len(b)


def test_table3_d_needs_a_time_specific_sd():
    # CSES at 12 months (Table 3): diff 15.1, d 0.34, so the SD lies in
    # [15.095 / 0.345, 15.105 / 0.335] = [43.8, 45.1] - not the pooled baseline SD of
    # Table 1 (50.8); the paper's SD changes with time, as the default d_sd assumes
    mm = published.marginal_means("itt").set_index(["outcome", "arm", "time"])
    row = mm.loc[("cses", "imr", 1)]
    lo = (row["diff"] - 0.005) / (row["d"] + 0.005)
    hi = (row["diff"] + 0.005) / (row["d"] - 0.005)
    assert not lo <= get("cses").pooled_baseline_sd() <= hi
    base = mm.loc[("cses", "imr", 0)]
    assert (base["diff"] - 0.005) / (base["d"] + 0.005) <= get("cses").pooled_baseline_sd()


def test_mann_whitney_u_by_hand():
    # IMR differences 1, 2, 3; CAU differences 0, 2. Pairs won by IMR (ties count 1/2):
    # (1 vs 0: 1, 1 vs 2: 0), (2 vs 0: 1, 2 vs 2: 0.5), (3 vs 0: 1, 3 vs 2: 1) -> U_imr = 4.5,
    # and U = min(4.5, 3 * 2 - 4.5) = 1.5
    rows = []
    for i, (arm, d) in enumerate([("imr", 1), ("imr", 2), ("imr", 3), ("cau", 0), ("cau", 2)]):
        rows.append({"participant_id": f"P{i}", "arm": arm, "hosp_before": 0,
                     "hosp_after": i % 2, "los_before": 10.0, "los_after": 10.0 + d})
    res = hospitalization(pd.DataFrame(rows))
    test = res.length_of_stay.set_index("arm").loc["imr vs cau"]
    assert test["u_imr"] == pytest.approx(4.5)
    assert test["u"] == pytest.approx(1.5)
    arms = res.length_of_stay.set_index("arm")
    assert arms.loc["imr", "mean"] == pytest.approx(2.0) and arms.loc["cau", "sd"] == pytest.approx(
        np.sqrt(2))


def test_logit_drops_aliased_columns_and_says_so():
    rng = np.random.default_rng(1)
    x = rng.integers(0, 2, 80).astype(float)
    X = pd.DataFrame({"intercept": 1.0, "a_none": x, "b_none": x, "z": rng.normal(size=80)})
    y = (rng.random(80) < 0.5).astype(float)
    fit = fit_logit(y, X)
    assert "b_none" in fit.warning_text
    coefs = fit.coefficients.set_index("term")
    assert np.isnan(coefs.loc["b_none", "b"]) and np.isfinite(coefs.loc["a_none", "b"])
    assert fit.lr_df == 2


def test_versus_published_rejects_other_objects():
    from imr_bayes.frequentist import versus_published

    with pytest.raises(ImrBayesError, match="not dict"):
        versus_published({})
