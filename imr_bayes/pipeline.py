"""The main run: every available analysis on one data set, collected for the report.

The run is a registry of sections (:data:`SECTIONS`). Each section is a function
``(context) -> SectionResult`` that returns tables, figures and a status; new analyses plug
in with one entry. Sections that need a module this build does not have yet are reported as
"not available in this build" (the import guard lives in one place, :func:`_missing_module`);
a section that raises is marked ``failed`` with its one-line error and the run goes on.

The pipeline never prints. Progress goes to an optional callback that the command line
turns into progress bars.
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from imr_bayes import outcomes as outcome_registry
from imr_bayes.constants import DEFAULT_SEED
from imr_bayes.errors import ImrBayesError

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
        ``overall`` counts sections; ``models`` counts the model fits of one section.
    label : str
        What is being worked on (a section title or ``analysis/outcome``).
    total : int
        Number of units (``plan`` only; 0 otherwise).
    """

    kind: Literal["plan", "start", "advance", "finish"]
    scope: Literal["overall", "models"]
    label: str = ""
    total: int = 0


ProgressCallback = Callable[[ProgressEvent], None]


@dataclass(frozen=True)
class Figure:
    """A rendered figure: PNG bytes, the caption shown under it, and an optional group.

    Consecutive figures of one non-empty ``group`` are folded together in the page under the
    group's title (e.g. the diagnostic plots of one fit).
    """

    name: str
    caption: str
    png: bytes
    group: str = ""


@dataclass
class SectionResult:
    """What one section of the run produced.

    Attributes
    ----------
    status : {"ok", "warning", "failed", "unavailable"}
        ``warning`` marks results a reader must not take at face value (e.g. a fit that
        failed its diagnostics); ``failed`` means the section raised; ``unavailable`` means
        this build lacks the module it needs.
    message : str
        One line explaining a status other than ``ok`` (empty otherwise).
    tables : dict of str to DataFrame
        Tables shown in the report and written as CSV, keyed by a file-safe name.
    figures : list of Figure
        Figures shown in the report.
    text : list of str
        Short paragraphs shown above the tables.
    summary : dict
        Machine-readable key results copied into ``summary.json``.
    files : dict of str to callable
        Extra outputs: relative path -> function writing that file (e.g. netCDF posteriors).
    csv_only : tuple of str
        Names of ``tables`` written as CSV and linked from the page but not shown in it
        (e.g. the numbers behind a figure).
    seconds : float
        Wall time of the section (set by :func:`run`).
    """

    status: Status = "ok"
    message: str = ""
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    figures: list[Figure] = field(default_factory=list)
    text: list[str] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)
    files: dict[str, Callable[[Path], None]] = field(default_factory=dict)
    csv_only: tuple[str, ...] = ()
    seconds: float = 0.0


@dataclass(frozen=True)
class Section:
    """One entry of the section registry.

    Attributes
    ----------
    key : str
        Identifier used in ``--analyses``-independent places: anchors, file names, JSON.
    title : str
        Heading in the report.
    requires : tuple of str
        Modules (``"pkg.mod"``) or module attributes (``"pkg.mod:name"``) the section
        needs; if one is missing the section is ``unavailable``.
    run : callable
        ``run(context) -> SectionResult``; imported lazily as ``"module:function"``.
    """

    key: str
    title: str
    requires: tuple[str, ...]
    run: str


@dataclass(frozen=True)
class RunSettings:
    """What the user asked for.

    Attributes
    ----------
    data_path : Path or None
        Participant data file (through ``imr_bayes.data.load``); None uses the default twin.
    column_map : tuple of (str, str)
        Renames (file column, contract column) passed to ``imr_bayes.data.load``.
    quick : bool
        Use :data:`QUICK_SAMPLING` instead of :data:`FULL_SAMPLING`.
    outcomes : tuple of str
        Outcome codes to fit (validated against :data:`imr_bayes.outcomes.CODES`).
    analyses : tuple of str or None
        Bayesian analyses to fit; None means every registered analysis.
    seed : int
        Seed of every fit.
    """

    data_path: Path | None = None
    column_map: tuple[tuple[str, str], ...] = ()
    quick: bool = False
    outcomes: tuple[str, ...] = outcome_registry.CODES
    analyses: tuple[str, ...] | None = None
    seed: int = DEFAULT_SEED

    @property
    def sampling(self) -> dict[str, int]:
        """Chains, draws and tune for this run."""
        return dict(QUICK_SAMPLING if self.quick else FULL_SAMPLING)


@dataclass
class RunContext:
    """State shared by the sections of one run (data loaded once, fits kept for reuse)."""

    settings: RunSettings
    progress: ProgressCallback
    results: dict[str, SectionResult] = field(default_factory=dict)
    store: dict[str, Any] = field(default_factory=dict)

    @property
    def data(self) -> pd.DataFrame:
        """The validated participant data (the default twin unless ``--data`` was given)."""
        if "data" not in self.store:
            from imr_bayes import data as data_mod

            path = self.settings.data_path
            self.store["data"] = (
                data_mod.load(path, column_map=dict(self.settings.column_map) or None)
                if path else data_mod.default_twin()
            )
        return self.store["data"]


@dataclass
class RunResult:
    """Everything one run produced, ready for :func:`imr_bayes.report.write_report`."""

    run_id: str
    settings: RunSettings
    started: str
    seconds: float
    sections: list[tuple[Section, SectionResult]]

    @property
    def problems(self) -> list[str]:
        """One line per section whose status is ``failed`` or ``warning``."""
        return [
            f"{sec.title}: {res.status}: {res.message}"
            for sec, res in self.sections
            if res.status in ("failed", "warning")
        ]


#: The run's sections, in the order they run. The page shows Provenance first; it runs
#: late so that it can list the spec hashes of the fits. The BARG checklist runs last because
#: it reads the status of every other section.
SECTIONS: tuple[Section, ...] = (
    Section("data", "Data summary", ("imr_bayes.data",), "imr_bayes.report.sections:data_summary"),
    Section("published", "Published results", ("imr_bayes.published",),
            "imr_bayes.report.sections:published_tables"),
    Section("audit", "Audit of the published tables", ("imr_bayes.audit",),
            "imr_bayes.report.sections:audit"),
    Section("summary_level", "Summary-level reanalysis of the published numbers",
            ("imr_bayes.summary_level", "imr_bayes.published"),
            "imr_bayes.report.sections:summary_level"),
    Section("frequentist", "Frequentist replication",
            ("imr_bayes.frequentist:replicate", "imr_bayes.frequentist:versus_published",
             "imr_bayes.data"), "imr_bayes.report.sections:frequentist"),
    Section("fits", "Bayesian fits and diagnostics", ("imr_bayes.bayes.api", "imr_bayes.data"),
            "imr_bayes.report.sections:bayesian_fits"),
    Section("forest", "Posterior intervals beside the published CIs",
            ("imr_bayes.bayes.api", "imr_bayes.published"), "imr_bayes.report.sections:forest"),
    Section("sensitivity", "Prior sensitivity of the Bayesian fits",
            ("imr_bayes.bayes.api", "imr_bayes.spec", "imr_bayes.indices"),
            "imr_bayes.report.sections:prior_sensitivity"),
    Section("ppc", "Posterior predictive checks of the published statistics",
            ("imr_bayes.ppc:published_checks", "imr_bayes.ppc:data_checks",
             "imr_bayes.ppc:plot_data_checks", "imr_bayes.bayes.api"),
            "imr_bayes.report.sections:ppc"),
    Section("missing_data", "Missing-data sensitivity: delta adjustment and tipping points",
            ("imr_bayes.sensitivity:delta_adjust", "imr_bayes.bayes.api"),
            "imr_bayes.report.sections:missing_data"),
    Section("comparison", "Posterior versus frequentist versus published",
            ("imr_bayes.comparison:compare", "imr_bayes.bayes.api"),
            "imr_bayes.report.sections:comparison"),
    Section("multiplicity", "Multiplicity: partial pooling across outcomes versus BH",
            ("imr_bayes.multiplicity:partial_pooling", "imr_bayes.multiplicity:compare_with_bh",
             "imr_bayes.published"), "imr_bayes.report.sections:multiplicity"),
    Section("provenance", "Provenance", (), "imr_bayes.report.sections:provenance"),
    Section("barg", "Bayesian Analysis Reporting Guidelines (Kruschke 2021) checklist", (),
            "imr_bayes.report.sections:barg_checklist"),
)


def _missing_module(names: tuple[str, ...]) -> str | None:
    """Return the first of ``names`` this build does not have, or None.

    A name is a module (``"imr_bayes.ppc"``) or a module and one of its public names
    (``"imr_bayes.frequentist:replicate"``) for modules that grow function by function.

    This is the one import guard of the run. Only the absence of the module itself counts;
    a module that exists but fails to import is an error and propagates. A folder without
    ``__init__.py`` (a package another engineer has not written yet) counts as missing.
    """
    for requirement in names:
        name, _, attr = requirement.partition(":")
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name is not None and (name == exc.name or name.startswith(exc.name + ".")):
                return requirement
            raise
        if getattr(module, "__file__", None) is None:  # an empty folder: namespace package
            return requirement
        if attr and not hasattr(module, attr):
            return requirement
    return None


def section_keys() -> tuple[str, ...]:
    """Keys of every registered section, in report order."""
    return tuple(s.key for s in SECTIONS)


def validate_settings(settings: RunSettings) -> None:
    """Check outcome and analysis filters before any work starts.

    Raises
    ------
    ImrBayesError
        Naming the unknown value and the valid choices, with a "did you mean".
    """
    if not settings.outcomes:
        raise ImrBayesError("no outcomes selected; choose at least one of: "
                            + ", ".join(outcome_registry.CODES))
    for code in settings.outcomes:
        outcome_registry.get(code)
    if settings.analyses is not None:
        valid = available_analyses()
        if not settings.analyses:
            raise ImrBayesError("no analyses selected; choose at least one of: "
                                + ", ".join(valid))
        for name in settings.analyses:
            if name not in valid:
                raise ImrBayesError(
                    outcome_registry.unknown_choice_message("analysis", name, valid)
                )
    if settings.data_path is not None and not Path(settings.data_path).is_file():
        raise ImrBayesError(f"data file not found: {settings.data_path}")
    if settings.column_map and settings.data_path is None:
        raise ImrBayesError("a column map needs a data file (--data FILE)")


def available_analyses() -> tuple[str, ...]:
    """Names of the Bayesian analyses this build registers (empty if none yet)."""
    if _missing_module(("imr_bayes.bayes.analyses",)):
        return ()
    analyses = importlib.import_module("imr_bayes.bayes.analyses")
    return tuple(analyses.names())


#: Which outcomes each Bayesian analysis is fitted to in the main run. ``"selected"``: every
#: selected outcome (the counterparts of Tables 2, 3, 6, 7); a tuple: those of them that are
#: selected (fidelity: Tables 4 and 5 exist for these two outcomes only); ``"single"``: one
#: model that ignores the outcome (hospitalization, length of stay). Analyses not listed
#: (CACE, dose-response, and any added later) are fitted to the primary outcome only, which
#: keeps the full run within its time budget; ``imr_bayes.fit`` fits them to any outcome.
ANALYSIS_OUTCOMES: dict[str, str | tuple[str, ...]] = {
    "itt": "selected",
    "itt_categorical": "selected",
    "completers": "selected",
    "completers_categorical": "selected",
    "fidelity": ("imrs_client", "sers_sf"),
    "hospitalization": "single",
    "los": "single",
}


def plan_fits(settings: RunSettings) -> list[tuple[str, str]]:
    """Return the (analysis, outcome) pairs the main run fits, in order.

    Uses :data:`ANALYSIS_OUTCOMES`; a ``"single"`` analysis gets the primary outcome code as
    its (ignored) outcome argument.
    """
    analyses = settings.analyses if settings.analyses is not None else available_analyses()
    selected = settings.outcomes
    primary = (outcome_registry.PRIMARY if outcome_registry.PRIMARY in selected
               else selected[0])
    jobs: list[tuple[str, str]] = []
    for analysis in analyses:
        scope = ANALYSIS_OUTCOMES.get(analysis, (primary,))
        if scope == "selected":
            chosen: tuple[str, ...] = selected
        elif scope == "single":
            chosen = (outcome_registry.PRIMARY,)
        else:
            chosen = tuple(o for o in selected if o in scope)
        jobs.extend((analysis, o) for o in chosen)
    return jobs


def make_run_id(settings: RunSettings, now: datetime | None = None) -> str:
    """Return a folder name for a run: UTC timestamp, data source, mode and seed."""
    now = now or datetime.now(UTC)
    source = "twin" if settings.data_path is None else Path(settings.data_path).stem
    mode = "quick" if settings.quick else "full"
    return f"{now:%Y%m%dT%H%M%SZ}-{source}-{mode}-s{settings.seed}"


def _resolve(target: str) -> Callable[[RunContext], SectionResult]:
    module, attr = target.split(":")
    return getattr(importlib.import_module(module), attr)


def run(
    settings: RunSettings,
    *,
    progress: ProgressCallback | None = None,
    raise_errors: bool = False,
) -> RunResult:
    """Run every registered section and collect the results.

    Parameters
    ----------
    settings : RunSettings
        Data source, filters, sampler mode and seed.
    progress : callable, optional
        Receives :class:`ProgressEvent` notices; the pipeline itself never prints.
    raise_errors : bool
        Re-raise a section's exception instead of marking the section ``failed``
        (``imr-bayes --debug``).

    Returns
    -------
    RunResult
        One :class:`SectionResult` per registered section, in report order.

    Raises
    ------
    ImrBayesError
        If the settings are invalid, or the user's data file breaks the data contract
        (``DataValidationError``), both checked before any work starts.
    """
    validate_settings(settings)
    notify = progress or (lambda event: None)
    started = datetime.now(UTC)
    t0 = time.perf_counter()
    ctx = RunContext(settings=settings, progress=notify)
    if settings.data_path is not None:
        ctx.data  # noqa: B018 - the user's file is loaded and validated before any work
    notify(ProgressEvent("plan", "overall", total=len(SECTIONS)))
    collected: list[tuple[Section, SectionResult]] = []
    for section in SECTIONS:
        notify(ProgressEvent("start", "overall", label=section.title))
        t_section = time.perf_counter()
        missing = _missing_module(section.requires)
        if missing:
            result = SectionResult(
                status="unavailable",
                message=f"not available in this build (needs module {missing})",
            )
        else:
            try:
                result = _resolve(section.run)(ctx)
            except (KeyboardInterrupt, SystemExit):
                raise
            except Exception as exc:  # noqa: BLE001 - marked in the report, never hidden
                if raise_errors:
                    raise
                first = (str(exc).splitlines() or [""])[0]
                result = SectionResult(status="failed", message=f"{type(exc).__name__}: {first}")
        result.seconds = time.perf_counter() - t_section
        ctx.results[section.key] = result
        collected.append((section, result))
        notify(ProgressEvent("advance", "overall", label=section.title))
    notify(ProgressEvent("finish", "overall"))
    return RunResult(
        run_id=make_run_id(settings, started),
        settings=settings,
        started=started.isoformat(timespec="seconds"),
        seconds=time.perf_counter() - t0,
        sections=collected,
    )
