"""The trial's 12 outcomes: codes, names, direction of benefit, scale range and granularity.

Names, direction, scale ranges, granularity and item structure are the trial facts
(``models/trial.yaml``; the instruments' published scoring is cited in ``docs/twin.md``);
baseline means and SDs per arm come from Table 1
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
    description : str
        How the score is formed, the source of range and step.
    scoring : {"mean", "sum", "single_item", "difference", "scaled_sum"}
        The kind of score.
    n_items : int
        Number of items.
    item_min, item_max : float or None
        Range of one item.
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
    description: str
    scoring: str
    n_items: int
    item_min: float | None
    item_max: float | None

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
        from imr_bayes.trial import n_randomized

        n = n_randomized()
        num = sum((n[a] - 1) * self.baseline_sd(a) ** 2 for a in n)
        return float((num / (sum(n.values()) - 2)) ** 0.5)


def _from_facts() -> dict[str, Outcome]:
    from imr_bayes.trial import facts

    f = facts()
    return {
        code: Outcome(code, o.name, o.abbreviation, o.domain, o.direction, o.scale.min,
                      o.scale.max, o.scale.step, code == f.primary_outcome, o.description,
                      o.scoring, o.items.n, o.items.min, o.items.max)
        for code, o in f.outcomes.items()
    }


#: The outcomes of ``models/trial.yaml`` in the paper's table order.
OUTCOMES: dict[str, Outcome] = _from_facts()

#: Outcome codes in the paper's table order; the first is the primary outcome.
CODES: tuple[str, ...] = tuple(OUTCOMES)
PRIMARY: str = next(c for c, o in OUTCOMES.items() if o.primary)
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
