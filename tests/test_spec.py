"""Specs and prior sets: shipped files load; bad input gets named, with the valid choices."""

from __future__ import annotations

import pytest
from scipy import stats

from imr_bayes import SpecError, spec
from imr_bayes.constants import PLANNED_EFFECT_D

ITT = {"name": "x", "description": "d", "model": "lmm", "estimands": []}


def test_shipped_specs_and_prior_sets_load():
    assert {"itt", "itt_categorical"} <= set(spec.analysis_names())
    assert {"default", "sceptical", "enthusiastic", "wide"} <= set(spec.prior_set_names())
    for name in spec.analysis_names():
        s = spec.load_analysis(name)
        assert s.name == name
        ps = spec.load_prior_set(s.prior_set)
        if s.model == "lmm":  # the shared parameters come from the prior set
            spec.priors_for(ps, s.terms + ("sigma_participant", "sigma_group",
                                           "sigma_residual"), 1)
        assert set(s.priors) == set(s.prior_names)  # the kind's own priors, all given
    for name in ("pooling", "dropout"):
        s = spec.load_spec(name, folder="methods")
        assert s.name == name and s.model == name and set(s.priors) == set(s.prior_names)
    for name in spec.prior_set_names():
        assert spec.load_prior_set(name).name == name


def test_terms_follow_from_the_time_coding():
    assert spec.parse_analysis(ITT).terms == ("intercept", "time", "condition",
                                              "condition_x_time")
    assert spec.parse_analysis({**ITT, "time": "categorical"}).terms == (
        "intercept", "time_1", "time_2", "condition", "condition_x_time_1",
        "condition_x_time_2")


def test_spec_defaults_match_issue_thresholds():
    d = spec.load_analysis("itt").diagnostics
    assert (d.r_hat_max, d.ess_bulk_min, d.ess_tail_min, d.divergences_max) == (1.01, 400, 400, 0)


def test_unknown_key_names_key_and_suggestion():
    with pytest.raises(SpecError, match=r"unknown key 'tme'.*Did you mean 'time'"):
        spec.parse_analysis({**ITT, "tme": "linear"})
    with pytest.raises(SpecError, match=r"sampler.*unknown key 'draw'.*Did you mean 'draws'"):
        spec.parse_analysis({**ITT, "sampler": {"draw": 10}})


def test_bad_value_lists_valid_choices():
    with pytest.raises(SpecError, match=r"time: bad value 'categorcal'.*'categorical'.*linear"):
        spec.parse_analysis({**ITT, "time": "categorcal"})
    # The fixed terms follow from the time coding; a spec cannot list its own.
    with pytest.raises(SpecError, match=r"unknown key 'terms'"):
        spec.parse_analysis({**ITT, "terms": ["intercept", "time", "condition"]})
    with pytest.raises(SpecError, match=r"unknown model kind 'lm'.*Did you mean 'lmm'"):
        spec.parse_analysis({**ITT, "model": "lm"})
    with pytest.raises(SpecError, match=r"unknown analysis 'it'.*Did you mean 'itt'"):
        spec.load_analysis("it")
    with pytest.raises(SpecError, match=r"unknown prior set 'scepticl'.*'sceptical'"):
        spec.load_prior_set("scepticl")


@pytest.mark.parametrize(("prior", "pattern"), [
    ({"sigma_grup": {"dist": "HalfNormal", "kwargs": {"sigma": 1}}},
     r"unknown parameter 'sigma_grup'.*'sigma_group'"),
    ({"sigma_group": {"dist": "Normall", "kwargs": {"sigma": 1}}},
     r"unknown distribution 'Normall'.*'Normal'"),
    ({"sigma_group": {"dist": "Normal", "kwargs": {"mu": 0, "sigma": 1}}},
     r"positive support"),
    ({"time": {"dist": "Normal", "kwargs": {"mu": 0, "sigma": -1}}}, r"must be > 0"),
    ({"time": {"dist": "Normal", "kwargs": {"mu": 0, "sd": 1}}},
     r"unknown Normal argument 'sd'"),
])
def test_bad_priors(prior, pattern):
    with pytest.raises(SpecError, match=pattern):
        spec.parse_prior_set({"name": "x", "description": "d", "priors": prior})


def test_missing_prior_is_named():
    ps = spec.parse_prior_set({"name": "x", "description": "d", "priors": {
        "time": {"dist": "Normal", "kwargs": {"mu": 0, "sigma": 1}}}})
    with pytest.raises(SpecError, match="no prior for intercept"):
        spec.priors_for(ps, ("intercept", "time"), 1)


def test_sceptical_and_enthusiastic_tails_match_planned_effect():
    # Per time step the planned effect is d/2 (d = 0.4 at 18 months, time coded 0, 1, 2).
    step = PLANNED_EFFECT_D / 2
    scep = spec.load_prior_set("sceptical").priors["condition_x_time"].resolved(+1)["kwargs"]
    assert stats.norm.sf(step, scep["mu"], scep["sigma"]) == pytest.approx(0.05, abs=0.001)
    enth = spec.load_prior_set("enthusiastic").priors["condition_x_time"]
    up, down = enth.resolved(+1)["kwargs"], enth.resolved(-1)["kwargs"]
    assert up["mu"] == pytest.approx(step) and down["mu"] == pytest.approx(-step)
    assert stats.norm.cdf(0, up["mu"], up["sigma"]) == pytest.approx(0.05, abs=0.001)


def test_spec_hash_changes_with_content():
    a = spec.parse_analysis(ITT)
    b = spec.parse_analysis({**ITT, "residual_sd_by_arm": True})
    assert a.sha256 != b.sha256 and a.sha256 == spec.parse_analysis(ITT).sha256


def test_baseline_benefit_needs_a_baseline_row():
    e = spec.EstimandSpec(name="difference", times=(0, 1, 2), baseline_benefit=False)
    assert (e.sign(1, 0), e.sign(1, 1), e.sign(-1, 2), e.sign(1)) == (0, 1, -1, 1)
    with pytest.raises(ValueError, match="needs time 0"):
        spec.EstimandSpec(name="slope", baseline_benefit=False)
