"""Compile a PyMC model once, swap its data, sample with nutpie (default) or PyMC's NUTS.

Two backends. ``numba``: nutpie's own PyMC compiler, whose numba C callback costs about a
minute per model on the shared 2-core machines and is not cached between processes, but is
fastest per gradient. ``pyfunc``: the log density and its gradient are compiled by PyTensor
(numba linker, cached on disk across processes) with every ``pm.Data`` container turned into
an explicit input, and the pure jitted function is handed to nutpie's Rust NUTS through its
``from_pyfunc`` interface (a Python call per gradient; the jitted function is pure, so the
chains' threads share it). Either way one compiled model serves every data set of the same
structure (all 12 outcomes): :meth:`CompiledModel.with_data` swaps the arrays, nothing is
recompiled.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from typing import Any

import numpy as np

from imr_bayes.errors import ImrBayesError


@dataclass(frozen=True)
class CompiledModel:
    """A PyMC model compiled for nutpie, with its data as swappable inputs.

    Attributes
    ----------
    nutpie_model : object
        nutpie ``PyFuncModel`` (holds the current data).
    pymc_model : pymc.Model
        The source model (for PyMC's own sampler and for names and coordinates).
    data_names : tuple of str
        Names of the data inputs (the model's ``pm.Data`` containers).
    """

    nutpie_model: Any
    pymc_model: Any
    data_names: tuple[str, ...]
    data_dtypes: dict[str, str]
    data: dict[str, np.ndarray] | None = None
    #: Data inputs the compiled log density reads (numba drops containers the graph ignores).
    data_dtypes_used: frozenset[str] = frozenset()

    def with_data(self, data: dict[str, np.ndarray]) -> CompiledModel:
        """Return the same compiled model reading other data (no recompilation).

        Raises
        ------
        ImrBayesError
            If a name is not a data input of the model.
        """
        unknown = sorted(set(data) - set(self.data_names))
        if unknown:
            raise ImrBayesError(
                f"unknown data input(s) {unknown}; valid: {', '.join(self.data_names)}"
            )
        arrays = {k: np.require(np.asarray(v, dtype=self.data_dtypes[k]), requirements="C")
                  for k, v in data.items()}
        used = {k: v for k, v in arrays.items() if k in self.data_dtypes_used}
        return CompiledModel(self.nutpie_model.with_data(**used), self.pymc_model,
                             self.data_names, self.data_dtypes, {**(self.data or {}), **arrays},
                             self.data_dtypes_used)


#: Below this many iterations in total, "auto" uses the ``pyfunc`` backend (fast to compile,
#: slower per gradient); at or above it ``numba`` (about a minute to compile, faster per
#: gradient). Measured on the shared 2-core machine; see bench/results.md.
AUTO_NUMBA_ITERATIONS: int = 4000


def choose_backend(backend: str, *, draws: int, tune: int, chains: int) -> str:
    """Resolve ``"auto"`` to ``"pyfunc"`` or ``"numba"`` by the run's total iterations."""
    if backend == "auto":
        return "numba" if (draws + tune) * chains >= AUTO_NUMBA_ITERATIONS else "pyfunc"
    if backend not in ("pyfunc", "numba"):
        raise ImrBayesError(f"unknown backend {backend!r}; valid: auto, pyfunc, numba")
    return backend


def compile_model(model, backend: str = "pyfunc") -> CompiledModel:
    """Compile ``model``'s log density and gradient for nutpie.

    Parameters
    ----------
    model : pymc.Model
        A model whose data live in ``pm.Data`` containers and whose free variables are all
        continuous.
    backend : {"pyfunc", "numba"}
        ``pyfunc``: PyTensor's jitted function behind nutpie's Python-function interface
        (compiles in seconds once cached on disk). ``numba``: nutpie's own compiler (slow to
        compile, faster per gradient evaluation).
    """
    from pytensor.tensor.sharedvar import TensorSharedVariable

    if backend == "numba":
        import nutpie

        data_vars = [v for v in model.named_vars.values()
                     if isinstance(v, TensorSharedVariable)]
        compiled = nutpie.compile_pymc_model(model)
        used = frozenset(v.name for v in compiled.shared_var_keys)
        return CompiledModel(compiled, model, tuple(v.name for v in data_vars),
                             {v.name: str(v.dtype) for v in data_vars}, None, used)
    if backend != "pyfunc":
        raise ImrBayesError(f"unknown backend {backend!r}; valid: pyfunc, numba")
    import pytensor
    import pytensor.tensor as pt
    from nutpie.compiled_pyfunc import from_pyfunc
    from pymc.initial_point import make_initial_point_fn
    from pytensor.graph import clone_replace

    free = list(model.free_RVs)
    values = [model.rvs_to_values[v] for v in free]
    point = model.initial_point(0)
    shapes = [tuple(np.shape(point[v.name])) for v in values]
    sizes = [math.prod(s) for s in shapes]
    offsets = np.cumsum([0, *sizes])
    n_dim = int(offsets[-1])
    joined = pt.dvector("__joined")
    replace: dict[Any, Any] = {
        v: joined[int(offsets[k]):int(offsets[k + 1])].reshape(shapes[k]).astype(v.dtype)
        for k, v in enumerate(values)
    }
    data_vars = [v for v in model.named_vars.values() if isinstance(v, TensorSharedVariable)]
    data_inputs = [pt.tensor(name=v.name, dtype=v.dtype, shape=(None,) * v.ndim)
                   for v in data_vars]
    replace.update(dict(zip(data_vars, data_inputs, strict=True)))
    data_names = tuple(v.name for v in data_vars)

    logp = model.logp()
    grad = pt.concatenate([g.ravel() for g in pt.grad(logp, values)])
    # Other shared variables (dimension lengths of coordinates) become constants.
    from pytensor.compile.sharedvalue import SharedVariable
    from pytensor.graph.traversal import ancestors

    for var in ancestors([logp, grad, *model.unobserved_value_vars]):
        if isinstance(var, SharedVariable) and var not in replace:
            replace[var] = pt.constant(var.get_value(), dtype=var.dtype)
    logp_r, grad_r = clone_replace([logp, grad], replace)
    logp_fn = _jitted(pytensor.function([joined, *data_inputs], [logp_r, grad_r],
                                        mode="NUMBA", on_unused_input="ignore"))

    # Trace the free variables on their constrained scale, and the deterministics.
    names = [v.name for v in free]
    by_name = {u.name: u for u in model.unobserved_value_vars}
    names += [d.name for d in model.deterministics if d.name in by_name]
    expand_out = clone_replace([by_name[n] for n in names], replace)
    expand_fn = _jitted(pytensor.function([joined, *data_inputs], expand_out, mode="NUMBA",
                                          on_unused_input="ignore"))
    x0 = np.concatenate([np.ravel(point[v.name]) for v in values]).astype("float64")
    data0 = [np.ascontiguousarray(v.get_value()) for v in data_vars]
    rv_shapes = [tuple(np.shape(o)) for o in expand_fn(x0, *data0)]

    init = make_initial_point_fn(model=model, jitter_rvs=set(free), return_transformed=True)
    lock = threading.Lock()  # the PyMC initial-point function is not thread-safe

    def initial_point(seed: int) -> np.ndarray:
        with lock:
            pt_ = init(seed)
        return np.concatenate([np.ravel(pt_[v.name]) for v in values]).astype("float64")

    def make_logp_func():
        def logp(x, **data):
            val, g = logp_fn(x, *[data[n] for n in data_names])
            return float(val), np.asarray(g, dtype="float64", order="C")

        return logp

    def make_expand_func(seed1, seed2, chain):
        def expand(x, **data):
            out = expand_fn(x, *[data[n] for n in data_names])
            return {n: np.asarray(o, dtype="float64", order="C").reshape(s)
                    for n, o, s in zip(names, out, rv_shapes, strict=True)}

        return expand

    dims = {n: tuple(model.named_vars_to_dims.get(n, ())) for n in names}
    dims = {n: d for n, d in dims.items() if d}
    coords = {k: [str(x) for x in v] for k, v in model.coords.items() if v is not None}
    coords = {k: v for k, v in coords.items() if any(k in d for d in dims.values())}
    nutpie_model = from_pyfunc(
        ndim=n_dim, make_logp_fn=make_logp_func, make_expand_fn=make_expand_func,
        make_initial_point_fn=initial_point, expanded_dtypes=[np.dtype("float64")] * len(names),
        expanded_shapes=rv_shapes, expanded_names=names,
        shared_data={v.name: np.ascontiguousarray(v.get_value()) for v in data_vars},
        dims=dims, coords=coords,
    )
    return CompiledModel(nutpie_model, model, data_names,
                         {v.name: str(v.dtype) for v in data_vars}, None, frozenset(data_names))


def _jitted(fn):
    """Return the pure jitted function behind a PyTensor function (numba linker).

    The jitted function keeps no state between calls, so the chains' threads can call it
    concurrently; the :class:`pytensor.compile.function.types.Function` wrapper could not.
    """
    if fn.get_shared():
        raise ImrBayesError(f"model graph still holds shared variables {fn.get_shared()}")
    return fn.vm.jit_fn


def sample(compiled: CompiledModel, *, draws: int, tune: int, chains: int, cores: int,
           seed: int, sampler: str = "nutpie", target_accept: float = 0.8):
    """Sample the posterior; return a DataTree with ``posterior`` and ``sample_stats``.

    Parameters
    ----------
    compiled : CompiledModel
    draws, tune, chains, cores : int
    seed : int
        Same seed, same data => identical draws.
    sampler : {"nutpie", "pymc"}
        ``pymc`` runs PyMC's own NUTS on the source model (slower; a cross-check).
    target_accept : float
    """
    if sampler == "nutpie":
        import nutpie

        tree = nutpie.sample(compiled.nutpie_model, draws=draws, tune=tune, chains=chains,
                             cores=min(cores, chains), seed=seed, progress_bar=False,
                             save_warmup=False, target_accept=target_accept)
        return tree
    if sampler == "pymc":
        import pymc as pm

        with compiled.pymc_model:
            if compiled.data:
                pm.set_data(compiled.data)
            return pm.sample(draws=draws, tune=tune, chains=chains, cores=min(cores, chains),
                             random_seed=seed, progressbar=False, nuts_sampler="pymc",
                             target_accept=target_accept, compute_convergence_checks=False)
    raise ImrBayesError(f"unknown sampler {sampler!r}; valid: nutpie, pymc")
