"""Numbers pinned before the core refactor (issue 13) are reproduced by the current code.

``tests/fixtures/pinned/make_pinned.py`` wrote the CSV files and ``meta.json`` on the commit
before the refactor. Here the same frames are recomputed and compared: the twin's SHA-256
exactly, numbers to 1e-9 (absolute), strings exactly. The Bayesian effects
(``bayes_effects.csv``) are checked by the core's own test. The baseline-covariate designs
(``freq_noncompletion_*``, ``cace_covariates_*``) were pinned by ``make_pinned_covariates.py``
before the two implementations moved into :mod:`imr_bayes.covariates`.
"""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Callable
from functools import cache
from io import StringIO
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

PINNED = Path(__file__).resolve().parent / "fixtures" / "pinned"
ATOL = 1e-9


@cache
def _twin() -> pd.DataFrame:
    from imr_bayes.data import default_twin

    return default_twin()


@cache
def _replicate(sample: str):
    from imr_bayes import frequentist

    return frequentist.replicate(_twin(), sample=sample)


def _fidelity(outcome: str) -> pd.DataFrame:
    from imr_bayes import frequentist

    return frequentist.fidelity_analysis(_twin(), outcome=outcome).coefficients


def _hospitalization(part: str) -> pd.DataFrame:
    from imr_bayes import frequentist

    return getattr(frequentist.hospitalization(_twin()), part)


def _published(function: str, arg: str) -> Callable[[], pd.DataFrame]:
    def make() -> pd.DataFrame:
        from imr_bayes import published

        return getattr(published, function)(arg)
    return make


def _noncompletion(part: str) -> pd.DataFrame:
    from imr_bayes import frequentist

    return getattr(frequentist.noncompletion(_twin()), part)


def _edge_people() -> pd.DataFrame:
    path = PINNED / "make_pinned_covariates.py"
    spec = importlib.util.spec_from_file_location("make_pinned_covariates", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.edge_people()


def _people(name: str) -> pd.DataFrame:
    from imr_bayes.data import simulate_twin

    if name == "edge":
        return _edge_people()
    data = _twin() if name == "default_twin" else simulate_twin(seed=7, mode="random")
    return data.drop_duplicates("participant_id").reset_index(drop=True)


def _cace_covariates(name: str) -> pd.DataFrame:
    from imr_bayes.covariates import standardized_design
    from imr_bayes.trial import facts

    people = _people(name)
    names = tuple(people.columns) if name == "edge" else facts().covariates.baseline_model
    W, columns = standardized_design(people, names)
    return pd.DataFrame(W, columns=list(columns))


def _noncompletion_design_edge() -> pd.DataFrame:
    from imr_bayes.covariates import coded_columns

    people = _edge_people()
    cols = coded_columns(people, tuple(people.columns), missing="nan")
    return pd.DataFrame({"intercept": np.ones(len(people)), **cols})


def _audit() -> pd.DataFrame:
    from imr_bayes import audit

    return audit.audit_published()


#: Pinned file stem -> how make_pinned.py computed it.
FRAMES: dict[str, Callable[[], pd.DataFrame]] = {
    "published_fixed_itt": _published("fixed_effects", "itt"),
    "published_fixed_completers": _published("fixed_effects", "completers"),
    "published_means_itt": _published("marginal_means", "itt"),
    "published_means_completers": _published("marginal_means", "completers"),
    "published_fidelity_imrs_client": _published("fidelity_effects", "imrs_client"),
    "published_fidelity_sers_sf": _published("fidelity_effects", "sers_sf"),
    "audit": _audit,
    **{f"freq_{part}_{sample}": (lambda s=sample, a=attr: getattr(_replicate(s), a))
       for sample in ("itt", "completers")
       for part, attr in (("fixed", "fixed_effects"), ("means", "marginal_means"),
                          ("effects", "effects"), ("multiplicity", "multiplicity"))},
    "freq_fidelity_imrs_client": lambda: _fidelity("imrs_client"),
    "freq_fidelity_sers_sf": lambda: _fidelity("sers_sf"),
    "freq_odds_ratio": lambda: _hospitalization("odds_ratio"),
    "freq_length_of_stay": lambda: _hospitalization("length_of_stay"),
    # pinned by make_pinned_covariates.py before imr_bayes.covariates existed
    "freq_noncompletion_omnibus": lambda: _noncompletion("omnibus"),
    "freq_noncompletion_coefficients": lambda: _noncompletion("coefficients"),
    "freq_noncompletion_design_edge": _noncompletion_design_edge,
    **{f"cace_covariates_{name}": (lambda n=name: _cace_covariates(n))
       for name in ("default_twin", "random_twin", "edge")},
}


def _roundtrip(frame: pd.DataFrame) -> pd.DataFrame:
    """Write and read back as CSV, exactly as the pinned file was written and is read."""
    return pd.read_csv(StringIO(frame.to_csv(index=False)))


def assert_same_frame(now: pd.DataFrame, pinned: pd.DataFrame, name: str) -> None:
    """Same columns and rows; numbers within ``ATOL``, everything else equal as text."""
    assert list(now.columns) == list(pinned.columns), name
    assert len(now) == len(pinned), name
    for col in pinned.columns:
        a, b = now[col], pinned[col]
        if pd.api.types.is_numeric_dtype(b) and not pd.api.types.is_bool_dtype(b):
            x, y = a.to_numpy(float), b.to_numpy(float)
            finite = np.isfinite(y)
            assert np.array_equal(x[~finite], y[~finite], equal_nan=True), (
                f"{name}.{col}: NaN/inf cells differ")
            diff = np.abs(np.subtract(x, y, out=np.zeros_like(y), where=finite))
            assert diff.max(initial=0.0) <= ATOL, (
                f"{name}.{col}: max |difference| {diff.max():.3g} at row {int(diff.argmax())}")
        else:
            sa = a.astype("string").fillna("<NA>").tolist()
            sb = b.astype("string").fillna("<NA>").tolist()
            bad = [i for i, (p, q) in enumerate(zip(sa, sb, strict=True)) if p != q]
            assert not bad, f"{name}.{col}: row {bad[0]} is {sa[bad[0]]!r}, pinned {sb[bad[0]]!r}"


def test_twin_hash_is_pinned():
    from imr_bayes.provenance import data_sha256

    meta = json.loads((PINNED / "meta.json").read_text())
    assert data_sha256(_twin()) == meta["twin_sha256"]


def test_every_pinned_frame_is_checked():
    stems = {p.stem for p in PINNED.glob("*.csv")}
    assert stems - set(FRAMES) == {"bayes_effects", "bayes_estimates"}  # test_pinned_bayes
    assert set(FRAMES) <= stems


@pytest.mark.parametrize("name", list(FRAMES))
def test_frame_is_pinned(name):
    pinned = pd.read_csv(PINNED / f"{name}.csv")
    assert_same_frame(_roundtrip(FRAMES[name]()), pinned, name)


def test_comparison_catches_a_change():
    pinned = pd.read_csv(PINNED / "freq_odds_ratio.csv")
    moved = pinned.copy()
    moved["odds_ratio"] += 1e-6
    with pytest.raises(AssertionError, match="odds_ratio"):
        assert_same_frame(moved, pinned, "freq_odds_ratio")
    unbounded = pinned.copy()
    unbounded["ci_high"] = np.inf
    with pytest.raises(AssertionError, match="ci_high"):
        assert_same_frame(unbounded, pinned, "freq_odds_ratio")
    renamed = pinned.copy()
    renamed["status"] = "failed"
    with pytest.raises(AssertionError, match="status"):
        assert_same_frame(renamed, pinned, "freq_odds_ratio")
