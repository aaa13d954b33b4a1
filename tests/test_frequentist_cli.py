"""The ``imr-bayes frequentist`` command line."""

from __future__ import annotations

import pandas as pd
import pytest

from imr_bayes.cli import main


@pytest.fixture()
def small_twin(monkeypatch):
    """The default twin cut to 40 IMR and 30 CAU participants, to keep the run short."""
    import imr_bayes.data as data_mod

    full = data_mod.default_twin()
    ids = pd.concat([
        full.loc[full["arm"] == "imr", "participant_id"].drop_duplicates().head(40),
        full.loc[full["arm"] == "cau", "participant_id"].drop_duplicates().head(30),
    ])
    small = full[full["participant_id"].isin(set(ids))].reset_index(drop=True)
    monkeypatch.setattr(data_mod, "default_twin", lambda: small)
    return small


def test_cli_writes_aggregate_tables(small_twin, tmp_path, capsys):
    out = tmp_path / "freq"
    argv = ["frequentist", "--out", str(out), "--outcomes", "imrs_client", "sers_sf", "ses"]
    assert main(argv) == 0
    names = {p.name for p in out.iterdir()}
    assert {"fixed_effects_itt.csv", "marginal_means_itt.csv", "versus_published_itt.csv",
            "multiplicity_itt.csv", "effects_itt.csv", "fidelity_imrs_client.csv",
            "fidelity_omnibus_sers_sf.csv",
            "hospitalization_odds_ratio.csv", "length_of_stay.csv",
            "noncompletion_omnibus.csv"} <= names
    fe = pd.read_csv(out / "fixed_effects_itt.csv")
    assert len(fe) == 3 * 4 and {"b", "se", "status", "warning"} <= set(fe.columns)
    assert set(pd.read_csv(out / "multiplicity_itt.csv")["outcome"]) == {"sers_sf", "ses"}
    for path in out.iterdir():  # privacy: aggregates only
        assert "participant_id" not in pd.read_csv(path).columns
    assert "70 participants" in capsys.readouterr().out


def test_cli_unknown_outcome_is_a_one_line_error(tmp_path, capsys):
    assert main(["frequentist", "--outcomes", "imrs_clint", "--out", str(tmp_path / "x")]) == 2
    assert "Did you mean 'imrs_client'" in capsys.readouterr().err


def test_cli_bad_data_file_is_a_one_line_error(tmp_path, capsys):
    assert main(["frequentist", "--data", str(tmp_path / "nope.csv"),
                 "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert "nope.csv" in err and "Traceback" not in err
    assert not (tmp_path / "x").exists()
