import numpy as np
import pandas as pd
import pytest

from imr_bayes.covariates import characteristics, coded_columns, standardized_design
from imr_bayes.errors import DataValidationError, ImrBayesError
from imr_bayes.trial import facts


def _people() -> pd.DataFrame:
    return pd.DataFrame({
        "age": [30.0, np.nan, 50.0, 40.0, 35.0],
        "income": ["benefit", "missing", "employment", "benefit", "none"],
        "sex": ["male", "female", "female", "male", "female"],
    })


def test_characteristics_are_the_trial_facts():
    c = facts().covariates
    assert set(characteristics()) == set(c.numeric) | set(c.categorical) | set(c.indicators)
    assert set(c.baseline_model) <= set(characteristics())
    assert "age" in c.numeric and "missing" in c.missing_codes


def test_dummies_match_pandas_get_dummies():
    people = _people()
    cols = coded_columns(people, ("income", "sex"), missing="nan")
    # reference = most frequent level ("benefit"; "female"); "missing" is no level
    assert list(cols) == ["income[employment]", "income[none]", "sex[male]"]
    seen = people["income"] != "missing"
    ref = pd.get_dummies(people.loc[seen, "income"], dtype=float)
    for lev in ("employment", "none"):
        np.testing.assert_array_equal(cols[f"income[{lev}]"][seen.to_numpy()], ref[lev])
        assert np.isnan(cols[f"income[{lev}]"][~seen.to_numpy()]).all()
    np.testing.assert_array_equal(cols["sex[male]"], [1, 0, 0, 1, 0])


def test_missing_as_reference_and_numbers_kept():
    cols = coded_columns(_people(), ("age", "income"), missing="reference")
    np.testing.assert_array_equal(cols["income[employment]"], [0, 0, 1, 0, 0])
    np.testing.assert_array_equal(cols["age"], [30, np.nan, 50, 40, 35])


def test_tie_takes_alphabetically_first_level_as_reference():
    people = pd.DataFrame({"sex": ["male", "female", "male", "female"]})
    assert list(coded_columns(people, ("sex",), missing="nan")) == ["sex[male]"]


def test_standardized_design_fills_scales_and_drops_duplicates():
    people = _people().assign(onset=["le_10y"] * 5,
                              education=["low", "high", "high", "low", "high"])
    W, names = standardized_design(people, ("age", "income", "sex", "onset", "education"))
    # onset is constant: no column; education[low] equals sex[male]: dropped
    assert names == ("age", "income[employment]", "income[none]", "sex[male]")
    np.testing.assert_allclose(W.mean(axis=0), 0.0, atol=1e-12)
    np.testing.assert_allclose(W.std(axis=0), 1.0)
    age = np.array([30, 38.75, 50, 40, 35])  # missing age -> mean of the others
    np.testing.assert_allclose(W[:, 0], (age - age.mean()) / age.std())


def test_standardized_design_without_columns():
    W, names = standardized_design(pd.DataFrame({"onset": ["le_10y"] * 3}), ("onset",))
    assert W.shape == (3, 0) and names == ()


def test_bad_input_names_the_problem():
    with pytest.raises(DataValidationError, match="missing column 'income' "):
        coded_columns(pd.DataFrame({"age": [1.0]}), ("income",), missing="nan")
    with pytest.raises(ImrBayesError, match="baseline characteristic 'team'.*Valid choices: age"):
        coded_columns(pd.DataFrame({"team": [1]}), ("team",), missing="nan")
    with pytest.raises(ImrBayesError, match="missing-value mode 'drop'.*nan, reference"):
        coded_columns(_people(), ("age",), missing="drop")  # type: ignore[arg-type]
