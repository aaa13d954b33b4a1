"""The verdict on the trial from its published numbers, against the paper and by hand.

Expected values are the paper's printed Tables 2 and 3 and closed-form normal-normal updates
written out here (not through :mod:`imr_bayes.summary_level`), so a change in how the
published numbers are read or reanalysed shows up as a failure.
"""

from __future__ import annotations

import math

import pandas as pd
import pytest

from imr_bayes import audit, published, summary_level, verdict
from imr_bayes.errors import ImrBayesError
from imr_bayes.outcomes import CODES

Z975 = 1.959963984540054
Z95 = 1.6448536269514722


def _phi(x: float) -> float:
    return 0.5 * (1 + math.erf(x / math.sqrt(2)))


def _sceptical(est: float, lo: float, hi: float, *, sd: float, horizon: float,
               sign: int) -> tuple[float, float]:
    """P(benefit) and P(|d| > 0.2) under the sceptical prior, by hand.

    Likelihood N(est, se) with se from the 95 % CI; prior N(0, delta / z_0.95) with the
    planned effect delta = 0.40 SD / horizon; |d| > 0.2 means |effect| > 0.2 SD / horizon.
    """
    se = (hi - lo) / (2 * Z975)
    prior_sd = 0.4 * sd / horizon / Z95
    prec = prior_sd**-2 + se**-2
    mean, post_sd = est * se**-2 / prec, prec**-0.5
    c = 0.2 * sd / horizon
    p_gt_0 = _phi(mean / post_sd)
    return (p_gt_0 if sign > 0 else 1 - p_gt_0,
            _phi((-c - mean) / post_sd) + 1 - _phi((c - mean) / post_sd))


@pytest.fixture(scope="module")
def reanalysed() -> pd.DataFrame:
    return summary_level.reanalyze_published()


@pytest.fixture(scope="module")
def result(reanalysed) -> verdict.Verdict:
    return verdict.verdict(reanalysed, audit.audit_published())


def test_one_row_per_outcome_from_table_2_where_the_final_model_kept_the_interaction(result):
    table = result.table.set_index("outcome")
    assert list(table.index) == list(CODES)  # all 12, in the paper's order
    # Table 2 prints condition x time for these five only (the other cells are empty).
    t2 = {"imrs_client", "imrs_clinician", "cses", "mhrm", "sers_sf"}
    assert set(table.index[table["estimand"] == "condition_x_time"]) == t2
    assert (table.loc[~table.index.isin(t2), "estimand"] == "mean_difference").all()
    assert table.loc["imrs_client", "published_row"] == (
        "Table 2, IMRS client version, Condition × time")
    assert table.loc["mspss", "published_row"] == (
        "Table 3, MSPSS, Experimental, Follow-up (18 months)")
    # the numbers as printed (printed precision)
    assert table.loc["imrs_client", "printed"] == "0.07, 95 % CI 0.0007 to 0.15, p 0.048"
    assert table.loc["mhrm", "printed"] == "2.12, 95 % CI -0.44 to 4.68, p 0.10"
    assert table.loc["ismi", "printed"] == "-0.10, 95 % CI -0.26 to 0.06"


def test_standardized_18_month_effect_is_signed_towards_benefit(result):
    table = result.table.set_index("outcome")
    # IMRS client: 2 x B 0.07 over the Table 1 SD 0.5 (both arms).
    assert table.loc["imrs_client", ["d", "d_low", "d_high"]].tolist() == pytest.approx(
        [2 * 0.07 / 0.5, 2 * 0.0007 / 0.5, 2 * 0.15 / 0.5])
    # BSI (lower is better): Table 3 difference -0.08 (-0.34 to 0.17), Table 1 SD 0.9.
    assert table.loc["bsi", ["d", "d_low", "d_high"]].tolist() == pytest.approx(
        [0.08 / 0.9, -0.17 / 0.9, 0.34 / 0.9])


@pytest.mark.parametrize(("outcome", "printed", "sd", "horizon", "sign"), [
    ("imrs_client", (0.07, 0.0007, 0.15), 0.5, 2, 1),   # Table 2, primary outcome
    ("sers_sf", (3.71, 0.84, 6.59), None, 2, 1),         # Table 2
    ("bsi", (-0.08, -0.34, 0.17), 0.9, 1, -1),           # Table 3, lower is better
    ("mspss", (0.28, -0.16, 0.72), 1.5, 1, 1),           # Table 3
])
def test_sceptical_posterior_matches_a_hand_computed_update(result, outcome, printed, sd,
                                                            horizon, sign):
    from imr_bayes.outcomes import get

    sd = sd if sd is not None else get(outcome).pooled_baseline_sd()
    p_benefit, p_abs = _sceptical(*printed, sd=sd, horizon=horizon, sign=sign)
    row = result.table.set_index("outcome").loc[outcome]
    assert row["p_benefit_sceptical"] == pytest.approx(p_benefit, abs=1e-9)
    assert row["p_abs_d_gt_0.2_sceptical"] == pytest.approx(p_abs, abs=1e-9)


def test_reference_prior_gives_the_likelihood_and_enthusiastic_is_higher(result):
    row = result.table.set_index("outcome").loc["imrs_client"]
    se = (0.15 - 0.0007) / (2 * Z975)
    assert row["p_benefit_reference"] == pytest.approx(_phi(0.07 / se), abs=1e-9)
    assert row["p_benefit_sceptical"] < row["p_benefit_reference"] < row[
        "p_benefit_enthusiastic"]


@pytest.mark.parametrize(("p_benefit", "p_abs", "expected"), [
    (0.975, 0.80, "strong evidence of a benefit, probably beyond d = 0.2"),
    (0.9749, 0.50, "moderate evidence of a benefit of uncertain size"),
    (0.90, 0.25, "moderate evidence of a benefit, probably smaller than d = 0.2"),
    (0.8999, 0.2501, "weak evidence of a benefit of uncertain size"),
    (0.75, 0.75, "weak evidence of a benefit, probably beyond d = 0.2"),
    (0.7499, 0.25, "no clear direction, and an effect beyond |d| = 0.2 is unlikely"),
    (0.50, 0.2501, "inconclusive: neither the direction nor the size is settled"),
    (0.2501, 0.10, "no clear direction, and an effect beyond |d| = 0.2 is unlikely"),
    (0.25, 0.50, "weak evidence of harm of uncertain size"),
    (0.05, 0.20, "moderate evidence of harm, probably smaller than d = 0.2"),
    (0.01, 0.90, "strong evidence of harm, probably beyond d = 0.2"),
])
def test_reading_rules_at_their_thresholds(p_benefit, p_abs, expected):
    assert verdict.reading(p_benefit, p_abs) == expected


def test_sentences_read_the_sceptical_prior_and_say_which_row_is_used(result):
    table = result.table.set_index("outcome")
    assert table.loc["imrs_client", "sentence"] == (
        "IMRS client: the published ITT condition x time interaction (Table 2, kept in the "
        "final model) favours IMR (B 0.07, 95 % CI 0.0007 to 0.15, p 0.048); under a sceptical "
        "prior P(benefit) = 0.94, P(|d| > 0.2) = 0.50 — moderate evidence of a benefit of "
        "uncertain size.")
    ses = table.loc["ses", "sentence"]
    assert ses.startswith("SES: Table 2 has no condition x time (the stepwise selection "
                          "dropped it), so the printed 18-month IMR - CAU difference (Table 3)")
    assert "favours CAU (-0.01, 95 % CI -0.62 to 0.61)" in ses
    assert ses.endswith("no clear direction, and an effect beyond |d| = 0.2 is unlikely.")
    # ASI improves downward: a negative difference favours IMR
    assert "favours IMR (-0.03" in table.loc["asi", "sentence"]
    assert table.loc["sers_sf", "reading"].startswith("strong evidence of a benefit")
    for code, row in table.iterrows():
        assert row["sentence"].startswith(f"{row['label']}: "), code
        assert "under a sceptical prior P(benefit) = " in row["sentence"], code


def test_the_imrs_clinician_interaction_is_flagged_and_the_flags_change_its_reading(result):
    table = result.table.set_index("outcome")
    assert table.loc["imrs_clinician", "audit_flags"] == 2
    assert (table.drop(index="imrs_clinician")["audit_flags"] == 0).all()
    assert "the audit flags this number" in table.loc["imrs_clinician", "sentence"]
    found = result.findings.set_index("check")
    assert set(found.index) == {"estimate at centre of symmetric CI",
                                "p consistent with estimate and CI (z approximation)"}
    assert set(found["outcome"]) == {"imrs_clinician"}
    # Table 2: B 0.08 (-0.02 to 0.13), p 0.18; Table 1 SD 0.4 in both arms.
    mid = _sceptical(0.055, -0.02, 0.13, sd=0.4, horizon=2, sign=1)
    se_p = 0.08 / 1.3407550336902165  # z of a two-sided p = 0.18
    from_p = _sceptical(0.08, 0.08 - Z975 * se_p, 0.08 + Z975 * se_p, sd=0.4, horizon=2,
                        sign=1)
    centre = found.loc["estimate at centre of symmetric CI"]
    by_p = found.loc["p consistent with estimate and CI (z approximation)"]
    assert centre["p_benefit_alternative"] == pytest.approx(mid[0], abs=1e-9)
    assert by_p["p_benefit_alternative"] == pytest.approx(from_p[0], abs=1e-9)
    assert by_p["p_abs_d_alternative"] == pytest.approx(from_p[1], abs=1e-9)
    assert by_p["p_benefit_alternative"] < 0.9 < by_p["p_benefit_printed"]
    assert found["changes_reading"].all()
    assert "the reading changes from \"moderate evidence" in by_p["sentence"]


def _perturbed_table3(changes: dict[str, str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Table 3 with the CAU 18-month BSI cells changed: printed strings and floats."""
    printed = published.printed("table3")
    means = published.marginal_means("itt")
    for frame in (printed, means):
        cell = (frame["outcome"] == "bsi") & (frame["arm"] == "cau") & (
            frame["time"].astype(int) == 2)
        assert cell.sum() == 1
        for col, value in changes.items():
            frame.loc[cell, col] = value if frame is printed else float(value)
    return printed, means


@pytest.mark.parametrize(("changes", "check"), [
    ({"mean": "1.30"}, "difference = IMR mean - CAU mean"),
    ({"ci_low": "0.50", "ci_high": "2.10"}, "difference CI width from arm CIs"),
])
def test_flags_on_a_table3_difference_are_read_with_the_arm_means(reanalysed, changes,
                                                                   check):
    printed, means = _perturbed_table3(changes)
    flags = audit.audit_tables(means={"itt": printed})
    found = verdict.verdict(reanalysed, flags, means=means).findings
    # flags on the CAU row itself (its own mean and CI) concern no number the verdict reads
    assert found["check"].tolist() == [check]
    row = found.iloc[0]
    assert row["outcome"] == "bsi"
    # BSI at 18 months: IMR 1.14 (0.98 to 1.29); difference -0.08 (-0.34 to 0.17)
    if check.startswith("difference ="):
        alt = _sceptical(1.14 - 1.30, -0.34 - 0.08, 0.17 - 0.08, sd=0.9, horizon=1, sign=-1)
    else:
        hw = math.hypot((1.29 - 0.98) / 2, (2.10 - 0.50) / 2)
        alt = _sceptical(-0.08, -0.08 - hw, -0.08 + hw, sd=0.9, horizon=1, sign=-1)
    assert row["p_benefit_alternative"] == pytest.approx(alt[0], abs=1e-9)
    assert row["p_abs_d_alternative"] == pytest.approx(alt[1], abs=1e-9)


def test_a_flag_with_no_alternative_number_says_so(reanalysed, result):
    flags = pd.DataFrame([{
        "table": "Table 2", "outcome": "sers_sf",
        "location": "Table 2, Pers. Recovery (SERS-SF), Condition × time: B (95% CI)",
        "check": "CI lower <= upper", "printed": "3.71 (0.84, 6.59)",
        "expected": "lower bound not above upper bound", "severity": "error"}])
    found = verdict.audit_findings(result.table, reanalysed, flags,
                                   published.marginal_means("itt"))
    assert len(found) == 1 and not found.iloc[0]["changes_reading"]
    assert "cannot be redone" in found.iloc[0]["sentence"]


def test_no_audit_means_no_findings(reanalysed):
    plain = verdict.verdict(reanalysed)
    assert plain.findings.empty and (plain.table["audit_flags"] == 0).all()


def test_a_prior_grid_without_the_sentence_prior_is_refused():
    grid = {"reference": {"flat": True}}
    with pytest.raises(ImrBayesError, match="lacks.*sceptical"):
        verdict.verdict(summary_level.reanalyze_published(prior_grid=grid))
