"""Default-settings fits of the completion, fidelity, attendance and hospital analyses.

Usage (from the repository root)::

    .venv/bin/python bench/completion_fidelity_twin.py [--out bench/completion_fidelity_twin.csv]
        [--backend auto|pyfunc|numba]

Fits every analysis of ``docs/completion_fidelity.md`` to the default twin with the specs'
default sampler settings (4 chains x 1000 draws after 1000 tuning steps) and writes one row
per headline estimand with its 95 % ETI and the fit's diagnostics (atomically).
"""

from __future__ import annotations

import argparse
import sys
import time

import pandas as pd

#: (analysis, outcome, headline estimands)
RUNS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("completers", "imrs_client", ("pp_condition_x_time", "pp_condition_x_time_d")),
    ("completers", "sers_sf", ("pp_condition_x_time", "pp_condition_x_time_d")),
    ("completers_categorical", "imrs_client", ("difference", "cohens_d",
                                               "pp_condition_x_time_1",
                                               "pp_condition_x_time_2")),
    ("cace", "imrs_client", ("cace_condition_x_time", "cace_condition_x_time_d",
                             "complier_share", "itt_condition_x_time_implied",
                             "complier_x_time")),
    ("fidelity", "imrs_client", ("fidelity_high_x_t1", "fidelity_high_x_t2",
                                 "fidelity_moderate_x_t1", "fidelity_moderate_x_t2")),
    ("fidelity", "sers_sf", ("fidelity_high_x_t1", "fidelity_high_x_t2",
                             "fidelity_moderate_x_t1", "fidelity_moderate_x_t2")),
    ("fidelity_dose", "imrs_client", ("fidelity_slope", "fidelity_slope_d",
                                      "condition_x_time")),
    ("attendance_dose", "imrs_client", ("attendance_slope", "attendance_slope_d",
                                        "condition_x_time")),
    ("hospitalization", "imrs_client", ("odds_ratio", "risk_difference")),
    ("los", "imrs_client", ("los_difference", "los_ratio", "los_mean", "los_change",
                            "p_any_stay", "prob_superiority")),
)


def main(argv: list[str] | None = None) -> int:
    """Fit, print and write the table."""
    import imr_bayes
    from imr_bayes.atomic import atomic_path
    from imr_bayes.data import default_twin

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="bench/completion_fidelity_twin.csv")
    p.add_argument("--backend", default="auto", choices=("auto", "pyfunc", "numba"),
                   help="compile backend (the posterior is the same; pyfunc compiles faster)")
    a = p.parse_args(argv)
    data = default_twin()
    rows = []
    for analysis, outcome, estimands in RUNS:
        t0 = time.time()
        fit = imr_bayes.fit(data, analysis=analysis, outcome=outcome, backend=a.backend)
        diag = fit.diagnostics.summary()
        eff = fit.effects[fit.effects["estimand"].isin(estimands)]
        for _, e in eff.iterrows():
            rows.append({"analysis": analysis, "outcome": fit.outcome,
                         "estimand": e["estimand"], "arm": e["arm"], "time": e["time"],
                         "mean": e["mean"],
                         "median": e["median"], "sd": e["sd"], "eti95_low": e["eti95_low"],
                         "eti95_high": e["eti95_high"], **diag,
                         "problems": "; ".join(fit.diagnostics.problems),
                         "seconds": time.time() - t0,
                         "data_hash": fit.idata.attrs["data_hash"][:12]})
        print(f"{analysis} {outcome}: {time.time() - t0:.0f} s, {diag}", flush=True)
    table = pd.DataFrame(rows)
    with atomic_path(a.out) as tmp:
        table.to_csv(tmp, index=False)
    print(table.drop(columns=["problems", "data_hash"]).to_string(
        float_format=lambda x: f"{x:.3f}"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
