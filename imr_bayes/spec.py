"""Declarative model specifications and prior sets: typed, validated, hashed.

An analysis spec (``models/analyses/<name>.yaml``) says, as data, everything about one
analysis except the code of its model: the model family (``model:``, one kind per family:
``pn_lmm`` (the partially nested model), ``lmm`` (the SPSS-parity model), ``cace``,
``logistic``, ``hurdle``, ``pooling``, ``dropout``), the family's own
structure, the outcomes it applies to, its estimands (name, scale, times, direction of
benefit), its published counterpart (which printed table, term or statistic each estimand
is compared with), its priors, the sampler settings and the diagnostic thresholds. The
kinds form a pydantic discriminated union on ``model``; each kind has only its own fields.
New kinds are added with :func:`imr_bayes.registry.register_kind`.

A prior set (``models/priors/<name>.yaml``) gives the shared parameters a prior as data,
``{dist, kwargs}``, on the outcome's **standardized** scale (outcome minus the pooled
Table 1 baseline mean, divided by the pooled Table 1 baseline SD).

Everything is validated on load (unknown keys are rejected); every problem becomes an
:class:`imr_bayes.SpecError` that names the bad key or value, the valid choices and, where
one is close, a "did you mean" suggestion.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal, Union

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    model_validator,
)

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

#: Fixed-effect terms of the ITT model that a prior set gives priors for.
FIXED_TERMS: tuple[str, ...] = (
    "intercept", "time", "condition", "condition_x_time",
    "time_1", "time_2", "condition_x_time_1", "condition_x_time_2",
)
#: Standard-deviation parameters of the hierarchical models (``sigma_team``: the random
#: intercept of the randomization stratum, partially nested model only).
SD_PARAMETERS: tuple[str, ...] = ("sigma_participant", "sigma_group", "sigma_residual",
                                  "sigma_team")


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


# ----------------------------------------------------------------------------------- priors
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


# ------------------------------------------------------------------ shared spec sections
class SamplerSpec(_Strict):
    """Sampler settings (nutpie by default)."""

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


class PublishedRef(_Strict):
    """Where one estimand's printed counterpart is.

    ``table`` is a kind of published table of the spec's ``published.sample``:
    ``fixed_effects`` (Tables 2/6: ``term``), ``marginal_means`` (Tables 3/7: ``statistic``
    ``mean``, ``diff`` or ``d``, per time and, for ``mean``, arm), ``fidelity`` (Tables 4/5
    of the outcome: ``term``) or ``text`` (numbers in the running text: ``key``, with
    ``<key>_ci_low``, ``<key>_ci_high`` and ``<key_p>`` where printed).
    """

    table: Literal["fixed_effects", "marginal_means", "fidelity", "text"]
    term: str | None = None
    statistic: Literal["mean", "diff", "d"] | None = None
    key: str | None = None
    p_key: str | None = None

    @model_validator(mode="after")
    def _check(self) -> PublishedRef:
        need = {"fixed_effects": "term", "fidelity": "term", "marginal_means": "statistic",
                "text": "key"}[self.table]
        if getattr(self, need) is None:
            raise ValueError(f"published table {self.table!r} needs {need!r}")
        return self


class EstimandSpec(_Strict):
    """One estimand an analysis reports.

    Attributes
    ----------
    name : str
        The estimand's name in the estimates table (with ``analysis``, ``outcome`` and
        ``time`` the key every source shares).
    scale : str
        ``raw`` (outcome units), ``d`` (pooled Table 1 baseline SDs, the yardstick of the
        package's d, ``docs/indices.md``; a per-step slope on this scale is d / 2),
        ``paper_d`` (the paper's Cohen's d: over the pooled SD observed at that time, kept
        only as the counterpart of the printed Table 3/7 d), ``ratio``, ``log_odds``,
        ``probability``, ``days``, ``df``.
    times : tuple of int or None
        The time codes with a value (None: one value, no time).
    arms : bool
        One value per arm (e.g. arm x time means).
    benefit : {"outcome", "higher", "lower", "none"}
        Which direction is a benefit of IMR: the outcome's direction, always higher, always
        lower, or none (no P(benefit): a nuisance or descriptive quantity).
    baseline_benefit : bool
        False: the row at time 0 (baseline, before treatment) carries no P(benefit) even
        though the later rows do; a baseline difference between the arms is a balance check,
        not an effect. Only for estimands with time 0 among their ``times``.
    no_effect : float
        The value of no effect (0; 1 for ratios).
    treatment : bool
        A treatment effect: set beside its frequentist and published counterparts in the
        comparison table (baseline rows, t = 0, never are).
    d_horizon : int
        For an effect on the outcome's scale: steps from its unit to the 18-month contrast
        (2 for a per-step slope); its standardized size ``d = d_horizon * estimate / pooled
        baseline SD`` gives P(|d| > 0.2) and the ROPE.
    prior : str or None
        The model parameter whose prior (on the standardized scale) applies to
        ``estimate / pooled baseline SD`` (Savage-Dickey BF10).
    published : PublishedRef or None
        The printed counterpart.
    """

    name: str
    scale: Literal["raw", "d", "paper_d", "ratio", "log_odds", "probability", "days",
                   "df"] = "raw"
    times: tuple[int, ...] | None = None
    arms: bool = False
    benefit: Literal["outcome", "higher", "lower", "none"] = "outcome"
    baseline_benefit: bool = True
    no_effect: float = 0.0
    treatment: bool = False
    d_horizon: int = Field(1, ge=1)
    prior: str | None = None
    published: PublishedRef | None = None

    @model_validator(mode="after")
    def _check_baseline(self) -> EstimandSpec:
        if not self.baseline_benefit and 0 not in (self.times or ()):
            raise ValueError(f"estimand {self.name!r}: baseline_benefit: false needs time 0 "
                             "among its times")
        return self

    def sign(self, direction: int, time: int | None = None) -> int:
        """Return +1 if higher values benefit IMR, -1 if lower do, 0 if neither.

        0 also at ``time`` 0 when ``baseline_benefit`` is false (a balance check).
        """
        if time == 0 and not self.baseline_benefit:
            return 0
        return {"outcome": int(direction), "higher": 1, "lower": -1, "none": 0}[self.benefit]


class PublishedSpec(_Strict):
    """The published counterpart of an analysis: the printed sample its tables describe."""

    sample: Literal["itt", "completers", "fidelity", "hospitalization", "length_of_stay"]


#: Named outcome sets of a spec's ``outcomes`` and ``main_run`` fields.
OUTCOME_SETS: tuple[str, ...] = ("all", "primary", "fidelity", "response")
OutcomeSet = Literal["all", "primary", "fidelity", "response"] | tuple[str, ...]


class SpecBase(_Strict):
    """Fields every analysis kind has.

    Attributes
    ----------
    name, description : str
    model : str
        The kind (the discriminator of the union).
    label : str
        A label every estimate of the analysis carries (e.g. ``NON-RANDOMIZED: ...``).
    outcomes : {"all", "fidelity", "response"} or tuple of str
        The outcomes the analysis applies to: every trial outcome, those with a published
        fidelity analysis, only the kind's own response (hospitalization, length of stay),
        or a list of codes.
    main_run : {"all", "primary", "fidelity"} or tuple of str
        Which of the selected outcomes the main run (``imr-bayes reanalyze``) fits.
    order : int
        Position in the run and in the report (ties by name).
    estimands : tuple of EstimandSpec
    published : PublishedSpec or None
    prior_set : str
        The prior set of the shared parameters (``models/priors``).
    priors : dict of str to PriorSpec
        Priors of the kind's own parameters; the names the kind needs are
        :attr:`prior_names` (every one must be given, no other).
    sampler : SamplerSpec
    diagnostics : DiagnosticsSpec
    """

    #: Names of the kind's own priors (``priors:``); empty for kinds without.
    prior_names: ClassVar[tuple[str, ...]] = ()
    #: Override names ``fit(**overrides)`` maps into nested sections of this kind.
    nested_overrides: ClassVar[dict[str, str]] = {
        k: "sampler" for k in SamplerSpec.model_fields}

    name: str
    description: str
    model: str
    label: str = ""
    outcomes: OutcomeSet = "all"
    main_run: OutcomeSet = "all"
    order: int = 100
    estimands: tuple[EstimandSpec, ...]
    published: PublishedSpec | None = None
    prior_set: str = "default"
    priors: dict[str, PriorSpec] = Field(default_factory=dict)
    sampler: SamplerSpec = SamplerSpec()
    diagnostics: DiagnosticsSpec = DiagnosticsSpec()

    @model_validator(mode="after")
    def _check_base(self) -> SpecBase:
        from imr_bayes.outcomes import CODES

        for field in ("outcomes", "main_run"):
            value = getattr(self, field)
            if isinstance(value, tuple):
                for code in value:
                    if code not in CODES:
                        raise ValueError(unknown_choice_message(f"outcome in {field}", code,
                                                                CODES))
        names = [e.name for e in self.estimands]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"estimand(s) declared twice: {', '.join(dup)}")
        for e in self.estimands:
            if e.published is not None and self.published is None:
                raise ValueError(f"estimand {e.name!r} has a published counterpart but the "
                                 "spec has no 'published' section")
        given, needed = set(self.priors), set(self.prior_names)
        for key in sorted(given - needed):
            raise ValueError(unknown_choice_message(f"{self.model} prior", key,
                                                    self.prior_names or ("(none)",)))
        if needed - given:
            raise ValueError(f"priors: model {self.model!r} needs a prior for "
                             f"{', '.join(sorted(needed - given))}")
        return self

    @property
    def sha256(self) -> str:
        """SHA-256 of the validated spec (canonical JSON)."""
        return spec_sha256(self.model_dump(mode="json"))

    def columns(self, outcome: str) -> tuple[str, ...]:
        """Contract columns this analysis reads for ``outcome``."""
        return ("participant_id", "arm", "time", outcome)

    def estimand(self, name: str) -> EstimandSpec:
        """Return the declared estimand ``name`` (raise with the valid names)."""
        for e in self.estimands:
            if e.name == name:
                return e
        raise SpecError(unknown_choice_message(f"estimand of {self.name!r}", name,
                                               [e.name for e in self.estimands]))

    def resolved_priors(self) -> dict[str, dict[str, Any]]:
        """Return the kind's own priors as ``{name: {dist, kwargs}}`` (not oriented)."""
        return {k: p.resolved(1) for k, p in self.priors.items()}

    def with_overrides(self, **overrides: Any) -> SpecBase:
        """Return a new, re-validated spec with some fields replaced.

        A name is a field of this kind (``residual_sd_by_arm``), of one of its nested
        sections listed in :attr:`nested_overrides` (``draws`` -> ``sampler.draws``,
        ``imr_group`` -> ``random.imr_group``), or a whole section given as a mapping.

        Raises
        ------
        SpecError
            Naming an unknown override with the valid names, or an invalid value.
        """
        valid = tuple(dict.fromkeys(
            [n for n in type(self).model_fields if n not in ("name", "model")]
            + list(self.nested_overrides)))
        update: dict[str, Any] = {}
        nested: dict[str, dict[str, Any]] = {}
        for key, value in overrides.items():
            if key in self.nested_overrides:
                nested.setdefault(self.nested_overrides[key], {})[key] = value
            elif key in valid:
                update[key] = value
            else:
                raise SpecError(unknown_choice_message(f"override of analysis {self.name!r}",
                                                       key, valid))
        raw = self.model_dump(mode="python")
        for section, values in nested.items():
            raw[section] = {**raw[section], **values}
        raw.update(update)
        return parse_analysis(raw, source=f"{self.name} with overrides "
                                          f"{', '.join(sorted(overrides))}")


# ------------------------------------------------------------------------------ the kinds
class RandomSpec(_Strict):
    """Random effects: participant intercept and the IMR-group effect (treated, post-baseline)."""

    participant: bool = True
    imr_group: bool = True


class _LmmFamily(SpecBase):
    """Fields the two linear mixed model kinds share (``lmm`` and ``pn_lmm``).

    ``engine``: ``marginal`` integrates the participant intercept out (fast path), ``full``
    samples it (a cross-check). ``sample``: all randomized (``itt``), IMR completers + all
    controls (``completers``), or controls + IMR participants with enough sessions in a
    scored group (``fidelity``). ``time``: linear (0, 1, 2) or categorical. ``design``: the
    fixed effects — ``standard`` (intercept, time, condition, condition x time),
    ``fidelity_subgroups`` (high and moderate subgroups x categorical time),
    ``fidelity_slope`` (the group effect's mean depends on the group's fidelity),
    ``attendance`` (sessions attended moderate the effect; non-randomized).
    """

    engine: Literal["marginal", "full"] = "marginal"
    sample: Literal["itt", "completers", "fidelity"] = "itt"
    time: Literal["linear", "categorical"] = "linear"
    design: Literal["standard", "fidelity_subgroups", "fidelity_slope", "attendance"] = \
        "standard"

    @property
    def has_group_effect(self) -> bool:
        """Whether the model has an IMR-group effect."""
        raise NotImplementedError

    @property
    def has_participant_intercept(self) -> bool:
        """Whether the model has the random participant intercept."""
        raise NotImplementedError

    @property
    def prior_names(self) -> tuple[str, ...]:  # type: ignore[override]
        """The design's own priors."""
        return {"standard": (), "fidelity_subgroups": (), "fidelity_slope": ("fidelity_slope",),
                "attendance": ("condition_x_sessions", "attendance_slope")}[self.design]

    @model_validator(mode="after")
    def _check_design(self) -> _LmmFamily:
        if self.design in ("fidelity_subgroups",) and self.time != "categorical":
            raise ValueError("design fidelity_subgroups uses categorical time (time: "
                             "categorical)")
        if self.design in ("fidelity_slope", "attendance") and self.time != "linear":
            raise ValueError(f"design {self.design} uses linear time (time: linear)")
        if self.design == "fidelity_slope" and not self.has_group_effect:
            raise ValueError("design fidelity_slope needs the IMR-group effect")
        if (self.design == "fidelity_subgroups") != (self.sample == "fidelity"):
            raise ValueError("design fidelity_subgroups goes with sample fidelity, and only it")
        return self

    @property
    def terms(self) -> tuple[str, ...]:
        """Fixed terms of the standard ITT design for the time coding."""
        return required_terms(self.time)

    def columns(self, outcome: str) -> tuple[str, ...]:
        """Contract columns this analysis reads for ``outcome``."""
        extra = {"itt": (), "completers": ("completer",),
                 "fidelity": ("sessions_attended", "fidelity")}[self.sample]
        extra += {"standard": (), "fidelity_subgroups": (), "fidelity_slope": ("fidelity",),
                  "attendance": ("sessions_attended",)}[self.design]
        return (*super().columns(outcome), "imr_group", *dict.fromkeys(extra))


class LmmSpec(_LmmFamily):
    """The SPSS-parity linear mixed model of one outcome (the paper's model + IMR groups).

    The paper's random-intercept LMM with the IMR-group effect as a shift of treated
    participants after baseline (``random.imr_group``); one residual SD, or one per arm at
    every time (``residual_sd_by_arm``). The ``itt_parity`` rung and the per-protocol and
    fidelity counterparts of the printed tables (``docs/models.md``).
    """

    nested_overrides: ClassVar[dict[str, str]] = {
        **SpecBase.nested_overrides, "participant": "random", "imr_group": "random"}
    model: Literal["lmm"]
    random: RandomSpec = RandomSpec()
    residual_sd_by_arm: bool = False

    @property
    def has_group_effect(self) -> bool:
        """Whether the model has an IMR-group effect."""
        return self.random.imr_group

    @property
    def has_participant_intercept(self) -> bool:
        """Whether the model has the random participant intercept."""
        return self.random.participant


class PnLmmSpec(_LmmFamily):
    """The partially nested linear mixed model (``docs/models.md``, "The partially nested model").

    Participant intercept (always), IMR-group effect of treated participants after baseline
    with loading ``group_effect`` (``slope``: ``t`` on the time code, a deviation of the
    group's treated slope; ``shift``: ``[t > 0]``; ``both``: two independent effects;
    ``none``), singleton clusters for treated participants without a group label
    (``singletons``; no effect without a group effect), the residual SD
    (``by_arm_after_baseline``: one SD at baseline for both arms, one per arm at the
    follow-ups; ``shared``) and the randomization stratum (``team``: a random team
    intercept, or ``none``).
    """

    model: Literal["pn_lmm"]
    group_effect: Literal["slope", "shift", "both", "none"] = "slope"
    singletons: bool = True
    residual_sd: Literal["by_arm_after_baseline", "shared"] = "by_arm_after_baseline"
    team: Literal["random", "none"] = "random"

    @property
    def has_group_effect(self) -> bool:
        """Whether the model has an IMR-group effect."""
        return self.group_effect != "none"

    @property
    def has_participant_intercept(self) -> bool:
        """Always: the participant intercept is part of the partially nested model."""
        return True

    def columns(self, outcome: str) -> tuple[str, ...]:
        """Contract columns this analysis reads for ``outcome`` (``team`` when adjusted)."""
        return (*super().columns(outcome), *(("team",) if self.team == "random" else ()))


class CaceSpec(SpecBase):
    """Complier average causal effect (principal stratification, one-sided noncompliance).

    Attributes
    ----------
    covariates : tuple of str or None
        Baseline characteristics of the compliance model (None: the trial facts').
    never_taker_effect_ratio : float
        rho in [0, 1]: the effect of assignment among never-takers per time step is
        ``rho * tau`` (tau the compliers' effect). 0 is the exclusion restriction; the
        sensitivity analysis varies it (``docs/completion_fidelity.md``).
    scale_effect_priors : bool
        Divide the prior-set priors of the assignment effects in the complier stratum
        (``cace_condition``, ``cace_condition_x_time``) by the observed complier share
        (``pi_hat``; for the slope ``pi_hat + (1 - pi_hat) rho``), so that the prior they
        imply for the arm-level (ITT) effect is the prior set's ITT prior. False reuses
        the ITT priors unscaled (the model before the sensitivity analysis).
    """

    prior_names: ClassVar[tuple[str, ...]] = ("compliance_intercept", "compliance_coef")
    nested_overrides: ClassVar[dict[str, str]] = {
        **SpecBase.nested_overrides, "imr_group": "random"}
    model: Literal["cace"]
    random: RandomSpec = RandomSpec()
    covariates: tuple[str, ...] | None = None
    never_taker_effect_ratio: float = Field(0.0, ge=0.0, le=1.0)
    scale_effect_priors: bool = True

    @model_validator(mode="after")
    def _check_cace(self) -> CaceSpec:
        if not self.random.participant:
            raise ValueError("the cace model always has the participant intercept "
                             "(random.participant: true)")
        if self.covariates is not None:
            from imr_bayes.trial import facts

            valid = facts().covariates.baseline_model
            for c in self.covariates:
                if c not in valid:
                    raise ValueError(unknown_choice_message("compliance covariate", c, valid))
        return self

    def columns(self, outcome: str) -> tuple[str, ...]:
        """Contract columns this analysis reads for ``outcome``."""
        return (*super().columns(outcome), "imr_group", "completer",
                *self.compliance_covariates())

    def compliance_covariates(self) -> tuple[str, ...]:
        """Return the compliance model's baseline characteristics (default: the trial facts')."""
        if self.covariates is not None:
            return self.covariates
        from imr_bayes.trial import facts

        return facts().covariates.baseline_model


class LogisticSpec(SpecBase):
    """Logistic regression of a participant-level 0/1 response on the arm (+ adjustment)."""

    prior_names: ClassVar[tuple[str, ...]] = (
        "intercept", "log_odds_ratio", "log_odds_ratio_adjustment")
    model: Literal["logistic"]
    response: str
    adjust_for: str

    def columns(self, outcome: str) -> tuple[str, ...]:
        """Contract columns this analysis reads (the outcome is its response)."""
        return ("participant_id", "arm", "time", self.adjust_for, self.response)


class HurdleSpec(SpecBase):
    """Hurdle log-normal model of participant-level days, adjusted for their baseline.

    ``response`` (e.g. ``los_after``) on the arm, the ``baseline`` days (``los_before``)
    and the baseline characteristics ``covariates``; means per arm by g-computation.
    """

    prior_names: ClassVar[tuple[str, ...]] = (
        "any_stay_intercept", "any_stay_imr", "any_stay_coef", "days_intercept", "days_imr",
        "days_coef", "days_sigma")
    model: Literal["hurdle"]
    response: str
    baseline: str
    covariates: tuple[str, ...] = ()

    @model_validator(mode="after")
    def _check_hurdle(self) -> HurdleSpec:
        from imr_bayes.trial import facts

        coding = facts().covariates
        valid = (*coding.numeric, *coding.categorical, *coding.indicators)
        for c in self.covariates:
            if c not in valid:
                raise ValueError(unknown_choice_message("covariate", c, valid))
        return self

    def columns(self, outcome: str) -> tuple[str, ...]:
        """Contract columns this analysis reads (the response, its baseline, covariates)."""
        return ("participant_id", "arm", "time", self.baseline, self.response,
                *self.covariates)


class PoolingSpec(SpecBase):
    """Partial pooling of standardized effects across outcomes (normal hierarchical model)."""

    prior_names: ClassVar[tuple[str, ...]] = ("mu", "tau")
    model: Literal["pooling"]


class DropoutSpec(SpecBase):
    """Shared-parameter informative-dropout model beside an LMM of the same outcome."""

    prior_names: ClassVar[tuple[str, ...]] = ("alpha", "gamma")
    model: Literal["dropout"]
    base: str = "itt"


#: The built-in kinds (``model:`` value -> spec class); see :mod:`imr_bayes.registry`.
#: The linear mixed model kinds (one participant x time panel, Gaussian, the ITT builders):
#: what posterior predictive replication, the delta adjustment and LOO refits can read.
LMM_KINDS: tuple[str, ...] = ("lmm", "pn_lmm")

BUILTIN_KINDS: dict[str, type[SpecBase]] = {
    "lmm": LmmSpec, "pn_lmm": PnLmmSpec, "cace": CaceSpec, "logistic": LogisticSpec,
    "hurdle": HurdleSpec, "pooling": PoolingSpec, "dropout": DropoutSpec,
}


def required_terms(time: str) -> tuple[str, ...]:
    """Return the fixed terms of the ITT model for a time coding."""
    if time == "linear":
        return ("intercept", "time", "condition", "condition_x_time")
    return ("intercept", "time_1", "time_2", "condition",
            "condition_x_time_1", "condition_x_time_2")


# --------------------------------------------------------------------------- parsing
def _kinds() -> dict[str, type[SpecBase]]:
    from imr_bayes.registry import kind_specs

    return kind_specs()


def _adapter(kinds: tuple[type[SpecBase], ...]) -> TypeAdapter:
    """Return a TypeAdapter of the discriminated union of ``kinds`` (tag: ``model``)."""
    if len(kinds) == 1:
        return TypeAdapter(kinds[0])
    return TypeAdapter(Annotated[Union[kinds], Field(discriminator="model")])  # noqa: UP007


_ADAPTERS: dict[tuple[type[SpecBase], ...], TypeAdapter] = {}


def _format_errors(kind: str, source: str, exc: ValidationError, tags: tuple[str, ...]) -> str:
    lines = [f"invalid {kind} {source}:"]
    for err in exc.errors():
        loc_parts = [str(p) for p in err["loc"]]
        if loc_parts and loc_parts[0] in tags:  # the union's tag is not a key the user wrote
            loc_parts = loc_parts[1:]
        loc = ".".join(loc_parts) or "<top level>"
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "literal_error":
            expected = [s.strip().strip("'") for s in
                        err.get("ctx", {}).get("expected", "").replace(" or ", ",").split(",")]
            close = difflib.get_close_matches(str(err["input"]), expected, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            msg = f"bad value {err['input']!r}.{hint} Valid choices: {', '.join(expected)}."
        elif err["type"] in ("union_tag_invalid", "union_tag_not_found"):
            given = err.get("ctx", {}).get("tag")
            loc = "model"
            msg = (unknown_choice_message("model kind", given, tags) if given is not None
                   else f"required key is missing. Valid choices: {', '.join(tags)}.")
        elif err["type"] == "missing":
            msg = "required key is missing"
        lines.append(f"  - {loc}: {msg}")
    return "\n".join(lines)


def parse_analysis(raw: Mapping[str, Any], *, source: str = "<dict>") -> SpecBase:
    """Validate a mapping as an analysis spec of any registered kind.

    Raises
    ------
    SpecError
        Naming every bad key or value with the valid choices.
    """
    kinds = _kinds()
    classes = tuple(kinds.values())
    if classes not in _ADAPTERS:
        _ADAPTERS[classes] = _adapter(classes)
    if not isinstance(raw, Mapping):
        raise SpecError(f"invalid analysis spec {source}: expected a mapping, got "
                        f"{type(raw).__name__}")
    try:
        return _ADAPTERS[classes].validate_python(dict(raw))
    except ValidationError as exc:
        raise SpecError(_format_errors("analysis spec", source, exc, tuple(kinds))) from None


def parse_prior_set(raw: dict[str, Any], *, source: str = "<dict>") -> PriorSet:
    """Validate a mapping as a prior set (see :func:`parse_analysis`)."""
    try:
        return PriorSet.model_validate(raw)
    except ValidationError as exc:
        raise SpecError(_format_errors("prior set", source, exc, ())) from None


def read_yaml(path: Path, kind: str) -> dict[str, Any]:
    """Read a YAML mapping or raise a :class:`SpecError` naming the file."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise SpecError(f"{kind} file {path} is not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise SpecError(f"{kind} file {path} must hold a mapping, got {type(raw).__name__}")
    return raw


def _names(folder: Path) -> tuple[str, ...]:
    return tuple(sorted(p.stem for p in folder.glob("*.yaml")))


#: Folders of ``models/`` that hold specs: per-outcome analyses (``imr_bayes.fit``) and
#: methods that work on other inputs (partial pooling of effects, the dropout model).
SPEC_FOLDERS: tuple[str, ...] = ("analyses", "methods")


def analysis_names() -> tuple[str, ...]:
    """Return the names of the analysis specs in ``models/analyses``, in their ``order``."""
    folder = models_dir() / "analyses"
    ranks = {}
    for stem in _names(folder):
        raw = yaml.safe_load((folder / f"{stem}.yaml").read_text(encoding="utf-8"))
        order = raw.get("order", 100) if isinstance(raw, dict) else 100
        ranks[stem] = order if isinstance(order, int) else 100
    return tuple(sorted(ranks, key=lambda n: (ranks[n], n)))


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


def load_spec(name: str, *, folder: str = "analyses") -> SpecBase:
    """Load and validate ``models/<folder>/<name>.yaml``.

    Raises
    ------
    SpecError
        If no such spec exists (listing the valid names), its ``name`` differs from the
        file name, or it is invalid.
    """
    if folder not in SPEC_FOLDERS:
        raise SpecError(unknown_choice_message("spec folder", folder, SPEC_FOLDERS))
    names = _names(models_dir() / folder)
    if name not in names:
        what = "analysis" if folder == "analyses" else "method"
        raise SpecError(unknown_choice_message(what, name, names))
    path = models_dir() / folder / f"{name}.yaml"
    spec = parse_analysis(read_yaml(path, "analysis spec"), source=str(path))
    if spec.name != name:
        raise SpecError(f"invalid analysis spec {path}: name {spec.name!r} differs from the "
                        f"file name {name!r}")
    return spec


def load_analysis(name: str) -> SpecBase:
    """Load and validate ``models/analyses/<name>.yaml`` (see :func:`load_spec`)."""
    return load_spec(name, folder="analyses")


def load_prior_set(name: str) -> PriorSet:
    """Load and validate ``models/priors/<name>.yaml`` (see :func:`load_analysis`)."""
    names = prior_set_names()
    if name not in names:
        raise SpecError(unknown_choice_message("prior set", name, names))
    path = models_dir() / "priors" / f"{name}.yaml"
    return parse_prior_set(read_yaml(path, "prior set"), source=str(path))


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
