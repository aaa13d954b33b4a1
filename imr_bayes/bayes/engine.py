"""The one fitting path: compile cache, sampling, and where a fit is assembled.

Every model of the package goes through here: the analyses of :func:`imr_bayes.fit` (every
kind), the LOO refits, partial pooling across outcomes and the dropout model.

* :func:`compiled` returns the compiled model of a structure, compiling it only on first use
  in a process (one cache, :func:`imr_bayes.bayes.sampling.compiled_model`, keyed by the
  model's structure and resolved priors, never by the data; the ``pyfunc`` backend's compiled
  functions are also kept on disk, so a later process does not compile again);
* :func:`sample` samples a compiled model with a spec's sampler settings;
* :func:`assemble` builds the DataTree with the provenance attrs (spec hash, data hash,
  seed, versions, priors), runs the diagnostics against the spec's thresholds, summarizes the
  draws into :class:`imr_bayes.estimates.Estimates` and returns the
  :class:`imr_bayes.bayes.api.BayesianFit`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from imr_bayes.errors import ImrBayesError
from imr_bayes.spec import SamplerSpec


def cache_key(key: Mapping[str, Any], backend: str) -> str:
    """Canonical text of a structural key (with the backend)."""
    return json.dumps({**key, "backend": backend}, sort_keys=True, default=str)


def compiled(key: Mapping[str, Any], build: Callable[[], Any], sampler: SamplerSpec):
    """Return the compiled model of a structure, building and compiling it on first use.

    Parameters
    ----------
    key : mapping
        The model's structure and resolved priors (JSON-able); never data values.
    build : callable
        ``() -> pymc.Model`` with its data in ``pm.Data`` containers.
    sampler : SamplerSpec
        Its ``backend`` (``auto`` resolved by the run's size) picks the compiler.

    Returns
    -------
    imr_bayes.bayes.sampling.CompiledModel
        Swap data with ``.with_data(...)``.
    """
    from imr_bayes.bayes.sampling import choose_backend, compiled_model

    backend = choose_backend(sampler.backend, draws=sampler.draws, tune=sampler.tune,
                             chains=sampler.chains)
    return compiled_model(cache_key(key, backend), build, backend)


def sample(compiled_model, sampler: SamplerSpec, seed: int, *, log_prior: bool = True):
    """Sample with a spec's settings; return ``(posterior, sample_stats)`` Datasets.

    The posterior holds the sampled variables on their constrained scale; object-typed
    sampler statistics are dropped (they do not survive netCDF). With ``log_prior`` (the
    default; simulation studies switch it off) ``log_prior`` in the sample stats is the log
    prior density of each prior variable per draw
    (:func:`imr_bayes.prior_checks.log_prior_group`, dim ``prior``); :func:`assemble` moves
    it into the fit's ``log_prior`` group.
    """
    from imr_bayes.bayes.sampling import sample as _sample
    from imr_bayes.prior_checks import log_prior_group

    raw = _sample(compiled_model, draws=sampler.draws, tune=sampler.tune,
                  chains=sampler.chains, cores=sampler.cores, seed=int(seed),
                  sampler=sampler.sampler, target_accept=sampler.target_accept)
    posterior = raw["posterior"].to_dataset()
    stats = raw["sample_stats"].to_dataset()
    stats = stats.drop_vars([v for v in stats.data_vars if stats[v].dtype == object])
    if log_prior:
        stats["log_prior"] = log_prior_group(compiled_model.pymc_model,
                                             posterior).to_array("prior")
    return posterior, stats


def flat(posterior, name: str) -> np.ndarray:
    """Draws of variable ``name`` as an array ``(chain * draw, ...)``."""
    v = posterior[name]
    return v.stack(sample=("chain", "draw")).transpose("sample", ...).to_numpy()


def chain_draw(values: np.ndarray, posterior) -> np.ndarray:
    """Reshape ``(chain * draw, ...)`` draws back to ``(chain, draw, ...)``."""
    shape = (posterior.sizes["chain"], posterior.sizes["draw"])
    return np.asarray(values).reshape(shape + np.shape(values)[1:])


def dataset(variables: Mapping[str, tuple[tuple[str, ...], np.ndarray]], posterior,
            coords: Mapping[str, Any] | None = None):
    """Build a posterior Dataset from ``{name: (extra dims, flat draws)}``."""
    import xarray as xr

    dims = ("chain", "draw")
    ds = {k: (dims + d, chain_draw(v, posterior)) for k, (d, v) in variables.items()}
    used = {d for dd, _ in variables.values() for d in dd}
    c = {"chain": posterior["chain"].values, "draw": posterior["draw"].values}
    c.update({k: v for k, v in (coords or {}).items() if k in used})
    return xr.Dataset(ds, coords=c)


Quantity = tuple[Mapping[str, Any], np.ndarray]


def estimates(request, quantities: Iterable[Quantity], *, outcome: str, n_rows: int,
              n_participants: int):
    """Summarize a fit's quantities into posterior :class:`Estimates`.

    Each quantity is ``({"estimand", "arm"?, "time"?, "scale"?}, flat draws)``. A quantity
    whose estimand the spec declares gets the declared scale, its direction of benefit
    (P(benefit), with the outcome's direction for ``benefit: outcome``) and null value;
    other quantities (intercepts, SDs) are reported without P(benefit). Every declared
    estimand must be among the quantities, at each of its declared times.

    Raises
    ------
    ImrBayesError
        If the fit function did not produce a declared estimand.
    """
    from imr_bayes import outcomes
    from imr_bayes.estimates import Estimates

    spec = request.spec
    direction = outcomes.get(outcome).direction if outcome in outcomes.OUTCOMES else 1
    declared = {e.name: e for e in spec.estimands}
    items, seen = [], set()
    for row, draws in quantities:
        row = dict(row)
        e = declared.get(row["estimand"])
        if e is not None:
            seen.add((e.name, row.get("time")))
            row.setdefault("scale", e.scale)
            row["sign"], row["null"] = e.sign(direction, row.get("time")), e.no_effect
        else:
            row.setdefault("scale", "raw")
        if spec.label:
            row["label"] = spec.label
        items.append((row, draws))
    missing = [f"{e.name}" + (f" at time {t}" if t is not None else "")
               for e in spec.estimands for t in (e.times or (None,)) if (e.name, t) not in seen]
    if missing:
        raise ImrBayesError(f"analysis {request.analysis!r} declares estimand(s) its model did "
                            f"not produce: {', '.join(missing)}")
    base = {"analysis": request.analysis, "outcome": outcome, "n_rows": n_rows,
            "n_participants": n_participants}
    return Estimates.from_draws(base, items)


def provenance(spec, *, seed: int, data_hash: str, priors: Mapping[str, Any],
               prior_set: Any = None) -> dict[str, Any]:
    """Root attrs every saved fit carries: spec, its hash, seed, data hash, priors, versions.

    Parameters
    ----------
    spec : SpecBase
        The validated spec the fit used.
    seed : int
    data_hash : str
        SHA-256 of the input (:func:`imr_bayes.provenance.data_sha256`).
    priors : mapping
        Resolved priors.
    prior_set : PriorSet, optional
        The prior set of the shared parameters.
    """
    from imr_bayes.provenance import package_versions, spec_sha256

    attrs = {
        "model": spec.model, "spec_hash": spec.sha256,
        "spec": json.dumps(spec.model_dump(mode="json"), sort_keys=True),
        "data_hash": data_hash, "seed": int(seed),
        "versions": json.dumps(package_versions(), sort_keys=True),
        "sampler": spec.sampler.sampler,
        **({"engine": spec.engine} if hasattr(spec, "engine") else {}),
        "priors": json.dumps(dict(priors), sort_keys=True),
    }
    if prior_set is not None:
        attrs["prior_set"] = prior_set.name
        attrs["prior_set_hash"] = spec_sha256(prior_set.model_dump(mode="json"))
    if spec.label:
        attrs["label"] = spec.label
    return attrs


def assemble(data: pd.DataFrame, request, *, posterior, sample_stats,
             groups: Mapping[str, Any], quantities: Iterable[Quantity], var_names: list[str],
             priors: Mapping[str, Any], n_rows: int, n_participants: int,
             extra_attrs: Mapping[str, Any] | None = None, outcome: str | None = None):
    """Assemble a fit: DataTree with provenance attrs, diagnostics, estimates.

    Parameters
    ----------
    data : pandas.DataFrame
        The data the caller passed (hashed for ``data_hash``).
    request : imr_bayes.registry.FitRequest
    posterior, sample_stats : xarray.Dataset
    groups : mapping
        Further DataTree groups (``log_likelihood``, ``observed_data``, ...).
    quantities : iterable
        ``(row, draws)`` pairs summarized by :func:`estimates`.
    var_names : list of str
        Posterior variables to diagnose.
    priors : mapping
        Resolved priors, recorded in the attrs.
    n_rows, n_participants : int
        Rows and participants the likelihood used.
    extra_attrs : mapping, optional
        Further root attrs.
    outcome : str, optional
        Outcome label when it is not ``request.outcome``.

    Returns
    -------
    imr_bayes.bayes.api.BayesianFit
    """
    import xarray as xr

    from imr_bayes.bayes.api import BayesianFit
    from imr_bayes.diagnostics import diagnose
    from imr_bayes.provenance import data_sha256

    spec = request.spec
    outcome = outcome or request.outcome
    missing = [v for v in var_names if v not in posterior]
    if missing:
        raise ImrBayesError(f"variables to diagnose not in the posterior: {missing}")
    if "log_prior" in sample_stats:  # from sample(): the fit's log_prior group
        groups = {"log_prior": sample_stats["log_prior"].to_dataset("prior"), **groups}
        sample_stats = sample_stats.drop_vars(["log_prior", "prior"])
    tree = xr.DataTree.from_dict({"posterior": posterior, "sample_stats": sample_stats,
                                  **groups})
    tree.attrs.update({
        "analysis": request.analysis, "outcome": outcome, "n_rows": int(n_rows),
        **provenance(spec, seed=request.seed, data_hash=data_sha256(data), priors=priors,
                     prior_set=request.prior_set),
        **(dict(extra_attrs) if extra_attrs else {}),
    })
    diagnostics = diagnose(tree, var_names, spec.diagnostics)
    est = estimates(request, quantities, outcome=outcome, n_rows=n_rows,
                    n_participants=n_participants)
    return BayesianFit(analysis=request.analysis, outcome=outcome, idata=tree, estimates=est,
                       diagnostics=diagnostics, spec=spec)
