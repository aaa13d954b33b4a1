"""Baseline characteristics coded as a design, for the models that adjust for them.

How a characteristic is coded is a trial fact (``models/trial.yaml``, ``covariates``): the
``numeric`` ones enter as numbers; every other one (``categorical`` and ``indicators``)
enters as dummies of its non-reference levels, the reference being the most frequent level
(ties: the alphabetically first). A ``missing_codes`` value (``"missing"``) is no level.

Two models use this coding and differ in one respect, kept as each was written:

- the selective non-completion regression (:mod:`imr_bayes.frequentist.noncompletion`)
  keeps a missing value missing (``missing="nan"``), so that participant drops out
  listwise, as SPSS does;
- the compliance model of the CACE (:mod:`imr_bayes.bayes.completion`) uses
  :func:`standardized_design`: a missing category counts as the reference
  (``missing="reference"``), a missing number as the mean; every column is z-scored and
  constant or duplicate (up to sign) columns are dropped.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
import pandas as pd

from imr_bayes.errors import DataValidationError, ImrBayesError
from imr_bayes.outcomes import unknown_choice_message
from imr_bayes.trial import facts

#: How a missing value enters a dummy: kept missing, or as the reference level (0).
MISSING_MODES: tuple[str, ...] = ("nan", "reference")


def characteristics() -> tuple[str, ...]:
    """Every baseline characteristic the trial facts code (numeric, categorical, indicators)."""
    c = facts().covariates
    return (*c.numeric, *c.categorical, *c.indicators)


def _check(people: pd.DataFrame, names: Sequence[str]) -> None:
    absent = [c for c in names if c not in people.columns]
    if absent:
        raise DataValidationError([f"missing column {c!r} (baseline characteristic)"
                                   for c in absent])
    known = characteristics()
    for c in names:
        if c not in known:
            raise ImrBayesError(unknown_choice_message("baseline characteristic", c, known))


def coded_columns(people: pd.DataFrame, names: Sequence[str], *,
                  missing: Literal["nan", "reference"]) -> dict[str, np.ndarray]:
    """Code baseline characteristics: numbers as they are, categories as dummies.

    Parameters
    ----------
    people : DataFrame
        One row per participant with the characteristics as columns.
    names : sequence of str
        Characteristics to code, in order (see :func:`characteristics`).
    missing : {"nan", "reference"}
        A missing or missing-coded category gives NaN in every dummy of its characteristic
        (``"nan"``) or 0, like the reference level (``"reference"``). Missing numbers stay
        NaN in both modes.

    Returns
    -------
    dict of str to ndarray
        Column name (``age``, ``income[employment]``) -> float values in row order. A
        characteristic without any observed level gives no column.

    Raises
    ------
    DataValidationError
        If a characteristic is not a column of ``people``.
    ImrBayesError
        If a name is not a baseline characteristic of the trial facts, or ``missing`` is
        not one of :data:`MISSING_MODES`.
    """
    if missing not in MISSING_MODES:
        raise ImrBayesError(unknown_choice_message("missing-value mode", missing, MISSING_MODES))
    _check(people, names)
    coding = facts().covariates
    cols: dict[str, np.ndarray] = {}
    for c in names:
        if c in coding.numeric:
            cols[c] = pd.to_numeric(people[c], errors="coerce").to_numpy(float)
            continue
        v = people[c].astype("string")
        v = v.mask(v.isin(coding.missing_codes))
        levels = v.dropna().value_counts()
        if levels.empty:
            continue
        ref = sorted(levels.index[levels == levels.max()])[0]
        for lev in sorted(levels.index):
            if lev == ref:
                continue
            if missing == "nan":
                cols[f"{c}[{lev}]"] = np.where(v.isna(), np.nan, (v == lev).astype(float))
            else:
                cols[f"{c}[{lev}]"] = (v == lev).fillna(False).to_numpy(float)
    return cols


def standardized_design(people: pd.DataFrame, names: Sequence[str]
                        ) -> tuple[np.ndarray, tuple[str, ...]]:
    """Standardized baseline design: one row per participant, z-scored columns.

    Characteristics are coded by :func:`coded_columns` with ``missing="reference"``; a
    missing number becomes the column mean. Every column is centred and scaled to unit
    (population) SD; columns that are constant or equal an earlier column up to sign (e.g.
    admissions "none" and hospitalization length "none") are dropped.

    Parameters
    ----------
    people : DataFrame
        One row per participant with the characteristics as columns.
    names : sequence of str
        Characteristics to code, in order.

    Returns
    -------
    (W, column_names)
        ``W`` of shape (participants, kept columns) and the kept columns' names.

    Raises
    ------
    DataValidationError
        If a characteristic is not a column of ``people``.
    ImrBayesError
        If a name is not a baseline characteristic of the trial facts.
    """
    kept, out, seen = [], [], []
    for name, x in coded_columns(people, names, missing="reference").items():
        x = x.copy()
        x[~np.isfinite(x)] = np.nanmean(x) if np.isfinite(x).any() else 0.0
        sd = x.std()
        if not sd > 0:
            continue
        x = (x - x.mean()) / sd
        if any(np.allclose(x, s) or np.allclose(x, -s) for s in seen):
            continue
        seen.append(x)
        kept.append(name)
        out.append(x)
    W = np.column_stack(out) if out else np.zeros((len(people), 0))
    return W, tuple(kept)
