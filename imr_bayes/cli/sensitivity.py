"""``imr-bayes sensitivity``: delta-adjustment tipping points of every outcome's effect."""

from __future__ import annotations

import argparse
from pathlib import Path

from imr_bayes.cli.data_options import add_data_arguments, load_data
from imr_bayes.cli.options import (
    add_outcomes_argument,
    add_sampler_arguments,
    outcome_codes,
    sampler_settings,
)
from imr_bayes.constants import DEFAULT_SEED


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``sensitivity`` subcommand."""
    parser = subparsers.add_parser(
        "sensitivity", allow_abbrev=False,
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
    add_outcomes_argument(parser, default="all 12")
    parser.add_argument("--deltas", nargs="+", type=float, metavar="D",
                        help="delta grid in pooled baseline SDs, >= 0 (default: 0 to 2 "
                             "by 0.1; 0 is always included)")
    parser.add_argument("--arms", default="imr",
                        help="shift the missing follow-ups of the IMR arm ('imr', default) "
                             "or of both arms ('both')")
    parser.add_argument("--n-imputations", type=int, default=100, metavar="N",
                        help="imputed data sets for Rubin's rules (default 100)")
    parser.add_argument("--dropout-model", action="store_true",
                        help="also fit the shared-parameter informative-dropout model per "
                             "outcome (slower) and write informative_dropout.csv")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED,
                        help=f"random seed of fits and imputations (default: {DEFAULT_SEED})")
    add_sampler_arguments(parser)
    parser.add_argument("--out", type=Path, default=Path("reports/sensitivity"), metavar="DIR",
                        help="output folder (default: reports/sensitivity)")
    add_data_arguments(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Fit, adjust, write the tables and the figure, print the tipping points."""
    import time

    import pandas as pd

    import imr_bayes
    from imr_bayes.atomic import atomic_path
    from imr_bayes.data import required_columns
    from imr_bayes.errors import ImrBayesError
    from imr_bayes.outcomes import CODES, unknown_choice_message
    from imr_bayes.outcomes import get as get_outcome
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
    codes = outcome_codes(args, default=CODES)
    settings = sampler_settings(args)
    n_imp = args.n_imputations
    deltas = args.deltas or list(DEFAULT_DELTAS)
    df = load_data(args, required=required_columns(["itt"], codes))
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
                                          **settings)
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
