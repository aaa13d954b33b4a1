"""Command line: ``imr-bayes audit`` and ``imr-bayes published``."""

from __future__ import annotations

import subprocess
import sys

import pandas as pd
import pytest

from imr_bayes import audit
from imr_bayes.cli import main


def test_audit_writes_csv_into_folder(tmp_path, capsys):
    assert main(["audit", "--out", str(tmp_path)]) == 0
    written = pd.read_csv(tmp_path / "audit.csv", dtype=str, keep_default_na=False)
    assert list(written.columns) == list(audit.AUDIT_COLUMNS)
    expected = audit.audit_published()
    assert len(written) == len(expected)
    assert list(written["check"]) == list(expected["check"])
    out = capsys.readouterr().out
    n_err = int((expected["severity"] == "error").sum())
    assert f"{len(expected)} flagged cells ({n_err} errors" in out
    assert "estimate at centre of symmetric CI" in out
    assert not list(tmp_path.glob(".*part*"))  # atomic write left no temporary file


def test_audit_csv_path_severity_and_strict(tmp_path, capsys):
    target = tmp_path / "sub" / "my_audit.csv"
    assert main(["audit", "--out", str(target), "--severity", "error"]) == 0
    assert target.is_file()
    out = capsys.readouterr().out
    shown = out.split("written:")[0]
    assert "Table 2" in shown
    # --severity error hides the warning rows from the listing (not from the CSV)
    assert "control-arm N" not in shown.split("\n\n", 2)[-1]
    # the paper has error-level findings, so --strict fails
    assert main(["audit", "--out", str(target), "--strict"]) == 1


def test_audit_out_is_a_file_that_is_not_csv(tmp_path, capsys):
    blocker = tmp_path / "blocker"
    blocker.write_text("x")
    assert main(["audit", "--out", str(blocker)]) == 2
    err = capsys.readouterr().err
    assert "neither a folder nor a .csv file" in err and "Traceback" not in err


@pytest.mark.parametrize("argv", [["audit", "--bogus"], ["audit", "--severity", "fatal"],
                                  ["published", "--out"]])
def test_bad_options_exit_nonzero_without_traceback(argv):
    proc = subprocess.run([sys.executable, "-m", "imr_bayes.cli", *argv],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
    assert "usage: imr-bayes" in proc.stderr


def test_published_writes_tidy_tables(tmp_path, capsys):
    out = tmp_path / "published"
    assert main(["published", "--out", str(out)]) == 0
    names = sorted(p.name for p in out.iterdir())
    assert names == sorted([
        "baseline.csv", "text_results.csv", "fixed_effects_itt.csv",
        "fixed_effects_completers.csv", "marginal_means_itt.csv",
        "marginal_means_completers.csv", "fidelity_imrs_client.csv", "fidelity_sers_sf.csv",
    ])
    fe = pd.read_csv(out / "fixed_effects_itt.csv")
    assert len(fe) == 48
    # Table 2, Pers. Recovery (SERS-SF), Condition x time: 3.71 (0.84 to 6.59), p 0.01*
    row = fe[(fe["outcome"] == "sers_sf") & (fe["term"] == "condition_x_time")].iloc[0]
    assert (row["b"], row["ci_low"], row["ci_high"], row["p"]) == (3.71, 0.84, 6.59, 0.01)
    assert len(pd.read_csv(out / "marginal_means_completers.csv")) == 72
    assert "fixed_effects_itt.csv: 48 rows" in capsys.readouterr().out
