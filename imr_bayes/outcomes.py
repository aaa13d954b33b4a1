"""The trial's 12 outcomes: codes, names, direction of benefit, scale range and granularity.

Scale ranges and granularity come from the instruments' published scoring (cited in
``docs/twin.md``); baseline means and SDs per arm come from Table 1
(``models/published/table1_baseline.csv``).
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from functools import cache

import pandas as pd

from imr_bayes.errors import ImrBayesError
from imr_bayes.paths import published_dir


@dataclass(frozen=True)
class Outcome:
    """One outcome measure of the trial.

    Attributes
    ----------
    code : str
        Column name in the data contract and key everywhere in the package.
    name : str
        Full instrument name.
    abbreviation : str
        Abbreviation as printed in the paper.
    domain : str
        The paper's grouping (illness management, constituent, recovery).
    direction : int
        +1 if higher scores are better, -1 if lower scores are better.
    scale_min, scale_max : float or None
        Possible range of the score (None where the paper's scoring is not known).
    step : float or None
        Granularity of an observed score (1/k for a mean of k integer items; 1 for sums).
    primary : bool
        True for the primary outcome only.
    scoring : str
        How the score is formed, the source of range and step.
    """

    code: str
    name: str
    abbreviation: str
    domain: str
    direction: int
    scale_min: float | None
    scale_max: float | None
    step: float | None
    primary: bool
    scoring: str

    @property
    def beneficial_sign(self) -> int:
        """Sign of a condition x time effect that favours IMR (+1 or -1)."""
        return self.direction

    def baseline_sd(self, arm: str) -> float:
        """Baseline SD of this outcome in ``arm`` ("imr" or "cau"), as printed in Table 1."""
        return float(_table1_outcomes().loc[(self.code, arm), "sd"])

    def baseline_mean(self, arm: str) -> float:
        """Baseline mean of this outcome in ``arm``, as printed in Table 1."""
        return float(_table1_outcomes().loc[(self.code, arm), "mean"])

    def pooled_baseline_sd(self) -> float:
        """Pooled baseline SD of both arms (Table 1 SDs weighted by n - 1)."""
        n = {"imr": 116, "cau": 71}
        num = sum((n[a] - 1) * self.baseline_sd(a) ** 2 for a in n)
        return float((num / (sum(n.values()) - 2)) ** 0.5)


_ILL = "illness management"
_CON = "illness management constituent"
_REC = "recovery"

OUTCOMES: dict[str, Outcome] = {
    o.code: o
    for o in [
        Outcome("imrs_client", "Illness Management and Recovery Scale, client version",
                "IMRS client", _ILL, +1, 1, 5, 1 / 15, True,
                "mean of 15 items scored 1-5"),
        Outcome("imrs_clinician", "Illness Management and Recovery Scale, clinician version",
                "IMRS clinician", _ILL, +1, 1, 5, 1 / 15, False,
                "mean of 15 items scored 1-5"),
        Outcome("mspss", "Multidimensional Scale of Perceived Social Support",
                "MSPSS", _CON, +1, 1, 7, 1 / 12, False, "mean of 12 items scored 1-7"),
        Outcome("cses", "Coping Self-Efficacy Scale", "CSES", _CON, +1, 0, 260, 1, False,
                "sum of 26 items scored 0-10"),
        Outcome("ses", "Service Engagement Scale, treatment adherence subscale", "SES",
                _CON, +1, 0, 12, 1, False,
                "sum of 4 items scored 0-3, coded so that higher is better adherence"),
        Outcome("is", "Insight Scale", "IS", _CON, +1, 0, 12, 0.5, False,
                "Birchwood Insight Scale total, 0-12 in half points"),
        Outcome("asi", "Addiction Severity Index, item 24", "ASI", _CON, -1, 0, 4, 1, False,
                "single item rated 0-4 (problems with alcohol or drugs)"),
        Outcome("bsi", "Brief Symptom Inventory", "BSI", _REC, -1, 0, 4, 1 / 53, False,
                "Global Severity Index: mean of 53 items scored 0-4"),
        Outcome("sfs", "Social Functioning Scale", "SFS", _REC, +1, None, None, None, False,
                "sum of scaled subscale scores; range not stated in the paper"),
        Outcome("mhrm", "Mental Health Recovery Measure", "MHRM", _REC, +1, 0, 120, 1, False,
                "sum of 30 items scored 0-4"),
        Outcome("sers_sf", "Self-Esteem Rating Scale, Short Form", "SERS-SF", _REC, +1,
                -60, 60, 1, False,
                "positive minus negative item sums, 20 items scored 1-7 (range -60 to 60)"),
        Outcome("ismi", "Internal Stigma of Mental Illness scale", "ISMI", _REC, -1, 1, 4,
                1 / 29, False, "mean of 29 items scored 1-4"),
    ]
}

#: Outcome codes in the paper's table order; the first is the primary outcome.
CODES: tuple[str, ...] = tuple(OUTCOMES)
PRIMARY: str = "imrs_client"
SECONDARY: tuple[str, ...] = tuple(c for c in CODES if c != PRIMARY)


def get(code: str) -> Outcome:
    """Return the outcome with this code, or raise with the valid codes and a suggestion.

    Parameters
    ----------
    code : str
        An outcome code such as ``"imrs_client"``.

    Raises
    ------
    ImrBayesError
        If the code is unknown; the message lists the valid codes.
    """
    try:
        return OUTCOMES[code]
    except KeyError:
        raise ImrBayesError(unknown_choice_message("outcome", code, CODES)) from None


def unknown_choice_message(kind: str, value: object, valid: tuple[str, ...] | list[str]) -> str:
    """Build "unknown X 'v'; did you mean 'w'? Valid: ..." for any closed set of choices."""
    close = difflib.get_close_matches(str(value), list(valid), n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    return f"unknown {kind} {value!r}.{hint} Valid choices: {', '.join(valid)}."


@cache
def _table1_outcomes() -> pd.DataFrame:
    t1 = pd.read_csv(published_dir() / "table1_baseline.csv")
    t1 = t1[t1["variable"] == "outcome"]
    return t1.set_index(["outcome", "arm"])[["mean", "sd"]].astype(float)
