"""``imr-bayes sensitivity``: delta-adjustment tipping points of every outcome's effect."""

from __future__ import annotations

import argparse
from pathlib import Path

from imr_bayes.constants import DEFAULT_SEED

#: Sampler and imputation settings of ``--quick`` (a smoke run, not for reporting).
QUICK = {"draws": 300, "tune": 300, "chains": 2, "n_imputations": 20}


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``sensitivity`` subcommand."""
    parser = subparsers.add_parser(
        "sensitivity",
        help="missing-data sensitivity: delta adjustment and tipping points per outcome",
        description=(
            "Fit the ITT model once per outcome, impute the missing follow-ups from its "
            "posterior predictive shifted by delta pooled baseline SDs in the unfavourable "
            "direction (pattern mixture), and report the posterior of condition x time, "
            "P(benefit) and the Rubin-pooled LMM p-value over the delta grid. Writes "
            "delta_adjustment.csv, tipping_points.csv and tipping_points.png to --out "
            "(optionally informative_dropout.csv) and prints the tipping points. "
            "See docs/missing_data.md."
        ),
    )
    parser.add_argument("--data", type=Path, metavar="FILE",
                        help="participant data (CSV/Parquet in the data contract); "
                             "default: the synthetic twin")
    parser.add_argument("--outcomes", nargs="+", metavar="CODE", default=["all"],
                        help="outcome codes, or 'all' (default)")
    parser.add_argument("--deltas", nargs="+", type=float, metavar="D",
                        help="delta grid in pooled baseline SDs, >= 0 (default: 0 to 2 "
                             "by 0.1; 0 is always included)")
    parser.add_argument("--arms", default="imr",
                        help="shift the missing follow-ups of the IMR arm ('imr', default) "
                             "or of both arms ('both')")
    parser.add_argument("--n-imputations", type=int, default=None,
                        help="imputed data sets for Rubin's rules (default 100; quick 20)")
    parser.add_argument("--dropout-model", action="store_true",
                        help="also fit the shared-parameter informative-dropout model per "
                             "outcome (slower) and write informative_dropout.csv")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED,
                        help=f"random seed of fits and imputations (default: {DEFAULT_SEED})")
    parser.add_argument("--draws", type=int, help="posterior draws per chain (spec: 1000)")
    parser.add_argument("--tune", type=int, help="warm-up iterations per chain (spec: 1000)")
    parser.add_argument("--chains", type=int, help="chains (spec: 4)")
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: 300 draws, 300 warm-up, 2 chains, 20 imputations, "
                             "delta grid 0 to 2 by 0.25")
    parser.add_argument("--out", type=Path, default=Path("reports/sensitivity"), metavar="DIR",
                        help="output folder (default: reports/sensitivity)")
    parser.set_defaults(func=run)


def _codes(requested: list[str]) -> list[str]:
    from imr_bayes.outcomes import CODES
    from imr_bayes.outcomes import get as get_outcome

    if "all" in requested:
        return list(CODES)
    for code in requested:
        get_outcome(code)  # raises with the valid codes
    return list(dict.fromkeys(requested))


def run(args: argparse.Namespace) -> int:
    """Fit, adjust, write the tables and the figure, print the tipping points."""
    import time

    import pandas as pd

    import imr_bayes
    from imr_bayes import data as data_mod
    from imr_bayes.atomic import atomic_path
    from imr_bayes.errors import ImrBayesError
    from imr_bayes.outcomes import get as get_outcome
    from imr_bayes.outcomes import unknown_choice_message
    from imr_bayes.sensitivity import (
        ARM_CHOICES,
        DEFAULT_DELTAS,
        delta_adjust,
        fit_informative_dropout,
        plot_tipping_points,
        tipping_points,
    )

    if args.arms not in ARM_CHOICES:
        raise ImrBayesError(unknown_choice_message("arms", args.arms, ARM_CHOICES))
    codes = _codes(args.outcomes)
    settings = {"draws": args.draws, "tune": args.tune, "chains": args.chains}
    n_imp = args.n_imputations or 100
    deltas = args.deltas or list(DEFAULT_DELTAS)
    if args.quick:
        settings = {k: settings[k] or QUICK[k] for k in settings}
        n_imp = args.n_imputations or QUICK["n_imputations"]
        deltas = args.deltas or [0.25 * k for k in range(9)]
    df = data_mod.load(args.data) if args.data else data_mod.default_twin()
    tables, dropout, problems = [], [], []
    start = time.perf_counter()
    for code in codes:
        fit = imr_bayes.fit(df, outcome=code, analysis="itt", seed=args.seed, **settings)
        if not fit.diagnostics.passed:
            problems.append(f"{code}: " + "; ".join(fit.diagnostics.problems))
        tables.append(delta_adjust(fit, deltas, arms=args.arms, n_imputations=n_imp,
                                   seed=args.seed))
        if args.dropout_model:
            spm = fit_informative_dropout(df, outcome=code, mar_fit=fit, seed=args.seed,
                                          **{k: v for k, v in settings.items() if v})
            dropout.append(spm.table)
            if not spm.diagnostics.passed:
                problems.append(f"{code} shared-parameter: "
                                + "; ".join(spm.diagnostics.problems))
    table = pd.concat(tables, ignore_index=True)
    tips = tipping_points(table)
    args.out.mkdir(parents=True, exist_ok=True)

    def write(name: str, save) -> None:
        with atomic_path(args.out / name) as tmp:
            save(tmp)

    write("delta_adjustment.csv", lambda p: table.to_csv(p, index=False))
    write("tipping_points.csv", lambda p: tips.to_csv(p, index=False))
    fig = plot_tipping_points(table)
    write("tipping_points.png", lambda p: fig.savefig(p, format="png", dpi=120))
    if dropout:
        frame = pd.concat(dropout, ignore_index=True)
        write("informative_dropout.csv", lambda p: frame.to_csv(p, index=False))
    print(f"{'outcome':<15}{'P(benefit)':>11}{'p':>8}  {'Bayes tipping':<28}{'freq tipping':<28}")
    for _, r in tips.iterrows():
        def tip(status: str, value: float) -> str:
            return f"delta = {value:.2f}" if status == "reached" else status

        print(f"{get_outcome(r['outcome']).abbreviation:<15}{r['mar_p_benefit']:>11.3f}"
              f"{r['mar_freq_p']:>8.3f}  {tip(r['bayes_status'], r['bayes_delta']):<28}"
              f"{tip(r['freq_status'], r['freq_delta']):<28}")
    for sentence in tips["sentence"]:
        print(sentence)
    for problem in problems:
        print(f"diagnostics FAILED: {problem}")
    if problems and args.quick:
        print("(quick run: too few draws for the diagnostic thresholds; not for reporting)")
    written = "delta_adjustment.csv, tipping_points.csv, tipping_points.png" + (
        ", informative_dropout.csv" if dropout else "")
    print(f"wrote {written} to {args.out} ({len(codes)} outcome(s), arms={args.arms}, "
          f"{time.perf_counter() - start:.0f} s)")
    return 1 if problems and not args.quick else 0
