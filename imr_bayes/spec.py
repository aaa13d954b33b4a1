"""Declarative model specifications and prior sets: load, validate, hash.

An analysis spec (``models/analyses/<name>.yaml``) names the model structure (time coding,
fixed terms, random terms, residual structure), the sampler settings and the diagnostic
thresholds. A prior set (``models/priors/<name>.yaml``) gives every parameter a prior as
data, ``{dist, kwargs}``, on the outcome's **standardized** scale (outcome minus the pooled
Table 1 baseline mean, divided by the pooled Table 1 baseline SD).

Both are validated on load with pydantic (unknown keys are rejected); every problem becomes
an :class:`imr_bayes.SpecError` that names the bad key or value, the valid choices and, where
one is close, a "did you mean" suggestion.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from imr_bayes.errors import SpecError
from imr_bayes.outcomes import unknown_choice_message
from imr_bayes.paths import models_dir
from imr_bayes.provenance import spec_sha256

#: Allowed prior distributions and their keyword arguments (PyMC names).
DISTRIBUTIONS: dict[str, tuple[str, ...]] = {
    "Normal": ("mu", "sigma"),
    "StudentT": ("nu", "mu", "sigma"),
    "HalfNormal": ("sigma",),
    "HalfStudentT": ("nu", "sigma"),
    "HalfCauchy": ("beta",),
    "Exponential": ("lam",),
}
#: Distributions with positive support (allowed for standard deviations).
POSITIVE_DISTRIBUTIONS: frozenset[str] = frozenset(
    {"HalfNormal", "HalfStudentT", "HalfCauchy", "Exponential"}
)
#: Keyword arguments that must be strictly positive.
_POSITIVE_KWARGS: frozenset[str] = frozenset({"sigma", "nu", "beta", "lam"})

#: Fixed-effect terms an analysis may use (ITT linear and categorical time).
FIXED_TERMS: tuple[str, ...] = (
    "intercept", "time", "condition", "condition_x_time",
    "time_1", "time_2", "condition_x_time_1", "condition_x_time_2",
)
#: Standard-deviation parameters of the hierarchical models.
SD_PARAMETERS: tuple[str, ...] = ("sigma_participant", "sigma_group", "sigma_residual")


class _Strict(BaseModel):
    """Base model: frozen, unknown keys rejected with the valid keys and a suggestion."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    @model_validator(mode="before")
    @classmethod
    def _known_keys(cls, value: Any) -> Any:
        if isinstance(value, dict):
            valid = tuple(cls.model_fields)
            for key in value:
                if key not in valid:
                    raise ValueError(unknown_choice_message("key", key, valid))
        return value


class PriorSpec(_Strict):
    """One prior as data: a distribution name and its keyword arguments.

    ``orient: beneficial`` multiplies a location (``mu``) by the outcome's direction, so a
    prior centred on a benefit is centred on a benefit for outcomes where lower is better.
    """

    dist: str
    kwargs: dict[str, float]
    orient: Literal["none", "beneficial"] = "none"

    @model_validator(mode="after")
    def _check(self) -> PriorSpec:
        if self.dist not in DISTRIBUTIONS:
            raise ValueError(unknown_choice_message("distribution", self.dist,
                                                    tuple(DISTRIBUTIONS)))
        allowed = DISTRIBUTIONS[self.dist]
        for key, val in self.kwargs.items():
            if key not in allowed:
                raise ValueError(unknown_choice_message(f"{self.dist} argument", key, allowed))
            if key in _POSITIVE_KWARGS and not val > 0:
                raise ValueError(f"{self.dist} argument {key!r} must be > 0 but got {val}")
        missing = [k for k in allowed if k not in self.kwargs and k != "nu"]
        if missing:
            raise ValueError(f"{self.dist} prior needs {', '.join(missing)}")
        if self.orient == "beneficial" and "mu" not in self.kwargs:
            raise ValueError("orient: beneficial needs a location 'mu'")
        return self

    def resolved(self, direction: int) -> dict[str, Any]:
        """Return ``{dist, kwargs}`` with an oriented location multiplied by ``direction``."""
        kwargs = dict(self.kwargs)
        if self.orient == "beneficial":
            kwargs["mu"] = kwargs["mu"] * direction
        return {"dist": self.dist, "kwargs": kwargs}


class PriorSet(_Strict):
    """A named set of priors on the standardized scale."""

    name: str
    description: str
    rationale: str = ""
    priors: dict[str, PriorSpec]

    @model_validator(mode="after")
    def _check(self) -> PriorSet:
        valid = FIXED_TERMS + SD_PARAMETERS
        for key, prior in self.priors.items():
            if key not in valid:
                raise ValueError(unknown_choice_message("parameter", key, valid))
            if key in SD_PARAMETERS and prior.dist not in POSITIVE_DISTRIBUTIONS:
                raise ValueError(
                    f"prior of {key!r} must have positive support; got {prior.dist!r}. "
                    f"Valid choices: {', '.join(sorted(POSITIVE_DISTRIBUTIONS))}."
                )
        return self


class RandomSpec(_Strict):
    """Random effects: participant intercept and the IMR-group effect (treated, post-baseline)."""

    participant: bool = True
    imr_group: bool = True


class SamplerSpec(_Strict):
    """Sampler settings (nutpie by default)."""

    engine: Literal["marginal", "full"] = "marginal"
    sampler: Literal["nutpie", "pymc"] = "nutpie"
    backend: Literal["auto", "pyfunc", "numba"] = "auto"
    draws: int = Field(1000, ge=1)
    tune: int = Field(1000, ge=0)
    chains: int = Field(4, ge=1)
    cores: int = Field(2, ge=1)
    target_accept: float = Field(0.8, gt=0, lt=1)


class DiagnosticsSpec(_Strict):
    """Thresholds a fit must meet to pass its diagnostics."""

    r_hat_max: float = Field(1.01, gt=1)
    ess_bulk_min: float = Field(400, ge=0)
    ess_tail_min: float = Field(400, ge=0)
    divergences_max: int = Field(0, ge=0)
    bfmi_min: float = Field(0.3, ge=0)


class AnalysisSpec(_Strict):
    """A declarative analysis: structure, priors, sampler and diagnostics."""

    name: str
    description: str
    model: Literal["itt"] = "itt"
    family: Literal["gaussian"] = "gaussian"
    sample: Literal["itt", "completers"] = "itt"
    time: Literal["linear", "categorical"] = "linear"
    terms: tuple[str, ...]
    random: RandomSpec = RandomSpec()
    residual_sd_by_arm: bool = False
    prior_set: str = "default"
    sampler: SamplerSpec = SamplerSpec()
    diagnostics: DiagnosticsSpec = DiagnosticsSpec()
    options: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _check_terms(self) -> AnalysisSpec:
        needed = required_terms(self.time)
        for term in self.terms:
            if term not in FIXED_TERMS:
                raise ValueError(unknown_choice_message("term", term, FIXED_TERMS))
        if tuple(self.terms) != needed:
            raise ValueError(
                f"time: {self.time} needs the terms {list(needed)} in this order "
                f"(condition x time is always included); got {list(self.terms)}"
            )
        return self

    @property
    def sha256(self) -> str:
        """SHA-256 of the validated spec (canonical JSON)."""
        return spec_sha256(self.model_dump(mode="json"))


def required_terms(time: str) -> tuple[str, ...]:
    """Return the fixed terms of the ITT model for a time coding."""
    if time == "linear":
        return ("intercept", "time", "condition", "condition_x_time")
    return ("intercept", "time_1", "time_2", "condition",
            "condition_x_time_1", "condition_x_time_2")


def _format_errors(kind: str, source: str, exc: ValidationError) -> str:
    lines = [f"invalid {kind} {source}:"]
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"]) or "<top level>"
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "literal_error":
            expected = [s.strip().strip("'") for s in
                        err.get("ctx", {}).get("expected", "").replace(" or ", ",").split(",")]
            close = difflib.get_close_matches(str(err["input"]), expected, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            msg = f"bad value {err['input']!r}.{hint} Valid choices: {', '.join(expected)}."
        elif err["type"] == "missing":
            msg = "required key is missing"
        lines.append(f"  - {loc}: {msg}")
    return "\n".join(lines)


def _read_yaml(path: Path, kind: str) -> dict[str, Any]:
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise SpecError(f"{kind} file {path} is not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise SpecError(f"{kind} file {path} must hold a mapping, got {type(raw).__name__}")
    return raw


def _names(folder: Path) -> tuple[str, ...]:
    return tuple(sorted(p.stem for p in folder.glob("*.yaml")))


def analysis_names() -> tuple[str, ...]:
    """Return the names of the analysis specs in ``models/analyses``."""
    return _names(models_dir() / "analyses")


def prior_set_names() -> tuple[str, ...]:
    """Return the names of the participant-level prior sets in ``models/priors``.

    A prior set is a YAML file whose ``name`` equals its file stem; other files there (the
    summary-level prior grid ``summary_level.yaml``) belong to other modules and are skipped.
    """
    folder = models_dir() / "priors"
    out = []
    for stem in _names(folder):
        raw = yaml.safe_load((folder / f"{stem}.yaml").read_text(encoding="utf-8"))
        if isinstance(raw, dict) and raw.get("name") == stem:
            out.append(stem)
    return tuple(out)


def parse_analysis(raw: dict[str, Any], *, source: str = "<dict>") -> AnalysisSpec:
    """Validate a mapping as an analysis spec.

    Raises
    ------
    SpecError
        Naming every bad key or value with the valid choices.
    """
    try:
        return AnalysisSpec.model_validate(raw)
    except ValidationError as exc:
        raise SpecError(_format_errors("analysis spec", source, exc)) from None


def parse_prior_set(raw: dict[str, Any], *, source: str = "<dict>") -> PriorSet:
    """Validate a mapping as a prior set (see :func:`parse_analysis`)."""
    try:
        return PriorSet.model_validate(raw)
    except ValidationError as exc:
        raise SpecError(_format_errors("prior set", source, exc)) from None


def load_analysis(name: str) -> AnalysisSpec:
    """Load and validate ``models/analyses/<name>.yaml``.

    Raises
    ------
    SpecError
        If no such spec exists (listing the valid names) or it is invalid.
    """
    names = analysis_names()
    if name not in names:
        raise SpecError(unknown_choice_message("analysis", name, names))
    path = models_dir() / "analyses" / f"{name}.yaml"
    return parse_analysis(_read_yaml(path, "analysis spec"), source=str(path))


def load_prior_set(name: str) -> PriorSet:
    """Load and validate ``models/priors/<name>.yaml`` (see :func:`load_analysis`)."""
    names = prior_set_names()
    if name not in names:
        raise SpecError(unknown_choice_message("prior set", name, names))
    path = models_dir() / "priors" / f"{name}.yaml"
    return parse_prior_set(_read_yaml(path, "prior set"), source=str(path))


def priors_for(prior_set: PriorSet, parameters: tuple[str, ...], direction: int
               ) -> dict[str, dict[str, Any]]:
    """Return the resolved priors of ``parameters``; raise if the set lacks one.

    Parameters
    ----------
    prior_set : PriorSet
        The validated prior set.
    parameters : tuple of str
        Fixed terms and SD parameters the model needs.
    direction : int
        The outcome's direction (+1 higher is better, -1 lower is better).
    """
    missing = [p for p in parameters if p not in prior_set.priors]
    if missing:
        raise SpecError(
            f"prior set {prior_set.name!r} has no prior for {', '.join(missing)}; "
            f"it defines: {', '.join(prior_set.priors)}"
        )
    return {p: prior_set.priors[p].resolved(direction) for p in parameters}
