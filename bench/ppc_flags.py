"""Flag rates of the PPC statistics the model is not fitted to, on twin variants.

Each replicate draws one outcome of a twin variant (:mod:`imr_bayes.data.variants`) on the
default twin's design, fits the Gaussian compound-symmetric ITT model (``analysis="itt"``,
the SPSS-parity structure) with small sampler settings, and runs
:func:`imr_bayes.ppc.structure_checks` (new participants and new IMR groups). Replicate ``i``
belongs to cell ``i % len(cells)`` (variant x outcome) and is seeded by the study runner
(``SeedSequence(seed).spawn(R)[i]``). The fit's 18-month difference and its 95 % interval
are stored beside the truth, so coverage comes for free.

Run (one Dask worker on the shared machine; resumes into the same store)::

    PYTHONPATH=. .venv/bin/python bench/ppc_flags.py --per-cell 40 --out /tmp/ppc_flags \\
        --csv bench/ppc_flags.csv

The summary (``--csv``) has one row per cell x statistic x arm x time: flag rate and its
Monte Carlo SE, mean p, and the share of replicates with at least one flag. The numbers are
in ``docs/ppc.md`` ("Do the new statistics flag a misspecified model?").
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

#: (variant, outcome) cells: the correctly specified variant on four outcomes whose scale
#: bounds are far from the data (little clipping), then one assumption broken at a time.
CELLS: tuple[tuple[str, str], ...] = (
    ("correct", "imrs_client"), ("correct", "imrs_clinician"), ("correct", "mhrm"),
    ("correct", "sfs"),
    ("serial", "imrs_client"), ("heteroscedastic", "imrs_client"),
    ("group_slope", "imrs_client"), ("floor", "asi"), ("floor", "ses"),
)
DEFAULTS: dict[str, Any] = {"cells": [list(c) for c in CELLS], "draws": 250, "tune": 250,
                            "chains": 2, "ppc_draws": 500, "analysis": "itt"}
QUICK: dict[str, Any] = {"draws": 60, "tune": 60, "chains": 1, "ppc_draws": 60}
KEYS: tuple[str, ...] = ("kind", "outcome", "statistic", "arm", "time", "time_other")


def replicate(*, index: int, seed: np.random.SeedSequence, settings: Mapping[str, Any],
              context: pd.DataFrame | None) -> pd.DataFrame:
    """Simulate one variant outcome, fit it and check it; one row per statistic."""
    import imr_bayes
    from imr_bayes import ppc
    from imr_bayes.data import default_twin
    from imr_bayes.data.variants import simulate_variant

    kind, outcome = settings["cells"][index % len(settings["cells"])]
    s = int(seed.generate_state(1)[0] % (2**31 - 1))
    variant = simulate_variant(kind, seed=s, outcomes=outcome, design=default_twin())
    t0 = time.perf_counter()
    fit = imr_bayes.fit(variant.data, outcome=outcome, analysis=settings["analysis"],
                        draws=settings["draws"], tune=settings["tune"],
                        chains=settings["chains"], seed=s)
    seconds = time.perf_counter() - t0
    table = ppc.structure_checks(fit, draws=settings["ppc_draws"], seed=s)
    diff = fit.estimates.row("difference", time=2)
    truth = variant.difference(outcome, 2)
    return table.assign(
        kind=kind, replicate=index, variant_seed=s, truth=truth,
        diff_estimate=float(diff["estimate"]), diff_low=float(diff["ci_low"]),
        diff_high=float(diff["ci_high"]),
        covered=bool(diff["ci_low"] <= truth <= diff["ci_high"]),
        diagnostics_passed=bool(fit.diagnostics.passed), fit_seconds=seconds,
        time=table["time"].astype(float), time_other=table["time_other"].astype(float),
        arm=table["arm"].astype(str))


def summarize(rows: pd.DataFrame) -> pd.DataFrame:
    """Flag rate (with MC SE) and mean p per cell x statistic x arm x time."""
    rows = rows[rows["p_value"].notna()]
    out = (rows.groupby(list(KEYS), dropna=False, sort=False)
           .agg(replicates=("flagged", "size"), flag_rate=("flagged", "mean"),
                mean_p=("p_value", "mean"), mean_observed=("observed", "mean"),
                mean_ppc=("ppc_mean", "mean"))
           .reset_index())
    out["mcse"] = np.sqrt(out["flag_rate"] * (1 - out["flag_rate"]) / out["replicates"])
    return out


def per_replicate(rows: pd.DataFrame) -> pd.DataFrame:
    """One row per replicate: flags, any flag, coverage."""
    rows = rows[rows["p_value"].notna()]
    return (rows.groupby(["kind", "outcome", "replicate"], sort=False)
            .agg(n_statistics=("flagged", "size"), n_flagged=("flagged", "sum"),
                 covered=("covered", "first"), passed=("diagnostics_passed", "first"))
            .reset_index().assign(any_flag=lambda d: d["n_flagged"] > 0))


def study() -> Any:
    """The study object for :func:`imr_bayes.studies.run_study`."""
    from imr_bayes.studies import Study

    def _summary(store_dir: str | Path) -> pd.DataFrame:
        from imr_bayes.studies import Store

        return summarize(Store.load(store_dir).read())

    return Study(name="ppc_flags", description="flag rates of the unfitted-statistic PPCs",
                 replicate=replicate, defaults=DEFAULTS, quick=QUICK, summarize=_summary,
                 plot=lambda store_dir: None)


def read_rows(out: Path) -> pd.DataFrame:
    """Every stored replicate of the store folder."""
    from imr_bayes.studies import Store

    return Store.load(out).read()


def once(seed: int = 4931) -> pd.DataFrame:
    """Structure checks of one data set each: the default twin (12 outcomes) and the
    variants at the default seed (the cells of :data:`CELLS`), fits of 2 x 500 draws."""
    import imr_bayes
    from imr_bayes import ppc
    from imr_bayes.data import default_twin
    from imr_bayes.data.variants import simulate_variant
    from imr_bayes.outcomes import CODES

    parts = []
    jobs = [("default twin", code, default_twin()) for code in CODES]
    jobs += [(kind, code, simulate_variant(kind, seed=seed, outcomes=code).data)
             for kind, code in CELLS]
    for label, code, data in jobs:
        fit = imr_bayes.fit(data, outcome=code, analysis="itt", draws=500, tune=500,
                            chains=2, seed=seed)
        parts.append(ppc.structure_checks(fit, seed=seed).assign(data=label))
        print(label, code, int(parts[-1]["flagged"].sum()), flush=True)
    return pd.concat(parts, ignore_index=True)


def main() -> None:
    """Run the study and write the summary CSV."""
    from imr_bayes.studies import run_study

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--once", type=Path, default=None,
                        help="instead: structure checks of the default twin and of each "
                             "variant at the default seed, written to this CSV")
    parser.add_argument("--per-cell", type=int, default=40)
    parser.add_argument("--out", type=Path, default=Path("/tmp/ppc_flags"))
    parser.add_argument("--csv", type=Path, default=None)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--seed", type=int, default=4931)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    if args.once is not None:
        table = once(args.seed)
        table.round(5).to_csv(args.once, index=False)
        return
    t0 = time.perf_counter()
    run = run_study(study(), replicates=args.per_cell * len(CELLS), out=args.out,
                    seed=args.seed, quick=args.quick, workers=args.workers,
                    on_result=lambda i, done, total: print(f"{done}/{total}", flush=True)
                    if done % 10 == 0 else None)
    print(f"{len(run.computed)} computed, {len(run.skipped)} stored, "
          f"{time.perf_counter() - t0:.0f} s")
    rows = read_rows(args.out)
    table = summarize(rows)
    reps = per_replicate(rows)
    pd.set_option("display.width", 200)
    print(table.round(3).to_string())
    print(reps.groupby(["kind", "outcome"]).agg(
        replicates=("any_flag", "size"), any_flag=("any_flag", "mean"),
        mean_flags=("n_flagged", "mean"), coverage=("covered", "mean"),
        passed=("passed", "mean")).round(3).to_string())
    if args.csv is not None:
        table.round(5).to_csv(args.csv, index=False)


if __name__ == "__main__":
    main()
