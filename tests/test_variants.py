"""Misspecified twin variants: design kept, one assumption broken, exact truth."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from imr_bayes.data import default_twin, validate
from imr_bayes.data import variants as V
from imr_bayes.errors import ImrBayesError
from imr_bayes.outcomes import OUTCOMES

DESIGN = ("participant_id", "arm", "time", "team", "imr_group", "sessions_attended",
          "sessions_scheduled", "completer", "fidelity", "age", "sex")


@pytest.fixture(scope="module")
def twin():
    return default_twin()


@pytest.fixture(scope="module")
def variants():
    return {k: V.simulate_variant(k) for k in V.VARIANTS}


@pytest.mark.parametrize("kind", V.VARIANTS)
def test_variant_keeps_the_design_and_the_missingness(variants, twin, kind):
    v = variants[kind]
    assert v.kind == kind and list(v.data.columns) == list(twin.columns)
    validate(v.data)  # contract long data
    for col in DESIGN:
        assert v.data[col].astype(str).equals(twin[col].astype(str)), col
    for code in v.outcomes:
        assert (v.data[code].isna() == twin[code].isna()).all(), code
        assert not np.allclose(v.data[code].fillna(0), twin[code].fillna(0)), code
    assert list(v.truth.columns) == list(V.TRUTH_COLUMNS)
    assert set(v.truth["time"]) == {1, 2}
    assert (v.truth["method"] == "exact").all()


def test_floor_variant_skips_outcomes_without_a_discrete_scale(variants, twin):
    assert "sfs" not in variants["floor"].outcomes and len(variants["floor"].outcomes) == 11
    assert variants["floor"].data["sfs"].equals(twin["sfs"])
    with pytest.raises(ImrBayesError, match="bounded discrete scale"):
        V.simulate_variant("floor", outcomes="sfs")


def test_variants_are_seeded_and_share_random_numbers(twin):
    a = V.simulate_variant("correct", seed=7, outcomes="imrs_client", design=twin)
    b = V.simulate_variant("correct", seed=7, outcomes="imrs_client", design=twin)
    c = V.simulate_variant("correct", seed=8, outcomes="imrs_client", design=twin)
    pd.testing.assert_frame_equal(a.data, b.data)
    assert not a.data["imrs_client"].equals(c.data["imrs_client"])
    # heteroscedastic differs from correct only in IMR follow-ups (common random numbers)
    h = V.simulate_variant("heteroscedastic", seed=7, outcomes="imrs_client", design=twin)
    same = (a.data["arm"] == "cau") | (a.data["time"] == 0)
    x, y = a.data.loc[same, "imrs_client"], h.data.loc[same, "imrs_client"]
    assert np.allclose(x.fillna(-1), y.fillna(-1))
    assert not np.allclose(a.data.loc[~same, "imrs_client"].fillna(-1),
                           h.data.loc[~same, "imrs_client"].fillna(-1))


def test_bad_arguments():
    with pytest.raises(ImrBayesError, match="unknown variant"):
        V.simulate_variant("seriel")
    with pytest.raises(ImrBayesError, match="variant parameter"):
        V.simulate_variant("serial", phi=0.3)
    with pytest.raises(ImrBayesError, match="ar_phi"):
        V.simulate_variant("serial", ar_phi=1.2)
    with pytest.raises(ImrBayesError, match="outcome"):
        V.truth_table("correct", "imrs")


@pytest.mark.parametrize("code,discrete", [("asi", True), ("ses", True), ("imrs_client", False),
                                           ("asi", False), ("sfs", False)])
def test_observed_moments_are_exact(code, discrete):
    """Mean and SD of a clipped (or rounded and clipped) normal vs 2 million draws."""
    mu, sd = {"asi": (0.2, 1.5), "ses": (11.0, 2.5), "imrs_client": (4.6, 0.5),
              "sfs": (100.0, 9.0)}[code]
    m, s = V.observed_moments(code, mu, sd, discrete=discrete)
    x = V.observe(code, np.random.default_rng(1).normal(mu, sd, 2_000_000), discrete=discrete)
    assert m == pytest.approx(x.mean(), abs=4 * x.std() / math.sqrt(x.size))
    assert s == pytest.approx(x.std(), rel=2e-3)


def test_truth_equals_the_latent_difference_where_nothing_is_clipped():
    t = V.truth_table("correct", ["sfs", "imrs_clinician"]).set_index(["outcome", "time"])
    assert t.loc[("sfs", 2), "truth"] == pytest.approx(t.loc[("sfs", 2), "truth_linear"])
    assert t.loc[("sfs", 2), "share_clipped"] == 0
    assert t.loc[("imrs_clinician", 2), "truth"] == pytest.approx(
        t.loc[("imrs_clinician", 2), "truth_linear"], rel=2e-3)
    # a given effect sets the latent 18-month difference in baseline SDs
    e = V.truth_table("correct", "sfs", effect=0.4).set_index("time")
    assert e.loc[2, "truth_d"] == pytest.approx(0.4) and e.loc[1, "truth_d"] == pytest.approx(0.2)
    assert e.loc[2, "truth"] == pytest.approx(0.4 * OUTCOMES["sfs"].pooled_baseline_sd())


def test_simulated_means_agree_with_the_truth():
    """Many participants through the generator: arm means at 18 months = the exact truth."""
    n = 100_000
    treated = np.arange(n) % 2 == 0
    cluster = np.where(treated, np.arange(n) % 400, -1)
    for kind, code in (("heteroscedastic", "ses"), ("floor", "asi"), ("group_slope", "is")):
        model = V.latent_model(kind, code)
        y = V.simulate_outcome(model, treated, cluster, np.random.default_rng(3))
        diff = y[treated, 2].mean() - y[~treated, 2].mean()
        se = math.sqrt(y[treated, 2].var() / treated.sum() + y[~treated, 2].var()
                       / (~treated).sum())
        truth = V.truth_table(kind, code).set_index("time").loc[2, "truth"]
        assert abs(diff - truth) < 4 * se + 0.02 * y[:, 2].std(), (kind, code, diff, truth)


def test_each_variant_breaks_its_assumption():
    """Latent structure on a large design (SFS: unbounded, so nothing is clipped)."""
    n = 60_000
    treated = np.arange(n) % 2 == 0
    cluster = np.where(treated, np.arange(n) % 3000, -1)
    rng = np.random.default_rng

    def draw(kind, **kw):
        model = V.latent_model(kind, "sfs", V.VariantParams(**kw))
        return model, V.simulate_outcome(model, treated, cluster, rng(5))

    def corr(y, s, t, on):
        return np.corrcoef(y[on, s], y[on, t])[0, 1]

    m, y = draw("correct")
    rho = m.participant_var
    for s, t in ((0, 1), (0, 2), (1, 2)):                  # compound symmetry in CAU
        assert corr(y, s, t, ~treated) == pytest.approx(rho, abs=0.02)
    m, y = draw("serial")
    phi, a = 0.5, 0.2
    expect = {(0, 1): a + (1 - a) * phi, (1, 2): a + (1 - a) * phi**0.5,
              (0, 2): a + (1 - a) * phi**1.5}
    for (s, t), r in expect.items():
        assert corr(y, s, t, ~treated) == pytest.approx(r, abs=0.02)
    m, y = draw("heteroscedastic", imr_sd_ratio=2.0)
    sd = {(arm, t): y[on, t].std() for arm, on in (("imr", treated), ("cau", ~treated))
          for t in (0, 2)}
    assert sd[("imr", 0)] == pytest.approx(sd[("cau", 0)], rel=0.03)
    assert sd[("imr", 2)] ** 2 == pytest.approx(
        m.scale**2 * (rho + 4 * (1 - rho) + 0.05), rel=0.05)
    _, y = draw("group_slope", group_icc=0.1)
    gm = pd.DataFrame({"g": cluster[treated], "y1": y[treated, 1], "y2": y[treated, 2]})
    v1, v2 = gm.groupby("g")[["y1", "y2"]].mean().var()
    assert v2 / v1 == pytest.approx(4.0, rel=0.25)           # group variance grows as t^2


def test_floor_variant_piles_up_at_the_floor(variants):
    d = variants["floor"].data
    asi = d["asi"].dropna()
    assert (asi == 0).mean() > 0.7                             # ASI: most answers at 0
    assert set(np.unique(asi)) <= {0.0, 1.0, 2.0, 3.0, 4.0}
    ses = d["ses"].dropna()
    assert (ses == 12).mean() > 0.4                            # SES: a sum score at its ceiling
    share = V.simulate_variant("floor", outcomes="imrs_client", floor_share=0.4).data
    floor = share[(share["arm"] == "cau") & (share["time"] == 0)]["imrs_client"].dropna()
    assert (floor == 1.0).mean() == pytest.approx(0.4, abs=0.15)
