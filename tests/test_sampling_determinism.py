"""Same seed, same draws, whatever the state of the compile caches (issue 15).

Before the fix PyTensor generated the models' numba code with fast-math flags. numba keeps a
copy of every callee inside each caller's compiled object, and under fast-math those copies
may round differently; which copy a call reached depended on whether the process had just
compiled the code or loaded it from the disk cache. A fit in a process with a cold cache and
the same fit with a warm cache then gave different draws (``docs/performance.md``).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from imr_bayes.bayes import sampling

#: An LLVM floating-point instruction or call carrying any fast-math flag.
FAST_MATH = re.compile(r"\b(?:fadd|fsub|fmul|fdiv|frem|fneg|fcmp|call)\b[^\n]*"
                       r"\b(?:fast|reassoc|contract|afn|arcp|nnan|ninf|nsz)\b")

FIT_SCRIPT = """
import hashlib, json
import numpy as np
import imr_bayes
from imr_bayes.data import default_twin

fit = imr_bayes.fit(default_twin(), outcome="imrs_client", analysis="itt", backend="pyfunc",
                    draws=60, tune=60, chains=2, seed=20261130)
post = fit.idata["posterior"].to_dataset()
print(json.dumps({name: hashlib.sha256(np.ascontiguousarray(post[name].values).tobytes())
                  .hexdigest() for name in sorted(post.data_vars)}))
"""


def _llvm_ir(fastmath_off: bool) -> str:
    """LLVM IR of a small freshly compiled PyTensor numba function (no disk cache)."""
    import pytensor
    import pytensor.tensor as pt

    x = pt.dvector("x")
    y = pt.exp(x).sum() + (x * x).sum() * 0.5
    with pytensor.config.change_flags(numba__cache=False, numba__fastmath=True):
        with sampling.deterministic_numba() if fastmath_off else contextlib.nullcontext():
            fn = pytensor.function([x], y, mode="NUMBA")
            fn(np.arange(5.0))
    return "".join(fn.vm.jit_fn.inspect_llvm().values())


def test_deterministic_numba_generates_no_fast_math_code():
    assert FAST_MATH.search(_llvm_ir(fastmath_off=False))  # the check sees the flags
    assert not FAST_MATH.search(_llvm_ir(fastmath_off=True))


def _tiny_model(prior_sd: float):
    import pymc as pm

    rng = np.random.default_rng(3)
    with pm.Model() as model:
        x = pm.Data("x", rng.normal(size=20))
        y = pm.Data("y", rng.normal(size=20))
        beta = pm.Normal("beta", 0.0, prior_sd, shape=2)
        sigma = pm.HalfNormal("sigma", 1.0)
        pm.Normal("obs", beta[0] + beta[1] * x, sigma, observed=y)
    return model


def _draws(compiled: sampling.CompiledModel) -> np.ndarray:
    tree = sampling.sample(compiled, draws=30, tune=30, chains=1, cores=1, seed=11)
    return tree["posterior"]["beta"].values


def test_compiled_functions_persist_by_graph_fingerprint(tmp_path, monkeypatch):
    monkeypatch.setattr(sampling, "_cache_dir", lambda: tmp_path)
    first = sampling.compile_model(_tiny_model(1.0))
    assert len(list(tmp_path.glob("*.pkl"))) == 1

    def no_compile(*args, **kwargs):
        raise AssertionError("compiled again instead of loading the stored functions")

    monkeypatch.setattr(sampling, "_build_functions", no_compile)
    loaded = sampling.compile_model(_tiny_model(1.0))  # a new model object, same graph
    np.testing.assert_array_equal(_draws(first), _draws(loaded))
    with pytest.raises(AssertionError, match="compiled again"):
        sampling.compile_model(_tiny_model(2.0))  # another prior is another graph


def test_compiled_model_reuses_in_process(monkeypatch):
    monkeypatch.setattr(sampling, "_COMPILED", {})
    built = []

    def build():
        built.append(1)
        return _tiny_model(1.0)

    one = sampling.compiled_model("tiny", build, "pyfunc")
    assert sampling.compiled_model("tiny", build, "pyfunc") is one
    assert len(built) == 1


def _fit_in_fresh_process(compile_dir: Path) -> dict[str, str]:
    flags = [f for f in os.environ.get("PYTENSOR_FLAGS", "").split(",")
             if f and not f.startswith("base_compiledir")]
    env = {**os.environ, "PYTENSOR_FLAGS": ",".join([*flags, f"base_compiledir={compile_dir}"]),
           "NUMBA_CACHE_DIR": str(compile_dir / "numba_user")}
    run = subprocess.run([sys.executable, "-c", FIT_SCRIPT], env=env, capture_output=True,
                         text=True, check=True)
    return json.loads(run.stdout.strip().splitlines()[-1])


def _cache_files(compile_dir: Path) -> set[str]:
    return {str(p.relative_to(compile_dir)) for p in compile_dir.rglob("*") if p.is_file()}


@pytest.mark.slow
def test_same_draws_with_cold_and_warm_compile_caches(tmp_path):
    cold = _fit_in_fresh_process(tmp_path)  # empty private cache: everything compiled
    files = _cache_files(tmp_path)
    assert any(f.startswith("numba/") for f in files)
    warm = _fit_in_fresh_process(tmp_path)  # the same cache, now warm: everything loaded
    assert warm == cold  # bitwise identical draws of every posterior variable
    assert _cache_files(tmp_path) == files  # the warm process compiled nothing again
    assert any(f.startswith("imr_bayes/") for f in files)  # the stored PyTensor functions
