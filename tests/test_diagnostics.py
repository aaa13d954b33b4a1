"""Diagnostics: thresholds flag what they should, E-BFMI equals its hand-computed value."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from imr_bayes.diagnostics import diagnose
from imr_bayes.spec import DiagnosticsSpec


def _tree(theta, energy, diverging):
    dims = ("chain", "draw")
    return xr.DataTree.from_dict({
        "posterior": xr.Dataset({"theta": (dims, theta),
                                 "beta": (dims + ("term",), np.stack([theta, -theta], -1))},
                                coords={"term": ["a", "b"]}),
        "sample_stats": xr.Dataset({"energy": (dims, energy), "diverging": (dims, diverging)}),
    })


def test_independent_draws_pass_and_bfmi_matches_hand_computation():
    rng = np.random.default_rng(0)
    theta = rng.normal(size=(4, 1000))
    energy = rng.normal(size=(4, 1000))
    d = diagnose(_tree(theta, energy, np.zeros((4, 1000), bool)), ["theta", "beta"],
                 DiagnosticsSpec())
    assert d.passed and d.problems == [] and d.divergences == 0
    hand = [np.sum(np.diff(e) ** 2) / np.sum((e - e.mean()) ** 2) for e in energy]
    np.testing.assert_allclose(d.bfmi, hand, rtol=1e-10)
    assert set(d.table["parameter"]) == {"theta", "beta[a]", "beta[b]"}
    assert (d.table["ess_bulk"] > 2000).all()  # iid: ESS close to 4000


def test_failures_are_flagged_never_silent():
    rng = np.random.default_rng(1)
    theta = rng.normal(size=(4, 500)) + np.array([0, 0, 0, 3.0])[:, None]  # one stray chain
    energy = np.cumsum(rng.normal(size=(4, 500)), axis=1)  # random walk: E-BFMI near 0
    diverging = np.zeros((4, 500), bool)
    diverging[0, :3] = True
    d = diagnose(_tree(theta, energy, diverging), ["theta"], DiagnosticsSpec())
    assert not d.passed
    text = " | ".join(d.problems)
    assert "R-hat > 1.01" in text and "3 divergent" in text and "E-BFMI < 0.3" in text
    assert d.summary()["divergences"] == 3


def test_thresholds_come_from_the_spec():
    rng = np.random.default_rng(2)
    theta = rng.normal(size=(2, 100))
    tree = _tree(theta, rng.normal(size=(2, 100)), np.zeros((2, 100), bool))
    assert not diagnose(tree, ["theta"], DiagnosticsSpec()).passed  # ESS < 400
    assert diagnose(tree, ["theta"], DiagnosticsSpec(ess_bulk_min=50, ess_tail_min=50,
                                                     r_hat_max=1.05)).passed


@pytest.mark.parametrize("bad", [{"r_hat_max": 0.9}, {"ess_bulk_min": -1}])
def test_bad_thresholds_rejected(bad):
    from imr_bayes import SpecError
    from imr_bayes.spec import parse_analysis

    with pytest.raises(SpecError, match=rf"diagnostics\.{next(iter(bad))}"):
        parse_analysis({"name": "x", "description": "d", "diagnostics": bad,
                        "model": "lmm", "estimands": []})
