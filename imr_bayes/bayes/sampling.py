"""Compile a PyMC model once, swap its data, sample with nutpie (default) or PyMC's NUTS.

Two backends. ``numba``: nutpie's own PyMC compiler, whose numba C callback is compiled
again in every process (about 8 s with PyTensor's part cached, 20 s cold, on a quiet 2-core
machine) but is fastest per gradient. ``pyfunc``: the log density and its gradient are
compiled by PyTensor (numba linker, cached on disk across processes) with every ``pm.Data``
container turned into an explicit input, and the pure jitted function is handed to nutpie's
Rust NUTS through its ``from_pyfunc`` interface (a Python call per gradient; the jitted
function is pure, so the chains' threads share it, one at a time: it holds the GIL). Either
way one compiled model serves every data set of the same structure (all 12 outcomes):
:meth:`CompiledModel.with_data` swaps the arrays, nothing is recompiled.

Reproducibility: every graph is compiled without fast-math flags
(:func:`deterministic_numba`), so the same seed gives the same draws whether the compile
caches were cold or warm (``docs/performance.md``). Persistence: :func:`compiled_model` keeps
one compiled model per structural key in the process, and the ``pyfunc`` backend stores its
compiled PyTensor functions on disk next to PyTensor's own numba cache, keyed by a
fingerprint of the model's graph, so a later process skips PyTensor's graph rewrites.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import pickle
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from imr_bayes.errors import ImrBayesError

#: Version of the on-disk layout of the compiled-function cache; part of every fingerprint.
CACHE_FORMAT: int = 1


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
#: slower per gradient); at or above it ``numba`` (slower to compile in every process, about
#: 4x faster per gradient: it pays off after ~3 full-size fits of one structure in a
#: process). Measured on the shared 2-core machine; see docs/performance.md.
AUTO_NUMBA_ITERATIONS: int = 4000


def choose_backend(backend: str, *, draws: int, tune: int, chains: int) -> str:
    """Resolve ``"auto"`` to ``"pyfunc"`` or ``"numba"`` by the run's total iterations."""
    if backend == "auto":
        return "numba" if (draws + tune) * chains >= AUTO_NUMBA_ITERATIONS else "pyfunc"
    if backend not in ("pyfunc", "numba"):
        raise ImrBayesError(f"unknown backend {backend!r}; valid: auto, pyfunc, numba")
    return backend


@contextlib.contextmanager
def deterministic_numba() -> Iterator[None]:
    """Compile PyTensor graphs for numba without fast-math flags while the block runs.

    PyTensor marks its numba code fast-math by default (``config.numba__fastmath``:
    reassociation, contraction to fused multiply-add, approximate functions). numba links
    every callee into each caller's LLVM module as a ``linkonce_odr`` copy and optimizes it
    again there, and at run time a call binds to whichever copy of that symbol the process
    loaded first: the callee's own library after a fresh compile, the copy inside the cached
    object after a disk-cache load. Under fast-math the copies are allowed to round
    differently, so the log density differed in the last bit with the cache state. Without
    fast-math flags LLVM may only make value-preserving changes, so every copy computes the
    same IEEE result. Graphs compiled without fast-math get their own entries in PyTensor's
    numba cache (the flag is part of its key).
    """
    import pytensor

    with pytensor.config.change_flags(numba__fastmath=False):
        yield


_COMPILED: dict[tuple[str, str], CompiledModel] = {}


def compiled_model(key: str, build: Callable[[], Any], backend: str) -> CompiledModel:
    """Return the compiled model for a structural ``key``, compiling only on first use.

    Parameters
    ----------
    key : str
        Identifies the model's structure (e.g. a JSON dump of terms, random effects, sizes and
        priors), never its data: all data sets of one structure share the compiled model.
    build : callable
        Returns the ``pymc.Model``; called only when ``key`` is new to this process.
    backend : {"pyfunc", "numba"}
        Resolved backend (see :func:`choose_backend`); part of the in-process key.

    Returns
    -------
    CompiledModel
        Shared by every caller with the same ``key`` and ``backend``; swap the data with
        :meth:`CompiledModel.with_data`. For ``pyfunc`` a new process loads the compiled
        functions from the on-disk cache (see :func:`compile_model`). Not thread-safe: two
        threads asking for a new key at once both compile it.
    """
    if (key, backend) not in _COMPILED:
        _COMPILED[key, backend] = compile_model(build(), backend=backend)
    return _COMPILED[key, backend]


def compile_model(model, backend: str = "pyfunc", *, persist: bool = True) -> CompiledModel:
    """Compile ``model``'s log density and gradient for nutpie.

    Parameters
    ----------
    model : pymc.Model
        A model whose data live in ``pm.Data`` containers and whose free variables are all
        continuous.
    backend : {"pyfunc", "numba"}
        ``pyfunc``: PyTensor's jitted function behind nutpie's Python-function interface
        (compiles in seconds once cached on disk). ``numba``: nutpie's own compiler (slow to
        compile, faster per gradient evaluation; its C callback is not cached on disk).
    persist : bool
        ``pyfunc`` only: look the compiled PyTensor functions up in (and add them to) the
        on-disk cache ``<pytensor base_compiledir>/imr_bayes``, keyed by a fingerprint of the
        model's graph, the library versions and :data:`CACHE_FORMAT`.

    Notes
    -----
    Both backends compile inside :func:`deterministic_numba` and call each function once
    there, so no numba code of the model is generated with fast-math flags.
    """
    if backend not in ("pyfunc", "numba"):
        raise ImrBayesError(f"unknown backend {backend!r}; valid: pyfunc, numba")
    with deterministic_numba():
        if backend == "numba":
            return _compile_numba(model)
        return _compile_pyfunc(model, persist=persist)


def _compile_numba(model) -> CompiledModel:
    import nutpie
    from pytensor.tensor.sharedvar import TensorSharedVariable

    data_vars = [v for v in model.named_vars.values() if isinstance(v, TensorSharedVariable)]
    compiled = nutpie.compile_pymc_model(model)  # compiles its C callback eagerly
    compiled.initial_point_func(0)  # PyMC's initial-point function compiles on first call
    used = frozenset(v.name for v in compiled.shared_var_keys)
    return CompiledModel(compiled, model, tuple(v.name for v in data_vars),
                         {v.name: str(v.dtype) for v in data_vars}, None, used)


def _compile_pyfunc(model, *, persist: bool) -> CompiledModel:
    from nutpie.compiled_pyfunc import from_pyfunc
    from pymc.initial_point import make_initial_point_fn
    from pytensor.tensor.sharedvar import TensorSharedVariable

    free = list(model.free_RVs)
    values = [model.rvs_to_values[v] for v in free]
    point = model.initial_point(0)
    shapes = [tuple(np.shape(point[v.name])) for v in values]
    n_dim = sum(math.prod(s) for s in shapes)
    data_vars = [v for v in model.named_vars.values() if isinstance(v, TensorSharedVariable)]
    data_names = tuple(v.name for v in data_vars)
    logp = model.logp()
    # Trace the free variables on their constrained scale, and the deterministics.
    names = [v.name for v in free]
    by_name = {u.name: u for u in model.unobserved_value_vars}
    names += [d.name for d in model.deterministics if d.name in by_name]
    expand = [by_name[n] for n in names]

    path = None
    if persist:
        key = _fingerprint([logp, *expand], values, shapes, data_vars)
        path = None if key is None else _cache_dir() / f"{key}.pkl"
    functions = _load(path) if path is not None else None
    if functions is None:
        functions = _build_functions(logp, expand, values, shapes, data_vars)
        if path is not None:
            _store(path, functions)
    logp_fn, expand_fn = (_jitted(f) for f in functions)

    x0 = np.concatenate([np.ravel(point[v.name]) for v in values]).astype("float64")
    data0 = [np.ascontiguousarray(v.get_value()) for v in data_vars]
    logp_fn(x0, *data0)  # numba compiles (or loads) on the first call: do it here
    rv_shapes = [tuple(np.shape(o)) for o in expand_fn(x0, *data0)]

    init = make_initial_point_fn(model=model, jitter_rvs=set(free), return_transformed=True)
    init(0)
    lock = threading.Lock()  # the PyMC initial-point function is not thread-safe

    def initial_point(seed: int) -> np.ndarray:
        with lock:
            pt_ = init(seed)
        return np.concatenate([np.ravel(pt_[v.name]) for v in values]).astype("float64")

    def make_logp_func():
        def logp(x, /, **data):
            val, g = logp_fn(x, *[data[n] for n in data_names])
            return float(val), np.asarray(g, dtype="float64", order="C")

        return logp

    def make_expand_func(seed1, seed2, chain):
        def expand(x, /, **data):
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


def _build_functions(logp, expand: list, values: list, shapes: list[tuple[int, ...]],
                     data_vars: list) -> tuple[Any, Any]:
    """Compile ``(x, *data) -> (logp, grad)`` and ``(x, *data) -> expand`` with PyTensor.

    ``x`` is the free variables' unconstrained values joined into one vector; every data
    container becomes an explicit input and every other shared variable (dimension lengths)
    a constant, so the functions hold no state.
    """
    import pytensor
    import pytensor.tensor as pt
    from pytensor.compile.sharedvalue import SharedVariable
    from pytensor.graph import clone_replace
    from pytensor.graph.traversal import ancestors

    offsets = np.cumsum([0, *(math.prod(s) for s in shapes)])
    joined = pt.dvector("__joined")
    replace: dict[Any, Any] = {
        v: joined[int(offsets[k]):int(offsets[k + 1])].reshape(shapes[k]).astype(v.dtype)
        for k, v in enumerate(values)
    }
    data_inputs = [pt.tensor(name=v.name, dtype=v.dtype, shape=(None,) * v.ndim)
                   for v in data_vars]
    replace.update(dict(zip(data_vars, data_inputs, strict=True)))
    grad = pt.concatenate([g.ravel() for g in pt.grad(logp, values)])
    for var in ancestors([logp, grad, *expand]):
        if isinstance(var, SharedVariable) and var not in replace:
            replace[var] = pt.constant(var.get_value(), dtype=var.dtype)
    logp_r, grad_r, *expand_r = clone_replace([logp, grad, *expand], replace)
    logp_fn = pytensor.function([joined, *data_inputs], [logp_r, grad_r], mode="NUMBA",
                                on_unused_input="ignore")
    expand_fn = pytensor.function([joined, *data_inputs], expand_r, mode="NUMBA",
                                  on_unused_input="ignore")
    return logp_fn, expand_fn


def _fingerprint(outputs: list, values: list, shapes: list[tuple[int, ...]],
                 data_vars: list) -> str | None:
    """Hash the graph of ``outputs`` before compilation; ``None`` if it cannot be hashed.

    Every node contributes its Op (type and pickled state), the labels of its inputs and its
    output types, in topological order. Leaves are labelled by role: the k-th free value
    variable with its shape, a data container by name and type, a constant or another
    shared variable by its dtype, shape and bytes. The data names in input order, the
    fast-math flag, the library versions and :data:`CACHE_FORMAT` are hashed too. Two graphs
    with equal fingerprints compile to the same functions; a graph that differs only in
    something an Op does not pickle deterministically merely misses the cache.
    """
    import cloudpickle
    import nutpie
    import pymc
    import pytensor
    from pytensor.compile.sharedvalue import SharedVariable
    from pytensor.graph.basic import Constant
    from pytensor.graph.traversal import toposort

    def array_label(prefix: str, value: Any) -> str:
        arr = np.ascontiguousarray(value)
        digest = hashlib.sha256(arr.tobytes()).hexdigest()
        return f"{prefix}:{arr.dtype.str}:{arr.shape}:{digest}"

    label: dict[Any, str] = {v: f"value{k}:{v.type}:{shapes[k]}" for k, v in enumerate(values)}
    label.update({v: f"data:{v.name}:{v.type}" for v in data_vars})
    h = hashlib.sha256()
    h.update(repr((CACHE_FORMAT, bool(pytensor.config.numba__fastmath), sys.version,
                   pytensor.__version__, pymc.__version__, nutpie.__version__, np.__version__,
                   tuple(v.name for v in data_vars))).encode())
    for n, node in enumerate(toposort(outputs)):
        args = []
        for var in node.inputs:
            if var not in label:
                if isinstance(var, Constant):
                    label[var] = array_label("const", var.data)
                elif isinstance(var, SharedVariable):
                    label[var] = array_label("shared", var.get_value())
                else:
                    return None  # a root the compiled function would not know
            args.append(label[var])
        try:
            op_state = cloudpickle.dumps(node.op, protocol=5)
        except (pickle.PicklingError, TypeError, AttributeError):
            return None
        op_type = type(node.op)
        h.update(f"{op_type.__module__}.{op_type.__qualname__}".encode())
        h.update(hashlib.sha256(op_state).digest())
        h.update(repr((args, [str(o.type) for o in node.outputs])).encode())
        for k, out in enumerate(node.outputs):
            label[out] = f"node{n}.{k}"
    for out in outputs:
        if out not in label:
            return None
        h.update(label[out].encode())
    return h.hexdigest()


def _cache_dir() -> Path:
    """Folder of the compiled-function cache: ``<pytensor base_compiledir>/imr_bayes``."""
    import pytensor

    return Path(pytensor.config.base_compiledir) / "imr_bayes"


def _load(path: Path) -> tuple[Any, Any] | None:
    """Unpickle ``(logp_fn, expand_fn)`` from ``path``; ``None`` if absent or unreadable.

    Unpickling a PyTensor function re-links the already rewritten graph (numba then loads
    its machine code from PyTensor's disk cache); it does not rewrite the graph again.
    """
    try:
        with path.open("rb") as f:
            functions = pickle.load(f)
    except Exception:  # absent, truncated or stale (unimportable Op): compile and replace it
        return None
    if not (isinstance(functions, tuple) and len(functions) == 2 and None not in functions):
        return None  # pytensor.config.unpickle_function=False unpickles functions as None
    return functions


def _store(path: Path, functions: tuple[Any, Any]) -> None:
    """Pickle the compiled functions to ``path`` atomically (concurrent writers are safe).

    cloudpickle, because some graphs hold Ops with local functions (``OpFromGraph``
    gradients); a graph that still cannot be pickled is simply not stored.
    """
    import cloudpickle

    from imr_bayes.atomic import atomic_path

    try:
        data = cloudpickle.dumps(functions, protocol=5)
    except (pickle.PicklingError, TypeError, AttributeError):
        return
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


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
        Same seed, same data => identical draws, whatever the state of the compile caches.
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
