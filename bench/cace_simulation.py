"""CACE simulation: planted complier effect, CACE coverage and bias, per-protocol bias.

Usage (from the repository root)::

    .venv/bin/python bench/cace_simulation.py [--replicates 20] [--seed 20261126]
        [--draws 500] [--tune 500] [--chains 2] [--start 0] [--out bench/cace_simulation.csv]
        [--rho-true 0.0] [--fit-rhos 0.0 ...] [--per-protocol] [--write-results]

Each replicate draws a random twin (``simulate_twin(mode="random", seed=seed + r)``) for the
design (arms, groups, scheduled sessions, baseline characteristics, missingness of the
primary outcome) and then, because the twin has no principal strata, plants them with
:func:`plant_complier_effect` (documented below): a complier indicator C from a logistic
model on baseline characteristics, completion = C in the IMR arm (sessions made consistent),
and a primary outcome (``imrs_client``, on its standardized scale) with

    z_it = 0.05 t + DELTA C + LAMBDA C t + TAU Z C t + RHO_TRUE TAU Z (1 - C) t + u_i + e_it,
    u_i ~ N(0, 0.5), e_it ~ N(0, 0.5)

(values clipped to the 1-5 scale, which touches about 1 in 3000), so the true CACE per
time step is TAU (baseline SDs), never-takers randomized to IMR gain RHO_TRUE x TAU per step
(``--rho-true``; 0 keeps the exclusion restriction), and compliers differ from never-takers
without IMR (DELTA, LAMBDA): the per-protocol contrast (completers vs all controls) estimates
TAU + LAMBDA (1 - pi) in expectation, pi the complier share. Per replicate the ``cace``
analysis is fitted at each never-taker effect ratio of ``--fit-rhos`` (and, with
``--per-protocol``, the ``completers`` analysis); the script prints coverage of the 95 %
intervals, mean estimate and bias with their Monte Carlo SEs and writes every replicate's
numbers to ``--out`` (atomically, after every replicate). A run resumes: replicates already
in ``--out`` are kept and not refitted. ``--write-results`` writes the summary of ``--out``
into ``bench/results.md`` without fitting.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

#: Planted truth, baseline SDs of the primary outcome.
TAU: float = 0.25           # CACE per time step
DELTA: float = 0.30         # complier - never-taker difference at baseline (no IMR)
LAMBDA: float = 0.20        # complier - never-taker difference in slope (no IMR)
#: True compliance model: log-odds on baseline characteristics.
COMPLIANCE: dict[str, float] = {"intercept": 0.45, "age_per_10y": 0.5, "female": 0.6,
                                "diagnosis_psychotic": -0.7, "living_alone": -0.5}
OUTCOME: str = "imrs_client"
#: The section of ``bench/results.md`` that ``--write-results`` replaces.
SECTION: str = "## CACE simulation: exclusion restriction violated"


def _compliance_logit(people: pd.DataFrame) -> np.ndarray:
    age = (pd.to_numeric(people["age"]).to_numpy(float) - 44.0) / 10.0
    female = (people["sex"].astype(str) == "female").to_numpy(float)
    psych = people["diagnosis_psychotic"].astype("boolean").fillna(False).to_numpy(float)
    alone = (people["living_situation"].astype(str) == "alone").to_numpy(float)
    c = COMPLIANCE
    return (c["intercept"] + c["age_per_10y"] * age + c["female"] * female
            + c["diagnosis_psychotic"] * psych + c["living_alone"] * alone)


def plant_complier_effect(df: pd.DataFrame, rng: np.random.Generator, *,
                          rho_true: float = 0.0) -> tuple[pd.DataFrame, float]:
    """Plant principal strata and a known complier effect into a random twin.

    Parameters
    ----------
    df : pandas.DataFrame
        A twin (contract long data).
    rng : numpy.random.Generator
    rho_true : float
        Never-taker effect ratio: never-takers randomized to IMR gain ``rho_true * TAU``
        per time step (0: the exclusion restriction holds). Uses no random numbers, so
        replicate r has the same strata and noise for every ``rho_true``.

    Returns
    -------
    (data, complier_share)
        The data with ``sessions_attended``, ``completer`` and the primary outcome
        replaced (missingness kept), and the realized share of compliers.
    """
    from imr_bayes import outcomes
    from imr_bayes.bayes.itt import standardization

    df = df.copy()
    people = df.drop_duplicates("participant_id").set_index("participant_id")
    eta = _compliance_logit(people)
    complier = rng.random(len(people)) < 1.0 / (1.0 + np.exp(-eta))
    imr = (people["arm"].astype(str) == "imr").to_numpy()
    sched = pd.to_numeric(people["sessions_scheduled"]).to_numpy(float)
    u = np.where(complier, rng.uniform(0.5, 1.0, len(people)),
                 rng.uniform(0.0, 0.5, len(people)))
    attended = np.where(complier, np.ceil(u * np.nan_to_num(sched)),
                        np.floor(u * np.nan_to_num(sched)))
    sessions = pd.Series(pd.array(np.where(imr, attended, np.nan), dtype="Float64")
                         .astype("Int64"), index=people.index)
    comp = pd.Series(pd.array(np.where(imr, complier, pd.NA), dtype="boolean"),
                     index=people.index)
    pid = df["participant_id"]
    df["sessions_attended"] = sessions.reindex(pid).to_numpy()
    df["completer"] = comp.reindex(pid).astype("boolean").to_numpy()
    df["sessions_attended"] = df["sessions_attended"].astype("Int64")
    df["completer"] = df["completer"].astype("boolean")
    # outcome
    b = pd.Series(rng.normal(0.0, math.sqrt(0.5), len(people)), index=people.index)
    c = pd.Series(complier.astype(float), index=people.index).reindex(pid).to_numpy()
    z_arm = pd.Series(imr.astype(float), index=people.index).reindex(pid).to_numpy()
    t = pd.to_numeric(df["time"]).to_numpy(float)
    z = (0.05 * t + DELTA * c + LAMBDA * c * t + TAU * z_arm * c * t
         + rho_true * TAU * z_arm * (1.0 - c) * t
         + b.reindex(pid).to_numpy() + rng.normal(0.0, math.sqrt(0.5), len(df)))
    centre, scale = standardization(OUTCOME)
    seen = df[OUTCOME].notna().to_numpy()
    o = outcomes.get(OUTCOME)
    y = np.clip(centre + scale * z, o.scale_min, o.scale_max)  # beyond 3.4 SD: rare
    df[OUTCOME] = np.where(seen, y, np.nan)
    return df, float(complier.mean())


def _jobs(fit_rhos: tuple[float, ...], per_protocol: bool
          ) -> list[tuple[str, float | None, str]]:
    """(analysis, fitted rho or None, estimand) of each fit of a replicate."""
    jobs: list[tuple[str, float | None, str]] = (
        [("completers", None, "pp_condition_x_time_d")] if per_protocol else [])
    return jobs + [("cace", float(r), "cace_condition_x_time_d") for r in fit_rhos]


def run(replicates: int, seed: int, draws: int, tune: int, chains: int, start: int = 0,
        out: str | None = None, *, rho_true: float = 0.0, fit_rhos: tuple[float, ...] = (0.0,),
        per_protocol: bool = False) -> pd.DataFrame:
    """Fit replicates ``start .. start + replicates - 1``.

    Each replicate gets the ``cace`` analysis at every never-taker effect ratio of
    ``fit_rhos`` and, with ``per_protocol``, the ``completers`` analysis. Returns one row per
    replicate x fit; with ``out``, the rows are written there (atomically) after every
    replicate, and replicates already complete in ``out`` are kept, not refitted (resume).
    """
    import imr_bayes
    from imr_bayes.atomic import atomic_path
    from imr_bayes.data import simulate_twin, validate

    jobs = _jobs(fit_rhos, per_protocol)
    rows: list[dict] = []
    done: set[int] = set()
    if out and Path(out).exists():
        old = pd.read_csv(out)
        counts = old.groupby("replicate").size()
        done = set(counts[counts == len(jobs)].index)
        rows = old[old["replicate"].isin(done)].to_dict("records")
    for r in range(start, start + replicates):
        if r in done:
            continue
        twin = simulate_twin(seed=seed + r, mode="random")
        data, share = plant_complier_effect(twin, np.random.default_rng([seed, r]),
                                            rho_true=rho_true)
        validate(data)  # the planted data still meet the contract
        people = data.drop_duplicates("participant_id")
        pi_hat = float(people.loc[people["arm"] == "imr", "completer"].astype(bool).mean())
        for analysis, rho, estimand in jobs:
            t0 = time.time()
            extra = {} if rho is None else {"never_taker_effect_ratio": rho}
            fit = imr_bayes.fit(data, analysis=analysis, outcome=OUTCOME, seed=seed + r,
                                draws=draws, tune=tune, chains=chains, **extra)
            e = fit.estimates.row(estimand)
            s = fit.diagnostics.summary()
            seconds = time.time() - t0
            rows.append({
                "replicate": r, "seed": seed + r, "analysis": analysis,
                "rho": np.nan if rho is None else rho, "rho_true": rho_true,
                "estimand": estimand, "truth": TAU, "complier_share": share, "pi_hat": pi_hat,
                "mean": e["estimate"], "sd": e["sd"], "eti95_low": e["ci_low"],
                "eti95_high": e["ci_high"],
                "covered": bool(e["ci_low"] <= TAU <= e["ci_high"]),
                "seconds": seconds, "load_1min": os.getloadavg()[0],
                "max_r_hat": s["max_r_hat"], "min_ess_bulk": s["min_ess_bulk"],
                "divergences": s["divergences"],
            })
            print(f"replicate {r} {analysis}" + ("" if rho is None else f" rho={rho:g}")
                  + f": {e['estimate']:.3f} [{e['ci_low']:.3f}, {e['ci_high']:.3f}] "
                  f"truth {TAU} ({seconds:.0f} s, load {os.getloadavg()[0]:.1f}, "
                  f"r_hat {s['max_r_hat']:.3f}, div {s['divergences']})", flush=True)
        if out:
            with atomic_path(out) as tmp:
                pd.DataFrame(rows).to_csv(tmp, index=False)
    return pd.DataFrame(rows)


def expected_bias(analysis: str, rho: float, rho_true: float, share: float) -> float:
    """Approximate bias (baseline SDs) of an analysis' estimate of TAU.

    Per protocol: the selection term ``LAMBDA (1 - pi)``. CACE fitted with never-taker
    ratio ``rho`` when the truth is ``rho_true``: the Wald approximation
    ``TAU ((pi + (1 - pi) rho_true) / (pi + (1 - pi) rho) - 1)`` (the ITT effect divided by
    the share the model assumes); 0 for the true ``rho``.
    """
    if analysis == "completers":
        return LAMBDA * (1.0 - share)
    return TAU * ((share + (1.0 - share) * rho_true) / (share + (1.0 - share) * rho) - 1.0)


def summarize(results: pd.DataFrame) -> pd.DataFrame:
    """Per analysis x fitted rho: coverage, bias, empirical and model SE, with MC SEs.

    Monte Carlo SEs (Morris, White & Crowther 2019, Table 6): bias ``SD / sqrt(n)``,
    coverage ``sqrt(c (1 - c) / n)``. A CSV without ``rho`` columns (the run before the
    never-taker effect existed) is read as ``rho = rho_true = 0``.
    """
    if "rho" not in results.columns:
        results = results.assign(
            rho=np.where(results["analysis"] == "cace", 0.0, np.nan), rho_true=0.0)
    results = results.assign(rho=results["rho"].fillna(-1.0))  # groupby keeps NaN out
    rows = []
    for (analysis, rho), d in results.groupby(["analysis", "rho"], sort=False):
        n, c = len(d), float(d["covered"].mean())
        rho_true, share = float(d["rho_true"].iloc[0]), float(d["complier_share"].mean())
        rows.append({
            "analysis": analysis, "rho": np.nan if rho < 0 else rho, "rho_true": rho_true,
            "replicates": n, "coverage": c, "coverage_mcse": math.sqrt(c * (1 - c) / n),
            "mean_estimate": d["mean"].mean(), "bias": d["mean"].mean() - TAU,
            "bias_mcse": d["mean"].std(ddof=1) / math.sqrt(n),
            "expected_bias": expected_bias(analysis, rho, rho_true, share),
            "rmse": float(np.sqrt(((d["mean"] - TAU) ** 2).mean())),
            "empirical_se": d["mean"].std(ddof=1), "mean_sd": d["sd"].mean(),
            "max_r_hat": d["max_r_hat"].max(), "min_ess_bulk": d["min_ess_bulk"].min(),
            "divergences": int(d["divergences"].sum()),
            "median_seconds": d["seconds"].median(),
            "mean_load": d["load_1min"].mean() if "load_1min" in d else np.nan,
        })
    return pd.DataFrame(rows)


def paired_differences(results: pd.DataFrame) -> pd.DataFrame:
    """Per fitted rho: its CACE minus the true-rho CACE on the same replicate, with MC SE.

    The same data enter both fits, so the difference is far less noisy than either bias.
    """
    cace = results[results["analysis"] == "cace"]
    wide = cace.pivot(index="replicate", columns="rho", values="mean")
    truth = float(cace["rho_true"].iloc[0])
    rows = []
    for rho in wide.columns:
        if rho == truth or truth not in wide.columns:
            continue
        diff = wide[rho] - wide[truth]
        rows.append({"rho": rho, "rho_true": truth, "replicates": len(diff),
                     "mean_difference": diff.mean(),
                     "mcse": diff.std(ddof=1) / math.sqrt(len(diff)),
                     "n_positive": int((diff > 0).sum())})
    return pd.DataFrame(rows)


def results_markdown(results: pd.DataFrame, command: str) -> str:
    """The ``bench/results.md`` section: the summary table and how it was made."""
    summary = summarize(results)
    lines = [SECTION, "", f"`{command}` (`docs/completion_fidelity.md`, \"The CACE "
             "simulation with the exclusion restriction violated\").", "",
             "| analysis | fitted rho | true rho | replicates | coverage (MCSE) | bias (MCSE) "
             "| expected bias (Wald) | RMSE | empirical SE | mean posterior SD | max R-hat "
             "| divergences | median s per fit (mean load) |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in summary.itertuples():
        lines.append(
            f"| `{r.analysis}` | {'' if np.isnan(r.rho) else f'{r.rho:g}'} | {r.rho_true:g} "
            f"| {r.replicates} | {r.coverage:.3f} ({r.coverage_mcse:.3f}) "
            f"| {r.bias:+.3f} ({r.bias_mcse:.3f}) | {r.expected_bias:+.3f} | {r.rmse:.3f} "
            f"| {r.empirical_se:.3f} | {r.mean_sd:.3f} | {r.max_r_hat:.3f} | {r.divergences} "
            f"| {r.median_seconds:.0f} ({r.mean_load:.1f}) |")
    lines.append("")
    for r in paired_differences(results).itertuples():
        lines.append(f"Same data, fitted rho = {r.rho:g} minus fitted rho = {r.rho_true:g}: "
                     f"{r.mean_difference:+.3f} (MCSE {r.mcse:.3f}), positive in "
                     f"{r.n_positive} of {r.replicates} replicates.")
    lines.append(f"Fitting time {results['seconds'].sum() / 60:.0f} min in total "
                 f"({len(results)} fits), mean 1-minute load "
                 f"{results['load_1min'].mean():.1f} on the shared 2-core machine.")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Run the simulation, print the summary and write the per-replicate table."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--replicates", type=int, default=20)
    p.add_argument("--start", type=int, default=0,
                   help="first replicate (to split a run over processes)")
    p.add_argument("--seed", type=int, default=20261126)
    p.add_argument("--draws", type=int, default=500)
    p.add_argument("--tune", type=int, default=500)
    p.add_argument("--chains", type=int, default=2)
    p.add_argument("--out", default="bench/cace_simulation.csv")
    p.add_argument("--rho-true", type=float, default=0.0,
                   help="planted never-taker effect ratio (0: exclusion restriction holds)")
    p.add_argument("--fit-rhos", type=float, nargs="+", default=[0.0],
                   help="never-taker effect ratios the CACE is fitted with")
    p.add_argument("--per-protocol", action="store_true",
                   help="also fit the per-protocol (completers) analysis")
    p.add_argument("--write-results", action="store_true",
                   help="write the summary of --out into bench/results.md; no fitting")
    a = p.parse_args(argv)
    if a.write_results:
        from results_md import write_section

        results = pd.read_csv(a.out)
        summary = summarize(results)
        write_section(SECTION, results_markdown(
            results, f"python bench/cace_simulation.py --rho-true {a.rho_true:g} --fit-rhos "
                     + " ".join(f"{r:g}" for r in a.fit_rhos)
                     + f" --draws {a.draws} --tune {a.tune} --chains {a.chains} --out {a.out}"))
    else:
        results = run(a.replicates, a.seed, a.draws, a.tune, a.chains, a.start, a.out,
                      rho_true=a.rho_true, fit_rhos=tuple(a.fit_rhos),
                      per_protocol=a.per_protocol)
        summary = summarize(results)
    print(summary.to_string(float_format=lambda x: f"{x:.3f}"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
