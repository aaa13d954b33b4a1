"""Length-of-stay simulation: planted hurdle log-normal data with a baseline imbalance.

Usage (from the repository root)::

    .venv/bin/python bench/los_simulation.py [--replicates 20] [--per-arm 250]
        [--seed 4931] [--draws 500] [--tune 500] [--chains 2] [--out bench/los_simulation.csv]

Each replicate draws ``--per-arm`` participants per arm (:func:`simulate`): the lifetime length
of hospitalization of Table 1 with the paper's imbalance (> 1 year: 30 % IMR, 14 % CAU), a stay
in the year before baseline more likely after a long history, its days log-normal (median
40), and the
days in the year after 12 months from the hurdle log-normal model of ``analysis="los"``
(:data:`TRUTH`; the model's own family, truncated at 366 days). The known estimands are the
g-computed means over the replicate's own baselines at the true parameters (:func:`truth`), the
targets of the fit's ``los_mean``, ``p_any_stay`` and ``los_difference``. Per replicate the
``los`` analysis is fitted and set beside the known values and beside the paper's estimator,
the difference of the mean change scores (after - before); the script prints bias, RMSE and
95 % coverage and writes every replicate's numbers to ``--out`` (atomically).
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np
import pandas as pd
from scipy import special

from imr_bayes.data.contract import LOS_RANGE

#: Planted truth: logit of a stay and log days among stays, on the raw baseline columns
#: (any stay before, log(1 + days before), lifetime stay > 1 year); IMR lowers both.
TRUTH: dict[str, float] = {
    "any_intercept": -1.6, "any_imr": -0.5, "any_before": 1.0, "any_log_before": 0.3,
    "any_long": 0.8,
    "days_intercept": 2.5, "days_imr": -0.3, "days_log_before": 0.15, "days_long": 0.5,
    "days_sigma": 1.0,
}
#: Share with a lifetime stay > 1 year per arm (Table 1) and with <= 1 year (both arms).
P_LONG: dict[str, float] = {"imr": 0.30, "cau": 0.14}
P_SHORT: float = 0.5
#: P(a stay in the year before baseline) by lifetime length; its days log-normal with median
#: BEFORE_MEDIAN (more days before than after: the after-on-before slope is well below 1, so
#: change scores over-correct an imbalance in the days before).
P_BEFORE: dict[str, float] = {"gt_1y": 0.45, "le_1y": 0.2, "none": 0.0}
BEFORE_MEDIAN: float = 40.0
#: Upper bound of a year's stay: the data contract's, which the model truncates at.
UPPER: float = float(LOS_RANGE[1])


def _linear(imr: np.ndarray, before: np.ndarray, long: np.ndarray
            ) -> tuple[np.ndarray, np.ndarray]:
    """True P(stay) and log-days location of each participant under ``imr`` (0/1)."""
    t = TRUTH
    eta = (t["any_intercept"] + t["any_imr"] * imr + t["any_before"] * (before > 0)
           + t["any_log_before"] * np.log1p(before) + t["any_long"] * long)
    mu = (t["days_intercept"] + t["days_imr"] * imr + t["days_log_before"] * np.log1p(before)
          + t["days_long"] * long)
    return 1 / (1 + np.exp(-eta)), mu


def simulate(per_arm: int, seed: int) -> pd.DataFrame:
    """One planted data set in the contract's long layout (three identical rows per person).

    Columns ``participant_id, arm, time, los_before, los_after, hospitalization_length``.
    """
    rng = np.random.default_rng(seed)
    arm = np.repeat(np.array(["imr", "cau"]), per_arm)
    u = rng.random(len(arm))
    p_long = np.array([P_LONG[a] for a in arm])
    length = np.where(u < p_long, "gt_1y", np.where(u < p_long + P_SHORT, "le_1y", "none"))
    p_before = np.array([P_BEFORE[x] for x in length])
    days = np.clip(np.round(rng.lognormal(np.log(BEFORE_MEDIAN), 1.0, len(arm))), 1, 365)
    before = np.where(rng.random(len(arm)) < p_before, days, 0.0)
    p, mu = _linear((arm == "imr").astype(float), before, (length == "gt_1y").astype(float))
    sigma = TRUTH["days_sigma"]
    top = special.ndtr((np.log(UPPER) - mu) / sigma)
    after = np.where(rng.random(len(arm)) < p,
                     np.exp(mu + sigma * special.ndtri(rng.random(len(arm)) * top)), 0.0)
    people = pd.DataFrame({"participant_id": [f"S{i:05d}" for i in range(len(arm))],
                           "arm": arm, "los_before": before, "los_after": after,
                           "hospitalization_length": length})
    return people.merge(pd.DataFrame({"time": [0, 1, 2]}), how="cross")


def truth(data: pd.DataFrame) -> dict[str, float]:
    """The known estimands: g-computed means over the data's baselines at :data:`TRUTH`.

    ``los_mean_<arm>``, ``p_any_stay_<arm>`` and ``los_difference`` (IMR - CAU).
    """
    from imr_bayes.bayes.hospital import truncated_lognormal_mean

    per = data.drop_duplicates("participant_id")
    before = per["los_before"].to_numpy(float)
    long = (per["hospitalization_length"] == "gt_1y").to_numpy(float)
    out = {}
    for arm, imr in (("imr", 1.0), ("cau", 0.0)):
        p, mu = _linear(np.full(len(per), imr), before, long)
        out[f"los_mean_{arm}"] = float(np.mean(
            p * truncated_lognormal_mean(mu, TRUTH["days_sigma"], UPPER)))
        out[f"p_any_stay_{arm}"] = float(np.mean(p))
    out["los_difference"] = out["los_mean_imr"] - out["los_mean_cau"]
    return out


def change_score_difference(data: pd.DataFrame) -> float:
    """The paper's estimator: IMR - CAU difference of the mean change scores (days)."""
    per = data.drop_duplicates("participant_id")
    change = (per["los_after"] - per["los_before"]).groupby(per["arm"]).mean()
    return float(change["imr"] - change["cau"])


def run(replicates: int, per_arm: int, seed: int, draws: int, tune: int, chains: int,
        out: str | None = None) -> pd.DataFrame:
    """Fit ``los`` to each replicate; one row per replicate x estimand (CSV after each)."""
    import imr_bayes
    from imr_bayes.atomic import atomic_path

    rows = []
    for r in range(replicates):
        data = simulate(per_arm, seed + r)
        known = truth(data)
        t0 = time.perf_counter()
        fit = imr_bayes.fit(data, analysis="los", seed=seed + r, draws=draws, tune=tune,
                            chains=chains)
        seconds = time.perf_counter() - t0
        est = fit.estimates
        for name, (estimand, arm) in {
                "los_mean_imr": ("los_mean", "imr"), "los_mean_cau": ("los_mean", "cau"),
                "p_any_stay_imr": ("p_any_stay", "imr"), "p_any_stay_cau": ("p_any_stay", "cau"),
                "los_difference": ("los_difference", None)}.items():
            row = est.row(estimand, arm=arm)
            rows.append({"replicate": r, "seed": seed + r, "estimand": name,
                         "truth": known[name], "estimate": row["estimate"], "sd": row["sd"],
                         "ci_low": row["ci_low"], "ci_high": row["ci_high"],
                         "change_score": (change_score_difference(data)
                                          if name == "los_difference" else np.nan),
                         "diagnostics_passed": fit.diagnostics.passed, "seconds": seconds})
        if out:
            with atomic_path(out) as tmp:
                pd.DataFrame(rows).to_csv(tmp, index=False)
    return pd.DataFrame(rows)


def summarize(results: pd.DataFrame) -> pd.DataFrame:
    """Bias, RMSE, mean |z| and 95 % coverage per estimand (and of the change scores)."""
    err = results["estimate"] - results["truth"]
    table = results.assign(
        error=err, z=err / results["sd"],
        covered=(results["ci_low"] <= results["truth"]) & (results["truth"] <= results["ci_high"]),
        change_error=results["change_score"] - results["truth"])
    return table.groupby("estimand", sort=False).agg(
        truth=("truth", "mean"), bias=("error", "mean"),
        rmse=("error", lambda e: float(np.sqrt(np.mean(e**2)))), mean_z=("z", "mean"),
        coverage=("covered", "mean"), change_score_bias=("change_error", "mean"),
        change_score_rmse=("change_error", lambda e: float(np.sqrt(np.mean(e**2)))),
        passed=("diagnostics_passed", "mean"))


def main(argv: list[str] | None = None) -> int:
    """Run the simulation, print the summary and write the per-replicate table."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--replicates", type=int, default=20)
    p.add_argument("--per-arm", type=int, default=250)
    p.add_argument("--seed", type=int, default=4931)
    p.add_argument("--draws", type=int, default=500)
    p.add_argument("--tune", type=int, default=500)
    p.add_argument("--chains", type=int, default=2)
    p.add_argument("--out", default="bench/los_simulation.csv")
    a = p.parse_args(argv)
    results = run(a.replicates, a.per_arm, a.seed, a.draws, a.tune, a.chains, a.out)
    print(summarize(results).to_string(float_format=lambda x: f"{x:.3f}"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
