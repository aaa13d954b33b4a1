"""The study machinery on a closed-form study: seeding, store, resume, clusters, errors.

The replicate here is a conjugate normal model (known variance), whose posterior is exact, so
these tests exercise dask.distributed, the store and resume without any MCMC. Each test that
runs a study starts and stops its own LocalCluster, as the CLI does: process workers where
worker processes matter (two workers, two processes), thread workers elsewhere because
starting worker processes costs 3-10 s on the shared 2-core machine (measured).
"""

from __future__ import annotations

import socket
import sys
from pathlib import Path

import cloudpickle
import numpy as np
import pandas as pd
import pytest
from scipy import stats

from imr_bayes.errors import StudyError
from imr_bayes.studies import Store, Study, replicate_seed, run_study
from imr_bayes.studies.store import replicate_file

# Worker processes cannot import this test module; ship its functions by value.
cloudpickle.register_pickle_by_value(sys.modules[__name__])


def _conjugate_replicate(*, index, seed, settings, context):
    """mu ~ N(0, tau^2); y_1..n ~ N(mu, sigma^2); exact posterior of mu."""
    rng = np.random.default_rng(seed)
    tau, sigma, n = settings["tau"], settings["sigma"], settings["n"]
    if index in settings["fail_on"]:
        raise RuntimeError(f"planted failure in replicate {index}")
    mu = rng.normal(0.0, tau)
    y = rng.normal(mu, sigma, size=n)
    precision = 1 / tau**2 + n / sigma**2
    mean, sd = (y.sum() / sigma**2) / precision, precision**-0.5
    z = stats.norm.ppf(0.975)
    return pd.DataFrame({"true": [mu], "mean": [mean], "sd": [sd],
                         "covered": [abs(mu - mean) <= z * sd]})


def _summarize(store_dir):
    rows = Store.load(store_dir).read()
    return pd.DataFrame({"coverage": [rows["covered"].mean()], "n": [len(rows)]})


CONJUGATE = Study(
    name="conjugate", description="closed-form normal model", replicate=_conjugate_replicate,
    defaults={"tau": 1.0, "sigma": 2.0, "n": 10, "fail_on": []}, quick={"n": 3},
    summarize=_summarize, plot=lambda store_dir: None,
)
COLUMNS = ["replicate", "true", "mean", "sd", "covered"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_replicate_seed_is_the_spawned_child_whatever_the_count():
    for n in (3, 10):
        child = np.random.SeedSequence(77).spawn(n)[2]
        assert (np.random.default_rng(child).random(4)
                == np.random.default_rng(replicate_seed(77, 2)).random(4)).all()


@pytest.fixture(scope="module")
def two_worker_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("w2")
    return run_study(CONJUGATE, replicates=6, out=out, seed=11, workers=2)


def test_results_do_not_depend_on_worker_count(two_worker_run, tmp_path):
    one = run_study(CONJUGATE, replicates=6, out=tmp_path, seed=11, workers=1, processes=False)
    assert (one.workers, two_worker_run.workers) == (1, 2)
    assert one.computed == two_worker_run.computed == tuple(range(6))
    a = Store.load(tmp_path).read()[COLUMNS]
    b = Store.load(two_worker_run.store).read()[COLUMNS]
    pd.testing.assert_frame_equal(a, b)
    # Both workers of the 2-worker cluster did work (2 distinct worker processes).
    assert Store.load(two_worker_run.store).read()["worker"].nunique() == 2


def test_replicate_matches_a_direct_call(two_worker_run):
    """The stored replicate 4 is exactly what the function gives for seed child 4."""
    direct = _conjugate_replicate(index=4, seed=np.random.SeedSequence(11).spawn(6)[4],
                                  settings=CONJUGATE.defaults, context=None)
    stored = Store.load(two_worker_run.store).read().set_index("replicate").loc[4]
    assert stored["true"] == direct["true"].iloc[0]
    # Hand-computed posterior: precision 1/1 + 10/4 = 3.5 -> sd = 3.5 ** -0.5.
    assert stored["sd"] == pytest.approx(3.5**-0.5, rel=1e-12)


def test_interrupted_study_resumes_without_refitting(two_worker_run, tmp_path):
    seen = []

    def interrupt_after_two(index, done, total):
        seen.append(index)
        if done == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_study(CONJUGATE, replicates=6, out=tmp_path, seed=11, workers=1,
                  processes=False, on_result=interrupt_after_two)
    store = Store.load(tmp_path)
    assert store.finished() == set(seen) and len(seen) == 2
    # A kill in the middle of a write leaves only a hidden partial file: not "finished".
    (tmp_path / "replicates" / ".rep_000005.parquet.x.part").write_bytes(b"truncated")
    assert store.finished() == set(seen)
    mtimes = {i: replicate_file(tmp_path, i).stat().st_mtime_ns for i in seen}

    rerun = run_study(CONJUGATE, replicates=6, out=tmp_path, seed=11, workers=1,
                      processes=False)
    assert rerun.skipped == tuple(sorted(seen))
    assert set(rerun.computed) == set(range(6)) - set(seen)
    assert {i: replicate_file(tmp_path, i).stat().st_mtime_ns for i in seen} == mtimes
    # The resumed store equals the uninterrupted one, replicate by replicate.
    pd.testing.assert_frame_equal(Store.load(tmp_path).read()[COLUMNS],
                                  Store.load(two_worker_run.store).read()[COLUMNS])
    # A second rerun computes nothing; a larger R computes only the new indices.
    again = {"out": tmp_path, "seed": 11, "workers": 1, "processes": False}
    assert run_study(CONJUGATE, replicates=6, **again).computed == ()
    assert run_study(CONJUGATE, replicates=7, **again).computed == (6,)


def test_existing_scheduler_is_used(tmp_path):
    from distributed import LocalCluster

    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                      dashboard_address=":0") as cluster:
        result = run_study(CONJUGATE, replicates=3, out=tmp_path, seed=11, quick=True,
                           scheduler=cluster.scheduler_address)
    assert result.computed == (0, 1, 2) and result.workers == 1
    assert Store.load(tmp_path).settings["n"] == 3


def test_failed_replicate_is_reported_and_others_kept(tmp_path):
    with pytest.raises(StudyError, match=r"replicate 2 of study 'conjugate' failed: "
                                         r"RuntimeError: planted failure"):
        run_study(CONJUGATE, replicates=4, out=tmp_path, seed=11, workers=1,
                  processes=False, settings={"fail_on": [2]})
    assert 2 not in Store.load(tmp_path).finished()


def test_store_of_another_run_is_refused(two_worker_run):
    with pytest.raises(StudyError, match=r"seed: stored 11, requested 12"):
        run_study(CONJUGATE, replicates=6, out=two_worker_run.store, seed=12, workers=1)
    with pytest.raises(StudyError, match=r"settings"):
        run_study(CONJUGATE, replicates=6, out=two_worker_run.store, seed=11, quick=True,
                  workers=1)


def test_bad_arguments_are_domain_errors(tmp_path):
    with pytest.raises(StudyError, match=r"Did you mean 'coverage'"):
        run_study("coverag", replicates=2, out=tmp_path)
    with pytest.raises(StudyError, match=r"unknown conjugate setting 'sigm'.*'sigma'"):
        run_study(CONJUGATE, replicates=2, out=tmp_path, settings={"sigm": 1})
    with pytest.raises(StudyError, match=r"replicates must be a positive integer"):
        run_study(CONJUGATE, replicates=0, out=tmp_path)
    with pytest.raises(StudyError, match=r"not both"):
        run_study(CONJUGATE, replicates=2, out=tmp_path, workers=1,
                  scheduler="tcp://127.0.0.1:8786")
    with pytest.raises(StudyError, match=r"needs a protocol"):
        run_study(CONJUGATE, replicates=2, out=tmp_path, scheduler="127.0.0.1:8786")


def test_unreachable_scheduler_is_a_clear_error(tmp_path):
    address = f"tcp://127.0.0.1:{_free_port()}"
    with pytest.raises(StudyError, match=rf"cannot reach the Dask scheduler at {address} "
                                         r"within 1 s"):
        run_study(CONJUGATE, replicates=2, out=tmp_path, scheduler=address,
                  connect_timeout=1)


def test_cli_unreachable_scheduler_exits_nonzero_without_traceback(tmp_path, capsys):
    from imr_bayes.cli import main

    address = f"tcp://127.0.0.1:{_free_port()}"
    code = main(["study", "coverage", "--replicates", "2", "--scheduler", address,
                 "--timeout", "1", "--out", str(tmp_path / "s"), "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith(f"imr-bayes study: error: cannot reach the Dask scheduler at {address}")
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_store_read_orders_replicates(tmp_path):
    store = Store.open(tmp_path, study="x", seed=1, settings={"a": (1, 2)})
    for i in (3, 0, 1):
        store.write(i, pd.DataFrame({"v": [float(i)]}))
    assert store.read()["replicate"].tolist() == [0, 1, 3]
    # Tuples are stored as JSON lists and compare equal on reopening.
    assert Store.open(tmp_path, study="x", seed=1, settings={"a": [1, 2]}).finished() == {0, 1, 3}
    assert not Path(tmp_path, "replicates", "rep_000002.parquet").exists()
