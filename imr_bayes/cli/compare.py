"""``imr-bayes compare``: Bayesian fits beside the reproduced and published frequentist results."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

#: Analyses compared by default (those registered in this build are used).
DEFAULT_ANALYSES: tuple[str, ...] = ("itt", "completers", "fidelity")
#: Outcomes with a published fidelity analysis (Tables 4 and 5).
FIDELITY_OUTCOMES: tuple[str, ...] = ("imrs_client", "sers_sf")


def register(subparsers: Any) -> None:
    """Add the ``compare`` subcommand."""
    parser = subparsers.add_parser(
        "compare",
        help="fit the Bayesian analyses and compare them with the reproduced and the "
             "published frequentist results (CSV, HTML and Markdown table)",
        description=(
            "Fit the Bayesian analyses (default: ITT, completers and fidelity, where "
            "registered) to participant data (default: the synthetic twin), replicate the "
            "frequentist analyses on the same data, and write the comparison table: published "
            "B, CI and p; reproduced estimate; posterior mean, median and 95 %% ETI; pd, "
            "P(benefit), P(|d| > 0.2), ROPE share, Savage-Dickey BF10; agreement class; "
            "Benjamini-Hochberg beside partial pooling (docs/comparison.md). Also writes the "
            "posterior predictive checks (published statistics, data level) and, with "
            "--loo, the PSIS-LOO comparison with and without condition x time. Aggregates "
            "only."
        ),
    )
    parser.add_argument("--data", type=Path, default=None, metavar="FILE",
                        help="participant data, .csv or .parquet in the data contract "
                             "(default: the default synthetic twin)")
    parser.add_argument("--outcomes", nargs="+", default=None, metavar="CODE",
                        help="outcome codes (default: all 12)")
    parser.add_argument("--analyses", nargs="+", default=None, metavar="NAME",
                        help="Bayesian analyses (default: itt completers fidelity, those "
                             "registered); fidelity is fitted for imrs_client and sers_sf only")
    parser.add_argument("--draws", type=int, default=None, help="posterior draws per chain")
    parser.add_argument("--tune", type=int, default=None, help="tuning steps per chain")
    parser.add_argument("--chains", type=int, default=None, help="number of chains")
    parser.add_argument("--quick", action="store_true",
                        help="300 draws, 300 tuning steps, 2 chains (a preview, not for "
                             "inference)")
    parser.add_argument("--seed", type=int, default=None, help="seed (default: 4931)")
    parser.add_argument("--no-pooling", action="store_true",
                        help="skip the partial-pooling model across outcomes")
    parser.add_argument("--loo", action="store_true",
                        help="also compare the ITT model with and without condition x time "
                             "by PSIS-LOO (one extra fit per outcome)")
    parser.add_argument("--out", type=Path, default=Path("reports") / "compare", metavar="DIR",
                        help="folder to (re)create (default: reports/compare)")
    parser.set_defaults(func=run)


def _analyses(requested: list[str] | None) -> tuple[str, ...]:
    from imr_bayes.bayes import analyses
    from imr_bayes.errors import ImrBayesError
    from imr_bayes.outcomes import unknown_choice_message

    names = analyses.names()
    if requested is None:
        return tuple(a for a in DEFAULT_ANALYSES if a in names)
    for a in requested:
        if a not in names:
            raise ImrBayesError(unknown_choice_message("analysis", a, names))
    return tuple(requested)


def run(args: argparse.Namespace) -> int:
    """Fit, compare, write the tables into ``args.out``, print a summary."""
    import pandas as pd

    import imr_bayes
    from imr_bayes import frequentist as F
    from imr_bayes import loo, ppc
    from imr_bayes.atomic import atomic_dir
    from imr_bayes.comparison import write_comparison
    from imr_bayes.constants import DEFAULT_SEED
    from imr_bayes.data import default_twin, load
    from imr_bayes.errors import ImrBayesError
    from imr_bayes.outcomes import CODES, get

    outcomes = tuple(args.outcomes) if args.outcomes else CODES
    for code in outcomes:
        get(code)
    for name in ("draws", "tune", "chains"):
        value = getattr(args, name)
        if value is not None and value < 1:
            raise ImrBayesError(f"--{name} must be a positive integer; got {value}")
    analyses = _analyses(args.analyses)
    sampler = {"draws": 300, "tune": 300, "chains": 2} if args.quick else {}
    sampler.update({k: getattr(args, k) for k in ("draws", "tune", "chains")
                    if getattr(args, k) is not None})
    seed = DEFAULT_SEED if args.seed is None else args.seed
    data = load(args.data) if args.data is not None else default_twin()
    source = str(args.data) if args.data is not None else "default synthetic twin"

    fits = []
    for analysis in analyses:
        todo = [o for o in outcomes if analysis != "fidelity" or o in FIDELITY_OUTCOMES]
        for outcome in todo:
            fits.append(imr_bayes.fit(data, outcome=outcome, analysis=analysis, seed=seed,
                                      **sampler))
    frequentist: dict[str, Any] = {
        s: F.replicate(data, sample=s, outcomes=outcomes) for s in ("itt", "completers")}
    for outcome in FIDELITY_OUTCOMES:
        if "fidelity" in analyses and outcome in outcomes:
            frequentist[f"fidelity_{outcome}"] = F.fidelity_analysis(data, outcome=outcome)
    pooling = False if args.no_pooling else {
        k: v for k, v in sampler.items() if k in ("draws", "tune", "chains")}
    table = imr_bayes.compare(fits, frequentist, None, pooling=pooling, seed=seed)
    checks = [ppc.published_checks(f).assign(analysis=f.analysis) for f in fits]
    checks = [c for c in checks if len(c)]
    check_table = pd.concat(checks, ignore_index=True) if checks else None
    data_frames = [ppc.data_checks(f).assign(analysis=f.analysis) for f in fits
                   if ppc.published_sample(f) is not None]
    data_table = pd.concat(data_frames, ignore_index=True) if data_frames else None
    loo_results = []
    if args.loo:
        itt = {f.outcome: f for f in fits if f.analysis == "itt"}
        for outcome in outcomes:
            loo_results.append(loo.loo_interaction(
                data, outcome=outcome, with_fit=itt.get(outcome), seed=seed, **sampler))
    with atomic_dir(args.out) as tmp:
        write_comparison(table, tmp)
        if check_table is not None:
            check_table.to_csv(tmp / "published_checks.csv", index=False)
        if data_table is not None:
            data_table.to_csv(tmp / "data_checks.csv", index=False)
        if loo_results:
            pd.concat([r.table.assign(outcome=r.outcome) for r in loo_results],
                      ignore_index=True).to_csv(tmp / "loo.csv", index=False)

    print(f"comparison of {len(fits)} Bayesian fits ({', '.join(analyses)}) on {source}: "
          f"{len(table)} rows in {args.out}")
    cxt = table[table["estimand"] == "condition_x_time"]
    for analysis, sub in cxt.groupby("analysis", sort=False):
        counts = sub["agreement"].value_counts().to_dict()
        print(f"  {analysis}: agreement " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    if check_table is not None:
        print(f"  published-statistic PPC: {int(check_table['flagged'].sum())} of "
              f"{len(check_table)} outside their posterior predictive 95 % interval")
    if data_table is not None:
        flagged = data_table[data_table["flagged"]]
        print(f"  data-level PPC: {len(flagged)} of {len(data_table)} arm x time statistics "
              "flagged (" + ", ".join(f"{k} {v}" for k, v in
                                       flagged["statistic"].value_counts().items()) + ")")
    for res in loo_results:
        share = res.table["share_k_gt_0_7"].max()
        print(f"  LOO {res.outcome}: elpd(with) - elpd(without) = {res.elpd_diff:.2f} "
              f"(SE {res.diff_se:.2f}); Pareto k > 0.7: {share:.1%} of participants")
    return 0
