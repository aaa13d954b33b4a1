"""Calibration report of the synthetic twin against the published tables.

:func:`calibrate` simulates ``R`` random twins, fits the paper's linear mixed model to each
(random participant intercept; time 0/1/2 linear; condition; condition x time; REML;
model-based SEs via :func:`imr_bayes.frequentist.fit_lmm`) in the intention-to-treat and
the completer samples, and compares per outcome the mean estimate and mean SE of
condition x time with the published B and the SE implied by its 95 % CI (Tables 2 and 6),
and the cell Ns and means with Tables 3 and 7. The exact twin at the default seed is
reported alongside. Only aggregates are reported, never participant rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from imr_bayes import published
from imr_bayes.atomic import atomic_dir
from imr_bayes.constants import CI_LEVEL, DEFAULT_SEED, TIMES
from imr_bayes.data import default_twin, simulate_twin
from imr_bayes.data.twin_outcomes import calibration as variance_calibration
from imr_bayes.errors import ImrBayesError
from imr_bayes.outcomes import CODES, unknown_choice_message
from imr_bayes.trial import facts

SAMPLES: tuple[str, ...] = ("itt", "completers")
#: Allowed relative deviation of the twin's mean SE from the published SE.
SE_TOLERANCE: float = 0.25
TERM: str = "condition_x_time"


@dataclass(frozen=True)
class CalibrationReport:
    """Tidy tables of one calibration run.

    Attributes
    ----------
    coefficients : pandas.DataFrame
        Per outcome x sample: published ``b_published``, ``ci_low``, ``ci_high``,
        ``se_published`` (CI width / 2 z), the random twins' ``mean_estimate``,
        ``sd_estimate``, ``mean_se``, ``se_ratio`` (mean SE / published SE),
        ``se_within_tolerance``, ``coverage`` (share of twin CIs holding the published B),
        and the exact twin's ``exact_estimate``, ``exact_se``, ``exact_in_ci``.
    cells : pandas.DataFrame
        Per outcome x sample x arm x time: published ``n_published``, ``mean_published``,
        the random twins' ``mean_n`` and ``mean_mean``, and the exact twin's ``exact_n``
        and ``exact_mean``.
    variance : pandas.DataFrame
        Per outcome: the within-participant correlation of the generative model and the
        published coefficient whose CI fixed it.
    fidelity : pandas.DataFrame
        For the outcomes of Tables 4-5 (IMR client, SERS-SF): per fidelity class (IMR
        participants with >= 10 sessions in a high / moderate fidelity group) and time, the
        published difference from CAU (``B_group + B_group x time``), the random twins'
        mean observed difference and the exact twin's.
    replicates : int
        Number of random twins.
    seed : int
        Seed from which the twins' seeds were drawn.
    """

    coefficients: pd.DataFrame
    cells: pd.DataFrame
    variance: pd.DataFrame
    fidelity: pd.DataFrame
    replicates: int
    seed: int

    def save(self, folder: str | Path) -> Path:
        """Write the three tables as CSV into ``folder`` atomically; return the folder."""
        folder = Path(folder)
        with atomic_dir(folder) as tmp:
            self.coefficients.to_csv(tmp / "coefficients.csv", index=False)
            self.cells.to_csv(tmp / "cells.csv", index=False)
            self.variance.to_csv(tmp / "variance.csv", index=False)
            self.fidelity.to_csv(tmp / "fidelity.csv", index=False)
        return folder


def _fit(data: pd.DataFrame, outcome: str, sample: str) -> tuple[float, float]:
    from imr_bayes.frequentist import fit_lmm

    fit = fit_lmm(data, outcome, time="linear", sample=sample, reml=True, df_method="normal")
    if not fit.ok:
        return np.nan, np.nan
    row = fit.coefficients.set_index("term").loc[TERM]
    return float(row["b"]), float(row["se"])


def _cells(data: pd.DataFrame, outcomes: Sequence[str], sample: str) -> pd.DataFrame:
    if sample == "completers":
        keep = (data["arm"] == "cau") | data["completer"].fillna(False).astype(bool)
        data = data[keep.to_numpy(bool)]
    long = data.melt(id_vars=["arm", "time"], value_vars=list(outcomes), var_name="outcome")
    long = long.dropna(subset=["value"])
    out = long.groupby(["outcome", "arm", "time"])["value"].agg(["count", "mean"])
    return out.rename(columns={"count": "n"}).reset_index().assign(sample=sample)


def calibrate(
    replicates: int = 50,
    seed: int = DEFAULT_SEED,
    *,
    outcomes: Sequence[str] | None = None,
) -> CalibrationReport:
    """Compare random twins (and the exact twin) with the published Tables 2, 3, 6 and 7.

    Parameters
    ----------
    replicates : int
        Number of random twins ``R`` (default 50).
    seed : int
        Master seed; the twins' seeds are drawn from ``numpy.random.default_rng(seed)``.
    outcomes : sequence of str, optional
        Outcome codes (default: all 12).

    Returns
    -------
    CalibrationReport
    """
    if isinstance(replicates, bool) or not isinstance(replicates, int) or replicates < 1:
        raise ImrBayesError(f"replicates must be a positive integer, got {replicates!r}")
    outcomes = tuple(CODES if outcomes is None else outcomes)
    for code in outcomes:
        if code not in CODES:
            raise ImrBayesError(unknown_choice_message("outcome", code, CODES))
    seeds = np.random.default_rng(seed).integers(0, 2**31 - 1, replicates)
    fits, cells, fidelity = [], [], []
    for r, s in enumerate(seeds):
        twin = simulate_twin(seed=int(s), mode="random")
        fidelity.append(_fidelity_differences(twin, outcomes))
        for sample in SAMPLES:
            cells.append(_cells(twin, outcomes, sample).assign(replicate=r))
            for code in outcomes:
                b, se = _fit(twin, code, sample)
                fits.append({"outcome": code, "sample": sample, "replicate": r, "b": b,
                             "se": se})
    exact = default_twin()
    exact_fits = [{"outcome": c, "sample": s, **dict(zip(("exact_estimate", "exact_se"),
                                                         _fit(exact, c, s), strict=True))}
                  for s in SAMPLES for c in outcomes]
    coefficients = _coefficient_table(pd.DataFrame(fits), pd.DataFrame(exact_fits))
    cell_table = _cell_table(pd.concat(cells, ignore_index=True),
                             pd.concat([_cells(exact, outcomes, s) for s in SAMPLES]))
    variance = pd.DataFrame([vars(variance_calibration(c)) for c in outcomes])
    fid = _fidelity_table(pd.concat(fidelity, ignore_index=True),
                          _fidelity_differences(exact, outcomes))
    return CalibrationReport(coefficients, cell_table, variance, fid, replicates, seed)


def _fidelity_differences(data: pd.DataFrame, outcomes: Sequence[str]) -> pd.DataFrame:
    """Observed mean of each fidelity subgroup minus the CAU mean, per outcome and time."""
    rows = []
    rule = facts().fidelity
    engaged = data["sessions_attended"].astype("Float64").fillna(0).to_numpy(float) >= (
        rule.min_sessions)
    high = data["fidelity"].to_numpy(float) >= rule.high_threshold
    cau = (data["arm"] == "cau").to_numpy(bool)
    groups = {"high": engaged & high, "moderate": engaged & ~high}
    for code in (c for c in rule.outcomes if c in outcomes):
        for t in TIMES:
            at = (data["time"] == t).to_numpy(bool)
            ref = data.loc[cau & at, code].mean()
            for cls, member in groups.items():
                diff = data.loc[member & at, code].mean() - ref
                rows.append({"outcome": code, "fidelity_class": cls, "time": t,
                             "difference": diff})
    return pd.DataFrame(rows, columns=["outcome", "fidelity_class", "time", "difference"])


def _fidelity_table(random: pd.DataFrame, exact: pd.DataFrame) -> pd.DataFrame:
    cols = ["outcome", "fidelity_class", "time", "published", "mean_difference",
            "exact_difference"]
    if random.empty:
        return pd.DataFrame(columns=cols)
    out = random.groupby(["outcome", "fidelity_class", "time"]).agg(
        mean_difference=("difference", "mean")).reset_index()
    out = out.merge(exact.rename(columns={"difference": "exact_difference"}),
                    on=["outcome", "fidelity_class", "time"])
    suffix = {0: None, 1: "post", 2: "followup"}
    published_b = []
    for row in out.itertuples():
        b = published.fidelity_effects(row.outcome).set_index("term")["b"]
        extra = b[f"{row.fidelity_class}_x_{suffix[row.time]}"] if row.time else 0.0
        published_b.append(float(b[row.fidelity_class] + extra))
    out["published"] = published_b
    return out[cols]


def _coefficient_table(fits: pd.DataFrame, exact: pd.DataFrame) -> pd.DataFrame:
    z = stats.norm.ppf(0.5 + CI_LEVEL / 2)
    pub = pd.concat([
        published.fixed_effects(s).assign(sample=s) for s in SAMPLES
    ])
    pub = pub[pub["term"] == TERM][["outcome", "sample", "b", "ci_low", "ci_high",
                                     "in_final_model"]]
    pub = pub.rename(columns={"b": "b_published"})
    pub["se_published"] = (pub["ci_high"] - pub["ci_low"]) / (2 * z)
    fits = fits.merge(pub[["outcome", "sample", "b_published"]], on=["outcome", "sample"])
    fits["covers"] = (fits["b"] - z * fits["se"] <= fits["b_published"]) & (
        fits["b_published"] <= fits["b"] + z * fits["se"])
    agg = fits.groupby(["outcome", "sample"], sort=False).agg(
        mean_estimate=("b", "mean"), sd_estimate=("b", "std"), mean_se=("se", "mean"),
        coverage=("covers", "mean"), n_fits=("b", "count"))
    out = agg.reset_index().merge(pub, on=["outcome", "sample"], how="left")
    out = out.merge(exact, on=["outcome", "sample"], how="left")
    out["se_ratio"] = out["mean_se"] / out["se_published"]
    printed = out["b_published"].notna()
    within = (out["se_ratio"] - 1).abs() <= SE_TOLERANCE
    inside = (out["ci_low"] <= out["exact_estimate"]) & (out["exact_estimate"] <= out["ci_high"])
    # "boolean" with NA where the paper prints no condition x time coefficient
    out["se_within_tolerance"] = within.astype("boolean").where(printed)
    out["exact_in_ci"] = inside.astype("boolean").where(printed)
    out["coverage"] = out["coverage"].where(printed)
    cols = ["outcome", "sample", "in_final_model", "b_published", "ci_low", "ci_high",
            "se_published", "mean_estimate", "sd_estimate", "mean_se", "se_ratio",
            "se_within_tolerance", "coverage", "n_fits", "exact_estimate", "exact_se",
            "exact_in_ci"]
    return out[cols]


def _cell_table(random: pd.DataFrame, exact: pd.DataFrame) -> pd.DataFrame:
    agg = random.groupby(["outcome", "sample", "arm", "time"]).agg(
        mean_n=("n", "mean"), mean_mean=("mean", "mean")).reset_index()
    exact = exact.rename(columns={"n": "exact_n", "mean": "exact_mean"})
    pub = pd.concat([published.marginal_means(s).assign(sample=s) for s in SAMPLES])
    pub = pub[["outcome", "sample", "arm", "time", "n", "mean"]].rename(
        columns={"n": "n_published", "mean": "mean_published"})
    out = pub.merge(agg, on=["outcome", "sample", "arm", "time"], how="inner")
    return out.merge(exact, on=["outcome", "sample", "arm", "time"], how="left")
