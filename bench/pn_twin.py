"""The partially nested model (``itt``) beside the SPSS-parity model on the default twin.

Usage (from the repository root)::

    .venv/bin/python bench/pn_twin.py [--out bench/pn_twin.csv] [--analyses itt itt_parity]
        [--outcomes imrs_client ...] [--backend auto|pyfunc|numba]

Fits each analysis to the 12 outcomes of the default twin with the specs' default settings
(4 chains x 1000 draws after 1000 tuning steps) and writes one row per fit (atomically):
the diagnostics summary, condition x time (raw units: mean, SD, 95 % ETI, P(benefit)), the
18-month difference, and for the partially nested model the residual SDs by cell, the team
SD and the IMR arm's group ICC at 12 and 18 months with its prior (median, 95 % interval).
The numbers of ``docs/models.md`` ("Validation on the default twin") come from this script.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd


def _row(fit) -> dict[str, object]:
    est = fit.estimates
    cxt = est.row("condition_x_time")
    out = {"analysis": fit.analysis, "outcome": fit.outcome, **fit.diagnostics.summary(),
           "problems": "; ".join(fit.diagnostics.problems),
           "cxt_mean": cxt["estimate"], "cxt_sd": cxt["sd"], "cxt_low": cxt["ci_low"],
           "cxt_high": cxt["ci_high"], "cxt_p_benefit": cxt["p_benefit"],
           "diff18_mean": est.row("difference", time=2)["estimate"],
           "diff18_sd": est.row("difference", time=2)["sd"],
           "sigma_group": est.row("sigma_group")["estimate"]}
    if fit.spec.model == "pn_lmm":
        out.update({
            "sigma_res_baseline": est.row("sigma_residual", time=0)["estimate"],
            "sigma_res_imr": est.row("sigma_residual", arm="imr")["estimate"],
            "sigma_res_cau": est.row("sigma_residual", arm="cau")["estimate"],
            "sigma_team": est.row("sigma_team")["estimate"]})
        prior = fit.idata["prior"]["icc_group"]
        for t in (1, 2):
            row = est.row("icc_group", time=t, arm="imr")
            lo, med, hi = np.quantile(prior.sel(time=t).values.ravel(), [0.025, 0.5, 0.975])
            out.update({f"icc{t}_mean": row["estimate"], f"icc{t}_low": row["ci_low"],
                        f"icc{t}_high": row["ci_high"], f"icc{t}_prior_median": med,
                        f"icc{t}_prior_low": lo, f"icc{t}_prior_high": hi})
    return out


def main(argv: list[str] | None = None) -> int:
    """Fit, print and write the table."""
    import imr_bayes
    from imr_bayes.atomic import atomic_path
    from imr_bayes.data import default_twin
    from imr_bayes.outcomes import CODES

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="bench/pn_twin.csv")
    p.add_argument("--analyses", nargs="+", default=["itt", "itt_parity"])
    p.add_argument("--outcomes", nargs="+", default=list(CODES))
    p.add_argument("--backend", default="auto", choices=("auto", "pyfunc", "numba"))
    a = p.parse_args(argv)
    data = default_twin()
    rows = []
    for analysis in a.analyses:
        for outcome in a.outcomes:
            t0 = time.time()
            fit = imr_bayes.fit(data, analysis=analysis, outcome=outcome, backend=a.backend)
            rows.append({**_row(fit), "seconds": time.time() - t0})
            print(f"{analysis} {outcome}: {time.time() - t0:.0f} s, "
                  f"{fit.diagnostics.summary()}", flush=True)
    table = pd.DataFrame(rows)
    with atomic_path(a.out) as tmp:
        table.to_csv(tmp, index=False)
    print(table.drop(columns=["problems"]).to_string(float_format=lambda x: f"{x:.4g}"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
