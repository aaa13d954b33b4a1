"""The trial's facts, read from ``models/trial.yaml``: the one place they are written.

Arms, measurement times and their months, the randomization's stratification factor, the
IMR groups, the completion and fidelity rules, the outcomes with their scale structure, and
how baseline covariates are coded. Published *numbers* are not facts of the design: they
live in ``models/published`` (:mod:`imr_bayes.published`).

The file is validated with pydantic on first use (unknown keys are rejected, every problem is
a :class:`imr_bayes.SpecError` naming the key); :func:`facts` returns the frozen result.
"""

from __future__ import annotations

from fractions import Fraction
from functools import cache
from typing import Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from imr_bayes.errors import SpecError
from imr_bayes.paths import models_dir


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Arm(_Frozen):
    """One arm: its data-contract code, a label and the number randomized."""

    code: str
    label: str
    n_randomized: int = Field(gt=0)


class Time(_Frozen):
    """One measurement moment: contract code, label and months since baseline."""

    code: int = Field(ge=0)
    label: str
    months: float = Field(ge=0)


class Randomization(_Frozen):
    """Stratified block randomization; ``allocation``: places per block by arm code."""

    stratification_factor: str
    n_strata: int = Field(gt=0)
    block_size: int = Field(gt=0)
    allocation: dict[str, int]

    @field_validator("allocation")
    @classmethod
    def _fills_block(cls, value: dict[str, int], info) -> dict[str, int]:
        size = info.data.get("block_size")
        if size is not None and sum(value.values()) != size:
            raise ValueError(f"allocation {value} does not fill a block of {size}")
        return value


class Eligibility(_Frozen):
    """Inclusion criteria that bound a baseline characteristic."""

    age: tuple[float, float]


class Completion(_Frozen):
    """Who counts as a completer."""

    completer_share: float = Field(gt=0, le=1)


class Fidelity(_Frozen):
    """Fidelity scale and items, the high/moderate threshold, the outcomes with a table."""

    scale: tuple[float, float]
    items: int = Field(gt=0)
    high_threshold: float
    min_sessions: int = Field(ge=0)
    outcomes: dict[str, str]


class Covariates(_Frozen):
    """How baseline characteristics are coded for models that adjust for them."""

    numeric: tuple[str, ...]
    categorical: tuple[str, ...]
    indicators: tuple[str, ...]
    missing_codes: tuple[str, ...]
    baseline_model: tuple[str, ...]


def _number(value: float | str | None) -> float | None:
    """Parse a number or a fraction ``"a/b"`` (kept exact until the final float)."""
    if value is None:
        return None
    if isinstance(value, str):
        return float(Fraction(value))
    return float(value)


class Scale(_Frozen):
    """Possible range and granularity of a score (None where unknown)."""

    min: float | None
    max: float | None
    step: float | None

    @field_validator("min", "max", "step", mode="before")
    @classmethod
    def _fraction(cls, value: float | str | None) -> float | None:
        return _number(value)


class Items(_Frozen):
    """Item structure of an instrument: number of items and the range of one item."""

    n: int = Field(gt=0)
    min: float | None
    max: float | None


class OutcomeFacts(_Frozen):
    """One outcome as written in ``trial.yaml`` (see :class:`imr_bayes.outcomes.Outcome`)."""

    name: str
    abbreviation: str
    domain: str
    direction: Literal[1, -1]
    scale: Scale
    items: Items
    scoring: Literal["mean", "sum", "single_item", "difference", "scaled_sum"]
    description: str


class TrialFacts(_Frozen):
    """Every fact of ``models/trial.yaml``."""

    trial: str
    arms: tuple[Arm, ...]
    times: tuple[Time, ...]
    treatment_ends_month: float
    randomization: Randomization
    eligibility: Eligibility
    imr_groups: int = Field(gt=0)
    completion: Completion
    fidelity: Fidelity
    planned_effect_d: float = Field(gt=0)
    primary_outcome: str
    covariates: Covariates
    outcomes: dict[str, OutcomeFacts]

    @model_validator(mode="after")
    def _cross_references(self) -> TrialFacts:
        """Check that facts naming arms, outcomes or characteristics name known ones."""
        arms = [a.code for a in self.arms]
        problems = []
        if self.primary_outcome not in self.outcomes:
            problems.append(f"primary_outcome {self.primary_outcome!r} is not one of the "
                            f"outcomes ({', '.join(self.outcomes)})")
        problems += [f"fidelity.outcomes: {o!r} is not one of the outcomes"
                     for o in self.fidelity.outcomes if o not in self.outcomes]
        if sorted(self.randomization.allocation) != sorted(arms):
            problems.append(f"randomization.allocation has arms "
                            f"{sorted(self.randomization.allocation)}, expected {sorted(arms)}")
        c = self.covariates
        coded = [*c.numeric, *c.categorical, *c.indicators]
        problems += [f"covariates: {name!r} is coded twice"
                     for name in sorted({n for n in coded if coded.count(n) > 1})]
        problems += [f"covariates.baseline_model: {name!r} is not numeric, categorical or an "
                     f"indicator" for name in c.baseline_model if name not in coded]
        if problems:
            raise ValueError("; ".join(problems))
        return self


@cache
def facts() -> TrialFacts:
    """Return the validated trial facts (read once per process).

    Raises
    ------
    SpecError
        If ``models/trial.yaml`` is missing, not YAML, or breaks the schema.
    """
    path = models_dir() / "trial.yaml"
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SpecError(f"trial facts file not found: {path}") from None
    except yaml.YAMLError as exc:
        raise SpecError(f"trial facts file {path} is not valid YAML: {exc}") from None
    try:
        return TrialFacts.model_validate(raw)
    except ValidationError as exc:
        lines = [f"invalid trial facts {path}:"]
        for err in exc.errors():
            loc = ".".join(str(p) for p in err["loc"]) or "<top level>"
            lines.append(f"  - {loc}: {err['msg'].removeprefix('Value error, ')}")
        raise SpecError("\n".join(lines)) from None


def arm_codes() -> tuple[str, ...]:
    """Arm codes in model order (``("imr", "cau")``)."""
    return tuple(a.code for a in facts().arms)


def time_codes() -> tuple[int, ...]:
    """Measurement time codes (``(0, 1, 2)``)."""
    return tuple(t.code for t in facts().times)


def time_labels() -> dict[int, str]:
    """Time code -> label (``{0: "baseline", 1: "12 months", 2: "18 months"}``)."""
    return {t.code: t.label for t in facts().times}


def time_months() -> dict[int, float]:
    """Time code -> months since baseline (``{0: 0, 1: 12, 2: 18}``)."""
    return {t.code: t.months for t in facts().times}


def n_randomized() -> dict[str, int]:
    """Arm code -> number randomized."""
    return {a.code: a.n_randomized for a in facts().arms}


def fidelity_outcomes() -> tuple[str, ...]:
    """Outcomes with a published fidelity analysis (Tables 4 and 5)."""
    return tuple(facts().fidelity.outcomes)
