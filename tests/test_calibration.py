"""The twin's calibration report against the published Tables 2, 3, 6 and 7 (small run:
R = 3 random twins, two outcomes; the full report is ``imr-bayes calibrate``)."""

from __future__ import annotations

import pandas as pd
import pytest

from imr_bayes import ImrBayesError
from imr_bayes.calibration import SE_TOLERANCE, calibrate
from imr_bayes.cli import main
from imr_bayes.outcomes import OUTCOMES as REGISTRY

OUTCOMES = ("imrs_client", "sers_sf")
OUTCOMES_STEP = {c: REGISTRY[c].step for c in OUTCOMES}


@pytest.fixture(scope="module")
def report():
    return calibrate(3, outcomes=OUTCOMES)


def test_se_of_condition_x_time_within_25_percent_of_published(report):
    coef = report.coefficients
    assert set(coef["outcome"]) == set(OUTCOMES) and set(coef["sample"]) == {"itt",
                                                                              "completers"}
    assert len(coef) == 4 and (coef["n_fits"] == 3).all()
    # published SE implied by the CI: Table 2 IMRS client 0.0007-0.15 -> 0.0381
    itt = coef.set_index(["outcome", "sample"]).loc[("imrs_client", "itt")]
    assert itt["se_published"] == pytest.approx((0.15 - 0.0007) / (2 * 1.959964), rel=1e-6)
    assert ((coef["se_ratio"] - 1).abs() <= SE_TOLERANCE).all(), coef
    assert coef["se_within_tolerance"].astype(bool).all()
    assert coef["exact_in_ci"].astype(bool).all()


def test_mean_estimates_near_published_b(report):
    coef = report.coefficients
    # 3 twins: the mean estimate lies within 2 published SEs of the published B
    gap = (coef["mean_estimate"] - coef["b_published"]).abs() / coef["se_published"]
    assert (gap < 2).all(), coef


def test_cell_ns_and_means_against_tables_3_and_7(report):
    cells = report.cells
    itt = cells[cells["sample"] == "itt"]
    assert (itt["exact_n"] == itt["n_published"]).all()
    # printed to 2 decimals, or the granularity limit step / (2 n) of integer scores
    step = itt["outcome"].map({c: OUTCOMES_STEP[c] for c in OUTCOMES})
    tol = (step / (2 * itt["n_published"])).clip(lower=0.005) + 1e-9
    assert ((itt["exact_mean"] - itt["mean_published"]).abs() <= tol).all()
    assert ((itt["mean_n"] / itt["n_published"] - 1).abs() < 0.1).all()
    imr_comp = cells[(cells["sample"] == "completers") & (cells["arm"] == "imr")]
    assert (imr_comp["exact_n"] == imr_comp["n_published"]).all()


def test_variance_table_records_the_calibrated_correlation(report):
    var = report.variance.set_index("outcome")
    assert var.loc["imrs_client", "term"] == "condition_x_time"
    assert 0.02 < var.loc["imrs_client", "rho"] < 0.95
    assert var.loc["sers_sf", "se_model"] == pytest.approx(var.loc["sers_sf", "se_target"],
                                                           rel=1e-4)


def test_bad_arguments():
    with pytest.raises(ImrBayesError, match="replicates must be a positive integer"):
        calibrate(0)
    with pytest.raises(ImrBayesError, match="unknown outcome 'imrs'"):
        calibrate(1, outcomes=["imrs"])


def test_cli_writes_the_report_folder(tmp_path, capsys):
    out = tmp_path / "calibration"
    code = main(["calibrate", "-R", "1", "--outcomes", "imrs_client", "--out", str(out)])
    assert code == 0
    assert sorted(p.name for p in out.iterdir()) == ["cells.csv", "coefficients.csv",
                                                     "fidelity.csv", "variance.csv"]
    coef = pd.read_csv(out / "coefficients.csv")
    assert set(coef["outcome"]) == {"imrs_client"}
    assert "SE ratio" in capsys.readouterr().out
    assert main(["calibrate", "-R", "0", "--out", str(tmp_path / "bad")]) == 2
    assert not (tmp_path / "bad").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".bad")]


def test_fidelity_table_compares_with_tables_4_and_5(report):
    fid = report.fidelity.set_index(["outcome", "fidelity_class", "time"])
    # Table 4: high 0.06 + high x follow-up 0.16; Table 5: moderate 7.68 + x post 2.65
    assert fid.loc[("imrs_client", "high", 2), "published"] == pytest.approx(0.22)
    assert fid.loc[("sers_sf", "moderate", 1), "published"] == pytest.approx(10.33)
    assert len(fid) == 12 and fid["mean_difference"].notna().all()
