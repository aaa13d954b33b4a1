"""The synthetic twin of the IMR trial.

Seeded participant-level data with the trial's published design that reproduce its
published results.

:func:`simulate_twin` draws one data set in the data contract; :func:`default_twin` is the
exact twin at the default seed, the package's embedded demonstration data set. Every
generative choice and its source in the paper is explained in ``docs/twin.md``.
"""

from __future__ import annotations

from functools import cache

import numpy as np
import pandas as pd

from imr_bayes.constants import DEFAULT_SEED, TIMES
from imr_bayes.data.contract import CONTRACT_COLUMNS, validate
from imr_bayes.data.twin_design import MODES, TwinParams, participants
from imr_bayes.data.twin_outcomes import observed, outcome_values
from imr_bayes.errors import ImrBayesError
from imr_bayes.outcomes import CODES, unknown_choice_message


def simulate_twin(*, seed: int = DEFAULT_SEED, mode: str = "exact", **params: object
                  ) -> pd.DataFrame:
    """Simulate one synthetic twin of the trial in the data contract.

    Parameters
    ----------
    seed : int
        Seed of the one ``numpy.random.Generator`` used; the same seed gives identical
        data in every run and process. Default: :data:`imr_bayes.constants.DEFAULT_SEED`
        (4931, the trial's register number).
    mode : {"exact", "random"}
        ``"exact"``: the printed summaries are reproduced - per outcome, arm and time the
        Table 3 Ns and means (and the Table 7 completer means), the Table 1 counts, the
        attendance, fidelity and hospitalization figures of the text. ``"random"``: a
        fresh draw from the same generative model (summaries hold in expectation), for
        simulation studies.
    **params
        Generative assumptions, see :class:`imr_bayes.data.twin_design.TwinParams`
        (e.g. ``group_icc=0.05``).

    Returns
    -------
    pandas.DataFrame
        Long data, one row per participant x time (187 x 3 rows), validated.

    Raises
    ------
    ImrBayesError
        If ``mode`` or a parameter name is unknown, or a parameter is out of range.
    """
    if mode not in MODES:
        raise ImrBayesError(unknown_choice_message("twin mode", mode, MODES))
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ImrBayesError(f"seed must be a non-negative integer, got {seed!r}")
    settings = TwinParams.from_kwargs(**params)
    rng = np.random.default_rng(int(seed))
    exact = mode == "exact"
    people = participants(rng, exact, settings)
    seen = observed(people, rng, exact)
    values = {code: outcome_values(code, people, seen[code], rng, exact, settings)
              for code in CODES}
    n = len(people)
    long = people.loc[np.repeat(np.arange(n), len(TIMES))].reset_index(drop=True)
    long["time"] = np.tile(np.array(TIMES, dtype=np.int64), n)
    for code in CODES:
        long[code] = values[code].reshape(-1)
    long = long[list(CONTRACT_COLUMNS)]
    # the exact twin is validated; random twins (simulation studies, speed) are only typed -
    # tests check that they pass validation too
    return validate(long) if exact else long.astype(CONTRACT_COLUMNS)


@cache
def _default_twin() -> pd.DataFrame:
    return simulate_twin(seed=DEFAULT_SEED, mode="exact")


def default_twin() -> pd.DataFrame:
    """Return the exact twin at the default seed (computed once per process; a copy)."""
    return _default_twin().copy()
