"""Run a simulation study's replicates as independent tasks on dask.distributed.

Each replicate ``i`` is a pure function of the study's settings, an optional shared context
and its own seed, ``numpy.random.SeedSequence(seed).spawn(R)[i]`` (built directly as
``SeedSequence(seed, spawn_key=(i,))``), so replicate ``i`` gives the same numbers whatever
the number of workers, the order of completion, or how often the study was interrupted.

The client process writes each result to the :class:`~imr_bayes.studies.store.Store` as soon
as it arrives (one Parquet file per replicate, atomically), so workers need no shared file
system, an interrupted study loses only the replicates in flight, and a rerun computes only
the missing indices.

Worker processes run one thread each with single-threaded BLAS (the nanny's
``pre-spawn-environ`` sets ``OMP/MKL/OPENBLAS_NUM_THREADS=1`` and every task additionally
runs under ``threadpoolctl.threadpool_limits(1)``). Studies cache their compiled models in
module-level caches, which live once per worker process, not once per replicate.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
import socket
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd

from imr_bayes.constants import DEFAULT_SEED
from imr_bayes.errors import StudyError
from imr_bayes.outcomes import unknown_choice_message
from imr_bayes.studies.store import Store

#: Study name -> module defining ``STUDY``; imported lazily (the studies import PyMC).
STUDIES: dict[str, str] = {
    "coverage": "imr_bayes.studies.coverage",
    "nesting": "imr_bayes.studies.nesting",
    "assurance": "imr_bayes.studies.assurance",
}

#: Seconds to wait for a ``--scheduler`` to answer (and to show at least one worker).
CONNECT_TIMEOUT: float = 10.0


class ReplicateFunction(Protocol):
    """Signature of a study's replicate: pure in its arguments, returns a tidy frame."""

    def __call__(
        self,
        *,
        index: int,
        seed: np.random.SeedSequence,
        settings: Mapping[str, Any],
        context: pd.DataFrame | None,
    ) -> pd.DataFrame:
        """Compute replicate ``index`` and return its rows."""


@dataclass(frozen=True)
class Study:
    """A simulation study: what one replicate computes and how replicates are summarized.

    Attributes
    ----------
    name : str
        Short name (the ``imr-bayes study NAME`` argument).
    description : str
        One line for ``--help`` and reports.
    replicate : callable
        ``replicate(*, index, seed, settings, context) -> DataFrame``. Must be importable by
        workers (a module-level function).
    defaults : dict
        Settings of a full run.
    quick : dict
        Overrides of ``defaults`` for ``--quick`` (tiny fits, for smoke runs and tests).
    summarize : callable
        ``summarize(store_dir) -> DataFrame``, the study's summary table.
    plot : callable
        ``plot(store_dir) -> matplotlib Figure`` (same argument as ``summarize``).
    prepare : callable or None
        ``prepare(*, settings, seed) -> DataFrame``: a shared input computed once on the
        cluster before the replicates (stored as ``context.parquet`` and reused on resume).
    """

    name: str
    description: str
    replicate: ReplicateFunction
    defaults: Mapping[str, Any]
    quick: Mapping[str, Any]
    summarize: Callable[[str | Path], pd.DataFrame]
    plot: Callable[..., Any]
    prepare: Callable[..., pd.DataFrame] | None = field(default=None)

    def settings(
        self, *, quick: bool = False, overrides: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        """Return the settings of a run: defaults, then ``quick``, then ``overrides``.

        Raises
        ------
        StudyError
            If an override names an unknown setting.
        """
        out = dict(self.defaults)
        if quick:
            out.update(self.quick)
        for key, value in (overrides or {}).items():
            if key not in out:
                raise StudyError(
                    unknown_choice_message(f"{self.name} setting", key, sorted(out))
                )
            out[key] = value
        return out


@dataclass(frozen=True)
class StudyRun:
    """What one call of :func:`run_study` did.

    Attributes
    ----------
    study : str
        Study name.
    store : Path
        The store folder.
    replicates : int
        Number of replicates requested (indices ``0 .. replicates - 1``).
    computed : tuple of int
        Indices computed by this call.
    skipped : tuple of int
        Indices already in the store, not recomputed.
    seconds : float
        Wall time of the replicates (excluding cluster start-up and preparation).
    workers : int
        Number of workers the scheduler had when the replicates were submitted.
    """

    study: str
    store: Path
    replicates: int
    computed: tuple[int, ...]
    skipped: tuple[int, ...]
    seconds: float
    workers: int

    @property
    def per_minute(self) -> float:
        """Replicates computed per minute of wall time (nan if none were computed)."""
        if not self.computed or self.seconds <= 0:
            return float("nan")
        return 60.0 * len(self.computed) / self.seconds


def get_study(name: str | Study) -> Study:
    """Return the study registered as ``name`` (a :class:`Study` passes through).

    Raises
    ------
    StudyError
        If ``name`` is not a registered study.
    """
    if isinstance(name, Study):
        return name
    if name not in STUDIES:
        raise StudyError(unknown_choice_message("study", name, tuple(STUDIES)))
    return importlib.import_module(STUDIES[name]).STUDY


def replicate_seed(seed: int, index: int) -> np.random.SeedSequence:
    """Return replicate ``index``'s seed, ``SeedSequence(seed).spawn(n)[index]`` for n > index."""
    return np.random.SeedSequence(int(seed), spawn_key=(int(index),))


def run_study(
    study: str | Study,
    *,
    replicates: int,
    out: str | Path,
    seed: int = DEFAULT_SEED,
    quick: bool = False,
    settings: Mapping[str, Any] | None = None,
    workers: int | None = None,
    scheduler: str | None = None,
    processes: bool = True,
    connect_timeout: float = CONNECT_TIMEOUT,
    on_result: Callable[[int, int, int], None] | None = None,
) -> StudyRun:
    """Run the missing replicates of a study and store each result as it arrives.

    Parameters
    ----------
    study : str or Study
        A registered study name (``coverage``, ``nesting``, ``assurance``) or a Study.
    replicates : int
        Number of replicates; indices ``0 .. replicates - 1`` are run unless already stored.
    out : path-like
        The store folder. Rerunning with the same folder resumes.
    seed : int
        Root seed; replicate ``i`` uses :func:`replicate_seed` ``(seed, i)``.
    quick : bool
        Use the study's quick settings (tiny fits).
    settings : mapping, optional
        Overrides of individual settings (names must exist in the study's defaults).
    workers : int, optional
        Workers of the LocalCluster started for this run (default: number of CPUs).
        Exclusive with ``scheduler``.
    scheduler : str, optional
        Address of a running Dask scheduler (``tcp://host:port``) to use instead of a
        LocalCluster.
    processes : bool
        LocalCluster workers as processes (default) or threads of this process.
    connect_timeout : float
        Seconds to wait for ``scheduler`` to answer and to have at least one worker.
    on_result : callable, optional
        Called as ``on_result(index, done, total)`` after each stored replicate (the
        command line drives its progress bar with it).

    Returns
    -------
    StudyRun

    Raises
    ------
    StudyError
        Bad arguments, an unreachable scheduler, a store of another run, or a replicate that
        failed (finished replicates stay stored; a rerun resumes).
    """
    spec = get_study(study)
    if isinstance(replicates, bool) or not isinstance(replicates, int) or replicates < 1:
        raise StudyError(f"replicates must be a positive integer, got {replicates!r}")
    if workers is not None and scheduler is not None:
        raise StudyError("give either workers (a local cluster) or scheduler, not both")
    if workers is not None and (isinstance(workers, bool) or workers < 1):
        raise StudyError(f"workers must be a positive integer, got {workers!r}")
    if scheduler is not None and "://" not in scheduler:
        raise StudyError(
            f"scheduler address {scheduler!r} needs a protocol, e.g. tcp://host:8786"
        )
    config = spec.settings(quick=quick, overrides=settings)
    store = Store.open(out, study=spec.name, seed=seed, settings=config)
    done = store.finished()
    todo = [i for i in range(replicates) if i not in done]
    skipped = tuple(sorted(i for i in done if i < replicates))
    with _connect(workers=workers, scheduler=scheduler, processes=processes,
                  timeout=connect_timeout) as client:
        n_workers = len(client.scheduler_info(n_workers=-1)["workers"])
        context = _context(client, spec, store, config, seed)
        start = time.perf_counter()
        computed = _compute(client, spec, store, todo, config, context, seed, on_result,
                            total=replicates, already=len(skipped))
        seconds = time.perf_counter() - start
    return StudyRun(
        study=spec.name, store=store.root, replicates=replicates, computed=tuple(computed),
        skipped=skipped, seconds=seconds, workers=n_workers,
    )


@contextlib.contextmanager
def _connect(*, workers: int | None, scheduler: str | None, processes: bool,
             timeout: float) -> Iterator[Any]:
    """Yield a connected ``distributed.Client``; close it (and a local cluster) on exit."""
    from distributed import Client, LocalCluster

    with contextlib.ExitStack() as stack:
        if scheduler is None:
            cluster = stack.enter_context(LocalCluster(
                n_workers=workers or os.cpu_count() or 1, threads_per_worker=1,
                processes=processes, dashboard_address=":0", silence_logs=logging.ERROR,
            ))
            yield stack.enter_context(Client(cluster))
            return
        try:
            client = stack.enter_context(Client(scheduler, timeout=timeout))
        except (OSError, TimeoutError) as exc:
            raise StudyError(
                f"cannot reach the Dask scheduler at {scheduler} within {timeout:g} s "
                f"({exc}); start one with `dask scheduler` or omit --scheduler to use a "
                "local cluster"
            ) from None
        try:
            client.wait_for_workers(1, timeout=timeout)
        except (OSError, TimeoutError):
            raise StudyError(
                f"the Dask scheduler at {scheduler} has no workers after {timeout:g} s; "
                f"start some with `dask worker {scheduler}`"
            ) from None
        yield client


def _context(client: Any, spec: Study, store: Store, config: dict[str, Any],
             seed: int) -> Any:
    """Return the shared context (a scattered future), computing and storing it once."""
    if spec.prepare is None:
        return None
    frame = store.read_context()
    if frame is None:
        future = client.submit(_prepare_task, spec.prepare, config, seed, pure=False)
        frame = future.result()
        store.write_context(frame)
    return client.scatter(frame, broadcast=True)


def _compute(client: Any, spec: Study, store: Store, todo: list[int], config: dict[str, Any],
             context: Any, seed: int, on_result: Callable[[int, int, int], None] | None,
             *, total: int, already: int) -> list[int]:
    """Submit ``todo``, store each result as it completes; return the indices stored."""
    from distributed import as_completed

    token = uuid.uuid4().hex[:8]
    futures = {
        client.submit(
            _replicate_task, spec.replicate, i, int(seed), config, context,
            key=f"{spec.name}-{token}-{i:06d}", priority=-i, pure=False,
        ): i
        for i in todo
    }
    stored: list[int] = []
    try:
        for future in as_completed(futures):
            index = futures[future]
            if future.status == "error":
                exc = future.exception()
                raise StudyError(
                    f"replicate {index} of study {spec.name!r} failed: "
                    f"{type(exc).__name__}: {exc} ({len(stored) + already} finished "
                    "replicates are stored; rerun to resume)"
                )
            store.write(index, future.result())
            stored.append(index)
            if on_result is not None:
                on_result(index, len(stored) + already, total)
    finally:
        client.cancel(list(futures))
    return sorted(stored)


def _prepare_task(prepare: Callable[..., pd.DataFrame], config: dict[str, Any],
                  seed: int) -> pd.DataFrame:
    """Worker side of a study's ``prepare`` step, with single-threaded BLAS."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1):
        return prepare(settings=config, seed=seed)


def _replicate_task(replicate: ReplicateFunction, index: int, seed: int,
                    config: dict[str, Any], context: pd.DataFrame | None) -> pd.DataFrame:
    """Worker side of one replicate: seed, single-threaded BLAS, timing and worker id."""
    from threadpoolctl import threadpool_limits

    start, cpu = time.perf_counter(), time.process_time()
    with threadpool_limits(1):
        frame = replicate(index=index, seed=replicate_seed(seed, index), settings=config,
                          context=context)
    # cpu_seconds: CPU time of the worker process (all its threads) during the replicate.
    return frame.assign(
        seconds=time.perf_counter() - start, cpu_seconds=time.process_time() - cpu,
        worker=f"{socket.gethostname()}:{os.getpid()}",
    )
