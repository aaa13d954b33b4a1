"""Fitting inside a study replicate: one compiled ITT model per worker process, data swapped.

The studies fit an ITT analysis' model (``analysis``: the partially nested ``itt`` by
default, :func:`imr_bayes.bayes.itt.build_pn_model`, or the SPSS-parity ``itt_parity``,
:func:`imr_bayes.bayes.itt.build_model`; marginal engine: participant intercept integrated
out) through nutpie. Compiling it with numba takes
20 s on an idle core (minutes on a saturated one), sampling a replicate 0.5 s, so the compiled model
is built once per worker process (:func:`compiled_model`, a process-level cache) and every
replicate only swaps its data in (``with_data``). Compilation and sampling are the Bayesian
module's (:mod:`imr_bayes.bayes.sampling`); quick runs use its ``pyfunc`` backend (fast to
compile, slower per gradient).

The *naive* model (no IMR-group effect) is the same compiled model with ``group_on`` (and
``group_shift_on``) set to 0 everywhere: the group parameters then drop out of the
likelihood, keep their independent priors, and the posterior of the fixed effects is exactly
that of the model without them. So one compilation per analysis serves every study.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np
import pandas as pd

from imr_bayes import outcomes
from imr_bayes.constants import CI_LEVEL, N_IMR_GROUPS, N_TEAMS
from imr_bayes.errors import StudyError
from imr_bayes.outcomes import unknown_choice_message
from imr_bayes.spec import SamplerSpec, SpecBase, load_analysis, load_prior_set, priors_for

#: The estimand every study targets.
ESTIMAND = "condition_x_time"
#: Compilers of the ITT model (see :func:`compiled_model`).
BACKENDS: tuple[str, ...] = ("numba", "pyfunc")
#: The analyses a study can fit (linear time, standard design, ITT sample).
ANALYSES: tuple[str, ...] = ("itt", "itt_parity")
_COMPILE_LOCK = threading.Lock()


def itt_spec(analysis: str = "itt") -> SpecBase:
    """Return the spec of an ITT analysis a study fits (:data:`ANALYSES`)."""
    if analysis not in ANALYSES:
        raise StudyError(unknown_choice_message("study analysis", analysis, ANALYSES))
    return load_analysis(analysis)


@cache
def resolved_priors(outcome: str, prior_set: str, analysis: str = "itt"
                    ) -> dict[str, dict[str, Any]]:
    """Return the model's resolved priors (standardized scale) for ``outcome`` (cached)."""
    from imr_bayes.bayes.itt import sd_parameters

    spec = itt_spec(analysis)
    return priors_for(load_prior_set(prior_set), tuple(spec.terms) + sd_parameters(spec),
                      outcomes.get(outcome).direction)


def _template(outcome: str) -> pd.DataFrame:
    """Return a tiny long frame with the 15 IMR groups and 14 teams (fixes the coords)."""
    rows = []
    for k in range(N_IMR_GROUPS + 1):
        arm, group = ("imr", f"G{k + 1:02d}") if k < N_IMR_GROUPS else ("cau", None)
        rows += [(f"T{k:02d}", arm, t, group, k % N_TEAMS + 1, float(t)) for t in (0, 1, 2)]
    frame = pd.DataFrame(rows, columns=["participant_id", "arm", "time", "imr_group", "team",
                                        outcome])
    return frame.assign(imr_group=frame["imr_group"].astype("string"))


def compiled_model(outcome: str = outcomes.PRIMARY, prior_set: str = "default",
                   backend: str = "numba", analysis: str = "itt") -> Any:
    """Return the compiled ITT model, compiled once per process, backend and analysis.

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

    analysis : {"itt", "itt_parity"}
        The analysis whose model is fitted (:data:`ANALYSES`).

    Returns
    -------
    imr_bayes.bayes.sampling.CompiledModel
        Fits a data set through :func:`sample_posterior`; 15 IMR groups, 14 teams.
    """
    if backend not in BACKENDS:
        raise StudyError(unknown_choice_message("backend", backend, BACKENDS))
    with _COMPILE_LOCK:
        return _compile(outcome, prior_set, backend, analysis)


def _compile(outcome: str, prior_set: str, backend: str, analysis: str) -> Any:
    from imr_bayes.bayes import engine
    from imr_bayes.bayes.itt import make_panel, model_builder, model_key

    spec = itt_spec(analysis).with_overrides(engine="marginal")
    panel = make_panel(_template(outcome), outcome, spec)
    priors = resolved_priors(outcome, prior_set, analysis)
    build = model_builder(spec)
    return engine.compiled(model_key(panel, spec, priors),
                           lambda: build(panel, spec, priors, engine="marginal"),
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
                     prior_set: str = "default", backend: str = "numba",
                     analysis: str = "itt") -> Any:
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
    outcome, prior_set, backend, analysis : str
        Which compiled model to use (see :func:`compiled_model`).
    """
    from imr_bayes.bayes import engine

    if not group_effect:
        data = {**data, **{k: np.zeros_like(data[k]) for k in ("group_on", "group_shift_on")
                           if k in data}}
    compiled = compiled_model(outcome, prior_set, backend, analysis).with_data(data)
    sampler = SamplerSpec(draws=draws, tune=tune, chains=chains, cores=1, backend=backend)
    return engine.sample(compiled, sampler, seed, log_prior=False)


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
                 analysis: str = "itt", **twin_params: Any) -> Any:
    """Return the analysis' panel of a fresh random twin: arms, groups, teams, observed cells.

    The studies keep the twin's design and replace its outcome by a draw from a known
    model (:func:`simulate_z`), so the truth of every replicate is known exactly.
    """
    from imr_bayes.bayes.itt import make_panel
    from imr_bayes.data import simulate_twin

    twin = simulate_twin(seed=int(rng.integers(2**31 - 1)), mode="random", **twin_params)
    return make_panel(twin, outcome, itt_spec(analysis))


def draw_prior(outcome: str, prior_set: str, rng: np.random.Generator,
               analysis: str = "itt") -> dict[str, float]:
    """Draw every parameter of the analysis' model once from its prior (standardized scale).

    The prior set's distributions (``imr_bayes.spec.DISTRIBUTIONS``) are drawn with NumPy
    in PyMC's parametrization (:func:`imr_bayes.bayes.itt.draw_prior`). The partially nested
    model's residual SDs per cell (``sigma_residual_<cell>``, cells
    :data:`imr_bayes.bayes.itt.RESIDUAL_CELLS`) and its second group SD
    (``sigma_group_shift``, ``group_effect: both``) are drawn from the priors of
    ``sigma_residual`` and ``sigma_group``, after the prior set's parameters.
    """
    from imr_bayes.bayes.itt import RESIDUAL_CELLS
    from imr_bayes.bayes.itt import draw_prior as draw
    from imr_bayes.spec import PnLmmSpec

    priors = resolved_priors(outcome, prior_set, analysis)
    out = {name: float(draw(prior, 1, rng)[0]) for name, prior in priors.items()}
    spec = itt_spec(analysis)
    if isinstance(spec, PnLmmSpec):
        if spec.residual_sd == "by_arm_after_baseline":
            out.update({f"sigma_residual_{cell}": float(draw(priors["sigma_residual"], 1,
                                                             rng)[0])
                        for cell in RESIDUAL_CELLS})
        if spec.group_effect == "both":
            out["sigma_group_shift"] = float(draw(priors["sigma_group"], 1, rng)[0])
    return out


def simulate_z(panel: Any, params: dict[str, float], rng: np.random.Generator) -> np.ndarray:
    """Simulate the standardized outcome of a panel's design from its ITT model.

    ``z_it = x_it' beta + u_i + group_on_it * g_j(i) + e_it`` with ``u ~ N(0, sigma_participant)``,
    ``g ~ N(0, sigma_group)`` (one per IMR group; ``group_on`` is the loading) and
    ``e ~ N(0, sigma_residual)``; a partially nested panel adds ``group_shift_on_it * h_j``
    (``h ~ N(0, sigma_group_shift)``), the team effect ``v_k ~ N(0, sigma_team)`` and
    residual SDs per cell (``sigma_residual_<cell>``). Cells the panel does not observe are
    set to 0 (ignored by the model through its mask).
    """
    from imr_bayes.bayes.itt import RESIDUAL_CELLS

    beta = np.array([params[t] for t in panel.terms])
    n_p, n_t = panel.mask.shape
    u = rng.normal(0.0, params["sigma_participant"], n_p)
    g = rng.normal(0.0, params["sigma_group"], max(len(panel.groups), 1))
    if panel.residual_idx is None:
        e = rng.normal(0.0, params["sigma_residual"], (n_p, n_t))
    else:
        sd = np.array([params[f"sigma_residual_{c}"] for c in RESIDUAL_CELLS])
        e = sd[panel.residual_idx] * rng.standard_normal((n_p, n_t))
    z = panel.X @ beta + u[:, None] + panel.group_on * g[panel.group_idx][:, None] + e
    if panel.group_shift_on is not None:
        h = rng.normal(0.0, params["sigma_group_shift"], len(panel.groups))
        z = z + panel.group_shift_on * h[panel.group_idx][:, None]
    if panel.team_idx is not None:
        v = rng.normal(0.0, params["sigma_team"], len(panel.teams))
        z = z + v[panel.team_idx][:, None]
    return np.where(panel.mask > 0, z, 0.0)


def nutpie_seed(rng: np.random.Generator) -> int:
    """Return a sampler seed drawn from the replicate's generator."""
    return int(rng.integers(2**31 - 1))


def warm_up(backend: str = "numba", analysis: str = "itt") -> int:
    """Compile the analysis' model and fill the twin's caches in this process; return its pid.

    Run it on every worker before timing a study (``client.run(warm_up)``): the first
    replicate of each worker otherwise includes the compilation.
    """
    import os

    compiled_model(backend=backend, analysis=analysis)
    design_panel(np.random.default_rng(0), analysis=analysis)
    return os.getpid()
