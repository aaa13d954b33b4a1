"""The comparison table on hand-built inputs (planted posteriors, frequentist and published).

Posteriors are planted normal draws of the standardized condition x time slope, so every
index has a closed form to test against; the frequentist and published sides are small
hand-written tables. One end-to-end test on real fits of the twin is in the slow tier.
"""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from scipy import stats

from imr_bayes import outcomes, registry
from imr_bayes.comparison import COLUMNS, compare, write_comparison
from imr_bayes.counterparts import FrequentistResults
from imr_bayes.data import default_twin
from imr_bayes.errors import ImrBayesError
from imr_bayes.estimates import Estimates

N = 20_000
#: outcome -> (posterior mean, posterior SD) of the standardized slope
PLANTED = {"imrs_client": (0.10, 0.02), "cses": (0.02, 0.05), "sers_sf": (0.10, 0.02),
           "ismi": (-0.10, 0.02), "bsi": (0.01, 0.10)}
#: outcome -> frequentist (b, ci_low, ci_high, p) of condition x time (raw units)
FREQ = {"imrs_client": (0.07, 0.01, 0.13, 0.01), "cses": (4.0, 1.0, 7.0, 0.01),
        "sers_sf": (1.0, -2.0, 4.0, 0.4), "ismi": (0.05, 0.02, 0.08, 0.001),
        "bsi": (0.01, -0.05, 0.07, 0.5)}
EXPECTED = {"imrs_client": "both_detect", "cses": "frequentist_only",
            "sers_sf": "bayesian_only", "ismi": "opposite_sign", "bsi": "both_null"}


def planted_fit(analysis: str, outcome: str, m: float, s: float, seed: int):
    """A fit-shaped object: the spec, planted N(m, s) draws of the standardized slope.

    The IMR - CAU differences follow from the slope alone (every other coefficient 0):
    ``t * slope * pooled baseline SD`` at time t. The priors attr is the default set's.
    """
    spec = registry.get(analysis)
    scale = outcomes.get(outcome).pooled_baseline_sd()
    std = np.random.default_rng(seed).normal(m, s, N)
    direction = outcomes.get(outcome).direction
    items = [({"estimand": "condition_x_time", "sign": direction}, std * scale),
             ({"estimand": "condition_x_time_d", "scale": "d", "sign": direction}, std)]
    items += [({"estimand": "difference", "time": t, "sign": direction}, t * std * scale)
              for t in (0, 1, 2)]
    est = Estimates.from_draws({"analysis": analysis, "outcome": outcome}, items)
    idata = xr.DataTree()
    idata.attrs.update({"seed": 11, "priors": json.dumps(
        {"condition_x_time": {"dist": "Normal", "kwargs": {"mu": 0, "sigma": 0.5}}})})
    return SimpleNamespace(analysis=analysis, outcome=outcome, spec=spec, estimates=est,
                           idata=idata)


@pytest.fixture(scope="session")
def fits():
    return [planted_fit("itt", o, m, s, k) for k, (o, (m, s)) in enumerate(PLANTED.items())]


@pytest.fixture(scope="session")
def frequentist():
    effects = pd.DataFrame([{"outcome": o, "estimand": "condition_x_time", "estimate": b,
                             "ci_low": lo, "ci_high": hi, "p": p, "se": (hi - lo) / 3.92}
                            for o, (b, lo, hi, p) in FREQ.items()])
    means = pd.DataFrame([{"outcome": o, "arm": "imr", "time": t, "diff": 0.5,
                           "diff_ci_low": 0.1, "diff_ci_high": 0.9}
                          for o in FREQ for t in (0, 1, 2)])
    mult = pd.DataFrame({"outcome": ["cses", "sers_sf", "ismi", "bsi"],
                         "p_bh": [0.04, 0.6, 0.004, 0.6]})
    fixed = pd.DataFrame(columns=["outcome", "term", "b", "ci_low", "ci_high", "p", "se",
                                  "in_final_model"])
    rep = SimpleNamespace(sample="itt", effects=effects, marginal_means=means,
                          multiplicity=mult, fixed_effects=fixed)
    return FrequentistResults(replications={"itt": rep})


@pytest.fixture(scope="session")
def table(fits, frequentist):
    return compare(fits, frequentist, pooling=False)


def _row(table, outcome, estimand="condition_x_time"):
    return table[(table["outcome"] == outcome) & (table["estimand"] == estimand)].iloc[0]


def test_shape_and_columns(table, fits):
    assert list(table.columns) == list(COLUMNS)
    # per ITT fit: condition x time and the IMR - CAU differences at 12 and 18 months
    assert len(table) == 3 * len(fits)
    assert table.groupby("outcome").size().eq(3).all()
    diffs = table[table["estimand"] == "difference"]
    assert sorted(diffs["time"].unique().tolist()) == [1, 2]


def test_agreement_classes_on_hand_built_inputs(table):
    for outcome, expected in EXPECTED.items():
        assert _row(table, outcome)["agreement"] == expected, outcome


def test_published_side_and_dropped_terms(table):
    # Table 2: IMRS client B 0.07 (0.0007, 0.15), p 0.048 -> significant
    r = _row(table, "imrs_client")
    assert (r["published_estimate"], r["published_p"]) == (0.07, 0.048)
    assert r["published_significant"] and r["published_reference"] == "Table 2"
    assert r["agreement_published"] == "both_detect"
    # ISMI: the paper's AIC step dropped condition x time -> no B, "not detected"
    r = _row(table, "ismi")
    assert np.isnan(r["published_estimate"]) and pd.notna(r["published_significant"])
    assert not r["published_significant"]
    assert r["agreement_published"] == "bayesian_only"  # pd ~ 1 here
    r = _row(table, "bsi")
    assert r["agreement_published"] == "both_null"
    # Table 3 differences come with CIs only
    d = table[(table["outcome"] == "cses") & (table["estimand"] == "difference")
              & (table["time"] == 1)].iloc[0]
    assert (d["published_estimate"], d["published_ci_low"], d["published_ci_high"]) == (
        15.10, 1.22, 28.98)
    assert np.isnan(d["published_p"]) and d["published_significant"]


def test_indices_match_closed_forms(table, fits):
    """Normal posterior N(m, s) of the standardized slope: every index in closed form."""
    for fit in fits:
        m, s = PLANTED[fit.outcome]
        r = _row(table, fit.outcome)
        scale = outcomes.get(fit.outcome).pooled_baseline_sd()
        mc = 4 / np.sqrt(N)  # ~4 Monte Carlo SEs of a probability
        assert r["p_direction"] == pytest.approx(stats.norm.cdf(abs(m) / s), abs=mc)
        # ROPE: |d_18| = |2 slope| <= 0.1 SD, i.e. |slope| <= 0.05 SD
        p_rope = stats.norm.cdf((0.05 - m) / s) - stats.norm.cdf((-0.05 - m) / s)
        assert r["p_rope"] == pytest.approx(p_rope, abs=mc)
        assert r["rope_high"] == pytest.approx(0.05 * scale)
        p_imp = stats.norm.sf((0.1 - m) / s) + stats.norm.cdf((-0.1 - m) / s)
        assert r["p_abs_d_gt_0_2"] == pytest.approx(p_imp, abs=mc)
        assert r["posterior_ci_low"] == pytest.approx((m - 1.96 * s) * scale,
                                                      abs=0.05 * s * scale)
        assert r["posterior_d"] == pytest.approx(2 * m, abs=4 * s / np.sqrt(N) * 2)
        if stats.norm.pdf(0, m, s) > 1e-3:  # Savage-Dickey against N(0, 0.5) (analytic)
            bf = stats.norm.pdf(0, 0, 0.5) / stats.norm.pdf(0, m, s)
            assert r["bf10"] == pytest.approx(bf, rel=0.05)
            # under the test prior N(0, 0.2) (planned d = 0.4 at 18 months, per step): the
            # likelihood implied by posterior N(m, s) under N(0, 0.5) is N(y, se) with
            # 1/se^2 = 1/s^2 - 1/0.5^2, y = m se^2 / s^2; BF10 = N(y; 0, sqrt(0.2^2 + se^2))
            # / N(y; 0, se). Tolerance: the KDE's 5 % plus the weights' Monte Carlo error.
            se = (s**-2 - 0.5**-2) ** -0.5
            y = m * se**2 / s**2
            bf_test = stats.norm.pdf(y, 0, np.hypot(0.2, se)) / stats.norm.pdf(y, 0, se)
            assert r["bf10_test"] == pytest.approx(bf_test, rel=0.06)
        sign = -1 if fit.outcome in ("ismi", "bsi") else 1  # lower is better
        assert r["p_benefit"] == pytest.approx(stats.norm.cdf(sign * m / s), abs=mc)
        assert "Normal(mu=0, sigma=0.5)" in r["prior"]
        assert r["test_prior"].startswith("Normal(mu=0, sigma=0.2) on the standardized scale")


def test_bh_column_comes_from_the_frequentist_family(table):
    assert _row(table, "cses")["bh_detect"] and not _row(table, "sers_sf")["bh_detect"]
    assert pd.isna(_row(table, "imrs_client")["p_bh"])  # primary: not in the BH family


@pytest.mark.slow
def test_partial_pooling_conclusion(fits, frequentist):
    out = compare(fits, frequentist, pooling={"draws": 300, "tune": 300, "chains": 1})
    cxt = out[out["estimand"] == "condition_x_time"].set_index("outcome")
    assert cxt["pooled_p_benefit"].notna().all()
    assert cxt.loc["cses", "multiplicity_conclusion"].startswith("BH detect, pooled ")
    assert cxt.loc["imrs_client", "multiplicity_conclusion"].startswith("pooled ")
    # ISMI's planted slope is a clear benefit (lower is better): pooled detects it
    assert bool(cxt.loc["ismi", "pooled_detect"])
    assert out[out["estimand"] == "difference"]["pooled_detect"].isna().all()


def test_write_comparison(table, tmp_path):
    paths = write_comparison(table, tmp_path / "out")
    back = pd.read_csv(paths["csv"])
    assert back.shape == table.shape
    # no baseline row, so no P(benefit) at t = 0, although the fits have t = 0 differences
    assert not (back["time"] == 0).any() and back["p_benefit"].notna().all()
    md = paths["md"].read_text().splitlines()
    assert len(md) == len(table) + 2 and md[0].startswith("| analysis |")
    html = paths["html"].read_text()
    assert "<table" in html and "both_detect" in html and "background-color" in html
    assert not list((tmp_path / "out").glob("*.tmp*"))


def test_no_posterior_p_benefit_at_baseline():
    """A fit's t = 0 difference and Cohen's d carry no P(benefit) (spec: baseline_benefit)."""
    from imr_bayes.bayes import engine

    rng = np.random.default_rng(1)
    for name in ("itt", "itt_categorical", "completers", "completers_categorical"):
        spec = registry.get(name)
        quantities = []
        for e in spec.estimands:
            for t in e.times or (None,):
                for arm in (("imr", "cau") if e.arms else (None,)):
                    row = {"estimand": e.name, **({"time": t} if t is not None else {}),
                           **({"arm": arm} if arm else {})}
                    quantities.append((row, rng.normal(0.1, 0.05, 200)))
        request = SimpleNamespace(spec=spec, analysis=name)
        t = engine.estimates(request, quantities, outcome="imrs_client", n_rows=1,
                             n_participants=1).table
        for estimand in ("difference", "cohens_d"):
            rows = t[t["estimand"] == estimand].set_index("time")
            assert np.isnan(rows.loc[0, "p_benefit"]), (name, estimand)
            assert rows.loc[[1, 2], "p_benefit"].notna().all(), (name, estimand)
    # every shipped spec: a beneficial estimand with a baseline row has no P(benefit) there
    for name, spec in registry.analyses().items():
        for e in spec.estimands:
            if 0 in (e.times or ()) and e.benefit != "none":
                assert not e.baseline_benefit, (name, e.name)


def test_the_spec_names_the_published_counterpart():
    """A completers fit is compared with Table 6 through its spec, under the same names."""
    m, s = PLANTED["sers_sf"]
    out = compare([planted_fit("completers", "sers_sf", m, s, 2)], None, pooling=False)
    r = _row(out, "sers_sf")
    assert r["analysis"] == "completers"
    assert r["published_reference"] == "Table 6" and r["published_estimate"] == 3.64
    d = out[(out["estimand"] == "difference") & (out["time"] == 2)].iloc[0]
    assert d["published_reference"] == "Table 7" and d["published_estimate"] == 12.13


def test_bad_input(fits):
    with pytest.raises(ImrBayesError, match="at least one"):
        compare([], None)
    with pytest.raises(ImrBayesError, match="alpha"):
        compare(fits, None, alpha=5, pooling=False)
    with pytest.raises(ImrBayesError, match="rope_d"):
        compare(fits, None, rope_d=-1, pooling=False)


@pytest.mark.slow
def test_comparison_on_real_fits_of_the_twin():
    """Done-when on a small scale: ITT and completer fits of two outcomes on the twin."""
    import imr_bayes
    from imr_bayes.counterparts import run_frequentist

    twin = default_twin()
    outs = ("imrs_client", "sers_sf")
    fits = [imr_bayes.fit(twin, outcome=o, analysis=a, draws=200, tune=200, chains=2)
            for a in ("itt", "completers") for o in outs]
    freq = run_frequentist(twin, outs)
    out = compare(fits, freq, pooling={"draws": 300, "tune": 300, "chains": 2})
    cxt = out[out["estimand"] == "condition_x_time"]
    assert len(cxt) == 4 and cxt["agreement"].notna().all()
    assert cxt["frequentist_estimate"].notna().all() and cxt["bf10"].gt(0).all()


def test_package_attribute_is_the_function_after_module_import(fits):
    """``imr_bayes.compare(...)`` stays the function once ``imr_bayes.comparison`` is imported."""
    import imr_bayes
    import imr_bayes.comparison  # noqa: F401

    out = imr_bayes.compare(fits[:1], None, pooling=False)
    assert len(out) == 3 and list(out.columns) == list(COLUMNS)


def test_cli_rejects_bad_arguments_before_fitting(capsys):
    from imr_bayes.cli import main

    assert main(["compare", "--analyses", "fidelty", "--out", "unused"]) == 2
    assert "did you mean 'fidelity'" in capsys.readouterr().err.lower()
    assert main(["compare", "--outcomes", "imrs", "--out", "unused"]) == 2
    assert main(["compare", "--draws", "0", "--out", "unused"]) == 2
    assert "draws must be a positive integer" in capsys.readouterr().err


@pytest.mark.slow
def test_cli_writes_the_table_atomically(tmp_path, capsys):
    from imr_bayes.cli import main

    out = tmp_path / "cmp"
    assert main(["compare", "--outcomes", "sers_sf", "--analyses", "itt", "--quick",
                 "--no-pooling", "--out", str(out)]) == 0
    assert {p.name for p in out.iterdir()} == {
        "comparison.csv", "comparison.html", "comparison.md", "published_checks.csv",
        "data_checks.csv", "structure_checks.csv"}
    table = pd.read_csv(out / "comparison.csv")
    assert len(table) == 3 and "agreement" in capsys.readouterr().out
    checks = pd.read_csv(out / "published_checks.csv")
    assert len(checks) == 13  # Table 3: 12, Table 2: SERS-SF's B
