"""``imr-bayes compare``: Bayesian fits beside the reproduced and published frequentist results."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from imr_bayes.cli.data_options import add_data_arguments, import_spec_of
from imr_bayes.cli.options import add_outcomes_argument, add_sampler_arguments, outcome_codes

#: Analyses compared by default (those registered in this build are used).
DEFAULT_ANALYSES: tuple[str, ...] = ("itt", "completers", "fidelity")


def register(subparsers: Any) -> None:
    """Add the ``compare`` subcommand."""
    parser = subparsers.add_parser(
        "compare", allow_abbrev=False,
        help="fit the Bayesian analyses and compare them with the reproduced and the "
             "published frequentist results (CSV, HTML and Markdown table)",
        description=(
            "Fit the Bayesian analyses (default: ITT, completers and fidelity, where "
            "registered) to participant data (default: the synthetic twin), replicate the "
            "frequentist analyses on the same data, and write the comparison table: published "
            "B, CI and p; reproduced estimate; posterior mean, median and 95 % ETI; pd, "
            "P(benefit), P(|d| > 0.2), ROPE share, Savage-Dickey BF10; agreement class; "
            "Benjamini-Hochberg beside partial pooling (docs/comparison.md). Also writes the "
            "posterior predictive checks (published statistics, data level) and, with "
            "--loo, the PSIS-LOO comparison with and without condition x time. Aggregates "
            "only."
        ),
    )
    add_outcomes_argument(parser, default="all 12")
    parser.add_argument("--analyses", nargs="+", default=None, metavar="NAME",
                        help="Bayesian analyses (default: itt completers fidelity); each is "
                             "fitted to the outcomes its spec's main_run names")
    add_sampler_arguments(parser)
    parser.add_argument("--seed", type=int, default=None, help="seed (default: 4931)")
    parser.add_argument("--no-pooling", action="store_true",
                        help="skip the partial-pooling model across outcomes")
    parser.add_argument("--loo", action="store_true",
                        help="also compare the ITT model with and without condition x time "
                             "by PSIS-LOO (one extra fit per outcome)")
    parser.add_argument("--out", type=Path, default=Path("reports") / "compare", metavar="DIR",
                        help="folder to (re)create (default: reports/compare)")
    add_data_arguments(parser)
    parser.set_defaults(func=run)


def _analyses(requested: list[str] | None) -> tuple[str, ...]:
    from imr_bayes import registry
    from imr_bayes.errors import ImrBayesError
    from imr_bayes.outcomes import unknown_choice_message

    names = registry.names()
    if requested is None:
        return tuple(a for a in DEFAULT_ANALYSES if a in names)
    for a in requested:
        if a not in names:
            raise ImrBayesError(unknown_choice_message("analysis", a, names))
    return tuple(requested)


def run(args: argparse.Namespace) -> int:
    """Fit, compare, write the tables into ``args.out``, print a summary.

    The numbers come from one :class:`imr_bayes.reanalysis.Reanalysis` (stages fits,
    frequentist, ppc, comparison and, with ``--loo``, loo): the same object the report reads.
    """
    import pandas as pd

    from imr_bayes import reanalysis
    from imr_bayes.atomic import atomic_dir
    from imr_bayes.comparison import write_comparison
    from imr_bayes.constants import DEFAULT_SEED
    from imr_bayes.errors import ImrBayesError
    from imr_bayes.outcomes import CODES

    settings = reanalysis.RunSettings(
        data_path=args.data, column_map=import_spec_of(args), quick=args.quick,
        outcomes=outcome_codes(args, default=CODES),
        analyses=_analyses(args.analyses),
        seed=DEFAULT_SEED if args.seed is None else args.seed,
        draws=args.draws, tune=args.tune, chains=args.chains)
    options = {"loo": args.loo, **({"pooling": False} if args.no_pooling else {})}
    result = reanalysis.run(settings, stages=("comparison", "ppc", "loo"), options=options,
                            raise_errors=args.debug)
    for key in ("fits", "comparison"):
        if result.stages[key].status == "failed" or result.value(key) is None:
            raise ImrBayesError(f"{key}: {result.stages[key].message}")
    table = result.comparison
    ppc = result.value("ppc")
    loo_results = result.value("loo") or []
    source = str(args.data) if args.data is not None else "default synthetic twin"
    with atomic_dir(args.out) as tmp:
        write_comparison(table, tmp)
        if ppc is not None:
            ppc.published_checks.to_csv(tmp / "published_checks.csv", index=False)
            ppc.data_checks.to_csv(tmp / "data_checks.csv", index=False)
            if len(ppc.structure_checks):
                ppc.structure_checks.to_csv(tmp / "structure_checks.csv", index=False)
        if loo_results:
            pd.concat([r.table.assign(outcome=r.outcome) for r in loo_results],
                      ignore_index=True).to_csv(tmp / "loo.csv", index=False)

    print(f"comparison of {len(result.fits)} Bayesian fits ({', '.join(settings.analyses)}) "
          f"on {source}: {len(table)} rows in {args.out}")
    head = table[table["time"].isna()]
    for analysis, sub in head.groupby("analysis", sort=False):
        counts = sub["agreement"].value_counts().to_dict()
        print(f"  {analysis}: agreement " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    if ppc is not None:
        checks, data_table = ppc.published_checks, ppc.data_checks
        print(f"  published-statistic PPC: {int(checks['flagged'].sum())} of "
              f"{len(checks)} outside their posterior predictive 95 % interval")
        flagged = data_table[data_table["flagged"]]
        print(f"  data-level PPC: {len(flagged)} of {len(data_table)} arm x time statistics "
              "flagged (" + ", ".join(f"{k} {v}" for k, v in
                                       flagged["statistic"].value_counts().items()) + ")")
    for res in loo_results:
        share = res.table["share_k_gt_0_7"].max()
        print(f"  LOO {res.outcome}: elpd(with) - elpd(without) = {res.elpd_diff:.2f} "
              f"(SE {res.diff_se:.2f}); Pareto k > 0.7: {share:.1%} of participants")
    return 0
