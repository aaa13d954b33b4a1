"""Scaling of the simulation studies: replicates per minute with 1 and 2 local Dask workers.

Runs the ``coverage`` study (full settings: numba-compiled ITT model, 2 chains x 500 draws)
on a LocalCluster of 1, then 2 worker processes. Each cluster is warmed up first (every worker
compiles the model and builds the twin's caches through ``Client.run``), so the timed part is
steady-state throughput; the warm-up time is reported separately. Both runs use the same seed,
so they compute the same replicates, and the bench checks that their results are identical.

Writes the section ``## Simulation studies`` of ``bench/results.md`` (replacing an older
version of that section only). Run standalone (``python bench/bench_studies.py [R]``) or via
``bench/run.py``.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
from results_md import write_section

from imr_bayes.studies import Store, run_study
from imr_bayes.studies.fitting import warm_up

HERE = Path(__file__).resolve().parent
WORK = HERE / "_work" / "studies"
SECTION = "## Simulation studies"
SEED = 2026
COLUMNS = ["replicate", "true", "mean", "sd", "eti95_low", "eti95_high", "rank"]


def measure(workers: int, replicates: int) -> dict[str, float]:
    """Time ``replicates`` coverage replicates on a warmed-up LocalCluster of ``workers``."""
    from distributed import Client, LocalCluster

    out = WORK / f"coverage_w{workers}"
    if out.exists():
        import shutil

        shutil.rmtree(out)
    load_before = os.getloadavg()[0]
    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                      dashboard_address=":0", silence_logs=logging.ERROR) as cluster, \
            Client(cluster) as client:
        start = time.perf_counter()
        client.run(warm_up)
        warm = time.perf_counter() - start
        run = run_study("coverage", replicates=replicates, out=out, seed=SEED,
                        scheduler=cluster.scheduler_address)
    rows = Store.load(out).read()
    return {"workers": run.workers, "replicates": len(run.computed), "warm_up_s": warm,
            "seconds": run.seconds, "per_minute": run.per_minute,
            "cpu_per_replicate": float(rows["cpu_seconds"].median()),
            "wall_per_replicate": float(rows["seconds"].median()),
            "load_before": load_before, "load_after": os.getloadavg()[0]}


def main(argv: list[str] | None = None) -> int:
    """Measure 1 and 2 workers, check identical results, write the results section."""
    argv = sys.argv[1:] if argv is None else argv
    replicates = int(argv[0]) if argv else 40
    rows = [measure(w, replicates) for w in (1, 2)]
    same = Store.load(WORK / "coverage_w1").read()[COLUMNS].equals(
        Store.load(WORK / "coverage_w2").read()[COLUMNS])
    table = pd.DataFrame(rows)
    ratio = table["per_minute"].iloc[1] / table["per_minute"].iloc[0]
    body = [
        SECTION, "",
        f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC by `bench/bench_studies.py` "
        f"(`coverage` study, full settings: numba-compiled ITT model, 2 chains x 500 draws "
        f"+ 500 tuning; {replicates} replicates per run, seed {SEED}). The machine has "
        f"{os.cpu_count()} cores **shared with other engineers' jobs** (1-min load average "
        "in the table): absolute rates are pessimistic and noisy; the ratio of one run is "
        "the number to read. *CPU s per replicate* is the worker process's CPU time per "
        "replicate; *share of a core* = CPU s / wall s per replicate (1.0 = a whole core); "
        "*idle-core rate* = 60 x workers / CPU s, the rate the same work would reach on "
        "otherwise idle cores. If the two workers together get no more CPU than one (other "
        "jobs saturating the cores), the measured speed-up stays near 1 although the work "
        "per replicate is unchanged.", "",
        "| workers | replicates | warm-up (s, compile per worker) | timed (s) | "
        "replicates/min | wall s per replicate (median) | CPU s per replicate (median) | "
        "share of a core per worker | idle-core rate (/min) | load before | load after |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    body += [f"| {r.workers} | {r.replicates} | {r.warm_up_s:.0f} | {r.seconds:.1f} | "
             f"{r.per_minute:.1f} | {r.wall_per_replicate:.2f} | {r.cpu_per_replicate:.2f} | "
             f"{r.cpu_per_replicate / r.wall_per_replicate:.0%} | "
             f"{60 * r.workers / r.cpu_per_replicate:.0f} | {r.load_before:.1f} | "
             f"{r.load_after:.1f} |" for r in table.itertuples()]
    body += ["", f"Speed-up 2 vs 1 workers: **{ratio:.2f}x**. Results of the two runs "
             f"identical replicate by replicate: **{same}** (replicate i depends only on "
             "SeedSequence(seed).spawn(R)[i]).", ""]
    write_section(SECTION, "\n".join(body) + "\n")
    print("\n".join(body))
    return 0


if __name__ == "__main__":
    sys.exit(main())
