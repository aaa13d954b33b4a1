import pytest

from imr_bayes import outcomes
from imr_bayes.errors import ImrBayesError


def test_twelve_outcomes_in_paper_order():
    assert outcomes.CODES == (
        "imrs_client", "imrs_clinician", "mspss", "cses", "ses", "is", "asi", "bsi",
        "sfs", "mhrm", "sers_sf", "ismi",
    )
    assert outcomes.PRIMARY == "imrs_client"
    assert len(outcomes.SECONDARY) == 11


def test_direction_of_benefit():
    down = {c for c, o in outcomes.OUTCOMES.items() if o.direction == -1}
    assert down == {"bsi", "ismi", "asi"}


def test_baseline_sd_from_table1():
    # Table 1: SERS-SF control 6.9 (24.0), IMR 11.5 (23.6); CSES IMR 137.2 (50.6)
    assert outcomes.get("sers_sf").baseline_sd("cau") == 24.0
    assert outcomes.get("sers_sf").baseline_sd("imr") == 23.6
    assert outcomes.get("cses").baseline_mean("imr") == 137.2


def test_unknown_outcome_names_valid_choices():
    with pytest.raises(ImrBayesError, match=r"Did you mean 'imrs_client'.*Valid choices"):
        outcomes.get("imrs_clint")
