"""The main run: every analysis on one data set, computed into one :class:`Reanalysis`.

The run is a registry of *stages* (:data:`STAGES`). A stage computes one typed result (the
frequentist replication, the Bayesian fits, the posterior predictive checks, the comparison
table, ...) from the run's context and the stages before it; a stage that raises is marked
``failed`` with its one-line error and the run goes on. The result object is what the HTML
report (:mod:`imr_bayes.report`), ``imr-bayes compare`` and the Python API all read: no
report module fits, refits or samples.

The pipeline never prints. Progress goes to an optional callback that the command line
turns into progress bars.
"""

from __future__ import annotations

import importlib
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import pandas as pd

from imr_bayes import outcomes as outcome_registry
from imr_bayes.constants import DEFAULT_SEED
from imr_bayes.errors import ImrBayesError

if TYPE_CHECKING:
    from imr_bayes.data import ImportSpec

Status = Literal["ok", "warning", "failed", "unavailable"]

#: Sampler settings of a full run and of ``--quick`` (chains x draws after tune).
FULL_SAMPLING: dict[str, int] = {"chains": 4, "draws": 1000, "tune": 1000}
QUICK_SAMPLING: dict[str, int] = {"chains": 2, "draws": 200, "tune": 200}


@dataclass(frozen=True)
class ProgressEvent:
    """One progress notice from the pipeline to its caller.

    Attributes
    ----------
    kind : {"plan", "start", "advance", "finish"}
        ``plan`` announces ``total`` units of a ``scope``; ``start`` names the unit being
        worked on; ``advance`` marks one unit done; ``finish`` closes the scope.
    scope : {"overall", "models"}
        ``overall`` counts stages; ``models`` counts the model fits of one stage.
    label : str
        What is being worked on (a stage title or ``analysis/outcome``).
    total : int
        Number of units (``plan`` only; 0 otherwise).
    """

    kind: Literal["plan", "start", "advance", "finish"]
    scope: Literal["overall", "models"]
    label: str = ""
    total: int = 0


ProgressCallback = Callable[[ProgressEvent], None]


@dataclass(frozen=True)
class RunSettings:
    """What the user asked for.

    Attributes
    ----------
    data_path : Path or None
        Participant data file (through ``imr_bayes.data.load``); None uses the default twin.
    column_map : mapping, ImportSpec, path-like or None
        How the file comes into the contract, as ``imr_bayes.data.load``'s ``column_map``:
        renames (file column -> contract column), or an :class:`imr_bayes.data.ImportSpec`
        (or its YAML file) with every import option (layout, time and arm codes,
        missing-value codes, ...). Only the columns the requested analyses need are
        required (:func:`imr_bayes.data.required_columns`).
    quick : bool
        Use :data:`QUICK_SAMPLING` instead of :data:`FULL_SAMPLING`.
    outcomes : tuple of str
        Outcome codes to fit (validated against :data:`imr_bayes.outcomes.CODES`).
    analyses : tuple of str or None
        Bayesian analyses to fit; None means every analysis of ``models/analyses``.
    seed : int
        Seed of every fit.
    draws, tune, chains : int or None
        Override the sampler settings of ``quick`` / full.
    study_label : str or None
        Name of the user's study in the report's title; None: the data file's stem. Needs
        ``data_path`` (the twin's report is titled after the IMR trial).
    """

    data_path: Path | None = None
    column_map: Mapping[str, str] | ImportSpec | str | os.PathLike[str] | None = None
    quick: bool = False
    outcomes: tuple[str, ...] = outcome_registry.CODES
    analyses: tuple[str, ...] | None = None
    seed: int = DEFAULT_SEED
    draws: int | None = None
    tune: int | None = None
    chains: int | None = None
    study_label: str | None = None

    @property
    def sampling(self) -> dict[str, int]:
        """Chains, draws and tune for this run."""
        out = dict(QUICK_SAMPLING if self.quick else FULL_SAMPLING)
        out.update({k: v for k, v in (("draws", self.draws), ("tune", self.tune),
                                      ("chains", self.chains)) if v is not None})
        return out

    @property
    def data_source(self) -> str:
        """``"twin"`` for the default synthetic twin, else ``"user"``."""
        return "twin" if self.data_path is None else "user"

    @property
    def study(self) -> str:
        """The study the run's data belong to: ``"IMR trial"`` for the twin, else the label."""
        if self.data_path is None:
            return "IMR trial"
        return self.study_label or Path(self.data_path).stem


@dataclass(frozen=True)
class StageResult:
    """What one stage produced.

    Attributes
    ----------
    status : {"ok", "warning", "failed", "unavailable"}
        ``warning`` marks results a reader must not take at face value (e.g. a fit that
        failed its diagnostics); ``failed`` means the stage raised; ``unavailable`` means it
        had nothing to work on.
    message : str
        One line explaining a status other than ``ok``.
    value : object
        The stage's typed result (None when failed or unavailable).
    seconds : float
        Wall time of the stage.
    """

    status: Status = "ok"
    message: str = ""
    value: Any = None
    seconds: float = 0.0


@dataclass(frozen=True)
class FitRecord:
    """One planned fit of the run: the fit, or the error that stopped it."""

    analysis: str
    outcome: str
    fit: Any = None
    error: str = ""
    seconds: float = 0.0


@dataclass(frozen=True)
class Fits:
    """The Bayesian fits of the run, in plan order."""

    records: tuple[FitRecord, ...]

    @property
    def fits(self) -> dict[tuple[str, str], Any]:
        """``(analysis, outcome) -> BayesianFit`` of every fit that ran."""
        return {(r.analysis, r.outcome): r.fit for r in self.records if r.fit is not None}

    def diagnostics(self) -> pd.DataFrame:
        """One row per planned fit: status, worst R-hat and ESS, divergences, E-BFMI, time."""
        rows = []
        for r in self.records:
            if r.fit is None:
                rows.append({"analysis": r.analysis, "outcome": r.outcome,
                             "status": f"ERROR: {r.error}", "seconds": round(r.seconds, 1)})
                continue
            d = r.fit.diagnostics
            s = d.summary()
            rows.append({
                "analysis": r.analysis, "outcome": r.outcome,
                "status": "passed" if d.passed else "FAILED diagnostics",
                "r_hat_max": s["max_r_hat"], "ess_bulk_min": s["min_ess_bulk"],
                "ess_tail_min": s["min_ess_tail"], "divergences": s["divergences"],
                "bfmi_min": s["min_bfmi"], "problems": "; ".join(d.problems),
                "seconds": round(r.seconds, 1),
                "spec_sha256": str(r.fit.idata.attrs.get("spec_hash", ""))[:16]})
        return pd.DataFrame(rows)


@dataclass(frozen=True)
class PriorSensitivity:
    """The primary outcome's headline effect refitted under every prior set."""

    analysis: str
    outcome: str
    table: pd.DataFrame


@dataclass(frozen=True)
class Ppc:
    """Posterior predictive checks of every fit with a published counterpart.

    ``predictive`` holds, for the primary outcome's fits, replicated data (DataTree) for the
    density figures. ``structure_checks`` are the statistics the model is not fitted to,
    ``selection_checks`` Table 2/6's B with the AIC step repeated per replicate, and
    ``loo_pit`` the primary outcome's ``y_cell`` groups (``imr_bayes.ppc.loo_pit_tree``).
    """

    published_checks: pd.DataFrame
    data_checks: pd.DataFrame
    predictive: dict[tuple[str, str], Any] = field(default_factory=dict)
    structure_checks: pd.DataFrame = field(default_factory=pd.DataFrame)
    selection_checks: pd.DataFrame = field(default_factory=pd.DataFrame)
    loo_pit: dict[tuple[str, str], Any] = field(default_factory=dict)


@dataclass(frozen=True)
class MissingData:
    """Delta adjustment of every ITT fit and the tipping points."""

    delta: pd.DataFrame
    tipping: pd.DataFrame


@dataclass(frozen=True)
class Frequentist:
    """The frequentist replication and its comparison with the printed numbers."""

    results: Any
    versus: pd.DataFrame


@dataclass(frozen=True)
class Multiplicity:
    """Partial pooling of the published effects across outcomes, beside BH."""

    pooled: dict[str, Any]
    versus_bh: dict[str, pd.DataFrame]


@dataclass
class RunContext:
    """State of one run while its stages compute (data loaded once)."""

    settings: RunSettings
    progress: ProgressCallback
    results: dict[str, StageResult] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)
    _data: pd.DataFrame | None = None

    @property
    def data(self) -> pd.DataFrame:
        """The validated participant data (the default twin unless ``--data`` was given)."""
        if self._data is None:
            from imr_bayes import data as data_mod
            from imr_bayes import registry

            settings = self.settings
            if settings.data_path is None:
                self._data = data_mod.default_twin()
            else:
                analyses = (settings.analyses if settings.analyses is not None
                            else registry.names())
                self._data = data_mod.load(
                    settings.data_path, column_map=settings.column_map,
                    required=data_mod.required_columns(analyses, settings.outcomes))
        return self._data

    def value(self, key: str) -> Any:
        """Return the value of an earlier stage (None if it did not produce one)."""
        res = self.results.get(key)
        return None if res is None else res.value


@dataclass(frozen=True)
class Stage:
    """One entry of the stage registry.

    Attributes
    ----------
    key : str
        Identifier (also of the report section that renders it).
    title : str
        What it does, for progress bars.
    compute : str
        ``"module:function"`` of ``(context) -> StageResult``, imported lazily.
    needs : tuple of str
        Stages whose values it reads (run first when a subset is requested).
    """

    key: str
    title: str
    compute: str
    needs: tuple[str, ...] = ()


#: The run's stages, in the order they run.
STAGES: tuple[Stage, ...] = (
    Stage("data", "Data summary", "imr_bayes.stages:data_summary"),
    Stage("audit", "Audit of the published tables", "imr_bayes.stages:audit"),
    Stage("summary_level", "Summary-level reanalysis", "imr_bayes.stages:summary_level"),
    Stage("verdict", "Verdict from the published numbers", "imr_bayes.stages:verdict",
          ("summary_level", "audit")),
    Stage("frequentist", "Frequentist replication", "imr_bayes.stages:frequentist"),
    Stage("fits", "Bayesian fits", "imr_bayes.stages:bayesian_fits"),
    Stage("prior_sensitivity", "Prior sensitivity", "imr_bayes.stages:prior_sensitivity",
          ("fits",)),
    Stage("ppc", "Posterior predictive checks", "imr_bayes.stages:ppc", ("fits",)),
    Stage("missing_data", "Missing-data sensitivity", "imr_bayes.stages:missing_data",
          ("fits",)),
    Stage("comparison", "Posterior vs frequentist vs published",
          "imr_bayes.stages:comparison", ("fits", "frequentist")),
    Stage("multiplicity", "Multiplicity by partial pooling", "imr_bayes.stages:multiplicity"),
    Stage("loo", "PSIS-LOO with and without condition x time", "imr_bayes.stages:loo",
          ("fits",)),
    Stage("power_scaling", "Power-scaling prior and likelihood sensitivity",
          "imr_bayes.stages:power_scaling", ("fits",)),
    Stage("prior_predictive", "Prior predictive checks", "imr_bayes.stages:prior_predictive",
          ("fits",)),
    Stage("cace_sensitivity", "CACE without the exclusion restriction",
          "imr_bayes.stages:cace_sensitivity"),
)


def stage_keys() -> tuple[str, ...]:
    """Keys of every stage, in run order."""
    return tuple(s.key for s in STAGES)


@dataclass(frozen=True)
class Reanalysis:
    """Everything one run computed; the report, ``imr-bayes compare`` and the API read it.

    Attributes
    ----------
    run_id : str
    settings : RunSettings
    started : str
        UTC start, ISO format.
    seconds : float
    stages : dict of str to StageResult
        By stage key, in run order; only the stages that ran.
    data_hash : str
        SHA-256 of the data the run used.
    """

    run_id: str
    settings: RunSettings
    started: str
    seconds: float
    stages: dict[str, StageResult]
    data_hash: str = ""

    def value(self, key: str) -> Any:
        """Return a stage's value, or None."""
        res = self.stages.get(key)
        return None if res is None else res.value

    @property
    def fits(self) -> dict[tuple[str, str], Any]:
        """``(analysis, outcome) -> BayesianFit`` of every fit that ran."""
        f = self.value("fits")
        return {} if f is None else f.fits

    @property
    def comparison(self) -> pd.DataFrame | None:
        """The posterior-vs-frequentist-vs-published table (:func:`imr_bayes.compare`)."""
        return self.value("comparison")

    @property
    def problems(self) -> list[str]:
        """One line per stage whose status is ``failed`` or ``warning``."""
        titles = {s.key: s.title for s in STAGES}
        return [f"{titles.get(k, k)}: {r.status}: {r.message}" for k, r in self.stages.items()
                if r.status in ("failed", "warning")]


def validate_settings(settings: RunSettings) -> None:
    """Check outcome and analysis filters before any work starts.

    Raises
    ------
    ImrBayesError
        Naming the unknown value and the valid choices, with a "did you mean".
    """
    from imr_bayes import registry

    if not settings.outcomes:
        raise ImrBayesError("no outcomes selected; choose at least one of: "
                            + ", ".join(outcome_registry.CODES))
    for code in settings.outcomes:
        outcome_registry.get(code)
    if settings.analyses is not None:
        valid = registry.names()
        if not settings.analyses:
            raise ImrBayesError("no analyses selected; choose at least one of: "
                                + ", ".join(valid))
        for name in settings.analyses:
            if name not in valid:
                raise ImrBayesError(
                    outcome_registry.unknown_choice_message("analysis", name, valid))
    for name in ("draws", "tune", "chains"):
        value = getattr(settings, name)
        if value is not None and (value < (0 if name == "tune" else 1)):
            raise ImrBayesError(f"{name} must be a positive integer; got {value}")
    if settings.data_path is not None and not Path(settings.data_path).is_file():
        raise ImrBayesError(f"data file not found: {settings.data_path}")
    if settings.column_map is not None and settings.data_path is None:
        raise ImrBayesError("a column map needs a data file (--data FILE)")
    if settings.study_label is not None and settings.data_path is None:
        raise ImrBayesError("a study label needs a data file (--data FILE); the synthetic "
                            "twin's report is titled after the IMR trial")
    if settings.study_label is not None and not settings.study_label.strip():
        raise ImrBayesError("the study label must not be empty")


def plan_fits(settings: RunSettings) -> list[tuple[str, str | None]]:
    """Return the (analysis, outcome) pairs the main run fits, in order.

    Each spec's ``main_run`` field says which of the selected outcomes it is fitted to
    (every one, the primary one, the fidelity outcomes, or its own response: outcome None).
    """
    from imr_bayes import registry
    from imr_bayes.bayes.api import applicable_outcomes

    specs = registry.analyses()
    names = settings.analyses if settings.analyses is not None else tuple(specs)
    selected = settings.outcomes
    jobs: list[tuple[str, str | None]] = []
    for name in names:
        spec = specs[name]
        if spec.main_run == "response":
            jobs.append((name, None))
            continue
        if spec.main_run == "primary":
            chosen: tuple[str, ...] = ((outcome_registry.PRIMARY,)
                                       if outcome_registry.PRIMARY in selected
                                       else selected[:1])
        else:
            wanted = applicable_outcomes(spec, "main_run")
            chosen = tuple(o for o in selected if o in wanted)
        jobs.extend((name, o) for o in chosen)
    return jobs


def make_run_id(settings: RunSettings, now: datetime | None = None) -> str:
    """Return a folder name for a run: UTC timestamp, data source, mode and seed."""
    now = now or datetime.now(UTC)
    source = "twin" if settings.data_path is None else Path(settings.data_path).stem
    mode = "quick" if settings.quick else "full"
    return f"{now:%Y%m%dT%H%M%SZ}-{source}-{mode}-s{settings.seed}"


def _resolve(target: str) -> Callable[[RunContext], StageResult]:
    module, attr = target.split(":")
    return getattr(importlib.import_module(module), attr)


def _with_needs(keys: tuple[str, ...]) -> tuple[str, ...]:
    by_key = {s.key: s for s in STAGES}
    unknown = [k for k in keys if k not in by_key]
    if unknown:
        raise ImrBayesError(outcome_registry.unknown_choice_message("stage", unknown[0],
                                                                     stage_keys()))
    wanted = set(keys)
    changed = True
    while changed:
        changed = False
        for k in list(wanted):
            for need in by_key[k].needs:
                if need not in wanted:
                    wanted.add(need)
                    changed = True
    return tuple(k for k in stage_keys() if k in wanted)


def run(settings: RunSettings, *, stages: tuple[str, ...] | None = None,
        progress: ProgressCallback | None = None, raise_errors: bool = False,
        data: pd.DataFrame | None = None, options: Mapping[str, Any] | None = None
        ) -> Reanalysis:
    """Run the stages and collect their results.

    Parameters
    ----------
    settings : RunSettings
        Data source, filters, sampler mode and seed.
    stages : tuple of str, optional
        Only these stages (and the stages they need); default all of :data:`STAGES`.
    progress : callable, optional
        Receives :class:`ProgressEvent` notices; the pipeline itself never prints.
    raise_errors : bool
        Re-raise a stage's exception instead of marking it ``failed`` (``--debug``).
    data : pandas.DataFrame, optional
        Data already loaded and validated (instead of ``settings.data_path`` / the twin).
    options : mapping, optional
        Stage options (e.g. ``{"pooling": False}`` for the comparison).

    Returns
    -------
    Reanalysis

    Raises
    ------
    ImrBayesError
        If the settings are invalid, or the user's data file breaks the data contract
        (``DataValidationError``), both checked before any work starts.
    """
    from imr_bayes.provenance import data_sha256

    validate_settings(settings)
    keys = _with_needs(tuple(stages)) if stages is not None else stage_keys()
    notify = progress or (lambda event: None)
    started = datetime.now(UTC)
    t0 = time.perf_counter()
    ctx = RunContext(settings=settings, progress=notify, options=dict(options or {}),
                     _data=data)
    ctx.data  # noqa: B018 - loaded and validated before any work
    chosen = [s for s in STAGES if s.key in keys]
    notify(ProgressEvent("plan", "overall", total=len(chosen)))
    for stage in chosen:
        notify(ProgressEvent("start", "overall", label=stage.title))
        t_stage = time.perf_counter()
        try:
            result = _resolve(stage.compute)(ctx)
        except (KeyboardInterrupt, SystemExit):
            raise
        except Exception as exc:  # noqa: BLE001 - marked in the report, never hidden
            if raise_errors:
                raise
            first = (str(exc).splitlines() or [""])[0]
            result = StageResult(status="failed", message=f"{type(exc).__name__}: {first}")
        ctx.results[stage.key] = StageResult(result.status, result.message, result.value,
                                             time.perf_counter() - t_stage)
        notify(ProgressEvent("advance", "overall", label=stage.title))
    notify(ProgressEvent("finish", "overall"))
    return Reanalysis(run_id=make_run_id(settings, started), settings=settings,
                      started=started.isoformat(timespec="seconds"),
                      seconds=time.perf_counter() - t0, stages=dict(ctx.results),
                      data_hash=data_sha256(ctx.data))
