"""Fitting inside a study replicate: one compiled ITT model per worker process, data swapped.

The studies fit the package's ITT model (:func:`imr_bayes.bayes.itt.build_model`, marginal
engine: participant intercept integrated out) through nutpie. Compiling it with numba takes
20 s on an idle core (minutes on a saturated one), sampling a replicate 0.5 s, so the compiled model
is built once per worker process (:func:`compiled_model`, a process-level cache) and every
replicate only swaps its data in (``with_data``). Compilation and sampling are the Bayesian
module's (:mod:`imr_bayes.bayes.sampling`); quick runs use its ``pyfunc`` backend (fast to
compile, slower per gradient).

The *naive* model (no IMR-group effect) is the same compiled model with ``group_on`` set to 0
everywhere: the group parameters then drop out of the likelihood, keep their independent
priors, and the posterior of the fixed effects is exactly that of the model without them. So
one compilation serves every study.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np
import pandas as pd

from imr_bayes import outcomes
from imr_bayes.constants import CI_LEVEL, N_IMR_GROUPS
from imr_bayes.errors import StudyError
from imr_bayes.outcomes import unknown_choice_message
from imr_bayes.spec import LmmSpec, SamplerSpec, load_analysis, load_prior_set, priors_for

#: The estimand every study targets.
ESTIMAND = "condition_x_time"
#: Compilers of the ITT model (see :func:`compiled_model`).
BACKENDS: tuple[str, ...] = ("numba", "pyfunc")
_COMPILE_LOCK = threading.Lock()


def itt_spec() -> LmmSpec:
    """Return the ITT analysis spec (``models/analyses/itt.yaml``)."""
    return load_analysis("itt")


@cache
def resolved_priors(outcome: str, prior_set: str) -> dict[str, dict[str, Any]]:
    """Return the ITT model's resolved priors (standardized scale) for ``outcome`` (cached)."""
    from imr_bayes.bayes.itt import sd_parameters

    spec = itt_spec()
    return priors_for(load_prior_set(prior_set), tuple(spec.terms) + sd_parameters(spec),
                      outcomes.get(outcome).direction)


def _template(outcome: str) -> pd.DataFrame:
    """Return a tiny long frame with the 15 IMR groups (fixes the compiled coords)."""
    rows = []
    for k in range(N_IMR_GROUPS + 1):
        arm, group = ("imr", f"G{k + 1:02d}") if k < N_IMR_GROUPS else ("cau", None)
        rows += [(f"T{k:02d}", arm, t, group, float(t)) for t in (0, 1, 2)]
    frame = pd.DataFrame(rows, columns=["participant_id", "arm", "time", "imr_group", outcome])
    return frame.assign(imr_group=frame["imr_group"].astype("string"))


def compiled_model(outcome: str = outcomes.PRIMARY, prior_set: str = "default",
                   backend: str = "numba") -> Any:
    """Return the compiled ITT model, compiled once per process and backend.

    Parameters
    ----------
    outcome : str
        Outcome code (sets the prior orientation).
    prior_set : str
        Prior set name under ``models/priors``.
    backend : {"numba", "pyfunc"}
        Compiler of :func:`imr_bayes.bayes.sampling.compile_model`. ``numba``: nutpie's own
        compiler (about a minute to compile, up to five on a saturated machine, then the
        fastest per gradient: the choice for long studies). ``pyfunc``: PyTensor's jitted
        function behind nutpie's Python interface (compiles in seconds once cached on disk,
        slower per gradient: the choice for quick runs and tests).

    Returns
    -------
    imr_bayes.bayes.sampling.CompiledModel
        Fits a data set through :func:`sample_posterior`; up to 15 IMR groups.
    """
    if backend not in BACKENDS:
        raise StudyError(unknown_choice_message("backend", backend, BACKENDS))
    with _COMPILE_LOCK:
        return _compile(outcome, prior_set, backend)


def _compile(outcome: str, prior_set: str, backend: str) -> Any:
    from imr_bayes.bayes import engine
    from imr_bayes.bayes.itt import build_model, make_panel

    spec = itt_spec()
    panel = make_panel(_template(outcome), outcome, spec.terms)
    priors = resolved_priors(outcome, prior_set)
    key = {"kind": "lmm", "engine": "marginal", "terms": panel.terms,
           "random": spec.random.model_dump(), "by_arm": spec.residual_sd_by_arm,
           "groups": len(panel.groups), "priors": priors, "participants": None}
    return engine.compiled(key, lambda: build_model(panel, spec, priors, engine="marginal"),
                           SamplerSpec(backend=backend))


@dataclass(frozen=True)
class EffectFit:
    """Posterior of the condition x time effect from one fit (standardized scale).

    Attributes
    ----------
    draws : ndarray, shape (chains, draws)
    divergences : int
    r_hat : float
    ess_bulk : float
    """

    draws: np.ndarray
    divergences: int
    r_hat: float
    ess_bulk: float

    def summary(self, scale: float = 1.0) -> dict[str, float]:
        """Mean, SD and 95 % ETI in units of ``scale`` (the outcome's baseline SD for raw)."""
        x = self.draws.ravel() * scale
        tail = (1 - CI_LEVEL) / 2
        low, high = np.quantile(x, [tail, 1 - tail])
        return {"mean": float(x.mean()), "sd": float(x.std(ddof=1)),
                "eti95_low": float(low), "eti95_high": float(high)}

    def rank(self, truth: float, n_ranks: int) -> int:
        """SBC rank: posterior draws below ``truth`` among ``n_ranks`` evenly thinned draws."""
        x = self.draws.ravel()
        keep = np.linspace(0, x.size - 1, n_ranks).round().astype(int)
        return int((x[keep] < truth).sum())


def sample_posterior(data: dict[str, np.ndarray], *, seed: int, draws: int, tune: int,
                     chains: int, group_effect: bool = True, outcome: str = outcomes.PRIMARY,
                     prior_set: str = "default", backend: str = "numba") -> Any:
    """Fit the ITT model to panel arrays with nutpie; return ``(posterior, sample_stats)``.

    Parameters
    ----------
    data : dict
        ``Panel.model_data()`` arrays (``z`` standardized).
    seed : int
        nutpie seed (same seed and data, same draws).
    draws, tune, chains : int
        Sampler settings (chains run one after another: one core per worker).
    group_effect : bool
        False fits the naive model (``group_on`` zeroed, see the module docstring).
    outcome, prior_set, backend : str
        Which compiled model to use (see :func:`compiled_model`).
    """
    from imr_bayes.bayes import engine

    if not group_effect:
        data = {**data, "group_on": np.zeros_like(data["group_on"])}
    compiled = compiled_model(outcome, prior_set, backend).with_data(data)
    sampler = SamplerSpec(draws=draws, tune=tune, chains=chains, cores=1, backend=backend)
    return engine.sample(compiled, sampler, seed)


def fit_effect(data: dict[str, np.ndarray], **options: Any) -> EffectFit:
    """Fit the ITT model (see :func:`sample_posterior`); return the condition x time posterior."""
    from arviz_stats.base import array_stats

    posterior, stats = sample_posterior(data, **options)
    x = np.asarray(posterior[f"beta_{ESTIMAND}"].values, dtype=float)
    divergences = int(np.asarray(stats["diverging"].values).sum())
    multi = x.shape[0] > 1
    return EffectFit(draws=x, divergences=divergences,
                     r_hat=float(array_stats.rhat(x)) if multi else float("nan"),
                     ess_bulk=float(array_stats.ess(x)))


def design_panel(rng: np.random.Generator, outcome: str = outcomes.PRIMARY,
                 **twin_params: Any) -> Any:
    """Return the ITT panel of a fresh random twin: arms, IMR groups, observed cells.

    The studies keep the twin's design and replace its outcome by a draw from a known
    model (:func:`simulate_z`), so the truth of every replicate is known exactly.
    """
    from imr_bayes.bayes.itt import make_panel
    from imr_bayes.data import simulate_twin

    twin = simulate_twin(seed=int(rng.integers(2**31 - 1)), mode="random", **twin_params)
    return make_panel(twin, outcome, itt_spec().terms)


def draw_prior(outcome: str, prior_set: str, rng: np.random.Generator) -> dict[str, float]:
    """Draw every ITT parameter once from its prior (standardized scale).

    The prior set's distributions (``imr_bayes.spec.DISTRIBUTIONS``) are drawn with NumPy
    in PyMC's parametrization (``HalfCauchy(beta)``, ``Exponential(lam)`` with rate ``lam``).
    """
    return {name: _draw(prior["dist"], prior["kwargs"], rng)
            for name, prior in resolved_priors(outcome, prior_set).items()}


def _draw(dist: str, kw: Mapping[str, float], rng: np.random.Generator) -> float:
    if dist == "Normal":
        return float(rng.normal(kw["mu"], kw["sigma"]))
    if dist == "HalfNormal":
        return float(abs(rng.normal(0.0, kw["sigma"])))
    if dist == "StudentT":
        return float(kw["mu"] + kw["sigma"] * rng.standard_t(kw["nu"]))
    if dist == "HalfStudentT":
        return float(abs(kw["sigma"] * rng.standard_t(kw["nu"])))
    if dist == "HalfCauchy":
        return float(abs(kw["beta"] * rng.standard_cauchy()))
    if dist == "Exponential":
        return float(rng.exponential(1.0 / kw["lam"]))
    raise StudyError(unknown_choice_message("prior distribution", dist,
                                            ("Normal", "HalfNormal", "StudentT",
                                             "HalfStudentT", "HalfCauchy", "Exponential")))


def simulate_z(panel: Any, params: dict[str, float], rng: np.random.Generator) -> np.ndarray:
    """Simulate the standardized outcome of a panel's design from the ITT model.

    ``z_it = x_it' beta + u_i + group_on_it * g_j(i) + e_it`` with ``u ~ N(0, sigma_participant)``,
    ``g ~ N(0, sigma_group)`` (one per IMR group) and ``e ~ N(0, sigma_residual)``; cells the
    panel does not observe are set to 0 (ignored by the model through its mask).
    """
    beta = np.array([params[t] for t in panel.terms])
    n_p, n_t = panel.mask.shape
    u = rng.normal(0.0, params["sigma_participant"], n_p)
    g = rng.normal(0.0, params["sigma_group"], max(len(panel.groups), 1))
    e = rng.normal(0.0, params["sigma_residual"], (n_p, n_t))
    z = panel.X @ beta + u[:, None] + panel.group_on * g[panel.group_idx][:, None] + e
    return np.where(panel.mask > 0, z, 0.0)


def nutpie_seed(rng: np.random.Generator) -> int:
    """Return a sampler seed drawn from the replicate's generator."""
    return int(rng.integers(2**31 - 1))


def warm_up(backend: str = "numba") -> int:
    """Compile the ITT model and fill the twin's caches in this process; return its pid.

    Run it on every worker before timing a study (``client.run(warm_up)``): the first
    replicate of each worker otherwise includes the compilation.
    """
    import os

    compiled_model(backend=backend)
    design_panel(np.random.default_rng(0))
    return os.getpid()
