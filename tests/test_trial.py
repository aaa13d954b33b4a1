"""The trial facts agree with the published numbers, and a broken facts file is named."""

import shutil

import pytest
import yaml

from imr_bayes import published, trial
from imr_bayes.errors import SpecError
from imr_bayes.paths import models_dir


def test_arms_and_groups_agree_with_the_published_tables():
    n = trial.n_randomized()
    means = published.marginal_means("itt")
    base = means[(means["outcome"] == trial.facts().primary_outcome) & (means["time"] == 0)]
    assert base.set_index("arm")["n"].astype(int).to_dict() == n  # Table 3 baseline Ns
    assert sum(n.values()) == 187
    groups = published.text_value("fidelity_high_groups") + published.text_value(
        "fidelity_moderate_groups")
    assert groups == trial.facts().imr_groups == 15


def test_fidelity_facts_agree_with_the_published_text():
    f = trial.facts().fidelity
    assert published.text_value("fidelity_moderate_max") < f.high_threshold
    assert published.text_value("fidelity_high_min") >= f.high_threshold
    lo, hi = f.scale
    assert lo <= published.text_value("fidelity_mean") <= hi
    # every printed group score is a mean of the 13 items: a multiple of 1/13
    for key in ("fidelity_high_min", "fidelity_high_max", "fidelity_moderate_min"):
        assert round(published.text_value(key) * f.items) / f.items == pytest.approx(
            published.text_value(key), abs=0.005)
    assert set(f.outcomes) == set(published.FIDELITY_TABLE)


def test_randomization_allocation_is_the_planned_ratio():
    r = trial.facts().randomization
    assert r.allocation == {"imr": 3, "cau": 2} and r.block_size == 5 and r.n_strata == 14


@pytest.fixture
def facts_file(tmp_path, monkeypatch):
    """A copy of models/ whose trial.yaml a test may edit; the cache is reset around it."""
    shutil.copytree(models_dir(), tmp_path / "models")
    monkeypatch.setenv("IMR_BAYES_MODELS", str(tmp_path / "models"))
    trial.facts.cache_clear()
    yield tmp_path / "models" / "trial.yaml"
    trial.facts.cache_clear()


def _edit(path, change):
    raw = yaml.safe_load(path.read_text())
    change(raw)
    path.write_text(yaml.safe_dump(raw))


def test_cross_references_are_checked(facts_file):
    def break_it(raw):
        raw["primary_outcome"] = "imrs"
        raw["fidelity"]["outcomes"]["bsi_x"] = "Table 9"
        raw["randomization"]["allocation"] = {"imr": 3, "control": 2}
        raw["covariates"]["baseline_model"].append("team")

    _edit(facts_file, break_it)
    with pytest.raises(SpecError) as err:
        trial.facts()
    text = str(err.value)
    for part in ("primary_outcome 'imrs'", "'bsi_x' is not one of the outcomes",
                 "expected ['cau', 'imr']", "'team' is not numeric"):
        assert part in text


def test_schema_errors_name_the_key(facts_file):
    def break_it(raw):
        raw["randomization"]["allocation"] = {"imr": 3, "cau": 3}
        raw["fidelity"]["item"] = 13

    _edit(facts_file, break_it)
    with pytest.raises(SpecError, match=r"randomization.allocation: .*block of 5") as err:
        trial.facts()
    assert "fidelity.item: Extra inputs are not permitted" in str(err.value)


def test_missing_file_is_named(facts_file):
    facts_file.unlink()
    with pytest.raises(SpecError, match="trial facts file not found: .*trial.yaml"):
        trial.facts()
