"""Summary-level reanalysis: pinned against hand-computed values and the paper's numbers."""

from __future__ import annotations

import argparse
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from imr_bayes.errors import ImrBayesError, SpecError
from imr_bayes.summary_level import (
    REANALYSIS_COLUMNS,
    balance,
    bf10_normal,
    generic_prior_grid,
    likelihood_from_ci,
    load_prior_grid,
    normal_priors,
    normal_update,
    planned_effect,
    plot_sensitivity,
    published_estimates,
    reanalyze,
    reanalyze_published,
    sensitivity_grid,
)

Z975 = 1.959963984540054  # Phi^-1(0.975)
Z95 = 1.6448536269514722  # Phi^-1(0.95)


def by_prior(df: pd.DataFrame) -> pd.DataFrame:
    return df.set_index("prior")


def test_primary_outcome_reference_prior_pinned():
    # Table 2, IMRS client: B = 0.07, 95 % CI 0.0007 to 0.15.
    # SE = (0.15 - 0.0007) / (2 * 1.959964) = 0.1493 / 3.919928 = 0.0380874
    # z  = 0.07 / 0.0380874 = 1.83788;  P(B > 0) = Phi(1.83788) = 0.96696  (~0.97)
    row = by_prior(reanalyze(0.07, 0.0007, 0.15)).loc["reference"]
    assert row["lik_se"] == pytest.approx(0.0380874, abs=1e-6)
    assert row["post_mean"] == pytest.approx(0.07, abs=1e-12)
    assert row["post_sd"] == pytest.approx(0.0380874, abs=1e-6)
    assert row["p_gt_0"] == pytest.approx(0.96696, abs=5e-5)
    assert round(row["p_gt_0"], 2) == 0.97
    assert row["p_benefit"] == pytest.approx(row["p_gt_0"])


def test_hospitalization_or_reference_prior_pinned():
    # Text: OR 1.22, 95 % CI 0.44 to 3.42; benefit = fewer hospitalizations = OR < 1.
    # ln 1.22 = 0.198851, ln 0.44 = -0.820981, ln 3.42 = 1.229641
    # SE = (1.229641 + 0.820981) / 3.919928 = 0.523127
    # P(log OR < 0) = Phi(-0.198851 / 0.523127) = Phi(-0.380119) = 0.35193  (~0.35)
    row = by_prior(reanalyze(1.22, 0.44, 3.42, ratio=True, benefit="lower")).loc["reference"]
    assert row["scale"] == "log"
    assert row["lik_mean"] == pytest.approx(0.198851, abs=1e-6)
    assert row["lik_se"] == pytest.approx(0.523127, abs=1e-6)
    assert row["p_benefit"] == pytest.approx(0.35193, abs=5e-5)
    assert round(row["p_benefit"], 2) == 0.35
    # p_gt_0 refers to the log ratio: P(log OR > 0) = 1 - 0.35193
    assert row["p_gt_0"] == pytest.approx(0.64807, abs=5e-5)
    # back-transformed: median = the OR; ETI = exp(0.198851 -/+ 1.959964 * 0.523127)
    assert row["ratio_median"] == pytest.approx(1.22, abs=1e-9)
    assert row["ratio_eti95_low"] == pytest.approx(0.43760, abs=1e-4)
    assert row["ratio_eti95_high"] == pytest.approx(3.40131, abs=1e-4)


def test_sceptical_prior_update_hand_computed():
    # IMRS client B with pooled baseline SD 0.5 and horizon 2 (18-month difference = 2 B):
    # delta = 0.4 * 0.5 / 2 = 0.1.  Sceptical: N(0, (0.1 / 1.644854)^2), sd = 0.0607957.
    # precisions: prior 1/0.0607957^2 = 270.554, likelihood 1/0.0380874^2 = 689.345
    # posterior precision 959.899 -> sd = 0.0322766; mean = 689.345 * 0.07 / 959.899 = 0.0502700
    # P(B > 0) = Phi(0.0502700 / 0.0322766) = Phi(1.55748) = 0.94032
    # BF10 = N(0; 0, 0.0607957) / N(0; 0.0502700, 0.0322766) = 1.78549
    row = by_prior(reanalyze(0.07, 0.0007, 0.15, sd_scale=0.5, horizon=2)).loc["sceptical"]
    assert row["prior_mean"] == 0.0
    assert row["prior_sd"] == pytest.approx(0.0607957, abs=1e-6)
    assert row["post_sd"] == pytest.approx(0.0322766, abs=1e-6)
    assert row["post_mean"] == pytest.approx(0.0502700, abs=1e-6)
    assert row["p_gt_0"] == pytest.approx(0.94032, abs=5e-5)
    assert row["bf10"] == pytest.approx(1.78549, abs=5e-4)
    # clinically important: 2 B > 0.2 SD, i.e. B > 0.2 * 0.5 / 2 = 0.05
    assert row["clinically_important"] == pytest.approx(0.05)
    assert row["p_clinically_important"] == pytest.approx(
        1 - stats.norm.cdf((0.05 - 0.0502700) / 0.0322766), abs=1e-5)
    # ROPE: |2 B| <= 0.1 SD, i.e. |B| <= 0.025
    assert (row["rope_low"], row["rope_high"]) == pytest.approx((-0.025, 0.025))


def test_bf10_under_the_test_prior_hand_computed():
    # IMRS client ITT B = 0.07, SE 0.0380874; test prior N(0, delta^2), delta = 0.4 * 0.5 / 2
    # = 0.1 (planned d = 0.4 at 18 months). Marginal SD under H1 sqrt(0.01 + 0.0380874^2)
    # = 0.107008: N(0.07; 0, 0.107008) = 3.01004; N(0.07; 0, 0.0380874) = 1.93486;
    # BF10 = 3.01004 / 1.93486 = 1.55569, the same under every estimation prior.
    table = reanalyze(0.07, 0.0007, 0.15, sd_scale=0.5, horizon=2)
    assert table["bf10_test"].tolist() == pytest.approx([1.55569] * 5, abs=5e-5)
    assert table["test_prior"].iloc[0].startswith("N(0, 0.1^2) on the raw scale (planned d")
    # the closed form is the Savage-Dickey ratio of that prior (the sceptical row's check)
    sceptical = by_prior(table).loc["sceptical"]
    assert bf10_normal(0.07, 0.0380874, sceptical["prior_sd"]) == pytest.approx(
        sceptical["bf10"], rel=1e-5)
    # d = 2 B / SD: the reference posterior of d is N(0.28, (2 * 0.0380874 / 0.5)^2)
    ref = by_prior(table).loc["reference"]
    assert ref["d_mean"] == pytest.approx(0.28)
    assert ref["d_eti95_low"] == pytest.approx(0.28 - Z975 * 0.1523496, abs=1e-6)
    # P(|d| > 0.2) = Phi((-0.2 - 0.28) / 0.15235) + Phi((0.28 - 0.2) / 0.15235) = 0.70106
    assert ref["p_abs_d_gt_0_2"] == pytest.approx(0.70106, abs=5e-5)


def test_hospitalization_or_generic_sceptical_prior_hand_computed():
    # No planned effect: priors in units of ln 2. Sceptical N(0, (ln 2 / 1.959964)^2):
    # sd = 0.353653, 95 % of its mass on OR 0.5-2. Posterior precision 1 / 0.353653^2 +
    # 1 / 0.523127^2 = 7.99549 + 3.65414 = 11.64963 -> sd 0.292984; mean = 3.65414 *
    # 0.198851 / 11.64963 = 0.062374; P(OR < 1) = Phi(-0.062374 / 0.292984) = 0.41571.
    unit, grid = generic_prior_grid()
    assert unit == pytest.approx(math.log(2))
    assert set(grid) == {"reference", "sceptical", "neutral"}
    table = by_prior(reanalyze(1.22, 0.44, 3.42, ratio=True, benefit="lower", unit=unit,
                               prior_grid=grid))
    sc = table.loc["sceptical"]
    assert sc["prior_sd"] == pytest.approx(0.353653, abs=1e-6)
    prior = stats.norm(0, sc["prior_sd"])
    assert prior.cdf(math.log(2)) - prior.cdf(math.log(0.5)) == pytest.approx(0.95)
    assert sc["post_sd"] == pytest.approx(0.292984, abs=1e-6)
    assert sc["post_mean"] == pytest.approx(0.062374, abs=1e-6)
    assert sc["p_benefit"] == pytest.approx(0.41571, abs=5e-5)
    # neutral: 95 % on OR 0.25-4
    ne = stats.norm(0, table.loc["neutral", "prior_sd"])
    assert ne.cdf(math.log(4)) - ne.cdf(math.log(0.25)) == pytest.approx(0.95)
    # no planned effect; the test prior is N(0, (ln 2)^2): BF10 = N(0.198851; 0, 0.868398)
    # / N(0.198851; 0, 0.523127) = 0.447513 / 0.709458 = 0.63078
    assert math.isnan(sc["planned_effect"]) and sc["prior_unit"] == pytest.approx(math.log(2))
    assert sc["bf10_test"] == pytest.approx(0.63078, abs=5e-4)
    assert "no planned effect" in sc["test_prior"]


def test_baseline_difference_is_a_balance_check():
    # Table 3, IMRS client at baseline: 0.03 (-0.11 to 0.17), pooled Table 1 SD 0.5.
    # d = 0.06 with interval (-0.22, 0.34); se_d = 0.56 / 3.919928 = 0.142860;
    # P(|d| > 0.2) = Phi((-0.2 - 0.06) / 0.14286) + Phi((0.06 - 0.2) / 0.14286) = 0.19793
    row = balance(0.03, -0.11, 0.17, sd_scale=0.5).iloc[0]
    assert list(row.index) == list(REANALYSIS_COLUMNS)
    assert (row["d_mean"], row["d_eti95_low"], row["d_eti95_high"]) == pytest.approx(
        (0.06, -0.22, 0.34), abs=1e-3)
    assert row["p_abs_d_gt_0_2"] == pytest.approx(0.19793, abs=5e-5)
    for col in ("p_gt_0", "p_benefit", "p_clinically_important", "bf10", "bf10_test",
                "planned_effect", "prior_unit"):
        assert math.isnan(row[col]), col


def test_prior_grid_matches_its_documented_tail_probabilities():
    # delta = 1 (benefit positive): each prior's stated tail probability holds exactly.
    priors = {name: stats.norm(m, s) for name, m, s in normal_priors(1.0) if math.isfinite(s)}
    assert priors["sceptical"].sf(1.0) == pytest.approx(0.05)        # P(theta > delta)
    assert priors["sceptical"].mean() == 0
    assert priors["enthusiastic"].cdf(0.0) == pytest.approx(0.05)    # P(no benefit)
    assert priors["enthusiastic"].mean() == 1
    assert priors["pessimistic"].sf(0.0) == pytest.approx(0.05)      # P(any benefit)
    assert priors["pessimistic"].mean() == -1
    assert priors["neutral"].cdf(2.0) - priors["neutral"].cdf(-2.0) == pytest.approx(0.95)
    # benefit negative (odds ratio): priors mirror
    neg = {name: (m, s) for name, m, s in normal_priors(-0.5)}
    assert neg["enthusiastic"][0] == -0.5
    assert neg["pessimistic"][0] == 0.5
    assert neg["reference"] == (0.0, math.inf)


def test_planned_effect_conversions():
    # slope: d * SD / 2;  difference: d * SD;  log OR (Chinn 2000): d * pi / sqrt(3)
    assert planned_effect(sd_scale=24.0, horizon=2) == pytest.approx(0.4 * 24 / 2)
    assert planned_effect(sd_scale=24.0, benefit="lower") == pytest.approx(-9.6)
    assert planned_effect(ratio=True, benefit="lower") == pytest.approx(-0.4 * 1.8137994)
    with pytest.raises(ImrBayesError, match="sd_scale"):
        planned_effect(sd_scale=0.0)


def test_normal_update_conjugate_and_flat():
    # N(1, 2^2) prior x N(3, 1) likelihood: precision 0.25 + 1 = 1.25; mean (0.25 + 3) / 1.25
    mean, sd = normal_update(1.0, 2.0, 3.0, 1.0)
    assert mean == pytest.approx(2.6)
    assert sd == pytest.approx(1.25**-0.5)
    assert normal_update(5.0, math.inf, 3.0, 1.0) == (3.0, 1.0)


def test_reference_eti_reproduces_printed_symmetric_ci():
    # Table 2 SERS-SF: B 3.71 (0.84 to 6.59): the reference 95 % ETI is the printed CI up to
    # the rounding of the printed centre (3.71 vs midpoint 3.715).
    row = by_prior(reanalyze(3.71, 0.84, 6.59, sd_scale=23.75, horizon=2)).loc["reference"]
    assert row["eti95_low"] == pytest.approx(0.84, abs=0.01)
    assert row["eti95_high"] == pytest.approx(6.59, abs=0.01)


def test_likelihood_level_and_errors():
    # a 90 % CI of half-width 1.644854 means SE 1
    assert likelihood_from_ci(0.0, -1.644854, 1.644854, level=0.90)[1] == pytest.approx(1.0)
    with pytest.raises(ImrBayesError, match="ci_low <= estimate"):
        likelihood_from_ci(2.0, 0.0, 1.0)
    with pytest.raises(ImrBayesError, match="> 0"):
        likelihood_from_ci(1.0, 0.0, 2.0, ratio=True)
    with pytest.raises(ImrBayesError, match="finite"):
        likelihood_from_ci(float("nan"), 0.0, 1.0)
    with pytest.raises(ImrBayesError, match="Did you mean 'lower'"):
        reanalyze(1.0, 0.0, 2.0, benefit="lowr")


def test_prior_grid_validation():
    with pytest.raises(SpecError, match="unknown key"):
        load_prior_grid({"x": {"mean": 0, "anchor": {"at": 1, "prob": 0.05}, "sd": 1}})
    with pytest.raises(SpecError, match="anchor prob"):
        load_prior_grid({"x": {"mean": 0, "anchor": {"at": 1, "prob": 0.7}}})
    custom = reanalyze(0.07, 0.0007, 0.15, prior_grid={"flat": {"flat": True}})
    assert list(custom["prior"]) == ["flat"]
    assert list(custom.columns) == list(REANALYSIS_COLUMNS)


def test_sensitivity_grid_limits_and_monotonicity():
    means = np.linspace(-0.2, 0.2, 5)
    sds = [0.03, 0.1, math.inf]
    grid = sensitivity_grid(0.07, 0.0007, 0.15, prior_means=means, prior_sds=sds)
    assert len(grid) == 15
    # the flat prior gives the reference answer (hand-computed above: 0.96696)
    assert np.allclose(grid.loc[np.isinf(grid["prior_sd"]), "p_benefit"], 0.96696, atol=5e-5)
    # for a fixed prior SD, P(benefit) increases with the prior mean
    for _, part in grid[np.isfinite(grid["prior_sd"])].groupby("prior_sd"):
        assert np.all(np.diff(part.sort_values("prior_mean")["p_benefit"]) > 0)
    # benefit "lower" is the complement of "higher" at threshold 0
    low = sensitivity_grid(0.07, 0.0007, 0.15, prior_means=means, prior_sds=sds, benefit="lower")
    assert np.allclose(low["p_benefit"], 1 - grid["p_benefit"])
    with pytest.raises(ImrBayesError, match="SDs > 0"):
        sensitivity_grid(0.07, 0.0007, 0.15, prior_means=[0.0], prior_sds=[0.0])


def test_plot_sensitivity_returns_figure():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig = plot_sensitivity(1.22, 0.44, 3.42, prior_means=[-0.5, 0.0, 0.5],
                           prior_sds=[0.2, 0.5, 1.0], ratio=True, benefit="lower", title="OR")
    try:
        assert fig.axes[0].get_title() == "OR"
        assert "log ratio" in fig.axes[0].get_xlabel()
    finally:
        plt.close(fig)


@pytest.fixture(scope="module")
def published_table() -> pd.DataFrame:
    return reanalyze_published()


def test_published_coverage(published_table):
    est = published_estimates()
    counts = est.groupby(["sample", "estimand"]).size().to_dict()
    # Hand count from the paper: Table 2 prints 5 condition x time B's (IMRS client and
    # clinician, CSES, MHRM, SERS-SF), Table 6 prints 6 (those and ISMI); Tables 3 and 7 print
    # 12 outcomes x 3 times mean differences each; Tables 4 and 5 print 4 group x time
    # coefficients each; the text prints one odds ratio.
    assert counts == {
        ("itt", "condition_x_time"): 5, ("completers", "condition_x_time"): 6,
        ("itt", "mean_difference"): 24, ("completers", "mean_difference"): 24,
        ("itt", "baseline_difference"): 12, ("completers", "baseline_difference"): 12,
        ("fidelity", "fidelity_x_time"): 8, ("itt", "odds_ratio"): 1,
    }
    assert set(est.loc[est["estimand"] == "baseline_difference", "role"]) == {"balance"}
    assert set(est.loc[est["estimand"] != "baseline_difference", "role"]) == {"effect"}
    # 67 effects x 5 priors, the odds ratio x its 3 generic priors, 24 balance rows
    assert len(published_table) == 67 * 5 + 3 + 24
    ref = published_table[published_table["prior"] == "reference"].set_index(
        ["sample", "outcome", "estimand"])
    assert ref.loc[("itt", "imrs_client", "condition_x_time"), "p_gt_0"] == (
        pytest.approx(0.96696, abs=5e-5))
    assert ref.loc[("itt", "hospitalization", "odds_ratio"), "p_benefit"] == (
        pytest.approx(0.35193, abs=5e-5))
    # ISMI (lower is better): completers B -0.05 (-0.12 to 0.01) -> P(benefit) = P(B < 0)
    ismi = ref.loc[("completers", "ismi", "condition_x_time")]
    assert ismi["benefit"] == "lower"
    assert ismi["p_benefit"] == pytest.approx(stats.norm.cdf(0.05 / (0.13 / (2 * Z975))), abs=1e-6)


def test_published_agreement_under_reference(published_table):
    ref = published_table[(published_table["prior"] == "reference")
                          & (published_table["estimand"] == "condition_x_time")]
    got = ref.set_index(["sample", "outcome"])["agreement"]
    # SERS-SF ITT: p = 0.01, z = 3.71 / (5.75 / 3.92) = 2.53 -> pd 0.994: both detect.
    assert got[("itt", "sers_sf")] == "both_detect"
    # IMRS client ITT: printed p = 0.048 but the CI gives pd = 0.967 < 0.975 (the printed
    # centre 0.07 sits below the CI midpoint 0.075): frequentist only.
    assert got[("itt", "imrs_client")] == "frequentist_only"
    # CSES ITT: p = 0.18, pd = Phi(4.13 / 3.1199) = 0.907: both null.
    assert got[("itt", "cses")] == "both_null"


def test_cli_writes_csv_and_prints(tmp_path, capsys):
    from imr_bayes.cli import summary_reanalysis

    parser = argparse.ArgumentParser()
    summary_reanalysis.register(parser.add_subparsers())
    out = tmp_path / "sr"
    args = parser.parse_args(["summary-reanalysis", "--out", str(out), "--no-plots"])
    assert args.func(args) == 0
    table = pd.read_csv(out / "summary_reanalysis.csv")
    assert len(table) == 362
    # the written CSV has no P(benefit) (nor P(> 0), P(important), BF10) at t = 0
    base = table[table["time"] == 0]
    assert len(base) == 24 and (base["role"] == "balance").all()
    for col in ("p_benefit", "p_gt_0", "p_clinically_important", "bf10", "bf10_test",
                "p_direction", "agreement"):
        assert base[col].isna().all(), col
    assert base["d_mean"].notna().all() and base["p_abs_d_gt_0_2"].notna().all()
    assert table.loc[table["role"] == "effect", "p_benefit"].notna().all()
    # the odds ratio's heat map spans +/- 2 generic units (ln 2), not a converted d
    grid = pd.read_csv(out / "sensitivity_hospitalization_or.csv")
    assert grid["prior_mean"].max() == pytest.approx(2 * math.log(2))
    assert not list(out.glob("*.png"))
    text = capsys.readouterr().out
    assert "hospitalization" in text and "362 rows (68 effects x their priors, 24 baseline" in text


@pytest.mark.slow
def test_cli_pooling_writes_multiplicity_tables(tmp_path, capsys):
    from imr_bayes.cli import main

    out = tmp_path / "sr"
    assert main(["summary-reanalysis", "--out", str(out), "--no-plots", "--pooling"]) == 0
    hyper = pd.read_csv(out / "partial_pooling_hyper.csv")
    assert hyper["diagnostics_passed"].all()
    # the default: the 12 printed 18-month differences of Tables 3 and 7
    assert hyper.set_index(["estimand", "sample"])["n_outcomes"].to_dict() == {
        ("followup_difference", "itt"): 12, ("followup_difference", "completers"): 12}
    assert main(["summary-reanalysis", "--out", str(out), "--no-plots", "--pooling",
                 "--pooling-aic-selected"]) == 0
    hyper = pd.read_csv(out / "partial_pooling_hyper.csv")
    # the AIC-selected option: Table 2 prints 5 condition x time B's, Table 6 prints 6
    assert hyper.set_index(["estimand", "sample"])["n_outcomes"].to_dict() == {
        ("followup_difference", "itt"): 12, ("followup_difference", "completers"): 12,
        ("condition_x_time", "itt"): 5, ("condition_x_time", "completers"): 6}
    assert "partial pooling vs Benjamini-Hochberg" in capsys.readouterr().out
