"""Package-wide constants: the one interval level, the default seed, the trial design.

The design constants (arms, times, group and team counts, the planned effect) are the
trial's facts from ``models/trial.yaml`` (:mod:`imr_bayes.trial`), exposed here under their
long-standing names and read on first use.
"""

from __future__ import annotations

from typing import Any

#: Interval level used everywhere. The paper prints 95 % CIs; ArviZ 1.x defaults to an
#: 89 % ETI, so every call into ArviZ passes this level explicitly.
CI_LEVEL: float = 0.95

#: Default seed of the synthetic twin and of every fit (the trial's register number, NL4931).
DEFAULT_SEED: int = 4931

#: Design constants read from the trial facts: name -> function of :mod:`imr_bayes.trial`.
_FROM_TRIAL: dict[str, Any] = {
    # Measurement moments: 0 = baseline (T1), 1 = 12 months (T2), 2 = 18 months (T3).
    "TIMES": lambda t: t.time_codes(),
    "TIME_LABELS": lambda t: t.time_labels(),
    # Arms as coded in the data contract.
    "ARMS": lambda t: t.arm_codes(),
    "N_RANDOMIZED": lambda t: t.n_randomized(),
    "N_TEAMS": lambda t: t.facts().randomization.n_strata,
    "N_IMR_GROUPS": lambda t: t.facts().imr_groups,
    # The trial's planned standardized effect (power analysis, d = 0.40).
    "PLANNED_EFFECT_D": lambda t: t.facts().planned_effect_d,
}

__all__ = ["CI_LEVEL", "DEFAULT_SEED", *_FROM_TRIAL]


def __getattr__(name: str) -> Any:
    """Return a design constant from the trial facts (``models/trial.yaml``)."""
    if name in _FROM_TRIAL:
        from imr_bayes import trial

        value = _FROM_TRIAL[name](trial)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'imr_bayes.constants' has no attribute {name!r}")
